/* status: GET /api/v1/status, the server's own health for admins. Today that is the event
 * loop's stalls (core/looplag.h): everything vigil serves goes through the one loop, so its
 * longest stall is what every viewer may have waited on top of the network. */
#include "api/api.h"

static json_t *ms(int64_t us)
{
    return json_real((double)us / 1000.0);
}

static int get_status(vg_conn_t *c, const char *const *params, void *user)
{
    const vg_api_ctx_t *ctx = user;
    vg_looplag_stats_t s;
    vg_looplag_read(ctx->looplag, &s);
    json_t *buckets = json_array();
    for (int b = 0; b < VG_LOOPLAG_BUCKETS; b++) {
        json_t *le = b < VG_LOOPLAG_BUCKETS - 1 ? ms(vg_looplag_bounds_us[b]) : json_null();
        json_array_append_new(buckets, json_pack("{s:o,s:I}", "le_ms", le, "count",
                                                 (json_int_t)s.buckets[b]));
    }
    json_t *lag = json_pack("{s:o,s:o,s:o,s:I,s:i,s:i,s:o}", "max_10s", ms(s.max_window_us),
                            "max", ms(s.max_us), "mean", ms(s.mean_us), "samples",
                            (json_int_t)s.samples, "interval_ms", VG_LOOPLAG_INTERVAL_MS,
                            "window_s", VG_LOOPLAG_WINDOW_S, "buckets", buckets);
    return vg_conn_respond_json(c, 200, json_pack("{s:o}", "loop_lag_ms", lag));
}

static const vg_handler_ops_t status_ops = {.name = "status", .on_request = get_status};

void vg__api_status_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    vg_server_route(srv, "GET", "/api/v1/status", VG_ACCESS_ADMIN, &status_ops, (void *)ctx);
}
