"""Issue 12, item 2: open streams are re-judged against the store's current user, role,
enabled flag, grants and keys, and at their credential's expiry, and closed within 1 s.

The matrix: {password change, disable, demote, delete, stream-token expiry, JWT expiry, key
expiry, key revoked by the CLI, key revoked by the API} x {WebSocket, MJPEG}. Each row opens
its viewers (with a session cookie and, where the row has one, a stream token), makes the
change as another process (the `vigil` CLI on the same database) or through the API, and
measures from the change command's return to each viewer's end. WebSocket viewers must get
4401 when the credential itself is no longer valid and 4403 when the caller still exists but
lost the camera; MJPEG responses must simply end."""
import json
import time

import pytest
import requests

from hardening_lib import (CAM, Watcher, add_user, bearer, cli, finish, login, make_hs_jwt,
                           mjpeg_path, snapshot_path, start_server, start_watchers,
                           stream_token, wait_ended, wait_for, write_secret, ws_path)

BUDGET_S = 1.0      # the close must come this soon after the change
WAIT_S = 2.5        # how long the test waits for it before judging
PW = {u: "pw-%s-rev-9x7" % u for u in
      ("root", "pw", "dis", "dem", "del", "exp", "jwtu", "keyu")}


class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("revocation")
    db = str(tmp / "rev.db")
    cli(db, "camera", "add", "id=cam", "url=" + CAM)
    add_user(db, "root", "admin", PW["root"])
    for u in ("pw", "dis", "del", "exp", "jwtu", "keyu"):
        add_user(db, u, "viewer", PW[u], grants=["cam"])
    add_user(db, "dem", "admin", PW["dem"])  # sees cam as an admin, through no grant
    write_secret(tmp / "hs.secret")
    (tmp / "hs.secret").chmod(0o600)  # vigil refuses a secret others may read
    # No leeway on exp, so that a JWT's viewers close at its exp (the default 30 s of skew
    # would hold them that much longer, by design).
    fac, srv = start_server(tmp, db, ["--jwt-secret-file", str(tmp / "hs.secret"),
                                      "--jwt-leeway", "0"])
    w = World()
    w.db, w.srv, w.tmp = db, srv, tmp
    w.root = login(srv, "root", PW["root"])
    yield w
    finish(fac)


def cookie(session):
    return {"Cookie": "vigil_session=" + session.cookie}


def both_outputs(w, label, cam="cam", token=None, headers=None):
    """A WebSocket and an MJPEG viewer of cam with this credential."""
    return [Watcher(w.srv, "ws", ws_path(cam, token), headers, label="ws/" + label),
            Watcher(w.srv, "mjpeg", mjpeg_path(cam, token), headers, label="mjpeg/" + label)]


def judge(w, watchers, t_ref, ws_code, budget=BUDGET_S, what="the change"):
    """Every watcher ended within budget s of t_ref (monotonic): WebSocket with close code
    ws_code, MJPEG by the response ending. Fails with a table of what each one did."""
    wait_ended(watchers, t_ref + WAIT_S)
    bad = []
    for v in watchers:
        if v.how is None:
            v.stop()
            bad.append("%s: still streaming %.1f s after %s (%d frames in all)"
                       % (v.label, time.monotonic() - t_ref, what, len(v.frames)))
            continue
        took = v.ended_at - t_ref
        if v.kind == "ws":
            ok_how = v.how[0] == "close" and v.how[1] == ws_code
        else:
            ok_how = v.how[0] in ("eof", "reset")
        if not ok_how:
            bad.append("%s: ended %r, expected %s" % (
                v.label, v.how, "close %d" % ws_code if v.kind == "ws" else "the response to end"))
        if took > budget:
            bad.append("%s: ended %.2f s after %s (budget %.1f s)" % (v.label, took, what, budget))
        if took < -0.5:
            bad.append("%s: ended %.2f s BEFORE %s" % (v.label, -took, what))
    assert not bad, "\n".join(bad) + "\n--- server log ---\n" + w.srv.log_tail(3000)


def open_all(watchers, need_frames=True):
    problems = start_watchers(watchers)
    if need_frames:
        assert not problems, "\n".join(problems)
    return problems


def mono_of_wall(t_wall):
    return time.monotonic() + (t_wall - time.time())


# --------------------------------------------------------------------------------------
# The user changes (the CLI, another process on the same database)
# --------------------------------------------------------------------------------------

def test_password_change_closes_session_and_stream_token_viewers(world):
    w = world
    s = login(w.srv, "pw", PW["pw"])
    tok = stream_token(w.srv, s, "cam")["token"]
    watchers = both_outputs(w, "session", headers=cookie(s)) + \
        both_outputs(w, "stream-token", token=tok)
    open_all(watchers)
    cli(w.db, "user", "passwd", "pw", stdin="pw-new-after-change-1")
    t_ref = time.monotonic()
    judge(w, watchers, t_ref, 4401, what="`vigil user passwd`")
    # Neither credential opens anything afterwards.
    assert requests.get(w.srv.url("/api/v1/session"), headers=cookie(s),
                        timeout=10).status_code == 401
    r = requests.get(w.srv.url(snapshot_path("cam", tok)), timeout=10)
    assert r.status_code == 401, (r.status_code, r.text[:200])
    login(w.srv, "pw", "pw-new-after-change-1")


def test_disabling_the_user_closes_its_viewers(world):
    w = world
    s = login(w.srv, "dis", PW["dis"])
    tok = stream_token(w.srv, s, "cam")["token"]
    watchers = both_outputs(w, "session", headers=cookie(s)) + \
        both_outputs(w, "stream-token", token=tok)
    open_all(watchers)
    cli(w.db, "user", "set", "dis", "enabled:=false")
    t_ref = time.monotonic()
    judge(w, watchers, t_ref, 4401, what="`vigil user set dis enabled:=false`")
    assert requests.get(w.srv.url("/api/v1/session"), headers=cookie(s),
                        timeout=10).status_code == 401


def test_demoting_an_admin_without_a_grant_closes_its_viewers_4403(world):
    w = world
    s = login(w.srv, "dem", PW["dem"])
    tok = stream_token(w.srv, s, "cam")["token"]
    watchers = both_outputs(w, "session", headers=cookie(s)) + \
        both_outputs(w, "stream-token", token=tok)
    open_all(watchers)
    cli(w.db, "user", "set", "dem", "role=viewer")
    t_ref = time.monotonic()
    judge(w, watchers, t_ref, 4403, what="`vigil user set dem role=viewer`")
    # The caller still exists (its session lives on, as a viewer) but no longer sees cam.
    r = requests.get(w.srv.url("/api/v1/session"), headers=cookie(s), timeout=10)
    assert r.status_code == 200 and r.json()["role"] == "viewer", (r.status_code, r.text)
    r = requests.get(w.srv.url("/api/v1/cameras/cam"), headers=cookie(s), timeout=10)
    assert r.status_code == 404, (r.status_code, r.text)


def test_deleting_the_user_closes_its_viewers(world):
    w = world
    s = login(w.srv, "del", PW["del"])
    tok = stream_token(w.srv, s, "cam")["token"]
    watchers = both_outputs(w, "session", headers=cookie(s)) + \
        both_outputs(w, "stream-token", token=tok)
    open_all(watchers)
    cli(w.db, "user", "rm", "del")
    t_ref = time.monotonic()
    judge(w, watchers, t_ref, 4401, what="`vigil user rm del`")
    assert requests.get(w.srv.url("/api/v1/session"), headers=cookie(s),
                        timeout=10).status_code == 401


# --------------------------------------------------------------------------------------
# Expiry
# --------------------------------------------------------------------------------------

def test_stream_token_expiry_closes_its_viewers(world):
    w = world
    s = login(w.srv, "exp", PW["exp"])
    # The camera is running (a snapshot waits for a picture), so that the viewers get frames
    # well within the token's 2 s.
    assert w.root.get(w.srv.url(snapshot_path("cam")), timeout=10).status_code == 200
    doc = stream_token(w.srv, s, "cam", ttl_s=2)
    watchers = both_outputs(w, "stream-token(ttl 2 s)", token=doc["token"])
    open_all(watchers)
    t_ref = mono_of_wall(doc["expires_at"])
    judge(w, watchers, t_ref, 4401, what="the token's expires_at (%s)" % doc["expires_at"])


def test_jwt_expiry_closes_its_viewers(world):
    """A bearer JWT (sub: an enabled viewer with a grant) that expires in about 2 s."""
    w = world
    exp = int(time.time()) + 3
    tok = make_hs_jwt({"sub": "jwtu", "exp": exp})
    watchers = both_outputs(w, "jwt", headers=bearer(tok))
    open_all(watchers)
    judge(w, watchers, mono_of_wall(exp), 4401, what="the JWT's exp (%d)" % exp)


# --------------------------------------------------------------------------------------
# Integration keys
# --------------------------------------------------------------------------------------

def key_works(w, key, cam="cam"):
    def ok():
        r = requests.get(w.srv.url(snapshot_path(cam, key)), timeout=10)
        return r.status_code == 200
    return wait_for(ok, 3.0, 0.1)


def test_key_removed_by_cli_closes_its_viewers(world):
    w = world
    p = cli(w.db, "key", "add", "user=keyu", "name=rev-cli", "--db", w.db, "--json")
    doc = json.loads(p.stdout)
    key, kid = doc["key"], doc["id"]
    assert key.startswith("vk_"), doc
    assert key_works(w, key), "a key added by the CLI does not open cam within 3 s"
    watchers = both_outputs(w, "key", token=key)
    open_all(watchers)
    cli(w.db, "key", "rm", str(kid), "--db", w.db)
    t_ref = time.monotonic()
    judge(w, watchers, t_ref, 4401, what="`vigil key rm %s`" % kid)
    r = requests.get(w.srv.url("/api/v1/cameras"), headers=bearer(key), timeout=10)
    assert r.status_code == 401, (r.status_code, r.text)


def test_key_deleted_through_the_api_closes_its_viewers(world):
    w = world
    r = w.root.post(w.srv.url("/api/v1/keys"), json={"user_id": "keyu", "name": "rev-api"},
                    timeout=10)
    assert r.status_code == 201, (r.status_code, r.text)
    key, kid = r.json()["key"], r.json()["id"]
    watchers = both_outputs(w, "key", token=key) + \
        [Watcher(w.srv, "ws", ws_path("cam"), bearer(key), label="ws/key-as-bearer")]
    open_all(watchers)
    r = w.root.delete(w.srv.url("/api/v1/keys/%s" % kid), timeout=10)
    t_ref = time.monotonic()
    assert r.status_code == 200, (r.status_code, r.text)
    judge(w, watchers, t_ref, 4401, what="DELETE /api/v1/keys/%s" % kid)


def test_key_expiry_closes_its_viewers(world):
    w = world
    t0 = time.time()
    r = w.root.post(w.srv.url("/api/v1/keys"),
                    json={"user_id": "keyu", "name": "rev-exp", "expires_in_s": 3}, timeout=10)
    t1 = time.time()
    assert r.status_code == 201, (r.status_code, r.text)
    doc = r.json()
    # expires_at is in whole seconds; the key itself expires 3 s after it was made, some time
    # between the request and its answer: judged from the latest that can be.
    assert t0 + 3 - 1 <= doc["expires_at"] <= t1 + 3, (t0, t1, doc)
    watchers = both_outputs(w, "key(expires in 3 s)", token=doc["key"])
    open_all(watchers)
    judge(w, watchers, mono_of_wall(t1 + 3), 4401,
          what="the key's expiry (made %.2f s after the epoch's %d, 3 s to live)" % (
              t1 - int(t1), int(t1)))
