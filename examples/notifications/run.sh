#!/usr/bin/env bash
# Runs the notifications example on a kiln server against the stand-ins of peers.py:
# starts both, triggers the job, follows its log, stops both; exits with the build's result.
# Needs `kiln` on PATH (or KILN=path/to/kiln) and python3.
set -euo pipefail
cd "$(dirname "$0")"
kiln=${KILN:-kiln}
python3 peers.py &
peers=$!
"$kiln" server --config kiln.yaml &
server=$!
trap 'kill "$server" "$peers" 2>/dev/null || true' EXIT
export KILN_SERVER=http://127.0.0.1:8930
# Wait (up to 30 s) for the stand-ins' ports and the server.
for _ in $(seq 1 150); do
  if (exec 3<>/dev/tcp/127.0.0.1/8925) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/8931) 2>/dev/null &&
    "$kiln" jobs >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
"$kiln" trigger notifications --follow
