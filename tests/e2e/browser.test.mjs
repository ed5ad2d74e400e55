// Proves the page-test helper (tests/e2e/browser.mjs) against pages this test
// serves itself on loopback, with the strict kind of Content-Security-Policy a
// sign-in page has: the form is filled and sent with the keyboard alone and the
// server checks what arrived, an inline script the CSP forbids is reported as
// a violation (while the page's own script runs), errors on a broken page are
// caught, screenshots come out at desktop and phone width, and the throwaway
// profile is gone after close().
//
// Run: node --test tests/e2e/browser.test.mjs   (needs `bash scripts/setup.sh --test` once)

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { openBrowser, DESKTOP, PHONE, SCREENSHOT_DIR } from './browser.mjs';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="stylesheet" href="/app.css"></head>
<body><main>${body}</main></body></html>`;

const FORM = page('Sign in', `
<h1>Sign in</h1>
<form method="post" action="/submit" id="f">
  <label>Name <input name="name" autocomplete="off" required></label>
  <label>E-mail <input name="email" type="email" autocomplete="off" required></label>
  <label><input name="agree" type="checkbox"> I agree</label>
  <button type="submit">Continue</button>
</form>
<script>document.title = 'inline script ran'; document.body.dataset.inline = 'ran';</script>
<script src="/app.js"></script>`);

// The page's own script (allowed by script-src 'self'): proves scripts run at all.
const APP_JS = "document.getElementById('f').dataset.ready = 'yes';";
const APP_CSS = `
*{box-sizing:border-box} body{margin:0;font:16px/1.4 sans-serif;background:#f4f5f7}
main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:8px}
label{display:block;margin:0 0 1rem} input:not([type=checkbox]){display:block;width:100%;padding:.5rem;margin-top:.25rem}
button{padding:.6rem 1.2rem}`;
const BROKEN = page('Broken', '<p>broken</p><script src="/broken.js"></script>');
const BROKEN_JS = "console.error('something failed on purpose'); throw new Error('thrown on purpose');";

let server;
let base;
const received = []; // bodies POSTed to /submit

before(async () => {
  server = http.createServer((req, res) => {
    const headers = { 'content-security-policy': CSP, 'cache-control': 'no-store' };
    const send = (status, type, body) => {
      res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method === 'GET' && req.url === '/') return send(200, 'text/html; charset=utf-8', FORM);
    if (req.method === 'GET' && req.url === '/app.js') return send(200, 'text/javascript', APP_JS);
    if (req.method === 'GET' && req.url === '/app.css') return send(200, 'text/css', APP_CSS);
    if (req.method === 'GET' && req.url === '/broken') return send(200, 'text/html; charset=utf-8', BROKEN);
    if (req.method === 'GET' && req.url === '/broken.js') return send(200, 'text/javascript', BROKEN_JS);
    // Chromium asks for one on every page; a 404 would be a console error.
    if (req.method === 'GET' && req.url === '/favicon.ico') { res.writeHead(204, headers).end(); return undefined; }
    if (req.method === 'POST' && req.url === '/submit') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        received.push({ type: req.headers['content-type'], fields: Object.fromEntries(new URLSearchParams(body)) });
        const f = received.at(-1).fields;
        send(200, 'text/html; charset=utf-8', page('Thanks', `<h1>Thanks, ${escape(f.name)}</h1><p id="email">${escape(f.email)}</p>`));
      });
      return undefined;
    }
    return send(404, 'text/plain', 'not found');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file) {
  const buf = readFileSync(file);
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file} is not a PNG`);
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

describe('page tests in Debian Chromium', { timeout: 120000 }, () => {
  test('a keyboard-filled form reaches the server; the CSP blocks and reports the inline script', async () => {
    const b = await openBrowser();
    try {
      const { page: tab } = b;
      await tab.goto(`${base}/`);
      assert.equal(await tab.getAttribute('#f', 'data-ready'), 'yes', "the page's own script ran");
      assert.equal(await tab.title(), 'Sign in', 'the inline script did not run');
      assert.equal(await tab.getAttribute('body', 'data-inline'), null);

      // Exactly one violation: the inline <script>, reported by the DOM event
      // and by Chromium's console error.
      await b.waitFor(() => b.cspViolations.length >= 1 && b.consoleErrors.length >= 1);
      assert.equal(b.cspViolations.length, 1, JSON.stringify(b.cspViolations));
      const [v] = b.cspViolations;
      assert.equal(v.effectiveDirective, 'script-src-elem');
      assert.equal(v.blockedURI, 'inline');
      assert.equal(v.documentURI, `${base}/`);
      assert.equal(v.disposition, 'enforce');
      assert.equal(b.consoleErrors.length, 1, JSON.stringify(b.consoleErrors));
      // Chromium 156: "Executing inline script violates the following Content Security Policy directive ...";
      // older ones: "Refused to execute inline script because it violates ...".
      assert.match(b.consoleErrors[0].text, /inline script .*violates the following Content Security Policy directive 'script-src 'self''/);
      assert.equal(b.pageErrors.length, 0);
      assert.throws(() => b.assertClean(), /2 problem/);
      assert.match(b.problems().join('\n'), /CSP violation on .*: script-src-elem blocked inline/);

      // Keyboard only: Tab from the top of the page to each field, Space ticks
      // the box, Enter in a text field submits.
      await tab.keyboard.press('Tab');
      await tab.keyboard.type('Ada <Lovelace>');
      await tab.keyboard.press('Tab');
      await tab.keyboard.type('ada@example.com');
      await tab.keyboard.press('Tab');
      await tab.keyboard.press('Space');
      await tab.keyboard.press('Shift+Tab');
      await Promise.all([tab.waitForURL(`${base}/submit`), tab.keyboard.press('Enter')]);

      assert.deepEqual(received, [{ type: 'application/x-www-form-urlencoded', fields: { name: 'Ada <Lovelace>', email: 'ada@example.com', agree: 'on' } }]);
      assert.equal(await tab.textContent('h1'), 'Thanks, Ada <Lovelace>');
      assert.equal(b.cspViolations.length, 1, 'the answer page broke no rule');

      const desktop = await b.screenshot(tab, 'browser-helper-desktop', DESKTOP);
      const phone = await b.screenshot(tab, 'browser-helper-phone', PHONE);
      assert.equal(path.dirname(desktop), path.resolve(SCREENSHOT_DIR));
      assert.equal(pngSize(desktop).width, DESKTOP.width);
      assert.ok(pngSize(desktop).height >= DESKTOP.height);
      assert.equal(pngSize(phone).width, PHONE.width, 'no horizontal overflow at phone width');
      assert.ok(statSync(phone).size > 1000);
      await assert.rejects(b.screenshot(tab, '../escape'), /screenshot name/);
    } finally { await b.close(); }
  });

  test('console errors and uncaught exceptions are collected; a clean page passes', async () => {
    const b = await openBrowser({ viewport: PHONE });
    try {
      const { page: tab } = b;
      await tab.goto(`${base}/broken`);
      await b.waitFor(() => b.pageErrors.length >= 1 && b.consoleErrors.length >= 1);
      assert.deepEqual(b.consoleErrors.map((c) => c.text), ['something failed on purpose']);
      assert.match(b.consoleErrors[0].url, /\/broken\.js$/);
      assert.deepEqual(b.pageErrors, ['thrown on purpose']);
      assert.deepEqual(b.cspViolations, []);
      assert.throws(() => b.assertClean(), /2 problem\(s\):\n {2}console error on .*something failed on purpose\n {2}uncaught exception: thrown on purpose/);

      // A second tab is watched too; a page that breaks nothing adds nothing.
      const other = await b.newPage();
      await other.goto(`${base}/app.css`);
      assert.equal(b.problems().length, 2);
      assert.equal(await tab.evaluate(() => window.innerWidth), PHONE.width);
    } finally { await b.close(); }
  });

  test('each launch has a fresh profile that close() removes', async () => {
    const a = await openBrowser();
    const c = await openBrowser();
    try {
      assert.notEqual(a.userDataDir, c.userDataDir);
      assert.ok(existsSync(a.userDataDir));
      // Nothing carries over between profiles.
      await a.page.goto(`${base}/`);
      await a.page.evaluate(() => localStorage.setItem('k', 'v'));
      await c.page.goto(`${base}/`);
      assert.equal(await c.page.evaluate(() => localStorage.getItem('k')), null);
    } finally {
      await a.close();
      await c.close();
    }
    assert.ok(!existsSync(a.userDataDir), 'profile removed');
    assert.ok(!existsSync(c.userDataDir));
    await a.close(); // twice is fine
  });
});
