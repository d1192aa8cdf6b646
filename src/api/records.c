/* records: the configuration under /api/v1 — tenants, sites, gateways and cameras — listed,
 * read, created, updated (PATCH: the fields given) and deleted in the store. Validation is
 * the store's (errors name the field: {"error":{"code","message","field"}}); passwords are
 * write-only. Every call runs on the store thread (never on the loop); each write is
 * applied to the running streams and the access cache before the response goes out
 * (ctx->write), so a camera created here can be watched at once.
 *
 * A camera as read here is its record plus "live": what the server runs for it now (state,
 * size, ladder), or null when it runs nothing (disabled). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "core/util.h"

#define MAX_BODY (64 * 1024)
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000

typedef struct kind_route {
    const vg_api_ctx_t *ctx;
    const char *kind;
} kind_route_t;

static const char *const kinds[] = {"tenants", "sites", "gateways", "cameras"};
#define KIND_COUNT (sizeof(kinds) / sizeof(kinds[0]))



static int param_error(vg_conn_t *c, const char *field, const char *message)
{
    return vg_conn_respond_json(c, 400, json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
                                                  "bad_request", "message", message, "field",
                                                  field));
}

/* The live part of a camera (null when nothing runs for it). */
static json_t *camera_live(const vg_api_ctx_t *ctx, const char *id)
{
    vg_stream_t *st = vg_hub_find(ctx->hub, id);
    if (st == NULL)
        return json_null();
    vg_stream_status_t s;
    vg_stream_get_status(st, &s);
    const vg_tier_t *tiers;
    vg_stream_tiers(st, &tiers);
    int w, h, fps;
    vg_stream_size(st, &w, &h, &fps);
    /* Sizes and rates are the camera's real ones once known (as decoded for a camera that
     * does not say them in advance), 0 until then. */
    return json_pack("{s:s,s:s,s:i,s:i,s:i,s:f,s:s,s:o,s:s,s:o}", "state",
                     vg_stream_state_name(s.state), "reason", s.reason, "width", w, "height", h,
                     "fps", fps, "input_fps", s.input_fps, "default_tier",
                     tiers[vg_stream_default_tier(st)].name, "tiers",
                     vg_stream_ladder_json(st), "url", s.url, "health",
                     vg__api_health_json(&s));
}

static json_t *decorate(const kind_route_t *kr, vg_conn_t *c, json_t *rec)
{
    if (strcmp(kr->kind, "cameras") == 0) {
        json_object_set_new(rec, "live", camera_live(kr->ctx, json_string_value(json_object_get(
                                                                  rec, "id"))));
        if (vg_auth_caller(c)->role != VG_ROLE_ADMIN)
            vg__api_redact_camera(rec);
    }
    return rec;
}

static void audit(const kind_route_t *kr, vg_conn_t *c, const char *verb, const char *id,
                  int rc, const vg_store_err_t *err)
{
    char action[32];
    snprintf(action, sizeof(action), "%.12s.%s", kr->kind, verb);
    vg_auth_audit(kr->ctx->auth, c, action, id, rc < 0 ? "failed" : "ok",
                  rc < 0 ? err->message : NULL);
}

/* One request's work on the store thread. */
typedef struct rec_job {
    vg__api_job_t base;
    const kind_route_t *kr;
    char id[128];
    json_t *fields; /* create, update: what to write (owned) */
    json_t *ids;    /* list for a caller who sees only some: the ids of the page (owned) */
    size_t offset, limit, total;
    json_t *out;    /* the result (owned until sent) */
} rec_job_t;

static rec_job_t *rec_job(const kind_route_t *kr, const char *id)
{
    rec_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->base.ctx = kr->ctx;
    j->kr = kr;
    if (id)
        vg_strlcpy(j->id, id, sizeof(j->id));
    return j;
}

static void rec_job_free(rec_job_t *j)
{
    json_decref(j->fields);
    json_decref(j->ids);
    json_decref(j->out);
    free(j);
}

static int query_size(vg_conn_t *c, const char *name, size_t dflt, size_t min, size_t max,
                      size_t *out)
{
    char buf[24];
    long long n;
    int rc = vg_conn_query(c, name, buf, sizeof(buf));
    if (rc == VG_ENOENT) {
        *out = dflt;
        return 0;
    }
    if (rc < 0 || vg_parse_int(buf, (long long)min, (long long)max, &n) < 0)
        return VG_EINVAL;
    *out = (size_t)n;
    return 0;
}

static json_t *page(const rec_job_t *j, json_t *arr)
{
    return json_pack("{s:o,s:I,s:I,s:I}", j->kr->kind, arr, "total", (json_int_t)j->total,
                     "offset", (json_int_t)j->offset, "limit", (json_int_t)j->limit);
}

static int list_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    rec_job_t *j = arg;
    if (j->ids == NULL)
        return vg_store_list(s, j->kr->kind, j->offset, j->limit, &j->out, &j->total, err);
    /* The page of cameras a caller who sees only some of them may list. */
    j->out = json_array();
    j->total = json_array_size(j->ids);
    for (size_t i = j->offset; i < j->total && i < j->offset + j->limit; i++) {
        json_t *rec;
        if (vg_store_get(s, j->kr->kind, json_string_value(json_array_get(j->ids, i)), &rec,
                         err) == 0)
            json_array_append_new(j->out, rec);
    }
    return 0;
}

static void list_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    rec_job_t *j = (rec_job_t *)base;
    if (c && rc < 0) {
        vg__api_store_error(c, err);
    } else if (c) {
        size_t i;
        json_t *rec;
        json_array_foreach(j->out, i, rec) decorate(j->kr, c, rec);
        vg_conn_respond_json(c, 200, page(j, j->out));
        j->out = NULL;
    }
    rec_job_free(j);
}

static int list_records(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    const kind_route_t *kr = user;
    rec_job_t *j = rec_job(kr, NULL);
    if (query_size(c, "offset", 0, 0, 1u << 30, &j->offset) < 0) {
        rec_job_free(j);
        return param_error(c, "offset", "offset: an integer 0 or more");
    }
    if (query_size(c, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, &j->limit) < 0) {
        rec_job_free(j);
        return param_error(c, "limit", "limit: an integer 1..1000");
    }
    /* NULL for a caller who sees everything; only cameras reach here for one who does not */
    j->ids = vg_auth_visible(kr->ctx->auth, vg_auth_caller(c));
    return vg__api_submit(c, &j->base, false, list_run, list_finish);
}

static int get_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    rec_job_t *j = arg;
    return vg_store_get(s, j->kr->kind, j->id, &j->out, err);
}

static void get_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    rec_job_t *j = (rec_job_t *)base;
    if (c && rc < 0) {
        vg__api_store_error(c, err);
    } else if (c) {
        vg_conn_respond_json(c, 200, decorate(j->kr, c, j->out));
        j->out = NULL;
    }
    rec_job_free(j);
}

static int get_record(vg_conn_t *c, const char *const *params, void *user)
{
    return vg__api_submit(c, &rec_job(user, params[0])->base, false, get_run, get_finish);
}

static int create_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    rec_job_t *j = arg;
    return vg_store_create(s, j->kr->kind, j->fields, &j->out, err);
}

static void create_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    rec_job_t *j = (rec_job_t *)base;
    const char *id = json_string_value(json_object_get(rc < 0 ? j->fields : j->out, "id"));
    if (c) {
        audit(j->kr, c, "create", id, rc, err);
        if (rc < 0) {
            vg__api_store_error(c, err);
        } else {
            vg_conn_respond_json(c, 201, decorate(j->kr, c, j->out));
            j->out = NULL;
        }
    }
    rec_job_free(j);
}

static int create_record(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    json_t *fields = vg_conn_body_json(c, false);
    if (fields == NULL)
        return 0;
    rec_job_t *j = rec_job(user, NULL);
    j->fields = fields;
    return vg__api_submit(c, &j->base, true, create_run, create_finish);
}

static int update_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    rec_job_t *j = arg;
    return vg_store_update(s, j->kr->kind, j->id, j->fields, &j->out, err);
}

static void update_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    rec_job_t *j = (rec_job_t *)base;
    if (c) {
        audit(j->kr, c, "update", j->id, rc, err);
        if (rc < 0) {
            vg__api_store_error(c, err);
        } else {
            vg_conn_respond_json(c, 200, decorate(j->kr, c, j->out));
            j->out = NULL;
        }
    }
    rec_job_free(j);
}

static int update_record(vg_conn_t *c, const char *const *params, void *user)
{
    json_t *fields = vg_conn_body_json(c, false);
    if (fields == NULL)
        return 0;
    rec_job_t *j = rec_job(user, params[0]);
    j->fields = fields;
    return vg__api_submit(c, &j->base, true, update_run, update_finish);
}

static int delete_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    rec_job_t *j = arg;
    return vg_store_delete(s, j->kr->kind, j->id, err);
}

static void delete_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    rec_job_t *j = (rec_job_t *)base;
    if (c) {
        audit(j->kr, c, "delete", j->id, rc, err);
        if (rc < 0)
            vg__api_store_error(c, err);
        else
            vg_conn_respond_json(c, 200, json_pack("{s:s}", "deleted", j->id));
    }
    rec_job_free(j);
}

static int delete_record(vg_conn_t *c, const char *const *params, void *user)
{
    return vg__api_submit(c, &rec_job(user, params[0])->base, true, delete_run, delete_finish);
}

static const vg_handler_ops_t list_ops = {
    .name = "records.list", .on_request = list_records, .on_close = vg__api_conn_closed};
static const vg_handler_ops_t get_ops = {
    .name = "records.get", .on_request = get_record, .on_close = vg__api_conn_closed};
static const vg_handler_ops_t create_ops = {.name = "records.create",
                                            .on_request = create_record,
                                            .on_close = vg__api_conn_closed,
                                            .max_body = MAX_BODY};
static const vg_handler_ops_t update_ops = {.name = "records.update",
                                            .on_request = update_record,
                                            .on_close = vg__api_conn_closed,
                                            .max_body = MAX_BODY};
static const vg_handler_ops_t delete_ops = {
    .name = "records.delete", .on_request = delete_record, .on_close = vg__api_conn_closed};

void *vg__api_records_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    kind_route_t *kind_routes = vg_xcalloc(KIND_COUNT, sizeof(*kind_routes));
    for (size_t i = 0; i < KIND_COUNT; i++) {
        kind_routes[i] = (kind_route_t){.ctx = ctx, .kind = kinds[i]};
        char coll[64], item[64];
        snprintf(coll, sizeof(coll), "/api/v1/%s", kinds[i]);
        snprintf(item, sizeof(item), "/api/v1/%s/{}", kinds[i]);
        /* Cameras are listed (filtered) and read by anyone signed in who may see them, and
         * changed by admins; the other records are the admins' alone. */
        bool is_cam = strcmp(kinds[i], "cameras") == 0;
        unsigned read = is_cam ? VG_ACCESS_VIEWER : VG_ACCESS_ADMIN;
        unsigned item_flag = is_cam ? VG_ACCESS_CAMERA : 0;
        vg_server_route(srv, "GET", coll, read, &list_ops, &kind_routes[i]);
        vg_server_route(srv, "POST", coll, VG_ACCESS_ADMIN, &create_ops, &kind_routes[i]);
        vg_server_route(srv, "GET", item, read | item_flag, &get_ops, &kind_routes[i]);
        vg_server_route(srv, "PATCH", item, VG_ACCESS_ADMIN | item_flag, &update_ops,
                        &kind_routes[i]);
        vg_server_route(srv, "DELETE", item, VG_ACCESS_ADMIN | item_flag, &delete_ops,
                        &kind_routes[i]);
    }
    return kind_routes;
}
