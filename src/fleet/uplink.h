/* uplink: edge sites behind NAT (issue 18, docs/uplink.md).
 *
 *   edge vigil ── dials out one WebSocket ──→ central vigil (GET /api/v1/uplink)
 *        ↑ its RTSP server                      │ a listener on 127.0.0.1 per site
 *        └──── channels (TCP through the WebSocket) ←── the central's RTSP client,
 *                                                      for cameras uplink://SITE/CAMERA
 *
 * The edge announces its cameras (a hello); the central puts each in its database as
 * "<site>-<camera>" with the URL uplink://<site>/<camera>, and serves it like any camera:
 * when a viewer wants it, its producer reads the edge's RTSP re-stream through a channel,
 * so nothing crosses the uplink while nobody watches. A chain of vigils is the same thing
 * again: a middle vigil announces the cameras it has from its own edges.
 *
 * A thin uplink backs up the edge's end of the channel; the edge stops reading its RTSP
 * server's socket, and that server's slow-reader rule skips the channel to the next keyframe
 * (docs/rtsp.md): the central gets the keyframes the link carries instead of a growing
 * delay. Loop thread only.
 */
#ifndef VG_FLEET_UPLINK_H
#define VG_FLEET_UPLINK_H

#include <uv.h>

#include "media/stream.h"
#include "net/server.h"
#include "store/async.h"

/* ---- the central's end (uplink_server.c) ---- */

typedef struct vg_uplinks vg_uplinks_t;

/* Writes what an edge announces into the database through write(arg, ...) (the fleet's
 * store thread). */
typedef int (*vg_uplinks_write_fn)(void *arg, vg_store_run_fn run, vg_store_done_fn done,
                                   void *job);

vg_uplinks_t *vg_uplinks_new(uv_loop_t *loop, vg_uplinks_write_fn write, void *write_arg);
/* GET /api/v1/uplink (the WebSocket an edge dials; an admin's integration key) and
 * GET /api/v1/uplinks (admin: the sites, connected or not). */
void vg_uplinks_register(vg_uplinks_t *u, vg_server_t *srv);
/* On a database shared by several instances (env: the fleet's lease environment): the sites
 * connected here are recorded there, renewed every second, and a camera whose site is
 * connected to another instance is relayed from that one's RTSP re-stream, as a leased
 * camera is (fleet/lease.c). Before the first camera is built. */
struct vg_lease_env;
void vg_uplinks_set_cluster(vg_uplinks_t *u, struct vg_lease_env *env);
/* Whether url is an uplink:// camera URL. */
bool vg_uplinks_claims(const char *url);
/* The producer of a camera whose URL is uplink://SITE/CAMERA: reads the site's camera
 * through a channel while the site is connected, fails "unreachable" while it is not (the
 * stream shows the offline card and retries; a site that connects retries its cameras at
 * once). 0, or VG_EURL with err for a URL that is not one. */
int vg_uplinks_producer(vg_uplinks_t *u, const char *url, const vg_producer_ops_t **ops,
                        void **ctx, char *err, size_t err_len);
/* Closes the sites' connections and listeners; producers the hub still holds let go of u.
 * Frees itself once its handles have closed. */
void vg_uplinks_close(vg_uplinks_t **up);

/* ---- the edge's end (uplink_client.c) ---- */

typedef struct vg_uplink_client vg_uplink_client_t;

typedef struct vg_uplink_client_cfg {
    uv_loop_t *loop;
    vg_server_t *server; /* its libwebsockets context makes the connection */
    vg_hub_t *hub;       /* the cameras announced */
    const char *url;     /* ws://HOST[:PORT][/PREFIX] or wss://...; /api/v1/uplink added */
    const char *key;     /* the central's integration key (an admin's) */
    const char *site;    /* this site's name there */
} vg_uplink_client_cfg_t;

/* Checks cfg (the URL, the site's name); 0 or VG_EINVAL with why. Nothing is dialled until
 * vg_uplink_client_start. */
int vg_uplink_client_new(vg_uplink_client_t **out, const vg_uplink_client_cfg_t *cfg,
                         char *why, size_t why_len);
/* The credential the central's RTSP client presents for this edge's cameras ("vu_..."), for
 * the RTSP gate: random, made at start, known only to the central it was sent to. */
const char *vg_uplink_client_token(const vg_uplink_client_t *c);
/* This instance's RTSP server's port (on 127.0.0.1), where channels go. Before start. */
void vg_uplink_client_set_rtsp_port(vg_uplink_client_t *c, int port);
/* Dials, and again with backoff (1 s doubling to 8 s) whenever the link drops. */
void vg_uplink_client_start(vg_uplink_client_t *c);
/* Before the server shuts down: no more dialling; closes the link and its channels. */
void vg_uplink_client_close(vg_uplink_client_t **cp);

#endif
