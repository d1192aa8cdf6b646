#!/usr/bin/env bash
# Glass-to-glass benchmark: one live 720p30 4 Mbit/s RTSP simulator camera (its pictures
# carry their drawing time), `source` viewers against JPEG viewers at 1 and 500 viewers in
# one server run: latency p50/p99. vigil on core 0, the probe and the simulator on core 1.
#
# Environment (all optional):
#   VIGIL         binary to run (default build/vigil)
#   VIEWERS       viewer counts (default "1 500")
#   PATHS         tiers measured, in order (default "source native")
#   JPEG_TIER     the JPEG tier compared (default native)
#   KBPS          the camera's bitrate (default 4000)
#   DURATION, WARMUP, CONNECT_RATE   probe window, warm-up (s), connects/s (10, 2, 500)
#   RESULTS       JSON-lines file to append to (default build/bench/glass_to_glass-DATE.jsonl)
#   SERVER_CPU, PROBE_CPU, SIM_CPU   cores (default 0, 1, and PROBE_CPU)
#   BENCH_TIMEOUT whole-run limit, seconds (default 300)
set -euo pipefail

cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight glass_to_glass
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null ||
    { echo "glass_to_glass: needs python3-gi and gir1.2-gst-rtsp-server-1.0" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec timeout -k 10 "${BENCH_TIMEOUT:-300}" /usr/bin/python3 -B bench/glass_to_glass.py
