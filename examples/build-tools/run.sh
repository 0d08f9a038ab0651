#!/usr/bin/env bash
# Runs the build-tools example on a kiln server: starts it, triggers the job, follows its
# log, stops it; exits with the build's result. Needs `kiln` on PATH (or KILN=path/to/kiln).
set -euo pipefail
cd "$(dirname "$0")"
kiln=${KILN:-kiln}
"$kiln" server --config kiln.yaml &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
export KILN_SERVER=http://127.0.0.1:8940
# Wait (up to 30 s) for the server.
for _ in $(seq 1 150); do
  if "$kiln" jobs >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
"$kiln" trigger build-tools --follow
