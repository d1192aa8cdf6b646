"""Issue 18, admission control: an instance serves at most --max-viewers WebSocket and MJPEG
viewers at once; one more is refused with the reason (WebSocket close 1013 Try Again Later;
MJPEG 503 with Retry-After and the reason in JSON), counted in /metrics, and admitted again
once a viewer leaves. RTSP readers are not counted (relays between instances, recorders)."""
import asyncio
import subprocess

import requests
import websockets

from conftest import CAM_SMALL, ws_connect


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
    assert "vigil_admission_displaced_total 1" in adm, adm  # the lingering one is no loss
    assert "vigil_sources_max 1" in adm, adm
    assert "vigil_sources_running 1" in adm, adm
