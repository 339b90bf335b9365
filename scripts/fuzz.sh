#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ for a time budget each and prints the executions,
# coverage and outcome per target. Not part of the default test run (the committed corpora are
# replayed as ordinary tests by ws-proto/tests/fuzz_corpus.rs).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 60
#   TARGET...           default: every target (cargo fuzz list)
#
# Environment:
#   FUZZ_RUNS=N        stop a target after N executions (as well as after the time budget)
#   FUZZ_WORK=DIR      working corpora (default fuzz/target/corpus-work/TARGET); the committed
#                      seeds in fuzz/corpus/TARGET are read, never written
#   FUZZ_ARGS="..."    extra libFuzzer arguments
#   CARGO_TARGET_DIR   build directory (default fuzz/target)
#
# Needs a nightly toolchain (installed with rustup when missing) and cargo-fuzz (installed with
# `cargo install --locked` when missing). Targets run one at a time, without a sanitizer
# (ws-proto has no unsafe code; `-s none` is several times faster), with debug assertions
# (cargo fuzz's default), and `pair` without comparison tracing (it decodes operations from
# bytes, so tracing buys little and costs about a factor 3 in speed; it is built in its own
# target directory so the two flag sets do not rebuild each other). Crashing inputs go to
# fuzz/artifacts/TARGET/. Logs: fuzz/target/logs/TARGET.log. Exit status 1 if any target failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root/fuzz"

secs="${1:-60}"
[ "$#" -gt 0 ] && shift
case "$secs" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

target_dir="${CARGO_TARGET_DIR:-$root/fuzz/target}"
work_root="${FUZZ_WORK:-$root/fuzz/target/corpus-work}"
logs="$root/fuzz/target/logs"
mkdir -p "$logs" "$work_root"

summary=()
failed=0
for t in "${targets[@]}"; do
  flags=(-s none)
  dir="$target_dir"
  if [ "$t" = pair ]; then
    flags+=(--no-trace-compares)
    dir="$target_dir/no-trace-compares"
  fi
  work="$work_root/$t"
  mkdir -p "$work" "$root/fuzz/artifacts/$t"
  args=(-max_total_time="$secs" -timeout=20 -print_final_stats=1 -artifact_prefix="$root/fuzz/artifacts/$t/")
  [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
  # shellcheck disable=SC2206 # word splitting wanted
  [ -n "${FUZZ_ARGS:-}" ] && args+=($FUZZ_ARGS)
  printf '==> %s (%ss%s)\n' "$t" "$secs" "${FUZZ_RUNS:+, at most $FUZZ_RUNS runs}"
  start=$SECONDS
  rc=0
  CARGO_TARGET_DIR="$dir" cargo +nightly fuzz run "${flags[@]}" "$t" "$work" "corpus/$t" -- "${args[@]}" \
    >"$logs/$t.log" 2>&1 || rc=$?
  # (|| true: a crashed run has no "Done" line, and pipefail would end the script)
  runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$logs/$t.log" | tail -1 | awk '{print $2}' || true)"
  last="$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -1 || true)"
  cov="$(grep -Eo 'cov: [0-9]+' <<<"$last" | awk '{print $2}' || true)"
  ft="$(grep -Eo 'ft: [0-9]+' <<<"$last" | awk '{print $2}' || true)"
  speed="$(grep -Eo 'exec/s: [0-9]+' <<<"$last" | awk '{print $2}' || true)"
  status=ok
  if [ "$rc" != 0 ]; then
    status="FAILED (exit $rc, see $logs/$t.log and fuzz/artifacts/$t/)"
    failed=1
  fi
  line="$(printf '%-20s runs %-10s cov %-6s ft %-7s exec/s %-7s %ss  %s' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${speed:-?}" "$((SECONDS - start))" "$status")"
  echo "$line"
  summary+=("$line")
done

printf '\n==> summary (%s)\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '%s\n' "${summary[@]}"
exit "$failed"
