/* range: limited to full range, both paths against the formula of range.h and libswscale. */
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
#include <stdint.h>
#include <string.h>

#include "media/range.h"
#include "vg_test.h"

static int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static int clamp255(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* Written from the rational formula, not from the fixed-point code it checks. */
static uint8_t ref_px(int v, vg_range_plane_t plane)
{
    if (plane == VG_RANGE_LUMA) /* floor((Y - 16) * 255 / 219 + 1/2) */
        return (uint8_t)clamp255(floor_div(2 * (v - 16) * 255 + 219, 2 * 219));
    return (uint8_t)clamp255(floor_div(2 * (v - 128) * 255 + 224, 2 * 224) + 128);
}

static const vg_range_path_t PATHS[] = {VG_RANGE_PORTABLE, VG_RANGE_AVX2, VG_RANGE_BEST};

VG_TEST(key_levels)
{
    EXPECT_EQ(ref_px(16, VG_RANGE_LUMA), 0);
    EXPECT_EQ(ref_px(235, VG_RANGE_LUMA), 255);
    EXPECT_EQ(ref_px(126, VG_RANGE_LUMA), 128); /* 110 * 255/219 = 128.08 */
    EXPECT_EQ(ref_px(128, VG_RANGE_CHROMA), 128);
    EXPECT_EQ(ref_px(240, VG_RANGE_CHROMA), 255);
    EXPECT_EQ(ref_px(17, VG_RANGE_CHROMA), 2); /* -111 * 255/224 = -126.36 */
    uint8_t in[2] = {16, 235}, out[2];
    for (size_t p = 0; p < sizeof(PATHS) / sizeof(PATHS[0]); p++) {
        vg_range_expand_plane(out, 2, in, 2, 2, 1, VG_RANGE_LUMA, PATHS[p]);
        EXPECT_EQ(out[0], 0);
        EXPECT_EQ(out[1], 255);
    }
}

/* Every input value at every position in a 32-pixel vector step and in the C tail, odd widths
 * and strides, rows of padding that must stay untouched, and in place. */
VG_TEST(all_values_all_paths_match_the_formula)
{
    if (!vg_range_has_avx2())
        fprintf(stderr, "note: no AVX2 on this CPU; only the portable path is checked\n");
    static const int widths[] = {1, 2, 31, 32, 33, 63, 64, 97, 255, 256, 257, 1279};
    enum { PAD = 7, H = 5 };
    for (int plane = VG_RANGE_LUMA; plane <= VG_RANGE_CHROMA; plane++) {
        for (size_t wi = 0; wi < sizeof(widths) / sizeof(widths[0]); wi++) {
            int w = widths[wi];
            int sstride = w + PAD, dstride = w + 2 * PAD + 1;
            static uint8_t src[(1279 + PAD) * H], dst[(1279 + 2 * PAD + 1) * H],
                inplace[(1279 + PAD) * H];
            for (int i = 0; i < sstride * H; i++)
                src[i] = (uint8_t)(i * 7 + wi); /* walks all 256 values across the rows */
            for (size_t p = 0; p < sizeof(PATHS) / sizeof(PATHS[0]); p++) {
                memset(dst, 0xA5, sizeof(dst));
                vg_range_expand_plane(dst, dstride, src, sstride, w, H, plane, PATHS[p]);
                memcpy(inplace, src, sizeof(inplace));
                vg_range_expand_plane(inplace, sstride, inplace, sstride, w, H, plane, PATHS[p]);
                int bad = 0;
                for (int y = 0; y < H; y++) {
                    for (int x = 0; x < dstride; x++) {
                        int want = x < w ? ref_px(src[y * sstride + x], plane) : 0xA5;
                        if (dst[y * dstride + x] != want && bad++ == 0)
                            fprintf(stderr, "plane %d path %zu w %d (%d,%d): in %d out %d want %d\n",
                                    plane, p, w, x, y, x < w ? src[y * sstride + x] : -1,
                                    dst[y * dstride + x], want);
                        if (x < sstride) {
                            int want_ip = x < w ? want : src[y * sstride + x];
                            if (inplace[y * sstride + x] != want_ip)
                                bad++;
                        }
                    }
                }
                EXPECT_EQ(bad, 0);
            }
        }
    }
    /* All 256 inputs through each path at one place: no value is missed by the walk above. */
    uint8_t all[256], out[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (int plane = VG_RANGE_LUMA; plane <= VG_RANGE_CHROMA; plane++) {
        for (size_t p = 0; p < sizeof(PATHS) / sizeof(PATHS[0]); p++) {
            vg_range_expand_plane(out, 256, all, 256, 256, 1, plane, PATHS[p]);
            for (int i = 0; i < 256; i++)
                if (out[i] != ref_px(i, plane)) {
                    fprintf(stderr, "plane %d path %zu: %d -> %d, want %d\n", plane, p, i,
                            out[i], ref_px(i, plane));
                    vg__test_failed = 1;
                }
        }
    }
}

/* What the worker used before: swscale's yuv420p -> yuvj420p at the same size. Within +-1
 * over the legal levels (Y 16..235, C 16..240), which is what cameras send. */
VG_TEST(agrees_with_swscale_within_one)
{
    enum { W = 256, H = 16 };
    static uint8_t y[W * H], u[W / 2 * H / 2], v[W / 2 * H / 2];
    static uint8_t sy[W * H], su[W / 2 * H / 2], sv[W / 2 * H / 2];
    static uint8_t ry[W * H], ru[W / 2 * H / 2], rv[W / 2 * H / 2];
    /* Flat 2x2 blocks so that chroma siting cannot matter: each chroma sample's value is
     * one of 16..240, luma one of 16..235, every level present. */
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++)
            y[r * W + c] = (uint8_t)(16 + (c + r * W / 4) % 220);
    for (int r = 0; r < H / 2; r++)
        for (int c = 0; c < W / 2; c++) {
            u[r * W / 2 + c] = (uint8_t)(16 + (c + r * W / 2) % 225);
            v[r * W / 2 + c] = (uint8_t)(16 + (c * 3 + r * 7) % 225);
        }
    struct SwsContext *sws = sws_getContext(W, H, AV_PIX_FMT_YUV420P, W, H, AV_PIX_FMT_YUVJ420P,
                                            SWS_BILINEAR, NULL, NULL, NULL);
    EXPECT_TRUE(sws != NULL);
    if (sws == NULL)
        return;
    const uint8_t *src[3] = {y, u, v};
    int sstr[3] = {W, W / 2, W / 2};
    uint8_t *sdst[3] = {sy, su, sv};
    sws_scale(sws, src, sstr, 0, H, sdst, sstr);
    sws_freeContext(sws);
    uint8_t *rdst[3] = {ry, ru, rv};
    vg_range_expand_420(rdst, sstr, src, sstr, W, H);
    int worst = 0;
    for (int i = 0; i < W * H; i++)
        worst = abs(ry[i] - sy[i]) > worst ? abs(ry[i] - sy[i]) : worst;
    for (int i = 0; i < W / 2 * H / 2; i++) {
        worst = abs(ru[i] - su[i]) > worst ? abs(ru[i] - su[i]) : worst;
        worst = abs(rv[i] - sv[i]) > worst ? abs(rv[i] - sv[i]) : worst;
    }
    fprintf(stderr, "largest difference from swscale: %d\n", worst);
    EXPECT_TRUE(worst <= 1);
    EXPECT_EQ(ry[0], sy[0]); /* black (16) */
}
