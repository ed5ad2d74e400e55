// What the bench and the profiler send: the simulator's seeding and control
// calls, MCP requests on the modern lane, and webhook deliveries.

import { taskBody, responseFor, PROJECT, BATCH } from './fixtures.mjs';

export const MODERN = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
/** The request declares the MCP tasks extension (a task-aware client's tools/call and tasks/*). */
const TASKS_META = { ...META, 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } };

/** A caller of the simulator's /__sim control API at `simUrl`. */
export function simControl(simUrl) {
  return async (p, body, method = 'POST') => {
    const r = await fetch(`${simUrl}/__sim/${p}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`sim ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/** Seeds one project, one batch and 100 completed ~3 KB tasks; resolves their ids. */
export async function seedTasks(control) {
  const seeded = await control('seed', {
    projects: [{ type: 'imageannotation', name: PROJECT }],
    batches: [{ project: PROJECT, name: BATCH }],
    tasks: Array.from({ length: 100 }, (_, i) => taskBody(i)),
  });
  const taskIds = seeded.tasks.map((t) => t.task_id);
  for (let i = 0; i < taskIds.length; i++) await control(`tasks/${taskIds[i]}/complete`, { response: responseFor(i) });
  return taskIds;
}

/** An autocannon target: one JSON-RPC request to `${url}/mcp` with the MCP headers. */
export function mcpTarget(url, token, method, params = {}, name, meta = META) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${token}`,
    'mcp-protocol-version': MODERN,
    'mcp-method': method,
  };
  if (name) headers['mcp-name'] = name;
  return { url: `${url}/mcp`, method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: meta } }) };
}

/** `tools/call` of a wait tool as an MCP task (2026-07-28 with the extension): its answer is a task handle. */
export function taskCallTarget(url, token, name, args) {
  return mcpTarget(url, token, 'tools/call', { name, arguments: args }, name, TASKS_META);
}

/** `tasks/get` of the handle `taskId` (2026-07-28 with the extension; Mcp-Name is the id). */
export function tasksGetTarget(url, token, taskId) {
  return mcpTarget(url, token, 'tasks/get', { taskId }, taskId, TASKS_META);
}

/**
 * An autocannon target posting `parts` (webhookTemplate's halves) joined by a
 * new task id each time, so no delivery is a duplicate. `next()` gives the ids.
 */
export function webhookTarget(url, key, parts, next) {
  return {
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'scale-callback-auth': key },
    setupRequest: (req) => {
      req.body = parts.join(next());
      return req;
    },
  };
}

/**
 * The load scenarios' requests to the worker at `url`, by scenario id: the
 * bench, its equivalence check and the profiler all send these. `parts` and
 * `nextId` feed webhookTarget.
 */
export function scenarioTargets(url, { token, callbackKey, taskId, parts, nextId }) {
  const mcp = (method, params, name) => mcpTarget(url, token, method, params, name);
  return {
    tools_list: mcp('tools/list'),
    get_task: mcp('tools/call', { name: 'get_task', arguments: { task_id: taskId } }, 'get_task'),
    list_tasks: mcp('tools/call', { name: 'list_tasks', arguments: { limit: 100 } }, 'list_tasks'),
    // Half the page: a result under the 200 KiB trim limit of both sides, so nothing is trimmed.
    list_tasks_50: mcp('tools/call', { name: 'list_tasks', arguments: { limit: 50 } }, 'list_tasks'),
    webhook: webhookTarget(`${url}/webhooks/scale`, callbackKey, parts, nextId),
  };
}
