// A real browser for page tests: Debian's Chromium (/usr/bin/chromium,
// installed by `scripts/setup.sh --test`) driven by playwright-core, which
// never downloads a browser of its own.
//
// Every launch gets a fresh, empty profile in a temp directory that close()
// removes, and the flags this machine needs (no sandbox as root, no GPU, no
// network traffic of the browser's own). The helper watches every page for
// console errors, uncaught exceptions and Content-Security-Policy violations
// (the DOM's `securitypolicyviolation` events), so a test can assert that a
// page loaded clean, and saves screenshots under tests/e2e/screenshots/
// (git-ignored) for a person to look at.
//
//   const b = await openBrowser();
//   try {
//     const { page } = b;
//     await page.goto(url);
//     ...
//     await b.screenshot(page, 'sign-in-desktop', DESKTOP);
//     b.assertClean();
//   } finally { await b.close(); }

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const SCREENSHOT_DIR = fileURLToPath(new URL('./screenshots/', import.meta.url));
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// --headless and --no-sandbox are also what playwright-core adds by itself;
// they are listed so the launch does not depend on its defaults. The rest keep
// a headless run on a 2-core machine without GPU or internet quiet and offline.
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The name under which pages report violations to Node. Init scripts and
// bindings run outside the page's CSP, so they work on the strictest page.
const REPORT_BINDING = '__pageTestReport';
const WATCH_VIOLATIONS = `document.addEventListener('securitypolicyviolation', (e) => {
  window.${REPORT_BINDING}({
    documentURI: e.documentURI,
    violatedDirective: e.violatedDirective,
    effectiveDirective: e.effectiveDirective,
    blockedURI: e.blockedURI,
    sourceFile: e.sourceFile,
    lineNumber: e.lineNumber,
    sample: e.sample,
    disposition: e.disposition,
  });
}, true);`;

/**
 * Starts Chromium with a fresh profile. Resolves an object with:
 * - `context` (playwright BrowserContext), `page` (the first tab), `newPage()`,
 * - `consoleErrors` [{text, url}], `pageErrors` [message], `cspViolations` [{effectiveDirective, blockedURI, ...}],
 * - `problems()` (all three as readable lines), `assertClean()`,
 * - `waitFor(predicate, ms)`, `screenshot(page, name, size?)`, `userDataDir`, `close()`.
 * `options.viewport` sets the first viewport (default DESKTOP).
 */
export async function openBrowser({ viewport = DESKTOP, timeoutMs = 60000 } = {}) {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`page tests need Chromium at ${CHROMIUM_PATH}: run \`bash scripts/setup.sh --test\` (installs Debian's chromium package)`);
  }
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'page-test-profile-'));
  let context;
  try {
    // playwright-core refuses --user-data-dir in `args`: a persistent context
    // is how it takes a profile directory of ours.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport,
      timeout: timeoutMs,
    });
  } catch (e) {
    await rm(userDataDir, { recursive: true, force: true });
    throw new Error(`could not start ${CHROMIUM_PATH}: ${e.message}`);
  }

  const consoleErrors = [];
  const pageErrors = [];
  const cspViolations = [];
  try {
    await context.exposeBinding(REPORT_BINDING, (_source, violation) => { cspViolations.push(violation); });
    await context.addInitScript({ content: WATCH_VIOLATIONS });
  } catch (e) {
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    throw e;
  }
  const watch = (page) => {
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push({ text: msg.text(), url: msg.location().url || page.url() });
    });
    page.on('pageerror', (err) => { pageErrors.push(err.message); });
  };
  context.pages().forEach(watch);
  context.on('page', watch);

  let closed = null;
  const b = {
    context,
    userDataDir,
    consoleErrors,
    pageErrors,
    cspViolations,

    /** The page a persistent context opens with (about:blank). */
    page: context.pages()[0] ?? await context.newPage(),
    /** Another tab, watched like the first. */
    newPage: () => context.newPage(),

    /** Every console error, uncaught exception and CSP violation seen so far, one line each. */
    problems() {
      return [
        ...consoleErrors.map((c) => `console error on ${c.url}: ${c.text}`),
        ...pageErrors.map((m) => `uncaught exception: ${m}`),
        ...cspViolations.map((v) => `CSP violation on ${v.documentURI}: ${v.effectiveDirective} blocked ${v.blockedURI || '(inline)'}${v.sample ? ` "${v.sample}"` : ''}`),
      ];
    },

    /** Throws listing what went wrong when any page logged an error, threw, or broke its CSP. */
    assertClean() {
      const list = b.problems();
      if (list.length) throw new Error(`the browser saw ${list.length} problem(s):\n  ${list.join('\n  ')}`);
    },

    /** Resolves once `predicate()` is true (violations arrive asynchronously); rejects after `ms`. */
    async waitFor(predicate, ms = 5000) {
      const end = Date.now() + ms;
      while (!predicate()) {
        if (Date.now() > end) throw new Error(`timed out after ${ms} ms; problems so far: ${JSON.stringify(b.problems())}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },

    /** Saves a full-page PNG as screenshots/<name>.png, at `size` when given; resolves its path. */
    async screenshot(page, name, size) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`screenshot name ${JSON.stringify(name)}: use letters, digits, '.', '-' and '_'`);
      if (size) await page.setViewportSize(size);
      await mkdir(SCREENSHOT_DIR, { recursive: true });
      const file = path.join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },

    /** Closes the browser and deletes its profile; safe to call twice. */
    close() {
      closed ??= (async () => {
        try {
          await context.close();
        } finally {
          await rm(userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
        }
      })();
      return closed;
    },
  };
  return b;
}
