/* ctl: the control layer's runtime — one entry per PTZ camera holding its driver instance,
 * its policy state (policy.c), its queue, the command in flight and a lease timer. The timer
 * is armed at the lease's end on every move and refresh; when it fires, the policy says
 * whether to send a stop of vigil's own. A health timer probes every camera now and then.
 *
 * Ownership: the ctl owns its cameras; a camera owns its driver and timer and is freed in
 * the timer's close callback. A command's done runs exactly once: from the driver's
 * callback, or with VG_ECLOSED when the camera goes (sync, free) before it ran.
 * Loop thread only.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "ptz/ctl.h"
#include "ptz/ptz_int.h"

typedef struct ptz_cam ptz_cam_t;

struct ptz_cam {
    vg_ptz_ctl_t *ctl;
    char *id, *driver, *address, *user, *password, *error;
    vg_ptz_t *drv;
    vg_ptz_policy_t pol;
    vg_ptz_queue_t q;
    vg_ptz_cmd_t cur;
    bool is_busy, is_seen, is_probing;
    uint64_t epoch; /* bumped when the driver is replaced: late callbacks are ignored */
    uv_timer_t lease;
    /* presets stored through vigil (drivers that cannot list them) */
    bool known[VG_PTZ_PRESET_MAX + 1];
    char known_name[VG_PTZ_PRESET_MAX + 1][VG_PTZ_NAME_MAX + 1];
    /* the last probe */
    bool has_health, is_reachable;
    char health_reason[160];
    char device_name[VG_PTZ_NAME_MAX * 3 + 1];
    int64_t checked_unix_s;
};

struct vg_ptz_ctl {
    vg_ptz_ctl_cfg_t cfg;
    ptz_cam_t **cams;
    size_t count;
    uint64_t next_session;
    uv_timer_t health;
    uint32_t health_ms;
    bool is_health_started;
    bool is_closing;
    int open_handles;
};

static int64_t now_ms(void)
{
    return vg_mono_us() / 1000;
}

static void wipe_free(char **p)
{
    if (*p) {
        sodium_memzero(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

static ptz_cam_t *find(vg_ptz_ctl_t *c, const char *id)
{
    for (size_t i = 0; id && i < c->count; i++) {
        if (strcmp(c->cams[i]->id, id) == 0)
            return c->cams[i];
    }
    return NULL;
}

static void complete(vg_ptz_cmd_t *cmd, int status, const char *error)
{
    if (cmd->done)
        vg__ptz_done_simple(cmd->done, cmd->user, status, error);
}

static void pump(ptz_cam_t *cam);

/* The driver's answer for cam->cur. The epoch in user tells a callback from a driver that
 * was replaced meanwhile (it cannot arrive: close cancels; kept as a guard). */
static void on_done(void *user, int status, const vg_ptz_result_t *res)
{
    ptz_cam_t *cam = user;
    vg_ptz_cmd_t cmd = cam->cur;
    cam->is_busy = false;
    if (status == 0 && cmd.op == VG_PTZ_SET && cmd.number <= VG_PTZ_PRESET_MAX) {
        int n = res && res->n_presets == 1 ? res->presets[0].number : cmd.number;
        if (n >= 1 && n <= VG_PTZ_PRESET_MAX) {
            cam->known[n] = true;
            vg_strlcpy(cam->known_name[n], cmd.name, sizeof(cam->known_name[n]));
        }
    } else if (status == 0 && cmd.op == VG_PTZ_REMOVE) {
        cam->known[cmd.number] = false;
    }
    if (cmd.done) {
        cmd.done(cmd.user, status, res);
    } else if (status < 0 && cam->ctl->cfg.audit) {
        /* vigil's own stop failed: worth a line in the audit log next to the lease. */
        cam->ctl->cfg.audit(cam->ctl->cfg.audit_user, cam->id, "ptz.stop", "error",
                            res && res->error ? res->error : vg_strerror(status));
    }
    pump(cam);
}

static void on_probe(void *user, int status, const vg_ptz_result_t *res)
{
    ptz_cam_t *cam = user;
    cam->is_probing = false;
    cam->has_health = true;
    cam->is_reachable = status == 0;
    cam->checked_unix_s = vg_wall_us() / 1000000;
    vg_strlcpy(cam->health_reason,
               status == 0 ? "ok" : (res && res->error ? res->error : vg_strerror(status)),
               sizeof(cam->health_reason));
    if (status == 0 && res && res->device_name)
        vg_strlcpy(cam->device_name, res->device_name, sizeof(cam->device_name));
}

static int dispatch(ptz_cam_t *cam, vg_ptz_cmd_t *cmd)
{
    vg_ptz_t *d = cam->drv;
    switch (cmd->op) {
    case VG_PTZ_MOVE:
        vg_ptz_policy_sent(&cam->pol, cmd->pan, cmd->tilt, cmd->zoom, now_ms());
        return vg_ptz_move(d, cmd->pan, cmd->tilt, cmd->zoom, on_done, cam);
    case VG_PTZ_STOP:
        vg_ptz_policy_sent(&cam->pol, 0, 0, 0, now_ms());
        return vg_ptz_stop(d, on_done, cam);
    case VG_PTZ_GOTO: return vg_ptz_goto_preset(d, cmd->number, on_done, cam);
    case VG_PTZ_SET:
        return vg_ptz_set_preset(d, cmd->number, cmd->name[0] ? cmd->name : NULL, on_done, cam);
    case VG_PTZ_REMOVE: return vg_ptz_remove_preset(d, cmd->number, on_done, cam);
    case VG_PTZ_LIST: return vg_ptz_list_presets(d, on_done, cam);
    case VG_PTZ_ALARM: return vg_ptz_set_alarm(d, cmd->number, cmd->is_on, on_done, cam);
    case VG_PTZ_STATUS: return vg_ptz_status(d, on_done, cam);
    case VG_PTZ_PROBE: return vg_ptz_probe(d, on_done, cam);
    }
    return VG_EINVAL;
}

static void pump(ptz_cam_t *cam)
{
    while (!cam->is_busy && cam->drv && vg_ptz_queue_pop(&cam->q, &cam->cur)) {
        cam->is_busy = true;
        int rc = dispatch(cam, &cam->cur);
        if (rc < 0) {
            cam->is_busy = false;
            complete(&cam->cur, rc, rc == VG_EFULL ? "too many camera requests waiting" : NULL);
        }
    }
}

static void enqueue_own_stop(ptz_cam_t *cam, const char *why)
{
    vg_ptz_cmd_t cmd = {.op = VG_PTZ_STOP};
    vg_strlcpy(cmd.actor, "vigil", sizeof(cmd.actor));
    vg_ptz_cmd_t old;
    bool has_old;
    vg_ptz_queue_push(&cam->q, &cmd, &old, &has_old); /* a stop always goes in */
    if (has_old)
        complete(&old, 0, NULL);
    if (cam->ctl->cfg.audit)
        cam->ctl->cfg.audit(cam->ctl->cfg.audit_user, cam->id, "ptz.stop", "ok", why);
    VG_LOG_INFO("ptz", "cam=%s: stop sent by vigil (%s)", cam->id, why);
    pump(cam);
}

static void on_lease(uv_timer_t *t)
{
    ptz_cam_t *cam = t->data;
    int64_t now = now_ms();
    if (vg_ptz_policy_tick(&cam->pol, now))
        enqueue_own_stop(cam, "move not refreshed within 1 s");
    else if (cam->pol.is_moving)
        uv_timer_start(&cam->lease, on_lease, (uint64_t)(cam->pol.lease_until_ms - now), 0);
}

/* Fails everything waiting (and the command in flight, whose driver is being closed). */
static void fail_all(ptz_cam_t *cam, const char *why)
{
    vg_ptz_cmd_t cmd;
    if (cam->is_busy) {
        cam->is_busy = false;
        complete(&cam->cur, VG_ECLOSED, why);
    }
    while (vg_ptz_queue_pop(&cam->q, &cmd))
        complete(&cmd, VG_ECLOSED, why);
}

static void on_cam_closed(uv_handle_t *h)
{
    ptz_cam_t *cam = h->data;
    vg_ptz_ctl_t *c = cam->ctl;
    free(cam->id);
    free(cam->driver);
    free(cam->address);
    free(cam->user);
    wipe_free(&cam->password);
    free(cam->error);
    free(cam);
    if (c->is_closing && --c->open_handles == 0)
        free(c);
}

static void cam_drop(ptz_cam_t *cam, const char *why)
{
    vg_ptz_close(&cam->drv); /* cancels in flight without a callback */
    fail_all(cam, why);
    uv_close((uv_handle_t *)&cam->lease, on_cam_closed);
}

int vg_ptz_ctl_new(vg_ptz_ctl_t **out, const vg_ptz_ctl_cfg_t *cfg)
{
    vg_ptz_ctl_t *c = vg_xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    if (c->cfg.timeout_ms == 0)
        c->cfg.timeout_ms = 3000;
    uv_timer_init(cfg->loop, &c->health);
    c->health.data = c;
    *out = c;
    return 0;
}

static void on_health_closed(uv_handle_t *h)
{
    vg_ptz_ctl_t *c = h->data;
    if (--c->open_handles == 0)
        free(c);
}

void vg_ptz_ctl_free(vg_ptz_ctl_t **cp)
{
    vg_ptz_ctl_t *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    c->is_closing = true;
    c->open_handles = (int)c->count + 1;
    for (size_t i = 0; i < c->count; i++)
        cam_drop(c->cams[i], "vigil is shutting down");
    free(c->cams);
    c->cams = NULL;
    c->count = 0;
    uv_close((uv_handle_t *)&c->health, on_health_closed);
}

void vg_ptz_ctl_sync_begin(vg_ptz_ctl_t *c)
{
    for (size_t i = 0; i < c->count; i++)
        c->cams[i]->is_seen = false;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static char *dup(const char *s)
{
    return s ? vg_xstrdup(s) : NULL;
}

void vg_ptz_ctl_set_camera(vg_ptz_ctl_t *c, const char *id, const char *driver,
                           const char *address, const char *user, const char *password,
                           const char *error)
{
    ptz_cam_t *cam = find(c, id);
    if (cam && same(cam->driver, driver) && same(cam->address, address) &&
        same(cam->user, user) && same(cam->password, password) && same(cam->error, error)) {
        cam->is_seen = true;
        return;
    }
    if (cam == NULL) {
        cam = vg_xcalloc(1, sizeof(*cam));
        cam->ctl = c;
        cam->id = vg_xstrdup(id);
        uv_timer_init(c->cfg.loop, &cam->lease);
        cam->lease.data = cam;
        c->cams = vg_xrealloc(c->cams, (c->count + 1) * sizeof(*c->cams));
        c->cams[c->count++] = cam;
    } else {
        /* Reconfigured: what waits was meant for the old address. */
        vg_ptz_close(&cam->drv);
        fail_all(cam, "the camera's PTZ configuration changed");
        free(cam->driver);
        free(cam->address);
        free(cam->user);
        wipe_free(&cam->password);
        free(cam->error);
        cam->has_health = cam->is_probing = false;
    }
    cam->is_seen = true;
    cam->driver = dup(driver);
    cam->address = dup(address);
    cam->user = dup(user);
    cam->password = dup(password);
    cam->error = dup(error);
    cam->epoch++;
    if (error == NULL) {
        vg_ptz_cfg_t pcfg = {.camera_id = id, .address = address, .user = user,
                             .password = password, .timeout_ms = c->cfg.timeout_ms,
                             .http = c->cfg.http};
        int rc = vg_ptz_open(&cam->drv, driver, &pcfg);
        if (rc < 0) {
            cam->error = vg_xstrdup(rc == VG_ENOENT ? "unknown PTZ driver"
                                                    : "no PTZ address");
            VG_LOG_WARN("ptz", "cam=%s: %s", id, cam->error);
        }
    }
    /* A camera added or changed while the server runs is checked at once, not at the next
     * round. */
    if (c->is_health_started && cam->drv && vg_ptz_probe(cam->drv, on_probe, cam) == 0)
        cam->is_probing = true;
}

void vg_ptz_ctl_sync_end(vg_ptz_ctl_t *c)
{
    for (size_t i = 0; i < c->count;) {
        ptz_cam_t *cam = c->cams[i];
        if (cam->is_seen) {
            i++;
            continue;
        }
        c->cams[i] = c->cams[--c->count];
        cam_drop(cam, "the camera has no PTZ any more");
    }
}

int vg_ptz_ctl_submit(vg_ptz_ctl_t *c, const char *camera, const vg_ptz_who_t *who,
                      const vg_ptz_request_t *rq, vg_ptz_done_cb done, void *user,
                      char holder[VG_PTZ_ACTOR_MAX], char takeover[VG_PTZ_ACTOR_MAX],
                      const char **err)
{
    if (holder)
        holder[0] = '\0';
    if (takeover)
        takeover[0] = '\0';
    *err = NULL;
    ptz_cam_t *cam = find(c, camera);
    if (cam == NULL)
        return VG_ENOENT;
    if (cam->drv == NULL) {
        *err = cam->error ? cam->error : "no PTZ driver";
        return VG_EUNREACHABLE;
    }
    const vg_ptz_ops_t *ops = vg_ptz_driver(cam->drv);
    bool has_op = true;
    switch (rq->op) {
    case VG_PTZ_REMOVE: has_op = ops->remove_preset != NULL; break;
    case VG_PTZ_ALARM: has_op = ops->set_alarm != NULL; break;
    case VG_PTZ_STATUS: has_op = ops->status != NULL; break;
    case VG_PTZ_LIST: has_op = ops->list_presets != NULL; break;
    default: break;
    }
    if (!has_op)
        return -ENOTSUP;
    int64_t now = now_ms();
    vg_ptz_verdict_t v;
    /* An expired lease not yet noticed by its timer counts as stopped. */
    if (vg_ptz_policy_tick(&cam->pol, now))
        enqueue_own_stop(cam, "move not refreshed within 1 s");
    vg_ptz_policy_t before = cam->pol;
    vg_ptz_policy_command(&cam->pol, who, rq->op, rq->pan, rq->tilt, rq->zoom, now, &v);
    if (!v.is_allowed) {
        if (holder)
            vg_strlcpy(holder, v.other, VG_PTZ_ACTOR_MAX);
        return VG_EBUSY;
    }
    if (v.is_takeover && takeover)
        vg_strlcpy(takeover, v.other, VG_PTZ_ACTOR_MAX);
    if (cam->pol.is_moving)
        uv_timer_start(&cam->lease, on_lease, VG_PTZ_LEASE_MS, 0);
    if (v.is_refresh_only) {
        vg_ptz_result_t res = {0};
        done(user, 0, &res); /* the camera is already moving so */
        return 0;
    }
    vg_ptz_cmd_t cmd = {.op = rq->op, .pan = rq->pan, .tilt = rq->tilt, .zoom = rq->zoom,
                        .number = rq->number, .is_on = rq->is_on, .done = done, .user = user};
    if (cmd.op == VG_PTZ_MOVE && rq->pan == 0 && rq->tilt == 0 && rq->zoom == 0)
        cmd.op = VG_PTZ_STOP;
    vg_strlcpy(cmd.name, rq->name ? rq->name : "", sizeof(cmd.name));
    vg_strlcpy(cmd.actor, who->actor, sizeof(cmd.actor));
    vg_ptz_cmd_t old;
    bool has_old;
    if (vg_ptz_queue_push(&cam->q, &cmd, &old, &has_old) < 0) {
        cam->pol = before; /* refused: as if it never came */
        return VG_EFULL;
    }
    if (has_old)
        complete(&old, 0, NULL); /* superseded by the newer command */
    pump(cam);
    return 0;
}

uint64_t vg_ptz_ctl_session(vg_ptz_ctl_t *c)
{
    return ++c->next_session;
}

void vg_ptz_ctl_session_closed(vg_ptz_ctl_t *c, uint64_t session)
{
    for (size_t i = 0; i < c->count; i++) {
        ptz_cam_t *cam = c->cams[i];
        if (vg_ptz_policy_session_closed(&cam->pol, session) && cam->drv)
            enqueue_own_stop(cam, "the WebSocket moving it closed");
    }
}

int vg_ptz_ctl_info(vg_ptz_ctl_t *c, const char *camera, vg_ptz_ctl_info_t *out)
{
    ptz_cam_t *cam = find(c, camera);
    memset(out, 0, sizeof(*out));
    if (cam == NULL)
        return VG_ENOENT;
    int64_t now = now_ms();
    out->driver = cam->driver;
    vg_strlcpy(out->holder, vg_ptz_policy_holder(&cam->pol, now), sizeof(out->holder));
    out->is_moving = cam->pol.is_moving && now < cam->pol.lease_until_ms;
    out->lease_left_ms = out->is_moving ? cam->pol.lease_until_ms - now : 0;
    out->queued = cam->q.count + (cam->is_busy ? 1 : 0);
    out->error = cam->error;
    out->has_health = cam->has_health;
    out->is_reachable = cam->is_reachable;
    vg_strlcpy(out->health_reason, cam->health_reason, sizeof(out->health_reason));
    vg_strlcpy(out->device_name, cam->device_name, sizeof(out->device_name));
    out->checked_unix_s = cam->checked_unix_s;
    return 0;
}

size_t vg_ptz_ctl_known_presets(vg_ptz_ctl_t *c, const char *camera, vg_ptz_preset_t *out,
                                size_t max)
{
    ptz_cam_t *cam = find(c, camera);
    size_t n = 0;
    for (int i = 1; cam && i <= VG_PTZ_PRESET_MAX && n < max; i++) {
        if (cam->known[i]) {
            out[n].number = i;
            vg_strlcpy(out[n].name, cam->known_name[i], sizeof(out[n].name));
            n++;
        }
    }
    return n;
}

void vg_ptz_ctl_each(vg_ptz_ctl_t *c,
                     void (*fn)(const char *camera, const vg_ptz_ctl_info_t *info, void *arg),
                     void *arg)
{
    for (size_t i = 0; i < c->count; i++) {
        vg_ptz_ctl_info_t info;
        vg_ptz_ctl_info(c, c->cams[i]->id, &info);
        fn(c->cams[i]->id, &info, arg);
    }
}

static void on_health(uv_timer_t *t)
{
    vg_ptz_ctl_t *c = t->data;
    for (size_t i = 0; i < c->count; i++) {
        ptz_cam_t *cam = c->cams[i];
        /* Probes go beside the queue, not through it: a health check never delays a
         * command, and the http client's per-camera bound still applies. */
        if (cam->drv && !cam->is_probing && vg_ptz_probe(cam->drv, on_probe, cam) == 0)
            cam->is_probing = true;
    }
}

void vg_ptz_ctl_start_health(vg_ptz_ctl_t *c, uint32_t interval_ms)
{
    c->health_ms = interval_ms;
    c->is_health_started = true;
    uv_timer_start(&c->health, on_health, 0, interval_ms);
}
