/* av_source: cameras and files read through libavformat — rtsp:// and rtsps:// (TCP by
 * default, ?transport=udp for UDP; credentials in the URL, basic or digest as the camera
 * asks), http(s):// MJPEG streams (multipart), file:// clips played in real time and looped,
 * and v4l2:// webcams through libavdevice.
 *
 * A dead or silent camera must never hang the source thread: every blocking libavformat
 * call runs under a deadline checked by the interrupt callback, which also answers stop
 * requests, and the RTSP/HTTP protocols get their own socket time-outs as a second line.
 * capture_us comes from the camera's clock when the RTSP demuxer has an RTCP sender report
 * (start_time_realtime: the wall-clock time of pts 0), else from arrival. Credentials never
 * reach logs or errors: only the camera id and the redacted URL do.
 *
 * Audio: the first AAC stream with an AudioSpecificConfig (the config= of an RTSP camera's
 * mpeg4-generic SDP, RFC 3640; an MP4 file's esds) is passed on as raw AAC frames beside
 * the video, its capture_us on the same clock (libavformat gives every RTSP stream of a
 * session one time base origin, which start_time_realtime dates). Other audio codecs (G.711,
 * G.726, Opus, ADTS without a config) are left out, with one log line naming the codec.
 */
#include <libavcodec/bsf.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavutil/time.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "sources/source.h"

#define OPEN_TIMEOUT_US (10 * 1000000)
#define READ_TIMEOUT_US (10 * 1000000)
#define CLOSE_TIMEOUT_US (300 * 1000)
#define TARGET_LEN 4096 /* the longest URL dialled, credentials included */
/* A camera clock further than this from ours is wrong; use arrival time instead. */
#define MAX_CLOCK_SKEW_US (10 * 1000000)

typedef struct av_source {
    vg_source_t *src;
    AVFormatContext *ic;
    int video_index;
    int audio_index; /* the AAC stream passed on, or -1 */
    atomic_llong deadline_us; /* monotonic; the interrupt callback's limit */
    atomic_bool is_closing;   /* closing: only the deadline interrupts, so TEARDOWN goes out */
    bool is_file;
    /* file playback */
    int64_t play_start_us;   /* monotonic time of the loop's first packet */
    int64_t first_pts_us;    /* pts of the loop's first packet */
    uint32_t seq;
    AVPacket *reading; /* source: the packet av_read_frame is filling, or NULL */
    /* MP4/MKV files store H.264/H.265 length-prefixed with the parameter sets in the
     * container: FFmpeg's mp4toannexb filter gives the Annex B access units (parameter sets
     * in band on keyframes) that the packet lane and its viewers expect. */
    AVBSFContext *to_annexb;
} av_source_t;

/* FFmpeg 5.1's RTP demuxer leaks packet side data when a camera sends an RTP payload its
 * depacketizer refuses (a broken H.264 NAL unit type, a truncated STAP-A or FU-A): after
 * the refusal, rtpdec.c's finalize_packet() still attaches the producer reference time
 * (AV_PKT_DATA_PRFT, present once an RTCP sender report has arrived) to our packet, and
 * ff_rtsp_fetch_packet() goes round for the next RTP packet, whose av_new_packet() clears
 * the packet without freeing that side data: 104 bytes lost per refused payload (issue 12;
 * reproduced with tests/integration/test_corrupt_h264.py). The lost bytes are never
 * reachable from vigil afterwards, but between the two steps FFmpeg reads the socket, and
 * every read first asks this interrupt callback. A packet that is being read, holds no
 * payload and yet carries side data is exactly that leftover: free it there. vigil uses no
 * packet side data, so nothing of value is dropped. Packets parsed from the RTP reorder
 * queue without a socket read in between are not reached this way (UDP with loss). */
static void drop_orphan_side_data(av_source_t *as)
{
    AVPacket *pkt = as->reading;
    if (pkt != NULL && pkt->buf == NULL && pkt->side_data_elems > 0)
        av_packet_free_side_data(pkt);
}

static int interrupt_cb(void *opaque)
{
    av_source_t *as = opaque;
    drop_orphan_side_data(as);
    if (vg_mono_us() > atomic_load(&as->deadline_us))
        return 1;
    return !atomic_load(&as->is_closing) && vg_source_should_stop(as->src);
}

static void arm(av_source_t *as, int64_t timeout_us)
{
    atomic_store(&as->deadline_us, vg_mono_us() + timeout_us);
}

/* Maps libavformat's answer to why a camera failed (the stream shows it as its reason). */
static int map_error(av_source_t *as, int averr)
{
    if (vg_source_should_stop(as->src))
        return VG_ECLOSED;
    if (averr == AVERROR_EXIT)
        return VG_EUNREACHABLE; /* our deadline: the camera did not answer in time */
    if (averr == AVERROR_HTTP_UNAUTHORIZED || averr == AVERROR_HTTP_FORBIDDEN)
        return VG_EUNAUTHORIZED;
    if (averr == AVERROR_EOF)
        return VG_EEOF;
    /* Refused, reset, timed out, 404, garbage instead of RTSP: to an operator all of these
     * mean the camera cannot be reached as configured. */
    return VG_EUNREACHABLE;
}

static const char *strip_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncmp(url, scheme, n) == 0 ? url + n : url;
}

static vg_codec_t vg_codec_of(enum AVCodecID id)
{
    switch (id) {
    case AV_CODEC_ID_H264: return VG_CODEC_H264;
    case AV_CODEC_ID_HEVC: return VG_CODEC_H265;
    case AV_CODEC_ID_MJPEG: return VG_CODEC_JPEG;
    default: return VG_CODEC_NONE;
    }
}

static void av_close(vg_source_t *src)
{
    av_source_t *as = vg_source_priv(src);
    if (as == NULL)
        return;
    /* Stopping must not skip the RTSP TEARDOWN: cameras allow few sessions and keep an
     * abandoned one until it times out (often a minute), refusing the next connect. The
     * request is sent without waiting for an answer; the deadline covers a dead peer. */
    atomic_store(&as->is_closing, true);
    arm(as, CLOSE_TIMEOUT_US);
    avformat_close_input(&as->ic);
    av_bsf_free(&as->to_annexb);
    free(as);
    vg_source_set_priv(src, NULL);
}

/* libavformat keeps the URL it opened in ic->url for the whole session, and RTSP needs it no
 * more after the connect (a UDP-to-TCP fallback reads only its host and port): put the
 * redacted URL there instead, so the credentials are not held in one more copy. */
static void forget_credentials(AVFormatContext *ic)
{
    if (ic->url == NULL || strchr(ic->url, '@') == NULL)
        return;
    char shown[4096];
    vg_url_redact(ic->url, shown, sizeof(shown));
    char *redacted = av_strdup(shown);
    if (redacted == NULL)
        return; /* keep the old one rather than none */
    sodium_memzero(ic->url, strlen(ic->url));
    av_free(ic->url);
    ic->url = redacted;
}

/* The first audio stream, if it is AAC with its AudioSpecificConfig: described in *out, its
 * index returned; else -1 (and a log line naming what is left out). */
static int find_audio(av_source_t *as, vg_stream_audio_t *out)
{
    memset(out, 0, sizeof(*out));
    int index = av_find_best_stream(as->ic, AVMEDIA_TYPE_AUDIO, -1, as->video_index, NULL, 0);
    if (index < 0)
        return -1;
    const AVCodecParameters *p = as->ic->streams[index]->codecpar;
    int channels = p->ch_layout.nb_channels;
    if (p->codec_id != AV_CODEC_ID_AAC || p->extradata_size < 2 ||
        (size_t)p->extradata_size > sizeof(out->config) || p->sample_rate <= 0 ||
        channels <= 0) {
        VG_LOG_INFO(vg_source_log_ctx(as->src), "audio %s left out: only AAC with its "
                    "AudioSpecificConfig is passed on", avcodec_get_name(p->codec_id));
        return -1;
    }
    out->codec = VG_CODEC_AAC;
    out->sample_rate = p->sample_rate;
    out->channels = channels;
    memcpy(out->config, p->extradata, (size_t)p->extradata_size);
    out->config_len = (size_t)p->extradata_size;
    VG_LOG_INFO(vg_source_log_ctx(as->src), "audio aac %d Hz, %d channels", p->sample_rate,
                channels);
    return index;
}

static int av_open(vg_source_t *src)
{
    const char *url = vg_source_url(src);
    av_source_t *as = vg_xcalloc(1, sizeof(*as));
    as->src = src;
    vg_source_set_priv(src, as);
    AVDictionary *opts = NULL;
    const AVInputFormat *fmt = NULL;
    /* What libavformat dials: the URL with the camera's credentials, built here just before
     * the connect, in guarded memory, and wiped right after it (issue 12). */
    char *target = sodium_init() < 0 ? NULL : sodium_malloc(TARGET_LEN);
    int rc;
    if (target == NULL) {
        rc = VG_ENOMEM;
        goto fail;
    }

    if (strncmp(url, "rtsp://", 7) == 0 || strncmp(url, "rtsps://", 8) == 0) {
        /* Our own ?transport=udp|tcp is not part of the camera's URL. */
        vg_strlcpy(target, url, TARGET_LEN);
        char transport[8] = "tcp";
        char *q = strchr(target, '?');
        if (q && vg_query_get(q + 1, "transport", transport, sizeof(transport)) >= 0) {
            vg_query_remove(q + 1, "transport");
            vg_query_remove(q + 1, "client"); /* ffmpeg: this one */
            if (q[1] == '\0')
                *q = '\0'; /* nothing left of the query */
        }
        if (strcmp(transport, "udp") != 0 && strcmp(transport, "tcp") != 0) {
            VG_LOG_ERROR(vg_source_log_ctx(src), "transport must be tcp or udp");
            rc = VG_EURL;
            goto fail;
        }
        av_dict_set(&opts, "rtsp_transport", transport, 0);
        av_dict_set(&opts, "timeout", "5000000", 0); /* socket I/O, µs */
        av_dict_set(&opts, "max_delay", "200000", 0);
        av_dict_set(&opts, "reorder_queue_size", "16", 0);
    } else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        vg_strlcpy(target, url, TARGET_LEN);
        av_dict_set(&opts, "rw_timeout", "5000000", 0);
        av_dict_set(&opts, "reconnect", "0", 0);
        fmt = av_find_input_format("mpjpeg"); /* multipart MJPEG, the common camera stream */
    } else if (strncmp(url, "file://", 7) == 0) {
        vg_strlcpy(target, strip_scheme(url, "file://"), TARGET_LEN);
        as->is_file = true;
    } else if (strncmp(url, "v4l2://", 7) == 0) {
        vg_strlcpy(target, strip_scheme(url, "v4l2://"), TARGET_LEN);
        avdevice_register_all();
        fmt = av_find_input_format("video4linux2");
    } else {
        rc = VG_EURL;
        goto fail;
    }

    as->ic = avformat_alloc_context();
    as->ic->interrupt_callback = (AVIOInterruptCB){.callback = interrupt_cb, .opaque = as};
    as->ic->flags |= AVFMT_FLAG_NOBUFFER;
    as->ic->probesize = 512 * 1024;
    as->ic->max_analyze_duration = 1000000;
    arm(as, OPEN_TIMEOUT_US);
    rc = avformat_open_input(&as->ic, target, fmt, &opts);
    sodium_free(target); /* wipes it */
    target = NULL;
    av_dict_free(&opts);
    if (rc < 0) {
        rc = map_error(as, rc);
        goto fail;
    }
    forget_credentials(as->ic);
    /* An RTSP camera's SDP already names the codec and carries its parameter sets; probing
     * packets on top (find_stream_info) would cost a second before the first picture. The
     * decoder learns the picture size from the stream itself. */
    bool has_sdp_video = false;
    for (unsigned i = 0; i < as->ic->nb_streams; i++) {
        AVCodecParameters *p = as->ic->streams[i]->codecpar;
        has_sdp_video |= p->codec_type == AVMEDIA_TYPE_VIDEO && vg_codec_of(p->codec_id) &&
                         (p->codec_id != AV_CODEC_ID_H264 || p->extradata_size > 0);
    }
    bool is_rtsp = strncmp(url, "rtsp", 4) == 0;
    if (!(is_rtsp && has_sdp_video)) {
        arm(as, OPEN_TIMEOUT_US);
        rc = avformat_find_stream_info(as->ic, NULL);
        if (rc < 0) {
            rc = map_error(as, rc);
            goto fail;
        }
    }
    as->video_index = av_find_best_stream(as->ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (as->video_index < 0) {
        rc = VG_ENOVIDEO;
        goto fail;
    }
    AVCodecParameters *par = as->ic->streams[as->video_index]->codecpar;
    if (vg_codec_of(par->codec_id) == VG_CODEC_NONE) {
        VG_LOG_WARN(vg_source_log_ctx(src), "codec %s is not supported",
                    avcodec_get_name(par->codec_id));
        rc = VG_EUNSUPPORTED;
        goto fail;
    }
    /* avcC/hvcC extradata (its first byte is the record's version, 1) means length-prefixed
     * packets. */
    bool is_h26x = par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC;
    if (is_h26x && par->extradata_size > 0 && par->extradata[0] == 1) {
        const AVBitStreamFilter *bsf = av_bsf_get_by_name(
            par->codec_id == AV_CODEC_ID_H264 ? "h264_mp4toannexb" : "hevc_mp4toannexb");
        int brc = bsf ? av_bsf_alloc(bsf, &as->to_annexb) : AVERROR_BSF_NOT_FOUND;
        if (brc >= 0)
            brc = avcodec_parameters_copy(as->to_annexb->par_in, par);
        if (brc >= 0) {
            as->to_annexb->time_base_in = as->ic->streams[as->video_index]->time_base;
            brc = av_bsf_init(as->to_annexb);
        }
        if (brc < 0) {
            VG_LOG_ERROR(vg_source_log_ctx(src), "cannot convert %s to Annex B",
                         avcodec_get_name(par->codec_id));
            rc = VG_ECODEC;
            goto fail;
        }
        par = as->to_annexb->par_out; /* Annex B extradata */
    }
    vg_stream_info_t info = {
        .codec_id = par->codec_id,
        .width = par->width,
        .height = par->height,
        .extradata = par->extradata,
        .extradata_len = (size_t)par->extradata_size,
        .has_reordering = par->video_delay > 0,
    };
    as->audio_index = find_audio(as, &info.audio);
    vg_source_set_info(src, &info);
    VG_LOG_INFO(vg_source_log_ctx(src), "%s %dx%d", avcodec_get_name(par->codec_id), par->width,
                par->height);
    return 0;
fail:
    if (target != NULL)
        sodium_free(target);
    av_dict_free(&opts);
    av_close(src);
    return rc;
}

/* Files play at their own rate: wait until the packet's time has come. At the end the file
 * starts again (its timestamps restart; capture_us is the play-out time, so it keeps going). */
static int pace_file(av_source_t *as, int64_t pts_us)
{
    if (as->play_start_us == 0) {
        as->play_start_us = vg_mono_us();
        as->first_pts_us = pts_us;
    }
    int64_t due = as->play_start_us + (pts_us - as->first_pts_us);
    return vg_source_sleep_until(as->src, due) ? 0 : VG_ECLOSED;
}

static int av_read(vg_source_t *src, vg_frame_t **out)
{
    av_source_t *as = vg_source_priv(src);
    AVPacket *pkt = av_packet_alloc();
    arm(as, READ_TIMEOUT_US);
    as->reading = pkt;
    int rc = av_read_frame(as->ic, pkt);
    as->reading = NULL;
    if (rc == AVERROR_EOF && as->is_file) {
        av_seek_frame(as->ic, -1, 0, AVSEEK_FLAG_BACKWARD);
        as->play_start_us = 0;
        av_packet_free(&pkt);
        return VG_EAGAIN;
    }
    if (rc < 0) {
        av_packet_free(&pkt);
        rc = map_error(as, rc);
        return rc == VG_EUNREACHABLE ? VG_ETIMEDOUT : rc;
    }
    bool is_audio = pkt->stream_index == as->audio_index && as->audio_index >= 0;
    if ((pkt->stream_index != as->video_index && !is_audio) || pkt->size <= 0) {
        av_packet_free(&pkt);
        return VG_EAGAIN;
    }
    /* The filter gives one packet out per packet in. */
    if (!is_audio && as->to_annexb && (av_bsf_send_packet(as->to_annexb, pkt) < 0 ||
                          av_bsf_receive_packet(as->to_annexb, pkt) < 0)) {
        av_packet_free(&pkt);
        return VG_EAGAIN;
    }
    AVStream *stream = as->ic->streams[pkt->stream_index];
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    int64_t pts_us = ts != AV_NOPTS_VALUE ? av_rescale_q(ts, stream->time_base, AV_TIME_BASE_Q)
                                          : 0;
    /* Files are paced in decode order (dts): with B-frames, pts jumps back and forth. */
    int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : ts;
    int64_t dts_us = dts != AV_NOPTS_VALUE ? av_rescale_q(dts, stream->time_base, AV_TIME_BASE_Q)
                                           : 0;
    int64_t now = vg_wall_us();
    int64_t capture_us = now;
    if (as->is_file) {
        if (pace_file(as, dts_us) < 0) {
            av_packet_free(&pkt);
            return VG_ECLOSED;
        }
        capture_us = now = vg_wall_us();
    } else if (as->ic->start_time_realtime != AV_NOPTS_VALUE && ts != AV_NOPTS_VALUE) {
        int64_t cam = as->ic->start_time_realtime + pts_us;
        if (llabs(cam - now) < MAX_CLOCK_SKEW_US)
            capture_us = cam;
    }
    vg_frame_t *f = vg_frame_wrap(pkt->data, (size_t)pkt->size, vg_source_packet_release, pkt);
    f->meta.codec = is_audio ? VG_CODEC_AAC : vg_codec_of(stream->codecpar->codec_id);
    f->meta.is_key = is_audio || (pkt->flags & AV_PKT_FLAG_KEY) != 0; /* every AAC frame */
    f->meta.is_damaged = (pkt->flags & AV_PKT_FLAG_CORRUPT) != 0;
    f->meta.seq = ++as->seq;
    f->meta.width = stream->codecpar->width;
    f->meta.height = stream->codecpar->height;
    f->meta.capture_us = capture_us;
    f->meta.ingest_us = now;
    *out = f;
    return 0;
}

static int av_probe(const char *url, int *width, int *height, int *fps, char *err,
                    size_t err_len)
{
    (void)width;
    (void)height;
    (void)fps; /* learned when the camera answers */
    const char *host = strstr(url, "://") + 3;
    if (*host == '\0') {
        snprintf(err, err_len, "URL has nothing after the scheme");
        return VG_EURL;
    }
    return 0;
}

/* rtsps://: libavformat's client alone (vigil's reads no TLS). */
static int rtsps_claims(const char *url, char *err, size_t err_len)
{
    char client[16];
    if (vg_source_rtsp_client(url, client, err, err_len) < 0)
        return VG_EURL;
    if (strcmp(client, "vigil") == 0) {
        snprintf(err, err_len, "client=vigil does not read rtsps:// (use ffmpeg)");
        return VG_EURL;
    }
    return 1;
}

#define AV_SOURCE_OPS(sym, scheme_name, claims_fn)                                            \
    const vg_source_ops_t sym = {                                                             \
        .name = scheme_name,                                                                  \
        .scheme = scheme_name,                                                                \
        .probe = av_probe,                                                                    \
        .claims = claims_fn,                                                                  \
        .open = av_open,                                                                      \
        .read = av_read,                                                                      \
        .interrupt = NULL, /* the interrupt callback polls the stop flag */                  \
        .close = av_close,                                                                    \
    }

AV_SOURCE_OPS(vg_source_rtsp_ops, "rtsp", NULL); /* what vigil's does not claim */
AV_SOURCE_OPS(vg_source_rtsps_ops, "rtsps", rtsps_claims);
AV_SOURCE_OPS(vg_source_http_ops, "http", NULL);
AV_SOURCE_OPS(vg_source_https_ops, "https", NULL);
AV_SOURCE_OPS(vg_source_file_ops, "file", NULL);
AV_SOURCE_OPS(vg_source_v4l2_ops, "v4l2", NULL);
