#!/usr/bin/python3
"""WebSocket fan-out benchmark for vigil; run by bench/ws_fanout.sh (see docs/benchmarks.md).

Starts `vigil serve` pinned to core 0 with one 720p30 test camera, then for each viewer
count runs `vigil probe --json` pinned to core 1. While the probe runs it samples, every
SAMPLE_S seconds, the server's /proc/PID/stat (utime+stime), every thread's
/proc/PID/task/TID/stat, VmRSS and the per-core counters of /proc/stat, and interpolates
them at the probe's measuring window, which opens ramp_s + warmup_s after the probe
started (the probe reports both) and lasts duration_s.

Standard library only. Every loop has a deadline.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.05
CAMERA = "test://?width=1280&height=720&fps=30&pattern=detailed"
# The ladder the published results were measured with (native at JPEG quality 80, about
# 128 KB a picture), pinned so that later changes to the default ladder do not move them.
# No cap on connections per address: every viewer comes from 127.0.0.1, and the default
# cap (256) would refuse most of a 1000-viewer run.
LADDER = """max_conns_per_ip: 0
tiers:
  - {size: low, fps: 15, quality: 70}
  - {size: medium, fps: 25, quality: 75}
  - {size: native, quality: 80}
"""
WS_OVERHEAD = 32 + 10  # vigil's frame header + a WebSocket header with a 64-bit length


def env_num(name, default, kind=float):
    v = os.environ.get(name, "")
    return kind(v) if v.strip() else default


VIGIL = os.environ.get("VIGIL", "build/vigil")
VIEWERS = [int(x) for x in os.environ.get("VIEWERS", "1 10 100 500 1000").replace(",", " ").split()]
DURATION = env_num("DURATION", 10.0)
WARMUP = env_num("WARMUP", 2.0)
CONNECT_RATE = env_num("CONNECT_RATE", 500.0)
REPEAT = env_num("REPEAT", 1, int)
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
PROBE_CPU = os.environ.get("PROBE_CPU", "1")
RESULTS = os.environ.get("RESULTS", "")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- /proc readers ---------------------------------------------------------------------

def read_stat(path):
    """(comm, utime ticks, stime ticks) of a /proc stat file, None if it is gone."""
    try:
        with open(path) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state): utime is field 14, stime field 15
    return comm, int(rest[11]), int(rest[12])


def read_schedstat(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])  # ns on the CPU
    except (OSError, ValueError, IndexError):
        return None


def read_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def read_cores():
    """{cpuN: (busy ticks, total ticks)}"""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not re.match(r"cpu\d+ ", line):
                continue
            p = line.split()
            v = [int(x) for x in p[1:9]]  # user nice system idle iowait irq softirq steal
            busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
            out[p[0]] = (busy, busy + v[3] + v[4])
    return out


def read_tcp_mem_pages():
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    p = line.split()
                    return int(p[p.index("mem") + 1])
    except (OSError, ValueError):
        pass
    return None


def all_tasks():
    """{(pid, tid): (comm, cpu ticks)} of every task on the machine."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            st = read_stat(f"/proc/{pid}/task/{tid}/stat")
            if st is not None:
                out[(int(pid), int(tid))] = (st[0], st[1] + st[2])
    return out


def others(system, ws, we, exclude):
    """CPU of every other process over most of the window (between the first and the last
    whole-machine snapshot inside it): what else competed for the two cores."""
    inside = [x for x in system if ws <= x[0] <= we]
    if len(inside) < 2:
        return None
    (t0, s0), (t1, s1) = inside[0], inside[-1]
    if t1 - t0 < 1:
        return None
    by_name = {}
    for key, (comm, ticks) in s1.items():
        if key[0] in exclude:
            continue
        d = ticks - s0.get(key, (comm, 0))[1]
        if d > 0:
            by_name[comm] = by_name.get(comm, 0) + d
    total = sum(by_name.values())
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:4]
    pct = lambda ticks: round(100 * ticks / CLK_TCK / (t1 - t0), 1)  # noqa: E731
    return {"span_s": round(t1 - t0, 2), "pct_core": pct(total),
            "top": [[k, pct(v)] for k, v in top]}


def snapshot(pid):
    t = time.monotonic()
    st = read_stat(f"/proc/{pid}/stat")
    if st is None:
        return None
    threads = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tids = []
    for tid in tids:
        ts = read_stat(f"/proc/{pid}/task/{tid}/stat")
        if ts is None:
            continue
        ns = read_schedstat(f"/proc/{pid}/task/{tid}/schedstat")
        threads[int(tid)] = (ts[0], ts[1], ts[2], ns)
    return {"t": t, "ut": st[1], "st": st[2], "threads": threads,
            "rss_kb": read_rss_kb(pid), "cores": read_cores(), "tcp_pages": read_tcp_mem_pages()}


# ---- interpolation over the samples ----------------------------------------------------

def interp(points, t):
    """points: [(time, value)] sorted. Value at t; before the first point a thread did not
    exist yet (0), after the last one it had ended (last value)."""
    if not points:
        return 0.0
    if t <= points[0][0]:
        return 0.0 if t < points[0][0] - SAMPLE_S * 2 else float(points[0][1])
    if t >= points[-1][0]:
        return float(points[-1][1])
    lo, hi = 0, len(points) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if points[mid][0] <= t:
            lo = mid
        else:
            hi = mid
    (t0, v0), (t1, v1) = points[lo], points[hi]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else float(v1)


def delta(points, ws, we):
    return interp(points, we) - interp(points, ws)


def window_cpu(samples, pid, ws, we):
    """CPU seconds of the process and per thread group over [ws, we]."""
    win = we - ws
    proc_ut = delta([(s["t"], s["ut"]) for s in samples], ws, we) / CLK_TCK
    proc_st = delta([(s["t"], s["st"]) for s in samples], ws, we) / CLK_TCK
    groups = {}
    for tid in sorted({tid for s in samples for tid in s["threads"]}):
        pts = [(s["t"], s["threads"][tid]) for s in samples if tid in s["threads"]]
        name = "loop" if tid == pid else pts[-1][1][0]
        g = groups.setdefault(name, {"tids": [], "utime_s": 0.0, "stime_s": 0.0, "sched_s": 0.0})
        g["tids"].append(tid)
        g["utime_s"] += delta([(t, v[1]) for t, v in pts], ws, we) / CLK_TCK
        g["stime_s"] += delta([(t, v[2]) for t, v in pts], ws, we) / CLK_TCK
        ns_pts = [(t, v[3]) for t, v in pts if v[3] is not None]
        g["sched_s"] += delta(ns_pts, ws, we) / 1e9
    for g in groups.values():
        g["cpu_s"] = g["utime_s"] + g["stime_s"]
        g["pct_core"] = 100 * g["cpu_s"] / win
    cores = {}
    for c in samples[0]["cores"]:
        busy = delta([(s["t"], s["cores"][c][0]) for s in samples if c in s["cores"]], ws, we)
        total = delta([(s["t"], s["cores"][c][1]) for s in samples if c in s["cores"]], ws, we)
        cores[c] = round(100 * busy / total, 1) if total > 0 else None
    return {"utime_s": proc_ut, "stime_s": proc_st, "cpu_s": proc_ut + proc_st,
            "pct_core": 100 * (proc_ut + proc_st) / win, "threads": groups, "core_busy_pct": cores}


# ---- server and probe ------------------------------------------------------------------

def start_server(logf):
    cfg = logf.name + ".yaml"
    with open(cfg, "w") as f:
        f.write(LADDER)
    cmd = ["taskset", "-c", SERVER_CPU, VIGIL, "serve", "--no-auth", "--db", ":memory:", "--listen", "127.0.0.1:0",
           "--config", cfg, "--camera", f"cam={CAMERA}"]
    log("server: " + " ".join(cmd[:-1]) + f" 'cam={CAMERA}'")
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with status {proc.returncode}; log: {logf.name}")
        with open(logf.name) as f:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", f.read())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not report its port within 10 s; log: {logf.name}")


def run_probe(pid, url, n, duration, warmup, record=True):
    cmd = ["taskset", "-c", PROBE_CPU, VIGIL, "probe", "-n", str(n), "-d", f"{duration:g}",
           "--warmup", f"{warmup:g}", "--connect-rate", f"{CONNECT_RATE:g}", "--json", url]
    ramp_max = n / CONNECT_RATE if CONNECT_RATE > 0 else 0
    limit = ramp_max + warmup + duration + 30
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        samples, system = [], []
        t0 = time.monotonic()
        pr = subprocess.Popen(cmd, stdout=out, stderr=err)
        deadline = t0 + limit
        i = 0
        while pr.poll() is None and time.monotonic() < deadline:
            if record:
                s = snapshot(pid)
                if s is not None:
                    samples.append(s)
                if i % 10 == 0:
                    system.append((time.monotonic(), all_tasks()))
            i += 1
            time.sleep(SAMPLE_S)
        if pr.poll() is None:
            log(f"probe still running after {limit:.0f} s: stopping it")
            pr.terminate()
            try:
                pr.wait(5)
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait()
        out.seek(0)
        err.seek(0)
        text, errtext = out.read().strip(), err.read().strip()
    if errtext:
        log("probe stderr: " + errtext.replace("\n", "\n  "))
    try:
        res = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"probe gave no JSON (status {pr.returncode}): {text!r}")
    return cmd, t0, res, samples, system, pr.returncode, pr.pid


def measure(pid, url, n, rep):
    cmd, t0, res, samples, system, status, probe_pid = run_probe(pid, url, n, DURATION, WARMUP)
    ws = t0 + res["ramp_s"] + res["warmup_s"]
    we = ws + res["duration_s"]
    inwin = [s for s in samples if ws <= s["t"] <= we]
    if len(inwin) < 2 or samples[0]["t"] > ws or samples[-1]["t"] < we:
        log(f"warning: samples do not cover the window for n={n}")
    cpu = window_cpu(samples, pid, ws, we)
    frames = res["frames"]
    th = cpu["threads"]
    src = sum(g["cpu_s"] for k, g in th.items() if k.startswith("vg-src-"))
    loop = th.get("loop", {"cpu_s": 0.0, "utime_s": 0.0, "stime_s": 0.0})
    per = (lambda x: 1e6 * x / frames) if frames else (lambda x: None)
    rss = [s["rss_kb"] for s in inwin if s["rss_kb"] is not None]
    return {
        "bench": "ws_fanout", "rep": rep, "viewers": n, "probe_cmd": cmd, "probe_status": status,
        "window_s": round(we - ws, 3), "samples_in_window": len(inwin),
        "probe": res,
        "server_cpu": cpu,
        "cpu_us_per_frame": {
            "process": per(cpu["cpu_s"]),
            "process_user": per(cpu["utime_s"]),
            "process_sys": per(cpu["stime_s"]),
            "without_test_camera": per(cpu["cpu_s"] - src),
            "loop": per(loop["cpu_s"]),
            "loop_user": per(loop["utime_s"]),
            "loop_sys": per(loop["stime_s"]),
        },
        "other_processes": others(system, ws, we, {pid, probe_pid, os.getpid()}),
        "rss_kb_max": max(rss) if rss else None,
        "rss_kb_end": rss[-1] if rss else None,
        # kernel TCP buffer memory of the whole machine (server and probe sides), pages
        "tcp_mem_pages_max": max((s["tcp_pages"] for s in inwin if s["tcp_pages"] is not None),
                                 default=None),
        "jpeg_bytes_avg": (res["bytes_per_s"] * res["duration_s"] / frames - WS_OVERHEAD)
        if frames else None,
    }


# ---- report ----------------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="{:.1f}"):
    return "–" if x is None else spec.format(x)


def fmt_others(o):
    if o is None:
        return "?"
    return f"{o['pct_core']}% of a core (" + ", ".join(f"{k} {v}%" for k, v in o["top"]) + ")"


def table(rows, base_rss):
    by_n = {}
    for r in rows:
        by_n.setdefault(r["viewers"], []).append(r)
    reps = max(len(v) for v in by_n.values())
    lines = [
        "| viewers | fps median (min) | latency p50 / p99 ms | server-added p50 / p99 ms "
        "| server CPU µs/frame: process / w/o test cam / loop | loop thread % core (usr+sys) "
        "| process % core | RSS/viewer KiB | JPEG KB | probe CPU % | core 0 busy % | other processes % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted(by_n):
        rs = by_n[n]
        g = lambda f: med([f(r) for r in rs])  # noqa: E731
        lp = lambda r: r["server_cpu"]["threads"].get("loop", {})  # noqa: E731
        rss = g(lambda r: r["rss_kb_max"])
        per_viewer = (rss - base_rss) / (n - 1) if (n > 1 and rss is not None and
                                                     base_rss is not None) else None
        lines.append(
            f"| {n} | {fmt(g(lambda r: r['probe']['fps_median']))} "
            f"({fmt(g(lambda r: r['probe']['fps_min']))}) "
            f"| {fmt(g(lambda r: r['probe']['latency_ms']['p50']))} / "
            f"{fmt(g(lambda r: r['probe']['latency_ms']['p99']))} "
            f"| {fmt(g(lambda r: r['probe']['server_latency_ms']['p50']))} / "
            f"{fmt(g(lambda r: r['probe']['server_latency_ms']['p99']))} "
            f"| {fmt(g(lambda r: r['cpu_us_per_frame']['process']), '{:.0f}')} / "
            f"{fmt(g(lambda r: r['cpu_us_per_frame']['without_test_camera']), '{:.0f}')} / "
            f"{fmt(g(lambda r: r['cpu_us_per_frame']['loop']), '{:.0f}')} "
            f"| {fmt(g(lambda r: lp(r).get('pct_core')), '{:.0f}')} "
            f"({fmt(g(lambda r: 100 * lp(r).get('utime_s', 0) / r['window_s']), '{:.0f}')}+"
            f"{fmt(g(lambda r: 100 * lp(r).get('stime_s', 0) / r['window_s']), '{:.0f}')}) "
            f"| {fmt(g(lambda r: r['server_cpu']['pct_core']), '{:.0f}')} "
            f"| {fmt(per_viewer)} "
            f"| {fmt(g(lambda r: r['jpeg_bytes_avg'] / 1000 if r['jpeg_bytes_avg'] else None), '{:.0f}')} "
            f"| {fmt(g(lambda r: r['probe']['probe_cpu_pct']), '{:.0f}')} "
            f"| {fmt(g(lambda r: r['server_cpu']['core_busy_pct'].get('cpu' + SERVER_CPU)), '{:.0f}')} "
            f"| {fmt(g(lambda r: (r['other_processes'] or {}).get('pct_core')), '{:.0f}')} |")
    note = (f"medians of {reps} runs; " if reps > 1 else "one run; ") + (
        f"RSS/viewer = (VmRSS max in window - {base_rss} kB at 1 viewer) / (N-1)"
        if base_rss is not None else "no 1-viewer baseline for RSS/viewer")
    return "\n".join(lines) + "\n\n" + note


def main():
    viewers = VIEWERS if 1 in VIEWERS else [1] + VIEWERS  # the 1-viewer run is the RSS baseline
    if RESULTS:
        results = RESULTS
    else:
        os.makedirs("build/bench", exist_ok=True)
        results = time.strftime("build/bench/ws_fanout-%Y%m%d-%H%M%S.jsonl")
    logf = tempfile.NamedTemporaryFile("w+", prefix="vigil-bench-", suffix=".log", delete=False)
    server, port = start_server(logf)
    pid = server.pid
    # taskset execs vigil in place, so the pid is the server's; make sure of it.
    time.sleep(0.2)
    comm = read_stat(f"/proc/{pid}/stat")
    log(f"server pid {pid} ({comm[0] if comm else '?'}) on port {port}; log {logf.name}")
    url = f"ws://127.0.0.1:{port}/api/v1/cameras/cam/ws?tier=native"
    rows = []
    try:
        # Start the camera and its encoders before anything is measured.
        run_probe(pid, url, 1, 3, 1, record=False)
        with open(results, "a") as out:
            for rep in range(1, REPEAT + 1):
                for n in viewers:
                    time.sleep(1)  # let the previous run's connections finish closing
                    r = measure(pid, url, n, rep)
                    out.write(json.dumps(r) + "\n")
                    out.flush()
                    rows.append(r)
                    p, c = r["probe"], r["cpu_us_per_frame"]
                    log(f"rep {rep} n={n}: fps {p['fps_median']} (min {p['fps_min']}), "
                        f"server p99 {p['server_latency_ms']['p99']} ms, "
                        f"{fmt(c['process'], '{:.0f}')} µs/frame "
                        f"(loop {fmt(c['loop'], '{:.0f}')}), "
                        f"loop {r['server_cpu']['threads'].get('loop', {}).get('pct_core', 0):.0f}% "
                        f"core, probe {p['probe_cpu_pct']}%, errors {p['errors']}; "
                        f"core {SERVER_CPU} busy "
                        f"{r['server_cpu']['core_busy_pct'].get('cpu' + SERVER_CPU)}%, "
                        f"other processes {fmt_others(r['other_processes'])}")
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    base = med([r["rss_kb_max"] for r in rows if r["viewers"] == 1])
    print(table(rows, base))
    print(f"\nraw results: {results}")
    os.unlink(logf.name)


if __name__ == "__main__":
    main()
