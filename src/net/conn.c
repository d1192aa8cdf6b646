/* conn: a connection (vg_conn_t), one HTTP request or one WebSocket: its accessors, the
 * request headers, and the responses, written from the WRITEABLE callback, headers first,
 * then the body (or the handler's stream), one lws_write per call. Loop thread only.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/server_int.h"

/* ---- connections ---- */

vg_conn_t *vg__conn_new(vg_server_t *s, struct lws *wsi)
{
    vg_conn_t *c = vg_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->wsi = wsi;
    c->next = s->conns;
    if (c->next)
        c->next->prev = c;
    s->conns = c;
    s->conn_count++;
    char *ip = c->peer_ip;
    lws_get_peer_simple(wsi, ip, sizeof(c->peer_ip));
    int port = 0;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                              : ((struct sockaddr_in *)&sa)->sin_port);
    snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    return c;
}

void vg__resp_reset(vg_conn_t *c)
{
    free(c->body_owned);
    c->body_owned = NULL;
    vg_frame_unref(&c->body_frame);
    for (int i = 0; i < c->body_frame_count; i++)
        vg_frame_unref(&c->body_frames[i]);
    free(c->body_frames);
    c->body_frames = NULL;
    c->body_frame_count = c->body_frame_next = 0;
    c->body = NULL;
    c->body_len = 0;
    c->resp = RESP_NONE;
}

void vg__conn_free(vg_conn_t *c)
{
    vg_server_t *s = c->srv;
    vg__static_detach(c);
    if (c->route && c->route->ops->on_close && !c->has_closed) {
        c->has_closed = true;
        c->route->ops->on_close(c);
    }
    vg__resp_reset(c);
    if (c->principal_free)
        c->principal_free(c->principal);
    for (int i = 0; i < MAX_EXTRA_HEADERS; i++) {
        free(c->extra_headers[i][0]);
        free(c->extra_headers[i][1]);
    }
    for (int i = 0; i < VG_ROUTE_MAX_PARAMS; i++)
        free(c->params[i]);
    free(c->rx);
    if (c->req_body) /* it may have held a password */
        explicit_bzero(c->req_body, c->req_body_len);
    free(c->req_body);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->conn_count--;
    free(c);
    if (s->is_shutting_down && s->conns == NULL)
        uv_timer_start(&s->grace_timer, vg__server_finish_shutdown, 0, 0); /* the last is gone */
}

vg_conn_t *vg__conn_of(struct lws *wsi)
{
    vg__sock_t *k = vg__sock_of(wsi);
    return k ? k->conn : NULL;
}

void vg__conn_attach(struct lws *wsi, vg_conn_t *c)
{
    vg__sock_t *k = vg__sock_of(wsi);
    VG_ASSERT(k != NULL && k->conn == NULL);
    k->conn = c;
}

void vg__conn_release(struct lws *wsi)
{
    vg__sock_t *k = vg__sock_of(wsi);
    if (k == NULL || k->conn == NULL)
        return;
    vg_conn_t *c = k->conn;
    k->conn = NULL; /* first: on_close may end in libwebsockets calling us again */
    vg__conn_free(c);
}

int vg_server_conn_count(const vg_server_t *s) { return s->conn_count; }

void vg_conn_set_data(vg_conn_t *c, void *data) { c->data = data; }
void *vg_conn_data(const vg_conn_t *c) { return c->data; }
struct lws *vg_conn_wsi(const vg_conn_t *c) { return c->wsi; }
vg_server_t *vg_conn_server(const vg_conn_t *c) { return c->srv; }
const char *vg_conn_peer(const vg_conn_t *c) { return c->peer; }
const char *vg_conn_peer_ip(const vg_conn_t *c) { return c->peer_ip; }
const char *vg_conn_method(const vg_conn_t *c) { return c->method; }
unsigned vg_conn_policy(const vg_conn_t *c) { return c->route ? c->route->policy : 0; }
bool vg_conn_is_tls(const vg_conn_t *c) { return lws_is_ssl(c->wsi) != 0; }
void *vg_conn_principal(const vg_conn_t *c) { return c->principal; }

const char *vg_conn_param(const vg_conn_t *c, int i)
{
    return i >= 0 && i < VG_ROUTE_MAX_PARAMS ? c->params[i] : NULL;
}

void vg_server_each_viewer(vg_server_t *s, void (*fn)(vg_conn_t *c, void *arg), void *arg)
{
    for (vg_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next; /* fn only marks c closing; it stays linked until lws closes it */
        if (c->route && !c->is_closing && (c->is_ws || c->resp == RESP_STREAMING))
            fn(c, arg);
    }
}

void vg_conn_set_principal(vg_conn_t *c, void *principal, void (*free_fn)(void *))
{
    if (c->principal_free)
        c->principal_free(c->principal);
    c->principal = principal;
    c->principal_free = free_fn;
}

int vg_conn_header(vg_conn_t *c, const char *name, char *buf, size_t len)
{
    static const struct {
        const char *name;
        enum lws_token_indexes tok;
    } known[] = {
        {"authorization", WSI_TOKEN_HTTP_AUTHORIZATION},
        {"origin", WSI_TOKEN_ORIGIN},
        {"host", WSI_TOKEN_HOST},
        {"cookie", WSI_TOKEN_HTTP_COOKIE},
        {"user-agent", WSI_TOKEN_HTTP_USER_AGENT},
        {"x-forwarded-for", WSI_TOKEN_X_FORWARDED_FOR},
    };
    int n = -1, total = -1;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(known[i].name, name) == 0) {
            total = lws_hdr_total_length(c->wsi, known[i].tok);
            if (total > 0 && (size_t)total < len)
                n = lws_hdr_copy(c->wsi, buf, (int)len, known[i].tok);
            goto done;
        }
    }
    char key[64];
    if (snprintf(key, sizeof(key), "%s:", name) >= (int)sizeof(key))
        return VG_EINVAL;
    total = lws_hdr_custom_length(c->wsi, key, (int)strlen(key));
    if (total > 0 && (size_t)total < len)
        n = lws_hdr_custom_copy(c->wsi, buf, (int)len, key, (int)strlen(key));
done:
    if (total <= 0)
        return VG_ENOENT;
    if (n < 0 || (size_t)total >= len)
        return VG_EINVAL;
    return n;
}

int vg_conn_cookie(vg_conn_t *c, const char *name, char *buf, size_t len)
{
    size_t max = len;
    if (lws_hdr_total_length(c->wsi, WSI_TOKEN_HTTP_COOKIE) <= 0)
        return VG_ENOENT;
    if (lws_http_cookie_get(c->wsi, name, buf, &max) != 0)
        return VG_ENOENT;
    return (int)max;
}

void vg_conn_add_header(vg_conn_t *c, const char *name, const char *value)
{
    for (int i = 0; i < MAX_EXTRA_HEADERS; i++) {
        if (c->extra_headers[i][0] == NULL) {
            char key[64];
            snprintf(key, sizeof(key), "%s:", name);
            c->extra_headers[i][0] = vg_xstrdup(key);
            c->extra_headers[i][1] = vg_xstrdup(value);
            return;
        }
    }
    VG_LOG_WARN("http", "peer=%s response header %s dropped: too many", c->peer, name);
}

void vg_conn_content_type(vg_conn_t *c, char *buf, size_t len)
{
    if (lws_hdr_copy(c->wsi, buf, (int)len, WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
        buf[0] = '\0';
}

const char *vg_conn_body(const vg_conn_t *c, size_t *len)
{
    *len = c->req_body ? c->req_body_len : 0;
    return c->req_body ? c->req_body : "";
}
json_t *vg_conn_body_json(vg_conn_t *c, bool may_be_empty)
{
    size_t len;
    const char *body = vg_conn_body(c, &len);
    if (len == 0 && may_be_empty)
        return json_object();
    char ctype[64] = "";
    vg_conn_content_type(c, ctype, sizeof(ctype));
    if (strncmp(ctype, "application/json", 16) != 0 || (ctype[16] && ctype[16] != ';')) {
        vg_conn_error(c, 415, "unsupported_media_type", "send the body as application/json");
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        vg_conn_error(c, 400, "bad_request", "the body must be a JSON object%s%s",
                      doc ? "" : ": ", doc ? "" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

bool vg_conn_is_closing(const vg_conn_t *c) { return c->is_closing; }
void vg_conn_want_write(vg_conn_t *c) { lws_callback_on_writable(c->wsi); }

int vg_conn_query(vg_conn_t *c, const char *name, char *buf, size_t len)
{
    size_t name_len = strlen(name);
    char frag[512];
    for (int i = 0; i < 32; i++) {
        int n = lws_hdr_copy_fragment(c->wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        if ((size_t)n > name_len && strncmp(frag, name, name_len) == 0 && frag[name_len] == '=') {
            /* libwebsockets has already URL-decoded the fragment. */
            if (!vg_strlcpy(buf, frag + name_len + 1, len))
                return VG_EINVAL;
            return (int)strlen(buf);
        }
    }
    return VG_ENOENT;
}

static int queue_response(vg_conn_t *c, int status, const char *ctype)
{
    if (c->resp != RESP_NONE)
        return VG_EINVAL;
    c->status = status;
    c->content_type = ctype;
    c->resp = RESP_HEADERS;
    lws_callback_on_writable(c->wsi);
    return 0;
}

int vg_conn_respond(vg_conn_t *c, int status, const char *content_type, const void *body,
                    size_t len)
{
    vg__resp_reset(c);
    c->body_owned = vg_xmalloc(LWS_PRE + len);
    memcpy(c->body_owned + LWS_PRE, body, len);
    c->body = c->body_owned + LWS_PRE;
    c->body_len = len;
    c->is_open_ended = false;
    return queue_response(c, status, content_type);
}

int vg_conn_respond_frame(vg_conn_t *c, int status, const char *content_type, vg_frame_t *f)
{
    vg__resp_reset(c);
    VG_ASSERT(f->headroom >= LWS_PRE);
    c->body_frame = vg_frame_ref(f);
    c->body = f->data;
    c->body_len = f->len;
    c->is_open_ended = false;
    return queue_response(c, status, content_type);
}

int vg_conn_respond_frames(vg_conn_t *c, int status, const char *content_type,
                           vg_frame_t *const *frames, int n)
{
    if (n <= 0)
        return vg_conn_respond(c, status, content_type, "", 0);
    vg__resp_reset(c);
    c->body_frames = vg_xcalloc((size_t)n, sizeof(*c->body_frames));
    for (int i = 0; i < n; i++) {
        VG_ASSERT(frames[i]->headroom >= LWS_PRE);
        c->body_frames[i] = vg_frame_ref(frames[i]);
        c->body_len += frames[i]->len;
    }
    c->body_frame_count = n;
    c->is_open_ended = false;
    return queue_response(c, status, content_type);
}

int vg_conn_respond_json(vg_conn_t *c, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(doc);
    if (text == NULL)
        return vg_conn_respond(c, 500, "application/json", "{}", 2);
    int rc = vg_conn_respond(c, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

int vg_conn_error(vg_conn_t *c, int status, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vg_conn_respond_json(
        c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

int vg_conn_stream_begin(vg_conn_t *c, int status, const char *content_type)
{
    vg__resp_reset(c);
    c->is_open_ended = true;
    return queue_response(c, status, content_type);
}

void vg_conn_close(vg_conn_t *c, int ws_status, const char *reason)
{
    if (c->is_closing)
        return;
    c->is_closing = true;
    c->close_status = (uint16_t)ws_status;
    vg_strlcpy(c->close_reason, reason, sizeof(c->close_reason));
    lws_callback_on_writable(c->wsi);
}


/* What LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE sent, written here
 * because its fixed policy falls back to default-src 'none' for media: Chromium then refuses
 * the MediaSource a dashboard <video> plays from a blob: URL ("Loading media from 'blob:…'
 * violates … default-src 'none'"), which is how hls.js plays LL-HLS (web/hlsplayer.js). */
int vg__add_security_headers(struct lws *wsi, uint8_t **p, uint8_t *end)
{
    static const char *const hdrs[][2] = {
        {"content-security-policy:",
         "default-src 'none'; img-src 'self' data: ; script-src 'self'; font-src 'self'; "
         "style-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; "
         "frame-ancestors 'none'; base-uri 'none';form-action 'self';"},
        {"x-content-type-options:", "nosniff"},
        {"x-xss-protection:", "1; mode=block"},
        {"x-frame-options:", "deny"},
        {"referrer-policy:", "no-referrer"},
    };
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)hdrs[i][0],
                                        (const unsigned char *)hdrs[i][1],
                                        (int)strlen(hdrs[i][1]), p, end))
            return -1;
    }
    return 0;
}

static int write_headers(vg_conn_t *c)
{
    uint8_t buf[LWS_PRE + HEADER_BUF];
    uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    lws_filepos_t len = c->is_open_ended ? LWS_ILLEGAL_HTTP_CONTENT_LEN : c->body_len;
    if (lws_add_http_common_headers(c->wsi, (unsigned)c->status, c->content_type, len, &p, end) ||
        vg__add_security_headers(c->wsi, &p, end))
        return -1;
    static const char *const extra[][2] = {
        {"cache-control:", "no-store"},
    };
    /* A handler that says how its answer may be cached (HLS parts) overrides no-store. */
    bool has_cache_control = false;
    for (int i = 0; i < MAX_EXTRA_HEADERS && c->extra_headers[i][0]; i++)
        has_cache_control |= strcmp(c->extra_headers[i][0], "cache-control:") == 0;
    for (size_t i = has_cache_control ? 1 : 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)extra[i][0],
                                        (const unsigned char *)extra[i][1],
                                        (int)strlen(extra[i][1]), &p, end))
            return -1;
    }
    /* RFC 6797: once a browser has seen vigil over TLS, it never tries plain HTTP again. */
    static const char hsts[] = "max-age=31536000";
    if (lws_is_ssl(c->wsi) &&
        lws_add_http_header_by_name(c->wsi, (const unsigned char *)"strict-transport-security:",
                                    (const unsigned char *)hsts, (int)sizeof(hsts) - 1, &p, end))
        return -1;
    for (int i = 0; i < MAX_EXTRA_HEADERS && c->extra_headers[i][0]; i++) {
        if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)c->extra_headers[i][0],
                                        (const unsigned char *)c->extra_headers[i][1],
                                        (int)strlen(c->extra_headers[i][1]), &p, end))
            return -1;
    }
    if (lws_finalize_write_http_header(c->wsi, start, &p, end))
        return -1;
    if (c->is_head) {
        vg__resp_reset(c);
        c->resp = RESP_DONE;
        return lws_http_transaction_completed(c->wsi) ? -1 : 0;
    }
    if (c->is_open_ended) {
        /* A live stream has no natural end: no idle time-out applies to it. */
        lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
        /* Nor does it need the request's header slot any more: libwebsockets 4.1 would keep
         * it until the stream ends, so 256 MJPEG viewers took every slot and every other
         * HTTP request waited (issue 12). The request headers and query are unreadable from
         * here on; handlers read what they need in on_request. */
        if (lws_http_headers_detach(c->wsi) < 0)
            return -1;
        vg__limit_unsent(c->wsi);
        c->resp = RESP_STREAMING;
    } else {
        c->resp = RESP_BODY;
    }
    lws_callback_on_writable(c->wsi);
    return 0;
}

int vg__http_writable(vg_conn_t *c)
{
    switch (c->resp) {
    case RESP_HEADERS:
        return write_headers(c);
    case RESP_BODY: {
        if (c->body_frames) {
            /* One frame per writable callback: libwebsockets buffers what the socket does not
             * take and calls back once it has. */
            vg_frame_t *f = c->body_frames[c->body_frame_next++];
            bool is_last = c->body_frame_next >= c->body_frame_count;
            if (f->len > 0 && lws_write(c->wsi, f->data, f->len,
                                        is_last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
                return -1;
            if (!is_last) {
                lws_callback_on_writable(c->wsi);
                return 0;
            }
            vg__resp_reset(c);
            c->resp = RESP_DONE;
            return lws_http_transaction_completed(c->wsi) ? -1 : 0;
        }
        c->resp = RESP_DONE;
        if (c->body_len > 0 &&
            lws_write(c->wsi, (unsigned char *)c->body, c->body_len, LWS_WRITE_HTTP_FINAL) < 0)
            return -1;
        vg__resp_reset(c);
        c->resp = RESP_DONE;
        return lws_http_transaction_completed(c->wsi) ? -1 : 0;
    }
    case RESP_STREAMING:
        if (c->is_closing)
            return -1;
        return c->route && c->route->ops->on_writable ? c->route->ops->on_writable(c) : 0;
    default:
        return 0;
    }
}
