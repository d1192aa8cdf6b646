/* openapi: GET /api/v1/openapi.json, the OpenAPI 3.0 description of every route the server
 * registers. The record schemas come from the store's own field table (vg_store_schema), so
 * what the document says a write takes is what the validator accepts; the integration tests
 * check the document with an OpenAPI validator and against the server's route table
 * (`vigil serve --list-routes`). Built per request (it is small and rarely asked for). */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/util.h"

static const char *const record_kinds[][2] = {
    {"tenants", "Tenant"}, {"sites", "Site"}, {"gateways", "Gateway"}, {"cameras", "Camera"}};

static json_t *ref(const char *name)
{
    char buf[96];
    snprintf(buf, sizeof(buf), "#/components/schemas/%s", name);
    return json_pack("{s:s}", "$ref", buf);
}

static json_t *json_content(json_t *schema)
{
    return json_pack("{s:{s:o}}", "application/json", "schema", schema);
}

static json_t *response(const char *description, json_t *schema)
{
    json_t *r = json_pack("{s:s}", "description", description);
    if (schema)
        json_object_set_new(r, "content", json_content(schema));
    return r;
}

static json_t *error_response(const char *description)
{
    return response(description, ref("Error"));
}

static json_t *id_param(void)
{
    return json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", "id", "in", "path", "required", 1,
                     "schema", "type", "string");
}

static json_t *tier_param(void)
{
    return json_pack("{s:s,s:s,s:s,s:{s:s}}", "name", "tier", "in", "query", "description",
                     "a tier of the camera's ladder (default: its default tier)", "schema",
                     "type", "string");
}

static json_t *op(const char *tag, const char *summary, json_t *responses)
{
    return json_pack("{s:[s],s:s,s:o}", "tags", tag, "summary", summary, "responses",
                     responses);
}

static void add_params(json_t *operation, json_t *params)
{
    json_object_set_new(operation, "parameters", params);
}

static void add_record_paths(json_t *paths, json_t *schemas)
{
    for (size_t i = 0; i < sizeof(record_kinds) / sizeof(record_kinds[0]); i++) {
        const char *kind = record_kinds[i][0], *name = record_kinds[i][1];
        char create_name[48], update_name[48], list_name[48], coll[64], item[64];
        snprintf(create_name, sizeof(create_name), "%sCreate", name);
        snprintf(update_name, sizeof(update_name), "%sUpdate", name);
        snprintf(list_name, sizeof(list_name), "%sList", name);
        json_t *rec = vg_store_schema(kind, VG_SCHEMA_RECORD);
        if (strcmp(kind, "cameras") == 0) {
            json_object_set_new(json_object_get(rec, "properties"), "live", ref("CameraLive"));
            json_array_append_new(json_object_get(rec, "required"), json_string("live"));
        }
        json_object_set_new(schemas, name, rec);
        json_object_set_new(schemas, create_name, vg_store_schema(kind, VG_SCHEMA_CREATE));
        json_object_set_new(schemas, update_name, vg_store_schema(kind, VG_SCHEMA_UPDATE));
        json_object_set_new(
            schemas, list_name,
            json_pack("{s:s,s:[ssss],s:{s:{s:s,s:o},s:{s:s},s:{s:s},s:{s:s}}}", "type", "object",
                      "required", kind, "total", "offset", "limit", "properties", kind, "type",
                      "array", "items", ref(name), "total", "type", "integer", "offset", "type",
                      "integer", "limit", "type", "integer"));

        json_t *list = op(kind, "List (paged, by id)",
                          json_pack("{s:o,s:o}", "200", response("a page", ref(list_name)),
                                    "400", error_response("bad offset or limit")));
        add_params(list, json_pack("[{s:s,s:s,s:{s:s,s:i,s:i}},{s:s,s:s,s:{s:s,s:i,s:i,s:i}}]",
                                   "name", "offset", "in", "query", "schema", "type", "integer",
                                   "minimum", 0, "default", 0, "name", "limit", "in", "query",
                                   "schema", "type", "integer", "minimum", 1, "maximum", 1000,
                                   "default", 100));
        json_t *create = op(
            kind, "Create",
            json_pack("{s:o,s:o,s:o,s:o,s:o}", "201", response("created", ref(name)), "400",
                      error_response("invalid: unknown field, wrong type, bad URL scheme, "
                                     "dangling reference (the error names the field)"),
                      "409", error_response("an id that exists"), "413",
                      error_response("body too large"), "415",
                      error_response("not application/json")));
        json_object_set_new(create, "requestBody",
                            json_pack("{s:b,s:o}", "required", 1, "content",
                                      json_content(ref(create_name))));
        snprintf(coll, sizeof(coll), "/api/v1/%s", kind);
        json_object_set_new(paths, coll, json_pack("{s:o,s:o}", "get", list, "post", create));

        json_t *get = op(kind, "Read one",
                         json_pack("{s:o,s:o}", "200", response("the record", ref(name)), "404",
                                   error_response("no such record")));
        json_t *update = op(
            kind, "Update the fields given (null clears an optional one)",
            json_pack("{s:o,s:o,s:o,s:o,s:o}", "200", response("updated", ref(name)), "400",
                      error_response("invalid (the error names the field)"), "404",
                      error_response("no such record"), "409",
                      error_response("owned by the config file"), "415",
                      error_response("not application/json")));
        json_object_set_new(update, "requestBody",
                            json_pack("{s:b,s:o}", "required", 1, "content",
                                      json_content(ref(update_name))));
        json_t *del = op(kind, "Delete",
                         json_pack("{s:o,s:o,s:o}", "200",
                                   response("deleted", json_pack("{s:s,s:{s:{s:s}}}", "type",
                                                                 "object", "properties",
                                                                 "deleted", "type", "string")),
                                   "404", error_response("no such record"), "409",
                                   error_response("still referenced, or owned by the config "
                                                  "file")));
        snprintf(item, sizeof(item), "/api/v1/%s/{id}", kind);
        json_object_set_new(paths, item,
                            json_pack("{s:o,s:o,s:o,s:o}", "parameters", json_pack("[o]",
                                                                                   id_param()),
                                      "get", get, "patch", update, "delete", del));
    }
}

static json_t *body_of(json_t *schema)
{
    return json_pack("{s:b,s:o}", "required", 1, "content", json_content(schema));
}

/* A PTZ operation: what every one of them may answer besides its own 200. */
static json_t *ptz_op(const char *summary, const char *ok, json_t *any)
{
    return op("ptz", summary,
              json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "200",
                        response(ok, json_incref(any)), "400",
                        error_response("bad argument"), "403",
                        error_response("viewers may not steer"), "404",
                        error_response("no such camera (or not yours), or no such preset"), "409",
                        error_response("the camera has no PTZ, or another operator holds its "
                                       "control lock (\"holder\" names who)"),
                        "502", error_response("the camera failed: refused the credentials, "
                                              "unreachable, or a protocol error (the message "
                                              "says which)"),
                        "503", error_response("too many commands waiting for this camera"),
                        "504", error_response("the camera did not answer in time")));
}

static json_t *n_param(const char *what)
{
    return json_pack("{s:s,s:s,s:b,s:s,s:{s:s,s:i,s:i}}", "name", "n", "in", "path", "required",
                     1, "description", what, "schema", "type", "integer", "minimum", 1,
                     "maximum", 256);
}

/* docs/ptz.md */
static void add_ptz_paths(json_t *paths, json_t *any)
{
    json_t *speeds = json_pack(
        "{s:s,s:{s:{s:s,s:i,s:i},s:{s:s,s:i,s:i},s:{s:s,s:i,s:i}}}", "type", "object",
        "properties", "pan", "type", "number", "minimum", -1, "maximum", 1, "tilt", "type",
        "number", "minimum", -1, "maximum", 1, "zoom", "type", "number", "minimum", -1,
        "maximum", 1);
    json_t *move = ptz_op("Continuous move at speeds -1..1 (+pan right, +tilt up, +zoom in); "
                          "a lease: repeat within 1 s or vigil stops the camera",
                          "moving", any);
    json_object_set_new(move, "requestBody", body_of(speeds));
    json_object_set_new(paths, "/api/v1/cameras/{id}/ptz/move",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "post", move));
    json_object_set_new(paths, "/api/v1/cameras/{id}/ptz/stop",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "post",
                                  ptz_op("Stop (releases the control lock)", "stopped", any)));
    json_object_set_new(paths, "/api/v1/cameras/{id}/ptz/presets",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "get",
                                  ptz_op("Presets with their names", "presets", any)));
    json_object_set_new(paths, "/api/v1/cameras/{id}/ptz/presets/{n}/goto",
                        json_pack("{s:[o,o],s:o}", "parameters", id_param(),
                                  n_param("preset number"), "post",
                                  ptz_op("Recall a preset", "recalled", any)));
    json_t *set = ptz_op("Store the current position as a preset", "stored", any);
    json_object_set_new(set, "requestBody",
                        json_pack("{s:b,s:o}", "required", 0, "content",
                                  json_content(json_pack("{s:s,s:{s:{s:s,s:i}}}", "type",
                                                         "object", "properties", "name", "type",
                                                         "string", "maxLength", 64))));
    json_object_set_new(paths, "/api/v1/cameras/{id}/ptz/presets/{n}",
                        json_pack("{s:[o,o],s:o,s:o}", "parameters", id_param(),
                                  n_param("preset number"), "put", set, "delete",
                                  ptz_op("Remove a preset", "removed", any)));
    json_object_set_new(paths, "/api/v1/cameras/{id}/ptz/status",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "get",
                                  ptz_op("Position, moving or idle, who holds the control lock, "
                                         "reachability",
                                         "status", any)));
    json_t *alarm = ptz_op("Set a virtual alarm on or off (Bosch virtual input; ONVIF relay "
                           "output)",
                           "set", any);
    json_object_set_new(alarm, "requestBody",
                        body_of(json_pack("{s:s,s:[s],s:{s:{s:s}}}", "type", "object",
                                          "required", "on", "properties", "on", "type",
                                          "boolean")));
    json_object_set_new(paths, "/api/v1/cameras/{id}/alarms/{n}",
                        json_pack("{s:[o,o],s:o}", "parameters", id_param(),
                                  n_param("alarm number"), "post", alarm));
}

/* Sign-in, stream tokens, grants, the audit log and integration keys. */
static void add_access_paths(json_t *paths, json_t *any)
{
    json_t *login = op("access", "Sign in: sets the session cookie, returns the CSRF token",
                       json_pack("{s:o,s:o,s:o,s:o}", "200", response("signed in", json_incref(any)),
                                 "400", error_response("not {user, password}"), "401",
                                 error_response("wrong user name or password"), "429",
                                 error_response("too many failed logins (Retry-After)")));
    json_object_set_new(login, "requestBody",
                        body_of(json_pack("{s:s,s:[ss],s:{s:{s:s},s:{s:s,s:s}}}", "type",
                                          "object", "required", "user", "password",
                                          "properties", "user", "type", "string", "password",
                                          "type", "string", "format", "password")));
    json_object_set_new(login, "security", json_array());
    json_object_set_new(paths, "/api/v1/login", json_pack("{s:o}", "post", login));
    json_object_set_new(paths, "/api/v1/logout",
                        json_pack("{s:o}", "post",
                                  op("access", "Sign out (ends the session)",
                                     json_pack("{s:o}", "200",
                                               response("signed out", json_incref(any))))));
    json_object_set_new(paths, "/api/v1/session",
                        json_pack("{s:o}", "get",
                                  op("access", "Who the caller is (and the CSRF token)",
                                     json_pack("{s:o,s:o}", "200",
                                               response("the caller", json_incref(any)), "401",
                                               error_response("not signed in")))));
    json_t *token = op("access", "A stream token for one camera (?token= on its outputs)",
                       json_pack("{s:o,s:o,s:o}", "201", response("the token and ready URLs",
                                                                  json_incref(any)),
                                 "400", error_response("bad ttl_s"), "404",
                                 error_response("no such camera")));
    json_object_set_new(token, "requestBody",
                        json_pack("{s:b,s:o}", "required", 0, "content",
                                  json_content(json_pack("{s:s,s:{s:{s:s,s:i,s:i}}}", "type",
                                                         "object", "properties", "ttl_s",
                                                         "type", "integer", "minimum", 1,
                                                         "maximum", 3600))));
    json_object_set_new(paths, "/api/v1/cameras/{id}/token",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "post", token));
    json_t *gparams = json_array();
    static const char *const gnames[] = {"tenant_id", "user_id", "camera_id", "site_id"};
    json_t *gschema = json_pack("{s:s,s:{}}", "type", "object", "properties");
    for (int i = 0; i < 4; i++) {
        json_array_append_new(gparams, json_pack("{s:s,s:s,s:{s:s}}", "name", gnames[i], "in",
                                                 "query", "schema", "type", "string"));
        json_object_set_new(json_object_get(gschema, "properties"), gnames[i],
                            json_pack("{s:s}", "type", "string"));
    }
    json_t *glist = op("access", "Grants (of one tenant or user with their query)",
                       json_pack("{s:o}", "200", response("grants", json_incref(any))));
    add_params(glist, json_incref(gparams));
    json_t *gadd = op("access", "Grant a camera or a site to a tenant or a user",
                      json_pack("{s:o,s:o,s:o}", "201", response("granted", json_incref(gschema)),
                                "400", error_response("not one party and one object"), "404",
                                error_response("no such tenant, user, camera or site")));
    json_object_set_new(gadd, "requestBody", body_of(json_incref(gschema)));
    json_t *gdel = op("access", "Revoke a grant (open streams that lose it are closed)",
                      json_pack("{s:o,s:o}", "200", response("revoked", json_incref(any)), "404",
                                error_response("no such grant")));
    add_params(gdel, gparams);
    json_decref(gschema);
    json_object_set_new(paths, "/api/v1/grants",
                        json_pack("{s:o,s:o,s:o}", "get", glist, "post", gadd, "delete", gdel));
    json_t *audit = op("access", "The audit log, newest first (paged)",
                       json_pack("{s:o,s:o}", "200", response("entries", json_incref(any)),
                                 "400", error_response("bad offset or limit")));
    add_params(audit, json_pack("[{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}}]", "name", "offset", "in",
                                "query", "schema", "type", "integer", "name", "limit", "in",
                                "query", "schema", "type", "integer"));
    json_object_set_new(paths, "/api/v1/audit", json_pack("{s:o}", "get", audit));

    /* Integration keys. */
    json_t *kschema = json_pack(
        "{s:s,s:[s],s:{s:{s:s},s:{s:s},s:{s:s,s:[sss]},s:{s:s,s:{s:s}},s:{s:s,s:i}}}", "type",
        "object", "required", "user_id", "properties", "user_id", "type", "string", "name",
        "type", "string", "role", "type", "string", "enum", "viewer", "operator", "admin",
        "cameras", "type", "array", "items", "type", "string", "expires_in_s", "type",
        "integer", "minimum", 1);
    json_t *klist = op("access", "Integration keys (never the keys themselves)",
                       json_pack("{s:o}", "200", response("keys", json_incref(any))));
    add_params(klist, json_pack("[{s:s,s:s,s:{s:s}}]", "name", "user_id", "in", "query",
                                "schema", "type", "string"));
    json_t *kadd = op("access", "Make an integration key: the key is in this response only",
                      json_pack("{s:o,s:o,s:o}", "201", response("the key and its record",
                                                                 json_incref(any)),
                                "400", error_response("invalid (the error names the field)"),
                                "404", error_response("no such user or camera")));
    json_object_set_new(kadd, "requestBody", body_of(kschema));
    json_object_set_new(paths, "/api/v1/keys", json_pack("{s:o,s:o}", "get", klist, "post", kadd));
    json_t *kdel = op("access", "Remove an integration key (its open streams close)",
                      json_pack("{s:o,s:o}", "200", response("removed", json_incref(any)), "404",
                                error_response("no such key")));
    json_object_set_new(paths, "/api/v1/keys/{id}",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "delete", kdel));
}

/* GET /api/v1/status (status.c). Lags in milliseconds, fractional. */
static json_t *status_schema(void)
{
    json_t *bucket = json_pack(
        "{s:s,s:[s,s],s:{s:{s:s,s:b,s:s},s:{s:s}}}", "type", "object", "required", "le_ms",
        "count", "properties", "le_ms", "type", "number", "nullable", 1, "description",
        "upper bound (inclusive); null: +Inf", "count", "type", "integer");
    json_t *lag = json_pack(
        "{s:s,s:[s,s,s,s,s,s,s],s:{s:{s:s,s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},"
        "s:{s:s,s:o,s:s}}}",
        "type", "object", "required", "max_10s", "max", "mean", "samples", "interval_ms",
        "window_s", "buckets", "properties", "max_10s", "type", "number", "description",
        "the longest stall over the last 10 s (to 11 s)", "max", "type", "number", "mean",
        "type", "number", "samples", "type", "integer", "interval_ms", "type", "integer",
        "window_s", "type", "integer", "buckets", "type", "array", "items", bucket,
        "description", "histogram of the timer's lateness, one count per bucket (not "
        "cumulative)");
    return json_pack("{s:s,s:[s],s:{s:o}}", "type", "object", "required", "loop_lag_ms",
                     "properties", "loop_lag_ms", lag);
}

/* POST /api/v1/discover (discover.c, docs/discovery.md). */
static void add_discover_path(json_t *paths, json_t *schemas)
{
    json_t *strings = json_pack("{s:s,s:{s:s}}", "type", "array", "items", "type", "string");
    json_object_set_new(
        schemas, "DiscoveredDevice",
        json_pack("{s:s,s:[sssssssss],s:{s:{s:s,s:s},s:O,s:O,s:O,s:O,s:{s:s,s:b,s:s},"
                  "s:{s:s,s:b,s:s},s:{s:s,s:b},s:{s:s}}}",
                  "type", "object", "required", "endpoint", "addresses", "xaddrs", "types",
                  "scopes", "name", "hardware", "location", "ptz", "properties", "endpoint",
                  "type", "string", "description",
                  "WS-Addressing endpoint (urn:uuid:...), the device's stable identity",
                  "addresses", strings, "xaddrs", strings, "types", strings, "scopes", strings,
                  "name", "type", "string", "nullable", 1, "description",
                  "from the onvif://www.onvif.org/name/ scope", "hardware", "type", "string",
                  "nullable", 1, "description", "the model (hardware/ scope)", "location",
                  "type", "string", "nullable", 1, "ptz", "type", "boolean"));
    json_decref(strings);
    json_object_set_new(
        schemas, "Discovery",
        json_pack("{s:s,s:[ssss],s:{s:{s:s,s:{s:s}},s:{s:s},s:{s:s,s:s},s:{s:s}}}", "type",
                  "object", "required", "devices", "answers", "ignored", "wait_ms", "properties",
                  "devices", "type", "array", "items", "$ref",
                  "#/components/schemas/DiscoveredDevice", "answers", "type", "integer",
                  "ignored", "type", "integer", "description",
                  "answers dropped: malformed, too large, or for another probe", "wait_ms",
                  "type", "integer"));
    json_t *post = op(
        "discovery",
        "Find ONVIF devices on the server's LAN (WS-Discovery probe to 239.255.255.250:3702); "
        "answers when the wait is over. One at a time per server (admins)",
        json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "200", response("what answered", ref("Discovery")),
                  "400", error_response("bad wait_s or interface"), "403",
                  error_response("not an admin"), "415", error_response("not application/json"),
                  "429", error_response("a discovery is already running (Retry-After)"), "503",
                  error_response("the probe could not be sent (no multicast route)")));
    json_object_set_new(
        post, "requestBody",
        json_pack("{s:b,s:o}", "required", 0, "content",
                  json_content(json_pack(
                      "{s:s,s:b,s:{s:{s:s,s:f,s:i,s:i},s:{s:s,s:s,s:s}}}", "type", "object",
                      "additionalProperties", 0, "properties", "wait_s", "type", "number",
                      "minimum", 0.05, "maximum", 10, "default", 2, "interface", "type",
                      "string", "format", "ipv4", "description",
                      "send from this address of the server (its network)"))));
    json_object_set_new(paths, "/api/v1/discover", json_pack("{s:o}", "post", post));
}

static json_t *build(void)
{
    json_t *schemas = json_object(), *paths = json_object();
    json_object_set_new(
        schemas, "Error",
        json_pack("{s:s,s:[s],s:{s:{s:s,s:[ss],s:{s:{s:s},s:{s:s},s:{s:s}}}}}", "type", "object",
                  "required", "error", "properties", "error", "type", "object", "required",
                  "code", "message", "properties", "code", "type", "string", "message", "type",
                  "string", "field", "type", "string"));
    json_object_set_new(
        schemas, "CameraLive",
        json_pack("{s:s,s:b,s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s,s:{s:s}},"
                  "s:{s:s}}}",
                  "type", "object", "nullable", 1, "description",
                  "what the server runs for the camera now; null when it runs nothing",
                  "properties", "state", "type", "string", "reason", "type", "string", "width",
                  "type", "integer", "height", "type", "integer", "fps", "type", "integer",
                  "default_tier", "type", "string", "tiers", "type", "array", "items", "type",
                  "object", "url", "type", "string"));
    add_record_paths(paths, schemas);

    json_t *any = json_pack("{s:s}", "type", "object");
    json_object_set_new(paths, "/healthz",
                        json_pack("{s:o}", "get", op("operations", "Liveness",
                                                     json_pack("{s:o}", "200",
                                                               response("alive", NULL)))));
    json_object_set_new(
        paths, "/readyz",
        json_pack("{s:o}", "get",
                  op("operations",
                     "Readiness: the database answers and this instance is registered in it "
                     "(or there is no database)",
                     json_pack("{s:o,s:o}", "200", response("ready", NULL), "503",
                               response("not ready: the database did not answer, or the "
                                        "instance is not registered yet", NULL)))));
    json_object_set_new(
        paths, "/api/v1/instances",
        json_pack("{s:o}", "get",
                  op("operations",
                     "The vigil instances sharing the database: id, URLs, capacity, load, "
                     "heartbeat, whether alive, camera leases held",
                     json_pack("{s:o}", "200", response("instances", json_incref(any))))));
    json_object_set_new(
        paths, "/api/v1/uplink",
        json_pack("{s:o}", "get",
                  op("operations",
                     "The WebSocket an edge vigil dials (--uplink; docs/uplink.md): its hello, "
                     "then channels to its RTSP server",
                     json_pack("{s:o,s:o}", "101", response("upgraded", NULL), "426",
                               error_response("not an Upgrade request")))));
    json_object_set_new(
        paths, "/api/v1/uplinks",
        json_pack("{s:o}", "get",
                  op("operations",
                     "The edge sites that dial this instance: connected or not, from where, "
                     "their cameras, open channels, bytes each way",
                     json_pack("{s:o}", "200", response("uplinks", json_incref(any))))));
    json_object_set_new(
        paths, "/api/v1/instances/{id}/drain",
        json_pack("{s:[o],s:o}", "parameters", id_param(), "post",
                  op("operations",
                     "Asks an instance to hand its cameras over and exit, as on SIGTERM (it reads "
                     "the request with its next heartbeat, within a second)",
                     json_pack("{s:o,s:o}", "202", response("asked", json_incref(any)), "404",
                               response("no such instance is registered", NULL)))));
    json_t *metrics = op("operations", "Prometheus metrics (docs/metrics.md)",
                         json_pack("{s:{s:s,s:{s:{s:{s:s}}}}}", "200", "description",
                                   "text exposition format 0.0.4", "content",
                                   "text/plain", "schema", "type", "string"));
    json_object_set_new(paths, "/metrics", json_pack("{s:o}", "get", metrics));
    json_object_set_new(schemas, "Status", status_schema());
    json_t *status = op("operations", "The server's own health: the event loop's stalls, "
                        "from a timer's lateness (admins)",
                        json_pack("{s:o,s:o}", "200", response("status", ref("Status")), "403",
                                  error_response("not an admin")));
    json_object_set_new(paths, "/api/v1/status", json_pack("{s:o}", "get", status));
    add_discover_path(paths, schemas);
    json_object_set_new(paths, "/api/v1/openapi.json",
                        json_pack("{s:o}", "get", op("operations", "This document",
                                                     json_pack("{s:o}", "200",
                                                               response("OpenAPI 3.0",
                                                                        json_incref(any))))));
    json_object_set_new(paths, "/api/v1/streams",
                        json_pack("{s:o}", "get", op("streams", "Every stream's state and "
                                                     "statistics (docs/streams.md)",
                                                     json_pack("{s:o}", "200",
                                                               response("streams",
                                                                        json_incref(any))))));
    json_object_set_new(
        paths, "/api/v1/streams/{id}",
        json_pack("{s:[o],s:o}", "parameters", id_param(), "get",
                  op("streams", "One stream, with its viewers",
                     json_pack("{s:o,s:o}", "200", response("the stream", json_incref(any)),
                               "404", error_response("no such camera")))));
    json_t *viewers = op("streams", "Connected viewers",
                         json_pack("{s:o,s:o}", "200", response("viewers", json_incref(any)),
                                   "400", error_response("bad camera parameter")));
    add_params(viewers, json_pack("[{s:s,s:s,s:{s:s}}]", "name", "camera", "in", "query",
                                  "schema", "type", "string"));
    json_object_set_new(paths, "/api/v1/viewers", json_pack("{s:o}", "get", viewers));
    json_t *ws = op("outputs", "WebSocket viewer (docs/protocol.md): JPEG frames, JSON control",
                    json_pack("{s:o,s:o}", "101", response("upgraded", NULL), "426",
                              error_response("not an Upgrade request")));
    add_params(ws, json_pack("[o]", tier_param()));
    json_object_set_new(paths, "/api/v1/cameras/{id}/ws",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "get", ws));
    json_t *mjpeg = op("outputs", "MJPEG over HTTP (multipart/x-mixed-replace)",
                       json_pack("{s:{s:s,s:{s:{s:{s:s,s:s}}}},s:o,s:o}", "200", "description",
                                 "a never-ending multipart stream", "content",
                                 "multipart/x-mixed-replace", "schema", "type", "string",
                                 "format", "binary", "400", error_response("unknown tier"),
                                 "404", error_response("no such camera")));
    add_params(mjpeg, json_pack("[o]", tier_param()));
    json_object_set_new(paths, "/cameras/{id}/mjpeg",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "get", mjpeg));
    json_t *snap = op("outputs", "The latest picture",
                      json_pack("{s:{s:s,s:{s:{s:{s:s,s:s}}}},s:o,s:o,s:o}", "200",
                                "description", "a JPEG", "content", "image/jpeg", "schema",
                                "type", "string", "format", "binary", "400",
                                error_response("unknown tier"), "404",
                                error_response("no such camera"), "503",
                                error_response("no picture within the wait")));
    add_params(snap, json_pack("[o]", tier_param()));
    json_object_set_new(paths, "/cameras/{id}/snapshot.jpg",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "get", snap));
    json_t *hls = op("outputs",
                     "LL-HLS media playlist of the camera's own H.264/H.265 (docs/hls.md): the "
                     "first request starts the camera; _HLS_msn/_HLS_part hold the request "
                     "until that part exists",
                     json_pack("{s:{s:s,s:{s:{s:{s:s}}}},s:o,s:o,s:o,s:o}", "200", "description",
                               "the playlist", "content", "application/vnd.apple.mpegurl",
                               "schema", "type", "string", "400",
                               error_response("a directive too far ahead, or malformed"), "404",
                               error_response("no such camera"), "415",
                               error_response("the camera's video is not H.264/H.265"), "503",
                               error_response("no part within the wait")));
    add_params(hls, json_pack("[{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}}]", "name",
                              "_HLS_msn", "in", "query", "schema", "type", "integer", "name",
                              "_HLS_part", "in", "query", "schema", "type", "integer", "name",
                              "_HLS_skip", "in", "query", "schema", "type", "string"));
    json_object_set_new(paths, "/cameras/{id}/hls/index.m3u8",
                        json_pack("{s:[o],s:o}", "parameters", id_param(), "get", hls));
    json_t *hls_file = op(
        "outputs", "An LL-HLS init segment, segment or part, named by the playlist",
        json_pack("{s:{s:s,s:{s:{s:{s:s,s:s}}}},s:o,s:o}", "200", "description",
                  "fMP4 (init: video/mp4; segments and parts: video/iso.segment)", "content",
                  "video/mp4", "schema", "type", "string", "format", "binary", "404",
                  error_response("not held (left the window, or the stream restarted)"), "503",
                  error_response("the hinted part did not come within the wait")));
    json_object_set_new(
        paths, "/cameras/{id}/hls/{name}",
        json_pack("{s:[o,{s:s,s:s,s:b,s:{s:s}}],s:o}", "parameters", id_param(), "name", "name",
                  "in", "path", "required", 1, "schema", "type", "string", "get", hls_file));
    add_access_paths(paths, any);
    add_ptz_paths(paths, any);
    /* The routes anyone may call say so (the document's default is "signed in"). */
    json_object_set_new(json_object_get(json_object_get(paths, "/healthz"), "get"), "security",
                        json_array());
    json_object_set_new(json_object_get(json_object_get(paths, "/readyz"), "get"), "security",
                        json_array());
    json_object_set_new(json_object_get(json_object_get(paths, "/api/v1/openapi.json"), "get"),
                        "security", json_array());
    json_decref(any);

    /* How callers identify (docs/security.md): any one of these. */
    json_t *security = json_pack(
        "{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s}}", "bearer", "type", "http",
        "scheme", "bearer", "bearerFormat", "JWT", "session", "type", "apiKey", "in", "cookie",
        "name", "vigil_session", "description",
        "from POST /api/v1/login; state-changing requests also need X-CSRF-Token",
        "streamToken", "type", "apiKey", "in", "query", "name", "token", "description",
        "from POST /api/v1/cameras/{id}/token; stream outputs only");
    return json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:o,s:o},s:[{s:[]},{s:[]}]}", "openapi",
                     "3.0.3", "info", "title", "vigil", "version", "1", "description",
                     "Low-latency camera streaming server: configuration, streams, outputs.",
                     "paths", paths, "components", "schemas", schemas, "securitySchemes",
                     security, "security", "bearer", "session");
}

static int get_openapi(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    (void)user;
    return vg_conn_respond_json(c, 200, build());
}

static const vg_handler_ops_t openapi_ops = {.name = "openapi", .on_request = get_openapi};

void vg__api_openapi_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    vg_server_route(srv, "GET", "/api/v1/openapi.json", VG_ACCESS_PUBLIC, &openapi_ops, (void *)ctx);
}
