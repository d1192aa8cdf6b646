"""Issue 18: the store on PostgreSQL (src/store/pg.c) against a real server the module starts
(pg_server.py: Debian's postgresql, initdb and pg_ctl in a temporary directory): the store's
unit tests pass on it as on SQLite; an edit made with psql (a camera added, renamed, removed)
reaches a running vigil within 1 s through NOTIFY; instances register, beat and are listed; /readyz says 503 while the server is
down and vigil reconnects after; the CLI and access control work on it;
without the master key it refuses with the reason; a password in the URL never shows."""
import os
import subprocess
import time

import pytest
import requests

from conftest import VIGIL_ASAN_BIN, VIGIL_BIN
from hardening_lib import add_user, cli, finish, login, start_server

@pytest.fixture
def master_key(tmp_path):
    path = tmp_path / "master.key"
    path.write_text(os.urandom(32).hex() + "\n")
    path.chmod(0o600)
    return str(path)


def fresh_database(pg, name):
    pg.psql("DROP DATABASE IF EXISTS %s" % name, db="postgres")
    pg.psql("CREATE DATABASE %s" % name, db="postgres")
    return pg.url.rsplit("/", 1)[0] + "/" + name


def test_the_store_unit_tests_pass_on_postgresql(pg):
    binary = os.path.join(os.path.dirname(VIGIL_ASAN_BIN), "test_store")
    if not os.path.exists(binary):
        binary = os.path.join(os.path.dirname(VIGIL_BIN), "test_store")
    url = fresh_database(pg, "unit")
    p = subprocess.run([binary], env=dict(os.environ, VG_TEST_STORE_URL=url),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0 and "0 failed" in p.stdout, (p.stdout[-3000:], p.stderr[-3000:])
    # It ran on PostgreSQL: the schema is there, at the version SQLite has.
    assert pg.psql("SELECT value FROM meta WHERE key = 'schema_version'",
                   db="unit") == "6"


def streams(srv):
    return {s["id"]: s for s in srv.get("/api/v1/streams").json()["streams"]}


def wait_for(pred, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def test_instances_register_and_are_listed(pg, vigil_server, master_key):
    url = fresh_database(pg, "inst")
    common = ["--db", url, "--master-key-file", master_key]
    a = vigil_server(cameras={}, extra_args=common + ["--instance-id", "vigil-a",
                                                      "--advertise-url", "http://10.9.0.1:8080"])
    b = vigil_server(cameras={}, extra_args=common + ["--instance-id", "vigil-b"])
    # Ready means registered: the first heartbeat is in before any request is answered.
    assert a.get("/readyz").status_code == 200 and b.get("/readyz").status_code == 200
    r = a.get("/api/v1/instances").json()
    assert r["self"] == "vigil-a", r
    got = {i["id"]: i for i in r["instances"]}
    assert set(got) == {"vigil-a", "vigil-b"}, r
    # The advertised URL, and the RTSP server others relay its cameras from (on the
    # advertised host, else the one it listens on).
    assert got["vigil-a"]["urls"] == ["http://10.9.0.1:8080",
                                      "rtsp://10.9.0.1:%d" % a.rtsp_port], got
    assert got["vigil-b"]["urls"] == ["rtsp://127.0.0.1:%d" % b.rtsp_port], got
    assert all(i["alive"] for i in got.values()), r
    beat = got["vigil-b"]["heartbeat_us"]
    # It beats every 2 s (one whose beat is 6 s old is listed as not alive: test_store.c).
    assert wait_for(lambda: {i["id"]: i for i in a.get("/api/v1/instances").json()["instances"]}
                    ["vigil-b"]["heartbeat_us"] > beat, 3.5) is not None
    assert pg.psql("SELECT count(*) FROM instances", db="inst") == "2"


def test_psql_edits_reach_a_running_vigil_within_1s(pg, vigil_server, master_key):
    url = fresh_database(pg, "live")
    srv = vigil_server(cameras={}, extra_args=["--db", url, "--master-key-file", master_key])
    assert srv.get("/readyz").status_code == 200
    pg.psql("INSERT INTO cameras (id, name, url) "
            "VALUES ('yard', 'Yard', 'test://?width=320&height=240&fps=5')", db="live")
    took = wait_for(lambda: "yard" in streams(srv), 1.0)
    assert took is not None, srv.log_tail()
    pg.psql("UPDATE cameras SET name = 'Back yard' WHERE id = 'yard'", db="live")
    took = wait_for(lambda: srv.get("/api/v1/cameras/yard").json().get("name") == "Back yard",
                    1.0)
    assert took is not None, srv.get("/api/v1/cameras/yard").text
    pg.psql("DELETE FROM cameras WHERE id = 'yard'", db="live")
    assert wait_for(lambda: "yard" not in streams(srv), 1.0) is not None
    # The server's own writes land in PostgreSQL.
    r = requests.post(srv.url("/api/v1/cameras"), timeout=10,
                      json={"id": "door", "url": "test://?width=320&height=240"})
    assert r.status_code == 201, r.text
    assert pg.psql("SELECT name FROM cameras WHERE id = 'door'", db="live") != ""


def test_readyz_follows_the_database_server_and_vigil_reconnects(pg, vigil_server, master_key):
    url = fresh_database(pg, "ready")
    srv = vigil_server(cameras={}, extra_args=["--db", url, "--master-key-file", master_key])
    assert srv.get("/readyz").status_code == 200
    pg.pause()
    try:
        r = srv.get("/readyz")
        assert r.status_code == 503 and r.headers.get("retry-after"), (r.status_code, r.text)
        assert "PostgreSQL is unreachable" in r.json()["reason"], r.text
        assert srv.get("/healthz").status_code == 200  # alive, only not ready
    finally:
        pg.resume()
    assert wait_for(lambda: srv.get("/readyz").status_code == 200, 10) is not None
    # What changed while it was away is read once it is back (nothing was notified then).
    pg.psql("INSERT INTO cameras (id, name, url) "
            "VALUES ('late', 'Late', 'test://?width=320&height=240&fps=5')", db="ready")
    assert wait_for(lambda: "late" in streams(srv), 2.0) is not None, srv.log_tail()
    assert "connected to PostgreSQL again" in srv.log


def test_cli_users_and_sign_in_work_on_postgresql(pg, tmp_path, master_key):
    url = fresh_database(pg, "access")
    cli(url, "camera", "add", "id=cam", "url=test://?width=320&height=240&fps=5")
    add_user(url, "root", "admin", "root-pg-pw-1")
    add_user(url, "eve", "viewer", "eve-pg-pw-1")
    assert pg.psql("SELECT count(*) FROM users", db="access") == "2"
    fac, srv = start_server(tmp_path, url, extra_args=["--master-key-file", master_key])
    try:
        root = login(srv, "root", "root-pg-pw-1")
        assert root.get(srv.url("/api/v1/cameras/cam"), timeout=10).status_code == 200
        eve = login(srv, "eve", "eve-pg-pw-1")
        assert eve.get(srv.url("/api/v1/cameras/cam"), timeout=10).status_code == 404
        # A password changed with psql (the trigger bumps auth_epoch and ends the sessions)
        pg.psql("UPDATE users SET password_hash = NULL WHERE id = 'eve'", db="access")
        assert wait_for(lambda: eve.get(srv.url("/api/v1/cameras"), timeout=10).status_code
                        == 401, 2.0) is not None
        assert pg.psql("SELECT auth_epoch FROM users WHERE id = 'eve'", db="access") == "1"
    finally:
        finish(fac)


def test_postgresql_without_the_master_key_is_refused_and_passwords_never_show(pg, tmp_path):
    fresh_database(pg, "nokey")
    pg.psql("ALTER USER vigil PASSWORD 'pg-secret-Z9'", db="postgres")
    try:
        url = "postgresql://vigil:pg-secret-Z9@127.0.0.1:%d/nokey" % pg.port
        env = dict(os.environ, VIGIL_RTSP_LISTEN="none")
        env.pop("VIGIL_MASTER_KEY", None)
        env.pop("VIGIL_MASTER_KEY_FILE", None)
        p = subprocess.run([VIGIL_BIN, "serve", "--no-auth", "--listen", "127.0.0.1:0", "--db",
                            url], capture_output=True, text=True, timeout=30, env=env)
        out = p.stdout + p.stderr
        assert p.returncode != 0, out
        assert "give the master key" in out, out
        assert "pg-secret-Z9" not in out, out
        # A wrong database name: the reason, without the password either.
        bad = url.rsplit("/", 1)[0] + "/missing"
        p = subprocess.run([VIGIL_BIN, "camera", "list", "--db", bad], capture_output=True,
                           text=True, timeout=30, env=env)
        out = p.stdout + p.stderr
        assert p.returncode != 0 and "missing" in out and "does not exist" in out, out
        assert "pg-secret-Z9" not in out, out
    finally:
        pg.psql("ALTER USER vigil PASSWORD NULL", db="postgres")
