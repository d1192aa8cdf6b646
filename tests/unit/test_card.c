/* card: the offline card decodes as a JPEG of the asked size, is dark with bright text,
 * changes with the clock, rejects bad arguments, and stays inside its planes at any size. */
#include <turbojpeg.h>

#include "core/err.h"
#include "core/frame.h"
#include "media/card.h"
#include "vg_test.h"

#define T0_US 1790000000000000LL /* some wall-clock instant, in µs */

static const char *const offline[] = {"CAMERA OFFLINE", "RECONNECTING", "UNREACHABLE", "porch"};

/* Decodes f's luma (TJPF_GRAY keeps Y as-is) into a new buffer; checks the header on the way.
 * Returns NULL (and fails the test) when the JPEG does not decode. */
static uint8_t *decode_luma(const vg_frame_t *f, int width, int height)
{
    tjhandle tj = tjInitDecompress();
    int w = 0, h = 0, subsamp = -1, colorspace = -1;
    uint8_t *luma = NULL;
    EXPECT_TRUE(tj != NULL);
    if (tj == NULL)
        return NULL;
    if (tjDecompressHeader3(tj, f->data, f->len, &w, &h, &subsamp, &colorspace) != 0) {
        fprintf(stderr, "header: %s\n", tjGetErrorStr2(tj));
        vg__test_failed = 1;
        goto out;
    }
    EXPECT_EQ(w, width);
    EXPECT_EQ(h, height);
    EXPECT_EQ(subsamp, TJSAMP_420);
    EXPECT_EQ(colorspace, TJCS_YCbCr);
    if (w != width || h != height)
        goto out;
    luma = malloc((size_t)w * (size_t)h);
    if (tjDecompress2(tj, f->data, f->len, luma, w, w, h, TJPF_GRAY, 0) != 0) {
        fprintf(stderr, "decode: %s\n", tjGetErrorStr2(tj));
        vg__test_failed = 1;
        free(luma);
        luma = NULL;
    }
out:
    tjDestroy(tj);
    return luma;
}

static vg_frame_t *render(int width, int height, int64_t now_us)
{
    vg_frame_t *f = NULL;
    EXPECT_EQ(vg_card_render(&f, width, height, 80, offline, 4, now_us), 0);
    return f;
}

VG_TEST(renders_decodable_jpeg_at_every_size)
{
    static const int sizes[][2] = {{16, 16},     {320, 180}, {1280, 720}, {1920, 1080},
                                   {3840, 2160}, {3840, 16}, {16, 2160}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int w = sizes[i][0], h = sizes[i][1];
        vg_frame_t *f = render(w, h, T0_US);
        if (f == NULL)
            continue;
        EXPECT_EQ(f->meta.codec, VG_CODEC_JPEG);
        EXPECT_TRUE(f->meta.is_key);
        EXPECT_EQ(f->meta.width, w);
        EXPECT_EQ(f->meta.height, h);
        EXPECT_EQ(f->meta.tier, -1); /* left to the caller */
        EXPECT_EQ(f->headroom, VG_FRAME_HEADROOM);
        EXPECT_TRUE(f->len > 4 && f->data[0] == 0xff && f->data[1] == 0xd8);
        EXPECT_TRUE(f->data[f->len - 2] == 0xff && f->data[f->len - 1] == 0xd9);
        free(decode_luma(f, w, h));
        vg_frame_unref(&f);
    }
}

VG_TEST(rejects_bad_arguments)
{
    static const int bad[][3] = {
        {14, 180, 80},   {3842, 180, 80}, {321, 180, 80},  {0, 180, 80},
        {-320, 180, 80}, {320, 14, 80},   {320, 2162, 80}, {320, 181, 80},
        {320, 0, 80},    {320, 180, 0},   {320, 180, 101}, {320, 180, -1},
    };
    vg_frame_t *f = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_EQ(vg_card_render(&f, bad[i][0], bad[i][1], bad[i][2], offline, 4, T0_US),
                  VG_EINVAL);
    EXPECT_EQ(vg_card_render(NULL, 320, 180, 80, offline, 4, T0_US), VG_EINVAL);
    EXPECT_EQ(vg_card_render(&f, 320, 180, 80, NULL, 1, T0_US), VG_EINVAL);
    EXPECT_EQ(vg_card_render(&f, 320, 180, 80, offline, -1, T0_US), VG_EINVAL);
    EXPECT_EQ(vg_card_render(&f, 320, 180, 80, offline, VG_CARD_MAX_LINES + 1, T0_US), VG_EINVAL);
    const char *const with_null[] = {"CAMERA OFFLINE", NULL};
    EXPECT_EQ(vg_card_render(&f, 320, 180, 80, with_null, 2, T0_US), VG_EINVAL);
    EXPECT_TRUE(f == NULL);

    /* The edges of the ranges are fine, and so is a card with only the clock. */
    EXPECT_EQ(vg_card_render(&f, 320, 180, 1, offline, 4, T0_US), 0);
    vg_frame_unref(&f);
    EXPECT_EQ(vg_card_render(&f, 320, 180, 100, offline, 4, T0_US), 0);
    vg_frame_unref(&f);
    EXPECT_EQ(vg_card_render(&f, 320, 180, 80, NULL, 0, T0_US), 0);
    vg_frame_unref(&f);
}

VG_TEST(picture_changes_with_the_second)
{
    vg_frame_t *a = render(1280, 720, T0_US);
    vg_frame_t *b = render(1280, 720, T0_US + 1000000);
    vg_frame_t *same = render(1280, 720, T0_US + 999); /* same second: same picture */
    if (a == NULL || b == NULL || same == NULL)
        goto out;
    uint8_t *la = decode_luma(a, 1280, 720), *lb = decode_luma(b, 1280, 720);
    if (la != NULL && lb != NULL) {
        size_t differ = 0;
        for (size_t i = 0; i < 1280 * 720; i++)
            differ += la[i] != lb[i];
        EXPECT_TRUE(differ > 100); /* a whole digit changed, not a rounding blip */
    }
    free(la);
    free(lb);
    EXPECT_TRUE(a->len == same->len && memcmp(a->data, same->data, a->len) == 0);
out:
    vg_frame_unref(&a);
    vg_frame_unref(&b);
    vg_frame_unref(&same);
}

VG_TEST(dark_background_with_bright_text)
{
    static const int sizes[][2] = {{320, 180}, {1280, 720}, {1920, 1080}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int w = sizes[s][0], h = sizes[s][1];
        vg_frame_t *f = render(w, h, T0_US);
        uint8_t *luma = f != NULL ? decode_luma(f, w, h) : NULL;
        if (luma != NULL) {
            size_t hist[256] = {0}, n = (size_t)w * (size_t)h, bright = 0, seen = 0;
            for (size_t i = 0; i < n; i++)
                hist[luma[i]]++;
            for (int v = 201; v < 256; v++)
                bright += hist[v];
            int median = 0;
            while (seen + hist[median] <= n / 2)
                seen += hist[median++];
            EXPECT_TRUE(bright > 0);
            EXPECT_TRUE(median < 60);
        }
        free(luma);
        vg_frame_unref(&f);
    }
}

VG_TEST(lowercase_and_unknown_characters)
{
    /* Lowercase draws as uppercase; "é" (two bytes) is one unknown character, drawn as one
     * space, so the line keeps its width and centring. */
    const char *const lower[] = {"camera offline", "caf\xc3\xa9 #1"};
    const char *const upper[] = {"CAMERA OFFLINE", "CAF  {1"};
    vg_frame_t *a = NULL, *b = NULL;
    EXPECT_EQ(vg_card_render(&a, 640, 360, 80, lower, 2, T0_US), 0);
    EXPECT_EQ(vg_card_render(&b, 640, 360, 80, upper, 2, T0_US), 0);
    EXPECT_TRUE(a != NULL && b != NULL && a->len == b->len &&
                memcmp(a->data, b->data, a->len) == 0);
    vg_frame_unref(&a);
    vg_frame_unref(&b);
}

VG_TEST(long_and_many_lines_stay_inside_the_picture)
{
    /* ASan catches any write outside the planes: text far wider and taller than 16x16. */
    static char longest[4096];
    memset(longest, 'W', sizeof(longest) - 1);
    const char *many[VG_CARD_MAX_LINES];
    for (int i = 0; i < VG_CARD_MAX_LINES; i++)
        many[i] = i % 2 ? longest : "ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 :.,-_'()/!?";
    static const int sizes[][2] = {{16, 16}, {18, 16}, {16, 18}, {320, 180}, {3840, 2160}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        vg_frame_t *f = NULL;
        EXPECT_EQ(
            vg_card_render(&f, sizes[s][0], sizes[s][1], 90, many, VG_CARD_MAX_LINES, -T0_US - 1),
            0);
        if (f != NULL)
            free(decode_luma(f, sizes[s][0], sizes[s][1]));
        vg_frame_unref(&f);
    }
}
