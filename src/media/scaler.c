/* scaler: see scaler.h. */
#include "media/scaler.h"

#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdlib.h>

#include "core/err.h"

struct vg_scaler {
    struct SwsContext *sws;
    /* what sws was made for */
    int src_w, src_h, dst_w, dst_h;
    enum AVPixelFormat src_fmt;
    bool is_src_full, is_dst_full;
    uint64_t made;
};

vg_scaler_t *vg_scaler_new(void) { return calloc(1, sizeof(vg_scaler_t)); }

void vg_scaler_free(vg_scaler_t *s)
{
    if (s == NULL)
        return;
    sws_freeContext(s->sws);
    free(s);
}

/* src's format without the "j" (what swscale is given); *is_full says whether its levels are
 * full range: a yuvj format, or a YUV one whose color_range says so (RGB has no limited
 * range to expand). */
static enum AVPixelFormat plain_format(const AVFrame *src, bool *is_full)
{
    enum AVPixelFormat plain;
    switch (src->format) {
    case AV_PIX_FMT_YUVJ420P: plain = AV_PIX_FMT_YUV420P; break;
    case AV_PIX_FMT_YUVJ422P: plain = AV_PIX_FMT_YUV422P; break;
    case AV_PIX_FMT_YUVJ444P: plain = AV_PIX_FMT_YUV444P; break;
    case AV_PIX_FMT_YUVJ440P: plain = AV_PIX_FMT_YUV440P; break;
    case AV_PIX_FMT_YUVJ411P: plain = AV_PIX_FMT_YUV411P; break;
    default: {
        const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(src->format);
        *is_full = d && !(d->flags & AV_PIX_FMT_FLAG_RGB) &&
                   src->color_range == AVCOL_RANGE_JPEG;
        return src->format;
    }
    }
    *is_full = true;
    return plain;
}

bool vg_scaler_is_full_range(const AVFrame *src)
{
    bool is_full;
    plain_format(src, &is_full);
    return is_full;
}

int vg_scaler_scale(vg_scaler_t *s, const AVFrame *src, uint8_t *const dst[3],
                    const int dst_stride[3], int width, int height, bool to_full)
{
    bool is_src_full;
    enum AVPixelFormat fmt = plain_format(src, &is_src_full);
    bool is_dst_full = to_full || is_src_full;
    if (s->sws == NULL || s->src_w != src->width || s->src_h != src->height ||
        s->src_fmt != fmt || s->dst_w != width || s->dst_h != height ||
        s->is_src_full != is_src_full || s->is_dst_full != is_dst_full) {
        sws_freeContext(s->sws);
        /* The ranges are options set before the context is made, as libavfilter's scale does:
         * set after, with sws_setColorspaceDetails, they did not reach a same-size yuv420p
         * context, which had already chosen a plain copy (FFmpeg 5.1). */
        s->sws = sws_alloc_context();
        if (s->sws == NULL)
            return VG_ECODEC;
        if (av_opt_set_int(s->sws, "srcw", src->width, 0) < 0 ||
            av_opt_set_int(s->sws, "srch", src->height, 0) < 0 ||
            av_opt_set_int(s->sws, "src_format", fmt, 0) < 0 ||
            av_opt_set_int(s->sws, "src_range", is_src_full, 0) < 0 ||
            av_opt_set_int(s->sws, "dstw", width, 0) < 0 ||
            av_opt_set_int(s->sws, "dsth", height, 0) < 0 ||
            av_opt_set_int(s->sws, "dst_format", AV_PIX_FMT_YUV420P, 0) < 0 ||
            av_opt_set_int(s->sws, "dst_range", is_dst_full, 0) < 0 ||
            av_opt_set_int(s->sws, "sws_flags", SWS_BILINEAR, 0) < 0 ||
            sws_init_context(s->sws, NULL, NULL) < 0) {
            sws_freeContext(s->sws);
            s->sws = NULL;
            return VG_ECODEC;
        }
        s->src_w = src->width;
        s->src_h = src->height;
        s->src_fmt = fmt;
        s->dst_w = width;
        s->dst_h = height;
        s->is_src_full = is_src_full;
        s->is_dst_full = is_dst_full;
        s->made++;
    }
    sws_scale(s->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, dst,
              dst_stride);
    return 0;
}

uint64_t vg_scaler_contexts_made(const vg_scaler_t *s) { return s->made; }
