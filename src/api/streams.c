/* streams: GET /api/v1/streams, /api/v1/streams/{id} and /api/v1/viewers — each stream's
 * lifecycle state, input, per-tier encoding and viewers. Admins see the camera's URLs
 * (without credentials); everybody else gets them redacted like every route that shows a
 * camera (vg__api_redact_camera). */
#include <libavcodec/avcodec.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"

static double avg_ms(uint64_t total_us, uint64_t count)
{
    return count ? (double)total_us / (double)count / 1000.0 : 0.0;
}

json_t *vg__api_health_json(const vg_stream_status_t *s)
{
    if (!s->has_health)
        return json_pack("{s:n,s:n,s:n}", "reachable", "reason", "checked_at");
    return json_pack("{s:b,s:s,s:I}", "reachable", s->is_reachable, "reason", s->health_reason,
                     "checked_at", (json_int_t)(s->health_checked_us / 1000000));
}

static json_t *stream_json(const vg_stream_t *st)
{
    vg_stream_status_t s;
    vg_stream_get_status(st, &s);
    vg_stream_stats_t ss;
    vg_stream_get_stats(st, &ss);
    const vg_tier_t *tiers;
    vg_stream_tiers(st, &tiers);
    json_t *tier_arr = json_array();
    for (int t = 0; t < ss.tier_count; t++) {
        const vg_stream_tier_stats_t *ts = &ss.tier[t];
        json_array_append_new(
            tier_arr, json_pack("{s:s,s:b,s:i,s:f,s:f,s:I,s:f,s:f}", "name", tiers[t].name,
                                "active", ts->is_active, "viewers", ts->viewers, "fps", ts->fps,
                                "kbps", ts->kbps, "encoded", (json_int_t)ts->encoded,
                                "encode_ms_avg", avg_ms(ts->encode_us, ts->encoded),
                                "scale_ms_avg", avg_ms(ts->scale_us, ts->encoded)));
    }
    json_t *doc = json_pack("{s:s,s:s,s:s,s:I,s:i,s:s?,s:i,s:i,s:f,s:f,s:i,s:s}", "id",
                            vg_stream_id(st), "state", vg_stream_state_name(s.state), "reason",
                            s.reason, "since_us", (json_int_t)s.since_us, "attempts",
                            (int)s.attempts, "codec",
                            s.codec_id ? avcodec_get_name((enum AVCodecID)s.codec_id) : NULL,
                            "width", s.width, "height", s.height, "input_fps", s.input_fps,
                            "input_kbps", s.input_kbps, "viewers", s.viewers, "url", s.url);
    json_object_set_new(doc, "health", vg__api_health_json(&s));
    json_object_set_new(doc, "reconnects", json_integer((json_int_t)ss.reconnects));
    json_object_set_new(doc, "packets_in", json_integer((json_int_t)ss.packets_in));
    json_object_set_new(doc, "bytes_in", json_integer((json_int_t)ss.bytes_in));
    json_object_set_new(doc, "packets_damaged", json_integer((json_int_t)ss.packets_damaged));
    json_object_set_new(doc, "frames_decoded", json_integer((json_int_t)ss.frames_decoded));
    json_object_set_new(doc, "decode_ms_avg", json_real(avg_ms(ss.decode_us, ss.frames_decoded)));
    json_object_set_new(doc, "decoder_drops", json_integer((json_int_t)ss.packets_dropped));
    json_object_set_new(doc, "tiers", tier_arr);
    json_object_set_new(
        doc, "packet_lane",
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:i}", "gop_cache_bytes", (json_int_t)ss.gop_bytes,
                  "gop_cache_packets", (json_int_t)ss.gop_count, "history_bytes",
                  (json_int_t)ss.history_bytes, "history_oldest_us",
                  (json_int_t)ss.history_oldest_us, "gaps", (json_int_t)ss.lane_gaps,
                  "source_viewers", ss.source_viewers));
    /* The camera's audio that the packet lane passes on (AAC), or null. */
    vg_stream_audio_t audio;
    json_object_set_new(doc, "audio",
                        vg_stream_audio(st, &audio) < 0
                            ? json_null()
                            : json_pack("{s:s,s:i,s:i,s:I,s:I,s:I}", "codec", "aac",
                                        "sample_rate", audio.sample_rate, "channels",
                                        audio.channels, "packets_in",
                                        (json_int_t)ss.audio_packets_in, "bytes_in",
                                        (json_int_t)ss.audio_bytes_in, "dropped",
                                        (json_int_t)ss.audio_dropped));
    if (s.sub_url)
        json_object_set_new(doc, "substream",
                            json_pack("{s:s,s:s,s:s,s:I,s:I}", "url", s.sub_url, "state",
                                      s.sub_state, "reason", s.sub_reason, "packets",
                                      (json_int_t)s.sub_packets, "frames_decoded",
                                      (json_int_t)ss.sub_frames_decoded));
    return doc;
}

static void append_viewer(const vg_viewer_info_t *v, void *arg)
{
    json_t *arr = arg;
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:b,s:s,s:s?,s:I,s:I,s:I,s:I,s:f,s:f}", "id",
                          (json_int_t)v->id, "output", v->output, "camera", v->camera, "tier",
                          v->tier, "auto", v->is_auto, "remote", v->peer, "user", v->user,
                          "since_us", (json_int_t)v->since_us, "frames",
                          (json_int_t)v->frames_sent, "bytes", (json_int_t)v->bytes_sent,
                          "drops", (json_int_t)v->drops, "fps", v->fps, "kbps", v->kbps);
    json_object_set_new(o, "skips", json_integer((json_int_t)v->skips));
    json_object_set_new(o, "tenant", v->tenant ? json_string(v->tenant) : json_null());
    if (v->transport) /* RTSP readers: "tcp" (interleaved) or "udp" */
        json_object_set_new(o, "transport", json_string(v->transport));
    /* Adaptive viewers: the link as adaptation sees it (null until measured). */
    json_object_set_new(o, "queue_ms", v->queue_ms < 0 ? json_null() : json_real(v->queue_ms));
    json_object_set_new(o, "link_kbps", v->link_kbps < 0 ? json_null() : json_real(v->link_kbps));
    json_object_set_new(o, "tcp_rtt_ms",
                        v->tcp_rtt_ms < 0 ? json_null() : json_real(v->tcp_rtt_ms));
    json_object_set_new(o, "loss_pct", v->loss_pct < 0 ? json_null() : json_real(v->loss_pct));
    json_object_set_new(o, "congestion_control",
                        v->congestion && *v->congestion ? json_string(v->congestion) : json_null());
    json_object_set_new(o, "congestion_restarts", json_integer(v->congestion_restarts));
    /* Unknown measurements are null rather than a sentinel number. */
    json_object_set_new(o, "latency_ms", v->latency_us < 0 ? json_null()
                                                           : json_real((double)v->latency_us / 1e3));
    json_object_set_new(o, "rtt_ms", v->rtt_us < 0 ? json_null()
                                                   : json_real((double)v->rtt_us / 1e3));
    json_object_set_new(o, "client_fps", v->client_fps < 0 ? json_null()
                                                           : json_real(v->client_fps));
    json_object_set_new(o, "client_decode_ms",
                        v->client_decode_ms < 0 ? json_null() : json_real(v->client_decode_ms));
    json_array_append_new(arr, o);
}

typedef struct hls_find {
    const char *camera;
    json_t *doc;
} hls_find_t;

static void hls_one(const vg_hls_counters_t *h, void *arg)
{
    hls_find_t *f = arg;
    if (strcmp(h->camera, f->camera) == 0)
        json_object_set_new(f->doc, "hls",
                            json_pack("{s:i,s:I,s:I,s:I,s:I}", "clients", h->clients, "requests",
                                      (json_int_t)h->requests, "blocked",
                                      (json_int_t)h->blocked, "bytes", (json_int_t)h->bytes,
                                      "parts", (json_int_t)h->parts));
}

/* The camera's HLS counters (all 0 until a client fetched its playlist). */
static void add_hls(const vg_api_ctx_t *ctx, const char *camera, json_t *doc)
{
    json_object_set_new(doc, "hls",
                        json_pack("{s:i,s:i,s:i,s:i,s:i}", "clients", 0, "requests", 0,
                                  "blocked", 0, "bytes", 0, "parts", 0));
    hls_find_t f = {.camera = camera, .doc = doc};
    vg_outputs_each_hls(ctx->outputs, hls_one, &f);
}

static int list_streams(vg_conn_t *c, const char *const *params, void *user)
{
    const vg_api_ctx_t *ctx = user;
    json_t *arr = json_array();
    for (size_t i = 0; i < vg_hub_count(ctx->hub); i++) {
        const vg_stream_t *st = vg_hub_at(ctx->hub, i);
        if (!vg__api_can_see(ctx, c, vg_stream_id(st)))
            continue;
        json_t *doc = stream_json(st);
        add_hls(ctx, vg_stream_id(st), doc);
        if (vg_auth_caller(c)->role != VG_ROLE_ADMIN)
            vg__api_redact_camera(doc);
        json_array_append_new(arr, doc);
    }
    return vg_conn_respond_json(c, 200, json_pack("{s:o}", "streams", arr));
}

static int get_stream(vg_conn_t *c, const char *const *params, void *user)
{
    const vg_api_ctx_t *ctx = user;
    vg_stream_t *st = vg_hub_find(ctx->hub, params[0]);
    if (st == NULL)
        return vg_conn_error(c, 404, "not_found", "no stream '%s'", params[0]);
    json_t *doc = stream_json(st);
    add_hls(ctx, vg_stream_id(st), doc);
    /* Addresses, and who else watches from where, are for admins only. */
    if (vg_auth_caller(c)->role != VG_ROLE_ADMIN) {
        vg__api_redact_camera(doc);
    } else {
        json_t *viewers = json_array();
        vg_outputs_each_viewer(ctx->outputs, vg_stream_id(st), append_viewer, viewers);
        json_object_set_new(doc, "viewer_list", viewers);
    }
    return vg_conn_respond_json(c, 200, doc);
}

static int list_viewers(vg_conn_t *c, const char *const *params, void *user)
{
    const vg_api_ctx_t *ctx = user;
    char camera[128];
    int rc = vg_conn_query(c, "camera", camera, sizeof(camera));
    if (rc >= 0 && vg_hub_find(ctx->hub, camera) == NULL)
        return vg_conn_error(c, 404, "not_found", "no camera '%s'", camera);
    if (rc < 0 && rc != VG_ENOENT)
        return vg_conn_error(c, 400, "bad_request", "bad camera argument");
    json_t *viewers = json_array();
    vg_outputs_each_viewer(ctx->outputs, rc >= 0 ? camera : NULL, append_viewer, viewers);
    return vg_conn_respond_json(c, 200, json_pack("{s:o}", "viewers", viewers));
}

static const vg_handler_ops_t list_ops = {.name = "streams", .on_request = list_streams};
static const vg_handler_ops_t get_ops = {.name = "stream", .on_request = get_stream};
static const vg_handler_ops_t viewers_ops = {.name = "viewers", .on_request = list_viewers};

void vg__api_streams_register(vg_server_t *srv, const vg_api_ctx_t *ctx)
{
    vg_server_route(srv, "GET", "/api/v1/streams", VG_ACCESS_VIEWER, &list_ops, (void *)ctx);
    vg_server_route(srv, "GET", "/api/v1/streams/{}", VG_ACCESS_VIEWER | VG_ACCESS_CAMERA,
                    &get_ops, (void *)ctx);
    vg_server_route(srv, "GET", "/api/v1/viewers", VG_ACCESS_ADMIN, &viewers_ops, (void *)ctx);
}
