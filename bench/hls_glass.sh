#!/usr/bin/env bash
# LL-HLS glass to glass in Chromium with hls.js (issue 15): bench/hls_glass.mjs twice, with the
# dashboard's hls.js config as it is and with liveSyncOnStallIncrease 0 (hls.js otherwise adds
# a second of target latency per stall, up to the target duration). See docs/benchmarks.md.
#   DURATION (30), WARMUP (5), CHROMIUM (/usr/bin/chromium), VIGIL_BIN (build/vigil)
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIL="${VIGIL_BIN:-build/vigil}"
. bench/lib.sh
bench_preflight hls_glass node "${CHROMIUM:-/usr/bin/chromium}"
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -f web/node_modules/hls.js/dist/hls.light.min.js ]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
export VIGIL_BIN="$PWD/$VIGIL"
timeout -k 10 180 node bench/hls_glass.mjs
HLSJS_CONFIG='{"liveSyncOnStallIncrease":0}' timeout -k 10 180 node bench/hls_glass.mjs
