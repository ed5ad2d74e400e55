// Dataset-scale jobs end to end (issue 22, docs/jobs.md): create_tasks with
// items_url in workerd, on the real queue and Durable Objects of Miniflare,
// with the two workers of a deployment (the MCP worker, which starts a job,
// and the jobs worker, which consumes its queue), against the simulator
// serving the manifest. The big run goes through the official requester
// library (@modelcontextprotocol/ext-tasks) as a task-aware client would; the
// rest is raw wire, one test per behaviour. First, the check that the two
// workers' wrangler files agree.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createTaskSessionFromClient, resultFromTaskOutcome } from '@modelcontextprotocol/ext-tasks/client';
import { startStack, rpc, simFile, taskStats, secretNeedles } from './harness.mjs';
import { configDifferences, readConfig, MCP_CONFIG, JOBS_CONFIG } from '../../scripts/jobs-config.mjs';
import { closeAll } from './client.mjs';

const V1 = '2025-11-25';
const V2 = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';
const PROJECT = 'jobs-p';
const TYPE = 'imageannotation';
const template = { attachment: 'https://img.example/{i}.png', metadata: { n: '{i}' } };

let big; // 50 ms a create, 5% of creates fail (some after the task was made)
let plain; // no latency, no faults
let dying; // the jobs worker is the testing build: the first chunk's consumer dies mid-chunk
let differ; // the jobs worker's settings differ from the MCP worker's (one var)
let off; // no jobs worker, jobs unbound

before(async () => {
  [big, plain, dying, differ, off] = await Promise.all([
    startStack({ vars: { TASK_POLL_MS: '200', SUBREQUEST_LIMIT: '50' } }),
    startStack({ vars: { TASK_POLL_MS: '100', SUBREQUEST_LIMIT: '50' } }),
    // A batch that died is retried after 1 s, not wrangler.jobs.toml's 30 s.
    startStack({ jobsBuild: 'build-testing', vars: { TASK_POLL_MS: '100', SUBREQUEST_LIMIT: '50' }, jobsVars: { TEST_DIE_MID_CHUNK: '1' }, queue: { retryDelay: 1 } }),
    startStack({ vars: { TASK_POLL_MS: '100', SUBREQUEST_LIMIT: '50' }, jobsVars: { SCALE_TIMEOUT_MS: '30000' } }),
    startStack({ jobs: false }),
  ]);
  for (const s of [big, plain, dying, differ, off]) await s.simControl('seed', { projects: [{ name: PROJECT, type: TYPE }, { name: 'jobs-bad', type: TYPE }] });
  await big.simControl('config', { latency: [{ method: 'POST', pattern: 'task/*', ms: 50 }] });
  await big.simControl('faults', [
    { method: 'POST', pattern: 'task/*', probability: 0.02, status: 429, retryAfter: 1 },
    { method: 'POST', pattern: 'task/*', probability: 0.015, status: 503 },
    { method: 'POST', pattern: 'task/*', probability: 0.015, status: 502, after: true },
  ]);
});

after(async () => {
  await closeAll([big, plain, dying, differ, off]);
});

const auth = (token) => ({ Authorization: `Bearer ${token}` });

async function v1(s, method, params = {}, version = V1) {
  return rpc(s, { jsonrpc: '2.0', id: 1, method, params }, { headers: { 'mcp-protocol-version': version } });
}

async function v2(s, method, params = {}, { ext = true } = {}) {
  const h = { 'mcp-protocol-version': V2, 'mcp-method': method };
  const named = params.taskId ?? params.name ?? params.uri;
  if (named !== undefined) h['mcp-name'] = named;
  const caps = ext ? { extensions: { [EXT]: {} } } : {};
  const body = { jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': V2, 'io.modelcontextprotocol/clientCapabilities': caps } } };
  return rpc(s, body, { headers: h });
}

let n = 0;
/** A manifest served by the simulator: its URL. */
async function manifest(s, spec) {
  const r = await simFile(s, `m/${++n}.${spec.generate?.format === 'csv' ? 'csv' : 'jsonl'}`, spec);
  return r.url;
}

const args = (url, extra = {}) => ({ type: TYPE, project: PROJECT, idempotency_key: `job-${++n}`, items_url: url, ...extra });

/** Polls a 2026-07-28 task until it leaves `working`. */
async function settleV2(s, taskId, limitMs = 240_000) {
  const end = Date.now() + limitMs;
  for (;;) {
    const r = await v2(s, 'tasks/get', { taskId });
    assert.ok(r.json?.result, JSON.stringify(r.json));
    if (r.json.result.status !== 'working') return r.json.result;
    assert.ok(Date.now() < end, `still working: ${r.json.result.statusMessage}`);
    await new Promise((ok) => setTimeout(ok, 150));
  }
}

async function startV2(s, a) {
  const r = await v2(s, 'tools/call', { name: 'create_tasks', arguments: a });
  assert.equal(r.json?.result?.resultType, 'task', JSON.stringify(r.json));
  return r.json.result;
}

/** Every outcome of a finished job: the result's page, then each further page's. */
async function allOutcomes(s, first, taskId) {
  const items = [...first.items];
  let page = first;
  while (page.next_after !== undefined) {
    const uri = `scale-job://outcomes/${taskId}?after=${page.next_after}`;
    assert.ok(page.next_step.includes(uri), page.next_step);
    const r = await v2(s, 'resources/read', { uri });
    assert.ok(r.json?.result, JSON.stringify(r.json));
    assert.ok(r.text.length < 220_000, `a page is ${r.text.length} bytes`);
    page = JSON.parse(r.json.result.contents[0].text);
    items.push(...page.items);
  }
  return items;
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// The suites run side by side (each on stacks of its own, or creating
// nothing another one counts): the 10,000-line run is mostly waiting on the
// simulator's latency, and the rest fits in its shadow.
describe('dataset-scale jobs', { concurrency: true }, () => {
describe('the two workers', () => {
  test(`${JOBS_CONFIG} agrees with ${MCP_CONFIG}: the same [vars], the job store the MCP worker binds defined there, the same queue`, () => {
    const diffs = configDifferences();
    assert.equal(diffs.length, 0, `${JOBS_CONFIG} disagrees with ${MCP_CONFIG}; the first difference: ${diffs[0]}`);
  });

  test('the check names the first difference', () => {
    const mcp = readConfig(MCP_CONFIG);
    const jobs = readConfig(JOBS_CONFIG);
    const first = (jobsText, mcpText = mcp) => configDifferences(mcpText, jobsText)[0];
    // `text` with the first `from` replaced.
    const edit = (text, from, to) => {
      assert.ok(text.includes(from), from);
      return text.replace(from, to);
    };
    assert.equal(first(edit(jobs, 'SCALE_TIMEOUT_MS = "25000"', 'SCALE_TIMEOUT_MS = "30000"')), '[vars] SCALE_TIMEOUT_MS: wrangler.toml has "25000", wrangler.jobs.toml has "30000"');
    assert.equal(first(edit(jobs, 'PUBLIC_URL = ""', '# PUBLIC_URL = ""')), '[vars] PUBLIC_URL: wrangler.toml sets it to "", wrangler.jobs.toml does not set it');
    assert.equal(first(edit(jobs, 'PUBLIC_URL = ""', 'PUBLIC_URL = ""\nTASK_POLL_MS = "100"')), '[vars] TASK_POLL_MS: wrangler.jobs.toml sets it to "100", wrangler.toml does not set it');
    assert.equal(first(jobs, edit(mcp, 'READ_ONLY = "false"', 'READ_ONLY = "true"')), '[vars] READ_ONLY: wrangler.toml has "true", wrangler.jobs.toml has "false"');
    assert.equal(first(jobs, edit(mcp, 'script_name = "scale-mcp-jobs"', 'script_name = "scale-mcp-job"')), '[[durable_objects.bindings]] JOBS_STATE: script_name in wrangler.toml is "scale-mcp-job", not wrangler.jobs.toml\'s name "scale-mcp-jobs"');
    assert.equal(first(edit(jobs, 'name = "JOBS_STATE"', 'name = "JOBS_STORE"')), '[[durable_objects.bindings]] JOBS_STATE: wrangler.toml binds it in "scale-mcp-jobs" (class JobStore), which does not define it');
    assert.equal(first(edit(jobs, 'class_name = "JobStore"', 'class_name = "JobStore2"')), '[[durable_objects.bindings]] JOBS_STATE: class_name is "JobStore" in wrangler.toml, "JobStore2" in wrangler.jobs.toml');
    assert.equal(first(edit(jobs, 'new_sqlite_classes = ["JobStore"]', 'new_classes = ["JobStore"]')), '[[migrations]]: wrangler.jobs.toml does not make JobStore a SQLite-backed class');
    assert.equal(first(`${jobs}\n[[durable_objects.bindings]]\nname = "OAUTH"\nclass_name = "OAuthStore"\nscript_name = "scale-mcp-worker"\n`), '[[durable_objects.bindings]] OAUTH: wrangler.jobs.toml binds it in "scale-mcp-worker"; the jobs worker must bind no other worker\'s objects (it is deployed first)');
    assert.equal(first(edit(jobs, 'queue = "scale-mcp-jobs"\nmax_batch_size', 'queue = "scale-mcp-jobs-2"\nmax_batch_size')), '[[queues.consumers]]: wrangler.jobs.toml consumes no queue "scale-mcp-jobs", where wrangler.toml\'s JOBS producer sends');
    assert.equal(first(jobs), undefined);
  });

  test('a jobs worker whose settings differ leaves a started job alone: nothing read, nothing created', async () => {
    // `differ` is `plain` but for one var of its jobs worker; with equal vars
    // the same job completes (the tests above and below).
    const url = await manifest(differ, { generate: { lines: 5, template } });
    const task = await startV2(differ, args(url));
    assert.equal(task.status, 'working');
    // The manifest's message comes within the batch timeout (1 s), and a
    // message the jobs worker leaves comes back after 60 s.
    const said = () => differ.logs.some((l) => l.includes("this worker's settings differ from the MCP worker's that started it"));
    for (const end = Date.now() + 10_000; !said() && Date.now() < end;) await sleep(100);
    assert.ok(said(), `the jobs worker says why it waits:\n${differ.logs.slice(-10).join('\n')}`);
    await sleep(1_000);
    const r = await v2(differ, 'tasks/get', { taskId: task.taskId });
    assert.equal(r.json?.result?.status, 'working', JSON.stringify(r.json));
    assert.match(r.json.result.statusMessage, /^Reading and checking the manifest: 0 lines read;/);
    const fetched = await (await fetch(`${differ.sim.url}/__sim/file-requests`)).json();
    assert.deepEqual(fetched.filter((f) => url.endsWith(f.path)), [], 'the manifest was never fetched');
    assert.equal((await taskStats(differ)).tasks, 0, 'nothing was created');
  });
});

describe('a 10,000-line manifest', () => {
  test('one create_tasks from the requester library ends with exactly 10,000 tasks, none twice, through 5% faults', async () => {
    const url = await manifest(big, { generate: { lines: 10_000, template } });
    const client = new Client({ name: 'e2e-jobs', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(big.mcpUrl), { requestInit: { headers: auth(big.token) } }));
    const session = createTaskSessionFromClient(client, { endpointId: 'scale-mcp-e2e-jobs' });
    try {
      const a = args(url);
      const ex = await session.callTool('create_tasks', a, { task: { preference: 'prefer' } });
      assert.equal(ex.kind, 'task');
      const taskId = ex.handle.taskId;
      const { outcome } = await ex.settle();
      assert.equal(outcome.status, 'completed');
      const result = resultFromTaskOutcome(outcome);
      assert.ok(!result.isError, JSON.stringify(result).slice(0, 500));
      const sc = result.structuredContent;
      assert.equal(sc.state, 'completed');
      assert.equal(sc.total, 10_000);
      assert.equal(sc.created + sc.already_existed, 10_000, sc.message);
      assert.equal(sc.failed, 0, sc.message);
      assert.equal(sc.complete, true);
      assert.match(sc.message, /^Done: 10,000 of 10,000 created/);
      // Scale holds exactly the manifest's items, once each.
      const stats = await taskStats(big, { key: 'metadata.n' });
      assert.equal(stats.tasks, 10_000);
      assert.equal(stats.uniqueIds, 10_000);
      assert.deepEqual(stats.duplicateUniqueIds, []);
      assert.deepEqual(stats.duplicateKeyValues, []);
      assert.equal(stats.keyValues, 10_000);
      assert.ok(stats.createStatuses['429'] > 0 && stats.createStatuses['502'] > 0, JSON.stringify(stats.createStatuses));
      // Every outcome, page after page: each line once, each task id once.
      const items = await allOutcomes(big, sc, taskId);
      assert.equal(items.length, 10_000);
      assert.deepEqual(items.map((i) => i.line), Array.from({ length: 10_000 }, (_, i) => i + 1));
      assert.equal(new Set(items.map((i) => i.task_id)).size, 10_000);
      assert.ok(items.every((i) => i.unique_id.startsWith(`${a.idempotency_key}:`)));
      // The start's and the end's audit lines.
      const audit = big.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      assert.ok(audit.some((l) => l.event === 'tool_call' && l.tool === 'create_tasks' && l.via === 'tools/call' && l.outcome === 'ok'));
      const end = audit.find((l) => l.event === 'job_end');
      assert.equal(end.outcome, 'completed');
      assert.equal(end.items.total, 10_000);
      assert.equal(end.principal, 'token-1');
      // The manifest was asked for once per read, with no credentials.
      const fetched = await (await fetch(`${big.sim.url}/__sim/file-requests`)).json();
      const ours = fetched.filter((r) => url.endsWith(r.path));
      assert.equal(ours.length, 1);
      for (const r of ours) {
        assert.equal(r.headers.authorization, undefined);
        for (const needle of secretNeedles(big.secrets)) assert.ok(!JSON.stringify(r.headers).includes(needle));
      }
    } finally {
      await session.close();
      await client.close();
    }
  });
});

describe('what a job reports', () => {
  test('20 items Scale refuses: the rest are created and the 20 are named by line', async () => {
    const refuse = Array.from({ length: 20 }, (_, i) => 17 + i * 497);
    const url = await manifest(plain, { generate: { lines: 10_000, template, refuse } });
    const task = await startV2(plain, args(url));
    assert.equal(task.status, 'working');
    const done = await settleV2(plain, task.taskId);
    assert.equal(done.status, 'completed');
    const sc = done.result.structuredContent;
    assert.equal(done.result.isError, undefined);
    assert.deepEqual([sc.created, sc.failed, sc.complete], [9_980, 20, false]);
    assert.equal(done.statusMessage, 'Done: 9,980 of 10,000 created, 20 failed.');
    const items = await allOutcomes(plain, sc, task.taskId);
    const failed = items.filter((i) => i.outcome === 'failed');
    assert.deepEqual(failed.map((i) => i.line), refuse);
    for (const f of failed) {
      assert.equal(f.scale_status, 400);
      assert.match(f.error, /Invalid attachment: refused by the simulator/);
    }
    assert.ok((await taskStats(plain, { project: PROJECT })).tasks >= 9_980);
  });

  test('a manifest with bad lines creates nothing and names the first of them', async () => {
    const body = '{"attachment": "https://img.example/a.png"}\n{"attachment": 7}\n\n{"colour": "red"}\nnot json\n';
    const url = await manifest(plain, { body, contentType: 'application/x-ndjson' });
    // A project of its own: other tests create tasks on this stack meanwhile.
    const task = await startV2(plain, args(url, { project: 'jobs-bad' }));
    const done = await settleV2(plain, task.taskId);
    assert.equal(done.status, 'completed');
    assert.equal(done.result.isError, true);
    const text = done.result.content[0].text;
    for (const needle of ['3 bad lines', 'line 2: ', 'line 4: ', '`colour`', 'line 5: ', 'nothing was created']) assert.ok(text.includes(needle), `${needle} in ${text}`);
    assert.equal((await taskStats(plain, { project: 'jobs-bad' })).tasks, 0);
  });

  test('a CSV manifest with quoted fields', async () => {
    const url = await manifest(plain, { generate: { lines: 30, template: { attachment: 'https://img.example/c{i}.png', instruction: 'Box "every" sign, then stop', metadata: { n: '{i}' } }, format: 'csv' } });
    const task = await startV2(plain, args(url));
    const done = await settleV2(plain, task.taskId);
    assert.equal(done.result.structuredContent.created, 30, JSON.stringify(done.result.structuredContent).slice(0, 400));
  });

  test('a consumer that dies mid-chunk: every item once all the same', async () => {
    const url = await manifest(dying, { generate: { lines: 60, template } });
    const task = await startV2(dying, args(url));
    const done = await settleV2(dying, task.taskId);
    const sc = done.result.structuredContent;
    assert.equal(sc.created + sc.already_existed, 60, sc.message);
    assert.ok(sc.already_existed > 0, 'the dead chunk\'s tasks were found, not made again');
    const stats = await taskStats(dying);
    assert.equal(stats.tasks, 60);
    assert.deepEqual(stats.duplicateUniqueIds, []);
    assert.ok(dying.logs.some((l) => l.includes('testing hook: the consumer dies')), 'the hook fired');
  });

  test('tasks/cancel (2026-07-28) stops a job with its counts', async () => {
    const slow = await startStack({ vars: { TASK_POLL_MS: '100', SUBREQUEST_LIMIT: '50' } });
    try {
      await slow.simControl('seed', { projects: [{ name: PROJECT, type: TYPE }] });
      await slow.simControl('config', { latency: [{ method: 'POST', pattern: 'task/*', ms: 150 }] });
      const url = await manifest(slow, { generate: { lines: 1_000, template } });
      const task = await startV2(slow, args(url));
      for (let i = 0; i < 200 && (await taskStats(slow)).tasks < 20; i++) await new Promise((ok) => setTimeout(ok, 100));
      const r = await v2(slow, 'tasks/cancel', { taskId: task.taskId });
      assert.equal(r.json?.result?.resultType, 'complete', JSON.stringify(r.json));
      const done = await settleV2(slow, task.taskId);
      assert.equal(done.status, 'cancelled');
      assert.match(done.statusMessage, /^Cancelled: [\d,]+ of 1,000 created, 0 failed; nothing more will be created\.$/);
      await new Promise((ok) => setTimeout(ok, 1_500));
      const settled = (await taskStats(slow)).tasks;
      await new Promise((ok) => setTimeout(ok, 1_500));
      assert.equal((await taskStats(slow)).tasks, settled, 'nothing more is created');
      assert.ok(settled < 1_000);
      const end = slow.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.event === 'job_end');
      assert.equal(end.outcome, 'cancelled');
    } finally {
      await slow.close();
    }
  });
});

describe('what is refused', () => {
  test('a manifest that redirects to a disallowed host fails the job, unread', async () => {
    const url = await manifest(plain, { redirect: 'https://localhost/m.jsonl' });
    const task = await startV2(plain, args(url));
    const done = await settleV2(plain, task.taskId);
    assert.equal(done.result.isError, true);
    assert.match(done.result.content[0].text, /^Failed, nothing was created: the manifest was not read: it redirects to a URL that is refused: its host must be a public, lower-case DNS name$/);
  });

  test('a URL the rules refuse is refused at once, and nothing starts', async () => {
    for (const bad of ['https://127.0.0.1/m.jsonl', 'https://user:pw@bucket.example/m.jsonl', 'https://bucket.example:8443/m.jsonl', `${plain.url}/m.jsonl`, 'ftp://bucket.example/m']) {
      const r = await v2(plain, 'tools/call', { name: 'create_tasks', arguments: args(bad) });
      assert.equal(r.json.result.isError, true, bad);
      assert.match(r.json.result.content[0].text, /`items_url` is refused: (it|its host) /, bad);
    }
  });

  test('clients that cannot follow a task are refused, each era its own way', async () => {
    const url = await manifest(plain, { generate: { lines: 3, template } });
    const r = await v2(plain, 'tools/call', { name: 'create_tasks', arguments: args(url) }, { ext: false });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, -32021);
    assert.deepEqual(r.json.error.data.requiredCapabilities, { extensions: { [EXT]: {} } });
    for (const version of [V1, '2025-06-18']) {
      const r = await v1(plain, 'tools/call', { name: 'create_tasks', arguments: args(url) }, version);
      assert.equal(r.json.result.isError, true);
      assert.match(r.json.result.content[0].text, /only a task-aware client can follow/);
    }
    // A 2025-11-25 task of inline items is refused, naming items_url.
    const inline = await v1(plain, 'tools/call', { name: 'create_tasks', arguments: { type: TYPE, project: PROJECT, idempotency_key: 'x', items: [{ attachment: 'https://img.example/1.png' }] }, task: {} });
    assert.equal(inline.json.error.code, -32602);
    assert.match(inline.json.error.message, /items_url/);
  });

  test('both items and items_url', async () => {
    const url = await manifest(plain, { generate: { lines: 3, template } });
    const r = await v2(plain, 'tools/call', { name: 'create_tasks', arguments: args(url, { items: [{ attachment: 'https://img.example/1.png' }] }) });
    assert.equal(r.json.result.isError, true);
    assert.match(r.json.result.content[0].text, /either `items` or `items_url`/);
  });

  test('a job task is only its caller\'s, and only on its MCP path', async () => {
    const url = await manifest(plain, { generate: { lines: 3, template } });
    const task = await startV2(plain, args(url));
    const { body, headers } = { body: { jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { taskId: task.taskId, _meta: { 'io.modelcontextprotocol/protocolVersion': V2, 'io.modelcontextprotocol/clientCapabilities': { extensions: { [EXT]: {} } } } } }, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V2, 'mcp-method': 'tasks/get', 'mcp-name': task.taskId, authorization: `Bearer ${plain.token}` } };
    const res = await fetch(`${plain.url}/mcp/readonly`, { method: 'POST', headers, body: JSON.stringify(body) });
    const elsewhere = await res.json();
    assert.equal(elsewhere.error.code, -32602, JSON.stringify(elsewhere));
    assert.match(elsewhere.error.message, /Task not found/);
    const forged = `${task.taskId.slice(0, -2)}${task.taskId.endsWith('AA') ? 'BB' : 'AA'}`;
    const page = await v2(plain, 'resources/read', { uri: `scale-job://outcomes/${forged}?after=0` });
    assert.equal(page.json.error.code, -32602);
    assert.match(page.json.error.message, /Task not found/);
    const bad = await v2(plain, 'resources/read', { uri: `scale-job://outcomes/${task.taskId}?after=x` });
    assert.match(bad.json.error.message, /after=<line>/);
  });

  test('without the queue and the object, create_tasks is no task and says jobs are off', async () => {
    const list = await v1(off, 'tools/list');
    const ct = list.json.result.tools.find((t) => t.name === 'create_tasks');
    assert.equal(ct.execution, undefined);
    const wait = list.json.result.tools.find((t) => t.name === 'wait_for_task');
    assert.deepEqual(wait.execution, { taskSupport: 'optional' });
    const r = await v2(off, 'tools/call', { name: 'create_tasks', arguments: args('https://bucket.example/m.jsonl') });
    assert.equal(r.json.result.isError, true);
    assert.match(r.json.result.content[0].text, /Jobs are off on this server/);
    const on = await v1(plain, 'tools/list');
    assert.deepEqual(on.json.result.tools.find((t) => t.name === 'create_tasks').execution, { taskSupport: 'optional' });
  });
});
});
