#!/usr/bin/env bash
# The long fuzz run: FUZZ_CASES (default 200,000) cases per target of
# tests/fuzz.rs in release mode. Prints cases, time and the outcome per target;
# any panic or failed property fails the run. Not part of `npm test` (which
# runs 300 cases per target).
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${FUZZ_CASES:-200000}"
cargo test --release --quiet --features testing --test fuzz --no-run
printf '%-42s %10s %9s %s\n' target cases seconds result
fail=0
for t in fuzz_mcp_bodies_and_headers fuzz_tool_arguments_with_hostile_upstream fuzz_webhook_bodies fuzz_webhook_scan_agrees_with_parse_strict fuzz_routes_methods_and_auth_headers; do
  start=$(date +%s.%N)
  if FUZZ_CASES="$cases" cargo test --release --quiet --features testing --test fuzz -- --exact "$t" > "target/fuzz-$t.log" 2>&1; then r="ok (0 panics)"; else r="FAILED (see target/fuzz-$t.log)"; fail=1; fi
  printf '%-42s %10s %9.1f %s\n' "$t" "$cases" "$(echo "$(date +%s.%N) - $start" | bc)" "$r"
done
exit $fail
