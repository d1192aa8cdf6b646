/* hls_cut: where the LL-HLS muxer (hls.c) cuts the camera's access units into parts and
 * segments — a pure function of the part being built and the access unit that arrives, so
 * that the rules are unit-tested without a camera or a clock (tests/unit/test_hls_cut.c).
 *
 * A part ends where the next frame would take it past the part target (the spec wants every
 * part at most PART-TARGET), at every keyframe (so a part that starts with one is
 * INDEPENDENT), and where the parameter sets change (a new init segment). A segment ends at
 * a keyframe once it is a second long — one segment per GOP on most cameras — or, for a
 * camera with long GOPs, at a part boundary once it reaches the cap. */
#ifndef VG_OUTPUTS_HLS_CUT_H
#define VG_OUTPUTS_HLS_CUT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vg_hls_cut_cfg {
    int64_t part_target_us;  /* 200000 */
    int64_t segment_min_us;  /* 1000000 */
    int64_t segment_cap_us;  /* 2000000 */
    int max_part_aus;        /* access units a part may hold */
} vg_hls_cut_cfg_t;

typedef struct vg_hls_cut_state {
    int n_pending;        /* access units in the part being built */
    int64_t pending_us;   /* its duration, the last one's included (known: this AU came) */
    int64_t segment_us;   /* the open segment's duration, without the pending part */
    int64_t frame_us;     /* the last frame interval: what the next frame will likely add */
} vg_hls_cut_state_t;

typedef struct vg_hls_cut {
    bool is_part_end;    /* the pending access units become a part before this one */
    bool is_segment_end; /* ... and the segment closes after that part */
} vg_hls_cut_t;

/* What to do before appending an access unit (is_key: a keyframe; is_new_params: its
 * parameter sets differ from the init segment's). */
static inline vg_hls_cut_t vg_hls_cut_decide(const vg_hls_cut_cfg_t *cfg,
                                             const vg_hls_cut_state_t *s, bool is_key,
                                             bool is_new_params)
{
    vg_hls_cut_t d = {false, false};
    if (s->n_pending == 0)
        return d;
    int64_t segment = s->segment_us + s->pending_us;
    bool is_cap = segment >= cfg->segment_cap_us;
    bool is_full = s->pending_us + s->frame_us > cfg->part_target_us ||
                   s->n_pending >= cfg->max_part_aus;
    d.is_part_end = is_key || is_full || is_cap || is_new_params;
    /* Half a frame of slack: a 1 s GOP of 30 frames of 33,333 µs is 999,990 µs long. */
    d.is_segment_end = (is_key && segment + s->frame_us / 2 >= cfg->segment_min_us) || is_cap;
    return d;
}

#endif
