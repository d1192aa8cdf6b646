#!/usr/bin/env bash
# Ingest benchmark: N always-on 720p30 H.264 RTSP cameras with no viewers (no decoding).
# vigil pinned to core 0, the camera stand-in (bench/ingest_camera.py) to core 1.
# Environment: see bench/ingest.py. Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
for tool in taskset ffmpeg /usr/bin/python3; do
    command -v "$tool" >/dev/null || { echo "ingest: $tool is missing" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "ingest: needs 2 cores" >&2; exit 1; }
echo "ingest: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
     "kernel $(uname -r), Debian $(cat /etc/debian_version 2>/dev/null || echo '?')" >&2
exec timeout -k 10 "${BENCH_TIMEOUT:-900}" /usr/bin/python3 -B bench/ingest.py
