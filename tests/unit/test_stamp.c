/* Tests for core/stamp (the timestamp bar) and sources/test_pattern (the test camera's
 * picture): the exact layout, round trips through JPEG and scaling as the tiers do them,
 * corruption detection, edge sizes (run under ASan to catch out-of-plane access), and the
 * JPEG size the detailed pattern promises. Needs libturbojpeg and libswscale. */
#include <stdbool.h>

#include <libswscale/swscale.h>
#include <turbojpeg.h>

#include "core/err.h"
#include "core/stamp.h"
#include "sources/test_pattern.h"
#include "vg_test.h"

#define T_US UINT64_C(1790000000123456) /* a real wall-clock time, in 2026 */
#define MASK56 ((UINT64_C(1) << 56) - 1)

/* An I420 picture with its own buffers; stride may exceed width. */
typedef struct pic {
    int w, h, ys, cs;
    uint8_t *y, *u, *v;
} pic_t;

static pic_t pic_new(int w, int h, int pad, uint8_t fill)
{
    pic_t p = {.w = w, .h = h, .ys = w + pad, .cs = (w + 1) / 2 + pad};
    int ch = (h + 1) / 2;
    p.y = malloc((size_t)p.ys * (size_t)h);
    p.u = malloc((size_t)p.cs * (size_t)ch);
    p.v = malloc((size_t)p.cs * (size_t)ch);
    memset(p.y, fill, (size_t)p.ys * (size_t)h);
    memset(p.u, 100, (size_t)p.cs * (size_t)ch);
    memset(p.v, 150, (size_t)p.cs * (size_t)ch);
    return p;
}

static void pic_free(pic_t *p)
{
    free(p->y);
    free(p->u);
    free(p->v);
    memset(p, 0, sizeof(*p));
}

static int decode(const uint8_t *y, int stride, int w, int h, uint64_t *out)
{
    *out = UINT64_MAX;
    return vg_stamp_decode(y, stride, w, h, out);
}

/* Reference CRC-8/SMBUS written independently of stamp.c, bit by bit. */
static uint8_t ref_crc8(const uint8_t *buf, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        for (int b = 7; b >= 0; b--) {
            unsigned in = (buf[i] >> b) & 1, top = (crc >> 7) & 1;
            crc = (crc << 1) & 0xff;
            if (in ^ top)
                crc ^= 0x07;
        }
    }
    return (uint8_t)crc;
}

/* The 68 block colours the layout in docs/test-camera.md asks for. */
static void ref_bits(uint64_t us, int bits[VG_STAMP_BLOCKS])
{
    uint64_t v = us & MASK56;
    uint8_t bytes[7];
    for (int i = 0; i < 7; i++)
        bytes[i] = (uint8_t)(v >> (48 - 8 * i));
    uint8_t crc = ref_crc8(bytes, 7);
    bits[0] = 1;
    bits[1] = 0;
    for (int i = 0; i < 56; i++)
        bits[2 + i] = (int)((v >> (55 - i)) & 1);
    for (int i = 0; i < 8; i++)
        bits[58 + i] = (crc >> (7 - i)) & 1;
    bits[66] = 0;
    bits[67] = 1;
}

static void flip_block(pic_t *p, int block)
{
    int x0 = block * p->w / VG_STAMP_BLOCKS, x1 = (block + 1) * p->w / VG_STAMP_BLOCKS;
    for (int r = 0; r < vg_stamp_rows(p->h); r++)
        for (int x = x0; x < x1; x++)
            p->y[r * p->ys + x] = (uint8_t)(255 - p->y[r * p->ys + x]);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

VG_TEST(crc_reference)
{
    /* The standard check value of CRC-8/SMBUS, so the reference itself is right. */
    EXPECT_EQ(ref_crc8((const uint8_t *)"123456789", 9), 0xf4);
}

VG_TEST(rows)
{
    EXPECT_EQ(vg_stamp_rows(720), 60);
    EXPECT_EQ(vg_stamp_rows(1080), 90);
    EXPECT_EQ(vg_stamp_rows(320), 26);
    EXPECT_EQ(vg_stamp_rows(108), 9);
    EXPECT_EQ(vg_stamp_rows(96), 8);
    EXPECT_EQ(vg_stamp_rows(64), 8);
    EXPECT_EQ(vg_stamp_rows(16), 8);
}

/* Exact layout: every bar pixel has the colour the document gives its block, chroma under
 * the bar is neutral, and nothing below the bar is touched. */
VG_TEST(layout)
{
    static const int sizes[][2] = {{680, 96}, {1280, 720}, {854, 480}, {101, 37}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int w = sizes[s][0], h = sizes[s][1];
        pic_t p = pic_new(w, h, 5, 77);
        vg_stamp_draw(p.y, p.ys, p.u, p.v, p.cs, w, h, T_US);
        int bits[VG_STAMP_BLOCKS], rows = vg_stamp_rows(h), bad = 0;
        ref_bits(T_US, bits);
        /* Expected row, built block by block from the document's formula. */
        uint8_t *want = malloc((size_t)p.ys);
        memset(want, 77, (size_t)p.ys);
        for (int i = 0; i < VG_STAMP_BLOCKS; i++)
            for (int x = i * w / VG_STAMP_BLOCKS; x < (i + 1) * w / VG_STAMP_BLOCKS; x++)
                want[x] = bits[i] ? 255 : 0;
        for (int r = 0; r < h; r++)
            for (int x = 0; x < p.ys; x++)
                bad += p.y[r * p.ys + x] != (r < rows ? want[x] : 77);
        free(want);
        EXPECT_EQ(bad, 0);
        int crows = (rows + 1) / 2, cw = (w + 1) / 2, bad_c = 0;
        for (int r = 0; r < (h + 1) / 2; r++) {
            for (int x = 0; x < p.cs; x++) {
                bool in_bar = r < crows && x < cw;
                bad_c += p.u[r * p.cs + x] != (in_bar ? 128 : 100);
                bad_c += p.v[r * p.cs + x] != (in_bar ? 128 : 150);
            }
        }
        EXPECT_EQ(bad_c, 0);
        pic_free(&p);
    }
}

VG_TEST(round_trip_sizes)
{
    static const int sizes[][2] = {
        {64, 64},   {68, 16},   {96, 54},   {160, 90},   {320, 180},   {568, 320},
        {640, 360}, {854, 480}, {853, 479}, {1280, 720}, {1920, 1080}, {3840, 2160},
    };
    uint64_t seed = 42;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int w = sizes[s][0], h = sizes[s][1];
        uint64_t values[] = {0, 1, T_US, MASK56, MASK56 - 1, UINT64_C(0xa5a5a5a5a5a5a5),
                             splitmix(&seed) & MASK56, splitmix(&seed) & MASK56};
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            pic_t p = pic_new(w, h, 3, 128);
            vg_stamp_draw(p.y, p.ys, p.u, p.v, p.cs, w, h, values[i]);
            uint64_t got;
            int rc = decode(p.y, p.ys, w, h, &got);
            if (w < VG_STAMP_BLOCKS) {
                EXPECT_EQ(rc, VG_ESTAMP); /* some of the 68 blocks are empty */
            } else {
                EXPECT_EQ(rc, 0);
                EXPECT_EQ(got, values[i]);
            }
            pic_free(&p);
        }
    }
}

VG_TEST(high_bits_dropped)
{
    pic_t p = pic_new(640, 360, 0, 0);
    uint64_t got;
    vg_stamp_draw(p.y, p.ys, NULL, NULL, 0, p.w, p.h, UINT64_MAX); /* grey-only: no chroma */
    EXPECT_EQ(decode(p.y, p.ys, p.w, p.h, &got), 0);
    EXPECT_EQ(got, MASK56);
    vg_stamp_draw(p.y, p.ys, NULL, NULL, 0, p.w, p.h, (UINT64_C(0xab) << 56) | T_US);
    EXPECT_EQ(decode(p.y, p.ys, p.w, p.h, &got), 0);
    EXPECT_EQ(got, T_US);
    pic_free(&p);
}

/* Any single wrong block, guard, data or CRC, must be refused (CRC-8 catches every
 * single-bit error), as must pictures without a bar. */
VG_TEST(corruption)
{
    static const int sizes[][2] = {{1280, 720}, {568, 320}};
    for (size_t s = 0; s < 2; s++) {
        int refused = 0;
        for (int b = 0; b < VG_STAMP_BLOCKS; b++) {
            pic_t p = pic_new(sizes[s][0], sizes[s][1], 0, 128);
            vg_stamp_draw(p.y, p.ys, p.u, p.v, p.cs, p.w, p.h, T_US);
            flip_block(&p, b);
            uint64_t got;
            refused += decode(p.y, p.ys, p.w, p.h, &got) == VG_ESTAMP;
            pic_free(&p);
        }
        EXPECT_EQ(refused, VG_STAMP_BLOCKS);
    }
    for (int fill = 0; fill <= 255; fill += 255) {
        pic_t p = pic_new(640, 360, 0, (uint8_t)fill);
        uint64_t got;
        EXPECT_EQ(decode(p.y, p.ys, p.w, p.h, &got), VG_ESTAMP);
        pic_free(&p);
    }
    uint64_t got;
    EXPECT_EQ(vg_stamp_decode(NULL, 0, 640, 360, &got), VG_ESTAMP);
}

/* Planes allocated to their exact size, so ASan sees any read or write past the end. */
VG_TEST(tiny_planes_in_bounds)
{
    for (int h = 16; h <= 40; h += 3) {
        for (int w = 16; w <= 160; w += 7) {
            uint8_t *y = malloc((size_t)w * (size_t)h);
            uint8_t *u = malloc((size_t)((w + 1) / 2) * (size_t)((h + 1) / 2));
            uint8_t *v = malloc((size_t)((w + 1) / 2) * (size_t)((h + 1) / 2));
            memset(y, 128, (size_t)w * (size_t)h);
            vg_stamp_draw(y, w, u, v, (w + 1) / 2, w, h, T_US);
            uint64_t got;
            int rc = decode(y, w, w, h, &got);
            EXPECT_EQ(rc, w < VG_STAMP_BLOCKS ? VG_ESTAMP : 0);
            free(y);
            free(u);
            free(v);
        }
    }
}

/* ---- through JPEG and scaling, as the tiers and viewers do it ------------------------ */

static unsigned char *jpeg_of(const pic_t *p, int quality, unsigned long *len)
{
    tjhandle tj = tjInitCompress();
    const unsigned char *planes[3] = {p->y, p->u, p->v};
    int strides[3] = {p->ys, p->cs, p->cs};
    unsigned char *jpg = NULL;
    *len = 0;
    if (tjCompressFromYUVPlanes(tj, planes, p->w, strides, p->h, TJSAMP_420, &jpg, len,
                                quality, 0) != 0) {
        fprintf(stderr, "tjCompressFromYUVPlanes: %s\n", tjGetErrorStr());
        jpg = NULL;
    }
    tjDestroy(tj);
    return jpg;
}

/* Decodes the JPEG twice, to YUV planes and to a grey bitmap, and reads the stamp from
 * both. Returns the number of paths that gave `want`. */
static int jpeg_stamp_ok(const unsigned char *jpg, unsigned long len, int w, int h,
                         uint64_t want)
{
    tjhandle tj = tjInitDecompress();
    int ok = 0;
    pic_t d = pic_new(w, h, 0, 0);
    unsigned char *planes[3] = {d.y, d.u, d.v};
    int strides[3] = {d.ys, d.cs, d.cs};
    uint64_t got;
    if (tjDecompressToYUVPlanes(tj, jpg, len, planes, w, strides, h, 0) == 0 &&
        decode(d.y, d.ys, w, h, &got) == 0 && got == want)
        ok++;
    memset(d.y, 0, (size_t)w * (size_t)h);
    if (tjDecompress2(tj, jpg, len, d.y, w, w, h, TJPF_GRAY, 0) == 0 &&
        decode(d.y, w, w, h, &got) == 0 && got == want)
        ok++;
    pic_free(&d);
    tjDestroy(tj);
    return ok;
}

static void draw_pattern(pic_t *p, vg_pattern_kind_t kind, uint64_t frame_no, int64_t us)
{
    vg_pattern_t *pat = NULL;
    EXPECT_EQ(vg_pattern_new(&pat, p->w, p->h, kind), 0);
    if (pat == NULL)
        return;
    uint8_t *planes[3] = {p->y, p->u, p->v};
    int strides[3] = {p->ys, p->cs, p->cs};
    vg_pattern_draw(pat, planes, strides, frame_no, us);
    vg_pattern_free(&pat);
    EXPECT_TRUE(pat == NULL);
}

VG_TEST(round_trip_jpeg)
{
    static const int sizes[][2] = {{1280, 720}, {854, 480}, {640, 360}, {568, 320},
                                   {320, 180},  {160, 90}};
    static const int qualities[] = {50, 80};
    uint64_t seed = 7;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t q = 0; q < 2; q++) {
            for (int k = 0; k < 2; k++) {
                pic_t p = pic_new(sizes[s][0], sizes[s][1], 0, 0);
                uint64_t us = T_US + (splitmix(&seed) % 1000000000);
                draw_pattern(&p, k ? VG_PATTERN_DETAILED : VG_PATTERN_LIGHT, 99, (int64_t)us);
                unsigned long len;
                unsigned char *jpg = jpeg_of(&p, qualities[q], &len);
                EXPECT_TRUE(jpg != NULL);
                if (jpg != NULL) {
                    int ok = jpeg_stamp_ok(jpg, len, p.w, p.h, us);
                    if (ok != 2)
                        fprintf(stderr, "  %dx%d q%d kind %d\n", p.w, p.h, qualities[q], k);
                    EXPECT_EQ(ok, 2);
                }
                tjFree(jpg);
                pic_free(&p);
            }
        }
    }
}

/* Scales the luma plane with libswscale (what the tiers use), optionally re-encodes the
 * result as a grey JPEG, and decodes the stamp. */
static int scaled_stamp(const pic_t *p, int dw, int dh, int flags, int quality, uint64_t *got)
{
    struct SwsContext *sws =
        sws_getContext(p->w, p->h, AV_PIX_FMT_GRAY8, dw, dh, AV_PIX_FMT_GRAY8, flags, NULL,
                       NULL, NULL);
    if (sws == NULL)
        return -1;
    uint8_t *dst = malloc((size_t)dw * (size_t)dh);
    const uint8_t *src_planes[1] = {p->y};
    int src_strides[1] = {p->ys}, dst_strides[1] = {dw};
    uint8_t *dst_planes[1] = {dst};
    sws_scale(sws, src_planes, src_strides, 0, p->h, dst_planes, dst_strides);
    sws_freeContext(sws);

    int rc = -1;
    if (quality > 0) {
        tjhandle tj = tjInitCompress();
        unsigned char *jpg = NULL;
        unsigned long len = 0;
        if (tjCompress2(tj, dst, dw, dw, dh, TJPF_GRAY, &jpg, &len, TJSAMP_GRAY, quality,
                        0) == 0) {
            tjhandle td = tjInitDecompress();
            if (tjDecompress2(td, jpg, len, dst, dw, dw, dh, TJPF_GRAY, 0) == 0)
                rc = 0;
            tjDestroy(td);
        }
        tjFree(jpg);
        tjDestroy(tj);
        if (rc < 0)
            goto out;
    }
    rc = decode(dst, dw, dw, dh, got);
out:
    free(dst);
    return rc;
}

VG_TEST(round_trip_scaled)
{
    static const int targets[][2] = {{568, 320}, {640, 360}, {854, 480}, {320, 180},
                                     {160, 90},  {1920, 1080}};
    static const int filters[] = {SWS_BICUBIC, SWS_BILINEAR, SWS_AREA, SWS_FAST_BILINEAR};
    pic_t p = pic_new(1280, 720, 0, 0);
    draw_pattern(&p, VG_PATTERN_DETAILED, 1234, (int64_t)T_US);
    for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
        for (size_t f = 0; f < sizeof(filters) / sizeof(filters[0]); f++) {
            /* FAST_BILINEAR drifts by up to 2 output pixels across a strong downscale
             * (measured: 1280 -> 272 wide), more than a 4-pixel block can absorb. */
            if (filters[f] == SWS_FAST_BILINEAR && targets[t][0] < 320)
                continue;
            for (int quality = 0; quality <= 50; quality += 50) {
                uint64_t got = 0;
                int rc = scaled_stamp(&p, targets[t][0], targets[t][1], filters[f], quality,
                                      &got);
                if (rc != 0 || got != T_US)
                    fprintf(stderr, "  -> %dx%d filter %d q%d\n", targets[t][0],
                            targets[t][1], filters[f], quality);
                EXPECT_EQ(rc, 0);
                EXPECT_EQ(got, T_US);
            }
        }
    }
    pic_free(&p);
}

/* Plain 2x2 box filter, independent of any library. */
VG_TEST(round_trip_box_half)
{
    pic_t p = pic_new(1280, 720, 0, 0);
    draw_pattern(&p, VG_PATTERN_LIGHT, 5, (int64_t)T_US + 17);
    int dw = p.w / 2, dh = p.h / 2;
    uint8_t *d = malloc((size_t)dw * (size_t)dh);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            const uint8_t *s = p.y + 2 * y * p.ys + 2 * x;
            d[y * dw + x] = (uint8_t)((s[0] + s[1] + s[p.ys] + s[p.ys + 1] + 2) / 4);
        }
    uint64_t got;
    EXPECT_EQ(decode(d, dw, dw, dh, &got), 0);
    EXPECT_EQ(got, T_US + 17);
    free(d);
    pic_free(&p);
}

/* ---- test pattern -------------------------------------------------------------------- */

VG_TEST(pattern_new_checks)
{
    vg_pattern_t *p = NULL;
    EXPECT_EQ(vg_pattern_new(&p, 63, 64, VG_PATTERN_LIGHT), VG_EINVAL);
    EXPECT_EQ(vg_pattern_new(&p, 65, 64, VG_PATTERN_LIGHT), VG_EINVAL);
    EXPECT_EQ(vg_pattern_new(&p, 640, 361, VG_PATTERN_LIGHT), VG_EINVAL);
    EXPECT_EQ(vg_pattern_new(&p, 3842, 2160, VG_PATTERN_DETAILED), VG_EINVAL);
    EXPECT_EQ(vg_pattern_new(&p, 3840, 2162, VG_PATTERN_DETAILED), VG_EINVAL);
    EXPECT_EQ(vg_pattern_new(&p, 640, 360, (vg_pattern_kind_t)7), VG_EINVAL);
    EXPECT_TRUE(p == NULL);
    vg_pattern_free(&p);
    vg_pattern_free(NULL);
}

/* Every allowed extreme draws inside its planes (ASan) and carries its stamp. */
VG_TEST(pattern_sizes)
{
    static const int sizes[][2] = {{64, 64},    {68, 64},    {3840, 64}, {64, 2160},
                                   {3840, 2160}, {1280, 720}, {854, 480}, {96, 2000}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (int k = 0; k < 2; k++) {
            pic_t p = pic_new(sizes[s][0], sizes[s][1], 0, 0);
            /* Exact-size planes: no stride padding, so ASan flags any overrun. */
            for (uint64_t f = 0; f < 300; f += 37) {
                int64_t us = (int64_t)T_US + (int64_t)f * 33333;
                draw_pattern(&p, k ? VG_PATTERN_DETAILED : VG_PATTERN_LIGHT, f, us);
                uint64_t got;
                if (p.w >= VG_STAMP_BLOCKS) {
                    EXPECT_EQ(decode(p.y, p.ys, p.w, p.h, &got), 0);
                    EXPECT_EQ(got, (uint64_t)us);
                }
            }
            pic_free(&p);
        }
    }
}

VG_TEST(pattern_moves_and_shows_time)
{
    for (int k = 0; k < 2; k++) {
        vg_pattern_kind_t kind = k ? VG_PATTERN_DETAILED : VG_PATTERN_LIGHT;
        pic_t a = pic_new(1280, 720, 0, 0), b = pic_new(1280, 720, 0, 0);
        int rows = vg_stamp_rows(720);
        size_t below = (size_t)(720 - 300) * 1280; /* under the text */
        /* Same time, next frame: the picture below the text changes. */
        draw_pattern(&a, kind, 10, (int64_t)T_US);
        draw_pattern(&b, kind, 11, (int64_t)T_US);
        EXPECT_TRUE(memcmp(a.y + 300 * 1280, b.y + 300 * 1280, below) != 0);
        /* Same frame, a millisecond later: the clock digits change, the bar too. */
        draw_pattern(&b, kind, 10, (int64_t)T_US + 1000);
        EXPECT_TRUE(memcmp(a.y + rows * 1280, b.y + rows * 1280, 200 * 1280) != 0);
        EXPECT_TRUE(memcmp(a.y + 300 * 1280, b.y + 300 * 1280, below) == 0);
        /* Times before 1970 still draw (the clock uses floor division). */
        draw_pattern(&b, kind, 0, -1);
        pic_free(&a);
        pic_free(&b);
    }
}

/* The detailed pattern must cost a JPEG encoder what a real scene does, and the light one
 * much less (docs/test-camera.md). Averages a few frames. */
VG_TEST(pattern_jpeg_size)
{
    unsigned long sizes[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        for (uint64_t f = 0; f < 4; f++) {
            pic_t p = pic_new(1280, 720, 0, 0);
            draw_pattern(&p, k ? VG_PATTERN_DETAILED : VG_PATTERN_LIGHT, 100 + f * 29,
                         (int64_t)T_US);
            unsigned long len = 0;
            unsigned char *jpg = jpeg_of(&p, 80, &len);
            EXPECT_TRUE(jpg != NULL);
            EXPECT_TRUE(k == 0 || len >= 100000);
            sizes[k] += len;
            tjFree(jpg);
            pic_free(&p);
        }
        sizes[k] /= 4;
    }
    printf("  1280x720 q80: light %lu bytes, detailed %lu bytes\n", sizes[0], sizes[1]);
    EXPECT_TRUE(sizes[1] >= 100000);
    EXPECT_TRUE(sizes[1] <= 200000); /* a realistic scene, not noise */
    EXPECT_TRUE(sizes[0] * 2 < sizes[1]);
}
