/* picture_lane: what vigil's picture lane costs per frame against its floor, side by side in
 * one run over one limited-range H.264 clip (issue 14, item 5).
 *
 *   picture_lane CLIP [QUALITY] [PPM_OUT]
 *
 * Each decoded picture goes through, one after the other:
 *   (a) decode only: libavcodec, one thread, low delay, as src/media/worker.c opens it;
 *   (b) vigil's path: the range pass (src/media/range.c) into a buffer of its own, then
 *       tjCompressFromYUVPlanes at QUALITY (default 75) with TJFLAG_FASTDCT;
 *   (c) the old path: libswscale yuv420p -> yuvj420p at the same size (SWS_BILINEAR, as the
 *       worker asked for it), then the same encode;
 *   (d) the floor: the same encode again from the full-range planes (b) made, as tjbench
 *       -yuv encodes from YUV planes already in memory;
 * and, for the scaled tiers (854x480 and 568x320, the default ladder of a 720p camera):
 *   (s1) swscale scaling and expanding the range in one call (yuvj420p out), against
 *   (s2) swscale scaling in limited range (yuv420p out), then the range pass;
 * and the range pass again through its plain C path (what a CPU without AVX2 runs).
 * Prints a table and one JSON line (bench/picture_lane.sh takes medians over runs). With
 * PPM_OUT, also writes the middle picture there (RGB, for tjbench).
 *
 * Timings are the thread's CPU time per step (CLOCK_THREAD_CPUTIME_ID), summed over the clip
 * and divided by the pictures. Also printed: the size of a JPEG of the limited-range planes
 * as they are (no conversion: washed-out, but what "remove it" would send). */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <turbojpeg.h>

#include "media/range.h"

/* The thread's CPU time, not the wall clock: the machines this runs on are shared, and a
 * step preempted halfway would otherwise count another process's time as its own. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct lane {
    tjhandle tj;
    unsigned char *jpeg;
    unsigned long cap;
    int quality;
} lane_t;

/* Returns the JPEG's size, or 0 on failure. */
static unsigned long encode(lane_t *l, const AVFrame *p)
{
    const unsigned char *planes[3] = {p->data[0], p->data[1], p->data[2]};
    int strides[3] = {p->linesize[0], p->linesize[1], p->linesize[2]};
    unsigned long len = l->cap;
    if (tjCompressFromYUVPlanes(l->tj, planes, p->width, strides, p->height, TJSAMP_420,
                                &l->jpeg, &len, l->quality,
                                TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0) {
        fprintf(stderr, "encode: %s\n", tjGetErrorStr2(l->tj));
        return 0;
    }
    return len;
}

static AVFrame *picture(int width, int height, enum AVPixelFormat fmt)
{
    AVFrame *f = av_frame_alloc();
    f->format = fmt;
    f->width = width;
    f->height = height;
    if (av_frame_get_buffer(f, 32) < 0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return f;
}

static void range_pass(AVFrame *dst, const AVFrame *src)
{
    vg_range_expand_420(dst->data, dst->linesize, (const uint8_t *const *)src->data,
                        src->linesize, src->width, src->height);
}

static void range_pass_portable(AVFrame *dst, const AVFrame *src)
{
    int cw = (src->width + 1) / 2, ch = (src->height + 1) / 2;
    vg_range_expand_plane(dst->data[0], dst->linesize[0], src->data[0], src->linesize[0],
                          src->width, src->height, VG_RANGE_LUMA, VG_RANGE_PORTABLE);
    for (int p = 1; p < 3; p++)
        vg_range_expand_plane(dst->data[p], dst->linesize[p], src->data[p], src->linesize[p],
                              cw, ch, VG_RANGE_CHROMA, VG_RANGE_PORTABLE);
}

static void write_ppm(const char *path, const AVFrame *full)
{
    struct SwsContext *s = sws_getContext(full->width, full->height, AV_PIX_FMT_YUVJ420P,
                                          full->width, full->height, AV_PIX_FMT_RGB24,
                                          SWS_BILINEAR, NULL, NULL, NULL);
    AVFrame *rgb = picture(full->width, full->height, AV_PIX_FMT_RGB24);
    sws_scale(s, (const uint8_t *const *)full->data, full->linesize, 0, full->height, rgb->data,
              rgb->linesize);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL) {
        perror(path);
        exit(1);
    }
    fprintf(fp, "P6\n%d %d\n255\n", rgb->width, rgb->height);
    for (int y = 0; y < rgb->height; y++)
        fwrite(rgb->data[0] + y * rgb->linesize[0], 3, (size_t)rgb->width, fp);
    fclose(fp);
    av_frame_free(&rgb);
    sws_freeContext(s);
}

enum { A_DECODE, B_PASS, B_ENCODE, C_SWS, C_ENCODE, D_ENCODE, S1_LOW, S2_LOW, S1_MED, S2_MED,
       PORTABLE_PASS, STEPS };
static const char *const step_names[STEPS] = {
    "decode", "range_pass", "encode_after_pass", "swscale_range", "encode_after_swscale",
    "encode_floor", "scale_range_568x320", "scale_then_pass_568x320", "scale_range_854x480",
    "scale_then_pass_854x480", "range_pass_portable",
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CLIP [QUALITY] [PPM_OUT]\n", argv[0]);
        return 2;
    }
    lane_t lane = {.tj = tjInitCompress(), .quality = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 75};
    const char *ppm = argc > 3 ? argv[3] : NULL;
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, argv[1], NULL, NULL) < 0 ||
        avformat_find_stream_info(fmt, NULL) < 0) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    int vs = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (vs < 0) {
        fprintf(stderr, "no video in %s\n", argv[1]);
        return 1;
    }
    const AVCodec *dc = avcodec_find_decoder(fmt->streams[vs]->codecpar->codec_id);
    AVCodecContext *dec = avcodec_alloc_context3(dc);
    avcodec_parameters_to_context(dec, fmt->streams[vs]->codecpar);
    dec->thread_count = 1; /* as the worker: one thread, low delay */
    dec->flags |= AV_CODEC_FLAG_LOW_DELAY;
    if (avcodec_open2(dec, dc, NULL) < 0) {
        fprintf(stderr, "cannot open the decoder\n");
        return 1;
    }
    AVPacket *pkt = av_packet_alloc();
    AVFrame *pic = av_frame_alloc();
    AVFrame *full = NULL, *old = NULL, *low = NULL, *med = NULL, *low2 = NULL, *med2 = NULL;
    struct SwsContext *sws_same = NULL, *sws_low1 = NULL, *sws_low2 = NULL, *sws_med1 = NULL,
                      *sws_med2 = NULL;
    int64_t ns[STEPS] = {0};
    unsigned long long bytes_b = 0, bytes_c = 0, bytes_limited = 0;
    int pictures = 0, limited = 0, diff_max = 0;
    int64_t t0 = now_ns();
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index != vs) {
            av_packet_unref(pkt);
            continue;
        }
        int64_t t = now_ns();
        int rc = avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
        if (rc < 0)
            continue;
        while (avcodec_receive_frame(dec, pic) == 0) {
            int64_t t1 = now_ns();
            ns[A_DECODE] += t1 - t;
            if (pic->format != AV_PIX_FMT_YUV420P) {
                fprintf(stderr, "expected yuv420p pictures\n");
                return 1;
            }
            limited += pic->color_range != AVCOL_RANGE_JPEG;
            int w = pic->width, h = pic->height;
            if (full == NULL) {
                full = picture(w, h, AV_PIX_FMT_YUVJ420P);
                old = picture(w, h, AV_PIX_FMT_YUVJ420P);
                low = picture(568, 320, AV_PIX_FMT_YUVJ420P);
                low2 = picture(568, 320, AV_PIX_FMT_YUV420P);
                med = picture(854, 480, AV_PIX_FMT_YUVJ420P);
                med2 = picture(854, 480, AV_PIX_FMT_YUV420P);
                lane.cap = tjBufSize(w, h, TJSAMP_420);
                lane.jpeg = tjAlloc((int)lane.cap);
                sws_same = sws_getContext(w, h, pic->format, w, h, AV_PIX_FMT_YUVJ420P,
                                          SWS_BILINEAR, NULL, NULL, NULL);
                sws_low1 = sws_getContext(w, h, pic->format, 568, 320, AV_PIX_FMT_YUVJ420P,
                                          SWS_BILINEAR, NULL, NULL, NULL);
                sws_low2 = sws_getContext(w, h, pic->format, 568, 320, AV_PIX_FMT_YUV420P,
                                          SWS_BILINEAR, NULL, NULL, NULL);
                sws_med1 = sws_getContext(w, h, pic->format, 854, 480, AV_PIX_FMT_YUVJ420P,
                                          SWS_BILINEAR, NULL, NULL, NULL);
                sws_med2 = sws_getContext(w, h, pic->format, 854, 480, AV_PIX_FMT_YUV420P,
                                          SWS_BILINEAR, NULL, NULL, NULL);
            }
            const uint8_t *const *src = (const uint8_t *const *)pic->data;

            /* (c) the old path first, so that (b) does not find the decoded picture warmer. */
            int64_t c0 = now_ns();
            sws_scale(sws_same, src, pic->linesize, 0, h, old->data, old->linesize);
            int64_t c1 = now_ns();
            bytes_c += encode(&lane, old);
            int64_t c2 = now_ns();
            /* (b) vigil's path. */
            range_pass(full, pic);
            int64_t b1 = now_ns();
            bytes_b += encode(&lane, full);
            int64_t b2 = now_ns();
            /* (d) the floor: the same full-range planes, encoded from YUV. */
            encode(&lane, full);
            int64_t d1 = now_ns();
            ns[C_SWS] += c1 - c0;
            ns[C_ENCODE] += c2 - c1;
            ns[B_PASS] += b1 - c2;
            ns[B_ENCODE] += b2 - b1;
            ns[D_ENCODE] += d1 - b2;
            for (int i = 0; i < w * h && diff_max < 255; i += 97) {
                int d = abs(full->data[0][(i / w) * full->linesize[0] + i % w] -
                            old->data[0][(i / w) * old->linesize[0] + i % w]);
                diff_max = d > diff_max ? d : diff_max;
            }

            /* Scaled tiers: range while scaling, or scale then the pass. */
            int64_t s0 = now_ns();
            sws_scale(sws_low1, src, pic->linesize, 0, h, low->data, low->linesize);
            int64_t s1 = now_ns();
            sws_scale(sws_low2, src, pic->linesize, 0, h, low2->data, low2->linesize);
            range_pass(low2, low2);
            int64_t s2 = now_ns();
            sws_scale(sws_med1, src, pic->linesize, 0, h, med->data, med->linesize);
            int64_t s3 = now_ns();
            sws_scale(sws_med2, src, pic->linesize, 0, h, med2->data, med2->linesize);
            range_pass(med2, med2);
            int64_t s4 = now_ns();
            ns[S1_LOW] += s1 - s0;
            ns[S2_LOW] += s2 - s1;
            ns[S1_MED] += s3 - s2;
            ns[S2_MED] += s4 - s3;
            range_pass_portable(old, pic); /* the plain C path, for machines without AVX2 */
            ns[PORTABLE_PASS] += now_ns() - s4;

            bytes_limited += encode(&lane, pic); /* untimed: only its size is reported */
            if (ppm != NULL && pictures == 150)
                write_ppm(ppm, full);
            pictures++;
            av_frame_unref(pic);
            t = now_ns(); /* the next picture of the same packet costs no further decode */
        }
    }
    double cpu_s = (double)(now_ns() - t0) / 1e9;
    if (pictures == 0) {
        fprintf(stderr, "no pictures decoded\n");
        return 1;
    }
    double ms[STEPS];
    for (int i = 0; i < STEPS; i++)
        ms[i] = (double)ns[i] / pictures / 1e6;
    double a = ms[A_DECODE];
    double b = a + ms[B_PASS] + ms[B_ENCODE];
    double c = a + ms[C_SWS] + ms[C_ENCODE];
    double d = ms[D_ENCODE];
    printf("picture_lane: %s, %dx%d, %d pictures (%d limited range), quality %d, "
           "AVX2 path %s, %.1f s CPU\n",
           argv[1], full->width, full->height, pictures, limited, lane.quality,
           vg_range_has_avx2() ? "on" : "off", cpu_s);
    for (int i = 0; i < STEPS; i++)
        printf("  %-26s %7.3f ms/picture\n", step_names[i], ms[i]);
    printf("  (a) decode                  %7.3f ms\n", a);
    printf("  (b) decode+pass+JPEG        %7.3f ms   (b)/(a+d) = %.3f\n", b, b / (a + d));
    printf("  (c) decode+swscale+JPEG     %7.3f ms   (c)/(a+d) = %.3f\n", c, c / (a + d));
    printf("  (d) JPEG from YUV (floor)   %7.3f ms\n", d);
    printf("  JPEG bytes/picture: pass %.0f, swscale %.0f (%+.1f%%), limited as is %.0f; "
           "largest sampled Y difference pass/swscale %d\n",
           (double)bytes_b / pictures, (double)bytes_c / pictures,
           100.0 * ((double)bytes_c - (double)bytes_b) / (double)bytes_b,
           (double)bytes_limited / pictures, diff_max);
    printf("{\"pictures\": %d, \"avx2\": %s", pictures, vg_range_has_avx2() ? "true" : "false");
    for (int i = 0; i < STEPS; i++)
        printf(", \"%s_ms\": %.4f", step_names[i], ms[i]);
    printf(", \"b_ms\": %.4f, \"c_ms\": %.4f, \"b_ratio\": %.4f, \"c_ratio\": %.4f"
           ", \"jpeg_bytes_pass\": %.0f, \"jpeg_bytes_swscale\": %.0f"
           ", \"jpeg_bytes_limited\": %.0f}\n",
           b, c, b / (a + d), c / (a + d), (double)bytes_b / pictures,
           (double)bytes_c / pictures, (double)bytes_limited / pictures);

    sws_freeContext(sws_same);
    sws_freeContext(sws_low1);
    sws_freeContext(sws_low2);
    sws_freeContext(sws_med1);
    sws_freeContext(sws_med2);
    av_frame_free(&full);
    av_frame_free(&old);
    av_frame_free(&low);
    av_frame_free(&low2);
    av_frame_free(&med);
    av_frame_free(&med2);
    av_frame_free(&pic);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    tjFree(lane.jpeg);
    tjDestroy(lane.tj);
    return 0;
}
