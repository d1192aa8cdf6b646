#!/usr/bin/python3
"""Glass to glass: latency of `source` viewers (the camera's own H.264) against JPEG viewers
of the same camera in one server run, at 1 and 500 viewers; run by bench/glass_to_glass.sh
(docs/benchmarks.md).

The camera is the live simulator (tests/integration/rtsp_sim.py: 720p30, 4 Mbit/s, x264
zerolatency), whose pictures carry their drawing time in the timestamp bar. Latency is the
probe's arrival time minus the frame header's capture_us, which vigil takes from the
camera's clock (RTCP sender reports: here the simulator's wall clock when it pushed the
picture to its encoder). For JPEG frames the probe also reads the bar (arrival minus the
time drawn in the picture), which includes the camera's own encoding. server-added is
arrival minus ingest_us (vigil's share plus the last hop).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import passlib as pl  # noqa: E402

VIEWERS = [int(x) for x in os.environ.get("VIEWERS", "1 500").replace(",", " ").split()]
DURATION = pl.env_num("DURATION", 10.0)
WARMUP = pl.env_num("WARMUP", 2.0)
CONNECT_RATE = pl.env_num("CONNECT_RATE", 500.0)
JPEG_TIER = os.environ.get("JPEG_TIER", "native")
KBPS = int(pl.env_num("KBPS", 4000, int))
PATHS = os.environ.get("PATHS", f"source {JPEG_TIER}").split()


def hist(h):
    return f"{pl.fmt(h['p50'])} / {pl.fmt(h['p99'])}" if h and h.get("n") else "–"


def main():
    results = pl.results_path("glass_to_glass")
    rows = []
    sim = server = None
    try:
        sim = pl.Sim(["--width", 1280, "--height", 720, "--fps", 30, "--kbps", KBPS])
        server = pl.Server({"cam": sim.urls[0]})
        url = server.ws_url("cam")
        pl.run_probe(server, [url], 1, JPEG_TIER, 2, 1, record=False)
        why_not = pl.source_check(server, "cam") if "source" in PATHS else None
        for n in VIEWERS:
            for tier in PATHS:
                if tier == "source" and why_not:
                    r = {"bench": "glass_to_glass", "tier": tier, "viewers": n,
                         "not_measured": why_not, "load_before": pl.loadavg()}
                else:
                    time.sleep(1)
                    r = pl.run_probe(server, [url], n, tier, DURATION, WARMUP, CONNECT_RATE)
                    r["bench"] = "glass_to_glass"
                    p = r["probe"]
                    pl.log(f"{tier} n={n}: latency p50/p99 {hist(p['latency_ms'])} ms, "
                           f"stamp {hist(p['stamp_latency_ms'])} ms, server-added "
                           f"{hist(p['server_latency_ms'])} ms, fps {p['fps_median']}, server "
                           f"{pl.fmt(r.get('server_pct_core'), '{:.0f}')}% core, load "
                           f"{r['load_before']}, other processes "
                           f"{pl.others_text(r['other_processes'])}")
                pl.append(results, r)
                rows.append(r)
    finally:
        if server:
            server.stop()
        if sim:
            sim.stop()
    print("| viewers | path | latency p50 / p99 ms (capture_us) | stamp p50 / p99 ms "
          "| server-added p50 / p99 ms | fps median | server % core | load avg (1/5/15) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("not_measured"):
            print(f"| {r['viewers']} | {r['tier']} | not measured yet ({r['not_measured']}) "
                  "| | | | | |")
            continue
        p = r["probe"]
        print(f"| {r['viewers']} | {r['tier']} | {hist(p['latency_ms'])} "
              f"| {hist(p['stamp_latency_ms'])} | {hist(p['server_latency_ms'])} "
              f"| {pl.fmt(p['fps_median'])} | {pl.fmt(r.get('server_pct_core'), '{:.0f}')} "
              f"| {' '.join(str(x) for x in r['load_before'])} |")
    print(f"\nraw results: {results}")


if __name__ == "__main__":
    main()
