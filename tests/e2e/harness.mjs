// Test harness for the end-to-end suite: the built worker (build/index.js and
// its wasm) running in workerd through Miniflare, next to the repository's
// Scale simulator, both on free loopback ports. Every log line the worker
// prints is captured so tests can assert on it (and scan it for secrets).
// The worker gets the bindings wrangler.toml gives it (the jobs queue, its
// consumers and Durable Objects read from there), and helpers here drive the
// simulator's served files and task counts for dataset-scale job tests.

import { Miniflare, Log, LogLevel } from 'miniflare';
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startSimulator } from '../../sim/scale-sim.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const wranglerToml = readFileSync(path.join(root, 'wrangler.toml'), 'utf8');
const compatibilityDate = /compatibility_date\s*=\s*"([^"]+)"/.exec(wranglerToml)[1];

/**
 * The entries of every `[[name]]` block of a TOML file, as objects of their
 * `key = value` lines: strings, numbers, booleans and arrays of strings, which
 * is all the blocks read here hold (anything else is kept as its raw text).
 * Not a TOML parser; enough to read wrangler.toml's queue and Durable Object
 * blocks so that the harness never drifts from them.
 */
export function tomlArrayTables(text, name) {
  const out = [];
  let current = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[\[\s*([^\]]+?)\s*\]\]|^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (header) {
      current = header[1] === name ? {} : null;
      if (current) out.push(current);
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(line);
    if (current && kv) current[kv[1]] = tomlValue(kv[2]);
  }
  return out;
}

function tomlValue(text) {
  // A string ends at its closing quote; anywhere else a '#' starts a comment.
  const str = /^"((?:[^"\\]|\\.)*)"/.exec(text);
  if (str) return JSON.parse(`"${str[1]}"`);
  const v = text.replace(/#.*$/, '').trim();
  if (v === 'true' || v === 'false') return v === 'true';
  if (/^[+-]?\d[\d_]*(\.\d+)?$/.test(v)) return Number(v.replaceAll('_', ''));
  if (/^\[\s*("(?:[^"\\]|\\.)*"\s*,?\s*)*\]$/.test(v)) return JSON.parse(v.replace(/,\s*\]$/, ']'));
  return v;
}

// wrangler.toml's [[queues.consumers]] keys and the Miniflare option each is.
// (`max_concurrency` has none: Miniflare delivers one batch of a queue at a time.)
const CONSUMER_OPTIONS = {
  max_batch_size: 'maxBatchSize',
  max_batch_timeout: 'maxBatchTimeout',
  max_retries: 'maxRetries',
  retry_delay: 'retryDelay',
  dead_letter_queue: 'deadLetterQueue',
};
const QUEUE_OVERRIDES = new Set([...Object.values(CONSUMER_OPTIONS), 'dlq']);

/**
 * Miniflare options for dataset-scale jobs, read from wrangler.toml: the
 * queue producer bound as JOBS, the consumer of its queue and the consumer of
 * that consumer's dead-letter queue (with wrangler.toml's batch size, batch
 * timeout, retries, retry delay and dead-letter queue), and the Durable
 * Object JobStore under its binding (SQLite-backed when its migration says
 * so). Returns `{queueProducers, queueConsumers, durableObjects}` to spread
 * into a Miniflare worker's options.
 *
 * `queue` overrides the jobs consumer's settings by their Miniflare names,
 * e.g. `{retryDelay: 0, maxBatchTimeout: 0.05}` so a test need not wait 30 s
 * for a retry; `queue.dlq` does the same for the dead-letter consumer.
 * Seconds throughout: `retryDelay` whole (0 to 86400), `maxBatchTimeout` 0 to
 * 60. A retry whose worker code names its own delay (`retry({delaySeconds})`)
 * waits that long whatever `retryDelay` says.
 */
export function jobsBindings(queue = {}, toml = wranglerToml) {
  const where = 'wrangler.toml';
  for (const [label, o] of [['queue', queue], ['queue.dlq', queue?.dlq ?? {}]]) {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error(`${label} must be an object of consumer settings`);
    const allowed = label === 'queue' ? QUEUE_OVERRIDES : new Set(Object.values(CONSUMER_OPTIONS));
    const unknown = Object.keys(o).filter((k) => !allowed.has(k));
    if (unknown.length) throw new Error(`${label}: unknown setting ${unknown.join(', ')}; allowed: ${[...allowed].join(', ')}`);
  }
  const producer = tomlArrayTables(toml, 'queues.producers').find((p) => p.binding === 'JOBS');
  if (!producer) throw new Error(`${where} has no [[queues.producers]] with binding = "JOBS" (pass jobs: false for a stack without jobs)`);
  const consumers = tomlArrayTables(toml, 'queues.consumers');
  const settings = (queueName) => {
    const c = consumers.find((x) => x.queue === queueName);
    if (!c) throw new Error(`${where} has no [[queues.consumers]] for queue "${queueName}"`);
    const opts = {};
    for (const [key, option] of Object.entries(CONSUMER_OPTIONS)) if (c[key] !== undefined) opts[option] = c[key];
    return opts;
  };
  const { dlq: dlqOverrides = {}, ...jobsOverrides } = queue;
  const jobsConsumer = { ...settings(producer.queue), ...jobsOverrides };
  const queueConsumers = { [producer.queue]: jobsConsumer };
  if (jobsConsumer.deadLetterQueue !== undefined) {
    queueConsumers[jobsConsumer.deadLetterQueue] = { ...settings(jobsConsumer.deadLetterQueue), ...dlqOverrides };
  } else if (queue.dlq !== undefined) {
    throw new Error('queue.dlq: the jobs consumer has no dead-letter queue');
  }
  const store = tomlArrayTables(toml, 'durable_objects.bindings').find((b) => b.class_name === 'JobStore');
  if (!store) throw new Error(`${where} has no [[durable_objects.bindings]] with class_name = "JobStore"`);
  const useSQLite = tomlArrayTables(toml, 'migrations').some((m) => Array.isArray(m.new_sqlite_classes) && m.new_sqlite_classes.includes('JobStore'));
  return {
    queueProducers: { [producer.binding]: { queueName: producer.queue } },
    queueConsumers,
    durableObjects: { [store.name]: { className: 'JobStore', useSQLite } },
  };
}

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
 *
 * Dataset-scale jobs are bound as wrangler.toml declares them (see
 * jobsBindings): the JOBS queue producer, the consumers of the jobs queue and
 * of its dead-letter queue, and the JobStore Durable Object JOBS_STATE.
 * `queue` overrides the jobs consumer's settings, e.g. `{retryDelay: 0,
 * maxBatchTimeout: 0.1, dlq: {maxBatchTimeout: 0.1}}`; `jobs: false` leaves
 * all of them unbound (the server as without jobs).
 * `build` names the build directory (default `build`; `build-testing` is the
 * `testing` build with its fault hooks, which `npm test` makes).
 */
export async function startStack({ vars = {}, kv = true, oauth = true, outbound = null, sim: simOpts = {}, ratelimit = null, authLimit = null, oauthStore = null, jobs = true, queue = undefined, build = 'build' } = {}) {
  if (!existsSync(path.join(root, build, 'index.js'))) throw new Error(`${build}/index.js is missing: run \`npm run build\` first (the testing build: npm test makes it)`);
  if (!jobs && queue !== undefined) throw new Error('queue settings need jobs bound: drop `jobs: false` or `queue`');
  const jobOptions = jobs ? jobsBindings(queue) : null;
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
    scriptPath: path.join(root, build, 'index.js'),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
    compatibilityDate,
    bindings,
    kvNamespaces: kv ? ['CALLBACKS'] : [],
    // The OAuth store, as wrangler.toml declares it (SQLite-backed), and the jobs' store.
    durableObjects: {
      ...(oauth && { OAUTH: oauthStore ? { ...store, scriptName: 'oauth-store' } : store }),
      ...jobOptions?.durableObjects,
    },
    ...(jobOptions && { queueProducers: jobOptions.queueProducers, queueConsumers: jobOptions.queueConsumers }),
    ...(outbound ? { outboundService: outbound } : {}),
    ratelimits: ratelimit || authLimit ? { ...(ratelimit && { RATE_LIMITER: { simple: ratelimit } }), ...(authLimit && { AUTH_LIMITER: { simple: authLimit } }) } : undefined,
  };
  const stand = { name: 'oauth-store', modules: true, script: oauthStore, compatibilityDate, durableObjects: { OAUTH: store } };
  // With a stand-in store the worker is the first of two; the job bindings stay on it.
  const workerName = oauthStore ? 'worker' : undefined;
  let mf;
  let url;
  try {
    // Miniflare checks its options in the constructor (a bad `queue` value throws here).
    mf = new Miniflare({
      ...(oauthStore ? { workers: [{ name: workerName, ...worker }, stand] } : worker),
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
    // workerd (2026-04) only warns when the JobStore class is missing and fails
    // its calls later; should a later one refuse to start, say what to do.
    const hint = jobOptions && /JobStore|QueueEvent/.test(`${e?.message}\n${logs.join('\n')}`)
      ? ' (with jobs bound the worker must export the Durable Object class JobStore and a queue handler: rebuild with `npm run build`, or pass jobs: false)'
      : '';
    throw new Error(`the worker did not start: ${e?.message ?? e}${hint}`, { cause: e });
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
    kv: kv ? await mf.getKVNamespace('CALLBACKS') : null,
    /** The Miniflare job options in force ({queueProducers, queueConsumers, durableObjects}), or null with `jobs: false`. */
    jobs: jobOptions,
    /** The JOBS queue producer, to put a message on the jobs queue directly. */
    async jobsQueue() {
      if (!jobOptions) throw new Error('jobs are not bound in this stack');
      return mf.getQueueProducer(Object.keys(jobOptions.queueProducers)[0], workerName);
    },
    /** The JobStore namespace (JOBS_STATE), to look into a job's Durable Object. */
    async jobStore() {
      if (!jobOptions) throw new Error('jobs are not bound in this stack');
      return mf.getDurableObjectNamespace(Object.keys(jobOptions.durableObjects)[0], workerName);
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
