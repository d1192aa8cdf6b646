#!/usr/bin/python3
"""How long an edit made by another program takes to reach a running vigil.

Starts `vigil serve` on a fresh database and, N times, inserts a camera with the sqlite3
command line and polls GET /api/v1/cameras/{id} (every 10 ms) until it is served; then
changes the URL of a watched camera (a test camera of another size) with sqlite3 and times
the first frame of the new size on the open WebSocket. Prints median and max of each.
The same on PostgreSQL (a server started here, as tests/integration/pg_server.py does; the
edits made with psql, reaching vigil by NOTIFY), one backend after the other.

    bench/reload.py [N] [sqlite,postgresql]   (default 10 and both; needs build/vigil,
                                               sqlite3, and Debian's postgresql for the second)
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
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from benchlib import free_port  # noqa: E402
from pg_server import PgServer  # noqa: E402


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def sql(db, statement):
    if db.startswith("postgresql://"):
        subprocess.run(["psql", "-X", "-q", db, "-c", statement], check=True,
                       stdout=subprocess.DEVNULL)
    else:
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


def run(n, backend):
    tmp = tempfile.mkdtemp(prefix="vigil-reload-")
    pg = None
    args = []
    if backend == "postgresql":
        pg = PgServer().start()
        db = pg.url
        key = os.path.join(tmp, "master.key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(key, 0o600)
        args = ["--master-key-file", key]
    else:
        db = os.path.join(tmp, "bench.db")
    port = free_port()
    proc = subprocess.Popen([VIGIL, "serve", "--no-auth", "--db", db, "--listen", "127.0.0.1:%d" % port,
                             "--log-level", "warn"] + args,
                            env=dict(os.environ, VIGIL_RTSP_LISTEN="none"))
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
        tool = "psql" if pg else "sqlite3"
        for name, xs in (("%s INSERT -> camera served" % tool, insert),
                         ("%s UPDATE url -> first frame of the new source" % tool, switch)):
            print("%-11s %-49s median %4.0f ms  max %4.0f ms  (n=%d)" % (
                backend, name, statistics.median(xs) * 1000, max(xs) * 1000, len(xs)))
    finally:
        proc.terminate()
        proc.wait(10)
        if pg:
            pg.stop()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    backends = sys.argv[2].split(",") if len(sys.argv) > 2 else ["sqlite", "postgresql"]
    for backend in backends:
        run(n, backend)


if __name__ == "__main__":
    main()
