"""The ladder's H.264 tiers (issue 19, docs/protocol.md "Tiers"): vigil's own H.264 of the
decoded picture, for viewers on thin, lossy links. Checked with real decoders (ffmpeg).

Camera: the built-in test camera (its own H.264, decoded and re-encoded per tier).
"""
import asyncio
import json
import subprocess
import time

import requests

from conftest import CAM_720, parse_header, ws_connect

H264 = 2


def decode(path):
    """Decodes a raw H.264 file: (exit code, error text, frames decoded)."""
    p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "h264", "-i", path,
                        "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    q = subprocess.run(["ffprobe", "-v", "error", "-f", "h264", "-count_frames",
                        "-select_streams", "v:0", "-show_entries",
                        "stream=nb_read_frames,width,height,profile", "-of", "json", path],
                       capture_output=True, text=True, timeout=120)
    info = json.loads(q.stdout)["streams"][0] if q.returncode == 0 else {}
    return p.returncode, p.stderr.strip(), info


class Viewer:
    """One WebSocket viewer: its text messages in order, and its binary frames."""

    def __init__(self):
        self.texts = []
        self.frames = []  # (monotonic arrival, header, payload)
        self.events = []  # ("text", msg) or ("frame", header), in arrival order
        self.connected = None

    async def run(self, url, duration, on_open=None):
        self.connected = time.monotonic()
        async with ws_connect(url) as ws:
            if on_open:
                await on_open(ws)
            deadline = time.monotonic() + duration
            while time.monotonic() < deadline:
                try:
                    msg = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
                if isinstance(msg, str):
                    m = json.loads(msg)
                    self.texts.append(m)
                    self.events.append(("text", m))
                    continue
                h = parse_header(msg[:32])
                self.frames.append((time.monotonic(), h, msg[32:]))
                self.events.append(("frame", h))
        return self

    def write(self, path):
        with open(path, "wb") as f:
            for _, _, payload in self.frames:
                f.write(payload)


def test_h264_tier_is_a_decodable_baseline_stream_told_before_its_first_keyframe(vigil_server,
                                                                              tmp_path):
    srv = vigil_server(cameras={"c1": CAM_720})
    v = asyncio.run(Viewer().run(srv.ws_url("c1", "h264-tiny15"), 4.0))
    hello = v.texts[0]
    assert hello["type"] == "hello" and hello["tier"] == "h264-tiny15", hello
    by_name = {t["name"]: t for t in hello["tiers"]}
    for name, fps, size in (("h264-thin10", 10, "thin"), ("h264-tiny15", 15, "tiny"),
                            ("h264-low", 30, "low")):
        t = by_name[name]
        assert (t["codec"], t["fps"], t["size"]) == ("h264", fps, size), t
        assert 50 <= t["max_kbps"] <= 2000 and t["kbps"] > 0, t
    assert by_name["medium"]["codec"] == "jpeg"
    assert len(v.frames) >= 40, "only %d access units in 4 s at 15 fps" % len(v.frames)
    # The codec message comes before the first access unit, which is a keyframe.
    kinds = [k for k, _ in v.events]
    first_frame = kinds.index("frame")
    codecs = [m for k, m in v.events[:first_frame] if k == "text" and m["type"] == "codec"]
    assert len(codecs) == 1, v.texts
    c = codecs[0]
    # Constrained baseline (profile 66, constraint_set1): what every WebCodecs decoder takes.
    assert c["codec"].startswith("avc1.42") and c["format"] == "annexb", c
    assert (c["width"], c["height"], c["tier"]) == (426, 240, "h264-tiny15"), c
    first = v.frames[0][1]
    assert first["codec"] == H264 and first["flags"] & 1, first
    seqs = [h["seq"] for _, h, _ in v.frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap in seq: %r" % seqs[:40]
    assert all(h["codec"] == H264 and (h["width"], h["height"]) == (426, 240)
               for _, h, _ in v.frames)
    path = str(tmp_path / "tier.h264")
    v.write(path)
    code, err, info = decode(path)
    assert code == 0 and err == "", err[:2000]
    assert int(info["nb_read_frames"]) == len(v.frames), (info, len(v.frames))
    assert (info["width"], info["height"]) == (426, 240), info
    assert info["profile"] == "Constrained Baseline", info
    # The stream's statistics count it like any tier.
    tiers = {t["name"]: t for t in requests.get(srv.url("/api/v1/streams/c1"),
                                                timeout=5).json()["tiers"]}
    assert tiers["h264-tiny15"]["encoded"] >= len(v.frames), tiers["h264-tiny15"]


def test_a_joining_viewer_gets_a_keyframe_at_once_not_at_the_next_gop(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_720})

    async def main():
        warm = asyncio.ensure_future(Viewer().run(srv.ws_url("c1", "h264-thin10"), 5.0))
        await asyncio.sleep(1.5)
        late = []
        for _ in range(3):
            late.append(await Viewer().run(srv.ws_url("c1", "h264-thin10"), 0.7))
            await asyncio.sleep(0.2)
        return await warm, late

    warm, late = asyncio.run(main())
    keys = [h for _, h, _ in warm.frames if h["flags"] & 1]
    # The encoder's own keyframe interval is 4 s: every other keyframe the warm viewer saw
    # is one a late viewer asked for.
    assert len(keys) >= 1 + len(late) - 1, (len(keys), len(warm.frames))
    for v in late:
        assert v.frames, "a late viewer got nothing in 0.7 s: %r" % v.texts
        t, h, _ = v.frames[0]
        assert h["flags"] & 1, "a late viewer's first access unit is not a keyframe: %r" % h
        assert t - v.connected < 0.5, "first keyframe after %.0f ms" % ((t - v.connected) * 1e3)
    seqs = [h["seq"] for _, h, _ in warm.frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the warm viewer lost some"


def test_h264_tiers_are_refused_where_a_picture_is_expected(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_720})
    for path in ("/cameras/c1/mjpeg?tier=h264-thin10", "/cameras/c1/snapshot.jpg?tier=h264-low"):
        r = requests.get(srv.url(path), timeout=5, stream=True)
        assert r.status_code == 400, (path, r.status_code)
        assert "H.264" in r.json()["error"]["message"], r.text
    # An adaptive viewer that decodes no H.264 never gets it.
    v = asyncio.run(Viewer().run(srv.ws_url("c1", "auto"), 2.0))
    assert v.frames and all(h["codec"] == 1 for _, h, _ in v.frames)


def test_configured_h264_tier_is_checked(vigil_server, tmp_path):
    srv = vigil_server(config="""
tiers:
  - {size: low}
  - {name: cheap, size: thin, fps: 5, codec: h264, kbps: 80}
cameras:
  - {id: c1, url: "%s"}
""" % CAM_720)
    hello = asyncio.run(Viewer().run(srv.ws_url("c1", "cheap"), 1.5)).texts[0]
    assert [(t["name"], t["codec"]) for t in hello["tiers"]] == [("low", "jpeg"),
                                                                  ("cheap", "h264")], hello
    assert hello["tiers"][1]["max_kbps"] == 80
