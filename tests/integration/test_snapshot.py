"""Snapshot endpoint: a JPEG of the tier's size, JSON errors otherwise."""
import asyncio
import io
import os
import subprocess
import time

import pytest
import requests

from conftest import CAM_SMALL, jpeg_size, recv_hello, ws_connect
from stamp import decode_stamp


def assert_json_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"].get("code") == code, body
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body


def test_snapshot_each_tier(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    cam = srv.camera("c1")
    default = srv.tier("c1", cam["default_tier"])
    # Cold: nobody watches, the camera has to start for the snapshot.
    t0 = time.monotonic()
    r = requests.get(srv.snapshot_url("c1"), timeout=20)
    took = time.monotonic() - t0
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert r.headers.get("content-type", "").startswith("image/jpeg"), r.headers
    assert jpeg_size(r.content) == (default["width"], default["height"])
    assert took < 10, "cold snapshot took %.1f s" % took
    before = time.time_ns() // 1000
    for t in (t for t in cam["tiers"] if t["codec"] == "jpeg"):
        r = requests.get(srv.snapshot_url("c1", t["name"]), timeout=20)
        assert r.status_code == 200, (t["name"], r.status_code, r.text[:300])
        assert jpeg_size(r.content) == (t["width"], t["height"]), t
        stamp = decode_stamp(r.content)
        assert stamp is not None, "no timestamp bar in the %s snapshot" % t["name"]
        # "latest JPEG of the tier": not older than a couple of seconds
        assert before - 3_000_000 < stamp <= time.time_ns() // 1000, (before, stamp)


def test_snapshot_unknown_camera_404(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    assert_json_error(requests.get(srv.snapshot_url("nope"), timeout=10), 404, "not_found")


def test_snapshot_unknown_tier_400(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    assert_json_error(requests.get(srv.snapshot_url("c1", "bogus"), timeout=10), 400,
                      "bad_request")


# Cameras that exist but never produce a picture. The first one the server accepts is used.
DEAD_URLS = [u for u in [os.environ.get("VIGIL_DEAD_URL")] if u] + [
    "rtsp://127.0.0.1:9/never",
    "http://127.0.0.1:9/never.mjpg",
]


def test_snapshot_dead_camera_503(vigil_server):
    srv = None
    tried = []
    for url in DEAD_URLS:
        s = vigil_server(cameras={"c1": CAM_SMALL, "dead": url}, expect_ready=False)
        from conftest import _wait_ready
        err = _wait_ready(s, timeout=10)
        if err is None:
            srv = s
            break
        tried.append("%s: %s" % (url, err))
        s.stop()
        s.exit_code = 0  # a refused camera URL is not this test's failure
    if srv is None:
        pytest.skip("the server accepts no camera URL that cannot produce a picture "
                    "(tried %s)" % "; ".join(tried))
    t0 = time.monotonic()
    r = requests.get(srv.snapshot_url("dead"), timeout=30)
    took = time.monotonic() - t0
    assert_json_error(r, 503, "unavailable")
    assert took < 20, "503 took %.1f s" % took
    # The server is fine otherwise.
    r = requests.get(srv.snapshot_url("c1"), timeout=20)
    assert r.status_code == 200


def test_snapshot_no_picture_in_time_503(vigil_server):
    """--snapshot-wait-ms 1: a cold camera cannot have a picture within 1 ms -> 503
    unavailable; while a viewer keeps the tier encoding, the same snapshot answers at once."""
    srv = vigil_server(cameras={"c1": "test://?width=1280&height=720&fps=5&pattern=detailed"},
                       extra_args=["--snapshot-wait-ms", "1"])
    t0 = time.monotonic()
    r = requests.get(srv.snapshot_url("c1"), timeout=20)
    took = time.monotonic() - t0
    assert_json_error(r, 503, "unavailable")
    assert took < 2, "503 took %.1f s with a 1 ms wait" % took
    cam = srv.camera("c1")
    tier = srv.tier("c1", cam["default_tier"])

    async def go():
        async with ws_connect(srv.ws_url("c1")) as ws:
            await recv_hello(ws)
            for _ in range(100):
                m = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(m, bytes):
                    break
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                None, lambda: requests.get(srv.snapshot_url("c1"), timeout=20))

    r = asyncio.run(go())
    assert r.status_code == 200, "snapshot while a viewer watches: %d %s" % (r.status_code,
                                                                              r.text[:200])
    assert jpeg_size(r.content) == (tier["width"], tier["height"])


def test_snapshot_at_a_time_in_the_past_future_too_old_and_malformed(vigil_server):
    """?at=T: the picture captured nearest T from the packet lane's history (the test camera
    draws its capture time into the picture; its frame interval at 15 fps is 66.7 ms)."""
    srv = vigil_server(cameras={"c1": CAM_SMALL + "&gop=30"})
    interval_us = 1_000_000 // 15

    async def keep_watching():
        # A source viewer keeps the camera running (and never makes it decode).
        async with ws_connect(srv.ws_url("c1", "source")) as ws:
            t_end = time.monotonic() + 8
            while time.monotonic() < t_end:
                try:
                    await asyncio.wait_for(ws.recv(), 1)
                except asyncio.TimeoutError:
                    pass

    def run():
        asyncio.run(keep_watching())

    import threading
    watcher = threading.Thread(target=run, daemon=True)
    watcher.start()
    time.sleep(5.0)
    now_ms = time.time_ns() // 1_000_000
    # Three seconds ago, as Unix ms and as RFC 3339 with an offset.
    for at in (str(now_ms - 3000),
               time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((now_ms - 3000) // 1000 + 3600))
               + ".%03d+01:00" % ((now_ms - 3000) % 1000)):
        r = requests.get(srv.url("/cameras/c1/snapshot.jpg"), params={"at": at}, timeout=10)
        assert r.status_code == 200, (at, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("image/jpeg")
        stamp = decode_stamp(r.content)
        assert stamp is not None, "no timestamp bar in the picture"
        want_us = (now_ms - 3000) * 1000
        assert abs(stamp - want_us) <= interval_us, (at, stamp - want_us)
        assert abs(int(r.headers["X-Capture-Time"]) * 1000 - stamp) < 1000, r.headers
    # Half a second ahead: waits for it.
    t0 = time.monotonic()
    want_us = (time.time_ns() // 1000) + 500_000
    r = requests.get(srv.url("/cameras/c1/snapshot.jpg"), params={"at": str(want_us // 1000)},
                     timeout=10)
    took = time.monotonic() - t0
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert abs(decode_stamp(r.content) - want_us) <= interval_us
    assert 0.35 < took < 2.5, took
    # Older than the history (10 s by default; the camera ran for about 5 s): 404, saying
    # the oldest time held.
    r = requests.get(srv.url("/cameras/c1/snapshot.jpg"), params={"at": str(now_ms - 60000)},
                     timeout=10)
    assert_json_error(r, 404, "not_found")
    oldest = int(r.json()["error"]["message"].split("captured at ")[1].split()[0])
    assert now_ms - 7000 < oldest < now_ms - 3000, (now_ms, oldest)
    for bad in ("yesterday", "2026-12-05", "2026-12-05T06:00:00", "-1", "12.5"):
        assert_json_error(requests.get(srv.url("/cameras/c1/snapshot.jpg"), params={"at": bad},
                                       timeout=10), 400, "bad_request")
    far = str(time.time_ns() // 1_000_000 + 600_000)
    assert_json_error(requests.get(srv.url("/cameras/c1/snapshot.jpg"), params={"at": far},
                                   timeout=10), 400, "bad_request")
    watcher.join(10)


def test_limited_range_camera_gives_full_range_jpeg(vigil_server, tmp_path):
    """Issue 14 item 5: H.264 in limited range (Y 16..235, as most cameras and ffmpeg send
    it) is expanded to the full range JPEG expects, by the range pass at the camera's size and
    by scaling then the pass below it. Without the expansion black reads 16 and white 235."""
    from PIL import Image
    clip = tmp_path / "limited.mp4"
    # Left half black, top right white, bottom right mid grey (Y 126: 128 once expanded).
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=black:s=640x360:r=10,"
                    "drawbox=x=320:y=0:w=320:h=180:color=white:t=fill,"
                    "drawbox=x=320:y=180:w=320:h=180:color=0x808080:t=fill",
                    "-t", "2", "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p",
                    "-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709",
                    "-color_trc", "bt709", str(clip)], check=True, timeout=60)
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v",
                            "-show_entries", "stream=color_range", "-of", "csv=p=0", str(clip)],
                           check=True, capture_output=True, text=True, timeout=30)
    assert probe.stdout.strip() == "tv", "the clip is not limited range: %r" % probe.stdout
    srv = vigil_server(cameras={"lim": "file://%s" % clip})
    r = requests.get(srv.snapshot_url("lim"), timeout=20)  # starts the camera
    assert r.status_code == 200, (r.status_code, r.text[:300])
    tiers = [t for t in srv.tiers("lim") if t["codec"] == "jpeg"]
    sizes = set()
    for t in tiers:
        r = requests.get(srv.snapshot_url("lim", t["name"]), timeout=20)
        assert r.status_code == 200, (t["name"], r.status_code, r.text[:300])
        im = Image.open(io.BytesIO(r.content))
        im.load()
        w, h = im.size
        sizes.add(im.size)
        rgb = im.convert("RGB")

        def mean(fx, fy):  # the region's middle, away from edges and chroma bleeding
            x0, y0, x1, y1 = int(w * fx) - w // 16, int(h * fy) - h // 16, \
                int(w * fx) + w // 16, int(h * fy) + h // 16
            px = [rgb.getpixel((x, y)) for y in range(y0, y1) for x in range(x0, x1)]
            return tuple(sum(p[i] for p in px) / len(px) for i in range(3))
        black, white, grey = mean(0.25, 0.5), mean(0.75, 0.25), mean(0.75, 0.75)
        where = "tier %s %dx%d: black %r white %r grey %r" % (t["name"], w, h, black, white, grey)
        assert all(c <= 3 for c in black), where
        assert all(c >= 252 for c in white), where
        assert all(abs(c - 128) <= 3 for c in grey), where
    # Both ways through the lane: the camera's own size (the pass alone) and a smaller one
    # (swscale, then the pass).
    assert (640, 360) in sizes and len(sizes) >= 2, (sizes, tiers)
