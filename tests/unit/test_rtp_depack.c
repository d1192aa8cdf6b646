/* Tests for media/rtp_depack: real x264/x265 access units (h26x_streams.h) cut into RTP by
 * media/rtp.c (single NAL units, STAP-A/AP, FU-A/FU) come back byte for byte at their marker;
 * a lost, duplicated or unmarked packet; AAC-hbr frames whole and in fragments; RTCP sender
 * reports; and hostile packets. */
#include <stdbool.h>

#include "core/err.h"
#include "h26x_streams.h"
#include "media/h26x.h"
#include "media/rtp.h"
#include "media/rtp_depack.h"
#include "vg_test.h"

typedef struct got {
    int units, lost, damaged;
    uint8_t *last;
    size_t last_len;
    uint32_t last_ts;
    bool last_key;
} got_t;

static void on_unit(void *arg, uint8_t *data, size_t len, uint32_t ts, bool is_key,
                    bool is_damaged)
{
    got_t *g = arg;
    g->damaged += is_damaged;
    free(g->last);
    g->last = data;
    g->last_len = len;
    g->last_ts = ts;
    g->last_key = is_key;
    g->units++;
}

static void on_lost(void *arg)
{
    ((got_t *)arg)->lost++;
}

static vg_rtp_depack_t *depack(vg_codec_t codec, got_t *g)
{
    vg_rtp_depack_cfg_t cfg = {.codec = codec, .payload_type = 96, .on_unit = on_unit,
                               .on_lost = on_lost, .arg = g};
    vg_rtp_depack_t *d = NULL;
    EXPECT_EQ(vg_rtp_depack_new(&cfg, &d), 0);
    return d;
}

static vg_frame_t *au_frame(vg_codec_t codec, const uint8_t *bytes, size_t len)
{
    vg_frame_t *f = vg_frame_new(len);
    memcpy(f->data, bytes, len);
    f->len = len;
    f->meta.codec = codec;
    return f;
}

static vg_rtp_packetizer_t *packetizer(vg_codec_t codec, size_t payload_max)
{
    vg_rtp_cfg_t cfg = {.codec = codec, .payload_type = 96, .ssrc = 0x1234, .first_seq = 65530,
                        .payload_max = payload_max};
    vg_rtp_packetizer_t *p = NULL;
    EXPECT_EQ(vg_rtp_packetizer_new(&cfg, &p), 0);
    return p;
}

/* The NAL units of an Annex B buffer, delimiters (H.264 9, H.265 35) left out, joined with
 * 4-byte start codes: what a packetizer carries, in a form to compare. */
static size_t nal_units(vg_codec_t codec, const uint8_t *au, size_t len, uint8_t *out)
{
    size_t pos = 0, n = 0;
    const uint8_t *nal;
    size_t nal_len;
    while (vg_h26x_next_nal(au, len, &pos, &nal, &nal_len)) {
        int type = vg_h26x_nal_type(codec, nal, nal_len);
        if (type == (codec == VG_CODEC_H264 ? 9 : 35))
            continue;
        memcpy(out + n, "\0\0\0\1", 4);
        memcpy(out + n + 4, nal, nal_len);
        n += 4 + nal_len;
    }
    return n;
}

/* Packetizes au, feeds every packet but those whose bit is set in skip, and checks what comes
 * out right after the packet with the marker. Returns the packet count. */
static size_t round_trip(vg_codec_t codec, const uint8_t *au, size_t len, size_t payload_max,
                         got_t *g, vg_rtp_depack_t *d, vg_rtp_packetizer_t *p, uint32_t ts,
                         uint64_t skip)
{
    vg_frame_t *f = au_frame(codec, au, len);
    vg_frame_t **pkts = NULL;
    size_t n = 0;
    EXPECT_EQ(vg_rtp_packetize(p, f, ts, &pkts, &n), 0);
    (void)payload_max;
    int before = g->units;
    for (size_t i = 0; i < n; i++) {
        if (i < 64 && (skip >> i) & 1)
            continue;
        EXPECT_EQ(vg_rtp_depack_push(d, pkts[i]->data, pkts[i]->len), 0);
        if (i + 1 < n)
            EXPECT_EQ(g->units, before); /* nothing before the marker */
    }
    vg_rtp_packets_free(&pkts, n);
    vg_frame_unref(&f);
    return n;
}

static void check_same(vg_codec_t codec, const uint8_t *au, size_t len, const got_t *g)
{
    static uint8_t want[1 << 18], have[1 << 18];
    size_t wn = nal_units(codec, au, len, want);
    size_t hn = nal_units(codec, g->last, g->last_len, have);
    EXPECT_EQ(hn, wn);
    EXPECT_TRUE(wn == hn && memcmp(want, have, wn) == 0);
}

VG_TEST(h264_access_units_come_back_whole_at_their_marker)
{
    /* 1400: SPS and PPS in a STAP-A, the slice in FU-A; 100: fragments everywhere; 65000:
     * single NAL units where they fit. */
    size_t sizes[] = {1400, 16, 65000};
    for (size_t s = 0; s < 3; s++) {
        got_t g = {0};
        vg_rtp_depack_t *d = depack(VG_CODEC_H264, &g);
        vg_rtp_packetizer_t *p = packetizer(VG_CODEC_H264, sizes[s]);
        size_t n = round_trip(VG_CODEC_H264, b720_au1, sizeof(b720_au1), sizes[s], &g, d, p,
                              90000, 0);
        EXPECT_TRUE(n >= 1);
        EXPECT_EQ(g.units, 1);
        EXPECT_EQ(g.lost, 0);
        EXPECT_EQ(g.last_ts, 90000);
        EXPECT_TRUE(g.last_key);
        check_same(VG_CODEC_H264, b720_au1, sizeof(b720_au1), &g);
        /* the next one too, across the sequence number wrap (first_seq 65530) */
        round_trip(VG_CODEC_H264, b720_au1, sizeof(b720_au1), sizes[s], &g, d, p, 93000, 0);
        EXPECT_EQ(g.units, 2);
        EXPECT_EQ(g.last_ts, 93000);
        vg_rtp_depack_stats_t st;
        vg_rtp_depack_stats(d, &st);
        EXPECT_EQ(st.seq_gaps, 0);
        free(g.last);
        vg_rtp_depack_free(&d);
        vg_rtp_packetizer_free(&p);
        EXPECT_TRUE(d == NULL);
    }
}

VG_TEST(h265_access_units_come_back_whole_at_their_marker)
{
    size_t sizes[] = {1400, 16};
    for (size_t s = 0; s < 2; s++) {
        got_t g = {0};
        vg_rtp_depack_t *d = depack(VG_CODEC_H265, &g);
        vg_rtp_packetizer_t *p = packetizer(VG_CODEC_H265, sizes[s]);
        round_trip(VG_CODEC_H265, m362_au1, sizeof(m362_au1), sizes[s], &g, d, p, 5, 0);
        EXPECT_EQ(g.units, 1);
        EXPECT_EQ(g.lost, 0);
        EXPECT_TRUE(g.last_key);
        check_same(VG_CODEC_H265, m362_au1, sizeof(m362_au1), &g);
        free(g.last);
        vg_rtp_depack_free(&d);
        vg_rtp_packetizer_free(&p);
    }
}

VG_TEST(a_lost_fragment_leaves_the_rest_handed_out_for_decoders_to_conceal)
{
    got_t g = {0};
    vg_rtp_depack_t *d = depack(VG_CODEC_H264, &g);
    vg_rtp_packetizer_t *p = packetizer(VG_CODEC_H264, 16);
    /* 16-byte payloads: SPS in two FU-A fragments, PPS, the IDR slice with the marker.
     * The SPS's last fragment lost: the unit comes, damaged, with the SPS cut short. */
    size_t n = round_trip(VG_CODEC_H264, b720_au1, sizeof(b720_au1), 16, &g, d, p, 0,
                          1u << 1);
    EXPECT_EQ(n, 4);
    EXPECT_EQ(g.lost, 0);
    EXPECT_EQ(g.units, 1);
    EXPECT_EQ(g.damaged, 1);
    EXPECT_TRUE(g.last_key);
    EXPECT_TRUE(g.last_len < sizeof(b720_au1));
    /* The first packet lost: a whole access unit may have gone before it (told), and the rest
     * of that NAL unit cannot be placed and is left out. */
    round_trip(VG_CODEC_H264, b720_au1, sizeof(b720_au1), 16, &g, d, p, 3000, 1u << 0);
    EXPECT_EQ(g.lost, 1);
    EXPECT_EQ(g.units, 2);
    EXPECT_EQ(g.damaged, 2);
    EXPECT_TRUE(g.last_key);
    EXPECT_TRUE(g.last_len < sizeof(b720_au1) - 20);
    vg_rtp_depack_stats_t st;
    vg_rtp_depack_stats(d, &st);
    EXPECT_EQ(st.damaged_units, 2);
    /* the next whole one is whole */
    round_trip(VG_CODEC_H264, b720_au1, sizeof(b720_au1), 16, &g, d, p, 6000, 0);
    EXPECT_EQ(g.units, 3);
    EXPECT_EQ(g.damaged, 2);
    EXPECT_EQ(g.lost, 1);
    check_same(VG_CODEC_H264, b720_au1, sizeof(b720_au1), &g);
    free(g.last);
    vg_rtp_depack_free(&d);
    vg_rtp_packetizer_free(&p);
}

/* A hand-made H.264 packet: seq, ts, marker, payload. */
static size_t rtp(uint8_t *out, uint16_t seq, uint32_t ts, bool marker, const uint8_t *payload,
                  size_t len)
{
    uint8_t h[12] = {0x80, (uint8_t)(96 | (marker ? 0x80 : 0)), (uint8_t)(seq >> 8),
                     (uint8_t)seq, (uint8_t)(ts >> 24), (uint8_t)(ts >> 16), (uint8_t)(ts >> 8),
                     (uint8_t)ts, 0, 0, 0, 1};
    memcpy(out, h, 12);
    memcpy(out + 12, payload, len);
    return 12 + len;
}

VG_TEST(without_a_marker_the_next_timestamp_ends_the_access_unit)
{
    got_t g = {0};
    vg_rtp_depack_t *d = depack(VG_CODEC_H264, &g);
    uint8_t pkt[64];
    const uint8_t idr[] = {0x65, 0x88, 0x84, 0x21};
    const uint8_t slice[] = {0x41, 0x9a, 0x02};
    vg_rtp_depack_push(d, pkt, rtp(pkt, 1, 100, false, idr, sizeof(idr)));
    EXPECT_EQ(g.units, 0);
    vg_rtp_depack_push(d, pkt, rtp(pkt, 2, 3100, false, slice, sizeof(slice)));
    EXPECT_EQ(g.units, 1);
    EXPECT_EQ(g.last_ts, 100);
    EXPECT_TRUE(g.last_key);
    EXPECT_EQ(g.last_len, 4 + sizeof(idr));
    /* a duplicate (a camera's retransmission) changes nothing */
    vg_rtp_depack_push(d, pkt, rtp(pkt, 2, 3100, true, slice, sizeof(slice)));
    EXPECT_EQ(g.units, 1);
    vg_rtp_depack_push(d, pkt, rtp(pkt, 3, 3100, true, slice, sizeof(slice)));
    EXPECT_EQ(g.units, 2);
    EXPECT_TRUE(!g.last_key);
    EXPECT_EQ(g.last_len, 2 * (4 + sizeof(slice)));
    EXPECT_EQ(g.lost, 0);
    /* a gap between access units: nothing to drop, but decoders must hear of it */
    vg_rtp_depack_push(d, pkt, rtp(pkt, 9, 6100, true, slice, sizeof(slice)));
    EXPECT_EQ(g.lost, 1);
    EXPECT_EQ(g.units, 3);
    vg_rtp_depack_push(d, pkt, rtp(pkt, 10, 9100, true, slice, sizeof(slice)));
    EXPECT_EQ(g.units, 4);
    EXPECT_EQ(g.lost, 1);
    free(g.last);
    vg_rtp_depack_free(&d);
}

VG_TEST(hostile_packets_are_refused_or_dropped)
{
    got_t g = {0};
    vg_rtp_depack_t *d = depack(VG_CODEC_H264, &g);
    uint8_t pkt[64];
    EXPECT_EQ(vg_rtp_depack_push(d, pkt, 5), VG_EPROTO);
    const uint8_t slice[] = {0x41, 0x9a};
    size_t n = rtp(pkt, 1, 0, true, slice, sizeof(slice));
    pkt[0] = 0x40; /* version 1 */
    EXPECT_EQ(vg_rtp_depack_push(d, pkt, n), VG_EPROTO);
    pkt[0] = 0x8f; /* 15 CSRCs: longer than the packet */
    EXPECT_EQ(vg_rtp_depack_push(d, pkt, n), VG_EPROTO);
    pkt[0] = 0xa0; /* padding longer than the packet */
    pkt[n - 1] = 200;
    EXPECT_EQ(vg_rtp_depack_push(d, pkt, n), VG_EPROTO);
    /* a STAP-A whose size runs past its packet */
    const uint8_t stap[] = {24, 0x00, 0x40, 0x67, 0x42};
    EXPECT_EQ(vg_rtp_depack_push(d, pkt, rtp(pkt, 2, 0, true, stap, sizeof(stap))), 0);
    /* FU-B (interleaved mode) */
    const uint8_t fub[] = {29, 0x85, 0, 1, 2};
    EXPECT_EQ(vg_rtp_depack_push(d, pkt, rtp(pkt, 3, 10, true, fub, sizeof(fub))), 0);
    /* another payload type: ignored */
    n = rtp(pkt, 4, 20, true, slice, sizeof(slice));
    pkt[1] = 0x80 | 97;
    EXPECT_EQ(vg_rtp_depack_push(d, pkt, n), 0);
    EXPECT_EQ(g.units, 0);
    EXPECT_EQ(g.lost, 2);
    /* an access unit that never ends grows to the bound, then is dropped */
    static uint8_t big[60000];
    big[0] = 0x41;
    uint16_t seq = 5;
    for (int i = 0; i < (int)(VG_RTP_DEPACK_MAX_AU / sizeof(big)) + 2; i++) {
        static uint8_t p2[sizeof(big) + 12];
        vg_rtp_depack_push(d, p2, rtp(p2, seq++, 30, false, big, sizeof(big)));
    }
    vg_rtp_depack_push(d, pkt, rtp(pkt, seq++, 30, true, slice, sizeof(slice)));
    EXPECT_EQ(g.units, 0);
    EXPECT_EQ(g.lost, 3);
    vg_rtp_depack_free(&d);
    const vg_rtp_depack_cfg_t jpeg = {.codec = VG_CODEC_JPEG};
    EXPECT_EQ(vg_rtp_depack_new(&jpeg, &d), VG_EINVAL);
}

VG_TEST(aac_frames_whole_and_in_fragments)
{
    got_t g = {0};
    vg_rtp_depack_t *d = depack(VG_CODEC_AAC, &g);
    vg_rtp_packetizer_t *p = packetizer(VG_CODEC_AAC, 200);
    static uint8_t frame[1000];
    for (size_t i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7);
    size_t lens[] = {150, 1000, 196, 197};
    uint32_t ts = 0;
    for (size_t c = 0; c < 4; c++) {
        vg_frame_t *f = au_frame(VG_CODEC_AAC, frame, lens[c]);
        vg_frame_t **pkts = NULL;
        size_t n = 0;
        EXPECT_EQ(vg_rtp_packetize(p, f, ts, &pkts, &n), 0);
        for (size_t i = 0; i < n; i++)
            EXPECT_EQ(vg_rtp_depack_push(d, pkts[i]->data, pkts[i]->len), 0);
        EXPECT_EQ(g.units, (int)c + 1);
        EXPECT_EQ(g.last_len, lens[c]);
        EXPECT_TRUE(g.last_len == lens[c] && memcmp(g.last, frame, lens[c]) == 0);
        EXPECT_EQ(g.last_ts, ts);
        vg_rtp_packets_free(&pkts, n);
        vg_frame_unref(&f);
        ts += 1024;
    }
    /* a fragment lost: that frame is dropped, the next comes whole */
    vg_frame_t *f = au_frame(VG_CODEC_AAC, frame, 1000);
    vg_frame_t **pkts = NULL;
    size_t n = 0;
    EXPECT_EQ(vg_rtp_packetize(p, f, ts, &pkts, &n), 0);
    EXPECT_TRUE(n >= 4);
    for (size_t i = 0; i < n; i++)
        if (i != 1)
            vg_rtp_depack_push(d, pkts[i]->data, pkts[i]->len);
    vg_rtp_packets_free(&pkts, n);
    EXPECT_EQ(g.units, 4);
    EXPECT_TRUE(g.lost >= 1);
    EXPECT_EQ(vg_rtp_packetize(p, f, ts + 1024, &pkts, &n), 0);
    for (size_t i = 0; i < n; i++)
        vg_rtp_depack_push(d, pkts[i]->data, pkts[i]->len);
    EXPECT_EQ(g.units, 5);
    EXPECT_TRUE(g.last_len == 1000 && memcmp(g.last, frame, 1000) == 0);
    vg_rtp_packets_free(&pkts, n);
    vg_frame_unref(&f);
    free(g.last);
    vg_rtp_depack_free(&d);
    vg_rtp_packetizer_free(&p);
}

VG_TEST(sender_reports_give_the_camera_clock)
{
    uint8_t sr[VG_RTCP_SR_MAX + VG_RTCP_BYE_LEN];
    int n = vg_rtp_sender_report(0x1234, 1700000000123456, 424242, 10, 1000, "cam", sr,
                                 sizeof(sr));
    EXPECT_TRUE(n > 0);
    int64_t us = 0;
    uint32_t ts = 0;
    EXPECT_EQ(vg_rtcp_parse_sender_report(sr, (size_t)n, &us, &ts), 0);
    EXPECT_TRUE(us >= 1700000000123455 && us <= 1700000000123456); /* NTP fraction rounds */
    EXPECT_EQ(ts, 424242);
    /* a BYE alone, a receiver report, garbage: none */
    int b = vg_rtp_bye(0x1234, sr, sizeof(sr));
    EXPECT_EQ(vg_rtcp_parse_sender_report(sr, (size_t)b, &us, &ts), VG_ENOENT);
    const uint8_t rr[8] = {0x80, 201, 0, 1, 0, 0, 0, 1};
    EXPECT_EQ(vg_rtcp_parse_sender_report(rr, sizeof(rr), &us, &ts), VG_ENOENT);
    const uint8_t cut[12] = {0x80, 200, 0, 6, 0, 0, 0, 1};
    EXPECT_EQ(vg_rtcp_parse_sender_report(cut, sizeof(cut), &us, &ts), VG_ENOENT);
}
