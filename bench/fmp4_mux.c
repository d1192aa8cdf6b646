/* fmp4_mux: what an LL-HLS part costs to mux, vigil's media/fmp4 against libavformat's mp4
 * muxer in fragmented mode, side by side in one run over one Annex B clip.
 *
 *   fmp4_mux CLIP.h264|CLIP.hevc [PART_MS [ROUNDS]]      (defaults: 200 ms, 20 rounds)
 *
 * The clip's access units are read into memory first (libavformat's raw demuxer), as frames
 * of the packet lane. Then, ROUNDS times over the clip, each part of PART_MS worth of AUs is
 * muxed by both, one after the other (the order alternating from part to part so neither
 * always finds the AUs warm in the cache):
 *   (a) vigil: vg_fmp4_fragment() into a new frame, then the frame released;
 *   (b) libavformat: av_write_frame() for each AU, av_write_frame(NULL) to cut the fragment
 *       (movflags frag_custom+empty_moov+default_base_moof+cmaf), avio_flush() into an
 *       AVIOContext whose write callback copies into a memory buffer, as an HLS output would
 *       keep the part. Both are fed the same Annex B AUs; both convert them to length-prefixed
 *       NAL units (movenc through ff_avc_parse_nal_units / ff_hevc_annexb2mp4).
 * Prints a table and one JSON line. Timings are the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID): the machine is shared with other builds. Fragment sizes differ
 * a little: libavformat keeps in-band parameter sets in the samples, vigil drops them. */
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "media/fmp4.h"
#include "media/h26x.h"

#define TIMESCALE 90000
#define FPS 30 /* the clip's rate: bench/fmp4_mux.sh makes it */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct clip {
    vg_frame_t **aus;
    size_t n, cap;
    vg_h26x_params_t params;
} clip_t;

static int load_clip(const char *path, clip_t *c)
{
    AVFormatContext *in = NULL;
    AVPacket *pkt = av_packet_alloc();
    int rc = -1;
    if (avformat_open_input(&in, path, NULL, NULL) < 0 ||
        avformat_find_stream_info(in, NULL) < 0 || in->nb_streams != 1)
        goto out;
    enum AVCodecID id = in->streams[0]->codecpar->codec_id;
    c->params.codec = id == AV_CODEC_ID_H264 ? VG_CODEC_H264
                      : id == AV_CODEC_ID_HEVC ? VG_CODEC_H265 : VG_CODEC_NONE;
    if (c->params.codec == VG_CODEC_NONE)
        goto out;
    while (av_read_frame(in, pkt) >= 0) {
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 1024;
            c->aus = realloc(c->aus, c->cap * sizeof(*c->aus));
        }
        vg_frame_t *au = vg_frame_new((size_t)pkt->size);
        memcpy(au->data, pkt->data, (size_t)pkt->size);
        au->len = (size_t)pkt->size;
        au->meta.codec = c->params.codec;
        au->meta.is_key = vg_h26x_has_keyframe(c->params.codec, au->data, au->len);
        c->aus[c->n++] = au;
        av_packet_unref(pkt);
        if (vg_h26x_params_update(&c->params, au->data, au->len) < 0)
            goto out;
    }
    rc = vg_h26x_params_complete(&c->params) && c->n > 0 && c->aus[0]->meta.is_key ? 0 : -1;
out:
    av_packet_free(&pkt);
    avformat_close_input(&in);
    return rc;
}

/* Where libavformat's output goes: one growing-once buffer, emptied after each part. */
typedef struct sink {
    uint8_t *buf;
    size_t len, cap;
} sink_t;

static int sink_write(void *opaque, uint8_t *data, int size)
{
    sink_t *s = opaque;
    if ((size_t)size > s->cap - s->len)
        return AVERROR(ENOSPC);
    memcpy(s->buf + s->len, data, (size_t)size);
    s->len += (size_t)size;
    return size;
}

typedef struct lavf {
    AVFormatContext *oc;
    AVStream *st;
    AVPacket *pkt;
    sink_t sink;
} lavf_t;

static int lavf_open(lavf_t *l, const clip_t *c, size_t sink_cap)
{
    int width, height;
    if (vg_h26x_picture_size(&c->params, &width, &height) < 0 ||
        avformat_alloc_output_context2(&l->oc, NULL, "mp4", NULL) < 0)
        return -1;
    l->st = avformat_new_stream(l->oc, NULL);
    AVCodecParameters *par = l->st->codecpar;
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = c->params.codec == VG_CODEC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_HEVC;
    par->codec_tag = c->params.codec == VG_CODEC_H264 ? MKTAG('a', 'v', 'c', '1')
                                                      : MKTAG('h', 'v', 'c', '1');
    par->width = width;
    par->height = height;
    /* Annex B extradata: movenc builds avcC/hvcC from it and converts the samples. */
    uint8_t annexb[3 * (4 + VG_H26X_PS_MAX)];
    int len = vg_h26x_params_annexb(&c->params, annexb, sizeof(annexb));
    if (len < 0)
        return -1;
    par->extradata = av_mallocz((size_t)len + AV_INPUT_BUFFER_PADDING_SIZE);
    memcpy(par->extradata, annexb, (size_t)len);
    par->extradata_size = len;
    l->st->time_base = (AVRational){1, TIMESCALE};

    l->sink.cap = sink_cap;
    l->sink.buf = malloc(sink_cap);
    enum { AVIO_BUF = 64 * 1024 };
    l->oc->pb = avio_alloc_context(av_malloc(AVIO_BUF), AVIO_BUF, 1, &l->sink, NULL,
                                   sink_write, NULL);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "movflags", "frag_custom+empty_moov+default_base_moof+cmaf", 0);
    int rc = avformat_write_header(l->oc, &opts);
    av_dict_free(&opts);
    if (rc < 0)
        return -1;
    avio_flush(l->oc->pb);
    l->sink.len = 0; /* the init segment is not part of a part */
    l->pkt = av_packet_alloc();
    return 0;
}

static void lavf_close(lavf_t *l)
{
    if (l->oc != NULL) {
        av_write_trailer(l->oc);
        av_freep(&l->oc->pb->buffer);
        avio_context_free(&l->oc->pb);
        avformat_free_context(l->oc);
    }
    av_packet_free(&l->pkt);
    free(l->sink.buf);
}

/* Muxes one part; returns its size, or 0 on failure. */
static size_t lavf_part(lavf_t *l, vg_frame_t *const *aus, size_t n, int64_t first_au)
{
    AVRational tb = {1, TIMESCALE};
    for (size_t i = 0; i < n; i++) {
        AVPacket *pkt = l->pkt;
        pkt->data = aus[i]->data;
        pkt->size = (int)aus[i]->len;
        pkt->stream_index = 0;
        pkt->flags = aus[i]->meta.is_key ? AV_PKT_FLAG_KEY : 0;
        pkt->pts = pkt->dts = av_rescale_q((first_au + (int64_t)i) * (TIMESCALE / FPS), tb,
                                           l->st->time_base);
        pkt->duration = av_rescale_q(TIMESCALE / FPS, tb, l->st->time_base);
        if (av_write_frame(l->oc, pkt) < 0)
            return 0;
    }
    if (av_write_frame(l->oc, NULL) < 0)
        return 0;
    avio_flush(l->oc->pb);
    size_t len = l->sink.len;
    l->sink.len = 0;
    return l->oc->pb->error < 0 ? 0 : len;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_ns(int64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    return n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: fmp4_mux CLIP [PART_MS [ROUNDS]]\n");
        return 2;
    }
    long part_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
    long rounds = argc > 3 ? strtol(argv[3], NULL, 10) : 20;
    if (part_ms <= 0 || part_ms > 10000 || rounds <= 0 || rounds > 100000) {
        fprintf(stderr, "bad PART_MS or ROUNDS\n");
        return 2;
    }
    clip_t clip = {0};
    lavf_t lavf = {0};
    int rc = 1;
    if (load_clip(argv[1], &clip) < 0) {
        fprintf(stderr, "%s: cannot read an H.264/H.265 clip starting with a keyframe\n",
                argv[1]);
        goto out;
    }
    size_t part_aus = (size_t)((part_ms * FPS + 999) / 1000), clip_bytes = 0;
    for (size_t i = 0; i < clip.n; i++)
        clip_bytes += clip.aus[i]->len;
    /* The largest part fits the sink with room for the moof. */
    if (lavf_open(&lavf, &clip, clip_bytes + 1024 * 1024) < 0) {
        fprintf(stderr, "libavformat's mp4 muxer refused the stream\n");
        goto out;
    }

    size_t parts_per_round = (clip.n + part_aus - 1) / part_aus;
    size_t total_parts = parts_per_round * (size_t)rounds;
    int64_t *t_vigil = malloc(total_parts * sizeof(int64_t));
    int64_t *t_lavf = malloc(total_parts * sizeof(int64_t));
    vg_fmp4_sample_t *samples = malloc(part_aus * sizeof(*samples));
    uint64_t bytes_vigil = 0, bytes_lavf = 0, aus_muxed = 0;
    uint32_t seq = 0;
    int64_t au_index = 0;
    size_t k = 0;
    for (long r = 0; r < rounds; r++) {
        for (size_t first = 0; first < clip.n; first += part_aus, k++) {
            size_t n = clip.n - first < part_aus ? clip.n - first : part_aus;
            for (size_t i = 0; i < n; i++)
                samples[i] = (vg_fmp4_sample_t){clip.aus[first + i], TIMESCALE / FPS};
            for (int step = 0; step < 2; step++) {
                bool is_vigil = (step == 0) == (k % 2 == 0);
                int64_t t0 = now_ns();
                size_t len;
                if (is_vigil) {
                    int err = 0;
                    vg_frame_t *frag = vg_fmp4_fragment(
                        ++seq, (uint64_t)au_index * (TIMESCALE / FPS), samples, n, &err);
                    len = frag ? frag->len : 0;
                    vg_frame_unref(&frag);
                } else {
                    len = lavf_part(&lavf, clip.aus + first, n, au_index);
                }
                int64_t dt = now_ns() - t0;
                if (len == 0) {
                    fprintf(stderr, "%s failed on part %zu\n", is_vigil ? "vigil" : "lavf", k);
                    goto out_free;
                }
                *(is_vigil ? &t_vigil[k] : &t_lavf[k]) = dt;
                *(is_vigil ? &bytes_vigil : &bytes_lavf) += len;
            }
            au_index += (int64_t)n;
            aus_muxed += n;
        }
    }

    int64_t sum_vigil = 0, sum_lavf = 0;
    for (size_t i = 0; i < total_parts; i++) {
        sum_vigil += t_vigil[i];
        sum_lavf += t_lavf[i];
    }
    double mean_vigil = (double)sum_vigil / (double)total_parts;
    double mean_lavf = (double)sum_lavf / (double)total_parts;
    double med_vigil = median_ns(t_vigil, total_parts), med_lavf = median_ns(t_lavf, total_parts);
    printf("fmp4_mux: %s, %s, %zu AUs (%.0f bytes each on average), parts of %zu AUs "
           "(%ld ms), %zu parts x %ld rounds, thread CPU time\n",
           argv[1], clip.params.codec == VG_CODEC_H264 ? "H.264" : "H.265", clip.n,
           (double)clip_bytes / (double)clip.n, part_aus, part_ms, parts_per_round, rounds);
    printf("  %-12s %14s %14s %12s %14s\n", "muxer", "ns/part mean", "ns/part median",
           "ns/AU", "bytes/part");
    printf("  %-12s %14.0f %14.0f %12.0f %14.0f\n", "vigil", mean_vigil, med_vigil,
           (double)sum_vigil / (double)aus_muxed, (double)bytes_vigil / (double)total_parts);
    printf("  %-12s %14.0f %14.0f %12.0f %14.0f\n", "libavformat", mean_lavf, med_lavf,
           (double)sum_lavf / (double)aus_muxed, (double)bytes_lavf / (double)total_parts);
    printf("{\"codec\":\"%s\",\"part_aus\":%zu,\"parts\":%zu,\"vigil_ns_part\":%.0f,"
           "\"vigil_ns_part_median\":%.0f,\"vigil_ns_au\":%.0f,\"lavf_ns_part\":%.0f,"
           "\"lavf_ns_part_median\":%.0f,\"lavf_ns_au\":%.0f,\"vigil_bytes_part\":%.0f,"
           "\"lavf_bytes_part\":%.0f}\n",
           clip.params.codec == VG_CODEC_H264 ? "h264" : "h265", part_aus, total_parts,
           mean_vigil, med_vigil, (double)sum_vigil / (double)aus_muxed, mean_lavf, med_lavf,
           (double)sum_lavf / (double)aus_muxed, (double)bytes_vigil / (double)total_parts,
           (double)bytes_lavf / (double)total_parts);
    rc = 0;
out_free:
    free(t_vigil);
    free(t_lavf);
    free(samples);
out:
    lavf_close(&lavf);
    for (size_t i = 0; i < clip.n; i++)
        vg_frame_unref(&clip.aus[i]);
    free(clip.aus);
    return rc;
}
