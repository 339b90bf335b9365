#!/usr/bin/env bash
# Runs Autobahn|Testsuite suites against this project's echo servers and
# clients, with the project's runners in scripts/autobahn/ (see its README.md).
#
# Usage: scripts/autobahn.sh SUITE...
#
# Suites (the peers are the ws-conformance binaries `autobahn-server` and
# `autobahn-client`, one implementation for every adapter, `--adapter NAME`):
#   blocking-quick   blocking server (release build); all cases but 9.*
#                    (performance), 12.* and 13.* (compression); --strict
#   blocking-server  blocking server (accepts permessage-deflate), built with the
#                    zlib-rs deflate backend; every case outside 12.*/13.* plus a
#                    compression sample covering each negotiation shape
#                    (COMPRESSION_SAMPLE below); --strict
#   blocking-client  blocking client (offers permessage-deflate) against the
#                    suite's fuzzing server, zlib-rs; the same cases; --strict
#   async-std-server ws-async-std server on async-std, zlib-rs; the same cases
#   async-std-server-smol
#                    the same server on smol; the same cases
#   async-std-client ws-async-std client on smol; the same cases
#   async-std-server-full, async-std-client-full
#                    the same on smol with all 517 cases (run by hand: the
#                    compression groups take 12 to 15 minutes a role)
#   blocking-server-full, blocking-client-full
#                    the blocking peers with all 517 cases (by hand, likewise)
#   blocking-reactor-server, blocking-reactor-client
#                    ws-blocking's reactor (every connection on one thread:
#                    Server::drive_on, Reactor::drive), zlib-rs; the same cases
#                    as blocking-server; --strict
#   blocking-reactor-server-full, blocking-reactor-client-full
#                    the reactor peers with all 517 cases (by hand)
#   tokio-server     ws-tokio server (multi-thread runtime), zlib-rs; all 517
#                    cases; --strict
#   tokio-client     ws-tokio client, zlib-rs; all 517 cases; --strict
#   tokio-server-default, tokio-client-default
#                    the same peers built with the default features (the
#                    deflate backend is zlib-rs by default too); only 12.* and
#                    13.*; not strict (with the `miniz` feature instead, some
#                    13.* cases are UNIMPLEMENTED: miniz_oxide cannot compress
#                    with a window below 15 bits)
#
# The compression cases (12.*, 13.*) are slow: the suite's Python peer takes
# 12 to 15 minutes a role for them (four such suites in parallel on 2 cores:
# about 26 minutes). Run roles in parallel.
#
# Server suites: the echo server is built with `cargo build --release`, started
# on a free loopback port, run through `server-suite.sh`, then stopped. Client
# suites: the client binary is built likewise and run by `client-suite.sh`,
# which starts the fuzzing server on a free loopback port. Several suites run
# in parallel, their output lines prefixed with [SUITE].
# Reports: target/autobahn/SUITE/index.html (a server's output: server.log in
# the same folder; the fuzzing server's: wstest.log).
#
# Exit status: 0 when every suite passed; 1 when a suite failed (failed cases,
# the server crashed, time limit); 2 on bad usage or a setup error.
#
# Environment: AUTOBAHN_* variables are passed on to scripts/autobahn/server-suite.sh
# and client-suite.sh (AUTOBAHN_VENV: where scripts/autobahn/install.sh keeps the
# suite's Python 2.7 environment).
set -euo pipefail

# ----------------------------------------------------------------- the suites
# To add one: a word in SUITES and a case below that sets ROLE (server: the
# ws-conformance `autobahn-server` binary, given the port and `--adapter`;
# client: its `autobahn-client`, which reads AUTOBAHN_URL and AUTOBAHN_AGENT and
# drives /getCaseCount, /runCase and /updateReports), BIN, ADAPTER (tokio,
# tokio-current-thread, async-std, smol or blocking), AGENT (the name in the
# report), ARGS (server-suite.sh / client-suite.sh options) and LIMIT (seconds
# for the run); optionally FEATURES (cargo features of ws-conformance).
SUITES="blocking-quick blocking-server blocking-client tokio-server tokio-client tokio-server-default tokio-client-default async-std-server async-std-server-smol async-std-client async-std-server-full async-std-client-full blocking-server-full blocking-client-full blocking-reactor-server blocking-reactor-client blocking-reactor-server-full blocking-reactor-client-full"

# The blocking and async-std suites: every case group but the compression ones (12.*, 13.*;
# there is no 8.* or 11.*), and a sample of those covering each negotiation shape: 12.1-12.5
# (default parameters, message sizes and fragmentation) and one case of each 13.x offer
# (default, no context takeover, max window bits 8 and 15, their combinations, and several
# offers in one request).
NO_COMPRESSION='1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*'
COMPRESSION_SAMPLE='12.1.1,12.1.11,12.2.5,12.3.10,12.4.14,12.5.17,13.1.1,13.2.1,13.3.1,13.4.1,13.5.1,13.6.1,13.7.1,13.7.18'

suite_spec() {
  FEATURES=""
  case "$1" in
    blocking-quick)
      ROLE=server BIN=autobahn-server ADAPTER=blocking AGENT=ws-blocking LIMIT=900
      ARGS=(--quick --strict) ;;
    blocking-server)
      ROLE=server BIN=autobahn-server ADAPTER=blocking AGENT=ws-blocking LIMIT=900 FEATURES=zlib-rs
      ARGS=(--cases "$NO_COMPRESSION,$COMPRESSION_SAMPLE" --strict) ;;
    blocking-client)
      ROLE=client BIN=autobahn-client ADAPTER=blocking AGENT=ws-blocking LIMIT=900 FEATURES=zlib-rs
      ARGS=(--cases "$NO_COMPRESSION,$COMPRESSION_SAMPLE" --strict) ;;
    blocking-reactor-server)
      ROLE=server BIN=autobahn-server ADAPTER=blocking-reactor AGENT=ws-blocking-reactor LIMIT=900 FEATURES=zlib-rs
      ARGS=(--cases "$NO_COMPRESSION,$COMPRESSION_SAMPLE" --strict) ;;
    blocking-reactor-client)
      ROLE=client BIN=autobahn-client ADAPTER=blocking-reactor AGENT=ws-blocking-reactor LIMIT=900 FEATURES=zlib-rs
      ARGS=(--cases "$NO_COMPRESSION,$COMPRESSION_SAMPLE" --strict) ;;
    blocking-reactor-server-full)
      ROLE=server BIN=autobahn-server ADAPTER=blocking-reactor AGENT=ws-blocking-reactor LIMIT=2700 FEATURES=zlib-rs
      ARGS=(--strict) ;;
    blocking-reactor-client-full)
      ROLE=client BIN=autobahn-client ADAPTER=blocking-reactor AGENT=ws-blocking-reactor LIMIT=2700 FEATURES=zlib-rs
      ARGS=(--strict) ;;
    async-std-server)
      ROLE=server BIN=autobahn-server ADAPTER=async-std AGENT=ws-async-std LIMIT=900 FEATURES=zlib-rs
      ARGS=(--cases "$NO_COMPRESSION,$COMPRESSION_SAMPLE" --strict) ;;
    async-std-server-smol)
      ROLE=server BIN=autobahn-server ADAPTER=smol AGENT=ws-async-std-smol LIMIT=900 FEATURES=zlib-rs
      ARGS=(--cases "$NO_COMPRESSION,$COMPRESSION_SAMPLE" --strict) ;;
    async-std-client)
      ROLE=client BIN=autobahn-client ADAPTER=smol AGENT=ws-async-std LIMIT=900 FEATURES=zlib-rs
      ARGS=(--cases "$NO_COMPRESSION,$COMPRESSION_SAMPLE" --strict) ;;
    blocking-server-full)
      ROLE=server BIN=autobahn-server ADAPTER=blocking AGENT=ws-blocking LIMIT=2700 FEATURES=zlib-rs
      ARGS=(--strict) ;;
    blocking-client-full)
      ROLE=client BIN=autobahn-client ADAPTER=blocking AGENT=ws-blocking LIMIT=2700 FEATURES=zlib-rs
      ARGS=(--strict) ;;
    async-std-server-full)
      ROLE=server BIN=autobahn-server ADAPTER=smol AGENT=ws-async-std-smol LIMIT=2700 FEATURES=zlib-rs
      ARGS=(--strict) ;;
    async-std-client-full)
      ROLE=client BIN=autobahn-client ADAPTER=smol AGENT=ws-async-std LIMIT=2700 FEATURES=zlib-rs
      ARGS=(--strict) ;;
    tokio-server)
      ROLE=server BIN=autobahn-server ADAPTER=tokio AGENT=ws-tokio LIMIT=2700 FEATURES=zlib-rs
      ARGS=(--strict) ;;
    tokio-client)
      ROLE=client BIN=autobahn-client ADAPTER=tokio AGENT=ws-tokio LIMIT=2700 FEATURES=zlib-rs
      ARGS=(--strict) ;;
    tokio-server-default)
      ROLE=server BIN=autobahn-server ADAPTER=tokio AGENT=ws-tokio-default LIMIT=2700
      ARGS=(--cases '12.*,13.*') ;;
    tokio-client-default)
      ROLE=client BIN=autobahn-client ADAPTER=tokio AGENT=ws-tokio-default LIMIT=2700
      ARGS=(--cases '12.*,13.*') ;;
    *) return 1 ;;
  esac
}

# ------------------------------------------------------------------- helpers
log() { printf 'autobahn.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/.." && pwd))"
kit="$here/autobahn"
runner="$kit/server-suite.sh"
client_runner="$kit/client-suite.sh"
report_root="$root/target/autobahn"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Stops a process this script started, by PID: TERM, then KILL after 5 s.
stop() {
  local pid="$1" _
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Waits until PORT accepts TCP. 0 ready, 1 time out, 2 the process PID exited.
wait_ready() {
  local pid="$1" port="$2" deadline=$((SECONDS + $3))
  while :; do
    kill -0 "$pid" 2>/dev/null || return 2
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# Builds a release binary of ws-conformance (with cargo features FEATURES,
# comma separated) and prints the path of a private copy of its executable: one
# binary built with different features lands in the same target/release/NAME,
# which the next build overwrites.
build_bin() {
  local pkg=ws-conformance example="$1" features="${2:-}" out exe copy
  out="$(mktemp)"
  if ! (cd "$root" && timeout 1800 cargo build --release -p "$pkg" --bin "$example" \
        ${features:+--features "$features"} --message-format=json-render-diagnostics >"$out"); then
    rm -f "$out"
    return 1
  fi
  exe="$(python3 - "$out" "$example" <<'EOF'
import json, sys
path, name = sys.argv[1], sys.argv[2]
exe = None
for line in open(path):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == name and msg.get("executable"):
        exe = msg["executable"]
if not exe:
    sys.exit("cargo reported no executable for " + name)
print(exe)
EOF
)" || { rm -f "$out"; return 1; }
  rm -f "$out"
  copy="$report_root/bin/$pkg-$example${features:+-${features//,/-}}"
  mkdir -p "$report_root/bin"
  cp -f "$exe" "$copy.tmp.$$" && mv -f "$copy.tmp.$$" "$copy" || return 1
  printf '%s\n' "$copy"
}

# Runs one client suite (in a subshell of its own: the traps are its own).
# client-suite.sh starts the fuzzing server on a free port and the client.
run_client_suite() {
  local name="$1" bin="$2" dir="$report_root/$1"
  local rc=0 attempt start
  suite_pid=""
  # shellcheck disable=SC2317
  cleanup() { stop "$suite_pid"; }
  trap cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  mkdir -p "$dir"
  # Another process may take the free port before the fuzzing server binds
  # it: client-suite.sh then fails at once with status 2; try another port
  # (only then: a setup error after the cases ran is not retried).
  for attempt in 1 2 3; do
    rc=0
    start=$SECONDS
    "$client_runner" "${ARGS[@]}" --timeout "$LIMIT" --report-dir "$dir" \
      --port "$(free_port)" --agent "$AGENT" -- "$bin" --adapter "$ADAPTER" </dev/null &
    suite_pid=$!
    wait "$suite_pid" || rc=$?
    suite_pid=""
    if [ "$rc" != 2 ] || [ $((SECONDS - start)) -ge 60 ]; then break; fi
    log "$name: client-suite.sh setup error at start (attempt $attempt)"
  done
  return "$rc"
}

# Runs one server suite (in a subshell of its own: the traps are its own).
run_suite() {
  local name="$1" bin="$2" dir="$report_root/$1"
  local port="" rc=0 ready=1 attempt
  # Not local: the EXIT trap reads them after this function returned.
  server_pid="" suite_pid=""
  suite_spec "$name"
  # shellcheck disable=SC2317
  cleanup() { stop "$suite_pid"; stop "$server_pid"; }
  trap cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    port="$(free_port)"
    "$bin" "$port" --adapter "$ADAPTER" >"$dir/server.log" 2>&1 </dev/null &
    server_pid=$!
    ready=0
    wait_ready "$server_pid" "$port" 30 || ready=$?
    [ "$ready" = 0 ] && break
    if [ "$ready" = 1 ]; then
      log "$name: $bin did not accept connections on 127.0.0.1:$port within 30 s"
      tail -n 20 "$dir/server.log" >&2
      return 1
    fi
    wait "$server_pid" || true
    log "$name: $bin exited at start on port $port (attempt $attempt); its output:"
    tail -n 20 "$dir/server.log" >&2
    server_pid=""
  done
  [ "$ready" = 0 ] || return 1
  log "$name: $BIN --adapter $ADAPTER listening on 127.0.0.1:$port (pid $server_pid)"

  # In the background, so that a TERM to this subshell is handled at once.
  "$runner" "${ARGS[@]}" --timeout "$LIMIT" --report-dir "$dir" "$port" "$AGENT" </dev/null &
  suite_pid=$!
  wait "$suite_pid" || rc=$?
  suite_pid=""

  if ! kill -0 "$server_pid" 2>/dev/null; then
    local status=0
    wait "$server_pid" || status=$?
    server_pid=""
    log "$name: the echo server died during the suite (exit status $status); last lines of $dir/server.log:"
    tail -n 20 "$dir/server.log" >&2
    [ "$rc" != 0 ] || rc=1
  fi
  return "$rc"
}

# ---------------------------------------------------------------------- main
[ $# -gt 0 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
suites=()
for s in "$@"; do
  suite_spec "$s" || die "unknown suite '$s' (suites: $SUITES)"
  case " ${suites[*]-} " in *" $s "*) ;; *) suites+=("$s") ;; esac
done
{ [ -x "$runner" ] && [ -x "$client_runner" ]; } || die "$runner or $client_runner is missing or not executable (scripts/autobahn/ is part of the repository)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"

# Install once up front (install.sh is idempotent), not from parallel runs.
if ! "$kit/install.sh" >/dev/null; then
  die "installing Autobahn|Testsuite failed (try scripts/setup-interop.sh)"
fi

# Build every binary first, one cargo at a time.
declare -A bins=()
for s in "${suites[@]}"; do
  suite_spec "$s"
  key="$BIN/$FEATURES"
  if [ -z "${bins[$key]-}" ]; then
    bins[$key]="$(build_bin "$BIN" "$FEATURES")" \
      || die "building $BIN of ws-conformance${FEATURES:+ (features $FEATURES)} failed"
  fi
done

pids=()
names=()
# shellcheck disable=SC2317
on_signal() {
  local p
  for p in "${pids[@]-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
  wait
  exit "$1"
}
trap 'on_signal 143' TERM
trap 'on_signal 130' INT

for s in "${suites[@]}"; do
  suite_spec "$s"
  bin="${bins[$BIN/$FEATURES]}"
  fn=run_suite
  [ "$ROLE" = client ] && fn=run_client_suite
  if [ "${#suites[@]}" -gt 1 ]; then
    ( "$fn" "$s" "$bin" ) > >(sed -u "s/^/[$s] /") 2>&1 &
  else
    ( "$fn" "$s" "$bin" ) &
  fi
  pids+=("$!")
  names+=("$s")
done

# The check.py summary line of a suite's report, or why there is none.
summary_line() {
  local line
  line="$(python3 "$kit/check.py" "$report_root/$1" --quiet 2>/dev/null | tail -n 1)" || true
  printf '%s\n' "${line:-no report}"
}

failed=()
for i in "${!pids[@]}"; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  if [ "$rc" = 0 ]; then
    log "${names[$i]}: passed (report: target/autobahn/${names[$i]}/index.html)"
  else
    log "${names[$i]}: FAILED with status $rc (report: target/autobahn/${names[$i]}/index.html)"
    failed+=("${names[$i]}")
  fi
done
for s in "${names[@]}"; do log "$s: $(summary_line "$s")"; done
[ "${#failed[@]}" = 0 ] || { log "failed suites: ${failed[*]}"; exit 1; }
