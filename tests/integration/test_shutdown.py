"""Shutdown: SIGTERM with viewers connected closes every WebSocket with a close frame, ends
MJPEG streams, and exits 0 within 10 s."""
import asyncio
import json
import signal
import time

import websockets

from conftest import CAM_SMALL, raw_connect, read_http_head, recv_hello, ws_connect


async def ws_until_closed(url, started, timeout):
    """Reads until the connection closes; returns (frames, close code or None, how)."""
    frames = 0
    async with ws_connect(url, close_timeout=3) as ws:
        await recv_hello(ws)
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                return frames, None, "still open"
            try:
                m = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                return frames, None, "still open"
            except websockets.ConnectionClosed as e:
                rcvd = getattr(e, "rcvd", None)
                return frames, (rcvd.code if rcvd else None), type(e).__name__
            if isinstance(m, bytes):
                frames += 1
                if frames == 3:
                    started.release()
    return frames, None, "loop bound"


def test_sigterm_closes_viewers_and_exits_0(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL, "c2": "test://?width=320&height=240&fps=15"})
    mjpeg = raw_connect(srv, timeout=15)
    mjpeg.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % srv.mjpeg_path("c1")).encode())
    status, _, _ = read_http_head(mjpeg)
    assert status == 200

    async def go():
        started = asyncio.Semaphore(0)
        urls = [srv.ws_url("c1", "low"), srv.ws_url("c1", "native"), srv.ws_url("c1"),
                srv.ws_url("c2")]
        tasks = [asyncio.create_task(ws_until_closed(u, started, 20)) for u in urls]
        for _ in urls:
            await asyncio.wait_for(started.acquire(), 10)
        t0 = time.monotonic()
        loop = asyncio.get_running_loop()
        stop = loop.run_in_executor(None, srv.stop)
        results = await asyncio.gather(*tasks)
        code, took = await stop
        return results, code, took, time.monotonic() - t0

    results, code, took, _ = asyncio.run(go())
    assert code == 0, "exit status %r after %.1f s\n%s" % (code, took, srv.log_tail())
    assert took < 10
    errors = []
    for i, (frames, close_code, how) in enumerate(results):
        if frames < 3:
            errors.append("viewer %d: only %d frames before shutdown" % (i, frames))
        if close_code not in (1000, 1001):
            errors.append("viewer %d: no close frame with 1000/1001 (%s, code %r)"
                          % (i, how, close_code))
    assert not errors, "\n".join(errors) + "\n" + srv.log_tail()
    # the MJPEG stream ends (EOF or reset), bounded
    mjpeg.settimeout(5)
    ended = False
    for _ in range(10000):
        try:
            if not mjpeg.recv(1 << 20):
                ended = True
                break
        except ConnectionResetError:
            ended = True
            break
    mjpeg.close()
    assert ended, "MJPEG stream still open after the server exited"


def test_sigterm_idle_exits_fast(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    code, took = srv.stop()
    assert code == 0 and took < 3, (code, took, srv.log_tail())


def test_sigint_exits_0(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    r = srv.get("/api/v1/cameras")
    assert r.status_code == 200 and json.loads(r.text)["cameras"]
    code, took = srv.stop(sig=signal.SIGINT)
    assert code == 0, (code, took, srv.log_tail())
