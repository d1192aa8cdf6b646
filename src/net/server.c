/* server: see server.h.
 *
 * One libwebsockets protocol serves both HTTP and WebSocket, so that clients need no
 * subprotocol: HTTP requests are routed in LWS_CALLBACK_HTTP, upgrades in
 * LWS_CALLBACK_ESTABLISHED (the request headers are still readable there). Every response is
 * written from the WRITEABLE callback, headers first, then the body, one lws_write per call.
 *
 * Limits: request line + headers share max_http_header_data (8 KiB; more closes the
 * connection), client WebSocket messages are at most 4 KiB of text, request bodies only on
 * routes that declare a max_body, with a Content-Length. Idle HTTP connections time out
 * after 30 s.
 */
#include "net/server.h"

#include <errno.h>
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/static.h"

#define MAX_ROUTES 64
#define MAX_PATH 512
#define WS_RX_MAX 4096
#define HEADER_BUF 2048
/* Larger than any frame, so libwebsockets hands each frame to send() whole (PERFORMANCE.md:
 * with the default, large frames go out in rx_buffer_size pieces at seven times the cost). */
#define TX_PACKET_SIZE (16 * 1024 * 1024)

typedef struct route {
    char method[8];
    char pattern[128];
    unsigned access;
    const vg_handler_ops_t *ops;
    void *user;
} route_t;

struct vg_server {
    vg_server_cfg_t cfg;
    char *host, *web_root;
    struct lws_context *ctx;
    bool is_ctx_destroying; /* the first of the two lws_context_destroy() calls was made */
    struct lws_vhost *vhost;
    int port;
    route_t routes[MAX_ROUTES];
    int route_count;
    vg_conn_t *conns; /* every live connection, for shutdown */
    bool is_shutting_down;
    uv_timer_t grace_timer;
    void (*shutdown_done)(void *);
    void *shutdown_arg;
    vg_gate_cb gate;
    void *gate_user;
    char *tls_cert, *tls_key;
};

#define MAX_EXTRA_HEADERS 4

typedef enum resp_state {
    RESP_NONE,
    RESP_HEADERS,   /* headers queued */
    RESP_BODY,      /* headers sent, body queued */
    RESP_STREAMING, /* headers sent, handler writes */
    RESP_DONE,
} resp_state_t;

struct vg_conn {
    vg_server_t *srv;
    struct lws *wsi;
    const route_t *route;
    const route_t *ws_route; /* an upgrade between filter_upgrade and handle_ws_open */
    void *data;
    bool is_ws, is_closing, has_closed, close_sent;
    bool is_head; /* HEAD: routed as GET, answered with the headers only (RFC 9110 9.3.2) */
    uint16_t close_status;
    char close_reason[64];
    char path[MAX_PATH];
    char *params[VG_ROUTE_MAX_PARAMS];
    char peer[64], peer_ip[48];
    char method[8];
    void *principal;
    void (*principal_free)(void *);
    char *extra_headers[MAX_EXTRA_HEADERS][2];
    /* response */
    resp_state_t resp;
    int status;
    const char *content_type;
    uint8_t *body_owned; /* LWS_PRE + len bytes */
    vg_frame_t *body_frame;
    const uint8_t *body;
    size_t body_len;
    bool is_open_ended;
    /* request body (routes with max_body) */
    char *req_body;
    size_t req_body_len, req_body_want;
    bool is_awaiting_body;
    /* Refused before its body was read: the body is read and dropped first, and the refusal
     * sent when it is all in (libwebsockets 4.1 spins in its rx-flow service when a response
     * completes with request body bytes still buffered). */
    bool is_discarding_body;
    size_t discard_left;
    vg_gate_verdict_t discard_verdict;
    /* WebSocket receive */
    char *rx;
    size_t rx_len;
    bool rx_is_binary;
    vg_conn_t *prev, *next;
};

typedef struct pss {
    vg_conn_t *conn;
} pss_t;

static void finish_shutdown(uv_timer_t *t);

/* Bytes a viewer's socket may hold unsent before it stops reporting writable. Without it the
 * kernel grows the send buffer to megabytes for a slow reader, and "one frame in flight"
 * becomes twenty frames queued in the kernel: seconds of delay instead of dropped frames
 * (measured: 2 s at 1.5 MB/s, see docs/benchmarks.md). With it, a frame is handed to the
 * kernel only once the previous one has nearly left, and the newest pending frame wins. */
#define VIEWER_NOTSENT_LOWAT (16 * 1024)

static void limit_unsent(struct lws *wsi)
{
    int lowat = VIEWER_NOTSENT_LOWAT;
    setsockopt(lws_get_socket_fd(wsi), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
}

/* ---- connections ---- */

static vg_conn_t *conn_new(vg_server_t *s, struct lws *wsi)
{
    vg_conn_t *c = vg_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->wsi = wsi;
    c->next = s->conns;
    if (c->next)
        c->next->prev = c;
    s->conns = c;
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

static void resp_reset(vg_conn_t *c)
{
    free(c->body_owned);
    c->body_owned = NULL;
    vg_frame_unref(&c->body_frame);
    c->body = NULL;
    c->body_len = 0;
    c->resp = RESP_NONE;
}

static void conn_free(vg_conn_t *c)
{
    vg_server_t *s = c->srv;
    if (c->route && c->route->ops->on_close && !c->has_closed) {
        c->has_closed = true;
        c->route->ops->on_close(c);
    }
    resp_reset(c);
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
    free(c);
    if (s->is_shutting_down && s->conns == NULL)
        uv_timer_start(&s->grace_timer, finish_shutdown, 0, 0); /* the last one is gone */
}

void vg_conn_set_data(vg_conn_t *c, void *data) { c->data = data; }
void *vg_conn_data(const vg_conn_t *c) { return c->data; }
struct lws *vg_conn_wsi(const vg_conn_t *c) { return c->wsi; }
vg_server_t *vg_conn_server(const vg_conn_t *c) { return c->srv; }
const char *vg_conn_peer(const vg_conn_t *c) { return c->peer; }
const char *vg_conn_peer_ip(const vg_conn_t *c) { return c->peer_ip; }
const char *vg_conn_method(const vg_conn_t *c) { return c->method; }
unsigned vg_conn_access(const vg_conn_t *c) { return c->route ? c->route->access : 0; }
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
    resp_reset(c);
    c->body_owned = vg_xmalloc(LWS_PRE + len);
    memcpy(c->body_owned + LWS_PRE, body, len);
    c->body = c->body_owned + LWS_PRE;
    c->body_len = len;
    c->is_open_ended = false;
    return queue_response(c, status, content_type);
}

int vg_conn_respond_frame(vg_conn_t *c, int status, const char *content_type, vg_frame_t *f)
{
    resp_reset(c);
    VG_ASSERT(f->headroom >= LWS_PRE);
    c->body_frame = vg_frame_ref(f);
    c->body = f->data;
    c->body_len = f->len;
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
    resp_reset(c);
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

/* ---- routing ---- */

void vg_server_route(vg_server_t *s, const char *method, const char *pattern, unsigned access,
                     const vg_handler_ops_t *ops, void *user)
{
    VG_ASSERT(s->route_count < MAX_ROUTES);
    route_t *r = &s->routes[s->route_count++];
    vg_strlcpy(r->method, method, sizeof(r->method));
    vg_strlcpy(r->pattern, pattern, sizeof(r->pattern));
    r->access = access;
    r->ops = ops;
    r->user = user;
}

void vg_server_each_route(const vg_server_t *s,
                          void (*fn)(const char *method, const char *pattern, unsigned access,
                                     void *arg),
                          void *arg)
{
    for (int i = 0; i < s->route_count; i++)
        fn(s->routes[i].method, s->routes[i].pattern, s->routes[i].access, arg);
}

void vg_server_set_gate(vg_server_t *s, vg_gate_cb gate, void *user)
{
    s->gate = gate;
    s->gate_user = user;
}

/* Asks the gate about c on route r; 0 to go on, or the verdict's status. */
static int pass_gate(vg_conn_t *c, const route_t *r, bool is_upgrade, vg_gate_verdict_t *v)
{
    memset(v, 0, sizeof(*v));
    if (c->srv->gate == NULL)
        return 0;
    c->route = r;
    c->srv->gate(c, r->access, (const char *const *)c->params, is_upgrade, v,
                 c->srv->gate_user);
    return v->status;
}

static int refuse(vg_conn_t *c, const vg_gate_verdict_t *v)
{
    if (v->www_authenticate)
        vg_conn_add_header(c, "www-authenticate", v->www_authenticate);
    if (v->retry_after_s > 0) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%d", v->retry_after_s);
        vg_conn_add_header(c, "retry-after", secs);
    }
    c->route = NULL; /* no handler saw it: none gets on_close */
    return vg_conn_error(c, v->status, v->code ? v->code : "forbidden", "%s", v->message);
}

/* Matches path against pattern, capturing "{}" segments into params (allocated). */
static bool route_match(const char *pattern, const char *path, char **params)
{
    int np = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(u, '/');
            size_t n = end ? (size_t)(end - u) : strlen(u);
            if (n == 0 || np == VG_ROUTE_MAX_PARAMS)
                goto no;
            params[np] = vg_xmalloc(n + 1);
            memcpy(params[np], u, n);
            params[np][n] = '\0';
            np++;
            u += n;
            p += 2;
        } else if (*p++ != *u++) {
            goto no;
        }
    }
    if (*p == '\0' && *u == '\0')
        return true;
no:
    for (int i = 0; i < np; i++) {
        free(params[i]);
        params[i] = NULL;
    }
    return false;
}

static const char *request_method(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
    } methods[] = {
        {WSI_TOKEN_GET_URI, "GET"},         {WSI_TOKEN_POST_URI, "POST"},
        {WSI_TOKEN_PUT_URI, "PUT"},         {WSI_TOKEN_DELETE_URI, "DELETE"},
        {WSI_TOKEN_PATCH_URI, "PATCH"},     {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
        {WSI_TOKEN_HEAD_URI, "HEAD"},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
            return methods[i].name;
    }
    return "?";
}

/* Finds the route for path; *method_mismatch tells 405 from 404. */
static const route_t *find_route(vg_server_t *s, const char *method, const char *path,
                                 char **params, bool *method_mismatch)
{
    *method_mismatch = false;
    for (int i = 0; i < s->route_count; i++) {
        const route_t *r = &s->routes[i];
        if (!route_match(r->pattern, path, params))
            continue;
        if (strcmp(r->method, method) == 0)
            return r;
        *method_mismatch = true;
        for (int k = 0; k < VG_ROUTE_MAX_PARAMS; k++) {
            free(params[k]);
            params[k] = NULL;
        }
    }
    return NULL;
}

static int serve_static(vg_conn_t *c, const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    if (c->srv->web_root) {
        if (strstr(path, "..") != NULL)
            return vg_conn_error(c, 404, "not_found", "no such file");
        char file[1024];
        snprintf(file, sizeof(file), "%s%s", c->srv->web_root, path);
        FILE *fp = fopen(file, "rb");
        struct stat st;
        if (fp == NULL || fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) ||
            st.st_size > 16 * 1024 * 1024) {
            if (fp)
                fclose(fp);
            return vg_conn_error(c, 404, "not_found", "no such file");
        }
        char *buf = vg_xmalloc((size_t)st.st_size + 1);
        size_t n = fread(buf, 1, (size_t)st.st_size, fp);
        fclose(fp);
        int rc = vg_conn_respond(c, 200, vg_static_content_type(path), buf, n);
        free(buf);
        return rc;
    }
    for (size_t i = 0; i < vg_web_asset_count; i++) {
        if (strcmp(vg_web_assets[i].path, path) == 0)
            return vg_conn_respond(c, 200, vg_web_assets[i].content_type,
                                   vg_web_assets[i].data, vg_web_assets[i].len);
    }
    return vg_conn_error(c, 404, "not_found", "no such file");
}

const char *vg_static_content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".png") == 0)
        return "image/png";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

static int expect_body(vg_conn_t *c);

#define DISCARD_MAX (1024 * 1024)

/* The request's Content-Length (0 when absent or not a number). */
static long long content_length(vg_conn_t *c)
{
    char len_text[24] = "";
    long long n = 0;
    if (lws_hdr_copy(c->wsi, len_text, sizeof(len_text), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
        vg_parse_int(len_text, 0, 1LL << 40, &n) < 0)
        return 0;
    return n;
}

static bool has_body(vg_conn_t *c) { return content_length(c) > 0; }

/* Every answer given before the request's body is read goes through here: with a body
 * (up to DISCARD_MAX) it waits until the body has been read and dropped. Under load,
 * answering first left the loop spinning in libwebsockets 4.1's rx-flow service
 * (lws_service_do_ripe_rxflow) and the server hung. */
static int refuse_after_body(vg_conn_t *c, const vg_gate_verdict_t *v)
{
    long long n = content_length(c);
    if (n > 0 && n <= DISCARD_MAX) {
        c->route = NULL;
        c->is_discarding_body = true;
        c->discard_left = (size_t)n;
        c->discard_verdict = *v;
        return 0;
    }
    return refuse(c, v);
}

__attribute__((format(printf, 4, 5))) static int answer_early(vg_conn_t *c, int status,
                                                              const char *code,
                                                              const char *fmt, ...)
{
    vg_gate_verdict_t v = {.status = status, .code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v.message, sizeof(v.message), fmt, ap);
    va_end(ap);
    return refuse_after_body(c, &v);
}

static int handle_http(vg_server_t *s, struct lws *wsi, pss_t *pss, const char *uri)
{
    if (pss->conn) /* keep-alive: the previous request on this socket is finished */
        conn_free(pss->conn);
    vg_conn_t *c = pss->conn = conn_new(s, wsi);
    vg_strlcpy(c->path, uri, sizeof(c->path));
    const char *method = request_method(wsi);
    VG_LOG_DEBUG("http", "peer=%s %s %s", c->peer, method, c->path);
    if (strcmp(method, "HEAD") == 0) {
        c->is_head = true;
        method = "GET";
    }
    vg_strlcpy(c->method, method, sizeof(c->method));
    if (s->is_shutting_down)
        return answer_early(c, 503, "unavailable", "server is shutting down");
    bool mismatch;
    const route_t *r = find_route(s, method, c->path, c->params, &mismatch);
    if (r == NULL && strcmp(method, "GET") == 0 && strncmp(c->path, "/api/", 5) != 0 &&
        strncmp(c->path, "/cameras/", 9) != 0)
        return serve_static(c, c->path);
    if (r == NULL && mismatch)
        return answer_early(c, 405, "method_not_allowed", "%s is not allowed on %s", method,
                            c->path);
    if (r == NULL)
        return answer_early(c, 404, "not_found", "no route for %s", c->path);
    vg_gate_verdict_t verdict; /* who asks comes before what they asked wrong */
    if (pass_gate(c, r, false, &verdict) != 0)
        return refuse_after_body(c, &verdict);
    c->route = NULL; /* until its handler sees the request: no on_close before that */
    if (r->ops->on_request == NULL)
        return answer_early(c, 426, "upgrade_required",
                            "%s is a WebSocket endpoint: send an Upgrade request", c->path);
    if (r->ops->max_body == 0 && has_body(c))
        return answer_early(c, 413, "too_large", "request bodies are not accepted here");
    c->route = r;
    if (r->ops->max_body > 0)
        return expect_body(c);
    return r->ops->on_request(c, (const char *const *)c->params, r->user) < 0 ? -1 : 0;
}

static int run_request(vg_conn_t *c)
{
    const route_t *r = c->route;
    return r->ops->on_request(c, (const char *const *)c->params, r->user) < 0 ? -1 : 0;
}

/* A route that takes a body: the request runs once the whole body is in (lws delivers it in
 * HTTP_BODY pieces and then HTTP_BODY_COMPLETION), or at once when there is none. */
static int expect_body(vg_conn_t *c)
{
    char len_text[24] = "";
    size_t max = c->route->ops->max_body;
    if (lws_hdr_copy(c->wsi, len_text, sizeof(len_text), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
        if (lws_hdr_total_length(c->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
            return vg_conn_error(c, 411, "length_required",
                                 "send the body with a Content-Length (at most %zu bytes)", max);
        return run_request(c); /* no body */
    }
    long long n;
    if (vg_parse_int(len_text, 0, 1LL << 40, &n) < 0)
        return vg_conn_error(c, 400, "bad_request", "Content-Length is not a number");
    if ((size_t)n > max) {
        c->route = NULL;
        return answer_early(c, 413, "too_large", "request bodies here are at most %zu bytes",
                            max);
    }
    if (n == 0)
        return run_request(c);
    c->req_body = vg_xmalloc((size_t)n + 1);
    c->req_body[0] = '\0';
    c->req_body_want = (size_t)n;
    c->is_awaiting_body = true;
    return 0;
}

static int receive_body(vg_conn_t *c, const void *in, size_t len)
{
    if (c->is_discarding_body) {
        c->discard_left -= len < c->discard_left ? len : c->discard_left;
        return 0;
    }
    if (!c->is_awaiting_body) /* a body without a Content-Length where none is taken */
        return c->resp == RESP_NONE
                   ? vg_conn_error(c, 413, "too_large", "request bodies are not accepted here")
                   : 0;
    if (len > c->req_body_want - c->req_body_len) {
        c->is_awaiting_body = false;
        return vg_conn_error(c, 400, "bad_request", "body longer than its Content-Length");
    }
    memcpy(c->req_body + c->req_body_len, in, len);
    c->req_body_len += len;
    c->req_body[c->req_body_len] = '\0';
    return 0;
}

static int body_complete(vg_conn_t *c)
{
    if (c->is_discarding_body) {
        c->is_discarding_body = false;
        return refuse(c, &c->discard_verdict);
    }
    if (!c->is_awaiting_body)
        return 0;
    c->is_awaiting_body = false;
    return run_request(c);
}

static int handle_ws_open(vg_server_t *s, struct lws *wsi, pss_t *pss)
{
    if (pss->conn)
        conn_free(pss->conn);
    vg_conn_t *c = pss->conn = lws_get_opaque_user_data(wsi); /* from filter_upgrade */
    lws_set_opaque_user_data(wsi, NULL);
    if (c == NULL || s->is_shutting_down) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)"shutting down", 13);
        return -1;
    }
    c->is_ws = true;
    const route_t *r = c->route = c->ws_route;
    limit_unsent(wsi);
    VG_LOG_DEBUG("http", "peer=%s WebSocket %s", c->peer, c->path);
    return r->ops->on_ws_open(c, (const char *const *)c->params, r->user) < 0 ? -1 : 0;
}

/* Answers a refused WebSocket upgrade with an HTTP status and a JSON error, written at once
 * (libwebsockets gives no later chance: the connection closes when the filter says no). */
static void refuse_upgrade(struct lws *wsi, const vg_gate_verdict_t *v)
{
    json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", v->code ? v->code : "forbidden",
                            "message", v->message);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    int blen = body ? (int)strlen(body) : 0;
    uint8_t buf[LWS_PRE + 1024];
    uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)v->status, "application/json",
                                    (lws_filepos_t)blen, &p, end) ||
        (v->www_authenticate &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                     (const unsigned char *)v->www_authenticate,
                                     (int)strlen(v->www_authenticate), &p, end)) ||
        lws_finalize_http_header(wsi, &p, end) || end - p < blen) {
        free(body);
        return;
    }
    memcpy(p, body, (size_t)blen);
    p += blen;
    free(body);
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
}

/* Routes a WebSocket upgrade and asks the gate, before libwebsockets accepts it: refused
 * upgrades get an HTTP status (401, 404, 403) as plain requests do, not an accepted socket
 * that closes at once. The connection made here, with its caller, waits on the wsi for
 * handle_ws_open (or is freed with the wsi). */
static int filter_upgrade(vg_server_t *s, struct lws *wsi)
{
    vg_conn_t *c = conn_new(s, wsi);
    bool mismatch;
    const route_t *r = NULL;
    if (lws_hdr_copy(wsi, c->path, sizeof(c->path), WSI_TOKEN_GET_URI) > 0)
        r = find_route(s, "GET", c->path, c->params, &mismatch);
    if (r == NULL || r->ops->on_ws_open == NULL || s->is_shutting_down) {
        VG_LOG_DEBUG("http", "peer=%s WebSocket upgrade refused for %s", c->peer, c->path);
        vg_gate_verdict_t v = {.status = s->is_shutting_down ? 503 : 404,
                               .code = s->is_shutting_down ? "unavailable" : "not_found"};
        snprintf(v.message, sizeof(v.message), "no WebSocket endpoint at %.100s", c->path);
        refuse_upgrade(wsi, &v);
        conn_free(c);
        return 1;
    }
    vg_strlcpy(c->method, "GET", sizeof(c->method));
    vg_gate_verdict_t v;
    if (pass_gate(c, r, true, &v) != 0) {
        VG_LOG_DEBUG("http", "peer=%s WebSocket upgrade for %s refused: %d %s", c->peer,
                     c->path, v.status, v.message);
        refuse_upgrade(wsi, &v);
        c->route = NULL;
        conn_free(c);
        return 1;
    }
    c->ws_route = r;
    c->route = NULL; /* its handler has not seen it yet */
    lws_set_opaque_user_data(wsi, c);
    return 0;
}

/* An upgrade that passed filter_upgrade but never opened: its connection goes with it. */
static void drop_pending_upgrade(struct lws *wsi)
{
    vg_conn_t *c = lws_get_opaque_user_data(wsi);
    if (c == NULL)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    conn_free(c);
}

static int write_headers(vg_conn_t *c)
{
    uint8_t buf[LWS_PRE + HEADER_BUF];
    uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    lws_filepos_t len = c->is_open_ended ? LWS_ILLEGAL_HTTP_CONTENT_LEN : c->body_len;
    if (lws_add_http_common_headers(c->wsi, (unsigned)c->status, c->content_type, len, &p, end))
        return -1;
    /* x-content-type-options and friends come from
     * LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE. */
    static const char *const extra[][2] = {
        {"cache-control:", "no-store"},
    };
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
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
        resp_reset(c);
        c->resp = RESP_DONE;
        return lws_http_transaction_completed(c->wsi) ? -1 : 0;
    }
    if (c->is_open_ended) {
        /* A live stream has no natural end: no idle time-out applies to it. */
        lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
        limit_unsent(c->wsi);
        c->resp = RESP_STREAMING;
    } else {
        c->resp = RESP_BODY;
    }
    lws_callback_on_writable(c->wsi);
    return 0;
}

static int http_writable(vg_conn_t *c)
{
    switch (c->resp) {
    case RESP_HEADERS:
        return write_headers(c);
    case RESP_BODY: {
        c->resp = RESP_DONE;
        if (c->body_len > 0 &&
            lws_write(c->wsi, (unsigned char *)c->body, c->body_len, LWS_WRITE_HTTP_FINAL) < 0)
            return -1;
        resp_reset(c);
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

static int ws_receive(vg_conn_t *c, const void *in, size_t len)
{
    struct lws *wsi = c->wsi;
    if (lws_is_first_fragment(wsi)) {
        c->rx_len = 0;
        c->rx_is_binary = lws_frame_is_binary(wsi);
    }
    if (c->rx_is_binary) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                         (unsigned char *)"binary messages are not accepted", 32);
        return -1;
    }
    if (c->rx_len + len + lws_remaining_packet_payload(wsi) > WS_RX_MAX) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                         (unsigned char *)"control messages are at most 4096 bytes", 39);
        return -1;
    }
    if (c->rx == NULL)
        c->rx = vg_xmalloc(WS_RX_MAX + 1);
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    c->rx[c->rx_len] = '\0';
    size_t n = c->rx_len;
    c->rx_len = 0;
    if (c->route->ops->on_ws_message)
        return c->route->ops->on_ws_message(c, c->rx, n);
    return 0;
}

/* libwebsockets 4.1's own opcode for close frames (LWS_WRITE_CLOSE in its private headers;
 * lws-write.h reserves the value). */
#define WRITE_CLOSE ((enum lws_write_protocol)4)

/* Sends the close frame vg_conn_close() asked for, then waits (at most 2 s) for the peer's
 * reply, as RFC 6455 section 7.1.2 asks. We write the frame ourselves because libwebsockets
 * 4.1 drops the socket without one when a WRITEABLE callback returns -1 after
 * lws_close_reason(), and kills it the same way through its time-out path. */
static int ws_send_close(vg_conn_t *c)
{
    if (c->close_sent)
        return 0;
    c->close_sent = true;
    uint8_t buf[LWS_PRE + 2 + sizeof(c->close_reason)];
    size_t n = strlen(c->close_reason);
    buf[LWS_PRE] = (uint8_t)(c->close_status >> 8);
    buf[LWS_PRE + 1] = (uint8_t)c->close_status;
    memcpy(buf + LWS_PRE + 2, c->close_reason, n);
    if (lws_write(c->wsi, buf + LWS_PRE, 2 + n, WRITE_CLOSE) < 0)
        return -1;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, 2);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    vg_server_t *s = ctx ? lws_context_user(ctx) : NULL;
    pss_t *pss = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return handle_http(s, wsi, pss, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return pss && pss->conn ? receive_body(pss->conn, in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return pss && pss->conn ? body_complete(pss->conn) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pss && pss->conn ? http_writable(pss->conn) : 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        /* RFC 6455 section 4.2.1: only version 13 exists; libwebsockets 4.1 takes any. */
        char version[8];
        if (lws_hdr_copy(wsi, version, sizeof(version), WSI_TOKEN_VERSION) <= 0 ||
            strcmp(version, "13") != 0) {
            VG_LOG_DEBUG("http", "WebSocket upgrade refused: Sec-WebSocket-Version is not 13");
            return 1;
        }
        return filter_upgrade(s, wsi);
    }
    case LWS_CALLBACK_ESTABLISHED:
        return handle_ws_open(s, wsi, pss);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (pss == NULL || pss->conn == NULL)
            return 0;
        if (pss->conn->is_closing)
            return ws_send_close(pss->conn);
        return pss->conn->route->ops->on_writable ? pss->conn->route->ops->on_writable(pss->conn)
                                                  : 0;
    case LWS_CALLBACK_RECEIVE:
        return pss && pss->conn ? ws_receive(pss->conn, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss && pss->conn && !pss->conn->is_closing && pss->conn->route->ops->on_ws_pong)
            pss->conn->route->ops->on_ws_pong(pss->conn, in, len);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        drop_pending_upgrade(wsi);
        return 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss && pss->conn) {
            conn_free(pss->conn);
            pss->conn = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {
        .name = "vigil",
        .callback = callback,
        .per_session_data_size = sizeof(pss_t),
        .rx_buffer_size = WS_RX_MAX,
        .tx_packet_size = TX_PACKET_SIZE,
    },
    {0},
};

int vg_server_new(vg_server_t **out, const vg_server_cfg_t *cfg)
{
    vg_server_t *s = vg_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->host = vg_xstrdup(cfg->host ? cfg->host : "127.0.0.1");
    s->web_root = cfg->web_root ? vg_xstrdup(cfg->web_root) : NULL;
    if (cfg->tls.cert_path) {
        s->tls_cert = vg_xstrdup(cfg->tls.cert_path);
        s->tls_key = vg_xstrdup(cfg->tls.key_path ? cfg->tls.key_path : cfg->tls.cert_path);
    }
    uv_timer_init(cfg->loop, &s->grace_timer);
    *out = s;
    return 0;
}

static int check_tls_files(const char *cert, const char *key);

/* Binds host:port once ourselves, so an address in use is an ordinary error: libwebsockets
 * 4.1 returns a context whose listener failed, and destroying that context on a foreign
 * libuv loop crashes in its event-library plugin. */
static int check_bindable(const char *host, int port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai;
    char port_str[16];
    snprintf(port_str, sizeof(port_str), "%d", port);
    int rc = getaddrinfo(host, port_str, &hints, &ai);
    if (rc != 0) {
        VG_LOG_ERROR("http", "cannot listen on '%s': not a numeric IP address (%s)", host,
                     gai_strerror(rc));
        return VG_EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    rc = fd < 0 ? -errno : 0;
    if (rc == 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
            rc = -errno;
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    if (rc < 0)
        VG_LOG_ERROR("http", "cannot listen on %s:%d: %s", host, port, vg_strerror(rc));
    return rc;
}

int vg_server_start(vg_server_t *s)
{
    int rc = check_bindable(s->host, s->cfg.port);
    if (rc < 0)
        return rc;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *loops[1] = {s->cfg.loop};
    info.foreign_loops = loops;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    if (strchr(s->host, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.port = s->cfg.port;
    info.iface = s->host;
    info.protocols = protocols;
    info.user = s;
    info.max_http_header_data = 8192;
    info.max_http_header_pool = 256;
    info.timeout_secs = 30;
    info.keepalive_timeout = 30;
    info.vhost_name = "vigil";
    info.server_string = "vigil";
    if (s->tls_cert) {
        if (check_tls_files(s->tls_cert, s->tls_key) < 0)
            return VG_EINVAL;
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = s->tls_cert;
        info.ssl_private_key_filepath = s->tls_key;
        /* Mozilla's "intermediate" profile: TLS 1.2 and 1.3 only. */
        info.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                               SSL_OP_NO_TLSv1_1;
        /* HTTP/1.1 only: the streaming and WebSocket paths are written and tested for it
         * (WebSockets over HTTP/2, RFC 8441, are not). */
        info.alpn = "http/1.1";
    }
    s->ctx = lws_create_context(&info);
    if (s->ctx == NULL) {
        VG_LOG_ERROR("http", "cannot listen on %s:%d (in use, or not an address of this host?)",
                     s->host, s->cfg.port);
        return VG_EINVAL;
    }
    s->vhost = lws_get_vhost_by_name(s->ctx, "vigil");
    s->port = s->vhost ? lws_get_vhost_listen_port(s->vhost) : -1;
    if (s->port <= 0) {
        /* Lost a race for the port after check_bindable(): see there for why we can't
         * clean up this context. */
        VG_LOG_ERROR("http", "cannot listen on %s:%d", s->host, s->cfg.port);
        _exit(1);
    }
    return 0;
}

int vg_server_port(const vg_server_t *s) { return s->port; }
bool vg_server_is_tls(const vg_server_t *s) { return s->tls_cert != NULL; }

/* Loads the certificate chain and key the way a server context would and checks that they
 * belong together, so that a bad file is named before libwebsockets gets it (its reload
 * reports success on files it could not use). 0 or VG_EINVAL (logged). */
static int check_tls_files(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    const char *what = NULL;
    if (ctx == NULL)
        what = "no TLS context";
    else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        what = "the certificate does not load";
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        what = "the private key does not load";
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "the key does not match the certificate";
    if (what) {
        char detail[160] = "";
        ERR_error_string_n(ERR_get_error(), detail, sizeof(detail));
        VG_LOG_ERROR("http", "TLS %s / %s: %s (%s)", cert, key, what, detail);
    }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return what ? VG_EINVAL : 0;
}

int vg_server_reload_tls(vg_server_t *s)
{
    if (s->tls_cert == NULL || s->ctx == NULL)
        return 0;
    if (check_tls_files(s->tls_cert, s->tls_key) < 0) {
        VG_LOG_ERROR("http", "TLS reload: the new files did not load; still serving the old "
                             "certificate");
        return VG_EINVAL;
    }
    /* libwebsockets re-reads the files named here into every vhost that uses them; new
     * handshakes get the new certificate, open connections keep theirs. */
    if (lws_tls_cert_updated(s->ctx, s->tls_cert, s->tls_key, NULL, 0, NULL, 0) != 0) {
        VG_LOG_ERROR("http", "TLS reload: %s / %s did not load; still serving the old "
                             "certificate", s->tls_cert, s->tls_key);
        return VG_EINVAL;
    }
    VG_LOG_INFO("http", "TLS certificate reloaded from %s", s->tls_cert);
    return 0;
}

static void finish_shutdown(uv_timer_t *t)
{
    vg_server_t *s = lws_container_of(t, vg_server_t, grace_timer);
    uv_timer_stop(t);
    if (s->ctx && !s->is_ctx_destroying) {
        s->is_ctx_destroying = true;
        lws_context_destroy(s->ctx); /* first half: closes connections and handles */
    }
    if (s->shutdown_done) {
        void (*done)(void *) = s->shutdown_done;
        s->shutdown_done = NULL;
        done(s->shutdown_arg);
    }
}

void vg_server_shutdown(vg_server_t *s, void (*done)(void *arg), void *arg)
{
    s->is_shutting_down = true;
    s->shutdown_done = done;
    s->shutdown_arg = arg;
    for (vg_conn_t *c = s->conns; c; c = c->next) {
        if (c->is_ws || c->resp == RESP_STREAMING)
            vg_conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
    }
    /* Viewers that never read get at most this long to take their close frame. */
    uv_timer_start(&s->grace_timer, finish_shutdown, s->conns ? 1000 : 0, 0);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(lws_container_of((uv_timer_t *)h, vg_server_t, grace_timer));
}

void vg_server_free(vg_server_t **sp)
{
    vg_server_t *s = *sp;
    if (s == NULL)
        return;
    *sp = NULL;
    /* With a foreign loop, libwebsockets frees the context on a second destroy, made after
     * the loop has run the handle closes the first one started. */
    if (s->ctx)
        lws_context_destroy(s->ctx);
    s->ctx = NULL;
    while (s->conns) /* libwebsockets closed them all in destroy; this is belt and braces */
        conn_free(s->conns);
    free(s->host);
    free(s->web_root);
    free(s->tls_cert);
    free(s->tls_key);
    uv_close((uv_handle_t *)&s->grace_timer, on_timer_closed);
}
