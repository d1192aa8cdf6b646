/* scaler: levels kept or expanded as asked, whatever the pixel format says, and one context
 * per kind of picture. */
#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>
#include <stdint.h>
#include <string.h>

#include "media/scaler.h"
#include "vg_test.h"

/* A flat picture of w x h in fmt (4:2:0 or 4:2:2): Y, Cb and Cr everywhere. */
static AVFrame *flat(enum AVPixelFormat fmt, int w, int h, uint8_t y, uint8_t cb, uint8_t cr)
{
    AVFrame *f = av_frame_alloc();
    f->format = fmt;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 32) < 0) {
        av_frame_free(&f);
        return NULL;
    }
    int chroma_h = fmt == AV_PIX_FMT_YUV422P || fmt == AV_PIX_FMT_YUVJ422P ? h : (h + 1) / 2;
    for (int r = 0; r < h; r++)
        memset(f->data[0] + r * f->linesize[0], y, (size_t)w);
    for (int r = 0; r < chroma_h; r++) {
        memset(f->data[1] + r * f->linesize[1], cb, (size_t)(w + 1) / 2);
        memset(f->data[2] + r * f->linesize[2], cr, (size_t)(w + 1) / 2);
    }
    return f;
}

typedef struct {
    uint8_t y[64 * 48], cb[32 * 24], cr[32 * 24];
} out420_t;

static int scale(vg_scaler_t *s, const AVFrame *src, out420_t *o, int w, int h, bool to_full)
{
    uint8_t *planes[3] = {o->y, o->cb, o->cr};
    int strides[3] = {w, (w + 1) / 2, (w + 1) / 2};
    return vg_scaler_scale(s, src, planes, strides, w, h, to_full);
}

VG_TEST(full_range_by_format_or_by_color_range)
{
    AVFrame *f = flat(AV_PIX_FMT_YUVJ420P, 16, 16, 0, 128, 128);
    EXPECT_TRUE(vg_scaler_is_full_range(f));
    f->format = AV_PIX_FMT_YUV420P;
    EXPECT_TRUE(!vg_scaler_is_full_range(f));
    f->color_range = AVCOL_RANGE_JPEG;
    EXPECT_TRUE(vg_scaler_is_full_range(f));
    f->format = AV_PIX_FMT_RGB24; /* RGB has no limited range */
    EXPECT_TRUE(!vg_scaler_is_full_range(f));
    av_frame_free(&f);
}

/* yuvj420p (what H.264 with a full-range VUI decodes to): its levels are kept, not expanded a
 * second time, and a picture of the same kind reuses the context. */
VG_TEST(full_range_in_keeps_its_levels_and_its_context)
{
    vg_scaler_t *s = vg_scaler_new();
    out420_t o;
    for (int i = 0; i < 10; i++) {
        AVFrame *f = flat(AV_PIX_FMT_YUVJ420P, 128, 96, (uint8_t)(i % 2 ? 5 : 250), 20, 236);
        EXPECT_EQ(scale(s, f, &o, 64, 48, false), 0);
        EXPECT_EQ(o.y[64 * 20 + 30], i % 2 ? 5 : 250); /* limited would clamp these to 16/235 */
        EXPECT_EQ(o.cb[32 * 10 + 15], 20);
        EXPECT_EQ(o.cr[32 * 10 + 15], 236);
        av_frame_free(&f);
    }
    EXPECT_EQ(vg_scaler_contexts_made(s), 1);
    /* asked for full range, the same: it is full already */
    AVFrame *f = flat(AV_PIX_FMT_YUVJ420P, 128, 96, 5, 128, 128);
    EXPECT_EQ(scale(s, f, &o, 64, 48, true), 0);
    EXPECT_EQ(o.y[0], 5);
    av_frame_free(&f);
    vg_scaler_free(s);
}

VG_TEST(limited_range_is_kept_or_expanded_as_asked)
{
    vg_scaler_t *s = vg_scaler_new();
    out420_t o;
    AVFrame *f = flat(AV_PIX_FMT_YUV420P, 64, 48, 16, 128, 240);
    EXPECT_EQ(scale(s, f, &o, 64, 48, false), 0);
    EXPECT_EQ(o.y[100], 16);
    EXPECT_EQ(o.cr[100], 240);
    EXPECT_EQ(scale(s, f, &o, 64, 48, true), 0);
    EXPECT_TRUE(o.y[100] <= 1);  /* black */
    EXPECT_TRUE(o.cr[100] >= 254); /* the most red */
    EXPECT_TRUE(o.cb[100] >= 127 && o.cb[100] <= 129);
    av_frame_free(&f);
    f = flat(AV_PIX_FMT_YUV420P, 64, 48, 235, 128, 128);
    EXPECT_EQ(scale(s, f, &o, 64, 48, true), 0);
    EXPECT_TRUE(o.y[100] >= 254); /* white */
    av_frame_free(&f);
    EXPECT_EQ(vg_scaler_contexts_made(s), 2); /* kept, then expanded */
    vg_scaler_free(s);
}

/* 4:2:2 from an MJPEG camera (yuvj422p) to 4:2:0 at half size: full range stays as it is. */
VG_TEST(full_range_422_to_420)
{
    vg_scaler_t *s = vg_scaler_new();
    out420_t o;
    AVFrame *f = flat(AV_PIX_FMT_YUVJ422P, 128, 96, 255, 0, 128);
    EXPECT_EQ(scale(s, f, &o, 64, 48, true), 0);
    EXPECT_EQ(o.y[64 * 47 + 63], 255);
    EXPECT_EQ(o.cb[32 * 23 + 31], 0);
    EXPECT_EQ(o.cr[0], 128);
    EXPECT_EQ(scale(s, f, &o, 64, 48, true), 0);
    EXPECT_EQ(vg_scaler_contexts_made(s), 1);
    av_frame_free(&f);
    vg_scaler_free(s);
}
