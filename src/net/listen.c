/* listen: vigil's listening socket, ahead of libwebsockets.
 *
 * Why not libwebsockets' own listener: libwebsockets 4.1 gives every accepted connection one
 * of its header slots ("ah", max_http_header_pool) at once and keeps it until the request
 * header is complete or timeout_secs_ah_idle passes; a connection that finds the pool full
 * waits, first come first served, with no time-out of its own. So 300 connections that sent
 * nothing made /healthz wait 9 s, and 3,000 locked every new client out (issue 12).
 *
 * Here the loop accepts, counts connections per peer address and refuses those over the cap,
 * and hands a connection to libwebsockets (lws_adopt_socket_vhost) only once it has sent its
 * first bytes: a silent connection costs a socket and a small record, never a header slot.
 * Every connection must complete its first request header within header_timeout_ms of being
 * accepted (TLS handshake included) or it is closed; libwebsockets' timeout_secs_ah_idle
 * applies the same limit to each later request on a kept-alive connection.
 *
 * Threat model: one address can hold at most max_conns_per_ip sockets; many addresses
 * together can hold header slots only for header_timeout_ms each. Loop thread only.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/server_int.h"

#define SWEEP_MS 250
#define ACCEPTS_PER_WAKEUP 128 /* then let the loop serve the others */

struct vg__peer {
    vg__peer_t *next;
    int count; /* open sockets from this address */
    uint8_t len;
    uint8_t addr[16];
};

/* ---- per-address counts ---- */

static size_t addr_key(const struct sockaddr_storage *sa, const uint8_t **bytes)
{
    if (sa->ss_family == AF_INET6) {
        *bytes = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        return 16;
    }
    *bytes = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr.s_addr;
    return 4;
}

static vg__peer_t **peer_bucket(vg_server_t *s, const uint8_t *addr, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ addr[i]) * 16777619u;
    return &s->peers[h % PEER_BUCKETS];
}

static vg__peer_t *peer_get(vg_server_t *s, const struct sockaddr_storage *sa)
{
    const uint8_t *addr;
    size_t len = addr_key(sa, &addr);
    vg__peer_t **b = peer_bucket(s, addr, len);
    for (vg__peer_t *p = *b; p; p = p->next) {
        if (p->len == len && memcmp(p->addr, addr, len) == 0)
            return p;
    }
    vg__peer_t *p = vg_xcalloc(1, sizeof(*p));
    p->len = (uint8_t)len;
    memcpy(p->addr, addr, len);
    p->next = *b;
    *b = p;
    return p;
}

static void peer_put(vg_server_t *s, vg__peer_t *peer)
{
    if (peer == NULL || --peer->count > 0)
        return;
    for (vg__peer_t **b = peer_bucket(s, peer->addr, peer->len); *b; b = &(*b)->next) {
        if (*b == peer) {
            *b = peer->next;
            free(peer);
            return;
        }
    }
}

/* ---- connection records ---- */

static void waiting_unlink(vg__sock_t *k)
{
    vg_server_t *s = k->srv;
    if (!k->is_waiting)
        return;
    k->is_waiting = false;
    if (k->prev)
        k->prev->next = k->next;
    else
        s->waiting = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        s->waiting_tail = k->prev;
    k->prev = k->next = NULL;
}

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

static void sock_stop_poll(vg__sock_t *k)
{
    if (k->poll == NULL)
        return;
    uv_close((uv_handle_t *)k->poll, on_poll_closed); /* the fd stays open */
    k->poll = NULL;
}

static void sock_free(vg__sock_t *k)
{
    waiting_unlink(k);
    sock_stop_poll(k);
    peer_put(k->srv, k->peer);
    free(k);
}

/* Closes a connection libwebsockets never had. */
static void sock_close_unadopted(vg__sock_t *k)
{
    int fd = k->fd;
    sock_free(k);
    close(fd); /* after its poll handle stopped watching it */
}

vg__sock_t *vg__sock_of(struct lws *wsi)
{
    return lws_get_opaque_user_data(wsi);
}

void vg__sock_header_done(struct lws *wsi)
{
    vg__sock_t *k = vg__sock_of(wsi);
    if (k)
        waiting_unlink(k);
}

void vg__sock_destroyed(struct lws *wsi)
{
    vg__sock_t *k = vg__sock_of(wsi);
    if (k == NULL)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    sock_free(k);
}

/* The connection has bytes to read (or has closed): libwebsockets takes it from here. */
static void on_first_bytes(uv_poll_t *h, int status, int events)
{
    vg__sock_t *k = h->data;
    vg_server_t *s = k->srv;
    char b;
    ssize_t n = recv(k->fd, &b, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) && status == 0)
        return;
    if (n <= 0) { /* gone before it said anything */
        sock_close_unadopted(k);
        return;
    }
    sock_stop_poll(k); /* libwebsockets polls the fd from now on */
    struct lws *wsi = lws_adopt_socket_vhost(s->vhost, k->fd);
    if (wsi == NULL) { /* libwebsockets closed the fd */
        VG_LOG_WARN("http", "libwebsockets refused a connection (out of memory or fds?)");
        sock_free(k);
        return;
    }
    k->wsi = wsi;
    lws_set_opaque_user_data(wsi, k);
}

static void accept_one(vg_server_t *s, int fd, const struct sockaddr_storage *sa)
{
    vg__peer_t *peer = peer_get(s, sa);
    if (s->max_conns_per_ip > 0 && peer->count >= s->max_conns_per_ip) {
        s->refused_over_cap++;
        uint64_t now = uv_now(s->cfg.loop);
        if (now - s->last_cap_log_ms >= 10000 || s->last_cap_log_ms == 0) {
            char ip[INET6_ADDRSTRLEN] = "?";
            getnameinfo((const struct sockaddr *)sa, sizeof(*sa), ip, sizeof(ip), NULL, 0,
                        NI_NUMERICHOST);
            VG_LOG_WARN("http", "peer=%s connection refused: over the per-address limit of %d "
                        "(%llu refused so far; --max-conns-per-ip)", ip, s->max_conns_per_ip,
                        (unsigned long long)s->refused_over_cap);
            s->last_cap_log_ms = now;
        }
        close(fd);
        return;
    }
    peer->count++;
    vg__sock_t *k = vg_xcalloc(1, sizeof(*k));
    k->srv = s;
    k->fd = fd;
    k->peer = peer;
    k->deadline_ms = uv_now(s->cfg.loop) + s->header_timeout_ms;
    k->is_waiting = true;
    k->prev = s->waiting_tail;
    if (k->prev)
        k->prev->next = k;
    else
        s->waiting = k;
    s->waiting_tail = k;
    k->poll = vg_xmalloc(sizeof(*k->poll));
    int rc = uv_poll_init_socket(s->cfg.loop, k->poll, fd);
    if (rc < 0) {
        free(k->poll);
        k->poll = NULL;
        sock_close_unadopted(k);
        return;
    }
    k->poll->data = k;
    uv_poll_start(k->poll, UV_READABLE | UV_DISCONNECT, on_first_bytes);
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
    vg_server_t *s = lws_container_of(h, vg_server_t, listen_poll);
    for (int i = 0; i < ACCEPTS_PER_WAKEUP && !s->is_shutting_down; i++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof(sa);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            /* Headers and body leave in separate writes; with Nagle the second waits for
             * the client's delayed ACK, which costs every request after the first on a
             * kept-alive socket about 40 ms (measured). Nothing here benefits from
             * coalescing small writes: frames are written whole. */
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            accept_one(s, fd, &sa);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The kernel keeps the connection queued; stop asking until the next sweep
             * instead of spinning on a listener that stays readable. */
            VG_LOG_WARN("http", "cannot accept: %s; pausing new connections", strerror(errno));
            uv_poll_stop(&s->listen_poll);
            s->is_accept_paused = true;
        }
        break; /* EAGAIN, or an aborted connection: the next wake-up continues */
    }
}

static void on_sweep(uv_timer_t *t)
{
    vg_server_t *s = lws_container_of(t, vg_server_t, sweep_timer);
    uint64_t now = uv_now(s->cfg.loop);
    while (s->waiting && s->waiting->deadline_ms <= now) {
        vg__sock_t *k = s->waiting;
        s->header_timeouts++;
        if (k->wsi == NULL) {
            sock_close_unadopted(k);
        } else {
            waiting_unlink(k);
            lws_set_timeout(k->wsi, PENDING_TIMEOUT_HOLDING_AH, LWS_TO_KILL_ASYNC);
        }
    }
    if (s->is_accept_paused && !s->is_shutting_down) {
        s->is_accept_paused = false;
        uv_poll_start(&s->listen_poll, UV_READABLE, on_listen_readable);
    }
}

int vg__listen_open(vg_server_t *s)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port_str[16];
    snprintf(port_str, sizeof(port_str), "%d", s->cfg.port);
    int rc = getaddrinfo(s->host, port_str, &hints, &ai);
    if (rc != 0) {
        VG_LOG_ERROR("http", "cannot listen on '%s': not a numeric IP address (%s)", s->host,
                     gai_strerror(rc));
        return VG_EINVAL;
    }
    int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    rc = fd < 0 ? -errno : 0;
    if (rc == 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0)
            rc = -errno;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    if (rc == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        rc = -errno;
    if (rc < 0) {
        VG_LOG_ERROR("http", "cannot listen on %s:%d: %s", s->host, s->cfg.port,
                     vg_strerror(rc));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    s->listen_fd = fd;
    s->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    return 0;
}

void vg__listen_start(vg_server_t *s)
{
    uv_poll_init_socket(s->cfg.loop, &s->listen_poll, s->listen_fd);
    s->listen_poll.data = s;
    uv_poll_start(&s->listen_poll, UV_READABLE, on_listen_readable);
    uv_timer_init(s->cfg.loop, &s->sweep_timer);
    s->sweep_timer.data = s;
    uv_timer_start(&s->sweep_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    s->handles_open += 2;
    s->is_listen_started = true;
}

void vg__listen_stop(vg_server_t *s)
{
    if (s->listen_fd < 0 || !s->is_listen_started)
        return;
    uv_poll_stop(&s->listen_poll);
    uv_timer_stop(&s->sweep_timer); /* else the loop never ends */
    s->is_accept_paused = false;
    /* Connections that never spoke have no wsi: nothing else will close them. */
    for (vg__sock_t *k = s->waiting, *next; k; k = next) {
        next = k->next;
        if (k->wsi == NULL)
            sock_close_unadopted(k);
    }
}

void vg__listen_close(vg_server_t *s)
{
    if (s->listen_fd < 0)
        return;
    vg__listen_stop(s);
    if (s->is_listen_started) {
        uv_close((uv_handle_t *)&s->listen_poll, vg__server_handle_closed);
        uv_close((uv_handle_t *)&s->sweep_timer, vg__server_handle_closed);
    }
    close(s->listen_fd); /* uv_close has already taken it out of the loop's epoll set */
    s->listen_fd = -1;
    /* Records of adopted connections went with their wsi in lws_context_destroy; any left
     * (a context that never existed) go now. */
    while (s->waiting)
        sock_free(s->waiting);
}
