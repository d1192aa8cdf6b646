/* media_int: what stream.c and worker.c share inside the media module. */
#ifndef VG_MEDIA_INT_H
#define VG_MEDIA_INT_H

#include <stdatomic.h>

#include "core/frame.h"
#include "core/queue.h"
#include "media/h26x.h"
#include "media/stream.h"

typedef struct vg_worker vg_worker_t;

/* Counters the worker adds to and the loop reads (relaxed atomics: each is exact, the set is
 * not a consistent snapshot, which rates and metrics do not need). */
typedef struct vg_tier_counters {
    atomic_ullong encoded, encode_us, scale_us, bytes;
    atomic_ullong encode_hist[VG_ENCODE_HIST_BUCKETS];
} vg_tier_counters_t;

typedef struct vg_media_counters {
    atomic_ullong frames_decoded, decode_us; /* both sources */
    atomic_ullong sub_frames_decoded;       /* of which from the substream */
    atomic_ullong packets_dropped; /* the worker fell behind: dropped until a keyframe */
    atomic_int pic_width, pic_height; /* the main source's last decoded picture, 0: none yet */
    vg_tier_counters_t tier[VG_TIER_MAX];
} vg_media_counters_t;

typedef struct vg_worker_cfg {
    const char *stream_id;
    vg_stream_t *stream;
    bool is_sub;               /* fed by the substream: its own codec set-up */
    vg_tier_t tiers[VG_TIER_MAX];
    int tier_count;
    unsigned gen;              /* the stream's worker generation: tags its pictures */
    atomic_uint *tiers_needed; /* bit t: some consumer wants tier t */
    atomic_uint *keys_wanted;  /* bit t: H.264 tier t's next picture is a keyframe (the
                                  worker clears it) */
    vg_media_counters_t *counters; /* the stream's; outlives the worker */
    /* Access units to decode before the first packet pushed (taken: the worker unrefs them):
     * the packet lane's GOP cache, so a worker started on a running camera has a picture at
     * once. Only the last one is encoded. */
    vg_frame_t **prime;
    size_t prime_count;
} vg_worker_cfg_t;

/* The kinds of input a stream has (vg_stream_input_t). */
typedef enum vg_input_kind {
    VG_INPUT_MAIN,     /* the camera's main stream: the packet lane, through the loop */
    VG_INPUT_SUB,      /* the substream: straight to its own worker */
    VG_INPUT_FALLBACK, /* snapshots while the video is down: straight to the main worker */
    VG_INPUT_KINDS,
} vg_input_kind_t;

/* Packets of the main input wait for the loop in a bounded queue; one that finds it full is
 * dropped and the lane waits for the next keyframe (a loop that far behind has bigger
 * problems; the queue must never grow with it). */
#define VG_INPUT_QUEUE 256

struct vg_stream_input {
    vg_stream_t *st;            /* the stream it feeds; set once */
    vg_input_kind_t kind;       /* set once */
    uv_mutex_t lock;            /* guards worker */
    struct vg_worker *worker;   /* lock: where SUB/FALLBACK packets go; NULL drops them */
    vg_queue_t *lane_queue;     /* MAIN: source thread → loop, access units and gap marks */
    /* source thread (one run at a time: a stopped run is cut off before the next starts) */
    bool has_pending_gap;       /* a packet was dropped: queue a gap mark first */
    vg_h26x_params_t params;    /* MAIN: the last parameter sets seen (SDP or in band) */
    uint8_t ps_annexb[3 * (VG_H26X_PS_MAX + 4)]; /* the same, ready to prepend */
    int ps_annexb_len;          /* 0: incomplete */
    int width, height;          /* from the SPS (0: unknown) */
    uint32_t seq;               /* access units handed over, for the wire header */
};

/* The gap mark in a lane queue. */
extern vg_frame_t vg__lane_gap_mark;

/* input.c: sets up / tears down the input of a stream. Loop thread. */
void vg__input_init(vg_stream_input_t *in, vg_stream_t *st, vg_input_kind_t kind);
void vg__input_destroy(vg_stream_input_t *in);
/* Loop thread: where SUB/FALLBACK packets go from now on. */
void vg__input_set_worker(vg_stream_input_t *in, struct vg_worker *w);
/* Source thread, MAIN: the source's description (SDP parameter sets). */
void vg__input_take_info(vg_stream_input_t *in, const vg_stream_info_t *info);
/* Source thread, MAIN: turns a packet into what the packet lane carries — for H.264/H.265 an
 * Annex B access unit in a frame with headroom, parameter sets in band on every keyframe,
 * the wire header written; other codecs as they are. Takes pkt; returns the frame. */
vg_frame_t *vg__input_normalize(vg_stream_input_t *in, vg_frame_t *pkt);

/* stream.c, for input.c (any thread): the main input saw a packet / a producer ended. */
void vg__stream_input_packet(vg_stream_t *st, vg_input_kind_t kind, size_t bytes,
                             bool is_damaged);
/* stream.c, for input.c (any thread): the main input saw an audio frame, queued or dropped
 * (the queue was full). Audio is counted apart: the video's rate, bitrate and stall time-out
 * must not move with it. */
void vg__stream_input_audio(vg_stream_t *st, size_t bytes, bool is_dropped);
void vg__stream_input_ended(vg_stream_t *st, vg_input_kind_t kind, int status);
/* stream.c, for input.c (any thread): the lane queue has something for the loop. */
void vg__stream_wake(vg_stream_t *st);
/* stream.c, for input.c: the source's description, kept for the workers. */
void vg__stream_keep_info(vg_stream_t *st, bool is_sub, const vg_stream_info_t *info);

/* Starts the worker thread (decoder opened lazily on the first keyframe). 0 or < 0. Loop. */
int vg__worker_start(vg_worker_t **out, const vg_worker_cfg_t *cfg);
/* Whether this FFmpeg has the H.264 encoder the H.264 tiers use. Any thread. */
bool vg__worker_can_encode_h264(void);
/* Source thread: queue a packet (takes pkt; dropped when the worker is behind). */
void vg__worker_push(vg_worker_t *w, vg_frame_t *pkt);
/* Tells the thread to stop and sets *wp to NULL without waiting: the thread drops what is
 * queued, posts its exit (vg_stream_post_exit) and is joined and freed on the loop. Loop. */
void vg__worker_stop(vg_worker_t **wp);

/* Worker thread: the codec set-up the source reported (extradata copied into *out, which
 * the caller frees with av_free). Returns false when the source reported nothing. */
bool vg__stream_get_info(vg_stream_t *st, bool is_sub, int *codec_id, uint8_t **extradata,
                         size_t *len, bool *has_reordering);

/* Worker thread: publish a JPEG of tier t (takes f). Latest wins. Dropped when gen is not
 * the stream's current one for that worker (the worker was stopped meanwhile). */
void vg__stream_publish(vg_stream_t *st, bool is_sub, unsigned gen, int tier, vg_frame_t *f);

#endif
