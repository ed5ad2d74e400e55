// Scale callbacks end to end: the simulator completes, audits and recalls
// tasks created through the MCP tools and POSTs the callbacks (with the
// scale-callback-auth header) to the worker's /webhooks/scale; the deliveries
// are then read back through list_callbacks, get_callback and MCP resources,
// and straight from the KV namespace to check the key layout.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, SECRETS } from './harness.mjs';
import { connect, textOf, closeAll } from './client.mjs';

const TTL_DAYS = 7;
let w; // the main stack: CALLBACK_TTL_DAYS = 7
let mcp;
let d; // DEFAULT_CALLBACK_URL = w's webhook
let dMcp;
let noKey; // no SCALE_CALLBACK_AUTH_KEY
let small; // WEBHOOK_MAX_BYTES = 2048
let noKv; // CALLBACKS not bound
let rot; // SCALE_CALLBACK_AUTH_KEY = "<old>,<new>" (rotation)
const OLD_CALLBACK_KEY = 'e2e-old-callback-key-5d7e19';

before(async () => {
  [w, noKey, small, noKv, rot] = await Promise.all([
    startStack({ vars: { CALLBACK_TTL_DAYS: String(TTL_DAYS) } }),
    startStack({ vars: { SCALE_CALLBACK_AUTH_KEY: undefined } }),
    startStack({ vars: { WEBHOOK_MAX_BYTES: '2048' } }),
    startStack({ kv: false }),
    startStack({ vars: { SCALE_CALLBACK_AUTH_KEY: `${OLD_CALLBACK_KEY},${SECRETS.SCALE_CALLBACK_AUTH_KEY}` } }),
  ]);
  d = await startStack({ vars: { DEFAULT_CALLBACK_URL: w.webhookUrl } });
  [mcp, dMcp] = await Promise.all([connect(w), connect(d)]);
});

after(async () => {
  await Promise.allSettled([mcp, dMcp].filter(Boolean).map((m) => m.close()));
  await closeAll([w, d, noKey, small, noKv, rot]);
});

// ---------------------------------------------------------------------------
// helpers

let counter = 0;
const uniq = (p) => `${p}-${Date.now().toString(36)}-${++counter}`;
/** The worker's key encoding: everything but RFC 3986 unreserved characters. */
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const omit = (o, ...keys) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

function ok(result) {
  assert.ok(!result.isError, `expected success, got: ${textOf(result)}`);
  assert.deepEqual(JSON.parse(textOf(result)), result.structuredContent);
  return result.structuredContent;
}
function fails(result) {
  assert.equal(result.isError, true, `expected isError, got: ${textOf(result)}`);
  return textOf(result);
}

/** POSTs straight to a stack's webhook; `auth: null` sends no scale-callback-auth header. */
async function post(s, body, { auth = SECRETS.SCALE_CALLBACK_AUTH_KEY, headers = {}, raw = false } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (auth !== null) h['scale-callback-auth'] = auth;
  const res = await fetch(s.webhookUrl, { method: 'POST', headers: h, body: raw ? body : JSON.stringify(body), ...(raw && typeof body !== 'string' ? { duplex: 'half' } : {}) });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

/** Every key of a stack's CALLBACKS namespace. */
async function kvKeys(s, prefix) {
  const out = [];
  let cursor;
  do {
    const r = await s.kv.list({ prefix, cursor });
    out.push(...r.keys);
    cursor = r.list_complete ? undefined : r.cursor;
  } while (cursor);
  return out;
}

/** A task created through the create_task tool on `m` (callback to w's webhook unless given). */
async function createTask(m = mcp, extra = {}) {
  return ok(await m.callTool('create_task', { type: 'imageannotation', attachment: 'https://example.com/i.png', callback_url: w.webhookUrl, ...extra }));
}

/** What the simulator POSTed for a first task delivery, rebuilt from the task it returned. */
function taskCallbackBody(task) {
  return { task: omit(task, 'callback_succeeded'), response: task.response, task_id: task.task_id };
}

/** The first worker log line matching `re`, waiting briefly: workerd's stdout arrives asynchronously. */
async function logLine(s, re, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = s.logs.find((l) => re.test(l));
    if (line !== undefined) return line;
    if (Date.now() > deadline) assert.fail(`no worker log line matches ${re}; last lines:\n${s.logs.slice(-5).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function listFor(args) {
  return ok(await mcp.callTool('list_callbacks', args));
}

// ---------------------------------------------------------------------------
// one task's deliveries

describe('a task callback', () => {
  let task;
  let completed;
  let entryId;

  test('completing a task created with create_task delivers its callback, and list_callbacks shows it', async () => {
    task = await createTask();
    assert.equal(task.callback_url, w.webhookUrl);
    const response = { annotations: [{ label: 'car', left: 1, top: 2, width: 3, height: 4 }] };
    completed = await w.simControl(`tasks/${task.task_id}/complete`, { response });
    assert.equal(completed.delivery.status_code, 200, JSON.stringify(completed.delivery));
    assert.equal(completed.delivery.kind, 'task');

    const out = await listFor({ task_id: task.task_id });
    assert.equal(out.callbacks.length, 1);
    const c = out.callbacks[0];
    entryId = c.id;
    assert.equal(typeof c.id, 'string');
    assert.equal(c.kind, 'task');
    assert.equal(c.task_id, task.task_id);
    assert.equal(c.status, 'completed');
    assert.ok(!Number.isNaN(Date.parse(c.received_at)));
    assert.ok(Math.abs(Date.parse(c.received_at) - Date.parse(completed.delivery.at)) < 5000);
    assert.equal(out.next_cursor, null);

    const all = await listFor({});
    assert.equal(all.callbacks[0].id, entryId, 'newest first');
  });

  test('get_callback returns {id, received_at, kind, body} with the body the simulator sent', async () => {
    const e = ok(await mcp.callTool('get_callback', { id: entryId }));
    assert.deepEqual(Object.keys(e).sort(), ['body', 'id', 'kind', 'received_at']);
    assert.equal(e.id, entryId);
    assert.equal(e.kind, 'task');
    assert.deepEqual(e.body, taskCallbackBody(completed.task));
    assert.deepEqual(e.body.response, { annotations: [{ label: 'car', left: 1, top: 2, width: 3, height: 4 }] });
    const listed = (await listFor({ task_id: task.task_id })).callbacks[0];
    assert.equal(e.received_at, listed.received_at);
  });

  test('resources/list shows the delivery and resources/read returns it', async () => {
    const uri = `scale-callback://deliveries/${entryId}`;
    const { resources } = await mcp.listResources();
    const r = resources.find((x) => x.uri === uri);
    assert.ok(r, `resources/list has ${uri}`);
    assert.equal(r.mimeType, 'application/json');
    assert.match(r.title, new RegExp(task.task_id));

    const read = await mcp.readResource(uri);
    assert.equal(read.contents.length, 1);
    assert.equal(read.contents[0].uri, uri);
    assert.equal(read.contents[0].mimeType, 'application/json');
    assert.deepEqual(JSON.parse(read.contents[0].text), ok(await mcp.callTool('get_callback', { id: entryId })));

    await assert.rejects(mcp.readResource('scale-callback://deliveries/0000000000000-ffffffffffffffff'), /not found/i);
  });

  let resentId;
  test('a repeat of the same bytes is not stored; resend_callback, whose body changed, is', async () => {
    // What the worker answers to the repeat: the same delivery, posted again, costs no KV write.
    const before = (await kvKeys(w)).length;
    const again = await post(w, taskCallbackBody(completed.task));
    assert.equal(again.status, 200);
    assert.deepEqual(again.json, { stored: false, duplicate_of: entryId });
    assert.equal((await kvKeys(w)).length, before, 'no key was added');

    // Scale's resend carries changed bookkeeping (callback_succeeded): a body that differs is never dropped.
    const out = ok(await mcp.callTool('resend_callback', { task_id: task.task_id }));
    assert.equal(out.status_code, 200);
    const deliveries = (await (await fetch(`${w.sim.url}/__sim/deliveries`)).json()).filter((x) => x.task_id === task.task_id);
    assert.deepEqual(deliveries.map((x) => [x.trigger, x.status_code]), [['completed', 200], ['resent', 200]]);
    const list = (await listFor({ task_id: task.task_id })).callbacks.map((c) => c.id);
    assert.equal(list.length, 2);
    assert.equal(list[1], entryId, 'newest first');
    resentId = list[0];
    assert.equal((await kvKeys(w)).length, before + 2, 'a task without a batch: two keys, log: and t:');
    const resentBody = ok(await mcp.callTool('get_callback', { id: resentId })).body;
    assert.equal(resentBody.task.callback_succeeded, true);
    // And its own repeat is a duplicate of it.
    const repeat = await post(w, resentBody);
    assert.deepEqual(repeat.json, { stored: false, duplicate_of: resentId });
    assert.equal((await kvKeys(w)).length, before + 2);
  });

  test('an audit and a recall are new entries; status filters narrow them', async () => {
    const audited = await w.simControl(`tasks/${task.task_id}/audit`, { customer_review_status: 'accepted' });
    assert.equal(audited.delivery.status_code, 200);
    const recalled = await w.simControl(`tasks/${task.task_id}/recall`);
    assert.equal(recalled.delivery.status_code, 200);

    const list = (await listFor({ task_id: task.task_id })).callbacks;
    assert.equal(list.length, 4);
    assert.deepEqual(list.map((c) => c.status), ['pending', 'completed', 'completed', 'completed'], 'newest first: recall, audit, resend, completion');
    assert.equal(list[2].id, resentId);
    assert.equal(list[3].id, entryId);
    assert.equal(new Set(list.map((c) => c.id)).size, 4);

    const auditEntry = ok(await mcp.callTool('get_callback', { id: list[1].id }));
    assert.equal(auditEntry.body.task.customer_review_status, 'accepted');
    assert.equal(auditEntry.body.task.audits.length, 1);
    const recallEntry = ok(await mcp.callTool('get_callback', { id: list[0].id }));
    assert.equal(recallEntry.body.task.status, 'pending');

    assert.deepEqual((await listFor({ task_id: task.task_id, status: 'completed' })).callbacks.map((c) => c.id), [list[1].id, list[2].id, list[3].id]);
    assert.deepEqual((await listFor({ task_id: task.task_id, status: 'pending' })).callbacks.map((c) => c.id), [list[0].id]);
    assert.deepEqual((await listFor({ task_id: task.task_id, status: 'error' })).callbacks, []);
    assert.deepEqual((await listFor({ task_id: `${task.task_id}x` })).callbacks, []);

    // A status filter over the whole log.
    const pending = (await listFor({ status: 'pending', limit: 100 })).callbacks;
    assert.ok(pending.some((c) => c.id === list[0].id));
    assert.ok(pending.every((c) => c.status === 'pending'));
    assert.ok(!pending.some((c) => c.id === list[1].id));
  });

  test('paging with limit and cursor walks the same entries as one page', async () => {
    const full = (await listFor({ task_id: task.task_id, limit: 100 })).callbacks.map((c) => c.id);
    assert.equal(full.length, 4);
    const paged = [];
    let cursor;
    let pages = 0;
    do {
      const out = await listFor({ task_id: task.task_id, limit: 1, ...(cursor ? { cursor } : {}) });
      assert.ok(out.callbacks.length <= 1);
      paged.push(...out.callbacks.map((c) => c.id));
      cursor = out.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    assert.deepEqual(paged, full);
    assert.equal(pages, 4);

    // The whole log, two at a time.
    const all = (await listFor({ limit: 100 })).callbacks.map((c) => c.id);
    const walked = [];
    cursor = undefined;
    do {
      const out = await listFor({ limit: 2, ...(cursor ? { cursor } : {}) });
      walked.push(...out.callbacks.map((c) => c.id));
      cursor = out.next_cursor;
    } while (cursor);
    assert.deepEqual(walked, all);

    assert.match(fails(await mcp.callTool('list_callbacks', { cursor: 'not-a-cursor' })), /cursor/);
    assert.match(fails(await mcp.callTool('get_callback', { id: '0000000000000-ffffffffffffffff' })), /no callback with id/);
  });

  test('KV layout: log: and t:{task}:{fp} keys with metadata and an expiration CALLBACK_TTL_DAYS out', async () => {
    const ids = (await listFor({ task_id: task.task_id })).callbacks.map((c) => c.id);
    const keys = await kvKeys(w);
    const byName = new Map(keys.map((k) => [k.name, k]));
    const now = Date.now() / 1000;
    const ttl = TTL_DAYS * 86400;
    const checkExp = (k) => {
      assert.equal(typeof k.expiration, 'number', `${k.name} has an expiration`);
      assert.ok(k.expiration > now + ttl - 900 && k.expiration < now + ttl + 60, `${k.name} expires ${k.expiration - now} s from now, expected about ${ttl}`);
    };
    for (const id of ids) {
      const fp = id.split('-')[1];
      assert.match(id, /^\d{13}-[0-9a-f]{16}$/);
      const log = byName.get(`log:${id}`);
      assert.ok(log, `log:${id}`);
      const entry = ok(await mcp.callTool('get_callback', { id }));
      const want = { id, kind: 'task', task_id: task.task_id, status: entry.body.task.status, received_at: entry.received_at };
      if (entry.body.task.project) want.project = entry.body.task.project;
      assert.deepEqual(log.metadata, want);
      checkExp(log);
      assert.deepEqual(JSON.parse(await w.kv.get(`log:${id}`)), entry);

      // The task's key follows from the body (its fingerprint), and holds the id.
      const t = byName.get(`t:${task.task_id}:${fp}`);
      assert.ok(t, `t:${task.task_id}:${fp}`);
      assert.deepEqual(t.metadata, log.metadata);
      checkExp(t);
      assert.equal(await w.kv.get(t.name), id);
      // Inverted time: newer ids sort first.
      assert.equal(Number(id.slice(0, 13)), 9999999999999 - Date.parse(entry.received_at));
    }
    assert.deepEqual([...ids].sort(), ids, 'ids sort newest first');
    assert.ok(!keys.some((k) => k.name.startsWith('d:')), 'no dedupe markers of their own');
  });
});

// ---------------------------------------------------------------------------
// batches

describe('a batch callback', () => {
  const project = uniq('wp');
  const batch = `wb:1/x ü ${uniq('b')}`;
  let tasks;
  let batchEntry;

  test('completing every task of a batch with callback = webhook logs a batch entry', async () => {
    ok(await mcp.callTool('create_project', { type: 'imageannotation', name: project }));
    const b = ok(await mcp.callTool('create_batch', { project, name: batch, callback: w.webhookUrl }));
    assert.equal(b.callback, w.webhookUrl);
    tasks = [
      await createTask(mcp, { batch }), // with a task callback too
      ok(await mcp.callTool('create_task', { type: 'imageannotation', attachment: 'https://example.com/2.png', batch })),
    ];
    const first = await w.simControl(`tasks/${tasks[0].task_id}/complete`, {});
    assert.equal(first.delivery.status_code, 200);
    assert.equal(first.batch_delivery, null);
    const second = await w.simControl(`tasks/${tasks[1].task_id}/complete`, {});
    assert.equal(second.delivery, null, 'that task has no callback_url');
    assert.equal(second.batch_delivery.status_code, 200, JSON.stringify(second.batch_delivery));

    const list = (await listFor({ batch })).callbacks;
    assert.equal(list.length, 2, JSON.stringify(list));
    batchEntry = list[0];
    assert.equal(batchEntry.kind, 'batch');
    assert.equal(batchEntry.batch, batch);
    assert.equal(batchEntry.status, 'completed');
    assert.equal(batchEntry.task_id, undefined);
    assert.equal(list[1].kind, 'task');
    assert.equal(list[1].task_id, tasks[0].task_id);
    assert.equal(list[1].batch, batch);

    const e = ok(await mcp.callTool('get_callback', { id: batchEntry.id }));
    assert.equal(e.kind, 'batch');
    assert.deepEqual(e.body, { batch, status: 'completed', stats: { completed: 2, canceled: 0, error: 0 } });

    const got = ok(await mcp.callTool('get_batch', { name: batch }));
    assert.equal(got.status, 'completed');
  });

  test('batch filters: by batch and status, by task within a batch, and no prefix matches', async () => {
    assert.equal((await listFor({ batch, status: 'completed' })).callbacks.length, 2);
    assert.deepEqual((await listFor({ batch, status: 'pending' })).callbacks, []);
    assert.deepEqual((await listFor({ task_id: tasks[0].task_id, batch })).callbacks.map((c) => c.kind), ['task']);
    assert.deepEqual((await listFor({ task_id: tasks[0].task_id, batch: 'other' })).callbacks, []);
    assert.deepEqual((await listFor({ batch: 'wb' })).callbacks, []);
    assert.deepEqual((await listFor({ batch: 'wb:1' })).callbacks, []);
    assert.deepEqual((await listFor({ batch: batch.slice(0, -1) })).callbacks, []);
  });

  test('KV layout: b:{encoded batch}:{id} and k:{encoded batch}:{fp} keys; three writes for a task in a batch', async () => {
    const keys = await kvKeys(w);
    const names = new Set(keys.map((k) => k.name));
    const fp = batchEntry.id.split('-')[1];
    const bk = keys.find((k) => k.name === `b:${enc(batch)}:${batchEntry.id}`);
    assert.ok(bk, `b:${enc(batch)}:${batchEntry.id} in ${[...names].filter((n) => n.startsWith('b:')).join(', ')}`);
    assert.deepEqual(bk.metadata, { id: batchEntry.id, kind: 'batch', batch, status: 'completed', received_at: batchEntry.received_at });
    assert.ok(names.has(`log:${batchEntry.id}`));
    assert.ok(names.has(`k:${enc(batch)}:${fp}`));
    assert.equal(await w.kv.get(`k:${enc(batch)}:${fp}`), batchEntry.id);
    // The task callback of a batch task is indexed under both: its three keys.
    const taskEntry = (await listFor({ task_id: tasks[0].task_id })).callbacks[0];
    const taskFp = taskEntry.id.split('-')[1];
    const own = keys.filter((k) => k.metadata?.id === taskEntry.id).map((k) => k.name).sort();
    assert.deepEqual(own, [`b:${enc(batch)}:${taskEntry.id}`, `log:${taskEntry.id}`, `t:${tasks[0].task_id}:${taskFp}`]);
  });
});

test('a delivery larger than the result limit is read back cut, with a note, by get_callback and resources/read', async () => {
  const body = { task_id: uniq('huge'), status: 'completed', response: { blob: 'q"'.repeat(200_000) } };
  const r = await post(w, body);
  assert.equal(r.status, 200, r.text);
  const text = JSON.stringify(body);
  const got = await mcp.callTool('get_callback', { id: r.json.id });
  assert.ok(textOf(got).length <= 200 * 1024, String(textOf(got).length));
  const e = ok(got);
  assert.equal(e.id, r.json.id);
  assert.equal(typeof e.body, 'string');
  assert.ok(text.startsWith(e.body) && e.body.length > 100_000, 'the beginning of the body');
  assert.deepEqual(e.truncated.dropped, ['body']);
  assert.match(e.truncated.how_to_get_full_items, /beginning of the delivery's JSON text/);
  const read = await mcp.readResource(`scale-callback://deliveries/${r.json.id}`);
  assert.ok(read.contents[0].text.length <= 200 * 1024);
  assert.deepEqual(JSON.parse(read.contents[0].text), e);
});

// ---------------------------------------------------------------------------
// DEFAULT_CALLBACK_URL

test('with DEFAULT_CALLBACK_URL, a task created without callback_url reports to the webhook', async () => {
  const t = ok(await dMcp.callTool('create_task', { type: 'categorization', attachment: 'some text', params: { categories: ['a', 'b'] } }));
  assert.equal(t.callback_url, w.webhookUrl);
  const req = (await d.simRequests()).filter((r) => r.method === 'POST' && r.path === '/v1/task/categorization').at(-1);
  assert.equal(req.json.callback_url, w.webhookUrl);
  const done = await d.simControl(`tasks/${t.task_id}/complete`, { response: { category: 'a' } });
  assert.equal(done.delivery.status_code, 200);
  const list = (await listFor({ task_id: t.task_id })).callbacks;
  assert.equal(list.length, 1);
  assert.equal(list[0].status, 'completed');
  const e = ok(await mcp.callTool('get_callback', { id: list[0].id }));
  assert.deepEqual(e.body, taskCallbackBody(done.task));
});

test('with DEFAULT_CALLBACK_URL, a batch created without callback reports to the webhook', async () => {
  const project = uniq('dp');
  ok(await dMcp.callTool('create_project', { type: 'imageannotation', name: project }));
  const name = uniq('db');
  const b = ok(await dMcp.callTool('create_batch', { project, name }));
  assert.equal(b.callback, w.webhookUrl);
  // What Scale received matters, not only what the tool echoes back.
  const req = (await d.simRequests()).filter((r) => r.method === 'POST' && r.path === '/v1/batches').at(-1);
  assert.equal(req.json.name, name);
  assert.equal(req.json.callback, w.webhookUrl);
});

// ---------------------------------------------------------------------------
// refused deliveries

describe('refused deliveries store nothing', () => {
  test('a wrong scale-callback-auth -> 401 (from the simulator and directly)', async () => {
    const before = await kvKeys(w);
    const task = await createTask();
    await w.simControl('config', { callbackAuthKey: 'wrong-callback-key-000000' });
    try {
      const r = await w.simControl(`tasks/${task.task_id}/complete`, {});
      assert.equal(r.delivery.status_code, 401);
    } finally {
      await w.simControl('config', { callbackAuthKey: SECRETS.SCALE_CALLBACK_AUTH_KEY });
    }
    const direct = await post(w, { task_id: task.task_id, status: 'completed', response: {} }, { auth: 'wrong-callback-key-000000' });
    assert.equal(direct.status, 401);
    assert.equal(direct.json.error, 'unauthorized');
    const prefix = await post(w, { task_id: task.task_id, status: 'completed' }, { auth: SECRETS.SCALE_CALLBACK_AUTH_KEY.slice(0, -1) });
    assert.equal(prefix.status, 401);
    assert.deepEqual(await kvKeys(w), before);
    assert.deepEqual((await listFor({ task_id: task.task_id })).callbacks, []);
  });

  test('a missing scale-callback-auth -> 401 (from the simulator and directly)', async () => {
    const before = await kvKeys(w);
    const task = await createTask();
    await w.simControl('config', { callbackAuthKey: null });
    try {
      const r = await w.simControl(`tasks/${task.task_id}/complete`, {});
      assert.equal(r.delivery.status_code, 401);
    } finally {
      await w.simControl('config', { callbackAuthKey: SECRETS.SCALE_CALLBACK_AUTH_KEY });
    }
    const direct = await post(w, { task_id: task.task_id, status: 'completed' }, { auth: null });
    assert.equal(direct.status, 401);
    assert.deepEqual(await kvKeys(w), before);
  });

  test('a body that is not JSON, or not a JSON object -> 400', async () => {
    const before = await kvKeys(w);
    for (const body of ['not json at all', '{"task_id": "abc", ', '[1,2,3]', '"a string"', '']) {
      const r = await post(w, body, { raw: true });
      assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    }
    assert.deepEqual(await kvKeys(w), before);
  });

  test('no SCALE_CALLBACK_AUTH_KEY configured -> 503, nothing stored', async () => {
    const r = await post(noKey, { task_id: 'abc', status: 'completed' });
    assert.equal(r.status, 503);
    assert.equal(r.json.error, 'not_configured');
    const task = await noKey.simControl('seed', { tasks: [{ type: 'imageannotation', attachment: 'https://e.com/i.png', callback_url: noKey.webhookUrl }] });
    const done = await noKey.simControl(`tasks/${task.tasks[0].task_id}/complete`, {});
    assert.equal(done.delivery.status_code, 503);
    assert.deepEqual(await kvKeys(noKey), []);
    // The operator only sees the worker log, so the fix must be spelled out there.
    const hint = await logLine(noKey, /wrangler secret put SCALE_CALLBACK_AUTH_KEY/);
    assert.match(hint, /^POST \/webhooks\/scale -> 503\b/, hint);
  });

  test('a body over WEBHOOK_MAX_BYTES -> 413, nothing stored; a small one is stored', async () => {
    const big = { task_id: 'big', status: 'completed', response: { blob: 'x'.repeat(3000) } };
    const r = await post(small, big);
    assert.equal(r.status, 413);
    assert.equal(r.json.error, 'too_large');

    // Without a Content-Length (streamed, chunked).
    const bytes = new TextEncoder().encode(JSON.stringify(big));
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < bytes.length; i += 500) c.enqueue(bytes.slice(i, i + 500));
        c.close();
      },
    });
    const chunked = await post(small, stream, { raw: true });
    assert.equal(chunked.status, 413);

    // From the simulator: a completed task with a large response.
    const seeded = await small.simControl('seed', { tasks: [{ type: 'imageannotation', attachment: 'https://e.com/i.png', callback_url: small.webhookUrl }] });
    const done = await small.simControl(`tasks/${seeded.tasks[0].task_id}/complete`, { response: { blob: 'y'.repeat(4000) } });
    assert.equal(done.delivery.status_code, 413);
    assert.deepEqual(await kvKeys(small), []);

    // The limit itself is allowed; one byte more is not.
    const sized = (n) => {
      const base = JSON.stringify({ task_id: `edge-${n}`, status: 'completed', pad: '' });
      return JSON.stringify({ task_id: `edge-${n}`, status: 'completed', pad: 'p'.repeat(n - base.length) });
    };
    assert.equal(Buffer.byteLength(sized(2048)), 2048);
    const atLimit = await post(small, sized(2048), { raw: true });
    assert.equal(atLimit.status, 200, atLimit.text);
    const overLimit = await post(small, sized(2049), { raw: true });
    assert.equal(overLimit.status, 413);
    assert.deepEqual((await kvKeys(small, 't:edge-2049:')), []);

    const fine = await post(small, { task_id: 'small', status: 'completed', response: {} });
    assert.equal(fine.status, 200);
    assert.equal(fine.json.stored, true);
    assert.ok((await kvKeys(small)).some((k) => k.name === `log:${fine.json.id}`));
  });

  test('rotation: either of two comma-separated keys is accepted; a third is refused', async () => {
    const stored = [];
    for (const [i, auth] of [OLD_CALLBACK_KEY, SECRETS.SCALE_CALLBACK_AUTH_KEY].entries()) {
      const r = await post(rot, { task_id: `rot-${i}`, status: 'completed', response: {} }, { auth });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.stored, true);
      stored.push(r.json.id);
    }
    const before = await kvKeys(rot);
    for (const id of stored) assert.ok(before.some((k) => k.name === `log:${id}`), `log:${id}`);
    const wrong = await post(rot, { task_id: 'rot-2', status: 'completed', response: {} }, { auth: 'e2e-third-callback-key-000' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, 'unauthorized');
    // The whole list, or one key with its comma, is not a key either.
    for (const auth of [`${OLD_CALLBACK_KEY},${SECRETS.SCALE_CALLBACK_AUTH_KEY}`, `${OLD_CALLBACK_KEY},`]) {
      assert.equal((await post(rot, { task_id: 'rot-3', status: 'completed' }, { auth })).status, 401, auth);
    }
    assert.deepEqual(await kvKeys(rot), before, 'refused deliveries stored nothing');
  });

  test('without the CALLBACKS binding: 503 so Scale retries, and the log tools say why', async () => {
    const r = await post(noKv, { task_id: 'abc', status: 'completed' });
    assert.equal(r.status, 503);
    const m = await connect(noKv);
    try {
      assert.match(fails(await m.callTool('list_callbacks', {})), /CALLBACKS/);
      assert.match(fails(await m.callTool('get_callback', { id: 'x' })), /CALLBACKS/);
    } finally {
      await m.close();
    }
  });
});
