/* tier: see tier.h. */
#include "media/tier.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int height, quality;
} classes[] = {
    {"thin", 180, 40},
    {"tiny", 240, 50},
    {"low", 320, 60},
    {"medium", 480, 70},
    {"high", 720, 80},
    {"ultra", 1080, 80},
    {"native", 0, 85},
};
#define CLASS_COUNT (int)(sizeof(classes) / sizeof(classes[0]))
#define NATIVE_CLASS (CLASS_COUNT - 1)
#define DEFAULT_FPS_CAP 30
#define THIN_CLASS 0
#define TINY_CLASS 1
/* Below low, the default ladder cuts resolution, then frame rate and quality, before the
 * picture becomes useless: rungs that 5, 2 and 1 Mbit/s uplinks and thinner carry of a
 * detailed 720p scene (issue 19; their measured cost is in docs/protocol.md, "Tiers").
 * Lossy links need the most room: each retransmission stalls the stream for a round trip,
 * so thin keeps 15 fps at about half of 2 Mbit/s and thin10 10 fps at about half of 1. */
static const struct {
    const char *name;
    int cls, fps, quality;
} thin_rungs[] = {
    {"thin1", THIN_CLASS, 1, 40},
    {"thin5", THIN_CLASS, 5, 40},
    {"thin10", THIN_CLASS, 10, 30},
    {"thin", THIN_CLASS, 15, 40},
    {"tiny15", TINY_CLASS, 15, 40},
    {"tiny", TINY_CLASS, 30, 50},
};

static int even(int v) { return v < 2 ? 2 : v & ~1; }

static int class_find(const char *name)
{
    for (int i = 0; i < CLASS_COUNT; i++) {
        if (strcmp(classes[i].name, name) == 0)
            return i;
    }
    return -1;
}

void vg_tier_resolve(const vg_tier_t *t, int src_w, int src_h, int *w, int *h)
{
    if (t->class_height == 0 || t->class_height >= src_h || src_h <= 0) {
        *w = src_w;
        *h = src_h;
        return;
    }
    *h = even(t->class_height);
    /* Keep the aspect ratio; round to the nearest even width. */
    *w = even(2 * (int)(((long long)src_w * t->class_height + src_h) / (2LL * src_h)));
}

static void tier_fill(vg_tier_t *t, const char *name, int cls, int width, int height, int fps,
                      int quality)
{
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->class_height = classes[cls].height;
    t->fps = fps;
    t->quality = quality;
    t->width = t->height = 0;
    if (width > 0 && height > 0)
        vg_tier_resolve(t, width, height, &t->width, &t->height);
}

static int default_fps(int fps) { return fps <= 0 || fps > DEFAULT_FPS_CAP ? DEFAULT_FPS_CAP : fps; }

int vg_tier_default_ladder(int width, int height, int fps, vg_tier_t out[VG_TIER_MAX])
{
    int n = 0;
    bool is_known = width > 0 && height > 0;
    for (size_t r = 0; r < sizeof(thin_rungs) / sizeof(thin_rungs[0]); r++) {
        int cls = thin_rungs[r].cls;
        if (is_known && classes[cls].height >= height)
            continue;
        int rate = default_fps(fps) < thin_rungs[r].fps ? default_fps(fps) : thin_rungs[r].fps;
        if (n > 0 && out[n - 1].class_height == classes[cls].height && out[n - 1].fps == rate)
            continue; /* a slow camera: the same rung twice */
        tier_fill(&out[n++], thin_rungs[r].name, cls, width, height, rate, thin_rungs[r].quality);
    }
    for (int i = TINY_CLASS + 1; i < NATIVE_CLASS; i++) {
        if (is_known && classes[i].height >= height)
            continue;
        tier_fill(&out[n++], classes[i].name, i, width, height, default_fps(fps),
                  classes[i].quality);
    }
    /* native keeps the camera's own rate, up to the tier limit of 60. */
    tier_fill(&out[n++], "native", NATIVE_CLASS, width, height,
              fps > 0 ? (fps > 60 ? 60 : fps) : DEFAULT_FPS_CAP, classes[NATIVE_CLASS].quality);
    return n;
}

static int cost_cmp(const void *a, const void *b)
{
    const vg_tier_t *x = a, *y = b;
    /* native (0) is the largest class */
    long hx = x->class_height ? x->class_height : 1L << 20;
    long hy = y->class_height ? y->class_height : 1L << 20;
    if (x->width && y->width && (long)x->width * x->height != (long)y->width * y->height) {
        hx = (long)x->width * x->height;
        hy = (long)y->width * y->height;
    }
    if (hx != hy)
        return hx < hy ? -1 : 1;
    if (x->fps != y->fps)
        return x->fps < y->fps ? -1 : 1;
    return (x->quality > y->quality) - (x->quality < y->quality);
}

int vg_tier_ladder_from_specs(const vg_tier_spec_t *specs, int n, int width, int height,
                              int fps, vg_tier_t out[VG_TIER_MAX], char *err, size_t err_len)
{
    if (n < 1 || n > VG_TIER_MAX) {
        snprintf(err, err_len, "a ladder has 1 to %d tiers, not %d", VG_TIER_MAX, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const vg_tier_spec_t *s = &specs[i];
        int cls = s->size ? class_find(s->size) : -1;
        if (cls < 0) {
            snprintf(err, err_len,
                     "tier %d: size must be thin, tiny, low, medium, high, ultra or native",
                     i + 1);
            return -1;
        }
        const char *name = s->name && *s->name ? s->name : classes[cls].name;
        if (strlen(name) >= VG_TIER_NAME_MAX || strcmp(name, "auto") == 0) {
            snprintf(err, err_len, "tier %d: name must be under %d characters and not 'auto'",
                     i + 1, VG_TIER_NAME_MAX);
            return -1;
        }
        if (s->fps < 0 || s->fps > 60) {
            snprintf(err, err_len, "tier '%s': fps must be 1..60", name);
            return -1;
        }
        if (s->quality < 0 || s->quality > 100) {
            snprintf(err, err_len, "tier '%s': quality must be 1..100", name);
            return -1;
        }
        if (vg_tier_find(out, i, name) >= 0) {
            snprintf(err, err_len, "tier '%s' appears twice", name);
            return -1;
        }
        tier_fill(&out[i], name, cls, width, height, s->fps ? s->fps : default_fps(fps),
                  s->quality ? s->quality : classes[cls].quality);
    }
    qsort(out, (size_t)n, sizeof(out[0]), cost_cmp);
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
    if (i < 0)
        i = vg_tier_find(ladder, n, "low");
    return i >= 0 ? i : n - 1; /* the thin rungs are for thin links, not a first picture */
}

static const char *class_name(int class_height)
{
    for (int i = 0; i < CLASS_COUNT; i++) {
        if (classes[i].height == class_height)
            return classes[i].name;
    }
    return "native";
}

json_t *vg_tier_ladder_json(const vg_tier_t *ladder, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:i,s:i,s:i}", "name", ladder[i].name,
                                             "size", class_name(ladder[i].class_height),
                                             "width", ladder[i].width, "height",
                                             ladder[i].height, "fps", ladder[i].fps, "quality",
                                             ladder[i].quality));
    return arr;
}
