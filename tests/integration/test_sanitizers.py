"""A short session against the sanitizer builds: WS and MJPEG viewers, a snapshot, hostile
bits, SIGTERM; exit 0 and no ASan/LSan/UBSan report (build-asan) and no data race reported
by ThreadSanitizer (build-tsan: the source, worker and loop hand-offs)."""
import asyncio
import json
import os
import re
import socket
import subprocess
import time

import pytest
import requests

from conftest import (VIGIL_ASAN_BIN, count_frames_async, raw_connect, read_http_head,
                      rst_close, ws_connect, ws_handshake)

VIGIL_TSAN_BIN = os.environ.get("VIGIL_TSAN_BIN", os.path.join(
    os.path.dirname(VIGIL_ASAN_BIN), "..", "build-tsan", "vigil"))

SANITIZERS = {
    "asan": (VIGIL_ASAN_BIN, {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1"},
             ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:")),
    "tsan": (VIGIL_TSAN_BIN, {"TSAN_OPTIONS": "halt_on_error=0"},
             ("WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")),
}


@pytest.mark.parametrize("kind", sorted(SANITIZERS))
def test_sanitizer_session(vigil_server, kind):
    binary, env, markers = SANITIZERS[kind]
    if not os.path.exists(binary):
        pytest.skip("no %s build at %s" % (kind, binary))
    # "named" is checked by name while nobody watches it: the lookup's thread must be one
    # the sanitizers see (glibc's getaddrinfo_a thread crashed the TSan build).
    srv = vigil_server(cameras={"c1": "test://?width=320&height=240&fps=15",
                                "c2": "test://?width=640&height=360&fps=15",
                                "named": "rtsp://camera.invalid:554/x"},
                       extra_args=["--health-interval", "1"], binary=binary, env=env)

    mj = []
    for cam in ("c1", "c2"):
        s = raw_connect(srv, timeout=15)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % srv.mjpeg_path(cam)).encode())
        status, _, _ = read_http_head(s, timeout=15)
        assert status == 200
        mj.append(s)

    async def adaptive_with_stats():
        # auto tier, stats pushed, a client report, pings answered: the 1 Hz paths
        async with ws_connect(srv.ws_url("c2", "auto"), ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "stats", "enable": True}))
            await ws.send(json.dumps({"type": "report", "fps": 10, "decode_ms": 1}))
            await ws.send(json.dumps({"type": "subscribe", "tier": "low"}))
            await ws.send(json.dumps({"type": "subscribe", "tier": "auto"}))
            stats = 0
            deadline = time.monotonic() + 20
            while stats < 3 and time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.recv(), 15)
                if isinstance(msg, str) and json.loads(msg)["type"] == "stats":
                    stats += 1
            return stats

    async def go():
        urls = [srv.ws_url("c1"), srv.ws_url("c2", "low"), srv.ws_url("c2", "native")]
        return await asyncio.gather(adaptive_with_stats(),
                                    *[count_frames_async(u, 10, 15) for u in urls])

    stats, *counts = asyncio.run(go())
    assert all(c >= 10 for c in counts), counts
    assert stats == 3
    for path in ("/metrics", "/api/v1/viewers", "/api/v1/streams/c2"):
        assert requests.get(srv.url(path), timeout=20).status_code == 200
    for s in mj:
        got = 0
        for _ in range(100):
            got += len(s.recv(1 << 16))
            if got > 20000:
                break
        assert got > 0
    mj[0].close()
    r = requests.get(srv.snapshot_url("c2"), timeout=20)
    assert r.status_code == 200
    assert requests.get(srv.snapshot_url("nope"), timeout=10).status_code == 404
    # LL-HLS: the held first playlist, a blocking reload, a part, a held request whose client
    # leaves, and a muxer still running at shutdown
    hls = "/cameras/c1/hls/"
    text = requests.get(srv.url(hls + "index.m3u8"), timeout=20).text
    m = re.search(r'PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.m4s\?v=(\d+)', text)
    assert m, text
    r = requests.get(srv.url(hls + "index.m3u8?_HLS_msn=%s&_HLS_part=%s" % m.group(1, 2)),
                     timeout=20)
    assert r.status_code == 200
    part = requests.get(srv.url(hls + "part%s.%s.m4s?v=%s" % m.group(1, 2, 3)), timeout=20)
    assert part.status_code == 200 and part.content[4:8] == b"moof"
    leaver = raw_connect(srv)
    leaver.sendall(("GET %sindex.m3u8?_HLS_msn=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                    % (hls, int(m.group(1)) + 1)).encode())
    time.sleep(0.2)
    rst_close(leaver)
    # RTSP: ffmpeg over TCP and UDP, garbage, and a raw reader left playing at shutdown
    for transport in ("tcp", "udp"):
        out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", transport,
                              "-i", srv.rtsp_url("c1"), "-t", "2", "-f", "null", "-"],
                             capture_output=True, timeout=60)
        assert out.returncode == 0, (transport, out.stderr[-500:])
    junk = socket.create_connection(("127.0.0.1", srv.rtsp_port), timeout=10)
    junk.sendall(b"\x16\x03\x01garbage\r\n\r\n")
    assert junk.recv(200).startswith(b"RTSP/1.0 400")
    junk.close()
    rtsp_reader = socket.create_connection(("127.0.0.1", srv.rtsp_port), timeout=10)
    url = srv.rtsp_url("c2")
    rtsp_reader.sendall(("SETUP %s/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: "
                         "RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n" % url).encode())
    head = rtsp_reader.recv(1000).decode()
    sid = re.search(r"Session: ([0-9a-f]+)", head).group(1)
    rtsp_reader.sendall(("PLAY %s RTSP/1.0\r\nCSeq: 2\r\nSession: %s\r\n\r\n"
                         % (url, sid)).encode())
    assert rtsp_reader.recv(1000).startswith(b"RTSP/1.0 200")
    # live reload under watch: a camera created, given another source (another ladder: its
    # viewers are moved), then deleted (its viewers closed) — the hub's remove/replace paths
    def api(method, path, body=None):
        r = requests.request(method, srv.url(path), json=body, timeout=20)
        assert r.status_code in (200, 201), (method, path, r.status_code, r.text)

    async def reload_under_watch():
        api("POST", "/api/v1/cameras", {"id": "c3", "url": "test://?width=320&height=240&fps=15"})
        async with ws_connect(srv.ws_url("c3", "native")) as ws:
            seen, closed = set(), None
            deadline = time.monotonic() + 30
            try:
                while time.monotonic() < deadline:
                    msg = await asyncio.wait_for(ws.recv(), 15)
                    if isinstance(msg, bytes):
                        seen.add(len(seen))
                        if len(seen) == 5:
                            api("PATCH", "/api/v1/cameras/c3",
                                {"url": "test://?width=640&height=360&fps=15"})
                        if len(seen) == 15:
                            api("DELETE", "/api/v1/cameras/c3")
            except Exception as e:  # the close
                closed = getattr(e, "code", repr(e))
            return len(seen), closed

    frames, closed = asyncio.run(reload_under_watch())
    assert frames >= 15 and closed == 4410, (frames, closed)
    health = srv.get("/api/v1/streams/named").json().get("health") or {}
    assert health.get("reachable") is False and "resolve" in (health.get("reason") or ""), \
        health
    # a stuck viewer and a reset viewer while shutting down
    stuck = raw_connect(srv, rcvbuf=4096)
    ws_handshake(stuck, srv, srv.ws_path("c2", "native"))
    s = raw_connect(srv)
    ws_handshake(s, srv, srv.ws_path("c1"))
    rst_close(s)
    time.sleep(1.0)
    code, took = srv.stop(timeout=15)
    srv.exit_checked = True
    stuck.close()
    mj[1].close()
    rtsp_reader.close()
    log = srv.log
    problems = []
    for marker in markers:
        if marker in log:
            problems.append("%r in the log" % marker)
    if code != 0:
        problems.append("exit status %r after %.1f s" % (code, took))
    assert not problems, "; ".join(problems) + "\n--- log ---\n" + log[-8000:]
