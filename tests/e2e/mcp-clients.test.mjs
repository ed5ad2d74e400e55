// Real MCP clients against the worker in workerd, with the bearer header:
//  - @modelcontextprotocol/client 2.x: default (legacy `initialize`),
//    versionNegotiation {mode:'auto'} (server/discover probe) and pinned to 2026-07-28;
//  - @modelcontextprotocol/sdk 1.x (legacy only);
//  - the Python SDK (PyPI `mcp` 2.x, tests/e2e/python_client.py) in mode="legacy",
//    the default mode="auto" and pinned to "2026-07-28".
// Each connects, lists every tool the server lists, calls tools that succeed, one that fails
// upstream (isError), one with invalid arguments (isError), an unknown tool
// (protocol error -32602) and lists resources. A spying fetch records the
// wire so the era each client really spoke is asserted, not assumed.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { modern, rpc, startStack, toolNames } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// The worker reports CARGO_PKG_VERSION, so the manifest is the source of truth.
const CARGO_VERSION = /^\[package\][^[]*?^version\s*=\s*"([^"]+)"/m.exec(readFileSync(path.join(here, '../../Cargo.toml'), 'utf8'))[1];
const run = promisify(execFile);

let stack;
let TOOL_COUNT; // from the server's own tools/list
// On 2026-07-28 a client that does not declare MCP Apps (none of these does) is not
// offered the annotation view's own tool.
let MODERN_TOOL_COUNT;
before(async () => {
  stack = await startStack();
  TOOL_COUNT = (await toolNames(stack)).length;
  const m = modern('tools/list');
  MODERN_TOOL_COUNT = (await rpc(stack, m.body, { headers: m.headers })).json.result.tools.length;
  assert.equal(MODERN_TOOL_COUNT, TOOL_COUNT - 1);
});
after(async () => stack?.close());

/** A fetch that records method, MCP headers, status and session header of every exchange. */
function spyFetch() {
  const wire = [];
  const f = async (url, init = {}) => {
    const h = new Headers(init.headers);
    let method = null;
    try {
      method = JSON.parse(init.body)?.method ?? null;
    } catch {}
    const res = await fetch(url, init);
    wire.push({
      http: init.method ?? 'GET',
      rpc: method,
      version: h.get('mcp-protocol-version'),
      mcpMethod: h.get('mcp-method'),
      auth: h.get('authorization'),
      status: res.status,
      session: res.headers.get('mcp-session-id'),
    });
    return res;
  };
  return { f, wire };
}

const text = (r) => r.content.map((c) => c.text ?? '').join('\n');

/** The checks every client goes through once connected. */
function exercise(label, connect) {
  let c;
  let spy;
  const project = `proj-${label}`;

  before(async () => {
    spy = spyFetch();
    c = await connect(spy.f);
  });
  after(async () => c?.close());

  test('lists every tool the server lists', async () => {
    const { tools } = await c.listTools();
    const names = tools.map((t) => t.name);
    const era = spy.wire.filter((w) => w.rpc === 'tools/list').at(-1)?.version;
    assert.equal(names.length, era === '2026-07-28' ? MODERN_TOOL_COUNT : TOOL_COUNT);
    for (const n of ['create_task', 'get_task', 'list_tasks', 'list_callbacks', 'get_callback', 'list_projects', 'create_project', 'get_project']) assert.ok(names.includes(n), n);
    for (const t of tools) assert.equal(t.inputSchema.type, 'object');
  });

  test('calls tools that succeed: list_projects, create_project, get_project', async () => {
    const before = await c.callTool({ name: 'list_projects', arguments: {} });
    assert.notEqual(before.isError, true, text(before));
    assert.ok(Array.isArray(before.structuredContent.projects));
    assert.ok(!before.structuredContent.projects.some((p) => p.name === project));
    const created = await c.callTool({ name: 'create_project', arguments: { name: project, type: 'textcollection' } });
    assert.notEqual(created.isError, true, text(created));
    assert.equal(created.structuredContent.name, project);
    const got = await c.callTool({ name: 'get_project', arguments: { name: project } });
    assert.notEqual(got.isError, true, text(got));
    assert.equal(got.structuredContent.name, project);
    assert.equal(got.structuredContent.type, 'textcollection');
    const after = await c.callTool({ name: 'list_projects', arguments: {} });
    assert.ok(after.structuredContent.projects.some((p) => p.name === project));
  });

  test("a Scale 404 comes back as isError with Scale's status", async () => {
    const r = await c.callTool({ name: 'get_task', arguments: { task_id: `missing-${label}` } });
    assert.equal(r.isError, true);
    assert.match(text(r), /404/);
  });

  test('invalid arguments come back as isError naming the argument', async () => {
    const r = await c.callTool({ name: 'get_task', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(text(r), /task_id/);
  });

  test('an unknown tool is a protocol error (-32602)', async () => {
    await assert.rejects(c.callTool({ name: 'no_such_tool', arguments: {} }), (e) => {
      assert.equal(e.code, -32602, String(e));
      assert.match(e.message, /no_such_tool/);
      return true;
    });
  });

  test('lists resources and resource templates', async () => {
    const r = await c.listResources();
    assert.ok(Array.isArray(r.resources));
    const t = await c.listResourceTemplates();
    assert.equal(t.resourceTemplates[0].uriTemplate, 'scale-callback://deliveries/{id}');
  });

  test('every request carried the bearer token; no session id was ever issued', () => {
    assert.ok(spy.wire.length >= 8);
    for (const w of spy.wire) {
      assert.equal(w.auth, `Bearer ${stack.token}`);
      assert.equal(w.session, null);
    }
  });

  return () => spy.wire;
}

describe('@modelcontextprotocol/client 2.x, default (legacy) negotiation', () => {
  let client;
  const wire = exercise('ts2-legacy', async (f) => {
    client = new Client({ name: 'e2e-ts2-legacy', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${stack.token}` } }, fetch: f }));
    return client;
  });

  test('spoke the legacy lane: initialize, 2025-11-25, no Mcp-Method headers', () => {
    assert.equal(client.getProtocolEra(), 'legacy');
    assert.equal(client.getNegotiatedProtocolVersion(), '2025-11-25');
    const { version, ...rest } = client.getServerVersion();
    assert.deepEqual(rest, { name: 'scale-mcp-worker', title: 'Scale AI' });
    assert.match(version, /^\d+\.\d+\.\d+/);
    assert.equal(version, CARGO_VERSION, 'serverInfo.version is the crate version');
    const w = wire();
    assert.equal(w[0].rpc, 'initialize');
    assert.equal(w[1].rpc, 'notifications/initialized');
    assert.equal(w[1].status, 202);
    assert.ok(w.every((x) => x.mcpMethod === null));
    // Its optional GET stream is refused with 405 and the client carries on.
    assert.ok(w.some((x) => x.http === 'GET' && x.status === 405));
  });
});

describe("@modelcontextprotocol/client 2.x, versionNegotiation {mode: 'auto'}", () => {
  let client;
  const wire = exercise('ts2-auto', async (f) => {
    client = new Client({ name: 'e2e-ts2-auto', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${stack.token}` } }, fetch: f }));
    return client;
  });

  test('probed with server/discover and chose the modern lane (2026-07-28)', () => {
    assert.equal(client.getProtocolEra(), 'modern');
    assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
    assert.equal(client.getServerVersion()?.name, 'scale-mcp-worker');
    const discover = client.getDiscoverResult();
    assert.ok(discover.supportedVersions.includes('2026-07-28'));
    const w = wire();
    assert.equal(w[0].rpc, 'server/discover');
    assert.ok(!w.some((x) => x.rpc === 'initialize'));
    for (const x of w) {
      assert.equal(x.http, 'POST');
      assert.equal(x.version, '2026-07-28');
      assert.equal(x.mcpMethod, x.rpc);
      assert.equal(x.status, 200);
    }
  });
});

describe("@modelcontextprotocol/client 2.x, pinned to '2026-07-28'", () => {
  let client;
  const wire = exercise('ts2-pinned', async (f) => {
    client = new Client({ name: 'e2e-ts2-pin', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${stack.token}` } }, fetch: f }));
    return client;
  });

  test('spoke 2026-07-28 with the modern headers only', () => {
    assert.equal(client.getProtocolEra(), 'modern');
    assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
    const w = wire();
    assert.ok(!w.some((x) => x.rpc === 'initialize'));
    assert.ok(w.every((x) => x.version === '2026-07-28' && x.mcpMethod === x.rpc));
  });

  test('a pinned client without the token fails to connect (401)', async () => {
    const c = new Client({ name: 'e2e-ts2-noauth', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await assert.rejects(c.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl))), (e) => /401|nauthori/i.test(String(e?.message ?? e)));
  });
});

describe('@modelcontextprotocol/sdk 1.x (StreamableHTTPClientTransport + requestInit headers)', () => {
  let client;
  let transport;
  const wire = exercise('ts1', async (f) => {
    client = new ClientV1({ name: 'e2e-ts1', version: '1.0.0' });
    transport = new TransportV1(new URL(stack.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${stack.token}` } }, fetch: f });
    await client.connect(transport);
    return client;
  });

  test('negotiated 2025-11-25 statelessly', () => {
    assert.equal(client.getServerVersion().name, 'scale-mcp-worker');
    assert.equal(transport.sessionId, undefined);
    assert.equal(wire()[0].rpc, 'initialize');
    assert.ok(wire().slice(1).every((x) => x.version === '2025-11-25'));
  });

  test('unknown tool surfaces as McpError', async () => {
    await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), McpError);
  });
});

describe('Python SDK (PyPI mcp 2.x) via tests/e2e/python_client.py', () => {
  // execFile, not execFileSync: the Scale simulator lives in this process's event loop.
  async function python(mode) {
    try {
      const { stdout } = await run(process.env.PYTHON || 'python3', [path.join(here, 'python_client.py'), stack.mcpUrl, stack.token, mode], { timeout: 120_000, maxBuffer: 4 << 20 });
      return JSON.parse(stdout.trim().split('\n').at(-1));
    } catch (e) {
      if (/No module named '(mcp|httpx2)'/.test(e.stderr ?? '')) {
        throw new Error('the Python MCP SDK is not installed: run `bash scripts/setup.sh --test` (installs tests/requirements.txt)');
      }
      throw new Error(`python_client.py ${mode} failed (${e.code}): ${e.stderr || e.message}`);
    }
  }

  for (const [mode, version] of [
    ['legacy', '2025-11-25'],
    ['auto', '2026-07-28'],
    ['2026-07-28', '2026-07-28'],
  ]) {
    test(`mode=${JSON.stringify(mode)} negotiates ${version} and every step behaves`, async () => {
      const out = await python(mode);
      assert.match(out.sdk_version, /^2\./);
      assert.equal(out.protocol_version, version);
      if (mode !== '2026-07-28') assert.equal(out.server_info?.name, 'scale-mcp-worker'); // a bare pin never asks
      assert.equal(out.tools.length, version === '2026-07-28' ? MODERN_TOOL_COUNT : TOOL_COUNT);
      for (const n of ['create_task', 'list_callbacks']) assert.ok(out.tools.includes(n));
      assert.equal(out.list_projects.is_error, false);
      assert.ok(Array.isArray(out.list_projects.structured.projects));
      assert.equal(out.create_project.is_error, false, out.create_project.text);
      assert.equal(out.get_project.is_error, false);
      assert.equal(out.get_project.structured.name, `py-${mode}`);
      assert.equal(out.get_task_unknown.is_error, true);
      assert.match(out.get_task_unknown.text, /404/);
      assert.equal(out.get_task_invalid.is_error, true);
      assert.match(out.get_task_invalid.text, /task_id/);
      assert.deepEqual({ raised: out.unknown_tool.raised, code: out.unknown_tool.code }, { raised: true, code: -32602 });
      assert.ok(Array.isArray(out.resources));
      assert.ok(!JSON.stringify(out).includes(stack.token));
    });
  }
});
