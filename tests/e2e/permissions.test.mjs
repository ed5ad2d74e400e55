// Least privilege end to end (docs/permissions.md), the built worker in workerd
// against the simulator, driven by real MCP clients: the TypeScript SDK 2.x
// in both eras and the Python SDK 2.x (tests/e2e/python_permissions.py).
//  - a read-only connection (URL, header, token scope) lists only read tools,
//    and a write is refused with nothing sent to Scale;
//  - a project-scoped connection cannot see or touch another project's tasks,
//    batches or callbacks;
//  - a callback URL outside the policy is refused with nothing sent;
//  - a live_ key refuses billed creates until LIVE_WRITES;
//  - the rate limit (the RATE_LIMITER binding) says when to retry;
//  - every tool call leaves an audit line with the principal's label and no
//    argument value or secret.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startStack, rpc, modern } from './harness.mjs';
import { textOf, logMark, closeAll } from './client.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

const TOKENS = {
  admin: 'e2e-admin-token-0c4f1a9d7e',
  analyst: 'e2e-analyst-token=with,comma-7b2e',
  ops: 'e2e-ops-token-5a8c3f1e90',
};
const MCP_AUTH_TOKEN = JSON.stringify([
  { label: 'admin', token: TOKENS.admin },
  { label: 'analyst', token: TOKENS.analyst, scopes: ['scale:read'] },
  { label: 'ops', token: TOKENS.ops, scopes: ['scale:write'] },
]);
const LIVE_KEY = 'live_e2e_scale_key_4d1c8b';

// get_task_attachment: the annotation view's own tool, offered wherever get_task is, on
// the legacy lane to every client and on 2026-07-28 to requests that declare MCP Apps
// (none of these clients do).
const READ_TOOLS_MODERN = ['get_task', 'list_tasks', 'wait_for_task', 'wait_for_batch', 'get_batch', 'list_batches', 'list_projects', 'get_project', 'manage_team', 'list_callbacks', 'get_callback'].sort();
const READ_TOOLS = [...READ_TOOLS_MODERN, 'get_task_attachment'].sort();

let stack; // JSON tokens, default callback policy
let live; // a live_ key without LIVE_WRITES
let liveOn; // a live_ key with LIVE_WRITES=true
let limited; // RATE_LIMITER: 3 calls per 10 s
const A = 'perm-proj-a';
const B = 'perm-proj-b';
const seeded = {};

before(async () => {
  [stack, live, liveOn, limited] = await Promise.all([
    startStack({ vars: { MCP_AUTH_TOKEN } }),
    startStack({ vars: { SCALE_API_KEY: LIVE_KEY }, sim: { apiKey: LIVE_KEY } }),
    startStack({ vars: { SCALE_API_KEY: LIVE_KEY, LIVE_WRITES: 'true' }, sim: { apiKey: LIVE_KEY } }),
    startStack({ vars: { RATE_LIMIT_PERIOD: '10' }, ratelimit: { limit: 3, period: 10 } }),
  ]);
  // Two projects, each with a batch and a completed task whose callback reached the worker.
  await stack.simControl('seed', {
    projects: [{ type: 'imageannotation', name: A }, { type: 'imageannotation', name: B }],
    batches: [{ project: A, name: `${A}-batch` }, { project: B, name: `${B}-batch` }],
  });
  for (const p of [A, B]) {
    const r = await stack.simControl('seed', { tasks: [{ type: 'imageannotation', project: p, attachment: 'https://example.com/i.png', callback_url: stack.webhookUrl, metadata: { owner: p } }] });
    const task = r.tasks[0];
    seeded[p] = task.task_id;
    await stack.simControl(`tasks/${encodeURIComponent(task.task_id)}/complete`, { response: { label: `secret labels of ${p}` } });
  }
});

after(async () => closeAll([stack, live, liveOn, limited]));

/** A TS SDK 2.x client on `url` with these headers; `era` 'legacy' or 'modern'. */
async function ts(url, token, { headers = {}, era = 'legacy' } = {}) {
  const opts = era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {};
  const c = new Client({ name: `e2e-perm-${era}`, version: '1.0.0' }, opts);
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}`, ...headers } } }));
  return c;
}

const call = (c, name, args = {}) => c.callTool({ name, arguments: args });
const names = async (c) => (await c.listTools()).tools.map((t) => t.name).sort();

async function python(url, token, mode, headers, calls) {
  try {
    const { stdout } = await run(process.env.PYTHON || 'python3', [path.join(here, 'python_permissions.py'), url, token, mode, JSON.stringify(headers), JSON.stringify(calls)], { timeout: 120_000, maxBuffer: 4 << 20 });
    return JSON.parse(stdout.trim().split('\n').at(-1));
  } catch (e) {
    throw new Error(`python_permissions.py ${mode} failed (${e.code}): ${e.stderr || e.message}`);
  }
}

/** The /v1 requests the simulator saw while `fn` ran. */
async function sent(s, fn) {
  const mark = await logMark(s);
  const result = await fn();
  return { result, requests: await mark.since() };
}

describe('read-only connections list only read tools and refuse writes with nothing sent', () => {
  const createArgs = { type: 'imageannotation', project: A, attachment: 'https://example.com/x.png' };

  for (const [label, url, headers, era] of [
    ['TS 2.x legacy on /mcp/readonly', () => `${stack.url}/mcp/readonly`, {}, 'legacy'],
    ['TS 2.x modern with X-MCP-Readonly', () => stack.mcpUrl, { 'X-MCP-Readonly': 'true' }, 'modern'],
  ]) {
    test(label, async () => {
      const c = await ts(url(), TOKENS.admin, { headers, era });
      try {
        assert.deepEqual(await names(c), era === 'legacy' ? READ_TOOLS : READ_TOOLS_MODERN);
        const { result, requests } = await sent(stack, () => call(c, 'create_task', createArgs));
        assert.equal(result.isError, true);
        assert.match(textOf(result), /read-only/);
        assert.match(textOf(result), /Nothing was sent to Scale/);
        assert.deepEqual(requests, []);
        const team = await sent(stack, () => call(c, 'manage_team', { action: 'invite', emails: ['x@example.com'], role: 'member' }));
        assert.equal(team.result.isError, true);
        assert.deepEqual(team.requests, []);
        assert.notEqual((await call(c, 'get_task', { task_id: seeded[A] })).isError, true);
      } finally {
        await c.close();
      }
    });
  }

  test('TS 2.x with a scale:read token, whatever it asks for', async () => {
    const c = await ts(stack.mcpUrl, TOKENS.analyst, { headers: { 'X-MCP-Readonly': 'false', 'X-MCP-Tools': 'create_task,get_task' } });
    try {
      // The annotation view's own tool follows get_task (legacy lane: every client gets it).
      assert.deepEqual(await names(c), ['get_task', 'get_task_attachment']);
      const { result, requests } = await sent(stack, () => call(c, 'create_task', createArgs));
      assert.equal(textOf(result), 'create_task needs the scale:write scope, which token `analyst` does not have (it has scale:read). Nothing was sent to Scale.');
      assert.deepEqual(requests, []);
    } finally {
      await c.close();
    }
    const c2 = await ts(stack.mcpUrl, TOKENS.analyst);
    try {
      const { result, requests } = await sent(stack, () => call(c2, 'create_task', createArgs));
      assert.equal(textOf(result), 'create_task needs the scale:write scope, which token `analyst` does not have (it has scale:read). Nothing was sent to Scale.');
      assert.deepEqual(requests, []);
    } finally {
      await c2.close();
    }
  });

  for (const [mode, url, headers] of [
    ['legacy', () => `${stack.url}/mcp/readonly`, {}],
    ['auto', () => stack.mcpUrl, { 'X-MCP-Readonly': 'true' }],
  ]) {
    test(`Python mcp 2.x, mode=${mode}`, async () => {
      const { result: out, requests } = await sent(stack, () => python(url(), TOKENS.admin, mode, headers, [['create_task', createArgs], ['cancel_task', { task_id: seeded[A] }]]));
      assert.deepEqual(out.tools.sort(), mode === 'legacy' ? READ_TOOLS : READ_TOOLS_MODERN);
      for (const c of out.calls) {
        assert.equal(c.is_error, true, c.text);
        assert.match(c.text, /read-only/);
      }
      assert.deepEqual(requests.filter((r) => r.method !== 'GET'), []);
    });
  }
});

describe("a project-scoped connection cannot see or touch another project's tasks, batches or callbacks", () => {
  async function checks(c) {
    const tools = await names(c);
    assert.ok(!tools.includes('manage_team'));
    // Another project's task reads exactly like a missing one.
    const other = await call(c, 'get_task', { task_id: seeded[B] });
    const missing = await call(c, 'get_task', { task_id: 'no-such-task' });
    assert.equal(other.isError, true);
    assert.equal(textOf(other).replace(seeded[B], 'ID'), textOf(missing).replace('no-such-task', 'ID'));
    assert.ok(!textOf(other).includes('secret labels'));
    const mine = await call(c, 'get_task', { task_id: seeded[A] });
    assert.equal(mine.structuredContent.project, A);
    assert.deepEqual(mine._meta?.['scale-mcp/untrusted'], ['/response', '/metadata', '/audits']);
    // Lists are filtered by Scale's own project filter.
    const { result: listed, requests } = await sent(stack, () => call(c, 'list_tasks', {}));
    assert.ok(listed.structuredContent.tasks.length >= 1);
    assert.ok(listed.structuredContent.tasks.every((t) => t.project === A));
    assert.equal(requests[0].query.match(/(?:^|&)project=([^&]*)/)?.[1], A);
    // Writes to another project's task or batch: looked up, then not found; nothing changed.
    for (const [tool, args] of [['cancel_task', { task_id: seeded[B] }], ['update_task', { task_id: seeded[B], add_tags: ['x'] }], ['finalize_batch', { name: `${B}-batch` }], ['get_batch', { name: `${B}-batch` }]]) {
      const { result, requests: r } = await sent(stack, () => call(c, tool, args));
      assert.equal(result.isError, true, tool);
      assert.match(textOf(result), /404 Not Found/, tool);
      assert.deepEqual(r.map((x) => x.method), ['GET'], tool);
    }
    const create = await sent(stack, () => call(c, 'create_task', { type: 'imageannotation', project: B, attachment: 'https://example.com/x.png' }));
    assert.equal(create.result.isError, true);
    assert.match(textOf(create.result), /outside this connection's projects/);
    assert.deepEqual(create.requests, []);
    // The callback log shows only this project's deliveries.
    const cbs = (await call(c, 'list_callbacks', {})).structuredContent.callbacks;
    assert.deepEqual(cbs.map((x) => x.task_id), [seeded[A]]);
    const all = (await ts(stack.mcpUrl, TOKENS.admin).then(async (full) => {
      try {
        return (await call(full, 'list_callbacks', {})).structuredContent.callbacks;
      } finally {
        await full.close();
      }
    }));
    const otherId = all.find((x) => x.task_id === seeded[B]).id;
    const got = await call(c, 'get_callback', { id: otherId });
    assert.equal(got.isError, true);
    assert.match(textOf(got), /no callback with id/);
    const resources = (await c.listResources()).resources.map((r) => r.uri);
    assert.ok(resources.every((u) => !u.endsWith(otherId)));
    assert.ok(resources.length >= 1);
    await assert.rejects(c.readResource({ uri: `scale-callback://deliveries/${otherId}` }), /not found/i);
  }

  test('TS 2.x legacy on /mcp/projects/{name}', async () => {
    const c = await ts(`${stack.url}/mcp/projects/${encodeURIComponent(A)}`, TOKENS.admin);
    try {
      await checks(c);
    } finally {
      await c.close();
    }
  });

  test('TS 2.x modern with X-Scale-Project', async () => {
    const c = await ts(stack.mcpUrl, TOKENS.admin, { headers: { 'X-Scale-Project': A }, era: 'modern' });
    try {
      await checks(c);
    } finally {
      await c.close();
    }
  });

  test('Python mcp 2.x, mode=auto with X-Scale-Project', async () => {
    const out = await python(stack.mcpUrl, TOKENS.ops, 'auto', { 'X-Scale-Project': A }, [
      ['get_task', { task_id: seeded[B] }],
      ['get_task', { task_id: 'no-such-task' }],
      ['list_tasks', {}],
      ['list_projects', {}],
    ]);
    assert.equal(out.protocol_version, '2026-07-28');
    assert.ok(!out.tools.includes('manage_team'));
    const [other, missing, listed, projects] = out.calls;
    assert.equal(other.text.replace(seeded[B], 'ID'), missing.text.replace('no-such-task', 'ID'));
    assert.ok(listed.structured.tasks.every((t) => t.project === A));
    assert.deepEqual(projects.structured.projects.map((p) => p.name), [A]);
    assert.ok(out.resources.length >= 1);
  });

  test('a project the server does not allow is refused at the connection (400)', async () => {
    const s = await startStack({ vars: { SCALE_PROJECTS: A } });
    try {
      const r = await rpc(s, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { headers: { 'x-scale-project': B } });
      assert.equal(r.status, 400);
      assert.match(r.json.error.message, /not one of the projects this server allows \(SCALE_PROJECTS\)/);
      const path = await fetch(`${s.url}/mcp/projects/${B}`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
      assert.equal(path.status, 400);
      await path.text();
    } finally {
      await s.close();
    }
  });
});

describe('guarded writes', () => {
  test('a callback URL outside the policy is refused with nothing sent; the worker\'s own webhook is fine', async () => {
    const c = await ts(stack.mcpUrl, TOKENS.ops);
    try {
      for (const args of [{ callback_url: 'https://collector.evil.example/x' }, { params: { callback_url: 'https://collector.evil.example/x' } }, { callback_url: 'ops@example.com' }]) {
        const { result, requests } = await sent(stack, () => call(c, 'create_task', { type: 'imageannotation', project: A, attachment: 'https://example.com/x.png', ...args }));
        assert.equal(result.isError, true, JSON.stringify(args));
        assert.match(textOf(result), /is not an allowed callback destination/);
        assert.deepEqual(requests, []);
      }
      const batch = await sent(stack, () => call(c, 'create_batch', { project: A, name: 'perm-evil-batch', callback: 'https://collector.evil.example/b' }));
      assert.equal(batch.result.isError, true);
      assert.deepEqual(batch.requests, []);
      const ok = await call(c, 'create_task', { type: 'imageannotation', project: A, attachment: 'https://example.com/x.png', callback_url: stack.webhookUrl });
      assert.notEqual(ok.isError, true, textOf(ok));
    } finally {
      await c.close();
    }
  });

  test('a live_ key refuses billed creates until LIVE_WRITES=true', async () => {
    await live.simControl('seed', { projects: [{ type: 'imageannotation', name: 'live-p' }] });
    await liveOn.simControl('seed', { projects: [{ type: 'imageannotation', name: 'live-p' }] });
    const args = { type: 'imageannotation', project: 'live-p', attachment: 'https://example.com/x.png' };
    const c = await ts(live.mcpUrl, live.token, { era: 'modern' });
    try {
      const { result, requests } = await sent(live, () => call(c, 'create_task', args));
      assert.equal(result.isError, true);
      assert.match(textOf(result), /live_ key/);
      assert.match(textOf(result), /LIVE_WRITES = "true"/);
      assert.deepEqual(requests, []);
      // Not billed work: allowed.
      assert.notEqual((await call(c, 'create_batch', { project: 'live-p', name: 'live-b' })).isError, true);
    } finally {
      await c.close();
    }
    const on = await ts(liveOn.mcpUrl, liveOn.token);
    try {
      const r = await call(on, 'create_task', args);
      assert.notEqual(r.isError, true, textOf(r));
    } finally {
      await on.close();
    }
  });

  test('the rate limit refuses past the binding\'s limit and says within how many seconds to retry', async () => {
    const c = await ts(limited.mcpUrl, limited.token);
    try {
      const outcomes = [];
      // 7 calls: even if a 10 s window starts among them, one window sees more than 3.
      for (let i = 0; i < 7; i++) outcomes.push(await call(c, 'list_projects', {}));
      const refused = outcomes.filter((r) => r.isError);
      assert.ok(refused.length >= 1, 'a call past the limit within 10 s is refused');
      assert.match(textOf(refused[0]), /Retry within 10 seconds/);
      assert.match(textOf(refused[0]), /token `token-1`/);
    } finally {
      await c.close();
    }
  });
});

describe('audit lines', () => {
  test("one JSON line per tool call with the principal's label, never argument values or secrets", async () => {
    const before = stack.logs.length;
    const c = await ts(stack.mcpUrl, TOKENS.analyst);
    try {
      await call(c, 'get_task', { task_id: seeded[A] });
      await call(c, 'create_task', { type: 'imageannotation', instruction: 'an-argument-value-never-logged' });
      await call(c, 'get_task', {});
    } finally {
      await c.close();
    }
    // Lines are printed as the request ends; give the log stream a moment.
    await new Promise((r) => setTimeout(r, 200));
    const lines = stack.logs.slice(before).filter((l) => l.includes('"event":"tool_call"'));
    const audit = lines.map((l) => JSON.parse(l.slice(l.indexOf('{'))));
    assert.deepEqual(audit.map((a) => [a.principal, a.tool, a.outcome]), [
      ['analyst', 'get_task', 'ok'],
      ['analyst', 'create_task', 'refused'],
      ['analyst', 'get_task', 'invalid'],
    ]);
    assert.equal(audit[0].scale_status, 200);
    assert.equal(audit[0].subrequests, 1);
    for (const a of audit) {
      assert.deepEqual(Object.keys(a).sort(), ['event', 'ms', 'outcome', 'principal', 'request_id', 'scale_status', 'subrequests', 'tool']);
      assert.ok(a.request_id.length > 0);
    }
    const text = lines.join('\n');
    for (const needle of [seeded[A], 'an-argument-value-never-logged', ...Object.values(TOKENS)]) assert.ok(!text.includes(needle), needle);
  });

  test('tools/list on the modern lane is private when tokens differ in scope', async () => {
    const { body, headers } = modern('tools/list');
    const r = await rpc(stack, body, { headers, token: TOKENS.analyst });
    assert.equal(r.json.result.cacheScope, 'private');
    assert.deepEqual(r.json.result.tools.map((t) => t.name).sort(), READ_TOOLS_MODERN);
  });
});
