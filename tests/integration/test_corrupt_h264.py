"""Issue 12, item 10: a camera sending corrupt H.264 must not make vigil leak.

FFmpeg 5.1's RTP demuxer attaches the producer reference time (packet side data, present
once the camera's first RTCP sender report has arrived) even to a packet its H.264
depacketizer refused, then reuses the packet for the next RTP packet and loses that side
data: 104 bytes per refused payload, found by LeakSanitizer as 'av_packet_add_side_data'
under av_read_frame. vigil frees the leftover from its interrupt callback
(src/sources/av_source.c). Here a proxy breaks every third video packet's NAL unit type
between the RTSP simulator and the ASan build, a viewer watches until dozens of broken
packets have followed a sender report, and the server must exit 0 with no sanitizer report.
"""
import asyncio
import os
import time

import pytest

from conftest import VIGIL_ASAN_BIN, ws_connect
from rtsp_sim import NalBreakingProxy, start_sim_process

ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1"}
MARKERS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:")


def test_corrupt_h264_does_not_leak(vigil_server):
    if not os.path.exists(VIGIL_ASAN_BIN):
        pytest.skip("no ASan build at %s" % VIGIL_ASAN_BIN)
    with start_sim_process(codec="h264", width=320, height=240, fps=15) as cam, \
            NalBreakingProxy(cam.url, every=3) as px:
        # libavformat's client: the leak is in its RTP demuxer
        srv = vigil_server(cameras={"c1": px.url + "?client=ffmpeg"}, binary=VIGIL_ASAN_BIN,
                           env=ASAN_ENV)

        async def watch():
            frames = 0
            deadline = time.monotonic() + 15
            async with ws_connect(srv.ws_url("c1", "low")) as ws:
                while time.monotonic() < deadline and px.broken_after_sr < 40:
                    msg = await asyncio.wait_for(ws.recv(), 10)
                    frames += isinstance(msg, bytes)
            return frames

        frames = asyncio.run(watch())
        code, took = srv.stop(timeout=20)
        srv.exit_checked = True
    log = srv.log
    # The damage reached FFmpeg's depacketizer after a sender report, and video still flowed.
    assert px.broken_after_sr >= 40, (px.broken, px.sender_reports)
    assert "Undefined type (30)" in log, srv.log_tail()
    assert frames > 0
    found = [m for m in MARKERS if m in log]
    assert not found and code == 0, "exit %r; %s\n--- log ---\n%s" % (
        code, found, log[-6000:])
