// Peak memory of one workerd process while it refuses large unauthenticated
// POSTs: 20 concurrent 10 MiB bodies to /webhooks/scale (no scale-callback-auth)
// and then to /mcp (no bearer token). A worker that reads bodies before it
// checks credentials holds them all at once; one that refuses from the headers
// reads none. Reports the process's peak resident set (VmHWM) above its idle
// size, per route, each in a fresh workerd.
//
//   node bench/refuse-memory.mjs [--build-dir build] [--concurrency 20] [--mib 10] [--chunked]
//
// --chunked sends the bodies without Content-Length (a streamed upload), so the
// size is unknown until read.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker, readCompatibilityDate, rustSide, cleanupAll } from './lib/stack.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const buildDir = path.resolve(root, arg('build-dir', 'build'));
const concurrency = Number(arg('concurrency', '20'));
const mib = Number(arg('mib', '10'));
const chunked = process.argv.includes('--chunked');

/** VmRSS and VmHWM (peak) of `pid`, in MiB. */
function mem(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)\\s+kB`).exec(s)[1]);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

const body = Buffer.alloc(mib * 1024 * 1024, 'x');

function send(url, headers) {
  const init = { method: 'POST', headers: { 'content-type': 'application/json', ...headers } };
  if (chunked) {
    // A stream of 1 MiB chunks: fetch then sends Transfer-Encoding: chunked.
    init.body = new ReadableStream({
      start(c) {
        for (let i = 0; i < body.length; i += 1 << 20) c.enqueue(body.subarray(i, i + (1 << 20)));
        c.close();
      },
    });
    init.duplex = 'half';
  } else {
    init.body = body;
  }
  return fetch(url, init).then(
    async (r) => ({ status: r.status, text: (await r.text()).slice(0, 80) }),
    (e) => ({ status: 0, text: String(e.cause?.code ?? e.message) }),
  );
}

async function measure(route) {
  const bindings = {
    MCP_AUTH_TOKEN: 'bench-token-0123456789abcdef',
    SCALE_CALLBACK_AUTH_KEY: 'bench-callback-key-0123456789',
    SCALE_API_KEY: 'test_bench_key',
  };
  const w = await startWorker(rustSide(buildDir, readCompatibilityDate(root)), bindings);
  try {
    // Warm the isolate (instantiate the wasm) so idle memory includes it.
    await (await fetch(`${w.url}/health`)).text();
    const idle = mem(w.pid);
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: concurrency }, () => send(`${w.url}${route}`, {})));
    const ms = Date.now() - started;
    const after = mem(w.pid);
    const statuses = {};
    for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    return { route, idleMiB: idle.rss, peakMiB: after.hwm, addedMiB: after.hwm - idle.rss, ms, statuses, sample: answers[0].text };
  } finally {
    await w.stop();
  }
}

const results = [];
for (const route of ['/webhooks/scale', '/mcp']) results.push(await measure(route));
await cleanupAll();
const r1 = (x) => Math.round(x * 10) / 10;
console.log(`build: ${path.relative(root, buildDir) || '.'}; ${concurrency} concurrent ${mib} MiB unauthenticated POSTs${chunked ? ' (chunked)' : ''}`);
for (const r of results) {
  console.log(`${r.route.padEnd(16)} idle ${r1(r.idleMiB)} MiB, peak ${r1(r.peakMiB)} MiB (+${r1(r.addedMiB)}), ${r.ms} ms, statuses ${JSON.stringify(r.statuses)}  ${r.sample}`);
}
