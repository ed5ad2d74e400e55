// Test harness for the end-to-end suite: the two workers of a deployment,
// built from this crate, running in one workerd through Miniflare next to the
// repository's Scale simulator, all on free loopback ports. The MCP worker
// (build/, configured as wrangler.toml says) answers every request; the jobs
// worker (build-jobs/, configured as wrangler.jobs.toml says) consumes the
// jobs queue and holds the jobs' Durable Objects (JobStore), which the MCP
// worker binds by script name.
// Every log line either worker prints is captured so tests can assert on it
// (and scan it for secrets). Helpers here drive the simulator's served files
// and task counts for dataset-scale job tests.

import { Miniflare, Log, LogLevel } from 'miniflare';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startSimulator } from '../../sim/scale-sim.mjs';
import { jobsWorkerOptions, readConfig, tomlArrayTables, tomlTable, MCP_CONFIG, JOBS_CONFIG } from '../../scripts/jobs-config.mjs';

export { tomlArrayTables, jobsWorkerOptions };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { name: mcpWorkerName, compatibility_date: compatibilityDate } = tomlTable(readConfig(MCP_CONFIG), '');
const jobsCompatibilityDate = tomlTable(readConfig(JOBS_CONFIG), '').compatibility_date;

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
 * Starts the simulator and both workers in one Miniflare: the MCP worker,
 * which answers `stack.url`, and (unless `jobs: false`) the jobs worker.
 *
 * The MCP worker, from `build` (default `build`, the release build): `vars`
 * override or add bindings (pass `undefined` to leave a setting unset);
 * `kv: false` leaves CALLBACKS unbound; `oauth: false` leaves the OAuth store
 * (a Durable Object) unbound; `outbound` answers both workers' outbound
 * fetches (Miniflare's outboundService), e.g. to serve OAuth client metadata
 * documents; `ratelimit: {limit, period}` binds RATE_LIMITER as
 * wrangler.toml's `[[ratelimits]]` does; `authLimit` binds AUTH_LIMITER
 * (failed bearer attempts on /mcp) the same way; `oauthStore` (module source
 * exporting a Durable Object class `OAuthStore`) stands in for the worker's
 * own OAuth store, e.g. one that fails. With jobs it holds the JOBS producer
 * and binds JOBS_STATE, the jobs worker's JobStore, by script name, as
 * wrangler.toml declares them.
 *
 * The jobs worker, from `jobsBuild` (default `build-jobs`, the release build
 * with the `jobs-worker` feature; `build-testing` is that build with the
 * testing fault hooks, which `npm test` makes too), bound as
 * wrangler.jobs.toml declares (see jobsWorkerOptions in
 * scripts/jobs-config.mjs): the consumers of the jobs queue and of its
 * dead-letter queue, a JOBS producer, and its JobStore class as JOBS_STATE
 * (SQLite-backed); it binds nothing of the MCP worker. It gets the same
 * vars and secrets as the MCP worker, so the two agree on the settings
 * digest each job records; `jobsVars` overrides vars of the jobs worker only
 * (`undefined` unsets one), e.g. to make its settings differ, or to set a
 * testing hook's var.
 * `queue` overrides the jobs consumer's settings, e.g. `{retryDelay: 0,
 * maxBatchTimeout: 0.1, dlq: {maxBatchTimeout: 0.1}}`; `jobs: false` starts
 * no jobs worker and leaves the MCP worker's JOBS and JOBS_STATE unbound
 * (the server as without jobs).
 */
export async function startStack({ vars = {}, kv = true, oauth = true, outbound = null, sim: simOpts = {}, ratelimit = null, authLimit = null, oauthStore = null, jobs = true, queue = undefined, build = 'build', jobsBuild = 'build-jobs', jobsVars = undefined } = {}) {
  const missing = (dir) => !existsSync(path.join(root, dir, 'index.js'));
  if (missing(build)) throw new Error(`${build}/index.js is missing: run \`npm run build\` first (the testing build: npm test makes it)`);
  if (!jobs && (queue !== undefined || jobsVars !== undefined)) throw new Error('queue and jobsVars need the jobs worker: drop `jobs: false`, or `queue` and `jobsVars`');
  if (jobs && missing(jobsBuild)) {
    throw new Error(`${jobsBuild}/index.js is missing: build the jobs worker with \`BUILD_DIR=build-jobs bash scripts/build.sh --features jobs-worker\` (npm test makes it and build-testing), or pass jobs: false`);
  }
  const jobOptions = jobs ? jobsWorkerOptions({ queue }) : null;
  const sim = await startSimulator({ apiKey: SECRETS.SCALE_API_KEY, callbackAuthKey: SECRETS.SCALE_CALLBACK_AUTH_KEY, ...simOpts });
  const bindings = { ...SECRETS, SCALE_API_BASE: sim.base, ...vars };
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  const jobsBindings = { ...bindings, ...jobsVars };
  for (const [k, v] of Object.entries(jobsBindings)) if (v === undefined) delete jobsBindings[k];
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
  // The workers by the names their wrangler files give them, so that the
  // MCP worker's script_name binding (the jobs worker's JobStore) means what
  // it means when deployed.
  const workerName = mcpWorkerName;
  const standName = 'oauth-store';
  const store = { className: 'OAuthStore', useSQLite: true };
  const modules = (dir) => ({
    modules: true,
    scriptPath: path.join(root, dir, 'index.js'),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
  });
  const worker = {
    name: workerName,
    ...modules(build),
    compatibilityDate,
    bindings,
    kvNamespaces: kv ? ['CALLBACKS'] : [],
    // The OAuth store, as wrangler.toml declares it (SQLite-backed), and the
    // jobs' store, which the jobs worker defines.
    durableObjects: {
      ...(oauth && { OAUTH: oauthStore ? { ...store, scriptName: standName } : store }),
      ...jobOptions?.mcp.durableObjects,
    },
    ...(jobOptions && { queueProducers: jobOptions.mcp.queueProducers }),
    ...(outbound ? { outboundService: outbound } : {}),
    ratelimits: ratelimit || authLimit ? { ...(ratelimit && { RATE_LIMITER: { simple: ratelimit } }), ...(authLimit && { AUTH_LIMITER: { simple: authLimit } }) } : undefined,
  };
  const workers = [worker];
  if (jobOptions) {
    workers.push({
      name: jobOptions.jobsName,
      ...modules(jobsBuild),
      compatibilityDate: jobsCompatibilityDate,
      bindings: jobsBindings,
      durableObjects: jobOptions.jobs.durableObjects,
      queueProducers: jobOptions.jobs.queueProducers,
      queueConsumers: jobOptions.jobs.queueConsumers,
      ...(outbound ? { outboundService: outbound } : {}),
    });
  }
  if (oauthStore) workers.push({ name: standName, modules: true, script: oauthStore, compatibilityDate, durableObjects: { OAUTH: store } });
  let mf;
  let url;
  try {
    // Miniflare checks its options in the constructor (a bad `queue` value throws here).
    // The first worker answers the requests to its URL.
    mf = new Miniflare({
      workers,
      host: '127.0.0.1',
      port: 0,
      log: new Log(LogLevel.NONE),
      handleRuntimeStdio(stdout, stderr) {
        collect(stdout);
        collect(stderr);
      },
    });
    url = (await mf.ready).toString().replace(/\/$/, '');
  } catch (e) {
    await mf?.dispose().catch(() => {});
    await sim.close();
    // workerd (2026-04) only warns when a Durable Object class or a handler
    // is missing and fails its calls later; should a later one refuse to
    // start, say what to do.
    const hint = jobOptions && /JobStore|QueueEvent|queue/.test(`${e?.message}\n${logs.join('\n')}`)
      ? ` (with jobs the jobs worker (${jobsBuild}/) must export the Durable Object class JobStore and a queue handler: rebuild it (npm test does), or pass jobs: false)`
      : '';
    throw new Error(`the workers did not start: ${e?.message ?? e}${hint}`, { cause: e });
  }
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
    kv: kv ? await mf.getKVNamespace('CALLBACKS', workerName) : null,
    /** The Miniflare job options in force (jobsWorkerOptions: {mcp, jobs, mcpName, jobsName}), or null with `jobs: false`. */
    jobs: jobOptions,
    /** The workers' Miniflare names: the MCP worker's and, with jobs, the jobs worker's. */
    workerNames: workers.map((w) => w.name),
    /** The MCP worker's JOBS queue producer, to put a message on the jobs queue directly. */
    async jobsQueue() {
      if (!jobOptions) throw new Error('jobs are not bound in this stack');
      return mf.getQueueProducer(Object.keys(jobOptions.mcp.queueProducers)[0], workerName);
    },
    /** The JobStore namespace (JOBS_STATE, defined by the jobs worker), to look into a job's Durable Object. */
    async jobStore() {
      if (!jobOptions) throw new Error('jobs are not bound in this stack');
      return mf.getDurableObjectNamespace(Object.keys(jobOptions.mcp.durableObjects)[0], jobOptions.jobsName);
    },
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
    /** Stops the workers and the simulator, then fails if any secret leaked into a response or log line. */
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
 * Registers a file the simulator serves at /files/<path> (a manifest for
 * `items_url`): `spec` is the rest of a POST /__sim/files body, e.g.
 * `{body: '...'}`, `{generate: {lines: 10000, template: {...}, refuse: [5]}}`
 * or `{redirect: 'https://elsewhere.example/m.jsonl'}` (sim/README.md).
 * Resolves the simulator's answer, whose `url` is the file's address.
 * Takes a stack or a simulator.
 */
export async function simFile(stack, filePath, spec = {}) {
  const base = (stack.sim ?? stack).url;
  const r = await fetch(`${base}/__sim/files`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...spec, path: filePath }),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`simFile ${filePath}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/**
 * The simulator's task counts (GET /__sim/task-stats): `{tasks, uniqueIds,
 * withoutUniqueId, duplicateUniqueIds, byStatus, creates, createStatuses}`;
 * `query` may hold `batch`, `project` and `key` (e.g. 'metadata.n', which adds
 * `keyValues`, `withoutKey` and `duplicateKeyValues`). Takes a stack or a simulator.
 */
export async function taskStats(stack, query = {}) {
  const base = (stack.sim ?? stack).url;
  const qs = new URLSearchParams(query).toString();
  const r = await fetch(`${base}/__sim/task-stats${qs ? `?${qs}` : ''}`);
  const text = await r.text();
  if (!r.ok) throw new Error(`taskStats: ${r.status} ${text}`);
  return JSON.parse(text);
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
