#!/usr/bin/env bash
# Autobahn|Testsuite against a WebSocket server that is already listening on
# loopback: the suite's fuzzing client runs the selected cases, then check.py
# gates the report. See --help, or README.md beside this script.
#
#   scripts/autobahn/server-suite.sh --strict 9001 my-server
exec python3 "$(dirname "${BASH_SOURCE[0]}")/suite.py" server "$@"
