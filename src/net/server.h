/* server: vigil's HTTP/1.1 and WebSocket server — libwebsockets running on vigil's libuv loop.
 *
 * Handlers register routes ("/api/v1/cameras/{}/ws", one {} per captured path segment); the
 * server parses, limits and routes requests, writes responses (JSON errors included), serves
 * the dashboard's static files, and on shutdown sends every WebSocket a close frame before
 * destroying the libwebsockets context. Loop thread only.
 *
 * A connection (vg_conn_t) is one HTTP request or one WebSocket. Handlers respond with the
 * vg_conn_respond* functions (at once or later, e.g. when a picture arrives), or begin a
 * stream (vg_conn_stream_begin) and then write in on_writable, one lws_write per call.
 */
#ifndef VG_NET_SERVER_H
#define VG_NET_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/frame.h"

struct lws;
typedef struct vg_server vg_server_t;
typedef struct vg_conn vg_conn_t;

#define VG_ROUTE_MAX_PARAMS 4

typedef struct vg_handler_ops {
    const char *name;
    /* An HTTP request matched. Respond now or later; return 0, or -1 to drop the connection.
     * NULL: the route is WebSocket-only and a plain request gets 426. */
    int (*on_request)(vg_conn_t *c, const char *const *params, void *user);
    /* A WebSocket upgrade matched and completed. Return 0, or -1 to close. NULL: no upgrade. */
    int (*on_ws_open)(vg_conn_t *c, const char *const *params, void *user);
    /* The socket can take one more write (streaming body or WebSocket). Return 0 or -1. */
    int (*on_writable)(vg_conn_t *c);
    /* A complete client text message (binary messages close the socket with 1003 unless
     * on_ws_binary is set). */
    int (*on_ws_message)(vg_conn_t *c, const char *text, size_t len);
    /* A complete binary message of at most max_ws_binary bytes (larger ones close the
     * socket with 1009). NULL: binary messages are refused. */
    int (*on_ws_binary)(vg_conn_t *c, const uint8_t *data, size_t len);
    size_t max_ws_binary;
    /* A pong arrived (payload as the client echoed it; at most 125 bytes). May be NULL. */
    void (*on_ws_pong)(vg_conn_t *c, const void *payload, size_t len);
    /* The connection is gone; release what vg_conn_data() holds. Called once. */
    void (*on_close)(vg_conn_t *c);
    /* The largest request body the route takes (0: none). With a body, on_request runs once
     * it has all arrived (vg_conn_body); a larger one gets 413, one without a length 411. */
    size_t max_body;
} vg_handler_ops_t;

/* Who may use a route is a policy word the server never reads: it stores the word a route
 * was registered with and hands it to the gate (vg_server_set_gate) before every request
 * and upgrade. Only src/auth/ knows what its bits mean (auth/policy.h), so the HTTP layer
 * enforces nothing and knows no roles. */

/* The gate's decision on one request. */
typedef struct vg_gate_verdict {
    int status;                   /* 0: go on; else the HTTP status to refuse with */
    const char *code;             /* error code for the JSON body */
    char message[160];
    const char *www_authenticate; /* 401: the challenge to send, or NULL */
    int retry_after_s;            /* 429: seconds, or 0 */
} vg_gate_verdict_t;

/* Decides whether c may use a route with policy (params captured from its path); attaches
 * whatever the handlers need to know about the caller with vg_conn_set_principal. Called for
 * every routed request and WebSocket upgrade (is_upgrade), before any body is read. */
typedef void (*vg_gate_cb)(vg_conn_t *c, unsigned policy, const char *const *params,
                           bool is_upgrade, vg_gate_verdict_t *out, void *user);

typedef struct vg_server_tls {
    const char *cert_path; /* PEM certificate chain; NULL: plain HTTP */
    const char *key_path;  /* PEM private key */
} vg_server_tls_t;

typedef struct vg_server_cfg {
    uv_loop_t *loop;
    const char *host;     /* address to bind, e.g. 127.0.0.1 */
    int port;             /* 0: any free port (see vg_server_port) */
    const char *web_root; /* NULL: the embedded dashboard */
    vg_server_tls_t tls;
    int max_conns_per_ip;  /* open connections one peer address may hold; 0: 256; < 0: no cap */
    int header_timeout_ms; /* a request header must be complete this soon; 0: 5000 */
    const char *viewer_cc; /* viewer sockets' congestion control; NULL or "system": as is */
    bool has_tls_clients;  /* vg_server_ws_connect will be asked for wss:// */
} vg_server_cfg_t;

int vg_server_new(vg_server_t **out, const vg_server_cfg_t *cfg);
/* Adds a route. method "GET", "POST", "PATCH", "PUT" or "DELETE"; pattern segments "{}"
 * capture one path segment; policy is handed to the gate unread (see above). */
void vg_server_route(vg_server_t *s, const char *method, const char *pattern, unsigned policy,
                     const vg_handler_ops_t *ops, void *user);
/* Calls fn for each registered route, in registration order ("{}" marks a captured
 * segment). */
void vg_server_each_route(const vg_server_t *s,
                          void (*fn)(const char *method, const char *pattern, unsigned policy,
                                     void *arg),
                          void *arg);
/* Sets the gate every routed request passes (NULL: none, every route is open). */
void vg_server_set_gate(vg_server_t *s, vg_gate_cb gate, void *user);
/* Re-reads the TLS certificate and key files (after a renewal), without dropping
 * connections. 0, or < 0 (logged) when they do not load; the old ones stay then. */
int vg_server_reload_tls(vg_server_t *s);
bool vg_server_is_tls(const vg_server_t *s);
/* Creates the libwebsockets context on the loop and binds. 0 or < 0 (logged). */
int vg_server_start(vg_server_t *s);
/* Connections holding a vg_conn_t: requests being answered, open WebSockets and streams
 * (kept-alive sockets between requests hold none). For the vigil_http_connections gauge. */
int vg_server_conn_count(const vg_server_t *s);
int vg_server_port(const vg_server_t *s);
/* Sends close frames to WebSocket viewers and ends streams, then destroys the context once
 * they are gone (or after a short grace period) and calls done(arg). */
void vg_server_shutdown(vg_server_t *s, void (*done)(void *arg), void *arg);
void vg_server_free(vg_server_t **sp);

/* A WebSocket client connection made from the server's libwebsockets context, so that it
 * shares its loop, its TLS set-up and its shutdown (which closes it). ci: the address,
 * port, path, host and ssl_connection; the rest is filled in here. Every libwebsockets
 * callback of the connection (LWS_CALLBACK_CLIENT_*, WSI_DESTROY, ...) goes to
 * client->cb(wsi, reason, client->arg, in, len); client outlives the connection. Returns the
 * connection, or NULL (not started: the server is not running, or libwebsockets refused). */
struct lws_client_connect_info;
typedef struct vg_ws_client {
    int (*cb)(struct lws *wsi, int reason, void *arg, void *in, size_t len);
    void *arg;
} vg_ws_client_t;
struct lws *vg_server_ws_connect(vg_server_t *s, struct lws_client_connect_info *ci,
                                 vg_ws_client_t *client);

/* Per-connection handler state. */
void vg_conn_set_data(vg_conn_t *c, void *data);
void *vg_conn_data(const vg_conn_t *c);
struct lws *vg_conn_wsi(const vg_conn_t *c);
vg_server_t *vg_conn_server(const vg_conn_t *c);
/* Query argument name, URL-decoded, into buf. Returns its length or VG_ENOENT/VG_EINVAL. */
int vg_conn_query(vg_conn_t *c, const char *name, char *buf, size_t len);
/* The request's Content-Type into buf ("" when absent or too long). */
void vg_conn_content_type(vg_conn_t *c, char *buf, size_t len);
/* The request body (NUL-terminated; "" when there was none) and its length. */
const char *vg_conn_body(const vg_conn_t *c, size_t *len);
/* The request body as a JSON object (new reference), or NULL after responding 415 (not
 * application/json) or 400 (not a JSON object; duplicate keys refused). An absent body
 * reads as {} when may_be_empty. */
json_t *vg_conn_body_json(vg_conn_t *c, bool may_be_empty);
/* "ip:port" of the peer. */
const char *vg_conn_peer(const vg_conn_t *c);
/* The peer's IP address alone. */
const char *vg_conn_peer_ip(const vg_conn_t *c);
/* The request method ("GET", "POST", ...; HEAD reads as GET). */
const char *vg_conn_method(const vg_conn_t *c);
/* A request header by lower-case name ("authorization", "origin", "host",
 * "x-csrf-token", ...) into buf. Returns its length, VG_ENOENT when absent, VG_EINVAL when
 * longer than buf. */
int vg_conn_header(vg_conn_t *c, const char *name, char *buf, size_t len);
/* A cookie's value into buf; length, VG_ENOENT or VG_EINVAL as above. */
int vg_conn_cookie(vg_conn_t *c, const char *name, char *buf, size_t len);
/* Adds a response header ("set-cookie", "www-authenticate", ...) to the response not yet
 * sent; at most 4 per response. */
void vg_conn_add_header(vg_conn_t *c, const char *name, const char *value);
/* What the gate attached about the caller (NULL: nothing), freed with the connection. */
void vg_conn_set_principal(vg_conn_t *c, void *principal, void (*free_fn)(void *));
void *vg_conn_principal(const vg_conn_t *c);
/* The matched route's policy word, as registered. */
unsigned vg_conn_policy(const vg_conn_t *c);
/* The i-th segment the route's pattern captured, or NULL. */
const char *vg_conn_param(const vg_conn_t *c, int i);
/* Calls fn for every open WebSocket and open-ended stream (the viewers). fn may
 * vg_conn_close() the connection it is given. */
void vg_server_each_viewer(vg_server_t *s, void (*fn)(vg_conn_t *c, void *arg), void *arg);
/* Whether the connection came over TLS. */
bool vg_conn_is_tls(const vg_conn_t *c);

/* Responds with a copy of body. */
int vg_conn_respond(vg_conn_t *c, int status, const char *content_type, const void *body,
                    size_t len);
/* Responds with f's payload without copying (takes a reference). */
int vg_conn_respond_frame(vg_conn_t *c, int status, const char *content_type, vg_frame_t *f);
/* Responds with a JSON document (takes doc). */
/* Responds with the frames' payloads one after another (takes a reference to each; each needs
 * LWS_PRE headroom): a body made of shared parts is never copied. */
int vg_conn_respond_frames(vg_conn_t *c, int status, const char *content_type,
                           vg_frame_t *const *frames, int n);
int vg_conn_respond_json(vg_conn_t *c, int status, json_t *doc);
/* Responds {"error":{"code":code,"message":...}}. */
int vg_conn_error(vg_conn_t *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends the headers of an open-ended response (no Content-Length) and then calls
 * on_writable whenever vg_conn_want_write() was asked and the socket can take more. Once
 * the headers are out, the request's headers and query are no longer readable
 * (vg_conn_header, vg_conn_query, ... answer VG_ENOENT): read them in on_request. */
int vg_conn_stream_begin(vg_conn_t *c, int status, const char *content_type);
void vg_conn_want_write(vg_conn_t *c);
/* Closes a WebSocket with a status and reason (sent in the close frame), or ends a stream. */
void vg_conn_close(vg_conn_t *c, int ws_status, const char *reason);
bool vg_conn_is_closing(const vg_conn_t *c);

#endif
