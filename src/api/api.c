/* api: GET /healthz, and the registration of every API route. */
#include <stdlib.h>

#include "api/api.h"

static int healthz(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    (void)user;
    return vg_conn_respond_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

static const vg_handler_ops_t health_ops = {.name = "healthz", .on_request = healthz};

int vg__api_store_error(vg_conn_t *c, const vg_store_err_t *err)
{
    json_t *e = json_pack("{s:s,s:s}", "code", err->code, "message", err->message);
    if (err->field[0])
        json_object_set_new(e, "field", json_string(err->field));
    return vg_conn_respond_json(c, err->status ? err->status : 500,
                                json_pack("{s:o}", "error", e));
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
    vg__api_openapi_register(srv, ctx);
}

void vg_api_release(vg_api_ctx_t *ctx)
{
    free(ctx->priv);
    ctx->priv = NULL;
}
