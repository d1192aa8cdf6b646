"""Issue 5: the configuration database edited live — cameras added through the API, the CLI
and sqlite3 become viewable while the server runs; a URL changed with sqlite3 moves the
viewers to the new source without closing their WebSockets; deleting or disabling a camera
closes its viewers with the reason; rekey keeps cameras working; passwords stay out of the
API, the logs and every copy of the database."""
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import time

import pytest
import requests
import websockets

from conftest import VIGIL_BIN, count_frames_async, parse_header, recv_hello, ws_connect
from rtsp_sim import start_sim_process
from test_store_cli import assert_no_secret, secret_forms

PASSWORD = "pw-Lv7#live-store"
SMALL = "test://?width=320&height=240&fps=10"


def cli(db, *args, stdin=None, key=None):
    env = dict(os.environ, VIGIL_DB=db)
    env.pop("VIGIL_MASTER_KEY", None)
    if key:
        env["VIGIL_MASTER_KEY_FILE"] = key
    p = subprocess.run([VIGIL_BIN] + list(args), input=stdin, capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def sql(db, statement):
    """Another program writes the database: the sqlite3 command line, as an operator would."""
    p = subprocess.run(["sqlite3", "-bail", db, statement], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, (statement, p.stderr)
    return p.stdout


def live_of(srv, cam):
    r = srv.get("/api/v1/cameras/" + cam)
    return r.json().get("live") if r.status_code == 200 else None


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def db_server(vigil_server, tmp_path, key=None, cameras=None, log_level="info"):
    db = str(tmp_path / "live.db")
    args = ["--db", db, "--log-level", log_level]
    if key:
        args += ["--master-key-file", key]
    return vigil_server(cameras=cameras or {}, extra_args=args), db


def test_cameras_added_by_api_cli_and_sqlite3_are_viewable_at_once(tmp_path, vigil_server):
    srv, db = db_server(vigil_server, tmp_path)
    assert srv.get("/api/v1/cameras").json()["cameras"] == []

    # The API: the write is applied before the response, so the camera can be watched at once.
    r = requests.post(srv.url("/api/v1/cameras"), json={"id": "by-api", "url": SMALL}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["live"]["state"] == "idle", r.json()
    assert asyncio.run(count_frames_async(srv.ws_url("by-api"), 3, 10)) >= 3

    # The CLI, another process on the same file: picked up through data_version.
    t0 = time.monotonic()
    cli(db, "camera", "add", "id=by-cli", "url=" + SMALL)
    assert wait_for(lambda: live_of(srv, "by-cli"), 3), srv.log_tail()
    cli_s = time.monotonic() - t0

    # sqlite3, a program that knows nothing of vigil (times and defaults come from the schema).
    t0 = time.monotonic()
    sql(db, "INSERT INTO cameras (id, name, url) VALUES ('by-sql', 'Loading dock', '%s')" % SMALL)
    assert wait_for(lambda: live_of(srv, "by-sql"), 3), srv.log_tail()
    sql_s = time.monotonic() - t0
    for cam in ("by-cli", "by-sql"):
        assert asyncio.run(count_frames_async(srv.ws_url(cam), 3, 10)) >= 3, cam
    assert srv.get("/api/v1/cameras/by-sql").json()["name"] == "Loading dock"
    assert cli_s < 3 and sql_s < 3, (cli_s, sql_s)


def test_url_changed_with_sqlite3_moves_viewers_without_closing_them(tmp_path, vigil_server):
    """Two RTSP cameras of different sizes; the camera's URL is switched from one to the other
    under a connected WebSocket viewer of the native tier: the frames change size within 3 s,
    the socket stays open, and the old camera's session is torn down."""
    old = start_sim_process(codec="h264", width=320, height=240, fps=15)
    new = start_sim_process(codec="h264", width=480, height=272, fps=15)
    try:
        srv, db = db_server(vigil_server, tmp_path)
        cli(db, "camera", "add", "id=door", "url=" + old.url)
        assert wait_for(lambda: live_of(srv, "door"), 3)
        other = asyncio.run(count_frames_async(srv.ws_url("door"), 1, 10))
        assert other == 1

        async def watch():
            sizes = []
            async with ws_connect(srv.ws_url("door", "native")) as ws:
                await recv_hello(ws)
                t_change = None
                deadline = time.monotonic() + 25
                while time.monotonic() < deadline:
                    msg = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(msg, str):
                        continue
                    h = parse_header(msg)
                    sizes.append((time.monotonic(), h["width"], h["height"]))
                    if t_change is None and len(sizes) >= 10:
                        t_change = time.monotonic()
                        sql(db, "UPDATE cameras SET url = '%s' WHERE id = 'door'" % new.url)
                    if t_change and (h["width"], h["height"]) == (480, 272):
                        # a few more frames from the new source on the same socket
                        for _ in range(5):
                            m = await asyncio.wait_for(ws.recv(), 10)
                            if isinstance(m, bytes):
                                sizes.append((time.monotonic(),) + tuple(
                                    parse_header(m)[k] for k in ("width", "height")))
                        return sizes, t_change, ws.open
            return sizes, t_change, ws.open

        sizes, t_change, still_open = asyncio.run(watch())
        assert t_change is not None, sizes
        first_new = next((t for t, w, h in sizes if (w, h) == (480, 272)), None)
        assert first_new is not None, (sizes[-5:], srv.log_tail())
        assert first_new - t_change < 3.0, first_new - t_change
        assert still_open
        assert [(w, h) for _, w, h in sizes[:10]] == [(320, 240)] * 10
        assert sizes[-1][1:] == (480, 272)
        stream = srv.get("/api/v1/streams/door").json()
        assert stream["url"] == new.url and stream["state"] == "live", stream
        # the old camera was hung up on, not left to time out
        assert wait_for(lambda: old.stats().get("teardowns", 0) >= 1, 5), old.stats()
    finally:
        old.close()
        new.close()


def test_deleting_or_disabling_closes_viewers_with_the_reason(tmp_path, vigil_server):
    srv, db = db_server(vigil_server, tmp_path)
    for cam in ("gone", "off", "stays"):
        cli(db, "camera", "add", "id=" + cam, "url=" + SMALL)
    assert wait_for(lambda: live_of(srv, "stays"), 3)

    async def watch_until_closed(cam, act):
        async with ws_connect(srv.ws_url(cam)) as ws:
            await recv_hello(ws)
            frames = 0
            while frames < 3:
                frames += isinstance(await asyncio.wait_for(ws.recv(), 10), bytes)
            act()
            t0 = time.monotonic()
            try:
                for _ in range(1000):
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as e:
                return e.code, e.reason, time.monotonic() - t0
        raise AssertionError("still open")

    async def both():
        # a viewer of another camera must not notice
        keep = asyncio.ensure_future(count_frames_async(srv.ws_url("stays"), 40, 12))
        gone = await watch_until_closed("gone", lambda: sql(
            db, "DELETE FROM cameras WHERE id = 'gone'"))
        off = await watch_until_closed("off", lambda: requests.patch(
            srv.url("/api/v1/cameras/off"), json={"enabled": False}, timeout=10))
        return gone, off, await keep

    gone, off, kept = asyncio.run(both())
    assert gone[:2] == (4410, "camera deleted") and gone[2] < 3, gone
    assert off[:2] == (4410, "camera disabled") and off[2] < 1, off
    assert kept == 40
    assert srv.get("/api/v1/cameras/gone").status_code == 404
    assert srv.get("/api/v1/cameras/off").json()["live"] is None
    # An MJPEG viewer's response ends too.
    with requests.get(srv.mjpeg_url("stays"), stream=True, timeout=10) as r:
        it = r.iter_content(4096)
        next(it)
        sql(db, "DELETE FROM cameras WHERE id = 'stays'")
        t0 = time.monotonic()
        for _ in it:
            assert time.monotonic() - t0 < 5, "MJPEG response still going"
    assert time.monotonic() - t0 < 3
    assert srv.alive()


def test_rekey_keeps_every_camera_working_and_no_copy_reveals_the_password(tmp_path,
                                                                             vigil_server):
    sim = start_sim_process(codec="h264", width=320, height=240, fps=10, user="admin",
                            password=PASSWORD)
    try:
        db = str(tmp_path / "live.db")
        key, new_key = str(tmp_path / "old.key"), str(tmp_path / "new.key")
        cli(db, "keygen", "-o", key)
        cli(db, "keygen", "-o", new_key)
        srv, _ = db_server(vigil_server, tmp_path, key=key, log_level="debug")
        r = requests.post(srv.url("/api/v1/cameras"), timeout=10,
                          json={"id": "vault", "url": sim.url, "username": "admin",
                                "password": PASSWORD})
        assert r.status_code == 201, r.text
        assert r.json()["has_password"] is True and "password" not in r.json()
        assert asyncio.run(count_frames_async(srv.ws_url("vault"), 5, 15)) >= 5, srv.log_tail()
        for path in ("/api/v1/cameras", "/api/v1/cameras/vault", "/api/v1/streams",
                     "/api/v1/streams/vault", "/api/v1/viewers", "/metrics",
                     "/api/v1/openapi.json"):
            body = srv.get(path).content
            for form in secret_forms(PASSWORD):
                assert form not in body, (path, form)
        code, _ = srv.stop()
        srv.exit_checked = True
        assert code == 0
        for form in secret_forms(PASSWORD):
            assert form.decode() not in srv.log
        backup = str(tmp_path / "backup.db")
        sql(db, ".backup '%s'" % backup)
        for path in (db, db + "-wal", backup):
            if os.path.exists(path):
                assert_no_secret(path, PASSWORD)

        cli(db, "rekey", "--master-key-file", key, "--new-key-file", new_key)
        # the old key no longer opens it, and trying changes nothing
        before = open(db, "rb").read()
        bad = vigil_server(cameras={}, extra_args=["--db", db, "--master-key-file", key],
                           expect_ready=False)
        bad.proc.wait(15)
        bad.exit_checked = True
        assert bad.proc.returncode != 0 and "does not match" in bad.log, bad.log
        assert open(db, "rb").read() == before
        srv2 = vigil_server(cameras={}, extra_args=["--db", db, "--master-key-file", new_key])
        assert asyncio.run(count_frames_async(srv2.ws_url("vault"), 5, 15)) >= 5, srv2.log_tail()
    finally:
        sim.close()


def test_file_camera_credentials_stay_in_the_file(tmp_path, vigil_server):
    """A config-file camera whose URL carries credentials: the database keeps the URL without
    them and no password, and no master key is needed; the camera still dials with them."""
    sim = start_sim_process(codec="h264", width=320, height=240, fps=10, user="admin",
                            password=PASSWORD)
    try:
        url = sim.url.replace("rtsp://", "rtsp://admin:%s@" % PASSWORD.replace("#", "%23"))
        srv, db = db_server(vigil_server, tmp_path, cameras={"porch": url})
        assert asyncio.run(count_frames_async(srv.ws_url("porch"), 3, 15)) >= 3, srv.log_tail()
        rec = srv.get("/api/v1/cameras/porch").json()
        assert rec["owner"] == "file" and rec["url"] == sim.url and not rec["has_password"], rec
        assert_no_secret(db, PASSWORD)
        if os.path.exists(db + "-wal"):
            assert_no_secret(db + "-wal", PASSWORD)
        # the file owns it: the API refuses to edit it
        r = requests.patch(srv.url("/api/v1/cameras/porch"), json={"name": "x"}, timeout=10)
        assert r.status_code == 409 and r.json()["error"]["field"] == "owner", r.text
    finally:
        sim.close()


def test_a_database_of_1200_cameras_is_served_whole(tmp_path, vigil_server):
    """Issue 18 groundwork: the fleet reads the database a page at a time and builds any
    number of cameras (it served the first 256, the config file's cap, and read the first
    1,000). 1,200 on-demand cameras written by sqlite3 in one transaction: all are streams,
    the last by id plays, and none is pulled unwatched."""
    srv, db = db_server(vigil_server, tmp_path)
    rows = ",".join("('c%04d', 'c%04d', '%s', 0)" % (i, i, SMALL) for i in range(1200))
    sql(db, "BEGIN; INSERT INTO cameras (id, name, url, always_on) VALUES %s; COMMIT;" % rows)

    def streams():
        r = srv.get("/api/v1/streams")
        assert r.status_code == 200, r.text
        return r.json()["streams"]
    assert wait_for(lambda: len(streams()) == 1200, 15), (len(streams()), srv.log_tail())
    ids = sorted(s["id"] for s in streams())
    assert ids[0] == "c0000" and ids[-1] == "c1199", (ids[:2], ids[-2:])
    assert all(s["state"] == "idle" for s in streams()), srv.log_tail()
    assert asyncio.run(count_frames_async(srv.ws_url("c1199"), 3, 10)) >= 3
    assert srv.get("/api/v1/cameras").json()["total"] == 1200
    # and they go as they came
    sql(db, "BEGIN; DELETE FROM cameras WHERE id >= 'c0600'; COMMIT;")
    assert wait_for(lambda: len(streams()) == 600, 15), (len(streams()), srv.log_tail())
    assert srv.alive()
