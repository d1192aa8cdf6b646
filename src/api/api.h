/* api: the REST handlers under /api/v1, the health endpoint and /metrics. Loop thread only. */
#ifndef VG_API_H
#define VG_API_H

#include "auth/auth.h"
#include "core/looplag.h"
#include "media/stream.h"
#include "net/server.h"
#include "outputs/outputs.h"
#include "ptz/ctl.h"
#include "store/async.h"
#include "store/store.h"

/* How the API reaches the database: jobs on the store thread (store/async.h). write runs a
 * job and then applies the database's new state to the running streams and the access
 * cache before done runs, so a response sent from done describes a change already in
 * force. 0, or < 0 when the job was not taken (too many waiting; done is not called). */
typedef int (*vg_api_job_fn)(void *fleet, vg_store_run_fn run, vg_store_done_fn done,
                             void *arg);

typedef struct vg_api_ctx {
    vg_hub_t *hub;
    uv_loop_t *loop; /* the loop the server runs on (held requests, discovery), or NULL */
    void *discover;  /* api/discover.c's state */
    vg_outputs_t *outputs;
    vg_auth_t *auth; /* who may see what (the gate is already installed) */
    void *fleet;
    vg_api_job_fn write, read;
    /* Instances sharing the database (issue 18): this one's id, and whether its heartbeat
     * reached the database (/readyz). NULL: no database, nothing to register in. */
    const char *(*instance_id)(void *fleet);
    bool (*is_registered)(void *fleet);
    const vg_looplag_t *looplag; /* the loop-stall probe, or NULL (figures read as zero) */
    const struct vg_rtsp *rtsp;  /* the RTSP server, or NULL (none: no vigil_rtsp_*) */
    vg_ptz_ctl_t *ptz;           /* PTZ control, or NULL (no PTZ routes) */
    void *ptz_priv;              /* api/ptz.c's state */
    void *priv; /* the routes' own state: vg_api_register makes it, vg_api_release frees it */
} vg_api_ctx_t;

/* A request waiting for the store thread. Embed it first in the handler's own job. The
 * connection may go while the job runs: finish then gets c NULL and only frees. */
typedef struct vg__api_job vg__api_job_t;
typedef void (*vg__api_finish_fn)(vg__api_job_t *j, vg_conn_t *c, int rc,
                                  const vg_store_err_t *err);
struct vg__api_job {
    const vg_api_ctx_t *ctx;
    vg_conn_t *conn;
    vg__api_finish_fn finish;
};
/* Runs run on the store thread (after it, for a write, the change is applied), then
 * finish(j, c, rc, err) on the loop. finish always runs (at once, with 503, when the job
 * could not be queued) and frees j. Routes that submit jobs set .on_close =
 * vg__api_conn_closed. Returns 0. */
int vg__api_submit(vg_conn_t *c, vg__api_job_t *j, bool is_write, vg_store_run_fn run,
                   vg__api_finish_fn finish);
void vg__api_conn_closed(vg_conn_t *c);

/* Registers /healthz, /metrics, the configuration records under /api/v1 (tenants, sites,
 * gateways, cameras), /api/v1/streams[/{id}], /api/v1/viewers, /api/v1/status and
 * /api/v1/openapi.json.
 * ctx (and what it points to) outlives srv: the routes keep the pointer. */
void vg_api_register(vg_server_t *srv, vg_api_ctx_t *ctx);
/* After the server is freed. */
void vg_api_release(vg_api_ctx_t *ctx);

/* Returns the state the routes point to (freed by vg_api_release). */
void *vg__api_records_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_openapi_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_streams_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
/* POST /api/v1/discover (api/discover.c); its release cancels a discovery still running. */
void vg__api_discover_register(vg_server_t *srv, vg_api_ctx_t *ctx);
void vg__api_discover_release(vg_api_ctx_t *ctx);
void vg__api_metrics_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_access_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_keys_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
void vg__api_status_register(vg_server_t *srv, const vg_api_ctx_t *ctx);
/* PTZ and alarm routes and the WebSocket's ptz.* messages (api/ptz.c); nothing when
 * ctx->ptz is NULL. */
typedef struct vg__api_ptz vg__api_ptz_t;
void vg__api_ptz_register(vg_server_t *srv, vg_api_ctx_t *ctx);
void vg__api_ptz_release(vg_api_ctx_t *ctx);
/* Points the control layer's own audit entries (vigil's stops) at ctx's audit log. */
void vg_api_ptz_audit_hook(vg_ptz_ctl_cfg_t *cfg, const vg_api_ctx_t *ctx);

/* Responds with a store error: its status, {"error":{code,message,field}}; a 503 (the
 * database did not answer in time) with Retry-After. */
int vg__api_store_error(vg_conn_t *c, const vg_store_err_t *err);
/* The one redaction rule for every route that shows a camera to a caller who is not an
 * admin: its addresses (URLs, even without credentials, name hosts on the site's network),
 * user name, PTZ address and owner are removed, from the record and from its "live" part,
 * and the hosts of those URLs are replaced by "(camera)" in every text left (a state's or a
 * health check's reason names what it could not reach). */
void vg__api_redact_camera(json_t *doc);
/* A stream's "health" object: {"reachable","reason","checked_at"}, all null before the first
 * look at the camera (streams.c; also in a camera's "live"). */
json_t *vg__api_health_json(const vg_stream_status_t *s);
/* Whether the caller of c may see camera id (listings filter with it). */
bool vg__api_can_see(const vg_api_ctx_t *ctx, vg_conn_t *c, const char *id);


#endif
