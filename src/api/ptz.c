/* api/ptz: steering cameras over REST and over the camera's viewing WebSocket (docs/ptz.md).
 *
 * REST: POST /api/v1/cameras/{id}/ptz/move, /ptz/stop; GET /ptz/presets; POST
 * /ptz/presets/{n}/goto; PUT and DELETE /ptz/presets/{n}; GET /ptz/status; POST
 * /api/v1/cameras/{id}/alarms/{n}. Operators and admins only, on cameras they can see (the
 * gate answers 404 for the others and 403 for viewers). Each request becomes one command of
 * the control layer (ptz/ctl.h), answered when the camera answers: camera failures are 502
 * (504 on a time-out) with a message saying what the camera did.
 * WebSocket: {"type":"ptz.move"|"ptz.stop"|"ptz.goto"|"ptz.alarm",...} on
 * /api/v1/cameras/{id}/ws, answered with {"type":"ptz",...}; each socket is one session of
 * the control layer, so closing it stops a move it started.
 * Audit: every steering command and alarm (a move once when it starts, not every refresh),
 * takeovers and refusals. Loop thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "core/util.h"
#include "outputs/outputs.h"

typedef struct ws_sess {
    vg_conn_t *conn;
    uint64_t id;
} ws_sess_t;

struct vg__api_ptz {
    const vg_api_ctx_t *ctx;
    ws_sess_t *sess;
    size_t n_sess;
};

typedef struct ptz_req {
    vg__api_ptz_t *api;
    vg_conn_t *conn;     /* REST: NULL once the client went */
    uint64_t ws_session; /* WebSocket: its conn is looked up at the answer */
    vg_ptz_op_t op;
    int number;
    bool is_on;
    bool is_audited;
    char camera[128];
    char actor[VG_PTZ_ACTOR_MAX];
    char peer[80];
    char detail[160];
    char name[VG_PTZ_NAME_MAX + 1];
} ptz_req_t;

static const char *audit_action(vg_ptz_op_t op)
{
    switch (op) {
    case VG_PTZ_MOVE: return "ptz.move";
    case VG_PTZ_STOP: return "ptz.stop";
    case VG_PTZ_GOTO: return "ptz.preset.goto";
    case VG_PTZ_SET: return "ptz.preset.store";
    case VG_PTZ_REMOVE: return "ptz.preset.remove";
    case VG_PTZ_ALARM: return "ptz.alarm";
    default: return NULL; /* reads are not audited */
    }
}

static void audit(const vg_api_ctx_t *ctx, const char *actor, const char *peer,
                  const char *action, const char *camera, const char *outcome,
                  const char *detail)
{
    vg_principal_t who = {0};
    vg_strlcpy(who.actor, actor, sizeof(who.actor));
    vg_auth_audit_as(ctx->auth, &who, peer[0] ? peer : NULL, action, camera, outcome, detail);
    vg_auth_audit_flush(ctx->auth);
}

/* A failed status as (HTTP status, code). */
static int error_http(int status, const char **code)
{
    switch (status) {
    case -ETIMEDOUT: *code = "camera_timeout"; return 504;
    case VG_EUNAUTHORIZED: *code = "camera_auth"; return 502;
    case VG_EUNREACHABLE: *code = "camera_unreachable"; return 502;
    case VG_EPROTO: *code = "camera_error"; return 502;
    case VG_ENOENT: *code = "not_found"; return 404;
    case VG_ECLOSED: *code = "unavailable"; return 503;
    case VG_EFULL: *code = "busy"; return 503;
    case VG_EINVAL: *code = "bad_request"; return 400;
    case -ENOTSUP: *code = "not_supported"; return 501;
    default: *code = "camera_error"; return 502;
    }
}

static json_t *result_json(const ptz_req_t *r, const vg_ptz_result_t *res)
{
    json_t *o = json_pack("{s:s}", "camera", r->camera);
    switch (r->op) {
    case VG_PTZ_MOVE:
        json_object_set_new(o, "moving", json_true());
        json_object_set_new(o, "lease_ms", json_integer(VG_PTZ_LEASE_MS));
        break;
    case VG_PTZ_STOP: json_object_set_new(o, "moving", json_false()); break;
    case VG_PTZ_GOTO: json_object_set_new(o, "preset", json_integer(r->number)); break;
    case VG_PTZ_SET: {
        int n = res && res->n_presets == 1 ? res->presets[0].number : r->number;
        json_object_set_new(o, "preset", json_integer(n));
        const char *name = res && res->n_presets == 1 ? res->presets[0].name : r->name;
        json_object_set_new(o, "name", name && *name ? json_string(name) : json_null());
        break;
    }
    case VG_PTZ_REMOVE: json_object_set_new(o, "deleted", json_integer(r->number)); break;
    case VG_PTZ_ALARM:
        json_object_set_new(o, "alarm", json_integer(r->number));
        json_object_set_new(o, "on", json_boolean(r->is_on));
        break;
    case VG_PTZ_LIST: {
        json_t *arr = json_array();
        for (size_t i = 0; res && i < res->n_presets; i++)
            json_array_append_new(arr, json_pack("{s:i,s:s?}", "number", res->presets[i].number,
                                                 "name", res->presets[i].name[0]
                                                             ? res->presets[i].name : NULL));
        json_object_set_new(o, "presets", arr);
        json_object_set_new(o, "source", json_string("camera"));
        break;
    }
    case VG_PTZ_STATUS: {
        vg_ptz_ctl_info_t info;
        vg_ptz_ctl_info(r->api->ctx->ptz, r->camera, &info);
        const vg_ptz_status_t *s = res ? res->status : NULL;
        json_object_set_new(o, "driver", json_string(info.driver ? info.driver : ""));
        json_object_set_new(o, "moving", json_boolean(info.is_moving || (s && s->is_moving)));
        json_object_set_new(o, "position",
                            s && s->has_position
                                ? json_pack("{s:f,s:f,s:f}", "pan", s->pan, "tilt", s->tilt,
                                            "zoom", s->zoom)
                                : json_null());
        json_object_set_new(o, "holder", info.holder[0] ? json_string(info.holder) : json_null());
        json_object_set_new(o, "lease_left_ms", json_integer(info.lease_left_ms));
        json_object_set_new(
            o, "health",
            info.has_health ? json_pack("{s:b,s:s,s:s,s:I}", "reachable", info.is_reachable,
                                        "reason", info.health_reason, "device", info.device_name,
                                        "checked_at", (json_int_t)info.checked_unix_s)
                            : json_null());
        break;
    }
    default: break;
    }
    return o;
}

static vg_conn_t *ws_conn(vg__api_ptz_t *api, uint64_t session)
{
    for (size_t i = 0; i < api->n_sess; i++) {
        if (api->sess[i].id == session)
            return api->sess[i].conn;
    }
    return NULL;
}

static void on_done(void *user, int status, const vg_ptz_result_t *res)
{
    ptz_req_t *r = user;
    const vg_api_ctx_t *ctx = r->api->ctx;
    const char *msg = status < 0 ? (res && res->error ? res->error : vg_strerror(status)) : NULL;
    if (r->is_audited)
        audit(ctx, r->actor, r->peer, audit_action(r->op), r->camera,
              status < 0 ? "error" : "ok", status < 0 ? msg : r->detail);
    if (r->ws_session) {
        vg_conn_t *c = ws_conn(r->api, r->ws_session);
        if (c) {
            json_t *o = status < 0 ? json_object() : result_json(r, res);
            json_object_set_new(o, "type", json_string("ptz"));
            json_object_set_new(o, "op", json_string(vg_ptz_op_name(r->op)));
            json_object_set_new(o, "ok", json_boolean(status == 0));
            if (status < 0) {
                const char *code;
                error_http(status, &code);
                json_object_set_new(o, "code", json_string(code));
                json_object_set_new(o, "message", json_string(msg));
            }
            vg_outputs_ws_send(c, o);
        }
    } else if (r->conn) {
        vg_conn_t *c = r->conn;
        vg_conn_set_data(c, NULL);
        if (status < 0 && r->op == VG_PTZ_STATUS) {
            /* What vigil knows (the lock, the lease, the last health check) is worth having
             * even when the camera does not answer: 200, its failure in "error". */
            const char *code;
            error_http(status, &code);
            json_t *o = result_json(r, NULL);
            json_object_set_new(o, "error", json_pack("{s:s,s:s}", "code", code, "message", msg));
            vg_conn_respond_json(c, 200, o);
        } else if (status < 0) {
            const char *code;
            int http = error_http(status, &code);
            vg_conn_error(c, http, code, "camera '%s': %s", r->camera, msg);
        } else {
            vg_conn_respond_json(c, 200, result_json(r, res));
        }
    }
    free(r);
}

static void rest_closed(vg_conn_t *c)
{
    ptz_req_t *r = vg_conn_data(c);
    if (r)
        r->conn = NULL; /* the answer is dropped; the camera still gets the command */
}

/* Submits r (taken) for the caller; on a refusal answers through reply and frees r.
 * reply(c, http, code, message, holder) */
typedef void (*reply_fn)(void *arg, int http, const char *code, const char *message,
                         const char *holder);

static void submit(ptz_req_t *r, const vg_ptz_who_t *who, const vg_ptz_request_t *rq,
                   reply_fn reply, void *arg)
{
    const vg_api_ctx_t *ctx = r->api->ctx;
    vg_ptz_ctl_info_t before;
    if (vg_ptz_ctl_info(ctx->ptz, r->camera, &before) < 0) {
        char m[200];
        snprintf(m, sizeof(m), "camera '%s' has no PTZ (set its ptz_driver and ptz_address)",
                 r->camera);
        reply(arg, 409, "no_ptz", m, NULL);
        free(r);
        return;
    }
    const char *action = audit_action(rq->op);
    /* A move is audited when it starts, or changes hands; refreshes are not. */
    r->is_audited = action != NULL &&
                    (rq->op != VG_PTZ_MOVE || !before.is_moving ||
                     strcmp(before.holder, who->actor) != 0);
    char holder[VG_PTZ_ACTOR_MAX], takeover[VG_PTZ_ACTOR_MAX];
    const char *err = NULL;
    char actor[VG_PTZ_ACTOR_MAX], peer[80], camera[128];
    vg_strlcpy(actor, r->actor, sizeof(actor));
    vg_strlcpy(peer, r->peer, sizeof(peer));
    vg_strlcpy(camera, r->camera, sizeof(camera));
    /* r may be freed by a synchronous answer (a lease refresh) inside the call. */
    int rc = vg_ptz_ctl_submit(ctx->ptz, camera, who, rq, on_done, r, holder, takeover, &err);
    if (rc == 0) {
        if (takeover[0]) {
            char d[160];
            snprintf(d, sizeof(d), "control taken over from %s", takeover);
            audit(ctx, actor, peer, "ptz.takeover", camera, "ok", d);
        }
        return;
    }
    char m[300];
    int http;
    const char *code;
    if (rc == VG_EBUSY) {
        snprintf(m, sizeof(m), "camera '%s' is being steered by %s; an admin may take over",
                 camera, holder);
        http = 409;
        code = "locked";
        if (action)
            audit(ctx, actor, peer, action, camera, "refused", m);
    } else if (rc == -ENOTSUP) {
        snprintf(m, sizeof(m), "the %s driver of camera '%s' cannot %s",
                 before.driver ? before.driver : "PTZ", camera, vg_ptz_op_name(rq->op));
        http = error_http(rc, &code);
    } else {
        snprintf(m, sizeof(m), "camera '%s': %s", camera, err ? err : vg_strerror(rc));
        http = error_http(rc, &code);
    }
    reply(arg, http, code, m, rc == VG_EBUSY ? holder : NULL);
    free(r);
}

static void rest_reply(void *arg, int http, const char *code, const char *message,
                       const char *holder)
{
    vg_conn_t *c = arg;
    vg_conn_set_data(c, NULL);
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    if (holder)
        json_object_set_new(e, "holder", json_string(holder));
    vg_conn_respond_json(c, http, e);
}

static ptz_req_t *req_new(vg__api_ptz_t *api, vg_conn_t *c, const char *camera, vg_ptz_op_t op)
{
    ptz_req_t *r = vg_xcalloc(1, sizeof(*r));
    r->api = api;
    r->op = op;
    vg_strlcpy(r->camera, camera, sizeof(r->camera));
    const vg_principal_t *p = vg_auth_caller(c);
    vg_strlcpy(r->actor, p && p->actor[0] ? p->actor : "-", sizeof(r->actor));
    vg_auth_audit_peer(api->ctx->auth, c, r->peer, sizeof(r->peer));
    return r;
}

static vg_ptz_who_t who_of(vg_conn_t *c, const ptz_req_t *r, uint64_t session)
{
    const vg_principal_t *p = vg_auth_caller(c);
    return (vg_ptz_who_t){.actor = r->actor, .is_admin = p && p->role == VG_ROLE_ADMIN,
                          .session = session};
}

static bool speed(json_t *o, const char *key, double *out, char *why, size_t len)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_number(v) || !(fabs(json_number_value(v)) <= 1.0)) {
        snprintf(why, len, "\"%s\" is a number from -1 to 1", key);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

static bool parse_move(json_t *body, vg_ptz_request_t *rq, char *why, size_t len)
{
    return speed(body, "pan", &rq->pan, why, len) && speed(body, "tilt", &rq->tilt, why, len) &&
           speed(body, "zoom", &rq->zoom, why, len);
}

static int parse_n(const char *s, int max)
{
    long long v;
    return s && vg_parse_int(s, 1, max, &v) == 0 ? (int)v : -1;
}

/* The REST handlers share one shape: build the request, then submit. */
static int rest(vg_conn_t *c, const char *camera, ptz_req_t *r, const vg_ptz_request_t *rq)
{
    vg_ptz_who_t who = who_of(c, r, 0);
    r->conn = c;
    vg_conn_set_data(c, r);
    submit(r, &who, rq, rest_reply, c);
    return 0;
}

static vg__api_ptz_t *api_of(void *user)
{
    const vg_api_ctx_t *ctx = user;
    return ctx->ptz_priv;
}

static int h_move(vg_conn_t *c, const char *const *params, void *user)
{
    json_t *body = vg_conn_body_json(c, false);
    if (body == NULL)
        return 0;
    vg_ptz_request_t rq = {.op = VG_PTZ_MOVE};
    char why[120];
    bool ok = parse_move(body, &rq, why, sizeof(why));
    json_decref(body);
    if (!ok)
        return vg_conn_error(c, 400, "bad_request", "%s", why);
    ptz_req_t *r = req_new(api_of(user), c, params[0], VG_PTZ_MOVE);
    snprintf(r->detail, sizeof(r->detail), "pan=%.3g tilt=%.3g zoom=%.3g", rq.pan, rq.tilt,
             rq.zoom);
    if (rq.pan == 0 && rq.tilt == 0 && rq.zoom == 0)
        r->op = VG_PTZ_STOP;
    return rest(c, params[0], r, &rq);
}

static int h_stop(vg_conn_t *c, const char *const *params, void *user)
{
    vg_ptz_request_t rq = {.op = VG_PTZ_STOP};
    return rest(c, params[0], req_new(api_of(user), c, params[0], VG_PTZ_STOP), &rq);
}

static void presets_from_vigil(vg_conn_t *c, const vg_api_ctx_t *ctx, const char *camera)
{
    vg_ptz_preset_t list[VG_PTZ_PRESET_MAX];
    size_t n = vg_ptz_ctl_known_presets(ctx->ptz, camera, list, VG_PTZ_PRESET_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:i,s:s?}", "number", list[i].number, "name",
                                             list[i].name[0] ? list[i].name : NULL));
    vg_conn_respond_json(c, 200, json_pack("{s:s,s:o,s:s}", "camera", camera, "presets", arr,
                                           "source", "vigil"));
}

/* Bosch cameras cannot list presets (ptz/bosch.c): the ones stored through vigil. */
static void list_reply(void *arg, int http, const char *code, const char *message,
                       const char *holder)
{
    void **a = arg;
    vg_conn_t *c = a[0];
    if (http == 501) {
        vg_conn_set_data(c, NULL);
        presets_from_vigil(c, a[1], a[2]);
        return;
    }
    rest_reply(c, http, code, message, holder);
}

static int h_presets(vg_conn_t *c, const char *const *params, void *user)
{
    vg__api_ptz_t *api = api_of(user);
    ptz_req_t *r = req_new(api, c, params[0], VG_PTZ_LIST);
    vg_ptz_who_t who = who_of(c, r, 0);
    vg_ptz_request_t rq = {.op = VG_PTZ_LIST};
    r->conn = c;
    vg_conn_set_data(c, r);
    char camera[128];
    vg_strlcpy(camera, params[0], sizeof(camera));
    void *arg[3] = {c, (void *)api->ctx, camera};
    submit(r, &who, &rq, list_reply, arg);
    return 0;
}

static int h_goto(vg_conn_t *c, const char *const *params, void *user)
{
    int n = parse_n(params[1], VG_PTZ_PRESET_MAX);
    if (n < 0)
        return vg_conn_error(c, 400, "bad_request", "a preset is a number from 1 to %d",
                             VG_PTZ_PRESET_MAX);
    ptz_req_t *r = req_new(api_of(user), c, params[0], VG_PTZ_GOTO);
    r->number = n;
    snprintf(r->detail, sizeof(r->detail), "preset %d", n);
    vg_ptz_request_t rq = {.op = VG_PTZ_GOTO, .number = n};
    return rest(c, params[0], r, &rq);
}

static int h_set(vg_conn_t *c, const char *const *params, void *user)
{
    int n = parse_n(params[1], VG_PTZ_PRESET_MAX);
    if (n < 0)
        return vg_conn_error(c, 400, "bad_request", "a preset is a number from 1 to %d",
                             VG_PTZ_PRESET_MAX);
    json_t *body = vg_conn_body_json(c, true);
    if (body == NULL)
        return 0;
    json_t *jn = json_object_get(body, "name");
    if (jn && !json_is_null(jn) &&
        (!json_is_string(jn) || json_string_length(jn) == 0 ||
         json_string_length(jn) > VG_PTZ_NAME_MAX)) {
        json_decref(body);
        return vg_conn_error(c, 400, "bad_request", "\"name\" is a string of 1 to %d bytes",
                             VG_PTZ_NAME_MAX);
    }
    ptz_req_t *r = req_new(api_of(user), c, params[0], VG_PTZ_SET);
    r->number = n;
    if (json_is_string(jn))
        vg_strlcpy(r->name, json_string_value(jn), sizeof(r->name));
    json_decref(body);
    snprintf(r->detail, sizeof(r->detail), "preset %d%s%s", n, r->name[0] ? " " : "", r->name);
    vg_ptz_request_t rq = {.op = VG_PTZ_SET, .number = n, .name = r->name[0] ? r->name : NULL};
    return rest(c, params[0], r, &rq);
}

static int h_remove(vg_conn_t *c, const char *const *params, void *user)
{
    int n = parse_n(params[1], VG_PTZ_PRESET_MAX);
    if (n < 0)
        return vg_conn_error(c, 400, "bad_request", "a preset is a number from 1 to %d",
                             VG_PTZ_PRESET_MAX);
    ptz_req_t *r = req_new(api_of(user), c, params[0], VG_PTZ_REMOVE);
    r->number = n;
    snprintf(r->detail, sizeof(r->detail), "preset %d", n);
    vg_ptz_request_t rq = {.op = VG_PTZ_REMOVE, .number = n};
    return rest(c, params[0], r, &rq);
}

static int h_status(vg_conn_t *c, const char *const *params, void *user)
{
    vg_ptz_request_t rq = {.op = VG_PTZ_STATUS};
    return rest(c, params[0], req_new(api_of(user), c, params[0], VG_PTZ_STATUS), &rq);
}

static int h_alarm(vg_conn_t *c, const char *const *params, void *user)
{
    int n = parse_n(params[1], 255);
    if (n < 0)
        return vg_conn_error(c, 400, "bad_request", "an alarm is a number from 1 to 255");
    json_t *body = vg_conn_body_json(c, false);
    if (body == NULL)
        return 0;
    json_t *on = json_object_get(body, "on");
    bool is_bool = json_is_boolean(on), is_on = json_is_true(on);
    json_decref(body);
    if (!is_bool)
        return vg_conn_error(c, 400, "bad_request", "the body is {\"on\": true|false}");
    ptz_req_t *r = req_new(api_of(user), c, params[0], VG_PTZ_ALARM);
    r->number = n;
    r->is_on = is_on;
    snprintf(r->detail, sizeof(r->detail), "alarm %d %s", n, is_on ? "on" : "off");
    vg_ptz_request_t rq = {.op = VG_PTZ_ALARM, .number = n, .is_on = is_on};
    return rest(c, params[0], r, &rq);
}

#define OPS(fn, body)                                                                           \
    static const vg_handler_ops_t fn##_ops = {                                                  \
        .name = "ptz", .on_request = fn, .on_close = rest_closed, .max_body = body}
OPS(h_move, 1024);
OPS(h_stop, 1024);
OPS(h_presets, 0);
OPS(h_goto, 1024);
OPS(h_set, 1024);
OPS(h_remove, 0);
OPS(h_status, 0);
OPS(h_alarm, 1024);

/* ---- WebSocket ---- */

static void ws_reply(void *arg, int http, const char *code, const char *message,
                     const char *holder)
{
    void **a = arg;
    json_t *o = json_pack("{s:s,s:s,s:b,s:s,s:s}", "type", "ptz", "op", (const char *)a[1], "ok",
                          0, "code", code, "message", message);
    if (holder)
        json_object_set_new(o, "holder", json_string(holder));
    vg_outputs_ws_send(a[0], o);
}

static uint64_t session_of(vg__api_ptz_t *api, vg_conn_t *c)
{
    for (size_t i = 0; i < api->n_sess; i++) {
        if (api->sess[i].conn == c)
            return api->sess[i].id;
    }
    api->sess = vg_xrealloc(api->sess, (api->n_sess + 1) * sizeof(*api->sess));
    api->sess[api->n_sess] = (ws_sess_t){.conn = c, .id = vg_ptz_ctl_session(api->ctx->ptz)};
    return api->sess[api->n_sess++].id;
}

static void ws_message(void *user, vg_conn_t *c, const char *camera, const char *type,
                       json_t *msg)
{
    vg__api_ptz_t *api = user;
    const char *opname = type + 4; /* after "ptz." */
    void *arg[2] = {c, (void *)opname};
    const vg_principal_t *p = vg_auth_caller(c);
    if (p == NULL || p->role < VG_ROLE_OPERATOR) {
        ws_reply(arg, 403, "forbidden", "steering needs the operator or admin role", NULL);
        return;
    }
    vg_ptz_request_t rq = {0};
    char why[120] = "";
    if (strcmp(opname, "move") == 0) {
        rq.op = VG_PTZ_MOVE;
        if (!parse_move(msg, &rq, why, sizeof(why))) {
            ws_reply(arg, 400, "bad_request", why, NULL);
            return;
        }
        if (rq.pan == 0 && rq.tilt == 0 && rq.zoom == 0)
            rq.op = VG_PTZ_STOP;
    } else if (strcmp(opname, "stop") == 0) {
        rq.op = VG_PTZ_STOP;
    } else if (strcmp(opname, "goto") == 0) {
        json_t *jn = json_object_get(msg, "preset");
        rq.op = VG_PTZ_GOTO;
        rq.number = json_is_integer(jn) ? (int)json_integer_value(jn) : -1;
        if (rq.number < 1 || rq.number > VG_PTZ_PRESET_MAX) {
            ws_reply(arg, 400, "bad_request", "\"preset\" is a number from 1 to 256", NULL);
            return;
        }
    } else if (strcmp(opname, "alarm") == 0) {
        json_t *jn = json_object_get(msg, "alarm"), *on = json_object_get(msg, "on");
        rq.op = VG_PTZ_ALARM;
        rq.number = json_is_integer(jn) ? (int)json_integer_value(jn) : -1;
        rq.is_on = json_is_true(on);
        if (rq.number < 1 || rq.number > 255 || !json_is_boolean(on)) {
            ws_reply(arg, 400, "bad_request", "ptz.alarm takes \"alarm\" (1..255) and \"on\"",
                     NULL);
            return;
        }
    } else {
        ws_reply(arg, 400, "bad_request", "ptz messages: ptz.move, ptz.stop, ptz.goto, ptz.alarm",
                 NULL);
        return;
    }
    ptz_req_t *r = req_new(api, c, camera, rq.op);
    r->number = rq.number;
    r->is_on = rq.is_on;
    r->ws_session = session_of(api, c);
    if (rq.op == VG_PTZ_MOVE)
        snprintf(r->detail, sizeof(r->detail), "pan=%.3g tilt=%.3g zoom=%.3g (WebSocket)",
                 rq.pan, rq.tilt, rq.zoom);
    else if (rq.op == VG_PTZ_GOTO || rq.op == VG_PTZ_ALARM)
        snprintf(r->detail, sizeof(r->detail), "%s %d%s (WebSocket)",
                 rq.op == VG_PTZ_GOTO ? "preset" : "alarm", rq.number,
                 rq.op == VG_PTZ_ALARM ? (rq.is_on ? " on" : " off") : "");
    else
        snprintf(r->detail, sizeof(r->detail), "(WebSocket)");
    vg_ptz_who_t who = who_of(c, r, r->ws_session);
    submit(r, &who, &rq, ws_reply, arg);
}

static void ws_closed(void *user, vg_conn_t *c)
{
    vg__api_ptz_t *api = user;
    for (size_t i = 0; i < api->n_sess; i++) {
        if (api->sess[i].conn == c) {
            uint64_t id = api->sess[i].id;
            api->sess[i] = api->sess[--api->n_sess];
            vg_ptz_ctl_session_closed(api->ctx->ptz, id);
            return;
        }
    }
}

/* ---- registration ---- */

static void ctl_audit(void *user, const char *camera, const char *action, const char *outcome,
                      const char *detail)
{
    audit(user, "vigil", "", action, camera, outcome, detail);
}

void vg_api_ptz_audit_hook(vg_ptz_ctl_cfg_t *cfg, const vg_api_ctx_t *ctx)
{
    cfg->audit = ctl_audit;
    cfg->audit_user = (void *)ctx;
}

void vg__api_ptz_register(vg_server_t *srv, vg_api_ctx_t *ctx)
{
    if (ctx->ptz == NULL)
        return;
    vg__api_ptz_t *api = vg_xcalloc(1, sizeof(*api));
    api->ctx = ctx;
    ctx->ptz_priv = api;
    const unsigned acc = VG_ACCESS_OPERATOR | VG_ACCESS_CAMERA;
    vg_server_route(srv, "POST", "/api/v1/cameras/{}/ptz/move", acc, &h_move_ops, ctx);
    vg_server_route(srv, "POST", "/api/v1/cameras/{}/ptz/stop", acc, &h_stop_ops, ctx);
    vg_server_route(srv, "GET", "/api/v1/cameras/{}/ptz/presets", acc, &h_presets_ops, ctx);
    vg_server_route(srv, "POST", "/api/v1/cameras/{}/ptz/presets/{}/goto", acc, &h_goto_ops, ctx);
    vg_server_route(srv, "PUT", "/api/v1/cameras/{}/ptz/presets/{}", acc, &h_set_ops, ctx);
    vg_server_route(srv, "DELETE", "/api/v1/cameras/{}/ptz/presets/{}", acc, &h_remove_ops, ctx);
    vg_server_route(srv, "GET", "/api/v1/cameras/{}/ptz/status", acc, &h_status_ops, ctx);
    vg_server_route(srv, "POST", "/api/v1/cameras/{}/alarms/{}", acc, &h_alarm_ops, ctx);
    if (ctx->outputs) {
        vg_ws_hook_t hook = {.prefix = "ptz.", .on_message = ws_message, .on_close = ws_closed,
                             .user = api};
        vg_outputs_set_ws_hook(ctx->outputs, &hook);
    }
}

void vg__api_ptz_release(vg_api_ctx_t *ctx)
{
    vg__api_ptz_t *api = ctx->ptz_priv;
    if (api == NULL)
        return;
    free(api->sess);
    free(api);
    ctx->ptz_priv = NULL;
}
