// Work longer than one call, end to end: create_tasks, wait_for_task and
// wait_for_batch in workerd against the simulator, driven by real MCP
// clients that ask for progress (TS SDK 2.x `onprogress` in both protocol
// lanes, the Python SDK's progress callback), so the streamed SSE answers
// and their notifications/progress are what the clients really received.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startStack } from './harness.mjs';
import { textOf, logMark, closeAll } from './client.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const PROJECT = 'long-p';
const RAPID = 'long-rapid';

let big; // SUBREQUEST_LIMIT 1000, every create held 50 ms by the simulator
let small; // the default SUBREQUEST_LIMIT (50)
const clients = [];

before(async () => {
  [big, small] = await Promise.all([
    startStack({ vars: { SUBREQUEST_LIMIT: '1000' }, sim: { latency: [{ method: 'POST', pattern: 'task/*', ms: 50 }] } }),
    startStack(),
  ]);
  for (const s of [big, small]) {
    await s.simControl('seed', { projects: [{ name: PROJECT, type: 'imageannotation' }, { name: RAPID, type: 'imageannotation', rapid: true }] });
  }
});

after(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await closeAll([big, small]);
});

/** A TS SDK 2.x client on the legacy lane (its default) or pinned to 2026-07-28. */
async function client(stack, lane) {
  const opts = lane === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {};
  const c = new Client({ name: `e2e-long-${lane}`, version: '1.0.0' }, opts);
  await c.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${stack.token}` } } }));
  assert.equal(c.getProtocolEra(), lane);
  await c.listTools(); // so the client checks structuredContent against the output schemas
  clients.push(c);
  return c;
}

/** tools/call with onprogress: the result, every notification with its arrival time, and the call's time. */
async function withProgress(c, name, args) {
  const events = [];
  const t0 = Date.now();
  const result = await c.callTool({ name, arguments: args }, { onprogress: (p) => events.push({ ...p, at: Date.now() - t0 }), timeout: 120_000 });
  return { result, events, ms: Date.now() - t0 };
}

function ok(result) {
  assert.ok(!result.isError, `expected success, got: ${textOf(result)}`);
  assert.deepEqual(JSON.parse(textOf(result)), result.structuredContent);
  return result.structuredContent;
}

/** Seconds waited at each poll: 0, 0.5, 1.5 and 2 (the deadline), each a little late on a busy machine. */
function assertPolledAt(values) {
  assert.equal(values.length, 4, JSON.stringify(values));
  [0, 0.5, 1.5, 2].forEach((want, i) => assert.ok(values[i] >= want && values[i] < want + 0.5, JSON.stringify(values)));
}

/** Progress values must grow from one notification to the next. */
function assertGrowing(events) {
  for (let i = 1; i < events.length; i++) assert.ok(events[i].progress > events[i - 1].progress, `progress went from ${events[i - 1].progress} to ${events[i].progress}`);
}

const images = (n, tag) => Array.from({ length: n }, (_, i) => ({ attachment: `https://img.example/${tag}/${i}.jpg`, metadata: { tag, i } }));
const simTasks = (stack, tag) => [...stack.sim.state.tasks.values()].filter((t) => t.metadata?.tag === tag);
const stats = (stack) => stack.simControl('stats', undefined, 'GET');

describe('create_tasks', () => {
  test('100 tasks in one call (limit raised): each once in Scale, never more than 6 requests open, progress in order', async () => {
    const c = await client(big, 'modern');
    await big.simControl('stats', undefined, 'DELETE');
    const args = { type: 'imageannotation', project: PROJECT, idempotency_key: 'e2e-100', items: images(100, 'hundred') };
    const { result, events } = await withProgress(c, 'create_tasks', args);
    const s = ok(result);
    assert.deepEqual([s.complete, s.total, s.created, s.already_existed, s.failed, s.not_done], [true, 100, 100, 0, 0, 0]);
    assert.equal(s.items.length, 100);
    const tasks = simTasks(big, 'hundred');
    assert.equal(tasks.length, 100, 'every item created exactly once');
    assert.deepEqual(tasks.map((t) => t.metadata.i).sort((a, b) => a - b), [...Array(100).keys()]);
    assert.deepEqual(new Set(tasks.map((t) => t.unique_id)), new Set(s.items.map((i) => i.unique_id)));
    for (const item of s.items) assert.equal(big.sim.state.tasks.get(item.task_id)?.metadata.i, item.index);
    const st = await stats(big);
    assert.equal(st.requests, 101, 'one lookup and 100 creates');
    assert.equal(st.max_in_flight, 6, 'six creates at a time, never more');
    // Notifications: the lookup's (0 exist), then one per task, in order.
    assert.equal(events.length, 101);
    assertGrowing(events);
    assert.deepEqual([events[0].progress, events.at(-1).progress, events.at(-1).total], [0, 100, 100]);
    assert.match(events.at(-1).message, /^item \d+: created$/);
    // The request's log line, written when the stream ended, and the call's one audit line with its counts.
    assert.ok(big.logs.some((l) => /^POST \/mcp -> 200 \(streamed\) in \d+ ms$/.test(l)), big.logs.slice(-3).join('\n'));
    const audit = big.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((a) => a.tool === 'create_tasks');
    assert.deepEqual(audit.at(-1).items, { total: 100, created: 100, already_existed: 0, failed: 0, not_done: 0 });
    assert.equal(audit.at(-1).outcome, 'ok');
  });

  test('the same call again: 100 already existed, nothing created, one lookup (legacy lane)', async () => {
    const c = await client(big, 'legacy');
    const mark = await logMark(big);
    const args = { type: 'imageannotation', project: PROJECT, idempotency_key: 'e2e-100', items: images(100, 'hundred').reverse() };
    const { result, events } = await withProgress(c, 'create_tasks', args);
    const s = ok(result);
    assert.deepEqual([s.complete, s.created, s.already_existed], [true, 0, 100]);
    assert.ok(s.items.every((i) => i.outcome === 'already_existed' && i.task_status === 'pending'));
    const reqs = await mark.since();
    assert.deepEqual(reqs.map((r) => `${r.method} ${r.path}`), ['GET /v1/tasks']);
    assert.equal(simTasks(big, 'hundred').length, 100);
    assert.deepEqual(events.map((e) => [e.progress, e.total]), [[100, 100]]);
  });

  test('at the default limit of 50 the call stops cleanly, and the same call completes the rest', async () => {
    const c = await client(small, 'legacy');
    const args = { type: 'imageannotation', project: PROJECT, idempotency_key: 'e2e-80', items: images(80, 'eighty') };
    let mark = await logMark(small);
    const first = ok(await c.callTool({ name: 'create_tasks', arguments: args }));
    assert.deepEqual([first.complete, first.created, first.not_done, first.failed], [false, 49, 31, 0]);
    assert.match(first.next_step, /31 of 80 items not done: this request may make at most 50 Scale requests \(SUBREQUEST_LIMIT\)/);
    assert.match(first.next_step, /Call create_tasks again with the same arguments/);
    assert.equal((await mark.since()).length, 50, 'exactly the limit');
    assert.equal(simTasks(small, 'eighty').length, 49);
    mark = await logMark(small);
    const second = ok(await c.callTool({ name: 'create_tasks', arguments: args }));
    assert.deepEqual([second.complete, second.already_existed, second.created, second.not_done], [true, 49, 31, 0]);
    assert.equal((await mark.since()).length, 32, 'one lookup and the 31 creates left');
    assert.equal(simTasks(small, 'eighty').length, 80, 'each task once');
  });

  test('a fault on item 37: 99 created and one clear failure', async () => {
    const c = await client(big, 'modern');
    const items = images(100, 'fault').map((it, i) => ({ ...it, unique_id: `fault-${i}` }));
    await big.simControl('faults', { method: 'POST', pattern: 'task/*', bodyMatch: { unique_id: 'fault-37' }, status: 400, body: { status_code: 400, error: 'Could not download the attachment' } });
    const s = ok(await c.callTool({ name: 'create_tasks', arguments: { type: 'imageannotation', project: PROJECT, items } }));
    assert.deepEqual([s.complete, s.created, s.failed, s.not_done], [false, 99, 1, 0]);
    const bad = s.items[37];
    assert.deepEqual([bad.outcome, bad.unique_id, bad.scale_status], ['failed', 'fault-37', 400]);
    assert.match(bad.error, /^Scale returned 400 Bad Request for POST \/task\/imageannotation: Could not download the attachment/);
    assert.match(s.next_step, /^1 items failed/);
    assert.equal(simTasks(big, 'fault').length, 99);
    // Fixed (the fault is spent), the same call creates the one left.
    const again = ok(await c.callTool({ name: 'create_tasks', arguments: { type: 'imageannotation', project: PROJECT, items } }));
    assert.deepEqual([again.complete, again.created, again.already_existed], [true, 1, 99]);
  });

  test('an invalid item refuses the whole call, naming it, and sends nothing', async () => {
    const c = await client(small, 'modern');
    const items = images(10, 'invalid');
    items[7] = { attachment: 'https://img.example/x.jpg', colour: 'red' };
    const mark = await logMark(small);
    const r = await c.callTool({ name: 'create_tasks', arguments: { type: 'imageannotation', project: PROJECT, idempotency_key: 'x', items } });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /^Invalid arguments for create_tasks: in `items\[7\]`: unknown argument `colour`/);
    assert.deepEqual(await mark.since(), []);
  });
});

describe('wait_for_task', () => {
  async function newTask(c, stack, tag) {
    const r = ok(await c.callTool({ name: 'create_task', arguments: { type: 'imageannotation', project: PROJECT, attachment: `https://img.example/${tag}.jpg`, callback_url: stack.webhookUrl } }));
    return r.task_id;
  }

  test('returns soon after Scale completes the task and its callback arrives, with progress streamed meanwhile (modern lane)', async () => {
    const c = await client(big, 'modern');
    const id = await newTask(c, big, 'wait-done');
    await big.simControl(`tasks/${id}/complete`, { afterMs: 1500, response: { label: 'cat' } });
    const { result, events, ms } = await withProgress(c, 'wait_for_task', { task_id: id, timeout_s: 20 });
    const s = ok(result);
    assert.deepEqual([s.status, s.done], ['completed', true]);
    assert.deepEqual(s.task.response, { label: 'cat' });
    assert.match(s.next_step, /task\.response/);
    assert.ok(ms >= 1400 && ms < 4500, `returned after ${ms} ms`);
    // Streamed, not buffered: the first notification came long before the result.
    assert.ok(events.length >= 2, JSON.stringify(events));
    assert.ok(events[0].at < 1000, `first progress after ${events[0].at} ms`);
    assertGrowing(events);
    assert.match(events[0].message, new RegExp(`^task ${id}: still pending after`));
    // The callback reached the worker's log too.
    const cb = ok(await c.callTool({ name: 'list_callbacks', arguments: { task_id: id } }));
    assert.ok(cb.callbacks.some((d) => d.status === "completed"), JSON.stringify(cb));
  });

  test('answers still pending when the timeout runs out, and says to wait again (legacy lane)', async () => {
    const c = await client(big, 'legacy');
    const id = await newTask(c, big, 'wait-timeout');
    const { result, events, ms } = await withProgress(c, 'wait_for_task', { task_id: id, timeout_s: 2 });
    const s = ok(result);
    assert.deepEqual([s.status, s.done], ['pending', false]);
    assert.ok(s.waited_s >= 2 && ms >= 2000 && ms < 4000, `${s.waited_s} s, ${ms} ms`);
    assert.match(s.next_step, /^Still pending after 2 s\. Call wait_for_task again/);
    assertPolledAt(events.map((e) => e.progress));
    assertGrowing(events);
  });

  test('a client that closes the stream stops the wait: no more polls', async () => {
    const c = await client(big, 'legacy');
    const id = await newTask(c, big, 'wait-abort');
    const abort = new AbortController();
    const r = await fetch(big.mcpUrl, {
      method: 'POST',
      signal: abort.signal,
      headers: { authorization: `Bearer ${big.token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'wait_for_task', arguments: { task_id: id, timeout_s: 30 }, _meta: { progressToken: 'abort-me' } } }),
    });
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    const reader = r.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^event: message\ndata: \{"jsonrpc":"2.0","method":"notifications\/progress","params":\{"progressToken":"abort-me","progress":0/);
    abort.abort();
    const polls = async () => (await big.simRequests()).filter((q) => q.path === `/v1/task/${id}`).length;
    await new Promise((res) => setTimeout(res, 1000));
    const atClose = await polls();
    await new Promise((res) => setTimeout(res, 3000));
    assert.equal(await polls(), atClose, 'no poll after the stream was closed');
  });

  test('without a progress token the answer is plain JSON', async () => {
    const c = await client(big, 'legacy');
    const id = await newTask(c, big, 'wait-plain');
    await big.simControl(`tasks/${id}/complete`, {});
    const r = await fetch(big.mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${big.token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait_for_task', arguments: { task_id: id } } }),
    });
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal((await r.json()).result.structuredContent.status, 'completed');
  });
});

describe('wait_for_batch', () => {
  test('follows a batch to completed with progress by finished tasks (legacy lane)', async () => {
    const c = await client(big, 'legacy');
    ok(await c.callTool({ name: 'create_batch', arguments: { project: PROJECT, name: 'long-b1' } }));
    const created = ok(await c.callTool({ name: 'create_tasks', arguments: { type: 'imageannotation', batch: 'long-b1', idempotency_key: 'b1', items: images(4, 'b1') } }));
    assert.equal(created.created, 4);
    await big.simControl('batches/long-b1/complete', { afterMs: 300, everyMs: 500 });
    const { result, events } = await withProgress(c, 'wait_for_batch', { name: 'long-b1', timeout_s: 30 });
    const s = ok(result);
    assert.deepEqual([s.status, s.done], ['completed', true]);
    assert.deepEqual(s.progress, { pending: 0, completed: 4, error: 0, canceled: 0, total: 4 });
    assert.match(s.next_step, /list_tasks/);
    assertGrowing(events);
    assert.ok(events.length >= 2, JSON.stringify(events));
    assert.ok(events.every((e) => e.total === 4));
    assert.equal(events[0].progress < 4, true);
  });

  test('a batch in staging answers at once and says to finalize it (modern lane)', async () => {
    const c = await client(big, 'modern');
    ok(await c.callTool({ name: 'create_batch', arguments: { project: RAPID, name: 'long-staging' } }));
    const mark = await logMark(big);
    const { result, ms } = await withProgress(c, 'wait_for_batch', { name: 'long-staging' });
    const s = ok(result);
    assert.deepEqual([s.status, s.done, s.polls], ['staging', false, 1]);
    assert.match(s.next_step, /finalize_batch \{"name": "long-staging"\}/);
    assert.ok(ms < 1000, `${ms} ms`);
    assert.equal((await mark.since()).length, 1);
  });
});

describe('Python SDK (PyPI mcp 2.x) progress callback', () => {
  async function python(stack, mode, calls) {
    try {
      const { stdout } = await run(process.env.PYTHON || 'python3', [path.join(here, 'python_progress.py'), stack.mcpUrl, stack.token, mode, JSON.stringify(calls)], { timeout: 120_000, maxBuffer: 4 << 20 });
      return JSON.parse(stdout.trim().split('\n').at(-1));
    } catch (e) {
      throw new Error(`python_progress.py ${mode} failed (${e.code}): ${e.stderr || e.message}`);
    }
  }

  for (const [mode, version] of [['legacy', '2025-11-25'], ['auto', '2026-07-28']]) {
    test(`mode=${mode}: notifications arrive in order before each result`, async () => {
      const calls = [
        { tool: 'create_tasks', args: { type: 'imageannotation', project: PROJECT, idempotency_key: `py-${mode}`, items: images(5, `py-${mode}`) } },
        { tool: 'wait_for_task', args: { task_id: 'set below', timeout_s: 2 } },
      ];
      // A task that stays pending, to wait on.
      const c = await client(big, 'legacy');
      calls[1].args.task_id = ok(await c.callTool({ name: 'create_task', arguments: { type: 'imageannotation', project: PROJECT, attachment: `https://img.example/py-${mode}.jpg` } })).task_id;
      const out = await python(big, mode, calls);
      assert.equal(out.protocol_version, version);
      const [create, wait] = out.calls;
      assert.equal(create.is_error, false);
      assert.equal(create.structured.created, 5);
      assert.deepEqual(create.progress.map((p) => [p[0], p[1]]), [[0, 5], [1, 5], [2, 5], [3, 5], [4, 5], [5, 5]]);
      assert.equal(wait.structured.done, false);
      assertPolledAt(wait.progress.map((p) => p[0]));
      for (const call of out.calls) for (const p of call.progress) assert.ok(p[3] <= call.result_at);
      assert.ok(wait.progress[0][3] < 1, `first notification after ${wait.progress[0][3]} s`);
    });
  }
});
