/* ws: the WebSocket viewer (docs/protocol.md).
 *
 * Text messages carry JSON control; binary messages carry one frame: vigil's 32-byte header
 * followed by the JPEG. The worker wrote that header into the frame's headroom once, so a send
 * is a single lws_write of (header + JPEG) straight from the shared frame. libwebsockets then
 * writes its own framing into the LWS_PRE bytes in front: identical bytes for every viewer
 * of that frame (server frames are unmasked and the length is the same), written on the loop
 * thread only, which is the one sanctioned write to a published frame.
 */
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "core/wire.h"
#include "outputs/outputs.h"

_Static_assert(LWS_PRE + VG_WIRE_HDR_LEN <= VG_FRAME_HEADROOM,
               "frame headroom must fit libwebsockets' framing and vigil's header");

#define CTRL_QUEUE 16

typedef struct ws_viewer {
    vg_consumer_t cons;
    vg_conn_t *conn;
    vg_stream_t *st;
    vg_frame_t *pending;
    char *ctrl[CTRL_QUEUE]; /* JSON texts, each with LWS_PRE bytes in front */
    size_t ctrl_len[CTRL_QUEUE];
    int ctrl_head, ctrl_count;
    uint64_t frames_sent, drops;
} ws_viewer_t;

static void queue_text(ws_viewer_t *v, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text == NULL)
        return;
    if (v->ctrl_count == CTRL_QUEUE) {
        /* A peer that lets 16 control messages pile up is not reading at all. */
        free(text);
        vg_conn_close(v->conn, LWS_CLOSE_STATUS_POLICY_VIOLATION, "not reading");
        return;
    }
    size_t n = strlen(text);
    char *buf = vg_xmalloc(LWS_PRE + n);
    memcpy(buf + LWS_PRE, text, n);
    free(text);
    int slot = (v->ctrl_head + v->ctrl_count++) % CTRL_QUEUE;
    v->ctrl[slot] = buf;
    v->ctrl_len[slot] = n;
    vg_conn_want_write(v->conn);
}

static void queue_error(ws_viewer_t *v, const char *code, const char *message)
{
    queue_text(v, json_pack("{s:s,s:s,s:s}", "type", "error", "code", code, "message", message));
}

static void on_frame(vg_consumer_t *c, vg_frame_t *f)
{
    ws_viewer_t *v = c->user;
    if (v->pending) {
        vg_frame_unref(&v->pending); /* latest wins */
        v->drops++;
    }
    v->pending = vg_frame_ref(f);
    vg_conn_want_write(v->conn);
}

static void on_state(vg_consumer_t *c, vg_stream_state_t state)
{
    ws_viewer_t *v = c->user;
    vg_stream_status_t s;
    vg_stream_get_status(v->st, &s);
    queue_text(v, json_pack("{s:s,s:s,s:s}", "type", "state", "state", vg_stream_state_name(state),
                            "reason", s.reason));
}

static const vg_consumer_ops_t consumer_ops = {.on_frame = on_frame, .on_state = on_state};

static int ws_open(vg_conn_t *c, const char *const *params, void *user)
{
    vg_outputs_t *o = user;
    vg_stream_t *st = vg_hub_find(o->cfg.hub, params[0]);
    if (st == NULL) {
        vg_conn_close(c, 4404, "no such camera");
        return 0;
    }
    ws_viewer_t *v = vg_xcalloc(1, sizeof(*v));
    v->conn = c;
    v->st = st;
    v->cons.ops = &consumer_ops;
    v->cons.user = v;
    vg_conn_set_data(c, v);

    const vg_tier_t *tiers;
    int n = vg_stream_tiers(st, &tiers);
    int tier = vg_stream_default_tier(st);
    char name[VG_TIER_NAME_MAX + 1];
    bool bad_tier = false;
    int rc = vg_conn_query(c, "tier", name, sizeof(name));
    if (rc >= 0) {
        int t = vg_tier_find(tiers, n, name);
        if (t >= 0)
            tier = t;
        else
            bad_tier = true;
    } else if (rc != VG_ENOENT) {
        bad_tier = true; /* present but too long to be any tier's name */
    }
    queue_text(v, json_pack("{s:s,s:s,s:s,s:s,s:o}", "type", "hello", "camera",
                            vg_stream_id(st), "tier", tiers[tier].name, "state",
                            vg_stream_state_name(vg_stream_state(st)), "tiers",
                            vg_tier_ladder_json(tiers, n)));
    if (bad_tier)
        queue_error(v, "bad_request", "unknown tier; using the camera's default");
    vg_stream_attach(st, &v->cons, tier);
    return 0;
}

static int ws_writable(vg_conn_t *c)
{
    ws_viewer_t *v = vg_conn_data(c);
    if (v == NULL)
        return 0;
    struct lws *wsi = vg_conn_wsi(c);
    if (v->ctrl_count > 0) {
        int slot = v->ctrl_head;
        v->ctrl_head = (v->ctrl_head + 1) % CTRL_QUEUE;
        v->ctrl_count--;
        int rc = lws_write(wsi, (unsigned char *)v->ctrl[slot] + LWS_PRE, v->ctrl_len[slot],
                           LWS_WRITE_TEXT);
        free(v->ctrl[slot]);
        v->ctrl[slot] = NULL;
        if (rc < 0)
            return -1;
        if (v->ctrl_count > 0 || v->pending)
            vg_conn_want_write(c);
        return 0;
    }
    if (v->pending == NULL)
        return 0;
    vg_frame_t *f = v->pending;
    v->pending = NULL;
    /* libwebsockets either sends it all or keeps the remainder and holds back the next
     * WRITEABLE until it is flushed: that remainder is this viewer's one frame in flight. */
    int rc = lws_write(wsi, f->data - VG_WIRE_HDR_LEN, f->len + VG_WIRE_HDR_LEN,
                       LWS_WRITE_BINARY);
    vg_frame_unref(&f);
    if (rc < 0)
        return -1;
    v->frames_sent++;
    return 0;
}

static int ws_message(vg_conn_t *c, const char *text, size_t len)
{
    ws_viewer_t *v = vg_conn_data(c);
    if (v == NULL)
        return 0;
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, 0, &jerr);
    const char *type = NULL, *tier_name = NULL;
    if (msg == NULL || !json_is_object(msg) ||
        json_unpack(msg, "{s:s}", "type", &type) != 0) {
        queue_error(v, "bad_request", "control messages are JSON objects with a \"type\"");
        json_decref(msg);
        return 0;
    }
    if (strcmp(type, "subscribe") == 0) {
        const vg_tier_t *tiers;
        int n = vg_stream_tiers(v->st, &tiers);
        int t = json_unpack(msg, "{s:s}", "tier", &tier_name) == 0
                    ? vg_tier_find(tiers, n, tier_name)
                    : -1;
        if (t < 0) {
            queue_error(v, "bad_request", "subscribe needs a \"tier\" from the hello's list");
        } else {
            if (t != v->cons.tier)
                vg_frame_unref(&v->pending); /* the old tier's picture */
            vg_stream_set_tier(&v->cons, t);
            queue_text(v, json_pack("{s:s,s:s}", "type", "subscribed", "tier", tiers[t].name));
        }
    } else {
        queue_error(v, "bad_request", "unknown message type");
    }
    json_decref(msg);
    return 0;
}

static void ws_close(vg_conn_t *c)
{
    ws_viewer_t *v = vg_conn_data(c);
    if (v == NULL)
        return;
    vg_stream_detach(&v->cons);
    vg_frame_unref(&v->pending);
    for (int i = 0; i < v->ctrl_count; i++)
        free(v->ctrl[(v->ctrl_head + i) % CTRL_QUEUE]);
    free(v);
    vg_conn_set_data(c, NULL);
}

static const vg_handler_ops_t ws_ops = {
    .name = "ws",
    .on_ws_open = ws_open,
    .on_writable = ws_writable,
    .on_ws_message = ws_message,
    .on_close = ws_close,
};

void vg__ws_register(vg_server_t *srv, vg_outputs_t *o)
{
    vg_server_route(srv, "GET", "/api/v1/cameras/{}/ws", &ws_ops, o);
}
