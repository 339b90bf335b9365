#!/usr/bin/env bash
# Installs Debian's Chromium (package `chromium`, /usr/bin/chromium) for the
# browser interop test (ws-blocking/tests/chromium.rs).
#
# Usage: scripts/setup-chromium.sh
#
# Idempotent and quiet: when /usr/bin/chromium is there and answers
# --version, nothing is done and nothing is printed. Otherwise `apt-get update`
# (when the package lists do not know `chromium` yet) and
# `apt-get install -y --no-install-recommends chromium`, as root (or through
# `sudo -n` when not root); one line says so. On failure: apt's output and an
# error, exit status 1.
#
# Environment: CHROMIUM (default /usr/bin/chromium): a browser already
# installed elsewhere; then this script only checks that it runs.
set -euo pipefail

log() { printf 'setup-chromium: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Runs a command quietly with a time limit; shows its output if it fails.
quiet() {
  local limit="$1" what="$2"
  shift 2
  if ! timeout -k 10 "$limit" "$@" >"$tmp/out.log" 2>&1; then
    tail -n 40 "$tmp/out.log" >&2
    die "$what failed: $*"
  fi
}

works() { timeout -k 5 60 "$CHROMIUM" --version >/dev/null 2>&1; }

if [ -x "$CHROMIUM" ] && works; then
  exit 0
fi
if [ "$CHROMIUM" != /usr/bin/chromium ]; then
  die "CHROMIUM=$CHROMIUM is not an executable browser (unset CHROMIUM to install Debian's chromium)"
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install Chromium yourself (Debian/Ubuntu package chromium) or set CHROMIUM"
as_root=()
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
    die "installing chromium needs root: run 'sudo apt-get install chromium' or this script as root"
  fi
  as_root=(sudo -n)
fi

# One apt at a time (a developer and test-all.sh may race; apt's own lock
# would make the second one fail rather than wait).
if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/ws-rs-setup-chromium.lock"
  flock -w 1200 9 || die "timed out waiting for another setup-chromium.sh to finish"
  if [ -x "$CHROMIUM" ] && works; then exit 0; fi
fi

log "installing Debian's chromium with apt-get (takes a minute or two)"
export DEBIAN_FRONTEND=noninteractive
candidate="$(apt-cache policy chromium 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
  quiet 600 "apt-get update" "${as_root[@]}" apt-get update
fi
quiet 1200 "apt-get install chromium" "${as_root[@]}" apt-get install -y --no-install-recommends chromium
[ -x "$CHROMIUM" ] || die "apt-get installed chromium but $CHROMIUM is missing"
works || die "$CHROMIUM --version failed after the install"
