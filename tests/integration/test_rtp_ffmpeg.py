"""FFmpeg depacketizes and decodes what media/rtp sends: x264 and x265 streams made at test
time, packetized by build/rtp_send (tools/rtp_send.c) and sent over RTP/UDP on loopback in
real time, with the SDP vg_rtp_sdp_media wrote; FFmpeg's RTP demuxer reads that SDP, receives,
and ends on the RTCP BYE.

Expected values come from the source stream, never from vigil: the MD5 of every picture FFmpeg
decodes from the raw Annex B file. A lost, duplicated, reordered or damaged access unit (a
broken STAP-A/AP, FU start/end bit, marker, sequence number across its wrap at 65535 or
timestamp across its wrap at 2^32) fails. A small payload size makes nearly every slice go in
fragments.
"""
import os
import socket
import subprocess
import time

import pytest

from conftest import VIGIL_BIN

RTP_SEND = os.environ.get("RTP_SEND") or os.path.join(os.path.dirname(VIGIL_BIN), "rtp_send")
FPS = 30
SECONDS = 2

ENCODERS = {
    "h264": ["-c:v", "libx264", "-bf", "0"],
    "hevc": ["-c:v", "libx265", "-x265-params", "bframes=0:log-level=error"],
}


def run(args, timeout=120):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def frame_md5s(text):
    return [line.rsplit(",", 1)[1].strip() for line in text.splitlines()
            if line and not line.startswith("#")]


def free_udp_pair():
    """An even UDP port on 127.0.0.1 whose next one (RTCP) is free too."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1] & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free UDP port pair")


def udp_ports_bound():
    ports = set()
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                ports.add(int(line.split()[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.parametrize("payload_max", [1400, 200])
@pytest.mark.parametrize("codec", sorted(ENCODERS))
def test_ffmpeg_decodes_rtp(tmp_path, codec, payload_max):
    assert os.access(RTP_SEND, os.X_OK), "%s is not built (set RTP_SEND)" % RTP_SEND
    src = str(tmp_path / ("in." + codec))
    sdp = str(tmp_path / "stream.sdp")
    p = run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
             "testsrc2=s=640x360:r=%d" % FPS, "-t", str(SECONDS), *ENCODERS[codec],
             "-g", str(FPS), "-f", codec, src])
    assert p.returncode == 0, p.stderr
    want = run(["ffmpeg", "-v", "error", "-i", src, "-f", "framemd5", "-"])
    assert want.returncode == 0, want.stderr
    want_md5s = frame_md5s(want.stdout)
    assert len(want_md5s) == FPS * SECONDS

    port = free_udp_pair()
    sender = subprocess.Popen([RTP_SEND, src, sdp, str(port), str(FPS), str(payload_max)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    receiver = None
    try:
        ready = sender.stdout.readline()
        assert ready.startswith("ready %d " % (FPS * SECONDS)), ready + sender.stderr.read()
        media = open(sdp).read()
        assert ("m=video %d RTP/AVP 96" % port) in media
        receiver = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-protocol_whitelist", "file,udp,rtp", "-i", sdp,
             "-fps_mode", "passthrough", "-f", "framemd5", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while not {port, port + 1} <= udp_ports_bound():
            assert receiver.poll() is None, receiver.stderr.read()
            assert time.monotonic() < deadline, "ffmpeg did not bind %d/%d" % (port, port + 1)
            time.sleep(0.05)
        sender.stdin.write("go\n")
        sender.stdin.flush()
        sent, sender_err = sender.communicate(timeout=SECONDS + 20)
        assert sender.returncode == 0, sender_err
        # The BYE ends FFmpeg's stream; without it (or with a broken one) this times out.
        got, receiver_err = receiver.communicate(timeout=20)
    finally:
        for proc in (sender, receiver):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert receiver.returncode == 0, receiver_err
    assert receiver_err == "", receiver_err
    got_md5s = frame_md5s(got)
    assert len(got_md5s) == len(want_md5s), sent
    assert got_md5s == want_md5s
    # 65500 + packets: the sequence numbers crossed 65535 (the stream is long enough).
    next_seq = int(sent.split("next seq ")[1])
    packets = int(sent.split(" packets")[0].rsplit(" ", 1)[1])
    assert packets > 36 and next_seq == (65500 + packets) % 65536, sent
