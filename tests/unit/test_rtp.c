/* Tests for media/rtp: RTP headers, the marker, sequence number wrap, STAP-A/AP aggregation and
 * FU-A/FU fragmentation checked by a depacketizer written here from RFC 6184 §5.6-5.8 and
 * RFC 7798 §4.4 (it shares no code with rtp.c), payload size bounds, the SDP of real x264 and
 * x265 parameter sets, RTCP sender reports and BYE, and the 90 kHz timestamp helper.
 *
 * b720_au1 and m362_au1 are the first access units of the b720 (x264 baseline 720p) and m362
 * (x265 Main) clips in h26x_streams.h (see there for how they were made).
 * Expected SDP values, none from rtp.c: the SPS's bytes 1-3 (42c01f) for profile-level-id, and
 * base64 of each parameter set from
 *   python3 -c "import base64; print(base64.b64encode(bytes.fromhex('<nal>')).decode())"
 * NTP values: 1700000000 + 2208988800 = 3908988800 s; 123456 µs = (123456 << 32) // 10**6 =
 * 530239482 (python3).
 */
#include <stdbool.h>

#include "core/err.h"
#include "h26x_streams.h"
#include "media/h26x.h"
#include "media/rtp.h"
#include "media/stream.h"
#include "vg_test.h"


/* ---- a depacketizer from the RFCs, independent of rtp.c ---- */

typedef struct depack {
    vg_codec_t codec;
    uint8_t out[1 << 18]; /* the NAL units received, each after a 4-byte start code */
    size_t out_len;
    uint8_t fu[1 << 17]; /* the NAL unit being reassembled from fragments */
    size_t fu_len;
    bool in_fu;
    int errors;
} depack_t;

static uint16_t be16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void depack_error(depack_t *d, const char *why)
{
    fprintf(stderr, "depacketizer: %s\n", why);
    d->errors++;
}

static void depack_emit(depack_t *d, const uint8_t *nal, size_t len)
{
    if (len == 0 || d->out_len + 4 + len > sizeof(d->out)) {
        depack_error(d, "empty or oversize NAL unit");
        return;
    }
    static const uint8_t code[4] = {0, 0, 0, 1};
    memcpy(d->out + d->out_len, code, 4);
    memcpy(d->out + d->out_len + 4, nal, len);
    d->out_len += 4 + len;
}

/* STAP-A (RFC 6184 §5.7.1) or AP (RFC 7798 §4.4.2): 16-bit size, NAL unit, repeated. */
static void depack_aggregate(depack_t *d, const uint8_t *p, size_t len, size_t skip)
{
    int units = 0;
    for (size_t at = skip; at < len; units++) {
        if (at + 2 > len || at + 2 + be16(p + at) > len) {
            depack_error(d, "aggregation unit past the packet");
            return;
        }
        depack_emit(d, p + at + 2, be16(p + at));
        at += 2 + be16(p + at);
    }
    if (units < 2)
        depack_error(d, "aggregation packet with fewer than two units");
}

/* FU-A (RFC 6184 §5.8) or FU (RFC 7798 §4.4.3). */
static void depack_fragment(depack_t *d, const uint8_t *hdr, size_t hdr_len, uint8_t fu_header,
                            const uint8_t *data, size_t len)
{
    bool start = fu_header & 0x80, end = fu_header & 0x40;
    if (start && end)
        depack_error(d, "fragment with both S and E");
    if (start == d->in_fu)
        depack_error(d, start ? "S inside a fragmented unit" : "fragment without an S before");
    if (start) {
        memcpy(d->fu, hdr, hdr_len);
        d->fu_len = hdr_len;
        d->in_fu = true;
    }
    if (d->fu_len + len > sizeof(d->fu)) {
        depack_error(d, "fragmented unit too long");
        return;
    }
    memcpy(d->fu + d->fu_len, data, len);
    d->fu_len += len;
    if (end) {
        depack_emit(d, d->fu, d->fu_len);
        d->in_fu = false;
    }
}

static void depack_payload(depack_t *d, const uint8_t *p, size_t len)
{
    if (d->codec == VG_CODEC_H264) {
        int type = p[0] & 0x1f;
        if (type >= 1 && type <= 23) {
            depack_emit(d, p, len);
        } else if (type == 24) {
            depack_aggregate(d, p, len, 1);
        } else if (type == 28 && len > 2) {
            uint8_t nal_header = (p[0] & 0xe0) | (p[1] & 0x1f);
            depack_fragment(d, &nal_header, 1, p[1], p + 2, len - 2);
        } else {
            depack_error(d, "unexpected H.264 payload type");
        }
        return;
    }
    int type = (p[0] >> 1) & 0x3f;
    if (len < 2) {
        depack_error(d, "H.265 payload shorter than its header");
    } else if (type < 48) {
        depack_emit(d, p, len);
    } else if (type == 48) {
        depack_aggregate(d, p, len, 2);
    } else if (type == 49 && len > 3) {
        uint8_t nal_header[2] = {(uint8_t)((p[0] & 0x81) | (p[2] & 0x3f) << 1), p[1]};
        depack_fragment(d, nal_header, 2, p[2], p + 3, len - 3);
    } else {
        depack_error(d, "unexpected H.265 payload type");
    }
}

typedef struct expect_hdr {
    int payload_type;
    uint32_t ssrc, rtp_ts;
    uint16_t first_seq;
    size_t payload_max;
} expect_hdr_t;

/* Checks every packet of one access unit against the RTP rules and feeds it on. */
static void depack_au(depack_t *d, vg_frame_t **pkts, size_t n, const expect_hdr_t *e)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *h = pkts[i]->data;
        EXPECT_TRUE(pkts[i]->len > 12 && pkts[i]->len <= 12 + e->payload_max);
        EXPECT_TRUE(pkts[i]->headroom >= 4);
        EXPECT_EQ(h[0], 0x80); /* V=2, P=0, X=0, CC=0 */
        EXPECT_EQ(h[1] & 0x7f, e->payload_type);
        EXPECT_EQ((h[1] & 0x80) != 0, i == n - 1); /* marker on the last packet only */
        EXPECT_EQ(be16(h + 2), (uint16_t)(e->first_seq + i));
        EXPECT_EQ(be32(h + 4), e->rtp_ts);
        EXPECT_EQ(be32(h + 8), e->ssrc);
        if (pkts[i]->len > 12)
            depack_payload(d, h + 12, pkts[i]->len - 12);
    }
    EXPECT_TRUE(!d->in_fu);
    EXPECT_EQ(d->errors, 0);
}

/* The access unit as the receiver should see it: its NAL units but the delimiters, each after
 * a 4-byte start code. */
static size_t expected_nals(vg_codec_t codec, const uint8_t *au, size_t len, uint8_t *out)
{
    size_t pos = 0, n = 0, nal_len;
    const uint8_t *nal;
    int aud = codec == VG_CODEC_H264 ? 9 : 35;
    while (vg_h26x_next_nal(au, len, &pos, &nal, &nal_len)) {
        if (vg_h26x_nal_type(codec, nal, nal_len) == aud)
            continue;
        memcpy(out + n, "\0\0\0\1", 4);
        memcpy(out + n + 4, nal, nal_len);
        n += 4 + nal_len;
    }
    return n;
}

static vg_frame_t *au_frame(vg_codec_t codec, const uint8_t *bytes, size_t len)
{
    vg_frame_t *f = vg_frame_new(len);
    memcpy(f->data, bytes, len);
    f->len = len;
    f->meta.codec = codec;
    f->meta.is_key = true;
    f->meta.capture_us = 1700000000123456;
    return f;
}

/* Appends a NAL unit of len bytes (header given, body a deterministic pattern with no start
 * code in it) after a 4-byte start code. */
static size_t add_nal(uint8_t *au, size_t at, const uint8_t *header, size_t header_len,
                      size_t len, uint32_t seed)
{
    memcpy(au + at, "\0\0\0\1", 4);
    memcpy(au + at + 4, header, header_len);
    for (size_t i = header_len; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        au[at + 4 + i] = (uint8_t)(seed >> 16) | 0x01; /* never 0: no emulated start code */
    }
    return at + 4 + len;
}

typedef struct run {
    vg_frame_t **pkts;
    size_t n;
} run_t;

static run_t packetize(vg_rtp_packetizer_t *p, vg_codec_t codec, const uint8_t *au, size_t len,
                       uint32_t ts)
{
    vg_frame_t *f = au_frame(codec, au, len);
    run_t r = {0};
    EXPECT_EQ(vg_rtp_packetize(p, f, ts, &r.pkts, &r.n), 0);
    vg_frame_unref(&f);
    return r;
}

static void check_round_trip(vg_codec_t codec, const uint8_t *au, size_t len,
                             size_t payload_max, uint16_t first_seq)
{
    vg_rtp_cfg_t cfg = {.codec = codec, .payload_type = 96, .ssrc = 0xdeadbeef,
                        .first_seq = first_seq, .payload_max = payload_max};
    vg_rtp_packetizer_t *p = NULL;
    EXPECT_EQ(vg_rtp_packetizer_new(&cfg, &p), 0);
    if (p == NULL)
        return;
    run_t r = packetize(p, codec, au, len, 123456789);
    EXPECT_TRUE(r.n > 0);
    static depack_t d;
    memset(&d, 0, sizeof(d));
    d.codec = codec;
    expect_hdr_t e = {.payload_type = 96, .ssrc = 0xdeadbeef, .rtp_ts = 123456789,
                      .first_seq = first_seq,
                      .payload_max = payload_max ? payload_max : VG_RTP_DEFAULT_PAYLOAD_MAX};
    depack_au(&d, r.pkts, r.n, &e);
    static uint8_t want[1 << 18];
    size_t want_len = expected_nals(codec, au, len, want);
    EXPECT_EQ(d.out_len, want_len);
    EXPECT_TRUE(d.out_len == want_len && memcmp(d.out, want, want_len) == 0);
    EXPECT_EQ(vg_rtp_packetizer_next_seq(p), (uint16_t)(first_seq + r.n));
    vg_rtp_packets_free(&r.pkts, r.n);
    EXPECT_TRUE(r.pkts == NULL);
    vg_rtp_packetizer_free(&p);
}

/* ---- packetization ---- */

VG_TEST(real_access_units_round_trip)
{
    check_round_trip(VG_CODEC_H264, b720_au1, sizeof(b720_au1), 0, 1000);
    check_round_trip(VG_CODEC_H265, m362_au1, sizeof(m362_au1), 0, 1000);
    /* Small payloads: the same units aggregated differently and fragmented. */
    for (size_t max = VG_RTP_PAYLOAD_MIN; max < 64; max += 5) {
        check_round_trip(VG_CODEC_H264, b720_au1, sizeof(b720_au1), max, 7);
        check_round_trip(VG_CODEC_H265, m362_au1, sizeof(m362_au1), max, 7);
    }
}

/* AUD, SPS, PPS, SEI, a large IDR slice: delimiter dropped, the three small units in one STAP-A,
 * the slice in FU-A fragments with S on the first and E on the last only. */
VG_TEST(h264_stap_a_and_fu_a)
{
    static const uint8_t aud[] = {0x09, 0xf0}, sps[] = {0x67, 0x42, 0xc0, 0x1f},
                         pps[] = {0x68, 0xce}, sei[] = {0x06, 0x05}, idr[] = {0x65};
    static uint8_t au[8192];
    size_t len = add_nal(au, 0, aud, 2, 2, 1);
    len = add_nal(au, len, sps, 4, 25, 2);
    len = add_nal(au, len, pps, 2, 5, 3);
    len = add_nal(au, len, sei, 2, 40, 4);
    len = add_nal(au, len, idr, 1, 3000, 5);
    vg_rtp_cfg_t cfg = {.codec = VG_CODEC_H264, .payload_type = 97, .ssrc = 42};
    vg_rtp_packetizer_t *p = NULL;
    EXPECT_EQ(vg_rtp_packetizer_new(&cfg, &p), 0);
    run_t r = packetize(p, VG_CODEC_H264, au, len, 90000);
    /* 3000 - 1 header byte in chunks of 1400 - 2: 1398, 1398, 203. */
    EXPECT_EQ(r.n, 4);
    if (r.n == 4) {
        const uint8_t *stap = r.pkts[0]->data + 12;
        EXPECT_EQ(stap[0], 0x60 | 24); /* NRI the greatest (SPS 3), F 0, type 24 */
        EXPECT_EQ(r.pkts[0]->len, 12 + 1 + (2 + 25) + (2 + 5) + (2 + 40));
        EXPECT_EQ(be16(stap + 1), 25);
        EXPECT_EQ(stap[3], 0x67);
        size_t sizes[3] = {1398, 1398, 203};
        for (int i = 1; i <= 3; i++) {
            const uint8_t *fu = r.pkts[i]->data + 12;
            EXPECT_EQ(fu[0], 0x60 | 28);
            EXPECT_EQ(fu[1], (i == 1 ? 0x80 : 0) | (i == 3 ? 0x40 : 0) | 5);
            EXPECT_EQ(r.pkts[i]->len, 12 + 2 + sizes[i - 1]);
        }
        EXPECT_TRUE(r.pkts[3]->data[1] & 0x80);
        EXPECT_EQ(r.pkts[0]->meta.capture_us, 1700000000123456);
        EXPECT_TRUE(r.pkts[2]->meta.is_key);
    }
    vg_rtp_packets_free(&r.pkts, r.n);
    vg_rtp_packetizer_free(&p);
    check_round_trip(VG_CODEC_H264, au, len, 0, 3);
}

/* VPS (TID 0: temporal_id_plus1 1), SPS, PPS, an IDR slice over the payload size: the AP
 * header has type 48 and the lowest LayerId/TID; the FU payload header type 49 with the
 * unit's LayerId/TID, the FU header its type (19). */
VG_TEST(h265_ap_and_fu)
{
    static const uint8_t aud[] = {0x46, 0x01, 0x10}, vps[] = {0x40, 0x01}, sps[] = {0x42, 0x01},
                         pps[] = {0x44, 0x01}, idr[] = {0x26, 0x01};
    static uint8_t au[8192];
    size_t len = add_nal(au, 0, aud, 3, 3, 1);
    len = add_nal(au, len, vps, 2, 24, 2);
    len = add_nal(au, len, sps, 2, 44, 3);
    len = add_nal(au, len, pps, 2, 7, 4);
    len = add_nal(au, len, idr, 2, 2000, 5);
    vg_rtp_cfg_t cfg = {.codec = VG_CODEC_H265, .payload_type = 96, .ssrc = 42};
    vg_rtp_packetizer_t *p = NULL;
    EXPECT_EQ(vg_rtp_packetizer_new(&cfg, &p), 0);
    run_t r = packetize(p, VG_CODEC_H265, au, len, 0);
    /* 2000 - 2 header bytes in chunks of 1400 - 3: 1397, 601. */
    EXPECT_EQ(r.n, 3);
    if (r.n == 3) {
        const uint8_t *ap = r.pkts[0]->data + 12;
        EXPECT_EQ(ap[0], 48 << 1);
        EXPECT_EQ(ap[1], 0x01);
        EXPECT_EQ(r.pkts[0]->len, 12 + 2 + (2 + 24) + (2 + 44) + (2 + 7));
        for (int i = 1; i <= 2; i++) {
            const uint8_t *fu = r.pkts[i]->data + 12;
            EXPECT_EQ(fu[0], 49 << 1);
            EXPECT_EQ(fu[1], 0x01);
            EXPECT_EQ(fu[2], (i == 1 ? 0x80 : 0x40) | 19);
            EXPECT_EQ(r.pkts[i]->len, 12 + 3 + (i == 1 ? 1397 : 601));
        }
    }
    vg_rtp_packets_free(&r.pkts, r.n);
    vg_rtp_packetizer_free(&p);
    check_round_trip(VG_CODEC_H265, au, len, 0, 3);
}

/* Units of every size around the payload bound, alone and next to small ones, for several
 * bounds: nothing is lost, reordered or over the bound, fragments are well formed. */
VG_TEST(sizes_around_the_payload_bound)
{
    static const size_t maxes[] = {VG_RTP_PAYLOAD_MIN, 17, 100, 1400};
    static const uint8_t h264_hdr[] = {0x41}, h265_hdr[] = {0x02, 0x01};
    static const uint8_t small264[] = {0x06}, small265[] = {0x4e, 0x01};
    static uint8_t au[16384];
    for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
        size_t max = maxes[m];
        for (long delta = -4; delta <= 4; delta++) {
            for (int mult = 1; mult <= 3; mult++) {
                size_t nal_len = (size_t)((long)(mult * max) + delta);
                for (int with_small = 0; with_small <= 1; with_small++) {
                    size_t len = 0;
                    if (with_small)
                        len = add_nal(au, len, small264, 1, 3, 9);
                    len = add_nal(au, len, h264_hdr, 1, nal_len, (uint32_t)nal_len);
                    if (with_small)
                        len = add_nal(au, len, small264, 1, 2, 10);
                    check_round_trip(VG_CODEC_H264, au, len, max, 65530);

                    len = 0;
                    if (with_small)
                        len = add_nal(au, len, small265, 2, 3, 9);
                    len = add_nal(au, len, h265_hdr, 2, nal_len, (uint32_t)nal_len);
                    if (with_small)
                        len = add_nal(au, len, small265, 2, 2, 10);
                    check_round_trip(VG_CODEC_H265, au, len, max, 65530);
                }
            }
        }
    }
}

/* Sequence numbers wrap from 65535 to 0 inside an access unit and continue in the next. */
VG_TEST(sequence_numbers_wrap)
{
    static const uint8_t idr[] = {0x65};
    static uint8_t au[8192];
    size_t len = add_nal(au, 0, idr, 1, 4000, 1); /* 3 fragments */
    vg_rtp_cfg_t cfg = {.codec = VG_CODEC_H264, .payload_type = 96, .first_seq = 65534};
    vg_rtp_packetizer_t *p = NULL;
    EXPECT_EQ(vg_rtp_packetizer_new(&cfg, &p), 0);
    run_t r = packetize(p, VG_CODEC_H264, au, len, 1);
    EXPECT_EQ(r.n, 3);
    for (size_t i = 0; i < r.n; i++)
        EXPECT_EQ(be16(r.pkts[i]->data + 2), (65534 + i) & 0xffff);
    vg_rtp_packets_free(&r.pkts, r.n);
    EXPECT_EQ(vg_rtp_packetizer_next_seq(p), 1);
    run_t r2 = packetize(p, VG_CODEC_H264, au, len, 3001);
    EXPECT_TRUE(r2.n > 0);
    if (r2.n > 0) {
        EXPECT_EQ(be16(r2.pkts[0]->data + 2), 1);
        EXPECT_EQ(be32(r2.pkts[0]->data + 4), 3001);
    }
    vg_rtp_packets_free(&r2.pkts, r2.n);
    vg_rtp_packetizer_free(&p);
}

VG_TEST(nothing_to_send_and_bad_input)
{
    static const uint8_t only_aud[] = {0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x09, 0x10};
    vg_rtp_cfg_t cfg = {.codec = VG_CODEC_H264, .payload_type = 96, .first_seq = 5};
    vg_rtp_packetizer_t *p = NULL;
    EXPECT_EQ(vg_rtp_packetizer_new(&cfg, &p), 0);
    run_t r = packetize(p, VG_CODEC_H264, only_aud, sizeof(only_aud), 0);
    EXPECT_EQ(r.n, 0);
    EXPECT_TRUE(r.pkts == NULL);
    EXPECT_EQ(vg_rtp_packetizer_next_seq(p), 5);

    vg_frame_t *f = au_frame(VG_CODEC_H265, m362_au1, sizeof(m362_au1));
    vg_frame_t **pkts = (vg_frame_t **)&f; /* must be overwritten */
    size_t n = 99;
    EXPECT_EQ(vg_rtp_packetize(p, f, 0, &pkts, &n), VG_EINVAL);
    EXPECT_TRUE(pkts == NULL);
    EXPECT_EQ(n, 0);
    vg_frame_unref(&f);
    vg_rtp_packetizer_free(&p);
    EXPECT_TRUE(p == NULL);

    vg_rtp_cfg_t bad[] = {
        {.codec = VG_CODEC_JPEG, .payload_type = 26},
        {.codec = VG_CODEC_H264, .payload_type = 128},
        {.codec = VG_CODEC_H264, .payload_type = -1},
        {.codec = VG_CODEC_H264, .payload_type = 96, .payload_max = VG_RTP_PAYLOAD_MIN - 1},
        {.codec = VG_CODEC_H265, .payload_type = 96, .payload_max = VG_RTP_PAYLOAD_MAX + 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_EQ(vg_rtp_packetizer_new(&bad[i], &p), VG_EINVAL);
        EXPECT_TRUE(p == NULL);
    }
}

/* ---- timestamps ---- */

VG_TEST(timestamps_at_90_khz)
{
    int64_t base = 1700000000000000;
    EXPECT_EQ(vg_rtp_timestamp(base, base, 1000), 1000);
    EXPECT_EQ(vg_rtp_timestamp(base + 1000000, base, 1000), 91000);
    EXPECT_EQ(vg_rtp_timestamp(base + 33333, base, 0), 2999); /* 2999.97, rounded down */
    EXPECT_EQ(vg_rtp_timestamp(base + 33334, base, 0), 3000); /* 3000.06 */
    EXPECT_EQ(vg_rtp_timestamp(base - 1, base, 1000), 999);   /* -0.09 tick: floor */
    EXPECT_EQ(vg_rtp_timestamp(base - 1000000, base, 0), 4294967296 - 90000);
    EXPECT_EQ(vg_rtp_timestamp(base + 1000000, base, 4294967295u), 89999); /* wraps */
    /* 2^32 ticks of 90 kHz are 47721.858... s: a day later it keeps counting modulo 2^32. */
    EXPECT_EQ(vg_rtp_timestamp(base + 86400000000, base, 0), (86400ull * 90000) % 4294967296);
}

/* ---- SDP ---- */

static void params_of(vg_h26x_params_t *ps, vg_codec_t codec, const uint8_t *au, size_t len)
{
    memset(ps, 0, sizeof(*ps));
    ps->codec = codec;
    EXPECT_EQ(vg_h26x_params_update(ps, au, len), 1);
}

static void expect_sdp(const vg_h26x_params_t *ps, int pt, int port, const char *control,
                       const char *want)
{
    char buf[4096];
    int n = vg_rtp_sdp_media(ps, pt, port, control, buf, sizeof(buf));
    EXPECT_EQ(n, (long long)strlen(want));
    EXPECT_STREQ(buf, want);
    /* Every smaller buffer is refused, never truncated. */
    for (size_t cap = 0; cap <= strlen(want); cap++)
        EXPECT_EQ(vg_rtp_sdp_media(ps, pt, port, control, buf, cap), VG_ENOSPC);
}

VG_TEST(sdp_of_real_parameter_sets)
{
    vg_h26x_params_t ps;
    params_of(&ps, VG_CODEC_H264, b720_au1, sizeof(b720_au1));
    expect_sdp(&ps, 96, 0, "trackID=0",
               "m=video 0 RTP/AVP 96\r\n"
               "a=rtpmap:96 H264/90000\r\n"
               "a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;"
               "sprop-parameter-sets=Z0LAH9kAUAW7ARAAAAMAEAAAAwMg8YMkgA==,aMuDyyA=\r\n"
               "a=control:trackID=0\r\n");
    params_of(&ps, VG_CODEC_H265, m362_au1, sizeof(m362_au1));
    expect_sdp(&ps, 98, 5004, NULL,
               "m=video 5004 RTP/AVP 98\r\n"
               "a=rtpmap:98 H265/90000\r\n"
               "a=fmtp:98 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA/lZgJ;"
               "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA/oAUSAXHJJllZpJMrwFoCAAADAAIAAAMAMhA=;"
               "sprop-pps=RAHBcrRiQA==\r\n");

    char buf[512];
    vg_h26x_params_t none = {.codec = VG_CODEC_H265};
    EXPECT_EQ(vg_rtp_sdp_media(&none, 96, 0, NULL, buf, sizeof(buf)), VG_EPROTO);
    ps.vps_len = 0; /* H.265 without a VPS is incomplete */
    EXPECT_EQ(vg_rtp_sdp_media(&ps, 96, 0, NULL, buf, sizeof(buf)), VG_EPROTO);
    params_of(&ps, VG_CODEC_H264, b720_au1, sizeof(b720_au1));
    EXPECT_EQ(vg_rtp_sdp_media(&ps, 128, 0, NULL, buf, sizeof(buf)), VG_EINVAL);
    EXPECT_EQ(vg_rtp_sdp_media(&ps, 96, 65536, NULL, buf, sizeof(buf)), VG_EINVAL);
}

/* ---- RTCP ---- */

VG_TEST(sender_report_fields)
{
    uint8_t b[VG_RTCP_SR_MAX];
    int n = vg_rtp_sender_report(0x01020304, 1700000000123456, 0xa0b0c0d0, 77, 123456, NULL, b,
                                 sizeof(b));
    EXPECT_EQ(n, 28);
    EXPECT_EQ(b[0], 0x80);
    EXPECT_EQ(b[1], 200);
    EXPECT_EQ(be16(b + 2), 6);
    EXPECT_EQ(be32(b + 4), 0x01020304);
    EXPECT_EQ(be32(b + 8), 3908988800u);
    EXPECT_EQ(be32(b + 12), 530239482u);
    EXPECT_EQ(be32(b + 16), 0xa0b0c0d0u);
    EXPECT_EQ(be32(b + 20), 77);
    EXPECT_EQ(be32(b + 24), 123456);

    /* With an SDES CNAME: 9 characters, items 2 + 9 = 11 bytes, padded to 12 with a zero
     * terminator: chunk 16, packet 20 bytes (length 4 words). */
    n = vg_rtp_sender_report(7, 0, 0, 0, 0, "vigil@cam", b, sizeof(b));
    EXPECT_EQ(n, 28 + 20);
    EXPECT_EQ(be32(b + 8), 2208988800u); /* the Unix epoch in NTP seconds */
    EXPECT_EQ(be32(b + 12), 0);
    EXPECT_EQ(b[28], 0x81);
    EXPECT_EQ(b[29], 202);
    EXPECT_EQ(be16(b + 30), 4);
    EXPECT_EQ(be32(b + 32), 7);
    EXPECT_EQ(b[36], 1);
    EXPECT_EQ(b[37], 9);
    EXPECT_TRUE(memcmp(b + 38, "vigil@cam", 9) == 0);
    EXPECT_EQ(b[47], 0);
    /* 10 characters: items 12 bytes, a whole zero word must follow (RFC 3550 §6.5). */
    n = vg_rtp_sender_report(7, 0, 0, 0, 0, "0123456789", b, sizeof(b));
    EXPECT_EQ(n, 28 + 4 + 4 + 16);
    EXPECT_EQ(be16(b + 30), 5);
    EXPECT_EQ(be32(b + 48), 0);

    EXPECT_EQ(vg_rtp_sender_report(7, 0, 0, 0, 0, NULL, b, 27), VG_ENOSPC);
    EXPECT_EQ(vg_rtp_sender_report(7, 0, 0, 0, 0, "0123456789", b, 51), VG_ENOSPC);
    EXPECT_EQ(vg_rtp_sender_report(7, -1, 0, 0, 0, NULL, b, sizeof(b)), VG_EINVAL);
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    EXPECT_EQ(vg_rtp_sender_report(7, 0, 0, 0, 0, long_name, b, sizeof(b)), VG_EINVAL);
    long_name[255] = '\0';
    EXPECT_EQ(vg_rtp_sender_report(7, 0, 0, 0, 0, long_name, b, sizeof(b)), VG_RTCP_SR_MAX);
}

VG_TEST(bye)
{
    uint8_t b[8];
    EXPECT_EQ(vg_rtp_bye(0x11223344, b, sizeof(b)), 8);
    EXPECT_EQ(b[0], 0x81);
    EXPECT_EQ(b[1], 203);
    EXPECT_EQ(be16(b + 2), 1);
    EXPECT_EQ(be32(b + 4), 0x11223344);
    EXPECT_EQ(vg_rtp_bye(1, b, 7), VG_ENOSPC);
}

/* ---- AAC, RFC 3640 AAC-hbr ---- */

/* A depacketizer from RFC 3640 §3.2-3.3.6, independent of rtp.c: checks the AU header
 * section of each packet (AU-headers-length 16, one header: 13-bit size, index 0), and joins
 * fragments (§3.2.3: same AU-size in each, marker on the last) into out. Returns the number of
 * AUs completed, -1 on any violation. */
static int aac_depack(vg_frame_t **pkts, size_t n, uint8_t *out, size_t *out_len,
                      uint16_t first_seq, uint32_t ts, int pt)
{
    int aus = 0;
    size_t have = 0, au_size = 0;
    *out_len = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *h = pkts[i]->data;
        size_t len = pkts[i]->len;
        bool marker = h[1] & 0x80;
        if (len < 12 + 4 || h[0] != 0x80 || (h[1] & 0x7f) != pt ||
            be16(h + 2) != (uint16_t)(first_seq + i) || be32(h + 4) != ts ||
            pkts[i]->headroom < VG_RTP_INTERLEAVED_LEN)
            return -1;
        const uint8_t *pl = h + 12;
        if (be16(pl) != 16 || (pl[3] & 7) != 0)
            return -1;
        size_t size = be16(pl + 2) >> 3, chunk = len - 16;
        if (have == 0)
            au_size = size;
        else if (size != au_size)
            return -1;
        memcpy(out + *out_len, pl + 4, chunk);
        *out_len += chunk;
        have += chunk;
        if (have > au_size || marker != (have == au_size))
            return -1;
        if (marker) {
            aus++;
            have = 0;
        }
    }
    return have == 0 ? aus : -1;
}

VG_TEST(aac_one_frame_per_packet_and_fragments)
{
    vg_rtp_cfg_t cfg = {.codec = VG_CODEC_AAC, .payload_type = 97, .ssrc = 0x1234,
                        .first_seq = 65534, .payload_max = 200};
    vg_rtp_packetizer_t *p = NULL;
    EXPECT_EQ(vg_rtp_packetizer_new(&cfg, &p), 0);
    static uint8_t frame[VG_RTP_AAC_AU_MAX + 1];
    for (size_t i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7 + 3);
    /* 196 bytes fill one packet exactly (4 header bytes + 196 = 200), 197 need two. */
    struct {
        size_t len, packets;
    } cases[] = {{1, 1}, {196, 1}, {197, 2}, {392, 2}, {393, 3}, {VG_RTP_AAC_AU_MAX, 42}};
    uint16_t seq = 65534;
    static uint8_t got[VG_RTP_AAC_AU_MAX];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        vg_frame_t *au = au_frame(VG_CODEC_AAC, frame, cases[c].len);
        vg_frame_t **pkts = NULL;
        size_t n = 0;
        uint32_t ts = 48000u * (uint32_t)c;
        EXPECT_EQ(vg_rtp_packetize(p, au, ts, &pkts, &n), 0);
        EXPECT_EQ(n, cases[c].packets);
        size_t got_len = 0;
        EXPECT_EQ(aac_depack(pkts, n, got, &got_len, seq, ts, 97), 1);
        EXPECT_EQ(got_len, cases[c].len);
        EXPECT_TRUE(got_len == cases[c].len && memcmp(got, frame, got_len) == 0);
        for (size_t i = 0; i < n; i++) {
            EXPECT_EQ(be32(pkts[i]->data + 8), 0x1234);
            EXPECT_TRUE(pkts[i]->len <= 12 + 200);
        }
        seq = (uint16_t)(seq + n); /* wraps past 65535 */
        EXPECT_EQ(vg_rtp_packetizer_next_seq(p), seq);
        vg_rtp_packets_free(&pkts, n);
        vg_frame_unref(&au);
    }
    /* The exact bytes of a small one: V=2, marker|97, seq, ts, ssrc, 00 10, size 3 << 3. */
    vg_frame_t *au = au_frame(VG_CODEC_AAC, (const uint8_t *)"\x21\x10\x05", 3);
    vg_frame_t **pkts = NULL;
    size_t n = 0;
    EXPECT_EQ(vg_rtp_packetize(p, au, 1024, &pkts, &n), 0);
    static const uint8_t want[] = {0x80, 0xe1, 0, 0, 0, 0, 0x04, 0x00, 0, 0, 0x12, 0x34,
                                   0x00, 0x10, 0x00, 0x18, 0x21, 0x10, 0x05};
    uint8_t want_seq[sizeof(want)];
    memcpy(want_seq, want, sizeof(want));
    want_seq[2] = (uint8_t)(seq >> 8);
    want_seq[3] = (uint8_t)seq;
    EXPECT_EQ(n, 1);
    EXPECT_TRUE(n == 1 && pkts[0]->len == sizeof(want) &&
                memcmp(pkts[0]->data, want_seq, sizeof(want)) == 0);
    vg_rtp_packets_free(&pkts, n);
    vg_frame_unref(&au);

    /* Too long for a 13-bit AU-size, an empty frame, a video AU: refused or nothing. */
    au = au_frame(VG_CODEC_AAC, frame, VG_RTP_AAC_AU_MAX + 1);
    EXPECT_EQ(vg_rtp_packetize(p, au, 0, &pkts, &n), VG_EINVAL);
    EXPECT_TRUE(pkts == NULL && n == 0);
    vg_frame_unref(&au);
    au = au_frame(VG_CODEC_AAC, frame, 0);
    EXPECT_EQ(vg_rtp_packetize(p, au, 0, &pkts, &n), 0);
    EXPECT_TRUE(pkts == NULL && n == 0);
    vg_frame_unref(&au);
    au = au_frame(VG_CODEC_H264, b720_au1, sizeof(b720_au1));
    EXPECT_EQ(vg_rtp_packetize(p, au, 0, &pkts, &n), VG_EINVAL);
    vg_frame_unref(&au);
    vg_rtp_packetizer_free(&p);
}

VG_TEST(aac_timestamps_count_samples)
{
    int64_t base = 1700000000000000;
    EXPECT_EQ(vg_rtp_timestamp_hz(base, base, 7, 48000), 7);
    EXPECT_EQ(vg_rtp_timestamp_hz(base + 1000000, base, 0, 48000), 48000);
    EXPECT_EQ(vg_rtp_timestamp_hz(base + 21333, base, 0, 48000), 1023); /* 1023.98: floor */
    EXPECT_EQ(vg_rtp_timestamp_hz(base + 21334, base, 0, 48000), 1024);
    EXPECT_EQ(vg_rtp_timestamp_hz(base - 1, base, 10, 48000), 9);
    EXPECT_EQ(vg_rtp_timestamp_hz(base + 1000000, base, 0, 90000),
              vg_rtp_timestamp(base + 1000000, base, 0));
    EXPECT_EQ(vg_rtp_timestamp_hz(base + 86400000000, base, 0, 44100),
              (86400ull * 44100) % 4294967296);
}

VG_TEST(aac_sdp)
{
    vg_stream_audio_t a = {.codec = VG_CODEC_AAC, .sample_rate = 48000, .channels = 2,
                           .config = {0x11, 0x90}, .config_len = 2};
    char sdp[512];
    int n = vg_rtp_sdp_aac(&a, 97, 0, "trackID=1", sdp, sizeof(sdp));
    const char *want = "m=audio 0 RTP/AVP 97\r\n"
                       "a=rtpmap:97 mpeg4-generic/48000/2\r\n"
                       "a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;"
                       "indexlength=3;indexdeltalength=3;config=1190\r\n"
                       "a=control:trackID=1\r\n";
    EXPECT_STREQ(sdp, want);
    EXPECT_EQ(n, (int)strlen(want));
    EXPECT_EQ(vg_rtp_sdp_aac(&a, 97, 0, "trackID=1", sdp, strlen(want)), VG_ENOSPC);
    EXPECT_EQ(vg_rtp_sdp_aac(&a, 128, 0, NULL, sdp, sizeof(sdp)), VG_EINVAL);
    EXPECT_EQ(vg_rtp_sdp_aac(&a, 97, 65536, NULL, sdp, sizeof(sdp)), VG_EINVAL);
    vg_stream_audio_t none = a;
    none.config_len = 0;
    EXPECT_EQ(vg_rtp_sdp_aac(&none, 97, 0, NULL, sdp, sizeof(sdp)), VG_EPROTO);
    none = a;
    none.codec = VG_CODEC_NONE;
    EXPECT_EQ(vg_rtp_sdp_aac(&none, 97, 0, NULL, sdp, sizeof(sdp)), VG_EPROTO);
}
