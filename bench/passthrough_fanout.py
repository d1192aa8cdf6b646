#!/usr/bin/python3
"""Passthrough fan-out: N `source` viewers (the camera's own H.264) against N JPEG viewers of
the same camera, in one server run; run by bench/passthrough_fanout.sh (docs/benchmarks.md).

The camera is tests/integration/rtsp_sim.py --replay (720p30, 4 Mbit/s, a keyframe every 2 s,
one shared media: the simulator costs little). vigil runs on SERVER_CPU, the probe and the
simulator on PROBE_CPU. For each path it reports the median fps (and the fps 99% of viewers
reached), latency, the server's CPU per delivered frame (process and loop thread, from
/proc/PID/stat over the probe's window / frames the probe received) and bytes/s per viewer
against the camera's input bitrate. The issue's target: source at most half the JPEG path's
CPU per frame, at a median of 30 fps.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import passlib as pl  # noqa: E402

VIEWERS = int(pl.env_num("VIEWERS", 1000, int))
DURATION = pl.env_num("DURATION", 10.0)
WARMUP = pl.env_num("WARMUP", 2.0)
CONNECT_RATE = pl.env_num("CONNECT_RATE", 500.0)
JPEG_TIER = os.environ.get("JPEG_TIER", "native")
KBPS = int(pl.env_num("KBPS", 4000, int))
PATHS = os.environ.get("PATHS", f"{JPEG_TIER} source").split()


def row_line(r, camera_bps):
    if r.get("not_measured"):
        return (f"| {r['tier']} | {r['viewers']} | not measured yet ({r['not_measured']}) "
                "| | | | | | |")
    p, c = r["probe"], r.get("cpu_us_per_frame", {})
    vb = p["viewer_bytes_per_s"]["median"]
    return (f"| {r['tier']} | {r['viewers']} | {pl.fmt(p['fps_median'])} ({pl.fmt(p['fps_p1'])}) "
            f"| {pl.fmt(p['latency_ms']['p50'])} / {pl.fmt(p['latency_ms']['p99'])} "
            f"| {pl.fmt(r.get('server_pct_core'), '{:.0f}')} "
            f"| {pl.fmt(c.get('process'), '{:.1f}')} / {pl.fmt(c.get('loop'), '{:.1f}')} "
            f"| {vb / 1e6:.3f} | {pl.fmt(100 * vb / camera_bps if camera_bps else None, '{:.0f}')}% "
            f"| {p['skips']} / {p['drops']} "
            f"| {' '.join(str(x) for x in r['load_before'])} |")


def main():
    results = pl.results_path("passthrough_fanout")
    rows = []
    clip = tempfile.NamedTemporaryFile(prefix="vigil-bench-clip-", suffix=".h264", delete=False)
    clip.close()
    sim = server = None
    try:
        kbps = pl.make_clip(clip.name, kbps=KBPS)
        camera_bps = kbps * 1000 / 8 if kbps else None
        pl.log(f"clip: {kbps} kbit/s; load average {pl.loadavg()}")
        sim = pl.Sim(["--replay", "--mounts", "1", "--width", 1280, "--height", 720,
                      "--fps", 30, "--clip", clip.name])
        server = pl.Server({"cam": sim.urls[0]})
        url = server.ws_url("cam")
        # Start the camera (and, for JPEG, its decoder and encoders) before measuring.
        pl.run_probe(server, [url], 1, JPEG_TIER, 2, 1, record=False)
        why_not = pl.source_check(server, "cam") if "source" in PATHS else None
        sim_cpu0, t0 = sim.stats()["cpu_s"], time.monotonic()
        for tier in PATHS:
            if tier == "source" and why_not:
                r = {"bench": "passthrough_fanout", "tier": tier, "viewers": VIEWERS,
                     "not_measured": why_not, "load_before": pl.loadavg()}
                pl.log(f"source: not measured: {why_not}")
            else:
                time.sleep(1)  # the previous run's connections finish closing
                r = pl.run_probe(server, [url], VIEWERS, tier, DURATION, WARMUP, CONNECT_RATE,
                                 extra=["--stamp-rate", "0"])  # a replayed bar is stale
                r["bench"] = "passthrough_fanout"
                r["camera_bytes_per_s"] = camera_bps
                p = r["probe"]
                pl.log(f"{tier} n={VIEWERS}: fps {p['fps_median']} (p1 {p['fps_p1']}), "
                       f"{pl.fmt(r['cpu_us_per_frame']['process'])} µs/frame "
                       f"(loop {pl.fmt(r['cpu_us_per_frame']['loop'])}), server "
                       f"{r['server_pct_core']:.0f}% core, probe {p['probe_cpu_pct']}%, "
                       f"errors {p['errors']}, load {r['load_before']}, other processes "
                       f"{pl.others_text(r['other_processes'])}")
            pl.append(results, r)
            rows.append(r)
        span = time.monotonic() - t0
        sim_pct = 100 * (sim.stats()["cpu_s"] - sim_cpu0) / span
    finally:
        if server:
            server.stop()
        if sim:
            sim.stop()
        os.unlink(clip.name)
    print("| path | viewers | fps median (p1) | latency p50 / p99 ms | server % core "
          "| server CPU µs per delivered frame: process / loop | MB/s per viewer (median) "
          "| of camera input | skips / frames skipped | load avg (1/5/15 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(row_line(r, camera_bps))
    got = {r["tier"]: r for r in rows if not r.get("not_measured")}
    if "source" in got and JPEG_TIER in got:
        a = got["source"]["cpu_us_per_frame"]["process"]
        b = got[JPEG_TIER]["cpu_us_per_frame"]["process"]
        if a and b:
            print(f"\nsource / {JPEG_TIER} CPU per delivered frame: {a / b:.2f} (target <= 0.5)")
    print(f"\ncamera: {kbps} kbit/s replayed clip; simulator {sim_pct:.0f}% of a core; "
          f"raw results: {results}")


if __name__ == "__main__":
    main()
