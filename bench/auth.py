#!/usr/bin/python3
"""What access control costs a request, and how long a sign-in takes.

Starts `vigil serve` on a fresh database with an admin and one camera, then, over one
keep-alive connection each, times N requests of: /healthz (a public route: the gate looks
at nothing), /api/v1/session (the cookie: a session lookup and a user lookup), and
/api/v1/cameras/c1 (the cookie, a camera check, and the record read), each measured twice
interleaved; and M sign-ins (an Argon2id check on the thread pool). Prints medians.

    bench/auth.py [N] [M]      (default 500 requests, 10 sign-ins; needs build/vigil)
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
VIGIL = os.environ.get("VIGIL_BIN", os.path.join(HERE, "..", "build", "vigil"))
sys.path.insert(0, HERE)
from benchlib import free_port  # noqa: E402

PASSWORD = "bench-auth-pw-1"


def timed(sess, url, n):
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        r = sess.get(url, timeout=10)
        xs.append((time.perf_counter() - t) * 1e6)
        assert r.status_code == 200, (url, r.status_code)
    return statistics.median(xs)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "bench.db")
        env = dict(os.environ, VIGIL_DB=db)
        subprocess.run([VIGIL, "user", "add", "id=root", "name=Root", "role=admin",
                        "--password-stdin"], input=PASSWORD, text=True, env=env, check=True,
                       capture_output=True)
        subprocess.run([VIGIL, "camera", "add", "id=c1", "url=test://?width=160&height=120"],
                       env=env, check=True, capture_output=True)
        port = free_port()
        proc = subprocess.Popen([VIGIL, "serve", "--db", db, "--listen", "127.0.0.1:%d" % port,
                                 "--log-level", "warn"])
        base = "http://127.0.0.1:%d" % port
        try:
            for _ in range(100):
                try:
                    if requests.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.05)
            logins = []
            for _ in range(m):
                t = time.perf_counter()
                r = requests.post(base + "/api/v1/login",
                                  json={"user": "root", "password": PASSWORD}, timeout=10)
                logins.append((time.perf_counter() - t) * 1e3)
                assert r.status_code == 200, r.text
            anon, user = requests.Session(), requests.Session()
            user.post(base + "/api/v1/login", json={"user": "root", "password": PASSWORD},
                      timeout=10)
            rows = {"healthz (public)": [], "session (cookie)": [], "camera (cookie+camera)": []}
            for _ in range(2):
                rows["healthz (public)"].append(timed(anon, base + "/healthz", n))
                rows["session (cookie)"].append(timed(user, base + "/api/v1/session", n))
                rows["camera (cookie+camera)"].append(timed(user, base + "/api/v1/cameras/c1", n))
            for name, meds in rows.items():
                print("%-24s median %5.0f us (runs: %s)" % (name, statistics.median(meds),
                                                           ", ".join("%.0f" % x for x in meds)))
            print("%-24s median %5.1f ms, max %.1f ms (%d)" % ("sign-in", statistics.median(logins),
                                                               max(logins), m))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
