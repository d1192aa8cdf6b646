"""Issue 16: vigil's own RTSP client (`?client=vigil`, src/sources/rtsp_source.c) against the
GStreamer simulator: H.264 with AAC and H.265 come through whole and decodable, Digest and
Basic challenges are answered and a wrong password is named, other codecs and UDP are
refused with the reason, a camera that dies comes back, and each access unit is handed over
at its RTP marker, a frame interval before libavformat's client hands over the same one."""
import asyncio
import socket
import statistics
import struct
import subprocess
import threading
import time

import rtsp_sim
from conftest import VIGIL_BIN, parse_header, stream_state, wait_state, ws_connect
from stamp import decode_stamp
from test_source import SourceViewer, decode_errors

PASSWORD = "pw-Qv7!z"


def vigil_url(sim, user=None, password=None):
    url = sim.url
    if user:
        url = url.replace("rtsp://", "rtsp://%s:%s@" % (user, password))
    return url + "?client=vigil"


def test_h264_with_aac_and_h265_come_through_whole(vigil_server, tmp_path):
    with rtsp_sim.start_sim_process(width=640, height=360, fps=30, audio="aac") as h264, \
            rtsp_sim.start_sim_process(codec="h265", width=320, height=240, fps=15) as h265:
        srv = vigil_server(cameras={"a": vigil_url(h264), "b": vigil_url(h265)})

        async def both():
            return await asyncio.gather(SourceViewer().run(srv.ws_url("a", "source"), 3.0),
                                        SourceViewer().run(srv.ws_url("b", "source"), 3.0))
        a, b = asyncio.run(both())
        for v, codec, fmt, n in ((a, 2, "h264", 45), (b, 3, "hevc", 20)):
            assert len(v.aus) >= n, (fmt, len(v.aus))
            assert v.aus[0][1]["flags"] & 1, "%s: the first access unit is no keyframe" % fmt
            assert all(h["codec"] == codec for _, h, _ in v.aus)
            path = str(tmp_path / ("v." + fmt))
            v.write(path)
            code, err, frames = decode_errors(path, fmt)
            assert code == 0 and err == "", (fmt, err[:2000])
            assert frames == len(v.aus), (fmt, frames, len(v.aus))
        st = stream_state(srv, "a")
        assert (st["codec"], st["width"], st["height"]) == ("h264", 640, 360), st
        assert st["audio"]["codec"] == "aac" and st["audio"]["sample_rate"] == 48000, st
        assert st["audio"]["packets_in"] > 20, st["audio"]
        assert st["packet_lane"]["gaps"] == 0, st["packet_lane"]
        assert st["packets_damaged"] == 0, st  # TCP: nothing lost on the way
        metrics = srv.get("/metrics").text
        for family in ("vigil_stream_input_damaged_packets_total",
                       "vigil_stream_lane_gaps_total"):
            assert '%s{camera="a"} 0' % family in metrics, family
        assert stream_state(srv, "b")["codec"] in ("hevc", "h265")
        assert "vigil's RTSP client" in srv.log
        # Both tracks reach an RTSP reader of vigil.
        p = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
                            "stream=codec_name", "-of", "csv=p=0",
                            "rtsp://127.0.0.1:%d/cameras/a" % srv.rtsp_port],
                           capture_output=True, text=True, timeout=30)
        assert sorted(p.stdout.split()) == ["aac", "h264"], (p.stdout, p.stderr[-1000:])


def test_digest_and_basic_are_answered_and_a_wrong_password_is_named(vigil_server):
    with rtsp_sim.start_sim_process(width=320, height=240, fps=15, user="admin",
                                    password=PASSWORD, auth="digest") as digest, \
            rtsp_sim.start_sim_process(width=320, height=240, fps=15, user="admin",
                                       password=PASSWORD, auth="basic") as basic:
        srv = vigil_server(cameras={
            "digest": vigil_url(digest, "admin", PASSWORD),
            "basic": vigil_url(basic, "admin", PASSWORD),
            "wrong": vigil_url(digest, "admin", "not-" + PASSWORD),
        })
        for cam in ("digest", "basic", "wrong"):
            srv.get("/cameras/%s/snapshot.jpg" % cam)  # starts it
        for cam in ("digest", "basic"):
            r = srv.get("/cameras/%s/snapshot.jpg" % cam)
            assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", (cam, r.status_code)
        st = wait_state(srv, "wrong", {"failed"})
        assert "unauthorized" in st["reason"], st
        for path in ("/api/v1/streams", "/api/v1/cameras"):
            assert PASSWORD not in srv.get(path).text
        assert PASSWORD not in srv.log


def test_other_codecs_and_udp_are_refused_with_the_reason(vigil_server, tmp_path):
    with rtsp_sim.start_sim_process(codec=rtsp_sim.UNSUPPORTED_CODEC, width=320, height=240,
                                    fps=10) as vp8:
        srv = vigil_server(cameras={"vp8": vigil_url(vp8)})
        srv.get("/cameras/vp8/snapshot.jpg")
        st = wait_state(srv, "vp8", {"failed"})
        assert "unsupported codec" in st["reason"], st
        assert "not supported by the vigil RTSP client" in srv.log
    for url, reason in (
            ("rtsp://127.0.0.1:9/cam?client=vigil&transport=udp", "client=vigil reads over TCP"),
            ("rtsps://127.0.0.1:9/cam?client=vigil", "client=vigil does not read rtsps://"),
            ("rtsp://127.0.0.1:9/cam?client=live555", "is not auto, vigil or ffmpeg")):
        p = subprocess.run([VIGIL_BIN, "serve", "--no-auth", "--db", str(tmp_path / "x.db"),
                            "--listen", "127.0.0.1:0", "--rtsp-listen", "none",
                            "--camera", "x=" + url],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 2 and reason in p.stdout + p.stderr, (url, p.stdout, p.stderr)


def test_auto_reads_h26x_itself_and_hands_mjpeg_to_libavformat(vigil_server):
    with rtsp_sim.start_sim_process(width=320, height=240, fps=15) as h264, \
            rtsp_sim.start_sim_process(codec="mjpeg", width=320, height=240, fps=10) as mjpeg:
        srv = vigil_server(cameras={"h264": h264.url,  # the default: auto
                                    "mjpeg": mjpeg.url,
                                    "ffmpeg": h264.url + "?client=ffmpeg"})
        for cam in ("h264", "mjpeg", "ffmpeg"):
            r = srv.get("/cameras/%s/snapshot.jpg" % cam)
            assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", (cam, r.status_code)
        log = srv.log
        assert log.count("(vigil's RTSP client)") == 1, log
        assert "a codec vigil's RTSP client does not read: read through libavformat" in log, log
        assert stream_state(srv, "mjpeg")["codec"] == "mjpeg"


def test_a_camera_that_dies_comes_back(vigil_server):
    with rtsp_sim.start_sim_process(width=320, height=240, fps=15) as sim:
        srv = vigil_server(cameras={"cam": vigil_url(sim)})

        async def watch():
            arrivals = []

            async def read(ws):
                async for msg in ws:
                    if isinstance(msg, bytes) and parse_header(msg)["codec"] == 2:
                        arrivals.append(time.monotonic())
            async with ws_connect(srv.ws_url("cam", "source")) as ws:
                reader = asyncio.ensure_future(read(ws))
                try:
                    await asyncio.sleep(2)
                    before = len(arrivals)
                    await asyncio.to_thread(sim.kill)
                    down = await asyncio.to_thread(
                        wait_state, srv, "cam", {"backoff", "connecting", "failed", "stalled"})
                    await asyncio.to_thread(sim.restart)
                    back = time.monotonic()
                    await asyncio.sleep(5)
                finally:
                    reader.cancel()
            return before, down, [t - back for t in arrivals if t > back]
        before, down, after = asyncio.run(watch())
        assert before >= 15, before
        assert down["state"] != "live", down
        assert len(after) >= 20, "%d access units in the 5 s after the restart" % len(after)
        assert after[0] < 4, "the first access unit came %.1f s after the restart" % after[0]
        assert wait_state(srv, "cam", {"live"})["reconnects"] >= 1


class RtcpOnlyCamera:
    """An RTSP camera whose encoder is stuck: it answers OPTIONS, DESCRIBE (one H.264 track),
    SETUP (RTP/AVP/TCP) and PLAY, then sends RTCP sender reports on the RTCP channel and no
    RTP at all. .describes counts sessions begun; .url, .close()."""

    SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=stuck\r\nt=0 0\r\n"
           "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
           "a=fmtp:96 packetization-mode=1\r\na=control:track0\r\n")

    def __init__(self):
        self.describes = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "rtsp://127.0.0.1:%d/cam" % self.sock.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        with conn:
            conn.settimeout(0.3)
            playing = False
            while not self.closed.is_set():
                try:
                    if playing:  # a sender report: V=2, PT=200, NTP and RTP time, no packets
                        conn.sendall(b"$\x01" + struct.pack(">H", 28) + struct.pack(
                            ">BBHIIIIII", 0x80, 200, 6, 1234, int(time.time()) + 2208988800,
                            0, 90000, 0, 0))
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    lines = head.decode("latin-1").split("\r\n")
                    method = lines[0].split(" ")[0]
                    cseq = next((ln.split(":", 1)[1].strip() for ln in lines
                                 if ln.lower().startswith("cseq:")), "0")
                    extra, body = "", ""
                    if method == "OPTIONS":
                        extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
                    elif method == "DESCRIBE":
                        self.describes += 1
                        body = self.SDP
                        extra = ("Content-Type: application/sdp\r\nContent-Base: %s/\r\n"
                                 % self.url)
                    elif method == "SETUP":
                        extra = ("Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
                                 "Session: 5150;timeout=60\r\n")
                    elif method == "PLAY":
                        extra = "Session: 5150\r\n"
                        playing = True
                    conn.sendall(("RTSP/1.0 200 OK\r\nCSeq: %s\r\n%sContent-Length: %d\r\n"
                                  "\r\n%s" % (cseq, extra, len(body), body)).encode())

    def close(self):
        self.closed.set()
        self.sock.close()


def test_a_camera_that_sends_rtcp_and_no_video_is_read_again(vigil_server):
    """RTCP keeps flowing while a camera's encoder is stuck: it must not keep the session
    alive. With no video 5 s after PLAY, vigil's client starts a new session."""
    cam = RtcpOnlyCamera()
    try:
        srv = vigil_server(cameras={"cam": cam.url + "?client=vigil"})

        async def watch():
            async with ws_connect(srv.ws_url("cam", "source")):
                deadline = time.monotonic() + 14
                while time.monotonic() < deadline and cam.describes < 2:
                    await asyncio.sleep(0.2)
        asyncio.run(watch())
        assert cam.describes >= 2, "one session in 14 s: RTCP alone kept it open"
        assert "camera answered PLAY but sent no video in 5 s" in srv.log, srv.log_tail()
    finally:
        cam.close()


def test_each_access_unit_is_handed_over_at_its_marker_a_frame_before_libavformat(
        vigil_server):
    """One 5 fps camera (200 ms between pictures), read by both clients at once; a JPEG viewer
    of each reads the time the simulator drew into each picture. libavformat's client hands
    an access unit over when the next one starts, 200 ms later; vigil's at its marker."""
    with rtsp_sim.start_sim_process(width=320, height=240, fps=5) as sim:
        srv = vigil_server(cameras={"vigil": vigil_url(sim), "ffmpeg": sim.url + "?client=ffmpeg"})

        async def delays(cam):
            out = []
            async with ws_connect(srv.ws_url(cam, "low")) as ws:
                deadline = time.monotonic() + 4.5
                while time.monotonic() < deadline:
                    try:
                        msg = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
                    except asyncio.TimeoutError:
                        break
                    if not isinstance(msg, bytes):
                        continue
                    arrived = time.time_ns() // 1000
                    drawn = decode_stamp(msg[parse_header(msg)["hdr_len"]:])
                    if drawn is not None:
                        out.append((arrived - drawn) / 1000.0)
            return out

        async def both():
            return await asyncio.gather(delays("vigil"), delays("ffmpeg"))
        own, lav = asyncio.run(both())
    assert len(own) >= 12 and len(lav) >= 12, (len(own), len(lav))
    own_p50, lav_p50 = statistics.median(own[3:]), statistics.median(lav[3:])
    print("drawn to viewer p50: vigil's client %.1f ms, libavformat's %.1f ms" % (own_p50,
                                                                                  lav_p50))
    assert own_p50 < lav_p50 - 100, (own_p50, lav_p50)
