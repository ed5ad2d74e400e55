// A real MCP client (the official TypeScript SDK, 1.x) connected to a stack
// from harness.mjs over Streamable HTTP with the bearer token, plus small
// helpers the e2e tests share: reading tool results and slicing the
// simulator's request log.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SECRETS } from './harness.mjs';

/**
 * Connects an MCP client to `stack` (initialize + initialized) and lists the
 * tools once so the client knows their output schemas (and validates
 * structuredContent against them, as a real host would).
 */
export async function connect(stack, { token = stack.token, name = 'scale-mcp-e2e' } = {}) {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(stack.mcpUrl), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  const { tools } = await client.listTools();
  return {
    client,
    tools,
    /** tools/call; resolves the CallToolResult (tool errors are results with isError). */
    callTool: (toolName, args = {}) => client.callTool({ name: toolName, arguments: args }),
    listResources: (params) => client.listResources(params),
    readResource: (uri) => client.readResource({ uri }),
    close: () => client.close(),
  };
}

/** The text of a result's first text block. */
export function textOf(result) {
  return (result.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

/** `Basic base64(key:)`, the Authorization header Scale expects. */
export function basicAuth(key = SECRETS.SCALE_API_KEY) {
  return `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
}

/**
 * Marks the simulator's request log: `since()` then returns only the /v1
 * requests made after the mark (the log is never cleared under other tests).
 */
export async function logMark(stack) {
  const before = await stack.simRequests();
  const seq = before.length ? before.at(-1).seq : 0;
  return {
    async since() {
      return (await stack.simRequests()).filter((r) => r.seq > seq);
    },
  };
}

/**
 * Runs `fn` and returns `{result, requests}`: what it resolved and the /v1
 * requests the simulator saw meanwhile.
 */
export async function withLog(stack, fn) {
  const mark = await logMark(stack);
  const result = await fn();
  return { result, requests: await mark.since() };
}

/** Every secret of the stack, and the Basic encoding of the Scale key. */
export function secretStrings(key = SECRETS.SCALE_API_KEY) {
  return [key, Buffer.from(`${key}:`).toString('base64'), SECRETS.MCP_AUTH_TOKEN, SECRETS.SCALE_CALLBACK_AUTH_KEY];
}

/**
 * Closes stacks (skipping unset ones), all of them even if one fails, then
 * rethrows the first failure: harness close() fails when a secret leaked.
 */
export async function closeAll(stacks) {
  const results = await Promise.allSettled(stacks.filter(Boolean).map((s) => s.close()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
