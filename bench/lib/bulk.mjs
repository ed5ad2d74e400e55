// The bulk-create scenario: 100 tasks through one create_tasks call against
// 100 create_task calls sent one after another by a client, both against the
// simulator holding every create ~50 ms (a distant Scale), with the worker's
// SUBREQUEST_LIMIT at the paid plan's 10,000. Wall time per side, and the
// Scale requests each side made (the simulator's own count).

import { startSim, startWorker, rustSide } from './stack.mjs';
import { simControl, mcpTarget } from './targets.mjs';

export const BULK = { tasks: 100, latencyMs: 50, subrequestLimit: '10000' };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function post(target) {
  const r = await fetch(target.url, { method: 'POST', headers: target.headers, body: target.body });
  const json = await r.json();
  if (r.status !== 200 || json.result?.isError) throw new Error(`bulk bench: ${r.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json.result.structuredContent;
}

/**
 * Runs `rounds` alternating rounds of both ways (each round its own tasks)
 * and resolves the median wall times, the requests per round and the speed-up.
 */
export async function bulkCreate({ root, buildDir, compatibilityDate, secrets, rounds = 3, log = () => {} }) {
  const sim = await startSim(root, { apiKey: secrets.SCALE_API_KEY, callbackAuthKey: secrets.SCALE_CALLBACK_AUTH_KEY });
  const control = simControl(sim.url);
  await control('config', { latency: [{ method: 'POST', pattern: 'task/*', ms: BULK.latencyMs }] });
  await control('seed', { projects: [{ type: 'imageannotation', name: 'bulk' }] });
  const worker = await startWorker(rustSide(buildDir, compatibilityDate), { ...secrets, SCALE_API_BASE: sim.base, SUBREQUEST_LIMIT: BULK.subrequestLimit });
  const call = (name, args) => mcpTarget(worker.url, secrets.MCP_AUTH_TOKEN, 'tools/call', { name, arguments: args }, name);
  const items = (tag) => Array.from({ length: BULK.tasks }, (_, i) => ({ attachment: `https://img.example/${tag}/${i}.jpg`, unique_id: `${tag}-${i}` }));
  const out = { sequential: [], bulk: [] };
  try {
    // A warm-up of each way, so neither pays for compiling the worker.
    await post(call('create_task', { type: 'imageannotation', project: 'bulk', attachment: 'https://img.example/warm.jpg' }));
    await post(call('create_tasks', { type: 'imageannotation', project: 'bulk', items: items('warm').slice(0, 6) }));
    for (let r = 0; r < rounds; r++) {
      for (const way of ['sequential', 'bulk']) {
        const tag = `${way}-${r}`;
        await control('stats', undefined, 'DELETE');
        const t0 = performance.now();
        if (way === 'sequential') {
          for (const item of items(tag)) await post(call('create_task', { type: 'imageannotation', project: 'bulk', ...item }));
        } else {
          const s = await post(call('create_tasks', { type: 'imageannotation', project: 'bulk', items: items(tag) }));
          if (s.created !== BULK.tasks) throw new Error(`bulk bench: create_tasks created ${s.created}`);
        }
        const ms = performance.now() - t0;
        const st = await control('stats', undefined, 'GET');
        out[way].push({ ms, requests: st.requests, maxInFlight: st.max_in_flight });
        log(`bench:   ${way}: ${ms.toFixed(0)} ms, ${st.requests} Scale requests, at most ${st.max_in_flight} at once`);
      }
    }
  } finally {
    await worker.stop();
    await sim.stop();
  }
  const summary = (runs) => ({ ms: median(runs.map((x) => x.ms)), requests: runs[0].requests, maxInFlight: Math.max(...runs.map((x) => x.maxInFlight)), runs });
  const res = { ...BULK, rounds, sequential: summary(out.sequential), bulk: summary(out.bulk) };
  res.speedup = res.sequential.ms / res.bulk.ms;
  return res;
}
