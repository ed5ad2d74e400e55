// `npm run dev`: runs the two workers of a deployment locally in one workerd
// through `wrangler dev` on 127.0.0.1:8787: the MCP worker (wrangler.toml),
// which serves every request, and the jobs worker (wrangler.jobs.toml), which
// consumes the dataset-scale jobs queue and keeps the jobs (their Durable
// Objects, which the MCP worker binds by name). Creates .dev.vars with
// generated local secrets on first run. When .dev.vars names no real Scale
// key (live_... or test_...), it also starts the repository's Scale simulator
// and points both workers at it. Ctrl-C stops all.
//
// It builds both workers itself, once (each config's [build] command), and
// runs wrangler on copies of the two configs without [build], in
// .wrangler/dev/<port>/ (removed at exit): given a build command, wrangler
// runs it twice at start (once to find the entry point, then again when its
// file watcher is ready, "The file src changed, restarting build..."), a
// minute or more each. A change under src/ rebuilds, and rewriting the
// copies makes wrangler reload the workers. Their state stays in
// .wrangler/state/, as before the copies moved.
//
// wrangler's --var and --env-file reach only the first config's worker, so
// each copy has its own .dev.vars beside it, the same for both: the vars
// file's secrets and, without a real key, the simulator's address and key.
// The jobs worker's copy gets wrangler.toml's [vars] (a job waits while the
// jobs worker's settings differ from those it was started under; a
// difference between the two files is reported at start).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, watch } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startSimulator } from '../sim/scale-sim.mjs';
import { configDifferences, readConfig, tomlTable, MCP_CONFIG, JOBS_CONFIG } from './jobs-config.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';
const PORT = Number(process.env.PORT || 8787);
// DEV_VARS points at another vars file (the test of this script uses a temporary one).
const varsPath = process.env.DEV_VARS ? path.resolve(process.env.DEV_VARS) : path.join(root, '.dev.vars');

function parseVars(text) {
  const out = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && !line.trim().startsWith('#')) out[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return out;
}

const OAUTH_SECRET_LINES = () => [
  '# Keys the OAuth sign-in server (client ids, form tokens, tenant ids). To rotate: put a',
  '# new value first, a comma, then the old one; drop the old one after 90 days (docs/oauth.md).',
  `OAUTH_SECRET=${randomBytes(32).toString('hex')}`,
];

if (!existsSync(varsPath)) {
  const token = randomBytes(24).toString('hex');
  const cbKey = randomBytes(24).toString('hex');
  writeFileSync(
    varsPath,
    [
      '# Local secrets for `npm run dev` (git-ignored). Generated on first run.',
      `MCP_AUTH_TOKEN=${token}`,
      `SCALE_CALLBACK_AUTH_KEY=${cbKey}`,
      ...OAUTH_SECRET_LINES(),
      '# Put a real Scale key here to talk to Scale instead of the local simulator:',
      '# SCALE_API_KEY=test_...',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  console.log(`dev: created ${path.relative(root, varsPath) || varsPath} with a generated MCP token, callback key and OAuth secret`);
} else if (!/^\s*OAUTH_SECRET\s*=/m.test(readFileSync(varsPath, 'utf8'))) {
  // A .dev.vars from before OAuth sign-in: add its secret, keep everything else.
  const text = readFileSync(varsPath, 'utf8');
  writeFileSync(varsPath, `${text}${text.endsWith('\n') ? '' : '\n'}${OAUTH_SECRET_LINES().join('\n')}\n`, { mode: 0o600 });
  console.log(`dev: added a generated OAUTH_SECRET to ${path.relative(root, varsPath) || varsPath}`);
}

const vars = parseVars(readFileSync(varsPath, 'utf8'));
const realKey = /^(live|test)_/.test(vars.SCALE_API_KEY || '');
const extra = [];
if (process.env.INSPECTOR_PORT) extra.push('--inspector-port', process.env.INSPECTOR_PORT);
// Values for both workers on top of the vars file's (the simulator's, without a real key).
const overrides = {};
let sim = null;
if (!realKey) {
  const simKey = `test_local_${randomBytes(8).toString('hex')}`;
  sim = await startSimulator({ apiKey: simKey, callbackAuthKey: vars.SCALE_CALLBACK_AUTH_KEY || null });
  Object.assign(overrides, { SCALE_API_KEY: simKey, SCALE_API_BASE: sim.base });
  // Callbacks from the simulator come straight back to this worker.
  if (!vars.DEFAULT_CALLBACK_URL) overrides.DEFAULT_CALLBACK_URL = `http://${HOST}:${PORT}/webhooks/scale`;
}

const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' };

// The two configs wrangler runs, the worker that serves requests first, in
// a directory of this run's port (another dev run, e.g. npm test's, has its
// own), removed at exit with the secrets' copies.
const devDir = path.join(root, '.wrangler', 'dev', String(PORT));
const workers = [
  { label: 'the MCP worker', source: MCP_CONFIG, dir: path.join(devDir, 'mcp') },
  { label: 'the jobs worker', source: JOBS_CONFIG, dir: path.join(devDir, 'jobs') },
];
for (const w of workers) {
  w.config = path.join(w.dir, 'wrangler.toml');
  w.build = tomlTable(readConfig(w.source), 'build')?.command;
  if (!w.build) {
    console.error(`dev: ${w.source} has no [build] command`);
    process.exit(1);
  }
}

const differences = configDifferences();
if (differences.length) {
  console.warn(`dev: ${JOBS_CONFIG} disagrees with ${MCP_CONFIG} (${differences.length} difference${differences.length > 1 ? 's' : ''}), first: ${differences[0]}`);
  console.warn(`dev: deployed like this, the jobs worker would leave every job waiting; here it runs with ${MCP_CONFIG}'s [vars] (node scripts/jobs-config.mjs lists them all)`);
}

/** Runs one worker's [build] command; resolves to whether it succeeded. */
function buildOne(w) {
  return new Promise((resolve) => {
    const b = spawn('bash', ['-c', w.build], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
    b.on('exit', (code) => resolve(code === 0));
  });
}

/** Builds both workers, one after the other; resolves to whether both succeeded. */
async function build() {
  for (const w of workers) {
    if (!(await buildOne(w))) {
      console.error(`dev: building ${w.label} failed (${w.build})`);
      return false;
    }
  }
  return true;
}

/** The [vars] table of `vars` as TOML (strings, numbers, booleans, arrays of strings). */
function varsTable(values) {
  return ['[vars]', ...Object.entries(values).map(([k, v]) => `${k} = ${JSON.stringify(v)}`)].join('\n');
}

/** Writes `text` to `file` whole or not at all: wrangler reads a file as soon as it changes. */
function writeWhole(file, text, mode) {
  writeFileSync(`${file}.tmp`, text, mode ? { mode } : undefined);
  renameSync(`${file}.tmp`, file);
}

// Each copy: its config without [build], `main` relative to the copy, the
// jobs worker's [vars] those of wrangler.toml; beside it a .dev.vars of the
// vars file with the overrides after it (later lines win).
function writeDevConfigs() {
  const mcpVars = varsTable(tomlTable(readConfig(MCP_CONFIG), 'vars') ?? {});
  const secrets = `# Written by scripts/dev.mjs from ${path.relative(root, varsPath) || varsPath}; edit that file instead.\n${readFileSync(varsPath, 'utf8')}\n${Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
  for (const w of workers) {
    let toml = readConfig(w.source).replace(/^\[build\]\r?\n(?:(?!\[).*\r?\n)*/m, '');
    const main = tomlTable(toml, '').main;
    toml = toml.replace(/^main\s*=.*$/m, `main = ${JSON.stringify(path.relative(w.dir, path.join(root, main)))}`);
    if (w.source !== MCP_CONFIG) {
      // The [vars] header and its key lines go; wrangler.toml's take their place.
      toml = toml.replace(/^\[vars\][^\n]*\n((?:(?!\[).*\n)*)/m, (_, body) => `${mcpVars}\n${body.replace(/^\s*[A-Za-z0-9_-]+\s*=.*\n/gm, '')}`);
    }
    mkdirSync(w.dir, { recursive: true });
    writeWhole(path.join(w.dir, '.dev.vars'), secrets, 0o600);
    writeWhole(w.config, `# Written by scripts/dev.mjs at each build: ${w.source} without [build]${w.source === MCP_CONFIG ? '' : `, with ${MCP_CONFIG}'s [vars]`}. Edit ${w.source} instead.\n# built ${new Date().toISOString()}\n${toml}`);
  }
}
// The single copy an earlier dev.mjs wrote at the root.
const oldCopy = path.join(root, '.wrangler.dev.toml');
if (existsSync(oldCopy) && readFileSync(oldCopy, 'utf8').startsWith('# Written by scripts/dev.mjs')) rmSync(oldCopy);

console.log('dev: building the workers (their [build] commands: scripts/build.sh)');
if (!(await build())) {
  await sim?.close();
  console.error('dev: the build failed');
  process.exit(1);
}
writeDevConfigs();
const wrangler = spawn(
  path.join(root, 'node_modules/.bin/wrangler'),
  [
    'dev',
    ...workers.flatMap((w) => ['--config', w.config]),
    '--local',
    '--ip', HOST,
    '--port', String(PORT),
    // Where the state was kept when wrangler ran on a config at the root.
    '--persist-to', path.join(root, '.wrangler', 'state'),
    '--show-interactive-dev-session=false',
    ...extra,
  ],
  { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'], detached: true },
);

// Rebuilds after a change under src/ (one build at a time; changes made
// during a build start another when it ends).
let building = false;
let pending = false;
async function rebuild() {
  if (building) {
    pending = true;
    return;
  }
  building = true;
  do {
    pending = false;
    console.log('dev: src/ changed, rebuilding');
    if (await build()) writeDevConfigs();
    else console.error('dev: the build failed; the workers keep running the previous build');
  } while (pending && !stopping);
  building = false;
}
let debounce;
const watcher = watch(path.join(root, 'src'), { recursive: true }, () => {
  clearTimeout(debounce);
  debounce = setTimeout(rebuild, 300);
});

/** Whether any process of wrangler's group (wrangler, workerd) is still alive. */
function groupAlive() {
  try {
    process.kill(-wrangler.pid, 0);
    return true;
  } catch {
    return false;
  }
}

let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  watcher.close();
  clearTimeout(debounce);
  try {
    process.kill(-wrangler.pid, 'SIGTERM');
  } catch {}
  await sim?.close();
  // Exit only once wrangler and workerd are gone, so the port is free when
  // this returns; a group that ignores SIGTERM for 5 s is killed.
  for (let waited = 0; groupAlive(); waited += 50) {
    if (waited >= 5000) {
      try {
        process.kill(-wrangler.pid, 'SIGKILL');
      } catch {}
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  rmSync(devDir, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
wrangler.on('exit', (code) => {
  if (!stopping) {
    console.error(`dev: wrangler exited (${code})`);
    stop(code || 1);
  }
});

let announced = false;
wrangler.stdout.on('data', (chunk) => {
  const text = chunk.toString();
  process.stdout.write(text);
  if (!announced && /Ready on/.test(text)) {
    announced = true;
    announce();
  }
});

function announce() {
  const url = `http://${HOST}:${PORT}`;
  const token = vars.MCP_AUTH_TOKEN || '(set MCP_AUTH_TOKEN in .dev.vars)';
  const config = { mcpServers: { scale: { type: 'http', url: `${url}/mcp`, headers: { Authorization: `Bearer ${token}` } } } };
  console.log(`
  Scale MCP worker running
    MCP endpoint   ${url}/mcp
    Bearer token   ${token}
    Webhook        ${url}/webhooks/scale
    Health         ${url}/health
    Scale API      ${sim ? `local simulator at ${sim.base} (no Scale account needed)` : 'api.scale.com with the key in .dev.vars'}
    Jobs worker    runs dataset-scale jobs: create_tasks with items_url (${JOBS_CONFIG})

  Client config (Claude Code / Cursor style):
${JSON.stringify(config, null, 2).replace(/^/gm, '    ')}

  Claude Code: claude mcp add --transport http scale ${url}/mcp --header "Authorization: Bearer ${token}"

  OAuth clients (connectors that sign in): add ${url}/mcp and, on the sign-in
  page, choose "Operator access" with the bearer token above. Your grants:
  ${url}/oauth/grants
  Press Ctrl-C to stop.
`);
}
