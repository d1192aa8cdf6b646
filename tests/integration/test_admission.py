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
    assert closed == (1013, "this instance serves its maximum of viewers"), closed
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
