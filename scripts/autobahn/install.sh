#!/usr/bin/env bash
# Makes (once) the Python 2.7 environment that runs Autobahn|Testsuite for
# scripts/autobahn/*, and prints the path of its `wstest` launcher; `python`
# (the environment's interpreter, set up the same way) is beside it.
#
# Usage: scripts/autobahn/install.sh [--force]
#   --force   rebuild the environment even when it is current
#
# Quick and silent (but for the path) when the environment exists and was
# built from the same pins (requirements-py27.txt). Safe to run from several
# processes at once: one builds, the others wait for it.
#
# autobahntestsuite is Python 2 code, so Python 2.7 comes from the first of:
#   1. AUTOBAHN_PYTHON2, a python2.7 executable you name;
#   2. a python2.7 on PATH, or one pyenv has built ($PYENV_ROOT/versions/2.7.*);
#   3. Debian 11 (bullseye)'s python2.7 packages (Debian 12 and later have
#      none), fetched by apt-get from the Debian archive this machine's apt
#      sources name, with a package list private to the cache folder (the
#      system's apt state is not touched), and unpacked there by dpkg -x:
#      nothing is installed system-wide, root is not needed.
# The environment itself is made by virtualenv 20.21.1 (the last release that
# can make Python 2.7 environments; installed from PyPI into a Python 3 venv)
# and filled from PyPI with the pinned requirements-py27.txt. wsaccel is built
# from source, so gcc is needed.
#
# Environment:
#   AUTOBAHN_VENV             cache folder (default: ${XDG_CACHE_HOME:-$HOME/.cache}/ws-rs-autobahn-venv)
#   AUTOBAHN_PYTHON2          python2.7 to use (step 1)
#   AUTOBAHN_PYTHON2_FROM     "debian": skip step 2 (to test the Debian route)
#   AUTOBAHN_DEBIAN_MIRROR    Debian archive URL (default: the first .../debian URI
#                             in /etc/apt/sources.list{,.d/*})
#   AUTOBAHN_DEBIAN_SUITE     the Debian release that still has python2.7 (default bullseye)
#   AUTOBAHN_INSTALL_TIMEOUT  seconds for the whole build (default 900)
#
# Exit status: 0 the environment is ready; 1 it could not be made (why, on stderr).
set -euo pipefail

# Bump when the layout below changes: environments of another layout are rebuilt.
LAYOUT=1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pins="$here/requirements-py27.txt"
cache="${AUTOBAHN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ws-rs-autobahn-venv}"
suite="${AUTOBAHN_DEBIAN_SUITE:-bullseye}"
budget="${AUTOBAHN_INSTALL_TIMEOUT:-900}"

say() { printf 'autobahn install: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

force=0
case "${1:-}" in
  "") ;;
  --force) force=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) fail "unknown argument $1 (see --help)" ;;
esac
[ -f "$pins" ] || fail "missing $pins"
case "$budget" in ''|*[!0-9]*) fail "AUTOBAHN_INSTALL_TIMEOUT must be whole seconds" ;; esac

want="$( { printf 'layout %s\n' "$LAYOUT"; cat "$pins"; } | sha256sum | cut -d' ' -f1)"
stamp="$cache/installed"
wstest="$cache/bin/wstest"
py="$cache/bin/python"

current() {
  [ "$force" = 0 ] && [ "$(head -n 1 "$stamp" 2>/dev/null)" = "$want" ] \
    && [ -x "$wstest" ] && [ -x "$py" ] \
    && timeout 60 "$py" -c 'import autobahntestsuite.fuzzing' >/dev/null 2>&1
}

if current; then
  printf '%s\n' "$wstest"
  exit 0
fi

mkdir -p "$cache" || fail "cannot create $cache"
exec 8>"$cache/lock"
if command -v flock >/dev/null 2>&1; then
  flock -w "$budget" 8 || fail "another install.sh held $cache/lock for ${budget}s"
  if current; then   # built by the process we waited for
    printf '%s\n' "$wstest"
    exit 0
  fi
fi

end=$((SECONDS + budget))
left() {   # seconds left of the budget, at least 1
  local n=$((end - SECONDS))
  [ "$n" -ge 1 ] || n=1
  printf '%s' "$n"
}
logs="$cache/logs"
rm -rf "$stamp" "$cache/bin" "$logs"
mkdir -p "$logs" "$cache/bin"

# Runs a step quietly, its output in logs/NAME.log; on failure shows the
# end of that log and stops.
step() {
  local name="$1"
  shift
  if ! timeout -k 10 "$(left)" "$@" >"$logs/$name.log" 2>&1; then
    tail -n 30 "$logs/$name.log" >&2
    fail "$name failed (log: $logs/$name.log)"
  fi
}

# ------------------------------------------------------------- Python 2.7
# A usable python2.7: 2.7, with the modules pip and the suite need.
py2_usable() {
  timeout 60 "$@" -c 'import sys, ssl, zlib, ctypes, pyexpat; sys.exit(sys.version_info[:2] != (2, 7))' \
    >/dev/null 2>&1
}

py2=""
libpath=""      # library folder of an unpacked Debian python2.7, else empty
incflags=""     # compiler flags for its headers
if [ -n "${AUTOBAHN_PYTHON2:-}" ]; then
  py2_usable "$AUTOBAHN_PYTHON2" || fail "AUTOBAHN_PYTHON2=$AUTOBAHN_PYTHON2 is not a working Python 2.7 (with ssl, zlib, ctypes)"
  py2="$AUTOBAHN_PYTHON2"
elif [ "${AUTOBAHN_PYTHON2_FROM:-}" != debian ]; then
  pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  if command -v pyenv >/dev/null 2>&1; then pyenv_root="$(pyenv root 2>/dev/null || printf '%s' "$pyenv_root")"; fi
  # (pyenv's shim for python2.7 is on PATH but fails unless 2.7 is selected:
  # py2_usable rejects it, and the version folder is tried directly.)
  for cand in "$(command -v python2.7 2>/dev/null || true)" "$pyenv_root"/versions/2.7*/bin/python2.7; do
    if [ -n "$cand" ] && [ -x "$cand" ] && py2_usable "$cand"; then
      py2="$cand"
      break
    fi
  done
fi

if [ -z "$py2" ]; then
  root="$cache/python2.7"
  arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
  triplet="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"
  py2="$root/usr/bin/python2.7"
  libpath="$root/usr/lib/$triplet"
  incflags="-I$root/usr/include/python2.7 -I$root/usr/include/$triplet/python2.7 -I$root/usr/include"
  if ! py2_usable env LD_LIBRARY_PATH="$libpath" "$py2"; then
    command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 \
      || fail "no Python 2.7 found (AUTOBAHN_PYTHON2, PATH, pyenv) and no apt-get/dpkg to fetch Debian's"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f "$keyring" ] || fail "$keyring is missing (Debian package debian-archive-keyring)"
    mirror="${AUTOBAHN_DEBIAN_MIRROR:-}"
    if [ -z "$mirror" ]; then
      # The first URI ending in /debian (not debian-security) this machine's apt uses.
      mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -v '^[[:space:]]*#' | grep -o -E 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
        | head -n 1 | tr -d '[:space:]' || true)"
    fi
    [ -n "$mirror" ] || fail "no Debian archive in /etc/apt/sources.list*: set AUTOBAHN_DEBIAN_MIRROR"
    say "fetching python2.7 from Debian $suite ($mirror) into $root"
    apt="$cache/apt"
    rm -rf "$apt" "$root"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$apt/debs" "$root"
    printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" >"$apt/sources.list"
    aptopt=(-q
      -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
      -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$apt/parts"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
      -o "Acquire::Languages=none" -o "Acquire::Retries=3")
    # As root, apt would hand downloads to its _apt user, which cannot write here.
    [ "$(id -u)" != 0 ] || aptopt+=(-o "APT::Sandbox::User=root")
    step apt-update apt-get "${aptopt[@]}" update
    # The interpreter, its standard library and headers, and the two libraries
    # of bullseye that Debian 12 no longer has (OpenSSL 1.1, libffi 7).
    debs=(python2.7-minimal libpython2.7-minimal libpython2.7-stdlib libpython2.7-dev libpython2.7
          "libssl1.1:$arch" "libffi7:$arch")
    step apt-download bash -c 'cd "$1" && shift && apt-get "$@"' _ "$apt/debs" "${aptopt[@]}" download "${debs[@]}"
    for deb in "$apt/debs"/*.deb; do
      dpkg -x "$deb" "$root" || fail "dpkg -x $deb failed"
    done
    py2_usable env LD_LIBRARY_PATH="$libpath" "$py2" \
      || fail "the unpacked python2.7 ($py2) does not run; see $apt"
    rm -rf "$apt"
  fi
fi
say "python 2.7: $py2"

# ------------------------------------------------ virtualenv (on Python 3)
tools="$cache/tools"
if ! "$tools/bin/virtualenv" --version >/dev/null 2>&1; then
  rm -rf "$tools"
  command -v python3 >/dev/null 2>&1 || fail "python3 is needed (to run virtualenv)"
  step tools-venv python3 -m venv "$tools"
  step tools-pip "$tools/bin/python" -m pip install --quiet --disable-pip-version-check 'virtualenv==20.21.1'
fi

# ------------------------------------------------ the Python 2.7 environment
say "building the autobahntestsuite environment in $cache (a minute or two)"
envdir="$cache/env"
rm -rf "$envdir"
libenv=()
[ -z "$libpath" ] || libenv=(LD_LIBRARY_PATH="$libpath")
step virtualenv env "${libenv[@]}" \
  "$tools/bin/virtualenv" --quiet --no-periodic-update --app-data "$cache/app-data" -p "$py2" "$envdir"
# pip of Python 2.7 carries an old CA bundle: prefer the system's.
if [ -z "${PIP_CERT:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export PIP_CERT=/etc/ssl/certs/ca-certificates.crt
fi
step pip-install env "${libenv[@]}" \
  CFLAGS="${incflags:+$incflags }${CFLAGS:-}" PYTHONWARNINGS=ignore \
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1 PIP_NO_INPUT=1 \
  "$envdir/bin/python" -m pip install -r "$pins"

# Launchers: the environment's python with the library path it needs, and
# quiet about the deprecation warnings every Python 2 import of cryptography
# prints.
launcher() {   # FILE COMMAND...
  local file="$1"
  shift
  {
    printf '#!/bin/sh\n# Made by scripts/autobahn/install.sh (Python 2.7, autobahntestsuite).\n'
    [ -z "$libpath" ] || printf 'LD_LIBRARY_PATH=%q${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\nexport LD_LIBRARY_PATH\n' "$libpath"
    printf 'PYTHONWARNINGS=ignore\nexport PYTHONWARNINGS\n'
    printf 'exec'
    printf ' %q' "$@"
    printf ' "$@"\n'
  } >"$file"
  chmod +x "$file"
}
launcher "$py" "$envdir/bin/python"
launcher "$wstest" "$envdir/bin/python" "$envdir/bin/wstest"

step check-wstest "$wstest" --autobahnversion
step check-imports "$py" -c 'import autobahntestsuite.fuzzing, autobahntestsuite.caseset, wsaccel, ujson'
printf '%s\npython2.7 %s\n' "$want" "$py2" >"$stamp"
say "ready: $(tr '\n' ' ' <"$logs/check-wstest.log")"
printf '%s\n' "$wstest"
