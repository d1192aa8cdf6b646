/* stream_int: what the files of a stream share (hub.c, stream_run.c, stream.c, offline.c).
 *
 *   hub.c         the registry: streams added, reconfigured, removed; the threads' exits
 *                 (joined on the loop, never where they were stopped); idle health checks
 *   stream_run.c  the lifecycle of one stream: its producers and workers started and stopped,
 *                 failures retried by the pure policy of lifecycle.h, stalls, idle time-out
 *   stream.c      the stream's two lanes (the camera's access units, the worker's JPEGs),
 *                 its consumers and its counters
 *   offline.c     the "camera offline" card shown while the camera is down
 *
 * Everything is loop-thread only unless a field says otherwise.
 */
#ifndef VG_MEDIA_STREAM_INT_H
#define VG_MEDIA_STREAM_INT_H

#include <stdatomic.h>

#include "media/lane.h"
#include "media/lifecycle.h"
#include "media/media_int.h"
#include "media/stream.h"

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
    vg_stream_audio_t audio;
} source_info_t;

struct vg_stream {
    vg_hub_t *hub;
    char *id, *name, *url;
    char *config_error; /* why there is no producer (bad URL), or NULL */
    vg_tier_t tiers[VG_TIER_MAX];
    int tier_count, default_tier;
    int idle_timeout_ms, stall_timeout_ms;
    bool is_always_on;
    int priority;              /* admission: higher keeps its source first (admit.h) */
    int width, height, fps;

    /* lifecycle, loop */
    const char *reason;
    int64_t state_since_us;
    int64_t placed_mono_us;    /* when it last left idle: its place under the source cap */
    unsigned attempts;         /* a copy of retry.attempts */
    vg_retry_t retry;          /* the retry policy's state (lifecycle.h) */
    uint64_t last_packets, last_bytes; /* counters at the previous check */
    double input_fps, input_kbps;
    /* input_kbps averaged over several seconds: what `source` costs as a rung (one second
     * with a keyframe in it costs twice one without) */
    double source_kbps;
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
    int source_key_waiters; /* loop: consumers with is_awaiting_source_key */
    vg_frame_t *latest[VG_TIER_MAX];       /* loop */
    int64_t latest_mono_us[VG_TIER_MAX];   /* loop */
    uint64_t reconnects;                   /* loop: restarts after a failure or stall */
    uint64_t last_tier_encoded[VG_TIER_MAX], last_tier_bytes[VG_TIER_MAX]; /* loop */
    double tier_fps[VG_TIER_MAX], tier_kbps[VG_TIER_MAX];                 /* loop */
    double tier_frame_bytes[VG_TIER_MAX]; /* loop: mean JPEG size while encoded (0: never) */
    /* loop: the last two keyframes' sizes of each H.264 tier and of `source` (last index) */
    uint32_t key_bytes[VG_TIER_MAX + 1][2];
    /* loop: when the camera's last keyframe came, and the time between its keyframes (a
     * moving average; 0: not two yet), for `source-keys` */
    int64_t source_key_mono_us, source_key_interval_us;
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

    atomic_uint tiers_needed; /* any: atomic */
    atomic_uint keys_wanted;  /* any: atomic; H.264 tiers whose next picture is a keyframe */
    /* H.264 tiers, loop: the codec string of the last keyframe's parameter sets ("" before) */
    char tier_codec[VG_TIER_MAX][24];
    atomic_uint events;       /* any: atomic */
    atomic_int ended_status;  /* any: atomic */
    atomic_int sub_ended_status; /* any: atomic */
    atomic_ullong packets_in; /* any: atomic */
    atomic_ullong damaged_in; /* any: atomic; of packets_in */
    atomic_ullong bytes_in;   /* any: atomic */
    atomic_ullong sub_packets_in; /* any: atomic */
    atomic_ullong audio_packets_in, audio_bytes_in, audio_dropped; /* any: atomic */
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
    unsigned mbox_gaps;            /* mbox_lock: H.264 tiers whose slot was overwritten */
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
    struct vg_stream *retire_next; /* loop: the hub's removed streams still to stop */
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
    /* Removed streams are stopped a few per loop pass (vg_hub_remove_stream): a site that
     * drops 30 cameras at once must not stall every viewer for their sum. */
    vg_stream_t *retiring, **retiring_tail; /* loop */
    uv_idle_t retire_idle;    /* loop: runs while streams wait to be stopped */
    int max_sources;          /* admission: sources running at once, 0: no cap (admit.h) */
    uint64_t refused_sources; /* viewers refused at max_sources */
    uint64_t displaced;       /* sources stopped for a camera of higher priority */
    int max_decoding;         /* admission: cameras decoded at once, 0: no cap */
    bool can_encode_h264;     /* FFmpeg has libx264: looked up once */
    uint64_t refused_decoding, displaced_decoding;
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

/* hub.c */
void vg__stream_release(vg_stream_t *st);

/* stream_run.c */
void vg__stream_check_cancel(vg_stream_t *st);
void vg__stream_fallback_stop(vg_stream_t *st);
void vg__stream_health_set(vg_stream_t *st, bool is_reachable, const char *reason);
void vg__stream_known_size(const vg_stream_t *st, int *w, int *h);
void vg__stream_on_idle_timeout(uv_timer_t *t);
void vg__stream_publish_needed(vg_stream_t *st);
void vg__stream_refresh_shown_tiers(vg_stream_t *st);
vg_retry_action_t vg__stream_retry_step(vg_stream_t *st, vg_retry_event_t ev, int status);
void vg__stream_fail(vg_stream_t *st, int status);
void vg__stream_go_idle(vg_stream_t *st);
bool vg__stream_is_wanted(const vg_stream_t *st);
void vg__stream_set_state(vg_stream_t *st, vg_stream_state_t state, const char *reason);
void vg__stream_start(vg_stream_t *st);
void vg__stream_stop_threads(vg_stream_t *st);
void vg__stream_sub_failed(vg_stream_t *st, int status);
void vg__stream_sub_maybe_start(vg_stream_t *st);
void vg__stream_worker_sync(vg_stream_t *st);

/* stream.c */
void vg__stream_fanout(vg_stream_t *st, int tier, vg_frame_t *f);
void vg__stream_lane_reset(vg_stream_t *st);
void vg__stream_list_insert(vg_stream_t *st, vg_consumer_t *c);
void vg__stream_on_wakeup(uv_async_t *h);
void vg__stream_update_needed(vg_stream_t *st);

/* offline.c */
bool vg__stream_is_down(const vg_stream_t *st);
void vg__stream_on_card(uv_timer_t *t);

#endif
