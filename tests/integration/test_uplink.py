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

    def between(self, t0, t1):
        """The pictures that arrived from t0 to t1 (monotonic)."""
        return [p for p in list(self.pictures) if t0 <= p[0] < t1]

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
    def start_sim(self, width=320, height=240, fps=15, gop=None):
        """The RTSP simulator in the edge namespace: H.264 at width x height and fps, a
        keyframe every gop frames (None: the simulator's two seconds)."""
        with self.edge.inside():
            sim = rtsp_sim.start_sim_process(width=width, height=height, fps=fps, gop=gop)
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

    def start_central_and_north(self, sim):
        """The central (a database with an admin key; listening on CENTRAL_ADDR) and the edge
        north (camera door: sim, an uplink to the central), once the central lists north-door
        with its uplink URL: (central, its key, edge)."""
        db, key = make_db(self.tmp, "central")
        central = self.start_vigil(self.central, {}, ["--db", db], auth=True,
                                   listen=CENTRAL_ADDR)
        edge = self.start_edge(central, key, "north", sim)
        cam, appeared_s = self.wait_camera(central, "north-door", key, timeout=10)
        assert cam.get("url") == "uplink://north/door", "north-door on the central: %r" % cam
        print("north-door on the central %.1f s after the edge started" % appeared_s)
        return central, key, edge

    # Requests ---------------------------------------------------------------------------
    def get(self, srv, path, key=None):
        """GET path on srv, from inside its namespace, with key as Bearer token (None: none,
        for the edge, which runs without authentication)."""
        headers = {"Authorization": "Bearer " + key} if key else {}
        with srv.ns.inside():
            return requests.get(srv.url(path), headers=headers, timeout=5)

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

    def throttle(self, rate_kbit, burst_bytes, latency_ms):
        """Limits what the edge sends on its veth (toward the central) to rate_kbit (1000
        bit/s) with a token bucket (tbf; this kernel has no netem): burst_bytes of tokens, and
        a queue that drops what would wait longer than latency_ms. Returns the qdisc's line."""
        p = self.edge.run("tc", "qdisc", "add", "dev", EDGE_DEV, "root", "tbf", "rate",
                          "%dkbit" % rate_kbit, "burst", str(burst_bytes), "latency",
                          "%dms" % latency_ms)
        if p.returncode != 0:
            pytest.skip("cannot throttle the edge's veth with tbf: tc: %s" % p.stderr.strip())
        return self.qdisc()

    def qdisc(self):
        """The edge veth's qdisc and its counters (`tc -s qdisc show`), on one line."""
        p = self.edge.run("tc", "-s", "qdisc", "show", "dev", EDGE_DEV)
        return " ".join((p.stdout or p.stderr).split())

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


def assert_site_connected(lab, server, key, site, cameras):
    """GET /api/v1/uplinks on server lists site, connected, with exactly these cameras."""
    doc = lab.uplinks(server, key)
    found = [u for u in doc.get("uplinks", []) if u.get("site") == site]
    assert len(found) == 1 and found[0].get("connected") is True \
        and found[0].get("cameras") == cameras, \
        "GET /api/v1/uplinks does not list %s, connected, with cameras %r: %r" % (
            site, cameras, doc)

def test_an_edge_behind_nat_dials_out_and_the_central_serves_its_camera(lab):
    require_uplink_support()
    lab.build()
    lab.prove_no_inbound()
    sim = lab.start_sim()
    central, key, _ = lab.start_central_and_north(sim)
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
        assert_site_connected(lab, central, key, "north", ["door"])
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
    assert_site_connected(lab, central, central_key, "mid", ["north-door"])
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


def percentile(values, q):
    """The q-th percentile (0..100) of values, nearest rank; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100.0 * len(ordered))) - 1))]


def new_pictures(pictures):
    """The pictures that show the camera anew: their stamp bar decodes and was drawn later
    than that of every picture before them (one sent again is not counted)."""
    out, last = [], None
    for p in pictures:
        if p[3] is not None and (last is None or p[3] > last):
            out.append(p)
            last = p[3]
    return out


def delay_figures(pictures, seconds):
    """How many pictures, per second, and their delay from capture to arrival in ms: p50 and
    p95 by the stamp bar, cap_p50 by the header's capture_us."""
    ds = [(p[1] - p[3]) / 1000.0 for p in pictures]
    dc = [(p[1] - p[2]) / 1000.0 for p in pictures]
    return dict(n=len(pictures), per_s=len(pictures) / seconds, p50=percentile(ds, 50),
                p95=percentile(ds, 95), cap_p50=percentile(dc, 50))


def fmt_s(ms):
    return "-" if ms is None else "%.1f s" % (ms / 1000.0)


# A thin uplink: a quarter of what the camera sends. The simulator's H.264 at 640x360, 30 fps
# (x264enc's default rate control on its plain pictures; --kbps does not raise it) measured
# 620-730 kbit/s by the edge's input_kbps; the test checks it is well over the link.
# docs/uplink.md: after a skip up to a second of the camera is still sent, so one picture per
# GOP needs a link of at least the camera's rate x 1 s / GOP: half the camera here.
THIN_GOP_S = 2
THIN_RATE_KBIT = 340
THIN_PREMISE = 1.5  # the camera sends at least this many times the link
THIN_LATENCY_MS = 200
THIN_BURST_BYTES = 16 * 1024
# What may wait between the camera and the central once the edge thins, besides the tbf's own
# queue (docs/uplink.md "Thin links", docs/rtsp.md), in bytes:
THIN_BUFFERS = (
    144 << 10,  # the edge RTSP server's socket toward the channel, unsent: TCP_NOTSENT_LOWAT
                # 128 KiB and the write that passed it (measured 143,820 B)
    64 << 10,   # the channel's receive buffer: SO_RCVBUF 32 KiB, which Linux doubles
    64 << 10,   # the edge's queue toward the link, past which it stops reading the channel
    16 << 10,   # the uplink socket, unsent (TCP_NOTSENT_LOWAT)
)
THIN_SETTLE_S = 20.0  # from the viewer's start to the window's: see thin_delay_bound_s
THIN_WINDOW_S = 24.0
# How much more the last third's p50 may be than the first's: without thinning the delay
# grows 0.5 s a second, 8 s from the first third's middle to the last's (thin_delay_bound_s).
THIN_GROWTH_MARGIN_S = 5.0


def thin_delay_bound_s(camera_kbit, rate_kbit, latency_ms, burst_bytes):
    """The longest a picture takes from the camera to the central through an edge that thins,
    by the buffers on the way: the RTSP server's reader queue, at most 1 s of the camera
    (older, it skips, and sends what is queued), THIN_BUFFERS, and the tbf's queue (rate x
    latency + burst), all drained at the link's rate less 5 % of TCP/IP and WebSocket
    headers; plus 1 s for the central's decoding and JPEG on a loaded 2-core machine.

    Camera 680 kbit/s, link 340 kbit/s, 200 ms, 16 KiB: 85,000 + 294,912 + (8,500 + 16,384)
    = 404,796 B at 42,500 x 0.95 = 40,375 B/s: 10.0 s, bound 11.0 s.

    Until those buffers are full the edge relays everything, and a picture arriving T
    seconds after the viewer came was captured about T x 340/680 s in: its delay is 0.5 T,
    which reaches the measured 6-7 s at T = 12-14 s (THIN_SETTLE_S: 20 s). Without thinning
    it goes on: 16 to 22 s over the last third of the window (36-44 s), 8 s more than over
    the first (20-28 s)."""
    rate_bytes = rate_kbit * 1000 / 8.0
    one_second_of_camera = camera_kbit * 1000 / 8.0
    queued = (one_second_of_camera + sum(THIN_BUFFERS) + rate_bytes * latency_ms / 1000.0
              + burst_bytes)
    return queued / (rate_bytes * 0.95) + 1.0


# Not serial: it waits 44 s on a tbf link, and its bounds (a picture per 2 s GOP, delay
# under 11 s, measured 7.7-8.2 pictures/s and 3.2-4.4 s) leave room for a busy machine. Its
# own group, so that an xdist worker runs it beside, not after, the module's other tests.
@pytest.mark.xdist_group("test_uplink.py::thin")
def test_a_thin_uplink_carries_keyframes_not_a_growing_delay(lab):
    """docs/uplink.md, "Thin links": on a link thinner than the camera, the edge stops reading
    its RTSP server's side of the channel, that server skips its reader to the next keyframe,
    and the central gets the keyframes the link can carry, a picture every GOP, instead of a
    delay that grows. A `low` JPEG viewer at the central; each picture's delay is taken from
    the stamp bar the simulator drew in it, because the header's capture_us is the arrival
    time whenever the camera's clock puts the picture 10 s or more in the past
    (MAX_CLOCK_SKEW_US in src/sources/rtsp_source.c) and at the start of an RTSP session."""
    require_uplink_support()
    lab.build()
    # Thin before the edge dials, as a site's uplink is: its TCP never sees a fat pipe.
    lab.throttle(THIN_RATE_KBIT, THIN_BURST_BYTES, THIN_LATENCY_MS)
    sim = lab.start_sim(width=640, height=360, fps=30, gop=30 * THIN_GOP_S)
    central, key, edge = lab.start_central_and_north(sim)

    def north():
        sites = [u for u in lab.uplinks(central, key).get("uplinks", [])
                 if u.get("site") == "north"]
        return sites[0] if sites else {}

    viewer = Viewer(lab.central, lab.ws_url(central, "north-door", key),
                    duration=THIN_SETTLE_S + THIN_WINDOW_S + 60)
    t_view = time.monotonic()
    viewer.start()
    camera_kbps = []
    try:
        got = viewer.wait_pictures(1, timeout=20)
        assert got >= 1, "the central's viewer of north-door got no camera picture in 20 s " \
            "over a %d kbit/s link: %s" % (THIN_RATE_KBIT, viewer.describe())
        first_s = viewer.pictures[0][0] - t_view
        link_start = north()
        time.sleep(max(0.0, t_view + THIN_SETTLE_S - time.monotonic()))
        t0 = time.monotonic()
        for _ in range(int(THIN_WINDOW_S)):
            time.sleep(1.0)
            r = lab.get(edge, "/api/v1/streams/door")
            if r.status_code == 200 and r.json().get("input_kbps"):
                camera_kbps.append(r.json()["input_kbps"])
        t1 = time.monotonic()
        link_end = north()
        readers = [v for v in lab.get(edge, "/api/v1/viewers").json().get("viewers", [])
                   if v.get("output") == "rtsp"]
        uplink_socket = " ".join(lab.edge.run("ss", "-tin", "dst", CENTRAL_ADDR).stdout.split())
        qdisc = lab.qdisc()
        viewer_was_open = viewer.is_open()
    finally:
        viewer.stop()

    camera = statistics.median(camera_kbps) if camera_kbps else 0.0
    bound_s = thin_delay_bound_s(camera, THIN_RATE_KBIT, THIN_LATENCY_MS, THIN_BURST_BYTES)
    fresh = [p for p in new_pictures(viewer.pictures) if t0 <= p[0] < t1]
    third = (t1 - t0) / 3.0
    window = delay_figures(fresh, t1 - t0)
    first, middle, last = [delay_figures([p for p in fresh if a <= p[0] < a + third], third)
                           for a in (t0, t0 + third, t0 + 2 * third)]
    arrivals = [t0] + [p[0] for p in fresh] + [t1]
    figures = (
        "camera %.0f kbit/s (the edge's input_kbps, median of %d), link %d kbit/s (tbf, burst "
        "%d B, latency %d ms); first picture %.1f s after the viewer came; from %.0f to %.0f s: "
        "%d new pictures (%.2f/s; %d more not new), longest gap %.1f s; the edge's RTSP reader "
        "skipped %s times\n" % (
            camera, len(camera_kbps), THIN_RATE_KBIT, THIN_BURST_BYTES, THIN_LATENCY_MS,
            first_s, t0 - t_view, t1 - t_view, window["n"], window["per_s"],
            len(viewer.between(t0, t1)) - window["n"],
            max(b - a for a, b in zip(arrivals, arrivals[1:])),
            "/".join(str(v.get("skips")) for v in readers) or "(no reader)")
        + "".join("%s third: %d pictures (%.2f/s), delay p50 %s p95 %s (by capture_us: p50 "
                  "%s)\n" % (name, f["n"], f["per_s"], fmt_s(f["p50"]), fmt_s(f["p95"]),
                             fmt_s(f["cap_p50"]))
                  for name, f in (("first", first), ("middle", middle), ("last", last)))
        + "bound for the last third's p50: %.1f s; the edge's RTSP reader: %r\n" % (
            bound_s, readers)
        + "the site at the central: %r, then %r\nthe edge's uplink socket: %s\n%s\n"
          "the edge's uplink log:\n%s" % (
              link_start, link_end, uplink_socket, qdisc,
              "\n".join(line for line in edge.log.splitlines() if "uplink:" in line)))
    print(figures)

    assert camera >= THIN_PREMISE * THIN_RATE_KBIT, "the simulator sent %.0f kbit/s, not " \
        "%.1f times the %d kbit/s link or more: no thin link to test\n%s" % (
            camera, THIN_PREMISE, THIN_RATE_KBIT, figures)
    assert viewer_was_open, "the central's viewer was disconnected: %s\n%s" % (
        viewer.describe(), figures)
    # The same link and channel throughout: a thin link is not a dead one.
    assert link_end.get("since_us") == link_start.get("since_us") \
        and link_end.get("channels_opened") == link_start.get("channels_opened"), \
        "the uplink was dropped and dialled again (or the channel opened again) while the " \
        "viewer watched\n%s" % figures
    # The thinning is the RTSP server's skipping: it must have happened.
    assert readers and all((v.get("skips") or 0) > 0 for v in readers), \
        "the edge's RTSP reader never skipped to a keyframe: nothing was thinned\n%s" % figures
    # A picture every GOP, over the window and over its last third.
    assert window["n"] >= int((t1 - t0) / THIN_GOP_S) \
        and last["n"] >= int(third / THIN_GOP_S), \
        "fewer new pictures than one per %d s GOP: %d over %.0f s, %d over the last %.0f s" \
        "\n%s" % (THIN_GOP_S, window["n"], t1 - t0, last["n"], third, figures)
    assert last["p50"] is not None and last["p50"] / 1000.0 < bound_s, \
        "the delay over the last third (p50 %s) is over the %.1f s the buffers allow\n%s" % (
            fmt_s(last["p50"]), bound_s, figures)
    assert first["p50"] is not None \
        and last["p50"] <= first["p50"] + THIN_GROWTH_MARGIN_S * 1000.0, \
        "the delay grew from %s (p50, first third) to %s (last third): by more than %.0f s" \
        "\n%s" % (fmt_s(first["p50"]), fmt_s(last["p50"]), THIN_GROWTH_MARGIN_S, figures)
