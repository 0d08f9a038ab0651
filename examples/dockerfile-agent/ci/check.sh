#!/bin/sh
# The Lint stage's check: runs in the image built from ci/Dockerfile.build.
set -eu
echo "checking $(ls | wc -l) entries of the workspace"
