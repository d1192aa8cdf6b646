/* net/http_client: one asynchronous HTTP client for the loop (PTZ drivers, ONVIF, and any
 * other code that calls out over HTTP). libcurl's multi interface driven by libuv: curl says
 * which sockets to watch and when to wake it, a uv_poll per socket and one uv_timer do so,
 * and nothing ever blocks the loop (name resolution runs on curl's own resolver thread).
 *
 * Bounds: at most max_in_flight requests run at once, and at most max_per_key of those share
 * a key (a camera, say). Requests beyond either bound wait in one FIFO queue, at most
 * max_queued of them; a request's time-out counts from submission, so a request that waited
 * too long fails with -ETIMEDOUT without being sent.
 *
 * Loop thread only: every function here and every callback. None blocks.
 */
#ifndef VG_NET_HTTP_CLIENT_H
#define VG_NET_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct vg_http_client vg_http_client_t;
typedef struct vg_http_req vg_http_req_t; /* one submitted request, for vg_http_cancel */

typedef struct vg_http_client_opts {
    unsigned max_in_flight;        /* requests running at once; 0: 64 */
    unsigned max_per_key;          /* of those, sharing one key; 0: 2 */
    unsigned max_queued;           /* waiting beyond the bounds; 0: 1024 */
    size_t default_max_body_bytes; /* reply body cap when a request sets none; 0: 1 MiB */
} vg_http_client_opts_t;

typedef struct vg_http_request {
    const char *method;           /* "GET", "POST", "PUT", ...; NULL: GET, or POST with a body */
    const char *url;              /* http:// or https:// only */
    const char *const *headers;   /* "Name: value" strings, NULL-terminated; NULL: none */
    const void *body;             /* sent as is; NULL: no body */
    size_t body_len;
    const char *user;             /* NULL: no credentials; else Digest or Basic, as the */
    const char *password;         /*   server asks (never sent unasked) */
    uint32_t timeout_ms;          /* from submission to the whole reply; 0: 10 s */
    size_t max_body_bytes;        /* reply body cap; 0: the client's default */
    const char *key;              /* concurrency key (a camera id); NULL: overall bound only */
} vg_http_request_t;

typedef struct vg_http_response {
    long http_status;             /* 0 when no reply arrived */
    const char *body;             /* NUL-terminated (the NUL not counted); never NULL */
    size_t body_len;
    const char *content_type;     /* NULL when the reply had none */
    const char *error;            /* NULL on success; else why, for a log line or an API reply */
    uint32_t elapsed_ms;          /* from submission */
} vg_http_response_t;

/* The outcome, exactly once per request unless it was cancelled or its client freed.
 * status: 0 when a reply arrived, whatever its HTTP status; else -ETIMEDOUT (no whole reply
 * in time), -EMSGSIZE (reply body over the cap), VG_EUNREACHABLE (no connection),
 * VG_EPROTO (a broken reply). res and everything it points to are borrowed until the
 * callback returns. The callback may submit or cancel requests and may free the client. */
typedef void (*vg_http_done_cb)(void *user, int status, const vg_http_response_t *res);

/* Makes a client on loop. Returns 0 with *out set, or a negative VG_E* code. */
int vg_http_client_new(vg_http_client_t **out, uv_loop_t *loop, const vg_http_client_opts_t *opts);

/* Cancels everything queued or in flight without calling any callback, closes the client's
 * handles and frees it once they have closed (so run the loop afterwards). Accepts NULL;
 * sets *c to NULL. May be called from a completion callback. */
void vg_http_client_free(vg_http_client_t **c);

/* Submits a request; rq and everything it points to are copied. Returns 0 (out, when not
 * NULL, gets a handle valid until done is called or the request is cancelled), VG_EINVAL
 * (no URL or callback, or a bad option), VG_EFULL (the queue is full). done is never called
 * from inside this function. */
int vg_http_request(vg_http_client_t *c, const vg_http_request_t *rq, vg_http_done_cb done,
                    void *user, vg_http_req_t **out);

/* Cancels a request that is queued or in flight: its callback will not be called and the
 * handle is gone. Never call it for a request whose callback has begun. */
void vg_http_cancel(vg_http_req_t *req);

/* Requests in flight and queued, overall or (key not NULL) for one key. */
unsigned vg_http_client_in_flight(const vg_http_client_t *c, const char *key);
unsigned vg_http_client_queued(const vg_http_client_t *c, const char *key);

#endif
