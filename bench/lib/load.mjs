// Load generation with autocannon (fixed connections, fixed duration, HTTP/1.1
// keep-alive, no pipelining). autocannon's own latency histogram has 1 ms
// resolution, too coarse for sub-millisecond targets, so every response's
// time (autocannon measures it with process.hrtime) is also recorded here and
// the percentiles are computed exactly from those samples.

import autocannon from 'autocannon';

/**
 * Runs one load phase. `target` = {url, method?, headers?, body?, setupRequest?}.
 * Resolves {requests, seconds, rps, latencies (ms, unsorted), non2xx, errors, bytes}.
 */
export function runLoad(target, { connections, seconds }) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    let bytes = 0;
    const started = process.hrtime.bigint();
    const request = {
      method: target.method || 'GET',
      headers: target.headers || {},
      ...(target.body !== undefined ? { body: target.body } : {}),
      ...(target.setupRequest ? { setupRequest: target.setupRequest } : {}),
    };
    const instance = autocannon(
      {
        url: target.url,
        connections,
        pipelining: 1,
        duration: seconds,
        requests: [request],
        timeout: 30,
      },
      (err, result) => {
        if (err) return reject(err);
        const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
        const n2xx = result['2xx'];
        resolve({
          requests: n2xx,
          seconds: Math.min(elapsed, result.duration || elapsed),
          rps: n2xx / (result.duration || elapsed),
          latencies,
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          statusCodes: result.statusCodeStats,
          bytesPerResponse: latencies.length ? bytes / latencies.length : 0,
        });
      },
    );
    instance.on('response', (_client, statusCode, resBytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) {
        latencies.push(responseTime);
        bytes += resBytes;
      }
    });
  });
}

/** Percentile (0-100) of an ascending array, by nearest rank. */
export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Merges phases of the same side and scenario into one figure set. */
export function merge(phases) {
  const lat = new Float64Array(phases.reduce((n, p) => n + p.latencies.length, 0));
  let o = 0;
  for (const p of phases) {
    lat.set(p.latencies, o);
    o += p.latencies.length;
  }
  lat.sort();
  const requests = phases.reduce((n, p) => n + p.requests, 0);
  const seconds = phases.reduce((n, p) => n + p.seconds, 0);
  const responses = phases.reduce((n, p) => n + p.latencies.length, 0);
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
    mean: lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : NaN,
    non2xx: phases.reduce((n, p) => n + p.non2xx, 0),
    errors: phases.reduce((n, p) => n + p.errors, 0),
    bytesPerResponse: responses ? phases.reduce((n, p) => n + p.bytesPerResponse * p.latencies.length, 0) / responses : 0,
    rounds: phases.map((p) => p.rps),
  };
}
