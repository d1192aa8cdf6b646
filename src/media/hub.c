/* hub: the registry of streams (stream.h), and the exits of their threads.
 *
 * Streams are added from a configuration (vg_stream_cfg_t), reconfigured in place (a new
 * name, timeouts, or new sources and ladder without dropping viewers) and removed; a removed
 * stream is freed once its handles have closed and its threads have exited.
 *
 * Threads: any thread working for a stream (a source run, a media worker) posts its exit, as
 * its last act, on the hub's exit list and wakes the exits async. The loop reaps it there
 * (vg_thread_exit_t in stream.h): the thread has returned or is returning, so the reap never
 * waits, and it is never joined where it was stopped, which could block the loop for as long
 * as a camera takes to answer a TEARDOWN. The stream and the hub wait for every exit as for a
 * handle; at shutdown a thread stuck past VG_THREAD_STOP_WAIT_MS is left to finish alone.
 *
 * Health: cameras nobody watches run no source, so once per health interval each gets a
 * bounded, non-blocking RTSP OPTIONS or HTTP HEAD (sources/check.c), a few per second.
 */
#include "media/stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "core/wire.h"
#include "media/admit.h"
#include "media/stream_int.h"

static void on_exits(uv_async_t *h);

vg_hub_t *vg_hub_new(uv_loop_t *loop)
{
    vg_hub_t *hub = vg_xcalloc(1, sizeof(*hub));
    hub->loop = loop;
    hub->rng = (uint64_t)vg_wall_us() | 1;
    hub->retry_cfg = VG_RETRY_CFG_DEFAULT;
    hub->health_interval_ms = DEFAULT_HEALTH_INTERVAL_MS;
    hub->can_encode_h264 = vg__worker_can_encode_h264();
    if (!hub->can_encode_h264)
        VG_LOG_WARN("media", "FFmpeg has no libx264 encoder: the H.264 tiers stay empty");
    uv_timer_init(loop, &hub->health_timer);
    hub->health_timer.data = hub;
    hub->handles_open++; /* the health timer */
    uv_mutex_init(&hub->exits_lock);
    uv_async_init(loop, &hub->exits_async, on_exits);
    hub->exits_async.data = hub;
    uv_timer_init(loop, &hub->stop_timer);
    hub->stop_timer.data = hub;
    hub->handles_open += 2; /* the exits async and the stop timer, closed once the hub closes
                               and no thread runs */
    uv_idle_init(loop, &hub->retire_idle);
    hub->retire_idle.data = hub;
    hub->handles_open++;
    hub->retiring_tail = &hub->retiring;
    vg_hub_set_health_interval(hub, hub->health_interval_ms);
    return hub;
}

/* Frees the producers (their threads already stopped). */
static void free_sources(vg_stream_t *st)
{
    if (st->producer && st->producer->free)
        st->producer->free(st->producer_ctx);
    if (st->fallback && st->fallback->free)
        st->fallback->free(st->fallback_ctx);
    if (st->sub && st->sub->free)
        st->sub->free(st->sub_ctx);
    st->producer = st->fallback = st->sub = NULL;
}

static void stream_free(vg_stream_t *st)
{
    vg_frame_unref(&st->card);
    free(st->card_key);
    for (int t = 0; t < VG_TIER_MAX; t++) {
        vg_frame_unref(&st->latest[t]);
        vg_frame_unref(&st->mbox[t]);
    }
    free_sources(st);
    for (int k = 0; k < VG_INPUT_KINDS; k++)
        vg__input_destroy(&st->inputs[k]);
    vg_lane_free(&st->lane);
    uv_mutex_destroy(&st->mbox_lock);
    uv_mutex_destroy(&st->info_lock);
    free(st->info[0].extradata);
    free(st->info[1].extradata);
    free(st->sub_url);
    free(st->id);
    free(st->name);
    free(st->url);
    free(st->config_error);
    free(st);
}

static void hub_maybe_free(vg_hub_t *hub)
{
    if (!hub->is_closing || hub->handles_open > 0)
        return;
    for (size_t i = 0; i < hub->count; i++)
        stream_free(hub->streams[i]);
    free(hub->streams);
    uv_mutex_destroy(&hub->exits_lock);
    free(hub);
}

/* A handle closed or a card job came back: the last one frees a removed stream, or the hub
 * when it is closing. */
void vg__stream_release(vg_stream_t *st)
{
    vg_hub_t *hub = st->hub;
    hub->handles_open--;
    if (--st->handles_open == 0 && st->is_removed)
        stream_free(st); /* a removed stream is no longer in hub->streams */
    hub_maybe_free(hub);
}

static void on_handle_closed(uv_handle_t *h) { vg__stream_release(h->data); }

static void on_hub_timer_closed(uv_handle_t *h);

/* The exits async goes last: once the hub is closing and every thread has been reaped. */
static void hub_maybe_close_exits(vg_hub_t *hub)
{
    if (!hub->is_closing || hub->threads_held > 0 || hub->is_exits_closed)
        return;
    hub->is_exits_closed = true;
    uv_close((uv_handle_t *)&hub->exits_async, on_hub_timer_closed);
    uv_close((uv_handle_t *)&hub->stop_timer, on_hub_timer_closed);
}

void vg_stream_thread_started(vg_thread_exit_t *e)
{
    vg_stream_t *st = e->st;
    st->handles_open++; /* the stream and the hub wait for its exit as for a handle */
    st->hub->handles_open++;
    st->hub->threads_held++;
    e->stopped_mono_us = 0;
    e->is_warned = false;
    e->held_next = st->hub->held;
    st->hub->held = e;
}

static void hub_unhold(vg_hub_t *hub, vg_thread_exit_t *e)
{
    for (vg_thread_exit_t **p = &hub->held; *p; p = &(*p)->held_next) {
        if (*p == e) {
            *p = e->held_next;
            break;
        }
    }
    hub->threads_held--;
}

/* 10 Hz while some stopped thread has not exited: reports one slow to stop, and once the hub
 * closes, leaves one stuck past the wait to finish on its own so that shutdown is bounded. */
static void on_stop_timer(uv_timer_t *t)
{
    vg_hub_t *hub = t->data;
    int64_t now = vg_mono_us();
    bool is_pending = false;
    for (vg_thread_exit_t *e = hub->held, *next; e; e = next) {
        next = e->held_next;
        if (e->stopped_mono_us == 0)
            continue;
        is_pending = true;
        if (now - e->stopped_mono_us < VG_THREAD_STOP_WAIT_MS * 1000LL)
            continue;
        if (!e->is_warned) {
            e->is_warned = true;
            VG_LOG_WARN(e->log_ctx, "thread did not stop within %d ms; the loop goes on and "
                        "joins it when it finishes (blocked where no interrupt reaches, e.g. "
                        "a DNS lookup)", VG_THREAD_STOP_WAIT_MS);
        }
        if (hub->is_closing && e->abandon && e->abandon(e)) {
            VG_LOG_WARN(e->log_ctx, "shutting down without it: it finishes on its own");
            vg_stream_t *st = e->st;
            hub_unhold(hub, e);
            vg__stream_release(st); /* the stop timer, still open, keeps the hub */
        }
    }
    if (!is_pending)
        uv_timer_stop(t);
    hub_maybe_close_exits(hub);
}

void vg_stream_thread_stopping(vg_thread_exit_t *e)
{
    vg_hub_t *hub = e->st->hub;
    e->stopped_mono_us = vg_mono_us();
    if (!hub->is_exits_closed && !uv_is_active((uv_handle_t *)&hub->stop_timer))
        uv_timer_start(&hub->stop_timer, on_stop_timer, 100, 100);
}

void vg_stream_post_exit(vg_thread_exit_t *e)
{
    vg_hub_t *hub = e->st->hub; /* held until this exit is reaped */
    uv_mutex_lock(&hub->exits_lock);
    bool was_empty = hub->exits == NULL;
    e->next = hub->exits;
    hub->exits = e;
    uv_mutex_unlock(&hub->exits_lock);
    if (was_empty)
        uv_async_send(&hub->exits_async);
}

/* Loop thread: joins the threads that have posted their exit. Each has returned, or is
 * returning from the uv_async_send just after posting. A join that would wait is not made
 * (on a busy machine a thread may be descheduled between its post and its return, and
 * pthread_join would hold the loop until it runs again): reap says "not yet", and the exit
 * goes back on the list with a new send, so the next loop iteration asks again after serving
 * whatever else is ready. The wait is the thread's last few instructions: this repeats
 * rarely (never in the 30-stream stop of test_stop_nonblocking.py, as measured). */
static void on_exits(uv_async_t *h)
{
    vg_hub_t *hub = h->data;
    uv_mutex_lock(&hub->exits_lock);
    vg_thread_exit_t *e = hub->exits;
    hub->exits = NULL;
    uv_mutex_unlock(&hub->exits_lock);
    vg_thread_exit_t *again = NULL;
    while (e != NULL) {
        vg_thread_exit_t *next = e->next;
        vg_stream_t *st = e->st;
        /* Out of the held list first: a successful reap frees e's owner. */
        hub_unhold(hub, e);
        if (!e->reap(e)) { /* has not returned yet: held again, reaped on the next pass */
            e->held_next = hub->held;
            hub->held = e;
            hub->threads_held++;
            e->next = again;
            again = e;
            e = next;
            continue;
        }
        vg__stream_release(st); /* the exits async, still open, keeps the hub */
        e = next;
    }
    if (again != NULL) {
        uv_mutex_lock(&hub->exits_lock);
        vg_thread_exit_t **tail = &again;
        while (*tail)
            tail = &(*tail)->next;
        *tail = hub->exits;
        hub->exits = again;
        uv_mutex_unlock(&hub->exits_lock);
        uv_async_send(&hub->exits_async);
    }
    hub_maybe_close_exits(hub);
}

/* The ladder cfg asks for: its own tiers, else the default for the camera's size. Cameras
 * whose picture is unknown until they answer get every class; the worker sizes each tier from
 * the decoded picture, never larger than it. *default_tier is -1 when cfg names a tier the
 * ladder lacks, or an H.264 tier. */
static int cfg_ladder(const vg_stream_cfg_t *cfg, vg_tier_t tiers[VG_TIER_MAX],
                      int *default_tier)
{
    int n;
    if (cfg->tier_count > 0) {
        memcpy(tiers, cfg->tiers, sizeof(tiers[0]) * (size_t)cfg->tier_count);
        n = cfg->tier_count;
    } else {
        n = vg_tier_default_ladder(cfg->width, cfg->height, cfg->fps, tiers);
    }
    *default_tier = cfg->default_tier ? vg_tier_find(tiers, n, cfg->default_tier)
                                      : vg_tier_default_index(tiers, n);
    if (*default_tier >= 0 && tiers[*default_tier].codec != VG_CODEC_JPEG)
        *default_tier = -1; /* MJPEG and snapshots start there: it must be a JPEG tier */
    return n;
}

static bool tiers_equal(const vg_tier_t *a, const vg_tier_t *b, int n)
{
    for (int t = 0; t < n; t++) {
        if (strcmp(a[t].name, b[t].name) != 0 || a[t].class_height != b[t].class_height ||
            a[t].width != b[t].width || a[t].height != b[t].height || a[t].fps != b[t].fps ||
            a[t].quality != b[t].quality || a[t].codec != b[t].codec || a[t].kbps != b[t].kbps)
            return false;
    }
    return true;
}

/* The substream (typically 640x360 or smaller) feeds the low and medium classes. */
static unsigned substream_tiers(const vg_stream_t *st)
{
    unsigned mask = 0;
    for (int t = 0; st->sub && t < st->tier_count; t++) {
        if (st->tiers[t].class_height > 0 && st->tiers[t].class_height <= VG_SUBSTREAM_MAX_CLASS)
            mask |= 1u << t;
    }
    return mask;
}

/* What cfg says besides its sources and ladder. */
static void take_settings(vg_stream_t *st, const vg_stream_cfg_t *cfg)
{
    free(st->name);
    st->name = vg_xstrdup(cfg->name ? cfg->name : cfg->id);
    st->idle_timeout_ms = cfg->idle_timeout_ms;
    st->stall_timeout_ms = cfg->stall_timeout_ms > 0 ? cfg->stall_timeout_ms
                                                     : DEFAULT_STALL_TIMEOUT_MS;
    st->is_always_on = cfg->is_always_on;
    st->priority = cfg->priority;
    st->width = cfg->width;
    st->height = cfg->height;
    st->fps = cfg->fps;
}

/* Takes cfg's producers and the URLs shown for them (after the ladder is set: the
 * substream's tiers depend on it). The stream's own producers must be gone already. */
static void take_sources(vg_stream_t *st, const vg_stream_cfg_t *cfg)
{
    st->producer = cfg->producer;
    st->producer_ctx = cfg->producer_ctx;
    st->fallback = cfg->fallback;
    st->fallback_ctx = cfg->fallback_ctx;
    st->sub = cfg->sub;
    st->sub_ctx = cfg->sub_ctx;
    st->sub_tiers = substream_tiers(st);
    free(st->config_error);
    st->config_error = st->producer == NULL
                           ? vg_xstrdup(cfg->config_error ? cfg->config_error : "no source")
                           : NULL;
    free(st->url);
    st->url = vg_xstrdup(cfg->url_redacted ? cfg->url_redacted : "");
    free(st->sub_url);
    st->sub_url = cfg->sub_url_redacted ? vg_xstrdup(cfg->sub_url_redacted) : NULL;
}

int vg_hub_add_stream(vg_hub_t *hub, const vg_stream_cfg_t *cfg, vg_stream_t **out)
{
    if (vg_hub_find(hub, cfg->id)) {
        VG_LOG_ERROR("stream", "duplicate camera id '%s'", cfg->id);
        return VG_EINVAL;
    }
    vg_stream_t *st = vg_xcalloc(1, sizeof(*st));
    st->hub = hub;
    st->id = vg_xstrdup(cfg->id);
    take_settings(st, cfg);
    st->reason = "";
    st->state_since_us = vg_wall_us();
    int default_tier;
    st->tier_count = cfg_ladder(cfg, st->tiers, &default_tier);
    uv_mutex_init(&st->mbox_lock);
    uv_mutex_init(&st->info_lock);
    for (int k = 0; k < VG_INPUT_KINDS; k++)
        vg__input_init(&st->inputs[k], st, (vg_input_kind_t)k);
    st->lane = vg_lane_new(&(vg_lane_cfg_t){.history_us = VG_LANE_DEFAULT_HISTORY_US,
                                            .max_bytes = VG_LANE_DEFAULT_MAX_BYTES});
    if (default_tier < 0) { /* before taking the producers: the caller keeps them */
        VG_LOG_ERROR("stream", "camera '%s': default tier '%s' is not in its ladder", cfg->id,
                     cfg->default_tier);
        stream_free(st);
        return VG_EINVAL;
    }
    st->default_tier = default_tier;
    take_sources(st, cfg);
    vg__stream_refresh_shown_tiers(st);
    uv_async_init(hub->loop, &st->wakeup, vg__stream_on_wakeup);
    st->wakeup.data = st;
    uv_timer_init(hub->loop, &st->idle_timer);
    st->idle_timer.data = st;
    uv_timer_init(hub->loop, &st->retry_timer);
    st->retry_timer.data = st;
    uv_timer_init(hub->loop, &st->check_timer);
    st->check_timer.data = st;
    uv_timer_init(hub->loop, &st->card_timer);
    st->card_timer.data = st;
    uv_timer_init(hub->loop, &st->sub_retry_timer);
    st->sub_retry_timer.data = st;
    hub->handles_open += HANDLES_PER_STREAM;
    st->handles_open = HANDLES_PER_STREAM;

    hub->streams = vg_xrealloc(hub->streams, (hub->count + 1) * sizeof(*hub->streams));
    hub->streams[hub->count++] = st;
    *out = st;
    return 0;
}

/* Idle checks (issue 13): a camera nobody watches runs no source, so nothing would notice it
 * is gone until someone opens it. Once per health interval each idle camera gets an RTSP
 * OPTIONS or HTTP HEAD (src/sources/check.c: non-blocking, on the loop, bounded by a
 * time-out), at most HEALTH_CHECKS_PER_TICK started per second. Running cameras need no
 * check: their source, and the probes between attempts, say the same. */
static void on_health_done(void *arg, const vg_check_result_t *r)
{
    vg_stream_t *st = arg;
    st->check = NULL;
    vg__stream_health_set(st, r->is_reachable, r->reason);
}

static void on_health_tick(uv_timer_t *t)
{
    vg_hub_t *hub = t->data;
    int64_t now = vg_mono_us();
    int started = 0;
    for (size_t i = 0; i < hub->count && started < HEALTH_CHECKS_PER_TICK; i++) {
        vg_stream_t *st = hub->streams[i];
        if (st->state != VG_STREAM_IDLE || st->is_running || st->check != NULL ||
            st->producer == NULL || st->producer->check == NULL || now < st->health_due_mono_us)
            continue;
        st->health_due_mono_us = now + (int64_t)hub->health_interval_ms * 1000;
        int timeout = hub->health_interval_ms < HEALTH_TIMEOUT_MS ? hub->health_interval_ms
                                                                  : HEALTH_TIMEOUT_MS;
        st->check = st->producer->check(st->producer_ctx, hub->loop, VG_CHECK_PROTOCOL, timeout,
                                        on_health_done, st);
        st->is_check_probe = false;
        started += st->check != NULL;
    }
}

void vg_hub_set_health_interval(vg_hub_t *hub, int interval_ms)
{
    hub->health_interval_ms = interval_ms > 0 ? interval_ms : 0;
    if (hub->health_interval_ms > 0 && !hub->is_closing)
        uv_timer_start(&hub->health_timer, on_health_tick, 0, 1000);
    else
        uv_timer_stop(&hub->health_timer);
}

static void on_hub_timer_closed(uv_handle_t *h)
{
    vg_hub_t *hub = h->data;
    hub->handles_open--;
    hub_maybe_free(hub);
}

static void stream_close_handles(vg_stream_t *st)
{
    uv_close((uv_handle_t *)&st->wakeup, on_handle_closed);
    uv_close((uv_handle_t *)&st->idle_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->check_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->card_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->sub_retry_timer, on_handle_closed);
}

/* Stops one removed stream: its threads told to stop (never waited for), its handles
 * closed; it is freed once they have closed and its threads have exited. */
static void retire_one(vg_hub_t *hub)
{
    vg_stream_t *st = hub->retiring;
    hub->retiring = st->retire_next;
    if (hub->retiring == NULL)
        hub->retiring_tail = &hub->retiring;
    vg__stream_go_idle(st);
    stream_close_handles(st);
}

/* Each loop pass stops removed streams for at most this long (each takes 10 us to 1 ms:
 * a source thread may hold the lock its stop takes). */
#define RETIRE_SLICE_US 1000

static void on_retire(uv_idle_t *h)
{
    vg_hub_t *hub = h->data;
    int64_t t0 = vg_mono_us();
    while (hub->retiring && vg_mono_us() - t0 < RETIRE_SLICE_US)
        retire_one(hub);
    if (hub->retiring == NULL)
        uv_idle_stop(h);
}

void vg_hub_close(vg_hub_t **hp)
{
    vg_hub_t *hub = *hp;
    if (hub == NULL)
        return;
    *hp = NULL;
    hub->is_closing = true;
    while (hub->retiring) /* shutting down: no viewer left to stall */
        retire_one(hub);
    uv_close((uv_handle_t *)&hub->retire_idle, on_hub_timer_closed);
    uv_close((uv_handle_t *)&hub->health_timer, on_hub_timer_closed);
    for (size_t i = 0; i < hub->count; i++) {
        vg_stream_t *st = hub->streams[i];
        /* Outputs detach their consumers as their connections close; any left are cut. */
        for (int t = 0; t < LISTS; t++) {
            while (st->consumers[t])
                vg_stream_detach(st->consumers[t]);
        }
        vg__stream_go_idle(st);
        stream_close_handles(st);
    }
    hub_maybe_close_exits(hub); /* else when the last thread's exit is reaped */
    hub_maybe_free(hub);
}

void vg_hub_remove_stream(vg_hub_t *hub, vg_stream_t *st, const char *reason)
{
    for (size_t i = 0; i < hub->count; i++) {
        if (hub->streams[i] == st) {
            memmove(&hub->streams[i], &hub->streams[i + 1],
                    (hub->count - i - 1) * sizeof(*hub->streams));
            hub->count--;
            break;
        }
    }
    VG_LOG_INFO("stream", "cam=%s removed: %s", st->id, reason);
    st->is_removed = true;
    for (int t = 0; t < LISTS; t++) {
        vg_consumer_t *c;
        while ((c = st->consumers[t]) != NULL) {
            vg_stream_detach(c);
            if (c->ops->on_removed)
                c->ops->on_removed(c, reason);
        }
    }
    /* Out of the hub and told at once; stopped on the next loop passes. */
    st->retire_next = NULL;
    *hub->retiring_tail = st;
    hub->retiring_tail = &st->retire_next;
    if (!uv_is_active((uv_handle_t *)&hub->retire_idle))
        uv_idle_start(&hub->retire_idle, on_retire);
}

/* Swaps in cfg's producers (taken), the old ones stopped first and freed. */
static void replace_sources(vg_stream_t *st, const vg_stream_cfg_t *cfg)
{
    vg__stream_stop_threads(st);
    vg__stream_fallback_stop(st);
    uv_timer_stop(&st->retry_timer);
    vg__stream_check_cancel(st); /* while the producer it came from is still there */
    free_sources(st);
    take_sources(st, cfg);
    /* What the old source said about its video says nothing about the new one. */
    uv_mutex_lock(&st->info_lock);
    for (int i = 0; i < 2; i++) {
        free(st->info[i].extradata);
        memset(&st->info[i], 0, sizeof(st->info[i]));
    }
    uv_mutex_unlock(&st->info_lock);
    atomic_store(&st->sub_packets_in, 0);
    st->codec = VG_CODEC_NONE; /* the new camera's first access unit says */
    st->is_passthrough = false;
    atomic_store(&st->counters.pic_width, 0);
    atomic_store(&st->counters.pic_height, 0);
    vg__stream_retry_step(st, VG_RETRY_RESET, 0);
    st->has_health = false;
    vg__stream_refresh_shown_tiers(st);
}

/* Installs a new ladder while the stream's threads are stopped: consumers keep the tier of
 * their tier's name (else go to the default) and are told. Per-tier counters restart: an
 * index may now mean another tier. */
static void replace_ladder(vg_stream_t *st, const vg_tier_t *tiers, int n, int default_tier)
{
    VG_ASSERT(st->worker == NULL && st->sub_worker == NULL);
    vg_consumer_t *moving = NULL;
    for (int t = 0; t < VG_TIER_MAX; t++) {
        for (vg_consumer_t *c = st->consumers[t], *next; c; c = next) {
            next = c->next;
            int nt = vg_tier_find(tiers, n, st->tiers[t].name);
            c->tier = nt >= 0 ? nt : default_tier;
            c->next = moving; /* prev is not used on this list */
            moving = c;
        }
        st->consumers[t] = NULL;
        st->consumer_count[t] = 0;
        vg_frame_unref(&st->latest[t]);
    }
    memcpy(st->tiers, tiers, sizeof(tiers[0]) * (size_t)n);
    st->tier_count = n;
    st->default_tier = default_tier;
    st->sub_tiers = substream_tiers(st);
    vg__stream_refresh_shown_tiers(st);
    /* A stopped worker may still be finishing a picture: atomic stores, not memset. */
    for (int t = 0; t < VG_TIER_MAX; t++) {
        vg_tier_counters_t *c = &st->counters.tier[t];
        atomic_store(&c->encoded, 0);
        atomic_store(&c->encode_us, 0);
        atomic_store(&c->scale_us, 0);
        atomic_store(&c->bytes, 0);
        for (int b = 0; b < VG_ENCODE_HIST_BUCKETS; b++)
            atomic_store(&c->encode_hist[b], 0);
    }
    memset(st->last_tier_encoded, 0, sizeof(st->last_tier_encoded));
    memset(st->last_tier_bytes, 0, sizeof(st->last_tier_bytes));
    memset(st->tier_frame_bytes, 0, sizeof(st->tier_frame_bytes));
    memset(st->key_bytes, 0, sizeof(st->key_bytes[0]) * VG_TIER_MAX); /* (not `source`'s) */
    for (vg_consumer_t *c = moving, *next; c; c = next) {
        next = c->next;
        vg__stream_list_insert(st, c);
    }
    vg__stream_update_needed(st);
    for (int t = 0; t < LISTS; t++) {
        for (vg_consumer_t *c = st->consumers[t], *next; c; c = next) {
            next = c->next;
            if (c->ops->on_ladder)
                c->ops->on_ladder(c);
        }
    }
}

int vg_stream_reconfigure(vg_stream_t *st, const vg_stream_cfg_t *cfg, bool replace)
{
    vg_tier_t tiers[VG_TIER_MAX];
    int default_tier;
    int n = cfg_ladder(cfg, tiers, &default_tier);
    if (default_tier < 0)
        return VG_EINVAL;
    bool is_new_ladder = n != st->tier_count || default_tier != st->default_tier ||
                         !tiers_equal(tiers, st->tiers, n);
    if (is_new_ladder && !replace)
        return VG_EBUSY;
    take_settings(st, cfg);
    if (replace) {
        VG_LOG_INFO("stream", "cam=%s source changed to %s: restarting it", st->id,
                    cfg->url_redacted ? cfg->url_redacted : "");
        replace_sources(st, cfg);
        if (is_new_ladder)
            replace_ladder(st, tiers, n, default_tier);
    }
    /* Viewers stay attached throughout: they see connecting, then the new source. */
    if (!vg__stream_is_wanted(st)) {
        if (replace)
            vg__stream_go_idle(st);
        else if (st->state != VG_STREAM_IDLE && st->total_consumers == 0)
            uv_timer_start(&st->idle_timer, vg__stream_on_idle_timeout, (uint64_t)st->idle_timeout_ms, 0);
    } else if (!st->is_running && (replace || st->state == VG_STREAM_IDLE)) {
        vg__stream_start(st);
    }
    return 0;
}

vg_stream_t *vg_hub_find(vg_hub_t *hub, const char *id)
{
    for (size_t i = 0; i < hub->count; i++) {
        if (strcmp(hub->streams[i]->id, id) == 0)
            return hub->streams[i];
    }
    return NULL;
}

size_t vg_hub_count(const vg_hub_t *hub) { return hub->count; }
vg_stream_t *vg_hub_at(vg_hub_t *hub, size_t i) { return i < hub->count ? hub->streams[i] : NULL; }

/* --- admission: the source cap (admit.h) --- */

void vg_hub_set_max_sources(vg_hub_t *hub, int max) { hub->max_sources = max > 0 ? max : 0; }

/* Whether st has a place under the cap: a source that runs, connects or waits to retry. A
 * camera whose URL was refused has nothing to run. */
static bool holds_place(const vg_stream_t *st)
{
    return st->state != VG_STREAM_IDLE && st->producer != NULL;
}

/* Whether st is decoded for consumers of its JPEG tiers (a worker lingering after them is
 * not counted: it stops within seconds). */
static bool is_decoding(const vg_stream_t *st)
{
    return atomic_load(&st->tiers_needed) != 0;
}

static int jpeg_consumers(const vg_stream_t *st)
{
    int n = 0;
    for (int t = 0; t < VG_TIER_MAX; t++)
        n += st->consumer_count[t];
    return n;
}

void vg_hub_admission(const vg_hub_t *hub, vg_hub_admission_t *out)
{
    int running = 0, decoding = 0;
    for (size_t i = 0; i < hub->count; i++) {
        running += holds_place(hub->streams[i]);
        decoding += is_decoding(hub->streams[i]);
    }
    *out = (vg_hub_admission_t){.max_sources = hub->max_sources,
                                .sources_running = running,
                                .refused = hub->refused_sources,
                                .displaced = hub->displaced,
                                .max_decoding = hub->max_decoding,
                                .decoding = decoding,
                                .refused_decoding = hub->refused_decoding,
                                .displaced_decoding = hub->displaced_decoding};
}

/* Detaches victim's consumers of lists [from, to) and tells them reason. */
static void tell_displaced(vg_stream_t *victim, int from, int to, const char *reason)
{
    for (int t = from; t < to; t++) {
        vg_consumer_t *c;
        while ((c = victim->consumers[t]) != NULL) {
            vg_stream_detach(c);
            if (c->ops->on_displaced)
                c->ops->on_displaced(c, reason);
            else if (c->ops->on_removed)
                c->ops->on_removed(c, reason);
        }
    }
}

/* Stops victim's source now, to give its place to st: its consumers are detached and told
 * why, the camera stays (a later viewer may start it again when there is room). */
static void displace(vg_stream_t *victim, const vg_stream_t *st)
{
    vg_hub_t *hub = st->hub;
    char reason[120];
    snprintf(reason, sizeof(reason),
             "displaced: camera '%.40s' of higher priority needed this instance's place", st->id);
    VG_LOG_INFO("stream", "cam=%s stopped (priority %d, %d consumers) for cam=%s (priority %d): "
                "the instance runs its maximum of %d sources", victim->id, victim->priority,
                victim->total_consumers, st->id, st->priority, hub->max_sources);
    if (victim->total_consumers > 0)
        hub->displaced++;
    tell_displaced(victim, 0, LISTS, reason);
    uv_timer_stop(&victim->idle_timer);
    vg__stream_go_idle(victim);
}

/* What a cap counts: whether a stream holds one of its places, and its consumers there. */
typedef struct cap_kind {
    bool (*holds)(const vg_stream_t *st);
    int (*consumers)(const vg_stream_t *st);
    bool is_always_on_pinned; /* always-on streams keep their place */
} cap_kind_t;

/* Where st goes under a cap of max (admit.h): VG_ADMIT_FREE, VG_ADMIT_REFUSE, or 0 with
 * *victim the stream to make room. Hundreds of cameras at most: a pass over them per
 * admission is cheap, and keeps no second account that could drift from the streams'. */
static int cap_place(const vg_stream_t *st, int max, const cap_kind_t *k, vg_stream_t **victim)
{
    const vg_hub_t *hub = st->hub;
    vg_admit_source_t *held = vg_xcalloc(hub->count ? hub->count : 1, sizeof(*held));
    vg_stream_t **who = vg_xcalloc(hub->count ? hub->count : 1, sizeof(*who));
    int n = 0;
    for (size_t i = 0; i < hub->count; i++) {
        vg_stream_t *o = hub->streams[i];
        if (o == st || !k->holds(o))
            continue;
        held[n] = (vg_admit_source_t){.priority = o->priority,
                                      .viewers = k->consumers(o),
                                      .is_pinned = k->is_always_on_pinned && o->is_always_on,
                                      .started_us = o->placed_mono_us};
        who[n++] = o;
    }
    int place = vg_admit_place(held, n, max, st->priority);
    *victim = place >= 0 ? who[place] : NULL;
    free(held);
    free(who);
    return place >= 0 ? 0 : place;
}

static int all_consumers(const vg_stream_t *st) { return st->total_consumers; }

int vg_stream_admit(vg_stream_t *st, char *why, size_t why_len)
{
    vg_hub_t *hub = st->hub;
    if (hub->max_sources == 0 || holds_place(st) || st->producer == NULL)
        return 0;
    static const cap_kind_t sources = {.holds = holds_place, .consumers = all_consumers,
                                       .is_always_on_pinned = true};
    vg_stream_t *victim;
    int place = cap_place(st, hub->max_sources, &sources, &victim);
    if (victim) {
        displace(victim, st);
        return 0;
    }
    if (place == VG_ADMIT_FREE)
        return 0;
    hub->refused_sources++;
    snprintf(why, why_len,
             "this instance runs its maximum of %d cameras (max_sources), none of lower "
             "priority; try again later", hub->max_sources);
    return VG_EBUSY;
}

/* --- admission: the decoding cap --- */

void vg_hub_set_max_decoding(vg_hub_t *hub, int max) { hub->max_decoding = max > 0 ? max : 0; }

bool vg_stream_may_decode(const vg_stream_t *st)
{
    const vg_hub_t *hub = st->hub;
    if (hub->max_decoding == 0 || is_decoding(st))
        return true;
    int n = 0;
    for (size_t i = 0; i < hub->count; i++)
        n += is_decoding(hub->streams[i]);
    return n < hub->max_decoding;
}

int vg_stream_admit_decoding(vg_stream_t *st, char *why, size_t why_len)
{
    vg_hub_t *hub = st->hub;
    if (hub->max_decoding == 0 || is_decoding(st))
        return 0;
    static const cap_kind_t decoding = {.holds = is_decoding, .consumers = jpeg_consumers};
    vg_stream_t *victim;
    int place = cap_place(st, hub->max_decoding, &decoding, &victim);
    if (victim) {
        char reason[120];
        snprintf(reason, sizeof(reason),
                 "displaced: camera '%.40s' of higher priority needed this instance's decoder",
                 st->id);
        VG_LOG_INFO("stream", "cam=%s JPEG consumers (%d) detached for cam=%s: the instance "
                    "decodes its maximum of %d cameras", victim->id, jpeg_consumers(victim),
                    st->id, hub->max_decoding);
        hub->displaced_decoding++;
        tell_displaced(victim, 0, VG_TIER_MAX, reason); /* its `source` consumers stay */
        return 0;
    }
    if (place == VG_ADMIT_FREE)
        return 0;
    hub->refused_decoding++;
    snprintf(why, why_len,
             "this instance decodes its maximum of %d cameras (max_decoding); try tier=source "
             "or later", hub->max_decoding);
    return VG_EBUSY;
}
