/* range: limited-range ("TV", MPEG: Y 16..235, Cb/Cr 16..240) to full-range ("PC", JPEG:
 * 0..255) 8-bit 4:2:0 pictures, the levels JPEG (JFIF) expects.
 *
 * The mapping, exact in integers (what every path produces, byte for byte):
 *
 *     Y' = clamp(floor((Y - 16) * 255 / 219 + 1/2), 0, 255)
 *     C' = clamp(floor((C - 128) * 255 / 224 + 1/2) + 128, 0, 255)     for Cb and Cr
 *
 * i.e. nearest, halves rounded up. Black (16) gives 0, white (235) 255, neutral chroma (128)
 * stays 128; values outside the limited range (footroom, headroom) clamp. libswscale's
 * yuv420p -> yuvj420p at the same size agrees within +-1 (tests/unit/test_range.c).
 *
 * Two paths: plain C, and AVX2 where the CPU has it (chosen per call, GCC/clang on x86-64).
 * Pure functions; any thread; never block. */
#ifndef VG_MEDIA_RANGE_H
#define VG_MEDIA_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vg_range_plane {
    VG_RANGE_LUMA,   /* Y: 16..235 */
    VG_RANGE_CHROMA, /* Cb or Cr: 16..240 around 128 */
} vg_range_plane_t;

typedef enum vg_range_path {
    VG_RANGE_BEST,     /* AVX2 where vg_range_has_avx2(), else portable */
    VG_RANGE_PORTABLE, /* plain C */
    VG_RANGE_AVX2,     /* only where vg_range_has_avx2(); otherwise the portable path */
} vg_range_path_t;

/* Whether this CPU (and build) has the AVX2 path. */
bool vg_range_has_avx2(void);

/* Expands one plane of width x height bytes from src into dst (strides in bytes, may differ;
 * dst == src with the same stride converts in place; other overlaps are undefined). Bytes
 * between width and the stride are neither read nor written. */
void vg_range_expand_plane(uint8_t *dst, ptrdiff_t dst_stride, const uint8_t *src,
                           ptrdiff_t src_stride, int width, int height, vg_range_plane_t plane,
                           vg_range_path_t path);

/* Expands a 4:2:0 picture of width x height (planes Y, Cb, Cr; chroma planes
 * ceil(width/2) x ceil(height/2)) from src into dst, with the best path. dst may be src. */
void vg_range_expand_420(uint8_t *const dst[3], const int dst_stride[3],
                         const uint8_t *const src[3], const int src_stride[3], int width,
                         int height);

#endif
