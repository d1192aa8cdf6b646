/* api: the REST handlers under /api/v1, the health endpoint and /metrics. Loop thread only. */
#ifndef VG_API_H
#define VG_API_H

#include "auth/auth.h"
#include "media/stream.h"
#include "net/server.h"
#include "outputs/outputs.h"
#include "store/store.h"

typedef struct vg_api_ctx {
    vg_hub_t *hub;
    vg_outputs_t *outputs;
    vg_store_t *store;                  /* the configuration database (loop thread) */
    vg_auth_t *auth;                    /* who may see what (the gate is already installed) */
    void (*on_store_changed)(void *arg); /* after each write through the API */
    void *store_changed_arg;
    void *priv; /* the routes' own state: vg_api_register makes it, vg_api_release frees it */
} vg_api_ctx_t;

/* Registers /healthz, /metrics, the configuration records under /api/v1 (tenants, sites,
 * gateways, cameras), /api/v1/streams[/{id}], /api/v1/viewers and /api/v1/openapi.json.
 * ctx (and what it points to) outlives srv: the routes keep the pointer. */
void vg_api_register(vg_server_t *srv, vg_api_ctx_t *ctx);
/* After the server is freed. */
void vg_api_release(vg_api_ctx_t *ctx);

/* Returns the state the routes point to (freed by vg_api_release). */
void *vg__api_records_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_openapi_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_streams_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_metrics_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_access_register(vg_server_t *srv, const vg_api_ctx_t *ctx);

/* Responds with a store error: its status, {"error":{code,message,field}}. */
int vg__api_store_error(vg_conn_t *c, const vg_store_err_t *err);
/* Whether the caller of c may see camera id (listings filter with it). */
bool vg__api_can_see(const vg_api_ctx_t *ctx, vg_conn_t *c, const char *id);


#endif
