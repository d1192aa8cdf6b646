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
    /* A complete client text message (binary messages close the socket with 1003). */
    int (*on_ws_message)(vg_conn_t *c, const char *text, size_t len);
    /* A pong arrived (payload as the client echoed it; at most 125 bytes). May be NULL. */
    void (*on_ws_pong)(vg_conn_t *c, const void *payload, size_t len);
    /* The connection is gone; release what vg_conn_data() holds. Called once. */
    void (*on_close)(vg_conn_t *c);
    /* The largest request body the route takes (0: none). With a body, on_request runs once
     * it has all arrived (vg_conn_body); a larger one gets 413, one without a length 411. */
    size_t max_body;
} vg_handler_ops_t;

typedef struct vg_server_cfg {
    uv_loop_t *loop;
    const char *host;     /* address to bind, e.g. 127.0.0.1 */
    int port;             /* 0: any free port (see vg_server_port) */
    const char *web_root; /* NULL: the embedded dashboard */
} vg_server_cfg_t;

int vg_server_new(vg_server_t **out, const vg_server_cfg_t *cfg);
/* Adds a route. method "GET", "POST", "PATCH", "PUT" or "DELETE"; pattern segments "{}" capture one path segment. */
void vg_server_route(vg_server_t *s, const char *method, const char *pattern,
                     const vg_handler_ops_t *ops, void *user);
/* Calls fn for each registered route, in registration order ("{}" marks a captured
 * segment). */
void vg_server_each_route(const vg_server_t *s,
                          void (*fn)(const char *method, const char *pattern, void *arg),
                          void *arg);
/* Creates the libwebsockets context on the loop and binds. 0 or < 0 (logged). */
int vg_server_start(vg_server_t *s);
int vg_server_port(const vg_server_t *s);
/* Sends close frames to WebSocket viewers and ends streams, then destroys the context once
 * they are gone (or after a short grace period) and calls done(arg). */
void vg_server_shutdown(vg_server_t *s, void (*done)(void *arg), void *arg);
void vg_server_free(vg_server_t **sp);

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
/* "ip:port" of the peer. */
const char *vg_conn_peer(const vg_conn_t *c);

/* Responds with a copy of body. */
int vg_conn_respond(vg_conn_t *c, int status, const char *content_type, const void *body,
                    size_t len);
/* Responds with f's payload without copying (takes a reference). */
int vg_conn_respond_frame(vg_conn_t *c, int status, const char *content_type, vg_frame_t *f);
/* Responds with a JSON document (takes doc). */
int vg_conn_respond_json(vg_conn_t *c, int status, json_t *doc);
/* Responds {"error":{"code":code,"message":...}}. */
int vg_conn_error(vg_conn_t *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends the headers of an open-ended response (no Content-Length) and then calls
 * on_writable whenever vg_conn_want_write() was asked and the socket can take more. */
int vg_conn_stream_begin(vg_conn_t *c, int status, const char *content_type);
void vg_conn_want_write(vg_conn_t *c);
/* Closes a WebSocket with a status and reason (sent in the close frame), or ends a stream. */
void vg_conn_close(vg_conn_t *c, int ws_status, const char *reason);
bool vg_conn_is_closing(const vg_conn_t *c);

#endif
