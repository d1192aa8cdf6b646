/* stream: the stream hub. One vg_stream_t per camera, owned by the hub, living on the loop.
 *
 *   source thread ──packets──┬──→ media worker (decode → scale → JPEG per needed tier)
 *   (producer)               │            │ latest JPEG per tier (mailbox + uv_async)
 *                            └─ counters  ↓
 *                                   stream (loop) ──→ consumers of tier t (outputs)
 *
 * A stream starts its producer (the source) and its worker when its first consumer attaches
 * and stops them idle_timeout_ms after the last one leaves. Which tiers the worker encodes is
 * published as an atomic bitmask computed from the consumers' tiers.
 *
 * Threads: everything here is loop-thread only, except the functions marked "source thread".
 */
#ifndef VG_MEDIA_STREAM_H
#define VG_MEDIA_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/frame.h"
#include "media/tier.h"

typedef struct vg_hub vg_hub_t;
typedef struct vg_stream vg_stream_t;
typedef struct vg_consumer vg_consumer_t;
/* What a producer feeds: one per producer of a stream (main source, substream, snapshot
 * fallback), with its own counters and hand-off, so the stream never has to tell producers
 * apart by comparing pointers. Owned by the stream; a producer keeps it from start to stop. */
typedef struct vg_stream_input vg_stream_input_t;

/* The consumer "tier" of the packet lane: the camera's own access units (docs/protocol.md,
 * "The camera's own video"), not a JPEG tier. */
#define VG_TIER_SOURCE VG_TIER_MAX
/* The camera's keyframes alone (`source-keys`): a rung below `source` that needs no decoding
 * and no encoding. Its viewers are VG_TIER_SOURCE consumers that keep only keyframes (each
 * decodes alone); the stream answers for its cost, rate and name. Never a consumer's tier. */
#define VG_TIER_SOURCE_KEYS (VG_TIER_MAX + 1)

/* The lifecycle (docs/streams.md):
 *
 *   idle → connecting → live → stalled → backoff → connecting → ...
 *                 └──────────────────────→ backoff / failed (with a reason)
 *
 * failed is a backoff whose reason will not go away by itself (unauthorized, unsupported
 * codec, no video track): it is still retried, at the backoff cap. stalled is also a
 * source that sends packets of which nothing decodes for the stall time-out (the reason
 * says so); it stays running and turns live again with the next picture. */
typedef enum vg_stream_state {
    VG_STREAM_IDLE,       /* no source running, nobody watching */
    VG_STREAM_CONNECTING, /* source started, no packet yet */
    VG_STREAM_LIVE,       /* packets flowing */
    VG_STREAM_STALLED,    /* went silent for the stall time-out; waiting to restart */
    VG_STREAM_BACKOFF,    /* waiting before the next attempt */
    VG_STREAM_FAILED,     /* like backoff, for a failure that needs someone to act */
    VG_STREAM_FALLBACK,   /* video down: showing polled snapshots, video retried behind */
} vg_stream_state_t;

typedef struct vg_consumer_ops {
    /* A new JPEG of the consumer's tier, or for VG_TIER_SOURCE the camera's next access unit
     * (the first a consumer gets is a keyframe; then none is skipped unless the consumer
     * skips itself). f is borrowed: take a ref to keep it. Loop. */
    void (*on_frame)(vg_consumer_t *c, vg_frame_t *f);
    /* The camera's codec became known or changed (vg_stream_codec): sent to every consumer,
     * before the first access unit of the new parameters. May be NULL. Loop. */
    void (*on_codec)(vg_consumer_t *c);
    /* The stream's state changed. May be NULL. Loop. */
    void (*on_state)(vg_consumer_t *c, vg_stream_state_t state);
    /* The camera was removed (deleted, disabled, reconfigured): c is already detached and
     * the stream is going away; reason says why ("camera deleted"). May be NULL. Loop. */
    void (*on_removed)(vg_consumer_t *c, const char *reason);
    /* The instance stopped the camera's source to give its place to a camera of higher
     * priority (vg_stream_admit): c is already detached and gets nothing more, though the
     * camera stays; reason says why. NULL: on_removed is called instead. Loop. */
    void (*on_displaced)(vg_consumer_t *c, const char *reason);
    /* The stream's ladder changed (its new source has another size or rate): c was moved to
     * the tier of the same name, else the default; c->tier is its new index. May be NULL
     * for consumers that read nothing of the ladder after attaching. Loop. */
    void (*on_ladder)(vg_consumer_t *c);
    /* VG_TIER_SOURCE consumers only: the camera's next audio access unit (one raw AAC frame,
     * meta.codec VG_CODEC_AAC, meta.capture_us on the video's clock; vg_stream_audio says
     * what it is), in order, from the consumer's first video keyframe on. Audio is not kept
     * in the GOP cache: a new consumer gets none from before it attached. f is borrowed:
     * take a ref to keep it. NULL: the consumer gets no audio. Loop. */
    void (*on_audio)(vg_consumer_t *c, vg_frame_t *f);
    /* The camera's next keyframe, for a consumer that awaits it (vg_stream_await_source_key),
     * once: it is then alone in the GOP cache, so a consumer that moves to VG_TIER_SOURCE
     * here starts at it. May be NULL for consumers that never await. Loop. */
    void (*on_source_key)(vg_consumer_t *c);
} vg_consumer_ops_t;

/* Embedded by each output's viewer. ops and user are the output's; the rest is the hub's. */
struct vg_consumer {
    const vg_consumer_ops_t *ops; /* public */
    void *user;                   /* public */
    vg_stream_t *stream;          /* private: NULL when detached */
    int tier;                     /* private: 0..VG_TIER_MAX-1, or VG_TIER_SOURCE */
    bool is_waiting_key;          /* private: source consumers, until a keyframe */
    bool is_awaiting_source_key;  /* private: see vg_stream_await_source_key */
    vg_consumer_t *prev, *next;   /* private: the stream's list for this tier */
};

/* A look at a camera without starting its source (issue 13): is it there? The sources layer
 * does the I/O (src/sources/check.c); the stream decides when. */
typedef struct vg_check vg_check_t;
typedef enum vg_check_depth {
    VG_CHECK_CONNECT,  /* a TCP connect to the camera's host:port, then closed */
    VG_CHECK_PROTOCOL, /* and an RTSP OPTIONS or HTTP HEAD, reading the status line */
} vg_check_depth_t;
typedef struct vg_check_result {
    bool is_reachable;
    char reason[128]; /* "connection refused", "RTSP 401 Unauthorized", ... ("" when fine) */
} vg_check_result_t;
/* Runs once on the loop thread with the answer, unless the check was cancelled. */
typedef void (*vg_check_cb)(void *arg, const vg_check_result_t *r);

/* A producer feeds a stream: the sources layer implements it, so that media stays below
 * sources. start() launches whatever thread calls vg_stream_push_packet(); stop() tells it
 * to stop and cuts it off from the stream without waiting for it: a call into its input that
 * is in progress completes (every input call is safe after the stop: a queue hand-off, a
 * worker pointer under the input's lock, atomics), no later one reaches the stream. The
 * thread finishes on its own and is joined on the loop when its exit is posted
 * (vg_stream_post_exit). Both on the loop thread. */
/* A thread working for a stream (a source run, a media worker) is never joined where it is
 * stopped, which would block the loop for as long as the thread takes to notice (a slow
 * RTSP TEARDOWN, a read waiting for its interrupt poll). Its owner fills this in before
 * starting the thread and calls vg_stream_thread_started() after; the thread's last act is
 * vg_stream_post_exit(). The hub then calls reap() on the loop, where the join cannot wait
 * (the thread has returned), and only then lets the stream and the hub be freed: whatever
 * the thread uses stays alive until its exit is seen. */
typedef struct vg_thread_exit {
    struct vg_thread_exit *next;             /* the hub's exit list (its lock) */
    vg_stream_t *st;                         /* set before the thread starts */
    const char *log_ctx;                     /* set before the thread starts */
    /* Loop: join the thread if it has returned, without waiting, and free what it used.
     * Returns false when it has posted its exit but not returned yet (it is between the
     * post and its return): reap is then called again on the next exits pass. */
    bool (*reap)(struct vg_thread_exit *e);
    /* Optional, loop, when the hub closes and the thread has not exited within
     * VG_THREAD_STOP_WAIT_MS of being stopped: detach it if it has not posted its exit yet
     * (it then never does, and frees itself). Returns whether it was detached. */
    bool (*abandon)(struct vg_thread_exit *e);
    struct vg_thread_exit *held_next;        /* loop: the hub's threads not yet reaped */
    int64_t stopped_mono_us;                 /* loop: when it was stopped, 0: running */
    bool is_warned;                          /* loop */
} vg_thread_exit_t;

/* A stopped thread not gone after this long is reported (a read where no interrupt reaches,
 * such as a DNS lookup inside libavformat), and at shutdown is left to finish on its own. */
#define VG_THREAD_STOP_WAIT_MS 500

/* Loop thread, right after starting the thread of e (e->st, e->log_ctx and e->reap set): the
 * stream and the hub wait for its exit. */
void vg_stream_thread_started(vg_thread_exit_t *e);
/* Loop thread: the thread of e has been told to stop (for the report above). */
void vg_stream_thread_stopping(vg_thread_exit_t *e);
/* The thread's last act (it must not touch what reap() frees afterwards). Any thread. */
void vg_stream_post_exit(vg_thread_exit_t *e);

typedef struct vg_producer_ops {
    const char *name;
    int (*start)(void *ctx, vg_stream_input_t *in);
    void (*stop)(void *ctx);
    void (*free)(void *ctx);
    /* Optional (NULL: cannot be checked): starts a non-blocking check of the camera, bounded
     * by timeout_ms. Returns the check, or NULL when this source has nothing to check (a
     * file, the test pattern). Loop thread; cb runs on the loop. */
    vg_check_t *(*check)(void *ctx, uv_loop_t *loop, vg_check_depth_t depth, int timeout_ms,
                         vg_check_cb cb, void *arg);
    /* Cancels a check from check(): its callback will not run. Loop thread. */
    void (*cancel_check)(vg_check_t *c);
} vg_producer_ops_t;

/* Tiers whose size class is at most this many lines come from the substream when a camera
 * has one (low and medium). */
#define VG_SUBSTREAM_MAX_CLASS 480

typedef struct vg_stream_cfg {
    const char *id, *name;
    const char *url_redacted;   /* shown to operators; never holds credentials */
    const char *default_tier;   /* NULL: the ladder's default */
    int idle_timeout_ms;        /* stop the source this long after the last consumer */
    int stall_timeout_ms;       /* restart a live source silent this long (0: 5000) */
    bool is_always_on;          /* run the source with or without consumers */
    int priority;               /* under a source cap, higher runs first (vg_stream_admit) */
    int width, height, fps;     /* the camera's picture, when known in advance */
    const vg_producer_ops_t *producer; /* NULL: the stream is failed with config_error */
    void *producer_ctx;         /* taken: freed with producer->free */
    const char *config_error;   /* why there is no producer, e.g. "unsupported URL scheme" */
    const vg_tier_t *tiers;     /* the ladder (copied); NULL/0: the default for the size */
    int tier_count;
    const vg_producer_ops_t *fallback; /* snapshot poller, or NULL */
    void *fallback_ctx;         /* taken */
    const vg_producer_ops_t *sub; /* the camera's substream, or NULL: feeds the tiers of
                                     class VG_SUBSTREAM_MAX_CLASS and below */
    void *sub_ctx;              /* taken */
    const char *sub_url_redacted;
} vg_stream_cfg_t;

/* The longest AudioSpecificConfig kept: AAC-LC needs 2 bytes, HE-AAC v2 with explicit
 * signalling a handful; anything longer is not an AAC a camera sends. */
#define VG_AUDIO_CONFIG_MAX 64

/* The camera's audio that the packet lane passes on (only AAC: other codecs are left out by
 * the source, with a log line). */
typedef struct vg_stream_audio {
    vg_codec_t codec;         /* VG_CODEC_AAC, or VG_CODEC_NONE: no audio */
    int sample_rate;          /* Hz, as the AudioSpecificConfig says (the RTP clock rate) */
    int channels;
    uint8_t config[VG_AUDIO_CONFIG_MAX]; /* AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) */
    size_t config_len;
} vg_stream_audio_t;

/* What a source learned about its video (source thread, before its first packet). */
typedef struct vg_stream_info {
    int codec_id; /* an AVCodecID */
    int width, height;
    const uint8_t *extradata; /* codec set-up (H.264 SPS/PPS from the SDP), copied */
    size_t extradata_len;
    bool has_reordering; /* B-frames: the decoder must be allowed to delay pictures */
    vg_stream_audio_t audio; /* codec VG_CODEC_NONE: the source passes on no audio */
} vg_stream_info_t;

/* A snapshot of a stream's health for the API (loop thread). */
typedef struct vg_stream_status {
    vg_stream_state_t state;
    const char *reason;     /* why it is not live ("" when live or idle) */
    int64_t since_us;       /* wall clock: when it entered this state */
    unsigned attempts;      /* failed attempts since the last good minute */
    int codec_id;           /* AVCodecID, 0 when unknown */
    int width, height;      /* of the source (as decoded when it says nothing), 0: unknown */
    double input_fps;       /* packets per second over the last second */
    double known_fps;       /* the last rate measured while live (0: never live) */
    double input_kbps;
    int viewers;
    const char *url;        /* redacted */
    const char *sub_url;    /* redacted; NULL: no substream */
    const char *sub_state;  /* "off" (not needed yet), "running" or "failed" */
    const char *sub_reason; /* why it failed, or "" */
    uint64_t sub_packets;   /* packets from the substream */
    /* The last look at the camera (issue 13): the idle check (RTSP OPTIONS / HTTP HEAD every
     * health interval), a probe between attempts, or the source itself. */
    bool has_health;        /* false until the first look: the API shows nulls */
    bool is_reachable;
    const char *health_reason; /* "" when fine */
    int64_t health_checked_us; /* wall clock */
} vg_stream_status_t;

/* Encode-time histogram: bucket b counts encodes taking at most
 * vg_encode_hist_bounds_us[b] (the last bucket: longer). */
#define VG_ENCODE_HIST_BUCKETS 8
extern const int64_t vg_encode_hist_bounds_us[VG_ENCODE_HIST_BUCKETS - 1];

typedef struct vg_stream_tier_stats {
    uint64_t encoded;             /* pictures encoded since the server started */
    uint64_t encode_us, scale_us; /* time spent, totals */
    uint64_t bytes;               /* JPEG bytes produced */
    uint64_t encode_hist[VG_ENCODE_HIST_BUCKETS];
    double fps, kbps;             /* over the last second (0 when stopped) */
    int viewers;                  /* consumers attached to this tier */
    bool is_active;               /* being encoded: some consumer wants it */
} vg_stream_tier_stats_t;

/* Counters for statistics and metrics (totals since the server started). Loop thread. */
typedef struct vg_stream_stats {
    uint64_t packets_in, bytes_in;
    uint64_t packets_damaged;     /* of packets_in: parts lost on the way (passed on) */
    uint64_t frames_decoded, decode_us; /* main stream and substream */
    uint64_t sub_frames_decoded;        /* of which from the substream */
    uint64_t packets_dropped; /* the decoder fell behind and skipped to a keyframe */
    uint64_t reconnects;      /* source restarts after a failure or stall */
    /* the packet lane */
    size_t gop_bytes, gop_count;  /* the GOP cache: from the last keyframe */
    size_t history_bytes;         /* everything held (GOP cache included) */
    int64_t history_oldest_us;    /* capture time of the oldest held, 0: none */
    uint64_t lane_gaps;           /* access units lost before the loop: waited for a key */
    uint64_t audio_packets_in, audio_bytes_in; /* AAC frames from the camera (not in the
                                                  video's packets_in, bytes_in) */
    uint64_t audio_dropped;       /* AAC frames that found the loop's queue full */
    int source_viewers;
    int tier_count;
    vg_stream_tier_stats_t tier[VG_TIER_MAX];
} vg_stream_stats_t;

vg_hub_t *vg_hub_new(uv_loop_t *loop);
/* How often cameras nobody watches are checked (RTSP OPTIONS, HTTP HEAD); 0: never. The
 * default is 60 s. Loop thread. */
void vg_hub_set_health_interval(vg_hub_t *hub, int interval_ms);
/* Stops every stream (joining their threads) and closes the hub's handles; the hub frees
 * itself once the loop has run their close callbacks. Sets *hp to NULL. */
void vg_hub_close(vg_hub_t **hp);

/* Adds a stream; copies cfg. Returns 0 and *out (borrowed, lives as long as the hub), or
 * VG_EINVAL (duplicate id, bad default tier: logged). */
int vg_hub_add_stream(vg_hub_t *hub, const vg_stream_cfg_t *cfg, vg_stream_t **out);
vg_stream_t *vg_hub_find(vg_hub_t *hub, const char *id);

/* Removes st from the hub: every consumer is detached and told why (on_removed), the
 * source and worker are stopped, and st is freed once its handles have closed. st is not to
 * be used after this. */
void vg_hub_remove_stream(vg_hub_t *hub, vg_stream_t *st, const char *reason);

/* Applies a new configuration to a running stream without dropping its consumers: name,
 * timeouts and always-on at once; with replace_sources, the producer, fallback and
 * substream of cfg are taken (the old ones stopped and freed) and the stream restarts on
 * them — a changed URL or credential — and a new ladder is taken too (consumers are moved
 * to the tier of the same name and told, see on_ladder). Returns 0, or VG_EBUSY when the
 * ladder changed without replace_sources (nothing is taken then: the caller replaces). */
int vg_stream_reconfigure(vg_stream_t *st, const vg_stream_cfg_t *cfg, bool replace_sources);
size_t vg_hub_count(const vg_hub_t *hub);
vg_stream_t *vg_hub_at(vg_hub_t *hub, size_t i);

const char *vg_stream_id(const vg_stream_t *st);
const char *vg_stream_name(const vg_stream_t *st);
vg_stream_state_t vg_stream_state(const vg_stream_t *st);
const char *vg_stream_state_name(vg_stream_state_t state);
/* Why st can never run as configured (its URL or ladder was refused: nothing to dial until
 * the configuration changes), or NULL when it has a source. */
const char *vg_stream_config_error(const vg_stream_t *st);
/* The camera's size and rate: as configured, else as measured once known, else 0. */
void vg_stream_size(const vg_stream_t *st, int *width, int *height, int *fps);
/* The ladder, each tier's size resolved once the picture's is known (tiers of a camera whose
 * size is not configured read 0x0 until then): *out is borrowed, valid as long as the stream
 * (its sizes may change on the loop). Returns the tier count. */
int vg_stream_tiers(const vg_stream_t *st, const vg_tier_t **out);
int vg_stream_default_tier(const vg_stream_t *st);

void vg_stream_get_status(const vg_stream_t *st, vg_stream_status_t *out);
void vg_stream_get_stats(const vg_stream_t *st, vg_stream_stats_t *out);
/* Starts st if it is always-on and idle (after the server is up). */
void vg_stream_start_always_on(vg_stream_t *st);

/* Admission (issue 18): the most camera sources the hub runs at once; 0 (the default): no
 * cap. Always-on cameras count and are never stopped for another. Loop thread. */
void vg_hub_set_max_sources(vg_hub_t *hub, int max);
typedef struct vg_hub_admission {
    int max_sources;     /* 0: no cap */
    int sources_running; /* cameras holding a place: not idle */
    uint64_t refused;    /* consumers refused for want of a place */
    uint64_t displaced;  /* watched cameras stopped for one of higher priority */
    int max_decoding;    /* 0: no cap */
    int decoding;        /* cameras with a consumer of a JPEG tier */
    uint64_t refused_decoding, displaced_decoding;
} vg_hub_admission_t;
void vg_hub_admission(const vg_hub_t *hub, vg_hub_admission_t *out);
/* Before attaching a consumer to st: 0 when st holds a place already or may take one. A
 * place may be made by stopping a source that lingers with no consumer, or else the
 * lowest-priority, least-watched camera below st's priority, whose consumers are detached
 * and told why (on_displaced) — media/admit.h says who goes. VG_EBUSY when there is no
 * place for st (counted; why gets the reason for the viewer). Loop thread. */
int vg_stream_admit(vg_stream_t *st, char *why, size_t why_len);
/* The same for decoding: the most cameras whose video the hub decodes at once, for the JPEG
 * tiers of their consumers (0, the default: no cap; `source` consumers need none). */
void vg_hub_set_max_decoding(vg_hub_t *hub, int max);
/* Before attaching a consumer of a JPEG tier to st: 0 when st is decoded already or may be;
 * else the camera of lowest priority below st's (the fewest JPEG consumers of those) loses
 * its JPEG consumers, told why (on_displaced; its `source` consumers stay), or VG_EBUSY with
 * the reason (counted). Loop thread. */
int vg_stream_admit_decoding(vg_stream_t *st, char *why, size_t why_len);
/* Whether a consumer of st may move to a JPEG tier without displacing anyone (an adaptive
 * viewer stepping down from `source`). Loop thread. */
bool vg_stream_may_decode(const vg_stream_t *st);

/* Attaches c (ops/user set by the caller) to st at tier; starts the source if it is idle.
 * If the tier has a recent picture, c->ops->on_frame runs before this returns. */
void vg_stream_attach(vg_stream_t *st, vg_consumer_t *c, int tier);
/* Moves c to another tier of its stream. A move to VG_TIER_SOURCE hands c the GOP cache at
 * once (up to a GOP of the camera's video in one burst). */
void vg_stream_set_tier(vg_consumer_t *c, int tier);
/* c, on a tier of its own, hears of the camera's next keyframe (ops->on_source_key) and may
 * move to VG_TIER_SOURCE then, with nothing before it to send: a viewer that already shows a
 * picture switches without the GOP cache's burst (725 KB, 3 s on a 2 Mbit/s link). Ends
 * with that call, with false, or with any move of c. */
void vg_stream_await_source_key(vg_consumer_t *c, bool is_awaiting);
static inline bool vg_stream_is_awaiting_source_key(const vg_consumer_t *c)
{
    return c->is_awaiting_source_key;
}
/* Detaches c; no-op when not attached. Never calls c's callbacks. */
void vg_stream_detach(vg_consumer_t *c);

/* What tier t costs a viewer, in kbit/s at the tier's rate: measured while it is encoded,
 * else estimated from a measured tier by pixels and quality, else 0 (unknown). For
 * VG_TIER_SOURCE the camera's input bitrate; for VG_TIER_SOURCE_KEYS its last two keyframes'
 * mean size at its keyframe rate. */
double vg_stream_tier_kbps(const vg_stream_t *st, int t);

/* The largest frame tier t sends, in bytes: the larger of its last two keyframes for
 * `source` and the H.264 tiers, a JPEG tier's mean frame; 0 while unknown. Loop. */
uint32_t vg_stream_tier_burst_bytes(const vg_stream_t *st, int t);

/* Tier t's frame rate: its own, at most the camera's (VG_TIER_SOURCE: the camera's;
 * VG_TIER_SOURCE_KEYS: its keyframes', as they arrive; 0 while unknown). */
double vg_stream_tier_fps(const vg_stream_t *st, int t);

/* The ladder as shown to clients and the API: vg_tier_ladder_json's fields plus each tier's
 * "kbps" (vg_stream_tier_kbps, rounded; 0 while unknown). New reference. */
json_t *vg_stream_ladder_json(const vg_stream_t *st);

/* The name of tier t of st ("source" for VG_TIER_SOURCE, "source-keys" for
 * VG_TIER_SOURCE_KEYS). */
const char *vg_stream_tier_name(const vg_stream_t *st, int t);
/* Whether tier t is one of the ladder's H.264 tiers: its consumers get access units (the
 * first a keyframe, then none skipped unless the consumer skips itself), as for `source`. */
bool vg_stream_tier_is_h264(const vg_stream_t *st, int t);
/* H.264 tier t's consumers need a keyframe (one joined, or one lost access units): the next
 * picture of the tier is encoded as one. Nothing for other tiers. Loop. */
void vg_stream_request_key(vg_stream_t *st, int t);
/* H.264 tier t's WebCodecs codec string ("avc1.42c00d"), "" before its first keyframe or
 * for other tiers. Loop. */
const char *vg_stream_tier_codec_string(const vg_stream_t *st, int t);
/* Whether this build's FFmpeg has the encoder the H.264 tiers need (H.264 tiers are not
 * offered to adaptive viewers without it). Loop. */
bool vg_stream_can_encode_h264(const vg_stream_t *st);

/* The camera's own video as the packet lane knows it (loop thread). */
typedef struct vg_stream_codec {
    vg_codec_t codec;          /* VG_CODEC_NONE until the first packet */
    bool is_passthrough;       /* H.264/H.265 with complete parameter sets: `source` works */
    const char *codec_string;  /* WebCodecs ("avc1.64001f"), "" when not passthrough */
    const uint8_t *description; /* avcC/hvcC, borrowed */
    size_t description_len;
    int width, height;
    double fps, kbps;          /* input over the last second */
} vg_stream_codec_t;
void vg_stream_codec(const vg_stream_t *st, vg_stream_codec_t *out);

/* The camera's audio as its source described it (copied into *out). Returns 0, or VG_ENOENT
 * when the current source passes on no audio (out->codec is then VG_CODEC_NONE). Known before
 * the first access unit of a run reaches the loop, so a consumer that sets up a container on
 * its first keyframe can include the audio. Loop thread. */
int vg_stream_audio(const vg_stream_t *st, vg_stream_audio_t *out);

/* The access units to decode for the picture captured nearest at_us, from the packet lane's
 * history: *aus (malloc'd, each a reference: the caller unrefs them and frees the array) holds
 * *n access units from a keyframe to that picture. Returns 0; VG_ENOENT when at_us is before
 * the oldest held (*oldest_us says which, 0 when nothing is held); VG_EAGAIN when at_us is
 * after the newest (wait for it). Loop thread. */
int vg_stream_history(const vg_stream_t *st, int64_t at_us, vg_frame_t ***aus, size_t *n,
                      int64_t *oldest_us);

/* Source thread: describe the video before the first packet. */
void vg_stream_set_info(vg_stream_input_t *in, const vg_stream_info_t *info);
/* Source thread: hand over one compressed packet (takes pkt). Never blocks. */
void vg_stream_push_packet(vg_stream_input_t *in, vg_frame_t *pkt);
/* Source thread: access units were lost before this point (a camera's packets that never
 * came): the packet lane makes its viewers wait for the next keyframe. */
void vg_stream_input_lost(vg_stream_input_t *in);
/* Source thread: the source stopped on its own (status < 0: failure). */
void vg_stream_source_ended(vg_stream_input_t *in, int status);
/* Loop thread: the producer of in knows a new attempt would now succeed (a relayed camera's
 * lease changed hands, fleet/lease.c): a stream waiting to retry its main source tries at
 * once, as if new, instead of at the end of its backoff. Otherwise nothing. */
void vg_stream_input_kick(vg_stream_input_t *in);
/* The stream an input feeds (for vg_thread_exit_t.st). Any thread. */
vg_stream_t *vg_stream_input_stream(const vg_stream_input_t *in);

#endif
