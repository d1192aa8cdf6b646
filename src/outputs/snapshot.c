/* snapshot: the latest JPEG of a tier. A camera with a recent picture answers at once; one
 * that is idle is started and the request waits (up to snapshot_wait_ms) for its first
 * picture, then gets 503 with a JSON error. The "camera offline" card is never a snapshot. */
#include <stdlib.h>

#include "core/util.h"
#include "outputs/outputs_int.h"

typedef struct snap_waiter {
    vg_consumer_t cons;
    vg_conn_t *conn; /* NULL once the connection is gone */
    uv_timer_t timer;
} snap_waiter_t;

static void waiter_closed(uv_handle_t *h) { free(h->data); }

static void waiter_finish(snap_waiter_t *w)
{
    vg_stream_detach(&w->cons);
    if (w->conn)
        vg_conn_set_data(w->conn, NULL);
    w->conn = NULL;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void on_frame(vg_consumer_t *c, vg_frame_t *f)
{
    snap_waiter_t *w = c->user;
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
    vg_stream_t *st;
    int tier = vg__outputs_resolve(c, o->cfg.hub, params[0], &st);
    if (tier < 0)
        return 0;
    snap_waiter_t *w = vg_xcalloc(1, sizeof(*w));
    w->conn = c;
    w->cons.ops = &consumer_ops;
    w->cons.user = w;
    uv_timer_init(o->cfg.loop, &w->timer);
    w->timer.data = w;
    vg_conn_set_data(c, w);
    uv_timer_start(&w->timer, on_timeout, (uint64_t)o->cfg.snapshot_wait_ms, 0);
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
    waiter_finish(w);
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
