// `npm run dev` as a user runs it: on a fresh vars file it generates a token,
// builds both workers once, starts them in workerd through one `wrangler dev`
// (the MCP worker and the jobs worker) next to the simulator, prints the URL,
// the token and a client config; the MCP worker serves tools and receives
// callbacks from the simulator; a dataset-scale job runs to its end through
// the jobs worker, which got the same settings; a refusal leaves its
// keep-alive connection usable; Ctrl-C stops everything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function refused(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(false); });
    c.on('error', () => resolve(true));
  });
}

async function mcp(url, token, name, args) {
  const r = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).result;
}

/** A POST of JSON to the simulator's control API; resolves its JSON answer. */
async function simPost(simUrl, pathname, body) {
  const r = await fetch(`${simUrl}/__sim/${pathname}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.ok, `${pathname}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** A 2026-07-28 request from a client that follows tasks (the tasks extension). */
async function modernCall(url, token, method, params) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method };
  const named = params.taskId ?? params.name;
  if (named !== undefined) headers['mcp-name'] = named;
  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } };
  const r = await fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: meta } }) });
  const json = await r.json();
  assert.ok(json.result, `${method}: ${r.status} ${JSON.stringify(json)}`);
  return json.result;
}

/**
 * Sends `pairs` refusal-then-request pairs over one keep-alive connection;
 * returns how often each pair of statuses (or errors) was seen.
 */
async function pairsOnOneConnection(url, token, pairs) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const u = new URL(`${url}/mcp`);
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  const send = (headers) =>
    new Promise((resolve) => {
      const r = http.request(
        { agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        },
      );
      r.on('error', (e) => resolve(e.code));
      r.end(body);
    });
  const seen = {};
  try {
    for (const [refusal, headers] of pairs) {
      const first = await send(headers);
      const second = await send({ authorization: `Bearer ${token}` });
      const k = `${refusal}: ${first} then ${second}`;
      seen[k] = (seen[k] ?? 0) + 1;
    }
  } finally {
    agent.destroy();
  }
  return seen;
}

test('npm run dev: fresh setup, one build of each worker, tools, callbacks, a job through the jobs worker, refusals on a kept-alive connection, Ctrl-C', { timeout: 420_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'scale-mcp-dev-'));
  const varsFile = path.join(dir, '.dev.vars');
  const [port, inspector] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [path.join(root, 'scripts/dev.mjs')], {
    cwd: root,
    env: { ...process.env, PORT: String(port), INSPECTOR_PORT: String(inspector), DEV_VARS: varsFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let simBase;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (c) => {
        out += c;
        if (out.includes('Press Ctrl-C to stop.')) resolve();
      });
      child.stderr.on('data', (c) => { out += c; });
      exited.then(() => reject(new Error(`dev exited early:\n${out}`)));
    });
    const token = /^MCP_AUTH_TOKEN=(.+)$/m.exec(readFileSync(varsFile, 'utf8'))[1];
    assert.ok(token.length >= 32, 'a generated token');
    assert.match(readFileSync(varsFile, 'utf8'), /^OAUTH_SECRET=[0-9a-f]{64}$/m, 'a generated OAuth secret');
    const url = `http://127.0.0.1:${port}`;
    assert.ok(out.includes(`MCP endpoint   ${url}/mcp`) && out.includes(`Bearer token   ${token}`), out);
    assert.ok(out.includes('"mcpServers"'), 'prints a client config');
    // One build of each worker, dev's own: wrangler runs no build command, so none a second time at start.
    assert.equal(out.match(/dev: building the workers/g)?.length, 1, out);
    assert.ok(!out.includes('[custom build]') && !out.includes('restarting build'), out);
    assert.ok(out.includes('Jobs worker    runs dataset-scale jobs'), out);
    // wrangler runs the copies of both configs, each with the same secrets beside it.
    const devDir = path.join(root, '.wrangler', 'dev', String(port));
    const copies = ['mcp', 'jobs'].map((w) => readFileSync(path.join(devDir, w, '.dev.vars'), 'utf8'));
    assert.equal(copies[0], copies[1]);
    assert.ok(copies[0].includes(`MCP_AUTH_TOKEN=${token}`));
    simBase = /local simulator at (\S+\/v1)/.exec(out)?.[1];
    assert.ok(simBase, 'no real key, so the simulator is used');

    assert.deepEqual(await (await fetch(`${url}/health`)).json(), { status: 'ok' });
    const health = await (await fetch(`${url}/health`, { headers: { authorization: `Bearer ${token}` } })).json();
    assert.equal(health.status, 'ok');
    // OAuth works under wrangler dev with no extra step: its Durable Object is declared in wrangler.toml.
    const as = await fetch(`${url}/.well-known/oauth-authorization-server`);
    assert.equal(as.status, 200);
    assert.equal((await as.json()).issuer, url);
    const reg = await fetch(`${url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) });
    assert.equal(reg.status, 201, await reg.clone().text());
    assert.ok(out.includes(`${url}/oauth/grants`), 'prints where grants are managed');
    assert.equal(health.settings.DEFAULT_CALLBACK_URL, true);

    const project = await mcp(url, token, 'create_project', { type: 'categorization', name: 'dev-check' });
    assert.notEqual(project.isError, true, JSON.stringify(project));
    const task = (await mcp(url, token, 'create_task', { type: 'categorization', project: 'dev-check', params: { categories: ['a', 'b'] } })).structuredContent;
    assert.equal(task.callback_url, `${url}/webhooks/scale`, 'callbacks are wired back to the worker');
    const done = await (await fetch(`${simBase.replace(/\/v1$/, '')}/__sim/tasks/${task.task_id}/complete`, { method: 'POST' })).json();
    assert.equal(done.delivery.status_code, 200, 'the worker accepted the simulator callback');
    const log = (await mcp(url, token, 'list_callbacks', { task_id: task.task_id })).structuredContent;
    assert.equal(log.callbacks.length, 1);
    assert.equal(log.callbacks[0].status, 'completed');

    // A dataset-scale job: the MCP worker starts it, the jobs worker (the
    // second config, no route of its own) reads the manifest from the
    // simulator and creates its tasks. It runs only if the jobs worker has
    // the MCP worker's settings: with any other, the job would wait.
    const simUrl = simBase.replace(/\/v1$/, '');
    await simPost(simUrl, 'seed', { projects: [{ name: 'dev-jobs', type: 'imageannotation' }] });
    const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify({ attachment: `https://img.example/dev-${i}.png`, metadata: { n: String(i) } }));
    const file = await simPost(simUrl, 'files', { path: 'dev/manifest.jsonl', body: `${lines.join('\n')}\n` });
    const started = await modernCall(url, token, 'tools/call', { name: 'create_tasks', arguments: { type: 'imageannotation', project: 'dev-jobs', idempotency_key: 'dev-job', items_url: file.url } });
    assert.equal(started.resultType, 'task', JSON.stringify(started));
    let job;
    for (const end = Date.now() + 60_000; ;) {
      job = await modernCall(url, token, 'tasks/get', { taskId: started.taskId });
      if (job.status !== 'working' || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(job.status, 'completed', `${job.statusMessage}\n${out.split('\n').filter((l) => /QUEUE|job |jobs/i.test(l)).slice(-12).join('\n')}`);
    assert.equal(job.statusMessage, 'Done: 5 of 5 created, 0 failed.');
    assert.deepEqual([job.result.structuredContent.created, job.result.structuredContent.failed], [5, 0]);
    const stats = await (await fetch(`${simUrl}/__sim/task-stats?project=dev-jobs`)).json();
    assert.equal(stats.tasks, 5);

    // A request refused before its body is read (a foreign Origin, no token)
    // leaves the connection usable: every request after one is answered
    // by the worker, never by wrangler's proxy with 503.
    const pairs = [];
    for (let i = 0; i < 400; i++) {
      pairs.push(['foreign Origin', { authorization: `Bearer ${token}`, origin: 'https://evil.example' }]);
      pairs.push(['no token', {}]);
    }
    const seen = await pairsOnOneConnection(url, token, pairs);
    assert.deepEqual(seen, { 'foreign Origin: 403 then 200': 400, 'no token: 401 then 200': 400 });
  } finally {
    child.kill('SIGINT');
    await exited;
  }
  assert.ok(await refused(port), 'Ctrl-C stopped the worker');
  assert.ok(!existsSync(path.join(root, '.wrangler', 'dev', String(port))), 'the configs and secrets copied for wrangler are gone');
  // The simulator is dev's own child: a leftover one would keep its port.
  const simPort = Number(new URL(simBase).port);
  assert.ok(simPort > 0, simBase);
  assert.ok(await refused(simPort), `Ctrl-C stopped the simulator on ${simBase}`);
});
