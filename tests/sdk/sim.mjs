// Starts and stops videofs-sim for the tests in this directory, and reads
// its control endpoints.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';

export async function startSim(simPath, args = []) {
  const proc = spawn(simPath, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: proc.stdout });
  const first = await Promise.race([
    new Promise((resolve) => lines.once('line', resolve)),
    exited.then(({ code }) => {
      throw new Error(`videofs-sim exited (${code}) before printing its URL`);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error('videofs-sim did not start in 20 s')), 20000)),
  ]);
  assert.match(first, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  const base = first;
  const root = base.slice(0, -'/v1'.length);
  return {
    base,
    root,
    ark: `${root}/api/v3`,
    proc,
    async stop() {
      proc.kill('SIGTERM');
      const { code, signal } = await exited;
      assert.equal(signal, null, `videofs-sim died of ${signal}`);
      assert.equal(code, 0, 'videofs-sim must exit 0 on SIGTERM');
    },
    async stats() {
      const r = await fetch(`${root}/_sim/stats`);
      assert.equal(r.status, 200);
      return r.json();
    },
    async resetStats() {
      const r = await fetch(`${root}/_sim/stats/reset`, { method: 'POST' });
      assert.equal(r.status, 200);
    },
    async fault(spec) {
      const r = await fetch(`${root}/_sim/faults`, { method: 'POST', body: spec });
      const body = await r.json();
      assert.equal(r.status, 200, `fault ${spec}: ${JSON.stringify(body)}`);
      assert.equal(typeof body.id, 'number');
      return body.id;
    },
    async clearFaults() {
      const r = await fetch(`${root}/_sim/faults`, { method: 'DELETE' });
      assert.equal(r.status, 200);
    },
    async truth(id, variant = 'video') {
      const r = await fetch(`${root}/_sim/truth/${encodeURIComponent(id)}?variant=${variant}`);
      assert.equal(r.status, 200);
      return Buffer.from(await r.arrayBuffer());
    },
    async complete(id) {
      const r = await fetch(`${root}/_sim/jobs/${encodeURIComponent(id)}/complete`, { method: 'POST' });
      assert.equal(r.status, 200);
    },
    async expire(id) {
      const r = await fetch(`${root}/_sim/jobs/${encodeURIComponent(id)}/expire`, { method: 'POST' });
      assert.equal(r.status, 200);
    },
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Runs the named steps in order, printing TAP-like lines; stops the sim and
// exits non-zero on the first failure.
export async function runSteps(sim, steps) {
  let n = 0;
  try {
    for (const [name, fn] of steps) {
      n++;
      await fn();
      console.log(`ok ${n} - ${name}`);
    }
  } catch (err) {
    console.log(`not ok ${n} - ${steps[n - 1][0]}`);
    console.error(err);
    // TERM first, so that the simulator removes its files.
    const killer = setTimeout(() => sim.proc.kill('SIGKILL'), 5000);
    await sim.stop().catch(() => {});
    clearTimeout(killer);
    process.exit(1);
  }
  await sim.stop();
  console.log(`1..${n}`);
  // Idle keep-alive sockets would hold the process for seconds more.
  process.exit(0);
}
