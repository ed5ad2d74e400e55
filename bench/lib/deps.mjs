// Installs what the bench scripts need before they import it. Imports nothing
// outside Node itself, since it runs before either node_modules may exist.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = path.resolve(benchDir, '..');

function run(cmd, args, cwd, what) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${what} failed`);
}

/** scripts/setup.sh, as `npm run bench` runs it first: the root packages (Miniflare, wrangler) and the build tools. */
export function rootSetup() {
  run('bash', [path.join(root, 'scripts/setup.sh')], root, 'scripts/setup.sh');
}

/**
 * bench/'s own packages (autocannon, the peer's agents, MCP SDK and zod):
 * `npm ci` unless bench/node_modules was installed from this exact lockfile,
 * recorded in the same kind of marker scripts/setup.sh keeps for the root.
 */
export function benchDeps() {
  const sum = createHash('sha256').update(readFileSync(path.join(benchDir, 'package-lock.json'))).digest('hex');
  const marker = path.join(benchDir, 'node_modules', '.setup-lock');
  let installed = null;
  try {
    installed = readFileSync(marker, 'utf8').trim();
  } catch {}
  if (installed === sum) return;
  process.stderr.write('bench: installing bench/ dependencies (npm ci in bench/)\n');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], benchDir, 'npm ci in bench/');
  writeFileSync(marker, `${sum}\n`);
}
