/* rtp: see rtp.h. An access unit is split into its NAL units first (delimiters left out), then
 * cut greedily in order: a run of two or more NAL units that fit one packet together goes as
 * one aggregation packet, a NAL unit that fits alone as a single NAL unit packet, a larger one
 * as fragments. Each packet is one owned frame, written once, before anyone else sees it. */
#include "media/rtp.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "media/stream.h"

/* NAL unit types (H.264 Table 7-1, H.265 Table 7-1) and RTP payload types of the RFCs. */
#define H264_AUD 9
#define H264_STAP_A 24 /* RFC 6184 §5.7.1 */
#define H264_FU_A 28   /* RFC 6184 §5.8 */
#define H265_AUD 35
#define H265_AP 48 /* RFC 7798 §4.4.2 */
#define H265_FU 49 /* RFC 7798 §4.4.3 */
#define FU_START 0x80
#define FU_END 0x40

/* Seconds from the NTP epoch (1900-01-01) to the Unix epoch (RFC 868). */
#define NTP_UNIX_OFFSET_S 2208988800u

struct vg_rtp_packetizer {
    vg_rtp_cfg_t cfg;
    size_t nal_header_len; /* 1 (H.264) or 2 (H.265): also the aggregation header's size */
    uint16_t next_seq;
};

typedef struct nal_span {
    const uint8_t *data;
    size_t len;
} nal_span_t;

/* The packets of one access unit while they are being made. */
typedef struct burst {
    const vg_rtp_packetizer_t *p;
    const vg_frame_t *au;
    uint32_t rtp_ts;
    uint16_t seq;
    vg_frame_t **pkts;
    size_t n, cap;
} burst_t;

static inline void put_be16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

int vg_rtp_packetizer_new(const vg_rtp_cfg_t *cfg, vg_rtp_packetizer_t **out)
{
    size_t payload_max = cfg->payload_max ? cfg->payload_max : VG_RTP_DEFAULT_PAYLOAD_MAX;
    if ((cfg->codec != VG_CODEC_H264 && cfg->codec != VG_CODEC_H265 &&
         cfg->codec != VG_CODEC_AAC) || cfg->payload_type < 0 ||
        cfg->payload_type > 127 || payload_max < VG_RTP_PAYLOAD_MIN ||
        payload_max > VG_RTP_PAYLOAD_MAX)
        return VG_EINVAL;
    vg_rtp_packetizer_t *p = vg_xcalloc(1, sizeof(*p));
    p->cfg = *cfg;
    p->cfg.payload_max = payload_max;
    p->nal_header_len = cfg->codec == VG_CODEC_H264 ? 1 : 2;
    p->next_seq = cfg->first_seq;
    *out = p;
    return 0;
}

void vg_rtp_packetizer_free(vg_rtp_packetizer_t **pp)
{
    free(*pp);
    *pp = NULL;
}

uint16_t vg_rtp_packetizer_next_seq(const vg_rtp_packetizer_t *p)
{
    return p->next_seq;
}

/* A new packet of payload_len bytes with its RTP header written (marker clear); returns where
 * the payload goes. */
static uint8_t *burst_add(burst_t *b, size_t payload_len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 8;
        b->pkts = vg_xrealloc(b->pkts, b->cap * sizeof(*b->pkts));
    }
    vg_frame_t *f = vg_frame_new(VG_RTP_HEADER_LEN + payload_len);
    f->meta = b->au->meta;
    f->len = VG_RTP_HEADER_LEN + payload_len;
    uint8_t *h = f->data;
    h[0] = 0x80; /* V=2, no padding, no extension, no CSRC */
    h[1] = (uint8_t)b->p->cfg.payload_type;
    put_be16(h + 2, b->seq++); /* wraps modulo 2^16 (RFC 3550 §5.1) */
    put_be32(h + 4, b->rtp_ts);
    put_be32(h + 8, b->p->cfg.ssrc);
    b->pkts[b->n++] = f;
    return h + VG_RTP_HEADER_LEN;
}

/* The header of a STAP-A (RFC 6184 §5.7: F is the OR of the units' F bits, NRI their
 * greatest) or an AP (RFC 7798 §4.4.2: F the OR, LayerId and TID the lowest). */
static void aggregation_header(const burst_t *b, const nal_span_t *nals, size_t n, uint8_t *out)
{
    if (b->p->cfg.codec == VG_CODEC_H264) {
        uint8_t f = 0, nri = 0;
        for (size_t i = 0; i < n; i++) {
            f |= nals[i].data[0] & 0x80;
            if ((nals[i].data[0] & 0x60) > nri)
                nri = nals[i].data[0] & 0x60;
        }
        out[0] = f | nri | H264_STAP_A;
        return;
    }
    uint8_t f = 0;
    unsigned layer = 63, tid = 7;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *h = nals[i].data;
        unsigned l = (unsigned)((h[0] & 1) << 5 | h[1] >> 3), t = h[1] & 7;
        f |= h[0] & 0x80;
        layer = l < layer ? l : layer;
        tid = t < tid ? t : tid;
    }
    out[0] = (uint8_t)(f | H265_AP << 1 | layer >> 5);
    out[1] = (uint8_t)((layer & 0x1f) << 3 | tid);
}

static void emit_aggregate(burst_t *b, const nal_span_t *nals, size_t n, size_t payload_len)
{
    uint8_t *w = burst_add(b, payload_len);
    aggregation_header(b, nals, n, w);
    w += b->p->nal_header_len;
    for (size_t i = 0; i < n; i++) {
        put_be16(w, (uint16_t)nals[i].len);
        memcpy(w + 2, nals[i].data, nals[i].len);
        w += 2 + nals[i].len;
    }
}

/* FU-A (RFC 6184 §5.8) or FU (RFC 7798 §4.4.3): the NAL unit header is not sent as such; the
 * FU indicator / payload header keeps its F, NRI / LayerId, TID bits, the FU header its type. */
static void emit_fragments(burst_t *b, const nal_span_t *nal)
{
    bool is_h264 = b->p->cfg.codec == VG_CODEC_H264;
    size_t head_len = is_h264 ? 2 : 3, hlen = b->p->nal_header_len;
    size_t chunk_max = b->p->cfg.payload_max - head_len;
    const uint8_t *src = nal->data + hlen;
    size_t left = nal->len - hlen;
    uint8_t type = is_h264 ? nal->data[0] & 0x1f : (nal->data[0] >> 1) & 0x3f;
    for (bool first = true; left > 0; first = false) {
        size_t chunk = left < chunk_max ? left : chunk_max;
        uint8_t *w = burst_add(b, head_len + chunk);
        if (is_h264) {
            w[0] = (nal->data[0] & 0xe0) | H264_FU_A;
        } else {
            w[0] = (uint8_t)((nal->data[0] & 0x81) | H265_FU << 1);
            w[1] = nal->data[1];
        }
        w[head_len - 1] = (uint8_t)((first ? FU_START : 0) | (chunk == left ? FU_END : 0) | type);
        memcpy(w + head_len, src, chunk);
        src += chunk;
        left -= chunk;
    }
}

/* The NAL units worth sending: not delimiters, not shorter than their own header (such a
 * unit is malformed and could not be fragmented). */
static size_t collect_nals(const vg_rtp_packetizer_t *p, const vg_frame_t *au, nal_span_t **out)
{
    int aud = p->cfg.codec == VG_CODEC_H264 ? H264_AUD : H265_AUD;
    size_t n = 0, cap = 0, pos = 0, len;
    const uint8_t *nal;
    nal_span_t *nals = NULL;
    while (vg_h26x_next_nal(au->data, au->len, &pos, &nal, &len)) {
        if (len < p->nal_header_len || vg_h26x_nal_type(p->cfg.codec, nal, len) == aud)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            nals = vg_xrealloc(nals, cap * sizeof(*nals));
        }
        nals[n++] = (nal_span_t){.data = nal, .len = len};
    }
    *out = nals;
    return n;
}

/* RFC 3640 AAC-hbr: AU-headers-length 16 (bits: one header), then the AU header, 13 bits of
 * size and 3 of index (0: the first AU of the packet, §3.2.1.1), then the frame or, when it
 * does not fit, a fragment of it with the same header (§3.2.3). */
static void packetize_aac(burst_t *b, const vg_frame_t *au)
{
    size_t chunk_max = b->p->cfg.payload_max - VG_RTP_AAC_HEADERS_LEN;
    const uint8_t *src = au->data;
    size_t left = au->len;
    while (left > 0) {
        size_t chunk = left < chunk_max ? left : chunk_max;
        uint8_t *w = burst_add(b, VG_RTP_AAC_HEADERS_LEN + chunk);
        put_be16(w, 16);
        put_be16(w + 2, (uint16_t)(au->len << 3)); /* AU-size; AU-Index 0 */
        memcpy(w + VG_RTP_AAC_HEADERS_LEN, src, chunk);
        src += chunk;
        left -= chunk;
    }
}

int vg_rtp_packetize(vg_rtp_packetizer_t *p, const vg_frame_t *au, uint32_t rtp_ts,
                     vg_frame_t ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (au->meta.codec != p->cfg.codec)
        return VG_EINVAL;
    if (p->cfg.codec == VG_CODEC_AAC) {
        if (au->len > VG_RTP_AAC_AU_MAX)
            return VG_EINVAL;
        burst_t b = {.p = p, .au = au, .rtp_ts = rtp_ts, .seq = p->next_seq};
        packetize_aac(&b, au);
        if (b.n > 0)
            b.pkts[b.n - 1]->data[1] |= 0x80; /* marker: the AU's last fragment (§3.2.3) */
        p->next_seq = b.seq;
        *out = b.pkts;
        *n = b.n;
        return 0;
    }
    nal_span_t *nals = NULL;
    size_t count = collect_nals(p, au, &nals);
    burst_t b = {.p = p, .au = au, .rtp_ts = rtp_ts, .seq = p->next_seq};
    size_t max = p->cfg.payload_max, hlen = p->nal_header_len;
    for (size_t i = 0; i < count;) {
        size_t j = i, total = hlen;
        while (j < count && total + 2 + nals[j].len <= max)
            total += 2 + nals[j++].len;
        if (j - i >= 2) {
            emit_aggregate(&b, nals + i, j - i, total);
            i = j;
            continue;
        }
        if (nals[i].len <= max)
            memcpy(burst_add(&b, nals[i].len), nals[i].data, nals[i].len);
        else
            emit_fragments(&b, &nals[i]);
        i++;
    }
    free(nals);
    if (b.n > 0)
        b.pkts[b.n - 1]->data[1] |= 0x80; /* marker: the access unit's last packet (§5.1) */
    p->next_seq = b.seq;
    *out = b.pkts;
    *n = b.n;
    return 0;
}

void vg_rtp_packets_free(vg_frame_t ***pkts, size_t n)
{
    if (*pkts == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        vg_frame_unref(&(*pkts)[i]);
    free(*pkts);
    *pkts = NULL;
}

uint32_t vg_rtp_timestamp(int64_t capture_us, int64_t base_us, uint32_t base_rtp_ts)
{
    int64_t scaled = (capture_us - base_us) * 9; /* µs * 90000 / 1000000 = µs * 9 / 100 */
    int64_t ticks = scaled / 100 - (scaled % 100 < 0); /* rounded down, also below base */
    return base_rtp_ts + (uint32_t)(uint64_t)ticks;
}

uint32_t vg_rtp_timestamp_hz(int64_t capture_us, int64_t base_us, uint32_t base_rtp_ts,
                             uint32_t clock_hz)
{
    /* Exact in 64 bits for a difference of up to 2^63 / 10^6 µs (106 days at 1 MHz); then
     * modulo 2^32 like every RTP timestamp. */
    int64_t scaled = (capture_us - base_us) * (int64_t)clock_hz;
    int64_t ticks = scaled / 1000000 - (scaled % 1000000 < 0); /* rounded down */
    return base_rtp_ts + (uint32_t)(uint64_t)ticks;
}

/* Appends to a bounded text buffer; remembers an overflow instead of failing at once. */
typedef struct text {
    char *buf;
    size_t cap, len;
    bool is_full;
} text_t;

__attribute__((format(printf, 2, 3))) static void text_add(text_t *t, const char *fmt, ...)
{
    if (t->is_full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->is_full = true;
    else
        t->len += (size_t)n;
}

static void text_base64(text_t *t, const uint8_t *bin, size_t len)
{
    char b64[VG_H26X_PS_MAX * 4 / 3 + 8]; /* sodium_base64_encoded_len of a parameter set */
    sodium_bin2base64(b64, sizeof(b64), bin, len, sodium_base64_VARIANT_ORIGINAL);
    text_add(t, "%s", b64);
}

int vg_rtp_sdp_media(const vg_h26x_params_t *ps, int payload_type, int port, const char *control,
                     char *out, size_t cap)
{
    if (payload_type < 0 || payload_type > 127 || port < 0 || port > 65535)
        return VG_EINVAL;
    if (!vg_h26x_params_complete(ps) || (ps->codec == VG_CODEC_H264 && ps->sps_len < 4))
        return VG_EPROTO;
    if (cap == 0)
        return VG_ENOSPC;
    text_t t = {.buf = out, .cap = cap};
    bool is_h264 = ps->codec == VG_CODEC_H264;
    text_add(&t, "m=video %d RTP/AVP %d\r\n", port, payload_type);
    text_add(&t, "a=rtpmap:%d %s/%d\r\n", payload_type, is_h264 ? "H264" : "H265",
             VG_RTP_CLOCK_HZ);
    if (is_h264) {
        /* RFC 6184 §8.1: profile_idc, the constraint flags byte and level_idc of the SPS. */
        text_add(&t, "a=fmtp:%d packetization-mode=1;profile-level-id=%02x%02x%02x;"
                     "sprop-parameter-sets=",
                 payload_type, ps->sps[1], ps->sps[2], ps->sps[3]);
        text_base64(&t, ps->sps, ps->sps_len);
        text_add(&t, ",");
        text_base64(&t, ps->pps, ps->pps_len);
    } else {
        text_add(&t, "a=fmtp:%d sprop-vps=", payload_type);
        text_base64(&t, ps->vps, ps->vps_len);
        text_add(&t, ";sprop-sps=");
        text_base64(&t, ps->sps, ps->sps_len);
        text_add(&t, ";sprop-pps=");
        text_base64(&t, ps->pps, ps->pps_len);
    }
    text_add(&t, "\r\n");
    if (control != NULL)
        text_add(&t, "a=control:%s\r\n", control);
    if (t.is_full) {
        out[0] = '\0';
        return VG_ENOSPC;
    }
    return (int)t.len;
}

int vg_rtp_sdp_aac(const vg_stream_audio_t *a, int payload_type, int port, const char *control,
                   char *out, size_t cap)
{
    if (payload_type < 0 || payload_type > 127 || port < 0 || port > 65535)
        return VG_EINVAL;
    if (a->codec != VG_CODEC_AAC || a->config_len == 0 || a->config_len > sizeof(a->config) ||
        a->sample_rate <= 0 || a->channels <= 0)
        return VG_EPROTO;
    if (cap == 0)
        return VG_ENOSPC;
    text_t t = {.buf = out, .cap = cap};
    text_add(&t, "m=audio %d RTP/AVP %d\r\n", port, payload_type);
    /* RFC 3640 §4.1: the encoding parameter is the channel count; §3.3.6 fixes the field
     * sizes of AAC-hbr; profile-level-id 1 is what the mode's example uses (§4.1: the value
     * is of the MPEG-4 Audio profile, and receivers do not refuse on it). */
    text_add(&t, "a=rtpmap:%d mpeg4-generic/%d/%d\r\n", payload_type, a->sample_rate,
             a->channels);
    text_add(&t, "a=fmtp:%d streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;"
                 "indexlength=3;indexdeltalength=3;config=",
             payload_type);
    for (size_t i = 0; i < a->config_len; i++)
        text_add(&t, "%02x", a->config[i]);
    text_add(&t, "\r\n");
    if (control != NULL)
        text_add(&t, "a=control:%s\r\n", control);
    if (t.is_full) {
        out[0] = '\0';
        return VG_ENOSPC;
    }
    return (int)t.len;
}

int vg_rtp_sender_report(uint32_t ssrc, int64_t wall_us, uint32_t rtp_ts, uint32_t packet_count,
                         uint32_t octet_count, const char *cname, uint8_t *out, size_t cap)
{
    size_t cname_len = cname ? strlen(cname) : 0;
    if (wall_us < 0 || cname_len > 255)
        return VG_EINVAL;
    /* SDES chunk: SSRC, CNAME item (type, length, text), then at least one zero octet ending
     * the item list, padded to 32 bits (RFC 3550 §6.5). */
    size_t items = 2 + cname_len, chunk = 4 + items + (4 - items % 4);
    size_t len = 28 + (cname ? 4 + chunk : 0);
    if (cap < len)
        return VG_ENOSPC;
    out[0] = 0x80; /* V=2, P=0, RC=0 */
    out[1] = 200;  /* SR */
    put_be16(out + 2, 28 / 4 - 1);
    put_be32(out + 4, ssrc);
    uint64_t frac_us = (uint64_t)(wall_us % 1000000);
    put_be32(out + 8, (uint32_t)((uint64_t)(wall_us / 1000000) + NTP_UNIX_OFFSET_S));
    put_be32(out + 12, (uint32_t)((frac_us << 32) / 1000000));
    put_be32(out + 16, rtp_ts);
    put_be32(out + 20, packet_count);
    put_be32(out + 24, octet_count);
    if (cname != NULL) {
        uint8_t *s = out + 28;
        memset(s, 0, 4 + chunk);
        s[0] = 0x81; /* V=2, SC=1 */
        s[1] = 202;  /* SDES */
        put_be16(s + 2, (uint16_t)((4 + chunk) / 4 - 1));
        put_be32(s + 4, ssrc);
        s[8] = 1; /* CNAME */
        s[9] = (uint8_t)cname_len;
        memcpy(s + 10, cname, cname_len);
    }
    return (int)len;
}

int vg_rtp_bye(uint32_t ssrc, uint8_t *out, size_t cap)
{
    if (cap < VG_RTCP_BYE_LEN)
        return VG_ENOSPC;
    out[0] = 0x81; /* V=2, SC=1 */
    out[1] = 203;  /* BYE */
    put_be16(out + 2, VG_RTCP_BYE_LEN / 4 - 1);
    put_be32(out + 4, ssrc);
    return VG_RTCP_BYE_LEN;
}
