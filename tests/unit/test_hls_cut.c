/* hls_cut: where a 30 fps camera's access units become parts and segments. */
#include "outputs/hls_cut.h"
#include "vg_test.h"

static const vg_hls_cut_cfg_t CFG = {.part_target_us = 200000, .segment_min_us = 1000000,
                                     .segment_cap_us = 2000000, .max_part_aus = 64};

/* Feeds frames at interval_us with a keyframe every gop frames; returns the parts made (their
 * durations in parts_us, independent flags in indep) and counts segments. */
static int run(int frames, int64_t interval_us, int gop, int64_t parts_us[], bool indep[],
               int *segments, int64_t *longest_segment_us)
{
    vg_hls_cut_state_t s = {0};
    bool pending_key = false;
    int n = 0;
    *segments = 0;
    *longest_segment_us = 0;
    for (int i = 0; i < frames; i++) {
        bool is_key = i % gop == 0;
        if (s.n_pending) { /* this frame tells the last one's duration */
            s.pending_us += interval_us;
            s.frame_us = interval_us;
        }
        vg_hls_cut_t d = vg_hls_cut_decide(&CFG, &s, is_key, false);
        if (d.is_part_end) {
            parts_us[n] = s.pending_us;
            indep[n++] = pending_key;
            s.segment_us += s.pending_us;
            s.n_pending = 0;
            s.pending_us = 0;
            if (d.is_segment_end) {
                if (s.segment_us > *longest_segment_us)
                    *longest_segment_us = s.segment_us;
                (*segments)++;
                s.segment_us = 0;
            }
        }
        if (s.n_pending == 0)
            pending_key = is_key;
        s.n_pending++;
    }
    return n;
}

VG_TEST(parts_never_pass_the_target_and_keyframes_start_them)
{
    int64_t parts[400];
    bool indep[400];
    int segments;
    int64_t longest;
    int n = run(300, 33333, 30, parts, indep, &segments, &longest); /* 10 s, 1 s GOP */
    EXPECT_TRUE(n >= 45);
    for (int i = 0; i < n; i++)
        EXPECT_TRUE(parts[i] <= 200000 && parts[i] >= 100000);
    /* six 33 ms frames (200 ms) fill a part: five per GOP, the first independent */
    EXPECT_EQ(n % 5, 4); /* the last GOP's last part is still pending */
    for (int i = 0; i < n; i++)
        EXPECT_EQ(indep[i], i % 5 == 0);
    EXPECT_EQ(segments, 9); /* one per 1 s GOP; the tenth is still open */
    EXPECT_TRUE(longest <= 1000000);
}

VG_TEST(short_gops_join_into_a_segment_of_a_second)
{
    int64_t parts[400];
    bool indep[400];
    int segments;
    int64_t longest;
    run(300, 33333, 10, parts, indep, &segments, &longest); /* a keyframe every 333 ms */
    EXPECT_EQ(segments, 9); /* three GOPs each: a second, less half a frame of slack */
    EXPECT_TRUE(longest >= 990000 && longest <= 1000000);
}

VG_TEST(a_camera_without_keyframes_is_cut_at_the_cap)
{
    int64_t parts[400];
    bool indep[400];
    int segments;
    int64_t longest;
    int n = run(300, 33333, 1000000, parts, indep, &segments, &longest);
    EXPECT_EQ(segments, 4); /* 10 s: at 2, 4, 6 and 8 s */
    EXPECT_TRUE(longest <= 2000000 + 200000);
    EXPECT_TRUE(indep[0]);
    EXPECT_TRUE(n > 1 && !indep[n - 1]);
}

VG_TEST(a_slow_camera_makes_a_part_per_frame_and_new_params_end_a_part)
{
    vg_hls_cut_state_t s = {.n_pending = 1, .pending_us = 1000000, .frame_us = 1000000};
    vg_hls_cut_t d = vg_hls_cut_decide(&CFG, &s, false, false);
    EXPECT_TRUE(d.is_part_end && !d.is_segment_end);
    s = (vg_hls_cut_state_t){.n_pending = 2, .pending_us = 66666, .frame_us = 33333};
    EXPECT_TRUE(!vg_hls_cut_decide(&CFG, &s, false, false).is_part_end);
    EXPECT_TRUE(vg_hls_cut_decide(&CFG, &s, false, true).is_part_end);
    s.n_pending = 64;
    EXPECT_TRUE(vg_hls_cut_decide(&CFG, &s, false, false).is_part_end);
    s = (vg_hls_cut_state_t){0};
    EXPECT_TRUE(!vg_hls_cut_decide(&CFG, &s, true, true).is_part_end); /* nothing pending */
}
