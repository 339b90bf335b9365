#!/usr/bin/env bash
# Checks the interop peers themselves: runs interop/node/client.js and
# interop/python/client.py against both reference echo servers
# (interop/node/echo-server.js, interop/python/echo_server.py), which follow
# the same contract as the Rust echo-server examples. Use it after changing a
# peer or its pinned version; when this passes and the Rust interop test fails,
# the fault is on the Rust side.
#
# Usage: scripts/selftest-interop.sh     (after scripts/setup-interop.sh)
# Prints the peers' output only when something failed; exit status 0 or 1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/.." && pwd))"
cd "$root"
py="interop/python/.venv/bin/python"
if [ ! -f interop/node/node_modules/ws/package.json ] || [ ! -x "$py" ]; then
  echo "selftest-interop: peers not installed: run scripts/setup-interop.sh" >&2
  exit 1
fi

tmp="$(mktemp -d)"
pids=()
# shellcheck disable=SC2317
cleanup() {
  local p
  for p in "${pids[@]-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {  # start NAME COMMAND... ; sets port
  local name="$1" deadline=$((SECONDS + 20))
  shift
  port="$(free_port)"
  "$@" "$port" >"$tmp/$name.log" 2>&1 </dev/null &
  pids+=("$!")
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "${pids[-1]}" 2>/dev/null; then
      cat "$tmp/$name.log" >&2
      echo "selftest-interop: the $name echo server did not start" >&2
      exit 1
    fi
    sleep 0.1
  done
}

start node-server node interop/node/echo-server.js
node_port="$port"
start python-server "$py" interop/python/echo_server.py
py_port="$port"

failed=0
for server in "node-server:$node_port" "python-server:$py_port"; do
  for peer in node python; do
    url="ws://127.0.0.1:${server#*:}"
    if [ "$peer" = node ]; then cmd=(node interop/node/client.js "$url"); else cmd=("$py" interop/python/client.py "$url"); fi
    if timeout 150 env PYTHONDONTWRITEBYTECODE=1 "${cmd[@]}" >"$tmp/out" 2>&1; then
      echo "selftest-interop: ok $peer peer against the ${server%%:*}: $(tail -n 1 "$tmp/out")"
    else
      failed=1
      echo "selftest-interop: FAIL $peer peer against the ${server%%:*}:"
      cat "$tmp/out"
    fi
  done
done
exit "$failed"
