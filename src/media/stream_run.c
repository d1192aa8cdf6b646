/* stream_run: the lifecycle of one stream (docs/streams.md).
 *
 *   idle → connecting → live → stalled → backoff → connecting → ...
 *
 * The source starts with the first consumer and stops idle_timeout_ms after the last one
 * (unless always-on). Failures and stalls go through the pure retry policy of lifecycle.h
 * (state, event, now and a random source in, the next action and deadline out; unit-tested
 * without a clock): this file only carries its answers out with timers. The media worker runs
 * while a JPEG tier (or the fallback) wants pictures; the substream while one of its tiers
 * is wanted; the snapshot fallback after repeated failures, until the video returns.
 * Stopping any of them never waits: each thread is cut off, told to stop, and reaped when it
 * posts its exit (hub.c).
 */
#include "media/stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "core/wire.h"
#include "media/stream_int.h"

void vg__stream_set_state(vg_stream_t *st, vg_stream_state_t state, const char *reason)
{
    reason = reason ? reason : "";
    if (st->state == state && strcmp(st->reason, reason) == 0)
        return;
    if (*reason)
        VG_LOG_INFO("stream", "cam=%s %s -> %s: %s", st->id, vg_stream_state_name(st->state),
                    vg_stream_state_name(state), reason);
    else
        VG_LOG_INFO("stream", "cam=%s %s -> %s", st->id, vg_stream_state_name(st->state),
                    vg_stream_state_name(state));
    bool was_down = vg__stream_is_down(st);
    if (st->state == VG_STREAM_IDLE && state != VG_STREAM_IDLE)
        st->placed_mono_us = vg_mono_us();
    st->state = state;
    st->reason = reason;
    st->state_since_us = vg_wall_us();
    if (vg__stream_is_down(st) && !was_down)
        st->down_since_us = st->state_since_us;
    if (vg__stream_is_down(st) && !uv_is_active((uv_handle_t *)&st->card_timer))
        uv_timer_start(&st->card_timer, vg__stream_on_card, 0, 1000);
    for (int t = 0; t < LISTS; t++) {
        for (vg_consumer_t *c = st->consumers[t], *next; c; c = next) {
            next = c->next;
            if (c->ops->on_state)
                c->ops->on_state(c, state);
        }
    }
}

/* Feeds the retry policy (lifecycle.h) with the loop's clock and the hub's jitter state. */
vg_retry_action_t vg__stream_retry_step(vg_stream_t *st, vg_retry_event_t ev, int status)
{
    vg_retry_action_t a = vg_retry_step(&st->retry, &st->hub->retry_cfg, ev, status,
                                        vg_mono_us(), &st->hub->rng);
    st->attempts = st->retry.attempts;
    return a;
}

/* What the last look at the camera said: an idle check, a probe, or the source. */
void vg__stream_health_set(vg_stream_t *st, bool is_reachable, const char *reason)
{
    if (!st->has_health || st->is_reachable != is_reachable ||
        strcmp(st->health_reason, reason) != 0) {
        if (is_reachable)
            VG_LOG_INFO("stream", "cam=%s reachable%s%s", st->id, *reason ? ": " : "", reason);
        else
            VG_LOG_WARN("stream", "cam=%s unreachable: %s", st->id, reason);
    }
    st->has_health = true;
    st->is_reachable = is_reachable;
    vg_strlcpy(st->health_reason, reason, sizeof(st->health_reason));
    st->health_checked_us = vg_wall_us();
}

void vg__stream_check_cancel(vg_stream_t *st)
{
    if (st->check == NULL)
        return;
    st->producer->cancel_check(st->check);
    st->check = NULL;
    if (st->is_check_probe) /* the policy waits for an answer that will not come */
        st->retry.is_probing = false;
}

/* Pictures decoded from the main source (the substream's are counted apart). */
static uint64_t main_decoded(const vg_stream_t *st)
{
    return atomic_load_explicit(&st->counters.frames_decoded, memory_order_relaxed) -
           atomic_load_explicit(&st->counters.sub_frames_decoded, memory_order_relaxed);
}

/* The ladder as shown (API, WebSocket tiers message): each tier's size from the picture's
 * once known, as the worker sizes it, instead of 0x0. */
/* The picture's size: as the source said, else as configured, else as decoded, else 0. */
void vg__stream_known_size(const vg_stream_t *st, int *w, int *h)
{
    vg_stream_t *mst = (vg_stream_t *)st; /* the lock is not part of the logical state */
    uv_mutex_lock(&mst->info_lock);
    *w = st->info[0].width;
    *h = st->info[0].height;
    uv_mutex_unlock(&mst->info_lock);
    if (*w <= 0 || *h <= 0) {
        *w = st->width;
        *h = st->height;
    }
    if (*w <= 0 || *h <= 0) {
        *w = atomic_load_explicit(&st->counters.pic_width, memory_order_relaxed);
        *h = atomic_load_explicit(&st->counters.pic_height, memory_order_relaxed);
    }
}

void vg__stream_refresh_shown_tiers(vg_stream_t *st)
{
    int w, h;
    vg__stream_known_size(st, &w, &h);
    memcpy(st->shown_tiers, st->tiers, sizeof(st->tiers));
    st->shown_w = w;
    st->shown_h = h;
    if (w <= 0 || h <= 0)
        return;
    for (int t = 0; t < st->tier_count; t++) {
        if (st->shown_tiers[t].width == 0 || st->shown_tiers[t].height == 0)
            vg_tier_resolve(&st->tiers[t], w, h, &st->shown_tiers[t].width,
                            &st->shown_tiers[t].height);
    }
}

static int worker_new(vg_stream_t *st, vg_worker_t **out, bool is_sub, vg_frame_t **prime,
                      size_t prime_count)
{
    uv_mutex_lock(&st->mbox_lock);
    unsigned gen = ++st->worker_gen[is_sub];
    uv_mutex_unlock(&st->mbox_lock);
    vg_worker_cfg_t wcfg = {
        .gen = gen,
        .stream_id = st->id,
        .stream = st,
        .is_sub = is_sub,
        .tier_count = st->tier_count,
        .tiers_needed = is_sub ? &st->sub_needed : &st->main_needed,
        .keys_wanted = &st->keys_wanted,
        .counters = &st->counters,
        .prime = prime,
        .prime_count = prime_count,
    };
    memcpy(wcfg.tiers, st->tiers, sizeof(st->tiers));
    int rc = vg__worker_start(out, &wcfg);
    if (rc < 0)
        VG_LOG_ERROR("stream", "cam=%s cannot start media worker: %s", st->id, vg_strerror(rc));
    return rc;
}

/* Stops a worker without waiting for it: from here on its pictures are dropped (it may
 * still be finishing one), and its thread is joined when it posts its exit. */
static void worker_stop(vg_stream_t *st, vg_worker_t **wp, bool is_sub)
{
    if (*wp == NULL)
        return;
    vg__worker_stop(wp);
    uv_mutex_lock(&st->mbox_lock);
    st->worker_gen[is_sub]++;
    uv_mutex_unlock(&st->mbox_lock);
}

static bool worker_is_wanted(const vg_stream_t *st)
{
    return st->is_fallback_running ||
           (st->is_running && atomic_load(&st->main_needed) != 0);
}

/* Starts the main worker, primed with the packet lane's GOP cache so that a viewer asking
 * for JPEG of a camera watched until now only as `source` gets a picture at once, not at
 * the next keyframe. The loop feeds it every access unit after those (vg__stream_on_wakeup). */
static int worker_ensure(vg_stream_t *st)
{
    if (st->worker)
        return 0;
    size_t n = st->codec == VG_CODEC_H264 || st->codec == VG_CODEC_H265
                   ? vg_lane_gop_count(st->lane)
                   : 0;
    vg_frame_t **prime = n ? vg_xcalloc(n, sizeof(*prime)) : NULL;
    for (size_t i = 0; i < n; i++)
        prime[i] = vg_frame_ref(vg_lane_gop_at(st->lane, i));
    int rc = worker_new(st, &st->worker, false, prime, n);
    free(prime); /* the worker took the references (or dropped them on failure) */
    if (rc < 0)
        return rc;
    vg__input_set_worker(&st->inputs[VG_INPUT_FALLBACK], st->worker);
    st->worker_unneeded_s = 0;
    st->last_decoded = atomic_load(&st->counters.frames_decoded) -
                       atomic_load(&st->counters.sub_frames_decoded);
    st->decode_progress_mono_us = vg_mono_us(); /* the decode stall time-out runs from here */
    return 0;
}

static void worker_release(vg_stream_t *st);

/* Starts the main worker when some JPEG tier wants it (a camera watched only through the
 * packet lane is never decoded); stopping waits WORKER_LINGER_S (on_check). */
void vg__stream_worker_sync(vg_stream_t *st)
{
    if (!worker_is_wanted(st))
        return;
    st->worker_unneeded_s = 0;
    if (worker_ensure(st) < 0)
        VG_LOG_WARN("stream", "cam=%s JPEG tiers get no pictures: no media worker", st->id);
}

/* Splits the wanted tiers between the two workers: the substream's tiers go to it while it
 * runs, to the main worker otherwise. */
void vg__stream_publish_needed(vg_stream_t *st)
{
    unsigned mask = atomic_load(&st->tiers_needed);
    unsigned to_sub = st->is_sub_running ? mask & st->sub_tiers : 0;
    atomic_store(&st->sub_needed, to_sub);
    atomic_store(&st->main_needed, mask & ~to_sub);
}

static void sub_stop(vg_stream_t *st)
{
    if (!st->is_sub_running)
        return;
    st->sub->stop(st->sub_ctx); /* after this no packet reaches the sub worker */
    st->is_sub_running = false;
    vg__stream_publish_needed(st);
    vg__input_set_worker(&st->inputs[VG_INPUT_SUB], NULL);
    worker_stop(st, &st->sub_worker, true);
    vg__stream_worker_sync(st); /* its tiers come from the main stream now */
}

static void on_sub_retry(uv_timer_t *t);

/* Starts the substream when the stream runs and a viewer wants one of its tiers. */
void vg__stream_sub_maybe_start(vg_stream_t *st)
{
    if (st->sub == NULL || st->is_sub_running || !st->is_running || st->sub_reason ||
        (atomic_load(&st->tiers_needed) & st->sub_tiers) == 0)
        return;
    if (worker_new(st, &st->sub_worker, true, NULL, 0) < 0)
        return;
    vg__input_set_worker(&st->inputs[VG_INPUT_SUB], st->sub_worker);
    if (st->sub->start(st->sub_ctx, &st->inputs[VG_INPUT_SUB]) < 0) {
        vg__input_set_worker(&st->inputs[VG_INPUT_SUB], NULL);
        worker_stop(st, &st->sub_worker, true);
        return;
    }
    st->is_sub_running = true;
    vg__stream_publish_needed(st);
}

/* The substream failed: its tiers go back to the main stream, and it is retried later. */
void vg__stream_sub_failed(vg_stream_t *st, int status)
{
    sub_stop(st);
    st->sub_reason = vg_strerror(status);
    VG_LOG_WARN("stream", "cam=%s substream: %s; its tiers come from the main stream, retry in "
                "%d s", st->id, st->sub_reason, SUB_RETRY_MS / 1000);
    uv_timer_start(&st->sub_retry_timer, on_sub_retry, SUB_RETRY_MS, 0);
}

static void on_sub_retry(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    st->sub_reason = NULL;
    vg__stream_sub_maybe_start(st);
}

/* Stops the main worker at once when nothing wants it (the source stopped, or the linger
 * ran out). The fallback's producer is stopped first: after its stop() returns no thread
 * pushes to the worker, and the loop feeds the rest. */
static void worker_release(vg_stream_t *st)
{
    if (worker_is_wanted(st) || st->worker == NULL)
        return;
    vg__input_set_worker(&st->inputs[VG_INPUT_FALLBACK], NULL);
    worker_stop(st, &st->worker, false);
    uv_mutex_lock(&st->mbox_lock);
    for (int t = 0; t < VG_TIER_MAX; t++)
        vg_frame_unref(&st->mbox[t]);
    st->mbox_has_any = false;
    uv_mutex_unlock(&st->mbox_lock);
}

void vg__stream_fallback_stop(vg_stream_t *st)
{
    if (!st->is_fallback_running)
        return;
    st->fallback->stop(st->fallback_ctx);
    st->is_fallback_running = false;
    worker_release(st);
}

/* The video is down and has failed FALLBACK_AFTER_ATTEMPTS times: show snapshots meanwhile. */
static void fallback_start(vg_stream_t *st, const char *reason)
{
    if (st->fallback == NULL || st->is_fallback_running || worker_ensure(st) < 0)
        return;
    if (st->fallback->start(st->fallback_ctx, &st->inputs[VG_INPUT_FALLBACK]) < 0) {
        worker_release(st);
        return;
    }
    st->is_fallback_running = true;
    vg__stream_set_state(st, VG_STREAM_FALLBACK, reason);
}

/* Stops the primary source (and the worker unless the fallback runs); the state is the
 * caller's to set. */
void vg__stream_stop_threads(vg_stream_t *st)
{
    if (!st->is_running)
        return;
    sub_stop(st);
    uv_timer_stop(&st->sub_retry_timer);
    st->sub_reason = NULL;
    st->producer->stop(st->producer_ctx);
    st->is_running = false;
    uv_timer_stop(&st->check_timer);
    vg__stream_lane_reset(st); /* the next run starts at its first keyframe */
    worker_release(st);
    st->is_decode_stalled = false;
    atomic_store(&st->events, 0);
    st->input_fps = st->input_kbps = st->source_kbps = 0;
    memset(st->tier_fps, 0, sizeof(st->tier_fps));
    memset(st->tier_kbps, 0, sizeof(st->tier_kbps));
    memset(st->key_bytes, 0, sizeof(st->key_bytes)); /* the next run's keyframes are its own */
    st->source_key_mono_us = st->source_key_interval_us = 0;
}

bool vg__stream_is_wanted(const vg_stream_t *st)
{
    return (st->total_consumers > 0 || st->is_always_on) && !st->hub->is_closing &&
           !st->is_removed;
}

/* Nobody watches: stop everything and forget the pictures. */
void vg__stream_go_idle(vg_stream_t *st)
{
    vg__stream_stop_threads(st);
    vg__stream_fallback_stop(st);
    uv_timer_stop(&st->retry_timer);
    vg__stream_check_cancel(st);
    for (int t = 0; t < VG_TIER_MAX; t++)
        vg_frame_unref(&st->latest[t]);
    vg__stream_retry_step(st, VG_RETRY_RESET, 0);
    vg__stream_set_state(st, VG_STREAM_IDLE, NULL);
}

static void on_check(uv_timer_t *t);

static bool is_permanent(int status)
{
    return status == VG_EUNAUTHORIZED || status == VG_EUNSUPPORTED || status == VG_ENOVIDEO ||
           status == VG_EURL;
}

static void on_retry(uv_timer_t *t);

/* Sets the stream's timer to when the retry policy wants to hear from it next. */
static void retry_arm(vg_stream_t *st)
{
    int64_t at = vg_retry_wake_at(&st->retry, &st->hub->retry_cfg);
    if (at == 0) {
        uv_timer_stop(&st->retry_timer);
        return;
    }
    int64_t ms = (at - vg_mono_us() + 999) / 1000;
    uv_timer_start(&st->retry_timer, on_retry, ms > 0 ? (uint64_t)ms : 0, 0);
}

static void on_probe_done(void *arg, const vg_check_result_t *r);

/* Does what the policy answered. */
static void retry_act(vg_stream_t *st, vg_retry_action_t a)
{
    if (a == VG_RETRY_ATTEMPT) {
        st->reconnects++;
        vg__stream_start(st);
        return;
    }
    if (a == VG_RETRY_PROBE) {
        if (st->check == NULL && st->producer && st->producer->check)
            st->check = st->producer->check(st->producer_ctx, st->hub->loop, VG_CHECK_CONNECT,
                                            PROBE_TIMEOUT_MS, on_probe_done, st);
        if (st->check == NULL) { /* nothing to probe (a file): say "up", which waits */
            retry_act(st, vg__stream_retry_step(st, VG_RETRY_PROBE_UP, 0));
            return;
        }
        st->is_check_probe = true;
    }
    retry_arm(st);
}

void vg_stream_input_kick(vg_stream_input_t *in)
{
    vg_stream_t *st = in->st;
    if (in->kind != VG_INPUT_MAIN || st->is_running || st->state == VG_STREAM_IDLE ||
        !vg__stream_is_wanted(st))
        return;
    VG_LOG_INFO("stream", "cam=%s its source says it can be reached again: retrying now",
                st->id);
    vg__stream_retry_step(st, VG_RETRY_RESET, 0);
    st->reconnects++;
    vg__stream_start(st); /* cancels the planned retry and any probe */
}

static void on_retry(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    if (!vg__stream_is_wanted(st)) {
        vg__stream_go_idle(st);
        return;
    }
    retry_act(st, vg__stream_retry_step(st, VG_RETRY_TIMER, 0));
}

static void on_probe_done(void *arg, const vg_check_result_t *r)
{
    vg_stream_t *st = arg;
    st->check = NULL;
    vg__stream_health_set(st, r->is_reachable, r->reason);
    VG_LOG_DEBUG("stream", "cam=%s probe: %s%s%s", st->id, r->is_reachable ? "up" : "down",
                 *r->reason ? ", " : "", r->reason);
    if (!vg__stream_is_wanted(st)) {
        vg__stream_go_idle(st);
        return;
    }
    retry_act(st, vg__stream_retry_step(st, r->is_reachable ? VG_RETRY_PROBE_UP : VG_RETRY_PROBE_DOWN, 0));
}

/* The source failed or stalled: stop it and try again when the retry policy says (an
 * exponential, jittered backoff from 0.5 s to 30 s, cut short when a probe sees a camera
 * that was down come back: lifecycle.h). Viewers stay attached throughout. */
void vg__stream_fail(vg_stream_t *st, int status)
{
    vg__stream_stop_threads(st);
    vg__stream_retry_step(st, VG_RETRY_FAILED, status);
    if (!vg__stream_is_wanted(st)) {
        vg__stream_go_idle(st);
        return;
    }
    if (status == VG_EUNREACHABLE)
        vg__stream_health_set(st, false, vg_strerror(status));
    else if (status == VG_EUNAUTHORIZED || status == VG_EUNSUPPORTED || status == VG_ENOVIDEO)
        vg__stream_health_set(st, true, vg_strerror(status)); /* it answered */
    /* In fallback viewers have pictures: stay there while the video is retried behind. */
    if (!st->is_fallback_running && st->fallback && st->attempts >= FALLBACK_AFTER_ATTEMPTS)
        fallback_start(st, vg_strerror(status));
    /* A camera that went silent waits as "stalled"; one that could not be reached (or
     * refused) as "backoff"; one that needs someone to act as "failed". */
    vg_stream_state_t waiting = is_permanent(status)       ? VG_STREAM_FAILED
                                : status == VG_ETIMEDOUT ? VG_STREAM_STALLED
                                                         : VG_STREAM_BACKOFF;
    if (!st->is_fallback_running)
        vg__stream_set_state(st, waiting, vg_strerror(status));
    VG_LOG_DEBUG("stream", "cam=%s attempt %u failed; retrying in %lld ms", st->id,
                 st->attempts, (long long)st->retry.last_delay_ms);
    retry_arm(st);
}

void vg__stream_start(vg_stream_t *st)
{
    if (st->is_running)
        return;
    if (st->producer == NULL) { /* its URL was refused: nothing to retry */
        vg__stream_set_state(st, VG_STREAM_FAILED, st->config_error);
        return;
    }
    uv_timer_stop(&st->retry_timer);
    vg__stream_check_cancel(st);
    atomic_store(&st->events, 0);
    atomic_store(&st->saw_packet, false);
    atomic_store(&st->last_packet_mono_us, vg_mono_us());
    st->last_packets = atomic_load(&st->packets_in);
    st->last_bytes = atomic_load(&st->bytes_in);
    st->last_decoded = main_decoded(st);
    st->decode_progress_mono_us = vg_mono_us();
    st->is_running = true;
    if (!st->is_fallback_running) /* in fallback, the state changes when video returns */
        vg__stream_set_state(st, VG_STREAM_CONNECTING, st->reason);
    uv_timer_start(&st->check_timer, on_check, 1000, 1000);
    if (worker_is_wanted(st) && worker_ensure(st) < 0) {
        vg__stream_fail(st, VG_ENOMEM);
        return;
    }
    int rc = st->producer->start(st->producer_ctx, &st->inputs[VG_INPUT_MAIN]);
    if (rc < 0) {
        VG_LOG_ERROR("stream", "cam=%s cannot start %s source: %s", st->id, st->producer->name,
                     vg_strerror(rc));
        vg__stream_fail(st, rc);
        return;
    }
    vg__stream_sub_maybe_start(st);
}

/* Packets that flow but never decode (a broken encoder, a proxy mangling NAL units) leave
 * viewers with nothing while the input looks fine: after the stall time-out without a
 * picture the stream is "stalled" with that reason, and "live" again with the next picture.
 * The source keeps running (restarting it would not mend the video and would cost the
 * camera a session); if its packets stop too, the silence path below restarts it. Only
 * while some tier needs the main stream decoded: otherwise nothing is decoded on purpose. */
static void check_decoding(vg_stream_t *st, int64_t now)
{
    uint64_t decoded = main_decoded(st);
    bool is_needed = atomic_load(&st->main_needed) != 0;
    if (decoded != st->last_decoded || !is_needed) {
        st->last_decoded = decoded;
        st->decode_progress_mono_us = now;
        if (st->is_decode_stalled) {
            st->is_decode_stalled = false;
            vg__stream_retry_step(st, VG_RETRY_LIVE, 0);
            vg__stream_set_state(st, VG_STREAM_LIVE, NULL);
        }
        return;
    }
    if (st->state != VG_STREAM_LIVE || now - st->decode_progress_mono_us <= st->stall_timeout_ms * 1000LL)
        return;
    st->is_decode_stalled = true;
    snprintf(st->reason_buf, sizeof(st->reason_buf), "no decodable picture for %d s",
             (st->stall_timeout_ms + 999) / 1000);
    VG_LOG_WARN("stream", "cam=%s packets arrive but none decodes", st->id);
    vg__stream_set_state(st, VG_STREAM_STALLED, st->reason_buf);
}

/* 1 Hz while running: input rates, stall detection, and forgiving old failures once the
 * video has been good for a minute. */
static void on_check(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    uint64_t packets = atomic_load(&st->packets_in), bytes = atomic_load(&st->bytes_in);
    st->input_fps = (double)(packets - st->last_packets);
    st->input_kbps = (double)(bytes - st->last_bytes) * 8 / 1000;
    st->source_kbps = st->source_kbps > 0 ? 0.8 * st->source_kbps + 0.2 * st->input_kbps
                                          : st->input_kbps;
    st->last_packets = packets;
    st->last_bytes = bytes;
    for (int tier = 0; tier < st->tier_count; tier++) {
        uint64_t enc = atomic_load_explicit(&st->counters.tier[tier].encoded, memory_order_relaxed);
        uint64_t b = atomic_load_explicit(&st->counters.tier[tier].bytes, memory_order_relaxed);
        st->tier_fps[tier] = (double)(enc - st->last_tier_encoded[tier]);
        st->tier_kbps[tier] = (double)(b - st->last_tier_bytes[tier]) * 8 / 1000;
        if (enc > st->last_tier_encoded[tier]) { /* a moving mean of what the tier costs */
            double mean = (double)(b - st->last_tier_bytes[tier]) / (double)(enc - st->last_tier_encoded[tier]);
            double *fb = &st->tier_frame_bytes[tier];
            *fb = *fb > 0 ? 0.7 * *fb + 0.3 * mean : mean;
        }
        st->last_tier_encoded[tier] = enc;
        st->last_tier_bytes[tier] = b;
    }
    if (st->state == VG_STREAM_LIVE && st->input_fps > 0)
        st->known_fps = st->input_fps;
    int w, h;
    vg__stream_known_size(st, &w, &h);
    if (w != st->shown_w || h != st->shown_h)
        vg__stream_refresh_shown_tiers(st);
    int64_t now = vg_mono_us();
    int64_t silent_ms = (now - atomic_load(&st->last_packet_mono_us)) / 1000;
    if ((st->state == VG_STREAM_LIVE || st->is_decode_stalled) &&
        silent_ms > st->stall_timeout_ms) {
        vg__stream_fail(st, VG_ETIMEDOUT);
        return;
    }
    check_decoding(st, now);
    if (st->worker && !worker_is_wanted(st) && ++st->worker_unneeded_s >= WORKER_LINGER_S)
        worker_release(st);
    vg__stream_retry_step(st, VG_RETRY_TIMER, 0); /* forgives old failures after a good minute */
}

void vg__stream_on_idle_timeout(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    if (!vg__stream_is_wanted(st)) {
        VG_LOG_DEBUG("stream", "cam=%s idle, stopping source", st->id);
        vg__stream_go_idle(st);
    }
}
