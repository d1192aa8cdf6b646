#!/usr/bin/python3
"""What one and two uplink hops add (issue 18, docs/uplink.md).

A chain of three `vigil serve` on loopback: the edge pulls the RTSP simulator's camera
(640x360, 30 fps, each picture stamped with its capture time) and dials out to mid
(`--uplink`, site north); mid dials out to central (site mid). One `low` JPEG viewer on each,
at once, for SECONDS:

    edge      cam            the camera pulled here (no hop)
    mid       north-cam      one hop   (the edge's RTSP re-stream through its uplink)
    central   mid-north-cam  two hops

Per viewer: the delay from the stamp drawn in each picture to its arrival (p50 / p95); per
server: its CPU over the same time (each decodes the camera's H.264 and encodes `low` for
its viewer; mid and central also carry the channels).

    bench/uplink.py [SECONDS]      (default 10; needs build/vigil and the simulator's
                                    GStreamer parts)
"""
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VIGIL = os.environ.get("VIGIL_BIN", os.path.join(HERE, "..", "build", "vigil"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from benchlib import cpu_seconds  # noqa: E402
from cluster import pct, watch  # noqa: E402
import rtsp_sim  # noqa: E402


def admin_key(db):
    env = dict(os.environ, VIGIL_DB=db)
    subprocess.run([VIGIL, "user", "add", "id=root", "role=admin", "--password-stdin"],
                   input="bench-uplink-pw-1\n", text=True, env=env, check=True,
                   capture_output=True)
    out = subprocess.run([VIGIL, "key", "add", "user=root", "role=admin"], text=True, env=env,
                         check=True, capture_output=True).stdout
    return re.search(r"vk_[A-Za-z0-9_-]+", out).group(0)


class Server:
    def __init__(self, name, tmp, args):
        self.name, self.log_path = name, os.path.join(tmp, name + ".log")
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(
                [VIGIL, "serve", "--listen", "127.0.0.1:0"] + args, stdout=logf,
                stderr=subprocess.STDOUT, env=dict(os.environ, VIGIL_RTSP_LISTEN="127.0.0.1:0"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = re.findall(r"listening on http://127.0.0.1:(\d+)/", self.log())
            if m:
                self.port = int(m[-1])
                return
            time.sleep(0.05)
        raise RuntimeError("%s did not start:\n%s" % (name, self.log()[-3000:]))

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def ws(self, cam, key=None):
        url = "ws://127.0.0.1:%d/api/v1/cameras/%s/ws?tier=low" % (self.port, cam)
        return url + ("&token=" + key if key else "")


async def measure(viewers, servers, seconds):
    stop = asyncio.Event()
    seen = [[] for _ in viewers]
    tasks = [asyncio.ensure_future(watch(url, stop, out)) for url, out in zip(viewers, seen)]
    await asyncio.sleep(4)  # every hop up, the GOP caches behind
    cpu0 = [cpu_seconds(s.proc.pid) for s in servers]
    n0 = [len(s) for s in seen]
    await asyncio.sleep(seconds)
    cpu1 = [cpu_seconds(s.proc.pid) for s in servers]
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    rows = []
    for frames, n, c0, c1 in zip(seen, n0, cpu0, cpu1):
        d = [(arr - drawn) / 1000 for arr, _, drawn in frames[n:] if drawn]
        rows.append((len(frames) - n, statistics.median(d) if d else None,
                     pct(d, 95) if d else None, (c1 - c0) / seconds * 100))
    return rows


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
    tmp = tempfile.mkdtemp(prefix="vigil-uplink-")
    sim = rtsp_sim.start_sim_process(width=640, height=360, fps=30)
    servers = []
    try:
        central_db, mid_db = os.path.join(tmp, "central.db"), os.path.join(tmp, "mid.db")
        k_central, k_mid = admin_key(central_db), admin_key(mid_db)
        central = Server("central", tmp, ["--db", central_db])
        servers.append(central)
        mid = Server("mid", tmp, ["--db", mid_db, "--uplink", "ws://127.0.0.1:%d" % central.port,
                                  "--uplink-key", k_central, "--uplink-site", "mid"])
        servers.append(mid)
        edge = Server("edge", tmp, ["--no-auth", "--db", os.path.join(tmp, "edge.db"),
                                    "--camera", "cam=" + sim.url, "--uplink",
                                    "ws://127.0.0.1:%d" % mid.port, "--uplink-key", k_mid,
                                    "--uplink-site", "north"])
        servers.append(edge)
        deadline = time.monotonic() + 15
        while "camera 'mid-north-cam' added" not in central.log():
            if time.monotonic() > deadline:
                raise RuntimeError("mid-north-cam never reached the central:\n" +
                                   central.log()[-2000:])
            time.sleep(0.1)
        time.sleep(1)  # applied by the fleet
        order = [edge, mid, central]
        rows = asyncio.run(measure([edge.ws("cam"), mid.ws("north-cam", k_mid),
                                    central.ws("mid-north-cam", k_central)], order, seconds))
        print("uplink hops, %g s, 640x360 30 fps camera, one `low` JPEG viewer on each:"
              % seconds)
        for (name, what), (n, p50, p95, cpu) in zip(
                (("edge", "no hop"), ("mid", "one hop"), ("central", "two hops")), rows):
            print("  %-8s %-9s %4d pictures  delay p50 %5.1f ms  p95 %5.1f ms  server CPU %5.1f %%"
                  % (name, what, n, p50 or -1, p95 or -1, cpu))
        print("  sessions on the simulator: %d" % sim.stats()["sessions"])
    finally:
        for s in reversed(servers):
            if s.proc.poll() is None:
                s.proc.terminate()
                s.proc.wait(10)
        sim.close()


if __name__ == "__main__":
    main()
