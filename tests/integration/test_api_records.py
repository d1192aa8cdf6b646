"""Issue 5: the configuration API under /api/v1 — every error case (unknown field, wrong
type, bad URL scheme, credentials in a URL, duplicate id, dangling reference, a record in
use, a file-owned camera, unknown record, bad JSON, wrong media type, oversized body, bad
paging), paging itself, write-only passwords, and responses that match the schemas of the
OpenAPI document the server serves (checked with jsonschema)."""
import copy
import json
import os
import subprocess

import jsonschema
import pytest
import requests

from conftest import VIGIL_BIN

PASSWORD = "pw-Api9$records"


@pytest.fixture
def srv(vigil_server, tmp_path):
    key = str(tmp_path / "mk")
    subprocess.run([VIGIL_BIN, "keygen", "-o", key], check=True, capture_output=True)
    return vigil_server(cameras={"filecam": "test://?width=320&height=240&fps=10"},
                        extra_args=["--db", str(tmp_path / "api.db"), "--master-key-file", key])


def call(srv, method, path, body=None, raw=None, headers=None):
    kw = {"timeout": 10, "headers": headers or {}}
    if raw is not None:
        kw["data"] = raw
    elif body is not None:
        kw["json"] = body
    return requests.request(method, srv.url(path), **kw)


def expect_error(r, status, code, field=None):
    assert r.status_code == status, (r.request.method, r.url, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code and err["message"], err
    if field is not None:
        assert err.get("field") == field, err
        if status == 400:
            assert field in err["message"], err  # the message names it too
    return err


def to_json_schema(node):
    """OpenAPI 3.0 schema objects to JSON Schema: nullable -> a null type, refs rebased."""
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("nullable", "writeOnly", "readOnly"):
            continue
        out[k] = to_json_schema(v)
    if node.get("nullable"):
        if "$ref" in out:
            out = {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
        else:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
    return out


class Conformance:
    def __init__(self, srv):
        doc = srv.get("/api/v1/openapi.json").json()
        self.schemas = to_json_schema(doc["components"]["schemas"])
        self.paths = doc["paths"]

    def check(self, name, instance):
        schema = {"$ref": "#/components/schemas/" + name,
                  "components": {"schemas": self.schemas}}
        jsonschema.validate(instance, schema)

    def documented(self, method, path, status):
        return str(status) in self.paths[path][method.lower()]["responses"]


def test_create_read_update_delete_every_kind(srv):
    api = Conformance(srv)
    made = {
        "tenants": {"id": "acme", "name": "ACME"},
        "gateways": {"id": "gw1", "host": "gw.example", "mappings": [
            {"lan_host": "10.0.0.5", "lan_port": 554, "port": 20554}]},
        "sites": {"id": "north", "tenant_id": "acme", "is_local": False, "gateway_id": "gw1"},
        "cameras": {"id": "cam1", "url": "rtsp://10.0.0.5/s", "site_id": "north",
                    "username": "admin", "password": PASSWORD, "always_on": False,
                    "tiers": [{"size": "low"}, {"size": "native", "quality": 90}]},
    }
    singular = {"tenants": "Tenant", "gateways": "Gateway", "sites": "Site", "cameras": "Camera"}
    for kind, body in made.items():
        api.check(singular[kind] + "Create", body)
        r = call(srv, "POST", "/api/v1/" + kind, body)
        assert r.status_code == 201, (kind, r.text)
        rec = r.json()
        api.check(singular[kind], rec)
        assert rec["id"] == body["id"]
        got = call(srv, "GET", "/api/v1/%s/%s" % (kind, body["id"]))
        assert got.status_code == 200 and got.json() == rec, (got.text, rec)
        listing = call(srv, "GET", "/api/v1/" + kind).json()
        api.check(singular[kind] + "List", listing)
        assert body["id"] in [x["id"] for x in listing[kind]]
    cam = call(srv, "GET", "/api/v1/cameras/cam1").json()
    assert cam["has_password"] is True and "password" not in cam
    assert cam["live"]["url"] == "rtsp://gw.example:20554/s", cam  # rewritten, no credentials
    # PATCH changes the fields given; null clears an optional one (the password too).
    r = call(srv, "PATCH", "/api/v1/cameras/cam1", {"name": "Gate", "password": None})
    assert r.status_code == 200, r.text
    api.check("CameraUpdate", {"name": "Gate", "password": None})
    api.check("Camera", r.json())
    assert r.json()["name"] == "Gate" and r.json()["has_password"] is False
    assert r.json()["url"] == "rtsp://10.0.0.5/s"
    # DELETE, children first (the others are still referenced)
    for kind, rid in (("cameras", "cam1"), ("sites", "north"), ("gateways", "gw1"),
                      ("tenants", "acme")):
        r = call(srv, "DELETE", "/api/v1/%s/%s" % (kind, rid))
        assert r.status_code == 200 and r.json() == {"deleted": rid}, r.text
        expect_error(call(srv, "GET", "/api/v1/%s/%s" % (kind, rid)), 404, "not_found")


def test_validation_errors_name_the_field(srv):
    api = Conformance(srv)
    cases = [
        # (method, path, body, status, code, field)
        ("POST", "/api/v1/cameras", {"id": "c", "url": "rtsp://h/s", "colour": "red"},
         400, "bad_request", "colour"),
        ("POST", "/api/v1/cameras", {"id": "c", "url": "gopher://h/s"}, 400, "bad_request",
         "url"),
        ("POST", "/api/v1/cameras", {"id": "c", "url": "rtsp://admin:%s@h/s" % PASSWORD},
         400, "bad_request", "url"),
        ("POST", "/api/v1/cameras", {"id": "c", "url": "rtsp://h/s", "always_on": "yes"},
         400, "bad_request", "always_on"),
        ("POST", "/api/v1/cameras", {"id": "Bad Id", "url": "rtsp://h/s"}, 400, "bad_request",
         "id"),
        ("POST", "/api/v1/cameras", {"url": "rtsp://h/s"}, 400, "bad_request", "id"),
        ("POST", "/api/v1/cameras", {"id": "c", "url": "rtsp://h/s", "site_id": "nowhere"},
         400, "bad_request", "site_id"),
        ("POST", "/api/v1/cameras", {"id": "c", "url": "rtsp://h/s",
                                     "tiers": [{"size": "huge"}]}, 400, "bad_request", "tiers"),
        ("POST", "/api/v1/cameras", {"id": "c", "url": "rtsp://h/s", "idle_timeout_s": -1},
         400, "bad_request", "idle_timeout_s"),
        ("POST", "/api/v1/sites", {"id": "s", "gateway_id": "nope"}, 400, "bad_request",
         "gateway_id"),
        ("POST", "/api/v1/gateways", {"id": "g", "host": "gw", "mappings": [{"lan_host": "x"}]},
         400, "bad_request", "mappings"),
        ("POST", "/api/v1/cameras", {"id": "filecam", "url": "rtsp://h/s"}, 409, "conflict",
         "id"),
        ("PATCH", "/api/v1/cameras/filecam", {"name": "mine"}, 409, "conflict", "owner"),
        ("DELETE", "/api/v1/cameras/filecam", None, 409, "conflict", "owner"),
        ("DELETE", "/api/v1/sites/default", None, 409, "conflict", "id"),
        ("PATCH", "/api/v1/cameras/nope", {"name": "x"}, 404, "not_found", None),
        ("DELETE", "/api/v1/tenants/nope", None, 404, "not_found", None),
        ("GET", "/api/v1/gateways/nope", None, 404, "not_found", None),
    ]
    for method, path, body, status, code, field in cases:
        r = call(srv, method, path, body)
        expect_error(r, status, code, field)
        api.check("Error", r.json())
        template = path.rsplit("/", 1)[0] + "/{id}" if path.count("/") == 4 else path
        assert api.documented(method, template, status), (method, template, status)
        # The schema for the write refuses what the server refused (400s), so a client
        # validating against the document learns the same thing.
        if status == 400 and method == "POST" and field in ("colour", "always_on", "id"):
            kind = path.rsplit("/", 1)[1]
            name = {"cameras": "Camera", "sites": "Site", "gateways": "Gateway"}[kind]
            with pytest.raises(jsonschema.ValidationError):
                api.check(name + "Create", body)
    # a record in use cannot go
    assert call(srv, "POST", "/api/v1/tenants", {"id": "t1"}).status_code == 201
    assert call(srv, "POST", "/api/v1/sites", {"id": "s1", "tenant_id": "t1"}).status_code == 201
    expect_error(call(srv, "DELETE", "/api/v1/tenants/t1"), 409, "conflict", "id")
    # nothing was created by the refused requests
    ids = [c["id"] for c in call(srv, "GET", "/api/v1/cameras").json()["cameras"]]
    assert ids == ["filecam"], ids


def test_malformed_requests(srv):
    expect_error(call(srv, "POST", "/api/v1/tenants", raw=b"{not json",
                      headers={"content-type": "application/json"}), 400, "bad_request")
    expect_error(call(srv, "POST", "/api/v1/tenants", raw=b"[1,2]",
                      headers={"content-type": "application/json"}), 400, "bad_request")
    expect_error(call(srv, "POST", "/api/v1/tenants", raw=b'{"id":"a","id":"b"}',
                      headers={"content-type": "application/json"}), 400, "bad_request")
    expect_error(call(srv, "POST", "/api/v1/tenants", raw=b'{"id":"t"}',
                      headers={"content-type": "text/plain"}), 415, "unsupported_media_type")
    expect_error(call(srv, "POST", "/api/v1/tenants", raw=b'{"id":"t"}'), 415,
                 "unsupported_media_type")
    big = json.dumps({"id": "t", "name": "x" * (70 * 1024)}).encode()
    expect_error(call(srv, "POST", "/api/v1/tenants", raw=big,
                      headers={"content-type": "application/json"}), 413, "too_large")
    expect_error(call(srv, "GET", "/api/v1/tenants?limit=0"), 400, "bad_request", "limit")
    expect_error(call(srv, "GET", "/api/v1/tenants?limit=1001"), 400, "bad_request", "limit")
    expect_error(call(srv, "GET", "/api/v1/tenants?offset=-1"), 400, "bad_request", "offset")
    expect_error(call(srv, "GET", "/api/v1/tenants?offset=x"), 400, "bad_request", "offset")
    assert call(srv, "GET", "/api/v1/tenants").json()["tenants"] == []
    assert srv.alive()


def test_paging(srv):
    for i in range(7):
        assert call(srv, "POST", "/api/v1/tenants", {"id": "t%d" % i}).status_code == 201
    seen = []
    for offset in range(0, 9, 3):
        page = call(srv, "GET", "/api/v1/tenants?offset=%d&limit=3" % offset).json()
        assert (page["total"], page["offset"], page["limit"]) == (7, offset, 3), page
        seen += [t["id"] for t in page["tenants"]]
    assert seen == ["t%d" % i for i in range(7)]
    assert call(srv, "GET", "/api/v1/tenants?offset=100").json()["tenants"] == []


def test_password_is_write_only_and_needs_the_master_key(vigil_server, tmp_path):
    # without a key a password cannot be sealed: refused, and nothing stored
    srv = vigil_server(cameras={}, extra_args=["--db", str(tmp_path / "nokey.db")])
    r = call(srv, "POST", "/api/v1/cameras", {"id": "c", "url": "rtsp://h/s",
                                              "password": PASSWORD})
    expect_error(r, 503, "locked", "password")
    assert call(srv, "GET", "/api/v1/cameras/c").status_code == 404
    assert PASSWORD not in srv.log
