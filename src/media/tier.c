/* tier: see tier.h. */
#include "media/tier.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* h264_kbps: the H.264 bitrate cap at 30 fps, for a detailed scene (docs/protocol.md). */
static const struct {
    const char *name;
    int height, quality, h264_kbps;
} classes[] = {
    {"micro", 144, 30, 200},
    {"thin", 180, 40, 300},
    {"tiny", 240, 50, 600},
    {"low", 320, 60, 900},
    {"medium", 480, 70, 1800},
    {"high", 720, 80, 3500},
    {"ultra", 1080, 80, 7000},
    {"native", 0, 85, 3500},
};
#define CLASS_COUNT (int)(sizeof(classes) / sizeof(classes[0]))
#define NATIVE_CLASS (CLASS_COUNT - 1)
#define DEFAULT_FPS_CAP 30
#define MICRO_CLASS 0
#define THIN_CLASS 1
#define TINY_CLASS 2
/* Below low, the default ladder cuts resolution, then frame rate and quality, before the
 * picture becomes useless: rungs that 5, 2 and 1 Mbit/s uplinks and thinner carry of a
 * detailed 720p scene (issue 19; their measured cost is in docs/protocol.md, "Tiers").
 * Lossy links need the most room: each retransmission stalls the stream for a round trip,
 * and a rung may use only part of what the link carries. The bottom rungs are 144 px:
 * - micro15 keeps 15 fps where cubic carries about 650 kbit/s of a 2 Mbit/s link losing 1%
 *   (180 px rungs kept 10 fps there), and micro10 10 fps in BBR's loss-discounted share of a
 *   1 Mbit/s one losing 2% (180 px: 5 fps);
 * - their 5 KB frames are four segments: fewer frames lose one, and a frame that loses one
 *   waits a round trip more (at 1 fps on that 1 Mbit/s link under cubic, p95 257-262 ms
 *   against 721-761 for 180 px frames of 8 KB, six segments, in side-by-side runs).
 * From micro15 the next rung, tiny15, costs 2.5 times as much: what a probe may try (adapt.c).
 * (180 px at 15 fps, 970 kbit/s, sat between them; without it the ladder of a camera of
 * unknown size keeps to VG_TIER_MAX with every H.264 rung.) */
static const struct {
    const char *name;
    int cls, fps, quality;
} thin_rungs[] = {
    {"micro1", MICRO_CLASS, 1, 30},
    {"micro5", MICRO_CLASS, 5, 30},
    {"micro10", MICRO_CLASS, 10, 30},
    {"micro15", MICRO_CLASS, 15, 30},
    {"tiny15", TINY_CLASS, 15, 40},
    {"tiny", TINY_CLASS, 30, 50},
};
#define LOW_CLASS 3
#define MEDIUM_CLASS 4
#define HIGH_CLASS 5
/* H.264 rungs for viewers that decode it (issue 19): on a lossy link under a loss-based
 * congestion control (cubic carries about 650 kbit/s of a 2 Mbit/s link at 1 % loss, 250 of
 * a 1 Mbit/s one at 2 %), JPEG keeps 15 and 5 fps there only at 144 px; these keep 10-15 fps
 * at 180-240 px, for about a quarter of the cost.
 * They go up to the camera's own video in steps of at most about twice the cost: a viewer
 * whose samples cannot show the link (it sends far less than it carries) climbs by trying
 * the next rung, and only a rung at most 2.5 times its own (adapt.c). */
static const struct {
    const char *name;
    int cls, fps;
} h264_rungs[] = {
    {"h264-thin10", THIN_CLASS, 10},
    {"h264-tiny15", TINY_CLASS, 15},
    {"h264-low", LOW_CLASS, 30},
    {"h264-medium", MEDIUM_CLASS, 30},
    {"h264-high", HIGH_CLASS, 30},
};
#define H264_KBPS_MIN 50
#define H264_KBPS_MAX 20000

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
    t->codec = VG_CODEC_JPEG;
    t->kbps = 0;
    t->width = t->height = 0;
    if (width > 0 && height > 0)
        vg_tier_resolve(t, width, height, &t->width, &t->height);
}

static int default_fps(int fps) { return fps <= 0 || fps > DEFAULT_FPS_CAP ? DEFAULT_FPS_CAP : fps; }

static int class_of_height(int class_height)
{
    for (int i = 0; i < CLASS_COUNT; i++) {
        if (classes[i].height == class_height)
            return i;
    }
    return NATIVE_CLASS;
}

/* Fewer pictures a second cost less than in proportion: each one carries more change. */
int vg_tier_h264_default_kbps(int class_height, int fps)
{
    double rate = fps > 0 ? fps : DEFAULT_FPS_CAP;
    double kbps = classes[class_of_height(class_height)].h264_kbps * pow(rate / 30.0, 0.7);
    kbps = round(kbps / 10.0) * 10.0;
    return kbps < H264_KBPS_MIN ? H264_KBPS_MIN : kbps > H264_KBPS_MAX ? H264_KBPS_MAX : (int)kbps;
}

static void tier_fill_h264(vg_tier_t *t, const char *name, int cls, int width, int height,
                           int fps, int kbps)
{
    tier_fill(t, name, cls, width, height, fps, 0);
    t->codec = VG_CODEC_H264;
    t->kbps = kbps > 0 ? kbps : vg_tier_h264_default_kbps(classes[cls].height, fps);
}

int vg_tier_jpeg_count(const vg_tier_t *ladder, int n)
{
    int count = 0;
    while (count < n && ladder[count].codec != VG_CODEC_H264)
        count++;
    return count;
}

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
    for (size_t r = 0; r < sizeof(h264_rungs) / sizeof(h264_rungs[0]) && n < VG_TIER_MAX; r++) {
        int cls = h264_rungs[r].cls;
        if (is_known && classes[cls].height >= height)
            continue;
        int rate = default_fps(fps) < h264_rungs[r].fps ? default_fps(fps) : h264_rungs[r].fps;
        tier_fill_h264(&out[n++], h264_rungs[r].name, cls, width, height, rate, 0);
    }
    return n;
}

static int cost_cmp(const void *a, const void *b)
{
    const vg_tier_t *x = a, *y = b;
    if (x->codec != y->codec) /* the JPEG ladder first: JPEG-only viewers walk only that */
        return x->codec == VG_CODEC_H264 ? 1 : -1;
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
    if (x->quality != y->quality)
        return (x->quality > y->quality) - (x->quality < y->quality);
    return (x->kbps > y->kbps) - (x->kbps < y->kbps);
}

int vg_tier_spec_check(const vg_tier_spec_t *s, int index, char *err, size_t err_len)
{
    int cls = s->size ? class_find(s->size) : -1;
    if (cls < 0) {
        snprintf(err, err_len,
                 "tier %d: size must be micro, thin, tiny, low, medium, high, ultra or native",
                 index + 1);
        return -1;
    }
    const char *name = s->name && *s->name ? s->name : classes[cls].name;
    if (strlen(name) >= VG_TIER_NAME_MAX || strcmp(name, "auto") == 0 ||
        strcmp(name, "source") == 0 || strcmp(name, "source-keys") == 0) {
        snprintf(err, err_len, "tier %d: name must be under %d characters and not 'auto', "
                 "'source' or 'source-keys'", index + 1, VG_TIER_NAME_MAX);
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
    bool is_h264 = s->codec && strcmp(s->codec, "h264") == 0;
    if (s->codec && !is_h264 && strcmp(s->codec, "jpeg") != 0) {
        snprintf(err, err_len, "tier '%s': codec must be jpeg or h264", name);
        return -1;
    }
    if (is_h264 && s->quality) {
        snprintf(err, err_len, "tier '%s': quality is for JPEG tiers; an H.264 tier takes kbps",
                 name);
        return -1;
    }
    if (!is_h264 && s->kbps) {
        snprintf(err, err_len, "tier '%s': kbps is for H.264 tiers (codec: h264)", name);
        return -1;
    }
    if (s->kbps && (s->kbps < H264_KBPS_MIN || s->kbps > H264_KBPS_MAX)) {
        snprintf(err, err_len, "tier '%s': kbps must be %d..%d", name, H264_KBPS_MIN,
                 H264_KBPS_MAX);
        return -1;
    }
    return 0;
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
        if (vg_tier_spec_check(s, i, err, err_len) < 0)
            return -1;
        int cls = class_find(s->size);
        const char *name = s->name && *s->name ? s->name : classes[cls].name;
        bool is_h264 = s->codec && strcmp(s->codec, "h264") == 0;
        if (vg_tier_find(out, i, name) >= 0) {
            snprintf(err, err_len, "tier '%s' appears twice", name);
            return -1;
        }
        int rate = s->fps ? s->fps : default_fps(fps);
        if (is_h264)
            tier_fill_h264(&out[i], name, cls, width, height, rate, s->kbps);
        else
            tier_fill(&out[i], name, cls, width, height, rate,
                      s->quality ? s->quality : classes[cls].quality);
    }
    qsort(out, (size_t)n, sizeof(out[0]), cost_cmp);
    if (vg_tier_jpeg_count(out, n) == 0) {
        snprintf(err, err_len, "a ladder needs a JPEG tier: MJPEG, snapshots and viewers "
                 "without an H.264 decoder use them");
        return -1;
    }
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
    /* the thin rungs are for thin links, not a first picture */
    return i >= 0 ? i : vg_tier_jpeg_count(ladder, n) - 1;
}

json_t *vg_tier_ladder_json(const vg_tier_t *ladder, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const vg_tier_t *t = &ladder[i];
        bool is_h264 = t->codec == VG_CODEC_H264;
        json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:s}", "name", t->name, "size",
                              classes[class_of_height(t->class_height)].name, "width",
                              t->width, "height", t->height, "fps", t->fps, "quality",
                              t->quality, "codec", is_h264 ? "h264" : "jpeg");
        if (is_h264)
            json_object_set_new(o, "max_kbps", json_integer(t->kbps));
        json_array_append_new(arr, o);
    }
    return arr;
}
