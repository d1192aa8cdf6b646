/* looplag: how long the event loop stalls, measured as the lateness of a timer.
 *
 * A one-shot timer fires every VG_LOOPLAG_INTERVAL_MS; how late each firing is, against the
 * time it was armed for, is how long the loop was busy elsewhere (or the process was not
 * scheduled). The probe keeps the worst lateness over a sliding window of about
 * VG_LOOPLAG_WINDOW_S, the worst since it started, the mean, the sample count and a
 * histogram. The arithmetic is the accumulator below, pure (time is an argument) so that
 * its tests run without a clock; the probe is its thin libuv shell. Loop thread only.
 */
#ifndef VG_CORE_LOOPLAG_H
#define VG_CORE_LOOPLAG_H

#include <stdint.h>

#include <uv.h>

#define VG_LOOPLAG_INTERVAL_MS 2
#define VG_LOOPLAG_WINDOW_S 10
/* The window is kept as one maximum per whole second: the window's maximum covers the
 * current (partial) second and the VG_LOOPLAG_WINDOW_S before it, so never less than the
 * last VG_LOOPLAG_WINDOW_S seconds and at most one second more. */
#define VG_LOOPLAG_SLOTS (VG_LOOPLAG_WINDOW_S + 1)
#define VG_LOOPLAG_BUCKETS 10

/* Upper bounds of the histogram's buckets but the last (+Inf), in µs. */
extern const int64_t vg_looplag_bounds_us[VG_LOOPLAG_BUCKETS - 1];

/* The accumulator: caller-provided storage, zero it (or vg_looplag_acc_init) before use.
 * Every field is private to the functions below. */
typedef struct vg_looplag_acc {
    int64_t slot_sec[VG_LOOPLAG_SLOTS];    /* which second slot i holds; -1: none */
    int64_t slot_max_us[VG_LOOPLAG_SLOTS]; /* the worst lateness seen in that second */
    int64_t max_us;                        /* the worst since init */
    int64_t sum_us;
    uint64_t samples;
    uint64_t buckets[VG_LOOPLAG_BUCKETS];  /* not cumulative: each counts its own range */
} vg_looplag_acc_t;

typedef struct vg_looplag_stats {
    int64_t max_window_us; /* the worst over the window ending at the time read */
    int64_t max_us;        /* the worst since the start */
    int64_t mean_us;       /* 0 before the first sample */
    int64_t sum_us;
    uint64_t samples;
    uint64_t buckets[VG_LOOPLAG_BUCKETS]; /* per bucket, not cumulative */
} vg_looplag_stats_t;

void vg_looplag_acc_init(vg_looplag_acc_t *a);
/* Which histogram bucket lag_us falls into (bounds are inclusive: le). */
int vg_looplag_bucket(int64_t lag_us);
/* Records one firing lag_us late (negative counts as 0) at time now_us (any monotonic µs,
 * not decreasing from one call to the next). */
void vg_looplag_acc_add(vg_looplag_acc_t *a, int64_t now_us, int64_t lag_us);
/* The figures as of now_us (>= the last add's). */
void vg_looplag_acc_read(const vg_looplag_acc_t *a, int64_t now_us, vg_looplag_stats_t *out);

typedef struct vg_looplag vg_looplag_t;

/* Starts a probe on loop (its timer keeps the loop alive until vg_looplag_close). Returns
 * 0 or < 0 (*out NULL). Loop thread. */
int vg_looplag_open(vg_looplag_t **out, uv_loop_t *loop);
/* Stops the probe and sets *lp to NULL; it is freed once its timer has closed (the loop
 * must run again). NULL is fine. Loop thread. */
void vg_looplag_close(vg_looplag_t **lp);
/* The probe's figures now. lp NULL: all zero. Loop thread. */
void vg_looplag_read(const vg_looplag_t *lp, vg_looplag_stats_t *out);

#endif
