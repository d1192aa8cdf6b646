"""A connection's vg_conn_t is freed when its request is done or its socket closes.

Every HTTP/1.1 keep-alive connection used to leave its vg_conn_t (with its request body: a
sign-in password) on the server's list until shutdown, about 1.2 KB each: libwebsockets 4.1
frees and reallocates a connection's per-session data when a kept-alive request completes
(lws_http_transaction_completed re-binds the protocol, LWS_CALLBACK_HTTP_DROP_PROTOCOL), and
the pointer to the vg_conn_t lived there. With "Connection: close" nothing leaked.

The count is the vigil_http_connections gauge at /metrics (the server runs with --no-auth,
so the scrape needs no sign-in): requests being answered and open streams and WebSockets,
the scrape itself included. Kept-alive sockets between requests hold no vg_conn_t.
"""
import asyncio
import socket
import time

import pytest

import promparse
from conftest import CAM_TINY, raw_connect, read_http_head, ws_connect

SCRAPE = 1  # the /metrics request that reads the gauge is a connection too
SETTLE_S = 2.0


def http_connections(srv):
    """The gauge, read over a connection of its own (closed when read)."""
    with raw_connect(srv) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, body = read_http_head(s)
        assert status == 200, (status, body[:300])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    fams = promparse.parse(body.decode())
    return promparse.value(fams, "vigil_http_connections")


def settled_connections(srv, at_most):
    """Polls the gauge (at most SETTLE_S) until it is <= at_most; returns the last value."""
    deadline = time.monotonic() + SETTLE_S
    n = http_connections(srv)
    while n > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
        n = http_connections(srv)
    return n


def read_response(s, is_head=False):
    """One whole response (its head only for a HEAD); returns its status."""
    status, headers, rest = read_http_head(s)
    want = 0 if is_head else int(headers.get("content-length", "0"))
    deadline = time.monotonic() + 5
    while len(rest) < want and time.monotonic() < deadline:
        chunk = s.recv(65536)
        assert chunk, "EOF in the body"
        rest += chunk
    return status


BODY = b'{"username":"a","password":"not-kept-after-the-answer"}'

# (name, request bytes, connections, requests per connection, expected status). Each
# request is a keep-alive one: no Connection header on HTTP/1.1. Fewer connections with two
# requests: a later request on a kept-alive socket takes about 40 ms (Nagle's algorithm
# against delayed ACKs: the headers and the body are two writes).
KEEPALIVE_CASES = [
    ("healthz", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 300, 1, 200),
    ("two requests on one socket", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 30, 2, 200),
    ("HEAD (headers only)", b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 300, 1, 200),
    ("404 answered early", b"GET /api/v1/nope HTTP/1.1\r\nHost: x\r\n\r\n", 300, 1, 404),
    ("404 after its body is read",
     b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY), 300, 1, 404),
    ("async (a store job)", b"GET /api/v1/cameras HTTP/1.1\r\nHost: x\r\n\r\n", 300, 1, 200),
]


@pytest.mark.parametrize("name,request_bytes,conns,per_conn,status", KEEPALIVE_CASES,
                         ids=[c[0] for c in KEEPALIVE_CASES])
def test_keepalive_connections_are_freed(vigil_server, name, request_bytes, conns, per_conn,
                                         status):
    srv = vigil_server(cameras={"c1": CAM_TINY})
    before = http_connections(srv)
    assert before == SCRAPE, "the start-up probe's connection is still held: %d" % before
    t0 = time.monotonic()
    for _ in range(conns):
        with raw_connect(srv) as s:
            for _ in range(per_conn):
                s.sendall(request_bytes)
                assert read_response(s, request_bytes.startswith(b"HEAD ")) == status
        assert time.monotonic() - t0 < 20, "the clients took too long"
    n = settled_connections(srv, before)
    assert n <= before, "%d connections closed by their clients, the server still holds %d " \
                        "(%d before)" % (conns, n - SCRAPE, before - SCRAPE)


def test_open_keepalive_sockets_hold_no_connection(vigil_server):
    """A kept-alive socket waiting for its next request holds no vg_conn_t (nor its body)."""
    srv = vigil_server(cameras={"c1": CAM_TINY})
    before = http_connections(srv)
    socks = []
    try:
        for _ in range(50):
            s = raw_connect(srv)
            socks.append(s)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(s) == 200
        n = settled_connections(srv, before)
        assert n <= before, "50 idle kept-alive sockets hold %d connections" % (n - SCRAPE)
        # And the sockets still serve their next request.
        socks[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(socks[0]) == 200
    finally:
        for s in socks:
            s.close()
    assert settled_connections(srv, before) <= before


def test_streams_and_websockets_count_until_they_close(vigil_server):
    """Open viewers are counted while they watch and freed once, when they close."""
    srv = vigil_server(cameras={"c1": CAM_TINY})
    before = http_connections(srv)
    assert before == SCRAPE

    async def run():
        viewers = [await ws_connect(srv.ws_url("c1")).__aenter__() for _ in range(5)]
        mjpeg = []
        for _ in range(5):
            s = raw_connect(srv)
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % srv.mjpeg_path("c1")).encode())
            status, _, _ = read_http_head(s)
            assert status == 200
            mjpeg.append(s)
        during = http_connections(srv)
        for ws in viewers:
            await ws.close()
        for s in mjpeg:
            s.close()
        return during

    during = asyncio.run(run())
    assert during == SCRAPE + 10, during
    n = settled_connections(srv, before)
    assert n <= before, "10 viewers gone, the server still holds %d connections" % (n - SCRAPE)
    assert srv.alive()
