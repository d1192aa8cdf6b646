"""Issue 12, item 1 (camera passwords): a core dump of a running `vigil serve` that has
dialled a camera holds its password at most once.

The camera is the RTSP simulator requiring digest auth; its password is given as a
separate field in the config file, or inside the URL. After the first frames, gdb's gcore
dumps the server and the password's bytes are counted. vigil keeps the password and any URL
carrying it only in libsodium guarded memory (excluded from core dumps), builds the dial URL
just before avformat_open_input and wipes it after, gives libavformat back a redacted URL,
and scrubs the loop's stack after building a camera. The one copy left is libavformat's own
"user:password" in the RTSP demuxer's private state, which it needs to answer the camera's
digest challenge on every later request (PLAY, keep-alives, TEARDOWN); FFmpeg has no way to
hand it a credential otherwise. Before this, the dump held it 7 times (6 with the URL form).
"""
import asyncio
import shutil
import time

import pytest

from conftest import core_dump_count, ws_connect
from rtsp_sim import start_sim_process

PASSWORD = "Qx7mVigilCamPw93K"  # URL-safe, so the URL form spells it the same


def _dump_count(srv, tmp_path):
    return core_dump_count(srv.pid, PASSWORD, tmp_path)


@pytest.mark.parametrize("form", ["fields", "url"])
def test_camera_password_in_core_dump(vigil_server, tmp_path, form):
    if shutil.which("gcore") is None:
        pytest.skip("gdb's gcore is not installed")
    with start_sim_process(codec="h264", width=320, height=240, fps=15, user="camuser",
                           password=PASSWORD, auth="digest") as cam:
        if form == "fields":
            camera = ('  - id: c1\n    url: "%s"\n    username: camuser\n    password: "%s"\n'
                      % (cam.url, PASSWORD))
        else:
            camera = '  - id: c1\n    url: "%s"\n' % cam.url.replace(
                "rtsp://", "rtsp://camuser:%s@" % PASSWORD)
        srv = vigil_server(config="cameras:\n" + camera)

        async def frames():
            n = 0
            deadline = time.monotonic() + 15
            async with ws_connect(srv.ws_url("c1", "low")) as ws:
                while n < 5 and time.monotonic() < deadline:
                    n += isinstance(await asyncio.wait_for(ws.recv(), 10), bytes)
            return n

        assert asyncio.run(frames()) == 5, srv.log_tail()  # it dialled and authenticated
        count = _dump_count(srv, tmp_path)
    assert count <= 1, "the camera password is %d times in the core dump" % count
    assert PASSWORD not in srv.log
