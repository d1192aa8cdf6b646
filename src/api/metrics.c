/* metrics: GET /metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * Labels stay bounded: camera id, tier name, output ("ws", "mjpeg") and stream state; never a
 * viewer, an address or a user. Counters are totals since the server started; the ones per
 * (camera, tier, output) outlive the viewers that made them.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "outputs/rtsp.h"
#include "core/util.h"

typedef struct out {
    FILE *f;
} out_t;

/* Label values may hold any text (tier names come from the config): escape \, " and newline
 * as the format requires. */
static void put_label(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f), fputc(*s, f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{camera="..",tier="..",output=".."} value; NULL labels are left out. */
static void sample(FILE *f, const char *name, const char *suffix, const char *camera,
                   const char *tier, const char *output, const char *le, double value)
{
    fprintf(f, "%s%s", name, suffix ? suffix : "");
    const char *keys[] = {"camera", "tier", "output", "le"};
    const char *vals[] = {camera, tier, output, le};
    bool is_open = false;
    for (int i = 0; i < 4; i++) {
        if (vals[i] == NULL)
            continue;
        fputs(is_open ? "," : "{", f);
        fprintf(f, "%s=", keys[i]);
        put_label(f, vals[i]);
        is_open = true;
    }
    if (is_open)
        fputc('}', f);
    /* %.17g round-trips doubles; integers print without an exponent up to 2^53. */
    fprintf(f, " %.17g\n", value);
}

static void histogram(FILE *f, const char *name, const char *camera, const char *tier,
                      const char *output, const uint64_t *buckets, const int64_t *bounds_us,
                      int n, double sum_s)
{
    uint64_t cumulative = 0;
    char le[32];
    for (int b = 0; b < n; b++) {
        cumulative += buckets[b];
        if (b < n - 1)
            snprintf(le, sizeof(le), "%g", (double)bounds_us[b] / 1e6);
        else
            snprintf(le, sizeof(le), "+Inf");
        sample(f, name, "_bucket", camera, tier, output, le, (double)cumulative);
    }
    sample(f, name, "_sum", camera, tier, output, NULL, sum_s);
    sample(f, name, "_count", camera, tier, output, NULL, (double)cumulative);
}

static const vg_stream_state_t all_states[] = {
    VG_STREAM_IDLE,    VG_STREAM_CONNECTING, VG_STREAM_LIVE,     VG_STREAM_STALLED,
    VG_STREAM_BACKOFF, VG_STREAM_FAILED,     VG_STREAM_FALLBACK,
};

/* One stream's numbers, read once per scrape. */
typedef struct snap {
    const char *id;
    const vg_tier_t *tiers;
    vg_stream_status_t status;
    vg_stream_stats_t stats;
} snap_t;

/* A family whose value comes from a snapshot: per stream (tier < 0) or per tier. */
typedef struct family_def {
    const char *name, *type, *help;
    bool is_per_tier;
    double (*value)(const snap_t *p, int tier);
} family_def_t;

static double v_packets(const snap_t *p, int t) { return (double)p->stats.packets_in; }
static double v_bytes(const snap_t *p, int t) { return (double)p->stats.bytes_in; }
static double v_damaged(const snap_t *p, int t) { return (double)p->stats.packets_damaged; }
static double v_lane_gaps(const snap_t *p, int t) { return (double)p->stats.lane_gaps; }
static double v_input_fps(const snap_t *p, int t) { return p->status.input_fps; }
static double v_reconnects(const snap_t *p, int t) { return (double)p->stats.reconnects; }
static double v_decoded(const snap_t *p, int t) { return (double)p->stats.frames_decoded; }
static double v_decode_s(const snap_t *p, int t) { return (double)p->stats.decode_us / 1e6; }
static double v_dec_drops(const snap_t *p, int t) { return (double)p->stats.packets_dropped; }
static double v_viewers(const snap_t *p, int t) { return p->status.viewers; }
static double v_gop_bytes(const snap_t *p, int t) { return (double)p->stats.gop_bytes; }
static double v_history_bytes(const snap_t *p, int t) { return (double)p->stats.history_bytes; }
static double v_active(const snap_t *p, int t) { return p->stats.tier[t].is_active; }
static double v_encoded(const snap_t *p, int t) { return (double)p->stats.tier[t].encoded; }
static double v_enc_bytes(const snap_t *p, int t) { return (double)p->stats.tier[t].bytes; }
static double v_scale_s(const snap_t *p, int t) { return (double)p->stats.tier[t].scale_us / 1e6; }
static double v_out_fps(const snap_t *p, int t) { return p->stats.tier[t].fps; }

static const family_def_t stream_families[] = {
    {"vigil_stream_input_packets_total", "counter", "Compressed packets received", false,
     v_packets},
    {"vigil_stream_input_bytes_total", "counter", "Compressed bytes received", false, v_bytes},
    {"vigil_stream_input_damaged_packets_total", "counter",
     "Packets with parts lost on the way from the camera (passed on; decoders conceal)", false,
     v_damaged},
    {"vigil_stream_lane_gaps_total", "counter",
     "Access units lost before the packet lane (it waited for the next keyframe)", false,
     v_lane_gaps},
    {"vigil_stream_input_fps", "gauge", "Packets per second over the last second", false,
     v_input_fps},
    {"vigil_stream_reconnects_total", "counter", "Source restarts after a failure or stall",
     false, v_reconnects},
    {"vigil_stream_decoded_frames_total", "counter", "Pictures decoded", false, v_decoded},
    {"vigil_stream_decode_seconds_total", "counter", "Time spent decoding", false, v_decode_s},
    {"vigil_stream_decoder_dropped_packets_total", "counter",
     "Packets skipped because the decoder fell behind", false, v_dec_drops},
    {"vigil_stream_viewers", "gauge", "Viewers attached to the stream", false, v_viewers},
    {"vigil_stream_gop_cache_bytes", "gauge",
     "The packet lane's GOP cache: the camera's access units since its last keyframe", false,
     v_gop_bytes},
    {"vigil_stream_packet_history_bytes", "gauge",
     "The packet lane's history of recent GOPs (GOP cache included)", false, v_history_bytes},
    {"vigil_tier_active", "gauge", "1 while the tier is encoded (some viewer wants it)", true,
     v_active},
    {"vigil_tier_encoded_frames_total", "counter", "JPEG pictures encoded", true, v_encoded},
    {"vigil_tier_encoded_bytes_total", "counter", "JPEG bytes produced", true, v_enc_bytes},
    {"vigil_tier_scale_seconds_total", "counter", "Time spent scaling for the tier", true,
     v_scale_s},
    {"vigil_tier_output_fps", "gauge", "Pictures encoded per second over the last second", true,
     v_out_fps},
};

static void stream_metrics(FILE *f, vg_hub_t *hub)
{
    size_t n = vg_hub_count(hub);
    snap_t *snaps = vg_xcalloc(n ? n : 1, sizeof(*snaps));
    for (size_t i = 0; i < n; i++) {
        vg_stream_t *st = vg_hub_at(hub, i);
        snaps[i].id = vg_stream_id(st);
        vg_stream_tiers(st, &snaps[i].tiers);
        vg_stream_get_status(st, &snaps[i].status);
        vg_stream_get_stats(st, &snaps[i].stats);
    }
    family(f, "vigil_stream_state", "gauge",
           "1 for the state each camera's stream is in, 0 for the others");
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof(all_states) / sizeof(all_states[0]); k++) {
            fprintf(f, "vigil_stream_state{camera=");
            put_label(f, snaps[i].id);
            fprintf(f, ",state=\"%s\"} %d\n", vg_stream_state_name(all_states[k]),
                    all_states[k] == snaps[i].status.state);
        }
    }
    family(f, "vigil_camera_reachable", "gauge",
           "1 when the last look at the camera (idle check, probe or its source) reached it, "
           "0 when not; absent until the first");
    for (size_t i = 0; i < n; i++) {
        if (!snaps[i].status.has_health)
            continue;
        fprintf(f, "vigil_camera_reachable{camera=");
        put_label(f, snaps[i].id);
        fprintf(f, "} %d\n", snaps[i].status.is_reachable);
    }
    for (size_t k = 0; k < sizeof(stream_families) / sizeof(stream_families[0]); k++) {
        const family_def_t *d = &stream_families[k];
        family(f, d->name, d->type, d->help);
        for (size_t i = 0; i < n; i++) {
            const snap_t *p = &snaps[i];
            if (!d->is_per_tier) {
                sample(f, d->name, NULL, p->id, NULL, NULL, NULL, d->value(p, -1));
                continue;
            }
            for (int t = 0; t < p->stats.tier_count; t++)
                sample(f, d->name, NULL, p->id, p->tiers[t].name, NULL, NULL, d->value(p, t));
        }
    }
    family(f, "vigil_tier_encode_seconds", "histogram", "Time to JPEG-encode one picture");
    for (size_t i = 0; i < n; i++) {
        const snap_t *p = &snaps[i];
        for (int t = 0; t < p->stats.tier_count; t++)
            histogram(f, "vigil_tier_encode_seconds", p->id, p->tiers[t].name, NULL,
                      p->stats.tier[t].encode_hist, vg_encode_hist_bounds_us,
                      VG_ENCODE_HIST_BUCKETS, (double)p->stats.tier[t].encode_us / 1e6);
    }
    free(snaps);
}

static double o_viewers(const vg_output_counters_t *c) { return c->viewers; }
static double o_frames(const vg_output_counters_t *c) { return (double)c->frames; }
static double o_bytes(const vg_output_counters_t *c) { return (double)c->bytes; }
static double o_drops(const vg_output_counters_t *c) { return (double)c->drops; }
static double o_skips(const vg_output_counters_t *c) { return (double)c->skips; }
static double o_changes(const vg_output_counters_t *c) { return (double)c->tier_changes; }

/* value NULL: a histogram, is_queue says which. */
static const struct output_family {
    const char *name, *type, *help;
    double (*value)(const vg_output_counters_t *c);
    bool is_queue;
} output_families[] = {
    {"vigil_output_viewers", "gauge", "Viewers connected now", o_viewers, false},
    {"vigil_output_frames_total", "counter", "Frames sent to viewers", o_frames, false},
    {"vigil_output_bytes_total", "counter", "Bytes sent to viewers", o_bytes, false},
    {"vigil_output_dropped_frames_total", "counter",
     "Frames replaced before a slow viewer could take them", o_drops, false},
    {"vigil_output_keyframe_skips_total", "counter",
     "Times a `source` viewer fell behind and resumed at the next keyframe", o_skips, false},
    {"vigil_output_tier_changes_total", "counter", "Adaptive viewers moved into this tier",
     o_changes, false},
    {"vigil_output_latency_seconds", "histogram",
     "From capture to the write of the frame to the viewer's socket", NULL, false},
    {"vigil_output_queue_seconds", "histogram",
     "Adaptive viewers' delay queued in the network (RTT over its minimum, plus unsent "
     "bytes), sampled 4 times a second",
     NULL, true},
};

typedef struct output_pass {
    FILE *f;
    const struct output_family *fam;
} output_pass_t;

static void output_sample(const vg_output_counters_t *c, void *arg)
{
    const output_pass_t *p = arg;
    if (p->fam->value)
        sample(p->f, p->fam->name, NULL, c->camera, c->tier, c->output, NULL, p->fam->value(c));
    else if (p->fam->is_queue)
        histogram(p->f, p->fam->name, c->camera, c->tier, c->output, c->queue_hist,
                  vg_latency_bounds_us, VG_LATENCY_BUCKETS, (double)c->queue_sum_us / 1e6);
    else
        histogram(p->f, p->fam->name, c->camera, c->tier, c->output, c->latency_hist,
                  vg_latency_bounds_us, VG_LATENCY_BUCKETS, (double)c->latency_sum_us / 1e6);
}

static void output_metrics(FILE *f, vg_outputs_t *o)
{
    for (size_t k = 0; k < sizeof(output_families) / sizeof(output_families[0]); k++) {
        output_pass_t pass = {.f = f, .fam = &output_families[k]};
        family(f, pass.fam->name, pass.fam->type, pass.fam->help);
        vg_outputs_each_counters(o, output_sample, &pass);
    }
}

static const struct hls_family {
    const char *name, *type, *help;
    size_t offset; /* of a uint64_t in vg_hls_counters_t; SIZE_MAX: clients */
} hls_families[] = {
    {"vigil_hls_clients", "gauge", "HLS clients: peer addresses that fetched in the last 10 s",
     SIZE_MAX},
    {"vigil_hls_requests_total", "counter", "HLS requests (playlists, parts, segments, inits)",
     offsetof(vg_hls_counters_t, requests)},
    {"vigil_hls_blocked_total", "counter",
     "HLS requests held until a part arrived (blocking playlist reloads, preload hints)",
     offsetof(vg_hls_counters_t, blocked)},
    {"vigil_hls_bytes_total", "counter", "HLS bytes sent (bodies)",
     offsetof(vg_hls_counters_t, bytes)},
    {"vigil_hls_parts_total", "counter", "HLS partial segments made",
     offsetof(vg_hls_counters_t, parts)},
    {"vigil_hls_window_bytes", "gauge",
     "Bytes the camera's HLS window holds (parts and init segments, shared by all clients)",
     offsetof(vg_hls_counters_t, window_bytes)},
};

typedef struct hls_pass {
    FILE *f;
    const struct hls_family *fam;
} hls_pass_t;

static void hls_sample(const vg_hls_counters_t *h, void *arg)
{
    const hls_pass_t *p = arg;
    double v = p->fam->offset == SIZE_MAX
                   ? h->clients
                   : (double)*(const uint64_t *)((const char *)h + p->fam->offset);
    sample(p->f, p->fam->name, NULL, h->camera, NULL, NULL, NULL, v);
}

static void hls_metrics(FILE *f, vg_outputs_t *o)
{
    for (size_t k = 0; k < sizeof(hls_families) / sizeof(hls_families[0]); k++) {
        hls_pass_t pass = {.f = f, .fam = &hls_families[k]};
        family(f, pass.fam->name, pass.fam->type, pass.fam->help);
        vg_outputs_each_hls(o, hls_sample, &pass);
    }
}

static void rtsp_metrics(FILE *f, const vg_rtsp_t *r)
{
    vg_rtsp_counters_t c;
    vg_rtsp_counters(r, &c);
    const struct {
        const char *name, *type, *help;
        double v;
    } fams[] = {
        {"vigil_rtsp_sessions", "gauge", "RTSP sessions open (set up, playing or paused)",
         c.sessions},
        {"vigil_rtsp_sessions_total", "counter", "RTSP sessions set up", (double)c.sessions_total},
        {"vigil_rtsp_requests_total", "counter", "RTSP requests answered", (double)c.requests},
        {"vigil_rtsp_refused_total", "counter",
         "RTSP requests refused for access (401 no or bad credential, 404 unknown or not granted)",
         (double)c.refused},
        {"vigil_rtsp_packets_total", "counter", "RTP packets sent to RTSP readers",
         (double)c.packets},
        {"vigil_rtsp_bytes_total", "counter", "RTP bytes sent to RTSP readers (with framing)",
         (double)c.bytes},
        {"vigil_rtsp_udp_drops_total", "counter",
         "RTP packets a UDP reader's socket refused (dropped)", (double)c.udp_drops},
    };
    for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
        family(f, fams[k].name, fams[k].type, fams[k].help);
        sample(f, fams[k].name, NULL, NULL, NULL, NULL, NULL, fams[k].v);
    }
}

static void loop_metrics(FILE *f, const vg_looplag_t *lp)
{
    vg_looplag_stats_t ls;
    vg_looplag_read(lp, &ls);
    family(f, "vigil_loop_lag_seconds", "histogram",
           "How late the event loop's probe timer fired (every 2 ms): how long the loop "
           "was kept from serving anyone");
    histogram(f, "vigil_loop_lag_seconds", NULL, NULL, NULL, ls.buckets, vg_looplag_bounds_us,
              VG_LOOPLAG_BUCKETS, (double)ls.sum_us / 1e6);
    family(f, "vigil_loop_lag_max_seconds", "gauge",
           "The event loop's longest stall over the last 10 s (to 11 s)");
    sample(f, "vigil_loop_lag_max_seconds", NULL, NULL, NULL, NULL, NULL,
           (double)ls.max_window_us / 1e6);
    family(f, "vigil_loop_lag_max_since_start_seconds", "gauge",
           "The event loop's longest stall since the server started");
    sample(f, "vigil_loop_lag_max_since_start_seconds", NULL, NULL, NULL, NULL, NULL,
           (double)ls.max_us / 1e6);
}

typedef struct ptz_pass {
    FILE *f;
    int which; /* 0 reachable, 1 moving, 2 queued */
} ptz_pass_t;

static void ptz_sample(const char *camera, const vg_ptz_ctl_info_t *in, void *arg)
{
    ptz_pass_t *p = arg;
    if (p->which == 0 && in->has_health)
        sample(p->f, "vigil_ptz_reachable", NULL, camera, NULL, NULL, NULL, in->is_reachable);
    else if (p->which == 1)
        sample(p->f, "vigil_ptz_moving", NULL, camera, NULL, NULL, NULL, in->is_moving);
    else if (p->which == 2)
        sample(p->f, "vigil_ptz_commands_waiting", NULL, camera, NULL, NULL, NULL, in->queued);
}

/* docs/ptz.md "Health". */
static void ptz_metrics(FILE *f, vg_ptz_ctl_t *ptz)
{
    static const char *const fam[][2] = {
        {"vigil_ptz_reachable", "1 when the camera's last PTZ health check (Bosch name read, "
                                "ONVIF GetDeviceInformation) succeeded, 0 when it failed"},
        {"vigil_ptz_moving", "1 while a continuous move's lease runs"},
        {"vigil_ptz_commands_waiting", "PTZ commands queued or in flight for the camera"},
    };
    for (int i = 0; i < 3; i++) {
        family(f, fam[i][0], "gauge", fam[i][1]);
        ptz_pass_t p = {.f = f, .which = i};
        vg_ptz_ctl_each(ptz, ptz_sample, &p);
    }
}

static int metrics(vg_conn_t *c, const char *const *params, void *user)
{
    const vg_api_ctx_t *ctx = user;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return vg_conn_error(c, 500, "internal", "out of memory");
    family(f, "vigil_build_info", "gauge", "Always 1; the version is a label");
    fprintf(f, "vigil_build_info{version=\"%s\"} 1\n", VIGIL_VERSION);
    family(f, "vigil_cameras", "gauge", "Cameras configured");
    fprintf(f, "vigil_cameras %zu\n", vg_hub_count(ctx->hub));
    family(f, "vigil_http_connections", "gauge",
           "Requests being answered and open streams and WebSockets, this scrape included "
           "(a kept-alive socket between requests is not counted)");
    fprintf(f, "vigil_http_connections %d\n", vg_server_conn_count(vg_conn_server(c)));
    loop_metrics(f, ctx->looplag);
    stream_metrics(f, ctx->hub);
    output_metrics(f, ctx->outputs);
    family(f, "vigil_viewers_out_kbps", "gauge",
           "What the viewers were sent over the last second, in kbit/s (max_out_kbps caps it)");
    fprintf(f, "vigil_viewers_out_kbps %.1f\n", vg_outputs_out_kbps(ctx->outputs));
    vg_hub_admission_t adm;
    vg_hub_admission(ctx->hub, &adm);
    family(f, "vigil_admission_refused_total", "counter",
           "Viewers refused because this instance served its maximum of viewers "
           "(max_viewers) or ran its maximum of camera sources (max_sources)");
    for (int r = 0; r < VG_REFUSAL_COUNT; r++)
        fprintf(f, "vigil_admission_refused_total{reason=\"%s\"} %" PRIu64 "\n",
                vg_refusal_name(r), vg_outputs_refused(ctx->outputs, r));
    fprintf(f, "vigil_admission_refused_total{reason=\"max_sources\"} %" PRIu64 "\n",
            adm.refused);
    fprintf(f, "vigil_admission_refused_total{reason=\"max_decoding\"} %" PRIu64 "\n",
            adm.refused_decoding);
    family(f, "vigil_admission_displaced_total", "counter",
           "Watched cameras whose viewers lost their place to a camera of higher priority: "
           "its source stopped (max_sources) or its decoding (max_decoding)");
    fprintf(f, "vigil_admission_displaced_total{reason=\"max_sources\"} %" PRIu64 "\n",
            adm.displaced);
    fprintf(f, "vigil_admission_displaced_total{reason=\"max_decoding\"} %" PRIu64 "\n",
            adm.displaced_decoding);
    family(f, "vigil_decoding_streams", "gauge",
           "Cameras decoded for viewers of their JPEG tiers (max_decoding counts these)");
    fprintf(f, "vigil_decoding_streams %d\n", adm.decoding);
    family(f, "vigil_decoding_max", "gauge", "The cap on decoded cameras (0: none)");
    fprintf(f, "vigil_decoding_max %d\n", adm.max_decoding);
    family(f, "vigil_sources_running", "gauge",
           "Cameras whose source runs, connects or waits to retry (max_sources counts these)");
    fprintf(f, "vigil_sources_running %d\n", adm.sources_running);
    family(f, "vigil_sources_max", "gauge", "The cap on running sources (0: none)");
    fprintf(f, "vigil_sources_max %d\n", adm.max_sources);
    hls_metrics(f, ctx->outputs);
    if (ctx->rtsp)
        rtsp_metrics(f, ctx->rtsp);
    if (ctx->ptz)
        ptz_metrics(f, ctx->ptz);
    fclose(f);
    int rc = vg_conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
    free(buf);
    return rc;
}

static const vg_handler_ops_t metrics_ops = {.name = "metrics", .on_request = metrics};

void vg__api_metrics_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    vg_server_route(srv, "GET", "/metrics", VG_ACCESS_ADMIN, &metrics_ops, (void *)ctx);
}
