// Page tests of the annotation view (src/view/annotations.html), the MCP App
// that draws a Scale task's annotations over its image, in real Chromium:
// embedded by a mock host (tests/e2e/view-host.mjs) in a sandboxed iframe
// under the CSP the MCP Apps specification builds from the view's
// `_meta.ui.csp`, and once by the official AppBridge host. The view document
// and its `_meta` are what the built worker's resources/read answers, and the
// view's calls of the app-only attachment tool go to the worker through an MCP
// client, as a host forwards them. The task data is the Scale simulator's: an
// imageannotation task on its sample street scene, completed with every shape
// kind, its attachment served by the simulator; larger and broken images come
// from a file host of the test's (view-host.mjs's startFileHost).
//
// The attachment tool itself (docs/annotation-view.md, "The attachment tool")
// is tested here too, on the worker: its chunks against the contract's
// reference (`attachmentTool`), no credentials on the image requests, and each
// refusal (an SVG, an imported file, too large, slow, a redirect to a
// disallowed address, this worker's own address, a project outside the
// connection's scope). Another principal's task: oauth.test.mjs.
//
// Checks: the handshake (ui/initialize, initialized, tool-input, tool-result),
// the pixels at known box, rotated box, polygon, line, point, ellipse and
// cuboid edges in their label's colour, a label toggled off with the keyboard,
// the image joined from many chunks, light and dark themes, size-changed,
// ping and resource-teardown answers, hostile labels staying text, messages
// from other frames ignored, a plain message and the data as a table for every
// failure, and no console error or CSP violation anywhere. It also takes the
// view's screenshot: into tests/e2e/screenshots/, or, with UPDATE_SCREENSHOTS=1,
// over README's docs/annotation-view.png (so a plain run changes no tracked file).
//
// Run: node --test tests/e2e/view.test.mjs   (needs `bash scripts/setup.sh --test` once)

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { encodePng } from '../../sim/scale-sim.mjs';
import { openBrowser } from './browser.mjs';
import { basicAuth, connect, textOf } from './client.mjs';
import { rpc, startStack } from './harness.mjs';
import { CHUNK_BYTES, VIEW_RESOURCE_META, attachmentTool, bundleAppBridge, getTaskResult, startFileHost, startViewServer } from './view-host.mjs';

const README_SHOT = fileURLToPath(new URL(process.env.UPDATE_SCREENSHOTS === '1' ? '../../docs/annotation-view.png' : './screenshots/annotation-view.png', import.meta.url));
const VIEW_URI = 'ui://scale-mcp/task-annotations';
const LIGHT = { theme: 'light', displayMode: 'inline', containerDimensions: { width: 862, maxHeight: 1400 } };
const HOSTILE = ['<img src=x onerror="window.__pwned=1">', '<script>window.__pwned=2</script>'];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// A photo-like image: noise does not compress, so it takes several chunks.
const [LARGE_W, LARGE_H] = [1200, 900];
const LARGE = encodePng(LARGE_W, LARGE_H, randomBytes(LARGE_W * LARGE_H * 3));
const HUGE = Buffer.concat([PNG_SIGNATURE, Buffer.alloc(9 * 1024 * 1024)]);

let stack;
let sim;
let mcp;
let files;
let server;
let bridgeJs;
let AUTH;
const tasks = new Map(); // task_id -> task as GET /v1/task answers it

async function scale(method, path, body) {
  const res = await fetch(`${sim.base}${path}`, { method, headers: AUTH, body: body && JSON.stringify(body) });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

/** Creates an imageannotation task on the simulator's scene, completes it unless `pending`, and resolves the task. */
async function makeTask({ attachment = sim.image, response, pending = false, extra = {} } = {}) {
  const t = await scale('POST', '/task/imageannotation', { project: 'street', attachment, geometries: {}, ...extra });
  if (!pending) {
    const res = await fetch(`${sim.url}/__sim/tasks/${t.task_id}/complete`, { method: 'POST', body: JSON.stringify(response ? { response } : {}) });
    assert.equal(res.status, 200);
  }
  const task = await scale('GET', `/task/${t.task_id}`);
  tasks.set(task.task_id, task);
  return task;
}

/**
 * get_task_attachment as a host answers the view's `tools/call`: forwarded to
 * the built worker by an MCP client. Records every call in `calls` and every
 * result in `results`.
 */
function workerTool(client = mcp) {
  const calls = [];
  const results = [];
  const tool = async (params) => {
    calls.push(params);
    const r = await client.client.callTool({ name: params.name, arguments: params.arguments });
    results.push(r);
    return r;
  };
  tool.calls = calls;
  tool.results = results;
  return tool;
}

/** The offsets of the chunks of an attachment of `size` bytes. */
const offsets = (size) => Array.from({ length: Math.ceil(size / CHUNK_BYTES) }, (_, i) => i * CHUNK_BYTES);

before(async () => {
  stack = await startStack();
  sim = stack.sim;
  AUTH = { authorization: basicAuth(stack.secrets.SCALE_API_KEY), 'content-type': 'application/json' };
  mcp = await connect(stack, { name: 'annotation-view-host' });
  files = await startFileHost({
    '/large.png': { body: LARGE, type: 'image/png' },
    '/broken.png': { body: Buffer.concat([PNG_SIGNATURE, Buffer.from('not an image at all')]), type: 'image/png' },
    '/huge.png': { body: HUGE },
    '/huge-whole.png': { body: HUGE, ranges: false },
    '/slow.png': { body: LARGE, delayMs: 9500 },
    '/hop.png': { location: 'https://10.0.0.1/x.png' },
    '/hop-local.png': { location: 'http://169.254.169.254/latest/meta-data' },
    '/gone.png': { status: 410 },
  });
  await scale('POST', '/projects', { type: 'imageannotation', name: 'street' });
  bridgeJs = await bundleAppBridge();
  // The view as the worker serves it: the document and the _meta its CSP is built from.
  const { contents } = await mcp.readResource(VIEW_URI);
  assert.equal(contents.length, 1);
  assert.equal(contents[0].mimeType, 'text/html;profile=mcp-app');
  assert.deepEqual(contents[0]._meta, VIEW_RESOURCE_META);
  server = await startViewServer({ bridgeJs, html: contents[0].text, meta: contents[0]._meta });
});
after(async () => {
  await server?.close();
  await files?.close();
  await mcp?.close();
  await stack?.close();
});

/** Opens the mock host with `context`, answers get_task_attachment with `tool`, and waits for the handshake. */
async function openHost(b, { context = LIGHT, tool }) {
  const { page } = b;
  await page.exposeFunction('hostCallTool', tool);
  await page.goto(`${server.url}/host.html`);
  await page.evaluate((c) => window.startHost({ context: c }), context);
  const frame = page.frames().find((f) => f.url().endsWith('/view.html'));
  assert.ok(frame, 'the view frame');
  return { page, frame };
}

/** Sends the host's tool-input and tool-result notifications for get_task on `task`. */
async function showTask(page, task, result = getTaskResult(task), args = { task_id: task.task_id }) {
  await page.evaluate(([a, r]) => {
    window.notifyView('ui/notifications/tool-input', { arguments: a });
    window.notifyView('ui/notifications/tool-result', r);
  }, [args, result]);
}

const message = (frame) => frame.locator('#m').textContent();
const drawn = (frame) => frame.waitForFunction(() => !document.getElementById('f').hidden && document.getElementById('m').textContent === '', null, { timeout: 15000 });
const pixel = (frame, x, y) => frame.evaluate(([px, py]) => [...document.getElementById('c').getContext('2d').getImageData(px, py, 1, 1).data.slice(0, 3)], [x, y]);
const rgb = (css) => css.match(/\d+/g).slice(0, 3).map(Number);
const near = (a, b, tol = 12) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

/** Each legend label with its colour as [r, g, b]. */
async function legend(frame) {
  return frame.$$eval('#l button', (bs) => bs.map((b) => ({
    label: b.children[1].textContent,
    color: getComputedStyle(b.querySelector('.sw')).backgroundColor,
    pressed: b.getAttribute('aria-pressed'),
  })));
}

describe('the annotation view in a mock host', () => {
  test('handshake, every shape kind in its label colour over the image, keyboard toggles, size-changed, ping and teardown', async () => {
    const task = await makeTask();
    const tool = workerTool();
    const b = await openBrowser();
    try {
      const { page, frame } = await openHost(b, { tool });
      const log = () => page.evaluate(() => window.hostLog);
      const first = (await log())[0];
      assert.equal(first.method, 'ui/initialize');
      assert.equal(first.params.protocolVersion, '2026-01-26');
      assert.equal(first.params.appInfo.name, 'scale-task-annotations');
      assert.ok(first.params.appCapabilities && typeof first.params.appCapabilities === 'object');
      assert.equal((await log())[1].method, 'ui/notifications/initialized');
      assert.equal(await message(frame), 'Waiting for the task…', 'never a blank frame');

      await showTask(page, task);
      await drawn(frame);
      const png = await (await fetch(sim.image)).arrayBuffer();
      assert.deepEqual(tool.calls.map((c) => [c.name, c.arguments.task_id, c.arguments.offset]), offsets(png.byteLength).map((o) => ['get_task_attachment', task.task_id, o]), 'the image from every chunk in order');
      assert.ok(tool.results.every((r) => !r.isError), JSON.stringify(tool.results.map(textOf)));
      assert.deepEqual(await frame.evaluate(() => [document.getElementById('c').width, document.getElementById('c').height]), [640, 480]);

      const header = await frame.locator('#h').textContent();
      for (const s of [task.task_id, 'street', 'imageannotation', 'completed']) assert.ok(header.includes(s), `${s} in ${header}`);
      assert.equal(await frame.locator('#a').textContent(), 'weathersunnytime_of_dayday');
      const colours = Object.fromEntries((await legend(frame)).map((l) => [l.label, rgb(l.color)]));
      assert.deepEqual(Object.keys(colours), ['car', 'traffic_sign', 'building', 'lane_marking', 'headlight', 'tree', 'truck']);
      assert.equal(new Set(Object.values(colours).map(String)).size, 7, 'one colour per label');

      // Known edges, from the simulator's scene: each pixel is the stroke of its label.
      const rot = task.response.annotations.find((a) => a.rotation !== undefined).vertices;
      const probes = [
        ['car', 80, 340], ['car', 160, 300], ['car', 240, 330], // box: left, top, right edges
        ['building', 305, 170], ['building', 430, 155], // polygon edges (300,80)-(310,260) and (420,60)-(440,250)
        ['traffic_sign', Math.round((rot[0].x + rot[1].x) / 2), Math.round((rot[0].y + rot[1].y) / 2)],
        ['lane_marking', 160, 405], ['headlight', 92, 352], ['tree', 620, 250], ['tree', 575, 185],
        ['truck', 400, 300], ['truck', 480, 315],
      ];
      for (const [label, x, y] of probes) {
        const got = await pixel(frame, x, y);
        assert.ok(near(got, colours[label]), `${label} at (${x}, ${y}): ${got} is not ${colours[label]}`);
      }
      // The README's picture, before any control has the focus.
      const before = Date.now();
      await page.locator('#view').screenshot({ path: README_SHOT });
      assert.ok((await stat(README_SHOT)).mtimeMs >= before - 1000, 'the README screenshot is this run\'s');
      await b.screenshot(page, 'annotation-view');
      const inside = await pixel(frame, 160, 340);
      assert.ok(near(inside, [200, 40, 40], 70) && !near(inside, colours.car), `inside the car the image shows through its tint: ${inside}`);

      // Every control is reached with Tab from the host page; Space and Enter toggle a label.
      await page.locator('h1').click();
      const reached = [];
      for (let i = 0; i < 14; i++) {
        await page.keyboard.press('Tab');
        reached.push(await frame.evaluate(() => document.activeElement?.textContent || document.activeElement?.tagName));
      }
      for (const label of Object.keys(colours)) assert.ok(reached.some((r) => r.startsWith(label)), `${label} reached by Tab: ${reached}`);
      assert.ok(reached.includes('Data as a table'), 'the data table is reached by Tab');
      await frame.locator('#l button').first().focus();
      await page.keyboard.press('Space');
      assert.equal((await legend(frame))[0].pressed, 'false');
      for (const [x, y] of [[80, 340], [160, 300]]) assert.ok(!near(await pixel(frame, x, y), colours.car), 'the car is gone');
      assert.ok(near(await pixel(frame, 305, 170), colours.building), 'the others stay');
      await page.keyboard.press('Enter');
      assert.equal((await legend(frame))[0].pressed, 'true');
      assert.ok(near(await pixel(frame, 80, 340), colours.car), 'the car is back');

      // The view told the host its size, and the host's frame follows it.
      const sizes = (await log()).filter((m) => m.method === 'ui/notifications/size-changed').map((m) => m.params);
      assert.ok(sizes.length >= 1);
      const last = sizes.at(-1);
      assert.ok(last.height > 480 && last.width > 600, JSON.stringify(last));
      assert.equal(await page.evaluate(() => document.getElementById('view').getBoundingClientRect().height), last.height + 2);


      assert.deepEqual(await page.evaluate(() => window.requestView('ping', {})), { jsonrpc: '2.0', id: 'host-1', result: {} });
      assert.deepEqual(await page.evaluate(() => window.requestView('ui/resource-teardown', {})), { jsonrpc: '2.0', id: 'host-2', result: {} });
      const unknown = await page.evaluate(() => window.requestView('ui/no-such-method', {}));
      assert.equal(unknown.error.code, -32601);
      b.assertClean();

      // The CSP is in force in the sandboxed (opaque-origin) frame: an outside image is refused and reported.
      assert.equal(await frame.evaluate(() => window.origin), 'null');
      await frame.evaluate(() => { new Image().src = 'https://images.example/x.png'; });
      await b.waitFor(() => b.cspViolations.length > 0);
      assert.deepEqual(b.cspViolations.map((v) => [v.effectiveDirective, v.blockedURI]), [['img-src', 'https://images.example/x.png']]);
    } finally {
      await b.close();
    }
  });

  test('light and dark themes from hostContext, host style variables and host-context-changed', async () => {
    const task = await makeTask();
    const b = await openBrowser();
    try {
      const { page, frame } = await openHost(b, { context: { ...LIGHT, theme: 'dark' }, tool: workerTool() });
      const look = () => frame.evaluate(() => ({ theme: document.documentElement.dataset.theme, bg: getComputedStyle(document.body).backgroundColor, fg: getComputedStyle(document.body).color }));
      const luma = (css) => rgb(css).reduce((s, v) => s + v, 0) / 765;
      let l = await look();
      assert.equal(l.theme, 'dark');
      assert.ok(luma(l.bg) < 0.25 && luma(l.fg) > 0.75, JSON.stringify(l));
      await showTask(page, task);
      await drawn(frame);
      await b.screenshot(page, 'annotation-view-dark');
      await page.evaluate(() => window.notifyView('ui/notifications/host-context-changed', { theme: 'light' }));
      await frame.waitForFunction(() => document.documentElement.dataset.theme === 'light');
      l = await look();
      assert.ok(luma(l.bg) > 0.9 && luma(l.fg) < 0.25, JSON.stringify(l));
      // A host's own colours win over the view's, and follow its theme.
      await page.evaluate(() => window.notifyView('ui/notifications/host-context-changed', { theme: 'dark', styles: { variables: { '--color-background-primary': 'light-dark(#fefefe, #102030)' } } }));
      await frame.waitForFunction(() => getComputedStyle(document.body).backgroundColor === 'rgb(16, 32, 48)');
      b.assertClean();
    } finally {
      await b.close();
    }
  });

  test('hostile labels and answers stay text; messages from other frames are ignored', async () => {
    const base = await makeTask();
    const response = structuredClone(base.response);
    response.annotations[0].label = HOSTILE[0];
    response.annotations[2].label = HOSTILE[1];
    response.global_attributes = { [HOSTILE[1]]: HOSTILE[0] };
    const task = await makeTask({ response });
    const b = await openBrowser();
    try {
      const { page, frame } = await openHost(b, { tool: workerTool() });
      await showTask(page, task);
      await drawn(frame);
      const labels = (await legend(frame)).map((l) => l.label);
      assert.ok(labels.includes(HOSTILE[0]) && labels.includes(HOSTILE[1]), JSON.stringify(labels));
      assert.equal(await frame.locator('#a dt').textContent(), HOSTILE[1]);
      assert.equal(await frame.locator('#a dd').textContent(), HOSTILE[0]);
      const dom = await frame.evaluate(() => ({ imgs: document.querySelectorAll('img').length, scripts: document.scripts.length, pwned: window.__pwned ?? null }));
      assert.deepEqual(dom, { imgs: 0, scripts: 1, pwned: null });

      // A sibling frame posing as the host, and a forged result: neither changes the view.
      const forged = { jsonrpc: '2.0', method: 'ui/notifications/tool-result', params: getTaskResult({ ...task, task_id: 'forged-task', status: 'pending' }) };
      await page.evaluate((m) => window.forgeFromSibling(m), forged);
      assert.equal(await page.evaluate(() => window.forged), 1, 'the sibling frame did post');
      await frame.evaluate((m) => window.postMessage(m, '*'), forged);
      await page.waitForTimeout(300);
      const header = await frame.locator('#h').textContent();
      assert.ok(header.includes(task.task_id) && !header.includes('forged-task'), header);
      assert.equal(await message(frame), '');
      b.assertClean();
    } finally {
      await b.close();
    }
  });

  test('every failure gets a plain message and the data as a table, never a blank frame', async () => {
    const pending = await makeTask({ pending: true });
    const done = await makeTask();
    const imported = await makeTask({ attachment: 'scaledata://0123456789abcdef/0123456789abcdef' });
    const video = await makeTask({ extra: { attachment_type: 'video' } });
    // PNG's first bytes, so the worker passes it on, and nothing after them a browser can decode.
    const broken = await makeTask({ attachment: `${files.url}/broken.png` });
    const tool = workerTool();
    const b = await openBrowser();
    try {
      const { page, frame } = await openHost(b, { tool });
      const tableOpen = () => frame.evaluate(() => !document.getElementById('d').hidden && document.getElementById('d').open && document.querySelectorAll('#tb tr').length > 1);
      const expect = async (result, text) => {
        await page.evaluate((r) => window.notifyView('ui/notifications/tool-result', r), result);
        await frame.waitForFunction((t) => document.getElementById('m').textContent.includes(t), text, { timeout: 10000 });
        assert.ok(await frame.evaluate(() => document.getElementById('f').hidden), 'no drawing');
      };

      await expect(getTaskResult(pending), 'No annotations yet: the task is pending.');
      assert.ok(await tableOpen());
      await expect(getTaskResult(imported), 'scaledata://');
      assert.ok(await tableOpen());
      assert.ok((await frame.locator('#tb').textContent()).includes('lane_marking'), 'the annotations as a table');
      await expect(getTaskResult(video), 'The attachment is not an image (video)');
      await expect(getTaskResult(broken), 'could not be decoded as an image');
      // get_task without the response, dropped for size.
      const { response: _r, ...rest } = done;
      await expect(getTaskResult({ ...rest, truncated: { dropped: ['response'], reason: 'too large', how_to_get_full_items: '' } }), 'too large for one tool result');
      assert.ok(await tableOpen());
      await expect({ content: [{ type: 'text', text: 'Scale returned 404 Not Found for GET /task/nope: Task with that ID not found.' }], isError: true }, 'Task with that ID not found.');
      await page.evaluate(() => window.notifyView('ui/notifications/tool-cancelled', { reason: 'user stopped it' }));
      await frame.waitForFunction(() => document.getElementById('m').textContent === 'The tool call was cancelled: user stopped it.');

      // wait_for_task's result with structuredContent stripped (as some hosts do): the task is read from the text.
      const waited = { task_id: done.task_id, status: 'completed', done: true, waited_s: 0.2, polls: 1, next_step: 'The task is completed.', task: done };
      await page.evaluate((r) => window.notifyView('ui/notifications/tool-result', r), { content: [{ type: 'text', text: JSON.stringify(waited) }] });
      await drawn(frame);
      assert.ok((await frame.locator('#h').textContent()).includes(done.task_id));
      b.assertClean();
    } finally {
      await b.close();
    }
  });

  test('a large image comes in many chunks and is scaled to the frame, keeping its proportions', async () => {
    const task = await makeTask({ attachment: `${files.url}/large.png` });
    const [w, h] = [LARGE_W, LARGE_H];
    const tool = workerTool();
    const b = await openBrowser();
    try {
      const { page, frame } = await openHost(b, { tool });
      await showTask(page, task);
      await drawn(frame);
      assert.ok(LARGE.length > 20 * CHUNK_BYTES, `${LARGE.length} bytes`);
      assert.deepEqual(tool.calls.map((c) => c.arguments.offset), offsets(LARGE.length), 'every chunk once, in order');
      const box = await frame.evaluate(() => {
        const c = document.getElementById('c').getBoundingClientRect();
        const root = document.documentElement;
        return { bitmap: [document.getElementById('c').width, document.getElementById('c').height], shown: [c.width, c.height], view: root.clientWidth, overflow: root.scrollWidth - root.clientWidth };
      });
      assert.deepEqual(box.bitmap, [w, h]);
      assert.ok(box.shown[0] < box.view && box.shown[0] > 300, JSON.stringify(box));
      assert.ok(Math.abs(box.shown[0] / box.shown[1] - w / h) < 0.01, JSON.stringify(box));
      assert.equal(box.overflow, 0, 'no sideways scrolling');
      b.assertClean();
    } finally {
      await b.close();
    }
  });
});

describe('the annotation view under the official AppBridge host', () => {
  test('AppBridge accepts the handshake, forwards the attachment calls and gets size-changed, ping and teardown answers', async () => {
    const task = await makeTask();
    const tool = workerTool();
    const b = await openBrowser();
    try {
      const { page } = b;
      await page.exposeFunction('hostCallTool', tool);
      await page.goto(`${server.url}/bridge.html`);
      await page.evaluate(([c, a, r]) => window.startBridge({ context: c, args: a, result: r }), [LIGHT, { task_id: task.task_id }, getTaskResult(task)]);
      const frame = page.frames().find((f) => f.url().endsWith('/view.html'));
      await drawn(frame);
      assert.deepEqual(await page.evaluate(() => window.appInfo), { name: 'scale-task-annotations', version: '1.0.0' });
      assert.deepEqual(tool.calls, [{ name: 'get_task_attachment', arguments: { task_id: task.task_id, offset: 0 } }]);
      const colours = Object.fromEntries((await legend(frame)).map((l) => [l.label, rgb(l.color)]));
      assert.ok(near(await pixel(frame, 80, 340), colours.car));
      await page.waitForFunction(() => window.sizes.some((s) => s.height > 480));
      assert.deepEqual(await page.evaluate(() => window.pingView()), {});
      assert.deepEqual(await page.evaluate(() => window.teardownView()), {});
      b.assertClean();
    } finally {
      await b.close();
    }
  });
});

describe('get_task_attachment on the built worker', () => {
  const attachment = (args, client = mcp) => client.callTool('get_task_attachment', args);
  const refusal = async (url) => {
    const task = await makeTask({ attachment: url });
    const r = await attachment({ task_id: task.task_id });
    assert.equal(r.isError, true, JSON.stringify(r));
    assert.equal(r.structuredContent, undefined);
    return textOf(r);
  };
  const asked = (path) => files.requests.filter((r) => r.path === path);

  test('its chunks are the contract\'s, byte for byte, and the image is asked for with Range and nothing of ours', async () => {
    const task = await makeTask({ attachment: `${files.url}/large.png` });
    const reference = attachmentTool(async () => ({ bytes: LARGE }));
    const before = asked('/large.png').length;
    let offset = 0;
    let calls = 0;
    while (offset !== null) {
      const args = { task_id: task.task_id, offset };
      const got = await attachment(args);
      assert.deepEqual(got, await reference({ name: 'get_task_attachment', arguments: args }), `offset ${offset}`);
      // The bytes once: in the text block, not in structuredContent.
      assert.equal(got.structuredContent.data, undefined);
      assert.ok(got.content[0].text.length < 200 * 1024, 'under the result cap');
      offset = got.structuredContent.next_offset;
      calls++;
    }
    assert.equal(calls, Math.ceil(LARGE.length / CHUNK_BYTES));
    const requests = asked('/large.png').slice(before);
    // Each call after the first also reads the first 16 bytes again: the type is checked on every call.
    assert.equal(requests.length, 2 * calls - 1);
    for (const r of requests) {
      assert.match(r.headers.range, /^bytes=\d+-\d+$/);
      for (const h of ['authorization', 'cookie', 'scale-callback-auth']) assert.equal(r.headers[h], undefined, h);
    }
  });

  test('refusals: SVG, an imported file, too large, slow, a redirect to a disallowed address, this worker itself, a failing host', async () => {
    assert.equal(await refusal(`${sim.url}/files/drawing.svg`), 'The attachment is not a PNG, JPEG, GIF or WebP image (by its first bytes; SVG never is).');
    // A server that calls a PNG application/octet-stream is fine: the first bytes decide.
    const bin = await makeTask({ attachment: `${sim.url}/files/street.bin` });
    const ok = await attachment({ task_id: bin.task_id });
    assert.equal(ok.structuredContent.mime_type, 'image/png');
    assert.equal(await refusal('scaledata://0123456789abcdef/0123456789abcdef'), 'The attachment is a file imported into Scale (scaledata://0123456789abcdef/0123456789abcdef); it cannot be fetched from here.');
    assert.equal(await refusal(`${files.url}/huge.png`), `The attachment is larger than 8 MiB (${HUGE.length} bytes).`);
    assert.equal(await refusal(`${files.url}/huge-whole.png`), 'The attachment is larger than 8 MiB.');
    assert.equal(await refusal(`${files.url}/hop.png`), 'A redirect of the attachment led to an address that is not allowed: its host must be a DNS name, not an IP address (only https on port 443 to a public host name).');
    assert.equal(await refusal(`${files.url}/hop-local.png`), 'A redirect of the attachment led to an address that is not allowed: plain http is allowed only to a loopback host here (only https on port 443 to a public host name).');
    assert.equal(asked('/hop.png').length + asked('/hop-local.png').length, 2, 'each redirect asked once, its target never');
    assert.equal(await refusal(`${stack.url}/health`), "The attachment's address is not allowed: it must not be this server's own address (only https on port 443 to a public host name).");
    assert.equal(await refusal('https://127.0.0.1/x.png'), "The attachment's address is not allowed: its host must be a DNS name, not an IP address (only https on port 443 to a public host name).");
    assert.equal(await refusal(`${files.url}/gone.png`), "The attachment's server answered 410.");
    const started = Date.now();
    assert.equal(await refusal(`${files.url}/slow.png`), "The attachment's server did not answer within 8 seconds.");
    assert.ok(Date.now() - started < 9000, 'given up at the limit');
  });

  test('a task outside the connection\'s projects reads like a missing one, and its attachment is never asked for', async () => {
    const task = await makeTask({ attachment: `${files.url}/large.png` });
    const before = asked('/large.png').length;
    const call = (task_id) => rpc(stack, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_task_attachment', arguments: { task_id } } }, { headers: { 'x-scale-project': 'elsewhere' } });
    const scoped = (await call(task.task_id)).json.result;
    const missing = (await call('0000000000000000000000ff')).json.result;
    assert.equal(scoped.isError, true);
    assert.match(textOf(scoped), /Task with that ID not found\./);
    assert.equal(textOf(scoped).replace(task.task_id, 'ID'), textOf(missing).replace('0000000000000000000000ff', 'ID'));
    assert.equal(asked('/large.png').length, before);
    // The same connection without the narrowing may read it.
    assert.equal((await attachment({ task_id: task.task_id })).isError, undefined);
  });
});
