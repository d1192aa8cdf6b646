"""Issue 12, item 9: integration keys for clients that cannot sign in (NVRs, Home Assistant,
VLC). `vigil key add|list|rm` and GET/POST/DELETE /api/v1/keys (admins only); a key is shown
once, stored only as a hash, works as ?token= on MJPEG, snapshot and WebSocket URLs and as a
bearer credential on the API, sees its user's cameras or only the listed ones, stops at its
expiry, and its use is audited. (Removing a key closes its open streams: test_revocation.)"""
import asyncio
import hashlib
import json
import os
import re
import time

import pytest
import requests

from conftest import ws_connect
from hardening_lib import (CAM, add_user, audit, bearer, cli, finish, login, mjpeg_path,
                           snapshot_path, start_server, wait_for, ws_path)

PW = {"root": "root-keys-pw-1", "kv": "kv-keys-pw-2"}
FIELDS = {"id", "name", "user_id", "role", "cameras", "created_at", "expires_at",
          "last_used_at"}


class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keys")
    db = str(tmp / "keys.db")
    for cam in ("a", "b", "c"):
        cli(db, "camera", "add", "id=" + cam, "url=" + CAM)
    add_user(db, "root", "admin", PW["root"])
    add_user(db, "kv", "viewer", PW["kv"], grants=["a", "b"])
    fac, srv = start_server(tmp, db)
    w = World()
    w.db, w.srv = db, srv
    w.root = login(srv, "root", PW["root"])
    w.kv = login(srv, "kv", PW["kv"])
    w.keys = []  # every key made, for the database check
    yield w
    finish(fac)


def api_key(w, **body):
    r = w.root.post(w.srv.url("/api/v1/keys"), json=body, timeout=10)
    assert r.status_code == 201, (body, r.status_code, r.text)
    doc = r.json()
    assert doc["key"].startswith("vk_"), doc
    w.keys.append(doc["key"])
    return doc


def visible(w, key):
    r = requests.get(w.srv.url("/api/v1/cameras"), headers=bearer(key), timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    return sorted(c["id"] for c in r.json()["cameras"])


def snap_status(w, cam, key):
    return requests.get(w.srv.url(snapshot_path(cam, key)), timeout=10).status_code


def hash_forms(key):
    out = []
    for k in (key, key[3:]):
        out += [hashlib.sha256(k.encode()).hexdigest(),
                hashlib.blake2b(k.encode(), digest_size=32).hexdigest()]
    return out


def test_cli_add_list_rm(world):
    w = world
    p = cli(w.db, "key", "add", "user=kv", "name=nvr-cli", "--db", w.db)
    m = re.search(r"^key: (vk_\S+)$", p.stdout, re.M)
    assert m, "no 'key: vk_...' line in %r" % p.stdout
    key1 = m.group(1)
    p = cli(w.db, "key", "add", "user=kv", "name=ha-cli", "cameras=a", "role=viewer",
            "expires=3600", "--db", w.db, "--json")
    doc = json.loads(p.stdout)
    key2 = doc["key"]
    assert key2.startswith("vk_") and key2 != key1, doc
    w.keys += [key1, key2]

    listing = cli(w.db, "key", "list", "--db", w.db).stdout
    listing_json = cli(w.db, "key", "list", "user=kv", "--db", w.db, "--json").stdout
    keys = json.loads(listing_json)
    keys = keys["keys"] if isinstance(keys, dict) else keys
    by_name = {k["name"]: k for k in keys}
    assert {"nvr-cli", "ha-cli"} <= set(by_name), keys
    assert by_name["ha-cli"]["cameras"] == ["a"] and by_name["ha-cli"]["user_id"] == "kv", keys
    assert "nvr-cli" in listing and "ha-cli" in listing, listing
    for text in (listing, listing_json):
        for k in (key1, key2):
            assert k not in text and k[3:] not in text, "the list shows a key"
            for h in hash_forms(k):
                assert h not in text, "the list shows a key's hash"
        assert "hash" not in text.lower(), text

    # A running server takes them (it notices the change within about 250 ms). Wait for both:
    # the server may have re-read the database between the two `key add` commands.
    assert wait_for(lambda: all(requests.get(w.srv.url("/api/v1/cameras"), headers=bearer(k),
                                             timeout=10).status_code == 200
                                for k in (key1, key2)), 3.0, 0.1)
    assert visible(w, key1) == ["a", "b"]
    assert visible(w, key2) == ["a"]
    assert snap_status(w, "b", key2) == 404

    cli(w.db, "key", "rm", str(by_name["nvr-cli"]["id"]), "--db", w.db)
    assert wait_for(lambda: requests.get(w.srv.url("/api/v1/cameras"), headers=bearer(key1),
                                         timeout=10).status_code == 401, 2.0, 0.1), \
        "a key removed by the CLI still works 2 s later"
    assert visible(w, key2) == ["a"]
    after = cli(w.db, "key", "list", "--db", w.db, "--json").stdout
    assert "nvr-cli" not in after and "ha-cli" in after, after


def test_key_opens_stream_urls_and_the_api(world):
    w = world
    key = api_key(w, user_id="kv", name="everything")["key"]
    r = requests.get(w.srv.url(snapshot_path("a", key)), timeout=10)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", (r.status_code, r.text[:200])
    with requests.get(w.srv.url(mjpeg_path("b", key)), stream=True, timeout=10) as r:
        assert r.status_code == 200, r.status_code
        assert b"--vigilframe" in next(r.iter_content(4096))

    async def ws_frame_count():
        async with ws_connect("ws://127.0.0.1:%d%s" % (w.srv.port, ws_path("a", key))) as ws:
            got = 0
            for _ in range(50):
                if isinstance(await asyncio.wait_for(ws.recv(), 5), bytes):
                    got += 1
                if got >= 2:
                    break
            return got

    assert asyncio.run(ws_frame_count()) == 2
    # As a bearer on the API: the user's view, nothing more.
    assert visible(w, key) == ["a", "b"]
    assert requests.get(w.srv.url("/api/v1/cameras/c"), headers=bearer(key),
                        timeout=10).status_code == 404
    assert snap_status(w, "c", key) == 404
    assert requests.get(w.srv.url("/api/v1/tenants"), headers=bearer(key),
                        timeout=10).status_code == 403
    # Garbage in the key's shape is refused.
    assert snap_status(w, "a", "vk_" + "A" * 43) == 401
    assert snap_status(w, "a", key[:-1] + ("A" if key[-1] != "A" else "B")) == 401


def test_key_scoped_to_cameras(world):
    w = world
    key = api_key(w, user_id="kv", name="only-a", role="viewer", cameras=["a"])["key"]
    assert visible(w, key) == ["a"]
    assert requests.get(w.srv.url("/api/v1/cameras/b"), headers=bearer(key),
                        timeout=10).status_code == 404
    assert snap_status(w, "b", key) == 404
    assert snap_status(w, "a", key) == 200


def test_key_role_is_at_most_its_users(world):
    w = world
    # An admin's key is a viewer's unless it says otherwise.
    plain = api_key(w, user_id="root", name="root-plain")["key"]
    assert requests.get(w.srv.url("/api/v1/tenants"), headers=bearer(plain),
                        timeout=10).status_code == 403
    assert visible(w, plain) == ["a", "b", "c"]
    admin = api_key(w, user_id="root", name="root-admin", role="admin")["key"]
    assert requests.get(w.srv.url("/api/v1/tenants"), headers=bearer(admin),
                        timeout=10).status_code == 200
    # A viewer's key never rises above the viewer: refused, or made and still a viewer.
    r = w.root.post(w.srv.url("/api/v1/keys"), json={"user_id": "kv", "role": "admin"},
                    timeout=10)
    if r.status_code == 201:
        w.keys.append(r.json()["key"])
        assert requests.get(w.srv.url("/api/v1/tenants"), headers=bearer(r.json()["key"]),
                            timeout=10).status_code == 403
    else:
        assert r.status_code == 400, (r.status_code, r.text)


def test_expired_key_is_refused(world):
    w = world
    doc = api_key(w, user_id="kv", name="short", expires_in_s=1)
    p = cli(w.db, "key", "add", "user=kv", "name=short-cli", "expires=1", "--db", w.db,
            "--json")
    cli_key = json.loads(p.stdout)["key"]
    w.keys.append(cli_key)
    time.sleep(2.2)
    for key in (doc["key"], cli_key):
        r = requests.get(w.srv.url("/api/v1/cameras"), headers=bearer(key), timeout=10)
        assert r.status_code == 401, ("an expired key", r.status_code, r.text)
        assert snap_status(w, "a", key) == 401


def test_keys_api_is_for_admins_and_never_shows_a_key_again(world):
    w = world
    doc = api_key(w, user_id="kv", name="listed", role="viewer", cameras=["a", "b"],
                  expires_in_s=3600)
    key, kid = doc["key"], doc["id"]
    # Non-admins: 403, with a session or with their own key.
    for method, path, body in (("GET", "/api/v1/keys", None),
                               ("POST", "/api/v1/keys", {"user_id": "kv"}),
                               ("DELETE", "/api/v1/keys/%s" % kid, None)):
        r = w.kv.request(method, w.srv.url(path), json=body, timeout=10)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        r = requests.request(method, w.srv.url(path), json=body, headers=bearer(key),
                             timeout=10)
        assert r.status_code == 403, ("a viewer's key", method, path, r.status_code, r.text)
    r = w.root.get(w.srv.url("/api/v1/keys"), timeout=10)
    assert r.status_code == 200, r.text
    listed = {k["id"]: k for k in r.json()["keys"]}
    assert kid in listed, r.text
    rec = listed[kid]
    assert FIELDS <= set(rec), "missing %r in %r" % (FIELDS - set(rec), rec)
    assert "key" not in rec and not any("hash" in f for f in rec), rec
    assert (rec["name"], rec["user_id"], rec["role"], sorted(rec["cameras"])) == \
        ("listed", "kv", "viewer", ["a", "b"]), rec
    assert abs(rec["expires_at"] - (rec["created_at"] + 3600)) <= 2, rec
    for k in w.keys + [key]:
        assert k not in r.text and k[3:] not in r.text, "GET /api/v1/keys shows a key"
        for h in hash_forms(k):
            assert h not in r.text
    # DELETE: 200, then the key is dead, and a second DELETE finds nothing.
    r = w.root.delete(w.srv.url("/api/v1/keys/%s" % kid), timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(w.srv.url("/api/v1/cameras"), headers=bearer(key),
                        timeout=10).status_code == 401
    assert w.root.delete(w.srv.url("/api/v1/keys/%s" % kid), timeout=10).status_code == 404
    assert kid not in [k["id"] for k in w.root.get(w.srv.url("/api/v1/keys"),
                                                   timeout=10).json()["keys"]]


def test_key_use_is_audited_and_marks_last_used(world):
    w = world
    doc = api_key(w, user_id="kv", name="audited-key-7")
    key, kid = doc["key"], str(doc["id"])

    def mentions():
        return [e for e in audit(w.srv, w.root)
                if kid in json.dumps(e) or "audited-key-7" in json.dumps(e)]

    before = len(mentions())
    assert snap_status(w, "a", key) == 200
    assert visible(w, key) == ["a", "b"]
    assert wait_for(lambda: len(mentions()) > before, 3.0, 0.2), \
        "no audit entry names key %s after it was used: %r" % (kid, mentions())
    text = json.dumps(audit(w.srv, w.root))
    assert key not in text and key[3:] not in text, "the audit log holds the key"

    def last_used():
        r = w.root.get(w.srv.url("/api/v1/keys"), timeout=10)
        return [k for k in r.json()["keys"] if str(k["id"]) == kid][0]["last_used_at"]

    assert wait_for(lambda: last_used() is not None, 3.0, 0.2), "last_used_at stays null"


def test_no_copy_of_any_key_in_the_database_or_the_log(world):
    w = world
    api_key(w, user_id="kv", name="for-the-grep")
    w.keys.append(json.loads(cli(w.db, "key", "add", "user=kv", "name=grep-cli", "--db", w.db,
                                 "--json").stdout)["key"])
    for k in w.keys[-2:]:  # used once, so that any trace of use is written too
        assert wait_for(lambda: snap_status(w, "a", k) == 200, 3.0, 0.1)
    for path in (w.db, w.db + "-wal"):
        if not os.path.exists(path):
            continue
        data = open(path, "rb").read()
        for k in w.keys:
            assert k.encode() not in data and k[3:].encode() not in data, \
                "%s holds a key" % os.path.basename(path)
    log = w.srv.log
    for k in w.keys:
        assert k[3:] not in log, "the server log holds a key"
