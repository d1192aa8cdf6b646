"""What the fake cameras share: a threaded HTTP server on 127.0.0.1 that runs in the test's
process, HTTP Digest (RFC 2617, MD5, with or without qop) and Basic checking, a request log,
and the fault switches (slow, silent, HTTP error, garbage body).

Python 3 standard library only (Debian's /usr/bin/python3). Every socket has a time-out so
that a test that forgets to stop a fake does not hang the run.
"""
import base64
import hashlib
import http.server
import json
import os
import re
import socket
import socketserver
import threading
import time
import urllib.parse

FAKE_PREFIX = "/__fake/"      # no real camera serves this path


def md5_hex(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def parse_auth_params(value):
    """key=value pairs of an Authorization header, values quoted or not."""
    out = {}
    for m in re.finditer(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', value):
        out[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return out


class DigestRealm:
    """Issues Digest challenges and checks answers (RFC 2617 §3.2.2, MD5).

    qop=True sends `qop="auth"` (current firmware); qop=False sends a challenge without qop,
    which older Bosch firmware does (sheet §4), so a client must compute the RFC 2069 form.
    """

    def __init__(self, realm, accounts, qop=True, allow_basic=False):
        self.realm = realm
        self.accounts = accounts          # name -> password
        self.qop = qop
        self.allow_basic = allow_basic
        self._nonces = set()
        self._lock = threading.Lock()

    def challenge(self):
        nonce = base64.b64encode(os.urandom(18)).decode()
        with self._lock:
            self._nonces.add(nonce)
        parts = [f'realm="{self.realm}"', f'nonce="{nonce}"', 'algorithm=MD5']
        if self.qop:
            parts.append('qop="auth"')
        headers = [("WWW-Authenticate", "Digest " + ", ".join(parts))]
        if self.allow_basic:
            headers.append(("WWW-Authenticate", f'Basic realm="{self.realm}"'))
        return headers

    def check(self, method, header):
        """(user, scheme) when `header` proves an account, else (None, why)."""
        if not header:
            return None, "no Authorization header"
        scheme, _, rest = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            if not self.allow_basic:
                return None, "Basic is switched off"
            try:
                user, _, pw = base64.b64decode(rest.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, "malformed Basic credentials"
            if self.accounts.get(user) == pw:
                return user, "basic"
            return None, "wrong Basic credentials"
        if scheme != "digest":
            return None, f"unsupported scheme {scheme!r}"
        p = parse_auth_params(rest)
        user = p.get("username")
        if user not in self.accounts:
            return None, "unknown user"
        with self._lock:
            known = p.get("nonce") in self._nonces
        if not known:
            return None, "nonce not issued by this fake"
        if p.get("realm") != self.realm:
            return None, "wrong realm"
        ha1 = md5_hex(f"{user}:{self.realm}:{self.accounts[user]}")
        ha2 = md5_hex(f"{method}:{p.get('uri', '')}")
        if self.qop:
            if p.get("qop") != "auth" or not p.get("nc") or not p.get("cnonce"):
                return None, "qop=auth answer without qop, nc or cnonce"
            want = md5_hex(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        else:
            want = md5_hex(f"{ha1}:{p['nonce']}:{ha2}")
        if p.get("response") != want:
            return None, "wrong Digest response"
        return user, "digest"


class Faults:
    """Switches a test flips to make a fake slow, wrong or silent.

    delay_s: wait before answering. mode: None; "silent" (read the request, never answer
    until the fake stops); "http500"; "http401" (refuse even good credentials);
    "garbage" (200 with a body that is not XML); plus modes a fake defines itself.
    """

    MODES = (None, "silent", "http500", "http401", "garbage")

    def __init__(self):
        self.delay_s = 0.0
        self.mode = None

    def set(self, mode=None, delay_s=0.0):
        self.mode = mode
        self.delay_s = float(delay_s)

    def as_dict(self):
        return {"mode": self.mode, "delay_s": self.delay_s}


def serve_until_interrupted(fake, *lines):
    """Script mode: print where the fake listens (the first line first: tests read it), then
    serve until ^C or SIGTERM."""
    for line in lines:
        print(line, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeHandler(http.server.BaseHTTPRequestHandler):
    """Dispatches /__fake/* to the fake's control API and the rest to fake.handle()."""

    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args):   # keep test output clean
        pass

    def setup(self):
        super().setup()
        # send() writes the headers and the body separately: with Nagle the body waits for
        # the client's delayed ACK (about 40 ms), which tests and benches would count against
        # the client (a Digest challenge costs that on every request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body=b"", ctype="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _dispatch(self):
        fake = self.server.fake
        body = self._body()
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith(FAKE_PREFIX):
            return fake.control(self, path[len(FAKE_PREFIX):], body)
        faults = fake.faults
        if faults.delay_s > 0:
            fake.stopping.wait(faults.delay_s)
        if faults.mode == "silent":
            fake.record_raw(self, body, note="silent: not answered")
            fake.stopping.wait(3600)
            self.close_connection = True
            return
        fake.handle(self, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


class FakeServer:
    """Base of the fakes: start()/stop(), a log, control endpoints under /__fake/."""

    name = "fake"

    def __init__(self):
        self.faults = Faults()
        self.stopping = threading.Event()
        self.lock = threading.RLock()
        self.log = []
        self._httpd = None
        self._thread = None
        self.port = None

    # lifecycle -------------------------------------------------------------------------
    def start(self, port=0, host="127.0.0.1"):
        self._httpd = _Server((host, port), FakeHandler)
        self._httpd.fake = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    # log -------------------------------------------------------------------------------
    def record(self, entry):
        entry.setdefault("t", time.time())
        with self.lock:
            self.log.append(entry)
        return entry

    def record_raw(self, req, body, note):
        return self.record({"method": req.command, "path": req.path, "note": note,
                            "body": body.decode("utf-8", "replace")})

    def requests(self, **match):
        """Logged requests whose fields equal every given value."""
        with self.lock:
            return [e for e in self.log if all(e.get(k) == v for k, v in match.items())]

    def clear_log(self):
        with self.lock:
            self.log.clear()

    # control API -----------------------------------------------------------------------
    def state(self):
        raise NotImplementedError

    def control(self, req, what, body):
        """GET state | POST fault {"mode","delay_s"} | POST reset | POST clear-log."""
        try:
            args = json.loads(body or b"{}")
        except ValueError:
            return req.send(400, "body is not JSON")
        if what == "state" and req.command == "GET":
            with self.lock:
                out = {"state": self.state(), "faults": self.faults.as_dict(),
                       "log": list(self.log)}
            return req.send(200, json.dumps(out), "application/json")
        if what == "fault" and req.command == "POST":
            if args.get("mode") not in self.faults.MODES:
                return req.send(400, f"unknown fault mode {args.get('mode')!r}")
            self.faults.set(args.get("mode"), args.get("delay_s", 0.0))
            return req.send(204)
        if what == "clear-log" and req.command == "POST":
            self.clear_log()
            return req.send(204)
        return req.send(404, "unknown fake control")

    def handle(self, req, body):
        raise NotImplementedError
