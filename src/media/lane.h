/* lane: a stream's packet lane on the loop — the camera's own access units, kept so that a
 * new viewer starts at a keyframe at once and a snapshot can be taken from the recent past.
 *
 *   history:  [ GOP ][ GOP ][ GOP ][ current GOP ... newest ]
 *              oldest                ^ gop_start (the last keyframe)
 *
 * The lane holds references to frames (never copies): the GOP cache is the part from the
 * last keyframe on, the history the whole GOPs before it. Whole GOPs leave from the front
 * while the history is longer than history_us or larger than max_bytes; a GOP that alone
 * outgrows the bounds (a camera that never sends a keyframe) is dropped and the lane waits
 * for the next keyframe. A gap (access units lost before they reached the loop) does the
 * same: nothing after it decodes until a keyframe. Loop thread only; pure data structure,
 * no clock of its own (times come from the frames' capture_us).
 */
#ifndef VG_MEDIA_LANE_H
#define VG_MEDIA_LANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

typedef struct vg_lane vg_lane_t;

typedef struct vg_lane_cfg {
    int64_t history_us; /* keep whole GOPs this far back (0: only the current GOP) */
    size_t max_bytes;   /* all access units held, at most */
} vg_lane_cfg_t;

#define VG_LANE_DEFAULT_HISTORY_US (10 * 1000000LL)
#define VG_LANE_DEFAULT_MAX_BYTES ((size_t)64 << 20)

typedef struct vg_lane_stats {
    size_t count, bytes;         /* everything held */
    size_t gop_count, gop_bytes; /* from the last keyframe on (0 while waiting for one) */
    int64_t oldest_us, newest_us; /* capture_us of the first and last held (0: empty) */
    uint64_t gaps;               /* times the lane had to wait for a keyframe */
} vg_lane_stats_t;

vg_lane_t *vg_lane_new(const vg_lane_cfg_t *cfg);
void vg_lane_free(vg_lane_t **lp);

/* Appends f (takes a reference). Returns true when f is kept: a keyframe, or an access unit
 * that continues a GOP; false when the lane waits for a keyframe (f is not kept then). */
bool vg_lane_push(vg_lane_t *l, vg_frame_t *f);
/* Access units were lost: the current GOP is dropped and the lane waits for a keyframe. */
void vg_lane_gap(vg_lane_t *l);
/* Drops everything (the source stopped). */
void vg_lane_clear(vg_lane_t *l);

/* The GOP cache: access units from the last keyframe on, oldest first. Returns how many;
 * vg_lane_gop_at(l, i) for i in [0, n) is borrowed until the next push, gap or clear. */
size_t vg_lane_gop_count(const vg_lane_t *l);
vg_frame_t *vg_lane_gop_at(const vg_lane_t *l, size_t i);

/* The held access unit whose capture_us is nearest at_us, and the keyframe it decodes from:
 * *key_index .. *index (indices for vg_lane_at). Returns 0, or VG_ENOENT when nothing is held
 * or at_us is before the oldest (*oldest_us says which is the oldest), VG_EAGAIN when at_us is
 * after the newest by more than half a frame interval (wait for it). */
int vg_lane_find(const vg_lane_t *l, int64_t at_us, size_t *key_index, size_t *index,
                 int64_t *oldest_us);
/* Access unit i of all held (0: the oldest), borrowed as for vg_lane_gop_at. */
vg_frame_t *vg_lane_at(const vg_lane_t *l, size_t i);

void vg_lane_get_stats(const vg_lane_t *l, vg_lane_stats_t *out);

#endif
