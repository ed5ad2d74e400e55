#!/usr/bin/env node
// scale-sim: a local, stateful simulator of Scale AI's v1 REST API.
//
// What it is for: the worker (and its tests) talk to this instead of
// api.scale.com, so every Scale endpoint the MCP tools call can be exercised
// offline and deterministically: tasks, batches, projects, teams, file import,
// evaluation tasks, callbacks (with the `scale-callback-auth` header), plus a
// control API under /__sim/ for completing tasks (now or later), injecting
// faults (matched by method, path and request body), adding upstream latency,
// measuring how many requests were in flight at once, and reading a log of
// every /v1 request exactly as it arrived on the wire. It also serves a sample
// attachment image under /files/ and completes imageannotation tasks with
// labels drawn on that image. For dataset-scale jobs it serves manifests a
// test registers (streamed in chunks, generated, or redirected), refuses
// items whose attachment says `refuse-me`, fails creates with a seeded
// probability before or after the task is made, and counts tasks, unique_ids
// and create answers (GET /__sim/task-stats).
//
// Wire facts follow docs/tools.md ("Scale's wire conventions"); where Scale's
// official Python client (`scaleapi` on PyPI) disagrees, the simulator follows
// the client (see the notes marked "PY client" below). Zero npm dependencies:
// node: builtins only.
//
// Use as a CLI:    node sim/scale-sim.mjs [--port N] [--host H] [--api-key K]
//                    [--callback-auth-key K] [--auto-complete-ms N]
//                    [--latency '[METHOD ]PATTERN=MS[+JITTER]']... [--canned] [--verbose]
// --canned (for benchmarks): a GET answers the bytes it answered before as
// long as no write or control call came in between.
// or as a module:  const sim = await startSimulator({ port: 0 }); ... await sim.close();

import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';

// ---------------------------------------------------------------------------
// Constants

const TYPE_RE = /^[a-z0-9]+$/;
// Task types the simulated account has not bought: creating one answers 402.
const DISABLED_TYPES = new Set(['federal2dvideoannotation']);
// Task fields that stay at the top level of the task object; every other body
// field is a type-specific parameter and goes into `params`.
const TASK_TOP_LEVEL = new Set(['project', 'batch', 'instruction', 'callback_url', 'unique_id', 'metadata', 'tags']);
const REVIEW_STATUSES = new Set(['pending', 'accepted', 'rejected', 'fixed', 'commented']);
const INVITE_ROLES = new Set(['labeler', 'member', 'manager']);
const PIPELINES = new Set(['standard_task', 'consensus_task']);
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const CALLBACK_TIMEOUT_MS = 5000;
const INVITE_EXPIRY_MS = 7 * 24 * 3600 * 1000;
// Upper bound for latency, jitter and scheduled completions: long enough for
// any test or benchmark, short enough that a typo cannot park a request forever.
const MAX_DELAY_MS = 10 * 60 * 1000;
// A create whose attachment contains this text is refused with 400, as Scale
// refuses an item it cannot use (README "Refused items").
const REFUSE_MARK = 'refuse-me';
const MIME_BY_EXT = {
  jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp',
  bmp: 'image/bmp', tif: 'image/tiff', tiff: 'image/tiff', svg: 'image/svg+xml',
  mp4: 'video/mp4', webm: 'video/webm', ogg: 'video/ogg', mov: 'video/quicktime', avi: 'video/x-msvideo',
  mp3: 'audio/mpeg', wav: 'audio/wav', pdf: 'application/pdf', txt: 'text/plain', csv: 'text/csv',
  json: 'application/json', html: 'text/html', htm: 'text/html', zip: 'application/zip',
  pcd: 'application/octet-stream', ply: 'application/octet-stream',
};

// ---------------------------------------------------------------------------
// Small helpers

/** An error that becomes Scale's `{"status_code": N, "error": "..."}` answer. */
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
const fail = (status, message) => { throw new ApiError(status, message); };

const hexId = () => randomBytes(12).toString('hex'); // 24 hex chars, like a Mongo ObjectId
const nowIso = () => new Date().toISOString();
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStringArray = (v) => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isHttpUrl = (v) => typeof v === 'string' && /^https?:\/\//i.test(v);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** Copy of a record without internal (`_`-prefixed) and undefined fields. */
function publicView(rec) {
  const out = {};
  for (const [k, v] of Object.entries(rec)) if (!k.startsWith('_') && v !== undefined) out[k] = v;
  return clone(out);
}

/** Query booleans: `true`/`false` as the worker sends them (docs/tools.md); the PY client sends `True`/`False`. */
function parseBool(name, value) {
  const v = String(value).toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  fail(400, `Invalid value for ${name}: expected true or false`);
}

/** Integer query parameter within bounds, or the default when absent. */
function parseIntParam(name, value, { min, max, dflt }) {
  if (value === null || value === undefined) return dflt;
  if (!/^-?\d+$/.test(String(value).trim())) fail(400, `Invalid value for ${name}: expected an integer`);
  const n = Number(value);
  if (n < min || (max !== undefined && n > max)) {
    fail(400, `Invalid value for ${name}: must be ${max === undefined ? `>= ${min}` : `between ${min} and ${max}`}`);
  }
  return n;
}

/**
 * ISO 8601 date or timestamp -> epoch ms. Scale documents these bounds as UTC,
 * and the PY client suggests 'YYYY-MM-DD HH:MM:SS.mmmmmm', so a missing zone
 * means UTC and a space may stand for the 'T'.
 */
function parseTime(name, value) {
  let s = String(value).trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) s += 'T00:00:00Z';
  else {
    s = s.replace(' ', 'T');
    if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(s)) s += 'Z';
  }
  const t = Date.parse(s);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(s) || Number.isNaN(t)) fail(400, `Invalid value for ${name}: expected an ISO 8601 date`);
  return t;
}

/** Applies an inclusive [min, max] time filter on `field` when either bound is given. */
function timeFilter(query, minName, maxName, get) {
  const min = query.get(minName) !== null ? parseTime(minName, query.get(minName)) : null;
  const max = query.get(maxName) !== null ? parseTime(maxName, query.get(maxName)) : null;
  if (min === null && max === null) return () => true;
  return (rec) => {
    const v = get(rec);
    if (!v) return false;
    const t = Date.parse(v);
    return (min === null || t >= min) && (max === null || t <= max);
  };
}

function guessMime(fileUrl) {
  let pathname = fileUrl;
  try { pathname = new URL(fileUrl).pathname; } catch { /* keep raw */ }
  const m = /\.([a-z0-9]+)$/i.exec(pathname);
  return (m && MIME_BY_EXT[m[1].toLowerCase()]) || 'application/octet-stream';
}

/**
 * POSTs JSON with node:http(s) and a fresh connection (no keep-alive), so a
 * finished delivery leaves no socket behind that would keep a test process
 * alive. Resolves `{status_code, error}`; never rejects.
 */
function postJson(url, payload, headers, signal) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r) => { if (!done) { done = true; resolve(r); } };
    let req;
    try {
      const u = new URL(url);
      const data = Buffer.from(JSON.stringify(payload));
      const mod = u.protocol === 'https:' ? https : http;
      req = mod.request(u, {
        method: 'POST',
        agent: false,
        signal,
        timeout: CALLBACK_TIMEOUT_MS,
        headers: { 'content-type': 'application/json', 'content-length': data.length, connection: 'close', ...headers },
      }, (res) => {
        res.resume(); // the receiver's body does not matter, only its status
        res.on('end', () => finish({ status_code: res.statusCode, error: null }));
        res.on('error', () => finish({ status_code: res.statusCode, error: null }));
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${CALLBACK_TIMEOUT_MS} ms`)));
      req.on('error', (e) => finish({ status_code: null, error: String(e.message || e) }));
      req.end(data);
    } catch (e) {
      finish({ status_code: null, error: String(e.message || e) });
    }
  });
}

// ---------------------------------------------------------------------------
// A sample attachment image and the labels a completion draws on it
//
// Tests and `npm run dev` need an image whose labels can be seen: the
// simulator paints a small street scene (no binary file in the repository),
// serves it under /files/, and completes imageannotation tasks with a response
// whose every shape outlines something in that picture.

const SCENE_W = 640;
const SCENE_H = 480;
// Every coordinate is in pixels of the scene; the response reuses these.
const SCENE = {
  car: { left: 80, top: 300, width: 160, height: 80 },
  sign: { cx: 200, cy: 150, width: 70, height: 44, rotation: 0.35 },
  building: [[300, 80], [420, 60], [440, 250], [310, 260]],
  lane: [[0, 420], [320, 390], [640, 420]],
  headlights: [[92, 352], [228, 352]],
  tree: { cx: 575, cy: 250, rx: 45, ry: 65 },
  truck: { face: [360, 300, 440, 380], side: [480, 280, 480, 350] },
};

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An 8-bit RGB PNG of `rgb` (width * height * 3 bytes, rows top to bottom). */
export function encodePng(width, height, rgb) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) rgb.copy(raw, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3);
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, truecolour, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The corners of the sign, turned clockwise (y points down) about its centre. */
function signCorners() {
  const { cx, cy, width, height, rotation } = SCENE.sign;
  const [c, s] = [Math.cos(rotation), Math.sin(rotation)];
  return [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([sx, sy]) => {
    const [dx, dy] = [(sx * width) / 2, (sy * height) / 2];
    return [Math.round((cx + dx * c - dy * s) * 100) / 100, Math.round((cy + dx * s + dy * c) * 100) / 100];
  });
}

function insidePolygon(pts, x, y) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i];
    const [xj, yj] = pts[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function distanceToSegment(x, y, [ax, ay], [bx, by]) {
  const [dx, dy] = [bx - ax, by - ay];
  const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(x - (ax + t * dx), y - (ay + t * dy));
}

let scenePng = null;

/** The street scene as PNG bytes, painted once. */
export function sceneImage() {
  if (scenePng) return scenePng;
  const px = Buffer.alloc(SCENE_W * SCENE_H * 3);
  // Each shape is tested only inside its bounding box [left, top, right, bottom].
  const paint = (test, rgb, [l, t, r, b]) => {
    for (let y = Math.max(0, Math.floor(t)); y < Math.min(SCENE_H, Math.ceil(b)); y++) {
      for (let x = Math.max(0, Math.floor(l)); x < Math.min(SCENE_W, Math.ceil(r)); x++) {
        if (test(x + 0.5, y + 0.5)) px.set(rgb, (y * SCENE_W + x) * 3);
      }
    }
  };
  const bounds = (pts, pad = 0) => {
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    return [Math.min(...xs) - pad, Math.min(...ys) - pad, Math.max(...xs) + pad, Math.max(...ys) + pad];
  };
  const rect = (l, t, r, b) => [() => true, [l, t, r, b]];
  for (let y = 0; y < SCENE_H; y++) {
    const sky = [170 + (y >> 3), 205 + (y >> 4), 235];
    for (let x = 0; x < SCENE_W; x++) px.set(y < 240 ? sky : [105, 105, 110], (y * SCENE_W + x) * 3);
  }
  const { car, tree, truck } = SCENE;
  const polygon = (pts) => [(x, y) => insidePolygon(pts, x, y), bounds(pts)];
  const fill = ([test, box], rgb) => paint(test, rgb, box);
  const { lane } = SCENE;
  paint((x, y) => lane.slice(1).some((p, i) => distanceToSegment(x, y, lane[i], p) <= 3), [235, 235, 215], bounds(lane, 3));
  fill(polygon(SCENE.building), [176, 140, 110]);
  fill(rect(197, 170, 203, 298), [90, 90, 90]);
  fill(polygon(signCorners()), [240, 200, 40]);
  fill(rect(car.left, car.top, car.left + car.width, car.top + car.height), [200, 40, 40]);
  for (const [hx, hy] of SCENE.headlights) paint((x, y) => Math.hypot(x - hx, y - hy) <= 6, [250, 230, 120], [hx - 6, hy - 6, hx + 6, hy + 6]);
  const [fl, ft, fr, fb] = truck.face;
  const [sx, st, , sb] = truck.side;
  fill(polygon([[fr, ft], [sx, st], [sx, sb], [fr, fb]]), [40, 65, 120]);
  fill(rect(fl, ft, fr, fb), [60, 90, 160]);
  fill(rect(tree.cx - 7, tree.cy + 55, tree.cx + 7, tree.cy + 110), [110, 80, 50]);
  const { cx, cy, rx, ry } = tree;
  paint((x, y) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1, [50, 130, 60], [cx - rx, cy - ry, cx + rx, cy + ry]);
  scenePng = encodePng(SCENE_W, SCENE_H, px);
  return scenePng;
}

const SHAPE_KINDS = ['box', 'polygon', 'line', 'point', 'ellipse', 'cuboid'];
const DEFAULT_LABELS = { box: ['car', 'traffic_sign'], polygon: ['building'], line: ['lane_marking'], point: ['headlight'], ellipse: ['tree'], cuboid: ['truck'] };

/** The first labels a geometry asks for (strings or `{choice}` objects), else ours. */
function labelsFor(geometries, kind) {
  const asked = (geometries?.[kind]?.objects_to_annotate || [])
    .map((o) => (typeof o === 'string' ? o : isObject(o) ? o.choice : undefined))
    .filter((o) => typeof o === 'string' && o);
  return asked.length ? asked : DEFAULT_LABELS[kind];
}

/**
 * What a labeler would return for an imageannotation task on the scene, in
 * Scale's image response format: one annotation per geometry the task asks
 * for (every kind when it names none we know), a rotated box when boxes may
 * rotate, and image-level answers under `global_attributes`.
 */
export function imageAnnotationResponse(params) {
  const geometries = isObject(params?.geometries) ? params.geometries : {};
  const asked = SHAPE_KINDS.filter((k) => isObject(geometries[k]));
  const kinds = new Set(asked.length ? asked : SHAPE_KINDS);
  const rotate = !asked.length || geometries.box?.can_rotate === true;
  const vertex = ([x, y]) => ({ x, y });
  const uuid = () => [8, 4, 4, 4, 12].map((n) => randomBytes(n / 2).toString('hex')).join('-');
  const out = [];
  const add = (kind, i, shape) => {
    const labels = labelsFor(geometries, kind);
    out.push({ uuid: uuid(), type: kind, label: labels[Math.min(i, labels.length - 1)], attributes: {}, ...shape });
  };
  const { car, sign, tree, truck } = SCENE;
  if (kinds.has('box')) {
    add('box', 0, { ...car, attributes: { occluded: 'no' } });
    if (rotate) {
      add('box', 1, {
        left: sign.cx - sign.width / 2, top: sign.cy - sign.height / 2, width: sign.width, height: sign.height,
        rotation: sign.rotation, vertices: signCorners().map(vertex),
      });
    }
  }
  if (kinds.has('polygon')) add('polygon', 0, { vertices: SCENE.building.map(vertex) });
  if (kinds.has('line')) add('line', 0, { vertices: SCENE.lane.map(vertex) });
  if (kinds.has('point')) for (const [x, y] of SCENE.headlights) add('point', 0, { x, y });
  if (kinds.has('ellipse')) {
    const { cx, cy, rx, ry } = tree;
    add('ellipse', 0, { vertices: [[cx, cy - ry], [cx + rx, cy], [cx, cy + ry], [cx - rx, cy]].map(vertex) });
  }
  if (kinds.has('cuboid')) {
    const [l, t, r, b] = truck.face;
    const [sx, st, , sb] = truck.side;
    const corners = {
      'face-topleft': [l, t], 'face-bottomleft': [l, b], 'face-topright': [r, t], 'face-bottomright': [r, b],
      'side-topcorner': [sx, st], 'side-bottomcorner': [sx, sb],
    };
    const edge = (description, a, z) => ({ type: 'edge', description, x1: corners[a][0], y1: corners[a][1], x2: corners[z][0], y2: corners[z][1] });
    add('cuboid', 0, {
      vertices: Object.entries(corners).map(([description, [x, y]]) => ({ type: 'vertex', x, y, description })),
      edges: [
        edge('face-top', 'face-topleft', 'face-topright'), edge('face-right', 'face-topright', 'face-bottomright'),
        edge('face-bottom', 'face-bottomright', 'face-bottomleft'), edge('face-left', 'face-bottomleft', 'face-topleft'),
        edge('side-top', 'face-topright', 'side-topcorner'), edge('side-back', 'side-topcorner', 'side-bottomcorner'),
        edge('side-bottom', 'side-bottomcorner', 'face-bottomright'),
      ],
    });
  }
  return { annotations: out, global_attributes: { weather: 'sunny', time_of_day: 'day' } };
}

// The files under /files/: an image host with no credentials of its own,
// answering `Range` requests, so attachment fetching can be exercised.
const SVG_DRAWING = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30" fill="#c33"/></svg>';
const FILES = {
  'street.png': () => ({ type: 'image/png', body: sceneImage() }),
  // The same bytes as a server that does not say what it sends.
  'street.bin': () => ({ type: 'application/octet-stream', body: sceneImage() }),
  'drawing.svg': () => ({ type: 'image/svg+xml', body: Buffer.from(SVG_DRAWING) }),
};

/** `Range: bytes=a-b | a- | -n` -> [start, end] (inclusive), null for none, false when unsatisfiable. */
function byteRange(header, size) {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return false;
  let [start, end] = m[1] === '' ? [size - Number(m[2]), size - 1] : [Number(m[1]), m[2] === '' ? size - 1 : Number(m[2])];
  start = Math.max(0, start);
  end = Math.min(end, size - 1);
  return start <= end && start < size ? [start, end] : false;
}

async function serveFile(sim, req, res, rawPath, rawQuery) {
  const record = { method: req.method, path: rawPath, query: rawQuery, headers: { ...req.headers }, at: nowIso() };
  // Read when the log is read: the status once headers went out (else null),
  // and whether the whole answer was sent.
  Object.defineProperty(record, 'status', { enumerable: true, get: () => (res.headersSent ? res.statusCode : null) });
  Object.defineProperty(record, 'complete', { enumerable: true, get: () => res.writableFinished });
  sim.state.fileRequests.push(record);
  const served = sim.state.servedFiles.get(rawPath.slice('/files/'.length));
  if (served) {
    await serveRegistered(served, req, res);
    return;
  }
  const make = FILES[rawPath.slice('/files/'.length)];
  if (!make || (req.method !== 'GET' && req.method !== 'HEAD')) fail(404, `Not found: ${req.method} ${rawPath}`);
  const { type, body } = make();
  const range = byteRange(req.headers.range, body.length);
  const headers = { 'content-type': type, 'accept-ranges': 'bytes', 'cache-control': 'no-store' };
  if (range === false) {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}`, 'content-length': 0 });
    res.end();
    return;
  }
  const [start, end] = range || [0, body.length - 1];
  if (range) headers['content-range'] = `bytes ${start}-${end}/${body.length}`;
  res.writeHead(range ? 206 : 200, { ...headers, 'content-length': end - start + 1 });
  res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
}

// ---------------------------------------------------------------------------
// Served files: manifests and other documents a test registers with
// POST /__sim/files, answered under /files/<path> like a plain web server
// (no credentials), streamed in chunks so a client's streaming reader is
// exercised, or answered with a redirect.

const FILE_KEYS = new Set(['path', 'body', 'bodyBase64', 'generate', 'redirect', 'status', 'contentType', 'headers',
  'chunkSize', 'chunkDelayMs', 'delayMs', 'contentLength']);
const REDIRECT_KEYS = new Set(['path', 'redirect', 'status', 'headers', 'delayMs']);
const GENERATE_KEYS = new Set(['lines', 'template', 'format', 'refuse', 'lineEnding']);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_SERVED_BYTES = 64 * 1024 * 1024;
const MAX_GENERATED_LINES = 100000;
const FILE_PATH_RE = /^[A-Za-z0-9._~-]+(?:\/[A-Za-z0-9._~-]+)*$/;
const TYPE_BY_EXT = { jsonl: 'application/x-ndjson', ndjson: 'application/x-ndjson', csv: 'text/csv', json: 'application/json', txt: 'text/plain' };

/** One CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break. */
function csvCell(value) {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The text of a generated manifest: `lines` items made from `template`, every
 * `{i}` (keys too) replaced by the 1-based item number; a JSON object per line
 * (jsonl) or a header row of the template's keys and a row per item (csv).
 * Items listed in `refuse` get `#refuse-me` after their attachment, so Scale
 * (the simulator) refuses to create them.
 */
function generateManifest(gen, path) {
  if (!isObject(gen)) fail(400, 'generate must be an object like {"lines": 100, "template": {...}, "format": "jsonl"}');
  const unknown = Object.keys(gen).filter((k) => !GENERATE_KEYS.has(k));
  if (unknown.length) fail(400, `generate: unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${[...GENERATE_KEYS].join(', ')}`);
  const { lines, template } = gen;
  if (!Number.isInteger(lines) || lines < 0 || lines > MAX_GENERATED_LINES) fail(400, `generate.lines must be an integer from 0 to ${MAX_GENERATED_LINES}`);
  if (!isObject(template) || Object.keys(template).length === 0) fail(400, 'generate.template must be a non-empty JSON object');
  const format = gen.format ?? (/\.csv$/i.test(path) ? 'csv' : 'jsonl');
  if (format !== 'jsonl' && format !== 'csv') fail(400, 'generate.format must be "jsonl" or "csv"');
  const eol = gen.lineEnding ?? '\n';
  if (eol !== '\n' && eol !== '\r\n') fail(400, 'generate.lineEnding must be "\\n" or "\\r\\n"');
  const refuse = gen.refuse ?? [];
  if (!Array.isArray(refuse) || !refuse.every((n) => Number.isInteger(n) && n >= 1 && n <= lines)) {
    fail(400, 'generate.refuse must be an array of item numbers from 1 to lines');
  }
  if (refuse.length && typeof template.attachment !== 'string') fail(400, 'generate.refuse needs a template with a string "attachment" to mark');
  const refused = new Set(refuse);
  const keys = Object.keys(template);
  // Each row is serialised once and only the number changes: `{i}` survives
  // JSON and CSV quoting unchanged, and digits never need escaping.
  const row = format === 'jsonl' ? JSON.stringify(template) : keys.map((k) => csvCell(template[k])).join(',');
  const perLine = Buffer.byteLength(row) + 16 * (row.split('{i}').length - 1) + eol.length;
  if (perLine * lines > MAX_SERVED_BYTES) fail(400, `the generated file would exceed ${MAX_SERVED_BYTES} bytes`);
  const out = [];
  if (format === 'csv') out.push(keys.map((k) => csvCell(k)).join(','));
  for (let i = 1; i <= lines; i++) {
    const text = row.replaceAll('{i}', String(i));
    if (!refused.has(i)) { out.push(text); continue; }
    const item = JSON.parse(JSON.stringify(template).replaceAll('{i}', String(i)));
    item.attachment += `#${REFUSE_MARK}`;
    out.push(format === 'jsonl' ? JSON.stringify(item) : Object.keys(item).map((k) => csvCell(item[k])).join(','));
  }
  return { body: Buffer.from(out.length ? out.join(eol) + eol : ''), format, lines, refuse: [...refused].sort((a, b) => a - b) };
}

/** Checks a POST /__sim/files body and returns the file record to serve. */
function validateServedFile(spec) {
  if (!isObject(spec)) fail(400, 'Request body must be a JSON object like {"path": "m/1.jsonl", "body": "..."}');
  if (typeof spec.path !== 'string') fail(400, 'path must be a string such as "m/1.jsonl" (served as /files/m/1.jsonl)');
  const path = spec.path.replace(/^\/+/, '');
  if (!FILE_PATH_RE.test(path) || path.length > 512 || path.split('/').some((seg) => seg === '.' || seg === '..')) {
    fail(400, 'path must be segments of letters, digits and ._~- joined by "/", such as "m/1.jsonl"');
  }
  if (Object.hasOwn(FILES, path)) fail(400, `path "${path}" is one of the built-in files`);
  const sources = ['body', 'bodyBase64', 'generate', 'redirect'].filter((k) => spec[k] !== undefined);
  if (sources.length !== 1) fail(400, 'give exactly one of body, bodyBase64, generate or redirect');
  const allowed = spec.redirect !== undefined ? REDIRECT_KEYS : FILE_KEYS;
  const unknown = Object.keys(spec).filter((k) => !allowed.has(k));
  if (unknown.length) fail(400, `unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${[...allowed].join(', ')}`);
  if (spec.headers !== undefined && !(isObject(spec.headers) && Object.values(spec.headers).every((v) => typeof v === 'string'))) {
    fail(400, 'headers must be an object of strings');
  }
  const rec = { path, headers: spec.headers || {}, delayMs: delayField(spec, 'delayMs') };
  if (spec.redirect !== undefined) {
    const target = spec.redirect;
    let absolute = false;
    try { absolute = typeof target === 'string' && /^https?:$/.test(new URL(target).protocol); } catch { /* not absolute */ }
    if (!absolute && !(typeof target === 'string' && target.startsWith('/') && !target.startsWith('//'))) {
      fail(400, 'redirect must be an absolute http(s) URL or a path starting with "/"');
    }
    rec.status = spec.status ?? 302;
    if (!REDIRECT_STATUSES.has(rec.status)) fail(400, 'a redirect status must be 301, 302, 303, 307 or 308');
    rec.redirect = target;
    return rec;
  }
  rec.status = spec.status ?? 200;
  if (!Number.isInteger(rec.status) || rec.status < 200 || rec.status > 599 || (rec.status >= 300 && rec.status < 400)) {
    fail(400, 'status must be an HTTP status from 200 to 599 other than 3xx (use redirect)');
  }
  if (spec.body !== undefined) {
    if (typeof spec.body !== 'string') fail(400, 'body must be a string');
    rec.body = Buffer.from(spec.body);
  } else if (spec.bodyBase64 !== undefined) {
    if (typeof spec.bodyBase64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(spec.bodyBase64)) fail(400, 'bodyBase64 must be base64 text');
    rec.body = Buffer.from(spec.bodyBase64, 'base64');
  } else {
    const gen = generateManifest(spec.generate, path);
    rec.body = gen.body;
    rec.generated = { format: gen.format, lines: gen.lines, refuse: gen.refuse };
  }
  if (rec.body.length > MAX_SERVED_BYTES) fail(400, `a served file may hold at most ${MAX_SERVED_BYTES} bytes`);
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1].toLowerCase();
  const dflt = rec.generated ? (rec.generated.format === 'csv' ? 'text/csv' : 'application/x-ndjson') : TYPE_BY_EXT[ext] || MIME_BY_EXT[ext] || 'application/octet-stream';
  if (spec.contentType !== undefined && spec.contentType !== null && (typeof spec.contentType !== 'string' || !spec.contentType)) {
    fail(400, 'contentType must be a non-empty string, or null for no Content-Type header');
  }
  rec.contentType = spec.contentType === undefined ? dflt : spec.contentType;
  if (spec.chunkSize !== undefined && !(Number.isInteger(spec.chunkSize) && spec.chunkSize >= 1 && spec.chunkSize <= MAX_SERVED_BYTES)) {
    fail(400, 'chunkSize must be a positive integer number of bytes');
  }
  // By default at least 4 chunks (a small file too) of at most 64 KiB.
  rec.chunkSize = spec.chunkSize ?? Math.max(1, Math.min(64 * 1024, Math.ceil(rec.body.length / 4)));
  rec.chunkDelayMs = spec.chunkDelayMs === undefined ? 2 : delayField(spec, 'chunkDelayMs');
  if (spec.contentLength !== undefined && typeof spec.contentLength !== 'boolean') fail(400, 'contentLength must be true or false');
  rec.contentLength = spec.contentLength ?? true;
  return rec;
}

/** What the control API shows of a served file. */
function servedFileView(sim, rec) {
  const out = { path: rec.path, url: `${sim.url}/files/${rec.path}`, status: rec.status };
  if (rec.redirect !== undefined) return { ...out, redirect: rec.redirect };
  return {
    ...out,
    size: rec.body.length,
    contentType: rec.contentType,
    chunkSize: rec.chunkSize,
    chunks: Math.ceil(rec.body.length / rec.chunkSize),
    ...(rec.generated && { generated: rec.generated }),
  };
}

/** Resolves once `res` can take more data, or is gone. */
function drained(res) {
  return new Promise((resolve) => {
    const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Answers a request for a registered file: its redirect, or its bytes in chunks. */
async function serveRegistered(rec, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain', 'content-length': 18 });
    res.end('Method not allowed');
    return;
  }
  if (rec.delayMs) await sleep(rec.delayMs);
  if (res.destroyed) return;
  if (rec.redirect !== undefined) {
    res.writeHead(rec.status, { location: rec.redirect, 'content-length': 0, 'cache-control': 'no-store', ...rec.headers });
    res.end();
    return;
  }
  const body = rec.body;
  const headers = { 'cache-control': 'no-store' };
  if (rec.contentType !== null) headers['content-type'] = rec.contentType;
  if (rec.contentLength) headers['content-length'] = body.length;
  res.writeHead(rec.status, { ...headers, ...rec.headers });
  if (req.method === 'HEAD' || body.length === 0) {
    res.end();
    return;
  }
  for (let at = 0; at < body.length; at += rec.chunkSize) {
    if (res.destroyed) return;
    if (at > 0) {
      // A pause between chunks, so they reach the client as separate reads.
      if (rec.chunkDelayMs > 0) await sleep(rec.chunkDelayMs);
      else await new Promise((resolve) => setImmediate(resolve));
      if (res.destroyed) return;
    }
    if (!res.write(body.subarray(at, at + rec.chunkSize))) await drained(res);
  }
  if (!res.destroyed) res.end();
}

// ---------------------------------------------------------------------------
// State

function createState(options) {
  return {
    projects: new Map(), // name -> project record
    batches: new Map(), // name -> batch record
    tasks: new Map(), // task_id -> task record (insertion order = creation order)
    evaluationTasks: new Map(), // id -> evaluation task
    files: new Map(), // id -> file
    teammates: [], // [{email, role, ...}]
    requests: [], // request log of /v1 calls
    deliveries: [], // callback delivery log
    fileRequests: [], // requests for /files/ (the sample attachment host and served files)
    servedFiles: new Map(), // path below /files/ -> a file registered by POST /__sim/files
    uniqueIds: new Map(), // unique_id -> the task holding it (kept with the tasks)
    faults: [], // pending fault rules, matched in order
    faultSeq: 0, // fault rules added since the reset: the default seed of a probabilistic one
    // POST /v1/task/{type} requests since the reset, and how each was answered.
    creates: { count: 0, statuses: {} },
    config: {
      callbackAuthKey: options.callbackAuthKey ?? null,
      autoCompleteMs: options.autoCompleteMs ?? null,
      latency: validateLatency(options.latency ?? null),
    },
    accountId: hexId(), // used in scaledata:// attachment URLs
    seq: 0, // request log sequence
    taskSeq: 0, // creation order, tie-break for equal created_at
  };
}

function seedTeam(state) {
  state.teammates.push({ email: 'admin@example.com', role: 'admin', firstName: 'Ada', lastName: 'Admin', company: 'Example Co' });
}

// ---------------------------------------------------------------------------
// The simulator

class Simulator {
  constructor({ apiKey, callbackAuthKey, autoCompleteMs, latency }) {
    this.apiKey = apiKey;
    this.state = createState({ callbackAuthKey, autoCompleteMs, latency });
    seedTeam(this.state);
    this.timers = new Set(); // auto-complete and scheduled-completion timers, cleared on reset/close
    this.aborter = new AbortController(); // aborts in-flight callback deliveries on close
    this.closed = false;
    this.verbose = false;
    this.version = 0; // bumped by every write; canned answers are valid for one version
    // /v1 traffic since the last reset: `inFlight` is always the true current
    // count, so a reset while requests are open keeps it and starts the
    // maximum from there.
    this.stats = { requests: 0, inFlight: 0, maxInFlight: 0 };
  }

  log(...args) {
    if (this.verbose) process.stderr.write(`[scale-sim] ${args.join(' ')}\n`);
  }

  /** Cancels every pending timer (a step-by-step batch completion stops with them). */
  stopTimers() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Runs `fn` after `ms` unless the simulator is reset or closed first. */
  later(ms, fn) {
    if (this.closed) return; // a step-by-step completion still running when close() came
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref?.(); // a pending completion never keeps a test process alive
    this.timers.add(timer);
  }

  /** Counts a /v1 request as in flight until its response is sent or its socket is gone. */
  track(res) {
    const st = this.stats;
    st.requests++;
    st.inFlight++;
    if (st.inFlight > st.maxInFlight) st.maxInFlight = st.inFlight;
    res.once('close', () => { st.inFlight--; });
  }

  statsView() {
    const st = this.stats;
    return { requests: st.requests, in_flight: st.inFlight, max_in_flight: st.maxInFlight };
  }

  resetStats() {
    this.stats.requests = 0;
    this.stats.maxInFlight = this.stats.inFlight;
  }

  reset() {
    const s = this.state;
    this.stopTimers();
    this.resetStats();
    // Mutate in place so references held by callers (`sim.state.*`) stay valid.
    for (const m of [s.projects, s.batches, s.tasks, s.evaluationTasks, s.files, s.servedFiles, s.uniqueIds]) m.clear();
    for (const a of [s.teammates, s.requests, s.deliveries, s.faults, s.fileRequests]) a.length = 0;
    s.seq = 0;
    s.taskSeq = 0;
    s.faultSeq = 0;
    s.creates.count = 0;
    for (const k of Object.keys(s.creates.statuses)) delete s.creates.statuses[k];
    seedTeam(s);
  }

  // ----- objects ----------------------------------------------------------

  getTask(id) {
    return this.state.tasks.get(id) || fail(404, 'Task with that ID not found.');
  }

  getBatch(name) {
    return this.state.batches.get(name) || fail(404, `Batch "${name}" not found`);
  }

  getProject(name) {
    return this.state.projects.get(name) || fail(404, `Project "${name}" not found`);
  }

  /** The task holding `uniqueId`, from an index kept with the tasks (a create stays O(1) at 10,000 tasks). */
  findByUniqueId(uniqueId) {
    return this.state.uniqueIds.get(uniqueId) || null;
  }

  /** Gives `task` the unique_id `uniqueId` (undefined: none), keeping the index in step. */
  assignUniqueId(task, uniqueId) {
    if (task.unique_id !== undefined && this.state.uniqueIds.get(task.unique_id) === task) this.state.uniqueIds.delete(task.unique_id);
    if (uniqueId === undefined) delete task.unique_id;
    else {
      task.unique_id = uniqueId;
      this.state.uniqueIds.set(uniqueId, task);
    }
  }

  // ----- projects ---------------------------------------------------------

  createProject(body) {
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const { type, name, params, rapid, studio, pipeline, consensus_attempts: consensusAttempts, datasetId } = body;
    if (typeof type !== 'string' || !type) fail(400, 'Missing required parameter: type');
    if (!TYPE_RE.test(type)) fail(400, `Invalid task type: ${type}`);
    if (typeof name !== 'string' || !name) fail(400, 'Missing required parameter: name');
    if (params != null && !isObject(params)) fail(400, 'params must be an object');
    for (const [k, v] of [['rapid', rapid], ['studio', studio]]) if (v != null && typeof v !== 'boolean') fail(400, `${k} must be a boolean`);
    if (pipeline != null && !PIPELINES.has(pipeline)) fail(400, 'pipeline must be one of standard_task, consensus_task');
    if (consensusAttempts != null && !Number.isInteger(consensusAttempts)) fail(400, 'consensus_attempts must be an integer');
    if (this.state.projects.has(name)) fail(409, `A project with the name "${name}" already exists`);
    const created = nowIso();
    const project = {
      type,
      name,
      param_history: [{ ...(params || {}), version: 0, created_at: created }],
      created_at: created,
      rapid: rapid ?? undefined,
      studio: studio ?? undefined,
      pipeline: pipeline ?? undefined,
      consensus_attempts: consensusAttempts ?? undefined,
      datasetId: datasetId ?? undefined,
      archived: false,
    };
    this.state.projects.set(name, project);
    return project;
  }

  setProjectParams(name, body) {
    const project = this.getProject(name);
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const { patch, ...params } = body;
    if (patch != null && typeof patch !== 'boolean') fail(400, 'patch must be a boolean');
    const last = project.param_history[project.param_history.length - 1];
    const { version: lastVersion, created_at: _c, ...lastParams } = last;
    const next = patch ? { ...lastParams, ...params } : params;
    project.param_history.push({ ...next, version: lastVersion + 1, created_at: nowIso() });
    return project;
  }

  setProjectOntology(name, body) {
    const project = this.getProject(name);
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const { ontology, name: ontologyName } = body;
    if (!Array.isArray(ontology)) fail(400, 'ontology must be an array');
    if (ontologyName != null && typeof ontologyName !== 'string') fail(400, 'name must be a string');
    // Choices and sub-choices must be unique across the whole ontology.
    const seen = new Set();
    const walk = (items) => {
      for (const item of items) {
        const choice = typeof item === 'string' ? item : isObject(item) ? item.choice : undefined;
        if (typeof choice !== 'string' || !choice) fail(400, 'Each ontology entry must be a string or an object with a string "choice"');
        if (seen.has(choice)) fail(400, `Duplicate ontology choice: ${choice}`);
        seen.add(choice);
        if (isObject(item) && item.subchoices != null) {
          if (!Array.isArray(item.subchoices)) fail(400, 'subchoices must be an array');
          walk(item.subchoices);
        }
      }
    };
    walk(ontology);
    project.ontology_history ??= [];
    const entry = { name: ontologyName ?? null, ontology: clone(ontology), version: project.ontology_history.length + 1, created_at: nowIso() };
    project.ontology_history.push(entry);
    return { name: entry.name, ontology: clone(entry.ontology), version: entry.version };
  }

  // ----- batches ----------------------------------------------------------

  createBatch(body) {
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const { project: projectName, name, callback, calibration_batch: calibration, self_label_batch: selfLabel, metadata } = body;
    if (typeof projectName !== 'string' || !projectName) fail(400, 'Missing required parameter: project');
    if (typeof name !== 'string' || !name) fail(400, 'Missing required parameter: name');
    if (callback != null && typeof callback !== 'string') fail(400, 'callback must be a string');
    if (metadata != null && !isObject(metadata)) fail(400, 'metadata must be an object');
    for (const [k, v] of [['calibration_batch', calibration], ['self_label_batch', selfLabel]]) if (v != null && typeof v !== 'boolean') fail(400, `${k} must be a boolean`);
    const project = this.state.projects.get(projectName) || fail(400, `Project not found: ${projectName}`);
    if (this.state.batches.has(name)) fail(409, `A batch with the name "${name}" already exists`);
    const batch = {
      name,
      project: projectName,
      // Rapid and Studio batches wait in staging until finalized.
      status: project.rapid || project.studio ? 'staging' : 'in_progress',
      callback: callback ?? null,
      created_at: nowIso(),
      metadata: metadata || {},
      calibration_batch: calibration ?? undefined,
      self_label_batch: selfLabel ?? undefined,
      _completedAt: undefined,
    };
    this.state.batches.set(name, batch);
    return batch;
  }

  batchCounts(name) {
    const counts = { pending: 0, completed: 0, error: 0, canceled: 0 };
    for (const t of this.state.tasks.values()) if (t.batch === name) counts[t.status]++;
    return counts;
  }

  batchStatus(name) {
    const batch = this.getBatch(name);
    const out = { status: batch.status };
    // Scale omits zero counts; clients default them to 0.
    for (const [k, v] of Object.entries(this.batchCounts(name))) if (v > 0) out[k] = v;
    return out;
  }

  async finalizeBatch(name) {
    const batch = this.getBatch(name);
    if (batch.status === 'staging') batch.status = 'in_progress';
    const batchDelivery = await this.checkBatchCompletion(name);
    return { batch, batchDelivery };
  }

  prioritizeBatch(name, body) {
    const batch = this.getBatch(name);
    const priority = isObject(body) ? body.priority : undefined;
    if (!Number.isInteger(priority) || priority < 10 || priority > 30) fail(400, 'priority must be an integer between 10 and 30');
    batch.priority = priority;
    return batch;
  }

  /**
   * Marks an in_progress batch completed once all its tasks are terminal, and
   * sends the batch callback. Returns the delivery record, or null.
   */
  async checkBatchCompletion(name) {
    const batch = name != null && this.state.batches.get(name);
    if (!batch || batch.status !== 'in_progress') return null;
    const counts = this.batchCounts(name);
    const total = counts.pending + counts.completed + counts.error + counts.canceled;
    if (total === 0 || counts.pending > 0) return null;
    batch.status = 'completed';
    batch._completedAt = nowIso();
    if (!isHttpUrl(batch.callback)) return null;
    const payload = { batch: name, status: 'completed', stats: { completed: counts.completed, canceled: counts.canceled, error: counts.error } };
    return this.deliver({ kind: 'batch', batch: name, trigger: 'batch_completed' }, batch.callback, payload);
  }

  /** A task added to (or recalled in) a completed batch re-opens it. */
  reopenBatch(name) {
    const batch = name != null && this.state.batches.get(name);
    if (batch && batch.status === 'completed') {
      batch.status = 'in_progress';
      batch._completedAt = undefined;
    }
  }

  listBatches(query) {
    const limit = parseIntParam('limit', query.get('limit'), { min: 1, max: 100, dflt: 100 });
    const offset = parseIntParam('offset', query.get('offset'), { min: 0, dflt: 0 });
    if (query.get('exclude_archived') !== null) parseBool('exclude_archived', query.get('exclude_archived'));
    const project = query.get('project');
    const status = query.get('status');
    const created = timeFilter(query, 'start_time', 'end_time', (b) => b.created_at);
    const completed = timeFilter(query, 'completed_after', 'completed_before', (b) => b._completedAt);
    const all = [...this.state.batches.values()]
      .filter((b) => (project === null || b.project === project) && (status === null || b.status === status) && created(b) && completed(b))
      .reverse(); // newest first (insertion order is creation order)
    const docs = all.slice(offset, offset + limit).map((b) => publicView(b));
    return { docs, totalDocs: all.length, limit, offset, has_more: offset + docs.length < all.length };
  }

  // ----- tasks ------------------------------------------------------------

  /** Checks shared by task and evaluation-task creation; returns the resolved project/batch names. */
  resolveProjectAndBatch(body) {
    const { project, batch } = body;
    if (project != null && typeof project !== 'string') fail(400, 'project must be a string');
    if (batch != null && typeof batch !== 'string') fail(400, 'batch must be a string');
    if (project != null && !this.state.projects.has(project)) fail(400, `Project not found: ${project}`);
    let projectName = project ?? undefined;
    if (batch != null) {
      const b = this.state.batches.get(batch) || fail(400, `Batch not found: ${batch}`);
      if (projectName !== undefined && b.project !== projectName) fail(400, `Batch "${batch}" does not belong to project "${projectName}"`);
      projectName = b.project;
    }
    return { projectName, batchName: batch ?? undefined };
  }

  checkType(type) {
    if (!TYPE_RE.test(type)) fail(400, `Invalid task type: ${type}`);
    if (DISABLED_TYPES.has(type)) fail(402, `Task type ${type} is not enabled for your account. Please contact sales@scale.com.`);
  }

  createTask(type, body) {
    this.checkType(type);
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const { instruction, callback_url: callbackUrl, unique_id: uniqueId, metadata, tags } = body;
    if (instruction != null && typeof instruction !== 'string') fail(400, 'instruction must be a string');
    if (callbackUrl != null && typeof callbackUrl !== 'string') fail(400, 'callback_url must be a string');
    if (uniqueId != null && (typeof uniqueId !== 'string' || !uniqueId)) fail(400, 'unique_id must be a non-empty string');
    if (metadata != null && !isObject(metadata)) fail(400, 'metadata must be an object');
    if (tags != null && !isStringArray(tags)) fail(400, 'tags must be an array of strings');
    const { projectName, batchName } = this.resolveProjectAndBatch(body);
    if (type === 'imageannotation' && (typeof body.attachment !== 'string' || !body.attachment)) {
      fail(400, 'Missing required parameter: attachment');
    }
    // Items Scale refuses: an attachment carrying the marker (see README "Refused items").
    const attachments = [body.attachment, ...(Array.isArray(body.attachments) ? body.attachments : [])];
    if (attachments.some((a) => typeof a === 'string' && a.includes(REFUSE_MARK))) {
      fail(400, 'Invalid attachment: refused by the simulator');
    }
    if (uniqueId != null && this.findByUniqueId(uniqueId)) {
      fail(409, `The unique_id ("${uniqueId}") is already used for a different task.`);
    }
    const params = {};
    for (const [k, v] of Object.entries(body)) if (!TASK_TOP_LEVEL.has(k)) params[k] = v;
    const created = nowIso();
    const task = {
      task_id: hexId(),
      created_at: created,
      updated_at: created,
      type,
      status: 'pending',
      instruction: instruction ?? undefined,
      params,
      callback_url: callbackUrl ?? undefined,
      metadata: metadata || {},
      tags: tags ? [...new Set(tags)] : [],
      unique_id: uniqueId ?? undefined,
      project: projectName,
      batch: batchName,
      is_test: this.apiKey.startsWith('test_'),
      audits: [],
      processed_attachments: [],
      _seq: ++this.state.taskSeq,
    };
    this.state.tasks.set(task.task_id, task);
    if (uniqueId != null) this.state.uniqueIds.set(uniqueId, task);
    this.reopenBatch(batchName);
    this.scheduleAutoComplete(task.task_id);
    return task;
  }

  scheduleAutoComplete(id) {
    const ms = this.state.config.autoCompleteMs;
    if (ms == null) return;
    this.later(ms, () => { this.completeIfPending(id, {}); });
  }

  createEvaluationTask(type, body) {
    this.checkType(type);
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const { expected_response: expected, initial_response: initial } = body;
    if (!isObject(expected)) fail(400, 'Missing required parameter: expected_response (an object)');
    if (initial != null && !isObject(initial)) fail(400, 'initial_response must be an object');
    const { projectName, batchName } = this.resolveProjectAndBatch(body);
    if (projectName !== undefined && !this.state.projects.get(projectName).rapid) {
      fail(400, `Evaluation tasks can only be created in Rapid projects; "${projectName}" is not one`);
    }
    const params = {};
    for (const [k, v] of Object.entries(body)) {
      if (!['project', 'batch', 'expected_response', 'initial_response'].includes(k)) params[k] = v;
    }
    const evalTask = {
      id: hexId(),
      type,
      project: projectName,
      batch: batchName,
      expected_response: expected,
      initial_response: initial ?? undefined,
      params,
      created_at: nowIso(),
    };
    this.state.evaluationTasks.set(evalTask.id, evalTask);
    return evalTask;
  }

  listTasks(query) {
    const limit = parseIntParam('limit', query.get('limit'), { min: 1, max: 100, dflt: 100 });
    let offset = 0;
    const token = query.get('next_token');
    if (token !== null && token !== '') {
      // Opaque to clients; internally base64url("o:<offset>").
      const m = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
      if (!m || Buffer.from(`o:${m[1]}`).toString('base64url') !== token) fail(400, 'Invalid next_token');
      offset = Number(m[1]);
    }
    const limited = query.get('limited_response') !== null && parseBool('limited_response', query.get('limited_response'));
    if (query.get('include_attachment_url') !== null) parseBool('include_attachment_url', query.get('include_attachment_url'));

    const eq = (name) => { const v = query.get(name); return (t) => v === null || t[name] === v; };
    const tags = query.getAll('tags').filter((t) => t !== '');
    const uniqueIds = query.getAll('unique_id').filter((u) => u !== '');
    const review = query.get('customer_review_status');
    const reviewSet = review ? new Set(review.split(',').map((s) => s.trim()).filter(Boolean)) : null;
    const filters = [
      eq('project'), eq('batch'), eq('status'), eq('type'),
      // Several tags: a task must carry all of them.
      (t) => tags.every((tag) => t.tags.includes(tag)),
      (t) => uniqueIds.length === 0 || uniqueIds.includes(t.unique_id),
      (t) => !reviewSet || reviewSet.has(t.customer_review_status),
      timeFilter(query, 'start_time', 'end_time', (t) => t.created_at),
      timeFilter(query, 'completed_after', 'completed_before', (t) => t.completed_at),
      timeFilter(query, 'updated_after', 'updated_before', (t) => t.updated_at),
    ];
    // With unique_id filters the index gives the candidates: a client recovering
    // items after 409s does not scan (and sort) every task each time.
    const candidates = uniqueIds.length
      ? [...new Set(uniqueIds.map((u) => this.state.uniqueIds.get(u)).filter(Boolean))]
      : [...this.state.tasks.values()];
    const all = candidates
      .filter((t) => filters.every((f) => f(t)))
      // created_at descending; creation order breaks ties so paging is stable.
      .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : b._seq - a._seq));
    const page = all.slice(offset, offset + limit);
    const hasMore = offset + page.length < all.length;
    const docs = page.map((t) => {
      const v = publicView(t);
      return limited ? { task_id: v.task_id, status: v.status, metadata: v.metadata, project: v.project } : v;
    });
    const out = { docs, total: all.length, limit, offset, has_more: hasMore };
    if (hasMore) out.next_token = Buffer.from(`o:${offset + limit}`).toString('base64url');
    return out;
  }

  async cancelTask(id, clearUniqueId) {
    const task = this.getTask(id);
    if (task.status === 'completed' || task.status === 'error') {
      fail(400, `Task cannot be canceled because it is already ${task.status}. Only pending tasks can be canceled.`);
    }
    if (task.status === 'pending') {
      task.status = 'canceled';
      task.updated_at = nowIso();
    }
    if (clearUniqueId && task.unique_id !== undefined) {
      this.assignUniqueId(task, undefined);
      task.updated_at = nowIso();
    }
    await this.checkBatchCompletion(task.batch);
    return task;
  }

  setTaskMetadata(id, body) {
    const task = this.getTask(id);
    if (!isObject(body)) fail(400, 'Request body must be a JSON object of metadata');
    task.metadata = body;
    task.updated_at = nowIso();
    return task;
  }

  changeTags(id, mode, body) {
    const task = this.getTask(id);
    if (!isStringArray(body)) fail(400, 'Request body must be a JSON array of tag strings');
    if (mode === 'set') task.tags = [...new Set(body)];
    else if (mode === 'add') task.tags = [...new Set([...task.tags, ...body])];
    else task.tags = task.tags.filter((t) => !body.includes(t));
    task.updated_at = nowIso();
    return task;
  }

  setUniqueId(id, body) {
    const task = this.getTask(id);
    const uniqueId = isObject(body) ? body.unique_id : undefined;
    if (typeof uniqueId !== 'string' || !uniqueId) fail(400, 'Missing required parameter: unique_id');
    const other = this.findByUniqueId(uniqueId);
    if (other && other !== task) fail(409, `The unique_id ("${uniqueId}") is already used for a different task.`);
    this.assignUniqueId(task, uniqueId);
    task.updated_at = nowIso();
    return task;
  }

  clearUniqueId(id) {
    const task = this.getTask(id);
    this.assignUniqueId(task, undefined);
    task.updated_at = nowIso();
    return task;
  }

  // ----- callbacks ----------------------------------------------------------

  /** Sends one callback, records it in state.deliveries and returns the record. */
  async deliver(meta, url, payload) {
    const headers = {};
    if (this.state.config.callbackAuthKey != null) headers['scale-callback-auth'] = this.state.config.callbackAuthKey;
    const result = await postJson(url, payload, headers, this.aborter.signal);
    const record = { ...meta, url, status_code: result.status_code, error: result.error, at: nowIso() };
    this.state.deliveries.push(record);
    this.log('callback', url, '->', result.status_code ?? result.error);
    return record;
  }

  /** Task callback `{task, response, task_id}` to the task's callback_url, if it is http(s). */
  async sendTaskCallback(task, trigger) {
    if (!isHttpUrl(task.callback_url)) return null;
    const payload = { task: publicView(task), response: clone(task.response) ?? null, task_id: task.task_id };
    const record = await this.deliver({ kind: 'task', task_id: task.task_id, trigger }, task.callback_url, payload);
    task.callback_succeeded = record.status_code !== null && record.status_code >= 200 && record.status_code < 300;
    return record;
  }

  /** Checks the `status` and `response` of a completion request; returns them with defaults. */
  completionBody(body) {
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const status = body.status ?? 'completed';
    if (status !== 'completed' && status !== 'error') fail(400, 'status must be "completed" or "error"');
    if (body.response != null && !isObject(body.response)) fail(400, 'response must be an object');
    return { status, response: body.response ?? null };
  }

  async completeTask(id, body) {
    const task = this.getTask(id);
    const { status, response } = this.completionBody(body);
    if (task.status !== 'pending') fail(400, `Only pending tasks can be completed; this one is ${task.status}`);
    const now = nowIso();
    task.status = status;
    task.completed_at = now;
    task.updated_at = now;
    task.response = response ?? (status === 'error' ? { error: 'Simulated task error' }
      : task.type === 'imageannotation' ? imageAnnotationResponse(task.params) : { annotations: [] });
    const delivery = await this.sendTaskCallback(task, status);
    const batchDelivery = await this.checkBatchCompletion(task.batch);
    return { task: publicView(task), delivery, batch_delivery: batchDelivery };
  }

  /**
   * Completes a task from a timer: a task that is gone or no longer pending
   * by then (canceled, completed meanwhile, reset) is left alone. Never rejects.
   */
  async completeIfPending(id, body) {
    const task = this.state.tasks.get(id);
    if (!task || task.status !== 'pending') {
      this.log('scheduled completion skipped:', id, task ? `is ${task.status}` : 'is gone');
      return null;
    }
    this.version++; // invalidates canned answers
    try {
      return await this.completeTask(id, body);
    } catch (e) {
      this.log('scheduled completion failed:', id, e.message);
      return null;
    }
  }

  /**
   * `POST /__sim/tasks/{id}/complete` with `afterMs`: everything is checked
   * now and the answer comes at once; the task completes (and its callbacks
   * go out) later, so a test can watch a wait that is already running.
   */
  scheduleTaskCompletion(id, body) {
    const task = this.getTask(id);
    const { status, response } = this.completionBody(body);
    const afterMs = delayField(body, 'afterMs');
    if (task.status !== 'pending') fail(400, `Only pending tasks can be completed; this one is ${task.status}`);
    this.later(afterMs, () => { this.completeIfPending(id, { status, response }); });
    return { task: publicView(task), scheduled: { after_ms: afterMs, status } };
  }

  /**
   * Completes the pending tasks of a batch in creation order (the first
   * `count` of them when given). Without `afterMs`/`everyMs` it answers once
   * every callback went out; with them it answers at once, completes the
   * first task after `afterMs` and each next one `everyMs` after the previous
   * one's callbacks were delivered, so batch progress moves one step at a time.
   */
  async completeBatchTasks(name, body) {
    this.getBatch(name);
    const { status, response } = this.completionBody(body);
    const afterMs = delayField(body, 'afterMs');
    const everyMs = delayField(body, 'everyMs');
    const { count } = body;
    if (count !== undefined && (!Number.isInteger(count) || count < 1)) fail(400, 'count must be a positive integer');
    const ids = [...this.state.tasks.values()]
      .filter((t) => t.batch === name && t.status === 'pending')
      .slice(0, count ?? undefined)
      .map((t) => t.task_id);
    if (body.afterMs === undefined && body.everyMs === undefined) {
      for (const id of ids) await this.completeTask(id, { status, response });
      return { completed: ids, batch_status: this.batchStatus(name) };
    }
    // After a reset the ids are gone, so a step still in flight only skips.
    const step = (i) => {
      if (i >= ids.length) return;
      this.completeIfPending(ids[i], { status, response }).then(() => {
        if (i + 1 < ids.length) this.later(everyMs, () => step(i + 1));
      });
    };
    this.later(afterMs, () => step(0));
    return { scheduled: ids, after_ms: afterMs, every_ms: everyMs, status };
  }

  async recallTask(id) {
    const task = this.getTask(id);
    if (task.status !== 'completed') fail(400, `Only completed tasks can be recalled; this one is ${task.status}`);
    task.status = 'pending';
    delete task.completed_at;
    delete task.response;
    task.updated_at = nowIso();
    this.reopenBatch(task.batch);
    const delivery = await this.sendTaskCallback(task, 'recalled');
    return { task: publicView(task), delivery };
  }

  async auditTask(id, body) {
    const task = this.getTask(id);
    const review = isObject(body) ? body.customer_review_status : undefined;
    if (!REVIEW_STATUSES.has(review)) fail(400, `customer_review_status must be one of ${[...REVIEW_STATUSES].join(', ')}`);
    if (task.status !== 'completed') fail(400, `Only completed tasks can be audited; this one is ${task.status}`);
    const now = nowIso();
    task.customer_review_status = review;
    task.audits.push({ audited_by: 'admin@example.com', audited_at: now, audit_time_secs: 0, audit_result: review, audit_source: 'customer' });
    task.updated_at = now;
    const delivery = await this.sendTaskCallback(task, 'audited');
    return { task: publicView(task), delivery };
  }

  async resendCallback(id) {
    const task = this.getTask(id);
    if (task.status !== 'completed' && task.status !== 'error') {
      fail(400, `Callbacks can only be re-sent for completed or errored tasks; this one is ${task.status}`);
    }
    const delivery = await this.sendTaskCallback(task, 'resent');
    return { task_id: task.task_id, callback_url: task.callback_url ?? null, status_code: delivery ? delivery.status_code : null };
  }

  /**
   * Counts for a test that must show "exactly N tasks, none twice" without
   * listing them: one pass over the tasks (those of `batch` / `project` when
   * given), optionally counting the values of one more field (`key`, dotted).
   */
  taskStats(query) {
    const batch = query.get('batch');
    const project = query.get('project');
    const key = query.get('key');
    const keyPath = key === null ? null : key.split('.');
    if (keyPath && keyPath.some((p) => !p)) fail(400, 'key must be a dotted field path such as metadata.n or params.attachment');
    const byStatus = {};
    const uniqueIds = new Map();
    const keyValues = new Map();
    let tasks = 0;
    let withoutUniqueId = 0;
    let withoutKey = 0;
    for (const t of this.state.tasks.values()) {
      if ((batch !== null && t.batch !== batch) || (project !== null && t.project !== project)) continue;
      tasks++;
      byStatus[t.status] = (byStatus[t.status] || 0) + 1;
      if (t.unique_id === undefined) withoutUniqueId++;
      else uniqueIds.set(t.unique_id, (uniqueIds.get(t.unique_id) || 0) + 1);
      if (keyPath) {
        let v = t;
        for (const p of keyPath) v = isObject(v) || Array.isArray(v) ? v[p] : undefined;
        if (v === undefined || v === null) withoutKey++;
        else {
          const s = typeof v === 'string' ? v : JSON.stringify(v);
          keyValues.set(s, (keyValues.get(s) || 0) + 1);
        }
      }
    }
    const repeated = (counts) => {
      const out = [];
      for (const [v, n] of counts) if (n > 1 && out.push(v) >= 20) break;
      return out;
    };
    const out = {
      tasks,
      uniqueIds: uniqueIds.size,
      withoutUniqueId,
      duplicateUniqueIds: repeated(uniqueIds),
      byStatus,
      creates: this.state.creates.count,
      createStatuses: { ...this.state.creates.statuses },
    };
    if (keyPath) Object.assign(out, { key, keyValues: keyValues.size, withoutKey, duplicateKeyValues: repeated(keyValues) });
    return out;
  }

  // ----- teams and files -----------------------------------------------------

  teamBody(body) {
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const { emails, team_role: role } = body;
    if (!isStringArray(emails) || emails.length === 0 || !emails.every((e) => /^[^@\s]+@[^@\s]+$/.test(e))) {
      fail(400, 'emails must be a non-empty array of e-mail addresses');
    }
    if (!INVITE_ROLES.has(role)) fail(400, 'team_role must be one of labeler, member, manager');
    return { emails, role };
  }

  inviteTeammates(body) {
    const { emails, role } = this.teamBody(body);
    const expiry = new Date(Date.now() + INVITE_EXPIRY_MS).toISOString();
    for (const email of new Set(emails)) {
      // Someone already on the team keeps their role; set_role changes roles.
      if (!this.state.teammates.some((m) => m.email === email)) this.state.teammates.push({ email, role, expiry });
    }
    return clone(this.state.teammates);
  }

  setTeammatesRole(body) {
    const { emails, role } = this.teamBody(body);
    // Validate all first so a bad e-mail changes nobody.
    const members = emails.map((email) => {
      const m = this.state.teammates.find((x) => x.email === email) || fail(400, `${email} is not a member of your team`);
      if (m.role === 'admin') fail(400, `Cannot change the role of the team admin ${email}`);
      return m;
    });
    for (const m of members) m.role = role;
    return clone(this.state.teammates);
  }

  importFile(body) {
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const { file_url: fileUrl, project_name: projectName } = body;
    if (typeof fileUrl !== 'string' || !fileUrl) fail(400, 'Missing required parameter: file_url');
    if (!isHttpUrl(fileUrl)) fail(400, 'file_url must be an http(s) URL');
    if (projectName != null && typeof projectName !== 'string') fail(400, 'project_name must be a string');
    const id = hexId();
    const now = nowIso();
    const file = {
      id,
      attachment_url: `scaledata://${this.state.accountId}/${id}`,
      created_at: now,
      updated_at: now,
      mime_type: guessMime(fileUrl),
      size: 0,
      project_names: projectName ? [projectName] : [],
    };
    this.state.files.set(id, file);
    return file;
  }
}

// ---------------------------------------------------------------------------
// HTTP plumbing

function send(res, status, body) {
  if (res.headersSent || res.destroyed) return;
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

const sendError = (res, status, message) => send(res, status, { status_code: status, error: message });

/** Sends bytes that are already JSON. */
function sendBytes(res, status, data) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length });
  res.end(data);
}

/** Reads the whole request body as a UTF-8 string, or null when it is empty. */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) { reject(new ApiError(413, 'Request body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(size === 0 ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Parses a raw body; `dflt` stands in for an empty one (the PY client sends no body for `{}` and `[]`). */
function jsonBody(raw, dflt) {
  if (raw === null || raw.trim() === '') return dflt;
  try {
    return JSON.parse(raw);
  } catch {
    fail(400, 'Request body is not valid JSON');
  }
}

/** Splits a raw path on '/' first, then percent-decodes each segment (so %2F stays inside a name). */
function splitPath(rawPath) {
  const parts = rawPath.split('/').slice(1);
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop(); // tolerate one trailing slash
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    fail(400, 'Malformed URL: bad percent-encoding');
  }
}

/**
 * Route table for /v1. Each entry: [METHOD, pattern segments after v1,
 * handler(ctx, ...params)]. `:x` segments capture one decoded segment.
 */
const ROUTES = [
  ['POST', ['task', ':type'], (c, type) => publicView(c.sim.createTask(type, c.json({})))],
  ['GET', ['task', ':id'], (c, id) => publicView(c.sim.getTask(id))],
  ['POST', ['task', ':id', 'cancel'], async (c, id) => {
    const clear = c.query.get('clear_unique_id') !== null && parseBool('clear_unique_id', c.query.get('clear_unique_id'));
    return publicView(await c.sim.cancelTask(id, clear));
  }],
  ['POST', ['task', ':id', 'setMetadata'], (c, id) => publicView(c.sim.setTaskMetadata(id, c.json({})))],
  ['POST', ['task', ':id', 'tags'], (c, id) => publicView(c.sim.changeTags(id, 'set', c.json([])))],
  ['PUT', ['task', ':id', 'tags'], (c, id) => publicView(c.sim.changeTags(id, 'add', c.json([])))],
  ['DELETE', ['task', ':id', 'tags'], (c, id) => publicView(c.sim.changeTags(id, 'remove', c.json([])))],
  ['POST', ['task', ':id', 'unique_id'], (c, id) => publicView(c.sim.setUniqueId(id, c.json({})))],
  ['DELETE', ['task', ':id', 'unique_id'], (c, id) => publicView(c.sim.clearUniqueId(id))],
  ['POST', ['task', ':id', 'send-callback'], (c, id) => c.sim.resendCallback(id)],
  ['GET', ['tasks'], (c) => c.sim.listTasks(c.query)],
  ['POST', ['evaluation_tasks', ':type'], (c, type) => publicView(c.sim.createEvaluationTask(type, c.json({})))],

  ['POST', ['batches'], (c) => publicView(c.sim.createBatch(c.json({})))],
  ['GET', ['batches'], (c) => c.sim.listBatches(c.query)],
  ['GET', ['batches', ':name'], (c, name) => publicView(c.sim.getBatch(name))],
  ['GET', ['batches', ':name', 'status'], (c, name) => c.sim.batchStatus(name)],
  ['POST', ['batches', ':name', 'finalize'], async (c, name) => publicView((await c.sim.finalizeBatch(name)).batch)],
  ['POST', ['batches', ':name', 'prioritize'], (c, name) => publicView(c.sim.prioritizeBatch(name, c.json({})))],

  ['GET', ['projects'], (c) => {
    const a = c.query.get('archived');
    const archived = a === null ? null : parseBool('archived', a);
    return [...c.sim.state.projects.values()].filter((p) => archived === null || p.archived === archived).map((p) => publicView(p));
  }],
  ['POST', ['projects'], (c) => publicView(c.sim.createProject(c.json({})))],
  ['GET', ['projects', ':name'], (c, name) => publicView(c.sim.getProject(name))],
  ['POST', ['projects', ':name', 'setParams'], (c, name) => publicView(c.sim.setProjectParams(name, c.json({})))],
  ['POST', ['projects', ':name', 'setOntology'], (c, name) => c.sim.setProjectOntology(name, c.json({}))],

  ['GET', ['teams'], (c) => clone(c.sim.state.teammates)],
  ['POST', ['teams', 'invite'], (c) => c.sim.inviteTeammates(c.json({}))],
  ['POST', ['teams', 'set_role'], (c) => c.sim.setTeammatesRole(c.json({}))],

  ['POST', ['files', 'import'], (c) => publicView(c.sim.importFile(c.json({})))],
];

function matchRoute(routes, method, segs) {
  for (const [m, pattern, handler] of routes) {
    if (m !== method || pattern.length !== segs.length) continue;
    const params = [];
    let ok = true;
    for (let i = 0; i < pattern.length; i++) {
      if (pattern[i].startsWith(':')) params.push(segs[i]);
      else if (pattern[i] !== segs[i]) { ok = false; break; }
    }
    if (ok) return { handler, params };
  }
  return null;
}

// ---------------------------------------------------------------------------
// Request rules: which /v1 requests a fault or a latency entry applies to

const MATCH_KEYS = ['method', 'path', 'pathPrefix', 'pattern', 'bodyMatch', 'bodyContains'];
const FAULT_KEYS = new Set([...MATCH_KEYS, 'times', 'probability', 'seed', 'after', 'status', 'body', 'headers', 'retryAfter', 'delayMs', 'nonJson', 'plainOk', 'truncatedJson', 'drop']);
const LATENCY_KEYS = new Set([...MATCH_KEYS, 'ms', 'jitterMs']);

/** Raw segments below /v1 (`/v1/task/a%2Fb` -> ['task', 'a%2Fb']); one trailing slash is tolerated like the router does. */
function apiSegments(rawPath) {
  const parts = rawPath.split('/').slice(2);
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Pattern text -> segments; a leading or trailing '/' is ignored. */
const patternSegments = (pattern) => pattern.replace(/^\/+/, '').replace(/\/$/, '').split('/');

/** `*` is exactly one segment, `**` any number of segments (none too), anything else itself. */
function globMatches(pattern, segs, i = 0, j = 0) {
  if (i === pattern.length) return j === segs.length;
  if (pattern[i] === '**') {
    for (let k = j; k <= segs.length; k++) if (globMatches(pattern, segs, i + 1, k)) return true;
    return false;
  }
  if (j === segs.length || (pattern[i] !== '*' && pattern[i] !== segs[j])) return false;
  return globMatches(pattern, segs, i + 1, j + 1);
}

/** Whether `value` contains `pattern`: objects by the keys the pattern names (recursively), everything else equal. */
function jsonSubset(pattern, value) {
  if (isObject(pattern)) {
    return isObject(value) && Object.entries(pattern).every(([k, v]) => Object.hasOwn(value, k) && jsonSubset(v, value[k]));
  }
  if (Array.isArray(pattern)) {
    return Array.isArray(value) && value.length === pattern.length && pattern.every((p, i) => jsonSubset(p, value[i]));
  }
  return pattern === value;
}

/** Whether a fault or latency rule applies to a /v1 request `{method, rawPath, segs, rawBody, json, isJson}`. */
function ruleMatches(rule, r) {
  return (!rule.method || rule.method.toUpperCase() === r.method) &&
    (rule.path === undefined || rule.path === r.rawPath) &&
    (rule.pathPrefix === undefined || r.rawPath.startsWith(rule.pathPrefix)) &&
    (rule.pattern === undefined || globMatches(patternSegments(rule.pattern), r.segs)) &&
    (rule.bodyContains === undefined || (r.rawBody !== null && r.rawBody.includes(rule.bodyContains))) &&
    (rule.bodyMatch === undefined || (r.isJson && jsonSubset(rule.bodyMatch, r.json)));
}

/** Checks the matching fields of a rule; `where` prefixes messages (e.g. `latency[2]: `). */
function validateMatch(rule, allowed, where) {
  // A misspelt key would otherwise widen the rule to every request, silently.
  const unknown = Object.keys(rule).filter((k) => !allowed.has(k));
  if (unknown.length) fail(400, `${where}unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${[...allowed].join(', ')}`);
  if (rule.method !== undefined && (typeof rule.method !== 'string' || !rule.method)) fail(400, `${where}method must be a string`);
  if (rule.path !== undefined && typeof rule.path !== 'string') fail(400, `${where}path must be a string`);
  if (rule.pathPrefix !== undefined && typeof rule.pathPrefix !== 'string') fail(400, `${where}pathPrefix must be a string`);
  if (rule.pattern !== undefined) {
    if (typeof rule.pattern !== 'string' || !rule.pattern) fail(400, `${where}pattern must be a non-empty string such as "task/*"`);
    const segs = patternSegments(rule.pattern);
    if (segs[0] === 'v1') fail(400, `${where}pattern is relative to /v1: write "task/*", not "/v1/task/*"`);
    if (segs.some((x) => x.includes('*') && x !== '*' && x !== '**')) fail(400, `${where}pattern: "*" and "**" must stand for a whole path segment`);
  }
  if (rule.bodyContains !== undefined && (typeof rule.bodyContains !== 'string' || !rule.bodyContains)) fail(400, `${where}bodyContains must be a non-empty string`);
  if (Object.hasOwn(rule, 'bodyMatch') && rule.bodyMatch === undefined) fail(400, `${where}bodyMatch must be a JSON value`);
}

/** A delay in milliseconds from a control body: absent means 0. */
function delayField(body, name, where = '') {
  const v = body[name];
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_DELAY_MS) {
    fail(400, `${where}${name} must be a number of milliseconds from 0 to ${MAX_DELAY_MS}`);
  }
  return v;
}

/** Normalizes a list of latency rules (null means none). */
function validateLatency(list) {
  if (list === null) return [];
  if (!Array.isArray(list)) fail(400, 'latency must be an array of rules like {"method": "POST", "pattern": "task/*", "ms": 50}, or null');
  return list.map((rule, i) => {
    const where = `latency[${i}]: `;
    if (!isObject(rule)) fail(400, `${where}a latency rule must be a JSON object`);
    validateMatch(rule, LATENCY_KEYS, where);
    if (rule.ms === undefined) fail(400, `${where}ms is required`);
    delayField(rule, 'ms', where);
    delayField(rule, 'jitterMs', where);
    return clone(rule);
  });
}

/** The added delay for a request: the first matching rule's `ms` plus up to `jitterMs`, or 0. */
function latencyFor(rules, r) {
  const rule = rules.find((x) => ruleMatches(x, r));
  if (!rule) return 0;
  return rule.ms + (rule.jitterMs ? Math.random() * rule.jitterMs : 0);
}

/**
 * Mulberry32: a small seeded generator of floats in [0, 1). The same seed
 * gives the same sequence on every run, so a probabilistic fault fails the
 * same n-th matching requests each time.
 */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Takes the first fault rule that matches this request and fires: a rule with
 * `probability` fires on a draw from its own generator and otherwise lets the
 * next rules have their turn. Firing consumes one of its `times`, if it has any.
 */
function takeFault(state, r) {
  for (let i = 0; i < state.faults.length; i++) {
    const fault = state.faults[i];
    if (!ruleMatches(fault, r)) continue;
    fault.matched++;
    if (fault.probability !== undefined && !(fault._random() < fault.probability)) continue;
    fault.applied++;
    if (fault.times !== undefined) {
      fault.times -= 1;
      if (fault.times <= 0) state.faults.splice(i, 1);
    }
    return fault;
  }
  return null;
}

/** Applies a fault. Returns true when it answered (or dropped) the request itself. */
async function applyFault(fault, req, res) {
  if (fault.delayMs) await sleep(fault.delayMs);
  if (fault.drop) {
    req.socket.destroy();
    return true;
  }
  const answers = fault.status !== undefined || fault.body !== undefined || fault.retryAfter !== undefined ||
    fault.nonJson || fault.plainOk || fault.truncatedJson;
  if (!answers) return false; // delay only: go on with the normal answer
  const status = fault.status ?? (fault.retryAfter !== undefined ? 429 : 200);
  const headers = { ...(fault.headers || {}) };
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  const raw = (contentType, text) => {
    const h = { 'content-type': contentType, ...headers };
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-length': Buffer.byteLength(text), ...h });
    res.end(text);
  };
  if (fault.nonJson) raw('text/html', '<html><body><h1>502 Bad Gateway</h1>garbage from the simulator</body></html>');
  else if (fault.plainOk) raw('text/plain', 'OK');
  else if (fault.truncatedJson) raw('application/json', '{"task_id":"5f1e2d3c4b5a69788796a5b4","status":"pend');
  else if (typeof fault.body === 'string') raw('text/plain', fault.body);
  else if (fault.body !== undefined) raw('application/json', JSON.stringify(fault.body));
  else raw('application/json', JSON.stringify({ status_code: status, error: `Simulated fault (HTTP ${status})` }));
  return true;
}

function validateFault(f) {
  if (!isObject(f)) fail(400, 'A fault must be a JSON object');
  validateMatch(f, FAULT_KEYS, '');
  const out = clone(f);
  if (out.probability !== undefined && !(typeof out.probability === 'number' && out.probability > 0 && out.probability <= 1)) {
    fail(400, 'probability must be a number with 0 < probability <= 1');
  }
  if (out.seed !== undefined && !(Number.isInteger(out.seed) && out.seed >= 0 && out.seed <= 0xffffffff)) fail(400, 'seed must be an integer from 0 to 4294967295');
  if (out.seed !== undefined && out.probability === undefined) fail(400, 'seed needs probability');
  if (out.after !== undefined && typeof out.after !== 'boolean') fail(400, 'after must be true or false');
  // A probabilistic rule stays until cleared unless `times` limits how often it fires.
  if (out.times === undefined && out.probability === undefined) out.times = 1;
  if (out.times !== undefined && (!Number.isInteger(out.times) || out.times < 1)) fail(400, 'times must be a positive integer');
  if (out.status !== undefined && (!Number.isInteger(out.status) || out.status < 100 || out.status > 599)) fail(400, 'status must be an HTTP status code');
  if (out.delayMs !== undefined && (typeof out.delayMs !== 'number' || out.delayMs < 0)) fail(400, 'delayMs must be a non-negative number');
  if (out.retryAfter !== undefined && (typeof out.retryAfter !== 'number' || out.retryAfter < 0)) fail(400, 'retryAfter must be a non-negative number of seconds');
  if (out.headers !== undefined && !isObject(out.headers)) fail(400, 'headers must be an object');
  return out;
}

/** Basic auth with the api key as user and an empty password. */
function checkAuth(sim, header) {
  if (!header) fail(401, 'Please provide a valid API key (HTTP Basic auth, key as username, empty password).');
  const m = /^Basic\s+(\S+)$/i.exec(header);
  const decoded = m ? Buffer.from(m[1], 'base64').toString('utf8') : null;
  if (decoded !== `${sim.apiKey}:`) fail(401, 'Unauthorized: invalid API key.');
}

async function handleApi(sim, req, res, rawPath, rawQuery, rawBody) {
  const state = sim.state;
  let parsed = null;
  let isJson = false;
  try {
    if (rawBody !== null) { parsed = JSON.parse(rawBody); isJson = true; }
  } catch { /* logged as raw only */ }
  state.requests.push({
    seq: ++state.seq,
    method: req.method,
    path: rawPath,
    query: rawQuery,
    headers: { ...req.headers },
    body: rawBody,
    json: parsed,
    at: nowIso(),
  });

  const request = { method: req.method, rawPath, segs: apiSegments(rawPath), rawBody, json: parsed, isJson };
  if (request.method === 'POST' && request.segs.length === 2 && request.segs[0] === 'task') {
    // A task create: counted on arrival, its answer (or none) when the exchange ends.
    const creates = state.creates;
    creates.count++;
    res.once('close', () => {
      const key = res.writableFinished ? String(res.statusCode) : 'dropped';
      creates.statuses[key] = (creates.statuses[key] || 0) + 1;
    });
  }
  // The fault is taken on arrival, so `times` counts requests in the order
  // they came in; the latency then holds the request open like a slow upstream.
  const fault = takeFault(state, request);
  const delay = latencyFor(state.config.latency, request);
  if (delay > 0) await sleep(delay);
  if (!fault?.after) {
    if (fault && (await applyFault(fault, req, res))) return;
    const data = await answerApi(sim, req, rawPath, rawQuery, rawBody);
    sendBytes(res, 200, data);
    return;
  }
  // An `after` fault: the request reaches Scale and does its work (a create
  // creates), then the client gets the fault instead of the answer.
  let data;
  let error;
  try {
    data = await answerApi(sim, req, rawPath, rawQuery, rawBody);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    error = e;
  }
  if (await applyFault(fault, req, res)) return;
  if (error) throw error;
  sendBytes(res, 200, data);
}

/** What Scale answers to a /v1 request (auth, routing, the work itself): the JSON bytes, or an ApiError thrown. */
async function answerApi(sim, req, rawPath, rawQuery, rawBody) {
  checkAuth(sim, req.headers.authorization);
  // Canned mode (benchmarks): a read answers the bytes it answered last time
  // as long as nothing was written since, so the simulator costs almost no CPU.
  const cacheKey = sim.canned && req.method === 'GET' ? req.url : null;
  if (cacheKey) {
    const hit = sim.cannedAnswers.get(cacheKey);
    if (hit && hit.version === sim.version) return hit.data;
  } else {
    sim.version++;
  }
  const segs = splitPath(rawPath).slice(1); // drop 'v1'
  const route = matchRoute(ROUTES, req.method, segs);
  if (!route) fail(404, `Not found: ${req.method} ${rawPath}`);
  const ctx = { sim, query: new URLSearchParams(rawQuery), json: (dflt) => jsonBody(rawBody, dflt) };
  const data = Buffer.from(JSON.stringify(await route.handler(ctx, ...route.params)));
  if (cacheKey) sim.cannedAnswers.set(cacheKey, { version: sim.version, data });
  return data;
}

/** Control API: no auth, never under /v1. */
const CONTROL_ROUTES = [
  ['GET', ['health'], () => ({ ok: true })],
  ['GET', ['requests'], (c) => clone(c.sim.state.requests)],
  ['DELETE', ['requests'], (c) => { c.sim.state.requests.length = 0; return { ok: true }; }],
  ['GET', ['files', 'requests'], (c) => clone(c.sim.state.fileRequests)],
  ['DELETE', ['files', 'requests'], (c) => { c.sim.state.fileRequests.length = 0; return { ok: true }; }],
  ['GET', ['file-requests'], (c) => clone(c.sim.state.fileRequests)],
  ['DELETE', ['file-requests'], (c) => { c.sim.state.fileRequests.length = 0; return { ok: true }; }],
  ['POST', ['files'], (c) => {
    const rec = validateServedFile(c.json(undefined));
    c.sim.state.servedFiles.set(rec.path, rec);
    return servedFileView(c.sim, rec);
  }],
  ['GET', ['files'], (c) => [...c.sim.state.servedFiles.values()].map((rec) => servedFileView(c.sim, rec))],
  ['DELETE', ['files'], (c) => { c.sim.state.servedFiles.clear(); return { ok: true }; }],
  ['GET', ['task-stats'], (c) => c.sim.taskStats(c.query)],
  ['GET', ['deliveries'], (c) => clone(c.sim.state.deliveries)],
  ['DELETE', ['deliveries'], (c) => { c.sim.state.deliveries.length = 0; return { ok: true }; }],
  ['GET', ['faults'], (c) => c.sim.state.faults.map(publicView)],
  ['DELETE', ['faults'], (c) => { c.sim.state.faults.length = 0; return { ok: true }; }],
  ['POST', ['faults'], (c) => {
    const body = c.json(undefined);
    const list = (Array.isArray(body) ? body : [body]).map(validateFault);
    const state = c.sim.state;
    for (const f of list) {
      state.faultSeq++;
      f.matched = 0;
      f.applied = 0;
      if (f.probability !== undefined) {
        f.seed ??= state.faultSeq; // the rule's number since the reset: repeatable, and not shared by two rules
        Object.defineProperty(f, '_random', { value: seededRandom(f.seed), enumerable: false });
      }
    }
    state.faults.push(...list);
    return state.faults.map(publicView);
  }],
  ['POST', ['reset'], (c) => { c.sim.reset(); return { ok: true }; }],
  ['GET', ['stats'], (c) => c.sim.statsView()],
  ['DELETE', ['stats'], (c) => { c.sim.resetStats(); return c.sim.statsView(); }],
  ['GET', ['config'], (c) => clone(c.sim.state.config)],
  ['POST', ['config'], (c) => {
    const body = c.json({});
    if (!isObject(body)) fail(400, 'Request body must be a JSON object');
    const unknown = Object.keys(body).filter((k) => !['callbackAuthKey', 'autoCompleteMs', 'latency'].includes(k));
    if (unknown.length) fail(400, `unknown config field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: callbackAuthKey, autoCompleteMs, latency`);
    if ('callbackAuthKey' in body && body.callbackAuthKey !== null && typeof body.callbackAuthKey !== 'string') fail(400, 'callbackAuthKey must be a string or null');
    if ('autoCompleteMs' in body && body.autoCompleteMs !== null && !(typeof body.autoCompleteMs === 'number' && body.autoCompleteMs >= 0)) fail(400, 'autoCompleteMs must be a non-negative number or null');
    // Everything is checked before anything changes: a refused update leaves the config as it was.
    const latency = 'latency' in body ? validateLatency(body.latency) : undefined;
    const cfg = c.sim.state.config;
    if ('callbackAuthKey' in body) cfg.callbackAuthKey = body.callbackAuthKey;
    if ('autoCompleteMs' in body) cfg.autoCompleteMs = body.autoCompleteMs;
    if (latency !== undefined) cfg.latency = latency;
    return clone(cfg);
  }],
  ['POST', ['seed'], (c) => seed(c.sim, c.json({}))],
  ['POST', ['tasks', ':id', 'complete'], (c, id) => {
    const body = c.json({});
    return isObject(body) && body.afterMs !== undefined ? c.sim.scheduleTaskCompletion(id, body) : c.sim.completeTask(id, body);
  }],
  ['POST', ['batches', ':name', 'complete'], (c, name) => c.sim.completeBatchTasks(name, c.json({}))],
  ['POST', ['tasks', ':id', 'recall'], (c, id) => c.sim.recallTask(id)],
  ['POST', ['tasks', ':id', 'audit'], (c, id) => c.sim.auditTask(id, c.json({}))],
];

/** Creates projects, then batches, then tasks through the same code paths as the API. */
function seed(sim, body) {
  if (!isObject(body)) fail(400, 'Request body must be a JSON object');
  const out = { projects: [], batches: [], tasks: [] };
  for (const key of ['projects', 'batches', 'tasks']) {
    if (body[key] != null && !Array.isArray(body[key])) fail(400, `${key} must be an array`);
  }
  for (const p of body.projects || []) {
    const project = sim.createProject(p);
    // The API cannot archive a project; seeding can, to test `archived` filtering.
    if (p.archived === true) project.archived = true;
    out.projects.push(publicView(project));
  }
  for (const b of body.batches || []) out.batches.push(publicView(sim.createBatch(b)));
  for (const t of body.tasks || []) {
    if (!isObject(t) || typeof t.type !== 'string') fail(400, 'Each seeded task needs a string "type"');
    const { type, ...rest } = t;
    out.tasks.push(publicView(sim.createTask(type, rest)));
  }
  return out;
}

async function handleControl(sim, req, res, rawPath, rawQuery, rawBody) {
  const segs = splitPath(rawPath).slice(1); // drop '__sim'
  const route = matchRoute(CONTROL_ROUTES, req.method, segs);
  if (!route) fail(404, `Not found: ${req.method} ${rawPath}`);
  const ctx = { sim, query: new URLSearchParams(rawQuery), json: (dflt) => jsonBody(rawBody, dflt) };
  send(res, 200, await route.handler(ctx, ...route.params));
}

async function handleRequest(sim, req, res) {
  try {
    const url = req.url || '/';
    const qi = url.indexOf('?');
    let rawPath = qi < 0 ? url : url.slice(0, qi);
    const rawQuery = qi < 0 ? '' : url.slice(qi + 1);
    if (!rawPath.startsWith('/')) {
      // Absolute-form request target (as sent to proxies): keep only the path.
      try { rawPath = new URL(rawPath).pathname; } catch { rawPath = `/${rawPath}`; }
    }
    const isApi = rawPath === '/v1' || rawPath.startsWith('/v1/');
    if (isApi) sim.track(res); // in flight from its headers on, body upload included
    const rawBody = await readBody(req);
    sim.log(req.method, url);
    if (isApi) await handleApi(sim, req, res, rawPath, rawQuery, rawBody);
    else if (rawPath.startsWith('/files/')) await serveFile(sim, req, res, rawPath, rawQuery);
    else if (rawPath.startsWith('/__sim/')) {
      if (req.method !== 'GET') sim.version++;
      await handleControl(sim, req, res, rawPath, rawQuery, rawBody);
    }
    else fail(404, `Not found: ${req.method} ${rawPath}`);
  } catch (err) {
    if (err instanceof ApiError) sendError(res, err.status, err.message);
    else {
      process.stderr.write(`[scale-sim] internal error: ${err && err.stack ? err.stack : err}\n`);
      sendError(res, 500, `Internal simulator error: ${err && err.message ? err.message : err}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Entry points

/**
 * Starts the simulator. Resolves `{url, base, port, close, state}`; `state`
 * is the live state (Maps of projects/batches/tasks, arrays of requests,
 * deliveries, faults, and `config`).
 */
export async function startSimulator({
  port = 0, host = '127.0.0.1', apiKey = 'test_sim_key', callbackAuthKey = null, autoCompleteMs = null, latency = null,
  verbose = false, canned = false,
} = {}) {
  const sim = new Simulator({ apiKey, callbackAuthKey, autoCompleteMs, latency });
  sim.verbose = verbose;
  sim.canned = canned;
  sim.cannedAnswers = new Map();
  const server = http.createServer((req, res) => { handleRequest(sim, req, res); });
  server.on('clientError', (err, socket) => {
    // Unparseable HTTP: answer 400 if the socket is still usable, never crash.
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const actualPort = server.address().port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  const url = `http://${hostForUrl}:${actualPort}`;
  sim.url = url;
  let closed = null;
  const close = () => {
    closed ??= new Promise((resolve) => {
      sim.closed = true;
      sim.stopTimers();
      sim.aborter.abort();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
  return { url, base: `${url}/v1`, image: `${url}/files/street.png`, port: actualPort, close, state: sim.state, stats: () => sim.statsView() };
}

const USAGE = `usage: node sim/scale-sim.mjs [--port N] [--host 127.0.0.1] [--api-key KEY]
                              [--callback-auth-key K] [--auto-complete-ms N]
                              [--latency '[METHOD ]PATTERN=MS[+JITTER]']... [--canned] [--verbose]
  --latency 'POST task/*=50'   every matching /v1 request answers 50 ms later (repeatable; first match wins)`;

/** `--latency '[METHOD ]PATTERN=MS[+JITTER]'` -> a latency rule (checked with the others later). */
function parseLatencyFlag(text) {
  const m = /^\s*(?:([A-Za-z]+)\s+)?(\S+)=(\d+(?:\.\d+)?)(?:\+(\d+(?:\.\d+)?))?\s*$/.exec(text);
  if (!m) throw new Error(`--latency needs [METHOD ]PATTERN=MS[+JITTER], e.g. 'POST task/*=50', not ${JSON.stringify(text)}`);
  const rule = { pattern: m[2], ms: Number(m[3]) };
  if (m[1]) rule.method = m[1].toUpperCase();
  if (m[4]) rule.jitterMs = Number(m[4]);
  return rule;
}

function parseArgs(argv) {
  const opts = {};
  const numeric = (name, v) => {
    if (!/^\d+$/.test(v ?? '')) throw new Error(`${name} needs a non-negative integer`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--port': opts.port = numeric(flag, value()); break;
      case '--host': opts.host = value(); break;
      case '--api-key': opts.apiKey = value(); break;
      case '--callback-auth-key': opts.callbackAuthKey = value(); break;
      case '--auto-complete-ms': opts.autoCompleteMs = numeric(flag, value()); break;
      case '--latency': (opts.latency ??= []).push(parseLatencyFlag(value())); break;
      case '--verbose': opts.verbose = true; break;
      case '--canned': opts.canned = true; break;
      case '-h': case '--help': process.stderr.write(`${USAGE}\n`); process.exit(0); break;
      default: throw new Error(`unknown argument: ${arg}`);
    }
  }
  if (opts.latency) validateLatency(opts.latency); // a bad pattern is a usage error, not a crash
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`scale-sim: ${e.message}\n${USAGE}\n`);
    process.exit(2);
  }
  const sim = await startSimulator(opts);
  // Exactly one line on stdout; everything else goes to stderr.
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: sim.url, base: sim.base })}\n`);
  const stop = () => { sim.close().then(() => process.exit(0)); setTimeout(() => process.exit(0), 2000).unref(); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => { process.stderr.write(`scale-sim: ${e.stack || e}\n`); process.exit(1); });
}
