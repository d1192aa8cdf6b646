/* fleet: the cameras vigil serves, from the configuration database and the config file,
 * kept in line with the hub as either changes (fleet.c), and each camera's record made into
 * a stream configuration (build.c). `vigil serve` (src/cli/serve.c) opens one; it is its own
 * module so that other stores and placement across instances (issue 18) plug in here, not
 * in the command line code. */
#ifndef VG_FLEET_FLEET_H
#define VG_FLEET_FLEET_H

#include <uv.h>

#include "core/config.h"
#include "core/err.h"
#include "media/stream.h"
#include "outputs/outputs.h"
#include "ptz/ctl.h"
#include "store/async.h"
#include "store/store.h"

/* ---- build.c: a camera's configuration made into a stream ---- */

typedef struct vg_camera_build {
    vg_stream_cfg_t scfg; /* points into the fields below: do not move the struct */
    char err[320], shown[512], sub_shown[512];
    char field[64];  /* the field at fault ("url", "tiers[1].size", "default_tier"), or "" */
    char why[200];   /* what is wrong with it */
    bool is_root_field; /* field is the file's (its default tiers), not the camera's */
    bool is_uplink;     /* uplink://: the producer is the fleet's to give (fleet/uplink.h) */
    vg_tier_t ladder[VG_TIER_MAX];
} vg_camera_build_t;

/* Builds cc's stream configuration: producers, ladder, redacted URLs. A field the sources or
 * the media layer refuse (URL scheme or parameters, snapshot or substream URL, ladder,
 * default tier) makes a stream that is failed with "FIELD: reason" (b->field, b->why), not an
 * error: a camera edited in the database never stops the server. Logs nothing. Always 0. */
int vg_camera_build(vg_camera_build_t *b, const vg_config_t *cfg, const vg_camera_cfg_t *cc);
/* Checks every camera of cfg as vg_camera_build would (opens nothing): 0, or VG_ECONFIG
 * with one line naming the file, line and field (or the --camera flag) logged and kept in
 * cfg->error. Loop thread. */
int vg_fleet_check_cameras(vg_config_t *cfg);
/* The hub took b's producers. */
void vg_camera_build_taken(vg_camera_build_t *b);
/* Frees the producers the hub did not take. */
void vg_camera_build_drop(vg_camera_build_t *b);

/* ---- lease.c: a camera's producer on an instance sharing its database (issue 18) ---- */

#include "store/keys.h"

/* A lease lasts this long unless renewed (each heartbeat renews it). */
#define VG_LEASE_TTL_US 3000000LL

typedef struct vg_lease_env {
    vg_store_async_t *async; /* the fleet's store thread (NULL until it starts) */
    char instance_id[64];
    char credential[VG_INSTANCE_CREDENTIAL_LEN + 1]; /* what a relay gives the holder */
    struct lease_prod *producers;                   /* the wrapped ones, for renewals */
} vg_lease_env_t;

/* The URL another instance relays camera from: the re-stream at base (an rtsp:// URL the
 * holder registered) with the instance credential as the password. false: base is not
 * rtsp://, or out (cap bytes) is too small. */
bool vg_lease_relay_url(const vg_lease_env_t *env, const char *base, const char *camera,
                        char *out, size_t cap);
/* Wraps a camera's producer (*ops, *ctx; taken) so that it runs only while this instance
 * holds the camera's lease, and relays the holder's re-stream otherwise. */
void vg_lease_wrap(vg_lease_env_t *env, const char *camera, const vg_producer_ops_t **ops,
                   void **ctx);
/* After a renewal: held, the cameras this instance still holds. One pulled here that is not
 * among them was taken over: its stream restarts, and relays. leases (vg_store_leases_list):
 * a stream waiting to retry whose camera's lease expired or changed hands retries at once
 * (its holder died: the first retry after that takes the lease or relays the new holder). */
void vg_lease_held(vg_lease_env_t *env, const json_t *held, const json_t *leases);
/* The fleet closes before the hub frees its streams: the wrapped producers let go of env
 * (they ask and release nothing more; their leases expire). */
void vg_lease_detach_all(vg_lease_env_t *env);

/* ---- fleet.c: the cameras of the configuration database, kept live ---- */

typedef struct vg_fleet vg_fleet_t;

/* Opens cfg->db_path (with the master key, refusing to go on when sealed secrets exist
 * without it) and puts the config file's cameras there, owned by the file; file cameras no
 * longer declared are removed. cfg must outlive the fleet. 0 or VG_ECONFIG (logged). */
int vg_fleet_open(vg_fleet_t **out, const vg_config_t *cfg, uv_loop_t *loop, vg_hub_t *hub);
/* Outputs whose counters are dropped with the cameras that leave (may stay NULL). */
void vg_fleet_set_outputs(vg_fleet_t *f, vg_outputs_t *outputs);
/* Brings the hub in line with the database: new cameras are added, changed ones restarted
 * in place (their viewers stay), deleted or disabled ones removed with that reason. Before
 * vg_fleet_start_store it reads on the loop thread (start-up); after, it asks the store
 * thread for a snapshot. */
void vg_fleet_reconcile(vg_fleet_t *f);
/* Hands the store to its own thread (store/async.h). 0 or VG_ECONFIG. */
int vg_fleet_start_store(vg_fleet_t *f);
/* After the server is up: starts the always-on streams and watches the database for
 * changes made by any process (PRAGMA data_version, four times a second, off the loop). */
void vg_fleet_start(vg_fleet_t *f);
/* The server's own writes: reload now rather than at the next poll. */
void vg_fleet_changed(void *fleet);
/* A write through the store thread, then a snapshot applied, then done (on the loop): the
 * change runs before done answers. 0, or < 0 (the queue is full or closed: done not
 * called). */
int vg_fleet_write(vg_fleet_t *f, vg_store_run_fn write, vg_store_done_fn done, void *arg);
/* SIGHUP: cfg (a new reading of the config file and flags, outliving the fleet or the next
 * reload) replaces the one the fleet was opened with: its cameras are put in the database and
 * file cameras it no longer declares removed, on the store thread; then the snapshot is
 * applied as any database change is, then done(arg, rc, err) on the loop. The previous config
 * may be freed from done on. 0, or < 0 (done not called; nothing changed). Loop thread. */
int vg_fleet_reload(vg_fleet_t *f, const vg_config_t *cfg, vg_store_done_fn done, void *arg);
/* A read through the store thread. 0 or < 0 as above. */
int vg_fleet_read(vg_fleet_t *f, vg_store_run_fn read, vg_store_done_fn done, void *arg);
/* The PTZ control layer told each snapshot's PTZ cameras (driver, NAT-mapped address,
 * credentials); may stay NULL. Set before the first reconcile. */
void vg_fleet_set_ptz(vg_fleet_t *f, vg_ptz_ctl_t *ptz);
/* fn(arg, snap) gets every access snapshot (taking it), after the cameras are applied. */
void vg_fleet_on_access(vg_fleet_t *f, void (*fn)(void *arg, vg_access_t *snap), void *arg);
/* The store handle, before vg_fleet_start_store only (start-up checks). */
vg_store_t *vg_fleet_store(vg_fleet_t *f);
vg_store_async_t *vg_fleet_async(vg_fleet_t *f);
const vg_secrets_t *vg_fleet_secrets(vg_fleet_t *f);
/* This instance's id among those sharing the database (--instance-id, else the host name),
 * and whether its last heartbeat reached the database (loop thread; /readyz). */
const char *vg_fleet_instance_id(const vg_fleet_t *f);
bool vg_fleet_is_registered(const vg_fleet_t *f);
/* A clean exit (SIGTERM): the instance leaves the database and gives its camera leases up, so
 * that the instances relaying them take them over at once instead of after the lease time;
 * no heartbeat follows. done(arg) runs on the loop when that is written, or could not be
 * (at most a second). Loop thread. */
void vg_fleet_leave(vg_fleet_t *f, void (*done)(void *arg), void *arg);
/* The edge sites whose cameras (uplink://SITE/CAMERA) this fleet serves; may stay NULL (such
 * cameras are then served failed). Set before the first reconcile. */
struct vg_uplinks;
void vg_fleet_set_uplinks(vg_fleet_t *f, struct vg_uplinks *uplinks);
/* fn(arg) runs once on the loop when the database says this instance was asked to drain
 * (POST /api/v1/instances/{id}/drain, from any instance): the owner then leaves as on
 * SIGTERM. */
void vg_fleet_on_drain(vg_fleet_t *f, void (*fn)(void *arg), void *arg);
/* The URL other instances relay this one's cameras from (its RTSP server), registered with
 * its heartbeat. Loop thread, before vg_fleet_start. */
void vg_fleet_set_rtsp_url(vg_fleet_t *f, const char *url);
/* Stops watching and closes the store; the fleet frees itself once its timer and the store
 * thread have closed. */
void vg_fleet_close(vg_fleet_t **fp);

#endif
