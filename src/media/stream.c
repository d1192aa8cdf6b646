/* stream: the hub and its streams (see stream.h).
 *
 * Hand-offs:
 *   - source thread → worker: vg__worker_push (bounded queue inside the worker);
 *   - source thread → loop: atomic counters, and an "event" bit + uv_async_send for state;
 *   - worker → loop: one latest-wins slot per tier (mbox) + uv_async_send when it was empty;
 *     a worker's pictures carry its generation, so a stopped worker still finishing cannot
 *     publish into a restarted stream;
 *   - any stream thread → loop, as its last act: its exit, on the hub's exit list + the hub's
 *     exits async. The loop joins it there (vg_thread_exit_t in stream.h), never where it
 *     was stopped, and the stream and hub wait for every exit as for a handle.
 * The loop drains everything in on_wakeup and on_exits, because async sends coalesce.
 */
#include "media/stream.h"

#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "core/wire.h"
#include "media/card.h"
#include "media/lane.h"
#include "media/lifecycle.h"
#include "media/media_int.h"

#define EVENT_PACKET 0x1 /* first packet since start */
#define EVENT_ENDED 0x2  /* source ended on its own */
#define EVENT_SUB_ENDED 0x4 /* the substream ended on its own */
#define SUB_RETRY_MS 30000
#define FALLBACK_AFTER_ATTEMPTS 3

/* The "camera offline" card is at most this size (viewers scale it). */
#define CARD_MAX_WIDTH 640
#define CARD_MAX_HEIGHT 360

/* A cached picture older than this is not shown to a new viewer (the camera may be gone). */
#define LATEST_MAX_AGE_US 2000000

/* Consumer lists: one per JPEG tier, and the packet lane's (VG_TIER_SOURCE). */
#define LISTS (VG_TIER_MAX + 1)

/* The media worker runs while some JPEG tier is wanted; it lingers this many seconds once
 * none is, so an adaptive viewer stepping between source and JPEG does not restart it. */
#define WORKER_LINGER_S 3

typedef struct source_info {
    int codec_id;
    int width, height;
    uint8_t *extradata;
    size_t extradata_len;
    bool has_reordering;
} source_info_t;

struct vg_stream {
    vg_hub_t *hub;
    char *id, *name, *url;
    char *config_error; /* why there is no producer (bad URL), or NULL */
    vg_tier_t tiers[VG_TIER_MAX];
    int tier_count, default_tier;
    int idle_timeout_ms, stall_timeout_ms;
    bool is_always_on;
    int width, height, fps;

    /* lifecycle, loop */
    const char *reason;
    int64_t state_since_us;
    unsigned attempts;         /* a copy of retry.attempts */
    vg_retry_t retry;          /* the retry policy's state (lifecycle.h) */
    uint64_t last_packets, last_bytes; /* counters at the previous check */
    double input_fps, input_kbps;
    double known_fps;          /* the last rate measured while live */
    uint64_t last_decoded;     /* main-source pictures decoded at the previous check */
    int64_t decode_progress_mono_us; /* the last check that saw a picture (or needed none) */
    bool is_decode_stalled;    /* stalled while packets flow: nothing decodes */
    char reason_buf[96];       /* a reason composed here (reason points to it) */
    vg_tier_t shown_tiers[VG_TIER_MAX]; /* tiers with sizes resolved from the picture's */
    int shown_w, shown_h;      /* the picture size shown_tiers were resolved for */

    /* health, loop: the last look at the camera (idle check, probe, or the source) */
    vg_check_t *check;         /* a check in flight, or NULL */
    bool is_check_probe;       /* it is a probe between attempts, not the idle check */
    bool has_health, is_reachable;
    char health_reason[128];
    int64_t health_checked_us; /* wall clock */
    int64_t health_due_mono_us; /* the next idle check */

    const vg_producer_ops_t *producer;
    void *producer_ctx;
    const vg_producer_ops_t *fallback;
    void *fallback_ctx;
    bool is_running;              /* loop: the primary producer runs */
    bool is_fallback_running;     /* loop */
    vg_stream_state_t state;      /* loop */
    vg_worker_t *worker;          /* loop starts/stops: while JPEG tiers are wanted */
    int worker_unneeded_s;        /* loop: checks since no tier needed the worker */
    vg_consumer_t *consumers[LISTS]; /* loop */
    int consumer_count[LISTS];       /* loop */
    int total_consumers;                   /* loop */
    vg_frame_t *latest[VG_TIER_MAX];       /* loop */
    int64_t latest_mono_us[VG_TIER_MAX];   /* loop */
    uint64_t reconnects;                   /* loop: restarts after a failure or stall */
    uint64_t last_tier_encoded[VG_TIER_MAX], last_tier_bytes[VG_TIER_MAX]; /* loop */
    double tier_fps[VG_TIER_MAX], tier_kbps[VG_TIER_MAX];                 /* loop */
    vg_media_counters_t counters; /* the worker adds, the loop reads */
    vg_stream_input_t inputs[VG_INPUT_KINDS]; /* handed to the producers */

    /* the packet lane, loop: the camera's own access units (lane.h), and what they are */
    vg_lane_t *lane;
    vg_codec_t codec;             /* of the last access unit; NONE until one arrives */
    vg_h26x_params_t params;      /* as last seen on a keyframe */
    bool is_passthrough;          /* H.264/H.265 with complete parameter sets */
    char codec_string[64];
    uint8_t description[3 * VG_H26X_PS_MAX + 64];
    size_t description_len;
    int lane_width, lane_height;
    uint64_t packets_to_worker;

    atomic_uint tiers_needed; /* any: atomic */
    atomic_uint events;       /* any: atomic */
    atomic_int ended_status;  /* any: atomic */
    atomic_int sub_ended_status; /* any: atomic */
    atomic_ullong packets_in; /* any: atomic */
    atomic_ullong bytes_in;   /* any: atomic */
    atomic_ullong sub_packets_in; /* any: atomic */
    atomic_bool saw_packet;   /* any: atomic; reset by the loop at each start */
    atomic_llong last_packet_mono_us; /* any: atomic */

    uv_mutex_t info_lock;
    source_info_t info[2];     /* info_lock: [0] the main source, [1] the substream */

    /* substream: a second, smaller stream from the same camera that feeds the tiers in
     * sub_tiers while it works, so the main stream is not decoded for them */
    const vg_producer_ops_t *sub;
    void *sub_ctx;
    char *sub_url;             /* redacted */
    unsigned sub_tiers;        /* loop */
    bool is_sub_running;       /* loop */
    const char *sub_reason;    /* loop: why it is not running after a failure, or NULL */
    vg_worker_t *sub_worker;   /* loop starts/stops */
    atomic_uint main_needed, sub_needed; /* what each worker encodes */
    uv_timer_t sub_retry_timer;

    uv_mutex_t mbox_lock;
    vg_frame_t *mbox[VG_TIER_MAX]; /* mbox_lock */
    bool mbox_has_any;             /* mbox_lock */
    unsigned worker_gen[2];        /* mbox_lock: [is_sub] the current worker's generation */

    uv_async_t wakeup;
    uv_timer_t idle_timer;
    uv_timer_t retry_timer; /* backoff before the next attempt */
    uv_timer_t check_timer; /* 1 Hz while running: stalls, rates */
    uv_timer_t card_timer;  /* 1 Hz while down: the "camera offline" picture */
    uint32_t card_seq;      /* loop */
    vg_frame_t *card;       /* loop: the last card encoded (on the uv pool), or NULL */
    char *card_key;         /* loop: the size and text it shows, to reuse it */
    bool is_card_encoding;  /* loop: a card job is on the uv pool */
    int64_t down_since_us;  /* loop: wall-clock time the camera went down; the card shows it */
    int handles_open;       /* loop: of the HANDLES_PER_STREAM, plus a card job in flight and
                               each thread not yet reaped */
    bool is_removed;        /* loop: out of the hub, freed when its handles have closed */
};

struct vg_hub {
    uv_loop_t *loop;
    vg_stream_t **streams;
    size_t count;
    bool is_closing;
    int handles_open;
    uint64_t rng; /* backoff jitter; xorshift64, seeded from the clock */
    vg_retry_cfg_t retry_cfg;
    int health_interval_ms; /* idle checks; 0: off */
    uv_timer_t health_timer; /* 1 Hz while idle checks are on: starts the due ones */
    bool has_health_timer;
    uv_async_t exits_async;   /* threads post their exit here */
    uv_mutex_t exits_lock;
    vg_thread_exit_t *exits;  /* exits_lock: posted, not yet reaped */
    vg_thread_exit_t *held;   /* loop: started and not yet reaped (held_next) */
    int threads_held;         /* loop: how many */
    bool is_exits_closed;     /* loop */
    uv_timer_t stop_timer;    /* loop: 10 Hz while a stopped thread has not exited */
};

#define HANDLES_PER_STREAM 6
#define DEFAULT_STALL_TIMEOUT_MS 5000
#define DEFAULT_HEALTH_INTERVAL_MS 60000
/* An idle check waits this long for the camera (less when the interval is shorter). */
#define HEALTH_TIMEOUT_MS 5000
/* A probe between attempts: a loopback or LAN connect answers in milliseconds; a camera
 * that needs longer is not "back" for viewers anyway. */
#define PROBE_TIMEOUT_MS 1000
/* Idle checks started per second at most, so that hundreds of cameras are spread out. */
#define HEALTH_CHECKS_PER_TICK 16

static void on_exits(uv_async_t *h);
static void lane_reset(vg_stream_t *st);

vg_hub_t *vg_hub_new(uv_loop_t *loop)
{
    vg_hub_t *hub = vg_xcalloc(1, sizeof(*hub));
    hub->loop = loop;
    hub->rng = (uint64_t)vg_wall_us() | 1;
    hub->retry_cfg = VG_RETRY_CFG_DEFAULT;
    hub->health_interval_ms = DEFAULT_HEALTH_INTERVAL_MS;
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
static void stream_release(vg_stream_t *st)
{
    vg_hub_t *hub = st->hub;
    hub->handles_open--;
    if (--st->handles_open == 0 && st->is_removed)
        stream_free(st); /* a removed stream is no longer in hub->streams */
    hub_maybe_free(hub);
}

static void on_handle_closed(uv_handle_t *h) { stream_release(h->data); }

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
            stream_release(st); /* the stop timer, still open, keeps the hub */
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
        if (!e->reap(e)) { /* has not returned yet */
            e->next = again;
            again = e;
            e = next;
            continue;
        }
        hub_unhold(hub, e);
        stream_release(st); /* the exits async, still open, keeps the hub */
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

static void fanout(vg_stream_t *st, int tier, vg_frame_t *f);
static void update_needed(vg_stream_t *st);

/* Puts c at the head of its tier's list (c->tier set). */
static void list_insert(vg_stream_t *st, vg_consumer_t *c)
{
    c->prev = NULL;
    c->next = st->consumers[c->tier];
    if (c->next)
        c->next->prev = c;
    st->consumers[c->tier] = c;
    st->consumer_count[c->tier]++;
}

static bool is_down(const vg_stream_t *st)
{
    return st->state == VG_STREAM_BACKOFF || st->state == VG_STREAM_STALLED ||
           st->state == VG_STREAM_FAILED ||
           (st->state == VG_STREAM_CONNECTING && st->attempts > 0);
}

/* While a camera is down, JPEG viewers get a rendered "camera offline" picture once a second
 * instead of a frozen last picture. It says why and since when, so it changes only with
 * its size or text: it is JPEG-encoded on the uv pool, never on the loop (issue 12), once
 * per size and text, and the loop resends the cached one each second with a new header.
 * The card is the size of the smallest watched tier, at most 640x360 (a viewer's picture
 * element scales it; a 4K native tier must not cost a 4K encode). */
#define CARD_LINES 5

typedef struct card_job {
    uv_work_t req;
    vg_stream_t *st;
    int width, height;
    char *lines[CARD_LINES]; /* copies: the pool thread must not read loop-owned strings */
    int64_t since_us;
    char *key;
    vg_frame_t *out; /* pool thread, then loop */
} card_job_t;

static void card_job_free(card_job_t *job)
{
    for (int i = 0; i < CARD_LINES; i++)
        free(job->lines[i]);
    free(job->key);
    vg_frame_unref(&job->out);
    free(job);
}

static void on_card_work(uv_work_t *req) /* uv pool thread */
{
    card_job_t *job = req->data;
    if (vg_card_render(&job->out, job->width, job->height, 75, (const char *const *)job->lines,
                       CARD_LINES, job->since_us) < 0)
        job->out = NULL;
}

/* Each watched tier gets a copy of the cached card with its own header. Loop thread. */
static void card_send(vg_stream_t *st)
{
    vg_frame_t *card = st->card;
    int64_t now = vg_wall_us();
    st->card_seq++;
    for (int tier = 0; tier < st->tier_count; tier++) {
        if (st->consumer_count[tier] == 0)
            continue;
        vg_frame_t *f = vg_frame_new(card->len);
        memcpy(f->data, card->data, card->len);
        f->len = card->len;
        f->meta = card->meta;
        f->meta.seq = st->card_seq;
        f->meta.is_placeholder = true;
        f->meta.capture_us = f->meta.ingest_us = now;
        f->meta.tier = tier;
        vg_wire_put_header(f->data - VG_WIRE_HDR_LEN, &f->meta);
        fanout(st, tier, f);
        vg_frame_unref(&f);
    }
}

static void on_card_done(uv_work_t *req, int status) /* loop thread */
{
    card_job_t *job = req->data;
    vg_stream_t *st = job->st;
    st->is_card_encoding = false;
    if (status == 0 && job->out != NULL) {
        vg_frame_unref(&st->card);
        free(st->card_key);
        st->card = job->out;
        st->card_key = job->key;
        job->out = NULL;
        job->key = NULL;
        if (!st->is_removed && !st->hub->is_closing && is_down(st))
            card_send(st); /* the tick that asked for it sent nothing */
    }
    card_job_free(job);
    stream_release(st); /* the job held the stream like a handle */
}

static void on_card(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    if (!is_down(st)) {
        uv_timer_stop(t);
        return;
    }
    int w = CARD_MAX_WIDTH, h = CARD_MAX_HEIGHT, watched = 0;
    for (int tier = 0; tier < st->tier_count; tier++) {
        if (st->consumer_count[tier] == 0)
            continue;
        watched++;
        const vg_tier_t *tr = &st->tiers[tier];
        if (tr->width > 0 && tr->height > 0 && tr->width <= w && tr->height <= h) {
            w = tr->width;
            h = tr->height;
        }
    }
    if (watched == 0)
        return;
    if (st->down_since_us == 0) /* down from the start: since it has been in this state */
        st->down_since_us = st->state_since_us ? st->state_since_us : vg_wall_us();
    const char *lines[CARD_LINES] = {
        "CAMERA OFFLINE",
        st->state == VG_STREAM_FAILED ? "FAILED, RETRYING" : "RECONNECTING",
        st->reason, /* the card cuts long lines itself */
        st->name,
        "DOWN SINCE", /* the card's last line: the time */
    };
    char key[512];
    snprintf(key, sizeof(key), "%dx%d|%s|%s|%s|%lld", w & ~1, h & ~1, lines[1], lines[2],
             lines[3], (long long)st->down_since_us);
    if (st->card != NULL && strcmp(key, st->card_key) == 0) {
        card_send(st);
        return;
    }
    if (st->is_card_encoding)
        return; /* the next tick looks again */
    card_job_t *job = vg_xcalloc(1, sizeof(*job));
    job->req.data = job;
    job->st = st;
    job->width = w & ~1;
    job->height = h & ~1;
    for (int i = 0; i < CARD_LINES; i++)
        job->lines[i] = vg_xstrdup(lines[i]);
    job->since_us = st->down_since_us;
    job->key = vg_xstrdup(key);
    if (uv_queue_work(st->hub->loop, &job->req, on_card_work, on_card_done) != 0) {
        card_job_free(job);
        return;
    }
    st->is_card_encoding = true;
    st->handles_open++; /* the stream and the hub wait for the job as for a handle */
    st->hub->handles_open++;
}

static void stream_set_state(vg_stream_t *st, vg_stream_state_t state, const char *reason)
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
    bool was_down = is_down(st);
    st->state = state;
    st->reason = reason;
    st->state_since_us = vg_wall_us();
    if (is_down(st) && !was_down)
        st->down_since_us = st->state_since_us;
    if (is_down(st) && !uv_is_active((uv_handle_t *)&st->card_timer))
        uv_timer_start(&st->card_timer, on_card, 0, 1000);
    for (int t = 0; t < LISTS; t++) {
        for (vg_consumer_t *c = st->consumers[t], *next; c; c = next) {
            next = c->next;
            if (c->ops->on_state)
                c->ops->on_state(c, state);
        }
    }
}

/* Feeds the retry policy (lifecycle.h) with the loop's clock and the hub's jitter state. */
static vg_retry_action_t retry_step(vg_stream_t *st, vg_retry_event_t ev, int status)
{
    vg_retry_action_t a = vg_retry_step(&st->retry, &st->hub->retry_cfg, ev, status,
                                        vg_mono_us(), &st->hub->rng);
    st->attempts = st->retry.attempts;
    return a;
}

/* What the last look at the camera said: an idle check, a probe, or the source. */
static void health_set(vg_stream_t *st, bool is_reachable, const char *reason)
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

static void check_cancel(vg_stream_t *st)
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
static void known_size(const vg_stream_t *st, int *w, int *h)
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

static void refresh_shown_tiers(vg_stream_t *st)
{
    int w, h;
    known_size(st, &w, &h);
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
 * the next keyframe. The loop feeds it every access unit after those (on_wakeup). */
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
static void worker_sync(vg_stream_t *st)
{
    if (!worker_is_wanted(st))
        return;
    st->worker_unneeded_s = 0;
    if (worker_ensure(st) < 0)
        VG_LOG_WARN("stream", "cam=%s JPEG tiers get no pictures: no media worker", st->id);
}

/* Splits the wanted tiers between the two workers: the substream's tiers go to it while it
 * runs, to the main worker otherwise. */
static void publish_needed(vg_stream_t *st)
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
    publish_needed(st);
    vg__input_set_worker(&st->inputs[VG_INPUT_SUB], NULL);
    worker_stop(st, &st->sub_worker, true);
    worker_sync(st); /* its tiers come from the main stream now */
}

static void on_sub_retry(uv_timer_t *t);

/* Starts the substream when the stream runs and a viewer wants one of its tiers. */
static void sub_maybe_start(vg_stream_t *st)
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
    publish_needed(st);
}

/* The substream failed: its tiers go back to the main stream, and it is retried later. */
static void sub_failed(vg_stream_t *st, int status)
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
    sub_maybe_start(st);
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

static void fallback_stop(vg_stream_t *st)
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
    stream_set_state(st, VG_STREAM_FALLBACK, reason);
}

/* Stops the primary source (and the worker unless the fallback runs); the state is the
 * caller's to set. */
static void stream_stop_threads(vg_stream_t *st)
{
    if (!st->is_running)
        return;
    sub_stop(st);
    uv_timer_stop(&st->sub_retry_timer);
    st->sub_reason = NULL;
    st->producer->stop(st->producer_ctx);
    st->is_running = false;
    uv_timer_stop(&st->check_timer);
    lane_reset(st); /* the next run starts at its first keyframe */
    worker_release(st);
    st->is_decode_stalled = false;
    atomic_store(&st->events, 0);
    st->input_fps = st->input_kbps = 0;
    memset(st->tier_fps, 0, sizeof(st->tier_fps));
    memset(st->tier_kbps, 0, sizeof(st->tier_kbps));
}

static bool stream_is_wanted(const vg_stream_t *st)
{
    return (st->total_consumers > 0 || st->is_always_on) && !st->hub->is_closing &&
           !st->is_removed;
}

/* Nobody watches: stop everything and forget the pictures. */
static void stream_go_idle(vg_stream_t *st)
{
    stream_stop_threads(st);
    fallback_stop(st);
    uv_timer_stop(&st->retry_timer);
    check_cancel(st);
    for (int t = 0; t < VG_TIER_MAX; t++)
        vg_frame_unref(&st->latest[t]);
    retry_step(st, VG_RETRY_RESET, 0);
    stream_set_state(st, VG_STREAM_IDLE, NULL);
}

static void on_check(uv_timer_t *t);
static void stream_start(vg_stream_t *st);

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
        stream_start(st);
        return;
    }
    if (a == VG_RETRY_PROBE) {
        if (st->check == NULL && st->producer && st->producer->check)
            st->check = st->producer->check(st->producer_ctx, st->hub->loop, VG_CHECK_CONNECT,
                                            PROBE_TIMEOUT_MS, on_probe_done, st);
        if (st->check == NULL) { /* nothing to probe (a file): say "up", which waits */
            retry_act(st, retry_step(st, VG_RETRY_PROBE_UP, 0));
            return;
        }
        st->is_check_probe = true;
    }
    retry_arm(st);
}

static void on_retry(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    if (!stream_is_wanted(st)) {
        stream_go_idle(st);
        return;
    }
    retry_act(st, retry_step(st, VG_RETRY_TIMER, 0));
}

static void on_probe_done(void *arg, const vg_check_result_t *r)
{
    vg_stream_t *st = arg;
    st->check = NULL;
    health_set(st, r->is_reachable, r->reason);
    VG_LOG_DEBUG("stream", "cam=%s probe: %s%s%s", st->id, r->is_reachable ? "up" : "down",
                 *r->reason ? ", " : "", r->reason);
    if (!stream_is_wanted(st)) {
        stream_go_idle(st);
        return;
    }
    retry_act(st, retry_step(st, r->is_reachable ? VG_RETRY_PROBE_UP : VG_RETRY_PROBE_DOWN, 0));
}

/* The source failed or stalled: stop it and try again when the retry policy says (an
 * exponential, jittered backoff from 0.5 s to 30 s, cut short when a probe sees a camera
 * that was down come back: lifecycle.h). Viewers stay attached throughout. */
static void stream_fail(vg_stream_t *st, int status)
{
    stream_stop_threads(st);
    retry_step(st, VG_RETRY_FAILED, status);
    if (!stream_is_wanted(st)) {
        stream_go_idle(st);
        return;
    }
    if (status == VG_EUNREACHABLE)
        health_set(st, false, vg_strerror(status));
    else if (status == VG_EUNAUTHORIZED || status == VG_EUNSUPPORTED || status == VG_ENOVIDEO)
        health_set(st, true, vg_strerror(status)); /* it answered */
    /* In fallback viewers have pictures: stay there while the video is retried behind. */
    if (!st->is_fallback_running && st->fallback && st->attempts >= FALLBACK_AFTER_ATTEMPTS)
        fallback_start(st, vg_strerror(status));
    /* A camera that went silent waits as "stalled"; one that could not be reached (or
     * refused) as "backoff"; one that needs someone to act as "failed". */
    vg_stream_state_t waiting = is_permanent(status)       ? VG_STREAM_FAILED
                                : status == VG_ETIMEDOUT ? VG_STREAM_STALLED
                                                         : VG_STREAM_BACKOFF;
    if (!st->is_fallback_running)
        stream_set_state(st, waiting, vg_strerror(status));
    VG_LOG_DEBUG("stream", "cam=%s attempt %u failed; retrying in %lld ms", st->id,
                 st->attempts, (long long)st->retry.last_delay_ms);
    retry_arm(st);
}

static void stream_start(vg_stream_t *st)
{
    if (st->is_running)
        return;
    if (st->producer == NULL) { /* its URL was refused: nothing to retry */
        stream_set_state(st, VG_STREAM_FAILED, st->config_error);
        return;
    }
    uv_timer_stop(&st->retry_timer);
    check_cancel(st);
    atomic_store(&st->events, 0);
    atomic_store(&st->saw_packet, false);
    atomic_store(&st->last_packet_mono_us, vg_mono_us());
    st->last_packets = atomic_load(&st->packets_in);
    st->last_bytes = atomic_load(&st->bytes_in);
    st->last_decoded = main_decoded(st);
    st->decode_progress_mono_us = vg_mono_us();
    st->is_running = true;
    if (!st->is_fallback_running) /* in fallback, the state changes when video returns */
        stream_set_state(st, VG_STREAM_CONNECTING, st->reason);
    uv_timer_start(&st->check_timer, on_check, 1000, 1000);
    if (worker_is_wanted(st) && worker_ensure(st) < 0) {
        stream_fail(st, VG_ENOMEM);
        return;
    }
    int rc = st->producer->start(st->producer_ctx, &st->inputs[VG_INPUT_MAIN]);
    if (rc < 0) {
        VG_LOG_ERROR("stream", "cam=%s cannot start %s source: %s", st->id, st->producer->name,
                     vg_strerror(rc));
        stream_fail(st, rc);
        return;
    }
    sub_maybe_start(st);
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
            retry_step(st, VG_RETRY_LIVE, 0);
            stream_set_state(st, VG_STREAM_LIVE, NULL);
        }
        return;
    }
    if (st->state != VG_STREAM_LIVE || now - st->decode_progress_mono_us <= st->stall_timeout_ms * 1000LL)
        return;
    st->is_decode_stalled = true;
    snprintf(st->reason_buf, sizeof(st->reason_buf), "no decodable picture for %d s",
             (st->stall_timeout_ms + 999) / 1000);
    VG_LOG_WARN("stream", "cam=%s packets arrive but none decodes", st->id);
    stream_set_state(st, VG_STREAM_STALLED, st->reason_buf);
}

/* 1 Hz while running: input rates, stall detection, and forgiving old failures once the
 * video has been good for a minute. */
static void on_check(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    uint64_t packets = atomic_load(&st->packets_in), bytes = atomic_load(&st->bytes_in);
    st->input_fps = (double)(packets - st->last_packets);
    st->input_kbps = (double)(bytes - st->last_bytes) * 8 / 1000;
    st->last_packets = packets;
    st->last_bytes = bytes;
    for (int tier = 0; tier < st->tier_count; tier++) {
        uint64_t enc = atomic_load_explicit(&st->counters.tier[tier].encoded, memory_order_relaxed);
        uint64_t b = atomic_load_explicit(&st->counters.tier[tier].bytes, memory_order_relaxed);
        st->tier_fps[tier] = (double)(enc - st->last_tier_encoded[tier]);
        st->tier_kbps[tier] = (double)(b - st->last_tier_bytes[tier]) * 8 / 1000;
        st->last_tier_encoded[tier] = enc;
        st->last_tier_bytes[tier] = b;
    }
    if (st->state == VG_STREAM_LIVE && st->input_fps > 0)
        st->known_fps = st->input_fps;
    int w, h;
    known_size(st, &w, &h);
    if (w != st->shown_w || h != st->shown_h)
        refresh_shown_tiers(st);
    int64_t now = vg_mono_us();
    int64_t silent_ms = (now - atomic_load(&st->last_packet_mono_us)) / 1000;
    if ((st->state == VG_STREAM_LIVE || st->is_decode_stalled) &&
        silent_ms > st->stall_timeout_ms) {
        stream_fail(st, VG_ETIMEDOUT);
        return;
    }
    check_decoding(st, now);
    if (st->worker && !worker_is_wanted(st) && ++st->worker_unneeded_s >= WORKER_LINGER_S)
        worker_release(st);
    retry_step(st, VG_RETRY_TIMER, 0); /* forgives old failures after a good minute */
}

static void on_idle_timeout(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    if (!stream_is_wanted(st)) {
        VG_LOG_DEBUG("stream", "cam=%s idle, stopping source", st->id);
        stream_go_idle(st);
    }
}

static void fanout(vg_stream_t *st, int tier, vg_frame_t *f)
{
    for (vg_consumer_t *c = st->consumers[tier], *next; c; c = next) {
        next = c->next; /* a consumer may detach itself from on_frame */
        c->ops->on_frame(c, f);
    }
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
static void lane_reset(vg_stream_t *st)
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
        if (f->meta.is_key && vg_h26x_params_update(&st->params, f->data, f->len) > 0)
            codec_changed(st);
        if (vg_lane_push(st->lane, f) && st->is_passthrough) {
            for (vg_consumer_t *c = st->consumers[VG_TIER_SOURCE], *next; c; c = next) {
                next = c->next;
                if (c->is_waiting_key && !f->meta.is_key)
                    continue;
                c->is_waiting_key = false;
                c->ops->on_frame(c, f);
            }
        }
    }
    if (st->worker) {
        vg__worker_push(st->worker, vg_frame_ref(f));
        st->packets_to_worker++;
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
        if (st->is_running)
            lane_take(st, f);
        vg_frame_unref(&f);
    }
}

static void on_wakeup(uv_async_t *h)
{
    vg_stream_t *st = h->data;
    unsigned events = atomic_exchange(&st->events, 0);
    lane_drain(st);
    if (!st->is_running && !st->is_fallback_running)
        return;
    if ((events & EVENT_PACKET) && st->is_running &&
        (st->state == VG_STREAM_CONNECTING || st->state == VG_STREAM_FALLBACK)) {
        fallback_stop(st); /* the video is back */
        retry_step(st, VG_RETRY_LIVE, 0);
        health_set(st, true, "");
        st->decode_progress_mono_us = vg_mono_us(); /* the stall time-out runs from here */
        stream_set_state(st, VG_STREAM_LIVE, NULL);
    }

    vg_frame_t *frames[VG_TIER_MAX];
    uv_mutex_lock(&st->mbox_lock);
    memcpy(frames, st->mbox, sizeof(frames));
    memset(st->mbox, 0, sizeof(st->mbox));
    st->mbox_has_any = false;
    uv_mutex_unlock(&st->mbox_lock);

    int64_t now = vg_mono_us();
    for (int t = 0; t < st->tier_count; t++) {
        if (frames[t] == NULL)
            continue;
        vg_frame_unref(&st->latest[t]);
        st->latest[t] = frames[t]; /* the mailbox's reference moves here */
        st->latest_mono_us[t] = now;
        fanout(st, t, frames[t]);
    }
    if ((events & EVENT_SUB_ENDED) && st->is_sub_running) {
        int status = atomic_load(&st->sub_ended_status);
        sub_failed(st, status < 0 ? status : VG_EEOF);
    }
    if ((events & EVENT_ENDED) && st->is_running) {
        int status = atomic_load(&st->ended_status);
        VG_LOG_DEBUG("stream", "cam=%s source ended: %s", st->id, vg_strerror(status));
        stream_fail(st, status < 0 ? status : VG_EEOF);
    }
}

/* The ladder cfg asks for: its own tiers, else the default for the camera's size. Cameras
 * whose picture is unknown until they answer get every class; the worker sizes each tier from
 * the decoded picture, never larger than it. *default_tier is -1 when cfg names a tier the
 * ladder lacks. */
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
    return n;
}

static bool tiers_equal(const vg_tier_t *a, const vg_tier_t *b, int n)
{
    for (int t = 0; t < n; t++) {
        if (strcmp(a[t].name, b[t].name) != 0 || a[t].class_height != b[t].class_height ||
            a[t].width != b[t].width || a[t].height != b[t].height || a[t].fps != b[t].fps ||
            a[t].quality != b[t].quality)
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
    refresh_shown_tiers(st);
    uv_async_init(hub->loop, &st->wakeup, on_wakeup);
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
    health_set(st, r->is_reachable, r->reason);
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

void vg_hub_close(vg_hub_t **hp)
{
    vg_hub_t *hub = *hp;
    if (hub == NULL)
        return;
    *hp = NULL;
    hub->is_closing = true;
    uv_close((uv_handle_t *)&hub->health_timer, on_hub_timer_closed);
    for (size_t i = 0; i < hub->count; i++) {
        vg_stream_t *st = hub->streams[i];
        /* Outputs detach their consumers as their connections close; any left are cut. */
        for (int t = 0; t < LISTS; t++) {
            while (st->consumers[t])
                vg_stream_detach(st->consumers[t]);
        }
        stream_go_idle(st);
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
    stream_go_idle(st);
    stream_close_handles(st);
}

/* Swaps in cfg's producers (taken), the old ones stopped first and freed. */
static void replace_sources(vg_stream_t *st, const vg_stream_cfg_t *cfg)
{
    stream_stop_threads(st);
    fallback_stop(st);
    uv_timer_stop(&st->retry_timer);
    check_cancel(st); /* while the producer it came from is still there */
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
    retry_step(st, VG_RETRY_RESET, 0);
    st->has_health = false;
    refresh_shown_tiers(st);
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
    refresh_shown_tiers(st);
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
    for (vg_consumer_t *c = moving, *next; c; c = next) {
        next = c->next;
        list_insert(st, c);
    }
    update_needed(st);
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
    if (!stream_is_wanted(st)) {
        if (replace)
            stream_go_idle(st);
        else if (st->state != VG_STREAM_IDLE && st->total_consumers == 0)
            uv_timer_start(&st->idle_timer, on_idle_timeout, (uint64_t)st->idle_timeout_ms, 0);
    } else if (!st->is_running && (replace || st->state == VG_STREAM_IDLE)) {
        stream_start(st);
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
const char *vg_stream_id(const vg_stream_t *st) { return st->id; }
const char *vg_stream_name(const vg_stream_t *st) { return st->name; }
vg_stream_state_t vg_stream_state(const vg_stream_t *st) { return st->state; }

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
    known_size(st, width, height);
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
    out->bytes_in = atomic_load(&st->bytes_in);
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
    out->packets_decoded_for = st->packets_to_worker;
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

static void update_needed(vg_stream_t *st)
{
    unsigned mask = 0;
    for (int t = 0; t < st->tier_count; t++) {
        if (st->consumer_count[t] > 0)
            mask |= 1u << t;
    }
    atomic_store(&st->tiers_needed, mask);
    publish_needed(st);
    sub_maybe_start(st);
    worker_sync(st);
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
    list_insert(st, c);
    update_needed(st);
    if (tier == VG_TIER_SOURCE) {
        link_source(st, c);
        return;
    }
    /* A new viewer gets the tier's last picture at once, if it is recent. */
    if (st->latest[tier] && vg_mono_us() - st->latest_mono_us[tier] < LATEST_MAX_AGE_US)
        c->ops->on_frame(c, st->latest[tier]);
}

static void unlink_consumer(vg_consumer_t *c)
{
    vg_stream_t *st = c->stream;
    if (c->prev)
        c->prev->next = c->next;
    else
        st->consumers[c->tier] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    st->consumer_count[c->tier]--;
    update_needed(st);
}

void vg_stream_attach(vg_stream_t *st, vg_consumer_t *c, int tier)
{
    VG_ASSERT(c->stream == NULL && tier >= 0 && (tier < st->tier_count || tier == VG_TIER_SOURCE));
    st->total_consumers++;
    uv_timer_stop(&st->idle_timer);
    if (!st->is_running && !st->hub->is_closing &&
        (st->state == VG_STREAM_IDLE || st->producer == NULL))
        stream_start(st); /* in backoff, the retry timer will start it */
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

void vg_stream_detach(vg_consumer_t *c)
{
    vg_stream_t *st = c->stream;
    if (st == NULL)
        return;
    unlink_consumer(c);
    c->stream = NULL;
    if (--st->total_consumers == 0 && st->state != VG_STREAM_IDLE && !st->is_always_on &&
        !st->hub->is_closing && !st->is_removed)
        uv_timer_start(&st->idle_timer, on_idle_timeout, (uint64_t)st->idle_timeout_ms, 0);
}

void vg__stream_keep_info(vg_stream_t *st, bool is_sub, const vg_stream_info_t *info)
{
    uv_mutex_lock(&st->info_lock);
    source_info_t *si = &st->info[is_sub];
    si->codec_id = info->codec_id;
    si->width = info->width;
    si->height = info->height;
    si->has_reordering = info->has_reordering;
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
    known_size(st, &out->width, &out->height);
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
        stream_start(st);
}

void vg__stream_input_packet(vg_stream_t *st, vg_input_kind_t kind, size_t bytes)
{
    if (kind == VG_INPUT_SUB) {
        atomic_fetch_add_explicit(&st->sub_packets_in, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&st->bytes_in, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->packets_in, 1, memory_order_relaxed);
    atomic_store_explicit(&st->last_packet_mono_us, vg_mono_us(), memory_order_relaxed);
    if (!atomic_exchange(&st->saw_packet, true)) {
        atomic_fetch_or(&st->events, EVENT_PACKET);
        uv_async_send(&st->wakeup);
    }
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

const char *vg_stream_tier_name(const vg_stream_t *st, int t)
{
    return t == VG_TIER_SOURCE ? "source" : st->shown_tiers[t].name;
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
    bool was_empty = !st->mbox_has_any;
    st->mbox_has_any = true;
    uv_mutex_unlock(&st->mbox_lock);
    if (was_empty)
        uv_async_send(&st->wakeup);
    vg_frame_unref(&old);
}
