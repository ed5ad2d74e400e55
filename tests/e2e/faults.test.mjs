// The retry and timeout policy against the simulator's fault injection:
// reads retry 429/5xx/network errors at most twice (backoff 500 ms, then
// 1000 ms, Retry-After honoured), writes are sent once (create_task with a
// unique_id excepted), bad bodies and timeouts become clear tool errors.
// Timing is read from the simulator's request log, never slept on.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import zlib from 'node:zlib';
import { startStack } from './harness.mjs';
import { connect, textOf, basicAuth, closeAll } from './client.mjs';

let stack;
let mcp;
let slow; // SCALE_TIMEOUT_MS = 300
let slowMcp;

before(async () => {
  // Tasks and batches here name https://example.com/cb as their callback.
  [stack, slow] = await Promise.all([startStack({ vars: { CALLBACK_HOSTS: 'example.com' } }), startStack({ vars: { SCALE_TIMEOUT_MS: '300' } })]);
  [mcp, slowMcp] = await Promise.all([connect(stack), connect(slow)]);
});

after(async () => {
  await Promise.allSettled([mcp, slowMcp].filter(Boolean).map((m) => m.close()));
  await closeAll([stack, slow]);
});

// ---------------------------------------------------------------------------
// helpers

let counter = 0;
const uniq = (p) => `${p}-${Date.now().toString(36)}-${++counter}`;
const enc = (s) => encodeURIComponent(s);

function ok(result) {
  assert.ok(!result.isError, `expected success, got: ${textOf(result)}`);
  assert.deepEqual(JSON.parse(textOf(result)), result.structuredContent);
  return result.structuredContent;
}
function fails(result, status) {
  assert.equal(result.isError, true, `expected isError, got: ${textOf(result)}`);
  const t = textOf(result);
  if (status !== undefined) assert.match(t, new RegExp(`\\b${status}\\b`), t);
  return t;
}

/** The simulator's requests for one method and raw path (optionally only after `afterSeq`). */
async function requestsFor(s, method, path, afterSeq = 0) {
  return (await s.simRequests()).filter((r) => r.method === method && r.path === path && r.seq > afterSeq);
}
async function lastSeq(s) {
  const all = await s.simRequests();
  return all.length ? all.at(-1).seq : 0;
}
/** Milliseconds between consecutive requests, from the simulator's arrival times. */
const gaps = (reqs) => reqs.slice(1).map((r, i) => Date.parse(r.at) - Date.parse(reqs[i].at));
/** Arrival times are whole milliseconds on both sides: allow rounding. */
const SLACK_MS = 5;

async function fault(f, s = stack) {
  return s.simControl('faults', f);
}
async function seed(body, s = stack) {
  return s.simControl('seed', body);
}
async function newTask(extra = {}, s = stack) {
  return (await seed({ tasks: [{ type: 'imageannotation', attachment: 'https://example.com/i.png', ...extra }] }, s)).tasks[0];
}
async function newBatch(s = stack) {
  const project = uniq('fp');
  const name = `f/b ${uniq('fb')}`;
  await seed({ projects: [{ type: 'imageannotation', name: project }], batches: [{ project, name, callback: 'https://example.com/cb' }] }, s);
  return name;
}

// Transient failures a read survives when the third attempt succeeds.
const TRANSIENT = [
  { label: '429 with Retry-After: 1', f: { status: 429, retryAfter: 1 }, minGaps: [1000, 1000] },
  // No Retry-After: falls back to the default backoff rather than retrying at once.
  { label: '429 without Retry-After', f: { status: 429 }, minGaps: [500, 1000] },
  { label: '500', f: { status: 500 }, minGaps: [500, 1000] },
  { label: '502', f: { status: 502 }, minGaps: [500, 1000] },
  { label: '503', f: { status: 503 }, minGaps: [500, 1000] },
  { label: '504', f: { status: 504 }, minGaps: [500, 1000] },
  { label: 'a dropped connection', f: { drop: true }, minGaps: [500, 1000] },
];

function assertBackoff(reqs, minGaps) {
  assert.equal(reqs.length, 3, 'three attempts');
  const g = gaps(reqs);
  for (let i = 0; i < minGaps.length; i++) assert.ok(g[i] >= minGaps[i] - SLACK_MS, `gap ${i + 1} was ${g[i]} ms, expected >= ${minGaps[i]} ms (all: ${g})`);
  for (const r of reqs) assert.equal(r.headers.authorization, basicAuth());
}

// ---------------------------------------------------------------------------
// reads: retried, then succeed

describe('get_task retries and succeeds on the 3rd attempt', { concurrency: true }, () => {
  for (const k of TRANSIENT) {
    test(k.label, async () => {
      const task = await newTask();
      const path = `/v1/task/${task.task_id}`;
      await fault({ method: 'GET', path, times: 2, ...k.f });
      const t = ok(await mcp.callTool('get_task', { task_id: task.task_id }));
      assert.equal(t.task_id, task.task_id);
      assertBackoff(await requestsFor(stack, 'GET', path), k.minGaps);
    });
  }
});

describe('get_batch retries each of its reads and succeeds on the 3rd attempt', { concurrency: true }, () => {
  for (const k of TRANSIENT) {
    test(`${k.label} on GET /batches/{name}`, async () => {
      const name = await newBatch();
      const path = `/v1/batches/${enc(name)}`;
      await fault({ method: 'GET', path, times: 2, ...k.f });
      const b = ok(await mcp.callTool('get_batch', { name }));
      assert.equal(b.name, name);
      assert.deepEqual(b.progress, { pending: 0, completed: 0, error: 0, canceled: 0, total: 0 });
      assertBackoff(await requestsFor(stack, 'GET', path), k.minGaps);
      assert.equal((await requestsFor(stack, 'GET', `${path}/status`)).length, 1);
    });
  }
  test('503 on GET /batches/{name}/status', async () => {
    const name = await newBatch();
    const path = `/v1/batches/${enc(name)}`;
    await fault({ method: 'GET', path: `${path}/status`, times: 2, status: 503 });
    const b = ok(await mcp.callTool('get_batch', { name }));
    assert.equal(b.progress.total, 0);
    assert.equal((await requestsFor(stack, 'GET', path)).length, 1);
    assertBackoff(await requestsFor(stack, 'GET', `${path}/status`), [500, 1000]);
  });
});

describe('list_tasks retries and succeeds on the 3rd attempt', () => {
  // One at a time: every list_tasks call shares the path /v1/tasks.
  for (const k of TRANSIENT) {
    test(k.label, async () => {
      const project = uniq('lp');
      await seed({ projects: [{ type: 'imageannotation', name: project }] });
      await newTask({ project });
      const seq = await lastSeq(stack);
      await fault({ method: 'GET', path: '/v1/tasks', times: 2, ...k.f });
      const out = ok(await mcp.callTool('list_tasks', { project }));
      assert.equal(out.tasks.length, 1);
      assert.equal(out.total, 1);
      const reqs = await requestsFor(stack, 'GET', '/v1/tasks', seq);
      assertBackoff(reqs, k.minGaps);
      for (const r of reqs) assert.equal(r.query, `project=${project}&limit=10`, 'the same request each time');
    });
  }
});

// ---------------------------------------------------------------------------
// reads: give up after three attempts

describe('reads fail after 3 attempts with a clear message', () => {
  test('get_task: 503 three times', async () => {
    const task = await newTask();
    const path = `/v1/task/${task.task_id}`;
    await fault({ method: 'GET', path, times: 3, status: 503, body: { status_code: 503, error: 'Service is overloaded' } });
    const t = fails(await mcp.callTool('get_task', { task_id: task.task_id }), 503);
    assert.match(t, /Service is overloaded/);
    assert.match(t, new RegExp(`GET /task/${task.task_id}`));
    assertBackoff(await requestsFor(stack, 'GET', path), [500, 1000]);
  });

  test('get_batch: a dropped connection three times', async () => {
    const name = await newBatch();
    const path = `/v1/batches/${enc(name)}`;
    await fault({ method: 'GET', path, times: 3, drop: true });
    const t = fails(await mcp.callTool('get_batch', { name }));
    assert.match(t, /Could not reach Scale/);
    assertBackoff(await requestsFor(stack, 'GET', path), [500, 1000]);
    assert.equal((await requestsFor(stack, 'GET', `${path}/status`)).length, 0);
  });

  test('list_tasks: 429 with Retry-After three times', async () => {
    const seq = await lastSeq(stack);
    await fault({ method: 'GET', path: '/v1/tasks', times: 3, status: 429, retryAfter: 1, body: { status_code: 429, error: 'Rate limit exceeded' } });
    const t = fails(await mcp.callTool('list_tasks', { status: 'error' }), 429);
    assert.match(t, /Rate limit exceeded/);
    assert.match(t, /retry after 1 s/i);
    assertBackoff(await requestsFor(stack, 'GET', '/v1/tasks', seq), [1000, 1000]);
  });

  test('a Retry-After beyond the 50 s call budget is not waited for', async () => {
    const task = await newTask();
    const path = `/v1/task/${task.task_id}`;
    await fault({ method: 'GET', path, status: 429, retryAfter: 60 });
    const started = Date.now();
    const t = fails(await mcp.callTool('get_task', { task_id: task.task_id }), 429);
    assert.ok(Date.now() - started < 5000, 'answered without waiting');
    assert.match(t, /retry after 60 s/i);
    assert.equal((await requestsFor(stack, 'GET', path)).length, 1);
  });

  test('a 4xx on a read is not retried', async () => {
    const task = await newTask();
    const path = `/v1/task/${task.task_id}`;
    await fault({ method: 'GET', path, status: 400 });
    fails(await mcp.callTool('get_task', { task_id: task.task_id }), 400);
    assert.equal((await requestsFor(stack, 'GET', path)).length, 1);
  });
});

describe('Scale unreachable (connection refused)', () => {
  let dead;
  let deadMcp;
  before(async () => {
    // A port that was free a moment ago and now has no listener.
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address();
        srv.close(() => resolve(p));
      });
    });
    dead = await startStack({ vars: { SCALE_API_BASE: `http://127.0.0.1:${port}/v1` } });
    deadMcp = await connect(dead);
  });
  after(async () => {
    await deadMcp?.close();
    await dead?.close();
  });

  test('get_task says it could not reach Scale; the worker still answers', async () => {
    const started = Date.now();
    const t = fails(await deadMcp.callTool('get_task', { task_id: '5f1e2d3c4b5a69788796a5b4' }));
    assert.match(t, /Could not reach Scale at 127\.0\.0\.1 for GET \/task\/5f1e2d3c4b5a69788796a5b4: the connection was refused or dropped/);
    assert.match(t, /This was a read, so it is safe to repeat/);
    assert.doesNotMatch(t, /write may still/);
    // A read retries network errors with the 500 ms then 1000 ms backoff.
    assert.ok(Date.now() - started >= 1500 - SLACK_MS, `gave up after ${Date.now() - started} ms, before retrying twice`);
    assert.equal((await dead.simRequests()).length, 0, 'nothing reached the simulator');
    const { tools } = await deadMcp.client.listTools();
    assert.ok(tools.some((x) => x.name === 'get_task'));
    await deadMcp.client.ping();
  });
});

describe('Scale unreachable (no such host), as a new user meets it', () => {
  let lost;
  let lostMcp;
  before(async () => {
    // `.invalid` never resolves (RFC 2606): workerd reports only "internal error; reference = …".
    lost = await startStack({ vars: { SCALE_API_BASE: 'https://scale-api.invalid/v1', SCALE_API_KEY: 'live_5f1e2d3c4b5a69788796a5b4c3d2e1f0' } });
    lostMcp = await connect(lost);
  });
  after(async () => {
    await lostMcp?.close();
    await lost?.close();
  });

  test('get_task names the host and what failed, and that a read is safe to repeat', async () => {
    const t = fails(await lostMcp.callTool('get_task', { task_id: '5f1e2d3c4b5a69788796a5b4' }));
    assert.match(t, /Could not reach Scale at scale-api\.invalid for GET \/task\/5f1e2d3c4b5a69788796a5b4: the DNS lookup or the TLS handshake failed/);
    assert.match(t, /SCALE_API_BASE/);
    assert.match(t, /This was a read, so it is safe to repeat/);
    assert.doesNotMatch(t, /internal error|reference =|write may still/);
  });

  test('a write says it may have been applied, not that it is safe to repeat', async () => {
    const t = fails(await lostMcp.callTool('cancel_task', { task_id: '5f1e2d3c4b5a69788796a5b4' }));
    assert.match(t, /scale-api\.invalid/);
    assert.match(t, /A write may still have been applied/);
    assert.doesNotMatch(t, /safe to repeat/);
  });
});

// ---------------------------------------------------------------------------
// answers too large to read (SCALE_MAX_RESPONSE_BYTES = 65536)

describe('answers above SCALE_MAX_RESPONSE_BYTES are not read', () => {
  let capped;
  let cappedMcp;
  let own; // a Scale stand-in that answers however the test wants
  let ownStack;
  let ownMcp;
  const big = JSON.stringify({ task_id: 'big', response: { blob: 'x'.repeat(200_000) } });
  before(async () => {
    const server = http.createServer((req, res) => {
      const path = req.url.split('?')[0];
      if (path === '/v1/task/chunked') {
        // No Content-Length: the size is only known by reading.
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < big.length; i += 10_000) res.write(big.slice(i, i + 10_000));
        res.end();
      } else if (path === '/v1/task/gzip') {
        // A small compressed body that inflates past the cap.
        const z = zlib.gzipSync(big);
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': z.length });
        res.end(z);
      } else if (path === '/v1/task/declared') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) });
        res.end(big);
      } else {
        const small = JSON.stringify({ task_id: 'small', status: 'pending' });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': small.length });
        res.end(small);
      }
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    own = server;
    [capped, ownStack] = await Promise.all([
      startStack({ vars: { SCALE_MAX_RESPONSE_BYTES: '65536' } }),
      startStack({ vars: { SCALE_MAX_RESPONSE_BYTES: '65536', SCALE_API_BASE: `http://127.0.0.1:${server.address().port}/v1` } }),
    ]);
    [cappedMcp, ownMcp] = await Promise.all([connect(capped), connect(ownStack)]);
  });
  after(async () => {
    await Promise.allSettled([cappedMcp, ownMcp].filter(Boolean).map((m) => m.close()));
    await closeAll([capped, ownStack]);
    await new Promise((r) => own.close(r));
  });

  const tooLarge = (t) => {
    assert.match(t, /larger than 65536 bytes \(SCALE_MAX_RESPONSE_BYTES\) and was not read/);
    assert.match(t, /smaller `limit`/);
  };

  test('a task whose response is over the cap (declared length, from the simulator)', async () => {
    const task = await newTask({}, capped);
    await capped.simControl(`tasks/${task.task_id}/complete`, { response: { blob: 'y'.repeat(100_000) } });
    const seq = await lastSeq(capped);
    tooLarge(fails(await cappedMcp.callTool('get_task', { task_id: task.task_id }), 200));
    assert.equal((await requestsFor(capped, 'GET', `/v1/task/${task.task_id}`, seq)).length, 1, 'not retried');
    // A list of such tasks too, with the list's own advice.
    const t = fails(await cappedMcp.callTool('list_tasks', { limit: 100 }));
    tooLarge(t);
    assert.match(t, /limited_response/);
  });

  test('streamed without a length, compressed, or declared: all stopped at the cap', async () => {
    for (const id of ['chunked', 'gzip', 'declared']) tooLarge(fails(await ownMcp.callTool('get_task', { task_id: id })));
    assert.equal(ok(await ownMcp.callTool('get_task', { task_id: 'small' })).task_id, 'small');
  });
});

test('every tool result is held to 200 KB: a task with a 300 KB response loses the response and says so', async () => {
  const task = await newTask();
  await stack.simControl(`tasks/${task.task_id}/complete`, { response: { blob: 'z'.repeat(300_000) } });
  const r = await mcp.callTool('get_task', { task_id: task.task_id });
  assert.ok(textOf(r).length <= 200 * 1024, String(textOf(r).length));
  const s = ok(r);
  assert.equal(s.task_id, task.task_id);
  assert.equal(s.response, undefined);
  assert.deepEqual(s.truncated.dropped, ['response']);
  assert.match(s.truncated.reason, /200 KB/);
});

// ---------------------------------------------------------------------------
// writes: sent once

describe('creates are not retried', () => {
  test('create_task without unique_id: 503 -> one request, and the error warns the task may exist', async () => {
    const path = '/v1/task/categorization';
    const seq = await lastSeq(stack);
    await fault({ method: 'POST', path, status: 503 });
    const t = fails(await mcp.callTool('create_task', { type: 'categorization', attachment: 'text', params: { categories: ['a', 'b'] } }), 503);
    assert.equal((await requestsFor(stack, 'POST', path, seq)).length, 1);
    assert.match(t, /POST \/task\/categorization/);
    assert.match(t, /may (still )?have been (applied|created)/i);
  });

  test('create_batch: 503 -> exactly one request', async () => {
    const project = uniq('cbp');
    await seed({ projects: [{ type: 'imageannotation', name: project }] });
    const seq = await lastSeq(stack);
    await fault({ method: 'POST', path: '/v1/batches', status: 503 });
    fails(await mcp.callTool('create_batch', { project, name: uniq('b'), callback: 'https://example.com/cb' }), 503);
    assert.equal((await requestsFor(stack, 'POST', '/v1/batches', seq)).length, 1);
  });

  test('create_task without unique_id: a dropped connection -> one request; the error says the write may have been applied', async () => {
    const path = '/v1/task/textcollection';
    const seq = await lastSeq(stack);
    await fault({ method: 'POST', path, drop: true });
    const t = fails(await mcp.callTool('create_task', { type: 'textcollection', attachment: 'https://e.com/a.txt' }));
    assert.match(t, /Could not reach Scale/);
    assert.match(t, /write may still have been applied/i);
    assert.equal((await requestsFor(stack, 'POST', path, seq)).length, 1);
  });
});

describe('create_task with unique_id is retried safely', () => {
  test('503, then the retry gets 409 because the task exists: the tool returns that task via GET /tasks?unique_id=', async () => {
    const uid = `u/${uniq('res')} ü`;
    const existing = await newTask({ unique_id: uid });
    const path = '/v1/task/imageannotation';
    const seq = await lastSeq(stack);
    await fault({ method: 'POST', path, status: 503 });
    const t = ok(await mcp.callTool('create_task', { type: 'imageannotation', attachment: 'https://example.com/i.png', unique_id: uid }));
    assert.equal(t.task_id, existing.task_id);
    assert.equal(t.unique_id, uid);
    const reqs = (await stack.simRequests()).filter((r) => r.seq > seq);
    assert.deepEqual(reqs.map((r) => `${r.method} ${r.path}`), [`POST ${path}`, `POST ${path}`, 'GET /v1/tasks']);
    assert.ok(gaps(reqs)[0] >= 500 - SLACK_MS, `backoff before the retry: ${gaps(reqs)[0]} ms`);
    assert.deepEqual(reqs[0].json, reqs[1].json, 'the retry repeats the same body');
    assert.equal(new URLSearchParams(reqs[2].query).get('unique_id'), uid);
    assert.match(reqs[2].query, /(^|&)unique_id=/);
    for (const r of reqs) assert.equal(r.headers.authorization, basicAuth());
  });

  test('503, then the retry creates the task', async () => {
    const uid = uniq('ok');
    const path = '/v1/task/imageannotation';
    const seq = await lastSeq(stack);
    await fault({ method: 'POST', path, status: 503 });
    const t = ok(await mcp.callTool('create_task', { type: 'imageannotation', attachment: 'https://example.com/i.png', unique_id: uid }));
    assert.equal(t.unique_id, uid);
    assert.equal((await requestsFor(stack, 'POST', path, seq)).length, 2);
    assert.equal(ok(await mcp.callTool('list_tasks', { unique_id: uid })).total, 1, 'exactly one task');
  });

  test('a dropped connection, then the retry creates the task', async () => {
    const uid = uniq('drop');
    const path = '/v1/task/imageannotation';
    const seq = await lastSeq(stack);
    await fault({ method: 'POST', path, drop: true });
    const t = ok(await mcp.callTool('create_task', { type: 'imageannotation', attachment: 'https://example.com/i.png', unique_id: uid }));
    assert.equal(t.unique_id, uid);
    assert.equal((await requestsFor(stack, 'POST', path, seq)).length, 2);
  });
});

// ---------------------------------------------------------------------------
// bodies Scale should not send

describe('unexpected bodies', () => {
  test('a 200 with a non-JSON body is a clear tool error, not retried', async () => {
    const task = await newTask();
    const path = `/v1/task/${task.task_id}`;
    await fault({ method: 'GET', path, nonJson: true });
    const t = fails(await mcp.callTool('get_task', { task_id: task.task_id }), 200);
    assert.match(t, /not JSON/);
    assert.match(t, /text\/html/);
    assert.equal((await requestsFor(stack, 'GET', path)).length, 1);
  });

  test('a 200 with truncated JSON is a clear tool error', async () => {
    const name = await newBatch();
    const path = `/v1/batches/${enc(name)}`;
    await fault({ method: 'GET', path, truncatedJson: true });
    const t = fails(await mcp.callTool('get_batch', { name }));
    assert.match(t, /not JSON/);
    assert.equal((await requestsFor(stack, 'GET', path)).length, 1);
  });

  test('an HTML 502 from a gateway is retried and reported with its status', async () => {
    const task = await newTask();
    const path = `/v1/task/${task.task_id}`;
    await fault({ method: 'GET', path, status: 502, nonJson: true, times: 3 });
    const t = fails(await mcp.callTool('get_task', { task_id: task.task_id }), 502);
    assert.match(t, /Bad Gateway/);
    assert.equal((await requestsFor(stack, 'GET', path)).length, 3);
  });

  test('a plain-text OK to resend_callback is a success', async () => {
    const task = await newTask({ callback_url: 'https://example.com/cb' });
    const path = `/v1/task/${task.task_id}/send-callback`;
    await fault({ method: 'POST', path, plainOk: true });
    const out = ok(await mcp.callTool('resend_callback', { task_id: task.task_id }));
    assert.deepEqual(out, { ok: true });
    assert.equal((await requestsFor(stack, 'POST', path)).length, 1);
  });
});

// ---------------------------------------------------------------------------
// timeouts (SCALE_TIMEOUT_MS = 300)

describe('a slow Scale past SCALE_TIMEOUT_MS', () => {
  test('a create times out once: a tool error naming the timeout; the worker keeps serving', async () => {
    const path = '/v1/task/categorization';
    const seq = await lastSeq(slow);
    await fault({ method: 'POST', path, delayMs: 2000 }, slow);
    const started = Date.now();
    const t = fails(await slowMcp.callTool('create_task', { type: 'categorization', attachment: 'x', params: { categories: ['a'] } }));
    const took = Date.now() - started;
    assert.match(t, /within 300 ms/);
    assert.match(t, /SCALE_TIMEOUT_MS/);
    assert.match(t, /write may still have been applied/i);
    assert.ok(took < 1900, `the worker gave up after ${took} ms`);
    assert.equal((await requestsFor(slow, 'POST', path, seq)).length, 1);

    const after = ok(await slowMcp.callTool('list_projects', {}));
    assert.ok(Array.isArray(after.projects));
  });

  test('a read that times out once is retried and succeeds', async () => {
    const task = await newTask({}, slow);
    const path = `/v1/task/${task.task_id}`;
    await fault({ method: 'GET', path, delayMs: 2000 }, slow);
    assert.equal(ok(await slowMcp.callTool('get_task', { task_id: task.task_id })).task_id, task.task_id);
    const reqs = await requestsFor(slow, 'GET', path);
    assert.equal(reqs.length, 2);
    assert.ok(gaps(reqs)[0] >= 300 + 500 - SLACK_MS, `timeout plus backoff: ${gaps(reqs)[0]} ms`);
  });

  test('a read that times out three times fails with the timeout; the next call succeeds', async () => {
    const task = await newTask({}, slow);
    const path = `/v1/task/${task.task_id}`;
    await fault({ method: 'GET', path, delayMs: 2000, times: 3 }, slow);
    const t = fails(await slowMcp.callTool('get_task', { task_id: task.task_id }));
    assert.match(t, /within 300 ms/);
    assert.match(t, /SCALE_TIMEOUT_MS/);
    assert.match(t, /This was a read, so it is safe to repeat/);
    assert.doesNotMatch(t, /write may still/);
    assert.equal((await requestsFor(slow, 'GET', path)).length, 3);
    assert.equal(ok(await slowMcp.callTool('get_task', { task_id: task.task_id })).task_id, task.task_id);
  });
});
