/* stamp: the machine-readable timestamp drawn into every test-camera picture.
 *
 * Layout in docs/test-camera.md. Pure functions on caller-owned planes: any thread,
 * never blocks, never allocates.
 */
#ifndef VG_CORE_STAMP_H
#define VG_CORE_STAMP_H

#include <stdint.h>

#define VG_STAMP_BLOCKS 68

/* Draws capture_us (its 56 low bits) as the block bar across the top of a full-range
 * I420 picture. u and v may be NULL (grey-only pictures); uv_stride is ignored then. */
void vg_stamp_draw(uint8_t *y, int y_stride, uint8_t *u, uint8_t *v, int uv_stride, int width,
                   int height, uint64_t capture_us);

/* Decodes the bar from a luma plane of any size the picture was scaled to.
 * Returns 0 and sets *capture_us, or VG_ESTAMP when the guards or the CRC do not match. */
int vg_stamp_decode(const uint8_t *y, int y_stride, int width, int height, uint64_t *capture_us);

/* Rows of the bar for a picture of this height (what a decoder needs to read). */
int vg_stamp_rows(int height);

#endif
