"""Issue 17, item 5: ONVIF WS-Discovery (`vigil discover`, POST /api/v1/discover).

Each test makes its own network namespace (unique name, deleted whatever happens) whose
loopback carries multicast (`ip link set lo multicast on`, a 224.0.0.0/4 route on lo) and,
for --interface, the test address 198.18.7.1 (RFC 2544 benchmarking space). Inside it run the
fake ONVIF device of tests/fakes/fake_onvif.py (its HTTP server and its WS-Discovery socket on
239.255.255.250:3702), a rogue responder that answers every Probe with garbage, a
ProbeMatches for another probe and an oversized datagram, and vigil (`ip netns exec`). The
test's own sockets enter the namespace with setns(2) on the calling thread, so the fake runs
in-process and records what it received.

Needs root (to make namespaces); skipped otherwise, with the reason.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
from conftest import LISTENING_RE, VIGIL_BIN  # noqa: E402
from fake_onvif import FakeOnvif  # noqa: E402
from netns import NetnsFactory, ip  # noqa: E402

GROUP = "239.255.255.250"
TEST_ADDR = "198.18.7.1"


@pytest.fixture
def make_netns():
    """Factory: make_netns(multicast=True) -> Netns. Every namespace made is deleted at the
    end, after its processes are stopped."""
    with NetnsFactory("vgdisc") as new_netns:
        def make(multicast=True):
            ns = new_netns()
            if multicast:
                ip("-n", ns.name, "link", "set", "lo", "up")
                ip("-n", ns.name, "link", "set", "lo", "multicast", "on")
                ip("-n", ns.name, "route", "add", "224.0.0.0/4", "dev", "lo")
                ip("-n", ns.name, "addr", "add", TEST_ADDR + "/32", "dev", "lo")
            return ns

        yield make


class Rogue(threading.Thread):
    """Answers every Probe on the group with three bad datagrams; vigil must ignore them."""

    def __init__(self):
        super().__init__(daemon=True, name="rogue-wsd")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("", 3702))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             socket.inet_aton(GROUP) + socket.inet_aton("127.0.0.1"))
        self.sock.settimeout(0.1)
        self.stopping = threading.Event()
        self.answered = 0

    def run(self):
        fake = FakeOnvif()
        fake.endpoint = "urn:uuid:%s" % uuid.uuid4()
        fake.port = 1
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            good = fake.probe_reply(data)
            if good is None:
                continue
            other = good.replace("<wsa:RelatesTo>urn:uuid:", "<wsa:RelatesTo>urn:uuid:0", 1)
            for bad in (b"\x00garbage<<<", other.encode(),
                        good.encode() + b" " * 40000):  # over the 32 KiB bound
                self.sock.sendto(bad, peer)
            self.answered += 1

    def stop(self):
        self.stopping.set()
        self.join(timeout=5)
        self.sock.close()


@pytest.fixture
def lan(make_netns):
    """A namespace with the fake ONVIF device and the rogue responder answering probes."""
    ns = make_netns()
    fake = FakeOnvif()
    with ns.inside():
        fake.start(port=0)
        fake.start_discovery(port=3702, group=GROUP, iface="127.0.0.1")
        rogue = Rogue()
        rogue.start()
    assert fake.discovery_multicast, "the fake could not join %s: %s" % (
        GROUP, getattr(fake, "discovery_error", "?"))
    ns.fake, ns.rogue = fake, rogue
    yield ns
    rogue.stop()
    fake.stop()


def probes_seen(fake):
    return fake.requests(path="ws-discovery")


def check_fake_device(dev, fake):
    assert dev["name"] == "vigil-fake", dev
    assert dev["hardware"] == "FakeCam", dev
    assert dev["location"] == "lab", dev
    assert dev["ptz"] is True, dev
    assert dev["xaddrs"] == ["http://127.0.0.1:%d/onvif/device_service" % fake.port], dev
    assert dev["endpoint"] == fake.endpoint, dev
    assert "tds:Device" in dev["types"], dev


def test_cli_finds_the_fake_device_and_ignores_malformed_answers(lan):
    t0 = time.monotonic()
    p = lan.run(VIGIL_BIN, "discover", "--wait", "1", "--json")
    took = time.monotonic() - t0
    assert p.returncode == 0, (p.stdout, p.stderr)
    doc = json.loads(p.stdout)
    assert len(doc["devices"]) == 1, doc  # the rogue's answers listed nothing
    check_fake_device(doc["devices"][0], lan.fake)
    # garbage, another probe's RelatesTo, an oversized datagram
    assert doc["ignored"] == 3, doc
    assert lan.rogue.answered == 1
    assert "ignored 3 answers" in p.stderr, p.stderr
    assert doc["wait_ms"] == 1000
    assert 0.9 < took < 5, took

    # The human form names what the operator needs to add the camera.
    p = lan.run(VIGIL_BIN, "discover", "--wait", "0.5")
    assert p.returncode == 0, (p.stdout, p.stderr)
    out = p.stdout
    assert out.startswith("1 ONVIF device answered within 0.5 s:"), out
    # The answer's source: the kernel picks one of the namespace's two addresses.
    assert "address   127.0.0.1\n" in out or "address   %s\n" % TEST_ADDR in out, out
    for want in ("vigil-fake", "model     FakeCam", "location  lab", "ptz       yes",
                 "xaddrs    http://127.0.0.1:%d/onvif/device_service" % lan.fake.port,
                 "endpoint  " + lan.fake.endpoint):
        assert want in out, (want, out)

    # What the fake received: the sheet's Probe, a new MessageID each time.
    seen = probes_seen(lan.fake)
    assert len(seen) == 2 and all(r["answered"] for r in seen), seen
    ids = []
    for r in seen:
        body = r["body"]
        assert "<d:Types>dn:NetworkVideoTransmitter</d:Types>" in body, body
        assert "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>" in body
        ids.append(body.split("<wsa:MessageID>")[1].split("<")[0])
    assert all(i.startswith("urn:uuid:") and len(i) == 45 for i in ids), ids
    assert ids[0] != ids[1], ids


def test_cli_interface_option(lan):
    p = lan.run(VIGIL_BIN, "discover", "--wait", "0.5", "--interface", TEST_ADDR, "--json")
    assert p.returncode == 0, (p.stdout, p.stderr)
    doc = json.loads(p.stdout)
    assert [d["name"] for d in doc["devices"]] == ["vigil-fake"], doc
    assert probes_seen(lan.fake)[-1]["peer"][0] == TEST_ADDR, probes_seen(lan.fake)
    # An address the namespace does not have: the socket cannot be opened, and it says why.
    p = lan.run(VIGIL_BIN, "discover", "--wait", "0.5", "--interface", "198.18.7.99")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "cannot open a UDP socket" in p.stderr, p.stderr
    assert "198.18.7.99 is not an address of this host" in p.stderr, p.stderr


def test_nothing_answering_and_no_route(make_netns):
    quiet = make_netns()
    t0 = time.monotonic()
    p = quiet.run(VIGIL_BIN, "discover", "--wait", "0.5")
    took = time.monotonic() - t0
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.strip() == "no ONVIF device answered within 0.5 s", p.stdout
    assert took < 4, took
    p = quiet.run(VIGIL_BIN, "discover", "--wait", "0.5", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["devices"] == [], (p.stdout, p.stderr)
    assert "no ONVIF device answered within 0.5 s" in p.stderr

    # A namespace with no route for the group (loopback down): the probe cannot go out.
    dark = make_netns(multicast=False)
    p = dark.run(VIGIL_BIN, "discover", "--wait", "0.5")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "cannot open a UDP socket and send the probe to 239.255.255.250:3702" in p.stderr, \
        p.stderr
    assert "no route for multicast" in p.stderr, p.stderr


PASSWORDS = {"root": "root-pass-1234", "op": "op-pass-1234", "view": "view-pass-1234"}


def test_api_discover(lan, tmp_path):
    db = str(tmp_path / "vigil.db")
    env = dict(os.environ, VIGIL_DB=db)
    for user, role in (("root", "admin"), ("op", "operator"), ("view", "viewer")):
        p = subprocess.run([VIGIL_BIN, "user", "add", "id=" + user, "role=" + role,
                            "--password-stdin"], input=PASSWORDS[user], capture_output=True,
                           text=True, env=env, timeout=30)
        assert p.returncode == 0, p.stderr
    log_path = tmp_path / "vigil.log"
    with open(log_path, "wb") as log:
        srv = lan.popen([VIGIL_BIN, "serve", "--listen", "127.0.0.1:0", "--db", db],
                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        env=dict(env, VIGIL_RTSP_LISTEN="none"))
    port = None
    for _ in range(300):
        m = LISTENING_RE.search(log_path.read_text(errors="replace"))
        if m:
            port = int(m.group(2))
            break
        assert srv.poll() is None, log_path.read_text(errors="replace")
        time.sleep(0.02)
    assert port, log_path.read_text(errors="replace")
    base = "http://127.0.0.1:%d" % port

    with lan.inside():
        sessions = {}
        for user, pw in PASSWORDS.items():
            s = requests.Session()
            r = s.post(base + "/api/v1/login", json={"user": user, "password": pw}, timeout=10)
            assert r.status_code == 200, (user, r.status_code, r.text)
            s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            sessions[user] = s

        for user in ("op", "view"):
            r = sessions[user].post(base + "/api/v1/discover", json={"wait_s": 0.2}, timeout=10)
            assert r.status_code == 403, (user, r.status_code, r.text)
        assert requests.post(base + "/api/v1/discover", timeout=10).status_code == 401

        # The admin's request is held for the wait; a second one meanwhile is refused.
        first = {}

        def admin_discover():
            t = time.monotonic()
            first["r"] = sessions["root"].post(base + "/api/v1/discover",
                                               json={"wait_s": 1}, timeout=10)
            first["took"] = time.monotonic() - t

        th = threading.Thread(target=admin_discover)
        th.start()
        deadline = time.monotonic() + 3
        while not probes_seen(lan.fake) and time.monotonic() < deadline:
            time.sleep(0.01)
        busy = sessions["root"].post(base + "/api/v1/discover", timeout=10)
        # The server answers other requests meanwhile: the wait is not on the loop.
        t = time.monotonic()
        health = requests.get(base + "/healthz", timeout=5)
        health_s = time.monotonic() - t
        th.join(timeout=10)
        r = sessions["root"].post(base + "/api/v1/discover", json={"wait_s": 11}, timeout=10)
        bad_wait = r.status_code
        # Audited: who probed, from where, how long.
        audit = []
        for _ in range(100):
            r = sessions["root"].get(base + "/api/v1/audit", timeout=10)
            assert r.status_code == 200, r.text
            audit = [e for e in r.json()["audit"] if e.get("action") == "discover"]
            if audit:
                break
            time.sleep(0.05)

    assert busy.status_code == 429, (busy.status_code, busy.text)
    assert busy.json()["error"]["code"] == "busy"
    assert 1 <= int(busy.headers["retry-after"]) <= 2, busy.headers
    assert health.status_code == 200 and health_s < 0.5, health_s
    r = first["r"]
    assert r.status_code == 200, (r.status_code, r.text)
    doc = r.json()
    assert 0.9 < first["took"] < 5, first
    assert len(doc["devices"]) == 1, doc
    check_fake_device(doc["devices"][0], lan.fake)
    assert doc["devices"][0]["addresses"] in (["127.0.0.1"], [TEST_ADDR]), doc
    assert doc["ignored"] == 3 and doc["wait_ms"] == 1000, doc
    assert bad_wait == 400
    assert audit and audit[-1]["outcome"] == "ok" and "wait 1000 ms" in audit[-1]["detail"], audit
    assert "root" in json.dumps(audit[-1]), audit

    srv.send_signal(signal.SIGTERM)
    assert srv.wait(timeout=10) == 0, log_path.read_text(errors="replace")
