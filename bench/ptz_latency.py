"""PTZ command latency (issue 17): the time from a move sent to vigil (REST, then the viewing
WebSocket) to the request arriving at a fake Bosch camera, p50 and p99, while N JPEG viewers
are served (`vigil probe`, niced, on another camera).

Usage: /usr/bin/python3 bench/ptz_latency.py [BUILD/vigil] [--viewers 200] [--moves 200]

Two arrivals are timed for each move: the camera's first request (vigil's bytes reach the
camera; the fake answers it with the Digest challenge, as a real camera does) and the
authorised request the camera acts on. Both clocks are this host's wall clock. The fake is
Python (tests/fakes/fake_bosch.py), so its own time to accept and log is in the figures.
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

import requests
import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fakes"))
import fake_bosch  # noqa: E402
from benchlib import log  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def arrivals(fake):
    with fake.lock:
        entries = [e for e in fake.log if e.get("path") == "/rcp.xml"]
    first = entries[0]["t"] if entries else None
    ok = [e["t"] for e in entries if e.get("status") == 200]
    return first, (ok[-1] if ok else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=os.path.join(HERE, "..", "build", "vigil"))
    ap.add_argument("--viewers", type=int, default=200)
    ap.add_argument("--moves", type=int, default=200)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ptzlat-")
    db, key = os.path.join(tmp, "v.db"), os.path.join(tmp, "mk")
    fake = fake_bosch.FakeBosch().start()
    env = dict(os.environ, VIGIL_DB=db, VIGIL_MASTER_KEY_FILE=key)
    subprocess.run([a.binary, "keygen", "-o", key], check=True, capture_output=True)
    subprocess.run([a.binary, "camera", "add", "id=ptz", "url=rtsp://127.0.0.1:1/none",
                    "ptz_driver=bosch", "ptz_address=" + fake.base_url, "username=service",
                    "--password-stdin"], input="service", text=True, env=env, check=True,
                   capture_output=True)
    subprocess.run([a.binary, "camera", "add", "id=load",
                    "url=test://?width=640&height=360&fps=15"], env=env, check=True,
                   capture_output=True)
    logf = open(os.path.join(tmp, "vigil.log"), "w")
    srv = subprocess.Popen([a.binary, "serve", "--no-auth", "--listen", "127.0.0.1:0",
                            "--rtsp-listen", "none"], env=env, stdout=logf,
                           stderr=subprocess.STDOUT)
    probe = None
    try:
        port = None
        for _ in range(200):
            time.sleep(0.05)
            with open(os.path.join(tmp, "vigil.log")) as f:
                for line in f:
                    if "listening on http://127.0.0.1:" in line:
                        port = int(line.split("127.0.0.1:")[1].split("/")[0])
            if port:
                break
        base = "http://127.0.0.1:%d" % port
        duration = 30 + a.moves // 10
        if a.viewers:
            probe = subprocess.Popen(["nice", "-n", "10", a.binary, "probe", "-n",
                                      str(a.viewers), "-d", str(duration), "--stamp-rate", "0",
                                      "--json", "ws://127.0.0.1:%d/api/v1/cameras/load/ws" % port],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(5)  # all connected and receiving
        s = requests.Session()
        rest_first, rest_ok = [], []
        for i in range(a.moves):
            fake.clear_log()
            t0 = time.time()
            r = s.post(base + "/api/v1/cameras/ptz/ptz/move", json={"pan": 0.5 if i % 2 else -0.5},
                       timeout=10)
            assert r.status_code == 200, r.text
            first, ok = arrivals(fake)
            rest_first.append((first - t0) * 1000)
            rest_ok.append((ok - t0) * 1000)
            time.sleep(0.02)
        s.post(base + "/api/v1/cameras/ptz/ptz/stop", timeout=10)

        async def ws_run():
            out_first, out_ok = [], []
            async with websockets.connect("ws://127.0.0.1:%d/api/v1/cameras/ptz/ws" % port,
                                          max_size=None, ping_interval=None) as ws:
                for i in range(a.moves):
                    fake.clear_log()
                    t0 = time.time()
                    await ws.send(json.dumps({"type": "ptz.move", "pan": 0.5 if i % 2 else -0.5}))
                    for _ in range(1000):
                        m = await asyncio.wait_for(ws.recv(), 10)
                        if isinstance(m, str) and json.loads(m).get("type") == "ptz":
                            break
                    first, ok = arrivals(fake)
                    out_first.append((first - t0) * 1000)
                    out_ok.append((ok - t0) * 1000)
                    await asyncio.sleep(0.02)
                await ws.send(json.dumps({"type": "ptz.stop"}))
                await asyncio.sleep(0.2)
            return out_first, out_ok

        ws_first, ws_ok = asyncio.run(ws_run())
        pr = None
        if probe:
            out, _ = probe.communicate(timeout=duration + 60)
            try:
                pr = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                pr = None
        rows = {
            "viewers": a.viewers, "moves": a.moves,
            "rest_first_ms": (pct(rest_first, 50), pct(rest_first, 99)),
            "rest_camera_acts_ms": (pct(rest_ok, 50), pct(rest_ok, 99)),
            "ws_first_ms": (pct(ws_first, 50), pct(ws_first, 99)),
            "ws_camera_acts_ms": (pct(ws_ok, 50), pct(ws_ok, 99)),
        }
        if pr:
            rows["probe"] = {k: pr.get(k) for k in ("viewers", "fps_median", "fps_min", "errors")
                             if k in pr}
        print(json.dumps(rows))
        for k, v in rows.items():
            if k.endswith("_ms"):
                log("%-22s p50 %6.2f ms   p99 %6.2f ms" % (k, v[0], v[1]))
    finally:
        if probe and probe.poll() is None:
            probe.terminate()
            probe.wait(10)
        srv.terminate()
        srv.wait(10)
        fake.stop()
        logf.close()


if __name__ == "__main__":
    main()
