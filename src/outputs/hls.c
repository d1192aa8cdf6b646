/* hls: Low-Latency HLS (draft-pantos-hls-rfc8216bis) from a camera's packet lane.
 *
 *   GET /cameras/{id}/hls/index.m3u8[?_HLS_msn=N[&_HLS_part=M]][&_HLS_skip=YES][&token=T]
 *   GET /cameras/{id}/hls/{init1.mp4 | seg12.m4s | part12.3.m4s}?v=EPOCH[&token=T]
 *
 * One muxer per camera that HLS clients fetch (hls_cam_t): a `source` consumer of the stream
 * (so the first playlist request starts the camera, and the muxer starts at a keyframe from
 * the GOP cache) that cuts the camera's own access units into fMP4 parts of at most 200 ms
 * (media/fmp4.h: one moof+mdat each, never transcoded) and hands them to the window
 * (hls_window.h), which all clients share: nothing is copied per client, nothing is written
 * to disk. Where parts and segments end is hls_cut.h's pure rule.
 *
 * Audio: when the camera sends AAC (vg_stream_audio), the init segment has a second track and
 * each part carries, after its video, the AAC frames captured before the part's video ends
 * (the capture time of the access unit that ends it). The audio's decode times follow the
 * video's: a part's first AAC frame is placed at the part's video decode time plus its
 * capture-time offset from the part's first access unit, and later frames follow at 1024
 * samples each (AAC-LC) while they stay within 100 ms of that (else the audio is placed
 * anew: a gap in the camera's audio). Audio waits at most MAX_PART_AUDIO frames for its part.
 *
 * Requests that cannot be answered yet — a blocking playlist reload for a part still to come,
 * the part the preload hint names, the first playlist of a camera just started — are held on
 * the loop (hls_wait_t) and answered when the window changes, or with 503 after a bound.
 *
 * Every URI in a playlist carries the caller's token (so players that cannot send headers
 * work) and v=EPOCH, the muxer's start time: names restart when a muxer does, and a CDN must
 * never serve the old muxer's part12.3.m4s for the new one's. Parts, segments and init
 * segments with the right v are immutable and cached a day; playlists are not cached, except
 * a blocking reload's answer, valid for a second (it holds the part it was asked for).
 *
 * A muxer nobody fetched from for 30 s stops, and the camera's own idle time-out follows.
 * Loop thread only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/fmp4.h"
#include "media/h26x.h"
#include "outputs/hls_cut.h"
#include "outputs/hls_window.h"
#include "outputs/outputs_int.h"

#define PART_TARGET_US 200000
#define SEGMENT_MIN_US 1000000
/* EXT-X-TARGETDURATION must not change while a playlist lives (rfc8216bis 4.4.3.1): it is
 * this from the start, and a longer GOP is cut at a part boundary so no segment rounds above
 * it (the cut lands within a part of the cap: at most 2.2 s, which rounds to 2). */
#define SEGMENT_CAP_US 2000000
#define WINDOW_SEGMENTS 7
#define IDLE_US 30000000LL
#define FIRST_PART_WAIT_MS 15000
#define MAX_PART_AUS 64
/* AAC frames waiting for their part: 2.7 s at 48 kHz, more than a part and a frame. */
#define MAX_PART_AUDIO 128
/* Samples per AAC-LC frame (ISO/IEC 14496-3 4.5.1.1: 1024 per raw_data_block). */
#define AAC_FRAME_SAMPLES 1024
#define TIMESCALE 90000
#define NOMINAL_FRAME_US 33333
/* A gap between access units beyond this is a jump in the camera's clock, not a duration. */
#define MAX_FRAME_US 2000000
#define MIN_FRAME_US 2000
#define CLIENT_SLOTS 64
#define CLIENT_FRESH_US 10000000LL
#define QUERY_MAX 512
/* A stream token or integration key, as the gate reads it (auth.h: VG_STREAM_TOKEN_MAX). */
#define TOKEN_MAX 256

typedef struct hls_cam hls_cam_t;

typedef struct hls_wait {
    vg_conn_t *conn; /* NULL once answered or gone */
    hls_cam_t *cam;  /* NULL once the camera's muxer is gone */
    uv_timer_t timer;
    bool is_playlist, is_skip;
    bool is_epoch_named; /* a file asked for with v=: the current muxer's, immutable */
    int64_t msn, part; /* -1: absent */
    char query[QUERY_MAX];
    char name[64];
    struct hls_wait *prev, *next;
} hls_wait_t;

struct hls_cam {
    vg_consumer_t cons;
    vg_outputs_t *o;
    vg__hls_stats_t *stats;
    char *camera;
    vg_hlsw_t *win;
    vg_h26x_params_t ps;
    bool has_init, is_unsupported;
    bool is_cutting; /* a keyframe came after the init segment: parts follow */
    int64_t epoch_ms;
    /* the part being cut: access units and their durations (the last one's is known only
     * when the next arrives) */
    vg_frame_t *pending[MAX_PART_AUS];
    uint32_t pending_ticks[MAX_PART_AUS];
    int n_pending;
    int64_t pending_us, segment_us, last_capture_us, last_delta_us;
    uint64_t next_dts;
    uint32_t next_seq;
    /* audio (has_audio: the init segment has the track) */
    bool has_audio;
    uint32_t audio_rate;
    vg_frame_t *audio_pending[MAX_PART_AUDIO]; /* captured after the part's first AU */
    int n_audio;
    uint64_t audio_next_dts; /* in audio_rate units */
    bool has_audio_dts;
    hls_wait_t *waits;
    int64_t last_fetch_us; /* monotonic */
    uv_timer_t idle_timer;
    struct {
        uint32_t ip_hash;
        int64_t seen_us;
    } clients[CLIENT_SLOTS];
    hls_cam_t *next;
};

/* ---- statistics (outlive the muxers: Prometheus counters never go back) ---- */

static vg__hls_stats_t *stats_for(vg_outputs_t *o, const char *camera)
{
    for (vg__hls_stats_t *s = o->hls_stats; s; s = s->next) {
        if (strcmp(s->pub.camera, camera) == 0)
            return s;
    }
    vg__hls_stats_t *s = vg_xcalloc(1, sizeof(*s));
    s->pub.camera = vg_xstrdup(camera);
    s->next = o->hls_stats;
    o->hls_stats = s;
    return s;
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* A client is a peer address seen in the last 10 s (HLS has no connection to count). */
static void touch(hls_cam_t *cam, vg_conn_t *c)
{
    int64_t now = vg_mono_us();
    cam->last_fetch_us = now;
    cam->stats->pub.requests++;
    uint32_t h = hash_str(vg_conn_peer_ip(c));
    int free_slot = -1, oldest = 0;
    for (int i = 0; i < CLIENT_SLOTS; i++) {
        if (cam->clients[i].seen_us && cam->clients[i].ip_hash == h) {
            cam->clients[i].seen_us = now;
            return;
        }
        if (free_slot < 0 && now - cam->clients[i].seen_us > CLIENT_FRESH_US)
            free_slot = i;
        if (cam->clients[i].seen_us < cam->clients[oldest].seen_us)
            oldest = i;
    }
    int i = free_slot >= 0 ? free_slot : oldest;
    cam->clients[i].ip_hash = h;
    cam->clients[i].seen_us = now;
}

static int client_count(const hls_cam_t *cam)
{
    int64_t now = vg_mono_us();
    int n = 0;
    for (int i = 0; i < CLIENT_SLOTS; i++)
        n += cam->clients[i].seen_us && now - cam->clients[i].seen_us <= CLIENT_FRESH_US;
    return n;
}

/* ---- held requests ---- */

static void wait_closed(uv_handle_t *h) { free(h->data); }

static void wait_finish(hls_wait_t *w)
{
    if (w->cam) {
        if (w->prev)
            w->prev->next = w->next;
        else
            w->cam->waits = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->cam = NULL;
    }
    if (w->conn)
        vg_conn_set_data(w->conn, NULL);
    w->conn = NULL;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, wait_closed);
}

static void respond_playlist(hls_wait_t *w)
{
    hls_cam_t *cam = w->cam;
    int len = vg_hlsw_playlist_len(cam->win, w->query, w->is_skip);
    if (len < 0) {
        vg_conn_error(w->conn, 500, "internal", "the playlist cannot be rendered (%d)", len);
        return;
    }
    char *text = vg_xmalloc((size_t)len + 1);
    vg_hlsw_playlist(cam->win, w->query, w->is_skip, text, (size_t)len + 1);
    /* A blocking reload's answer holds the part it asked for, whenever it is served: a CDN
     * may answer the same URL from its cache for a second. The plain playlist changes with
     * every part. */
    vg_conn_add_header(w->conn, "cache-control",
                       w->msn >= 0 ? "public, max-age=1" : "public, max-age=0, must-revalidate");
    vg_conn_respond(w->conn, 200, "application/vnd.apple.mpegurl", text, (size_t)len);
    cam->stats->pub.bytes += (uint64_t)len;
    free(text);
}

static void respond_file(hls_wait_t *w, vg_hlsw_file_t *f, bool is_epoch_named)
{
    hls_cam_t *cam = w->cam;
    bool is_init = strncmp(w->name, "init", 4) == 0;
    if (is_epoch_named) {
        char etag[96];
        snprintf(etag, sizeof(etag), "\"%" PRId64 "-%s\"", cam->epoch_ms, w->name);
        vg_conn_add_header(w->conn, "etag", etag);
        vg_conn_add_header(w->conn, "cache-control", "public, max-age=86400, immutable");
    } else {
        vg_conn_add_header(w->conn, "cache-control", "no-cache");
    }
    vg_conn_respond_frames(w->conn, 200, is_init ? "video/mp4" : "video/iso.segment", f->frames,
                           f->n_frames);
    cam->stats->pub.bytes += f->len_bytes;
    vg_hlsw_file_release(f);
}

/* Answers w if it can be answered now; returns false to keep holding it. */
static bool wait_try(hls_wait_t *w)
{
    hls_cam_t *cam = w->cam;
    if (cam->is_unsupported) {
        vg_conn_error(w->conn, 415, "unsupported",
                      "camera '%s' does not send H.264 or H.265: HLS needs its own video",
                      cam->camera);
        return true;
    }
    if (w->is_playlist) {
        uint64_t next_msn;
        int next_part;
        vg_hlsw_next(cam->win, &next_msn, &next_part);
        if (!cam->has_init || (next_msn == 0 && next_part == 0))
            return false; /* the camera is starting: nothing to list yet */
        /* A playlist of parts alone has no EXTINF: players that read segments only (ffmpeg,
         * most non-LL players) find no media in it and give up. A blocking reload names a
         * part it saw in such a playlist, so only the plain one waits for a first segment. */
        if (w->msn < 0 && next_msn == 0)
            return false;
        switch (vg_hlsw_block(cam->win, w->msn, w->part)) {
        case VG_HLSW_BAD:
            vg_conn_error(w->conn, 400, "bad_request",
                          "_HLS_msn/_HLS_part too far ahead of the live edge (next: msn %" PRIu64
                          " part %d), or _HLS_part without _HLS_msn",
                          next_msn, next_part);
            return true;
        case VG_HLSW_WAIT:
            return false;
        case VG_HLSW_READY:
            respond_playlist(w);
            return true;
        }
        return true;
    }
    vg_hlsw_file_t f = {0};
    switch (vg_hlsw_find(cam->win, w->name, &f)) {
    case VG_HLSW_FOUND:
        respond_file(w, &f, w->is_epoch_named);
        return true;
    case VG_HLSW_FUTURE:
        return false;
    case VG_HLSW_GONE:
        vg_conn_error(w->conn, 404, "not_found", "'%s' has left the window (or never will be)",
                      w->name);
        return true;
    case VG_HLSW_BAD_NAME:
    default:
        vg_conn_error(w->conn, 404, "not_found",
                      "no such HLS resource '%s' (index.m3u8, initN.mp4, segN.m4s, partN.I.m4s)",
                      w->name);
        return true;
    }
}

static void wake_waits(hls_cam_t *cam)
{
    for (hls_wait_t *w = cam->waits, *next; w; w = next) {
        next = w->next;
        if (w->conn && wait_try(w))
            wait_finish(w);
    }
}

static void on_wait_timeout(uv_timer_t *t)
{
    hls_wait_t *w = t->data;
    if (w->conn) {
        vg_conn_add_header(w->conn, "retry-after", "1");
        if (w->cam && !w->cam->has_init)
            vg_conn_error(w->conn, 503, "unavailable",
                          "camera has sent no video yet (it may be starting); try again");
        else
            vg_conn_error(w->conn, 503, "unavailable",
                          "the requested part did not arrive in time (is the camera live?)");
    }
    wait_finish(w);
}

/* ---- cutting the packet lane into parts ---- */

static uint32_t us_to_ticks(int64_t us) { return (uint32_t)((us * TIMESCALE + 500000) / 1000000); }

static void pending_clear(hls_cam_t *cam)
{
    for (int i = 0; i < cam->n_pending; i++)
        vg_frame_unref(&cam->pending[i]);
    cam->n_pending = 0;
    cam->pending_us = 0;
}

static void audio_clear(hls_cam_t *cam)
{
    for (int i = 0; i < cam->n_audio; i++)
        vg_frame_unref(&cam->audio_pending[i]);
    cam->n_audio = 0;
}

/* The AAC frames captured before end_us, as the part's audio run (*n of them, taken from the
 * front of audio_pending; the caller unrefs them). Their decode times follow the part's
 * video: see the file comment. */
static void take_audio(hls_cam_t *cam, int64_t end_us, vg_fmp4_sample_t *samples,
                       vg_fmp4_run_t *run)
{
    int n = 0;
    while (n < cam->n_audio && cam->audio_pending[n]->meta.capture_us < end_us)
        n++;
    run->samples = samples;
    run->n = (size_t)n;
    if (n == 0)
        return;
    int64_t offset_us = cam->audio_pending[0]->meta.capture_us - cam->pending[0]->meta.capture_us;
    uint64_t rate = cam->audio_rate;
    uint64_t placed = cam->next_dts * rate / TIMESCALE + (uint64_t)offset_us * rate / 1000000;
    uint64_t drift = placed > cam->audio_next_dts ? placed - cam->audio_next_dts
                                                  : cam->audio_next_dts - placed;
    if (!cam->has_audio_dts || drift > rate / 10)
        cam->audio_next_dts = placed;
    cam->has_audio_dts = true;
    run->base_decode_time = cam->audio_next_dts;
    for (int i = 0; i < n; i++)
        samples[i] = (vg_fmp4_sample_t){.au = cam->audio_pending[i],
                                        .duration = AAC_FRAME_SAMPLES};
    cam->audio_next_dts += (uint64_t)n * AAC_FRAME_SAMPLES;
}

/* Drops the first n pending AAC frames (written, or not wanted). */
static void audio_consume(hls_cam_t *cam, int n)
{
    for (int i = 0; i < n; i++)
        vg_frame_unref(&cam->audio_pending[i]);
    memmove(cam->audio_pending, cam->audio_pending + n,
            (size_t)(cam->n_audio - n) * sizeof(cam->audio_pending[0]));
    cam->n_audio -= n;
}

/* Emits the pending access units (every duration known) as one part, with the audio captured
 * before end_us (the capture time of the access unit after them). */
static void flush_part(hls_cam_t *cam, int64_t end_us)
{
    if (cam->n_pending == 0)
        return;
    vg_fmp4_sample_t samples[MAX_PART_AUS];
    uint64_t ticks = 0;
    for (int i = 0; i < cam->n_pending; i++) {
        samples[i].au = cam->pending[i];
        samples[i].duration = cam->pending_ticks[i];
        ticks += cam->pending_ticks[i];
    }
    vg_fmp4_run_t video = {.base_decode_time = cam->next_dts, .samples = samples,
                           .n = (size_t)cam->n_pending};
    vg_fmp4_sample_t audio_samples[MAX_PART_AUDIO];
    vg_fmp4_run_t audio = {0};
    if (cam->has_audio)
        take_audio(cam, end_us, audio_samples, &audio);
    int err = 0;
    vg_frame_t *part = vg_fmp4_fragment_av(++cam->next_seq, &video, &audio, &err);
    audio_consume(cam, (int)audio.n);
    if (part == NULL) {
        VG_LOG_WARN("hls", "camera=%s part of %d access units dropped: %s", cam->camera,
                    cam->n_pending, vg_strerror(err));
    } else {
        if (vg_hlsw_add_part(cam->win, part, cam->pending_us, part->meta.is_key,
                             cam->pending[0]->meta.capture_us) == 0) {
            cam->segment_us += cam->pending_us;
            cam->stats->pub.parts++;
            cam->stats->pub.window_bytes = vg_hlsw_bytes(cam->win);
        }
        vg_frame_unref(&part);
    }
    cam->next_dts += ticks;
    pending_clear(cam);
}

static void new_init(hls_cam_t *cam)
{
    vg_fmp4_track_t track = {.params = &cam->ps, .timescale = TIMESCALE};
    vg_stream_audio_t sa;
    vg_fmp4_audio_t audio;
    bool had_audio = cam->has_audio;
    cam->has_audio = vg_stream_audio(cam->cons.stream, &sa) == 0 &&
                     sa.config_len <= VG_FMP4_AUDIO_CONFIG_MAX;
    if (cam->has_audio) {
        audio = (vg_fmp4_audio_t){.config = sa.config,
                                  .config_len = sa.config_len,
                                  .sample_rate = (uint32_t)sa.sample_rate,
                                  .channels = sa.channels};
        track.audio = &audio;
        if (cam->audio_rate != (uint32_t)sa.sample_rate)
            cam->has_audio_dts = false; /* another timescale: placed anew */
        cam->audio_rate = (uint32_t)sa.sample_rate;
    } else {
        audio_clear(cam);
    }
    if (cam->has_audio != had_audio)
        VG_LOG_INFO("hls", "camera=%s %s", cam->camera,
                    cam->has_audio ? "audio: AAC track in the init segment" : "no audio");
    int err = 0;
    vg_frame_t *init = vg_fmp4_init_segment(&track, &err);
    if (init == NULL) {
        VG_LOG_WARN("hls", "camera=%s no init segment: %s", cam->camera, vg_strerror(err));
        return;
    }
    vg_hlsw_set_init(cam->win, init); /* closes the open segment */
    cam->segment_us = 0;
    cam->has_init = true;
    vg_frame_unref(&init);
}

static void on_frame(vg_consumer_t *c, vg_frame_t *f)
{
    hls_cam_t *cam = c->user;
    if (f->meta.codec != VG_CODEC_H264 && f->meta.codec != VG_CODEC_H265) {
        if (!cam->is_unsupported)
            VG_LOG_INFO("hls", "camera=%s sends no H.264/H.265: no HLS", cam->camera);
        cam->is_unsupported = true;
        wake_waits(cam);
        return;
    }
    cam->is_unsupported = false;
    int64_t delta = cam->n_pending ? f->meta.capture_us - cam->last_capture_us : 0;
    /* Two access units a few µs apart arrived together (a camera's burst, or an RTSP AU that
     * waited for the next one): their capture times say nothing of the frame interval. */
    if (cam->n_pending && (delta < MIN_FRAME_US || delta > MAX_FRAME_US))
        delta = cam->last_delta_us > 0 ? cam->last_delta_us : NOMINAL_FRAME_US;
    if (cam->n_pending) {
        cam->pending_ticks[cam->n_pending - 1] = us_to_ticks(delta);
        cam->pending_us += delta;
        cam->last_delta_us = delta;
    }
    bool is_changed = false;
    if (f->meta.is_key) {
        if (cam->ps.codec != f->meta.codec) {
            memset(&cam->ps, 0, sizeof(cam->ps));
            cam->ps.codec = f->meta.codec;
        }
        is_changed = vg_h26x_params_update(&cam->ps, f->data, f->len) == 1 &&
                     vg_h26x_params_complete(&cam->ps);
    }
    static const vg_hls_cut_cfg_t cut_cfg = {.part_target_us = PART_TARGET_US,
                                             .segment_min_us = SEGMENT_MIN_US,
                                             .segment_cap_us = SEGMENT_CAP_US,
                                             .max_part_aus = MAX_PART_AUS};
    vg_hls_cut_state_t cut_state = {.n_pending = cam->n_pending,
                                    .pending_us = cam->pending_us,
                                    .segment_us = cam->segment_us,
                                    .frame_us = cam->last_delta_us};
    vg_hls_cut_t cut = vg_hls_cut_decide(&cut_cfg, &cut_state, f->meta.is_key, is_changed);
    /* Held requests are looked at again only when the window changed, not per frame. */
    bool is_window_changed = cut.is_part_end;
    if (cut.is_part_end) {
        flush_part(cam, f->meta.capture_us);
        if (cut.is_segment_end) {
            vg_hlsw_close_segment(cam->win);
            cam->segment_us = 0;
        }
    }
    if (is_changed || (!cam->has_init && f->meta.is_key && vg_h26x_params_complete(&cam->ps))) {
        new_init(cam);
        is_window_changed = true;
    }
    if (cam->has_init && f->meta.is_key)
        cam->is_cutting = true;
    if (cam->is_cutting) {
        cam->pending[cam->n_pending++] = vg_frame_ref(f);
        cam->last_capture_us = f->meta.capture_us;
    }
    if (is_window_changed)
        wake_waits(cam);
}

/* An AAC frame: kept for the part whose video it falls in. Audio from before the part being
 * cut (its part was written) or before the first keyframe is dropped. */
static void on_audio(vg_consumer_t *c, vg_frame_t *f)
{
    hls_cam_t *cam = c->user;
    if (!cam->has_audio || !cam->is_cutting || cam->n_pending == 0 ||
        f->meta.capture_us < cam->pending[0]->meta.capture_us ||
        cam->n_audio == MAX_PART_AUDIO)
        return;
    cam->audio_pending[cam->n_audio++] = vg_frame_ref(f);
}

/* ---- muxers ---- */

static void cam_free(hls_cam_t *cam);

static void on_removed(vg_consumer_t *c, const char *reason)
{
    hls_cam_t *cam = c->user;
    for (hls_wait_t *w = cam->waits; w; w = w->next) {
        if (w->conn)
            vg_conn_error(w->conn, 404, "not_found", "%s", reason);
    }
    cam_free(cam);
}

/* Another camera of higher priority took the camera's place: players may try again. */
static void on_displaced(vg_consumer_t *c, const char *reason)
{
    hls_cam_t *cam = c->user;
    for (hls_wait_t *w = cam->waits; w; w = w->next) {
        if (w->conn) {
            vg_conn_add_header(w->conn, "retry-after", "5");
            vg_conn_error(w->conn, 503, "unavailable", "%s", reason);
        }
    }
    cam_free(cam);
}

/* A camera whose video is not H.264/H.265 never sends its consumers an access unit: only this
 * says so. */
static void on_codec(vg_consumer_t *c)
{
    hls_cam_t *cam = c->user;
    vg_stream_codec_t sc;
    vg_stream_codec(c->stream, &sc);
    cam->is_unsupported = sc.codec != VG_CODEC_NONE && sc.codec != VG_CODEC_H264 &&
                          sc.codec != VG_CODEC_H265;
    if (cam->is_unsupported)
        wake_waits(cam);
}

static const vg_consumer_ops_t consumer_ops = {
    .on_frame = on_frame, .on_codec = on_codec, .on_removed = on_removed,
    .on_displaced = on_displaced, .on_audio = on_audio};

static void idle_closed(uv_handle_t *h) { free(h->data); }

static void cam_free(hls_cam_t *cam)
{
    vg_outputs_t *o = cam->o;
    for (hls_cam_t **p = &o->hls; *p; p = &(*p)->next) {
        if (*p == cam) {
            *p = cam->next;
            break;
        }
    }
    while (cam->waits)
        wait_finish(cam->waits);
    vg_stream_detach(&cam->cons);
    pending_clear(cam);
    audio_clear(cam);
    vg_hlsw_free(&cam->win);
    cam->stats->pub.clients = 0;
    cam->stats->pub.window_bytes = 0;
    free(cam->camera);
    uv_timer_stop(&cam->idle_timer);
    uv_close((uv_handle_t *)&cam->idle_timer, idle_closed);
}

static void on_idle_check(uv_timer_t *t)
{
    hls_cam_t *cam = t->data;
    cam->stats->pub.clients = client_count(cam);
    if (cam->waits == NULL && vg_mono_us() - cam->last_fetch_us > IDLE_US) {
        VG_LOG_INFO("hls", "camera=%s no HLS client for %lld s: muxer stopped", cam->camera,
                    IDLE_US / 1000000);
        cam_free(cam);
    }
}

/* The camera's running muxer, or NULL. */
static hls_cam_t *cam_find(vg_outputs_t *o, const vg_stream_t *st, const char *camera)
{
    for (hls_cam_t *cam = o->hls; cam; cam = cam->next) {
        if (strcmp(cam->camera, camera) == 0 && cam->cons.stream == st)
            return cam;
    }
    return NULL;
}

/* The camera's muxer, started (and the camera with it) when none runs. */
static hls_cam_t *cam_get(vg_outputs_t *o, vg_stream_t *st, const char *camera)
{
    hls_cam_t *cam = cam_find(o, st, camera);
    if (cam)
        return cam;
    cam = vg_xcalloc(1, sizeof(*cam));
    cam->o = o;
    cam->camera = vg_xstrdup(camera);
    cam->stats = stats_for(o, camera);
    vg_hlsw_cfg_t wcfg = {.part_target_us = PART_TARGET_US,
                          .segment_target_us = SEGMENT_CAP_US,
                          .window_segments = WINDOW_SEGMENTS};
    cam->win = vg_hlsw_new(&wcfg);
    cam->epoch_ms = vg_wall_us() / 1000;
    cam->last_fetch_us = vg_mono_us();
    cam->cons.ops = &consumer_ops;
    cam->cons.user = cam;
    uv_timer_init(o->cfg.loop, &cam->idle_timer);
    cam->idle_timer.data = cam;
    uv_timer_start(&cam->idle_timer, on_idle_check, 1000, 1000);
    cam->next = o->hls;
    o->hls = cam;
    vg_stream_attach(st, &cam->cons, VG_TIER_SOURCE); /* may deliver the GOP cache at once */
    on_codec(&cam->cons); /* a camera already known not to be H.26x */
    return cam;
}

/* ---- requests ---- */

/* The query every URI of the playlist carries: the caller's token, percent-encoded, and the
 * muxer's epoch. */
static int build_query(vg_conn_t *c, const hls_cam_t *cam, char *out, size_t cap)
{
    char token[TOKEN_MAX + 1];
    size_t n = 0;
    int rc = vg_conn_query(c, "token", token, sizeof(token));
    if (rc >= 0) {
        n += (size_t)snprintf(out, cap, "token=");
        for (const char *p = token; *p && n + 4 < cap; p++) {
            unsigned char ch = (unsigned char)*p;
            if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_' || ch == '.' || ch == '~')
                out[n++] = (char)ch;
            else
                n += (size_t)snprintf(out + n, cap - n, "%%%02X", ch);
        }
        out[n] = '\0';
        if (n + 4 >= cap)
            return VG_ENOSPC;
    }
    int m = snprintf(out + n, cap - n, "%sv=%" PRId64, n ? "&" : "", cam->epoch_ms);
    return m < 0 || (size_t)m >= cap - n ? VG_ENOSPC : 0;
}

/* A non-negative decimal below 2^62, or -1 when absent; VG_EINVAL when malformed. */
static int query_number(vg_conn_t *c, const char *name, int64_t *out)
{
    char buf[24];
    *out = -1;
    int rc = vg_conn_query(c, name, buf, sizeof(buf));
    if (rc == VG_ENOENT)
        return 0;
    if (rc <= 0 || rc > 18)
        return VG_EINVAL;
    int64_t v = 0;
    for (const char *p = buf; *p; p++) {
        if (*p < '0' || *p > '9')
            return VG_EINVAL;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

static int hold_or_answer(hls_cam_t *cam, vg_conn_t *c, hls_wait_t *w)
{
    w->cam = cam;
    w->conn = c;
    uv_timer_init(cam->o->cfg.loop, &w->timer);
    w->timer.data = w;
    w->next = cam->waits;
    if (cam->waits)
        cam->waits->prev = w;
    cam->waits = w;
    if (wait_try(w)) {
        wait_finish(w);
        return 0;
    }
    /* The spec's bound for a blocking reload is three target durations; a camera that is
     * starting gets longer to send its first keyframe. */
    uint64_t ms = cam->has_init ? (uint64_t)vg_hlsw_target_duration_s(cam->win) * 3000
                                : FIRST_PART_WAIT_MS;
    vg_conn_set_data(c, w);
    uv_timer_start(&w->timer, on_wait_timeout, ms, 0);
    cam->stats->pub.blocked++;
    return 0;
}

static int playlist_request(vg_conn_t *c, const char *const *params, void *user)
{
    vg_outputs_t *o = user;
    vg_stream_t *st = vg_hub_find(o->cfg.hub, params[0]);
    if (st == NULL)
        return vg_conn_error(c, 404, "not_found", "no camera '%s'", params[0]);
    hls_wait_t *w = vg_xcalloc(1, sizeof(*w));
    w->is_playlist = true;
    char skip[8];
    if (query_number(c, "_HLS_msn", &w->msn) < 0 || query_number(c, "_HLS_part", &w->part) < 0) {
        free(w);
        return vg_conn_error(c, 400, "bad_request",
                             "_HLS_msn and _HLS_part: non-negative decimal numbers");
    }
    if (w->part >= 0 && w->msn < 0) {
        free(w);
        return vg_conn_error(c, 400, "bad_request", "_HLS_part needs _HLS_msn");
    }
    int rc = vg_conn_query(c, "_HLS_skip", skip, sizeof(skip));
    w->is_skip = rc > 0 && (strcmp(skip, "YES") == 0 || strcmp(skip, "v2") == 0);
    hls_cam_t *cam = cam_find(o, st, params[0]);
    char why[200];
    if (cam == NULL && vg_stream_admit(st, why, sizeof(why)) < 0) {
        free(w);
        vg_conn_add_header(c, "retry-after", "5");
        return vg_conn_error(c, 503, "unavailable", "%s", why);
    }
    cam = cam_get(o, st, params[0]);
    touch(cam, c);
    if (build_query(c, cam, w->query, sizeof(w->query)) < 0) {
        free(w);
        return vg_conn_error(c, 400, "bad_request", "token too long");
    }
    return hold_or_answer(cam, c, w);
}

static int file_request(vg_conn_t *c, const char *const *params, void *user)
{
    vg_outputs_t *o = user;
    vg_stream_t *st = vg_hub_find(o->cfg.hub, params[0]);
    if (st == NULL)
        return vg_conn_error(c, 404, "not_found", "no camera '%s'", params[0]);
    vg_hlsw_name_t name;
    if (strlen(params[1]) >= sizeof(((hls_wait_t *)0)->name) ||
        vg_hlsw_parse_name(params[1], &name) < 0)
        return vg_conn_error(c, 404, "not_found",
                             "no such HLS resource '%s' (index.m3u8, initN.mp4, segN.m4s, "
                             "partN.I.m4s)",
                             params[1]);
    hls_cam_t *cam = cam_find(o, st, params[0]);
    int64_t v;
    bool has_v = query_number(c, "v", &v) == 0 && v >= 0;
    if (cam == NULL || (has_v && v != cam->epoch_ms))
        return vg_conn_error(c, 404, "not_found",
                             "'%s' is not held: the camera's HLS stream restarted or stopped; "
                             "reload the playlist",
                             params[1]);
    touch(cam, c);
    hls_wait_t *w = vg_xcalloc(1, sizeof(*w));
    vg_strlcpy(w->name, params[1], sizeof(w->name));
    w->is_epoch_named = has_v;
    w->msn = w->part = -1;
    return hold_or_answer(cam, c, w);
}

static void hls_close(vg_conn_t *c)
{
    hls_wait_t *w = vg_conn_data(c);
    if (w == NULL)
        return;
    w->conn = NULL;
    wait_finish(w);
}

static const vg_handler_ops_t playlist_ops = {
    .name = "hls",
    .on_request = playlist_request,
    .on_close = hls_close,
};

static const vg_handler_ops_t file_ops = {
    .name = "hls",
    .on_request = file_request,
    .on_close = hls_close,
};

void vg__hls_register(vg_server_t *srv, vg_outputs_t *o)
{
    vg_server_route(srv, "GET", "/cameras/{}/hls/index.m3u8", VG_OUTPUT_ACCESS, &playlist_ops,
                    o);
    vg_server_route(srv, "GET", "/cameras/{}/hls/{}", VG_OUTPUT_ACCESS, &file_ops, o);
}

void vg__hls_stop(vg_outputs_t *o)
{
    while (o->hls)
        cam_free(o->hls);
}

void vg__hls_free(vg_outputs_t *o)
{
    for (vg__hls_stats_t *s = o->hls_stats, *next; s; s = next) {
        next = s->next;
        free((char *)s->pub.camera);
        free(s);
    }
    o->hls_stats = NULL;
}

void vg_outputs_each_hls(vg_outputs_t *o, void (*fn)(const vg_hls_counters_t *c, void *arg),
                         void *arg)
{
    for (vg__hls_stats_t *s = o->hls_stats; s; s = s->next)
        fn(&s->pub, arg);
}
