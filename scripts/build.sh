#!/usr/bin/env bash
# Builds the release worker into build/ with worker-build, fully offline:
# wasm-bindgen from cargo, wasm-opt from npm's binaryen, esbuild from wrangler's.
#
# The annotation view (src/view/annotations.html) is included minified by
# scripts/minify-view.mjs, written under target/ (see build.rs).
#
# A build whose inputs are those build/ was last made from is skipped: the
# crate's sources and manifests (the view and its minifier among them), the
# lockfile, this script, the toolchain and tool versions, the build
# environment and the arguments are hashed, and so is build/ itself, so a
# changed or damaged output is rebuilt too. With nothing
# changed, worker-build would still spend a minute or more in wasm-opt for the
# same bytes (and `npm test` builds twice: once itself, once in its `npm run
# dev` test). FORCE_BUILD=1 builds anyway.
#
# BUILD_DIR (default build) names the output directory, and NO_WASM_OPT=1
# skips wasm-opt: `npm test` makes its `testing` build (the fault hooks the
# e2e tests need) that way, in a few seconds, beside the release one.
# Further arguments go to cargo (e.g. `--features testing`).
set -euo pipefail
cd "$(dirname "$0")/.."
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"

out="${BUILD_DIR:-build}"
stamp="$out/.inputs"
opt=()
[ "${NO_WASM_OPT:-}" = 1 ] && opt=(--no-opt)

# Everything the bytes in build/ depend on, as one hash.
inputs() {
  local f sources=()
  for f in Cargo.toml Cargo.lock build.rs rust-toolchain rust-toolchain.toml scripts/build.sh scripts/minify-view.mjs src crates \
    .cargo/config.toml .cargo/config "${CARGO_HOME:-$HOME/.cargo}/config.toml" "${CARGO_HOME:-$HOME/.cargo}/config"; do
    [ -e "$f" ] && sources+=("$f")
  done
  {
    printf 'args:'
    printf ' %q' "$out" "${opt[@]}" "$@"
    echo
    env | grep -E '^(RUSTFLAGS|RUSTC_WRAPPER|CARGO_ENCODED_RUSTFLAGS|CARGO_PROFILE_|CARGO_BUILD_|CARGO_TARGET_|CUSTOM_SHIM|COREDUMP|WASM_BINDGEN_|WASM_OPT_BIN|ESBUILD_BIN)' | LC_ALL=C sort || true
    rustc -vV
    cargo -V
    worker-build --version
    "$WASM_BINDGEN_BIN" --version
    "$WASM_OPT_BIN" --version
    "$ESBUILD_BIN" --version
    # The sources, the manifests and Cargo's own configuration (the repository's and the user's).
    find "${sources[@]}" -type f -not -path '*/target/*' | LC_ALL=C sort | xargs sha256sum
  } | sha256sum | cut -c1-64
}

# The build's output files (build/.tmp and other dot-files are worker-build's
# scratch space and this stamp).
outputs() {
  find "$out" -type f -not -path "$out/.*" 2>/dev/null | LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -c1-64
}

view=target/view/annotations.html
want="$(inputs "$@")"
# The minified view stays beside build/ (the e2e tests compare what the worker serves with it).
if [ "${FORCE_BUILD:-}" != 1 ] && [ -f "$out/index.js" ] && [ -f "$view" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want $(outputs)" ]; then
  echo "build: $out/ is up to date (its inputs have not changed since it was built; FORCE_BUILD=1 rebuilds)"
  exit 0
fi
rm -f "$stamp"
# The annotation view ships minified; build.rs includes the file this names.
export SCALE_VIEW_HTML="$PWD/$view"
node scripts/minify-view.mjs "$SCALE_VIEW_HTML"
worker-build --release --out-dir "$out" "${opt[@]}" "$@"
echo "$want $(outputs)" > "$stamp"
echo "build: done"
