/* fmp4_write: an Annex B H.264/H.265 elementary stream to fragmented MP4 through media/fmp4,
 * the way the LL-HLS output cuts a lane: one init segment, then one fragment per part.
 *
 *   fmp4_write IN.h264|IN.hevc OUT.mp4 FPS PART_MS [AUDIO.m4a]
 *
 * With AUDIO (an MP4 holding AAC: raw frames and an AudioSpecificConfig, as an RTSP camera's
 * mpeg4-generic stream gives them), the file gets the audio track too: each part carries the
 * AAC frames that start before the part's video ends, as the LL-HLS output does.
 *
 * libavformat's raw demuxer splits IN into access units (as a camera's RTSP depacketiser
 * would hand them over); everything after that is vigil's. Each AU lasts 90000/FPS ticks, a
 * part holds PART_MS worth of AUs. tests/integration/test_fmp4_ffmpeg.py has FFmpeg read OUT.
 * Exits 1 with a message on any error, including a parameter set change mid-stream (which
 * would need a second init segment, and a file cannot have one). */
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/fmp4.h"
#include "media/h26x.h"

#define TIMESCALE 90000
#define PART_AUS_MAX 256
#define AUDIO_FRAMES_MAX 4096

typedef struct audio_in {
    vg_frame_t *frames[AUDIO_FRAMES_MAX];
    uint32_t durations[AUDIO_FRAMES_MAX];
    size_t n, next;          /* frames read; the next one to write */
    uint64_t next_dts;       /* in sample_rate units */
    uint8_t config[VG_FMP4_AUDIO_CONFIG_MAX];
    vg_fmp4_audio_t desc;
} audio_in_t;

typedef struct writer_state {
    FILE *out;
    vg_h26x_params_t params;
    bool has_init;
    vg_frame_t *part[PART_AUS_MAX];
    size_t part_len, part_aus;
    uint32_t sequence_number, au_duration;
    uint64_t decode_time;
    audio_in_t *audio; /* NULL: video only */
} writer_state_t;

static int write_frame(FILE *out, const vg_frame_t *f)
{
    return fwrite(f->data, 1, f->len, out) == f->len ? 0 : -1;
}

static int flush_part(writer_state_t *s)
{
    vg_fmp4_sample_t samples[PART_AUS_MAX];
    for (size_t i = 0; i < s->part_len; i++)
        samples[i] = (vg_fmp4_sample_t){.au = s->part[i], .duration = s->au_duration};
    int err = 0, rc = 0;
    vg_fmp4_run_t video = {.base_decode_time = s->decode_time, .samples = samples,
                           .n = s->part_len};
    /* The AAC frames that start before this part's video ends. */
    vg_fmp4_sample_t audio_samples[AUDIO_FRAMES_MAX];
    vg_fmp4_run_t audio = {.samples = audio_samples};
    audio_in_t *a = s->audio;
    if (a != NULL) {
        uint64_t video_end = s->decode_time + (uint64_t)s->part_len * s->au_duration;
        audio.base_decode_time = a->next_dts;
        while (a->next < a->n &&
               a->next_dts * TIMESCALE < video_end * a->desc.sample_rate) {
            audio_samples[audio.n++] = (vg_fmp4_sample_t){.au = a->frames[a->next],
                                                          .duration = a->durations[a->next]};
            a->next_dts += a->durations[a->next++];
        }
    }
    vg_frame_t *frag = vg_fmp4_fragment_av(++s->sequence_number, &video, &audio, &err);
    if (frag == NULL || write_frame(s->out, frag) < 0) {
        fprintf(stderr, "fragment %u: %s\n", s->sequence_number,
                frag == NULL ? vg_strerror(err) : "write failed");
        rc = -1;
    }
    s->decode_time += (uint64_t)s->part_len * s->au_duration;
    for (size_t i = 0; i < s->part_len; i++)
        vg_frame_unref(&s->part[i]);
    s->part_len = 0;
    vg_frame_unref(&frag);
    return rc;
}

/* Takes au. */
static int take_au(writer_state_t *s, vg_frame_t *au)
{
    int changed = vg_h26x_params_update(&s->params, au->data, au->len);
    if (changed < 0 || (changed > 0 && s->has_init)) {
        fprintf(stderr, "parameter sets %s\n", changed < 0 ? "too long" : "changed");
        vg_frame_unref(&au);
        return -1;
    }
    if (!s->has_init) {
        if (!vg_h26x_params_complete(&s->params)) { /* AUs before the first IDR: dropped */
            vg_frame_unref(&au);
            return 0;
        }
        vg_fmp4_track_t track = {.params = &s->params, .timescale = TIMESCALE,
                                 .audio = s->audio ? &s->audio->desc : NULL};
        int err = 0;
        vg_frame_t *init = vg_fmp4_init_segment(&track, &err);
        if (init == NULL || write_frame(s->out, init) < 0) {
            fprintf(stderr, "init segment: %s\n", init ? "write failed" : vg_strerror(err));
            vg_frame_unref(&init);
            vg_frame_unref(&au);
            return -1;
        }
        vg_frame_unref(&init);
        s->has_init = true;
    }
    s->part[s->part_len++] = au;
    return s->part_len == s->part_aus ? flush_part(s) : 0;
}

/* Reads every AAC frame of path into a (raw frames: MP4 stores them without ADTS). */
static int read_audio(const char *path, audio_in_t *a)
{
    AVFormatContext *in = NULL;
    AVPacket *pkt = av_packet_alloc();
    int rc = -1;
    if (avformat_open_input(&in, path, NULL, NULL) < 0 ||
        avformat_find_stream_info(in, NULL) < 0 || in->nb_streams != 1) {
        fprintf(stderr, "%s: cannot read one stream\n", path);
        goto out;
    }
    const AVCodecParameters *par = in->streams[0]->codecpar;
    if (par->codec_id != AV_CODEC_ID_AAC || par->extradata_size < 2 ||
        par->extradata_size > VG_FMP4_AUDIO_CONFIG_MAX) {
        fprintf(stderr, "%s: not AAC with an AudioSpecificConfig\n", path);
        goto out;
    }
    memcpy(a->config, par->extradata, (size_t)par->extradata_size);
    a->desc = (vg_fmp4_audio_t){.config = a->config,
                                .config_len = (size_t)par->extradata_size,
                                .sample_rate = (uint32_t)par->sample_rate,
                                .channels = par->ch_layout.nb_channels};
    AVRational rate = {1, par->sample_rate};
    while (av_read_frame(in, pkt) >= 0 && a->n < AUDIO_FRAMES_MAX) {
        vg_frame_t *f = vg_frame_new((size_t)pkt->size);
        memcpy(f->data, pkt->data, (size_t)pkt->size);
        f->len = (size_t)pkt->size;
        f->meta.codec = VG_CODEC_AAC;
        f->meta.is_key = true;
        int64_t d = av_rescale_q(pkt->duration, in->streams[0]->time_base, rate);
        a->durations[a->n] = d > 0 ? (uint32_t)d : 1024;
        a->frames[a->n++] = f;
        av_packet_unref(pkt);
    }
    rc = a->n > 0 ? 0 : -1;
out:
    av_packet_free(&pkt);
    avformat_close_input(&in);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: fmp4_write IN OUT.mp4 FPS PART_MS [AUDIO.m4a]\n");
        return 2;
    }
    long fps = strtol(argv[3], NULL, 10), part_ms = strtol(argv[4], NULL, 10);
    if (fps <= 0 || fps > TIMESCALE || part_ms <= 0 || part_ms > 10000) {
        fprintf(stderr, "bad FPS or PART_MS\n");
        return 2;
    }
    writer_state_t s = {.au_duration = (uint32_t)(TIMESCALE / fps)};
    s.part_aus = (size_t)(part_ms * fps + 999) / 1000;
    if (s.part_aus > PART_AUS_MAX)
        s.part_aus = PART_AUS_MAX;
    AVFormatContext *in = NULL;
    AVPacket *pkt = av_packet_alloc();
    int rc = 1;
    if (argc == 6) {
        s.audio = calloc(1, sizeof(*s.audio));
        if (s.audio == NULL || read_audio(argv[5], s.audio) < 0)
            goto out;
    }
    if (avformat_open_input(&in, argv[1], NULL, NULL) < 0 ||
        avformat_find_stream_info(in, NULL) < 0 || in->nb_streams != 1) {
        fprintf(stderr, "%s: cannot read one stream\n", argv[1]);
        goto out;
    }
    enum AVCodecID id = in->streams[0]->codecpar->codec_id;
    s.params.codec = id == AV_CODEC_ID_H264 ? VG_CODEC_H264
                     : id == AV_CODEC_ID_HEVC ? VG_CODEC_H265 : VG_CODEC_NONE;
    if (s.params.codec == VG_CODEC_NONE || (s.out = fopen(argv[2], "wb")) == NULL) {
        fprintf(stderr, "not H.264/H.265, or cannot open %s\n", argv[2]);
        goto out;
    }
    while (av_read_frame(in, pkt) >= 0) {
        vg_frame_t *au = vg_frame_new((size_t)pkt->size);
        memcpy(au->data, pkt->data, (size_t)pkt->size);
        au->len = (size_t)pkt->size;
        au->meta.codec = s.params.codec;
        au->meta.is_key = vg_h26x_has_keyframe(s.params.codec, au->data, au->len);
        av_packet_unref(pkt);
        if (take_au(&s, au) < 0)
            goto out;
    }
    if (!s.has_init) {
        fprintf(stderr, "no access unit with complete parameter sets\n");
        goto out;
    }
    if (s.part_len > 0 && flush_part(&s) < 0)
        goto out;
    rc = 0;
out:
    for (size_t i = 0; i < s.part_len; i++)
        vg_frame_unref(&s.part[i]);
    if (s.out != NULL && fclose(s.out) != 0)
        rc = 1;
    if (s.audio != NULL) {
        for (size_t i = 0; i < s.audio->n; i++)
            vg_frame_unref(&s.audio->frames[i]);
        free(s.audio);
    }
    av_packet_free(&pkt);
    avformat_close_input(&in);
    return rc;
}
