/* lane: GOP cache and history bounds, gaps, and finding a capture time. No clock: the
 * frames' capture_us drive everything. */
#include "core/err.h"
#include "media/lane.h"
#include "vg_test.h"

static vg_frame_t *au(bool is_key, int64_t capture_us, size_t len)
{
    vg_frame_t *f = vg_frame_new(len);
    f->len = len;
    f->meta.is_key = is_key;
    f->meta.capture_us = capture_us;
    return f;
}

/* Pushes one access unit and drops the caller's reference; returns what push said. */
static bool push(vg_lane_t *l, bool is_key, int64_t capture_us, size_t len)
{
    vg_frame_t *f = au(is_key, capture_us, len);
    bool kept = vg_lane_push(l, f);
    vg_frame_unref(&f);
    return kept;
}

VG_TEST(waits_for_a_keyframe_then_caches_the_gop)
{
    vg_lane_t *l = vg_lane_new(&(vg_lane_cfg_t){.history_us = 0, .max_bytes = 1 << 20});
    EXPECT_TRUE(!push(l, false, 0, 10));
    EXPECT_EQ(vg_lane_gop_count(l), 0);
    EXPECT_TRUE(push(l, true, 33000, 100));
    EXPECT_TRUE(push(l, false, 66000, 10));
    EXPECT_EQ(vg_lane_gop_count(l), 2);
    EXPECT_TRUE(vg_lane_gop_at(l, 0)->meta.is_key);
    /* A new keyframe starts a new GOP; without history the old one goes. */
    EXPECT_TRUE(push(l, true, 99000, 100));
    EXPECT_EQ(vg_lane_gop_count(l), 1);
    vg_lane_stats_t s;
    vg_lane_get_stats(l, &s);
    EXPECT_EQ(s.count, 1);
    EXPECT_EQ(s.bytes, 100);
    EXPECT_EQ(s.gop_bytes, 100);
    vg_lane_free(&l);
    EXPECT_TRUE(l == NULL);
}

VG_TEST(history_keeps_whole_gops_covering_its_duration)
{
    vg_lane_t *l = vg_lane_new(&(vg_lane_cfg_t){.history_us = 2000000, .max_bytes = 1 << 20});
    /* 30 fps, a keyframe every second, 6 s */
    for (int i = 0; i < 180; i++)
        push(l, i % 30 == 0, (int64_t)i * 33333, 1000);
    vg_lane_stats_t s;
    vg_lane_get_stats(l, &s);
    /* the newest is at 5.97 s: GOPs starting at 3 s and 4 s cover 2 s, plus the current */
    EXPECT_EQ(s.count, 90);
    EXPECT_EQ(s.oldest_us, 90 * 33333);
    EXPECT_TRUE(vg_lane_at(l, 0)->meta.is_key);
    EXPECT_EQ(vg_lane_gop_count(l), 30);
    vg_lane_free(&l);
}

VG_TEST(bytes_bound_drops_old_gops_and_an_oversize_gop)
{
    vg_lane_t *l = vg_lane_new(&(vg_lane_cfg_t){.history_us = 60000000, .max_bytes = 10000});
    for (int i = 0; i < 40; i++)
        push(l, i % 10 == 0, (int64_t)i * 33333, 500);
    vg_lane_stats_t s;
    vg_lane_get_stats(l, &s);
    EXPECT_TRUE(s.bytes <= 10000);
    EXPECT_TRUE(vg_lane_at(l, 0)->meta.is_key);
    EXPECT_EQ(vg_lane_gop_count(l), 10);
    /* A camera that stops sending keyframes: its GOP outgrows the bound, the lane waits. */
    bool kept = true;
    for (int i = 40; i < 80 && kept; i++)
        kept = push(l, false, (int64_t)i * 33333, 500);
    EXPECT_TRUE(!kept);
    EXPECT_EQ(vg_lane_gop_count(l), 0);
    vg_lane_get_stats(l, &s);
    EXPECT_EQ(s.gaps, 1);
    EXPECT_TRUE(!push(l, false, 90 * 33333, 500));
    EXPECT_TRUE(push(l, true, 91 * 33333, 500));
    EXPECT_EQ(vg_lane_gop_count(l), 1);
    vg_lane_free(&l);
}

VG_TEST(gap_drops_the_current_gop_and_keeps_history)
{
    vg_lane_t *l = vg_lane_new(&(vg_lane_cfg_t){.history_us = 60000000, .max_bytes = 1 << 20});
    for (int i = 0; i < 15; i++)
        push(l, i % 10 == 0, (int64_t)i * 33333, 100);
    vg_lane_gap(l);
    vg_lane_stats_t s;
    vg_lane_get_stats(l, &s);
    EXPECT_EQ(s.count, 10); /* the first GOP, complete */
    EXPECT_EQ(s.gop_count, 0);
    EXPECT_EQ(s.gaps, 1);
    vg_lane_gap(l); /* already waiting: not another gap */
    vg_lane_get_stats(l, &s);
    EXPECT_EQ(s.gaps, 1);
    EXPECT_TRUE(!push(l, false, 16 * 33333, 100));
    EXPECT_TRUE(push(l, true, 20 * 33333, 100));
    vg_lane_get_stats(l, &s);
    EXPECT_EQ(s.count, 11);
    vg_lane_clear(l);
    vg_lane_get_stats(l, &s);
    EXPECT_EQ(s.count, 0);
    EXPECT_EQ(s.bytes, 0);
    vg_lane_free(&l);
}

VG_TEST(find_nearest_and_its_keyframe)
{
    vg_lane_t *l = vg_lane_new(&(vg_lane_cfg_t){.history_us = 60000000, .max_bytes = 1 << 20});
    size_t key, idx;
    int64_t oldest;
    EXPECT_EQ(vg_lane_find(l, 0, &key, &idx, &oldest), VG_ENOENT);
    for (int i = 0; i < 100; i++) /* from t = 1 s, 40 ms apart, keyframe every 25 */
        push(l, i % 25 == 0, 1000000 + (int64_t)i * 40000, 100);
    EXPECT_EQ(vg_lane_find(l, 1000000 + 57 * 40000 + 15000, &key, &idx, &oldest), 0);
    EXPECT_EQ(idx, 57);
    EXPECT_EQ(key, 50);
    EXPECT_EQ(vg_lane_find(l, 1000000 + 57 * 40000 + 25000, &key, &idx, &oldest), 0);
    EXPECT_EQ(idx, 58);
    EXPECT_EQ(vg_lane_find(l, 999999, &key, &idx, &oldest), VG_ENOENT);
    EXPECT_EQ(oldest, 1000000);
    int64_t newest = 1000000 + 99 * 40000;
    EXPECT_EQ(vg_lane_find(l, newest + 19000, &key, &idx, &oldest), 0);
    EXPECT_EQ(idx, 99);
    EXPECT_EQ(vg_lane_find(l, newest + 21000, &key, &idx, &oldest), VG_EAGAIN);
    vg_lane_free(&l);
}

VG_TEST(frames_are_released)
{
    vg_lane_t *l = vg_lane_new(&(vg_lane_cfg_t){.history_us = 0, .max_bytes = 1 << 20});
    vg_frame_t *f = au(true, 0, 10);
    vg_lane_push(l, f);
    EXPECT_EQ(atomic_load(&f->refs), 2);
    push(l, true, 33000, 10);
    EXPECT_EQ(atomic_load(&f->refs), 1);
    vg_frame_unref(&f);
    vg_lane_free(&l);
}
