#!/usr/bin/env bash
# Writes PNG screenshots of the web UI's pages to docs/screenshots/ (or the directory given):
# the browser tests (crates/kiln-cli/tests/browser) drive the real server in headless Chromium
# and save a screenshot of each page they reach when KILN_SCREENSHOTS is set (phone-*.png at a
# phone's size, 390x844, through Chromium's mobile emulation).
# Needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-docs/screenshots}")"
mkdir -p "$out"
KILN_SCREENSHOTS="$out" cargo test -p kiln-cli --test browser -- --test-threads=1
ls -1 "$out"
