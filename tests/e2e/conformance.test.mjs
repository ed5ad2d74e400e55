// The official MCP conformance suite (`conformance server --url … --scenario …`)
// against the worker's /mcp, in two versions: 0.1.16 (root devDependency, the
// initialize-era wire) and 0.2.0-alpha.12 (tests/conformance-node22, which also
// speaks the 2026-07-28 wire). For each version, every scenario its
// `list --server` prints is either run or listed below as not applicable with a
// reason; a scenario that is neither fails the test, so a new suite version
// forces a decision.
//
// ── 0.1.16 ────────────────────────────────────────────────────────────────
// Scenarios RUN (each must report no FAILURE check):
//   server-initialize            legacy initialize handshake (SDK 1.x client)
//   ping                         ping → {}
//   tools-list                   every tool has name, description, inputSchema
//   resources-list               resources/list shape (the callback log)
//   dns-rebinding-protection     Host+Origin `evil.example.com` → 4xx; localhost Host+Origin → 2xx
//   server-sse-multiple-streams  connects; then WARNING "no session ID" and stops (we are stateless by design)
//   server-sse-polling           WARNING "no session ID", INFO "JSON instead of SSE" (SEP-1699 polling needs SSE)
//
// Scenarios SKIPPED, and why:
//   logging-set-level                 logging is deliberately not declared (deprecated in 2026-07-28)
//   completion-complete               no completions capability (no prompts or argument completion)
//   tools-call-simple-text, tools-call-image, tools-call-audio,
//   tools-call-embedded-resource, tools-call-mixed-content,
//   tools-call-with-logging, tools-call-error, tools-call-with-progress,
//   tools-call-sampling, tools-call-elicitation
//                                     need the reference fixture's test_* tools; ours are Scale's
//                                     (tool calls are covered by mcp-clients.test.mjs)
//   json-schema-2020-12               needs the fixture tool json_schema_2020_12_tool
//   elicitation-sep1034-defaults, elicitation-sep1330-enums
//                                     fixture tools plus server→client elicitation, which a
//                                     stateless server cannot send
//   resources-read-text, resources-read-binary, resources-templates-read
//                                     need the fixture's test:// resources
//   resources-subscribe, resources-unsubscribe
//                                     subscribe is declared false (no subscriptions)
//   prompts-list, prompts-get-simple, prompts-get-with-args,
//   prompts-get-embedded-resource, prompts-get-with-image
//                                     no prompts capability
// Warnings are accepted only where statelessness explains them (`*-session`).
//
// ── 0.2.0-alpha.12, run with --spec-version 2026-07-28 ─────────────────────
// Scenarios RUN on the 2026-07-28 wire (no FAILURE and no WARNING, except the
// checks listed one by one below):
//   server-stateless             per-request _meta (-32602/400), server/discover, serverInfo in
//                                _meta, -32022 with data.supported/requested, header vs _meta
//                                version → -32020, removed and unknown methods → 404/-32601,
//                                every error answer carries the request's id
//   tools-list                   tool shape, name format, same order on every call
//   caching                      ttlMs/cacheScope on tools/list, resources/list,
//                                resources/templates/list and resources/read (a delivery is
//                                posted to the webhook first, so resources/read is exercised)
//   dns-rebinding-protection     as above, probed with server/discover
//   resources-list               resources/list shape
//   sep-2164-resource-not-found  unknown URI → -32602 with data.uri
//   server-sse-multiple-streams  three concurrent POSTs all answered (JSON: SSE is optional)
//   http-header-validation       Mcp-Method/Mcp-Name missing or different → 400/-32020;
//                                header names case-insensitive, values case-sensitive, OWS trimmed
//   input-required-result-unsupported-methods
//                                tools/list and prompts/list never answer input_required
// and on the initialize-era wire (--spec-version 2025-11-25), because 0.1.16 lacks it:
//   server-session-lifecycle     INFO "stateless": initialize issues no Mcp-Session-Id
//
// Checks of run scenarios that are NOT APPLICABLE (each must fail exactly as
// "Not testable: …" naming the fixture tool, or as stated; anything else fails):
//   server-stateless/sep-2575-server-rejects-undeclared-capability,
//   server-stateless/sep-2575-missing-capability-http-400
//                                     need the fixture tool test_missing_capability (no tool of
//                                     ours needs a client capability, so there is no -32021 to send)
//   server-stateless/sep-2575-http-server-no-independent-requests-on-stream
//                                     needs the fixture tool test_streaming_elicitation (we never
//                                     stream and never ask the client anything)
//   server-stateless/sep-2575-server-no-log-without-loglevel
//                                     needs the fixture tool test_logging_tool (we send no log
//                                     notifications at all)
//   caching/sep-2549-prompts-list-caching-hints
//                                     we declare no prompts, so prompts/list is -32601 (which
//                                     server-stateless checks is consistent with discover); the
//                                     suite asks for it regardless
//
// Scenarios SKIPPED, and why:
//   server-initialize, ping, logging-set-level, tools-call-with-logging, tools-call-sampling,
//   tools-call-elicitation, elicitation-sep1034-defaults, elicitation-sep1330-enums,
//   server-sse-polling, resources-subscribe, resources-unsubscribe
//                                     removed in 2026-07-28 (the suite lists no 2026-07-28 for
//                                     them, asserted); the initialize-era wire is run by 0.1.16
//   completion-complete               no completions capability
//   tools-call-simple-text, tools-call-image, tools-call-audio, tools-call-embedded-resource,
//   tools-call-mixed-content, tools-call-error, tools-call-with-progress, json-schema-2020-12
//                                     need the fixture's test_* tools
//   resources-read-text, resources-read-binary, resources-templates-read
//                                     need the fixture's test:// resources
//   prompts-list, prompts-get-simple, prompts-get-with-args, prompts-get-embedded-resource,
//   prompts-get-with-image            no prompts capability
//   http-custom-header-server-validation
//                                     every check needs a tool with an x-mcp-header parameter;
//                                     ours have none (optional, and never for secrets)
//   input-required-result-* (all but unsupported-methods)
//                                     need the fixture's test_input_required_result_* tools or
//                                     prompt: our tools never ask the client for input (MRTR)
//   tasks-lifecycle, tasks-wire-fields, tasks-request-state-removal, tasks-mrtr-input,
//   tasks-required-task-error, tasks-mrtr-composition
//                                     every check needs the suite's task fixture tools
//                                     (greet, slow_compute, failing_job, protocol_error_job,
//                                     confirm_delete, multi_input, test_tool_with_task); this
//                                     server has only Scale tools and gets no fixture tools.
//                                     Its tasks are tested in tasks.test.mjs.
//   tasks-status-notifications        the suite skips its only check itself
// The other three tasks-* scenarios run (extension scenarios: no --spec-version, the suite
// uses 2026-07-28): the checks that need no fixture must pass, and those that need one are
// listed as not applicable, each with the fixture it needs.
//   sep-2640-skills-*                 the skills extension (SEP-2640) is not declared
//
// Auth: the suite cannot send headers (`server` has no header option), so it
// talks to a loopback proxy started here (one per suite version) that adds
// `Authorization: Bearer <token>` when the request has none and forwards
// everything else unchanged: method, path, body and every end-to-end header,
// Host and Origin included (only hop-by-hop headers are dropped, as any proxy
// must). So the worker sees exactly the Host/Origin the suite forged, and
// because the token is always present, the dns-rebinding rejection must come
// from Origin/Host validation (asserted: 403 with the worker's JSON-RPC body,
// not a 401 or a proxy error). The worker itself is not weakened.
//
// Node: 0.2 needs Node 22, so it runs on the Node binary installed next to it
// in tests/conformance-node22 (scripts/setup.sh --test), called by path; the
// machine's Node may stay 20. The 0.1.16 bundle imports `globSync` from `fs`
// (Node 22+) at load, though only its tier-check command calls it; on older
// Node it runs with a loader hook that serves it an `fs` with a throwing
// `globSync` stub.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { startStack, SECRETS } from './harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NODE22_DIR = path.join(root, 'tests/conformance-node22');
const MODERN = '2026-07-28';
/** 0.2 scenarios for the initialize-era wire only, skipped there because 0.1.16 runs that wire. */
const REMOVED_IN_MODERN = ['server-initialize', 'ping', 'logging-set-level', 'tools-call-with-logging', 'tools-call-sampling', 'tools-call-elicitation', 'elicitation-sep1034-defaults', 'elicitation-sep1330-enums', 'server-sse-polling', 'resources-subscribe', 'resources-unsubscribe'];

/** A check that needs one of the 0.2 suite's fixture tools: it fails as "Not testable", naming the tool. */
const fixtureTool = (tool) => ({ reason: `needs the fixture tool ${tool}`, message: new RegExp(`^Not testable: .*'${tool}'`), untestable: true });

/** A tasks-* check that calls one of the suite's task fixture tools: it fails with our unknown-tool answer. */
const taskFixture = (tool) => ({ reason: `needs the task fixture tool ${tool}`, message: new RegExp(`unknown tool \`${tool}\`; call tools/list`) });

const SUITES = {
  '0.1.16': {
    cli: path.join(root, 'node_modules/@modelcontextprotocol/conformance/dist/index.js'),
    node: process.execPath,
    run: ['server-initialize', 'ping', 'tools-list', 'resources-list', 'dns-rebinding-protection', 'server-sse-multiple-streams', 'server-sse-polling'].map((scenario) => ({ scenario })),
    skip: {
      'logging-set-level': 'logging not declared',
      'completion-complete': 'no completions capability',
      'tools-call-simple-text': 'fixture tool',
      'tools-call-image': 'fixture tool',
      'tools-call-audio': 'fixture tool',
      'tools-call-embedded-resource': 'fixture tool',
      'tools-call-mixed-content': 'fixture tool',
      'tools-call-with-logging': 'fixture tool',
      'tools-call-error': 'fixture tool',
      'tools-call-with-progress': 'fixture tool',
      'tools-call-sampling': 'fixture tool + server→client request',
      'tools-call-elicitation': 'fixture tool + server→client request',
      'json-schema-2020-12': 'fixture tool',
      'elicitation-sep1034-defaults': 'fixture tool + server→client request',
      'elicitation-sep1330-enums': 'fixture tool + server→client request',
      'resources-read-text': 'fixture resource',
      'resources-read-binary': 'fixture resource',
      'resources-templates-read': 'fixture resource template',
      'resources-subscribe': 'subscribe not declared',
      'resources-unsubscribe': 'subscribe not declared',
      'prompts-list': 'no prompts',
      'prompts-get-simple': 'no prompts',
      'prompts-get-with-args': 'no prompts',
      'prompts-get-embedded-resource': 'no prompts',
      'prompts-get-with-image': 'no prompts',
    },
    /** Checks each scenario must report as SUCCESS (beyond "no FAILURE"). */
    mustPass: {
      'server-initialize': ['server-initialize'],
      ping: ['ping'],
      'tools-list': ['tools-list'],
      'resources-list': ['resources-list'],
      'dns-rebinding-protection': ['localhost-host-rebinding-rejected', 'localhost-host-valid-accepted'],
    },
    notApplicable: {},
    allowedWarning: /-session$/,
  },
  '0.2.0-alpha.12': {
    cli: path.join(NODE22_DIR, 'node_modules/@modelcontextprotocol/conformance/dist/index.js'),
    node: path.join(NODE22_DIR, 'node_modules/node/bin/node'),
    run: [
      ...['server-stateless', 'tools-list', 'caching', 'dns-rebinding-protection', 'resources-list', 'sep-2164-resource-not-found', 'server-sse-multiple-streams', 'http-header-validation', 'input-required-result-unsupported-methods'].map((scenario) => ({ scenario, version: MODERN })),
      { scenario: 'server-session-lifecycle', version: '2025-11-25' },
      ...['tasks-capability-negotiation', 'tasks-dispatch-and-envelope', 'tasks-request-headers'].map((scenario) => ({ scenario })),
    ],
    skip: {
      ...Object.fromEntries(REMOVED_IN_MODERN.map((s) => [s, 'removed in 2026-07-28; the initialize-era wire is run by 0.1.16'])),
      'completion-complete': 'no completions capability',
      ...Object.fromEntries(
        ['tools-call-simple-text', 'tools-call-image', 'tools-call-audio', 'tools-call-embedded-resource', 'tools-call-mixed-content', 'tools-call-error', 'tools-call-with-progress', 'json-schema-2020-12'].map((s) => [s, 'fixture tool']),
      ),
      'resources-read-text': 'fixture resource',
      'resources-read-binary': 'fixture resource',
      'resources-templates-read': 'fixture resource template',
      ...Object.fromEntries(['prompts-list', 'prompts-get-simple', 'prompts-get-with-args', 'prompts-get-embedded-resource', 'prompts-get-with-image'].map((s) => [s, 'no prompts'])),
      'http-custom-header-server-validation': 'no tool has an x-mcp-header parameter',
      ...Object.fromEntries(
        ['basic-elicitation', 'basic-sampling', 'basic-list-roots', 'request-state', 'multiple-input-requests', 'multi-round', 'missing-input-response', 'non-tool-request', 'result-type', 'tampered-state', 'capability-check', 'ignore-extra-params', 'validate-input'].map((s) => [
          `input-required-result-${s}`,
          'fixture tool or prompt that asks for input; ours never do',
        ]),
      ),
      ...Object.fromEntries(
        ['lifecycle', 'wire-fields', 'request-state-removal', 'mrtr-input', 'required-task-error', 'mrtr-composition'].map((s) => [`tasks-${s}`, 'every check needs a task fixture tool; this server gets none']),
      ),
      'tasks-status-notifications': 'the suite skips its only check itself',
      ...Object.fromEntries(['directory', 'enumeration', 'manifest'].map((s) => [`sep-2640-skills-${s}`, 'skills extension not declared'])),
    },
    /** Skipped because 2026-07-28 removed them: the listing must agree. */
    removedInModern: REMOVED_IN_MODERN,
    mustPass: {
      'server-stateless': [
        'sep-2575-request-meta-invalid-missing-meta',
        'sep-2575-request-meta-invalid-missing-protocol-version',
        'sep-2575-request-meta-invalid-missing-client-capabilities',
        'sep-2575-http-server-meta-invalid-400',
        'sep-2575-request-meta-client-info-optional',
        'sep-2575-server-implements-discover',
        'sep-2575-server-identifies-in-result-meta',
        'sep-2575-server-declares-prompts-in-discover',
        'sep-2575-discover-capabilities-match-handlers',
        'sep-2575-server-unsupported-version-error',
        'sep-2575-http-server-unsupported-version-400',
        'sep-2575-http-server-header-mismatch-400',
        'sep-2575-http-server-error-jsonrpc-id',
        'sep-2575-http-server-method-not-found-404',
        'sep-2575-http-server-method-not-found-404-initialize',
        'sep-2575-http-server-method-not-found-404-ping',
      ],
      'tools-list': ['tools-list', 'tools-name-format', 'tools-list-deterministic-order', 'wire-schema-valid'],
      caching: [
        'sep-2549-tools-list-caching-hints',
        'sep-2549-resources-list-caching-hints',
        'sep-2549-resources-templates-list-caching-hints',
        'sep-2549-resources-read-caching-hints',
        'sep-2549-ttl-non-negative',
        'sep-2549-cache-scope-valid',
      ],
      'dns-rebinding-protection': ['localhost-host-rebinding-rejected', 'localhost-host-valid-accepted'],
      'resources-list': ['resources-list', 'wire-schema-valid'],
      'sep-2164-resource-not-found': ['sep-2164-no-empty-contents', 'sep-2164-error-code', 'sep-2164-data-uri'],
      'server-sse-multiple-streams': ['server-accepts-multiple-post-streams'],
      'http-header-validation': ['sep-2243-server-reject-invalid-headers', 'sep-2243-server-reject-error-code', 'sep-2243-server-accepts-whitespace-header-value', 'sep-2243-header-name-case-insensitive'],
      'input-required-result-unsupported-methods': ['sep-2322-not-on-unsupported-requests'],
      'tasks-capability-negotiation': ['tasks-extension-advertised', 'sep-2663-tasks-methods-non-declaring', 'wire-schema-valid'],
      'tasks-dispatch-and-envelope': ['sep-2663-tasks-result-removed-method-not-found', 'tasks-removed-tasks-list', 'sep-2663-tasks-get-invalid-task-id-32602', 'wire-schema-valid'],
      'tasks-request-headers': ['tasks-headers-reject-mismatched-method', 'wire-schema-valid'],
    },
    /** scenario → check id → how it must fail, and why it does not apply. */
    notApplicable: {
      'server-stateless': {
        'sep-2575-server-rejects-undeclared-capability': fixtureTool('test_missing_capability'),
        'sep-2575-missing-capability-http-400': fixtureTool('test_missing_capability'),
        'sep-2575-http-server-no-independent-requests-on-stream': fixtureTool('test_streaming_elicitation'),
        'sep-2575-server-no-log-without-loglevel': fixtureTool('test_logging_tool'),
      },
      caching: {
        'sep-2549-prompts-list-caching-hints': { reason: 'no prompts capability', message: /^prompts\/list returned JSON-RPC error -32601: / },
      },
      'tasks-capability-negotiation': {
        'sep-2663-server-rejects-undeclared-client': taskFixture('slow_compute'),
        'tasks-per-request-meta-opt-in': taskFixture('slow_compute'),
      },
      'tasks-dispatch-and-envelope': {
        'tasks-server-directed-creation-no-hint': taskFixture('failing_job'),
        'sep-2663-legacy-task-param-ignored': taskFixture('greet'),
        'tasks-immediate-result-shortcut': taskFixture('slow_compute'),
        'tasks-result-type-complete-on-non-task-responses': taskFixture('greet'),
        'sep-2663-durable-create-strong-consistency': taskFixture('slow_compute'),
      },
      'tasks-request-headers': {
        'tasks-headers-tolerate-mcp-method-on-tools-call': taskFixture('greet'),
        'sep-2663-routing-headers-accepted-on-tasks-get': taskFixture('slow_compute'),
        'sep-2663-server-rejects-mismatched-mcp-name-on-tasks-get': { reason: 'needs a task of the fixture tool slow_compute', message: /^routing-task fixture from Check 2 unavailable/ },
      },
    },
    allowedWarning: null,
  },
};

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

let stack;
let work;
let shimArgs = [];
/** Per suite version: its proxy, the requests it forwarded and the checks of each scenario. */
const state = Object.fromEntries(Object.keys(SUITES).map((v) => [v, { proxy: null, url: null, seen: [], results: {} }]));

/**
 * A loopback proxy that adds the bearer token and records [method, path, host, origin, status].
 * Each forwarded request has a connection of its own: a kept-alive one that the
 * worker closes as idle just as the proxy reuses it fails with "socket hang up",
 * a failure of the proxy, not of the worker (seen when the machine is busy).
 */
const upstreamAgent = new http.Agent({ keepAlive: false });
async function startProxy(seen) {
  const target = new URL(stack.url);
  const proxy = http.createServer((req, res) => {
    const headers = [];
    let hasAuth = false;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i];
      if (HOP_BY_HOP.has(name.toLowerCase())) continue;
      if (name.toLowerCase() === 'authorization') hasAuth = true;
      headers.push(name, req.rawHeaders[i + 1]);
    }
    if (!hasAuth) headers.push('Authorization', `Bearer ${stack.token}`);
    const entry = [req.method, req.url, req.headers.host, req.headers.origin ?? null, null];
    seen.push(entry);
    // setHost:false + the client's own Host header in `headers`: the worker sees the Host the suite sent.
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, setHost: false, agent: upstreamAgent }, (ur) => {
      entry[4] = ur.statusCode;
      const out = [];
      for (let i = 0; i < ur.rawHeaders.length; i += 2) if (!HOP_BY_HOP.has(ur.rawHeaders[i].toLowerCase())) out.push(ur.rawHeaders[i], ur.rawHeaders[i + 1]);
      res.writeHead(ur.statusCode, ur.statusMessage, out);
      ur.pipe(res);
    });
    up.on('error', (e) => {
      entry[4] = 502;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'proxy', message: e.message }));
    });
    req.pipe(up);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { proxy, url: `http://127.0.0.1:${proxy.address().port}/mcp` };
}

before(async () => {
  stack = await startStack();
  // One logged delivery, so resources/list is not empty and caching reads a resource.
  const hook = await fetch(stack.webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'scale-callback-auth': SECRETS.SCALE_CALLBACK_AUTH_KEY },
    body: JSON.stringify({ task_id: 'conformance_task_1', status: 'completed', response: { annotations: [] }, task: { task_id: 'conformance_task_1', status: 'completed', type: 'imageannotation' } }),
  });
  assert.equal(hook.status, 200, await hook.text());
  for (const s of Object.values(state)) Object.assign(s, await startProxy(s.seen));

  work = await mkdtemp(path.join(tmpdir(), 'mcp-conformance-'));
  if (Number(process.versions.node.split('.')[0]) < 22) {
    const hooks = path.join(work, 'fs-glob-hooks.mjs');
    const shim = `import * as fs from 'node:fs'; export * from 'node:fs'; export default fs.default;
export function globSync() { throw new Error('fs.globSync needs Node 22 (only the tier-check command uses it)'); }`;
    await writeFile(
      hooks,
      `const SHIM = 'data:text/javascript,' + encodeURIComponent(${JSON.stringify(shim)});
export async function resolve(specifier, context, next) {
  if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL?.includes('/@modelcontextprotocol/conformance/')) return { url: SHIM, shortCircuit: true };
  return next(specifier, context);
}
`,
    );
    const register = path.join(work, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    shimArgs = ['--import', pathToFileURL(register).href];
  }
});

after(async () => {
  for (const s of Object.values(state)) await new Promise((resolve) => (s.proxy ? s.proxy.close(resolve) : resolve()));
  await stack?.close();
  if (work) await rm(work, { recursive: true, force: true });
  for (const [version, s] of Object.entries(state)) {
    if (!Object.keys(s.results).length) continue;
    const summary = Object.entries(s.results).map(([k, r]) => `${k}: ${r.counts}`).join('; ');
    console.log(`conformance ${version} via ${s.url}: ${summary}`);
  }
});

/** Runs a suite's CLI asynchronously (the simulator and the proxies share this event loop). */
function cli(version, args) {
  const suite = SUITES[version];
  for (const f of [suite.node, suite.cli]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`bash scripts/setup.sh --test\``);
  }
  const nodeArgs = suite.node === process.execPath ? shimArgs : [];
  return new Promise((resolve, reject) => {
    const child = spawn(suite.node, [...nodeArgs, suite.cli, ...args], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** How a run is named in test titles and results: the scenario, and the wire when one is forced. */
function labelOf(scenario, wire) {
  return wire ? `${scenario} @${wire}` : scenario;
}

/** The classification of a listed scenario's failing check, or undefined when it must pass. */
function notApplicable(version, scenario, id) {
  return SUITES[version].notApplicable[scenario]?.[id];
}

for (const [version, suite] of Object.entries(SUITES)) {
  test(`${version}: every scenario of the installed suite is classified as run or skipped`, async () => {
    const { code, out } = await cli(version, ['list', '--server']);
    assert.equal(code, 0, out);
    const listed = new Map([...out.matchAll(/^\s+- (\S+)(?: \[([^\]]*)\])?/gm)].map((m) => [m[1], m[2]?.split(',') ?? null]));
    assert.ok(listed.size > 10, out);
    const run = suite.run.map((r) => r.scenario);
    for (const s of run) assert.ok(listed.has(s), `scenario ${s} no longer exists`);
    const unclassified = [...listed.keys()].filter((s) => !run.includes(s) && !(s in suite.skip));
    assert.deepEqual(unclassified, [], 'new scenarios: decide whether they apply');
    for (const s of Object.keys(suite.skip)) assert.ok(listed.has(s), `skipped scenario ${s} no longer exists`);
    // A scenario skipped as "removed in 2026-07-28" must not be one the suite runs on that wire,
    // and one run on a wire must be listed for it.
    for (const s of suite.removedInModern ?? []) assert.ok(listed.get(s) && !listed.get(s).includes(MODERN), `${s} is listed for ${listed.get(s)}: decide whether it applies on ${MODERN}`);
    for (const { scenario, version: wire } of suite.run) if (wire) assert.ok(listed.get(scenario)?.includes(wire), `${scenario} is not listed for ${wire}`);
  });

  for (const { scenario, version: wire } of suite.run) {
    const label = labelOf(scenario, wire);
    test(`conformance ${version}: ${label}`, async () => {
      const s = state[version];
      const outDir = path.join(work, version, scenario);
      const { code, out: raw } = await cli(version, ['server', '--url', s.url, '--scenario', scenario, ...(wire ? ['--spec-version', wire] : []), '-o', outDir]);
      const out = raw.replace(/\x1b\[[0-9;]*m/g, '').slice(-2000);
      const [dir] = await readdir(outDir);
      const checks = JSON.parse(await readFile(path.join(outDir, dir, 'checks.json'), 'utf8'));
      const by = (status) => checks.filter((c) => c.status === status);
      const na = by('FAILURE').filter((c) => notApplicable(version, scenario, c.id));
      const failures = by('FAILURE')
        .filter((c) => !na.includes(c))
        .map((c) => `${c.id}: ${c.errorMessage}`);
      s.results[label] = { checks, counts: `${by('SUCCESS').length} passed, ${failures.length} failed, ${na.length} not applicable, ${by('WARNING').length} warnings` };
      assert.deepEqual(failures, [], out);
      // Each check listed as not applicable fails the way it must: for want of the fixture, not for a defect.
      for (const [id, rule] of Object.entries(suite.notApplicable[scenario] ?? {})) {
        const found = checks.filter((x) => x.id === id);
        assert.ok(found.length > 0, `${scenario}: the suite no longer reports ${id}; update the not-applicable list`);
        for (const c of found) {
          assert.equal(c.status, 'FAILURE', `${scenario}/${id} (${rule.reason}) is now ${c.status}: decide whether it applies`);
          assert.match(c.errorMessage, rule.message, `${scenario}/${id} failed for another reason than "${rule.reason}"`);
          if (rule.untestable) assert.equal(c.details?.untestable, true, `${scenario}/${id}`);
        }
      }
      // The CLI exits 1 on any FAILURE, not-applicable ones included.
      assert.equal(code, na.length > 0 ? 1 : 0, out);
      for (const id of suite.mustPass[scenario] ?? []) {
        const found = checks.filter((c) => c.id === id);
        assert.ok(found.length > 0, `${scenario}/${id} was not reported`);
        for (const c of found) assert.equal(c.status, 'SUCCESS', `${scenario}/${id}: ${c.errorMessage ?? ''}`);
      }
      for (const w of by('WARNING')) {
        const why = `${scenario}: unexpected warning ${w.id}: ${w.errorMessage ?? JSON.stringify(w.details)}`;
        assert.ok(suite.allowedWarning?.test(w.id), why);
      }
    });
  }

  test(`${version}: dns-rebinding: the 4xx came from the worker's Origin check, through the proxy unchanged`, () => {
    const wire = suite.run.find((r) => r.scenario === 'dns-rebinding-protection').version;
    const checks = state[version].results[labelOf('dns-rebinding-protection', wire)]?.checks;
    assert.ok(checks, 'the scenario ran');
    const rejected = checks.find((c) => c.id === 'localhost-host-rebinding-rejected');
    assert.equal(rejected.details.statusCode, 403);
    assert.equal(rejected.details.body.error.code, -32600);
    assert.match(rejected.details.body.error.message, /Origin/);
    const accepted = checks.find((c) => c.id === 'localhost-host-valid-accepted');
    assert.equal(accepted.details.statusCode, 200);
    // Probed with initialize on the old wire and server/discover on 2026-07-28, which also names us in _meta.
    assert.equal(accepted.details.body.result.serverInfo.name, 'scale-mcp-worker');
    if (wire === MODERN) assert.equal(accepted.details.body.result._meta['io.modelcontextprotocol/serverInfo'].name, 'scale-mcp-worker');
    // The forged Host and Origin reached the worker as sent.
    const forged = state[version].seen.filter(([, , host]) => host === 'evil.example.com');
    assert.equal(forged.length, 1);
    assert.deepEqual(forged[0], ['POST', '/mcp', 'evil.example.com', 'http://evil.example.com', 403]);
  });

  test(`${version}: the stateless worker never issued a session id to the suite, and every request was authenticated`, () => {
    const { seen, results } = state[version];
    assert.ok(seen.length > 10);
    assert.ok(!seen.some(([, , , , status]) => status === 401 || status === 502), JSON.stringify(seen));
    if (version === '0.1.16') {
      const sessionWarnings = ['server-sse-multiple-streams', 'server-sse-polling'].map((s) => results[s]?.checks.find((c) => c.id.endsWith('-session'))?.status);
      assert.deepEqual(sessionWarnings, ['WARNING', 'WARNING']);
    } else {
      const lifecycle = results[labelOf('server-session-lifecycle', '2025-11-25')]?.checks;
      assert.deepEqual(
        lifecycle?.map((c) => [c.id, c.status]),
        [['server-session-lifecycle-skipped', 'INFO']],
      );
    }
  });
}
