"""Issue 14 (groundwork): stopping a source or a media worker never waits on the loop. The
threads are told to stop (a flag and the interrupt), finish on their own, post their exit
back, and are joined on the loop when that exit is seen. A site dropping 30 cameras at once
must not freeze the viewers of the others: before, each stop joined its threads on the loop
(up to ~20 ms per test camera), and one viewer saw a gap of a second or more."""
import asyncio
import time

import pytest

from conftest import recv_hello, ws_connect
from test_store_live import db_server, live_of, sql, wait_for

CAM = "test://?width=160&height=120&fps=15&bitrate=100"
DROPPED = ["drop%02d" % i for i in range(30)]


def test_removing_30_running_cameras_does_not_stall_a_viewer_of_another(tmp_path,
                                                                         vigil_server):
    srv, db = db_server(vigil_server, tmp_path)
    rows = ",".join("('%s', '%s', '%s', 1)" % (c, c, CAM) for c in ["keep"] + DROPPED)
    sql(db, "BEGIN; INSERT INTO cameras (id, name, url, always_on) VALUES %s; COMMIT;" % rows)
    # the 30 always-on cameras run their sources (and media workers) without a viewer
    assert wait_for(lambda: all((live_of(srv, c) or {}).get("state") == "live"
                                for c in DROPPED), 10), srv.log_tail()

    async def watch():
        arrivals = []
        t_delete = None
        async with ws_connect(srv.ws_url("keep")) as ws:
            await recv_hello(ws)
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.recv(), 5)
                if isinstance(msg, str):
                    continue
                arrivals.append(time.monotonic())
                if t_delete is None and len(arrivals) == 20:
                    # one transaction: the server sees all 30 go at once
                    await asyncio.get_running_loop().run_in_executor(None, lambda: sql(
                        db, "BEGIN; DELETE FROM cameras WHERE id LIKE 'drop%'; COMMIT;"))
                    t_delete = time.monotonic()
        return arrivals, t_delete

    arrivals, t_delete = asyncio.run(watch())
    assert t_delete is not None, (len(arrivals), srv.log_tail())
    assert wait_for(lambda: srv.get("/api/v1/cameras/drop29").status_code == 404, 5)
    after = [t for t in arrivals if t >= t_delete - 0.5]
    gaps = [b - a for a, b in zip(after, after[1:])]
    worst = max(gaps)
    print("largest frame gap around the removal: %.0f ms (%d frames)" % (worst * 1000,
                                                                         len(after)))
    assert len(after) > 40, (len(after), srv.log_tail())
    assert worst < 0.2, ("largest frame gap %.0f ms while 30 cameras were removed" %
                         (worst * 1000), srv.log_tail())
    assert srv.alive()


# The loop-stall probe (/api/v1/status, core/looplag.c) reads the loop directly: a 2 ms timer's
# lateness is how long the loop could not serve anyone.
LAG_LIMIT_MS = 5.0
WATCHED = ["w%02d" % i for i in range(30)]


def loop_lag(srv):
    r = srv.get("/api/v1/status")
    assert r.status_code == 200, r.text
    return r.json()["loop_lag_ms"]


def stalls_over(lag, limit_ms):
    """Samples in the histogram's buckets above limit_ms (a bucket bound must be limit_ms)."""
    bounds = [b["le_ms"] for b in lag["buckets"]]
    assert limit_ms in bounds, bounds
    first = bounds.index(limit_ms) + 1
    return sum(b["count"] for b in lag["buckets"][first:])


def test_status_reports_the_loop_lag_as_its_document_says(vigil_server):
    srv = vigil_server()
    doc = srv.get("/api/v1/openapi.json").json()
    schema = doc["paths"]["/api/v1/status"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Status"}, schema
    required = doc["components"]["schemas"]["Status"]["properties"]["loop_lag_ms"]["required"]
    first = loop_lag(srv)
    time.sleep(0.5)
    lag = loop_lag(srv)
    assert set(required) <= set(lag), (required, lag)
    assert lag["interval_ms"] == 2 and lag["window_s"] == 10, lag
    # 0.5 s at one sample per 2 ms (and no more: a late firing is one sample, not several)
    assert 100 <= lag["samples"] - first["samples"] <= 260, (first["samples"], lag["samples"])
    assert sum(b["count"] for b in lag["buckets"]) == lag["samples"], lag
    assert lag["buckets"][-1]["le_ms"] is None
    assert 0 <= lag["mean"] <= lag["max_10s"] <= lag["max"], lag


# Runs alone (conftest.SERIAL): with the other core's tests beside it, descheduling alone
# stalls the loop for more than 5 ms. Alone on this machine the window read 3.3-4.6 ms.
def test_stopping_30_watched_streams_two_with_a_hung_teardown_never_stalls_the_loop(
        tmp_path, vigil_server):
    """Issue 14: 30 watched streams stop at once (their cameras deleted in one transaction),
    two of them RTSP cameras that stop answering mid-TEARDOWN; in the 10 s window that holds
    the stop the loop stalls over 5 ms at most three times (descheduling), never over 15 ms
    (over 20 ms, by the histogram, where the window's worst predates the stop)."""
    import rtsp_sim
    from rtsp_hang import TeardownHangProxy
    sim = rtsp_sim.start_sim_process(codec="h264", width=320, height=240, fps=15)
    proxies = [TeardownHangProxy(sim.url) for _ in range(2)]
    try:
        srv, db = db_server(vigil_server, tmp_path)
        urls = dict.fromkeys(WATCHED[:28], CAM)
        urls[WATCHED[28]], urls[WATCHED[29]] = proxies[0].url, proxies[1].url
        rows = ",".join("('%s', '%s', '%s', 0)" % (c, c, u) for c, u in urls.items())
        sql(db, "BEGIN; INSERT INTO cameras (id, name, url, always_on) VALUES %s; COMMIT;" % rows)
        result = asyncio.run(_watch_then_delete(srv, db))
        before, after, t_stop = result["before"], result["after"], result["t_stop"]
        print("loop lag before the stop: max_10s %.2f ms (%s samples); after: max_10s %.2f ms, "
              "%d stalls over %.0f ms, read %.1f s after the delete; teardowns swallowed %s"
              % (before["max_10s"], before["samples"], after["max_10s"],
                 stalls_over(after, LAG_LIMIT_MS) - stalls_over(before, LAG_LIMIT_MS),
                 LAG_LIMIT_MS, result["t_read"] - t_stop, [p.teardowns for p in proxies]))
        assert all(p.sessions >= 1 for p in proxies), srv.log_tail()
        # both RTSP sources really sent their TEARDOWN into a camera that then hung
        assert [p.teardowns for p in proxies] == [1, 1], srv.log_tail()
        assert result["watched"] == len(WATCHED), result
        # the window read right after the stop holds all of it (it is 10 s long)
        assert result["t_read"] - result["t_quiet"] < 9.5, result
        # A stop that waited on the loop shows as 30 stalls: a thread join cost up to 20 ms
        # per camera, a hung TEARDOWN seconds. The scheduler alone takes the loop's core for
        # a few ms now and then (8.3 ms seen in CI, 5.7 ms in a quiet window here, beside 30
        # decoding streams on two cores): a few such stalls are tolerated, never a long one.
        stalls = stalls_over(after, LAG_LIMIT_MS) - stalls_over(before, LAG_LIMIT_MS)
        # The 10 s window read after the stop also holds the seconds before it: a worst stall
        # no longer than the one read before the stop may be that very one (15.89 ms both
        # times in a CI run, 2026-12-07, with 2 stalls over 5 ms since the stop). The
        # histogram says whether the stop stalled the loop over 20 ms.
        long_stalls = stalls_over(after, 20.0) - stalls_over(before, 20.0)
        worst = after["max_10s"] if after["max_10s"] > before["max_10s"] else 0.0
        assert stalls <= 3 and long_stalls == 0 and worst < 3 * LAG_LIMIT_MS, (
            "the loop stalled %d times over %.0f ms, at most %.2f ms, while 30 streams stopped "
            "(before: %.2f ms)" % (stalls, LAG_LIMIT_MS, after["max_10s"], before["max_10s"]),
            srv.log_tail())
        assert srv.alive()
    finally:
        for p in proxies:
            p.close()
        sim.terminate()


async def _watch_then_delete(srv, db):
    loop = asyncio.get_running_loop()
    # the server sees the database's new rows within its poll
    known = await loop.run_in_executor(None, lambda: wait_for(lambda: all(
        live_of(srv, c) is not None for c in WATCHED), 10))
    assert known, srv.log_tail()
    viewers = []
    for cam in WATCHED:
        ws = await ws_connect(srv.ws_url(cam))
        await recv_hello(ws)
        viewers.append(ws)

    async def drain(ws):
        frames = 0
        try:
            while True:
                msg = await ws.recv()
                if not isinstance(msg, str):
                    frames += 1
        except Exception:  # closed by the server when its camera goes
            return frames

    tasks = [asyncio.ensure_future(drain(ws)) for ws in viewers]
    # every stream runs: a frame reached each viewer
    ok = await loop.run_in_executor(None, lambda: wait_for(lambda: all(
        (live_of(srv, c) or {}).get("state") == "live" for c in WATCHED), 20))
    assert ok, [(c, (live_of(srv, c) or {}).get("state")) for c in WATCHED]
    # Quiet: starting 30 streams and viewers may have stalled the loop; wait until that has
    # left the window, so that the window read after the stop measures the stop.
    t_quiet = time.monotonic()
    before = loop_lag(srv)
    while before["max_10s"] >= LAG_LIMIT_MS and time.monotonic() - t_quiet < 15:
        await asyncio.sleep(0.5)
        before = loop_lag(srv)
    t_quiet = time.monotonic()
    await loop.run_in_executor(None, lambda: sql(
        db, "BEGIN; DELETE FROM cameras WHERE id LIKE 'w%'; COMMIT;"))
    t_stop = time.monotonic()
    frames = await asyncio.wait_for(asyncio.gather(*tasks), 10)  # each closed when its camera went
    gone = await loop.run_in_executor(None, lambda: wait_for(
        lambda: srv.get("/api/v1/streams").json().get("streams") == [], 10))
    assert gone, srv.get("/api/v1/streams").text
    # the threads finish and are reaped after the streams are gone: let them
    await asyncio.sleep(1.5)
    after = loop_lag(srv)
    t_read = time.monotonic()
    for ws in viewers:
        await ws.close()
    return {"before": before, "after": after, "t_stop": t_stop, "t_quiet": t_quiet,
            "t_read": t_read, "watched": sum(1 for f in frames if f > 0)}
