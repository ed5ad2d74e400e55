// The OAuth sign-in page (`/authorize`) in a real browser: Debian's Chromium
// driven by playwright-core (tests/e2e/browser.mjs), against the built worker
// in workerd with its OAuth Durable Object. Client metadata documents come
// through Miniflare's outbound interception (tests/e2e/oauth-helpers.mjs);
// the client's redirect URI is a loopback server this test runs, so the
// browser really arrives there and the test reads what it brought.
//
// It checks that the page loads without console errors or CSP violations,
// that its CSP forbids every script (an injected one is blocked and reported),
// that outside values cannot inject markup, that a client's name loses the
// invisible format characters that could make it read as another app's and
// the redirect host stands right under it, that a person can sign in with the
// keyboard alone (Tab, Space, arrow keys for the radio group, Enter), that
// every mistake a person can make is shown on the page with nothing issued,
// that cross-site and stale submissions are refused, that a malformed request
// (the phishing link of a self-registered client) stays on this server's error
// page, and that the redirect back carries `code`, `state` and `iss` and the
// code buys a working token.
// The grants page is driven once too: sign in, see the connection, revoke it.
// Screenshots at desktop and phone width go to tests/e2e/screenshots/.
//
// Run: node --test tests/e2e/browser-oauth.test.mjs   (after `npm run build`;
// needs `bash scripts/setup.sh --test` once for Chromium)

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { openBrowser, DESKTOP, PHONE } from './browser.mjs';
import { startStack, rpc } from './harness.mjs';
import { outboundRouter, metadataDocument, USER_KEYS, CIMD_HOST } from './oauth-helpers.mjs';

const OAUTH_SECRET = 'browser-oauth-secret-0123456789abcdef01';
// Two static tokens: one with every scope, one that may only read.
const OPS = { label: 'ops', token: 'browser-ops-token-6d1f2a9c8e', scopes: ['scale:read', 'scale:write', 'scale:team'] };
const READER = { label: 'reader', token: 'browser-reader-token-47c0b2e5', scopes: ['scale:read'] };
const ALL_SCOPES = 'scale:read scale:write scale:team';
const CLIENT = '/browser-client.json';
const HOSTILE = '/hostile-client.json';
// Markup in a client's self-chosen name: shown as text, never run.
const HOSTILE_NAME = '<script>document.title="pwned"</script><img src=x onerror="document.title=1">';
const SPOOF = '/spoof-client.json';
// "Claude" spelt backwards behind a right-to-left override, with zero-width and
// other invisible format characters (Unicode Cf) around it: rendered, it reads
// "Claude Official". The page shows it with those characters taken out.
const SPOOF_NAME = '\u202Eedualc\u202C\u200B Official\u2066\u200D\uFEFF\u{E0041}';

let stack;
let router;
let callback; // the client's loopback redirect target
let ipSeq = 0;

/** Requests that reached the client's redirect URI: {path, query}. */
const arrived = [];

before(async () => {
  router = await outboundRouter();
  stack = await startStack({
    vars: { OAUTH_BYOK: 'true', OAUTH_SECRET, MCP_AUTH_TOKEN: JSON.stringify([OPS, READER]) },
    outbound: router.handler,
  });
  router.state.scaleBase = stack.sim.base;
  // close() fails the suite if any of these appears in a response or log line.
  Object.assign(stack.secrets, { OAUTH_SECRET, USER_KEY_A: USER_KEYS.a, USER_KEY_B: USER_KEYS.b });
  // Registered on port 9: loopback redirect URIs match on any port (RFC 8252 §7.3),
  // so the browser is sent to the port the callback server below listens on.
  const docs = [
    [CLIENT, metadataDocument(CLIENT, { name: 'Browser test client', redirect: 'http://127.0.0.1:9/callback' })],
    [HOSTILE, metadataDocument(HOSTILE, { name: HOSTILE_NAME, redirect: 'http://127.0.0.1:9/callback' })],
    [SPOOF, metadataDocument(SPOOF, { name: SPOOF_NAME, redirect: 'https://claude.ai.evil.example/api/mcp/auth_callback' })],
  ];
  for (const [p, doc] of docs) router.state.documents.set(p, doc.serve);

  callback = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const headers = { 'content-security-policy': "default-src 'none'", 'cache-control': 'no-store' };
    if (url.pathname === '/favicon.ico') return res.writeHead(204, headers).end();
    if (url.pathname === '/forged') {
      // A page of another origin posting a copy of the sign-in form (see the CSRF test).
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      return res.end(forgedPage);
    }
    arrived.push({ path: url.pathname, query: Object.fromEntries(url.searchParams) });
    res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
    return res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Back in the app</title></head><body><p>Signed in.</p></body></html>');
  });
  await new Promise((resolve) => callback.listen(0, '127.0.0.1', resolve));
  callback.base = `http://127.0.0.1:${callback.address().port}`;
});

after(async () => {
  callback?.closeAllConnections();
  if (callback) await new Promise((resolve) => callback.close(resolve));
  await stack?.close();
  await router?.close();
});

let forgedPage = '';

/** A PKCE verifier and its S256 challenge. */
function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** An authorization request of the browser test client; `changes` set (or, with null, remove) parameters. */
function authorization(changes = {}) {
  const { verifier, challenge } = pkce();
  const state = `st-${randomBytes(6).toString('hex')}`;
  const redirect = `${callback.base}/callback`;
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: `https://${CIMD_HOST}${CLIENT}`,
    redirect_uri: redirect,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    scope: ALL_SCOPES,
    resource: stack.mcpUrl,
  });
  for (const [k, v] of Object.entries(changes)) v === null ? q.delete(k) : q.set(k, v);
  return { url: `${stack.url}/authorize?${q}`, verifier, state, redirect, clientId: q.get('client_id') };
}

/** Opens a browser whose requests come from an address of their own (sign-ins are rate limited per address). */
async function browser(options) {
  const b = await openBrowser(options);
  // Cloudflare sets this header; in workerd the test sets it, one documentation address per browser.
  await b.context.setExtraHTTPHeaders({ 'cf-connecting-ip': `192.0.2.${++ipSeq}` });
  return b;
}

/** CSP directives by name: {name: [sources]}. */
function directives(csp) {
  return Object.fromEntries(
    csp.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
      const [name, ...sources] = d.split(/\s+/);
      return [name, sources];
    }),
  );
}

const codesIssued = () => stack.logs.filter((l) => l.includes('oauth: code issued')).length;

/**
 * Submits the sign-in form (or another form posting to `action`) with
 * `press` (a click or a key) and resolves the
 * answer to the POST: {status, headers} of the re-rendered page, or of the
 * 303 when the browser went on to the client's redirect URI.
 */
async function submit(page, press, action = '/authorize') {
  const posted = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === action);
  const done = page.waitForNavigation();
  await press();
  const req = await posted;
  await done;
  // On a redirect the browser moved on; the POST's answer is the 303 itself.
  const res = await req.response();
  return { status: res.status(), headers: await res.allHeaders(), postData: req.postData() };
}

/** The message the page shows after a mistake. */
const problem = (page) => page.locator('#problem[role=alert]').textContent();

/** Exchanges a code at /token as the public client. */
async function exchange(a, code) {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: a.verifier, redirect_uri: a.redirect, client_id: a.clientId });
  const r = await fetch(`${stack.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: r.status, json: await r.json() };
}

/**
 * After a page answered with an error status, Chromium logs one console
 * error for it ("Failed to load resource: ... status of N"). That line is the
 * browser reporting the status, not the page misbehaving: anything else fails.
 */
function assertCleanBut(b, statuses) {
  const expected = (c) => statuses.some((s) => new RegExp(`^Failed to load resource: the server responded with a status of ${s}\\b`).test(c.text));
  const other = b.consoleErrors.filter((c) => !expected(c));
  assert.deepEqual(other, [], b.problems().join('\n'));
  assert.deepEqual(b.pageErrors, []);
  assert.deepEqual(b.cspViolations, []);
}

/** Presses Tab until `selector` has focus; returns the ids focused on the way. */
async function tabTo(page, selector, max = 25) {
  const path = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const here = await page.evaluate((sel) => ({ id: document.activeElement?.id || document.activeElement?.tagName, match: document.activeElement?.matches(sel) ?? false }), selector);
    path.push(here.id);
    if (here.match) return path;
  }
  throw new Error(`Tab never reached ${selector}; focus went ${path.join(' → ')}`);
}

describe('the sign-in page in Chromium', { timeout: 180_000 }, () => {
  test('loads clean under a CSP that allows no script; an injected script is blocked and reported', async () => {
    const b = await browser();
    try {
      const { page } = b;
      const seen = [];
      page.on('request', (r) => seen.push(r.url()));
      const a = authorization();
      const res = await page.goto(a.url);
      assert.equal(res.status(), 200);
      const h = await res.allHeaders();
      const csp = directives(h['content-security-policy']);
      assert.deepEqual(csp['default-src'], ["'none'"]);
      assert.equal(csp['script-src'], undefined, 'no script-src: scripts fall under default-src none');
      assert.equal(csp['style-src'].length, 1);
      assert.match(csp['style-src'][0], /^'sha256-[A-Za-z0-9+/]{43}='$/, 'the one stylesheet, by its hash');
      assert.deepEqual(csp['form-action'], ["'self'", callback.base], 'the form may lead here and to the redirect URI');
      assert.deepEqual(csp['frame-ancestors'], ["'none'"]);
      assert.deepEqual(csp['base-uri'], ["'none'"]);
      assert.doesNotMatch(h['content-security-policy'], /unsafe|\*|data:/);
      assert.equal(h['x-frame-options'], 'DENY');
      assert.equal(h['referrer-policy'], 'same-origin', 'no-referrer would make the browser send Origin: null with the form');
      assert.equal(h['cache-control'], 'no-store');
      assert.match(h['set-cookie'], /^smcp_csrf=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=3600$/);

      // The page itself: no script or handler of any kind, nothing loaded from elsewhere,
      // and its stylesheet applied (so the hash in the CSP is the stylesheet's).
      const dom = await page.evaluate(() => ({
        scripts: document.scripts.length,
        handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((x) => /^on/i.test(x.name)).map((x) => x.name)),
        external: document.querySelectorAll('link, img, iframe, object, embed, video, audio, source').length,
        mainWidth: getComputedStyle(document.querySelector('main')).maxWidth,
        h1: document.querySelector('h1').textContent,
        to: document.querySelector('h1 + p.to')?.textContent,
        text: document.body.innerText,
        checked: [...document.querySelectorAll('input[type=checkbox]:checked')].map((e) => e.value),
        method: document.querySelector('input[name=method]:checked')?.value,
        form: { action: document.forms[0].getAttribute('action'), method: document.forms[0].getAttribute('method') },
      }));
      assert.equal(dom.scripts, 0);
      assert.deepEqual(dom.handlers, []);
      assert.equal(dom.external, 0);
      assert.equal(dom.mainWidth, '576px', 'the inline stylesheet was applied');
      assert.equal(dom.h1, 'Allow Browser test client to use Scale through this server?');
      assert.equal(dom.to, `It will send you back to ${callback.base}`, 'where the browser goes, right under the name');
      assert.ok(dom.text.includes(`published at https://${CIMD_HOST}${CLIENT} by ${CIMD_HOST}`), dom.text);
      assert.ok(dom.text.includes(`your browser goes back to ${a.redirect}`), 'the page names where it will redirect');
      assert.ok(dom.text.includes(`Access is for ${stack.mcpUrl}`));
      assert.deepEqual(dom.checked, ['scale:read', 'scale:write', 'scale:team'], 'every scope asked for, ticked at first');
      assert.equal(dom.method, 'own_key');
      assert.deepEqual(dom.form, { action: '/authorize', method: 'post' });
      const offSite = seen.filter((u) => !u.startsWith(`${stack.url}/`));
      assert.deepEqual(offSite, [], 'the page loaded nothing from anywhere else');

      await b.screenshot(page, 'oauth-sign-in-desktop', DESKTOP);
      await b.screenshot(page, 'oauth-sign-in-phone', PHONE);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);

      // An inline script and an inline stylesheet put into the page (as an
      // injection would) are blocked and reported. Violations arrive in
      // order, so once these are in, none came earlier from the page itself.
      await page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = "document.body.dataset.injected = 'ran';";
        document.body.append(s);
        const st = document.createElement('style');
        st.textContent = 'main { max-width: 1px !important }';
        document.head.append(st);
      });
      await b.waitFor(() => b.cspViolations.length >= 2);
      assert.deepEqual(b.cspViolations.map((v) => [v.effectiveDirective, v.blockedURI, v.disposition]), [
        ['script-src-elem', 'inline', 'enforce'],
        ['style-src-elem', 'inline', 'enforce'],
      ]);
      assert.equal(await page.evaluate(() => document.body.dataset.injected), undefined, 'the injected script did not run');
      assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('main')).maxWidth), '576px');
      assert.deepEqual(b.pageErrors, []);
      // Chromium also logs each blocked element, and nothing else.
      await b.waitFor(() => b.consoleErrors.length >= 2);
      assert.equal(b.consoleErrors.length, 2, b.problems().join('\n'));
      for (const c of b.consoleErrors) assert.match(c.text, /violates the following Content Security Policy directive/);
    } finally {
      await b.close();
    }
  });

  test("a client's name with markup is shown as text", async () => {
    const b = await browser();
    try {
      const { page } = b;
      const res = await page.goto(authorization({ client_id: `https://${CIMD_HOST}${HOSTILE}` }).url);
      assert.equal(res.status(), 200);
      assert.equal(await page.locator('h1 strong').textContent(), HOSTILE_NAME);
      assert.equal(await page.title(), 'Sign in to Scale MCP');
      assert.equal(await page.evaluate(() => document.querySelectorAll('script, img').length), 0);
      assert.deepEqual(b.problems(), []);
    } finally {
      await b.close();
    }
  });

  test("a name built from invisible format characters is shown without them, and the redirect host stands right under it", async () => {
    const b = await browser();
    try {
      const { page } = b;
      const res = await page.goto(authorization({ client_id: `https://${CIMD_HOST}${SPOOF}`, redirect_uri: 'https://claude.ai.evil.example/api/mcp/auth_callback' }).url);
      assert.equal(res.status(), 200);
      const shown = await page.evaluate(() => {
        const h1 = document.querySelector('h1');
        const to = h1.nextElementSibling;
        const px = (e) => parseFloat(getComputedStyle(e).fontSize);
        return { name: h1.querySelector('strong').textContent, to: to.textContent, toClass: to.className, host: to.querySelector('strong').textContent, big: px(to) > px(document.querySelector('.card p')) };
      });
      assert.equal(shown.name, 'edualc Official', 'no override, zero-width or tag character is left');
      assert.ok(![...shown.name].some((c) => /\p{Cf}/u.test(c)));
      assert.equal(shown.toClass, 'to');
      assert.equal(shown.to, 'It will send you back to claude.ai.evil.example');
      assert.equal(shown.host, 'claude.ai.evil.example');
      assert.ok(shown.big, 'the host is set larger than the text below it');
      await b.screenshot(page, 'oauth-sign-in-spoofed-name-desktop', DESKTOP);
      assert.deepEqual(b.problems(), []);
    } finally {
      await b.close();
    }
  });

  test('keyboard only: operator access with fewer scopes, Enter submits; back with code, state and iss', async () => {
    const b = await browser();
    try {
      const { page } = b;
      const a = authorization();
      await page.goto(a.url);
      // The whole tab order: scopes, the chosen method (a radio group is one
      // stop), its fields, the other method's field, the buttons, the grants link.
      const order = await tabTo(page, 'a[href="/oauth/grants"]');
      assert.deepEqual(order, [
        'grant_scope_scale_read', 'grant_scope_scale_write', 'grant_scope_scale_team',
        'm_own_key', 'scale_key', 'callback_key', 'billed_yes', 'operator_token', 'BUTTON', 'BUTTON', 'A',
      ]);
      // Focus is visible where it is.
      assert.equal(await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle), 'solid');

      await page.keyboard.press('Shift+Tab'); // Cancel
      await page.keyboard.press('Shift+Tab'); // Allow access
      assert.equal(await page.evaluate(() => document.activeElement.value), 'approve');
      await page.goto(a.url); // start again from the top of the page
      assert.deepEqual(await tabTo(page, '#grant_scope_scale_write'), ['grant_scope_scale_read', 'grant_scope_scale_write']);
      await page.keyboard.press('Space'); // untick write
      await page.keyboard.press('Tab');
      await page.keyboard.press('Space'); // untick team
      await page.keyboard.press('Tab'); // the method radio group, on "own key"
      assert.equal(await page.evaluate(() => document.activeElement.id), 'm_own_key');
      await page.keyboard.press('ArrowDown'); // the radio group's keys: select "operator"
      assert.equal(await page.evaluate(() => document.activeElement.id), 'm_operator');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'operator_token');
      await page.keyboard.type(OPS.token);
      await b.screenshot(page, 'oauth-sign-in-filled-desktop', DESKTOP);
      const before = arrived.length;
      const sent = await submit(page, () => page.keyboard.press('Enter'));

      assert.equal(sent.status, 303);
      const back = new URL(sent.headers.location);
      assert.equal(back.origin + back.pathname, a.redirect);
      assert.match(back.searchParams.get('code'), /^smcp_ac_[A-Za-z0-9_-]{43}$/);
      assert.equal(back.searchParams.get('state'), a.state);
      assert.equal(back.searchParams.get('iss'), stack.url);
      assert.deepEqual([...back.searchParams.keys()].sort(), ['code', 'iss', 'state']);
      // The browser arrived at the client with exactly that.
      assert.equal(page.url(), back.href);
      assert.equal(arrived.length, before + 1);
      assert.deepEqual(arrived.at(-1), { path: '/callback', query: Object.fromEntries(back.searchParams) });
      // What the form sent: the method, the token, one scope, and the submit button's value.
      const fields = new URLSearchParams(sent.postData);
      assert.equal(fields.get('method'), 'operator');
      assert.deepEqual(fields.getAll('grant_scope'), ['scale:read']);
      assert.equal(fields.get('action'), 'approve');

      const t = await exchange(a, back.searchParams.get('code'));
      assert.equal(t.status, 200, JSON.stringify(t.json));
      assert.equal(t.json.scope, 'scale:read', 'only what was left ticked');
      const call = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_projects', arguments: {} } }, { token: t.json.access_token });
      assert.equal(call.status, 200);
      assert.notEqual(call.json.result.isError, true, call.text);
      assert.deepEqual(b.problems(), []);
    } finally {
      await b.close();
    }
  });

  test('keyboard only: own Scale key, Space on "Allow access"; Enter on Cancel sends access_denied', async () => {
    const b = await browser({ viewport: PHONE });
    try {
      const { page } = b;
      const a = authorization({ scope: 'scale:read scale:write' });
      await page.goto(a.url);
      await tabTo(page, '#scale_key');
      await page.keyboard.type(USER_KEYS.a);
      await tabTo(page, 'button[value=approve]');
      const sent = await submit(page, () => page.keyboard.press('Space'));
      assert.equal(sent.status, 303);
      const back = new URL(sent.headers.location);
      assert.equal(back.searchParams.get('state'), a.state);
      assert.equal(back.searchParams.get('iss'), stack.url);
      const t = await exchange(a, back.searchParams.get('code'));
      assert.equal(t.status, 200);
      assert.equal(t.json.scope, 'scale:read scale:write');
      const created = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_project', arguments: { name: 'browser-user-a', type: 'textcollection' } } }, { token: t.json.access_token });
      assert.notEqual(created.json.result.isError, true, created.text);
      assert.ok(router.sims.a.state.projects.has('browser-user-a'), "in the user's own Scale account");

      const c = authorization();
      await page.goto(c.url);
      await tabTo(page, 'button[value=deny]');
      const before = codesIssued();
      const denied = await submit(page, () => page.keyboard.press('Enter'));
      assert.equal(denied.status, 303);
      const no = new URL(denied.headers.location);
      assert.equal(no.origin + no.pathname, c.redirect);
      assert.equal(no.searchParams.get('error'), 'access_denied');
      assert.equal(no.searchParams.get('state'), c.state);
      assert.equal(no.searchParams.get('iss'), stack.url);
      assert.equal(no.searchParams.get('code'), null);
      assert.equal(codesIssued(), before, 'nothing issued on Cancel');
      assert.deepEqual(b.problems(), []);
    } finally {
      await b.close();
    }
  });

  test('every mistake a person can make is shown on the page, with nothing issued; then the same page works', async () => {
    const b = await browser();
    try {
      const { page } = b;
      const a = authorization();
      await page.goto(a.url);
      const issued = codesIssued();
      const reached = arrived.length;
      const statuses = new Set();

      /** Sets the form as given (scopes ticked, method, fields), submits with a click, checks the answer. */
      async function mistake({ scopes = ['scale:read'], method = 'own_key', fields = {} }, status, message, shot) {
        for (const sc of ['scale:read', 'scale:write', 'scale:team']) await page.setChecked(`#grant_scope_${sc.replace(':', '_')}`, scopes.includes(sc));
        await page.check(`#m_${method}`);
        for (const id of ['scale_key', 'callback_key', 'operator_token']) await page.fill(`#${id}`, fields[id] ?? '');
        const sent = await submit(page, () => page.click('button[value=approve]'));
        assert.equal(sent.status, status, message);
        assert.equal(await problem(page), message);
        statuses.add(status);
        // The page again, as the person left it, minus every secret they typed.
        const state = await page.evaluate(() => ({
          scopes: [...document.querySelectorAll('input[name=grant_scope]:checked')].map((e) => e.value),
          method: document.querySelector('input[name=method]:checked').value,
          secrets: [...document.querySelectorAll('input[type=password]')].map((e) => e.value),
          html: document.documentElement.outerHTML,
        }));
        assert.deepEqual(state.scopes, scopes);
        assert.equal(state.method, method);
        assert.deepEqual(state.secrets, ['', '', '']);
        for (const v of Object.values(fields)) if (v.trim()) assert.ok(!state.html.includes(v.trim()), `the page shows what was typed: ${v}`);
        if (shot) await b.screenshot(page, shot, DESKTOP);
      }

      await mistake({ scopes: [] }, 400, 'Choose at least one permission, or press Cancel.', 'oauth-sign-in-error-desktop');
      await mistake({ method: 'own_key' }, 400, 'Enter your Scale API key.');
      await mistake({ method: 'operator' }, 400, "Enter an access token from this server's operator.");
      await mistake({ method: 'operator', fields: { operator_token: 'not-an-operator-token-0000' } }, 401, "That is not one of this server's access tokens.");
      await mistake({ scopes: ['scale:write', 'scale:team'], method: 'operator', fields: { operator_token: READER.token } }, 403, 'That access token allows none of the permissions you chose.');
      await mistake({ fields: { scale_key: 'my scale key' } }, 400, 'That does not look like a Scale API key: it starts with live_ or test_ and has no spaces.');
      await mistake({ fields: { scale_key: 'sk_live_1234567890' } }, 400, 'That does not look like a Scale API key: it starts with live_ or test_ and has no spaces.');
      await mistake({ fields: { scale_key: USER_KEYS.a, callback_key: 'two words' } }, 400, 'The callback auth key must be printable characters without spaces.');
      // Well formed, but not a key of any Scale account.
      await mistake({ fields: { scale_key: 'test_not_an_account_key_42' } }, 400, 'Scale did not accept this key (HTTP 401). Check that you copied all of it.');
      // Scale itself failing: the person is told to try again, not that the key is wrong.
      await stack.simControl('faults', { method: 'GET', pathPrefix: '/v1/tasks', status: 500, times: 20 });
      try {
        await mistake({ fields: { scale_key: 'test_not_an_account_key_42' } }, 502, 'Scale could not check your key: it answered HTTP 500. Try again in a minute.');
      } finally {
        await stack.simControl('faults', undefined, 'DELETE');
      }
      await b.screenshot(page, 'oauth-sign-in-error-phone', PHONE);
      await page.setViewportSize(DESKTOP);

      assert.equal(codesIssued(), issued, 'no code was issued');
      assert.equal(arrived.length, reached, 'the browser was never sent to the client');
      assertCleanBut(b, [...statuses]);

      // The page after all that still signs in (same cookie, a new form token).
      for (const sc of ['scale:read', 'scale:write', 'scale:team']) await page.setChecked(`#grant_scope_${sc.replace(':', '_')}`, sc === 'scale:read');
      await page.check('#m_operator');
      await page.fill('#scale_key', '');
      await page.fill('#operator_token', READER.token);
      const ok = await submit(page, () => page.click('button[value=approve]'));
      assert.equal(ok.status, 303);
      const back = new URL(ok.headers.location);
      assert.equal(back.searchParams.get('state'), a.state);
      const t = await exchange(a, back.searchParams.get('code'));
      assert.equal(t.status, 200);
      assert.equal(t.json.scope, 'scale:read');
    } finally {
      await b.close();
    }
  });

  test('sign-in attempts are rate limited per address, and the page says when to try again', async () => {
    const b = await browser();
    try {
      const { page } = b;
      await page.goto(authorization().url);
      for (let i = 0; i < 10; i++) {
        await page.check('#m_operator');
        await page.fill('#operator_token', `wrong-token-attempt-${i}-000`);
        const sent = await submit(page, () => page.press('#operator_token', 'Enter'));
        assert.equal(sent.status, 401);
      }
      await page.check('#m_operator');
      await page.fill('#operator_token', OPS.token);
      const before = arrived.length;
      const sent = await submit(page, () => page.press('#operator_token', 'Enter'));
      assert.equal(sent.status, 429);
      assert.match(await problem(page), /^Too many sign-in attempts from your network\. Try again in \d+ seconds\.$/);
      assert.equal(arrived.length, before, 'even the right token is not let through');
      assertCleanBut(b, [401, 429]);
    } finally {
      await b.close();
    }
  });

  test('CSRF: a missing cookie, a missing or stale form token, or a form from another site is refused', async () => {
    const b = await browser();
    try {
      const { page } = b;
      const a = authorization();
      const issued = codesIssued();
      const reached = arrived.length;
      const fillOperator = async () => {
        await page.check('#m_operator');
        await page.fill('#operator_token', OPS.token);
      };
      const refused = async (message) => {
        const sent = await submit(page, () => page.click('button[value=approve]'));
        assert.equal(sent.status, 403);
        assert.equal(await page.locator('h1').textContent(), 'This form was not accepted');
        assert.equal(await problem(page), message);
      };

      // The browser lost the page's cookie.
      await page.goto(a.url);
      await fillOperator();
      await b.context.clearCookies();
      await refused("Your browser did not send this page's cookie back. Allow cookies for this site, then open the sign-in link again.");

      // The form token is gone.
      await page.goto(a.url);
      await fillOperator();
      await page.evaluate(() => document.querySelector('input[name=csrf]').remove());
      await refused('This form does not belong to this sign-in request. Open the sign-in link again.');

      // The form token is from another sign-in request (same browser, another challenge).
      const other = authorization();
      await page.goto(other.url);
      const foreign = await page.inputValue('input[name=csrf]');
      await page.goto(a.url);
      await fillOperator();
      await page.evaluate((v) => { document.querySelector('input[name=csrf]').value = v; }, foreign);
      await refused('This form does not belong to this sign-in request. Open the sign-in link again.');

      // The page was left open for more than an hour.
      await page.goto(a.url);
      await fillOperator();
      await page.evaluate(() => {
        const f = document.querySelector('input[name=csrf]');
        const [ts, mac] = f.value.split('.');
        f.value = `${Number(ts) - 3700}.${mac}`;
      });
      await refused('This page is more than an hour old. Open the sign-in link again.');

      // A page of another origin posting a copy of the form, with a valid token
      // and the browser's cookie (SameSite=Lax lets it through on a same-site
      // post): Origin and Sec-Fetch-Site give it away.
      await page.goto(a.url);
      const hidden = await page.evaluate(() => [...document.querySelectorAll('input[type=hidden]')].map((e) => [e.name, e.value]));
      const esc = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      forgedPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Win a prize</title></head><body>
<form method="post" action="${esc(stack.url)}/authorize">${hidden.map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('')}
<input type="hidden" name="method" value="operator"><input type="hidden" name="operator_token" value="${esc(OPS.token)}">
<input type="hidden" name="grant_scope" value="scale:read"><button type="submit" name="action" value="approve">Claim</button></form></body></html>`;
      await page.goto(`${callback.base}/forged`);
      const sent = await submit(page, () => page.click('button'));
      assert.equal(sent.status, 403);
      assert.equal(await problem(page), 'This form was sent from another site, so it was not accepted.');

      assert.equal(codesIssued(), issued, 'no code was issued');
      assert.equal(arrived.length, reached, 'the browser was never sent to the client');
      assertCleanBut(b, [403]);
    } finally {
      await b.close();
    }
  });

  test('the grants page: sign in again, see the connection, revoke it with the keyboard', async () => {
    const b = await browser();
    try {
      const { page } = b;
      // A connection made with the reader token, to find and revoke.
      const a = authorization({ scope: 'scale:read' });
      await page.goto(a.url);
      await page.check('#m_operator');
      await page.fill('#operator_token', READER.token);
      const sent = await submit(page, () => page.press('#operator_token', 'Enter'));
      const t = await exchange(a, new URL(sent.headers.location).searchParams.get('code'));
      assert.equal(t.status, 200);
      const tools = () => rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: t.json.access_token });
      assert.equal((await tools()).status, 200);

      const res = await page.goto(`${stack.url}/oauth/grants`);
      assert.equal(res.status(), 200);
      assert.equal(directives((await res.allHeaders())['content-security-policy'])['form-action'].join(' '), "'self'");
      await page.check('#m_operator');
      await page.fill('#operator_token', READER.token);
      const shown = await submit(page, () => page.press('#operator_token', 'Enter'), '/oauth/grants');
      assert.equal(shown.status, 200, await page.locator('main').innerText());
      assert.equal(await page.locator('h1').textContent(), 'Your connections');
      assert.match(await page.locator('main').innerText(), /Signed in with operator token reader\./);
      // Only this token's connections: the one just made, and one an earlier
      // test in this suite made with the same token (the ops token's are not
      // listed). Each is revoked by keyboard.
      const items = page.locator('li.card');
      const before = await items.count();
      assert.ok(before >= 1 && before <= 2, `${before} connections listed`);
      for (let i = 0; i < before; i++) assert.match(await items.nth(i).innerText(), /Browser test client — scale:read/);
      await b.screenshot(page, 'oauth-grants-desktop', DESKTOP);

      for (let left = before; left > 0; left--) {
        await tabTo(page, 'li.card button[type=submit]');
        assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Revoke access for Browser test client');
        const revoked = await submit(page, () => page.keyboard.press('Enter'), '/oauth/grants');
        assert.equal(revoked.status, 200);
        assert.equal(await page.locator('[role=status]').textContent(), 'Access for Browser test client was revoked.');
        assert.equal(await page.locator('li.card').count(), left - 1);
      }
      assert.equal((await tools()).status, 401, 'the connection no longer works');
      assert.deepEqual(b.problems(), []);
    } finally {
      await b.close();
    }
  });

  test("every problem with the request is shown on this server's page, naming the app; nothing reaches the client", async () => {
    const b = await browser();
    try {
      const { page } = b;
      const reached = arrived.length;
      const from = 'The request came from the app “Browser test client” (published by cimd.example.com); nothing was sent back to it.';
      // Not the redirect URI the client registered: shown here, nothing sent there.
      const res = await page.goto(authorization({ redirect_uri: `${callback.base}/elsewhere/../callback` }).url);
      assert.equal(res.status(), 400);
      assert.equal(page.url().startsWith(`${stack.url}/authorize?`), true);
      assert.equal(await page.locator('h1').textContent(), 'This app cannot sign in here');
      assert.equal(await problem(page), `The redirect_uri is not one this app registered, so this server will not send anything there. ${from}`);
      // An unknown client.
      const unknown = await page.goto(authorization({ client_id: `https://${CIMD_HOST}/nobody.json` }).url);
      assert.equal(unknown.status(), 400);
      assert.equal(await page.locator('h1').textContent(), 'This app cannot sign in here');
      // No PKCE: shown here too, no longer sent to the client.
      await page.goto(authorization({ code_challenge: null }).url);
      assert.equal(await problem(page), `PKCE is required: send code_challenge with code_challenge_method=S256. ${from}`);

      // The phishing link: anyone can register a client whose redirect URI is their own
      // page, then hand out a link to this server that is wrong on purpose. It opens this
      // server's error page, naming the app, and the browser stays here.
      const reg = await fetch(`${stack.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'Scale Support', redirect_uris: [`${callback.base}/landing`], token_endpoint_auth_method: 'none' }) });
      assert.equal(reg.status, 201);
      const { client_id: phisher } = await reg.json();
      const link = authorization({ client_id: phisher, redirect_uri: `${callback.base}/landing`, code_challenge: null });
      const phished = await page.goto(link.url);
      assert.equal(phished.status(), 400);
      assert.ok(page.url().startsWith(`${stack.url}/authorize?`), 'no redirect: the browser is still on this server');
      assert.equal(await page.locator('h1').textContent(), 'This app cannot sign in here');
      assert.equal(await problem(page), 'PKCE is required: send code_challenge with code_challenge_method=S256. The request came from the app “Scale Support” (self-registered here); nothing was sent back to it.');
      assert.equal(await page.locator('form').count(), 0);
      await b.screenshot(page, 'oauth-phishing-link-refused-desktop', DESKTOP);
      assert.equal(arrived.length, reached, 'the client never heard of any of it');
      assertCleanBut(b, [400]);
    } finally {
      await b.close();
    }
  });
});
