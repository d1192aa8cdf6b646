#!/usr/bin/env bash
# WebSocket fan-out benchmark: one 720p30 test camera, N WebSocket viewers of the native
# tier; vigil pinned to core 0, `vigil probe` to core 1. Reports fps, latency, server CPU
# per delivered frame (whole process, without the test camera, loop thread only), memory
# per viewer and the probe's own CPU. See docs/benchmarks.md.
#
# Environment (all optional):
#   VIGIL         binary to run (default build/vigil)
#   VIEWERS       viewer counts (default "1 10 100 500 1000"; a 1-viewer run is added
#                 if missing: it is the memory baseline)
#   DURATION      probe window, seconds (default 10)
#   WARMUP        probe warm-up after the last connect, seconds (default 2)
#   CONNECT_RATE  probe connects per second (default 500)
#   REPEAT        runs of the whole list (default 1; the table shows medians)
#   RESULTS       JSON-lines file to append to (default build/bench/ws_fanout-DATE.jsonl)
#   SERVER_CPU, PROBE_CPU  cores (default 0 and 1)
#   BENCH_TIMEOUT whole-run limit, seconds (default 600)
set -euo pipefail

cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight ws_fanout
# 1000 viewers need more than the usual 1024 descriptors. vigil and the probe raise their
# soft limit to the hard one themselves; this covers builds from before vigil did.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec timeout -k 10 "${BENCH_TIMEOUT:-600}" /usr/bin/python3 -B bench/ws_fanout.py
