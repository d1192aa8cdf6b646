"""Issue 16: the RTSP server (src/outputs/rtsp.c). Real clients read simulator cameras
through vigil over RTSP: ffprobe/ffmpeg and GStreamer's rtspsrc over TCP and UDP, fifty
readers on one camera session, a throttled reader that skips to keyframes beside one that
keeps the camera's rate, access with keys, stream tokens and revocation, protocol errors,
and a camera that dies and comes back.

The servers and the 720p30 camera start once for the module; most readers are raw sockets
speaking RTSP (RFC 2326) and reading RTP (RFC 3550) interleaved (§10.12) or over UDP."""
import base64
import json
import os
import re
import selectors
import socket
import struct
import subprocess
import time

import pytest
import requests

import rtsp_sim
from conftest import _Factory
from hardening_lib import add_user, cli, finish, login, stream_token

FPS = 30
RTCP_BYE = 203


# --------------------------------------------------------------------------------------
# A raw RTSP client
# --------------------------------------------------------------------------------------

class RtspError(AssertionError):
    pass


def nal_starts_keyframe(payload):
    """Whether an H.264 RTP payload (RFC 6184) starts an access unit with SPS, PPS or IDR."""
    if not payload:
        return False
    t = payload[0] & 0x1F
    if t == 24 and len(payload) > 3:      # STAP-A: the first aggregated NAL unit
        t = payload[3] & 0x1F
    elif t == 28 and len(payload) > 1:    # FU-A: its start fragment
        if not payload[1] & 0x80:
            return False
        t = payload[1] & 0x1F
    return t in (5, 7, 8)


def rtp_fields(pkt):
    """(seq, marker, payload) of an RTP packet; AssertionError unless it is RTP version 2."""
    assert len(pkt) >= 12 and pkt[0] >> 6 == 2, "not RTP: %r" % pkt[:16]
    cc = pkt[0] & 0x0F
    return struct.unpack(">H", pkt[2:4])[0], bool(pkt[1] & 0x80), pkt[12 + 4 * cc:]


def has_bye(rtcp):
    """Whether a compound RTCP packet holds a BYE."""
    off = 0
    for _ in range(16):
        if off + 4 > len(rtcp):
            return False
        if rtcp[off + 1] == RTCP_BYE:
            return True
        off += 4 * (struct.unpack(">H", rtcp[off + 2:off + 4])[0] + 1)
    return False


class Rtsp:
    """One RTSP connection. request() sends a request and returns (status, headers, body),
    skipping interleaved frames that arrive before the answer (kept for read_tcp)."""

    def __init__(self, port, rcvbuf=None, timeout=10.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.local = "127.0.0.1:%d" % self.sock.getsockname()[1]  # as /api/v1/viewers says
        self.timeout = timeout
        self.cseq = 0
        self.buf = b""
        self.session = None
        self.udp = None
        self.is_tcp = True
        # What read_tcp/read_udp saw: (monotonic, seq, marker, payload head) per RTP packet.
        self.packets = []
        self.bye = False
        self.eof = False

    def close(self):
        self.sock.close()
        for s in self.udp or ():
            s.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def request(self, method, url, headers=None, auth=None):
        self.cseq += 1
        lines = ["%s %s RTSP/1.0" % (method, url), "CSeq: %d" % self.cseq,
                 "User-Agent: vigil-test"]
        if self.session and method not in ("DESCRIBE", "OPTIONS"):
            lines.append("Session: " + self.session)
        if auth is not None:
            user, pw = auth
            lines.append("Authorization: Basic " +
                         base64.b64encode(("%s:%s" % (user, pw)).encode()).decode())
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self.response()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise RtspError("no whole answer within %.0f s (have %r)" % (self.timeout,
                                                                         self.buf[:200]))
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            raise RtspError("EOF before a whole answer (have %r)" % self.buf[:200])
        self.buf += chunk

    def response(self):
        deadline = time.monotonic() + self.timeout
        for _ in range(100000):
            if self.buf[:1] == b"$":
                if len(self.buf) < 4:
                    self._fill(deadline)
                    continue
                n = struct.unpack(">H", self.buf[2:4])[0]
                if len(self.buf) < 4 + n:
                    self._fill(deadline)
                    continue
                self._frame(self.buf[1], self.buf[4:4 + n])
                self.buf = self.buf[4 + n:]
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                self._fill(deadline)
                continue
            head = self.buf[:end].decode("latin-1").split("\r\n")
            assert head[0].startswith("RTSP/1.0 "), "not an RTSP answer: %r" % head[0]
            status = int(head[0].split(" ")[1])
            headers = {}
            for line in head[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0"))
            for _ in range(1000):
                if len(self.buf) >= end + 4 + n:
                    break
                self._fill(deadline)
            body = self.buf[end + 4:end + 4 + n].decode("latin-1")
            self.buf = self.buf[end + 4 + n:]
            return status, headers, body
        raise RtspError("response: loop bound hit")

    def _frame(self, channel, data):
        if channel == 0:
            seq, marker, payload = rtp_fields(data)
            self.packets.append((time.monotonic(), seq, marker, payload[:4]))
        elif channel == 1 and has_bye(data):
            self.bye = True

    def play(self, url, transport="tcp", auth=None):
        """DESCRIBE, SETUP of the SDP's track, PLAY; asserts each answers 200."""
        status, headers, sdp = self.request("DESCRIBE", url, {"Accept": "application/sdp"},
                                            auth=auth)
        if status != 200:
            raise RtspError("DESCRIBE %s: %d %r" % (url, status, headers))
        self.sdp = sdp
        m = re.search(r"^m=video .*?^a=control:(\S+)", sdp, re.M | re.S)
        assert m, sdp
        track = m.group(1)
        if not track.startswith("rtsp://"):
            track = headers["content-base"] + track
        self.is_tcp = transport == "tcp"
        if self.is_tcp:
            spec = "RTP/AVP/TCP;unicast;interleaved=0-1"
        else:
            self.udp = udp_pair()
            spec = "RTP/AVP;unicast;client_port=%d-%d" % (
                self.udp[0].getsockname()[1], self.udp[1].getsockname()[1])
        status, headers, _ = self.request("SETUP", track, {"Transport": spec}, auth=auth)
        if status != 200:
            raise RtspError("SETUP %s: %d %r" % (track, status, headers))
        self.transport = headers["transport"]
        self.session = headers["session"].split(";")[0]
        status, headers, _ = self.request("PLAY", url, {"Range": "npt=now-"}, auth=auth)
        if status != 200:
            raise RtspError("PLAY %s: %d %r" % (url, status, headers))
        return self

    def read_tcp(self, seconds, stop_at_eof=True):
        """Reads interleaved frames for `seconds` (or until EOF); records RTP packets."""
        deadline = time.monotonic() + seconds
        for _ in range(1000000):
            for _ in range(100000):
                if len(self.buf) < 4:
                    break
                assert self.buf[:1] == b"$", "not an interleaved frame: %r" % self.buf[:32]
                n = struct.unpack(">H", self.buf[2:4])[0]
                if len(self.buf) < 4 + n:
                    break
                self._frame(self.buf[1], self.buf[4:4 + n])
                self.buf = self.buf[4 + n:]
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return
            self.sock.settimeout(min(left, 0.5))
            try:
                chunk = self.sock.recv(262144)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                self.eof = True
                return
            if not chunk:
                self.eof = True
                if stop_at_eof:
                    return
            self.buf += chunk

    def read_udp(self, seconds):
        deadline = time.monotonic() + seconds
        sel = selectors.DefaultSelector()
        for i, s in enumerate(self.udp):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        try:
            for _ in range(1000000):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                for key, _ in sel.select(min(left, 0.5)):
                    for _ in range(64):
                        try:
                            data = key.fileobj.recv(65536)
                        except BlockingIOError:
                            break
                        self._frame(key.data, data)
        finally:
            sel.close()

    def read(self, seconds):
        return self.read_tcp(seconds) if self.is_tcp else self.read_udp(seconds)

    def frames_between(self, t0, t1):
        """Access units completed (RTP marker bit) in [t0, t1)."""
        return sum(1 for t, _, marker, _ in self.packets if marker and t0 <= t < t1)


def udp_pair():
    """Two UDP sockets on 127.0.0.1, an even port for RTP and the next for RTCP."""
    for _ in range(100):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        if port % 2 == 0:
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                b.close()
                a.close()
                continue
            a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            return a, b
        a.close()
    raise AssertionError("no pair of free UDP ports")


def raw_status(port, data, timeout=5.0, wait_close=False):
    """Sends data on a new connection; returns (status line's code, headers, and with
    wait_close whether the server closed the connection within 3 s after answering)."""
    c = Rtsp(port, timeout=timeout)
    try:
        c.send_raw(data)
        status, headers, _ = c.response()
        closed = None
        if not wait_close:
            return status, headers, closed
        c.sock.settimeout(3.0)
        try:
            closed = c.sock.recv(4096) == b""
        except socket.timeout:
            closed = False
        except ConnectionResetError:
            closed = True
        return status, headers, closed
    finally:
        c.close()


# --------------------------------------------------------------------------------------
# Fixtures: the cameras and servers start once
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cam720():
    # One keyframe a second: readers that skip get back within a second.
    p = rtsp_sim.start_sim_process(codec="h264", width=1280, height=720, fps=FPS, gop=FPS,
                                   kbps=2000)
    yield p
    p.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, cam720):
    fac = _Factory(tmp_path_factory.mktemp("rtsp"))
    s = fac(cameras={"cam": cam720.url})
    yield s
    finish(fac)


def viewers(srv, **params):
    r = requests.get(srv.url("/api/v1/viewers"), params=params, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    return [v for v in r.json()["viewers"] if v["output"] == "rtsp"]


def viewer_of(srv, conn):
    """The /api/v1/viewers entry of a raw reader, by its address."""
    found = [v for v in viewers(srv) if v["remote"] == conn.local]
    assert len(found) == 1, (conn.local, viewers(srv))
    return found[0]


def sim_fps(cam, seconds):
    """The simulator's own frame rate over `seconds` (the load of this machine can slow it)."""
    a = cam.stats()
    t0 = time.monotonic()
    time.sleep(seconds)
    b = cam.stats()
    return (b["frames"] - a["frames"]) / (time.monotonic() - t0)


def run(args, timeout=60):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def ffprobe_stream(url, transport):
    p = run(["ffprobe", "-v", "error", "-rtsp_transport", transport, "-show_entries",
             "stream=codec_name,width,height", "-of", "json", url])
    assert p.returncode == 0, (transport, p.returncode, p.stderr[-2000:])
    streams = json.loads(p.stdout)["streams"]
    assert len(streams) == 1, p.stdout
    return streams[0]


# --------------------------------------------------------------------------------------
# 1-3: FFmpeg and GStreamer
# --------------------------------------------------------------------------------------

def test_ffprobe_reads_h264_720p_over_tcp_and_udp(srv):
    url = srv.rtsp_url("cam")
    for transport in ("tcp", "udp"):
        s = ffprobe_stream(url, transport)
        assert (s["codec_name"], s["width"], s["height"]) == ("h264", 1280, 720), (transport, s)
    # The alias path names the same camera.
    s = ffprobe_stream("rtsp://127.0.0.1:%d/cam" % srv.rtsp_port, "tcp")
    assert (s["codec_name"], s["width"]) == ("h264", 1280), s


def test_ffprobe_reads_h265_over_tcp_and_udp(vigil_server):
    if not rtsp_sim.have_element("x265enc"):
        pytest.skip("GStreamer's x265enc is not installed: no H.265 simulator")
    sim = rtsp_sim.start_sim_process(codec="h265", width=640, height=360, fps=15)
    try:
        s265 = vigil_server(cameras={"cam": sim.url})
        for transport in ("tcp", "udp"):
            s = ffprobe_stream(s265.rtsp_url("cam"), transport)
            assert (s["codec_name"], s["width"], s["height"]) == ("hevc", 640, 360), (
                transport, s)
    finally:
        sim.close()


def test_ffmpeg_copies_10s_to_mp4_that_decodes_and_starts_with_a_keyframe(srv, tmp_path):
    out = str(tmp_path / "out.mp4")
    p = run(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", srv.rtsp_url("cam"),
             "-c", "copy", "-t", "10", "-y", out], timeout=60)
    assert p.returncode == 0 and os.path.getsize(out) > 0, (p.returncode, p.stderr[-2000:])
    pk = run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
              "packet=flags", "-of", "csv=p=0", out])
    flags = pk.stdout.split()
    assert pk.returncode == 0 and flags, (pk.stdout[:500], pk.stderr[-1000:])
    assert flags[0].startswith("K"), flags[:5]
    # 10 s of a 30 fps camera: the file spans them; the frame count only says the camera's
    # frames came through (a simulator starved on a loaded machine sent 18 fps once).
    dur = run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
               out])
    assert float(dur.stdout.strip()) >= 9.0, (dur.stdout, dur.stderr[-500:])
    assert len(flags) >= 9 * FPS * 0.5, len(flags)
    # Passthrough timestamps in the file's own time base: the camera's capture clock jitters
    # by a few ms, which a 1/30 s time base would round into duplicates (a muxer complaint,
    # not a decoding error).
    dec = run(["ffmpeg", "-v", "error", "-i", out, "-fps_mode", "passthrough",
               "-enc_time_base", "-1", "-f", "null", "-"], timeout=60)
    assert dec.returncode == 0 and dec.stderr.strip() == "", dec.stderr[-2000:]


def gst_play(urls_protocols, seconds):
    """Plays each (url, 'tcp'|'udp') with rtspsrc ! decodebin ! fakesink at once; returns,
    per pipeline, (decoded frame times, bus errors)."""
    GLib, Gst, _, _ = rtsp_sim._gst()
    runs = []
    for url, proto in urls_protocols:
        pipe = Gst.parse_launch("rtspsrc location=%s protocols=%s latency=0 ! decodebin "
                                "! fakesink name=sink sync=false signal-handoffs=true"
                                % (url, proto))
        times, errors = [], []
        pipe.get_by_name("sink").connect(
            "handoff", lambda _s, _b, _p, times=times: times.append(time.monotonic()))
        runs.append((pipe, times, errors))
    for pipe, _, _ in runs:
        assert pipe.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
    deadline = time.monotonic() + seconds
    try:
        for _ in range(100000):
            if time.monotonic() >= deadline:
                break
            for pipe, _, errors in runs:
                msg = pipe.get_bus().timed_pop_filtered(20 * Gst.MSECOND, Gst.MessageType.ERROR
                                                        | Gst.MessageType.EOS)
                if msg is not None:
                    if msg.type == Gst.MessageType.ERROR:
                        err, dbg = msg.parse_error()
                        errors.append("%s (%s)" % (err.message, dbg))
                    else:
                        errors.append("EOS")
    finally:
        for pipe, _, _ in runs:
            pipe.set_state(Gst.State.NULL)
    return [(times, errors) for _, times, errors in runs]


def test_gstreamer_plays_over_tcp_and_udp_at_the_cameras_rate(srv, cam720):
    url = srv.rtsp_url("cam")
    # the 10 s, both transports at once
    results = gst_play([(url, "tcp"), (url, "udp")], 10.0)
    camera_fps = sim_fps(cam720, 1.0)
    for proto, (times, errors) in zip(("tcp", "udp"), results):
        assert errors == [], (proto, errors)
        assert len(times) > 2, (proto, len(times))
        # From the first decoded frame on (the start waits for a keyframe).
        span = times[-1] - times[0]
        fps = (len(times) - 1) / span
        assert span >= 6.0, (proto, span)
        assert fps >= 0.85 * min(camera_fps, FPS), (proto, fps, camera_fps)
        assert fps <= FPS * 1.2, (proto, fps)


# --------------------------------------------------------------------------------------
# 4: fifty readers, one camera session
# --------------------------------------------------------------------------------------

def test_fifty_readers_share_one_camera_session(srv, cam720):
    url = srv.rtsp_url("cam")
    raw = []
    procs = []
    try:
        for i in range(45):
            raw.append(Rtsp(srv.rtsp_port).play(url, "tcp" if i % 2 == 0 else "udp"))
        for i in range(5):
            procs.append(subprocess.Popen(
                ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp" if i < 3 else "udp",
                 "-i", url, "-c", "copy", "-t", "4", "-f", "framecrc", "-"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # Every raw reader reads for 3 s, on one thread (a selector over all their sockets).
        sel = selectors.DefaultSelector()
        got = {}
        for k, c in enumerate(raw):
            socks = [c.sock] if c.is_tcp else list(c.udp)
            for ch, s in enumerate(socks):
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, (k, ch))
        sessions, clients = [], []
        deadline = time.monotonic() + 3.0
        for _ in range(1000000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(min(left, 0.2)):
                k, ch = key.data
                c = raw[k]
                try:
                    data = key.fileobj.recv(262144)
                except BlockingIOError:
                    continue
                if c.is_tcp:
                    c.buf += data
                    got[k] = got.get(k, 0) + len(data)
                    if len(c.packets) < 10:
                        c.read_tcp(0)  # parses what is buffered
                    else:
                        c.buf = b""
                elif ch == 0:
                    got[k] = got.get(k, 0) + len(data)
                    if len(c.packets) < 10:
                        c._frame(0, data)
            if not sessions or time.monotonic() > deadline - 1.5 and len(sessions) < 2:
                st = cam720.stats()
                sessions.append(st["sessions"])
                clients.append(st["clients"])
        sel.close()
        listed = viewers(srv, camera="cam")
        outs = [p.communicate(timeout=30) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        for c in raw:
            c.close()
    assert sessions and set(sessions) == {1} and set(clients) == {1}, (sessions, clients)
    starved = [k for k in range(len(raw)) if len(raw[k].packets) < 10]
    assert not starved, ("readers with fewer than 10 RTP packets", starved,
                         [len(raw[k].packets) for k in starved])
    assert all(got.get(k, 0) > 50000 for k in range(len(raw))), got
    for p, (stdout, stderr) in zip(procs, outs):
        pkts = [l for l in stdout.splitlines() if l and not l.startswith("#")]
        assert p.returncode == 0 and len(pkts) >= 2 * FPS, (p.args, p.returncode, len(pkts),
                                                             stderr[-1000:])
    # Every raw reader is a viewer of the source tier; the ffmpeg ones too while they read.
    mine = {c.local for c in raw}
    rows = [v for v in listed if v["remote"] in mine]
    assert len(rows) == len(raw), (len(rows), len(listed))
    assert all(v["tier"] == "source" and v["camera"] == "cam" for v in rows), rows[:3]
    assert len(listed) >= len(raw), len(listed)


def test_viewers_api_tells_each_readers_transport(srv):
    url = srv.rtsp_url("cam")
    tcp = Rtsp(srv.rtsp_port).play(url, "tcp")
    udp = Rtsp(srv.rtsp_port).play(url, "udp")
    try:
        tcp.read(0.5)
        udp.read(0.5)
        a, b = viewer_of(srv, tcp), viewer_of(srv, udp)
        assert (a["output"], a["tier"], b["output"], b["tier"]) == ("rtsp", "source", "rtsp",
                                                                    "source"), (a, b)
        assert (a.get("transport"), b.get("transport")) == ("tcp", "udp"), (a, b)
    finally:
        tcp.close()
        udp.close()


# --------------------------------------------------------------------------------------
# 5: a throttled reader skips to keyframes; another keeps the camera's rate
# --------------------------------------------------------------------------------------

def test_throttled_tcp_reader_skips_to_a_keyframe_while_another_keeps_the_rate(srv, cam720):
    url = srv.rtsp_url("cam")
    slow = Rtsp(srv.rtsp_port, rcvbuf=4096).play(url, "tcp")
    good = Rtsp(srv.rtsp_port).play(url, "tcp")
    try:
        a = cam720.stats()
        t0 = time.monotonic()
        good.read_tcp(5.0)    # slow reads nothing meanwhile: its socket fills, then vigil's queue
        t1 = time.monotonic()
        b = cam720.stats()
        row = viewer_of(srv, slow)
        good_row = viewer_of(srv, good)
        slow.read_tcp(3.0)   # drains what was queued, then gets live packets again
    finally:
        slow.close()
        good.close()
    camera_fps = (b["frames"] - a["frames"]) / (t1 - t0)
    good_fps = good.frames_between(t0 + 1.0, t1) / (t1 - t0 - 1.0)
    assert good_fps >= 0.9 * min(camera_fps, FPS), (good_fps, camera_fps)
    assert row["skips"] > 0, row
    assert good_row["skips"] == 0 and good_row["fps"] >= 0.8 * min(camera_fps, FPS), good_row
    # Where the slow reader's sequence numbers jump, the packets it gets next start a keyframe.
    seqs = [(seq, head) for _, seq, _, head in slow.packets]
    gaps = [k for k in range(1, len(seqs)) if (seqs[k][0] - seqs[k - 1][0]) & 0xFFFF != 1]
    assert gaps, "the throttled reader's packets have no gap (%d packets)" % len(seqs)
    assert all(nal_starts_keyframe(seqs[k][1]) for k in gaps), [
        (seqs[k - 1][0], seqs[k][0], seqs[k][1].hex()) for k in gaps]


# --------------------------------------------------------------------------------------
# 7: protocol errors
# --------------------------------------------------------------------------------------

def test_protocol_errors_get_their_status_and_the_server_keeps_serving(srv):
    port, url = srv.rtsp_port, srv.rtsp_url("cam")
    watcher = Rtsp(port).play(url, "tcp")
    try:
        cases = [
            ("PLAY without SETUP", "PLAY %s RTSP/1.0\r\nCSeq: 1\r\n\r\n" % url, 454),
            ("multicast only", "SETUP %s/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: "
             "RTP/AVP;multicast;destination=232.0.0.1;port=5000-5001\r\n\r\n" % url, 461),
            ("unknown method", "FROBNICATE %s RTSP/1.0\r\nCSeq: 1\r\n\r\n" % url, 501),
            ("no CSeq", "OPTIONS %s RTSP/1.0\r\n\r\n" % url, 400),
        ]
        for name, text, want in cases:
            status, headers, _ = raw_status(port, text.encode())
            assert status == want, (name, status, headers)
        status, headers, closed = raw_status(port, b"\x16\x03\x01\x02\x00garbage \x00\xff\r\n\r\n",
                                             wait_close=True)
        assert status == 400 and closed, ("garbage", status, headers, closed)
        big = ("OPTIONS %s RTSP/1.0\r\nCSeq: 1\r\nX-Padding: %s\r\n\r\n"
               % (url, "a" * 9000)).encode()
        status, headers, closed = raw_status(port, big, wait_close=True)
        assert status == 431 and closed, ("head over 8 KiB", status, headers, closed)
        # A playing session does not change its transport (RFC 2326 10.4): 455, and it
        # goes on playing.
        status, headers, _ = watcher.request("SETUP", url + "/trackID=0",
                                             {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        assert status == 455, ("SETUP while playing", status, headers)
        # Others are served: a new connection, and the reader that was playing all along.
        status, headers, _ = raw_status(port, ("OPTIONS %s RTSP/1.0\r\nCSeq: 7\r\n\r\n"
                                               % url).encode())
        assert status == 200 and "DESCRIBE" in headers.get("public", ""), (status, headers)
        before = len(watcher.packets)
        watcher.read_tcp(1.0)
        assert len(watcher.packets) - before > 30, len(watcher.packets) - before
    finally:
        watcher.close()


# --------------------------------------------------------------------------------------
# 6: access with sign-in on
# --------------------------------------------------------------------------------------

PW = {"root": "root-rtsp-pw-1", "kv": "kv-rtsp-pw-2", "kg": "kg-rtsp-pw-3",
      "other": "other-rtsp-pw-4"}


class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    cam = rtsp_sim.start_sim_process(codec="h264", width=320, height=240, fps=15)
    tmp = tmp_path_factory.mktemp("rtsp-auth")
    db = str(tmp / "rtsp.db")
    cli(db, "camera", "add", "id=cam", "url=" + cam.url)
    add_user(db, "root", "admin", PW["root"])
    add_user(db, "kv", "viewer", PW["kv"], grants=["cam"])
    add_user(db, "kg", "viewer", PW["kg"], grants=["cam"])
    add_user(db, "other", "viewer", PW["other"])
    fac = _Factory(tmp)
    try:
        srv = fac(cameras={}, auth=True, extra_args=["--db", db])
        w = World()
        w.srv, w.cam = srv, cam
        w.root = login(srv, "root", PW["root"])
        yield w
    finally:
        finish(fac)
        cam.close()


def make_key(w, user):
    r = w.root.post(w.srv.url("/api/v1/keys"), json={"user_id": user, "name": "rtsp-" + user},
                    timeout=10)
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json()


def describe(port, url, auth=None):
    c = Rtsp(port)
    try:
        return c.request("DESCRIBE", url, {"Accept": "application/sdp"}, auth=auth)
    finally:
        c.close()


def ended_within(conn, seconds):
    """Reads until the server closes the connection; returns the seconds it took (None if
    it did not within `seconds`)."""
    t0 = time.monotonic()
    conn.read_tcp(seconds)
    return time.monotonic() - t0 if conn.eof else None


def test_access_needs_a_key_or_token_of_a_granted_user(world):
    w = world
    port = w.srv.rtsp_port
    url = w.srv.rtsp_url("cam")
    kv, other = make_key(w, "kv"), make_key(w, "other")
    status, headers, _ = describe(port, url)
    assert status == 401 and headers.get("www-authenticate", "").startswith("Basic"), (
        status, headers)
    status, headers, _ = describe(port, url, auth=("nvr", "vk_not-a-key-at-all"))
    assert status == 401 and "www-authenticate" in headers, (status, headers)
    status, _, _ = describe(port, url + "?token=wrong")
    assert status == 401, status
    # Not granted and not there answer alike.
    status, _, _ = describe(port, url, auth=("nvr", other["key"]))
    assert status == 404, status
    status, _, _ = describe(port, w.srv.rtsp_url("nope"), auth=("nvr", kv["key"]))
    assert status == 404, status
    # The key as the Basic password (any user name): a playing session.
    c = Rtsp(port).play(url, "tcp", auth=("anyone", kv["key"]))
    try:
        c.read_tcp(2.0)
        assert c.frames_between(0, time.monotonic() + 1) >= 10 and not c.eof, len(c.packets)
    finally:
        c.close()
    # A stream token in the URL (SETUP and PLAY carry it in the SDP's control URL).
    tok = stream_token(w.srv, login(w.srv, "kv", PW["kv"]), "cam")["token"]
    c = Rtsp(port).play(url + "?token=" + tok, "udp")
    try:
        c.read_udp(2.0)
        assert c.frames_between(0, time.monotonic() + 1) >= 10, len(c.packets)
    finally:
        c.close()


def test_revoked_key_and_removed_grant_end_open_sessions(world):
    w = world
    port, url = w.srv.rtsp_port, w.srv.rtsp_url("cam")
    kv, kg = make_key(w, "kv"), make_key(w, "kg")
    by_key = Rtsp(port).play(url, "tcp", auth=("nvr", kv["key"]))
    by_grant = Rtsp(port).play(url, "tcp", auth=("nvr", kg["key"]))
    try:
        by_key.read_tcp(1.0)
        by_grant.read_tcp(0.2)
        assert by_key.packets and not by_key.eof, len(by_key.packets)
        r = w.root.delete(w.srv.url("/api/v1/keys/%s" % kv["id"]), timeout=10)
        assert r.status_code in (200, 204), (r.status_code, r.text)
        took = ended_within(by_key, 6.0)
        assert took is not None and took <= 3.5, took
        assert by_key.bye, "no RTCP BYE before the connection closed"
        status, _, _ = describe(port, url, auth=("nvr", kv["key"]))
        assert status == 401, status
        # The other session read on meanwhile; its user loses the camera now.
        r = w.root.delete(w.srv.url("/api/v1/grants"),
                          params={"user_id": "kg", "camera_id": "cam"}, timeout=10)
        assert r.status_code == 200, (r.status_code, r.text)
        took = ended_within(by_grant, 6.0)
        assert took is not None and took <= 3.5, took
        assert by_grant.bye, "no RTCP BYE before the connection closed"
        status, _, _ = describe(port, url, auth=("nvr", kg["key"]))
        assert status == 404, status
    finally:
        by_key.close()
        by_grant.close()


# --------------------------------------------------------------------------------------
# 8: the camera dies and comes back (last: it restarts the module's camera)
# --------------------------------------------------------------------------------------

def test_camera_restart_with_the_same_parameters_resumes_or_cleanly_ends_readers(srv, cam720):
    url = srv.rtsp_url("cam")
    c = Rtsp(srv.rtsp_port).play(url, "tcp")
    try:
        c.read_tcp(1.5)
        assert c.packets and not c.eof, len(c.packets)
        t_kill = time.monotonic()
        cam720.restart()  # SIGKILL, then the same arguments on the same port
        t_up = time.monotonic()
        before = len(c.packets)
        deadline = t_up + 25.0
        for _ in range(1000):
            c.read_tcp(0.5)
            resumed = c.frames_between(t_up, time.monotonic() + 1)
            if c.eof or resumed >= 2 * FPS or time.monotonic() > deadline:
                break
        resumed = c.frames_between(t_up, time.monotonic() + 1)
        outcome = "ended" if c.eof else "resumed" if resumed >= 2 * FPS else "stalled"
        times = [t for t, *_ in c.packets[max(0, before - 1):]]
        gap = max((b - a for a, b in zip(times, times[1:])), default=-1)
        print("camera restart: reader %s (camera down %.1f s, longest gap in the reader's "
              "packets %.2f s, %d access units since, BYE %s)"
              % (outcome, t_up - t_kill, gap, resumed, c.bye))
        assert outcome != "stalled", ("the reader neither got packets nor an end within 25 s",
                                      resumed, srv.log_tail(3000))
        if outcome == "ended":
            assert c.bye, "the connection closed without an RTCP BYE"
    finally:
        c.close()
    # Either way, a new reader plays, and the camera holds one session.
    again = Rtsp(srv.rtsp_port).play(url, "tcp")
    try:
        again.read_tcp(1.5)
        assert again.frames_between(0, time.monotonic() + 1) >= 10, len(again.packets)
    finally:
        again.close()
    assert cam720.stats()["sessions"] == 1
    assert srv.alive()
