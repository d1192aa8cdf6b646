/* policy: the control layer's decisions as pure functions of (state, event, now) — the
 * control lock, the move lease and the coalescing queue (ctl.h says what each rule is for).
 * No clock, no I/O: unit tests drive them with made-up times. Any thread, on its own state.
 */
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "ptz/ctl.h"

const char *vg_ptz_op_name(vg_ptz_op_t op)
{
    static const char *const names[] = {
        [VG_PTZ_MOVE] = "move",     [VG_PTZ_STOP] = "stop",     [VG_PTZ_GOTO] = "goto",
        [VG_PTZ_SET] = "store",     [VG_PTZ_REMOVE] = "remove", [VG_PTZ_LIST] = "presets",
        [VG_PTZ_ALARM] = "alarm",   [VG_PTZ_STATUS] = "status", [VG_PTZ_PROBE] = "probe",
    };
    return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

bool vg_ptz_op_steers(vg_ptz_op_t op)
{
    return op == VG_PTZ_MOVE || op == VG_PTZ_STOP || op == VG_PTZ_GOTO || op == VG_PTZ_SET ||
           op == VG_PTZ_REMOVE;
}

static void release(vg_ptz_policy_t *s)
{
    s->holder[0] = '\0';
    s->holder_session = 0;
    s->lock_until_ms = 0;
}

const char *vg_ptz_policy_holder(const vg_ptz_policy_t *s, int64_t now_ms)
{
    if (s->holder[0] == '\0' || (!s->is_moving && now_ms >= s->lock_until_ms))
        return "";
    return s->holder;
}

void vg_ptz_policy_command(vg_ptz_policy_t *s, const vg_ptz_who_t *who, vg_ptz_op_t op,
                           double pan, double tilt, double zoom, int64_t now_ms,
                           vg_ptz_verdict_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!vg_ptz_op_steers(op)) {
        out->is_allowed = true;
        return;
    }
    if (op == VG_PTZ_MOVE && pan == 0 && tilt == 0 && zoom == 0)
        op = VG_PTZ_STOP;
    const char *holder = vg_ptz_policy_holder(s, now_ms);
    if (holder[0] && strcmp(holder, who->actor) != 0) {
        vg_strlcpy(out->other, holder, sizeof(out->other));
        if (!who->is_admin)
            return; /* refused */
        out->is_takeover = true;
    }
    out->is_allowed = true;
    if (op == VG_PTZ_STOP) {
        s->is_moving = false;
        release(s);
        return;
    }
    vg_strlcpy(s->holder, who->actor, sizeof(s->holder));
    s->holder_session = who->session;
    s->lock_until_ms = now_ms + VG_PTZ_LOCK_IDLE_MS;
    if (op != VG_PTZ_MOVE) {
        if (op == VG_PTZ_GOTO)
            s->is_moving = false; /* the camera leaves for the preset: no continuous move */
        return;
    }
    out->is_refresh_only = s->is_moving && !out->is_takeover && s->pan == pan &&
                           s->tilt == tilt && s->zoom == zoom &&
                           now_ms - s->sent_ms < VG_PTZ_RESEND_MS;
    s->is_moving = true;
    s->mover_session = who->session;
    s->lease_until_ms = now_ms + VG_PTZ_LEASE_MS;
}

void vg_ptz_policy_sent(vg_ptz_policy_t *s, double pan, double tilt, double zoom,
                        int64_t now_ms)
{
    s->pan = pan;
    s->tilt = tilt;
    s->zoom = zoom;
    s->sent_ms = now_ms;
}

bool vg_ptz_policy_tick(vg_ptz_policy_t *s, int64_t now_ms)
{
    if (s->is_moving && now_ms >= s->lease_until_ms) {
        s->is_moving = false;
        release(s);
        return true;
    }
    if (!s->is_moving && s->holder[0] && now_ms >= s->lock_until_ms)
        release(s);
    return false;
}

bool vg_ptz_policy_session_closed(vg_ptz_policy_t *s, uint64_t session)
{
    if (session == 0)
        return false;
    bool must_stop = s->is_moving && s->mover_session == session;
    if (must_stop)
        s->is_moving = false;
    if (must_stop || s->holder_session == session)
        release(s);
    return must_stop;
}

/* ---- the queue ---- */

static vg_ptz_cmd_t *at(vg_ptz_queue_t *q, int i)
{
    return &q->items[(q->head + i) % VG_PTZ_QUEUE_MAX];
}

int vg_ptz_queue_push(vg_ptz_queue_t *q, const vg_ptz_cmd_t *cmd, vg_ptz_cmd_t *replaced,
                      bool *has_replaced)
{
    *has_replaced = false;
    vg_ptz_cmd_t *tail = q->count ? at(q, q->count - 1) : NULL;
    /* A move waiting is out of date as soon as a newer move or a stop arrives. */
    if (tail && tail->op == VG_PTZ_MOVE && (cmd->op == VG_PTZ_MOVE || cmd->op == VG_PTZ_STOP)) {
        *replaced = *tail;
        *has_replaced = true;
        *tail = *cmd;
        return 0;
    }
    if (q->count == VG_PTZ_QUEUE_MAX) {
        if (cmd->op != VG_PTZ_STOP)
            return VG_EFULL;
        /* A stop is never dropped: the last waiting command gives way (a stop already
         * waiting last makes this one redundant, so that one is the one handed back). */
        *replaced = *tail;
        *has_replaced = true;
        *tail = *cmd;
        return 0;
    }
    *at(q, q->count++) = *cmd;
    return 0;
}

bool vg_ptz_queue_pop(vg_ptz_queue_t *q, vg_ptz_cmd_t *out)
{
    if (q->count == 0)
        return false;
    *out = *at(q, 0);
    q->head = (q->head + 1) % VG_PTZ_QUEUE_MAX;
    q->count--;
    return true;
}
