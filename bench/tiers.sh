#!/usr/bin/env bash
# Tier encoding benchmark: CPU per JPEG for 1, 2 and 4 active tiers of a 720p30 H.264 camera,
# vigil against ffmpeg -threads 1 doing the same decode + scale + encode, in one run.
# Environment: see bench/tiers.py. Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
for tool in taskset ffmpeg /usr/bin/python3; do
    command -v "$tool" >/dev/null || { echo "tiers: $tool is missing" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "tiers: needs 2 cores" >&2; exit 1; }
echo "tiers: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
     "kernel $(uname -r), Debian $(cat /etc/debian_version 2>/dev/null || echo '?')" >&2
exec timeout -k 10 "${BENCH_TIMEOUT:-600}" /usr/bin/python3 -B bench/tiers.py
