/* tier: ladders, sizes and the order adaptive viewers walk. */
#include <string.h>

#include "media/tier.h"
#include "vg_test.h"

VG_TEST(default_ladder_never_upscales)
{
    vg_tier_t t[VG_TIER_MAX];
    int n = vg_tier_default_ladder(1280, 720, 30, t);
    EXPECT_EQ(n, 9);
    /* Thin-link rungs first: 180 lines at 1, 5, 10 and 15 fps, 240 at 15 and 30. */
    static const struct {
        const char *name;
        int w, h, fps, q;
    } want[] = {
        {"thin1", 320, 180, 1, 40},   {"thin5", 320, 180, 5, 40}, {"thin10", 320, 180, 10, 30},
        {"thin", 320, 180, 15, 40},   {"tiny15", 426, 240, 15, 40}, {"tiny", 426, 240, 30, 50}, {"low", 568, 320, 30, 60},
        {"medium", 854, 480, 30, 70}, {"native", 1280, 720, 30, 85},
    };
    for (int i = 0; i < n; i++) {
        EXPECT_STREQ(t[i].name, want[i].name);
        EXPECT_EQ(t[i].width, want[i].w);
        EXPECT_EQ(t[i].height, want[i].h);
        EXPECT_EQ(t[i].fps, want[i].fps); /* from low up, fluid motion first: the camera's rate */
        EXPECT_EQ(t[i].quality, want[i].q);
    }
    EXPECT_STREQ(t[vg_tier_default_index(t, n)].name, "medium");
    n = vg_tier_default_ladder(640, 360, 10, t);
    EXPECT_EQ(n, 6); /* thin1, thin5, thin10 (thin at 10 fps is the same), tiny15 at 10, low, native */
    EXPECT_STREQ(t[2].name, "thin10");
    EXPECT_EQ(t[2].fps, 10);
    EXPECT_STREQ(t[3].name, "tiny15");
    EXPECT_EQ(t[3].fps, 10);
    EXPECT_STREQ(t[4].name, "low");
    EXPECT_STREQ(t[vg_tier_default_index(t, n)].name, "low"); /* no medium: not a thin rung */
    n = vg_tier_default_ladder(320, 240, 15, t);
    EXPECT_EQ(n, 5); /* thin1, thin5, thin10, thin, native */
    EXPECT_STREQ(t[vg_tier_default_index(t, n)].name, "native");
    EXPECT_EQ(vg_tier_find(t, n, "ultra"), -1);
    n = vg_tier_default_ladder(240, 180, 15, t);
    EXPECT_EQ(n, 1);
    n = vg_tier_default_ladder(1920, 1080, 60, t);
    EXPECT_EQ(n, 10);
    EXPECT_EQ(t[8].fps, 30);
    EXPECT_EQ(t[9].fps, 60);
}

VG_TEST(unknown_size_resolves_per_picture)
{
    vg_tier_t t[VG_TIER_MAX];
    int n = vg_tier_default_ladder(0, 0, 0, t);
    EXPECT_EQ(n, 11); /* the six thin-link rungs, low, medium, high, ultra, native */
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
