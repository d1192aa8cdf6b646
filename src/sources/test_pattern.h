/* test_pattern: draws the built-in test camera's pictures into full-range I420 planes.
 *
 * A pattern is made once per test source and drawn once per frame on the source's thread;
 * it owns only its own scratch (a texture tile, precomputed gradients). Not thread-safe:
 * one thread per pattern.
 */
#ifndef VG_SOURCES_TEST_PATTERN_H
#define VG_SOURCES_TEST_PATTERN_H

#include <stdint.h>

typedef struct vg_pattern vg_pattern_t;

typedef enum vg_pattern_kind {
    VG_PATTERN_LIGHT,    /* smooth gradients and a moving box: small JPEGs */
    VG_PATTERN_DETAILED, /* fine moving texture: 1280x720 q80 JPEG >= 100 KB */
} vg_pattern_kind_t;

/* Makes a pattern for even width x height (64..3840 x 64..2160).
 * Returns 0 and *out (caller frees with vg_pattern_free), or VG_EINVAL. */
int vg_pattern_new(vg_pattern_t **out, int width, int height, vg_pattern_kind_t kind);

/* Frees the pattern and sets *p to NULL; accepts NULL and *p == NULL. */
void vg_pattern_free(vg_pattern_t **p);

/* Draws frame number frame_no captured at capture_us (wall-clock µs) into the caller's
 * I420 planes: the moving picture, the clock as HH:MM:SS.mmm (UTC) and the frame number in
 * large digits, and the timestamp bar (vg_stamp_draw) on top. Never blocks or allocates. */
void vg_pattern_draw(vg_pattern_t *p, uint8_t *const planes[3], const int strides[3],
                     uint64_t frame_no, int64_t capture_us);

#endif
