// The official OpenAI Node SDK against videofs-sim: a whole cycle, with
// bytes compared against the simulator's truth and its request counters.
// Usage: node sdk-cycle.mjs PATH/TO/videofs-sim
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSim, runSteps, sleep } from './sim.mjs';

if (!existsSync(new URL('./node_modules/openai/package.json', import.meta.url))) {
  console.log('1..0 # SKIP node_modules missing: run npm ci in tests/sdk');
  process.exit(77);
}
const { default: OpenAI, toFile, AuthenticationError, NotFoundError, BadRequestError } = await import('openai');

const simPath = process.argv[2];
assert.ok(simPath, 'usage: node sdk-cycle.mjs PATH/TO/videofs-sim');
const VIDEO_BYTES = 3 * 1024 * 1024 + 17;
const sim = await startSim(simPath, ['--token', 'T', '--duration', '3', '--queue', '0.5',
  '--video-bytes', String(VIDEO_BYTES)]);
const client = new OpenAI({ apiKey: 'T', baseURL: sim.base, maxRetries: 0 });

// What this test sent, to compare with the simulator's counters.
const sent = { create: 0, retrieve: 0, list: 0, delete: 0, content: 0, remix: 0, unauthorized: 0 };
let first, second, third, remixed;

function hasFfprobe() {
  try {
    execFileSync('ffprobe', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function expectError(promise, cls, status) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, status);
    assert.match(err.requestID ?? '', /^req_[0-9a-f]{32}$/, 'error answers carry x-request-id');
    return err;
  }
  assert.fail(`expected ${cls.name}`);
}

async function bytesOf(response) {
  return Buffer.from(await response.arrayBuffer());
}

// A picture of the default size, as the API wants (the simulator checks),
// made before the first create: the steps after it are timed by the queue.
const picture = execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=teal:s=720x1280',
  '-frames:v', '1', '-f', 'image2pipe', '-vcodec', 'png', '-'], { maxBuffer: 64 << 20 });

await runSteps(sim, [
  ['create (multipart, as this SDK sends it)', async () => {
    first = await client.videos.create({ prompt: 'a calm lake at dawn', seconds: '8', size: '1280x720' });
    sent.create++;
    assert.match(first.id, /^video_[0-9a-f]{48}$/);
    assert.equal(first.object, 'video');
    assert.equal(first.status, 'queued');
    assert.equal(first.progress, 0);
    assert.equal(first.seconds, '8');
    assert.equal(first.size, '1280x720');
    assert.equal(first.model, 'sora-2');
    assert.equal(first.prompt, 'a calm lake at dawn');
    assert.equal(first.completed_at, null);
    assert.equal(first.expires_at, null);
    assert.equal(first.error, null);
    assert.equal(first.remixed_from_video_id, null);
    const now = Date.now() / 1000;
    assert.ok(Math.abs(first.created_at - now) < 10, 'created_at is unix seconds');
  }],

  ['create with an input_reference file, and defaults', async () => {
    second = await client.videos.create({
      prompt: 'the lake, from above',
      input_reference: await toFile(picture, 'ref.png', { type: 'image/png' }),
    });
    sent.create++;
    assert.equal(second.seconds, '4');
    assert.equal(second.size, '720x1280');
    third = await client.videos.create({ prompt: 'a third one', model: 'sora-2-pro' });
    sent.create++;
    assert.equal(third.model, 'sora-2-pro');
  }],

  ['invalid creates are refused with 400 and the parameter', async () => {
    let err = await expectError(client.videos.create({ prompt: 'x', seconds: '5' }), BadRequestError, 400);
    assert.equal(err.param, 'seconds');
    assert.equal(err.code, 'invalid_value');
    err = await expectError(client.videos.create({ prompt: 'x', size: '640x480' }), BadRequestError, 400);
    assert.equal(err.param, 'size');
    err = await expectError(client.videos.create({ seconds: '4' }), BadRequestError, 400);
    assert.equal(err.param, 'prompt');
    assert.equal(err.code, 'missing_required_parameter');
    err = await expectError(client.videos.create({ prompt: 'x #reject' }), BadRequestError, 400);
    assert.equal(err.code, 'moderation_blocked');
    sent.create += 4;
  }],

  ['poll until completed: queued, then progress rising, then completed', async () => {
    const seen = [];
    let v;
    for (;;) {
      v = await client.videos.retrieve(first.id);
      sent.retrieve++;
      seen.push([v.status, v.progress]);
      assert.ok(['queued', 'in_progress', 'completed'].includes(v.status), v.status);
      if (v.status === 'completed' || v.status === 'failed') break;
      await sleep(200);
    }
    assert.equal(v.status, 'completed');
    assert.equal(v.progress, 100);
    assert.equal(v.error, null);
    assert.equal(v.expires_at, v.completed_at + 3600);
    assert.ok(v.completed_at >= v.created_at);
    const states = seen.map(([s]) => s);
    assert.equal(states[0], 'queued');
    assert.ok(states.includes('in_progress'), `never saw in_progress: ${JSON.stringify(seen)}`);
    const progress = seen.filter(([s]) => s === 'in_progress').map(([, p]) => p);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i] >= progress[i - 1], 'progress never falls');
    assert.ok(progress.some((p) => p > 0 && p < 100), `progress rises: ${progress}`);
  }],

  ['the others complete too', async () => {
    for (const v of [second, third]) {
      await sim.complete(v.id);
      const got = await client.videos.retrieve(v.id);
      sent.retrieve++;
      assert.equal(got.status, 'completed');
    }
  }],

  ['list paged by one follows after= through every page (desc)', async () => {
    const ids = [];
    let page = await client.videos.list({ limit: 1 });
    sent.list++;
    for (;;) {
      assert.equal(page.data.length, 1);
      ids.push(page.data[0].id);
      assert.equal(page.last_id, page.data[0].id);
      if (!page.hasNextPage()) break;
      page = await page.getNextPage();
      sent.list++;
    }
    assert.deepEqual(ids, [third.id, second.id, first.id]);
  }],

  ['list with auto-pagination, ascending', async () => {
    const ids = [];
    for await (const v of client.videos.list({ limit: 2, order: 'asc' })) ids.push(v.id);
    sent.list += 2;
    assert.deepEqual(ids, [first.id, second.id, third.id]);
  }],

  ['remix creates a new job pointing at its source', async () => {
    remixed = await client.videos.remix(first.id, { prompt: 'the lake at dusk' });
    sent.remix++;
    assert.notEqual(remixed.id, first.id);
    assert.equal(remixed.remixed_from_video_id, first.id);
    assert.equal(remixed.status, 'queued');
    assert.equal(remixed.seconds, '8');
    assert.equal(remixed.size, '1280x720');
  }],

  ['download content: exact bytes of the truth, a playable MP4', async () => {
    const response = await client.videos.downloadContent(first.id);
    sent.content++;
    assert.equal(response.headers.get('content-type'), 'video/mp4');
    assert.equal(response.headers.get('accept-ranges'), 'bytes');
    assert.match(response.headers.get('etag'), /^"[0-9a-f]{32}"$/);
    const got = await bytesOf(response);
    const truth = await sim.truth(first.id);
    assert.equal(got.length, VIDEO_BYTES);
    assert.ok(got.equals(truth), 'content equals truth');
    assert.equal(got.subarray(4, 8).toString('latin1'), 'ftyp');
    if (hasFfprobe()) {
      const dir = mkdtempSync(join(tmpdir(), 'videofs-sdk-'));
      try {
        writeFileSync(join(dir, 'v.mp4'), got);
        const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration',
          '-of', 'csv=p=0', join(dir, 'v.mp4')]).toString();
        assert.ok(parseFloat(out) > 0, `ffprobe reads a duration: ${out}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const other = await sim.truth(second.id);
    assert.ok(!other.equals(truth), 'each id has its own bytes');
  }],

  ['ranges: the SDK with a Range header, and suffix ranges', async () => {
    const truth = await sim.truth(first.id);
    let response = await client.videos.downloadContent(first.id, { variant: 'video' },
      { headers: { Range: 'bytes=1000-2999' } });
    sent.content++;
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), `bytes 1000-2999/${VIDEO_BYTES}`);
    assert.ok((await bytesOf(response)).equals(truth.subarray(1000, 3000)));
    response = await fetch(`${sim.base}/videos/${first.id}/content`,
      { headers: { Authorization: 'Bearer T', Range: 'bytes=-500' } });
    sent.content++;
    assert.equal(response.status, 206);
    assert.ok((await bytesOf(response)).equals(truth.subarray(VIDEO_BYTES - 500)));
    response = await fetch(`${sim.base}/videos/${first.id}/content`,
      { headers: { Authorization: 'Bearer T', Range: `bytes=${VIDEO_BYTES - 10}-` } });
    sent.content++;
    assert.equal(response.status, 206);
    assert.ok((await bytesOf(response)).equals(truth.subarray(VIDEO_BYTES - 10)));
  }],

  ['thumbnail (WebP) and spritesheet (JPEG) variants', async () => {
    const thumb = await bytesOf(await client.videos.downloadContent(first.id, { variant: 'thumbnail' }));
    const sprite = await bytesOf(await client.videos.downloadContent(first.id, { variant: 'spritesheet' }));
    sent.content += 2;
    assert.ok(thumb.equals(await sim.truth(first.id, 'thumbnail')));
    assert.ok(sprite.equals(await sim.truth(first.id, 'spritesheet')));
    assert.equal(thumb.subarray(0, 4).toString('latin1'), 'RIFF');
    assert.equal(thumb.subarray(8, 12).toString('latin1'), 'WEBP');
    assert.equal(thumb.readUInt32LE(4), thumb.length - 8);
    assert.equal(sprite[0], 0xff);
    assert.equal(sprite[1], 0xd8);
  }],

  ['content of an unfinished job is 400 video_not_ready', async () => {
    const err = await expectError(client.videos.downloadContent(remixed.id), BadRequestError, 400);
    sent.content++;
    assert.equal(err.code, 'video_not_ready');
  }],

  ['a wrong token is an AuthenticationError', async () => {
    const wrong = new OpenAI({ apiKey: 'not-T', baseURL: sim.base, maxRetries: 0 });
    const err = await expectError(wrong.videos.retrieve(first.id), AuthenticationError, 401);
    sent.retrieve++;
    sent.unauthorized++;
    assert.equal(err.code, 'invalid_api_key');
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /Incorrect API key provided/);
  }],

  ['an unknown id is a NotFoundError', async () => {
    await expectError(client.videos.retrieve('video_0000'), NotFoundError, 404);
    sent.retrieve++;
  }],

  ['delete, then retrieve and content are 404', async () => {
    const deleted = await client.videos.delete(second.id);
    sent.delete++;
    assert.deepEqual(deleted, { id: second.id, object: 'video.deleted', deleted: true });
    await expectError(client.videos.retrieve(second.id), NotFoundError, 404);
    sent.retrieve++;
    await expectError(client.videos.downloadContent(second.id), NotFoundError, 404);
    sent.content++;
    await expectError(client.videos.delete(second.id), NotFoundError, 404);
    sent.delete++;
  }],

  ['the simulator counted exactly what was sent', async () => {
    const stats = await sim.stats();
    for (const call of ['create', 'retrieve', 'list', 'delete', 'content', 'remix']) {
      assert.equal(stats.requests[call], sent[call], `${call}: ${JSON.stringify(stats)}`);
    }
    assert.equal(stats.unauthorized, sent.unauthorized);
    assert.equal(stats.requests.ark_create, 0);
    assert.equal(stats.requests.file, 0);
    assert.equal(stats.jobs, 3, 'first, third and the remix remain');
    const thumbLen = (await sim.truth(first.id, 'thumbnail')).length;
    const spriteLen = (await sim.truth(first.id, 'spritesheet')).length;
    assert.equal(stats.content_bytes, VIDEO_BYTES + 2000 + 500 + 10 + thumbLen + spriteLen);
  }],
]);
