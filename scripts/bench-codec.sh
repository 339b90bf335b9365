#!/usr/bin/env bash
# The in-memory codec benchmark (benches/src/bin/codec.rs): a client → server → client echo
# through each stack's codec over in-memory byte queues (no sockets, no system calls in the
# loop) at 16 B, 1 KiB, 64 KiB and 1 MiB, ws-proto against tungstenite, fastwebsockets,
# tokio-websockets and sockudo-ws. Two measurements: wall-clock time per message (--time) and
# instructions per message under callgrind (--callgrind; the same on a busy machine, which
# the time is not). Prints markdown tables and keeps them in $CARGO_TARGET_DIR/bench-codec/
# (target/bench-codec/ by default), with the callgrind profiles next to them.
#
# Usage: scripts/bench-codec.sh [arguments of the codec binary]
#   (no --time / --callgrind: both; about 2-5 minutes on 2 cores after the build)
# valgrind is installed with apt-get when missing (Debian; needs root), because the callgrind
# counts are the figures to compare on a shared machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"

if ! command -v valgrind >/dev/null 2>&1; then
  echo "bench-codec: valgrind not found, installing it with apt-get" >&2
  # The package lists may be missing or stale in a fresh container: refresh them only then.
  apt-get install -y valgrind || { apt-get update && apt-get install -y valgrind; }
fi

args=("$@")
has_mode=0
for a in "${args[@]}"; do
  case "$a" in --time|--callgrind) has_mode=1 ;; esac
done
[ "$has_mode" = 1 ] || args=(--time --callgrind "${args[@]}")

# The release profile keeps line tables (`debug = 1` in the workspace Cargo.toml), so the
# callgrind profiles name functions and source files for callgrind_annotate.
cargo build --release -p ws-benches --bin codec
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$target/bench-codec"
out="$target/bench-codec/$stamp.md"
"$target/release/codec" "${args[@]}" --cg-dir "$target/bench-codec/$stamp-callgrind" --out "$out"
echo "bench-codec: tables written to $out; profiles in $target/bench-codec/$stamp-callgrind" >&2
