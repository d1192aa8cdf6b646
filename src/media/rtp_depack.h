/* rtp_depack: RTP packets from a camera back into what they carry, the inverse of rtp.c.
 *
 *   H.264 (RFC 6184, non-interleaved mode: single NAL unit, STAP-A, FU-A) and
 *   H.265 (RFC 7798 without DONL: single NAL unit, AP, FU) → Annex B access units;
 *   AAC (RFC 3640 AAC-hbr: 13-bit sizes, 3-bit indexes) → raw AAC frames.
 *
 * Why vigil has its own: an access unit is complete at the RTP marker bit (RFC 6184 §5.1,
 * RFC 7798 §4.1), and libavformat 5.1 does not pass that bit out. Its parser closes an
 * access unit only when the next one starts, one frame interval later (33 ms at 30 fps;
 * docs/benchmarks.md, "RTSP glass to glass"). Here the marker ends the access unit; a new
 * timestamp without a marker before it ends it too (a camera that never sets the bit costs
 * the frame interval, no more).
 *
 * Loss: a sequence number gap, a fragment without its start, or a payload type this does not
 * take damages the access unit being built. A damaged unit is handed out as far as it came
 * (is_damaged), as libavformat's client did, for decoders to conceal what is missing. on_lost
 * runs when a whole access unit may be missing: a gap between two, a damaged one with
 * nothing left, one over VG_RTP_DEPACK_MAX_AU (dropped whole).
 *
 * Pure and bounded: no I/O, no clock; an access unit is at most VG_RTP_DEPACK_MAX_AU bytes
 * (more is damage). One depacketizer per RTP stream; any thread, one at a time.
 * Unit tests: tests/unit/test_rtp_depack.c; fuzz target: tests/fuzz/fuzz_rtp_depack.c.
 */
#ifndef VG_MEDIA_RTP_DEPACK_H
#define VG_MEDIA_RTP_DEPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

#define VG_RTP_DEPACK_MAX_AU (8u << 20)

typedef struct vg_rtp_depack vg_rtp_depack_t;

/* One unit out: data is malloc'd and the callback owns it (free()). rtp_ts is the RTP
 * timestamp of the unit (for AAC, the packet's plus 1024 per frame before it). is_key: an
 * access unit with an IDR/IRAP picture (always true for AAC). is_damaged: parts of it were
 * lost on the way. */
typedef void (*vg_rtp_unit_cb)(void *arg, uint8_t *data, size_t len, uint32_t rtp_ts,
                               bool is_key, bool is_damaged);
/* Units were lost (a damaged access unit dropped, or packets missing between two). */
typedef void (*vg_rtp_lost_cb)(void *arg);

typedef struct vg_rtp_depack_cfg {
    vg_codec_t codec;     /* VG_CODEC_H264, VG_CODEC_H265 or VG_CODEC_AAC */
    int payload_type;     /* the SDP's; other payload types are ignored (-1: any) */
    vg_rtp_unit_cb on_unit;
    vg_rtp_lost_cb on_lost; /* may be NULL */
    void *arg;
} vg_rtp_depack_cfg_t;

/* Returns 0 and *out, or VG_EINVAL (another codec). */
int vg_rtp_depack_new(const vg_rtp_depack_cfg_t *cfg, vg_rtp_depack_t **out);
void vg_rtp_depack_free(vg_rtp_depack_t **dp);

/* Feeds one RTP packet (header included). Calls on_unit for every unit it completes, and
 * on_lost when it drops one. Returns 0, or VG_EPROTO for a packet that is not RTP version 2
 * or is cut short (ignored: nothing else changes). */
int vg_rtp_depack_push(vg_rtp_depack_t *d, const uint8_t *pkt, size_t len);

typedef struct vg_rtp_depack_stats {
    uint64_t packets, units, lost_units, seq_gaps, bad_packets;
    uint64_t damaged_units; /* of units: handed out with a part missing */
} vg_rtp_depack_stats_t;
void vg_rtp_depack_stats(const vg_rtp_depack_t *d, vg_rtp_depack_stats_t *out);

/* An RTCP sender report (RFC 3550 §6.4.1) found in a compound RTCP packet: the NTP time
 * (as Unix µs) that rtp_ts stands for. Returns 0, or VG_ENOENT when pkt holds none. */
int vg_rtcp_parse_sender_report(const uint8_t *pkt, size_t len, int64_t *unix_us,
                                 uint32_t *rtp_ts);

#endif
