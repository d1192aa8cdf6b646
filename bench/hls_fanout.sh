#!/usr/bin/env bash
# LL-HLS fan-out benchmark (issue 15): one replayed 720p30 4 Mbit/s RTSP camera with a 1 s GOP,
# N LL-HLS players (build/hls_load: blocking reload + part over keep-alive) on vigil pinned to
# core 0, the players and the simulator on core 1; then the memory an HLS window costs per
# camera (HLS_CAMS cameras, with and without one player each). See docs/benchmarks.md.
#
# Environment (all optional):
#   VIGIL         binary to run (default build/vigil); HLS_LOAD (default next to it)
#   CLIENTS       player counts, in order (default "1 1000"; e.g. "1 100 1000")
#   HLS_CAMS      cameras for the memory figure (default 4; 0 skips it)
#   KBPS, GOP     the camera's bitrate and keyframe interval in frames (4000, 30)
#   DURATION, WARMUP, CONNECT_RATE   window, warm-up (s), connects/s (10, 2, 250)
#   RESULTS       JSON-lines file to append to (default build/bench/hls_fanout-DATE.jsonl)
#   SERVER_CPU, PROBE_CPU, SIM_CPU   cores (default 0, 1, and PROBE_CPU)
#   BENCH_TIMEOUT whole-run limit, seconds (default 300)
set -euo pipefail

cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
export HLS_LOAD="${HLS_LOAD:-$(dirname "$VIGIL")/hls_load}"
. bench/lib.sh
bench_preflight hls_fanout "$HLS_LOAD"
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null ||
    { echo "hls_fanout: needs python3-gi and gir1.2-gst-rtsp-server-1.0" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec timeout -k 10 "${BENCH_TIMEOUT:-300}" /usr/bin/python3 -B bench/hls_fanout.py
