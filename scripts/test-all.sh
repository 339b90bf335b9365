#!/usr/bin/env bash
# The project's test command: everything a change has to pass, from a fresh
# machine (Rust toolchain, Node.js + npm, Python 3.11; the rest is installed).
#
#   1. scripts/setup-interop.sh      Node ws, Python websockets, Autobahn|Testsuite,
#                                    Debian's Chromium
#   2. cargo test --workspace        unit, property, doc and interop tests (Node,
#                                    Python, headless Chromium)
#   3. scripts/autobahn.sh SUITES    Autobahn suites, in parallel (default:
#                                    tokio-server tokio-client, the full 517
#                                    cases with the zlib-rs deflate backend,
#                                    tokio-server-default tokio-client-default,
#                                    12.* and 13.* with the default backend,
#                                    blocking-server blocking-client, and
#                                    async-std-server async-std-client when
#                                    scripts/autobahn.sh has them)
#
# Usage: scripts/test-all.sh
# Every step runs even when an earlier one failed, and a summary ends the
# output; the exit status is non-zero when any step failed.
#
# Environment: AUTOBAHN_SUITES (space separated, default above; see
# scripts/autobahn.sh --help), CARGO_TEST_TIMEOUT (seconds, default 2400),
# WS_SHARED_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/.." && pwd))"
cd "$root"

if [ -z "${AUTOBAHN_SUITES:-}" ]; then
  # The slow compression suites first, so that they start first.
  AUTOBAHN_SUITES="tokio-server tokio-client tokio-server-default tokio-client-default blocking-server blocking-client"
  for s in async-std-server async-std-client; do
    if grep -Eq "^ *$s\)" scripts/autobahn.sh; then AUTOBAHN_SUITES="$AUTOBAHN_SUITES $s"; fi
  done
fi
CARGO_TEST_TIMEOUT="${CARGO_TEST_TIMEOUT:-2400}"

section() { printf '\n==> %s\n' "$*"; }
failed=()
passed=()
step() {  # step NAME COMMAND...
  local name="$1" start=$SECONDS rc=0
  shift
  section "$name"
  "$@" || rc=$?
  if [ "$rc" = 0 ]; then
    passed+=("$name")
    printf 'test-all: %s: ok (%ss)\n' "$name" "$((SECONDS - start))"
  else
    failed+=("$name")
    printf 'test-all: %s: FAILED with status %s (%ss)\n' "$name" "$rc" "$((SECONDS - start))"
  fi
}

step "setup interop peers" bash scripts/setup-interop.sh
step "cargo test --workspace" timeout -k 30 "$CARGO_TEST_TIMEOUT" cargo test --workspace --no-fail-fast
# shellcheck disable=SC2086 # word splitting wanted: one argument per suite
step "autobahn $AUTOBAHN_SUITES" bash scripts/autobahn.sh $AUTOBAHN_SUITES

section "summary"
printf 'test-all: wall time %dm%02ds\n' "$((SECONDS / 60))" "$((SECONDS % 60))"
for s in "${passed[@]+"${passed[@]}"}"; do printf 'test-all: ok      %s\n' "$s"; done
for s in "${failed[@]+"${failed[@]}"}"; do printf 'test-all: FAILED  %s\n' "$s"; done
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'test-all: %d of %d steps FAILED\n' "${#failed[@]}" "$((${#failed[@]} + ${#passed[@]}))"
  exit 1
fi
printf 'test-all: all %d steps passed\n' "${#passed[@]}"
