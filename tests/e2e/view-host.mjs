// A stand-in MCP Apps host for the annotation view's page tests
// (tests/e2e/view.test.mjs): a loopback server with a host page that embeds
// src/view/annotations.html in a sandboxed iframe, served under the
// Content-Security-Policy the MCP Apps specification (2026-01-26, "CSP
// Construction from Metadata") builds from the resource's `_meta.ui.csp`, and
// a second host page driven by the official `AppBridge` of
// @modelcontextprotocol/ext-apps, bundled at test time with the esbuild that
// wrangler brings.
//
// The app-only tool the view calls (get_task_attachment, contract in
// docs/annotation-view.md) is the built worker's: the tests forward the
// view's `tools/call` to an MCP client connected to the worker, and serve the
// view document and its `_meta` as the worker's `resources/read` gave them.
// `attachmentTool` is the contract written out on the test's side, over any
// byte source, for the cases a well-behaved server never produces (a chunk
// size that makes the view join hundreds of chunks). `startFileHost` is an
// image host on loopback for the attachments the worker fetches: Range
// answers, and the slow, oversized, redirecting and broken hosts of the
// refusal tests.

import http from 'node:http';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const VIEW_PATH = path.join(ROOT, 'src/view/annotations.html');

/** The `_meta` the view's `resources/read` contents item carries: no outside domain at all. */
export const VIEW_RESOURCE_META = { ui: { csp: { connectDomains: [], resourceDomains: [] }, prefersBorder: true } };

/** The view's CSP, built from `_meta.ui.csp` the way the specification's host example does. */
export function cspFromMeta(meta) {
  const csp = meta?.ui?.csp;
  const res = (csp?.resourceDomains || []).join(' ');
  const list = (xs, dflt) => (xs?.length ? xs.join(' ') : dflt);
  return [
    "default-src 'none'",
    `script-src 'self' 'unsafe-inline' ${res}`,
    `style-src 'self' 'unsafe-inline' ${res}`,
    `connect-src 'self' ${(csp?.connectDomains || []).join(' ')}`,
    `img-src 'self' data: ${res}`,
    `font-src 'self' ${res}`,
    `media-src 'self' data: ${res}`,
    `frame-src ${list(csp?.frameDomains, "'none'")}`,
    "object-src 'none'",
    `base-uri ${list(csp?.baseUriDomains, "'self'")}`,
  ].map((d) => d.trim()).join('; ');
}

export const CHUNK_BYTES = 110592; // the contract's largest chunk: 108 KiB, a multiple of 3

const MAGIC = [
  ['image/png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ['image/jpeg', [0xff, 0xd8, 0xff]],
  ['image/gif', [0x47, 0x49, 0x46, 0x38]],
];
/** PNG, JPEG, GIF or WebP by their first bytes, else null. */
export function sniffImage(bytes) {
  for (const [mime, sig] of MAGIC) if (sig.every((b, i) => bytes[i] === b)) return mime;
  if (bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return null;
}

const toolError = (text) => ({ content: [{ type: 'text', text }], isError: true });

/**
 * get_task_attachment as the contract says, over `load(taskId)`, which
 * resolves `{bytes}` or `{refused: reason}`. `chunk` (a multiple of 3) can be
 * made small to make the view join many chunks. Records every call in `calls`.
 */
export function attachmentTool(load, { chunk = CHUNK_BYTES } = {}) {
  if (chunk % 3) throw new Error('chunks must hold a multiple of 3 bytes');
  const calls = [];
  const tool = async (params) => {
    calls.push(params);
    if (params?.name !== 'get_task_attachment') return toolError(`Unknown tool: ${params?.name}`);
    const { task_id: taskId, offset = 0 } = params.arguments || {};
    if (typeof taskId !== 'string' || !Number.isInteger(offset) || offset < 0) return toolError('task_id must be a string and offset a whole number of bytes from 0.');
    const got = await load(taskId);
    if (got.refused) return toolError(got.refused);
    const mime = sniffImage(got.bytes);
    if (!mime && !got.mime) return toolError('The attachment is not a PNG, JPEG, GIF or WebP image.');
    if (offset >= got.bytes.length) return toolError(`offset ${offset} is past the end of the attachment (${got.bytes.length} bytes).`);
    const part = got.bytes.subarray(offset, offset + chunk);
    const next = offset + part.length < got.bytes.length ? offset + part.length : null;
    const record = { task_id: taskId, mime_type: got.mime || mime, total_bytes: got.bytes.length, offset, next_offset: next };
    return {
      content: [{ type: 'text', text: JSON.stringify({ ...record, data: part.toString('base64') }) }],
      structuredContent: record,
    };
  };
  tool.calls = calls;
  return tool;
}

/** What get_task answers for `task`: the task as JSON text and as structuredContent. */
export const getTaskResult = (task) => ({ content: [{ type: 'text', text: JSON.stringify(task) }], structuredContent: task });

// The mock host: embeds the view, answers its requests, logs every message
// the view sends (window.hostLog), resizes the frame on size-changed and lets
// the test send notifications and requests to the view.
const HOST_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mock MCP Apps host</title>
<style>body{margin:16px;font:14px sans-serif;background:#e8e8ec} iframe{display:block;width:860px;height:120px;border:1px solid #999;border-radius:8px;background:#fff}</style></head>
<body><h1>Mock host</h1><div id="slot"></div><script>
window.hostLog = [];
const waiting = new Map();
let frame, nextId = 1, initialized;
const post = (m) => frame.contentWindow.postMessage({ jsonrpc: '2.0', ...m }, '*');
window.startHost = (cfg) => new Promise((resolve) => {
  initialized = resolve;
  frame = document.createElement('iframe');
  frame.id = 'view';
  frame.title = 'Scale task annotations';
  frame.setAttribute('sandbox', 'allow-scripts');
  frame.src = '/view.html';
  addEventListener('message', async (e) => {
    if (e.source !== frame.contentWindow) return;
    const m = e.data;
    window.hostLog.push(m);
    if (m.method === undefined && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); return; }
    if (m.method === 'ui/initialize') {
      post({ id: m.id, result: { protocolVersion: '2026-01-26', hostInfo: { name: 'mock-host', version: '1.0.0' }, hostCapabilities: { serverTools: {} }, hostContext: cfg.context } });
    } else if (m.method === 'ui/notifications/initialized') initialized();
    else if (m.method === 'ui/notifications/size-changed') frame.style.height = m.params.height + 'px';
    else if (m.method === 'tools/call') {
      try { post({ id: m.id, result: await window.hostCallTool(m.params) }); } catch (err) { post({ id: m.id, error: { code: -32603, message: String(err.message || err) } }); }
    } else if (m.id !== undefined) post({ id: m.id, error: { code: -32601, message: 'Method not found' } });
  });
  document.getElementById('slot').append(frame);
});
window.notifyView = (method, params) => post({ method, params });
window.requestView = (method, params) => new Promise((resolve) => { const id = 'host-' + nextId++; waiting.set(id, resolve); post({ id, method, params }); });
// A sibling frame that tries to speak to the view as if it were the host.
window.forgeFromSibling = (message) => new Promise((resolve) => {
  const f = document.createElement('iframe');
  f.style.display = 'none';
  f.srcdoc = '<script>parent.frames[0].postMessage(' + JSON.stringify(message).replace(/</g, '\\\\u003c') + ', "*"); parent.forged = (parent.forged || 0) + 1;<\\/script>';
  f.onload = () => resolve();
  document.body.append(f);
});
</script></body></html>`;

// The AppBridge host: the bundle below defines window.startBridge.
const BRIDGE_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>AppBridge host</title>
<style>body{margin:16px;background:#e8e8ec} iframe{display:block;width:860px;height:120px;border:1px solid #999;background:#fff}</style></head>
<body><div id="slot"></div><script src="/bridge.js"></script></body></html>`;

const BRIDGE_ENTRY = `
import { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge';
window.startBridge = async (cfg) => {
  const frame = document.createElement('iframe');
  frame.setAttribute('sandbox', 'allow-scripts');
  frame.src = '/view.html';
  document.getElementById('slot').append(frame);
  const bridge = new AppBridge(null, { name: 'appbridge-test-host', version: '1.0.0' }, { serverTools: {}, logging: {} }, { hostContext: cfg.context });
  window.bridge = bridge;
  window.sizes = [];
  bridge.oncalltool = (params) => window.hostCallTool(params);
  bridge.onsizechange = (size) => { window.sizes.push(size); if (size.height) frame.style.height = size.height + 'px'; };
  const initialized = new Promise((resolve) => { bridge.oninitialized = resolve; });
  await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
  await initialized;
  window.appInfo = bridge.getAppVersion();
  window.appCapabilities = bridge.getAppCapabilities();
  await bridge.sendToolInput({ arguments: cfg.args });
  await bridge.sendToolResult(cfg.result);
};
window.pingView = async () => window.bridge.request({ method: 'ping' });
window.teardownView = async () => window.bridge.teardownResource({});
`;

/** Bundles the AppBridge host script with node_modules/.bin/esbuild into a temp dir; resolves its text. */
export async function bundleAppBridge() {
  const dir = await mkdtemp(path.join(tmpdir(), 'view-bridge-'));
  try {
    const out = path.join(dir, 'bridge.js');
    await new Promise((resolve, reject) => {
      // stdin resolves bare imports from the working directory: the repository's node_modules.
      const child = execFile(path.join(ROOT, 'node_modules/.bin/esbuild'),
        ['--bundle', '--format=iife', '--platform=browser', '--target=chrome120', '--log-level=warning', `--outfile=${out}`],
        { cwd: ROOT }, (err, _stdout, stderr) => (err ? reject(new Error(`esbuild failed: ${stderr || err.message}`)) : resolve()));
      child.stdin.end(BRIDGE_ENTRY);
    });
    return await readFile(out, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Serves the host pages and the view on 127.0.0.1: the view document `html`
 * (as the worker's resources/read answered it), else the file, read on every
 * request, with the CSP header built from `meta`.
 */
export async function startViewServer({ meta = VIEW_RESOURCE_META, bridgeJs = '', html = null } = {}) {
  const csp = cspFromMeta(meta);
  const server = http.createServer(async (req, res) => {
    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
      res.end(body);
    };
    if (req.url === '/host.html') return send(200, 'text/html; charset=utf-8', HOST_PAGE);
    if (req.url === '/bridge.html') return send(200, 'text/html; charset=utf-8', BRIDGE_PAGE);
    if (req.url === '/bridge.js') return send(200, 'text/javascript', bridgeJs);
    if (req.url === '/view.html') return send(200, 'text/html; charset=utf-8', html ?? await readFile(VIEW_PATH), { 'content-security-policy': csp });
    if (req.url === '/favicon.ico') return send(204, 'image/x-icon', '');
    return send(404, 'text/plain', 'not found');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, csp, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

/**
 * An image host on 127.0.0.1 for the worker to fetch attachments from.
 * `routes` maps a path to `{body, type, delayMs, location, status, ranges}`:
 * `ranges: false` ignores `Range` (200 with the whole body), `delayMs` holds
 * the answer, `location` answers 302 there. Every request is logged in
 * `requests` (method, path, headers) so tests can check what was asked, and
 * that no credentials came with it.
 */
export async function startFileHost(routes = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, path: req.url, headers: req.headers });
    const r = routes[req.url];
    if (!r) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
    const answer = () => {
      if (res.destroyed) return;
      if (r.location) {
        res.writeHead(302, { location: r.location });
        return res.end();
      }
      if (r.status) {
        res.writeHead(r.status, { 'content-type': 'text/plain' });
        return res.end('no');
      }
      const body = r.body;
      const headers = { 'content-type': r.type || 'application/octet-stream', 'accept-ranges': r.ranges === false ? 'none' : 'bytes' };
      const m = r.ranges === false ? null : /^bytes=(\d+)-(\d+)$/.exec(req.headers.range || '');
      if (!m) {
        res.writeHead(200, { ...headers, 'content-length': body.length });
        return res.end(body);
      }
      const start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}` });
        return res.end();
      }
      const end = Math.min(Number(m[2]), body.length - 1);
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1 });
      res.end(body.subarray(start, end + 1));
    };
    if (r.delayMs) setTimeout(answer, r.delayMs);
    else answer();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, requests, routes, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}
