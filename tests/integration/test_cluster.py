"""Issue 18: three vigil instances on one PostgreSQL database (pg_server.py) share the camera
of one GStreamer simulator: it has exactly one RTSP session whichever instances viewers
connect to, the first instance with a viewer holds the camera's lease and the others relay
its RTSP re-stream (authenticated as an instance), and when the holder is killed (-9) another
takes the camera over and the viewers of the survivors see frames again, without
reconnecting; a holder stopped cleanly (SIGTERM) hands the camera over at once. Free cameras
are placed by load, and an instance asked to drain through the API hands its cameras over
and exits."""
import asyncio
import os
import subprocess
import threading
import time

import requests

import rtsp_sim
from conftest import _Factory, parse_header, ws_connect
from hardening_lib import add_user, cli, start_server

def sim_sessions(sim):
    return sim.stats()["sessions"]


class Watcher:
    """A `low` JPEG viewer: the arrival times of its pictures from the camera (not the
    "camera offline" cards sent while it is down: flags bit 1)."""

    def __init__(self, url):
        self.url, self.times, self.captures = url, [], []

    async def run(self, stop):
        async with ws_connect(self.url) as ws:
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.recv(), 0.5)
                except asyncio.TimeoutError:
                    continue
                if isinstance(msg, bytes):
                    h = parse_header(msg)
                    if h["codec"] == 1 and not h["flags"] & 2:
                        self.times.append(time.monotonic())
                        self.captures.append((time.monotonic(), h["capture_us"]))

    def frames_between(self, t0, t1):
        return sum(1 for t in self.times if t0 <= t < t1)


def fresh_database(pg, tmp_path, name):
    """An empty database of the server and a master key the instances share: (URL, key
    path)."""
    pg.psql("DROP DATABASE IF EXISTS %s" % name, db="postgres")
    pg.psql("CREATE DATABASE %s" % name, db="postgres")
    key_path = tmp_path / "master.key"
    key_path.write_text(os.urandom(32).hex() + "\n")
    key_path.chmod(0o600)
    return pg.url.rsplit("/", 1)[0] + "/" + name, key_path


def admin_key(url, password):
    """An admin user and an admin integration key of the database at url: the key."""
    add_user(url, "root", "admin", password)
    return next(w for w in cli(url, "key", "add", "user=root", "role=admin").stdout.split()
                if w.startswith("vk_"))


def start_instances(tmp_path, url, key_path, names):
    """An instance vigil-NAME per name on the database at url: (factories, servers)."""
    facs, srvs = [], []
    for name in names:
        (tmp_path / name).mkdir()
        fac, srv = start_server(tmp_path / name, url,
                                extra_args=["--master-key-file", str(key_path),
                                            "--instance-id", "vigil-" + name])
        facs.append(fac)
        srvs.append(srv)
    return facs, srvs


def test_one_camera_session_for_three_instances_and_failover(pg, tmp_path):
    url, key_path = fresh_database(pg, tmp_path, "cluster")
    with rtsp_sim.start_sim_process(width=320, height=240, fps=15) as sim:
        cli(url, "camera", "add", "id=cam", "url=" + sim.url)
        key = admin_key(url, "root-cluster-pw-1")
        facs, srvs = start_instances(tmp_path, url, key_path, ("a", "b", "c"))
        try:
            # a gets the first viewer: it takes the lease and pulls the camera.
            async def scenario():
                stop = threading.Event()
                watchers = [Watcher(s.ws_url("cam", "low") + "&token=" + key) for s in srvs]
                tasks = [asyncio.ensure_future(watchers[0].run(stop))]
                await asyncio.sleep(2.0)
                tasks += [asyncio.ensure_future(w.run(stop)) for w in watchers[1:]]
                await asyncio.sleep(4.0)
                t_all = time.monotonic()
                sessions = await asyncio.to_thread(sim_sessions, sim)
                await asyncio.sleep(2.0)
                before = [w.frames_between(t_all, t_all + 2.0) for w in watchers]
                # The holder dies without a word.
                t_kill, kill_us = time.monotonic(), time.time_ns() // 1000
                srvs[0].proc.kill()
                await asyncio.sleep(10.0)
                after = [w.frames_between(t_kill + 8.0, t_kill + 10.0) for w in watchers[1:]]
                # the first picture captured after the kill, when it arrived
                first_back = [min((t - t_kill for t, cap in w.captures if cap > kill_us),
                                  default=None) for w in watchers[1:]]
                sessions_after = await asyncio.to_thread(sim_sessions, sim)
                # A clean exit (SIGTERM) of the new holder hands the camera over at once: it
                # leaves the database (its lease free) before it closes its listeners.
                holders = [i for i in (1, 2) if "this instance holds its lease" in srvs[i].log]
                holder = holders[0]
                other = 3 - holder
                t_term, term_us = time.monotonic(), time.time_ns() // 1000
                srvs[holder].proc.terminate()
                await asyncio.sleep(4.0)
                handed = min((t - t_term for t, cap in watchers[other].captures if cap > term_us),
                             default=None)
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                return (sessions, before, after, first_back, sessions_after, holders, holder,
                        handed)

            (sessions, before, after, first_back, sessions_after, holders, holder,
             handed) = asyncio.run(scenario())
            logs = "\n".join(s.log_tail(3000) for s in srvs)
            assert sessions == 1, (sessions, logs)
            assert all(n >= 10 for n in before), (before, logs)  # 15 fps for 2 s, each
            assert "this instance holds its lease and pulls it" in srvs[0].log, logs
            for s in srvs[1:]:
                assert "relayed from instance 'vigil-a'" in s.log, logs
            # Back within 10 s of the kill, on the same sockets, from one new session.
            assert all(fb is not None and fb < 10.0 for fb in first_back), (first_back, logs)
            assert all(n >= 10 for n in after), (after, logs)
            assert sessions_after == 1, (sessions_after, logs)
            assert len(holders) == 1, logs  # one survivor took it over, the other relays it
            print("failover: first frame again %.1f / %.1f s after the kill" % tuple(first_back))
            assert "left; its camera leases are free" in srvs[holder].log, logs
            assert handed is not None and handed < 2.5, (handed, logs)
            print("handover on SIGTERM: first frame %.1f s after it" % handed)
            # A relay's credential is the instances' own: a made-up one is refused.
            survivor = srvs[3 - holder]  # the one still running
            bogus = "rtsp://instance:vi_%s@127.0.0.1:%d/cameras/cam" % ("0" * 64,
                                                                        survivor.rtsp_port)
            p = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", bogus],
                               capture_output=True, text=True, timeout=30)
            assert p.returncode != 0 and "401" in p.stderr, p.stderr
        finally:
            srvs[0].exit_checked = True
            for fac in facs:
                problems = fac.teardown()
                assert not problems, problems


def test_free_cameras_are_placed_by_load_and_a_drain_hands_them_over(pg, tmp_path):
    """Two instances: four cameras all asked for through vigil-a are spread by load (a keeps
    a camera until vigil-b holds VG_PLACE_MARGIN = 2 fewer leases: a, a, b, a), the viewers of
    the one placed on b get it through b's re-stream; POST /api/v1/instances/vigil-b/drain
    (made on a) makes b hand it over and exit cleanly, and the viewer sees frames again."""
    url, key_path = fresh_database(pg, tmp_path, "placement")
    cams = ["p1", "p2", "p3", "p4"]
    for cam in cams:
        cli(url, "camera", "add", "id=" + cam, "url=test://?width=320&height=240&fps=10")
    key = admin_key(url, "root-placement-pw-1")
    facs, srvs = start_instances(tmp_path, url, key_path, ("a", "b"))
    a, b = srvs
    auth = {"Authorization": "Bearer " + key}
    try:
        async def scenario():
            stop = threading.Event()
            watchers = {c: Watcher(a.ws_url(c, "low") + "&token=" + key) for c in cams}
            tasks = []
            for c in cams:  # one at a time: each placement sees the leases before it
                tasks.append(asyncio.ensure_future(watchers[c].run(stop)))
                await asyncio.sleep(1.5)
            await asyncio.sleep(2.0)
            t0 = time.monotonic()
            leases = {i["id"]: i["leases"] for i in (await asyncio.to_thread(
                a.get, "/api/v1/instances", headers=auth)).json()["instances"]}
            await asyncio.sleep(2.0)
            before = {c: w.frames_between(t0, t0 + 2.0) for c, w in watchers.items()}
            unknown = (await asyncio.to_thread(
                requests.post, a.url("/api/v1/instances/nope/drain"), headers=auth,
                timeout=10)).status_code
            t_drain = time.monotonic()
            asked = await asyncio.to_thread(requests.post,
                                            a.url("/api/v1/instances/vigil-b/drain"),
                                            headers=auth, timeout=10)
            try:
                exit_status = await asyncio.to_thread(b.proc.wait, 15)
            except subprocess.TimeoutExpired:
                exit_status = None
            t_exit, exit_us = time.monotonic(), time.time_ns() // 1000
            await asyncio.sleep(4.0)
            # the first picture captured after b was gone: a pulls p3 itself now
            back = min((t - t_exit for t, cap in watchers["p3"].captures if cap > exit_us),
                       default=None)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            return leases, before, unknown, asked, exit_status, t_exit - t_drain, back

        leases, before, unknown, asked, exit_status, exited_after, back = asyncio.run(scenario())
        logs = "\n".join(s.log_tail(3000) for s in srvs)
        assert leases == {"vigil-a": 3, "vigil-b": 1}, (leases, logs)
        assert "camera=p3" in b.log and "this instance holds its lease and pulls it" in b.log, logs
        assert all(n >= 10 for n in before.values()), (before, logs)  # 10 fps for 2 s
        assert unknown == 404
        assert asked.status_code == 202 and asked.json() == {"id": "vigil-b", "draining": True}, \
            (asked.status_code, asked.text)
        assert exit_status == 0 and exited_after < 5.0, (exit_status, exited_after, logs)
        assert "drain asked through the API" in b.log, logs
        assert back is not None and back < 5.0, (back, logs)
        print("drain: vigil-b exited %.1f s after the call; p3 back %.1f s after the exit"
              % (exited_after, back))
    finally:
        srvs[1].exit_checked = True
        for fac in facs:
            problems = fac.teardown()
            assert not problems, problems


def test_an_edge_site_on_one_instance_is_watched_through_another(pg, tmp_path):
    """An edge dials vigil-a only (its uplink reached one instance behind a load balancer);
    a viewer on vigil-b watches the edge's camera: b finds in the database that a has the
    site and relays a's re-stream, one session on the edge's camera."""
    url, key_path = fresh_database(pg, tmp_path, "sites")
    key = admin_key(url, "root-sites-pw-1")
    facs, srvs = start_instances(tmp_path, url, key_path, ("a", "b"))
    a, b = srvs
    (tmp_path / "edge").mkdir()
    edge_fac = _Factory(tmp_path / "edge")
    facs.append(edge_fac)
    edge = edge_fac(cameras={"door": "test://?width=320&height=240&fps=10"}, extra_args=[
        "--uplink", "ws://127.0.0.1:%d" % a.port, "--uplink-key", key, "--uplink-site",
        "north"])
    auth = {"Authorization": "Bearer " + key}
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and \
                b.get("/api/v1/streams/north-door", headers=auth).status_code != 200:
            time.sleep(0.2)

        async def scenario():
            stop = threading.Event()
            w = Watcher(b.ws_url("north-door", "low") + "&token=" + key)
            task = asyncio.ensure_future(w.run(stop))
            await asyncio.sleep(6.0)
            t0 = time.monotonic()
            await asyncio.sleep(3.0)
            n = w.frames_between(t0, t0 + 3.0)
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
            return n

        frames = asyncio.run(scenario())
        readers = [v for v in edge.get("/api/v1/viewers").json()["viewers"]
                   if v["output"] == "rtsp"]
        logs = "\n".join(s.log_tail(3000) for s in (a, b, edge))
        assert frames >= 20, (frames, logs)  # 10 fps for 3 s
        assert "relayed from instance 'vigil-a', which has its uplink" in b.log, logs
        assert len(readers) == 1, (readers, logs)  # the edge's camera read once, by a
    finally:
        for fac in facs:
            problems = fac.teardown()
            assert not problems, problems
