// Captures what the built worker answers to a fixed list of requests, so a
// refactor can show it changed no behaviour: run it before and after, and the
// two files must be identical.
//
//   npm run build && node scripts/capture-answers.mjs before.txt
//   ...change the code...
//   npm run build && node scripts/capture-answers.mjs after.txt
//   diff before.txt after.txt
//
// It starts the built worker (build/) in workerd with tests/e2e/harness.mjs's
// startStack, beside the Scale simulator, in several configurations (the
// stacks below), and sends every request in this file in order, one at a
// time: every tool on both protocol lanes, the transport's and the router's
// error paths, refusals by scope and by narrowing, Scale's errors (from the
// simulator and its fault injection), OAuth discovery, registration, the
// sign-in page, whole code grants with refresh and revocation, the grants
// page, webhooks (the operator's and a tenant's), health, the root and
// unknown paths. For each it writes the request, the status, the response
// headers and body, the Scale requests the worker made meanwhile (as the
// simulator logged them), the callbacks the simulator delivered, and the
// lines the worker logged (audit lines included).
//
// What differs from run to run is replaced by the rules in `Normaliser`
// below, each written out there: loopback ports, ids the simulator makes,
// OAuth tokens, codes, client ids and secrets, grant ids, CSRF values and
// cookies, callback delivery ids, times and durations, request ids. Ids are
// numbered in the order they first appear (`<id:3>`), so the file still shows
// which answer refers to which object; the fixed secrets and tokens of this
// file are shown by name. Two more rules keep the order of things fixed: the
// Scale requests of a tool that sends several at once (create_tasks, a
// detailed list_batches) are listed sorted, and where the order in which
// such requests end shows in an answer (progress), the simulator holds them
// for different times so that they end in order.
//
// Run both captures in the same checkout: one stack's outbound fetch fails on
// purpose, and the platform's error text it shows names this checkout's path.
//
// Not part of `npm test`: it asserts nothing about what the answers are, only
// that they stay the same. It does fail, like the e2e suite, if a secret
// appears in any response or log line (the harness checks on close).

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack, SECRETS } from '../tests/e2e/harness.mjs';
import { startSimulator } from '../sim/scale-sim.mjs';
import { outboundRouter, metadataDocument, hiddenFields, USER_KEYS, REDIRECT, CIMD_HOST } from '../tests/e2e/oauth-helpers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outFile = path.resolve(process.argv[2] ?? path.join(root, 'target/answers.txt'));

// ---------------------------------------------------------------------------
// Fixed inputs

/** The public origin every OAuth answer is built from (PUBLIC_URL). */
const PUBLIC_URL = 'https://scale-mcp.example.test';
const OAUTH_SECRET = 'capture-oauth-secret-0123456789abcdef';
/** Static tokens with labels and scopes (the JSON form of MCP_AUTH_TOKEN). */
const TOKENS = {
  ops: 'capture-ops-token-7c1d2e3f4a5b',
  reader: 'capture-reader-token-1a2b3c4d5e',
  writer: 'capture-writer-token-9f8e7d6c5b',
  teamer: 'capture-teamer-token-0a9b8c7d6e',
};
const TOKEN_JSON = JSON.stringify([
  { label: 'ops', token: TOKENS.ops },
  { label: 'reader', token: TOKENS.reader, scopes: ['scale:read'] },
  { label: 'writer', token: TOKENS.writer, scopes: ['scale:read', 'scale:write'] },
  { label: 'teamer', token: TOKENS.teamer, scopes: ['scale:team'] },
]);
const LIVE_KEY = 'live_capture_key_5e6f7a8b9c';
const USER_LIVE_KEY = 'live_capture_user_key_3c4d5e6f';
const TENANT_CALLBACK_KEY = 'capture-tenant-callback-key-42';
// PKCE (RFC 7636 appendix B's pair).
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const LEGACY = '2025-11-25';
const MODERN = '2026-07-28';

// ---------------------------------------------------------------------------
// Normalisation: every rule that makes two runs of the same build agree.

class Normaliser {
  constructor() {
    /** Literal strings (loopback URLs of this run) and what stands for them. */
    this.literals = [];
    /** kind -> Map(original -> number), numbered in order of first appearance. */
    this.seen = new Map();
  }

  /** `text` becomes `name` wherever it appears, also percent-encoded. */
  literal(text, name) {
    this.literals.push([text, name], [encodeURIComponent(text), encodeURIComponent(name)]);
    this.literals.sort((a, b) => b[0].length - a[0].length);
  }

  number(kind, value) {
    if (!this.seen.has(kind)) this.seen.set(kind, new Map());
    const m = this.seen.get(kind);
    if (!m.has(value)) m.set(value, m.size + 1);
    return `<${kind}:${m.get(value)}>`;
  }

  text(s) {
    if (s == null) return s;
    let t = String(s);
    // 1. The loopback URLs of this run's workers and simulators (their ports are free ports).
    for (const [from, to] of this.literals) t = t.split(from).join(to);
    // 2. HTTP Basic credentials other than the Scale key's (a client id and secret) are shown
    //    decoded, so the rules below apply to them.
    t = t.replace(/\bBasic ([A-Za-z0-9+/]{16,}={0,2})/g, (v, b64) => {
      const plain = Buffer.from(b64, 'base64').toString();
      return /^[\x20-\x7e]+:[\x20-\x7e]*$/.test(plain) ? `Basic base64(${plain})` : v;
    });
    // 3. OAuth values, which embed random bytes: codes, tokens, DCR client ids and secrets.
    //    Refresh tokens hold the grant id, so they go before grant ids.
    t = t.replace(/smcp_(ac|at|rt|c|cs)_[A-Za-z0-9_.-]+/g, (v, kind) => this.number(`smcp_${kind}`, v));
    // 4. Grant ids (`g_` + 16 random bytes, base64url).
    t = t.replace(/\bg_[A-Za-z0-9_-]{22}\b/g, (v) => this.number('grant', v));
    // 5. CSRF values and grants-page tickets (the time to the second and an HMAC: two
    //    pages within one second may share one, so they are not numbered), and the
    //    sign-in cookie (random).
    t = t.replace(/(name="(csrf|ticket)" value=")[^"]*"/g, (_, a, kind) => `${a}<${kind}>"`);
    t = t.replace(/\b(csrf|ticket)=[^&\s"]+/g, (_, kind) => `${kind}=<${kind}>`);
    t = t.replace(/((?:^|[;\s])(?:__Host-)?smcp[_-][a-z_-]+=)([^;\s"]+)/gi, (_, a, v) => `${a}${this.number('cookie', v)}`);
    // 6. Callback-log delivery ids: inverted receive time, `-`, the body's hash (and a slot).
    t = t.replace(/\b\d{13}-[0-9a-f]{16}(?:\.\d+)?\b/g, (v) => this.number('delivery', v));
    // 7. Ids the simulator makes (24 hex digits, like Scale's).
    t = t.replace(/\b[0-9a-f]{24}\b/g, (v) => this.number('id', v));
    // 8. Times: ISO 8601 date-times, the pages' `YYYY-MM-DD HH:MM UTC`, and epoch seconds or
    //    milliseconds within two years of now (issue and expiry times).
    t = t.replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)/g, '<time>');
    t = t.replace(/\b\d{4}-\d\d-\d\d \d\d:\d\d UTC\b/g, '<time> UTC');
    const now = Date.now();
    t = t.replace(/\b1\d{9}(\d{3})?\b/g, (v, ms) => {
      const at = ms ? Number(v) : Number(v) * 1000;
      return Math.abs(at - now) < 2 * 365 * 86400e3 ? (ms ? '<epoch-ms>' : '<epoch-s>') : v;
    });
    // 9. Durations and request ids the worker logs: `in 12 ms`, audit lines' `ms`, the
    //    request id made from the clock when there is no cf-ray.
    t = t.replace(/ in \d+ ms\b/g, ' in <ms> ms');
    t = t.replace(/(\\?")ms\1:\d+/g, '$1ms$1:$1<ms>$1');
    t = t.replace(/(\\?")request_id\1:(\\?")[0-9a-f]+-[0-9a-f]+\2/g, '$1request_id$1:$2<request-id>$2');
    // 10. How long a wait waited depends on the clock.
    t = t.replace(/(\\?")waited_s\1:[\d.]+/g, '$1waited_s$1:$1<s>$1');
    t = t.replace(/after [\d.]+ s\b/g, 'after <s> s');
    return t;
  }
}

// ---------------------------------------------------------------------------
// Writing entries

const norm = new Normaliser();
// Fixed secrets and tokens are named, not printed: the file is for reading diffs.
for (const [k, v] of Object.entries(SECRETS)) norm.literal(v, `<secret:${k}>`);
norm.literal(Buffer.from(`${SECRETS.SCALE_API_KEY}:`).toString('base64'), '<secret:SCALE_API_KEY as Basic>');
for (const [k, v] of Object.entries(TOKENS)) norm.literal(v, `<token:${k}>`);
for (const [k, v] of Object.entries(USER_KEYS)) norm.literal(v, `<secret:user-${k}-key>`);
norm.literal(LIVE_KEY, '<secret:LIVE_KEY>');
norm.literal(USER_LIVE_KEY, '<secret:USER_LIVE_KEY>');
norm.literal(TENANT_CALLBACK_KEY, '<secret:TENANT_CALLBACK_KEY>');
norm.literal(OAUTH_SECRET, '<secret:OAUTH_SECRET>');
const out = [];
let entryNo = 0;
let rpcId = 0;

/** Response headers left out: they say nothing about behaviour and differ between runs. */
const SKIP_HEADERS = new Set(['date', 'content-length', 'connection', 'keep-alive', 'transfer-encoding']);

function body(text, contentType = '') {
  if (text === '') return ['(empty)'];
  const t = norm.text(text);
  const lines = [];
  let parsed;
  if (/json/.test(contentType) || /^[[{]/.test(t.trim())) {
    try {
      parsed = JSON.parse(t);
    } catch {}
  }
  if (parsed !== undefined) {
    lines.push(...JSON.stringify(parsed, null, 2).split('\n'));
  } else if (/html/.test(contentType)) {
    // One element a line, so a changed page reads as a small diff.
    lines.push(...t.replace(/></g, '>\n<').split('\n'));
  } else {
    lines.push(...t.replace(/\r\n/g, '\n').split('\n'));
  }
  // The exact bytes (after normalisation), which the pretty form above does not show.
  lines.push(`(${Buffer.byteLength(t)} bytes, sha256 ${createHash('sha256').update(t).digest('hex').slice(0, 16)})`);
  return lines;
}

function section(title) {
  out.push('', `${'='.repeat(78)}`, `== ${title}`, `${'='.repeat(78)}`);
}

/** One stack: the worker, its simulator(s) and the cursors into their logs. */
class Stack {
  constructor(name, stack, extraSims = {}) {
    this.name = name;
    this.s = stack;
    this.url = stack.url;
    this.sims = { main: stack.sim, ...extraSims };
    this.logAt = 0;
    norm.literal(stack.url, `<worker:${name}>`);
    for (const [n, sim] of Object.entries(this.sims)) norm.literal(sim.url, `<sim:${name}:${n}>`);
  }

  /**
   * The Scale requests each simulator logged since the last call, and the
   * callbacks it delivered; `toWorker` counts deliveries made to this worker
   * (each is a request whose log line to wait for).
   */
  async simLog() {
    const lines = [];
    let toWorker = 0;
    for (const [n, sim] of Object.entries(this.sims)) {
      const reqs = await (await fetch(`${sim.url}/__sim/requests`)).json();
      await fetch(`${sim.url}/__sim/requests`, { method: 'DELETE' });
      const dels = await (await fetch(`${sim.url}/__sim/deliveries`)).json();
      await fetch(`${sim.url}/__sim/deliveries`, { method: 'DELETE' });
      const tag = n === 'main' ? '' : `[${n}] `;
      for (const r of reqs) {
        const q = r.query ? (r.query.startsWith('?') ? r.query : `?${r.query}`) : '';
        lines.push(`scale: ${tag}${r.method} ${r.path}${q}${r.body ? `  ${r.body}` : ''}`);
      }
      for (const d of dels) {
        if (String(d.url).startsWith(this.url)) toWorker += 1;
        lines.push(`delivered: ${tag}${d.kind} ${d.task_id ?? d.batch} (${d.trigger}) to ${d.url}: ${d.status_code ?? d.error}`);
      }
    }
    return { lines: lines.map((l) => norm.text(l)), toWorker };
  }

  /** Waits for the worker's log line of each of `requests` more requests, then takes the new lines. */
  async workerLog(requests = 1) {
    const isHead = (l) => /^\S+ \S+ .* in \d+ ms/.test(l);
    const start = this.logAt;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const heads = this.s.logs.slice(start).filter(isHead).length;
      if (heads >= requests) break;
      await sleep(5);
    }
    await sleep(15);
    const lines = this.s.logs.slice(start);
    this.logAt = this.s.logs.length;
    return lines.map((l) => norm.text(l));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends one HTTP request to `st` and records it. `opts.sorted` sorts the Scale
 * requests of the entry (for tools that send several at once, whose arrival
 * order is not fixed); `opts.requests` is how many worker log lines to wait for.
 */
async function send(st, title, { method = 'GET', path: p, headers = {}, body: b, sorted = false, requests = 1, show = true } = {}) {
  entryNo += 1;
  const init = { method, headers, redirect: 'manual' };
  if (b !== undefined) init.body = b;
  const res = await fetch(st.url + p, init);
  const text = await res.text();
  const { lines: scale, toWorker } = await st.simLog();
  if (sorted) scale.sort();
  const logs = await st.workerLog(requests + toWorker);
  const ct = res.headers.get('content-type') || '';
  out.push('', `### ${entryNo}. ${title}  [${st.name}]`);
  out.push(`> ${method} ${norm.text(p)}`);
  for (const [k, v] of Object.entries(headers)) out.push(`> ${k}: ${norm.text(v)}`);
  if (b !== undefined) out.push(`> ${norm.text(typeof b === 'string' ? b : '(binary)')}`.slice(0, 4000));
  out.push(`< ${res.status}`);
  const hs = [...res.headers].filter(([k]) => !SKIP_HEADERS.has(k)).sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0));
  for (const [k, v] of hs) out.push(`< ${k}: ${norm.text(v)}`);
  if (show) out.push(...body(text, ct).map((l) => `< ${l}`));
  else out.push(`< (body left out) ${body(text, ct).at(-1)}`);
  for (const l of scale) out.push(l);
  for (const l of logs) out.push(`log: ${l}`);
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

/** A control call to a simulator (task completion, faults), recorded with what it caused. */
async function simControl(st, title, sim, p, payload) {
  entryNo += 1;
  const r = await fetch(`${st.sims[sim].url}/__sim/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload === undefined ? undefined : JSON.stringify(payload) });
  const text = await r.text();
  if (!r.ok) throw new Error(`sim control ${p}: ${r.status} ${text}`);
  const { lines: scale, toWorker } = await st.simLog();
  const logs = await st.workerLog(toWorker);
  out.push('', `### ${entryNo}. ${title}  [${st.name}]`, `> simulator ${sim}: POST /__sim/${norm.text(p)} ${norm.text(JSON.stringify(payload ?? null))}`);
  out.push(...scale, ...logs.map((l) => `log: ${l}`));
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// MCP helpers

function legacyBody(method, params, id = ++rpcId) {
  return { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) };
}

function modernBody(method, params = {}, id = ++rpcId) {
  return { jsonrpc: '2.0', id, method, params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {}, ...(params._meta || {}) } } };
}

function modernHeaders(method, params = {}) {
  const h = { 'mcp-protocol-version': MODERN, 'mcp-method': method };
  if (params.name !== undefined) h['mcp-name'] = params.name;
  if (params.uri !== undefined) h['mcp-name'] = params.uri;
  return h;
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** Tools that send several Scale requests at once, whose arrival order is not fixed. */
const sendsAtOnce = (params) => params?.name === 'create_tasks' || (params?.name === 'list_batches' && params.arguments?.detailed === true);

/** One JSON-RPC request to an MCP path. `lane` is 'legacy' (2025-11-25), 'modern', or 'none' (no version header). */
async function mcp(st, title, method, params, opts = {}) {
  const { lane = 'legacy', path: p = '/mcp', headers = {}, ...rest } = opts;
  if (method === 'tools/call' && sendsAtOnce(params)) rest.sorted = true;
  delete rest.token;
  // A token an earlier step failed to obtain is sent as a placeholder, so the file shows the failure.
  const token = 'token' in opts ? opts.token ?? 'missing-token-from-an-earlier-step' : TOKENS.ops;
  const body = lane === 'modern' ? modernBody(method, params) : legacyBody(method, params);
  const h = { ...JSON_HEADERS, ...(lane === 'modern' ? modernHeaders(method, params) : lane === 'legacy' ? { 'mcp-protocol-version': LEGACY } : {}), ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
  return send(st, `${lane} ${method}${params?.name ? ` ${params.name}` : ''}${title ? `: ${title}` : ''}`, { method: 'POST', path: p, headers: h, body: JSON.stringify(body), ...rest });
}

/** tools/call; resolves the structured result (or the error text) as the client would read it. */
async function tool(st, name, args, opts = {}) {
  const { title = '', ...rest } = opts;
  const r = await mcp(st, title, 'tools/call', { name, arguments: args }, rest);
  return r.json?.result?.structuredContent ?? r.json?.result ?? r.json;
}

// Later parts of this file fill these in.
const parts = [];

// ---------------------------------------------------------------------------
// The main stack: OAuth on (operator access and own keys), static tokens of
// every scope, callback hosts, invite domains and allowed origins set.

let router;
let main;

let liveUserSim;
parts.push(async () => {
  router = await outboundRouter();
  // A user's own live_ key reaches a simulator of its own; everything else goes through the router.
  liveUserSim = await startSimulator({ apiKey: USER_LIVE_KEY });
  const outbound = async (request) => {
    const base = router.state.scaleBase;
    const key = Buffer.from((request.headers.get('authorization') || '').replace(/^Basic /, ''), 'base64').toString().replace(/:$/, '');
    if (base && request.url.startsWith(base) && key === USER_LIVE_KEY) {
      const init = { method: request.method, headers: request.headers };
      if (!['GET', 'HEAD'].includes(request.method)) init.body = await request.arrayBuffer();
      return fetch(liveUserSim.base + request.url.slice(base.length), init);
    }
    return router.handler(request);
  };
  const s = await startStack({
    vars: {
      MCP_AUTH_TOKEN: TOKEN_JSON,
      OAUTH_SECRET,
      OAUTH_BYOK: 'true',
      PUBLIC_URL,
      CALLBACK_HOSTS: 'hooks.example.com',
      TEAM_INVITE_DOMAINS: 'example.com',
      ALLOWED_ORIGINS: 'https://app.example.com',
      WEBHOOK_MAX_BYTES: '65536',
    },
    outbound,
  });
  router.state.scaleBase = s.sim.base;
  Object.assign(s.secrets, { OAUTH_SECRET, USER_KEY_A: USER_KEYS.a, USER_KEY_B: USER_KEYS.b, TENANT_CALLBACK_KEY, ...Object.fromEntries(Object.entries(TOKENS).map(([k, v]) => [`TOKEN_${k}`, v])) });
  const doc = metadataDocument('/capture-client.json', { name: 'Capture CIMD client' });
  router.state.documents.set(new URL(doc.clientId).pathname, doc.serve);
  Object.assign(s.secrets, { USER_LIVE_KEY });
  main = new Stack('main', s, { 'user-a': router.sims.a, 'user-b': router.sims.b, 'user-live': liveUserSim });
});

// -- routes outside /mcp ------------------------------------------------------

parts.push(async () => {
  section('main: routes, health, unknown paths');
  const st = main;
  await send(st, 'the root', { path: '/' });
  await send(st, 'health without a token', { path: '/health' });
  await send(st, 'health with a token', { path: '/health', headers: { authorization: `Bearer ${TOKENS.reader}` } });
  await send(st, 'health with a wrong token', { path: '/health', headers: { authorization: 'Bearer not-a-token-of-this-server' } });
  await send(st, 'health, HEAD', { method: 'HEAD', path: '/health' });
  await send(st, 'health, POST', { method: 'POST', path: '/health' });
  await send(st, 'an unknown path', { path: '/nope' });
  await send(st, 'an unknown path, POST', { method: 'POST', path: '/nope', headers: { 'content-type': 'application/json' }, body: '{}' });
  await send(st, 'the root, DELETE', { method: 'DELETE', path: '/' });
  await send(st, 'an unknown path under /mcp', { method: 'POST', path: '/mcp/other', headers: { ...JSON_HEADERS, authorization: `Bearer ${TOKENS.ops}` }, body: JSON.stringify(legacyBody('ping')) });
  await send(st, 'the retired HTTP+SSE transport', { path: '/sse' });
  await send(st, 'the retired HTTP+SSE transport, POST', { method: 'POST', path: '/sse', body: '{}' });
  await send(st, 'the retired HTTP+SSE transport under /mcp', { path: '/mcp/sse' });
  await send(st, 'OpenID discovery (not served)', { path: '/.well-known/openid-configuration' });
  await send(st, 'a path-suffixed authorization server URL', { path: '/.well-known/oauth-authorization-server/mcp' });
  await send(st, 'an unknown well-known path', { path: '/.well-known/oauth-other' });
});

// -- /mcp: methods, origins, credentials ---------------------------------------

parts.push(async () => {
  section('main: /mcp methods, origins and credentials');
  const st = main;
  const ping = JSON.stringify(legacyBody('ping'));
  const auth = { authorization: `Bearer ${TOKENS.ops}` };
  await send(st, 'GET /mcp (no stream)', { path: '/mcp', headers: { ...auth, accept: 'text/event-stream' } });
  await send(st, 'DELETE /mcp (no session)', { method: 'DELETE', path: '/mcp', headers: auth });
  await send(st, 'PUT /mcp', { method: 'PUT', path: '/mcp', headers: { ...auth, 'content-type': 'application/json' }, body: ping });
  await send(st, 'CORS preflight from a loopback origin', { method: 'OPTIONS', path: '/mcp', headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version' } });
  await send(st, 'CORS preflight from a disallowed origin', { method: 'OPTIONS', path: '/mcp', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  await send(st, 'POST from an origin in ALLOWED_ORIGINS', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, ...auth, origin: 'https://app.example.com' }, body: ping });
  await send(st, 'POST from a disallowed origin', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, ...auth, origin: 'https://evil.example' }, body: ping });
  await send(st, 'POST from the null origin', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, ...auth, origin: 'null' }, body: ping });
  await send(st, 'POST from an origin with a path', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, ...auth, origin: 'http://localhost:6274/x' }, body: ping });
  await send(st, 'no Authorization header', { method: 'POST', path: '/mcp', headers: JSON_HEADERS, body: ping });
  await send(st, 'no Authorization header, narrowed path', { method: 'POST', path: '/mcp/projects/proj-legacy/readonly', headers: JSON_HEADERS, body: ping });
  await send(st, 'a token that is not ours', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: 'Bearer not-a-token-of-this-server' }, body: ping });
  await send(st, 'an OAuth-shaped token that was never issued', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: `Bearer smcp_at_${'A'.repeat(43)}` }, body: ping });
  await send(st, 'Basic instead of Bearer', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: `Basic ${Buffer.from(`${TOKENS.ops}:`).toString('base64')}` }, body: ping });
  await send(st, 'an empty Bearer', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: 'Bearer ' }, body: ping });
  await send(st, 'the token in the query string is not read', { method: 'POST', path: `/mcp?access_token=${TOKENS.ops}`, headers: JSON_HEADERS, body: ping });
  await send(st, 'lower-case bearer scheme', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: `bearer ${TOKENS.ops}` }, body: ping });
});

// -- /mcp: the transport ---------------------------------------------------------

parts.push(async () => {
  section('main: /mcp transport, JSON-RPC and protocol lanes');
  const st = main;
  const h = { ...JSON_HEADERS, authorization: `Bearer ${TOKENS.ops}` };
  const post = (title, body, headers = h, extra = {}) => send(st, title, { method: 'POST', path: '/mcp', headers, body, ...extra });
  await post('Content-Type text/plain', JSON.stringify(legacyBody('ping')), { ...h, 'content-type': 'text/plain' });
  await post('no Content-Type', JSON.stringify(legacyBody('ping')), { authorization: h.authorization, accept: 'application/json' });
  await post('no Accept', JSON.stringify(legacyBody('ping')), { authorization: h.authorization, 'content-type': 'application/json' });
  await post('Content-Type with charset', JSON.stringify(legacyBody('ping')), { ...h, 'content-type': 'application/json; charset=utf-8' });
  await post('a body that is not JSON', 'not json');
  await post('an empty body', '');
  await post('JSON with a repeated key', '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}');
  await post('JSON nested too deep', `${'['.repeat(200)}${']'.repeat(200)}`);
  await post('invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
  await post('a body over 1 MiB', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(1024 * 1024) } }));
  await post('a JSON string', '"ping"');
  await post('JSON null', 'null');
  await post('jsonrpc 1.0', '{"jsonrpc":"1.0","id":1,"method":"ping"}');
  await post('no jsonrpc member', '{"id":1,"method":"ping"}');
  await post('an object as id', '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}');
  await post('an id of 300 characters', JSON.stringify({ jsonrpc: '2.0', id: 'i'.repeat(300), method: 'ping' }));
  await post('a fractional id', '{"jsonrpc":"2.0","id":1.5,"method":"ping"}');
  await post('a method that is not a string', '{"jsonrpc":"2.0","id":1,"method":5}');
  await post('params that are an array', '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[]}');
  await post('a notification', '{"jsonrpc":"2.0","method":"notifications/initialized"}');
  await post('a response from the client', '{"jsonrpc":"2.0","id":5,"result":{}}');
  // Batches (2025-03-26 only, which a request without a version header is taken to speak).
  const noVersion = { ...h };
  await post('a batch of two, no version header', JSON.stringify([legacyBody('ping'), legacyBody('tools/call', { name: 'list_projects', arguments: {} })]), noVersion);
  await post('a batch of notifications only', JSON.stringify([{ jsonrpc: '2.0', method: 'notifications/initialized' }]), noVersion);
  await post('an empty batch', '[]', noVersion);
  await post('a batch of 21', JSON.stringify(Array.from({ length: 21 }, () => legacyBody('ping'))), noVersion);
  await post('a batch with an invalid member', JSON.stringify([legacyBody('ping'), { id: 9 }, 'x']), noVersion);
  await post('a batch under 2025-06-18', JSON.stringify([legacyBody('ping')]), { ...h, 'mcp-protocol-version': '2025-06-18' });
  await post('a batch on the modern lane', JSON.stringify([modernBody('tools/list')]), { ...h, ...modernHeaders('tools/list') });
  await post('a batch of two, answered as SSE', JSON.stringify([legacyBody('ping'), legacyBody('ping')]), { ...h, accept: 'text/event-stream' });
  // Versions and lanes.
  for (const v of ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25', '2099-01-01']) {
    await post(`initialize asking for ${v}`, JSON.stringify(legacyBody('initialize', { protocolVersion: v, capabilities: {}, clientInfo: { name: 'capture', version: '1' } })));
  }
  await post('initialize without params', JSON.stringify(legacyBody('initialize')));
  await post('an unsupported MCP-Protocol-Version header', JSON.stringify(legacyBody('ping')), { ...h, 'mcp-protocol-version': '1999-01-01' });
  await post('header and _meta versions differ', JSON.stringify(modernBody('tools/list')), { ...h, 'mcp-protocol-version': '2025-06-18', 'mcp-method': 'tools/list' });
  await post('modern _meta without a version header', JSON.stringify(modernBody('tools/list')), { ...h, 'mcp-method': 'tools/list' });
  await post('modern lane without Mcp-Method', JSON.stringify(modernBody('tools/list')), { ...h, 'mcp-protocol-version': MODERN });
  await post('modern lane, Mcp-Method differs', JSON.stringify(modernBody('tools/list')), { ...h, 'mcp-protocol-version': MODERN, 'mcp-method': 'ping' });
  await post('modern tools/call without Mcp-Name', JSON.stringify(modernBody('tools/call', { name: 'list_projects', arguments: {} })), { ...h, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call' });
  await post('modern tools/call, Mcp-Name differs', JSON.stringify(modernBody('tools/call', { name: 'list_projects', arguments: {} })), { ...h, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'get_task' });
  await post('modern lane without _meta', JSON.stringify(legacyBody('tools/list', {})), { ...h, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' });
  await mcp(st, '', 'ping', undefined, { lane: 'legacy' });
  await mcp(st, 'no version header', 'ping', undefined, { lane: 'none' });
  await mcp(st, '', 'ping', {}, { lane: 'modern' });
  await mcp(st, '', 'server/discover', {}, { lane: 'modern' });
  await mcp(st, '', 'server/discover', {}, { lane: 'legacy' });
  await mcp(st, '', 'initialize', { protocolVersion: MODERN, capabilities: {}, clientInfo: { name: 'capture', version: '1' } }, { lane: 'modern' });
  await mcp(st, '', 'prompts/list', {}, { lane: 'legacy' });
  await mcp(st, '', 'prompts/list', {}, { lane: 'modern' });
  await mcp(st, '', 'logging/setLevel', { level: 'info' }, { lane: 'legacy' });
  await mcp(st, '', 'tools/list', undefined, { lane: 'legacy' });
  await mcp(st, '', 'tools/list', {}, { lane: 'modern' });
  await mcp(st, 'with a cursor', 'tools/list', { cursor: 'abc' }, { lane: 'legacy' });
  await mcp(st, 'with a null cursor', 'tools/list', { cursor: null }, { lane: 'legacy' });
  await mcp(st, '', 'resources/templates/list', {}, { lane: 'legacy' });
  await mcp(st, '', 'resources/templates/list', {}, { lane: 'modern' });
  await mcp(st, 'without a name', 'tools/call', { arguments: {} }, { lane: 'legacy' });
  await mcp(st, 'arguments that are an array', 'tools/call', { name: 'list_projects', arguments: [] }, { lane: 'legacy' });
  await mcp(st, 'null arguments', 'tools/call', { name: 'list_projects', arguments: null }, { lane: 'legacy' });
  await mcp(st, 'an unknown tool', 'tools/call', { name: 'delete_everything', arguments: {} }, { lane: 'legacy' });
  await mcp(st, 'an unknown tool', 'tools/call', { name: 'delete_everything', arguments: {} }, { lane: 'modern' });
  await mcp(st, 'answered as SSE (Accept names only text/event-stream)', 'ping', undefined, { lane: 'legacy', headers: { accept: 'text/event-stream' } });
  await post('a parse error answered as SSE', 'nope', { ...h, accept: 'text/event-stream' });
});

// -- every tool, on each lane ------------------------------------------------------

/** Every tool on one lane, in an order that gives each call something to act on. */
async function tour(st, lane) {
  section(`main: every tool on the ${lane} lane`);
  const o = { lane };
  const sfx = lane;
  const hook = `${st.url}/webhooks/scale`;
  const proj = `proj-${sfx}`;
  const rapid = `rapid-${sfx}`;
  const batch = `batch-${sfx}`;
  await tool(st, 'create_project', { type: 'categorization', name: proj, params: { instruction: 'Pick the right category.' } }, o);
  await tool(st, 'create_project', { type: 'imageannotation', name: rapid, rapid: true }, o);
  await tool(st, 'list_projects', {}, o);
  await tool(st, 'list_projects', { archived: false }, o);
  await tool(st, 'get_project', { name: proj }, o);
  await tool(st, 'update_project', { name: proj, instruction: 'Pick one category.', params: { categories: ['cat', 'dog'] }, patch: true, ontology: ['cat', { choice: 'dog', subchoices: ['puppy'] }], ontology_name: 'v2' }, o);
  await tool(st, 'update_project', { name: proj, params: { categories: ['cat', 'dog', 'bird'] } }, o);
  await tool(st, 'create_batch', { project: rapid, name: batch, callback: hook, metadata: { source: 'capture' }, calibration_batch: false, self_label_batch: false }, o);
  await tool(st, 'get_batch', { name: batch }, o);
  const t1 = await tool(st, 'create_task', { type: 'categorization', project: proj, instruction: 'Is it a cat?', attachment: 'https://img.example/1.jpg', attachment_type: 'image', callback_url: hook, unique_id: `u-${sfx}-1`, metadata: { n: 1 }, tags: ['split:train'], params: { categories: ['cat', 'dog'] } }, o);
  const t2 = await tool(st, 'create_task', { type: 'imageannotation', batch, attachment: 'https://img.example/2.jpg', callback_url: hook, params: { geometries: { box: { objects_to_annotate: ['sign'] } } } }, o);
  await tool(st, 'create_evaluation_task', { type: 'imageannotation', project: rapid, expected_response: { annotations: [] }, initial_response: { annotations: [] }, params: { attachment: 'https://img.example/e.jpg', geometries: { box: { objects_to_annotate: ['sign'] } } } }, o);
  await tool(st, 'create_task', { type: 'categorization', project: proj, attachment: 'https://img.example/1b.jpg', params: { categories: ['cat', 'dog'] } }, { ...o, title: 'a second task, without unique_id' });
  await tool(st, 'get_task', { task_id: t1.task_id }, o);
  const page1 = await tool(st, 'list_tasks', { project: proj, limit: 1 }, o);
  await tool(st, 'list_tasks', { project: proj, limit: 1, next_token: page1.next_token }, { ...o, title: 'the next page' });
  await tool(st, 'list_tasks', { project: proj, status: 'pending', type: 'categorization', tags: ['split:train', 'bulk'], unique_id: `u-${sfx}-1`, customer_review_status: ['pending', 'accepted'], created_after: '2020-01-01', created_before: '2999-01-01', completed_after: '2020-01-01', completed_before: '2999-01-01', updated_after: '2020-01-01', updated_before: '2999-01-01', limited_response: true, include_attachment_url: false, limit: 100 }, { ...o, title: 'every filter' });
  await tool(st, 'list_tasks', { batch, limited_response: false, include_attachment_url: true }, o);
  // Bulk creates run side by side, so they come after the listings above, whose order they would blur.
  const items = [1, 2, 3].map((i) => ({ attachment: `https://img.example/bulk-${i}.jpg`, metadata: { i }, tags: ['bulk'], params: { categories: ['cat', 'dog'] } }));
  items.push({ unique_id: `own-${sfx}`, attachment: 'https://img.example/bulk-own.jpg', instruction: 'Own id', callback_url: hook, params: { categories: ['cat'] } });
  const bulk = { type: 'categorization', project: proj, idempotency_key: `bulk-${sfx}`, items };
  await tool(st, 'create_tasks', bulk, o);
  await tool(st, 'create_tasks', bulk, { ...o, title: 'the same call again' });
  await tool(st, 'create_tasks', { ...bulk, items: [...items, { attachment: 'https://img.example/bulk-4.jpg', params: { categories: ['cat'] } }] }, { ...o, title: 'one item more' });
  await tool(st, 'create_tasks', { type: 'categorization', project: proj, idempotency_key: `progress-${sfx}`, items: items.slice(0, 2) }, { ...o, title: 'two items, ids derived' });
  await tool(st, 'update_task', { task_id: t1.task_id, metadata: { n: 2 }, add_tags: ['reviewed'], remove_tags: ['split:train'], unique_id: `u-${sfx}-1b` }, o);
  await tool(st, 'update_task', { task_id: t1.task_id, set_tags: ['final'], clear_unique_id: true }, o);
  await simControl(st, `the simulator completes task 1 (${lane})`, 'main', `tasks/${t1.task_id}/complete`, { response: { category: 'cat' } });
  await tool(st, 'wait_for_task', { task_id: t1.task_id, timeout_s: 5 }, o);
  const cbs = await tool(st, 'list_callbacks', { task_id: t1.task_id }, o);
  await tool(st, 'get_callback', { id: cbs.callbacks?.[0]?.id ?? 'none' }, o);
  await tool(st, 'resend_callback', { task_id: t1.task_id }, o);
  const t3 = await tool(st, 'create_task', { type: 'categorization', project: proj, attachment: 'https://img.example/3.jpg', unique_id: `u-${sfx}-3`, params: { categories: ['cat'] } }, { ...o, title: 'a task to cancel' });
  await tool(st, 'cancel_task', { task_id: t3.task_id, clear_unique_id: true }, o);
  await tool(st, 'cancel_task', { task_id: t3.task_id }, { ...o, title: 'again' });
  await tool(st, 'create_batch', { project: rapid, name: `${batch}-b` }, { ...o, title: 'a second batch' });
  await tool(st, 'list_batches', { project: rapid, detailed: true }, o);
  await tool(st, 'list_batches', { project: rapid, status: 'staging', limit: 1, offset: 0, created_after: '2020-01-01', created_before: '2999-01-01', completed_after: '2020-01-01', completed_before: '2999-01-01' }, { ...o, title: 'every filter' });
  await tool(st, 'list_batches', { project: rapid, limit: 1, offset: 1 }, { ...o, title: 'the next page' });
  await tool(st, 'finalize_batch', { name: batch, priority: 20 }, o);
  await tool(st, 'finalize_batch', { name: `${batch}-b` }, { ...o, title: 'without priority' });
  await simControl(st, `the simulator completes the batch (${lane})`, 'main', `batches/${batch}/complete`, { response: { annotations: [] } });
  await tool(st, 'wait_for_batch', { name: batch, timeout_s: 5 }, o);
  await tool(st, 'wait_for_task', { task_id: t3.task_id, timeout_s: 5 }, { ...o, title: 'a canceled task' });
  await tool(st, 'get_batch', { name: batch }, { ...o, title: 'completed' });
  await tool(st, 'manage_team', { action: 'list' }, o);
  await tool(st, 'manage_team', { action: 'invite', emails: [`new-${sfx}@example.com`], role: 'member' }, o);
  await tool(st, 'manage_team', { action: 'set_role', emails: [`new-${sfx}@example.com`], role: 'manager' }, o);
  await tool(st, 'import_file', { file_url: `https://files.example/${sfx}.jpg`, project_name: rapid }, o);
  await tool(st, 'import_file', { file_url: `https://files.example/${sfx}-2.jpg` }, { ...o, title: 'no project' });
  await tool(st, 'list_callbacks', {}, { ...o, title: 'the whole log' });
  const p1 = await tool(st, 'list_callbacks', { batch, status: 'completed', limit: 1 }, o);
  await tool(st, 'list_callbacks', { batch, status: 'completed', limit: 1, cursor: p1.next_cursor }, { ...o, title: 'the next page' });
  const res = await mcp(st, '', 'resources/list', {}, o);
  const uri = res.json?.result?.resources?.[0]?.uri ?? 'scale-callback://deliveries/none';
  await mcp(st, '', 'resources/read', { uri }, o);
  await mcp(st, 'an unknown delivery', 'resources/read', { uri: 'scale-callback://deliveries/0000000000000-0000000000000000' }, o);
  await mcp(st, 'another scheme', 'resources/read', { uri: 'file:///etc/passwd' }, o);
  await mcp(st, 'a bad cursor', 'resources/list', { cursor: 'bogus' }, o);
  // Progress: create_tasks and the waits stream notifications when asked to.
  const withToken = (args, token) => ({ name: args.name, arguments: args.arguments, _meta: { progressToken: token } });
  const sse = { ...o, headers: { accept: 'application/json, text/event-stream' } };
  // Creates run side by side and report as each ends: hold them 0, 0.4 and 0.8 s so they end in order.
  await simControl(st, 'latency: the three creates end in order', 'main', 'config', { latency: [1, 2, 3].map((i) => ({ method: 'POST', bodyContains: `bulk-${i}.jpg`, ms: (i - 1) * 400 })) });
  await mcp(st, 'with a progress token', 'tools/call', withToken({ name: 'create_tasks', arguments: { type: 'categorization', project: proj, idempotency_key: `stream-${sfx}`, items: items.slice(0, 3) } }, `p-${sfx}-1`), { ...sse });
  await simControl(st, 'latency: none', 'main', 'config', { latency: null });
  await mcp(st, 'with a progress token', 'tools/call', withToken({ name: 'wait_for_task', arguments: { task_id: t1.task_id, timeout_s: 3 } }, `p-${sfx}-2`), sse);
  await mcp(st, 'with a progress token', 'tools/call', withToken({ name: 'wait_for_batch', arguments: { name: batch, timeout_s: 3 } }, `p-${sfx}-3`), sse);
  await mcp(st, 'with a progress token, Accept without SSE', 'tools/call', withToken({ name: 'wait_for_batch', arguments: { name: batch, timeout_s: 3 } }, `p-${sfx}-4`), { ...o, headers: { accept: 'application/json' } });
  await mcp(st, 'with a progress token, a tool without progress', 'tools/call', withToken({ name: 'get_task', arguments: { task_id: t1.task_id } }, `p-${sfx}-5`), sse);
  return { t1, t2, t3, proj, rapid, batch };
}

const tours = {};
parts.push(async () => {
  tours.legacy = await tour(main, 'legacy');
  tours.modern = await tour(main, 'modern');
});

// -- invalid arguments, Scale's errors, faults, guarded writes ------------------------

parts.push(async () => {
  section('main: invalid arguments (nothing is sent to Scale)');
  const st = main;
  const bad = (name, args, title = '') => tool(st, name, args, { title: title || `invalid: ${JSON.stringify(args).slice(0, 60)}` });
  await bad('get_task', {});
  await bad('get_task', { task_id: 5 });
  await bad('get_task', { task_id: 't', extra: true });
  await bad('get_task', { task_id: '' });
  await bad('get_task', { task_id: '..' });
  await bad('get_task', { task_id: 'x'.repeat(1025) }, 'a task id over 1024 bytes');
  await bad('get_task', { task_id: 'a/b?c#d' }, 'a task id with slashes (sent as one segment)');
  await bad('list_tasks', { limit: 0 });
  await bad('list_tasks', { limit: 101 });
  await bad('list_tasks', { limit: 2.5 });
  await bad('list_tasks', { status: 'done' });
  await bad('list_tasks', { created_after: 'yesterday' });
  await bad('list_tasks', { tags: 'x' });
  await bad('list_tasks', { customer_review_status: ['maybe'] });
  await bad('create_task', { type: 'Image Annotation' });
  await bad('create_task', { type: 'categorization', project: 'p', params: { project: 'q' } });
  await bad('create_task', { type: 'categorization', params: { type: 'imageannotation' } });
  await bad('create_task', { type: 'categorization', metadata: [] });
  await bad('create_task', { type: 'categorization', project: null, batch: null, attachment: null }, 'nulls count as not given');
  await bad('create_evaluation_task', { type: 'imageannotation' });
  await bad('create_tasks', { type: 'categorization', items: [] });
  await bad('create_tasks', { type: 'categorization', idempotency_key: 'k', items: [{ attachment: 'a' }, { attachment: 'a' }] });
  await bad('create_tasks', { type: 'categorization', items: [{ attachment: 'a' }] }, 'no idempotency_key and no unique_id');
  await bad('create_tasks', { type: 'categorization', idempotency_key: '', items: [{ attachment: 'a' }] });
  await bad('create_tasks', { type: 'categorization', idempotency_key: 'k', items: [{ attachment: 'a', colour: 'red' }] });
  await bad('create_tasks', { type: 'categorization', idempotency_key: 'k', items: Array.from({ length: 101 }, (_, i) => ({ attachment: `a${i}` })) }, '101 items');
  await bad('create_tasks', { type: 'categorization', idempotency_key: 'k', items: [{ attachment: 'a', params: { type: 'x' } }] });
  await bad('update_task', { task_id: 't' });
  await bad('update_task', { task_id: 't', set_tags: ['a'], add_tags: ['b'] });
  await bad('update_task', { task_id: 't', unique_id: 'u', clear_unique_id: true });
  await bad('update_task', { task_id: 't', clear_unique_id: false }, 'clear_unique_id false alone');
  await bad('update_task', { task_id: 't', unique_id: '' });
  await bad('cancel_task', { task_id: '.' });
  await bad('create_batch', { project: 'p' });
  await bad('create_batch', { project: 'p', name: '..' });
  await bad('finalize_batch', { name: 'b', priority: 5 });
  await bad('wait_for_task', { task_id: 't', timeout_s: 0 });
  await bad('wait_for_batch', { name: 'b', timeout_s: 46 });
  await bad('create_project', { type: 'categorization', name: 'x', rapid: true, studio: true });
  await bad('create_project', { type: 'categorization', name: 'x', pipeline: 'fast' });
  await bad('create_project', { type: 'CATEGORIZATION', name: 'x' });
  await bad('update_project', { name: 'x' });
  await bad('update_project', { name: 'x', patch: true });
  await bad('update_project', { name: 'x', ontology_name: 'v' });
  await bad('update_project', { name: 'x', ontology: [] });
  await bad('update_project', { name: 'x', params: { instruction: 'a' }, instruction: 'b' });
  await bad('manage_team', { action: 'invite' });
  await bad('manage_team', { action: 'list', emails: ['a@example.com'] });
  await bad('manage_team', { action: 'invite', emails: ['not-an-email'], role: 'member' });
  await bad('manage_team', { action: 'fire' });
  await bad('manage_team', { action: 'invite', emails: ['a@example.com'], role: 'admin' });
  await bad('import_file', { file_url: 'nope' });
  await bad('import_file', { file_url: '' });
  await bad('import_file', { file_url: 'https://files.example/a b.jpg' });
  await bad('get_callback', { id: 'no-such' });
  await bad('get_callback', { id: '' });
  await bad('list_callbacks', { cursor: 'bogus' });
  await bad('list_callbacks', { limit: 0 });
  await bad('list_projects', { archived: 'yes' });
  await bad('list_batches', { offset: -1 });
  await bad('list_batches', { status: 'paused' });

  section('main: Scale answers with an error');
  const o = { lane: 'legacy' };
  const { proj, rapid, batch, t1, t3 } = tours.legacy;
  await tool(st, 'get_task', { task_id: '000000000000000000000000' }, { ...o, title: 'unknown task' });
  await tool(st, 'get_task', { task_id: 'a/b?c#d' }, { ...o, title: 'an id with slashes, one encoded segment' });
  await tool(st, 'get_batch', { name: 'no-such-batch' }, { ...o, title: 'unknown batch' });
  await tool(st, 'get_project', { name: 'no such/project' }, { ...o, title: 'unknown project' });
  await tool(st, 'wait_for_task', { task_id: '000000000000000000000000', timeout_s: 2 }, { ...o, title: 'unknown task' });
  await tool(st, 'wait_for_batch', { name: 'no-such-batch', timeout_s: 2 }, { ...o, title: 'unknown batch' });
  await tool(st, 'create_task', { type: 'categorization', project: proj, unique_id: 'dup-1', params: { categories: ['a'] } }, { ...o, title: 'unique_id dup-1' });
  await tool(st, 'create_task', { type: 'categorization', project: proj, unique_id: 'dup-1', params: { categories: ['a'] } }, { ...o, title: 'unique_id dup-1 again (409)' });
  await tool(st, 'create_batch', { project: rapid, name: batch }, { ...o, title: 'a batch name that exists' });
  await tool(st, 'create_project', { type: 'categorization', name: proj }, { ...o, title: 'a project name that exists' });
  await tool(st, 'cancel_task', { task_id: t1.task_id }, { ...o, title: 'a completed task' });
  await tool(st, 'create_task', { type: 'federal2dvideoannotation', project: proj }, { ...o, title: 'a type the account lacks (402)' });
  await tool(st, 'create_task', { type: 'categorization', project: 'no-such-project', params: { categories: ['a'] } }, { ...o, title: 'an unknown project' });
  await tool(st, 'create_task', { type: 'categorization', batch: 'no-such-batch' }, { ...o, title: 'an unknown batch' });
  await tool(st, 'resend_callback', { task_id: t3.task_id }, { ...o, title: 'a canceled task without callback_url' });
  await tool(st, 'update_project', { name: 'no-such-project', ontology: ['a'] }, { ...o, title: 'ontology of an unknown project' });
  await tool(st, 'update_task', { task_id: '000000000000000000000000', metadata: { a: 1 } }, { ...o, title: 'unknown task' });
  await tool(st, 'finalize_batch', { name: 'no-such-batch', priority: 10 }, { ...o, title: 'unknown batch' });
  await tool(st, 'manage_team', { action: 'set_role', emails: ['nobody@example.com'], role: 'member' }, { ...o, title: 'someone not on the team' });
  await tool(st, 'create_evaluation_task', { type: 'imageannotation', project: proj, expected_response: {} }, { ...o, title: 'not a Rapid project' });

  section('main: Scale misbehaves (the simulator injects faults)');
  const fault = (title, f) => simControl(st, `fault: ${title}`, 'main', 'faults', f);
  const tid = t1.task_id;
  await fault('one 500 on GET task', { method: 'GET', path: `/v1/task/${tid}`, status: 500, body: { status_code: 500, error: 'Internal error' } });
  await tool(st, 'get_task', { task_id: tid }, { ...o, title: 'retried once' });
  await fault('three 503s on GET task', { method: 'GET', path: `/v1/task/${tid}`, status: 503, times: 3 });
  await tool(st, 'get_task', { task_id: tid }, { ...o, title: 'fails after two retries' });
  await fault('a 500 on POST task', { method: 'POST', pattern: 'task/categorization', status: 500 });
  await tool(st, 'create_task', { type: 'categorization', project: proj, params: { categories: ['a'] } }, { ...o, title: 'a create is not retried' });
  await fault('a 500 on POST task', { method: 'POST', pattern: 'task/categorization', status: 500 });
  await tool(st, 'create_task', { type: 'categorization', project: proj, unique_id: 'flaky-1', params: { categories: ['a'] } }, { ...o, title: 'a create with unique_id is retried' });
  await fault('a 429 with Retry-After 1 on GET projects', { method: 'GET', path: '/v1/projects', retryAfter: 1 });
  await tool(st, 'list_projects', {}, { ...o, title: 'retried after a second' });
  await fault('two 429s on GET teams', { method: 'GET', path: '/v1/teams', status: 429, times: 3, body: { status_code: 429, error: 'Too many requests' } });
  await tool(st, 'manage_team', { action: 'list' }, { ...o, title: 'rate limited throughout' });
  await fault('a body that is not JSON', { method: 'GET', path: `/v1/task/${tid}`, nonJson: true });
  await tool(st, 'get_task', { task_id: tid }, { ...o, title: 'a 200 that is not JSON' });
  await fault('a plain OK', { method: 'POST', pattern: 'task/*/send-callback', plainOk: true });
  await tool(st, 'resend_callback', { task_id: tid }, { ...o, title: 'Scale answers OK' });
  await fault('cut-off JSON', { method: 'GET', path: '/v1/batches', truncatedJson: true });
  await tool(st, 'list_batches', { project: rapid }, { ...o, title: 'a cut-off answer' });
  await fault('dropped connections', { method: 'GET', path: '/v1/teams', drop: true, times: 3 });
  await tool(st, 'manage_team', { action: 'list' }, { ...o, title: 'the connection drops' });
  await fault('a 400 on PUT tags', { method: 'PUT', pattern: 'task/*/tags', status: 400, body: { status_code: 400, error: 'Bad tags' } });
  await tool(st, 'update_task', { task_id: tid, metadata: { n: 3 }, add_tags: ['x'], remove_tags: ['y'] }, { ...o, title: 'the second step fails' });
  await fault('a 500 on prioritize', { method: 'POST', pattern: 'batches/*/prioritize', status: 500, times: 3 });
  await tool(st, 'finalize_batch', { name: `${batch}-b`, priority: 30 }, { ...o, title: 'prioritize fails after finalize' });
  await fault('a 404 on batch status', { method: 'GET', pattern: 'batches/*/status', status: 404, body: { status_code: 404, error: 'Batch not found.' } });
  await tool(st, 'get_batch', { name: batch }, { ...o, title: 'the batch without its progress' });
  await fault('a 500 on setOntology', { method: 'POST', pattern: 'projects/*/setOntology', status: 405, body: { status_code: 405, error: 'Not allowed' } });
  await tool(st, 'update_project', { name: proj, instruction: 'Again', ontology: ['x'] }, { ...o, title: 'setParams applied, setOntology refused' });
  await fault('one bulk item refused', { method: 'POST', pattern: 'task/categorization', bodyMatch: { unique_id: 'bulk-f-2' }, status: 400, body: { status_code: 400, error: 'Bad attachment' } });
  await tool(st, 'create_tasks', { type: 'categorization', project: proj, items: [1, 2, 3].map((i) => ({ unique_id: `bulk-f-${i}`, attachment: `https://img.example/f${i}.jpg` })) }, { ...o, title: 'one item fails' });
  await fault('the lookup fails', { method: 'GET', path: '/v1/tasks', status: 500, times: 3 });
  await tool(st, 'create_tasks', { type: 'categorization', project: proj, items: [{ unique_id: 'bulk-g-1' }] }, { ...o, title: 'the existence lookup fails' });
  await fault('an HTML 502', { method: 'GET', path: '/v1/projects', status: 502, body: '<html><body>Bad gateway</body></html>', times: 3 });
  await tool(st, 'list_projects', {}, { ...o, title: 'a gateway error page' });
  await fault('an error text holding the key', { method: 'GET', path: `/v1/task/${tid}`, status: 400, body: { status_code: 400, error: `bad key ${SECRETS.SCALE_API_KEY} (${Buffer.from(`${SECRETS.SCALE_API_KEY}:`).toString('base64')})` } });
  await tool(st, 'get_task', { task_id: tid }, { ...o, title: 'the key is scrubbed from the error' });

  section('main: guarded writes');
  const hook = `${st.url}/webhooks/scale`;
  await tool(st, 'create_task', { type: 'categorization', project: proj, callback_url: 'https://evil.example/cb' }, { ...o, title: 'a callback_url outside the allowed hosts' });
  await tool(st, 'create_task', { type: 'categorization', project: proj, params: { callback_url: 'http://hooks.example.com/cb' } }, { ...o, title: 'a plain-http callback_url in params' });
  await tool(st, 'create_task', { type: 'categorization', project: proj, callback_url: 'ops@example.com' }, { ...o, title: 'an e-mail callback (CALLBACK_EMAILS unset)' });
  await tool(st, 'create_task', { type: 'categorization', project: proj, callback_url: 'https://hooks.example.com/scale', params: { categories: ['a'] } }, { ...o, title: 'a callback on CALLBACK_HOSTS' });
  await tool(st, 'create_task', { type: 'categorization', project: proj, callback_url: `${hook}/other` }, { ...o, title: 'another path on this worker' });
  await tool(st, 'create_batch', { project: rapid, name: 'guarded-batch', callback: 'https://evil.example/cb' }, { ...o, title: 'a batch callback outside the allowed hosts' });
  await tool(st, 'update_project', { name: proj, params: { callback_url: 'https://evil.example/cb' } }, { ...o, title: 'a callback in project defaults' });
  await tool(st, 'create_tasks', { type: 'categorization', project: proj, idempotency_key: 'guarded', items: [{ attachment: 'a' }, { attachment: 'b', callback_url: 'https://evil.example/cb' }] }, { ...o, title: 'one item with a bad callback' });
  await tool(st, 'manage_team', { action: 'invite', emails: ['someone@other.example'], role: 'member' }, { ...o, title: 'an invite outside TEAM_INVITE_DOMAINS' });
  await tool(st, 'manage_team', { action: 'set_role', emails: ['someone@other.example'], role: 'member' }, { ...o, title: 'set_role is not an invite' });
});

// -- scopes and narrowing ---------------------------------------------------------------

parts.push(async () => {
  section('main: scopes of static tokens');
  const st = main;
  const { proj, t1 } = tours.legacy;
  for (const who of ['reader', 'writer', 'teamer']) {
    await mcp(st, `token ${who}`, 'tools/list', undefined, { token: TOKENS[who] });
    await mcp(st, `token ${who}`, 'tools/list', {}, { lane: 'modern', token: TOKENS[who] });
    await tool(st, 'create_task', { type: 'categorization', project: proj, params: { categories: ['a'] } }, { token: TOKENS[who], title: `token ${who}` });
    await tool(st, 'manage_team', { action: 'invite', emails: [`${who}@example.com`], role: 'member' }, { token: TOKENS[who], title: `token ${who}` });
    await tool(st, 'manage_team', { action: 'list' }, { token: TOKENS[who], title: `token ${who}` });
  }
  await tool(st, 'manage_team', {}, { token: TOKENS.reader, title: 'token reader, no action' });
  await tool(st, 'get_task', { task_id: t1.task_id }, { token: TOKENS.reader, title: 'token reader' });
  await mcp(st, 'token reader', 'resources/list', {}, { token: TOKENS.reader });
  await send(st, 'token reader: a batch with a refused call', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: `Bearer ${TOKENS.reader}` }, body: JSON.stringify([legacyBody('tools/call', { name: 'create_task', arguments: { type: 'categorization', project: proj } }), legacyBody('tools/call', { name: 'get_task', arguments: { task_id: t1.task_id } })]) });

  section('main: narrowing by path and headers');
  const ro = { path: '/mcp/readonly' };
  await mcp(st, '/mcp/readonly', 'tools/list', undefined, ro);
  await mcp(st, '/mcp/readonly', 'tools/list', {}, { ...ro, lane: 'modern' });
  await tool(st, 'create_task', { type: 'categorization', project: proj }, { ...ro, title: '/mcp/readonly' });
  await tool(st, 'manage_team', { action: 'invite', emails: ['a@example.com'], role: 'member' }, { ...ro, title: '/mcp/readonly' });
  await tool(st, 'get_task', { task_id: t1.task_id }, { ...ro, title: '/mcp/readonly' });
  for (const v of ['true', 'TRUE', '1', 'false', '0', '', 'maybe']) {
    await mcp(st, `X-MCP-Readonly: ${JSON.stringify(v)}`, 'tools/call', { name: 'create_task', arguments: { type: 'categorization', project: proj, params: { categories: ['a'] } } }, { headers: { 'x-mcp-readonly': v } });
  }
  const only = { headers: { 'x-mcp-tools': 'get_task, list_tasks' } };
  await mcp(st, 'X-MCP-Tools: get_task, list_tasks', 'tools/list', undefined, only);
  await tool(st, 'create_task', { type: 'categorization', project: proj }, { ...only, title: 'X-MCP-Tools without it' });
  await tool(st, 'list_callbacks', {}, { ...only, title: 'X-MCP-Tools without it' });
  await mcp(st, 'X-MCP-Tools without list_callbacks', 'resources/list', {}, only);
  await mcp(st, 'X-MCP-Tools without get_callback', 'resources/read', { uri: 'scale-callback://deliveries/x' }, only);
  await mcp(st, 'X-MCP-Tools naming an unknown tool', 'tools/list', undefined, { headers: { 'x-mcp-tools': 'get_task,drop_tables' } });
  await mcp(st, 'X-MCP-Tools empty', 'tools/list', undefined, { headers: { 'x-mcp-tools': ' , ' } });
  const ex = { headers: { 'x-mcp-exclude-tools': 'create_task,manage_team' } };
  await mcp(st, 'X-MCP-Exclude-Tools', 'tools/list', {}, { ...ex, lane: 'modern' });
  await tool(st, 'create_task', { type: 'categorization', project: proj }, { ...ex, title: 'X-MCP-Exclude-Tools naming it' });
  await mcp(st, 'X-MCP-Exclude-Tools empty', 'tools/list', undefined, { headers: { 'x-mcp-exclude-tools': '' } });
  await mcp(st, 'both tool headers', 'tools/list', undefined, { headers: { 'x-mcp-tools': 'get_task,list_tasks', 'x-mcp-exclude-tools': 'list_tasks' } });

  section('main: a connection confined to one project');
  const other = tours.modern;
  const pp = { path: `/mcp/projects/${proj}` };
  await mcp(st, `/mcp/projects/${proj}`, 'tools/list', undefined, pp);
  await mcp(st, `/mcp/projects/${proj}`, 'tools/list', {}, { ...pp, lane: 'modern' });
  await tool(st, 'get_task', { task_id: t1.task_id }, { ...pp, title: 'a task of the project' });
  await tool(st, 'get_task', { task_id: other.t1.task_id }, { ...pp, title: 'a task of another project' });
  await tool(st, 'get_task', { task_id: '000000000000000000000000' }, { ...pp, title: 'a missing task' });
  await tool(st, 'list_tasks', { limit: 1 }, { ...pp, title: 'no project named: the connection\'s' });
  await tool(st, 'list_tasks', { project: other.proj }, { ...pp, title: 'another project named' });
  await tool(st, 'list_batches', {}, { ...pp, title: 'no project named' });
  await tool(st, 'create_task', { type: 'categorization', project: proj, params: { categories: ['a'] } }, { ...pp, title: 'in the project' });
  await tool(st, 'create_task', { type: 'categorization', project: other.proj }, { ...pp, title: 'in another project' });
  await tool(st, 'create_task', { type: 'categorization', params: { project: other.proj } }, { ...pp, title: 'another project in params' });
  await tool(st, 'create_task', { type: 'imageannotation', batch: other.batch }, { ...pp, title: 'a batch of another project' });
  await tool(st, 'create_task', { type: 'categorization' }, { ...pp, title: 'no project or batch' });
  await tool(st, 'create_tasks', { type: 'categorization', project: proj, idempotency_key: 'scoped', items: [{ attachment: 'a' }, { attachment: 'b', params: { project: other.proj } }] }, { ...pp, title: 'an item naming another project' });
  await tool(st, 'create_tasks', { type: 'categorization', project: proj, items: [{ unique_id: `u-modern-3` }] }, { ...pp, title: 'a unique_id held by another project\'s task' });
  await tool(st, 'cancel_task', { task_id: other.t3.task_id }, { ...pp, title: 'a task of another project' });
  await tool(st, 'update_task', { task_id: other.t1.task_id, metadata: {} }, { ...pp, title: 'a task of another project' });
  await tool(st, 'resend_callback', { task_id: t1.task_id }, { ...pp, title: 'a task of the project' });
  await tool(st, 'wait_for_task', { task_id: other.t1.task_id, timeout_s: 2 }, { ...pp, title: 'a task of another project' });
  await tool(st, 'get_batch', { name: other.batch }, { ...pp, title: 'a batch of another project' });
  await tool(st, 'finalize_batch', { name: other.batch }, { ...pp, title: 'a batch of another project' });
  await tool(st, 'create_batch', { project: other.rapid, name: 'scoped-batch' }, { ...pp, title: 'in another project' });
  await tool(st, 'list_projects', {}, { ...pp, title: 'only the connection\'s' });
  await tool(st, 'get_project', { name: other.proj }, { ...pp, title: 'another project' });
  await tool(st, 'get_project', { name: proj }, { ...pp, title: 'the project' });
  await tool(st, 'update_project', { name: other.proj, instruction: 'x' }, { ...pp, title: 'another project' });
  await tool(st, 'create_project', { type: 'categorization', name: 'scoped-new' }, { ...pp, title: 'a new project' });
  await tool(st, 'import_file', { file_url: 'https://files.example/s.jpg' }, { ...pp, title: 'without project_name' });
  await tool(st, 'manage_team', { action: 'list' }, { ...pp, title: 'account-wide' });
  await tool(st, 'list_callbacks', {}, { ...pp, title: 'the project\'s deliveries' });
  await mcp(st, `/mcp/projects/${proj}`, 'resources/list', {}, pp);
  await mcp(st, `/mcp/projects/${proj}/readonly`, 'tools/list', undefined, { path: `/mcp/projects/${proj}/readonly` });
  await mcp(st, `/mcp/readonly/projects/${proj}`, 'tools/call', { name: 'create_task', arguments: { type: 'categorization', project: proj } }, { path: `/mcp/readonly/projects/${proj}` });
  await mcp(st, 'X-Scale-Project', 'tools/call', { name: 'list_projects', arguments: {} }, { headers: { 'x-scale-project': proj } });
  await mcp(st, 'X-Scale-Project in base64 (non-ASCII)', 'tools/call', { name: 'list_tasks', arguments: {} }, { headers: { 'x-scale-project': `=?base64?${Buffer.from('projé').toString('base64')}?=` } });
  await mcp(st, 'X-Scale-Project with bad base64', 'tools/list', undefined, { headers: { 'x-scale-project': '=?base64?%%%?=' } });
  await mcp(st, 'X-Scale-Project and path differ', 'tools/list', undefined, { ...pp, headers: { 'x-scale-project': other.proj } });
  await mcp(st, 'X-Scale-Project and path agree', 'tools/list', undefined, { ...pp, headers: { 'x-scale-project': proj } });
  await mcp(st, 'a percent-encoded project name', 'tools/call', { name: 'get_project', arguments: { name: 'a/b c' } }, { path: '/mcp/projects/a%2Fb%20c' });
  await mcp(st, 'a project segment that is not UTF-8', 'tools/list', undefined, { path: '/mcp/projects/%FF' });
  await mcp(st, 'an empty project segment', 'tools/list', undefined, { path: '/mcp/projects/' });
  await mcp(st, 'a project segment of spaces', 'tools/list', undefined, { path: '/mcp/projects/%20' });
  await mcp(st, 'too many segments', 'tools/list', undefined, { path: `/mcp/projects/${proj}/readonly/more` });
});

// -- webhooks ------------------------------------------------------------------------------

parts.push(async () => {
  section('main: the operator\'s webhook');
  const st = main;
  const key = { 'content-type': 'application/json', 'scale-callback-auth': SECRETS.SCALE_CALLBACK_AUTH_KEY };
  const task = { task: { task_id: 'cb-task-1', project: 'proj-legacy', batch: 'batch-legacy', status: 'completed', metadata: { n: 1 } }, response: { category: 'cat' }, task_id: 'cb-task-1' };
  const post = (title, body, headers = key, extra = {}) => send(st, `webhook: ${title}`, { method: 'POST', path: '/webhooks/scale', headers, body, ...extra });
  await post('a task callback', JSON.stringify(task));
  await sleep(3);
  await post('the same delivery again', JSON.stringify(task));
  await sleep(3);
  await post('the same callback with keys in another order', JSON.stringify({ task_id: 'cb-task-1', response: { category: 'cat' }, task: task.task }));
  await sleep(3);
  await post('the task again, changed', JSON.stringify({ ...task, response: { category: 'dog' } }));
  await sleep(3);
  await post('a task callback without a batch', JSON.stringify({ task: { task_id: 'cb-task-2', project: 'proj-modern', status: 'error' }, task_id: 'cb-task-2' }));
  await sleep(3);
  await post('a batch callback', JSON.stringify({ batch: 'batch-legacy', status: 'completed', stats: { completed: 3, canceled: 0, error: 0 } }));
  await sleep(3);
  await post('some other JSON object', JSON.stringify({ hello: 'world' }));
  await sleep(3);
  await post('a second key of a rotated pair is not configured', JSON.stringify(task), { ...key, 'scale-callback-auth': 'some-other-callback-key' });
  await post('no callback key', JSON.stringify(task), { 'content-type': 'application/json' });
  await post('a JSON array', '[1,2]');
  await post('not JSON', 'nope');
  await post('JSON with a repeated key', '{"task_id":"a","task_id":"b"}');
  await post('a body over WEBHOOK_MAX_BYTES', JSON.stringify({ hello: 'x'.repeat(70000) }));
  await post('an empty body', '');
  await send(st, 'webhook: GET', { path: '/webhooks/scale' });
  await send(st, 'tenant webhook: an unknown tenant', { method: 'POST', path: '/webhooks/scale/u_unknowntenant000000000', headers: key, body: JSON.stringify(task) });
  await send(st, 'tenant webhook: GET', { path: '/webhooks/scale/u_unknowntenant000000000' });
  const o = { lane: 'legacy' };
  await tool(st, 'list_callbacks', {}, { ...o, title: 'after the deliveries' });
  await tool(st, 'list_callbacks', { task_id: 'cb-task-1' }, o);
  await tool(st, 'list_callbacks', { batch: 'batch-legacy' }, o);
  await tool(st, 'list_callbacks', { status: 'error' }, o);
  const all = await tool(st, 'list_callbacks', { limit: 100 }, { ...o, title: 'everything' });
  for (const c of (all.callbacks ?? []).filter((c) => c.kind !== 'task').slice(0, 2)) await tool(st, 'get_callback', { id: c.id }, { ...o, title: `a ${c.kind} delivery` });
});

// -- OAuth ---------------------------------------------------------------------------------

/** Form fields to submit: the page's hidden ones, with `choices` taking the place of any of the same name. */
function formOf(html, choices) {
  const names = new Set(choices.map(([k]) => k));
  const form = new URLSearchParams(hiddenFields(html).filter(([k]) => !names.has(k)));
  for (const [k, v] of choices) form.append(k, v);
  return form.toString();
}

const cookieOf = (res) => (res.headers.get('set-cookie') || '').split(';')[0];
const ipOf = (n) => ({ 'cf-connecting-ip': `198.51.100.${n}` });
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

parts.push(async () => {
  const st = main;
  section('main: OAuth discovery and registration');
  for (const p of ['', '/mcp', '/mcp/readonly', '/mcp/projects/proj-legacy', '/mcp/projects/a%2Fb', '/other']) {
    await send(st, `protected resource metadata${p ? ` for ${p}` : ''}`, { path: `/.well-known/oauth-protected-resource${p}` });
  }
  await send(st, 'authorization server metadata', { path: '/.well-known/oauth-authorization-server' });
  await send(st, 'authorization server metadata, CORS preflight', { method: 'OPTIONS', path: '/.well-known/oauth-authorization-server', headers: { origin: 'https://claude.ai', 'access-control-request-method': 'GET' } });
  const reg = (title, body, headers = {}) => send(st, `register: ${title}`, { method: 'POST', path: '/register', headers: { 'content-type': 'application/json', ...ipOf(10), ...headers }, body });
  const pub = await reg('a public client', JSON.stringify({ client_name: 'Capture public', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }));
  const conf = await reg('a confidential client (client_secret_post)', JSON.stringify({ client_name: 'Capture confidential', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post' }));
  await reg('Claude\'s redirect URI, no auth method named', JSON.stringify({ client_name: 'Claude', redirect_uris: ['https://claude.ai/api/mcp/auth_callback'] }));
  await reg('client_secret_basic', JSON.stringify({ client_name: 'Basic', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' }));
  await reg('a plain-http redirect off loopback', JSON.stringify({ redirect_uris: ['http://example.com/cb'] }));
  await reg('a redirect with a fragment', JSON.stringify({ redirect_uris: ['https://example.com/cb#x'] }));
  await reg('no redirect_uris', '{}');
  await reg('an unknown auth method', JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt' }));
  await reg('a grant type it does not serve', JSON.stringify({ redirect_uris: [REDIRECT], grant_types: ['client_credentials'] }));
  await reg('not JSON', 'nope');
  await reg('form-encoded', 'redirect_uris=x', FORM);
  await reg('a body over 64 KiB', JSON.stringify({ redirect_uris: [REDIRECT], client_name: 'x'.repeat(70000) }));
  await send(st, 'register: GET', { path: '/register' });

  section('main: OAuth sign-in page');
  const pubId = pub.json?.client_id ?? 'none';
  const confId = conf.json?.client_id ?? 'none';
  const confSecret = conf.json?.client_secret ?? 'none';
  const authz = (clientId, extra = {}) => {
    const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'capture-state', scope: 'scale:read scale:write scale:team', resource: `${PUBLIC_URL}/mcp` });
    for (const [k, v] of Object.entries(extra)) (v === null ? q.delete(k) : q.set(k, v));
    return `/authorize?${q}`;
  };
  const page = (title, clientId, extra, n = 11) => send(st, `authorize: ${title}`, { path: authz(clientId, extra), headers: ipOf(n) });
  await page('the sign-in page', pubId, {});
  await page('no client_id', pubId, { client_id: null });
  await page('an unknown client', 'smcp_c_bogus.bogus', {});
  await page('a redirect_uri not registered', pubId, { redirect_uri: 'http://127.0.0.1:9/other' });
  await page('a loopback redirect on another port', pubId, { redirect_uri: 'http://127.0.0.1:4567/callback' });
  await page('no code_challenge', pubId, { code_challenge: null });
  await page('the plain PKCE method', pubId, { code_challenge_method: 'plain' });
  await page('response_type token', pubId, { response_type: 'token' });
  await page('no state', pubId, { state: null });
  await page('a resource of another server', pubId, { resource: 'https://other.example/mcp' });
  await page('a narrowed resource', pubId, { resource: `${PUBLIC_URL}/mcp/projects/proj-legacy` });
  await page('no resource', pubId, { resource: null });
  await page('an unknown scope', pubId, { scope: 'scale:admin' });
  await page('only scale:read asked', pubId, { scope: 'scale:read' });
  await page('a CIMD client', `https://${CIMD_HOST}/capture-client.json`, {});
  await page('a CIMD document that is missing', `https://${CIMD_HOST}/missing.json`, {});
  await page('a CIMD client_id on plain http', `http://${CIMD_HOST}/capture-client.json`, {});
  await send(st, 'authorize: DELETE', { method: 'DELETE', path: authz(pubId) });

  section('main: OAuth sign-in, code exchange, use, refresh, revocation');
  /** Opens the page, then submits it with `choices`. */
  const signIn = async (title, clientId, choices, { extra = {}, headers = {}, n = 20 } = {}) => {
    const p = await page(`the page, for ${title}`, clientId, extra, n);
    return send(st, `sign in: ${title}`, { method: 'POST', path: '/authorize', headers: { ...FORM, cookie: cookieOf(p), origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin', ...ipOf(n), ...headers }, body: formOf(p.text, choices) });
  };
  const op = (token, scopes) => [['method', 'operator'], ['operator_token', token], ...scopes.map((s) => ['grant_scope', s])];
  const own = (key, scopes, more = []) => [['method', 'own_key'], ['scale_key', key], ...scopes.map((s) => ['grant_scope', s]), ...more];
  const codeOf = (r) => {
    const loc = r.headers.get('location');
    return loc ? new URL(loc).searchParams.get('code') : null;
  };
  const tok = (title, form, headers = {}) => send(st, `token: ${title}`, { method: 'POST', path: '/token', headers: { ...FORM, ...ipOf(30), ...headers }, body: new URLSearchParams(form).toString() });
  const exchange = (title, code, clientId, more = {}, headers = {}) => tok(title, { grant_type: 'authorization_code', code: code ?? 'none', redirect_uri: REDIRECT, client_id: clientId, code_verifier: VERIFIER, resource: `${PUBLIC_URL}/mcp`, ...more }, headers);

  // Failed sign-ins.
  await signIn('a wrong operator token', pubId, op('not-the-operator-token', ['scale:read']), { n: 21 });
  await signIn('no scope ticked', pubId, op(TOKENS.reader, []), { n: 22 });
  await signIn('more scopes than the operator token has', pubId, op(TOKENS.reader, ['scale:read', 'scale:write']), { n: 23 });
  await signIn('the Cancel button', pubId, [['action', 'deny']], { n: 24 });
  await signIn('a cross-site post', pubId, op(TOKENS.ops, ['scale:read']), { headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, n: 25 });
  {
    const p = await page('the page, for a post without its cookie', pubId, {}, 26);
    await send(st, 'sign in: without the cookie', { method: 'POST', path: '/authorize', headers: { ...FORM, origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin', ...ipOf(26) }, body: formOf(p.text, op(TOKENS.ops, ['scale:read'])) });
  }
  await signIn('an own key that is not a Scale key', pubId, own('not-a-key', ['scale:read']), { n: 27 });

  // A: operator access with scale:read only, public client.
  const a = await signIn('operator access, scale:read', pubId, op(TOKENS.ops, ['scale:read']), { n: 31 });
  const aTok = await exchange('the code (A)', codeOf(a), pubId);
  const at1 = aTok.json?.access_token;
  const rt1 = aTok.json?.refresh_token;
  const asA = { token: at1 };
  await mcp(st, 'grant A (scale:read)', 'tools/list', undefined, asA);
  await mcp(st, 'grant A (scale:read)', 'tools/list', {}, { ...asA, lane: 'modern' });
  await tool(st, 'list_projects', {}, { ...asA, title: 'grant A' });
  await tool(st, 'create_task', { type: 'categorization', project: 'proj-legacy' }, { ...asA, title: 'grant A: a missing scope, one message' });
  await tool(st, 'create_task', { type: 'categorization', project: 'proj-legacy' }, { ...asA, lane: 'modern', title: 'grant A: a missing scope, one message' });
  await send(st, 'grant A: a missing scope inside a batch', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: `Bearer ${at1}` }, body: JSON.stringify([legacyBody('tools/call', { name: 'create_task', arguments: { type: 'categorization' } })]) });
  await tool(st, 'create_task', { type: 'categorization', project: 'proj-legacy' }, { ...asA, path: '/mcp/readonly', title: 'grant A: read-only by path' });
  await tool(st, 'manage_team', { action: 'invite', emails: ['a@example.com'], role: 'member' }, { ...asA, title: 'grant A: a missing scope for an action' });
  await mcp(st, 'grant A, with progress', 'tools/call', { name: 'create_tasks', arguments: { type: 'categorization', project: 'proj-legacy', idempotency_key: 'a', items: [{ attachment: 'a' }] }, _meta: { progressToken: 'pa' } }, asA);
  await tool(st, 'list_projects', {}, { ...asA, path: '/mcp/projects/proj-legacy', title: 'grant A on a narrower path' });
  await tok('refresh (A), rt1', { grant_type: 'refresh_token', refresh_token: rt1, client_id: pubId });
  const r2 = await tok('refresh (A), rt1 again within the grace', { grant_type: 'refresh_token', refresh_token: rt1, client_id: pubId });
  const rt2 = r2.json?.refresh_token;
  const r3 = await tok('refresh (A), rt2, asking for fewer scopes', { grant_type: 'refresh_token', refresh_token: rt2, client_id: pubId, scope: 'scale:read' });
  await tok('refresh (A), asking for more scopes', { grant_type: 'refresh_token', refresh_token: r3.json?.refresh_token, client_id: pubId, scope: 'scale:read scale:write' });
  await tool(st, 'list_projects', {}, { token: r3.json?.access_token, title: 'grant A, refreshed token' });
  await tok('refresh (A), rt1 after newer ones were used: the grant ends', { grant_type: 'refresh_token', refresh_token: rt1, client_id: pubId });
  await tool(st, 'list_projects', {}, { token: r3.json?.access_token, title: 'grant A after it ended' });

  // B: operator access with every scope, confidential client; the token endpoint's refusals.
  const b = await signIn('operator access, every scope, confidential client', confId, op(TOKENS.ops, ['scale:read', 'scale:write', 'scale:team']), { n: 32 });
  const bCode = codeOf(b);
  await exchange('without the client secret', bCode, confId);
  await exchange('a wrong client secret', bCode, confId, { client_secret: 'smcp_cs_wrong' });
  const bTok = await exchange('the code (B)', bCode, confId, { client_secret: confSecret });
  await tool(st, 'manage_team', { action: 'invite', emails: ['b@example.com'], role: 'member' }, { token: bTok.json?.access_token, title: 'grant B (every scope)' });
  await exchange('the code again: the grant ends', bCode, confId, { client_secret: confSecret });
  await tool(st, 'list_projects', {}, { token: bTok.json?.access_token, title: 'grant B after its code was replayed' });
  const b2 = await signIn('operator access, for a wrong verifier', confId, op(TOKENS.ops, ['scale:read']), { n: 36 });
  await exchange('a wrong verifier', codeOf(b2), confId, { client_secret: confSecret, code_verifier: 'x'.repeat(43) });
  const b2Tok = await exchange('the right verifier after a wrong one', codeOf(b2), confId, { client_secret: confSecret });
  // Ended here, so that the operator's grants page below lists one grant (two made within a minute have no fixed order).
  await send(st, 'revoke: a refresh token (confidential client)', { method: 'POST', path: '/revoke', headers: { ...FORM, ...ipOf(43) }, body: new URLSearchParams({ token: b2Tok.json?.refresh_token ?? 'none', client_id: confId, client_secret: confSecret }).toString() });
  const b3 = await signIn('operator access, for client_secret_basic', confId, op(TOKENS.ops, ['scale:read']), { n: 37 });
  const b3Tok = await exchange('client_secret_basic for a client_secret_post client', codeOf(b3), confId, {}, { authorization: `Basic ${Buffer.from(`${encodeURIComponent(confId)}:${encodeURIComponent(confSecret)}`).toString('base64')}` });
  // Ended too: grants made in one minute are listed in no fixed order on the grants page.
  await send(st, 'revoke: the client_secret_basic grant\'s refresh token', { method: 'POST', path: '/revoke', headers: { ...FORM, ...ipOf(43) }, body: new URLSearchParams({ token: b3Tok.json?.refresh_token ?? 'none', client_id: confId, client_secret: confSecret }).toString() });
  await tok('an unsupported grant type', { grant_type: 'client_credentials', client_id: pubId });
  await tok('no grant type', { client_id: pubId });
  await tok('an unknown code', { grant_type: 'authorization_code', code: 'smcp_ac_unknown', redirect_uri: REDIRECT, client_id: pubId, code_verifier: VERIFIER });
  await tok('an unknown refresh token', { grant_type: 'refresh_token', refresh_token: 'smcp_rt_unknown', client_id: pubId });
  await send(st, 'token: JSON instead of a form', { method: 'POST', path: '/token', headers: { 'content-type': 'application/json', ...ipOf(30) }, body: JSON.stringify({ grant_type: 'refresh_token' }) });
  await send(st, 'token: GET', { path: '/token' });

  // C: a user's own Scale key (a tenant), read and write, with a callback key.
  const c = await signIn('own key, read and write, a callback key', pubId, own(USER_KEYS.a, ['scale:read', 'scale:write'], [['callback_key', TENANT_CALLBACK_KEY]]), { n: 33 });
  const cTok = await exchange('the code (C)', codeOf(c), pubId);
  const asC = { token: cTok.json?.access_token };
  await tool(st, 'create_project', { type: 'categorization', name: 'tenant-proj' }, { ...asC, title: 'grant C: in the user\'s own account' });
  const ct = await tool(st, 'create_task', { type: 'categorization', project: 'tenant-proj', params: { categories: ['a'] } }, { ...asC, title: 'grant C: the tenant webhook is the default callback' });
  await tool(st, 'create_task', { type: 'categorization', project: 'tenant-proj', callback_url: `${st.url}/webhooks/scale` }, { ...asC, title: 'grant C: the operator\'s webhook is not the user\'s' });
  await tool(st, 'create_batch', { project: 'tenant-proj', name: 'tenant-batch' }, { ...asC, title: 'grant C' });
  const log = await tool(st, 'list_callbacks', {}, { ...asC, title: 'grant C: the tenant\'s own log' });
  const tenantHook = new URL(log.webhook_url ?? `${PUBLIC_URL}/webhooks/scale/none`).pathname;
  const tkey = { 'content-type': 'application/json', 'scale-callback-auth': TENANT_CALLBACK_KEY };
  const body = JSON.stringify({ task: { task_id: ct.task_id ?? 'none', project: 'tenant-proj', status: 'completed' }, response: { category: 'a' }, task_id: ct.task_id ?? 'none' });
  await send(st, 'tenant webhook: a delivery', { method: 'POST', path: tenantHook, headers: tkey, body });
  await send(st, 'tenant webhook: the operator\'s key', { method: 'POST', path: tenantHook, headers: { ...tkey, 'scale-callback-auth': SECRETS.SCALE_CALLBACK_AUTH_KEY }, body });
  await send(st, 'operator webhook: the tenant\'s key', { method: 'POST', path: '/webhooks/scale', headers: tkey, body });
  await tool(st, 'list_callbacks', {}, { ...asC, title: 'grant C: after the delivery' });
  await tool(st, 'list_callbacks', { task_id: ct.task_id ?? 'none' }, { title: 'the operator does not see the tenant\'s delivery' });
  await mcp(st, 'grant C', 'resources/list', {}, asC);

  // D: a user's own key without a callback key, read only.
  const d = await signIn('own key, read only, no callback key', pubId, own(USER_KEYS.b, ['scale:read']), { n: 34 });
  const dTok = await exchange('the code (D)', codeOf(d), pubId);
  const dLog = await tool(st, 'list_callbacks', {}, { token: dTok.json?.access_token, title: 'grant D' });
  await send(st, 'tenant webhook: a tenant that gave no callback key', { method: 'POST', path: new URL(dLog.webhook_url ?? `${PUBLIC_URL}/webhooks/scale/none`).pathname, headers: tkey, body });

  // E: an own live_ key, billed work not allowed.
  const e = await signIn('own live key, billed work not allowed', pubId, own(USER_LIVE_KEY, ['scale:read', 'scale:write']), { n: 35 });
  const eTok = await exchange('the code (E)', codeOf(e), pubId);
  await tool(st, 'create_task', { type: 'categorization', project: 'p' }, { token: eTok.json?.access_token, title: 'grant E: billed work on a live key' });
  await tool(st, 'create_project', { type: 'categorization', name: 'live-proj' }, { token: eTok.json?.access_token, title: 'grant E: not billed' });
  const e2 = await signIn('own live key, billed work allowed', pubId, own(USER_LIVE_KEY, ['scale:read', 'scale:write'], [['billed', 'yes']]), { n: 38 });
  const e2Tok = await exchange('the code (E2)', codeOf(e2), pubId);
  await tool(st, 'create_task', { type: 'categorization', project: 'live-proj', params: { categories: ['a'] } }, { token: e2Tok.json?.access_token, title: 'grant E2: billed work allowed at sign-in' });

  // The grants page: sign in again to see and revoke grants.
  section('main: OAuth grants page and revocation');
  const gp = await send(st, 'grants: the page', { path: '/oauth/grants', headers: ipOf(40) });
  const gSign = await send(st, 'grants: sign in with the operator token', { method: 'POST', path: '/oauth/grants', headers: { ...FORM, cookie: cookieOf(gp), origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin', ...ipOf(40) }, body: formOf(gp.text, [['method', 'operator'], ['operator_token', TOKENS.ops]]) });
  await send(st, 'grants: a wrong operator token', { method: 'POST', path: '/oauth/grants', headers: { ...FORM, cookie: cookieOf(gp), origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin', ...ipOf(41) }, body: formOf(gp.text, [['method', 'operator'], ['operator_token', 'wrong-token-0123456789']]) });
  const gp2 = await send(st, 'grants: the page again', { path: '/oauth/grants', headers: ipOf(42) });
  const mine = await send(st, 'grants: sign in with an own key', { method: 'POST', path: '/oauth/grants', headers: { ...FORM, cookie: cookieOf(gp2), origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin', ...ipOf(42) }, body: formOf(gp2.text, [['method', 'own_key'], ['scale_key', USER_KEYS.a]]) });
  // The page's revoke form (csrf, ticket, action, grant), submitted as it is.
  await send(st, 'grants: revoke grant C', { method: 'POST', path: '/oauth/grants', headers: { ...FORM, cookie: cookieOf(gp2), origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin', ...ipOf(42) }, body: new URLSearchParams(hiddenFields(mine.text)).toString() });
  await tool(st, 'list_callbacks', {}, { ...asC, title: 'grant C after it was revoked on the grants page' });
  const rev = (title, form) => send(st, `revoke: ${title}`, { method: 'POST', path: '/revoke', headers: { ...FORM, ...ipOf(43) }, body: new URLSearchParams(form).toString() });
  await rev('grant D\'s access token', { token: dTok.json?.access_token ?? 'none', client_id: pubId });
  await tool(st, 'list_callbacks', {}, { token: dTok.json?.access_token, title: 'grant D after revocation' });
  await rev('an unknown token', { token: 'smcp_at_unknown', client_id: pubId });
  await rev('no token', { client_id: pubId });
  await send(st, 'revoke: GET', { path: '/revoke' });
});

parts.push(async () => {
  await main.s.close();
  await router.close();
  await liveUserSim.close();
});

// -- the operator narrows every connection ---------------------------------------------

parts.push(async () => {
  const s = await startStack({ vars: { READ_ONLY: 'true', EXCLUDE_TOOLS: 'import_file', SCALE_PROJECTS: '["alpha", "beta, gamma"]' } });
  const st = new Stack('narrowed', s);
  section('narrowed: READ_ONLY, EXCLUDE_TOOLS and SCALE_PROJECTS');
  const tokenOpt = { token: s.token };
  norm.literal(s.token, '<token:e2e>');
  await simControl(st, 'seed projects and tasks', 'main', 'seed', { projects: [{ type: 'categorization', name: 'alpha' }, { type: 'categorization', name: 'beta, gamma' }, { type: 'categorization', name: 'delta' }], tasks: [{ type: 'categorization', project: 'alpha', params: { categories: ['a'] } }, { type: 'categorization', project: 'delta', params: { categories: ['a'] } }] });
  await mcp(st, '', 'tools/list', undefined, tokenOpt);
  await mcp(st, '', 'tools/list', {}, { ...tokenOpt, lane: 'modern' });
  await tool(st, 'create_task', { type: 'categorization', project: 'alpha' }, { ...tokenOpt, title: 'READ_ONLY' });
  await tool(st, 'import_file', { file_url: 'https://files.example/a.jpg', project_name: 'alpha' }, { ...tokenOpt, title: 'EXCLUDE_TOOLS' });
  await tool(st, 'manage_team', { action: 'list' }, { ...tokenOpt, title: 'SCALE_PROJECTS' });
  await tool(st, 'list_tasks', {}, { ...tokenOpt, title: 'several projects, none named' });
  const tasks = await tool(st, 'list_tasks', { project: 'alpha' }, { ...tokenOpt, title: 'an allowed project' });
  await tool(st, 'list_tasks', { project: 'delta' }, { ...tokenOpt, title: 'a project outside SCALE_PROJECTS' });
  await tool(st, 'list_projects', {}, { ...tokenOpt, title: 'only the allowed ones' });
  await tool(st, 'get_project', { name: 'delta' }, { ...tokenOpt, title: 'outside' });
  await tool(st, 'get_project', { name: 'beta, gamma' }, { ...tokenOpt, title: 'a name with a comma' });
  await tool(st, 'get_task', { task_id: tasks.tasks?.[0]?.task_id ?? 'none' }, { ...tokenOpt, title: 'in alpha' });
  await tool(st, 'list_callbacks', {}, { ...tokenOpt, title: 'SCALE_PROJECTS' });
  await mcp(st, '/mcp/projects/alpha', 'tools/list', undefined, { ...tokenOpt, path: '/mcp/projects/alpha' });
  await mcp(st, '/mcp/projects/delta', 'tools/list', undefined, { ...tokenOpt, path: '/mcp/projects/delta' });
  await mcp(st, 'X-Scale-Project: delta', 'tools/list', undefined, { ...tokenOpt, headers: { 'x-scale-project': 'delta' } });
  await mcp(st, 'X-MCP-Tools naming an excluded tool', 'tools/list', undefined, { ...tokenOpt, headers: { 'x-mcp-tools': 'import_file,get_task' } });
  await mcp(st, 'X-MCP-Readonly: false does not undo READ_ONLY', 'tools/call', { name: 'create_task', arguments: { type: 'categorization', project: 'alpha' } }, { ...tokenOpt, headers: { 'x-mcp-readonly': 'false' } });
  await send(st, 'health with a token', { path: '/health', headers: { authorization: `Bearer ${s.token}` } });
  await s.close();
});

// -- a live key: billed work, the rate limiter; no callback log, no OAuth ----------------

parts.push(async () => {
  // The limiter counts per 60 s window of the clock: start the calls it counts well inside one.
  const inWindow = Date.now() % 60000;
  if (inWindow > 45000) await sleep(61000 - inWindow);
  const s = await startStack({ vars: { SCALE_API_KEY: LIVE_KEY, RATE_LIMIT_PERIOD: '60', TOOLS: 'get_task,create_task,create_tasks,create_evaluation_task,finalize_batch,list_callbacks,get_callback,list_projects' }, kv: false, oauth: false, ratelimit: { limit: 6, period: 60 } });
  Object.assign(s.secrets, { LIVE_KEY });
  norm.literal(s.token, '<token:e2e>');
  const st = new Stack('live', s);
  section('live: a live_ key without LIVE_WRITES, RATE_LIMITER, TOOLS, no CALLBACKS, no OAuth');
  const t = { token: s.token };
  await mcp(st, '', 'tools/list', undefined, t);
  await tool(st, 'create_task', { type: 'categorization', project: 'p' }, { ...t, title: 'billed work on a live key' });
  await tool(st, 'create_tasks', { type: 'categorization', idempotency_key: 'k', items: [{ attachment: 'a' }] }, { ...t, title: 'billed work on a live key' });
  await tool(st, 'finalize_batch', { name: 'b' }, { ...t, title: 'billed work on a live key' });
  await tool(st, 'get_task', { task_id: 't1' }, { ...t, title: 'Scale refuses the key (401)' });
  await tool(st, 'list_callbacks', {}, { ...t, title: 'no CALLBACKS binding' });
  await tool(st, 'get_callback', { id: 'x' }, { ...t, title: 'no CALLBACKS binding' });
  await tool(st, 'list_projects', {}, { ...t, title: 'the seventh call: rate limited' });
  await tool(st, 'manage_team', { action: 'list' }, { ...t, title: 'not in TOOLS' });
  await mcp(st, 'no CALLBACKS binding', 'resources/list', {}, t);
  await mcp(st, 'no CALLBACKS binding', 'resources/read', { uri: 'scale-callback://deliveries/x' }, t);
  await send(st, 'no token (OAuth off)', { method: 'POST', path: '/mcp', headers: JSON_HEADERS, body: JSON.stringify(legacyBody('ping')) });
  await send(st, 'a wrong token (OAuth off)', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: 'Bearer wrong-token-0123456789' }, body: JSON.stringify(legacyBody('ping')) });
  await send(st, 'OAuth metadata (OAuth off)', { path: '/.well-known/oauth-authorization-server' });
  await send(st, 'protected resource metadata (OAuth off)', { path: '/.well-known/oauth-protected-resource/mcp' });
  await send(st, 'authorize (OAuth off)', { path: '/authorize?response_type=code' });
  await send(st, 'token (OAuth off)', { method: 'POST', path: '/token', headers: FORM, body: 'grant_type=refresh_token' });
  await send(st, 'health with a token', { path: '/health', headers: { authorization: `Bearer ${s.token}` } });
  await send(st, 'webhook without CALLBACKS', { method: 'POST', path: '/webhooks/scale', headers: { 'content-type': 'application/json', 'scale-callback-auth': SECRETS.SCALE_CALLBACK_AUTH_KEY }, body: '{"task_id":"x"}' });
  await send(st, 'tenant webhook without OAuth', { method: 'POST', path: '/webhooks/scale/u_x', headers: { 'content-type': 'application/json', 'scale-callback-auth': SECRETS.SCALE_CALLBACK_AUTH_KEY }, body: '{"task_id":"x"}' });
  await s.close();
});

// -- tight budgets: subrequests, answer size, timeouts ----------------------------------

parts.push(async () => {
  const s = await startStack({ vars: { SUBREQUEST_LIMIT: '4', SCALE_MAX_RESPONSE_BYTES: '65536', SCALE_TIMEOUT_MS: '300', CALLBACK_EMAILS: 'true', DEFAULT_CALLBACK_URL: 'https://hooks.example.com/default', CALLBACK_HOSTS: 'hooks.example.com' } });
  norm.literal(s.token, '<token:e2e>');
  const st = new Stack('tight', s);
  section('tight: SUBREQUEST_LIMIT 4, SCALE_MAX_RESPONSE_BYTES 65536, SCALE_TIMEOUT_MS 300');
  const t = { token: s.token };
  await tool(st, 'create_project', { type: 'categorization', name: 'tight' }, t);
  await tool(st, 'create_tasks', { type: 'categorization', project: 'tight', idempotency_key: 'tight', items: [1, 2, 3, 4, 5, 6].map((i) => ({ attachment: `https://img.example/t${i}.jpg` })) }, { ...t, title: 'more items than subrequests' });
  await tool(st, 'create_tasks', { type: 'categorization', project: 'tight', idempotency_key: 'tight', items: [1, 2, 3, 4, 5, 6].map((i) => ({ attachment: `https://img.example/t${i}.jpg` })) }, { ...t, title: 'the same call continues' });
  for (const n of [1, 2, 3, 4, 5]) await tool(st, 'create_batch', { project: 'tight', name: `tight-${n}` }, { ...t, title: `batch ${n}, DEFAULT_CALLBACK_URL` });
  await tool(st, 'list_batches', { project: 'tight', detailed: true }, { ...t, title: 'progress for as many as fit' });
  await send(st, 'a batch of calls sharing the subrequests', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: `Bearer ${s.token}` }, body: JSON.stringify([1, 2, 3, 4, 5].map((n) => legacyBody('tools/call', { name: 'get_batch', arguments: { name: `tight-${n}` } }))) });
  await tool(st, 'create_task', { type: 'categorization', project: 'tight', callback_url: 'ops@example.com', params: { categories: ['a'] } }, { ...t, title: 'an e-mail callback (CALLBACK_EMAILS)' });
  await tool(st, 'create_task', { type: 'categorization', project: 'tight', callback_url: 'https://hooks.example.com/default', params: { categories: ['a'] } }, { ...t, title: 'DEFAULT_CALLBACK_URL named' });
  await simControl(st, 'fault: an answer over 64 KiB', 'main', 'faults', { method: 'GET', pattern: 'task/*', status: 200, body: { task_id: 'big', metadata: { pad: 'x'.repeat(70000) } } });
  await tool(st, 'get_task', { task_id: 'big' }, { ...t, title: 'an answer over SCALE_MAX_RESPONSE_BYTES' });
  await simControl(st, 'fault: a create held 2 s', 'main', 'faults', { method: 'POST', pattern: 'task/categorization', delayMs: 2000 });
  await tool(st, 'create_task', { type: 'categorization', project: 'tight', params: { categories: ['a'] } }, { ...t, title: 'timed out, not retried' });
  await sleep(2100);
  await st.simLog();
  await st.workerLog(0);
  await s.close();
});

// -- configuration mistakes -------------------------------------------------------------------

parts.push(async () => {
  const s = await startStack({ vars: { SCALE_TIMEOUT_MS: 'soon', TOOLS: 'get_task,nope', ALLOWED_ORIGINS: 'not a url', SCALE_API_BASE: 'http://scale.example.com/v1' } });
  norm.literal(s.token, '<token:e2e>');
  const st = new Stack('broken', s);
  section('broken: malformed settings of /mcp; the webhook keeps working');
  await send(st, 'health', { path: '/health' });
  await send(st, 'health with a token', { path: '/health', headers: { authorization: `Bearer ${s.token}` } });
  await send(st, '/mcp', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: `Bearer ${s.token}` }, body: JSON.stringify(legacyBody('ping')) });
  await send(st, '/mcp without a token', { method: 'POST', path: '/mcp', headers: JSON_HEADERS, body: JSON.stringify(legacyBody('ping')) });
  await send(st, 'OAuth metadata', { path: '/.well-known/oauth-authorization-server' });
  await send(st, 'the webhook', { method: 'POST', path: '/webhooks/scale', headers: { 'content-type': 'application/json', 'scale-callback-auth': SECRETS.SCALE_CALLBACK_AUTH_KEY }, body: '{"task_id":"x","task":{"task_id":"x"}}' });
  await s.close();

  const s2 = await startStack({ vars: { MCP_AUTH_TOKEN: 'short', WEBHOOK_MAX_BYTES: '12', SCALE_CALLBACK_AUTH_KEY: 'also-short' } });
  const st2 = new Stack('badsecrets', s2);
  section('badsecrets: a token and a callback key too short, WEBHOOK_MAX_BYTES out of range');
  await send(st2, 'health', { path: '/health' });
  await send(st2, '/mcp', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: 'Bearer short' }, body: JSON.stringify(legacyBody('ping')) });
  await send(st2, 'the webhook', { method: 'POST', path: '/webhooks/scale', headers: { 'content-type': 'application/json', 'scale-callback-auth': 'also-short' }, body: '{}' });
  await s2.close();

  const s3 = await startStack({ vars: { MCP_AUTH_TOKEN: '[{"label": "x", "token": "0123456789abcdef0", "scopes": ["scale:admin"]}, {"label": "x", "token": "0123456789abcdef1"}]' } });
  const st3 = new Stack('badjson', s3);
  section('badjson: MCP_AUTH_TOKEN in the JSON form with mistakes');
  await send(st3, 'health', { path: '/health' });
  await send(st3, '/mcp', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: 'Bearer 0123456789abcdef1' }, body: JSON.stringify(legacyBody('ping')) });
  await s3.close();

  const s4 = await startStack({ vars: { MCP_AUTH_TOKEN: undefined, SCALE_CALLBACK_AUTH_KEY: undefined }, oauth: false });
  const st4 = new Stack('bare', s4);
  section('bare: no MCP_AUTH_TOKEN, no SCALE_CALLBACK_AUTH_KEY, no OAuth store');
  await send(st4, 'health', { path: '/health' });
  await send(st4, '/mcp', { method: 'POST', path: '/mcp', headers: JSON_HEADERS, body: JSON.stringify(legacyBody('ping')) });
  await send(st4, '/mcp with some token', { method: 'POST', path: '/mcp', headers: { ...JSON_HEADERS, authorization: 'Bearer some-token-0123456789' }, body: JSON.stringify(legacyBody('ping')) });
  await send(st4, 'the webhook', { method: 'POST', path: '/webhooks/scale', headers: { 'content-type': 'application/json', 'scale-callback-auth': 'anything-0123456789' }, body: '{}' });
  await send(st4, 'OAuth metadata', { path: '/.well-known/oauth-authorization-server' });
  await s4.close();

  const s5 = await startStack({ vars: { MCP_AUTH_TOKEN: undefined, OAUTH_BYOK: 'true', OAUTH_SECRET, PUBLIC_URL } });
  Object.assign(s5.secrets, { OAUTH_SECRET });
  const st5 = new Stack('byok-only', s5);
  section('byok-only: sign-in with own keys only, no static tokens');
  await send(st5, '/mcp without a token', { method: 'POST', path: '/mcp', headers: JSON_HEADERS, body: JSON.stringify(legacyBody('ping')) });
  await send(st5, 'OAuth metadata', { path: '/.well-known/oauth-authorization-server' });
  const reg = await send(st5, 'register', { method: 'POST', path: '/register', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }) });
  await send(st5, 'the sign-in page (own key only)', { path: `/authorize?${new URLSearchParams({ response_type: 'code', client_id: reg.json?.client_id ?? 'none', redirect_uri: REDIRECT, code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 's', resource: `${PUBLIC_URL}/mcp` })}` });
  await send(st5, 'the grants page', { path: '/oauth/grants' });
  await send(st5, 'health', { path: '/health' });
  await s5.close();
});

// ---------------------------------------------------------------------------
// Running

async function run() {
  const started = Date.now();
  for (const part of parts) await part();
  mkdirSync(path.dirname(outFile), { recursive: true });
  const header = [
    '# scale-mcp-worker: answers to the fixed request list of scripts/capture-answers.mjs',
    `# ${entryNo} requests. Values that differ between runs are normalised (see the script).`,
  ];
  writeFileSync(outFile, `${[...header, ...out].join('\n')}\n`);
  console.log(`capture-answers: ${entryNo} requests written to ${path.relative(process.cwd(), outFile) || outFile} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

run().catch((e) => {
  console.error(e);
  process.exit(1);
});
