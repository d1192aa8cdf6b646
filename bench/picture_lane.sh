#!/usr/bin/env bash
# Picture lane at the floor (issue 14, item 5): per 720p picture, decode + vigil's range pass
# + JPEG against decode + a JPEG encode from YUV (the floor), and the old swscale path, side
# by side in one process (bench/picture_lane.c), on core 0, 3 runs, medians. Also tjbench's
# own encode-from-YUV figure on a picture of the same clip, as a cross-check of the floor.
#   RUNS=3 QUALITY=75 bash bench/picture_lane.sh       Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIL="${VIGIL:-build/vigil}"
. bench/lib.sh
bench_preflight picture_lane ffmpeg
LANE="${LANE:-build/picture_lane}"
[ -x "$LANE" ] || { echo "picture_lane: no $LANE; build first (make build)" >&2; exit 1; }
RUNS="${RUNS:-3}"
QUALITY="${QUALITY:-75}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 10 s of 720p30 at 4 Mbit/s, limited range (as H.264 cameras send it), detailed content.
ffmpeg -v error -y -f lavfi -i "mandelbrot=size=1280x720:rate=30" -t 10 -c:v libx264 \
    -preset veryfast -b:v 4M -maxrate 4M -bufsize 8M -g 60 -bf 0 -pix_fmt yuv420p \
    -color_range tv -colorspace bt709 -color_primaries bt709 -color_trc bt709 "$tmp/clip.mp4"

for i in $(seq "$RUNS"); do
    taskset -c 0 "$LANE" "$tmp/clip.mp4" "$QUALITY" "$tmp/picture.ppm" 2>/dev/null \
        | tee "$tmp/run$i.txt" | grep -v '^{' >&2
    grep '^{' "$tmp/run$i.txt" >> "$tmp/runs.jsonl"
done

/usr/bin/python3 - "$tmp/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "avx2"}
print("picture_lane: medians of %d runs, ms per 720p picture (thread CPU time), AVX2 %s"
      % (len(runs), runs[0]["avx2"]))
for k in ("decode_ms", "range_pass_ms", "range_pass_portable_ms", "swscale_range_ms",
          "encode_after_pass_ms", "encode_after_swscale_ms", "encode_floor_ms",
          "scale_range_568x320_ms", "scale_then_pass_568x320_ms",
          "scale_range_854x480_ms", "scale_then_pass_854x480_ms", "b_ms", "c_ms"):
    print("  %-28s %.3f" % (k, med[k]))
print("  (b)/(a+d) decode+pass+JPEG against decode+JPEG from YUV:    %.3f  (target <= 1.10)"
      % med["b_ratio"])
print("  (c)/(a+d) decode+swscale+JPEG against decode+JPEG from YUV: %.3f" % med["c_ratio"])
print("  JPEG bytes per picture: pass %.0f, swscale %.0f, limited range as is %.0f"
      % (med["jpeg_bytes_pass"], med["jpeg_bytes_swscale"], med["jpeg_bytes_limited"]))
print(json.dumps({"medians": med, "runs": len(runs)}))
PY

# tjbench times by the wall clock: on a shared machine its figure is scaled by the share of
# the core it got (user+sys CPU over elapsed, from /usr/bin/time) to compare with the above.
if command -v tjbench >/dev/null && [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%e %U %S" -o "$tmp/tjtime" taskset -c 0 tjbench "$tmp/picture.ppm" \
        "$QUALITY" -subsamp 420 -yuv -fastdct -componly -nowrite -benchtime 3 -warmup 1 \
        > "$tmp/tjbench.txt" 2>&1
    /usr/bin/python3 - "$tmp/tjbench.txt" "$tmp/tjtime" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
m = re.search(r"Comp from YUV --> Frame rate:\s+([0-9.]+) fps", out)
size = re.search(r"Comp from YUV[\s\S]*?Output image size:\s+(\d+)", out)
elapsed, user, sys_s = (float(v) for v in open(sys.argv[2]).read().split()[-3:])
if m is None:
    print("tjbench: no 'Comp from YUV' figure:\n" + out[-500:])
    sys.exit(0)
ms = 1000 / float(m.group(1))
share = (user + sys_s) / elapsed
print("tjbench -yuv -fastdct Q%s on picture 150 (RGB, its own YUV): %.3f ms wall per JPEG, "
      "%d bytes; CPU share %.2f -> %.3f ms of CPU" % (re.search(r"Q(\d+)", out).group(1), ms,
      int(size.group(1)), share, ms * share))
PY
fi
