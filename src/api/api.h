/* api: the REST handlers under /api/v1 and the health endpoint. Loop thread only. */
#ifndef VG_API_H
#define VG_API_H

#include "media/stream.h"
#include "net/server.h"

/* Registers GET /healthz, /api/v1/cameras[/{id}] and /api/v1/streams[/{id}]. hub outlives
 * srv. */
void vg_api_register(vg_server_t *srv, vg_hub_t *hub);

void vg__api_streams_register(vg_server_t *srv, vg_hub_t *hub);

/* One camera as the API shows it (new reference). */
json_t *vg_api_camera_json(const vg_stream_t *st);

#endif
