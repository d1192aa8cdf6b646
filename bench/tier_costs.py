#!/usr/bin/python3
"""What each tier of a camera costs a viewer: one WebSocket viewer per tier at once for a
while, then the tiers' measured kbit/s from GET /api/v1/cameras/cam (docs/protocol.md,
"Tiers"; docs/benchmarks.md), and what they cost vigil: each tier's mean scale and encode
time per picture (GET /api/v1/streams/cam) and the process's CPU over the viewing. Starts its
own `vigil serve --no-auth` on loopback.

    /usr/bin/python3 -B bench/tier_costs.py --tiers h264-thin10,h264-tiny15,h264-low,thin10
"""
import argparse
import asyncio
import os
import re
import subprocess
import tempfile
import time

import requests
import websockets


async def view(port, tier, seconds):
    frames = received = keys = largest_key = 0
    url = "ws://127.0.0.1:%d/api/v1/cameras/cam/ws?tier=%s" % (port, tier)
    async with websockets.connect(url, max_size=None) as ws:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                m = await asyncio.wait_for(ws.recv(), end - time.monotonic())
            except asyncio.TimeoutError:
                break
            if isinstance(m, bytes):
                frames += 1
                received += len(m)
                if m[3] & 1:  # the header's keyframe flag
                    keys += 1
                    largest_key = max(largest_key, len(m))
    return tier, frames, received, keys, largest_key


def cpu_seconds(pid):
    """User plus system CPU seconds of a process so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiers", required=True, help="comma-separated tier names")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds each viewer watches")
    ap.add_argument("--camera", default="test://?width=1280&height=720&fps=30&pattern=detailed")
    ap.add_argument("--vigil", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                     "vigil"))
    args = ap.parse_args()
    log_path = tempfile.mktemp(prefix="tier-costs-", suffix=".log")
    env = dict(os.environ, VIGIL_RTSP_LISTEN="127.0.0.1:0")
    with open(log_path, "wb") as log:
        p = subprocess.Popen([args.vigil, "serve", "--no-auth", "--db", ":memory:", "--listen",
                              "127.0.0.1:0", "--camera", "cam=" + args.camera],
                             stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        port = None
        for _ in range(300):
            m = re.search(r"listening on http://127.0.0.1:(\d+)/", open(log_path).read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if port is None:
            raise SystemExit("vigil did not start; see %s" % log_path)

        async def all_tiers():
            return await asyncio.gather(*[view(port, t, args.seconds)
                                          for t in args.tiers.split(",")])

        cpu0, t0 = cpu_seconds(p.pid), time.monotonic()
        rows = asyncio.run(all_tiers())
        cpu = (cpu_seconds(p.pid) - cpu0) / (time.monotonic() - t0)
        live = requests.get("http://127.0.0.1:%d/api/v1/cameras/cam" % port, timeout=5).json()
        published = {t["name"]: t["kbps"] for t in live["live"]["tiers"]}
        stream = requests.get("http://127.0.0.1:%d/api/v1/streams/cam" % port, timeout=5).json()
        work = {t["name"]: t for t in stream.get("tiers", [])}
        print("| tier | fps | received kbit/s | keyframes | largest keyframe (bytes) | "
              "published kbps | scale ms | encode ms |")
        print("|---|---|---|---|---|---|---|---|")
        for tier, frames, received, keys, largest_key in rows:
            w = work.get(tier, {})
            print("| %s | %.1f | %.0f | %d | %d | %s | %.3f | %.3f |" % (
                tier, frames / args.seconds, received * 8 / args.seconds / 1000, keys,
                largest_key, published.get(tier), w.get("scale_ms_avg", 0),
                w.get("encode_ms_avg", 0)))
        print("vigil: %.1f%% of a core over the viewing (user + system)" % (100 * cpu))
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
