"""Issue 12, item 1: any local user could mint stream tokens. The database was 0644 and held
the stream-token key in clear, and the same key signed CSRF tokens; `nobody` read it and
forged a token for an admin on another tenant's camera.

Now the database and its side files are 0600, the signing keys are derived per purpose from
the master key or from a 0600 key file (<db>.authkey), and `vigil rekey` rotates them."""
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time

import pytest
import requests

from conftest import VIGIL_BIN, _Factory

SMALL = "test://?width=160&height=120&fps=5"
ROOT_PW = "root-pw-keys-9f3k"
AV_PW = "acme-viewer-keys-1"
# A stream-token key as databases before issue 12 kept it: meta row 'stream_token_key', hex.
OLD_KEY = "5eed" * 16
HEX64 = re.compile(rb"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def cli(db, *args, stdin=None, check=True, env=None):
    full = dict(os.environ, VIGIL_DB=db)
    full.pop("VIGIL_MASTER_KEY", None)
    full.pop("VIGIL_MASTER_KEY_FILE", None)
    full.update(env or {})
    # A shell's umask: without vigil's care SQLite makes files 0644 under it.
    p = subprocess.run([VIGIL_BIN] + list(args), input=stdin, capture_output=True, text=True,
                       env=full, timeout=30, preexec_fn=lambda: os.umask(0o022))
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# How vigil signs (src/auth/auth.c token_mac, vg__auth_csrf_token). v2 (issue 12) puts the
# user's auth_epoch, 8 bytes little-endian, under the MAC; v1 was the format before, tried
# too so that a key found in the database would be caught whichever format the server uses.
def token_mac(key, signed, epoch=0, version=2):
    if version == 1:
        msg = b"vigil-stream-token-v1:" + signed.encode()
    else:
        msg = b"vigil-stream-token-v2:" + epoch.to_bytes(8, "little", signed=True) + \
            signed.encode()
    return b64url(hmac.new(key, msg, hashlib.sha256).digest())


def forge_tokens(key, cam, user, expires, epoch=0):
    """The token for (cam, expires, user) under key, in each format."""
    signed = "%s.%d.%s" % (cam, expires, user)
    return [signed + "." + token_mac(key, signed, epoch, v) for v in (1, 2)]


def csrf_for(key, session_hash, version=2):
    label = b"vigil-csrf-v%d:" % version
    return b64url(hmac.new(key, label + session_hash, hashlib.sha256).digest())


def derive(root, purpose):
    """vg_kdf: keyed BLAKE2b-256 of the label, the root as the key (src/store/keys.c)."""
    return hashlib.blake2b(("vigil auth v1 " + purpose).encode(), key=root,
                           digest_size=32).digest()


def key_file_root(path):
    lines = [ln.strip() for ln in open(path).read().splitlines()
             if ln.strip() and not ln.startswith("#")]
    return bytes.fromhex(lines[0])


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def shared_dir():
    """A directory any user may enter (pytest's own tmp_path is 0700, which would hide a
    0644 database from `nobody` and let the test pass for the wrong reason)."""
    d = tempfile.mkdtemp(prefix="vigil-keys-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def setup_world(db):
    for t in ("acme", "globex"):
        cli(db, "tenant", "add", "id=" + t, "name=" + t.title())
    for cam in ("acme-cam", "globex-cam"):
        cli(db, "camera", "add", "id=" + cam, "url=" + SMALL)
    cli(db, "user", "add", "id=root", "role=admin", "--password-stdin", stdin=ROOT_PW)
    cli(db, "user", "add", "id=av", "role=viewer", "tenant_id=acme", "--password-stdin",
        stdin=AV_PW)
    cli(db, "tenant", "grant", "acme", "camera=acme-cam")
    cli(db, "tenant", "grant", "globex", "camera=globex-cam")


def login(srv, user, password):
    s = requests.Session()
    r = s.post(srv.url("/api/v1/login"), json={"user": user, "password": password}, timeout=10)
    assert r.status_code == 200, (user, r.status_code, r.text)
    s.csrf = r.json()["csrf_token"]
    s.headers["X-CSRF-Token"] = s.csrf
    return s


def mint(srv, session, cam, ttl_s=600):
    r = session.post(srv.url("/api/v1/cameras/%s/token" % cam), json={"ttl_s": ttl_s},
                     timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def snapshot_status(srv, cam, token):
    return requests.get(srv.url("/cameras/%s/snapshot.jpg" % cam), params={"token": token},
                        timeout=10).status_code


# What `nobody` tries: read every file vigil keeps beside the database, and forge a token for
# the admin on globex's camera from every 64-hex-digit string in what it could read.
NOBODY_SCRIPT = r"""
import base64, hashlib, hmac, json, re, sys, time, urllib.error, urllib.request
base, files = sys.argv[1], sys.argv[2:]
readable, candidates = [], set()
for f in files:
    try:
        data = open(f, "rb").read()
    except OSError:
        continue
    readable.append(f)
    for m in re.findall(rb"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])", data):
        candidates.add(m.decode())
statuses = []
for c in sorted(candidates)[:100]:
    signed = "globex-cam.%d.root" % (int(time.time()) + 600)
    # The token formats before and after issue 12 (epoch 0: the admin never changed).
    for prefix in (b"vigil-stream-token-v1:", b"vigil-stream-token-v2:" + bytes(8)):
        mac = hmac.new(bytes.fromhex(c), prefix + signed.encode(), hashlib.sha256).digest()
        tok = signed + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        try:
            code = urllib.request.urlopen(base + "/cameras/globex-cam/snapshot.jpg?token=" +
                                          tok, timeout=10).status
        except urllib.error.HTTPError as e:
            code = e.code
        statuses.append(code)
print(json.dumps({"readable": readable, "candidates": len(candidates), "statuses": statuses}))
"""


def run_as_nobody(argv):
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           "--reset-env"] + argv, capture_output=True, text=True, timeout=60,
                          cwd="/")


def test_issue12_nobody_cannot_forge_a_stream_token(shared_dir, tmp_path):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as nobody")
    db = os.path.join(shared_dir, "vigil.db")
    setup_world(db)
    # A database from before issue 12: the key in meta, in clear. It must go, and sign nothing.
    with contextlib.closing(sqlite3.connect(db)) as c, c:
        c.execute("INSERT INTO meta (key, value) VALUES ('stream_token_key', ?)", (OLD_KEY,))
    fac = _Factory(tmp_path)
    try:
        srv = fac(cameras={}, auth=True, extra_args=["--db", db])
        av = login(srv, "av", AV_PW)
        real = mint(srv, av, "acme-cam")
        assert snapshot_status(srv, "acme-cam", real) == 200
        files = [db, db + "-wal", db + "-shm", db + ".authkey"]

        # 1. As nobody: nothing vigil keeps is readable, and nothing forged opens a camera.
        p = run_as_nobody([sys.executable, "-c", NOBODY_SCRIPT, srv.base_url] + files)
        assert p.returncode == 0, p.stderr
        seen = json.loads(p.stdout)
        assert seen["readable"] == [], "nobody can read %s" % seen["readable"]
        assert 200 not in seen["statuses"], "nobody forged a working token: %r" % seen

        # 2. As root, with the files in hand: no key that signs tokens or CSRF is in them.
        for f in files[:3]:
            if os.path.exists(f):
                assert mode(f) == 0o600, (f, oct(mode(f)))
        with contextlib.closing(sqlite3.connect(db)) as c:
            meta = c.execute("SELECT key, value FROM meta").fetchall()
            av_session = c.execute("SELECT token_hash FROM sessions WHERE user_id = 'av'"
                                   ).fetchone()[0]
            epoch = dict(c.execute("SELECT id, auth_epoch FROM users").fetchall()) \
                if "auth_epoch" in [r[1] for r in c.execute("PRAGMA table_info(users)")] \
                else {}
        assert "stream_token_key" not in [k for k, _ in meta], meta
        candidates = {bytes.fromhex(OLD_KEY)}
        for _, value in meta:
            raw = value.encode() if isinstance(value, str) else bytes(value)
            if len(raw) == 32:
                candidates.add(raw)
            for m in HEX64.findall(raw):
                candidates.add(bytes.fromhex(m.decode()))
        for f in files[:2]:  # the raw pages too: free pages and the WAL keep old rows
            if os.path.exists(f):
                for m in HEX64.findall(open(f, "rb").read()):
                    candidates.add(bytes.fromhex(m.decode()))
        root = key_file_root(db + ".authkey")
        candidates.add(root)  # the key file's root is not itself a signing key either
        assert len(candidates) < 50, "bounded: %d candidates" % len(candidates)

        # The test's model of signing is right: the keys derived from the key file reproduce
        # what the server made (so a key in the database would have been found).
        signed, real_mac = real.rsplit(".", 1)
        av_epoch = epoch.get("av", 0)
        assert token_mac(derive(root, "stream-token"), signed, av_epoch) == real_mac, \
            "the test's model of stream tokens no longer matches src/auth/auth.c"
        assert csrf_for(derive(root, "csrf"), av_session) == av.csrf, \
            "the test's model of CSRF tokens no longer matches src/auth/auth.c"
        exp = int(time.time()) + 600
        for key in candidates:
            for v in (1, 2):
                assert token_mac(key, signed, av_epoch, v) != real_mac, "token key in the db"
                assert csrf_for(key, av_session, v) != av.csrf, "CSRF key in the db"
            for forged in forge_tokens(key, "globex-cam", "root", exp, epoch.get("root", 0)):
                assert snapshot_status(srv, "globex-cam", forged) == 401
            # A state-changing request with a CSRF token made from the candidate.
            for v in (1, 2):
                r = requests.post(srv.url("/api/v1/cameras/acme-cam/token"),
                                  json={"ttl_s": 60}, cookies=av.cookies, timeout=10,
                                  headers={"X-CSRF-Token": csrf_for(key, av_session, v)})
                assert r.status_code == 403, (r.status_code, r.text)
    finally:
        problems = fac.teardown()
    assert not problems, problems


def test_issue12_csrf_and_stream_tokens_use_separate_keys(shared_dir, tmp_path):
    """Separate keys for separate purposes: the CSRF token is made with the key derived for
    CSRF, not with the stream-token key (before issue 12 one key signed both)."""
    db = os.path.join(shared_dir, "vigil.db")
    cli(db, "user", "add", "id=root", "role=admin", "--password-stdin", stdin=ROOT_PW)
    fac = _Factory(tmp_path)
    try:
        srv = fac(cameras={}, auth=True, extra_args=["--db", db])
        root_s = login(srv, "root", ROOT_PW)
        with contextlib.closing(sqlite3.connect(db)) as c:
            h = c.execute("SELECT token_hash FROM sessions WHERE user_id = 'root'").fetchone()[0]
        root = key_file_root(db + ".authkey")
        for v in (1, 2):
            assert root_s.csrf != csrf_for(derive(root, "stream-token"), h, v)
        assert root_s.csrf == csrf_for(derive(root, "csrf"), h)
    finally:
        problems = fac.teardown()
    assert not problems, problems


def test_issue12_files_are_private_and_a_loose_database_is_named(shared_dir, tmp_path):
    db = os.path.join(shared_dir, "vigil.db")
    cli(db, "user", "add", "id=root", "role=admin", "--password-stdin", stdin=ROOT_PW)
    assert mode(db) == 0o600
    cli(db, "camera", "add", "id=c1", "url=" + SMALL)
    assert mode(db) == 0o600
    for side in ("-wal", "-shm"):  # SQLite removes them when the last connection closes
        if os.path.exists(db + side):
            assert mode(db + side) == 0o600, side
    fac = _Factory(tmp_path)
    try:
        srv = fac(cameras={}, auth=True, extra_args=["--db", db])
        # While the server runs, every file is there, and private.
        for f in (db, db + "-wal", db + "-shm", db + ".authkey"):
            assert os.path.exists(f), f
            assert mode(f) == 0o600, (f, oct(mode(f)))
        assert "can read" not in srv.log
        srv.stop()
        # A database someone made readable is named at start, by the CLI and by serve.
        os.chmod(db, 0o644)
        p = cli(db, "camera", "list")
        assert "other users can read %s (mode 0644)" % db in p.stderr, p.stderr
        assert "chmod 600 %s" % db in p.stderr, p.stderr
        srv = fac(cameras={}, auth=True, extra_args=["--db", db])
        assert "chmod 600 %s" % db in srv.log, srv.log_tail()
        # A key file others can read is refused: whoever read it can sign tokens.
        srv.stop()
        os.chmod(db, 0o600)
        os.chmod(db + ".authkey", 0o644)
        srv = fac(cameras={}, auth=True, extra_args=["--db", db], expect_ready=False)
        srv.proc.wait(timeout=15)
        srv.exit_checked = True
        assert srv.proc.returncode != 0
        assert "%s.authkey is readable by others (mode 0644): chmod 600 it" % db in srv.log \
            and "rekey --auth-keys" in srv.log, srv.log_tail()
    finally:
        problems = fac.teardown()
    assert not problems, problems


def test_issue12_rekey_ends_tokens_made_before(shared_dir, tmp_path):
    db = os.path.join(shared_dir, "vigil.db")
    cli(db, "camera", "add", "id=c1", "url=" + SMALL)
    cli(db, "user", "add", "id=root", "role=admin", "--password-stdin", stdin=ROOT_PW)
    fac = _Factory(tmp_path)
    try:
        # Without a master key: the key file.
        srv = fac(cameras={}, auth=True, extra_args=["--db", db])
        token = mint(srv, login(srv, "root", ROOT_PW), "c1")
        assert snapshot_status(srv, "c1", token) == 200
        srv.stop()
        srv = fac(cameras={}, auth=True, extra_args=["--db", db])
        assert snapshot_status(srv, "c1", token) == 200, "keys are stable across restarts"
        srv.stop()
        before = open(db + ".authkey").read()
        p = cli(db, "rekey", "--auth-keys")
        assert "Restart vigil" in p.stderr, p.stderr
        assert open(db + ".authkey").read() != before and mode(db + ".authkey") == 0o600
        srv = fac(cameras={}, auth=True, extra_args=["--db", db])
        assert snapshot_status(srv, "c1", token) == 401
        fresh = mint(srv, login(srv, "root", ROOT_PW), "c1")
        assert snapshot_status(srv, "c1", fresh) == 200
        srv.stop()

        # With a master key: the keys follow it, and --auth-keys says so.
        mk1, mk2 = os.path.join(shared_dir, "mk1"), os.path.join(shared_dir, "mk2")
        cli(db, "keygen", "-o", mk1)
        cli(db, "keygen", "-o", mk2)
        srv = fac(cameras={}, auth=True, extra_args=["--db", db, "--master-key-file", mk1])
        token = mint(srv, login(srv, "root", ROOT_PW), "c1")
        assert snapshot_status(srv, "c1", token) == 200
        srv.stop()
        p = cli(db, "rekey", "--auth-keys", "--master-key-file", mk1, check=False)
        assert p.returncode == 1 and "--new-key-file" in p.stderr, p.stderr
        cli(db, "rekey", "--master-key-file", mk1, "--new-key-file", mk2)
        srv = fac(cameras={}, auth=True, extra_args=["--db", db, "--master-key-file", mk2])
        assert snapshot_status(srv, "c1", token) == 401
        assert snapshot_status(srv, "c1", mint(srv, login(srv, "root", ROOT_PW), "c1")) == 200
    finally:
        problems = fac.teardown()
    assert not problems, problems


def test_rekey_help_and_arguments(tmp_path):
    db = str(tmp_path / "vigil.db")
    p = cli(db, "rekey", "--help")
    assert "--auth-keys" in p.stdout and "--new-key-file" in p.stdout
    p = cli(db, "rekey", check=False)
    assert p.returncode == 2 and "--auth-keys" in p.stderr
    p = cli(db, "rekey", "--auth-keys", check=False)
    assert p.returncode == 1 and "no database" in p.stderr
