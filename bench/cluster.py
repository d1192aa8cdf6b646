#!/usr/bin/python3
"""What relaying costs between vigil instances, and how long failover takes (issue 18).

Three `vigil serve` instances on one PostgreSQL database (a server started here, as
tests/integration/pg_server.py does) share one camera of the RTSP simulator (640x360, 30 fps,
each picture stamped with its capture time). Instance a gets the first viewer and holds the
camera's lease; b relays a's RTSP re-stream.

1. One hop: a `low` JPEG viewer on a and one on b at once, for SECONDS: the delay from the
   stamp drawn in each picture to its arrival (p50 / p95), and each server's CPU over the
   same time (a pulls the camera, decodes and encodes; b does the same from a's re-stream).
2. Failover, KILLS times: viewers on the two instances that do not hold the lease; kill -9 of
   the holder; the time until the first picture captured after the kill reaches each viewer;
   then the killed instance is started again (it rejoins as a relay) for the next round.

    bench/cluster.py [SECONDS] [KILLS]     (default 10 and 10; needs build/vigil, Debian's
                                            postgresql and the simulator's GStreamer parts)
"""
import asyncio
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
VIGIL = os.environ.get("VIGIL_BIN", os.path.join(HERE, "..", "build", "vigil"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from benchlib import cpu_seconds, log  # noqa: E402
from pg_server import PgServer  # noqa: E402
import rtsp_sim  # noqa: E402
from stamp import decode_stamp  # noqa: E402

HEADER = struct.Struct("<BBBBIqqHHB3s")


class Instance:
    def __init__(self, name, url, key, tmp):
        self.name, self.url, self.key, self.tmp = name, url, key, tmp
        self.proc, self.port = None, None

    def start(self):
        logf = open(os.path.join(self.tmp, "vigil-%s.log" % self.name), "ab")
        self.proc = subprocess.Popen(
            [VIGIL, "serve", "--no-auth", "--listen", "127.0.0.1:0", "--db", self.url,
             "--master-key-file", self.key, "--instance-id", "vigil-" + self.name],
            stdout=logf, stderr=subprocess.STDOUT, env=dict(os.environ,
                                                            VIGIL_RTSP_LISTEN="127.0.0.1:0"))
        logf.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = re.findall(r"listening on http://127.0.0.1:(\d+)/", self.log())
            if m:
                self.port = int(m[-1])
                if self.get("/readyz")[0] == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError("vigil-%s did not start:\n%s" % (self.name, self.log()[-3000:]))

    def log(self):
        with open(os.path.join(self.tmp, "vigil-%s.log" % self.name), errors="replace") as f:
            return f.read()

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                        timeout=5) as r:
                return r.status, json.loads(r.read())
        except (OSError, ValueError) as e:
            return getattr(e, "code", 0), None

    def ws(self):
        return "ws://127.0.0.1:%d/api/v1/cameras/cam/ws?tier=low" % self.port


async def watch(url, stop, out):
    """(arrival wall µs, capture µs, drawn µs or None) of each camera picture."""
    async with websockets.connect(url, max_size=1 << 24) as ws:
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.recv(), 0.5)
            except asyncio.TimeoutError:
                continue
            if not isinstance(msg, bytes):
                continue
            (_, hdr_len, codec, flags, _, capture_us, _, _, _, _, _) = HEADER.unpack_from(msg)
            if codec == 1 and not flags & 2:
                out.append((time.time_ns() // 1000, capture_us, decode_stamp(msg[hdr_len:])))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def one_hop(a, b, seconds):
    stop = asyncio.Event()
    on_a, on_b = [], []
    first = asyncio.ensure_future(watch(a.ws(), stop, on_a))
    await asyncio.sleep(2)  # a holds the lease
    second = asyncio.ensure_future(watch(b.ws(), stop, on_b))
    await asyncio.sleep(3)
    cpu0 = (cpu_seconds(a.proc.pid), cpu_seconds(b.proc.pid))
    n0 = (len(on_a), len(on_b))
    await asyncio.sleep(seconds)
    cpu1 = (cpu_seconds(a.proc.pid), cpu_seconds(b.proc.pid))
    rows = []
    for name, frames, n, c0, c1 in (("holder (pulls the camera)", on_a, n0[0], cpu0[0], cpu1[0]),
                                     ("relay (one hop)", on_b, n0[1], cpu0[1], cpu1[1])):
        d = [(arr - drawn) / 1000 for arr, _, drawn in frames[n:] if drawn]
        rows.append((name, len(frames) - n, statistics.median(d), pct(d, 95),
                     (c1 - c0) / seconds * 100))
    stop.set()
    await asyncio.gather(first, second, return_exceptions=True)
    return rows


async def failover_round(viewers):
    stop = asyncio.Event()
    seen = {i.name: [] for i, _ in viewers}
    tasks = [asyncio.ensure_future(watch(i.ws(), stop, seen[i.name])) for i, _ in viewers]
    await asyncio.sleep(3)
    holder = next(h for _, h in viewers)
    kill_us = time.time_ns() // 1000
    holder.proc.kill()
    holder.proc.wait()
    await asyncio.sleep(10)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    back = []
    for name, frames in seen.items():
        after = [arr for arr, cap, _ in frames if cap > kill_us]
        back.append((min(after) - kill_us) / 1e6 if after else None)
    return back


def holder_of(instances):
    for i in instances:
        if i.proc.poll() is None:
            st, body = i.get("/api/v1/instances")
            if st == 200:
                for row in body["instances"]:
                    if row["leases"] > 0 and row["alive"]:
                        return next(x for x in instances if "vigil-" + x.name == row["id"])
    return None


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    tmp = tempfile.mkdtemp(prefix="vigil-cluster-")
    key = os.path.join(tmp, "master.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(key, 0o600)
    pg = PgServer().start()
    sim = rtsp_sim.start_sim_process(width=640, height=360, fps=30)
    instances = []
    try:
        subprocess.run([VIGIL, "camera", "add", "id=cam", "url=" + sim.url], check=True,
                       env=dict(os.environ, VIGIL_DB=pg.url), stdout=subprocess.DEVNULL)
        instances = [Instance(n, pg.url, key, tmp).start() for n in ("a", "b", "c")]
        rows = asyncio.run(one_hop(instances[0], instances[1], seconds))
        print("one hop, %g s, 640x360 30 fps camera, `low` JPEG viewers:" % seconds)
        for name, n, p50, p95, cpu in rows:
            print("  %-26s %4d pictures  delay p50 %5.1f ms  p95 %5.1f ms  server CPU %5.1f %%"
                  % (name, n, p50, p95, cpu))
        times = []
        for k in range(kills):
            holder = holder_of(instances)
            if holder is None:
                raise RuntimeError("no instance holds the lease")
            others = [i for i in instances if i is not holder]
            back = asyncio.run(failover_round([(o, holder) for o in others]))
            log("kill %d of %s: first picture after %s s" % (k + 1, holder.name, back))
            times += [b for b in back if b is not None]
            if any(b is None for b in back):
                print("  round %d: a viewer saw no picture in 10 s" % (k + 1))
            holder.start()  # rejoins; relays from the new holder once a viewer wants it
        print("failover after kill -9 of the holder, %d kills, %d viewers each time:"
              % (kills, 2))
        print("  first picture captured after the kill: p50 %.1f s  max %.1f s  (n=%d)"
              % (statistics.median(times), max(times), len(times)))
        print("  sessions on the simulator at the end: %d" % sim.stats()["sessions"])
    finally:
        for i in instances:
            if i.proc and i.proc.poll() is None:
                i.proc.terminate()
                i.proc.wait(10)
        sim.close()
        pg.stop()


if __name__ == "__main__":
    main()
