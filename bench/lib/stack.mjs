// Processes the benchmark starts: the Scale simulator (its own Node process,
// so it never shares an event loop with the load generator) and the two
// workers, each in its own workerd process through Miniflare. Everything
// started is registered for cleanup, which runs on normal exit, on errors and
// on SIGINT/SIGTERM.

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { Miniflare, Log, LogLevel } from 'miniflare';

const cleanups = new Set();
const children = new Set();

/** Registers `fn` to run at cleanup; returns a function that runs it once (later calls await the same run). */
export function onCleanup(fn) {
  let running = null;
  const run = () => {
    running ??= (async () => {
      try {
        await fn();
      } finally {
        cleanups.delete(run);
      }
    })();
    return running;
  };
  cleanups.add(run);
  return run;
}

// Last resort when the process exits before the orderly cleanup finished:
// kill whatever child processes (the simulator, workerd) are still alive.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of workerdChildren()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
});

export async function cleanupAll() {
  for (const fn of [...cleanups].reverse()) {
    try {
      await fn();
    } catch (e) {
      process.stderr.write(`cleanup: ${e && e.message ? e.message : e}\n`);
    }
  }
}

/** Starts `node sim/scale-sim.mjs` and resolves `{url, base, pid, stop}` once it listens. */
export async function startSim(root, { apiKey, callbackAuthKey }) {
  const child = spawn(process.execPath, [`${root}/sim/scale-sim.mjs`, '--port', '0', '--api-key', apiKey, '--callback-auth-key', callbackAuthKey, '--canned'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
  });
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`simulator exited (${code}): ${stderr}`)));
  });
  const info = JSON.parse(line);
  child.stdout.resume();
  return { url: info.url, base: info.base, pid: child.pid, stop };
}

/** Pids of this process's workerd children. */
export function workerdChildren() {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm === 'workerd') out.push(Number(d));
    } catch {}
  }
  return out;
}

/** utime+stime of `pid` in seconds, or NaN when it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** Resident set size of `pid` in bytes (VmRSS), or null when it is gone. */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The compatibility_date of the root wrangler.toml, which every benchmarked worker uses. */
export function readCompatibilityDate(root) {
  const m = /compatibility_date\s*=\s*"([^"]+)"/.exec(readFileSync(path.join(root, 'wrangler.toml'), 'utf8'));
  if (!m) throw new Error('wrangler.toml has no compatibility_date');
  return m[1];
}

/** startWorker's `side` for the Rust worker built into `buildDir`. */
export function rustSide(buildDir, date) {
  return { label: 'Rust worker', scriptPath: path.join(buildDir, 'index.js'), wasm: true, compatibilityDate: date, compatibilityFlags: [] };
}

/**
 * Starts one worker in its own workerd. `side` is {scriptPath | script, wasm,
 * compatibilityDate, compatibilityFlags}; `extra` adds Miniflare options (e.g.
 * inspectorPort). Resolves {mf, url, pid, stop}; `url` is the worker's direct socket.
 */
export async function startWorker(side, bindings, extra = {}) {
  const before = new Set(workerdChildren());
  const drain = (s) => s.resume();
  const mf = new Miniflare({
    modules: true,
    ...(side.script !== undefined ? { script: side.script } : { scriptPath: side.scriptPath, modulesRoot: path.dirname(side.scriptPath) }),
    modulesRules: side.wasm ? [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }] : undefined,
    // A socket straight into the worker, without Miniflare's dev entry worker
    // in front (closer to production, where no such proxy exists).
    unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    compatibilityDate: side.compatibilityDate,
    compatibilityFlags: side.compatibilityFlags,
    bindings,
    kvNamespaces: ['CALLBACKS'],
    host: '127.0.0.1',
    port: 0,
    cf: false,
    // Subrequests go straight to the network, not through Miniflare's extra
    // JS worker that strips CF-Connecting-IP (no such hop in production).
    stripCfConnectingIp: false,
    log: new Log(LogLevel.NONE),
    handleRuntimeStdio(stdout, stderr) {
      drain(stdout);
      drain(stderr);
    },
    ...extra,
  });
  const stop = onCleanup(() => mf.dispose());
  try {
    await mf.ready;
    const url = (await mf.unsafeGetDirectURL()).toString().replace(/\/$/, '');
    const pids = workerdChildren().filter((p) => !before.has(p));
    return { mf, url, pid: pids.length === 1 ? pids[0] : null, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Samples the RSS of `pid` every `ms` until stopped; resolves {peak, mean, samples}. */
export function rssSampler(pid, ms = 100) {
  const values = [];
  const take = () => {
    const v = rssBytes(pid);
    if (v !== null) values.push(v);
  };
  take();
  const timer = setInterval(take, ms);
  return () => {
    clearInterval(timer);
    take();
    return {
      peak: values.length ? Math.max(...values) : null,
      mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : null,
      samples: values.length,
    };
  };
}
