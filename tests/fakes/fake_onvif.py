#!/usr/bin/python3
"""A fake ONVIF device (device, media and PTZ services, WS-Discovery), written from
/work/shared/protocols/onvif.md (cited as "sheet §n"). Tests drive it in-process
(FakeOnvif().start()) or read it over HTTP (GET /__fake/state); as a script it serves until
interrupted:

    /usr/bin/python3 tests/fakes/fake_onvif.py --port 8080 --user admin --password secret

What it models:
  * SOAP 1.2 POSTs on /onvif/device_service, /onvif/media_service, /onvif/ptz_service,
    dispatched on the first Body child (sheet §1); an operation posted to another service's
    path is refused with ActionNotSupported (fake's choice: it catches a client that does not
    use the XAddrs from GetServices).
  * Auth modes (sheet §4, §10): "wsse" (UsernameToken PasswordDigest, Nonce and Created
    required, Created within +-skew_s of the fake's clock, a nonce used twice refused),
    "digest" (HTTP Digest), "both", "none". PRE_AUTH operations stay open unless
    preauth_open=False (the devices of sheet §4.3 that refuse GetSystemDateAndTime).
    Accounts are Administrator/Operator/User and the access table of sheet §4.1 applies.
  * The fake's clock runs clock_offset_s ahead of this host's, so a client must take the
    offset from GetSystemDateAndTime (sheet §4.3).
  * PTZ (sheet §9): position in the generic spaces, integrated over time while a
    ContinuousMove runs (until Stop, zero velocity or its timeout), presets token -> name and
    position, GetStatus, and the faults the sheet names.
  * Relay outputs (GetRelayOutputs, SetRelayOutputState on the device service) for the
    virtual alarm. These are NOT in the sheet: their names and shapes are from devicemgmt.wsdl
    as public ONVIF bindings show them (tds namespace; RelayOutputToken, LogicalState
    active|inactive); treat as [1] until checked against onvif/specs.
"""
import argparse
import base64
import datetime
import hashlib
import os
import re
import socket
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakehttp import DigestRealm, Faults, FakeServer, serve_until_interrupted  # noqa: E402

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
}
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
                   "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
SPACE = "http://www.onvif.org/ver10/tptz/"
VELOCITY_PT = SPACE + "PanTiltSpaces/VelocityGenericSpace"
VELOCITY_Z = SPACE + "ZoomSpaces/VelocityGenericSpace"
POSITION_PT = SPACE + "PanTiltSpaces/PositionGenericSpace"
POSITION_Z = SPACE + "ZoomSpaces/PositionGenericSpace"

LEVEL_RANK = {"Administrator": 3, "Operator": 2, "User": 1, "Anonymous": 0}
# access class -> lowest level allowed (sheet §4.1 table)
CLASS_MIN = {"PRE_AUTH": 0, "READ_SYSTEM": 1, "READ_MEDIA": 1, "ACTUATE": 2}

DEVICE, MEDIA, PTZ = "device_service", "media_service", "ptz_service"
OPERATIONS = {   # name -> (service path, namespace prefix, access class)
    "GetSystemDateAndTime": (DEVICE, "tds", "PRE_AUTH"),
    "GetCapabilities": (DEVICE, "tds", "PRE_AUTH"),
    "GetServices": (DEVICE, "tds", "PRE_AUTH"),
    "GetDeviceInformation": (DEVICE, "tds", "READ_SYSTEM"),
    "GetRelayOutputs": (DEVICE, "tds", "READ_SYSTEM"),
    "SetRelayOutputState": (DEVICE, "tds", "ACTUATE"),
    "GetProfiles": (MEDIA, "trt", "READ_MEDIA"),
    "GetStreamUri": (MEDIA, "trt", "READ_MEDIA"),
    "GetSnapshotUri": (MEDIA, "trt", "READ_MEDIA"),
    "ContinuousMove": (PTZ, "tptz", "ACTUATE"),
    "Stop": (PTZ, "tptz", "ACTUATE"),
    "AbsoluteMove": (PTZ, "tptz", "ACTUATE"),
    "RelativeMove": (PTZ, "tptz", "ACTUATE"),
    "GotoPreset": (PTZ, "tptz", "ACTUATE"),
    "SetPreset": (PTZ, "tptz", "ACTUATE"),
    "RemovePreset": (PTZ, "tptz", "ACTUATE"),
    "GetPresets": (PTZ, "tptz", "READ_MEDIA"),
    "GetStatus": (PTZ, "tptz", "READ_MEDIA"),
}

# The fake's motion model (not from any source): velocity 1 crosses half the generic range
# per second.
UNITS_PER_S = 0.5
DEFAULT_PTZ_TIMEOUT_S = 10.0       # DefaultPTZTimeout PT10S in the profile below
MAX_PRESETS = 16


class SoapFault(Exception):
    """code: "Sender"/"Receiver"; subcodes: ("ter:InvalidArgVal", "ter:NoProfile")."""

    def __init__(self, code, subcodes, reason, http_status=None):
        super().__init__(reason)
        self.code, self.subcodes, self.reason = code, subcodes, reason
        self.http_status = http_status


def invalid_arg(sub, reason):
    return SoapFault("Sender", ("ter:InvalidArgVal", "ter:" + sub), reason)


def password_digest(nonce_bytes, created, password):
    """Base64(SHA-1(nonce || created || password)) (sheet §4.2)."""
    h = hashlib.sha1(nonce_bytes + created.encode("utf-8") + password.encode("utf-8"))
    return base64.b64encode(h.digest()).decode("ascii")


_CREATED_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$")
_DURATION_RE = re.compile(r"^P(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)$")


def parse_created(text):
    """Seconds since the epoch of a UTC xs:dateTime with a Z suffix, else None."""
    m = _CREATED_RE.match(text or "")
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = float(m.group(7)) if m.group(7) else 0.0
    try:
        dt = datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return dt.timestamp() + frac


def parse_duration(text):
    m = _DURATION_RE.match((text or "").strip())
    if not m or text.strip() in ("P", "PT"):
        return None
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def _q(prefix, local):
    return "{%s}%s" % (NS[prefix], local)


def _esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _fmt(v):
    return f"{v:.6g}"


def envelope(body):
    ns = " ".join(f'xmlns:{p}="{NS[p]}"' for p in ("s", "tds", "trt", "tptz", "tt", "ter"))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope {ns}><s:Body>{body}</s:Body></s:Envelope>'


def fault_xml(f):
    sub = ""
    for value in reversed(f.subcodes):
        sub = f"<s:Subcode><s:Value>{value}</s:Value>{sub}</s:Subcode>"
    return envelope(f"<s:Fault><s:Code><s:Value>s:{f.code}</s:Value>{sub}</s:Code>"
                    f'<s:Reason><s:Text xml:lang="en">{_esc(f.reason)}</s:Text></s:Reason>'
                    "</s:Fault>")


class FakeOnvif(FakeServer):
    name = "fake-onvif"

    def __init__(self, accounts=None, auth="wsse", skew_s=5.0, clock_offset_s=0.0,
                 reject_replay=True, preauth_open=True, auth_fault_status=400,
                 fault_status=None, preset_token_format="P{:03d}", relays=("relay1", "relay2"),
                 rtsp_port=554):
        super().__init__()
        self.faults.MODES = Faults.MODES + ("fault",)
        # name -> (password, level)
        self.accounts = dict(accounts or {"admin": ("admin", "Administrator"),
                                          "operator": ("operator", "Operator"),
                                          "user": ("user", "User")})
        if auth not in ("wsse", "digest", "both", "none"):
            raise ValueError(f"auth mode {auth!r}")
        self.auth = auth
        self.digest = DigestRealm("ONVIF fake", {u: p for u, (p, _) in self.accounts.items()})
        self.skew_s = skew_s
        self.clock_offset_s = clock_offset_s
        self.reject_replay = reject_replay
        self.preauth_open = preauth_open
        self.auth_fault_status = auth_fault_status
        self.fault_status = fault_status
        self.preset_token_format = preset_token_format
        self.relay_tokens = tuple(relays)
        self.rtsp_port = rtsp_port
        self._discovery = None
        self.reset()

    def reset(self):
        with self.lock:
            self.pos = {"pan": 0.0, "tilt": 0.0, "zoom": 0.0}
            self.vel = {"pan": 0.0, "tilt": 0.0, "zoom": 0.0}
            self.move_until = None          # monotonic deadline of the running move
            self.since = time.monotonic()
            self.presets = {}               # token -> {"name", "pan", "tilt", "zoom"}
            self.next_preset = 1
            self.relays = {t: False for t in self.relay_tokens}
            self.nonces_seen = set()

    def now(self):
        """The fake device's clock (epoch seconds)."""
        return time.time() + self.clock_offset_s

    # motion ---------------------------------------------------------------------------
    def _integrate(self):
        now = time.monotonic()
        end = now if self.move_until is None else min(now, self.move_until)
        dt = max(0.0, end - self.since)
        self.since = now
        for axis, lo, hi in (("pan", -1.0, 1.0), ("tilt", -1.0, 1.0), ("zoom", 0.0, 1.0)):
            self.pos[axis] = max(lo, min(hi, self.pos[axis] + self.vel[axis] * UNITS_PER_S * dt))
        if self.move_until is not None and now >= self.move_until:
            self.vel = {"pan": 0.0, "tilt": 0.0, "zoom": 0.0}
            self.move_until = None

    def moving(self):
        return {"pantilt": bool(self.vel["pan"] or self.vel["tilt"]),
                "zoom": bool(self.vel["zoom"])}

    def state(self):
        with self.lock:
            self._integrate()
            m = self.moving()
            return {"moving": m["pantilt"] or m["zoom"], "move_status": m,
                    "velocity": dict(self.vel), "position": dict(self.pos),
                    "presets": {t: dict(p) for t, p in self.presets.items()},
                    "relays": dict(self.relays), "auth": self.auth,
                    "clock_offset_s": self.clock_offset_s}

    # HTTP -------------------------------------------------------------------------------
    def handle(self, req, body):
        path = req.path.split("?", 1)[0]
        entry = self.record({"method": req.command, "path": path,
                             "content_type": req.headers.get("Content-Type", ""),
                             "body": body.decode("utf-8", "replace")})
        if path.startswith("/onvif/") and req.command not in ("POST",):
            entry["status"] = 405
            return req.send(405, "POST only", headers=[("Allow", "POST")])
        service = path[len("/onvif/"):] if path.startswith("/onvif/") else None
        if service not in (DEVICE, MEDIA, PTZ):
            entry["status"] = 404
            return req.send(404, "not found")
        if not entry["content_type"].lower().startswith("application/soap+xml"):
            entry["status"] = 415
            return req.send(415, "SOAP 1.2 wants application/soap+xml")
        if self.faults.mode == "http500":
            entry["status"] = 500
            return req.send(500, "internal error")
        if self.faults.mode == "http401":
            entry["status"] = 401
            return req.send(401, "unauthorised", headers=self.digest.challenge())
        if self.faults.mode == "garbage":
            entry["status"] = 200
            return req.send(200, "this is not XML", "application/soap+xml; charset=utf-8")
        status, headers, xml = 200, [], None
        try:
            env = self._parse(body)
            op_el = self._operation(env, entry)
            svc, prefix, klass = OPERATIONS[entry["op"]]
            if svc != service:
                raise SoapFault("Receiver", ("ter:ActionNotSupported",),
                                f"{entry['op']} is served at /onvif/{svc}")
            if op_el.tag != _q(prefix, entry["op"]):
                raise SoapFault("Sender", ("ter:Namespace",),
                                f"{entry['op']} must be in {NS[prefix]}")
            challenge = self._authorise(req, env, klass, entry)
            if challenge is not None:
                status, headers = 401, challenge
                raise SoapFault("Sender", ("ter:NotAuthorized",), "Sender not Authorized",
                                http_status=401)
            if self.faults.mode == "fault":
                raise SoapFault("Receiver", ("ter:Action",), "Action Failed (fake fault)")
            with self.lock:
                xml = envelope(getattr(self, "op_" + entry["op"])(op_el, entry, req))
        except SoapFault as f:
            entry["fault"] = [f"s:{f.code}"] + list(f.subcodes)
            if f.http_status is not None:
                status = f.http_status
            elif self.fault_status is not None:
                status = self.fault_status
            else:
                status = 400 if f.code == "Sender" else 500
            xml = fault_xml(f)
        entry["status"] = status
        return req.send(status, xml, "application/soap+xml; charset=utf-8", headers)

    def _parse(self, body):
        try:
            env = ET.fromstring(body)
        except ET.ParseError as e:
            raise SoapFault("Sender", ("ter:WellFormed",), f"Well-formed Error: {e}")
        if env.tag != _q("s", "Envelope"):
            raise SoapFault("VersionMismatch", (), "not a SOAP 1.2 envelope")
        return env

    def _operation(self, env, entry):
        body = env.find(_q("s", "Body"))
        if body is None or len(body) == 0:
            raise SoapFault("Sender", ("ter:InvalidArgs",), "empty Body")
        op_el = body[0]
        local = op_el.tag.rsplit("}", 1)[-1]
        entry["op"] = local
        if local not in OPERATIONS:
            raise SoapFault("Receiver", ("ter:ActionNotSupported",),
                            f"Optional Action Not Implemented: {local}")
        return op_el

    def _authorise(self, req, env, klass, entry):
        """None when allowed (entry gets "user"/"auth"); a Digest challenge to send with a
        401; raises SoapFault for a WS-Security refusal."""
        if klass == "PRE_AUTH" and self.preauth_open:
            entry["auth"] = "pre-auth"
            return None
        if self.auth == "none":
            entry["auth"] = "none"
            return None
        user = None
        http_auth = req.headers.get("Authorization")
        security = env.find(f"{_q('s', 'Header')}/{_q('wsse', 'Security')}")
        if self.auth in ("digest", "both") and (http_auth or self.auth == "digest"):
            user, why = self.digest.check(req.command, http_auth)
            entry["auth"] = "digest"
            if user is None:
                entry["auth_error"] = why
                return self.digest.challenge()
        elif self.auth in ("wsse", "both"):
            if security is None:
                entry["auth_error"] = "no WS-Security header"
                if self.auth == "both":
                    return self.digest.challenge()
                raise SoapFault("Sender", ("ter:NotAuthorized",), "Sender not Authorized",
                                http_status=self.auth_fault_status)
            user = self._check_wsse(security, entry)
            entry["auth"] = "wsse"
        entry["user"] = user
        level = self.accounts[user][1]
        if LEVEL_RANK[level] < CLASS_MIN[klass]:
            entry["auth_error"] = f"{level} may not call a {klass} operation"
            raise SoapFault("Sender", ("ter:NotAuthorized",), "Sender not Authorized",
                            http_status=self.auth_fault_status)
        return None

    def _check_wsse(self, security, entry):
        def refuse(why):
            entry["auth_error"] = why
            return SoapFault("Sender", ("ter:NotAuthorized",), "Sender not Authorized",
                             http_status=self.auth_fault_status)

        tok = security.find(_q("wsse", "UsernameToken"))
        if tok is None:
            raise refuse("no UsernameToken")
        user = (tok.findtext(_q("wsse", "Username")) or "").strip()
        pw_el = tok.find(_q("wsse", "Password"))
        nonce_text = tok.findtext(_q("wsse", "Nonce"))
        created = tok.findtext(_q("wsu", "Created"))
        entry["wsse"] = {"username": user, "nonce": nonce_text, "created": created,
                         "password_type": pw_el.get("Type") if pw_el is not None else None}
        if nonce_text is None or created is None:
            raise refuse("UsernameToken without Nonce or Created")
        if pw_el is None or pw_el.get("Type") != PASSWORD_DIGEST:
            raise refuse("Password is not a PasswordDigest")
        if user not in self.accounts:
            raise refuse("unknown user")
        try:
            nonce = base64.b64decode(nonce_text.strip(), validate=True)
        except ValueError:
            raise refuse("Nonce is not Base64")
        when = parse_created(created.strip())
        if when is None:
            raise refuse("Created is not a UTC xs:dateTime ending in Z")
        skew = when - self.now()
        entry["wsse"]["skew_s"] = skew
        if abs(skew) > self.skew_s:
            raise refuse(f"Created is {skew:+.1f} s from the device clock")
        want = password_digest(nonce, created.strip(), self.accounts[user][0])
        if (pw_el.text or "").strip() != want:
            raise refuse("PasswordDigest mismatch")
        with self.lock:
            if self.reject_replay and nonce in self.nonces_seen:
                raise refuse("Nonce used before")
            self.nonces_seen.add(nonce)
        return user

    # helpers for operations -------------------------------------------------------------
    def _xaddr(self, req, service):
        host = req.headers.get("Host") or f"127.0.0.1:{self.port}"
        return f"http://{host}/onvif/{service}"

    def _profile(self, op_el, prefix, need_ptz):
        token = (op_el.findtext(_q(prefix, "ProfileToken")) or "").strip()
        if token not in ("prof1", "prof2"):
            raise invalid_arg("NoProfile", f"no profile {token!r}")
        if need_ptz and token != "prof1":
            raise invalid_arg("NoPTZProfile", f"profile {token} has no PTZConfiguration")
        return token

    def _vector(self, el, range_pt, range_z, sub, want_pt_space=None, want_z_space=None):
        """{"pan","tilt","zoom"} from a PTZVector/PTZSpeed element (axes absent: missing)."""
        out = {}
        if el is None:
            return out
        pt = el.find(_q("tt", "PanTilt"))
        z = el.find(_q("tt", "Zoom"))
        try:
            if pt is not None:
                if pt.get("x") is None or pt.get("y") is None:
                    raise invalid_arg(sub, "PanTilt needs x and y")
                space = pt.get("space")
                if space is not None and want_pt_space and space != want_pt_space:
                    raise invalid_arg("SpaceNotSupported", f"space {space}")
                out["pan"], out["tilt"] = float(pt.get("x")), float(pt.get("y"))
            if z is not None:
                space = z.get("space")
                if space is not None and want_z_space and space != want_z_space:
                    raise invalid_arg("SpaceNotSupported", f"space {space}")
                out["zoom"] = float(z.get("x"))
        except (TypeError, ValueError):
            raise invalid_arg(sub, "a coordinate is not a number")
        for axis, v in out.items():
            lo, hi = range_z if axis == "zoom" else range_pt
            if not lo <= v <= hi:
                raise invalid_arg(sub, f"{axis} {v} outside {lo}..{hi}")
        return out

    # device service -----------------------------------------------------------------------
    def op_GetSystemDateAndTime(self, op_el, entry, req):
        t = datetime.datetime.fromtimestamp(self.now(), tz=datetime.timezone.utc)
        return ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                "<tt:DateTimeType>NTP</tt:DateTimeType>"
                "<tt:DaylightSavings>false</tt:DaylightSavings>"
                "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
                f"<tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
                f"<tt:Second>{t.second}</tt:Second></tt:Time>"
                f"<tt:Date><tt:Year>{t.year}</tt:Year><tt:Month>{t.month}</tt:Month>"
                f"<tt:Day>{t.day}</tt:Day></tt:Date>"
                "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")

    def op_GetCapabilities(self, op_el, entry, req):
        cats = [c.text.strip() for c in op_el.findall(_q("tds", "Category")) if c.text]
        known = {"All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ"}
        for c in cats:
            if c not in known:
                raise SoapFault("Receiver", ("ter:ActionNotSupported", "ter:NoSuchService"),
                                f"no category {c}")
        want = set(cats) or {"All"}
        every = "All" in want
        out = "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        if every or "Device" in want:
            out += f"<tt:Device><tt:XAddr>{self._xaddr(req, DEVICE)}</tt:XAddr></tt:Device>"
        if every or "Media" in want:
            out += (f"<tt:Media><tt:XAddr>{self._xaddr(req, MEDIA)}</tt:XAddr>"
                    "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
                    "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
                    "</tt:StreamingCapabilities></tt:Media>")
        if every or "PTZ" in want:
            out += f"<tt:PTZ><tt:XAddr>{self._xaddr(req, PTZ)}</tt:XAddr></tt:PTZ>"
        return out + "</tds:Capabilities></tds:GetCapabilitiesResponse>"

    def op_GetServices(self, op_el, entry, req):
        if op_el.find(_q("tds", "IncludeCapability")) is None:
            raise SoapFault("Sender", ("ter:InvalidArgs",), "IncludeCapability is required")
        out = "<tds:GetServicesResponse>"
        for prefix, svc in (("tds", DEVICE), ("trt", MEDIA), ("tptz", PTZ)):
            out += (f"<tds:Service><tds:Namespace>{NS[prefix]}</tds:Namespace>"
                    f"<tds:XAddr>{self._xaddr(req, svc)}</tds:XAddr>"
                    "<tds:Version><tt:Major>2</tt:Major><tt:Minor>5</tt:Minor></tds:Version>"
                    "</tds:Service>")
        return out + "</tds:GetServicesResponse>"

    def op_GetDeviceInformation(self, op_el, entry, req):
        return ("<tds:GetDeviceInformationResponse><tds:Manufacturer>Vigil</tds:Manufacturer>"
                "<tds:Model>FakeCam</tds:Model><tds:FirmwareVersion>1.0.0</tds:FirmwareVersion>"
                "<tds:SerialNumber>0001</tds:SerialNumber><tds:HardwareId>1</tds:HardwareId>"
                "</tds:GetDeviceInformationResponse>")

    def op_GetRelayOutputs(self, op_el, entry, req):
        out = "<tds:GetRelayOutputsResponse>"
        for t in self.relay_tokens:
            out += (f'<tds:RelayOutputs token="{_esc(t)}"><tt:Properties>'
                    "<tt:Mode>Bistable</tt:Mode><tt:DelayTime>PT0S</tt:DelayTime>"
                    "<tt:IdleState>open</tt:IdleState></tt:Properties></tds:RelayOutputs>")
        return out + "</tds:GetRelayOutputsResponse>"

    def op_SetRelayOutputState(self, op_el, entry, req):
        token = (op_el.findtext(_q("tds", "RelayOutputToken")) or "").strip()
        state = (op_el.findtext(_q("tds", "LogicalState")) or "").strip()
        if token not in self.relays:
            raise invalid_arg("RelayToken", f"no relay output {token!r}")
        if state not in ("active", "inactive"):
            raise invalid_arg("InvalidArgVal", f"LogicalState {state!r}")
        self.relays[token] = state == "active"
        entry["args"] = {"relay": token, "active": self.relays[token]}
        return "<tds:SetRelayOutputStateResponse/>"

    # media service ------------------------------------------------------------------------
    def op_GetProfiles(self, op_el, entry, req):
        def profile(token, name, w, h, ptz):
            ptz_xml = ""
            if ptz:
                ptz_xml = (
                    '<tt:PTZConfiguration token="ptzc1"><tt:Name>ptzc1</tt:Name>'
                    "<tt:UseCount>1</tt:UseCount><tt:NodeToken>ptznode1</tt:NodeToken>"
                    f"<tt:DefaultAbsolutePantTiltPositionSpace>{POSITION_PT}</tt:DefaultAbsolutePantTiltPositionSpace>"
                    f"<tt:DefaultAbsoluteZoomPositionSpace>{POSITION_Z}</tt:DefaultAbsoluteZoomPositionSpace>"
                    f"<tt:DefaultRelativePanTiltTranslationSpace>{SPACE}PanTiltSpaces/TranslationGenericSpace</tt:DefaultRelativePanTiltTranslationSpace>"
                    f"<tt:DefaultRelativeZoomTranslationSpace>{SPACE}ZoomSpaces/TranslationGenericSpace</tt:DefaultRelativeZoomTranslationSpace>"
                    f"<tt:DefaultContinuousPanTiltVelocitySpace>{VELOCITY_PT}</tt:DefaultContinuousPanTiltVelocitySpace>"
                    f"<tt:DefaultContinuousZoomVelocitySpace>{VELOCITY_Z}</tt:DefaultContinuousZoomVelocitySpace>"
                    "<tt:DefaultPTZSpeed>"
                    f'<tt:PanTilt x="1" y="1" space="{SPACE}PanTiltSpaces/GenericSpeedSpace"/>'
                    f'<tt:Zoom x="1" space="{SPACE}ZoomSpaces/ZoomGenericSpeedSpace"/>'
                    "</tt:DefaultPTZSpeed><tt:DefaultPTZTimeout>PT10S</tt:DefaultPTZTimeout>"
                    "</tt:PTZConfiguration>")
            return (f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{name}</tt:Name>'
                    '<tt:VideoSourceConfiguration token="vsc1"><tt:Name>vsc1</tt:Name>'
                    "<tt:UseCount>2</tt:UseCount><tt:SourceToken>vs1</tt:SourceToken>"
                    '<tt:Bounds x="0" y="0" width="1920" height="1080"/>'
                    "</tt:VideoSourceConfiguration>"
                    f'<tt:VideoEncoderConfiguration token="vec_{token}"><tt:Name>vec_{token}</tt:Name>'
                    "<tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>"
                    f"<tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution>"
                    "<tt:Quality>5</tt:Quality><tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type>"
                    "<tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port>"
                    "<tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
                    "<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
                    f"{ptz_xml}</trt:Profiles>")

        return ("<trt:GetProfilesResponse>" + profile("prof1", "main", 1920, 1080, True) +
                profile("prof2", "sub", 640, 360, False) + "</trt:GetProfilesResponse>")

    def _media_uri(self, uri):
        return (f"<trt:MediaUri><tt:Uri>{_esc(uri)}</tt:Uri>"
                "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
                "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
                "<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>")

    def op_GetStreamUri(self, op_el, entry, req):
        setup = op_el.find(_q("trt", "StreamSetup"))
        if setup is None:
            raise invalid_arg("InvalidStreamSetup", "StreamSetup is required")
        stream = (setup.findtext(_q("tt", "Stream")) or "").strip()
        proto = (setup.findtext(f"{_q('tt', 'Transport')}/{_q('tt', 'Protocol')}") or "").strip()
        if stream not in ("RTP-Unicast", "RTP-Multicast") or proto not in ("UDP", "TCP", "RTSP", "HTTP"):
            raise invalid_arg("InvalidStreamSetup", f"{stream}/{proto}")
        token = self._profile(op_el, "trt", need_ptz=False)
        host = (req.headers.get("Host") or "127.0.0.1").rsplit(":", 1)[0]
        path = "stream1" if token == "prof1" else "stream2"
        return ("<trt:GetStreamUriResponse>" +
                self._media_uri(f"rtsp://{host}:{self.rtsp_port}/{path}") +
                "</trt:GetStreamUriResponse>")

    def op_GetSnapshotUri(self, op_el, entry, req):
        token = self._profile(op_el, "trt", need_ptz=False)
        host = req.headers.get("Host") or f"127.0.0.1:{self.port}"
        return ("<trt:GetSnapshotUriResponse>" +
                self._media_uri(f"http://{host}/onvif/snapshot?profile={token}&size=full") +
                "</trt:GetSnapshotUriResponse>")

    # PTZ service --------------------------------------------------------------------------
    def op_ContinuousMove(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)
        vel_el = op_el.find(_q("tptz", "Velocity"))
        if vel_el is None:
            raise SoapFault("Sender", ("ter:InvalidArgs",), "Velocity is required")
        v = self._vector(vel_el, (-1, 1), (-1, 1), "InvalidVelocity", VELOCITY_PT, VELOCITY_Z)
        timeout_el = op_el.find(_q("tptz", "Timeout"))
        timeout_s = DEFAULT_PTZ_TIMEOUT_S
        if timeout_el is not None:
            timeout_s = parse_duration(timeout_el.text)
            if timeout_s is None or timeout_s <= 0:
                raise invalid_arg("TimeoutNotSupported", f"Timeout {timeout_el.text!r}")
        self._integrate()
        for axis, value in v.items():      # an omitted axis keeps its motion (sheet §9.2)
            self.vel[axis] = value
        self.move_until = time.monotonic() + timeout_s
        entry["args"] = {"velocity": v, "timeout_s": timeout_s}
        return "<tptz:ContinuousMoveResponse/>"

    def op_Stop(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)

        def flag(name):
            t = op_el.findtext(_q("tptz", name))
            if t is None:
                return True
            t = t.strip()
            if t not in ("true", "false", "1", "0"):
                raise SoapFault("Sender", ("ter:InvalidArgs",), f"{name} is not a boolean")
            return t in ("true", "1")

        pantilt, zoom = flag("PanTilt"), flag("Zoom")
        self._integrate()
        if pantilt:
            self.vel["pan"] = self.vel["tilt"] = 0.0
        if zoom:
            self.vel["zoom"] = 0.0
        entry["args"] = {"pantilt": pantilt, "zoom": zoom}
        return "<tptz:StopResponse/>"

    def op_AbsoluteMove(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)
        pos_el = op_el.find(_q("tptz", "Position"))
        if pos_el is None:
            raise SoapFault("Sender", ("ter:InvalidArgs",), "Position is required")
        p = self._vector(pos_el, (-1, 1), (0, 1), "InvalidPosition", POSITION_PT, POSITION_Z)
        self._integrate()
        self.vel = {"pan": 0.0, "tilt": 0.0, "zoom": 0.0}
        self.pos.update(p)      # the fake arrives at once
        entry["args"] = {"position": p}
        return "<tptz:AbsoluteMoveResponse/>"

    def op_RelativeMove(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)
        tr_el = op_el.find(_q("tptz", "Translation"))
        if tr_el is None:
            raise SoapFault("Sender", ("ter:InvalidArgs",), "Translation is required")
        t = self._vector(tr_el, (-1, 1), (-1, 1), "InvalidTranslation")
        self._integrate()
        self.vel = {"pan": 0.0, "tilt": 0.0, "zoom": 0.0}
        for axis, d in t.items():     # unreachable targets clamp to the border (sheet §9.5)
            lo, hi = (0.0, 1.0) if axis == "zoom" else (-1.0, 1.0)
            self.pos[axis] = max(lo, min(hi, self.pos[axis] + d))
        entry["args"] = {"translation": t}
        return "<tptz:RelativeMoveResponse/>"

    def _preset_token(self, op_el, required=True):
        token = op_el.findtext(_q("tptz", "PresetToken"))
        if token is None:
            if required:
                raise SoapFault("Sender", ("ter:InvalidArgs",), "PresetToken is required")
            return None
        token = token.strip()
        if token not in self.presets:
            raise invalid_arg("NoToken", f"no preset {token!r}")
        return token

    def op_GotoPreset(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)
        token = self._preset_token(op_el)
        self._integrate()
        self.vel = {"pan": 0.0, "tilt": 0.0, "zoom": 0.0}
        p = self.presets[token]
        self.pos = {"pan": p["pan"], "tilt": p["tilt"], "zoom": p["zoom"]}
        entry["args"] = {"token": token}
        return "<tptz:GotoPresetResponse/>"

    def op_SetPreset(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)
        token = self._preset_token(op_el, required=False)
        name = op_el.findtext(_q("tptz", "PresetName"))
        self._integrate()
        m = self.moving()
        if m["pantilt"] or m["zoom"]:
            raise SoapFault("Receiver", ("ter:Action", "ter:MovingPTZ"),
                            "cannot set a preset while moving")
        if name is not None:
            name = name.strip()
            if not name or len(name) > 64:
                raise invalid_arg("InvalidPresetName", "a preset name is 1 to 64 characters")
            for t, p in self.presets.items():
                if p["name"] == name and t != token:
                    raise invalid_arg("PresetExist", f"preset {name!r} exists as {t}")
        if token is None:
            if len(self.presets) >= MAX_PRESETS:
                raise SoapFault("Receiver", ("ter:Action", "ter:TooManyPresets"),
                                "too many presets")
            token = self.preset_token_format.format(self.next_preset)
            self.next_preset += 1
        if name is None:
            name = self.presets.get(token, {}).get("name") or f"Preset {token}"
        self.presets[token] = {"name": name, **self.pos}
        entry["args"] = {"token": token, "name": name}
        return f"<tptz:SetPresetResponse><tptz:PresetToken>{_esc(token)}</tptz:PresetToken></tptz:SetPresetResponse>"

    def op_GetPresets(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)
        out = "<tptz:GetPresetsResponse>"
        for t, p in self.presets.items():
            out += (f'<tptz:Preset token="{_esc(t)}"><tt:Name>{_esc(p["name"])}</tt:Name>'
                    f'<tt:PTZPosition><tt:PanTilt x="{_fmt(p["pan"])}" y="{_fmt(p["tilt"])}" '
                    f'space="{POSITION_PT}"/><tt:Zoom x="{_fmt(p["zoom"])}" space="{POSITION_Z}"/>'
                    "</tt:PTZPosition></tptz:Preset>")
        return out + "</tptz:GetPresetsResponse>"

    def op_RemovePreset(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)
        token = self._preset_token(op_el)
        del self.presets[token]
        entry["args"] = {"token": token}
        return "<tptz:RemovePresetResponse/>"

    def op_GetStatus(self, op_el, entry, req):
        self._profile(op_el, "tptz", need_ptz=True)
        self._integrate()
        m = self.moving()
        utc = datetime.datetime.fromtimestamp(self.now(), tz=datetime.timezone.utc)
        return ("<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>"
                f'<tt:PanTilt x="{_fmt(self.pos["pan"])}" y="{_fmt(self.pos["tilt"])}" '
                f'space="{POSITION_PT}"/><tt:Zoom x="{_fmt(self.pos["zoom"])}" space="{POSITION_Z}"/>'
                "</tt:Position><tt:MoveStatus>"
                f"<tt:PanTilt>{'MOVING' if m['pantilt'] else 'IDLE'}</tt:PanTilt>"
                f"<tt:Zoom>{'MOVING' if m['zoom'] else 'IDLE'}</tt:Zoom></tt:MoveStatus>"
                f"<tt:UtcTime>{utc.strftime('%Y-%m-%dT%H:%M:%SZ')}</tt:UtcTime>"
                "</tptz:PTZStatus></tptz:GetStatusResponse>")

    # WS-Discovery ---------------------------------------------------------------------------
    def start_discovery(self, port=3702, group="239.255.255.250", iface="127.0.0.1"):
        """Answers Probes on UDP `port`: multicast to `group` (joined on `iface`) or unicast.
        Returns the bound port (port=0 picks one: unicast probes only)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", port))
        try:
            mreq = socket.inet_aton(group) + socket.inet_aton(iface)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            self.discovery_multicast = True
        except OSError as e:          # no multicast on this interface: unicast still works
            self.discovery_multicast = False
            self.discovery_error = str(e)
        sock.settimeout(0.1)
        self.endpoint = f"urn:uuid:{uuid.uuid4()}"
        self._discovery = sock
        t = threading.Thread(target=self._discovery_loop, args=(sock,), daemon=True,
                             name=f"fake-onvif-wsd-{port}")
        t.start()
        return sock.getsockname()[1]

    def _discovery_loop(self, sock):
        while not self.stopping.is_set():
            try:
                data, peer = sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.probe_reply(data)
            self.record({"method": "UDP", "path": "ws-discovery", "peer": list(peer),
                         "body": data.decode("utf-8", "replace"), "answered": reply is not None})
            if reply is not None:
                try:
                    sock.sendto(reply.encode("utf-8"), peer)
                except OSError:
                    pass

    def probe_reply(self, data):
        """ProbeMatches for a Probe this device matches (sheet §6, §10), else None."""
        try:
            env = ET.fromstring(data)
        except ET.ParseError:
            return None          # malformed multicast is dropped silently (sheet §6)
        probe = env.find(f"{_q('s', 'Body')}/{_q('d', 'Probe')}")
        msg_id = env.findtext(f"{_q('s', 'Header')}/{_q('wsa', 'MessageID')}")
        if probe is None or not msg_id:
            return None
        types = (probe.findtext(_q("d", "Types")) or "").split()
        if types and not any(t.rsplit(":", 1)[-1] in ("NetworkVideoTransmitter", "Device")
                             for t in types):
            return None
        ns = " ".join(f'xmlns:{p}="{NS[p]}"' for p in ("s", "wsa", "d", "dn", "tds"))
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope {ns}><s:Header>'
                f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
                f"<wsa:RelatesTo>{_esc(msg_id.strip())}</wsa:RelatesTo>"
                "<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>"
                "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>"
                "</s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>"
                f"<wsa:EndpointReference><wsa:Address>{self.endpoint}</wsa:Address></wsa:EndpointReference>"
                "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
                "<d:Scopes>onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/type/ptz "
                "onvif://www.onvif.org/hardware/FakeCam onvif://www.onvif.org/name/vigil-fake "
                "onvif://www.onvif.org/location/lab</d:Scopes>"
                f"<d:XAddrs>http://127.0.0.1:{self.port}/onvif/device_service</d:XAddrs>"
                "<d:MetadataVersion>1</d:MetadataVersion>"
                "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>")

    def stop(self):
        super().stop()
        if self._discovery is not None:
            self._discovery.close()
            self._discovery = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", default=None, help="an Administrator account")
    ap.add_argument("--password", default=None)
    ap.add_argument("--auth", default="wsse", choices=("wsse", "digest", "both", "none"))
    ap.add_argument("--clock-offset", type=float, default=0.0,
                    help="seconds the device clock runs ahead of this host's")
    ap.add_argument("--discovery-port", type=int, default=None,
                    help="answer WS-Discovery Probes on this UDP port (3702 on a LAN)")
    a = ap.parse_args(argv)
    accounts = {a.user: (a.password or "", "Administrator")} if a.user else None
    fake = FakeOnvif(accounts=accounts, auth=a.auth, clock_offset_s=a.clock_offset)
    fake.start(port=a.port)
    lines = [f"fake-onvif listening on {fake.base_url}/onvif/device_service "
             f"(state: {fake.base_url}/__fake/state)"]
    if a.discovery_port is not None:
        lines.append(f"fake-onvif WS-Discovery on UDP {fake.start_discovery(port=a.discovery_port)}")
    serve_until_interrupted(fake, *lines)


if __name__ == "__main__":
    main()
