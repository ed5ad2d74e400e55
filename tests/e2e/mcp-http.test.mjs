// The /mcp endpoint over raw HTTP: every status code, JSON-RPC error code,
// protocol version and header rule of the dual-era, stateless transport.
// fetch() is used where its defaults do not matter; node:http (raw()) where
// the test needs exact control: no Accept header, a forged Host, invalid
// UTF-8, a chunked body without Content-Length.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { startStack, rpc, modern, SECRETS, toolNames } from './harness.mjs';

const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
const MODERN = '2026-07-28';
const ALL_VERSIONS = [MODERN, ...LEGACY_VERSIONS];
const CORS_HEADERS = ['Authorization', 'Content-Type', 'Accept', 'MCP-Protocol-Version', 'Mcp-Method', 'Mcp-Name', 'Mcp-Session-Id', 'Last-Event-ID'];
const REALM = 'Bearer realm="scale-mcp"';
// With sign-in methods configured (static tokens), OAuth is on and the
// challenge points at the protected resource metadata (see oauth.test.mjs).
const CHALLENGE = (s) => `${REALM}, resource_metadata="${s.url}/.well-known/oauth-protected-resource/mcp", scope="scale:read scale:write scale:team"`;
const INVALID = (s) => `${CHALLENGE(s)}, error="invalid_token", error_description="The bearer token is not valid for this server."`;
const MAX_BODY = 1024 * 1024;

// Two tokens for the rotation stack (each at least 16 characters).
const TOKEN_A = 'rotation-token-aaaa-1111';
const TOKEN_B = 'rotation-token-bbbb-2222';

let stack; // the default configuration
let alt; // two tokens and ALLOWED_ORIGINS, OAuth store unbound (OAuth off)
let bare; // MCP_AUTH_TOKEN unset
let TOOL_COUNT; // from the server's own tools/list

before(async () => {
  [stack, alt, bare] = await Promise.all([
    startStack(),
    startStack({ vars: { MCP_AUTH_TOKEN: `${TOKEN_A}, ${TOKEN_B}`, ALLOWED_ORIGINS: 'https://app.example.com, http://partner.example:3000/' }, oauth: false }),
    startStack({ vars: { MCP_AUTH_TOKEN: undefined } }),
  ]);
  TOOL_COUNT = (await toolNames(stack)).length;
});
after(async () => {
  await Promise.all([stack?.close(), alt?.close(), bare?.close()]);
});

/**
 * A request with exactly these headers (node adds only Host, unless given, and
 * Content-Length or Transfer-Encoding). `chunks` sends the body chunked.
 *
 * An answer may come before the whole body was sent (a refusal from the declared length, or
 * at the limit). The runtime then resets the connection, and a reset can beat the answer to
 * the client; so `chunks` are written one at a time, stopping once the answer has begun,
 * and `declared` sends only headers announcing that many body bytes.
 */
function raw(s, { method = 'POST', path = '/mcp', headers = {}, body, chunks, declared } = {}) {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: declared === undefined ? headers : { ...headers, 'content-length': declared } }, (res) => {
      answered = true;
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json = null;
        try {
          json = text ? JSON.parse(text) : null;
        } catch {}
        if (chunks || declared !== undefined) req.destroy();
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', (e) => answered || reject(e));
    if (declared !== undefined) {
      req.setTimeout(10_000, () => req.destroy(new Error('no answer to the headers alone')));
      req.flushHeaders();
    } else if (chunks) {
      (async () => {
        for (const c of chunks) {
          if (answered) return;
          if (!req.write(c)) await new Promise((r) => req.once('drain', r));
        }
        if (!answered) req.end();
      })().catch(() => {});
    } else {
      req.end(body);
    }
  });
}

const auth = (s = stack) => ({ authorization: `Bearer ${s.token}` });
const jsonHeaders = (s = stack, extra = {}) => ({ 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...auth(s), ...extra });
const req = (method, params, id = 1) => ({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
const note = (method, params) => ({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) });
const initialize = (protocolVersion, id = 1) =>
  req('initialize', { protocolVersion, capabilities: {}, clientInfo: { name: 'mcp-http-test', version: '1.0.0' } }, id);

function assertRpcError(r, status, code, id = null) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get?.('content-type') ?? r.headers['content-type'], /application\/json/);
  assert.equal(r.json.jsonrpc, '2.0');
  assert.deepEqual(r.json.id, id);
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(typeof r.json.error.message, 'string');
  assert.ok(r.json.error.message.length > 0);
  assert.equal(r.json.result, undefined);
}

function assertEmpty202(r) {
  assert.equal(r.status, 202, r.text);
  assert.equal(r.text, '');
}

function sessionHeader(r) {
  return r.headers.get ? r.headers.get('mcp-session-id') : r.headers['mcp-session-id'];
}

/** A modern-lane request via the harness helper, with header overrides (undefined removes one). */
/** The annotation view's document as resources/list names it, and the declaration that gets it on 2026-07-28. */
const VIEW_RESOURCE = { uri: 'ui://scale-mcp/task-annotations', name: 'task_annotations', title: 'Scale task annotations', mimeType: 'text/html;profile=mcp-app' };
const UI_CAPS = { extensions: { 'io.modelcontextprotocol/ui': { mimeTypes: ['text/html;profile=mcp-app'] } } };

function modernRpc(s, method, params = {}, { headers = {}, id = 1 } = {}) {
  const m = modern(method, params, id);
  return rpc(s, m.body, { headers: { ...m.headers, ...headers } });
}

describe('HTTP methods and fixed paths', () => {
  for (const method of ['GET', 'DELETE', 'PUT', 'PATCH']) {
    test(`${method} /mcp is 405 with Allow, before authentication`, async () => {
      for (const headers of [{}, auth(), { accept: 'text/event-stream', ...auth() }]) {
        const r = await raw(stack, { method, headers });
        assert.equal(r.status, 405, r.text);
        assert.equal(r.headers.allow, 'POST, OPTIONS');
        assert.equal(r.json.error, 'method_not_allowed');
        assert.equal(r.headers['mcp-session-id'], undefined);
      }
    });
  }

  test('GET /sse (legacy HTTP+SSE transport) is 410 JSON pointing at /mcp', async () => {
    for (const method of ['GET', 'POST']) {
      const r = await raw(stack, { method, path: '/sse', headers: { accept: 'text/event-stream' }, body: method === 'POST' ? '{}' : undefined });
      assert.equal(r.status, 410);
      assert.match(r.headers['content-type'], /application\/json/);
      assert.equal(r.json.error, 'gone');
      assert.equal(r.json.mcp_endpoint, `${stack.url}/mcp`);
      assert.match(r.json.message, /POST/);
    }
  });

  test('/.well-known/oauth-* are 404 JSON, never HTML, when no sign-in method is configured', async () => {
    for (const p of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-authorization-server',
      '/.well-known/oauth-authorization-server/mcp',
    ]) {
      const r = await fetch(bare.url + p);
      assert.equal(r.status, 404, p);
      assert.match(r.headers.get('content-type'), /application\/json/);
      const body = await r.json();
      assert.equal(body.error, 'not_found');
      assert.match(body.message, /Authorization: Bearer/);
    }
    // With static tokens set, discovery is served (oauth.test.mjs covers it);
    // a path-suffixed authorization server URL is still JSON 404 with a pointer.
    const r = await fetch(`${stack.url}/.well-known/oauth-authorization-server/mcp`);
    assert.equal(r.status, 404);
    assert.match((await r.json()).error_description, /\/\.well-known\/oauth-authorization-server/);
  });
});

describe('CORS preflight', () => {
  function assertPreflight(r) {
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    assert.match(r.headers['access-control-allow-methods'], /\bPOST\b/);
    const allowed = r.headers['access-control-allow-headers'].split(',').map((h) => h.trim().toLowerCase());
    for (const h of CORS_HEADERS) assert.ok(allowed.includes(h.toLowerCase()), `preflight must allow ${h}`);
    assert.equal(r.headers['access-control-max-age'], '86400');
  }
  const preflight = { 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version' };

  test('OPTIONS without a token is answered before authentication', async () => {
    const r = await raw(stack, { method: 'OPTIONS', headers: preflight });
    assertPreflight(r);
    assert.equal(r.headers['access-control-allow-origin'], undefined, 'no Origin, nothing to allow');
  });

  test('OPTIONS with a token is the same preflight', async () => {
    assertPreflight(await raw(stack, { method: 'OPTIONS', headers: { ...preflight, ...auth() } }));
  });

  test('OPTIONS from an allowed Origin echoes it', async () => {
    for (const origin of ['http://localhost:6274', 'http://127.0.0.1:5173']) {
      const r = await raw(stack, { method: 'OPTIONS', headers: { ...preflight, origin } });
      assertPreflight(r);
      assert.equal(r.headers['access-control-allow-origin'], origin);
      assert.match(r.headers.vary, /Origin/);
    }
  });

  test('OPTIONS from a disallowed Origin is 403 without CORS headers', async () => {
    const r = await raw(stack, { method: 'OPTIONS', headers: { ...preflight, origin: 'https://evil.example' } });
    assert.equal(r.status, 403);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.json.error.code, -32600);
  });

  test('OPTIONS works even when MCP_AUTH_TOKEN is unset', async () => {
    assertPreflight(await raw(bare, { method: 'OPTIONS', headers: preflight }));
  });
});

describe('bearer authentication', () => {
  test('a missing Authorization header is 401 with the realm challenge', async () => {
    const r = await rpc(stack, req('ping'), { token: null });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), CHALLENGE(stack));
    assert.equal(r.json.error, 'unauthorized');
    assert.match(r.json.message, /Authorization: Bearer/);
  });

  test('a wrong token is 401 with error="invalid_token"', async () => {
    const r = await rpc(stack, req('ping'), { token: 'not-the-right-token-at-all' });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), INVALID(stack));
    assert.equal(r.json.error, 'invalid_token');
    assert.ok(!r.text.includes(stack.token));
  });

  test('other schemes and an empty bearer are treated as missing', async () => {
    for (const authorization of [`Basic ${Buffer.from(`x:${stack.token}`).toString('base64')}`, 'Bearer', 'Bearer   ', stack.token]) {
      const r = await rpc(stack, req('ping'), { token: null, headers: { authorization } });
      assert.equal(r.status, 401, authorization);
      assert.equal(r.headers.get('www-authenticate'), CHALLENGE(stack));
    }
  });

  test('a token in the query string is not accepted', async () => {
    const r = await raw(stack, { path: `/mcp?token=${stack.token}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify(req('ping')) });
    assert.equal(r.status, 401);
  });

  test('the scheme is case-insensitive: lower-case `bearer` works', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const r = await rpc(stack, req('ping'), { token: null, headers: { authorization: `${scheme} ${stack.token}` } });
      assert.equal(r.status, 200, scheme);
      assert.deepEqual(r.json.result, {});
    }
  });

  test('token rotation: both comma-separated tokens work, others do not', async () => {
    for (const token of [TOKEN_A, TOKEN_B]) {
      const r = await rpc(alt, req('ping'), { token });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.result, {});
    }
    const r = await rpc(alt, req('ping'), { token: SECRETS.MCP_AUTH_TOKEN });
    assert.equal(r.status, 401);
    // Without the OAuth store bound, the challenge is the plain realm.
    assert.equal(r.headers.get('www-authenticate'), `${REALM}, error="invalid_token"`);
    const both = await rpc(alt, req('ping'), { token: `${TOKEN_A},${TOKEN_B}` });
    assert.equal(both.status, 401, 'the whole list is not itself a token');
  });

  test('MCP_AUTH_TOKEN unset: 503 saying how to set it', async () => {
    for (const token of [null, 'anything-at-all-123456']) {
      const r = await rpc(bare, req('ping'), { token });
      assert.equal(r.status, 503);
      assert.equal(r.json.error, 'not_configured');
      assert.match(r.json.message, /MCP_AUTH_TOKEN/);
      assert.match(r.json.message, /wrangler secret put MCP_AUTH_TOKEN/);
      assert.match(r.json.message, /\.dev\.vars/);
    }
    const g = await raw(bare, { method: 'GET' });
    assert.equal(g.status, 405, 'GET is refused the same way whatever the configuration');
  });

  test('tokens never reach the worker log', async () => {
    await rpc(stack, req('ping'), { token: 'wrong-token-for-the-log-check' });
    const all = [stack, alt, bare].flatMap((s) => s.logs).join('\n');
    for (const secret of [stack.token, TOKEN_A, TOKEN_B, 'wrong-token-for-the-log-check']) assert.ok(!all.includes(secret));
  });
});

describe('Origin validation', () => {
  test('no Origin (server-side agents) is allowed', async () => {
    const r = await raw(stack, { headers: jsonHeaders(), body: JSON.stringify(req('ping')) });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });

  test('localhost origins are allowed and echoed with CORS headers', async () => {
    for (const origin of ['http://localhost:6274', 'http://localhost', 'http://127.0.0.1:8787', 'http://[::1]:3000', 'https://localhost:8443', stack.url]) {
      const r = await rpc(stack, req('ping'), { headers: { origin } });
      assert.equal(r.status, 200, origin);
      assert.equal(r.headers.get('access-control-allow-origin'), origin);
      assert.match(r.headers.get('access-control-expose-headers'), /WWW-Authenticate/i);
      assert.match(r.headers.get('vary'), /Origin/);
    }
  });

  test('a hostile Origin is 403 with a JSON-RPC error and no CORS grant, even with a valid token', async () => {
    for (const origin of ['https://evil.example', 'http://localhost.evil.example', 'http://127.0.0.1.nip.io', 'http://localhost:6274/path', 'file://', 'chrome-extension://abc']) {
      const r = await rpc(stack, req('ping'), { headers: { origin } });
      assertRpcError(r, 403, -32600);
      assert.match(r.json.error.message, /Origin/);
      assert.equal(r.headers.get('access-control-allow-origin'), null, origin);
    }
  });

  test('the opaque `null` Origin is refused', async () => {
    const r = await rpc(stack, req('ping'), { headers: { origin: 'null' } });
    assertRpcError(r, 403, -32600);
  });

  test('the Origin check comes before authentication', async () => {
    const r = await rpc(stack, req('ping'), { token: null, headers: { origin: 'https://evil.example' } });
    assert.equal(r.status, 403);
  });

  test('a 401 to an allowed browser Origin still carries CORS headers', async () => {
    const r = await rpc(stack, req('ping'), { token: null, headers: { origin: 'http://localhost:6274' } });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:6274');
  });

  test('DNS rebinding: a forged Host equal to the Origin does not pass as "own origin"', async () => {
    const port = new URL(stack.url).port;
    for (const name of [`evil.example:${port}`, 'evil.example', 'attacker.test:8787']) {
      const r = await raw(stack, { headers: { ...jsonHeaders(), host: name, origin: `http://${name}` }, body: JSON.stringify(initialize('2025-11-25')) });
      assert.equal(r.status, 403, `${name}: ${r.text}`);
      assert.equal(r.json.error.code, -32600);
    }
    // The real loopback Host with its own Origin is what a local browser client sends: allowed.
    const ok = await raw(stack, { headers: { ...jsonHeaders(), origin: stack.url }, body: JSON.stringify(req('ping')) });
    assert.equal(ok.status, 200);
  });

  test('ALLOWED_ORIGINS adds origins (normalised); others stay refused', async () => {
    for (const origin of ['https://app.example.com', 'http://partner.example:3000', 'HTTPS://APP.EXAMPLE.COM']) {
      const r = await rpc(alt, req('ping'), { token: TOKEN_A, headers: { origin } });
      assert.equal(r.status, 200, origin);
      assert.equal(r.headers.get('access-control-allow-origin'), origin);
    }
    for (const origin of ['https://other.example.com', 'http://app.example.com', 'https://app.example.com.evil.test', 'https://app.example.com:8443', 'http://partner.example:3001']) {
      const r = await rpc(alt, req('ping'), { token: TOKEN_A, headers: { origin } });
      assert.equal(r.status, 403, origin);
    }
    const pre = await raw(alt, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example.com');
  });
});

describe('no sessions', () => {
  test('initialize and every other answer carry no Mcp-Session-Id', async () => {
    for (const body of [initialize('2025-11-25'), req('tools/list'), req('ping')]) {
      const r = await rpc(stack, body);
      assert.equal(r.status, 200);
      assert.equal(sessionHeader(r), null);
    }
    const n = await rpc(stack, note('notifications/initialized'));
    assert.equal(sessionHeader(n), null);
    const m = await modernRpc(stack, 'server/discover');
    assert.equal(sessionHeader(m), null);
  });

  test('a session id sent by the client is ignored (no 400/404)', async () => {
    for (const sid of ['stale-session-1234', 'x'.repeat(200)]) {
      const r = await rpc(stack, req('tools/list'), { headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } });
      assert.equal(r.status, 200);
      assert.equal(r.json.result.tools.length, TOOL_COUNT);
      assert.equal(sessionHeader(r), null);
      const m = await modernRpc(stack, 'tools/list', {}, { headers: { 'mcp-session-id': sid, 'last-event-id': '42' } });
      assert.equal(m.status, 200);
      assert.equal(sessionHeader(m), null);
    }
  });
});

describe('legacy lane (initialize era)', () => {
  for (const v of LEGACY_VERSIONS) {
    test(`initialize ${v} is echoed, with serverInfo, capabilities and instructions`, async () => {
      const r = await rpc(stack, initialize(v, `init-${v}`));
      assert.equal(r.status, 200);
      assert.equal(r.json.id, `init-${v}`);
      const res = r.json.result;
      assert.equal(res.protocolVersion, v);
      assert.equal(res.serverInfo.name, 'scale-mcp-worker');
      assert.equal(res.serverInfo.title, 'Scale AI');
      assert.match(res.serverInfo.version, /^\d+\.\d+\.\d+/);
      assert.equal(typeof res.capabilities.tools, 'object');
      assert.equal(typeof res.capabilities.resources, 'object');
      assert.equal(res.capabilities.logging, undefined, 'logging is not declared');
      assert.equal(typeof res.instructions, 'string');
      assert.ok(res.instructions.length > 50);
      assert.equal(res.resultType, undefined, 'no modern decorations on the legacy lane');
    });
  }

  test('initialize with an unknown or missing version answers 2025-11-25', async () => {
    for (const v of ['2099-01-01', '2024-10-07', '', undefined, 7]) {
      const body = initialize(v);
      if (v === undefined) delete body.params.protocolVersion;
      const r = await rpc(stack, body);
      assert.equal(r.status, 200, String(v));
      assert.equal(r.json.result.protocolVersion, '2025-11-25');
    }
  });

  test('initialize under a MCP-Protocol-Version header still negotiates from the body', async () => {
    const r = await rpc(stack, initialize('2025-06-18'), { headers: { 'mcp-protocol-version': '2025-06-18' } });
    assert.equal(r.json.result.protocolVersion, '2025-06-18');
  });

  for (const v of [undefined, ...LEGACY_VERSIONS]) {
    test(`notifications are 202 with no body (MCP-Protocol-Version: ${v ?? 'absent'})`, async () => {
      for (const body of [
        note('notifications/initialized'),
        note('notifications/cancelled', { requestId: 1, reason: 'test' }),
        note('notifications/roots/list_changed'),
        note('notifications/whatever'),
        { jsonrpc: '2.0', id: 'srv-1', result: {} }, // a response from the client
        { jsonrpc: '2.0', id: 'srv-2', error: { code: -32601, message: 'no' } },
      ]) {
        const r = await rpc(stack, body, { headers: { 'mcp-protocol-version': v } });
        assertEmpty202(r);
      }
    });
  }

  for (const v of [undefined, ...LEGACY_VERSIONS]) {
    test(`ping → {} and tools/list under MCP-Protocol-Version: ${v ?? 'absent (= 2025-03-26)'}`, async () => {
      const p = await rpc(stack, req('ping', undefined, 'p-1'), { headers: { 'mcp-protocol-version': v } });
      assert.equal(p.status, 200);
      assert.equal(p.text, '{"jsonrpc":"2.0","id":"p-1","result":{}}');
      const t = await rpc(stack, req('tools/list', {}, 2), { headers: { 'mcp-protocol-version': v } });
      assert.equal(t.status, 200);
      assert.equal(t.json.result.tools.length, TOOL_COUNT);
      assert.equal(t.json.result.resultType, undefined);
      assert.equal(t.json.result.nextCursor, undefined);
    });
  }

  test('an unsupported MCP-Protocol-Version header is 400', async () => {
    for (const v of ['2099-01-01', '2024-10-07', 'latest', '']) {
      const r = await rpc(stack, req('ping'), { headers: { 'mcp-protocol-version': v } });
      assert.equal(r.status, 400, `header ${JSON.stringify(v)}: ${r.text}`);
      assert.ok(r.json.error, r.text);
    }
  });

  test('unknown method → -32601 with the id echoed', async () => {
    const r = await rpc(stack, req('prompts/list', {}, 99), { headers: { 'mcp-protocol-version': '2025-11-25' } });
    assertRpcError(r, 200, -32601, 99);
    const d = await rpc(stack, req('server/discover', {}, 100), { headers: { 'mcp-protocol-version': '2025-11-25' } });
    assertRpcError(d, 200, -32601, 100);
  });

  test('resources: list, templates, and a missing resource is -32002', async () => {
    const l = await rpc(stack, req('resources/list'));
    // No callback logged yet: only the annotation view's document.
    assert.deepEqual(l.json.result.resources, [VIEW_RESOURCE]);
    const t = await rpc(stack, req('resources/templates/list'));
    assert.equal(t.json.result.resourceTemplates[0].uriTemplate, 'scale-callback://deliveries/{id}');
    const rd = await rpc(stack, req('resources/read', { uri: 'scale-callback://deliveries/nope' }, 5));
    assertRpcError(rd, 200, -32002, 5);
  });
});

describe('JSON-RPC batches', () => {
  const batch = () => [req('ping', undefined, 1), note('notifications/initialized'), req('tools/list', {}, 'b'), { jsonrpc: '2.0', id: 'r', result: {} }, req('nope/nope', {}, 3)];

  for (const v of ['2025-03-26', undefined]) {
    test(`accepted under ${v ?? 'no MCP-Protocol-Version header'}: array of responses, notifications left out`, async () => {
      const r = await rpc(stack, batch(), { headers: { 'mcp-protocol-version': v } });
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type'), /application\/json/);
      assert.ok(Array.isArray(r.json));
      assert.deepEqual(r.json.map((x) => x.id), [1, 'b', 3]);
      assert.deepEqual(r.json[0].result, {});
      assert.equal(r.json[1].result.tools.length, TOOL_COUNT);
      assert.equal(r.json[2].error.code, -32601);
    });

    test(`an all-notification batch is 202 (${v ?? 'no header'})`, async () => {
      const r = await rpc(stack, [note('notifications/initialized'), note('notifications/cancelled', { requestId: 1 }), { jsonrpc: '2.0', id: 7, result: {} }], { headers: { 'mcp-protocol-version': v } });
      assertEmpty202(r);
    });
  }

  test('invalid members get their own errors inside the array', async () => {
    const r = await rpc(stack, [req('ping', undefined, 1), 5, { jsonrpc: '1.0', id: 2, method: 'ping' }, req('ping', [1], 3)]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.map((x) => [x.id, x.error?.code ?? 'ok']), [[1, 'ok'], [null, -32600], [2, -32600], [3, -32602]]);
  });

  test('an empty batch is -32600', async () => {
    assertRpcError(await rpc(stack, []), 400, -32600);
  });

  test('a batch holds at most 20 messages: 20 are answered, 21 are refused with -32600', async () => {
    const tasks = (n) => Array.from({ length: n }, (_, i) => req('tools/call', { name: 'list_projects', arguments: {} }, i));
    await stack.simControl('requests', undefined, 'DELETE');
    const twenty = await rpc(stack, tasks(20));
    assert.equal(twenty.status, 200);
    assert.equal(twenty.json.length, 20);
    assert.equal((await stack.simRequests()).length, 20);
    const r = await rpc(stack, tasks(21));
    assertRpcError(r, 400, -32600);
    assert.match(r.json.error.message, /at most 20 messages.*21/);
    assert.equal((await stack.simRequests()).length, 20, 'nothing of a refused batch was run');
  });

  for (const v of ['2025-06-18', '2025-11-25', '2024-11-05', MODERN]) {
    test(`refused with -32600 under ${v}`, async () => {
      const r = await rpc(stack, [req('ping', undefined, 1), req('tools/list', {}, 2)], { headers: { 'mcp-protocol-version': v } });
      assertRpcError(r, 400, -32600);
      assert.match(r.json.error.message, /batch/i);
    });
  }

  test('SSE-only Accept: one event per response', async () => {
    const r = await rpc(stack, [req('ping', undefined, 1), note('notifications/initialized'), req('ping', undefined, 2)], { headers: { accept: 'text/event-stream' } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/event-stream/);
    const events = [...r.text.matchAll(/event: message\ndata: (.*)\n\n/g)].map((m) => JSON.parse(m[1]));
    assert.deepEqual(events.map((e) => e.id), [1, 2]);
  });
});

describe('JSON-RPC envelope and ids', () => {
  test('string and number ids are echoed exactly', async () => {
    for (const id of ['abc-1', '', 'ünïcødé ✓', '123', 0, 42, -7, 2 ** 53 - 1]) {
      const r = await rpc(stack, req('ping', undefined, id));
      assert.equal(r.status, 200, JSON.stringify(id));
      assert.equal(r.json.id, id);
      assert.equal(typeof r.json.id, typeof id);
    }
  });

  test('a 64-bit id is echoed byte for byte (not via a float)', async () => {
    const r = await rpc(stack, '{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}');
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"jsonrpc":"2.0","id":18446744073709551615,"result":{}}');
    const n = await rpc(stack, '{"jsonrpc":"2.0","id":-9223372036854775808,"method":"ping"}');
    assert.equal(n.text, '{"jsonrpc":"2.0","id":-9223372036854775808,"result":{}}');
  });

  test('huge, float, null, object and over-long ids are -32600 with id null', async () => {
    for (const body of [
      '{"jsonrpc":"2.0","id":100000000000000000000000000000,"method":"ping"}',
      '{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
      '{"jsonrpc":"2.0","id":1e3,"method":"ping"}',
      '{"jsonrpc":"2.0","id":null,"method":"ping"}',
      '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}',
      '{"jsonrpc":"2.0","id":[1],"method":"ping"}',
      '{"jsonrpc":"2.0","id":true,"method":"ping"}',
      JSON.stringify(req('ping', undefined, 'x'.repeat(257))),
    ]) {
      const r = await rpc(stack, body);
      assertRpcError(r, 400, -32600);
      assert.match(r.json.error.message, /id/, body.slice(0, 60));
    }
  });

  test('bad envelopes are -32600 (id echoed when it is valid)', async () => {
    const cases = [
      [{ jsonrpc: '1.0', id: 4, method: 'ping' }, 4],
      [{ id: 5, method: 'ping' }, 5],
      [{ jsonrpc: '2.0', id: 6, method: 7 }, 6],
      [{ jsonrpc: '2.0', id: 8 }, 8],
      [42, null],
      ['"just a string"', null],
      ['null', null],
    ];
    for (const [body, id] of cases) {
      const r = await rpc(stack, typeof body === 'string' ? body : JSON.stringify(body));
      assertRpcError(r, 400, -32600, id);
    }
  });

  test('non-object params are -32602 for a request; a notification is still 202', async () => {
    for (const params of [[1, 2], 'str', 3, true]) {
      const r = await rpc(stack, req('tools/list', params, 'np'));
      assertRpcError(r, 200, -32602, 'np');
      assert.match(r.json.error.message, /params/);
      assertEmpty202(await rpc(stack, note('notifications/initialized', params)));
    }
    const ok = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'ping', params: null });
    assert.deepEqual(ok.json.result, {});
  });

  test('malformed JSON, an empty body and trailing data are -32700 (HTTP 400)', async () => {
    for (const body of ['{"jsonrpc":"2.0",', '{', 'not json', '{} {}', '{"jsonrpc":"2.0","id":1,"method":"ping"}x', '{"a":1,"a":2}', '[1,]', '1e999']) {
      const r = await rpc(stack, body);
      assertRpcError(r, 400, -32700);
    }
    for (const body of ['', '   \n']) {
      const r = await rpc(stack, body);
      assertRpcError(r, 400, -32700);
      assert.match(r.json.error.message, /empty/);
    }
  });

  test('invalid UTF-8 is -32700 naming the problem', async () => {
    const body = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"pi'), Buffer.from([0xff, 0xfe]), Buffer.from('ng"}')]);
    const r = await raw(stack, { headers: jsonHeaders(), body });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, -32700);
    assert.match(r.json.error.message, /UTF-8/);
  });

  test('absurdly deep nesting is a parse error, not a crash', async () => {
    const r = await rpc(stack, '['.repeat(100000) + ']'.repeat(100000));
    assertRpcError(r, 400, -32700);
    const after = await rpc(stack, req('ping'));
    assert.equal(after.status, 200, 'the worker still answers');
  });

  test('a wrong Content-Type is 415', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
      const r = await rpc(stack, JSON.stringify(req('ping')), { headers: { 'content-type': ct } });
      assertRpcError(r, 415, -32600);
      assert.match(r.json.error.message, /Content-Type/);
    }
  });

  test('application/json with parameters, or no Content-Type at all, is accepted', async () => {
    for (const ct of ['application/json; charset=utf-8', 'Application/JSON']) {
      const r = await rpc(stack, req('ping'), { headers: { 'content-type': ct } });
      assert.equal(r.status, 200, ct);
    }
    const r = await raw(stack, { headers: auth(), body: JSON.stringify(req('ping')) });
    assert.equal(r.status, 200);
  });

  test('bodies over 1 MiB are 413; exactly 1 MiB is fine', async () => {
    const sized = (n) => {
      const head = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"';
      const tail = '"}}';
      return head + 'x'.repeat(n - head.length - tail.length) + tail;
    };
    const exact = await rpc(stack, sized(MAX_BODY));
    assert.equal(exact.status, 200, exact.text.slice(0, 200));
    assert.deepEqual(exact.json.result, {});
    const over = await raw(stack, { headers: jsonHeaders(), declared: MAX_BODY + 1 });
    assertRpcError(over, 413, -32600);
    assert.match(over.json.error.message, /1048576/);
    // Chunked, with no Content-Length to trust: the edge stops reading at the limit.
    const chunk = 'x'.repeat(64 * 1024);
    const chunks = ['{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"', ...Array(20).fill(chunk), '"}}'];
    const r = await raw(stack, { headers: { ...jsonHeaders(), 'transfer-encoding': 'chunked' }, chunks });
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, -32600);
  });
});

describe('response format (Accept)', () => {
  test('application/json, */* and no Accept all get JSON', async () => {
    for (const accept of ['application/json', '*/*', 'application/json, text/event-stream', 'text/event-stream, application/json', 'application/*', 'text/html']) {
      const r = await rpc(stack, req('ping'), { headers: { accept } });
      assert.equal(r.status, 200, accept);
      assert.match(r.headers.get('content-type'), /^application\/json/, accept);
      assert.deepEqual(r.json.result, {});
    }
    const none = await raw(stack, { headers: { 'content-type': 'application/json', ...auth() }, body: JSON.stringify(req('ping', undefined, 'na')) });
    assert.equal(none.status, 200);
    assert.match(none.headers['content-type'], /^application\/json/);
    assert.equal(none.json.id, 'na');
  });

  test('only text/event-stream accepted → a single `event: message` SSE frame', async () => {
    const r = await rpc(stack, req('tools/list', {}, 's1'), { headers: { accept: 'text/event-stream' } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const m = /^event: message\ndata: (.*)\n\n$/.exec(r.text);
    assert.ok(m, r.text.slice(0, 200));
    const msg = JSON.parse(m[1]);
    assert.equal(msg.id, 's1');
    assert.equal(msg.result.tools.length, TOOL_COUNT);
  });

  test('errors are SSE-framed too when only SSE is accepted; notifications stay 202', async () => {
    const e = await rpc(stack, '{', { headers: { accept: 'text/event-stream' } });
    assert.equal(e.status, 400);
    assert.match(e.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(JSON.parse(/^event: message\ndata: (.*)\n\n$/.exec(e.text)[1]).error.code, -32700);
    assertEmpty202(await rpc(stack, note('notifications/initialized'), { headers: { accept: 'text/event-stream' } }));
    const m = await modernRpc(stack, 'tools/list', {}, { headers: { accept: 'text/event-stream' } });
    assert.match(m.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(JSON.parse(/^event: message\ndata: (.*)\n\n$/.exec(m.text)[1]).result.resultType, 'complete');
  });
});

describe('tools', () => {
  test('tools/list is one deterministic page, identical across calls and lanes', async () => {
    const a = await rpc(stack, req('tools/list', {}, 1));
    const b = await rpc(stack, req('tools/list', {}, 1), { headers: { 'mcp-protocol-version': '2025-06-18' } });
    assert.equal(a.text, b.text);
    // 2025-11-25 adds only execution.taskSupport: on the two waits, and on
    // create_tasks since jobs are on (MCP tasks; tasks.test.mjs, jobs.test.mjs).
    const c = await rpc(stack, req('tools/list', {}, 1), { headers: { 'mcp-protocol-version': '2025-11-25' } });
    const marked = c.json.result.tools.filter((t) => t.execution).map((t) => t.name);
    assert.deepEqual(marked, ['create_tasks', 'wait_for_task', 'wait_for_batch']);
    assert.deepEqual(c.json.result.tools.map(({ execution, ...t }) => t), a.json.result.tools);
    const names = a.json.result.tools.map((t) => t.name);
    assert.equal(names.length, TOOL_COUNT);
    assert.equal(new Set(names).size, TOOL_COUNT);
    for (const n of ['create_task', 'get_task', 'list_tasks', 'list_callbacks', 'get_callback', 'create_project', 'manage_team']) assert.ok(names.includes(n), n);
    for (const t of a.json.result.tools) {
      assert.match(t.name, /^[A-Za-z0-9_.-]{1,64}$/);
      assert.equal(t.inputSchema.type, 'object');
      assert.ok(t.description);
    }
    const m1 = await modernRpc(stack, 'tools/list');
    const m2 = await modernRpc(stack, 'tools/list');
    assert.equal(m1.text, m2.text);
    // On 2026-07-28 a request that declares MCP Apps gets what the legacy lane lists; one that
    // does not, the same without the view's own tool and without the tools' _meta.
    const withUi = await modernRpc(stack, 'tools/list', { _meta: { 'io.modelcontextprotocol/clientCapabilities': UI_CAPS } });
    assert.deepEqual(withUi.json.result.tools, a.json.result.tools);
    assert.deepEqual(m1.json.result.tools, a.json.result.tools.filter((t) => t.name !== 'get_task_attachment').map(({ _meta, ...t }) => t));
  });

  test('the annotation view: _meta per lane and per declared capability, the cache key, the ui:// resource', async () => {
    const metaOf = (r) => Object.fromEntries(r.json.result.tools.filter((t) => t._meta).map((t) => [t.name, t._meta]));
    const opens = { ui: { resourceUri: VIEW_RESOURCE.uri }, 'ui/resourceUri': VIEW_RESOURCE.uri };
    const want = { get_task: opens, wait_for_task: opens, get_task_attachment: { ui: { resourceUri: VIEW_RESOURCE.uri, visibility: ['app'] } } };
    const declared = () => modernRpc(stack, 'tools/list', { _meta: { 'io.modelcontextprotocol/clientCapabilities': UI_CAPS } });
    const other = (caps) => modernRpc(stack, 'tools/list', { _meta: { 'io.modelcontextprotocol/clientCapabilities': caps } });
    assert.deepEqual(metaOf(await rpc(stack, req('tools/list'))), want, 'legacy: every client');
    // Alternating requests: the isolate's cached lists never answer one with the other's.
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(metaOf(await declared()), want);
      for (const caps of [{}, { extensions: { 'io.modelcontextprotocol/ui': {} } }, { extensions: { 'io.modelcontextprotocol/ui': { mimeTypes: ['text/html'] } } }]) {
        const r = await other(caps);
        assert.deepEqual(metaOf(r), {}, JSON.stringify(caps));
        assert.ok(!r.json.result.tools.some((t) => t.name === 'get_task_attachment'));
      }
    }
    // Discovery advertises the extension (beside MCP tasks', which tasks.test.mjs checks).
    const d = await modernRpc(stack, 'server/discover');
    assert.deepEqual(d.json.result.capabilities.extensions['io.modelcontextprotocol/ui'], { mimeTypes: ['text/html;profile=mcp-app'] });
    // The resource: listed to requests that get the view, read by anyone, with a CSP of no outside domain.
    const listed = async (r) => r.json.result.resources.some((x) => x.uri === VIEW_RESOURCE.uri);
    assert.ok(await listed(await modernRpc(stack, 'resources/list', { _meta: { 'io.modelcontextprotocol/clientCapabilities': UI_CAPS } })));
    assert.ok(!(await listed(await modernRpc(stack, 'resources/list'))));
    for (const r of [await rpc(stack, req('resources/read', { uri: VIEW_RESOURCE.uri })), await modernRpc(stack, 'resources/read', { uri: VIEW_RESOURCE.uri })]) {
      const [c] = r.json.result.contents;
      assert.equal(c.mimeType, 'text/html;profile=mcp-app');
      assert.deepEqual(c._meta, { ui: { csp: { connectDomains: [], resourceDomains: [] }, prefersBorder: true } });
      // The document scripts/build.sh minified from src/view/annotations.html.
      assert.equal(c.text, await readFile(new URL('../../target/view/annotations.html', import.meta.url), 'utf8'));
    }
    // The view's own tool, called on 2026-07-28 without the declaration: the missing capability.
    const call = await modernRpc(stack, 'tools/call', { name: 'get_task_attachment', arguments: { task_id: 'x' } });
    assert.equal(call.status, 400);
    assert.equal(call.json.error.code, -32021);
    assert.deepEqual(call.json.error.data.requiredCapabilities, UI_CAPS);
  });

  test('an invented cursor is -32602', async () => {
    assertRpcError(await rpc(stack, req('tools/list', { cursor: 'page-2' }, 3)), 200, -32602, 3);
  });

  test('tools/call dispatches, reports Scale errors and bad arguments as isError', async () => {
    const ok = await rpc(stack, req('tools/call', { name: 'list_projects', arguments: {} }, 10));
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json.result.structuredContent, { projects: [] });
    assert.notEqual(ok.json.result.isError, true);
    const missing = await rpc(stack, req('tools/call', { name: 'get_task', arguments: { task_id: 'no-such-task' } }, 11));
    assert.equal(missing.json.result.isError, true);
    assert.match(missing.json.result.content[0].text, /404/);
    const bad = await rpc(stack, req('tools/call', { name: 'get_task', arguments: {} }, 12));
    assert.equal(bad.json.result.isError, true);
    assert.match(bad.json.result.content[0].text, /task_id/);
  });

  test('unknown tool and malformed tools/call params are -32602', async () => {
    assertRpcError(await rpc(stack, req('tools/call', { name: 'no_such_tool', arguments: {} }, 20)), 200, -32602, 20);
    assertRpcError(await rpc(stack, req('tools/call', { arguments: {} }, 21)), 200, -32602, 21);
    assertRpcError(await rpc(stack, req('tools/call', { name: 'list_projects', arguments: [1] }, 22)), 200, -32602, 22);
    const m = await modernRpc(stack, 'tools/call', { name: 'no_such_tool', arguments: {} }, { id: 23 });
    assert.equal(m.json.error.code, -32602);
    assert.equal(m.json.id, 23);
  });
});

describe('modern lane (2026-07-28)', () => {
  function assertModernResult(r, { list = false } = {}) {
    assert.equal(r.status, 200, r.text);
    const res = r.json.result;
    assert.equal(res.resultType, 'complete');
    const info = res._meta?.['io.modelcontextprotocol/serverInfo'];
    assert.equal(info?.name, 'scale-mcp-worker');
    assert.equal(typeof info.version, 'string');
    if (list) {
      assert.ok(Number.isInteger(res.ttlMs) && res.ttlMs >= 0, `ttlMs: ${res.ttlMs}`);
      assert.ok(['public', 'private'].includes(res.cacheScope), `cacheScope: ${res.cacheScope}`);
    }
    return res;
  }

  test('server/discover: versions, capabilities, instructions, serverInfo, caching hints', async () => {
    const r = await modernRpc(stack, 'server/discover', {}, { id: 'd1' });
    assert.equal(r.json.id, 'd1');
    const res = assertModernResult(r, { list: true });
    assert.deepEqual([...res.supportedVersions].sort(), [...ALL_VERSIONS].sort());
    assert.equal(typeof res.capabilities.tools, 'object');
    assert.equal(typeof res.instructions, 'string');
    assert.equal(res.protocolVersion, undefined);
  });

  test('server/discover without the header but with _meta is still the modern lane (and then needs the header)', async () => {
    const m = modern('server/discover');
    const r = await rpc(stack, m.body, { headers: { 'mcp-method': 'server/discover' } });
    assertRpcError(r, 400, -32020, 1);
    assert.match(r.json.error.message, /MCP-Protocol-Version/);
  });

  test('list results carry resultType, ttlMs, cacheScope and serverInfo', async () => {
    for (const method of ['tools/list', 'resources/list', 'resources/templates/list']) assertModernResult(await modernRpc(stack, method), { list: true });
    const tl = assertModernResult(await modernRpc(stack, 'tools/list'), { list: true });
    assert.equal(tl.cacheScope, 'public', 'the tool list is the same for every token');
    // Without MCP Apps declared: all but the annotation view's own tool.
    assert.equal(tl.tools.length, TOOL_COUNT - 1);
  });

  test('tools/call results carry resultType and serverInfo', async () => {
    const ok = assertModernResult(await modernRpc(stack, 'tools/call', { name: 'list_projects', arguments: {} }));
    assert.deepEqual(ok.structuredContent, { projects: [] });
    const err = assertModernResult(await modernRpc(stack, 'tools/call', { name: 'get_task', arguments: { task_id: 'missing-1' } }));
    assert.equal(err.isError, true);
    assert.match(err.content[0].text, /404/);
  });

  test('a missing resource is -32602 (not -32002)', async () => {
    const r = await modernRpc(stack, 'resources/read', { uri: 'scale-callback://deliveries/nope' }, { id: 9 });
    assert.equal(r.json.id, 9);
    assert.equal(r.json.error.code, -32602);
  });

  test('missing or malformed _meta is -32602 (HTTP 400)', async () => {
    const headers = { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' };
    const cases = [
      {},
      { _meta: {} },
      { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } },
      { _meta: { 'io.modelcontextprotocol/clientCapabilities': {} } },
      { _meta: { 'io.modelcontextprotocol/protocolVersion': 20260728, 'io.modelcontextprotocol/clientCapabilities': {} } },
      { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': 'all' } },
      { _meta: 'x' },
    ];
    for (const params of cases) {
      const r = await rpc(stack, req('tools/list', params, 'm'), { headers });
      assertRpcError(r, 400, -32602, 'm');
      assert.match(r.json.error.message, /_meta|io\.modelcontextprotocol/, JSON.stringify(params));
    }
    const noParams = await rpc(stack, req('tools/list', undefined, 'n'), { headers });
    assertRpcError(noParams, 400, -32602, 'n');
  });

  test('MCP-Protocol-Version must equal the _meta protocol version (-32020)', async () => {
    for (const v of ['2025-11-25', '2025-03-26']) {
      const r = await modernRpc(stack, 'tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': v } }, { id: v });
      assertRpcError(r, 400, -32020, v);
      assert.match(r.json.error.message, /MCP-Protocol-Version/);
    }
  });

  test('Mcp-Method is required and must match the body (-32020)', async () => {
    assertRpcError(await modernRpc(stack, 'tools/list', {}, { headers: { 'mcp-method': undefined } }), 400, -32020, 1);
    assertRpcError(await modernRpc(stack, 'tools/list', {}, { headers: { 'mcp-method': 'tools/call' } }), 400, -32020, 1);
    assertRpcError(await modernRpc(stack, 'tools/list', {}, { headers: { 'mcp-method': 'TOOLS/LIST' } }), 400, -32020, 1);
    const b64 = `=?base64?${Buffer.from('tools/list').toString('base64')}?=`;
    assert.equal((await modernRpc(stack, 'tools/list', {}, { headers: { 'mcp-method': b64 } })).status, 200);
  });

  test('Mcp-Name is required for tools/call and resources/read and must match (-32020)', async () => {
    const call = { name: 'list_projects', arguments: {} };
    assertRpcError(await modernRpc(stack, 'tools/call', call, { headers: { 'mcp-name': undefined } }), 400, -32020, 1);
    assertRpcError(await modernRpc(stack, 'tools/call', call, { headers: { 'mcp-name': 'get_task' } }), 400, -32020, 1);
    assertRpcError(await modernRpc(stack, 'tools/call', call, { headers: { 'mcp-name': '=?base64?!!!?=' } }), 400, -32020, 1);
    const uri = 'scale-callback://deliveries/abc';
    assertRpcError(await modernRpc(stack, 'resources/read', { uri }, { headers: { 'mcp-name': undefined } }), 400, -32020, 1);
    assertRpcError(await modernRpc(stack, 'resources/read', { uri }, { headers: { 'mcp-name': 'scale-callback://deliveries/other' } }), 400, -32020, 1);
    // Extra Mcp-Name on a method that has no name is harmless.
    assert.equal((await modernRpc(stack, 'tools/list', {}, { headers: { 'mcp-name': 'whatever' } })).status, 200);
  });

  test('a base64-encoded Mcp-Name (=?base64?…?=) is accepted', async () => {
    const enc = (s) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;
    const ok = await modernRpc(stack, 'tools/call', { name: 'list_projects', arguments: {} }, { headers: { 'mcp-name': enc('list_projects') } });
    assertModernResult(ok);
    assert.deepEqual(ok.json.result.structuredContent, { projects: [] });
    // A non-ASCII tool name can only travel encoded; it reaches the unknown-tool check.
    const uni = await modernRpc(stack, 'tools/call', { name: 'wérkzeug', arguments: {} }, { headers: { 'mcp-name': enc('wérkzeug') } });
    assert.equal(uni.json.error.code, -32602);
    assert.match(uni.json.error.message, /unknown tool/);
  });

  test('an unsupported version is 400 / -32022 with the supported list, to the request\'s id', async () => {
    const h = await modernRpc(stack, 'server/discover', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } }, { headers: { 'mcp-protocol-version': '2099-01-01' }, id: 'u' });
    assertRpcError(h, 400, -32022, 'u');
    assert.deepEqual([...h.json.error.data.supported].sort(), [...ALL_VERSIONS].sort());
    assert.equal(h.json.error.data.requested, '2099-01-01');
    // Header and _meta disagree: a mismatch, compared before either version is judged.
    for (const [header, meta] of [
      [MODERN, '2099-01-01'],
      ['2099-01-01', MODERN],
    ]) {
      const r = await modernRpc(stack, 'server/discover', { _meta: { 'io.modelcontextprotocol/protocolVersion': meta } }, { headers: { 'mcp-protocol-version': header }, id: 'v' });
      assertRpcError(r, 400, -32020, 'v');
    }
  });

  test('unknown methods are 404 / -32601 with a JSON body; ping and initialize are not modern methods', async () => {
    for (const method of ['prompts/list', 'nope', 'ping', 'initialize', 'logging/setLevel']) {
      const r = await modernRpc(stack, method, {}, { id: method });
      assertRpcError(r, 404, -32601, method);
    }
  });

  test('a notification on the modern lane is 202 with no body', async () => {
    const m = modern('notifications/cancelled', { requestId: 1 });
    delete m.body.id;
    assertEmpty202(await rpc(stack, m.body, { headers: m.headers }));
  });
});
