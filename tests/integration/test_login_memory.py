"""Issue 12, item 1 (sign-in passwords): after several sign-ins, a core dump of the running
server holds the password nowhere. Before, it held it 4 to 6 times: jansson's lexer buffer
and the parsed string were freed without being cleared, and the request body too.

Now the request body is cleared when freed, the login copies the password into guarded
memory and clears the parsed string, and every JSON allocation is cleared when freed
(vg_json_wipe_on_free). libwebsockets' own receive buffer is reused by the next request on
the connection or another, so the test sends a few more requests after the logins.
"""
import shutil

import pytest
import requests

from conftest import core_dump_count
from hardening_lib import add_user

PASSWORD = "Zp4kSignInPw77Qm"


def test_sign_in_password_not_in_core_dump(vigil_server, tmp_path):
    if shutil.which("gcore") is None:
        pytest.skip("gdb's gcore is not installed")
    db = str(tmp_path / "login.db")
    add_user(db, "admin", "admin", PASSWORD)
    srv = vigil_server(extra_args=["--db", db], auth=True)
    for _ in range(3):
        s = requests.Session()
        r = s.post(srv.url("/api/v1/login"), json={"user": "admin", "password": PASSWORD},
                   timeout=10)
        assert r.status_code == 200, r.text
        bad = requests.post(srv.url("/api/v1/login"),
                            json={"user": "admin", "password": PASSWORD + "x"}, timeout=10)
        assert bad.status_code == 401, bad.text
    for _ in range(20):  # other traffic reuses the receive buffers
        assert requests.get(srv.url("/healthz"), timeout=10).status_code == 200
    count = core_dump_count(srv.pid, PASSWORD, tmp_path)
    assert count == 0, "the sign-in password is in the core dump %d times" % count
