/* probe_conn: the connections of `vigil probe`: TCP on libuv, a minimal WebSocket client
 * (RFC 6455) and a minimal HTTP/1.1 client for multipart/x-mixed-replace MJPEG.
 *
 * Why a hand-written client: the probe is the measuring stick for thousands of viewers on
 * one core, so each frame must cost it far less than it costs the server it measures. It
 * never needs a payload except for the few frames it samples, so it parses headers where
 * they lie in the read buffer, counts payload bytes and skips them. libwebsockets' client
 * copies every fragment into its rx buffer and hands it to a callback, and brings TLS and
 * its own loop integration that the probe does not need. The client side of RFC 6455 that
 * vigil uses is small: the handshake with a random key and the Sec-WebSocket-Accept check,
 * masking of the few frames the probe sends, 16- and 64-bit lengths, fragmentation,
 * ping/pong and the closing handshake.
 *
 * Reads: every viewer reads into the one buffer the probe owns (p->rx_buf, 1 MiB). libuv
 * calls the read callback before it asks for a buffer again, so on one thread the buffer
 * can be shared: large reads then cost 1 MiB in all instead of per viewer (1000 viewers
 * with 1 MiB each would be 1 GiB). What must outlive a read is small and kept per viewer:
 * a partial header line, the 2..14 bytes of a WebSocket frame header, the vigil frame
 * header, a control frame. Payloads are copied only for sampled or saved frames.
 *
 * Closing: the probe sends a WebSocket close (1000), shuts down its side and reads until
 * the server's EOF (at most a grace period), so the server sees an orderly close and not
 * the RST that closing a socket with unread data would send.
 *
 * Loop thread only.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/probe_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "core/wire.h"

/* RFC 6455 section 1.3: the GUID hashed with the client's key into Sec-WebSocket-Accept. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* How long a closing viewer waits for the server's EOF before closing anyway. */
#define DRAIN_GRACE_US 1000000
/* Part headers plus any junk before a boundary, per part. */
#define PART_HEAD_MAX (16 * 1024)

enum { HEAD_STATUS, HEAD_FIELDS };
enum { HF_UPGRADE = 1, HF_CONNECTION = 2, HF_ACCEPT = 4, HF_MULTIPART = 8, HF_CHUNKED = 16,
       HF_PART_LEN = 32 };
enum { MP_DELIM, MP_HEADERS, MP_BODY, MP_END };
enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER, CH_END };
enum { WS_OP_CONT = 0, WS_OP_TEXT = 1, WS_OP_BINARY = 2, WS_OP_CLOSE = 8, WS_OP_PING = 9,
       WS_OP_PONG = 10 };

static const char *const err_kind_names[VG_PROBE_ERR_KINDS] = {
    "connect", "timeout", "handshake", "closed", "protocol", "bad frame",
};

/* ---- small helpers ------------------------------------------------------------------- */

static bool name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Splits "Name: value", trimming blanks around the value. False without a colon. */
static bool split_field(const char *line, size_t len, const char **name, size_t *name_len,
                        const char **val, size_t *val_len)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return false;
    *name = line;
    *name_len = (size_t)(colon - line);
    const char *s = colon + 1, *e = line + len;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *val = s;
    *val_len = (size_t)(e - s);
    return true;
}

/* Decimal digits only, no sign, no overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* True when the comma-separated list val contains tok (case-insensitive). */
static bool has_token(const char *val, size_t len, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < len) {
        while (i < len && (val[i] == ' ' || val[i] == '\t' || val[i] == ','))
            i++;
        size_t j = i;
        while (j < len && val[j] != ',')
            j++;
        size_t e = j;
        while (e > i && (val[e - 1] == ' ' || val[e - 1] == '\t'))
            e--;
        if (e - i == tl && strncasecmp(val + i, tok, tl) == 0)
            return true;
        i = j;
    }
    return false;
}

/* Takes one LF-terminated line from p[0..n), dropping a CR before the LF. Returns 1 and the
 * line (in place when it lies whole in p, else assembled in l->buf; valid until the next
 * call), 0 when p ended first (all of it kept in l), or VG_EPROTO when the line is longer
 * than l->cap. *used: bytes of p taken. */
static int line_take(vg_probe_line_t *l, const uint8_t *p, size_t n, size_t *used,
                     const char **line, size_t *len)
{
    const uint8_t *nl = memchr(p, '\n', n);
    size_t k = nl != NULL ? (size_t)(nl - p) : n;

    if ((size_t)l->len + k > l->cap)
        return VG_EPROTO;
    if (nl == NULL || l->len > 0) {
        memcpy(l->buf + l->len, p, k);
        l->len = (uint16_t)(l->len + k);
        if (nl == NULL) {
            *used = n;
            return 0;
        }
        *line = l->buf;
        *len = l->len;
        l->len = 0;
    } else {
        *line = (const char *)p;
        *len = k;
    }
    *used = k + 1;
    if (*len > 0 && (*line)[*len - 1] == '\r')
        (*len)--;
    return 1;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

typedef struct wreq {
    uv_write_t req; /* first: the callback casts back */
    vg_probe_viewer_t *v;
    uint8_t data[];
} wreq_t;

static void on_close(uv_handle_t *h)
{
    vg_probe_viewer_t *v = h->data;
    v->state = VG_PROBE_V_CLOSED;
    free(v->line.buf);
    v->line.buf = NULL;
    vg__probe_buf_free(&v->copy);
    v->probe->open_handles--;
}

void vg__probe_viewer_close(vg_probe_viewer_t *v)
{
    if (v->state == VG_PROBE_V_IDLE) {
        v->state = VG_PROBE_V_CLOSED;
        return;
    }
    if (v->state == VG_PROBE_V_CLOSING || v->state == VG_PROBE_V_CLOSED)
        return;
    if (v->cur.is_saved || v->cur.is_sampled)
        vg__probe_frame_abort(v);
    v->state = VG_PROBE_V_CLOSING;
    uv_close((uv_handle_t *)&v->tcp, on_close);
}

__attribute__((format(printf, 3, 0))) static void
log_viewer_error(vg_probe_viewer_t *v, vg_probe_err_kind_t kind, const char *fmt, va_list ap)
{
    if (!vg__probe_count_error(v->probe, kind))
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "probe: viewer %d: %s: %s (further %s errors are only counted)\n", v->id,
            err_kind_names[kind], msg, err_kind_names[kind]);
}

void vg__probe_viewer_fail(vg_probe_viewer_t *v, vg_probe_err_kind_t kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_viewer_error(v, kind, fmt, ap);
    va_end(ap);
    v->is_failed = true;
    vg__probe_viewer_close(v);
}

static void on_write(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    vg_probe_viewer_t *v = w->v;
    free(w);
    if (status < 0 && status != UV_ECANCELED && !v->is_finishing &&
        (v->state == VG_PROBE_V_OPEN || v->state == VG_PROBE_V_HANDSHAKE))
        vg__probe_viewer_fail(v, VG_PROBE_ERR_CLOSED, "write: %s", uv_strerror(status));
}

/* Queues a copy of data[0..len) for writing. Returns 0, or a negative code after failing v. */
static int viewer_write(vg_probe_viewer_t *v, const void *data, size_t len)
{
    wreq_t *w = vg_xmalloc(sizeof(*w) + len);
    w->v = v;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&v->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        vg__probe_viewer_fail(v, VG_PROBE_ERR_CLOSED, "write: %s", uv_strerror(rc));
    }
    return rc;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    vg_probe_viewer_t *v = req->handle->data;
    if (status < 0 && v->state == VG_PROBE_V_DRAINING)
        vg__probe_viewer_close(v);
}

/* Shuts down our side and waits (reading, discarding) for the server's EOF. */
static void viewer_drain(vg_probe_viewer_t *v)
{
    if (v->state != VG_PROBE_V_OPEN && v->state != VG_PROBE_V_HANDSHAKE)
        return;
    v->state = VG_PROBE_V_DRAINING;
    v->deadline_mono_us = vg_mono_us() + DRAIN_GRACE_US;
    if (uv_shutdown(&v->shutdown_req, (uv_stream_t *)&v->tcp, on_shutdown) < 0)
        vg__probe_viewer_close(v);
}

/* Sends one masked client frame (RFC 6455 section 5.3); control frames only, so len <= 125. */
static int ws_send(vg_probe_viewer_t *v, uint8_t op, const uint8_t *payload, size_t len)
{
    uint8_t frame[2 + 4 + 125];
    if (len > 125)
        len = 125;
    frame[0] = (uint8_t)(0x80 | op);
    frame[1] = (uint8_t)(0x80 | len);
    /* The mask must be unpredictable to the page's script in a browser (section 10.3); the
     * probe sends a handful of frames, so the CSPRNG costs nothing here. */
    if (RAND_bytes(frame + 2, 4) != 1)
        memset(frame + 2, 0x5a, 4);
    for (size_t i = 0; i < len; i++)
        frame[6 + i] = payload[i] ^ frame[2 + (i & 3)];
    return viewer_write(v, frame, 6 + len);
}

static void ws_send_close(vg_probe_viewer_t *v, int code, const char *reason)
{
    uint8_t body[125];
    size_t len = 0;
    if (code > 0) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        len = 2;
        size_t rl = reason != NULL ? strlen(reason) : 0;
        if (rl > sizeof(body) - 2)
            rl = sizeof(body) - 2;
        if (rl > 0)
            memcpy(body + 2, reason, rl);
        len += rl;
    }
    ws_send(v, WS_OP_CLOSE, body, len);
}

void vg__probe_viewer_finish(vg_probe_viewer_t *v)
{
    v->is_finishing = true;
    switch (v->state) {
    case VG_PROBE_V_IDLE:
        v->state = VG_PROBE_V_CLOSED;
        break;
    case VG_PROBE_V_CONNECTING:
    case VG_PROBE_V_HANDSHAKE:
        vg__probe_viewer_close(v);
        break;
    case VG_PROBE_V_OPEN:
        if (v->probe->url.kind == VG_PROBE_WS)
            ws_send_close(v, 1000, "probe done");
        viewer_drain(v); /* nothing when a failed write has closed v already */
        break;
    default:
        break;
    }
}

/* ---- the response head (both kinds) -------------------------------------------------- */

static bool ws_accept_ok(const char *key, const char *val, size_t len)
{
    char src[64 + sizeof(WS_GUID)];
    int n = snprintf(src, sizeof(src), "%s%s", key, WS_GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    unsigned char b64[64];

    if (n < 0 || (size_t)n >= sizeof(src) ||
        EVP_Digest(src, (size_t)n, md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20)
        return false;
    int b64_len = EVP_EncodeBlock(b64, md, 20); /* 28 characters */
    return (size_t)b64_len == len && memcmp(b64, val, len) == 0;
}

static void head_field(vg_probe_viewer_t *v, const char *line, size_t len)
{
    const char *name, *val;
    size_t nl, vl;
    if (!split_field(line, len, &name, &nl, &val, &vl))
        return;
    if (v->probe->url.kind == VG_PROBE_WS) {
        if (name_is(name, nl, "Upgrade") && has_token(val, vl, "websocket"))
            v->head_flags |= HF_UPGRADE;
        else if (name_is(name, nl, "Connection") && has_token(val, vl, "upgrade"))
            v->head_flags |= HF_CONNECTION;
        else if (name_is(name, nl, "Sec-WebSocket-Accept") && ws_accept_ok(v->ws_key, val, vl))
            v->head_flags |= HF_ACCEPT;
        return;
    }
    if (name_is(name, nl, "Transfer-Encoding") && has_token(val, vl, "chunked")) {
        v->head_flags |= HF_CHUNKED;
    } else if (name_is(name, nl, "Content-Type") && vl >= 26 &&
               strncasecmp(val, "multipart/x-mixed-replace", 25) == 0) {
        /* boundary=vigilframe or boundary="vigilframe" (RFC 2046 section 5.1.1). */
        for (size_t i = 0; i + 9 <= vl; i++) {
            if (strncasecmp(val + i, "boundary=", 9) != 0)
                continue;
            const char *b = val + i + 9, *e = val + vl;
            if (b < e && *b == '"') {
                b++;
                const char *q = memchr(b, '"', (size_t)(e - b));
                e = q != NULL ? q : e;
            } else {
                const char *semi = memchr(b, ';', (size_t)(e - b));
                e = semi != NULL ? semi : e;
                while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                    e--;
            }
            size_t bl = (size_t)(e - b);
            if (bl > 0 && bl < sizeof(v->boundary)) {
                memcpy(v->boundary, b, bl);
                v->boundary[bl] = '\0';
                v->head_flags |= HF_MULTIPART;
            }
            break;
        }
    }
}

/* The head is complete: returns 1 when it is the answer we want, else fails v. */
static int head_check(vg_probe_viewer_t *v)
{
    if (v->probe->url.kind == VG_PROBE_WS) {
        if (v->http_status != 101) {
            vg__probe_viewer_fail(v, VG_PROBE_ERR_HANDSHAKE, "HTTP %d instead of 101",
                                  v->http_status);
            return VG_EPROTO;
        }
        int want = HF_UPGRADE | HF_CONNECTION | HF_ACCEPT;
        if ((v->head_flags & want) != want) {
            vg__probe_viewer_fail(v, VG_PROBE_ERR_HANDSHAKE, "%s",
                                  !(v->head_flags & HF_ACCEPT)
                                      ? "missing or wrong Sec-WebSocket-Accept"
                                      : "missing Upgrade: websocket or Connection: upgrade");
            return VG_EPROTO;
        }
        return 1;
    }
    if (v->http_status != 200) {
        vg__probe_viewer_fail(v, VG_PROBE_ERR_HANDSHAKE, "HTTP %d instead of 200",
                              v->http_status);
        return VG_EPROTO;
    }
    if (!(v->head_flags & HF_MULTIPART)) {
        vg__probe_viewer_fail(v, VG_PROBE_ERR_HANDSHAKE,
                              "not multipart/x-mixed-replace with a boundary");
        return VG_EPROTO;
    }
    v->is_chunked = (v->head_flags & HF_CHUNKED) != 0;
    v->mp_state = MP_DELIM;
    v->ch_state = CH_SIZE;
    return 1;
}

/* Returns 1 when the head is complete and accepted (*used: its bytes), 0 when more bytes
 * are needed, or a negative code after failing v. */
static int head_feed(vg_probe_viewer_t *v, const uint8_t *p, size_t n, size_t *used_out)
{
    size_t off = 0;
    while (off < n) {
        const char *line;
        size_t len, used;
        int rc = line_take(&v->line, p + off, n - off, &used, &line, &len);
        if (rc >= 0)
            v->head_bytes += used;
        if (rc < 0 || v->head_bytes > VG_PROBE_HEAD_MAX) {
            vg__probe_viewer_fail(v, VG_PROBE_ERR_HANDSHAKE, "response head too long");
            return VG_EPROTO;
        }
        off += used;
        if (rc == 0)
            break;
        if (v->head_state == HEAD_STATUS) {
            uint64_t code;
            /* "HTTP/1.1 101 Switching Protocols" */
            if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' ||
                !parse_u64(line + 9, 3, &code)) {
                vg__probe_viewer_fail(v, VG_PROBE_ERR_HANDSHAKE, "not an HTTP/1.x response");
                return VG_EPROTO;
            }
            v->http_status = (int)code;
            v->head_state = HEAD_FIELDS;
        } else if (len == 0) {
            *used_out = off;
            return head_check(v);
        } else {
            head_field(v, line, len);
        }
    }
    *used_out = off;
    return 0;
}

/* ---- payload copies ------------------------------------------------------------------ */

static void copy_append(vg_probe_viewer_t *v, const uint8_t *p, size_t n)
{
    if (vg__probe_buf_append(&v->copy, p, n, VG_PROBE_FRAME_MAX) < 0) {
        vg__probe_frame_abort(v);
        vg__probe_buf_free(&v->copy);
    }
}

/* A frame is over: hands the copy (if one was made) to the stats and drops it. Sampling is
 * bounded per second, so a buffer per sampled frame is cheap, while keeping every viewer's
 * largest copy would cost a frame's size per viewer. */
static void frame_done(vg_probe_viewer_t *v)
{
    bool is_copied = v->cur.is_sampled || v->cur.is_saved;
    vg__probe_frame_end(v, is_copied ? v->copy.data : NULL, v->copy.len);
    vg__probe_buf_free(&v->copy);
}

static void bad_frame(vg_probe_viewer_t *v, const char *why)
{
    if (vg__probe_count_error(v->probe, VG_PROBE_ERR_BAD_FRAME))
        fprintf(stderr, "probe: viewer %d: bad frame: %s (further ones are only counted)\n",
                v->id, why);
    if (v->cur.is_saved || v->cur.is_sampled)
        vg__probe_frame_abort(v);
    vg__probe_buf_free(&v->copy);
    v->is_bad_msg = true;
}

/* ---- WebSocket ----------------------------------------------------------------------- */

/* A protocol error: close with code (RFC 6455 section 7.4.1) and drop the connection. */
static int ws_error(vg_probe_viewer_t *v, int code, const char *why)
{
    if (vg__probe_count_error(v->probe, VG_PROBE_ERR_PROTOCOL))
        fprintf(stderr, "probe: viewer %d: protocol: %s (further ones are only counted)\n",
                v->id, why);
    v->is_failed = true;
    ws_send_close(v, code, NULL);
    viewer_drain(v);
    return VG_EPROTO;
}

static void ws_msg_begin(vg_probe_viewer_t *v, uint8_t op)
{
    v->msg_op = op;
    v->msg_len = 0;
    v->vh_len = 0;
    v->vh_need = 2; /* version and header length first */
    v->is_bad_msg = false;
    memset(&v->cur, 0, sizeof(v->cur));
    vg__probe_buf_free(&v->copy);
}

static void ws_binary_data(vg_probe_viewer_t *v, const uint8_t *p, size_t n)
{
    while (n > 0 && !v->is_bad_msg) {
        if (v->vh_len < v->vh_need) {
            size_t take = v->vh_need - v->vh_len;
            if (take > n)
                take = n;
            memcpy(v->vh + v->vh_len, p, take);
            v->vh_len = (uint8_t)(v->vh_len + take);
            p += take;
            n -= take;
            if (v->vh_len < v->vh_need)
                return;
            if (v->vh_need == 2) {
                if (v->vh[0] != VG_WIRE_VERSION || v->vh[1] < VG_WIRE_HDR_LEN) {
                    bad_frame(v, "wrong version or header length");
                    return;
                }
                v->vh_need = v->vh[1];
                continue;
            }
            if (vg_wire_parse_header(v->vh, v->vh_len, &v->cur.meta) < 0) {
                bad_frame(v, "unparsable frame header");
                return;
            }
            v->cur.has_seq = v->cur.has_capture = v->cur.has_ingest = true;
            vg__probe_frame_begin(v);
            continue;
        }
        v->cur.payload_len += n;
        if (v->cur.is_sampled || v->cur.is_saved)
            copy_append(v, p, n);
        return;
    }
}

static void ws_msg_end(vg_probe_viewer_t *v)
{
    if (v->msg_op == WS_OP_TEXT) {
        vg__probe_text(v, v->is_bad_msg ? NULL : v->copy.data, v->copy.len);
    } else if (!v->is_bad_msg) {
        if (v->vh_len < v->vh_need || v->vh_need < VG_WIRE_HDR_LEN)
            bad_frame(v, "message shorter than its header");
        else
            frame_done(v);
    }
    vg__probe_buf_free(&v->copy);
    v->msg_op = 0;
}

static int ws_frame_end(vg_probe_viewer_t *v)
{
    v->ws_in_payload = false;
    switch (v->frame_op) {
    case WS_OP_PING:
        /* Section 5.5.2: answer with a pong carrying the same application data. */
        return ws_send(v, WS_OP_PONG, v->ctl, v->ctl_len);
    case WS_OP_PONG:
        return 0;
    case WS_OP_CLOSE: {
        int code = v->ctl_len >= 2 ? (v->ctl[0] << 8) | v->ctl[1] : 0;
        if (!v->is_finishing) {
            if (vg__probe_count_error(v->probe, VG_PROBE_ERR_CLOSED))
                fprintf(stderr,
                        "probe: viewer %d: closed: server sent close %d \"%.*s\" (further "
                        "closed errors are only counted)\n",
                        v->id, code, v->ctl_len > 2 ? v->ctl_len - 2 : 0, (char *)v->ctl + 2);
            v->is_failed = true;
        }
        /* Section 5.5.1: echo the status code, then wait for the server to close TCP. */
        ws_send_close(v, code, NULL);
        viewer_drain(v);
        return VG_ECLOSED;
    }
    default:
        if (v->frame_fin)
            ws_msg_end(v);
        return 0;
    }
}

static int ws_header_done(vg_probe_viewer_t *v)
{
    uint8_t b0 = v->wh[0], b1 = v->wh[1];
    uint64_t len = b1 & 0x7f;
    bool is_fin = (b0 & 0x80) != 0;
    uint8_t op = b0 & 0x0f;

    v->wh_len = 0;
    if (len == 126) {
        len = ((uint64_t)v->wh[2] << 8) | v->wh[3];
    } else if (len == 127) {
        len = 0;
        for (int i = 2; i < 10; i++)
            len = (len << 8) | v->wh[i];
        if (len >> 63)
            return ws_error(v, 1002, "64-bit length with the top bit set");
    }
    if (b0 & 0x70)
        return ws_error(v, 1002, "reserved bits set without an extension");
    if (b1 & 0x80) /* Section 5.1: a client must close on a masked frame. */
        return ws_error(v, 1002, "masked frame from the server");
    if (op >= 8) {
        if (op > WS_OP_PONG)
            return ws_error(v, 1002, "unknown control opcode");
        if (!is_fin || len > 125) /* Section 5.5 */
            return ws_error(v, 1002, "fragmented or long control frame");
        v->ctl_len = 0;
    } else {
        if (op > WS_OP_BINARY)
            return ws_error(v, 1002, "unknown data opcode");
        if (op == WS_OP_CONT && v->msg_op == 0)
            return ws_error(v, 1002, "continuation frame without a message");
        if (op != WS_OP_CONT && v->msg_op != 0) /* Section 5.4 */
            return ws_error(v, 1002, "new message inside a fragmented one");
        if (op != WS_OP_CONT)
            ws_msg_begin(v, op);
        if (v->msg_len + len > VG_PROBE_FRAME_MAX)
            return ws_error(v, 1009, "message larger than 16 MiB");
    }
    v->frame_op = op;
    v->frame_fin = is_fin;
    v->frame_left = len;
    v->ws_in_payload = true;
    return len == 0 ? ws_frame_end(v) : 0;
}

static void ws_feed(vg_probe_viewer_t *v, const uint8_t *p, size_t n)
{
    while (n > 0 && v->state == VG_PROBE_V_OPEN) {
        if (!v->ws_in_payload) {
            if (v->wh_len < 2) {
                v->wh[v->wh_len++] = *p++;
                n--;
                if (v->wh_len < 2)
                    continue;
                uint8_t l7 = v->wh[1] & 0x7f;
                v->wh_need = (uint8_t)(2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) +
                                       ((v->wh[1] & 0x80) ? 4 : 0));
            }
            size_t take = v->wh_need - v->wh_len;
            if (take > n)
                take = n;
            memcpy(v->wh + v->wh_len, p, take);
            v->wh_len = (uint8_t)(v->wh_len + take);
            p += take;
            n -= take;
            if (v->wh_len == v->wh_need && ws_header_done(v) < 0)
                return;
            continue;
        }
        size_t take = n < v->frame_left ? n : (size_t)v->frame_left;
        if (v->frame_op >= 8) {
            memcpy(v->ctl + v->ctl_len, p, take);
            v->ctl_len = (uint8_t)(v->ctl_len + take);
        } else {
            v->msg_len += take;
            if (v->msg_op == WS_OP_BINARY)
                ws_binary_data(v, p, take);
            else if (!v->is_bad_msg &&
                     vg__probe_buf_append(&v->copy, p, take, VG_PROBE_TEXT_MAX) < 0)
                v->is_bad_msg = true; /* too long to parse: counted, not parsed */
        }
        p += take;
        n -= take;
        v->frame_left -= take;
        if (v->frame_left == 0 && ws_frame_end(v) < 0)
            return;
    }
}

/* ---- MJPEG --------------------------------------------------------------------------- */

static int mp_error(vg_probe_viewer_t *v, const char *why)
{
    vg__probe_viewer_fail(v, VG_PROBE_ERR_PROTOCOL, "%s", why);
    return VG_EPROTO;
}

/* "--boundary" starts a part, "--boundary--" ends the stream (RFC 2046 section 5.1.1). Some
 * servers put the dashes into the boundary parameter itself, so the bare form counts too. */
static int mp_delimiter(const vg_probe_viewer_t *v, const char *line, size_t len)
{
    size_t bl = strlen(v->boundary);
    const char *b = line;
    if (len >= 2 + bl && b[0] == '-' && b[1] == '-' && memcmp(b + 2, v->boundary, bl) == 0) {
        b += 2 + bl;
        len -= 2 + bl;
    } else if (len >= bl && memcmp(b, v->boundary, bl) == 0) {
        b += bl;
        len -= bl;
    } else {
        return 0;
    }
    while (len > 0 && (b[len - 1] == ' ' || b[len - 1] == '\t'))
        len--;
    if (len == 0)
        return 1;
    return len == 2 && b[0] == '-' && b[1] == '-' ? 2 : 0;
}

static int mp_part_field(vg_probe_viewer_t *v, const char *line, size_t len)
{
    const char *name, *val;
    size_t nl, vl;
    uint64_t x;
    if (!split_field(line, len, &name, &nl, &val, &vl))
        return 0;
    if (name_is(name, nl, "Content-Length")) {
        if (!parse_u64(val, vl, &x) || x > VG_PROBE_FRAME_MAX)
            return mp_error(v, "part Content-Length missing a number or over 16 MiB");
        v->cur.payload_len = (size_t)x;
        v->head_flags |= HF_PART_LEN;
    } else if (name_is(name, nl, "X-Vigil-Seq") && parse_u64(val, vl, &x)) {
        v->cur.meta.seq = (uint32_t)x;
        v->cur.has_seq = true;
    } else if (name_is(name, nl, "X-Vigil-Capture-Us") && parse_u64(val, vl, &x)) {
        v->cur.meta.capture_us = (int64_t)x;
        v->cur.has_capture = true;
    } else if (name_is(name, nl, "X-Vigil-Ingest-Us") && parse_u64(val, vl, &x)) {
        v->cur.meta.ingest_us = (int64_t)x;
        v->cur.has_ingest = true;
    }
    return 0;
}

static int mp_feed(vg_probe_viewer_t *v, const uint8_t *p, size_t n)
{
    while (n > 0 && v->state == VG_PROBE_V_OPEN) {
        if (v->mp_state == MP_BODY) {
            size_t take = n < v->body_left ? n : (size_t)v->body_left;
            if (v->cur.is_sampled || v->cur.is_saved)
                copy_append(v, p, take);
            p += take;
            n -= take;
            v->body_left -= take;
            if (v->body_left == 0) {
                frame_done(v);
                v->mp_state = MP_DELIM;
            }
            continue;
        }
        if (v->mp_state == MP_END)
            return 0; /* epilogue: ignored until the server closes */

        const char *line;
        size_t len, used;
        int rc = line_take(&v->line, p, n, &used, &line, &len);
        if (rc < 0)
            return mp_error(v, "multipart line too long");
        p += used;
        n -= used;
        v->part_head_bytes += used;
        if (v->part_head_bytes > PART_HEAD_MAX)
            return mp_error(v, "no part boundary or part headers too long");
        if (rc == 0)
            return 0;

        if (v->mp_state == MP_DELIM) {
            int d = len > 0 ? mp_delimiter(v, line, len) : 0;
            if (d == 2) {
                v->mp_state = MP_END;
                vg__probe_viewer_fail(v, VG_PROBE_ERR_CLOSED, "server ended the stream");
                return VG_ECLOSED;
            }
            if (d == 1) {
                memset(&v->cur, 0, sizeof(v->cur));
                v->cur.meta.codec = VG_CODEC_JPEG;
                v->cur.meta.tier = -1;
                v->head_flags &= (uint8_t)~HF_PART_LEN;
                v->mp_state = MP_HEADERS;
                v->part_head_bytes = 0;
            }
            continue; /* empty lines, the preamble */
        }
        if (len > 0) {
            if (mp_part_field(v, line, len) < 0)
                return VG_EPROTO;
            continue;
        }
        if (!(v->head_flags & HF_PART_LEN))
            return mp_error(v, "part without Content-Length");
        v->part_head_bytes = 0;
        v->body_left = v->cur.payload_len;
        vg__probe_frame_begin(v);
        v->mp_state = MP_BODY;
        if (v->body_left == 0) {
            frame_done(v);
            v->mp_state = MP_DELIM;
        }
    }
    return 0;
}

/* RFC 9112 section 7.1: chunk-size [ext] CRLF data CRLF ... 0 CRLF trailers CRLF. */
static void chunk_feed(vg_probe_viewer_t *v, const uint8_t *p, size_t n)
{
    while (n > 0 && v->state == VG_PROBE_V_OPEN) {
        if (v->ch_state == CH_DATA) {
            size_t take = n < v->ch_left ? n : (size_t)v->ch_left;
            if (mp_feed(v, p, take) < 0)
                return;
            p += take;
            n -= take;
            v->ch_left -= take;
            if (v->ch_left == 0)
                v->ch_state = CH_DATA_END;
            continue;
        }
        if (v->ch_state == CH_END)
            return;
        const char *line;
        size_t len, used;
        int rc = line_take(&v->ch_line, p, n, &used, &line, &len);
        if (rc < 0) {
            mp_error(v, "chunk line too long");
            return;
        }
        p += used;
        n -= used;
        if (rc == 0)
            return;
        if (v->ch_state == CH_DATA_END) {
            if (len != 0) {
                mp_error(v, "no CRLF after chunk data");
                return;
            }
            v->ch_state = CH_SIZE;
        } else if (v->ch_state == CH_TRAILER) {
            if (len == 0) {
                v->ch_state = CH_END;
                vg__probe_viewer_fail(v, VG_PROBE_ERR_CLOSED, "server ended the stream");
                return;
            }
        } else {
            uint64_t size = 0;
            size_t i = 0;
            for (; i < len && i < 15; i++) {
                char c = line[i];
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (d < 0)
                    break;
                size = size * 16 + (uint64_t)d;
            }
            if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
                mp_error(v, "bad chunk size");
                return;
            }
            v->ch_left = size;
            v->ch_state = size == 0 ? CH_TRAILER : CH_DATA;
        }
    }
}

/* ---- libuv callbacks ----------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    vg_probe_viewer_t *v = h->data;
    (void)hint;
    *buf = uv_buf_init((char *)v->probe->rx_buf, (unsigned)v->probe->rx_cap);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    vg_probe_viewer_t *v = s->data;
    vg_probe_t *p = v->probe;

    if (nread == 0)
        return;
    if (nread < 0) {
        if (v->state == VG_PROBE_V_DRAINING || v->is_finishing)
            vg__probe_viewer_close(v);
        else if (v->state == VG_PROBE_V_HANDSHAKE)
            vg__probe_viewer_fail(v, VG_PROBE_ERR_HANDSHAKE, "no response: %s",
                                  nread == UV_EOF ? "connection closed" : uv_strerror((int)nread));
        else
            vg__probe_viewer_fail(v, VG_PROBE_ERR_CLOSED, "%s",
                                  nread == UV_EOF ? "server closed the connection"
                                                  : uv_strerror((int)nread));
        return;
    }
    if (v->state != VG_PROBE_V_HANDSHAKE && v->state != VG_PROBE_V_OPEN)
        return; /* draining: the rest is discarded */

    p->now_wall_us = vg_wall_us();
    p->now_mono_us = vg_mono_us();
    v->bytes_total += (uint64_t)nread;
    if (vg__probe_in_window(p, p->now_mono_us))
        v->bytes_win += (uint64_t)nread;

    const uint8_t *d = (const uint8_t *)buf->base;
    size_t n = (size_t)nread;
    if (v->state == VG_PROBE_V_HANDSHAKE) {
        size_t used = 0;
        if (head_feed(v, d, n, &used) <= 0)
            return;
        v->state = VG_PROBE_V_OPEN;
        v->is_ever_open = true;
        if (p->url.kind == VG_PROBE_WS) { /* only MJPEG reads lines after the head */
            free(v->line.buf);
            v->line = (vg_probe_line_t){0};
        }
        d += used;
        n -= used;
    }
    if (n == 0)
        return;
    if (p->url.kind == VG_PROBE_WS)
        ws_feed(v, d, n);
    else if (v->is_chunked)
        chunk_feed(v, d, n);
    else
        mp_feed(v, d, n);
}

static int send_request(vg_probe_viewer_t *v)
{
    const vg_probe_url_t *u = &v->probe->url;
    const char *target = v->probe->targets[v->id % v->probe->opts.url_count];
    char req[sizeof(u->target) + sizeof(u->host_header) + 512];
    int n;

    if (u->kind == VG_PROBE_WS) {
        /* Section 4.1: a random 16-byte nonce, base64 (24 characters). */
        unsigned char nonce[16];
        if (RAND_bytes(nonce, sizeof(nonce)) != 1)
            return VG_ECODEC;
        EVP_EncodeBlock((unsigned char *)v->ws_key, nonce, sizeof(nonce));
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vigil-probe\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     target, u->host_header, v->ws_key);
    } else {
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vigil-probe\r\n"
                     "Accept: multipart/x-mixed-replace, */*\r\n\r\n",
                     target, u->host_header);
    }
    if (n < 0 || (size_t)n >= sizeof(req))
        return VG_EINVAL;
    return viewer_write(v, req, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status)
{
    vg_probe_viewer_t *v = req->handle->data;
    if (status == UV_ECANCELED || v->state != VG_PROBE_V_CONNECTING)
        return;
    if (status < 0) {
        vg__probe_viewer_fail(v, VG_PROBE_ERR_CONNECT, "%s", uv_strerror(status));
        return;
    }
    v->state = VG_PROBE_V_HANDSHAKE;
    int rc = uv_read_start((uv_stream_t *)&v->tcp, on_alloc, on_read);
    if (rc < 0) {
        vg__probe_viewer_fail(v, VG_PROBE_ERR_CONNECT, "read: %s", uv_strerror(rc));
        return;
    }
    rc = send_request(v);
    if (rc < 0 && v->state == VG_PROBE_V_HANDSHAKE)
        vg__probe_viewer_fail(v, VG_PROBE_ERR_CONNECT, "request: %s", vg_strerror(rc));
}

void vg__probe_viewer_start(vg_probe_viewer_t *v)
{
    vg_probe_t *p = v->probe;
    int rc = uv_tcp_init_ex(p->loop, &v->tcp, p->addr.ss_family);
    if (rc < 0) {
        v->state = VG_PROBE_V_CLOSED; /* no handle to close */
        v->is_failed = true;
        if (vg__probe_count_error(p, VG_PROBE_ERR_CONNECT))
            fprintf(stderr, "probe: viewer %d: connect: socket: %s (further ones are only "
                            "counted)\n", v->id, uv_strerror(rc));
        return;
    }
    v->tcp.data = v;
    p->open_handles++;
    v->state = VG_PROBE_V_CONNECTING;
    v->deadline_mono_us = vg_mono_us() + (int64_t)(p->opts.timeout_s * 1e6);
    v->line.buf = vg_xmalloc(VG_PROBE_LINE_MAX);
    v->line.cap = VG_PROBE_LINE_MAX;
    v->ch_line.buf = v->ch_line_buf;
    v->ch_line.cap = sizeof(v->ch_line_buf);

    /* Our requests are small and latency matters more than packet count; the large receive
     * buffer must be set before connect, for the window scale is agreed in the SYN. */
    uv_tcp_nodelay(&v->tcp, 1);
    if (p->opts.rcvbuf_bytes > 0) {
        int size = p->opts.rcvbuf_bytes;
        uv_recv_buffer_size((uv_handle_t *)&v->tcp, &size);
    }
    rc = uv_tcp_connect(&v->connect_req, &v->tcp, (const struct sockaddr *)&p->addr, on_connect);
    if (rc < 0)
        vg__probe_viewer_fail(v, VG_PROBE_ERR_CONNECT, "%s", uv_strerror(rc));
}
