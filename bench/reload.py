#!/usr/bin/python3
"""How long an edit made by another program takes to reach a running vigil.

Starts `vigil serve` on a fresh database and, N times, inserts a camera with the sqlite3
command line and polls GET /api/v1/cameras/{id} (every 10 ms) until it is served; then
changes the URL of a watched camera (a test camera of another size) with sqlite3 and times
the first frame of the new size on the open WebSocket. Prints median and max of each.

    bench/reload.py [N]      (default 10; needs build/vigil and sqlite3)
"""
import asyncio
import json
import os
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
from benchlib import free_port  # noqa: E402


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def sql(db, statement):
    subprocess.run(["sqlite3", db, statement], check=True)


async def switch_once(port, db, cam, i):
    sizes = [(320, 240), (640, 360)]
    async with websockets.connect("ws://127.0.0.1:%d/api/v1/cameras/%s/ws?tier=native"
                                  % (port, cam), max_size=1 << 24) as ws:
        n = 0
        t0 = None
        want = sizes[(i + 1) % 2]
        while True:
            msg = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(msg, str):
                continue
            w, h = struct.unpack_from("<HH", msg, 24)
            n += 1
            if n == 5:
                t0 = time.monotonic()
                sql(db, "UPDATE cameras SET url='test://?width=%d&height=%d&fps=30' WHERE id='%s'"
                    % (want[0], want[1], cam))
            if t0 and (w, h) == want:
                return time.monotonic() - t0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    tmp = tempfile.mkdtemp(prefix="vigil-reload-")
    db = os.path.join(tmp, "bench.db")
    port = free_port()
    proc = subprocess.Popen([VIGIL, "serve", "--no-auth", "--db", db, "--listen", "127.0.0.1:%d" % port,
                             "--log-level", "warn"])
    try:
        for _ in range(200):
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        insert = []
        for i in range(n):
            cam = "cam%d" % i
            t0 = time.monotonic()
            sql(db, "INSERT INTO cameras (id, name, url) VALUES ('%s', '%s', "
                    "'test://?width=320&height=240&fps=30')" % (cam, cam))
            while get(port, "/api/v1/cameras/" + cam)[0] != 200 or \
                    get(port, "/api/v1/cameras/" + cam)[1]["live"] is None:
                time.sleep(0.01)
            insert.append(time.monotonic() - t0)
        switch = [asyncio.run(switch_once(port, db, "cam0", i)) for i in range(n)]
        for name, xs in (("sqlite3 INSERT -> camera served", insert),
                         ("sqlite3 UPDATE url -> first frame of the new source", switch)):
            print("%-52s median %4.0f ms  max %4.0f ms  (n=%d)" % (
                name, statistics.median(xs) * 1000, max(xs) * 1000, len(xs)))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
