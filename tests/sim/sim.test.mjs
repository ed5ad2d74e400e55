// Tests of the Scale v1 simulator's own behaviour (sim/scale-sim.mjs) that
// Scale's Python client cannot reach: the CLI contract, auth and error shapes,
// raw path handling, paging tokens, batch counts and completion callbacks,
// task callbacks with the scale-callback-auth header, fault injection (by
// method, path pattern and request body), upstream latency, scheduled task and
// batch completion, the in-flight statistics, the request log, the rest of
// the /__sim control API, the sample attachment image with the labels an
// imageannotation completion draws on it, and what dataset-scale jobs need:
// served manifests (streamed, generated, redirected), probabilistic faults
// before and after the work, refused items and the task counts.
//
// Run: node --test tests/sim/   (zero dependencies)

import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../../sim/scale-sim.mjs';

const SIM_PATH = fileURLToPath(new URL('../../sim/scale-sim.mjs', import.meta.url));
const KEY = 'test_sim_key';
const AUTH = `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`;

let sim;

/** Calls the simulator. `body` objects go as JSON; strings go raw. */
async function call(method, path, body, { headers = {}, auth = AUTH } = {}) {
  const h = { ...headers };
  if (auth) h.authorization = auth;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  const res = await fetch(sim.url + path, { method, headers: h, body: payload });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}
const api = (method, path, body, opts) => call(method, `/v1${path}`, body, opts);
const ctl = (method, path, body) => call(method, `/__sim${path}`, body, { auth: null });

/** Asserts Scale's error shape and returns the message. */
function assertError(res, status) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.equal(res.json.status_code, status);
  assert.equal(typeof res.json.error, 'string');
  return res.json.error;
}

/** A callback receiver on loopback that records what it gets and answers `status`. */
async function receiver(status = 200) {
  const got = [];
  const waiters = []; // [{n, resolve}]
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ method: req.method, url: req.url, headers: req.headers, json: JSON.parse(body), at: Date.now() });
      res.writeHead(r.status, { connection: 'close' }).end('ok');
      for (const w of waiters.filter((x) => got.length >= x.n)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  /** Resolves once `n` deliveries have arrived; rejects after `ms`. */
  const waitFor = (n, ms = 5000) => new Promise((resolve, reject) => {
    if (got.length >= n) { resolve(); return; }
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} deliveries arrived within ${ms} ms`)), ms);
    waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
  });
  const r = {
    status,
    got,
    waitFor,
    /** Resolves when the first delivery has arrived. */
    get first() { return waitFor(1, 30000); },
    url: `http://127.0.0.1:${server.address().port}/hook`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
  return r;
}

async function seed(body) {
  const res = await ctl('POST', '/seed', body);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

before(async () => { sim = await startSimulator({ port: 0 }); });
after(async () => { await sim.close(); });
beforeEach(async () => {
  await ctl('POST', '/reset');
  await ctl('POST', '/config', { callbackAuthKey: null, autoCompleteMs: null, latency: null });
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves `{value, ms}`: what `promise` gave and how long it took from now. */
async function timed(promise) {
  const t0 = performance.now();
  const value = await promise;
  return { value, ms: performance.now() - t0 };
}

/** Fisher-Yates with a fixed seed, so a failure reproduces. */
function shuffled(list, seed = 7) {
  const out = [...list];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// ---------------------------------------------------------------------------

describe('CLI', () => {
  test('prints one listening line, serves, and exits cleanly on SIGTERM', async () => {
    const started = Date.now();
    const child = spawn(process.execPath, [SIM_PATH, '--port', '0', '--api-key', 'live_abc', '--callback-auth-key', 'cbk'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise((resolve) => {
      const check = () => { if (out.includes('\n')) { child.stdout.off('data', check); resolve(); } };
      child.stdout.on('data', check);
      check();
    });
    const elapsed = Date.now() - started;
    const line = out.split('\n')[0];
    const info = JSON.parse(line);
    assert.deepEqual(Object.keys(info), ['event', 'url', 'base']);
    assert.equal(info.event, 'listening');
    assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(info.base, `${info.url}/v1`);
    assert.ok(elapsed < 3000, `startup took ${elapsed} ms`);

    const auth = `Basic ${Buffer.from('live_abc:').toString('base64')}`;
    const res = await fetch(`${info.base}/task/categorization`, { method: 'POST', headers: { authorization: auth }, body: '{}' });
    const task = await res.json();
    assert.equal(res.status, 200);
    assert.equal(task.is_test, false); // a live_ key makes live tasks

    child.kill('SIGTERM');
    const { code } = await exited;
    assert.equal(code, 0);
    assert.equal(out, `${line}\n`, 'nothing else on stdout');
  });

  test('rejects unknown arguments with exit code 2', async () => {
    const child = spawn(process.execPath, [SIM_PATH, '--bogus'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 2);
  });
});

describe('auth and errors', () => {
  test('every /v1 request needs Basic auth with the key and an empty password', async () => {
    assertError(await api('GET', '/projects', undefined, { auth: null }), 401);
    assertError(await api('GET', '/projects', undefined, { auth: `Basic ${Buffer.from('wrong:').toString('base64')}` }), 401);
    assertError(await api('GET', '/projects', undefined, { auth: `Basic ${Buffer.from(`${KEY}:pw`).toString('base64')}` }), 401);
    assertError(await api('GET', '/projects', undefined, { auth: `Bearer ${KEY}` }), 401);
    // Auth comes before routing: an unknown route without a key is still 401.
    assertError(await api('GET', '/nope', undefined, { auth: null }), 401);
    assert.equal((await api('GET', '/projects')).status, 200);
  });

  test('unknown routes and methods answer 404 in Scale error shape', async () => {
    assertError(await api('GET', '/nope'), 404);
    assertError(await api('PATCH', '/projects'), 404);
    assertError(await call('GET', '/elsewhere', undefined, { auth: null }), 404);
    assertError(await ctl('GET', '/nope'), 404);
  });

  test('malformed JSON, wrong body types and bad percent-encoding answer 400', async () => {
    assert.match(assertError(await api('POST', '/projects', '{"type":'), 400), /JSON/);
    assertError(await api('POST', '/projects', '[]'), 400);
    assertError(await api('POST', '/projects', 'null'), 400);
    assertError(await api('GET', '/projects/%E0%A4%A'), 400);
    assertError(await api('POST', '/task/Image-Annotation', {}), 400);
    assertError(await ctl('POST', '/faults', '{oops'), 400);
  });

  test('garbage inputs never produce a 500', async () => {
    const { tasks: [t] } = await seed({ tasks: [{ type: 'categorization' }] });
    const bodies = ['', 'null', '1', '"s"', '[]', '[1]', '{}', '{"a":', '\u0000', '{"unique_id":5}', '{"metadata":[]}', '{"tags":"x"}'];
    const paths = [
      ['POST', '/task/categorization'], ['POST', `/task/${t.task_id}/setMetadata`], ['POST', `/task/${t.task_id}/tags`],
      ['PUT', `/task/${t.task_id}/tags`], ['DELETE', `/task/${t.task_id}/tags`], ['POST', `/task/${t.task_id}/unique_id`],
      ['POST', '/batches'], ['POST', '/projects'], ['POST', '/teams/invite'], ['POST', '/teams/set_role'],
      ['POST', '/files/import'], ['POST', '/evaluation_tasks/imageannotation'],
    ];
    for (const [method, path] of paths) {
      for (const body of bodies) {
        const res = await api(method, path, body);
        assert.ok(res.status < 500, `${method} ${path} ${JSON.stringify(body)} -> ${res.status} ${res.text}`);
      }
    }
    for (const q of ['limit=abc', 'limit=0', 'limit=1.5', 'start_time=yesterday', 'next_token=%%%', 'limited_response=maybe']) {
      assertError(await api('GET', `/tasks?${q}`), 400);
    }
    assert.equal((await ctl('GET', '/health')).json.ok, true);
  });
});

describe('paths', () => {
  test('%2F inside a segment is part of the name, not a separator', async () => {
    await seed({ projects: [{ type: 'categorization', name: 'a/b' }, { type: 'categorization', name: 'a' }], batches: [{ project: 'a/b', name: 'x y/z' }] });
    assert.equal((await api('GET', '/projects/a%2Fb')).json.name, 'a/b');
    assertError(await api('GET', '/projects/a/b'), 404); // two segments: no such route
    assert.equal((await api('GET', '/batches/x%20y%2Fz')).json.name, 'x y/z');
    assert.equal((await api('GET', '/batches/x%20y%2Fz/status')).json.status, 'in_progress');
    assert.equal((await api('POST', '/projects/a%2Fb/setParams', { instruction: 'i' })).json.param_history.length, 2);
    // A task id with an encoded slash cannot reach another endpoint.
    assertError(await api('GET', '/task/abc%2Fcancel'), 404);
    assert.equal((await api('GET', '/projects/')).status, 200); // one trailing slash is tolerated
  });
});

describe('tasks', () => {
  test('create: task object fields, params split and validation', async () => {
    await seed({ projects: [{ type: 'imageannotation', name: 'p' }, { type: 'imageannotation', name: 'q' }], batches: [{ project: 'p', name: 'b' }] });
    const res = await api('POST', '/task/imageannotation', {
      batch: 'b', instruction: 'do', callback_url: 'https://cb.example/x', attachment: 'https://x/a.png', attachment_type: 'image',
      geometries: { box: {} }, unique_id: 'u', metadata: { m: 1 }, tags: ['t', 't'], extra_field: 42,
    });
    assert.equal(res.status, 200, res.text);
    const t = res.json;
    assert.match(t.task_id, /^[0-9a-f]{24}$/);
    assert.equal(t.project, 'p'); // implied by the batch
    assert.equal(t.batch, 'b');
    assert.equal(t.status, 'pending');
    assert.equal(t.instruction, 'do');
    assert.equal(t.callback_url, 'https://cb.example/x');
    assert.deepEqual(t.params, { attachment: 'https://x/a.png', attachment_type: 'image', geometries: { box: {} }, extra_field: 42 });
    assert.deepEqual(t.tags, ['t']);
    assert.deepEqual(t.audits, []);
    assert.deepEqual(t.processed_attachments, []);
    assert.equal(t.is_test, true);
    assert.ok(!('callback_succeeded' in t));
    assert.equal(t.created_at, t.updated_at);
    assert.ok(!Number.isNaN(Date.parse(t.created_at)));

    assert.match(assertError(await api('POST', '/task/imageannotation', { project: 'nope', attachment: 'a' }), 400), /Project not found/);
    assertError(await api('POST', '/task/imageannotation', { batch: 'nope', attachment: 'a' }), 400);
    assertError(await api('POST', '/task/imageannotation', { project: 'q', batch: 'b', attachment: 'a' }), 400);
    assertError(await api('POST', '/task/imageannotation', { project: 'p' }), 400);
    assertError(await api('POST', '/task/federal2dvideoannotation', {}), 402);
    assert.match(assertError(await api('POST', '/task/imageannotation', { attachment: 'a', unique_id: 'u' }), 409), /"u"/);
    assertError(await api('GET', '/task/nope'), 404);
    assert.equal((await api('GET', '/task/nope')).json.error, 'Task with that ID not found.');
  });

  test('list: created_at desc paging with opaque next_token and limit bounds', async () => {
    const { tasks } = await seed({ tasks: Array.from({ length: 5 }, (_, i) => ({ type: 'categorization', unique_id: `u${i}` })) });
    const expected = tasks.map((t) => t.task_id).reverse();
    const seen = [];
    let token = null;
    let pages = 0;
    do {
      const res = await api('GET', `/tasks?limit=2${token ? `&next_token=${encodeURIComponent(token)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.total, 5);
      assert.equal(res.json.limit, 2);
      assert.equal(res.json.offset, pages * 2);
      seen.push(...res.json.docs.map((d) => d.task_id));
      token = res.json.next_token ?? null;
      assert.equal(res.json.has_more, token !== null);
      pages++;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen, expected);

    assertError(await api('GET', '/tasks?limit=0'), 400);
    assertError(await api('GET', '/tasks?limit=101'), 400);
    assertError(await api('GET', '/tasks?next_token=bogus'), 400);
    assert.equal((await api('GET', '/tasks')).json.limit, 100);
    assert.ok(!('next_token' in (await api('GET', '/tasks')).json));
  });

  test('list filters: tags (all), unique_id (any), review status, times, limited_response', async () => {
    await seed({ projects: [{ type: 'categorization', name: 'p' }] });
    const { tasks: [a, b, c] } = await seed({ tasks: [
      { type: 'categorization', project: 'p', tags: ['x', 'y'], unique_id: 'a' },
      { type: 'categorization', project: 'p', tags: ['x'], unique_id: 'b' },
      { type: 'textcollection', tags: ['y'], unique_id: 'c' },
    ] });
    const ids = async (q) => (await api('GET', `/tasks?${q}`)).json.docs.map((d) => d.task_id).sort();
    assert.deepEqual(await ids('tags=x&tags=y'), [a.task_id]);
    assert.deepEqual(await ids('tags=x'), [a.task_id, b.task_id].sort());
    assert.deepEqual(await ids('unique_id=a&unique_id=c'), [a.task_id, c.task_id].sort());
    assert.deepEqual(await ids('project=p&type=categorization'), [a.task_id, b.task_id].sort());
    assert.deepEqual(await ids('type=textcollection'), [c.task_id]);

    await ctl('POST', `/tasks/${a.task_id}/complete`);
    await ctl('POST', `/tasks/${b.task_id}/complete`);
    await ctl('POST', `/tasks/${a.task_id}/audit`, { customer_review_status: 'rejected' });
    await ctl('POST', `/tasks/${b.task_id}/audit`, { customer_review_status: 'fixed' });
    assert.deepEqual(await ids('customer_review_status=rejected,fixed'), [a.task_id, b.task_id].sort());
    assert.deepEqual(await ids('customer_review_status=fixed'), [b.task_id]);
    assert.deepEqual(await ids('status=pending'), [c.task_id]);

    const future = new Date(Date.now() + 3600e3).toISOString();
    assert.deepEqual(await ids(`start_time=${future}`), []);
    assert.deepEqual(await ids('start_time=2000-01-01&end_time=2999-01-01'), [a, b, c].map((t) => t.task_id).sort());
    assert.deepEqual(await ids(`completed_after=2000-01-01T00:00:00%2B00:00&completed_before=${encodeURIComponent(future)}`), [a.task_id, b.task_id].sort());
    assert.deepEqual(await ids(`updated_after=${encodeURIComponent(future)}`), []);

    const limited = (await api('GET', '/tasks?limited_response=true&unique_id=a')).json.docs[0];
    assert.deepEqual(Object.keys(limited).sort(), ['metadata', 'project', 'status', 'task_id']);
    assert.equal((await api('GET', '/tasks?include_attachment_url=true')).status, 200);
  });

  test('cancel: pending only, idempotent, clear_unique_id frees the id', async () => {
    const { tasks: [t, done] } = await seed({ tasks: [{ type: 'categorization', unique_id: 'u' }, { type: 'categorization' }] });
    assert.equal((await api('POST', `/task/${t.task_id}/cancel`)).json.status, 'canceled');
    const again = await api('POST', `/task/${t.task_id}/cancel?clear_unique_id=true`);
    assert.equal(again.status, 200);
    assert.ok(!('unique_id' in again.json));
    assert.equal((await api('POST', '/task/categorization', { unique_id: 'u' })).status, 200);

    await ctl('POST', `/tasks/${done.task_id}/complete`);
    assert.match(assertError(await api('POST', `/task/${done.task_id}/cancel`), 400), /cannot be canceled/);
    assertError(await api('POST', '/task/ffffffffffffffffffffffff/cancel'), 404);
  });

  test('metadata, tags and unique_id endpoints validate their bodies', async () => {
    const { tasks: [t, other] } = await seed({ tasks: [{ type: 'categorization', tags: ['a'] }, { type: 'categorization', unique_id: 'taken' }] });
    const id = t.task_id;
    assertError(await api('POST', `/task/${id}/setMetadata`, ['x']), 400);
    assert.deepEqual((await api('POST', `/task/${id}/setMetadata`, { k: 'v' })).json.metadata, { k: 'v' });
    assertError(await api('POST', `/task/${id}/tags`, { tags: ['x'] }), 400); // must be a bare array
    assertError(await api('PUT', `/task/${id}/tags`, [1, 2]), 400);
    assert.deepEqual((await api('PUT', `/task/${id}/tags`, ['b', 'a', 'c'])).json.tags, ['a', 'b', 'c']);
    assert.deepEqual((await api('DELETE', `/task/${id}/tags`, ['b'])).json.tags, ['a', 'c']);
    assert.deepEqual((await api('POST', `/task/${id}/tags`, ['z'])).json.tags, ['z']);
    assertError(await api('POST', `/task/${id}/unique_id`, {}), 400);
    assertError(await api('POST', `/task/${id}/unique_id`, { unique_id: 'taken' }), 409);
    assert.equal((await api('POST', `/task/${other.task_id}/unique_id`, { unique_id: 'taken' })).status, 200);
    assert.equal((await api('POST', `/task/${id}/unique_id`, { unique_id: 'mine' })).json.unique_id, 'mine');
    assert.ok(!('unique_id' in (await api('DELETE', `/task/${id}/unique_id`)).json));
    assertError(await api('POST', '/task/nope/tags', ['x']), 404);
  });
});

describe('callbacks', () => {
  test('completion POSTs {task, response, task_id} with scale-callback-auth and records the delivery', async () => {
    const rx = await receiver(200);
    try {
      await ctl('POST', '/config', { callbackAuthKey: 'secret-cb' });
      const { tasks: [t] } = await seed({ tasks: [{ type: 'categorization', callback_url: rx.url }] });
      const res = await ctl('POST', `/tasks/${t.task_id}/complete`, { response: { category: 'cat' } });
      assert.equal(res.status, 200, res.text);
      // The answer comes after the delivery: no sleeping needed.
      assert.equal(rx.got.length, 1);
      const cb = rx.got[0];
      assert.equal(cb.method, 'POST');
      assert.equal(cb.url, '/hook');
      assert.equal(cb.headers['content-type'], 'application/json');
      assert.equal(cb.headers['scale-callback-auth'], 'secret-cb');
      assert.deepEqual(Object.keys(cb.json).sort(), ['response', 'task', 'task_id']);
      assert.equal(cb.json.task_id, t.task_id);
      assert.deepEqual(cb.json.response, { category: 'cat' });
      assert.equal(cb.json.task.status, 'completed');
      assert.equal(res.json.delivery.status_code, 200);
      assert.equal(res.json.delivery.task_id, t.task_id);
      assert.equal(res.json.delivery.url, rx.url);
      assert.equal(res.json.delivery.error, null);
      assert.equal(res.json.task.callback_succeeded, true);

      const task = (await api('GET', `/task/${t.task_id}`)).json;
      assert.equal(task.status, 'completed');
      assert.ok(task.completed_at);
      assert.deepEqual(task.response, { category: 'cat' });
      assert.equal(task.callback_succeeded, true);
      const log = (await ctl('GET', '/deliveries')).json;
      assert.equal(log.length, 1);
      assert.equal(log[0].status_code, 200);
      assert.deepEqual(sim.state.deliveries, log);
    } finally { await rx.close(); }
  });

  test('no auth header without a key; failed receivers set callback_succeeded false', async () => {
    const rx = await receiver(500);
    try {
      const { tasks: [t, u, v] } = await seed({ tasks: [
        { type: 'categorization', callback_url: rx.url },
        { type: 'categorization', callback_url: 'http://127.0.0.1:1/closed' },
        { type: 'categorization', callback_url: 'someone@example.com' },
      ] });
      const a = await ctl('POST', `/tasks/${t.task_id}/complete`, { status: 'error' });
      assert.ok(!('scale-callback-auth' in rx.got[0].headers));
      assert.equal(a.json.task.status, 'error');
      assert.equal(a.json.task.callback_succeeded, false);
      assert.equal(a.json.delivery.status_code, 500);
      const b = await ctl('POST', `/tasks/${u.task_id}/complete`);
      assert.equal(b.json.delivery.status_code, null);
      assert.equal(typeof b.json.delivery.error, 'string');
      assert.equal(b.json.task.callback_succeeded, false);
      const c = await ctl('POST', `/tasks/${v.task_id}/complete`); // e-mail: nothing to POST
      assert.equal(c.json.delivery, null);
      assert.ok(!('callback_succeeded' in c.json.task));
      assertError(await ctl('POST', `/tasks/${v.task_id}/complete`), 400); // not pending any more
      assertError(await ctl('POST', '/tasks/nope/complete'), 404);
    } finally { await rx.close(); }
  });

  test('send-callback re-delivers for completed/errored tasks only', async () => {
    const rx = await receiver(202);
    try {
      await ctl('POST', '/config', { callbackAuthKey: 'k2' });
      const { tasks: [t, p] } = await seed({ tasks: [{ type: 'categorization', callback_url: rx.url }, { type: 'categorization', callback_url: rx.url }] });
      assertError(await api('POST', `/task/${p.task_id}/send-callback`), 400);
      await ctl('POST', `/tasks/${t.task_id}/complete`);
      const res = await api('POST', `/task/${t.task_id}/send-callback`);
      assert.deepEqual(res.json, { task_id: t.task_id, callback_url: rx.url, status_code: 202 });
      assert.equal(rx.got.length, 2);
      assert.equal(rx.got[1].headers['scale-callback-auth'], 'k2');
      await api('POST', `/task/${p.task_id}/cancel`);
      assertError(await api('POST', `/task/${p.task_id}/send-callback`), 400);
      assertError(await api('POST', '/task/nope/send-callback'), 404);
    } finally { await rx.close(); }
  });

  test('recall and audit move the task and send callbacks', async () => {
    const rx = await receiver(200);
    try {
      const { tasks: [t] } = await seed({ tasks: [{ type: 'categorization', callback_url: rx.url }] });
      assertError(await ctl('POST', `/tasks/${t.task_id}/recall`), 400);
      await ctl('POST', `/tasks/${t.task_id}/complete`);
      const audited = await ctl('POST', `/tasks/${t.task_id}/audit`, { customer_review_status: 'accepted' });
      assert.equal(audited.json.task.customer_review_status, 'accepted');
      assert.equal(audited.json.task.audits.length, 1);
      assertError(await ctl('POST', `/tasks/${t.task_id}/audit`, { customer_review_status: 'meh' }), 400);
      const recalled = await ctl('POST', `/tasks/${t.task_id}/recall`);
      assert.equal(recalled.json.task.status, 'pending');
      assert.ok(!('response' in recalled.json.task));
      assert.equal(rx.got.length, 3);
      assert.deepEqual(rx.got.map((g) => g.json.task.status), ['completed', 'completed', 'pending']);
      assert.deepEqual((await ctl('GET', '/deliveries')).json.map((d) => d.trigger), ['completed', 'audited', 'recalled']);
    } finally { await rx.close(); }
  });

  test('autoCompleteMs completes new tasks by itself', async () => {
    const rx = await receiver(200);
    try {
      await ctl('POST', '/config', { autoCompleteMs: 20, callbackAuthKey: 'auto' });
      const { tasks: [t] } = await seed({ tasks: [{ type: 'categorization', callback_url: rx.url }] });
      await rx.first;
      assert.equal(rx.got.length, 1);
      assert.equal(rx.got[0].headers['scale-callback-auth'], 'auto');
      assert.equal((await api('GET', `/task/${t.task_id}`)).json.status, 'completed');
    } finally { await rx.close(); }
  });
});

describe('batches', () => {
  test('create validation, staging for rapid/studio, finalize and prioritize', async () => {
    await seed({ projects: [{ type: 'categorization', name: 'std' }, { type: 'categorization', name: 'rp', rapid: true }, { type: 'categorization', name: 'st', studio: true }] });
    assertError(await api('POST', '/batches', { name: 'x' }), 400);
    assertError(await api('POST', '/batches', { project: 'std' }), 400);
    assert.match(assertError(await api('POST', '/batches', { project: 'nope', name: 'x' }), 400), /Project not found/);
    const b = (await api('POST', '/batches', { project: 'std', name: 'b1', callback: 'https://x/cb', metadata: { a: 1 } })).json;
    assert.deepEqual({ ...b, created_at: undefined }, { name: 'b1', project: 'std', status: 'in_progress', callback: 'https://x/cb', created_at: undefined, metadata: { a: 1 } });
    assertError(await api('POST', '/batches', { project: 'std', name: 'b1' }), 409);
    assert.equal((await api('POST', '/batches', { project: 'rp', name: 'r' })).json.status, 'staging');
    assert.equal((await api('POST', '/batches', { project: 'st', name: 's' })).json.status, 'staging');
    assert.equal((await api('POST', '/batches/r/finalize')).json.status, 'in_progress');
    assert.equal((await api('POST', '/batches/b1/finalize')).json.status, 'in_progress'); // no-op
    assertError(await api('POST', '/batches/nope/finalize'), 404);
    assert.equal((await api('POST', '/batches/r/prioritize', { priority: 25 })).json.priority, 25);
    for (const priority of [9, 31, 20.5, '20', null]) assertError(await api('POST', '/batches/r/prioritize', { priority }), 400);
    assertError(await api('POST', '/batches/nope/prioritize', { priority: 20 }), 404);
  });

  test('status omits zero counts; completion sends the batch callback once', async () => {
    const rx = await receiver(200);
    try {
      await ctl('POST', '/config', { callbackAuthKey: 'bk' });
      await seed({ projects: [{ type: 'categorization', name: 'p' }], batches: [{ project: 'p', name: 'b', callback: rx.url }, { project: 'p', name: 'empty' }] });
      assert.deepEqual((await api('GET', '/batches/empty/status')).json, { status: 'in_progress' });
      const { tasks: [t1, t2, t3] } = await seed({ tasks: [1, 2, 3].map(() => ({ type: 'categorization', batch: 'b' })) });
      assert.deepEqual((await api('GET', '/batches/b/status')).json, { status: 'in_progress', pending: 3 });
      await ctl('POST', `/tasks/${t1.task_id}/complete`);
      await ctl('POST', `/tasks/${t2.task_id}/complete`, { status: 'error' });
      assert.deepEqual((await api('GET', '/batches/b/status')).json, { status: 'in_progress', pending: 1, completed: 1, error: 1 });
      assert.equal(rx.got.length, 0);
      await api('POST', `/task/${t3.task_id}/cancel`); // the last pending task: batch completes
      assert.deepEqual((await api('GET', '/batches/b/status')).json, { status: 'completed', completed: 1, error: 1, canceled: 1 });
      assert.equal(rx.got.length, 1);
      assert.deepEqual(rx.got[0].json, { batch: 'b', status: 'completed', stats: { completed: 1, canceled: 1, error: 1 } });
      assert.equal(rx.got[0].headers['scale-callback-auth'], 'bk');
      const d = (await ctl('GET', '/deliveries')).json;
      assert.equal(d.at(-1).kind, 'batch');
      assert.equal(d.at(-1).batch, 'b');
      assertError(await api('GET', '/batches/nope/status'), 404);
    } finally { await rx.close(); }
  });

  test('staging batches complete only after finalize', async () => {
    const { tasks: [t] } = await seed({
      projects: [{ type: 'categorization', name: 'rp', rapid: true }],
      batches: [{ project: 'rp', name: 'r' }],
      tasks: [{ type: 'categorization', batch: 'r' }],
    });
    await ctl('POST', `/tasks/${t.task_id}/complete`);
    assert.equal((await api('GET', '/batches/r')).json.status, 'staging');
    assert.equal((await api('POST', '/batches/r/finalize')).json.status, 'completed');
  });

  test('list: newest first, totalDocs, offset paging and filters', async () => {
    await seed({ projects: [{ type: 'categorization', name: 'p' }, { type: 'categorization', name: 'rp', rapid: true }],
      batches: [{ project: 'p', name: 'a' }, { project: 'p', name: 'b' }, { project: 'rp', name: 'c' }] });
    const page = (await api('GET', '/batches?limit=2')).json;
    assert.deepEqual(page.docs.map((b) => b.name), ['c', 'b']);
    assert.deepEqual({ ...page, docs: undefined }, { docs: undefined, totalDocs: 3, limit: 2, offset: 0, has_more: true });
    const rest = (await api('GET', '/batches?limit=2&offset=2')).json;
    assert.deepEqual(rest.docs.map((b) => b.name), ['a']);
    assert.equal(rest.has_more, false);
    assert.deepEqual((await api('GET', '/batches?project=p')).json.docs.map((b) => b.name), ['b', 'a']);
    assert.deepEqual((await api('GET', '/batches?status=staging')).json.docs.map((b) => b.name), ['c']);
    assert.equal((await api('GET', '/batches?end_time=2000-01-01')).json.totalDocs, 0);
    assert.equal((await api('GET', '/batches?completed_after=2000-01-01')).json.totalDocs, 0);
    for (const q of ['limit=0', 'limit=101', 'offset=-1', 'offset=x']) assertError(await api('GET', `/batches?${q}`), 400);
  });
});

describe('projects, teams, files, evaluation tasks', () => {
  test('projects: create validation, archived filter, setParams versions, setOntology', async () => {
    assertError(await api('POST', '/projects', { name: 'x' }), 400);
    assertError(await api('POST', '/projects', { type: 'categorization' }), 400);
    assertError(await api('POST', '/projects', { type: 'categorization', name: 'x', pipeline: 'other' }), 400);
    const p = (await api('POST', '/projects', { type: 'categorization', name: 'x', params: { instruction: 'i', k: 1 }, studio: true, pipeline: 'consensus_task', consensus_attempts: 3 })).json;
    assert.equal(p.param_history[0].version, 0);
    assert.equal(p.param_history[0].instruction, 'i');
    assert.equal(p.studio, true);
    assert.equal(p.pipeline, 'consensus_task');
    assert.equal(p.archived, false);
    assertError(await api('POST', '/projects', { type: 'categorization', name: 'x' }), 409);
    await seed({ projects: [{ type: 'categorization', name: 'old', archived: true }] });
    assert.deepEqual((await api('GET', '/projects?archived=true')).json.map((x) => x.name), ['old']);
    assert.deepEqual((await api('GET', '/projects?archived=false')).json.map((x) => x.name), ['x']);
    assert.equal((await api('GET', '/projects')).json.length, 2);
    assertError(await api('GET', '/projects?archived=maybe'), 400);
    assertError(await api('GET', '/projects/nope'), 404);

    const patched = (await api('POST', '/projects/x/setParams', { patch: true, k: 2, extra: true })).json.param_history.at(-1);
    assert.deepEqual({ ...patched, created_at: undefined }, { instruction: 'i', k: 2, extra: true, version: 1, created_at: undefined });
    const replaced = (await api('POST', '/projects/x/setParams', { instruction: 'new' })).json.param_history.at(-1);
    assert.deepEqual({ ...replaced, created_at: undefined }, { instruction: 'new', version: 2, created_at: undefined });
    assertError(await api('POST', '/projects/nope/setParams', {}), 404);

    const onto = await api('POST', '/projects/x/setOntology', { ontology: ['cat', { choice: 'dog', subchoices: ['puppy'] }], name: 'v1' });
    assert.deepEqual(onto.json, { name: 'v1', ontology: ['cat', { choice: 'dog', subchoices: ['puppy'] }], version: 1 });
    assert.equal((await api('POST', '/projects/x/setOntology', { ontology: ['a'] })).json.version, 2);
    assertError(await api('POST', '/projects/x/setOntology', { ontology: 'cat' }), 400);
    assertError(await api('POST', '/projects/x/setOntology', { ontology: ['cat', { choice: 'dog', subchoices: ['cat'] }] }), 400);
    assertError(await api('POST', '/projects/x/setOntology', { ontology: [{}] }), 400);
  });

  test('teams: invite and set_role return all teammates', async () => {
    assert.deepEqual((await api('GET', '/teams')).json.map((m) => [m.email, m.role]), [['admin@example.com', 'admin']]);
    const inv = (await api('POST', '/teams/invite', { emails: ['l@example.com'], team_role: 'labeler' })).json;
    assert.equal(inv.length, 2);
    assert.equal(inv[1].role, 'labeler');
    assert.ok(Date.parse(inv[1].expiry) > Date.now());
    assertError(await api('POST', '/teams/invite', { emails: [], team_role: 'member' }), 400);
    assertError(await api('POST', '/teams/invite', { emails: ['a@b.c'], team_role: 'admin' }), 400);
    assert.equal((await api('POST', '/teams/set_role', { emails: ['l@example.com'], team_role: 'manager' })).json[1].role, 'manager');
    assertError(await api('POST', '/teams/set_role', { emails: ['admin@example.com'], team_role: 'member' }), 400);
    // One bad address changes nobody.
    assertError(await api('POST', '/teams/set_role', { emails: ['l@example.com', 'x@example.com'], team_role: 'member' }), 400);
    assert.equal((await api('GET', '/teams')).json[1].role, 'manager');
  });

  test('files/import and evaluation_tasks', async () => {
    const f = (await api('POST', '/files/import', { file_url: 'https://x/video.mp4?sig=1' })).json;
    assert.match(f.attachment_url, new RegExp(`^scaledata://[0-9a-f]{24}/${f.id}$`));
    assert.equal(f.mime_type, 'video/mp4');
    assert.deepEqual(f.project_names, []);
    assertError(await api('POST', '/files/import', {}), 400);
    assertError(await api('POST', '/files/import', { file_url: 'file:///etc/passwd' }), 400);

    await seed({ projects: [{ type: 'imageannotation', name: 'rp', rapid: true }, { type: 'imageannotation', name: 'std' }] });
    const ev = await api('POST', '/evaluation_tasks/imageannotation', { project: 'rp', attachment: 'a', expected_response: { x: 1 } });
    assert.equal(ev.status, 200, ev.text);
    assert.deepEqual(Object.keys(ev.json).sort(), ['created_at', 'expected_response', 'id', 'params', 'project', 'type']);
    assertError(await api('POST', '/evaluation_tasks/imageannotation', { project: 'rp', expected_response: [1] }), 400);
    assertError(await api('POST', '/evaluation_tasks/imageannotation', { project: 'std', expected_response: {} }), 400);
    assertError(await api('POST', '/evaluation_tasks/imageannotation', { project: 'nope', expected_response: {} }), 400);
  });
});

describe('fault injection', () => {
  test('status faults apply `times` times, match by method and path, and are logged', async () => {
    await ctl('POST', '/faults', { method: 'GET', path: '/v1/projects', times: 2, status: 503 });
    assert.equal((await ctl('GET', '/faults')).json[0].times, 2);
    assert.equal((await api('POST', '/projects', { type: 'categorization', name: 'p' })).status, 200); // other method
    assertError(await api('GET', '/projects'), 503);
    assertError(await api('GET', '/projects', undefined, { auth: null }), 503); // before auth
    assert.equal((await api('GET', '/projects')).status, 200);
    assert.deepEqual((await ctl('GET', '/faults')).json, []);
    const log = (await ctl('GET', '/requests')).json;
    assert.deepEqual(log.map((r) => `${r.method} ${r.path}`), ['POST /v1/projects', 'GET /v1/projects', 'GET /v1/projects', 'GET /v1/projects']);
  });

  test('pathPrefix, custom body and headers, retryAfter', async () => {
    await ctl('POST', '/faults', [
      { pathPrefix: '/v1/tasks', status: 500, body: { status_code: 500, error: 'boom' }, headers: { 'x-sim': 'yes' } },
      { pathPrefix: '/v1/task/', retryAfter: 7 },
      { path: '/v1/teams', status: 502, body: 'Bad gateway text' },
    ]);
    const a = await api('GET', '/tasks?limit=1');
    assert.equal(assertError(a, 500), 'boom');
    assert.equal(a.headers.get('x-sim'), 'yes');
    const b = await api('GET', '/task/abc');
    assertError(b, 429);
    assert.equal(b.headers.get('retry-after'), '7');
    const c = await api('GET', '/teams');
    assert.equal(c.status, 502);
    assert.equal(c.text, 'Bad gateway text');
    assert.match(c.headers.get('content-type'), /^text\/plain/);
  });

  test('nonJson, plainOk and truncatedJson answer 200 with unusable bodies', async () => {
    await ctl('POST', '/faults', [{ path: '/v1/teams', nonJson: true }, { path: '/v1/teams', plainOk: true }, { path: '/v1/teams', truncatedJson: true }]);
    const html = await api('GET', '/teams');
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type'), /^text\/html/);
    assert.equal(html.json, null);
    const ok = await api('GET', '/teams');
    assert.equal(ok.status, 200);
    assert.equal(ok.text, 'OK');
    assert.match(ok.headers.get('content-type'), /^text\/plain/);
    const cut = await api('GET', '/teams');
    assert.equal(cut.status, 200);
    assert.match(cut.headers.get('content-type'), /^application\/json/);
    assert.throws(() => JSON.parse(cut.text));
    assert.equal((await api('GET', '/teams')).json.length, 1);
  });

  test('delayMs delays the normal answer; drop closes the socket', async () => {
    await ctl('POST', '/faults', { path: '/v1/teams', delayMs: 150 });
    const t0 = Date.now();
    const res = await api('GET', '/teams');
    assert.ok(Date.now() - t0 >= 140);
    assert.equal(res.status, 200);
    assert.equal(res.json[0].email, 'admin@example.com');

    await ctl('POST', '/faults', { path: '/v1/teams', drop: true });
    await assert.rejects(api('GET', '/teams'));
    assert.equal((await api('GET', '/teams')).status, 200);
    const log = (await ctl('GET', '/requests')).json;
    assert.equal(log.length, 3); // the dropped request is logged too
  });

  test('fault validation and clearing', async () => {
    assertError(await ctl('POST', '/faults', { times: 0 }), 400);
    assertError(await ctl('POST', '/faults', { status: 1000 }), 400);
    assertError(await ctl('POST', '/faults', 'null'), 400);
    await ctl('POST', '/faults', { status: 500, times: 5 });
    assert.equal((await ctl('GET', '/faults')).json.length, 1);
    await ctl('DELETE', '/faults');
    assert.equal((await api('GET', '/teams')).status, 200);
    // The control API is never faulted.
    await ctl('POST', '/faults', { pathPrefix: '/', status: 500 });
    assert.equal((await ctl('GET', '/health')).status, 200);
  });
});

describe('request log and control API', () => {
  test('records raw path, raw query, lower-case headers, raw body and parsed JSON', async () => {
    await api('POST', '/projects', { type: 'categorization', name: 'a b' }, { headers: { 'X-Custom': 'Yes' } });
    await api('GET', '/projects/a%20b?x=1&y=%2F');
    await api('DELETE', '/task/abc/tags', '["t"]');
    await api('GET', '/teams', undefined, { auth: null });
    const log = (await ctl('GET', '/requests')).json;
    assert.deepEqual(log.map((r) => r.seq), [1, 2, 3, 4]);
    assert.equal(log[0].method, 'POST');
    assert.equal(log[0].body, '{"type":"categorization","name":"a b"}');
    assert.deepEqual(log[0].json, { type: 'categorization', name: 'a b' });
    assert.equal(log[0].headers['x-custom'], 'Yes');
    assert.equal(log[0].headers.authorization, AUTH);
    assert.equal(log[1].path, '/v1/projects/a%20b');
    assert.equal(log[1].query, 'x=1&y=%2F');
    assert.equal(log[1].body, null);
    assert.equal(log[1].json, null);
    assert.equal(log[0].query, '');
    assert.deepEqual(log[2].json, ['t']);
    assert.ok(!('authorization' in log[3].headers)); // rejected requests are logged too
    assert.ok(!Number.isNaN(Date.parse(log[0].at)));
    await ctl('GET', '/health'); // control calls are not logged
    assert.equal((await ctl('GET', '/requests')).json.length, 4);
    await ctl('DELETE', '/requests');
    assert.deepEqual((await ctl('GET', '/requests')).json, []);
  });

  test('reset clears data, logs and faults and re-seeds the admin', async () => {
    await seed({ projects: [{ type: 'categorization', name: 'p' }], batches: [{ project: 'p', name: 'b' }], tasks: [{ type: 'categorization' }] });
    await api('POST', '/teams/invite', { emails: ['x@example.com'], team_role: 'member' });
    await ctl('POST', '/faults', { path: '/v1/nothing', status: 500 });
    await ctl('POST', '/reset');
    assert.deepEqual((await ctl('GET', '/faults')).json, []);
    assert.deepEqual((await ctl('GET', '/requests')).json, []);
    assert.deepEqual((await api('GET', '/projects')).json, []);
    assert.equal((await api('GET', '/tasks')).json.total, 0);
    assert.equal((await api('GET', '/batches')).json.totalDocs, 0);
    assert.equal((await api('GET', '/teams')).json.length, 1);
    assert.equal(sim.state.tasks.size, 0);
  });

  test('seed validates like the API and config round-trips', async () => {
    assertError(await ctl('POST', '/seed', { batches: [{ project: 'missing', name: 'b' }] }), 400);
    assertError(await ctl('POST', '/seed', { tasks: [{}] }), 400);
    assertError(await ctl('POST', '/seed', { projects: 'x' }), 400);
    const out = await seed({ projects: [{ type: 'categorization', name: 'p' }], tasks: [{ type: 'categorization', project: 'p', unique_id: 'u' }] });
    assert.equal(out.projects[0].name, 'p');
    assert.equal(out.tasks[0].unique_id, 'u');
    assertError(await ctl('POST', '/seed', { tasks: [{ type: 'categorization', unique_id: 'u' }] }), 409);
    const cfg = (await ctl('POST', '/config', { callbackAuthKey: 'k', autoCompleteMs: 5 })).json;
    assert.deepEqual(cfg, { callbackAuthKey: 'k', autoCompleteMs: 5, latency: [] });
    assertError(await ctl('POST', '/config', { autoCompleteMs: -1 }), 400);
    assert.deepEqual((await ctl('GET', '/config')).json, cfg);
  });

  test('close() ends open keep-alive connections', async () => {
    const other = await startSimulator();
    const socket = net.connect(other.port, '127.0.0.1');
    await new Promise((r) => socket.on('connect', r));
    const closed = new Promise((r) => socket.on('close', r));
    await other.close();
    await closed;
  });
});

describe('canned mode', () => {
  test('a read answers the same bytes until something is written', async () => {
    const s = await startSimulator({ apiKey: 'test_canned', canned: true });
    const auth = { authorization: `Basic ${Buffer.from('test_canned:').toString('base64')}`, 'content-type': 'application/json' };
    try {
      const created = await (await fetch(`${s.base}/projects`, { method: 'POST', headers: auth, body: JSON.stringify({ type: 'imageannotation', name: 'p' }) })).json();
      assert.equal(created.name, 'p');
      const task = await (await fetch(`${s.base}/task/imageannotation`, { method: 'POST', headers: auth, body: JSON.stringify({ project: 'p', attachment: 'https://x.test/a.jpg' }) })).json();
      const read = async () => (await fetch(`${s.base}/task/${task.task_id}`, { headers: auth })).text();
      const first = await read();
      // Change the state behind the simulator's back: a canned read does not see it.
      s.state.tasks.get(task.task_id).metadata = { sneaky: true };
      assert.equal(await read(), first);
      // A write through the API invalidates every canned answer.
      await fetch(`${s.base}/task/${task.task_id}/setMetadata`, { method: 'POST', headers: auth, body: JSON.stringify({ k: 1 }) });
      assert.deepEqual(JSON.parse(await read()).metadata, { k: 1 });
      const unauthorized = await fetch(`${s.base}/task/${task.task_id}`);
      assert.equal(unauthorized.status, 401, 'the key is still checked');
      await unauthorized.text();
    } finally {
      await s.close();
    }
  });
});

describe('latency', () => {
  test('delays every matching request, is not consumed, and leaves the rest alone', async () => {
    const cfg = (await ctl('POST', '/config', { latency: [{ method: 'POST', pattern: 'task/*', ms: 300 }] })).json;
    assert.deepEqual(cfg.latency, [{ method: 'POST', pattern: 'task/*', ms: 300 }]);
    for (let i = 0; i < 2; i++) {
      const { value: res, ms } = await timed(api('POST', '/task/categorization', {}));
      assert.equal(res.status, 200, res.text);
      assert.ok(ms >= 290, `create ${i + 1} took ${ms} ms, expected the added 300 ms`);
    }
    const id = sim.state.tasks.keys().next().value;
    const read = await timed(api('GET', `/task/${id}`)); // other method
    assert.equal(read.value.status, 200);
    assert.ok(read.ms < 250, `GET took ${read.ms} ms`);
    const cancel = await timed(api('POST', `/task/${id}/cancel`)); // three segments: `*` is exactly one
    assert.equal(cancel.value.status, 200);
    assert.ok(cancel.ms < 250, `cancel took ${cancel.ms} ms`);
    // Errors are delayed too: the simulated upstream is slow, whatever it answers.
    const bad = await timed(api('POST', '/task/categorization', {}, { auth: null }));
    assertError(bad.value, 401);
    assert.ok(bad.ms >= 290);

    await ctl('POST', '/reset'); // config (latency included) survives a reset
    assert.equal((await ctl('GET', '/config')).json.latency.length, 1);
    await ctl('POST', '/config', { latency: null });
    assert.deepEqual((await ctl('GET', '/config')).json.latency, []);
    const after = await timed(api('POST', '/task/categorization', {}));
    assert.ok(after.ms < 250, `create after clearing took ${after.ms} ms`);
  });

  test('the first matching rule wins; ** spans segments; jitter stays within its bounds', async () => {
    await ctl('POST', '/config', { latency: [
      { method: 'GET', path: '/v1/teams', ms: 0 },
      { pattern: '**', ms: 80, jitterMs: 120 },
    ] });
    assert.ok((await timed(api('GET', '/teams'))).ms < 70, 'the exact rule came first');
    const times = [];
    for (let i = 0; i < 8; i++) times.push((await timed(api('GET', '/projects'))).ms);
    for (const ms of times) assert.ok(ms >= 78 && ms < 400, `${ms} ms is outside 80 + [0, 120) ms`);
    assert.ok(Math.max(...times) - Math.min(...times) > 10, `no jitter in ${times.map(Math.round)}`);
  });

  test('concurrent delayed requests overlap: latency is per request, not a queue', async () => {
    await ctl('POST', '/config', { latency: [{ method: 'POST', pattern: 'task/*', ms: 400 }] });
    const { value: all, ms } = await timed(Promise.all(Array.from({ length: 10 }, (_, i) => api('POST', '/task/categorization', { unique_id: `c${i}` }))));
    assert.ok(all.every((r) => r.status === 200));
    assert.ok(ms >= 390 && ms < 2000, `10 concurrent creates took ${ms} ms; 10 in a row would take 4000`);
    assert.equal((await ctl('GET', '/stats')).json.max_in_flight, 10);
  });

  test('validation: clear messages for patterns, delays and unknown fields', async () => {
    const bad = async (latency, re) => assert.match(assertError(await ctl('POST', '/config', { latency }), 400), re);
    await bad('task/*', /array/);
    await bad([{ pattern: '/v1/task/*', ms: 5 }], /latency\[0\]: pattern is relative to \/v1/);
    await bad([{ pattern: 'task/*', ms: 5 }, { pattern: 'task/a*', ms: 5 }], /latency\[1\]: .*whole path segment/);
    await bad([{ pattern: 'task/*' }], /ms is required/);
    await bad([{ pattern: 'task/*', ms: -1 }], /ms must be a number/);
    await bad([{ pattern: 'task/*', ms: 5, jitterMs: 'x' }], /jitterMs must be a number/);
    await bad([{ pattern: 'task/*', ms: 1e9 }], /from 0 to 600000/);
    await bad([{ pattern: 'task/*', delayMs: 50 }], /unknown field "delayMs"/);
    await bad([5], /must be a JSON object/);
    assert.match(assertError(await ctl('POST', '/config', { callbackAuthKey: 'new', latency: [{ ms: -1 }] }), 400), /latency\[0\]: ms/);
    assert.match(assertError(await ctl('POST', '/config', { autoCompleteMS: 5 }), 400), /unknown config field "autoCompleteMS"/);
    assert.deepEqual((await ctl('GET', '/config')).json, { callbackAuthKey: null, autoCompleteMs: null, latency: [] }, 'a refused update changes nothing');
    await assert.rejects(startSimulator({ latency: [{ pattern: 'task/*' }] }), /ms is required/);
  });

  test('start option and the --latency flag', async () => {
    const s = await startSimulator({ latency: [{ method: 'POST', pattern: 'task/*', ms: 200 }] });
    try {
      const auth = `Basic ${Buffer.from('test_sim_key:').toString('base64')}`;
      const { ms } = await timed(fetch(`${s.base}/task/categorization`, { method: 'POST', headers: { authorization: auth }, body: '{}' }).then((r) => r.text()));
      assert.ok(ms >= 190, `${ms} ms`);
    } finally { await s.close(); }

    const child = spawn(process.execPath, [SIM_PATH, '--port', '0', '--latency', 'post task/*=200', '--latency=GET **=0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise((resolve) => { let out = ''; child.stdout.on('data', (c) => { out += c; if (out.includes('\n')) resolve(out.split('\n')[0]); }); });
      const { url, base } = JSON.parse(line);
      assert.deepEqual((await (await fetch(`${url}/__sim/config`)).json()).latency, [
        { pattern: 'task/*', ms: 200, method: 'POST' }, { pattern: '**', ms: 0, method: 'GET' },
      ]);
      const { ms } = await timed(fetch(`${base}/task/categorization`, { method: 'POST', headers: { authorization: AUTH }, body: '{}' }).then((r) => r.text()));
      assert.ok(ms >= 190, `${ms} ms`);
    } finally { child.kill('SIGTERM'); }

    for (const arg of ['50', 'task/*=abc', 'task/a*=5', '/v1/task/*=5']) {
      const bad = spawn(process.execPath, [SIM_PATH, '--latency', arg], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      bad.stderr.on('data', (c) => { err += c; });
      const code = await new Promise((resolve) => bad.on('exit', resolve));
      assert.equal(code, 2, `--latency ${arg}`);
      assert.match(err, /latency|pattern/, err);
    }
  });
});

describe('fault matching by pattern and request body', () => {
  test('bodyMatch fails exactly the matching item however concurrent requests are ordered', async () => {
    await ctl('POST', '/config', { latency: [{ method: 'POST', pattern: 'task/*', ms: 30, jitterMs: 40 }] });
    await ctl('POST', '/faults', { method: 'POST', pattern: 'task/*', bodyMatch: { unique_id: 'item-37' }, status: 500, body: { status_code: 500, error: 'boom on 37' } });
    const ids = shuffled(Array.from({ length: 50 }, (_, i) => `item-${i}`));
    const results = await Promise.all(ids.map((u) => api('POST', '/task/categorization', { unique_id: u, attachment: `https://x.test/${u}.jpg` }).then((r) => [u, r])));
    const failed = results.filter(([, r]) => r.status !== 200);
    assert.deepEqual(failed.map(([u, r]) => [u, r.status, r.json.error]), [['item-37', 500, 'boom on 37']]);
    assert.equal(sim.state.tasks.size, 49);
    assert.deepEqual((await ctl('GET', '/faults')).json, [], 'consumed by the one match');
    assert.equal((await api('POST', '/task/categorization', { unique_id: 'item-37' })).status, 200, 'the retry goes through');
  });

  test('bodyMatch is a deep subset match; bodyContains searches the raw body', async () => {
    await ctl('POST', '/faults', [
      { bodyMatch: { metadata: { row: 3 } }, status: 418, times: 10 },
      { bodyMatch: { tags: ['a'] }, status: 419, times: 10 },
      { bodyContains: 'needle', status: 420, times: 10 },
    ]);
    const create = async (body) => (await api('POST', '/task/categorization', body)).status;
    assert.equal(await create({ metadata: { row: 3, other: 1 }, unique_id: 'm' }), 418);
    assert.equal(await create({ metadata: { row: '3' } }), 200, 'types must match');
    assert.equal(await create({ metadata: { rows: 3 } }), 200);
    assert.equal(await create({ tags: ['a'] }), 419);
    assert.equal(await create({ tags: ['a', 'b'] }), 200, 'arrays match whole');
    assert.equal(await create({ instruction: 'find the needle' }), 420);
    assert.equal((await api('POST', '/task/categorization', 'row 3 {not json')).status, 400, 'a non-JSON body never matches bodyMatch');
    assert.equal((await api('GET', '/teams')).status, 200, 'no body: no match');
  });

  test('patterns: * is one segment, ** any number; matched on the raw path', async () => {
    await ctl('POST', '/faults', [
      { pattern: 'task/*/cancel', status: 501, times: 10 },
      { pattern: 'batches/**', status: 502, times: 10 },
      { pattern: 'projects/a%2Fb', status: 503, times: 10 },
    ]);
    const { tasks: [t] } = await seed({ tasks: [{ type: 'categorization' }] });
    assert.equal((await api('POST', `/task/${t.task_id}/cancel`)).status, 501);
    assert.equal((await api('GET', `/task/${t.task_id}`)).status, 200);
    assert.equal((await api('GET', '/batches')).status, 502, '** matches no segment too');
    assert.equal((await api('GET', '/batches/x/status')).status, 502);
    assert.equal((await api('GET', '/projects/a%2Fb')).status, 503);
    assertError(await api('GET', '/projects/a'), 404);
    assert.equal((await api('GET', '/teams')).status, 200);
  });

  test('fault validation names unknown and malformed fields', async () => {
    assert.match(assertError(await ctl('POST', '/faults', { bodymatch: { unique_id: 'x' }, status: 500 }), 400), /unknown field "bodymatch"/);
    assert.match(assertError(await ctl('POST', '/faults', { pattern: 'v1/task/*', status: 500 }), 400), /relative to \/v1/);
    assert.match(assertError(await ctl('POST', '/faults', { bodyContains: '', status: 500 }), 400), /bodyContains/);
    assert.match(assertError(await ctl('POST', '/faults', [{ status: 500 }, { status: 500, method: 7 }]), 400), /method/);
    assert.deepEqual((await ctl('GET', '/faults')).json, [], 'a refused list adds nothing');
  });
});

describe('scheduled completion', () => {
  test('a task completes after afterMs: the call answers at once, the callback and batch progress follow', async () => {
    const rx = await receiver(200);
    try {
      await ctl('POST', '/config', { callbackAuthKey: 'later' });
      const { tasks: [t1, t2] } = await seed({
        projects: [{ type: 'categorization', name: 'p' }],
        batches: [{ project: 'p', name: 'b', callback: rx.url }],
        tasks: [{ type: 'categorization', batch: 'b', callback_url: rx.url }, { type: 'categorization', batch: 'b', callback_url: rx.url }],
      });
      const t0 = Date.now();
      const first = await ctl('POST', `/tasks/${t1.task_id}/complete`, { afterMs: 150, response: { category: 'cat' } });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(first.json.scheduled, { after_ms: 150, status: 'completed' });
      assert.equal(first.json.task.status, 'pending');
      const second = await ctl('POST', `/tasks/${t2.task_id}/complete`, { afterMs: 400, status: 'error' });
      assert.ok(Date.now() - t0 < 140, 'both calls answered before the first completion');
      assert.equal((await api('GET', `/task/${t1.task_id}`)).json.status, 'pending');
      assert.deepEqual((await api('GET', '/batches/b/status')).json, { status: 'in_progress', pending: 2 });

      await rx.waitFor(1);
      assert.ok(rx.got[0].at - t0 >= 145, `first callback after ${rx.got[0].at - t0} ms`);
      assert.equal(rx.got[0].json.task_id, t1.task_id);
      assert.deepEqual(rx.got[0].json.response, { category: 'cat' });
      assert.equal(rx.got[0].headers['scale-callback-auth'], 'later');
      assert.equal((await api('GET', `/task/${t1.task_id}`)).json.status, 'completed');
      assert.deepEqual((await api('GET', '/batches/b/status')).json, { status: 'in_progress', pending: 1, completed: 1 });

      await rx.waitFor(3);
      assert.equal(second.json.scheduled.status, 'error');
      assert.equal(rx.got[1].json.task.status, 'error');
      assert.deepEqual(rx.got[2].json, { batch: 'b', status: 'completed', stats: { completed: 1, canceled: 0, error: 1 } });
      assert.deepEqual((await api('GET', '/batches/b/status')).json, { status: 'completed', completed: 1, error: 1 });
      assert.deepEqual((await ctl('GET', '/deliveries')).json.map((d) => [d.kind, d.trigger, d.status_code]),
        [['task', 'completed', 200], ['task', 'error', 200], ['batch', 'batch_completed', 200]]);
    } finally { await rx.close(); }
  });

  test('checked when scheduled; skipped if the task is no longer pending; cleared by reset', async () => {
    const { tasks: [a, b, c] } = await seed({ tasks: [1, 2, 3].map(() => ({ type: 'categorization', callback_url: 'http://127.0.0.1:1/never' })) });
    assertError(await ctl('POST', '/tasks/nope/complete', { afterMs: 10 }), 404);
    assert.match(assertError(await ctl('POST', `/tasks/${a.task_id}/complete`, { afterMs: -5 }), 400), /afterMs/);
    assert.match(assertError(await ctl('POST', `/tasks/${a.task_id}/complete`, { afterMs: '10' }), 400), /afterMs/);
    assert.match(assertError(await ctl('POST', `/tasks/${a.task_id}/complete`, { afterMs: 10, status: 'done' }), 400), /status/);
    await api('POST', `/task/${b.task_id}/cancel`);
    assert.match(assertError(await ctl('POST', `/tasks/${b.task_id}/complete`, { afterMs: 10 }), 400), /canceled/);

    await ctl('POST', `/tasks/${a.task_id}/complete`, { afterMs: 80 });
    await api('POST', `/task/${a.task_id}/cancel`); // canceled before the timer fires
    await ctl('POST', `/tasks/${c.task_id}/complete`, { afterMs: 80 });
    await sleep(250);
    assert.equal((await api('GET', `/task/${a.task_id}`)).json.status, 'canceled', 'a canceled task stays canceled');
    assert.equal((await api('GET', `/task/${c.task_id}`)).json.status, 'completed');
    assert.deepEqual((await ctl('GET', '/deliveries')).json.map((d) => d.task_id), [c.task_id]);

    const { tasks: [d] } = await seed({ tasks: [{ type: 'categorization' }] });
    await ctl('POST', `/tasks/${d.task_id}/complete`, { afterMs: 80 });
    await ctl('POST', '/reset');
    const { tasks: [e] } = await seed({ tasks: [{ type: 'categorization' }] });
    await sleep(200);
    assert.equal((await api('GET', `/task/${e.task_id}`)).json.status, 'pending');
    assert.equal(sim.state.tasks.get(d.task_id), undefined);
  });

  test('a batch completes now, in order, or one task at a time with everyMs', async () => {
    const rx = await receiver(200);
    try {
      const tasks = (n, batch) => Array.from({ length: n }, (_, i) => ({ type: 'categorization', batch, callback_url: rx.url, unique_id: `${batch}-${i}` }));
      const { tasks: now } = await seed({
        projects: [{ type: 'categorization', name: 'p' }, { type: 'categorization', name: 'rp', rapid: true }],
        batches: [{ project: 'p', name: 'now', callback: rx.url }, { project: 'p', name: 'slow', callback: rx.url }, { project: 'rp', name: 'staged' }],
        tasks: [...tasks(4, 'now')],
      });
      const part = await ctl('POST', '/batches/now/complete', { count: 3 });
      assert.deepEqual(part.json.completed, now.slice(0, 3).map((t) => t.task_id));
      assert.deepEqual(part.json.batch_status, { status: 'in_progress', pending: 1, completed: 3 });
      assert.equal(rx.got.length, 3, 'answered after the callbacks');
      const rest = await ctl('POST', '/batches/now/complete', { status: 'error' });
      assert.deepEqual(rest.json.batch_status, { status: 'completed', completed: 3, error: 1 });
      assert.equal(rx.got.length, 5);
      assert.deepEqual(rx.got[4].json.stats, { completed: 3, canceled: 0, error: 1 });
      assert.deepEqual((await ctl('POST', '/batches/now/complete')).json.completed, [], 'nothing pending: nothing to do');

      rx.got.length = 0;
      const { tasks: slow } = await seed({ tasks: tasks(3, 'slow') });
      const t0 = Date.now();
      const sched = await ctl('POST', '/batches/slow/complete', { afterMs: 50, everyMs: 200 });
      assert.deepEqual(sched.json, { scheduled: slow.map((t) => t.task_id), after_ms: 50, every_ms: 200, status: 'completed' });
      await rx.waitFor(1);
      assert.deepEqual((await api('GET', '/batches/slow/status')).json, { status: 'in_progress', pending: 2, completed: 1 });
      await rx.waitFor(4);
      assert.deepEqual(rx.got.map((g) => g.json.task_id ?? g.json.batch), [...slow.map((t) => t.task_id), 'slow'], 'creation order, batch last');
      assert.ok(rx.got[0].at - t0 >= 45);
      assert.ok(rx.got[1].at - rx.got[0].at >= 195 && rx.got[2].at - rx.got[1].at >= 195, 'one step per everyMs');

      // A staging batch's tasks complete, but the batch waits for finalize.
      const { tasks: [s] } = await seed({ tasks: [{ type: 'categorization', batch: 'staged' }] });
      assert.deepEqual((await ctl('POST', '/batches/staged/complete')).json, { completed: [s.task_id], batch_status: { status: 'staging', completed: 1 } });

      assertError(await ctl('POST', '/batches/nope/complete'), 404);
      assert.match(assertError(await ctl('POST', '/batches/slow/complete', { count: 0 }), 400), /count/);
      assert.match(assertError(await ctl('POST', '/batches/slow/complete', { everyMs: -1 }), 400), /everyMs/);
    } finally { await rx.close(); }
  });

  test('a reset stops a batch that is completing step by step', async () => {
    await seed({ projects: [{ type: 'categorization', name: 'p' }], batches: [{ project: 'p', name: 'b' }], tasks: [1, 2, 3].map(() => ({ type: 'categorization', batch: 'b' })) });
    await ctl('POST', '/batches/b/complete', { afterMs: 0, everyMs: 100 });
    await sleep(30);
    await ctl('POST', '/reset');
    const { tasks: fresh } = await seed({ projects: [{ type: 'categorization', name: 'p' }], batches: [{ project: 'p', name: 'b' }], tasks: [1, 2].map(() => ({ type: 'categorization', batch: 'b' })) });
    await sleep(300);
    for (const t of fresh) assert.equal((await api('GET', `/task/${t.task_id}`)).json.status, 'pending');
  });
  test('close() stops a batch that is completing step by step', async () => {
    const rx = await receiver(200);
    const s = await startSimulator();
    try {
      const post = (path, body) => fetch(`${s.url}/__sim${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json());
      const { tasks } = await post('/seed', {
        projects: [{ type: 'categorization', name: 'p' }], batches: [{ project: 'p', name: 'b' }],
        tasks: [1, 2, 3].map(() => ({ type: 'categorization', batch: 'b', callback_url: rx.url })),
      });
      await post('/batches/b/complete', { afterMs: 0, everyMs: 100 });
      await rx.waitFor(1);
      await s.close();
      await sleep(350);
      assert.deepEqual(tasks.map((t) => s.state.tasks.get(t.task_id).status), ['completed', 'pending', 'pending']);
      assert.equal(rx.got.length, 1);
    } finally { await s.close(); await rx.close(); }
  });
});

describe('stats: /v1 requests in flight', () => {
  test('counts open requests, keeps the maximum until reset, ignores control calls', async () => {
    assert.deepEqual((await ctl('GET', '/stats')).json, { requests: 0, in_flight: 0, max_in_flight: 0 });
    for (let i = 0; i < 3; i++) await api('GET', '/teams');
    assert.deepEqual((await ctl('GET', '/stats')).json, { requests: 3, in_flight: 0, max_in_flight: 1 });

    await ctl('POST', '/config', { latency: [{ method: 'GET', pattern: 'teams', ms: 400 }] });
    const open = Array.from({ length: 4 }, () => api('GET', '/teams'));
    await sleep(150);
    assert.deepEqual((await ctl('GET', '/stats')).json, { requests: 7, in_flight: 4, max_in_flight: 4 });
    // A reset while requests are open keeps them counted.
    assert.deepEqual((await ctl('DELETE', '/stats')).json, { requests: 0, in_flight: 4, max_in_flight: 4 });
    await Promise.all(open);
    assert.deepEqual((await ctl('GET', '/stats')).json, { requests: 0, in_flight: 0, max_in_flight: 4 });
    assert.deepEqual(sim.stats(), { requests: 0, in_flight: 0, max_in_flight: 4 });
    await ctl('POST', '/reset');
    assert.deepEqual((await ctl('GET', '/stats')).json, { requests: 0, in_flight: 0, max_in_flight: 0 });
  });

  test('a bounded client never exceeds its bound; an aborted request leaves the count', async () => {
    await ctl('POST', '/config', { latency: [{ method: 'POST', pattern: 'task/*', ms: 40, jitterMs: 30 }] });
    // 30 creates through a pool of 6 workers, as the worker is meant to send them.
    const queue = Array.from({ length: 30 }, (_, i) => i);
    await Promise.all(Array.from({ length: 6 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        assert.equal((await api('POST', '/task/categorization', { unique_id: `b${i}` })).status, 200);
      }
    }));
    assert.deepEqual((await ctl('GET', '/stats')).json, { requests: 30, in_flight: 0, max_in_flight: 6 });

    await ctl('POST', '/config', { latency: [{ pattern: 'teams', ms: 500 }] });
    const ac = new AbortController();
    const gone = fetch(`${sim.base}/teams`, { headers: { authorization: AUTH }, signal: ac.signal }).catch(() => 'aborted');
    await sleep(100);
    assert.equal((await ctl('GET', '/stats')).json.in_flight, 1);
    ac.abort();
    assert.equal(await gone, 'aborted');
    await sleep(50);
    assert.equal((await ctl('GET', '/stats')).json.in_flight, 0);
  });
});

describe('unique_id: what create_tasks relies on', () => {
  test('a reused unique_id answers 409 and GET /tasks?unique_id= finds the original', async () => {
    const first = (await api('POST', '/task/categorization', { unique_id: 'img-001.jpg#k', attachment: 'https://x.test/1.jpg' })).json;
    const dup = await api('POST', '/task/categorization', { unique_id: 'img-001.jpg#k', attachment: 'https://x.test/other.jpg' });
    assert.match(assertError(dup, 409), /"img-001\.jpg#k"/);
    const found = (await api('GET', `/tasks?unique_id=${encodeURIComponent('img-001.jpg#k')}`)).json;
    assert.equal(found.total, 1);
    assert.equal(found.docs[0].task_id, first.task_id);
    assert.equal(found.docs[0].params.attachment, 'https://x.test/1.jpg', 'the original, untouched');
    assert.equal(sim.state.tasks.size, 1);
    // Completed or canceled tasks keep their unique_id until it is cleared.
    await ctl('POST', `/tasks/${first.task_id}/complete`);
    assertError(await api('POST', '/task/categorization', { unique_id: 'img-001.jpg#k' }), 409);
    const other = (await api('POST', '/task/categorization', { unique_id: 'u2' })).json;
    await api('POST', `/task/${other.task_id}/cancel`);
    assertError(await api('POST', '/task/categorization', { unique_id: 'u2' }), 409);
    await api('POST', `/task/${other.task_id}/cancel?clear_unique_id=true`);
    assert.equal((await api('POST', '/task/categorization', { unique_id: 'u2' })).status, 200);
  });

  test('concurrent creates with one unique_id: exactly one wins, the rest get 409', async () => {
    await ctl('POST', '/config', { latency: [{ method: 'POST', pattern: 'task/*', ms: 50, jitterMs: 50 }] });
    const results = await Promise.all(Array.from({ length: 8 }, () => api('POST', '/task/categorization', { unique_id: 'same' })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409, 409, 409, 409, 409, 409, 409]);
    assert.equal((await api('GET', '/tasks?unique_id=same')).json.docs[0].task_id, results.find((r) => r.status === 200).json.task_id);
  });
});

describe('the sample attachment image and imageannotation completions', () => {
  /** PNG bytes -> {width, height, rgb(x, y)}, checking every chunk's CRC on the way (8-bit RGB, filter 0 rows as the simulator writes them). */
  function decodePng(buf) {
    assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    let at = 8;
    let ihdr;
    const idat = [];
    while (at < buf.length) {
      const len = buf.readUInt32BE(at);
      const type = buf.toString('latin1', at + 4, at + 8);
      const data = buf.subarray(at + 8, at + 8 + len);
      assert.equal(buf.readUInt32BE(at + 8 + len), zlib.crc32(buf.subarray(at + 4, at + 8 + len)), `${type} CRC`);
      if (type === 'IHDR') ihdr = data;
      if (type === 'IDAT') idat.push(data);
      at += 12 + len;
    }
    const width = ihdr.readUInt32BE(0);
    const height = ihdr.readUInt32BE(4);
    const raw = zlib.inflateSync(Buffer.concat(idat));
    assert.equal(raw.length, (width * 3 + 1) * height);
    return { width, height, rgb: (x, y) => [...raw.subarray(y * (width * 3 + 1) + 1 + x * 3, y * (width * 3 + 1) + 4 + x * 3)] };
  }

  test('GET /files/street.png is a 640x480 PNG; Range answers 206 with Content-Range, a bad range 416', async () => {
    const res = await fetch(sim.image);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    const png = Buffer.from(await res.arrayBuffer());
    const img = decodePng(png);
    assert.deepEqual([img.width, img.height], [640, 480]);
    assert.deepEqual(img.rgb(160, 340), [200, 40, 40], 'the red car inside its box');
    const part = await fetch(sim.image, { headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-199/${png.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), png.subarray(100, 200));
    const tail = await fetch(sim.image, { headers: { range: 'bytes=-10' } });
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), png.subarray(png.length - 10));
    const bad = await fetch(sim.image, { headers: { range: `bytes=${png.length}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), `bytes */${png.length}`);
    const octet = await fetch(`${sim.url}/files/street.bin`);
    assert.equal(octet.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(Buffer.from(await octet.arrayBuffer()), png);
    assert.equal((await fetch(`${sim.url}/files/drawing.svg`)).headers.get('content-type'), 'image/svg+xml');
    assert.equal((await fetch(`${sim.url}/files/other.png`)).status, 404);
    const log = (await ctl('GET', '/files/requests')).json;
    assert.equal(log.length, 7);
    assert.equal(log[1].headers.range, 'bytes=100-199');
    assert.equal(log[0].headers.authorization, undefined);
    await ctl('DELETE', '/files/requests');
    assert.deepEqual((await ctl('GET', '/files/requests')).json, []);
  });

  test('completing an imageannotation task returns every shape kind inside the image, and image-level answers', async () => {
    const t = (await api('POST', '/task/imageannotation', { attachment: sim.image, geometries: {} })).json;
    const done = (await ctl('POST', `/tasks/${t.task_id}/complete`)).json.task;
    const { annotations, global_attributes: answers } = done.response;
    const kinds = annotations.map((a) => (a.type === 'box' && a.rotation !== undefined ? 'rotated box' : a.type));
    assert.deepEqual([...new Set(kinds)].sort(), ['box', 'cuboid', 'ellipse', 'line', 'point', 'polygon', 'rotated box']);
    assert.deepEqual(answers, { weather: 'sunny', time_of_day: 'day' });
    const points = annotations.flatMap((a) => [
      ...(a.vertices || []),
      ...(a.type === 'point' ? [a] : []),
      ...(a.width !== undefined ? [{ x: a.left, y: a.top }, { x: a.left + a.width, y: a.top + a.height }] : []),
      ...(a.edges || []).flatMap((e) => [{ x: e.x1, y: e.y1 }, { x: e.x2, y: e.y2 }]),
    ]);
    assert.ok(points.length > 30);
    for (const p of points) assert.ok(p.x >= 0 && p.x <= 640 && p.y >= 0 && p.y <= 480, JSON.stringify(p));
    for (const a of annotations) {
      assert.match(a.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(typeof a.label, 'string');
    }
    const cuboid = annotations.find((a) => a.type === 'cuboid');
    assert.deepEqual(cuboid.vertices.map((v) => v.description).sort(), ['face-bottomleft', 'face-bottomright', 'face-topleft', 'face-topright', 'side-bottomcorner', 'side-topcorner']);
    const rotated = annotations.find((a) => a.rotation !== undefined);
    assert.equal(rotated.vertices.length, 4);
  });

  test('the completion draws only the geometries asked for, with their labels; other types and given responses are unchanged', async () => {
    const geometries = { box: { objects_to_annotate: ['vehicle', { choice: 'sign', subchoices: [] }], can_rotate: true }, point: { objects_to_annotate: ['lamp'] } };
    const t = (await api('POST', '/task/imageannotation', { attachment: sim.image, geometries })).json;
    const { annotations } = (await ctl('POST', `/tasks/${t.task_id}/complete`)).json.task.response;
    assert.deepEqual(annotations.map((a) => `${a.type}:${a.label}${a.rotation !== undefined ? ':rotated' : ''}`), ['box:vehicle', 'box:sign:rotated', 'point:lamp', 'point:lamp']);
    const plain = (await api('POST', '/task/imageannotation', { attachment: sim.image, geometries: { box: { objects_to_annotate: ['car'] } } })).json;
    assert.deepEqual((await ctl('POST', `/tasks/${plain.task_id}/complete`)).json.task.response.annotations.map((a) => a.type), ['box']);
    const cat = (await api('POST', '/task/categorization', { attachment: sim.image })).json;
    assert.deepEqual((await ctl('POST', `/tasks/${cat.task_id}/complete`)).json.task.response, { annotations: [] });
    const given = (await api('POST', '/task/imageannotation', { attachment: sim.image, geometries })).json;
    assert.deepEqual((await ctl('POST', `/tasks/${given.task_id}/complete`, { response: { annotations: [] } })).json.task.response, { annotations: [] });
  });
});

// ---------------------------------------------------------------------------
// Dataset-scale jobs: manifests served by the simulator, probabilistic faults
// before and after the work, refused items and the task counts a test of
// "exactly N tasks, none twice" reads.

/** GETs `url` with node:http and resolves `{status, headers, chunks: [Buffer]}`, one entry per 'data' event. */
function getChunks(url, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, chunks, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const createTask = (body) => api('POST', '/task/imageannotation', body);

describe('served files: manifests under /files/', () => {
  test('a registered body is served without credentials, in several chunks, with Content-Length', async () => {
    const text = Array.from({ length: 12 }, (_, i) => JSON.stringify({ attachment: `https://img.test/${i + 1}.png`, metadata: { note: 'é✓' } })).join('\n') + '\n';
    const reg = await ctl('POST', '/files', { path: 'm/1.jsonl', body: text, chunkSize: 100, chunkDelayMs: 15 });
    assert.equal(reg.status, 200, reg.text);
    const size = Buffer.byteLength(text);
    assert.deepEqual(reg.json, {
      path: 'm/1.jsonl', url: `${sim.url}/files/m/1.jsonl`, status: 200, size, contentType: 'application/x-ndjson',
      chunkSize: 100, chunks: Math.ceil(size / 100),
    });
    const got = await getChunks(reg.json.url);
    assert.equal(got.status, 200);
    assert.equal(got.headers['content-length'], String(size));
    assert.equal(got.headers['content-type'], 'application/x-ndjson');
    assert.equal(got.body.toString('utf8'), text, 'the same bytes, multi-byte characters split across chunks included');
    assert.ok(got.chunks.length >= 4, `expected several reads, got ${got.chunks.length}`);
    // Some chunk boundary falls inside a line: a reader must carry partial lines over.
    assert.ok(got.chunks.slice(0, -1).some((c) => c[c.length - 1] !== 0x0a));

    // The default splits even a small file into at least 4 chunks.
    const small = await ctl('POST', '/files', { path: 'small.csv', body: 'a,b\n1,2\n3,4\n' });
    assert.equal(small.json.chunks, 4);
    assert.equal(small.json.contentType, 'text/csv');
    assert.equal((await getChunks(small.json.url)).body.toString(), 'a,b\n1,2\n3,4\n');

    const head = await getChunks(reg.json.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(size));
    assert.equal(head.body.length, 0);

    // Not under /v1: no key needed, none asked for, nothing counted as an API request.
    const withKey = await fetch(reg.json.url, { headers: { authorization: 'Basic bm9wZTo=' } });
    assert.equal(withKey.status, 200);
    assert.equal(await withKey.text(), text);
    assert.equal(sim.stats().requests, 0);
    const log = (await ctl('GET', '/file-requests')).json;
    assert.deepEqual(log.map((r) => `${r.method} ${r.path} ${r.status}`), [
      'GET /files/m/1.jsonl 200', 'GET /files/small.csv 200', 'HEAD /files/m/1.jsonl 200', 'GET /files/m/1.jsonl 200',
    ]);
    assert.ok(log.every((r) => r.complete));
    assert.equal(log[0].headers.authorization, undefined);
    assert.equal(log[3].headers.authorization, 'Basic bm9wZTo=', 'a client that sends credentials is caught');
    assert.deepEqual((await ctl('GET', '/files/requests')).json, log, 'the same log under its older name');
    await ctl('DELETE', '/file-requests');
    assert.deepEqual((await ctl('GET', '/files/requests')).json, []);
  });

  test('missing files answer 404, other methods 405; options for status, type, length and delay', async () => {
    assertError(await call('GET', '/files/m/none.jsonl', undefined, { auth: null }), 404);
    await ctl('POST', '/files', { path: 'm/x.jsonl', body: '{}\n' });
    const post = await call('POST', '/files/m/x.jsonl', '{}', { auth: null });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');

    await ctl('POST', '/files', { path: 'err.jsonl', body: 'upstream down', status: 503, contentType: 'text/plain', headers: { 'x-from': 'sim' } });
    const err = await call('GET', '/files/err.jsonl', undefined, { auth: null });
    assert.equal(err.status, 503);
    assert.equal(err.text, 'upstream down');
    assert.equal(err.headers.get('content-type'), 'text/plain');
    assert.equal(err.headers.get('x-from'), 'sim');

    await ctl('POST', '/files', { path: 'bare', bodyBase64: Buffer.from([0xff, 0xfe, 0x0a]).toString('base64'), contentType: null, contentLength: false, delayMs: 120 });
    const t0 = performance.now();
    const bare = await getChunks(`${sim.url}/files/bare`);
    assert.ok(performance.now() - t0 >= 110);
    assert.deepEqual([...bare.body], [0xff, 0xfe, 0x0a]);
    assert.equal(bare.headers['content-type'], undefined);
    assert.equal(bare.headers['content-length'], undefined);
    assert.equal(bare.headers['transfer-encoding'], 'chunked');

    // Registering a path again replaces the file; the list shows what is served.
    await ctl('POST', '/files', { path: 'm/x.jsonl', body: '{"a":1}\n' });
    assert.equal((await call('GET', '/files/m/x.jsonl', undefined, { auth: null })).text, '{"a":1}\n');
    assert.deepEqual((await ctl('GET', '/files')).json.map((f) => `${f.path} ${f.status} ${f.size}`), ['m/x.jsonl 200 8', 'err.jsonl 503 13', 'bare 200 3']);
    await ctl('DELETE', '/files');
    assert.deepEqual((await ctl('GET', '/files')).json, []);
    assertError(await call('GET', '/files/m/x.jsonl', undefined, { auth: null }), 404);
    // The built-in image is still there.
    assert.equal((await fetch(sim.image)).status, 200);
  });

  test('redirects: absolute or same-host, with the status asked for', async () => {
    const r1 = await ctl('POST', '/files', { path: 'm/away.jsonl', redirect: 'https://elsewhere.example/m.jsonl' });
    assert.deepEqual(r1.json, { path: 'm/away.jsonl', url: `${sim.url}/files/m/away.jsonl`, status: 302, redirect: 'https://elsewhere.example/m.jsonl' });
    const away = await fetch(r1.json.url, { redirect: 'manual' });
    assert.equal(away.status, 302);
    assert.equal(away.headers.get('location'), 'https://elsewhere.example/m.jsonl');

    await ctl('POST', '/files', { path: 'm/real.jsonl', body: '{"n":1}\n' });
    await ctl('POST', '/files', { path: 'm/moved.jsonl', redirect: '/files/m/real.jsonl', status: 307 });
    const moved = await fetch(`${sim.url}/files/m/moved.jsonl`, { redirect: 'manual' });
    assert.equal(moved.status, 307);
    assert.equal(moved.headers.get('location'), '/files/m/real.jsonl');
    const followed = await fetch(`${sim.url}/files/m/moved.jsonl`);
    assert.equal(await followed.text(), '{"n":1}\n');
    const log = (await ctl('GET', '/file-requests')).json;
    assert.deepEqual(log.map((r) => `${r.path} ${r.status}`), ['/files/m/away.jsonl 302', '/files/m/moved.jsonl 307', '/files/m/moved.jsonl 307', '/files/m/real.jsonl 200']);
  });

  test('generated manifests: {i} numbers each item; CSV has a header row and JSON-encoded nested cells; refused items are marked', async () => {
    const template = { attachment: 'https://img.example/{i}.png', metadata: { n: '{i}', tag: 'a,"b"' }, unique: 'item-{i}' };
    const jsonl = await ctl('POST', '/files', { path: 'm/gen.jsonl', generate: { lines: 3, template, refuse: [2] } });
    assert.equal(jsonl.status, 200, jsonl.text);
    assert.deepEqual(jsonl.json.generated, { format: 'jsonl', lines: 3, refuse: [2] });
    assert.equal((await call('GET', '/files/m/gen.jsonl', undefined, { auth: null })).text, [
      '{"attachment":"https://img.example/1.png","metadata":{"n":"1","tag":"a,\\"b\\""},"unique":"item-1"}',
      '{"attachment":"https://img.example/2.png#refuse-me","metadata":{"n":"2","tag":"a,\\"b\\""},"unique":"item-2"}',
      '{"attachment":"https://img.example/3.png","metadata":{"n":"3","tag":"a,\\"b\\""},"unique":"item-3"}',
      '',
    ].join('\n'));

    const csv = await ctl('POST', '/files', { path: 'm/gen.csv', generate: { lines: 2, template: { ...template, count: 5, flag: true, none: null }, lineEnding: '\r\n' } });
    assert.equal(csv.json.contentType, 'text/csv');
    assert.equal(csv.json.generated.format, 'csv', 'the format follows the extension');
    assert.equal((await call('GET', '/files/m/gen.csv', undefined, { auth: null })).text, [
      'attachment,metadata,unique,count,flag,none',
      'https://img.example/1.png,"{""n"":""1"",""tag"":""a,\\""b\\""""}",item-1,5,true,',
      'https://img.example/2.png,"{""n"":""2"",""tag"":""a,\\""b\\""""}",item-2,5,true,',
      '',
    ].join('\r\n'));
    const csvRefused = await ctl('POST', '/files', { path: 'm/r.txt', generate: { lines: 2, format: 'csv', template: { attachment: 'u{i}' }, refuse: [1] } });
    assert.equal(csvRefused.json.contentType, 'text/csv');
    assert.equal((await call('GET', '/files/m/r.txt', undefined, { auth: null })).text, 'attachment\nu1#refuse-me\nu2\n');
    // An empty manifest is a file too.
    await ctl('POST', '/files', { path: 'm/empty.jsonl', generate: { lines: 0, template } });
    const empty = await getChunks(`${sim.url}/files/m/empty.jsonl`);
    assert.equal(empty.headers['content-length'], '0');
  });

  test('a 10,000-line manifest is generated quickly and streamed whole', async () => {
    const t0 = performance.now();
    const reg = await ctl('POST', '/files', { path: 'm/big.jsonl', generate: { lines: 10000, template: { attachment: 'https://img.example/{i}.png', metadata: { n: '{i}' } } } });
    assert.ok(performance.now() - t0 < 2000, 'generation stays cheap');
    assert.ok(reg.json.chunks >= 8, `a large file goes in many chunks (${reg.json.chunks})`);
    const got = await getChunks(reg.json.url);
    assert.ok(got.chunks.length >= 4);
    assert.equal(got.headers['content-length'], String(reg.json.size));
    assert.equal(got.body.length, reg.json.size);
    const lines = got.body.toString().split('\n');
    assert.equal(lines.pop(), '', 'every line ends with a newline');
    assert.equal(lines.length, 10000);
    assert.equal(new Set(lines).size, 10000);
    assert.deepEqual(JSON.parse(lines[9999]), { attachment: 'https://img.example/10000.png', metadata: { n: '10000' } });
  });

  test('registration is checked before anything is served; reset clears files', async () => {
    const bad = [
      [{ path: '../x', body: '' }, /path/],
      [{ path: 'a//b', body: '' }, /path/],
      [{ path: 'm/./x', body: '' }, /path/],
      [{ path: 'street.png', body: '' }, /built-in/],
      [{ path: 'm/x' }, /exactly one/],
      [{ path: 'm/x', body: 'a', redirect: 'https://a.example/' }, /exactly one/],
      [{ path: 'm/x', body: 'a', chunksize: 3 }, /unknown field "chunksize"/],
      [{ path: 'm/x', redirect: 'https://a.example/', chunkSize: 3 }, /unknown field "chunkSize"/],
      [{ path: 'm/x', redirect: 'ftp://a.example/' }, /redirect must be/],
      [{ path: 'm/x', redirect: '//a.example/' }, /redirect must be/],
      [{ path: 'm/x', redirect: '/files/y', status: 200 }, /301, 302/],
      [{ path: 'm/x', body: 'a', status: 302 }, /other than 3xx/],
      [{ path: 'm/x', body: 7 }, /body must be a string/],
      [{ path: 'm/x', body: 'a', chunkSize: 0 }, /chunkSize/],
      [{ path: 'm/x', generate: { lines: 100001, template: { a: 1 } } }, /lines/],
      [{ path: 'm/x', generate: { lines: 2, template: {} } }, /template/],
      [{ path: 'm/x', generate: { lines: 2, template: { a: 1 }, format: 'xml' } }, /format/],
      [{ path: 'm/x', generate: { lines: 2, template: { a: 1 }, refuse: [1] } }, /attachment/],
      [{ path: 'm/x', generate: { lines: 2, template: { attachment: 'a' }, refuse: [3] } }, /refuse/],
      [{ path: 'm/x', generate: { lines: 2, template: { a: 1 }, rows: 2 } }, /unknown field "rows"/],
    ];
    for (const [body, message] of bad) assert.match(assertError(await ctl('POST', '/files', body), 400), message, JSON.stringify(body));
    assert.deepEqual((await ctl('GET', '/files')).json, []);
    await ctl('POST', '/files', { path: '/m/lead.jsonl', body: 'x' });
    assert.deepEqual((await ctl('GET', '/files')).json.map((f) => f.path), ['m/lead.jsonl'], 'a leading slash is dropped');
    await ctl('POST', '/reset');
    assert.deepEqual((await ctl('GET', '/files')).json, []);
    assertError(await call('GET', '/files/m/lead.jsonl', undefined, { auth: null }), 404);
  });
});

describe('probabilistic faults', () => {
  /** Creates `n` tasks one after another; returns the status of each. */
  async function sequentialCreates(n, prefix = 'p') {
    const out = [];
    for (let i = 0; i < n; i++) out.push((await createTask({ attachment: 'https://img.test/a.png', unique_id: `${prefix}-${i}` })).status);
    return out;
  }

  test('a rule fires on about its share of matching requests, is not consumed, and repeats run after run', async () => {
    const rule = { method: 'POST', pattern: 'task/*', probability: 0.1, status: 503 };
    await ctl('POST', '/faults', rule);
    const first = await sequentialCreates(200);
    const faulted = first.filter((s) => s === 503).length;
    assert.ok(faulted >= 6 && faulted <= 40, `10% of 200 is about 20, got ${faulted}`);
    assert.equal(first.filter((s) => s === 200).length, 200 - faulted);
    const [listed] = (await ctl('GET', '/faults')).json;
    assert.deepEqual(listed, { ...rule, matched: 200, applied: faulted, seed: 1 }, 'still there; the default seed is shown');
    assert.equal((await api('GET', '/tasks?limit=1')).status, 200, 'other requests do not match');

    // The same rule after a reset fails exactly the same requests.
    await ctl('POST', '/reset');
    await ctl('POST', '/faults', rule);
    assert.deepEqual(await sequentialCreates(200), first);
    // Another seed, another pattern.
    await ctl('POST', '/reset');
    await ctl('POST', '/faults', { ...rule, seed: 12345 });
    const other = await sequentialCreates(200);
    assert.notDeepEqual(other, first);
    assert.equal((await ctl('GET', '/faults')).json[0].seed, 12345);
  });

  test('429 with Retry-After, 500, 502 and 503; `times` bounds how often a rule fires', async () => {
    await ctl('POST', '/faults', [
      { pattern: 'task/*', method: 'POST', probability: 1, times: 1, retryAfter: 1 },
      { pattern: 'task/*', method: 'POST', probability: 1, times: 1, status: 500 },
      { pattern: 'task/*', method: 'POST', probability: 1, times: 1, status: 502 },
      { pattern: 'task/*', method: 'POST', probability: 1, times: 1, status: 503, retryAfter: 2 },
    ]);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await createTask({ attachment: 'https://img.test/a.png', unique_id: 'once' }));
    assert.deepEqual(answers.map((r) => r.status), [429, 500, 502, 503, 200]);
    assert.equal(answers[0].headers.get('retry-after'), '1');
    assert.equal(answers[3].headers.get('retry-after'), '2');
    for (const r of answers.slice(0, 4)) assert.equal(assertError(r, r.status), `Simulated fault (HTTP ${r.status})`);
    assert.deepEqual((await ctl('GET', '/faults')).json, [], 'each was consumed by its one firing');
    assert.equal(sim.state.tasks.size, 1, 'faults before the work create nothing');

    // A probabilistic rule with `times` stops after that many firings.
    await ctl('POST', '/faults', { pattern: 'task/*', probability: 0.5, times: 3, status: 503 });
    const statuses = await sequentialCreates(60, 't');
    assert.equal(statuses.filter((s) => s === 503).length, 3);
    assert.deepEqual((await ctl('GET', '/faults')).json, []);
  });

  test('a rule that does not fire lets the next one decide', async () => {
    await ctl('POST', '/faults', [
      { pattern: 'task/*', probability: 0.5, status: 502 },
      { pattern: 'task/*', probability: 0.5, status: 503 },
    ]);
    const statuses = await sequentialCreates(200);
    const [a, b] = (await ctl('GET', '/faults')).json;
    assert.deepEqual([a.seed, b.seed], [1, 2], 'two rules do not share a default seed');
    assert.equal(a.matched, 200);
    assert.equal(b.matched, 200 - a.applied);
    assert.equal(statuses.filter((s) => s === 502).length, a.applied);
    assert.equal(statuses.filter((s) => s === 503).length, b.applied);
    assert.ok(a.applied > 60 && a.applied < 140, String(a.applied));
    assert.ok(b.applied > 20 && b.applied < 80, String(b.applied));
  });

  test('after: the task is created but the client gets the fault; a retry with the same unique_id answers 409', async () => {
    await ctl('POST', '/faults', { method: 'POST', pattern: 'task/*', status: 503, after: true });
    const first = await createTask({ attachment: 'https://img.test/a.png', unique_id: 'item-1' });
    assertError(first, 503);
    assert.equal(sim.state.tasks.size, 1, 'the create happened');
    const retry = await createTask({ attachment: 'https://img.test/a.png', unique_id: 'item-1' });
    assert.equal(assertError(retry, 409), 'The unique_id ("item-1") is already used for a different task.');
    const found = (await api('GET', '/tasks?unique_id=item-1')).json;
    assert.equal(found.total, 1);

    // Before (the default): nothing was created, so the retry creates it.
    await ctl('POST', '/faults', { method: 'POST', pattern: 'task/*', status: 502 });
    assertError(await createTask({ attachment: 'https://img.test/b.png', unique_id: 'item-2' }), 502);
    assert.equal(sim.state.tasks.size, 1);
    assert.equal((await createTask({ attachment: 'https://img.test/b.png', unique_id: 'item-2' })).status, 200);

    // after + drop: created, then the connection is cut.
    await ctl('POST', '/faults', { method: 'POST', pattern: 'task/*', drop: true, after: true });
    await assert.rejects(createTask({ attachment: 'https://img.test/c.png', unique_id: 'item-3' }));
    // after + delayMs only: created, answered late (a client that timed out retries).
    await ctl('POST', '/faults', { method: 'POST', pattern: 'task/*', delayMs: 150, after: true });
    const slow = await timed(createTask({ attachment: 'https://img.test/d.png', unique_id: 'item-4' }));
    assert.equal(slow.value.status, 200);
    assert.ok(slow.ms >= 140);
    // after on a request Scale refuses: the refusal still happened, the client sees the fault.
    await ctl('POST', '/faults', { method: 'POST', pattern: 'task/*', status: 500, after: true });
    assertError(await createTask({ unique_id: 'no-attachment' }), 500);

    const stats = (await ctl('GET', '/task-stats')).json;
    assert.equal(stats.tasks, 4);
    assert.equal(stats.uniqueIds, 4);
    assert.equal(stats.creates, 7);
    assert.deepEqual(stats.createStatuses, { 200: 2, 409: 1, 500: 1, 502: 1, 503: 1, dropped: 1 });
  });

  test('validation of probability, seed and after', async () => {
    for (const [body, message] of [
      [{ probability: 0 }, /probability/],
      [{ probability: 1.5 }, /probability/],
      [{ probability: '0.1' }, /probability/],
      [{ probability: 0.1, seed: -1 }, /seed/],
      [{ probability: 0.1, seed: 1.5 }, /seed/],
      [{ seed: 3 }, /seed needs probability/],
      [{ after: 'yes' }, /after/],
      [{ probability: 0.1, times: 0 }, /times/],
    ]) assert.match(assertError(await ctl('POST', '/faults', body), 400), message, JSON.stringify(body));
    assert.deepEqual((await ctl('GET', '/faults')).json, []);
  });
});

describe('refused items', () => {
  test('a create whose attachment contains refuse-me answers 400 and creates nothing', async () => {
    const res = await createTask({ attachment: 'https://img.test/7.png#refuse-me', unique_id: 'r-7' });
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { status_code: 400, error: 'Invalid attachment: refused by the simulator' });
    assertError(await api('POST', '/task/categorization', { attachments: ['https://ok.test/1', 'https://refuse-me.test/2'] }), 400);
    assert.equal(sim.state.tasks.size, 0);
    // Refused every time, and the unique_id stays free.
    assertError(await createTask({ attachment: 'https://img.test/7.png#refuse-me', unique_id: 'r-7' }), 400);
    assert.equal((await createTask({ attachment: 'https://img.test/7.png', unique_id: 'r-7' })).status, 200);
  });

  test('the items a generated manifest marks are exactly the ones refused', async () => {
    const refuse = [1, 17, 18, 50];
    const reg = (await ctl('POST', '/files', { path: 'm/refuse.jsonl', generate: { lines: 50, template: { attachment: 'https://img.example/{i}.png', metadata: { n: '{i}' } }, refuse } })).json;
    const items = (await (await fetch(reg.url)).text()).trim().split('\n').map((l) => JSON.parse(l));
    const statuses = [];
    for (const item of items) statuses.push((await createTask({ ...item, unique_id: `item-${item.metadata.n}` })).status);
    assert.deepEqual(statuses.flatMap((s, i) => (s === 400 ? [i + 1] : [])), refuse);
    const stats = (await ctl('GET', '/task-stats?key=metadata.n')).json;
    assert.equal(stats.tasks, 46);
    assert.equal(stats.keyValues, 46);
    assert.deepEqual(stats.createStatuses, { 200: 46, 400: 4 });
  });
});

describe('task-stats', () => {
  test('counts tasks, distinct unique_ids, statuses and creates; filters by batch; counts a chosen field', async () => {
    await seed({ projects: [{ type: 'imageannotation', name: 'p' }], batches: [{ project: 'p', name: 'b1' }] });
    assert.equal((await createTask({ attachment: 'a', unique_id: 'u1', batch: 'b1', metadata: { n: '1' } })).status, 200);
    assert.equal((await createTask({ attachment: 'a', unique_id: 'u2', batch: 'b1', metadata: { n: '1' } })).status, 200);
    assert.equal((await createTask({ attachment: 'a', metadata: { n: '2' } })).status, 200);
    assertError(await createTask({ attachment: 'a', unique_id: 'u1' }), 409);
    assertError(await createTask({}), 400);
    const c = (await api('POST', '/task/categorization', { attachment: 'a', unique_id: 'u3' })).json;
    await ctl('POST', `/tasks/${c.task_id}/complete`);
    const all = (await ctl('GET', '/task-stats')).json;
    assert.deepEqual(all, {
      tasks: 4, uniqueIds: 3, withoutUniqueId: 1, duplicateUniqueIds: [], byStatus: { pending: 3, completed: 1 },
      creates: 6, createStatuses: { 200: 4, 400: 1, 409: 1 },
    });
    const inBatch = (await ctl('GET', '/task-stats?batch=b1&key=metadata.n')).json;
    assert.equal(inBatch.tasks, 2);
    assert.deepEqual([inBatch.key, inBatch.keyValues, inBatch.withoutKey, inBatch.duplicateKeyValues], ['metadata.n', 1, 0, ['1']]);
    const byAttachment = (await ctl('GET', '/task-stats?key=params.attachment')).json;
    assert.deepEqual(byAttachment.duplicateKeyValues, ['a']);
    assert.equal((await ctl('GET', '/task-stats?project=p')).json.tasks, 2);
    assertError(await ctl('GET', '/task-stats?key=metadata..n'), 400);
    // Seeded tasks are tasks but not creates; reset zeroes everything.
    await ctl('POST', '/reset');
    assert.deepEqual((await ctl('GET', '/task-stats')).json, {
      tasks: 0, uniqueIds: 0, withoutUniqueId: 0, duplicateUniqueIds: [], byStatus: {}, creates: 0, createStatuses: {},
    });
  });

  test('the unique_id index follows every change, so 409s and lookups stay right', async () => {
    const a = (await createTask({ attachment: 'a', unique_id: 'x' })).json;
    // Moving an id to another value frees the old one.
    assert.equal((await api('POST', `/task/${a.task_id}/unique_id`, { unique_id: 'y' })).status, 200);
    assert.equal((await createTask({ attachment: 'a', unique_id: 'x' })).status, 200);
    assertError(await createTask({ attachment: 'a', unique_id: 'y' }), 409);
    // Deleting it frees it.
    await api('DELETE', `/task/${a.task_id}/unique_id`);
    const y = (await createTask({ attachment: 'a', unique_id: 'y' })).json;
    assert.equal((await api('GET', '/tasks?unique_id=y')).json.docs[0].task_id, y.task_id);
    // Cancel with clear_unique_id frees it.
    await api('POST', `/task/${y.task_id}/cancel?clear_unique_id=true`);
    assert.equal((await api('GET', '/tasks?unique_id=y')).json.total, 0);
    assert.equal((await createTask({ attachment: 'a', unique_id: 'y' })).status, 200);
    // Setting a task's own id again is fine; taking another's is not.
    const x = (await api('GET', '/tasks?unique_id=x')).json.docs[0];
    assert.equal((await api('POST', `/task/${x.task_id}/unique_id`, { unique_id: 'x' })).status, 200);
    assertError(await api('POST', `/task/${x.task_id}/unique_id`, { unique_id: 'y' }), 409);
    const stats = (await ctl('GET', '/task-stats')).json;
    assert.deepEqual([stats.tasks, stats.uniqueIds, stats.withoutUniqueId], [4, 2, 2]);
  });

  test('stays fast at 10,000 tasks', async () => {
    const tasks = Array.from({ length: 10000 }, (_, i) => ({ type: 'imageannotation', attachment: `https://img.example/${i + 1}.png`, unique_id: `item-${i + 1}`, metadata: { n: String(i + 1) } }));
    await seed({ tasks });
    const t0 = performance.now();
    const stats = (await ctl('GET', '/task-stats?key=metadata.n')).json;
    assert.ok(performance.now() - t0 < 1000, 'one pass, no listing');
    assert.deepEqual([stats.tasks, stats.uniqueIds, stats.keyValues, stats.duplicateUniqueIds.length], [10000, 10000, 10000, 0]);
    // A create checks its unique_id against 10,000 others at once; a lookup by unique_id skips the scan.
    const t1 = performance.now();
    for (let i = 0; i < 200; i++) {
      assertError(await createTask({ attachment: 'a', unique_id: `item-${i + 1}` }), 409);
      assert.equal((await api('GET', `/tasks?unique_id=item-${10000 - i}`)).json.total, 1);
    }
    assert.ok(performance.now() - t1 < 5000, `400 requests took ${Math.round(performance.now() - t1)} ms`);
  });
});

describe('a dataset job against the simulator', () => {
  test('a retrying client with unique_ids ends with every item created once despite faults before and after the work', { timeout: 60000 }, async () => {
    const n = 1000;
    const refuse = [10, 500];
    const reg = (await ctl('POST', '/files', {
      path: 'jobs/1.csv',
      generate: { lines: n, template: { attachment: 'https://img.example/{i}.png', metadata: { n: '{i}' } }, refuse },
    })).json;
    await ctl('POST', '/faults', [
      { method: 'POST', pattern: 'task/*', probability: 0.03, retryAfter: 0 },
      { method: 'POST', pattern: 'task/*', probability: 0.02, status: 502, after: true },
      { method: 'POST', pattern: 'task/*', probability: 0.01, status: 500 },
    ]);
    // The client: read the CSV, create with unique_id item-<n>, retry 429/5xx,
    // count 409 as "already there", 400 as refused.
    const rows = (await (await fetch(reg.url)).text()).trim().split('\n').slice(1);
    const items = rows.map((r) => {
      const [attachment, meta] = r.match(/^([^,]*),"(.*)"$/).slice(1);
      return { attachment, metadata: JSON.parse(meta.replaceAll('""', '"')) };
    });
    let next = 0;
    const outcome = { created: 0, existing: 0, refused: 0, retries: 0 };
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++];
        for (let attempt = 1; ; attempt++) {
          const r = await createTask({ ...item, unique_id: `item-${item.metadata.n}` });
          if (r.status === 200) outcome.created++;
          else if (r.status === 409) outcome.existing++;
          else if (r.status === 400) outcome.refused++;
          else if (attempt < 20) { outcome.retries++; continue; }
          else throw new Error(`item ${item.metadata.n}: still ${r.status} after ${attempt} attempts`);
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const stats = (await ctl('GET', '/task-stats?key=metadata.n')).json;
    assert.equal(stats.tasks, n - refuse.length);
    assert.equal(stats.uniqueIds, n - refuse.length);
    assert.equal(stats.keyValues, n - refuse.length);
    assert.deepEqual(stats.duplicateKeyValues, []);
    assert.equal(outcome.refused, refuse.length);
    assert.ok(outcome.existing > 0, 'some creates happened behind a 502 and were found by their unique_id');
    assert.ok(outcome.retries > 30, String(outcome.retries));
    assert.equal(stats.creates, n + outcome.retries);
    assert.equal(outcome.created + outcome.existing, n - refuse.length);
  });
});
