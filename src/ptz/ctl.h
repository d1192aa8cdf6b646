/* ptz/ctl: the control layer above the drivers — per camera, the command queue, the move
 * lease and the control lock (issue 17 "Safety").
 *
 *   API / WebSocket ──submit──▶ policy (lock, lease) ──▶ queue (coalescing) ──▶ driver
 *                                    ▲                                          │
 *          lease timer, WS close ────┘ (→ a stop of vigil's own)      one at a time per camera
 *
 * - Commands to one camera go to it one at a time, in order. A move replaces a move still
 *   waiting; a stop replaces a waiting move and is never dropped (a full queue gives up its
 *   last waiting command for it).
 * - A move is a lease of VG_PTZ_LEASE_MS: without a refresh (the same call again, or a
 *   WebSocket message) vigil sends stop itself. A refresh with the same speeds sends nothing
 *   to the camera unless the last send is VG_PTZ_RESEND_MS old (an ONVIF move also carries
 *   its own device-side time-out, which the resend keeps ahead of).
 * - The control lock: the caller of a steering command (move, stop, presets) holds it; it
 *   is released on stop, on the lease's stop, when the holder's WebSocket closes, or
 *   VG_PTZ_LOCK_IDLE_MS after its last command. Others are refused while it is held; an
 *   admin takes it over. Reads (status, presets) and alarms need no lock.
 * The policy is pure functions of (state, event, now) below; ctl.c only drives them with a
 * libuv timer and the drivers. Loop thread only.
 */
#ifndef VG_PTZ_CTL_H
#define VG_PTZ_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "net/http_client.h"
#include "ptz/ptz.h"

#define VG_PTZ_LEASE_MS 1000
#define VG_PTZ_RESEND_MS 2000
#define VG_PTZ_LOCK_IDLE_MS 10000
#define VG_PTZ_QUEUE_MAX 8
#define VG_PTZ_ACTOR_MAX 96

typedef enum vg_ptz_op {
    VG_PTZ_MOVE,
    VG_PTZ_STOP,
    VG_PTZ_GOTO,
    VG_PTZ_SET,
    VG_PTZ_REMOVE,
    VG_PTZ_LIST,
    VG_PTZ_ALARM,
    VG_PTZ_STATUS,
    VG_PTZ_PROBE,
} vg_ptz_op_t;

const char *vg_ptz_op_name(vg_ptz_op_t op);
/* Whether op steers (needs the control lock). */
bool vg_ptz_op_steers(vg_ptz_op_t op);

/* Who asks. */
typedef struct vg_ptz_who {
    const char *actor; /* the audit log's actor ("u1", "jwt:sub"); the lock's identity */
    bool is_admin;     /* may take the lock over */
    uint64_t session;  /* the WebSocket it came on (0: a REST call) */
} vg_ptz_who_t;

/* ---- the policy: pure ---- */

typedef struct vg_ptz_policy {
    char holder[VG_PTZ_ACTOR_MAX]; /* "" when nobody holds the lock */
    uint64_t holder_session;
    int64_t lock_until_ms;
    bool is_moving;
    uint64_t mover_session;
    int64_t lease_until_ms;
    double pan, tilt, zoom; /* the move last sent to the camera */
    int64_t sent_ms;
} vg_ptz_policy_t;

typedef struct vg_ptz_verdict {
    bool is_allowed;
    bool is_takeover;     /* an admin took the lock from another holder */
    bool is_refresh_only; /* a move that only refreshes the lease: nothing to send */
    char other[VG_PTZ_ACTOR_MAX]; /* refused: who holds the lock; takeover: who held it */
} vg_ptz_verdict_t;

/* A command arrives (for VG_PTZ_MOVE, speeds in -1..1; all zero is a stop). Updates the lock
 * and the lease when allowed. */
void vg_ptz_policy_command(vg_ptz_policy_t *s, const vg_ptz_who_t *who, vg_ptz_op_t op,
                           double pan, double tilt, double zoom, int64_t now_ms,
                           vg_ptz_verdict_t *out);
/* A move went to the camera. */
void vg_ptz_policy_sent(vg_ptz_policy_t *s, double pan, double tilt, double zoom,
                        int64_t now_ms);
/* Time passes: true when the lease ran out (vigil must send stop; the lock is released). An
 * idle lock past its time is released too. */
bool vg_ptz_policy_tick(vg_ptz_policy_t *s, int64_t now_ms);
/* A WebSocket closed: true when it was moving the camera (vigil must send stop). The lock it
 * held is released. */
bool vg_ptz_policy_session_closed(vg_ptz_policy_t *s, uint64_t session);
/* Who holds the lock now ("" none; borrowed from s). */
const char *vg_ptz_policy_holder(const vg_ptz_policy_t *s, int64_t now_ms);

/* The queue: pure, bounded, coalescing. */
typedef struct vg_ptz_cmd {
    vg_ptz_op_t op;
    double pan, tilt, zoom;
    int number; /* preset or alarm */
    bool is_on;
    char name[VG_PTZ_NAME_MAX + 1];
    char actor[VG_PTZ_ACTOR_MAX];
    vg_ptz_done_cb done; /* NULL: vigil's own (a lease stop) */
    void *user;
} vg_ptz_cmd_t;

typedef struct vg_ptz_queue {
    vg_ptz_cmd_t items[VG_PTZ_QUEUE_MAX];
    int head, count;
} vg_ptz_queue_t;

/* Adds cmd. Returns 0, or VG_EFULL (only for a command that is not a stop). *replaced (when
 * has_replaced) is a waiting command taken out for it, whose done the caller must call. */
int vg_ptz_queue_push(vg_ptz_queue_t *q, const vg_ptz_cmd_t *cmd, vg_ptz_cmd_t *replaced,
                      bool *has_replaced);
bool vg_ptz_queue_pop(vg_ptz_queue_t *q, vg_ptz_cmd_t *out);

/* ---- the runtime ---- */

typedef struct vg_ptz_ctl vg_ptz_ctl_t;

typedef struct vg_ptz_ctl_cfg {
    uv_loop_t *loop;
    vg_http_client_t *http; /* borrowed; outlives the ctl */
    uint32_t timeout_ms;    /* per camera exchange; 0: 3000 */
    /* vigil's own commands (lease and WebSocket-close stops) for the audit log. */
    void (*audit)(void *user, const char *camera, const char *action, const char *outcome,
                  const char *detail);
    void *audit_user;
} vg_ptz_ctl_cfg_t;

int vg_ptz_ctl_new(vg_ptz_ctl_t **out, const vg_ptz_ctl_cfg_t *cfg);
/* Fails what waits (done gets VG_ECLOSED), closes the drivers and timers; frees once they
 * have closed (run the loop afterwards). Accepts NULL; clears *c. */
void vg_ptz_ctl_free(vg_ptz_ctl_t **c);

/* The fleet's cameras: between begin and end, set every camera that has a ptz_driver
 * (address already NAT-mapped; error: why it cannot be reached, or NULL); cameras not set
 * are dropped (what waits for them fails with VG_ECLOSED). A camera whose driver, address
 * or credentials changed gets a new driver instance. */
void vg_ptz_ctl_sync_begin(vg_ptz_ctl_t *c);
void vg_ptz_ctl_set_camera(vg_ptz_ctl_t *c, const char *id, const char *driver,
                           const char *address, const char *user, const char *password,
                           const char *error);
void vg_ptz_ctl_sync_end(vg_ptz_ctl_t *c);

typedef struct vg_ptz_request {
    vg_ptz_op_t op;
    double pan, tilt, zoom;
    int number;
    bool is_on;
    const char *name; /* VG_PTZ_SET; may be NULL */
} vg_ptz_request_t;

/* Submits a command. Returns 0 (done follows exactly once — already from inside this call
 * for a move that only refreshes the lease — unless the ctl is freed first
 * when it gets VG_ECLOSED), VG_ENOENT (the camera has no PTZ), VG_EBUSY (the lock is held:
 * holder gets who), VG_EFULL (its queue is full), -ENOTSUP (the driver cannot), VG_EINVAL,
 * or the camera's configuration error (VG_EUNREACHABLE, *err says why). takeover (may be
 * NULL) gets the previous holder when an admin took the lock over, else "". */
int vg_ptz_ctl_submit(vg_ptz_ctl_t *c, const char *camera, const vg_ptz_who_t *who,
                      const vg_ptz_request_t *rq, vg_ptz_done_cb done, void *user,
                      char holder[VG_PTZ_ACTOR_MAX], char takeover[VG_PTZ_ACTOR_MAX],
                      const char **err);
/* A new WebSocket session id (never 0). */
uint64_t vg_ptz_ctl_session(vg_ptz_ctl_t *c);
/* The session's WebSocket closed: the cameras it was moving are stopped. */
void vg_ptz_ctl_session_closed(vg_ptz_ctl_t *c, uint64_t session);

typedef struct vg_ptz_ctl_info {
    const char *driver;
    char holder[VG_PTZ_ACTOR_MAX]; /* "" none */
    bool is_moving;
    int64_t lease_left_ms;
    int queued;
    const char *error; /* configuration error, or NULL */
    /* the last probe: */
    bool has_health, is_reachable;
    char health_reason[160];
    char device_name[VG_PTZ_NAME_MAX * 3 + 1];
    int64_t checked_unix_s;
} vg_ptz_ctl_info_t;
/* The camera's PTZ state. VG_ENOENT when it has no PTZ. Borrowed strings until the next
 * sync. */
int vg_ptz_ctl_info(vg_ptz_ctl_t *c, const char *camera, vg_ptz_ctl_info_t *out);
/* Presets stored through vigil (for drivers that cannot list them): up to max into out;
 * returns the count. */
size_t vg_ptz_ctl_known_presets(vg_ptz_ctl_t *c, const char *camera, vg_ptz_preset_t *out,
                                size_t max);
/* Calls fn for every PTZ camera (metrics). */
void vg_ptz_ctl_each(vg_ptz_ctl_t *c,
                     void (*fn)(const char *camera, const vg_ptz_ctl_info_t *info, void *arg),
                     void *arg);
/* Probes every camera (reachability) now and then every interval_ms (0: only now). */
void vg_ptz_ctl_start_health(vg_ptz_ctl_t *c, uint32_t interval_ms);

#endif
