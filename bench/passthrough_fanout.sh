#!/usr/bin/env bash
# Passthrough fan-out benchmark: one replayed 720p30 4 Mbit/s RTSP camera, N `source` viewers
# (the camera's own H.264) against N JPEG viewers in the same server run; vigil pinned to
# core 0, `vigil probe` and the simulator to core 1. See docs/benchmarks.md.
#
# Environment (all optional):
#   VIGIL         binary to run (default build/vigil)
#   VIEWERS       viewers per path (default 1000)
#   PATHS         tiers measured, in order (default "native source")
#   JPEG_TIER     the JPEG tier compared (default native)
#   KBPS          the camera's bitrate (default 4000)
#   DURATION, WARMUP, CONNECT_RATE   probe window, warm-up (s), connects/s (10, 2, 500)
#   RESULTS       JSON-lines file to append to (default build/bench/passthrough_fanout-DATE.jsonl)
#   SERVER_CPU, PROBE_CPU, SIM_CPU   cores (default 0, 1, and PROBE_CPU)
#   BENCH_TIMEOUT whole-run limit, seconds (default 300)
set -euo pipefail

cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight passthrough_fanout
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null ||
    { echo "passthrough_fanout: needs python3-gi and gir1.2-gst-rtsp-server-1.0" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec timeout -k 10 "${BENCH_TIMEOUT:-300}" /usr/bin/python3 -B bench/passthrough_fanout.py
