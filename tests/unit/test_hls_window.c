/* hls_window: the LL-HLS window, its playlist text, blocking-reload decisions and name
 * lookups. No clock: durations and PDTs are the test's numbers. */
#include "core/err.h"
#include "outputs/hls_window.h"
#include "vg_test.h"

#define PDT0 1700000000000000LL /* 2023-11-14T22:13:20.000Z */

static vg_frame_t *bytes_of(size_t len)
{
    vg_frame_t *f = vg_frame_new(len);
    f->len = len;
    return f;
}

static void set_init(vg_hlsw_t *w)
{
    vg_frame_t *init = bytes_of(700);
    vg_hlsw_set_init(w, init);
    vg_frame_unref(&init);
}

/* Adds one part of len bytes and drops the test's reference. */
static void add_part(vg_hlsw_t *w, int64_t duration_us, bool is_independent, int64_t pdt_us)
{
    vg_frame_t *f = bytes_of(1000);
    EXPECT_EQ(vg_hlsw_add_part(w, f, duration_us, is_independent, pdt_us), 0);
    vg_frame_unref(&f);
}

/* Appends n_segments complete segments of n_parts parts each; the first part of each is
 * independent. *pdt_us advances with the media. */
static void add_segments(vg_hlsw_t *w, int n_segments, int n_parts, int64_t part_us,
                         int64_t *pdt_us)
{
    for (int s = 0; s < n_segments; s++) {
        for (int p = 0; p < n_parts; p++) {
            add_part(w, part_us, p == 0, *pdt_us);
            *pdt_us += part_us;
        }
        vg_hlsw_close_segment(w);
    }
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char text[1 << 16];

static const char *playlist(const vg_hlsw_t *w, const char *query, bool is_skip)
{
    int n = vg_hlsw_playlist(w, query, is_skip, text, sizeof(text));
    EXPECT_TRUE(n > 0);
    EXPECT_EQ(n, (long long)strlen(text));
    return text;
}

VG_TEST(renders_the_exact_playlist)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 500000, .segment_target_us = 1000000, .window_segments = 2});
    set_init(w);
    add_part(w, 500000, true, PDT0);
    add_part(w, 500000, false, PDT0 + 500000);
    vg_hlsw_close_segment(w);
    add_part(w, 500000, true, PDT0 + 1000000);
    EXPECT_STREQ(playlist(w, "token=abc", false),
                 "#EXTM3U\n"
                 "#EXT-X-VERSION:9\n"
                 "#EXT-X-TARGETDURATION:1\n"
                 "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.50000,"
                 "CAN-SKIP-UNTIL=6.00000\n"
                 "#EXT-X-PART-INF:PART-TARGET=0.50000\n"
                 "#EXT-X-MEDIA-SEQUENCE:0\n"
                 "#EXT-X-MAP:URI=\"init1.mp4?token=abc\"\n"
                 "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n"
                 "#EXT-X-PART:DURATION=0.50000,URI=\"part0.0.m4s?token=abc\",INDEPENDENT=YES\n"
                 "#EXT-X-PART:DURATION=0.50000,URI=\"part0.1.m4s?token=abc\"\n"
                 "#EXTINF:1.00000,\n"
                 "seg0.m4s?token=abc\n"
                 "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:21.000Z\n"
                 "#EXT-X-PART:DURATION=0.50000,URI=\"part1.0.m4s?token=abc\",INDEPENDENT=YES\n"
                 "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part1.1.m4s?token=abc\"\n");
    vg_hlsw_free(&w);
    EXPECT_TRUE(w == NULL);
}

VG_TEST(window_slides_past_its_limit)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 2000000, .window_segments = 3});
    int64_t pdt = PDT0;
    set_init(w);
    add_segments(w, 2, 10, 200000, &pdt);
    const char *t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXTINF:2.00000,\n"), 2);
    EXPECT_EQ(count_of(t, "#EXT-X-MEDIA-SEQUENCE:0\n"), 1);
    add_segments(w, 3, 10, 200000, &pdt);
    t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXTINF:"), 3);
    EXPECT_EQ(count_of(t, "#EXT-X-MEDIA-SEQUENCE:2\n"), 1);
    EXPECT_EQ(count_of(t, "\nseg1.m4s\n"), 0);
    EXPECT_EQ(count_of(t, "\nseg2.m4s\n"), 1);
    EXPECT_EQ(count_of(t, "\nseg4.m4s\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-PROGRAM-DATE-TIME:"), 3);
    EXPECT_EQ(count_of(t, "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24.000Z\n"), 1);
    /* The map leads the first segment listed, even after its first segment left. */
    EXPECT_EQ(count_of(t, "#EXT-X-MAP:URI=\"init1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part5.0.m4s\"\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-DISCONTINUITY"), 0);
    uint64_t msn;
    int part;
    vg_hlsw_next(w, &msn, &part);
    EXPECT_EQ(msn, 5);
    EXPECT_EQ(part, 0);
    vg_hlsw_file_t f;
    EXPECT_EQ(vg_hlsw_find(w, "seg1.m4s", &f), VG_HLSW_GONE);
    EXPECT_EQ(f.n_frames, 0);
    EXPECT_EQ(vg_hlsw_find(w, "seg2.m4s", &f), VG_HLSW_FOUND);
    EXPECT_EQ(f.n_frames, 10);
    EXPECT_EQ(f.len_bytes, 10000);
    vg_hlsw_file_release(&f);
    EXPECT_EQ(f.n_frames, 0);
    vg_hlsw_free(&w);
}

VG_TEST(parts_only_near_the_end_and_the_open_segment_only_as_parts)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 20});
    int64_t pdt = PDT0;
    set_init(w);
    add_segments(w, 10, 5, 200000, &pdt);
    add_part(w, 200000, true, pdt);
    add_part(w, 200000, false, pdt + 200000);
    const char *t = playlist(w, NULL, false);
    /* The end is at 10.4 s; three target durations (3 s) back reaches segments 7, 8 and 9
     * (ending at 8, 9, 10 s); the open segment 10 lists its two parts and no EXTINF. */
    EXPECT_EQ(count_of(t, "#EXT-X-PART:"), 3 * 5 + 2);
    EXPECT_EQ(count_of(t, "URI=\"part6."), 0);
    EXPECT_EQ(count_of(t, "URI=\"part7.0.m4s\",INDEPENDENT=YES\n"), 1);
    EXPECT_EQ(count_of(t, "URI=\"part10.1.m4s\"\n"), 1);
    EXPECT_EQ(count_of(t, "#EXTINF:"), 10);
    EXPECT_EQ(count_of(t, "seg10.m4s"), 0);
    /* The open segment's tags come before its first part (4.4.4.9). */
    EXPECT_EQ(count_of(t, "seg9.m4s\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:30.000Z\n"
                          "#EXT-X-PART:DURATION=0.20000,URI=\"part10.0.m4s\""),
              1);
    vg_hlsw_free(&w);
}

VG_TEST(discontinuity_sequence_counts_discontinuities_that_left)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 2});
    int64_t pdt = PDT0;
    set_init(w);
    add_segments(w, 1, 5, 200000, &pdt);
    add_part(w, 200000, true, pdt);
    /* A new init closes the open segment: its parts need the old one. */
    set_init(w);
    uint64_t msn;
    int part;
    vg_hlsw_next(w, &msn, &part);
    EXPECT_EQ(msn, 2);
    EXPECT_EQ(part, 0);
    add_segments(w, 1, 5, 200000, &pdt);
    /* window: seg1 (init1), seg2 (init2, discontinuity) */
    const char *t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXT-X-MEDIA-SEQUENCE:1\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init2.mp4\"\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-MAP:URI=\"init1.mp4\"\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-DISCONTINUITY-SEQUENCE"), 0);
    vg_hlsw_file_t f;
    EXPECT_EQ(vg_hlsw_find(w, "init1.mp4", &f), VG_HLSW_FOUND);
    EXPECT_EQ(f.len_bytes, 700);
    vg_hlsw_file_release(&f);
    /* seg3 pushes seg1 out: init1 goes with it. seg4 pushes seg2 (the discontinuity) out. */
    add_segments(w, 1, 5, 200000, &pdt);
    t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXT-X-DISCONTINUITY\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-DISCONTINUITY-SEQUENCE"), 0);
    EXPECT_EQ(vg_hlsw_find(w, "init1.mp4", &f), VG_HLSW_GONE);
    add_segments(w, 1, 5, 200000, &pdt);
    t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-DISCONTINUITY\n"), 0);
    EXPECT_EQ(count_of(t, "#EXT-X-MAP:URI=\"init2.mp4\"\n"), 1);
    /* A third init: the sequence counts the second discontinuity once it leaves too. */
    set_init(w);
    add_segments(w, 3, 5, 200000, &pdt);
    t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXT-X-DISCONTINUITY-SEQUENCE:2\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-MAP:URI=\"init3.mp4\"\n"), 1);
    vg_hlsw_free(&w);
}

VG_TEST(delta_update_skips_segments_beyond_the_skip_boundary)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 20});
    int64_t pdt = PDT0;
    set_init(w);
    add_segments(w, 5, 5, 200000, &pdt);
    add_part(w, 200000, true, pdt);
    pdt += 200000;
    add_part(w, 200000, false, pdt);
    pdt += 200000;
    /* 5.4 s of media: shorter than CAN-SKIP-UNTIL (6 s), nothing to skip. */
    const char *t = playlist(w, NULL, true);
    EXPECT_EQ(count_of(t, "#EXT-X-SKIP"), 0);
    EXPECT_EQ(count_of(t, "#EXTINF:"), 5);
    vg_hlsw_close_segment(w);
    add_segments(w, 4, 5, 200000, &pdt);
    add_part(w, 200000, true, pdt);
    add_part(w, 200000, false, pdt + 200000);
    /* 10 segments (the sixth 0.4 s long) and 0.4 s open: the end is at 9.8 s. Segments
     * ending more than 6 s before it (at 1, 2, 3 s) are skipped; the one ending at 4 s is
     * 5.8 s from the end and stays. */
    char full[1 << 16];
    EXPECT_TRUE(vg_hlsw_playlist(w, NULL, false, full, sizeof(full)) > 0);
    t = playlist(w, NULL, true);
    EXPECT_EQ(count_of(full, "#EXTINF:"), 10);
    EXPECT_EQ(count_of(full, "#EXT-X-SKIP"), 0);
    EXPECT_EQ(count_of(t, "#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n"), 1);
    EXPECT_EQ(count_of(t, "#EXTINF:"), 7);
    EXPECT_EQ(count_of(t, "seg2.m4s"), 0);
    EXPECT_EQ(count_of(t, "\nseg3.m4s\n"), 1);
    /* Skipping does not move the media sequence; the map is restated after the skip. */
    EXPECT_EQ(count_of(t, "#EXT-X-MEDIA-SEQUENCE:0\n"), 1);
    EXPECT_EQ(count_of(t, "#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n#EXT-X-MAP:URI=\"init1.mp4\"\n"), 1);
    EXPECT_TRUE(strlen(t) < strlen(full));
    vg_hlsw_free(&w);
}

VG_TEST(query_reaches_every_uri_and_unsafe_ones_are_refused)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 4});
    int64_t pdt = PDT0;
    set_init(w);
    add_segments(w, 2, 5, 200000, &pdt);
    set_init(w);
    add_segments(w, 6, 5, 200000, &pdt);
    add_part(w, 200000, true, pdt);
    const char *t = playlist(w, "token=a%2Fb&x=1", false);
    int uris = count_of(t, ".m4s") + count_of(t, ".mp4");
    /* The end is at 4.2 s: 4 segments, the parts of the last 3 (segment 4 ends 3.2 s from
     * the end, beyond three target durations), 1 open part, the hint and one map */
    EXPECT_EQ(uris, 4 + 15 + 1 + 1 + 1);
    EXPECT_EQ(count_of(t, "?token=a%2Fb&x=1"), uris);
    EXPECT_EQ(count_of(t, ".m4s\"") + count_of(t, ".mp4\"") + count_of(t, ".m4s\n"), 0);
    t = playlist(w, "", false);
    EXPECT_EQ(count_of(t, "?"), 0);
    t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "?"), 0);
    static const char *const bad[] = {"a\"b", "a\nb", "a b", "a#b", "a\rb", "\xc3\xa9", "<x>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_EQ(vg_hlsw_playlist(w, bad[i], false, text, sizeof(text)), VG_EINVAL);
    vg_hlsw_free(&w);
}

VG_TEST(blocking_reload_at_every_boundary)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 7});
    /* Empty: msn 0 and 1 may come, 2 is more than two beyond the last segment (none: -1). */
    EXPECT_EQ(vg_hlsw_block(w, 0, -1), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 1, -1), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 2, -1), VG_HLSW_BAD);
    EXPECT_EQ(vg_hlsw_block(w, 0, 0), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 0, 14), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 0, 15), VG_HLSW_BAD);
    int64_t pdt = PDT0;
    set_init(w);
    add_segments(w, 5, 5, 200000, &pdt); /* segments 0..4 complete */
    add_part(w, 200000, true, pdt);
    add_part(w, 200000, false, pdt); /* open segment 5: parts 0 and 1 */
    /* _HLS_msn alone waits for a complete segment: the last complete is 4. */
    EXPECT_EQ(vg_hlsw_block(w, 3, -1), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 4, -1), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 5, -1), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 6, -1), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 7, -1), VG_HLSW_BAD);
    EXPECT_EQ(vg_hlsw_block(w, 0, -1), VG_HLSW_READY); /* and long gone: still READY */
    /* With _HLS_part: the Advance Part Limit is 3 / 0.2 s = 15 parts past the last (5.1). */
    EXPECT_EQ(vg_hlsw_block(w, 5, 0), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 5, 1), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 5, 2), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 5, 16), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 5, 17), VG_HLSW_BAD);
    EXPECT_EQ(vg_hlsw_block(w, 6, 0), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 6, 14), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 6, 15), VG_HLSW_BAD);
    EXPECT_EQ(vg_hlsw_block(w, 7, 0), VG_HLSW_BAD);
    EXPECT_EQ(vg_hlsw_block(w, 4, 4), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 4, 99), VG_HLSW_READY); /* = part 0 of 5, which exists */
    EXPECT_EQ(vg_hlsw_block(w, -1, 0), VG_HLSW_BAD);   /* _HLS_part without _HLS_msn */
    EXPECT_EQ(vg_hlsw_block(w, -1, -1), VG_HLSW_READY);
    /* Segment 5 closes with 2 parts: part 2 of 5 now means part 0 of 6, one part away. */
    vg_hlsw_close_segment(w);
    EXPECT_EQ(vg_hlsw_block(w, 5, -1), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 5, 1), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 5, 2), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 5, 40), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 6, -1), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 7, -1), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 8, -1), VG_HLSW_BAD);
    add_part(w, 200000, true, pdt);
    EXPECT_EQ(vg_hlsw_block(w, 5, 2), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 6, 0), VG_HLSW_READY);
    EXPECT_EQ(vg_hlsw_block(w, 6, 1), VG_HLSW_WAIT);
    vg_hlsw_free(&w);
}

VG_TEST(advance_part_limit_is_three_for_a_part_target_of_a_second_or_more)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 1000000, .segment_target_us = 4000000, .window_segments = 3});
    set_init(w);
    add_part(w, 1000000, true, PDT0);
    EXPECT_EQ(vg_hlsw_block(w, 0, 3), VG_HLSW_WAIT);
    EXPECT_EQ(vg_hlsw_block(w, 0, 4), VG_HLSW_BAD);
    vg_hlsw_free(&w);
}

VG_TEST(names_parse_strictly)
{
    vg_hlsw_name_t n;
    EXPECT_EQ(vg_hlsw_parse_name("part12.3.m4s", &n), 0);
    EXPECT_EQ(n.kind, VG_HLSW_NAME_PART);
    EXPECT_EQ(n.number, 12);
    EXPECT_EQ(n.part, 3);
    EXPECT_EQ(vg_hlsw_parse_name("seg0.m4s", &n), 0);
    EXPECT_EQ(n.kind, VG_HLSW_NAME_SEGMENT);
    EXPECT_EQ(n.number, 0);
    EXPECT_EQ(vg_hlsw_parse_name("init2.mp4", &n), 0);
    EXPECT_EQ(n.kind, VG_HLSW_NAME_INIT);
    EXPECT_EQ(n.number, 2);
    EXPECT_EQ(vg_hlsw_parse_name("seg9223372036854775807.m4s", &n), 0);
    EXPECT_TRUE(n.number == 9223372036854775807ULL);
    static const char *const bad[] = {
        "part99999999999999999999.0.m4s", "seg9223372036854775808.m4s",
        "seg18446744073709551616.m4s", "part1.64.m4s", "part1.99999999999.m4s",
        "part01.0.m4s", "part1.00.m4s", "seg-1.m4s", "seg+1.m4s", "seg 1.m4s", "seg.m4s",
        "seg1.m4", "seg1.m4s?x", "seg1.m4s/", "init0.mp4", "init2147483648.mp4", "init1.m4s",
        "init1.mp4x", "part1.m4s", "part1..m4s", "part.1.m4s", "../seg1.m4s", "", "SEG1.m4s",
        "seg0x1.m4s", "index.m3u8",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (vg_hlsw_parse_name(bad[i], &n) != VG_EINVAL) {
            fprintf(stderr, "accepted %s\n", bad[i]);
            vg__test_failed = 1;
        }
    }
}

VG_TEST(lookups_found_gone_future_bad)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 2});
    vg_hlsw_file_t f;
    EXPECT_EQ(vg_hlsw_find(w, "part0.0.m4s", &f), VG_HLSW_FUTURE);
    EXPECT_EQ(vg_hlsw_find(w, "seg0.m4s", &f), VG_HLSW_FUTURE);
    EXPECT_EQ(vg_hlsw_find(w, "init1.mp4", &f), VG_HLSW_GONE);
    int64_t pdt = PDT0;
    set_init(w);
    add_segments(w, 4, 5, 200000, &pdt); /* 2 and 3 remain */
    add_part(w, 200000, true, pdt);      /* open 4: part 0 */
    EXPECT_EQ(vg_hlsw_find(w, "seg1.m4s", &f), VG_HLSW_GONE);
    EXPECT_EQ(vg_hlsw_find(w, "seg2.m4s", &f), VG_HLSW_FOUND);
    EXPECT_EQ(f.n_frames, 5);
    EXPECT_EQ(f.len_bytes, 5000);
    vg_hlsw_file_release(&f);
    EXPECT_EQ(vg_hlsw_find(w, "seg4.m4s", &f), VG_HLSW_FUTURE); /* being built */
    EXPECT_EQ(f.n_frames, 0);
    EXPECT_EQ(vg_hlsw_find(w, "seg5.m4s", &f), VG_HLSW_GONE);
    EXPECT_EQ(vg_hlsw_find(w, "part1.4.m4s", &f), VG_HLSW_GONE);
    EXPECT_EQ(vg_hlsw_find(w, "part2.4.m4s", &f), VG_HLSW_FOUND);
    EXPECT_EQ(f.n_frames, 1);
    EXPECT_EQ(f.len_bytes, 1000);
    vg_hlsw_file_release(&f);
    EXPECT_EQ(vg_hlsw_find(w, "part2.5.m4s", &f), VG_HLSW_GONE); /* past its last part */
    EXPECT_EQ(vg_hlsw_find(w, "part4.0.m4s", &f), VG_HLSW_FOUND);
    vg_hlsw_file_release(&f);
    EXPECT_EQ(vg_hlsw_find(w, "part4.1.m4s", &f), VG_HLSW_FUTURE); /* the preload hint */
    EXPECT_EQ(vg_hlsw_find(w, "part4.2.m4s", &f), VG_HLSW_GONE);
    EXPECT_EQ(vg_hlsw_find(w, "part5.0.m4s", &f), VG_HLSW_GONE);
    EXPECT_EQ(vg_hlsw_find(w, "part99999999999999999999.0.m4s", &f), VG_HLSW_BAD_NAME);
    EXPECT_EQ(vg_hlsw_find(w, "seg9223372036854775807.m4s", &f), VG_HLSW_GONE);
    EXPECT_EQ(vg_hlsw_find(w, "index.m3u8", &f), VG_HLSW_BAD_NAME);
    EXPECT_EQ(vg_hlsw_find(w, "init1.mp4", &f), VG_HLSW_FOUND);
    EXPECT_EQ(f.len_bytes, 700);
    vg_hlsw_file_release(&f);
    EXPECT_EQ(vg_hlsw_find(w, "init2.mp4", &f), VG_HLSW_GONE);
    /* Closing 4: the hinted part 4.1 will never exist; the next segment's first part is
     * hinted instead, and seg4 is whole. */
    vg_hlsw_close_segment(w);
    EXPECT_EQ(vg_hlsw_find(w, "part4.1.m4s", &f), VG_HLSW_GONE);
    EXPECT_EQ(vg_hlsw_find(w, "part5.0.m4s", &f), VG_HLSW_FUTURE);
    EXPECT_EQ(vg_hlsw_find(w, "seg5.m4s", &f), VG_HLSW_FUTURE);
    EXPECT_EQ(vg_hlsw_find(w, "seg4.m4s", &f), VG_HLSW_FOUND);
    EXPECT_EQ(f.n_frames, 1);
    vg_hlsw_file_release(&f);
    EXPECT_EQ(vg_hlsw_find(w, "seg2.m4s", &f), VG_HLSW_GONE);
    vg_hlsw_free(&w);
}

VG_TEST(references_are_released)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 2});
    vg_frame_t *init = bytes_of(700);
    vg_hlsw_set_init(w, init);
    EXPECT_EQ(atomic_load(&init->refs), 2);
    enum { N = 4 * 5 + 2 };
    vg_frame_t *parts[N];
    for (int i = 0; i < N; i++) {
        parts[i] = bytes_of(1000);
        EXPECT_EQ(vg_hlsw_add_part(w, parts[i], 200000, i % 5 == 0, PDT0 + i * 200000LL), 0);
        if (i % 5 == 4)
            vg_hlsw_close_segment(w);
    }
    /* Segments 0 and 1 left: their parts are the test's alone again. */
    EXPECT_EQ(atomic_load(&parts[0]->refs), 1);
    EXPECT_EQ(atomic_load(&parts[9]->refs), 1);
    EXPECT_EQ(atomic_load(&parts[10]->refs), 2);
    EXPECT_EQ(atomic_load(&parts[N - 1]->refs), 2);
    /* window, current init, and the two segments in the window (plus the test's) */
    EXPECT_EQ(atomic_load(&init->refs), 1 + 1 + 3);
    vg_hlsw_file_t f;
    EXPECT_EQ(vg_hlsw_find(w, "seg2.m4s", &f), VG_HLSW_FOUND);
    EXPECT_EQ(atomic_load(&parts[10]->refs), 3);
    /* A file outlives the window: a slow request keeps writing what it found. */
    vg_hlsw_free(&w);
    EXPECT_EQ(atomic_load(&parts[10]->refs), 2);
    vg_hlsw_file_release(&f);
    EXPECT_EQ(atomic_load(&init->refs), 1);
    for (int i = 0; i < N; i++) {
        EXPECT_EQ(atomic_load(&parts[i]->refs), 1);
        vg_frame_unref(&parts[i]);
    }
    vg_frame_unref(&init);
}

VG_TEST(targets_grow_to_fit_and_never_shrink)
{
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 2});
    set_init(w);
    int64_t pdt = PDT0;
    add_segments(w, 1, 5, 200000, &pdt);
    const char *t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXT-X-TARGETDURATION:1\n"), 1);
    EXPECT_EQ(count_of(t, "PART-TARGET=0.20000\n"), 1);
    /* A part of 250 ms: PART-TARGET must cover it (4.4.4.9), PART-HOLD-BACK follows. A
     * segment of 2.3 s rounds to 2 (4.4.3.1: to the nearest integer): TARGETDURATION 2. */
    add_part(w, 250000, true, pdt);
    for (int i = 0; i < 10; i++)
        add_part(w, 205000, false, pdt);
    vg_hlsw_close_segment(w);
    t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXT-X-TARGETDURATION:2\n"), 1);
    EXPECT_EQ(count_of(t, "#EXTINF:2.30000,\n"), 1);
    /* One of 2.71 s rounds to 3: TARGETDURATION 3, CAN-SKIP-UNTIL six times that. */
    add_part(w, 250000, true, pdt);
    for (int i = 0; i < 12; i++)
        add_part(w, 205000, false, pdt);
    vg_hlsw_close_segment(w);
    t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXT-X-TARGETDURATION:3\n"), 1);
    EXPECT_EQ(count_of(t, "#EXTINF:2.71000,\n"), 1);
    EXPECT_EQ(count_of(t, "PART-TARGET=0.25000\n"), 1);
    EXPECT_EQ(count_of(t, "PART-HOLD-BACK=0.75000,CAN-SKIP-UNTIL=18.00000\n"), 1);
    EXPECT_EQ(vg_hlsw_target_duration_s(w), 3);
    add_segments(w, 3, 5, 200000, &pdt); /* the long segment leaves */
    t = playlist(w, NULL, false);
    EXPECT_EQ(count_of(t, "#EXT-X-TARGETDURATION:3\n"), 1);
    EXPECT_EQ(count_of(t, "PART-TARGET=0.25000\n"), 1);
    vg_hlsw_free(&w);
}

VG_TEST(bounds_and_errors)
{
    EXPECT_TRUE(vg_hlsw_new(&(vg_hlsw_cfg_t){.part_target_us = 0, .segment_target_us = 1}) ==
                NULL);
    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 1000});
    vg_frame_t *f = bytes_of(10);
    EXPECT_EQ(vg_hlsw_add_part(w, f, 200000, true, PDT0), VG_EINVAL); /* no init yet */
    EXPECT_EQ(vg_hlsw_playlist(w, NULL, false, text, sizeof(text)), VG_EAGAIN);
    EXPECT_EQ(vg_hlsw_playlist_len(w, NULL, false), VG_EAGAIN);
    set_init(w);
    EXPECT_EQ(vg_hlsw_add_part(w, f, 0, true, PDT0), VG_EINVAL);
    /* A segment that never meets a keyframe is closed at VG_HLSW_MAX_PARTS parts. */
    for (int i = 0; i < VG_HLSW_MAX_PARTS + 1; i++)
        EXPECT_EQ(vg_hlsw_add_part(w, f, 200000, i == 0, PDT0), 0);
    uint64_t msn;
    int part;
    vg_hlsw_next(w, &msn, &part);
    EXPECT_EQ(msn, 1);
    EXPECT_EQ(part, 1);
    /* window_segments is clamped to VG_HLSW_MAX_SEGMENTS */
    for (int i = 0; i < 100; i++) {
        EXPECT_EQ(vg_hlsw_add_part(w, f, 200000, true, PDT0), 0);
        vg_hlsw_close_segment(w);
    }
    int len = vg_hlsw_playlist_len(w, "t=1", false);
    EXPECT_TRUE(len > 0);
    EXPECT_EQ(count_of(playlist(w, "t=1", false), "#EXTINF:"), VG_HLSW_MAX_SEGMENTS);
    EXPECT_EQ(vg_hlsw_playlist(w, "t=1", false, text, (size_t)len), VG_ENOSPC);
    EXPECT_EQ(strlen(text), (size_t)len - 1); /* truncated, still terminated */
    EXPECT_EQ(vg_hlsw_playlist(w, "t=1", false, text, (size_t)len + 1), len);
    vg_hlsw_free(&w);
    EXPECT_EQ(atomic_load(&f->refs), 1);
    vg_frame_unref(&f);
}
