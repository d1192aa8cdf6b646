"""Helpers for the issue 12 hardening tests (test_revocation, test_store_lock, test_api_keys,
test_login_backoff, test_redaction, test_jwt_noauth): a database with users made by the CLI,
a server on it, sign-in, and a raw-socket stream watcher that records when and how a
WebSocket or MJPEG stream ends. Every loop is bounded in count and time; every socket has a
timeout."""
import json
import os
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

import requests

from conftest import VIGIL_BIN, _Factory, read_http_head, split_ws_frame, ws_frame

CAM = "test://?width=160&height=120&fps=15"
HS_SECRET = "hs256-hardening-secret-0123456789abcdef-0123456789"


def write_secret(path, text=HS_SECRET):
    """A secret file as vigil wants it: mode 0600 (it refuses one others can read)."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(str(path), 0o600)
    return str(path)


def cli(db, *args, stdin=None, check=True, timeout=30):
    """Runs `vigil ARGS` against db (VIGIL_DB) as another process; returns the result."""
    env = dict(os.environ, VIGIL_DB=db)
    for k in ("VIGIL_MASTER_KEY", "VIGIL_MASTER_KEY_FILE"):
        env.pop(k, None)
    p = subprocess.run([VIGIL_BIN] + list(args), input=stdin, capture_output=True, text=True,
                       env=env, timeout=timeout)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def add_user(db, uid, role, password, grants=(), enabled=True):
    cli(db, "user", "add", "id=" + uid, "role=" + role, "--password-stdin", stdin=password)
    for cam in grants:
        cli(db, "user", "grant", uid, "camera=" + cam)
    if not enabled:
        cli(db, "user", "set", uid, "enabled:=false")


def start_server(tmp, db, extra_args=(), env=None, config=None):
    """A `vigil serve --db db` with access control; returns (factory, server). The caller
    must call factory.teardown() (it returns the problems: a non-zero exit status)."""
    fac = _Factory(tmp)
    srv = fac(cameras={}, auth=True, env=env, config=config,
              extra_args=["--db", db] + list(extra_args))
    return fac, srv


def finish(fac):
    import pytest
    problems = fac.teardown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def login(srv, user, password, headers=None):
    s = requests.Session()
    r = s.post(srv.url("/api/v1/login"), json={"user": user, "password": password},
               headers=headers or {}, timeout=10)
    assert r.status_code == 200, (user, r.status_code, r.text)
    s.csrf = r.json()["csrf_token"]
    s.headers["X-CSRF-Token"] = s.csrf
    s.cookie = s.cookies["vigil_session"]
    return s


def stream_token(srv, session, cam, ttl_s=600):
    r = session.post(srv.url("/api/v1/cameras/%s/token" % cam), json={"ttl_s": ttl_s},
                     timeout=10)
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json()


def bearer(token):
    return {"Authorization": "Bearer " + token}


def make_hs_jwt(claims, lifetime=300, headers=None, secret=HS_SECRET):
    import jwt as pyjwt
    now = int(time.time())
    full = {"iat": now, "exp": now + lifetime}
    full.update(claims)
    return pyjwt.encode(full, secret, algorithm="HS256", headers=headers or {})


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 2):
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)
    return pred()


def ws_path(cam, token=None):
    p = "/api/v1/cameras/%s/ws" % urllib.parse.quote(cam, safe="")
    return p + ("?token=" + urllib.parse.quote(token, safe="") if token else "")


def mjpeg_path(cam, token=None):
    p = "/cameras/%s/mjpeg" % urllib.parse.quote(cam, safe="")
    return p + ("?token=" + urllib.parse.quote(token, safe="") if token else "")


def snapshot_path(cam, token=None):
    p = "/cameras/%s/snapshot.jpg" % urllib.parse.quote(cam, safe="")
    return p + ("?token=" + urllib.parse.quote(token, safe="") if token else "")


def raw_request(srv, path, headers=None, ws=False, timeout=5.0):
    """Sends a GET (a WebSocket upgrade if ws) on a new socket; returns (socket, status,
    headers, rest of the bytes read)."""
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % srv.port]
    if ws:
        lines += ["Upgrade: websocket", "Connection: Upgrade",
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    s = socket.create_connection((srv.host, srv.port), timeout=timeout)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, hdrs, rest = read_http_head(s, timeout=timeout)
    return s, status, hdrs, rest


def status_line_of(srv, path, headers=None, ws=False, timeout=5.0):
    """The raw first line of the answer to a GET (or upgrade)."""
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % srv.port]
    if ws:
        lines += ["Upgrade: websocket", "Connection: Upgrade",
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    s = socket.create_connection((srv.host, srv.port), timeout=timeout)
    try:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf, deadline = b"", time.monotonic() + timeout
        for _ in range(1000):
            if b"\r\n" in buf or time.monotonic() > deadline:
                break
            s.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf.split(b"\r\n", 1)[0].decode("latin-1")
    finally:
        s.close()


class Watcher(threading.Thread):
    """One stream viewer on a raw socket (kind "ws" or "mjpeg"), read as fast as it comes.
    Records the handshake status, each frame's arrival (monotonic), and how and when the
    stream ended: ("close", code, reason), ("eof",), ("reset",) or ("refused", status)."""

    def __init__(self, srv, kind, path, headers=None, duration=30.0, label=None):
        super().__init__(daemon=True)
        self.srv, self.kind, self.path = srv, kind, path
        self.headers = dict(headers or {})
        self.label = label or "%s %s" % (kind, path)
        self.deadline = time.monotonic() + duration
        self.status = None
        self.frames = []
        self.how = None
        self.ended_at = None       # monotonic
        self.ended_wall = None     # time.time()
        self.error = None
        self.stopping = False
        self.opened = threading.Event()   # handshake answered
        self.receiving = threading.Event()  # two frames arrived
        self.done = threading.Event()

    def _end(self, how):
        if self.how is None:
            self.how = how
            self.ended_at = time.monotonic()
            self.ended_wall = time.time()

    def run(self):
        sock = None
        try:
            sock, status, _, rest = raw_request(self.srv, self.path, self.headers,
                                                ws=self.kind == "ws")
            self.status = status
            self.opened.set()
            if status != (101 if self.kind == "ws" else 200):
                self._end(("refused", status))
                return
            buf = rest
            tail = b""
            for _ in range(1000000):
                if self.stopping or time.monotonic() > self.deadline:
                    break
                if self.kind == "ws":
                    buf = self._parse_ws(sock, buf)
                    if self.how is not None:
                        return
                else:
                    data = tail + buf
                    n = data.count(b"--vigilframe")
                    now = time.monotonic()
                    self.frames.extend([now] * n)
                    tail = data[-16:] if b"--vigilframe" not in data[-16:] else b""
                    buf = b""
                    if len(self.frames) >= 2:
                        self.receiving.set()
                sock.settimeout(0.5)
                try:
                    chunk = sock.recv(262144)
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    self._end(("reset",))
                    return
                if not chunk:
                    self._end(("eof",))
                    return
                buf += chunk
        except Exception as e:  # reported by the test
            self.error = repr(e)
            self.opened.set()
        finally:
            if sock is not None:
                sock.close()
            self.done.set()

    def _parse_ws(self, sock, buf):
        for _ in range(100000):
            frame = split_ws_frame(buf)
            if frame is None:
                break
            op, payload, buf = frame
            if op == 2:
                self.frames.append(time.monotonic())
                if len(self.frames) >= 2:
                    self.receiving.set()
            elif op == 9:
                sock.sendall(ws_frame(0xA, payload))
            elif op == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                self._end(("close", code, payload[2:].decode("utf-8", "replace")))
                return buf
        return buf

    def stop(self):
        self.stopping = True
        self.join(3)

    def describe(self):
        return "%s: status %r, %d frames, ended %r%s" % (
            self.label, self.status, len(self.frames), self.how,
            (", error " + self.error) if self.error else "")


def start_watchers(watchers, timeout=8.0):
    """Starts them and waits until each receives frames; returns a list of problems."""
    for w in watchers:
        w.start()
    deadline = time.monotonic() + timeout
    problems = []
    for w in watchers:
        w.receiving.wait(max(0.05, deadline - time.monotonic()))
        if not w.receiving.is_set():
            problems.append("never received frames: " + w.describe())
    return problems


def wait_ended(watchers, until):
    """Waits (until a monotonic deadline) for every watcher to end."""
    for w in watchers:
        w.done.wait(max(0.0, until - time.monotonic()))


def audit(srv, session, limit=500):
    r = session.get(srv.url("/api/v1/audit?limit=%d" % limit), timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["audit"]


def dumps(obj):
    return json.dumps(obj, sort_keys=True)
