/* uplink_server: the central's end of edge uplinks (uplink.h, docs/uplink.md).
 *
 * One site per edge name. A site keeps, for the life of the server, a listener on a free
 * loopback port: the producers of its cameras point vigil's RTSP client there, and each
 * connection accepted becomes a channel through the edge's WebSocket (an "open", then the
 * bytes both ways, then a "close"). While the edge is away, connections to the listener are
 * closed at once, so the cameras fail "unreachable" and show the offline card.
 */
#include <libwebsockets.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/uplink.h"
#include "fleet/uplink_link.h"
#include "fleet/uplink_wire.h"
#include "sources/source.h"
#include "store/store.h"

/* An edge that says nothing (pongs included) this long is gone: a cut link sends no FIN. */
#define SILENCE_MAX_US (6 * 1000000LL)
#define PING_EVERY_US (2 * 1000000LL)
/* What may wait to go to an edge (RTSP requests and receiver reports: little), and to the
 * RTSP client on one channel (it reads loopback at once); past these something is stuck. */
#define OUT_MAX_BYTES (4u << 20)
#define CHANNEL_WRITING_MAX (8u << 20)

typedef struct site site_t;

typedef struct channel {
    vg_uplink_chan_t base; /* first */
    site_t *site;
} channel_t;

struct site {
    vg_uplinks_t *u;
    char name[VG_UPLINK_SITE_MAX + 1];
    char token[VG_UPLINK_TOKEN_MAX + 1];
    vg_conn_t *conn; /* NULL: offline */
    uv_tcp_t listener;
    int port;
    vg_uplink_chan_t *channels;
    uint32_t next_channel;
    vg_uplink_outq_t out;
    json_t *cameras; /* the ids the edge announced last */
    int64_t since_us, last_rx_mono_us, last_ping_mono_us;
    uint64_t bytes_in, bytes_out, channels_opened;
    site_t *next;
};

typedef struct up_prod {
    vg_uplinks_t *u; /* NULL once the registry closed */
    char site[VG_UPLINK_SITE_MAX + 1];
    char camera[64];
    const vg_producer_ops_t *inner_ops; /* vigil's RTSP client on the site's listener */
    void *inner_ctx;
    char inner_key[256]; /* the token and port inner_ctx was made for */
    bool is_running;
    vg_stream_input_t *in, *last_in;
    unsigned gen;  /* moved by every start and stop: an older lookup's answer is stale */
    int lookups;   /* lookups in flight that point here */
    bool is_freed; /* by the hub, while a lookup was in flight */
    struct up_prod *next;
} up_prod_t;

/* One edge's WebSocket: its site once its hello has come. */
typedef struct edge_conn {
    vg_uplinks_t *u;
    site_t *site;
} edge_conn_t;

struct vg_uplinks {
    uv_loop_t *loop;
    vg_lease_env_t *cluster; /* a shared database: sites found on other instances; or NULL */
    vg_uplinks_write_fn write;
    void *write_arg;
    uv_timer_t timer; /* 1 Hz: pings and silent edges */
    site_t *sites;
    up_prod_t *prods;
    bool is_closing;
    int handles_open;
};

/* ---- sites and channels ---- */

static site_t *site_find(vg_uplinks_t *u, const char *name)
{
    for (site_t *s = u->sites; s; s = s->next) {
        if (strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

static void maybe_free(vg_uplinks_t *u)
{
    if (u->is_closing && u->handles_open == 0) {
        for (site_t *s = u->sites, *next; s; s = next) {
            next = s->next;
            json_decref(s->cameras);
            free(s);
        }
        free(u);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    vg_uplinks_t *u = h->data;
    u->handles_open--;
    maybe_free(u);
}

/* Queues a frame for the edge (payload may be NULL for open and close). */
static void send_frame(site_t *s, uint32_t channel, int kind, const void *payload, size_t len)
{
    if (s->conn == NULL)
        return;
    uint8_t head[VG_UPLINK_HEAD];
    vg_uplink_frame_head(head, channel, kind);
    vg_uplink_outq_push(&s->out, false, head, sizeof(head), payload, len);
    if (s->out.bytes > OUT_MAX_BYTES) {
        VG_LOG_WARN("uplink", "site=%s: the edge reads nothing (%zu bytes waiting): dropped",
                    s->name, s->out.bytes);
        vg_conn_close(s->conn, 1008, "not reading");
        return;
    }
    vg_conn_want_write(s->conn);
}

/* Ends a channel; says so to the edge when tell_edge (it did not end it itself). */
static void channel_close(channel_t *ch, bool tell_edge)
{
    if (ch->base.is_closing)
        return;
    site_t *s = ch->site;
    vg_uplink_chan_unlink(&s->channels, &ch->base);
    if (tell_edge)
        send_frame(s, ch->base.id, VG_UPLINK_CLOSE, NULL, 0);
    vg_uplink_chan_close(&ch->base);
}

/* The RTSP client wrote: to the edge. */
static void on_channel_data(vg_uplink_chan_t *base, const void *data, size_t len)
{
    channel_t *ch = (channel_t *)base;
    ch->site->bytes_out += len;
    send_frame(ch->site, base->id, VG_UPLINK_DATA, data, len);
}

static void on_channel_end(vg_uplink_chan_t *base) { channel_close((channel_t *)base, true); }

static void on_channel_closed(vg_uplink_chan_t *base)
{
    channel_t *ch = (channel_t *)base;
    vg_uplinks_t *u = ch->site->u;
    free(ch);
    u->handles_open--;
    maybe_free(u);
}

static const vg_uplink_chan_ops_t channel_ops = {
    .on_data = on_channel_data, .on_end = on_channel_end, .on_closed = on_channel_closed};

/* The edge sent bytes of a channel: to the RTSP client. */
static void channel_write(channel_t *ch, const uint8_t *data, size_t len)
{
    if (ch->base.writing + len > CHANNEL_WRITING_MAX) {
        VG_LOG_WARN("uplink", "site=%s channel %u: the reader is stuck: closed", ch->site->name,
                    ch->base.id);
        channel_close(ch, true);
        return;
    }
    if (vg_uplink_chan_write(&ch->base, data, len) < 0)
        channel_close(ch, true);
}

/* The RTSP client connected to the site's listener: a channel, if the edge is there. */
static void on_accept(uv_stream_t *server, int status)
{
    site_t *s = server->data;
    vg_uplinks_t *u = s->u;
    if (status < 0)
        return;
    channel_t *ch = vg_xcalloc(1, sizeof(*ch));
    ch->site = s;
    vg_uplink_chan_init(&ch->base, u->loop, &channel_ops, 0, false);
    u->handles_open++;
    if (uv_accept(server, (uv_stream_t *)&ch->base.sock) < 0 || s->conn == NULL ||
        u->is_closing) {
        vg_uplink_chan_close(&ch->base); /* not listed: closed here */
        return;
    }
    ch->base.id = ++s->next_channel;
    ch->base.next = s->channels;
    s->channels = &ch->base;
    s->channels_opened++;
    send_frame(s, ch->base.id, VG_UPLINK_OPEN, NULL, 0);
    vg_uplink_chan_read(&ch->base, true);
}

static site_t *site_new(vg_uplinks_t *u, const char *name)
{
    site_t *s = vg_xcalloc(1, sizeof(*s));
    s->u = u;
    vg_strlcpy(s->name, name, sizeof(s->name));
    vg_uplink_outq_init(&s->out);
    s->cameras = json_array();
    uv_tcp_init(u->loop, &s->listener);
    s->listener.data = s;
    u->handles_open++;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    if (uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0) < 0 ||
        uv_listen((uv_stream_t *)&s->listener, 16, on_accept) < 0 ||
        uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len) < 0) {
        VG_LOG_ERROR("uplink", "site=%s: no loopback listener for its channels", name);
    } else {
        s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    s->next = u->sites;
    u->sites = s;
    return s;
}

/* ---- on a shared database: which instance has which site ---- */

typedef struct site_job {
    char site[VG_UPLINK_SITE_MAX + 1];
    char instance[64];
    bool is_claim;
} site_job_t;

static int site_job_run(vg_store_t *st, void *arg, vg_store_err_t *err)
{
    site_job_t *j = arg;
    return j->is_claim ? vg_store_site_claim(st, j->site, j->instance, vg_wall_us(), err)
                       : vg_store_site_release(st, j->site, j->instance, err);
}

static void site_job_done(void *arg, int rc, const vg_store_err_t *err)
{
    site_job_t *j = arg;
    if (rc < 0 && rc != VG_ECLOSED)
        VG_LOG_WARN("uplink", "site=%s: cannot record where its uplink is: %s", j->site,
                    err->message);
    free(j);
}

/* Tells the other instances that s's uplink is here (is_claim; renewed every second), or is
 * not any more. Nothing without a shared database. */
static void site_record(vg_uplinks_t *u, const site_t *s, bool is_claim)
{
    vg_lease_env_t *env = u->cluster;
    if (env == NULL || env->async == NULL)
        return;
    site_job_t *j = vg_xcalloc(1, sizeof(*j));
    vg_strlcpy(j->site, s->name, sizeof(j->site));
    vg_strlcpy(j->instance, env->instance_id, sizeof(j->instance));
    j->is_claim = is_claim;
    if (vg_store_async_submit(env->async, site_job_run, site_job_done, j, 1000) < 0)
        free(j);
}

/* The site's edge went away (its connection closed): its channels end. */
static void site_offline(site_t *s, const char *why)
{
    if (s->conn == NULL)
        return;
    VG_LOG_WARN("uplink", "site=%s: offline (%s)", s->name, why);
    s->conn = NULL;
    site_record(s->u, s, false);
    while (s->channels)
        channel_close((channel_t *)s->channels, false);
    vg_uplink_outq_clear(&s->out);
}

/* ---- the cameras an edge announces, into the database ---- */

typedef struct announce_job {
    char site[VG_UPLINK_SITE_MAX + 1];
    vg_uplink_hello_t *hello;
    int created;
} announce_job_t;

/* Store thread: each announced camera that is not in the database yet, as
 * "<site>-<camera>" with the URL uplink://<site>/<camera>. One already there is left as it
 * is (an operator may have renamed it or moved it to a site). */
static int announce_run(vg_store_t *st, void *arg, vg_store_err_t *err)
{
    announce_job_t *j = arg;
    for (int i = 0; i < j->hello->camera_count; i++) {
        const vg_uplink_camera_t *c = &j->hello->cameras[i];
        char id[VG_UPLINK_SITE_MAX + 1 + 64], url[128], name[200]; /* the hello keeps id to 63 */
        snprintf(id, sizeof(id), "%s-%s", j->site, c->id);
        json_t *have = NULL;
        if (vg_store_get(st, "cameras", id, &have, err) == 0) {
            json_decref(have);
            continue;
        }
        if (err->status != 404)
            return VG_EINVAL;
        snprintf(url, sizeof(url), "uplink://%s/%s", j->site, c->id);
        snprintf(name, sizeof(name), "%s (%s)", c->name, j->site);
        json_t *fields = json_pack("{s:s,s:s,s:s}", "id", id, "name", name, "url", url);
        int rc = vg_store_create(st, "cameras", fields, NULL, err);
        json_decref(fields);
        if (rc < 0 && err->status != 409) /* 409: made meanwhile by another instance */
            return rc;
        j->created += rc == 0;
    }
    return 0;
}

static void announce_done(void *arg, int rc, const vg_store_err_t *err)
{
    announce_job_t *j = arg;
    if (rc < 0)
        VG_LOG_WARN("uplink", "site=%s: its cameras could not be recorded: %s", j->site,
                    rc == VG_ECLOSED ? "the store closed" : err->message);
    else if (j->created)
        VG_LOG_INFO("uplink", "site=%s: %d new camera(s) recorded", j->site, j->created);
    free(j->hello);
    free(j);
}

/* ---- the producer of uplink://SITE/CAMERA ---- */

static void prod_kick_site(vg_uplinks_t *u, const char *site)
{
    for (up_prod_t *p = u->prods; p; p = p->next) {
        if (p->in == NULL && p->last_in && strcmp(p->site, site) == 0)
            vg_stream_input_kick(p->last_in);
    }
}

/* Starts p's RTSP client on url (made again only when url changed: the edge's token changes
 * with every run of it, a relaying instance's address with every placement). */
static void prod_start_url(up_prod_t *p, const char *url)
{
    if (p->inner_ops && strcmp(p->inner_key, url) != 0) {
        p->inner_ops->free(p->inner_ctx);
        p->inner_ops = NULL;
    }
    if (p->inner_ops == NULL) {
        int w, h, fps;
        char err[256];
        if (vg_source_producer_new(url, p->camera, &p->inner_ops, &p->inner_ctx, &w, &h, &fps,
                                   err, sizeof(err)) < 0) {
            VG_LOG_WARN("uplink", "site=%s camera=%s: %s", p->site, p->camera, err);
            p->inner_ops = NULL;
            vg_stream_source_ended(p->in, VG_EUNREACHABLE);
            return;
        }
        vg_strlcpy(p->inner_key, url, sizeof(p->inner_key));
    }
    if (p->inner_ops->start(p->inner_ctx, p->in) < 0) {
        vg_stream_source_ended(p->in, VG_EUNREACHABLE);
        return;
    }
    p->is_running = true;
}

/* ---- a site whose uplink reached another instance of the shared database ---- */

typedef struct lookup_job {
    up_prod_t *p;
    unsigned gen;
    char site[VG_UPLINK_SITE_MAX + 1];
    char owner[64];
    char url[512];
} lookup_job_t;

static int lookup_run(vg_store_t *st, void *arg, vg_store_err_t *err)
{
    lookup_job_t *j = arg;
    return vg_store_site_where(st, j->site, vg_wall_us(), VG_LEASE_TTL_US, j->owner, j->url,
                               sizeof(j->url), err);
}

static void prod_free_now(up_prod_t *p)
{
    if (p->inner_ops)
        p->inner_ops->free(p->inner_ctx);
    free(p);
}

static void lookup_done(void *arg, int rc, const vg_store_err_t *err)
{
    lookup_job_t *j = arg;
    up_prod_t *p = j->p;
    p->lookups--;
    if (p->is_freed) {
        if (p->lookups == 0)
            prod_free_now(p);
    } else if (j->gen == p->gen && p->in && p->u && p->u->cluster) {
        vg_lease_env_t *env = p->u->cluster;
        char url[768], camera[VG_UPLINK_SITE_MAX + 65];
        snprintf(camera, sizeof(camera), "%s-%s", p->site, p->camera); /* its id here */
        if (rc < 0 || !j->owner[0] || strcmp(j->owner, env->instance_id) == 0 ||
            !vg_lease_relay_url(env, j->url, camera, url, sizeof(url))) {
            /* nobody has the site, or the database still names this instance (it lost the
             * link a moment ago): nothing to relay */
            VG_LOG_DEBUG("uplink", "site=%s: no instance has its uplink%s%s", j->site,
                         rc < 0 ? ": " : "", rc < 0 ? err->message : "");
            vg_stream_source_ended(p->in, VG_EUNREACHABLE);
        } else {
            VG_LOG_INFO("uplink", "site=%s camera=%s: relayed from instance '%s', which has "
                        "its uplink", j->site, p->camera, j->owner);
            prod_start_url(p, url);
            sodium_memzero(url, sizeof(url));
        }
    }
    free(j);
}

static int prod_start(void *ctx, vg_stream_input_t *in)
{
    up_prod_t *p = ctx;
    p->in = p->last_in = in;
    p->gen++;
    site_t *s = p->u ? site_find(p->u, p->site) : NULL;
    if (s && s->conn && s->port) {
        char url[400];
        snprintf(url, sizeof(url), "rtsp://uplink:%s@127.0.0.1:%d/cameras/%s?client=vigil",
                 s->token, s->port, p->camera);
        prod_start_url(p, url);
        return 0;
    }
    vg_lease_env_t *env = p->u ? p->u->cluster : NULL;
    lookup_job_t *j = env && env->async ? vg_xcalloc(1, sizeof(*j)) : NULL;
    if (j) {
        j->p = p;
        j->gen = p->gen;
        vg_strlcpy(j->site, p->site, sizeof(j->site));
        if (vg_store_async_submit(env->async, lookup_run, lookup_done, j, VG_STORE_WAIT_MS) == 0) {
            p->lookups++;
            return 0;
        }
        free(j);
    }
    vg_stream_source_ended(in, VG_EUNREACHABLE); /* retried; the site's hello kicks it */
    return 0;
}

static void prod_stop(void *ctx)
{
    up_prod_t *p = ctx;
    p->gen++;
    if (p->is_running)
        p->inner_ops->stop(p->inner_ctx);
    p->is_running = false;
    p->in = NULL;
}

static void prod_free(void *ctx)
{
    up_prod_t *p = ctx;
    for (up_prod_t **pp = p->u ? &p->u->prods : NULL; pp && *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    p->is_freed = true;
    if (p->lookups == 0)
        prod_free_now(p);
}

static const vg_producer_ops_t prod_ops = {
    .name = "uplink",
    .start = prod_start,
    .stop = prod_stop,
    .free = prod_free,
    .check = NULL, /* nothing to look at but the link, which the site's state says */
    .cancel_check = NULL,
};

bool vg_uplinks_claims(const char *url) { return strncmp(url, "uplink://", 9) == 0; }

int vg_uplinks_producer(vg_uplinks_t *u, const char *url, const vg_producer_ops_t **ops,
                        void **ctx, char *err, size_t err_len)
{
    const char *rest = url + 9, *slash = vg_uplinks_claims(url) ? strchr(rest, '/') : NULL;
    char site[VG_UPLINK_SITE_MAX + 1] = "", camera[64] = "";
    if (slash && (size_t)(slash - rest) < sizeof(site)) {
        memcpy(site, rest, (size_t)(slash - rest));
        vg_strlcpy(camera, slash + 1, sizeof(camera));
    }
    if (!vg_uplink_is_name(site, VG_UPLINK_SITE_MAX) || !vg_uplink_is_name(camera, 63)) {
        snprintf(err, err_len, "expected uplink://SITE/CAMERA (a-z 0-9 - _)");
        return VG_EURL;
    }
    up_prod_t *p = vg_xcalloc(1, sizeof(*p));
    p->u = u;
    vg_strlcpy(p->site, site, sizeof(p->site));
    vg_strlcpy(p->camera, camera, sizeof(p->camera));
    p->next = u->prods;
    u->prods = p;
    *ops = &prod_ops;
    *ctx = p;
    return 0;
}

/* ---- the WebSocket an edge dials ---- */

static int on_ws_open(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    edge_conn_t *e = vg_xcalloc(1, sizeof(*e));
    e->u = user;
    vg_conn_set_data(c, e);
    VG_LOG_INFO("uplink", "peer=%s: an edge connected", vg_conn_peer(c));
    return 0;
}

/* The site of an edge's connection, once its hello has come (NULL before, or once the
 * registry closed). */
static site_t *site_of(vg_conn_t *c)
{
    edge_conn_t *e = vg_conn_data(c);
    return e && e->u ? e->site : NULL;
}

static int on_ws_message(vg_conn_t *c, const char *text, size_t len)
{
    edge_conn_t *e = vg_conn_data(c);
    if (e == NULL || e->u == NULL)
        return 0;
    vg_uplinks_t *u = e->u;
    site_t *s = e->site;
    vg_uplink_hello_t *h = vg_xmalloc(sizeof(*h));
    char why[120];
    if (vg_uplink_hello_parse(text, len, h, why, sizeof(why)) < 0 ||
        (s && strcmp(s->name, h->site) != 0)) {
        if (s)
            vg_strlcpy(why, "a connection's site cannot change", sizeof(why));
        VG_LOG_WARN("uplink", "peer=%s: %s", vg_conn_peer(c), why);
        free(h);
        vg_conn_close(c, 1008, why);
        return 0;
    }
    if (s == NULL) {
        s = site_find(u, h->site);
        if (s == NULL)
            s = site_new(u, h->site);
        if (s->conn) { /* the edge came back before its old link was seen dead */
            edge_conn_t *old = vg_conn_data(s->conn);
            if (old)
                old->site = NULL;
            vg_conn_close(s->conn, 1008, "replaced by a newer connection of the site");
        }
        site_offline(s, "replaced");
        s->conn = c;
        s->since_us = vg_wall_us();
        e->site = s;
        VG_LOG_INFO("uplink", "site=%s: online from %s, %d camera(s)", s->name,
                    vg_conn_peer(c), h->camera_count);
    }
    s->last_rx_mono_us = vg_mono_us();
    vg_strlcpy(s->token, h->token, sizeof(s->token));
    json_decref(s->cameras);
    s->cameras = json_array();
    for (int i = 0; i < h->camera_count; i++)
        json_array_append_new(s->cameras, json_string(h->cameras[i].id));
    announce_job_t *j = vg_xcalloc(1, sizeof(*j));
    vg_strlcpy(j->site, s->name, sizeof(j->site));
    j->hello = h;
    if (u->write(u->write_arg, announce_run, announce_done, j) < 0) {
        free(h);
        free(j);
    }
    site_record(u, s, true);
    prod_kick_site(u, s->name);
    return 0;
}

static int on_ws_binary(vg_conn_t *c, const uint8_t *data, size_t len)
{
    site_t *s = site_of(c);
    vg_uplink_frame_t f;
    if (s == NULL || vg_uplink_frame_parse(data, len, &f) < 0 || f.kind == VG_UPLINK_OPEN ||
        f.kind == VG_UPLINK_BEAT) {
        vg_conn_close(c, 1008, s ? "bad frame" : "hello first");
        return 0;
    }
    s->last_rx_mono_us = vg_mono_us();
    s->bytes_in += f.len;
    channel_t *ch = (channel_t *)vg_uplink_chan_find(s->channels, f.channel);
    if (ch == NULL) /* closed here meanwhile */
        return 0;
    if (f.kind == VG_UPLINK_CLOSE)
        channel_close(ch, false);
    else if (f.len)
        channel_write(ch, f.payload, f.len);
    return 0;
}

static void on_ws_pong(vg_conn_t *c, const void *payload, size_t len)
{
    (void)payload;
    (void)len;
    site_t *s = site_of(c);
    if (s)
        s->last_rx_mono_us = vg_mono_us();
}

static int on_writable(vg_conn_t *c)
{
    site_t *s = site_of(c);
    if (s == NULL)
        return 0;
    if (vg_uplink_outq_write(&s->out, vg_conn_wsi(c)) < 0)
        return -1;
    if (vg_uplink_outq_has_more(&s->out))
        vg_conn_want_write(c);
    return 0;
}

static void on_close(vg_conn_t *c)
{
    edge_conn_t *e = vg_conn_data(c);
    vg_conn_set_data(c, NULL);
    if (e && e->u && e->site && e->site->conn == c)
        site_offline(e->site, "its connection closed");
    free(e);
}

static void on_tick(uv_timer_t *t)
{
    vg_uplinks_t *u = t->data;
    int64_t now = vg_mono_us();
    for (site_t *s = u->sites; s; s = s->next) {
        if (s->conn == NULL || vg_conn_is_closing(s->conn))
            continue;
        if (now - s->last_rx_mono_us > SILENCE_MAX_US) {
            vg_conn_t *c = s->conn;
            site_offline(s, "nothing heard for 6 s");
            vg_conn_close(c, 1001, "nothing heard for 6 s");
        } else {
            site_record(u, s, true); /* renewed, as a lease is */
        }
        if (s->conn && now - s->last_ping_mono_us >= PING_EVERY_US) {
            s->last_ping_mono_us = now;
            s->out.is_ping_due = true;
            send_frame(s, 0, VG_UPLINK_BEAT, NULL, 0);
            vg_conn_want_write(s->conn);
        }
    }
}

static const vg_handler_ops_t uplink_ops = {
    .name = "uplink",
    .on_ws_open = on_ws_open,
    .on_ws_message = on_ws_message,
    .on_ws_binary = on_ws_binary,
    .max_ws_binary = VG_UPLINK_FRAME_MAX,
    .on_ws_pong = on_ws_pong,
    .on_writable = on_writable,
    .on_close = on_close,
};

/* GET /api/v1/uplinks */
static int list_uplinks(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    vg_uplinks_t *u = user;
    json_t *arr = json_array();
    for (site_t *s = u->sites; s; s = s->next) {
        size_t channels = 0;
        for (vg_uplink_chan_t *ch = s->channels; ch; ch = ch->next)
            channels++;
        json_array_append_new(
            arr, json_pack("{s:s,s:b,s:s?,s:O,s:I,s:I,s:I,s:I,s:I}", "site", s->name,
                           "connected", s->conn != NULL, "peer",
                           s->conn ? vg_conn_peer(s->conn) : NULL, "cameras", s->cameras,
                           "channels", (json_int_t)channels, "channels_opened",
                           (json_int_t)s->channels_opened, "bytes_in", (json_int_t)s->bytes_in,
                           "bytes_out", (json_int_t)s->bytes_out, "since_us",
                           (json_int_t)s->since_us));
    }
    return vg_conn_respond_json(c, 200, json_pack("{s:o}", "uplinks", arr));
}

static const vg_handler_ops_t list_ops = {.name = "uplinks", .on_request = list_uplinks};

vg_uplinks_t *vg_uplinks_new(uv_loop_t *loop, vg_uplinks_write_fn write, void *write_arg)
{
    vg_uplinks_t *u = vg_xcalloc(1, sizeof(*u));
    u->loop = loop;
    u->write = write;
    u->write_arg = write_arg;
    uv_timer_init(loop, &u->timer);
    u->timer.data = u;
    u->handles_open = 1;
    uv_timer_start(&u->timer, on_tick, 1000, 1000);
    return u;
}

void vg_uplinks_set_cluster(vg_uplinks_t *u, vg_lease_env_t *env) { u->cluster = env; }

void vg_uplinks_register(vg_uplinks_t *u, vg_server_t *srv)
{
    vg_server_route(srv, "GET", "/api/v1/uplink", VG_ACCESS_ADMIN, &uplink_ops, u);
    vg_server_route(srv, "GET", "/api/v1/uplinks", VG_ACCESS_ADMIN, &list_ops, u);
}

void vg_uplinks_close(vg_uplinks_t **up)
{
    vg_uplinks_t *u = *up;
    if (u == NULL)
        return;
    *up = NULL;
    u->is_closing = true;
    for (up_prod_t *p = u->prods; p; p = p->next)
        p->u = NULL;
    u->prods = NULL;
    for (site_t *s = u->sites; s; s = s->next) {
        if (s->conn) {
            edge_conn_t *e = vg_conn_data(s->conn);
            if (e)
                e->u = NULL; /* its close finds nothing to tell */
            vg_conn_close(s->conn, 1001, "shutting down");
        }
        s->conn = NULL;
        while (s->channels)
            channel_close((channel_t *)s->channels, false);
        vg_uplink_outq_clear(&s->out);
        s->listener.data = u;
        uv_close((uv_handle_t *)&s->listener, on_handle_closed);
    }
    uv_close((uv_handle_t *)&u->timer, on_handle_closed);
}
