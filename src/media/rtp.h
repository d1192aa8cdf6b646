/* rtp: the camera's own access units as RTP packets (RFC 3550), for the RTSP server (#16).
 *
 * H.264 per RFC 6184 (packetization-mode 1: single NAL unit packets, STAP-A, FU-A) and H.265
 * per RFC 7798 (single NAL unit packets, AP, FU). An access unit from the packet lane (Annex B,
 * parameter sets in band on keyframes) is cut once per stream into packets, each its own frame
 * shared by every reader:
 *
 *   frame: [ headroom (>= 4: RTSP interleaved "$ ch len") | RTP header (12) | payload ]
 *                                                          ^ data
 *
 * The headroom lets an RTSP output write the 4-byte interleaved prefix in place, but the frame
 * is shared: the channel byte is the reader's (chosen in its SETUP), so writing in place is
 * only safe while every reader of the frame uses the same channel and the bytes are rewritten
 * identically (as outputs/ws.c does with WebSocket framing). A reader with another channel
 * sends its own 4-byte buffer ahead of the packet in the same uv_write instead.
 *
 * Small NAL units next to each other (SPS, PPS, SEI, VPS, a small slice) travel aggregated in
 * one STAP-A/AP packet when they fit; a NAL unit over the payload size is cut into FU-A/FU
 * fragments; access unit delimiters are dropped (RFC 6184 §5.1 lets a sender leave them out;
 * the marker bit tells the end of the access unit). Parameter sets stay in band.
 *
 * AAC per RFC 3640 mode AAC-hbr (§3.3.6): one raw AAC frame per packet behind an AU header
 * section of one 16-bit header (13-bit AU-size, 3-bit AU-Index 0); a frame over the payload
 * size is fragmented (§3.2.3): every fragment repeats the AU header with the whole frame's size
 * and only the last has the marker. Its timestamps count samples (the clock is the sample
 * rate), its SDP says mpeg4-generic with the AudioSpecificConfig in config=.
 *
 * Also here: the 90 kHz timestamp from a wall-clock capture time, the SDP media description
 * (RFC 6184 §8.2.1, RFC 7798 §7.2, RFC 3640 §4.1) and RTCP sender reports and BYE (RFC 3550
 * §6.4.1, §6.6).
 *
 * A packetizer belongs to one stream and is used by one thread at a time (the loop); the other
 * functions are pure, any thread. Nothing blocks.
 */
#ifndef VG_MEDIA_RTP_H
#define VG_MEDIA_RTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "media/h26x.h"

#define VG_RTP_HEADER_LEN 12
#define VG_RTP_CLOCK_HZ 90000
/* RTP payload bytes per packet by default: 1400 + 12 + 8 (UDP) + 20 (IPv4) stays under a
 * 1500-byte Ethernet MTU with room for a tunnel or VPN header. */
#define VG_RTP_DEFAULT_PAYLOAD_MAX 1400
/* Bounds of payload_max: an FU needs room for its 3 header bytes and some data; a UDP
 * datagram holds at most 65507 bytes. */
#define VG_RTP_PAYLOAD_MIN 16
#define VG_RTP_PAYLOAD_MAX (65507 - VG_RTP_HEADER_LEN)
/* Headroom each packet frame keeps before its RTP header, at least. */
#define VG_RTP_INTERLEAVED_LEN 4
/* The longest sender report: 28 bytes, then SDES header, SSRC, CNAME item of 255 bytes and
 * the zero octets that end the item list and pad it to 32 bits. */
#define VG_RTCP_SR_MAX (28 + 4 + 4 + 2 + 255 + 3)
#define VG_RTCP_BYE_LEN 8

/* The largest AAC frame AAC-hbr can carry: its AU-size field has 13 bits. */
#define VG_RTP_AAC_AU_MAX 8191
/* The AU header section of one AAC-hbr packet: AU-headers-length, then one AU header. */
#define VG_RTP_AAC_HEADERS_LEN 4

typedef struct vg_rtp_packetizer vg_rtp_packetizer_t;
typedef struct vg_stream_audio vg_stream_audio_t; /* media/stream.h */

typedef struct vg_rtp_cfg {
    vg_codec_t codec;   /* VG_CODEC_H264, VG_CODEC_H265 or VG_CODEC_AAC */
    int payload_type;   /* 0..127; dynamic 96..127 for H.264/H.265/AAC */
    uint32_t ssrc;      /* random per stream (RFC 3550 §8): the caller draws it */
    uint16_t first_seq; /* random per stream (RFC 3550 §5.1) */
    size_t payload_max; /* RTP payload bytes per packet; 0: VG_RTP_DEFAULT_PAYLOAD_MAX */
} vg_rtp_cfg_t;

/* A packetizer for one stream. Returns 0 with *out set, or VG_EINVAL for a codec other than
 * H.264/H.265/AAC, a payload type over 127 or a payload_max outside [VG_RTP_PAYLOAD_MIN,
 * VG_RTP_PAYLOAD_MAX]. Free with vg_rtp_packetizer_free. */
int vg_rtp_packetizer_new(const vg_rtp_cfg_t *cfg, vg_rtp_packetizer_t **out);
void vg_rtp_packetizer_free(vg_rtp_packetizer_t **pp);

/* The sequence number the next packet will carry. */
uint16_t vg_rtp_packetizer_next_seq(const vg_rtp_packetizer_t *p);

/* Cuts one Annex B access unit (borrowed) into RTP packets with timestamp rtp_ts, the marker
 * set on the last one. On success returns 0 with *out a new array (free with
 * vg_rtp_packets_free) of *n new frames, one reference each: data is the RTP packet (header
 * and payload), headroom >= VG_RTP_INTERLEAVED_LEN, meta is the access unit's. *n is 0 (and
 * *out NULL) when the access unit holds nothing to send (only delimiters); the sequence
 * numbers advance by *n. Returns VG_EINVAL when au->meta.codec is not the packetizer's.
 *
 * AAC: au is one raw AAC frame (no ADTS) and rtp_ts counts samples (vg_rtp_timestamp_hz at
 * the sample rate); one packet, or fragments when the frame is longer than payload_max - 4
 * (see above). *n is 0 for an empty frame; VG_EINVAL for one over VG_RTP_AAC_AU_MAX bytes. */
int vg_rtp_packetize(vg_rtp_packetizer_t *p, const vg_frame_t *au, uint32_t rtp_ts,
                     vg_frame_t ***out, size_t *n);

/* Drops each packet's reference and frees the array; sets *pkts to NULL. Accepts NULL. */
void vg_rtp_packets_free(vg_frame_t ***pkts, size_t n);

/* The 90 kHz RTP timestamp of a capture time: base_rtp_ts at base_us (the stream's first
 * access unit, say), counting on from there modulo 2^32, rounded down. Capture times before
 * base_us count back. */
uint32_t vg_rtp_timestamp(int64_t capture_us, int64_t base_us, uint32_t base_rtp_ts);
/* The same at clock_hz (1..1000000): an audio stream's sample rate. */
uint32_t vg_rtp_timestamp_hz(int64_t capture_us, int64_t base_us, uint32_t base_rtp_ts,
                             uint32_t clock_hz);

/* The SDP media description of a stream (RFC 4566, lines ending in CRLF):
 *   m=video <port> RTP/AVP <pt>
 *   a=rtpmap:<pt> H264/90000
 *   a=fmtp:<pt> packetization-mode=1;profile-level-id=PPCCLL;sprop-parameter-sets=SPS,PPS
 * (H.265: H265/90000 and sprop-vps=…;sprop-sps=…;sprop-pps=…), then a=control:<control>
 * unless control is NULL. port is 0 in an RTSP DESCRIBE (the transport comes with SETUP);
 * a plain .sdp file for a UDP receiver names its port. Returns the length written (without
 * the NUL), VG_EPROTO when ps is incomplete (vg_h26x_params_complete), VG_EINVAL for a bad
 * payload type or port, VG_ENOSPC when cap is too small. */
int vg_rtp_sdp_media(const vg_h26x_params_t *ps, int payload_type, int port, const char *control,
                     char *out, size_t cap);

/* The SDP media description of an AAC stream (RFC 3640 §4.1, mode AAC-hbr), as
 * vg_rtp_sdp_media does for video:
 *   m=audio <port> RTP/AVP <pt>
 *   a=rtpmap:<pt> mpeg4-generic/<sample rate>/<channels>
 *   a=fmtp:<pt> streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;
 *               indexdeltalength=3;config=<AudioSpecificConfig in hex>
 * then a=control:<control> unless control is NULL. Returns the length written, VG_EPROTO when
 * a is not AAC with a config, a rate and channels, VG_EINVAL for a bad payload type or port,
 * VG_ENOSPC when cap is too small. */
int vg_rtp_sdp_aac(const vg_stream_audio_t *a, int payload_type, int port, const char *control,
                   char *out, size_t cap);

/* An RTCP sender report (RFC 3550 §6.4.1, no report blocks) whose NTP time is wall_us (µs
 * since the Unix epoch: the access unit's capture_us, so that readers see the camera's
 * clock) and RTP time rtp_ts, followed when cname is not NULL by an SDES packet with that
 * CNAME (a compound packet, as §6.1 asks). Returns the length written, VG_EINVAL for a cname
 * over 255 bytes or a wall_us before 1970, VG_ENOSPC when cap is too small. */
int vg_rtp_sender_report(uint32_t ssrc, int64_t wall_us, uint32_t rtp_ts, uint32_t packet_count,
                         uint32_t octet_count, const char *cname, uint8_t *out, size_t cap);

/* An RTCP BYE for ssrc (RFC 3550 §6.6, no reason): the stream ends. Send it after a sender
 * report in one compound packet (§6.1): FFmpeg drops an RTCP datagram shorter than 12 bytes,
 * so a BYE alone never ends its stream. Returns VG_RTCP_BYE_LEN, or VG_ENOSPC. */
int vg_rtp_bye(uint32_t ssrc, uint8_t *out, size_t cap);

#endif
