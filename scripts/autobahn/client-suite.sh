#!/usr/bin/env bash
# Autobahn|Testsuite against a WebSocket client: starts the suite's fuzzing
# server on loopback, runs the client command against it, then check.py gates
# the report. See --help, or README.md beside this script.
#
#   scripts/autobahn/client-suite.sh --strict --port 9002 --agent my-client -- ./my-client
exec python3 "$(dirname "${BASH_SOURCE[0]}")/suite.py" client "$@"
