"""Issue 16: RTSP over TLS (rtsps://) on the RTSP port, with the HTTPS certificate, and a
camera with AAC audio (RFC 3640 as the second track). Real clients: ffprobe and ffmpeg
(rtsps:// over TCP; plain rtsp:// over UDP on the same port), GStreamer's rtspsrc.

The server is the AddressSanitizer build where there is one (make test builds it): the TLS
paths, the AAC track and a camera that dies and comes back run under ASan and LeakSanitizer,
and the server must exit cleanly with no report."""
import json
import os
import socket
import ssl
import subprocess
import time

import pytest

import rtsp_sim
from conftest import VIGIL_ASAN_BIN, VIGIL_BIN
from test_tls import make_cert

ASAN_MARKERS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:")


def run(args, timeout=60):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def probe(url, transport):
    p = run(["ffprobe", "-v", "error", "-rtsp_transport", transport, "-show_entries",
             "stream=codec_name,width,sample_rate", "-of", "json", url])
    assert p.returncode == 0, (url, transport, p.stderr[-2000:])
    return sorted((s["codec_name"], s.get("width") or int(s.get("sample_rate", 0)))
                  for s in json.loads(p.stdout)["streams"])


@pytest.fixture(scope="module")
def aac_cam():
    p = rtsp_sim.start_sim_process(codec="h264", width=640, height=360, fps=30, gop=30,
                                   audio="aac")
    yield p
    p.close()


@pytest.fixture
def tls_rtsp(vigil_server, tmp_path, aac_cam):
    cert, key = make_cert(str(tmp_path), "rtsps")
    # The readiness probe speaks plain HTTP, and HTTP is HTTPS here: wait for the RTSP line.
    asan = os.path.exists(VIGIL_ASAN_BIN)
    srv = vigil_server(cameras={"cam": aac_cam.url}, expect_ready=False,
                       extra_args=["--tls-cert", cert, "--tls-key", key],
                       binary=VIGIL_ASAN_BIN if asan else VIGIL_BIN,
                       env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1"}
                       if asan else None)
    srv.asan = asan
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "rtsps://" not in srv.log_tail():
        time.sleep(0.1)
    assert "rtsps://" in srv.log_tail(), srv.log_tail()
    srv.cert = cert
    return srv


def stop_clean(srv):
    """Stops the server; under ASan, no report and a clean exit."""
    code, took = srv.stop(timeout=20)
    srv.exit_checked = True
    log = srv.log
    problems = ["%r in the log" % m for m in ASAN_MARKERS if m in log]
    if code != 0:
        problems.append("exit status %r after %.1f s" % (code, took))
    assert not problems, "; ".join(problems) + "\n--- log ---\n" + log[-8000:]


def test_rtsps_and_plain_rtsp_share_the_port_and_carry_h264_and_aac(tls_rtsp, tmp_path,
                                                                    aac_cam):
    srv = tls_rtsp
    port = srv.rtsp_port
    want = [("aac", 48000), ("h264", 640)]
    tls_url = "rtsps://127.0.0.1:%d/cameras/cam" % port
    assert probe(tls_url, "tcp") == want
    assert probe("rtsp://127.0.0.1:%d/cameras/cam" % port, "udp") == want

    # The handshake shows the HTTPS certificate.
    ctx = ssl.create_default_context(cafile=srv.cert)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"OPTIONS rtsps://127.0.0.1/cameras/cam RTSP/1.0\r\nCSeq: 7\r\n\r\n")
            answer = s.recv(4096).decode()
    assert answer.startswith("RTSP/1.0 200 OK\r\n") and "CSeq: 7" in answer, answer

    # 4 s copied over TLS: both tracks arrive and decode.
    out = str(tmp_path / "out.mkv")
    p = run(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", tls_url, "-c", "copy",
             "-t", "4", "-y", out], timeout=60)
    assert p.returncode == 0 and os.path.getsize(out) > 0, p.stderr[-2000:]
    pk = run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
              "stream=codec_name,nb_read_packets", "-of", "json", out])
    counts = {s["codec_name"]: int(s["nb_read_packets"]) for s in json.loads(pk.stdout)["streams"]}
    assert counts.get("h264", 0) >= 3 * 30 * 0.7, counts  # 30 fps for 4 s, give or take
    assert counts.get("aac", 0) >= 3 * 48000 / 1024 * 0.7, counts  # 1024 samples a frame
    dec = run(["ffmpeg", "-v", "error", "-i", out, "-f", "null", "-"], timeout=60)
    assert dec.returncode == 0 and "rror" not in dec.stderr, dec.stderr[-2000:]

    # The camera dies and comes back with the same parameters: a TLS reader started before
    # keeps reading (or is ended cleanly), and a new one plays both tracks.
    reader = subprocess.Popen(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", tls_url,
                               "-c", "copy", "-t", "8", "-f", "null", "-"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        aac_cam.restart()
        reader.wait(timeout=45)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert probe(tls_url, "tcp") == want
    stop_clean(srv)


def test_gstreamer_plays_rtsps(tls_rtsp):
    gi = pytest.importorskip("gi")
    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst
    Gst.init(None)
    url = "rtsps://127.0.0.1:%d/cameras/cam" % tls_rtsp.rtsp_port
    pipe = Gst.parse_launch(
        "rtspsrc location=%s protocols=tcp tls-validation-flags=0 latency=0 ! rtph264depay "
        "! avdec_h264 ! fakesink name=sink sync=false signal-handoffs=true" % url)
    times, errors = [], []
    pipe.get_by_name("sink").connect("handoff", lambda *a: times.append(time.monotonic()))
    loop = GLib.MainLoop()

    def on_message(_bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            errors.append(str(msg.parse_error()))
            loop.quit()
    t0 = time.monotonic()

    def check():
        # The first picture may take a while on a loaded host (the ASan build, a camera
        # started by this DESCRIBE); from it on, 3 s of pictures are counted.
        if (times and time.monotonic() - times[0] >= 3.0) or time.monotonic() - t0 > 25:
            loop.quit()
            return False
        return True
    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipe.set_state(Gst.State.PLAYING)
    GLib.timeout_add(100, check)
    loop.run()
    pipe.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    assert not errors, errors
    assert times, "no picture in 25 s\n" + tls_rtsp.log_tail()
    in_window = [t for t in times if t - times[0] <= 3.0]
    assert len(in_window) >= 3 * 30 * 0.6, len(in_window)
    stop_clean(tls_rtsp)
