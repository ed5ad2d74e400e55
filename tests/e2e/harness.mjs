// Test harness for the end-to-end suite: the built worker (build/index.js and
// its wasm) running in workerd through Miniflare, next to the repository's
// Scale simulator, both on free loopback ports. Every log line the worker
// prints is captured so tests can assert on it (and scan it for secrets).

import { Miniflare, Log, LogLevel } from 'miniflare';
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startSimulator } from '../../sim/scale-sim.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const compatibilityDate = /compatibility_date\s*=\s*"([^"]+)"/.exec(readFileSync(path.join(root, 'wrangler.toml'), 'utf8'))[1];

export const SECRETS = {
  SCALE_API_KEY: 'test_e2e_scale_key_7f3a9c',
  MCP_AUTH_TOKEN: 'e2e-mcp-token-3b8e1d4c5a',
  SCALE_CALLBACK_AUTH_KEY: 'e2e-callback-key-91c2f0aa',
};

/** The tokens of an MCP_AUTH_TOKEN value: comma-separated, or the JSON array form. */
export function tokensOf(value) {
  const v = String(value ?? '').trim();
  if (v.startsWith('[')) return JSON.parse(v).map((e) => e.token);
  return v.split(',').map((t) => t.trim()).filter(Boolean);
}

/** Every secret value and the Basic-auth encoding of the Scale key. */
export function secretNeedles(secrets = SECRETS) {
  const out = Object.entries(secrets)
    .flatMap(([k, v]) => (k === 'MCP_AUTH_TOKEN' ? tokensOf(v) : String(v).split(',')))
    .filter((v) => v.length >= 8);
  if (secrets.SCALE_API_KEY) out.push(Buffer.from(`${secrets.SCALE_API_KEY}:`).toString('base64'));
  return out;
}

// Every response from a running worker, recorded by a fetch wrapper so that
// close() can fail the suite if a secret ever appears in one.
const liveStacks = new Set();
const realFetch = globalThis.fetch;
globalThis.fetch = async function recordingFetch(input, init) {
  const res = await realFetch(input, init);
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  for (const stack of liveStacks) {
    if (url.startsWith(stack.url)) {
      const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
      stack.responses.push(res.clone().text().then((body) => ({ url, status: res.status, headers, body }), () => ({ url, headers, body: '' })));
    }
  }
  return res;
};

/** Throws if any secret value appears in the stack's responses or worker log. */
export async function assertNoSecretLeaks(stack) {
  const needles = secretNeedles(stack.secrets);
  const responses = await Promise.all(stack.responses);
  for (const r of responses) {
    for (const n of needles) {
      if (r.headers.includes(n) || r.body.includes(n)) throw new Error(`a secret value appeared in the response to ${r.url} (status ${r.status})`);
    }
  }
  for (const line of stack.logs) {
    for (const n of needles) if (line.includes(n)) throw new Error(`a secret value appeared in the worker log: ${line.replace(n, '<secret>')}`);
  }
  return { responses: responses.length, logLines: stack.logs.length };
}

/**
 * Starts the simulator and the worker. `vars` override or add bindings
 * (pass `undefined` to leave a setting unset); `kv: false` leaves CALLBACKS unbound;
 * `oauth: false` leaves the OAuth store (a Durable Object) unbound; `outbound`
 * answers the worker's outbound fetches (Miniflare's outboundService), e.g. to
 * serve OAuth client metadata documents; `ratelimit: {limit, period}` binds
 * RATE_LIMITER as wrangler.toml's `[[ratelimits]]` does; `authLimit` binds
 * AUTH_LIMITER (failed bearer attempts on /mcp) the same way; `oauthStore`
 * (module source exporting a Durable Object class `OAuthStore`) stands in
 * for the worker's own OAuth store, e.g. one that fails.
 */
export async function startStack({ vars = {}, kv = true, oauth = true, outbound = null, sim: simOpts = {}, ratelimit = null, authLimit = null, oauthStore = null } = {}) {
  if (!existsSync(path.join(root, 'build/index.js'))) throw new Error('build/index.js is missing: run `npm run build` first');
  const sim = await startSimulator({ apiKey: SECRETS.SCALE_API_KEY, callbackAuthKey: SECRETS.SCALE_CALLBACK_AUTH_KEY, ...simOpts });
  const bindings = { ...SECRETS, SCALE_API_BASE: sim.base, ...vars };
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  const logs = [];
  const collect = (stream) => {
    let buf = '';
    stream.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        logs.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  };
  const store = { className: 'OAuthStore', useSQLite: true };
  const worker = {
    modules: true,
    scriptPath: path.join(root, 'build/index.js'),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
    compatibilityDate,
    bindings,
    kvNamespaces: kv ? ['CALLBACKS'] : [],
    // The OAuth store, as wrangler.toml declares it (SQLite-backed).
    durableObjects: oauth ? { OAUTH: oauthStore ? { ...store, scriptName: 'oauth-store' } : store } : {},
    ...(outbound ? { outboundService: outbound } : {}),
    ratelimits: ratelimit || authLimit ? { ...(ratelimit && { RATE_LIMITER: { simple: ratelimit } }), ...(authLimit && { AUTH_LIMITER: { simple: authLimit } }) } : undefined,
  };
  const stand = { name: 'oauth-store', modules: true, script: oauthStore, compatibilityDate, durableObjects: { OAUTH: store } };
  const mf = new Miniflare({
    ...(oauthStore ? { workers: [{ name: 'worker', ...worker }, stand] } : worker),
    host: '127.0.0.1',
    port: 0,
    log: new Log(LogLevel.NONE),
    handleRuntimeStdio(stdout, stderr) {
      collect(stdout);
      collect(stderr);
    },
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const secrets = Object.fromEntries(Object.keys(SECRETS).filter((k) => bindings[k]).map((k) => [k, bindings[k]]));
  const stack = {
    secrets,
    responses: [],
    sim,
    mf,
    url,
    mcpUrl: `${url}/mcp`,
    webhookUrl: `${url}/webhooks/scale`,
    logs,
    // The last of comma-separated tokens (rotation lists the new one last);
    // the first of the JSON form.
    token: String(bindings.MCP_AUTH_TOKEN ?? '').trim().startsWith('[') ? tokensOf(bindings.MCP_AUTH_TOKEN)[0] : bindings.MCP_AUTH_TOKEN?.split(',').pop().trim(),
    kv: kv ? await mf.getKVNamespace('CALLBACKS') : null,
    /** The simulator's log of /v1 requests. */
    async simRequests() {
      return (await fetch(`${sim.url}/__sim/requests`)).json();
    },
    async simControl(pathname, body, method = 'POST') {
      const r = await fetch(`${sim.url}/__sim/${pathname}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`sim control ${pathname}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    /** Stops both, then fails if any secret leaked into a response or log line. */
    async close() {
      liveStacks.delete(stack);
      await mf.dispose();
      await sim.close();
      await assertNoSecretLeaks(stack);
    },
  };
  liveStacks.add(stack);
  return stack;
}

/**
 * A loopback port that is free now, for a program that must be told its port
 * before it listens. Never a fixed or random number: e2e files run side by
 * side, and every stack and simulator holds ephemeral ports.
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A raw JSON-RPC POST to /mcp with the bearer token and chosen headers. */
export async function rpc(stack, body, { headers = {}, token = stack.token } = {}) {
  const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
  const res = await fetch(stack.mcpUrl, { method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

/** Modern-lane request helper: adds _meta and the required headers. */
export function modern(method, params = {}, id = 1) {
  const body = {
    jsonrpc: '2.0',
    id,
    method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, ...(params._meta || {}) } },
  };
  const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method };
  if (params.name !== undefined) headers['mcp-name'] = params.name;
  if (params.uri !== undefined) headers['mcp-name'] = params.uri;
  return { body, headers };
}

/**
 * The names of the tools the server lists (a raw legacy tools/list), so tests
 * compare every other view of the catalogue with the server's own count.
 */
export async function toolNames(stack) {
  const r = await rpc(stack, { jsonrpc: '2.0', id: 'tool-count', method: 'tools/list' });
  if (r.status !== 200 || !Array.isArray(r.json?.result?.tools)) throw new Error(`tools/list failed: ${r.status} ${r.text}`);
  return r.json.result.tools.map((t) => t.name);
}
