/* tier: a rung of a camera's quality ladder (resolution class, frame rate, quality), made by
 * vigil from the decoded picture: a JPEG per picture, or an H.264 stream of its own.
 *
 * A ladder holds the JPEG tiers ordered by cost (size class, then frame rate, then quality),
 * then the H.264 tiers in the same order: adaptive viewers step along the JPEG part, and
 * those that decode H.264 along both (ws.c). An H.264 tier is for thin, lossy links: an
 * inter-frame picture costs a fraction of a JPEG at the same size, where TCP's loss-bound rate
 * leaves no JPEG rung with fluid motion (docs/protocol.md, "Tiers"). Tiers are never larger than the camera: a class at or above the camera's
 * height gets the camera's own size. For a camera whose size is unknown until it answers,
 * sizes stay 0 and vg_tier_resolve() computes them from each decoded picture.
 * Pure functions; any thread. */
#ifndef VG_MEDIA_TIER_H
#define VG_MEDIA_TIER_H

#include <stddef.h>

#include "core/frame.h"

#define VG_TIER_MAX 16
#define VG_TIER_NAME_MAX 16

typedef struct vg_tier {
    char name[VG_TIER_NAME_MAX]; /* unique in its ladder, e.g. low, medium, high, native */
    int class_height;            /* 180, 240, 320, 480, 720, 1080, or 0 for native */
    int width, height;           /* resolved size (even); 0 while the camera's is unknown */
    int fps;                     /* 1..60 */
    int quality;                 /* JPEG quality 1..100 (H.264 tiers: 0) */
    vg_codec_t codec;            /* VG_CODEC_JPEG or VG_CODEC_H264 */
    int kbps;                    /* H.264 tiers: the encoder's bitrate cap (0 for JPEG) */
} vg_tier_t;

/* A tier as configured: every field optional (NULL / 0: the class's default). */
typedef struct vg_tier_spec {
    const char *name;   /* default: the class name */
    const char *size;   /* "micro", "thin", "tiny", "low", "medium", "high", "ultra" or "native" */
    int fps;            /* 1..60; default: the camera's, at most 30 */
    int quality;        /* 1..100; default per class (60, 70, 80, 80, 85); JPEG only */
    const char *codec;  /* "jpeg" (default) or "h264" */
    int kbps;           /* H.264 only: bitrate cap, 50..20000; default by size and rate */
} vg_tier_spec_t;

/* Fills out[] with the default ladder for a camera of width x height at fps (0 when
 * unknown): the classes strictly below its height (all when unknown), then native. Every
 * tier from low up runs at the camera's rate up to 30 fps: a link loses resolution and
 * quality before it loses fluid motion. Below low, for thin links: tiny (240 lines, 30 fps,
 * quality 50), tiny15 (240, 15 fps, 40), thin (180, 15 fps, 40), then micro15, micro10,
 * micro5 and micro1 (144 lines, 15, 10, 5 and 1 fps, 30). Then the H.264 rungs below the
 * camera's height: h264-thin10 (180 lines, 10 fps, 140 kbit/s), h264-tiny15 (240, 15 fps,
 * 370 kbit/s), h264-low (320, 30 fps, 900 kbit/s), h264-medium (480, 30 fps, 1,800 kbit/s)
 * and h264-high (720, 30 fps, 3,500 kbit/s). Returns the number of tiers (1..VG_TIER_MAX). */
int vg_tier_default_ladder(int width, int height, int fps, vg_tier_t out[VG_TIER_MAX]);

/* Checks one spec on its own (index counts from 0, for the message). Returns 0, or -1 with a
 * message in err naming the tier and the field. */
int vg_tier_spec_check(const vg_tier_spec_t *s, int index, char *err, size_t err_len);

/* Builds a ladder from n specs (1..VG_TIER_MAX), sorted by codec then cost. Returns the tier
 * count, or -1 with a message in err naming the tier and field (unknown size class or codec,
 * fps, quality or kbps out of range, a field of the other codec, duplicate name, too many, no
 * JPEG tier). */
int vg_tier_ladder_from_specs(const vg_tier_spec_t *specs, int n, int width, int height,
                              int fps, vg_tier_t out[VG_TIER_MAX], char *err, size_t err_len);

/* The size of tier t for a picture of src_w x src_h: its class height (or the picture's,
 * whichever is smaller) with the picture's aspect ratio, even. */
void vg_tier_resolve(const vg_tier_t *t, int src_w, int src_h, int *w, int *h);

/* Index of the tier named name in ladder[0..n), or -1. */
int vg_tier_find(const vg_tier_t *ladder, int n, const char *name);

/* The ladder's default tier for viewers that name none: "medium" when offered, else "low",
 * else the richest JPEG tier. */
int vg_tier_default_index(const vg_tier_t *ladder, int n);

#include <jansson.h>

/* The H.264 bitrate cap a tier of this size and rate gets by default (kbit/s). */
int vg_tier_h264_default_kbps(int class_height, int fps);

/* The number of JPEG tiers of a ladder: they come first. */
int vg_tier_jpeg_count(const vg_tier_t *ladder, int n);

/* The ladder as a JSON array of {name,size,width,height,fps,quality,codec} (new reference);
 * H.264 tiers also carry "max_kbps". codec is "jpeg" or "h264". */
json_t *vg_tier_ladder_json(const vg_tier_t *ladder, int n);

#endif
