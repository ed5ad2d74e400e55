// Writes the annotation view as the worker serves it: src/view/annotations.html
// (the readable source, which `cargo test` includes as it is) with its inline
// stylesheet and script minified by esbuild, to the path given as the first
// argument. scripts/build.sh runs it before the release build and points the
// crate's build script at the result, so the upload carries about 1 KiB
// (gzip) less and no generated file is committed.
//
// The document's markup is left as written; only the text between <style>
// and </style> and between <script> and </script> changes. The script stays
// a classic script in strict mode, wrapped in a function so that its
// top-level names can be shortened (nothing outside it refers to them).

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SOURCE = path.join(ROOT, 'src/view/annotations.html');
const ESBUILD = process.env.ESBUILD_BIN || path.join(ROOT, 'node_modules/.bin/esbuild');

const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/minify-view.mjs <output.html>');
  process.exit(2);
}

const minify = (text, loader, extra = []) =>
  execFileSync(ESBUILD, [`--loader=${loader}`, '--minify', '--log-level=warning', ...extra], {
    input: text,
    encoding: 'utf8',
  }).trim();

const html = readFileSync(SOURCE, 'utf8');
let blocks = 0;
const min = html.replace(/<(style|script)>([\s\S]*?)<\/\1>/g, (_, tag, body) => {
  blocks += 1;
  const code = tag === 'style' ? minify(body, 'css') : minify(body, 'js', ['--format=iife']);
  // The minified text must not end its own element early or open a comment the parser would honour.
  if (new RegExp(`</${tag}|<!--`, 'i').test(code)) throw new Error(`minified <${tag}> contains a closing tag or a comment opener`);
  return `<${tag}>${code}</${tag}>`;
});
if (blocks !== 2) throw new Error(`expected one <style> and one <script> in ${SOURCE}, found ${blocks} blocks`);

mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
// Written beside and renamed into place: builds running side by side (npm
// test's jobs builds) never read a half-written file.
const tmp = `${out}.${process.pid}.tmp`;
writeFileSync(tmp, min);
renameSync(tmp, out);
console.log(`minify-view: ${Buffer.byteLength(html)} → ${Buffer.byteLength(min)} bytes (${out})`);
