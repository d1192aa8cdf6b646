"""Issue 4: adaptive tiers, per-viewer statistics, Prometheus metrics.

The throttled viewer is a raw-socket WebSocket client that reads at a fixed byte rate (a token
bucket, with a small receive buffer so the kernel cannot hide the throttle), so the server
sees exactly what a viewer behind a slow link looks like: its frames pile up and get
replaced."""
import json
import re
import shutil
import subprocess
import time

import pytest

from conftest import RawViewer
import promparse

CAM_720_LIGHT = "test://?width=1280&height=720&fps=30"


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def wait_until(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def test_throttled_viewer_adapts_and_recovers_without_hurting_others(vigil_server):
    srv = vigil_server(cameras={"cam": CAM_720_LIGHT})
    ladder = [t["name"] for t in srv.tiers("cam") if t["codec"] == "jpeg"]
    assert ladder == ["micro1", "micro5", "micro10", "micro15", "tiny15", "tiny", "low", "medium",
                      "native"], ladder
    fast = RawViewer(srv, "cam", rcvbuf=None)
    slow = RawViewer(srv, "cam")
    fast.start()
    slow.start()
    try:
        # Both start at the default tier and climb to the top on a fast link.
        assert wait_until(lambda: fast.tier_at(time.monotonic()) == "native"
                          and slow.tier_at(time.monotonic()) == "native", 15), \
            (fast.tiers, slow.tiers)
        time.sleep(2)
        native_kbps = next(t for t in srv.get("/api/v1/streams/cam").json()["tiers"]
                           if t["name"] == "native")["kbps"]
        # A link with room for about 60% of the native tier.
        throttle = int(native_kbps * 1000 / 8 * 0.6)
        t_throttle = time.monotonic()
        slow.set_rate(throttle)
        # Within 10 s it is moved down, and told why.
        assert wait_until(lambda: slow.first_tier_change_after(
            t_throttle, lambda n: n != "native") is not None, 10), slow.tiers
        first_down = next(m for when, m in slow.texts
                          if when > t_throttle and m.get("type") == "tier")
        assert first_down["reason"] == "congested" and first_down["auto"] is True, first_down
        # (the policy's moves on link traces are unit-tested: tests/unit/test_adapt.c; here,
        # that the real server applies them)
        time.sleep(11)
        t_lift = time.monotonic()
        # Fluid again at the tier that fits (an occasional probe upward may cost a second).
        throttled_fps = slow.fps_series(t_lift - 7, t_lift)
        assert median(throttled_fps) >= 25, (throttled_fps, slow.tiers)
        fitting = slow.tier_most_of(t_lift - 7, t_lift)
        tiers_now = {t["name"]: t for t in srv.get("/api/v1/streams/cam").json()["tiers"]}
        assert tiers_now[fitting]["kbps"] * 1000 / 8 < throttle, (fitting, tiers_now, throttle,
                                                                  slow.tiers)
        slow.set_rate(None)
        assert wait_until(lambda: slow.tier_at(time.monotonic()) == "native", 20), slow.tiers
        t_end = time.monotonic()
        # The unthrottled viewer never moved and kept its rate throughout.
        assert [name for when, name in fast.tiers if when > t_throttle] == [], fast.tiers
        fast_fps = fast.fps_series(t_throttle, t_end)
        assert median(fast_fps) >= 28 and min(fast_fps) >= 20, fast_fps
        # The adaptive moves were counted, and told in-band with a reason.
        reasons = [m.get("reason") for _, m in slow.texts if m.get("type") == "tier"]
        assert "congested" in reasons and "recovered" in reasons, reasons
        assert slow.error is None and fast.error is None, (slow.error, fast.error)
    finally:
        slow.stop()
        fast.stop()


def get_metrics(srv):
    r = srv.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    return r.text, promparse.parse(r.text)


def test_only_watched_tiers_are_encoded(vigil_server):
    srv = vigil_server(cameras={"cam": CAM_720_LIGHT})
    low = RawViewer(srv, "cam", tier="low", rcvbuf=None)
    native = RawViewer(srv, "cam", tier="native", rcvbuf=None)
    low.start()
    native.start()
    try:
        assert wait_until(lambda: len(low.frames) > 30 and len(native.frames) > 30, 10)
        _, m1 = get_metrics(srv)
        time.sleep(2)
        _, m2 = get_metrics(srv)
        enc = lambda m, t: promparse.value(m, "vigil_tier_encoded_frames_total", camera="cam",
                                           tier=t)
        act = lambda m, t: promparse.value(m, "vigil_tier_active", camera="cam", tier=t)
        assert act(m2, "low") == 1 and act(m2, "native") == 1 and act(m2, "medium") == 0
        # Encoded, at a rate a loaded machine keeps (30 fps is 60; CI saw 35 for native):
        # the point is which tiers run, not how fast (bench/ measures that).
        assert enc(m2, "low") - enc(m1, "low") >= 20
        assert enc(m2, "native") - enc(m1, "native") >= 20
        assert enc(m2, "medium") == enc(m1, "medium") == 0
        low.stop()
        time.sleep(1.5)
        _, m3 = get_metrics(srv)
        time.sleep(2)
        _, m4 = get_metrics(srv)
        assert act(m4, "low") == 0
        assert enc(m4, "low") == enc(m3, "low"), "low is still encoded with nobody on it"
        assert enc(m4, "native") - enc(m3, "native") >= 20
    finally:
        low.stop()
        native.stop()


def test_metrics_parse_strictly_and_move(vigil_server):
    srv = vigil_server(cameras={"cam": CAM_720_LIGHT, "other": "test://?width=320&height=240&fps=5"})
    text0, m0 = get_metrics(srv)
    promtool = shutil.which("promtool")
    if promtool:  # Debian's prometheus package; the strict parser above runs either way
        p = subprocess.run([promtool, "check", "metrics"], input=text0.encode(),
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
    assert promparse.value(m0, "vigil_cameras") == 2
    assert promparse.value(m0, "vigil_stream_state", camera="cam", state="idle") == 1
    v = RawViewer(srv, "cam", tier="medium", rcvbuf=None)
    v.start()
    try:
        assert wait_until(lambda: len(v.frames) >= 60, 10)
        text1, m1 = get_metrics(srv)
        time.sleep(1.5)
        text2, m2 = get_metrics(srv)
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=text2.encode(),
                               capture_output=True, timeout=30)
            assert p.returncode == 0, p.stdout + p.stderr
        lab = dict(camera="cam", tier="medium", output="ws")
        assert promparse.value(m2, "vigil_stream_state", camera="cam", state="live") == 1
        assert promparse.value(m2, "vigil_output_viewers", **lab) == 1
        f1 = promparse.value(m1, "vigil_output_frames_total", **lab)
        f2 = promparse.value(m2, "vigil_output_frames_total", **lab)
        assert f2 - f1 >= 30, (f1, f2)
        assert promparse.value(m2, "vigil_output_bytes_total", **lab) > \
            promparse.value(m1, "vigil_output_bytes_total", **lab)
        # Every frame sent is in the latency histogram, almost all well under a second.
        count = promparse.value(m2, "vigil_output_latency_seconds_count", **lab)
        assert count == f2, (count, f2)
        under = promparse.value(m2, "vigil_output_latency_seconds_bucket", le="0.25", **lab)
        assert under >= 0.95 * count, (under, count)
        enc_count = promparse.value(m2, "vigil_tier_encode_seconds_count", camera="cam",
                                    tier="medium")
        assert enc_count == promparse.value(m2, "vigil_tier_encoded_frames_total", camera="cam",
                                            tier="medium")
        assert promparse.value(m2, "vigil_stream_input_packets_total", camera="cam") > \
            promparse.value(m1, "vigil_stream_input_packets_total", camera="cam")
        # The loop-stall probe fires every 2 ms: over the 1.5 s between scrapes it counted
        # hundreds of samples, and the worst in the window is no more than the worst ever.
        lag1 = promparse.value(m1, "vigil_loop_lag_seconds_count")
        lag2 = promparse.value(m2, "vigil_loop_lag_seconds_count")
        assert lag2 - lag1 >= 200, (lag1, lag2)
        assert promparse.value(m2, "vigil_loop_lag_max_seconds") <= \
            promparse.value(m2, "vigil_loop_lag_max_since_start_seconds")
        # Labels stay bounded: no viewer ids, addresses or ports anywhere.
        assert "127.0.0.1" not in text2
        for fam in m2.values():
            for _, labels, _ in fam["samples"]:
                assert set(labels) <= {"camera", "tier", "output", "state", "le", "version",
                                       "reason"}, labels
    finally:
        v.stop()
    time.sleep(1.2)
    _, m3 = get_metrics(srv)
    assert promparse.value(m3, "vigil_output_viewers", camera="cam", tier="medium",
                           output="ws") == 0
    # Counters outlive the viewer.
    assert promparse.value(m3, "vigil_output_frames_total", camera="cam", tier="medium",
                           output="ws") >= f2


def test_strict_parser_rejects_what_it_should():
    ok = "# HELP a x\n# TYPE a counter\na 1\n"
    promparse.parse(ok)
    bad = [
        "a 1\n",                                                   # no TYPE
        "# HELP a x\n# TYPE a counter\na -1\n",                    # negative counter
        "# HELP a x\n# TYPE a gauge\na{b=\"\\x\"} 1\n",            # bad escape
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                  # repeated series
        "# HELP a x\n# TYPE a gauge\na 1",                          # no final newline
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 1\nh_count 1\n",                                    # not cumulative
    ]
    for text in bad:
        with pytest.raises(ValueError):
            promparse.parse(text)


def test_viewer_statistics_in_api_and_pushed(vigil_server):
    import asyncio
    from conftest import ws_connect
    srv = vigil_server(cameras={"cam": "test://?width=640&height=360&fps=15"})

    async def go():
        async with ws_connect(srv.ws_url("cam", "low"), ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "stats", "enable": True}))
            await ws.send(json.dumps({"type": "report", "fps": 14.5, "decode_ms": 2.5}))
            stats = []
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline and len(stats) < 4:
                msg = await asyncio.wait_for(ws.recv(), 5)
                if isinstance(msg, str) and json.loads(msg)["type"] == "stats":
                    stats.append(json.loads(msg))
            loop = asyncio.get_running_loop()
            api = await loop.run_in_executor(None, lambda: srv.get("/api/v1/streams/cam").json())
            viewers = await loop.run_in_executor(None, lambda: srv.get("/api/v1/viewers").json())
            await ws.send(json.dumps({"type": "report", "fps": "fast"}))
            err = None
            for _ in range(50):
                msg = await asyncio.wait_for(ws.recv(), 5)
                if isinstance(msg, str) and json.loads(msg)["type"] == "error":
                    err = json.loads(msg)
                    break
            return stats, api, viewers, err
    stats, api, viewers, err = asyncio.run(go())
    assert len(stats) >= 3, stats
    last = stats[-1]
    assert last["tier"] == "low" and last["auto"] is False
    assert 12 <= last["fps"] <= 17, last
    assert last["latency_ms"] >= 0 and last["rtt_ms"] > 0, last  # pings answered by the client
    assert last["stream"]["state"] == "live" and last["stream"]["input_fps"] > 0
    (mine,) = api["viewer_list"]
    assert mine["output"] == "ws" and mine["tier"] == "low"
    assert mine["remote"].startswith("127.0.0.1:")
    assert mine["client_fps"] == 14.5 and mine["client_decode_ms"] == 2.5
    assert mine["rtt_ms"] is not None and mine["latency_ms"] is not None
    assert mine["frames"] > 0 and mine["bytes"] > 0
    assert mine["congestion_restarts"] == 0  # only adaptation restarts a collapsed BBR
    low = next(t for t in api["tiers"] if t["name"] == "low")
    assert low["active"] and low["viewers"] == 1 and low["encode_ms_avg"] > 0
    assert [v["id"] for v in viewers["viewers"]] == [mine["id"]]
    assert err is not None and err["code"] == "bad_request", err
    assert srv.get("/api/v1/viewers?camera=nope").status_code == 404


def test_configured_ladder(vigil_server):
    config = """cameras:
  - id: cam
    url: "test://?width=1280&height=720&fps=30"
    tiers:
      - {size: native, quality: 70}
      - {name: thumb, size: low, fps: 5, quality: 50}
      - {size: medium, fps: 30}
"""
    srv = vigil_server(config=config)
    tiers = srv.tiers("cam")
    assert [t["name"] for t in tiers] == ["thumb", "medium", "native"], tiers
    thumb = tiers[0]
    assert (thumb["width"], thumb["height"], thumb["fps"], thumb["quality"]) == (568, 320, 5, 50)
    # A bad ladder is refused at start with a message naming the tier and the field.
    bad = vigil_server(config=config.replace("fps: 5", "fps: 500"), expect_ready=False)
    bad.proc.wait(10)
    bad.exit_checked = True
    assert bad.proc.returncode != 0
    # One line naming the file, its line and the field (issue 13).
    assert re.search(r"\.yaml:\d+: cameras\[0\]\.tiers\[\d\]\.fps", bad.log), bad.log


def test_substream_feeds_the_low_tiers(vigil_server):
    from rtsp_sim import start_sim_process
    main = start_sim_process(codec="h264", width=1280, height=720, fps=15)
    sub = start_sim_process(codec="h264", width=640, height=360, fps=15)
    try:
        config = """cameras:
  - id: cam
    url: "%s"
    substream_url: "%s"
""" % (main.url, sub.url)
        srv = vigil_server(config=config)

        def stream():
            return srv.get("/api/v1/streams/cam").json()

        low = RawViewer(srv, "cam", tier="low", rcvbuf=None)
        low.start()
        try:
            assert wait_until(lambda: len(low.frames) >= 15, 10), (low.frames, stream())
            s1 = stream()
            time.sleep(2)
            s2 = stream()
            assert s2["substream"]["state"] == "running", s2
            assert sub.session_count() == 1 and main.session_count() == 1
            # The low tier is decoded from the substream only: the main stream is pulled
            # (the camera is live) but not decoded.
            main_decoded = lambda s: s["frames_decoded"] - s["substream"]["frames_decoded"]
            assert s2["substream"]["frames_decoded"] - s1["substream"]["frames_decoded"] >= 20
            assert main_decoded(s2) == main_decoded(s1) == 0, (s1, s2)
            # A native viewer makes the main stream decode too.
            native = RawViewer(srv, "cam", tier="native", rcvbuf=None)
            native.start()
            try:
                assert wait_until(lambda: len(native.frames) >= 10, 10)
                assert main_decoded(stream()) > 0
            finally:
                native.stop()
            # The substream dies: the low tier comes from the main stream, without a gap
            # the viewer would notice for long.
            sub.kill()
            assert wait_until(lambda: stream()["substream"]["state"] == "failed", 15), stream()
            n = len(low.frames)
            assert wait_until(lambda: len(low.frames) >= n + 15, 10), stream()
            # The operator is told, with what happens next.
            assert "substream:" in srv.log and "come from the main stream" in srv.log, \
                srv.log_tail()
        finally:
            low.stop()
    finally:
        main.close()
        sub.close()
