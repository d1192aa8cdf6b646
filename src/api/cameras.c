/* cameras: GET /api/v1/cameras, GET /api/v1/cameras/{id}, GET /healthz. */
#include "api/api.h"

json_t *vg_api_camera_json(const vg_stream_t *st)
{
    const vg_tier_t *tiers;
    int n = vg_stream_tiers(st, &tiers);
    int w, h, fps;
    vg_stream_size(st, &w, &h, &fps);
    return json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:s,s:o}", "id", vg_stream_id(st), "name",
                     vg_stream_name(st), "state", vg_stream_state_name(vg_stream_state(st)),
                     "width", w, "height", h, "fps", fps, "default_tier",
                     tiers[vg_stream_default_tier(st)].name, "tiers",
                     vg_tier_ladder_json(tiers, n));
}

static int list_cameras(vg_conn_t *c, const char *const *params, void *user)
{
    vg_hub_t *hub = user;
    json_t *arr = json_array();
    for (size_t i = 0; i < vg_hub_count(hub); i++)
        json_array_append_new(arr, vg_api_camera_json(vg_hub_at(hub, i)));
    return vg_conn_respond_json(c, 200, json_pack("{s:o}", "cameras", arr));
}

static int get_camera(vg_conn_t *c, const char *const *params, void *user)
{
    vg_stream_t *st = vg_hub_find(user, params[0]);
    if (st == NULL)
        return vg_conn_error(c, 404, "not_found", "no camera '%s'", params[0]);
    return vg_conn_respond_json(c, 200, vg_api_camera_json(st));
}

static int healthz(vg_conn_t *c, const char *const *params, void *user)
{
    return vg_conn_respond_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

static const vg_handler_ops_t list_ops = {.name = "cameras", .on_request = list_cameras};
static const vg_handler_ops_t get_ops = {.name = "camera", .on_request = get_camera};
static const vg_handler_ops_t health_ops = {.name = "healthz", .on_request = healthz};

void vg_api_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    vg_hub_t *hub = ctx->hub;
    vg_server_route(srv, "GET", "/healthz", &health_ops, hub);
    vg_server_route(srv, "GET", "/api/v1/cameras", &list_ops, hub);
    vg_server_route(srv, "GET", "/api/v1/cameras/{}", &get_ops, hub);
    vg__api_streams_register(srv, ctx);
    vg__api_metrics_register(srv, ctx);
}
