"""Issue 18: edge uplinks. An edge vigil that nothing can dial (behind NAT) dials out a
WebSocket to a central vigil (`--uplink ws://HOST:PORT --uplink-key KEY --uplink-site SITE`;
vigil adds the path /api/v1/uplink), and the central serves the edge's cameras as its own:
camera SITE-ID, url uplink://SITE/ID, pulled over the link only while someone watches. A cut
link shows its viewers the "camera offline" card, and the edge dials again (backoff) once the
link is back. A middle vigil can be both: the uplink server of an edge and the uplink client
of a central (two hops: camera mid-north-door).

The network, made by each test (netns.py), addresses in 198.18.0.0/15 (RFC 2544):

    central side (namespace)                  edge side (namespace)
    central vigil, mid vigil                  edge vigil, RTSP simulator (rtsp_sim.py)
    vgc 198.18.0.1/30  <------ veth ------>  vge 198.18.0.2/30
                                              nft: iifname "vge" ct state new drop

The edge side drops every new connection arriving on its veth: it can dial out, nothing can
dial in (the test proves both first). Cutting the link is `ip link set vge down`.

The test's own sockets enter a namespace with setns(2) on the calling thread
(Netns.inside()); servers forked from a thread inside one stay in it. Needs root, and nft or
iptables; skipped otherwise, with the reason. A vigil without --uplink fails these tests: they
are the acceptance test of the feature.
"""
import asyncio
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

import rtsp_sim
from conftest import VIGIL_BIN, _Factory, _wait_ready, now_us, parse_header, ws_connect
from hardening_lib import add_user, cli
from netns import NetnsFactory, drop_new_inbound, ip, veth_pair, wait_up, why_no_netns
from stamp import decode_stamp

CENTRAL_ADDR = "198.18.0.1"
EDGE_ADDR = "198.18.0.2"
CENTRAL_DEV = "vgc"
EDGE_DEV = "vge"
PREFIX = 30


def require_uplink_support():
    """Fails (never skips) where the vigil binary has no --uplink yet."""
    p = subprocess.run([VIGIL_BIN, "serve", "--help"], capture_output=True, text=True,
                       timeout=10)
    if "--uplink" not in p.stdout + p.stderr:
        pytest.fail("%s has no --uplink (`vigil serve --help` does not mention it): edge "
                    "uplinks (issue 18) are not built into this binary yet" % VIGIL_BIN,
                    pytrace=False)


def make_db(tmp_path, name):
    """A SQLite database with an admin, root, and an admin integration key: (path, key)."""
    db = str(tmp_path / (name + ".db"))
    add_user(db, "root", "admin", "root-uplink-pw-1")
    out = cli(db, "key", "add", "user=root", "role=admin").stdout
    keys = [w for w in out.split() if w.startswith("vk_")]
    assert len(keys) == 1, "`vigil key add` printed no key: %r" % out
    return db, keys[0]


def try_connect(host, port, timeout):
    """None when a TCP connection to (host, port) is made within timeout, else the error."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return None
    except OSError as e:
        return repr(e)


def listener(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(8)
    return s


class Viewer(threading.Thread):
    """A `low` JPEG WebSocket viewer whose socket is in namespace ns. Records each camera
    picture (codec 1, not a "camera offline" card: flags bit 1) as (monotonic arrival,
    wall-clock arrival us, capture_us of its header, the time drawn in its stamp bar or
    None), each card's arrival, and when and why the WebSocket ended (None while open)."""

    def __init__(self, ns, url, duration=90.0):
        super().__init__(daemon=True, name="uplink-viewer")
        self.ns, self.url = ns, url
        self.deadline = time.monotonic() + duration
        self.pictures = []
        self.cards = []
        self.stopping = threading.Event()
        self.ended = None

    def run(self):
        why = "?"
        try:
            with self.ns.inside():
                why = asyncio.run(self._watch())
        except Exception as e:  # reported by the test
            why = repr(e)
        self.ended = (time.monotonic(), why)

    async def _watch(self):
        async with ws_connect(self.url) as ws:
            for _ in range(1000000):
                if self.stopping.is_set():
                    return "stopped by the test"
                if time.monotonic() > self.deadline:
                    return "its deadline passed"
                try:
                    msg = await asyncio.wait_for(ws.recv(), 0.5)
                except asyncio.TimeoutError:
                    continue
                if not isinstance(msg, bytes):
                    continue
                h = parse_header(msg)
                if h["flags"] & 2:
                    self.cards.append(time.monotonic())
                elif h["codec"] == 1:
                    arrived = (time.monotonic(), now_us())
                    self.pictures.append(arrived + (h["capture_us"], decode_stamp(h["payload"])))
        return "loop bound hit"

    def is_open(self):
        return self.is_alive() and self.ended is None

    def wait_pictures(self, n, timeout):
        """Waits for n pictures; returns how many there are (fewer on timeout or if the
        WebSocket ended)."""
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.05) + 2):
            if len(self.pictures) >= n or self.ended is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return len(self.pictures)

    def first_picture_captured_after(self, wall_us):
        """The arrival (monotonic) of the first picture captured after wall_us, or None."""
        return next((p[0] for p in list(self.pictures) if p[2] > wall_us), None)

    def delays(self):
        """The median delay to arrival, in milliseconds, from capture_us (the header's) and
        from the time the simulator drew in the picture (its stamp bar), as text."""
        out = []
        for k, what in ((2, "capture_us"), (3, "the stamp bar")):
            ms = [(p[1] - p[k]) / 1000.0 for p in list(self.pictures) if p[k]]
            out.append("p50 %s from %s over %d pictures" % (
                "%.0f ms" % statistics.median(ms) if ms else "(none)", what, len(ms)))
        return "; ".join(out)

    def describe(self):
        return "%d pictures, %d offline cards, %s" % (
            len(self.pictures), len(self.cards),
            "open" if self.ended is None else "ended: %s" % (self.ended[1],))

    def stop(self):
        self.stopping.set()
        self.join(timeout=5)


class Lab:
    """The two namespaces, the veth between them, the firewall, and what runs there: the
    vigils (conftest's factory) and the simulators. close() stops them all and deletes the
    namespaces; it returns the problems (a vigil's non-zero exit status, leftovers killed)."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.spaces = NetnsFactory("vgup")
        self.vigils = _Factory(tmp_path)
        self.sims = []
        self.central = self.edge = None
        self.firewall = None

    def build(self):
        why = why_no_netns()
        if why:
            pytest.skip(why)
        self.central = self.spaces(lo_up=True)
        self.edge = self.spaces(lo_up=True)
        veth_pair(self.central, CENTRAL_DEV, "%s/%d" % (CENTRAL_ADDR, PREFIX),
                  self.edge, EDGE_DEV, "%s/%d" % (EDGE_ADDR, PREFIX))
        self.firewall = drop_new_inbound(self.edge, EDGE_DEV)

    def prove_no_inbound(self):
        """Nothing on the central side can connect to the edge side (a listener there that
        answers from inside its own namespace), while the edge side connects out."""
        with self.edge.inside():
            at_edge = listener(EDGE_ADDR)
        with self.central.inside():
            at_central = listener(CENTRAL_ADDR)
        try:
            edge_port, central_port = at_edge.getsockname()[1], at_central.getsockname()[1]
            t0 = time.monotonic()
            with self.central.inside():
                inbound = try_connect(EDGE_ADDR, edge_port, 1.5)
            inbound_s = time.monotonic() - t0
            with self.edge.inside():
                local = try_connect(EDGE_ADDR, edge_port, 1.5)
                outbound = try_connect(CENTRAL_ADDR, central_port, 1.5)
        finally:
            at_edge.close()
            at_central.close()
        assert local is None, "the edge's own test listener %s:%d does not answer inside its " \
            "namespace: %s" % (EDGE_ADDR, edge_port, local)
        assert inbound is not None, "a connection from the central side to %s:%d was made: " \
            "the edge is reachable from outside (%s)" % (EDGE_ADDR, edge_port, self.firewall)
        assert outbound is None, "the edge side cannot connect out to %s:%d: %s" % (
            CENTRAL_ADDR, central_port, outbound)
        print("no inbound route (%s): central -> %s:%d failed after %.1f s (%s); "
              "edge -> %s:%d connected" % (self.firewall, EDGE_ADDR, edge_port, inbound_s,
                                           inbound, CENTRAL_ADDR, central_port))

    # Processes --------------------------------------------------------------------------
    def start_sim(self):
        """The RTSP simulator (320x240 at 15 fps) in the edge namespace."""
        with self.edge.inside():
            sim = rtsp_sim.start_sim_process(width=320, height=240, fps=15)
        self.sims.append(sim)
        return sim

    def sim_sessions(self, sim):
        with self.edge.inside():  # its control port is the edge namespace's 127.0.0.1
            return sim.stats()["sessions"]

    def start_vigil(self, ns, cameras, extra_args, auth, listen=None):
        """A `vigil serve` in namespace ns, ready (its /healthz answered from inside ns).
        listen: the address to listen on instead of the factory's 127.0.0.1 (the last
        --listen wins); the server's URLs then use it."""
        args = list(extra_args)
        if listen is not None:
            args += ["--listen", listen + ":0"]
        with ns.inside():
            srv = self.vigils(cameras=cameras, extra_args=args, auth=auth, expect_ready=False)
            err = srv.wait_port()
            if err is None and listen is not None:
                if "listening on http://%s:%d/" % (listen, srv.port) not in srv.log:
                    err = "it does not listen on %s (the last --listen)" % listen
                srv.host = listen
                srv.base_url = "http://%s:%d" % (listen, srv.port)
            err = err or _wait_ready(srv)
        if err is not None:
            pytest.fail("vigil did not start in namespace %s: %s\nargs: %s\n--- log ---\n%s"
                        % (ns.name, err, " ".join(srv.args), srv.log_tail()), pytrace=False)
        srv.ns = ns
        return srv

    def start_edge(self, server, key, site, sim):
        """The edge vigil: camera door (the simulator), an uplink to server (in the central
        namespace) with key as site."""
        return self.start_vigil(self.edge, {"door": sim.url},
                                ["--uplink", "ws://%s:%d" % (server.host, server.port),
                                 "--uplink-key", key, "--uplink-site", site], auth=False)

    # Requests ---------------------------------------------------------------------------
    def get(self, srv, path, key):
        """GET path on srv, from inside its namespace, with key as Bearer token."""
        with srv.ns.inside():
            return requests.get(srv.url(path), headers={"Authorization": "Bearer " + key},
                                timeout=5)

    def ws_url(self, srv, cam, key):
        return "ws://%s:%d%s&token=%s" % (srv.host, srv.port, srv.ws_path(cam, "low"),
                                          urllib.parse.quote(key, safe=""))

    def wait_camera(self, srv, cam, key, timeout):
        """Polls GET /api/v1/cameras/{cam} until it answers 200: (record, seconds)."""
        t0 = time.monotonic()
        last = None
        for _ in range(int(timeout / 0.1) + 2):
            try:
                r = self.get(srv, "/api/v1/cameras/" + urllib.parse.quote(cam, safe=""), key)
                if r.status_code == 200:
                    return r.json(), time.monotonic() - t0
                last = "%d %s" % (r.status_code, r.text[:300])
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() - t0 > timeout:
                break
            time.sleep(0.1)
        pytest.fail("camera %s did not appear on %s within %.0f s (last answer: %s)"
                    % (cam, srv.base_url, timeout, last), pytrace=False)

    def uplinks(self, srv, key):
        r = self.get(srv, "/api/v1/uplinks", key)
        assert r.status_code == 200, "GET /api/v1/uplinks: %d %s" % (r.status_code, r.text)
        return r.json()

    def stream_state(self, srv, cam, key):
        """The stream's state (GET /api/v1/streams/{cam}), or what else it answered."""
        try:
            r = self.get(srv, "/api/v1/streams/" + urllib.parse.quote(cam, safe=""), key)
        except requests.RequestException as e:
            return "no answer: %r" % e
        if r.status_code != 200:
            return "status %d" % r.status_code
        return r.json().get("state")

    # The link ---------------------------------------------------------------------------
    def cut(self):
        ip("-n", self.edge.name, "link", "set", EDGE_DEV, "down")

    def restore(self):
        """Brings the edge's veth up again. IPv4 keeps the address across down and up and
        the kernel puts its prefix route back; whichever is missing is added here."""
        ip("-n", self.edge.name, "link", "set", EDGE_DEV, "up")
        wait_up(self.edge, EDGE_DEV)
        cidr = "%s/%d" % (EDGE_ADDR, PREFIX)
        if cidr not in ip("-n", self.edge.name, "-4", "addr", "show", "dev", EDGE_DEV).stdout:
            ip("-n", self.edge.name, "addr", "add", cidr, "dev", EDGE_DEV)
        if not ip("-n", self.edge.name, "-4", "route", "show", "dev", EDGE_DEV).stdout.strip():
            ip("-n", self.edge.name, "route", "add", "198.18.0.0/%d" % PREFIX, "dev", EDGE_DEV)

    # Teardown ---------------------------------------------------------------------------
    def close(self):
        problems = []
        try:
            problems += self.vigils.teardown()
        finally:
            try:
                for sim in self.sims:
                    sim.close()
            finally:
                killed = self.spaces.close()
        if killed:
            problems.append("still running in the test's namespaces, killed: %r" % killed)
        return problems


@pytest.fixture
def lab(tmp_path):
    """A Lab, built by the test (lab.build()) after it checked that vigil has --uplink. On
    teardown every vigil gets SIGTERM and must exit 0, and nothing is left running."""
    the_lab = Lab(tmp_path)
    yield the_lab
    problems = the_lab.close()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def test_an_edge_behind_nat_dials_out_and_the_central_serves_its_camera(lab):
    require_uplink_support()
    lab.build()
    lab.prove_no_inbound()
    sim = lab.start_sim()
    db, key = make_db(lab.tmp, "central")
    central = lab.start_vigil(lab.central, {}, ["--db", db], auth=True, listen=CENTRAL_ADDR)
    lab.start_edge(central, key, "north", sim)

    cam, appeared_s = lab.wait_camera(central, "north-door", key, timeout=10)
    assert cam.get("url") == "uplink://north/door", "north-door on the central: %r" % cam
    print("north-door on the central %.1f s after the edge started" % appeared_s)
    time.sleep(1.0)  # pulled on demand: nothing flows while nobody watches
    idle = lab.sim_sessions(sim)
    assert idle == 0, "the simulator has %d sessions before any viewer (the camera must be " \
        "pulled on demand)" % idle

    viewer = Viewer(lab.central, lab.ws_url(central, "north-door", key))
    t_view = time.monotonic()
    viewer.start()
    try:
        got = viewer.wait_pictures(10, timeout=15)
        first_s = viewer.pictures[0][0] - t_view if viewer.pictures else None
        assert got >= 10, "the central's viewer of north-door got %d camera pictures in 15 s " \
            "(wanted 10): %s" % (got, viewer.describe())
        sessions = lab.sim_sessions(sim)
        assert sessions == 1, "the simulator has %d sessions with one viewer on the central " \
            "(wanted 1)" % sessions
        doc = lab.uplinks(central, key)
        north = [u for u in doc.get("uplinks", []) if u.get("site") == "north"]
        assert len(north) == 1 and north[0].get("connected") is True \
            and north[0].get("cameras") == ["door"], \
            "GET /api/v1/uplinks on the central does not list north, connected, with camera " \
            "door: %r" % doc
        print("first picture %.1f s after the viewer connected; capture -> arrival: %s"
              % (first_s, viewer.delays()))

        # The link is cut: the central's viewer gets the offline card (or the stream is no
        # longer live), and stays connected.
        t_cut = time.monotonic()
        lab.cut()
        card_s = state_s = None
        state = "live"
        for _ in range(200):
            elapsed = time.monotonic() - t_cut
            seen = [s for s in (card_s, state_s) if s is not None]
            # Both, or 3 s more for the other one once one is seen (its time is printed).
            if elapsed > 20 or len(seen) == 2 or (seen and elapsed > min(seen) + 3):
                break
            cards = [t for t in list(viewer.cards) if t > t_cut]
            if card_s is None and cards:
                card_s = cards[0] - t_cut
            if state_s is None:
                state = lab.stream_state(central, "north-door", key)
                if state != "live":
                    state_s = time.monotonic() - t_cut
            time.sleep(0.2)
        assert card_s is not None or state_s is not None, \
            "20 s after the link was cut the central's viewer got no offline card and the " \
            "stream is still live: %s" % viewer.describe()
        assert viewer.is_open(), "the central's viewer was disconnected when the link was " \
            "cut (it must stay, shown the offline card): %s" % viewer.describe()
        print("link cut: offline card after %s, stream %r after %s" % (
            "%.1f s" % card_s if card_s is not None else "(none)", state,
            "%.1f s" % state_s if state_s is not None else "(still live)"))

        # The link is back: the edge dials again and the same viewer sees the camera.
        t_up, up_us = time.monotonic(), now_us()
        lab.restore()
        back = None
        for _ in range(300):
            back = viewer.first_picture_captured_after(up_us)
            if back is not None or time.monotonic() - t_up > 30 or not viewer.is_open():
                break
            time.sleep(0.1)
        assert viewer.is_open(), "the central's viewer was disconnected after the link was " \
            "restored (it must see the camera again on the same WebSocket): %s" \
            % viewer.describe()
        assert back is not None, "30 s after the link was restored the central's viewer " \
            "has had no camera picture captured since: %s" % viewer.describe()
        print("link restored: camera pictures again after %.1f s, on the same WebSocket"
              % (back - t_up))
    finally:
        viewer.stop()


def test_two_hops_edge_mid_central(lab):
    require_uplink_support()
    lab.build()
    lab.prove_no_inbound()
    sim = lab.start_sim()
    central_db, central_key = make_db(lab.tmp, "central")
    mid_db, mid_key = make_db(lab.tmp, "mid")
    central = lab.start_vigil(lab.central, {}, ["--db", central_db], auth=True,
                              listen=CENTRAL_ADDR)
    mid = lab.start_vigil(lab.central, {},
                          ["--db", mid_db, "--uplink", "ws://%s:%d" % (central.host, central.port),
                           "--uplink-key", central_key, "--uplink-site", "mid"],
                          auth=True, listen=CENTRAL_ADDR)
    lab.start_edge(mid, mid_key, "north", sim)

    cam, mid_s = lab.wait_camera(mid, "north-door", mid_key, timeout=10)
    assert cam.get("url") == "uplink://north/door", "north-door on mid: %r" % cam
    cam, central_s = lab.wait_camera(central, "mid-north-door", central_key, timeout=15)
    assert cam.get("url") == "uplink://mid/north-door", "mid-north-door on the central: %r" % cam
    print("north-door on mid after %.1f s, mid-north-door on the central %.1f s later"
          % (mid_s, central_s))
    doc = lab.uplinks(central, central_key)
    sites = [u for u in doc.get("uplinks", []) if u.get("site") == "mid"]
    assert len(sites) == 1 and sites[0].get("connected") is True \
        and sites[0].get("cameras") == ["north-door"], \
        "GET /api/v1/uplinks on the central does not list mid, connected, with camera " \
        "north-door: %r" % doc
    time.sleep(1.0)
    idle = lab.sim_sessions(sim)
    assert idle == 0, "the simulator has %d sessions before any viewer" % idle

    viewer = Viewer(lab.central, lab.ws_url(central, "mid-north-door", central_key))
    t_view = time.monotonic()
    viewer.start()
    try:
        got = viewer.wait_pictures(10, timeout=20)
        assert got >= 10, "the central's viewer of mid-north-door got %d camera pictures in " \
            "20 s (wanted 10): %s" % (got, viewer.describe())
        sessions = lab.sim_sessions(sim)
        assert sessions == 1, "the simulator has %d sessions with one viewer two hops away " \
            "(wanted 1)" % sessions
        print("two hops: first picture %.1f s after the viewer connected; capture -> "
              "arrival: %s" % (viewer.pictures[0][0] - t_view, viewer.delays()))
    finally:
        viewer.stop()
