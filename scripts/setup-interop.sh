#!/usr/bin/env bash
# Installs the third-party peers the tests run against:
#   - Node `ws`, pinned in interop/node/package.json + package-lock.json,
#     installed with `npm ci` into interop/node/node_modules;
#   - Python `websockets`, pinned in interop/python/requirements.txt,
#     installed into the venv interop/python/.venv;
#   - Autobahn|Testsuite (Python 2.7), by scripts/autobahn/install.sh, cached
#     in ~/.cache/ws-rs-autobahn-venv (AUTOBAHN_VENV); Python 2.7 from pyenv
#     when it has one, else Debian 11's python2.7 packages fetched by apt-get
#     and unpacked into that folder;
#   - Debian's Chromium (/usr/bin/chromium), by scripts/setup-chromium.sh,
#     for ws-blocking/tests/chromium.rs.
#
# Usage: scripts/setup-interop.sh [--no-autobahn] [--no-chromium] [--force]
#   --no-autobahn  no Autobahn|Testsuite
#   --no-chromium  no Chromium
#   --force        reinstall the Node and Python peers even when up to date
#
# Idempotent: a component already installed from the same pins is left alone,
# and when everything is in place nothing is printed. Otherwise one line per
# component being installed; on failure, the installer's output and an error.
#
# Environment: PYTHON (default python3, 3.11 or newer); AUTOBAHN_VENV and the
# other settings of scripts/autobahn/install.sh (see its --help).
set -euo pipefail

log() { printf 'setup-interop: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/.." && pwd))"
PYTHON="${PYTHON:-python3}"

autobahn=1
chromium=1
force=0
for arg in "$@"; do
  case "$arg" in
    --no-autobahn) autobahn=0 ;;
    --no-chromium) chromium=0 ;;
    --force) force=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $arg (see --help)" ;;
  esac
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# One setup at a time per checkout (test-all.sh and a developer may race).
if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/ws-rs-setup-interop-$(printf '%s' "$root" | cksum | cut -d' ' -f1).lock"
  flock -w 1200 9 || die "timed out waiting for another setup-interop.sh to finish"
fi

# Hash of the given files plus extra words, to tell whether an install is current.
fingerprint() {
  { cat "$@"; printf '%s\n' "${extra:-}"; } | sha256sum | cut -d' ' -f1
}

# Runs a command quietly with a time limit; shows its output if it fails.
quiet() {
  local limit="$1" what="$2"
  shift 2
  if ! timeout "$limit" "$@" >"$tmp/out.log" 2>&1; then
    cat "$tmp/out.log" >&2
    die "$what failed: $*"
  fi
}

# ------------------------------------------------------------------ Node ws
node_dir="$root/interop/node"
command -v node >/dev/null 2>&1 || die "node is not on PATH (Node.js 18 or newer is needed)"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH (it comes with Node.js)"
[ -f "$node_dir/package-lock.json" ] || die "missing $node_dir/package-lock.json"
extra="node $(node --version)"
want="$(fingerprint "$node_dir/package.json" "$node_dir/package-lock.json")"
stamp="$node_dir/node_modules/.interop-stamp"
if [ "$force" = 1 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
  || [ ! -f "$node_dir/node_modules/ws/package.json" ]; then
  log "installing Node ws ($(cd "$node_dir" && node -p "require('./package.json').dependencies.ws")) with npm ci"
  (cd "$node_dir" && quiet 600 "npm ci" npm ci --no-audit --no-fund --loglevel=error)
  (cd "$node_dir" && quiet 60 "loading ws" node -e "require('ws')")
  printf '%s\n' "$want" >"$stamp"
fi

# ----------------------------------------------------------- Python websockets
py_dir="$root/interop/python"
venv="$py_dir/.venv"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is not on PATH (Python 3.11 or newer is needed; set PYTHON)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is $("$PYTHON" --version 2>&1); the pinned websockets needs Python 3.11 or newer (set PYTHON)"
extra="$("$PYTHON" -c 'import sys; print(sys.version)')"
want="$(fingerprint "$py_dir/requirements.txt")"
stamp="$venv/.interop-stamp"
if [ "$force" = 1 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$venv/bin/python" ]; then
  log "installing Python $(grep -v '^#' "$py_dir/requirements.txt" | tr '\n' ' ')into interop/python/.venv"
  rm -rf "$venv"
  quiet 300 "creating the venv (Debian: apt-get install python3-venv)" "$PYTHON" -m venv "$venv"
  quiet 600 "pip install" env PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$venv/bin/python" -m pip install --quiet -r "$py_dir/requirements.txt"
  quiet 60 "importing websockets" "$venv/bin/python" -c 'import websockets.asyncio.client'
  printf '%s\n' "$want" >"$stamp"
fi

# ------------------------------------------------------ Autobahn|Testsuite
if [ "$autobahn" = 1 ]; then
  installer="$here/autobahn/install.sh"
  [ -x "$installer" ] || die "$installer is missing or not executable"
  cache="${AUTOBAHN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ws-rs-autobahn-venv}"
  if [ ! -x "$cache/bin/wstest" ]; then
    log "installing Autobahn|Testsuite (Python 2.7 environment in $cache; takes a minute or two)"
  fi
  # install.sh has its own time limit (AUTOBAHN_INSTALL_TIMEOUT, default 900 s).
  if ! "$installer" >"$tmp/autobahn.out" 2>"$tmp/autobahn.log"; then
    cat "$tmp/autobahn.log" >&2
    die "$installer failed"
  fi
fi

# ------------------------------------------------------------------ Chromium
if [ "$chromium" = 1 ]; then
  # Quiet when /usr/bin/chromium is there; else apt-get (root or sudo -n).
  bash "$here/setup-chromium.sh" || die "installing Chromium failed (scripts/setup-chromium.sh)"
fi
