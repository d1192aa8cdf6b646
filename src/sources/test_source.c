/* test_source: the built-in test camera (test://). See docs/test-camera.md.
 *
 * On its source thread it draws a picture (test_pattern) at the configured rate, on an
 * absolute monotonic schedule so the rate does not drift, and encodes it to H.264 with libx264
 * through libavcodec (ultrafast, zerolatency: one packet out per picture in, no reordering),
 * so downstream sees exactly what a real camera would send. capture_us is the wall-clock time
 * the picture was drawn (and is drawn into it); ingest_us is when its packet came out of the
 * encoder. It runs only while its stream has consumers (the hub starts and stops it).
 */
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "sources/source.h"
#include "sources/test_pattern.h"

typedef struct test_params {
    int width, height, fps, gop, bitrate_kbps;
    vg_pattern_kind_t pattern;
} test_params_t;

typedef struct test_source {
    test_params_t p;
    vg_pattern_t *pattern;
    AVCodecContext *enc;
    AVFrame *pic;
    int64_t start_mono_us;
    uint64_t frame_no;
} test_source_t;

static int parse_param(const char *query, const char *name, long long min, long long max,
                       int *out, char *err, size_t err_len)
{
    char buf[32];
    long long v;
    int rc = vg_query_get(query, name, buf, sizeof(buf));
    if (rc == VG_ENOENT)
        return 0;
    if (rc < 0 || vg_parse_int(buf, min, max, &v) < 0) {
        snprintf(err, err_len, "test camera: %s must be an integer in %lld..%lld", name, min,
                 max);
        return VG_EURL;
    }
    *out = (int)v;
    return 0;
}

static int parse_url(const char *url, test_params_t *p, char *err, size_t err_len)
{
    *p = (test_params_t){.width = 1280, .height = 720, .fps = 30, .pattern = VG_PATTERN_LIGHT};
    const char *q = strchr(url, '?');
    q = q ? q + 1 : "";
    static const char *const known[] = {"width", "height", "fps", "gop", "bitrate", "pattern"};
    /* Reject unknown parameters: a typo should not silently give a default camera. */
    for (const char *s = q; *s;) {
        const char *eq = strchr(s, '='), *amp = strchr(s, '&');
        size_t n = eq && (!amp || eq < amp) ? (size_t)(eq - s) : (amp ? (size_t)(amp - s)
                                                                       : strlen(s));
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strlen(known[i]) == n && strncmp(known[i], s, n) == 0;
        if (!ok && n > 0) {
            snprintf(err, err_len, "test camera: unknown parameter '%.*s'", (int)n, s);
            return VG_EURL;
        }
        if (!amp)
            break;
        s = amp + 1;
    }
    int rc;
    if ((rc = parse_param(q, "width", 64, 3840, &p->width, err, err_len)) < 0 ||
        (rc = parse_param(q, "height", 64, 2160, &p->height, err, err_len)) < 0 ||
        (rc = parse_param(q, "fps", 1, 60, &p->fps, err, err_len)) < 0 ||
        (rc = parse_param(q, "gop", 1, 600, &p->gop, err, err_len)) < 0 ||
        (rc = parse_param(q, "bitrate", 0, 100000, &p->bitrate_kbps, err, err_len)) < 0)
        return rc;
    if (p->width % 2 || p->height % 2) {
        snprintf(err, err_len, "test camera: width and height must be even");
        return VG_EURL;
    }
    if (p->gop == 0)
        p->gop = 2 * p->fps;
    char pat[16];
    rc = vg_query_get(q, "pattern", pat, sizeof(pat));
    if (rc >= 0) {
        if (strcmp(pat, "detailed") == 0) {
            p->pattern = VG_PATTERN_DETAILED;
        } else if (strcmp(pat, "light") != 0) {
            snprintf(err, err_len, "test camera: pattern must be light or detailed");
            return VG_EURL;
        }
    } else if (rc != VG_ENOENT) {
        snprintf(err, err_len, "test camera: bad pattern");
        return VG_EURL;
    }
    return 0;
}

static int test_probe(const char *url, int *width, int *height, int *fps, char *err,
                      size_t err_len)
{
    test_params_t p;
    int rc = parse_url(url, &p, err, err_len);
    if (rc < 0)
        return rc;
    *width = p.width;
    *height = p.height;
    *fps = p.fps;
    return 0;
}

static void test_close(vg_source_t *src)
{
    test_source_t *ts = vg_source_priv(src);
    if (ts == NULL)
        return;
    vg_pattern_free(&ts->pattern);
    avcodec_free_context(&ts->enc);
    av_frame_free(&ts->pic);
    free(ts);
    vg_source_set_priv(src, NULL);
}

static int test_open(vg_source_t *src)
{
    char err[128];
    test_source_t *ts = vg_xcalloc(1, sizeof(*ts));
    vg_source_set_priv(src, ts);
    int rc = parse_url(vg_source_url(src), &ts->p, err, sizeof(err));
    if (rc < 0)
        goto fail;
    rc = vg_pattern_new(&ts->pattern, ts->p.width, ts->p.height, ts->p.pattern);
    if (rc < 0)
        goto fail;
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (codec == NULL) {
        VG_LOG_ERROR(vg_source_log_ctx(src), "FFmpeg was built without libx264");
        rc = VG_ECODEC;
        goto fail;
    }
    AVCodecContext *enc = ts->enc = avcodec_alloc_context3(codec);
    enc->width = ts->p.width;
    enc->height = ts->p.height;
    enc->time_base = (AVRational){1, ts->p.fps};
    enc->framerate = (AVRational){ts->p.fps, 1};
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->color_range = AVCOL_RANGE_JPEG; /* full range, like most IP cameras' JPEG-friendly output */
    enc->gop_size = ts->p.gop;
    enc->max_b_frames = 0;
    enc->thread_count = 1;
    if (ts->p.bitrate_kbps > 0)
        enc->bit_rate = (int64_t)ts->p.bitrate_kbps * 1000;
    av_opt_set(enc->priv_data, "preset", "ultrafast", 0);
    av_opt_set(enc->priv_data, "tune", "zerolatency", 0);
    if (ts->p.bitrate_kbps == 0)
        av_opt_set(enc->priv_data, "crf", "23", 0);
    if (avcodec_open2(enc, codec, NULL) < 0) {
        rc = VG_ECODEC;
        goto fail;
    }
    ts->pic = av_frame_alloc();
    ts->pic->format = AV_PIX_FMT_YUV420P;
    ts->pic->width = ts->p.width;
    ts->pic->height = ts->p.height;
    ts->pic->color_range = AVCOL_RANGE_JPEG;
    if (av_frame_get_buffer(ts->pic, 32) < 0) {
        rc = VG_ENOMEM;
        goto fail;
    }
    ts->start_mono_us = vg_mono_us();
    VG_LOG_INFO(vg_source_log_ctx(src), "test camera %dx%d@%d gop %d (%s)", ts->p.width,
                ts->p.height, ts->p.fps, ts->p.gop,
                ts->p.pattern == VG_PATTERN_DETAILED ? "detailed" : "light");
    return 0;
fail:
    if (rc == VG_EURL)
        VG_LOG_ERROR(vg_source_log_ctx(src), "%s", err);
    test_close(src);
    return rc;
}

static int test_read(vg_source_t *src, vg_frame_t **out)
{
    test_source_t *ts = vg_source_priv(src);
    int64_t interval = 1000000 / ts->p.fps;
    int64_t due = ts->start_mono_us + (int64_t)ts->frame_no * interval;
    if (vg_mono_us() - due > 10 * interval) {
        /* We fell far behind (machine overloaded): skip ahead instead of bursting. */
        ts->frame_no = (uint64_t)((vg_mono_us() - ts->start_mono_us) / interval);
        due = ts->start_mono_us + (int64_t)ts->frame_no * interval;
    }
    if (!vg_source_sleep_until(src, due))
        return VG_ECLOSED;
    if (av_frame_make_writable(ts->pic) < 0)
        return VG_ENOMEM;
    int64_t capture_us = vg_wall_us();
    vg_pattern_draw(ts->pattern, ts->pic->data, ts->pic->linesize, ts->frame_no, capture_us);
    ts->pic->pts = (int64_t)ts->frame_no;
    ts->frame_no++;
    if (avcodec_send_frame(ts->enc, ts->pic) < 0)
        return VG_ECODEC;
    AVPacket *pkt = av_packet_alloc();
    int rc = avcodec_receive_packet(ts->enc, pkt);
    if (rc == AVERROR(EAGAIN)) {
        av_packet_free(&pkt);
        return VG_EAGAIN;
    }
    if (rc < 0) {
        av_packet_free(&pkt);
        return VG_ECODEC;
    }
    vg_frame_t *f = vg_frame_wrap(pkt->data, (size_t)pkt->size, vg_source_packet_release, pkt);
    f->meta.codec = VG_CODEC_H264;
    f->meta.is_key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    f->meta.seq = (uint32_t)ts->frame_no;
    f->meta.width = ts->p.width;
    f->meta.height = ts->p.height;
    f->meta.capture_us = capture_us;
    f->meta.ingest_us = vg_wall_us();
    *out = f;
    return 0;
}

const vg_source_ops_t vg_source_test_ops = {
    .name = "test",
    .scheme = "test",
    .probe = test_probe,
    .open = test_open,
    .read = test_read,
    .interrupt = NULL, /* reads only sleep, in steps that check the stop flag */
    .close = test_close,
};
