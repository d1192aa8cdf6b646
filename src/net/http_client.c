/* http_client: libcurl multi on libuv (see http_client.h for the contract).
 *
 * DESIGN. curl owns the transfers; the client owns when they start. A request is in one of
 * two lists:
 *
 *   queued   FIFO of requests waiting for a slot (overall or for their key)
 *   active   requests whose easy handle is in the multi handle
 *
 * pump() walks the queue in order and starts every request whose key has room, while there
 * is room overall; a key that is full does not hold up the keys behind it, and requests of
 * one key start in the order they came. pump() runs after a submission and after each
 * completion or cancellation.
 *
 * The loop drives curl the documented way (curl's docs/examples/multi-uv.c): the socket
 * callback starts, changes and stops one uv_poll per socket; the timer callback arms one
 * uv_timer; both call curl_multi_socket_action and then collect finished transfers. A second
 * timer fails queued requests whose deadline passed while they waited.
 *
 * Teardown: free closes the uv_polls first (while the sockets are still open: libuv removes
 * an fd from epoll when its handle closes), then removes and cleans up every easy handle and
 * the multi handle, then closes the timers; the struct goes in the last close callback. A
 * completion callback may free the client: the delivery loop checks is_closing after each.
 *
 * Loop thread only.
 */
#include "net/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define DEFAULT_MAX_IN_FLIGHT 64
#define DEFAULT_MAX_PER_KEY 2
#define DEFAULT_MAX_QUEUED 1024
#define DEFAULT_MAX_BODY_BYTES (1024 * 1024)
#define DEFAULT_TIMEOUT_MS 10000

typedef struct poll_ctx poll_ctx_t;

struct vg_http_req {
    vg_http_client_t *client;
    vg_http_req_t *prev, *next; /* in client->queued or client->active */
    bool is_active;
    CURL *easy;
    struct curl_slist *headers;
    char *url, *method, *key, *user, *password;
    void *body;
    size_t body_len;
    size_t max_body_bytes;
    uint64_t submitted_ms, deadline_ms; /* uv_now() */
    char *reply;                        /* reply body so far, NUL-terminated */
    size_t reply_len, reply_cap;
    bool is_too_large;
    char errbuf[CURL_ERROR_SIZE];
    vg_http_done_cb done;
    void *user_data;
};

typedef struct req_list {
    vg_http_req_t *head, *tail;
    unsigned count;
} req_list_t;

struct poll_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    vg_http_client_t *client;
    poll_ctx_t *prev, *next; /* in client->polls */
};

struct vg_http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t curl_timer;  /* curl's wake-up */
    uv_timer_t queue_timer; /* the earliest queued deadline */
    unsigned open_handles;  /* uv handles not yet closed; the struct goes with the last */
    bool is_closing;
    unsigned max_in_flight, max_per_key, max_queued;
    size_t default_max_body_bytes;
    req_list_t queued, active;
    poll_ctx_t *polls;
};

static void list_push(req_list_t *l, vg_http_req_t *r)
{
    r->prev = l->tail;
    r->next = NULL;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->count++;
}

static void list_remove(req_list_t *l, vg_http_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    l->count--;
}

static bool same_key(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static unsigned count_key(const req_list_t *l, const char *key)
{
    unsigned n = 0;
    for (const vg_http_req_t *r = l->head; r; r = r->next)
        n += key == NULL || same_key(r->key, key);
    return n;
}

static void req_free(vg_http_req_t *r)
{
    if (r == NULL)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    if (r->password)
        memset(r->password, 0, strlen(r->password)); /* camera credentials: do not linger */
    free(r->password);
    free(r->user);
    free(r->url);
    free(r->method);
    free(r->key);
    free(r->body);
    free(r->reply);
    free(r);
}

/* Detaches r from its list (and its easy handle from the multi handle). */
static void req_unlink(vg_http_req_t *r)
{
    vg_http_client_t *c = r->client;
    if (r->is_active) {
        curl_multi_remove_handle(c->multi, r->easy);
        list_remove(&c->active, r);
        r->is_active = false;
    } else {
        list_remove(&c->queued, r);
    }
}

static void deliver(vg_http_req_t *r, int status, long http_status, const char *error)
{
    vg_http_client_t *c = r->client;
    char *ctype = NULL;
    if (status == 0 && r->easy)
        curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ctype);
    uint64_t now = uv_now(c->loop);
    vg_http_response_t res = {
        .http_status = http_status,
        .body = r->reply ? r->reply : "",
        .body_len = r->reply_len,
        .content_type = ctype,
        .error = status < 0 ? error : NULL,
        .elapsed_ms = (uint32_t)(now - r->submitted_ms),
    };
    r->done(r->user_data, status, &res);
    req_free(r);
}

/* ------------------------------------------------------------------------------------ */
/* curl callbacks                                                                        */

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    vg_http_req_t *r = user;
    size_t bytes = size * n;
    if (bytes > r->max_body_bytes - r->reply_len) {
        r->is_too_large = true;
        return 0; /* curl stops the transfer with CURLE_WRITE_ERROR */
    }
    if (r->reply_len + bytes + 1 > r->reply_cap) {
        size_t cap = r->reply_cap ? r->reply_cap : 4096;
        while (cap < r->reply_len + bytes + 1)
            cap *= 2;
        r->reply = vg_xrealloc(r->reply, cap);
        r->reply_cap = cap;
    }
    memcpy(r->reply + r->reply_len, data, bytes);
    r->reply_len += bytes;
    r->reply[r->reply_len] = '\0';
    return bytes;
}

static void check_multi_info(vg_http_client_t *c);

static void poll_close_cb(uv_handle_t *h)
{
    poll_ctx_t *p = h->data;
    vg_http_client_t *c = p->client;
    free(p);
    if (--c->open_handles == 0 && c->is_closing)
        free(c);
}

static void poll_close(poll_ctx_t *p)
{
    vg_http_client_t *c = p->client;
    if (p->prev)
        p->prev->next = p->next;
    else
        c->polls = p->next;
    if (p->next)
        p->next->prev = p->prev;
    uv_close((uv_handle_t *)&p->poll, poll_close_cb);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    poll_ctx_t *p = h->data;
    vg_http_client_t *c = p->client;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(c->multi, p->fd, flags, &running); /* may close p */
    check_multi_info(c);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *user, void *socketp)
{
    vg_http_client_t *c = user;
    poll_ctx_t *p = socketp;
    if (c->is_closing) /* free closed every poll already */
        return 0;
    if (what == CURL_POLL_REMOVE) {
        if (p) {
            curl_multi_assign(c->multi, fd, NULL);
            poll_close(p);
        }
        return 0;
    }
    if (p == NULL) {
        p = vg_xcalloc(1, sizeof(*p));
        if (uv_poll_init_socket(c->loop, &p->poll, fd) < 0) {
            free(p);
            return -1; /* curl fails the transfer */
        }
        p->fd = fd;
        p->client = c;
        p->poll.data = p;
        p->next = c->polls;
        if (c->polls)
            c->polls->prev = p;
        c->polls = p;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, p);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&p->poll, events, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    vg_http_client_t *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(c);
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *user)
{
    vg_http_client_t *c = user;
    if (c->is_closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->curl_timer);
    else /* 0 means "now": a timer of 0 runs on the next loop turn, never inside this call */
        uv_timer_start(&c->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* starting and finishing                                                                */

static int req_setup_easy(vg_http_req_t *r, uint64_t remaining_ms)
{
    CURL *e = r->easy = curl_easy_init();
    if (e == NULL)
        return VG_ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)remaining_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
    if (strcmp(r->method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(r->method, "GET") == 0 && r->body == NULL)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(r->method, "POST") != 0 || r->body == NULL)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (r->user) {
        /* Two schemes: curl first asks without credentials and answers the challenge, so a
         * password never goes out in Basic to a server that wanted Digest. */
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)(CURLAUTH_DIGEST | CURLAUTH_BASIC));
        curl_easy_setopt(e, CURLOPT_USERNAME, r->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
    return 0;
}

static void fail_timed_out(vg_http_req_t *r)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "no reply within %u ms (waited for a free slot)",
             (unsigned)(r->deadline_ms - r->submitted_ms));
    deliver(r, -ETIMEDOUT, 0, msg);
}

static void arm_queue_timer(vg_http_client_t *c);

/* Starts what the bounds allow, oldest first. Calls no completion callback: a request whose
 * deadline passed in the queue is left to the queue timer (armed here for now), so that
 * vg_http_request never calls back from inside. */
static void pump(vg_http_client_t *c)
{
    uint64_t now = uv_now(c->loop);
    vg_http_req_t *r = c->queued.head;
    while (r && c->active.count < c->max_in_flight) {
        vg_http_req_t *next = r->next;
        if (r->deadline_ms > now &&
            (r->key == NULL || count_key(&c->active, r->key) < c->max_per_key)) {
            list_remove(&c->queued, r);
            /* curl fails these only when memory runs out: abort, as vg_xmalloc does */
            if (req_setup_easy(r, r->deadline_ms - now) < 0 ||
                curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
                vg__assert_fail("curl could not start a request", __FILE__, __LINE__);
            r->is_active = true;
            list_push(&c->active, r);
        }
        r = next;
    }
    arm_queue_timer(c);
}

static void on_queue_timer(uv_timer_t *t)
{
    vg_http_client_t *c = t->data;
    uint64_t now = uv_now(c->loop);
    vg_http_req_t *r = c->queued.head;
    while (r && !c->is_closing) {
        vg_http_req_t *next = r->next;
        if (r->deadline_ms <= now) {
            list_remove(&c->queued, r);
            fail_timed_out(r);
            next = c->queued.head; /* the callback may have changed the queue */
        }
        r = next;
    }
    if (!c->is_closing)
        arm_queue_timer(c);
}

static void arm_queue_timer(vg_http_client_t *c)
{
    if (c->queued.head == NULL) {
        uv_timer_stop(&c->queue_timer);
        return;
    }
    uint64_t first = UINT64_MAX, now = uv_now(c->loop);
    for (vg_http_req_t *r = c->queued.head; r; r = r->next)
        if (r->deadline_ms < first)
            first = r->deadline_ms;
    uv_timer_start(&c->queue_timer, on_queue_timer, first > now ? first - now : 0, 0);
}

static void finish(vg_http_req_t *r, CURLcode code)
{
    long http_status = 0;
    char msg[CURL_ERROR_SIZE + 64];
    const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
    int status = 0;
    if (code == CURLE_OK) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http_status);
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        status = -ETIMEDOUT;
        snprintf(msg, sizeof(msg), "no reply within %u ms",
                 (unsigned)(r->deadline_ms - r->submitted_ms));
    } else if (code == CURLE_WRITE_ERROR && r->is_too_large) {
        status = -EMSGSIZE;
        snprintf(msg, sizeof(msg), "reply body over %zu bytes", r->max_body_bytes);
    } else if (code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_CONNECT ||
               code == CURLE_SSL_CONNECT_ERROR) {
        status = VG_EUNREACHABLE;
        snprintf(msg, sizeof(msg), "cannot reach the server: %s", detail);
    } else {
        status = VG_EPROTO;
        snprintf(msg, sizeof(msg), "request failed: %s", detail);
    }
    deliver(r, status, http_status, msg);
}

static void check_multi_info(vg_http_client_t *c)
{
    CURLMsg *m;
    int pending;
    bool any = false;
    while (!c->is_closing && (m = curl_multi_info_read(c->multi, &pending)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        vg_http_req_t *r = NULL;
        CURLcode code = m->data.result; /* m is invalid once the handle is removed */
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        req_unlink(r);
        finish(r, code);
        any = true;
    }
    if (any && !c->is_closing)
        pump(c);
}

/* ------------------------------------------------------------------------------------ */
/* public                                                                                */

static void timer_close_cb(uv_handle_t *h)
{
    vg_http_client_t *c = h->data;
    if (--c->open_handles == 0)
        free(c);
}

int vg_http_client_new(vg_http_client_t **out, uv_loop_t *loop, const vg_http_client_opts_t *opts)
{
    vg_http_client_opts_t o = opts ? *opts : (vg_http_client_opts_t){0};
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) /* refcounted; thread-safe since 7.84 */
        return VG_ENOMEM;
    vg_http_client_t *c = vg_xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->max_in_flight = o.max_in_flight ? o.max_in_flight : DEFAULT_MAX_IN_FLIGHT;
    c->max_per_key = o.max_per_key ? o.max_per_key : DEFAULT_MAX_PER_KEY;
    c->max_queued = o.max_queued ? o.max_queued : DEFAULT_MAX_QUEUED;
    c->default_max_body_bytes =
        o.default_max_body_bytes ? o.default_max_body_bytes : DEFAULT_MAX_BODY_BYTES;
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        free(c);
        curl_global_cleanup();
        return VG_ENOMEM;
    }
    uv_timer_init(loop, &c->curl_timer);
    uv_timer_init(loop, &c->queue_timer);
    c->curl_timer.data = c->queue_timer.data = c;
    c->open_handles = 2;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* Keep a connection per running request for reuse: cameras are few and near. */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_in_flight);
    *out = c;
    return 0;
}

void vg_http_client_free(vg_http_client_t **pc)
{
    vg_http_client_t *c = pc ? *pc : NULL;
    if (c == NULL)
        return;
    *pc = NULL;
    VG_ASSERT(!c->is_closing);
    c->is_closing = true;
    while (c->polls) /* first, while curl's sockets are still open */
        poll_close(c->polls);
    while (c->active.head) {
        vg_http_req_t *r = c->active.head;
        req_unlink(r);
        req_free(r);
    }
    while (c->queued.head) {
        vg_http_req_t *r = c->queued.head;
        req_unlink(r);
        req_free(r);
    }
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    curl_global_cleanup();
    uv_close((uv_handle_t *)&c->curl_timer, timer_close_cb);
    uv_close((uv_handle_t *)&c->queue_timer, timer_close_cb);
}

static char *dup_or_null(const char *s)
{
    return s ? vg_xstrdup(s) : NULL;
}

int vg_http_request(vg_http_client_t *c, const vg_http_request_t *rq, vg_http_done_cb done,
                    void *user, vg_http_req_t **out)
{
    if (c == NULL || c->is_closing)
        return VG_ECLOSED;
    if (rq == NULL || rq->url == NULL || done == NULL)
        return VG_EINVAL;
    if (rq->body == NULL && rq->body_len != 0)
        return VG_EINVAL;
    if (c->queued.count >= c->max_queued)
        return VG_EFULL;
    vg_http_req_t *r = vg_xcalloc(1, sizeof(*r));
    r->client = c;
    r->done = done;
    r->user_data = user;
    r->url = vg_xstrdup(rq->url);
    r->method = vg_xstrdup(rq->method ? rq->method : rq->body ? "POST" : "GET");
    r->key = dup_or_null(rq->key);
    r->user = dup_or_null(rq->user);
    r->password = dup_or_null(rq->password);
    if (rq->body) {
        r->body = vg_xmalloc(rq->body_len ? rq->body_len : 1);
        memcpy(r->body, rq->body, rq->body_len);
        r->body_len = rq->body_len;
    }
    r->max_body_bytes = rq->max_body_bytes ? rq->max_body_bytes : c->default_max_body_bytes;
    r->submitted_ms = uv_now(c->loop);
    r->deadline_ms = r->submitted_ms + (rq->timeout_ms ? rq->timeout_ms : DEFAULT_TIMEOUT_MS);
    /* curl would wait a second for "100 Continue" before sending a large body: cameras do
     * not all answer it, and a PTZ command must not wait. */
    r->headers = curl_slist_append(NULL, "Expect:");
    for (const char *const *h = rq->headers; h && *h; h++) {
        struct curl_slist *l = curl_slist_append(r->headers, *h);
        if (l == NULL) {
            req_free(r);
            return VG_ENOMEM;
        }
        r->headers = l;
    }
    if (r->headers == NULL) {
        req_free(r);
        return VG_ENOMEM;
    }
    list_push(&c->queued, r);
    if (out)
        *out = r;
    pump(c);
    return 0;
}

void vg_http_cancel(vg_http_req_t *r)
{
    if (r == NULL)
        return;
    vg_http_client_t *c = r->client;
    req_unlink(r);
    req_free(r);
    if (!c->is_closing)
        pump(c);
}

unsigned vg_http_client_in_flight(const vg_http_client_t *c, const char *key)
{
    return key ? count_key(&c->active, key) : c->active.count;
}

unsigned vg_http_client_queued(const vg_http_client_t *c, const char *key)
{
    return key ? count_key(&c->queued, key) : c->queued.count;
}
