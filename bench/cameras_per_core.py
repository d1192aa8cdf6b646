#!/usr/bin/python3
"""Cameras per core: N replayed 720p30 H.264 cameras (tests/integration/rtsp_sim.py --replay
--mounts N: one pre-encoded clip, one shared media), one viewer each; run by
bench/cameras_per_core.sh (docs/benchmarks.md).

For each N in COUNTS a fresh simulator and a fresh `vigil serve` (SERVER_CPU) with N cameras,
then one `vigil probe -n N URL0 .. URLN-1` (PROBE_CPU): one viewer per camera. A step passes
when the median fps is at least MIN_FPS and the server used at most 100% of one core; the
run stops after the first step that fails (STOP_AT_FAIL=0: it measures every count). The
issue's target: at least 100 cameras with a `source` viewer each on one core at 30 fps.
TIER=native (or another JPEG tier) measures the decoding path instead, with smaller COUNTS.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import passlib as pl  # noqa: E402

TIER = os.environ.get("TIER", "source")
COUNTS = [int(x) for x in os.environ.get("COUNTS", "25 50 100 150 200").replace(",", " ").split()]
MIN_FPS = pl.env_num("MIN_FPS", 29.5)
DURATION = pl.env_num("DURATION", 8.0)
WARMUP = pl.env_num("WARMUP", 4.0)  # every camera's RTSP session must be up by then
CONNECT_RATE = pl.env_num("CONNECT_RATE", 100.0)
KBPS = int(pl.env_num("KBPS", 4000, int))
# 0: go on through every count after a failing step (the whole curve), 1: stop there.
STOP_AT_FAIL = int(pl.env_num("STOP_AT_FAIL", 1, int))


def main():
    results = pl.results_path("cameras_per_core")
    clip = tempfile.NamedTemporaryFile(prefix="vigil-bench-clip-", suffix=".h264", delete=False)
    clip.close()
    rows, best = [], None
    try:
        kbps = pl.make_clip(clip.name, kbps=KBPS)
        pl.log(f"clip: {kbps} kbit/s")
        for n in COUNTS:
            sim = pl.Sim(["--replay", "--mounts", n, "--width", 1280, "--height", 720,
                          "--fps", 30, "--clip", clip.name])
            server = None
            try:
                server = pl.Server({f"cam{i}": u for i, u in enumerate(sim.urls)})
                if TIER == "source":
                    why_not = pl.source_check(server, "cam0")
                    if why_not:
                        r = {"bench": "cameras_per_core", "tier": TIER, "cameras": n,
                             "not_measured": why_not, "load_before": pl.loadavg()}
                        pl.append(results, r)
                        rows.append(r)
                        pl.log(f"n={n}: not measured: {why_not}")
                        break
                urls = [server.ws_url(f"cam{i}") for i in range(n)]
                sim_cpu0, t0 = sim.stats()["cpu_s"], time.monotonic()
                r = pl.run_probe(server, urls, n, TIER, DURATION, WARMUP, CONNECT_RATE,
                                 extra=["--stamp-rate", "0"])
                st = sim.stats()
                r.update({"bench": "cameras_per_core", "cameras": n, "camera_kbps": kbps,
                          "sim_pct_core": 100 * (st["cpu_s"] - sim_cpu0) / (time.monotonic() - t0),
                          "sim_sessions": st["sessions"]})
            finally:
                if server:
                    server.stop()
                sim.stop()
            p = r["probe"]
            r["ok"] = (p["fps_median"] >= MIN_FPS and r.get("server_pct_core") is not None
                       and r["server_pct_core"] <= 100 and p["errors"] == 0)
            pl.append(results, r)
            rows.append(r)
            pl.log(f"n={n} {TIER}: fps {p['fps_median']} (p1 {p['fps_p1']}), server "
                   f"{pl.fmt(r.get('server_pct_core'), '{:.0f}')}% core (loop "
                   f"{pl.fmt(r.get('loop_pct_core'), '{:.0f}')}%), core busy "
                   f"{r.get('core_busy_pct')}%, sim {r['sim_pct_core']:.0f}%, probe "
                   f"{p['probe_cpu_pct']}%, errors {p['errors']}, load {r['load_before']}, "
                   f"other processes {pl.others_text(r['other_processes'])}")
            if not r["ok"]:
                if STOP_AT_FAIL:
                    break
            elif best is None or all(x.get("ok") for x in rows):
                best = n  # the largest N below which every step passed
            time.sleep(1)
    finally:
        os.unlink(clip.name)
    print("| cameras | path | fps median (p1) | latency p50 / p99 ms | server % core (loop) "
          "| core busy % | µs per frame | skips | sim % core | load avg (1/5/15) | passes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("not_measured"):
            print(f"| {r['cameras']} | {r['tier']} | not measured yet ({r['not_measured']}) "
                  "| | | | | | | | |")
            continue
        p = r["probe"]
        print(f"| {r['cameras']} | {r['tier']} | {pl.fmt(p['fps_median'])} ({pl.fmt(p['fps_p1'])}) "
              f"| {pl.fmt(p['latency_ms']['p50'])} / {pl.fmt(p['latency_ms']['p99'])} "
              f"| {pl.fmt(r.get('server_pct_core'), '{:.0f}')} "
              f"({pl.fmt(r.get('loop_pct_core'), '{:.0f}')}) | {pl.fmt(r.get('core_busy_pct'), '{:.0f}')} "
              f"| {pl.fmt((r.get('cpu_us_per_frame') or {}).get('process'), '{:.0f}')} "
              f"| {p['skips']} | {r['sim_pct_core']:.0f} "
              f"| {' '.join(str(x) for x in r['load_before'])} | {'yes' if r['ok'] else 'no'} |")
    print(f"\nlargest N passing (median >= {MIN_FPS} fps, server <= 100% of core "
          f"{pl.SERVER_CPU}): {best if best is not None else 'none'}; raw results: {results}")


if __name__ == "__main__":
    main()
