#!/usr/bin/env bash
# Runs ws-proto's tests (unit, integration, fuzz-corpus replay and doc tests) under Miri, the
# interpreter that detects undefined behaviour (in ws-proto's dependencies: ws-proto itself is
# `forbid(unsafe_code)`). Not part of the default test run: it takes tens of minutes.
#
# Usage: scripts/miri.sh [ARGS...]      ARGS go to `cargo miri test -p ws-proto`, e.g.
#        scripts/miri.sh --lib          only the unit tests
#        scripts/miri.sh --test all -- deflate
#        scripts/miri.sh --features zlib-rs
#
# Under Miri (cfg(miri)) the proptest suites run a few cases each and the tests that would take
# hours interpreted (megabyte messages, decompression bombs, long loops) are ignored; the list is
# in fuzz/README.md. Needs a nightly toolchain with the miri and rust-src components (installed
# with rustup when missing). MIRIFLAGS is passed through (default: none, i.e. isolation on).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed | grep -q '^miri'; then
  rustup component add --toolchain nightly miri rust-src
fi

start=$SECONDS
rc=0
cargo +nightly miri test -p ws-proto "$@" || rc=$?
printf 'miri: exit status %s after %dm%02ds\n' "$rc" "$(((SECONDS - start) / 60))" "$(((SECONDS - start) % 60))"
exit "$rc"
