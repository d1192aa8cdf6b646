"""Issue 12, item 6: one redaction rule for every route that shows a camera. A viewer with a
grant on one camera sees that camera on /api/v1/cameras, /api/v1/cameras/{id},
/api/v1/streams and /api/v1/streams/{id} (and in the WebSocket hello), but never its URL,
substream URL, snapshot URL, username or the URL's host. Admins still see the URL."""
import asyncio
import json

import pytest

from conftest import ws_connect
from hardening_lib import add_user, cli, finish, login, start_server

HOST = "cam-secret-host.invalid"
SECRET = {
    "url": "rtsp://%s:554/x-main-path" % HOST,
    "substream_url": "rtsp://%s:554/sub-secret-path" % HOST,
    "snapshot_url": "http://%s/snap-secret.jpg" % HOST,
    "username": "cam-secret-user",
}
HIDDEN_HOST = "hidden-host.invalid"
PW = {"root": "root-redact-pw-3", "rv": "rv-redact-pw-7"}
ROUTES = ["/api/v1/cameras", "/api/v1/cameras/secret", "/api/v1/streams",
          "/api/v1/streams/secret"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("redaction")
    db = str(tmp / "redact.db")
    # Cameras that fail to dial (.invalid never resolves): still listed.
    cli(db, "camera", "add", "id=secret", *("%s=%s" % kv for kv in SECRET.items()))
    cli(db, "camera", "add", "id=hidden", "url=rtsp://%s:554/y" % HIDDEN_HOST)
    add_user(db, "root", "admin", PW["root"])
    add_user(db, "rv", "viewer", PW["rv"], grants=["secret"])
    fac, srv = start_server(tmp, db)
    yield srv
    finish(fac)


def leaks(text):
    found = [v for v in list(SECRET.values()) + [HOST, HIDDEN_HOST, "x-main-path"]
             if v in text]
    return found


def test_viewer_never_sees_camera_addresses_on_any_route(world):
    srv = world
    s = login(srv, "rv", PW["rv"])
    problems = []
    for path in ROUTES:
        r = s.get(srv.url(path), timeout=10)
        if r.status_code != 200:
            problems.append("%s: %d %s" % (path, r.status_code, r.text[:200]))
            continue
        found = leaks(r.text)
        if found:
            problems.append("%s shows the viewer %r" % (path, found))
        if "secret" not in r.text:
            problems.append("%s does not show the camera at all: %s" % (path, r.text[:200]))
    # The lists hold the granted camera and nothing else.
    cams = [c["id"] for c in s.get(srv.url("/api/v1/cameras"), timeout=10).json()["cameras"]]
    streams = [c["id"] for c in s.get(srv.url("/api/v1/streams"), timeout=10).json()["streams"]]
    if cams != ["secret"] or streams != ["secret"]:
        problems.append("the viewer's lists: cameras %r, streams %r (want ['secret'])"
                        % (cams, streams))

    # The WebSocket hello shows the camera too.
    async def hello():
        async with ws_connect(srv.ws_url("secret"),
                              extra_headers={"Cookie": "vigil_session=" + s.cookie}) as ws:
            return await asyncio.wait_for(ws.recv(), 5)

    msg = asyncio.run(hello())
    assert isinstance(msg, str) and json.loads(msg)["type"] == "hello", msg
    if leaks(msg):
        problems.append("the WebSocket hello shows the viewer %r" % leaks(msg))
    assert not problems, "\n".join(problems)


def test_admin_still_sees_the_url(world):
    srv = world
    s = login(srv, "root", PW["root"])
    problems = []
    for path in ROUTES:
        r = s.get(srv.url(path), timeout=10)
        if r.status_code != 200:
            problems.append("%s: %d %s" % (path, r.status_code, r.text[:200]))
        elif SECRET["url"] not in r.text:
            problems.append("%s does not show the admin the camera's URL" % path)
    assert not problems, "\n".join(problems)
