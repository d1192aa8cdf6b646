/* access: the admins' API over access control — grants (GET, POST, DELETE /api/v1/grants)
 * and the audit log (GET /api/v1/audit). Users themselves are managed with `vigil user`:
 * their passwords are hashed with Argon2id, which the loop thread must not run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "core/util.h"

#define MAX_BODY 4096


typedef struct grant_args {
    char tenant_id[64], user_id[64], camera_id[64], site_id[64];
} grant_args_t;

static vg_grant_t grant_of(const grant_args_t *g)
{
    return (vg_grant_t){.tenant_id = g->tenant_id, .user_id = g->user_id,
                        .camera_id = g->camera_id, .site_id = g->site_id};
}

static const char *grant_target(const grant_args_t *g, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%s -> %s:%s", g->tenant_id[0] ? "tenant" : "user",
             g->tenant_id[0] ? g->tenant_id : g->user_id, g->camera_id[0] ? "camera" : "site",
             g->camera_id[0] ? g->camera_id : g->site_id);
    return buf;
}

/* The four ids from the query string (GET, DELETE) or a JSON body (POST). 0, or < 0 after
 * responding 400. */
static int read_grant(vg_conn_t *c, json_t *body, grant_args_t *g)
{
    static const char *const names[] = {"tenant_id", "user_id", "camera_id", "site_id"};
    char *const dst[] = {g->tenant_id, g->user_id, g->camera_id, g->site_id};
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < 4; i++) {
        if (body) {
            json_t *v = json_object_get(body, names[i]);
            if (v == NULL || json_is_null(v))
                continue;
            if (!json_is_string(v) || !vg_strlcpy(dst[i], json_string_value(v), 64)) {
                vg_conn_error(c, 400, "bad_request", "%s: a record id", names[i]);
                return VG_EINVAL;
            }
        } else {
            int rc = vg_conn_query(c, names[i], dst[i], 64);
            if (rc < 0 && rc != VG_ENOENT) {
                vg_conn_error(c, 400, "bad_request", "%s: a record id", names[i]);
                return VG_EINVAL;
            }
            if (rc < 0)
                dst[i][0] = '\0';
        }
        if (dst[i][0] && !vg_slug_is_valid(dst[i])) {
            vg_conn_error(c, 400, "bad_request", "%s: '%s' is not a record id", names[i], dst[i]);
            return VG_EINVAL;
        }
    }
    return 0;
}

typedef struct grant_job {
    vg__api_job_t base;
    grant_args_t g;
    size_t offset, limit, total;
    json_t *out;
} grant_job_t;

static grant_job_t *grant_job(const vg_api_ctx_t *ctx)
{
    grant_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->base.ctx = ctx;
    return j;
}

static void grant_job_free(grant_job_t *j)
{
    json_decref(j->out);
    free(j);
}

static int list_grants_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    grant_job_t *j = arg;
    return vg_store_list_grants(s, j->g.tenant_id[0] ? j->g.tenant_id : NULL,
                                j->g.user_id[0] ? j->g.user_id : NULL, &j->out, err);
}

static void list_grants_finish(vg__api_job_t *base, vg_conn_t *c, int rc,
                               const vg_store_err_t *err)
{
    grant_job_t *j = (grant_job_t *)base;
    if (c && rc < 0) {
        vg__api_store_error(c, err);
    } else if (c) {
        vg_conn_respond_json(c, 200, json_pack("{s:O}", "grants", j->out));
    }
    grant_job_free(j);
}

static int list_grants(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    grant_job_t *j = grant_job(user);
    if (read_grant(c, NULL, &j->g) < 0) {
        grant_job_free(j);
        return 0;
    }
    return vg__api_submit(c, &j->base, false, list_grants_run, list_grants_finish);
}

static int add_grant_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    grant_job_t *j = arg;
    vg_grant_t grant = grant_of(&j->g);
    return vg_store_grant(s, &grant, err);
}

static void add_grant_finish(vg__api_job_t *base, vg_conn_t *c, int rc,
                             const vg_store_err_t *err)
{
    grant_job_t *j = (grant_job_t *)base;
    if (c) {
        char target[300];
        vg_auth_audit(j->base.ctx->auth, c, "grant", grant_target(&j->g, target, sizeof(target)),
                      rc < 0 ? "failed" : "ok", rc < 0 ? err->message : NULL);
        if (rc < 0) {
            vg__api_store_error(c, err);
        } else {
            json_t *doc = json_object();
            static const char *const names[] = {"tenant_id", "user_id", "camera_id", "site_id"};
            const char *vals[] = {j->g.tenant_id, j->g.user_id, j->g.camera_id, j->g.site_id};
            for (int i = 0; i < 4; i++) {
                if (vals[i][0])
                    json_object_set_new(doc, names[i], json_string(vals[i]));
            }
            vg_conn_respond_json(c, 201, doc);
        }
    }
    grant_job_free(j);
}

static int add_grant(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    json_t *body = vg_conn_body_json(c, false);
    if (body == NULL)
        return 0;
    grant_job_t *j = grant_job(user);
    int rc = read_grant(c, body, &j->g);
    json_decref(body);
    if (rc < 0) {
        grant_job_free(j);
        return 0;
    }
    return vg__api_submit(c, &j->base, true, add_grant_run, add_grant_finish);
}

static int remove_grant_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    grant_job_t *j = arg;
    vg_grant_t grant = grant_of(&j->g);
    return vg_store_revoke(s, &grant, err);
}

static void remove_grant_finish(vg__api_job_t *base, vg_conn_t *c, int rc,
                                const vg_store_err_t *err)
{
    grant_job_t *j = (grant_job_t *)base;
    if (c) {
        char target[300];
        grant_target(&j->g, target, sizeof(target));
        vg_auth_audit(j->base.ctx->auth, c, "revoke", target, rc < 0 ? "failed" : "ok",
                      rc < 0 ? err->message : NULL);
        if (rc < 0)
            vg__api_store_error(c, err);
        else
            vg_conn_respond_json(c, 200, json_pack("{s:s}", "revoked", target));
    }
    grant_job_free(j);
}

static int remove_grant(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    grant_job_t *j = grant_job(user);
    if (read_grant(c, NULL, &j->g) < 0) {
        grant_job_free(j);
        return 0;
    }
    return vg__api_submit(c, &j->base, true, remove_grant_run, remove_grant_finish);
}

static int audit_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    grant_job_t *j = arg;
    return vg_store_audit_list(s, j->offset, j->limit, &j->out, &j->total, err);
}

static void audit_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    grant_job_t *j = (grant_job_t *)base;
    if (c && rc < 0)
        vg__api_store_error(c, err);
    else if (c)
        vg_conn_respond_json(c, 200, json_pack("{s:O,s:I,s:I,s:I}", "audit", j->out, "total",
                                               (json_int_t)j->total, "offset",
                                               (json_int_t)j->offset, "limit",
                                               (json_int_t)j->limit));
    grant_job_free(j);
}

static int list_audit(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    const vg_api_ctx_t *ctx = user;
    char buf[24];
    long long offset = 0, limit = 100;
    if ((vg_conn_query(c, "offset", buf, sizeof(buf)) >= 0 &&
         vg_parse_int(buf, 0, 1LL << 40, &offset) < 0) ||
        (vg_conn_query(c, "limit", buf, sizeof(buf)) >= 0 &&
         vg_parse_int(buf, 1, 1000, &limit) < 0))
        return vg_conn_error(c, 400, "bad_request", "offset: 0 or more; limit: 1..1000");
    /* What this server audited a moment ago is written first, so the list shows it. */
    vg_auth_audit_flush(ctx->auth);
    grant_job_t *j = grant_job(ctx);
    j->offset = (size_t)offset;
    j->limit = (size_t)limit;
    return vg__api_submit(c, &j->base, false, audit_run, audit_finish);
}

static const vg_handler_ops_t list_grants_ops = {
    .name = "grants.list", .on_request = list_grants, .on_close = vg__api_conn_closed};
static const vg_handler_ops_t add_grant_ops = {.name = "grants.add",
                                               .on_request = add_grant,
                                               .on_close = vg__api_conn_closed,
                                               .max_body = MAX_BODY};
static const vg_handler_ops_t remove_grant_ops = {
    .name = "grants.remove", .on_request = remove_grant, .on_close = vg__api_conn_closed};
static const vg_handler_ops_t audit_ops = {.name = "audit", .on_request = list_audit,
                                           .on_close = vg__api_conn_closed};

void vg__api_access_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    void *u = (void *)ctx;
    vg_server_route(srv, "GET", "/api/v1/grants", VG_ACCESS_ADMIN, &list_grants_ops, u);
    vg_server_route(srv, "POST", "/api/v1/grants", VG_ACCESS_ADMIN, &add_grant_ops, u);
    vg_server_route(srv, "DELETE", "/api/v1/grants", VG_ACCESS_ADMIN, &remove_grant_ops, u);
    vg_server_route(srv, "GET", "/api/v1/audit", VG_ACCESS_ADMIN, &audit_ops, u);
}
