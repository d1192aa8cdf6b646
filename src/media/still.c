/* still: see still.h. */
#include "media/still.h"

#include <libavcodec/avcodec.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/err.h"
#include "core/wire.h"
#include "media/scaler.h"

static enum AVCodecID codec_id(vg_codec_t c)
{
    return c == VG_CODEC_H264 ? AV_CODEC_ID_H264 : c == VG_CODEC_H265 ? AV_CODEC_ID_HEVC
                                                                     : AV_CODEC_ID_NONE;
}

/* JPEG wants full-range 4:2:0; cameras send limited range, and not always 4:2:0. */
static int to_jpeg(const AVFrame *pic, int quality, const vg_frame_meta_t *meta,
                   vg_frame_t **out)
{
    int rc = VG_ECODEC;
    AVFrame *full = av_frame_alloc();
    vg_scaler_t *scaler = vg_scaler_new();
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long len = 0;
    if (full == NULL || scaler == NULL || tj == NULL)
        goto out;
    full->format = AV_PIX_FMT_YUV420P;
    full->color_range = AVCOL_RANGE_JPEG;
    full->width = pic->width;
    full->height = pic->height;
    if (av_frame_get_buffer(full, 32) < 0)
        goto out;
    if (vg_scaler_scale(scaler, pic, full->data, full->linesize, pic->width, pic->height,
                        true) < 0)
        goto out;
    const unsigned char *planes[3] = {full->data[0], full->data[1], full->data[2]};
    int strides[3] = {full->linesize[0], full->linesize[1], full->linesize[2]};
    if (tjCompressFromYUVPlanes(tj, planes, full->width, strides, full->height, TJSAMP_420,
                                &jpeg, &len, quality, TJFLAG_FASTDCT) != 0)
        goto out;
    vg_frame_t *f = vg_frame_new(len);
    memcpy(f->data, jpeg, len);
    f->len = len;
    f->meta = (vg_frame_meta_t){
        .codec = VG_CODEC_JPEG,
        .is_key = true,
        .seq = meta->seq,
        .width = full->width,
        .height = full->height,
        .capture_us = meta->capture_us,
        .ingest_us = meta->ingest_us,
        .tier = -1,
    };
    vg_wire_put_header(f->data - VG_WIRE_HDR_LEN, &f->meta);
    *out = f;
    rc = 0;
out:
    tjFree(jpeg);
    if (tj)
        tjDestroy(tj);
    vg_scaler_free(scaler);
    av_frame_free(&full);
    return rc;
}

int vg_still_encode(vg_frame_t *const *aus, size_t n, int quality, vg_frame_t **out)
{
    *out = NULL;
    if (n == 0 || quality < 1 || quality > 100)
        return VG_EINVAL;
    const AVCodec *dc = avcodec_find_decoder(codec_id(aus[0]->meta.codec));
    if (dc == NULL)
        return VG_EINVAL;
    int rc = VG_ECODEC;
    AVCodecContext *dec = avcodec_alloc_context3(dc);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *pic = av_frame_alloc(), *last = av_frame_alloc();
    if (dec == NULL || pkt == NULL || pic == NULL || last == NULL)
        goto out;
    dec->thread_count = 1;
    dec->flags |= AV_CODEC_FLAG_LOW_DELAY; /* cameras send no B-frames: one out per one in */
    if (avcodec_open2(dec, dc, NULL) < 0)
        goto out;
    bool has_last = false;
    for (size_t i = 0; i <= n; i++) {
        /* The packet borrows the frame's bytes; avcodec copies what it keeps. n: flush. */
        if (i < n) {
            pkt->data = aus[i]->data;
            pkt->size = (int)aus[i]->len;
            pkt->flags = aus[i]->meta.is_key ? AV_PKT_FLAG_KEY : 0;
        }
        if (avcodec_send_packet(dec, i < n ? pkt : NULL) < 0 && i < n)
            continue; /* a broken access unit: later ones may still decode */
        av_packet_unref(pkt);
        while (avcodec_receive_frame(dec, pic) == 0) {
            av_frame_unref(last);
            av_frame_move_ref(last, pic);
            has_last = true;
        }
    }
    if (has_last)
        rc = to_jpeg(last, quality, &aus[n - 1]->meta, out);
out:
    av_frame_free(&pic);
    av_frame_free(&last);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    return rc;
}
