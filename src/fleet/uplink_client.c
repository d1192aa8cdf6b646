/* uplink_client: the edge's end of an uplink (uplink.h, docs/uplink.md).
 *
 * The edge dials the central's /api/v1/uplink from the server's own libwebsockets context,
 * says hello (its site, a fresh RTSP credential, its cameras), and then serves channels: each
 * "open" from the central becomes a TCP connection to this instance's RTSP server on
 * 127.0.0.1, whose bytes travel as "data" frames both ways. The link is watched (a ping every
 * 2 s, dropped after 6 s of silence) and dialled again with backoff when it drops. Host names
 * are resolved with uv_getaddrinfo first: libwebsockets 4.1 would look them up on the loop.
 */
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "fleet/uplink.h"
#include "fleet/uplink_link.h"
#include "fleet/uplink_wire.h"
#include "net/tcpinfo.h"

#define SILENCE_MAX_US (6 * 1000000LL)
#define PING_EVERY_US (2 * 1000000LL)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_CAP_MS 8000
/* Bytes waiting for the uplink past which the channels stop reading the RTSP server (whose
 * slow-reader rule then skips to keyframes), and below which they read again. Everything
 * queued between the camera and the link is delay on a thin one, so every buffer on the way
 * is kept small: this queue, the uplink socket's unsent bytes (TCP_NOTSENT_LOWAT), and the
 * channel sockets' receive buffers (the RTSP server then sees its reader stall). */
#define OUT_PAUSE_BYTES (64u << 10)
#define OUT_RESUME_BYTES (16u << 10)
#define UPLINK_NOTSENT_LOWAT (16 * 1024)
#define CHANNEL_RCVBUF (32 * 1024)
/* What the central may send a channel before this instance's RTSP server has accepted it. */
#define PENDING_MAX_BYTES (256u << 10)
#define TOKEN_LEN (3 + 64)

typedef struct pending {
    struct pending *next;
    size_t len;
    char data[];
} pending_t;

typedef struct edge_channel {
    vg_uplink_chan_t base; /* first */
    vg_uplink_client_t *c;
    uv_connect_t connect_req;
    bool is_connected;
    pending_t *pending; /* before the connect completes */
    size_t pending_bytes;
} edge_channel_t;

struct vg_uplink_client {
    vg_uplink_client_cfg_t cfg; /* strings owned below */
    char *url, *key, *site;
    char host[256], path[512];
    int port;
    bool is_tls;
    char token[TOKEN_LEN + 1];
    int rtsp_port;
    vg_ws_client_t wsc;
    struct lws *wsi;      /* NULL: not connected (or dialling through DNS) */
    struct lws *wsi_alive; /* until its WSI_DESTROY: c is not freed while lws may call */
    bool is_up;           /* established */
    bool is_resolving;
    uv_getaddrinfo_t resolve_req;
    uv_timer_t timer;     /* 1 Hz: dialling, pings, silence, the cameras' list */
    int64_t next_dial_mono_us;
    int backoff_ms;
    uint64_t rng;
    int64_t last_rx_mono_us, last_ping_mono_us;
    vg_uplink_outq_t out;
    bool is_paused;
    char *hello_sent; /* the cameras' part of the last hello, to send again on change */
    vg_uplink_chan_t *channels;
    uint8_t *rx;
    size_t rx_len;
    bool is_closing, is_started;
    int handles_open;
};

static void client_maybe_free(vg_uplink_client_t *c)
{
    if (!c->is_closing || c->handles_open > 0 || c->is_resolving || c->wsi_alive)
        return;
    free(c->url);
    free(c->key);
    free(c->site);
    free(c->hello_sent);
    free(c->rx);
    sodium_memzero(c->token, sizeof(c->token));
    free(c);
}

/* ---- frames to the central ---- */

static void send_raw(vg_uplink_client_t *c, bool is_text, const void *head, size_t head_len,
                     const void *data, size_t len)
{
    if (!c->is_up)
        return;
    vg_uplink_outq_push(&c->out, is_text, head, head_len, data, len);
    lws_callback_on_writable(c->wsi);
}

static void channels_pause(vg_uplink_client_t *c, bool is_paused);

static void send_frame(vg_uplink_client_t *c, uint32_t channel, int kind, const void *data,
                       size_t len)
{
    uint8_t head[VG_UPLINK_HEAD];
    vg_uplink_frame_head(head, channel, kind);
    send_raw(c, false, head, sizeof(head), data, len);
    if (c->out.bytes > OUT_PAUSE_BYTES && !c->is_paused)
        channels_pause(c, true);
}

/* ---- channels: this instance's RTSP server, for the central's RTSP client ---- */

static void channel_close(edge_channel_t *ch, bool tell_central)
{
    if (ch->base.is_closing)
        return;
    vg_uplink_client_t *c = ch->c;
    vg_uplink_chan_unlink(&c->channels, &ch->base);
    if (tell_central)
        send_frame(c, ch->base.id, VG_UPLINK_CLOSE, NULL, 0);
    vg_uplink_chan_close(&ch->base);
}

static void on_channel_data(vg_uplink_chan_t *base, const void *data, size_t len)
{
    send_frame(((edge_channel_t *)base)->c, base->id, VG_UPLINK_DATA, data, len);
}

static void on_channel_end(vg_uplink_chan_t *base) { channel_close((edge_channel_t *)base, true); }

static void on_channel_closed(vg_uplink_chan_t *base)
{
    edge_channel_t *ch = (edge_channel_t *)base;
    vg_uplink_client_t *c = ch->c;
    for (pending_t *p = ch->pending, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    free(ch);
    c->handles_open--;
    client_maybe_free(c);
}

static const vg_uplink_chan_ops_t channel_ops = {
    .on_data = on_channel_data, .on_end = on_channel_end, .on_closed = on_channel_closed};

static void channels_pause(vg_uplink_client_t *c, bool is_paused)
{
    c->is_paused = is_paused;
    for (vg_uplink_chan_t *ch = c->channels; ch; ch = ch->next) {
        if (((edge_channel_t *)ch)->is_connected)
            vg_uplink_chan_read(ch, !is_paused);
    }
}

static void channel_write(edge_channel_t *ch, const void *data, size_t len)
{
    if (vg_uplink_chan_write(&ch->base, data, len) < 0)
        channel_close(ch, true);
}

static void on_channel_connected(uv_connect_t *req, int status)
{
    edge_channel_t *ch = req->data;
    if (ch->base.is_closing)
        return;
    if (status < 0) {
        VG_LOG_WARN("uplink", "channel %u: this instance's RTSP server refused: %s", ch->base.id,
                    uv_strerror(status));
        channel_close(ch, true);
        return;
    }
    ch->is_connected = true;
    for (pending_t *p = ch->pending, *next; p && !ch->base.is_closing; p = next) {
        next = p->next;
        channel_write(ch, p->data, p->len);
        free(p);
        ch->pending = next;
    }
    ch->pending_bytes = 0;
    vg_uplink_chan_read(&ch->base, !ch->c->is_paused);
}

static void channel_open(vg_uplink_client_t *c, uint32_t id)
{
    if (vg_uplink_chan_find(c->channels, id) || c->rtsp_port <= 0) {
        send_frame(c, id, VG_UPLINK_CLOSE, NULL, 0);
        return;
    }
    edge_channel_t *ch = vg_xcalloc(1, sizeof(*ch));
    ch->c = c;
    vg_uplink_chan_init(&ch->base, c->cfg.loop, &channel_ops, id, true);
    ch->connect_req.data = ch;
    c->handles_open++;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&ch->base.sock, &fd) == 0) { /* before connect: no autotuning */
        int rcvbuf = CHANNEL_RCVBUF;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    ch->base.next = c->channels;
    c->channels = &ch->base;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", c->rtsp_port, &addr);
    if (uv_tcp_connect(&ch->connect_req, &ch->base.sock, (const struct sockaddr *)&addr,
                       on_channel_connected) < 0)
        channel_close(ch, true);
}

static void channel_data(edge_channel_t *ch, const uint8_t *data, size_t len)
{
    if (ch->is_connected) {
        channel_write(ch, data, len);
        return;
    }
    if (ch->pending_bytes + len > PENDING_MAX_BYTES) {
        channel_close(ch, true);
        return;
    }
    pending_t *p = vg_xmalloc(sizeof(*p) + len);
    p->next = NULL;
    p->len = len;
    memcpy(p->data, data, len);
    pending_t **tail = &ch->pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    ch->pending_bytes += len;
}

static void on_frame(vg_uplink_client_t *c, const uint8_t *data, size_t len)
{
    vg_uplink_frame_t f;
    if (vg_uplink_frame_parse(data, len, &f) < 0) {
        VG_LOG_WARN("uplink", "a frame from the central that is not one: ignored");
        return;
    }
    if (f.kind == VG_UPLINK_BEAT) /* on_receive counted it as heard */
        return;
    if (f.kind == VG_UPLINK_OPEN) {
        channel_open(c, f.channel);
        return;
    }
    edge_channel_t *ch = (edge_channel_t *)vg_uplink_chan_find(c->channels, f.channel);
    if (ch == NULL)
        return;
    if (f.kind == VG_UPLINK_CLOSE)
        channel_close(ch, false);
    else if (f.len)
        channel_data(ch, f.payload, f.len);
}

/* ---- the hello: this site's cameras ---- */

/* The cameras' part of the hello (malloc'd JSON text), from the hub as it is now. */
static char *cameras_text(vg_uplink_client_t *c)
{
    json_t *cams = json_array();
    size_t n = vg_hub_count(c->cfg.hub);
    size_t max_id = 62 - strlen(c->site);
    for (size_t i = 0; i < n && json_array_size(cams) < VG_UPLINK_CAMERAS_MAX; i++) {
        vg_stream_t *st = vg_hub_at(c->cfg.hub, i);
        if (!vg_uplink_is_name(vg_stream_id(st), max_id))
            continue; /* "<site>-<id>" would not be an id at the central */
        json_array_append_new(cams, json_pack("{s:s,s:s}", "id", vg_stream_id(st), "name",
                                              vg_stream_name(st)));
    }
    char *text = json_dumps(cams, JSON_COMPACT);
    json_decref(cams);
    return text;
}

static void send_hello_if_changed(vg_uplink_client_t *c, bool is_forced)
{
    if (!c->is_up)
        return;
    char *cams = cameras_text(c);
    if (!is_forced && c->hello_sent && strcmp(cams, c->hello_sent) == 0) {
        free(cams);
        return;
    }
    json_error_t je;
    json_t *msg = json_pack("{s:s,s:s,s:s,s:o}", "type", "hello", "site", c->site, "token",
                            c->token, "cameras", json_loads(cams, 0, &je));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    send_raw(c, true, NULL, 0, text, strlen(text));
    sodium_memzero(text, strlen(text));
    free(text);
    free(c->hello_sent);
    c->hello_sent = cams;
}

/* ---- the link ---- */

static void link_down(vg_uplink_client_t *c, const char *why)
{
    if (c->is_up)
        VG_LOG_WARN("uplink", "link to %s lost (%s); dialling again in %d ms", c->url, why,
                    c->backoff_ms);
    else if (!c->is_closing)
        VG_LOG_WARN("uplink", "cannot reach %s (%s); dialling again in %d ms", c->url, why,
                    c->backoff_ms);
    c->is_up = false;
    c->wsi = NULL;
    while (c->channels)
        channel_close((edge_channel_t *)c->channels, false);
    vg_uplink_outq_clear(&c->out);
    c->is_paused = false;
    c->rx_len = 0;
    free(c->hello_sent);
    c->hello_sent = NULL;
    /* jittered ±20%, so that the edges of a site that lost its link do not come back at
     * the same instant */
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    int jitter = (int)(c->rng % (uint64_t)(c->backoff_ms * 2 / 5 + 1)) - c->backoff_ms / 5;
    c->next_dial_mono_us = vg_mono_us() + (int64_t)(c->backoff_ms + jitter) * 1000;
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : c->backoff_ms * 2;
    client_maybe_free(c);
}

static int on_writable(vg_uplink_client_t *c, struct lws *wsi)
{
    if (vg_uplink_outq_write(&c->out, wsi) < 0)
        return -1;
    if (c->is_paused && c->out.bytes < OUT_RESUME_BYTES)
        channels_pause(c, false);
    if (vg_uplink_outq_has_more(&c->out))
        lws_callback_on_writable(wsi);
    return 0;
}

static int on_receive(vg_uplink_client_t *c, struct lws *wsi, const void *in, size_t len)
{
    c->last_rx_mono_us = vg_mono_us();
    if (lws_is_first_fragment(wsi))
        c->rx_len = 0;
    if (c->rx_len + len > VG_UPLINK_FRAME_MAX) {
        VG_LOG_WARN("uplink", "a message from the central over %d bytes: link dropped",
                    VG_UPLINK_FRAME_MAX);
        return -1;
    }
    if (c->rx == NULL)
        c->rx = vg_xmalloc(VG_UPLINK_FRAME_MAX);
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    size_t n = c->rx_len;
    c->rx_len = 0;
    if (lws_frame_is_binary(wsi))
        on_frame(c, c->rx, n);
    return 0;
}

static int client_cb(struct lws *wsi, int reason, void *arg, void *in, size_t len)
{
    vg_uplink_client_t *c = arg;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;
        char value[300];
        int n = snprintf(value, sizeof(value), "Bearer %s", c->key);
        int rc = lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                              (unsigned char *)value, n, p, end);
        sodium_memzero(value, sizeof(value));
        return rc ? -1 : 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
        /* BBR paces to the link instead of filling its queue (the viewers' reason, issue
         * 19); a small unsent limit keeps the backlog here, where it is measured. */
        int fd = lws_get_socket_fd(wsi), lowat = UPLINK_NOTSENT_LOWAT;
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
        if (vg_tcp_congestion_available("bbr"))
            vg_tcp_set_congestion(fd, "bbr");
        c->is_up = true;
        c->backoff_ms = BACKOFF_FIRST_MS;
        c->last_rx_mono_us = c->last_ping_mono_us = vg_mono_us();
        VG_LOG_INFO("uplink", "connected to %s as site '%s'", c->url, c->site);
        send_hello_if_changed(c, true);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(c, wsi, in, len);
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        c->last_rx_mono_us = vg_mono_us();
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->is_closing)
            return -1;
        return on_writable(c, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        /* The connection's last word to us (libwebsockets 4.1 sends its WSI_DESTROY to the
         * context's first protocol, not here): it stops calling c, which may then go. */
        lws_set_wsi_user(wsi, NULL);
        if (wsi == c->wsi)
            link_down(c, reason == LWS_CALLBACK_CLIENT_CLOSED ? "closed"
                         : in ? (const char *)in : "connection error");
        if (wsi == c->wsi_alive) {
            c->wsi_alive = NULL;
            client_maybe_free(c);
        }
        return 0;
    default:
        return 0;
    }
}

static void dial_to(vg_uplink_client_t *c, const char *address)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.address = address;
    ci.port = c->port;
    ci.path = c->path;
    ci.host = c->host;
    ci.ssl_connection = c->is_tls ? LCCSCF_USE_SSL : 0;
    c->wsi = c->wsi_alive = vg_server_ws_connect(c->cfg.server, &ci, &c->wsc);
    if (c->wsi == NULL)
        link_down(c, "libwebsockets refused to dial");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    vg_uplink_client_t *c = req->data;
    c->is_resolving = false;
    char address[64] = "";
    if (status == 0 && res)
        uv_ip4_name((const struct sockaddr_in *)res->ai_addr, address, sizeof(address));
    uv_freeaddrinfo(res);
    if (c->is_closing) {
        client_maybe_free(c);
        return;
    }
    if (address[0] == '\0') {
        link_down(c, status < 0 ? uv_strerror(status) : "no IPv4 address");
        return;
    }
    dial_to(c, address);
}

static void dial(vg_uplink_client_t *c)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    c->resolve_req.data = c;
    if (uv_getaddrinfo(c->cfg.loop, &c->resolve_req, on_resolved, c->host, NULL, &hints) < 0) {
        link_down(c, "cannot resolve");
        return;
    }
    c->is_resolving = true;
}

static void on_tick(uv_timer_t *t)
{
    vg_uplink_client_t *c = t->data;
    int64_t now = vg_mono_us();
    if (c->wsi == NULL && !c->is_resolving) {
        if (now >= c->next_dial_mono_us)
            dial(c);
        return;
    }
    if (!c->is_up)
        return;
    if (now - c->last_rx_mono_us > SILENCE_MAX_US) {
        VG_LOG_WARN("uplink", "nothing heard from %s for 6 s: dropping the link", c->url);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    if (now - c->last_ping_mono_us >= PING_EVERY_US) {
        c->last_ping_mono_us = now;
        c->out.is_ping_due = true;
        lws_callback_on_writable(c->wsi);
    }
    send_hello_if_changed(c, false);
}

/* ws://HOST[:PORT][/PREFIX] or wss://...: c's host, port, TLS and path. */
static int parse_url(vg_uplink_client_t *c, const char *url, char *why, size_t why_len)
{
    const char *rest;
    if (strncmp(url, "ws://", 5) == 0) {
        rest = url + 5;
        c->port = 80;
    } else if (strncmp(url, "wss://", 6) == 0) {
        rest = url + 6;
        c->port = 443;
        c->is_tls = true;
    } else {
        snprintf(why, why_len, "--uplink '%s': expected ws://HOST[:PORT] or wss://HOST[:PORT]",
                 url);
        return VG_EINVAL;
    }
    size_t host_len = strcspn(rest, ":/?#");
    if (host_len == 0 || host_len >= sizeof(c->host) || strchr(rest, '@')) {
        snprintf(why, why_len, "--uplink '%s': no host (and no user:password@: the key goes "
                 "in --uplink-key)", url);
        return VG_EINVAL;
    }
    memcpy(c->host, rest, host_len);
    c->host[host_len] = '\0';
    const char *p = rest + host_len;
    if (*p == ':') {
        long long port;
        char digits[8];
        size_t n = strcspn(p + 1, "/?#");
        if (n == 0 || n >= sizeof(digits)) {
            snprintf(why, why_len, "--uplink '%s': a port is 1..65535", url);
            return VG_EINVAL;
        }
        memcpy(digits, p + 1, n);
        digits[n] = '\0';
        if (vg_parse_int(digits, 1, 65535, &port) < 0) {
            snprintf(why, why_len, "--uplink '%s': a port is 1..65535", url);
            return VG_EINVAL;
        }
        c->port = (int)port;
        p += 1 + n;
    }
    if (*p == '?' || *p == '#') {
        snprintf(why, why_len, "--uplink '%s': no query or fragment", url);
        return VG_EINVAL;
    }
    size_t prefix = strlen(p);
    while (prefix > 0 && p[prefix - 1] == '/')
        prefix--;
    if (snprintf(c->path, sizeof(c->path), "%.*s/api/v1/uplink", (int)prefix, p) >=
        (int)sizeof(c->path)) {
        snprintf(why, why_len, "--uplink: path too long");
        return VG_EINVAL;
    }
    return 0;
}

int vg_uplink_client_new(vg_uplink_client_t **out, const vg_uplink_client_cfg_t *cfg,
                         char *why, size_t why_len)
{
    *out = NULL;
    if (cfg->site == NULL || !vg_uplink_is_name(cfg->site, VG_UPLINK_SITE_MAX)) {
        snprintf(why, why_len, "--uplink-site '%s': 1-31 of a-z 0-9 - _",
                 cfg->site ? cfg->site : "");
        return VG_EINVAL;
    }
    if (cfg->key == NULL || !*cfg->key) {
        snprintf(why, why_len, "--uplink needs --uplink-key (an admin's integration key of "
                 "the central vigil: vigil key add there)");
        return VG_EINVAL;
    }
    vg_uplink_client_t *c = vg_xcalloc(1, sizeof(*c));
    if (parse_url(c, cfg->url, why, why_len) < 0) {
        free(c);
        return VG_EINVAL;
    }
    c->cfg = *cfg;
    c->url = vg_xstrdup(cfg->url);
    c->key = vg_xstrdup(cfg->key);
    c->site = vg_xstrdup(cfg->site);
    c->wsc = (vg_ws_client_t){.cb = client_cb, .arg = c};
    vg_uplink_outq_init(&c->out);
    c->backoff_ms = BACKOFF_FIRST_MS;
    uint8_t raw[32];
    randombytes_buf(raw, sizeof(raw));
    memcpy(c->token, "vu_", 3);
    sodium_bin2hex(c->token + 3, sizeof(c->token) - 3, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    randombytes_buf(&c->rng, sizeof(c->rng));
    c->rng |= 1;
    *out = c;
    return 0;
}

const char *vg_uplink_client_token(const vg_uplink_client_t *c) { return c->token; }

void vg_uplink_client_set_rtsp_port(vg_uplink_client_t *c, int port) { c->rtsp_port = port; }

void vg_uplink_client_start(vg_uplink_client_t *c)
{
    c->is_started = true;
    uv_timer_init(c->cfg.loop, &c->timer);
    c->timer.data = c;
    c->handles_open++;
    uv_timer_start(&c->timer, on_tick, 0, 1000);
    VG_LOG_INFO("uplink", "site '%s' dials %s", c->site, c->url);
}

static void on_timer_closed(uv_handle_t *h)
{
    vg_uplink_client_t *c = h->data;
    c->handles_open--;
    client_maybe_free(c);
}

void vg_uplink_client_close(vg_uplink_client_t **cp)
{
    vg_uplink_client_t *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    c->is_closing = true;
    while (c->channels)
        channel_close((edge_channel_t *)c->channels, false);
    vg_uplink_outq_clear(&c->out);
    if (c->wsi) { /* its WRITEABLE returns -1: libwebsockets closes it and calls back */
        c->is_up = false;
        lws_callback_on_writable(c->wsi);
    }
    if (c->is_started)
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    else
        client_maybe_free(c);
}
