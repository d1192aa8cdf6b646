/* input: a stream's inputs, one per producer (media_int.h, vg_stream_input_t).
 *
 * Each producer is handed its own input when it starts, and everything it sends goes through
 * it, so the stream never tells its producers apart by comparing pointers:
 *   - MAIN (the camera): counters, then the packet is normalized here on the source thread
 *     and queued for the loop, which keeps it in the packet lane, hands it to `source`
 *     viewers and, while some JPEG tier is wanted, to the media worker. Normalizing here keeps
 *     the loop's share to pointer moves: H.264/H.265 access units are copied once into a
 *     frame with headroom (so every viewer's send is one write from the shared bytes), the
 *     parameter sets are put in band on keyframes that lack them (cameras that send them only
 *     in the SDP), and the 32-byte wire header is written once.
 *   - SUB and FALLBACK: straight to their worker (lock-guarded pointer the loop sets).
 */
#include <string.h>

#include <libavcodec/codec_id.h>

#include "core/err.h"
#include "core/log.h"
#include "core/wire.h"
#include "media/media_int.h"

vg_frame_t vg__lane_gap_mark;

void vg__input_init(vg_stream_input_t *in, vg_stream_t *st, vg_input_kind_t kind)
{
    memset(in, 0, sizeof(*in));
    in->st = st;
    in->kind = kind;
    uv_mutex_init(&in->lock);
    if (kind == VG_INPUT_MAIN)
        in->lane_queue = vg_queue_new(VG_INPUT_QUEUE);
}

static void drop_queued(void *item)
{
    vg_frame_t *f = item;
    if (f != &vg__lane_gap_mark)
        vg_frame_unref(&f);
}

void vg__input_destroy(vg_stream_input_t *in)
{
    if (in->lane_queue)
        vg_queue_free(&in->lane_queue, drop_queued);
    uv_mutex_destroy(&in->lock);
}

vg_stream_t *vg_stream_input_stream(const vg_stream_input_t *in) { return in->st; }

void vg__input_set_worker(vg_stream_input_t *in, struct vg_worker *w)
{
    uv_mutex_lock(&in->lock);
    in->worker = w;
    uv_mutex_unlock(&in->lock);
}

/* The parameter sets changed: the copy prepended to keyframes and the picture size. */
static void params_changed(vg_stream_input_t *in)
{
    in->ps_annexb_len = 0;
    if (!vg_h26x_params_complete(&in->params))
        return;
    int n = vg_h26x_params_annexb(&in->params, in->ps_annexb, sizeof(in->ps_annexb));
    in->ps_annexb_len = n > 0 ? n : 0;
    int w, h;
    if (vg_h26x_picture_size(&in->params, &w, &h) == 0) {
        in->width = w;
        in->height = h;
    }
}

static vg_codec_t codec_of(int av_codec_id)
{
    return av_codec_id == AV_CODEC_ID_H264   ? VG_CODEC_H264
           : av_codec_id == AV_CODEC_ID_HEVC ? VG_CODEC_H265
                                             : VG_CODEC_NONE;
}

void vg__input_take_info(vg_stream_input_t *in, const vg_stream_info_t *info)
{
    vg_codec_t codec = codec_of(info->codec_id);
    memset(&in->params, 0, sizeof(in->params));
    in->params.codec = codec;
    in->ps_annexb_len = 0;
    in->width = info->width;
    in->height = info->height;
    /* An RTSP camera's SDP parameter sets arrive as Annex B extradata; MP4-style (avcC)
     * extradata is left to the in-band copies the source's bitstream filter puts back. */
    if (codec != VG_CODEC_NONE && info->extradata_len > 0 &&
        vg_h26x_is_annexb(info->extradata, info->extradata_len) &&
        vg_h26x_params_update(&in->params, info->extradata, info->extradata_len) > 0)
        params_changed(in);
}

vg_frame_t *vg__input_normalize(vg_stream_input_t *in, vg_frame_t *pkt)
{
    vg_codec_t codec = pkt->meta.codec;
    if (codec != VG_CODEC_H264 && codec != VG_CODEC_H265)
        return pkt;
    if (!vg_h26x_is_annexb(pkt->data, pkt->len)) {
        /* Sources hand over Annex B (av_source converts MP4-style input); anything else
         * would reach viewers as garbage. */
        vg_frame_unref(&pkt);
        return NULL;
    }
    if (in->params.codec != codec) {
        memset(&in->params, 0, sizeof(in->params));
        in->params.codec = codec;
        in->ps_annexb_len = 0;
    }
    if (vg_h26x_params_update(&in->params, pkt->data, pkt->len) > 0)
        params_changed(in);
    bool is_key = vg_h26x_has_keyframe(codec, pkt->data, pkt->len);
    size_t ps_len = is_key && in->ps_annexb_len > 0 && !vg_h26x_has_sps(codec, pkt->data, pkt->len)
                        ? (size_t)in->ps_annexb_len
                        : 0;
    vg_frame_t *f = vg_frame_new(ps_len + pkt->len);
    memcpy(f->data, in->ps_annexb, ps_len);
    memcpy(f->data + ps_len, pkt->data, pkt->len);
    f->len = ps_len + pkt->len;
    f->meta = pkt->meta;
    f->meta.is_key = is_key;
    f->meta.seq = ++in->seq;
    f->meta.width = in->width;
    f->meta.height = in->height;
    f->meta.tier = -1;
    vg_wire_put_header(f->data - VG_WIRE_HDR_LEN, &f->meta);
    vg_frame_unref(&pkt);
    return f;
}

void vg_stream_set_info(vg_stream_input_t *in, const vg_stream_info_t *info)
{
    if (in->kind == VG_INPUT_FALLBACK)
        return; /* snapshots describe themselves */
    vg__stream_keep_info(in->st, in->kind == VG_INPUT_SUB, info);
    if (in->kind == VG_INPUT_MAIN)
        vg__input_take_info(in, info);
}

/* An AAC frame of the main input: queued for the loop as it came (the AVPacket's bytes, not
 * copied: outputs repackage audio, none sends it as it is). A full queue drops it alone; the
 * video lane has no gap for it. */
static void push_audio(vg_stream_input_t *in, vg_frame_t *pkt)
{
    pkt->meta.tier = -1;
    size_t len = pkt->len;
    bool is_dropped = vg_queue_push(in->lane_queue, pkt) < 0;
    if (is_dropped)
        vg_frame_unref(&pkt);
    vg__stream_input_audio(in->st, len, is_dropped);
    if (!is_dropped)
        vg__stream_wake(in->st);
}

void vg_stream_push_packet(vg_stream_input_t *in, vg_frame_t *pkt)
{
    if (pkt->meta.codec == VG_CODEC_AAC) {
        if (in->kind == VG_INPUT_MAIN)
            push_audio(in, pkt);
        else
            vg_frame_unref(&pkt); /* a substream's audio: the main stream's is the one */
        return;
    }
    if (in->kind != VG_INPUT_MAIN) {
        if (in->kind == VG_INPUT_SUB)
            vg__stream_input_packet(in->st, in->kind, pkt->len, pkt->meta.is_damaged);
        uv_mutex_lock(&in->lock);
        vg__worker_push(in->worker, pkt); /* NULL worker: dropped */
        uv_mutex_unlock(&in->lock);
        return;
    }
    vg__stream_input_packet(in->st, in->kind, pkt->len, pkt->meta.is_damaged);
    vg_frame_t *f = vg__input_normalize(in, pkt);
    if (f == NULL)
        return;
    if (in->has_pending_gap) {
        if (vg_queue_push(in->lane_queue, &vg__lane_gap_mark) < 0) {
            vg_frame_unref(&f);
            return;
        }
        in->has_pending_gap = false;
    }
    if (vg_queue_push(in->lane_queue, f) < 0) {
        in->has_pending_gap = true;
        vg_frame_unref(&f);
        return;
    }
    vg__stream_wake(in->st);
}

void vg_stream_input_lost(vg_stream_input_t *in)
{
    if (in->kind == VG_INPUT_MAIN)
        in->has_pending_gap = true; /* marked in the lane before the next access unit */
}

void vg_stream_source_ended(vg_stream_input_t *in, int status)
{
    if (in->kind != VG_INPUT_FALLBACK) /* the snapshot poller never gives up on its own */
        vg__stream_input_ended(in->st, in->kind, status);
}
