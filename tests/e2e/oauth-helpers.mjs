// Helpers for the OAuth end-to-end tests: a Scale "router" that sends each
// user's Scale calls to that user's own simulator, client metadata documents
// served through Miniflare's outbound fetch interception (the worker fetches
// https://cimd.example.com/... and this answers; the SSRF guard is not
// bypassed), and the sign-in page submitted over plain HTTP as a browser would.

import { startSimulator } from '../../sim/scale-sim.mjs';

export const CIMD_HOST = 'cimd.example.com';
export const REDIRECT = 'http://127.0.0.1:9/callback';
export const USER_KEYS = { a: 'test_user_a_key_5d1e0c9b', b: 'test_user_b_key_7a2f4e11' };

/** Unescapes the five characters the worker's pages escape. */
const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

/** The hidden fields of a page's form(s), in order. */
export function hiddenFields(html) {
  return [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [unescape(m[1]), unescape(m[2])]);
}

/**
 * Starts one simulator per user key and returns the outbound handler for
 * Miniflare: Scale calls made with a user's key go to that user's simulator,
 * client metadata documents are served from `documents`, every other request
 * goes where it was sent. `log` records every outbound URL.
 */
export async function outboundRouter() {
  const sims = {};
  for (const [who, key] of Object.entries(USER_KEYS)) sims[key] = await startSimulator({ apiKey: key });
  const state = { scaleBase: null, documents: new Map(), log: [] };
  async function handler(request) {
    const url = new URL(request.url);
    state.log.push(request.url);
    if (url.hostname === CIMD_HOST) {
      const doc = state.documents.get(url.pathname);
      if (!doc) return new Response('not found', { status: 404 });
      return doc(request);
    }
    const init = { method: request.method, headers: request.headers, redirect: 'manual' };
    if (!['GET', 'HEAD'].includes(request.method)) init.body = await request.arrayBuffer();
    if (state.scaleBase && request.url.startsWith(state.scaleBase)) {
      const basic = (request.headers.get('authorization') || '').replace(/^Basic /, '');
      const key = Buffer.from(basic, 'base64').toString().replace(/:$/, '');
      const sim = sims[key];
      if (sim) return fetch(sim.base + request.url.slice(state.scaleBase.length), init);
    }
    return fetch(request.url, init);
  }
  return {
    handler,
    state,
    sims: Object.fromEntries(Object.entries(USER_KEYS).map(([who, key]) => [who, sims[key]])),
    async close() {
      for (const s of Object.values(sims)) await s.close();
    },
  };
}

/** A client metadata document for `path` on the test host. */
export function metadataDocument(path, { name = 'E2E client', redirect = REDIRECT, method = 'none' } = {}) {
  const clientId = `https://${CIMD_HOST}${path}`;
  return {
    clientId,
    serve: () => Response.json({ client_id: clientId, client_name: name, redirect_uris: [redirect], token_endpoint_auth_method: method, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }),
  };
}

/**
 * Opens an authorization URL, fills in the sign-in form with `choices`
 * (name/value pairs; a choice replaces a hidden field of the same name) and
 * submits it. Returns the page answer and, for a redirect, its URL.
 */
export async function signIn(authorizationUrl, choices, { headers = {}, ip = `198.51.100.${1 + Math.floor(Math.random() * 250)}` } = {}) {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  if (page.status !== 200) return { status: page.status, html, location: page.headers.get('location') };
  const cookie = (page.headers.get('set-cookie') || '').split(';')[0];
  const names = new Set(choices.map(([k]) => k));
  const body = new URLSearchParams(hiddenFields(html).filter(([k]) => !names.has(k)));
  for (const [k, v] of choices) body.append(k, v);
  const action = new URL('/authorize', authorizationUrl);
  const res = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    // Sign-in attempts are rate limited per address (Cloudflare sets this
    // header); each test sign-in comes from its own documentation address.
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: action.origin, 'sec-fetch-site': 'same-origin', 'cf-connecting-ip': ip, ...headers },
    body,
  });
  const location = res.headers.get('location');
  // Without the stylesheet, so a failed assertion prints something readable.
  const text = (await res.text()).replace(/<style>.*<\/style>/s, '');
  return { status: res.status, html: text, location: location ? new URL(location) : null, cookie, pageHtml: html };
}

export const OWN_KEY = (key, scopes = ['scale:read', 'scale:write']) => [['method', 'own_key'], ['scale_key', key], ...scopes.map((s) => ['grant_scope', s])];
export const OPERATOR = (token, scopes = ['scale:read']) => [['method', 'operator'], ['operator_token', token], ...scopes.map((s) => ['grant_scope', s])];

/** An in-memory OAuth client provider for @modelcontextprotocol/client 2.x. */
export class TestProvider {
  constructor({ metadataUrl, authMethod = 'none', name = 'E2E TS client' } = {}) {
    this._info = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this.authorizationUrl = null;
    this.authMethod = authMethod;
    this.name = name;
    if (metadataUrl) this.clientMetadataUrl = metadataUrl;
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return { client_name: this.name, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: this.authMethod };
  }
  state() {
    return 'state-' + Math.random().toString(36).slice(2);
  }
  clientInformation() {
    return this._info;
  }
  saveClientInformation(info) {
    this._info = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = new URL(url);
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
}
