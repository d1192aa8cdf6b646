/* test_pattern: the built-in test camera's pictures (see docs/test-camera.md).
 *
 * Both patterns are drawn almost entirely with memcpy/memset of precomputed rows, so a
 * 1280x720 frame costs well under a millisecond on the source thread:
 *
 *   light     a colour gradient that slides every frame (one precomputed row per plane,
 *             each picture row copied from a moving offset) and a flat box that bounces.
 *   detailed  a 512x512 texture tile (multi-octave value noise, hard-edged shapes, fine
 *             grain), copied with wrap-around at an offset that moves every frame, and a
 *             box in which the same tile moves the other way, so an encoder sees real
 *             detail and more than one motion. Its amplitudes are tuned so a 1280x720
 *             JPEG at quality 80 (4:2:0) is about 130 KB, like a busy real scene.
 *
 * On top of either come the capture time as HH:MM:SS.mmm UTC and the frame number in a
 * built-in 5x7 bitmap font scaled with the picture height, then the timestamp bar
 * (vg_stamp_draw), which is drawn last so nothing can cover it.
 *
 * Threads: a pattern belongs to one source thread; vg_pattern_draw never allocates.
 */
#include "sources/test_pattern.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/stamp.h"

/* Detailed texture: a power of two so wrap-around is a mask; 512 is big enough that the
 * repeat is not obvious at 1280 wide and small enough (256 KB + 2 x 64 KB) to stay in
 * cache while a frame is copied out of it. */
#define TILE 512
#define CTILE (TILE / 2)

/* Light gradients: periods of the sliding ramps, in pixels. */
#define GRAD_Y_PERIOD 1280
#define GRAD_C_PERIOD 960

#define FONT_W 5
#define FONT_H 7

struct vg_pattern {
    int width, height;
    vg_pattern_kind_t kind;
    uint8_t *grad_y, *grad_u, *grad_v; /* light: period + row width bytes each */
    uint8_t *tile_y, *tile_u, *tile_v; /* detailed: TILE^2 and CTILE^2 */
    int font_scale;                    /* pixels per font dot */
};

/* ---- deterministic pseudo-random numbers (splitmix64) ----------------------------- */

/* Our own generator rather than the C library's: the same picture on every platform and
 * run, and the style checker bans the libc one. */
static uint64_t prng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static int prng_below(uint64_t *state, int n)
{
    return (int)((prng_next(state) >> 33) % (uint64_t)n);
}

static inline uint8_t clamp_u8(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Triangle wave over [0, period): 0 up to `top` and back, so a sliding ramp has no seam. */
static int triangle(int64_t t, int period, int top)
{
    int p = (int)(t % period);
    if (p < 0)
        p += period;
    int half = period / 2;
    return p < half ? p * top / half : (period - p) * top / half;
}

/* ---- detailed texture -------------------------------------------------------------- */

/* Adds one octave of wrapping value noise to acc (size x size): random lattice values
 * every `cell` pixels, smoothstep-interpolated, scaled to +-amp. size % cell == 0.
 * Returns 0 or VG_ENOMEM. */
static int add_value_noise(int *acc, int size, int cell, int amp, uint64_t *rng)
{
    int n = size / cell;
    int *lat = malloc(sizeof(*lat) * (size_t)n * (size_t)n);
    if (lat == NULL)
        return VG_ENOMEM;
    for (int i = 0; i < n * n; i++)
        lat[i] = prng_below(rng, 2 * amp + 1) - amp;

    /* Smoothstep weights, 16.16 fixed point, precomputed for one cell. */
    int wt[TILE] = {0};
    for (int i = 0; i < cell; i++) {
        int64_t t = ((int64_t)i << 16) / cell;
        wt[i] = (int)((t * t * ((3 << 16) - 2 * t)) >> 32);
    }
    for (int y = 0; y < size; y++) {
        int gy0 = y / cell, gy1 = (gy0 + 1) % n, wy = wt[y % cell];
        for (int x = 0; x < size; x++) {
            int gx0 = x / cell, gx1 = (gx0 + 1) % n, wx = wt[x % cell];
            int64_t a = lat[gy0 * n + gx0], b = lat[gy0 * n + gx1];
            int64_t c = lat[gy1 * n + gx0], d = lat[gy1 * n + gx1];
            int64_t top = a * 65536 + (b - a) * wx, bot = c * 65536 + (d - c) * wx;
            acc[y * size + x] += (int)((top * 65536 + (bot - top) * wy) >> 32);
        }
    }
    free(lat);
    return 0;
}

/* Hard-edged structure, like windows, signs and poles in a street scene: rectangles with
 * a luma offset and an outline, wrapping at the tile edges. */
static void add_shapes(int *acc, int size, int count, uint64_t *rng)
{
    for (int k = 0; k < count; k++) {
        int w = 6 + prng_below(rng, size / 6), h = 6 + prng_below(rng, size / 6);
        int x0 = prng_below(rng, size), y0 = prng_below(rng, size);
        int fill = prng_below(rng, 81) - 40, edge = prng_below(rng, 2) ? 45 : -45;
        for (int y = 0; y < h; y++) {
            int *row = acc + ((y0 + y) & (size - 1)) * size;
            for (int x = 0; x < w; x++) {
                bool is_edge = y == 0 || y == h - 1 || x == 0 || x == w - 1;
                row[(x0 + x) & (size - 1)] += is_edge ? edge : fill;
            }
        }
    }
}

/* Fills tile (size x size) from a base level, noise octaves, shapes and per-pixel grain. */
static int make_tile(uint8_t *tile, int size, int base, const int (*octaves)[2], int n_oct,
                     int shapes, int grain, uint64_t seed)
{
    int *acc = calloc((size_t)size * (size_t)size, sizeof(*acc));
    if (acc == NULL)
        return VG_ENOMEM;
    int rc = 0;
    uint64_t rng = seed;
    for (int i = 0; i < n_oct; i++) {
        if ((rc = add_value_noise(acc, size, octaves[i][0], octaves[i][1], &rng)) < 0)
            goto out;
    }
    add_shapes(acc, size, shapes, &rng);
    for (int i = 0; i < size * size; i++) {
        int g = grain > 0 ? prng_below(&rng, 2 * grain + 1) - grain : 0;
        tile[i] = clamp_u8(base + acc[i] + g);
    }
out:
    free(acc);
    return rc;
}

/* Copies n pixels of a tile row starting at column off, wrapping at tile_w. */
static void copy_wrapped(uint8_t *dst, const uint8_t *tile_row, int tile_w, int off, int n)
{
    while (n > 0) {
        int k = tile_w - off < n ? tile_w - off : n;
        memcpy(dst, tile_row + off, (size_t)k);
        dst += k;
        n -= k;
        off = 0;
    }
}

/* Copies the rectangle (x, y, w, h) of one plane from a tile scrolled by (dx, dy). */
static void blit_tile(uint8_t *plane, int stride, int x, int y, int w, int h,
                      const uint8_t *tile, int tile_size, int64_t dx, int64_t dy)
{
    int mask = tile_size - 1;
    for (int r = 0; r < h; r++) {
        const uint8_t *src = tile + (size_t)((y + r + dy) & mask) * (size_t)tile_size;
        copy_wrapped(plane + (ptrdiff_t)(y + r) * stride + x, src, tile_size,
                     (int)((x + dx) & mask), w);
    }
}

/* ---- light gradient ---------------------------------------------------------------- */

/* A ramp row long enough that any picture row is one memcpy from offset [0, period). */
static uint8_t *make_ramp(int period, int row_len, int lo, int hi)
{
    uint8_t *r = malloc((size_t)period + (size_t)row_len);
    if (r == NULL)
        return NULL;
    for (int i = 0; i < period + row_len; i++)
        r[i] = (uint8_t)(lo + triangle(i, period, hi - lo));
    return r;
}

/* ---- font -------------------------------------------------------------------------- */

/* 5x7 dots, one byte per row, bit 4 = leftmost column. Only what the clock and frame
 * number lines need. */
static const struct {
    char c;
    uint8_t rows[FONT_H];
} font[] = {
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}},
    {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}},
    {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}},
    {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}},
    {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}},
    {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}},
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
    {'A', {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'C', {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}},
    {'E', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}},
    {'F', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}},
    {'M', {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'R', {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}},
    {'T', {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
};

static const uint8_t *glyph(char c)
{
    for (size_t i = 0; i < sizeof(font) / sizeof(font[0]); i++)
        if (font[i].c == c)
            return font[i].rows;
    return font[12].rows; /* blank for anything else */
}

/* Advance per character: 5 dots and 1 dot of spacing. */
#define CHAR_DOTS (FONT_W + 1)

/* Fills the luma rectangle with `val` and the chroma under it with neutral grey,
 * clipped to the picture. */
static void fill_rect(const vg_pattern_t *p, uint8_t *const planes[3], const int strides[3],
                      int x0, int y0, int x1, int y1, uint8_t val, uint8_t u, uint8_t v)
{
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > p->width ? p->width : x1;
    y1 = y1 > p->height ? p->height : y1;
    if (x1 <= x0 || y1 <= y0)
        return;
    for (int y = y0; y < y1; y++)
        memset(planes[0] + (ptrdiff_t)y * strides[0] + x0, val, (size_t)(x1 - x0));
    int cx0 = x0 / 2, cx1 = (x1 + 1) / 2;
    for (int y = y0 / 2; y < (y1 + 1) / 2; y++) {
        memset(planes[1] + (ptrdiff_t)y * strides[1] + cx0, u, (size_t)(cx1 - cx0));
        memset(planes[2] + (ptrdiff_t)y * strides[2] + cx0, v, (size_t)(cx1 - cx0));
    }
}

/* Draws text in white luma at (x, y), each dot s x s pixels, clipped to the picture. The
 * caller has already cleared the background. */
static void draw_text(const vg_pattern_t *p, uint8_t *y_plane, int y_stride, int x, int y,
                      int s, const char *text)
{
    for (; *text != '\0'; text++, x += CHAR_DOTS * s) {
        const uint8_t *g = glyph(*text);
        for (int row = 0; row < FONT_H * s; row++) {
            int py = y + row;
            if (py < 0 || py >= p->height)
                continue;
            uint8_t bits = g[row / s];
            uint8_t *line = y_plane + (ptrdiff_t)py * y_stride;
            for (int col = 0; col < FONT_W; col++) {
                if (!(bits & (0x10 >> col)))
                    continue;
                int px0 = x + col * s, px1 = px0 + s;
                px0 = px0 < 0 ? 0 : px0;
                px1 = px1 > p->width ? p->width : px1;
                if (px1 > px0)
                    memset(line + px0, 255, (size_t)(px1 - px0));
            }
        }
    }
}

/* Writes n as decimal into buf (at least 21 bytes); returns the length. */
static int format_u64(char *buf, uint64_t n)
{
    char tmp[21];
    int len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    for (int i = 0; i < len; i++)
        buf[i] = tmp[len - 1 - i];
    buf[len] = '\0';
    return len;
}

static void put2(char *dst, int v)
{
    dst[0] = (char)('0' + v / 10);
    dst[1] = (char)('0' + v % 10);
}

/* The two text lines under the bar: "HH:MM:SS.mmm UTC" and "FRAME n". */
static void draw_clock(const vg_pattern_t *p, uint8_t *const planes[3], const int strides[3],
                       uint64_t frame_no, int64_t capture_us)
{
    /* Floor division, so times before 1970 still print a valid time of day. */
    int64_t ms = capture_us / 1000 - (capture_us % 1000 < 0);
    int64_t day_ms = ms % 86400000;
    if (day_ms < 0)
        day_ms += 86400000;
    int h = (int)(day_ms / 3600000), m = (int)(day_ms / 60000 % 60);
    int sec = (int)(day_ms / 1000 % 60), milli = (int)(day_ms % 1000);

    char clock[] = "00:00:00.000 UTC";
    put2(clock, h);
    put2(clock + 3, m);
    put2(clock + 6, sec);
    clock[9] = (char)('0' + milli / 100);
    put2(clock + 10, milli % 100);

    char frame[6 + 21] = "FRAME ";
    int frame_len = 6 + format_u64(frame + 6, frame_no);

    int s = p->font_scale;
    int x = 2 * s, y = vg_stamp_rows(p->height) + 2 * s;
    int chars = frame_len > (int)sizeof(clock) - 1 ? frame_len : (int)sizeof(clock) - 1;
    int line = (FONT_H + 2) * s;

    /* A black plate behind the text keeps it readable on any background and gives OCR
     * or a human eye a clean edge. */
    fill_rect(p, planes, strides, x - s, y - s, x + chars * CHAR_DOTS * s, y + 2 * line, 0,
              128, 128);
    draw_text(p, planes[0], strides[0], x, y, s, clock);
    draw_text(p, planes[0], strides[0], x, y + line, s, frame);
}

/* ---- public ------------------------------------------------------------------------ */

int vg_pattern_new(vg_pattern_t **out, int width, int height, vg_pattern_kind_t kind)
{
    if (out == NULL || width < 64 || width > 3840 || height < 64 || height > 2160 ||
        width % 2 != 0 || height % 2 != 0 ||
        (kind != VG_PATTERN_LIGHT && kind != VG_PATTERN_DETAILED))
        return VG_EINVAL;

    int rc = VG_ENOMEM;
    vg_pattern_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return VG_ENOMEM;
    p->width = width;
    p->height = height;
    p->kind = kind;

    /* About 1/80 of the height per dot: 9 px at 720p, so digits are 63 px tall. Narrow
     * pictures shrink it so the 16-character clock line still fits. */
    int s = height / 80;
    if (s > (width - 4) / (16 * CHAR_DOTS + 3))
        s = (width - 4) / (16 * CHAR_DOTS + 3);
    p->font_scale = s < 1 ? 1 : s;

    if (kind == VG_PATTERN_LIGHT) {
        p->grad_y = make_ramp(GRAD_Y_PERIOD, width, 50, 200);
        p->grad_u = make_ramp(GRAD_C_PERIOD, width / 2, 64, 192);
        p->grad_v = make_ramp(GRAD_C_PERIOD, width / 2, 64, 192);
        if (p->grad_y == NULL || p->grad_u == NULL || p->grad_v == NULL)
            goto fail;
    } else {
        /* Tuned by measuring libjpeg-turbo q80 4:2:0 sizes at 1280x720 (tests/unit/
         * test_stamp.c checks >= 100 KB): coarse octaves give scene-like shading, the
         * finer ones and the grain give the high-frequency energy JPEG has to spend
         * bits on. Chroma is smoother, as in real pictures. */
        static const int y_oct[][2] = {{128, 50}, {32, 30}, {8, 10}, {2, 4}};
        static const int c_oct[][2] = {{64, 36}, {16, 14}, {4, 6}};
        p->tile_y = malloc((size_t)TILE * TILE);
        p->tile_u = malloc((size_t)CTILE * CTILE);
        p->tile_v = malloc((size_t)CTILE * CTILE);
        if (p->tile_y == NULL || p->tile_u == NULL || p->tile_v == NULL)
            goto fail;
        if ((rc = make_tile(p->tile_y, TILE, 128, y_oct, 4, 40, 3, 0x5eed0001)) < 0 ||
            (rc = make_tile(p->tile_u, CTILE, 128, c_oct, 3, 4, 2, 0x5eed0002)) < 0 ||
            (rc = make_tile(p->tile_v, CTILE, 128, c_oct, 3, 4, 2, 0x5eed0003)) < 0)
            goto fail;
    }
    *out = p;
    return 0;
fail:
    vg_pattern_free(&p);
    return rc;
}

void vg_pattern_free(vg_pattern_t **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    vg_pattern_t *p = *pp;
    free(p->grad_y);
    free(p->grad_u);
    free(p->grad_v);
    free(p->tile_y);
    free(p->tile_u);
    free(p->tile_v);
    free(p);
    *pp = NULL;
}

/* Top-left corner of the bouncing box, w x h, kept below the text and even-aligned so its
 * chroma lines up with its luma. */
static void box_position(const vg_pattern_t *p, uint64_t frame_no, int w, int h, int *x,
                         int *y)
{
    int top = vg_stamp_rows(p->height) + 22 * p->font_scale;
    int range_x = p->width - w, range_y = p->height - h - top;
    int64_t f = (int64_t)(frame_no % (UINT64_C(1) << 40));
    *x = range_x > 0 ? triangle(f * 6, 2 * range_x, range_x) & ~1 : 0;
    *y = range_y > 0 ? (top + triangle(f * 4, 2 * range_y, range_y)) & ~1 : top & ~1;
}

static void draw_light(const vg_pattern_t *p, uint8_t *const planes[3], const int strides[3],
                       uint64_t frame_no)
{
    int w = p->width, h = p->height, cw = w / 2, ch = h / 2;
    int64_t f = (int64_t)(frame_no % (UINT64_C(1) << 40));

    /* Each row is the ramp read from an offset that moves with the row and the frame:
     * diagonal bands that slide, in one memcpy per row. */
    for (int y = 0; y < h; y++) {
        int off = (int)((y / 2 + 4 * f) % GRAD_Y_PERIOD);
        memcpy(planes[0] + (ptrdiff_t)y * strides[0], p->grad_y + off, (size_t)w);
    }
    for (int y = 0; y < ch; y++) {
        int off_u = (int)((2 * (int64_t)ch - y + 3 * f) % GRAD_C_PERIOD);
        int off_v = (int)((y + 2 * f) % GRAD_C_PERIOD);
        memcpy(planes[1] + (ptrdiff_t)y * strides[1], p->grad_u + off_u, (size_t)cw);
        memcpy(planes[2] + (ptrdiff_t)y * strides[2], p->grad_v + off_v, (size_t)cw);
    }

    int bw = (w / 6) & ~1, bh = (h / 5) & ~1, bx, by;
    box_position(p, frame_no, bw, bh, &bx, &by);
    fill_rect(p, planes, strides, bx, by, bx + bw, by + bh, 150, 90, 200); /* orange-red */
}

static void draw_detailed(const vg_pattern_t *p, uint8_t *const planes[3],
                          const int strides[3], uint64_t frame_no)
{
    int w = p->width, h = p->height;
    int64_t f = (int64_t)(frame_no % (UINT64_C(1) << 40));

    /* Luma moves (6, 2) px per frame and chroma (3, 1), so the planes stay aligned. */
    blit_tile(planes[0], strides[0], 0, 0, w, h, p->tile_y, TILE, 6 * f, 2 * f);
    blit_tile(planes[1], strides[1], 0, 0, w / 2, h / 2, p->tile_u, CTILE, 3 * f, f);
    blit_tile(planes[2], strides[2], 0, 0, w / 2, h / 2, p->tile_v, CTILE, 3 * f, f);

    /* A window in which the texture moves the other way: a second, independent motion
     * for the encoder's motion search, like a vehicle crossing a panning scene. */
    int bw = (w / 4) & ~1, bh = (h / 4) & ~1, bx, by;
    box_position(p, frame_no, bw, bh, &bx, &by);
    if (by + bh > h)
        bh = (h - by) & ~1;
    if (bh <= 0)
        return;
    blit_tile(planes[0], strides[0], bx, by, bw, bh, p->tile_y, TILE, 100 - 10 * f, 4 * f);
    /* U and V tiles swapped: the window's colours differ from the scene around it. */
    blit_tile(planes[1], strides[1], bx / 2, by / 2, bw / 2, bh / 2, p->tile_v, CTILE,
              50 - 5 * f, 2 * f);
    blit_tile(planes[2], strides[2], bx / 2, by / 2, bw / 2, bh / 2, p->tile_u, CTILE,
              50 - 5 * f, 2 * f);
}

void vg_pattern_draw(vg_pattern_t *p, uint8_t *const planes[3], const int strides[3],
                     uint64_t frame_no, int64_t capture_us)
{
    if (p->kind == VG_PATTERN_LIGHT)
        draw_light(p, planes, strides, frame_no);
    else
        draw_detailed(p, planes, strides, frame_no);
    draw_clock(p, planes, strides, frame_no, capture_us);
    vg_stamp_draw(planes[0], strides[0], planes[1], planes[2], strides[1], p->width, p->height,
                  (uint64_t)capture_us);
}
