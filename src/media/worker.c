#define _GNU_SOURCE /* pthread_setname_np */
/* worker: one thread per running stream that decodes its packets (libavcodec), scales each
 * picture once per needed resolution (libswscale) and JPEG-encodes it straight from the YUV
 * planes (libjpeg-turbo), only for tiers some consumer wants, each at its own frame rate.
 * An H.264 tier gets an encoder of its own instead (libx264 through libavcodec): constrained
 * baseline, no lookahead or B-frames (a picture in, its access unit out), parameter sets in
 * band on every keyframe, and a keyframe whenever a consumer needs one (keys_wanted).
 *
 * Threads: vg__worker_start/stop on the loop; vg__worker_push on the source thread; the rest
 * on the worker's own thread, which owns the decoder, scalers and encoder. Stopping does not
 * wait: the thread drops what is queued, frees its codec state, posts its exit to the hub,
 * and worker_reap joins it and frees the rest on the loop (vg_thread_exit_t in stream.h). The packet queue
 * is the only thing shared; it is bounded, and when the worker falls behind, packets are
 * dropped and decoding resumes at the next keyframe (latest wins, never growing delay).
 */
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "core/queue.h"
#include "core/util.h"
#include "core/wire.h"
#include "media/media_int.h"
#include "media/range.h"
#include "media/scaler.h"

#define WORKER_QUEUE_PACKETS 64
#define TS_RING 32
#define H264_ENCODER "libx264"
/* Keyframes at least this often (seconds): a viewer that lost access units asks for one at
 * once; this bounds what a viewer that cannot ask (a gap it did not see) waits. */
#define H264_GOP_S 4
/* The VBV buffer, as seconds of the tier's bitrate cap: a keyframe is at most about this
 * much of the link's time, so it does not stand as a queue on a link the rung fits. */
#define H264_VBV_S 0.5
/* Quality where the cap leaves room: a still scene costs far less than the cap. */
#define H264_CRF "23"

const int64_t vg_encode_hist_bounds_us[VG_ENCODE_HIST_BUCKETS - 1] = {
    1000, 2000, 5000, 10000, 20000, 50000, 100000,
};

typedef struct tier_state {
    vg_scaler_t *scaler;     /* made on the tier's first picture that needs one */
    AVFrame *scaled;         /* the tier's picture when it differs from the decoded one */
    uint64_t scaled_pic;     /* the picture number scaled holds */
    int64_t next_due_us;     /* capture time from which the next picture is encoded */
    uint32_t seq;
    /* H.264 tiers */
    AVCodecContext *enc;     /* opened for the tier's size on its first picture */
    AVFrame *enc_in;         /* a reference to the picture, with the encoder's fields */
    int64_t last_pts;        /* pts must rise strictly, whatever the camera's clock does */
    bool needs_key;          /* the tier was not encoded for a while: start at a keyframe */
    bool is_enc_failed;      /* logged once; nothing is encoded for the tier */
} tier_state_t;

struct vg_worker {
    vg_worker_cfg_t cfg;
    char log_ctx[96];
    pthread_t thread;
    vg_queue_t *packets;
    atomic_bool is_behind; /* any: set by the pusher when it dropped; worker resyncs */
    atomic_bool is_stopping; /* any: atomic; set by stop, queued packets are dropped */
    vg_thread_exit_t exit;   /* posted by the thread as its last act */

    /* worker thread only: */
    AVCodecContext *dec;
    AVPacket *pkt;
    AVPacket *enc_pkt;
    AVFrame *pic;
    tjhandle tj;
    uint8_t *jpeg_buf;
    unsigned long jpeg_cap;
    bool wait_key;
    bool is_replaying; /* decoding the primer (cfg.prime): pictures are not encoded */
    uint64_t pic_no;   /* decoded pictures so far: tells whose scaled copy is current */
    tier_state_t tiers[VG_TIER_MAX];
    struct {
        int64_t capture_us, ingest_us;
    } ts_ring[TS_RING];
    unsigned ts_next;
};

static void drop_packet(void *item)
{
    vg_frame_t *f = item;
    vg_frame_unref(&f);
}

void vg__worker_push(vg_worker_t *w, vg_frame_t *pkt)
{
    if (w == NULL || vg_queue_push(w->packets, pkt) < 0) {
        if (w) {
            atomic_store(&w->is_behind, true);
            atomic_fetch_add_explicit(&w->cfg.counters->packets_dropped, 1,
                                      memory_order_relaxed);
        }
        vg_frame_unref(&pkt);
    }
}

static enum AVCodecID codec_id(vg_codec_t c)
{
    switch (c) {
    case VG_CODEC_H264: return AV_CODEC_ID_H264;
    case VG_CODEC_H265: return AV_CODEC_ID_HEVC;
    case VG_CODEC_JPEG: return AV_CODEC_ID_MJPEG;
    default: return AV_CODEC_ID_NONE;
    }
}

static int open_decoder(vg_worker_t *w, vg_codec_t codec)
{
    int info_codec;
    uint8_t *extradata;
    size_t extradata_len;
    bool has_reordering;
    bool has_info = vg__stream_get_info(w->cfg.stream, w->cfg.is_sub, &info_codec, &extradata,
                                        &extradata_len, &has_reordering);
    enum AVCodecID id = codec_id(codec);
    if (!has_info || (enum AVCodecID)info_codec != id) { /* e.g. fallback JPEGs */
        av_freep(&extradata);
        extradata_len = 0;
        has_reordering = false;
    }
    const AVCodec *dc = avcodec_find_decoder(id);
    if (dc == NULL) {
        av_free(extradata);
        return VG_ECODEC;
    }
    w->dec = avcodec_alloc_context3(dc);
    /* Cameras often send H.264 parameter sets only in the SDP: the decoder needs them. */
    w->dec->extradata = extradata;
    w->dec->extradata_size = (int)extradata_len;
    /* One thread, low delay: frame threading would add a frame of latency per thread
     * (PERFORMANCE.md), and the worker already runs beside the loop and the source. */
    w->dec->thread_count = 1;
    /* Cameras send no B-frames; files may, and then the decoder must reorder. */
    if (!has_reordering)
        w->dec->flags |= AV_CODEC_FLAG_LOW_DELAY;
    w->dec->pkt_timebase = (AVRational){1, 1000000};
    if (avcodec_open2(w->dec, dc, NULL) < 0) {
        avcodec_free_context(&w->dec);
        return VG_ECODEC;
    }
    return 0;
}

/* The tier's own picture buffer, (re)made at width x height. NULL when out of memory. */
static AVFrame *tier_buffer(tier_state_t *ts, int width, int height)
{
    if (ts->scaled && ts->scaled->width == width && ts->scaled->height == height)
        return ts->scaled;
    av_frame_free(&ts->scaled);
    ts->scaled = av_frame_alloc();
    if (ts->scaled == NULL)
        return NULL;
    ts->scaled->format = AV_PIX_FMT_YUV420P; /* what it holds once ready: full range */
    ts->scaled->color_range = AVCOL_RANGE_JPEG;
    ts->scaled->width = width;
    ts->scaled->height = height;
    if (av_frame_get_buffer(ts->scaled, 32) < 0)
        av_frame_free(&ts->scaled);
    return ts->scaled;
}

/* The picture for tier t: the decoded one when it fits as is, else a scaled and/or
 * range-expanded copy in the tier's buffer, made once per size per picture: tiers of one
 * resolution class share it.
 *
 * JPEG wants full range. Limited-range 4:2:0 (what H.264 cameras send) goes through the
 * range pass (range.h) into the tier's buffer, never in place: the decoded picture belongs
 * to libavcodec and may be a reference for the next ones. When the tier is smaller, swscale
 * scales in limited range and the pass then runs in place on the smaller copy: at 720p in,
 * that costs 0.53 ms against 0.99 ms for swscale doing the range while scaling to 568x320,
 * and 0.57 against 1.24 ms to 854x480; at the same size the pass costs 0.09 ms against
 * swscale's 1.83 ms, with the same bytes out (bench/picture_lane.sh, docs/benchmarks.md).
 * Anything else (4:2:2 MJPEG, full range to scale) stays with swscale (scaler.h), to full
 * range. */
static const AVFrame *tier_picture(vg_worker_t *w, int t)
{
    AVFrame *src = w->pic;
    int width, height;
    vg_tier_resolve(&w->cfg.tiers[t], src->width, src->height, &width, &height);
    bool is_same_size = src->width == width && src->height == height;
    bool is_420 = src->format == AV_PIX_FMT_YUV420P || src->format == AV_PIX_FMT_YUVJ420P;
    bool is_full = vg_scaler_is_full_range(src);
    if (is_same_size && is_420 && is_full)
        return src;
    for (int o = 0; o < t; o++) {
        const tier_state_t *other = &w->tiers[o];
        if (other->scaled_pic == w->pic_no && other->scaled &&
            other->scaled->width == width && other->scaled->height == height)
            return other->scaled;
    }
    tier_state_t *ts = &w->tiers[t];
    AVFrame *dst = tier_buffer(ts, width, height);
    if (dst == NULL)
        return NULL;
    bool is_limited_420 = is_420 && !is_full;
    int64_t t0 = vg_mono_us();
    if (is_limited_420 && is_same_size) {
        vg_range_expand_420(dst->data, dst->linesize, (const uint8_t *const *)src->data,
                            src->linesize, width, height);
    } else {
        /* 4:2:0 scales with its levels kept: limited then gets the pass, full stays full.
         * The rest swscale brings to full range as it scales. */
        if (ts->scaler == NULL && (ts->scaler = vg_scaler_new()) == NULL)
            return NULL;
        if (vg_scaler_scale(ts->scaler, src, dst->data, dst->linesize, width, height,
                            !is_420) < 0)
            return NULL;
        if (is_limited_420)
            vg_range_expand_420(dst->data, dst->linesize, (const uint8_t *const *)dst->data,
                                dst->linesize, width, height);
    }
    atomic_fetch_add_explicit(&w->cfg.counters->tier[t].scale_us, (uint64_t)(vg_mono_us() - t0),
                              memory_order_relaxed);
    ts->scaled_pic = w->pic_no;
    return dst;
}

static void count_encoded(vg_worker_t *w, int t, int64_t took_us, size_t len)
{
    int bucket = 0;
    while (bucket < VG_ENCODE_HIST_BUCKETS - 1 && took_us > vg_encode_hist_bounds_us[bucket])
        bucket++;
    vg_tier_counters_t *c = &w->cfg.counters->tier[t];
    atomic_fetch_add_explicit(&c->encoded, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->encode_us, (uint64_t)took_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->bytes, len, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->encode_hist[bucket], 1, memory_order_relaxed);
}

static void encode_tier(vg_worker_t *w, int t, int64_t capture_us, int64_t ingest_us)
{
    const vg_tier_t *tier = &w->cfg.tiers[t];
    const AVFrame *p = tier_picture(w, t);
    if (p == NULL) {
        VG_LOG_WARN(w->log_ctx, "cannot scale to tier %s", tier->name);
        return;
    }
    unsigned long need = tjBufSize(p->width, p->height, TJSAMP_420);
    if (need > w->jpeg_cap) {
        tjFree(w->jpeg_buf);
        w->jpeg_buf = tjAlloc((int)need);
        w->jpeg_cap = need;
    }
    unsigned char *out = w->jpeg_buf;
    unsigned long len = w->jpeg_cap;
    int64_t t0 = vg_mono_us();
    const unsigned char *planes[3] = {p->data[0], p->data[1], p->data[2]};
    int strides[3] = {p->linesize[0], p->linesize[1], p->linesize[2]};
    if (tjCompressFromYUVPlanes(w->tj, planes, p->width, strides, p->height, TJSAMP_420, &out,
                                &len, tier->quality, TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0) {
        VG_LOG_WARN(w->log_ctx, "JPEG encode failed: %s", tjGetErrorStr2(w->tj));
        return;
    }
    /* One copy into an exactly-sized frame: the scratch buffer is worst-case sized. */
    vg_frame_t *f = vg_frame_new(len);
    memcpy(f->data, out, len);
    f->len = len;
    f->meta = (vg_frame_meta_t){
        .codec = VG_CODEC_JPEG,
        .is_key = true,
        .seq = ++w->tiers[t].seq,
        .width = p->width,
        .height = p->height,
        .capture_us = capture_us,
        .ingest_us = ingest_us,
        .tier = t,
    };
    vg_wire_put_header(f->data - VG_WIRE_HDR_LEN, &f->meta);
    count_encoded(w, t, vg_mono_us() - t0, len);
    vg__stream_publish(w->cfg.stream, w->cfg.is_sub, w->cfg.gen, t, f);
}

bool vg__worker_can_encode_h264(void)
{
    return avcodec_find_encoder_by_name(H264_ENCODER) != NULL;
}

static int open_h264(tier_state_t *ts, const vg_tier_t *tier, int width, int height)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(H264_ENCODER);
    if (codec == NULL)
        return VG_ECODEC;
    AVCodecContext *enc = avcodec_alloc_context3(codec);
    if (enc == NULL)
        return VG_ENOMEM;
    enc->width = width;
    enc->height = height;
    /* The tier's picture is full-range 4:2:0 (made for JPEG): said in the VUI, not converted */
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->color_range = AVCOL_RANGE_JPEG;
    enc->time_base = (AVRational){1, 1000000}; /* pts are capture times */
    enc->framerate = (AVRational){tier->fps, 1}; /* what rate control plans for */
    enc->rc_max_rate = (int64_t)tier->kbps * 1000;
    enc->rc_buffer_size = (int)(enc->rc_max_rate * H264_VBV_S);
    enc->gop_size = tier->fps * H264_GOP_S;
    enc->max_b_frames = 0;
    enc->thread_count = 1; /* 320 lines encode in about a millisecond; the worker is one thread */
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "preset", "veryfast", 0);
    av_dict_set(&opts, "tune", "zerolatency", 0);
    av_dict_set(&opts, "profile", "baseline", 0); /* what every WebCodecs decoder takes */
    av_dict_set(&opts, "crf", H264_CRF, 0);
    av_dict_set(&opts, "forced-idr", "1", 0); /* a requested keyframe is an IDR: a new
                                                  viewer's decoder starts there */
    int rc = avcodec_open2(enc, codec, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
        avcodec_free_context(&enc);
        return VG_ECODEC;
    }
    ts->enc = enc;
    ts->needs_key = true;
    return 0;
}

/* Encodes tier t's picture as H.264 and publishes what comes out (one access unit: the
 * encoder has no lookahead). */
static void encode_h264(vg_worker_t *w, int t, int64_t capture_us, int64_t ingest_us)
{
    const vg_tier_t *tier = &w->cfg.tiers[t];
    tier_state_t *ts = &w->tiers[t];
    if (ts->is_enc_failed)
        return;
    const AVFrame *p = tier_picture(w, t);
    if (p == NULL) {
        VG_LOG_WARN(w->log_ctx, "cannot scale to tier %s", tier->name);
        return;
    }
    if (ts->enc && (ts->enc->width != p->width || ts->enc->height != p->height))
        avcodec_free_context(&ts->enc); /* another picture size: a new stream */
    if (ts->enc == NULL && open_h264(ts, tier, p->width, p->height) < 0) {
        VG_LOG_ERROR(w->log_ctx, "tier %s: no H.264 encoder (%s); the tier stays empty",
                     tier->name, H264_ENCODER);
        ts->is_enc_failed = true;
        return;
    }
    if (ts->enc_in == NULL && (ts->enc_in = av_frame_alloc()) == NULL)
        return;
    unsigned bit = 1u << t;
    bool is_key_wanted = (atomic_fetch_and(w->cfg.keys_wanted, ~bit) & bit) != 0;
    int64_t t0 = vg_mono_us();
    AVFrame *in = ts->enc_in;
    if (av_frame_ref(in, p) < 0)
        return;
    in->format = AV_PIX_FMT_YUV420P; /* yuvj420p's layout */
    in->color_range = AVCOL_RANGE_JPEG;
    in->pts = capture_us > ts->last_pts ? capture_us : ts->last_pts + 1;
    ts->last_pts = in->pts;
    in->pict_type = ts->needs_key || is_key_wanted ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    ts->needs_key = false;
    /* libx264 copies the picture in this call: the tier's buffer is free again after it */
    int rc = avcodec_send_frame(ts->enc, in);
    av_frame_unref(in);
    if (rc < 0) {
        VG_LOG_WARN(w->log_ctx, "tier %s: H.264 encode failed (%d)", tier->name, rc);
        ts->needs_key = true;
        return;
    }
    while (avcodec_receive_packet(ts->enc, w->enc_pkt) == 0) {
        vg_frame_t *f = vg_frame_new((size_t)w->enc_pkt->size);
        memcpy(f->data, w->enc_pkt->data, (size_t)w->enc_pkt->size);
        f->len = (size_t)w->enc_pkt->size;
        f->meta = (vg_frame_meta_t){
            .codec = VG_CODEC_H264,
            .is_key = (w->enc_pkt->flags & AV_PKT_FLAG_KEY) != 0,
            .seq = ++ts->seq,
            .width = p->width,
            .height = p->height,
            .capture_us = capture_us,
            .ingest_us = ingest_us,
            .tier = t,
        };
        av_packet_unref(w->enc_pkt);
        vg_wire_put_header(f->data - VG_WIRE_HDR_LEN, &f->meta);
        count_encoded(w, t, vg_mono_us() - t0, f->len);
        vg__stream_publish(w->cfg.stream, w->cfg.is_sub, w->cfg.gen, t, f);
    }
}

/* Whether tier t is due for a picture captured at capture_us, advancing its schedule.
 * The schedule accumulates (next += interval) so a 25 fps tier of a 30 fps camera really
 * gets 25 pictures a second; 2 ms of slack absorbs capture jitter. */
static bool tier_due(vg_worker_t *w, int t, int64_t capture_us)
{
    tier_state_t *ts = &w->tiers[t];
    int64_t interval = 1000000 / w->cfg.tiers[t].fps;
    if (ts->next_due_us == 0 || capture_us - ts->next_due_us > interval ||
        ts->next_due_us - capture_us > 2 * interval) {
        ts->next_due_us = capture_us + interval; /* first picture, or resync after a gap */
        return true;
    }
    if (capture_us + 2000 < ts->next_due_us)
        return false;
    ts->next_due_us += interval;
    return true;
}

static void handle_picture(vg_worker_t *w)
{
    if (w->is_replaying)
        return;
    int64_t capture_us = w->pic->best_effort_timestamp;
    int64_t ingest_us = capture_us;
    for (unsigned i = 0; i < TS_RING; i++) {
        if (w->ts_ring[i].capture_us == capture_us) {
            ingest_us = w->ts_ring[i].ingest_us;
            break;
        }
    }
    unsigned needed = atomic_load(w->cfg.tiers_needed);
    for (int t = 0; t < w->cfg.tier_count; t++) {
        if (!(needed & (1u << t))) {
            w->tiers[t].next_due_us = 0;
            w->tiers[t].needs_key = true; /* its viewers left: the next ones start afresh */
            continue;
        }
        if (!tier_due(w, t, capture_us))
            continue;
        if (w->cfg.tiers[t].codec == VG_CODEC_H264)
            encode_h264(w, t, capture_us, ingest_us);
        else
            encode_tier(w, t, capture_us, ingest_us);
    }
}

static void decode_one(vg_worker_t *w, vg_frame_t *f);

static void decode_packet(vg_worker_t *w, vg_frame_t *f)
{
    if (atomic_exchange(&w->is_behind, false))
        w->wait_key = true; /* packets were dropped: nothing decodes until a keyframe */
    decode_one(w, f);
}

/* The packet lane's GOP cache, handed over at start: decoded to bring the decoder up to the
 * present, and only the last picture encoded. */
static void decode_prime(vg_worker_t *w)
{
    for (size_t i = 0; i < w->cfg.prime_count; i++) {
        w->is_replaying = i + 1 < w->cfg.prime_count;
        if (!atomic_load(&w->is_stopping))
            decode_one(w, w->cfg.prime[i]);
        vg_frame_unref(&w->cfg.prime[i]);
    }
    w->is_replaying = false;
    free(w->cfg.prime);
    w->cfg.prime = NULL;
    w->cfg.prime_count = 0;
}

static void decode_one(vg_worker_t *w, vg_frame_t *f)
{
    if (w->wait_key && !f->meta.is_key)
        return;
    w->wait_key = false;
    int64_t t0 = vg_mono_us();
    if (w->dec && w->dec->codec_id != codec_id(f->meta.codec))
        avcodec_free_context(&w->dec); /* switching between video and snapshot pictures */
    if (w->dec == NULL && open_decoder(w, f->meta.codec) < 0) {
        VG_LOG_ERROR(w->log_ctx, "no decoder for codec %d", (int)f->meta.codec);
        w->wait_key = true;
        return;
    }
    w->ts_ring[w->ts_next % TS_RING].capture_us = f->meta.capture_us;
    w->ts_ring[w->ts_next % TS_RING].ingest_us = f->meta.ingest_us;
    w->ts_next++;
    /* The packet borrows the frame's bytes: avcodec copies what it keeps (no buf ref). */
    w->pkt->data = f->data;
    w->pkt->size = (int)f->len;
    w->pkt->pts = f->meta.capture_us;
    w->pkt->dts = AV_NOPTS_VALUE;
    w->pkt->flags = f->meta.is_key ? AV_PKT_FLAG_KEY : 0;
    int rc = avcodec_send_packet(w->dec, w->pkt);
    av_packet_unref(w->pkt);
    if (rc < 0 && rc != AVERROR(EAGAIN)) {
        VG_LOG_DEBUG(w->log_ctx, "decode error %d; waiting for a keyframe", rc);
        w->wait_key = true;
        return;
    }
    int pictures = 0;
    while (avcodec_receive_frame(w->dec, w->pic) == 0) {
        if (pictures++ == 0) /* decode time excludes the scaling and encoding below */
            atomic_fetch_add_explicit(&w->cfg.counters->decode_us, (uint64_t)(vg_mono_us() - t0),
                                      memory_order_relaxed);
        atomic_fetch_add_explicit(&w->cfg.counters->frames_decoded, 1, memory_order_relaxed);
        if (w->cfg.is_sub)
            atomic_fetch_add_explicit(&w->cfg.counters->sub_frames_decoded, 1,
                                      memory_order_relaxed);
        w->pic_no++;
        if (!w->cfg.is_sub) { /* the real size, for cameras that do not say it in advance */
            atomic_store_explicit(&w->cfg.counters->pic_width, w->pic->width,
                                  memory_order_relaxed);
            atomic_store_explicit(&w->cfg.counters->pic_height, w->pic->height,
                                  memory_order_relaxed);
        }
        handle_picture(w);
        av_frame_unref(w->pic);
    }
}

static void worker_release(vg_worker_t *w);

static void *worker_main(void *arg)
{
    vg_worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "vg-%s-%.8s", w->cfg.is_sub ? "msb" : "med", w->cfg.stream_id);
    pthread_setname_np(pthread_self(), name);
    decode_prime(w);
    for (;;) {
        void *item;
        int rc = vg_queue_pop(w->packets, &item, -1);
        if (rc == VG_ECLOSED)
            break;
        if (rc < 0)
            continue;
        vg_frame_t *f = item;
        if (!atomic_load(&w->is_stopping))
            decode_packet(w, f);
        vg_frame_unref(&f);
    }
    /* Freed here, not by the loop: the decoder, scalers and encoder are the bulk
     * of a worker, and freeing those of 30 workers stopped at once stalls the loop (issue 14;
     * with this, the loop's pass reaping 30 exits took 0.9 ms). */
    worker_release(w);
    vg_stream_post_exit(&w->exit); /* the last touch of w: the loop joins and frees it */
    return NULL;
}

/* What the thread works with; the thread's own last act, or worker_free's for a worker
 * whose thread never started. Leaves w reusable by worker_free. */
static void worker_release(vg_worker_t *w)
{
    for (size_t i = 0; i < w->cfg.prime_count; i++) /* a worker stopped before it primed */
        vg_frame_unref(&w->cfg.prime[i]);
    free(w->cfg.prime);
    w->cfg.prime = NULL;
    w->cfg.prime_count = 0;
    avcodec_free_context(&w->dec);
    av_packet_free(&w->pkt);
    av_packet_free(&w->enc_pkt);
    av_frame_free(&w->pic);
    for (int t = 0; t < VG_TIER_MAX; t++) {
        vg_scaler_free(w->tiers[t].scaler);
        w->tiers[t].scaler = NULL;
        av_frame_free(&w->tiers[t].scaled);
        avcodec_free_context(&w->tiers[t].enc);
        av_frame_free(&w->tiers[t].enc_in);
    }
    if (w->tj)
        tjDestroy(w->tj);
    w->tj = NULL;
    tjFree(w->jpeg_buf);
    w->jpeg_buf = NULL;
    w->jpeg_cap = 0;
}

static void worker_free(vg_worker_t *w)
{
    worker_release(w);
    vg_queue_free(&w->packets, drop_packet); /* empty once the thread has run to its end */
    free(w);
}

/* Loop thread, once the worker's thread has posted its exit: false while it has not
 * returned (the hub asks again; a join would block the loop). */
static bool worker_reap(vg_thread_exit_t *e)
{
    vg_worker_t *w = (vg_worker_t *)((char *)e - offsetof(vg_worker_t, exit));
    if (pthread_tryjoin_np(w->thread, NULL) == EBUSY)
        return false;
    worker_free(w);
    return true;
}

int vg__worker_start(vg_worker_t **out, const vg_worker_cfg_t *cfg)
{
    vg_worker_t *w = vg_xcalloc(1, sizeof(*w));
    w->cfg = *cfg;
    /* The primer's references are the worker's from here, in an array of its own. */
    w->cfg.prime = NULL;
    w->cfg.prime_count = 0;
    if (cfg->prime_count > 0) {
        w->cfg.prime = vg_xcalloc(cfg->prime_count, sizeof(*w->cfg.prime));
        memcpy(w->cfg.prime, cfg->prime, cfg->prime_count * sizeof(*w->cfg.prime));
        w->cfg.prime_count = cfg->prime_count;
    }
    snprintf(w->log_ctx, sizeof(w->log_ctx), "media: cam=%s", cfg->stream_id);
    w->packets = vg_queue_new(WORKER_QUEUE_PACKETS);
    w->pkt = av_packet_alloc();
    w->enc_pkt = av_packet_alloc();
    w->pic = av_frame_alloc();
    w->tj = tjInitCompress();
    w->wait_key = true;
    if (w->pkt == NULL || w->enc_pkt == NULL || w->pic == NULL || w->tj == NULL)
        goto fail;
    w->exit.st = cfg->stream;
    w->exit.log_ctx = w->log_ctx;
    w->exit.reap = worker_reap;
    if (vg_thread_start(&w->thread, worker_main, w) < 0)
        goto fail;
    vg_stream_thread_started(&w->exit);
    *out = w;
    return 0;
fail:
    worker_free(w);
    return VG_ENOMEM;
}

void vg__worker_stop(vg_worker_t **wp)
{
    vg_worker_t *w = *wp;
    if (w == NULL)
        return;
    *wp = NULL;
    atomic_store(&w->is_stopping, true);
    vg_queue_close(w->packets); /* wakes the thread; it exits once the queue is empty */
    vg_stream_thread_stopping(&w->exit);
}
