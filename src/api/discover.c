/* api/discover: POST /api/v1/discover (admins) — one ONVIF WS-Discovery probe on the LAN
 * (ptz/discover.h), answered after the wait with what replied. The request holds its
 * connection for at most the wait (10 s); a client that goes meanwhile is simply not
 * answered. Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/util.h"
#include "ptz/discover.h"

typedef struct disc_req {
    const vg_api_ctx_t *ctx;
    vg_conn_t *conn; /* NULL once the client went */
} disc_req_t;

static void on_found(void *user, int status, const vg_discovered_t *found, size_t n)
{
    disc_req_t *r = user;
    if (r->conn) {
        vg_conn_set_data(r->conn, NULL);
        if (status < 0) {
            vg_conn_error(r->conn, 502, "probe_failed",
                          "the WS-Discovery probe could not be sent (see the server log)");
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, vg_discovered_json(&found[i]));
            vg_conn_respond_json(r->conn, 200, json_pack("{s:o}", "devices", arr));
        }
    }
    free(r);
}

static void on_gone(vg_conn_t *c)
{
    disc_req_t *r = vg_conn_data(c);
    if (r)
        r->conn = NULL;
}

static int h_discover(vg_conn_t *c, const char *const *params, void *user)
{
    const vg_api_ctx_t *ctx = user;
    json_t *body = vg_conn_body_json(c, true);
    if (body == NULL)
        return 0;
    json_t *jw = json_object_get(body, "wait_ms"), *ji = json_object_get(body, "interface"),
           *jt = json_object_get(body, "to");
    char iface[64] = "", to[128] = "";
    bool ok = (jw == NULL || (json_is_integer(jw) && json_integer_value(jw) >= 1 &&
                              json_integer_value(jw) <= 10000)) &&
              (ji == NULL || (json_is_string(ji) && vg_strlcpy(iface, json_string_value(ji),
                                                               sizeof(iface)))) &&
              (jt == NULL || (json_is_string(jt) && vg_strlcpy(to, json_string_value(jt),
                                                             sizeof(to))));
    vg_discover_opts_t o = {.wait_ms = jw ? (unsigned)json_integer_value(jw) : 0,
                            .interface = iface[0] ? iface : NULL,
                            .target = to[0] ? to : NULL};
    json_decref(body);
    if (!ok)
        return vg_conn_error(c, 400, "bad_request",
                             "the body is {\"wait_ms\": 1..10000, \"interface\": \"IPv4\", "
                             "\"to\": \"host:port\"}, each optional");
    disc_req_t *r = vg_xcalloc(1, sizeof(*r));
    r->ctx = ctx;
    r->conn = c;
    if (vg_discover(ctx->loop, &o, on_found, r) < 0) {
        free(r);
        return vg_conn_error(c, 400, "bad_request", "bad \"to\" (host:port) or \"wait_ms\"");
    }
    vg_conn_set_data(c, r);
    vg_auth_audit(ctx->auth, c, "discover", to[0] ? to : "239.255.255.250:3702", "ok", NULL);
    return 0;
}

static const vg_handler_ops_t discover_ops = {
    .name = "discover", .on_request = h_discover, .on_close = on_gone, .max_body = 1024};

void vg__api_discover_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    if (ctx->loop)
        vg_server_route(srv, "POST", "/api/v1/discover", VG_ACCESS_ADMIN, &discover_ops,
                        (void *)ctx);
}
