/* server: see server.h. This file holds the lifecycle (context, TLS, shutdown) and the
 * callback that dispatches libwebsockets' events; server_int.h lists the other files.
 *
 * One libwebsockets protocol serves both HTTP and WebSocket, so that clients need no
 * subprotocol: HTTP requests are routed in LWS_CALLBACK_HTTP, upgrades in
 * LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION (and opened at LWS_CALLBACK_ESTABLISHED). Every
 * response is written from the WRITEABLE callback, headers first, then the body, one lws_write
 * per call.
 *
 * Limits: request line + headers share max_http_header_data (8 KiB; more closes the
 * connection), client WebSocket messages are at most 4 KiB of text, request bodies only on
 * routes that declare a max_body, with a Content-Length. A request header must be complete
 * within 5 s (header_timeout_ms), and one address may hold 256 connections
 * (max_conns_per_ip): see listen.c. Idle kept-alive connections time out after 30 s.
 */
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/server_int.h"
#include "net/tcpinfo.h"

/* Bytes a viewer's socket may hold unsent before it stops reporting writable. Without it the
 * kernel grows the send buffer to megabytes for a slow reader, and "one frame in flight"
 * becomes twenty frames queued in the kernel: seconds of delay instead of dropped frames
 * (measured: 2 s at 1.5 MB/s, see docs/benchmarks.md). With it, a frame is handed to the
 * kernel only once the previous one has nearly left, and the newest pending frame wins. */
#define VIEWER_NOTSENT_LOWAT (16 * 1024)

void vg__limit_unsent(struct lws *wsi)
{
    int fd = lws_get_socket_fd(wsi);
    int lowat = VIEWER_NOTSENT_LOWAT;
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    /* BBR paces to the bottleneck's rate instead of filling its queue, which loss-based
     * congestion control (cubic) does until a packet is dropped: on a 5 Mbit/s link with a
     * deep buffer that was the difference between 154 ms and 1.3 s (issue 19). */
    struct lws_context *ctx = lws_get_context(wsi);
    vg_server_t *s = ctx ? lws_context_user(ctx) : NULL;
    if (s && s->viewer_cc[0])
        vg_tcp_set_congestion(fd, s->viewer_cc);
}


static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    vg_server_t *s = ctx ? lws_context_user(ctx) : NULL;
    vg_conn_t *c = vg__conn_of(wsi);

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return vg__http_request(s, wsi, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return c ? vg__body_receive(c, in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return c ? vg__body_complete(c) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return c ? vg__http_writable(c) : 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* The request is done: lws_http_transaction_completed() re-binds the protocol on a
         * kept-alive connection (and a WebSocket upgrade does, before any request of ours
         * is on it). Its connection goes now, with its body and principal, instead of
         * lingering until the socket closes. */
        vg__conn_release(wsi);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        vg__sock_header_done(wsi);
        return vg__ws_filter_upgrade(s, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return vg__ws_open(s, wsi);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (c == NULL)
            return 0;
        if (c->is_closing)
            return vg__ws_send_close(c);
        return c->route->ops->on_writable ? c->route->ops->on_writable(c) : 0;
    case LWS_CALLBACK_RECEIVE:
        return c ? vg__ws_receive(c, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c && !c->is_closing && c->route->ops->on_ws_pong)
            c->route->ops->on_ws_pong(c, in, len);
        return 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLOSED_HTTP:
        vg__conn_release(wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY: /* whatever libwebsockets told us before, the wsi is gone */
        vg__ws_drop_pending(wsi);
        vg__conn_release(wsi);
        vg__sock_destroyed(wsi);
        return 0;
    default:
        return 0;
    }
}

/* Client connections (vg_server_ws_connect): their user pointer is the caller's
 * vg_ws_client_t; nothing of the server's own (no sock record) hangs on them. */
static int client_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len)
{
    vg_ws_client_t *cl = user;
    if (cl == NULL || cl->cb == NULL)
        return 0;
    return cl->cb(wsi, (int)reason, cl->arg, in, len);
}

#define CLIENT_PROTOCOL "vigil-client"

/* No per-session data: what vigil keeps per connection hangs on its sock record (listen.c),
 * which lives from accept to LWS_CALLBACK_WSI_DESTROY (see vg__conn_of). */
static const struct lws_protocols protocols[] = {
    {
        .name = "vigil",
        .callback = callback,
        .per_session_data_size = 0,
        .rx_buffer_size = WS_RX_MAX,
        .tx_packet_size = TX_PACKET_SIZE,
    },
    {
        .name = CLIENT_PROTOCOL,
        .callback = client_callback,
        .per_session_data_size = 0,
        .rx_buffer_size = 64 * 1024,
    },
    {0},
};

struct lws *vg_server_ws_connect(vg_server_t *s, struct lws_client_connect_info *ci,
                                 vg_ws_client_t *client)
{
    if (s->ctx == NULL || s->is_ctx_destroying)
        return NULL;
    ci->context = s->ctx;
    ci->vhost = s->vhost;
    ci->local_protocol_name = CLIENT_PROTOCOL;
    ci->userdata = client;
    return lws_client_connect_via_info(ci);
}

/* Header slots (libwebsockets "ah", max_http_header_data bytes each, allocated while in use).
 * Only connections that have spoken and are still sending a request header, or whose
 * non-streaming response is pending, hold one (listen.c, write_headers), so this bounds
 * memory under a many-address slowloris (about 9 KiB a slot) rather than the number of
 * viewers. */
#define HEADER_SLOTS 4096
#define DEFAULT_MAX_CONNS_PER_IP 256
#define DEFAULT_HEADER_TIMEOUT_MS 5000

int vg_server_new(vg_server_t **out, const vg_server_cfg_t *cfg)
{
    vg_server_t *s = vg_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->host = vg_xstrdup(cfg->host ? cfg->host : "127.0.0.1");
    s->web_root = cfg->web_root ? vg_xstrdup(cfg->web_root) : NULL;
    if (cfg->viewer_cc && strcmp(cfg->viewer_cc, "system") != 0) {
        if (vg_tcp_congestion_available(cfg->viewer_cc))
            vg_strlcpy(s->viewer_cc, cfg->viewer_cc, sizeof(s->viewer_cc));
        else
            VG_LOG_WARN("http", "viewer congestion control %s is not offered by this kernel: "
                        "viewer sockets keep the system's", cfg->viewer_cc);
    }
    if (cfg->tls.cert_path) {
        s->tls_cert = vg_xstrdup(cfg->tls.cert_path);
        s->tls_key = vg_xstrdup(cfg->tls.key_path ? cfg->tls.key_path : cfg->tls.cert_path);
    }
    s->listen_fd = -1;
    s->max_conns_per_ip = cfg->max_conns_per_ip < 0   ? 0
                          : cfg->max_conns_per_ip == 0 ? DEFAULT_MAX_CONNS_PER_IP
                                                       : cfg->max_conns_per_ip;
    s->header_timeout_ms = cfg->header_timeout_ms > 0 ? (unsigned)cfg->header_timeout_ms
                                                      : DEFAULT_HEADER_TIMEOUT_MS;
    uv_timer_init(cfg->loop, &s->grace_timer);
    s->grace_timer.data = s;
    s->handles_open = 1;
    *out = s;
    return 0;
}

static int check_tls_files(const char *cert, const char *key);

int vg_server_start(vg_server_t *s)
{
    int rc = vg__listen_open(s);
    if (rc < 0)
        return rc;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *loops[1] = {s->cfg.loop};
    info.foreign_loops = loops;
    /* The security headers are vigil's own (vg__add_security_headers), not libwebsockets's
     * best-practice set, whose fixed CSP refuses media from blob: URLs. */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (s->cfg.has_tls_clients) /* the vhost's client TLS context needs it */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (strchr(s->host, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    /* listen.c accepts and hands connections over with lws_adopt_socket_vhost(). That also
     * makes an address in use an ordinary error: libwebsockets 4.1 returned a context whose
     * listener had failed, which could be neither used nor destroyed on a foreign loop. */
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.user = s;
    info.max_http_header_data = 8192;
    info.max_http_header_pool = HEADER_SLOTS;
    /* Each later request on a kept-alive connection gets the same time for its header as
     * the first (listen.c); libwebsockets' default is 10 s. */
    info.timeout_secs_ah_idle = (s->header_timeout_ms + 999) / 1000;
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
    s->vhost = s->ctx ? lws_get_vhost_by_name(s->ctx, "vigil") : NULL;
    if (s->vhost == NULL) {
        VG_LOG_ERROR("http", "cannot start the HTTP server on %s:%d", s->host, s->port);
        return VG_EINVAL;
    }
    vg__listen_start(s);
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    VG_LOG_INFO("http", "connections: at most %d per address%s, request header within %u ms, "
                "open-file limit %llu", s->max_conns_per_ip,
                s->max_conns_per_ip == 0 ? " (no cap)" : "", s->header_timeout_ms,
                (unsigned long long)rl.rlim_cur);
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

void vg__server_finish_shutdown(uv_timer_t *t)
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
    vg__listen_stop(s);
    s->shutdown_done = done;
    s->shutdown_arg = arg;
    for (vg_conn_t *c = s->conns; c; c = c->next) {
        if (c->is_ws || c->resp == RESP_STREAMING)
            vg_conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
    }
    /* Viewers that never read get at most this long to take their close frame. */
    uv_timer_start(&s->grace_timer, vg__server_finish_shutdown, s->conns ? 1000 : 0, 0);
}

void vg__server_handle_closed(uv_handle_t *h)
{
    vg_server_t *s = h->data;
    if (--s->handles_open == 0)
        free(s);
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
        vg__conn_free(s->conns);
    free(s->host);
    free(s->web_root);
    free(s->tls_cert);
    free(s->tls_key);
    vg__listen_close(s);
    uv_close((uv_handle_t *)&s->grace_timer, vg__server_handle_closed);
}
