#!/usr/bin/env bash
# Builds the guide (docs/book, an mdBook) into target/book/ (open target/book/index.html).
#
# mdbook is pinned (MDBOOK_VERSION below) and installed on first use with
# `cargo install --locked` into target/tools/, inside the repository, so nothing global is
# needed and nothing outside the work tree changes; later runs reuse it. The first install
# compiles mdbook (a few minutes on two cores); without the `serve` and `watch` features,
# which a build does not need.
#
# The guide's code samples are not checked here: they are doc-tests of the `ws-guide` crate
# (docs/book/Cargo.toml), run by `cargo test --workspace` / `cargo test -p ws-guide`.
#
# Usage: scripts/book.sh
# Environment: MDBOOK, the path of an mdbook binary to use instead of the pinned one.
set -euo pipefail

MDBOOK_VERSION=0.5.4

log() { printf 'book: %s\n' "$*" >&2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/.." && pwd))"
cd "$root"

tools="$root/target/tools"
mdbook="${MDBOOK:-$tools/bin/mdbook}"

if [ -z "${MDBOOK:-}" ] && [ "$("$mdbook" --version 2>/dev/null || true)" != "mdbook v$MDBOOK_VERSION" ]; then
  log "installing mdbook $MDBOOK_VERSION into target/tools (once)"
  cargo install mdbook --locked --version "$MDBOOK_VERSION" \
    --no-default-features --features search --root "$tools"
fi

"$mdbook" build docs/book
# The ws-guide crate's lib.rs sits next to the chapters it includes; mdBook copies every
# non-Markdown file of src/ into the output, and the book has no use for it.
rm -f target/book/lib.rs
log "built target/book/index.html"
