#!/usr/bin/python3
"""Tier encoding benchmark (issue 4): CPU per encoded JPEG for 1, 2 and 4 active tiers of a
1280x720 30 fps H.264 camera, against ffmpeg doing the same decode, scale and JPEG encode in
the same run. Run by bench/tiers.sh; results in docs/benchmarks.md.

The camera is a file source looping a 20 s clip of ffmpeg's testsrc2 (moving, detailed),
encoded once with libx264 (no B-frames, a keyframe every 2 s). vigil runs pinned to
SERVER_CPU with a ladder of low (568x320 q60), medium (854x480 q70), high (1280x720 q80) and
native (1280x720 q85); for K tiers, K `vigil probe` viewers (one per tier, pinned to
PROBE_CPU) keep those tiers active. Frames and bytes encoded come from vigil's /metrics over
the measuring window, CPU from /proc/PID/stat over the same window.

ffmpeg runs on the same core: `ffmpeg -threads 1 -filter_threads 1 -re -stream_loop -1 -i
clip.mp4 -filter_complex split=K,scale=...:flags=bilinear,format=yuvj420p -c:v mjpeg -q:v Q`
with one output per tier, so it decodes once and scales and encodes per tier as vigil does.
Its frames are counted from the JPEG start markers it wrote.

Environment: VIGIL (build/vigil), DURATION (15), WARMUP (4), SERVER_CPU (0), PROBE_CPU (1),
RESULTS (JSON-lines file). Standard library only; every wait has a deadline.
"""
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request

from benchlib import append_results, cpu_seconds, free_port, log

VIGIL = os.environ.get("VIGIL", "build/vigil")
DURATION = float(os.environ.get("DURATION", "15"))
WARMUP = float(os.environ.get("WARMUP", "4"))
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
PROBE_CPU = os.environ.get("PROBE_CPU", "1")
RESULTS = os.environ.get("RESULTS", "")

# name, width, height, vigil quality, ffmpeg -q:v giving JPEGs of about the same size
TIERS = [
    ("low", 568, 320, 60, 8),
    ("medium", 854, 480, 70, 6),
    ("high", 1280, 720, 80, 4),
    ("native", 1280, 720, 85, 3),
]
SETS = {1: ["native"], 2: ["low", "native"], 4: ["low", "medium", "high", "native"]}


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^vigil_tier_encoded_(frames|bytes)_total\{camera="cam",tier="(\w+)"\} (\S+)$',
                         text, re.M):
        out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def make_clip(tmp):
    path = os.path.join(tmp, "clip.mp4")
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                    "-i", "testsrc2=size=1280x720:rate=30", "-t", "20", "-c:v", "libx264",
                    "-preset", "veryfast", "-g", "60", "-bf", "0", "-pix_fmt", "yuv420p",
                    "-b:v", "4M", path], check=True, timeout=300)
    return path


def run_vigil(clip, k, tmp):
    port = free_port()
    cfg = os.path.join(tmp, "tiers-%d.yaml" % k)
    with open(cfg, "w") as f:
        f.write('listen: "127.0.0.1:%d"\nlog_level: warn\ncameras:\n  - id: cam\n'
                '    url: "file://%s"\n    always_on: true\n    tiers:\n' % (port, clip))
        for name, w, h, q, _ in TIERS:
            size = {"low": "low", "medium": "medium", "high": "high", "native": "native"}[name]
            f.write("      - {name: %s, size: %s, fps: 30, quality: %d}\n" % (name, size, q))
    logf = open(os.path.join(tmp, "vigil-%d.log" % k), "wb")
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, VIGIL, "serve", "--no-auth", "--db", ":memory:", "-c", cfg],
                            stdout=logf, stderr=subprocess.STDOUT)
    probes = []
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                metrics(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("tiers: vigil did not start (see %s)" % logf.name)
                time.sleep(0.1)
        for name in SETS[k]:
            probes.append(subprocess.Popen(
                ["taskset", "-c", PROBE_CPU, VIGIL, "probe", "--json", "--stamp-rate", "0",
                 "-n", "1", "--warmup", "0", "-d", str(WARMUP + DURATION + 5),
                 "ws://127.0.0.1:%d/api/v1/cameras/cam/ws?tier=%s" % (port, name)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        time.sleep(WARMUP)
        m0, c0, t0 = metrics(port), cpu_seconds(proc.pid), time.monotonic()
        time.sleep(DURATION)
        m1, c1, t1 = metrics(port), cpu_seconds(proc.pid), time.monotonic()
        frames = sum(m1[("frames", n)] - m0.get(("frames", n), 0) for n in SETS[k])
        nbytes = sum(m1[("bytes", n)] - m0.get(("bytes", n), 0) for n in SETS[k])
        return {"cpu_pct": (c1 - c0) / (t1 - t0) * 100, "frames": frames,
                "fps": frames / (t1 - t0), "bytes_per_frame": nbytes / max(frames, 1),
                "cpu_ms_per_frame": (c1 - c0) * 1000 / max(frames, 1)}
    finally:
        for p in probes:
            p.terminate()
            p.wait(10)
        proc.terminate()
        proc.wait(10)
        logf.close()


def run_ffmpeg(clip, k, tmp):
    chosen = [t for t in TIERS if t[0] in SETS[k]]
    labels = "".join("[s%d]" % i for i in range(k))
    graph = "[0:v]split=%d%s" % (k, labels) if k > 1 else "[0:v]null[s0]"
    args = ["taskset", "-c", SERVER_CPU, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel",
            "error", "-threads", "1", "-filter_threads", "1", "-re", "-stream_loop", "-1",
            "-i", clip]
    outs = []
    for i, (name, w, h, _, qv) in enumerate(chosen):
        graph += ";[s%d]scale=%d:%d:flags=bilinear,format=yuvj420p[o%d]" % (i, w, h, i)
        path = os.path.join(tmp, "ff-%d-%s.mjpeg" % (k, name))
        outs.append(path)
    args += ["-filter_complex", graph]
    for i, path in enumerate(outs):
        args += ["-map", "[o%d]" % i, "-c:v", "mjpeg", "-q:v", str(chosen[i][4]), "-f", "mjpeg",
                 "-y", path]
    proc = subprocess.Popen(args)
    try:
        time.sleep(WARMUP)
        n0 = sum(count_jpegs(p) for p in outs)
        s0 = sum(os.path.getsize(p) for p in outs)
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(DURATION)
        c1, t1 = cpu_seconds(proc.pid), time.monotonic()
        n1 = sum(count_jpegs(p) for p in outs)
        s1 = sum(os.path.getsize(p) for p in outs)
    finally:
        proc.terminate()
        proc.wait(10)
    frames = n1 - n0
    return {"cpu_pct": (c1 - c0) / (t1 - t0) * 100, "frames": frames, "fps": frames / (t1 - t0),
            "bytes_per_frame": (s1 - s0) / max(frames, 1),
            "cpu_ms_per_frame": (c1 - c0) * 1000 / max(frames, 1)}


def count_jpegs(path):
    """JPEG start markers written so far (FF D8 FF cannot occur inside entropy-coded data)."""
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\xff\xd8\xff")
    except OSError:
        return 0


def main():
    if not os.access(VIGIL, os.X_OK):
        raise SystemExit("tiers: no %s; build first or set VIGIL" % VIGIL)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vigil-tiers-") as tmp:
        clip = make_clip(tmp)
        for k in (1, 2, 4):
            v = run_vigil(clip, k, tmp)
            f = run_ffmpeg(clip, k, tmp)
            row = {"tiers": k, "vigil": v, "ffmpeg": f,
                   "ratio": v["cpu_ms_per_frame"] / f["cpu_ms_per_frame"]}
            rows.append(row)
            log(json.dumps(row))
    print("| active tiers | vigil CPU (% of a core) | vigil JPEG/s | vigil ms per JPEG "
          "| vigil KiB per JPEG | ffmpeg CPU | ffmpeg JPEG/s | ffmpeg ms per JPEG "
          "| ffmpeg KiB per JPEG | vigil / ffmpeg per JPEG |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        v, f = r["vigil"], r["ffmpeg"]
        print("| %d (%s) | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.2f | %.1f | %.2f |"
              % (r["tiers"], ", ".join(SETS[r["tiers"]]), v["cpu_pct"], v["fps"],
                 v["cpu_ms_per_frame"], v["bytes_per_frame"] / 1024, f["cpu_pct"], f["fps"],
                 f["cpu_ms_per_frame"], f["bytes_per_frame"] / 1024, r["ratio"]))
    append_results(RESULTS, rows)


if __name__ == "__main__":
    main()
