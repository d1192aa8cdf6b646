/* snapshot: the latest JPEG of a tier. A camera with a recent picture answers at once; one
 * that is idle is started and the request waits (up to snapshot_wait_ms) for its first
 * picture, then gets 503 with a JSON error. The "camera offline" card is never a snapshot.
 *
 * With ?at=T (Unix ms or RFC 3339) the picture captured nearest T comes from the packet
 * lane's history instead (docs/api.md): the access units from the keyframe before it are
 * decoded on the uv pool (media/still.h), never on the loop. The waiter is then a `source`
 * consumer, which keeps the camera running and hears each new access unit, so a T in the
 * near future is answered as soon as its picture has arrived. */
#include <stdlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "media/still.h"
#include "outputs/outputs_int.h"

#define STILL_QUALITY 85

typedef struct snap_waiter {
    vg_consumer_t cons;
    vg_conn_t *conn; /* NULL once the connection is gone */
    uv_loop_t *loop;
    uv_timer_t timer;
    bool is_timer_closed;
    /* ?at= */
    bool has_at;
    int64_t at_us;
    bool is_decoding; /* a still job is on the uv pool: it frees the waiter if it is last */
    uv_work_t job;
    vg_frame_t **aus;
    size_t au_count;
    vg_frame_t *still;
    int still_rc;
} snap_waiter_t;

static void waiter_free(snap_waiter_t *w)
{
    for (size_t i = 0; i < w->au_count; i++)
        vg_frame_unref(&w->aus[i]);
    free(w->aus);
    vg_frame_unref(&w->still);
    free(w);
}

static void waiter_closed(uv_handle_t *h)
{
    snap_waiter_t *w = h->data;
    w->is_timer_closed = true;
    if (!w->is_decoding)
        waiter_free(w);
}

static void waiter_finish(snap_waiter_t *w)
{
    vg_stream_detach(&w->cons);
    if (w->conn)
        vg_conn_set_data(w->conn, NULL);
    w->conn = NULL;
    if (uv_is_closing((uv_handle_t *)&w->timer))
        return;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void on_still_work(uv_work_t *req) /* uv pool thread */
{
    snap_waiter_t *w = req->data;
    w->still_rc = vg_still_encode(w->aus, w->au_count, STILL_QUALITY, &w->still);
}

static void on_still_done(uv_work_t *req, int status) /* loop thread */
{
    snap_waiter_t *w = req->data;
    w->is_decoding = false;
    if (w->conn) {
        if (status == 0 && w->still_rc == 0) {
            char when[32];
            snprintf(when, sizeof(when), "%lld", (long long)(w->still->meta.capture_us / 1000));
            vg_conn_add_header(w->conn, "X-Capture-Time", when);
            vg_conn_respond_frame(w->conn, 200, "image/jpeg", w->still);
        } else {
            vg_conn_error(w->conn, 500, "internal", "the picture at that time does not decode");
        }
    }
    if (w->is_timer_closed)
        waiter_free(w);
    else
        waiter_finish(w);
}

/* Tries the history for the waiter's time: answers 404, starts the decode, or (the time has
 * not come yet) returns false to wait for more access units. */
static bool try_at(snap_waiter_t *w, vg_stream_t *st)
{
    int64_t oldest_us;
    int rc = vg_stream_history(st, w->at_us, &w->aus, &w->au_count, &oldest_us);
    /* Not yet: the picture is still to come (the camera may just be starting). */
    if (rc == VG_EAGAIN || (rc == VG_ENOENT && oldest_us == 0 && w->at_us > vg_wall_us() - 1000000))
        return false;
    if (rc == VG_ENOENT) {
        if (oldest_us > 0)
            vg_conn_error(w->conn, 404, "not_found",
                          "no picture that old: the oldest held was captured at %lld (Unix ms)",
                          (long long)(oldest_us / 1000));
        else
            vg_conn_error(w->conn, 404, "not_found",
                          "no recent pictures held for this camera (it was not running, or its "
                          "video is not H.264/H.265)");
        waiter_finish(w);
        return true;
    }
    vg_stream_detach(&w->cons); /* nothing more to hear */
    uv_timer_stop(&w->timer);
    w->job.data = w;
    if (uv_queue_work(w->loop, &w->job, on_still_work, on_still_done) != 0) {
        vg_conn_error(w->conn, 503, "unavailable", "cannot decode now; try again");
        waiter_finish(w);
        return true;
    }
    w->is_decoding = true;
    return true;
}

static void on_frame(vg_consumer_t *c, vg_frame_t *f)
{
    snap_waiter_t *w = c->user;
    if (w->has_at) {
        if (w->conn && !w->is_decoding && f->meta.capture_us + 50000 >= w->at_us)
            try_at(w, c->stream);
        return;
    }
    if (f->meta.is_placeholder)
        return; /* a snapshot is a picture from the camera, or 503: keep waiting */
    if (w->conn)
        vg_conn_respond_frame(w->conn, 200, "image/jpeg", f);
    waiter_finish(w);
}

static void on_timeout(uv_timer_t *t)
{
    snap_waiter_t *w = t->data;
    if (w->conn)
        vg_conn_error(w->conn, 503, "unavailable", "camera has no picture yet; try again");
    waiter_finish(w);
}

static void on_removed(vg_consumer_t *c, const char *reason)
{
    snap_waiter_t *w = c->user;
    if (w->conn)
        vg_conn_error(w->conn, 404, "not_found", "%s", reason);
    waiter_finish(w);
}

static const vg_consumer_ops_t consumer_ops = {.on_frame = on_frame, .on_removed = on_removed};

static int snapshot_request(vg_conn_t *c, const char *const *params, void *user)
{
    vg_outputs_t *o = user;
    char at[64];
    int64_t at_us = 0;
    int at_rc = vg_conn_query(c, "at", at, sizeof(at));
    if (at_rc != VG_ENOENT) {
        if (at_rc < 0 || vg_parse_time(at, &at_us) < 0)
            return vg_conn_error(c, 400, "bad_request",
                                 "at: Unix milliseconds or an RFC 3339 time with its offset "
                                 "(2026-12-05T06:22:42.728Z)");
        if (at_us > vg_wall_us() + (int64_t)o->cfg.snapshot_wait_ms * 1000)
            return vg_conn_error(c, 400, "bad_request",
                                 "at: more than the snapshot wait (%d ms) in the future",
                                 o->cfg.snapshot_wait_ms);
    }
    vg_stream_t *st;
    int tier = vg__outputs_resolve(c, o->cfg.hub, params[0], &st);
    if (tier == VG__TIER_AUTO)
        tier = vg_stream_default_tier(st); /* one picture: nothing to adapt */
    if (tier < 0)
        return 0;
    const char *broken = vg_stream_config_error(st);
    if (broken != NULL) /* no picture will come until someone fixes the camera: say so now */
        return vg_conn_error(c, 503, "unavailable", "camera cannot run: %s", broken);
    char why[200];
    if ((at_rc == VG_ENOENT && vg_stream_admit_decoding(st, why, sizeof(why)) < 0) ||
        vg_stream_admit(st, why, sizeof(why)) < 0) {
        vg_conn_add_header(c, "retry-after", "5");
        return vg_conn_error(c, 503, "unavailable", "%s", why);
    }
    snap_waiter_t *w = vg_xcalloc(1, sizeof(*w));
    w->has_at = at_rc != VG_ENOENT;
    w->loop = o->cfg.loop;
    w->at_us = at_us;
    w->conn = c;
    w->cons.ops = &consumer_ops;
    w->cons.user = w;
    uv_timer_init(o->cfg.loop, &w->timer);
    w->timer.data = w;
    vg_conn_set_data(c, w);
    uv_timer_start(&w->timer, on_timeout, (uint64_t)o->cfg.snapshot_wait_ms, 0);
    if (w->has_at) {
        /* Held already, or too old: answered now; else the new access units say when. */
        if (!try_at(w, st))
            vg_stream_attach(st, &w->cons, VG_TIER_SOURCE);
        return 0;
    }
    /* attach delivers the tier's recent picture at once when there is one. */
    vg_stream_attach(st, &w->cons, tier);
    return 0;
}

static void snapshot_close(vg_conn_t *c)
{
    snap_waiter_t *w = vg_conn_data(c);
    if (w == NULL)
        return;
    w->conn = NULL;
    waiter_finish(w); /* a decode in flight finishes and frees the waiter */
}

static const vg_handler_ops_t snapshot_ops = {
    .name = "snapshot",
    .on_request = snapshot_request,
    .on_close = snapshot_close,
};

void vg__snapshot_register(vg_server_t *srv, vg_outputs_t *o)
{
    vg_server_route(srv, "GET", "/cameras/{}/snapshot.jpg", VG_OUTPUT_ACCESS,
                    &snapshot_ops, o);
}
