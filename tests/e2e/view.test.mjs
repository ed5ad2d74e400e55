// Page tests of the annotation view (src/view/annotations.html), the MCP App
// that draws a Scale task's annotations over its image, in real Chromium:
// embedded by a mock host (tests/e2e/view-host.mjs) in a sandboxed iframe
// under the CSP the MCP Apps specification builds from the view's
// `_meta.ui.csp`, and once by the official AppBridge host. The task data is
// the Scale simulator's: an imageannotation task on its sample street scene,
// completed with every shape kind. The app-only attachment tool is answered
// on the test's side from the simulator's image, by the contract in
// docs/annotation-view.md.
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
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { encodePng, startSimulator } from '../../sim/scale-sim.mjs';
import { openBrowser } from './browser.mjs';
import { attachmentTool, bundleAppBridge, getTaskResult, startViewServer } from './view-host.mjs';

const README_SHOT = fileURLToPath(new URL(process.env.UPDATE_SCREENSHOTS === '1' ? '../../docs/annotation-view.png' : './screenshots/annotation-view.png', import.meta.url));
const KEY = 'test_sim_key';
const AUTH = { authorization: `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`, 'content-type': 'application/json' };
const LIGHT = { theme: 'light', displayMode: 'inline', containerDimensions: { width: 862, maxHeight: 1400 } };
const HOSTILE = ['<img src=x onerror="window.__pwned=1">', '<script>window.__pwned=2</script>'];

let sim;
let server;
let bridgeJs;
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

/** The attachment of a task the simulator knows, fetched the way the worker will: no credentials, its URL from the task. */
async function loadFromSim(taskId) {
  const url = tasks.get(taskId)?.params?.attachment;
  if (typeof url !== 'string') return { refused: 'The task has no attachment.' };
  if (url.startsWith('scaledata://')) return { refused: 'The attachment is a file imported into Scale (scaledata://), which this server cannot fetch.' };
  const res = await fetch(url);
  return { bytes: Buffer.from(await res.arrayBuffer()) };
}

before(async () => {
  sim = await startSimulator({ port: 0 });
  await scale('POST', '/projects', { type: 'imageannotation', name: 'street' });
  bridgeJs = await bundleAppBridge();
  server = await startViewServer({ bridgeJs });
});
after(async () => {
  await server?.close();
  await sim?.close();
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
    const tool = attachmentTool(loadFromSim, { chunk: 999 });
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
      assert.deepEqual(tool.calls.map((c) => c.arguments.offset), Array.from({ length: Math.ceil(png.byteLength / 999) }, (_, i) => i * 999), 'the image joined from every chunk in order');
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
      const { page, frame } = await openHost(b, { context: { ...LIGHT, theme: 'dark' }, tool: attachmentTool(loadFromSim) });
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
      const { page, frame } = await openHost(b, { tool: attachmentTool(loadFromSim) });
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
    const broken = await makeTask();
    const tool = attachmentTool(async (id) => (id === broken.task_id ? { bytes: Buffer.from('not an image at all'), mime: 'image/png' } : loadFromSim(id)));
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

  test('a large image is scaled to the frame, keeping its proportions', async () => {
    const task = await makeTask();
    const [w, h] = [2400, 1800];
    const big = encodePng(w, h, Buffer.alloc(w * h * 3, 90));
    const b = await openBrowser();
    try {
      const { page, frame } = await openHost(b, { tool: attachmentTool(async () => ({ bytes: big })) });
      await showTask(page, task);
      await drawn(frame);
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
    const tool = attachmentTool(loadFromSim);
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
