// Attacks on every entry point of the running worker: authentication and
// origin tricks, hostile path arguments, malformed bodies. Every stack's
// close() also fails the file if a secret appeared in any response or log line.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startStack, rpc, SECRETS, assertNoSecretLeaks } from './harness.mjs';

const OLD = 'rotated-old-token-0123456789';
let stack;
before(async () => {
  stack = await startStack({ vars: { MCP_AUTH_TOKEN: `${OLD},${SECRETS.MCP_AUTH_TOKEN}` } });
});
after(async () => stack?.close());

const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };

async function raw(headers, { body = JSON.stringify(ping), method = 'POST', url = stack.mcpUrl } = {}) {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body: method === 'POST' ? body : undefined });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

test('tokens: missing, wrong, prefix, extension, query string, scheme case, several headers, rotation', async () => {
  const t = SECRETS.MCP_AUTH_TOKEN;
  const refused = [
    {},
    { authorization: 'Bearer wrong-token-0123456789' },
    { authorization: `Bearer ${t.slice(0, -1)}` },
    { authorization: `Bearer ${t}0` },
    { authorization: `Bearer  ${t} extra` },
    { authorization: `Basic ${Buffer.from(`${t}:`).toString('base64')}` },
    { authorization: t },
  ];
  for (const h of refused) {
    const r = await raw(h);
    assert.equal(r.status, 401, JSON.stringify(h));
    assert.match(r.headers.get('www-authenticate'), /^Bearer realm="scale-mcp"/);
  }
  const inQuery = await raw({}, { url: `${stack.mcpUrl}?token=${t}&access_token=${t}` });
  assert.equal(inQuery.status, 401, 'a token in the query string is ignored');
  assert.equal((await raw({ authorization: `bearer ${t}` })).status, 200);
  assert.equal((await raw({ authorization: `BEARER ${t}` })).status, 200);
  assert.equal((await raw({ authorization: `Bearer ${OLD}` })).status, 200, 'old token during rotation');
  assert.equal((await raw({ authorization: `Bearer ${t}` })).status, 200, 'new token during rotation');
  const two = new Headers({ 'content-type': 'application/json' });
  two.append('authorization', `Bearer ${t}`);
  two.append('authorization', `Bearer ${OLD}`);
  const several = await fetch(stack.mcpUrl, { method: 'POST', headers: two, body: JSON.stringify(ping) });
  assert.equal(several.status, 401, 'several Authorization headers are not one valid token');
  await several.text();
});

test('origins: hostile, null, lookalikes refused; loopback allowed; preflight with and without a token', async () => {
  const auth = { authorization: `Bearer ${SECRETS.MCP_AUTH_TOKEN}` };
  for (const origin of ['https://evil.example', 'null', 'http://localhost.evil.example', `${stack.url}.evil.example`, 'file://', 'chrome-extension://abc']) {
    const r = await raw({ ...auth, origin });
    assert.equal(r.status, 403, origin);
    assert.equal(JSON.parse(r.text).error.code, -32600);
  }
  assert.equal((await raw({ ...auth, origin: 'http://localhost:6274' })).status, 200);
  for (const withToken of [false, true]) {
    const pre = await raw({ ...(withToken ? auth : {}), origin: 'http://localhost:6274', 'access-control-request-method': 'POST' }, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://localhost:6274');
    const hostile = await raw({ ...(withToken ? auth : {}), origin: 'https://evil.example' }, { method: 'OPTIONS' });
    assert.equal(hostile.status, 403);
  }
});

test('hostile path arguments never leave their endpoint', async () => {
  await stack.simControl('requests', undefined, 'DELETE');
  const hostile = ['../projects', '..', '.', 'a/b', '%2F', '..%2Fprojects', 'a?x=1', 'a#frag', 'a\\b', 'x\u0000y', 'tab\there', 'ü/ñ', 'x'.repeat(1024)];
  for (const id of hostile) {
    const r = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_task', arguments: { task_id: id } } });
    assert.equal(r.status, 200);
    assert.equal(r.json.result.isError, true, id);
  }
  for (const name of ['..', '.', '', 'x'.repeat(1025)]) {
    const r = await rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_batch', arguments: { name } } });
    assert.equal(r.json.result.isError, true);
    assert.match(r.json.result.content[0].text, /No request was sent/);
  }
  const seen = await stack.simRequests();
  for (const req of seen) assert.match(req.path, /^\/v1\/task\/[^/]+$/, `left the endpoint: ${req.path}`);
  // Refused ones ('..', '.') never reach the simulator; the rest arrive as one segment.
  assert.equal(seen.length, hostile.length - 2);
  // The simulator splits path from query at '?', so an unencoded '?' or '#'
  // would still pass the path check above; the query and the decoded segment catch it.
  const sent = hostile.filter((id) => id !== '..' && id !== '.');
  seen.forEach((req, i) => {
    assert.equal(req.query, '', `no query may reach Scale for ${JSON.stringify(sent[i])}: ${req.query}`);
    assert.equal(decodeURIComponent(req.path.split('/').at(-1)), sent[i], `${req.path} carries the id that was sent`);
  });
  assert.ok(seen.some((r) => r.path === '/v1/task/..%2Fprojects' || r.path === '/v1/task/..%252Fprojects'));
});

/** Sends only the headers of a POST that declares `length` body bytes, and reads the answer. */
function declaredOnly(url, headers, length) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const r = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': length, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        r.destroy();
        resolve({ status: res.statusCode, text });
      });
    });
    r.on('error', reject);
    // No answer without the body would mean the worker waits to read what it should refuse unread.
    r.setTimeout(10_000, () => r.destroy(new Error('no answer to the headers alone')));
    r.flushHeaders();
  });
}

test('malformed bodies get clear errors and the worker keeps serving', async () => {
  const auth = { authorization: `Bearer ${SECRETS.MCP_AUTH_TOKEN}` };
  // An oversized body is refused from its declared length, unread; sending it whole races
  // the runtime closing the connection (a reset before the answer is read), so only its
  // headers go out here and the answer is read before the connection is dropped.
  const big = await declaredOnly(stack.mcpUrl, auth, 1024 * 1024 + 10);
  assert.equal(big.status, 413);
  assert.match(JSON.parse(big.text).error.message, /\d/);
  const cases = [
    ['['.repeat(100000) + ']'.repeat(100000), 400],
    ['{"jsonrpc":"2.0","id":1e400,"method":"ping"}', 400],
    ['{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}', 400],
    [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 400],
    ['', 400],
  ];
  for (const [body, status] of cases) {
    const r = await raw(auth, { body });
    assert.equal(r.status, status, String(body).slice(0, 40));
    assert.ok(JSON.parse(r.text).error.message.length > 5);
  }
  const after = await raw(auth);
  assert.equal(after.status, 200);
  const hook = await fetch(stack.webhookUrl, { method: 'POST', headers: { 'scale-callback-auth': SECRETS.SCALE_CALLBACK_AUTH_KEY, 'content-type': 'application/json' }, body: '{"a":' });
  assert.equal(hook.status, 400);
  await hook.text();
});

test('a refused request leaves its connection usable, and a refused large body is never read', async () => {
  // workerd closes a connection whose request body was left unread, so the next request a
  // keep-alive client sends on it fails; a small refused body is drained instead.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const send = (url, headers, body) =>
    new Promise((resolve) => {
      const u = new URL(url);
      const r = http.request({ agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      r.on('error', (e) => resolve(e.code));
      r.end(body);
    });
  const small = JSON.stringify({ ...ping, params: { pad: 'p'.repeat(20_000) } });
  const seen = [];
  for (let i = 0; i < 5; i++) {
    seen.push(await send(stack.mcpUrl, {}, small));
    seen.push(await send(stack.webhookUrl, { 'scale-callback-auth': 'wrong-callback-key-0123456789' }, small));
    seen.push(await send(stack.mcpUrl, { authorization: `Bearer ${SECRETS.MCP_AUTH_TOKEN}` }, JSON.stringify(ping)));
  }
  agent.destroy();
  assert.deepEqual(seen, Array(5).fill([401, 401, 200]).flat());
  // A 4 MiB unauthenticated delivery is refused from its headers (a reset is fine: it is not read).
  const big = await fetch(stack.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(4 << 20, 'x') }).then(
    (r) => r.status,
    () => 0,
  );
  assert.ok(big === 401 || big === 0, String(big));
  assert.equal((await raw({ authorization: `Bearer ${SECRETS.MCP_AUTH_TOKEN}` })).status, 200, 'the worker keeps serving');
});

test('invalid bearer tokens are limited per address (an IPv6 /64 is one), never a valid token', async () => {
  const limited = await startStack({ authLimit: { limit: 5, period: 60 } });
  try {
    const send = async (ip, token) => {
      const headers = { 'content-type': 'application/json', 'cf-connecting-ip': ip };
      if (token) headers.authorization = `Bearer ${token}`;
      const r = await fetch(limited.mcpUrl, { method: 'POST', headers, body: JSON.stringify(ping) });
      return { status: r.status, retry: r.headers.get('retry-after'), text: await r.text() };
    };
    // Rotating addresses inside one /64 counts as one address.
    for (let i = 0; i < 5; i++) assert.equal((await send(`2001:db8:42:7::${i + 1}`, 'wrong-token-0123456789')).status, 401);
    const over = await send('2001:db8:42:7:ffff::1', 'wrong-token-0123456789');
    assert.equal(over.status, 429, over.text);
    assert.equal(over.retry, '60');
    assert.equal(JSON.parse(over.text).error, 'too_many_requests');
    // A valid token from that network is served; a request without a token gets the 401 that starts sign-in.
    assert.equal((await send('2001:db8:42:7::1', limited.token)).status, 200);
    assert.equal((await send('2001:db8:42:7::1', null)).status, 401);
    assert.equal((await send('2001:db8:42:8::1', 'wrong-token-0123456789')).status, 401, 'another /64');
  } finally {
    await limited.close();
  }
});

test('each route checks only its own settings; SCALE_API_BASE must be https off loopback', async () => {
  const typo = await startStack({ vars: { ALLOWED_ORIGINS: 'https://app.example.com/oops' } });
  const clear = await startStack({ vars: { SCALE_API_BASE: 'http://api.scale.example/v1' } });
  try {
    // An /mcp setting's typo does not cost Scale's deliveries.
    const hook = await fetch(typo.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'scale-callback-auth': SECRETS.SCALE_CALLBACK_AUTH_KEY }, body: JSON.stringify({ task_id: 'typo-1', status: 'completed' }) });
    assert.equal(hook.status, 200, await hook.text());
    const m = await rpc(typo, ping);
    assert.equal(m.status, 500);
    assert.match(m.text, /ALLOWED_ORIGINS/);
    // Without a static token the answer names no setting; the log does.
    for (const token of [null, 'not-a-token-0123456789']) {
      const anon = await rpc(typo, ping, { token });
      assert.equal(anon.status, 500);
      assert.doesNotMatch(anon.text, /ALLOWED_ORIGINS/);
      assert.equal(JSON.parse(anon.text).message, 'The server is misconfigured; its operator can see why in the log.');
    }
    const deadline = Date.now() + 5000;
    while (!typo.logs.some((l) => /^POST \/mcp -> 500 .*ALLOWED_ORIGINS/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(typo.logs.some((l) => /^POST \/mcp -> 500 .*ALLOWED_ORIGINS/.test(l)), typo.logs.slice(-5).join('\n'));
    // The key would travel in clear text: refused, naming the setting (never the key).
    const c = await rpc(clear, ping);
    assert.equal(c.status, 500);
    assert.match(c.text, /SCALE_API_BASE: must be an https URL/);
    const h = await fetch(`${clear.url}/health`, { headers: { authorization: `Bearer ${SECRETS.MCP_AUTH_TOKEN}` } });
    assert.equal(h.status, 500);
    assert.match((await h.json()).errors.join(), /SCALE_API_BASE/);
    assert.deepEqual(await (await fetch(`${clear.url}/health`)).json(), { status: 'misconfigured' });
  } finally {
    await typo.close();
    await clear.close();
  }
});

// The leak scan in close() guards every file, so it must be shown to bite.
test('the secret-leak scan fails on a planted secret in a response or a log line', async () => {
  const basic = Buffer.from(`${SECRETS.SCALE_API_KEY}:`).toString('base64');
  const fake = (responses, logs) => ({
    secrets: SECRETS,
    responses: responses.map((r) => Promise.resolve({ url: 'http://fake/mcp', status: 200, headers: 'content-type: application/json', body: '{}', ...r })),
    logs,
  });
  await assert.rejects(assertNoSecretLeaks(fake([{ body: `{"error":"bad key ${SECRETS.SCALE_API_KEY}"}` }], [])), /secret value appeared in the response/);
  await assert.rejects(assertNoSecretLeaks(fake([{ headers: `x-debug: Basic ${basic}` }], [])), /secret value appeared in the response/);
  await assert.rejects(assertNoSecretLeaks(fake([], [`GET /mcp -> 200 in 1 ms | token ${SECRETS.MCP_AUTH_TOKEN}`])), /secret value appeared in the worker log/);
  // A rotated key is two secrets: the older one counts too.
  const rotated = { ...fake([], ['POST /webhooks/scale -> 200 | old-callback-key-5566']), secrets: { SCALE_CALLBACK_AUTH_KEY: `old-callback-key-5566,${SECRETS.SCALE_CALLBACK_AUTH_KEY}` } };
  await assert.rejects(assertNoSecretLeaks(rotated), /worker log/);
  // The message itself must not repeat the secret it found.
  await assert.rejects(assertNoSecretLeaks(fake([], [`x ${SECRETS.SCALE_CALLBACK_AUTH_KEY}`])), (e) => !e.message.includes(SECRETS.SCALE_CALLBACK_AUTH_KEY));
  assert.deepEqual(await assertNoSecretLeaks(fake([{}], ['GET /health -> 200 in 0 ms'])), { responses: 1, logLines: 1 });
});

test('a real stack records responses and captures worker log lines for the scan', async () => {
  assert.equal((await raw({ authorization: `Bearer ${SECRETS.MCP_AUTH_TOKEN}` })).status, 200);
  await (await fetch(`${stack.url}/health`)).text();
  // workerd's stdout is piped asynchronously: give the lines a moment to arrive.
  const deadline = Date.now() + 5000;
  while (!stack.logs.some((l) => l.includes('/health')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const seen = await assertNoSecretLeaks(stack);
  assert.ok(seen.responses > 0, 'responses were recorded');
  assert.ok(seen.logLines > 0, 'worker log lines were captured');
  assert.ok(stack.logs.some((l) => /^GET \/health -> 200\b/.test(l)), `a request line for /health in:\n${stack.logs.slice(-5).join('\n')}`);
});
