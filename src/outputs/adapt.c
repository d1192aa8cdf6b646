/* adapt: see adapt.h. */
#include "outputs/adapt.h"

#include <math.h>
#include <string.h>

/* The link's rate is the best delivery sample of the last few seconds: a max filter, as BBR
 * keeps its bottleneck estimate, since a sample limited by what we sent reads low. */
#define RATE_WINDOW_US 4000000LL
/* A sample the link limited says what the link carries; it is believed this long (a link
 * that got worse since shows it as a queue, which acts at once). */
#define CAPACITY_WINDOW_US 30000000LL
/* ... and it forbids probing past it this long. */
#define CAPACITY_TRUSTED_US 8000000LL
/* A flight the link limits queues at its bottleneck: a sample not flagged app-limited with
 * less standing RTT than this was limited by the congestion window (small after losses or
 * idle), not the link, and says nothing of what the link carries. (A 770 kbit/s rung's
 * flights stood 5-8 ms over the base of a 20 Mbit/s path under cubic: window-limited.) */
#define LINK_SAMPLE_QUEUE_MIN_MS 10.0
#define LINK_SAMPLE_QUEUE_RTT_SHARE 0.1
/* The kernel replaces its delivery-rate sample with an app-limited one only when that one
 * reads higher: a sample that stays the same this long while segments go out means every
 * flight since was app-limited and slower (a viewer on a rung far below the link). */
#define DELIVERY_STALE_US 1000000LL
/* A queue is tolerated up to this plus a quarter of the path's own round trip. */
#define QUEUE_MIN_MS 40.0
#define QUEUE_RTT_SHARE 0.25
/* A queue this deep is acted on at once, and by enough that it drains. */
#define QUEUE_DEEP_MS 250.0
/* At most this much of a frame's own time on the link is allowed on top of the bounds. */
#define BURST_MAX_MS 250.0
/* A rung fits a link only when its largest frame takes at most a round trip on it, and at
 * least this long: the frames behind a keyframe wait that long every keyframe interval, and
 * at p95 that is the viewer's delay. (The camera's keyframes, 100-180 KB every 2 s, took
 * 160 ms and more on a 5 Mbit/s, 80 ms link: p95 300-380 ms on `source`, where
 * h264-medium, 480 px, gave 64.
 * On a 200 ms path a viewer's delay is longer anyway: cubic carried about 650 kbit/s of a
 * lossy 2 Mbit/s link, where h264-tiny15's 10 KB keyframe takes 126 ms, and a viewer held
 * on that rung got p95 315 ms.) */
#define BURST_FIT_MIN_MS 100.0
/* A frame's time on the link adds to its delay, whatever the link carries: a rung fits only
 * when its mean frame takes at most half its frame interval (the link idles half the time),
 * or a third of the path's round trip (the delay the viewer has anyway), whichever is longer.
 * At 20 Mbit/s and 40 ms, medium's 49 KB frames took 20 ms each and gave p50 47-49 ms, low's
 * 26 KB 37-39 (2026-12-07); at 5 Mbit/s and 80 ms tiny's 12 KB take 19 ms, within the 27 ms
 * a third of the round trip allows. (A LAN keeps its rungs: 150 KB native frames take 12 ms at
 * 100 Mbit/s.) */
#define FRAME_WIRE_INTERVAL_SHARE 0.5
#define FRAME_WIRE_RTT_SHARE (1.0 / 3)
/* A rung is climbed to only when its frames would take at most this share of that: the
 * estimate scatters by a fifth from sample to sample. */
#define FRAME_UP_SHARE 0.8
/* A frame's time on the link shows as the queue its own burst makes at the bottleneck: its
 * segments wait from nothing to all of it there, and the smoothed RTT stands about half of it
 * over the path's (medium's 49 KB, 20 ms at 20 Mbit/s: 8-15 ms, 10.5 over eight samples; at
 * 40 Mbit/s 2-8; none on an unlimited link; low's 26 KB at 20 Mbit/s, 10 ms: 5-8; tiny's
 * 12 KB at 5 Mbit/s, 19 ms: 15, small frames reading high). The delivery-rate samples cannot
 * say it alone: a paced stream's read 18-24 Mbit/s on the first three links, about twice what
 * it sends (they can say a frame fits: see is_frame_fit). Averaged over this many samples on a
 * rung (their mean, then a moving average) before it is believed. */
#define FRAME_QUEUE_SHARE 0.5
#define FRAME_QUEUE_SAMPLES 8
#define FRAME_QUEUE_GAIN 0.125
/* The frames' queue is read over the kernel's least RTT (its first segments wait for none):
 * the windowed base holds some of it (the least of 4 Hz samples: 40-47 ms on that 40 ms
 * path). Unless the path got longer than that by this much plus a quarter. */
#define FRAME_BASE_DRIFT_MS 20.0
/* A step down for the frames' time makes the next rung's queue shrink with its frames. One
 * that loses less than this share of what it should have lost is not the frames' own but
 * another flow's: the rule is off until the path changes. One that shrank confirms the reading,
 * which from then on also holds back climbs (until then a climb goes ahead, and a rung whose
 * frames are too long is left again). */
#define FRAME_FOREIGN_SHARE 0.3
/* A rung's frames are alike when its largest is at most this times its mean. */
#define FRAME_UNIFORM_MAX 2.0
/* A queue over its bound for this long is acted on. */
#define BAD_FOR_US 500000LL
#define BAD_FOR_PROBE_US 250000LL
/* A connection's first second: see is_slow_start. */
#define SLOW_START_US 1000000LL
/* In a connection's first round trips its window, not the link, bounds what is acknowledged
 * and sampled: a step down then reads a guess, not the link's capacity. (1 s into a 1 Mbit/s,
 * 400 ms path, 2.5 round trips, a JPEG viewer read 220-270 kbit/s while its frames were
 * replaced locally; as the link's capacity that held it on micro5, 5 fps, for 20 s where
 * micro10 fits, 2026-12-07. On a 40 ms path 1 s is 25 round trips: slow start is over.
 * The first step comes about 1 s in (SLOW_START_US): 5 round trips of a 200 ms path, where a
 * loss in slow start left the window at 24 segments, 278 kbit/s acknowledged, and as the
 * link's capacity it held a JPEG viewer of a 2 Mbit/s link on micro1 for 20 s, 2026-12-07.) */
#define SLOW_START_RTTS 6
/* After a change, mild signs are left alone this long (what was queued drains). */
#define SETTLE_US 1000000LL
/* Share of the rate a rung may use after a step down: most of it, or half while a deep
 * queue drains. */
#define FIT_SHARE 0.8
#define DRAIN_SHARE 0.5
#define UP_HOLD_MIN_US 2000000LL
/* ... but a short path shows within a second whether a step up holds (25 round trips at
 * 40 ms): the shortest hold is 1 s plus five round trips, up to UP_HOLD_MIN_US. */
#define UP_HOLD_SHORT_US 1000000LL
#define UP_HOLD_RTTS 5
#define UP_HOLD_MAX_US 12000000LL
/* A step down this soon after a step up: the probe failed. */
#define PROBATION_US 6000000LL
/* A probe past what the rate shows, when the rate is only a lower bound, costs at most this
 * times the current rung. */
#define PROBE_STEP_MAX 2.5
/* ... or at most this much: from the bottom rungs (1 fps costs a fifth of 5 fps) a ratio
 * alone would never let a viewer back up. */
#define PROBE_FLOOR_KBPS 400.0
/* Samples under this times what the rung sends (its bitrate, or one frame per round trip) may
 * be limited by the sender, not the link: a flight can hold two frames. */
#define PROBE_BLIND_MAX 2.0
/* Loss: the fit share loses this much per unit of loss, down to LOSS_FIT_MIN; the counts
 * decay by LOSS_DECAY a sample (4 Hz: about 12 s, so that a few losses a second are a
 * steady share, not noise that lets a viewer climb between them). */
#define LOSS_FIT_WEIGHT 10.0
#define LOSS_FIT_MIN 0.5
#define LOSS_DECAY 0.98
/* From this loss on, the rate that allows a step up is the median sample, not the best. */
#define LOSS_ROBUST 0.003
/* The kernel keeps its minimum RTT for minutes: a path that got longer (a viewer moved from a
 * good link to a thin one) would read as a standing queue for that long. The base round trip
 * is the least smoothed RTT of the last 5-10 s when that is more (BBR keeps its minimum RTT
 * 10 s); a queue that stands for seconds is stepped away from long before it could hide in it. */
#define BASE_RTT_BUCKET_US 5000000LL
/* After a deep queue drained the base is measured afresh: the least smoothed RTT of the first
 * second after the RTT caught up (nothing is read as a queue until then). */
#define BASE_RTT_FRESH_US 1000000LL
/* A base round trip this much shorter than at the last step down: the path changed (a thin
 * link gave way to a good one), and what was learnt of the old one no longer holds. */
#define PATH_CHANGE_RATIO 0.7
/* A rung held this long on a path is what that path carries (see path_rung). */
#define PATH_HELD_US 10000000LL
/* ... tried again when the old path's queue has gone, if within this long of the change. */
#define BACK_WAIT_US 3000000LL
/* A capacity the link itself limited (samples taken while the queue stood) is believed this
 * long before it is probed past; one read from acknowledged bytes, which a stall reads low,
 * only CAPACITY_TRUSTED_US. */
#define CAPACITY_LINK_TRUSTED_US 20000000LL
/* ... and a guess (VG_ADAPT_CAPACITY_GUESS) only this long: the acknowledged rate of a
 * connection's first round trips (slow start) reads far under the link. */
#define CAPACITY_GUESS_TRUSTED_US 4000000LL
/* After a connection's first seconds a guess is near the link's rate, or above it (what was
 * acknowledged while a deep queue stood; the rung that queued up when nothing was): a probe to
 * a rung that costs as much or more, or whose keyframe would not fit it within the burst
 * budget, is no try at all, for as long as the capacity is kept (CAPACITY_WINDOW_US). A link that gets
 * better shows it: its delivery samples read above the one the kernel kept. (On a 2 Mbit/s
 * link after a 20 Mbit/s one the kernel kept the good link's sample, so nothing else was
 * measured: a probe to `source` 4-6 s after each step down put its 180 KB keyframe and a
 * second of video into a 750 ms-per-keyframe link, 1.1-1.7 s of delay; a JPEG viewer tried
 * `tiny`, 3.4 Mbit/s, 8 s after its step, 2026-12-07. Not a step's reading without a deep
 * queue: after a failed probe at 5 Mbit/s one read 2.3 and held a viewer on tiny15, 15 fps,
 * for 19 s.) */
#define GUESS_AFTER_START_US 5000000LL
#define LINK_OVER_ACKED_MAX 2.5
/* A retransmission's backlog: the retransmission takes a round trip, and a loss-based
 * control (cubic) then sends less for a few more while its window grows back (a lossy
 * 2 Mbit/s link showed 134 ms of unsent backlog a second after a loss on a rung it carries). */
#define RECOVERY_RTTS 3
/* What a loss-based control (Reno's window halving; cubic falls back to it on long paths)
 * carries at loss share p: about MSS / RTT x sqrt(3/2) / sqrt(p) (Mathis et al., 1997).
 * Measured under cubic: about 650 kbit/s of a 2 Mbit/s, 200 ms link with 1% loss (this says
 * 707), 170-330 of a 1 Mbit/s, 400 ms one with 2% (250). */
#define LOSS_CARRY_C 1.22
/* A rung may use this share of it: thin10 held at 557 kbit/s (p95 191 ms) where cubic
 * carried about 650 (the fixed-rung runs, docs/benchmarks.md). */
#define CARRY_SHARE 0.9
/* ... said only of this many segments (a decayed sum: a few seconds of a thin rung) when it
 * moves a viewer down. */
#define LOSS_CARRY_MIN_SEGS 200.0
#define MSS_DEFAULT 1448
/* Linux's BBR (v1) on a sparse stream: a loss holds its window at two segments for a round
 * trip; those samples are not app-limited, and once its ten-round bandwidth filter has no
 * older sample left they become its estimate. Pacing then falls to the stream's own few
 * segments a round trip and grows back by a quarter per probe cycle of eight round trips:
 * on a 1 Mbit/s, 400 ms link it paced at 52 kbit/s, then 115 five seconds later, and 1 fps
 * JPEGs took 1.0-1.5 s instead of 275 ms (2026-12-07). A viewer whose pacing cannot carry its
 * rung while no queue stands in the network has its control started afresh, at most this
 * often. */
#define PACING_RESTART_EVERY_US 10000000LL
/* ... and whose pacing fell to under a quarter of its best since the last restart (BBR paced
 * at 2.75 Mbit/s before the collapse above, at 52 kbit/s after it). */
#define PACING_COLLAPSE_RATIO 4.0
#define DROP_RATIO_BAD 0.15
#define CLIENT_FPS_RATIO_BAD 0.7

void vg_adapt_init(vg_adapt_t *a)
{
    memset(a, 0, sizeof(*a));
    a->up_hold_us = UP_HOLD_MIN_US;
    a->path_rung = -1;
    a->frame_rung = -1;
}

static void rate_add(vg_adapt_t *a, int64_t now, double kbps)
{
    if (a->rate_count == VG_ADAPT_RATE_SAMPLES) {
        memmove(&a->rate[0], &a->rate[1], sizeof(a->rate[0]) * (VG_ADAPT_RATE_SAMPLES - 1));
        a->rate_count--;
    }
    a->rate[a->rate_count].at_us = now;
    a->rate[a->rate_count].kbps = kbps;
    a->rate_count++;
}

static double loss_share(const vg_adapt_t *a)
{
    return a->segs_sum >= 1 ? a->retrans_sum / a->segs_sum : 0;
}

/* The share of the rate a rung may use, less on a lossy link. */
static double fit_share(const vg_adapt_t *a, double share)
{
    double s = share * (1 - LOSS_FIT_WEIGHT * loss_share(a));
    double floor = share < LOSS_FIT_MIN ? share : LOSS_FIT_MIN;
    return s < floor ? floor : s;
}

/* The most a loss-based control carries at the measured loss on this path (0: no bound: a
 * control that does not back off on loss, or too little loss to say). */
static double loss_carry_kbps(const vg_adapt_t *a, const vg_adapt_input_t *in, double base_ms)
{
    double p = loss_share(a);
    /* (while the base is measured afresh, the kernel's minimum: a cap all the same) */
    double rtt = base_ms > 0 ? base_ms : in->min_rtt_ms;
    if (!in->is_loss_based || p < LOSS_ROBUST || rtt <= 0)
        return 0;
    double mss = in->mss_bytes ? in->mss_bytes : MSS_DEFAULT;
    return mss * 8 / rtt * LOSS_CARRY_C / sqrt(p);
}

/* Sorts at most 16 values in place (insertion sort). */
static void sort_small(double *v, int n)
{
    for (int i = 1; i < n; i++) {
        double x = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

/* The median fresh sample of the rate window (0: none). */
static double rate_median(const vg_adapt_t *a, int64_t now)
{
    double v[VG_ADAPT_RATE_SAMPLES];
    int n = 0;
    for (int i = 0; i < a->rate_count; i++) {
        if (now - a->rate[i].at_us <= RATE_WINDOW_US)
            v[n++] = a->rate[i].kbps;
    }
    sort_small(v, n);
    return n ? v[n / 2] : 0;
}

/* The lower median of the congested samples (0: none). */
static double congested_median(const vg_adapt_t *a)
{
    double v[VG_ADAPT_CONGESTED_SAMPLES];
    int n = a->congested_count;
    if (n <= 0)
        return 0;
    memcpy(v, a->congested_kbps, sizeof(v[0]) * (size_t)n);
    sort_small(v, n);
    return v[(n - 1) / 2];
}

/* The median of the last three acknowledged-rate samples (the latest alone until there are
 * three; 0 when this sample has none). */
static double acked_median(const vg_adapt_t *a, double latest)
{
    if (latest <= 0 || a->acked_count < 3)
        return latest;
    double x = a->acked_recent[0], y = a->acked_recent[1], z = a->acked_recent[2];
    if (x > y) {
        double t = x;
        x = y;
        y = t;
    }
    /* with x <= y, the median is z clamped to [x, y] */
    return z < x ? x : z > y ? y : z;
}

/* The path's round trip without queues (see BASE_RTT_BUCKET_US); 0 while it is measured
 * afresh after a deep queue drained. */
static double base_rtt(vg_adapt_t *a, int64_t now, double rtt_ms, double kernel_min_ms)
{
    if (rtt_ms > 0 && now >= a->rtt_stale_until_us) {
        if (a->rtt_bucket_us == 0 || now - a->rtt_bucket_us >= 2 * BASE_RTT_BUCKET_US) {
            /* the first sample, or none for a whole window: a bucket to fill first */
            a->rtt_min_cur = rtt_ms;
            a->rtt_min_prev = 0;
            a->rtt_bucket_us = now;
        } else if (now - a->rtt_bucket_us >= BASE_RTT_BUCKET_US) {
            a->rtt_min_prev = a->rtt_min_cur;
            a->rtt_min_cur = rtt_ms;
            a->rtt_bucket_us = now;
        } else if (rtt_ms < a->rtt_min_cur) {
            a->rtt_min_cur = rtt_ms;
        }
    }
    /* Only a full bucket speaks for the path: one sample may carry a queue. */
    if (a->rtt_min_prev <= 0 && a->is_base_remeasured) {
        if (a->rtt_bucket_us == 0 || now - a->rtt_bucket_us < BASE_RTT_FRESH_US)
            return 0;
        return a->rtt_min_cur > kernel_min_ms ? a->rtt_min_cur : kernel_min_ms;
    }
    if (a->rtt_min_prev <= 0)
        return kernel_min_ms;
    a->is_base_remeasured = false;
    double windowed = a->rtt_min_cur < a->rtt_min_prev ? a->rtt_min_cur : a->rtt_min_prev;
    return windowed > kernel_min_ms ? windowed : kernel_min_ms;
}

/* The path got much shorter since the last step down: forget the old path's capacity, loss
 * and failed probes, so that a viewer back on a good link climbs at once. */
static void path_changed(vg_adapt_t *a, double base_ms)
{
    a->base_rtt_at_down_ms = base_ms;
    a->up_hold_us = UP_HOLD_MIN_US;
    a->last_up_us = 0;
    a->capacity_us = 0;
    a->rate_count = 0;
    a->segs_sum = a->retrans_sum = 0;
    a->frame_drain_kbps = 0;
    a->frame_reading = VG_ADAPT_FRAME_UNCHECKED;
}

static double rate_max(const vg_adapt_t *a, int64_t now)
{
    double best = 0;
    for (int i = 0; i < a->rate_count; i++) {
        if (now - a->rate[i].at_us <= RATE_WINDOW_US && a->rate[i].kbps > best)
            best = a->rate[i].kbps;
    }
    return best;
}

/* The most a delivery-rate sample of the current rung can read when what it sends limits it,
 * not the link: its bitrate, or one frame per round trip (a small flight's sample is its size
 * over the round trip, 2.5 Mbit/s for tiny15's 12 KB frames on a 40 ms path). */
static double sender_limited_kbps(const vg_adapt_input_t *in, double base_ms)
{
    double kbps = in->rung_kbps[in->rung];
    double fps = in->rung_fps ? in->rung_fps[in->rung] : 0;
    double rtt = in->rtt_ms > base_ms ? in->rtt_ms : base_ms;
    if (fps > 0 && rtt > 0 && kbps / fps * 1000 / rtt > kbps)
        return kbps / fps * 1000 / rtt;
    return kbps;
}

/* Whether rung r's largest frame takes at most budget_ms at `rate` (true while either is
 * unknown: nothing says it would not). */
static bool is_burst_fit(const vg_adapt_input_t *in, int r, double rate, double budget_ms)
{
    uint32_t bytes = in->rung_burst_bytes ? in->rung_burst_bytes[r] : 0;
    return bytes == 0 || rate <= 0 || (double)bytes * 8 / rate <= budget_ms;
}

/* Rung r's mean frame, in kbit (0: unknown). */
static double frame_kbit(const vg_adapt_input_t *in, int r)
{
    double fps = in->rung_fps ? in->rung_fps[r] : 0;
    return fps > 0 && in->rung_kbps[r] > 0 ? in->rung_kbps[r] / fps : 0;
}

/* Whether rung r's frames are alike: JPEG's are, an H.264 rung's keyframes are many times its
 * mean frame (the burst rule, BURST_FIT_MIN_MS, answers for those; its other frames are
 * small). Unknown: not said to be. */
static bool is_uniform(const vg_adapt_input_t *in, int r)
{
    double kbit = frame_kbit(in, r);
    uint32_t burst = in->rung_burst_bytes ? in->rung_burst_bytes[r] : 0;
    return kbit > 0 && burst > 0 && (double)burst * 8 / 1000 <= FRAME_UNIFORM_MAX * kbit;
}

/* Whether rung r's mean frame fits its time on the link with `share` of its budget
 * (FRAME_WIRE_INTERVAL_SHARE) on a path of base_ms: at the rate its queue shows frames
 * drain at (queue_kbps), or at the best rate the delivery samples showed (shown_kbps: at
 * most the link's, so a frame takes at most that long, and when that fits, the frame does).
 * True when either says it does, or when either is unknown, or for a rung whose frames are
 * not alike. */
static bool is_frame_fit(const vg_adapt_input_t *in, int r, double queue_kbps, double shown_kbps,
                         double base_ms, double share)
{
    if (!is_uniform(in, r) || queue_kbps <= 0 || shown_kbps <= 0)
        return true;
    double budget_ms = FRAME_WIRE_INTERVAL_SHARE * 1000 / in->rung_fps[r];
    if (FRAME_WIRE_RTT_SHARE * base_ms > budget_ms)
        budget_ms = FRAME_WIRE_RTT_SHARE * base_ms;
    double kbit = frame_kbit(in, r);
    return kbit * 1000 / queue_kbps <= share * budget_ms ||
           kbit * 1000 / shown_kbps <= share * budget_ms;
}

/* Whether `rate` shows headroom for rung r, bitrate and keyframe, and its mean frame fits
 * (bit r of frame_fits): a rung of unknown cost is never climbed to. */
static bool is_up_fit(const vg_adapt_input_t *in, int r, double rate, double headroom,
                      double budget_ms, uint32_t frame_fits)
{
    return in->rung_kbps[r] > 0 && rate >= headroom * in->rung_kbps[r] &&
           is_burst_fit(in, r, rate, budget_ms) && (frame_fits >> r & 1u);
}

/* The richest rung below the current one, at its frame rate, whose frames fit (-1: none). A
 * lower frame rate does not make a frame shorter on the link (tiny15's are tiny's size), and
 * the frames' time is no reason to give frames up. */
static int frame_step_rung(const vg_adapt_input_t *in, uint32_t frame_fits)
{
    double fps = in->rung_fps ? in->rung_fps[in->rung] : 0;
    /* (the rungs at the camera's rate share its measured one: 29.9 for all or none) */
    for (int r = in->rung - 1; r >= 0 && fps > 0; r--)
        if (fabs(in->rung_fps[r] - fps) < 0.5 && in->rung_kbps[r] > 0 && (frame_fits >> r & 1u))
            return r;
    return -1;
}

/* Any step down: a step up on probation failed (probe less often), and a path that just came
 * back is not the one whose rung is remembered. */
static void stepped_down(vg_adapt_t *a, int64_t now)
{
    if (a->last_up_us && now - a->last_up_us < PROBATION_US) {
        a->up_hold_us *= 2;
        if (a->up_hold_us > UP_HOLD_MAX_US)
            a->up_hold_us = UP_HOLD_MAX_US;
    }
    a->last_up_us = 0;
    if (a->frame_reading == VG_ADAPT_FRAME_CHECKING) /* another step: no answer to it */
        a->frame_reading = VG_ADAPT_FRAME_UNCHECKED;
    a->has_stepped_down = true;
    a->last_change_us = now;
    a->bad_since_us = 0;
    a->path_changed_us = 0;
}

/* The richest rung below `from` whose bitrate fits share x rate and whose keyframe fits the
 * rate; at least one step down, and no further than a rung whose bitrate is unknown (nothing
 * says it would not fit). (Not the frames' time: that would trade frame rate for it, tiny15
 * for tiny; the frame rule follows at the same rate if need be.) */
static int fitting_rung(const vg_adapt_input_t *in, int from, double rate, double share,
                        double burst_budget_ms)
{
    int r = from - 1;
    if (rate <= 0)
        return r;
    while (r > 0 && ((in->rung_kbps[r] > 0 && in->rung_kbps[r] > share * rate) ||
                     !is_burst_fit(in, r, rate, burst_budget_ms)))
        r--;
    return r;
}

void vg_adapt_moved_up(vg_adapt_t *a, int64_t now_us)
{
    if (a->last_up_us && a->last_up_us == a->last_change_us)
        a->last_up_us = a->last_change_us = now_us;
}

vg_adapt_decision_t vg_adapt_step(vg_adapt_t *a, const vg_adapt_input_t *in)
{
    int64_t now = in->now_us;
    vg_adapt_decision_t d = {.rung = in->rung};
    double latest = 0;
    bool is_fresh = in->delivery_kbps != a->last_delivery_kbps;
    a->last_delivery_kbps = in->delivery_kbps;
    if (is_fresh)
        a->delivery_fresh_us = now;
    if (in->has_tcp && a->first_us == 0)
        a->first_us = now;
    double base_ms = in->has_tcp ? base_rtt(a, now, in->rtt_ms, in->min_rtt_ms) : 0;
    d.base_rtt_ms = base_ms;
    double burst_budget = base_ms > BURST_FIT_MIN_MS ? base_ms : BURST_FIT_MIN_MS;
    /* BBR's ProbeRTT (every 10 s that saw no lower RTT: on a path of fixed delay, always)
     * holds the window at four segments for 200 ms and a round trip. On a 1 Mbit/s, 400 ms
     * link that was 0.75-1 s in which four segments left a round trip: frames were replaced
     * and a backlog waited (micro10 went to micro1 for it, 2026-12-07). It is the control's
     * own pause, not the link: no step down for it, no reading of the link from it, and no
     * probe up through it, until a round trip after it ended (its backlog then leaves at
     * the link's rate). */
    if (in->is_probing_rtt)
        a->rtt_probe_until_us =
            now + (int64_t)((base_ms > 0 ? base_ms : in->rtt_ms > 0 ? in->rtt_ms : 100) * 1000);
    bool is_rtt_probe = in->is_probing_rtt || now < a->rtt_probe_until_us;
    /* A flight the link limits queues at its bottleneck; one with no standing RTT was
     * limited by the congestion window (small after losses or idle), not the link. */
    bool is_window_limited =
        base_ms > 0 &&
        in->rtt_ms - base_ms < LINK_SAMPLE_QUEUE_MIN_MS + LINK_SAMPLE_QUEUE_RTT_SHARE * base_ms;
    if (is_fresh)
        a->is_kept_window_limited = !in->is_app_limited && is_window_limited;
    /* The pacing collapsed (PACING_RESTART_EVERY_US). A link that really got thinner than
     * the rung shows a queue instead, and the viewer steps down; a control that starts up
     * paces ever faster, so its best is where it is. */
    if (in->pacing_kbps > a->pacing_peak_kbps)
        a->pacing_peak_kbps = in->pacing_kbps;
    if (in->pacing_kbps > 0 && in->rung_kbps[in->rung] > 0 &&
        in->pacing_kbps < in->rung_kbps[in->rung] &&
        in->pacing_kbps * PACING_COLLAPSE_RATIO < a->pacing_peak_kbps && is_window_limited &&
        (a->pacing_restart_us == 0 || now - a->pacing_restart_us >= PACING_RESTART_EVERY_US)) {
        d.is_pacing_restart = true;
        a->pacing_restart_us = now;
        a->pacing_peak_kbps = 0;
    }
    /* The last sample the kernel kept was limited by the window (after a lossy link), and
     * every one since was app-limited and read lower: what the viewer sends limits it. Read
     * as not app-limited, the viewer never probed again (20 s on a 20 Mbit/s link on thin,
     * 2026-12-06). (A kept sample the link limited stays what it is.) */
    bool is_app_limited =
        in->is_app_limited || (in->has_tcp && in->sent_segs > 0 && a->is_kept_window_limited &&
                               now - a->delivery_fresh_us > DELIVERY_STALE_US);
    if (in->has_tcp && a->base_rtt_at_down_ms > 0 && base_ms > 0 &&
        base_ms < PATH_CHANGE_RATIO * a->base_rtt_at_down_ms) {
        path_changed(a, base_ms);
        a->path_changed_us = now;
    }
    /* A viewer steps down the moment a thin link replaces a good one, while the base still
     * holds the good path's round trip: once the longer path's own base is measured it is
     * the one a return to the good path is seen against (else, back on it, the thin link's
     * loss and capacity held the viewer for 12 s, 2026-12-06). What it learnt stays. */
    if (in->has_tcp && a->base_rtt_at_down_ms > 0 && base_ms * PATH_CHANGE_RATIO > a->base_rtt_at_down_ms)
        a->base_rtt_at_down_ms = base_ms;
    if (in->has_tcp) {
        /* what the peer acknowledged over about a second: a stall does not read as zero */
        if (in->acked_kbps > 0 && !is_rtt_probe) {
            a->acked_1s_kbps = a->acked_1s_kbps > 0 ? 0.75 * a->acked_1s_kbps + 0.25 * in->acked_kbps
                                                    : in->acked_kbps;
            if (a->acked_count == 3)
                memmove(&a->acked_recent[0], &a->acked_recent[1], 2 * sizeof(double));
            else
                a->acked_count++;
            a->acked_recent[a->acked_count - 1] = in->acked_kbps;
        }
        a->segs_sum = a->segs_sum * LOSS_DECAY + in->sent_segs;
        a->retrans_sum = a->retrans_sum * LOSS_DECAY + in->retrans_segs;
        if (in->retrans_segs > 0) /* the stall lasts about a round trip after the sample */
            a->recovering_until_us = now + (int64_t)((RECOVERY_RTTS * base_ms + 500) * 1000);
    }
    if (in->has_tcp && in->delivery_kbps > 0 && is_fresh && !is_rtt_probe) {
        latest = in->delivery_kbps;
        /* The acknowledgement that fills a retransmitted hole covers everything the peer
         * had already received past it: a rate sample taken then reads far above the link
         * (2 Mbit/s links with 1% loss showed 5). It may say the link got worse, not better. */
        bool is_inflated = in->retrans_segs > 0 || now < a->recovering_until_us;
        if (!is_inflated || in->delivery_kbps < rate_max(a, now))
            rate_add(a, now, in->delivery_kbps);
        if (!in->is_app_limited && !is_inflated && !is_window_limited &&
            (in->delivery_kbps > a->capacity_kbps || now - a->capacity_us > CAPACITY_WINDOW_US)) {
            a->capacity_kbps = in->delivery_kbps;
            a->capacity_us = now;
            /* (not trusted as long as the congested samples: one taken in slow start is
             * limited by the window, not the link, and is not flagged app-limited) */
            a->capacity_kind = VG_ADAPT_CAPACITY_SAMPLE;
        }
    }
    /* Taken while a queue stands, samples limited by the link, not by what we sent. On a
     * lossy link most follow a retransmission and some read high (see is_inflated): their
     * lower median is used, not their best. */
    bool is_link_sample = latest > 0 && !is_app_limited;
    d.loss = loss_share(a);
    double carry = loss_carry_kbps(a, in, base_ms); /* 0: no such bound */
    bool has_capacity = a->capacity_us && now - a->capacity_us <= CAPACITY_WINDOW_US;
    d.rate_kbps = rate_max(a, now);
    if (has_capacity && a->capacity_kbps > d.rate_kbps)
        d.rate_kbps = a->capacity_kbps;
    /* The smoothed RTT is the last one measured: with nothing in flight it is stale, and
     * nothing is queued. */
    bool is_window_queue = false; /* the unsent bytes' time was read at the window's rate */
    if (in->has_tcp && (in->inflight_bytes > 0 || in->unsent_bytes > 0)) {
        double standing = base_ms > 0 ? in->rtt_ms - base_ms : 0;
        d.queue_ms = standing > 0 && now >= a->rtt_stale_until_us ? standing : 0;
        /* In slow start the window, not a queue, holds the first frames back (ten segments
         * at first: a 50 KB frame takes three round trips on any link), and the only rate
         * known is the hello's: unsent bytes say nothing then. */
        bool is_slow_start = now - a->first_us < SLOW_START_US;
        /* With no sample of the last 4 s (they aged out, and the kernel's last one is stale)
         * the estimate is only the capacity a step down remembered, which can be a guess far
         * below the link: then unsent bytes leave at least as fast as the peer has been
         * acknowledging (the median of the last three quarter seconds: one may be a filled
         * hole's burst). On a 1 Mbit/s, 400 ms link the guess was 189 kbit/s while the peer
         * acknowledged 310-480: one 6.5 KB frame read as 310 ms of queue and sent the viewer
         * from micro10 to micro1 for the rest of the run (2026-12-07). (With samples, the
         * acknowledged rate is left out: under cubic on a lossy 2 Mbit/s link the bursts
         * that fill holes read high, a probe's queue was seen later and deeper, and the
         * viewer fell further: 12-13 fps against 14-15 in three runs each.) */
        double drain_kbps = d.rate_kbps;
        double acked = rate_max(a, now) > 0 ? 0 : acked_median(a, in->acked_kbps);
        if (acked > drain_kbps)
            drain_kbps = acked;
        /* Under a loss-based control on a lossy link, bytes wait unsent when its window is
         * full, and they leave at what the window sends: the bytes in flight per round trip.
         * After two losses close together cubic's window fell to four or five segments
         * (250 kbit/s on a 200 ms path) under h264-tiny15's 370, and took 2-4 s to grow
         * back; 20 KB waited unsent, 640 ms, which the link's 1.9 Mbit/s read as 100, and
         * the frames of those seconds arrived 400-830 ms late (p95 547 and 707 ms, 2026-12-07).
         * (Only there: without loss the window grows as fast as a keyframe needs, slow
         * start doubling it each round trip.) */
        if (in->is_loss_based && loss_share(a) >= LOSS_ROBUST && in->unsent_bytes > 0 &&
            in->inflight_bytes > 0 && in->rtt_ms > 0) {
            double window_kbps = (double)in->inflight_bytes * 8 / in->rtt_ms;
            if (window_kbps < drain_kbps) {
                drain_kbps = window_kbps;
                is_window_queue = !is_slow_start;
            }
        }
        if (drain_kbps > 0 && !is_slow_start)
            d.queue_ms += (double)in->unsent_bytes * 8 / drain_kbps;
    }
    double bound = QUEUE_MIN_MS + QUEUE_RTT_SHARE * base_ms;
    /* One frame's own time on the link is not a standing queue: a `source` keyframe (100 KB)
     * takes 160 ms at 5 Mbit/s, every keyframe interval, on a link that carries the stream.
     * (Only on a link that does: a rung too rich for it must not be excused its frames.) */
    bool is_carried = d.rate_kbps > 0 && in->rung_kbps[in->rung] > 0 &&
                      in->rung_kbps[in->rung] <= FIT_SHARE * d.rate_kbps;
    double burst_ms = is_carried ? (double)in->burst_bytes * 8 / d.rate_kbps : 0;
    if (burst_ms > BURST_MAX_MS)
        burst_ms = BURST_MAX_MS;
    bound += burst_ms;
    /* A retransmission holds back what follows it for a round trip: that much backlog is
     * the loss, not a queue, and a lower rung would not make it shorter. */
    bool is_recovering = now < a->recovering_until_us;
    double recovery_ms = is_recovering ? base_ms : 0;
    bound += recovery_ms;
    /* One frame replaced of the three a slow rung offers in a sample is noise (a
     * retransmission on a lossy link); two, and a fair share of them, is a sign. */
    bool is_local_bad = (in->replaced >= 2 && in->replaced > DROP_RATIO_BAD * in->offered) ||
                        in->skips > 0;
    bool is_over = !is_rtt_probe && (d.queue_ms > bound || is_local_bad);
    bool is_client_bad = !is_rtt_probe && in->client_fps >= 0 && in->sent_fps >= 5 &&
                         in->client_fps < CLIENT_FPS_RATIO_BAD * in->sent_fps;
    if (!is_over) {
        a->bad_since_us = 0;
        a->congested_count = 0;
    } else {
        if (a->bad_since_us == 0)
            a->bad_since_us = now;
        if (is_link_sample) {
            if (a->congested_count == VG_ADAPT_CONGESTED_SAMPLES) {
                memmove(&a->congested_kbps[0], &a->congested_kbps[1],
                        sizeof(a->congested_kbps[0]) * (VG_ADAPT_CONGESTED_SAMPLES - 1));
                a->congested_count--;
            }
            a->congested_kbps[a->congested_count++] = latest;
        }
    }
    /* A step down leaves a queue to drain; a step up on probation does not, and a queue that
     * builds after it is the answer to the probe: acted on after one sample over the bound. */
    bool is_probing = a->last_up_us && a->last_up_us == a->last_change_us;
    bool is_settling = a->last_change_us && now - a->last_change_us < SETTLE_US && !is_probing;
    int64_t bad_for = is_probing ? BAD_FOR_PROBE_US : BAD_FOR_US;
    /* After a step down what was queued before it drains at the link's rate: a queue still
     * smaller than at that step is not a reason to step again. */
    bool is_draining = now < a->drain_until_us && d.queue_ms < 2 * a->queue_at_change_ms;
    bool is_deep =
        d.queue_ms > QUEUE_DEEP_MS + recovery_ms + burst_ms && !is_draining && !is_rtt_probe;
    /* The queue the current rung's own frames make (FRAME_QUEUE_SAMPLES), afresh on each,
     * from samples of a steady stream: not while a change settles or a queue drains, a
     * retransmission holds the stream back, or the queue is over its bound. */
    if (in->rung != a->frame_rung) {
        a->frame_rung = in->rung;
        a->frame_queue_count = 0;
    }
    bool is_path_as_least =
        base_ms - in->min_rtt_ms <= FRAME_BASE_DRIFT_MS + 0.25 * in->min_rtt_ms;
    double frame_base_ms = in->min_rtt_ms > 0 && is_path_as_least ? in->min_rtt_ms : base_ms;
    if (in->has_tcp && frame_base_ms > 0 && in->inflight_bytes > 0 && is_uniform(in, in->rung) &&
        now >= a->rtt_stale_until_us && !is_settling && now >= a->drain_until_us &&
        !is_recovering && !is_over && !is_rtt_probe) {
        double standing = in->rtt_ms > frame_base_ms ? in->rtt_ms - frame_base_ms : 0;
        a->frame_queue_count++;
        double gain = a->frame_queue_count < FRAME_QUEUE_SAMPLES ? 1.0 / a->frame_queue_count
                                                                 : FRAME_QUEUE_GAIN;
        a->frame_queue_ms += gain * (standing - a->frame_queue_ms);
        /* the rate frames drain at, kept across rungs until another one reads it (0: no
         * queue to speak of) */
        if (a->frame_queue_count >= FRAME_QUEUE_SAMPLES)
            a->frame_drain_kbps = a->frame_queue_ms < 0.5 ? 0
                                                          : frame_kbit(in, in->rung) * 1000 *
                                                                FRAME_QUEUE_SHARE /
                                                                a->frame_queue_ms;
    }
    /* After a step down for the frames' time: the queue shrank with them (it is theirs, and
     * now holds back climbs too), or it did not (another flow's: the rule is off on this
     * path). */
    if (a->frame_reading == VG_ADAPT_FRAME_CHECKING &&
        a->frame_queue_count >= FRAME_QUEUE_SAMPLES) {
        double expected = a->frame_down_queue_ms * a->frame_down_ratio;
        bool is_theirs = a->frame_queue_ms <= a->frame_down_queue_ms -
                                                  FRAME_FOREIGN_SHARE *
                                                      (a->frame_down_queue_ms - expected);
        a->frame_reading = is_theirs ? VG_ADAPT_FRAME_THEIRS : VG_ADAPT_FRAME_FOREIGN;
    }
    /* which rungs' frames fit: to stay on or step down to, and to climb to (held back while a
     * step down for them awaits its answer, or once one confirmed the reading) */
    uint32_t frame_fits = 0, frame_up_fits = 0;
    bool is_frame_off = a->frame_reading == VG_ADAPT_FRAME_FOREIGN;
    bool is_frame_held = a->frame_reading == VG_ADAPT_FRAME_CHECKING ||
                         a->frame_reading == VG_ADAPT_FRAME_THEIRS;
    double shown_kbps = in->delivery_kbps > d.rate_kbps ? in->delivery_kbps : d.rate_kbps;
    for (int r = 0; r < in->rung_count && r < 32; r++) {
        if (is_frame_off || is_frame_fit(in, r, a->frame_drain_kbps, shown_kbps, base_ms, 1))
            frame_fits |= 1u << r;
        if (!is_frame_held ||
            is_frame_fit(in, r, a->frame_drain_kbps, shown_kbps, base_ms, FRAME_UP_SHARE))
            frame_up_fits |= 1u << r;
    }
    /* A deep queue: nothing more should join it until it has drained (the caller holds
     * frames back; latest wins meanwhile). */
    d.is_draining = d.queue_ms > QUEUE_DEEP_MS + recovery_ms + burst_ms;
    bool is_drain_end = false;
    if (a->was_draining && !d.is_draining && in->has_tcp) {
        /* The RTT lags: a few round trips. The buckets hold the drain's round trips, and
         * often a path that just got longer (a thin link replaced a good one): the base is
         * measured afresh from then on. */
        a->rtt_stale_until_us = now + (int64_t)(4 * (in->rtt_ms > 0 ? in->rtt_ms : 100) * 1000);
        a->rtt_bucket_us = 0;
        a->rtt_min_prev = 0;
        a->is_base_remeasured = true;
        /* ... and the queue it read this sample may be that longer path. */
        a->bad_since_us = 0;
        is_drain_end = true;
    }
    a->was_draining = d.is_draining;
    bool is_down = is_deep ||
                   (!is_settling && !is_drain_end &&
                    ((is_over && now - a->bad_since_us >= bad_for) || is_client_bad));
    if (is_down && in->rung > 0) {
        /* While the queue builds we send more than the link takes, so what the peer
         * acknowledged is the link's present rate. The kernel's delivery-rate sample may
         * still hold a better past (it is replaced only by a better or unlimited one). */
        double rate = latest > 0 ? latest : d.rate_kbps;
        /* ... but a retransmission stalls it for a round trip: then the last second's. And
         * one quarter second may hold a stall whose retransmission the kernel counts only
         * later (a tail loss): the median of the last three samples, so that one such
         * sample does not send the viewer to the bottom rung (where nothing it sends can
         * show the link's rate for seconds). */
        bool is_lossy = loss_share(a) >= LOSS_ROBUST;
        /* (Without loss a single retransmission is a queue overflowing, not a stall to see
         * past: the last second's rate then still holds the better link before it.) */
        double acked = is_recovering && is_lossy ? a->acked_1s_kbps
                                                 : acked_median(a, in->acked_kbps);
        if (acked > 0 && (rate <= 0 || acked < rate))
            rate = acked;
        /* On a lossy link the stalls read the acknowledged rate low (a 1 Mbit/s link with 2%
         * loss acknowledged 200-550 kbit/s while it carried 960): the link's own samples
         * while the queue stood say what it carries. Without loss, one far above the
         * acknowledged rate is a burst into a receiver's window, not the link. */
        double link_kbps = congested_median(a);
        bool is_link =
            link_kbps > 0 && (is_lossy || link_kbps <= LINK_OVER_ACKED_MAX * rate || rate <= 0);
        if (is_link && is_lossy && link_kbps > rate)
            rate = link_kbps;
        /* ... and no more than a loss-based control carries there. */
        if (carry > 0 && rate > carry)
            rate = carry;
        /* ... and, where a deep queue built, no more than the rung that built it: more is a
         * sample of the link before it got worse (the kernel's, taken as the queue began,
         * when nothing was acknowledged in the quarter second of the switch). As the link's
         * capacity it took a viewer back to `source` 2.25 s after a switch from 20 to
         * 2 Mbit/s, 2026-12-07. */
        double built_kbps = in->rung_kbps[in->rung];
        if (is_deep && built_kbps > 0) {
            if (rate > built_kbps)
                rate = built_kbps;
            if (link_kbps > built_kbps)
                link_kbps = built_kbps;
        }
        d.rung = fitting_rung(in, in->rung, rate, fit_share(a, is_deep ? DRAIN_SHARE : FIT_SHARE),
                              burst_budget);
        /* A window a loss cut grows back within seconds: one rung down drains its backlog (the
         * next rung costs about half), and a fit to what the cut window sends took an MJPEG
         * viewer from micro10 to micro1 for the rest of the run (2026-12-07). */
        if (is_window_queue && !is_client_bad && d.rung < in->rung - 1)
            d.rung = in->rung - 1;
        d.reason = is_over || is_deep ? "congested" : "client";
        /* What this path carried: a rung held PATH_HELD_US (the richest, when it held several). */
        int64_t held_since = a->last_change_us ? a->last_change_us : a->first_us;
        if (base_ms > 0 && held_since && now - held_since >= PATH_HELD_US &&
            in->rung >= a->path_rung) {
            a->path_rung = in->rung;
            a->path_base_ms = base_ms;
        }
        stepped_down(a, now);
        a->queue_at_change_ms = d.queue_ms;
        /* What the link carried before it got worse must not take the viewer back up. */
        a->rate_count = 0;
        a->capacity_us = 0;
        if (base_ms > 0) /* (0: being measured afresh; the last one stands) */
            a->base_rtt_at_down_ms = base_ms;
        /* A window a loss cut grows back within seconds, and what it sends meanwhile is not
         * what the link carries: no capacity is kept, and the viewer tries its rung again
         * after the hold, within what the loss says the control carries (is_carry_room). */
        bool is_rate_kept = !is_client_bad && !is_window_queue;
        if (is_rate_kept && rate > 0) {
            /* A rate read while a deep queue built up (a link that just got much thinner)
             * is a guess that picks the rung and caps what follows, but is no evidence of
             * headroom: a guess above the link would take the viewer straight back up. */
            bool is_window_start =
                base_ms > 0 && now - a->first_us < (int64_t)(SLOW_START_RTTS * base_ms * 1000);
            a->capacity_kind = is_window_start ? VG_ADAPT_CAPACITY_GUESS
                               : is_link       ? VG_ADAPT_CAPACITY_LINK
                               : is_deep       ? VG_ADAPT_CAPACITY_GUESS
                                               : VG_ADAPT_CAPACITY_SAMPLE;
            if (a->capacity_kind != VG_ADAPT_CAPACITY_GUESS)
                rate_add(a, now, rate);
            a->capacity_kbps = is_link && link_kbps > rate ? link_kbps : rate;
            a->capacity_us = now;
        } else if (is_rate_kept && in->rung_kbps[in->rung] > 0) {
            /* No rate read at all (the kernel kept an old sample, and nothing was acknowledged
             * in the quarter second): what queued up says the rung was more than the link
             * carries. A guess that caps what follows, so that the viewer does not probe
             * straight back (it went back to `source` 2 s after a switch from 20 to 2 Mbit/s
             * and queued for 4 s, 2026-12-07). */
            a->capacity_kind = VG_ADAPT_CAPACITY_GUESS;
            a->capacity_kbps = in->rung_kbps[in->rung];
            a->capacity_us = now;
        }
        a->congested_count = 0;
        a->drain_until_us = now + SETTLE_US + (int64_t)((2 * d.queue_ms + 2 * base_ms) * 1000);
        /* What was measured on the old rung says little about the new one's queue. */
        return d;
    }
    /* The link carries the rung, but not its keyframe within the budget: each one holds
     * the frames behind it. Only on a capacity measured, not guessed, and nothing else is
     * forgotten: the link did not get worse. */
    bool is_capacity_evidence = has_capacity && a->capacity_kind != VG_ADAPT_CAPACITY_GUESS;
    bool is_burst_bad =
        is_capacity_evidence && !is_burst_fit(in, in->rung, d.rate_kbps, burst_budget);
    /* The loss-based control cannot carry the rung at the measured loss (see LOSS_CARRY_C): it
     * holds for a while, then a queue builds for seconds (h264-low under cubic on a 2 Mbit/s
     * link with 1% loss: 10 s, then 400 ms of queue, 2026-12-07). The share is not cut for
     * the loss, which the carry already counts; the step up's fit is, so that the viewer does
     * not come straight back. */
    bool is_carry_bad = carry > 0 && a->segs_sum >= LOSS_CARRY_MIN_SEGS &&
                        in->rung_kbps[in->rung] > CARRY_SHARE * carry;
    /* The link carries the rung, but each of its frames takes longer on it than the viewer's
     * delay allows (FRAME_WIRE_INTERVAL_SHARE): said by the rung's own reading, so that the
     * next rung's answers whether the queue was the frames'. */
    int frame_to = a->frame_queue_count >= FRAME_QUEUE_SAMPLES && !(frame_fits >> in->rung & 1u)
                       ? frame_step_rung(in, frame_fits)
                       : -1;
    bool is_frame_bad = frame_to >= 0;
    if (in->rung > 0 && !is_settling && !is_draining && !is_rtt_probe &&
        (is_burst_bad || is_carry_bad || is_frame_bad)) {
        d.rung = is_carry_bad  ? fitting_rung(in, in->rung, carry, CARRY_SHARE, burst_budget)
                 : is_burst_bad ? fitting_rung(in, in->rung, d.rate_kbps, fit_share(a, FIT_SHARE),
                                               burst_budget)
                                : frame_to;
        d.reason = is_carry_bad ? "loss" : is_burst_bad ? "burst" : "frame";
        stepped_down(a, now);
        if (!is_carry_bad && !is_burst_bad) {
            a->frame_reading = VG_ADAPT_FRAME_CHECKING;
            a->frame_down_queue_ms = a->frame_queue_ms;
            a->frame_down_ratio = frame_kbit(in, d.rung) / frame_kbit(in, in->rung);
        }
        if (base_ms > 0)
            a->base_rtt_at_down_ms = base_ms;
        return d;
    }
    if (a->last_up_us && now - a->last_up_us > PROBATION_US) {
        a->up_hold_us = UP_HOLD_MIN_US; /* the last step up held */
        a->last_up_us = 0;
    }
    int next = in->rung + 1;
    bool is_clean = !is_over && !is_client_bad && !is_rtt_probe;
    int64_t hold = a->up_hold_us;
    if (hold <= UP_HOLD_MIN_US && in->has_tcp) {
        /* the round trip as it is now: a path just made longer still has the short base */
        double rtt = in->rtt_ms > base_ms ? in->rtt_ms : base_ms;
        int64_t short_hold = UP_HOLD_SHORT_US + (int64_t)(UP_HOLD_RTTS * rtt * 1000);
        if (short_hold < hold)
            hold = short_hold;
    }
    bool is_held = now - (a->last_change_us ? a->last_change_us : 0) >= hold;
    /* A capacity measured a while ago may be out of date (a link that got better shows no
     * sign of it to a viewer that sends little): probe past it after a few seconds. Until
     * then it caps what the samples say (bursts into a receiver's window read far above what
     * the receiver takes). */
    int64_t trusted_us = a->capacity_kind == VG_ADAPT_CAPACITY_GUESS ? CAPACITY_GUESS_TRUSTED_US
                         : a->capacity_kind == VG_ADAPT_CAPACITY_LINK ? CAPACITY_LINK_TRUSTED_US
                                                                      : CAPACITY_TRUSTED_US;
    bool is_capacity_fresh = has_capacity && now - a->capacity_us < trusted_us;
    /* On a lossy link single samples read high (see is_inflated): the median of the
     * window's speaks for the link. */
    double up_rate = loss_share(a) >= LOSS_ROBUST ? rate_median(a, now) : rate_max(a, now);
    if (is_capacity_evidence && a->capacity_kbps > up_rate)
        up_rate = a->capacity_kbps;
    if (is_capacity_fresh && a->capacity_kbps < up_rate)
        up_rate = a->capacity_kbps;
    /* A lossy link's bursts show its rate, not what a loss-based control carries over it: a
     * viewer under cubic climbed to h264-low (770 kbit/s) on samples of 2 Mbit/s where cubic
     * carried about 650, and queued for 10 s (p95 660-730 ms, 2026-12-07). */
    if (carry > 0 && up_rate > carry)
        up_rate = carry;
    double headroom = 1.0 / fit_share(a, FIT_SHARE); /* the fit a step down uses: no ping-pong */
    bool is_shown = next < in->rung_count &&
                    is_up_fit(in, next, up_rate, headroom, burst_budget, frame_up_fits);
    /* Samples that read well above what the rung sends come from its frames' bursts at the
     * link's rate: no probe to a rung that would not fit what they show (a 2 Mbit/s link
     * showed 2 Mbit/s to tiny15, and a probe to tiny at 3.2 cost a second of delay). On a
     * lossy link samples near the rung's own rate are the link too (a 1 Mbit/s link with 2%
     * loss showed 1.0 to thin, and a probe to tiny15 cost three seconds). */
    double seen_kbps = rate_max(a, now);
    if (carry > 0 && seen_kbps > carry)
        seen_kbps = carry;
    bool is_blind = seen_kbps < PROBE_BLIND_MAX * sender_limited_kbps(in, base_ms) &&
                    loss_share(a) < LOSS_ROBUST;
    /* (From the bottom rungs a try costs little, and their samples show little; but not on a
     * lossy link under a loss-based control: cubic carries a quarter of a 1 Mbit/s link at
     * 2%, where BBR carries most of it.) */
    /* (Nor a probe to a rung whose keyframe the measured capacity would not carry, or that a
     * guess past the connection's start would not: GUESS_AFTER_START_US.) */
    /* (Nor one whose frames would take too long on the link.) */
    bool is_guess_bound = has_capacity && a->capacity_kind == VG_ADAPT_CAPACITY_GUESS &&
                          a->capacity_us - a->first_us >= GUESS_AFTER_START_US;
    /* Under a loss-based control on a lossy link the small flights of a bottom rung cannot
     * show the link, and no blind try is made; but the loss says what the control carries
     * (LOSS_CARRY_C): a rung within that is worth one. Without it a viewer whose first step
     * landed on micro5 (196 kbit/s) stayed there for 26 s of a 2 Mbit/s, 200 ms link with 1%
     * loss, where cubic carries about 650 (2026-12-07). That is evidence, not a blind try:
     * not bound to PROBE_STEP_MAX (h264-tiny15 costs 2.6 times h264-thin10, where a window
     * a loss cut sends a viewer: is_window_queue). */
    bool is_carry_room = carry > 0 && next < in->rung_count &&
                         in->rung_kbps[next] <= CARRY_SHARE * carry;
    double burst_kbps = is_capacity_evidence ? up_rate : is_guess_bound ? a->capacity_kbps : 0;
    bool is_probe = !is_shown && !is_capacity_fresh && next < in->rung_count &&
                    is_burst_fit(in, next, burst_kbps, burst_budget) &&
                    (!is_guess_bound || in->rung_kbps[next] < a->capacity_kbps) &&
                    (frame_up_fits >> next & 1u) &&
                    is_app_limited && in->rung_kbps[next] > 0 && in->rung_kbps[in->rung] > 0 &&
                    ((in->rung_kbps[next] <= PROBE_FLOOR_KBPS &&
                      (loss_share(a) < LOSS_ROBUST || !in->is_loss_based)) ||
                     is_carry_room ||
                     (in->rung_kbps[next] <= PROBE_STEP_MAX * in->rung_kbps[in->rung] &&
                      (is_blind || in->rung_kbps[next] <= fit_share(a, FIT_SHARE) * seen_kbps)));
    /* The path changed to one the viewer held a rung on before it got worse: that rung, at
     * once, as a probe (a queue after it answers within a sample), once the old path's queue
     * has gone. (The base that shows the change may still hold some of that queue: 89 ms,
     * then 52, on the way back to a 40 ms path.) */
    bool is_path_back = a->path_rung > in->rung && a->path_changed_us &&
                        now - a->path_changed_us < BACK_WAIT_US && base_ms > 0 &&
                        base_ms * PATH_CHANGE_RATIO <= a->path_base_ms;
    if (is_path_back && is_clean && !is_draining) {
        d.rung = a->path_rung < in->rung_count ? a->path_rung : in->rung_count - 1;
        d.reason = "recovered";
        a->path_rung = -1;
        a->last_up_us = now;
        a->last_change_us = now;
        return d;
    }
    if (is_probe && is_clean && is_held && !is_draining) {
        d.rung = next;
        d.reason = a->has_stepped_down ? "recovered" : "headroom";
        a->last_up_us = now;
        a->last_change_us = now;
        return d;
    }
    if (next < in->rung_count && is_clean && is_held && is_shown) {
        /* As far up as the rate shows headroom for, in one step: a viewer back on a good
         * link should not climb a rung per hold. */
        while (next + 1 < in->rung_count &&
               is_up_fit(in, next + 1, up_rate, headroom, burst_budget, frame_up_fits))
            next++;
        d.rung = next;
        d.reason = a->has_stepped_down ? "recovered" : "headroom";
        a->last_up_us = now;
        a->last_change_us = now;
    }
    return d;
}
