/* looplag: the loop-stall probe's arithmetic (the sliding window of per-second maxima, the
 * worst since start, the mean and the histogram) with time as an argument: no clock, no
 * loop. One test opens the real probe on a loop and closes it cleanly. */
#include "core/looplag.h"
#include "vg_test.h"

#define MS 1000LL
#define S 1000000LL

VG_TEST(buckets_are_inclusive_upper_bounds)
{
    EXPECT_EQ(vg_looplag_bucket(0), 0);
    EXPECT_EQ(vg_looplag_bucket(250), 0);
    EXPECT_EQ(vg_looplag_bucket(251), 1);
    EXPECT_EQ(vg_looplag_bucket(5 * MS), 4);
    EXPECT_EQ(vg_looplag_bucket(5 * MS + 1), 5);
    EXPECT_EQ(vg_looplag_bucket(100 * MS), VG_LOOPLAG_BUCKETS - 2);
    EXPECT_EQ(vg_looplag_bucket(100 * MS + 1), VG_LOOPLAG_BUCKETS - 1);
    EXPECT_EQ(vg_looplag_bucket(3600 * S), VG_LOOPLAG_BUCKETS - 1);
}

VG_TEST(an_empty_probe_reads_zero)
{
    vg_looplag_acc_t a;
    vg_looplag_acc_init(&a);
    vg_looplag_stats_t s;
    vg_looplag_acc_read(&a, 123 * S, &s);
    EXPECT_EQ(s.samples, 0);
    EXPECT_EQ(s.max_window_us, 0);
    EXPECT_EQ(s.max_us, 0);
    EXPECT_EQ(s.mean_us, 0);
}

VG_TEST(mean_max_and_histogram_count_every_sample)
{
    vg_looplag_acc_t a;
    vg_looplag_acc_init(&a);
    int64_t now = 1000 * S;
    static const int64_t lags[] = {100, 300, 700, 7 * MS, -400 /* fired early: 0 */};
    for (size_t i = 0; i < sizeof(lags) / sizeof(lags[0]); i++)
        vg_looplag_acc_add(&a, now += 2 * MS, lags[i]);
    vg_looplag_stats_t s;
    vg_looplag_acc_read(&a, now, &s);
    EXPECT_EQ(s.samples, 5);
    EXPECT_EQ(s.max_us, 7 * MS);
    EXPECT_EQ(s.max_window_us, 7 * MS);
    EXPECT_EQ(s.sum_us, 100 + 300 + 700 + 7 * MS);
    EXPECT_EQ(s.mean_us, (100 + 300 + 700 + 7 * MS) / 5);
    EXPECT_EQ(s.buckets[0], 2); /* 100 and the early one */
    EXPECT_EQ(s.buckets[1], 1); /* 300 */
    EXPECT_EQ(s.buckets[2], 1); /* 700 */
    EXPECT_EQ(s.buckets[5], 1); /* 7 ms: (5, 10] */
    uint64_t total = 0;
    for (int b = 0; b < VG_LOOPLAG_BUCKETS; b++)
        total += s.buckets[b];
    EXPECT_EQ(total, s.samples);
}

VG_TEST(a_stall_leaves_the_window_after_ten_to_eleven_seconds_but_not_the_all_time_max)
{
    vg_looplag_acc_t a;
    vg_looplag_acc_init(&a);
    int64_t t0 = 5000 * S + 300 * MS; /* mid-second */
    vg_looplag_acc_add(&a, t0, 9 * MS);
    vg_looplag_stats_t s;
    /* small lags every 2 ms for the next 12 s */
    int64_t now = t0;
    int64_t gone_at = 0;
    while (now < t0 + 12 * S) {
        now += 2 * MS;
        vg_looplag_acc_add(&a, now, 200);
        vg_looplag_acc_read(&a, now, &s);
        if (now - t0 < 10 * S)
            EXPECT_EQ(s.max_window_us, 9 * MS); /* never less than 10 s */
        if (s.max_window_us == 9 * MS)
            continue;
        if (gone_at == 0)
            gone_at = now;
        EXPECT_EQ(s.max_window_us, 200); /* once gone, it stays gone */
    }
    EXPECT_TRUE(gone_at != 0);
    /* it goes when its second leaves: t0's second + 11 s, 10.7 s after t0 here */
    EXPECT_EQ(gone_at, 5011 * S);
    EXPECT_EQ(s.max_us, 9 * MS);
}

VG_TEST(the_window_forgets_without_new_samples_too)
{
    vg_looplag_acc_t a;
    vg_looplag_acc_init(&a);
    vg_looplag_acc_add(&a, 20 * S, 4 * MS);
    vg_looplag_stats_t s;
    vg_looplag_acc_read(&a, 30 * S + 999 * MS, &s);
    EXPECT_EQ(s.max_window_us, 4 * MS);
    vg_looplag_acc_read(&a, 31 * S, &s);
    EXPECT_EQ(s.max_window_us, 0);
    /* a slot reused by a later second starts from that second's own samples */
    vg_looplag_acc_add(&a, 31 * S + 5 * MS, 300); /* 31 % 11 == 20 % 11 */
    vg_looplag_acc_read(&a, 31 * S + 5 * MS, &s);
    EXPECT_EQ(s.max_window_us, 300);
    EXPECT_EQ(s.max_us, 4 * MS);
}

VG_TEST(the_window_keeps_the_worst_of_each_second)
{
    vg_looplag_acc_t a;
    vg_looplag_acc_init(&a);
    for (int sec = 0; sec < 10; sec++) { /* 1000 µs in second 100, down to 100 in 109 */
        vg_looplag_acc_add(&a, (100 + sec) * S, (10 - sec) * 100);
        vg_looplag_acc_add(&a, (100 + sec) * S + 500 * MS, 50);
    }
    vg_looplag_stats_t s;
    vg_looplag_acc_read(&a, 109 * S + 600 * MS, &s);
    EXPECT_EQ(s.max_window_us, 1000);
    vg_looplag_acc_read(&a, 110 * S + 999 * MS, &s); /* second 100 is still in */
    EXPECT_EQ(s.max_window_us, 1000);
    vg_looplag_acc_read(&a, 111 * S, &s); /* now from second 101 on */
    EXPECT_EQ(s.max_window_us, 900);
    vg_looplag_acc_read(&a, 119 * S, &s); /* only second 109's is left */
    EXPECT_EQ(s.max_window_us, 100);
    vg_looplag_acc_read(&a, 120 * S, &s);
    EXPECT_EQ(s.max_window_us, 0);
    EXPECT_EQ(s.max_us, 1000);
}

VG_TEST(the_probe_samples_a_running_loop_and_closes_cleanly)
{
    uv_loop_t loop;
    EXPECT_EQ(uv_loop_init(&loop), 0);
    vg_looplag_t *lp = NULL;
    EXPECT_EQ(vg_looplag_open(&lp, &loop), 0);
    while (1) {
        uv_run(&loop, UV_RUN_ONCE);
        vg_looplag_stats_t s;
        vg_looplag_read(lp, &s);
        if (s.samples >= 3)
            break;
    }
    vg_looplag_close(&lp);
    EXPECT_TRUE(lp == NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}
