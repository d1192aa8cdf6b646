"""Issue 5 (first part): the configuration database through the CLI — keygen, CRUD with
validation errors that name the field, sealed camera passwords that no copy of the database
reveals, and rekey."""
import base64
import json
import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import VIGIL_BIN

PASSWORD = "pw-Zq8!x-store"


def vigil(tmp_path, *args, stdin=None, env=None, check=True):
    full_env = dict(os.environ)
    full_env["VIGIL_DB"] = str(tmp_path / "vigil.db")
    full_env.pop("VIGIL_MASTER_KEY", None)
    full_env.pop("VIGIL_MASTER_KEY_FILE", None)
    full_env.update(env or {})
    p = subprocess.run([VIGIL_BIN] + list(args), input=stdin, capture_output=True, text=True,
                       env=full_env, timeout=30, cwd=str(tmp_path))
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def secret_forms(secret):
    raw = secret.encode()
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw),
            base64.b64encode(raw).rstrip(b"=")]


def assert_no_secret(path, secret):
    with open(path, "rb") as f:
        data = f.read()
    for form in secret_forms(secret):
        assert form not in data, "%s holds the password as %r" % (path, form)


def test_keygen_writes_a_private_key_and_never_overwrites(tmp_path):
    p = vigil(tmp_path, "keygen", "-o", "mk")
    mode = stat.S_IMODE(os.stat(tmp_path / "mk").st_mode)
    assert mode == 0o600, oct(mode)
    key = (tmp_path / "mk").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key), key
    assert "fingerprint k1:" in p.stderr
    again = vigil(tmp_path, "keygen", "-o", "mk", check=False)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    assert (tmp_path / "mk").read_text().strip() == key
    printed = vigil(tmp_path, "keygen").stdout.strip()
    assert len(printed) == 64 and printed != key


def test_crud_validation_and_sealed_passwords(tmp_path):
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command line is not installed (scripts/install-deps.sh --test)")
    vigil(tmp_path, "keygen", "-o", "mk")
    vigil(tmp_path, "tenant", "add", "id=acme", "name=Acme")
    vigil(tmp_path, "site", "add", "id=north", "tenant_id=acme", "is_local:=false")
    bad = vigil(tmp_path, "site", "add", "id=south", "tenant_id=nobody", check=False)
    assert bad.returncode == 1 and "tenant_id" in bad.stderr, bad.stderr
    bad = vigil(tmp_path, "camera", "add", "id=gate", "url=gopher://x", check=False)
    assert bad.returncode == 1 and "url" in bad.stderr and "scheme" in bad.stderr, bad.stderr
    bad = vigil(tmp_path, "camera", "add", "id=gate", "url=rtsp://10.0.0.5/s", "colour=red",
                check=False)
    assert bad.returncode == 1 and "colour" in bad.stderr
    # A password needs the master key...
    locked = vigil(tmp_path, "camera", "add", "id=gate", "url=rtsp://10.0.0.5/s",
                   "--password-stdin", stdin=PASSWORD + "\n", check=False)
    assert locked.returncode == 1 and "master key" in locked.stderr
    # ...and with it is sealed: write-only everywhere.
    out = vigil(tmp_path, "camera", "add", "id=gate", "url=rtsp://10.0.0.5/s", "site_id=north",
                "username=admin", "--password-stdin", "--master-key-file", "mk", "--json",
                stdin=PASSWORD + "\n").stdout
    cam = json.loads(out)
    assert cam["has_password"] is True and "password" not in cam and cam["owner"] == "api"
    dup = vigil(tmp_path, "camera", "add", "id=gate", "url=rtsp://10.0.0.6/s", check=False)
    assert dup.returncode == 1 and "exists" in dup.stderr
    listing = json.loads(vigil(tmp_path, "camera", "list", "--json").stdout)
    assert [c["id"] for c in listing["cameras"]] == ["gate"] and listing["total"] == 1
    shown = vigil(tmp_path, "camera", "show", "gate").stdout
    assert PASSWORD not in shown and PASSWORD not in out
    in_use = vigil(tmp_path, "site", "rm", "north", check=False)
    assert in_use.returncode == 1 and "used by 1 cameras" in in_use.stderr
    # The database, its WAL and a backup hold the password in no form a test can find.
    db = tmp_path / "vigil.db"
    subprocess.run(["sqlite3", str(db), ".backup %s" % (tmp_path / "backup.db")], check=True,
                   timeout=30)
    for path in (db, tmp_path / "vigil.db-wal", tmp_path / "backup.db"):
        if path.exists():
            assert_no_secret(path, PASSWORD)
    dump = subprocess.run(["sqlite3", str(db), ".dump"], capture_output=True, timeout=30).stdout
    for form in secret_forms(PASSWORD):
        assert form not in dump
    # Another process edits the file directly: the CLI sees it.
    subprocess.run(["sqlite3", str(db), "UPDATE cameras SET name = 'Front gate' WHERE id = 'gate'"],
                   check=True, timeout=30)
    assert json.loads(vigil(tmp_path, "camera", "show", "gate", "--json").stdout)["name"] == \
        "Front gate"


def test_rekey_and_wrong_key(tmp_path):
    vigil(tmp_path, "keygen", "-o", "old")
    vigil(tmp_path, "keygen", "-o", "new")
    vigil(tmp_path, "camera", "add", "id=gate", "url=rtsp://10.0.0.5/s", "--password-stdin",
          "--master-key-file", "old", stdin=PASSWORD + "\n")
    wrong = vigil(tmp_path, "camera", "list", "--master-key-file", "new", check=False)
    assert wrong.returncode == 1 and "does not match" in wrong.stderr, wrong.stderr
    (tmp_path / "loose").write_text((tmp_path / "new").read_text())
    os.chmod(tmp_path / "loose", 0o644)
    loose = vigil(tmp_path, "camera", "list", "--master-key-file", "loose", check=False)
    assert loose.returncode == 1 and "chmod 600" in loose.stderr
    vigil(tmp_path, "rekey", "--master-key-file", "old", "--new-key-file", "new")
    old_now = vigil(tmp_path, "camera", "list", "--master-key-file", "old", check=False)
    assert old_now.returncode == 1 and "does not match" in old_now.stderr
    # The password still opens under the new key: moving the camera to another site must
    # unseal it and seal it again under that site's key.
    vigil(tmp_path, "site", "add", "id=north", "--master-key-file", "new")
    cam = json.loads(vigil(tmp_path, "camera", "set", "gate", "site_id=north", "--json",
                           "--master-key-file", "new").stdout)
    assert cam["has_password"] is True and cam["site_id"] == "north"
    # A failed rekey (wrong current key) changes nothing.
    vigil(tmp_path, "keygen", "-o", "third")
    failed = vigil(tmp_path, "rekey", "--master-key-file", "old", "--new-key-file", "third",
                   check=False)
    assert failed.returncode == 1
    assert vigil(tmp_path, "camera", "list", "--master-key-file", "new").returncode == 0


def test_serve_from_the_database_through_a_gateway(tmp_path, vigil_server):
    import asyncio
    import hashlib
    from conftest import count_frames_async
    from rtsp_sim import start_sim_process
    sim = start_sim_process(codec="h264", width=320, height=240, fps=10, user="admin",
                            password=PASSWORD)
    try:
        vigil(tmp_path, "keygen", "-o", "mk")
        mappings = json.dumps([{"lan_host": "10.77.0.5", "lan_port": 554, "port": sim.port}])
        vigil(tmp_path, "gateway", "add", "id=gw", "host=127.0.0.1", "mappings:=" + mappings)
        vigil(tmp_path, "site", "add", "id=remote", "is_local:=false", "gateway_id=gw")
        vigil(tmp_path, "camera", "add", "id=gate", "url=rtsp://10.77.0.5/cam", "site_id=remote",
              "username=admin", "--password-stdin", "--master-key-file", "mk",
              stdin=PASSWORD + "\n")
        vigil(tmp_path, "camera", "add", "id=lost", "url=rtsp://10.77.0.6/cam", "site_id=remote")
        db = str(tmp_path / "vigil.db")
        key = str(tmp_path / "mk")
        srv = vigil_server(cameras={"filecam": "test://?width=320&height=240&fps=10"},
                           extra_args=["--db", db, "--master-key-file", key])
        counts = asyncio.run(count_frames_async(srv.ws_url("gate"), 5, 15))
        assert counts >= 5, srv.log_tail()
        gate = srv.get("/api/v1/streams/gate").json()
        assert gate["state"] == "live" and gate["url"] == "rtsp://127.0.0.1:%d/cam" % sim.port, gate
        asyncio.run(count_frames_async(srv.ws_url("lost"), 1, 2))  # a viewer starts it
        lost = srv.get("/api/v1/streams/lost").json()
        assert lost["state"] == "failed" and lost["reason"] == "no gateway mapping", lost
        # The gateway gets the missing mapping while vigil runs: the camera is re-dialled.
        import requests
        more = json.loads(mappings) + [{"lan_host": "10.77.0.6", "lan_port": 554,
                                        "port": sim.port}]
        r = requests.patch(srv.url("/api/v1/gateways/gw"), json={"mappings": more}, timeout=10)
        assert r.status_code == 200, r.text
        assert asyncio.run(count_frames_async(srv.ws_url("lost"), 3, 15)) >= 3, srv.log_tail()
        assert srv.get("/api/v1/cameras/lost").json()["live"]["url"] == \
            "rtsp://127.0.0.1:%d/cam" % sim.port
        assert asyncio.run(count_frames_async(srv.ws_url("filecam"), 3, 10)) >= 3
        for path in ("/api/v1/streams", "/api/v1/cameras", "/metrics"):
            assert PASSWORD not in srv.get(path).text
        cams = json.loads(vigil(tmp_path, "camera", "list", "--json").stdout)["cameras"]
        assert {c["id"]: c["owner"] for c in cams} == {"filecam": "file", "gate": "api",
                                                       "lost": "api"}
        code, _ = srv.stop()
        srv.exit_checked = True
        assert code == 0
        assert PASSWORD not in srv.log
        # Without the key, or with the wrong one, vigil refuses to start and changes nothing.
        digest = hashlib.sha256(open(db, "rb").read()).hexdigest()
        vigil(tmp_path, "keygen", "-o", "wrong")
        for args, words in ((["--db", db], "master key"),
                            (["--db", db, "--master-key-file", str(tmp_path / "wrong")],
                             "does not match")):
            bad = vigil_server(cameras={}, extra_args=args, expect_ready=False)
            bad.proc.wait(15)
            bad.exit_checked = True
            assert bad.proc.returncode != 0 and words in bad.log, bad.log
        assert hashlib.sha256(open(db, "rb").read()).hexdigest() == digest
    finally:
        sim.close()
