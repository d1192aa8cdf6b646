/* discover: POST /api/v1/discover (admins) — one ONVIF WS-Discovery probe on the server's
 * LAN (net/wsdiscovery.h), answered with {"devices":[...]} once the wait is over. The
 * request is held on the loop meanwhile; nothing blocks.
 *
 * One discovery at a time per server: a second request while one runs gets 429 with
 * Retry-After (the seconds left), rather than sharing the running one. Sharing would hand
 * the second caller a shorter wait than it asked for and a list that began before its
 * request; refusing keeps each answer exactly what its caller asked, and two admins probing
 * within the same two seconds is rare. A probe is also a burst of traffic from every camera
 * on the LAN, so one at a time bounds what the API can cause. docs/discovery.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/wsdiscovery.h"

#define MAX_BODY 1024

typedef struct discover_api {
    const vg_api_ctx_t *ctx;
    vg_wsd_probe_t *probe; /* the running discovery, or NULL */
    vg_conn_t *conn;       /* its request, or NULL once the client went away */
    uint32_t wait_ms; /* the running one's */
} discover_api_t;

static void on_done(int status, const vg_wsd_list_t *found, void *user)
{
    discover_api_t *d = user;
    vg_conn_t *c = d->conn;
    d->probe = NULL; /* it frees itself after this returns */
    d->conn = NULL;
    if (c == NULL)
        return;
    vg_conn_set_data(c, NULL);
    json_t *doc = vg_wsd_list_json(found);
    json_object_set_new(doc, "wait_ms", json_integer((json_int_t)d->wait_ms));
    VG_LOG_INFO("api", "discover: %zu device%s answered, %u answer%s ignored (%s)", found->count,
                found->count == 1 ? "" : "s", found->ignored, found->ignored == 1 ? "" : "s",
                vg_conn_peer(c));
    (void)status;
    vg_conn_respond_json(c, 200, doc);
}

static void on_close(vg_conn_t *c)
{
    discover_api_t *d = vg_conn_data(c);
    if (d == NULL || d->conn != c)
        return;
    /* The caller went away: nobody wants the list, so stop waiting for it. */
    d->conn = NULL;
    vg_wsd_probe_cancel(&d->probe);
}

static int post_discover(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    discover_api_t *d = user;
    if (d->ctx->loop == NULL)
        return vg_conn_error(c, 503, "unavailable", "discovery is not available here");
    if (d->probe != NULL) {
        unsigned long long left_s = (vg_wsd_probe_remaining_ms(d->probe) + 999) / 1000;
        char retry[24];
        snprintf(retry, sizeof(retry), "%llu", left_s > 0 ? left_s : 1);
        vg_conn_add_header(c, "retry-after", retry);
        return vg_conn_error(c, 429, "busy",
                             "a discovery is already running (it ends within %s s): retry then",
                             retry);
    }
    json_t *body = vg_conn_body_json(c, true);
    if (body == NULL)
        return 0; /* answered 400 or 415 */
    double wait_s = VG_WSD_DEFAULT_WAIT_MS / 1000.0;
    char iface[64] = "";
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "wait_s") == 0 && json_is_number(v) && json_number_value(v) >= 0.05 &&
            json_number_value(v) <= VG_WSD_MAX_WAIT_MS / 1000.0) {
            wait_s = json_number_value(v);
        } else if (strcmp(key, "wait_s") == 0) {
            json_decref(body);
            return vg_conn_error(c, 400, "invalid", "wait_s: seconds from 0.05 to 10");
        } else if (strcmp(key, "interface") == 0 && json_is_string(v) &&
                   vg_strlcpy(iface, json_string_value(v), sizeof(iface))) {
            continue;
        } else if (strcmp(key, "interface") == 0) {
            json_decref(body);
            return vg_conn_error(c, 400, "invalid", "interface: an IPv4 address of this server");
        } else {
            int rc = vg_conn_error(c, 400, "invalid", "%.64s: unknown field (wait_s, interface)",
                                   key);
            json_decref(body); /* key lives in it */
            return rc;
        }
    }
    json_decref(body);

    vg_wsd_probe_cfg_t cfg = {.loop = d->ctx->loop,
                              .wait_ms = (uint32_t)(wait_s * 1000.0 + 0.5),
                              .interface = iface[0] ? iface : NULL};
    int rc = vg_wsd_probe_start(&d->probe, &cfg, on_done, d);
    /* Audited: a probe makes every camera on the LAN answer the server. */
    char detail[128];
    snprintf(detail, sizeof(detail), "wait %u ms%s%s%s%s", cfg.wait_ms, iface[0] ? ", from " : "",
             iface, rc < 0 ? ": " : "", rc < 0 ? uv_strerror(rc) : "");
    if (d->ctx->auth)
        vg_auth_audit(d->ctx->auth, c, "discover", VG_WSD_GROUP ":3702", rc < 0 ? "failed" : "ok",
                      detail);
    if (rc == VG_EINVAL || rc == UV_EADDRNOTAVAIL)
        return vg_conn_error(c, 400, "invalid", "interface: %s is not an IPv4 address of this "
                             "server", iface);
    if (rc < 0) {
        VG_LOG_WARN("api", "discover: cannot send the probe%s%s: %s", iface[0] ? " from " : "",
                    iface, uv_strerror(rc));
        return vg_conn_error(c, 503, "discovery_failed", "cannot send the probe to "
                             VG_WSD_GROUP ":3702: %s", uv_strerror(rc));
    }
    d->conn = c;
    d->wait_ms = cfg.wait_ms;
    vg_conn_set_data(c, d);
    return 0;
}

static const vg_handler_ops_t discover_ops = {
    .name = "discover",
    .on_request = post_discover,
    .on_close = on_close,
    .max_body = MAX_BODY,
};

void vg__api_discover_register(vg_server_t *srv, vg_api_ctx_t *ctx)
{
    discover_api_t *d = vg_xcalloc(1, sizeof(*d));
    d->ctx = ctx;
    ctx->discover = d;
    vg_server_route(srv, "POST", "/api/v1/discover", VG_ACCESS_ADMIN, &discover_ops, d);
}

void vg__api_discover_release(vg_api_ctx_t *ctx)
{
    discover_api_t *d = ctx->discover;
    if (d == NULL)
        return;
    vg_wsd_probe_cancel(&d->probe);
    free(d);
    ctx->discover = NULL;
}
