/* media_int: what stream.c and worker.c share inside the media module. */
#ifndef VG_MEDIA_INT_H
#define VG_MEDIA_INT_H

#include <stdatomic.h>

#include "core/frame.h"
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
    vg_media_counters_t *counters; /* the stream's; outlives the worker */
} vg_worker_cfg_t;

/* Starts the worker thread (decoder opened lazily on the first keyframe). 0 or < 0. Loop. */
int vg__worker_start(vg_worker_t **out, const vg_worker_cfg_t *cfg);
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
