// videofs-sim's own test: every fault switch has its documented effect on
// the wire, the Ark cycle works, and the control endpoints tell the truth.
// Plain fetch only (no SDK), so it never skips.
// Usage: node sim-faults.mjs PATH/TO/videofs-sim
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startSim, runSteps, sleep } from './sim.mjs';

const simPath = process.argv[2];
assert.ok(simPath, 'usage: node sim-faults.mjs PATH/TO/videofs-sim');
const SIZE = 262144;
const sim = await startSim(simPath, ['--token', 'T', '--duration', '0.4', '--queue', '0.2',
  '--video-bytes', String(SIZE)]);
const AUTH = { Authorization: 'Bearer T' };

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...AUTH, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] ??= 'application/json';
  }
  const response = await fetch(`${sim.base}${path}`, init);
  assert.match(response.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{32}$/,
    `${method} ${path} has x-request-id`);
  return response;
}

async function ark(method, path, body, headers = {}) {
  const init = { method, headers: { ...AUTH, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  return fetch(`${sim.ark}/contents/generations/tasks${path}`, init);
}

async function create(prompt = 'a quiet street') {
  const r = await api('POST', '/videos', { prompt });
  assert.equal(r.status, 200);
  return r.json();
}

async function finished(prompt) {
  const v = await create(prompt);
  await sim.complete(v.id);
  return v;
}

const content = (id, headers = {}) => api('GET', `/videos/${encodeURIComponent(id)}/content`, undefined, headers);

// Reads a body to its end or to the error that cut it.
async function drain(response) {
  const chunks = [];
  let error = null;
  try {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
    }
  } catch (err) {
    error = err;
  }
  return { bytes: Buffer.concat(chunks), error };
}

async function errorOf(response, status) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get('content-type'), 'application/json');
  const body = await response.json();
  assert.equal(typeof body.error, 'object', JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

let done1;

await runSteps(sim, [
  ['429 with the rate-limit body and Retry-After; retry_after_ms', async () => {
    done1 = await finished();
    await sim.fault('429:count=1,retry_after=2');
    let r = await api('GET', `/videos/${done1.id}`);
    const error = await errorOf(r, 429);
    assert.equal(error.code, 'rate_limit_exceeded');
    assert.equal(r.headers.get('retry-after'), '2');
    assert.equal(r.headers.get('retry-after-ms'), null);
    assert.equal((await api('GET', `/videos/${done1.id}`)).status, 200, 'count=1 is spent');
    await sim.fault('429:count=1,retry_after_ms=1500');
    r = await api('GET', `/videos/${done1.id}`);
    await errorOf(r, 429);
    assert.equal(r.headers.get('retry-after-ms'), '1500');
    assert.equal(r.headers.get('retry-after'), '2');
  }],

  ['5xx with status=, should_retry, and call= limiting a fault to one call', async () => {
    await sim.fault('5xx:status=502,count=1');
    await sim.fault('should_retry:value=false,count=1');
    let r = await api('GET', `/videos/${done1.id}`);
    const error = await errorOf(r, 502);
    assert.equal(error.type, 'server_error');
    assert.equal(r.headers.get('x-should-retry'), 'false');
    await sim.fault('5xx:call=content,count=1');
    assert.equal((await api('GET', `/videos/${done1.id}`)).status, 200);
    r = await content(done1.id);
    await errorOf(r, 500);
    assert.equal(r.headers.get('x-should-retry'), null);
    r = await content(done1.id);
    assert.equal(r.status, 200);
    await drain(r);
  }],

  ['GET /_sim/faults lists live faults; spent ones leave', async () => {
    await sim.clearFaults();
    const id = await sim.fault('unknown_state:word=mulling,count=2,call=retrieve');
    let faults = await (await fetch(`${sim.root}/_sim/faults`)).json();
    assert.deepEqual(faults, [{ id, name: 'unknown_state', spec: 'unknown_state:word=mulling,count=2,call=retrieve',
      remaining: 2, call: 'retrieve' }]);
    for (let i = 0; i < 2; i++) {
      assert.equal((await (await api('GET', `/videos/${done1.id}`)).json()).status, 'mulling');
    }
    assert.equal((await (await api('GET', `/videos/${done1.id}`)).json()).status, 'completed');
    faults = await (await fetch(`${sim.root}/_sim/faults`)).json();
    assert.deepEqual(faults, []);
    const bad = await fetch(`${sim.root}/_sim/faults`, { method: 'POST', body: 'no_such_fault' });
    await errorOf(bad, 400);
    const badKey = await fetch(`${sim.root}/_sim/faults`, { method: 'POST', body: 'cut:speed=3' });
    await errorOf(badKey, 400);
  }],

  ['unknown_state shows the default word in lists too', async () => {
    await sim.fault('unknown_state:count=1');
    const page = await (await api('GET', '/videos?limit=5')).json();
    assert.ok(page.data.length >= 1);
    for (const v of page.data) assert.equal(v.status, 'pondering');
  }],

  ['cut closes the connection after N body bytes', async () => {
    await sim.resetStats();
    await sim.fault('cut:after=1000,count=1');
    const r = await content(done1.id);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(SIZE));
    const { bytes, error } = await drain(r);
    assert.ok(error, 'the body ends in an error');
    assert.equal(bytes.length, 1000);
    assert.ok(bytes.equals((await sim.truth(done1.id)).subarray(0, 1000)));
    assert.equal((await sim.stats()).content_bytes, 1000);
  }],

  ['wrong_length sends short=N bytes fewer than Content-Length', async () => {
    await sim.resetStats();
    await sim.fault('wrong_length:short=100,count=1');
    const r = await content(done1.id, { Range: 'bytes=0-9999' });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-length'), '10000');
    const { bytes, error } = await drain(r);
    assert.ok(error);
    assert.equal(bytes.length, 9900);
    assert.equal((await sim.stats()).content_bytes, 9900);
  }],

  ['json_content answers 200 application/json with an error body', async () => {
    await sim.fault('json_content:count=1');
    const r = await content(done1.id);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    const body = await r.json();
    assert.equal(typeof body.error.message, 'string');
  }],

  ['slow sends at most rate bytes per second', async () => {
    await sim.fault('slow:rate=100000,count=1');
    const t0 = Date.now();
    const r = await content(done1.id, { Range: 'bytes=0-149999' });
    const { bytes, error } = await drain(r);
    const elapsed = (Date.now() - t0) / 1000;
    assert.equal(error, null);
    assert.ok(bytes.equals((await sim.truth(done1.id)).subarray(0, 150000)));
    assert.ok(elapsed >= 1.3, `150000 bytes at 100000/s took ${elapsed} s`);
  }],

  ['Range: 206, 416 with bytes */SIZE, If-Range, HEAD', async () => {
    const truth = await sim.truth(done1.id);
    let r = await content(done1.id, { Range: 'bytes=100-199' });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), `bytes 100-199/${SIZE}`);
    const etag = r.headers.get('etag');
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(truth.subarray(100, 200)));
    r = await content(done1.id, { Range: `bytes=${SIZE}-` });
    await errorOf(r, 416);
    assert.equal(r.headers.get('content-range'), `bytes */${SIZE}`);
    r = await content(done1.id, { Range: 'bytes=10-19', 'If-Range': etag });
    assert.equal(r.status, 206);
    await r.arrayBuffer();
    r = await content(done1.id, { Range: 'bytes=10-19', 'If-Range': '"stale"' });
    assert.equal(r.status, 200);
    assert.equal((await r.arrayBuffer()).byteLength, SIZE);
    r = await content(done1.id, { Range: 'bytes=5-1,7' });
    assert.equal(r.status, 200, 'an unusable Range is ignored');
    await r.arrayBuffer();
    r = await fetch(`${sim.base}/videos/${done1.id}/content`, { method: 'HEAD', headers: AUTH });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(SIZE));
  }],

  ['bad_range: a 206 starting elsewhere than asked', async () => {
    await sim.fault('bad_range:count=1');
    const r = await content(done1.id, { Range: 'bytes=100-199' });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), `bytes 101-200/${SIZE}`);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals((await sim.truth(done1.id)).subarray(101, 201)));
  }],

  ['no_ranges: Range ignored, 200 whole, no Accept-Ranges', async () => {
    await sim.fault('no_ranges:count=1');
    const r = await content(done1.id, { Range: 'bytes=100-199' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('accept-ranges'), null);
    assert.equal((await r.arrayBuffer()).byteLength, SIZE);
  }],

  ['oversize_json pads a retrieve to exactly N bytes', async () => {
    await sim.fault('oversize_json:bytes=3000000,count=1');
    const r = await api('GET', `/videos/${done1.id}`);
    const text = await r.text();
    assert.equal(Buffer.byteLength(text), 3000000);
    assert.equal(JSON.parse(text).id, done1.id);
  }],

  ['hostile ids: slash, dotdot, long, nul', async () => {
    const ids = {};
    for (const kind of ['slash', 'dotdot', 'long', 'nul']) {
      await sim.fault(`hostile_id:kind=${kind},count=1`);
      ids[kind] = (await create(`hostile ${kind}`)).id;
    }
    assert.match(ids.slash, /\//);
    assert.equal(ids.dotdot, '..');
    assert.ok(ids.long.length > 255);
    assert.ok(ids.nul.includes('\u0000'));
    for (const kind of ['slash', 'long']) {
      const r = await api('GET', `/videos/${encodeURIComponent(ids[kind])}`);
      assert.equal(r.status, 200);
      assert.equal((await r.json()).id, ids[kind]);
    }
    const listed = (await (await api('GET', '/videos?limit=100')).json()).data.map((v) => v.id);
    for (const id of Object.values(ids)) assert.ok(listed.includes(id), `${JSON.stringify(id)} listed`);
    await sim.complete(ids.slash);
    const truth = await sim.truth(ids.slash);
    const r = await content(ids.slash);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(truth));
  }],

  ['refuse_poll_hint drops openai-poll-after-ms from an unfinished retrieve', async () => {
    const v = await create();
    let r = await api('GET', `/videos/${v.id}`);
    const hint = Number(r.headers.get('openai-poll-after-ms'));
    assert.ok(hint >= 100 && hint <= 1000, `hint ${hint}`);
    await sim.fault('refuse_poll_hint:count=1');
    r = await api('GET', `/videos/${v.id}`);
    assert.equal(r.headers.get('openai-poll-after-ms'), null);
    await sim.complete(v.id);
    r = await api('GET', `/videos/${v.id}`);
    assert.equal(r.headers.get('openai-poll-after-ms'), null, 'no hint once finished');
  }],

  ['hang_create records and counts the job, holds the answer, serves others', async () => {
    await sim.resetStats();
    const jobsBefore = (await sim.stats()).jobs;
    await sim.fault('hang_create');
    let answered = false;
    const pending = api('POST', '/videos', { prompt: 'held' }).then(async (r) => {
      answered = true;
      return r;
    });
    let stats;
    for (let i = 0; i < 50; i++) {
      stats = await sim.stats();
      if (stats.jobs === jobsBefore + 1) break;
      await sleep(50);
    }
    assert.equal(stats.requests.create, 1);
    assert.equal(stats.jobs, jobsBefore + 1);
    const page = await (await api('GET', '/videos?limit=1')).json();
    assert.equal(page.data[0].prompt, 'held', 'the job is listed while its create hangs');
    await sleep(700);
    assert.equal(answered, false, 'still held');
    await sim.clearFaults();
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal((await r.json()).id, page.data[0].id);
    assert.equal((await sim.stats()).requests.create, 1);

    await sim.fault('hang_create:seconds=0.5,count=1');
    const t0 = Date.now();
    assert.equal((await api('POST', '/videos', { prompt: 'held briefly' })).status, 200);
    assert.ok(Date.now() - t0 >= 450);
  }],

  ['drop_create records the job and closes with no answer', async () => {
    await sim.resetStats();
    const jobsBefore = (await sim.stats()).jobs;
    await sim.fault('drop_create:count=1');
    await assert.rejects(api('POST', '/videos', { prompt: 'dropped' }));
    const stats = await sim.stats();
    assert.equal(stats.requests.create, 1);
    assert.equal(stats.jobs, jobsBefore + 1);
  }],

  ['fail marker: a failed job with moderation_blocked; its content is refused', async () => {
    const v = await create('a storm #fail');
    await sim.complete(v.id);
    const got = await (await api('GET', `/videos/${v.id}`)).json();
    assert.equal(got.status, 'failed');
    assert.equal(got.error.code, 'moderation_blocked');
    assert.equal(got.completed_at, null);
    await errorOf(await content(v.id), 400);
  }],

  ['create validation: 400s with param; bad JSON; unknown field', async () => {
    let e = await errorOf(await api('POST', '/videos', { prompt: 'x', seconds: 8 }), 400);
    assert.equal(e.param, 'seconds');
    assert.equal(e.code, 'invalid_type');
    e = await errorOf(await api('POST', '/videos', { prompt: 'x', colour: 'red' }), 400);
    assert.equal(e.param, 'colour');
    assert.equal(e.code, 'unknown_parameter');
    e = await errorOf(await api('POST', '/videos', '{"prompt": '), 400);
    assert.equal(e.type, 'invalid_request_error');
    e = await errorOf(await api('POST', '/videos', '[1]'), 400);
    e = await errorOf(await api('POST', '/videos', { prompt: '' }), 400);
    assert.equal(e.param, 'prompt');
    e = await errorOf(await api('POST', '/videos/', { prompt: 'x #reject' }), 400);
    assert.equal(e.code, 'moderation_blocked');
    const ok = await api('POST', '/videos/', { prompt: 'trailing slash', seconds: '20', size: '1792x1024' });
    assert.equal(ok.status, 200);
    e = await errorOf(await api('GET', '/videos?limit=101'), 400);
    assert.equal(e.param, 'limit');
    e = await errorOf(await api('GET', '/videos?order=sideways'), 400);
    assert.equal(e.param, 'order');
  }],

  ['unknown paths 404, wrong methods 405, a wrong bearer 401, all JSON', async () => {
    await errorOf(await api('GET', '/nothing/here'), 404);
    await errorOf(await fetch(`${sim.root}/`), 404);
    await errorOf(await api('PUT', '/videos'), 405);
    await errorOf(await api('POST', `/videos/${done1.id}`), 405);
    const before = (await sim.stats()).unauthorized;
    let r = await fetch(`${sim.base}/videos`);
    let e = await errorOf(r, 401);
    assert.equal(e.code, 'invalid_api_key');
    r = await fetch(`${sim.base}/videos`, { headers: { Authorization: 'Bearer nope' } });
    e = await errorOf(r, 401);
    assert.deepEqual(Object.keys(e), ['message', 'type', 'param', 'code']);
    assert.equal((await sim.stats()).unauthorized, before + 2);
  }],

  ['garbage on the socket gets an answer, and the server lives on', async () => {
    const port = Number(new URL(sim.base).port);
    for (const junk of ['GARBAGE\r\n\r\n', 'GET /v1/videos HTTP/9.9\r\n\r\n', '\u0000\u0001\u0002\r\n\r\n',
      'POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n']) {
      await new Promise((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.end(junk));
        s.on('data', () => {});
        s.on('error', resolve);
        s.on('close', resolve);
      });
    }
    assert.equal((await api('GET', '/videos?limit=1')).status, 200);
  }],

  ['expire: content answers 404 from then on', async () => {
    const v = await finished();
    assert.equal((await content(v.id, { Range: 'bytes=0-0' })).status, 206);
    await sim.expire(v.id);
    await errorOf(await content(v.id), 404);
    const got = await (await api('GET', `/videos/${v.id}`)).json();
    assert.ok(got.expires_at <= Date.now() / 1000 + 1);
  }],

  ['Ark cycle: create, retrieve, list, video_url without bearer, delete', async () => {
    await sim.resetStats();
    let r = await ark('POST', '', { model: 'doubao-seedance-1-0-pro-250528',
      content: [{ type: 'text', text: 'a red fox in snow --ratio 9:16 --dur 8' }] });
    assert.equal(r.status, 200);
    const { id, ...rest } = await r.json();
    assert.match(id, /^cgt-\d{14}-[a-z0-9]{5}$/);
    assert.deepEqual(rest, {});
    let task = await (await ark('GET', `/${id}`)).json();
    assert.equal(task.status, 'queued');
    assert.equal(task.ratio, '9:16');
    assert.equal(task.duration, 8);
    assert.equal(task.content, undefined);
    const seen = new Set();
    for (let i = 0; i < 100 && task.status !== 'succeeded'; i++) {
      await sleep(50);
      task = await (await ark('GET', `/${id}`)).json();
      seen.add(task.status);
    }
    assert.equal(task.status, 'succeeded');
    assert.ok(seen.has('running'), [...seen].join());
    assert.equal(task.error, null);
    assert.ok(task.updated_at >= task.created_at);
    assert.match(task.content.video_url, new RegExp(`^${sim.root}/files/${id}\\.mp4\\?sig=[0-9a-f]{32}$`));

    const list = await (await ark('GET', '?page_num=1&page_size=10&filter.status=succeeded')).json();
    assert.equal(list.total, 1);
    assert.deepEqual(list.items.map((t) => t.id), [id]);
    const none = await (await ark('GET', '?filter.status=failed')).json();
    assert.deepEqual(none, { total: 0, items: [] });
    assert.equal((await ark('GET', '?page_size=0')).status, 400);

    r = await fetch(task.content.video_url);
    assert.equal(r.status, 200);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(await sim.truth(id)));
    let stats = await sim.stats();
    assert.equal(stats.bearer_on_presigned, 0);
    assert.equal(stats.requests.file, 1);
    assert.equal(stats.content_bytes, SIZE);
    assert.equal(stats.requests.ark_create, 1);
    assert.equal(stats.requests.ark_list, 3);
    r = await fetch(task.content.video_url, { headers: { ...AUTH, Range: 'bytes=0-9' } });
    assert.equal(r.status, 206);
    await r.arrayBuffer();
    stats = await sim.stats();
    assert.equal(stats.bearer_on_presigned, 1);
    assert.equal(stats.unauthorized, 0);
    r = await fetch(task.content.video_url.replace(/sig=.*/, 'sig=00'));
    assert.equal(r.status, 403);

    const index = await (await fetch(`${sim.root}/files/`)).text();
    assert.ok(index.includes(`<a href="${id}.mp4">`));
    r = await fetch(`${sim.root}/files/${id}.mp4`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(SIZE));

    r = await ark('DELETE', `/${id}`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), {});
    r = await ark('GET', `/${id}`);
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error.code, 'ResourceNotFound');
    assert.equal((await fetch(task.content.video_url)).status, 404);
  }],

  ['Ark: cancel a queued task, 401 and 400 bodies', async () => {
    let r = await ark('POST', '', { model: 'm', content: [{ type: 'text', text: 'to cancel' }] });
    const { id } = await r.json();
    r = await ark('DELETE', `/${id}`);
    assert.equal(r.status, 200);
    const task = await (await ark('GET', `/${id}`)).json();
    assert.equal(task.status, 'cancelled');
    r = await fetch(`${sim.ark}/contents/generations/tasks/${id}`, { headers: { Authorization: 'Bearer no' } });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error.code, 'AuthenticationError');
    r = await ark('POST', '', { content: [{ type: 'text', text: 'x' }] });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error.param, 'model');
    r = await ark('POST', '', { model: 'm', content: [], colour: 1 });
    assert.equal(r.status, 400);
    r = await ark('POST', '', { model: 'm', content: [{ type: 'text', text: 'no #reject' }] });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error.code, 'moderation_blocked');
  }],

  ['--style tokenhot: ms timestamps and sora-2-N ids', async () => {
    const hot = await startSim(simPath, ['--style', 'tokenhot', '--queue', '0', '--duration', '0']);
    try {
      const r = await fetch(`${hot.base}/videos/`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: 'x' }) });
      const v = await r.json();
      assert.match(v.id, /^sora-2-\d{6}$/);
      assert.ok(v.created_at > 1e11);
      const got = await (await fetch(`${hot.base}/videos/${v.id}`)).json();
      assert.equal(got.status, 'completed');
      assert.ok(got.completed_at > 1e11);
      assert.equal(got.expires_at, got.completed_at + 3600000);
    } finally {
      await hot.stop();
    }
  }],
]);
