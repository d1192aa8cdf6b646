/* lane: see lane.h. A ring of frame references that grows by doubling (a 10 s history of a
 * 30 fps camera is 300 entries); the first held is always a keyframe, so anything held
 * decodes from the nearest keyframe before it. */
#include "media/lane.h"

#include <stdlib.h>

#include "core/err.h"
#include "core/util.h"

struct vg_lane {
    vg_lane_cfg_t cfg;
    vg_frame_t **ring;
    size_t cap, head, count; /* ring[(head + i) % cap], i in [0, count) */
    size_t bytes;
    size_t gop_start; /* index (from head) of the last keyframe; valid when count > 0 */
    size_t gop_bytes;
    bool is_waiting_key;
    uint64_t gaps;
};

vg_lane_t *vg_lane_new(const vg_lane_cfg_t *cfg)
{
    vg_lane_t *l = vg_xcalloc(1, sizeof(*l));
    l->cfg = *cfg;
    l->cap = 64;
    l->ring = vg_xcalloc(l->cap, sizeof(*l->ring));
    l->is_waiting_key = true;
    return l;
}

void vg_lane_free(vg_lane_t **lp)
{
    vg_lane_t *l = *lp;
    if (l == NULL)
        return;
    vg_lane_clear(l);
    free(l->ring);
    free(l);
    *lp = NULL;
}

vg_frame_t *vg_lane_at(const vg_lane_t *l, size_t i)
{
    return i < l->count ? l->ring[(l->head + i) % l->cap] : NULL;
}

static void drop_front(vg_lane_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vg_frame_t **slot = &l->ring[l->head];
        l->bytes -= (*slot)->len;
        vg_frame_unref(slot);
        l->head = (l->head + 1) % l->cap;
        l->count--;
    }
    l->gop_start -= n;
}

void vg_lane_clear(vg_lane_t *l)
{
    l->gop_start = l->count;
    drop_front(l, l->count);
    l->head = 0;
    l->gop_start = 0;
    l->gop_bytes = 0;
    l->is_waiting_key = true;
}

void vg_lane_gap(vg_lane_t *l)
{
    if (!l->is_waiting_key)
        l->gaps++;
    /* The history before the current GOP still decodes; the current GOP has a hole. */
    size_t keep = l->gop_start;
    while (l->count > keep) {
        size_t last = (l->head + l->count - 1) % l->cap;
        l->bytes -= l->ring[last]->len;
        vg_frame_unref(&l->ring[last]);
        l->count--;
    }
    l->gop_start = l->count;
    l->gop_bytes = 0;
    l->is_waiting_key = true;
}

static void grow(vg_lane_t *l)
{
    size_t cap = l->cap * 2;
    vg_frame_t **ring = vg_xcalloc(cap, sizeof(*ring));
    for (size_t i = 0; i < l->count; i++)
        ring[i] = l->ring[(l->head + i) % l->cap];
    free(l->ring);
    l->ring = ring;
    l->cap = cap;
    l->head = 0;
}

/* The index (from head) of the first keyframe after the oldest one, or count. */
static size_t next_gop(const vg_lane_t *l)
{
    for (size_t i = 1; i < l->count; i++) {
        if (vg_lane_at(l, i)->meta.is_key)
            return i;
    }
    return l->count;
}

/* Whole GOPs leave from the front while what remains still covers the history, or while
 * the lane is over its byte bound; the current GOP never leaves this way. */
static void trim(vg_lane_t *l)
{
    int64_t newest = vg_lane_at(l, l->count - 1)->meta.capture_us;
    while (l->gop_start > 0) {
        size_t next = next_gop(l);
        if (next > l->gop_start)
            next = l->gop_start;
        bool is_over_bytes = l->bytes > l->cfg.max_bytes;
        bool is_old = newest - vg_lane_at(l, next)->meta.capture_us >= l->cfg.history_us;
        if (!is_over_bytes && !is_old)
            break;
        drop_front(l, next);
    }
}

bool vg_lane_push(vg_lane_t *l, vg_frame_t *f)
{
    if (f->meta.is_key) {
        l->is_waiting_key = false;
        l->gop_start = l->count;
        l->gop_bytes = 0;
    } else if (l->is_waiting_key) {
        return false;
    }
    if (l->count == l->cap)
        grow(l);
    l->ring[(l->head + l->count) % l->cap] = vg_frame_ref(f);
    l->count++;
    l->bytes += f->len;
    l->gop_bytes += f->len;
    trim(l);
    if (l->gop_bytes > l->cfg.max_bytes) { /* one GOP larger than everything allowed */
        vg_lane_gap(l);
        return false;
    }
    return true;
}

size_t vg_lane_gop_count(const vg_lane_t *l)
{
    return l->is_waiting_key ? 0 : l->count - l->gop_start;
}

vg_frame_t *vg_lane_gop_at(const vg_lane_t *l, size_t i)
{
    return vg_lane_at(l, l->gop_start + i);
}

int vg_lane_find(const vg_lane_t *l, int64_t at_us, size_t *key_index, size_t *index,
                 int64_t *oldest_us)
{
    *oldest_us = l->count ? vg_lane_at(l, 0)->meta.capture_us : 0;
    if (l->count == 0 || at_us < *oldest_us)
        return VG_ENOENT;
    int64_t newest = vg_lane_at(l, l->count - 1)->meta.capture_us;
    int64_t half = l->count > 1 ? (newest - vg_lane_at(l, l->count - 2)->meta.capture_us) / 2
                                : 0;
    if (half < 1000)
        half = 1000;
    if (at_us > newest + half)
        return VG_EAGAIN;
    size_t best = 0;
    int64_t best_d = INT64_MAX;
    for (size_t i = 0; i < l->count; i++) {
        int64_t d = vg_lane_at(l, i)->meta.capture_us - at_us;
        if (d < 0)
            d = -d;
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    size_t key = best;
    while (key > 0 && !vg_lane_at(l, key)->meta.is_key)
        key--;
    *key_index = key;
    *index = best;
    return 0;
}

void vg_lane_get_stats(const vg_lane_t *l, vg_lane_stats_t *out)
{
    out->count = l->count;
    out->bytes = l->bytes;
    out->gop_count = vg_lane_gop_count(l);
    out->gop_bytes = out->gop_count ? l->gop_bytes : 0;
    out->oldest_us = l->count ? vg_lane_at(l, 0)->meta.capture_us : 0;
    out->newest_us = l->count ? vg_lane_at(l, l->count - 1)->meta.capture_us : 0;
    out->gaps = l->gaps;
}
