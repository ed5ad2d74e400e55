import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, rpc } from './harness.mjs';

let stack;
before(async () => {
  stack = await startStack();
});
after(async () => stack?.close());

test('health answers the status to anyone, and presence booleans only with a valid token', async () => {
  const open = await fetch(`${stack.url}/health`);
  assert.equal(open.status, 200);
  assert.deepEqual(await open.json(), { status: 'ok' });
  const wrong = await fetch(`${stack.url}/health`, { headers: { authorization: 'Bearer not-the-token-0123456789' } });
  assert.deepEqual(await wrong.json(), { status: 'ok' });
  const r = await fetch(`${stack.url}/health`, { headers: { authorization: `Bearer ${stack.token}` } });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.status, 'ok');
  assert.equal(body.settings.SCALE_API_KEY, true);
  assert.equal(body.settings.CALLBACKS, true);
  assert.ok(!JSON.stringify(body).includes(stack.token));
});

test('a tool call reaches the simulator', async () => {
  const r = await rpc(stack, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'list_projects', arguments: {} } });
  assert.equal(r.status, 200);
  assert.equal(r.json.id, 7);
  assert.deepEqual(r.json.result.structuredContent, { projects: [] });
  const reqs = await stack.simRequests();
  assert.equal(reqs.at(-1).method, 'GET');
  assert.equal(reqs.at(-1).path, '/v1/projects');
});
