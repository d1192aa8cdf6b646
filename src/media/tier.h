/* tier: a rung of a camera's JPEG quality ladder (resolution class, frame rate, quality).
 * Pure functions; any thread. */
#ifndef VG_MEDIA_TIER_H
#define VG_MEDIA_TIER_H

#define VG_TIER_MAX 8
#define VG_TIER_NAME_MAX 16

typedef struct vg_tier {
    char name[VG_TIER_NAME_MAX]; /* low, medium, high, ultra, native */
    int width, height;           /* even; never larger than the camera */
    int fps;                     /* 1..60, never above the camera's */
    int quality;                 /* JPEG quality 1..100 */
} vg_tier_t;

/* Fills out[] with the default ladder for a camera of width x height at fps: the classes
 * strictly below its height (low 320, medium 480, high 720, ultra 1080), then native.
 * Returns the number of tiers (1..VG_TIER_MAX). */
int vg_tier_default_ladder(int width, int height, int fps, vg_tier_t out[VG_TIER_MAX]);

/* Index of the tier named name in ladder[0..n), or -1. */
int vg_tier_find(const vg_tier_t *ladder, int n, const char *name);

/* The ladder's default tier for viewers that name none: "medium" when offered, else the
 * lowest. */
int vg_tier_default_index(const vg_tier_t *ladder, int n);

#include <jansson.h>

/* The ladder as a JSON array of {name,width,height,fps,quality} (new reference). */
json_t *vg_tier_ladder_json(const vg_tier_t *ladder, int n);

#endif
