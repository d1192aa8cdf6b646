/* api: the REST handlers under /api/v1, the health endpoint and /metrics. Loop thread only. */
#ifndef VG_API_H
#define VG_API_H

#include "media/stream.h"
#include "net/server.h"
#include "outputs/outputs.h"
#include "store/store.h"

typedef struct vg_api_ctx {
    vg_hub_t *hub;
    vg_outputs_t *outputs;
    vg_store_t *store;                  /* the configuration database (loop thread) */
    void (*on_store_changed)(void *arg); /* after each write through the API */
    void *store_changed_arg;
} vg_api_ctx_t;

/* Registers GET /healthz, /metrics, /api/v1/cameras[/{id}], /api/v1/streams[/{id}] and
 * /api/v1/viewers. ctx (and what it points to) outlives srv: the routes keep the pointer. */
void vg_api_register(vg_server_t *srv, const vg_api_ctx_t *ctx);

void vg__api_streams_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_metrics_register(vg_server_t *srv, const vg_api_ctx_t *ctx);

/* One camera as the API shows it (new reference). */
json_t *vg_api_camera_json(const vg_stream_t *st);

#endif
