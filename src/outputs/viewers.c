/* viewers: the registry of streaming viewers and the counters behind the statistics API and
 * /metrics. A 1 Hz timer measures each viewer's last second and lets its output act on it
 * (the WebSocket output adapts tiers and pushes statistics there). Loop thread only.
 */
#include <inttypes.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tcpinfo.h"
#include "outputs/adapt.h"
#include "outputs/outputs_int.h"

const int64_t vg_latency_bounds_us[VG_LATENCY_BUCKETS - 1] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
};

/* Counters per (camera, tier, output): a short list (cameras x tiers x 2 at most), found once
 * per attach or tier change, never per frame. Keyed by names, not by stream, so that they
 * outlive a stream that is reconfigured (removed and added again under the same id). */
struct out_counters {
    char *camera;
    char tier[VG_TIER_NAME_MAX];
    const char *output;
    vg_output_counters_t pub;
    out_counters_t *next;
};

static out_counters_t *counters_for(vg_outputs_t *o, vg_stream_t *st, int tier,
                                    const char *output)
{
    const char *camera = vg_stream_id(st), *tier_name = vg_stream_tier_name(st, tier);
    for (out_counters_t *c = o->counters; c; c = c->next) {
        if (strcmp(c->camera, camera) == 0 && strcmp(c->tier, tier_name) == 0 &&
            strcmp(c->output, output) == 0)
            return c;
    }
    out_counters_t *c = vg_xcalloc(1, sizeof(*c));
    c->camera = vg_xstrdup(camera);
    vg_strlcpy(c->tier, tier_name, sizeof(c->tier));
    c->output = output;
    c->pub.camera = c->camera;
    c->pub.tier = c->tier;
    c->pub.output = output;
    c->next = o->counters;
    o->counters = c;
    return c;
}

void vg_outputs_forget_camera(vg_outputs_t *o, const char *camera_id)
{
    for (out_counters_t **pc = &o->counters; *pc;) {
        out_counters_t *c = *pc;
        if (strcmp(c->camera, camera_id) == 0 && c->pub.viewers == 0) {
            *pc = c->next;
            free(c->camera);
            free(c);
        } else {
            pc = &c->next;
        }
    }
}

static bool is_capped(const char *output)
{
    return strcmp(output, "ws") == 0 || strcmp(output, "mjpeg") == 0;
}

const char *vg_refusal_name(vg_refusal_t r)
{
    static const char *const names[VG_REFUSAL_COUNT] = {
        [VG_REFUSED_MAX_VIEWERS] = "max_viewers",
        [VG_REFUSED_MAX_OUT_KBPS] = "max_out_kbps",
        [VG_REFUSED_VIEWERS_PER_USER] = "max_viewers_per_user",
        [VG_REFUSED_VIEWERS_PER_TENANT] = "max_viewers_per_tenant",
        [VG_REFUSED_CAMERAS_PER_USER] = "max_cameras_per_user",
        [VG_REFUSED_CAMERAS_PER_TENANT] = "max_cameras_per_tenant",
    };
    return (unsigned)r < VG_REFUSAL_COUNT ? names[r] : "?";
}

/* What the caller (user or tenant, by is_tenant) watches now: capped viewers, and distinct
 * cameras among them, counted up to cameras_max (all a cap needs to know); *watches_st:
 * whether one of them watches st already. One pass over the viewers: admission is once per
 * viewer, and an instance serves thousands at most. */
static void caller_load(const vg_outputs_t *o, const char *who, bool is_tenant,
                        const vg_stream_t *st, int cameras_max, int *viewers, int *cameras,
                        bool *watches_st)
{
    const vg_stream_t *seen[VG_CAMERAS_PER_CALLER_MAX];
    *viewers = *cameras = 0;
    *watches_st = false;
    for (const vg__viewer_t *v = o->viewers; v; v = v->next) {
        if (!is_capped(v->output) || strcmp(is_tenant ? v->tenant : v->user, who) != 0)
            continue;
        (*viewers)++;
        *watches_st |= v->st == st;
        bool is_seen = false;
        for (int k = 0; k < *cameras && !is_seen; k++)
            is_seen = seen[k] == v->st;
        if (!is_seen && *cameras < cameras_max)
            seen[(*cameras)++] = v->st;
    }
}

/* The caps of one caller (a user, or a tenant): 0 or the refusal. */
static int caller_refusal(const vg_outputs_t *o, const char *who, bool is_tenant,
                          const vg_stream_t *st, char *why, size_t why_len)
{
    int max_v = is_tenant ? o->cfg.max_viewers_per_tenant : o->cfg.max_viewers_per_user;
    int max_c = is_tenant ? o->cfg.max_cameras_per_tenant : o->cfg.max_cameras_per_user;
    if (*who == '\0' || (max_v <= 0 && max_c <= 0))
        return -1;
    int viewers, cameras;
    bool watches_st;
    caller_load(o, who, is_tenant, st, max_c > 0 ? max_c : 0, &viewers, &cameras, &watches_st);
    const char *whose = is_tenant ? "your tenant watches its" : "you watch your";
    if (max_v > 0 && viewers >= max_v) {
        snprintf(why, why_len, "%s maximum of %d streams on this instance (%s); close one "
                 "first", whose, max_v, vg_refusal_name(is_tenant ? VG_REFUSED_VIEWERS_PER_TENANT
                                                                   : VG_REFUSED_VIEWERS_PER_USER));
        return is_tenant ? VG_REFUSED_VIEWERS_PER_TENANT : VG_REFUSED_VIEWERS_PER_USER;
    }
    if (max_c > 0 && !watches_st && cameras >= max_c) {
        snprintf(why, why_len, "%s maximum of %d cameras on this instance (%s); close one "
                 "first", whose, max_c, vg_refusal_name(is_tenant ? VG_REFUSED_CAMERAS_PER_TENANT
                                                                   : VG_REFUSED_CAMERAS_PER_USER));
        return is_tenant ? VG_REFUSED_CAMERAS_PER_TENANT : VG_REFUSED_CAMERAS_PER_USER;
    }
    return -1;
}

bool vg__viewers_admit(vg_outputs_t *o, vg_conn_t *c, vg_stream_t *st, int tier, char *why,
                       size_t why_len)
{
    if (o->cfg.max_viewers > 0 && o->capped_count >= (size_t)o->cfg.max_viewers) {
        o->refused[VG_REFUSED_MAX_VIEWERS]++;
        snprintf(why, why_len,
                 "this instance serves its maximum of %d viewers (max_viewers); try again "
                 "later or another instance", o->cfg.max_viewers);
        return false;
    }
    if (o->cfg.max_out_kbps > 0 && o->out_kbps >= o->cfg.max_out_kbps) {
        o->refused[VG_REFUSED_MAX_OUT_KBPS]++;
        snprintf(why, why_len,
                 "this instance sends its maximum of %d kbit/s (max_out_kbps); try again "
                 "later or another instance", o->cfg.max_out_kbps);
        return false;
    }
    if (o->cfg.caller) {
        char user[64] = "", tenant[64] = "";
        o->cfg.caller(o->cfg.caller_arg, c, user, tenant);
        int r = caller_refusal(o, user, false, st, why, why_len);
        if (r < 0)
            r = caller_refusal(o, tenant, true, st, why, why_len);
        if (r >= 0) {
            o->refused[r]++;
            return false;
        }
    }
    if (tier != VG_TIER_SOURCE && tier != VG_TIER_SOURCE_KEYS &&
        vg_stream_admit_decoding(st, why, why_len) < 0)
        return false;
    return vg_stream_admit(st, why, why_len) == 0;
}

double vg_outputs_out_kbps(const vg_outputs_t *o) { return o->out_kbps; }

uint64_t vg_outputs_refused(const vg_outputs_t *o, vg_refusal_t r)
{
    return (unsigned)r < VG_REFUSAL_COUNT ? o->refused[r] : 0;
}

void vg__viewer_add(vg_outputs_t *o, vg__viewer_t *v, const char *output, int tier)
{
    v->is_keys_only = tier == VG_TIER_SOURCE_KEYS;
    if (v->is_keys_only)
        tier = VG_TIER_SOURCE; /* the packet lane's consumer, keeping only keyframes */
    if (is_capped(output))
        o->capped_count++;
    v->outputs = o;
    v->output = output;
    if (o->cfg.caller && v->conn)
        o->cfg.caller(o->cfg.caller_arg, v->conn, v->user, v->tenant);
    v->id = ++o->next_viewer_id;
    v->since_us = vg_wall_us();
    v->tick_mono_us = vg_mono_us();
    v->latency_us = v->rtt_us = -1;
    v->queue_ms = v->link_kbps = v->tcp_rtt_ms = v->loss_pct = -1;
    vg_adapt_init(&v->adapt);
    v->congestion = "";
    v->client_fps = v->client_decode_ms = -1;
    v->counters = counters_for(o, v->st, tier, output);
    v->counters->pub.viewers++;
    v->next = o->viewers;
    if (o->viewers)
        o->viewers->prev = v;
    o->viewers = v;
    o->viewer_count++;
    vg_stream_attach(v->st, &v->cons, tier);
}

void vg__viewer_remove(vg__viewer_t *v)
{
    vg_outputs_t *o = v->outputs;
    if (o == NULL)
        return;
    vg_stream_detach(&v->cons);
    v->counters->pub.viewers--;
    if (v->prev)
        v->prev->next = v->next;
    else
        o->viewers = v->next;
    if (v->next)
        v->next->prev = v->prev;
    if (is_capped(v->output))
        o->capped_count--;
    o->viewer_count--;
    v->outputs = NULL;
}

void vg__viewer_stream_removed(vg__viewer_t *v)
{
    vg__viewer_remove(v);
    v->st = NULL;
}

/* v now counts under (camera, tier, output). */
static void recount(vg__viewer_t *v, int tier)
{
    v->counters->pub.viewers--;
    v->counters = counters_for(v->outputs, v->st, tier, v->output);
    v->counters->pub.viewers++;
}

void vg__viewer_ladder_changed(vg__viewer_t *v) { recount(v, v->cons.tier); }

void vg__viewer_set_tier(vg__viewer_t *v, int tier, bool is_adaptive)
{
    bool is_keys_only = tier == VG_TIER_SOURCE_KEYS;
    if (is_keys_only)
        tier = VG_TIER_SOURCE; /* the same consumer, keeping only keyframes */
    if (tier == v->cons.tier && is_keys_only == v->is_keys_only)
        return;
    v->is_keys_only = is_keys_only;
    if (tier != v->cons.tier)
        recount(v, tier);
    if (is_adaptive)
        v->counters->pub.tier_changes++;
    /* The client's last report counted the old tier's frames: against the new tier's rate
     * (10 fps rendered of h264-thin10, 30 now sent of source) it reads as a client that
     * cannot keep up, and the viewer was sent back down. Only a report after the move counts. */
    v->report_us = 0;
    if (tier != v->cons.tier)
        vg_stream_set_tier(&v->cons, tier);
}

void vg__viewer_offered(vg__viewer_t *v) { v->offered++; }

void vg__viewer_dropped(vg__viewer_t *v)
{
    v->drops++;
    v->counters->pub.drops++;
}

void vg__viewer_skipped(vg__viewer_t *v)
{
    v->skips++;
    v->counters->pub.skips++;
}

#define CLIENT_REPORT_FRESH_US 3000000
/* Longer than a camera's usual keyframe interval (1-4 s). */
#define BURST_WINDOW_US 5000000

/* The bucket of vg_latency_bounds_us a delay falls in (the last: longer). */
static int latency_bucket(int64_t us)
{
    int b = 0;
    while (b < VG_LATENCY_BUCKETS - 1 && us > vg_latency_bounds_us[b])
        b++;
    return b;
}

int vg__viewer_adapt(vg__viewer_t *v, const int *rungs, const double *kbps, int n, int cur,
                     uint32_t extra_skips, size_t queued_bytes, const char **reason)
{
    double fps[VG_TIER_MAX + 1];
    uint32_t burst[VG_TIER_MAX + 1];
    for (int r = 0; r < n && r < VG_TIER_MAX + 1; r++) {
        fps[r] = vg_stream_tier_fps(v->st, rungs[r]);
        burst[r] = vg_stream_tier_burst_bytes(v->st, rungs[r]);
    }
    vg_adapt_input_t in = {.now_us = vg_mono_us(), .client_fps = -1, .rung = cur,
                           .rung_count = n, .rung_kbps = kbps, .rung_fps = fps,
                           .rung_burst_bytes = burst};
    vg_tcp_stats_t tcp;
    int fd = lws_get_socket_fd(vg_conn_wsi(v->conn));
    if (fd >= 0 && vg_tcp_stats_read(fd, &tcp) == 0) {
        in.has_tcp = true;
        in.rtt_ms = tcp.rtt_ms;
        in.min_rtt_ms = tcp.min_rtt_ms;
        in.delivery_kbps = tcp.delivery_kbps;
        in.is_app_limited = tcp.is_app_limited;
        in.is_loss_based = strcmp(tcp.congestion, "bbr") != 0;
        in.pacing_kbps = in.is_loss_based ? 0 : tcp.pacing_kbps;
        in.mss_bytes = tcp.mss_bytes;
        in.is_probing_rtt = tcp.is_probing_rtt;
        if (v->smp_us && tcp.bytes_acked >= v->smp_acked && in.now_us > v->smp_us)
            in.acked_kbps = (double)(tcp.bytes_acked - v->smp_acked) * 8 * 1000 /
                            (double)(in.now_us - v->smp_us);
        v->smp_acked = tcp.bytes_acked;
        if (tcp.segs_out >= v->smp_segs && tcp.retransmits >= v->smp_retrans) {
            in.sent_segs = tcp.segs_out - v->smp_segs;
            in.retrans_segs = tcp.retransmits - v->smp_retrans;
        }
        v->smp_segs = tcp.segs_out;
        v->smp_retrans = tcp.retransmits;
        v->smp_us = in.now_us;
        in.unsent_bytes = tcp.unsent_bytes;
        /* (not while draining: what waits then is held back on purpose) */
        if (!v->is_draining)
            in.unsent_bytes = (uint32_t)(queued_bytes > UINT32_MAX - in.unsent_bytes
                                             ? UINT32_MAX
                                             : in.unsent_bytes + queued_bytes);
        in.inflight_bytes = tcp.inflight_bytes;
        v->tcp_rtt_ms = tcp.rtt_ms;
        vg_strlcpy(v->congestion_buf, tcp.congestion, sizeof(v->congestion_buf));
        v->congestion = v->congestion_buf;
    }
    if (in.now_us - v->largest_since_us >= BURST_WINDOW_US) {
        v->largest_prev = v->largest_sent;
        v->largest_sent = 0;
        v->largest_since_us = in.now_us;
    }
    size_t largest = v->largest_sent > v->largest_prev ? v->largest_sent : v->largest_prev;
    in.burst_bytes = largest > UINT32_MAX ? UINT32_MAX : (uint32_t)largest;
    in.offered = (uint32_t)(v->offered - v->smp_offered);
    in.replaced = (uint32_t)(v->drops - v->smp_drops);
    in.skips = (uint32_t)(v->skips - v->smp_skips) + extra_skips;
    if (v->is_draining)
        in.replaced = in.skips = 0; /* held back on purpose, not lost to a slow socket */
    v->smp_offered = v->offered;
    v->smp_drops = v->drops;
    v->smp_skips = v->skips;
    if (v->client_fps >= 0 && v->report_us && in.now_us - v->report_us < CLIENT_REPORT_FRESH_US) {
        in.client_fps = v->client_fps;
        in.sent_fps = v->fps;
    }
    if (n == 0)
        return -1;
    vg_adapt_decision_t d = vg_adapt_step(&v->adapt, &in);
    if (d.is_pacing_restart && fd >= 0) {
        int rc = vg_tcp_restart_congestion(fd, v->congestion_buf);
        VG_LOG_DEBUG("adapt", "viewer=%" PRIu64 " %s restarted (paced at %.0f kbps, rung %d "
                     "costs %.0f): %s", v->id, v->congestion_buf, in.pacing_kbps, cur,
                     kbps[cur], rc == 0 ? "ok" : strerror(-rc));
        if (rc == 0)
            v->congestion_restarts++;
    }
    bool was_draining = v->is_draining;
    v->is_draining = d.is_draining;
    if (was_draining && !v->is_draining)
        vg_conn_want_write(v->conn); /* what was held back may go now */
    v->queue_ms = in.has_tcp ? d.queue_ms : -1;
    v->loss_pct = in.has_tcp ? 100 * d.loss : -1;
    if (in.has_tcp) {
        int64_t q_us = (int64_t)(d.queue_ms * 1000);
        v->counters->pub.queue_hist[latency_bucket(q_us)]++;
        v->counters->pub.queue_sum_us += (uint64_t)q_us;
    }
    v->link_kbps = d.rate_kbps > 0 ? d.rate_kbps : -1;
    VG_LOG_TRACE("adapt", "viewer=%" PRIu64 " rung %d: queue %.0f ms (rtt %.1f, base %.1f, "
                 "unsent %u, inflight %u), rate %.0f kbps (latest %.0f%s, acked %.0f), loss "
                 "%.2f%%, segs %u/%u, replaced %u/%u%s%s", v->id, cur, d.queue_ms, in.rtt_ms,
                 d.base_rtt_ms, in.unsent_bytes, in.inflight_bytes, d.rate_kbps,
                 in.delivery_kbps, in.is_app_limited ? " app-limited" : "", in.acked_kbps,
                 100 * d.loss, in.retrans_segs, in.sent_segs, in.replaced, in.offered,
                 d.is_draining ? ", draining" : "", in.is_probing_rtt ? ", probing rtt" : "");
    if (in.offered == 0 && d.rung < cur)
        return -1; /* the camera sent nothing: no sign of the link either way */
    if (d.rung == cur && rungs[d.rung] == vg__viewer_tier(v))
        return -1;
    *reason = d.reason ? d.reason : "ladder";
    VG_LOG_DEBUG("adapt", "viewer=%" PRIu64 " rung %d -> %d (%s): queue %.0f ms (rtt %.1f, min "
                 "%.1f, unsent %u), rate %.0f kbps (latest %.0f), replaced %u/%u, skips %u",
                 v->id, cur, d.rung, *reason, d.queue_ms, in.rtt_ms, in.min_rtt_ms,
                 in.unsent_bytes, d.rate_kbps, in.delivery_kbps, in.replaced, in.offered,
                 in.skips);
    return rungs[d.rung];
}

void vg__viewer_sent(vg__viewer_t *v, const vg_frame_t *f, size_t bytes)
{
    vg_output_counters_t *c = &v->counters->pub;
    v->frames_sent++;
    v->bytes_sent += bytes;
    if (bytes > v->largest_sent)
        v->largest_sent = bytes;
    c->frames++;
    c->bytes += bytes;
    if (f->meta.is_placeholder)
        return; /* a rendered card: its capture time says nothing about the path */
    int64_t lat = vg_wall_us() - f->meta.capture_us;
    if (lat < 0)
        lat = 0;
    v->latency_us = lat;
    c->latency_hist[latency_bucket(lat)]++;
    c->latency_sum_us += (uint64_t)lat;
}

static void on_tick(uv_timer_t *t)
{
    vg_outputs_t *o = t->data;
    int64_t now = vg_mono_us();
    double out_kbps = 0;
    for (vg__viewer_t *v = o->viewers, *next; v; v = next) {
        next = v->next; /* on_tick may close the connection, never free v here */
        v->win_sent = v->frames_sent - v->tick_frames;
        v->win_bytes = v->bytes_sent - v->tick_bytes;
        v->win_drops = v->drops - v->tick_drops;
        v->win_offered = v->offered - v->tick_offered;
        v->tick_frames = v->frames_sent;
        v->tick_bytes = v->bytes_sent;
        v->tick_drops = v->drops;
        v->tick_offered = v->offered;
        /* A viewer that connected mid-window has a shorter first window. */
        double secs = (double)(now - v->tick_mono_us) / 1e6;
        v->tick_mono_us = now;
        if (secs < 0.2)
            secs = 0.2;
        v->fps = (double)v->win_sent / secs;
        v->kbps = (double)v->win_bytes * 8 / 1000 / secs;
        out_kbps += v->kbps;
        if (v->on_tick)
            v->on_tick(v);
    }
    o->out_kbps = out_kbps;
}

/* Adaptation samples faster than the statistics window: a queue building on a thin link
 * must be seen within a fraction of a second, not after a whole one. */
static void on_sample(uv_timer_t *t)
{
    vg_outputs_t *o = t->data;
    for (vg__viewer_t *v = o->viewers, *next; v; v = next) {
        next = v->next;
        if (v->is_auto && v->on_sample && v->st)
            v->on_sample(v);
    }
}

void vg__viewers_start(vg_outputs_t *o)
{
    uv_timer_init(o->cfg.loop, &o->tick_timer);
    o->tick_timer.data = o;
    uv_timer_start(&o->tick_timer, on_tick, 1000, 1000);
    uv_timer_init(o->cfg.loop, &o->sample_timer);
    o->sample_timer.data = o;
    uv_timer_start(&o->sample_timer, on_sample, VG_ADAPT_SAMPLE_MS, VG_ADAPT_SAMPLE_MS);
}

void vg_outputs_stop(vg_outputs_t *o)
{
    if (o)
        vg__hls_stop(o);
    if (o && !uv_is_closing((uv_handle_t *)&o->tick_timer)) {
        uv_close((uv_handle_t *)&o->tick_timer, NULL);
        uv_close((uv_handle_t *)&o->sample_timer, NULL);
    }
}

void vg__viewers_free(vg_outputs_t *o)
{
    for (out_counters_t *c = o->counters, *next; c; c = next) {
        next = c->next;
        free(c->camera);
        free(c);
    }
    o->counters = NULL;
}

static void viewer_info(const vg__viewer_t *v, vg_viewer_info_t *out)
{
    *out = (vg_viewer_info_t){
        .id = v->id,
        .output = v->output,
        .camera = vg_stream_id(v->st),
        .tier = vg_stream_tier_name(v->st, vg__viewer_tier(v)),
        .is_auto = v->is_auto,
        .peer = v->conn ? vg_conn_peer(v->conn) : v->peer,
        .transport = v->transport,
        .user = v->user[0] ? v->user : NULL,
        .tenant = v->tenant[0] ? v->tenant : NULL,
        .since_us = v->since_us,
        .frames_sent = v->frames_sent,
        .bytes_sent = v->bytes_sent,
        .drops = v->drops,
        .skips = v->skips,
        .queue_ms = v->queue_ms,
        .link_kbps = v->link_kbps,
        .tcp_rtt_ms = v->tcp_rtt_ms,
        .loss_pct = v->loss_pct,
        .congestion = v->congestion,
        .congestion_restarts = v->congestion_restarts,
        .fps = v->fps,
        .kbps = v->kbps,
        .latency_us = v->latency_us,
        .rtt_us = v->rtt_us,
        .client_fps = v->client_fps,
        .client_decode_ms = v->client_decode_ms,
    };
}

size_t vg_outputs_each_viewer(vg_outputs_t *o, const char *camera_id,
                              void (*fn)(const vg_viewer_info_t *v, void *arg), void *arg)
{
    size_t n = 0;
    for (vg__viewer_t *v = o->viewers; v; v = v->next) {
        if (camera_id && strcmp(vg_stream_id(v->st), camera_id) != 0)
            continue;
        vg_viewer_info_t info;
        viewer_info(v, &info);
        fn(&info, arg);
        n++;
    }
    return n;
}

void vg_outputs_each_counters(vg_outputs_t *o,
                              void (*fn)(const vg_output_counters_t *c, void *arg), void *arg)
{
    for (out_counters_t *c = o->counters; c; c = c->next)
        fn(&c->pub, arg);
}
