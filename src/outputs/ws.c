/* ws: the WebSocket viewer (docs/protocol.md).
 *
 * Text messages carry JSON control; binary messages carry one frame: vigil's 32-byte header
 * followed by the JPEG. The worker wrote that header into the frame's headroom once, so a send
 * is a single lws_write of (header + JPEG) straight from the shared frame. libwebsockets then
 * writes its own framing into the LWS_PRE bytes in front: identical bytes for every viewer
 * of that frame (server frames are unmasked and the length is the same), written on the loop
 * thread only, which is the one sanctioned write to a published frame.
 *
 * Adaptive viewers (tier "auto") are steered by the policy in adapt.h, sampled 4 times a
 * second: the delay building in the network (TCP_INFO's RTT over its minimum, plus what
 * waits unsent), the rate the link delivers, frames replaced before the socket took them,
 * and the client's own report. They move down as soon as a queue builds, to the richest rung
 * whose measured bitrate fits the link, and up only when the measured rate shows headroom
 * for the next rung's measured bitrate.
 *
 * `source` viewers (the camera's own H.264/H.265, docs/protocol.md) cannot lose an access
 * unit between keyframes, so instead of a latest-wins slot each has a queue of shared frame
 * references (nothing is copied per viewer): when the oldest has waited longer than the lag
 * bound, or the queue holds more bytes than the byte bound, it is emptied and the viewer
 * resumes at the next keyframe (a skip, counted). Memory per viewer is bounded by the byte
 * bound whatever the viewer does. For adaptive viewers that named codecs they decode,
 * `source` is the top rung: a skip counts as a bad second, and a step down goes to the
 * largest JPEG tier smaller than the camera's picture.
 *
 * The ladder's H.264 tiers (tier.h) are sent the same way as `source`: an access-unit queue,
 * a codec message before the first keyframe, and a skip asks the encoder for a keyframe at
 * once. For adaptive viewers that decode avc1 they are the bottom rungs, in place of the
 * JPEG rungs no larger than them (those cost several times more for a worse picture).
 */
#include <libwebsockets.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "core/wire.h"
#include "outputs/outputs_int.h"

_Static_assert(LWS_PRE + VG_WIRE_HDR_LEN <= VG_FRAME_HEADROOM,
               "frame headroom must fit libwebsockets' framing and vigil's header");

#define CTRL_QUEUE 16
#define PING_EVERY_S 2
/* The ladder's measured costs are re-sent at most this often, when one moved by COST_MOVED. */
#define REPUBLISH_EVERY_S 5
#define COST_MOVED 0.25
/* A `source` viewer's queue never holds more access units than this (10 s at 60 fps, plus a
 * GOP cache burst): the lag and byte bounds normally act first. */
#define AU_QUEUE_MAX 1024

typedef struct ws_viewer {
    vg__viewer_t base; /* first: statistics see it */
    vg_outputs_t *outputs;
    vg_frame_t *pending;
    /* source: access units waiting for the socket, oldest first, and when each arrived */
    vg_frame_t **aus;
    int64_t *au_since_us;
    size_t au_cap, au_head, au_count, au_bytes;
    bool is_waiting_key; /* after a skip: until the next keyframe */
    const char *source_reason; /* why it moves to `source` at the camera's next keyframe */
    int told_codec_tier;  /* the H.264 tier whose codec message this viewer got, or -1 */
    char told_codec[24];  /* and the codec string it said */
    /* each JPEG rung's cost as the client last got it (the ladder is re-sent when the
     * measured costs moved: the first viewer's hello has none yet) */
    int published_kbps[VG_TIER_MAX];
    int published_count;
    bool has_published_keys; /* and whether it listed `source-keys` */
    bool accepts_h264, accepts_h265; /* ?codecs=: auto may use `source` */
    char *ctrl[CTRL_QUEUE]; /* JSON texts, each with LWS_PRE bytes in front */
    size_t ctrl_len[CTRL_QUEUE];
    int ctrl_head, ctrl_count;
    bool wants_stats;
    bool is_hooked; /* sent a message to the ws hook: it hears of the close */
    /* ping */
    int ticks;
    bool is_ping_due;
    int64_t ping_sent_us;

} ws_viewer_t;

static void queue_text(ws_viewer_t *v, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(msg);
    if (text == NULL)
        return;
    if (v->ctrl_count == CTRL_QUEUE) {
        /* A peer that lets 16 control messages pile up is not reading at all. */
        free(text);
        vg_conn_close(v->base.conn, LWS_CLOSE_STATUS_POLICY_VIOLATION, "not reading");
        return;
    }
    size_t n = strlen(text);
    char *buf = vg_xmalloc(LWS_PRE + n);
    memcpy(buf + LWS_PRE, text, n);
    free(text);
    int slot = (v->ctrl_head + v->ctrl_count++) % CTRL_QUEUE;
    v->ctrl[slot] = buf;
    v->ctrl_len[slot] = n;
    vg_conn_want_write(v->base.conn);
}

static void queue_error(ws_viewer_t *v, const char *code, const char *message)
{
    queue_text(v, json_pack("{s:s,s:s,s:s}", "type", "error", "code", code, "message", message));
}

static const char *tier_name(const ws_viewer_t *v, int t)
{
    return vg_stream_tier_name(v->base.st, t);
}

/* The source queue ------------------------------------------------------------------------ */

static void au_clear(ws_viewer_t *v)
{
    for (size_t i = 0; i < v->au_count; i++)
        vg_frame_unref(&v->aus[(v->au_head + i) % v->au_cap]);
    v->au_head = v->au_count = v->au_bytes = 0;
}

static void au_push(ws_viewer_t *v, vg_frame_t *f)
{
    if (v->au_count == v->au_cap) {
        size_t cap = v->au_cap ? v->au_cap * 2 : 64;
        vg_frame_t **aus = vg_xcalloc(cap, sizeof(*aus));
        int64_t *since = vg_xcalloc(cap, sizeof(*since));
        for (size_t i = 0; i < v->au_count; i++) {
            aus[i] = v->aus[(v->au_head + i) % v->au_cap];
            since[i] = v->au_since_us[(v->au_head + i) % v->au_cap];
        }
        free(v->aus);
        free(v->au_since_us);
        v->aus = aus;
        v->au_since_us = since;
        v->au_cap = cap;
        v->au_head = 0;
    }
    size_t slot = (v->au_head + v->au_count++) % v->au_cap;
    v->aus[slot] = vg_frame_ref(f);
    v->au_since_us[slot] = vg_mono_us();
    v->au_bytes += f->len;
}

static vg_frame_t *au_pop(ws_viewer_t *v)
{
    vg_frame_t *f = v->aus[v->au_head];
    v->aus[v->au_head] = NULL;
    v->au_head = (v->au_head + 1) % v->au_cap;
    v->au_count--;
    v->au_bytes -= f->len;
    return f;
}

/* How long the oldest queued access unit has waited for the socket. */
static int64_t au_wait_us(const ws_viewer_t *v)
{
    return v->au_count ? vg_mono_us() - v->au_since_us[v->au_head] : 0;
}

static int max_lag_ms(const ws_viewer_t *v)
{
    int ms = v->outputs->cfg.source_max_lag_ms;
    return ms > 0 ? ms : VG_SOURCE_MAX_LAG_MS_DEFAULT;
}

static size_t max_lag_bytes(const ws_viewer_t *v)
{
    size_t b = v->outputs->cfg.source_max_lag_bytes;
    return b > 0 ? b : VG_SOURCE_MAX_LAG_BYTES_DEFAULT;
}

/* Whether tier t's frames are access units that depend on each other (`source` and the H.264
 * tiers): queued, never replaced. */
static bool is_au_tier(const ws_viewer_t *v, int t)
{
    return t == VG_TIER_SOURCE || vg_stream_tier_is_h264(v->base.st, t);
}

/* Before an H.264 tier's keyframe: what the viewer's decoder is to be configured with, when it
 * has not been told yet (the tier's parameter sets come in band; WebCodecs needs the string). */
static void tell_tier_codec(ws_viewer_t *v, int t, const vg_frame_t *f)
{
    const char *codec = vg_stream_tier_codec_string(v->base.st, t);
    if (!*codec || (v->told_codec_tier == t && strcmp(v->told_codec, codec) == 0))
        return;
    v->told_codec_tier = t;
    snprintf(v->told_codec, sizeof(v->told_codec), "%s", codec);
    queue_text(v, json_pack("{s:s,s:s,s:s,s:i,s:i,s:s,s:s}", "type", "codec", "codec", codec,
                            "format", "annexb", "width", f->meta.width, "height",
                            f->meta.height, "description", "", "tier", tier_name(v, t)));
}

static void on_source_frame(ws_viewer_t *v, vg_frame_t *f)
{
    if (v->base.is_keys_only && !f->meta.is_key)
        return; /* `source-keys`: each keyframe decodes alone */
    vg__viewer_offered(&v->base);
    if (v->base.is_keys_only && v->au_count > 0) {
        /* ... so the latest wins, as on a JPEG tier: a keyframe still waiting for the socket
         * when the next comes would only add a keyframe interval of delay (the detailed
         * test camera's 180 KB ones take 2.2 s where cubic carries 650 kbit/s). */
        au_clear(v);
        vg__viewer_dropped(&v->base);
    }
    int t = v->base.cons.tier;
    if (v->is_waiting_key && !f->meta.is_key)
        return;
    if (v->au_count > 0 && (au_wait_us(v) > max_lag_ms(v) * 1000LL ||
                            v->au_bytes + f->len > max_lag_bytes(v) ||
                            v->au_count == AU_QUEUE_MAX)) {
        au_clear(v); /* too far behind: what is queued would only add delay */
        vg__viewer_skipped(&v->base);
        if (!f->meta.is_key) {
            v->is_waiting_key = true;
            vg_stream_request_key(v->base.st, t); /* an H.264 tier need not wait for its GOP */
            return;
        }
    }
    if (f->meta.is_key && t != VG_TIER_SOURCE)
        tell_tier_codec(v, t, f);
    v->is_waiting_key = false;
    au_push(v, f);
    vg_conn_want_write(v->base.conn);
}

/* The ladder as the client sees it: the JPEG tiers, then `source` once the camera's video
 * can be passed on. */
static json_t *ladder_json(ws_viewer_t *v)
{
    json_t *arr = vg_stream_ladder_json(v->base.st);
    v->published_count = 0;
    for (size_t i = 0; i < json_array_size(arr) && i < VG_TIER_MAX; i++)
        v->published_kbps[v->published_count++] =
            (int)json_integer_value(json_object_get(json_array_get(arr, i), "kbps"));
    vg_stream_codec_t sc;
    vg_stream_codec(v->base.st, &sc);
    /* (its rate is a keyframe's every few seconds: not rounded to a whole frame rate) */
    double keys_kbps = vg_stream_tier_kbps(v->base.st, VG_TIER_SOURCE_KEYS);
    v->has_published_keys = sc.is_passthrough && keys_kbps > 0;
    if (v->has_published_keys)
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:i,s:i,s:f,s:i}", "name", "source-keys", "size",
                           "source", "codec", sc.codec_string, "width", sc.width, "height",
                           sc.height, "fps",
                           round(vg_stream_tier_fps(v->base.st, VG_TIER_SOURCE_KEYS) * 100) /
                               100,
                           "kbps", (int)(keys_kbps + 0.5)));
    if (sc.is_passthrough)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i}", "name", "source",
                                             "size", "source", "codec", sc.codec_string,
                                             "width", sc.width, "height", sc.height, "fps",
                                             (int)(sc.fps + 0.5), "kbps",
                                             (int)(vg_stream_tier_kbps(v->base.st,
                                                                       VG_TIER_SOURCE) + 0.5)));
    return arr;
}

/* The ladder again, with the tier this viewer is on: after a new source, a new codec, or
 * when the measured costs moved. */
static void queue_ladder(ws_viewer_t *v)
{
    queue_text(v, json_pack("{s:s,s:s,s:b,s:o}", "type", "tiers", "tier",
                            tier_name(v, vg__viewer_tier(&v->base)), "auto", v->base.is_auto, "tiers",
                            ladder_json(v)));
}

static bool accepts(const ws_viewer_t *v, vg_codec_t codec)
{
    return (codec == VG_CODEC_H264 && v->accepts_h264) ||
           (codec == VG_CODEC_H265 && v->accepts_h265);
}

/* Whether this adaptive viewer may be on `source` now. */
static bool auto_may_use_source(const ws_viewer_t *v)
{
    vg_stream_codec_t sc;
    vg_stream_codec(v->base.st, &sc);
    return v->base.is_auto && sc.is_passthrough && accepts(v, sc.codec);
}

/* Where an adaptive viewer goes from `source`: the largest JPEG tier smaller than the
 * camera's picture (tiers are ordered by cost). */
static int below_source(const ws_viewer_t *v)
{
    const vg_tier_t *tiers;
    int n = vg_stream_tiers(v->base.st, &tiers);
    vg_stream_codec_t sc;
    vg_stream_codec(v->base.st, &sc);
    for (int t = n - 1; t >= 0; t--) {
        if (tiers[t].height > 0 && tiers[t].height < sc.height)
            return t;
    }
    return n > 1 ? n - 2 : 0;
}

static void on_frame(vg_consumer_t *c, vg_frame_t *f)
{
    ws_viewer_t *v = c->user;
    if (is_au_tier(v, c->tier)) {
        on_source_frame(v, f);
        return;
    }
    vg__viewer_offered(&v->base);
    if (v->pending) {
        vg_frame_unref(&v->pending); /* latest wins */
        vg__viewer_dropped(&v->base);
    }
    v->pending = vg_frame_ref(f);
    vg_conn_want_write(v->base.conn);
}

static void on_state(vg_consumer_t *c, vg_stream_state_t state)
{
    ws_viewer_t *v = c->user;
    vg_stream_status_t s;
    vg_stream_get_status(v->base.st, &s);
    queue_text(v, json_pack("{s:s,s:s,s:s}", "type", "state", "state", vg_stream_state_name(state),
                            "reason", s.reason));
}

static void on_removed(vg_consumer_t *c, const char *reason)
{
    ws_viewer_t *v = c->user;
    vg__viewer_stream_removed(&v->base);
    vg_frame_unref(&v->pending);
    au_clear(v);
    vg_conn_close(v->base.conn, VG_WS_CLOSE_CAMERA_REMOVED, reason);
}

/* A camera of higher priority took this one's place on a full instance: 1013 Try Again
 * Later, with the reason, tells the client to come back rather than that the camera is gone. */
static void on_displaced(vg_consumer_t *c, const char *reason)
{
    ws_viewer_t *v = c->user;
    vg__viewer_stream_removed(&v->base);
    vg_frame_unref(&v->pending);
    au_clear(v);
    vg_conn_close(v->base.conn, VG_WS_CLOSE_TRY_AGAIN, reason);
}

/* The camera's new source has another ladder: the client gets the new list and its tier. */
static void on_ladder(vg_consumer_t *c)
{
    ws_viewer_t *v = c->user;
    vg__viewer_ladder_changed(&v->base);
    vg_frame_unref(&v->pending);
    vg_adapt_init(&v->base.adapt); /* measurements of the old ladder's rungs */
    vg_stream_await_source_key(c, false);
    queue_ladder(v);
}

static void change_tier(ws_viewer_t *v, int t, const char *reason);

static json_t *codec_json(const vg_stream_codec_t *sc)
{
    size_t b64_len = sodium_base64_encoded_len(sc->description_len,
                                               sodium_base64_VARIANT_ORIGINAL);
    char *b64 = vg_xmalloc(b64_len);
    sodium_bin2base64(b64, b64_len, sc->description, sc->description_len,
                      sodium_base64_VARIANT_ORIGINAL);
    json_t *msg = json_pack("{s:s,s:s,s:s,s:i,s:i,s:s}", "type", "codec", "codec",
                            sc->codec_string, "format", "annexb", "width", sc->width, "height",
                            sc->height, "description", b64);
    free(b64);
    return msg;
}

/* The camera's codec became known or changed. A `source` viewer gets the codec message (its
 * queued access units are of the old parameters: dropped, it resumes at the keyframe that
 * follows), or is moved to JPEG when the codec cannot be passed on; every other viewer gets
 * the ladder with `source` in it, and an adaptive one that decodes the codec moves up. */
static void on_codec(vg_consumer_t *c)
{
    ws_viewer_t *v = c->user;
    vg_stream_codec_t sc;
    vg_stream_codec(v->base.st, &sc);
    bool is_h26x = sc.codec == VG_CODEC_H264 || sc.codec == VG_CODEC_H265;
    if (c->tier == VG_TIER_SOURCE) {
        if (!is_h26x || (v->base.is_auto && !accepts(v, sc.codec))) {
            if (!v->base.is_auto)
                queue_error(v, "unsupported", "this camera's video is not H.264 or H.265: "
                                              "JPEG tiers only");
            change_tier(v, vg_stream_default_tier(v->base.st), "unsupported");
            return;
        }
        if (!sc.is_passthrough)
            return; /* its parameter sets come with the next keyframe */
        au_clear(v);
        v->is_waiting_key = true;
        queue_text(v, codec_json(&sc));
        return;
    }
    queue_ladder(v);
    if (auto_may_use_source(v))
        change_tier(v, VG_TIER_SOURCE, "source");
}

/* The camera's keyframe a move to `source` waited for (move_to_source_at_key): the viewer kept
 * its picture until now and starts `source` at this keyframe, not the GOP cache's burst. */
static void on_source_key(vg_consumer_t *c)
{
    ws_viewer_t *v = c->user;
    if (!auto_may_use_source(v))
        return;
    change_tier(v, VG_TIER_SOURCE, v->source_reason);
    if (c->tier == VG_TIER_SOURCE)
        vg_adapt_moved_up(&v->base.adapt, vg_mono_us());
}

/* An adaptive viewer that shows a picture moves to `source` at the camera's next keyframe
 * (on_source_key), keeping its tier until then: the GOP cache would be up to a GOP in one
 * burst, which made a failed step up to `source` on a 2 Mbit/s link cost 3 s of delay, not
 * one keyframe's 0.7 s. reason: the tier message's then. */
static void move_to_source_at_key(ws_viewer_t *v, const char *reason)
{
    v->source_reason = reason;
    vg_stream_await_source_key(&v->base.cons, true);
}

static const vg_consumer_ops_t consumer_ops = {
    .on_frame = on_frame, .on_state = on_state, .on_removed = on_removed, .on_displaced = on_displaced,
    .on_ladder = on_ladder, .on_codec = on_codec, .on_source_key = on_source_key};

/* Moves the viewer to tier t and tells it why. A move that would start decoding the camera
 * on an instance at its decoding cap does not happen (adaptation stays on `source`; a viewer
 * that asked is told). */
static void change_tier(ws_viewer_t *v, int t, const char *reason)
{
    if (t != VG_TIER_SOURCE && t != VG_TIER_SOURCE_KEYS && v->base.st &&
        !vg_stream_may_decode(v->base.st)) {
        if (reason == NULL)
            queue_error(v, "unavailable", "this instance decodes its maximum of cameras "
                        "(max_decoding): only tier=source for now");
        return;
    }
    if (t != vg__viewer_tier(&v->base)) {
        vg_frame_unref(&v->pending); /* the old tier's picture */
        au_clear(v);
        /* Between `source` and `source-keys` the consumer stays: the next keyframe starts
         * either (what follows a lone keyframe refers to frames the viewer never got).
         * Another tier's consumer starts at a keyframe anyway. */
        v->is_waiting_key = v->base.cons.tier == VG_TIER_SOURCE &&
                            (t == VG_TIER_SOURCE || t == VG_TIER_SOURCE_KEYS);
        v->told_codec_tier = -1; /* the decoder was configured for another stream since */
    }
    vg__viewer_set_tier(&v->base, t, reason != NULL);
    if (reason)
        queue_text(v, json_pack("{s:s,s:s,s:b,s:s}", "type", "tier", "tier", tier_name(v, t),
                                "auto", v->base.is_auto, "reason", reason));
}

/* The adaptive viewer's ladder, cheapest first: the JPEG tiers, and for a viewer that decodes
 * the camera's codec `source` on top in place of the JPEG tiers that cost more than it
 * (they would be worse pictures at a higher bitrate). For a viewer that decodes H.264, the
 * H.264 tiers come first, in place of the JPEG tiers no taller than the tallest of them.
 * (`source-keys` is not a rung: its keyframes are `source`'s, as long on the link, at a
 * picture every GOP; docs/protocol.md.) Returns the rung count; *cur is the viewer's rung (the
 * nearest below when its tier is not a rung). */
static int auto_rungs(const ws_viewer_t *v, int rungs[VG_TIER_MAX + 1], double kbps[VG_TIER_MAX + 1],
                      int *cur)
{
    const vg_tier_t *tiers;
    int all = vg_stream_tiers(v->base.st, &tiers);
    int n = vg_tier_jpeg_count(tiers, all);
    bool with_source = auto_may_use_source(v);
    double source_kbps = with_source ? vg_stream_tier_kbps(v->base.st, VG_TIER_SOURCE) : 0;
    int count = 0, at = vg__viewer_tier(&v->base);
    int below = with_source ? below_source(v) : n - 1;
    *cur = 0;
    int h264_class = 0; /* the tallest H.264 rung's size class */
    if (v->accepts_h264 && vg_stream_can_encode_h264(v->base.st)) {
        for (int t = n; t < all; t++) {
            if (t == at)
                *cur = count;
            rungs[count] = t;
            kbps[count++] = vg_stream_tier_kbps(v->base.st, t);
            if (tiers[t].class_height > h264_class)
                h264_class = tiers[t].class_height;
        }
    }
    vg_stream_codec_t sc;
    vg_stream_codec(v->base.st, &sc);
    for (int t = 0; t < n; t++) {
        double k = vg_stream_tier_kbps(v->base.st, t);
        if (with_source && (t > below || (source_kbps > 0 && k >= source_kbps)))
            break;
        if (h264_class > 0 && tiers[t].class_height > 0 && tiers[t].class_height <= h264_class)
            continue;
        /* A `source` viewer's JPEG rungs have no cost until one of them is encoded, and a
         * step down goes no further than an unknown rung: only the thin ones (a quarter
         * of the picture's height, or less) are offered until then, or the first step
         * from a 2.4 Mbit/s `source` would go to a 12 Mbit/s JPEG rung. */
        if (with_source && k <= 0 && t != at && tiers[t].height * 4 > sc.height)
            continue;
        if ((at < n && t <= at) || at == VG_TIER_SOURCE)
            *cur = count;
        rungs[count] = t;
        kbps[count++] = k;
    }
    if (with_source) {
        if (at == VG_TIER_SOURCE)
            *cur = count;
        rungs[count] = VG_TIER_SOURCE;
        kbps[count++] = source_kbps;
    }
    return count;
}

/* Where tier t is in rungs (-1: not there). */
static int rung_of(const int *rungs, int n, int t)
{
    for (int r = 0; r < n; r++)
        if (rungs[r] == t)
            return r;
    return -1;
}

/* 4 Hz (adaptive viewers): one sample of the link for the policy in adapt.h. */
static void on_sample(vg__viewer_t *b)
{
    ws_viewer_t *v = (ws_viewer_t *)b;
    if (vg_conn_is_closing(b->conn))
        return;
    int rungs[VG_TIER_MAX + 1], cur;
    double kbps[VG_TIER_MAX + 1];
    int n = auto_rungs(v, rungs, kbps, &cur);
    /* An access-unit queue half way to its lag bound is as bad as replaced frames. */
    uint32_t extra = is_au_tier(v, b->cons.tier) && au_wait_us(v) > max_lag_ms(v) * 500LL;
    const char *reason = NULL;
    /* A `source` viewer on a link far thinner than the camera's bitrate queued its access
     * units here, not in the socket: the policy saw no queue until the lag bound's half (a
     * 3 Mbit/s camera took 5.5 s to leave `source` on a lossy 1 Mbit/s link under cubic). */
    int t = vg__viewer_adapt(b, rungs, kbps, n, cur, extra, v->au_bytes, &reason);
    if (t == VG_TIER_SOURCE && b->cons.tier != VG_TIER_SOURCE && b->frames_sent > 0) {
        move_to_source_at_key(v, reason);
        return;
    }
    /* A viewer on its way to `source` stays on it: a step up meanwhile, or onto the ladder
     * from a tier off it, would only delay it. A step down ends the wait. */
    if (t >= 0 && vg_stream_is_awaiting_source_key(&b->cons) && rung_of(rungs, n, t) >= cur)
        return;
    if (t >= 0) {
        vg_stream_await_source_key(&b->cons, false);
        change_tier(v, t, reason);
    }
}

static json_t *stats_json(ws_viewer_t *v)
{
    const vg__viewer_t *b = &v->base;
    vg_stream_status_t s;
    vg_stream_get_status(b->st, &s);
    vg_stream_stats_t ss;
    vg_stream_get_stats(b->st, &ss);
    const vg_tier_t *tiers;
    vg_stream_tiers(b->st, &tiers);
    json_t *tier_arr = json_array();
    for (int t = 0; t < ss.tier_count; t++)
        json_array_append_new(tier_arr, json_pack("{s:s,s:b,s:f,s:f,s:i}", "name",
                                                  tiers[t].name, "active", ss.tier[t].is_active,
                                                  "fps", ss.tier[t].fps, "kbps", ss.tier[t].kbps,
                                                  "viewers", ss.tier[t].viewers));
    json_t *msg = json_pack(
        "{s:s,s:s,s:b,s:f,s:f,s:I,s:I,s:I,s:f,s:f,s:{s:s,s:f,s:f,s:I,s:o}}",
                     "type", "stats", "tier", tier_name(v, vg__viewer_tier(b)), "auto", b->is_auto,
                     "fps", b->fps, "kbps", b->kbps, "frames", (json_int_t)b->frames_sent,
                     "drops", (json_int_t)b->drops, "skips", (json_int_t)b->skips, "latency_ms",
                     b->latency_us < 0 ? -1.0 : (double)b->latency_us / 1000.0, "rtt_ms",
                     b->rtt_us < 0 ? -1.0 : (double)b->rtt_us / 1000.0, "stream", "state",
                     vg_stream_state_name(s.state), "input_fps", s.input_fps, "input_kbps",
                     s.input_kbps, "reconnects", (json_int_t)ss.reconnects, "tiers", tier_arr);
    /* The link as adaptation sees it (adaptive viewers; -1 until measured). */
    json_object_set_new(msg, "queue_ms", json_real(b->queue_ms));
    json_object_set_new(msg, "link_kbps", json_real(b->link_kbps));
    json_object_set_new(msg, "tcp_rtt_ms", json_real(b->tcp_rtt_ms));
    json_object_set_new(msg, "loss_pct", json_real(b->loss_pct));
    return msg;
}

/* A JPEG rung's cost became known or moved by more than a quarter since the client got it,
 * or `source-keys` became known (its second keyframe). (`source` is left out: its rate swings
 * with every keyframe.) */
static bool costs_moved(const ws_viewer_t *v)
{
    const vg_tier_t *tiers;
    int n = vg_stream_tiers(v->base.st, &tiers);
    if (n != v->published_count)
        return false; /* a new ladder: on_ladder sends it */
    vg_stream_codec_t sc;
    vg_stream_codec(v->base.st, &sc);
    if (sc.is_passthrough && !v->has_published_keys &&
        vg_stream_tier_kbps(v->base.st, VG_TIER_SOURCE_KEYS) > 0)
        return true;
    for (int t = 0; t < n; t++) {
        double now = vg_stream_tier_kbps(v->base.st, t), was = v->published_kbps[t];
        if ((was <= 0 && now >= 1) || (was > 0 && fabs(now - was) > COST_MOVED * was))
            return true;
    }
    return false;
}

static void on_tick(vg__viewer_t *b)
{
    ws_viewer_t *v = (ws_viewer_t *)b;
    if (vg_conn_is_closing(b->conn))
        return;
    if (++v->ticks % PING_EVERY_S == 0) {
        v->is_ping_due = true;
        vg_conn_want_write(b->conn);
    }
    if (v->wants_stats)
        queue_text(v, stats_json(v));
    if (v->ticks % REPUBLISH_EVERY_S == 0 && costs_moved(v))
        queue_ladder(v);
}

/* The tier a name asks for: -2 for "auto", -1 unknown, VG_TIER_SOURCE for "source",
 * VG_TIER_SOURCE_KEYS for "source-keys". */
static int parse_tier(const ws_viewer_t *v, const char *name)
{
    if (strcmp(name, "auto") == 0)
        return -2;
    if (strcmp(name, "source") == 0)
        return VG_TIER_SOURCE;
    if (strcmp(name, "source-keys") == 0)
        return VG_TIER_SOURCE_KEYS;
    const vg_tier_t *tiers;
    int n = vg_stream_tiers(v->base.st, &tiers);
    return vg_tier_find(tiers, n, name);
}

static int ws_open(vg_conn_t *c, const char *const *params, void *user)
{
    vg_outputs_t *o = user;
    vg_stream_t *st = vg_hub_find(o->cfg.hub, params[0]);
    if (st == NULL) {
        vg_conn_close(c, 4404, "no such camera");
        return 0;
    }
    ws_viewer_t *v = vg_xcalloc(1, sizeof(*v));
    v->base.conn = c;
    v->base.st = st;
    v->base.cons.ops = &consumer_ops;
    v->base.cons.user = v;
    v->base.on_tick = on_tick;
    v->base.on_sample = on_sample;
    v->outputs = o;
    v->told_codec_tier = -1;
    vg_adapt_init(&v->base.adapt);
    vg_conn_set_data(c, v);
    char codecs[64];
    if (vg_conn_query(c, "codecs", codecs, sizeof(codecs)) >= 0) {
        char *save = NULL;
        for (char *tok = strtok_r(codecs, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            v->accepts_h264 |= strcmp(tok, "avc1") == 0 || strcmp(tok, "avc3") == 0;
            v->accepts_h265 |= strcmp(tok, "hvc1") == 0 || strcmp(tok, "hev1") == 0;
        }
    }

    int tier = vg_stream_default_tier(st);
    char name[VG_TIER_NAME_MAX + 1];
    bool bad_tier = false;
    int rc = vg_conn_query(c, "tier", name, sizeof(name));
    if (rc >= 0) {
        int t = parse_tier(v, name);
        if (t == -2) {
            v->base.is_auto = true; /* starts at the default tier and climbs from there */
            if (auto_may_use_source(v))
                tier = VG_TIER_SOURCE; /* a decoder for the camera's own video: the top */
        } else if (t >= 0)
            tier = t;
        else
            bad_tier = true;
    } else if (rc != VG_ENOENT) {
        bad_tier = true; /* present but too long to be any tier's name */
    }
    char why[200]; /* v is freed by ws_close when refused */
    if (!vg__viewers_admit(o, c, st, tier, why, sizeof(why))) {
        vg_conn_close(c, VG_WS_CLOSE_TRY_AGAIN, why);
        return 0;
    }
    queue_text(v, json_pack("{s:s,s:s,s:s,s:b,s:s,s:o}", "type", "hello", "camera",
                            vg_stream_id(st), "tier", vg_stream_tier_name(st, tier), "auto",
                            v->base.is_auto, "state", vg_stream_state_name(vg_stream_state(st)),
                            "tiers", ladder_json(v)));
    if (bad_tier)
        queue_error(v, "bad_request", "unknown tier; using the camera's default");
    vg__viewer_add(o, &v->base, "ws", tier);
    return 0;
}

/* The payload is the send time in decimal: libwebsockets checks pong payloads as UTF-8 (with
 * its UTF-8 validation on), so binary bytes would get the connection closed with 1007. */
static int write_ping(ws_viewer_t *v, struct lws *wsi)
{
    unsigned char buf[LWS_PRE + 24];
    v->is_ping_due = false;
    v->ping_sent_us = vg_mono_us();
    int n = snprintf((char *)buf + LWS_PRE, 24, "%lld", (long long)v->ping_sent_us);
    return lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_PING) < 0 ? -1 : 0;
}

static int ws_writable(vg_conn_t *c)
{
    ws_viewer_t *v = vg_conn_data(c);
    if (v == NULL)
        return 0;
    struct lws *wsi = vg_conn_wsi(c);
    if (v->ctrl_count > 0) {
        int slot = v->ctrl_head;
        v->ctrl_head = (v->ctrl_head + 1) % CTRL_QUEUE;
        v->ctrl_count--;
        int rc = lws_write(wsi, (unsigned char *)v->ctrl[slot] + LWS_PRE, v->ctrl_len[slot],
                           LWS_WRITE_TEXT);
        free(v->ctrl[slot]);
        v->ctrl[slot] = NULL;
        if (rc < 0)
            return -1;
        if (v->ctrl_count > 0 || v->pending || v->au_count || v->is_ping_due)
            vg_conn_want_write(c);
        return 0;
    }
    if (v->is_ping_due) {
        if (write_ping(v, wsi) < 0)
            return -1;
        if (v->pending || v->au_count)
            vg_conn_want_write(c);
        return 0;
    }
    vg_frame_t *f;
    if (v->base.is_draining && (v->au_count > 0 || v->pending))
        return 0; /* a deep queue drains first; the sample that ends it asks to write again */
    if (v->au_count > 0) {
        f = au_pop(v);
        if (v->au_count > 0)
            vg_conn_want_write(c);
    } else if (v->pending) {
        f = v->pending;
        v->pending = NULL;
    } else {
        return 0;
    }
    /* libwebsockets either sends it all or keeps the remainder and holds back the next
     * WRITEABLE until it is flushed: that remainder is this viewer's one frame in flight. */
    int rc = lws_write(wsi, f->data - VG_WIRE_HDR_LEN, f->len + VG_WIRE_HDR_LEN,
                       LWS_WRITE_BINARY);
    if (rc >= 0)
        vg__viewer_sent(&v->base, f, f->len + VG_WIRE_HDR_LEN);
    vg_frame_unref(&f);
    return rc < 0 ? -1 : 0;
}

static void ws_pong(vg_conn_t *c, const void *payload, size_t len)
{
    ws_viewer_t *v = vg_conn_data(c);
    char text[24];
    long long stamp;
    if (v == NULL || len == 0 || len >= sizeof(text))
        return; /* unsolicited pongs are allowed (RFC 6455 5.5.3) and ignored */
    memcpy(text, payload, len);
    text[len] = '\0';
    if (sscanf(text, "%lld", &stamp) != 1 || stamp != v->ping_sent_us)
        return; /* an old or foreign one */
    v->base.rtt_us = vg_mono_us() - stamp;
}

static void handle_subscribe(ws_viewer_t *v, json_t *msg)
{
    const char *name = NULL;
    int t = json_unpack(msg, "{s:s}", "tier", &name) == 0 ? parse_tier(v, name) : -1;
    if (t == -1) {
        queue_error(v, "bad_request", "subscribe needs a \"tier\" from the hello's list, or "
                                      "\"auto\"");
        return;
    }
    v->base.is_auto = t == -2;
    vg_stream_await_source_key(&v->base.cons, false);
    if (t >= 0)
        change_tier(v, t, NULL);
    else if (auto_may_use_source(v) && vg__viewer_tier(&v->base) != VG_TIER_SOURCE) {
        if (v->base.frames_sent > 0)
            move_to_source_at_key(v, "source"); /* (told then, as on_codec's move is) */
        else
            change_tier(v, VG_TIER_SOURCE, NULL);
    }
    vg_adapt_init(&v->base.adapt);
    queue_text(v, json_pack("{s:s,s:s,s:b}", "type", "subscribed", "tier",
                            tier_name(v, vg__viewer_tier(&v->base)), "auto", v->base.is_auto));
}

static void handle_report(ws_viewer_t *v, json_t *msg)
{
    double fps = -1, decode_ms = -1;
    json_t *jf = json_object_get(msg, "fps"), *jd = json_object_get(msg, "decode_ms");
    if ((jf && !json_is_number(jf)) || (jd && !json_is_number(jd))) {
        queue_error(v, "bad_request", "report: \"fps\" and \"decode_ms\" are numbers");
        return;
    }
    if (jf)
        fps = json_number_value(jf);
    if (jd)
        decode_ms = json_number_value(jd);
    if (fps > 1000 || decode_ms > 60000) {
        queue_error(v, "bad_request", "report: values out of range");
        return;
    }
    v->base.client_fps = fps < 0 ? -1 : fps;
    v->base.client_decode_ms = decode_ms < 0 ? -1 : decode_ms;
    v->base.report_us = vg_mono_us();
}

static int ws_message(vg_conn_t *c, const char *text, size_t len)
{
    ws_viewer_t *v = vg_conn_data(c);
    if (v == NULL || v->base.st == NULL) /* its camera is gone; the close frame is on its way */
        return 0;
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, 0, &jerr);
    const char *type = NULL;
    if (msg == NULL || !json_is_object(msg) ||
        json_unpack(msg, "{s:s}", "type", &type) != 0) {
        queue_error(v, "bad_request", "control messages are JSON objects with a \"type\"");
        json_decref(msg);
        return 0;
    }
    if (strcmp(type, "subscribe") == 0) {
        handle_subscribe(v, msg);
    } else if (strcmp(type, "stats") == 0) {
        json_t *on = json_object_get(msg, "enable");
        if (on && !json_is_boolean(on))
            queue_error(v, "bad_request", "stats: \"enable\" is true or false");
        else
            v->wants_stats = on == NULL || json_is_true(on);
    } else if (strcmp(type, "report") == 0) {
        handle_report(v, msg);
    } else if (v->outputs->ws_hook.on_message && v->outputs->ws_hook.prefix &&
               strncmp(type, v->outputs->ws_hook.prefix, strlen(v->outputs->ws_hook.prefix)) == 0) {
        v->is_hooked = true;
        v->outputs->ws_hook.on_message(v->outputs->ws_hook.user, c, vg_stream_id(v->base.st),
                                       type, msg);
    } else {
        queue_error(v, "bad_request", "unknown message type");
    }
    json_decref(msg);
    return 0;
}

static void ws_close(vg_conn_t *c)
{
    ws_viewer_t *v = vg_conn_data(c);
    if (v == NULL)
        return;
    if (v->is_hooked && v->outputs->ws_hook.on_close)
        v->outputs->ws_hook.on_close(v->outputs->ws_hook.user, c);
    vg__viewer_remove(&v->base);
    vg_frame_unref(&v->pending);
    au_clear(v);
    free(v->aus);
    free(v->au_since_us);
    for (int i = 0; i < v->ctrl_count; i++)
        free(v->ctrl[(v->ctrl_head + i) % CTRL_QUEUE]);
    free(v);
    vg_conn_set_data(c, NULL);
}

static const vg_handler_ops_t ws_ops = {
    .name = "ws",
    .on_ws_open = ws_open,
    .on_writable = ws_writable,
    .on_ws_message = ws_message,
    .on_ws_pong = ws_pong,
    .on_close = ws_close,
};

void vg_outputs_set_ws_hook(vg_outputs_t *o, const vg_ws_hook_t *hook)
{
    o->ws_hook = *hook;
}

void vg_outputs_ws_send(vg_conn_t *c, json_t *msg)
{
    ws_viewer_t *v = vg_conn_data(c);
    if (v == NULL || vg_conn_is_closing(c)) {
        json_decref(msg);
        return;
    }
    queue_text(v, msg);
}

void vg__ws_register(vg_server_t *srv, vg_outputs_t *o)
{
    vg_server_route(srv, "GET", "/api/v1/cameras/{}/ws", VG_OUTPUT_ACCESS, &ws_ops, o);
}
