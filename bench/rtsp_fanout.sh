#!/usr/bin/env bash
# RTSP fan-out benchmark: one replayed 720p30 4 Mbit/s RTSP camera, N RTSP/TCP readers
# (build/rtsp_load) against N WebSocket `source` viewers (`vigil probe`) in the same server
# run; vigil pinned to core 0, the clients and the simulator to core 1. See docs/benchmarks.md.
#
# Environment (all optional):
#   VIGIL         binary to run (default build/vigil); RTSP_LOAD (default next to it)
#   READERS       reader counts, in order (default "1 100 500"; 1 is added: the RSS base)
#   WS            0: RTSP readers only (default 1: the WebSocket source path too)
#   KBPS          the camera's bitrate (default 4000)
#   DURATION, WARMUP, CONNECT_RATE   window, warm-up (s), connects/s (8, 2, 250)
#   RESULTS       JSON-lines file to append to (default build/bench/rtsp_fanout-DATE.jsonl)
#   SERVER_CPU, PROBE_CPU, SIM_CPU   cores (default 0, 1, and PROBE_CPU)
#   BENCH_TIMEOUT whole-run limit, seconds (default 300)
set -euo pipefail

cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
export RTSP_LOAD="${RTSP_LOAD:-$(dirname "$VIGIL")/rtsp_load}"
. bench/lib.sh
bench_preflight rtsp_fanout "$RTSP_LOAD"
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null ||
    { echo "rtsp_fanout: needs python3-gi and gir1.2-gst-rtsp-server-1.0" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec timeout -k 10 "${BENCH_TIMEOUT:-300}" /usr/bin/python3 -B bench/rtsp_fanout.py
