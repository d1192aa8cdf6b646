"""Issue 13, item 2: the hints a new user reads say what to type: `vigil user add id=admin`,
a busy port names --listen and VIGIL_LISTEN, and the CLI audit names the real user (not
$USER, which anyone can set)."""
import os
import pwd
import socket
import sqlite3
import subprocess

from conftest import VIGIL_BIN


def test_no_admin_hint_names_id_admin(tmp_path, vigil_server):
    db = str(tmp_path / "h.db")
    srv = vigil_server(cameras={}, extra_args=["--db", db], auth=True, expect_ready=False)
    srv.proc.wait(timeout=20)
    srv.exit_checked = True
    assert srv.proc.returncode != 0
    assert "vigil user add id=admin role=admin --password-stdin" in srv.log, srv.log_tail()
    assert "user add admin " not in srv.log


def test_busy_port_names_the_flag_and_the_variable(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        p = subprocess.run([VIGIL_BIN, "serve", "--no-auth", "--listen", "127.0.0.1:%d" % port],
                           capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, VIGIL_DB=str(tmp_path / "p.db")))
    finally:
        s.close()
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "--listen" in out and "VIGIL_LISTEN" in out, out


def test_cli_audit_actor_is_the_real_user(tmp_path):
    db = str(tmp_path / "a.db")
    env = dict(os.environ, VIGIL_DB=db, USER="mallory", LOGNAME="mallory")
    subprocess.run([VIGIL_BIN, "camera", "add", "id=x", "url=test://"], check=True,
                   capture_output=True, env=env, timeout=20)
    con = sqlite3.connect(db)
    actors = {r[0] for r in con.execute("SELECT actor FROM audit")}
    con.close()
    me = pwd.getpwuid(os.getuid()).pw_name
    assert actors == {"cli:" + me}, actors
