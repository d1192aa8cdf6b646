#!/usr/bin/env bash
# Cameras per core: N replayed 720p30 4 Mbit/s H.264 RTSP cameras (one shared simulator
# media), one `source` viewer each; the whole vigil process pinned to core 0, the probe and
# the simulator to core 1. Finds the largest N with a median of 29.5 fps or more.
# See docs/benchmarks.md.
#
# Environment (all optional):
#   VIGIL         binary to run (default build/vigil)
#   COUNTS        camera counts, in order (default "25 50 100 150 200"; stops at the first
#                 that fails)
#   TIER          what each viewer asks for (default source; a JPEG tier measures decoding)
#   MIN_FPS       median fps a step needs (default 29.5)
#   STOP_AT_FAIL  1 (default): stop after the first failing step; 0: measure every count
#   DURATION, WARMUP, CONNECT_RATE   probe window, warm-up (s), connects/s (8, 4, 100)
#   RESULTS       JSON-lines file to append to (default build/bench/cameras_per_core-DATE.jsonl)
#   SERVER_CPU, PROBE_CPU, SIM_CPU   cores (default 0, 1, and PROBE_CPU)
#   BENCH_TIMEOUT whole-run limit, seconds (default 600)
set -euo pipefail

cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight cameras_per_core
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null ||
    { echo "cameras_per_core: needs python3-gi and gir1.2-gst-rtsp-server-1.0" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec timeout -k 10 "${BENCH_TIMEOUT:-600}" /usr/bin/python3 -B bench/cameras_per_core.py
