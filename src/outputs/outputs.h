/* outputs: the ways viewers receive a camera — WebSocket JPEG frames (ws.c), MJPEG over HTTP
 * (mjpeg.c) and snapshots (snapshot.c). Each registers its routes on the server and attaches
 * its viewers to the hub's streams as consumers. Loop thread only.
 *
 * Every viewer holds at most one pending frame besides what its socket is sending: a newer
 * frame replaces the pending one and the drop is counted, so a slow viewer never slows the
 * camera or the others and memory stays flat.
 */
#ifndef VG_OUTPUTS_H
#define VG_OUTPUTS_H

#include "media/stream.h"
#include "net/server.h"

typedef struct vg_outputs vg_outputs_t;

typedef struct vg_outputs_cfg {
    uv_loop_t *loop;
    vg_hub_t *hub;        /* must outlive the server's connections */
    int snapshot_wait_ms; /* how long a snapshot waits for a first picture */
} vg_outputs_cfg_t;

/* Registers /api/v1/cameras/{id}/ws, /cameras/{id}/mjpeg and /cameras/{id}/snapshot.jpg.
 * Returns the outputs' shared state; free it after the server. */
vg_outputs_t *vg_outputs_new(vg_server_t *srv, const vg_outputs_cfg_t *cfg);
void vg_outputs_free(vg_outputs_t **op);

/* Shared by the outputs: the tier a request names in ?tier= (or the default). Returns the
 * index, or -1 after responding 400/404 on c (HTTP) — *st is set when the camera exists. */
int vg__outputs_resolve(vg_conn_t *c, vg_hub_t *hub, const char *camera_id, vg_stream_t **st);

struct vg_outputs {
    vg_outputs_cfg_t cfg;
};

void vg__ws_register(vg_server_t *srv, vg_outputs_t *o);
void vg__mjpeg_register(vg_server_t *srv, vg_outputs_t *o);
void vg__snapshot_register(vg_server_t *srv, vg_outputs_t *o);

#endif
