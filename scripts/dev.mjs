// `npm run dev`: runs the worker locally in workerd through `wrangler dev` on
// 127.0.0.1:8787. Creates .dev.vars with generated local secrets on first run.
// When .dev.vars names no real Scale key (live_... or test_...), it also starts
// the repository's Scale simulator and points the worker at it. Ctrl-C stops all.
//
// It builds the worker itself, once, and runs wrangler on a copy of
// wrangler.toml without [build]: given a build command, wrangler runs it
// twice at start (once to find the entry point, then again when its file
// watcher is ready, "The file src changed, restarting build..."), a minute
// or more each. A change under src/ rebuilds, and rewriting the copy makes
// wrangler reload the worker.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync, watch } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startSimulator } from '../sim/scale-sim.mjs';

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
const extra = process.env.DEV_VARS ? ['--env-file', varsPath] : [];
if (process.env.INSPECTOR_PORT) extra.push('--inspector-port', process.env.INSPECTOR_PORT);
let sim = null;
if (!realKey) {
  const simKey = `test_local_${randomBytes(8).toString('hex')}`;
  sim = await startSimulator({ apiKey: simKey, callbackAuthKey: vars.SCALE_CALLBACK_AUTH_KEY || null });
  extra.push('--var', `SCALE_API_KEY:${simKey}`, '--var', `SCALE_API_BASE:${sim.base}`);
  // Callbacks from the simulator come straight back to this worker.
  if (!vars.DEFAULT_CALLBACK_URL) extra.push('--var', `DEFAULT_CALLBACK_URL:http://${HOST}:${PORT}/webhooks/scale`);
}

const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' };

/** Runs scripts/build.sh; resolves to whether it succeeded. */
function build() {
  return new Promise((resolve) => {
    const b = spawn('bash', [path.join(root, 'scripts/build.sh')], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
    b.on('exit', (code) => resolve(code === 0));
  });
}

// Next to wrangler.toml, so every path in it means the same.
const devConfig = path.join(root, '.wrangler.dev.toml');
function writeDevConfig() {
  const toml = readFileSync(path.join(root, 'wrangler.toml'), 'utf8').replace(/^\[build\]\n(?:(?!\[).*\n)*/m, '');
  // Whole or not at all: wrangler reads the file as soon as it changes.
  writeFileSync(`${devConfig}.tmp`, `# Written by scripts/dev.mjs at each build: wrangler.toml without [build]. Edit wrangler.toml instead.\n# built ${new Date().toISOString()}\n${toml}`);
  renameSync(`${devConfig}.tmp`, devConfig);
}

console.log('dev: building the worker (scripts/build.sh)');
if (!(await build())) {
  await sim?.close();
  console.error('dev: the build failed');
  process.exit(1);
}
writeDevConfig();
const wrangler = spawn(
  path.join(root, 'node_modules/.bin/wrangler'),
  ['dev', '--config', devConfig, '--local', '--ip', HOST, '--port', String(PORT), '--show-interactive-dev-session=false', ...extra],
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
    if (await build()) writeDevConfig();
    else console.error('dev: the build failed; the worker keeps running the previous build');
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

  Client config (Claude Code / Cursor style):
${JSON.stringify(config, null, 2).replace(/^/gm, '    ')}

  Claude Code: claude mcp add --transport http scale ${url}/mcp --header "Authorization: Bearer ${token}"

  OAuth clients (connectors that sign in): add ${url}/mcp and, on the sign-in
  page, choose "Operator access" with the bearer token above. Your grants:
  ${url}/oauth/grants
  Press Ctrl-C to stop.
`);
}
