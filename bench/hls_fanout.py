#!/usr/bin/python3
"""LL-HLS fan-out: N LL-HLS players of one camera, and the memory an HLS window costs per
camera; run by bench/hls_fanout.sh (docs/benchmarks.md, issue 15's Benchmarks).

Fan-out. The camera is tests/integration/rtsp_sim.py --replay (720p30, KBPS, a keyframe every
GOP frames: 1 s by default, as issue 15 asks). vigil runs on SERVER_CPU; the players
(build/hls_load, an epoll client in C: blocking reload of the hinted part, then the part, over
one keep-alive connection each) and the simulator on PROBE_CPU. For each N in CLIENTS it
reports the server's CPU over the client's own window (/proc/PID/stat, sampled as
bench/ws_fanout.py does) per request and per delivered MB, requests/s, the players' median
parts/s against the parts published, how many kept up (every part published in the window,
each within PART-HOLD-BACK of the first player having it), lag percentiles, and VmRSS.

Memory per camera. K = HLS_CAMS cameras (one simulator, K mounts of the same clip) in a new
server: first each camera with one WebSocket `source` viewer (`vigil probe`: the camera runs,
its packet lane and GOP cache are filled, no HLS), then the same viewers plus one hls_load
player per camera. (VmRSS max with HLS - VmRSS max without) / K is what the HLS muxer, its
window and a player cost per camera; vigil_hls_window_bytes (in /metrics) says what the window
itself holds.
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

CLIENTS = [int(x) for x in os.environ.get("CLIENTS", "1 1000").replace(",", " ").split()]
DURATION = pl.env_num("DURATION", 10.0)
WARMUP = pl.env_num("WARMUP", 2.0)
CONNECT_RATE = pl.env_num("CONNECT_RATE", 250.0)
KBPS = int(pl.env_num("KBPS", 4000, int))
GOP = int(pl.env_num("GOP", 30, int))
HLS_CAMS = int(pl.env_num("HLS_CAMS", 4, int))
LOAD = os.environ.get("HLS_LOAD", os.path.join(os.path.dirname(pl.VIGIL) or ".", "hls_load"))


def metrics(server, prefix="vigil_hls_"):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def warm(server, cam):
    """The first playlist request starts the camera and its muxer; vigil holds it until the
    first whole segment (at most 15 s)."""
    url = f"http://127.0.0.1:{server.port}/cameras/{cam}/hls/index.m3u8"
    with urllib.request.urlopen(url, timeout=20) as r:
        if r.status != 200 or b"#EXT-X-PRELOAD-HINT" not in r.read():
            raise SystemExit(f"hls_fanout: {url} gave no LL-HLS playlist")
    return url


def load_cmd(url, n, duration, warmup):
    return ["taskset", "-c", pl.PROBE_CPU, LOAD, "-n", str(n), "-r", f"{CONNECT_RATE:g}",
            "-w", f"{warmup:g}", "-d", f"{duration:g}", url]


def parse_json(text, errtext, status):
    if errtext:
        pl.log("hls_load stderr: " + errtext)
    try:
        return json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"hls_load gave no JSON (status {status}): {text!r}")


def runqueue_wait_s(pid):
    """Seconds the loop thread (tid = pid) has waited on a run queue: the second field of
    /proc/PID/task/PID/schedstat. On a machine shared with other work this says how much of
    a stall was vigil waiting for its core rather than working."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def run_load(server, url, n):
    """One hls_load pinned to PROBE_CPU while the server is sampled; the row has the client's
    JSON and the server's CPU over the client's window, per request and per MB."""
    cmd = load_cmd(url, n, DURATION, WARMUP)
    limit = n / CONNECT_RATE + 15 + WARMUP + DURATION + 15
    load0 = pl.loadavg()
    m0, tm0 = metrics(server), time.monotonic()
    samples, system = [], []
    rq_start, win_guess = None, n / CONNECT_RATE + 1 + WARMUP  # about when the window opens
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
            if rq_start is None and samples and time.monotonic() >= t0 + win_guess:
                rq_start = (time.monotonic(), runqueue_wait_s(server.pid))
        rq_end = (time.monotonic(), runqueue_wait_s(server.pid))
        if pr.poll() is None:
            pl.log(f"hls_load still running after {limit:.0f} s: stopping it")
            pr.kill()
            pr.wait()
        out.seek(0)
        err.seek(0)
        res = parse_json(out.read(), err.read().strip(), pr.returncode)
    m1, tm1 = metrics(server), time.monotonic()
    ws = t0 + res["ramp_s"] + res["warmup_s"]
    we = ws + res["duration_s"]
    inwin = [s for s in samples if ws <= s["t"] <= we]
    if len(samples) < 2 or samples[0]["t"] > ws or samples[-1]["t"] < we:
        pl.log(f"warning: samples do not cover the window (n={n})")
    cpu = wf.window_cpu(samples, server.pid, ws, we) if len(samples) >= 2 else None
    row = {"bench": "hls_fanout", "clients": n, "load_cmd": " ".join(cmd),
           "load_status": pr.returncode, "load": res, "load_before": load0,
           "load_after": pl.loadavg(), "server_cpu": cpu,
           "rss_kb_max": max((s["rss_kb"] for s in inwin if s["rss_kb"]), default=None),
           "metrics_delta": {k: v - m0.get(k, 0) for k, v in m1.items()},
           "server_parts_per_s": sum(v - m0.get(k, 0) for k, v in m1.items()
                                     if k.startswith("vigil_hls_parts_total")) / (tm1 - tm0),
           "window_bytes": next((v for k, v in m1.items()
                                 if k.startswith("vigil_hls_window_bytes")), None),
           "other_processes": wf.others(system, ws, we, {server.pid, pr.pid, os.getpid()})}
    if rq_start and rq_start[1] is not None and rq_end[1] is not None:
        row["loop_runqueue_wait_pct"] = 100 * (rq_end[1] - rq_start[1]) / (rq_end[0] - rq_start[0])
    if cpu is not None:
        loop = cpu["threads"].get("loop", {"cpu_s": 0.0})
        req, mb = res["requests"], res["bytes"] / 1e6
        row["server_pct_core"] = cpu["pct_core"]
        row["loop_pct_core"] = loop.get("pct_core", 0.0)
        row["cpu_us_per_request"] = 1e6 * cpu["cpu_s"] / req if req else None
        row["cpu_ms_per_mb"] = 1e3 * cpu["cpu_s"] / mb if mb else None
        row["core_busy_pct"] = cpu["core_busy_pct"].get("cpu" + pl.SERVER_CPU)
    return row


def fanout(clip):
    sim = pl.Sim(["--replay", "--mounts", "1", "--width", 1280, "--height", 720,
                  "--fps", 30, "--clip", clip])
    server, rows = None, []
    try:
        server = pl.Server({"cam": sim.urls[0]})
        url = warm(server, "cam")
        for n in CLIENTS:
            time.sleep(1)  # the previous run's connections finish closing
            r = run_load(server, url, n)
            L = r["load"]
            pl.log(f"hls n={n}: kept up {L['kept_up']}/{n}, parts/s {L['parts_per_s_median']} "
                   f"(published {L['parts_published_per_s']}; vigil made {r['server_parts_per_s']:.2f}/s), "
                   f"{L['requests_per_s']} req/s, "
                   f"{pl.fmt(r.get('cpu_us_per_request'))} µs/request, "
                   f"{pl.fmt(r.get('cpu_ms_per_mb'))} ms/MB, server "
                   f"{pl.fmt(r.get('server_pct_core'), '{:.0f}')}% core, client "
                   f"{L['client_cpu_pct']}%, failed {L['failed']} ({L['first_failure']}), "
                   f"loop waited for its core {pl.fmt(r.get('loop_runqueue_wait_pct'), '{:.0f}')}%, "
                   f"errors {L['error_statuses']}, "
                   f"lag p50/p95/max {L['publish_lag_ms']['p50']}/{L['publish_lag_ms']['p95']}/"
                   f"{L['publish_lag_ms']['max']} ms, RSS {r['rss_kb_max']} kB, other processes "
                   f"{pl.others_text(r['other_processes'])}")
            rows.append(r)
    finally:
        if server:
            server.stop()
        sim.stop()
    return rows


def rss_max(pid, seconds):
    """VmRSS max over `seconds`, sampled every 50 ms."""
    best, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        best = max(best, wf.read_rss_kb(pid) or 0)
        time.sleep(wf.SAMPLE_S)
    return best


def memory(clip, k):
    """RSS per camera for the HLS window: K cameras with a `source` viewer each, without and
    then with one HLS player each."""
    sim = pl.Sim(["--replay", "--mounts", k, "--width", 1280, "--height", 720, "--fps", 30,
                  "--clip", clip])
    server, probe, loads = None, None, []
    hold = 8.0  # seconds of RSS sampling in each phase
    try:
        server = pl.Server({f"cam{i}": u for i, u in enumerate(sim.urls)})
        urls = [server.ws_url(f"cam{i}") for i in range(k)]
        # One probe for both phases, so the viewers (and their buffers) are the same.
        total = 2 * (hold + 20) + 10
        probe = subprocess.Popen(["taskset", "-c", pl.PROBE_CPU, pl.VIGIL, "probe", "-n",
                                  str(k), "-d", f"{total:g}", "--warmup", "0", "--tier",
                                  "source", "--json", "--stamp-rate", "0"] + urls,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The cameras start and their GOP caches fill; vigil's RSS settles.
        time.sleep(hold + 6)
        base = rss_max(server.pid, hold)
        pl.log(f"memory: {k} cameras, source viewers only: VmRSS max {base} kB")
        # One HLS player per camera, for long enough that each window is full (7 whole
        # segments of 1 s plus the open one: 8 s of video) and has turned over once.
        for i in range(k):
            url = warm(server, f"cam{i}")
            loads.append(subprocess.Popen(load_cmd(url, 1, hold + 14, 0),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        time.sleep(12)
        with_hls = rss_max(server.pid, hold)
        wb = metrics(server)
        window = {k2: v for k2, v in wb.items() if k2.startswith("vigil_hls_window_bytes")}
        results = []
        for pr in loads:
            out, err = pr.communicate(timeout=60)
            results.append(parse_json(out, err.strip(), pr.returncode))
        loads = []
        per_cam_kb = (with_hls - base) / k
        wmean = sum(window.values()) / len(window) if window else None
        pl.log(f"memory: with one HLS player each: VmRSS max {with_hls} kB; per camera "
               f"{per_cam_kb:.0f} kB; vigil_hls_window_bytes mean "
               f"{pl.fmt(wmean / 1024 if wmean else None, '{:.0f}')} KiB")
        return {"bench": "hls_fanout", "phase": "memory", "cameras": k, "rss_kb_base": base,
                "rss_kb_hls": with_hls, "rss_kb_per_camera": per_cam_kb,
                "window_bytes": window, "window_bytes_mean": wmean,
                "players_kept_up": sum(r["kept_up"] for r in results),
                "loadavg": pl.loadavg()}
    finally:
        for pr in loads:
            pr.kill()
            pr.wait()
        if probe is not None:
            probe.terminate()
            try:
                probe.wait(10)
            except subprocess.TimeoutExpired:
                probe.kill()
                probe.wait()
        if server:
            server.stop()
        sim.stop()


def marginal(r, base):
    """Server CPU µs per request above the 1-player run: (CPU/s at n - CPU/s at 1) /
    (requests/s at n - requests/s at 1). The camera's own ingest, the muxer and the loop's
    timers cost the same at 1 player as at 1,000; this is what players add."""
    if base is None or r is base or r.get("server_cpu") is None or base.get("server_cpu") is None:
        return None
    a, b = r["server_cpu"], base["server_cpu"]
    dreq = r["load"]["requests_per_s"] - base["load"]["requests_per_s"]
    if dreq <= 0:
        return None
    return 1e4 * (a["pct_core"] - b["pct_core"]) / dreq


def line(r, base):
    L, n = r["load"], r["clients"]
    rss = r.get("rss_kb_max")
    base_rss = base["rss_kb_max"] if base else None
    per = (rss - base_rss) / n if n > 1 and rss and base_rss else None
    lag = L["publish_lag_ms"]
    return (f"| {n} | {L['kept_up']} / {n} | {L['failed']} "
            f"| {L['parts_per_s_median']:.2f} ({L['parts_per_s_p1']:.2f}) "
            f"/ {L['parts_published_per_s']:.2f} ({r['server_parts_per_s']:.2f}) "
            f"| {lag['p50']:.0f} / {lag['p95']:.0f} / {lag['max']:.0f} "
            f"| {L['requests_per_s']:.0f} | {L['bytes_per_s'] / 1e6:.1f} "
            f"| {pl.fmt(r.get('server_pct_core'), '{:.0f}')} "
            f"| {pl.fmt(r.get('cpu_us_per_request'), '{:.1f}')} "
            f"| {pl.fmt(marginal(r, base), '{:.1f}')} "
            f"| {pl.fmt(r.get('cpu_ms_per_mb'), '{:.2f}')} "
            f"| {pl.fmt(rss / 1024 if rss else None, '{:.0f}')} | {pl.fmt(per)} "
            f"| {' '.join(str(x) for x in r['load_before'])} |")


def main():
    if not os.access(LOAD, os.X_OK):
        raise SystemExit(f"hls_fanout: no {LOAD}; build first (ninja -C build hls_load)")
    results = pl.results_path("hls_fanout")
    rows, mem = [], None
    clip = tempfile.NamedTemporaryFile(prefix="vigil-bench-clip-", suffix=".h264", delete=False)
    clip.close()
    try:
        kbps = pl.make_clip(clip.name, kbps=KBPS, gop=GOP)
        pl.log(f"clip: {kbps} kbit/s, GOP {GOP}; load average {pl.loadavg()}")
        rows = fanout(clip.name) if CLIENTS else []
        for r in rows:
            pl.append(results, r)
        mem = memory(clip.name, HLS_CAMS) if HLS_CAMS > 0 else None
        if mem:
            pl.append(results, mem)
    finally:
        os.unlink(clip.name)
    base = next((r for r in rows if r["clients"] == 1), None)
    if rows:
        table(rows, base)
    if mem:
        print(f"\nmemory: {mem['cameras']} cameras, VmRSS max {mem['rss_kb_base']} kB with a "
              f"`source` viewer each, {mem['rss_kb_hls']} kB with one HLS player each too: "
              f"{mem['rss_kb_per_camera']:.0f} kB per camera; vigil_hls_window_bytes mean "
              f"{pl.fmt((mem['window_bytes_mean'] or 0) / 1024, '{:.0f}')} KiB; players kept "
              f"up {mem['players_kept_up']}/{mem['cameras']}")
    print(f"\ncamera: {kbps} kbit/s replayed clip, GOP {GOP}; raw results: {results}")


def table(rows, base):
    print("| clients | kept up | failed | parts/s per client: median (p1) / published (made) "
          "| lag behind publication ms: p50 / p95 / max | requests/s | MB/s "
          "| server % core | server CPU µs per request: all / above 1 player "
          "| server CPU ms per MB "
          "| VmRSS MiB | RSS per client KiB | load avg (1/5/15 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(line(r, base))
    for r in rows:
        L = r["load"]
        print(f"\nn={r['clients']}: capture lag ms p50/p95 {L['capture_lag_ms']['p50']}/"
              f"{L['capture_lag_ms']['p95']}, part fetch ms p50/p99 "
              f"{L['part_fetch_ms']['p50']}/{L['part_fetch_ms']['p99']}, skipped "
              f"{L['skipped']}, resyncs {L['resyncs']}, error responses {L['error_responses']}, "
              f"reconnects {L['reconnects']}, repeats {L['repeats']}, late parts {L['late_parts']} (limit "
              f"{L['lag_limit_ms']} ms), client {L['client_cpu_pct']}% CPU, window "
              f"{pl.fmt((r['window_bytes'] or 0) / 1024, '{:.0f}')} KiB")


if __name__ == "__main__":
    main()
