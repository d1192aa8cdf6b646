#!/usr/bin/env bash
# Weak-link benchmark (issue 19): one adaptive viewer of the 720p30 detailed test camera over
# emulated links (build/linkemu between two network namespaces), for each link of issue 19's
# table, with the server on bbr and on cubic, as JPEG `auto`, source `auto` (codecs=avc1) and
# MJPEG `auto`; then the live-switch recovery scenario. Needs root and /dev/net/tun.
#
# Environment (all optional):
#   VIGIL, LINKEMU  binaries (default build/vigil, build/linkemu)
#   SECONDS_PER_LINK  seconds per run (default 30)
#   RESULTS         JSON file to write (default build/bench/weaklink-DATE.json)
#   BENCH_TIMEOUT   whole-run limit, seconds (default 2400)
# Extra arguments go to bench/weaklink.py (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
export LINKEMU="${LINKEMU:-build/linkemu}"
. bench/lib.sh
bench_preflight weaklink ip ss
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
    echo "weaklink: needs root and /dev/net/tun (network namespaces and TUN devices)" >&2
    exit 1
fi
[ -x "$LINKEMU" ] || { echo "weaklink: no $LINKEMU; build first (make build)" >&2; exit 1; }
mkdir -p build/bench
RESULTS="${RESULTS:-build/bench/weaklink-$(date +%Y%m%d-%H%M%S).json}"
exec timeout -k 20 "${BENCH_TIMEOUT:-2400}" /usr/bin/python3 -B bench/weaklink.py \
    --check --recovery --modes jpeg,source,mjpeg --seconds "${SECONDS_PER_LINK:-30}" \
    --json "$RESULTS" "$@"
