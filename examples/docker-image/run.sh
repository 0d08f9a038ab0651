#!/usr/bin/env bash
# Runs the docker-image example with `kiln run` in this directory: needs the docker CLI and a
# daemon it reaches (kiln says so and stops when there is none), and a registry to push to:
#   REGISTRY=http://127.0.0.1:5000 REGISTRY_PASSWORD=... ./run.sh
# Needs `kiln` on PATH (or KILN=path/to/kiln).
set -euo pipefail
cd "$(dirname "$0")"
kiln=${KILN:-kiln}
export REGISTRY_PASSWORD=${REGISTRY_PASSWORD:-example-registry-password}
exec "$kiln" run --credentials credentials.yaml -p "REGISTRY=${REGISTRY:-https://registry.example.com}" Jenkinsfile
