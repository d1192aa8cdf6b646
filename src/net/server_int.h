/* server_int: what the files of the HTTP/WebSocket server share (not for other modules).
 *
 *   server.c   lifecycle: the libwebsockets context on vigil's loop, TLS, the callback that
 *              dispatches every libwebsockets event to the files below, shutdown
 *   conn.c     connections (vg_conn_t): accessors, request headers, responses
 *   router.c   routes, the gate, and the dispatch of a plain HTTP request
 *   body.c     request bodies: reading them, and answering early only after them
 *   static.c   the dashboard's files
 *   upgrade.c  WebSocket upgrades, messages and close frames
 *   listen.c   the listening socket: accept, per-address caps, the request-header deadline,
 *              and the hand-over of each connection to libwebsockets once it speaks
 *
 * Loop thread only, like everything in src/net.
 */
#ifndef VG_NET_SERVER_INT_H
#define VG_NET_SERVER_INT_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/server.h"

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
    unsigned policy;
    const vg_handler_ops_t *ops;
    void *user;
} route_t;

/* One accepted TCP connection, from accept() to the libwebsockets wsi's destruction.
 *
 *   srv->waiting ──> sock ──> sock ──> ...   (accept order: the oldest deadline first)
 *                     │ peer ──> peer_t { count } in srv->peers (one per address)
 *                     │ wsi  ──> struct lws, once adopted; lws_get_opaque_user_data(wsi)
 *                     │          points back here
 *                     │ conn ──> vg_conn_t of the request or WebSocket it serves (or NULL)
 *                     └ poll ──> uv_poll_t while waiting for the first bytes (not adopted)
 *
 * A sock is on srv->waiting until its first request header is complete (or its deadline
 * passes). Loop thread only. */
typedef struct vg__peer vg__peer_t;
typedef struct vg__sock {
    vg_server_t *srv;
    int fd;
    vg__peer_t *peer;
    uint64_t deadline_ms;     /* uv_now() by which the first request header must be in */
    uv_poll_t *poll;          /* waiting for the first bytes; NULL once adopted */
    struct lws *wsi;          /* NULL until adopted */
    vg_conn_t *conn;          /* the request (or WebSocket) being served: see vg__conn_of */
    vg_conn_t *upgrade;       /* an upgrade between filter_upgrade and handle_ws_open */
    bool is_waiting;          /* on srv->waiting */
    struct vg__sock *prev, *next; /* on srv->waiting */
} vg__sock_t;

#define PEER_BUCKETS 1024

struct vg_server {
    vg_server_cfg_t cfg;
    char *host, *web_root;
    char viewer_cc[16]; /* viewer sockets' congestion control; "": the kernel's default */
    struct lws_context *ctx;
    bool is_ctx_destroying; /* the first of the two lws_context_destroy() calls was made */
    struct lws_vhost *vhost;
    int port;
    route_t routes[MAX_ROUTES];
    int route_count;
    vg_conn_t *conns; /* every live connection, for shutdown */
    int conn_count;   /* on conns */
    bool is_shutting_down;
    uv_timer_t grace_timer;
    void (*shutdown_done)(void *);
    void *shutdown_arg;
    vg_gate_cb gate;
    void *gate_user;
    char *tls_cert, *tls_key;
    /* listen.c */
    int listen_fd;                /* -1: not listening */
    uv_poll_t listen_poll;
    uv_timer_t sweep_timer;       /* header deadlines; resumes a paused accept */
    bool is_listen_started;       /* listen_poll and sweep_timer are initialised */
    int handles_open;             /* uv handles whose close callback has not run yet */
    bool is_accept_paused;        /* out of file descriptors: retry at the next sweep */
    int max_conns_per_ip;         /* 0: no cap */
    unsigned header_timeout_ms;
    vg__peer_t *peers[PEER_BUCKETS];
    vg__sock_t *waiting, *waiting_tail;
    uint64_t refused_over_cap, header_timeouts; /* counters */
    uint64_t last_cap_log_ms;
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
    void *static_job;        /* static.c: a --web-root file being read off the loop */
    void *data;
    bool is_ws, is_closing, has_closed, close_sent;
    bool is_head; /* HEAD: routed as GET, answered with the headers only (RFC 9110 9.3.2) */
    uint16_t close_status;
    char close_reason[124]; /* RFC 6455 5.5: a close frame's reason is at most 123 bytes */
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
    vg_frame_t **body_frames; /* a body of several frames, written one after another */
    int body_frame_count, body_frame_next;
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
    size_t rx_len, rx_cap;
    bool rx_is_binary;
    vg_conn_t *prev, *next;
};

/* conn.c */
vg_conn_t *vg__conn_new(vg_server_t *s, struct lws *wsi);
void vg__conn_free(vg_conn_t *c);
/* The connection a wsi is serving (a request from LWS_CALLBACK_HTTP until its transaction
 * completes, or an open WebSocket), or NULL. It hangs on the wsi's sock record, not in
 * libwebsockets' per-session data: libwebsockets 4.1 frees and reallocates that data when a
 * kept-alive request completes (lws_http_transaction_completed re-binds the protocol), so a
 * pointer kept there was lost and its connection leaked until shutdown. */
vg_conn_t *vg__conn_of(struct lws *wsi);
/* Makes c the connection wsi serves (it must serve none). */
void vg__conn_attach(struct lws *wsi, vg_conn_t *c);
/* Frees the connection wsi serves, if any: its request is done or its socket is closing. */
void vg__conn_release(struct lws *wsi);
void vg__resp_reset(vg_conn_t *c);
/* Appends the security headers every response carries (CSP, nosniff, framing, referrer) at
 * *p, before end. Returns 0, or -1 when they do not fit. Loop thread. */
int vg__add_security_headers(struct lws *wsi, uint8_t **p, uint8_t *end);
/* The WRITEABLE callback of a plain HTTP connection: headers, then body, or the stream. */
int vg__http_writable(vg_conn_t *c);

/* router.c */
/* LWS_CALLBACK_HTTP: routes one request (uri is its path) and runs its handler. */
int vg__http_request(vg_server_t *s, struct lws *wsi, const char *uri);
const route_t *vg__find_route(vg_server_t *s, const char *method, const char *path,
                              char **params, bool *method_mismatch);
/* Asks the gate about c on route r; 0 to go on, or the verdict's status. */
int vg__pass_gate(vg_conn_t *c, const route_t *r, bool is_upgrade, vg_gate_verdict_t *v);
/* Answers with the verdict's status and a JSON error. */
int vg__refuse(vg_conn_t *c, const vg_gate_verdict_t *v);

/* body.c */
bool vg__has_body(vg_conn_t *c);
/* Answers v, after reading and dropping the request's body if it has one. */
int vg__refuse_after_body(vg_conn_t *c, const vg_gate_verdict_t *v);
int vg__answer_early(vg_conn_t *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs c's route once its body is in (at once when it has none). */
int vg__expect_body(vg_conn_t *c);
int vg__body_receive(vg_conn_t *c, const void *in, size_t len);
int vg__body_complete(vg_conn_t *c);

/* static.c */
int vg__serve_static(vg_conn_t *c, const char *path);

/* upgrade.c */
int vg__ws_filter_upgrade(vg_server_t *s, struct lws *wsi);
int vg__ws_open(vg_server_t *s, struct lws *wsi);
void vg__ws_drop_pending(struct lws *wsi);
int vg__ws_receive(vg_conn_t *c, const void *in, size_t len);
int vg__ws_send_close(vg_conn_t *c);

/* listen.c */
/* Binds and listens on the configured address. 0 or < 0 (logged). */
int vg__listen_open(vg_server_t *s);
/* Starts accepting (the context exists) and the deadline timer. */
void vg__listen_start(vg_server_t *s);
/* Stops accepting and closes the connections libwebsockets does not have yet. */
void vg__listen_stop(vg_server_t *s);
/* Closes the listener's handles; each close callback calls vg__server_handle_closed. */
void vg__listen_close(vg_server_t *s);
/* The first request header on wsi is complete: its deadline no longer applies. */
void vg__sock_header_done(struct lws *wsi);
/* LWS_CALLBACK_WSI_DESTROY: the connection is gone. */
void vg__sock_destroyed(struct lws *wsi);
/* The connection record of wsi (NULL for a wsi vigil did not accept). */
vg__sock_t *vg__sock_of(struct lws *wsi);

/* static.c */
/* The connection is going away: a file read for it must not answer it. */
void vg__static_detach(vg_conn_t *c);

/* server.c */
/* A uv handle of s finished closing; s is freed after the last one. */
void vg__server_handle_closed(uv_handle_t *h);
/* Caps how much a viewer's socket holds unsent (see VIEWER_NOTSENT_LOWAT). */
void vg__limit_unsent(struct lws *wsi);
/* Destroys the context and reports the shutdown done (a timer callback). */
void vg__server_finish_shutdown(uv_timer_t *t);

#endif
