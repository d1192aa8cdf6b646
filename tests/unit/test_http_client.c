/* net/http_client against a real HTTP server on 127.0.0.1, a libuv TCP server in this file
 * that answers by path:
 *
 *   /hello      200 "hello world" (text/plain)
 *   /echo       200 "<method>:<body>:x-test=<X-Test header>"
 *   /big        200 with 100000 bytes
 *   /slow?k=K   200 after 100 ms; counts requests of key K open at once (max per K)
 *   /never      reads the request and never answers
 *
 * and, when VG_SOURCE_ROOT is set (meson sets it), against the fake Bosch camera of
 * tests/fakes/fake_bosch.py for HTTP Digest. Every test runs its own loop to the end and
 * checks uv_loop_close() == 0.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "core/util.h"
#include "net/http_client.h"
#include "vg_test.h"

extern char **environ;

/* ------------------------------------------------------------------------------------ */
/* the test server                                                                       */

#define MAX_KEYS 4

typedef struct srv srv_t;
typedef struct conn {
    uv_tcp_t tcp;
    srv_t *srv;
    char buf[8192];
    size_t len;
    bool is_handled;
    int key; /* index of its /slow key, or -1 */
    uv_timer_t delay;
    bool has_timer;
    struct conn *prev, *next;
} conn_t;

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    conn_t *conns;
    int requests;
    char keys[MAX_KEYS][16];
    int open_per_key[MAX_KEYS];
    int max_per_key[MAX_KEYS];
    int open_all, max_all;
};

typedef struct {
    uv_write_t req;
    char *data;
} write_t;

static void conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (!c->has_timer)
        free(c);
    else
        c->has_timer = false; /* the timer's close frees it */
}

static void timer_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (!c->has_timer)
        free(c);
    else
        c->has_timer = false;
}

static void conn_close(conn_t *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    srv_t *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->key >= 0) {
        s->open_per_key[c->key]--;
        s->open_all--;
        c->key = -1;
    }
    if (c->has_timer)
        uv_close((uv_handle_t *)&c->delay, timer_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void written(uv_write_t *w, int status)
{
    write_t *wr = (write_t *)w;
    conn_close(w->data);
    free(wr->data);
    free(wr);
}

static void respond(conn_t *c, const char *ctype, const char *body, size_t body_len)
{
    write_t *wr = vg_xcalloc(1, sizeof(*wr));
    wr->data = vg_xmalloc(body_len + 256);
    int n = snprintf(wr->data, 256,
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     ctype, body_len);
    memcpy(wr->data + n, body, body_len);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)(n + body_len));
    wr->req.data = c;
    uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, written);
}

static void slow_done(uv_timer_t *t)
{
    conn_t *c = t->data;
    respond(c, "text/plain", "slow", 4);
}

static void handle(conn_t *c, const char *method, const char *path, const char *body,
                   const char *headers)
{
    srv_t *s = c->srv;
    s->requests++;
    if (strcmp(path, "/hello") == 0) {
        respond(c, "text/plain", "hello world", 11);
    } else if (strcmp(path, "/echo") == 0) {
        char out[512], xt[32] = "";
        const char *h = strstr(headers, "\r\nX-Test: ");
        if (h)
            sscanf(h + 10, "%31[^\r]", xt);
        int n = snprintf(out, sizeof(out), "%s:%s:x-test=%s", method, body, xt);
        respond(c, "text/plain", out, (size_t)n);
    } else if (strcmp(path, "/big") == 0) {
        char *big = vg_xmalloc(100000);
        memset(big, 'x', 100000);
        respond(c, "application/octet-stream", big, 100000);
        free(big);
    } else if (strncmp(path, "/slow?k=", 8) == 0) {
        int k = 0;
        while (k < MAX_KEYS && s->keys[k][0] && strcmp(s->keys[k], path + 8) != 0)
            k++;
        EXPECT_TRUE(k < MAX_KEYS);
        if (k == MAX_KEYS)
            return;
        vg_strlcpy(s->keys[k], path + 8, sizeof(s->keys[k]));
        c->key = k;
        if (++s->open_per_key[k] > s->max_per_key[k])
            s->max_per_key[k] = s->open_per_key[k];
        if (++s->open_all > s->max_all)
            s->max_all = s->open_all;
        uv_timer_init(s->loop, &c->delay);
        c->delay.data = c;
        c->has_timer = true;
        uv_timer_start(&c->delay, slow_done, 100, 0);
    } /* /never: nothing */
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    conn_t *c = h->data;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn_t *c = st->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (c->is_handled || end == NULL)
        return;
    size_t body_len = 0;
    char *cl = strstr(c->buf, "Content-Length: ");
    if (cl && cl < end)
        body_len = strtoul(cl + 16, NULL, 10);
    if (c->len < (size_t)(end + 4 - c->buf) + body_len)
        return;
    c->is_handled = true;
    char method[16] = "", path[256] = "";
    sscanf(c->buf, "%15s %255s", method, path);
    end[2] = '\0'; /* headers end with their last CRLF */
    handle(c, method, path, end + 4, c->buf);
}

static void on_connection(uv_stream_t *l, int status)
{
    srv_t *s = l->data;
    conn_t *c = vg_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->key = -1;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

static void srv_start(srv_t *s, uv_loop_t *loop)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    EXPECT_EQ(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
    EXPECT_EQ(uv_listen((uv_stream_t *)&s->listener, 64, on_connection), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_stop(srv_t *s)
{
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->listener, NULL);
}

/* ------------------------------------------------------------------------------------ */
/* helpers                                                                               */

typedef struct result {
    bool is_done;
    int status;
    long http_status;
    char body[256];
    size_t body_len;
    char ctype[64];
    char error[256];
    uint32_t elapsed_ms;
    int order; /* completion order across a test */
} result_t;

static int completions;

static void on_done(void *user, int status, const vg_http_response_t *res)
{
    result_t *r = user;
    EXPECT_TRUE(!r->is_done); /* exactly once */
    r->is_done = true;
    r->status = status;
    r->http_status = res->http_status;
    r->body_len = res->body_len;
    vg_strlcpy(r->body, res->body, sizeof(r->body));
    vg_strlcpy(r->ctype, res->content_type ? res->content_type : "", sizeof(r->ctype));
    vg_strlcpy(r->error, res->error ? res->error : "", sizeof(r->error));
    r->elapsed_ms = res->elapsed_ms;
    r->order = completions++;
}

/* Runs the loop until every result is done or max_ms passed. */
static void run_until_done(uv_loop_t *loop, result_t *rs, int n, uint64_t max_ms)
{
    uint64_t start = uv_hrtime();
    for (;;) {
        int done = 0;
        for (int i = 0; i < n; i++)
            done += rs[i].is_done;
        if (done == n || (uv_hrtime() - start) / 1000000 > max_ms)
            return;
        uv_run(loop, UV_RUN_ONCE);
    }
}

static void run_for(uv_loop_t *loop, uint64_t ms)
{
    uint64_t start = uv_hrtime();
    while ((uv_hrtime() - start) / 1000000 < ms)
        uv_run(loop, UV_RUN_NOWAIT), uv_sleep(1);
}

static void finish_loop(uv_loop_t *loop, srv_t *s, vg_http_client_t **c)
{
    vg_http_client_free(c);
    if (s)
        srv_stop(s);
    uv_run(loop, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(loop), 0);
}

/* A loop, the test server on it, and a client with opts (NULL: defaults). */
static vg_http_client_t *setup(uv_loop_t *loop, srv_t *s, const vg_http_client_opts_t *opts)
{
    uv_loop_init(loop);
    srv_start(s, loop);
    vg_http_client_t *c = NULL;
    EXPECT_EQ(vg_http_client_new(&c, loop, opts), 0);
    return c;
}

/* One static buffer: a request copies its URL, so build each just before submitting it. */
static char *url(const srv_t *s, const char *path)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "http://127.0.0.1:%d%s", s->port, path);
    return buf;
}

/* ------------------------------------------------------------------------------------ */

VG_TEST(get_with_body)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, NULL);
    result_t r = {0};
    EXPECT_EQ(vg_http_request(c, &(vg_http_request_t){.url = url(&s, "/hello")}, on_done, &r,
                              NULL),
              0);
    EXPECT_TRUE(!r.is_done); /* never from inside the call */
    run_until_done(&loop, &r, 1, 5000);
    EXPECT_TRUE(r.is_done);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.http_status, 200);
    EXPECT_STREQ(r.body, "hello world");
    EXPECT_EQ(r.body_len, 11);
    EXPECT_STREQ(r.ctype, "text/plain");
    EXPECT_STREQ(r.error, "");
    EXPECT_EQ(vg_http_client_in_flight(c, NULL), 0);
    finish_loop(&loop, &s, &c);
}

VG_TEST(post_with_headers)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, NULL);
    const char *headers[] = {"X-Test: yes", "Content-Type: application/soap+xml", NULL};
    char body[] = "<a>1</a>";
    result_t r[2] = {0};
    vg_http_request_t rq = {.url = url(&s, "/echo"), .headers = headers, .body = body,
                            .body_len = strlen(body)};
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r[0], NULL), 0);
    memset(body, '#', strlen(body)); /* the client copied it */
    rq.method = "PUT";
    rq.body = "z";
    rq.body_len = 1;
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r[1], NULL), 0);
    run_until_done(&loop, r, 2, 5000);
    EXPECT_EQ(r[0].status, 0);
    EXPECT_STREQ(r[0].body, "POST:<a>1</a>:x-test=yes");
    EXPECT_EQ(r[1].status, 0);
    EXPECT_STREQ(r[1].body, "PUT:z:x-test=yes");
    finish_loop(&loop, &s, &c);
}

VG_TEST(timeout_against_a_silent_server)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, NULL);
    result_t r = {0};
    vg_http_request_t rq = {.url = url(&s, "/never"), .timeout_ms = 200};
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r, NULL), 0);
    uint64_t t0 = uv_hrtime();
    run_until_done(&loop, &r, 1, 5000);
    uint64_t took_ms = (uv_hrtime() - t0) / 1000000;
    EXPECT_EQ(r.status, -ETIMEDOUT);
    EXPECT_EQ(r.http_status, 0);
    EXPECT_STREQ(r.error, "no reply within 200 ms");
    EXPECT_TRUE(took_ms >= 190 && took_ms < 1000);
    EXPECT_EQ(s.requests, 1); /* it did reach the server */
    finish_loop(&loop, &s, &c);
}

VG_TEST(body_cap)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, &(vg_http_client_opts_t){.default_max_body_bytes = 10000});
    result_t r[2] = {0};
    EXPECT_EQ(vg_http_request(c, &(vg_http_request_t){.url = url(&s, "/big")}, on_done, &r[0],
                              NULL),
              0);
    vg_http_request_t roomy = {.url = url(&s, "/big"), .max_body_bytes = 100000};
    EXPECT_EQ(vg_http_request(c, &roomy, on_done, &r[1], NULL), 0);
    run_until_done(&loop, r, 2, 5000);
    EXPECT_EQ(r[0].status, -EMSGSIZE);
    EXPECT_STREQ(r[0].error, "reply body over 10000 bytes");
    EXPECT_EQ(r[1].status, 0); /* exactly at the cap is fine */
    EXPECT_EQ(r[1].body_len, 100000);
    finish_loop(&loop, &s, &c);
}

VG_TEST(unreachable)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    vg_http_client_t *c = NULL;
    EXPECT_EQ(vg_http_client_new(&c, &loop, NULL), 0);
    /* a port nobody listens on: bind one, read it, close it */
    uv_tcp_t t;
    uv_tcp_init(&loop, &t);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    uv_close((uv_handle_t *)&t, NULL);
    result_t r[2] = {0};
    EXPECT_EQ(vg_http_request(c, &(vg_http_request_t){.url = u}, on_done, &r[0], NULL), 0);
    EXPECT_EQ(vg_http_request(c, &(vg_http_request_t){.url = "ftp://127.0.0.1/"}, on_done, &r[1],
                              NULL),
              0);
    run_until_done(&loop, r, 2, 5000);
    EXPECT_EQ(r[0].status, VG_EUNREACHABLE);
    EXPECT_TRUE(strstr(r[0].error, "cannot reach the server") != NULL);
    EXPECT_EQ(r[1].status, VG_EPROTO); /* not http(s): refused by curl, not fetched */
    EXPECT_TRUE(r[1].error[0] != '\0');
    EXPECT_EQ(vg_http_request(c, &(vg_http_request_t){.url = NULL}, on_done, &r[0], NULL),
              VG_EINVAL);
    finish_loop(&loop, NULL, &c);
}

VG_TEST(per_key_bound_and_fifo)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, &(vg_http_client_opts_t){.max_per_key = 2});
    result_t a[6] = {0}, b[2] = {0};
    completions = 0;
    for (int i = 0; i < 6; i++) {
        vg_http_request_t rq = {.url = url(&s, "/slow?k=cam-a"), .key = "cam-a"};
        EXPECT_EQ(vg_http_request(c, &rq, on_done, &a[i], NULL), 0);
    }
    for (int i = 0; i < 2; i++) {
        vg_http_request_t rq = {.url = url(&s, "/slow?k=cam-b"), .key = "cam-b"};
        EXPECT_EQ(vg_http_request(c, &rq, on_done, &b[i], NULL), 0);
    }
    EXPECT_EQ(vg_http_client_in_flight(c, "cam-a"), 2);
    EXPECT_EQ(vg_http_client_queued(c, "cam-a"), 4);
    EXPECT_EQ(vg_http_client_in_flight(c, "cam-b"), 2); /* cam-a's queue does not hold it up */
    run_until_done(&loop, a, 6, 5000);
    run_until_done(&loop, b, 2, 5000);
    int ka = strcmp(s.keys[0], "cam-a") == 0 ? 0 : 1;
    EXPECT_EQ(s.max_per_key[ka], 2);     /* measured at the server */
    EXPECT_EQ(s.max_per_key[1 - ka], 2);
    EXPECT_EQ(s.max_all, 4);
    for (int i = 0; i < 6; i++) {
        EXPECT_EQ(a[i].status, 0);
        EXPECT_STREQ(a[i].body, "slow");
        if (i >= 2) /* FIFO within the key: a later one never finishes first */
            EXPECT_TRUE(a[i].order > a[i - 2].order);
    }
    /* three rounds of 100 ms for cam-a: the queue really waited */
    EXPECT_TRUE(a[5].elapsed_ms >= 280);
    finish_loop(&loop, &s, &c);
}

VG_TEST(overall_bound)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, &(vg_http_client_opts_t){.max_in_flight = 3});
    result_t r[7] = {0};
    for (int i = 0; i < 7; i++) {
        char k[16];
        snprintf(k, sizeof(k), "/slow?k=k%d", i % 3); /* three keys on the server side */
        EXPECT_EQ(vg_http_request(c, &(vg_http_request_t){.url = url(&s, k)}, on_done, &r[i],
                                  NULL),
                  0);
    }
    EXPECT_EQ(vg_http_client_in_flight(c, NULL), 3);
    EXPECT_EQ(vg_http_client_queued(c, NULL), 4);
    run_until_done(&loop, r, 7, 5000);
    EXPECT_EQ(s.max_all, 3);
    for (int i = 0; i < 7; i++)
        EXPECT_EQ(r[i].status, 0);
    finish_loop(&loop, &s, &c);
}

VG_TEST(queue_full)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, &(vg_http_client_opts_t){.max_per_key = 1, .max_queued = 2});
    result_t r[4] = {0};
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(vg_http_request(c, &(vg_http_request_t){.url = url(&s, "/hello"), .key = "k"},
                                  on_done, &r[i], NULL),
                  0);
    EXPECT_EQ(vg_http_request(c, &(vg_http_request_t){.url = url(&s, "/hello"), .key = "k"},
                              on_done, &r[3], NULL),
              VG_EFULL);
    run_until_done(&loop, r, 3, 5000);
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(r[i].status, 0);
    EXPECT_TRUE(!r[3].is_done);
    finish_loop(&loop, &s, &c);
}

VG_TEST(deadline_counts_the_wait_in_the_queue)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, &(vg_http_client_opts_t){.max_per_key = 1});
    result_t r[2] = {0};
    completions = 0;
    vg_http_request_t hang = {.url = url(&s, "/never"), .key = "cam", .timeout_ms = 1000};
    EXPECT_EQ(vg_http_request(c, &hang, on_done, &r[0], NULL), 0);
    vg_http_request_t brief = {.url = url(&s, "/hello"), .key = "cam", .timeout_ms = 100};
    EXPECT_EQ(vg_http_request(c, &brief, on_done, &r[1], NULL), 0);
    run_until_done(&loop, &r[1], 1, 5000);
    EXPECT_EQ(r[1].status, -ETIMEDOUT);
    EXPECT_TRUE(r[1].elapsed_ms >= 95 && r[1].elapsed_ms < 600); /* not after the first */
    EXPECT_TRUE(strstr(r[1].error, "waited for a free slot") != NULL);
    EXPECT_TRUE(!r[0].is_done);
    run_until_done(&loop, r, 2, 5000);
    EXPECT_EQ(r[0].status, -ETIMEDOUT);
    EXPECT_EQ(s.requests, 1); /* the one that timed out in the queue was never sent */
    finish_loop(&loop, &s, &c);
}

typedef struct cancel_ctx {
    vg_http_req_t *req;
    uv_timer_t t;
} cancel_ctx_t;

static void cancel_later(uv_timer_t *t)
{
    cancel_ctx_t *x = t->data;
    vg_http_cancel(x->req);
    uv_close((uv_handle_t *)t, NULL);
}

VG_TEST(cancel_in_flight_and_queued)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, &(vg_http_client_opts_t){.max_per_key = 1});
    result_t r[3] = {0};
    vg_http_req_t *hang = NULL, *queued = NULL;
    vg_http_request_t rq = {.url = url(&s, "/never"), .key = "cam", .timeout_ms = 3000};
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r[0], &hang), 0);
    rq.url = url(&s, "/hello");
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r[1], &queued), 0);
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r[2], NULL), 0);
    vg_http_cancel(queued); /* queued: gone at once */
    EXPECT_EQ(vg_http_client_queued(c, "cam"), 1);
    cancel_ctx_t x = {.req = hang};
    uv_timer_init(&loop, &x.t);
    x.t.data = &x;
    uv_timer_start(&x.t, cancel_later, 100, 0); /* in flight, at the server */
    uint64_t t0 = uv_hrtime();
    run_until_done(&loop, &r[2], 1, 5000);
    EXPECT_TRUE((uv_hrtime() - t0) / 1000000 < 1000); /* freed the slot: not the 3 s time-out */
    EXPECT_EQ(r[2].status, 0);
    run_for(&loop, 50);
    EXPECT_TRUE(!r[0].is_done && !r[1].is_done);
    EXPECT_EQ(s.requests, 2); /* /never and the last /hello */
    finish_loop(&loop, &s, &c);
}

VG_TEST(free_with_requests_in_flight)
{
    uv_loop_t loop;
    srv_t s;
    vg_http_client_t *c = setup(&loop, &s, &(vg_http_client_opts_t){.max_per_key = 2});
    result_t r[5] = {0};
    for (int i = 0; i < 5; i++)
        EXPECT_EQ(vg_http_request(c,
                                  &(vg_http_request_t){.url = url(&s, "/never"), .key = "cam",
                                                       .user = "u", .password = "p"},
                                  on_done, &r[i], NULL),
                  0);
    run_for(&loop, 100);
    EXPECT_EQ(s.requests, 2);
    EXPECT_EQ(vg_http_client_queued(c, NULL), 3);
    vg_http_client_free(&c);
    EXPECT_TRUE(c == NULL);
    run_for(&loop, 50);
    for (int i = 0; i < 5; i++)
        EXPECT_TRUE(!r[i].is_done);
    finish_loop(&loop, &s, &c);
}

typedef struct free_in_cb {
    vg_http_client_t *c;
    result_t r;
} free_in_cb_t;

static void free_from_callback(void *user, int status, const vg_http_response_t *res)
{
    free_in_cb_t *x = user;
    on_done(&x->r, status, res);
    vg_http_client_free(&x->c);
}

VG_TEST(free_from_a_callback)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s;
    srv_start(&s, &loop);
    free_in_cb_t x = {0};
    EXPECT_EQ(vg_http_client_new(&x.c, &loop, NULL), 0);
    result_t other[2] = {0};
    EXPECT_EQ(vg_http_request(x.c, &(vg_http_request_t){.url = url(&s, "/never")}, on_done,
                              &other[0], NULL),
              0);
    EXPECT_EQ(vg_http_request(x.c, &(vg_http_request_t){.url = url(&s, "/hello")},
                              free_from_callback, &x, NULL),
              0);
    EXPECT_EQ(vg_http_request(x.c, &(vg_http_request_t){.url = url(&s, "/never")}, on_done,
                              &other[1], NULL),
              0);
    run_until_done(&loop, &x.r, 1, 5000);
    EXPECT_EQ(x.r.status, 0);
    EXPECT_TRUE(x.c == NULL);
    run_for(&loop, 50);
    EXPECT_TRUE(!other[0].is_done && !other[1].is_done);
    finish_loop(&loop, &s, &x.c);
}

/* HTTP Digest against the fake Bosch camera (tests/fakes/fake_bosch.py), run as a child. */
VG_TEST(digest_against_fake_bosch)
{
    const char *root = getenv("VG_SOURCE_ROOT");
    if (root == NULL) {
        printf("skip: VG_SOURCE_ROOT unset (meson sets it): no fake camera to talk to\n");
        return;
    }
    char script[1024];
    snprintf(script, sizeof(script), "%s/tests/fakes/fake_bosch.py", root);
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    char *argv[] = {"/usr/bin/python3", script, "--port", "0", "--user", "user", "--password",
                    "pw 1", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    EXPECT_EQ(rc, 0);
    if (rc != 0)
        return;
    char line[256] = "";
    FILE *f = fdopen(out[0], "r");
    EXPECT_TRUE(fgets(line, sizeof(line), f) != NULL); /* "fake-bosch listening on URL ..." */
    char base[128] = "";
    sscanf(line, "fake-bosch listening on %127s", base);
    EXPECT_TRUE(strncmp(base, "http://127.0.0.1:", 17) == 0);

    uv_loop_t loop;
    uv_loop_init(&loop);
    vg_http_client_t *c = NULL;
    EXPECT_EQ(vg_http_client_new(&c, &loop, NULL), 0);
    char u[512];
    snprintf(u, sizeof(u), "%s?command=0x09A5&type=P_OCTET&direction=WRITE&num=1"
             "&payload=0x800006011085080000", base);
    result_t r[3] = {0};
    vg_http_request_t rq = {.url = u, .user = "user", .password = "pw 1", .key = "bosch"};
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r[0], NULL), 0);
    rq.password = "wrong";
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r[1], NULL), 0);
    rq.user = rq.password = NULL;
    EXPECT_EQ(vg_http_request(c, &rq, on_done, &r[2], NULL), 0);
    run_until_done(&loop, r, 3, 10000);
    EXPECT_EQ(r[0].status, 0);
    EXPECT_EQ(r[0].http_status, 200);
    EXPECT_TRUE(strstr(r[0].body, "<auth>1</auth>") != NULL);
    EXPECT_TRUE(strstr(r[0].body, "<err>") == NULL);
    EXPECT_EQ(r[1].status, 0);
    EXPECT_EQ(r[1].http_status, 401);
    EXPECT_EQ(r[2].http_status, 401);
    finish_loop(&loop, NULL, &c);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(f);
}
