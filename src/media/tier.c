/* tier: see tier.h. */
#include "media/tier.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int height, fps, quality;
} classes[] = {
    {"low", 320, 15, 70},
    {"medium", 480, 25, 75},
    {"high", 720, 30, 80},
    {"ultra", 1080, 30, 80},
};

static int even(int v) { return v < 2 ? 2 : v & ~1; }

int vg_tier_default_ladder(int width, int height, int fps, vg_tier_t out[VG_TIER_MAX])
{
    int n = 0;
    if (fps < 1)
        fps = 1;
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        if (classes[i].height >= height)
            continue;
        vg_tier_t *t = &out[n++];
        snprintf(t->name, sizeof(t->name), "%s", classes[i].name);
        t->height = classes[i].height;
        /* Keep the aspect ratio; round to the nearest even width. */
        t->width = even(2 * (int)(((long long)width * classes[i].height + height) /
                                  (2LL * height)));
        t->fps = classes[i].fps < fps ? classes[i].fps : fps;
        t->quality = classes[i].quality;
    }
    vg_tier_t *t = &out[n++];
    snprintf(t->name, sizeof(t->name), "native");
    t->width = width;
    t->height = height;
    t->fps = fps;
    t->quality = 80;
    return n;
}

int vg_tier_find(const vg_tier_t *ladder, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(ladder[i].name, name) == 0)
            return i;
    }
    return -1;
}

int vg_tier_default_index(const vg_tier_t *ladder, int n)
{
    int i = vg_tier_find(ladder, n, "medium");
    return i >= 0 ? i : 0;
}

json_t *vg_tier_ladder_json(const vg_tier_t *ladder, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:i,s:i}", "name", ladder[i].name,
                                             "width", ladder[i].width, "height",
                                             ladder[i].height, "fps", ladder[i].fps, "quality",
                                             ladder[i].quality));
    return arr;
}
