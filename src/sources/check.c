#define _GNU_SOURCE
/* check: a look at a camera without starting its source (issue 13) — a TCP connect to its
 * host:port, or that plus an RTSP OPTIONS / HTTP HEAD whose status line is read.
 *
 * Why on the loop and not on a thread or libcurl: the whole exchange is one connect, one
 * small write and one line read, which libuv does without blocking and with nothing to join;
 * a uv pool job would hold one of the pool's four threads for up to the time-out per camera
 * (STYLE §7: "never a blocking camera read" there). libcurl could send both (it speaks RTSP
 * OPTIONS too), but its multi interface needs a socket/timer bridge to libuv that vigil does
 * not have yet (TODO: use it once one exists, e.g. for HTTPS HEAD); for one status line that
 * is more machinery than the exchange. A HEAD needs only the status line too, so it shares
 * the code; https and
 * rtsps get a TCP connect only (reachability, not a TLS handshake). A timer bounds every
 * check. Host names are resolved on a detached thread of their own per lookup (at most
 * MAX_LOOKUPS at once), polled by a timer, not on the uv pool: a camera whose DNS hangs
 * would hold a pool thread (and the loop's shutdown) for the resolver's whole time-out
 * (test_sources.py's stuck-DNS case). Not glibc's getaddrinfo_a either: it starts its helper
 * thread inside libc, which ThreadSanitizer does not see, and a TSan build crashed on the
 * first host name. A lookup still running when its check ends is abandoned: whichever of the
 * loop and the thread comes second frees it. IP literals are not resolved at all. The request carries the URL without its credentials (url_redacted): a
 * 401 answer still proves the camera is there.
 *
 * Threads: loop only.
 */
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/util.h"
#include "sources/source.h"

struct vg_check {
    struct lookup *gai; /* a name lookup in flight, or NULL */
    uv_timer_t gai_poll;
    uv_connect_t connect;
    uv_write_t write;
    uv_tcp_t tcp;
    uv_timer_t timer;
    vg_check_depth_t depth;
    vg_check_cb cb;
    void *arg;
    int timeout_ms;
    bool is_rtsp;
    bool is_done;       /* answered, timed out or cancelled: cb will not run (again) */
    bool has_tcp;
    int handles_open;
    char host[256], port[8];
    int port_no;
    char request[768];
    char answer[256];
    size_t answer_len;
};

/* ---- name lookups on threads of their own ----
 *
 * state: RUNNING until the thread has its answer (DONE), or the loop gave up (ABANDONED).
 * The one to move it second frees the lookup: the thread when it was abandoned, the loop
 * when it was done. */
#define MAX_LOOKUPS 16
enum { LOOKUP_RUNNING, LOOKUP_DONE, LOOKUP_ABANDONED };

typedef struct lookup {
    atomic_int state;
    char host[256], port[8];
    struct addrinfo *result; /* the thread's until DONE */
    int rc;
} lookup_t;

static atomic_int lookups_running; /* any thread: bounds the threads a DNS outage can pile up */

static void lookup_free(lookup_t *l)
{
    if (l->result)
        freeaddrinfo(l->result);
    free(l);
}

static void *lookup_thread(void *arg)
{
    lookup_t *l = arg;
    static const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    l->rc = getaddrinfo(l->host, l->port, &hints, &l->result);
    atomic_fetch_sub(&lookups_running, 1);
    if (atomic_exchange(&l->state, LOOKUP_DONE) == LOOKUP_ABANDONED)
        lookup_free(l);
    return NULL;
}

/* A lookup started, or NULL (too many already running, or no thread). */
static lookup_t *lookup_start(const char *host, const char *port)
{
    if (atomic_fetch_add(&lookups_running, 1) >= MAX_LOOKUPS) {
        atomic_fetch_sub(&lookups_running, 1);
        return NULL;
    }
    lookup_t *l = vg_xcalloc(1, sizeof(*l));
    vg_strlcpy(l->host, host, sizeof(l->host));
    vg_strlcpy(l->port, port, sizeof(l->port));
    atomic_init(&l->state, LOOKUP_RUNNING);
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&th, &attr, lookup_thread, l);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_fetch_sub(&lookups_running, 1);
        free(l);
        return NULL;
    }
    return l;
}

static void lookup_abandon(lookup_t *l)
{
    if (atomic_exchange(&l->state, LOOKUP_ABANDONED) == LOOKUP_DONE)
        lookup_free(l);
}

static void check_maybe_free(vg_check_t *c)
{
    if (c->handles_open == 0)
        free(c);
}

static void on_closed(uv_handle_t *h)
{
    vg_check_t *c = h->data;
    c->handles_open--;
    check_maybe_free(c);
}

static void close_all(vg_check_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_closed);
    if (c->has_tcp && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    if (!uv_is_closing((uv_handle_t *)&c->gai_poll))
        uv_close((uv_handle_t *)&c->gai_poll, on_closed);
    if (c->gai != NULL) {
        lookup_abandon(c->gai);
        c->gai = NULL;
    }
}

static void finish(vg_check_t *c, bool is_reachable, const char *reason)
{
    if (c->is_done)
        return;
    c->is_done = true;
    vg_check_result_t r = {.is_reachable = is_reachable};
    vg_strlcpy(r.reason, reason, sizeof(r.reason));
    close_all(c);
    c->cb(c->arg, &r);
}

static void on_timeout(uv_timer_t *t)
{
    vg_check_t *c = t->data;
    char reason[64];
    snprintf(reason, sizeof(reason), "no answer within %d s", (c->timeout_ms + 999) / 1000);
    finish(c, false, reason);
}

/* The status line is in: "RTSP/1.0 200 OK" or "HTTP/1.1 401 Unauthorized". */
static void on_status_line(vg_check_t *c, const char *line)
{
    const char *proto = c->is_rtsp ? "RTSP/" : "HTTP/";
    int code = 0;
    const char *sp = strchr(line, ' ');
    if (strncmp(line, proto, 5) != 0 || sp == NULL || sscanf(sp, " %3d", &code) != 1) {
        char reason[128];
        snprintf(reason, sizeof(reason), "answers, but not in %.4s", proto);
        finish(c, false, reason);
        return;
    }
    char reason[128] = "";
    if (code < 200 || code > 299)
        snprintf(reason, sizeof(reason), "%.4s %.100s", proto, sp + 1);
    finish(c, true, reason);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    vg_check_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->answer + c->answer_len, (unsigned)(sizeof(c->answer) - 1 -
                                                              c->answer_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    vg_check_t *c = s->data;
    (void)buf;
    if (c->is_done)
        return;
    if (n < 0) {
        finish(c, false, n == UV_EOF ? "closed the connection without an answer" : uv_strerror((int)n));
        return;
    }
    c->answer_len += (size_t)n;
    c->answer[c->answer_len] = '\0';
    char *eol = strstr(c->answer, "\r\n");
    if (eol == NULL && c->answer_len + 1 < sizeof(c->answer))
        return; /* more to come */
    if (eol)
        *eol = '\0';
    on_status_line(c, c->answer);
}

static void on_written(uv_write_t *w, int status)
{
    vg_check_t *c = w->data;
    if (status < 0 && !c->is_done)
        finish(c, false, uv_strerror(status));
}

static void on_connect(uv_connect_t *req, int status)
{
    vg_check_t *c = req->data;
    if (c->is_done)
        return;
    if (status < 0) {
        finish(c, false, uv_strerror(status));
        return;
    }
    /* A connect to a free port in the ephemeral range can be given that very port as its own
     * and "succeed" with itself (TCP simultaneous open): nobody is there. */
    struct sockaddr_storage me, peer;
    int me_len = sizeof(me), peer_len = sizeof(peer);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&me, &me_len) == 0 &&
        uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &peer_len) == 0 &&
        me_len == peer_len && memcmp(&me, &peer, (size_t)me_len) == 0) {
        finish(c, false, "connection refused (connected to itself)");
        return;
    }
    if (c->depth == VG_CHECK_CONNECT) {
        finish(c, true, "");
        return;
    }
    uv_buf_t b = uv_buf_init(c->request, (unsigned)strlen(c->request));
    c->write.data = c;
    int rc = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        finish(c, false, uv_strerror(rc));
}

static void connect_to(vg_check_t *c, uv_loop_t *loop, const struct sockaddr *addr)
{
    int rc = uv_tcp_init(loop, &c->tcp);
    if (rc < 0) {
        finish(c, false, uv_strerror(rc));
        return;
    }
    c->tcp.data = c;
    c->has_tcp = true;
    c->handles_open++;
    c->connect.data = c;
    rc = uv_tcp_connect(&c->connect, &c->tcp, addr, on_connect);
    if (rc < 0)
        finish(c, false, uv_strerror(rc));
}

static void on_gai_poll(uv_timer_t *t)
{
    vg_check_t *c = t->data;
    if (c->is_done || atomic_load(&c->gai->state) != LOOKUP_DONE)
        return;
    uv_timer_stop(&c->gai_poll);
    lookup_t *l = c->gai;
    c->gai = NULL;
    if (l->rc != 0 || l->result == NULL) {
        char reason[128];
        snprintf(reason, sizeof(reason), "cannot resolve %.64s: %s", c->host,
                 l->rc ? gai_strerror(l->rc) : "no address");
        finish(c, false, reason);
    } else {
        connect_to(c, t->loop, l->result->ai_addr);
    }
    lookup_free(l);
}

static void on_begin(uv_timer_t *t)
{
    vg_check_t *c = t->data;
    uv_loop_t *loop = t->loop;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)c->timeout_ms, 0);
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } addr;
    if (uv_ip4_addr(c->host, c->port_no, &addr.v4) == 0 ||
        uv_ip6_addr(c->host, c->port_no, &addr.v6) == 0) {
        connect_to(c, loop, (const struct sockaddr *)&addr);
        return;
    }
    lookup_t *l = lookup_start(c->host, c->port);
    if (l == NULL) {
        finish(c, false, "too many name lookups waiting (DNS unavailable?)");
        return;
    }
    c->gai = l;
    uv_timer_start(&c->gai_poll, on_gai_poll, 10, 10);
}

/* Splits scheme://[userinfo@]host[:port]/path of an URL without credentials. */
static bool parse_url(vg_check_t *c, const char *url, bool *is_tls, const char **path)
{
    int port;
    const char *rest;
    if (strncmp(url, "rtsp://", 7) == 0) {
        c->is_rtsp = true, *is_tls = false, port = 554, rest = url + 7;
    } else if (strncmp(url, "rtsps://", 8) == 0) {
        c->is_rtsp = true, *is_tls = true, port = 322, rest = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        c->is_rtsp = false, *is_tls = false, port = 80, rest = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        c->is_rtsp = false, *is_tls = true, port = 443, rest = url + 8;
    } else {
        return false; /* file, v4l2, test: nothing on the network */
    }
    size_t auth_len = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', auth_len);
    if (at) {
        auth_len -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    *path = rest + auth_len;
    const char *host = rest, *host_end;
    if (*host == '[') { /* [v6]:port */
        host_end = memchr(host, ']', auth_len);
        if (host_end == NULL)
            return false;
        host++;
    } else {
        host_end = memchr(host, ':', auth_len);
        if (host_end == NULL)
            host_end = rest + auth_len;
    }
    const char *colon = memchr(host_end, ':', (size_t)(rest + auth_len - host_end));
    if (colon && sscanf(colon + 1, "%5d", &port) != 1)
        return false;
    size_t n = (size_t)(host_end - host);
    if (n == 0 || n >= sizeof(c->host) || port <= 0 || port > 65535)
        return false;
    memcpy(c->host, host, n);
    c->host[n] = '\0';
    snprintf(c->port, sizeof(c->port), "%d", port);
    c->port_no = port;
    return true;
}

vg_check_t *vg__source_check_start(uv_loop_t *loop, const char *url, vg_check_depth_t depth,
                                   int timeout_ms, vg_check_cb cb, void *arg)
{
    vg_check_t *c = vg_xcalloc(1, sizeof(*c));
    bool is_tls;
    const char *path;
    if (!parse_url(c, url, &is_tls, &path)) {
        free(c);
        return NULL;
    }
    c->depth = is_tls ? VG_CHECK_CONNECT : depth;
    c->cb = cb;
    c->arg = arg;
    c->timeout_ms = timeout_ms;
    if (c->is_rtsp) /* RFC 2326 §10.1: OPTIONS needs no session and, usually, no credentials */
        snprintf(c->request, sizeof(c->request),
                 "OPTIONS %.600s RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: vigil\r\n\r\n", url);
    else
        snprintf(c->request, sizeof(c->request),
                 "HEAD %.400s HTTP/1.1\r\nHost: %.255s:%.7s\r\nUser-Agent: vigil\r\n"
                 "Connection: close\r\n\r\n",
                 *path ? path : "/", c->host, c->port);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open++;
    uv_timer_init(loop, &c->gai_poll);
    c->gai_poll.data = c;
    c->handles_open++;
    /* The work begins on the next loop turn, so that cb never runs before this returns. */
    uv_timer_start(&c->timer, on_begin, 0, 0);
    return c;
}

void vg__source_check_cancel(vg_check_t *c)
{
    if (c == NULL || c->is_done)
        return;
    c->is_done = true;
    close_all(c);
}
