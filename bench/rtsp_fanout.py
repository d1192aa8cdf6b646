#!/usr/bin/python3
"""RTSP fan-out: N RTSP readers (RTP/AVP/TCP interleaved) of one camera against N WebSocket
`source` viewers of the same camera, side by side in one server run; run by
bench/rtsp_fanout.sh (docs/benchmarks.md, issue 16's Benchmarks).

The camera is tests/integration/rtsp_sim.py --replay (720p30, 4 Mbit/s, a keyframe every
2 s), as in bench/passthrough_fanout.py. vigil runs on SERVER_CPU; the readers (build/rtsp_load,
an epoll client in C), `vigil probe` and the simulator on PROBE_CPU. For each N it reports the
readers' median fps (and the fps 99% of readers reached), the server's CPU per delivered frame
(process and loop thread, from /proc/PID/stat over the client's own window / frames the client
received), RSS per reader ((VmRSS max in the window - that of the 1-reader run) / N), the RTP
sequence gaps the readers saw (on TCP a gap is a server-side skip), and the same CPU per frame
for N WebSocket `source` viewers. Targets: 500 readers at 30 fps on one core, and RTSP CPU per
delivered frame at most 1.5x the WebSocket path's.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import passlib as pl  # noqa: E402
import ws_fanout as wf  # noqa: E402

READERS = [int(x) for x in os.environ.get("READERS", "1 100 500").replace(",", " ").split()]
DURATION = pl.env_num("DURATION", 8.0)
WARMUP = pl.env_num("WARMUP", 2.0)
CONNECT_RATE = pl.env_num("CONNECT_RATE", 250.0)
KBPS = int(pl.env_num("KBPS", 4000, int))
LOAD = os.environ.get("RTSP_LOAD", os.path.join(os.path.dirname(pl.VIGIL) or ".", "rtsp_load"))
WITH_WS = os.environ.get("WS", "1") != "0"


def rtsp_port(server):
    with open(server.log.name) as f:
        m = re.search(r"rtsp listening on rtsp://127\.0\.0\.1:(\d+)/", f.read())
    if m is None:
        raise SystemExit(f"the server logged no RTSP listener; log {server.log.name}")
    return int(m.group(1))


def rtsp_metrics(server):
    """The server's RTSP counters and the rtsp output's keyframe skips, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("vigil_rtsp_") or (line.startswith("vigil_output_keyframe_skips")
                                              and 'output="rtsp"' in line):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def run_load(server, url, n):
    """One rtsp_load pinned to PROBE_CPU while the server is sampled as bench/ws_fanout.py
    does; the row has the client's JSON, the server's CPU over the client's window, per
    delivered frame, and VmRSS in the window."""
    cmd = ["taskset", "-c", pl.PROBE_CPU, LOAD, "-n", str(n), "-r", f"{CONNECT_RATE:g}",
           "-w", f"{WARMUP:g}", "-d", f"{DURATION:g}", url]
    limit = n / CONNECT_RATE + 15 + WARMUP + DURATION + 15
    load0 = pl.loadavg()
    m0 = rtsp_metrics(server)
    samples, system = [], []
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        pr = subprocess.Popen(cmd, stdout=out, stderr=err)
        i = 0
        while pr.poll() is None and time.monotonic() < t0 + limit:
            s = wf.snapshot(server.pid)
            if s is not None:
                samples.append(s)
            if i % 10 == 0:
                system.append((time.monotonic(), wf.all_tasks()))
            i += 1
            time.sleep(wf.SAMPLE_S)
        s = wf.snapshot(server.pid)  # one after the window's end, for the interpolation
        if s is not None:
            samples.append(s)
        if pr.poll() is None:
            pl.log(f"rtsp_load still running after {limit:.0f} s: stopping it")
            pr.kill()
            pr.wait()
        out.seek(0)
        err.seek(0)
        text, errtext = out.read().strip(), err.read().strip()
    if errtext:
        pl.log("rtsp_load stderr: " + errtext)
    try:
        res = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"rtsp_load gave no JSON (status {pr.returncode}): {text!r}")
    m1 = rtsp_metrics(server)
    ws = t0 + res["ramp_s"] + res["warmup_s"]
    we = ws + res["duration_s"]
    inwin = [s for s in samples if ws <= s["t"] <= we]
    if len(samples) < 2 or samples[0]["t"] > ws or samples[-1]["t"] < we:
        pl.log(f"warning: samples do not cover the window (n={n})")
    cpu = wf.window_cpu(samples, server.pid, ws, we) if len(samples) >= 2 else None
    frames = res["frames"]
    row = {"bench": "rtsp_fanout", "path": "rtsp", "viewers": n, "load_cmd": " ".join(cmd),
           "load_status": pr.returncode, "load": res, "load_before": load0,
           "load_after": pl.loadavg(), "server_cpu": cpu,
           "rss_kb_max": max((s["rss_kb"] for s in inwin if s["rss_kb"]), default=None),
           "metrics_delta": {k: v - m0.get(k, 0) for k, v in m1.items()},
           "other_processes": wf.others(system, ws, we, {server.pid, pr.pid, os.getpid()})}
    if cpu is not None:
        loop = cpu["threads"].get("loop", {"cpu_s": 0.0})
        row["server_pct_core"] = cpu["pct_core"]
        row["cpu_us_per_frame"] = {
            "process": 1e6 * cpu["cpu_s"] / frames if frames else None,
            "loop": 1e6 * loop["cpu_s"] / frames if frames else None,
        }
        row["core_busy_pct"] = cpu["core_busy_pct"].get("cpu" + pl.SERVER_CPU)
    return row


def rtsp_line(r, base_rss):
    L, c = r["load"], r.get("cpu_us_per_frame", {})
    n = r["viewers"]
    rss = r.get("rss_kb_max")
    per = (rss - base_rss) / n if n > 1 and rss is not None and base_rss is not None else None
    skips = sum(v for k, v in r["metrics_delta"].items() if k.startswith("vigil_output_keyframe"))
    return (f"| RTSP/TCP | {n} | {pl.fmt(L['fps_median'])} ({pl.fmt(L['fps_p1'])}) "
            f"| {L['failed']} / {L['starved']} "
            f"| {pl.fmt(r.get('server_pct_core'), '{:.0f}')} "
            f"| {pl.fmt(c.get('process'), '{:.1f}')} / {pl.fmt(c.get('loop'), '{:.1f}')} "
            f"| {pl.fmt(per)} | {L['seq_gaps']} / {skips:.0f} "
            f"| {L['bytes_per_s'] / max(n, 1) / 1e6:.3f} "
            f"| {' '.join(str(x) for x in r['load_before'])} |")


def ws_line(r):
    p, c = r["probe"], r.get("cpu_us_per_frame", {})
    return (f"| WS source | {r['viewers']} | {pl.fmt(p['fps_median'])} ({pl.fmt(p['fps_p1'])}) "
            f"| {p['errors']} / – "
            f"| {pl.fmt(r.get('server_pct_core'), '{:.0f}')} "
            f"| {pl.fmt(c.get('process'), '{:.1f}')} / {pl.fmt(c.get('loop'), '{:.1f}')} "
            f"| – | – / {p['skips']} "
            f"| {p['viewer_bytes_per_s']['median'] / 1e6:.3f} "
            f"| {' '.join(str(x) for x in r['load_before'])} |")


def main():
    if not os.access(LOAD, os.X_OK):
        raise SystemExit(f"rtsp_fanout: no {LOAD}; build first (ninja -C build rtsp_load)")
    readers = READERS if 1 in READERS else [1] + READERS  # the 1-reader run: the RSS base
    results = pl.results_path("rtsp_fanout")
    rows = []
    clip = tempfile.NamedTemporaryFile(prefix="vigil-bench-clip-", suffix=".h264", delete=False)
    clip.close()
    sim = server = None
    try:
        kbps = pl.make_clip(clip.name, kbps=KBPS)
        pl.log(f"clip: {kbps} kbit/s; load average {pl.loadavg()}")
        sim = pl.Sim(["--replay", "--mounts", "1", "--width", 1280, "--height", 720,
                      "--fps", 30, "--clip", clip.name])
        server = pl.Server({"cam": sim.urls[0]}, extra=["--rtsp-listen", "127.0.0.1:0"])
        url = f"rtsp://127.0.0.1:{rtsp_port(server)}/cameras/cam"
        why_not = pl.source_check(server, "cam")  # also starts the camera
        if why_not:
            raise SystemExit(f"rtsp_fanout: the camera's packet lane is not live: {why_not}")
        sim_cpu0, t0 = sim.stats()["cpu_s"], time.monotonic()
        for n in readers:
            time.sleep(1)  # the previous run's connections finish closing
            r = run_load(server, url, n)
            L = r["load"]
            pl.log(f"rtsp n={n}: fps {L['fps_median']} (p1 {L['fps_p1']}), "
                   f"{pl.fmt(r.get('cpu_us_per_frame', {}).get('process'))} µs/frame, server "
                   f"{pl.fmt(r.get('server_pct_core'), '{:.0f}')}% core, client "
                   f"{L['client_cpu_pct']}%, failed {L['failed']} ({L['first_failure']}), "
                   f"gaps {L['seq_gaps']}, RSS {r['rss_kb_max']} kB, other processes "
                   f"{pl.others_text(r['other_processes'])}")
            pl.append(results, r)
            rows.append(r)
            if not WITH_WS:
                continue
            time.sleep(1)
            w = pl.run_probe(server, [server.ws_url("cam")], n, "source", DURATION, WARMUP,
                             CONNECT_RATE, extra=["--stamp-rate", "0"])
            w["bench"], w["path"] = "rtsp_fanout", "ws_source"
            p = w["probe"]
            pl.log(f"ws source n={n}: fps {p['fps_median']} (p1 {p['fps_p1']}), "
                   f"{pl.fmt(w.get('cpu_us_per_frame', {}).get('process'))} µs/frame, server "
                   f"{pl.fmt(w.get('server_pct_core'), '{:.0f}')}% core, errors {p['errors']}")
            pl.append(results, w)
            rows.append(w)
        sim_pct = 100 * (sim.stats()["cpu_s"] - sim_cpu0) / (time.monotonic() - t0)
    finally:
        if server:
            server.stop()
        if sim:
            sim.stop()
        os.unlink(clip.name)
    base = next((r["rss_kb_max"] for r in rows if r["path"] == "rtsp" and r["viewers"] == 1),
                None)
    print("| path | readers | fps median (p1) | failed / starved | server % core "
          "| server CPU µs per delivered frame: process / loop | RSS per reader KiB "
          "| readers with RTP gaps / keyframe skips | MB/s per reader "
          "| load avg (1/5/15 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(rtsp_line(r, base) if r["path"] == "rtsp" else ws_line(r))
    print()
    for n in readers:
        a = next((r for r in rows if r["path"] == "rtsp" and r["viewers"] == n), None)
        b = next((r for r in rows if r["path"] == "ws_source" and r["viewers"] == n), None)
        pa = (a or {}).get("cpu_us_per_frame", {}).get("process")
        pb = (b or {}).get("cpu_us_per_frame", {}).get("process")
        if pa and pb:
            print(f"n={n}: RTSP / WebSocket source CPU per delivered frame: {pa / pb:.2f} "
                  "(target <= 1.5)")
    print(f"\ncamera: {kbps} kbit/s replayed clip; simulator {sim_pct:.0f}% of a core; "
          f"RSS per reader = (VmRSS max in the window - {base} kB at 1 reader) / N; "
          f"raw results: {results}")


if __name__ == "__main__":
    main()
