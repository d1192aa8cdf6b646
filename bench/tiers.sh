#!/usr/bin/env bash
# Tier encoding benchmark: CPU per JPEG for 1, 2 and 4 active tiers of a 720p30 H.264 camera,
# vigil against ffmpeg -threads 1 doing the same decode + scale + encode, in one run.
# Environment: see bench/tiers.py. Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight tiers ffmpeg
exec timeout -k 10 "${BENCH_TIMEOUT:-600}" /usr/bin/python3 -B bench/tiers.py
