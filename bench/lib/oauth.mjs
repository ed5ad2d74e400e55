// The OAuth scenario: `tools/call get_task` with an OAuth access token against
// the same call with a static token, on one Rust worker with the OAuth store
// (the `OAUTH` Durable Object, SQLite-backed, as wrangler.toml declares it)
// bound. The access token is obtained the way a connector obtains one:
// dynamic registration, the sign-in page (GET, then its form POSTed with
// operator access), and the code exchanged with its PKCE verifier at /token.
//
// Both sides run in the same workerd process, in alternating rounds, so the
// CPU per request of each (utime+stime of the process over a round, divided
// by its requests) is measured under the same conditions. Start-up is
// measured as the main bench does it (new workerd to the first answered
// request), with OAuth bound and the store persisted in a temporary folder,
// so the same grant's token can be the first request of a new process: its
// first call then misses the isolate's memo and reads the store.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { startWorker, cpuSeconds, rssSampler } from './stack.mjs';
import { runLoad, merge } from './load.mjs';
import { mcpTarget } from './targets.mjs';

// A server key for the run (≥ 32 printable characters), as production sets OAUTH_SECRET.
const OAUTH_SECRET = 'bench-oauth-secret-4f1c9a7e2d6b8035c1e7';
const REDIRECT = 'http://127.0.0.1:9/bench-callback';
// A fixed public origin: a token's audience is the issuer's /mcp, so the same
// token works on a new process that listens on another port.
const PUBLIC_URL = 'https://scale-mcp.bench.example';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

async function expect(res, status, what) {
  if (res.status === status) return res;
  throw new Error(`oauth bench: ${what} answered ${res.status}, expected ${status}: ${(await res.text()).slice(0, 300)}`);
}

/**
 * Signs in to the worker at `url` (whose issuer is `issuer`, its PUBLIC_URL
 * when set) with operator access through the real flow and resolves the token response ({access_token, refresh_token, scope,
 * expires_in, ...}).
 */
export async function operatorAccessToken(url, operatorToken, { scope = 'scale:read', issuer = url } = {}) {
  const reg = await expect(
    await fetch(`${url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'bench', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }),
    }),
    201,
    'POST /register',
  );
  const { client_id: clientId } = await reg.json();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(8).toString('hex');
  const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state, scope, resource: `${issuer}/mcp` });

  const page = await expect(await fetch(`${url}/authorize?${q}`, { redirect: 'manual' }), 200, 'GET /authorize');
  const cookie = (page.headers.get('set-cookie') || '').split(';')[0];
  const html = await page.text();
  const form = new URLSearchParams([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [unescape(m[1]), unescape(m[2])]));
  if (!form.get('csrf')) throw new Error('oauth bench: the sign-in page has no form token');
  form.set('method', 'operator');
  form.set('operator_token', operatorToken);
  form.append('grant_scope', scope);
  form.set('action', 'approve');
  // What a browser sends with the page's own form.
  const posted = await expect(
    await fetch(`${url}/authorize`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: url, 'sec-fetch-site': 'same-origin' }, body: form }),
    303,
    'POST /authorize',
  );
  const back = new URL(posted.headers.get('location'));
  if (back.origin + back.pathname !== REDIRECT || back.searchParams.get('state') !== state || back.searchParams.get('iss') !== issuer) {
    throw new Error(`oauth bench: unexpected redirect ${back.href}`);
  }
  const tok = await expect(
    await fetch(`${url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code'), code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId }),
    }),
    200,
    'POST /token',
  );
  const t = await tok.json();
  if (!/^smcp_at_/.test(t.access_token ?? '') || t.scope !== scope) throw new Error(`oauth bench: unexpected token response ${JSON.stringify({ ...t, access_token: '…', refresh_token: '…' })}`);
  return t;
}

async function call(target) {
  const r = await fetch(target.url, { method: target.method, headers: target.headers, body: target.body });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, text, json };
}

/** Options for startWorker that bind the OAuth store, persisted in `dir` when given. */
const oauthExtra = (dir) => ({
  durableObjects: { OAUTH: { className: 'OAuthStore', useSQLite: true } },
  ...(dir ? { durableObjectsPersist: dir } : {}),
});

/**
 * Runs the scenario. `side` is the Rust worker's startWorker side, `bindings`
 * the bench's (static token, simulator), `taskId` a seeded task, `opts` the
 * bench's options (seconds, rounds, connections, latencySeconds,
 * startupRuns, warmSeconds). Resolves the figures for results.json.
 */
export async function oauthScenario({ side, bindings, taskId, opts, log = () => {} }) {
  const persist = mkdtempSync(path.join(os.tmpdir(), 'bench-oauth-store-'));
  const env = { ...bindings, OAUTH_SECRET, PUBLIC_URL };
  const out = { secretSet: true, loaded: {}, single: {}, startup: { none: [], static: [], oauth: [] } };
  try {
    const worker = await startWorker(side, env, oauthExtra(persist));
    let token;
    try {
      const t0 = performance.now();
      const granted = await operatorAccessToken(worker.url, bindings.MCP_AUTH_TOKEN, { issuer: PUBLIC_URL });
      out.signInMs = performance.now() - t0;
      token = granted.access_token;
      out.grant = { scope: granted.scope, expiresIn: granted.expires_in };
      const args = { name: 'get_task', arguments: { task_id: taskId } };
      const targets = {
        static: mcpTarget(worker.url, bindings.MCP_AUTH_TOKEN, 'tools/call', args, 'get_task'),
        oauth: mcpTarget(worker.url, token, 'tools/call', args, 'get_task'),
      };
      // The same answer both ways, and a token the worker does not know is refused
      // (so the OAuth side is really checked, not let through).
      const a = await call(targets.static);
      const b = await call(targets.oauth);
      if (a.status !== 200 || b.status !== 200 || a.json?.result?.isError || b.json?.result?.isError) throw new Error(`oauth bench: get_task failed: ${a.status} ${a.text.slice(0, 200)} | ${b.status} ${b.text.slice(0, 200)}`);
      out.sameResult = isDeepStrictEqual(a.json.result.structuredContent, b.json.result.structuredContent);
      if (!out.sameResult) throw new Error('oauth bench: get_task answers differently with the OAuth token');
      const forged = await call(mcpTarget(worker.url, `smcp_at_${randomBytes(32).toString('base64url')}`, 'tools/call', args, 'get_task'));
      if (forged.status !== 401) throw new Error(`oauth bench: an unknown access token got ${forged.status}`);

      const phase = async (which, connections, seconds, measure = true) => {
        const cpu0 = cpuSeconds(worker.pid);
        const stopRss = measure ? rssSampler(worker.pid) : null;
        const r = await runLoad(targets[which], { connections, seconds });
        r.cpu = cpuSeconds(worker.pid) - cpu0;
        r.rss = stopRss ? stopRss() : null;
        if (r.errors || r.non2xx) log(`bench:   ${which}: ${r.non2xx} non-2xx, ${r.errors} errors (${JSON.stringify(r.statusCodes)})`);
        return r;
      };
      const summarize = (phases) => {
        const m = merge(phases);
        m.cpuMsPerRequest = (phases.reduce((n, p) => n + p.cpu, 0) * 1000) / m.requests;
        m.cpuMsPerRequestByRound = phases.map((p) => (p.cpu * 1000) / p.requests);
        return m;
      };
      const C = opts.connections;
      const loaded = { static: [], oauth: [] };
      const single = { static: [], oauth: [] };
      for (const which of ['static', 'oauth']) await phase(which, C, opts.warmSeconds, false);
      for (let r = 0; r < opts.rounds; r++) for (const which of ['static', 'oauth']) loaded[which].push(await phase(which, C, opts.seconds));
      for (let r = 0; r < opts.rounds; r++) for (const which of ['static', 'oauth']) single[which].push(await phase(which, 1, opts.latencySeconds, false));
      for (const which of ['static', 'oauth']) {
        out.loaded[which] = summarize(loaded[which]);
        out.single[which] = summarize(single[which]);
        const m = out.loaded[which];
        log(`bench:   ${which}: ${m.rps.toFixed(0)} req/s, ${m.cpuMsPerRequest.toFixed(3)} CPU ms/req, p50 ${m.p50.toFixed(2)} ms (c=${C}); p50 ${out.single[which].p50.toFixed(2)} ms (c=1)`);
      }
      out.cpuRatio = out.loaded.oauth.cpuMsPerRequest / out.loaded.static.cpuMsPerRequest;
    } finally {
      await worker.stop();
    }

    // Start-up: a new workerd to the first answered tools/list, alternating
    // three ways under the same conditions: without the OAuth store bound (as
    // the main bench starts it), with it bound and a static token, and with it
    // bound and the grant's token (read from the persisted store).
    const kinds = ['none', 'static', 'oauth'];
    for (let i = 0; i < opts.startupRuns; i++) {
      for (const which of kinds) {
        const s0 = performance.now();
        const w = which === 'none' ? await startWorker(side, bindings) : await startWorker(side, env, oauthExtra(persist));
        const ready = performance.now();
        const probe = mcpTarget(w.url, which === 'oauth' ? token : bindings.MCP_AUTH_TOKEN, 'tools/list');
        let r;
        for (let tries = 0; tries < 200; tries++) {
          try {
            r = await call(probe);
            if (r.status === 200) break;
          } catch {}
          await new Promise((res) => setTimeout(res, 5));
        }
        const first = performance.now();
        await w.stop();
        if (r?.status !== 200) throw new Error(`oauth bench: a new worker did not answer tools/list with the ${which} token: ${r?.status} ${r?.text?.slice(0, 200)}`);
        out.startup[which].push({ total: first - s0, toReady: ready - s0, firstRequest: first - ready });
      }
    }
    for (const which of kinds) {
      const runs = out.startup[which];
      out.startup[`${which}Median`] = { total: median(runs.map((x) => x.total)), toReady: median(runs.map((x) => x.toReady)), firstRequest: median(runs.map((x) => x.firstRequest)) };
    }
    const su = (k) => out.startup[`${k}Median`].total.toFixed(1);
    log(`bench:   start-up to the first tools/list: ${su('none')} ms without OAuth bound; with it, ${su('static')} ms (static token), ${su('oauth')} ms (OAuth token, read from the store)`);
  } finally {
    rmSync(persist, { recursive: true, force: true });
  }
  return out;
}
