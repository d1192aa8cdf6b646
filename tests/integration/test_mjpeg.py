"""MJPEG output: ffprobe/ffmpeg read it, and the raw multipart is exactly as documented,
with each part's closing boundary sent together with its JPEG."""
import json
import os
import re
import socket
import statistics
import subprocess
import time

import pytest
import requests

from conftest import CAM_SMALL, jpeg_size, raw_connect, read_http_head
from stamp import decode_stamp

BOUNDARY = b"--vigilframe\r\n"


def test_ffprobe_reads_mjpeg(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    cam = srv.camera("c1")
    tier = srv.tier("c1", cam["default_tier"])
    cmd = ["ffprobe", "-v", "error", "-show_streams", "-of", "json", srv.mjpeg_url("c1")]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("ffprobe did not finish within 30 s")
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    streams = json.loads(p.stdout)["streams"]
    video = [s for s in streams if s.get("codec_type") == "video"]
    assert len(video) == 1, streams
    v = video[0]
    assert v["codec_name"] == "mjpeg", v
    assert (v["width"], v["height"]) == (tier["width"], tier["height"]), v


def test_ffmpeg_grabs_10_frames(vigil_server, tmp_path):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    tier = srv.tier("c1", "low")
    out = tmp_path / "grab"
    out.mkdir()
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", srv.mjpeg_url("c1", "low"),
           "-frames:v", "10", "-c:v", "copy", "-f", "image2", str(out / "f%02d.jpg")]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("ffmpeg did not grab 10 frames within 30 s")
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    files = sorted(os.listdir(out))
    assert len(files) == 10, files
    stamps = []
    for name in files:
        data = (out / name).read_bytes()
        assert jpeg_size(data) == (tier["width"], tier["height"]), name
        stamps.append(decode_stamp(data))
    assert None not in stamps, "undecodable timestamp in grabbed frames: %r" % stamps
    assert all(b > a for a, b in zip(stamps, stamps[1:])), "timestamps not increasing: %r" % stamps


class TimedReader:
    """Byte reader over a piece source that remembers when each byte arrived."""

    def __init__(self, next_piece):
        self.next_piece = next_piece
        self.buf = bytearray()
        self.base = 0          # absolute offset of buf[0]
        self.marks = []        # (absolute end offset, arrival time) per piece

    def feed(self, data, t):
        if data:
            self.buf += data
            self.marks.append((self.base + len(self.buf), t))

    def _fill(self):
        data, t = self.next_piece()
        if not data:
            raise EOFError("EOF from server")
        self.feed(data, t)

    def _time_of(self, off):
        for end, t in self.marks:
            if off < end:
                return t
        raise AssertionError("no arrival time for offset %d" % off)

    def read_exact(self, n, max_fills=100000):
        for _ in range(max_fills):
            if len(self.buf) >= n:
                break
            self._fill()
        assert len(self.buf) >= n
        data = bytes(self.buf[:n])
        t = self._time_of(self.base + n - 1)
        del self.buf[:n]
        self.base += n
        self.marks = [m for m in self.marks if m[0] > self.base]
        return data, t

    def read_until(self, delim, limit=65536, max_fills=100000):
        for _ in range(max_fills):
            i = self.buf.find(delim)
            if i >= 0:
                return self.read_exact(i + len(delim))
            assert len(self.buf) < limit, "no %r within %d bytes: %r" % (delim, limit,
                                                                          bytes(self.buf[:200]))
            self._fill()
        raise AssertionError("read_until: loop bound hit")


def open_mjpeg(srv, path, timeout=10.0):
    """Raw GET; returns (status, headers, TimedReader over the de-chunked body)."""
    sock = raw_connect(srv, timeout=timeout)
    deadline = time.monotonic() + timeout
    sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: */*\r\n\r\n"
                  % (path, srv.port)).encode())
    status, headers, rest = read_http_head(sock, timeout)

    def sock_piece():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("MJPEG read over time budget")
        sock.settimeout(left)
        return sock.recv(1 << 20), time.monotonic()

    raw = TimedReader(sock_piece)
    raw.feed(rest, time.monotonic())
    if "chunked" not in headers.get("transfer-encoding", "").lower():
        return sock, status, headers, raw

    def chunk_piece():
        line, _ = raw.read_until(b"\r\n", limit=100)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            return b"", time.monotonic()
        data, t = raw.read_exact(size)
        crlf, _ = raw.read_exact(2)
        assert crlf == b"\r\n", "bad chunk trailer %r" % crlf
        return data, t

    return sock, status, headers, TimedReader(chunk_piece)


def test_multipart_format_and_boundary_follows_jpeg(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    tier = srv.tier("c1", "low")
    interval = 1.0 / tier["fps"]
    sock, status, headers, body = open_mjpeg(srv, srv.mjpeg_path("c1", "low"))
    try:
        assert status == 200, (status, headers)
        ctype = headers.get("content-type", "")
        assert re.fullmatch(r"multipart/x-mixed-replace;\s*boundary=\"?vigilframe\"?", ctype), ctype
        first, _ = body.read_exact(len(BOUNDARY))
        assert first == BOUNDARY, "body starts %r" % first
        parts = []
        for _ in range(20):
            head, t_head = body.read_until(b"\r\n\r\n", limit=4096)
            lines = head.decode("latin-1").split("\r\n")[:-2]
            h = {}
            for line in lines:
                k, v = line.split(":", 1)
                h[k.strip().lower()] = v.strip()
            n = int(h["content-length"])
            jpeg, t_jpeg = body.read_exact(n)
            closing, t_close = body.read_exact(len(b"\r\n") + len(BOUNDARY))
            parts.append((h, jpeg, t_jpeg, closing, t_close))
    finally:
        sock.close()

    errors = []
    gaps = []
    prev_seq = None
    for i, (h, jpeg, t_jpeg, closing, t_close) in enumerate(parts):
        where = "part %d" % i
        if h.get("content-type") != "image/jpeg":
            errors.append("%s: Content-Type %r" % (where, h.get("content-type")))
        for k in ("x-vigil-seq", "x-vigil-capture-us", "x-vigil-ingest-us"):
            if not re.fullmatch(r"\d+", h.get(k, "")):
                errors.append("%s: header %s = %r" % (where, k, h.get(k)))
        if errors:
            continue
        if jpeg[:2] != b"\xff\xd8" or jpeg[-2:] != b"\xff\xd9":
            errors.append("%s: Content-Length %d does not frame a JPEG (starts %r ends %r)"
                          % (where, len(jpeg), jpeg[:2], jpeg[-2:]))
        if closing != b"\r\n" + BOUNDARY:
            errors.append("%s: after the JPEG %r, want \\r\\n--vigilframe\\r\\n" % (where, closing))
            break
        try:
            size = jpeg_size(jpeg)
            if size != (tier["width"], tier["height"]):
                errors.append("%s: JPEG %r, tier %dx%d" % (where, size, tier["width"], tier["height"]))
        except Exception as e:  # noqa: BLE001
            errors.append("%s: bad JPEG: %r" % (where, e))
        seq = int(h["x-vigil-seq"])
        if prev_seq is not None and seq <= prev_seq:
            errors.append("%s: seq %d after %d" % (where, seq, prev_seq))
        prev_seq = seq
        cap = int(h["x-vigil-capture-us"])
        ing = int(h["x-vigil-ingest-us"])
        if not cap <= ing:
            errors.append("%s: capture_us %d > ingest_us %d" % (where, cap, ing))
        stamp = decode_stamp(jpeg)
        if stamp is None or abs(stamp - cap) > 1e6 * interval:
            errors.append("%s: picture timestamp %r vs X-Vigil-Capture-Us %d" % (where, stamp, cap))
        if i > 0:  # the first part may have been buffered before we read
            gaps.append(t_close - t_jpeg)
    assert not errors, "\n".join(errors)
    assert len(gaps) >= 10
    med = statistics.median(gaps)
    worst = max(gaps)
    # The boundary must come with the JPEG, not with the next frame (one interval later).
    assert med < 0.005 and worst < min(0.030, interval / 2), (
        "closing boundary arrives %.1f ms (median) / %.1f ms (worst) after the JPEG's last "
        "byte; frame interval %.0f ms. Gaps (ms): %r"
        % (med * 1e3, worst * 1e3, interval * 1e3, [round(g * 1e3, 1) for g in gaps]))


def test_mjpeg_unknown_tier_400_and_unknown_camera_404(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    r = requests.get(srv.mjpeg_url("c1", "bogus"), timeout=10, stream=True)
    try:
        assert r.status_code == 400, r.status_code
        assert r.json()["error"]["code"] == "bad_request"
    finally:
        r.close()
    r = requests.get(srv.mjpeg_url("nope"), timeout=10, stream=True)
    try:
        assert r.status_code == 404, r.status_code
        assert r.json()["error"]["code"] == "not_found"
    finally:
        r.close()


def test_mjpeg_several_viewers_and_disconnects(vigil_server):
    """Several MJPEG viewers at once; some leave early; the others keep getting parts."""
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    conns = [open_mjpeg(srv, srv.mjpeg_path("c1", "low")) for _ in range(4)]
    try:
        for sock, status, headers, body in conns:
            assert status == 200
            body.read_exact(len(BOUNDARY))
        conns[0][0].close()
        conns[1][0].shutdown(socket.SHUT_RDWR)
        conns[1][0].close()
        for sock, status, headers, body in conns[2:]:
            for _ in range(5):
                head, _ = body.read_until(b"\r\n\r\n", limit=4096)
                n = int(re.search(rb"Content-Length:\s*(\d+)", head, re.I).group(1))
                jpeg, _ = body.read_exact(n + 2 + len(BOUNDARY))
                assert jpeg.endswith(b"\r\n" + BOUNDARY)
    finally:
        for c in conns:
            c[0].close()
