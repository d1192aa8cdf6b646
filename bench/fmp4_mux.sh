#!/usr/bin/env bash
# LL-HLS part muxing: vigil's media/fmp4 against libavformat's fragmented mp4 muxer, side by
# side in one process (bench/fmp4_mux.c), on 1080p30 H.264 and H.265 camera-like clips
# (4 Mbit/s, 2 s GOP, no B-frames), 200 ms parts, on core 0, RUNS runs, medians.
#   RUNS=3 ROUNDS=20 bash bench/fmp4_mux.sh       Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight fmp4_mux ffmpeg
MUX="${MUX:-build/fmp4_mux}"
[ -x "$MUX" ] || { echo "fmp4_mux: no $MUX; build first (make build)" >&2; exit 1; }
RUNS="${RUNS:-3}"
ROUNDS="${ROUNDS:-20}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 10 s of detailed, moving content at a camera's bit rate; x264's and x265's defaults put
# SPS/PPS (and VPS) in band before every keyframe, as cameras do.
ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" -t 10 -c:v libx264 \
    -preset veryfast -b:v 4M -maxrate 4M -bufsize 8M -g 60 -bf 0 -f h264 "$tmp/clip.h264"
ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" -t 10 -c:v libx265 \
    -preset ultrafast -b:v 4M -g 60 -x265-params bframes=0:log-level=error -f hevc \
    "$tmp/clip.hevc"

for clip in clip.h264 clip.hevc; do
    for i in $(seq "$RUNS"); do
        taskset -c 0 "$MUX" "$tmp/$clip" 200 "$ROUNDS" | tee "$tmp/$clip.run$i.txt" \
            | grep -v '^{' >&2
        grep '^{' "$tmp/$clip.run$i.txt" >> "$tmp/runs.jsonl"
    done
done

/usr/bin/python3 - "$tmp/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print("fmp4_mux: medians of the runs, 200 ms parts (thread CPU time)")
print("  %-6s %-12s %12s %16s %8s %12s" % ("codec", "muxer", "ns/part", "ns/part median",
                                          "ns/AU", "bytes/part"))
for codec in ("h264", "h265"):
    rs = [r for r in runs if r["codec"] == codec]
    med = lambda k: statistics.median(r[k] for r in rs)
    for name, key in (("vigil", "vigil"), ("libavformat", "lavf")):
        print("  %-6s %-12s %12.0f %16.0f %8.0f %12.0f" % (
            codec, name, med(key + "_ns_part"), med(key + "_ns_part_median"),
            med(key + "_ns_au"), med(key + "_bytes_part")))
    print("  %-6s libavformat/vigil per part: %.2f" % (
        codec, med("lavf_ns_part") / med("vigil_ns_part")))
PY
