#!/usr/bin/env bash
# Installs exactly what is missing to build, run and test the worker offline:
# the wasm32 target, wasm-bindgen-cli at the version in Cargo.lock,
# worker-build, the npm packages and the Python test packages.
# Costs seconds when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >&2
fi

# The CLI must match the wasm-bindgen crate exactly.
wb_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  log "installing wasm-bindgen-cli $wb_version (a few minutes, once)"
  cargo install -q wasm-bindgen-cli --version "=$wb_version" --force >&2
fi

worker_version=$(awk '/^name = "worker"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ "$(worker-build --version 2>/dev/null | awk '{print $2}')" != "$worker_version" ]; then
  log "installing worker-build $worker_version (a few minutes, once)"
  cargo install -q worker-build --version "=$worker_version" --force >&2
fi

# npm ci when node_modules does not match the lockfile.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s <(node -e 'const l=require("./package-lock.json");console.log(JSON.stringify(Object.keys(l.packages).sort()))') \
     <(node -e 'const l=require("./node_modules/.package-lock.json");console.log(JSON.stringify(Object.keys(l.packages).map(k=>k).concat([""]).sort()))'); then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

if ! python3 -c 'import scaleapi, pytest, mcp' 2>/dev/null; then
  log "installing Python test packages"
  python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt >&2
fi
