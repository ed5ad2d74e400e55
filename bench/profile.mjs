// Samples the Rust worker's isolate in workerd with the V8 inspector while one
// bench scenario runs, and prints where the time goes.
//
//   node bench/profile.mjs [--scenario list_tasks|list_tasks_50|get_task|tools_list|webhook]
//                          [--seconds N] [--build-dir DIR | --skip-build] [--cpu-only]
//                          [--oauth [--rounds N]]
//
// By default it first builds a release worker that keeps wasm function names
// (bench/out/build-prof: the release profile without `strip`, wasm-opt without
// --strip-debug). Output: CPU ms per request measured from /proc (before the
// profiler attaches, so it is not slowed by it), then the top functions by self
// and by inclusive time; the raw profile goes to bench/out/<scenario>.cpuprofile
// (opens in Chrome DevTools). --cpu-only skips the profiler. --oauth binds the
// OAuth store, sets OAUTH_SECRET, gets an OAuth access token through the real
// sign-in flow (operator access, scale:read) and measures the scenario with the
// static token and with the access token in alternating rounds on the one worker
// (N rounds each, default 5; medians and their ratio), then profiles the OAuth
// side. Runs scripts/setup.sh first, as `npm run bench` does, so it works on a
// fresh clone.
import { spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootSetup, benchDeps } from './lib/deps.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, '..');
const outDir = path.join(benchDir, 'out');

// Node 20 has WebSocket only behind a flag (Node 22 has it by default).
if (typeof WebSocket === 'undefined') {
  const r = spawnSync(process.execPath, ['--experimental-websocket', '--no-warnings', ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const o = { scenario: 'list_tasks', seconds: 5, buildDir: null, skipBuild: false, cpuOnly: false, oauth: false, rounds: 5 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--scenario') o.scenario = process.argv[++i];
  else if (a === '--seconds') o.seconds = Number(process.argv[++i]);
  else if (a === '--build-dir') {
    const dir = process.argv[++i];
    if (!dir || dir.startsWith('--')) throw new Error('--build-dir needs a directory');
    o.buildDir = path.resolve(dir);
  }
  else if (a === '--skip-build') o.skipBuild = true;
  else if (a === '--cpu-only') o.cpuOnly = true;
  else if (a === '--oauth') o.oauth = true;
  else if (a === '--rounds') o.rounds = Number(process.argv[++i]);
  else throw new Error(`unknown option ${a}`);
}
if (!(o.seconds > 0)) throw new Error('--seconds needs a positive number');
if (!(o.rounds >= 1)) throw new Error('--rounds needs a positive number');

// Before the imports below, which need the root's and bench/'s packages.
rootSetup();
benchDeps();
const { startSim, startWorker, cpuSeconds, readCompatibilityDate, rustSide, cleanupAll } = await import('./lib/stack.mjs');
const { runLoad } = await import('./lib/load.mjs');
const { webhookTemplate } = await import('./lib/fixtures.mjs');
const { simControl, seedTasks, scenarioTargets } = await import('./lib/targets.mjs');
const { operatorAccessToken } = await import('./lib/oauth.mjs');

/** A port nothing listens on now (the OS picks it), for the inspector. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let buildDir = o.buildDir ?? (o.skipBuild ? path.join(root, 'build') : path.join(outDir, 'build-prof'));
if (!o.buildDir && !o.skipBuild) {
  mkdirSync(outDir, { recursive: true });
  // wasm-opt as the release build runs it, minus the flags that drop names.
  const wrapper = path.join(outDir, 'wasm-opt-keep-names');
  writeFileSync(
    wrapper,
    `#!/usr/bin/env bash\nargs=()\nfor a in "$@"; do case "$a" in --strip-debug|--strip-producers) ;; *) args+=("$a");; esac; done\nexec "${path.join(root, 'node_modules/.bin/wasm-opt')}" -g "\${args[@]}"\n`,
  );
  chmodSync(wrapper, 0o755);
  console.log('profile: building a release worker that keeps function names');
  execFileSync('bash', [path.join(root, 'scripts/build.sh'), '--out-dir', buildDir], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CARGO_PROFILE_RELEASE_STRIP: 'none', CARGO_TARGET_DIR: path.join(root, 'target/prof'), WASM_OPT_BIN: wrapper },
  });
}
for (const f of ['index.js', 'index_bg.wasm']) if (!existsSync(path.join(buildDir, f))) throw new Error(`${buildDir}/${f} is missing`);

const S = { SCALE_API_KEY: 'test_profile_scale_key_71c2', MCP_AUTH_TOKEN: 'profile-mcp-token-3e9a41', SCALE_CALLBACK_AUTH_KEY: 'profile-callback-key-58d0' };
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanupAll().finally(() => process.exit(130)));

try {
  const sim = await startSim(root, { apiKey: S.SCALE_API_KEY, callbackAuthKey: S.SCALE_CALLBACK_AUTH_KEY });
  const taskIds = await seedTasks(simControl(sim.url));
  const inspectorPort = o.cpuOnly ? null : await freePort();
  const side = rustSide(buildDir, readCompatibilityDate(root));
  const oauth = o.oauth ? { durableObjects: { OAUTH: { className: 'OAuthStore', useSQLite: true } } } : {};
  const env = { ...S, SCALE_API_BASE: sim.base, ...(o.oauth ? { OAUTH_SECRET: 'profile-oauth-secret-9d27c4e1b80a6f35' } : {}) };
  const { url, pid } = await startWorker(side, env, { ...oauth, ...(o.cpuOnly ? {} : { inspectorPort }) });
  let n = 0;
  const targetsFor = (token) =>
    scenarioTargets(url, {
      token,
      callbackKey: S.SCALE_CALLBACK_AUTH_KEY,
      taskId: taskIds[42],
      parts: webhookTemplate(50 * 1024),
      nextId: () => `profile-${String(++n).padStart(10, '0')}`,
    })[o.scenario];
  const sides = { static: targetsFor(S.MCP_AUTH_TOKEN) };
  if (!sides.static) throw new Error(`--scenario: one of ${Object.keys(scenarioTargets(url, { parts: [] })).join(', ')}`);
  if (o.oauth) sides.oauth = targetsFor((await operatorAccessToken(url, S.MCP_AUTH_TOKEN)).access_token);
  const cpu = () => cpuSeconds(pid);
  // CPU ms per request of one round with `target` (c=10).
  const round = async (name, target) => {
    const c0 = cpu();
    const r = await runLoad(target, { connections: 10, seconds: o.seconds });
    const ms = ((cpu() - c0) * 1000) / r.requests;
    if (r.non2xx || r.errors) console.log(`profile: warning: ${name}: ${r.non2xx} non-2xx answers, ${r.errors} errors (counted below)`);
    console.log(`profile: ${o.scenario}${o.oauth ? ` (${name} token)` : ''}: ${r.rps.toFixed(0)} req/s, ${ms.toFixed(3)} CPU ms per request (c=10, no profiler)`);
    return ms;
  };
  for (const t of Object.values(sides)) await runLoad(t, { connections: 10, seconds: 2 });
  if (o.oauth) {
    const ms = { static: [], oauth: [] };
    for (let i = 0; i < o.rounds; i++) for (const k of ['static', 'oauth']) ms[k].push(await round(k, sides[k]));
    const median = (xs) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
    const [st, oa] = [median(ms.static), median(ms.oauth)];
    console.log(`profile: medians of ${o.rounds} rounds: static ${st.toFixed(3)}, OAuth ${oa.toFixed(3)} CPU ms per request (OAuth ${((oa / st - 1) * 100).toFixed(1)}%)`);
  } else {
    await round('static', sides.static);
  }
  const target = sides.oauth ?? sides.static;

  if (!o.cpuOnly) {
    const list = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
    const ws = new WebSocket(list.find((x) => x.webSocketDebuggerUrl).webSocketDebuggerUrl.replace('localhost', '127.0.0.1'));
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    let id = 0;
    const pending = new Map();
    ws.onmessage = (m) => {
      const d = JSON.parse(m.data);
      if (d.id && pending.has(d.id)) {
        pending.get(d.id)(d);
        pending.delete(d.id);
      }
    };
    const send = (method, params = {}) => new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
    await send('Profiler.enable');
    await send('Profiler.setSamplingInterval', { interval: 100 });
    await send('Profiler.start');
    await runLoad(target, { connections: 10, seconds: o.seconds });
    const { result } = await send('Profiler.stop');
    ws.close();
    const file = path.join(outDir, `${o.scenario}.cpuprofile`);
    mkdirSync(outDir, { recursive: true });
    writeFileSync(file, JSON.stringify(result.profile));
    report(result.profile);
    console.log(`profile: wrote ${path.relative(root, file)}`);
  }
} finally {
  await cleanupAll();
}

function report(p) {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map();
  for (const x of p.nodes) for (const c of x.children || []) parent.set(c, x.id);
  const hits = new Map();
  for (const s of p.samples) hits.set(s, (hits.get(s) || 0) + 1);
  const name = (x) => {
    const f = x.callFrame;
    const fn = (f.functionName || '(anonymous)').replace(/::h[0-9a-f]{16}$/, '');
    return f.url.includes('wasm') ? `[wasm] ${fn}` : f.url ? `[js] ${fn} (${path.basename(f.url)})` : fn;
  };
  const self = new Map();
  const incl = new Map();
  let total = 0;
  for (const [nid, c] of hits) {
    total += c;
    self.set(name(byId.get(nid)), (self.get(name(byId.get(nid))) || 0) + c);
    const seen = new Set();
    for (let cur = nid; cur !== undefined; cur = parent.get(cur)) {
      const k = name(byId.get(cur));
      if (!seen.has(k)) {
        seen.add(k);
        incl.set(k, (incl.get(k) || 0) + c);
      }
    }
  }
  const top = (m, title) => {
    console.log(`\n${title}`);
    for (const [k, c] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((100 * c) / total).toFixed(1).padStart(6)}%  ${k.slice(0, 150)}`);
  };
  top(self, 'self time (share of samples)');
  top(incl, 'inclusive time (share of samples)');
}
