// Every Scale tool through a real MCP client against the simulator: the tool
// result, and the request the simulator saw (method, raw path, raw query, JSON
// body, Basic auth). Also Scale's error classes and argument validation.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, SECRETS } from './harness.mjs';
import { connect, textOf, basicAuth, logMark, withLog, secretStrings, closeAll } from './client.mjs';

let stack; // the main stack
let mcp;
let cbStack; // DEFAULT_CALLBACK_URL set
let cbMcp;
let badKeyStack; // SCALE_API_KEY the simulator does not accept
let badKeyMcp;

const DEFAULT_CB = 'https://hooks.example.com/scale/callback';
const WRONG_KEY = 'test_wrong_key_0000000000';
/** Every tool result any test saw, to scan for the API key at the end. */
const seen = [];

function recorder(m) {
  return async (name, args) => {
    const r = await m.callTool(name, args);
    seen.push(r);
    return r;
  };
}
let call; // main stack's recorded callTool

before(async () => {
  // The request-mapping tests send callbacks to example.com hosts and an
  // e-mail address, which the callback policy allows only when listed.
  const callbacks = { CALLBACK_HOSTS: 'example.com,other.example.com', CALLBACK_EMAILS: 'true' };
  [stack, cbStack, badKeyStack] = await Promise.all([
    startStack({ vars: callbacks }),
    startStack({ vars: { DEFAULT_CALLBACK_URL: DEFAULT_CB, ...callbacks } }),
    startStack({ vars: { SCALE_API_KEY: WRONG_KEY } }),
  ]);
  [mcp, cbMcp, badKeyMcp] = await Promise.all([connect(stack), connect(cbStack), connect(badKeyStack)]);
  call = recorder(mcp);
});

after(async () => {
  await Promise.allSettled([mcp, cbMcp, badKeyMcp].filter(Boolean).map((m) => m.close()));
  await closeAll([stack, cbStack, badKeyStack]);
});

// ---------------------------------------------------------------------------
// helpers

let counter = 0;
const uniq = (p) => `${p}-${Date.now().toString(36)}-${++counter}`;

/** A successful result: returns structuredContent, checked against the text block. */
function ok(result) {
  assert.ok(!result.isError, `expected success, got: ${textOf(result)}`);
  assert.equal(typeof result.structuredContent, 'object');
  assert.ok(result.structuredContent !== null && !Array.isArray(result.structuredContent));
  assert.deepEqual(JSON.parse(textOf(result)), result.structuredContent, 'text block is the same JSON');
  return result.structuredContent;
}

/** A tool error: returns its text; checks the status when given. */
function fails(result, status) {
  assert.equal(result.isError, true, `expected isError, got: ${JSON.stringify(result.structuredContent ?? textOf(result))}`);
  const t = textOf(result);
  assert.ok(t.length > 0);
  if (status !== undefined) assert.match(t, new RegExp(`\\b${status}\\b`), `status ${status} in: ${t}`);
  return t;
}

/** Asserts one simulator request log entry. `json: undefined` means no body. */
function assertReq(req, { method, path, query = '', json, key = SECRETS.SCALE_API_KEY }) {
  assert.ok(req, `expected a ${method} ${path} request`);
  assert.equal(req.method, method);
  assert.equal(req.path, path);
  assert.equal(req.query, query);
  assert.equal(req.headers.authorization, basicAuth(key));
  if (json === undefined) assert.equal(req.body, null, `no body for ${method} ${path}`);
  else {
    assert.match(req.headers['content-type'] || '', /^application\/json/);
    assert.deepEqual(req.json, json);
  }
}

/** Query params as sorted [k, v] pairs (order-free, repeats kept). */
const qpairs = (q) => [...new URLSearchParams(q)].sort((a, b) => (a[0] + '\0' + a[1] < b[0] + '\0' + b[1] ? -1 : 1));

const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

async function seed(body, s = stack) {
  return s.simControl('seed', body);
}
async function fault(f, s = stack) {
  return s.simControl('faults', f);
}
async function newProject(opts = {}) {
  const name = opts.name ?? uniq('proj');
  await seed({ projects: [{ type: 'imageannotation', name, ...opts }] });
  return name;
}
async function newTask(extra = {}, s = stack) {
  const r = await seed({ tasks: [{ type: 'imageannotation', attachment: 'https://example.com/img.png', ...extra }] }, s);
  return r.tasks[0];
}

test('tools/list: the 20 Scale tools, the 2 log tools and the annotation view\'s own tool, each with title, schemas and all four hints', () => {
  const names = mcp.tools.map((t) => t.name).sort();
  assert.deepEqual(names, [
    'cancel_task', 'create_batch', 'create_evaluation_task', 'create_project', 'create_task', 'create_tasks', 'finalize_batch', 'get_batch',
    'get_callback', 'get_project', 'get_task', 'get_task_attachment', 'import_file', 'list_batches', 'list_callbacks', 'list_projects', 'list_tasks', 'manage_team',
    'resend_callback', 'update_project', 'update_task', 'wait_for_batch', 'wait_for_task',
  ]);
  for (const t of mcp.tools) {
    assert.equal(typeof t.title, 'string', t.name);
    assert.ok(t.description.length > 40, t.name);
    assert.equal(t.inputSchema.type, 'object', t.name);
    assert.equal(t.inputSchema.additionalProperties, false, t.name);
    assert.equal(t.outputSchema?.type, 'object', t.name);
    for (const h of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint']) assert.equal(typeof t.annotations?.[h], 'boolean', `${t.name} ${h}`);
  }
});

// ---------------------------------------------------------------------------
// projects

describe('projects', () => {
  test('create_project sends the arguments as the body and returns the project', async () => {
    const name = uniq('cp');
    const args = { type: 'imageannotation', name, params: { instruction: 'Box the cars', geometries: { box: { objects_to_annotate: ['car'] } } }, pipeline: 'standard_task', consensus_attempts: 2 };
    const { result, requests } = await withLog(stack, () => call('create_project', args));
    const p = ok(result);
    assert.equal(p.name, name);
    assert.equal(p.type, 'imageannotation');
    assert.equal(p.param_history.at(-1).instruction, 'Box the cars');
    assert.equal(requests.length, 1);
    assert.deepEqual(requests[0].json, args);
    assertReq(requests[0], { method: 'POST', path: '/v1/projects', json: args });
  });

  test('create_project of a name with "/", spaces and unicode; get_project reaches one encoded segment and round-trips', async () => {
    const name = `a/b c ü ${uniq('n')}`;
    const created = ok(await call('create_project', { type: 'categorization', name, rapid: true }));
    assert.equal(created.name, name);
    assert.equal(created.rapid, true);
    const { result, requests } = await withLog(stack, () => call('get_project', { name }));
    const p = ok(result);
    assert.equal(p.name, name);
    assert.equal(p.type, 'categorization');
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'GET', path: `/v1/projects/${enc(name)}` });
    assert.ok(requests[0].path.startsWith('/v1/projects/a%2Fb%20c%20%C3%BC%20'), requests[0].path);
  });

  test('list_projects: archived omitted, true and false', async () => {
    const active = uniq('active');
    const archived = uniq('archived');
    await seed({ projects: [{ type: 'imageannotation', name: active }, { type: 'imageannotation', name: archived, archived: true }] });

    let { result, requests } = await withLog(stack, () => call('list_projects', {}));
    let names = ok(result).projects.map((p) => p.name);
    assert.ok(names.includes(active) && names.includes(archived));
    assertReq(requests[0], { method: 'GET', path: '/v1/projects', query: '' });

    ({ result, requests } = await withLog(stack, () => call('list_projects', { archived: true })));
    names = ok(result).projects.map((p) => p.name);
    assert.ok(names.includes(archived) && !names.includes(active));
    assertReq(requests[0], { method: 'GET', path: '/v1/projects', query: 'archived=true' });

    ({ result, requests } = await withLog(stack, () => call('list_projects', { archived: false })));
    names = ok(result).projects.map((p) => p.name);
    assert.ok(names.includes(active) && !names.includes(archived));
    assertReq(requests[0], { method: 'GET', path: '/v1/projects', query: 'archived=false' });
  });

  test('update_project: instruction + params with patch -> setParams; ontology -> setOntology; in that order', async () => {
    const name = `a/b c ü ${uniq('up')}`;
    await seed({ projects: [{ type: 'imageannotation', name, params: { instruction: 'old', with_labels: true } }] });
    const ontology = ['car', { choice: 'person', subchoices: ['adult', 'child'] }];
    const { result, requests } = await withLog(stack, () =>
      call('update_project', { name, instruction: 'new instructions', params: { geometries: { box: {} } }, patch: true, ontology, ontology_name: 'v2' }));
    const p = ok(result);
    assert.equal(p.name, name);
    const last = p.param_history.at(-1);
    assert.equal(last.instruction, 'new instructions');
    assert.equal(last.with_labels, true, 'patch kept the earlier params');
    assert.deepEqual(last.geometries, { box: {} });
    assert.deepEqual(p.ontology_update.ontology, ontology);
    assert.equal(p.ontology_update.name, 'v2');
    assert.equal(requests.length, 2);
    assertReq(requests[0], { method: 'POST', path: `/v1/projects/${enc(name)}/setParams`, json: { geometries: { box: {} }, instruction: 'new instructions', patch: true } });
    assertReq(requests[1], { method: 'POST', path: `/v1/projects/${enc(name)}/setOntology`, json: { ontology, name: 'v2' } });
  });

  test('update_project: params only replaces (no patch sent); ontology only sends no name', async () => {
    const name = await newProject({ params: { instruction: 'old', with_labels: true } });
    let { result, requests } = await withLog(stack, () => call('update_project', { name, params: { instruction: 'only this' } }));
    const last = ok(result).param_history.at(-1);
    assert.equal(last.instruction, 'only this');
    assert.equal(last.with_labels, undefined);
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'POST', path: `/v1/projects/${name}/setParams`, json: { instruction: 'only this' } });

    ({ result, requests } = await withLog(stack, () => call('update_project', { name, ontology: ['a', 'b'] })));
    assert.deepEqual(ok(result).ontology_update.ontology, ['a', 'b']);
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'POST', path: `/v1/projects/${name}/setOntology`, json: { ontology: ['a', 'b'] } });
  });

  test('update_project: a failing setOntology after setParams reports the applied step', async () => {
    const name = await newProject();
    const { result, requests } = await withLog(stack, () => call('update_project', { name, instruction: 'x', ontology: ['dup', 'dup'] }));
    const t = fails(result, 400);
    assert.match(t, /Duplicate ontology choice: dup/);
    assert.match(t, /setOntology/);
    assert.match(t, /applied[^\n]*setParams/i);
    assert.deepEqual(requests.map((r) => r.path), [`/v1/projects/${name}/setParams`, `/v1/projects/${name}/setOntology`]);
  });
});

// ---------------------------------------------------------------------------
// batches

describe('batches', () => {
  test('create_batch sends `callback` (not callback_url) and the other fields; the batch starts in_progress', async () => {
    const project = await newProject();
    const name = `x/y ${uniq('b')}`;
    const args = { project, name, callback: 'https://example.com/batch-done', calibration_batch: false, self_label_batch: false, metadata: { team: 'a' } };
    const { result, requests } = await withLog(stack, () => call('create_batch', args));
    const b = ok(result);
    assert.equal(b.name, name);
    assert.equal(b.project, project);
    assert.equal(b.status, 'in_progress');
    assert.equal(b.callback, 'https://example.com/batch-done');
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'POST', path: '/v1/batches', json: args });
    assert.ok(!('callback_url' in requests[0].json));
  });

  test('create_batch in a Rapid project: the batch starts in staging', async () => {
    const project = await newProject({ rapid: true });
    const name = uniq('rb');
    const { result, requests } = await withLog(stack, () => call('create_batch', { project, name, callback: 'ops@example.com' }));
    assert.equal(ok(result).status, 'staging');
    assertReq(requests[0], { method: 'POST', path: '/v1/batches', json: { project, name, callback: 'ops@example.com' } });
  });

  test('create_batch / get_batch / finalize_batch of a batch without callback: Scale\'s `callback: null` passes the output schema',
    async () => {
      const project = await newProject();
      const name = uniq('nocb');
      const { result, requests } = await withLog(stack, () => call('create_batch', { project, name }));
      assertReq(requests[0], { method: 'POST', path: '/v1/batches', json: { project, name } });
      assert.equal(ok(result).callback, null);
      assert.equal(ok(await call('get_batch', { name })).name, name);
      assert.equal(ok(await call('finalize_batch', { name })).name, name);
    });

  test('get_batch: GET /batches/{name} and /status; progress counts with missing ones as 0', async () => {
    const project = await newProject();
    const name = `x/y ${uniq('gb')}`;
    await seed({ batches: [{ project, name, callback: 'https://example.com/cb' }] });
    const { tasks } = await seed({ tasks: [1, 2, 3, 4].map(() => ({ type: 'imageannotation', batch: name, attachment: 'https://e.com/i.png' })) });
    await stack.simControl(`tasks/${tasks[0].task_id}/complete`, {});
    await stack.simControl(`tasks/${tasks[1].task_id}/complete`, {});

    const { result, requests } = await withLog(stack, () => call('get_batch', { name }));
    const b = ok(result);
    assert.equal(b.name, name);
    assert.equal(b.status, 'in_progress');
    assert.deepEqual(b.progress, { pending: 2, completed: 2, error: 0, canceled: 0, total: 4 });
    assert.equal(requests.length, 2);
    assertReq(requests[0], { method: 'GET', path: `/v1/batches/${enc(name)}` });
    assertReq(requests[1], { method: 'GET', path: `/v1/batches/${enc(name)}/status` });
    assert.ok(requests[0].path.startsWith('/v1/batches/x%2Fy%20'));

    // An empty batch: Scale's /status has no counts at all.
    const empty = uniq('empty');
    await seed({ batches: [{ project, name: empty, callback: 'https://example.com/cb' }] });
    assert.deepEqual(ok(await call('get_batch', { name: empty })).progress, { pending: 0, completed: 0, error: 0, canceled: 0, total: 0 });
  });

  test('list_batches: limit 10 sent by default; total from totalDocs; next_offset; filters and dates', async () => {
    const project = await newProject();
    const names = [uniq('lb1'), uniq('lb2'), uniq('lb3')];
    await seed({ batches: names.map((name) => ({ project, name })) });

    let { result, requests } = await withLog(stack, () => call('list_batches', {}));
    let out = ok(result);
    assertReq(requests[0], { method: 'GET', path: '/v1/batches', query: 'limit=10' });
    assert.equal(typeof out.total, 'number');
    assert.ok(out.total >= 3);

    ({ result, requests } = await withLog(stack, () => call('list_batches', { project, status: 'in_progress', limit: 2, created_after: '2020-01-01', created_before: '2999-12-31T00:00:00Z', completed_after: '2020-01-01', completed_before: '2999-01-01' })));
    // completed_* filters match only completed batches: none here.
    out = ok(result);
    assert.deepEqual(out.batches, []);
    assert.equal(requests.length, 1);
    assert.deepEqual(qpairs(requests[0].query), qpairs(new URLSearchParams({
      project, status: 'in_progress', limit: '2', start_time: '2020-01-01', end_time: '2999-12-31T00:00:00Z', completed_after: '2020-01-01', completed_before: '2999-01-01',
    }).toString()));
    assert.ok(!/created_after|created_before/.test(requests[0].query));

    ({ result, requests } = await withLog(stack, () => call('list_batches', { project, limit: 2 })));
    out = ok(result);
    assert.deepEqual(out.batches.map((b) => b.name), [names[2], names[1]], 'newest first');
    assert.equal(out.total, 3);
    assert.equal(out.has_more, true);
    assert.equal(out.next_offset, 2);
    assertReq(requests[0], { method: 'GET', path: '/v1/batches', query: `project=${project}&limit=2` });

    ({ result, requests } = await withLog(stack, () => call('list_batches', { project, limit: 2, offset: out.next_offset })));
    out = ok(result);
    assert.deepEqual(out.batches.map((b) => b.name), [names[0]]);
    assert.equal(out.has_more, false);
    assert.equal(out.next_offset, null);
    assert.deepEqual(qpairs(requests[0].query), qpairs(`project=${project}&limit=2&offset=2`));
  });

  test('list_batches detailed: each batch gets progress from its /status', async () => {
    const project = await newProject();
    const a = `x/y ${uniq('d1')}`;
    const b = uniq('d2');
    await seed({ batches: [{ project, name: a }, { project, name: b }] });
    const { tasks } = await seed({ tasks: [{ type: 'imageannotation', batch: a, attachment: 'https://e.com/1.png' }, { type: 'imageannotation', batch: a, attachment: 'https://e.com/2.png' }] });
    await stack.simControl(`tasks/${tasks[0].task_id}/complete`, { status: 'error' });

    const { result, requests } = await withLog(stack, () => call('list_batches', { project, detailed: true }));
    const out = ok(result);
    const byName = Object.fromEntries(out.batches.map((x) => [x.name, x]));
    assert.deepEqual(byName[a].progress, { pending: 1, completed: 0, error: 1, canceled: 0, total: 2 });
    assert.deepEqual(byName[b].progress, { pending: 0, completed: 0, error: 0, canceled: 0, total: 0 });
    assert.equal(out.progress_incomplete, undefined);
    assert.equal(requests.length, 3);
    assertReq(requests[0], { method: 'GET', path: '/v1/batches', query: `project=${project}&limit=10` });
    assert.deepEqual(requests.slice(1).map((r) => `${r.method} ${r.path}`).sort(), [`GET /v1/batches/${enc(a)}/status`, `GET /v1/batches/${enc(b)}/status`].sort());
    for (const r of requests) assert.equal(r.headers.authorization, basicAuth());
  });

  test('list_batches detailed stays within the subrequest budget and says which batches lack progress', async () => {
    const project = await newProject();
    const names = Array.from({ length: 60 }, (_, i) => `many-${i}-${uniq('m')}`);
    await seed({ batches: names.map((name) => ({ project, name, callback: 'https://example.com/cb' })) });
    const { result, requests } = await withLog(stack, () => call('list_batches', { project, limit: 60, detailed: true }));
    const out = ok(result);
    assert.equal(out.batches.length, 60);
    const withProgress = out.batches.filter((b) => b.progress);
    assert.ok(requests.length <= 50, `${requests.length} Scale requests`);
    assert.equal(requests.length, 1 + withProgress.length);
    assert.ok(withProgress.length >= 40, `${withProgress.length} batches got progress`);
    const missing = out.batches.filter((b) => !b.progress).map((b) => b.name);
    assert.ok(missing.length > 0);
    assert.deepEqual(out.progress_incomplete.batches_without_progress, missing);
    assert.match(out.progress_incomplete.how_to_get, /get_batch/);
  });

  test('finalize_batch: POST finalize; with priority also POST prioritize {priority}', async () => {
    const project = await newProject({ rapid: true });
    const name = `x/y ${uniq('fb')}`;
    await seed({ batches: [{ project, name, callback: 'https://example.com/cb' }] });
    let { result, requests } = await withLog(stack, () => call('finalize_batch', { name }));
    assert.equal(ok(result).status, 'in_progress');
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'POST', path: `/v1/batches/${enc(name)}/finalize` });

    const name2 = uniq('fb2');
    await seed({ batches: [{ project, name: name2, callback: 'https://example.com/cb' }] });
    ({ result, requests } = await withLog(stack, () => call('finalize_batch', { name: name2, priority: 25 })));
    const b = ok(result);
    assert.equal(b.status, 'in_progress');
    assert.equal(b.priority, 25);
    assert.equal(requests.length, 2);
    assertReq(requests[0], { method: 'POST', path: `/v1/batches/${name2}/finalize` });
    assertReq(requests[1], { method: 'POST', path: `/v1/batches/${name2}/prioritize`, json: { priority: 25 } });
  });
});

// ---------------------------------------------------------------------------
// tasks

describe('tasks', () => {
  test('create_task: named fields and params merged at the top level of POST /task/{type}', async () => {
    const project = `a/b c ü ${uniq('ctp')}`;
    const batch = `x/y ${uniq('ctb')}`;
    await seed({ projects: [{ type: 'imageannotation', name: project }], batches: [{ project, name: batch }] });
    const args = {
      type: 'imageannotation', project, batch, instruction: 'Draw boxes', callback_url: 'https://example.com/cb',
      attachment: 'https://example.com/a.png', attachment_type: 'image', unique_id: uniq('uid'), metadata: { k: 'v', n: 1 }, tags: ['t1', 't2'],
      params: { geometries: { box: { objects_to_annotate: ['car'] } }, with_labels: true },
    };
    const { result, requests } = await withLog(stack, () => call('create_task', args));
    const t = ok(result);
    const { type: _t, params, ...named } = args;
    const body = { ...named, ...params };
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'POST', path: '/v1/task/imageannotation', json: body });
    assert.equal(typeof t.task_id, 'string');
    assert.equal(t.status, 'pending');
    assert.equal(t.type, 'imageannotation');
    assert.equal(t.project, project);
    assert.equal(t.batch, batch);
    assert.equal(t.unique_id, args.unique_id);
    assert.equal(t.callback_url, 'https://example.com/cb');
    assert.deepEqual(t.metadata, args.metadata);
    assert.deepEqual(t.tags, ['t1', 't2']);
    assert.deepEqual(t.params, { attachment: 'https://example.com/a.png', attachment_type: 'image', ...args.params });
  });

  test('create_task sends no callback_url when neither given nor configured', async () => {
    const { result, requests } = await withLog(stack, () => call('create_task', { type: 'categorization', attachment: 'hello', params: { categories: ['a', 'b'] } }));
    ok(result);
    assertReq(requests[0], { method: 'POST', path: '/v1/task/categorization', json: { attachment: 'hello', categories: ['a', 'b'] } });
  });

  test('create_task uses DEFAULT_CALLBACK_URL when set, and an explicit callback_url over it', async () => {
    let { result, requests } = await withLog(cbStack, () => cbMcp.callTool('create_task', { type: 'categorization', attachment: 'x', params: { categories: ['a'] } }));
    seen.push(result);
    assert.equal(ok(result).callback_url, DEFAULT_CB);
    assertReq(requests[0], { method: 'POST', path: '/v1/task/categorization', json: { attachment: 'x', categories: ['a'], callback_url: DEFAULT_CB } });

    ({ result, requests } = await withLog(cbStack, () => cbMcp.callTool('create_task', { type: 'categorization', attachment: 'x', callback_url: 'https://other.example.com/cb', params: { categories: ['a'] } })));
    seen.push(result);
    assert.equal(ok(result).callback_url, 'https://other.example.com/cb');
    assert.equal(requests[0].json.callback_url, 'https://other.example.com/cb');
  });

  test('create_task: a params key that is also an argument is refused without a request', async () => {
    const { result, requests } = await withLog(stack, () => call('create_task', { type: 'imageannotation', attachment: 'https://e.com/a.png', params: { attachment: 'https://e.com/b.png' } }));
    assert.match(fails(result), /attachment/);
    assert.equal(requests.length, 0);
  });

  test('create_evaluation_task: POST /evaluation_tasks/{type} with params merged', async () => {
    const project = await newProject({ rapid: true });
    const args = { type: 'imageannotation', project, expected_response: { annotations: { a: [1] } }, initial_response: { annotations: {} }, params: { attachment: 'https://e.com/a.png', geometries: { box: {} } } };
    const { result, requests } = await withLog(stack, () => call('create_evaluation_task', args));
    const e = ok(result);
    assert.equal(typeof e.id, 'string');
    assert.deepEqual(e.expected_response, args.expected_response);
    assert.deepEqual(e.initial_response, args.initial_response);
    assert.equal(e.project, project);
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'POST', path: '/v1/evaluation_tasks/imageannotation', json: { project, expected_response: args.expected_response, initial_response: args.initial_response, attachment: 'https://e.com/a.png', geometries: { box: {} } } });
  });

  test('get_task: GET /task/{id}; an id with "/" stays one segment', async () => {
    const seeded = await newTask({ metadata: { m: 1 } });
    let { result, requests } = await withLog(stack, () => call('get_task', { task_id: seeded.task_id }));
    const t = ok(result);
    assert.equal(t.task_id, seeded.task_id);
    assert.deepEqual(t.metadata, { m: 1 });
    assertReq(requests[0], { method: 'GET', path: `/v1/task/${seeded.task_id}` });

    ({ result, requests } = await withLog(stack, () => call('get_task', { task_id: `${seeded.task_id}/cancel` })));
    fails(result, 404);
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'GET', path: `/v1/task/${seeded.task_id}%2Fcancel` });
    assert.equal(ok(await call('get_task', { task_id: seeded.task_id })).status, 'pending', 'nothing was canceled');
  });

  test('list_tasks: every filter, created_* as start_time/end_time, repeated tags, comma-joined review statuses', async () => {
    const args = {
      project: 'p q', batch: 'x/y', status: 'completed', type: 'imageannotation', tags: ['a', 'b c'], unique_id: 'u1',
      customer_review_status: ['accepted', 'fixed'], created_after: '2020-01-01', created_before: '2030-01-01T00:00:00Z',
      completed_after: '2020-02-01', completed_before: '2030-02-01', updated_after: '2020-03-01T10:00:00Z', updated_before: '2030-03-01',
      limit: 50, next_token: 'bzow', limited_response: true, include_attachment_url: false,
    };
    const { result, requests } = await withLog(stack, () => call('list_tasks', args));
    const out = ok(result);
    assert.deepEqual(out.tasks, []);
    assert.equal(requests.length, 1);
    const r = requests[0];
    assertReq(r, { method: 'GET', path: '/v1/tasks', query: r.query });
    assert.deepEqual(qpairs(r.query), qpairs([
      ['project', 'p q'], ['batch', 'x/y'], ['status', 'completed'], ['type', 'imageannotation'], ['tags', 'a'], ['tags', 'b c'],
      ['unique_id', 'u1'], ['customer_review_status', 'accepted,fixed'], ['start_time', '2020-01-01'], ['end_time', '2030-01-01T00:00:00Z'],
      ['completed_after', '2020-02-01'], ['completed_before', '2030-02-01'], ['updated_after', '2020-03-01T10:00:00Z'], ['updated_before', '2030-03-01'],
      ['limit', '50'], ['next_token', 'bzow'], ['limited_response', 'true'], ['include_attachment_url', 'false'],
    ].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')));
    assert.match(r.query, /(^|&)tags=a&tags=b(%20|\+)c(&|$)/, 'tags are repeated params');
    assert.doesNotMatch(r.query, /created_after|created_before/);
  });

  test('list_tasks: default limit 10 is always sent; paging with next_token across pages', async () => {
    const project = await newProject();
    const { tasks } = await seed({ tasks: [1, 2, 3, 4, 5].map((i) => ({ type: 'imageannotation', project, attachment: `https://e.com/${i}.png`, tags: ['page'] })) });
    const ids = tasks.map((t) => t.task_id);

    let { result, requests } = await withLog(stack, () => call('list_tasks', { project }));
    let out = ok(result);
    assertReq(requests[0], { method: 'GET', path: '/v1/tasks', query: `project=${project}&limit=10` });
    assert.equal(out.total, 5);
    assert.equal(out.has_more, false);
    assert.equal(out.next_token, null);
    assert.deepEqual(out.tasks.map((t) => t.task_id), [...ids].reverse(), 'newest first');

    const got = [];
    let token;
    let pages = 0;
    do {
      ({ result, requests } = await withLog(stack, () => call('list_tasks', { project, limit: 2, ...(token ? { next_token: token } : {}) })));
      out = ok(result);
      pages++;
      const q = new URLSearchParams(requests[0].query);
      assert.equal(q.get('limit'), '2');
      assert.equal(q.get('next_token'), token ?? null);
      got.push(...out.tasks.map((t) => t.task_id));
      assert.equal(out.total, 5);
      assert.equal(out.has_more, out.next_token !== null);
      token = out.next_token;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(got, [...ids].reverse());

    out = ok(await call('list_tasks', { project, limited_response: true, limit: 1 }));
    assert.deepEqual(Object.keys(out.tasks[0]).sort(), ['metadata', 'project', 'status', 'task_id']);
  });

  test('list_tasks: a page too large for a tool result is trimmed and says so', async () => {
    const project = await newProject();
    await seed({ tasks: Array.from({ length: 8 }, (_, i) => ({ type: 'imageannotation', project, attachment: `https://e.com/${i}.png`, blob: 'x'.repeat(40_000) })) });
    const out = ok(await call('list_tasks', { project }));
    assert.equal(out.tasks.length, 8);
    assert.ok(out.truncated, 'a truncated field');
    assert.ok(out.tasks.every((t) => t.params === undefined && typeof t.task_id === 'string'));
    assert.ok(JSON.stringify(out).length <= 200 * 1024);
  });

  test('cancel_task: pending -> canceled; clear_unique_id=true only when true; completed -> 400 with a hint', async () => {
    const a = await newTask({ unique_id: uniq('cu') });
    let { result, requests } = await withLog(stack, () => call('cancel_task', { task_id: a.task_id, clear_unique_id: false }));
    let t = ok(result);
    assert.equal(t.status, 'canceled');
    assert.equal(t.unique_id, a.unique_id);
    assertReq(requests[0], { method: 'POST', path: `/v1/task/${a.task_id}/cancel`, query: '' });

    ({ result, requests } = await withLog(stack, () => call('cancel_task', { task_id: a.task_id, clear_unique_id: true })));
    t = ok(result);
    assert.equal(t.unique_id, undefined);
    assertReq(requests[0], { method: 'POST', path: `/v1/task/${a.task_id}/cancel`, query: 'clear_unique_id=true' });

    const b = await newTask();
    await stack.simControl(`tasks/${b.task_id}/complete`, {});
    ({ result, requests } = await withLog(stack, () => call('cancel_task', { task_id: b.task_id })));
    const text = fails(result, 400);
    assert.match(text, /already completed/);
    assert.match(text, /Only pending tasks can be canceled/);
    assert.match(text, /get_task/);
    assert.equal(requests.length, 1, 'not retried');
  });

  test('update_task: metadata, add/remove tags, unique_id, in order, with bare-array bodies', async () => {
    const task = await newTask({ tags: ['keep', 'old'], metadata: { a: 1 } });
    const id = task.task_id;
    const uid = uniq('nu');
    const { result, requests } = await withLog(stack, () =>
      call('update_task', { task_id: id, unique_id: uid, remove_tags: ['old'], add_tags: ['new'], metadata: { b: 2 } }));
    const t = ok(result);
    assert.deepEqual(t.metadata, { b: 2 }, 'metadata replaced');
    assert.deepEqual(t.tags, ['keep', 'new']);
    assert.equal(t.unique_id, uid);
    assert.equal(requests.length, 4);
    assertReq(requests[0], { method: 'POST', path: `/v1/task/${id}/setMetadata`, json: { b: 2 } });
    assertReq(requests[1], { method: 'PUT', path: `/v1/task/${id}/tags`, json: ['new'] });
    assertReq(requests[2], { method: 'DELETE', path: `/v1/task/${id}/tags`, json: ['old'] });
    assertReq(requests[3], { method: 'POST', path: `/v1/task/${id}/unique_id`, json: { unique_id: uid } });
  });

  test('update_task: set_tags (POST, replace) then clear_unique_id (DELETE, no body)', async () => {
    const task = await newTask({ tags: ['x', 'y'], unique_id: uniq('cl') });
    const id = task.task_id;
    const { result, requests } = await withLog(stack, () => call('update_task', { task_id: id, clear_unique_id: true, set_tags: ['only'] }));
    const t = ok(result);
    assert.deepEqual(t.tags, ['only']);
    assert.equal(t.unique_id, undefined);
    assert.equal(requests.length, 2);
    assertReq(requests[0], { method: 'POST', path: `/v1/task/${id}/tags`, json: ['only'] });
    assertReq(requests[1], { method: 'DELETE', path: `/v1/task/${id}/unique_id` });
  });

  test('update_task: a failing middle step stops there and reports the applied steps', async () => {
    const task = await newTask({ tags: ['t'] });
    const id = task.task_id;
    await fault({ method: 'PUT', path: `/v1/task/${id}/tags`, status: 400, body: { status_code: 400, error: 'Tag "bad" is not allowed' } });
    const { result, requests } = await withLog(stack, () => call('update_task', { task_id: id, metadata: { step: 1 }, add_tags: ['bad'], unique_id: uniq('never') }));
    const text = fails(result, 400);
    assert.match(text, /add_tags/);
    assert.match(text, /Tag "bad" is not allowed/);
    assert.match(text, /applied[^\n]*metadata/i);
    assert.doesNotMatch(text.split(/applied/i).pop(), /unique_id/);
    assert.deepEqual(requests.map((r) => `${r.method} ${r.path}`), [`POST /v1/task/${id}/setMetadata`, `PUT /v1/task/${id}/tags`]);
    const now = ok(await call('get_task', { task_id: id }));
    assert.deepEqual(now.metadata, { step: 1 });
    assert.equal(now.unique_id, undefined);
  });

  test('update_task: the first step failing says no step was applied', async () => {
    const { result, requests } = await withLog(stack, () => call('update_task', { task_id: 'no-such-task', metadata: { a: 1 } }));
    const text = fails(result, 404);
    assert.match(text, /No step was applied/i);
    assert.equal(requests.length, 1);
  });

  test('resend_callback: POST /task/{id}/send-callback returns Scale\'s answer; a pending task is a 400', async () => {
    const task = await newTask({ callback_url: stack.webhookUrl });
    await stack.simControl(`tasks/${task.task_id}/complete`, {});
    let { result, requests } = await withLog(stack, () => call('resend_callback', { task_id: task.task_id }));
    const out = ok(result);
    assert.equal(out.task_id, task.task_id);
    assert.equal(out.callback_url, stack.webhookUrl);
    assert.equal(out.status_code, 200);
    assert.equal(requests.length, 1);
    assertReq(requests[0], { method: 'POST', path: `/v1/task/${task.task_id}/send-callback` });

    const pending = await newTask({ callback_url: stack.webhookUrl });
    ({ result, requests } = await withLog(stack, () => call('resend_callback', { task_id: pending.task_id })));
    assert.match(fails(result, 400), /completed or errored/);
    assert.equal(requests.length, 1);
  });
});

// ---------------------------------------------------------------------------
// team and files

describe('team and files', () => {
  test('manage_team: list, invite {emails, team_role}, set_role {emails, team_role}', async () => {
    let { result, requests } = await withLog(stack, () => call('manage_team', { action: 'list' }));
    let team = ok(result).teammates;
    assert.ok(team.some((m) => m.email === 'admin@example.com' && m.role === 'admin'));
    assertReq(requests[0], { method: 'GET', path: '/v1/teams' });

    const emails = [`${uniq('ann')}@example.com`, `${uniq('bob')}@example.com`];
    ({ result, requests } = await withLog(stack, () => call('manage_team', { action: 'invite', emails, role: 'member' })));
    team = ok(result).teammates;
    for (const e of emails) assert.equal(team.find((m) => m.email === e)?.role, 'member');
    assertReq(requests[0], { method: 'POST', path: '/v1/teams/invite', json: { emails, team_role: 'member' } });

    ({ result, requests } = await withLog(stack, () => call('manage_team', { action: 'set_role', emails: [emails[0]], role: 'manager' })));
    team = ok(result).teammates;
    assert.equal(team.find((m) => m.email === emails[0]).role, 'manager');
    assert.equal(team.find((m) => m.email === emails[1]).role, 'member');
    assertReq(requests[0], { method: 'POST', path: '/v1/teams/set_role', json: { emails: [emails[0]], team_role: 'manager' } });
  });

  test('import_file: POST /files/import; the result has a scaledata:// attachment_url that create_task accepts', async () => {
    const project = await newProject();
    const { result, requests } = await withLog(stack, () => call('import_file', { file_url: 'https://example.com/pics/cat.png', project_name: project }));
    const f = ok(result);
    assert.match(f.attachment_url, /^scaledata:\/\/[0-9a-f]+\/[0-9a-f]+$/);
    assert.equal(f.mime_type, 'image/png');
    assert.deepEqual(f.project_names, [project]);
    assertReq(requests[0], { method: 'POST', path: '/v1/files/import', json: { file_url: 'https://example.com/pics/cat.png', project_name: project } });

    const { requests: r2 } = await withLog(stack, () => call('import_file', { file_url: 'https://example.com/doc.pdf' }));
    assertReq(r2[0], { method: 'POST', path: '/v1/files/import', json: { file_url: 'https://example.com/doc.pdf' } });

    const t = ok(await call('create_task', { type: 'imageannotation', project, attachment: f.attachment_url }));
    assert.equal(t.params.attachment, f.attachment_url);
  });
});

// ---------------------------------------------------------------------------
// Scale's errors

describe('Scale errors through tools', () => {
  test('400 carries the status and Scale\'s message', async () => {
    const { result, requests } = await withLog(stack, () => call('create_task', { type: 'imageannotation', instruction: 'no attachment' }));
    const t = fails(result, 400);
    assert.match(t, /Missing required parameter: attachment/);
    assert.equal(requests.length, 1);
  });

  test('401 when the worker\'s key is wrong: status, Scale\'s message, a hint about SCALE_API_KEY, and no key in the text', async () => {
    const { result, requests } = await withLog(badKeyStack, () => badKeyMcp.callTool('list_projects', {}));
    seen.push(result);
    const t = fails(result, 401);
    assert.match(t, /Unauthorized: invalid API key/);
    assert.match(t, /SCALE_API_KEY/);
    for (const s of secretStrings(WRONG_KEY)) assert.ok(!t.includes(s));
    assert.equal(requests.length, 1, 'a 401 is not retried');
    assertReq(requests[0], { method: 'GET', path: '/v1/projects', key: WRONG_KEY });
  });

  test('402 for a task type the account has not enabled', async () => {
    const { result, requests } = await withLog(stack, () => call('create_task', { type: 'federal2dvideoannotation', attachment: 'https://e.com/v.mp4' }));
    const t = fails(result, 402);
    assert.match(t, /not enabled for your account/);
    assertReq(requests[0], { method: 'POST', path: '/v1/task/federal2dvideoannotation', json: { attachment: 'https://e.com/v.mp4' } });
  });

  test('404 for an unknown task, batch and project', async () => {
    assert.match(fails(await call('get_task', { task_id: 'ffffffffffffffffffffffff' }), 404), /Task with that ID not found/);
    assert.match(fails(await call('get_batch', { name: 'no such/batch' }), 404), /Batch "no such\/batch" not found/);
    assert.match(fails(await call('get_project', { name: 'no such project' }), 404), /Project "no such project" not found/);
  });

  test('409 for a duplicate project, batch and unique_id (with the unique_id hint), each sent once', async () => {
    const project = await newProject();
    let { result, requests } = await withLog(stack, () => call('create_project', { type: 'imageannotation', name: project }));
    assert.match(fails(result, 409), /already exists/);
    assert.equal(requests.length, 1);

    const batch = uniq('dupb');
    await seed({ batches: [{ project, name: batch }] });
    ({ result, requests } = await withLog(stack, () => call('create_batch', { project, name: batch, callback: 'https://example.com/cb' })));
    assert.match(fails(result, 409), /already exists/);
    assert.equal(requests.length, 1);

    const uid = uniq('dupu');
    await newTask({ unique_id: uid });
    ({ result, requests } = await withLog(stack, () => call('create_task', { type: 'imageannotation', attachment: 'https://e.com/x.png', unique_id: uid })));
    const t = fails(result, 409);
    assert.match(t, new RegExp(`unique_id \\("${uid}"\\) is already used`));
    assert.match(t, /list_tasks/);
    assert.match(t, /clear_unique_id/);
    assert.equal(requests.length, 1, 'a plain 409 is not resolved by a lookup');
  });

  test('429 on a write is reported with its status and not retried', async () => {
    await fault({ method: 'POST', path: '/v1/projects', status: 429, retryAfter: 7, body: { status_code: 429, error: 'Too many requests, slow down' } });
    const { result, requests } = await withLog(stack, () => call('create_project', { type: 'imageannotation', name: uniq('rl') }));
    const t = fails(result, 429);
    assert.match(t, /Too many requests, slow down/);
    assert.equal(requests.length, 1);
  });

  test('5xx is reported with its status and Scale\'s message', async () => {
    const project = await newProject();
    await fault({ method: 'POST', path: '/v1/batches', status: 500, body: { status_code: 500, error: 'Internal error, request id abc123' } });
    const { result, requests } = await withLog(stack, () => call('create_batch', { project, name: uniq('b5') }));
    const t = fails(result, 500);
    assert.match(t, /Internal error, request id abc123/);
    assert.equal(requests.length, 1);
  });

  test('the API key is scrubbed even when Scale echoes it', async () => {
    const key = SECRETS.SCALE_API_KEY;
    const b64 = Buffer.from(`${key}:`).toString('base64');
    await fault({ method: 'GET', path: '/v1/task/echo', status: 400, body: { status_code: 400, error: `bad request for key ${key} (Basic ${b64})` } });
    const t = fails(await call('get_task', { task_id: 'echo' }), 400);
    assert.ok(!t.includes(key) && !t.includes(b64), t);
    assert.match(t, /bad request for key/);
  });

  test('invalid arguments are tool errors and send nothing to Scale', async () => {
    const cases = [
      ['create_task', {}],
      ['create_task', { type: 'Image Annotation' }],
      ['create_task', { type: 'image/annotation' }],
      ['create_task', { type: 'imageannotation', bogus: 1 }],
      ['create_task', { type: 'imageannotation', metadata: 'not an object' }],
      ['create_task', { type: 'imageannotation', tags: 'a,b' }],
      ['create_task', { type: 'imageannotation', project: 'p', params: { project: 'q' } }],
      ['create_task', { type: 'imageannotation', params: { type: 'categorization' } }],
      ['create_evaluation_task', { type: 'imageannotation', expected_response: {}, params: { expected_response: {} } }],
      ['update_project', { name: 'n', instruction: 'a', params: { instruction: 'b' } }],
      ['create_evaluation_task', { type: 'imageannotation' }],
      ['get_task', {}],
      ['get_task', { task_id: '' }],
      ['get_task', { task_id: '..' }],
      ['get_task', { task_id: 'x'.repeat(2000) }],
      ['list_tasks', { limit: 0 }],
      ['list_tasks', { limit: 101 }],
      ['list_tasks', { status: 'done' }],
      ['list_tasks', { created_after: '2020-01-01Tnoon!' }],
      ['list_tasks', { customer_review_status: ['bogus'] }],
      ['cancel_task', { task_id: 'x', clear_unique_id: 'yes' }],
      ['update_task', { task_id: 'x' }],
      ['update_task', { task_id: 'x', set_tags: ['a'], add_tags: ['b'] }],
      ['update_task', { task_id: 'x', unique_id: 'u', clear_unique_id: true }],
      ['resend_callback', { task_id: '.' }],
      ['create_batch', { project: 'p' }],
      ['create_batch', { project: 'p', name: '..' }],
      ['get_batch', { name: '' }],
      ['list_batches', { status: 'done' }],
      ['list_batches', { limit: 1000 }],
      ['list_batches', { completed_before: '31/12/2020' }],
      ['finalize_batch', { name: 'b', priority: 5 }],
      ['finalize_batch', { name: 'b', priority: 31 }],
      ['list_projects', { archived: 'yes' }],
      ['get_project', {}],
      ['create_project', { type: 'imageannotation' }],
      ['create_project', { type: 'imageannotation', name: 'n', rapid: true, studio: true }],
      ['create_project', { type: 'imageannotation', name: 'n', pipeline: 'fast' }],
      ['update_project', { name: 'n' }],
      ['update_project', { name: 'n', patch: true }],
      ['update_project', { name: 'n', ontology_name: 'v' }],
      ['update_project', { name: 'n', ontology: [] }],
      ['manage_team', {}],
      ['manage_team', { action: 'delete' }],
      ['manage_team', { action: 'invite', emails: ['a@example.com'] }],
      ['manage_team', { action: 'set_role', role: 'member' }],
      ['manage_team', { action: 'invite', emails: ['not-an-email'], role: 'member' }],
      ['manage_team', { action: 'list', role: 'member' }],
      ['manage_team', { action: 'invite', emails: ['a@example.com'], role: 'admin' }],
      ['import_file', {}],
      ['import_file', { file_url: 'not a url' }],
    ];
    const mark = await logMark(stack);
    for (const [name, args] of cases) {
      const r = await call(name, args);
      assert.equal(r.isError, true, `${name} ${JSON.stringify(args)} should be refused, got ${textOf(r)}`);
      assert.match(textOf(r), new RegExp(`^Invalid arguments for ${name}:`), `${name} ${JSON.stringify(args)}: ${textOf(r)}`);
      assert.match(textOf(r), /No request was sent to Scale/);
    }
    assert.deepEqual(await mark.since(), [], 'no request reached the simulator');
  });

  // Guards a fixed bug: check_iso_date indexed b[10] on shorter strings, the wasm
  // panicked and workerd cancelled the request as hung.
  test('a date argument shorter than a date is an invalid argument (and the worker survives)',
    async () => {
      const mark = await logMark(stack);
      for (const [name, args] of [['list_tasks', { created_after: 'yesterday' }], ['list_batches', { completed_before: '2020-1-1' }], ['list_tasks', { updated_before: '' }]]) {
        let r;
        try {
          r = await call(name, args);
        } catch (e) {
          assert.fail(`${name} ${JSON.stringify(args)}: the call failed at the transport: ${e.message.slice(0, 160)}`);
        }
        assert.equal(r.isError, true);
        assert.match(textOf(r), /ISO 8601/);
      }
      assert.deepEqual(await mark.since(), []);
      ok(await call('list_projects', {}));
    });
});

test('the Scale API key never appears in any tool result', () => {
  assert.ok(seen.length > 50, `scanned ${seen.length} results`);
  const needles = [...secretStrings(), ...secretStrings(WRONG_KEY).slice(0, 2)];
  for (const r of seen) {
    const s = JSON.stringify(r);
    for (const n of needles) assert.ok(!s.includes(n), `a result contains a secret: ${s.slice(0, 300)}`);
  }
});
