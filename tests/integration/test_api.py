"""HTTP API: camera listing, one camera, JSON errors, config file, dashboard."""
import asyncio
import time

import requests

from conftest import CAM_720, ws_connect, recv_hello

STATES = {"idle", "connecting", "live", "stalled", "failed"}
TIER_KEYS = {"name", "width", "height", "fps", "quality", "codec"}
CAM_KEYS = {"state", "reason", "width", "height", "fps", "default_tier", "tiers", "url"}


def assert_json_error(r, status, code):
    assert r.status_code == status, (r.request.method, r.url, r.status_code, r.text[:300])
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err.get("code") == code, body
    assert isinstance(err.get("message"), str) and err["message"], body


def check_tiers(cam):
    tiers = cam["tiers"]
    assert tiers, cam
    names = [t["name"] for t in tiers]
    assert len(set(names)) == len(names), names
    jpeg = [t["name"] for t in tiers if t["codec"] == "jpeg"]
    # The JPEG ladder first, ending at native; then the H.264 tiers.
    assert names[:len(jpeg)] == jpeg and jpeg[-1] == "native", names
    assert cam["default_tier"] in jpeg, cam
    for t in tiers:
        assert TIER_KEYS <= set(t), t
        assert t["width"] % 2 == 0 and t["height"] % 2 == 0, t
        assert t["width"] <= cam["width"] and t["height"] <= cam["height"], t
        assert 1 <= t["fps"] <= cam["fps"], t
        if t["codec"] == "jpeg":
            assert 1 <= t["quality"] <= 100, t
        else:
            assert t["codec"] == "h264" and t["quality"] == 0 and t["max_kbps"] >= 50, t
        # aspect ratio kept (width rounded to even)
        assert abs(t["width"] - t["height"] * cam["width"] / cam["height"]) <= 2, t
    native = tiers[len(jpeg) - 1]
    assert (native["width"], native["height"], native["fps"]) == (cam["width"], cam["height"],
                                                                  cam["fps"]), native


def test_camera_listing(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_720, "c2": "test://?width=320&height=240&fps=10"})
    r = requests.get(srv.url("/api/v1/cameras"), timeout=10)
    assert r.status_code == 200
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    doc = r.json()
    assert (doc["total"], doc["offset"], doc["limit"]) == (2, 0, 100), doc
    cams = doc["cameras"]
    assert [c["id"] for c in cams] == ["c1", "c2"], cams
    for c in cams:
        assert isinstance(c["name"], str) and c["name"], c
        assert c["owner"] == "file" and c["enabled"] is True and c["has_password"] is False, c
        assert CAM_KEYS <= set(c["live"]), c
        assert c["live"]["state"] in STATES, c
        check_tiers(c["live"])
    c1, c2 = (c["live"] for c in cams)
    assert (c1["width"], c1["height"], c1["fps"]) == (1280, 720, 30)
    assert [(t["name"], t["width"], t["height"], t["fps"], t["quality"]) for t in c1["tiers"]] == [
        ("micro1", 256, 144, 1, 30), ("micro5", 256, 144, 5, 30), ("micro10", 256, 144, 10, 30),
        ("micro15", 256, 144, 15, 30),
        ("tiny15", 426, 240, 15, 40), ("tiny", 426, 240, 30, 50),
        ("low", 568, 320, 30, 60), ("medium", 854, 480, 30, 70), ("native", 1280, 720, 30, 85),
        ("h264-thin10", 320, 180, 10, 0), ("h264-tiny15", 426, 240, 15, 0),
        ("h264-low", 568, 320, 30, 0), ("h264-medium", 854, 480, 30, 0)]
    assert (c2["width"], c2["height"], c2["fps"]) == (320, 240, 10)
    # 240 px high: only the 144-line rungs below it (micro15 at 10 fps would be micro10
    # again), then native, and the 180-line H.264 rung; fps never above the camera's
    assert [(t["name"], t["width"], t["height"], t["fps"]) for t in c2["tiers"]] == [
        ("micro1", 192, 144, 1), ("micro5", 192, 144, 5), ("micro10", 192, 144, 10),
        ("native", 320, 240, 10), ("h264-thin10", 240, 180, 10)]
    # Nobody watches: the sources are not running.
    assert c1["state"] == "idle" and c2["state"] == "idle", cams


def test_one_camera_matches_listing(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_720, "c2": "test://?width=320&height=240&fps=10"})
    listing = requests.get(srv.url("/api/v1/cameras"), timeout=10).json()["cameras"]
    for c in listing:
        r = requests.get(srv.url("/api/v1/cameras/" + c["id"]), timeout=10)
        assert r.status_code == 200
        assert r.headers.get("content-type", "").startswith("application/json")
        one = r.json()
        assert one == c, (one, c)


def test_state_live_while_watched(vigil_server):
    srv = vigil_server(cameras={"c1": "test://?width=320&height=240&fps=15"})

    async def go():
        async with ws_connect(srv.ws_url("c1")) as ws:
            await recv_hello(ws)
            deadline = time.monotonic() + 5
            state = None
            for _ in range(100):
                state = srv.camera("c1")["state"]
                if state == "live" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            return state

    assert asyncio.run(go()) == "live"


def test_unknown_camera_404(vigil_server):
    srv = vigil_server()
    assert_json_error(requests.get(srv.url("/api/v1/cameras/nope"), timeout=10), 404, "not_found")


def test_unknown_path_404(vigil_server):
    srv = vigil_server()
    for path in ["/nope", "/api/v1/nope", "/api/v2/cameras", "/cameras/c1/nope"]:
        assert_json_error(requests.get(srv.url(path), timeout=10), 404, "not_found")


def test_wrong_method_405(vigil_server):
    srv = vigil_server()
    for method, path in [("PUT", "/api/v1/cameras"), ("POST", "/api/v1/cameras/c1"),
                         ("PUT", "/healthz"), ("POST", "/cameras/c1/snapshot.jpg"),
                         ("DELETE", "/api/v1/streams/c1")]:
        r = requests.request(method, srv.url(path), data=b"{}", timeout=10)
        assert_json_error(r, 405, "method_not_allowed")


def test_plain_get_on_ws_url_426(vigil_server):
    srv = vigil_server()
    assert_json_error(requests.get(srv.url(srv.ws_path("c1")), timeout=10), 426,
                      "upgrade_required")


def test_healthz_and_dashboard(vigil_server):
    srv = vigil_server()
    r = requests.get(srv.url("/healthz"), timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
    r = requests.get(srv.url("/"), timeout=10)
    assert r.status_code == 200, r.status_code
    assert r.headers.get("content-type", "").startswith("text/html"), r.headers
    assert b"<html" in r.content.lower()


def test_config_file(vigil_server):
    srv = vigil_server(config=(
        "cameras:\n"
        "  - id: yard\n"
        "    name: \"Back Yard\"\n"
        "    url: \"test://?width=640&height=360&fps=15\"\n"
        "  - id: door\n"
        "    name: \"Front Door\"\n"
        "    url: \"test://?width=320&height=240&fps=10\"\n"))
    cams = requests.get(srv.url("/api/v1/cameras"), timeout=10).json()["cameras"]
    # listed by id
    assert [(c["id"], c["name"]) for c in cams] == [("door", "Front Door"), ("yard", "Back Yard")]
    yard = cams[1]["live"]
    assert (yard["width"], yard["height"], yard["fps"]) == (640, 360, 15)


def test_head_answers_headers_only(vigil_server):
    """HEAD is GET without a body (RFC 9110 9.3.2), for pages, the API and stream URLs."""
    srv = vigil_server(cameras={"c1": "test://?width=320&height=240&fps=10"})
    for path in ("/", "/api/v1/cameras", "/cameras/c1/snapshot.jpg", "/cameras/c1/mjpeg"):
        get_len = None
        if not path.endswith("mjpeg"):
            get_len = len(requests.get(srv.url(path), timeout=10).content)
        t0 = time.monotonic()
        r = requests.head(srv.url(path), timeout=10)
        assert r.status_code == 200, (path, r.status_code)
        assert r.content == b"", path
        assert time.monotonic() - t0 < 5, "HEAD %s took too long" % path
        if get_len is not None and not path.endswith(".jpg"):
            assert int(r.headers["content-length"]) == get_len, path
    assert requests.head(srv.url("/api/v1/cameras/nope"), timeout=10).status_code == 404
