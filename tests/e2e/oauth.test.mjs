// OAuth 2.1 sign-in end to end, in workerd with the OAuth Durable Object:
//  - real clients: @modelcontextprotocol/client 2.x with an OAuth provider, and
//    the Python SDK (PyPI `mcp` 2.x, tests/e2e/python_oauth.py), each registering
//    by client metadata document (CIMD, served through Miniflare's outbound
//    fetch interception) and by dynamic registration, authorizing with PKCE
//    through the sign-in page (submitted over HTTP), calling tools, refreshing,
//    and being refused after revocation;
//  - each user's own Scale key reaches only that user's Scale account (one
//    simulator per key), and operator access uses the operator's;
//  - the attacks of issues 14 and 19, each refused with nothing issued;
//  - a dataset-scale job started by an operator sign-in stops once the
//    sign-in is revoked (the jobs worker learns it from the grant's object).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { startStack, rpc, freePort, modern, simFile, taskStats } from './harness.mjs';
import { outboundRouter, metadataDocument, signIn, TestProvider, OWN_KEY, OPERATOR, USER_KEYS, REDIRECT, CIMD_HOST } from './oauth-helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const NODE22_DIR = path.join(here, '../conformance-node22');
const run = promisify(execFile);
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

let stack;
let router;
before(async () => {
  router = await outboundRouter();
  const oauthSecret = 'e2e-oauth-secret-0123456789abcdef0123';
  stack = await startStack({ vars: { OAUTH_BYOK: 'true', OAUTH_SECRET: oauthSecret }, outbound: router.handler });
  router.state.scaleBase = stack.sim.base;
  // close() fails the suite if any of these appears in a response or log line.
  Object.assign(stack.secrets, { OAUTH_SECRET: oauthSecret, USER_KEY_A: USER_KEYS.a, USER_KEY_B: USER_KEYS.b });
  for (const doc of [metadataDocument('/ts-client.json', { name: 'TS CIMD client' }), metadataDocument('/raw-client.json', { name: 'Raw client' })]) {
    router.state.documents.set(new URL(doc.clientId).pathname, doc.serve);
  }
});
after(async () => {
  await stack?.close();
  await router?.close();
});

const text = (r) => r.content.map((c) => c.text ?? '').join('\n');

/**
 * How many tools a static token with every scope is offered (the grants here hold read and
 * write, which offer the same tools), on the legacy lane or on 2026-07-28, where a client that
 * does not declare MCP Apps is not offered the annotation view's own tool.
 */
async function staticToolCount(lane = 'legacy') {
  const m = modern('tools/list');
  const r = lane === 'legacy' ? await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }) : await rpc(stack, m.body, { headers: m.headers });
  return r.json.result.tools.length;
}

/** Connects a 2.x client through the OAuth flow, signing in with `choices`. */
async function connectWithOAuth(provider, choices) {
  const first = new StreamableHTTPClientTransport(new URL(stack.mcpUrl), { authProvider: provider });
  await assert.rejects(new Client({ name: 'e2e-oauth', version: '1' }).connect(first), UnauthorizedError);
  assert.ok(provider.authorizationUrl, 'the client was sent to the sign-in page');
  const u = provider.authorizationUrl;
  assert.equal(u.origin + u.pathname, `${stack.url}/authorize`);
  assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(u.searchParams.get('resource'), stack.mcpUrl);
  const back = await signIn(u, choices);
  assert.equal(back.status, 303, back.html);
  assert.equal(back.location.origin + back.location.pathname, REDIRECT);
  assert.equal(back.location.searchParams.get('iss'), stack.url);
  assert.equal(back.location.searchParams.get('state'), u.searchParams.get('state'));
  await first.finishAuth(back.location.searchParams);
  const client = new Client({ name: 'e2e-oauth', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl), { authProvider: provider }));
  return client;
}

async function revoke(provider, token) {
  const info = provider.clientInformation();
  const body = new URLSearchParams({ token, client_id: info.client_id });
  if (info.client_secret) body.set('client_secret', info.client_secret);
  const r = await fetch(`${stack.url}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  assert.equal(r.status, 200, await r.text());
}

describe('@modelcontextprotocol/client 2.x', () => {
  test('CIMD client, own Scale key: tools, refresh, revocation', async () => {
    const provider = new TestProvider({ metadataUrl: `https://${CIMD_HOST}/ts-client.json` });
    const client = await connectWithOAuth(provider, OWN_KEY(USER_KEYS.a));
    assert.equal(provider.clientInformation().client_id, `https://${CIMD_HOST}/ts-client.json`, 'no registration: the document URL is the client id');
    assert.ok(router.state.log.includes(`https://${CIMD_HOST}/ts-client.json`), 'the worker fetched the document');
    const { tools } = await client.listTools();
    assert.equal(tools.length, await staticToolCount(), 'the tools a read+write principal is offered');
    const created = await client.callTool({ name: 'create_project', arguments: { name: 'ts-user-a', type: 'textcollection' } });
    assert.notEqual(created.isError, true, text(created));
    // The project is in user A's Scale account, not the operator's.
    assert.ok(router.sims.a.state.projects.has('ts-user-a'));
    assert.ok(!stack.sim.state.projects.has('ts-user-a'));
    assert.ok(!router.sims.b.state.projects.has('ts-user-a'));

    // Refresh: the access token stops working; the client refreshes and retries.
    const before = provider.tokens();
    provider.saveTokens({ ...before, access_token: 'smcp_at_' + 'A'.repeat(43) });
    const again = await client.callTool({ name: 'get_project', arguments: { name: 'ts-user-a' } });
    assert.notEqual(again.isError, true, text(again));
    assert.notEqual(provider.tokens().refresh_token, before.refresh_token, 'the refresh token rotated');
    assert.notEqual(provider.tokens().access_token, before.access_token);

    // Revocation ends the grant: the next call is refused and cannot refresh.
    await revoke(provider, provider.tokens().refresh_token);
    await assert.rejects(client.callTool({ name: 'list_projects', arguments: {} }));
    const direct = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: provider.tokens().access_token });
    assert.equal(direct.status, 401);
    assert.match(direct.headers.get('www-authenticate'), /error="invalid_token"/);
    await client.close();
  });

  test('dynamically registered client (client_secret_post), operator access', async () => {
    const provider = new TestProvider({ authMethod: 'client_secret_post', name: 'TS DCR client' });
    const client = await connectWithOAuth(provider, OPERATOR(stack.token));
    const info = provider.clientInformation();
    assert.match(info.client_id, /^smcp_c_/);
    assert.match(info.client_secret, /^smcp_cs_/);
    const listed = await client.callTool({ name: 'list_projects', arguments: {} });
    assert.notEqual(listed.isError, true, text(listed));
    const calls = (await stack.simRequests()).filter((r) => String(r.path).includes('projects'));
    assert.ok(calls.length > 0, 'operator access uses the operator Scale account');
    const before = provider.tokens();
    provider.saveTokens({ ...before, access_token: 'smcp_at_' + 'B'.repeat(43) });
    const again = await client.callTool({ name: 'list_projects', arguments: {} });
    assert.notEqual(again.isError, true, text(again));
    assert.notEqual(provider.tokens().refresh_token, before.refresh_token);
    await revoke(provider, provider.tokens().access_token);
    await assert.rejects(client.callTool({ name: 'list_projects', arguments: {} }));
    assert.ok(stack.logs.some((l) => l.includes('"principal":"oauth:token-1:g_')), 'the audit line names the principal by label and grant');
    await client.close();
  });
  test('a read-only grant calling a write tool gets the 403 step-up; the client asks to sign in for more', async () => {
    const provider = new TestProvider({ metadataUrl: `https://${CIMD_HOST}/ts-client.json` });
    const client = await connectWithOAuth(provider, OWN_KEY(USER_KEYS.a, ['scale:read']));
    const listed = await client.callTool({ name: 'list_projects', arguments: {} });
    assert.notEqual(listed.isError, true, text(listed));
    const token = provider.tokens().access_token;
    provider.authorizationUrl = null;
    // The SDK reads the 403's challenge and sends the user to sign in again
    // for the union of what it had and what the server asks.
    await assert.rejects(client.callTool({ name: 'create_project', arguments: { name: 'ts-step-up', type: 'textcollection' } }), UnauthorizedError);
    assert.ok(provider.authorizationUrl, 'the client was sent to sign in again');
    assert.deepEqual(provider.authorizationUrl.searchParams.get('scope').split(' ').sort(), ['scale:read', 'scale:team', 'scale:write']);
    assert.ok(!router.sims.a.state.projects.has('ts-step-up'), 'nothing reached Scale');
    // The answer itself, as the SDK saw it.
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_project', arguments: { name: 'ts-step-up', type: 'textcollection' } } };
    const r = await rpc(stack, call, { token });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.headers.get('www-authenticate'), `Bearer realm="scale-mcp", resource_metadata="${stack.url}/.well-known/oauth-protected-resource/mcp", scope="scale:read scale:write scale:team", error="insufficient_scope"`);
    assert.match(r.json.error.message, /needs the scale:write scope/);
    // In a batch it is a tool error, and a static token never gets a 403.
    const batch = await rpc(stack, [call], { token });
    assert.equal(batch.status, 200, batch.text);
    assert.equal(batch.json[0].result.isError, true);
    assert.match(batch.json[0].result.content[0].text, /scale:write/);
    await client.close();
  });
});

describe('Python SDK (mcp 2.x) OAuth client', () => {
  for (const [mode, extra] of [
    ['cimd', { metadataUrl: `https://${CIMD_HOST}/py-client.json` }],
    ['dcr', {}],
  ]) {
    test(`${mode}: sign-in, tools, refresh, revocation`, async () => {
      if (extra.metadataUrl) {
        const doc = metadataDocument('/py-client.json', { name: 'Python CIMD client', redirect: 'http://127.0.0.1:9/py-callback' });
        router.state.documents.set('/py-client.json', doc.serve);
      }
      const python = process.env.PYTHON || 'python3';
      const args = [path.join(here, 'python_oauth.py'), stack.mcpUrl, JSON.stringify({ key: USER_KEYS.b, metadata_url: extra.metadataUrl ?? null, project: `py-${mode}` })];
      const { stdout } = await run(python, args, { timeout: 120_000, maxBuffer: 4 << 20 });
      const out = JSON.parse(stdout);
      assert.equal(out.authorize.iss, stack.url);
      assert.equal(out.authorize.state_matched, true);
      assert.equal(out.client_id_kind, mode === 'cimd' ? 'document' : 'registered');
      // Python's client negotiates 2026-07-28.
      assert.equal(out.tools, await staticToolCount('modern'));
      assert.equal(out.create_project.is_error, false, JSON.stringify(out.create_project));
      assert.ok(router.sims.b.state.projects.has(`py-${mode}`), 'in user B account');
      assert.ok(!router.sims.a.state.projects.has(`py-${mode}`));
      assert.equal(out.refreshed, true, 'the SDK refreshed an expired token');
      assert.equal(out.after_refresh.is_error, false);
      assert.equal(out.revoked_status, 200);
      assert.notEqual(out.after_revoke, 'accepted');
      assert.equal(out.asked_to_sign_in_again, true, 'after revocation the only way back is signing in again');
    });
  }
});

/** A raw authorization request for the raw CIMD client, with changes. */
function authorizeUrl(changes = {}) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: `https://${CIMD_HOST}/raw-client.json`,
    redirect_uri: REDIRECT,
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    state: 'raw-state',
  });
  for (const [k, v] of Object.entries(changes)) v === null ? q.delete(k) : q.set(k, v);
  return `${stack.url}/authorize?${q}`;
}

async function exchange(code, changes = {}) {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: VERIFIER, redirect_uri: REDIRECT, client_id: `https://${CIMD_HOST}/raw-client.json` });
  for (const [k, v] of Object.entries(changes)) v === null ? body.delete(k) : body.set(k, v);
  const r = await fetch(`${stack.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: r.status, json: await r.json().catch(() => null) };
}

async function refresh(rt) {
  const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: `https://${CIMD_HOST}/raw-client.json` });
  const r = await fetch(`${stack.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: r.status, json: await r.json().catch(() => null) };
}

async function codeFor(choices = OWN_KEY(USER_KEYS.a), changes = {}) {
  const r = await signIn(authorizeUrl(changes), choices);
  assert.equal(r.status, 303, r.html);
  return r.location.searchParams.get('code');
}

describe('attacks, each refused with nothing issued', () => {
  test('discovery answers for /mcp, narrowed paths and the root; the 401 names it', async () => {
    for (const [p, resource] of [
      ['/.well-known/oauth-protected-resource/mcp', stack.mcpUrl],
      ['/.well-known/oauth-protected-resource/mcp/readonly', `${stack.mcpUrl}/readonly`],
      ['/.well-known/oauth-protected-resource', stack.url],
    ]) {
      const r = await fetch(stack.url + p);
      assert.equal(r.status, 200);
      assert.equal((await r.json()).resource, resource);
    }
    const as = await (await fetch(`${stack.url}/.well-known/oauth-authorization-server`)).json();
    assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
    assert.equal(as.authorization_response_iss_parameter_supported, true);
    const r = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: null });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp", scope="scale:read scale:write scale:team"/);
    // Static tokens keep working beside OAuth.
    assert.equal((await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' })).status, 200);
  });

  test('PKCE missing or plain is refused at /authorize (on the page); a wrong verifier at /token', async () => {
    for (const [changes, why] of [[{ code_challenge: null }, /PKCE is required/], [{ code_challenge_method: 'plain', code_challenge: VERIFIER }, /must be S256/], [{ code_challenge_method: null }, /must be S256/]]) {
      const r = await fetch(authorizeUrl(changes), { redirect: 'manual' });
      assert.equal(r.status, 400);
      assert.equal(r.headers.get('location'), null);
      const html = await r.text();
      assert.match(html, why);
      assert.match(html, /the app “Raw client” \(published by cimd\.example\.com\)/);
    }
    const code = await codeFor();
    for (const changes of [{ code_verifier: 'x'.repeat(43) }, { code_verifier: CHALLENGE }, { code_verifier: null }]) {
      const r = await exchange(code, changes);
      assert.equal(r.status, 400);
      assert.equal(r.json.error, 'invalid_grant');
      assert.equal(r.json.access_token, undefined);
    }
    assert.equal((await exchange(code)).status, 200, 'the code was not spent by the failed attempts');
  });

  test('a reused code is refused and revokes the tokens it gave', async () => {
    const code = await codeFor();
    const first = await exchange(code);
    assert.equal(first.status, 200);
    const second = await exchange(code);
    assert.equal(second.status, 400);
    assert.equal(second.json.error, 'invalid_grant');
    assert.equal((await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: first.json.access_token })).status, 401);
    assert.equal((await refresh(first.json.refresh_token)).status, 400);
  });

  test('redirect URI mismatch and open redirects get a page, never a redirect', async () => {
    for (const changes of [{ redirect_uri: 'https://evil.example/steal' }, { redirect_uri: 'http://127.0.0.1:9/callback/../x' }, { client_id: 'https://evil.example' }]) {
      const r = await fetch(authorizeUrl(changes), { redirect: 'manual' });
      assert.equal(r.status, 400);
      assert.equal(r.headers.get('location'), null);
      assert.match(r.headers.get('content-type'), /text\/html/);
    }
    const code = await codeFor();
    const r = await exchange(code, { redirect_uri: 'http://127.0.0.1:9/other' });
    assert.equal(r.json.error, 'invalid_grant');
    // The authorization request named it, so the token request must too (RFC 6749 §4.1.3).
    const without = await exchange(code, { redirect_uri: null });
    assert.equal(without.json.error, 'invalid_grant');
    assert.match(without.json.error_description, /redirect_uri/);
    assert.equal((await exchange(code)).status, 200, 'the code was not spent by the refused attempts');
  });

  test("a self-registered app's malformed request is answered on this server's page, never at its redirect URI", async () => {
    // The phishing link of issue 19: register a landing page as the redirect URI, then hand out
    // an authorization link that is wrong on purpose.
    const landing = 'https://evil.example/landing';
    const reg = await fetch(`${stack.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'Totally Scale', redirect_uris: [landing], token_endpoint_auth_method: 'none' }) });
    assert.equal(reg.status, 201);
    const { client_id: clientId } = await reg.json();
    for (const [changes, why] of [
      [{ code_challenge: null }, /PKCE is required/],
      [{ response_type: 'token' }, /response_type must be code/],
      [{ scope: 'admin' }, /None of the requested scopes exists here/],
      [{ resource: 'https://other.example/mcp' }, /resource must be an MCP URL of this server/],
      [{ state: 'x'.repeat(2049) }, /state is longer than 2048/],
    ]) {
      const url = authorizeUrl({ client_id: clientId, redirect_uri: landing, ...changes });
      for (const r of [
        await fetch(url, { redirect: 'manual' }),
        await fetch(`${stack.url}/authorize`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URL(url).search.slice(1) }),
      ]) {
        assert.equal(r.status, 400, String(why));
        assert.equal(r.headers.get('location'), null, String(why));
        assert.match(r.headers.get('content-type'), /^text\/html/);
        const html = await r.text();
        assert.match(html, why);
        assert.match(html, /The request came from the app “Totally Scale” \(self-registered here\); nothing was sent back to it\./);
      }
    }
    assert.ok(!router.state.log.some((u) => u.startsWith('https://evil.example')));
    // Once the person has answered, the app hears it: Cancel is access_denied at its redirect URI.
    const page = await fetch(authorizeUrl({ client_id: clientId, redirect_uri: landing }));
    assert.equal(page.status, 200);
    const { hiddenFields } = await import('./oauth-helpers.mjs');
    const body = new URLSearchParams(hiddenFields(await page.text()));
    body.set('action', 'deny');
    const denied = await fetch(`${stack.url}/authorize`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: page.headers.get('set-cookie').split(';')[0], origin: stack.url }, body });
    assert.equal(denied.status, 303);
    const back = new URL(denied.headers.get('location'));
    assert.equal(back.origin + back.pathname, landing);
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), 'raw-state');
  });

  test('a token for a narrowed path does not work on a wider one; foreign resources are refused', async () => {
    const code = await codeFor(OWN_KEY(USER_KEYS.a), { resource: `${stack.mcpUrl}/readonly` });
    const t = await exchange(code);
    assert.equal(t.status, 200);
    const r = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: t.json.access_token });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /error="invalid_token"/);
    const foreign = await fetch(authorizeUrl({ resource: 'https://other.example/mcp' }), { redirect: 'manual' });
    assert.equal(foreign.status, 400);
    assert.equal(foreign.headers.get('location'), null);
    assert.match(await foreign.text(), /resource must be an MCP URL of this server/);
  });

  test('refresh rotation: two refreshes at once both keep working; after the window, reuse revokes the grant', { timeout: 90_000 }, async () => {
    const t = (await exchange(await codeFor())).json;
    const list = (token) => rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token });
    // A client racing itself (two requests that both saw the access token
    // expire): both refreshes succeed with the same new pair.
    const [a, b] = await Promise.all([refresh(t.refresh_token), refresh(t.refresh_token)]);
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(b.status, 200, JSON.stringify(b.json));
    assert.deepEqual(b.json, a.json, 'the same answer');
    assert.notEqual(a.json.refresh_token, t.refresh_token);
    // Whichever answer each racer kept, its next refresh works, and so do
    // the racers' next refreshes made at once.
    const [c, d] = await Promise.all([refresh(a.json.refresh_token), refresh(b.json.refresh_token)]);
    assert.equal(c.status, 200, JSON.stringify(c.json));
    assert.equal(d.status, 200, JSON.stringify(d.json));
    assert.deepEqual(d.json, c.json);
    assert.equal((await list(c.json.access_token)).status, 200);
    assert.equal((await list(a.json.access_token)).status, 200, 'the earlier access token lives its hour');
    // Outside the 30 s window, the first token (whose successor was used)
    // means two parties hold the grant: it ends.
    await new Promise((resolve) => setTimeout(resolve, 31_000));
    const reuse = await refresh(t.refresh_token);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.json.error, 'invalid_grant');
    assert.match(reuse.json.error_description, /revoked/);
    assert.equal(reuse.json.access_token, undefined);
    assert.equal((await refresh(c.json.refresh_token)).status, 400, 'the grant is gone');
    assert.equal((await list(c.json.access_token)).status, 401);
  });

  test('CSRF: the form is refused without its cookie, with another form token, or from another site', async () => {
    const page = await fetch(authorizeUrl());
    const html = await page.text();
    const cookie = page.headers.get('set-cookie').split(';')[0];
    const { hiddenFields } = await import('./oauth-helpers.mjs');
    const fields = hiddenFields(html);
    const body = () => {
      const b = new URLSearchParams(fields);
      for (const [k, v] of OWN_KEY(USER_KEYS.a)) b.append(k, v);
      return b;
    };
    const post = (headers, b = body()) => fetch(`${stack.url}/authorize`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '198.51.100.251', ...headers }, body: b });
    const forged = body();
    forged.set('csrf', `${Math.floor(Date.now() / 1000)}.${'A'.repeat(43)}`);
    for (const [headers, b] of [[{}, body()], [{ cookie: 'smcp_csrf=AAAAAAAAAAAAAAAAAAAAAA' }, body()], [{ cookie }, forged], [{ cookie, origin: 'https://evil.example' }, body()], [{ cookie, 'sec-fetch-site': 'cross-site' }, body()]]) {
      const r = await post(headers, b);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(r.headers.get('location'), null);
    }
    const ok = await post({ cookie });
    assert.equal(ok.status, 303, 'the same form with its cookie is accepted');
  });

  test('client metadata documents at private or loopback hosts are never fetched', async () => {
    for (const id of ['https://127.0.0.1/c.json', 'https://localhost/c.json', 'https://10.1.2.3/c.json', 'https://[::1]/c.json', 'https://169.254.169.254/latest', 'http://cimd.example.com/raw-client.json']) {
      const r = await fetch(authorizeUrl({ client_id: id }), { redirect: 'manual' });
      assert.equal(r.status, 400, id);
      assert.match(await r.text(), /not allowed/);
      assert.ok(!router.state.log.some((u) => u.startsWith(id)), `${id} was fetched`);
    }
  });

  test('client metadata documents that redirect, are too large or too slow are refused', async () => {
    router.state.documents.set('/redirect.json', () => new Response(null, { status: 302, headers: { location: 'https://127.0.0.1/c.json' } }));
    router.state.documents.set('/big.json', () => new Response('x'.repeat(200_000), { headers: { 'content-type': 'application/json' } }));
    // No Content-Length: the cap must hold while streaming (8 x 16 KiB).
    router.state.documents.set('/stream.json', () => {
      let sent = 0;
      return new Response(new ReadableStream({ pull(c) { sent++ < 8 ? c.enqueue(new TextEncoder().encode(' '.repeat(16_384))) : c.close(); } }));
    });
    router.state.documents.set('/slow.json', () => new Promise((resolve) => setTimeout(() => resolve(new Response('{}')), 8000).unref()));
    for (const [p, why] of [['/redirect.json', /redirect/], ['/big.json', /larger than/], ['/stream.json', /larger than/], ['/slow.json', /did not answer/]]) {
      const started = Date.now();
      const r = await fetch(authorizeUrl({ client_id: `https://${CIMD_HOST}${p}` }), { redirect: 'manual' });
      assert.equal(r.status, 400, p);
      assert.match(await r.text(), why, p);
      assert.ok(Date.now() - started < 7000, `${p} took ${Date.now() - started} ms`);
    }
    assert.ok(!router.state.log.some((u) => u.startsWith('https://127.0.0.1')), 'the redirect was not followed');
  });

  test('metadata documents: a failed fetch is described in our words and remembered for a minute; fetches are limited per address', async () => {
    // A host whose connection is cut: the worker's fetch fails with the platform's own error
    // text, which must not reach the page. Miniflare turns a failing outbound function into an
    // HTTP 500, so this stack's outbound is a Node handler that destroys the connection.
    let cut = 0;
    const broken = await startStack({
      vars: { OAUTH_SECRET: 'e2e-oauth-secret-broken-0123456789abcd' },
      outbound: { node: (req) => { cut++; req.socket.destroy(); } },
    });
    try {
      const id = `https://${CIMD_HOST}/cut.json`;
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${broken.url}/authorize?${new URLSearchParams({ client_id: id })}`, { redirect: 'manual' });
        assert.equal(r.status, 400);
        const html = await r.text();
        assert.match(html, /The app&#39;s metadata document at https:\/\/cimd\.example\.com\/cut\.json cannot be used: it could not be fetched from cimd\.example\.com\./);
        assert.doesNotMatch(html, /internal error|reference =|Network connection|socket|ECONN/i);
      }
      assert.equal(cut, 1, 'the failure was remembered');
    } finally {
      await broken.close();
    }

    // Each address may cause 30 fetches in ten minutes.
    const ip = '203.0.113.150';
    const open = (path, from = ip) => fetch(authorizeUrl({ client_id: `https://${CIMD_HOST}${path}` }), { redirect: 'manual', headers: { 'cf-connecting-ip': from } });
    for (let i = 0; i < 30; i++) {
      const r = await open(`/missing.json?n=${i}`);
      assert.match(await r.text(), /cannot be used: it answered HTTP 404\./, `fetch ${i}`);
    }
    const sent = router.state.log.length;
    const limited = await open('/missing.json?n=last');
    assert.equal(limited.status, 400);
    assert.match(await limited.text(), /Too many app metadata documents were fetched for your network\. Try again in \d+ seconds\./);
    assert.equal(router.state.log.length, sent, 'nothing was fetched');
    // Remembered answers are not counted, and another address has its own count.
    assert.match(await (await open('/missing.json?n=1')).text(), /HTTP 404/);
    assert.match(await (await open('/missing.json?n=last', '203.0.113.151')).text(), /HTTP 404/);
    assert.equal(router.state.log.length, sent + 1);
  });

  test("user A's token never reaches user B's Scale key", async () => {
    const ta = (await exchange(await codeFor(OWN_KEY(USER_KEYS.a)))).json;
    const tb = (await exchange(await codeFor(OWN_KEY(USER_KEYS.b)))).json;
    const call = (token, name, args) => rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }, { token });
    const created = await call(tb.access_token, 'create_project', { name: 'b-private', type: 'textcollection' });
    assert.equal(created.status, 200);
    const seenByA = await call(ta.access_token, 'get_project', { name: 'b-private' });
    assert.equal(seenByA.json.result.isError, true, 'A gets a not-found from A account');
    const listedByA = await call(ta.access_token, 'list_projects', {});
    assert.ok(!JSON.stringify(listedByA.json.result.structuredContent).includes('b-private'));
    assert.ok(router.sims.b.state.projects.has('b-private'));
    // The key appears in no response, log line or stored record readable here.
    for (const line of stack.logs) for (const key of Object.values(USER_KEYS)) assert.ok(!line.includes(key));
  });

  test("each user's own Scale account has its own callback log and webhook; user A never reads B's", async () => {
    const keyA = 'e2e-callback-key-user-a-0001';
    const keyB = 'e2e-callback-key-user-b-0002';
    Object.assign(stack.secrets, { CALLBACK_KEY_A: keyA, CALLBACK_KEY_B: keyB });
    const ta = (await exchange(await codeFor([...OWN_KEY(USER_KEYS.a), ['callback_key', keyA]]))).json.access_token;
    const tb = (await exchange(await codeFor([...OWN_KEY(USER_KEYS.b), ['callback_key', keyB]]))).json.access_token;
    const call = async (token, name, args = {}) => {
      const r = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }, { token });
      assert.equal(r.status, 200, r.text);
      return r.json.result;
    };
    const hookA = (await call(ta, 'list_callbacks')).structuredContent.webhook_url;
    const hookB = (await call(tb, 'list_callbacks')).structuredContent.webhook_url;
    // `u_`, 22 characters of a keyed hash of the Scale key, and a check of 22.
    assert.match(hookA, new RegExp(`^${stack.url}/webhooks/scale/u_[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{22}$`));
    assert.notEqual(hookA, hookB);
    assert.equal((await call(stack.token, 'list_callbacks')).structuredContent.webhook_url, `${stack.url}/webhooks/scale`);
    const operatorBefore = (await call(stack.token, 'list_callbacks', { limit: 100 })).structuredContent.callbacks;

    const deliver = (url, key, task) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'scale-callback-auth': key }, body: JSON.stringify({ task_id: task, status: 'completed', task: { task_id: task, status: 'completed' } }) });
    // Wrong keys (none, B's, the operator's) are refused; nothing is stored.
    for (const key of ['not-the-key', keyB, stack.secrets.SCALE_CALLBACK_AUTH_KEY]) assert.equal((await deliver(hookA, key, 'task_wrong')).status, 401);
    assert.equal((await deliver(`${stack.url}/webhooks/scale/u_AAAAAAAAAAAAAAAAAAAAAA`, keyA, 'task_wrong')).status, 404);
    // A's id with its check changed is nobody's.
    assert.equal((await deliver(`${hookA.slice(0, -4)}AAAA`, keyA, 'task_wrong')).status, 404);
    assert.equal((await deliver(hookA, keyA, 'task_of_a')).status, 200);
    assert.equal((await deliver(hookB, keyB, 'task_of_b')).status, 200);

    const tasks = async (token) => (await call(token, 'list_callbacks', { limit: 100 })).structuredContent.callbacks.map((c) => c.task_id);
    assert.deepEqual(await tasks(ta), ['task_of_a']);
    assert.deepEqual(await tasks(tb), ['task_of_b']);
    // The operator's log is as it was.
    assert.deepEqual((await call(stack.token, 'list_callbacks', { limit: 100 })).structuredContent.callbacks, operatorBefore);
    // By id, and as resources: A's delivery is invisible to B and the operator.
    const idA = (await call(ta, 'list_callbacks')).structuredContent.callbacks[0].id;
    assert.notEqual((await call(ta, 'get_callback', { id: idA })).isError, true);
    assert.equal((await call(tb, 'get_callback', { id: idA })).isError, true);
    assert.equal((await call(stack.token, 'get_callback', { id: idA })).isError, true);
    const resources = async (token) => (await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'resources/list' }, { token })).text;
    assert.ok((await resources(ta)).includes(idA));
    assert.ok(!(await resources(tb)).includes(idA));
    // A's creates default to A's webhook, in A's Scale account.
    assert.notEqual((await call(ta, 'create_project', { name: 'tenant-p', type: 'textcollection' })).isError, true);
    const created = await call(ta, 'create_task', { type: 'textcollection', project: 'tenant-p', instruction: 'x', params: {}, unique_id: 'tenant-default-cb' });
    assert.notEqual(created.isError, true, JSON.stringify(created));
    const sent = [...router.sims.a.state.tasks.values()].find((t) => t.unique_id === 'tenant-default-cb');
    assert.equal(sent?.callback_url, hookA);

    // The annotation view's attachment tool reads a task as get_task does: B's
    // key reads B's account, where A's task does not exist, so B is refused in
    // get_task's words and the attachment is never asked for; A's call reaches for it.
    assert.notEqual((await call(ta, 'create_project', { name: 'tenant-img', type: 'imageannotation' })).isError, true);
    const image = await call(ta, 'create_task', { type: 'imageannotation', project: 'tenant-img', attachment: 'https://images.example/tenant-a.png', params: { geometries: {} } });
    const aTask = image.structuredContent.task_id;
    const mark = router.state.log.length;
    const refused = await call(tb, 'get_task_attachment', { task_id: aTask });
    assert.equal(refused.isError, true);
    assert.equal(refused.content[0].text, (await call(tb, 'get_task', { task_id: aTask })).content[0].text);
    assert.match(refused.content[0].text, /404/);
    assert.ok(!router.state.log.slice(mark).some((u) => u.includes('images.example')), router.state.log.slice(mark).join('\n'));
    const own = await call(ta, 'get_task_attachment', { task_id: aTask });
    assert.ok(router.state.log.slice(mark).includes('https://images.example/tenant-a.png'), JSON.stringify(own));
  });

  test('operator sign-in attempts are rate limited per address', async () => {
    const ip = '203.0.113.77';
    for (let i = 0; i < 10; i++) {
      const r = await signIn(authorizeUrl(), OPERATOR('not-an-operator-token-000'), { ip });
      assert.equal(r.status, 401);
      assert.match(r.html, /not one of this server(&#39;|')s access tokens/);
    }
    const r = await signIn(authorizeUrl(), OPERATOR(stack.token), { ip });
    assert.equal(r.status, 429);
    assert.match(r.html, /Try again in \d+ seconds/);
    assert.equal(r.location, null);
  });

  test('refresh and access tokens cannot stand in for each other, and garbage is refused', async () => {
    const t = (await exchange(await codeFor())).json;
    assert.equal((await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: t.refresh_token })).status, 401);
    assert.equal((await refresh(t.access_token)).json.error, 'invalid_grant');
    assert.equal((await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: 'smcp_at_' + 'z'.repeat(43) })).status, 401);
    // A real token's random part with another check: refused as no token of this server.
    const forged = `${t.access_token.slice(0, -22)}${'z'.repeat(22)}`;
    const r = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: forged });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /not an access token of this server/);
  });
});

describe('the OAuth store failing', () => {
  // Every route that needs the store, with the server key kept in it (no
  // OAUTH_SECRET), so each one's first store call is the one that fails.
  const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  const routes = [
    ['POST', '/mcp', { authorization: `Bearer smcp_at_${'A'.repeat(43)}`, 'content-type': 'application/json' }, ping],
    ['GET', `/authorize?response_type=code&client_id=smcp_c_x&code_challenge=${CHALLENGE}&code_challenge_method=S256`, {}, undefined],
    ['POST', '/token', { 'content-type': 'application/x-www-form-urlencoded' }, 'grant_type=refresh_token&refresh_token=x&client_id=y'],
    ['POST', '/register', { 'content-type': 'application/json' }, JSON.stringify({ redirect_uris: [REDIRECT] })],
    ['POST', '/revoke', { 'content-type': 'application/x-www-form-urlencoded' }, 'token=x'],
    ['GET', '/oauth/grants', {}, undefined],
    ['POST', '/webhooks/scale/u_AAAAAAAAAAAAAAAAAAAAAA', { 'content-type': 'application/json', 'scale-callback-auth': 'some-callback-key-0000' }, '{}'],
  ];
  for (const [how, cls] of [
    ['throws', 'fetch() { throw new Error("the store broke"); }'],
    ['never answers', 'fetch() { return new Promise(() => {}); }'],
  ]) {
    test(`a store that ${how}: every route answers the worker's own logged 503 with Retry-After`, { timeout: 90_000 }, async () => {
      const s = await startStack({
        vars: { OAUTH_BYOK: 'true' },
        oauthStore: `export class OAuthStore { ${cls} } export default { fetch() { return new Response(null, { status: 404 }); } };`,
      });
      try {
        const answers = await Promise.all(
          routes.map(async ([method, p, headers, body]) => {
            const r = await fetch(s.url + p, { method, headers, body, signal: AbortSignal.timeout(30_000) });
            return { p, status: r.status, retry: r.headers.get('retry-after'), text: await r.text() };
          }),
        );
        for (const a of answers) {
          assert.equal(a.status, 503, `${a.p}: ${a.text.slice(0, 200)}`);
          assert.ok(Number(a.retry) > 0, a.p);
          assert.doesNotMatch(a.text, /the store broke|internal error/, a.p);
        }
        // Static tokens need no store.
        assert.equal((await rpc(s, JSON.parse(ping))).status, 200);
        const logged = (method, p) => s.logs.some((l) => l.startsWith(`${method} ${p.split('?')[0]} -> 503 `) && l.includes('the OAuth store failed'));
        const deadline = Date.now() + 5000;
        while (!routes.every(([m, p]) => logged(m, p)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        for (const [m, p] of routes) assert.ok(logged(m, p), `${m} ${p} in:\n${s.logs.slice(-12).join('\n')}`);
        assert.ok(!s.logs.some((l) => /uncaught|exception/i.test(l)), s.logs.join('\n'));
      } finally {
        await s.close();
      }
    });
  }
});

describe('MCP conformance suite 0.2, authorization server scenarios', () => {
  // The installed 0.1.16 has authorization scenarios for clients only; 0.2 tests an
  // authorization server: its metadata, and a whole code grant (PKCE, resource) for a
  // registered client, completed here as the browser would.
  test('authorization-server-metadata-endpoint and authorization-code-grant pass', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const redirect = `http://127.0.0.1:${port}/callback`;
    const reg = await fetch(`${stack.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'conformance suite', redirect_uris: [redirect], token_endpoint_auth_method: 'none' }) });
    assert.equal(reg.status, 201);
    const { client_id: clientId } = await reg.json();
    const cli = path.join(NODE22_DIR, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
    const node = path.join(NODE22_DIR, 'node_modules/node/bin/node');
    const child = spawn(node, [cli, 'authorization', '--url', stack.url, '--client-id', clientId, '--resource', stack.mcpUrl, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let browsed = null;
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)$/m.exec(out);
      if (m && !browsed) {
        // The suite waits for its callback: sign in with operator access and follow the redirect.
        browsed = (async () => {
          const back = await signIn(new URL(m[1]), OPERATOR(stack.token));
          assert.equal(back.status, 303, back.html);
          assert.equal(back.location.origin + back.location.pathname, redirect);
          assert.equal((await fetch(back.location)).status, 200);
        })();
      }
    });
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.ok(browsed, `the suite printed no authorization URL:\n${out}`);
    await browsed;
    assert.match(out, /authorization-server-metadata-endpoint: 2 passed, 0 failed/, out);
    assert.match(out, /authorization-code-grant: 1 passed, 0 failed/, out);
    assert.match(out, /Total: 3 passed, 0 failed/, out);
    assert.equal(code, 0, out);
  });
});

describe('a dataset-scale job of a signed-in user', () => {
  test('a sign-in with the user\'s own Scale key cannot start one, and is told why', async () => {
    const t = await exchange(await codeFor(OWN_KEY(USER_KEYS.a)));
    assert.equal(t.status, 200, JSON.stringify(t.json));
    const V2 = '2026-07-28';
    const args = { type: 'imageannotation', idempotency_key: 'own-key-job', items_url: 'https://bucket.example/m.jsonl' };
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_tasks', arguments: args, _meta: { 'io.modelcontextprotocol/protocolVersion': V2, 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } } } };
    const r = await rpc(stack, body, { token: t.json.access_token, headers: { 'mcp-protocol-version': V2, 'mcp-method': 'tools/call', 'mcp-name': 'create_tasks' } });
    assert.equal(r.json?.result?.isError, true, JSON.stringify(r.json));
    assert.match(r.json.result.content[0].text, /^Jobs run with the operator's Scale key, and this sign-in uses your own key/);
    assert.equal(r.json.result.resultType, 'complete', 'a refusal, not a task');
  });

  test('revoking the operator sign-in that started a job stops it before its next chunk', async () => {
    const code = await codeFor(OPERATOR(stack.token, ['scale:read', 'scale:write']));
    const t = await exchange(code);
    assert.equal(t.status, 200, JSON.stringify(t.json));
    const { access_token: at, refresh_token: rt } = t.json;
    await stack.simControl('seed', { projects: [{ name: 'oauth-jobs', type: 'imageannotation' }] });
    await stack.simControl('config', { latency: [{ method: 'POST', pattern: 'task/*', ms: 300 }] });
    try {
      const file = await simFile(stack, 'm/oauth-job.jsonl', { generate: { lines: 400, template: { attachment: 'https://img.example/oauth-{i}.png' } } });
      const V2 = '2026-07-28';
      const EXT = 'io.modelcontextprotocol/tasks';
      const args = { type: 'imageannotation', project: 'oauth-jobs', idempotency_key: 'oauth-job-1', items_url: file.url };
      const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_tasks', arguments: args, _meta: { 'io.modelcontextprotocol/protocolVersion': V2, 'io.modelcontextprotocol/clientCapabilities': { extensions: { [EXT]: {} } } } } };
      const r = await rpc(stack, body, { token: at, headers: { 'mcp-protocol-version': V2, 'mcp-method': 'tools/call', 'mcp-name': 'create_tasks' } });
      assert.equal(r.json?.result?.resultType, 'task', JSON.stringify(r.json));
      const created = async () => (await taskStats(stack, { project: 'oauth-jobs' })).tasks;
      for (let i = 0; i < 300 && (await created()) < 10; i++) await new Promise((ok) => setTimeout(ok, 100));
      assert.ok((await created()) >= 10, 'the job runs as the signed-in user');
      const revoked = await fetch(`${stack.url}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: rt, client_id: `https://${CIMD_HOST}/raw-client.json` }) });
      assert.equal(revoked.status, 200, await revoked.text());
      const ended = () => stack.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.event === 'job_end' && l.principal.startsWith('oauth:'));
      for (let i = 0; i < 200 && !ended(); i++) await new Promise((ok) => setTimeout(ok, 100));
      const end = ended();
      assert.ok(end, 'the job ended');
      assert.equal(end.outcome, 'failed');
      // Chunks already under way when the job stopped (a batch's messages run
      // side by side) finish their creates; nothing starts after them.
      await new Promise((ok) => setTimeout(ok, 1_500));
      const settled = await created();
      await new Promise((ok) => setTimeout(ok, 1_500));
      assert.equal(await created(), settled, 'nothing more is created');
      assert.ok(settled < 400, `${settled} of 400 created before the revocation stopped it`);
    } finally {
      await stack.simControl('config', { latency: [] });
    }
  });
});
