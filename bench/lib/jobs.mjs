// The dataset-scale jobs scenario (docs/jobs.md): the same 10,000 items
// created two ways on the two workers of a deployment (the MCP worker from
// build/, the jobs worker from build-jobs/, in one workerd through Miniflare,
// bound as the wrangler files say: scripts/jobs-config.mjs), with
// SUBREQUEST_LIMIT 50 (the Workers free plan's) and the simulator holding
// every create 50 ms:
//
// A. one job: one `create_tasks` with `items_url` (a 10,000-line JSONL
//    manifest the simulator serves) as a 2026-07-28 MCP task, then
//    `tasks/get` at the task's pollIntervalMs until it is completed;
// B. the loop an agent runs without jobs: `create_tasks` with 100 inline
//    items and an `idempotency_key`, called again with the same arguments
//    while its result says `complete: false` (SUBREQUEST_LIMIT stops each
//    call after about 50 Scale requests), then the next 100.
//
// For each: MCP round trips (every HTTP request to /mcp), wall time, the
// Scale requests made (the simulator's own counts), and the check that Scale
// holds exactly the 10,000 items, none twice and none missing (it throws
// otherwise). For A also the consumer's time per batch, from the jobs
// worker's "QUEUE scale-mcp-jobs: N messages ... in X ms" log lines: the
// figure the production estimate in bench/README.md is worked out from.
// Then, on its own stack with SUBREQUEST_LIMIT 10000 (the paid plan's,
// chunks of 100 items), a smaller job measures the time of such a batch.
// lib/report.mjs renders the figures (jobsMarkdown).

import { Miniflare, Log, LogLevel } from 'miniflare';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startSim, onCleanup, workerdChildren, cpuSeconds } from './stack.mjs';
import { simControl } from './targets.mjs';

export const JOBS_BENCH = {
  items: 10_000,
  inlineBatch: 100,
  latencyMs: 50,
  subrequestLimit: '50',
  taskPollMs: '1000',
  paidSubrequestLimit: '10000',
  paidItems: 5_000,
};

const V2 = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';
const PROJECT = 'jobs-bench';
const TYPE = 'imageannotation';
const KEY = 'bench-10k';
/** The manifest's template; `{i}` is the 1-based item number (sim/README.md "Served files"). */
const TEMPLATE = { attachment: 'https://img.example/{i}.png', metadata: { n: '{i}' } };
/** Item i as the simulator's generator writes it, so side B sends the manifest's very items. */
const item = (i) => JSON.parse(JSON.stringify(TEMPLATE).replaceAll('{i}', String(i)));

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const QUEUE_LINE = /^QUEUE scale-mcp-jobs: (\d+) messages, (\d+) acknowledged, (\d+) retried in (\d+) ms/;

function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return !s.length ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/**
 * Starts the simulator (its own Node process, every `POST task/*` held
 * `latencyMs`, the project seeded) and both workers in one Miniflare, with
 * `SUBREQUEST_LIMIT` `limit` and `TASK_POLL_MS` on both (the same vars and
 * secrets on both, so they agree on the settings digest a job records).
 * Every line workerd prints is kept with the time it arrived.
 */
async function startJobsStack({ root, buildDir, jobsBuildDir, secrets, limit, latencyMs }) {
  // The same module the e2e harness and `npm run dev` read the wrangler files with.
  const { jobsWorkerOptions, readConfig, tomlTable, MCP_CONFIG, JOBS_CONFIG } = await import(pathToFileURL(path.join(root, 'scripts/jobs-config.mjs')).href);
  const sim = await startSim(root, { apiKey: secrets.SCALE_API_KEY, callbackAuthKey: secrets.SCALE_CALLBACK_AUTH_KEY });
  const control = simControl(sim.url);
  await control('config', { latency: [{ method: 'POST', pattern: 'task/*', ms: latencyMs }] });
  const o = jobsWorkerOptions();
  if (!o.oauth) throw new Error('jobs bench: wrangler.toml binds no OAUTH object (MCP task handles are sealed under its server key)');
  const bindings = { ...secrets, SCALE_API_BASE: sim.base, SUBREQUEST_LIMIT: limit, TASK_POLL_MS: JOBS_BENCH.taskPollMs };
  const lines = [];
  const collect = (stream) => {
    let buf = '';
    stream.on('data', (chunk) => {
      const at = performance.now();
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push({ at, text: buf.slice(0, i) });
        buf = buf.slice(i + 1);
      }
    });
  };
  const modules = (dir) => ({
    modules: true,
    scriptPath: path.join(dir, 'index.js'),
    modulesRoot: dir,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
  });
  const before = new Set(workerdChildren());
  const mf = new Miniflare({
    workers: [
      {
        name: o.mcpName,
        ...modules(buildDir),
        compatibilityDate: tomlTable(readConfig(MCP_CONFIG), '').compatibility_date,
        bindings,
        kvNamespaces: ['CALLBACKS'],
        durableObjects: { [o.oauth.name]: { className: o.oauth.className, useSQLite: o.oauth.useSQLite }, ...o.mcp.durableObjects },
        queueProducers: o.mcp.queueProducers,
        // A socket straight into the MCP worker, as the other scenarios use.
        unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
      },
      {
        name: o.jobsName,
        ...modules(jobsBuildDir),
        compatibilityDate: tomlTable(readConfig(JOBS_CONFIG), '').compatibility_date,
        bindings,
        durableObjects: o.jobs.durableObjects,
        queueProducers: o.jobs.queueProducers,
        queueConsumers: o.jobs.queueConsumers,
      },
    ],
    host: '127.0.0.1',
    port: 0,
    cf: false,
    stripCfConnectingIp: false,
    log: new Log(LogLevel.NONE),
    handleRuntimeStdio(stdout, stderr) {
      collect(stdout);
      collect(stderr);
    },
  });
  const stopMf = onCleanup(() => mf.dispose());
  let url;
  try {
    await mf.ready;
    url = (await mf.unsafeGetDirectURL(o.mcpName)).toString().replace(/\/$/, '');
  } catch (e) {
    await stopMf();
    await sim.stop();
    throw e;
  }
  const pids = workerdChildren().filter((p) => !before.has(p));
  return {
    sim,
    control,
    url,
    lines,
    pid: pids.length === 1 ? pids[0] : null,
    queue: o.jobs.queueConsumers,
    async stop() {
      await stopMf();
      await sim.stop();
    },
  };
}

/** An MCP client on the 2026-07-28 lane that counts its HTTP round trips and the bytes it received. */
function mcpClient(url, token) {
  const c = { roundTrips: 0, bytes: 0 };
  c.call = async (method, params, { tasks = false } = {}) => {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`,
      'mcp-protocol-version': V2,
      'mcp-method': method,
    };
    const named = params.taskId ?? params.name;
    if (named !== undefined) headers['mcp-name'] = named;
    const caps = tasks ? { extensions: { [EXT]: {} } } : {};
    const body = { jsonrpc: '2.0', id: c.roundTrips + 1, method, params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': V2, 'io.modelcontextprotocol/clientCapabilities': caps } } };
    c.roundTrips++;
    const r = await fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
    const text = await r.text();
    c.bytes += Buffer.byteLength(text);
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {}
    if (r.status !== 200 || !json?.result) throw new Error(`jobs bench: ${method}: HTTP ${r.status} ${text.slice(0, 400)}`);
    return json.result;
  };
  return c;
}

/** Scale's counts after a side: throws unless it holds exactly `n` tasks of the items 1..n, none twice. */
async function checkScale(control, n, label) {
  const st = await control(`task-stats?project=${PROJECT}&key=metadata.n`, undefined, 'GET');
  const problems = [];
  if (st.tasks !== n) problems.push(`${st.tasks} tasks, not ${n}`);
  if (st.uniqueIds !== n) problems.push(`${st.uniqueIds} distinct unique_ids`);
  if (st.withoutUniqueId) problems.push(`${st.withoutUniqueId} tasks without a unique_id`);
  if (st.duplicateUniqueIds.length) problems.push(`unique_ids held twice: ${st.duplicateUniqueIds.slice(0, 3).join(', ')}`);
  if (st.keyValues !== n || st.withoutKey) problems.push(`${st.keyValues} distinct items (metadata.n), ${st.withoutKey} without one`);
  if (st.duplicateKeyValues.length) problems.push(`items created twice: ${st.duplicateKeyValues.slice(0, 3).join(', ')}`);
  if (problems.length) throw new Error(`jobs bench: ${label}: Scale does not hold exactly the ${n} items once each: ${problems.join('; ')}`);
  return {
    tasks: st.tasks,
    distinctItems: st.keyValues,
    duplicates: st.duplicateUniqueIds.length + st.duplicateKeyValues.length,
    missing: n - st.keyValues,
    creates: st.creates,
    createStatuses: st.createStatuses,
  };
}

/** A fresh simulator state for a side: no tasks, no files, counts at zero (the latency rule stays). */
async function freshSim(control) {
  await control('reset');
  await control('seed', { projects: [{ type: TYPE, name: PROJECT }] });
  await control('stats', undefined, 'DELETE');
}

/** The jobs queue's batches whose log lines arrived from `from` on. */
function queueBatches(lines, from) {
  const out = [];
  for (const l of lines.slice(from)) {
    const m = QUEUE_LINE.exec(l.text);
    if (m) out.push({ at: l.at, messages: Number(m[1]), acked: Number(m[2]), retried: Number(m[3]), ms: Number(m[4]) });
  }
  return out;
}

/** When the job's end (its `job_end` audit line) was printed, from `from` on. */
function jobEndAt(lines, from) {
  for (const l of lines.slice(from)) {
    if (!l.text.startsWith('{') || !l.text.includes('"job_end"')) continue;
    try {
      const a = JSON.parse(l.text);
      if (a.event === 'job_end') return { at: l.at, outcome: a.outcome, items: a.items };
    } catch {}
  }
  return null;
}

/** Side A: one job from a manifest of `n` items, followed by tasks/get at its pollIntervalMs. */
async function oneJob(stack, token, n, label, log) {
  const { control, lines } = stack;
  await freshSim(control);
  const file = await control('files', { path: `m/${label}.jsonl`, generate: { lines: n, template: TEMPLATE } });
  const client = mcpClient(stack.url, token);
  const from = lines.length;
  const cpu0 = cpuSeconds(stack.pid);
  const t0 = performance.now();
  const started = await client.call('tools/call', { name: 'create_tasks', arguments: { type: TYPE, project: PROJECT, idempotency_key: KEY, items_url: file.url } }, { tasks: true });
  if (started.resultType !== 'task' || !started.taskId) throw new Error(`jobs bench: ${label}: create_tasks did not answer a task: ${JSON.stringify(started).slice(0, 400)}`);
  const startMs = performance.now() - t0;
  let got = started;
  const intervals = [];
  let lastLog = t0;
  while (got.status === 'working') {
    const wait = got.pollIntervalMs ?? Number(JOBS_BENCH.taskPollMs);
    intervals.push(wait);
    await sleep(wait);
    got = await client.call('tasks/get', { taskId: started.taskId }, { tasks: true });
    if (performance.now() - lastLog > 30_000) {
      lastLog = performance.now();
      log(`bench:     ${((lastLog - t0) / 1000).toFixed(0)} s: ${got.statusMessage}`);
    }
    if (performance.now() - t0 > 30 * 60_000) throw new Error(`jobs bench: ${label}: still working after 30 minutes: ${got.statusMessage}`);
  }
  const ms = performance.now() - t0;
  const cpu = cpuSeconds(stack.pid) - cpu0;
  const sc = got.result?.structuredContent;
  if (got.status !== 'completed' || got.result?.isError || !sc) throw new Error(`jobs bench: ${label}: the job ended ${got.status}: ${JSON.stringify(got).slice(0, 600)}`);
  if (sc.total !== n || sc.created + sc.already_existed !== n || sc.failed !== 0) throw new Error(`jobs bench: ${label}: the job reports ${sc.message}`);
  const sim = await control('stats', undefined, 'GET');
  const scale = await checkScale(control, n, label);
  const end = jobEndAt(lines, from);
  const batches = queueBatches(lines, from);
  return {
    items: n,
    roundTrips: client.roundTrips,
    polls: client.roundTrips - 1,
    responseBytes: client.bytes,
    ms,
    startMs,
    // The job's end as the jobs worker printed it: the client sees it at its next poll.
    jobEndMs: end ? end.at - t0 : null,
    pollIntervalsMs: [...new Set(intervals)],
    message: got.statusMessage,
    result: { created: sc.created, already_existed: sc.already_existed, failed: sc.failed },
    scaleRequests: sim.requests,
    maxInFlight: sim.max_in_flight,
    scale,
    workerdCpuSeconds: cpu,
    batches: batchStats(batches, t0),
  };
}

/**
 * The consumer's batches: the first is the manifest's read (its one
 * message); the others create chunks. `full` are the batches of 5 chunk
 * messages with nothing retried: the per-batch time of the estimate.
 */
function batchStats(batches, t0) {
  const [read, ...chunks] = batches;
  const full = chunks.filter((b) => b.messages === 5 && b.retried === 0).map((b) => b.ms);
  const all = chunks.map((b) => b.ms);
  const busy = all.reduce((a, b) => a + b, 0);
  const span = chunks.length ? chunks.at(-1).at - (read?.at ?? chunks[0].at) : NaN;
  // Batches under way at once, from each batch's end (its log line) and
  // length: Miniflare's broker starts the next batch when one ends, and one
  // more began while the manifest's read was still queueing chunks.
  const edges = chunks.flatMap((b) => [[b.at - b.ms, 1], [b.at, -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (open += d));
  return {
    readMs: read?.ms ?? null,
    // From the create_tasks call to the read's end: the queue's batch timeout, then the read.
    readEndMs: read ? read.at - t0 : null,
    chunkBatches: chunks.length,
    chunkMessages: chunks.reduce((a, b) => a + b.messages, 0),
    retried: batches.reduce((a, b) => a + b.retried, 0),
    full: { count: full.length, medianMs: median(full), meanMs: mean(full), p10Ms: quantile(full, 0.1), p90Ms: quantile(full, 0.9), minMs: Math.min(...full), maxMs: Math.max(...full) },
    // From the read's log line to the last chunk batch's: the time spent in
    // batches, and what is left (Miniflare handing over the next batch).
    chunkPhaseMs: span,
    chunkBusyMs: busy,
    meanConcurrency: busy / span,
    peakConcurrency: peak,
  };
}

/** Side B: create_tasks with 100 inline items, repeated while not complete, then the next 100. */
async function agentLoop(stack, token, n, log) {
  const { control } = stack;
  await freshSim(control);
  const client = mcpClient(stack.url, token);
  const cpu0 = cpuSeconds(stack.pid);
  const perGroup = [];
  const t0 = performance.now();
  const totals = { created: 0, already_existed: 0, failed: 0 };
  for (let first = 1; first <= n; first += JOBS_BENCH.inlineBatch) {
    const items = [];
    for (let i = first; i < Math.min(first + JOBS_BENCH.inlineBatch, n + 1); i++) items.push(item(i));
    const args = { type: TYPE, project: PROJECT, idempotency_key: KEY, items };
    let calls = 0;
    let sc;
    const seen = new Map();
    do {
      calls++;
      const r = await client.call('tools/call', { name: 'create_tasks', arguments: args });
      sc = r.structuredContent;
      if (r.isError || !sc) throw new Error(`jobs bench: the agent's loop: create_tasks failed: ${JSON.stringify(r).slice(0, 400)}`);
      // The last word on each item: created or already_existed sticks.
      for (const it of sc.items) if (it.outcome !== 'not_done' && !seen.has(it.index)) seen.set(it.index, it.outcome);
      if (calls > 20) throw new Error(`jobs bench: the agent's loop: items ${first}.. still not done after 20 calls`);
    } while (!sc.complete);
    if (sc.failed) throw new Error(`jobs bench: the agent's loop: ${sc.failed} items failed: ${JSON.stringify(sc.items.find((i) => i.outcome === 'failed'))}`);
    if (seen.size !== items.length) throw new Error(`jobs bench: the agent's loop: ${items.length - seen.size} items of ${first}.. never reported done`);
    perGroup.push(calls);
    for (const o of seen.values()) totals[o]++;
    if ((first - 1) % 2000 === 0 && first > 1) log(`bench:     ${((performance.now() - t0) / 1000).toFixed(0)} s: ${first - 1} items, ${client.roundTrips} calls`);
  }
  const ms = performance.now() - t0;
  const cpu = cpuSeconds(stack.pid) - cpu0;
  const sim = await control('stats', undefined, 'GET');
  const scale = await checkScale(control, n, "the agent's loop");
  const hist = {};
  for (const c of perGroup) hist[c] = (hist[c] ?? 0) + 1;
  return {
    items: n,
    roundTrips: client.roundTrips,
    callsPer100: hist,
    responseBytes: client.bytes,
    ms,
    msPerCall: ms / client.roundTrips,
    // Each item's outcome in the first call that reached it.
    outcomes: totals,
    scaleRequests: sim.requests,
    maxInFlight: sim.max_in_flight,
    scale,
    workerdCpuSeconds: cpu,
  };
}

/** A small job and a few inline calls, so neither side pays for compiling the workers; then the state is reset. */
async function warmUp(stack, token) {
  const { control } = stack;
  await freshSim(control);
  const client = mcpClient(stack.url, token);
  await client.call('tools/call', { name: 'create_tasks', arguments: { type: TYPE, project: PROJECT, idempotency_key: 'warm', items: [1, 2, 3].map(item) } });
  const file = await control('files', { path: 'm/warm.jsonl', generate: { lines: 12, template: TEMPLATE } });
  const t = await client.call('tools/call', { name: 'create_tasks', arguments: { type: TYPE, project: PROJECT, idempotency_key: 'warm-job', items_url: file.url } }, { tasks: true });
  for (let got = t, i = 0; got.status === 'working'; i++) {
    if (i > 60) throw new Error(`jobs bench: the warm-up job did not end: ${got.statusMessage}`);
    await sleep(500);
    got = await client.call('tasks/get', { taskId: t.taskId }, { tasks: true });
  }
}

/**
 * Runs the scenario: both sides at SUBREQUEST_LIMIT 50 on one stack (a
 * fresh simulator state each), then the paid plan's batch time on a stack of
 * its own. `items` (default 10,000) and `paidItems` (default 5,000; 0 skips
 * the paid part) size the runs.
 */
export async function jobsScenario({ root, buildDir: mcpBuild, jobsBuildDir: jobsBuild, secrets, items = JOBS_BENCH.items, paidItems = JOBS_BENCH.paidItems, log = () => {} }) {
  const token = secrets.MCP_AUTH_TOKEN;
  const res = { ...JOBS_BENCH, items, paidItems };
  // Copies of both builds, so that a build made meanwhile (build/ and
  // build-jobs/ are shared with other work) cannot change either worker
  // between the two stacks; the wasm's hash names what was measured.
  const snapshot = path.join(root, 'bench/out/jobs-builds');
  rmSync(snapshot, { recursive: true, force: true });
  const buildDir = path.join(snapshot, 'mcp');
  const jobsBuildDir = path.join(snapshot, 'jobs');
  cpSync(mcpBuild, buildDir, { recursive: true });
  cpSync(jobsBuild, jobsBuildDir, { recursive: true });
  const wasmHash = (dir) => createHash('sha256').update(readFileSync(path.join(dir, 'index_bg.wasm'))).digest('hex').slice(0, 12);
  res.builds = { mcp: { from: path.relative(root, mcpBuild), wasmSha256: wasmHash(buildDir) }, jobs: { from: path.relative(root, jobsBuild), wasmSha256: wasmHash(jobsBuildDir) } };
  {
    const stack = await startJobsStack({ root, buildDir, jobsBuildDir, secrets, limit: JOBS_BENCH.subrequestLimit, latencyMs: JOBS_BENCH.latencyMs });
    try {
      res.queueSettings = stack.queue;
      await warmUp(stack, token);
      log(`bench:   one job: create_tasks with items_url (${items.toLocaleString('en-US')} lines) as an MCP task, tasks/get until completed`);
      res.job = await oneJob(stack, token, items, 'job', log);
      const j = res.job;
      log(`bench:   one job: ${j.roundTrips} MCP round trips (1 call + ${j.polls} polls), ${(j.ms / 1000).toFixed(1)} s (the job ended at ${(j.jobEndMs / 1000).toFixed(1)} s), ${j.scaleRequests} Scale requests; ${j.batches.chunkBatches} chunk batches, ${j.batches.full.medianMs} ms median per batch of 5 chunks`);
      log(`bench:   the agent's loop: create_tasks with ${JOBS_BENCH.inlineBatch} inline items, again while not complete`);
      res.loop = await agentLoop(stack, token, items, log);
      const l = res.loop;
      log(`bench:   the agent's loop: ${l.roundTrips} MCP round trips, ${(l.ms / 1000).toFixed(1)} s, ${l.scaleRequests} Scale requests`);
    } finally {
      await stack.stop();
    }
  }
  if (paidItems > 0) {
    log(`bench:   the paid plan's batch: a job of ${paidItems.toLocaleString('en-US')} items at SUBREQUEST_LIMIT ${JOBS_BENCH.paidSubrequestLimit} (chunks of 100)`);
    const stack = await startJobsStack({ root, buildDir, jobsBuildDir, secrets, limit: JOBS_BENCH.paidSubrequestLimit, latencyMs: JOBS_BENCH.latencyMs });
    try {
      await warmUp(stack, token);
      res.paid = await oneJob(stack, token, paidItems, 'paid', log);
      log(`bench:   paid plan: ${res.paid.batches.chunkBatches} chunk batches, ${res.paid.batches.full.medianMs} ms median per batch of 5 chunks; ${(res.paid.ms / 1000).toFixed(1)} s`);
    } finally {
      await stack.stop();
    }
  }
  const { readConfig, tomlArrayTables, JOBS_CONFIG } = await import(pathToFileURL(path.join(root, 'scripts/jobs-config.mjs')).href);
  const consumer = tomlArrayTables(readConfig(JOBS_CONFIG), 'queues.consumers').find((c) => c.queue === 'scale-mcp-jobs');
  if (!Number.isInteger(consumer?.max_concurrency)) throw new Error(`jobs bench: ${JOBS_CONFIG} sets no max_concurrency for scale-mcp-jobs (the estimate's consumer concurrency)`);
  res.estimate = estimate(res, consumer.max_concurrency);
  return res;
}

/**
 * Production on paper (bench/README.md): the chunk batches of a
 * 10,000-item job spread over `maxConcurrency` consumer invocations at once
 * (wrangler.jobs.toml's `max_concurrency`), in waves, after the measured time
 * from the call to the manifest's read's end (the queue's batch timeout, then
 * the read of the same 10,000 lines).
 *
 * The time of a batch in production is not quite the one measured here:
 * workerd lets an invocation hold as many connections open as it asks for
 * (up to 6 per chunk, every chunk of a batch at once), while Cloudflare opens
 * 6 per invocation and queues the rest. So a batch's creates are counted in
 * rounds of one create latency: `localRounds` as they ran here (the chunks
 * under way at once, `chunksAtOnce`, read from the most requests the
 * simulator saw open), `prodRounds` 6 at a time across the batch; what the
 * measured batch took beyond its local rounds (the job's object, the queue)
 * is kept as is.
 */
export function estimate(R, maxConcurrency) {
  const OPEN = 6; // connections one invocation may hold open (src/context/join.rs)
  const per = (limit) => Math.min(100, Math.max(1, Math.floor(Number(limit) / 5) - 2));
  const before = R.job && R.job.items === JOBS_BENCH.items ? R.job.batches.readEndMs : NaN;
  const plan = (limit, run) => {
    const chunk = per(limit);
    const chunks = Math.ceil(JOBS_BENCH.items / chunk);
    const batches = Math.ceil(chunks / 5);
    const waves = Math.ceil(batches / maxConcurrency);
    const b = run.batches;
    const openPerBatch = run.maxInFlight / b.peakConcurrency;
    const chunksAtOnce = Math.min(5, Math.max(1, Math.round(openPerBatch / OPEN)));
    const localRounds = Math.ceil(5 / chunksAtOnce) * Math.ceil(chunk / OPEN);
    const prodRounds = Math.ceil(5 / chunksAtOnce) * Math.ceil((chunksAtOnce * chunk) / OPEN);
    const batchMs = b.full.medianMs;
    const otherMs = Math.max(0, batchMs - localRounds * JOBS_BENCH.latencyMs);
    const prodBatchMs = otherMs + prodRounds * JOBS_BENCH.latencyMs;
    return {
      chunk,
      messages: 1 + chunks,
      batches,
      waves,
      measuredOn: run.items,
      batchMs,
      openPerBatch,
      chunksAtOnce,
      localRounds,
      otherMs,
      prodRounds,
      prodBatchMs,
      creatingMs: waves * prodBatchMs,
      beforeMs: before,
      ms: before + waves * prodBatchMs,
      // docs/jobs.md §8: about 3 operations a message (write, read, delete), plus one a retry.
      queueOperations: 3 * (1 + chunks),
    };
  };
  const out = { items: JOBS_BENCH.items, maxConcurrency, latencyMs: JOBS_BENCH.latencyMs, open: OPEN };
  if (R.job) out.free = plan(JOBS_BENCH.subrequestLimit, R.job);
  if (R.paid) out.paid = plan(JOBS_BENCH.paidSubrequestLimit, R.paid);
  return out;
}
