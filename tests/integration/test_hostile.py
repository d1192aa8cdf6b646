"""Hostile input: each case expects an error status or a close, then checks that the
server still answers /healthz and a fresh WebSocket viewer still gets frames."""
import json
import re
import socket
import time

import pytest
import requests

from conftest import (CAM_TINY, assert_serving, raw_connect, read_http_head, rst_close,
                      ws_frame, ws_handshake, ws_read_until_close)


@pytest.fixture
def srv(vigil_server):
    return vigil_server(cameras={"c1": CAM_TINY})


def send_ignoring_reset(sock, data):
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False
    except socket.timeout:
        return False


def expect_error_or_close(sock, timeout=5.0, allowed=range(400, 500)):
    """An HTTP error status in `allowed`, or the connection closed; not silence."""
    deadline = time.monotonic() + timeout
    buf = b""
    for _ in range(10000):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
        except socket.timeout:
            break
        if not chunk:
            if buf:
                break
            return "closed"
        buf += chunk
        if b"\r\n" in buf:
            break
    if buf.startswith(b"HTTP/1."):
        status = int(buf.split(b" ", 2)[1])
        assert status in allowed, "got status %d: %r" % (status, buf[:300])
        return status
    if buf:
        raise AssertionError("unexpected reply %r" % buf[:300])
    raise AssertionError("no reply and no close within %.1f s" % timeout)


def test_garbage_request_line(srv):
    for garbage in [b"\x00\xff\xfe GARBAGE \x01\r\n\r\n", b"HELLO\r\n\r\n",
                    b"GET\r\n\r\n", b"\r\n\r\n\r\n\r\n" * 10,
                    b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n"]:
        s = raw_connect(srv)
        try:
            send_ignoring_reset(s, garbage)
            expect_error_or_close(s, allowed=list(range(400, 500)) + [505])
        finally:
            s.close()
    assert_serving(srv)


def test_huge_header(srv):
    s = raw_connect(srv)
    try:
        req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        send_ignoring_reset(s, req)
        expect_error_or_close(s, allowed=[400, 413, 431])
    finally:
        s.close()
    # many headers
    s = raw_connect(srv)
    try:
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(20000)) + b"\r\n"
        send_ignoring_reset(s, req)
        expect_error_or_close(s, allowed=[400, 413, 431])
    finally:
        s.close()
    assert_serving(srv)


@pytest.mark.parametrize("headers", [
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",  # no key
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 99\r\n",  # wrong version (RFC 6455: 426 + Sec-WebSocket-Version)
], ids=["missing-key", "wrong-version"])
def test_bad_ws_handshake(srv, headers):
    s = raw_connect(srv)
    try:
        s.sendall(b"GET " + srv.ws_path("c1").encode() + b" HTTP/1.1\r\nHost: x\r\n" + headers
                  + b"\r\n")
        r = expect_error_or_close(s, allowed=[400, 426])
        assert r != 101
    finally:
        s.close()
    assert_serving(srv)


@pytest.mark.xfail(strict=True, reason=(
    "libwebsockets 4.1 (Debian 12) accepts unmasked client frames and exposes no mask bit to "
    "the protocol callback, so vigil cannot refuse them yet (RFC 6455 5.1); see issue note"))
def test_unmasked_client_frame(srv):
    s = raw_connect(srv)
    try:
        rest = ws_handshake(s, srv, srv.ws_path("c1"))
        s.sendall(ws_frame(0x1, b'{"type":"subscribe","tier":"native"}', mask=False))
        kind, code = ws_read_until_close(s, rest)
        assert kind != "close" or code in (1002, None), (kind, code)
    finally:
        s.close()
    assert_serving(srv)


@pytest.mark.parametrize("case", ["1MiB-text", "claims-2^62", "1MiB-fragmented"])
def test_oversized_client_frame(srv, case):
    s = raw_connect(srv)
    try:
        rest = ws_handshake(s, srv, srv.ws_path("c1"))
        if case == "1MiB-text":
            send_ignoring_reset(s, ws_frame(0x1, b"a" * (1 << 20)))
        elif case == "claims-2^62":
            send_ignoring_reset(s, ws_frame(0x1, b"a" * 1000, fake_len=1 << 62))
        else:
            send_ignoring_reset(s, ws_frame(0x1, b"a" * 4096, fin=False))
            for _ in range(255):
                if not send_ignoring_reset(s, ws_frame(0x0, b"a" * 4096, fin=False)):
                    break
        kind, code = ws_read_until_close(s, rest, timeout=8)
        assert kind != "close" or code in (1009, 1002, 1003, 1008), (kind, code)
    finally:
        s.close()
    assert_serving(srv)


def test_abrupt_resets(srv):
    """SO_LINGER 0 closes mid-stream, many times, on WebSocket and MJPEG and mid-request."""
    for i in range(60):
        s = raw_connect(srv, rcvbuf=8192)
        try:
            kind = i % 3
            if kind == 0:
                ws_handshake(s, srv, srv.ws_path("c1", "native"))
                if i % 2:
                    s.recv(1000)  # mid-frame
            elif kind == 1:
                s.sendall(b"GET " + srv.mjpeg_path("c1").encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                if i % 2:
                    read_http_head(s)
                    s.recv(3000)
            else:
                ws_handshake(s, srv, srv.ws_path("c1"))
                # half a client frame, then reset
                s.sendall(ws_frame(0x1, b'{"type":"subscribe","tier":"native"}')[:10])
        finally:
            rst_close(s)
        if i % 20 == 19:
            assert srv.alive(), srv.log_tail()
    assert_serving(srv)


def test_half_sent_requests(srv):
    """Requests cut off then closed; and some left hanging while others are served."""
    for i in range(30):
        s = raw_connect(srv)
        s.sendall([b"GET /healthz HTTP/1.1\r\nHost:", b"GE", b"GET " + srv.ws_path("c1").encode()
                   + b" HTTP/1.1\r\nUpgrade: websocket\r\n"][i % 3])
        s.close()
    hanging = []
    try:
        for i in range(5):
            s = raw_connect(srv)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            hanging.append(s)
        assert_serving(srv)
    finally:
        for s in hanging:
            s.close()
    assert_serving(srv)


def test_answers_before_the_body_leave_the_connection_usable(vigil_server):
    """A request answered before its body is read (no route, wrong method, WebSocket-only,
    a route that takes no body) has its body read and dropped first: the body is never
    parsed as the next request, and the next request on the socket is answered."""
    srv = vigil_server()
    body = json.dumps({"name": "x" * 3000}).encode()
    cases = [("POST", "/api/v1/nope", 404), ("PUT", "/api/v1/cameras", 405),
             ("POST", srv.ws_path("c1"), 405), ("POST", "/api/v1/logout", 413),
             ("PATCH", "/api/v1/cameras/nope", 404)]
    for method, path, want in cases:
        s = raw_connect(srv)
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n" % (method, path, len(body))).encode())
        time.sleep(0.05)
        s.sendall(body[:1000])
        time.sleep(0.05)
        s.sendall(body[1000:] + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data, deadline = b"", time.monotonic() + 5
        while len(re.findall(rb"HTTP/1\.1 (\d{3})", data)) < 2 and time.monotonic() < deadline:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        s.close()
        got = [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3})", data)]
        assert got == [want, 200], (method, path, got, data[:300])
    assert requests.get(srv.url("/healthz"), timeout=5).status_code == 200


def test_upgrade_to_no_endpoint_is_an_http_404(vigil_server):
    """An upgrade that names no WebSocket endpoint is refused with a status before it is
    accepted, not switched and then closed."""
    srv = vigil_server()
    for path in ("/nope", "/api/v1/cameras", "/cameras/c1/mjpeg"):
        s = raw_connect(srv)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "\r\n" % path).encode())
        status, _, _ = read_http_head(s)
        s.close()
        assert status == 404, (path, status)
    assert_serving(srv)


def test_rtsp_slow_and_flooding_clients_are_cut_off(srv):
    """RTSP: a request left half-sent is closed after 10 s; one that never ends its head is
    refused at 8 KiB; meanwhile a well-behaved DESCRIBE is answered."""
    port = srv.rtsp_port
    slow = socket.create_connection(("127.0.0.1", port), timeout=15)
    slow.sendall(b"DESCRIBE rtsp://127.0.0.1/cameras/c1 RTSP/1.0\r\nCSeq: 1\r\nX-Slow: ")
    flood = socket.create_connection(("127.0.0.1", port), timeout=15)
    flood.sendall(b"OPTIONS * RTSP/1.0\r\n" + b"X-A: " + b"a" * 9000)
    assert flood.recv(100).startswith(b"RTSP/1.0 431"), "a head over 8 KiB is refused"
    flood.close()
    good = socket.create_connection(("127.0.0.1", port), timeout=15)
    good.sendall(("DESCRIBE %s RTSP/1.0\r\nCSeq: 2\r\n\r\n" % srv.rtsp_url("c1")).encode())
    reply = good.recv(4096)
    assert reply.startswith(b"RTSP/1.0 200") and b"m=video" in reply, reply[:300]
    good.close()
    t0 = time.monotonic()
    slow.settimeout(15)
    try:
        got = slow.recv(100)
    except ConnectionResetError:
        got = b""
    took = time.monotonic() - t0
    assert got == b"", "the half-sent request got %r instead of a close" % got
    assert took < 13, "closed only after %.1f s" % took
    slow.close()
    assert_serving(srv)
