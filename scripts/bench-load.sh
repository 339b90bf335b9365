#!/usr/bin/env bash
# The head-to-head loopback benchmark (benches/src/bin/load.rs): load cells, permessage-deflate
# echo and server memory per idle connection, ours against tokio-tungstenite, fastwebsockets,
# tokio-websockets, sockudo-ws, Node `ws` and a raw TCP echo. Prints markdown tables and keeps
# them in $CARGO_TARGET_DIR/bench-load/ (target/bench-load/ by default).
#
# Usage: scripts/bench-load.sh [--quick] [other arguments of the load binary]
#   (no arguments: --all, about 25 minutes on 2 cores; --quick: 2-3 minutes)
# Node `ws` is the one installed by scripts/setup-interop.sh; without it the node server is
# skipped. Run on an otherwise idle machine: the numbers are only comparable within one run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
args=("$@")
has_part=0
for a in "${args[@]}"; do
  case "$a" in --all|--load|--compression|--memory) has_part=1 ;; esac
done
[ "$has_part" = 1 ] || args=(--all "${args[@]}")
cargo build --release -p ws-benches --bin load
mkdir -p "$target/bench-load"
out="$target/bench-load/$(date -u +%Y%m%dT%H%M%SZ).md"
"$target/release/load" "${args[@]}" --out "$out"
echo "bench-load: tables written to $out" >&2
