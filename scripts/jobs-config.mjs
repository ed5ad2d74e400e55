// The two workers of one deployment, as their wrangler files declare them:
// the MCP worker (wrangler.toml: the JOBS producer, its own OAuthStore, and
// the jobs worker's JobStore bound by script_name) and the jobs worker
// (wrangler.jobs.toml: the jobs queue's consumers, a JOBS producer, and the
// JobStore class; it binds nothing of the MCP worker, so it deploys first).
// Everything that runs them locally reads them from here: the e2e harness and
// the benchmark (Miniflare options for both workers in one workerd), `npm run
// dev` (configuration copies for `wrangler dev`), and the check that the two
// files agree, which `npm test` runs (tests/e2e/jobs.test.mjs) and which runs
// by hand as
//
//   node scripts/jobs-config.mjs        # exit 1 naming the first difference
//
// The two must agree because each job records a digest of the MCP worker's
// settings (vars and secrets), and the jobs worker leaves a job alone while
// its own settings differ (docs/jobs.md).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MCP_CONFIG = 'wrangler.toml';
export const JOBS_CONFIG = 'wrangler.jobs.toml';

/** The text of a wrangler file at the repository's root. */
export function readConfig(file) {
  return readFileSync(path.join(root, file), 'utf8');
}

// --- reading the wrangler files ----------------------------------------------
// Not a TOML parser: enough for what the wrangler files hold (key = value
// lines of strings, numbers, booleans and arrays of strings in [table] and
// [[array]] blocks), so that nothing that runs the workers drifts from them.

/** One line's value: strings (basic or literal), numbers, booleans, arrays of strings; else its raw text. */
export function tomlValue(text) {
  // A string ends at its closing quote; anywhere else a '#' starts a comment.
  const str = /^"((?:[^"\\]|\\.)*)"/.exec(text);
  if (str) return JSON.parse(`"${str[1]}"`);
  const literal = /^'([^']*)'/.exec(text);
  if (literal) return literal[1];
  const v = text.replace(/#.*$/, '').trim();
  if (v === 'true' || v === 'false') return v === 'true';
  if (/^[+-]?\d[\d_]*(\.\d+)?$/.test(v)) return Number(v.replaceAll('_', ''));
  if (/^\[\s*("(?:[^"\\]|\\.)*"\s*,?\s*)*\]$/.test(v)) return JSON.parse(v.replace(/,\s*\]$/, ']'));
  return v;
}

/**
 * The blocks of a TOML text in order, each `{header, array, entries}`: the
 * top-level keys first (header ''), then every `[table]` (array false) and
 * `[[array]]` entry (array true), with its `key = value` lines as an object.
 */
export function tomlBlocks(text) {
  const blocks = [{ header: '', array: false, entries: {} }];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[\[\s*([^\]]+?)\s*\]\]|^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (header) {
      blocks.push({ header: header[1] ?? header[2], array: header[1] !== undefined, entries: {} });
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(line);
    if (kv) blocks.at(-1).entries[kv[1]] = tomlValue(kv[2]);
  }
  return blocks;
}

/** The entries of every `[[name]]` block, in order. */
export function tomlArrayTables(text, name) {
  return tomlBlocks(text).filter((b) => b.array && b.header === name).map((b) => b.entries);
}

/** The entries of the `[name]` table (`''`: the top-level keys), or null when there is none. */
export function tomlTable(text, name) {
  return tomlBlocks(text).find((b) => !b.array && b.header === name)?.entries ?? null;
}

// --- the check -----------------------------------------------------------------

const show = (v) => JSON.stringify(v);

/**
 * Every way the jobs worker's file disagrees with the MCP worker's, in
 * order (the first is the one to fix first), as sentences; empty when they
 * agree:
 * - [vars]: the same names with the same values (the settings digest of
 *   each job is worked out from them, secrets aside);
 * - every Durable Object the MCP worker binds by script_name (JOBS_STATE)
 *   names the jobs worker and a class the jobs worker defines (bound by it
 *   under the same name, SQLite-backed); the jobs worker binds nothing of
 *   another worker (so it can be deployed first);
 * - the jobs worker consumes the queue the MCP worker's JOBS producer sends
 *   to, and its own JOBS producer sends to that queue.
 */
export function configDifferences(mcpText = readConfig(MCP_CONFIG), jobsText = readConfig(JOBS_CONFIG), { mcpFile = MCP_CONFIG, jobsFile = JOBS_CONFIG } = {}) {
  const out = [];
  const mcpVars = tomlTable(mcpText, 'vars') ?? {};
  const jobsVars = tomlTable(jobsText, 'vars');
  if (!jobsVars) out.push(`${jobsFile} has no [vars]; it needs every var of ${mcpFile} with the same value`);
  for (const [name, value] of Object.entries(mcpVars)) {
    if (!jobsVars) break;
    if (!Object.hasOwn(jobsVars, name)) out.push(`[vars] ${name}: ${mcpFile} sets it to ${show(value)}, ${jobsFile} does not set it`);
    else if (jobsVars[name] !== value) out.push(`[vars] ${name}: ${mcpFile} has ${show(value)}, ${jobsFile} has ${show(jobsVars[name])}`);
  }
  for (const name of Object.keys(jobsVars ?? {})) {
    if (!Object.hasOwn(mcpVars, name)) out.push(`[vars] ${name}: ${jobsFile} sets it to ${show(jobsVars[name])}, ${mcpFile} does not set it`);
  }

  const jobsName = tomlTable(jobsText, '')?.name;
  if (!jobsName) out.push(`${jobsFile} has no top-level name`);
  const jobsObjects = tomlArrayTables(jobsText, 'durable_objects.bindings');
  for (const b of tomlArrayTables(mcpText, 'durable_objects.bindings').filter((x) => x.script_name)) {
    const theirs = jobsObjects.find((j) => j.name === b.name);
    if (b.script_name !== jobsName) out.push(`[[durable_objects.bindings]] ${b.name}: script_name in ${mcpFile} is ${show(b.script_name)}, not ${jobsFile}'s name ${show(jobsName)}`);
    else if (!theirs || theirs.script_name) out.push(`[[durable_objects.bindings]] ${b.name}: ${mcpFile} binds it in ${show(jobsName)} (class ${b.class_name}), which does not define it`);
    else if (theirs.class_name !== b.class_name) out.push(`[[durable_objects.bindings]] ${b.name}: class_name is ${show(b.class_name)} in ${mcpFile}, ${show(theirs.class_name)} in ${jobsFile}`);
    else if (!sqliteClass(jobsText, b.class_name)) out.push(`[[migrations]]: ${jobsFile} does not make ${b.class_name} a SQLite-backed class`);
  }
  for (const b of jobsObjects.filter((x) => x.script_name)) {
    out.push(`[[durable_objects.bindings]] ${b.name}: ${jobsFile} binds it in ${show(b.script_name)}; the jobs worker must bind no other worker's objects (it is deployed first)`);
  }

  const mcpJobs = tomlArrayTables(mcpText, 'queues.producers').find((p) => p.binding === 'JOBS');
  if (mcpJobs) {
    const consumers = tomlArrayTables(jobsText, 'queues.consumers');
    if (!consumers.some((c) => c.queue === mcpJobs.queue)) out.push(`[[queues.consumers]]: ${jobsFile} consumes no queue ${show(mcpJobs.queue)}, where ${mcpFile}'s JOBS producer sends`);
    const jobsProducer = tomlArrayTables(jobsText, 'queues.producers').find((p) => p.binding === 'JOBS');
    if (!jobsProducer) out.push(`[[queues.producers]] JOBS: ${jobsFile} has none (its consumer queues the chunks of a job)`);
    else if (jobsProducer.queue !== mcpJobs.queue) out.push(`[[queues.producers]] JOBS: sends to ${show(jobsProducer.queue)} in ${jobsFile}, ${show(mcpJobs.queue)} in ${mcpFile}`);
  }
  return out;
}

// --- Miniflare options of the two workers ------------------------------------

// [[queues.consumers]] keys and the Miniflare option each is.
// (`max_concurrency` has none: Miniflare delivers one batch of a queue at a time.)
export const CONSUMER_OPTIONS = {
  max_batch_size: 'maxBatchSize',
  max_batch_timeout: 'maxBatchTimeout',
  max_retries: 'maxRetries',
  retry_delay: 'retryDelay',
  dead_letter_queue: 'deadLetterQueue',
};
const QUEUE_OVERRIDES = new Set([...Object.values(CONSUMER_OPTIONS), 'dlq']);

/** Whether a [[migrations]] block of `text` makes `className` SQLite-backed. */
function sqliteClass(text, className) {
  return tomlArrayTables(text, 'migrations').some((m) => Array.isArray(m.new_sqlite_classes) && m.new_sqlite_classes.includes(className));
}

/**
 * The Miniflare options of dataset-scale jobs on both workers, from the two
 * files:
 * - `mcp`: what the MCP worker gets for jobs: the JOBS producer and the
 *   jobs worker's JobStore objects as JOBS_STATE, bound to the Miniflare
 *   worker named `jobsName` (default: its name in wrangler.jobs.toml);
 * - `jobs`: the jobs worker's consumers (the jobs queue's and its
 *   dead-letter queue's, with wrangler.jobs.toml's batch size, batch
 *   timeout, retries, retry delay and dead-letter queue), its JOBS producer,
 *   and its own JobStore (SQLite-backed as its migration says);
 * - `oauth`: the MCP worker's own OAUTH binding (OAuthStore), for callers
 *   that bind it;
 * - `mcpName`, `jobsName`: the workers' names in the two files.
 * Spread `mcp` and `jobs` into Miniflare worker options.
 *
 * `queue` overrides the jobs consumer's settings by their Miniflare names,
 * e.g. `{retryDelay: 0, maxBatchTimeout: 0.05}` so a test need not wait 30 s
 * for a retry; `queue.dlq` does the same for the dead-letter consumer.
 * Seconds throughout: `retryDelay` whole (0 to 86400), `maxBatchTimeout` 0 to
 * 60. A retry whose worker code names its own delay (`retry({delaySeconds})`)
 * waits that long whatever `retryDelay` says.
 */
export function jobsWorkerOptions({ queue = {}, jobsName: jobsAs, mcpText = readConfig(MCP_CONFIG), jobsText = readConfig(JOBS_CONFIG) } = {}) {
  for (const [label, o] of [['queue', queue], ['queue.dlq', queue?.dlq ?? {}]]) {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error(`${label} must be an object of consumer settings`);
    const allowed = label === 'queue' ? QUEUE_OVERRIDES : new Set(Object.values(CONSUMER_OPTIONS));
    const unknown = Object.keys(o).filter((k) => !allowed.has(k));
    if (unknown.length) throw new Error(`${label}: unknown setting ${unknown.join(', ')}; allowed: ${[...allowed].join(', ')}`);
  }
  const mcpName = tomlTable(mcpText, '')?.name;
  const jobsName = tomlTable(jobsText, '')?.name;
  if (!mcpName || !jobsName) throw new Error(`${mcpName ? JOBS_CONFIG : MCP_CONFIG} has no top-level name`);

  // The MCP worker: the producer, and the jobs worker's store by name.
  const producer = tomlArrayTables(mcpText, 'queues.producers').find((p) => p.binding === 'JOBS');
  if (!producer) throw new Error(`${MCP_CONFIG} has no [[queues.producers]] with binding = "JOBS" (pass jobs: false for a stack without jobs)`);
  const objects = tomlArrayTables(mcpText, 'durable_objects.bindings');
  const store = objects.find((b) => b.class_name === 'JobStore');
  if (!store) throw new Error(`${MCP_CONFIG} has no [[durable_objects.bindings]] with class_name = "JobStore"`);
  const oauth = objects.find((b) => b.name === 'OAUTH');

  // The jobs worker: its consumers, its producer, its store.
  const consumers = tomlArrayTables(jobsText, 'queues.consumers');
  const settings = (queueName) => {
    const c = consumers.find((x) => x.queue === queueName);
    if (!c) throw new Error(`${JOBS_CONFIG} has no [[queues.consumers]] for queue "${queueName}"`);
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
  const jobsProducers = Object.fromEntries(tomlArrayTables(jobsText, 'queues.producers').map((p) => [p.binding, { queueName: p.queue }]));
  const jobsObjects = {};
  for (const b of tomlArrayTables(jobsText, 'durable_objects.bindings')) {
    if (b.script_name) throw new Error(`${JOBS_CONFIG}: [[durable_objects.bindings]] ${b.name} binds another worker's objects (the jobs worker binds none)`);
    jobsObjects[b.name] = { className: b.class_name, useSQLite: sqliteClass(jobsText, b.class_name) };
  }
  const ownStore = jobsObjects[store.name];
  if (!ownStore) throw new Error(`${JOBS_CONFIG} does not define ${store.name} (${store.class_name}), which ${MCP_CONFIG} binds`);
  return {
    mcpName,
    jobsName,
    mcp: {
      queueProducers: { [producer.binding]: { queueName: producer.queue } },
      durableObjects: { [store.name]: { ...ownStore, scriptName: jobsAs ?? jobsName } },
    },
    jobs: { queueProducers: jobsProducers, queueConsumers, durableObjects: jobsObjects },
    oauth: oauth ? { name: oauth.name, className: oauth.class_name, useSQLite: sqliteClass(mcpText, oauth.class_name) } : null,
  };
}

// --- by hand ---------------------------------------------------------------------

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const diffs = configDifferences();
  if (diffs.length) {
    console.error(`${JOBS_CONFIG} disagrees with ${MCP_CONFIG} (${diffs.length} difference${diffs.length > 1 ? 's' : ''}); the first:\n  ${diffs[0]}`);
    for (const d of diffs.slice(1)) console.error(`  then: ${d}`);
    process.exit(1);
  }
  console.log(`${JOBS_CONFIG} agrees with ${MCP_CONFIG}: the same [vars], the job store the MCP worker binds defined here, the same jobs queue`);
}
