/* stream: one camera's two lanes and their consumers (stream.h, docs/streams.md).
 *
 * Hand-offs to the loop, which drains everything in vg__stream_on_wakeup because async
 * sends coalesce:
 *   - the main source thread → loop: normalized access units in the main input's bounded
 *     queue (input.c), atomic counters, and "event" bits for state;
 *   - loop → packet lane: each access unit kept in the lane (GOP cache and history, lane.h)
 *     and handed by reference to `source` consumers from a keyframe; the codec parameters are
 *     read from keyframes, and consumers told when they change;
 *   - loop → media worker (only while it runs): the same access units; the substream and
 *     the snapshot fallback push to their worker straight from their thread (input.c);
 *   - worker → loop: one latest-wins slot per tier (mbox) + the async when it was empty; a
 *     worker's pictures carry its generation, so a stopped worker still finishing cannot
 *     publish into a restarted stream. An H.264 tier's access units depend on each other:
 *     one overwritten in its slot (the loop was late) is a gap, and the tier's consumers
 *     wait for the keyframe the worker is then asked for, like a consumer that joins.
 */
#include "media/stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "core/wire.h"
#include "media/stream_int.h"

/* Puts c at the head of its tier's list (c->tier set). */
void vg__stream_list_insert(vg_stream_t *st, vg_consumer_t *c)
{
    c->prev = NULL;
    c->next = st->consumers[c->tier];
    if (c->next)
        c->next->prev = c;
    st->consumers[c->tier] = c;
    st->consumer_count[c->tier]++;
}

void vg__stream_fanout(vg_stream_t *st, int tier, vg_frame_t *f)
{
    bool is_h264 = tier < VG_TIER_MAX && st->tiers[tier].codec == VG_CODEC_H264;
    for (vg_consumer_t *c = st->consumers[tier], *next; c; c = next) {
        next = c->next; /* a consumer may detach itself from on_frame */
        if (is_h264) {
            if (c->is_waiting_key && !f->meta.is_key)
                continue;
            c->is_waiting_key = false;
        }
        c->ops->on_frame(c, f);
    }
}

bool vg_stream_tier_is_h264(const vg_stream_t *st, int t)
{
    return t >= 0 && t < st->tier_count && st->tiers[t].codec == VG_CODEC_H264;
}

void vg_stream_request_key(vg_stream_t *st, int t)
{
    if (vg_stream_tier_is_h264(st, t))
        atomic_fetch_or(&st->keys_wanted, 1u << t);
}

bool vg_stream_can_encode_h264(const vg_stream_t *st) { return st->hub->can_encode_h264; }

const char *vg_stream_tier_codec_string(const vg_stream_t *st, int t)
{
    return vg_stream_tier_is_h264(st, t) ? st->tier_codec[t] : "";
}

/* An H.264 tier's keyframe: the codec string its parameter sets give, for codec messages. */
static void read_tier_codec(vg_stream_t *st, int t, const vg_frame_t *f)
{
    vg_h26x_params_t *ps = vg_xcalloc(1, sizeof(*ps)); /* 3 KB: not on the loop's stack */
    ps->codec = VG_CODEC_H264;
    if (vg_h26x_params_update(ps, f->data, f->len) >= 0 && vg_h26x_params_complete(ps))
        vg_h26x_codec_string(ps, st->tier_codec[t], sizeof(st->tier_codec[t]));
    free(ps);
}

/* A keyframe of tier t (VG_TIER_SOURCE: the camera's): its size is that tier's burst. */
static void note_key(vg_stream_t *st, int t, size_t len)
{
    st->key_bytes[t][1] = st->key_bytes[t][0];
    st->key_bytes[t][0] = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    if (t != VG_TIER_SOURCE)
        return;
    /* The camera's keyframe interval, for `source-keys`: averaged, since one may come early
     * (a camera asked for one, or a scene cut). */
    int64_t now = vg_mono_us();
    int64_t gap = st->source_key_mono_us ? now - st->source_key_mono_us : 0;
    st->source_key_mono_us = now;
    if (gap > 0)
        st->source_key_interval_us = st->source_key_interval_us
                                         ? st->source_key_interval_us +
                                               (gap - st->source_key_interval_us) / 4
                                         : gap;
}

/* An H.264 tier lost an access unit in its slot: its consumers wait for a keyframe. */
static void h264_gap(vg_stream_t *st, int t)
{
    for (vg_consumer_t *c = st->consumers[t]; c; c = c->next)
        c->is_waiting_key = true;
    vg_stream_request_key(st, t);
}

/* The packet lane (lane.h, input.c) ------------------------------------------------------ */

static void fanout_all(vg_stream_t *st, void (*call)(vg_consumer_t *c))
{
    for (int t = 0; t < LISTS; t++) {
        for (vg_consumer_t *c = st->consumers[t], *next; c; c = next) {
            next = c->next; /* a consumer may move or detach itself */
            call(c);
        }
    }
}

static void tell_source_key(vg_consumer_t *c)
{
    if (!c->is_awaiting_source_key)
        return;
    vg_stream_await_source_key(c, false);
    c->ops->on_source_key(c);
}

static void tell_codec(vg_consumer_t *c)
{
    if (c->ops->on_codec)
        c->ops->on_codec(c);
}

/* The parameter sets changed (or the codec did): what `source` viewers are told. */
static void codec_changed(vg_stream_t *st)
{
    st->is_passthrough = false;
    st->codec_string[0] = '\0';
    st->description_len = 0;
    if ((st->codec == VG_CODEC_H264 || st->codec == VG_CODEC_H265) &&
        vg_h26x_params_complete(&st->params) &&
        vg_h26x_codec_string(&st->params, st->codec_string, sizeof(st->codec_string)) == 0) {
        int n = vg_h26x_description(&st->params, st->description, sizeof(st->description));
        int w, h;
        if (n > 0 && vg_h26x_picture_size(&st->params, &w, &h) == 0) {
            st->description_len = (size_t)n;
            st->lane_width = w;
            st->lane_height = h;
            st->is_passthrough = true;
            VG_LOG_INFO("stream", "cam=%s packet lane: %s %dx%d", st->id, st->codec_string, w,
                        h);
        }
    }
    if (!st->is_passthrough)
        st->codec_string[0] = '\0';
    fanout_all(st, tell_codec);
}

static void mark_waiting(vg_stream_t *st)
{
    for (vg_consumer_t *c = st->consumers[VG_TIER_SOURCE]; c; c = c->next)
        c->is_waiting_key = true;
}

/* Drops what the lane holds and what waits for the loop (the source stopped: the next run
 * starts at its first keyframe). */
void vg__stream_lane_reset(vg_stream_t *st)
{
    void *item;
    while (vg_queue_pop(st->inputs[VG_INPUT_MAIN].lane_queue, &item, 0) == 0) {
        vg_frame_t *f = item;
        if (f != &vg__lane_gap_mark)
            vg_frame_unref(&f);
    }
    vg_lane_clear(st->lane);
    mark_waiting(st);
}

/* One access unit of the main source, in order: kept, handed to `source` consumers, and to
 * the media worker while it runs. */
static void lane_take(vg_stream_t *st, vg_frame_t *f)
{
    bool is_h26x = f->meta.codec == VG_CODEC_H264 || f->meta.codec == VG_CODEC_H265;
    if (f->meta.codec != st->codec) {
        st->codec = f->meta.codec;
        memset(&st->params, 0, sizeof(st->params));
        st->params.codec = st->codec;
        vg_lane_clear(st->lane);
        mark_waiting(st);
        if (!is_h26x)
            codec_changed(st); /* `source` consumers learn it cannot be had */
    }
    if (is_h26x) {
        /* Keyframes carry the parameter sets (input.c puts them there). */
        if (f->meta.is_key) {
            note_key(st, VG_TIER_SOURCE, f->len);
            if (vg_h26x_params_update(&st->params, f->data, f->len) > 0)
                codec_changed(st);
        }
        if (vg_lane_push(st->lane, f) && st->is_passthrough) {
            for (vg_consumer_t *c = st->consumers[VG_TIER_SOURCE], *next; c; c = next) {
                next = c->next;
                if (c->is_waiting_key && !f->meta.is_key)
                    continue;
                c->is_waiting_key = false;
                c->ops->on_frame(c, f);
            }
            /* (after them: one that moves here now gets this keyframe once, from the cache) */
            if (f->meta.is_key && st->source_key_waiters > 0)
                fanout_all(st, tell_source_key);
        }
    }
    if (st->worker)
        vg__worker_push(st->worker, vg_frame_ref(f));
}

/* One audio access unit of the main source: to the `source` consumers that want audio and
 * already play video (from a keyframe). Not kept: the lane's history is the video's. */
static void audio_take(vg_stream_t *st, vg_frame_t *f)
{
    for (vg_consumer_t *c = st->consumers[VG_TIER_SOURCE], *next; c; c = next) {
        next = c->next; /* a consumer may detach itself */
        if (c->ops->on_audio != NULL && !c->is_waiting_key && st->is_passthrough)
            c->ops->on_audio(c, f);
    }
}

static void lane_drain(vg_stream_t *st)
{
    void *item;
    while (vg_queue_pop(st->inputs[VG_INPUT_MAIN].lane_queue, &item, 0) == 0) {
        vg_frame_t *f = item;
        if (f == &vg__lane_gap_mark) {
            vg_lane_gap(st->lane);
            mark_waiting(st);
            continue;
        }
        if (st->is_running && f->meta.codec == VG_CODEC_AAC)
            audio_take(st, f);
        else if (st->is_running)
            lane_take(st, f);
        vg_frame_unref(&f);
    }
}

void vg__stream_on_wakeup(uv_async_t *h)
{
    vg_stream_t *st = h->data;
    unsigned events = atomic_exchange(&st->events, 0);
    lane_drain(st);
    if (!st->is_running && !st->is_fallback_running)
        return;
    if ((events & EVENT_PACKET) && st->is_running &&
        (st->state == VG_STREAM_CONNECTING || st->state == VG_STREAM_FALLBACK)) {
        vg__stream_fallback_stop(st); /* the video is back */
        vg__stream_retry_step(st, VG_RETRY_LIVE, 0);
        vg__stream_health_set(st, true, "");
        st->decode_progress_mono_us = vg_mono_us(); /* the stall time-out runs from here */
        vg__stream_set_state(st, VG_STREAM_LIVE, NULL);
    }

    vg_frame_t *frames[VG_TIER_MAX];
    uv_mutex_lock(&st->mbox_lock);
    memcpy(frames, st->mbox, sizeof(frames));
    memset(st->mbox, 0, sizeof(st->mbox));
    st->mbox_has_any = false;
    unsigned gaps = st->mbox_gaps;
    st->mbox_gaps = 0;
    uv_mutex_unlock(&st->mbox_lock);

    int64_t now = vg_mono_us();
    for (int t = 0; t < st->tier_count; t++) {
        if (gaps & (1u << t))
            h264_gap(st, t);
        if (frames[t] == NULL)
            continue;
        if (frames[t]->meta.is_key && st->tiers[t].codec == VG_CODEC_H264) {
            read_tier_codec(st, t, frames[t]);
            note_key(st, t, frames[t]->len);
        }
        vg_frame_unref(&st->latest[t]);
        st->latest[t] = frames[t]; /* the mailbox's reference moves here */
        st->latest_mono_us[t] = now;
        vg__stream_fanout(st, t, frames[t]);
    }
    if ((events & EVENT_SUB_ENDED) && st->is_sub_running) {
        int status = atomic_load(&st->sub_ended_status);
        vg__stream_sub_failed(st, status < 0 ? status : VG_EEOF);
    }
    if ((events & EVENT_ENDED) && st->is_running) {
        int status = atomic_load(&st->ended_status);
        VG_LOG_DEBUG("stream", "cam=%s source ended: %s", st->id, vg_strerror(status));
        vg__stream_fail(st, status < 0 ? status : VG_EEOF);
    }
}


const char *vg_stream_id(const vg_stream_t *st) { return st->id; }
const char *vg_stream_name(const vg_stream_t *st) { return st->name; }
vg_stream_state_t vg_stream_state(const vg_stream_t *st) { return st->state; }

const char *vg_stream_config_error(const vg_stream_t *st)
{
    if (st->producer != NULL)
        return NULL;
    return st->config_error ? st->config_error : "no source";
}

const char *vg_stream_state_name(vg_stream_state_t state)
{
    switch (state) {
    case VG_STREAM_IDLE: return "idle";
    case VG_STREAM_CONNECTING: return "connecting";
    case VG_STREAM_LIVE: return "live";
    case VG_STREAM_STALLED: return "stalled";
    case VG_STREAM_BACKOFF: return "backoff";
    case VG_STREAM_FAILED: return "failed";
    case VG_STREAM_FALLBACK: return "fallback";
    }
    return "unknown";
}

void vg_stream_size(const vg_stream_t *st, int *width, int *height, int *fps)
{
    vg__stream_known_size(st, width, height);
    *fps = st->fps > 0 ? st->fps : (int)(st->known_fps + 0.5);
}

int vg_stream_tiers(const vg_stream_t *st, const vg_tier_t **out)
{
    *out = st->shown_tiers;
    return st->tier_count;
}

int vg_stream_default_tier(const vg_stream_t *st) { return st->default_tier; }

void vg_stream_get_stats(const vg_stream_t *st, vg_stream_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    const vg_media_counters_t *c = &st->counters;
    out->packets_in = atomic_load(&st->packets_in);
    out->packets_damaged = atomic_load(&st->damaged_in);
    out->bytes_in = atomic_load(&st->bytes_in);
    out->audio_packets_in = atomic_load(&st->audio_packets_in);
    out->audio_bytes_in = atomic_load(&st->audio_bytes_in);
    out->audio_dropped = atomic_load(&st->audio_dropped);
    out->frames_decoded = atomic_load_explicit(&c->frames_decoded, memory_order_relaxed);
    out->decode_us = atomic_load_explicit(&c->decode_us, memory_order_relaxed);
    out->sub_frames_decoded = atomic_load_explicit(&c->sub_frames_decoded, memory_order_relaxed);
    out->packets_dropped = atomic_load_explicit(&c->packets_dropped, memory_order_relaxed);
    out->reconnects = st->reconnects;
    vg_lane_stats_t ls;
    vg_lane_get_stats(st->lane, &ls);
    out->gop_bytes = ls.gop_bytes;
    out->gop_count = ls.gop_count;
    out->history_bytes = ls.bytes;
    out->history_oldest_us = ls.oldest_us;
    out->lane_gaps = ls.gaps;
    out->source_viewers = st->consumer_count[VG_TIER_SOURCE];
    out->tier_count = st->tier_count;
    unsigned needed = atomic_load(&st->tiers_needed);
    for (int t = 0; t < st->tier_count; t++) {
        const vg_tier_counters_t *tc = &c->tier[t];
        vg_stream_tier_stats_t *o = &out->tier[t];
        o->encoded = atomic_load_explicit(&tc->encoded, memory_order_relaxed);
        o->encode_us = atomic_load_explicit(&tc->encode_us, memory_order_relaxed);
        o->scale_us = atomic_load_explicit(&tc->scale_us, memory_order_relaxed);
        o->bytes = atomic_load_explicit(&tc->bytes, memory_order_relaxed);
        for (int b = 0; b < VG_ENCODE_HIST_BUCKETS; b++)
            o->encode_hist[b] = atomic_load_explicit(&tc->encode_hist[b], memory_order_relaxed);
        o->fps = st->tier_fps[t];
        o->kbps = st->tier_kbps[t];
        o->viewers = st->consumer_count[t];
        o->is_active = (needed >> t) & 1u;
    }
}

void vg__stream_update_needed(vg_stream_t *st)
{
    unsigned mask = 0;
    for (int t = 0; t < st->tier_count; t++) {
        if (st->consumer_count[t] > 0)
            mask |= 1u << t;
    }
    atomic_store(&st->tiers_needed, mask);
    vg__stream_publish_needed(st);
    vg__stream_sub_maybe_start(st);
    vg__stream_worker_sync(st);
}

/* A new `source` consumer: told the codec, then the GOP cache from its keyframe, so its
 * first access unit decodes; else it waits for the next keyframe. */
static void link_source(vg_stream_t *st, vg_consumer_t *c)
{
    c->is_waiting_key = true;
    if (st->codec != VG_CODEC_NONE && c->ops->on_codec) {
        c->ops->on_codec(c); /* may move c to a JPEG tier: the codec cannot be passed on */
        if (c->stream != st || c->tier != VG_TIER_SOURCE)
            return;
    }
    size_t n = st->is_passthrough ? vg_lane_gop_count(st->lane) : 0;
    if (n == 0)
        return;
    c->is_waiting_key = false;
    for (size_t i = 0; i < n && c->stream == st && c->tier == VG_TIER_SOURCE; i++)
        c->ops->on_frame(c, vg_lane_gop_at(st->lane, i));
}

static void link_consumer(vg_stream_t *st, vg_consumer_t *c, int tier)
{
    c->stream = st;
    c->tier = tier;
    vg__stream_list_insert(st, c);
    vg__stream_update_needed(st);
    if (tier == VG_TIER_SOURCE) {
        link_source(st, c);
        return;
    }
    bool is_recent = st->latest[tier] &&
                     vg_mono_us() - st->latest_mono_us[tier] < LATEST_MAX_AGE_US;
    if (st->tiers[tier].codec == VG_CODEC_H264) {
        /* Its first access unit must be a keyframe: the last one when it is one, else the
         * one the encoder is asked for now. */
        c->is_waiting_key = !(is_recent && st->latest[tier]->meta.is_key);
        if (c->is_waiting_key) {
            vg_stream_request_key(st, tier);
            return;
        }
    }
    /* A new viewer gets the tier's last picture at once, if it is recent. */
    if (is_recent)
        c->ops->on_frame(c, st->latest[tier]);
}

static void unlink_consumer(vg_consumer_t *c)
{
    vg_stream_t *st = c->stream;
    vg_stream_await_source_key(c, false);
    if (c->prev)
        c->prev->next = c->next;
    else
        st->consumers[c->tier] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    st->consumer_count[c->tier]--;
    vg__stream_update_needed(st);
}

void vg_stream_attach(vg_stream_t *st, vg_consumer_t *c, int tier)
{
    VG_ASSERT(c->stream == NULL && tier >= 0 && (tier < st->tier_count || tier == VG_TIER_SOURCE));
    st->total_consumers++;
    uv_timer_stop(&st->idle_timer);
    if (!st->is_running && !st->hub->is_closing &&
        (st->state == VG_STREAM_IDLE || st->producer == NULL))
        vg__stream_start(st); /* in backoff, the retry timer will start it */
    link_consumer(st, c, tier);
}

void vg_stream_set_tier(vg_consumer_t *c, int tier)
{
    vg_stream_t *st = c->stream;
    if (st == NULL || tier == c->tier)
        return;
    VG_ASSERT(tier >= 0 && (tier < st->tier_count || tier == VG_TIER_SOURCE));
    unlink_consumer(c);
    link_consumer(st, c, tier);
}

void vg_stream_await_source_key(vg_consumer_t *c, bool is_awaiting)
{
    vg_stream_t *st = c->stream;
    is_awaiting = is_awaiting && st != NULL && c->tier != VG_TIER_SOURCE &&
                  c->ops->on_source_key != NULL;
    if (is_awaiting == c->is_awaiting_source_key)
        return;
    c->is_awaiting_source_key = is_awaiting;
    st->source_key_waiters += is_awaiting ? 1 : -1;
}

void vg_stream_detach(vg_consumer_t *c)
{
    vg_stream_t *st = c->stream;
    if (st == NULL)
        return;
    unlink_consumer(c);
    c->stream = NULL;
    if (--st->total_consumers == 0 && st->state != VG_STREAM_IDLE && !st->is_always_on &&
        !st->hub->is_closing && !st->is_removed)
        uv_timer_start(&st->idle_timer, vg__stream_on_idle_timeout, (uint64_t)st->idle_timeout_ms, 0);
}

void vg__stream_keep_info(vg_stream_t *st, bool is_sub, const vg_stream_info_t *info)
{
    uv_mutex_lock(&st->info_lock);
    source_info_t *si = &st->info[is_sub];
    si->codec_id = info->codec_id;
    si->width = info->width;
    si->height = info->height;
    si->has_reordering = info->has_reordering;
    si->audio = info->audio;
    free(si->extradata);
    si->extradata = NULL;
    si->extradata_len = 0;
    if (info->extradata_len > 0) {
        si->extradata = vg_xmalloc(info->extradata_len);
        memcpy(si->extradata, info->extradata, info->extradata_len);
        si->extradata_len = info->extradata_len;
    }
    uv_mutex_unlock(&st->info_lock);
}

bool vg__stream_get_info(vg_stream_t *st, bool is_sub, int *codec_id, uint8_t **extradata,
                         size_t *len, bool *has_reordering)
{
    uv_mutex_lock(&st->info_lock);
    const source_info_t *si = &st->info[is_sub];
    bool has = si->codec_id != 0;
    *codec_id = si->codec_id;
    *has_reordering = si->has_reordering;
    *extradata = NULL;
    *len = 0;
    if (si->extradata_len > 0) {
        *extradata = av_mallocz(si->extradata_len + AV_INPUT_BUFFER_PADDING_SIZE);
        memcpy(*extradata, si->extradata, si->extradata_len);
        *len = si->extradata_len;
    }
    uv_mutex_unlock(&st->info_lock);
    return has;
}

void vg_stream_get_status(const vg_stream_t *st, vg_stream_status_t *out)
{
    vg_stream_t *mst = (vg_stream_t *)st; /* the lock is not part of the logical state */
    uv_mutex_lock(&mst->info_lock);
    out->codec_id = st->info[0].codec_id;
    uv_mutex_unlock(&mst->info_lock);
    vg__stream_known_size(st, &out->width, &out->height);
    out->known_fps = st->known_fps;
    out->has_health = st->has_health;
    out->is_reachable = st->is_reachable;
    out->health_reason = st->health_reason;
    out->health_checked_us = st->health_checked_us;
    out->state = st->state;
    out->reason = st->reason;
    if (st->producer == NULL && st->state == VG_STREAM_IDLE) {
        /* Nothing can be dialled (a configuration the sources refused): failed, with why,
         * whether or not anybody has asked for it yet. */
        out->state = VG_STREAM_FAILED;
        out->reason = st->config_error ? st->config_error : "no source";
    }
    out->since_us = st->state_since_us;
    out->attempts = st->attempts;
    out->input_fps = st->input_fps;
    out->input_kbps = st->input_kbps;
    out->viewers = st->total_consumers;
    out->url = st->url;
    out->sub_url = st->sub ? st->sub_url : NULL;
    out->sub_state = st->is_sub_running ? "running" : st->sub_reason ? "failed" : "off";
    out->sub_reason = st->sub_reason ? st->sub_reason : "";
    out->sub_packets = atomic_load(&st->sub_packets_in);
}

void vg_stream_start_always_on(vg_stream_t *st)
{
    if (st->is_always_on && st->state == VG_STREAM_IDLE && !st->hub->is_closing)
        vg__stream_start(st);
}

void vg__stream_input_packet(vg_stream_t *st, vg_input_kind_t kind, size_t bytes,
                             bool is_damaged)
{
    if (kind == VG_INPUT_SUB) {
        atomic_fetch_add_explicit(&st->sub_packets_in, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&st->bytes_in, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->packets_in, 1, memory_order_relaxed);
    if (is_damaged)
        atomic_fetch_add_explicit(&st->damaged_in, 1, memory_order_relaxed);
    atomic_store_explicit(&st->last_packet_mono_us, vg_mono_us(), memory_order_relaxed);
    if (!atomic_exchange(&st->saw_packet, true)) {
        atomic_fetch_or(&st->events, EVENT_PACKET);
        uv_async_send(&st->wakeup);
    }
}

void vg__stream_input_audio(vg_stream_t *st, size_t bytes, bool is_dropped)
{
    atomic_fetch_add_explicit(&st->audio_packets_in, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->audio_bytes_in, bytes, memory_order_relaxed);
    if (is_dropped)
        atomic_fetch_add_explicit(&st->audio_dropped, 1, memory_order_relaxed);
}

void vg__stream_wake(vg_stream_t *st) { uv_async_send(&st->wakeup); }

void vg__stream_input_ended(vg_stream_t *st, vg_input_kind_t kind, int status)
{
    bool is_sub = kind == VG_INPUT_SUB;
    atomic_store(is_sub ? &st->sub_ended_status : &st->ended_status, status);
    atomic_fetch_or(&st->events, is_sub ? EVENT_SUB_ENDED : EVENT_ENDED);
    uv_async_send(&st->wakeup);
}

int vg_stream_history(const vg_stream_t *st, int64_t at_us, vg_frame_t ***aus, size_t *n,
                      int64_t *oldest_us)
{
    size_t key, idx;
    *aus = NULL;
    *n = 0;
    int rc = st->is_passthrough ? vg_lane_find(st->lane, at_us, &key, &idx, oldest_us)
                                : (*oldest_us = 0, VG_ENOENT);
    if (rc < 0)
        return rc;
    *n = idx - key + 1;
    *aus = vg_xcalloc(*n, sizeof(**aus));
    for (size_t i = 0; i < *n; i++)
        (*aus)[i] = vg_frame_ref(vg_lane_at(st->lane, key + i));
    return 0;
}

/* JPEG size against quality, roughly: libjpeg scales its tables by S = 5000/q below 50,
 * 200 - 2q above, and sizes go about as S^-0.7 on camera pictures. Only an estimate until
 * the tier is encoded and measured. */
static double quality_factor(int q)
{
    double s = q < 50 ? 5000.0 / q : 200.0 - 2.0 * q;
    return pow(s < 1 ? 1 : s, -0.7);
}

double vg_stream_tier_fps(const vg_stream_t *st, int t)
{
    double cam = st->input_fps > 0 ? st->input_fps : st->known_fps;
    if (t == VG_TIER_SOURCE)
        return cam;
    if (t == VG_TIER_SOURCE_KEYS)
        return st->source_key_interval_us > 0 ? 1e6 / (double)st->source_key_interval_us : 0;
    int fps = st->tiers[t].fps;
    return cam > 0 && cam < fps ? cam : fps;
}

static double tier_rate(const vg_stream_t *st, int t, double frame_bytes)
{
    return frame_bytes * vg_stream_tier_fps(st, t) * 8 / 1000;
}

/* A tier's measured bytes per frame (0: none encoded yet). Before the once-a-second mean has
 * one, the frames encoded so far: an adaptive viewer on a thin link steps down within a
 * second of its first frame, and with no cost known it could only go one rung. */
static double frame_bytes(const vg_stream_t *st, int t)
{
    if (st->tier_frame_bytes[t] > 0)
        return st->tier_frame_bytes[t];
    uint64_t enc = atomic_load_explicit(&st->counters.tier[t].encoded, memory_order_relaxed);
    uint64_t b = atomic_load_explicit(&st->counters.tier[t].bytes, memory_order_relaxed);
    if (enc <= st->last_tier_encoded[t] || b < st->last_tier_bytes[t])
        return 0;
    return (double)(b - st->last_tier_bytes[t]) / (double)(enc - st->last_tier_encoded[t]);
}

double vg_stream_tier_kbps(const vg_stream_t *st, int t)
{
    if (t == VG_TIER_SOURCE)
        return st->source_kbps;
    if (t == VG_TIER_SOURCE_KEYS) {
        const uint32_t *kb = st->key_bytes[VG_TIER_SOURCE];
        double mean = kb[1] > 0 ? ((double)kb[0] + kb[1]) / 2 : kb[0];
        return mean * 8 * vg_stream_tier_fps(st, t) / 1000;
    }
    double own = frame_bytes(st, t);
    if (own > 0)
        return tier_rate(st, t, own);
    if (st->tiers[t].codec == VG_CODEC_H264)
        return st->tiers[t].kbps; /* its encoder's cap, until measured */
    const vg_tier_t *tt = &st->shown_tiers[t];
    double best = 0;
    int best_k = -1;
    for (int k = 0; k < st->tier_count; k++) { /* the nearest measured tier */
        const vg_tier_t *tk = &st->shown_tiers[k];
        double kb = frame_bytes(st, k);
        if (kb <= 0 || tk->width <= 0 || tt->width <= 0 || tk->codec != VG_CODEC_JPEG)
            continue;
        /* JPEG bytes grow about as pixels^0.75 (measured on the default ladder) */
        double pix = pow((double)tt->width * tt->height / ((double)tk->width * tk->height), 0.75);
        double bytes = kb * pix * quality_factor(tt->quality) /
                       quality_factor(tk->quality);
        if (best_k < 0 || abs(k - t) < abs(best_k - t)) {
            best = bytes;
            best_k = k;
        }
    }
    return best > 0 ? tier_rate(st, t, best) : 0;
}

uint32_t vg_stream_tier_burst_bytes(const vg_stream_t *st, int t)
{
    if (t == VG_TIER_SOURCE_KEYS)
        t = VG_TIER_SOURCE; /* the same keyframes */
    if (t == VG_TIER_SOURCE || vg_stream_tier_is_h264(st, t))
        return st->key_bytes[t][0] > st->key_bytes[t][1] ? st->key_bytes[t][0]
                                                         : st->key_bytes[t][1];
    if (t < 0 || t >= st->tier_count)
        return 0;
    double own = frame_bytes(st, t); /* a JPEG tier's frames are all alike */
    return own > 0 ? (uint32_t)(own + 0.5) : 0;
}

json_t *vg_stream_ladder_json(const vg_stream_t *st)
{
    json_t *arr = vg_tier_ladder_json(st->shown_tiers, st->tier_count);
    for (int t = 0; t < st->tier_count; t++)
        json_object_set_new(json_array_get(arr, (size_t)t), "kbps",
                            json_integer((json_int_t)(vg_stream_tier_kbps(st, t) + 0.5)));
    return arr;
}

const char *vg_stream_tier_name(const vg_stream_t *st, int t)
{
    return t == VG_TIER_SOURCE        ? "source"
           : t == VG_TIER_SOURCE_KEYS ? "source-keys"
                                      : st->shown_tiers[t].name;
}

void vg_stream_codec(const vg_stream_t *st, vg_stream_codec_t *out)
{
    out->codec = st->codec;
    out->is_passthrough = st->is_passthrough;
    out->codec_string = st->codec_string;
    out->description = st->description;
    out->description_len = st->description_len;
    out->width = st->lane_width;
    out->height = st->lane_height;
    out->fps = st->input_fps > 0 ? st->input_fps : st->known_fps;
    out->kbps = st->input_kbps;
}

int vg_stream_audio(const vg_stream_t *st, vg_stream_audio_t *out)
{
    vg_stream_t *mst = (vg_stream_t *)st; /* the lock is not part of the logical state */
    uv_mutex_lock(&mst->info_lock);
    *out = st->info[0].audio;
    uv_mutex_unlock(&mst->info_lock);
    if (out->codec == VG_CODEC_NONE || out->config_len == 0 || out->sample_rate <= 0 ||
        out->channels <= 0) {
        memset(out, 0, sizeof(*out));
        return VG_ENOENT;
    }
    return 0;
}

void vg__stream_publish(vg_stream_t *st, bool is_sub, unsigned gen, int tier, vg_frame_t *f)
{
    uv_mutex_lock(&st->mbox_lock);
    if (gen != st->worker_gen[is_sub]) { /* a stopped worker's late picture */
        uv_mutex_unlock(&st->mbox_lock);
        vg_frame_unref(&f);
        return;
    }
    vg_frame_t *old = st->mbox[tier];
    st->mbox[tier] = f;
    if (old && st->tiers[tier].codec == VG_CODEC_H264)
        st->mbox_gaps |= 1u << tier;
    bool was_empty = !st->mbox_has_any;
    st->mbox_has_any = true;
    uv_mutex_unlock(&st->mbox_lock);
    if (was_empty)
        uv_async_send(&st->wakeup);
    vg_frame_unref(&old);
}
