/* tier: ladders, sizes and the order adaptive viewers walk. */
#include <string.h>

#include "media/tier.h"
#include "vg_test.h"

VG_TEST(default_ladder_never_upscales)
{
    vg_tier_t t[VG_TIER_MAX];
    int n = vg_tier_default_ladder(1280, 720, 30, t);
    EXPECT_EQ(n, 13);
    EXPECT_EQ(vg_tier_jpeg_count(t, n), 9);
    /* Thin-link rungs first: 144 lines at 1, 5, 10 and 15 fps, 240 at 15 and 30. */
    static const struct {
        const char *name;
        int w, h, fps, q;
    } want[] = {
        {"micro1", 256, 144, 1, 30},  {"micro5", 256, 144, 5, 30}, {"micro10", 256, 144, 10, 30},
        {"micro15", 256, 144, 15, 30}, {"tiny15", 426, 240, 15, 40}, {"tiny", 426, 240, 30, 50},
        {"low", 568, 320, 30, 60},
        {"medium", 854, 480, 30, 70}, {"native", 1280, 720, 30, 85},
    };
    for (int i = 0; i < 9; i++) {
        EXPECT_EQ(t[i].codec, VG_CODEC_JPEG);
        EXPECT_STREQ(t[i].name, want[i].name);
        EXPECT_EQ(t[i].width, want[i].w);
        EXPECT_EQ(t[i].height, want[i].h);
        EXPECT_EQ(t[i].fps, want[i].fps); /* from low up, fluid motion first: the camera's rate */
        EXPECT_EQ(t[i].quality, want[i].q);
    }
    /* Then the H.264 rungs, by cost, each with a bitrate cap that grows with size and rate. */
    static const struct {
        const char *name;
        int w, h, fps;
    } want264[] = {{"h264-thin10", 320, 180, 10}, {"h264-tiny15", 426, 240, 15},
                   {"h264-low", 568, 320, 30}, {"h264-medium", 854, 480, 30}};
    for (int i = 0; i < 4; i++) {
        const vg_tier_t *h = &t[9 + i];
        EXPECT_STREQ(h->name, want264[i].name);
        EXPECT_EQ(h->codec, VG_CODEC_H264);
        EXPECT_EQ(h->width, want264[i].w);
        EXPECT_EQ(h->height, want264[i].h);
        EXPECT_EQ(h->fps, want264[i].fps);
        EXPECT_EQ(h->quality, 0);
        EXPECT_TRUE(h->kbps >= 100 && (i == 0 || h->kbps > t[8 + i].kbps));
        /* each at most 2.5 times the one below (or a floor rung of 400 kbit/s or less): a
         * blind probe may climb to it (adapt.c) */
        EXPECT_TRUE(i == 0 || h->kbps <= 400 || h->kbps <= 2.5 * t[8 + i].kbps);
    }
    EXPECT_EQ(t[11].kbps, 900);
    EXPECT_EQ(t[12].kbps, 1800);
    EXPECT_STREQ(t[vg_tier_default_index(t, n)].name, "medium");
    n = vg_tier_default_ladder(640, 360, 10, t);
    /* micro1, micro5, micro10 (micro15 at 10 fps is the same), tiny15 at 10, low, native */
    EXPECT_EQ(vg_tier_jpeg_count(t, n), 6);
    EXPECT_EQ(n, 9); /* and the three H.264 rungs, at most 10 fps */
    EXPECT_EQ(t[7].fps, 10);
    EXPECT_EQ(t[8].fps, 10);
    EXPECT_STREQ(t[2].name, "micro10");
    EXPECT_EQ(t[2].fps, 10);
    EXPECT_STREQ(t[3].name, "tiny15");
    EXPECT_EQ(t[3].fps, 10);
    EXPECT_STREQ(t[4].name, "low");
    EXPECT_STREQ(t[vg_tier_default_index(t, n)].name, "low"); /* no medium: not a thin rung */
    n = vg_tier_default_ladder(320, 240, 15, t);
    EXPECT_EQ(n, 6); /* micro1, micro5, micro10, micro15, native; h264-thin10 */
    EXPECT_STREQ(t[vg_tier_default_index(t, n)].name, "native");
    EXPECT_STREQ(t[5].name, "h264-thin10");
    EXPECT_EQ(vg_tier_find(t, n, "ultra"), -1);
    n = vg_tier_default_ladder(240, 180, 15, t);
    EXPECT_EQ(n, 5); /* the four 144-line rungs (192 wide), native */
    EXPECT_EQ(t[0].width, 192);
    EXPECT_STREQ(t[4].name, "native");
    n = vg_tier_default_ladder(176, 144, 15, t);
    EXPECT_EQ(n, 1); /* QCIF: nothing below it */
    n = vg_tier_default_ladder(1920, 1080, 60, t);
    EXPECT_EQ(n, 15); /* ten JPEG, five H.264 (up to h264-high, 720 lines) */
    EXPECT_STREQ(t[14].name, "h264-high");
    EXPECT_EQ(t[8].fps, 30);
    EXPECT_EQ(t[9].fps, 60);
}

VG_TEST(unknown_size_resolves_per_picture)
{
    vg_tier_t t[VG_TIER_MAX];
    int n = vg_tier_default_ladder(0, 0, 0, t);
    /* the six thin-link rungs, low, medium, high, ultra, native; five H.264 */
    EXPECT_EQ(n, VG_TIER_MAX);
    EXPECT_STREQ(t[6].name, "low");
    EXPECT_EQ(t[6].width, 0);
    EXPECT_EQ(t[6].fps, 30);
    int w, h;
    vg_tier_resolve(&t[6], 1920, 1080, &w, &h);
    EXPECT_EQ(w, 568);
    EXPECT_EQ(h, 320);
    vg_tier_resolve(&t[9], 1280, 720, &w, &h); /* ultra on a 720p camera: not upscaled */
    EXPECT_EQ(w, 1280);
    EXPECT_EQ(h, 720);
    vg_tier_resolve(&t[7], 704, 576, &w, &h); /* 4CIF keeps its aspect */
    EXPECT_EQ(h, 480);
    EXPECT_EQ(w, 586);
}

VG_TEST(configured_ladder_is_validated_and_sorted)
{
    vg_tier_t t[VG_TIER_MAX];
    char err[128];
    vg_tier_spec_t specs[] = {
        {.size = "native", .quality = 90},
        {.name = "tiny", .size = "low", .fps = 10, .quality = 40},
        {.name = "low30", .size = "low", .fps = 30},
    };
    int n = vg_tier_ladder_from_specs(specs, 3, 1280, 720, 30, t, err, sizeof(err));
    EXPECT_EQ(n, 3);
    EXPECT_STREQ(t[0].name, "tiny");
    EXPECT_STREQ(t[1].name, "low30");
    EXPECT_EQ(t[1].quality, 60);
    EXPECT_STREQ(t[2].name, "native");
    EXPECT_EQ(t[2].width, 1280);
    EXPECT_EQ(t[2].quality, 90);

    vg_tier_spec_t bad_size[] = {{.size = "huge"}};
    EXPECT_EQ(vg_tier_ladder_from_specs(bad_size, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "size") != NULL);
    vg_tier_spec_t bad_fps[] = {{.size = "low", .fps = 61}};
    EXPECT_EQ(vg_tier_ladder_from_specs(bad_fps, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "fps") != NULL);
    vg_tier_spec_t dup[] = {{.size = "low"}, {.size = "low", .fps = 5}};
    EXPECT_EQ(vg_tier_ladder_from_specs(dup, 2, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "twice") != NULL);
    vg_tier_spec_t autoname[] = {{.name = "auto", .size = "low"}};
    EXPECT_EQ(vg_tier_ladder_from_specs(autoname, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_EQ(vg_tier_ladder_from_specs(specs, 0, 1280, 720, 30, t, err, sizeof(err)), -1);
}

VG_TEST(h264_tiers_are_checked_and_sorted_after_the_jpeg_ones)
{
    vg_tier_t t[VG_TIER_MAX];
    char err[160];
    vg_tier_spec_t specs[] = {
        {.name = "cheap", .size = "thin", .fps = 5, .codec = "h264", .kbps = 80},
        {.size = "native"},
        {.name = "h264", .size = "low", .codec = "h264"},
        {.size = "thin", .codec = "jpeg"},
    };
    int n = vg_tier_ladder_from_specs(specs, 4, 1280, 720, 30, t, err, sizeof(err));
    EXPECT_EQ(n, 4);
    EXPECT_STREQ(t[0].name, "thin");
    EXPECT_STREQ(t[1].name, "native");
    EXPECT_STREQ(t[2].name, "cheap");
    EXPECT_EQ(t[2].kbps, 80);
    EXPECT_STREQ(t[3].name, "h264");
    EXPECT_EQ(t[3].kbps, vg_tier_h264_default_kbps(320, 30));
    EXPECT_EQ(vg_tier_jpeg_count(t, n), 2);
    EXPECT_EQ(vg_tier_default_index(t, n), 1); /* never an H.264 tier */

    vg_tier_spec_t q264[] = {{.size = "low", .codec = "h264", .quality = 50}};
    EXPECT_EQ(vg_tier_ladder_from_specs(q264, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "quality") != NULL);
    vg_tier_spec_t kjpeg[] = {{.size = "low", .kbps = 500}};
    EXPECT_EQ(vg_tier_ladder_from_specs(kjpeg, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "kbps") != NULL);
    vg_tier_spec_t krange[] = {{.size = "low", .codec = "h264", .kbps = 30}};
    EXPECT_EQ(vg_tier_spec_check(&krange[0], 0, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "kbps must be 50..20000") != NULL);
    vg_tier_spec_t vp8[] = {{.size = "low", .codec = "vp8"}};
    EXPECT_EQ(vg_tier_ladder_from_specs(vp8, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "codec must be jpeg or h264") != NULL);
    /* Alone it is a valid tier; as a whole ladder it leaves MJPEG and snapshots nothing. */
    vg_tier_spec_t only264[] = {{.size = "low", .codec = "h264"}};
    EXPECT_EQ(vg_tier_spec_check(&only264[0], 0, err, sizeof(err)), 0);
    EXPECT_EQ(vg_tier_ladder_from_specs(only264, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "needs a JPEG tier") != NULL);
    vg_tier_spec_t named_source[] = {{.name = "source", .size = "low"}};
    EXPECT_EQ(vg_tier_ladder_from_specs(named_source, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    /* (the camera's keyframes alone have that name: a tier of it would hide them) */
    vg_tier_spec_t named_keys[] = {{.name = "source-keys", .size = "low"}};
    EXPECT_EQ(vg_tier_ladder_from_specs(named_keys, 1, 1280, 720, 30, t, err, sizeof(err)), -1);
    EXPECT_TRUE(strstr(err, "'source-keys'") != NULL);
}

VG_TEST(h264_default_bitrate_grows_with_size_and_rate)
{
    EXPECT_EQ(vg_tier_h264_default_kbps(320, 30), 900);
    EXPECT_TRUE(vg_tier_h264_default_kbps(180, 10) < vg_tier_h264_default_kbps(180, 15));
    EXPECT_TRUE(vg_tier_h264_default_kbps(180, 15) < vg_tier_h264_default_kbps(240, 15));
    EXPECT_TRUE(vg_tier_h264_default_kbps(180, 1) >= 50);
    EXPECT_TRUE(vg_tier_h264_default_kbps(0, 60) <= 20000);
}
