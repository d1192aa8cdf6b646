"""Issue 12, item 8: smaller holes. A JWT with a jku header is refused; a JWT naming a vigil
user is bound by that user's state and role, whatever role it claims; --no-auth refuses
cross-origin WebSocket upgrades (an HTTP/1.1 403, no socket) and refuses to listen beyond
127.0.0.1."""
import subprocess

import pytest
import requests

from conftest import VIGIL_BIN, free_port
from hardening_lib import (CAM, HS_SECRET, add_user, bearer, cli, finish, make_hs_jwt,
                           start_server, status_line_of, write_secret)

PW = {"root": "root-jwt-pw-1", "jv": "jv-jwt-pw-2", "jd": "jd-jwt-pw-3"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jwt")
    db = str(tmp / "jwt.db")
    cli(db, "camera", "add", "id=cam", "url=" + CAM)
    add_user(db, "root", "admin", PW["root"])
    add_user(db, "jv", "viewer", PW["jv"], grants=["cam"])
    add_user(db, "jd", "viewer", PW["jd"], grants=["cam"], enabled=False)
    write_secret(tmp / "hs.secret")
    (tmp / "hs.secret").chmod(0o600)  # vigil refuses a secret others may read
    fac, s = start_server(tmp, db, ["--jwt-secret-file", str(tmp / "hs.secret")])
    yield s
    finish(fac)


def get(srv, path, token):
    return requests.get(srv.url(path), headers=bearer(token), timeout=10)


def test_jwt_with_a_jku_header_is_refused(srv):
    assert get(srv, "/api/v1/session", make_hs_jwt({"sub": "jv"})).status_code == 200
    tok = make_hs_jwt({"sub": "jv"}, headers={"jku": "https://evil.example/jwks.json"})
    r = get(srv, "/api/v1/session", tok)
    assert r.status_code == 401, ("jku accepted", r.status_code, r.text)
    assert r.json()["error"]["code"] == "invalid_token", r.text


@pytest.mark.parametrize("where", ["top level", "app_metadata"])
def test_jwt_naming_a_disabled_user_is_refused_whatever_role_it_claims(srv, where):
    claims = {"sub": "jd"}
    if where == "top level":
        claims["role"] = "admin"
    else:
        claims["app_metadata"] = {"role": "admin"}
    tok = make_hs_jwt(claims)
    for path in ("/api/v1/session", "/api/v1/tenants", "/api/v1/cameras"):
        r = get(srv, path, tok)
        assert r.status_code == 401, ("a disabled user's JWT claiming admin", path,
                                      r.status_code, r.text)


@pytest.mark.parametrize("where", ["top level", "app_metadata"])
def test_jwt_naming_a_viewer_is_that_viewer_whatever_role_it_claims(srv, where):
    claims = {"sub": "jv"}
    if where == "top level":
        claims["role"] = "admin"
    else:
        claims["app_metadata"] = {"role": "admin"}
    tok = make_hs_jwt(claims)
    r = get(srv, "/api/v1/session", tok)
    assert r.status_code == 200 and r.json()["role"] == "viewer", (r.status_code, r.text)
    for path in ("/api/v1/tenants", "/api/v1/audit", "/api/v1/viewers"):
        r = get(srv, path, tok)
        assert r.status_code == 403, (path, r.status_code, r.text)


def test_no_auth_refuses_cross_origin_websocket_upgrades(vigil_server):
    s = vigil_server(cameras={"c1": CAM})  # --no-auth
    path = "/api/v1/cameras/c1/ws"
    own = "http://127.0.0.1:%d" % s.port
    line = status_line_of(s, path, {"Origin": "http://evil.example"}, ws=True)
    assert line.split(" ")[1:2] == ["403"], line
    assert line.startswith("HTTP/1.1 "), "a refused upgrade must be answered as HTTP/1.1: %r" \
        % line
    assert status_line_of(s, path, {"Origin": "null"}, ws=True).split(" ")[1] == "403"
    # Same-origin pages and clients that send no Origin still get their socket.
    assert status_line_of(s, path, {"Origin": own}, ws=True).split(" ")[1] == "101"
    assert status_line_of(s, path, {}, ws=True).split(" ")[1] == "101"


def test_no_auth_refuses_to_listen_beyond_loopback(tmp_path):
    port = free_port()
    proc = subprocess.Popen([VIGIL_BIN, "serve", "--no-auth", "--db", str(tmp_path / "na.db"),
                             "--listen", "0.0.0.0:%d" % port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        pytest.fail("vigil serve --no-auth --listen 0.0.0.0 kept running (it must exit 2)\n"
                    + err[-2000:])
    assert proc.returncode == 2, (proc.returncode, err)
    assert "127.0.0.1 only" in err and "--no-auth" in err, err


def test_a_jwt_secret_file_others_may_read_is_refused(tmp_path):
    """Whoever reads an HS256 secret signs admin tokens: vigil will not start on one that
    group or others may read, and says how to fix it."""
    secret = tmp_path / "hs.secret"
    secret.write_text(HS_SECRET + "\n")
    secret.chmod(0o644)
    db = str(tmp_path / "s.db")
    add_user(db, "admin", "admin", "an-admin-password-1")
    proc = subprocess.Popen([VIGIL_BIN, "serve", "--db", db, "--listen",
                             "127.0.0.1:%d" % free_port(), "--jwt-secret-file", str(secret)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        pytest.fail("vigil started with a 0644 --jwt-secret-file\n" + err[-2000:])
    assert proc.returncode != 0, err
    assert "chmod 600" in err and "hs.secret" in err, err
