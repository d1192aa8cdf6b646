/* api: GET /healthz, and the registration of every API route. */
#include <stdlib.h>

#include "api/api.h"
#include "core/err.h"
#include "core/util.h"

static int healthz(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    (void)user;
    return vg_conn_respond_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

static const vg_handler_ops_t health_ops = {.name = "healthz", .on_request = healthz};

int vg__api_store_error(vg_conn_t *c, const vg_store_err_t *err)
{
    if (err->status == 503)
        vg_conn_add_header(c, "retry-after", "1");
    json_t *e = json_pack("{s:s,s:s}", "code", err->code, "message", err->message);
    if (err->field[0])
        json_object_set_new(e, "field", json_string(err->field));
    return vg_conn_respond_json(c, err->status ? err->status : 500,
                                json_pack("{s:o}", "error", e));
}

void vg__api_redact_camera(json_t *doc)
{
    static const char *const hidden[] = {"url",      "substream_url", "snapshot_url",
                                         "username", "has_password",  "ptz_address", "owner"};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
        json_object_del(doc, hidden[i]);
    json_t *live = json_object_get(doc, "live");
    if (json_is_object(live))
        json_object_del(live, "url");
    json_t *sub = json_object_get(doc, "substream");
    if (json_is_object(sub))
        json_object_del(sub, "url");
}

static void job_done(void *arg, int rc, const vg_store_err_t *err)
{
    vg__api_job_t *j = arg;
    vg_conn_t *c = j->conn;
    if (c)
        vg_conn_set_data(c, NULL);
    j->finish(j, c, rc, err);
}

int vg__api_submit(vg_conn_t *c, vg__api_job_t *j, bool is_write, vg_store_run_fn run,
                   vg__api_finish_fn finish)
{
    const vg_api_ctx_t *ctx = j->ctx;
    j->conn = c;
    j->finish = finish;
    vg_api_job_fn submit = is_write ? ctx->write : ctx->read;
    if (submit == NULL || submit(ctx->fleet, run, job_done, j) < 0) {
        vg_store_err_t err = {.status = 503};
        vg_strlcpy(err.code, "unavailable", sizeof(err.code));
        vg_strlcpy(err.message, "too many requests are waiting for the database: retry shortly",
                   sizeof(err.message));
        j->conn = NULL;
        finish(j, c, VG_EFULL, &err);
        return 0;
    }
    vg_conn_set_data(c, j);
    return 0;
}

void vg__api_conn_closed(vg_conn_t *c)
{
    vg__api_job_t *j = vg_conn_data(c);
    if (j)
        j->conn = NULL;
}

bool vg__api_can_see(const vg_api_ctx_t *ctx, vg_conn_t *c, const char *id)
{
    return vg_auth_can_see(ctx->auth, vg_auth_caller(c), id);
}

void vg_api_register(vg_server_t *srv, vg_api_ctx_t *ctx)
{
    vg_server_route(srv, "GET", "/healthz", VG_ACCESS_PUBLIC, &health_ops, ctx);
    ctx->priv = vg__api_records_register(srv, ctx);
    vg__api_streams_register(srv, ctx);
    vg__api_metrics_register(srv, ctx);
    vg__api_access_register(srv, ctx);
    vg__api_keys_register(srv, ctx);
    vg__api_openapi_register(srv, ctx);
}

void vg_api_release(vg_api_ctx_t *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}
