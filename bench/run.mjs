#!/usr/bin/env node
// `npm run bench`: the Rust worker against a TypeScript peer (createMcpHandler
// from `agents`) on the same workerd, next to the Scale simulator, driven over
// loopback by autocannon. Writes bench/RESULTS.md, bench/results.svg and the
// raw figures in bench/out/results.json. See bench/README.md.
//
// `npm run bench` runs scripts/setup.sh first (root packages, build tools);
// bench/'s own packages are installed here.
//
// Options: --seconds N (length of each measured round at concurrency C; default 5)
//          --rounds N (alternating rounds per side at concurrency C, then as many at concurrency 1; default 2)
//          --connections C (default 10)
//          --latency-seconds N (length of each round at concurrency 1; default 3)
//          --startup-runs N (default 5)
//          --skip-build (use build/ as it is)
//          --build-dir DIR (use another build of the Rust worker, e.g. an experiment; implies --skip-build)
//          --quick (1 s rounds, 1 round, 2 startup runs: a smoke run of the harness)
//          --bulk-only (only the bulk-create scenario; prints it and writes bench/out/bulk.json)
//          --oauth-only (only the OAuth scenario; prints it and writes bench/out/oauth.json)
//          --jobs-only (only the dataset-scale jobs scenario; prints it and writes bench/out/jobs.json)
//          --jobs-build-dir DIR (the jobs worker's build; default build-jobs/ with --skip-build, else bench/out/build-jobs)

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { benchDeps } from './lib/deps.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, '..');
const outDir = path.join(benchDir, 'out');

// ---------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = { seconds: 5, rounds: 2, connections: 10, latencySeconds: 3, startupRuns: 5, warmSeconds: 2, skipBuild: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--seconds') o.seconds = num();
    else if (a === '--rounds') o.rounds = num();
    else if (a === '--connections') o.connections = num();
    else if (a === '--latency-seconds') o.latencySeconds = num();
    else if (a === '--startup-runs') o.startupRuns = num();
    else if (a === '--skip-build') o.skipBuild = true;
    else if (a === '--build-dir') {
      // Without this check a missing value would resolve to the current directory.
      const dir = argv[++i];
      if (!dir || dir.startsWith('--')) throw new Error('--build-dir needs a directory');
      o.buildDir = path.resolve(dir);
      o.skipBuild = true;
    }
    else if (a === '--quick') Object.assign(o, { seconds: 1, rounds: 1, latencySeconds: 1, startupRuns: 2, warmSeconds: 1, quick: true });
    else if (a === '--bulk-only') o.bulkOnly = true;
    else if (a === '--oauth-only') o.oauthOnly = true;
    else if (a === '--jobs-only') o.jobsOnly = true;
    else if (a === '--jobs-build-dir') {
      const dir = argv[++i];
      if (!dir || dir.startsWith('--')) throw new Error('--jobs-build-dir needs a directory');
      o.jobsBuildDir = path.resolve(dir);
    }
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (...a) => process.stdout.write(`${a.join(' ')}\n`);

// Before the imports below, which need bench/'s packages.
benchDeps();

const { startSim, startWorker, rssBytes, rssSampler, cpuSeconds, readCompatibilityDate, rustSide, cleanupAll } = await import('./lib/stack.mjs');
const { runLoad, merge } = await import('./lib/load.mjs');
const { webhookTemplate, taskBody } = await import('./lib/fixtures.mjs');
const { simControl, seedTasks, mcpTarget: mcpTargetFor, scenarioTargets, taskCallTarget, tasksGetTarget } = await import('./lib/targets.mjs');
const { writeReport } = await import('./lib/report.mjs');
const { bulkCreate } = await import('./lib/bulk.mjs');
const { oauthScenario } = await import('./lib/oauth.mjs');
const { jobsScenario } = await import('./lib/jobs.mjs');

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`bench: ${sig}, stopping everything it started`);
    cleanupAll().finally(() => process.exit(130));
  });
}

/** The server key MCP task handles are sealed under on our worker (the tasks/get diagnostic). */
const TASK_KEY = 'bench-task-handle-key-6f0d2c9e41a7b358';

const SECRETS = {
  SCALE_API_KEY: 'test_bench_scale_key_5e1d0c',
  MCP_AUTH_TOKEN: 'bench-mcp-token-8c41f2a9d7e3',
  SCALE_CALLBACK_AUTH_KEY: 'bench-callback-key-2b7f90e6',
};

// ---------------------------------------------------------------------------
// Helpers

const sh = (cmd, args, o = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...o }).trim();
const tryText = (f) => {
  try {
    return f();
  } catch {
    return 'unknown';
  }
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pkgVersion = (dir) => tryText(() => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version);

const mcpTarget = (url, method, params, name) => mcpTargetFor(url, SECRETS.MCP_AUTH_TOKEN, method, params, name);

async function once(target) {
  const r = await fetch(target.url, { method: target.method || 'GET', headers: target.headers, body: target.body });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, text, json, bytes: Buffer.byteLength(text) };
}

/** Files wrangler would upload from a --dry-run --outdir (no source maps or README). */
function uploadSize(dir) {
  let raw = 0;
  let gz = 0;
  const files = [];
  for (const f of readdirSync(dir)) {
    if (f.endsWith('.map') || f === 'README.md') continue;
    const buf = readFileSync(path.join(dir, f));
    raw += buf.length;
    gz += gzipSync(buf).length;
    files.push(f);
  }
  return { raw, gzip: gz, files };
}

function wranglerDryRun(args, cwd) {
  const r = spawnSync(path.join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' },
  });
  const text = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${text}`);
  const m = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(text);
  return m ? { rawKiB: Number(m[1]), gzipKiB: Number(m[2]) } : null;
}

/**
 * Compares two JSON values, ignoring object key order. Returns the paths that
 * differ; numbers that differ only in their last digits (relative difference
 * below 1e-12) are listed in `floats` instead, since a JSON number parsed and
 * printed again may come back one ulp off.
 */
function jsonDiff(a, b, p = '', out = { paths: [], floats: [] }) {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a !== b) (Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b)) ? out.floats : out.paths).push(`${p}: ${a} vs ${b}`);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.paths.push(`${p}: length ${a.length} vs ${b.length}`);
    else a.forEach((x, i) => jsonDiff(x, b[i], `${p}/${i}`, out));
  } else if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) jsonDiff(a[k], b[k], `${p}/${k}`, out);
  } else if (!isDeepStrictEqual(a, b)) out.paths.push(`${p}: ${JSON.stringify(a)?.slice(0, 80)} vs ${JSON.stringify(b)?.slice(0, 80)}`);
  return out;
}

// ---------------------------------------------------------------------------
// Main

async function main() {
  const t0 = Date.now();
  mkdirSync(outDir, { recursive: true });
  const compatibilityDate = readCompatibilityDate(root);
  const results = {
    date: new Date().toISOString(),
    options: opts,
    compatibilityDate,
    machine: {
      nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      kernel: `${os.type()} ${os.release()}`,
      loadAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    versions: {
      node: process.version,
      workerd: pkgVersion(path.join(root, 'node_modules/workerd')),
      miniflare: pkgVersion(path.join(root, 'node_modules/miniflare')),
      wrangler: pkgVersion(path.join(root, 'node_modules/wrangler')),
      rustc: tryText(() => sh('rustc', ['--version'])),
      autocannon: pkgVersion(path.join(benchDir, 'node_modules/autocannon')),
      agents: pkgVersion(path.join(benchDir, 'node_modules/agents')),
      mcpServer: pkgVersion(path.join(benchDir, 'node_modules/@modelcontextprotocol/server')),
      zod: pkgVersion(path.join(benchDir, 'node_modules/zod')),
    },
    commit: tryText(() => sh('git', ['rev-parse', '--short', 'HEAD'], { cwd: root })),
    dirty: tryText(() => (sh('git', ['status', '--porcelain', '--', 'src', 'Cargo.toml', 'Cargo.lock'], { cwd: root }) ? 'yes' : 'no')),
  };

  // 1. Build the release worker.
  if (!opts.skipBuild) {
    log('bench: building the release worker (scripts/build.sh)');
    const b0 = Date.now();
    // Into bench/out/build, so a concurrent `npm run build` cannot swap build/ mid-run.
    const r = spawnSync('bash', ['scripts/build.sh'], { cwd: root, encoding: 'utf8', env: { ...process.env, BUILD_DIR: 'bench/out/build' } });
    if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
    results.buildSeconds = (Date.now() - b0) / 1000;
    if (!opts.jobsBuildDir) {
      // The jobs worker (docs/jobs.md §9), for the jobs scenario.
      log('bench: building the jobs worker (scripts/build.sh --features jobs-worker)');
      const j = spawnSync('bash', ['scripts/build.sh', '--features', 'jobs-worker'], { cwd: root, encoding: 'utf8', env: { ...process.env, BUILD_DIR: 'bench/out/build-jobs' } });
      if (j.status !== 0) throw new Error(`the jobs worker's build failed:\n${j.stdout}\n${j.stderr}`);
    }
  }
  // --skip-build uses build/ as `npm run build` left it.
  const buildDir = opts.buildDir ?? (opts.skipBuild ? path.join(root, 'build') : path.join(outDir, 'build'));
  for (const f of ['index.js', 'index_bg.wasm']) {
    if (!existsSync(path.join(buildDir, f))) throw new Error(`${path.relative(root, buildDir)}/${f} is missing: run npm run build`);
  }
  results.buildDir = path.relative(root, buildDir);
  const jobsBuildDir = opts.jobsBuildDir ?? (opts.skipBuild ? path.join(root, 'build-jobs') : path.join(outDir, 'build-jobs'));
  const jobsRun = () => {
    for (const f of ['index.js', 'index_bg.wasm']) {
      if (!existsSync(path.join(jobsBuildDir, f))) throw new Error(`${path.relative(root, jobsBuildDir)}/${f} is missing: run BUILD_DIR=build-jobs bash scripts/build.sh --features jobs-worker`);
    }
    const items = opts.quick ? 1_000 : undefined;
    log(`bench: dataset-scale jobs: ${opts.quick ? '1,000' : '10,000'} items through one job vs the agent's loop of create_tasks with 100 inline items, SUBREQUEST_LIMIT 50, each create held 50 ms`);
    return jobsScenario({ root, buildDir, jobsBuildDir, secrets: SECRETS, items, paidItems: opts.quick ? 1_000 : undefined, log });
  };
  if (opts.jobsOnly) {
    const j = await jobsRun();
    j.buildDir = path.relative(root, buildDir);
    j.jobsBuildDir = path.relative(root, jobsBuildDir);
    j.commit = results.commit;
    j.date = results.date;
    j.machine = { ...results.machine, loadAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) };
    writeFileSync(path.join(outDir, 'jobs.json'), JSON.stringify(j, null, 2));
    const { jobsMarkdown, jobsTargets } = await import('./lib/report.mjs');
    log('');
    log(jobsMarkdown(j).join('\n'));
    for (const t of jobsTargets(j)) log(`${t.met ? 'MET    ' : 'MISSED '} ${t.name}: ${t.value}`);
    log('bench: wrote bench/out/jobs.json');
    return;
  }
  const bulkScenario = () => {
    log("bench: bulk create: 100 tasks through create_tasks vs 100 create_task calls, each create held 50 ms");
    return bulkCreate({ root, buildDir, compatibilityDate, secrets: SECRETS, rounds: opts.quick ? 1 : 3, log });
  };
  if (opts.bulkOnly) {
    const b = await bulkScenario();
    writeFileSync(path.join(outDir, 'bulk.json'), JSON.stringify(b, null, 2));
    log(`bench: bulk create: ${(b.bulk.ms / 1000).toFixed(2)} s (${b.bulk.requests} Scale requests) vs ${(b.sequential.ms / 1000).toFixed(2)} s sequential (${b.sequential.requests}): ${b.speedup.toFixed(1)}x`);
    return;
  }

  // 2. The simulator, seeded with 100 completed ~3 KB tasks.
  log('bench: starting the Scale simulator and seeding 100 tasks');
  const sim = await startSim(root, { apiKey: SECRETS.SCALE_API_KEY, callbackAuthKey: SECRETS.SCALE_CALLBACK_AUTH_KEY });
  const control = simControl(sim.url);
  const taskIds = await seedTasks(control);
  await control('requests', undefined, 'DELETE');
  const basic = { authorization: `Basic ${Buffer.from(`${SECRETS.SCALE_API_KEY}:`).toString('base64')}`, accept: 'application/json' };
  const oneTask = taskIds[42];
  const floorGet = { url: `${sim.base}/task/${oneTask}`, headers: basic };
  const floorList = { url: `${sim.base}/tasks?limit=100`, headers: basic };
  const floorList50 = { url: `${sim.base}/tasks?limit=50`, headers: basic };
  const floorHttp = { url: `${sim.url}/__sim/health` };
  const listProbe = await once(floorList);
  const getProbe = await once(floorGet);
  if (listProbe.status !== 200 || listProbe.json.docs.length !== 100) throw new Error(`seeding failed: ${listProbe.status} ${listProbe.text.slice(0, 200)}`);
  results.data = {
    tasks: 100,
    listBytes: listProbe.bytes,
    taskBytes: getProbe.bytes,
    avgTaskBytes: Math.round(listProbe.json.docs.reduce((n, d) => n + Buffer.byteLength(JSON.stringify(d)), 0) / 100),
  };
  log(`bench: GET /v1/tasks?limit=100 is ${listProbe.bytes} bytes (${results.data.avgTaskBytes} bytes a task); GET /v1/task/{id} is ${getProbe.bytes} bytes`);

  const bindings = { ...SECRETS, SCALE_API_BASE: sim.base };
  const oauthRun = () => {
    log('bench: OAuth: get_task with an operator-access OAuth token vs a static token, on one worker with the OAuth store');
    return oauthScenario({ side: rustSide(buildDir, compatibilityDate), bindings, taskId: oneTask, opts, log });
  };
  if (opts.oauthOnly) {
    const o = await oauthRun();
    await sim.stop();
    writeFileSync(path.join(outDir, 'oauth.json'), JSON.stringify(o, null, 2));
    const { oauthMarkdown, oauthTargets } = await import('./lib/report.mjs');
    log('');
    log(oauthMarkdown(o, opts.connections).join('\n'));
    for (const t of oauthTargets(o)) log(`${t.met ? 'MET    ' : 'MISSED '} ${t.name}: ${t.value}`);
    return;
  }
  const sides = {
    ours: rustSide(buildDir, compatibilityDate),
    peer: { label: 'TS peer', scriptPath: path.join(outDir, 'peer-bundle/index.js'), wasm: false, compatibilityDate, compatibilityFlags: ['nodejs_compat'] },
    // Diagnostics only: what workerd itself costs per request.
    noop: { label: 'no-op JS worker', script: 'export default { fetch() { return new Response("ok"); } };', wasm: false, compatibilityDate, compatibilityFlags: [] },
    // Diagnostics only: the least a worker can do to pass a Scale answer through.
    proxy: {
      label: 'relaying JS worker',
      script: `export default { async fetch(req, env) {
  const target = new URL(req.url).pathname === '/list' ? env.LIST_URL : env.GET_URL;
  const r = await fetch(target, { headers: { authorization: env.AUTH, accept: 'application/json' } });
  return new Response(await r.text(), { status: r.status, headers: { 'content-type': 'application/json' } });
} };`,
      wasm: false,
      compatibilityDate,
      compatibilityFlags: [],
    },
    // Diagnostics only: the KV calls both receivers make for a new delivery
    // of a task in a batch (one get, then three puts with metadata, the last
    // one the body) and nothing else: what Miniflare's KV simulation costs in
    // the same workerd.
    kv: {
      label: 'KV-only JS worker',
      script: `export default { async fetch(req, env) {
  const body = await req.text();
  const id = crypto.randomUUID();
  const o = { expirationTtl: 2592000, metadata: { id, kind: 'task', task_id: id, status: 'completed' } };
  await env.CALLBACKS.get('t:' + id + ':' + id);
  await env.CALLBACKS.put('t:' + id + ':' + id, id, o);
  await env.CALLBACKS.put('b:b:' + id, '', o);
  await env.CALLBACKS.put('log:' + id, body, o);
  return new Response('{"stored":true}', { headers: { 'content-type': 'application/json' } });
} };`,
      wasm: false,
      compatibilityDate,
      compatibilityFlags: [],
    },
  };

  // 3. Our worker; its tool catalog feeds the peer's tools/list.
  log('bench: starting the Rust worker in workerd');
  // A server key (OAUTH_SECRET; no OAuth store is bound here, so OAuth stays
  // off) turns MCP tasks on for the tasks/get diagnostic.
  const ours = await startWorker(sides.ours, { ...bindings, OAUTH_SECRET: TASK_KEY });
  const catalog = await once(mcpTarget(ours.url, 'tools/list'));
  if (catalog.status !== 200 || !catalog.json?.result?.tools) throw new Error(`tools/list on the Rust worker failed: ${catalog.status} ${catalog.text.slice(0, 300)}`);
  writeFileSync(path.join(outDir, 'peer-catalog.json'), JSON.stringify({ tools: catalog.json.result.tools }));

  // 4. Bundles: what `wrangler deploy` would upload, for both.
  log('bench: bundling both workers with wrangler deploy --dry-run');
  writeFileSync(
    path.join(outDir, 'ours.wrangler.toml'),
    `# Generated by bench/run.mjs: the root wrangler.toml's entry and date, without its build step (already run).\nname = "scale-mcp-worker"\nmain = "${path.relative(outDir, path.join(buildDir, 'index.js'))}"\ncompatibility_date = "${compatibilityDate}"\nsend_metrics = false\n`,
  );
  for (const d of ['ours-bundle', 'peer-bundle']) rmSync(path.join(outDir, d), { recursive: true, force: true });
  const oursWrangler = wranglerDryRun(['-c', 'ours.wrangler.toml', '--outdir', 'ours-bundle'], outDir);
  const peerWrangler = wranglerDryRun(['--outdir', path.join(outDir, 'peer-bundle'), '--compatibility-date', compatibilityDate], path.join(benchDir, 'peer'));
  const buildFiles = ['index.js', 'index_bg.wasm'].map((f) => readFileSync(path.join(buildDir, f)));
  results.size = {
    ours: {
      wrangler: oursWrangler,
      upload: uploadSize(path.join(outDir, 'ours-bundle')),
      build: { raw: buildFiles.reduce((n, b) => n + b.length, 0), gzip: buildFiles.reduce((n, b) => n + gzipSync(b).length, 0) },
    },
    peer: { wrangler: peerWrangler, upload: uploadSize(path.join(outDir, 'peer-bundle')) },
  };

  log('bench: starting the TS peer in workerd');
  const peer = await startWorker(sides.peer, bindings);
  const live = { ours, peer };

  // The scenarios' requests, built in one place (lib/targets.mjs).
  const parts = webhookTemplate(50 * 1024);
  let deliveries = 0;
  const targetsFor = (u) =>
    scenarioTargets(u, {
      token: SECRETS.MCP_AUTH_TOKEN,
      callbackKey: SECRETS.SCALE_CALLBACK_AUTH_KEY,
      taskId: oneTask,
      parts,
      nextId: () => `bench-${String(++deliveries).padStart(10, '0')}`,
    });

  // 5. Same results from both sides.
  const equivalence = {};
  let getTaskOurs;
  {
    // One request per side and tool; the checks against the simulator below reuse these answers.
    const got = {};
    for (const name of ['get_task', 'list_tasks', 'list_tasks_50', 'tools_list']) {
      const a = await once(targetsFor(ours.url)[name]);
      const b = await once(targetsFor(peer.url)[name]);
      got[name] = { ours: a, peer: b };
      const ra = a.json?.result;
      const rb = b.json?.result;
      let d;
      if (a.status !== 200 || b.status !== 200 || ra?.isError || rb?.isError) {
        d = { paths: [`status ${a.status} vs ${b.status}: ${a.text.slice(0, 200)} | ${b.text.slice(0, 200)}`], floats: [] };
      } else if (name === 'tools_list') {
        d = jsonDiff(ra.tools.map((t) => t.name), rb.tools.map((t) => t.name));
      } else {
        d = jsonDiff(ra.structuredContent, rb.structuredContent, 'structuredContent');
        jsonDiff(JSON.parse(ra.content[0].text), JSON.parse(rb.content[0].text), 'text', d);
      }
      const same = d.paths.length === 0;
      equivalence[name] = { same, differences: d.paths.slice(0, 5), floatDifferences: d.floats.length, floatExamples: d.floats.slice(0, 3), oursBytes: a.bytes, peerBytes: b.bytes };
      if (!same) log(`bench: WARNING: ${name} differs between the two workers: ${d.paths.slice(0, 3).join('; ')}`);
      if (d.floats.length) log(`bench: note: ${name}: ${d.floats.length} numbers differ in their last digit (e.g. ${d.floats[0]})`);
    }
    // Against the simulator's own answer: does either side change the task it passes through?
    for (const side of ['ours', 'peer']) {
      const d = jsonDiff(got.get_task[side].json?.result?.structuredContent, getProbe.json, 'task');
      equivalence[`get_task_vs_simulator_${side}`] = { same: d.paths.length === 0, differences: d.paths.slice(0, 5), floatDifferences: d.floats.length, floatExamples: d.floats.slice(0, 3) };
    }
    for (const side of ['ours', 'peer']) {
      const tasks = got.list_tasks[side].json?.result?.structuredContent?.tasks ?? [];
      const d = { paths: [], floats: [] };
      if (tasks.length !== listProbe.json.docs.length) d.paths.push(`${tasks.length} tasks vs ${listProbe.json.docs.length}`);
      // Each item against the simulator's item, on the fields the item kept.
      tasks.forEach((t, i) => {
        for (const k of Object.keys(t)) jsonDiff(t[k], listProbe.json.docs[i]?.[k], `tasks/${i}/${k}`, d);
      });
      equivalence[`list_tasks_vs_simulator_${side}`] = { same: d.paths.length === 0, differences: d.paths.slice(0, 5), floatDifferences: d.floats.length, floatExamples: d.floats.slice(0, 3) };
    }
    getTaskOurs = got.get_task.ours.json?.result?.structuredContent;
    const lt = got.list_tasks.ours.json?.result?.structuredContent;
    equivalence.list_tasks.truncated = lt?.truncated ? lt.truncated.dropped : null;
  }
  results.equivalence = equivalence;

  // MCP tasks, one Scale read per tasks/get like get_task: one follows a task
  // still pending (what a client polls again and again while labelers work),
  // one the completed task (tasks/get then carries wait_for_task's result).
  const handleOf = async (taskId) => {
    const made = await once(taskCallTarget(ours.url, SECRETS.MCP_AUTH_TOKEN, 'wait_for_task', { task_id: taskId }));
    if (made.json?.result?.resultType !== 'task' || !made.json.result.taskId) throw new Error(`wait_for_task as a task failed: ${made.status} ${made.text.slice(0, 300)}`);
    return made.json.result.taskId;
  };
  const [pendingTask] = (await control('seed', { tasks: [taskBody(100)] })).tasks.map((t) => t.task_id);
  const handle = await handleOf(oneTask);
  const pendingHandle = await handleOf(pendingTask);
  const polled = await once(tasksGetTarget(ours.url, SECRETS.MCP_AUTH_TOKEN, handle));
  if (polled.json?.result?.status !== 'completed' || !polled.json.result.result?.structuredContent) throw new Error(`tasks/get failed: ${polled.status} ${polled.text.slice(0, 300)}`);
  equivalence.tasks_get = { same: isDeepStrictEqual(polled.json.result.result.structuredContent.task, getTaskOurs), oursBytes: polled.bytes };
  if (!equivalence.tasks_get.same) log('bench: WARNING: the task in tasks/get\'s result differs from get_task\'s');

  // 6. Load. Each scenario: a warm-up per side, then alternating rounds.
  results.data.webhookBytes = Buffer.byteLength(parts.join('bench-0000000000'));
  const scenarios = [
    { id: 'tools_list', title: 'tools/list', floor: 'floor_http' },
    { id: 'get_task', title: 'tools/call get_task', floor: 'floor_get_task' },
    { id: 'list_tasks', title: 'tools/call list_tasks (100)', floor: 'floor_list_tasks' },
    { id: 'list_tasks_50', title: 'tools/call list_tasks (50)', floor: 'floor_list_tasks_50' },
    { id: 'webhook', title: 'webhook 50 KB', floor: 'floor_http' },
  ].map((s) => ({ ...s, target: (u) => targetsFor(u)[s.id] }));
  const diagnostics = [
    { id: 'discover', title: 'server/discover', target: (u) => mcpTarget(u, 'server/discover'), sides: ['ours', 'peer'] },
    // MCP tasks (ours only): the poll of a task handle against the tool call it must cost no more than.
    { id: 'tasks_get', title: 'tasks/get of a pending task (2026-07-28)', target: (u) => tasksGetTarget(u, SECRETS.MCP_AUTH_TOKEN, pendingHandle), sides: ['ours'] },
    { id: 'tasks_get_done', title: 'tasks/get of a completed task (2026-07-28, wait_for_task\'s result inlined)', target: (u) => tasksGetTarget(u, SECRETS.MCP_AUTH_TOKEN, handle), sides: ['ours'] },
    { id: 'wait_for_task_done', title: 'tools/call wait_for_task of a completed task', target: (u) => mcpTarget(u, 'tools/call', { name: 'wait_for_task', arguments: { task_id: oneTask } }, 'wait_for_task'), sides: ['ours'] },
    { id: 'get_task_beside', title: 'tools/call get_task, measured beside tasks/get', target: (u) => targetsFor(u).get_task, sides: ['ours'] },
    { id: 'health', title: 'GET /health', target: (u) => ({ url: `${u}/health` }), sides: ['ours'] },
    { id: 'noop', title: 'GET / on a one-line JS worker (platform floor)', target: (u) => ({ url: `${u}/` }), sides: ['noop'] },
    { id: 'proxy_get', title: 'JS worker relaying GET /v1/task/{id} as is (passthrough floor)', target: (u) => ({ url: `${u}/get` }), sides: ['proxy'] },
    { id: 'proxy_list', title: 'JS worker relaying GET /v1/tasks?limit=100 as is (passthrough floor)', target: (u) => ({ url: `${u}/list` }), sides: ['proxy'] },
    { id: 'kv_webhook', title: 'JS worker making only the KV calls of a new 50 KB delivery (KV floor)', target: (u) => ({ ...targetsFor(u).webhook, url: `${u}/` }), sides: ['kv'] },
  ];
  const floors = [
    { id: 'floor_get_task', title: 'simulator GET /v1/task/{id}', target: floorGet },
    { id: 'floor_list_tasks', title: 'simulator GET /v1/tasks?limit=100', target: floorList },
    { id: 'floor_list_tasks_50', title: 'simulator GET /v1/tasks?limit=50', target: floorList50 },
    { id: 'floor_http', title: 'simulator GET /__sim/health', target: floorHttp },
  ];
  const C = opts.connections;
  results.idleRss = { ours: rssBytes(ours.pid), peer: rssBytes(peer.pid) };

  async function phase(side, target, connections, seconds, measure = true) {
    const pid = side ? live[side].pid : null;
    const cpu0 = pid ? cpuSeconds(pid) : NaN;
    const simCpu0 = cpuSeconds(sim.pid);
    const stopRss = pid && measure ? rssSampler(pid) : null;
    const self0 = process.cpuUsage();
    const r = await runLoad(target, { connections, seconds });
    const self = process.cpuUsage(self0);
    r.loadgenCpu = (self.user + self.system) / 1e6;
    r.rss = stopRss ? stopRss() : null;
    r.cpu = pid ? cpuSeconds(pid) - cpu0 : NaN;
    r.simCpu = cpuSeconds(sim.pid) - simCpu0;
    await control('requests', undefined, 'DELETE');
    if (r.errors || r.non2xx) log(`bench:   ${side ?? 'floor'}: ${r.non2xx} non-2xx, ${r.errors} errors (${JSON.stringify(r.statusCodes)})`);
    return r;
  }
  const summarize = (phases) => {
    const m = merge(phases);
    const cpu = phases.reduce((n, p) => n + p.cpu, 0);
    const simCpu = phases.reduce((n, p) => n + p.simCpu, 0);
    m.cpuMsPerRequest = (cpu * 1000) / m.requests;
    m.simCpuMsPerRequest = (simCpu * 1000) / m.requests;
    m.loadgenCpuMsPerRequest = (phases.reduce((n, p) => n + p.loadgenCpu, 0) * 1000) / m.requests;
    // Share of the machine's cores busy in the measured processes (worker, simulator, load generator).
    m.machineBusy = ((Number.isFinite(cpu) ? cpu : 0) + simCpu + phases.reduce((n, p) => n + p.loadgenCpu, 0)) / (m.seconds * results.machine.nproc);
    const rss = phases.map((p) => p.rss).filter(Boolean);
    m.rssPeak = rss.length ? Math.max(...rss.map((x) => x.peak)) : null;
    m.rssMean = rss.length ? rss.reduce((n, x) => n + x.mean, 0) / rss.length : null;
    return m;
  };

  results.scenarios = {};
  for (const s of scenarios) {
    log(`bench: ${s.title}`);
    const loaded = { ours: [], peer: [] };
    const single = { ours: [], peer: [] };
    for (const side of ['ours', 'peer']) await phase(side, s.target(live[side].url), C, opts.warmSeconds, false);
    for (let r = 0; r < opts.rounds; r++) for (const side of ['ours', 'peer']) loaded[side].push(await phase(side, s.target(live[side].url), C, opts.seconds));
    for (let r = 0; r < opts.rounds; r++) for (const side of ['ours', 'peer']) single[side].push(await phase(side, s.target(live[side].url), 1, opts.latencySeconds, false));
    results.scenarios[s.id] = { title: s.title, floor: s.floor, loaded: {}, single: {} };
    for (const side of ['ours', 'peer']) {
      results.scenarios[s.id].loaded[side] = summarize(loaded[side]);
      results.scenarios[s.id].single[side] = summarize(single[side]);
      const m = results.scenarios[s.id].loaded[side];
      log(`bench:   ${side}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms (c=${C}); p50 ${results.scenarios[s.id].single[side].p50.toFixed(2)} ms (c=1)`);
    }
  }

  results.floors = {};
  for (const f of floors) {
    log(`bench: floor: ${f.title}`);
    await phase(null, f.target, C, opts.warmSeconds, false);
    const loaded = [];
    const single = [];
    for (let r = 0; r < opts.rounds; r++) loaded.push(await phase(null, f.target, C, opts.seconds));
    for (let r = 0; r < opts.rounds; r++) single.push(await phase(null, f.target, 1, opts.latencySeconds));
    results.floors[f.id] = { title: f.title, loaded: summarize(loaded), single: summarize(single) };
    log(`bench:   ${results.floors[f.id].loaded.rps.toFixed(0)} req/s, p50 ${results.floors[f.id].loaded.p50.toFixed(2)} ms (c=${C}); p50 ${results.floors[f.id].single.p50.toFixed(2)} ms (c=1)`);
  }

  results.diagnostics = {};
  live.noop = await startWorker(sides.noop, {});
  live.proxy = await startWorker(sides.proxy, { GET_URL: floorGet.url, LIST_URL: floorList.url, AUTH: basic.authorization });
  live.kv = await startWorker(sides.kv, {});
  for (const d of diagnostics) {
    log(`bench: diagnostic: ${d.title}`);
    results.diagnostics[d.id] = { title: d.title, loaded: {}, single: {} };
    for (const side of d.sides) await phase(side, d.target(live[side].url), C, 1, false);
    for (const side of d.sides) {
      results.diagnostics[d.id].loaded[side] = summarize([await phase(side, d.target(live[side].url), C, opts.latencySeconds)]);
      results.diagnostics[d.id].single[side] = summarize([await phase(side, d.target(live[side].url), 1, opts.latencySeconds, false)]);
    }
  }
  results.afterLoadRss = { ours: rssBytes(ours.pid), peer: rssBytes(peer.pid) };
  results.bulkCreate = await bulkScenario();
  results.jobs = await jobsRun();
  results.oauth = await oauthRun();
  await ours.stop();
  await peer.stop();
  await live.noop.stop();
  await live.proxy.stop();
  await live.kv.stop();

  // 7. Start-up: new workerd to the first answered tools/list, alternating.
  log('bench: start-up time');
  results.startup = { ours: [], peer: [] };
  const probe = (u) => mcpTarget(u, 'tools/list');
  for (let i = 0; i < opts.startupRuns; i++) {
    for (const side of ['ours', 'peer']) {
      const s0 = performance.now();
      const w = await startWorker(sides[side], bindings);
      const ready = performance.now();
      let r;
      for (let tries = 0; tries < 200; tries++) {
        try {
          r = await once(probe(w.url));
          if (r.status === 200) break;
        } catch {}
        await new Promise((res) => setTimeout(res, 5));
      }
      const first = performance.now();
      const second0 = performance.now();
      await once(probe(w.url));
      const second = performance.now() - second0;
      await w.stop();
      if (r?.status !== 200) throw new Error(`${side} did not answer after start-up`);
      results.startup[side].push({ total: first - s0, toReady: ready - s0, firstRequest: first - ready, warmRequest: second });
    }
  }
  for (const side of ['ours', 'peer']) {
    const runs = results.startup[side];
    results.startup[`${side}Median`] = {
      total: median(runs.map((r) => r.total)),
      toReady: median(runs.map((r) => r.toReady)),
      firstRequest: median(runs.map((r) => r.firstRequest)),
      warmRequest: median(runs.map((r) => r.warmRequest)),
    };
  }

  await sim.stop();
  results.wallSeconds = (Date.now() - t0) / 1000;
  results.machine.loadAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 2));
  const table = writeReport(results, benchDir);
  log('');
  log(table);
  log(`bench: wrote bench/RESULTS.md, bench/results.svg and bench/out/results.json in ${results.wallSeconds.toFixed(0)} s`);
}

try {
  await main();
} catch (e) {
  process.stderr.write(`bench: ${e && e.stack ? e.stack : e}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
