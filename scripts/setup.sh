#!/usr/bin/env bash
# Installs exactly what is missing to build, run and test the worker offline:
# the wasm32 target, wasm-bindgen-cli at the version in Cargo.lock,
# worker-build, the npm packages and, with --test, the Python test packages,
# Debian's Chromium for the page tests and Node 22 with the MCP conformance
# suite 0.2 (tests/conformance-node22).
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
if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$worker_version" ]; then
  log "installing worker-build $worker_version (a few minutes, once)"
  cargo install -q worker-build --version "=$worker_version" --force >&2
fi

# npm ci when node_modules was not installed from this exact lockfile.
lock_sum=$(sha256sum package-lock.json | cut -c1-64)
if [ "$(cat node_modules/.setup-lock 2>/dev/null)" != "$lock_sum" ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" > node_modules/.setup-lock
fi

# Test-only tools: Python clients (Scale's SDK and MCP's) drive the simulator and the worker.
# They go into a project venv (.venv), so a system Python that refuses global
# installs (PEP 668) is no obstacle; scripts/test.sh uses .venv/bin/python.
if [ "${1:-}" = "--test" ]; then
  # Page tests drive a real headless Chromium through playwright-core, which
  # never downloads a browser: they use Debian's package at this path.
  if [ ! -x /usr/bin/chromium ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
      log "the page tests need Chromium at /usr/bin/chromium, and apt-get is not available to install it;"
      log "install Chromium from your system's packages and link its binary to /usr/bin/chromium"
      exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
      as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      log "the page tests need Chromium at /usr/bin/chromium; installing it needs root:"
      log "  sudo apt-get update && sudo apt-get install -y chromium"
      exit 1
    fi
    log "installing Debian's chromium for the page tests (once)"
    "${as_root[@]}" apt-get update -q >&2 || { log "apt-get update failed"; exit 1; }
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 || { log "apt-get install chromium failed"; exit 1; }
    [ -x /usr/bin/chromium ] || { log "apt-get installed chromium, but /usr/bin/chromium is still missing"; exit 1; }
  fi

  # Prints a requirements file and every file it pulls in with -r/-c, which pip
  # reads relative to the including file, so a changed nested pin counts too.
  req_files() {
    local dir flag file
    echo "$1"
    dir=$(dirname "$1")
    while read -r flag file _ || [ -n "$flag" ]; do
      case $flag in
        -r | --requirement | -c | --constraint) req_files "$dir/$file" ;;
        --requirement=* | --constraint=*) req_files "$dir/${flag#*=}" ;;
      esac
    done < "$1"
  }
  req_sum=$(req_files tests/requirements.txt | xargs sha256sum | sha256sum | cut -c1-64)
  # A venv made without python3-venv has bin/python but no pip: start it again.
  if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    log "creating .venv"
    python3 -m venv --clear .venv >&2 || { log "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
  fi
  if [ "$(cat .venv/.setup-py 2>/dev/null)" != "$req_sum" ]; then
    log "installing Python test packages into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt >&2
    echo "$req_sum" > .venv/.setup-py
  fi

  # The MCP conformance suite 0.2 needs Node 22. It is installed with its own Node
  # (the npm package `node`) in a project of its own, and the test calls that
  # binary by path: as a devDependency it would come first on PATH in every npm
  # script, and `npm run dev` and `npm test` must keep the machine's Node.
  conf_dir=tests/conformance-node22
  conf_sum=$(sha256sum "$conf_dir/package-lock.json" | cut -c1-64)
  if [ "$(cat "$conf_dir/node_modules/.setup-lock" 2>/dev/null)" != "$conf_sum" ]; then
    log "installing Node 22 and the MCP conformance suite 0.2 into $conf_dir"
    (cd "$conf_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$conf_sum" > "$conf_dir/node_modules/.setup-lock"
  fi
fi
