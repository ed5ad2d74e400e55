// MCP tasks end to end: wait_for_task and wait_for_batch as durable task
// handles, in workerd against the simulator, on both protocol eras. The
// official requester library (@modelcontextprotocol/ext-tasks) drives them
// as a task-aware client would (2025-11-25's `tasks` utility, and
// 2026-07-28 with the io.modelcontextprotocol/tasks extension, framed by a
// rawDispatch on plain fetch); the rest is raw wire, one test per row of
// the table and per error.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createTaskSessionFromClient, resultFromTaskOutcome, JsonRpcResponseError } from '@modelcontextprotocol/ext-tasks/client';
import { startStack, rpc, SECRETS } from './harness.mjs';
import { closeAll } from './client.mjs';

const V1 = '2025-11-25';
const V2 = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';
const ENDPOINT = 'scale-mcp-e2e';
const OTHER = 'e2e-other-token-5d6e7f8a9b0c';
const PROJECT = 'tasks-p';
const NOT_FOUND = 'Failed to retrieve task: Task not found.';

let stack; // tasks on (the OAuth store's generated key), polls every 100 ms at first
let tight; // SUBREQUEST_LIMIT 2: a tasks/result wait ends after two reads
let off; // no OAuth store and no OAUTH_SECRET: no server key, so no tasks
const sessions = [];

before(async () => {
  [stack, tight, off] = await Promise.all([
    startStack({ vars: { MCP_AUTH_TOKEN: `${OTHER},${SECRETS.MCP_AUTH_TOKEN}`, TASK_POLL_MS: '100' } }),
    startStack({ vars: { SUBREQUEST_LIMIT: '2', OAUTH_SECRET: 'e2e-task-secret-0123456789abcdef0123' } }),
    startStack({ oauth: false }),
  ]);
  for (const s of [stack, tight, off]) await s.simControl('seed', { projects: [{ name: PROJECT, type: 'imageannotation' }] });
});

after(async () => {
  for (const s of sessions) await s.close().catch(() => {});
  await closeAll([stack, tight, off]);
});

let n = 0;
/** A pending Scale task (in `batch` when given). */
async function newTask(s = stack, batch) {
  const body = { type: 'imageannotation', project: PROJECT, attachment: `https://img.example/${++n}.png`, ...(batch && { batch }) };
  return (await s.simControl('seed', { tasks: [body] })).tasks[0].task_id;
}

/** A batch with `count` pending tasks. */
async function newBatch(count, s = stack) {
  const name = `tasks-b-${++n}`;
  await s.simControl('seed', { batches: [{ project: PROJECT, name }] });
  for (let i = 0; i < count; i++) await newTask(s, name);
  return name;
}

const auth = (token) => ({ Authorization: `Bearer ${token}` });

/** JSON-RPC on 2025-11-25 (or `version`). */
async function v1(method, params = {}, { s = stack, token = s.token, version = V1, headers = {} } = {}) {
  return rpc(s, { jsonrpc: '2.0', id: 1, method, params }, { token, headers: { 'mcp-protocol-version': version, ...headers } });
}

/** JSON-RPC on 2026-07-28, declaring the tasks extension unless `ext` is false. */
async function v2(method, params = {}, { s = stack, token = s.token, ext = true, name, headers = {} } = {}) {
  const h = { 'mcp-protocol-version': V2, 'mcp-method': method, ...headers };
  const named = name !== undefined ? name : (params.taskId ?? params.name);
  if (named !== undefined && named !== null) h['mcp-name'] = named;
  const caps = ext ? { extensions: { [EXT]: {} } } : {};
  const body = { jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': V2, 'io.modelcontextprotocol/clientCapabilities': caps } } };
  return rpc(s, body, { token, headers: h });
}

/** A wait tool's blocking answer now, for comparison with a task's result. */
async function blocking(tool, args, s = stack) {
  const r = await v1('tools/call', { name: tool, arguments: args }, { s });
  assert.ok(r.json.result, JSON.stringify(r.json));
  return r.json.result;
}

/** What a wait's result says, without what counts the waiting itself. */
function work(result) {
  const { waited_s, polls, ...rest } = result.structuredContent;
  assert.equal(typeof waited_s, 'number');
  assert.ok(Number.isInteger(polls) && polls >= 1);
  assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
  return rest;
}

// ---------------------------------------------------------------------------
// The requester library

async function sessionV1(token = stack.token) {
  const client = new Client({ name: 'e2e-tasks-v1', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl), { requestInit: { headers: auth(token) } }));
  assert.equal(client.getProtocolEra(), 'legacy');
  const session = createTaskSessionFromClient(client, { endpointId: ENDPOINT });
  const s = { client, session, close: async () => { await session.close(); await client.close(); } };
  sessions.push(s);
  return s;
}

function rawDispatchOn(url, token) {
  let id = 0;
  return async (request, options = {}) => {
    const body = { jsonrpc: '2.0', id: `ext-tasks-${++id}`, ...request };
    const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V2, 'mcp-method': request.method, ...auth(token) };
    if (request.method === 'tools/call') h['mcp-name'] = request.params.name;
    Object.assign(h, options.context?.headers ?? {});
    const res = await fetch(url, { method: 'POST', headers: h, body: JSON.stringify(body), signal: options.signal });
    const text = await res.text();
    const msg = (res.headers.get('content-type') ?? '').includes('text/event-stream')
      ? text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5))).find((m) => m.id === body.id)
      : JSON.parse(text);
    if (msg?.error) return { kind: 'error', error: msg.error };
    if (msg && 'result' in msg) return { kind: 'result', result: msg.result };
    throw new Error(`HTTP ${res.status}: no JSON-RPC answer`);
  };
}

async function sessionV2(token = stack.token) {
  const clientInfo = { name: 'e2e-tasks-v2', version: '1.0.0' };
  const client = new Client(clientInfo, { versionNegotiation: { mode: { pin: V2 } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl), { requestInit: { headers: auth(token) } }));
  assert.equal(client.getProtocolEra(), 'modern');
  const session = createTaskSessionFromClient(client, {
    endpointId: ENDPOINT,
    rawDispatch: rawDispatchOn(stack.mcpUrl, token),
    v2RequestFraming: { protocolVersion: V2, clientInfo, clientCapabilities: {} },
  });
  const s = { client, session, close: async () => { await session.close(); await client.close(); } };
  sessions.push(s);
  return s;
}

const sessionOf = { v1: sessionV1, v2: sessionV2 };
const asTask = { v1: { task: { preference: 'prefer' } }, v2: {} };

describe('the requester library, on both eras', () => {
  for (const era of ['v1', 'v2']) {
    test(`${era}: a pending task's handle at once; the simulator completes it; the result is wait_for_task's`, async () => {
      const id = await newTask();
      const { session } = await sessionOf[era]();
      const ex = await session.callTool('wait_for_task', { task_id: id }, asTask[era]);
      assert.equal(ex.kind, 'task');
      assert.match(ex.handle.taskId, /^[A-Za-z0-9_-]+$/);
      assert.ok(!ex.handle.taskId.includes(id), 'the id does not show the Scale task');
      await stack.simControl(`tasks/${id}/complete`, { afterMs: 600, response: { label: 'cat' } });
      const { outcome } = await ex.settle();
      const result = resultFromTaskOutcome(outcome);
      assert.ok(!result.isError);
      const now = await blocking('wait_for_task', { task_id: id });
      assert.deepEqual(work(result), work(now));
      assert.equal(result.structuredContent.status, 'completed');
      assert.deepEqual(result.structuredContent.task.response, { label: 'cat' });
      assert.ok(result.structuredContent.waited_s >= 0.5, 'waited_s counts from the handle');
      assert.deepEqual(result._meta['scale-mcp/untrusted'], now._meta['scale-mcp/untrusted']);
      if (era === 'v1') assert.equal(result._meta['io.modelcontextprotocol/related-task'].taskId, ex.handle.taskId);
      else assert.equal(result._meta['io.modelcontextprotocol/related-task'], undefined);
    });

    test(`${era}: a batch, completed task by task, gives wait_for_batch's result`, async () => {
      const name = await newBatch(3);
      const { session } = await sessionOf[era]();
      const ex = await session.callTool('wait_for_batch', { name }, asTask[era]);
      assert.equal(ex.kind, 'task');
      await stack.simControl(`batches/${encodeURIComponent(name)}/complete`, { afterMs: 300, everyMs: 200 });
      const result = resultFromTaskOutcome((await ex.settle()).outcome);
      assert.deepEqual(work(result), work(await blocking('wait_for_batch', { name })));
      assert.deepEqual(result.structuredContent.progress, { pending: 0, completed: 3, error: 0, canceled: 0, total: 3 });
    });

    test(`${era}: a Scale task that ended in error is completed, with the blocking tool's result`, async () => {
      const id = await newTask();
      await stack.simControl(`tasks/${id}/complete`, { status: 'error' });
      const { session } = await sessionOf[era]();
      const ex = await session.callTool('wait_for_task', { task_id: id }, asTask[era]);
      assert.equal(ex.kind, 'task', 'a handle even for finished work');
      const { outcome } = await ex.settle();
      assert.equal(outcome.status, 'completed');
      const result = resultFromTaskOutcome(outcome);
      assert.equal(result.isError, undefined);
      assert.deepEqual(work(result), work(await blocking('wait_for_task', { task_id: id })));
      assert.equal(result.structuredContent.status, 'error');
    });

    test(`${era}: a serialized handle resumes in a new client; another token's is refused like a made-up id`, async () => {
      const id = await newTask();
      const a = await sessionOf[era]();
      const ex = await a.session.callTool('wait_for_task', { task_id: id }, asTask[era]);
      let saved;
      await ex.handoff((ref) => { saved = JSON.stringify(ref); });
      await a.close();

      const b = await sessionOf[era]();
      const resumed = await b.session.resumeTask(JSON.parse(saved));
      await stack.simControl(`tasks/${id}/complete`, { afterMs: 200 });
      const result = resultFromTaskOutcome((await resumed.settle()).outcome);
      assert.deepEqual(work(result), work(await blocking('wait_for_task', { task_id: id })));

      const other = await sessionOf[era](OTHER);
      await assert.rejects(other.session.resumeTask(JSON.parse(saved)), (e) => e instanceof JsonRpcResponseError && e.code === -32602 && e.message.includes(NOT_FOUND));
    });
  }

  test('without preference, 2025-11-25 calls the optional tool as before (blocking)', async () => {
    const id = await newTask();
    await stack.simControl(`tasks/${id}/complete`, {});
    const { session } = await sessionV1();
    const ex = await session.callTool('wait_for_task', { task_id: id });
    assert.equal(ex.kind, 'immediate');
  });
});

// ---------------------------------------------------------------------------
// The wire, row by row

describe('negotiation', () => {
  test('2025-11-25 initialize declares tasks.requests.tools.call only; older versions and discover do not', async () => {
    const init = (version, s = stack) => v1('initialize', { protocolVersion: version, capabilities: {}, clientInfo: { name: 'x', version: '1' } }, { s, version: undefined });
    assert.deepEqual((await init(V1)).json.result.capabilities.tasks, { requests: { tools: { call: {} } } });
    for (const old of ['2025-06-18', '2025-03-26', '2024-11-05']) assert.equal((await init(old)).json.result.capabilities.tasks, undefined, old);
    const d = (await v2('server/discover', {}, { ext: false })).json.result;
    // Beside the annotation view's extension (mcp-http.test.mjs checks that one).
    assert.deepEqual(d.capabilities.extensions[EXT], {});
    assert.equal(d.capabilities.tasks, undefined, 'no 2025-11-25 slot on discover');
    // Without a server key: none of it.
    assert.equal((await init(V1, off)).json.result.capabilities.tasks, undefined);
    assert.equal((await v2('server/discover', {}, { s: off, ext: false })).json.result.capabilities.extensions[EXT], undefined);
  });

  test('tools/list: execution.taskSupport on the two waits (and create_tasks, jobs being on), on 2025-11-25 only', async () => {
    const marked = async (fn, opts) => (await fn('tools/list', {}, opts)).json.result.tools.filter((t) => t.execution).map((t) => [t.name, t.execution]);
    assert.deepEqual(await marked(v1), [['create_tasks', { taskSupport: 'optional' }], ['wait_for_task', { taskSupport: 'optional' }], ['wait_for_batch', { taskSupport: 'optional' }]]);
    assert.deepEqual(await marked(v1, { version: '2025-06-18' }), []);
    assert.deepEqual(await marked(v2), []);
    assert.deepEqual(await marked(v1, { s: off }), []);
  });
});

describe('2025-11-25 (V1)', () => {
  test('a handle: working, ttl, pollInterval, a sentence for the model; tasks/get is status only; tasks/result the result', async () => {
    const id = await newTask();
    const made = (await v1('tools/call', { name: 'wait_for_task', arguments: { task_id: id }, task: {} })).json.result;
    const t = made.task;
    assert.equal(t.status, 'working');
    assert.match(t.statusMessage, /^Waiting for labelers since \d\d:\d\d UTC\.$/);
    assert.equal(t.ttl, 30 * 86_400_000);
    assert.equal(t.pollInterval, 100);
    assert.match(t.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    assert.equal(t.lastUpdatedAt, t.createdAt);
    assert.match(made._meta['io.modelcontextprotocol/model-immediate-response'], /^Scale task .* is now followed as a task/);
    assert.equal(made.structuredContent, undefined);

    const got = (await v1('tasks/get', { taskId: t.taskId })).json.result;
    assert.equal(got.status, 'working');
    assert.equal(got.taskId, t.taskId);
    assert.equal(got.result, undefined);
    // Read from the 2026-07-28 lane too: the id is an authenticated pointer.
    assert.equal((await v2('tasks/get', { taskId: t.taskId })).json.result.status, 'working');

    await stack.simControl(`tasks/${id}/complete`, {});
    const done = (await v1('tasks/get', { taskId: t.taskId })).json.result;
    assert.equal(done.status, 'completed');
    assert.equal(done.statusMessage, 'The task is completed; its labels are in the result.');
    const r = (await v1('tasks/result', { taskId: t.taskId })).json.result;
    assert.equal(r._meta['io.modelcontextprotocol/related-task'].taskId, t.taskId);
    assert.deepEqual(work(r), work(await blocking('wait_for_task', { task_id: id })));
    // The look left the wait tool's audit line, naming the method.
    const audit = stack.logs.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter((l) => l?.event === 'tool_call' && l.via);
    for (const via of ['tools/call', 'tasks/get', 'tasks/result']) assert.ok(audit.some((l) => l.tool === 'wait_for_task' && l.via === via && l.outcome === 'ok'), via);
  });

  test('work already done still begins working, with a short poll; the first tasks/get says completed', async () => {
    const id = await newTask();
    await stack.simControl(`tasks/${id}/complete`, {});
    const t = (await v1('tools/call', { name: 'wait_for_task', arguments: { task_id: id }, task: { ttl: 120000 } })).json.result.task;
    assert.equal(t.status, 'working');
    assert.match(t.statusMessage, /^Scale's work is already done\. /);
    assert.ok(t.pollInterval <= 1000);
    assert.equal(t.ttl, 120000);
    assert.equal((await v1('tasks/get', { taskId: t.taskId })).json.result.status, 'completed');
  });

  test('tasks/result on working work waits as wait_for_task does, then says to keep polling', async () => {
    const id = await newTask(tight);
    const t = (await v1('tools/call', { name: 'wait_for_task', arguments: { task_id: id }, task: {} }, { s: tight })).json.result.task;
    const r = await v1('tasks/result', { taskId: t.taskId }, { s: tight });
    assert.equal(r.json.error.code, -32603);
    assert.match(r.json.error.message, /^The task is still working after this request waited \d+ s \(Waiting for labelers since .*\)\. Keep polling tasks\/get every \d+ ms/);
  });

  test('params.task on a tool that is not a task: -32601; on older versions it is ignored', async () => {
    const id = await newTask();
    const e = (await v1('tools/call', { name: 'get_task', arguments: { task_id: id }, task: {} })).json.error;
    assert.equal(e.code, -32601);
    assert.match(e.message, /^get_task does not run as a task: call it without params\.task/);
    const old = (await v1('tools/call', { name: 'get_task', arguments: { task_id: id }, task: {} }, { version: '2025-06-18' })).json.result;
    assert.equal(old.structuredContent.task_id, id);
    await stack.simControl(`tasks/${id}/complete`, {});
    const waited = (await v1('tools/call', { name: 'wait_for_task', arguments: { task_id: id }, task: {} }, { version: '2025-06-18' })).json.result;
    assert.equal(waited.structuredContent.done, true);
    // The 2026-07-28 declaration means nothing on this lane either.
    const meta = { _meta: { 'io.modelcontextprotocol/clientCapabilities': { extensions: { [EXT]: {} } } } };
    assert.equal((await v1('tools/call', { name: 'wait_for_task', arguments: { task_id: id }, ...meta })).json.result.structuredContent.done, true);
  });

  test('no tasks/list, tasks/cancel or tasks/update; no tasks at all on older versions or without a server key', async () => {
    for (const m of ['tasks/list', 'tasks/cancel', 'tasks/update']) {
      const e = (await v1(m, { taskId: 'x' })).json.error;
      assert.equal(e.code, -32601, m);
    }
    assert.match((await v1('tasks/list')).json.error.message, /^tasks\/list is not supported: this server keeps no list of tasks/);
    assert.equal((await v1('tasks/get', { taskId: 'x' }, { version: '2025-06-18' })).json.error.code, -32601);
    assert.equal((await v1('tasks/get', { taskId: 'x' }, { s: off })).json.error.code, -32601);
    const id = await newTask(off);
    await off.simControl(`tasks/${id}/complete`, {});
    const r = (await v1('tools/call', { name: 'wait_for_task', arguments: { task_id: id }, task: {} }, { s: off })).json.result;
    assert.equal(r.structuredContent.done, true, 'blocking, as before');
  });

  test('creation: a task that is not there is the blocking tool\'s own -32602; Scale busy is -32603 to retry', async () => {
    const e = (await v1('tools/call', { name: 'wait_for_task', arguments: { task_id: 'no-such-task' }, task: {} })).json.error;
    assert.equal(e.code, -32602);
    assert.match(e.message, /^Scale returned 404 Not Found for GET \/task\/no-such-task/);
    const id = await newTask();
    await stack.simControl('faults', { method: 'GET', path: `/v1/task/${id}`, status: 503, times: 10 });
    const busy = (await v1('tools/call', { name: 'wait_for_task', arguments: { task_id: id }, task: {} })).json.error;
    await fetch(`${stack.sim.url}/__sim/faults`, { method: 'DELETE' });
    assert.equal(busy.code, -32603);
    assert.match(busy.message, /503[\s\S]*No task was made; try again after \d+ s\.$/);
  });
});

describe('2026-07-28 with the extension (V2)', () => {
  test('a flat handle; tasks/get inlines the modern result once completed; cancel and update are acknowledged', async () => {
    const name = await newBatch(2);
    const made = (await v2('tools/call', { name: 'wait_for_batch', arguments: { name } })).json.result;
    assert.equal(made.resultType, 'task');
    assert.equal(made.status, 'working');
    assert.equal(made.statusMessage, '0 of 2 tasks done.');
    assert.equal(made.ttlMs, 30 * 86_400_000);
    assert.equal(made.pollIntervalMs, 100);
    for (const k of ['task', 'ttl', 'pollInterval', 'result', 'error', 'inputRequests', 'requestState']) assert.equal(made[k], undefined, k);
    assert.equal(made._meta['io.modelcontextprotocol/serverInfo'].name, 'scale-mcp-worker');
    const taskId = made.taskId;

    const working = (await v2('tasks/get', { taskId })).json.result;
    assert.equal(working.resultType, 'complete');
    assert.equal(working.status, 'working');
    assert.equal(working.result, undefined);
    await stack.simControl(`batches/${name}/complete`, { count: 1 });
    assert.equal((await v2('tasks/get', { taskId })).json.result.statusMessage, '1 of 2 tasks done.');

    for (const [m, p] of [['tasks/cancel', { taskId }], ['tasks/update', { taskId, inputResponses: { 'unknown-key': { ignored: true } } }]]) {
      const ack = (await v2(m, p)).json.result;
      assert.equal(ack.resultType, 'complete', m);
      for (const k of ['taskId', 'status', 'result', 'error', 'inputRequests']) assert.equal(ack[k], undefined, `${m} ${k}`);
    }
    assert.equal((await v2('tasks/update', { taskId })).json.error.code, -32602, 'inputResponses is required');

    await stack.simControl(`batches/${name}/complete`, {});
    const done = (await v2('tasks/get', { taskId })).json.result;
    assert.equal(done.status, 'completed');
    assert.equal(done.result.resultType, 'complete');
    assert.equal(done.result._meta['io.modelcontextprotocol/related-task'], undefined);
    assert.deepEqual(work(done.result), work(await blocking('wait_for_batch', { name })));
    // Still acknowledged once terminal; the V1 lane reads the same id.
    assert.equal((await v2('tasks/cancel', { taskId })).json.result.resultType, 'complete');
    assert.equal((await v1('tasks/get', { taskId })).json.result.status, 'completed');
  });

  test('finished work may seed a terminal status; a missing task is the immediate isError result', async () => {
    const id = await newTask();
    await stack.simControl(`tasks/${id}/complete`, { status: 'error' });
    const made = (await v2('tools/call', { name: 'wait_for_task', arguments: { task_id: id } })).json.result;
    assert.equal(made.status, 'completed');
    const r = (await v2('tools/call', { name: 'wait_for_task', arguments: { task_id: 'no-such-task' } })).json.result;
    assert.equal(r.resultType, 'complete');
    assert.equal(r.isError, true);
    assert.match(r.content[0].text, /^Scale returned 404 Not Found/);
  });

  test('without the extension: tools/call blocks as before (the legacy task param ignored); tasks/* is -32021', async () => {
    const id = await newTask();
    await stack.simControl(`tasks/${id}/complete`, {});
    const r = (await v2('tools/call', { name: 'wait_for_task', arguments: { task_id: id }, task: { ttl: 60000 } }, { ext: false })).json.result;
    assert.equal(r.taskId, undefined);
    assert.equal(r.structuredContent.done, true);
    // The legacy param with the extension declared changes nothing either.
    assert.equal((await v2('tools/call', { name: 'get_task', arguments: { task_id: id }, task: {} })).json.result.structuredContent.task_id, id);
    for (const m of ['tasks/get', 'tasks/update', 'tasks/cancel']) {
      const res = await v2(m, { taskId: 'gate-test', inputResponses: {} }, { ext: false });
      assert.equal(res.status, 400, m);
      assert.equal(res.json.error.code, -32021, m);
      assert.deepEqual(res.json.error.data, { requiredCapabilities: { extensions: { [EXT]: {} } } });
      assert.match(res.json.error.message, new RegExp(`^${m} needs the io\\.modelcontextprotocol/tasks extension declared`));
    }
  });

  test('tasks/result and tasks/list do not exist: -32601 with HTTP 404', async () => {
    for (const m of ['tasks/result', 'tasks/list']) {
      const res = await v2(m, { taskId: 'x' });
      assert.equal(res.status, 404, m);
      assert.equal(res.json.error.code, -32601, m);
    }
  });

  test('Mcp-Name must be the taskId: -32020', async () => {
    for (const name of ['another-id', null]) {
      const res = await v2('tasks/get', { taskId: 'abc' }, { name });
      assert.equal(res.status, 400);
      assert.equal(res.json.error.code, -32020);
    }
  });
});

describe('ids that are not the caller\'s, and polls Scale cannot answer', () => {
  test('made-up, tampered, another token\'s, a narrower connection\'s, another path\'s: one not-found for all', async () => {
    const id = await newTask();
    const { taskId } = (await v2('tools/call', { name: 'wait_for_task', arguments: { task_id: id } })).json.result;
    const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const before = (await stack.simRequests()).length;
    const cases = [
      ['made up', { taskId: 'tasks-conformance-nonexistent-12345' }, {}],
      ['tampered', { taskId: flip(taskId, taskId.length - 3) }, {}],
      ['tampered early', { taskId: flip(taskId, 20) }, {}],
      ['another token', { taskId }, { token: OTHER }],
    ];
    const seen = new Set();
    for (const [what, params, opts] of cases) {
      for (const call of [v1, v2]) {
        const e = (await call('tasks/get', params, opts)).json.error;
        assert.equal(e.code, -32602, what);
        seen.add(e.message);
      }
    }
    assert.equal((await stack.simRequests()).length, before, 'none reached Scale');
    // A connection that cannot call wait_for_task (a narrower view) or came to another path.
    const narrower = (await v2('tasks/get', { taskId }, { headers: { 'x-mcp-exclude-tools': 'wait_for_task' } })).json.error;
    seen.add(narrower.message);
    const ro = await fetch(`${stack.mcpUrl}/readonly`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': V1 },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { taskId } }),
    });
    seen.add((await ro.json()).error.message);
    assert.deepEqual([...seen], [`${NOT_FOUND} A taskId works only for the caller and the MCP URL that made it, until its ttl runs out.`]);
    // The maker still reads it.
    assert.equal((await v2('tasks/get', { taskId })).json.result.status, 'working');
  });

  test('Scale 429 during a poll is -32603 "try again", and changes nothing', async () => {
    const id = await newTask();
    const { taskId } = (await v2('tools/call', { name: 'wait_for_task', arguments: { task_id: id } })).json.result;
    await stack.simControl('faults', { method: 'GET', path: `/v1/task/${id}`, status: 429, retryAfter: 1, times: 10 });
    const e = (await v2('tasks/get', { taskId })).json.error;
    await fetch(`${stack.sim.url}/__sim/faults`, { method: 'DELETE' });
    assert.equal(e.code, -32603);
    assert.match(e.message, /429[\s\S]*The task is unchanged; try again after \d+ s\.$/);
    assert.equal((await v2('tasks/get', { taskId })).json.result.status, 'working');
  });
});
