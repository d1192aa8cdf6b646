/* looplag: the loop-stall probe (see looplag.h).
 *
 * The timer is one-shot and re-armed from its own callback, VG_LOOPLAG_INTERVAL_MS ahead, so
 * the probe knows each firing's due time on its own clock (a repeating timer's is libuv's,
 * in whole milliseconds). Lateness is measured with uv_hrtime (ns), not the loop's
 * millisecond clock: a 1 ms clock cannot tell 0.1 ms from 0.9 ms. Timers run first in
 * each loop iteration, right after libuv refreshed its clock, so a callback that hogs the
 * loop anywhere (I/O, asyncs, close callbacks, other timers) delays this one by as much.
 * libuv's timers have millisecond resolution, so an idle loop still reads up to about 1 ms.
 *
 * Threads: the loop thread only.
 */
#include "core/looplag.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

const int64_t vg_looplag_bounds_us[VG_LOOPLAG_BUCKETS - 1] = {
    250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
};

#define US_PER_S 1000000LL

void vg_looplag_acc_init(vg_looplag_acc_t *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < VG_LOOPLAG_SLOTS; i++)
        a->slot_sec[i] = -1;
}

int vg_looplag_bucket(int64_t lag_us)
{
    int b = 0;
    while (b < VG_LOOPLAG_BUCKETS - 1 && lag_us > vg_looplag_bounds_us[b])
        b++;
    return b;
}

static int64_t second_of(int64_t now_us)
{
    return now_us < 0 ? 0 : now_us / US_PER_S;
}

void vg_looplag_acc_add(vg_looplag_acc_t *a, int64_t now_us, int64_t lag_us)
{
    if (lag_us < 0)
        lag_us = 0; /* armed on a millisecond clock, a timer may fire a little early */
    int64_t sec = second_of(now_us);
    int i = (int)(sec % VG_LOOPLAG_SLOTS);
    if (a->slot_sec[i] != sec) { /* a new second reuses the slot of one out of the window */
        a->slot_sec[i] = sec;
        a->slot_max_us[i] = 0;
    }
    if (lag_us > a->slot_max_us[i])
        a->slot_max_us[i] = lag_us;
    if (lag_us > a->max_us)
        a->max_us = lag_us;
    a->sum_us += lag_us;
    a->samples++;
    a->buckets[vg_looplag_bucket(lag_us)]++;
}

void vg_looplag_acc_read(const vg_looplag_acc_t *a, int64_t now_us, vg_looplag_stats_t *out)
{
    int64_t sec = second_of(now_us);
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < VG_LOOPLAG_SLOTS; i++) {
        int64_t s = a->slot_sec[i];
        if (s >= 0 && s <= sec && sec - s <= VG_LOOPLAG_WINDOW_S &&
            a->slot_max_us[i] > out->max_window_us)
            out->max_window_us = a->slot_max_us[i];
    }
    out->max_us = a->max_us;
    out->sum_us = a->sum_us;
    out->samples = a->samples;
    out->mean_us = a->samples ? a->sum_us / (int64_t)a->samples : 0;
    memcpy(out->buckets, a->buckets, sizeof(out->buckets));
}

struct vg_looplag {
    uv_timer_t timer;
    int64_t due_us; /* uv_hrtime µs the timer is armed for */
    vg_looplag_acc_t acc;
};

static int64_t hr_us(void)
{
    return (int64_t)(uv_hrtime() / 1000);
}

static void on_tick(uv_timer_t *t)
{
    vg_looplag_t *lp = t->data;
    int64_t now = hr_us();
    vg_looplag_acc_add(&lp->acc, now, now - lp->due_us);
    lp->due_us = now + VG_LOOPLAG_INTERVAL_MS * 1000;
    uv_timer_start(&lp->timer, on_tick, VG_LOOPLAG_INTERVAL_MS, 0);
}

int vg_looplag_open(vg_looplag_t **out, uv_loop_t *loop)
{
    *out = NULL;
    vg_looplag_t *lp = vg_xcalloc(1, sizeof(*lp));
    vg_looplag_acc_init(&lp->acc);
    int rc = uv_timer_init(loop, &lp->timer);
    if (rc < 0) {
        free(lp);
        return rc;
    }
    lp->timer.data = lp;
    lp->due_us = hr_us() + VG_LOOPLAG_INTERVAL_MS * 1000;
    uv_timer_start(&lp->timer, on_tick, VG_LOOPLAG_INTERVAL_MS, 0);
    *out = lp;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void vg_looplag_close(vg_looplag_t **lp)
{
    if (*lp == NULL)
        return;
    uv_close((uv_handle_t *)&(*lp)->timer, on_closed);
    *lp = NULL;
}

void vg_looplag_read(const vg_looplag_t *lp, vg_looplag_stats_t *out)
{
    if (lp == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    vg_looplag_acc_read(&lp->acc, hr_us(), out);
}
