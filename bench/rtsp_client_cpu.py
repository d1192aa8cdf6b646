"""What each RTSP client costs vigil (issue 16): one simulator camera (720p30), read by vigil
with its own client (?client=vigil) and then with libavformat's (?client=ffmpeg), each time
with one WebSocket `source` viewer (nothing decoded: the cost is ingest and the packet lane).
Prints vigil's CPU (% of one core, from /proc/PID/stat over WINDOW seconds after a 3 s
warm-up) and the access units the viewer received.

    /usr/bin/python3 bench/rtsp_client_cpu.py            # WINDOW=10 ROUNDS=2
"""
import asyncio
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from conftest import ws_connect  # noqa: E402
from rtsp_sim import start_sim_process  # noqa: E402

VIGIL = os.environ.get("VIGIL", os.path.join(HERE, "..", "build", "vigil"))
WINDOW = float(os.environ.get("WINDOW", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
PORT = 18282


def cpu_ticks(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


async def watch(pid):
    n = 0
    url = "ws://127.0.0.1:%d/api/v1/cameras/cam/ws?tier=source" % PORT
    async with ws_connect(url) as ws:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            await ws.recv()
        c0, t0 = cpu_ticks(pid), time.monotonic()
        while time.monotonic() - t0 < WINDOW:
            n += isinstance(await ws.recv(), bytes)
        c1, t1 = cpu_ticks(pid), time.monotonic()
    return n, (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100


def main():
    sim = start_sim_process(width=1280, height=720, fps=30)
    work = tempfile.mkdtemp(prefix="rtsp-client-cpu-")
    print("| round | client | access units in %g s | vigil %% of a core |" % WINDOW)
    print("|---|---|---|---|")
    try:
        for r in range(ROUNDS):
            for client in ("vigil", "ffmpeg"):
                p = subprocess.Popen([VIGIL, "serve", "--no-auth", "--db",
                                      os.path.join(work, "%s-%d.db" % (client, r)), "--listen",
                                      "127.0.0.1:%d" % PORT, "--rtsp-listen", "none",
                                      "--camera", "cam=%s?client=%s" % (sim.url, client)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    time.sleep(1)
                    n, pct = asyncio.run(watch(p.pid))
                finally:
                    p.terminate()
                    p.wait(timeout=15)
                print("| %d | %s | %d | %.1f |" % (r + 1, client, n, pct))
    finally:
        sim.close()


if __name__ == "__main__":
    main()
