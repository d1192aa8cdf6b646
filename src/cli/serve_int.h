/* serve_int: what the serve subcommand's files share. */
#ifndef VG_CLI_SERVE_INT_H
#define VG_CLI_SERVE_INT_H

#include <uv.h>

#include "core/config.h"
#include "core/err.h"
#include "media/stream.h"
#include "outputs/outputs.h"
#include "store/store.h"

/* ---- serve_camera.c: a camera's configuration made into a stream ---- */

typedef struct vg__camera_build {
    vg_stream_cfg_t scfg; /* points into the fields below: do not move the struct */
    char err[256], shown[512], sub_shown[512];
    vg_tier_t ladder[VG_TIER_MAX];
} vg__camera_build_t;

/* Builds cc's stream configuration: producers (a URL the sources refuse makes a stream that
 * is failed with the reason, not an error), ladder, redacted URLs. 0, or VG_ECONFIG (logged;
 * nothing to drop). */
int vg__camera_build(vg__camera_build_t *b, const vg_config_t *cfg, const vg_camera_cfg_t *cc);
/* The hub took b's producers. */
void vg__camera_build_taken(vg__camera_build_t *b);
/* Frees the producers the hub did not take. */
void vg__camera_build_drop(vg__camera_build_t *b);

/* ---- serve_store.c: the cameras of the configuration database, kept live ---- */

typedef struct vg__fleet vg__fleet_t;

/* Opens cfg->db_path (with the master key, refusing to go on when sealed secrets exist
 * without it) and puts the config file's cameras there, owned by the file; file cameras no
 * longer declared are removed. cfg must outlive the fleet. 0 or VG_ECONFIG (logged). */
int vg__fleet_open(vg__fleet_t **out, const vg_config_t *cfg, uv_loop_t *loop, vg_hub_t *hub);
/* Outputs whose counters are dropped with the cameras that leave (may stay NULL). */
void vg__fleet_set_outputs(vg__fleet_t *f, vg_outputs_t *outputs);
/* Brings the hub in line with the database: new cameras are added, changed ones restarted
 * in place (their viewers stay), deleted or disabled ones removed with that reason. */
void vg__fleet_reconcile(vg__fleet_t *f);
/* After the server is up: starts the always-on streams and watches the database for
 * changes made by any process (PRAGMA data_version, once a second). */
void vg__fleet_start(vg__fleet_t *f);
/* The server's own writes (the API's): reconcile now rather than at the next poll. */
void vg__fleet_changed(void *fleet);
/* fn(arg) runs after every reconcile (the grants may have changed with the cameras). */
void vg__fleet_on_reconciled(vg__fleet_t *f, void (*fn)(void *arg), void *arg);
/* The store handle (loop thread), for the API. */
vg_store_t *vg__fleet_store(vg__fleet_t *f);
/* Stops watching and closes the store; the fleet frees itself once the timer has closed. */
void vg__fleet_close(vg__fleet_t **fp);

#endif
