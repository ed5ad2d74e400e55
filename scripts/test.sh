#!/usr/bin/env bash
# `npm test`: every test. The native core under cargo test, then the two
# workers built (the MCP worker, the jobs worker and the jobs worker's testing
# build) and run in workerd (Miniflare) against the Scale simulator, driven by
# real MCP clients, then the simulator checked with Scale's own Python
# client. At the end (pass or fail) a table gives each phase's wall time,
# setup included, so it is plain where the time goes.
#
# E2E_CONCURRENCY sets how many e2e files run at once (default 3; see the
# e2e phase below).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
# The Python that has the test packages (the e2e suite runs the Python MCP client with it).
export PYTHON="$PWD/.venv/bin/python"

concurrency="${E2E_CONCURRENCY:-3}"

# --- the phase table ----------------------------------------------------------
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
fmt() { local ms=$1; printf '%dm%04.1fs' $((ms / 60000)) "$(((ms % 60000) / 100))e-1"; }
names=() times=() results=()
current="" phase_started=0 run_started=$(now_ms)

table() {
  local rc=$? i total
  if [ -n "$current" ]; then
    names+=("$current") times+=($(($(now_ms) - phase_started))) results+=("failed (exit $rc)")
  fi
  total=$(($(now_ms) - run_started))
  echo
  echo "== npm test: wall time by phase"
  printf '  %-56s %9s  %s\n' phase time result
  for i in "${!names[@]}"; do
    printf '  %-56s %9s  %s\n' "${names[$i]}" "$(fmt "${times[$i]}")" "${results[$i]}"
  done
  printf '  %-56s %9s  (load average %s)\n' total "$(fmt "$total")" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
}
trap table EXIT

# Runs one phase: its name, then the command.
phase() {
  current=$1
  shift
  echo "== $current"
  phase_started=$(now_ms)
  "$@"
  names+=("$current") times+=($(($(now_ms) - phase_started))) results+=(ok)
  current=""
}

# Runs phases side by side, as one: the group's name, then each phase's name
# and command (one word: a function). The table has the group's wall time,
# then each phase's own, indented.
side_by_side() {
  local group=$1 i t rc failed=0 pids=() subs=() files=()
  shift
  current=$group
  echo "== $group"
  phase_started=$(now_ms)
  while [ $# -gt 0 ]; do
    files+=("$(mktemp)") subs+=("$1")
    echo "== $1 (side by side)"
    (
      started=$(now_ms) rc=0
      "$2" || rc=$?
      echo "$(($(now_ms) - started)) $rc" > "${files[-1]}"
      exit "$rc"
    ) &
    pids+=($!)
    shift 2
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed=1; done
  names+=("$group") times+=($(($(now_ms) - phase_started)))
  if [ "$failed" = 0 ]; then results+=(ok); else results+=(failed); fi
  current=""
  for i in "${!pids[@]}"; do
    read -r t rc < "${files[$i]}" || { t=0 rc='?'; }
    rm -f "${files[$i]}"
    names+=("  ${subs[$i]}") times+=("$t")
    if [ "$rc" = 0 ]; then results+=(ok); else results+=("failed (exit $rc)"); fi
  done
  return "$failed"
}

# --- the phases -------------------------------------------------------------------
phase "setup (installs what is missing)" bash scripts/setup.sh --test

phase "native core and short fuzz run (cargo test)" cargo test --quiet --locked --features testing
phase "json-hot crate (cargo test)" cargo test --quiet --locked -p json-hot

# scripts/build.sh with the arguments given (and the caller's BUILD_DIR and
# NO_WASM_OPT), its output in target/<first argument>.log: prints its last
# line, or all of it when it fails. Each build is skipped when its inputs did
# not change since it was made.
build() {
  local log="target/$1.log"
  shift
  mkdir -p target
  bash scripts/build.sh "$@" > "$log" 2>&1 || { cat "$log" >&2; return 1; }
  tail -n 1 "$log"
}
# The MCP worker (wrangler.toml), the jobs worker (wrangler.jobs.toml's
# [build] command) and the jobs worker with the testing build's fault hooks,
# without wasm-opt (a few seconds; jobs.test.mjs runs it where a consumer
# must die mid-chunk).
build_mcp() { build build; }
build_jobs() { BUILD_DIR=build-jobs build build-jobs --features jobs-worker; }
build_testing() {
  # The release build's cargo step goes first (cargo holds one lock on
  # target/): then this one's runs beside the release build's wasm-opt
  # rather than before it. worker-build prints "Compiling to Wasm" as it
  # starts cargo; a build that is up to date or failed prints no such line.
  local i
  for ((i = 0; i < 600; i++)); do
    grep -qE 'Compiling to Wasm|up to date|^build: done|[Ee]rror' target/build-jobs.log 2> /dev/null && break
    sleep 0.1
  done
  BUILD_DIR=build-testing NO_WASM_OPT=1 build build-testing --features testing,jobs-worker
}
phase "release build: the MCP worker (build/)" build_mcp
# The two jobs builds side by side: their cargo steps take turns while the
# release build's wasm-opt (one core) runs beside the testing build's cargo
# step. Measured on 2 cores after a change under src/: about 30 s side by
# side, 38 s one after the other (and side by side in the other order).
rm -f target/build-jobs.log
side_by_side "jobs worker builds, side by side" \
  "release build: the jobs worker (build-jobs/)" build_jobs \
  "testing build of the jobs worker (build-testing/)" build_testing

phase "simulator checked with Scale's Python client (pytest)" \
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/sim

# The e2e files share no port (each stack, simulator and helper server listens
# on a free port), no store (Miniflare keeps KV, the queues and the Durable
# Objects in memory, per stack) and no file but the builds (build/,
# build-jobs/, build-testing/), which they only read. So they run side by
# side, E2E_CONCURRENCY at a time, the longest first so that the short ones
# fill the gaps. Most of their time is waiting (on workerd, the simulator,
# browsers, deliberate delays), so on 2 cores 3 at a time is fastest: measured
# against 2 and 4, 4 was no faster and crowds the timing checks of the retry and
# wait tests. The one exception is the `npm run dev` test: it runs both
# workers' builds as it starts (a no-op when build/ and build-jobs/ are up to
# date, as they are here; not after a change under src/ made meanwhile), so
# it runs alone, after the others.
longest=(tests/e2e/jobs.test.mjs tests/e2e/browser-oauth.test.mjs tests/e2e/faults.test.mjs tests/e2e/conformance.test.mjs
  tests/e2e/long-running.test.mjs tests/e2e/oauth.test.mjs)
e2e_files=()
for f in "${longest[@]}" tests/sim/*.test.mjs tests/e2e/*.test.mjs; do
  if [[ -f "$f" && "$f" != tests/e2e/dev.test.mjs && " ${e2e_files[*]} " != *" $f "* ]]; then e2e_files+=("$f"); fi
done
phase "end to end in workerd, $concurrency files at a time (node --test)" \
  node --test --test-concurrency="$concurrency" --test-reporter=spec "${e2e_files[@]}"
phase "npm run dev, alone: it builds both workers (node --test)" \
  node --test --test-reporter=spec tests/e2e/dev.test.mjs
