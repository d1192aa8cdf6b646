"""Issue 12, item 7: login backoff instead of lock-out, and trusted proxies.

Five wrong passwords for an account from one address slow that address down (429 with a
Retry-After of at most 30 s, not 900), while the right password from another address signs
in at once, and the first address signs in once Retry-After has passed. The client address
is the rightmost untrusted entry of X-Forwarded-For when the peer is a trusted proxy
(--trusted-proxy, VIGIL_TRUSTED_PROXIES, trusted_proxies: in the config); without one,
X-Forwarded-For is ignored, for the limits and for the audit log's peer."""
import time

import pytest
import requests

from hardening_lib import add_user, audit, finish, login, start_server

PW = {"root": "root-backoff-pw-5", "bk": "bk-backoff-pw-6", "px": "px-proxy-pw-7"}
ADDR_A = "203.0.113.10"
ADDR_B = "198.51.100.20"


def make_db(tmp):
    db = str(tmp / "backoff.db")
    add_user(db, "root", "admin", PW["root"])
    add_user(db, "bk", "viewer", PW["bk"])
    add_user(db, "px", "viewer", PW["px"])
    return db


def attempt(srv, user, password, xff=None):
    headers = {"X-Forwarded-For": xff} if xff else {}
    t0 = time.monotonic()
    r = requests.post(srv.url("/api/v1/login"), json={"user": user, "password": password},
                      headers=headers, timeout=10)
    return r, time.monotonic() - t0


def test_wrong_passwords_back_off_one_address_without_locking_the_owner_out(tmp_path):
    db = make_db(tmp_path)
    fac, srv = start_server(tmp_path, db, ["--trusted-proxy", "127.0.0.1/32"])
    try:
        statuses = [attempt(srv, "root", "wrong-password-%d" % i, ADDR_A)[0].status_code
                    for i in range(5)]
        assert statuses == [401] * 5, statuses
        # The next attempt from that address waits, even with the right password...
        r, _ = attempt(srv, "root", PW["root"], ADDR_A)
        assert r.status_code == 429, (r.status_code, r.text)
        retry = int(r.headers["retry-after"])
        assert 1 <= retry <= 30, "Retry-After %d s (a lock-out, not a backoff)" % retry
        t_429 = time.monotonic()
        # ...but the owner, from another address, signs in at once.
        r, took = attempt(srv, "root", PW["root"], ADDR_B)
        assert r.status_code == 200, ("the right password from another address",
                                      r.status_code, r.text)
        assert took < 2.0, took
        # And the first address is let in again once Retry-After has passed.
        time.sleep(max(0.0, t_429 + retry + 0.2 - time.monotonic()))
        r, _ = attempt(srv, "root", PW["root"], ADDR_A)
        assert r.status_code == 200, ("the right password after Retry-After (%d s)" % retry,
                                      r.status_code, r.headers.get("retry-after"), r.text)
    finally:
        finish(fac)


def denied_peers(srv, user):
    root = login(srv, "root", PW["root"])
    return [e["peer"] for e in audit(srv, root)
            if e["action"] == "login" and e["target"] == user and e["outcome"] != "ok"]


def peer_host(peer):
    if peer is None:
        return None
    if peer.startswith("["):
        return peer[1:].split("]")[0]
    return peer.rsplit(":", 1)[0] if peer.count(":") == 1 else peer


@pytest.mark.parametrize("how", ["flag", "env", "config"])
def test_trusted_proxy_gives_the_client_address_to_the_audit_log(tmp_path, how):
    db = make_db(tmp_path)
    extra, env, config = [], None, None
    if how == "flag":
        extra = ["--trusted-proxy", "10.255.0.0/16", "--trusted-proxy", "127.0.0.1/32"]
    elif how == "env":
        env = {"VIGIL_TRUSTED_PROXIES": "10.255.0.0/16,127.0.0.1/32"}
    else:
        config = 'trusted_proxies: ["10.255.0.0/16", "127.0.0.1/32"]\n'
    fac, srv = start_server(tmp_path, db, extra, env=env, config=config)
    try:
        # A spoofed leftmost entry, the client, then a trusted hop: the client is the
        # rightmost address that is not a trusted proxy.
        r, _ = attempt(srv, "px", "wrong-pw-1", "1.2.3.4, 198.51.100.30, 10.255.1.1")
        assert r.status_code == 401, (r.status_code, r.text)
        peers = denied_peers(srv, "px")
        assert [peer_host(p) for p in peers] == ["198.51.100.30"], peers
    finally:
        finish(fac)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(tmp_path):
    db = make_db(tmp_path)
    fac, srv = start_server(tmp_path, db)
    try:
        statuses = [attempt(srv, "bk", "wrong-pw-%d" % i, "203.0.113.%d" % (20 + i))[0]
                    .status_code for i in range(5)]
        assert statuses == [401] * 5, statuses
        # A new spoofed address does not escape the limit: the peer is the same.
        r, _ = attempt(srv, "bk", PW["bk"], ADDR_B)
        assert r.status_code == 429, ("X-Forwarded-For from an untrusted peer was believed",
                                      r.status_code, r.text)
        peers = denied_peers(srv, "bk")
        assert peers and all(peer_host(p) == "127.0.0.1" for p in peers), peers
    finally:
        finish(fac)
