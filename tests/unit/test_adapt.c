/* adapt: the adaptive viewer's policy on traces — a steady fast link, a link that degrades
 * live, a deep queue, a failed probe, a client that cannot keep up. Each trace is a series of
 * 250 ms samples as the viewer tick takes them; no clock. */
#include "outputs/adapt.h"
#include "vg_test.h"

/* A ladder of a detailed 720p30 camera, kbps as measured before thin10 was added
 * (docs/protocol.md, "Tiers"): thin1, thin5, thin (12 fps), tiny15, tiny, low, medium,
 * native. */
static const double LADDER[] = {64, 323, 778, 1491, 3385, 5768, 11979, 35570};
#define RUNGS 8
#define MEDIUM 6

typedef struct link {
    double kbps, rtt_ms;
} link_t;

/* One sample of a viewer on `rung` over `l`: what it sends beyond the link queues up. */
static vg_adapt_decision_t sample(vg_adapt_t *a, int64_t t_us, int rung, const link_t *l,
                                  double *queue_ms)
{
    double send = LADDER[rung];
    if (send > l->kbps)
        *queue_ms += (send - l->kbps) * 0.25 / l->kbps * 1000; /* this 250 ms's backlog */
    else if (*queue_ms > 0)
        *queue_ms -= (l->kbps - send) * 0.25 / l->kbps * 1000;
    if (*queue_ms < 0)
        *queue_ms = 0;
    vg_adapt_input_t in = {
        .now_us = t_us,
        .rung = rung,
        .rung_count = RUNGS,
        .rung_kbps = LADDER,
        .has_tcp = true,
        .rtt_ms = l->rtt_ms + *queue_ms,
        .min_rtt_ms = l->rtt_ms,
        /* frames go out as bursts at the link's rate: samples show it, app-limited or not;
         * each sample differs a little, as the kernel's do (a repeated value is stale) */
        .delivery_kbps = l->kbps * (0.98 + 0.01 * (double)((t_us / 250000) % 3)),
        .inflight_bytes = 20000,
        .offered = 8,
        .client_fps = -1,
    };
    return vg_adapt_step(a, &in);
}

/* Runs seconds of a link from rung; returns the rung at the end, counts up-steps that were
 * followed by a step down within 6 s (failed probes) and the worst queue seen after warmup. */
static int run(vg_adapt_t *a, int64_t *t, int rung, const link_t *l, double secs,
               double *queue_ms, int *failed_ups, double *worst_queue, double warmup_s)
{
    int64_t last_up = -1;
    int64_t start = *t;
    for (int i = 0; i < (int)(secs * 4); i++) {
        *t += 250000;
        vg_adapt_decision_t d = sample(a, *t, rung, l, queue_ms);
        if (d.rung > rung)
            last_up = *t;
        if (d.rung < rung && last_up >= 0 && *t - last_up < 6000000 && failed_ups)
            (*failed_ups)++;
        rung = d.rung;
        if (worst_queue && *t - start > warmup_s * 1e6 && *queue_ms > *worst_queue)
            *worst_queue = *queue_ms;
    }
    return rung;
}

VG_TEST(fast_link_climbs_to_the_best_fitting_rung_and_never_tries_above)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0;
    double q = 0, worst = 0;
    int failed = 0;
    link_t fast = {20000, 20};
    int rung = run(&a, &t, MEDIUM, &fast, 30, &q, &failed, &worst, 0);
    EXPECT_EQ(rung, MEDIUM); /* medium fits 20 Mbit/s; native (36 Mbit/s) never does */
    EXPECT_EQ(failed, 0);
    EXPECT_TRUE(worst < 1);
    /* From the bottom too, without a blind try. */
    vg_adapt_init(&a);
    int64_t t0 = t;
    rung = run(&a, &t, 0, &fast, 3, &q, &failed, NULL, 0);
    EXPECT_EQ(rung, MEDIUM); /* in one step, within the first hold */
    EXPECT_TRUE(t - t0 <= 3000000);
    rung = run(&a, &t, rung, &fast, 27, &q, &failed, NULL, 0);
    EXPECT_EQ(rung, MEDIUM);
    EXPECT_EQ(failed, 0);
}

VG_TEST(live_degrade_steps_down_far_and_fast_then_recovers)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0;
    double q = 0;
    int failed = 0;
    link_t fast = {20000, 20}, thin = {2000, 100};
    int rung = run(&a, &t, MEDIUM, &fast, 10, &q, &failed, NULL, 0);
    EXPECT_EQ(rung, MEDIUM);
    /* The link drops to 2 Mbit/s: within 1.5 s the viewer is on a rung that fits, and the
     * queue has drained within 3 s. */
    int64_t switched = t;
    int64_t fitted_at = 0, drained_at = 0;
    for (int i = 0; i < 40; i++) {
        t += 250000;
        vg_adapt_decision_t d = sample(&a, t, rung, &thin, &q);
        rung = d.rung;
        if (!fitted_at && LADDER[rung] <= thin.kbps)
            fitted_at = t;
        if (fitted_at && !drained_at && q < 400)
            drained_at = t;
    }
    EXPECT_TRUE(fitted_at && fitted_at - switched <= 1500000);
    EXPECT_TRUE(drained_at && drained_at - switched <= 3000000);
    EXPECT_TRUE(LADDER[rung] <= thin.kbps);
    /* Back to 20 Mbit/s: the best rung that fits within 10 s. */
    int64_t back = t;
    int64_t best_at = 0;
    for (int i = 0; i < 60 && !best_at; i++) {
        t += 250000;
        rung = sample(&a, t, rung, &fast, &q).rung;
        if (rung == MEDIUM)
            best_at = t;
    }
    EXPECT_TRUE(best_at && best_at - back <= 10000000);
}

VG_TEST(thin_links_settle_on_a_rung_they_carry)
{
    const link_t links[] = {{5000, 40}, {2000, 100}, {1000, 200}};
    const int want[] = {4, 3, 2}; /* tiny, tiny15, thin: the richest under 80 % of the rate */
    for (int k = 0; k < 3; k++) {
        vg_adapt_t a;
        vg_adapt_init(&a);
        int64_t t = 0;
        double q = 0, worst = 0;
        int failed = 0;
        int rung = run(&a, &t, MEDIUM, &links[k], 30, &q, &failed, &worst, 5);
        EXPECT_EQ(rung, want[k]);
        EXPECT_EQ(failed, 0);
        EXPECT_TRUE(worst < 100);
    }
}

VG_TEST(a_longer_path_is_not_read_as_a_standing_queue)
{
    /* The viewer started on a 40 ms path and the kernel keeps that minimum for minutes; the
     * path is now 200 ms (a thin uplink took over). After the base round trip's window the
     * extra 160 ms is the path, not a queue: the viewer settles on what the link carries
     * instead of sinking to the bottom. */
    vg_adapt_t a;
    vg_adapt_init(&a);
    vg_adapt_input_t in = {.rung = 3, .rung_count = RUNGS, .rung_kbps = LADDER, .has_tcp = true,
                           .rtt_ms = 200, .min_rtt_ms = 40, .inflight_bytes = 8000,
                           .client_fps = -1, .offered = 4, .is_app_limited = true};
    int rung = 3;
    vg_adapt_decision_t d = {0};
    for (int i = 0; i < 4 * 30; i++) {
        in.now_us = 250000LL * (i + 1);
        in.rung = rung;
        in.delivery_kbps = LADDER[rung] + (double)(i % 3);
        d = vg_adapt_step(&a, &in);
        rung = d.rung;
    }
    EXPECT_TRUE(d.base_rtt_ms > 190 && d.base_rtt_ms <= 200);
    EXPECT_TRUE(d.queue_ms < 20);
    EXPECT_TRUE(rung >= 2);
}

/* A viewer on rung 2 after failed probes on a thin path (hold 12 s, the link's capacity
 * fresh), then 3 s on a 40 ms 20 Mbit/s path; returns the time it reached medium (0: not). */
static int64_t climb_after_thin_path(double base_at_down_ms)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    a.up_hold_us = 12000000;
    a.last_change_us = t;
    a.base_rtt_at_down_ms = base_at_down_ms;
    a.capacity_kbps = 1900;
    a.capacity_us = t;
    a.capacity_kind = VG_ADAPT_CAPACITY_LINK;
    a.segs_sum = 1000;
    a.retrans_sum = 10;
    double q = 0;
    link_t fast = {20000, 40};
    int rung = 2;
    for (int i = 0; i < 4 * 3; i++) {
        t += 250000;
        rung = sample(&a, t, rung, &fast, &q).rung;
        if (rung == MEDIUM)
            return t - 100000000;
    }
    return 0;
}

VG_TEST(a_much_shorter_path_forgets_the_thin_links_capacity_and_backoff)
{
    /* The path became much shorter than at the last step down (a thin 200 ms uplink gave
     * way to a good one): the viewer climbs within one short hold, not after 12 s or the
     * capacity's 20 s. The same trace on the same path length does not climb. */
    int64_t took = climb_after_thin_path(200);
    EXPECT_TRUE(took > 0 && took <= 3000000);
    EXPECT_EQ(climb_after_thin_path(40), 0);
}

VG_TEST(a_failed_probe_doubles_the_hold)
{
    /* A ladder whose measured bitrate under-reads the next rung (it costs more than said):
     * the step up fails, and the next try waits longer. */
    vg_adapt_t a;
    vg_adapt_init(&a);
    vg_adapt_input_t in = {.rung_count = RUNGS, .rung_kbps = LADDER, .has_tcp = true,
                           .rtt_ms = 50, .min_rtt_ms = 50, .delivery_kbps = 2000,
                           .inflight_bytes = 20000, .client_fps = -1, .offered = 8};
    int64_t t = 0;
    int rung = 2, ups = 0;
    int64_t ups_at[8];
    for (int i = 0; i < 4 * 60; i++) {
        t += 250000;
        in.now_us = t;
        in.rung = rung;
        in.delivery_kbps = 2000 + (double)(i % 3); /* fresh samples */
        in.rtt_ms = rung == 3 ? 50 + 300 : 50; /* tiny15 does not fit after all */
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (d.rung > rung && ups < 8)
            ups_at[ups++] = t;
        rung = d.rung;
    }
    EXPECT_TRUE(ups >= 3);
    EXPECT_TRUE(ups_at[2] - ups_at[1] > ups_at[1] - ups_at[0]);
    EXPECT_TRUE(a.up_hold_us > 3000000);
}

VG_TEST(client_that_cannot_keep_up_moves_down_and_local_drops_count)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    vg_adapt_input_t in = {.rung = MEDIUM, .rung_count = RUNGS, .rung_kbps = LADDER,
                           .has_tcp = true, .rtt_ms = 20, .min_rtt_ms = 20,
                           .delivery_kbps = 50000, .inflight_bytes = 20000,
                           .client_fps = 12, .sent_fps = 30, .offered = 8};
    in.now_us = 250000;
    vg_adapt_decision_t d = vg_adapt_step(&a, &in);
    EXPECT_EQ(d.rung, MEDIUM - 1);
    EXPECT_TRUE(d.reason && d.reason[0] == 'c');
    /* Frames replaced locally (no TCP_INFO at all): over the bound for 0.5 s, then down. */
    vg_adapt_init(&a);
    vg_adapt_input_t local = {.rung = 2, .rung_count = RUNGS, .rung_kbps = LADDER,
                              .has_tcp = false, .client_fps = -1, .offered = 8, .replaced = 4};
    local.now_us = 250000;
    EXPECT_EQ(vg_adapt_step(&a, &local).rung, 2);
    local.now_us = 500000;
    EXPECT_EQ(vg_adapt_step(&a, &local).rung, 2);
    local.now_us = 750000;
    EXPECT_EQ(vg_adapt_step(&a, &local).rung, 1);
    /* No rate known: never a step up. */
    local.replaced = 0;
    for (int i = 0; i < 100; i++) {
        local.now_us += 250000;
        local.rung = 1;
        EXPECT_EQ(vg_adapt_step(&a, &local).rung, 1);
    }
}

VG_TEST(unknown_costs_step_down_one_rung_only)
{
    /* Before any tier has been measured (a viewer's first second), a deep queue moves it
     * one rung, not to the bottom. */
    static const double unknown[RUNGS] = {0};
    vg_adapt_t a;
    vg_adapt_init(&a);
    vg_adapt_input_t in = {.now_us = 250000, .rung = MEDIUM, .rung_count = RUNGS,
                           .rung_kbps = unknown, .has_tcp = true, .rtt_ms = 400,
                           .min_rtt_ms = 80, .delivery_kbps = 4800, .inflight_bytes = 60000,
                           .client_fps = -1, .offered = 8};
    EXPECT_EQ(vg_adapt_step(&a, &in).rung, MEDIUM - 1);
    /* And with the costs known, as far as the rate needs. */
    vg_adapt_init(&a);
    in.rung_kbps = LADDER;
    EXPECT_EQ(vg_adapt_step(&a, &in).rung, 3); /* deep: half of 4.8 Mbit/s, tiny15 */
}

VG_TEST(nothing_in_flight_means_no_queue_and_stale_rates_are_ignored)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    /* Frames held back while a queue drained: the RTT is the last one measured, nothing is
     * in flight, so nothing is queued. */
    vg_adapt_input_t in = {.now_us = 250000, .rung = 3, .rung_count = RUNGS,
                           .rung_kbps = LADDER, .has_tcp = true, .rtt_ms = 900,
                           .min_rtt_ms = 200, .delivery_kbps = 1900, .client_fps = -1};
    vg_adapt_decision_t d = vg_adapt_step(&a, &in);
    EXPECT_TRUE(d.queue_ms == 0 && !d.is_draining);
    /* With bytes in flight the same RTT is a 700 ms queue: drain, and step down. */
    in.now_us += 250000;
    in.inflight_bytes = 100000;
    in.delivery_kbps = 1901;
    d = vg_adapt_step(&a, &in);
    EXPECT_TRUE(d.is_draining);
    EXPECT_TRUE(d.rung < 3);
    /* The kernel repeating a 20 Mbit/s sample from before the link got worse is no news: it
     * takes nobody back up. */
    vg_adapt_init(&a);
    in = (vg_adapt_input_t){.rung = 2, .rung_count = RUNGS, .rung_kbps = LADDER,
                            .has_tcp = true, .rtt_ms = 200, .min_rtt_ms = 200,
                            .delivery_kbps = 20000, .inflight_bytes = 10000, .client_fps = -1,
                            .offered = 8};
    in.now_us = 250000;
    vg_adapt_step(&a, &in); /* the first sight of it counts */
    vg_adapt_init(&a);
    a.last_delivery_kbps = 20000; /* seen before */
    for (int i = 0; i < 40; i++) {
        in.now_us += 250000;
        EXPECT_EQ(vg_adapt_step(&a, &in).rung, 2);
    }
}

/* A lossy link: every 100th segment (1%) is retransmitted, and the sample that sees one also
 * sees the stall it causes (a round trip of frames waiting unsent). */
static int run_lossy(vg_adapt_t *a, int64_t *t, int rung, const link_t *l, double loss,
                     double secs, int *downs_after_warmup, double warmup_s)
{
    int64_t start = *t;
    double q = 0, segs_carry = 0;
    for (int i = 0; i < (int)(secs * 4); i++) {
        *t += 250000;
        double send = LADDER[rung];
        if (send > l->kbps)
            q += (send - l->kbps) * 0.25 / l->kbps * 1000;
        else if (q > 0)
            q -= (l->kbps - send) * 0.25 / l->kbps * 1000;
        if (q < 0)
            q = 0;
        double segs = send * 250 / 8 / 1448; /* kbit/s x 250 ms / bits per segment */
        segs_carry += segs * loss;
        uint32_t retrans = 0;
        if (segs_carry >= 1) {
            retrans = (uint32_t)segs_carry;
            segs_carry -= retrans;
        }
        vg_adapt_input_t in = {
            .now_us = *t,
            .rung = rung,
            .rung_count = RUNGS,
            .rung_kbps = LADDER,
            .has_tcp = true,
            .rtt_ms = l->rtt_ms + q,
            .min_rtt_ms = l->rtt_ms,
            .delivery_kbps = l->kbps * (0.98 + 0.01 * (double)((*t / 250000) % 3)),
            .inflight_bytes = 20000,
            /* a retransmission: what was written during the round trip waits behind it */
            .unsent_bytes = retrans ? (uint32_t)(send * l->rtt_ms / 8) : 0,
            .acked_kbps = retrans ? send * 0.3 : send,
            .sent_segs = (uint32_t)segs + retrans,
            .retrans_segs = retrans,
            .offered = 8,
            .client_fps = -1,
        };
        vg_adapt_decision_t d = vg_adapt_step(a, &in);
        if (d.rung < rung && *t - start > warmup_s * 1e6)
            (*downs_after_warmup)++;
        rung = d.rung;
    }
    return rung;
}

VG_TEST(lossy_links_keep_room_for_retransmissions_and_do_not_flee_their_stalls)
{
    /* 2 Mbit/s, 100 ms each way, 1% loss: tiny15 (1.5 Mbit/s, 75%) would fit a clean link,
     * but the measured loss shrinks the share to 72%: thin (778 kbit/s) is what stays. */
    const link_t two = {2000, 200}, one = {1000, 400};
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0;
    int downs = 0;
    int rung = run_lossy(&a, &t, MEDIUM, &two, 0.01, 40, &downs, 15);
    EXPECT_EQ(rung, 2);
    EXPECT_EQ(downs, 0);
    /* The same link without loss: tiny15 fits under 80%. */
    vg_adapt_init(&a);
    t = 0;
    downs = 0;
    rung = run_lossy(&a, &t, MEDIUM, &two, 0, 40, &downs, 15);
    EXPECT_EQ(rung, 3);
    /* 1 Mbit/s, 200 ms each way, 2% loss: the retransmission stalls (a 400 ms backlog each
     * time) do not push the viewer below thin5, and it does not keep stepping down. */
    vg_adapt_init(&a);
    t = 0;
    downs = 0;
    rung = run_lossy(&a, &t, MEDIUM, &one, 0.02, 40, &downs, 15);
    EXPECT_TRUE(rung >= 1 && rung <= 2);
    EXPECT_EQ(downs, 0);
    vg_adapt_decision_t d;
    vg_adapt_input_t in = {.now_us = t + 250000, .rung = rung, .rung_count = RUNGS,
                           .rung_kbps = LADDER, .has_tcp = true, .rtt_ms = 400,
                           .min_rtt_ms = 400, .delivery_kbps = 950, .client_fps = -1,
                           .sent_segs = 20};
    d = vg_adapt_step(&a, &in);
    EXPECT_TRUE(d.loss > 0.01 && d.loss < 0.04); /* visible as measured */
}

VG_TEST(one_stalled_quarter_second_does_not_send_the_viewer_to_the_bottom)
{
    /* tiny15 (1.5 Mbit/s) on a link that carries 1.2: a queue builds, 61 ms a sample; over
     * its bound (65 ms) from the second sample, acted on half a second later. The sample that
     * acts holds a stall (a tail loss whose retransmission the kernel counts later): what the
     * peer acknowledged in it reads 40 kbit/s. The step goes to what the link carried over
     * the last samples (thin, 778 kbit/s), not to thin1 (64). */
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0;
    double q = 0;
    vg_adapt_decision_t d = {.rung = 3};
    int i;
    for (i = 0; i < 8; i++) {
        t += 250000;
        q += (LADDER[3] - 1200) * 0.25 / 1200 * 1000;
        vg_adapt_input_t in = {.now_us = t, .rung = 3, .rung_count = RUNGS, .rung_kbps = LADDER,
                               .has_tcp = true, .rtt_ms = 100 + q, .min_rtt_ms = 100,
                               .delivery_kbps = 1200 + (i % 3), .inflight_bytes = 20000,
                               .acked_kbps = i == 3 ? 40 : 1200, .offered = 4,
                               .client_fps = -1};
        d = vg_adapt_step(&a, &in);
        if (d.rung != 3)
            break;
    }
    EXPECT_EQ(i, 3);
    EXPECT_EQ(d.rung, 2);
    EXPECT_STREQ(d.reason, "congested");
}

/* The bottleneck queue after a quarter second of sending send_kbps into link_kbps. */
static double queue_after(double queue_ms, double send_kbps, double link_kbps)
{
    queue_ms += (send_kbps - link_kbps) * 0.25 / link_kbps * 1000;
    return queue_ms > 0 ? queue_ms : 0;
}

VG_TEST(a_link_that_just_got_thin_is_not_climbed_back_on_the_old_links_rate)
{
    /* Recorded (weaklink bench, bbr): medium over 20 Mbit/s, 40 ms, then the link becomes
     * 2 Mbit/s, 200 ms. The kernel's delivery rate keeps the fast link's 19.5 Mbit/s (no
     * better sample replaces it); what the peer acknowledged collapses, and the deep queue
     * overflows once (one retransmission, no loss to speak of). The step goes to a rung the
     * new link carries, and the rate read then (a guess made while the queue was deep) does
     * not take the viewer back up while it drains. */
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0;
    int rung = MEDIUM;
    for (int i = 0; i < 48; i++) { /* 12 s on the fast link */
        t += 250000;
        vg_adapt_input_t in = {.now_us = t, .rung = rung, .rung_count = RUNGS,
                               .rung_kbps = LADDER, .has_tcp = true, .rtt_ms = 50.3,
                               .min_rtt_ms = 40.2, .delivery_kbps = 19550, .is_app_limited = true,
                               .acked_kbps = i % 2 ? 11314 : 12234, .inflight_bytes = 90000,
                               .sent_segs = 250, .offered = 8, .client_fps = -1};
        rung = vg_adapt_step(&a, &in).rung;
    }
    EXPECT_EQ(rung, MEDIUM);
    const struct {
        double rtt_ms, acked_kbps;
        uint32_t unsent, inflight, sent, retrans, replaced;
    } cut[] = {{123.0, 3236, 46810, 304080, 245, 0, 0}, {389.6, 46, 35698, 363448, 43, 1, 5}};
    vg_adapt_decision_t d = {.rung = rung};
    for (int i = 0; i < 2 && d.rung == MEDIUM; i++) {
        t += 250000;
        vg_adapt_input_t in = {.now_us = t, .rung = rung, .rung_count = RUNGS,
                               .rung_kbps = LADDER, .has_tcp = true, .rtt_ms = cut[i].rtt_ms,
                               .min_rtt_ms = 40.2, .delivery_kbps = 19550, .is_app_limited = true,
                               .acked_kbps = cut[i].acked_kbps, .unsent_bytes = cut[i].unsent,
                               .inflight_bytes = cut[i].inflight, .sent_segs = cut[i].sent,
                               .retrans_segs = cut[i].retrans, .offered = 8,
                               .replaced = cut[i].replaced, .client_fps = -1};
        d = vg_adapt_step(&a, &in);
    }
    EXPECT_TRUE(d.rung <= 3); /* tiny15 (1.5 Mbit/s) or below */
    rung = d.rung;
    /* 6 s more: the queue (1.2 s at its worst) drains at 2 Mbit/s, the delivery rate still
     * reads 19.5, and the acknowledged rate is what the rung sends. */
    double q = 1200;
    int highest = rung, false_downs = 0;
    for (int i = 0; i < 56; i++) {
        t += 250000;
        double send = d.is_draining ? 0 : LADDER[rung];
        q = queue_after(q, send, 2000);
        vg_adapt_input_t in = {.now_us = t, .rung = rung, .rung_count = RUNGS,
                               .rung_kbps = LADDER, .has_tcp = true, .rtt_ms = 200 + q,
                               .min_rtt_ms = 40.2, .delivery_kbps = 19550, .is_app_limited = true,
                               .acked_kbps = q > 0 ? 2000 : send, .inflight_bytes = 20000,
                               .sent_segs = 30, .offered = 8, .client_fps = -1};
        d = vg_adapt_step(&a, &in);
        if (d.rung < rung && q < 1)
            false_downs++;
        rung = d.rung;
        if (i < 24 && rung > highest)
            highest = rung;
    }
    EXPECT_TRUE(highest <= 3);
    /* ... and the longer path (200 ms, where the buckets held 40-120 from the cut and the
     * drain) is not read as a standing queue once the queue is gone: no step down while
     * nothing is queued (14 s in all). */
    EXPECT_EQ(false_downs, 0);
}

/* Seconds on `rung` whose app-limited samples read about `seen` kbps whatever the rung sends,
 * losing `loss` of the segments; returns the highest rung taken. */
static int climbs_on_samples_over(int rung, double seen, double loss, double secs, double rtt_ms,
                                  double fps)
{
    double rung_fps[RUNGS];
    for (int r = 0; r < RUNGS; r++)
        rung_fps[r] = fps;
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0;
    int highest = rung;
    for (int i = 0; i < (int)(secs * 4); i++) {
        t += 250000;
        vg_adapt_input_t in = {.now_us = t, .rung = rung, .rung_count = RUNGS,
                               .rung_kbps = LADDER, .rung_fps = fps > 0 ? rung_fps : NULL,
                               .has_tcp = true, .rtt_ms = rtt_ms, .min_rtt_ms = rtt_ms,
                               .delivery_kbps = seen * (0.98 + 0.01 * (i % 3)),
                               .is_app_limited = true, .acked_kbps = LADDER[rung],
                               .inflight_bytes = 20000, .sent_segs = 100,
                               /* a burst of losses every 2 s */
                               .retrans_segs = i % 8 == 7 ? (uint32_t)(800 * loss + 0.5) : 0,
                               .offered = 4,
                               .client_fps = -1};
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        /* The test's link never queues: a step down would be a bug, but for one from a rung
         * whose frames the samples show to take too long on the path (tiny's, probed at 15 fps
         * on 3.2 Mbit/s: 70 ms each). */
        if (d.rung < rung)
            return d.reason && strcmp(d.reason, "frame") == 0 ? highest : -1;
        rung = d.rung;
        if (rung > highest)
            highest = rung;
    }
    return highest;
}

static int climbs_on_samples(int rung, double seen, double loss, double secs)
{
    return climbs_on_samples_over(rung, seen, loss, secs, 200, 0);
}

VG_TEST(samples_that_show_the_link_bound_the_probes)
{
    /* tiny15 (1.5 Mbit/s) whose frames' bursts show 3.2 Mbit/s: tiny (3.4) would not fit,
     * and is never tried blind; samples nearer the rung's own rate (2.0) cannot tell (a
     * flight may hold two frames), and it probes up. */
    EXPECT_EQ(climbs_on_samples(3, 3200, 0, 20), 3);
    EXPECT_TRUE(climbs_on_samples(3, 2000, 0, 20) >= 4);
    /* On a 2% lossy link the same closeness is the link: thin (778) showing 800 stays. */
    EXPECT_EQ(climbs_on_samples(2, 800, 0.02, 20), 2);
    /* ... and from thin1 samples of 600 let it try thin5 (323 fits 64% of 600). */
    EXPECT_TRUE(climbs_on_samples(0, 600, 0.02, 20) >= 1);
    /* A small flight's sample is its size over the round trip: tiny15 at 15 fps (12 KB
     * frames) reads 2.5 Mbit/s on a 40 ms path whatever the link, and a reading of 3.2 still
     * probes; on a 220 ms path the same reading is the link's. */
    EXPECT_TRUE(climbs_on_samples_over(3, 3200, 0, 20, 40, 15) >= 4);
    EXPECT_EQ(climbs_on_samples_over(3, 3200, 0, 20, 220, 15), 3);
}

VG_TEST(a_probe_the_link_cannot_carry_is_undone_within_half_a_second)
{
    /* tiny15 on a 2 Mbit/s, 220 ms link whose samples cannot tell (2.0): the probe to tiny
     * (3.4) builds a queue at once, and it is answered after one sample over the bound, not
     * after the second a step down leaves to settle. */
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0, up_at = 0;
    int rung = 3, probes = 0;
    double q = 0, worst = 0, longest_probe_us = 0;
    vg_adapt_decision_t d = {.rung = rung};
    for (int i = 0; i < 120; i++) {
        t += 250000;
        double send = d.is_draining ? 0 : LADDER[rung];
        q = queue_after(q, send, 2000);
        if (q > worst)
            worst = q;
        vg_adapt_input_t in = {.now_us = t, .rung = rung, .rung_count = RUNGS,
                               .rung_kbps = LADDER, .has_tcp = true, .rtt_ms = 220 + q,
                               .min_rtt_ms = 220, .delivery_kbps = 2000 + (i % 3),
                               .is_app_limited = true, .acked_kbps = send < 2000 ? send : 2000,
                               .unsent_bytes = 0, .inflight_bytes = 20000, .sent_segs = 60,
                               .offered = 4, .client_fps = -1};
        d = vg_adapt_step(&a, &in);
        if (d.rung > rung && d.rung == 4) {
            probes++;
            up_at = t;
        } else if (d.rung < rung && up_at && t - up_at > longest_probe_us) {
            longest_probe_us = (double)(t - up_at);
        }
        rung = d.rung;
    }
    EXPECT_TRUE(probes >= 1); /* it did try */
    EXPECT_TRUE(probes <= 3); /* the hold doubles after each failure: 2, 4, 8 s */
    EXPECT_TRUE(longest_probe_us <= 500000); /* answered on the second sample */
    EXPECT_TRUE(worst < 400); /* a 70% overload adds 170 ms a sample */
}

/* Steps down over 30 s of a rung (tiny, 3.4 Mbit/s) on a 5 Mbit/s, 80 ms link whose
 * keyframe, every 2 s, stands in the queue for three samples (200, 150, 100 ms). */
static int downs_with_keyframes(uint32_t burst_bytes)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0;
    int rung = 4, downs = 0;
    static const double keyframe_queue[8] = {200, 150, 100, 0, 0, 0, 0, 0};
    for (int i = 0; i < 120; i++) {
        t += 250000;
        vg_adapt_input_t in = {.now_us = t, .rung = rung, .rung_count = RUNGS,
                               .rung_kbps = LADDER, .has_tcp = true,
                               .rtt_ms = 80 + keyframe_queue[i % 8], .min_rtt_ms = 80,
                               .delivery_kbps = 5000 + (i % 3), .inflight_bytes = 40000,
                               .acked_kbps = LADDER[rung], .sent_segs = 80, .offered = 8,
                               .burst_bytes = burst_bytes, .client_fps = -1};
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (d.rung < rung)
            downs++;
        rung = d.rung;
    }
    return downs;
}

VG_TEST(a_keyframes_time_on_a_link_that_carries_the_stream_is_not_a_queue)
{
    /* a 100 KB keyframe takes 160 ms at 5 Mbit/s: allowed on top of the bound */
    EXPECT_EQ(downs_with_keyframes(100000), 0);
    /* the control: without knowing the frame, the same trace reads as a queue */
    EXPECT_TRUE(downs_with_keyframes(0) >= 1);
}

VG_TEST(a_new_connections_first_frame_held_by_its_window_is_not_a_queue)
{
    /* Recorded (20 Mbit/s, 20 ms, bbr): the first sample after the hello. Half of medium's
     * first 50 KB frame waits unsent behind the initial window, and the only rate known is
     * the hello's (565 kbit/s, app-limited): read as a queue that is 369 ms, and the viewer
     * went to thin5 on a 20 Mbit/s link. */
    vg_adapt_t a;
    vg_adapt_init(&a);
    vg_adapt_input_t in = {.now_us = 250000, .rung = MEDIUM, .rung_count = RUNGS,
                           .rung_kbps = LADDER, .has_tcp = true, .rtt_ms = 40.3,
                           .min_rtt_ms = 40.3, .delivery_kbps = 565, .is_app_limited = true,
                           .unsent_bytes = 26064, .inflight_bytes = 17376, .sent_segs = 15,
                           .offered = 1, .client_fps = -1};
    vg_adapt_decision_t d = vg_adapt_step(&a, &in);
    EXPECT_EQ(d.rung, MEDIUM);
    EXPECT_TRUE(!d.is_draining);
    /* ... and the link then carries it: it stays (2 s). */
    int64_t t = 250000;
    double q = 0;
    link_t fast = {20000, 40};
    EXPECT_EQ(run(&a, &t, MEDIUM, &fast, 2, &q, NULL, NULL, 0), MEDIUM);
}

/* A sample of the traces below: the ladder, a TCP reading and nothing replaced; each trace
 * sets what it varies. */
static vg_adapt_input_t trace_input(int64_t t_us, int rung)
{
    return (vg_adapt_input_t){.now_us = t_us, .rung = rung, .rung_count = RUNGS,
                              .rung_kbps = LADDER, .has_tcp = true, .offered = 8,
                              .client_fps = -1};
}

/* A viewer on a good link after a lossy one (recovery under cubic, 2026-12-06 trace): the
 * congestion window is still small, so each frame's flight is limited by it, not by the link,
 * and the kernel does not flag such a sample app-limited. It reads a little above what the
 * rung sends, with no queue at all. Taken as the link's capacity, each one held the viewer a
 * rung for the capacity's 8 s: 20 s back on the good link never reached medium. */
static int64_t climb_with_window_limited_samples(double queue_ms_of_samples)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    int rung = 3; /* tiny15, where the trace sat */
    a.last_change_us = t;
    for (int i = 0; i < 4 * 20; i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, rung);
        /* (a flight the link limits queues: its sample comes with a longer RTT) */
        in.rtt_ms = 40 + (i % 2 == 0 ? 0 : queue_ms_of_samples);
        in.min_rtt_ms = 40;
        in.delivery_kbps = LADDER[rung] * (1.6 + 0.01 * (i % 3));
        in.is_app_limited = i % 2 == 0; /* the kernel flags some of them */
        in.inflight_bytes = 14000;
        rung = vg_adapt_step(&a, &in).rung;
        if (rung == MEDIUM)
            return t - 100000000;
    }
    return 0;
}

VG_TEST(samples_limited_by_the_window_with_no_queue_are_not_the_links_capacity)
{
    int64_t took = climb_with_window_limited_samples(0);
    EXPECT_TRUE(took > 0 && took <= 10000000);
    /* The same samples with a queue behind them are the link's: it carries about 1.6 times
     * tiny15, and they cap the climb for their 8 s. */
    took = climb_with_window_limited_samples(30);
    EXPECT_TRUE(took == 0 || took > 10000000);
}

/* The kernel keeps its last delivery-rate sample until an app-limited one reads higher: after
 * a lossy link its last one was limited by the window (1,767 kbit/s, not flagged app-limited)
 * and every small flight since read lower. The same value, not flagged, for 20 s on a
 * 20 Mbit/s link held a viewer on thin: it read as a link sample, never as room to probe. */
static int climb_on_a_stale_sample(bool is_stale)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    int rung = 2;
    a.last_change_us = t;
    for (int i = 0; i < 4 * 15; i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rtt_ms = 42.5 + (i % 2) * 3.5;
        in.min_rtt_ms = 40;
        in.delivery_kbps = is_stale ? 1767 : 1767 + (i % 7);
        in.inflight_bytes = 7240;
        in.sent_segs = 15;
        in.offered = 4;
        rung = vg_adapt_step(&a, &in).rung;
    }
    return rung;
}

VG_TEST(a_stale_delivery_sample_means_the_viewer_sends_less_than_the_link_takes)
{
    EXPECT_EQ(climb_on_a_stale_sample(true), MEDIUM);
    /* Fresh samples at that rate, not app-limited and with no queue, are no evidence either
     * way: a probe needs room shown or an app-limited sender. */
    EXPECT_TRUE(climb_on_a_stale_sample(false) < MEDIUM);
}

/* The link degrades to a thin, lossy one with a longer path, and the viewer steps down at
 * once, while its base is still the good path's (40 ms). On the thin path (210 ms) it learns
 * loss and a capacity. Back on the good path, it must see the change against the thin path's
 * base, forget the thin link and climb. */
static int64_t climb_after_a_return(void)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    int rung = 2;
    a.last_change_us = t;
    a.base_rtt_at_down_ms = 40;
    a.capacity_kbps = 1900;
    a.capacity_us = t;
    a.capacity_kind = VG_ADAPT_CAPACITY_LINK;
    for (int i = 0; i < 4 * 40; i++) {
        bool is_back = i >= 4 * 20;
        t += 250000;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rtt_ms = is_back ? 40 : 210;
        in.min_rtt_ms = 40;
        /* back on the good path small flights read a little above what the rung sends */
        in.delivery_kbps = is_back ? 1.5 * LADDER[rung] + (i % 5) : 1000 + (i % 5);
        in.is_app_limited = is_back;
        in.inflight_bytes = 6000;
        in.sent_segs = 20;
        in.retrans_segs = !is_back && i % 5 == 0; /* 1% */
        rung = vg_adapt_step(&a, &in).rung;
        if (is_back && rung == MEDIUM)
            return t - 100000000 - 20000000;
    }
    return 0;
}

VG_TEST(a_return_to_the_good_path_is_seen_against_the_thin_paths_own_base)
{
    int64_t took = climb_after_a_return();
    EXPECT_TRUE(took > 0 && took <= 8000000);
}

/* From the bottom a rung of 400 kbit/s or less is tried without evidence: on a clean link a
 * try costs little. On a lossy one it did not (1 Mbit/s, 2% loss under cubic, which carries
 * about 250 kbit/s: a try from h264-thin10 to h264-tiny15 put p95 over a second). */
static int floor_probes(int retrans_every, bool is_loss_based)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    int rung = 0, ups = 0;
    for (int i = 0; i < 4 * 15; i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rtt_ms = 400; /* the 1 Mbit/s link's path, where cubic carries about 250 kbit/s */
        in.min_rtt_ms = 400;
        in.delivery_kbps = 120 + (i % 3); /* small flights: their size over the RTT */
        in.is_app_limited = true;
        in.is_loss_based = is_loss_based;
        in.inflight_bytes = 2000;
        in.sent_segs = 5;
        in.retrans_segs = retrans_every && i % retrans_every == 0;
        int next = vg_adapt_step(&a, &in).rung;
        ups += next > rung;
        rung = next;
        if (rung > 0)
            break;
    }
    return ups;
}

VG_TEST(floor_probes_wait_for_a_clean_link_under_a_loss_based_control)
{
    EXPECT_EQ(floor_probes(0, true), 1);
    EXPECT_EQ(floor_probes(10, true), 0); /* 2% of its segments retransmitted, under cubic */
    EXPECT_EQ(floor_probes(10, false), 1); /* BBR does not back off on loss */
}

/* A camera's keyframe (100 KB every 2 s) on rung 4, vigil's own (25 KB) on rung 3,
 * the ladder's top at rung 4 as `source` is: 30 s of a link from `rung`. The keyframe's flight
 * is the link's (a standing queue of its time on the link); the frames between are app-limited. */
static const uint32_t KEY_BURSTS[RUNGS] = {0, 0, 0, 25000, 100000, 0, 0, 0};

static int keyframes_on(double link_kbps, int rung, int *bursts, int *ups)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    static const double keyframe_queue[8] = {160, 110, 60, 0, 0, 0, 0, 0}; /* at 5 Mbit/s */
    for (int i = 0; i < 4 * 30; i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rung_count = 5;
        in.rung_burst_bytes = KEY_BURSTS;
        in.rtt_ms = 80 + keyframe_queue[i % 8] * 5000 / link_kbps * KEY_BURSTS[rung] / 100000;
        in.min_rtt_ms = 80;
        in.delivery_kbps = link_kbps * (0.98 + 0.01 * (i % 3));
        in.is_app_limited = i % 8 >= 2;
        in.inflight_bytes = 40000;
        in.acked_kbps = LADDER[rung];
        in.sent_segs = 80;
        in.burst_bytes = KEY_BURSTS[rung];
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (d.rung < rung && d.reason && strcmp(d.reason, "burst") == 0)
            (*bursts)++;
        *ups += d.rung > rung;
        rung = d.rung;
    }
    return rung;
}

VG_TEST(a_rung_whose_keyframe_the_link_does_not_carry_in_time_is_left)
{
    /* 5 Mbit/s carries rung 4's 3.4 Mbit/s, but its keyframe takes 160 ms: the viewer goes
     * to rung 3 (its keyframe 40 ms) and does not try rung 4 again while the capacity
     * stands. */
    int bursts = 0, ups = 0;
    EXPECT_EQ(keyframes_on(5000, 4, &bursts, &ups), 3);
    EXPECT_EQ(bursts, 1);
    EXPECT_EQ(ups, 0);
    bursts = ups = 0;
    EXPECT_EQ(keyframes_on(5000, 3, &bursts, &ups), 3);
    EXPECT_EQ(ups, 0);
    /* At 20 Mbit/s the keyframe takes 40 ms: the viewer stays, or climbs to it. */
    bursts = ups = 0;
    EXPECT_EQ(keyframes_on(20000, 4, &bursts, &ups), 4);
    EXPECT_EQ(bursts, 0);
    bursts = ups = 0;
    EXPECT_EQ(keyframes_on(20000, 3, &bursts, &ups), 4);
    EXPECT_EQ(ups, 1);
}

/* A viewer on `rung` on a lossy 2 Mbit/s, 200 ms path: the frames' bursts show the link's
 * 2 Mbit/s, and 1% of the segments are retransmitted. Returns the rung after 20 s; counts the
 * steps down for loss. */
static int on_a_lossy_link(int rung, bool is_loss_based, int *loss_downs)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    a.last_change_us = t;
    for (int i = 0; i < 4 * 20; i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rtt_ms = 200;
        in.min_rtt_ms = 200;
        in.delivery_kbps = 2000 + (i % 3);
        in.is_app_limited = true;
        in.is_loss_based = is_loss_based;
        in.mss_bytes = 1448;
        in.inflight_bytes = 8000;
        in.sent_segs = 25;
        in.retrans_segs = i % 8 == 0 ? 2 : 0;
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (d.rung < rung && d.reason && strcmp(d.reason, "loss") == 0)
            (*loss_downs)++;
        rung = d.rung;
    }
    return rung;
}

VG_TEST(a_viewer_counts_on_no_more_than_a_loss_based_control_carries)
{
    int downs = 0;
    /* cubic carries about 700 kbit/s there: low (778) would queue */
    EXPECT_EQ(on_a_lossy_link(1, true, &downs), 1);
    /* BBR carries most of the link: low fits */
    EXPECT_EQ(on_a_lossy_link(1, false, &downs), 2);
    EXPECT_EQ(downs, 0);
    /* A viewer already on low leaves it once the loss is known, under cubic only. */
    EXPECT_EQ(on_a_lossy_link(2, true, &downs), 1);
    EXPECT_EQ(downs, 1);
    downs = 0;
    EXPECT_EQ(on_a_lossy_link(2, false, &downs), 2);
    EXPECT_EQ(downs, 0);
}

/* One sample of a viewer on `rung` over a link of link_kbps and base_ms: what it sends beyond
 * the link queues up; the kernel's samples show the link only while a queue stands, else what
 * the rung sends (a small stream's flights are limited by it). */
static int blind_sample(vg_adapt_t *a, int64_t t, int rung, double link_kbps, double base_ms,
                        double *queue_ms)
{
    double send = LADDER[rung];
    *queue_ms += (send - link_kbps) * 0.25 / link_kbps * 1000;
    if (*queue_ms < 0)
        *queue_ms = 0;
    vg_adapt_input_t in = trace_input(t, rung);
    in.rtt_ms = base_ms + *queue_ms;
    in.min_rtt_ms = 40;
    bool is_queued = *queue_ms > 20;
    in.delivery_kbps = (is_queued ? link_kbps : send * 1.3) * (0.98 + 0.01 * ((t / 250000) % 3));
    in.is_app_limited = !is_queued;
    in.acked_kbps = send < link_kbps ? send : link_kbps;
    in.inflight_bytes = 20000;
    in.sent_segs = 40;
    return vg_adapt_step(a, &in).rung;
}

/* medium held `held_s` on a 20 Mbit/s, 40 ms path, then 15 s on a 2 Mbit/s, 240 ms one, then
 * the first path again: how long until the viewer is back on medium (0: not within 10 s). */
static int64_t back_on_the_good_path(double held_s)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    int rung = MEDIUM;
    double q = 0;
    for (int i = 0; i < (int)(held_s * 4); i++)
        rung = blind_sample(&a, t += 250000, rung, 20000, 40, &q);
    for (int i = 0; i < 4 * 15; i++)
        rung = blind_sample(&a, t += 250000, rung, 2000, 240, &q);
    EXPECT_TRUE(rung < 4);
    int64_t back = t;
    for (int i = 0; i < 4 * 10; i++) {
        rung = blind_sample(&a, t += 250000, rung, 20000, 40, &q);
        if (rung == MEDIUM)
            return t - back;
    }
    return 0;
}

VG_TEST(a_path_that_comes_back_gets_the_rung_it_held_at_once)
{
    /* medium held 20 s there: tried again as soon as the thin path's queue has drained */
    int64_t took = back_on_the_good_path(20);
    EXPECT_TRUE(took > 0 && took <= 1000000);
    /* held 5 s only, nothing is remembered: the climb goes a probe per hold (3 s here) */
    took = back_on_the_good_path(5);
    EXPECT_TRUE(took == 0 || took >= 2500000);
}

/* A viewer on the bottom rung (64 kbit/s, a 1 fps JPEG) of a 1 Mbit/s, 400 ms link under BBR,
 * for `secs`: BBR paces at `peak` kbit/s until t = 5 s, then at `after` (its estimate
 * collapsed after a loss, 2026-12-07 trace: 2.75 Mbit/s, then 52 kbit/s), and the network holds
 * `queue_ms` from then on. Returns how many times the control is restarted. */
static int pacing_restarts(double peak, double after, double queue_ms, double secs)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t0 = 100000000, t = t0;
    int restarts = 0;
    for (int i = 0; i < (int)(secs * 4); i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, 0);
        in.rtt_ms = 400 + (t - t0 < 5000000 ? 0 : queue_ms);
        in.min_rtt_ms = 400;
        in.delivery_kbps = 150;
        in.is_app_limited = true;
        in.inflight_bytes = 8000;
        in.offered = 1;
        /* a control that starts up paces ever faster: no restart while it does */
        in.pacing_kbps = t - t0 < 5000000 ? peak * (t - t0) / 5000000.0 : after;
        if (vg_adapt_step(&a, &in).is_pacing_restart) {
            restarts++;
            peak = after = 600; /* started afresh from its window */
        }
    }
    return restarts;
}

VG_TEST(a_control_whose_pacing_collapsed_below_the_rung_is_restarted_once)
{
    EXPECT_EQ(pacing_restarts(2750, 52, 0, 20), 1);
    /* pacing that still carries the rung, or fell only a little, is the control's business */
    EXPECT_EQ(pacing_restarts(2750, 100, 0, 20), 0);
    EXPECT_EQ(pacing_restarts(100, 40, 0, 20), 0);
    /* a queue in the network: the link, not the pacing, is short (a viewer above the bottom
     * steps down). (One that stands 5-10 s is read as a longer path, and then the rule may
     * restart the control, at most every 10 s.) */
    EXPECT_EQ(pacing_restarts(2750, 52, 300, 9), 0);
    /* a control that collapses again is restarted again, but not more often than every 10 s */
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    int restarts = 0;
    for (int i = 0; i < 4 * 25; i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, 0);
        in.rtt_ms = in.min_rtt_ms = 400;
        in.inflight_bytes = 8000;
        /* collapsed at 2 s, restarted, up to 600 kbit/s, collapsed again at 6 s */
        in.pacing_kbps = i < 8 ? 2750 : i < 16 ? 30 : i < 24 ? 600 : 30;
        restarts += vg_adapt_step(&a, &in).is_pacing_restart;
        if (i == 16)
            EXPECT_EQ(restarts, 1);
        if (i == 8 + 39)
            EXPECT_EQ(restarts, 1);
    }
    EXPECT_EQ(restarts, 2);
}

/* A viewer on `rung` for `secs` of a link of link_kbps on a path of rtt_ms that its stream never
 * fills: each frame's burst queues at the link for its own time there, so the smoothed RTT
 * stands about half of that over the path's; another flow may hold `foreign_ms` more.
 * Returns the rung at the end; counts the steps down for the frames' time on the link, and the
 * steps up. */
static int frames_on_shared(double link_kbps, double rtt_ms, int rung, double secs,
                            int *frame_downs, int *ups, double foreign_ms)
{
    static const double fps[RUNGS] = {1, 5, 12, 15, 30, 30, 30, 30};
    uint32_t mean_bytes[RUNGS]; /* JPEG rungs: every frame alike */
    for (int r = 0; r < RUNGS; r++)
        mean_bytes[r] = (uint32_t)(LADDER[r] / fps[r] * 1000 / 8);
    double kept_kbps = 0;
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    a.last_change_us = t; /* the viewer has just been put on the rung */
    double queue_ms = 0;
    for (int i = 0; i < (int)(secs * 4); i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rung_fps = fps;
        in.rung_burst_bytes = mean_bytes;
        double wire_ms = LADDER[rung] / fps[rung] * 1000 / link_kbps;
        /* (a rung the link does not carry queues up; the 4 Hz samples catch the frames' own
         * queue at different points) */
        double send = LADDER[rung];
        if (send > link_kbps)
            queue_ms += (send - link_kbps) * 0.25 / link_kbps * 1000;
        else if (queue_ms > 0)
            queue_ms -= (link_kbps - send) * 0.25 / link_kbps * 1000;
        if (queue_ms < 0)
            queue_ms = 0;
        in.rtt_ms = rtt_ms + foreign_ms + queue_ms + wire_ms * (0.3 + 0.2 * (i % 3));
        in.min_rtt_ms = rtt_ms;
        /* A stream's samples read about two frames per round trip (at most the link's rate:
         * medium read 18-24 Mbit/s on 20 and 40 Mbit/s links), and the kernel keeps the best
         * of them. */
        double sample = 2 * LADDER[rung] / fps[rung] * 1000 / rtt_ms;
        if (sample > link_kbps)
            sample = link_kbps;
        if (sample * (0.98 + 0.01 * (i % 3)) > kept_kbps)
            kept_kbps = sample * (0.98 + 0.01 * (i % 3));
        in.delivery_kbps = kept_kbps;
        in.is_app_limited = true;
        in.inflight_bytes = 20000;
        in.acked_kbps = LADDER[rung];
        in.sent_segs = 100;
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (d.rung < rung && d.reason && strcmp(d.reason, "frame") == 0)
            (*frame_downs)++;
        *ups += d.rung > rung;
        rung = d.rung;
    }
    return rung;
}

static int frames_on(double link_kbps, double rtt_ms, int rung, double secs, int *frame_downs,
                     int *ups)
{
    return frames_on_shared(link_kbps, rtt_ms, rung, secs, frame_downs, ups, 0);
}

VG_TEST(a_rung_whose_frames_take_too_long_on_the_link_is_left_for_the_delay)
{
    int downs = 0, ups = 0;
    /* 20 Mbit/s, 40 ms: medium's 12 Mbit/s fits the rate, but each 50 KB frame takes 20 ms,
     * more than half its interval and a third of the round trip: low (10 ms), once, and no
     * try at medium after it. */
    EXPECT_EQ(frames_on(20000, 40, MEDIUM, 30, &downs, &ups), MEDIUM - 1);
    EXPECT_EQ(downs, 1);
    EXPECT_EQ(ups, 0);
    /* From low, before any step down said whose the queue is, medium is tried once. */
    downs = ups = 0;
    EXPECT_EQ(frames_on(20000, 40, MEDIUM - 1, 30, &downs, &ups), MEDIUM - 1);
    EXPECT_EQ(downs, 1);
    EXPECT_EQ(ups, 1);
    /* At 40 Mbit/s medium's frame takes 10 ms: it stays. */
    downs = ups = 0;
    EXPECT_EQ(frames_on(40000, 40, MEDIUM, 30, &downs, &ups), MEDIUM);
    EXPECT_EQ(downs + ups, 0);
    /* 10 Mbit/s: low's frame takes 19 ms, within a third of a 100 ms round trip, not of 40. */
    downs = ups = 0;
    EXPECT_EQ(frames_on(10000, 100, MEDIUM - 1, 30, &downs, &ups), MEDIUM - 1);
    EXPECT_EQ(downs, 0);
    downs = ups = 0;
    EXPECT_EQ(frames_on(10000, 40, MEDIUM - 1, 30, &downs, &ups), MEDIUM - 2);
    EXPECT_EQ(downs, 1);
    /* A LAN: native's frames (150 KB) take 12 ms at 100 Mbit/s, and it is climbed to. */
    downs = ups = 0;
    EXPECT_EQ(frames_on(100000, 1, MEDIUM, 30, &downs, &ups), MEDIUM + 1);
    EXPECT_EQ(downs, 0);
    /* Another flow's 12 ms of queue at 40 Mbit/s reads as medium's frames taking 34 ms: one
     * step down, after which the queue does not shrink with the frames, and the viewer is back
     * on medium, not sent further down. */
    downs = ups = 0;
    EXPECT_EQ(frames_on_shared(40000, 40, MEDIUM, 30, &downs, &ups, 12), MEDIUM);
    EXPECT_EQ(downs, 1);
    EXPECT_EQ(ups, 1);
}

/* A `source` viewer (rung 4, the top) on a 20 Mbit/s, 40 ms link that becomes 2 Mbit/s, 200 ms
 * (the recovery bench's switch). The kernel keeps one delivery sample and no acknowledgement
 * is read, so the step down knows no rate. Returns how long after the switch the viewer first
 * stepped up (INT64_MAX: not in 10 s). */
static int64_t first_up_after_a_switch(void)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t0 = 100000000, t = t0;
    int rung = 4;
    double queue_ms = 0;
    for (int i = 0; i < 4 * 20; i++) {
        t += 250000;
        bool is_thin = t - t0 > 10000000;
        double link = is_thin ? 2000 : 20000, path = is_thin ? 200 : 40;
        double send = LADDER[rung];
        queue_ms += (send - link) * 0.25 / link * 1000;
        if (queue_ms < 0)
            queue_ms = 0;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rung_count = 5;
        in.rtt_ms = path + queue_ms;
        in.min_rtt_ms = 40;
        in.delivery_kbps = 19550;
        in.is_app_limited = true;
        in.inflight_bytes = 40000;
        in.unsent_bytes = (uint32_t)(queue_ms * link / 8);
        in.sent_segs = 100;
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (is_thin && d.rung > rung)
            return t - t0 - 10000000;
        rung = d.rung;
    }
    return INT64_MAX;
}

VG_TEST(a_step_down_that_read_no_rate_is_not_probed_back_at_once)
{
    /* The rung that queued up is taken as more than the link carries: it caps climbs for the
     * 4 s a guess is believed, and is not tried again while the guess is kept (before: a probe
     * back to it 2.25 s after the switch, as the bench saw). */
    EXPECT_TRUE(first_up_after_a_switch() >= 4000000);
}

/* A viewer on rung `start` of a ladder (kbps, fps, each rung's largest frame) on a good link
 * (good_kbps, 40 ms) that becomes 2 Mbit/s, 200 ms for 20 s (the recovery bench's switch). The kernel
 * keeps the good link's delivery sample (app-limited ones that read lower do not replace it),
 * so the only rate read on the thin link is what the peer acknowledged: the link's while the
 * queue stands, else what the rung sends; while the policy says the queue drains, the caller
 * sends nothing. With is_first_thin_read_old, the switch's first quarter second acknowledges
 * nothing and the kernel's new sample still measures the good link. Counts the thin link's
 * steps up to a rung that costs more than it carries and returns the richest rung held in the
 * last 5 s. */
static int thin_link_after_a_good_one(const double *kbps, const double *fps,
                                      const uint32_t *largest, int rung_count, int start,
                                      double good_kbps, bool is_first_thin_read_old,
                                      int *over_tries)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t0 = 100000000, t = t0;
    int rung = start, best = 0;
    double queue_ms = 0;
    bool is_draining = false, was_thin = false;
    *over_tries = 0;
    for (int i = 0; i < 4 * 30; i++) {
        t += 250000;
        bool is_thin = t - t0 > 10000000;
        double link = is_thin ? 2000 : good_kbps, path = is_thin ? 200 : 40;
        double send = is_draining ? 0 : kbps[rung];
        queue_ms += (send - link) * 0.25 / link * 1000;
        if (queue_ms < 0)
            queue_ms = 0;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rung_count = rung_count;
        in.rung_kbps = kbps;
        in.rung_fps = fps;
        in.rung_burst_bytes = largest;
        in.rtt_ms = path + queue_ms;
        in.min_rtt_ms = 40;
        in.delivery_kbps = 0.98 * good_kbps;
        in.is_app_limited = true;
        in.acked_kbps = queue_ms > 0 ? 0.97 * link : send;
        in.inflight_bytes = 40000;
        in.unsent_bytes = (uint32_t)(queue_ms * link / 8);
        in.sent_segs = 100;
        if (is_first_thin_read_old && is_thin && !was_thin) {
            /* nothing acknowledged yet; the kernel's new sample still measures the good link */
            in.acked_kbps = 0;
            in.delivery_kbps = 1.01 * good_kbps;
            in.is_app_limited = false;
        }
        was_thin = is_thin;
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (is_thin && d.rung > rung && kbps[d.rung] > link)
            (*over_tries)++;
        rung = d.rung;
        is_draining = d.is_draining;
        if (t - t0 > 25000000 && rung > best)
            best = rung;
    }
    return best;
}

VG_TEST(a_guess_of_the_link_keeps_probes_from_a_keyframe_it_cannot_carry)
{
    /* H.264 rungs from a viewer on a 6 Mbit/s one; the fifth costs 1.8 Mbit/s, under the 1.9
     * the step down read (acknowledged while the deep queue stood), but its 180 KB keyframes
     * take 750 ms there. Medium (1.3 Mbit/s, 40 KB keyframes, 160 ms) is tried and held; the
     * fifth is not (without the bound: tried 4 s after the step, and held, since this trace
     * knows only bitrates). */
    static const double kbps[] = {200, 450, 770, 1300, 1800, 6000};
    static const double fps[] = {10, 15, 30, 30, 30, 30};
    static const uint32_t keys[] = {8000, 12000, 25000, 40000, 180000, 60000};
    int tries;
    int best = thin_link_after_a_good_one(kbps, fps, keys, 6, 5, 20000, false, &tries);
    EXPECT_EQ(best, 3);
}

VG_TEST(a_guess_of_the_link_keeps_probes_from_a_rung_that_costs_more)
{
    /* The recovery bench's avc1 ladder (thin10, tiny15, low, medium, source), from `source`,
     * with keyframes the guess would carry (20 KB each): `source` (3.1 Mbit/s) costs more than
     * the 1.9 the step down read, and is not tried (it was 4-6 s after each step down, with
     * 180 KB keyframes; a JPEG viewer tried `tiny`, 3.4 Mbit/s, 8 s after its step). */
    static const double kbps[] = {200, 450, 770, 1300, 3100};
    static const double fps[] = {10, 15, 30, 30, 30};
    static const uint32_t keys[] = {20000, 20000, 20000, 20000, 20000};
    int tries;
    int best = thin_link_after_a_good_one(kbps, fps, keys, 5, 4, 20000, false, &tries);
    EXPECT_EQ(tries, 0);
    EXPECT_EQ(best, 3);
}

VG_TEST(a_deep_queue_reads_no_more_than_the_rung_that_built_it)
{
    /* The switch's first quarter second acknowledged nothing, and the kernel's sample then
     * still measured the good link (19.8 Mbit/s): taken as the guess, it let the viewer climb
     * back to `source` 2.25 s later (the bench, 2026-12-07). The rung that queued bounds it. */
    static const double kbps[] = {200, 450, 770, 1300, 3100};
    static const double fps[] = {10, 15, 30, 30, 30};
    static const uint32_t keys[] = {8000, 12000, 25000, 40000, 180000};
    int tries;
    int best = thin_link_after_a_good_one(kbps, fps, keys, 5, 4, 20000, true, &tries);
    EXPECT_EQ(tries, 0);
    EXPECT_TRUE(best >= 2 && best <= 3);
}

/* The 144 px ladder of a detailed 720p30 camera (docs/protocol.md, "Tiers"): micro1, micro5,
 * micro10, micro15, tiny15, tiny, low, medium, native, as measured 2026-12-07. */
static const double MICRO_KBPS[] = {39, 196, 393, 590, 1486, 3376, 5768, 11979, 35570};
static const double MICRO_FPS[] = {1, 5, 10, 15, 15, 30, 30, 30, 30};
#define MICRO_RUNGS 9

/* One sample of a recorded trace (VIGIL_LOG_LEVEL=trace's `adapt: viewer=N rung R` line):
 * rung, rtt ms, unsent, in flight, delivery kbps, app-limited, acked kbps, retransmitted and
 * sent segments, replaced and offered frames, and whether BBR was in ProbeRTT. */
typedef struct trace_row {
    int rung;
    double rtt_ms;
    uint32_t unsent, inflight;
    double delivery;
    bool is_app_limited;
    double acked;
    uint32_t retrans, sent, replaced, offered;
    bool is_probing_rtt;
} trace_row_t;

/* Row i of a trace on the 144 px ladder, a quarter second after row i - 1, on a path whose
 * kernel minimum RTT is min_rtt_ms. */
static vg_adapt_input_t replay_input(const trace_row_t *row, int i, double min_rtt_ms)
{
    vg_adapt_input_t in = trace_input(1000000 + (int64_t)i * 250000, row->rung);
    in.rung_count = MICRO_RUNGS;
    in.rung_kbps = MICRO_KBPS;
    in.rung_fps = MICRO_FPS;
    in.rtt_ms = row->rtt_ms;
    in.min_rtt_ms = min_rtt_ms;
    in.unsent_bytes = row->unsent;
    in.inflight_bytes = row->inflight;
    in.delivery_kbps = row->delivery;
    in.is_app_limited = row->is_app_limited;
    in.acked_kbps = row->acked;
    in.retrans_segs = row->retrans;
    in.sent_segs = row->sent;
    in.replaced = row->replaced;
    in.offered = row->offered;
    in.is_probing_rtt = row->is_probing_rtt;
    return in;
}

/* A new JPEG viewer on `medium` over a path of path_ms (BBR: no loss bound), the 144 px
 * ladder, 1 s into a 1 Mbit/s, 400 ms link as the bench recorded it (2026-12-07): in slow start
 * the window lets out far less than the link carries, medium's frames are replaced locally,
 * and the step down reads what was acknowledged (220 kbit/s there, 250-260 here, so that
 * micro5 fits) and the kernel's sample (270). After it the
 * viewer's frames are small flights: app-limited samples a little above what the rung sends.
 * From bad_from_us on its frames are replaced. Returns when it first moved up after its step
 * down (INT64_MAX: not within 30 s), the rung it stepped to, and the kind of capacity that step
 * kept. */
static int64_t first_up_after_slow_start(double path_ms, int64_t bad_from_us, int *stepped_to,
                                         int *kind)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 0;
    int rung = 7;
    *stepped_to = -1;
    for (int i = 0; i < 4 * 31; i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, rung);
        in.rung_count = MICRO_RUNGS;
        in.rung_kbps = MICRO_KBPS;
        in.rung_fps = MICRO_FPS;
        in.rtt_ms = path_ms + 2 + i % 3;
        in.min_rtt_ms = path_ms;
        in.sent_segs = 20;
        if (*stepped_to < 0) {
            in.acked_kbps = t < 750000 ? 250 : 260;
            in.delivery_kbps = t < 750000 ? 150 : 270;
            in.is_app_limited = t < 750000;
            in.unsent_bytes = 30408;
            in.inflight_bytes = 20000;
            in.replaced = t < bad_from_us ? 0 : 6; /* (the first second's unsent bytes are
                                                         the window's, not a queue) */
            in.offered = 7;
        } else {
            in.delivery_kbps = MICRO_KBPS[rung] * (1.5 + 0.01 * (i % 3));
            in.is_app_limited = true;
            in.acked_kbps = MICRO_KBPS[rung];
            in.inflight_bytes = 5000;
            in.offered = (uint32_t)(MICRO_FPS[rung] / 4 + 1);
        }
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (d.rung < rung && *stepped_to < 0) {
            *stepped_to = d.rung;
            *kind = (int)a.capacity_kind;
        } else if (d.rung > rung && *stepped_to >= 0)
            return t;
        rung = d.rung;
    }
    return INT64_MAX;
}

VG_TEST(a_step_down_read_in_slow_start_is_a_guess_on_a_long_path)
{
    /* 1 s is 2.5 round trips of a 400 ms path: the viewer steps to micro5 on what the window
     * let out, and tries micro10 (393, which that reading has no room for) once the guess's
     * 4 s are over. Read as the link's capacity, it waited 20 s (the bench). */
    int stepped_to, kind;
    int64_t up = first_up_after_slow_start(400, 500000, &stepped_to, &kind);
    EXPECT_EQ(stepped_to, 1);
    EXPECT_EQ(kind, VG_ADAPT_CAPACITY_GUESS);
    EXPECT_TRUE(up <= 8000000);
    /* ... and 5 round trips into a 200 ms one (the bench's first step came 1 s after the first
     * sample) */
    first_up_after_slow_start(200, 750000, &stepped_to, &kind);
    EXPECT_TRUE(stepped_to >= 0);
    EXPECT_EQ(kind, VG_ADAPT_CAPACITY_GUESS);
    /* The same readings 25 round trips into a 40 ms path are the link's, and capped climbs as
     * before. */
    up = first_up_after_slow_start(40, 500000, &stepped_to, &kind);
    EXPECT_EQ(stepped_to, 1);
    EXPECT_TRUE(kind != VG_ADAPT_CAPACITY_GUESS);
    EXPECT_TRUE(up > 8000000);
}

/* A JPEG viewer on a 1 Mbit/s, 400 ms link with 2% loss under BBR, as the bench recorded it
 * (2026-12-07, VIGIL_LOG_LEVEL=trace): its step down in slow start read 189 kbit/s (a guess);
 * it climbed to micro10 on app-limited samples of 582; the peer then acknowledged 250-950
 * kbit/s a quarter second while the kernel's sample stayed at 582 (stale) and the samples
 * aged out, leaving the guess as the rate. A frame just written (6,535 B unsent) came last.
 * Rows: trace_row_t (none in ProbeRTT: this is the kernel's BBR outside it). Returns the decision on
 * the last row, with the last three rows' acknowledged rates replaced by last_acked (-1: as
 * recorded). */
static vg_adapt_decision_t micro10_on_a_guess_then_a_frame_unsent(double last_acked)
{
    static const trace_row_t trace[] = {
        {7, 401.5, 31856, 14480, 0, 1, 0, 0, 11, 4, 6, 0},
        {7, 405.1, 24616, 14480, 125, 1, 100, 0, 5, 7, 7, 0},
        {7, 417.2, 13955, 28960, 222, 1, 189, 0, 15, 8, 8, 0},
        {0, 414.1, 1535, 30408, 275, 0, 509, 0, 12, 0, 1, 0},
        {0, 423.6, 0, 21720, 389, 0, 416, 0, 3, 0, 0, 0},
        {0, 413.8, 0, 1448, 582, 0, 606, 0, 0, 0, 0, 0},
        {0, 412.3, 0, 0, 582, 0, 0, 0, 1, 0, 0, 0},
        {0, 412.3, 0, 5792, 582, 0, 0, 0, 4, 0, 1, 0},
        {0, 416.5, 0, 0, 582, 0, 157, 0, 0, 0, 0, 0},
        {0, 416.5, 0, 0, 582, 0, 0, 0, 0, 0, 0, 0},
        {0, 416.5, 0, 0, 582, 0, 0, 0, 0, 0, 0, 0},
        {0, 416.5, 0, 5792, 582, 0, 0, 0, 4, 0, 1, 0},
        {0, 419.7, 0, 1448, 582, 0, 155, 0, 1, 0, 0, 0},
        {0, 419.7, 0, 1448, 582, 0, 0, 0, 0, 0, 0, 0},
        {0, 417.6, 0, 0, 582, 0, 0, 0, 1, 0, 0, 0},
        {0, 417.6, 0, 5792, 582, 0, 0, 0, 4, 0, 1, 0},
        {0, 420.6, 0, 2896, 582, 0, 157, 0, 2, 0, 0, 0},
        {0, 420.6, 0, 2896, 582, 0, 0, 0, 0, 0, 0, 0},
        {0, 419.9, 0, 0, 582, 0, 51, 0, 0, 0, 0, 0},
        {2, 419.9, 0, 18824, 582, 0, 0, 0, 13, 0, 3, 0},
        {2, 423.2, 0, 26064, 582, 0, 141, 0, 9, 0, 2, 0},
        {2, 423.9, 2022, 33304, 582, 0, 178, 1, 11, 0, 3, 0},
        {2, 429.8, 0, 47784, 582, 0, 0, 0, 10, 0, 2, 0},
        {2, 426.9, 0, 28960, 582, 0, 940, 0, 13, 0, 3, 0},
        {2, 426.2, 0, 23168, 582, 0, 469, 0, 8, 0, 2, 0},
        {2, 427.8, 0, 28960, 582, 0, 313, 0, 12, 0, 3, 0},
        {2, 429.1, 0, 23168, 582, 0, 469, 0, 8, 0, 2, 0},
        {2, 426.0, 0, 31856, 582, 0, 248, 1, 13, 0, 3, 0},
        {2, 428.1, 0, 44888, 582, 0, 0, 0, 9, 0, 2, 0},
        {2, 427.9, 0, 27512, 582, 0, 950, 0, 12, 0, 3, 0},
        {2, 424.2, 0, 23168, 582, 0, 386, 0, 9, 0, 2, 0},
        {2, 425.3, 0, 26064, 582, 0, 410, 0, 12, 0, 3, 0},
        {2, 428.3, 0, 23168, 582, 0, 383, 0, 8, 0, 2, 0},
        {2, 429.2, 0, 28960, 582, 0, 316, 0, 12, 0, 3, 0},
        {2, 429.9, 0, 23168, 582, 0, 477, 0, 8, 0, 2, 0},
        {2, 437.9, 0, 26064, 582, 0, 407, 0, 12, 0, 3, 0},
        {2, 434.6, 6535, 17376, 582, 0, 381, 0, 4, 0, 2, 0},
    };
    int n = (int)(sizeof trace / sizeof trace[0]);
    vg_adapt_t a;
    vg_adapt_init(&a);
    vg_adapt_decision_t d = {0};
    for (int i = 0; i < n; i++) {
        vg_adapt_input_t in = replay_input(&trace[i], i, 401.5);
        if (last_acked >= 0 && i >= n - 3)
            in.acked_kbps = last_acked;
        d = vg_adapt_step(&a, &in);
        /* the trace's own moves: down in slow start, up once the guess's 4 s were over */
        if (i == 2)
            EXPECT_EQ(d.rung, 0);
        if (i == 18)
            EXPECT_EQ(d.rung, 2);
    }
    return d;
}

VG_TEST(unsent_bytes_drain_at_least_at_the_rate_the_peer_acknowledges)
{
    /* The peer acknowledged 380-410 kbit/s: the frame leaves in about 130 ms, no queue to
     * leave micro10 for (the estimate alone read 310 ms, a deep queue: to micro1). */
    vg_adapt_decision_t d = micro10_on_a_guess_then_a_frame_unsent(-1);
    EXPECT_EQ(d.rung, 2);
    /* A peer that acknowledges less than the guess (the link got worse) leaves the estimate
     * to say how long the frame waits: the viewer steps down as before. */
    d = micro10_on_a_guess_then_a_frame_unsent(120);
    EXPECT_TRUE(d.rung < 2);
}

/* A JPEG viewer on micro10 over a 1 Mbit/s, 400 ms link with 2% loss under BBR, as the bench
 * recorded it (2026-12-07, VIGIL_LOG_LEVEL=trace), from the connection's start: 18 s in,
 * BBR's ProbeRTT held the window at four segments (5,792 B in flight, 0-4 segments sent a
 * quarter second) for three samples; frames were replaced and 9-10 KB waited unsent, and
 * the viewer stepped down to micro1 (the trace ends before that). That run's build did not
 * read ProbeRTT yet: the last column marks those three samples, in the
 * state a later run's kernel flagged as ProbeRTT (in flight held at four segments). Rows:
 * trace_row_t. Returns the lowest rung decided
 * from the climb to micro10 on (the trace's own move, checked). */
static int lowest_rung_through_a_probe_rtt(bool is_flagged)
{
    static const trace_row_t trace[] = {
        {7, 401.6, 31856, 14480, 0, 1, 0, 0, 11, 3, 5, 0},
        {7, 404.7, 26064, 15928, 84, 1, 53, 0, 4, 8, 8, 0},
        {7, 417.3, 14511, 28960, 217, 1, 237, 0, 16, 7, 7, 0},
        {1, 414.3, 8427, 30408, 291, 0, 463, 0, 11, 0, 2, 0},
        {1, 424.1, 0, 31856, 395, 0, 462, 0, 11, 0, 1, 0},
        {1, 414.1, 0, 13032, 608, 0, 781, 0, 4, 0, 1, 0},
        {1, 413.7, 0, 11584, 608, 0, 157, 0, 5, 0, 1, 0},
        {1, 418.4, 0, 14480, 608, 0, 248, 0, 8, 0, 2, 0},
        {1, 422.8, 0, 11584, 608, 0, 220, 0, 4, 0, 1, 0},
        {1, 429.0, 0, 13032, 608, 0, 139, 0, 4, 0, 1, 0},
        {1, 428.2, 0, 18824, 608, 0, 0, 1, 5, 0, 1, 0},
        {1, 426.8, 0, 30408, 608, 0, 0, 0, 8, 0, 2, 0},
        {1, 427.4, 0, 13032, 608, 0, 645, 0, 5, 0, 1, 0},
        {1, 432.7, 0, 14480, 608, 0, 139, 0, 4, 0, 1, 0},
        {1, 426.9, 0, 20272, 608, 0, 0, 1, 5, 0, 1, 0},
        {1, 426.4, 0, 31856, 608, 0, 0, 0, 8, 0, 2, 0},
        {1, 428.7, 0, 14480, 608, 0, 645, 0, 7, 0, 1, 0},
        {1, 429.1, 0, 14480, 608, 0, 158, 0, 4, 0, 1, 0},
        {1, 427.6, 0, 11584, 608, 0, 211, 0, 4, 0, 1, 0},
        {2, 430.0, 0, 18824, 608, 0, 315, 0, 13, 0, 3, 0},
        {2, 435.7, 0, 24616, 608, 0, 159, 0, 9, 0, 2, 0},
        {2, 432.5, 0, 27512, 608, 0, 409, 0, 12, 0, 3, 0},
        {2, 429.0, 0, 23168, 608, 0, 382, 0, 9, 0, 2, 0},
        {2, 429.0, 0, 26064, 608, 0, 406, 0, 12, 0, 3, 0},
        {2, 430.1, 0, 23168, 608, 0, 377, 0, 8, 0, 2, 0},
        {2, 429.5, 0, 26064, 608, 0, 403, 0, 12, 0, 3, 0},
        {2, 430.6, 0, 23168, 608, 0, 376, 0, 8, 0, 2, 0},
        {2, 429.9, 0, 26064, 608, 0, 407, 0, 12, 0, 3, 0},
        {2, 430.7, 0, 24616, 608, 0, 384, 0, 9, 0, 2, 0},
        {2, 429.9, 0, 27512, 608, 0, 410, 0, 12, 0, 3, 0},
        {2, 426.6, 0, 34752, 608, 0, 112, 1, 9, 0, 2, 0},
        {2, 426.6, 588, 50680, 608, 0, 0, 0, 11, 0, 3, 0},
        {2, 424.1, 0, 23168, 608, 0, 1064, 0, 9, 0, 2, 0},
        {2, 423.2, 0, 26064, 491, 0, 409, 0, 12, 0, 3, 0},
        {2, 427.8, 0, 23168, 523, 0, 385, 0, 8, 0, 2, 0},
        {2, 428.5, 0, 26064, 523, 0, 410, 0, 12, 0, 3, 0},
        {2, 437.5, 0, 24616, 523, 0, 382, 0, 9, 0, 2, 0},
        {2, 433.9, 0, 24616, 523, 0, 472, 0, 12, 0, 3, 0},
        {2, 429.6, 0, 23168, 523, 0, 316, 0, 8, 0, 2, 0},
        {2, 431.0, 0, 30408, 523, 0, 299, 1, 13, 0, 3, 0},
        {2, 428.0, 0, 40544, 523, 0, 0, 1, 8, 0, 2, 0},
        {2, 422.8, 0, 26064, 523, 0, 857, 0, 12, 0, 3, 0},
        {2, 422.7, 0, 23168, 523, 0, 426, 0, 8, 0, 2, 0},
        {2, 425.2, 0, 23168, 523, 0, 473, 0, 12, 0, 3, 0},
        {2, 427.5, 0, 24616, 523, 0, 318, 0, 9, 0, 2, 0},
        {2, 428.5, 0, 27512, 523, 0, 413, 0, 12, 0, 3, 0},
        {2, 425.1, 0, 36200, 523, 0, 65, 1, 9, 0, 2, 0},
        {2, 426.3, 0, 53576, 523, 0, 0, 0, 12, 0, 3, 0},
        {2, 425.2, 0, 23168, 523, 0, 1114, 0, 9, 0, 2, 0},
        {2, 420.2, 0, 39096, 523, 0, 46, 1, 13, 0, 3, 0},
        {2, 425.8, 0, 50680, 523, 0, 0, 0, 8, 0, 2, 0},
        {2, 429.2, 0, 23168, 542, 1, 1216, 0, 12, 0, 3, 0},
        {2, 429.8, 0, 24616, 542, 1, 317, 0, 9, 0, 2, 0},
        {2, 440.6, 0, 27512, 542, 1, 413, 0, 12, 0, 3, 0},
        {2, 432.7, 0, 23168, 542, 1, 384, 0, 9, 0, 2, 0},
        {2, 431.6, 0, 23168, 542, 1, 474, 0, 12, 0, 3, 0},
        {2, 431.2, 0, 23168, 542, 1, 318, 0, 8, 0, 2, 0},
        {2, 430.9, 0, 23168, 542, 1, 472, 0, 12, 0, 3, 0},
        {2, 430.8, 0, 23168, 542, 1, 316, 0, 8, 0, 2, 0},
        {2, 430.5, 0, 23168, 542, 1, 465, 0, 12, 0, 3, 0},
        {2, 430.5, 0, 24616, 542, 1, 313, 0, 9, 0, 2, 0},
        {2, 431.9, 0, 24616, 542, 1, 471, 0, 12, 0, 3, 0},
        {2, 428.6, 0, 23168, 542, 1, 314, 0, 8, 0, 2, 0},
        {2, 429.9, 0, 23168, 542, 1, 479, 0, 12, 0, 3, 0},
        {2, 430.3, 0, 23168, 542, 1, 321, 0, 8, 0, 2, 0},
        {2, 432.1, 0, 23168, 542, 1, 480, 0, 12, 0, 3, 0},
        {2, 431.5, 0, 23168, 542, 1, 316, 0, 8, 0, 2, 0},
        {2, 430.5, 0, 26064, 542, 1, 411, 0, 12, 0, 3, 0},
        {2, 431.0, 0, 24616, 542, 1, 381, 0, 9, 0, 2, 0},
        {2, 430.9, 0, 24616, 542, 1, 475, 0, 12, 0, 3, 0},
        {2, 428.0, 0, 23168, 542, 1, 313, 0, 8, 0, 2, 0},
        {2, 429.5, 9941, 5792, 542, 1, 476, 0, 0, 0, 3, 1},
        {2, 429.8, 9096, 5792, 542, 1, 159, 0, 4, 1, 2, 1},
        {2, 429.8, 9096, 5792, 542, 1, 0, 0, 0, 3, 3, 1},
    };
    int n = (int)(sizeof trace / sizeof trace[0]);
    vg_adapt_t a;
    vg_adapt_init(&a);
    int lowest = INT32_MAX;
    for (int i = 0; i < n; i++) {
        vg_adapt_input_t in = replay_input(&trace[i], i, 401.5);
        in.is_probing_rtt = is_flagged && trace[i].is_probing_rtt;
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (i == 18)
            EXPECT_EQ(d.rung, 2);
        if (i >= 19 && d.rung < lowest)
            lowest = d.rung;
    }
    return lowest;
}

VG_TEST(bbrs_probe_rtt_is_its_own_pause_not_a_queue)
{
    EXPECT_EQ(lowest_rung_through_a_probe_rtt(true), 2);
    /* the same samples read as the link: a deep queue, a step down */
    EXPECT_TRUE(lowest_rung_through_a_probe_rtt(false) < 2);
}

/* The H.264 ladder of a detailed 720p30 camera for a viewer that decodes avc1: h264-thin10,
 * h264-tiny15, h264-low, h264-medium, source, as the bench's `tiers` message gave them
 * (2026-12-07), with their keyframes. */
static const double H264_KBPS[] = {140, 370, 900, 1800, 3500};
static const double H264_FPS[] = {10, 15, 30, 30, 30};
static const uint32_t H264_BURST[] = {5200, 11400, 30000, 60000, 155000};
#define H264_RUNGS 5

/* in, on that ladder under cubic, with h264-tiny15's keyframe the largest frame of late */
static void on_h264_ladder_under_cubic(vg_adapt_input_t *in)
{
    in->rung_count = H264_RUNGS;
    in->rung_kbps = H264_KBPS;
    in->rung_fps = H264_FPS;
    in->rung_burst_bytes = H264_BURST;
    in->burst_bytes = 11400;
    in->is_loss_based = true;
}

/* An avc1 viewer on h264-tiny15 under cubic over a 2 Mbit/s, 200 ms link with 1% loss, as the
 * bench recorded it (2026-12-07, VIGIL_LOG_LEVEL=trace; 55 rows from 11 s in): the kernel's
 * delivery sample says 1.9 Mbit/s; two losses close together in the last two seconds cut the
 * window to four or five segments (5,792-7,240 B in flight) under what the rung sends, and
 * 8-14 KB wait unsent. Rows: trace_row_t. With in_flight_at_end > 0 the last three rows have
 * that many bytes in flight instead (a window that was not cut). Returns the lowest rung
 * decided, and through after_step_s more seconds of the rung's small flights at 1% loss the
 * highest rung decided after that low (-1: none). */
static int tiny15_through_a_window_cut(uint32_t in_flight_at_end, double after_step_s, int *back_to)
{
    static const trace_row_t trace[] = {
        {1, 215.2, 0, 8688, 649, 1, 280, 0, 6, 0, 3, 0},
        {1, 213.9, 0, 8688, 649, 1, 345, 0, 8, 0, 4, 0},
        {1, 213.2, 0, 10136, 649, 1, 358, 0, 10, 0, 4, 0},
        {1, 213.7, 0, 20272, 649, 1, 46, 1, 9, 0, 4, 0},
        {1, 212.6, 10733, 11584, 649, 1, 580, 0, 8, 0, 4, 0},
        {1, 216.3, 0, 8688, 649, 1, 600, 0, 13, 0, 3, 0},
        {1, 215.1, 0, 11584, 657, 1, 329, 0, 10, 0, 4, 0},
        {1, 212.4, 0, 8688, 657, 1, 362, 0, 9, 0, 4, 0},
        {1, 212.3, 0, 8688, 657, 1, 264, 0, 6, 0, 3, 0},
        {1, 212.4, 0, 10136, 657, 1, 364, 0, 9, 0, 4, 0},
        {1, 215.4, 0, 11584, 657, 1, 353, 0, 10, 0, 4, 0},
        {1, 214.0, 0, 8688, 657, 1, 383, 0, 9, 0, 4, 0},
        {1, 213.3, 0, 13032, 657, 1, 260, 0, 9, 0, 4, 0},
        {1, 213.0, 0, 8688, 657, 1, 367, 0, 6, 0, 3, 0},
        {1, 212.8, 0, 10136, 657, 1, 368, 0, 10, 0, 4, 0},
        {1, 211.4, 0, 11584, 657, 1, 365, 0, 12, 0, 4, 0},
        {1, 215.9, 0, 11584, 657, 1, 294, 0, 8, 0, 3, 0},
        {1, 214.1, 0, 11584, 657, 1, 380, 0, 11, 0, 4, 0},
        {1, 213.4, 0, 8688, 657, 1, 378, 0, 8, 0, 4, 0},
        {1, 213.0, 0, 10136, 657, 1, 365, 0, 9, 0, 4, 0},
        {1, 212.9, 759, 18824, 657, 1, 276, 0, 13, 0, 4, 0},
        {1, 220.5, 0, 8688, 657, 1, 610, 0, 7, 0, 3, 0},
        {1, 217.2, 0, 18824, 657, 1, 103, 1, 11, 0, 4, 0},
        {1, 212.2, 0, 14480, 657, 1, 464, 0, 11, 0, 4, 0},
        {1, 221.4, 0, 8688, 657, 1, 361, 0, 6, 0, 3, 0},
        {1, 217.6, 0, 8688, 657, 1, 355, 0, 8, 0, 4, 0},
        {1, 215.4, 0, 10136, 657, 1, 350, 0, 9, 0, 4, 0},
        {1, 213.8, 0, 8688, 657, 1, 348, 0, 8, 0, 4, 0},
        {1, 213.3, 0, 13032, 657, 1, 264, 0, 9, 0, 4, 0},
        {1, 213.0, 0, 10136, 657, 1, 371, 0, 7, 0, 3, 0},
        {1, 212.8, 0, 13032, 657, 1, 363, 0, 11, 0, 4, 0},
        {1, 211.5, 0, 13032, 657, 1, 373, 0, 12, 0, 4, 0},
        {1, 215.1, 0, 11584, 657, 1, 294, 0, 8, 0, 3, 0},
        {1, 213.8, 0, 10136, 657, 1, 373, 0, 9, 0, 4, 0},
        {1, 213.3, 0, 11584, 657, 1, 368, 0, 11, 0, 4, 0},
        {1, 212.9, 0, 8688, 657, 1, 366, 0, 8, 0, 4, 0},
        {1, 212.0, 11086, 14480, 657, 1, 182, 1, 9, 0, 4, 0},
        {1, 211.4, 663, 14480, 657, 1, 476, 0, 12, 0, 3, 0},
        {1, 216.6, 0, 11584, 546, 0, 573, 0, 11, 0, 4, 0},
        {1, 213.5, 0, 11584, 594, 0, 360, 0, 11, 0, 4, 0},
        {1, 217.2, 0, 8688, 594, 0, 280, 0, 6, 0, 3, 0},
        {1, 215.0, 0, 10136, 594, 0, 343, 0, 9, 0, 4, 0},
        {1, 213.6, 0, 8688, 594, 0, 351, 0, 8, 0, 4, 0},
        {1, 213.0, 0, 10136, 594, 0, 355, 0, 9, 0, 4, 0},
        {1, 212.8, 0, 11584, 594, 0, 266, 0, 8, 0, 4, 0},
        {1, 212.4, 0, 8688, 594, 0, 341, 0, 6, 0, 3, 0},
        {1, 212.2, 0, 11584, 594, 0, 343, 0, 10, 0, 4, 0},
        {1, 210.8, 0, 13032, 594, 0, 262, 0, 9, 0, 4, 0},
        {1, 214.4, 92, 20272, 594, 0, 80, 1, 8, 0, 3, 0},
        {1, 212.7, 0, 11584, 379, 0, 640, 0, 10, 0, 4, 0},
        {1, 219.2, 0, 10136, 448, 1, 377, 0, 9, 0, 4, 0},
        {1, 214.8, 0, 11584, 448, 1, 367, 0, 11, 0, 4, 0},
        {1, 212.5, 11288, 20272, 448, 1, 0, 1, 7, 0, 4, 0},
        {1, 213.5, 8449, 11584, 325, 0, 513, 1, 8, 0, 3, 0},
        {1, 218.1, 14211, 5792, 262, 0, 366, 0, 4, 0, 4, 0},
    };
    int n = (int)(sizeof trace / sizeof trace[0]);
    vg_adapt_t a;
    vg_adapt_init(&a);
    int lowest = 1;
    for (int i = 0; i < n; i++) {
        vg_adapt_input_t in = replay_input(&trace[i], i, 200.9);
        on_h264_ladder_under_cubic(&in);
        in.rung = lowest; /* (the trace's rung until a step down here) */
        if (in_flight_at_end > 0 && i >= n - 3)
            in.inflight_bytes = in_flight_at_end;
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (d.rung < lowest)
            lowest = d.rung;
    }
    *back_to = -1;
    int rung = lowest;
    for (int i = n; i < n + (int)(4 * after_step_s); i++) {
        vg_adapt_input_t in = trace_input(1000000 + (int64_t)i * 250000, rung);
        on_h264_ladder_under_cubic(&in);
        in.rtt_ms = 212 + i % 3;
        in.min_rtt_ms = 200.9;
        in.delivery_kbps = H264_KBPS[rung] * 1.6;
        in.is_app_limited = true;
        in.acked_kbps = H264_KBPS[rung];
        in.inflight_bytes = (uint32_t)(H264_KBPS[rung] * 212 / 8);
        in.sent_segs = (uint32_t)(H264_KBPS[rung] / 46);
        in.retrans_segs = i % 12 == 0;
        in.offered = (uint32_t)(H264_FPS[rung] / 4);
        vg_adapt_decision_t d = vg_adapt_step(&a, &in);
        if (d.rung > rung && d.rung > *back_to)
            *back_to = d.rung;
        rung = d.rung;
    }
    return lowest;
}

VG_TEST(unsent_bytes_behind_a_window_a_loss_cut_leave_at_the_windows_rate)
{
    /* 14 KB behind 5.8 KB a round trip: 540 ms, a deep queue (at the link's 1.9 Mbit/s, the
     * sample said 60 ms, and the viewer's frames came 400-800 ms late for seconds) */
    int back_to;
    EXPECT_EQ(tiny15_through_a_window_cut(0, 0, &back_to), 0);
    /* the same unsent bytes behind a full window (40 KB a round trip) leave within 60 ms */
    EXPECT_EQ(tiny15_through_a_window_cut(40000, 0, &back_to), 1);
    /* what the cut window sent is not the link's capacity: the viewer tries h264-tiny15 again
     * within what 1% loss lets cubic carry (not 20 s later, as a capacity would have it) */
    EXPECT_EQ(tiny15_through_a_window_cut(0, 8, &back_to), 0);
    EXPECT_EQ(back_to, 1);
}

/* A JPEG viewer on micro5 under cubic (the 144 px ladder), its frames small app-limited
 * flights whose samples read about what it sends, a retransmission every loss_every samples
 * of 5 segments (every 20: 1%): whether it tries micro10 within 20 s. */
static bool carry_probes(double path_ms, int loss_every)
{
    vg_adapt_t a;
    vg_adapt_init(&a);
    int64_t t = 100000000;
    for (int i = 0; i < 4 * 20; i++) {
        t += 250000;
        vg_adapt_input_t in = trace_input(t, 1);
        in.rung_count = MICRO_RUNGS;
        in.rung_kbps = MICRO_KBPS;
        in.rung_fps = MICRO_FPS;
        in.rtt_ms = path_ms + 3 + i % 3;
        in.min_rtt_ms = path_ms;
        in.delivery_kbps = 200 + (i % 3);
        in.is_app_limited = true;
        in.is_loss_based = true;
        in.acked_kbps = 196;
        in.inflight_bytes = 5000;
        in.sent_segs = 5;
        in.retrans_segs = i % loss_every == 0;
        in.offered = 2;
        if (vg_adapt_step(&a, &in).rung > 1)
            return true;
    }
    return false;
}

VG_TEST(a_loss_based_control_is_probed_up_to_what_its_loss_says_it_carries)
{
    /* 2 Mbit/s, 200 ms, 1%: cubic carries about 700 kbit/s (Mathis), micro10 costs 393 */
    EXPECT_TRUE(carry_probes(200, 20));
    /* 1 Mbit/s, 400 ms, 2%: about 250, which micro10 does not fit */
    EXPECT_TRUE(!carry_probes(400, 10));
}
