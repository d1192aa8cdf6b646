"""Issue 6: HTTPS and WSS from certificate and key files, reloaded on SIGHUP without a
restart; HSTS and a Secure session cookie on TLS; the dashboard's security headers."""
import asyncio
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests
import urllib3
import websockets

from conftest import VIGIL_BIN

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
PASSWORD = "tls-admin-pw-77"


def make_cert(d, name):
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=" + name, "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def served_cert_sha256(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.version() in ("TLSv1.2", "TLSv1.3"), t.version()
            assert t.selected_alpn_protocol() in (None, "http/1.1")
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def file_sha256(pem):
    der = ssl.PEM_cert_to_DER_cert(open(pem).read())
    return hashlib.sha256(der).hexdigest()


@pytest.fixture
def tls_server(vigil_server, tmp_path):
    d = str(tmp_path)
    one = make_cert(d, "one")
    two = make_cert(d, "two")
    live_cert, live_key = os.path.join(d, "live.crt"), os.path.join(d, "live.key")
    for src, dst in zip(one, (live_cert, live_key)):
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
    db = str(tmp_path / "tls.db")
    p = subprocess.run([VIGIL_BIN, "user", "add", "id=root", "role=admin", "--password-stdin",
                        "--db", db], input=PASSWORD, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    # vigil_server's readiness probe speaks plain HTTP: wait for TLS here instead.
    srv = vigil_server(cameras={"c1": "test://?width=160&height=120&fps=5"}, auth=True,
                       expect_ready=False,
                       extra_args=["--db", db, "--tls-cert", live_cert, "--tls-key", live_key])
    srv.base_url = "https://127.0.0.1:%d" % srv.port
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if requests.get(srv.url("/healthz"), verify=False, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    else:
        pytest.fail("no HTTPS answer:\n" + srv.log_tail())
    srv.certs = {"one": one, "two": two, "live": (live_cert, live_key)}
    return srv


def test_https_wss_hsts_secure_cookie_and_reload(tls_server):
    srv = tls_server
    r = requests.get(srv.url("/"), verify=False, timeout=10)
    assert r.status_code == 200
    assert r.headers["strict-transport-security"].startswith("max-age=")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # Plain HTTP on the TLS port is not answered as HTTP.
    with pytest.raises(requests.RequestException):
        requests.get("http://127.0.0.1:%d/healthz" % srv.port, timeout=3)

    s = requests.Session()
    ca = srv.certs["one"][0]  # self-signed for 127.0.0.1: verified as its own CA
    r = s.post(srv.url("/api/v1/login"), json={"user": "root", "password": PASSWORD},
               verify=ca, timeout=10)
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    token = s.post(srv.url("/api/v1/cameras/c1/token"), json={"ttl_s": 60},
                   headers={"X-CSRF-Token": r.json()["csrf_token"]}, verify=ca,
                   timeout=10).json()["token"]

    async def one_frame():
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        url = "wss://127.0.0.1:%d/api/v1/cameras/c1/ws?token=%s" % (srv.port, token)
        async with websockets.connect(url, ssl=ctx, max_size=None) as ws:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(msg, bytes):
                    return msg
        return None

    frame = asyncio.run(one_frame())
    assert frame is not None and b"\xff\xd8" in frame[:200]

    # Reload: new certificate files, SIGHUP, new handshakes get the new certificate and the
    # server never stopped (the session still works).
    assert served_cert_sha256(srv.port) == file_sha256(srv.certs["one"][0])
    live_cert, live_key = srv.certs["live"]
    for src, dst in zip(srv.certs["two"], (live_cert, live_key)):
        with open(src, "rb") as f, open(dst + ".new", "wb") as g:
            g.write(f.read())
        os.replace(dst + ".new", dst)
    srv.proc.send_signal(signal.SIGHUP)
    want = file_sha256(srv.certs["two"][0])
    deadline = time.monotonic() + 5
    while served_cert_sha256(srv.port) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert served_cert_sha256(srv.port) == want
    assert s.get(srv.url("/api/v1/session"), verify=srv.certs["two"][0],
                 timeout=10).status_code == 200

    # A broken file on reload keeps the old certificate.
    with open(live_cert, "w") as f:
        f.write("not a certificate\n")
    srv.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert served_cert_sha256(srv.port) == want
    assert "did not load" in srv.log
