// The benchmark's TypeScript peer: the same MCP surface as the Rust worker,
// built the way Cloudflare documents it (agents/docs/mcp-servers.md):
// `createMcpHandler` from `agents/mcp/server` with an MCP SDK v2 `McpServer`
// from a per-request factory, zod schemas, `env` from `cloudflare:workers`,
// the handler created once at module scope, and nodejs_compat enabled.
//
// `get_task` and `list_tasks` are implemented for real against the Scale API
// (the simulator): the same requests (GET /v1/task/{id}, GET /v1/tasks?...,
// HTTP Basic auth with the key as user) and the same results (the tool's JSON
// as `structuredContent` plus the same JSON as one text block, lists shaped
// and trimmed like the Rust worker's). Every other tool of the Rust worker's
// catalog is registered with its published JSON Schema (via the SDK's
// `fromJsonSchema`) so that `tools/list` returns the same catalog; calling one
// of those answers isError. `POST /webhooks/scale` mirrors the Rust
// receiver's checks and KV writes so the webhook scenario compares like with
// like.

import { McpServer, fromJsonSchema } from '@modelcontextprotocol/server';
import { createMcpHandler } from 'agents/mcp/server';
import { env } from 'cloudflare:workers';
import { z } from 'zod';
// Written by bench/run.mjs from the Rust worker's own tools/list before bundling.
import catalog from '../../out/peer-catalog.json';
import { shapeTaskList } from './shape';

interface Env {
  SCALE_API_KEY: string;
  SCALE_API_BASE: string;
  MCP_AUTH_TOKEN: string;
  SCALE_CALLBACK_AUTH_KEY: string;
  SCALE_TIMEOUT_MS?: string;
  CALLBACK_TTL_DAYS?: string;
  CALLBACKS: KVNamespace;
}

interface CatalogTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

const cfg = env as unknown as Env;
const VERSION = '0.0.0-peer';
const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true };

type ToolResult = {
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
};

function ok(structured: Record<string, unknown>): ToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

function toolError(text: string): ToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/** Percent-encodes all but RFC 3986 unreserved characters (as Scale's Python client does). */
function enc(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

class ScaleHttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** One Scale GET: Basic auth, JSON answer, errors as ScaleHttpError. */
async function scaleGet(path: string): Promise<unknown> {
  const base = (cfg.SCALE_API_BASE || 'https://api.scale.com/v1').replace(/\/+$/, '');
  const res = await fetch(`${base}${path}`, {
    headers: {
      authorization: `Basic ${btoa(`${cfg.SCALE_API_KEY}:`)}`,
      accept: 'application/json',
      'user-agent': `scale-mcp-peer/${VERSION}`,
    },
    signal: AbortSignal.timeout(Number(cfg.SCALE_TIMEOUT_MS || 25000)),
  });
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 500);
    try {
      const j = JSON.parse(text);
      if (j && typeof j.error === 'string') message = j.error;
    } catch {}
    throw new ScaleHttpError(res.status, message);
  }
  return text.trim() === '' ? null : JSON.parse(text);
}

async function scaleTool(what: string, run: () => Promise<Record<string, unknown>>): Promise<ToolResult> {
  try {
    return ok(await run());
  } catch (e) {
    if (e instanceof ScaleHttpError) return toolError(`Scale answered ${e.status} to ${what}: ${e.message}`);
    return toolError(`Scale could not be reached for ${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const STATUSES = ['pending', 'completed', 'canceled', 'error'] as const;
const REVIEW_STATUSES = ['pending', 'fixed', 'accepted', 'rejected', 'commented'] as const;
const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}([Tt ][0-9A-Za-z:.+-]*)?$/, 'must be an ISO 8601 date or date-time')
  .max(40);

const taskOutput = z.looseObject({
  task_id: z.string().optional(),
  type: z.string().optional(),
  status: z.string().optional(),
  project: z.string().optional(),
  batch: z.string().optional(),
  created_at: z.string().optional(),
  completed_at: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  tags: z.array(z.unknown()).optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  response: z.unknown().optional(),
});

const listInput = z.strictObject({
  project: z.string().describe('Project name.').optional(),
  batch: z.string().describe('Batch name.').optional(),
  status: z.enum(STATUSES).describe('Task status.').optional(),
  type: z.string().describe('Task type, e.g. imageannotation.').optional(),
  tags: z.array(z.string()).describe('Only tasks with these tags.').optional(),
  unique_id: z.string().describe('The unique_id the task was created with.').optional(),
  customer_review_status: z.array(z.enum(REVIEW_STATUSES)).describe('Audit statuses to match.').optional(),
  created_after: isoDate.describe('Created at or after this time.').optional(),
  created_before: isoDate.describe('Created at or before this time.').optional(),
  completed_after: isoDate.describe('Completed at or after this time.').optional(),
  completed_before: isoDate.describe('Completed at or before this time.').optional(),
  updated_after: isoDate.describe('Updated at or after this time.').optional(),
  updated_before: isoDate.describe('Updated at or before this time.').optional(),
  limit: z.number().int().min(1).max(100).describe('Page size, 1-100 (default 10).').optional(),
  next_token: z.string().describe('The next_token of the previous page.').optional(),
  limited_response: z.boolean().describe('Return only task_id, status, metadata and project for each task.').optional(),
  include_attachment_url: z.boolean().describe('Include pre-signed attachment URLs.').optional(),
});

const listOutput = z.object({
  tasks: z.array(z.record(z.string(), z.unknown())),
  total: z.number().int().nullable().optional(),
  has_more: z.boolean(),
  next_token: z.string().nullable().optional(),
  truncated: z.record(z.string(), z.unknown()).optional(),
});

function createServer(): McpServer {
  const server = new McpServer(
    { name: 'scale-mcp-peer', title: 'Scale AI (TypeScript peer)', version: VERSION },
    { capabilities: { tools: { listChanged: false } } },
  );

  for (const t of (catalog as { tools: CatalogTool[] }).tools) {
    if (t.name === 'get_task' || t.name === 'list_tasks') {
      if (t.name === 'get_task') {
        server.registerTool(
          'get_task',
          {
            title: t.title ?? 'Get task',
            description: t.description,
            inputSchema: z.strictObject({ task_id: z.string().min(1).max(1024).describe("The task's id.") }),
            outputSchema: taskOutput,
            annotations: { title: t.title ?? 'Get task', ...READ },
          },
          async ({ task_id }) => {
            if (task_id === '.' || task_id === '..') return toolError('`task_id` cannot be a dot segment');
            return scaleTool(`GET /task/${enc(task_id)}`, async () => {
              const v = await scaleGet(`/task/${enc(task_id)}`);
              return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { ok: true };
            });
          },
        );
      } else {
        server.registerTool(
          'list_tasks',
          {
            title: t.title ?? 'List tasks',
            description: t.description,
            inputSchema: listInput,
            outputSchema: listOutput,
            annotations: { title: t.title ?? 'List tasks', ...READ },
          },
          async (a) => {
            const q = new URLSearchParams();
            const add = (k: string, v: string | undefined) => {
              if (v !== undefined) q.append(k, v);
            };
            add('project', a.project);
            add('batch', a.batch);
            add('status', a.status);
            add('type', a.type);
            for (const tag of a.tags ?? []) q.append('tags', tag);
            add('unique_id', a.unique_id);
            if (a.customer_review_status?.length) q.append('customer_review_status', a.customer_review_status.join(','));
            add('start_time', a.created_after);
            add('end_time', a.created_before);
            add('completed_after', a.completed_after);
            add('completed_before', a.completed_before);
            add('updated_after', a.updated_after);
            add('updated_before', a.updated_before);
            q.append('limit', String(a.limit ?? 10));
            add('next_token', a.next_token);
            if (a.limited_response !== undefined) q.append('limited_response', String(a.limited_response));
            if (a.include_attachment_url !== undefined) q.append('include_attachment_url', String(a.include_attachment_url));
            return scaleTool('GET /tasks', async () => shapeTaskList(await scaleGet(`/tasks?${q.toString().replace(/\+/g, '%20')}`)));
          },
        );
      }
      continue;
    }
    // The rest of the catalog, advertised with the Rust worker's own schemas.
    server.registerTool(
      t.name,
      {
        title: t.title,
        description: t.description,
        inputSchema: fromJsonSchema(t.inputSchema as never),
        ...(t.outputSchema ? { outputSchema: fromJsonSchema(t.outputSchema as never) } : {}),
        annotations: t.annotations as never,
      },
      async () => toolError(`${t.name} is not implemented in the benchmark peer`),
    );
  }
  return server;
}

const mcpHandler = createMcpHandler(createServer);

/** Constant-time string comparison. */
function same(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  let diff = ea.length ^ eb.length;
  for (let i = 0; i < Math.max(ea.length, eb.length); i++) diff |= (ea[i] ?? 0) ^ (eb[i] ?? 0);
  return diff === 0;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

// ---------------------------------------------------------------------------
// Scale callbacks: the same checks and the same KV layout as the Rust receiver
// (a task's key follows from the body and finds a repeat with one get; the
// per-batch index key; the entry), with SHA-256 of the body as the fingerprint.

async function fingerprint(v: unknown): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify(v)));
  return [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function webhook(request: Request, e: Env): Promise<Response> {
  const key = request.headers.get('scale-callback-auth');
  if (!key) return json(401, { error: 'unauthorized', message: 'missing scale-callback-auth header' });
  if (!same(key.trim(), e.SCALE_CALLBACK_AUTH_KEY)) return json(401, { error: 'unauthorized', message: 'invalid scale-callback-auth header' });
  let body: Record<string, unknown>;
  try {
    const parsed = JSON.parse(await request.text());
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return json(400, { error: 'bad_request', message: 'a callback body must be a JSON object' });
    body = parsed;
  } catch (err) {
    return json(400, { error: 'bad_request', message: `invalid JSON: ${(err as Error).message}` });
  }
  const task = (body.task && typeof body.task === 'object' ? body.task : {}) as Record<string, unknown>;
  const taskId = typeof body.task_id === 'string' ? body.task_id : typeof task.task_id === 'string' ? task.task_id : undefined;
  const batch = typeof task.batch === 'string' ? task.batch : typeof body.batch === 'string' ? body.batch : undefined;
  const status = typeof body.status === 'string' ? body.status : typeof task.status === 'string' ? task.status : undefined;
  const kind = taskId ? 'task' : batch ? 'batch' : 'other';
  const fp = await fingerprint(body);
  const subject = taskId ? `t:${enc(taskId)}:${fp}` : batch ? `k:${enc(batch)}:${fp}` : `o:${fp}`;
  const ttl = Number(e.CALLBACK_TTL_DAYS || 30) * 86400;
  const existing = await e.CALLBACKS.get(subject);
  const stored = existing ? await e.CALLBACKS.get(`log:${existing}`) : null;
  if (existing && stored !== null && JSON.stringify(JSON.parse(stored).body) === JSON.stringify(body)) {
    return json(200, { stored: false, duplicate_of: existing });
  }
  const now = Date.now();
  const id = existing && stored === null ? existing : `${String(9_999_999_999_999 - now).padStart(13, '0')}-${fp}`;
  const receivedAt = new Date(now).toISOString();
  const metadata: Record<string, unknown> = { id, kind, received_at: receivedAt };
  if (taskId) metadata.task_id = taskId.slice(0, 180);
  if (batch) metadata.batch = batch.slice(0, 180);
  if (status) metadata.status = status.slice(0, 180);
  const opts = { expirationTtl: ttl, metadata };
  if (!existing) await e.CALLBACKS.put(subject, id, opts);
  if (batch) await e.CALLBACKS.put(`b:${enc(batch)}:${id}`, '', opts);
  await e.CALLBACKS.put(`log:${id}`, JSON.stringify({ id, received_at: receivedAt, kind, body }), opts);
  return json(200, { stored: true, id });
}

export default {
  async fetch(request: Request, e: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/webhooks/scale') {
      if (request.method !== 'POST') return json(405, { error: 'method_not_allowed' }, { allow: 'POST' });
      return webhook(request, e);
    }
    if (url.pathname === '/mcp' && request.method !== 'OPTIONS') {
      const auth = request.headers.get('authorization') ?? '';
      const m = /^bearer\s+(\S+)$/i.exec(auth.trim());
      if (!m || !same(m[1], e.MCP_AUTH_TOKEN)) {
        return json(401, { error: 'unauthorized', message: 'Send `Authorization: Bearer <token>`.' }, { 'www-authenticate': 'Bearer realm="scale-mcp"' });
      }
    }
    return mcpHandler(request, e, ctx);
  },
} satisfies ExportedHandler<Env>;

