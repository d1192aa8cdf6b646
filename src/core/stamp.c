/* stamp: draws and reads the machine-readable timestamp bar (layout in docs/test-camera.md).
 *
 * The bar is 68 blocks across the full width and floor(H/12) rows (at least 8) at the top:
 * a white/black start guard, 56 data bits, an 8-bit CRC, a black/white end guard. Block
 * edges are proportional to the width and the bar height to the picture height, so a
 * picture scaled to any size still carries the same layout, and the decoder only looks at
 * the middle half of each block, away from the edges that scaling and JPEG smear.
 *
 * Pure functions on caller-owned planes: any thread, no allocation, no global state.
 * tests/integration/stamp.py mirrors vg_stamp_decode(); change both together.
 */
#include "core/stamp.h"

#include <stddef.h>
#include <string.h>

#include "core/err.h"

#define STAMP_DATA_BITS 56
#define STAMP_MIN_ROWS 8

/* Luma sums are compared against 127 * count, so "white" means an average above 127
 * without any rounding question (the Python decoder does the same integer test). */
#define STAMP_THRESHOLD 127

/* CRC-8, polynomial 0x07, initial value 0, no reflection, no final xor (CRC-8/SMBUS). */
static uint8_t stamp_crc8(const uint8_t *buf, size_t len)
{
    uint8_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= buf[i];
        for (int b = 0; b < 8; b++)
            crc = (uint8_t)((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
    }
    return crc;
}

static uint8_t stamp_crc_of(uint64_t value56)
{
    uint8_t bytes[7];
    for (int i = 0; i < 7; i++)
        bytes[i] = (uint8_t)(value56 >> (8 * (6 - i)));
    return stamp_crc8(bytes, sizeof(bytes));
}

/* Block i covers columns [block_x(i), block_x(i + 1)). 64-bit product: width * 68 fits in
 * int for any real picture, but the decoder takes its width from the caller. */
static inline int block_x(int i, int width)
{
    return (int)((int64_t)i * width / VG_STAMP_BLOCKS);
}

/* The pixels of [lo, hi) that lie wholly inside its middle half [lo + n/4, hi - n/4):
 * a quarter of the span, rounded up, comes off each side. Rounding up keeps the sample
 * away from edges that a scaler may have moved by a fraction of a pixel (a 3-pixel block
 * is read at its centre column only). Spans under 3 pixels have no such pixel and are
 * read whole. */
static void middle_half(int lo, int hi, int *a, int *b)
{
    int n = hi - lo, trim = (n + 3) / 4;
    if (n - 2 * trim < 1)
        trim = 0;
    *a = lo + trim;
    *b = hi - trim;
}

int vg_stamp_rows(int height)
{
    int rows = height / 12;
    if (rows < STAMP_MIN_ROWS)
        rows = STAMP_MIN_ROWS;
    if (rows > height)
        rows = height > 0 ? height : 0;
    return rows;
}

/* The 68 block colours, 1 = white. */
static void stamp_bits(uint64_t capture_us, uint8_t bits[VG_STAMP_BLOCKS])
{
    uint64_t v = capture_us & ((UINT64_C(1) << STAMP_DATA_BITS) - 1);
    uint8_t crc = stamp_crc_of(v);

    bits[0] = 1;
    bits[1] = 0;
    for (int i = 0; i < STAMP_DATA_BITS; i++)
        bits[2 + i] = (uint8_t)((v >> (STAMP_DATA_BITS - 1 - i)) & 1);
    for (int i = 0; i < 8; i++)
        bits[2 + STAMP_DATA_BITS + i] = (uint8_t)((crc >> (7 - i)) & 1);
    bits[66] = 0;
    bits[67] = 1;
}

void vg_stamp_draw(uint8_t *y, int y_stride, uint8_t *u, uint8_t *v, int uv_stride, int width,
                   int height, uint64_t capture_us)
{
    if (y == NULL || width <= 0 || height <= 0)
        return;

    uint8_t bits[VG_STAMP_BLOCKS];
    stamp_bits(capture_us, bits);

    /* Build the first row once, then copy it down: the bar is the same on every row. */
    int rows = vg_stamp_rows(height);
    for (int i = 0; i < VG_STAMP_BLOCKS; i++) {
        int x0 = block_x(i, width), x1 = block_x(i + 1, width);
        if (x1 > x0)
            memset(y + x0, bits[i] ? 255 : 0, (size_t)(x1 - x0));
    }
    for (int r = 1; r < rows; r++)
        memcpy(y + (ptrdiff_t)r * y_stride, y, (size_t)width);

    if (u == NULL || v == NULL)
        return;
    /* Every chroma row that touches a bar row is made neutral, so no colour bleeds into
     * the blocks when the picture is converted back to RGB or to grey. */
    int cw = (width + 1) / 2, crows = (rows + 1) / 2;
    for (int r = 0; r < crows; r++) {
        memset(u + (ptrdiff_t)r * uv_stride, 128, (size_t)cw);
        memset(v + (ptrdiff_t)r * uv_stride, 128, (size_t)cw);
    }
}

int vg_stamp_decode(const uint8_t *y, int y_stride, int width, int height, uint64_t *capture_us)
{
    if (y == NULL || width < VG_STAMP_BLOCKS || height <= 0)
        return VG_ESTAMP; /* narrower than 68 columns leaves some blocks empty */

    int rows = vg_stamp_rows(height);
    int r0, r1;
    middle_half(0, rows, &r0, &r1);

    uint8_t bits[VG_STAMP_BLOCKS];
    for (int i = 0; i < VG_STAMP_BLOCKS; i++) {
        int x0 = block_x(i, width), x1 = block_x(i + 1, width);
        int c0, c1;
        middle_half(x0, x1, &c0, &c1);
        uint64_t sum = 0; /* 64 bits: no width or height the caller passes can overflow it */
        for (int r = r0; r < r1; r++) {
            const uint8_t *p = y + (ptrdiff_t)r * y_stride;
            for (int c = c0; c < c1; c++)
                sum += p[c];
        }
        uint64_t count = (uint64_t)(r1 - r0) * (uint64_t)(c1 - c0);
        bits[i] = sum > STAMP_THRESHOLD * count;
    }

    if (bits[0] != 1 || bits[1] != 0 || bits[66] != 0 || bits[67] != 1)
        return VG_ESTAMP;

    uint64_t v = 0;
    for (int i = 0; i < STAMP_DATA_BITS; i++)
        v = (v << 1) | bits[2 + i];
    uint8_t crc = 0;
    for (int i = 0; i < 8; i++)
        crc = (uint8_t)((crc << 1) | bits[2 + STAMP_DATA_BITS + i]);
    if (crc != stamp_crc_of(v))
        return VG_ESTAMP;

    if (capture_us != NULL)
        *capture_us = v;
    return 0;
}
