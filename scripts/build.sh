#!/usr/bin/env bash
# Builds the release worker into build/ with worker-build, fully offline:
# wasm-bindgen from cargo, wasm-opt from npm's binaryen, esbuild from wrangler's.
set -euo pipefail
cd "$(dirname "$0")/.."
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
exec worker-build --release "$@"
