#!/usr/bin/env python3
"""MJPEG fan-out: N viewers of one camera's MJPEG stream (docs/benchmarks.md, "MJPEG fan-out").

    python3 bench/mjpeg_fanout.py [--vigil build/vigil] [--viewers "100 500 1000"]
        [--camera 'test://?width=1280&height=720&fps=30'] [--tier medium]
        [--duration 10] [--warmup 3]

Starts `vigil serve --no-auth` on core 0, builds bench/mjpeg_fanout.c (an epoll client in C,
so that the client is not the bottleneck) and runs it on core 1 for each N. While the client
runs it samples the server's CPU (utime+stime of the process and of its threads) and VmRSS
every 100 ms and reports them over the client's measuring window. Standard library only;
every wait has a deadline.
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid, tid=None):
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def threads(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass
    return out


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_healthy(port, deadline_s=15):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("vigil did not answer /healthz")


def run_one(args, client, pid, port, n):
    path = "/cameras/cam/mjpeg?tier=%s" % args.tier
    cmd = ["taskset", "-c", args.client_cpu, client, "127.0.0.1", str(port), path, str(n),
           str(args.warmup), str(args.duration), str(args.addrs)]
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            t = time.monotonic()
            try:
                per_thread = {tid: (name, proc_cpu_s(pid, tid))
                              for tid, name in threads(pid).items()}
                samples.append((t, proc_cpu_s(pid), rss_kb(pid), per_thread))
            except OSError:
                pass
            stop.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    t_start = time.monotonic()
    th.start()
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=args.warmup + args.duration + 60)
    stop.set()
    th.join(5)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    # The client's window opens about `warmup` s after it started (connecting takes a
    # moment more, so the window is taken from the samples a little late rather than early).
    w0, w1 = t_start + args.warmup + 0.5, t_start + args.warmup + args.duration
    win = [s for s in samples if w0 <= s[0] <= w1]
    if len(win) >= 2:
        dt = win[-1][0] - win[0][0]
        res["server_cpu_pct"] = round(100 * (win[-1][1] - win[0][1]) / dt, 1)
        res["rss_mb_max"] = round(max(s[2] for s in win) / 1024, 1)
        th_pct = {}
        for tid, (name, cpu) in win[-1][3].items():
            if tid in win[0][3]:
                th_pct[name] = th_pct.get(name, 0) + round(100 * (cpu - win[0][3][tid][1]) / dt, 1)
        res["threads_pct"] = th_pct
    res["tier"] = args.tier
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", default=os.path.join(REPO, "build", "vigil"))
    ap.add_argument("--viewers", default="1 100 500 1000")
    ap.add_argument("--camera", default="test://?width=1280&height=720&fps=30")
    ap.add_argument("--tier", default="medium")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--addrs", type=int, default=8)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="mjpeg_fanout-")
    client = os.path.join(tmp, "mjpeg_fanout")
    subprocess.run(["cc", "-O2", "-o", client, os.path.join(HERE, "mjpeg_fanout.c")], check=True)
    port = free_port()
    log = open(os.path.join(tmp, "vigil.log"), "wb")
    env = dict(os.environ, VIGIL_DB=os.path.join(tmp, "vigil.db"))
    # --max-conns-per-ip 0: every viewer comes from 127.0.0.1 (the default cap is 256).
    srv = subprocess.Popen(["taskset", "-c", args.server_cpu, args.vigil, "serve", "--no-auth",
                            "--max-conns-per-ip", "0",
                            "--listen", "127.0.0.1:%d" % port, "--camera", "cam=" + args.camera],
                           stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_healthy(port)
        for n in [int(x) for x in args.viewers.split()]:
            print(json.dumps(run_one(args, client, srv.pid, port, n)), flush=True)
            time.sleep(1)
    finally:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
    print("log: %s" % log.name, file=sys.stderr)


if __name__ == "__main__":
    main()
