"""Issue 17: steering cameras through vigil, against the fake cameras of tests/fakes/ (a Bosch
RCP+ camera and an ONVIF device, in this process on loopback ports the kernel picks).

What the camera receives is checked byte for byte against the protocol sheets' worked
examples; the move lease (no refresh: vigil stops the camera within 1.5 s), a WebSocket
closed mid-move, the control lock and an admin's takeover, a slow or dead PTZ endpoint, a
camera behind a NAT gateway mapping, and the access matrix of every PTZ and alarm route.

No video is needed: every camera points at a dead RTSP URL. One server for the module.
"""
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import VIGIL_BIN, _Factory, recv_json, ws_connect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
import fake_bosch  # noqa: E402
import fake_onvif  # noqa: E402

DEAD_RTSP = "rtsp://127.0.0.1:1/none"
PASSWORDS = {"root": "root-pw-ptz-1", "ao": "acme-op-pw-2", "ao2": "acme-op2-pw-3",
             "av": "acme-viewer-pw-4", "go": "globex-op-pw-5"}
PTZ_TIMEOUT_MS = 800

# bosch-rcp-plus.md §9, byte for byte
Q = "command=0x09A5&type=P_OCTET&direction=WRITE&num=1&payload="
PAN_LEFT_8 = Q + "0x800006011085080000"
STOP = Q + "0x800006011085000000"
ZOOM_IN_4 = Q + "0x800006011085000084"
RECALL_3 = Q + "0x800006202081"
STORE_3 = Q + "0x800006202080"
ALARM_1_ON = "command=0x0a8b&type=F_FLAG&direction=WRITE&num=1&payload=1"
ALARM_1_OFF = "command=0x0a8b&type=F_FLAG&direction=WRITE&num=1&payload=0"


def cli(db, key, *args, stdin=None):
    env = dict(os.environ, VIGIL_DB=db, VIGIL_MASTER_KEY_FILE=key)
    env.pop("VIGIL_MASTER_KEY", None)
    p = subprocess.run([VIGIL_BIN] + list(args), input=stdin, capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.returncode == 0, (args, p.stdout, p.stderr)


def login(srv, user):
    s = requests.Session()
    r = s.post(srv.url("/api/v1/login"), json={"user": user, "password": PASSWORDS[user]},
               timeout=10)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return s


class World:
    pass


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ptz")
    w = World()
    w.bosch = fake_bosch.FakeBosch().start()       # acme's Bosch camera
    w.nat_bosch = fake_bosch.FakeBosch().start()   # reached only through the gateway
    w.dead = fake_bosch.FakeBosch().start()        # made silent or wrong by tests
    # The device's clock runs 2 minutes ahead: vigil must take the offset (onvif.md §4.3).
    w.onvif = fake_onvif.FakeOnvif(clock_offset_s=120).start()
    w.onvif_digest = fake_onvif.FakeOnvif(auth="digest").start()   # HTTP Digest only
    db, key = str(tmp / "vigil.db"), str(tmp / "mk")
    subprocess.run([VIGIL_BIN, "keygen", "-o", key], check=True, capture_output=True)
    for t in ("acme", "globex"):
        cli(db, key, "tenant", "add", "id=" + t)
    roles = {"root": ("admin", None), "ao": ("operator", "acme"), "ao2": ("operator", "acme"),
             "av": ("viewer", "acme"), "go": ("operator", "globex")}
    for user, (role, tenant) in roles.items():
        args = ["user", "add", "id=" + user, "role=" + role, "--password-stdin"]
        if tenant:
            args.append("tenant_id=" + tenant)
        cli(db, key, *args, stdin=PASSWORDS[user])
    # Users need the CLI (Argon2id hashes); everything else goes through the API of the
    # running server, which also exercises cameras gaining PTZ while it runs.
    fac = _Factory(tmp)
    w.srv = fac(cameras={}, auth=True, extra_args=["--db", db, "--master-key-file", key],
                env={"VIGIL_PTZ_TIMEOUT_MS": str(PTZ_TIMEOUT_MS)})
    w.s = {u: login(w.srv, u) for u in PASSWORDS}

    def admin(method, path, body):
        r = w.s["root"].request(method, w.srv.url(path), json=body, timeout=10)
        assert r.status_code < 300, (method, path, r.status_code, r.text)

    onvif_addr = w.onvif.base_url + "/onvif/device_service"
    cams = {
        # id: (driver, address, user, password, tenant, site)
        "bosch1": ("bosch", w.bosch.base_url, "service", "service", "acme", None),
        "onvif1": ("onvif", onvif_addr, "operator", "operator", "acme", None),
        "onvif-m": ("onvif", onvif_addr, "operator", "operator", "acme", None),
        "onvif-g": ("onvif", onvif_addr, "operator", "operator", "globex", None),
        "dead1": ("bosch", w.dead.base_url, "service", "service", "acme", None),
        "nat1": ("bosch", "http://10.99.0.7", "service", "service", "acme", "remote"),
        "nat-bad": ("bosch", "http://10.99.0.8", "service", "service", "acme", "remote"),
        "onvif-d": ("onvif", w.onvif_digest.base_url + "/onvif/device_service", "operator",
                    "operator", "acme", None),
        "gone1": ("onvif", "http://127.0.0.1:1/onvif/device_service", "operator", "operator",
                  "acme", None),  # nothing listens there
    }
    admin("POST", "/api/v1/gateways", {"id": "gw1", "host": "127.0.0.1", "mappings": [
        {"lan_host": "10.99.0.7", "lan_port": 80, "port": w.nat_bosch.port}]})
    admin("POST", "/api/v1/sites", {"id": "remote", "tenant_id": "acme", "is_local": False,
                                    "gateway_id": "gw1"})
    for cid, (drv, addr, user, pw, tenant, site) in cams.items():
        body = {"id": cid, "url": DEAD_RTSP, "ptz_driver": drv, "ptz_address": addr,
                "username": user, "password": pw}
        if site:
            body["site_id"] = site
        admin("POST", "/api/v1/cameras", body)
        admin("POST", "/api/v1/grants", {"tenant_id": tenant, "camera_id": cid})
    admin("POST", "/api/v1/cameras", {"id": "noptz", "url": DEAD_RTSP})
    admin("POST", "/api/v1/grants", {"tenant_id": "acme", "camera_id": "noptz"})
    yield w
    for fake in (w.bosch, w.nat_bosch, w.dead, w.onvif, w.onvif_digest):
        fake.stop()
    problems = fac.teardown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def api(w, user, method, cam, rest, body=None, timeout=10):
    path = "/api/v1/cameras/%s/%s" % (cam, rest)
    kw = {"timeout": timeout}
    if body is not None:
        kw["json"] = body
    return w.s[user].request(method, w.srv.url(path), **kw)


def ok(r):
    assert r.status_code == 200, (r.request.method, r.url, r.status_code, r.text)
    return r.json()


def queries(fake, since=0):
    """What the camera accepted (the Digest challenge's 401 round trips left out)."""
    return [e["query"] for e in fake.log[since:]
            if e.get("path") == "/rcp.xml" and e.get("status") == 200]


def wait_for(pred, timeout=3.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


# --------------------------------------------------------------------------------------
# Exact bytes
# --------------------------------------------------------------------------------------

def test_bosch_requests_are_the_sheet_examples(w):
    n = len(w.bosch.log)
    ok(api(w, "ao", "POST", "bosch1", "ptz/move", {"pan": -0.5}))
    ok(api(w, "ao", "POST", "bosch1", "ptz/stop"))
    ok(api(w, "ao", "POST", "bosch1", "ptz/move", {"zoom": 0.5}))
    ok(api(w, "ao", "POST", "bosch1", "ptz/stop"))
    ok(api(w, "ao", "PUT", "bosch1", "ptz/presets/3", {"name": "Gate"}))
    ok(api(w, "ao", "POST", "bosch1", "ptz/presets/3/goto"))
    ok(api(w, "ao", "POST", "bosch1", "alarms/1", {"on": True}))
    assert w.bosch.state()["alarms"] == {"1": True}
    ok(api(w, "ao", "POST", "bosch1", "alarms/1", {"on": False}))
    ok(api(w, "ao", "POST", "bosch1", "ptz/stop"))
    got = queries(w.bosch, n)
    assert got == [PAN_LEFT_8, STOP, ZOOM_IN_4, STOP, STORE_3, RECALL_3, ALARM_1_ON,
                   ALARM_1_OFF, STOP], got
    # Digest, as the sheet says to implement (§4), with the service account (<auth> 2)
    assert {e.get("auth") for e in w.bosch.log[n:] if e.get("status") == 200} == {"digest"}
    assert w.bosch.state()["alarms"] == {"1": False}
    # Bosch keeps no names: the list is the presets stored through vigil, with theirs.
    presets = ok(api(w, "ao", "GET", "bosch1", "ptz/presets"))
    assert presets["presets"] == [{"number": 3, "name": "Gate"}] and presets["source"] == "vigil"
    st = ok(api(w, "ao", "GET", "bosch1", "ptz/status"))
    assert st["driver"] == "bosch" and st["moving"] is False and st["position"] is not None


def op_xml(entry):
    """The Body's operation element of a logged ONVIF request, re-serialised."""
    env = ET.fromstring(entry["body"])
    body = env.find("{http://www.w3.org/2003/05/soap-envelope}Body")
    return body[0]


def test_onvif_envelopes_with_a_valid_digest(w):
    fake = w.onvif
    with fake.lock:
        fake.presets["P003"] = {"name": "Gate", "pan": 0.1, "tilt": 0.0, "zoom": 0.0}
    n = len(fake.log)
    ok(api(w, "ao", "POST", "onvif1", "ptz/move", {"pan": -0.5}))
    ok(api(w, "ao", "POST", "onvif1", "ptz/stop"))
    presets = ok(api(w, "ao", "GET", "onvif1", "ptz/presets"))
    assert {"number": 3, "name": "Gate"} in presets["presets"], presets
    stored = ok(api(w, "ao", "PUT", "onvif1", "ptz/presets/3", {"name": "Gate 2"}))
    assert stored["preset"] == 3 and stored["name"] == "Gate 2"
    ok(api(w, "ao", "POST", "onvif1", "ptz/presets/3/goto"))
    ok(api(w, "ao", "DELETE", "onvif1", "ptz/presets/3"))
    r = api(w, "ao", "POST", "onvif1", "ptz/presets/3/goto")
    assert r.status_code == 404 and "no preset 3" in r.json()["error"]["message"], r.text
    ok(api(w, "ao", "POST", "onvif1", "alarms/1", {"on": True}))
    assert fake.state()["relays"]["relay1"] is True
    ok(api(w, "ao", "POST", "onvif1", "ptz/stop"))
    log = fake.log[n:]
    ops = [e.get("op") for e in log]
    for want in ("ContinuousMove", "Stop", "GetPresets", "SetPreset", "GotoPreset",
                 "RemovePreset", "SetRelayOutputState"):
        assert want in ops, ops
    # Every authenticated request passed the device's WS-UsernameToken check (digest,
    # nonce, Created within 5 s of a clock 120 s ahead) with the Operator account.
    for e in log:
        assert e["status"] == 200 or e.get("op") == "GotoPreset", e
        if e.get("auth") not in ("pre-auth",):
            assert e.get("auth") == "wsse" and e.get("user") == "operator", e
            assert abs(e["wsse"]["skew_s"]) < 5, e["wsse"]
    bodies = {e["op"]: e["body"] for e in log if e.get("op")}
    tptz = "{http://www.onvif.org/ver20/ptz/wsdl}"
    tt = "{http://www.onvif.org/ver10/schema}"
    mv = op_xml(next(e for e in log if e.get("op") == "ContinuousMove"))
    assert mv.findtext(tptz + "ProfileToken") == "prof1"
    pt = mv.find(tptz + "Velocity/" + tt + "PanTilt")
    assert (pt.get("x"), pt.get("y")) == ("-0.5", "0")
    assert mv.find(tptz + "Velocity/" + tt + "Zoom").get("x") == "0"
    # The exact operation elements (onvif.md §9.3, §9.6-§9.9)
    assert ("<tptz:Stop><tptz:ProfileToken>prof1</tptz:ProfileToken><tptz:PanTilt>true"
            "</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>") in bodies["Stop"]
    assert ("<tptz:GotoPreset><tptz:ProfileToken>prof1</tptz:ProfileToken><tptz:PresetToken>"
            "P003</tptz:PresetToken></tptz:GotoPreset>") in bodies["GotoPreset"]
    assert ("<tptz:SetPreset><tptz:ProfileToken>prof1</tptz:ProfileToken><tptz:PresetName>"
            "Gate 2</tptz:PresetName><tptz:PresetToken>P003</tptz:PresetToken></tptz:SetPreset>"
            ) in bodies["SetPreset"]
    assert ("<tptz:GetPresets><tptz:ProfileToken>prof1</tptz:ProfileToken></tptz:GetPresets>"
            ) in bodies["GetPresets"]
    assert ("<tptz:RemovePreset><tptz:ProfileToken>prof1</tptz:ProfileToken><tptz:PresetToken>"
            "P003</tptz:PresetToken></tptz:RemovePreset>") in bodies["RemovePreset"]
    for b in bodies.values():
        assert "#PasswordDigest\">" in b or "GetSystemDateAndTime" in b
    # PTZ calls went to the PTZ service the device named, not the device service.
    assert {e["path"] for e in log if e.get("op") in ("ContinuousMove", "Stop")} == \
        {"/onvif/ptz_service"}


def test_onvif_device_that_wants_http_digest(w):
    """onvif.md §4.1: a device answering 401 with a Digest challenge gets the same request
    again with HTTP Digest."""
    fake = w.onvif_digest
    n = len(fake.log)
    ok(api(w, "ao", "POST", "onvif-d", "ptz/move", {"zoom": 0.25}))
    ok(api(w, "ao", "POST", "onvif-d", "ptz/stop"))
    done = [e for e in fake.log[n:] if e.get("status") == 200 and
            e.get("op") in ("ContinuousMove", "Stop")]
    assert [e["op"] for e in done] == ["ContinuousMove", "Stop"], fake.log[n:]
    assert all(e["auth"] == "digest" and e["user"] == "operator" for e in done), done
    assert any(e.get("status") == 401 for e in fake.log[n:])  # challenged first


def test_camera_errors_reach_the_caller(w):
    fake = w.onvif
    fake.faults.set("fault")
    try:
        r = api(w, "ao", "POST", "onvif1", "ptz/move", {"tilt": 0.3})
    finally:
        fake.faults.set(None)
    assert r.status_code == 502, r.text
    err = r.json()["error"]
    assert err["code"] == "camera_error" and "ONVIF fault" in err["message"] and \
        "ter:Action" in err["message"], err
    w.dead.faults.set("http401")
    try:
        r = api(w, "ao", "POST", "dead1", "ptz/stop")
        assert r.status_code == 502 and r.json()["error"]["code"] == "camera_auth", r.text
        assert "credentials" in r.json()["error"]["message"]
        w.dead.faults.set("trylater")
        r = api(w, "ao", "POST", "dead1", "ptz/stop")
        assert r.status_code == 502 and "0xc0" in r.json()["error"]["message"], r.text
        w.dead.faults.set("garbage")
        r = api(w, "ao", "POST", "dead1", "ptz/stop")
        assert r.status_code == 502 and "not RCP+ XML" in r.json()["error"]["message"], r.text
    finally:
        w.dead.faults.set(None)
    r = api(w, "ao", "POST", "noptz", "ptz/move", {"pan": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_ptz", r.text
    r = api(w, "ao", "POST", "bosch1", "ptz/move", {"pan": 2})
    assert r.status_code == 400, r.text
    r = api(w, "ao", "DELETE", "bosch1", "ptz/presets/3")
    assert r.status_code == 501 and "bosch" in r.json()["error"]["message"], r.text


# --------------------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------------------

def test_move_without_refresh_is_stopped_within_1_5_s(w):
    n = len(w.bosch.log)
    t0 = time.monotonic()
    ok(api(w, "ao", "POST", "bosch1", "ptz/move", {"pan": 0.5}))
    # Refreshed by repeating the call: no stop meanwhile, and nothing new sent (the camera
    # is already moving so).
    for _ in range(3):
        time.sleep(0.4)
        ok(api(w, "ao", "POST", "bosch1", "ptz/move", {"pan": 0.5}))
    assert queries(w.bosch, n) == [Q + "0x800006011085880000"], queries(w.bosch, n)
    last = time.monotonic()
    stopped = wait_for(lambda: STOP in queries(w.bosch, n), timeout=3.0)
    took = time.monotonic() - last
    assert stopped, queries(w.bosch, n)
    assert took <= 1.5, took
    assert not w.bosch.state()["moving"]
    assert time.monotonic() - t0 < 5
    # vigil's own stop is in the audit log, and the lock is free again.
    st = ok(api(w, "ao2", "GET", "bosch1", "ptz/status"))
    assert st["holder"] is None and st["moving"] is False
    audit = w.s["root"].get(w.srv.url("/api/v1/audit?limit=1000"), timeout=10).json()
    entries = audit.get("entries") or audit.get("audit") or []
    assert any(e.get("action") == "ptz.stop" and "not refreshed" in (e.get("detail") or "")
               for e in entries), entries[-5:]
    assert any(e.get("action") == "ptz.move" and e.get("actor") == "ao" and
               e.get("target") == "bosch1" for e in entries)


def cookie_header(session):
    return "; ".join("%s=%s" % (c.name, c.value) for c in session.cookies)


def test_websocket_closed_mid_move_stops_the_camera(w):
    n = len(w.bosch.log)

    async def run():
        url = "ws://127.0.0.1:%d/api/v1/cameras/bosch1/ws" % w.srv.port
        async with ws_connect(url, extra_headers={"Cookie": cookie_header(w.s["ao"])}) as ws:
            await ws.send(json.dumps({"type": "ptz.move", "pan": -1, "tilt": 1}))
            reply = None
            for _ in range(10):
                m = await recv_json(ws, timeout=3)
                if m.get("type") == "ptz":
                    reply = m
                    break
            assert reply and reply["ok"] is True and reply["op"] == "move", reply
            # refreshed in-band for a while: still moving, no stop
            for _ in range(3):
                await asyncio.sleep(0.3)
                await ws.send(json.dumps({"type": "ptz.move", "pan": -1, "tilt": 1}))
            assert STOP not in queries(w.bosch, n)
            assert w.bosch.state()["moving"]
        return time.monotonic()

    closed = asyncio.run(run())
    assert wait_for(lambda: STOP in queries(w.bosch, n), timeout=2.0), queries(w.bosch, n)
    # well before the lease would have run out: the close itself stopped it
    assert time.monotonic() - closed < 0.9
    assert queries(w.bosch, n)[0] == Q + "0x8000060110850F8F00"


def test_websocket_viewer_may_not_steer(w):
    async def run():
        url = "ws://127.0.0.1:%d/api/v1/cameras/bosch1/ws" % w.srv.port
        async with ws_connect(url, extra_headers={"Cookie": cookie_header(w.s["av"])}) as ws:
            await ws.send(json.dumps({"type": "ptz.move", "pan": 1}))
            for _ in range(10):
                m = await recv_json(ws, timeout=3)
                if m.get("type") == "ptz":
                    return m
    n = len(w.bosch.log)
    m = asyncio.run(run())
    assert m["ok"] is False and m["code"] == "forbidden", m
    assert queries(w.bosch, n) == []


def test_control_lock_refuses_a_second_operator_and_admin_takes_over(w):
    ok(api(w, "ao", "POST", "bosch1", "ptz/move", {"tilt": -0.2}))
    r = api(w, "ao2", "POST", "bosch1", "ptz/move", {"tilt": 0.2})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"]["code"] == "locked" and body["holder"] == "ao", body
    assert "ao" in body["error"]["message"]
    r = api(w, "ao2", "POST", "bosch1", "ptz/presets/3/goto")
    assert r.status_code == 409
    st = ok(api(w, "ao2", "GET", "bosch1", "ptz/status"))  # reads need no lock
    assert st["holder"] == "ao" and st["moving"] is True
    ok(api(w, "root", "POST", "bosch1", "ptz/move", {"tilt": 0.2}))  # takeover
    st = ok(api(w, "ao", "GET", "bosch1", "ptz/status"))
    assert st["holder"] == "root"
    r = api(w, "ao", "POST", "bosch1", "ptz/move", {"pan": 0.2})
    assert r.status_code == 409 and r.json()["holder"] == "root"
    ok(api(w, "root", "POST", "bosch1", "ptz/stop"))
    ok(api(w, "ao2", "POST", "bosch1", "ptz/move", {"pan": 0.1}))  # free again
    ok(api(w, "ao2", "POST", "bosch1", "ptz/stop"))
    audit = w.s["root"].get(w.srv.url("/api/v1/audit?limit=1000"), timeout=10).json()
    entries = audit.get("entries") or audit.get("audit") or []
    assert any(e.get("action") == "ptz.takeover" and e.get("actor") == "root" and
               "ao" in (e.get("detail") or "") for e in entries), entries[-5:]
    assert any(e.get("action") == "ptz.move" and e.get("actor") == "ao2" and
               e.get("outcome") == "refused" for e in entries)


def test_dead_endpoint_delays_nobody_else(w):
    w.dead.faults.set("silent")
    try:
        results = {}

        def dead_call():
            t = time.monotonic()
            r = api(w, "ao", "POST", "dead1", "ptz/move", {"pan": 1})
            results["dead"] = (r, time.monotonic() - t)

        th = threading.Thread(target=dead_call)
        th.start()
        time.sleep(0.1)
        # Meanwhile: another camera, the API and the health endpoint answer at once.
        for _ in range(3):
            t = time.monotonic()
            ok(api(w, "ao2", "GET", "onvif-m", "ptz/status"))
            assert time.monotonic() - t < 0.5
            t = time.monotonic()
            assert w.srv.get("/healthz").status_code == 200
            assert w.s["ao"].get(w.srv.url("/api/v1/cameras"), timeout=5).status_code == 200
            assert time.monotonic() - t < 0.5
        th.join(10)
        r, took = results["dead"]
        assert r.status_code == 504, r.text
        assert r.json()["error"]["code"] == "camera_timeout"
        assert "did not answer within" in r.json()["error"]["message"]
        assert took < PTZ_TIMEOUT_MS / 1000 + 1.0, took
    finally:
        w.dead.faults.set(None)
    # The lock the failed move took goes with a stop.
    api(w, "ao", "POST", "dead1", "ptz/stop")


def test_camera_behind_a_nat_gateway_is_steered_through_the_mapping(w):
    n = len(w.nat_bosch.log)
    ok(api(w, "ao", "POST", "nat1", "ptz/move", {"pan": -0.5}))
    ok(api(w, "ao", "POST", "nat1", "ptz/stop"))
    assert queries(w.nat_bosch, n) == [PAN_LEFT_8, STOP]
    # An address the gateway does not map is never dialled directly: a clear error.
    r = api(w, "ao", "POST", "nat-bad", "ptz/move", {"pan": -0.5})
    assert r.status_code == 502 and "no gateway mapping" in r.json()["error"]["message"], r.text


# --------------------------------------------------------------------------------------
# Access
# --------------------------------------------------------------------------------------

ROUTES = [
    ("POST", "ptz/move", {"pan": 0.1}),
    ("POST", "ptz/stop", None),
    ("GET", "ptz/presets", None),
    ("PUT", "ptz/presets/3", {"name": "Gate"}),
    ("POST", "ptz/presets/3/goto", None),
    ("DELETE", "ptz/presets/3", None),
    ("GET", "ptz/status", None),
    ("POST", "alarms/1", {"on": False}),
]
TENANT = {"root": None, "ao": "acme", "av": "acme", "go": "globex"}
ROLE = {"root": "admin", "ao": "operator", "av": "viewer", "go": "operator"}
CAM_TENANT = {"onvif-m": "acme", "onvif-g": "globex", "unknown-cam": None}


def test_access_matrix_every_ptz_and_alarm_route(w):
    cells, failures = 0, []
    for method, rest, body in ROUTES:
        for user in ("root", "ao", "av", "go"):
            for cam in ("onvif-m", "onvif-g", "unknown-cam"):
                with w.onvif.lock:  # every cell finds preset 3
                    w.onvif.presets["P003"] = {"name": "Gate", "pan": 0, "tilt": 0, "zoom": 0}
                owner = CAM_TENANT[cam]
                if owner is None or (ROLE[user] != "admin" and owner != TENANT[user]):
                    want = 404
                elif ROLE[user] == "viewer":
                    want = 403
                else:
                    want = 200
                r = api(w, user, method, cam, rest, body)
                cells += 1
                if r.status_code != want:
                    failures.append("%s %s as %s on %s: %d %s, expected %d"
                                    % (method, rest, user, cam, r.status_code, r.text[:120],
                                       want))
                if want == 200:
                    ok(api(w, user, "POST", cam, "ptz/stop"))  # frees the lock for the next
    # anonymous callers
    for method, rest, body in ROUTES:
        r = requests.request(method, w.srv.url("/api/v1/cameras/onvif-m/" + rest), json=body,
                             timeout=10)
        cells += 1
        if r.status_code != 401:
            failures.append("%s %s anonymous: %d" % (method, rest, r.status_code))
    assert not failures, "%d of %d cells wrong:\n%s" % (len(failures), cells,
                                                          "\n".join(failures))


def test_health_in_status_and_metrics(w):
    """Each PTZ camera is probed at start: Bosch's name read, ONVIF GetDeviceInformation."""
    def health(cam):
        return ok(api(w, "root", "GET", cam, "ptz/status"))["health"]

    assert wait_for(lambda: health("gone1") is not None, timeout=5.0)
    h = health("bosch1")
    assert h["reachable"] is True and h["device"] == "Camera 1", h
    h = health("onvif1")
    assert h["reachable"] is True and h["device"] == "Vigil FakeCam", h
    h = health("gone1")
    assert h["reachable"] is False and "cannot reach the camera" in h["reason"], h
    assert any(e.get("op") == "GetDeviceInformation" for e in w.onvif.log)
    assert any("command=0x0019&type=P_UNICODE" in (e.get("query") or "") for e in w.bosch.log)
    m = w.s["root"].get(w.srv.url("/metrics"), timeout=10).text
    assert 'vigil_ptz_reachable{camera="bosch1"} 1' in m
    assert 'vigil_ptz_reachable{camera="gone1"} 0' in m
    assert "# TYPE vigil_ptz_moving gauge" in m
    # The status of an unreachable camera still says what vigil knows, and why the camera's
    # own part is missing.
    st = ok(api(w, "ao", "GET", "gone1", "ptz/status"))
    assert st["position"] is None and st["error"]["code"] == "camera_unreachable", st
    assert st["holder"] is None and st["moving"] is False


# Discovery: tests/integration/test_discovery.py (in network namespaces).


def test_camera_add_onvif_fills_its_urls_from_the_device(tmp_path):
    fake = fake_onvif.FakeOnvif(clock_offset_s=-90, rtsp_port=8554).start()
    try:
        db, key = str(tmp_path / "onb.db"), str(tmp_path / "mk")
        subprocess.run([VIGIL_BIN, "keygen", "-o", key], check=True, capture_output=True)
        env = dict(os.environ, VIGIL_DB=db, VIGIL_MASTER_KEY_FILE=key)
        env.pop("VIGIL_MASTER_KEY", None)
        dev = fake.base_url + "/onvif/device_service"
        p = subprocess.run([VIGIL_BIN, "camera", "add", "id=dome", "onvif=" + dev,
                            "username=admin", "--password-stdin", "--json"], input="admin",
                           capture_output=True, text=True, env=env, timeout=30)
        assert p.returncode == 0, (p.stdout, p.stderr)
        rec = json.loads(p.stdout)
        assert rec["url"] == "rtsp://127.0.0.1:8554/stream1"            # main profile
        assert rec["substream_url"] == "rtsp://127.0.0.1:8554/stream2"  # second profile
        assert rec["snapshot_url"].startswith(fake.base_url + "/onvif/snapshot?profile=prof1")
        assert rec["ptz_driver"] == "onvif" and rec["ptz_address"] == dev
        assert rec["has_password"] is True and "onvif" not in rec
        ops = [e.get("op") for e in fake.log if e.get("status") == 200]
        assert ops == ["GetSystemDateAndTime", "GetServices", "GetProfiles", "GetStreamUri",
                       "GetStreamUri", "GetSnapshotUri"], ops
        # A wrong password: a clear refusal, and no camera.
        p = subprocess.run([VIGIL_BIN, "camera", "add", "id=dome2", "onvif=" + dev,
                            "username=admin", "--password-stdin"], input="nope",
                           capture_output=True, text=True, env=env, timeout=30)
        assert p.returncode == 1 and "NotAuthorized" in p.stderr, (p.stdout, p.stderr)
    finally:
        fake.stop()


def test_openapi_lists_every_ptz_route(w):
    doc = requests.get(w.srv.url("/api/v1/openapi.json"), timeout=10).json()
    want = {("/api/v1/cameras/{id}/ptz/move", "post"), ("/api/v1/cameras/{id}/ptz/stop", "post"),
            ("/api/v1/cameras/{id}/ptz/presets", "get"),
            ("/api/v1/cameras/{id}/ptz/presets/{n}/goto", "post"),
            ("/api/v1/cameras/{id}/ptz/presets/{n}", "put"),
            ("/api/v1/cameras/{id}/ptz/presets/{n}", "delete"),
            ("/api/v1/cameras/{id}/ptz/status", "get"),
            ("/api/v1/cameras/{id}/alarms/{n}", "post"), ("/api/v1/discover", "post")}
    for path, method in want:
        assert method in doc["paths"].get(path, {}), (path, method)
        if "/cameras/" in path:
            assert "504" in doc["paths"][path][method]["responses"]
