#!/usr/bin/python3
"""A fake Bosch camera speaking RCP+ over CGI (GET /rcp.xml), written from
/work/shared/protocols/bosch-rcp-plus.md (cited as "sheet §n"). Tests drive it in-process
(FakeBosch().start()) or read it over HTTP (GET /__fake/state); as a script it serves until
interrupted:

    /usr/bin/python3 tests/fakes/fake_bosch.py --port 8080 --user service --password secret

What it models, and how sure the sheet is of it:
  * Digest auth (MD5, qop=auth or, with qop=False, the older qop-less form), Basic only when
    allowed; accounts service/user/live answer with <auth> 2/1/3 (sheet §4, [2+]).
  * The reply envelope, <err> codes 0x40 (unknown command), 0x60 (wrong type), 0xa0 (a live
    account controlling) (sheet §3, [2+]).
  * BiCom 0x09A5 (sheet §5-6): continuous move 0x0110/0x85 [2+], preset recall 0x81 [2+] and
    store 0x80 ([1]: single-sourced, the fake accepts it as the sheet states it), pan/tilt
    reads 0x0112/0x0113 (signed radians x 10000, [1]); anything else is a BiCom error
    reply (flags 00 06 oo oo 6f ee ee, [derived layout]).
  * Virtual alarms 0x0a8b ([1]), their count 0x0aed ([1]), relays 0x01c1 ([2+]), the camera
    name 0x0019 (health check, [2+]) and PTZ presence 0x0a51 ([2+]).
Choices the sheet leaves open are the fake's own and say so ("fake's choice").
"""
import argparse
import math
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakehttp import DigestRealm, Faults, FakeServer, serve_until_interrupted  # noqa: E402

LEVELS = {"service": 2, "user": 1, "live": 3}      # <auth> values, sheet §4

# command -> (type, directions allowed, is_control). is_control: a `live` account gets 0xa0.
COMMANDS = {
    0x09A5: ("P_OCTET", ("WRITE",), True),          # CONF_BICOM_COMMAND
    0x0A8B: ("F_FLAG", ("READ", "WRITE"), True),    # virtual alarm (control on WRITE)
    0x0AED: ("T_DWORD", ("READ",), False),          # number of virtual alarms
    0x01C1: ("F_FLAG", ("READ", "WRITE"), True),    # relay output
    0x0019: ("P_UNICODE", ("READ",), False),        # camera name
    0x0A51: ("F_FLAG", ("READ",), False),           # PTZ controller available
    0x002F: ("P_STRING", ("READ",), False),         # firmware version
}

ERR_INVALID_CMD = 0x40
ERR_INVALID_ACCESS_TYPE = 0x50
ERR_INVALID_DATA_TYPE = 0x60
ERR_WRITE_ERROR = 0x70
ERR_PACKET_SIZE = 0x80
ERR_INVALID_AUTH_LEVEL = 0xA0
ERR_TRY_LATER = 0xC0

BICOM_ILLEGAL_OBJECT = 0x0001
BICOM_ILLEGAL_MEMBER = 0x0002
BICOM_ILLEGAL_OPERATION = 0x0003
BICOM_ILLEGAL_DATA_SIZE = 0x0011

PTZ_SERVER = 0x0006
OBJ_CONTINUOUS = 0x0110
OBJ_PAN = 0x0112
OBJ_TILT = 0x0113
PRESETS = 256

# The fake's own motion model (no source gives degrees per speed step): speed 15 pans at
# 60 deg/s, linearly; zoom speed 7 crosses the whole range (0..1) in 2 s.
PAN_DEG_PER_STEP = 4.0
ZOOM_PER_STEP = 0.5 / 7


def _axis(byte, max_speed, positive_bit_means):
    """(signed speed) from a BiCom move byte: bit 7 is the direction, low bits the speed."""
    speed = byte & (0x0F if max_speed == 15 else 0x07)
    sign = 1 if (byte & 0x80) else -1
    return sign * speed if positive_bit_means == "plus" else -sign * speed


class FakeBosch(FakeServer):
    name = "fake-bosch"

    def __init__(self, accounts=None, qop=True, allow_basic=False, camera_name="Camera 1",
                 virtual_alarms=4, relays=2):
        super().__init__()
        self.faults.MODES = Faults.MODES + ("trylater",)
        self.accounts = dict(accounts or {"service": "service", "user": "user", "live": "live"})
        self.levels = {u: LEVELS.get(u, 1) for u in self.accounts}
        self.digest = DigestRealm("Bosch fake", self.accounts, qop=qop, allow_basic=allow_basic)
        self.camera_name = camera_name
        self.n_alarms = virtual_alarms
        self.n_relays = relays
        self.reset()

    def reset(self):
        with self.lock:
            self.pan_deg = 0.0          # -180..180
            self.tilt_deg = 0.0         # -90..0 would be a dome; the fake allows -90..90
            self.zoom = 0.0             # 0 wide .. 1 tele
            self.speed = {"pan": 0, "tilt": 0, "zoom": 0}   # signed steps: +right/up/in
            self.since = time.monotonic()
            self.presets = {}           # n -> {"pan_deg", "tilt_deg", "zoom"}
            self.alarms = {}            # num -> bool
            self.relays = {}            # num -> bool
            self.cltid = 0x4d00

    # motion ---------------------------------------------------------------------------
    def _integrate(self):
        """Moves the position on by the time since the last call (under self.lock)."""
        now = time.monotonic()
        dt = now - self.since
        self.since = now
        self.pan_deg += self.speed["pan"] * PAN_DEG_PER_STEP * dt
        self.pan_deg = (self.pan_deg + 180.0) % 360.0 - 180.0
        self.tilt_deg = max(-90.0, min(90.0, self.tilt_deg + self.speed["tilt"] *
                                       PAN_DEG_PER_STEP * dt))
        self.zoom = max(0.0, min(1.0, self.zoom + self.speed["zoom"] * ZOOM_PER_STEP * dt))

    def state(self):
        with self.lock:
            self._integrate()
            return {
                "moving": any(self.speed.values()),
                "speed": dict(self.speed),
                "position": {"pan_deg": self.pan_deg, "tilt_deg": self.tilt_deg,
                             "zoom": self.zoom},
                "presets": {str(n): dict(p) for n, p in sorted(self.presets.items())},
                "alarms": {str(n): v for n, v in sorted(self.alarms.items())},
                "relays": {str(n): v for n, v in sorted(self.relays.items())},
            }

    # HTTP -------------------------------------------------------------------------------
    def handle(self, req, body):
        url = urllib.parse.urlsplit(req.path)
        entry = self.record({"method": req.command, "path": url.path, "query": url.query,
                             "params": dict(urllib.parse.parse_qsl(url.query,
                                                                   keep_blank_values=True))})
        if url.path != "/rcp.xml" or req.command not in ("GET", "HEAD"):
            entry["status"] = 404
            return req.send(404, "not found")
        if self.faults.mode == "http401":
            entry["status"] = 401
            return req.send(401, "unauthorised", headers=self.digest.challenge())
        user, how = self.digest.check(req.command, req.headers.get("Authorization"))
        entry["user"], entry["auth"] = user, how
        if user is None:
            entry["status"] = 401
            return req.send(401, "unauthorised", headers=self.digest.challenge())
        if self.faults.mode == "http500":
            entry["status"] = 500
            return req.send(500, "internal error")
        if self.faults.mode == "garbage":
            entry["status"] = 200
            return req.send(200, "<html><body>Bosch fake says hello</body>", "text/html")
        entry["status"] = 200
        with self.lock:
            xml = self._rcp(entry, user)
        return req.send(200, xml, "text/xml")

    def _rcp(self, entry, user):
        p = entry["params"]
        self.cltid = (self.cltid + 1) & 0xFFFF
        try:
            command = int(p.get("command", ""), 16)
        except ValueError:
            command = -1
        direction = p.get("direction", "")
        dtype = p.get("type", "")
        num = p.get("num", "0")
        result, err = "", None
        if self.faults.mode == "trylater":
            err = ERR_TRY_LATER
        elif command not in COMMANDS:
            err = ERR_INVALID_CMD
        else:
            want_type, directions, is_control = COMMANDS[command]
            if dtype != want_type:
                err = ERR_INVALID_DATA_TYPE
            elif direction not in directions:
                err = ERR_INVALID_ACCESS_TYPE
            elif is_control and direction == "WRITE" and self.levels[user] == 3:
                err = ERR_INVALID_AUTH_LEVEL
            else:
                result, err = self._command(entry, command, direction, num, p.get("payload"))
        entry["err"] = err
        if err is not None:
            result = f"<err>0x{err:02x}</err>"
        cmd_hex = f"0x{command:04x}" if command >= 0 else p.get("command", "")
        cmd_dec = command if command >= 0 else ""
        return (
            "<rcp>"
            f"<command><hex>{cmd_hex}</hex><dec>{cmd_dec}</dec></command>"
            f"<type>{_xml(dtype)}</type>"
            f"<direction>{_xml(direction)}</direction>"
            f"<num>{_xml(num)}</num>"
            f"<idstring>{_xml(p.get('idstring', ''))}</idstring>"
            "<payload/>"
            f"<cltid>0x{self.cltid:04x}</cltid>"
            "<sessionid>0x00000000</sessionid>"
            f"<auth>{self.levels[user]}</auth>"
            "<protocol>TCP</protocol>"
            f"<result>{result}</result>"
            "</rcp>")

    def _command(self, entry, command, direction, num, payload):
        """(result XML, None) or ("", err code). Under self.lock."""
        try:
            n = int(num)
        except ValueError:
            return "", ERR_PACKET_SIZE
        if command == 0x0019:
            raw = self.camera_name.encode("utf-16-be") + b"\0\0"
            return _octets(raw, with_len=False), None
        if command == 0x002F:
            return "<str>1.0.0 (vigil fake)</str>", None
        if command == 0x0A51:
            return _flag(1), None
        if command == 0x0AED:
            return f"<hex>0x{self.n_alarms:08x}</hex><dec>{self.n_alarms}</dec>", None
        if command in (0x0A8B, 0x01C1):
            table, count = ((self.alarms, self.n_alarms) if command == 0x0A8B
                            else (self.relays, self.n_relays))
            # The sheet says nothing about a num past the count; the fake answers
            # WRITE_ERROR (fake's choice) so that a test sees the failure.
            if not 1 <= n <= count:
                return "", ERR_WRITE_ERROR
            if direction == "READ":
                return _flag(table.get(n, False)), None
            value = _number(payload)
            if value not in (0, 1):
                return "", ERR_PACKET_SIZE
            table[n] = bool(value)
            entry["set"] = {"what": "alarm" if command == 0x0A8B else "relay",
                            "num": n, "on": bool(value)}
            return _flag(value), None
        if command == 0x09A5:
            return self._bicom(entry, payload)
        return "", ERR_INVALID_CMD

    def _bicom(self, entry, payload):
        if not payload or not payload[:2].lower() == "0x" or len(payload) % 2:
            return "", ERR_PACKET_SIZE
        try:
            data = bytes.fromhex(payload[2:])
        except ValueError:
            return "", ERR_PACKET_SIZE
        if len(data) < 6 or data[0] < 0x80:
            return "", ERR_PACKET_SIZE
        flags = data[0]
        if flags & 0x08:             # lease fields (sheet §5): vigil never sends them
            data = data[:1] + data[7:]
            if len(data) < 6:
                return "", ERR_PACKET_SIZE
        server = int.from_bytes(data[1:3], "big")
        obj_field = int.from_bytes(data[3:5], "big")
        op = data[5]
        args = data[6:]
        header = data[:6]
        entry["bicom"] = {"flags": flags, "server": server, "object": obj_field >> 4,
                          "member": obj_field & 0xF, "op": op, "data": args.hex()}

        def bicom_error(code):
            entry["bicom_error"] = code
            reply = bytes([flags]) + data[1:5] + bytes([0x6F]) + code.to_bytes(2, "big")
            return _octets(reply), None

        def reply(extra=b""):
            # With flags 0x80 no payload is asked for; what a camera then puts in <result>
            # is [unknown] (sheet §5). The fake leaves it empty.
            if not flags & 0x01:
                return "", None
            return _octets(header + extra), None

        if server != PTZ_SERVER:
            return bicom_error(BICOM_ILLEGAL_OBJECT)
        if obj_field == OBJ_CONTINUOUS:
            if op != 0x85:
                return bicom_error(BICOM_ILLEGAL_OPERATION)
            if len(args) != 3:
                return bicom_error(BICOM_ILLEGAL_DATA_SIZE)
            self._integrate()
            self.speed = {"pan": _axis(args[0], 15, "plus"),     # bit 7: right
                          "tilt": _axis(args[1], 15, "plus"),    # bit 7: up
                          "zoom": _axis(args[2], 7, "plus")}     # bit 7: in
            entry["move"] = dict(self.speed)
            return reply()
        if obj_field in (OBJ_PAN, OBJ_TILT):
            if op != 0x01:
                return bicom_error(BICOM_ILLEGAL_OPERATION)
            self._integrate()
            deg = self.pan_deg if obj_field == OBJ_PAN else self.tilt_deg
            value = int(round(math.radians(deg) * 10000))
            return reply(value.to_bytes(2, "big", signed=True))
        if 0x2000 <= obj_field <= 0x2FFF:
            if obj_field & 0xF:
                return bicom_error(BICOM_ILLEGAL_MEMBER)
            n = ((obj_field - 0x2000) >> 4) + 1
            if op not in (0x80, 0x81):
                return bicom_error(BICOM_ILLEGAL_OPERATION)
            if args:
                return bicom_error(BICOM_ILLEGAL_DATA_SIZE)
            self._integrate()
            if op == 0x80:
                self.presets[n] = {"pan_deg": self.pan_deg, "tilt_deg": self.tilt_deg,
                                   "zoom": self.zoom}
                entry["preset"] = {"store": n}
            else:
                # What a camera does on recalling an empty preset is not in the sheet: the
                # fake stays where it is and logs it (fake's choice).
                entry["preset"] = {"recall": n, "known": n in self.presets}
                if n in self.presets:
                    self.speed = {"pan": 0, "tilt": 0, "zoom": 0}
                    p = self.presets[n]
                    self.pan_deg, self.tilt_deg, self.zoom = (p["pan_deg"], p["tilt_deg"],
                                                              p["zoom"])
            return reply()
        return bicom_error(BICOM_ILLEGAL_OBJECT)


def _xml(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _flag(v):
    v = 1 if v else 0
    return f"<hex>0x{v:02x}</hex><dec>{v}</dec>"


def _octets(raw, with_len=True):
    s = " ".join(f"{b:02x}" for b in raw)
    return (f"<len>{len(raw)}</len>" if with_len else "") + f"<str>{s}</str>"


def _number(text):
    """F_FLAG/T_* payloads are decimal or 0x-hex (sheet §1); None when neither."""
    if text is None:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", default=None, help="account name (service/user/live map to "
                    "their Bosch levels; any other name is a `user`)")
    ap.add_argument("--password", default=None)
    ap.add_argument("--basic", action="store_true", help="also accept Basic auth")
    ap.add_argument("--no-qop", action="store_true", help="old-firmware Digest, no qop")
    a = ap.parse_args(argv)
    accounts = None
    if a.user:
        accounts = {a.user: a.password or ""}
    fake = FakeBosch(accounts=accounts, qop=not a.no_qop, allow_basic=a.basic)
    fake.start(port=a.port)
    serve_until_interrupted(fake, f"fake-bosch listening on {fake.base_url}/rcp.xml "
                            f"(state: {fake.base_url}/__fake/state)")


if __name__ == "__main__":
    main()
