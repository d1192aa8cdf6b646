/* av_read_hold: when libavformat's RTSP demuxer hands over an H.264/H.265 access unit,
 * measured against the camera's capture clock, with its parsers (as vigil's av_source reads
 * a camera) and without (AVFMT_FLAG_NOPARSE: each NAL unit as it is depacketized). Run both
 * at once on one camera; the difference is how long the parser holds an access unit
 * (bench/rtsp_glass.py, docs/benchmarks.md "RTSP glass to glass (issue 16)").
 *
 *   av_read_hold URL SECONDS [noparse]
 *
 * Opens URL with av_source.c's options (TCP, nobuffer, max_delay 200 ms, reorder queue 16,
 * no find_stream_info), reads for SECONDS and prints one JSON line: per access unit, the
 * wall-clock time it was complete (parsed: its packet came out of av_read_frame; noparse: the
 * last NAL unit carrying its pts came out) minus its capture time (start_time_realtime +
 * pts, the camera's clock from RTCP sender reports): n, p50, p95 in ms. Access units before
 * the first sender report (no start_time_realtime yet) are not counted. */
#include <libavformat/avformat.h>
#include <libavutil/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AUS 100000

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: av_read_hold URL SECONDS [noparse]\n");
        return 2;
    }
    const char *url = argv[1];
    double seconds = atof(argv[2]);
    int noparse = argc > 3 && strcmp(argv[3], "noparse") == 0;
    int rc = 1;
    AVFormatContext *ic = NULL;
    AVDictionary *opts = NULL;
    AVPacket *pkt = av_packet_alloc();
    int64_t *lat = calloc(MAX_AUS, sizeof(*lat));
    size_t n = 0;

    av_log_set_level(AV_LOG_ERROR);
    av_dict_set(&opts, "rtsp_transport", "tcp", 0);
    av_dict_set(&opts, "timeout", "5000000", 0);
    av_dict_set(&opts, "max_delay", "200000", 0);
    av_dict_set(&opts, "reorder_queue_size", "16", 0);
    ic = avformat_alloc_context();
    ic->flags |= AVFMT_FLAG_NOBUFFER;
    if (noparse)
        ic->flags |= AVFMT_FLAG_NOPARSE | AVFMT_FLAG_NOFILLIN;
    ic->probesize = 512 * 1024;
    ic->max_analyze_duration = 1000000;
    if (avformat_open_input(&ic, url, NULL, &opts) < 0) {
        fprintf(stderr, "av_read_hold: cannot open %s\n", url);
        goto out;
    }
    int vi = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (vi < 0) {
        fprintf(stderr, "av_read_hold: no video in %s\n", url);
        goto out;
    }
    AVRational tb = ic->streams[vi]->time_base;
    int64_t end = av_gettime_relative() + (int64_t)(seconds * 1e6);
    int64_t cur_pts = AV_NOPTS_VALUE, cur_wall = 0, last_pts = AV_NOPTS_VALUE;
    int64_t last_real = AV_NOPTS_VALUE;
    /* What else would move a capture time computed as vigil's av_source does: video packets
     * without a pts, a pts not after the previous one, start_time_realtime changing. */
    size_t no_pts = 0, pts_back = 0, pts_equal = 0, real_changes = 0, packets = 0;
    long last_no_pts_at = -1; /* the video packet's index, from 0 */
    while (av_gettime_relative() < end && n < MAX_AUS) {
        if (av_read_frame(ic, pkt) < 0)
            break;
        int64_t now = av_gettime();
        if (pkt->stream_index == vi && !noparse) {
            if (pkt->pts == AV_NOPTS_VALUE) {
                no_pts++;
                last_no_pts_at = (long)packets;
            } else {
                if (last_pts != AV_NOPTS_VALUE) {
                    pts_back += pkt->pts < last_pts;
                    pts_equal += pkt->pts == last_pts;
                }
                last_pts = pkt->pts;
            }
            if (ic->start_time_realtime != last_real) {
                real_changes += last_real != AV_NOPTS_VALUE;
                last_real = ic->start_time_realtime;
            }
        }
        packets += pkt->stream_index == vi;
        if (pkt->stream_index == vi && pkt->pts != AV_NOPTS_VALUE) {
            if (!noparse) {
                cur_pts = pkt->pts;
                cur_wall = now;
            }
            /* noparse: an access unit is complete when the next one's first NAL arrives, but
             * its last NAL's arrival is when it was (for the parser-free reader that honours
             * the RTP marker). */
            if (noparse && pkt->pts != cur_pts && cur_pts != AV_NOPTS_VALUE &&
                ic->start_time_realtime != AV_NOPTS_VALUE) {
                int64_t cap = ic->start_time_realtime + av_rescale_q(cur_pts, tb, AV_TIME_BASE_Q);
                lat[n++] = cur_wall - cap;
            }
            if (!noparse && ic->start_time_realtime != AV_NOPTS_VALUE) {
                int64_t cap = ic->start_time_realtime + av_rescale_q(cur_pts, tb, AV_TIME_BASE_Q);
                lat[n++] = cur_wall - cap;
            }
            cur_pts = pkt->pts;
            cur_wall = now;
        }
        av_packet_unref(pkt);
    }
    qsort(lat, n, sizeof(*lat), cmp_i64);
    printf("{\"mode\": \"%s\", \"n\": %zu, \"p50_ms\": %.2f, \"p95_ms\": %.2f, "
           "\"no_pts\": %zu, \"pts_back\": %zu, \"pts_equal\": %zu, "
           "\"start_time_realtime_changes\": %zu, \"video_packets\": %zu, "
           "\"last_no_pts_at\": %ld}\n",
           noparse ? "noparse" : "parsed", n, n ? lat[n / 2] / 1000.0 : -1.0,
           n ? lat[(n * 95) / 100] / 1000.0 : -1.0, no_pts, pts_back, pts_equal, real_changes, packets,
           last_no_pts_at);
    rc = n ? 0 : 1;
out:
    av_dict_free(&opts);
    avformat_close_input(&ic);
    av_packet_free(&pkt);
    free(lat);
    return rc;
}
