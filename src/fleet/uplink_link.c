/* uplink_link: the queue and the channels both ends of an uplink share (uplink_link.h). */
#include "fleet/uplink_link.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "fleet/uplink_wire.h"

struct vg_uplink_out {
    vg_uplink_out_t *next;
    bool is_text;
    size_t len;
    uint8_t buf[]; /* LWS_PRE, then the message */
};

void vg_uplink_outq_init(vg_uplink_outq_t *q)
{
    memset(q, 0, sizeof(*q));
    q->tail = &q->head;
}

void vg_uplink_outq_push(vg_uplink_outq_t *q, bool is_text, const void *head, size_t head_len,
                         const void *data, size_t len)
{
    vg_uplink_out_t *m = vg_xmalloc(sizeof(*m) + LWS_PRE + head_len + len);
    m->next = NULL;
    m->is_text = is_text;
    m->len = head_len + len;
    if (head_len)
        memcpy(m->buf + LWS_PRE, head, head_len);
    if (len)
        memcpy(m->buf + LWS_PRE + head_len, data, len);
    *q->tail = m;
    q->tail = &m->next;
    q->bytes += m->len;
}

int vg_uplink_outq_write(vg_uplink_outq_t *q, struct lws *wsi)
{
    if (q->is_ping_due) {
        /* a payload: libwebsockets 4.1 sends nothing for an empty one */
        uint8_t buf[LWS_PRE + 4] = {0};
        memcpy(buf + LWS_PRE, "vgup", 4);
        q->is_ping_due = false;
        return lws_write(wsi, buf + LWS_PRE, 4, LWS_WRITE_PING) < 0 ? -1 : 0;
    }
    vg_uplink_out_t *m = q->head;
    if (m == NULL)
        return 0;
    q->head = m->next;
    if (q->head == NULL)
        q->tail = &q->head;
    q->bytes -= m->len;
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->is_text ? LWS_WRITE_TEXT
                                                                 : LWS_WRITE_BINARY);
    free(m);
    return n < 0 ? -1 : 0;
}

bool vg_uplink_outq_has_more(const vg_uplink_outq_t *q) { return q->head || q->is_ping_due; }

void vg_uplink_outq_clear(vg_uplink_outq_t *q)
{
    for (vg_uplink_out_t *m = q->head, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    vg_uplink_outq_init(q);
}

/* One read is one data frame. Small: the far end passes a message on only once all of it has
 * come, so on a thin link a big one would arrive as a burst seconds late (a 57 KB read took
 * 2.8 s at 170 kbit/s, its pictures all at once). */
#define READ_MAX (8 * 1024)
_Static_assert(READ_MAX <= VG_UPLINK_DATA_MAX, "a read must fit a data frame");

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = vg_xmalloc(READ_MAX);
    buf->len = READ_MAX;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    vg_uplink_chan_t *ch = stream->data;
    if (n > 0 && !ch->is_closing)
        ch->ops->on_data(ch, buf->base, (size_t)n);
    else if (n < 0 && !ch->is_closing)
        ch->ops->on_end(ch);
    free(buf->base);
}

void vg_uplink_chan_init(vg_uplink_chan_t *ch, uv_loop_t *loop, const vg_uplink_chan_ops_t *ops,
                         uint32_t id, bool is_connecting)
{
    ch->ops = ops;
    ch->id = id;
    uv_tcp_init_ex(loop, &ch->sock, is_connecting ? AF_INET : AF_UNSPEC);
    ch->sock.data = ch;
}

vg_uplink_chan_t *vg_uplink_chan_find(vg_uplink_chan_t *list, uint32_t id)
{
    for (vg_uplink_chan_t *ch = list; ch; ch = ch->next) {
        if (ch->id == id)
            return ch;
    }
    return NULL;
}

void vg_uplink_chan_unlink(vg_uplink_chan_t **list, vg_uplink_chan_t *ch)
{
    for (vg_uplink_chan_t **p = list; *p; p = &(*p)->next) {
        if (*p == ch) {
            *p = ch->next;
            return;
        }
    }
}

void vg_uplink_chan_read(vg_uplink_chan_t *ch, bool on)
{
    if (ch->is_closing || ch->is_reading == on)
        return;
    ch->is_reading = on;
    if (on)
        uv_read_start((uv_stream_t *)&ch->sock, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&ch->sock);
}

typedef struct write_req {
    uv_write_t req;
    vg_uplink_chan_t *ch;
    size_t len;
    char data[];
} write_req_t;

static void on_written(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    w->ch->writing -= w->len;
    if (status < 0 && status != UV_ECANCELED && !w->ch->is_closing)
        w->ch->ops->on_end(w->ch);
    free(w);
}

int vg_uplink_chan_write(vg_uplink_chan_t *ch, const void *data, size_t len)
{
    write_req_t *w = vg_xmalloc(sizeof(*w) + len);
    w->ch = ch;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    ch->writing += len;
    int rc = uv_write(&w->req, (uv_stream_t *)&ch->sock, &b, 1, on_written);
    if (rc < 0) {
        ch->writing -= len;
        free(w);
    }
    return rc;
}

static void on_closed(uv_handle_t *h)
{
    vg_uplink_chan_t *ch = h->data;
    ch->ops->on_closed(ch);
}

void vg_uplink_chan_close(vg_uplink_chan_t *ch)
{
    if (ch->is_closing)
        return;
    ch->is_closing = true;
    uv_close((uv_handle_t *)&ch->sock, on_closed);
}
