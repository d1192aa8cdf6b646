"""Issue 6: access control. One server with two tenants, users of each role, bearer JWTs
(HS256 secret, RS256 and ES256 keys from a JWKS file) and stream tokens; the authorization
matrix walks every route the server lists (`--list-routes`) for every kind of caller and
own / foreign / unknown camera, and fails on a route it does not know."""
import base64
import json
import os
import re
import socket
import sqlite3
import subprocess
import time
import urllib.parse

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import VIGIL_ASAN_BIN, VIGIL_BIN, _Factory, read_http_head

SMALL = "test://?width=160&height=120&fps=5"
PASSWORDS = {
    "root": "root-pw-9f3k2m",
    "av": "acme-viewer-pw-1",
    "ao": "acme-operator-pw-2",
    "gv": "globex-viewer-pw-3",
}
HS_SECRET = "hs256-test-secret-0123456789abcdef-0123456789"
ISSUER = "https://idp.test"
AUDIENCE = "vigil-test"


def cli(db, *args, stdin=None, check=True):
    env = dict(os.environ, VIGIL_DB=db)
    p = subprocess.run([VIGIL_BIN] + list(args), input=stdin, capture_output=True, text=True,
                       env=env, timeout=30)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def b64url_int(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class World:
    """The server and what the tests know about it."""


# The module runs on the ASan/UBSan build, whose reports make it exit non-zero (the teardown
# requires 0): the same access logic as the release build, with memory errors caught too
# (running it on both took 60 s of the suite). Without an ASan build, on the release one.
@pytest.fixture(scope="module", params=["asan"])
def world(request, tmp_path_factory):
    binary = VIGIL_ASAN_BIN if os.path.exists(VIGIL_ASAN_BIN) else VIGIL_BIN
    if not os.path.exists(binary):
        pytest.skip("no vigil build at %s" % binary)
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1"} \
        if binary == VIGIL_ASAN_BIN else None
    tmp = tmp_path_factory.mktemp("auth")
    db = str(tmp / "vigil.db")
    w = World()
    w.db = db
    for t in ("acme", "globex"):
        cli(db, "tenant", "add", "id=" + t, "name=" + t.title())
    for cam in ("acme-cam", "globex-cam", "spare-cam"):
        cli(db, "camera", "add", "id=" + cam, "url=" + SMALL)
    cli(db, "user", "add", "id=root", "role=admin", "--password-stdin", stdin=PASSWORDS["root"])
    cli(db, "user", "add", "id=av", "role=viewer", "tenant_id=acme", "--password-stdin",
        stdin=PASSWORDS["av"])
    cli(db, "user", "add", "id=ao", "role=operator", "tenant_id=acme", "--password-stdin",
        stdin=PASSWORDS["ao"])
    cli(db, "user", "add", "id=gv", "role=viewer", "tenant_id=globex", "--password-stdin",
        stdin=PASSWORDS["gv"])
    cli(db, "tenant", "grant", "acme", "camera=acme-cam")
    cli(db, "tenant", "grant", "globex", "camera=globex-cam")

    # Keys for bearer JWTs: an RSA and an EC key in a JWKS file, and an HS256 secret.
    w.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    w.ec = ec.generate_private_key(ec.SECP256R1())
    rn = w.rsa.public_key().public_numbers()
    en = w.ec.public_key().public_numbers()
    jwks = {"keys": [
        {"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": b64url_int(rn.n),
         "e": b64url_int(rn.e)},
        {"kty": "EC", "kid": "e1", "alg": "ES256", "use": "sig", "crv": "P-256",
         "x": base64.urlsafe_b64encode(en.x.to_bytes(32, "big")).rstrip(b"=").decode(),
         "y": base64.urlsafe_b64encode(en.y.to_bytes(32, "big")).rstrip(b"=").decode()},
    ]}
    (tmp / "jwks.json").write_text(json.dumps(jwks))
    (tmp / "hs.secret").write_text(HS_SECRET + "\n")
    (tmp / "hs.secret").chmod(0o600)  # vigil refuses a secret others may read
    fac = _Factory(tmp)
    w.srv = fac(cameras={}, auth=True, binary=binary, env=env, extra_args=[
        "--db", db, "--jwks", str(tmp / "jwks.json"), "--jwt-secret-file", str(tmp / "hs.secret"),
        "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE])
    w.sessions = {}
    for user in ("root", "av", "ao", "gv"):
        w.sessions[user] = login(w.srv, user, PASSWORDS[user])
    yield w
    problems = fac.teardown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


class Caller:
    def __init__(self, kind, user=None, role=None, tenant=None, session=None, headers=None,
                 token_cam=None, token=None):
        self.kind, self.user, self.role, self.tenant = kind, user, role, tenant
        self.session = session
        self.headers = headers or {}
        self.token_cam, self.token = token_cam, token

    def __repr__(self):
        return self.kind


def login(srv, user, password):
    s = requests.Session()
    r = s.post(srv.url("/api/v1/login"), json={"user": user, "password": password}, timeout=10)
    assert r.status_code == 200, (user, r.status_code, r.text)
    body = r.json()
    s.headers["X-CSRF-Token"] = body["csrf_token"]
    s.csrf = body["csrf_token"]
    return s


def make_jwt(w, claims, alg="RS256", key=None, headers=None, lifetime=300):
    now = int(time.time())
    full = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + lifetime}
    full.update(claims)
    full = {k: v for k, v in full.items() if v is not None}
    if key is None:
        key = {"RS256": w.rsa, "ES256": w.ec, "HS256": HS_SECRET}[alg]
    hdr = {"kid": {"RS256": "r1", "ES256": "e1"}.get(alg)} if alg != "HS256" else {}
    if headers:
        hdr.update(headers)
    return pyjwt.encode(full, key, algorithm=alg, headers=hdr)


def bearer(token):
    return {"Authorization": "Bearer " + token}


# --------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------

ROLE_RANK = {"public": 0, "viewer": 1, "operator": 2, "admin": 3}

# What each route is, as this test understands it: the least role, whether {} is a camera,
# whether a stream token opens it, and the status when the caller may use it. A route the
# server lists and this table lacks fails the test.
ROUTES = {
    ("GET", "/api/v1/cameras/{}/ws"): ("viewer", True, True, 101),
    ("GET", "/cameras/{}/mjpeg"): ("viewer", True, True, 200),
    ("GET", "/cameras/{}/snapshot.jpg"): ("viewer", True, True, 200),
    ("GET", "/cameras/{}/hls/index.m3u8"): ("viewer", True, True, 200),
    # An HLS file is served while its camera's muxer runs: the playlist's row, just before,
    # started it (the matrix goes row by row, in this order).
    ("GET", "/cameras/{}/hls/{}"): ("viewer", True, True, 200),
    ("POST", "/api/v1/login"): ("public", False, False, 400),  # {} is not a login
    ("POST", "/api/v1/logout"): ("viewer", False, False, 200),
    ("GET", "/api/v1/session"): ("viewer", False, False, 200),
    ("POST", "/api/v1/cameras/{}/token"): ("viewer", True, False, 201),
    ("GET", "/healthz"): ("public", False, False, 200),
    ("GET", "/readyz"): ("public", False, False, 200),
    ("GET", "/api/v1/cameras"): ("viewer", False, False, 200),
    ("POST", "/api/v1/cameras"): ("admin", False, False, 201),
    ("GET", "/api/v1/cameras/{}"): ("viewer", True, False, 200),
    ("PATCH", "/api/v1/cameras/{}"): ("admin", True, False, 200),
    ("DELETE", "/api/v1/cameras/{}"): ("admin", True, False, 200),
    ("GET", "/api/v1/streams"): ("viewer", False, False, 200),
    ("GET", "/api/v1/streams/{}"): ("viewer", True, False, 200),
    ("GET", "/api/v1/viewers"): ("admin", False, False, 200),
    ("GET", "/metrics"): ("admin", False, False, 200),
    ("GET", "/api/v1/status"): ("admin", False, False, 200),
    ("GET", "/api/v1/grants"): ("admin", False, False, 200),
    ("POST", "/api/v1/grants"): ("admin", False, False, 201),
    ("DELETE", "/api/v1/grants"): ("admin", False, False, 200),
    ("GET", "/api/v1/keys"): ("admin", False, False, 200),
    ("POST", "/api/v1/keys"): ("admin", False, False, 201),
    ("DELETE", "/api/v1/keys/{}"): ("admin", False, False, 200),
    ("GET", "/api/v1/audit"): ("admin", False, False, 200),
    ("GET", "/api/v1/instances"): ("admin", False, False, 200),
    ("GET", "/api/v1/uplinks"): ("admin", False, False, 200),
    # the WebSocket an edge dials: a plain request is 426 once the caller may use it
    ("GET", "/api/v1/uplink"): ("admin", False, False, 426),
    # an instance that is not registered: draining the test's own server would end it
    ("POST", "/api/v1/instances/{}/drain"): ("admin", False, False, 404),
    ("GET", "/api/v1/openapi.json"): ("public", False, False, 200),
    # PTZ (issue 17): operators and admins; these cameras have no PTZ driver, so a caller who
    # may steer gets 409 no_ptz (test_ptz.py walks the same routes on PTZ cameras).
    ("POST", "/api/v1/cameras/{}/ptz/move"): ("operator", True, False, 409),
    ("POST", "/api/v1/cameras/{}/ptz/stop"): ("operator", True, False, 409),
    ("GET", "/api/v1/cameras/{}/ptz/presets"): ("operator", True, False, 409),
    ("POST", "/api/v1/cameras/{}/ptz/presets/{}/goto"): ("operator", True, False, 409),
    ("PUT", "/api/v1/cameras/{}/ptz/presets/{}"): ("operator", True, False, 409),
    ("DELETE", "/api/v1/cameras/{}/ptz/presets/{}"): ("operator", True, False, 409),
    ("GET", "/api/v1/cameras/{}/ptz/status"): ("operator", True, False, 409),
    ("POST", "/api/v1/cameras/{}/alarms/{}"): ("operator", True, False, 409),
}
# ONVIF discovery (test_discovery.py); here it probes the host's loopback only, for 0.1 s.
ROUTES[("POST", "/api/v1/discover")] = ("admin", False, False, 200)
for _kind in ("tenants", "sites", "gateways"):
    ROUTES[("GET", "/api/v1/" + _kind)] = ("admin", False, False, 200)
    ROUTES[("POST", "/api/v1/" + _kind)] = ("admin", False, False, 201)
    ROUTES[("GET", "/api/v1/%s/{}" % _kind)] = ("admin", False, False, 200)
    ROUTES[("PATCH", "/api/v1/%s/{}" % _kind)] = ("admin", False, False, 200)
    ROUTES[("DELETE", "/api/v1/%s/{}" % _kind)] = ("admin", False, False, 200)

SEQ = [0]
CAMERA_TENANT = {"acme-cam": "acme", "globex-cam": "globex"}


def fresh(prefix):
    SEQ[0] += 1
    return "%s-%d" % (prefix, SEQ[0])


def admin_api(w, method, path, **kw):
    r = w.sessions["root"].request(method, w.srv.url(path), timeout=10, **kw)
    assert r.status_code < 300, (method, path, r.status_code, r.text)
    return r


def fresh_camera(w, tenant="acme"):
    """A new camera granted to tenant, for a request that may delete or change it."""
    cam = fresh("tmpcam")
    admin_api(w, "POST", "/api/v1/cameras", json={"id": cam, "url": SMALL})
    admin_api(w, "POST", "/api/v1/grants", json={"tenant_id": tenant, "camera_id": cam})
    CAMERA_TENANT[cam] = tenant
    return cam


def fresh_record(w, kind):
    rid = fresh(kind[:-1])
    body = {"id": rid, "name": rid}
    if kind == "gateways":
        body["host"] = "gw.example"
    admin_api(w, "POST", "/api/v1/" + kind, json=body)
    return rid


def request_for(w, method, pattern, cam):
    """(path, json body or None, expected status when allowed) for one cell; what it
    changes is made fresh, so that every cell finds the same world."""
    body = None
    if "{}" in pattern:
        kind = pattern.split("/")[3] if pattern.startswith("/api/v1/") else "cameras"
        if pattern.startswith("/api/v1/cameras/{}") or pattern.startswith("/cameras/") or \
                pattern.startswith("/api/v1/streams/"):
            arg = cam
        elif kind == "instances":
            arg = "no-such-instance"
        elif kind == "keys":
            arg = admin_api(w, "POST", "/api/v1/keys", json={"user_id": "av"}).json()["id"]
        elif method == "DELETE":
            arg = fresh_record(w, kind)
        else:
            arg = {"tenants": "acme", "sites": "default", "gateways": None}[kind]
            if arg is None:
                arg = fresh_record(w, kind)
        second = "3" if ("/ptz/" in pattern or "/alarms/" in pattern) else "init1.mp4"
        path = pattern.replace("{}", arg, 1).replace("{}", second)
    else:
        path = pattern
    if method == "POST" and pattern in ("/api/v1/tenants", "/api/v1/sites", "/api/v1/gateways",
                                        "/api/v1/cameras"):
        rid = fresh("new")
        body = {"id": rid, "name": rid}
        if pattern.endswith("gateways"):
            body["host"] = "gw.example"
        if pattern.endswith("cameras"):
            body["url"] = SMALL
    elif method == "PATCH":
        body = {"name": "renamed"}
    elif pattern == "/api/v1/login":
        body = {}
    elif pattern == "/api/v1/grants" and method == "POST":
        body = {"tenant_id": "globex", "camera_id": "spare-cam"}
    elif pattern == "/api/v1/grants" and method == "DELETE":
        admin_api(w, "POST", "/api/v1/grants", json={"tenant_id": "globex",
                                                     "camera_id": "spare-cam"})
        path += "?tenant_id=globex&camera_id=spare-cam"
    elif pattern.endswith("/ptz/move"):
        body = {"pan": 0.1}
    elif "/alarms/" in pattern:
        body = {"on": True}
    elif pattern.endswith("/token"):
        body = {"ttl_s": 60}
    elif pattern == "/api/v1/keys" and method == "POST":
        body = {"user_id": "av", "name": "nvr"}
    elif pattern == "/api/v1/discover":
        body = {"wait_s": 0.1, "interface": "127.0.0.1"}
    return path, body


def callers(w):
    av_token = w.sessions["av"].post(w.srv.url("/api/v1/cameras/acme-cam/token"),
                                     json={"ttl_s": 600}, timeout=10).json()["token"]
    return [
        Caller("anonymous"),
        Caller("admin", "root", "admin", None, session=w.sessions["root"]),
        Caller("acme-viewer", "av", "viewer", "acme", session=w.sessions["av"]),
        Caller("acme-operator", "ao", "operator", "acme", session=w.sessions["ao"]),
        Caller("globex-viewer", "gv", "viewer", "globex", session=w.sessions["gv"]),
        Caller("acme-viewer-jwt", "av", "viewer", "acme",
               headers=bearer(make_jwt(w, {"sub": "av"}, lifetime=3600))),
        Caller("acme-claims-jwt", None, "viewer", "acme",
               headers=bearer(make_jwt(w, {"sub": "idp-user-7", "app_metadata": {
                   "role": "viewer", "tenant": "acme"}}, alg="ES256", lifetime=3600))),
        Caller("acme-stream-token", "av", "viewer", "acme", token_cam="acme-cam", token=av_token),
    ]


def sees(caller, cam):
    if cam == "unknown-cam":
        return False
    if caller.role == "admin":
        return True
    return CAMERA_TENANT.get(cam) == caller.tenant


def expected_status(spec, caller, cam, pattern):
    role, is_cam, takes_token, ok = spec
    if role == "public" and not is_cam:
        return ok
    if caller.kind == "anonymous":
        return 401
    if caller.token is not None:
        if not takes_token:
            return 401  # a stream token opens stream outputs, nothing else
        return ok if cam == caller.token_cam else 404
    if is_cam and not sees(caller, cam):
        return 404
    if ROLE_RANK[caller.role] < ROLE_RANK[role]:
        return 403
    if caller.user is None and pattern.endswith("/token"):
        return 403  # stream tokens name a vigil user; these claims have none
    return ok


def send(w, caller, method, path, body):
    """The status the server answers (WebSocket upgrades: the handshake's status)."""
    url = w.srv.url(path)
    headers = dict(caller.headers)
    if caller.token is not None:
        url += ("&" if "?" in url else "?") + "token=" + urllib.parse.quote(caller.token)
    if path.endswith("/ws") or "/ws?" in path:
        path_q = url[len(w.srv.base_url):]
        lines = ["GET %s HTTP/1.1" % path_q, "Host: 127.0.0.1:%d" % w.srv.port,
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        if caller.session is not None:
            lines.append("Cookie: " + "; ".join("%s=%s" % (c.name, c.value)
                                                for c in caller.session.cookies))
        s = socket.create_connection((w.srv.host, w.srv.port), timeout=5)
        try:
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            status, _, _ = read_http_head(s)
        finally:
            s.close()
        return status
    sender = caller.session or requests
    kw = {"headers": headers, "timeout": 10, "allow_redirects": False}
    if body is not None:
        kw["json"] = body
    if path.startswith("/cameras/") and path.split("?")[0].endswith("/mjpeg"):
        kw["stream"] = True
    r = sender.request(method, url, **kw)
    status = r.status_code
    r.close()
    return status


def listed_routes():
    out = subprocess.run([VIGIL_BIN, "serve", "--list-routes"], capture_output=True, text=True,
                         timeout=30).stdout
    routes = []
    for line in out.strip().splitlines():
        method, pattern, _access = line.split(" ")
        routes.append((method, pattern))
    return routes


def test_authorization_matrix(world):
    w = world
    routes = listed_routes()
    unknown = [r for r in routes if r not in ROUTES]
    assert not unknown, "routes the matrix does not cover: %r" % unknown
    assert len(routes) == len(ROUTES), "the table names routes the server lacks: %r" % (
        sorted(set(ROUTES) - set(routes)),)
    cells, failures = 0, []
    # Logout ends the caller's session: it runs last, on sessions of its own.
    ordered = sorted(routes, key=lambda r: r[1] == "/api/v1/logout")
    for method, pattern in ordered:
        spec = ROUTES[(method, pattern)]
        for caller in callers(w):
            if pattern == "/api/v1/logout" and caller.session is not None:
                fresh_s = login(w.srv, caller.user, PASSWORDS[caller.user])
                caller = Caller(caller.kind, caller.user, caller.role, caller.tenant,
                                session=fresh_s)
            variants = ["own", "foreign", "unknown"] if spec[1] else ["-"]
            for variant in variants:
                cam = None
                if spec[1]:
                    # An admin's "foreign" camera is globex's: admins see it all the same.
                    mine = caller.tenant or "acme"
                    other = "globex" if mine == "acme" else "acme"
                    if method in ("PATCH", "DELETE") and variant != "unknown":
                        cam = fresh_camera(w, mine if variant == "own" else other)
                    else:
                        cam = {"own": mine + "-cam", "foreign": other + "-cam",
                               "unknown": "unknown-cam"}[variant]
                path, body = request_for(w, method, pattern, cam)
                want = expected_status(spec, caller, cam, pattern)
                got = send(w, caller, method, path, body)
                cells += 1
                if got != want:
                    failures.append("%s %s as %s (%s camera %s): %d, expected %d"
                                    % (method, path, caller, variant, cam, got, want))
    assert not failures, "%d of %d cells wrong:\n%s" % (len(failures), cells,
                                                          "\n".join(failures))
    assert cells > 300, cells


# --------------------------------------------------------------------------------------
# Sessions, CSRF, Origin
# --------------------------------------------------------------------------------------

def test_session_cookie_is_httponly_samesite_and_stored_hashed(world):
    w = world
    r = requests.post(w.srv.url("/api/v1/login"), json={"user": "av", "password": PASSWORDS["av"]},
                      timeout=10)
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie, cookie
    assert "Secure" not in cookie  # plain HTTP here; test_tls checks Secure
    token = r.cookies["vigil_session"]
    assert len(token) >= 43
    con = sqlite3.connect(w.db)
    try:
        rows = con.execute("SELECT token_hash, user_id FROM sessions").fetchall()
    finally:
        con.close()
    # What is kept is BLAKE2b-256 of the token (libsodium's generichash), nothing else.
    import hashlib
    assert (hashlib.blake2b(token.encode(), digest_size=32).digest(), "av") in \
        [(bytes(h), u) for h, u in rows]
    dump = open(w.db, "rb").read()
    assert token.encode() not in dump


def test_csrf_required_on_state_changing_cookie_requests(world):
    w = world
    s = login(w.srv, "root", PASSWORDS["root"])
    good = s.csrf
    url = w.srv.url("/api/v1/tenants")
    # The session's own token with its last character changed (to another one: when it
    # already ended in "A", appending "A" was the good token, 1 run in 64).
    altered = good[:-1] + ("B" if good.endswith("A") else "A")
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": altered},
                    {"X-CSRF-Token": w.sessions["av"].csrf}):
        s.headers.pop("X-CSRF-Token", None)
        r = s.post(url, json={"id": fresh("csrf"), "name": "x"}, headers=headers, timeout=10)
        assert r.status_code == 403, (headers, r.status_code, r.text)
        assert r.json()["error"]["code"] == "csrf"
    r = s.post(url, json={"id": fresh("csrf"), "name": "x"}, headers={"X-CSRF-Token": good},
               timeout=10)
    assert r.status_code == 201, r.text
    # Reads need no token; bearer callers need none either (no cookie to forge with).
    assert s.get(url, timeout=10).status_code == 200
    r = requests.post(url, json={"id": fresh("csrf"), "name": "x"},
                      headers=bearer(make_jwt(w, {"sub": "root"})), timeout=10)
    assert r.status_code == 201, r.text


def ws_status(w, path, headers):
    s = socket.create_connection((w.srv.host, w.srv.port), timeout=5)
    try:
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n" % (path, w.srv.port))
        for k, v in headers.items():
            req += "%s: %s\r\n" % (k, v)
        s.sendall((req + "\r\n").encode())
        return read_http_head(s)[0]
    finally:
        s.close()


def test_websocket_from_a_foreign_origin_is_refused(world):
    w = world
    s = w.sessions["av"]
    cookie = "vigil_session=" + s.cookies["vigil_session"]
    path = "/api/v1/cameras/acme-cam/ws"
    own = "http://127.0.0.1:%d" % w.srv.port
    assert ws_status(w, path, {"Cookie": cookie, "Origin": "https://evil.example"}) == 403
    assert ws_status(w, path, {"Cookie": cookie, "Origin": "null"}) == 403
    assert ws_status(w, path, {"Cookie": cookie, "Origin": "http://127.0.0.1:1"}) == 403
    assert ws_status(w, path, {"Cookie": cookie, "Origin": own}) == 101
    assert ws_status(w, path, {"Cookie": cookie}) == 101  # not a browser: no Origin
    assert ws_status(w, path, {"Origin": own}) == 401


def test_logout_ends_the_session_and_its_viewers(world):
    w = world
    s = login(w.srv, "av", PASSWORDS["av"])
    assert s.get(w.srv.url("/api/v1/session"), timeout=10).status_code == 200
    value = s.cookies["vigil_session"]
    sock = socket.create_connection((w.srv.host, w.srv.port), timeout=5)
    sock.sendall(("GET /api/v1/cameras/acme-cam/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  "Cookie: vigil_session=%s\r\n\r\n" % (w.srv.port, value)).encode())
    status, _, rest = read_http_head(sock)
    assert status == 101
    r = s.post(w.srv.url("/api/v1/logout"), timeout=10)
    assert r.status_code == 200, r.text
    assert "Max-Age=0" in r.headers["set-cookie"]
    # The viewer opened with that session is closed: 4401 "signed out".
    data, deadline = rest, time.monotonic() + 5
    while b"signed out" not in data and time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    assert b"\x11\x31signed out" in data, "no close 4401 'signed out' after logout"
    # The old cookie value is dead even if a client keeps sending it.
    old = requests.get(w.srv.url("/api/v1/session"), timeout=10,
                       cookies={"vigil_session": value})
    assert old.status_code == 401


def test_wrong_passwords_are_rate_limited_per_account(world):
    w = world
    url = w.srv.url("/api/v1/login")
    statuses = []
    for _ in range(7):
        r = requests.post(url, json={"user": "gv", "password": "wrong-password"}, timeout=10)
        statuses.append(r.status_code)
    assert statuses[:5] == [401] * 5, statuses
    assert statuses[5:] == [429, 429], statuses
    r = requests.post(url, json={"user": "gv", "password": PASSWORDS["gv"]}, timeout=10)
    assert r.status_code == 429, "the right password must wait too: %d" % r.status_code
    assert int(r.headers["retry-after"]) > 0
    # Another account from the same address is not locked by gv's failures.
    r = requests.post(url, json={"user": "ao", "password": PASSWORDS["ao"]}, timeout=10)
    assert r.status_code == 200, r.text
    # An unknown user costs as long as a known one (one Argon2id check either way).
    t0 = time.monotonic()
    requests.post(url, json={"user": "nobody-x", "password": "whatever-pw"}, timeout=10)
    t_unknown = time.monotonic() - t0
    t0 = time.monotonic()
    requests.post(url, json={"user": "av", "password": "whatever-pw"}, timeout=10)
    t_known = time.monotonic() - t0
    assert t_unknown > t_known / 4, (t_unknown, t_known)


# --------------------------------------------------------------------------------------
# JWT
# --------------------------------------------------------------------------------------

def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_jwt_refusals(world):
    w = world
    url = w.srv.url("/api/v1/session")

    def status(token):
        return requests.get(url, headers=bearer(token), timeout=10).status_code

    now = int(time.time())
    for alg in ("RS256", "ES256", "HS256"):
        assert status(make_jwt(w, {"sub": "av"}, alg=alg)) == 200, alg
    cases = {
        "expired": make_jwt(w, {"sub": "av", "exp": now - 120}),
        "not yet valid": make_jwt(w, {"sub": "av", "nbf": now + 600}),
        "wrong audience": make_jwt(w, {"sub": "av", "aud": "someone-else"}),
        "wrong issuer": make_jwt(w, {"sub": "av", "iss": "https://evil.example"}),
        "no expiry": make_jwt(w, {"sub": "av", "exp": None}),
    }
    good = make_jwt(w, {"sub": "av"})
    h, p, sig = good.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    cases["wrong signature"] = "%s.%s.%s" % (h, p, flipped)
    cases["signed by another key"] = make_jwt(
        w, {"sub": "av"}, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    cases["alg none"] = "%s.%s." % (b64({"alg": "none", "typ": "JWT"}),
                                    b64({"sub": "av", "exp": now + 300, "iss": ISSUER,
                                         "aud": AUDIENCE}))
    # HS256 "signed" with the RS256 public key, the classic key-confusion attack.
    pem = w.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    import hmac, hashlib
    hdr = b64({"alg": "HS256", "typ": "JWT", "kid": "r1"})
    body = b64({"sub": "av", "exp": now + 300, "iss": ISSUER, "aud": AUDIENCE})
    mac = hmac.new(pem, ("%s.%s" % (hdr, body)).encode(), hashlib.sha256).digest()
    cases["HS256 with the RSA public key"] = "%s.%s.%s" % (
        hdr, body, base64.urlsafe_b64encode(mac).rstrip(b"=").decode())
    cases["unknown user, no role"] = make_jwt(w, {"sub": "stranger"})
    cases["garbage"] = "not.a.jwt"
    for name, token in cases.items():
        r = requests.get(url, headers=bearer(token), timeout=10)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.json()["error"]["code"] == "invalid_token", (name, r.text)
        assert token not in w.srv.log  # the token never reaches the log


def test_jwt_claims_carry_tenant_role_and_cameras(world):
    w = world
    tok = make_jwt(w, {"sub": "idp-9", "app_metadata": {"role": "viewer", "cameras": ["globex-cam"]},
                       "role": "authenticated"}, alg="ES256")
    r = requests.get(w.srv.url("/api/v1/cameras"), headers=bearer(tok), timeout=10)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["cameras"]] == ["globex-cam"]
    r = requests.get(w.srv.url("/api/v1/session"), headers=bearer(tok), timeout=10)
    assert r.json()["role"] == "viewer" and r.json()["via"] == "jwt"
    # A claim of admin is honoured as such: the identity provider is trusted with roles.
    tok = make_jwt(w, {"sub": "idp-10", "app_metadata": {"role": "admin"}})
    assert requests.get(w.srv.url("/api/v1/tenants"), headers=bearer(tok),
                        timeout=10).status_code == 200


# --------------------------------------------------------------------------------------
# Stream tokens
# --------------------------------------------------------------------------------------

def test_stream_token_one_camera_until_expiry_and_until_revoked(world):
    w = world
    cam = fresh_camera(w, "acme")
    av = w.sessions["av"]
    r = av.post(w.srv.url("/api/v1/cameras/%s/token" % cam), json={"ttl_s": 3}, timeout=10)
    assert r.status_code == 201, r.text
    doc = r.json()
    token = doc["token"]
    assert doc["camera_id"] == cam and doc["expires_at"] <= time.time() + 4
    snap = w.srv.url(doc["urls"]["snapshot"])
    r = requests.get(snap, timeout=10)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    # Not for another camera, even one the user sees.
    r = requests.get(w.srv.url("/cameras/acme-cam/snapshot.jpg?token=" + token), timeout=10)
    assert r.status_code == 404
    # Not for the API.
    r = requests.get(w.srv.url("/api/v1/cameras/%s?token=%s" % (cam, token)), timeout=10)
    assert r.status_code == 401
    # A forged one (the user changed) fails its MAC.
    forged = token.replace(".av.", ".ao.")
    assert requests.get(w.srv.url("/cameras/%s/snapshot.jpg?token=%s" % (cam, forged)),
                        timeout=10).status_code == 401
    # Until it expires...
    time.sleep(4)
    r = requests.get(snap, timeout=10)
    assert r.status_code == 401 and "expired" in r.text
    # ...or until the grant goes: a new long token stops working, and an open MJPEG
    # stream with it is cut.
    r = av.post(w.srv.url("/api/v1/cameras/%s/token" % cam), json={"ttl_s": 600}, timeout=10)
    long_tok = r.json()["token"]
    mj = requests.get(w.srv.url("/cameras/%s/mjpeg?token=%s" % (cam, long_tok)), stream=True,
                      timeout=10)
    assert mj.status_code == 200
    it = mj.iter_content(4096)
    next(it)
    admin_api(w, "DELETE", "/api/v1/grants?tenant_id=acme&camera_id=" + cam)
    r = requests.get(w.srv.url("/cameras/%s/snapshot.jpg?token=%s" % (cam, long_tok)),
                     timeout=10)
    assert r.status_code == 404, r.text
    deadline = time.monotonic() + 5
    ended = False
    try:
        for _ in it:
            if time.monotonic() > deadline:
                break
        ended = True
    except requests.exceptions.RequestException:
        ended = True
    mj.close()
    assert ended and time.monotonic() <= deadline, "the MJPEG stream went on after the revoke"


# --------------------------------------------------------------------------------------
# Audit, secrets
# --------------------------------------------------------------------------------------

def test_audit_log_records_logins_grants_and_changes(world):
    w = world
    requests.post(w.srv.url("/api/v1/login"), json={"user": "av", "password": "nope-nope-1"},
                  timeout=10)
    cam = fresh_camera(w, "globex")
    r = w.sessions["root"].get(w.srv.url("/api/v1/audit?limit=1000"), timeout=10)
    assert r.status_code == 200
    entries = r.json()["audit"]
    assert r.json()["total"] >= len(entries)
    bad = [e for e in entries if "actor" not in e]
    assert not bad, bad[:3]
    by = [(e["actor"], e["action"], e["target"], e["outcome"]) for e in entries]
    assert ("av", "login", "av", "denied") in by
    assert ("root", "login", "root", "ok") in by
    assert ("root", "cameras.create", cam, "ok") in by
    assert ("root", "grant", "tenant:globex -> camera:" + cam, "ok") in by
    assert any(e["action"] == "grant" and e["actor"].startswith("cli:") for e in entries)
    assert all(e["peer"] is None or re.match(r"^127\.0\.0\.1:\d+$", e["peer"])
               for e in entries if not e["actor"].startswith("cli:"))
    assert all(e["at_us"] > 1.7e15 for e in entries)


def test_passwords_never_in_store_logs_or_responses(world):
    w = world
    dump = subprocess.run(["sqlite3", w.db, ".dump"], capture_output=True, timeout=30).stdout
    raw = open(w.db, "rb").read()
    log = w.srv.log
    r = w.sessions["root"].get(w.srv.url("/api/v1/audit?limit=1000"), timeout=10).text
    for pw in PASSWORDS.values():
        for where, text in (("dump", dump), ("db", raw), ("log", log.encode()),
                            ("audit", r.encode())):
            assert pw.encode() not in text, (pw, where)
    assert b"$argon2id$" in dump


# --------------------------------------------------------------------------------------
# Start-up: no admin, --no-auth, the demo's admin
# --------------------------------------------------------------------------------------

def test_serve_refuses_to_start_without_an_admin(tmp_path):
    db = str(tmp_path / "empty.db")
    p = subprocess.run([VIGIL_BIN, "serve", "--db", db, "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "no admin user" in p.stderr and "--no-auth" in p.stderr, p.stderr
    # A viewer is not enough either.
    cli(db, "user", "add", "id=v", "role=viewer", "--password-stdin", stdin="viewer-pw-123")
    p = subprocess.run([VIGIL_BIN, "serve", "--db", db, "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "no admin user" in p.stderr


def test_no_auth_warns_and_stays_on_loopback(vigil_server, tmp_path):
    srv = vigil_server()  # the streaming tests' default: --no-auth
    assert "NO SIGN-IN" in srv.log
    assert requests.get(srv.url("/api/v1/tenants"), timeout=10).status_code == 200
    p = subprocess.run([VIGIL_BIN, "serve", "--no-auth", "--db", ":memory:", "--listen",
                        "0.0.0.0:1", "--list-routes"], capture_output=True, text=True,
                       timeout=30)
    assert "127.0.0.1 only" in p.stderr, p.stderr


def test_demo_prints_an_admin_password_that_signs_in(tmp_path):
    # Port 0: the demo prints the port it got ("open http://127.0.0.1:PORT/").
    proc = subprocess.Popen([VIGIL_BIN, "demo", "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        password = port = None
        deadline = time.monotonic() + 15
        while password is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            m = re.search(r"open https?://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
            m = re.search(r"sign in as user admin, password (\S+)", line)
            if m:
                password = m.group(1)
        assert port, "the demo printed no port"
        assert password and len(password) >= 12, password
        base = "http://127.0.0.1:%d" % port
        assert requests.get(base + "/api/v1/cameras", timeout=10).status_code == 401
        s = requests.Session()
        r = s.post(base + "/api/v1/login", json={"user": "admin", "password": password},
                   timeout=10)
        assert r.status_code == 200, r.text
        assert len(s.get(base + "/api/v1/cameras", timeout=10).json()["cameras"]) == 4
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
