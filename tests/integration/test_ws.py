"""WebSocket viewer: hello, binary frame header, JPEG payloads, frame rate, timestamps,
tier selection (?tier= and in-band subscribe), control-message errors."""
import asyncio
import json
import time

import websockets

from conftest import (CAM_720, CAM_SMALL, jpeg_size, parse_header, recv_hello, recv_json,
                      ws_connect)
from stamp import decode_stamp

STATES = {"idle", "connecting", "live", "stalled", "failed"}
LADDER_720 = {"micro1": (256, 144, 1), "micro5": (256, 144, 5), "micro10": (256, 144, 10),
              "micro15": (256, 144, 15),
              "tiny15": (426, 240, 15), "tiny": (426, 240, 30),
              "low": (568, 320, 30), "medium": (854, 480, 30), "native": (1280, 720, 30),
              "h264-thin10": (320, 180, 10), "h264-tiny15": (426, 240, 15),
              "h264-low": (568, 320, 30), "h264-medium": (854, 480, 30)}


def run(coro):
    return asyncio.run(coro)


def tier_index(tiers, name):
    for i, t in enumerate(tiers):
        if t["name"] == name:
            return i
    raise AssertionError("no tier %r in %r" % (name, tiers))


async def watch(url, warmup=1.0, window=4.0, first_timeout=4.0):
    """Connects, reads hello, then records every message. The measuring window starts
    `warmup` s after the first binary frame. Returns (hello, records, t_open, t_first,
    window_start, window_end)."""
    async with ws_connect(url) as ws:
        t_open = time.monotonic()
        hello = await recv_hello(ws)
        records = []
        t_first = None
        deadline = t_open + first_timeout
        for _ in range(100000):
            now = time.monotonic()
            if t_first is not None:
                deadline = t_first + warmup + window + 0.2
            left = deadline - now
            if left <= 0:
                break
            try:
                msg = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                break
            t = time.monotonic()
            records.append((t, time.time_ns() // 1000, msg))
            if t_first is None and isinstance(msg, bytes):
                t_first = t
    if t_first is None:
        return hello, records, t_open, None, None, None
    return hello, records, t_open, t_first, t_first + warmup, t_first + warmup + window


def check_stream(label, result, tier, tidx, errors):
    """Appends to errors everything wrong with one viewer's recording."""
    hello, records, t_open, t_first, w0, w1 = result
    if t_first is None:
        errors.append("%s: no binary frame within the first seconds (%d text messages: %r)"
                      % (label, len(records), [m for _, _, m in records][:5]))
        return
    if t_first - t_open > 3.0:
        errors.append("%s: first frame %.2f s after open (want < 3 s)" % (label, t_first - t_open))
    w, h, fps = tier["width"], tier["height"], tier["fps"]
    interval_us = 1e6 / fps
    frames = []
    for t, wall, msg in records:
        if isinstance(msg, bytes):
            frames.append((t, wall, parse_header(msg)))
    bad = []
    prev_seq = None
    undecoded = 0
    stamp_off = []
    lat = []
    for i, (t, wall, f) in enumerate(frames):
        where = "%s frame %d (seq %d)" % (label, i, f["seq"])
        if (f["version"], f["hdr_len"], f["codec"]) != (1, 32, 1):
            bad.append("%s: version/hdr_len/codec = %d/%d/%d, want 1/32/1"
                       % (where, f["version"], f["hdr_len"], f["codec"]))
        if not f["flags"] & 1:
            bad.append("%s: flags 0x%x, a JPEG is a keyframe (bit 0)" % (where, f["flags"]))
        if f["reserved"] != b"\0\0\0":
            bad.append("%s: reserved bytes %r" % (where, f["reserved"]))
        if (f["width"], f["height"]) != (w, h):
            bad.append("%s: header size %dx%d, tier is %dx%d" % (where, f["width"], f["height"], w, h))
        if f["tier_idx"] != tidx:
            bad.append("%s: header tier index %d, want %d" % (where, f["tier_idx"], tidx))
        if prev_seq is not None and not f["seq"] > prev_seq:
            bad.append("%s: seq %d after %d (not increasing)" % (where, f["seq"], prev_seq))
        prev_seq = f["seq"]
        try:
            size = jpeg_size(f["payload"])
        except Exception as e:  # noqa: BLE001
            bad.append("%s: payload is not a valid JPEG: %r" % (where, e))
            continue
        if size != (w, h):
            bad.append("%s: JPEG is %dx%d, tier is %dx%d" % (where, size[0], size[1], w, h))
        stamp = decode_stamp(f["payload"])
        if stamp is None:
            undecoded += 1
        else:
            stamp_off.append(stamp - f["capture_us"])
        lat.append(wall - f["capture_us"])
        if not f["capture_us"] <= f["ingest_us"] <= wall:
            bad.append("%s: want capture_us <= ingest_us <= receive time, got %d, %d, %d"
                       % (where, f["capture_us"], f["ingest_us"], wall))
    errors.extend(bad[:10])
    if len(bad) > 10:
        errors.append("%s: ... and %d more frame errors" % (label, len(bad) - 10))
    if undecoded:
        errors.append("%s: timestamp bar undecodable in %d of %d frames"
                      % (label, undecoded, len(frames)))
    far = [d for d in stamp_off if abs(d) > interval_us]
    if far:
        errors.append("%s: picture timestamp - capture_us beyond one interval (%.0f us) in "
                      "%d of %d frames, e.g. %r" % (label, interval_us, len(far), len(stamp_off),
                                                   far[:5]))
    badlat = [x for x in lat if not 0 < x < 1_000_000]
    if badlat:
        errors.append("%s: latency (receive - capture_us) outside (0, 1 s) in %d frames, e.g. "
                      "%r us" % (label, len(badlat), badlat[:5]))
    n = sum(1 for t, _, _ in frames if w0 <= t < w1)
    measured = n / (w1 - w0)
    # +-10%, or one frame for the slow tiers (a 1 fps tier shows 4 or 5 frames in 4 s,
    # depending on where the window falls)
    if abs(n - fps * (w1 - w0)) > max(0.10 * fps * (w1 - w0), 1.0):
        errors.append("%s: %.1f fps over %.1f s (%d frames), tier says %d fps (+-10%%)"
                      % (label, measured, w1 - w0, n, fps))


def test_hello_first_and_tiers_720p(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_720})
    cam = srv.camera("c1")

    async def go():
        async with ws_connect(srv.ws_url("c1")) as ws:
            return await recv_hello(ws)

    async def costs_after_hello():
        """The hello, then the first ladder message that gives the viewer's rung a cost."""
        async with ws_connect(srv.ws_url("c1")) as ws:
            hello = await recv_hello(ws)
            deadline = time.monotonic() + 9
            while time.monotonic() < deadline:
                m = await recv_json(ws, timeout=max(0.1, deadline - time.monotonic()))
                if m.get("type") == "tiers" and any(
                        t["name"] == hello["tier"] and t["kbps"] > 0 for t in m["tiers"]):
                    return hello, m
            return hello, None

    # The first viewer's hello comes before its rung was encoded; the measured costs follow
    # in a `tiers` message with the same ladder.
    first, later = run(costs_after_hello())
    hello = run(go())
    kbps = lambda msg: {t["name"]: t["kbps"] for t in msg["tiers"]}
    assert later is not None, "no tiers message with the measured costs within 9 s"
    # (`source` and `source-keys` join the list once the camera's keyframes are known)
    names = lambda msg: [t["name"] for t in msg["tiers"] if t.get("size") != "source"]
    assert names(later) == names(first), later
    assert kbps(first)[first["tier"]] == 0, first
    assert hello["camera"] == "c1"
    assert hello["tier"] == cam["default_tier"], (hello, cam)
    assert hello["state"] in STATES, hello
    # The same ladder; each tier's measured kbps may move between the two reads.
    def shape(tiers):
        return [{k: v for k, v in t.items() if k != "kbps"} for t in tiers
                if t.get("size") != "source"]  # listed once the camera's codec is known
    assert shape(hello["tiers"]) == shape(cam["tiers"]), "hello tiers differ from the listing"
    assert all(isinstance(t["kbps"], int) and t["kbps"] >= 0 for t in hello["tiers"]), hello
    got = {t["name"]: (t["width"], t["height"], t["fps"]) for t in hello["tiers"]
           if t.get("size") != "source"}
    assert got == LADDER_720, "default ladder of a 1280x720 30 fps camera"


def test_frames_per_tier_720p(vigil_server):
    """Three viewers at once (low, medium, native) of a 720p 30 fps camera: header fields,
    valid JPEGs of the tier's size, fps +-10%, picture timestamp == capture_us, latency."""
    srv = vigil_server(cameras={"c1": CAM_720})
    tiers = srv.tiers("c1")
    names = [t["name"] for t in tiers if t["codec"] == "jpeg"]  # H.264: test_h264_tiers.py

    async def go():
        return await asyncio.gather(*[watch(srv.ws_url("c1", n)) for n in names])

    results = run(go())
    errors = []
    for name, res in zip(names, results):
        hello = res[0]
        if hello.get("tier") != name:
            errors.append("%s: hello says tier %r" % (name, hello.get("tier")))
        texts = [m for _, _, m in res[1] if isinstance(m, str)]
        errs = [m for m in texts if json.loads(m).get("type") == "error"]
        if errs:
            errors.append("%s: unexpected error messages %r" % (name, errs))
        check_stream(name, res, tiers[names.index(name)], names.index(name), errors)
    assert not errors, "\n".join(errors)


def test_default_tier_vs_query_low(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    cam = srv.camera("c1")
    tiers = cam["tiers"]
    default = cam["default_tier"]
    assert default in [t["name"] for t in tiers], cam

    async def go():
        return await asyncio.gather(watch(srv.ws_url("c1"), warmup=0.5, window=2.0),
                                    watch(srv.ws_url("c1", "low"), warmup=0.5, window=2.0))

    res_default, res_low = run(go())
    errors = []
    assert res_default[0]["tier"] == default, res_default[0]
    assert res_low[0]["tier"] == "low", res_low[0]
    check_stream("default(%s)" % default, res_default, tiers[tier_index(tiers, default)],
                 tier_index(tiers, default), errors)
    check_stream("low", res_low, tiers[tier_index(tiers, "low")], tier_index(tiers, "low"), errors)
    assert not errors, "\n".join(errors)


def test_subscribe_switches_tier(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    tiers = srv.tiers("c1")
    low = tiers[tier_index(tiers, "low")]
    native = tiers[tier_index(tiers, "native")]
    assert (low["width"], low["height"]) != (native["width"], native["height"])

    async def go():
        async with ws_connect(srv.ws_url("c1", "low")) as ws:
            hello = await recv_hello(ws)
            before = []
            deadline = time.monotonic() + 5
            while len(before) < 3 and time.monotonic() < deadline:
                m = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
                if isinstance(m, bytes):
                    before.append(parse_header(m))
            await ws.send(json.dumps({"type": "subscribe", "tier": "native"}))
            t_sent = time.monotonic()
            subscribed = None
            after = []  # frames after the subscribed message
            texts = []
            deadline = t_sent + 5
            for _ in range(1000):
                left = deadline - time.monotonic()
                if left <= 0 or len(after) >= 8:
                    break
                try:
                    m = await asyncio.wait_for(ws.recv(), left)
                except asyncio.TimeoutError:
                    break
                if isinstance(m, str):
                    texts.append(json.loads(m))
                    if texts[-1].get("type") == "subscribed":
                        subscribed = (time.monotonic() - t_sent, texts[-1])
                elif subscribed is not None:
                    after.append(parse_header(m))
            return hello, before, subscribed, after, texts

    hello, before, subscribed, after, texts = run(go())
    assert len(before) == 3, "fewer than 3 frames before subscribing"
    assert all((f["width"], f["height"]) == (low["width"], low["height"]) for f in before)
    assert subscribed is not None, "no {'type':'subscribed'} within 5 s; text messages: %r" % texts
    assert subscribed[1].get("tier") == "native", subscribed
    assert subscribed[0] < 2.0, "subscribed took %.2f s" % subscribed[0]
    sizes = [(f["width"], f["height"]) for f in after]
    new = (native["width"], native["height"])
    assert new in sizes, "no native-size frame after subscribing: %r" % sizes
    first_new = sizes.index(new)
    assert first_new <= 2, "%d old-tier frames after 'subscribed' (at most 2 in flight/pending)" \
        % first_new
    assert all(s == new for s in sizes[first_new:]), "tier flapped after switch: %r" % sizes
    nidx = tier_index(tiers, "native")
    assert all(f["tier_idx"] == nidx for f in after[first_new:])
    for f in after[first_new:first_new + 3]:
        assert jpeg_size(f["payload"]) == new
    assert len(after) - first_new >= 3, "too few frames after the switch: %r" % sizes


def test_unknown_tier_in_query_gets_error_and_default(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    cam = srv.camera("c1")
    default = cam["tiers"][tier_index(cam["tiers"], cam["default_tier"])]

    async def go():
        async with ws_connect(srv.ws_url("c1", "bogus")) as ws:
            hello = await recv_hello(ws)
            err = await recv_json(ws, timeout=5)
            frames = []
            deadline = time.monotonic() + 5
            for _ in range(1000):
                if len(frames) >= 3 or time.monotonic() > deadline:
                    break
                try:
                    m = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if isinstance(m, bytes):
                    frames.append(parse_header(m))
            return hello, err, frames

    hello, err, frames = run(go())
    assert hello["tier"] == cam["default_tier"], hello
    assert err.get("type") == "error" and err.get("code") == "bad_request", err
    assert isinstance(err.get("message"), str) and err["message"], err
    assert len(frames) >= 3, "no frames at the default tier after an unknown ?tier="
    for f in frames:
        assert (f["width"], f["height"]) == (default["width"], default["height"])


async def _frames_after(ws, n=3, timeout=5.0):
    got, texts = 0, []
    deadline = time.monotonic() + timeout
    for _ in range(2000):
        left = deadline - time.monotonic()
        if left <= 0 or got >= n:
            break
        try:
            m = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            break
        if isinstance(m, bytes):
            got += 1
        else:
            texts.append(json.loads(m))
    return got, texts


def test_bad_control_messages_get_error_and_stay_open(vigil_server):
    """Unknown tier in subscribe, malformed JSON, unknown type, missing tier: each gets an
    error message; frames keep flowing; a later valid subscribe still works."""
    srv = vigil_server(cameras={"c1": CAM_SMALL})
    bad_msgs = [
        json.dumps({"type": "subscribe", "tier": "bogus"}),
        '{"type": "subscribe", "tier": ',   # malformed JSON
        "not json at all",
        json.dumps({"type": "no-such-type"}),
        json.dumps({"type": "subscribe"}),
        json.dumps({"type": "subscribe", "tier": 7}),
    ]

    async def go():
        out = []
        async with ws_connect(srv.ws_url("c1", "low")) as ws:
            await recv_hello(ws)
            for bad in bad_msgs:
                await ws.send(bad)
                err = await recv_json(ws, timeout=5)
                got, texts = await _frames_after(ws, 3, 5)
                out.append((bad, err, got, texts))
            await ws.send(json.dumps({"type": "subscribe", "tier": "native"}))
            sub = await recv_json(ws, timeout=5)
            return out, sub

    out, sub = run(go())
    errors = []
    for bad, err, got, texts in out:
        if err.get("type") != "error" or err.get("code") != "bad_request" or not err.get("message"):
            errors.append("%r -> %r (want an error message, code bad_request)" % (bad, err))
        if got < 3:
            errors.append("%r -> only %d frames afterwards" % (bad, got))
    assert not errors, "\n".join(errors)
    assert sub == {"type": "subscribed", "tier": "native"} or (
        sub.get("type") == "subscribed" and sub.get("tier") == "native"), sub


def _close_code(exc):
    rcvd = getattr(exc, "rcvd", None)
    return rcvd.code if rcvd is not None else None


def test_oversized_control_message_closes_1009(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})

    async def go():
        async with ws_connect(srv.ws_url("c1", "low")) as ws:
            await recv_hello(ws)
            await ws.send(json.dumps({"type": "subscribe", "tier": "x" * 8192}))
            deadline = time.monotonic() + 5
            for _ in range(1000):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(ws.recv(), left)
                except asyncio.TimeoutError:
                    break
                except websockets.ConnectionClosed as e:
                    return _close_code(e)
            return "still open"

    code = run(go())
    assert code == 1009, "8 KiB control message: want close 1009, got %r" % (code,)


def test_binary_client_message_closes_1003(vigil_server):
    srv = vigil_server(cameras={"c1": CAM_SMALL})

    async def go():
        async with ws_connect(srv.ws_url("c1", "low")) as ws:
            await recv_hello(ws)
            await ws.send(b"\x01\x02\x03 binary is not a JSON object")
            deadline = time.monotonic() + 5
            for _ in range(1000):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(ws.recv(), left)
                except asyncio.TimeoutError:
                    break
                except websockets.ConnectionClosed as e:
                    return _close_code(e)
            return "still open"

    code = run(go())
    assert code == 1003, "binary client message: want close 1003, got %r" % (code,)
