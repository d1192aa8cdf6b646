/* mjpeg: MJPEG over HTTP as multipart/x-mixed-replace (docs/protocol.md).
 *
 * Each JPEG frame's multipart part — part headers, JPEG, and the boundary that closes it — is
 * built once, on the loop, the first time any MJPEG viewer needs it, and kept on the frame
 * (frame->derived) for every other viewer. The boundary goes right after the JPEG because
 * Chromium draws a part only when the next part's headers arrive: sending the boundary with
 * the next frame would show every picture one frame late.
 */
#include <libwebsockets.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "outputs/outputs_int.h"

#define BOUNDARY "vigilframe"
static const char preamble[] = "--" BOUNDARY "\r\n";
static const char trailer[] = "\r\n--" BOUNDARY "\r\n";

typedef struct mjpeg_viewer {
    vg__viewer_t base; /* first: statistics see it */
    vg_frame_t *pending;
    bool sent_preamble;
} mjpeg_viewer_t;

static vg_frame_t *part_for(vg_frame_t *jpeg)
{
    if (jpeg->derived)
        return jpeg->derived;
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "Content-Type: image/jpeg\r\nContent-Length: %zu\r\nX-Vigil-Seq: %" PRIu32
                     "\r\nX-Vigil-Capture-Us: %" PRId64 "\r\nX-Vigil-Ingest-Us: %" PRId64
                     "\r\n\r\n",
                     jpeg->len, jpeg->meta.seq, jpeg->meta.capture_us, jpeg->meta.ingest_us);
    size_t total = (size_t)n + jpeg->len + sizeof(trailer) - 1;
    vg_frame_t *part = vg_frame_new(total);
    memcpy(part->data, head, (size_t)n);
    memcpy(part->data + n, jpeg->data, jpeg->len);
    memcpy(part->data + n + jpeg->len, trailer, sizeof(trailer) - 1);
    part->len = total;
    part->meta = jpeg->meta;
    jpeg->derived = part; /* loop-only field; the part lives as long as the JPEG */
    return part;
}

static void on_frame(vg_consumer_t *c, vg_frame_t *f)
{
    mjpeg_viewer_t *v = c->user;
    vg__viewer_offered(&v->base);
    if (v->pending) {
        vg_frame_unref(&v->pending);
        vg__viewer_dropped(&v->base);
    }
    v->pending = vg_frame_ref(part_for(f));
    vg_conn_want_write(v->base.conn);
}

static void on_removed(vg_consumer_t *c, const char *reason)
{
    mjpeg_viewer_t *v = c->user;
    vg__viewer_stream_removed(&v->base);
    vg_frame_unref(&v->pending);
    vg_conn_close(v->base.conn, 0, reason); /* ends the multipart response */
}

static void on_ladder(vg_consumer_t *c)
{
    mjpeg_viewer_t *v = c->user;
    vg__viewer_ladder_changed(&v->base);
}

static const vg_consumer_ops_t consumer_ops = {
    .on_frame = on_frame, .on_removed = on_removed, .on_ladder = on_ladder};

/* 4 Hz for `tier=auto`: a plain <img> cannot ask for a tier, so the server walks the JPEG
 * ladder for it on the same measurements as for WebSocket viewers (adapt.h). */
static void on_sample(vg__viewer_t *b)
{
    if (vg_conn_is_closing(b->conn))
        return;
    const vg_tier_t *tiers;
    int n = vg_stream_tiers(b->st, &tiers);
    n = vg_tier_jpeg_count(tiers, n); /* an <img> shows JPEG only */
    int rungs[VG_TIER_MAX];
    double kbps[VG_TIER_MAX];
    for (int t = 0; t < n; t++) {
        rungs[t] = t;
        kbps[t] = vg_stream_tier_kbps(b->st, t);
    }
    const char *reason = NULL;
    int t = vg__viewer_adapt(b, rungs, kbps, n, b->cons.tier, 0, 0, &reason);
    if (t >= 0) {
        mjpeg_viewer_t *v = (mjpeg_viewer_t *)b;
        vg_frame_unref(&v->pending); /* the old tier's picture */
        vg__viewer_set_tier(b, t, true);
    }
}

static int mjpeg_request(vg_conn_t *c, const char *const *params, void *user)
{
    vg_outputs_t *o = user;
    vg_stream_t *st;
    int tier = vg__outputs_resolve(c, o->cfg.hub, params[0], &st);
    bool is_auto = tier == VG__TIER_AUTO;
    if (is_auto)
        tier = vg_stream_default_tier(st);
    if (tier < 0)
        return 0;
    char why[200];
    if (!vg__viewers_admit(o, c, st, tier, why, sizeof(why))) {
        vg_conn_add_header(c, "retry-after", "5");
        return vg_conn_error(c, 503, "unavailable", "%s", why);
    }
    mjpeg_viewer_t *v = vg_xcalloc(1, sizeof(*v));
    v->base.conn = c;
    v->base.st = st;
    v->base.cons.ops = &consumer_ops;
    v->base.cons.user = v;
    v->base.is_auto = is_auto;
    v->base.on_sample = on_sample;
    vg_conn_set_data(c, v);
    vg_conn_stream_begin(c, 200, "multipart/x-mixed-replace;boundary=" BOUNDARY);
    vg__viewer_add(o, &v->base, "mjpeg", tier);
    return 0;
}

static int mjpeg_writable(vg_conn_t *c)
{
    mjpeg_viewer_t *v = vg_conn_data(c);
    struct lws *wsi = vg_conn_wsi(c);
    if (!v->sent_preamble) {
        unsigned char buf[LWS_PRE + sizeof(preamble)];
        memcpy(buf + LWS_PRE, preamble, sizeof(preamble) - 1);
        v->sent_preamble = true;
        if (lws_write(wsi, buf + LWS_PRE, sizeof(preamble) - 1, LWS_WRITE_HTTP) < 0)
            return -1;
        if (v->pending)
            vg_conn_want_write(c);
        return 0;
    }
    if (v->pending == NULL || v->base.is_draining)
        return 0; /* a deep queue drains first; the sample that ends it asks to write again */
    vg_frame_t *part = v->pending;
    v->pending = NULL;
    int rc = lws_write(wsi, part->data, part->len, LWS_WRITE_HTTP);
    if (rc >= 0)
        vg__viewer_sent(&v->base, part, part->len);
    vg_frame_unref(&part);
    return rc < 0 ? -1 : 0;
}

static void mjpeg_close(vg_conn_t *c)
{
    mjpeg_viewer_t *v = vg_conn_data(c);
    if (v == NULL)
        return;
    vg__viewer_remove(&v->base);
    vg_frame_unref(&v->pending);
    free(v);
    vg_conn_set_data(c, NULL);
}

static const vg_handler_ops_t mjpeg_ops = {
    .name = "mjpeg",
    .on_request = mjpeg_request,
    .on_writable = mjpeg_writable,
    .on_close = mjpeg_close,
};

void vg__mjpeg_register(vg_server_t *srv, vg_outputs_t *o)
{
    vg_server_route(srv, "GET", "/cameras/{}/mjpeg", VG_OUTPUT_ACCESS, &mjpeg_ops, o);
}
