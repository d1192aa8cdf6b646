/* metrics: GET /metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * Labels stay bounded: camera id, tier name, output ("ws", "mjpeg") and stream state; never a
 * viewer, an address or a user. Counters are totals since the server started; the ones per
 * (camera, tier, output) outlive the viewers that made them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

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

static void stream_metrics(FILE *f, vg_hub_t *hub)
{
    size_t n = vg_hub_count(hub);
    family(f, "vigil_stream_state", "gauge",
           "1 for the state each camera's stream is in, 0 for the others");
    for (size_t i = 0; i < n; i++) {
        vg_stream_t *st = vg_hub_at(hub, i);
        vg_stream_state_t cur = vg_stream_state(st);
        for (size_t k = 0; k < sizeof(all_states) / sizeof(all_states[0]); k++) {
            fprintf(f, "vigil_stream_state{camera=");
            put_label(f, vg_stream_id(st));
            fprintf(f, ",state=\"%s\"} %d\n", vg_stream_state_name(all_states[k]),
                    all_states[k] == cur);
        }
    }
    struct {
        const char *name, *type, *help;
    } fams[] = {
        {"vigil_stream_input_packets_total", "counter", "Compressed packets received"},
        {"vigil_stream_input_bytes_total", "counter", "Compressed bytes received"},
        {"vigil_stream_input_fps", "gauge", "Packets per second over the last second"},
        {"vigil_stream_reconnects_total", "counter", "Source restarts after a failure or stall"},
        {"vigil_stream_decoded_frames_total", "counter", "Pictures decoded"},
        {"vigil_stream_decode_seconds_total", "counter", "Time spent decoding"},
        {"vigil_stream_decoder_dropped_packets_total", "counter",
         "Packets skipped because the decoder fell behind"},
        {"vigil_stream_viewers", "gauge", "Viewers attached to the stream"},
    };
    for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
        family(f, fams[k].name, fams[k].type, fams[k].help);
        for (size_t i = 0; i < n; i++) {
            vg_stream_t *st = vg_hub_at(hub, i);
            vg_stream_stats_t ss;
            vg_stream_status_t s;
            vg_stream_get_stats(st, &ss);
            vg_stream_get_status(st, &s);
            double v[] = {(double)ss.packets_in, (double)ss.bytes_in, s.input_fps,
                          (double)ss.reconnects, (double)ss.frames_decoded,
                          (double)ss.decode_us / 1e6, (double)ss.packets_dropped,
                          (double)s.viewers};
            sample(f, fams[k].name, NULL, vg_stream_id(st), NULL, NULL, NULL, v[k]);
        }
    }
}

static void tier_metrics(FILE *f, vg_hub_t *hub)
{
    size_t n = vg_hub_count(hub);
    struct {
        const char *name, *type, *help;
    } fams[] = {
        {"vigil_tier_active", "gauge", "1 while the tier is encoded (some viewer wants it)"},
        {"vigil_tier_encoded_frames_total", "counter", "JPEG pictures encoded"},
        {"vigil_tier_encoded_bytes_total", "counter", "JPEG bytes produced"},
        {"vigil_tier_scale_seconds_total", "counter", "Time spent scaling for the tier"},
        {"vigil_tier_output_fps", "gauge", "Pictures encoded per second over the last second"},
    };
    for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
        family(f, fams[k].name, fams[k].type, fams[k].help);
        for (size_t i = 0; i < n; i++) {
            vg_stream_t *st = vg_hub_at(hub, i);
            const vg_tier_t *tiers;
            vg_stream_tiers(st, &tiers);
            vg_stream_stats_t ss;
            vg_stream_get_stats(st, &ss);
            for (int t = 0; t < ss.tier_count; t++) {
                const vg_stream_tier_stats_t *ts = &ss.tier[t];
                double v[] = {ts->is_active, (double)ts->encoded, (double)ts->bytes,
                              (double)ts->scale_us / 1e6, ts->fps};
                sample(f, fams[k].name, NULL, vg_stream_id(st), tiers[t].name, NULL, NULL, v[k]);
            }
        }
    }
    family(f, "vigil_tier_encode_seconds", "histogram", "Time to JPEG-encode one picture");
    for (size_t i = 0; i < n; i++) {
        vg_stream_t *st = vg_hub_at(hub, i);
        const vg_tier_t *tiers;
        vg_stream_tiers(st, &tiers);
        vg_stream_stats_t ss;
        vg_stream_get_stats(st, &ss);
        for (int t = 0; t < ss.tier_count; t++)
            histogram(f, "vigil_tier_encode_seconds", vg_stream_id(st), tiers[t].name, NULL,
                      ss.tier[t].encode_hist, vg_encode_hist_bounds_us, VG_ENCODE_HIST_BUCKETS,
                      (double)ss.tier[t].encode_us / 1e6);
    }
}

typedef struct counters_pass {
    FILE *f;
    int field;
} counters_pass_t;

static void output_sample(const vg_output_counters_t *c, void *arg)
{
    counters_pass_t *p = arg;
    double v[] = {c->viewers, (double)c->frames, (double)c->bytes, (double)c->drops,
                  (double)c->tier_changes};
    const char *names[] = {"vigil_output_viewers", "vigil_output_frames_total",
                           "vigil_output_bytes_total", "vigil_output_dropped_frames_total",
                           "vigil_output_tier_changes_total"};
    if (p->field < 5) {
        sample(p->f, names[p->field], NULL, c->camera, c->tier, c->output, NULL, v[p->field]);
        return;
    }
    histogram(p->f, "vigil_output_latency_seconds", c->camera, c->tier, c->output,
              c->latency_hist, vg_latency_bounds_us, VG_LATENCY_BUCKETS,
              (double)c->latency_sum_us / 1e6);
}

static void output_metrics(FILE *f, vg_outputs_t *o)
{
    struct {
        const char *name, *type, *help;
    } fams[] = {
        {"vigil_output_viewers", "gauge", "Viewers connected now"},
        {"vigil_output_frames_total", "counter", "Frames sent to viewers"},
        {"vigil_output_bytes_total", "counter", "Bytes sent to viewers"},
        {"vigil_output_dropped_frames_total", "counter",
         "Frames replaced before a slow viewer could take them"},
        {"vigil_output_tier_changes_total", "counter",
         "Adaptive viewers moved into this tier"},
        {"vigil_output_latency_seconds", "histogram",
         "From capture to the write of the frame to the viewer's socket"},
    };
    for (int k = 0; k < 6; k++) {
        family(f, fams[k].name, fams[k].type, fams[k].help);
        counters_pass_t pass = {.f = f, .field = k};
        vg_outputs_each_counters(o, output_sample, &pass);
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
    stream_metrics(f, ctx->hub);
    tier_metrics(f, ctx->hub);
    output_metrics(f, ctx->outputs);
    fclose(f);
    int rc = vg_conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
    free(buf);
    return rc;
}

static const vg_handler_ops_t metrics_ops = {.name = "metrics", .on_request = metrics};

void vg__api_metrics_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    vg_server_route(srv, "GET", "/metrics", &metrics_ops, (void *)ctx);
}
