/* records: the configuration under /api/v1 — tenants, sites, gateways and cameras — listed,
 * read, created, updated (PATCH: the fields given) and deleted in the store. Validation is
 * the store's (errors name the field: {"error":{"code","message","field"}}); passwords are
 * write-only. Each write is applied to the running streams before the response goes out
 * (ctx->on_store_changed), so a camera created here can be watched at once.
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
    int n = vg_stream_tiers(st, &tiers);
    int w, h, fps;
    vg_stream_size(st, &w, &h, &fps);
    return json_pack("{s:s,s:s,s:i,s:i,s:i,s:s,s:o,s:s}", "state",
                     vg_stream_state_name(s.state), "reason", s.reason, "width", w, "height", h,
                     "fps", fps, "default_tier", tiers[vg_stream_default_tier(st)].name, "tiers",
                     vg_tier_ladder_json(tiers, n), "url", s.url);
}

/* A camera's addresses and account are for admins: operators and viewers see what they
 * need to pick and watch it. */
static void redact_camera(json_t *rec)
{
    static const char *const hidden[] = {"url",      "substream_url", "snapshot_url",
                                         "username", "has_password",  "ptz_address", "owner"};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
        json_object_del(rec, hidden[i]);
    json_t *live = json_object_get(rec, "live");
    if (json_is_object(live))
        json_object_del(live, "url");
}

static json_t *decorate(const kind_route_t *kr, vg_conn_t *c, json_t *rec)
{
    if (strcmp(kr->kind, "cameras") == 0) {
        json_object_set_new(rec, "live", camera_live(kr->ctx, json_string_value(json_object_get(
                                                                  rec, "id"))));
        if (vg_auth_caller(c)->role != VG_ROLE_ADMIN)
            redact_camera(rec);
    }
    return rec;
}

static void audit(const kind_route_t *kr, vg_conn_t *c, const char *verb, const char *id,
                  const vg_store_err_t *err)
{
    char action[32];
    snprintf(action, sizeof(action), "%.12s.%s", kr->kind, verb);
    vg_auth_audit(kr->ctx->auth, c, action, id, err ? "failed" : "ok", err ? err->message : NULL);
}

/* The page of cameras a caller who sees only some of them may list. */
static int list_visible(vg_conn_t *c, const kind_route_t *kr, json_t *ids, size_t offset,
                        size_t limit)
{
    json_t *arr = json_array();
    size_t total = json_array_size(ids);
    for (size_t i = offset; i < total && i < offset + limit; i++) {
        json_t *rec;
        vg_store_err_t err;
        if (vg_store_get(kr->ctx->store, kr->kind, json_string_value(json_array_get(ids, i)),
                         &rec, &err) == 0)
            json_array_append_new(arr, decorate(kr, c, rec));
    }
    json_decref(ids);
    return vg_conn_respond_json(c, 200, json_pack("{s:o,s:I,s:I,s:I}", kr->kind, arr, "total",
                                                  (json_int_t)total, "offset",
                                                  (json_int_t)offset, "limit",
                                                  (json_int_t)limit));
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

static int list_records(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    const kind_route_t *kr = user;
    size_t offset, limit, total;
    if (query_size(c, "offset", 0, 0, 1u << 30, &offset) < 0)
        return param_error(c, "offset", "offset: an integer 0 or more");
    if (query_size(c, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, &limit) < 0)
        return param_error(c, "limit", "limit: an integer 1..1000");
    json_t *ids = vg_auth_visible(kr->ctx->auth, vg_auth_caller(c));
    if (ids != NULL) /* only cameras reach here for a caller who is not an admin */
        return list_visible(c, kr, ids, offset, limit);
    json_t *arr;
    vg_store_err_t err;
    if (vg_store_list(kr->ctx->store, kr->kind, offset, limit, &arr, &total, &err) < 0)
        return vg__api_store_error(c, &err);
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec) decorate(kr, c, rec);
    return vg_conn_respond_json(c, 200, json_pack("{s:o,s:I,s:I,s:I}", kr->kind, arr, "total",
                                                  (json_int_t)total, "offset",
                                                  (json_int_t)offset, "limit",
                                                  (json_int_t)limit));
}

static int get_record(vg_conn_t *c, const char *const *params, void *user)
{
    const kind_route_t *kr = user;
    json_t *rec;
    vg_store_err_t err;
    if (vg_store_get(kr->ctx->store, kr->kind, params[0], &rec, &err) < 0)
        return vg__api_store_error(c, &err);
    return vg_conn_respond_json(c, 200, decorate(kr, c, rec));
}

static void changed(const kind_route_t *kr)
{
    if (kr->ctx->on_store_changed)
        kr->ctx->on_store_changed(kr->ctx->store_changed_arg);
}

static int create_record(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    const kind_route_t *kr = user;
    json_t *fields = vg_conn_body_json(c, false), *rec;
    if (fields == NULL)
        return 0;
    vg_store_err_t err;
    int rc = vg_store_create(kr->ctx->store, kr->kind, fields, &rec, &err);
    const char *id = json_string_value(json_object_get(rc < 0 ? fields : rec, "id"));
    audit(kr, c, "create", id, rc < 0 ? &err : NULL);
    json_decref(fields);
    if (rc < 0)
        return vg__api_store_error(c, &err);
    changed(kr);
    return vg_conn_respond_json(c, 201, decorate(kr, c, rec));
}

static int update_record(vg_conn_t *c, const char *const *params, void *user)
{
    const kind_route_t *kr = user;
    json_t *fields = vg_conn_body_json(c, false), *rec;
    if (fields == NULL)
        return 0;
    vg_store_err_t err;
    int rc = vg_store_update(kr->ctx->store, kr->kind, params[0], fields, &rec, &err);
    json_decref(fields);
    audit(kr, c, "update", params[0], rc < 0 ? &err : NULL);
    if (rc < 0)
        return vg__api_store_error(c, &err);
    changed(kr);
    return vg_conn_respond_json(c, 200, decorate(kr, c, rec));
}

static int delete_record(vg_conn_t *c, const char *const *params, void *user)
{
    const kind_route_t *kr = user;
    vg_store_err_t err;
    int rc = vg_store_delete(kr->ctx->store, kr->kind, params[0], &err);
    audit(kr, c, "delete", params[0], rc < 0 ? &err : NULL);
    if (rc < 0)
        return vg__api_store_error(c, &err);
    changed(kr);
    return vg_conn_respond_json(c, 200, json_pack("{s:s}", "deleted", params[0]));
}

static const vg_handler_ops_t list_ops = {.name = "records.list", .on_request = list_records};
static const vg_handler_ops_t get_ops = {.name = "records.get", .on_request = get_record};
static const vg_handler_ops_t create_ops = {
    .name = "records.create", .on_request = create_record, .max_body = MAX_BODY};
static const vg_handler_ops_t update_ops = {
    .name = "records.update", .on_request = update_record, .max_body = MAX_BODY};
static const vg_handler_ops_t delete_ops = {.name = "records.delete",
                                            .on_request = delete_record};

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
