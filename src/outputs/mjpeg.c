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
#include "outputs/outputs.h"

#define BOUNDARY "vigilframe"
static const char preamble[] = "--" BOUNDARY "\r\n";
static const char trailer[] = "\r\n--" BOUNDARY "\r\n";

typedef struct mjpeg_viewer {
    vg_consumer_t cons;
    vg_conn_t *conn;
    vg_frame_t *pending;
    bool sent_preamble;
    uint64_t frames_sent, drops;
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
    if (v->pending) {
        vg_frame_unref(&v->pending);
        v->drops++;
    }
    v->pending = vg_frame_ref(part_for(f));
    vg_conn_want_write(v->conn);
}

static const vg_consumer_ops_t consumer_ops = {.on_frame = on_frame};

static int mjpeg_request(vg_conn_t *c, const char *const *params, void *user)
{
    vg_outputs_t *o = user;
    vg_stream_t *st;
    int tier = vg__outputs_resolve(c, o->cfg.hub, params[0], &st);
    if (tier < 0)
        return 0;
    mjpeg_viewer_t *v = vg_xcalloc(1, sizeof(*v));
    v->conn = c;
    v->cons.ops = &consumer_ops;
    v->cons.user = v;
    vg_conn_set_data(c, v);
    vg_conn_stream_begin(c, 200, "multipart/x-mixed-replace;boundary=" BOUNDARY);
    vg_stream_attach(st, &v->cons, tier);
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
    if (v->pending == NULL)
        return 0;
    vg_frame_t *part = v->pending;
    v->pending = NULL;
    int rc = lws_write(wsi, part->data, part->len, LWS_WRITE_HTTP);
    vg_frame_unref(&part);
    if (rc < 0)
        return -1;
    v->frames_sent++;
    return 0;
}

static void mjpeg_close(vg_conn_t *c)
{
    mjpeg_viewer_t *v = vg_conn_data(c);
    if (v == NULL)
        return;
    vg_stream_detach(&v->cons);
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
    vg_server_route(srv, "GET", "/cameras/{}/mjpeg", &mjpeg_ops, o);
}
