#!/usr/bin/python3
"""How long after the camera captured a picture vigil has its access unit (RTSP), at several
frame rates, against a GStreamer client of the same camera (docs/benchmarks.md, "One frame
between the camera and vigil").

    /usr/bin/python3 bench/rtsp_ingest_delay.py        # FPS="30 10 5", 640x360, 8 s each

For each frame rate: the live simulator, `vigil serve` with it, one `vigil probe` viewer of
the native tier reading every picture's bar. ingest − capture = median(arrival − capture_us)
− median(arrival − ingest_us). A delay that grows with the frame interval is a whole frame
held somewhere before vigil's source hands the access unit on. The GStreamer client
(rtspsrc latency=0, depay, avdec_h264) shows what the simulator and the network cost alone.
Needs python3-gi with GStreamer's RTSP server and libav plug-ins.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import passlib as pl  # noqa: E402

FPS = [int(x) for x in os.environ.get("FPS", "30 10 5").split()]
SECONDS = pl.env_num("DURATION", 8.0)


def gst_client_delay(url, seconds):
    """Median arrival − drawn time of decoded pictures in a GStreamer client, in ms."""
    sys.path.insert(0, os.path.join(pl.HERE, "..", "tests", "integration"))
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    from stamp import decode_luma
    Gst.init(None)
    pipe = Gst.parse_launch(f"rtspsrc location={url} protocols=tcp latency=0 ! rtph264depay ! "
                            "avdec_h264 ! video/x-raw,format=I420 ! appsink name=s sync=false")
    sink = pipe.get_by_name("s")
    pipe.set_state(Gst.State.PLAYING)
    lat = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        smp = sink.emit("try-pull-sample", Gst.SECOND)
        if smp is None:
            continue
        now = time.time_ns() // 1000
        caps = smp.get_caps().get_structure(0)
        w, h = caps.get_value("width"), caps.get_value("height")
        buf = smp.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        stamp = decode_luma(bytes(info.data[:w * h]), w, h) if ok else None
        buf.unmap(info)
        if stamp is not None:
            lat.append((now - stamp) / 1000)
    pipe.set_state(Gst.State.NULL)
    return (statistics.median(lat), len(lat)) if lat else (None, 0)


def main():
    print("| camera fps | frame interval ms | vigil: ingest − capture_us ms | vigil: ingest − "
          "drawn time ms | GStreamer client: decoded − drawn time ms | load avg |")
    print("|---|---|---|---|---|---|")
    for fps in FPS:
        sim = pl.Sim(["--width", 640, "--height", 360, "--fps", fps])
        server = None
        try:
            server = pl.Server({"cam": sim.urls[0]})
            r = pl.run_probe(server, [server.ws_url("cam")], 1, "native", SECONDS, 3,
                             extra=["--stamp-rate", "1000"], record=False)
            p = r["probe"]
            cap = p["latency_ms"]["p50"] - p["server_latency_ms"]["p50"]
            drawn = p["stamp_latency_ms"]["p50"] - p["server_latency_ms"]["p50"]
            server.stop()
            server = None
            gst, n = gst_client_delay(sim.urls[0], SECONDS)
        finally:
            if server:
                server.stop()
            sim.stop()
        print(f"| {fps} | {1000 / fps:.1f} | {cap:.1f} | {drawn:.1f} "
              f"| {pl.fmt(gst)} ({n} pictures) | {' '.join(str(x) for x in r['load_before'])} |")


if __name__ == "__main__":
    main()
