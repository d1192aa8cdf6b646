/* rtp_send: an Annex B H.264/H.265 elementary stream sent as RTP over UDP through media/rtp, the
 * way the RTSP server will packetize a lane, so that a real receiver can be checked against
 * the source (tests/integration/test_rtp_ffmpeg.py has FFmpeg decode it).
 *
 *   rtp_send IN.h264|IN.hevc OUT.sdp PORT FPS PAYLOAD_MAX
 *
 * libavformat's raw demuxer splits IN into access units (as a camera's depacketizer would hand
 * them over). The tool writes OUT.sdp for a receiver on 127.0.0.1:PORT (RTCP on PORT+1), then
 * waits for a line on stdin (the receiver is listening), then sends every access unit at FPS
 * in real time, an RTCP sender report each second and an RTCP sender report and BYE at the end (FFmpeg's RTP
 * demuxer ends the stream on it). Sequence numbers and timestamps start just before their
 * wrap (65500 and 2^32 - 1 s of 90 kHz), so a 2-second stream crosses both.
 * Exits 1 with a message on any error, including a parameter set change mid-stream (one SDP).
 */
#include <arpa/inet.h>
#include <libavformat/avformat.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "media/h26x.h"
#include "media/rtp.h"

#define FIRST_SEQ 65500
#define BASE_RTP_TS (0u - (uint32_t)VG_RTP_CLOCK_HZ)
#define SSRC 0x7649474cu /* "vIGL" */
#define CAPTURE_BASE_US 1700000000000000LL

typedef struct au_list {
    vg_frame_t **aus;
    size_t n, cap;
} au_list_t;

static int read_aus(const char *path, vg_h26x_params_t *ps, au_list_t *list)
{
    AVFormatContext *in = NULL;
    AVPacket *pkt = av_packet_alloc();
    int rc = -1;
    if (avformat_open_input(&in, path, NULL, NULL) < 0 ||
        avformat_find_stream_info(in, NULL) < 0 || in->nb_streams != 1) {
        fprintf(stderr, "%s: cannot read one stream\n", path);
        goto out;
    }
    enum AVCodecID id = in->streams[0]->codecpar->codec_id;
    ps->codec = id == AV_CODEC_ID_H264 ? VG_CODEC_H264
                : id == AV_CODEC_ID_HEVC ? VG_CODEC_H265 : VG_CODEC_NONE;
    if (ps->codec == VG_CODEC_NONE) {
        fprintf(stderr, "%s: not H.264/H.265\n", path);
        goto out;
    }
    while (av_read_frame(in, pkt) >= 0) {
        int changed = vg_h26x_params_update(ps, pkt->data, (size_t)pkt->size);
        if (changed < 0 || (changed > 0 && list->n > 0)) {
            fprintf(stderr, "parameter sets %s\n", changed < 0 ? "too long" : "changed");
            goto out;
        }
        if (!vg_h26x_params_complete(ps)) { /* before the first IDR: nothing decodes yet */
            av_packet_unref(pkt);
            continue;
        }
        vg_frame_t *au = vg_frame_new((size_t)pkt->size);
        memcpy(au->data, pkt->data, (size_t)pkt->size);
        au->len = (size_t)pkt->size;
        au->meta.codec = ps->codec;
        au->meta.is_key = vg_h26x_has_keyframe(ps->codec, au->data, au->len);
        av_packet_unref(pkt);
        if (list->n == list->cap) {
            list->cap = list->cap ? 2 * list->cap : 64;
            list->aus = realloc(list->aus, list->cap * sizeof(*list->aus));
            if (list->aus == NULL)
                abort();
        }
        list->aus[list->n++] = au;
    }
    rc = list->n > 0 ? 0 : -1;
    if (rc < 0)
        fprintf(stderr, "no access unit with complete parameter sets\n");
out:
    av_packet_free(&pkt);
    avformat_close_input(&in);
    return rc;
}

static int write_sdp(const char *path, const vg_h26x_params_t *ps, int port)
{
    char media[8192];
    int n = vg_rtp_sdp_media(ps, 96, port, NULL, media, sizeof(media));
    if (n < 0) {
        fprintf(stderr, "sdp: %s\n", vg_strerror(n));
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=vigil rtp_send\r\nc=IN IP4 127.0.0.1\r\n"
               "t=0 0\r\n%s",
            media);
    return fclose(f) == 0 ? 0 : -1;
}

static int send_to(int fd, int port, const uint8_t *buf, size_t len)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ssize_t n = sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to));
    if (n != (ssize_t)len) {
        perror("sendto");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: rtp_send IN OUT.sdp PORT FPS PAYLOAD_MAX\n");
        return 2;
    }
    long port = strtol(argv[3], NULL, 10), fps = strtol(argv[4], NULL, 10);
    long payload_max = strtol(argv[5], NULL, 10);
    if (port <= 0 || port >= 65535 || fps <= 0 || fps > 1000 || payload_max <= 0) {
        fprintf(stderr, "bad PORT, FPS or PAYLOAD_MAX\n");
        return 2;
    }
    vg_h26x_params_t ps = {0};
    au_list_t list = {0};
    vg_rtp_packetizer_t *p = NULL;
    int fd = -1, rc = 1;
    if (read_aus(argv[1], &ps, &list) < 0 || write_sdp(argv[2], &ps, (int)port) < 0)
        goto out;
    vg_rtp_cfg_t cfg = {.codec = ps.codec, .payload_type = 96, .ssrc = SSRC,
                        .first_seq = FIRST_SEQ, .payload_max = (size_t)payload_max};
    int err = vg_rtp_packetizer_new(&cfg, &p);
    if (err < 0) {
        fprintf(stderr, "packetizer: %s\n", vg_strerror(err));
        goto out;
    }
    if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0) {
        perror("socket");
        goto out;
    }
    printf("ready %zu access units\n", list.n);
    fflush(stdout);
    char line[16];
    if (fgets(line, sizeof(line), stdin) == NULL) { /* the receiver is listening */
        fprintf(stderr, "stdin closed before the go\n");
        goto out;
    }
    uint32_t packets = 0, octets = 0;
    size_t total_packets = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (size_t i = 0; i < list.n; i++) {
        int64_t capture_us = CAPTURE_BASE_US + (int64_t)i * 1000000 / fps;
        uint32_t ts = vg_rtp_timestamp(capture_us, CAPTURE_BASE_US, BASE_RTP_TS);
        vg_frame_t **pkts = NULL;
        size_t n = 0;
        list.aus[i]->meta.capture_us = capture_us;
        if ((err = vg_rtp_packetize(p, list.aus[i], ts, &pkts, &n)) < 0) {
            fprintf(stderr, "packetize: %s\n", vg_strerror(err));
            goto out;
        }
        for (size_t k = 0; k < n && err == 0; k++) {
            err = send_to(fd, (int)port, pkts[k]->data, pkts[k]->len);
            packets++;
            octets += (uint32_t)(pkts[k]->len - VG_RTP_HEADER_LEN);
        }
        total_packets += n;
        vg_rtp_packets_free(&pkts, n);
        if (err < 0)
            goto out;
        if (i % (size_t)fps == 0) {
            uint8_t sr[VG_RTCP_SR_MAX];
            int len = vg_rtp_sender_report(SSRC, capture_us, ts, packets, octets, "rtp_send",
                                           sr, sizeof(sr));
            if (len < 0 || send_to(fd, (int)port + 1, sr, (size_t)len) < 0)
                goto out;
        }
        next.tv_nsec += 1000000000L / fps;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    /* SR + BYE in one compound packet: the receiver's stream ends. */
    uint8_t bye[VG_RTCP_SR_MAX + VG_RTCP_BYE_LEN];
    uint32_t end_ts = vg_rtp_timestamp(CAPTURE_BASE_US + (int64_t)list.n * 1000000 / fps,
                                       CAPTURE_BASE_US, BASE_RTP_TS);
    int sr_len = vg_rtp_sender_report(SSRC, CAPTURE_BASE_US + (int64_t)list.n * 1000000 / fps,
                                      end_ts, packets, octets, "rtp_send", bye, sizeof(bye));
    if (sr_len < 0 || vg_rtp_bye(SSRC, bye + sr_len, sizeof(bye) - (size_t)sr_len) < 0 ||
        send_to(fd, (int)port + 1, bye, (size_t)sr_len + VG_RTCP_BYE_LEN) < 0)
        goto out;
    printf("sent %zu access units in %zu packets, next seq %u\n", list.n, total_packets,
           (unsigned)vg_rtp_packetizer_next_seq(p));
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    vg_rtp_packetizer_free(&p);
    for (size_t i = 0; i < list.n; i++)
        vg_frame_unref(&list.aus[i]);
    free(list.aus);
    return rc;
}
