"""Issue 15: Low-Latency HLS from the packet lane (src/outputs/hls.c): the playlist's LL-HLS
tags, fMP4 that FFmpeg decodes, segments that are their parts, blocking playlist reloads and
preload-hinted parts answered when the part arrives, bad directives refused, caching headers,
the caller's key carried into every URI and refused once revoked, a non-H.26x camera refused
with a reason, and the counters in the API and /metrics."""
import concurrent.futures
import json
import re
import statistics
import subprocess
import time

import pytest
import requests

import rtsp_sim
from hardening_lib import add_user, cli, finish, login, start_server

PLAYLIST = "/cameras/cam/hls/index.m3u8"
URI_RE = re.compile(r'URI="([^"]+)"')


@pytest.fixture(scope="module")
def h264_cam():
    p = rtsp_sim.start_sim_process(codec="h264", width=640, height=360, fps=30)
    yield p
    p.close()


def get(srv, path, timeout=15, **kw):
    return requests.get(srv.url(path), timeout=timeout, **kw)


def hint(text):
    m = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.m4s', text)
    assert m, text
    return int(m.group(1)), int(m.group(2))


def live_playlist(srv, seconds=0.0, query=""):
    """The playlist once the muxer has run `seconds` (the first request starts the camera)."""
    r = get(srv, PLAYLIST + query)
    assert r.status_code == 200, (r.status_code, r.text)
    if seconds:
        time.sleep(seconds)
        r = get(srv, PLAYLIST + query)
        assert r.status_code == 200, (r.status_code, r.text)
    return r


def test_playlist_is_ll_hls_and_ffmpeg_decodes_it(vigil_server, h264_cam):
    srv = vigil_server(cameras={"cam": h264_cam.url})
    t0 = time.monotonic()
    first = get(srv, PLAYLIST)
    took = time.monotonic() - t0
    assert first.status_code == 200, first.text
    # The camera was idle: the request is held until the first part exists, not refused.
    assert "#EXT-X-PART:" in first.text and took < 8, (took, first.text)
    assert first.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert "max-age=0" in first.headers["cache-control"], first.headers
    time.sleep(3.5)
    text = get(srv, PLAYLIST).text
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    for tag in ("#EXT-X-VERSION:", "#EXT-X-TARGETDURATION:", "#EXT-X-PART-INF:PART-TARGET=",
                "#EXT-X-MEDIA-SEQUENCE:", "#EXT-X-MAP:URI=", "#EXT-X-PROGRAM-DATE-TIME:",
                "#EXTINF:", "#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:TYPE=PART"):
        assert any(l.startswith(tag) for l in lines), (tag, text)
    control = next(l for l in lines if l.startswith("#EXT-X-SERVER-CONTROL:"))
    assert "CAN-BLOCK-RELOAD=YES" in control and "PART-HOLD-BACK=" in control, control
    part_target = float(re.search(r"PART-TARGET=([\d.]+)", text).group(1))
    durations = [float(d) for d in re.findall(r"#EXT-X-PART:DURATION=([\d.]+)", text)]
    assert durations and max(durations) <= part_target + 1e-6, (durations, part_target)
    # Parts are cut at about 200 ms. A frame the camera sends late (the simulator descheduled
    # on a loaded machine) makes its part longer, and the spec then wants PART-TARGET raised
    # to it for good: the target is 0.2 s, or the longest part when one ran over.
    assert part_target <= max(0.25, max(durations) + 1e-5), text
    assert 0.1 <= statistics.median(durations) <= 0.25, (durations, text)
    # The first part of a segment starts with its keyframe.
    first_part = next(l for l in lines if l.startswith("#EXT-X-PART:"))
    assert "INDEPENDENT=YES" in first_part, first_part
    # A complete segment is the concatenation of its parts, byte for byte.
    # (after 3.5 s there is one, and its parts are still listed: within 3 target durations)
    seg = re.search(r"^(seg(\d+)\.m4s\?v=\d+)$", text, re.M)
    assert seg and f'part{seg.group(2)}.0.m4s' in text, text
    parts = re.findall(r'URI="(part%s\.\d+\.m4s\?v=\d+)"' % seg.group(2), text)
    whole = get(srv, "/cameras/cam/hls/" + seg.group(1))
    assert whole.status_code == 200
    assert "immutable" in whole.headers["cache-control"] and whole.headers.get("etag")
    assert whole.content == b"".join(get(srv, "/cameras/cam/hls/" + p).content for p in parts)
    init = get(srv, "/cameras/cam/hls/" + URI_RE.search(text).group(1))
    assert init.status_code == 200 and init.content[4:8] == b"ftyp", init.content[:16]
    assert int(init.headers["content-length"]) == len(init.content)
    url = srv.url(PLAYLIST)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "stream=codec_name,codec_tag_string,width,height", "-of", "json", url],
                           capture_output=True, text=True, timeout=60)
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], stream["codec_tag_string"], stream["width"],
            stream["height"]) == ("h264", "avc1", 640, 360), probe.stdout
    dec = subprocess.run(["ffmpeg", "-v", "error", "-i", url, "-t", "3", "-f", "framemd5", "-"],
                         capture_output=True, text=True, timeout=60)
    frames = [l for l in dec.stdout.splitlines() if l and not l.startswith("#")]
    assert dec.returncode == 0 and dec.stderr.strip() == "", dec.stderr[-2000:]
    # 3 s at 30 fps is 90: all but a starved simulator's few
    assert len(frames) >= 60, len(frames)


def test_blocking_reload_and_preload_hint_answer_when_the_part_arrives(vigil_server, h264_cam):
    srv = vigil_server(cameras={"cam": h264_cam.url})
    text = live_playlist(srv, 1.5).text
    msn, part = hint(text)
    v = re.search(r"\?v=(\d+)", text).group(1)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        t0 = time.monotonic()
        held = pool.submit(get, srv, PLAYLIST + f"?_HLS_msn={msn}&_HLS_part={part}")
        part_req = pool.submit(get, srv, f"/cameras/cam/hls/part{msn}.{part}.m4s?v={v}")
        r = held.result(10)
        t_playlist = time.monotonic() - t0
        p = part_req.result(10)
        t_part = time.monotonic() - t0
    assert r.status_code == 200, r.text
    # Held until that part existed (at most a part and a frame away), then answered.
    assert f"part{msn}.{part}.m4s" in r.text and t_playlist < 1.0, (t_playlist, r.text)
    assert r.headers["cache-control"] == "public, max-age=1"
    assert p.status_code == 200 and t_part < 1.0, (p.status_code, t_part)
    assert p.content[4:8] == b"moof" and int(p.headers["content-length"]) == len(p.content)
    assert "immutable" in p.headers["cache-control"]
    # Far ahead of the live edge, or a part without its msn: 400 at once (spec 6.2.5.2).
    for q in (f"?_HLS_msn={msn + 3}", f"?_HLS_part=1", "?_HLS_msn=x", "?_HLS_msn=-1"):
        bad = get(srv, PLAYLIST + q, timeout=5)
        assert bad.status_code == 400, (q, bad.status_code, bad.text)
    # A name from another muxer (a stale epoch), a part long gone, a name that is none.
    for name, code in ((f"part{msn}.{part}.m4s?v=1", 404), ("part0.0.m4s?v=" + v, 200),
                       ("seg99999999.m4s", 404), ("part01.0.m4s", 404), ("../x", 404)):
        got = get(srv, "/cameras/cam/hls/" + name, timeout=5)
        assert got.status_code == code, (name, got.status_code, got.text)
    # The counters saw it.
    doc = get(srv, "/api/v1/streams/cam").json()
    # Two requests were sent ahead of their part; on a loaded machine one may arrive after it.
    assert doc["hls"]["requests"] >= 7 and doc["hls"]["blocked"] >= 1, doc["hls"]
    assert doc["hls"]["parts"] >= 5 and doc["hls"]["clients"] == 1, doc["hls"]
    metrics = get(srv, "/metrics").text
    m = re.search(r'^vigil_hls_parts_total\{camera="cam"\} (\d+)', metrics, re.M)
    assert m and int(m.group(1)) >= 5, metrics[-2000:]
    m = re.search(r'^vigil_hls_window_bytes\{camera="cam"\} (\d+)', metrics, re.M)
    assert m and int(m.group(1)) > 0, metrics[-2000:]


def test_non_h26x_camera_is_refused_with_a_reason(vigil_server):
    sim = rtsp_sim.start_sim_process(codec="mjpeg", width=320, height=240, fps=10)
    try:
        srv = vigil_server(cameras={"cam": sim.url})
        r = get(srv, PLAYLIST, timeout=15)
    finally:
        sim.close()
    assert r.status_code == 415 and "H.264" in r.json()["error"]["message"], (r.status_code,
                                                                              r.text)
    assert get(srv, "/cameras/nope/hls/index.m3u8").status_code == 404


def test_key_in_the_playlist_url_reaches_every_uri_and_revoking_it_stops_the_playlist(
        tmp_path, h264_cam):
    db = str(tmp_path / "hls.db")
    cli(db, "camera", "add", "id=cam", "url=" + h264_cam.url)
    add_user(db, "root", "admin", "root-hls-pw-1")
    fac, srv = start_server(tmp_path, db)
    try:
        root = login(srv, "root", "root-hls-pw-1")
        made = root.post(srv.url("/api/v1/keys"), json={"user_id": "root", "name": "nvr"}, timeout=10)
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        assert get(srv, PLAYLIST).status_code == 401
        text = live_playlist(srv, 1.0, "?token=" + key).text
        uris = URI_RE.findall(text)
        assert uris and all(("token=" + key) in u for u in uris), text
        one = next(u for u in uris if u.startswith("part"))
        assert get(srv, "/cameras/cam/hls/" + one).status_code == 200
        assert get(srv, "/cameras/cam/hls/" + one.split("?")[0]).status_code == 401
        gone = root.delete(srv.url("/api/v1/keys/" + made.json()["id"]), timeout=10)
        assert gone.status_code in (200, 204), gone.text
        deadline = time.monotonic() + 5
        status = None
        while time.monotonic() < deadline:
            status = get(srv, PLAYLIST + "?token=" + key, timeout=5).status_code
            if status == 401:
                break
            time.sleep(0.2)
        assert status == 401, status
    finally:
        finish(fac)


def test_h265_camera_is_served_as_hvc1(vigil_server):
    """Safari plays H.265 in fMP4 only as 'hvc1' (parameter sets in the sample entry)."""
    if not rtsp_sim.have_element("x265enc"):
        pytest.skip("GStreamer's x265enc is not installed: no H.265 simulator")
    sim = rtsp_sim.start_sim_process(codec="h265", width=640, height=360, fps=30)
    try:
        srv = vigil_server(cameras={"cam": sim.url})
        # FFmpeg's HLS reader plays complete segments only: wait for one (1 s or more).
        text = live_playlist(srv, 2.5).text
        assert "#EXTINF:" in text, text
        init = get(srv, "/cameras/cam/hls/" + URI_RE.search(text).group(1)).content
        assert b"hvc1" in init and b"hvcC" in init and b"avc1" not in init
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                "stream=codec_name,codec_tag_string,width", "-of", "json",
                                srv.url(PLAYLIST)], capture_output=True, text=True, timeout=60)
        streams = json.loads(probe.stdout or "{}").get("streams") or [{}]
        assert (streams[0].get("codec_name"), streams[0].get("codec_tag_string"),
                streams[0].get("width")) == ("hevc", "hvc1", 640), (probe.stdout, probe.stderr)
    finally:
        sim.close()


def test_aac_audio_is_passed_through(vigil_server):
    """A camera with AAC (RFC 3640): the init segment has an mp4a track with the camera's
    AudioSpecificConfig, ffprobe finds both streams on the playlist URL, and ffmpeg decodes
    4 s of each without an error and without holes (AAC-LC at 48 kHz: 46.9 frames/s)."""
    sim = rtsp_sim.start_sim_process(codec="h264", width=640, height=360, fps=30, audio="aac")
    try:
        srv = vigil_server(cameras={"cam": sim.url})
        text = live_playlist(srv, 2.5).text
        assert "#EXTINF:" in text, text
        init = get(srv, "/cameras/cam/hls/" + URI_RE.search(text).group(1)).content
        # DecoderSpecificInfo (tag 5, 2 bytes): the simulator's config=1190 (LC, 48 kHz, 2 ch).
        assert b"mp4a" in init and b"esds" in init and b"\x05\x02\x11\x90" in init, init
        url = srv.url(PLAYLIST)
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                "stream=codec_name,codec_tag_string,sample_rate,channels,width",
                                "-of", "json", url], capture_output=True, text=True, timeout=60)
        streams = {s["codec_name"]: s for s in json.loads(probe.stdout or "{}").get("streams", [])}
        assert set(streams) == {"h264", "aac"}, (probe.stdout, probe.stderr)
        assert (streams["aac"]["codec_tag_string"], streams["aac"]["sample_rate"],
                streams["aac"]["channels"]) == ("mp4a", "48000", 2), streams["aac"]
        assert streams["h264"]["width"] == 640, streams["h264"]
        dec = subprocess.run(["ffmpeg", "-v", "error", "-i", url, "-t", "4", "-f", "framemd5",
                              "-"], capture_output=True, text=True, timeout=60)
        assert dec.returncode == 0 and dec.stderr.strip() == "", dec.stderr[-2000:]
        frames = [l.split(",")[0].strip() for l in dec.stdout.splitlines()
                  if l and not l.startswith("#")]
        video, audio = frames.count("0"), frames.count("1")
        assert video >= 110 and audio >= 180, (video, audio)  # 4 s: 120 and 187.5
        doc = get(srv, "/api/v1/streams/cam").json()
        assert doc["audio"]["codec"] == "aac" and doc["audio"]["packets_in"] > 100, doc["audio"]
    finally:
        sim.close()
