"""Issue 18, admission control. An instance serves at most --max-viewers WebSocket and MJPEG
viewers at once, runs at most --max-sources cameras (where priority decides who keeps a
place), and lets one user or tenant watch at most so many streams and cameras. A refusal
carries the reason (WebSocket close 1013 Try Again Later; MJPEG, HLS, RTSP 503 with
Retry-After) and is counted in /metrics. RTSP readers are not viewers under the viewer caps
(relays between instances, recorders), but do need a place for their camera."""
import asyncio
import os
import subprocess
import time

import requests
import websockets

from conftest import CAM_SMALL, CAM_TINY, VIGIL_BIN, ws_connect


def test_viewers_past_the_cap_are_refused_with_the_reason(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL}, extra_args=["--max-viewers", "2"])

    async def scenario():
        first = await ws_connect(srv.ws_url("c1")).__aenter__()
        second = await ws_connect(srv.ws_url("c1")).__aenter__()
        for ws in (first, second):  # both admitted: frames flow
            while not isinstance(await asyncio.wait_for(ws.recv(), 10), bytes):
                pass
        third = await ws_connect(srv.ws_url("c1")).__aenter__()
        try:
            while True:
                await asyncio.wait_for(third.recv(), 10)
        except websockets.ConnectionClosed as e:
            closed = (e.code, e.reason)
        mjpeg = await asyncio.to_thread(
            requests.get, srv.url("/cameras/c1/mjpeg"), timeout=10, stream=True)
        refused = (mjpeg.status_code, mjpeg.headers.get("retry-after"), mjpeg.json())
        # An RTSP reader is not a capped viewer.
        probe = await asyncio.to_thread(
            subprocess.run, ["ffprobe", "-v", "error", "-rtsp_transport", "tcp",
                             "rtsp://127.0.0.1:%d/cameras/c1" % srv.rtsp_port],
            capture_output=True, text=True, timeout=30)
        await second.close()
        await asyncio.sleep(0.3)
        again = await asyncio.to_thread(
            requests.get, srv.url("/cameras/c1/mjpeg"), timeout=10, stream=True)
        again_status = again.status_code
        again.close()
        await first.close()
        return closed, refused, probe.returncode, again_status

    closed, refused, probe_rc, again_status = asyncio.run(scenario())
    assert closed[0] == 1013 and "maximum of 2 viewers (max_viewers)" in closed[1], closed
    status, retry_after, body = refused
    assert status == 503 and retry_after, refused
    assert "maximum of 2 viewers" in body["error"]["message"], body
    assert probe_rc == 0
    assert again_status == 200  # a place came free
    metrics = srv.get("/metrics").text
    assert 'vigil_admission_refused_total{reason="max_viewers"} 2' in metrics, \
        [l for l in metrics.splitlines() if "admission" in l]
    # A cap that is not a number stops the server at start with the reason.
    p = subprocess.run([srv.args[0], "serve", "--max-viewers", "lots", "--db", ":memory:"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--max-viewers 'lots'" in p.stdout + p.stderr, p



def test_past_the_outgoing_bitrate_cap_new_viewers_are_refused(vigil_server):
    """--max-out-kbps 100: once the first viewer's measured second has been sent (a 640x360
    JPEG stream is far over 100 kbit/s), the next is refused with the reason; the gauge
    shows the rate."""
    srv = vigil_server(cameras={"c1": CAM_SMALL}, extra_args=["--max-out-kbps", "100"])
    first = requests.get(srv.url("/cameras/c1/mjpeg"), timeout=10, stream=True)
    try:
        assert first.status_code == 200
        deadline = time.monotonic() + 10
        rate = 0.0
        while time.monotonic() < deadline and rate < 100:
            first.raw.read(65536)  # keep it flowing
            rate = float([l for l in srv.get("/metrics").text.splitlines()
                          if l.startswith("vigil_viewers_out_kbps ")][0].split()[1])
        second = requests.get(srv.url("/cameras/c1/mjpeg"), timeout=10, stream=True)
        refused = (second.status_code, second.headers.get("retry-after"), second.json())
    finally:
        first.close()
    assert rate >= 100, rate
    status, retry_after, body = refused
    assert status == 503 and retry_after, refused
    assert "maximum of 100 kbit/s (max_out_kbps)" in body["error"]["message"], body
    assert 'vigil_admission_refused_total{reason="max_out_kbps"} 1' in srv.get("/metrics").text


async def _frames(ws, n=1):
    """Waits for n binary frames (pictures) on ws."""
    got = 0
    while got < n:
        if isinstance(await asyncio.wait_for(ws.recv(), 10), bytes):
            got += 1


async def _closed(ws):
    """Reads ws until it closes; returns (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as e:
        return e.code, e.reason


def test_a_higher_priority_camera_displaces_the_lowest_at_the_source_cap(vigil_server):
    """max_sources 1: a second camera of equal priority is refused (WebSocket 1013, MJPEG,
    HLS and RTSP 503 with Retry-After, the reason); one of higher priority takes the place and
    the displaced viewers are told why; a camera that lingers with no viewer gives its
    place to any newcomer."""
    srv = vigil_server(config="""
max_sources: 1
idle_timeout_s: 30
cameras:
  - {id: lobby, url: "%s", priority: 0}
  - {id: yard, url: "%s", priority: 0}
  - {id: entrance, url: "%s", priority: 10}
""" % (CAM_SMALL, CAM_SMALL, CAM_SMALL))

    async def scenario():
        lobby = await ws_connect(srv.ws_url("lobby")).__aenter__()
        await _frames(lobby)
        # equal priority: refused, lobby untouched
        yard = await ws_connect(srv.ws_url("yard")).__aenter__()
        yard_closed = await _closed(yard)
        mjpeg = await asyncio.to_thread(
            requests.get, srv.url("/cameras/yard/mjpeg"), timeout=10, stream=True)
        mjpeg_refused = (mjpeg.status_code, mjpeg.headers.get("retry-after"), mjpeg.json())
        hls = await asyncio.to_thread(
            requests.get, srv.url("/cameras/yard/hls/index.m3u8"), timeout=10)
        hls_refused = (hls.status_code, hls.headers.get("retry-after"))
        rtsp = await asyncio.to_thread(
            subprocess.run, ["ffprobe", "-v", "error", "-rtsp_transport", "tcp",
                             "rtsp://127.0.0.1:%d/cameras/yard" % srv.rtsp_port],
            capture_output=True, text=True, timeout=30)
        rtsp_refused = (rtsp.returncode, rtsp.stderr)
        await _frames(lobby, 2)
        # higher priority: takes lobby's place; lobby's viewer is told why
        entrance = await ws_connect(srv.ws_url("entrance")).__aenter__()
        lobby_closed = await _closed(lobby)
        await _frames(entrance, 2)
        states = {c: srv.get("/api/v1/streams/" + c).json()["state"]
                  for c in ("lobby", "entrance")}
        # entrance's viewer leaves; with its source lingering (idle_timeout_s 30), a viewer
        # of a lower-priority camera is admitted in its place at once
        await entrance.close()
        await asyncio.sleep(0.3)
        yard2 = await ws_connect(srv.ws_url("yard")).__aenter__()
        await _frames(yard2)
        after = {c: srv.get("/api/v1/streams/" + c).json()["state"]
                 for c in ("entrance", "yard")}
        await yard2.close()
        return yard_closed, mjpeg_refused, hls_refused, rtsp_refused, lobby_closed, states, after

    yard_closed, mjpeg_refused, hls_refused, rtsp_refused, lobby_closed, states, after = \
        asyncio.run(scenario())
    assert yard_closed[0] == 1013 and "maximum of 1 cameras" in yard_closed[1], yard_closed
    status, retry_after, body = mjpeg_refused
    assert status == 503 and retry_after, mjpeg_refused
    assert "maximum of 1 cameras (max_sources)" in body["error"]["message"], body
    assert hls_refused[0] == 503 and hls_refused[1], hls_refused
    assert rtsp_refused[0] != 0 and "503" in rtsp_refused[1], rtsp_refused
    assert lobby_closed[0] == 1013, lobby_closed
    assert "displaced" in lobby_closed[1] and "'entrance'" in lobby_closed[1], lobby_closed
    assert states == {"lobby": "idle", "entrance": "live"}, states
    assert after["entrance"] == "idle" and after["yard"] == "live", after
    metrics = srv.get("/metrics").text
    adm = [l for l in metrics.splitlines() if l.startswith(("vigil_admission", "vigil_sources"))]
    assert 'vigil_admission_refused_total{reason="max_sources"} 4' in adm, adm
    # the lingering one is no loss
    assert 'vigil_admission_displaced_total{reason="max_sources"} 1' in adm, adm
    assert "vigil_sources_max 1" in adm, adm
    assert "vigil_sources_running 1" in adm, adm



def test_a_higher_priority_camera_takes_the_decoder_at_the_decoding_cap(vigil_server):
    """max_decoding 1: a JPEG viewer of a second camera of equal priority is refused while a
    `source` viewer of it is not (it needs no decoding); a camera of higher priority takes the
    decoder: the JPEG viewers of the one decoded are closed with the reason, its `source`
    viewers keep their video."""
    srv = vigil_server(config="""
max_decoding: 1
cameras:
  - {id: lobby, url: "%s", priority: 0}
  - {id: yard, url: "%s", priority: 0}
  - {id: entrance, url: "%s", priority: 10}
""" % (CAM_SMALL, CAM_SMALL, CAM_SMALL))

    def url(cam, tier):
        return srv.ws_url(cam, tier) + ("&codecs=avc1" if tier == "source" else "")

    async def scenario():
        lobby_jpeg = await ws_connect(url("lobby", "low")).__aenter__()
        lobby_src = await ws_connect(url("lobby", "source")).__aenter__()
        await _frames(lobby_jpeg)
        await _frames(lobby_src)
        yard_jpeg = await ws_connect(url("yard", "low")).__aenter__()
        yard_refused = await _closed(yard_jpeg)
        yard_src = await ws_connect(url("yard", "source")).__aenter__()
        await _frames(yard_src, 2)
        entrance = await ws_connect(url("entrance", "low")).__aenter__()
        lobby_displaced = await _closed(lobby_jpeg)
        await _frames(entrance, 2)
        await _frames(lobby_src, 5)  # the source viewer of the displaced camera goes on
        for ws in (lobby_src, yard_src, entrance):
            await ws.close()
        return yard_refused, lobby_displaced

    yard_refused, lobby_displaced = asyncio.run(scenario())
    assert yard_refused[0] == 1013, yard_refused
    assert "decodes its maximum of 1 cameras (max_decoding)" in yard_refused[1], yard_refused
    assert lobby_displaced[0] == 1013, lobby_displaced
    assert "displaced" in lobby_displaced[1] and "decoder" in lobby_displaced[1], lobby_displaced
    metrics = srv.get("/metrics").text
    adm = [l for l in metrics.splitlines() if "decoding" in l and not l.startswith("#")]
    assert 'vigil_admission_refused_total{reason="max_decoding"} 1' in adm, adm
    assert 'vigil_admission_displaced_total{reason="max_decoding"} 1' in adm, adm
    assert "vigil_decoding_max 1" in adm, adm


def _cli(db, *args, stdin=None):
    p = subprocess.run([VIGIL_BIN] + list(args), input=stdin, capture_output=True, text=True,
                       env=dict(os.environ, VIGIL_DB=db), timeout=30)
    assert p.returncode == 0, (args, p.stdout, p.stderr)


def _login(srv, user):
    s = requests.Session()
    r = s.post(srv.url("/api/v1/login"), json={"user": user, "password": "pw-" + user * 4},
               timeout=10)
    assert r.status_code == 200, (user, r.status_code, r.text)
    return s


def test_caps_per_user_and_per_tenant_refuse_with_the_reason(vigil_server, tmp_path):
    """A user may watch 2 streams of 1 camera, a tenant 3 streams: past them MJPEG gets 503
    with Retry-After and which cap; another tenant is not affected; the viewer list names
    the user and tenant; /metrics counts each reason."""
    db = str(tmp_path / "caps.db")
    for t in ("acme", "globex"):
        _cli(db, "tenant", "add", "id=" + t)
    for cam, tenant in (("a1", "acme"), ("a2", "acme"), ("g1", "globex")):
        _cli(db, "camera", "add", "id=" + cam, "url=" + CAM_TINY)
        _cli(db, "tenant", "grant", tenant, "camera=" + cam)
    _cli(db, "user", "add", "id=root", "role=admin", "--password-stdin", stdin="pw-" + "root" * 4)
    for user, tenant in (("ann", "acme"), ("bob", "acme"), ("gus", "globex")):
        _cli(db, "user", "add", "id=" + user, "role=viewer", "tenant_id=" + tenant,
             "--password-stdin", stdin="pw-" + user * 4)
    srv = vigil_server(cameras={}, auth=True, extra_args=[
        "--db", db, "--max-viewers-per-user", "2", "--max-cameras-per-user", "1",
        "--max-viewers-per-tenant", "3"])
    ann, bob, gus, root = (_login(srv, u) for u in ("ann", "bob", "gus", "root"))
    held = []

    def watch(who, cam):
        r = who.get(srv.url("/cameras/%s/mjpeg" % cam), timeout=10, stream=True)
        if r.status_code == 200:
            held.append(r)
            return 200, None, None
        return r.status_code, r.headers.get("retry-after"), r.json()["error"]["message"]

    try:
        assert watch(ann, "a1")[0] == 200
        assert watch(ann, "a1")[0] == 200
        user_full = watch(ann, "a1")
        held.pop(0).close()
        time.sleep(0.3)  # the server sees the close
        other_camera = watch(ann, "a2")
        assert watch(bob, "a1")[0] == 200
        assert watch(bob, "a1")[0] == 200
        tenant_full = watch(ann, "a1")
        other_tenant = watch(gus, "g1")
        viewers = root.get(srv.url("/api/v1/viewers"), timeout=10).json()["viewers"]
        metrics = root.get(srv.url("/metrics"), timeout=10).text
    finally:
        for r in held:
            r.close()
    assert user_full[:2] == (503, "5"), user_full
    assert "you watch your maximum of 2 streams" in user_full[2], user_full
    assert "(max_viewers_per_user)" in user_full[2], user_full
    assert other_camera[0] == 503, other_camera
    assert "you watch your maximum of 1 cameras" in other_camera[2], other_camera
    assert tenant_full[0] == 503, tenant_full
    assert "your tenant watches its maximum of 3 streams" in tenant_full[2], tenant_full
    assert other_tenant[0] == 200, other_tenant
    who = sorted((v["user"], v["tenant"], v["camera"]) for v in viewers)
    assert who == [("ann", "acme", "a1"), ("bob", "acme", "a1"), ("bob", "acme", "a1"),
                   ("gus", "globex", "g1")], who
    refused = {l.split('"')[1]: l.rsplit(" ", 1)[1] for l in metrics.splitlines()
               if l.startswith("vigil_admission_refused_total{")}
    assert refused["max_viewers_per_user"] == "1", refused
    assert refused["max_cameras_per_user"] == "1", refused
    assert refused["max_viewers_per_tenant"] == "1", refused
    assert refused["max_cameras_per_tenant"] == "0", refused
