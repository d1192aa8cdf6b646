#!/usr/bin/env bash
# Ingest benchmark: N always-on 720p30 H.264 RTSP cameras with no viewers (no decoding).
# vigil pinned to core 0, the camera stand-in (bench/ingest_camera.py) to core 1.
# Environment: see bench/ingest.py. Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight ingest ffmpeg
exec timeout -k 10 "${BENCH_TIMEOUT:-900}" /usr/bin/python3 -B bench/ingest.py
