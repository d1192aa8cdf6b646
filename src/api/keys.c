/* keys: integration keys under /api/v1/keys, for admins — listed (never the key itself),
 * made (the key is in the 201 response and nowhere else, ever), and removed (its open
 * streams close within a second: the removal reaches the access cache before the answer).
 * `vigil key add|list|rm` does the same from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"

#define MAX_BODY 16384
#define MAX_TTL_S (10LL * 365 * 86400)

typedef struct key_job {
    vg__api_job_t base;
    char id[64];
    char user_id[64], name[128], role[16];
    json_t *cameras;
    int64_t expires_us;
    char key[VG_API_KEY_MAX];
    json_t *out;
} key_job_t;

static key_job_t *key_job(const vg_api_ctx_t *ctx)
{
    key_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->base.ctx = ctx;
    return j;
}

static void key_job_free(key_job_t *j)
{
    json_decref(j->cameras);
    json_decref(j->out);
    sodium_memzero(j->key, sizeof(j->key));
    free(j);
}

static int list_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    key_job_t *j = arg;
    return vg_store_key_list(s, j->user_id[0] ? j->user_id : NULL, &j->out, err);
}

static void list_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    key_job_t *j = (key_job_t *)base;
    if (c && rc < 0)
        vg__api_store_error(c, err);
    else if (c)
        vg_conn_respond_json(c, 200, json_pack("{s:O}", "keys", j->out));
    key_job_free(j);
}

static int list_keys(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    key_job_t *j = key_job(user);
    int rc = vg_conn_query(c, "user_id", j->user_id, sizeof(j->user_id));
    if ((rc < 0 && rc != VG_ENOENT) || (rc >= 0 && !vg_slug_is_valid(j->user_id))) {
        key_job_free(j);
        return vg_conn_error(c, 400, "bad_request", "user_id: a user id");
    }
    return vg__api_submit(c, &j->base, false, list_run, list_finish);
}

static int add_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    key_job_t *j = arg;
    vg_key_spec_t spec = {.user_id = j->user_id,
                          .name = j->name[0] ? j->name : NULL,
                          .role = j->role[0] ? j->role : NULL,
                          .cameras = j->cameras,
                          .expires_us = j->expires_us};
    return vg_store_key_add(s, &spec, j->key, &j->out, err);
}

static void add_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    key_job_t *j = (key_job_t *)base;
    if (c) {
        const char *id = rc == 0 ? json_string_value(json_object_get(j->out, "id")) : NULL;
        vg_auth_audit(j->base.ctx->auth, c, "key.create", id ? id : j->user_id,
                      rc < 0 ? "failed" : "ok", rc < 0 ? err->message : NULL);
        if (rc < 0) {
            vg__api_store_error(c, err);
        } else {
            json_object_set_new(j->out, "key", json_string(j->key));
            vg_conn_respond_json(c, 201, j->out);
            j->out = NULL;
        }
    }
    key_job_free(j);
}

static const char *opt_str(json_t *body, const char *name, char *buf, size_t len, bool *is_bad)
{
    json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || !vg_strlcpy(buf, json_string_value(v), len))
        *is_bad = true;
    return buf;
}

static int add_key(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    json_t *body = vg_conn_body_json(c, false);
    if (body == NULL)
        return 0;
    key_job_t *j = key_job(user);
    bool is_bad = false;
    const char *field = NULL;
    if (opt_str(body, "user_id", j->user_id, sizeof(j->user_id), &is_bad) == NULL || is_bad)
        field = "user_id";
    else if (opt_str(body, "name", j->name, sizeof(j->name), &is_bad), is_bad)
        field = "name";
    else if (opt_str(body, "role", j->role, sizeof(j->role), &is_bad), is_bad)
        field = "role";
    json_t *cams = json_object_get(body, "cameras");
    if (field == NULL && cams && !json_is_null(cams)) {
        if (!json_is_array(cams))
            field = "cameras";
        else
            j->cameras = json_incref(cams);
    }
    json_t *ttl = json_object_get(body, "expires_in_s");
    if (field == NULL && ttl && !json_is_null(ttl)) {
        if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
            json_integer_value(ttl) > MAX_TTL_S)
            field = "expires_in_s";
        else
            j->expires_us = vg_wall_us() + (int64_t)json_integer_value(ttl) * 1000000;
    }
    json_decref(body);
    if (field) {
        key_job_free(j);
        return vg_conn_respond_json(
            c, 400,
            json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "bad_request", "field", field,
                      "message",
                      "send {\"user_id\", \"name\"?, \"role\"? (viewer, operator, admin), "
                      "\"cameras\"? [ids], \"expires_in_s\"?}"));
    }
    return vg__api_submit(c, &j->base, true, add_run, add_finish);
}

static int remove_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    key_job_t *j = arg;
    return vg_store_key_remove(s, j->id, err);
}

static void remove_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    key_job_t *j = (key_job_t *)base;
    if (c) {
        vg_auth_audit(j->base.ctx->auth, c, "key.delete", j->id, rc < 0 ? "failed" : "ok",
                      rc < 0 ? err->message : NULL);
        if (rc < 0)
            vg__api_store_error(c, err);
        else
            vg_conn_respond_json(c, 200, json_pack("{s:s}", "deleted", j->id));
    }
    key_job_free(j);
}

static int remove_key(vg_conn_t *c, const char *const *params, void *user)
{
    key_job_t *j = key_job(user);
    vg_strlcpy(j->id, params[0], sizeof(j->id));
    return vg__api_submit(c, &j->base, true, remove_run, remove_finish);
}

static const vg_handler_ops_t list_ops = {
    .name = "keys.list", .on_request = list_keys, .on_close = vg__api_conn_closed};
static const vg_handler_ops_t add_ops = {.name = "keys.add",
                                         .on_request = add_key,
                                         .on_close = vg__api_conn_closed,
                                         .max_body = MAX_BODY};
static const vg_handler_ops_t remove_ops = {
    .name = "keys.remove", .on_request = remove_key, .on_close = vg__api_conn_closed};

void vg__api_keys_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    void *u = (void *)ctx;
    vg_server_route(srv, "GET", "/api/v1/keys", VG_ACCESS_ADMIN, &list_ops, u);
    vg_server_route(srv, "POST", "/api/v1/keys", VG_ACCESS_ADMIN, &add_ops, u);
    vg_server_route(srv, "DELETE", "/api/v1/keys/{}", VG_ACCESS_ADMIN, &remove_ops, u);
}
