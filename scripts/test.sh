#!/usr/bin/env bash
# `npm test`: every test. The native core under cargo test, then the release
# worker built and run in workerd (Miniflare) against the Scale simulator,
# driven by real MCP clients, then the simulator checked with Scale's own
# Python client.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
# The Python that has the test packages (the e2e suite runs the Python MCP client with it).
export PYTHON="$PWD/.venv/bin/python"

bash scripts/setup.sh --test

echo "== native core and short fuzz run (cargo test)"
cargo test --quiet --locked --features testing
cargo test --quiet --locked -p json-hot

echo "== release build"
mkdir -p target; bash scripts/build.sh > target/build.log 2>&1 || { cat target/build.log >&2; exit 1; }

echo "== simulator checked with Scale's Python client (pytest)"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/sim

# One file at a time: the npm run dev test rebuilds build/, which the others load.
echo "== end to end in workerd (node --test)"
node --test --test-concurrency=1 --test-reporter=spec tests/sim/*.test.mjs tests/e2e/*.test.mjs
