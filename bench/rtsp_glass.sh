#!/usr/bin/env bash
# RTSP glass to glass (issue 16): one live 720p30 4 Mbit/s RTSP simulator camera read by two
# identical GStreamer readers at once, one straight from the simulator and one through vigil's
# RTSP server; latency = arrival of each decoded picture - the time drawn in its bar, and the
# difference is vigil's share (target: at most 5 ms p50). Over TCP (interleaved) and UDP.
# vigil pinned to core 0, the readers and the simulator to core 1. See docs/benchmarks.md.
#
# Environment (all optional):
#   VIGIL         binary to run (default build/vigil)
#   TRANSPORTS    "tcp tcp-ffmpeg udp" (default); vigil reads the camera over the same
#                 transport (tcp: its own RTSP client, ?client=vigil; tcp-ffmpeg: libavformat's)
#   DURATION, WARMUP   measuring window and warm-up, seconds (20, 4)
#   FPS, KBPS     the camera's frame rate and bitrate (30, 4000)
#   REPEAT        runs of each transport (default 1)
#   WS            0: no WebSocket `source` viewer beside the readers (default 1: one, to
#                 split vigil's share into ingest and send)
#   RESULTS       JSON-lines file to append to (default build/bench/rtsp_glass-DATE.jsonl)
#   SERVER_CPU, PROBE_CPU, SIM_CPU   cores (default 0, 1, and PROBE_CPU)
#   BENCH_TIMEOUT whole-run limit, seconds (default 300)
set -euo pipefail

cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight rtsp_glass
/usr/bin/python3 -c '
import gi
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst
Gst.init(None)
assert Gst.ElementFactory.find("avdec_h264") and Gst.ElementFactory.find("rtspsrc")
' 2>/dev/null ||
    { echo "rtsp_glass: needs python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-libav" \
           "and gstreamer1.0-plugins-good" >&2; exit 1; }

exec timeout -k 10 "${BENCH_TIMEOUT:-300}" /usr/bin/python3 -B bench/rtsp_glass.py
