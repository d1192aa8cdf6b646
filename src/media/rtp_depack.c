/* rtp_depack: see rtp_depack.h. */
#include "media/rtp_depack.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "media/h26x.h"

#define AAC_FRAME_SAMPLES 1024

struct vg_rtp_depack {
    vg_rtp_depack_cfg_t cfg;
    uint8_t *au;       /* the access unit being built (Annex B) */
    size_t len, cap;
    uint32_t ts;       /* its RTP timestamp */
    bool has_ts;       /* a packet of it has come */
    bool is_damaged;   /* part of it is missing: it is dropped */
    bool in_fragment;  /* an FU's start came, its end not yet */
    bool is_loss_told; /* on_lost already ran for what this access unit lacks */
    bool is_oversize;  /* over VG_RTP_DEPACK_MAX_AU: dropped whole */
    bool has_seq;
    uint16_t next_seq;
    bool is_skipping;  /* AAC: a loss came; drop fragments up to the next marker */
    size_t cap_hint;   /* AAC: the size of the frame whose fragments are being gathered */
    vg_rtp_depack_stats_t stats;
};

int vg_rtp_depack_new(const vg_rtp_depack_cfg_t *cfg, vg_rtp_depack_t **out)
{
    if (cfg->codec != VG_CODEC_H264 && cfg->codec != VG_CODEC_H265 &&
        cfg->codec != VG_CODEC_AAC)
        return VG_EINVAL;
    vg_rtp_depack_t *d = vg_xcalloc(1, sizeof(*d));
    d->cfg = *cfg;
    *out = d;
    return 0;
}

void vg_rtp_depack_free(vg_rtp_depack_t **dp)
{
    vg_rtp_depack_t *d = *dp;
    if (d == NULL)
        return;
    free(d->au);
    free(d);
    *dp = NULL;
}

void vg_rtp_depack_stats(const vg_rtp_depack_t *d, vg_rtp_depack_stats_t *out)
{
    *out = d->stats;
}

static void lost(vg_rtp_depack_t *d)
{
    d->stats.lost_units++;
    if (d->cfg.on_lost)
        d->cfg.on_lost(d->cfg.arg);
}

/* Ends the access unit being built: handed out whole, or dropped as damaged. */
static void finish(vg_rtp_depack_t *d)
{
    bool is_damaged = d->is_damaged || d->in_fragment;
    if (d->has_ts && d->len > 0 && !d->is_oversize) {
        /* A damaged one too, as far as it came, as libavformat's client handed them on: a
         * decoder conceals the missing slices. Dropping it, or keeping it from the packet
         * lane, left every viewer without a picture while a starved camera lost a packet of
         * each keyframe (seen with the simulator under load). */
        uint8_t *data = vg_xmalloc(d->len);
        memcpy(data, d->au, d->len);
        d->stats.units++;
        d->stats.damaged_units += is_damaged;
        d->cfg.on_unit(d->cfg.arg, data, d->len, d->ts,
                       vg_h26x_has_keyframe(d->cfg.codec, data, d->len), is_damaged);
    } else if (d->has_ts && is_damaged && !d->is_loss_told) {
        lost(d); /* nothing of it is left to hand out */
    }
    d->len = 0;
    d->has_ts = d->is_damaged = d->in_fragment = d->is_loss_told = d->is_oversize = false;
}

static bool append(vg_rtp_depack_t *d, const uint8_t *a, size_t alen, const uint8_t *b,
                   size_t blen)
{
    size_t need = d->len + alen + blen;
    if (need > VG_RTP_DEPACK_MAX_AU) {
        d->is_damaged = d->is_oversize = true;
        return false;
    }
    if (need > d->cap) {
        size_t cap = d->cap ? d->cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        d->au = vg_xrealloc(d->au, cap);
        d->cap = cap;
    }
    if (alen)
        memcpy(d->au + d->len, a, alen);
    if (blen)
        memcpy(d->au + d->len + alen, b, blen);
    d->len = need;
    return true;
}

static const uint8_t start_code[4] = {0, 0, 0, 1};

static void add_nal(vg_rtp_depack_t *d, const uint8_t *nal, size_t len)
{
    if (len == 0)
        return;
    append(d, start_code, sizeof(start_code), nal, len);
}

/* Aggregation packets (STAP-A, AP): 16-bit sizes, each followed by a NAL unit. */
static void add_aggregate(vg_rtp_depack_t *d, const uint8_t *p, size_t len)
{
    while (len >= 2) {
        size_t n = (size_t)p[0] << 8 | p[1];
        p += 2;
        len -= 2;
        if (n == 0 || n > len) {
            d->is_damaged = true;
            return;
        }
        add_nal(d, p, n);
        p += n;
        len -= n;
    }
    if (len != 0)
        d->is_damaged = true;
}

/* A fragment: hdr/hdr_len is the NAL unit header rebuilt from the FU's, data the fragment. */
static void add_fragment(vg_rtp_depack_t *d, bool is_start, bool is_end, const uint8_t *hdr,
                         size_t hdr_len, const uint8_t *data, size_t len)
{
    if (is_start) {
        if (d->in_fragment)
            d->is_damaged = true; /* the previous one never ended */
        append(d, start_code, sizeof(start_code), hdr, hdr_len);
        d->in_fragment = true;
    } else if (!d->in_fragment) {
        d->is_damaged = true; /* its start was lost */
        return;
    }
    append(d, data, len, NULL, 0);
    if (is_end)
        d->in_fragment = false;
}

static void payload_h264(vg_rtp_depack_t *d, const uint8_t *p, size_t len)
{
    int type = p[0] & 0x1f;
    if (type >= 1 && type <= 23) {
        add_nal(d, p, len);
    } else if (type == 24) { /* STAP-A */
        add_aggregate(d, p + 1, len - 1);
    } else if (type == 28 && len >= 2) { /* FU-A */
        uint8_t hdr = (uint8_t)((p[0] & 0xe0) | (p[1] & 0x1f));
        add_fragment(d, p[1] & 0x80, p[1] & 0x40, &hdr, 1, p + 2, len - 2);
    } else {
        d->is_damaged = true; /* STAP-B, MTAP, FU-B: interleaved mode, which SDP never asked */
    }
}

static void payload_h265(vg_rtp_depack_t *d, const uint8_t *p, size_t len)
{
    if (len < 2) {
        d->is_damaged = true;
        return;
    }
    int type = (p[0] >> 1) & 0x3f;
    if (type < 48) {
        add_nal(d, p, len);
    } else if (type == 48) { /* AP */
        add_aggregate(d, p + 2, len - 2);
    } else if (type == 49 && len >= 3) { /* FU */
        uint8_t hdr[2] = {(uint8_t)((p[0] & 0x81) | ((p[2] & 0x3f) << 1)), p[1]};
        add_fragment(d, p[2] & 0x80, p[2] & 0x40, hdr, 2, p + 3, len - 3);
    } else {
        d->is_damaged = true; /* PACI, or a cut FU */
    }
}

/* RFC 3640 AAC-hbr: a 16-bit AU-headers-length in bits, 16-bit headers (13-bit size, 3-bit
 * index), then the frames. A frame larger than its packet comes in fragments, one header
 * each naming the whole frame's size, the marker on the last (§3.2.3). */
static void payload_aac(vg_rtp_depack_t *d, const uint8_t *p, size_t len, uint32_t ts,
                        bool has_marker)
{
    if (len < 2)
        goto bad;
    size_t header_bits = (size_t)p[0] << 8 | p[1];
    size_t header_len = header_bits / 8;
    if (header_bits % 16 != 0 || header_bits == 0 || 2 + header_len > len)
        goto bad;
    size_t count = header_bits / 16;
    const uint8_t *h = p + 2;
    const uint8_t *data = h + header_len;
    size_t left = len - 2 - header_len;
    size_t first = ((size_t)h[0] << 8 | h[1]) >> 3;
    bool is_fragment = count == 1 && first > left;
    if (d->is_skipping) {
        /* after a loss, fragments up to the next marker belong to a frame already broken */
        if (is_fragment || d->in_fragment) {
            if (has_marker)
                d->is_skipping = false;
            return;
        }
        d->is_skipping = false;
    }
    if (d->in_fragment || is_fragment) {
        /* a fragment: gathered in au until the frame is whole */
        if (count != 1 || (d->in_fragment && (ts != d->ts || first != d->cap_hint)) ||
            d->len + left > first)
            goto bad_fragment;
        if (!d->in_fragment) {
            d->in_fragment = true;
            d->ts = ts;
            d->cap_hint = first;
            d->len = 0;
        }
        append(d, data, left, NULL, 0);
        if (d->len < first) {
            if (has_marker)
                goto bad_fragment; /* the last fragment, and the frame is not whole */
            return;
        }
        d->in_fragment = false;
        d->len = 0;
        uint8_t *frame = vg_xmalloc(first);
        memcpy(frame, d->au, first);
        d->stats.units++;
        d->cfg.on_unit(d->cfg.arg, frame, first, ts, true, false);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        size_t size = ((size_t)h[2 * i] << 8 | h[2 * i + 1]) >> 3;
        if (size > left)
            goto bad;
        uint8_t *frame = vg_xmalloc(size ? size : 1);
        memcpy(frame, data, size);
        d->stats.units++;
        d->cfg.on_unit(d->cfg.arg, frame, size, ts + (uint32_t)(i * AAC_FRAME_SAMPLES), true,
                       false);
        data += size;
        left -= size;
    }
    return;
bad_fragment:
    d->in_fragment = false;
    d->len = 0;
bad:
    d->stats.bad_packets++;
    lost(d);
}

int vg_rtp_depack_push(vg_rtp_depack_t *d, const uint8_t *pkt, size_t len)
{
    if (len < 12 || (pkt[0] >> 6) != 2) {
        d->stats.bad_packets++;
        return VG_EPROTO;
    }
    size_t hdr = 12 + 4 * (size_t)(pkt[0] & 0x0f);
    if (pkt[0] & 0x10) { /* header extension */
        if (len < hdr + 4)
            goto cut;
        hdr += 4 + 4 * ((size_t)pkt[hdr + 2] << 8 | pkt[hdr + 3]);
    }
    size_t end = len;
    if (pkt[0] & 0x20) { /* padding: the last byte says how much */
        if (pkt[len - 1] == 0 || pkt[len - 1] > len)
            goto cut;
        end = len - pkt[len - 1];
    }
    if (hdr >= end)
        goto cut;
    bool has_marker = pkt[1] & 0x80;
    uint16_t seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
    uint32_t ts = (uint32_t)pkt[4] << 24 | (uint32_t)pkt[5] << 16 | (uint32_t)pkt[6] << 8 | pkt[7];
    d->stats.packets++;
    bool is_gap = d->has_seq && seq != d->next_seq;
    if (is_gap) {
        uint16_t behind = (uint16_t)(d->next_seq - seq);
        if (behind != 0 && behind < 0x8000)
            return 0; /* a duplicate or a late packet over TCP's retransmission: already past */
        d->stats.seq_gaps++;
    }
    d->has_seq = true;
    d->next_seq = (uint16_t)(seq + 1);
    int pt = pkt[1] & 0x7f;
    if (d->cfg.payload_type >= 0 && pt != d->cfg.payload_type)
        return 0; /* comfort noise, FEC...: not ours, but it counts in the sequence */
    const uint8_t *p = pkt + hdr;
    size_t plen = end - hdr;

    if (d->cfg.codec == VG_CODEC_AAC) {
        if (is_gap) {
            lost(d);
            d->in_fragment = false; /* a frame missing a fragment is not handed out */
            d->len = 0;
            d->is_skipping = true;
        }
        payload_aac(d, p, plen, ts, has_marker);
        return 0;
    }
    if (is_gap && d->has_ts)
        d->is_damaged = true; /* whatever was lost may have been its end */
    if (d->has_ts && ts != d->ts)
        finish(d); /* its marker was lost or never sent */
    if (is_gap && !d->has_ts) {
        lost(d); /* the loss fell between access units (or at this one's start) */
        d->is_loss_told = true;
    }
    if (!d->has_ts) {
        d->has_ts = true;
        d->ts = ts;
    }
    if (d->cfg.codec == VG_CODEC_H264)
        payload_h264(d, p, plen);
    else
        payload_h265(d, p, plen);
    if (has_marker)
        finish(d);
    return 0;
cut:
    d->stats.bad_packets++;
    return VG_EPROTO;
}

int vg_rtcp_parse_sender_report(const uint8_t *pkt, size_t len, int64_t *unix_us,
                                 uint32_t *rtp_ts)
{
    /* A compound packet: each part's length is in 32-bit words minus one. */
    while (len >= 8) {
        size_t part = 4 * ((size_t)(pkt[2] << 8 | pkt[3]) + 1);
        if ((pkt[0] >> 6) != 2 || part > len)
            return VG_ENOENT;
        if (pkt[1] == 200 && part >= 28) {
            uint64_t sec = (uint64_t)pkt[8] << 24 | (uint64_t)pkt[9] << 16 |
                           (uint64_t)pkt[10] << 8 | pkt[11];
            uint64_t frac = (uint64_t)pkt[12] << 24 | (uint64_t)pkt[13] << 16 |
                            (uint64_t)pkt[14] << 8 | pkt[15];
            const uint64_t ntp_to_unix = 2208988800ULL; /* 1900 to 1970, in seconds */
            if (sec < ntp_to_unix)
                return VG_ENOENT; /* not a wall-clock time (some cameras send 0) */
            *unix_us = (int64_t)(sec - ntp_to_unix) * 1000000 + (int64_t)((frac * 1000000) >> 32);
            *rtp_ts = (uint32_t)pkt[16] << 24 | (uint32_t)pkt[17] << 16 |
                      (uint32_t)pkt[18] << 8 | pkt[19];
            return 0;
        }
        pkt += part;
        len -= part;
    }
    return VG_ENOENT;
}
