/* rtsp_reply: what an RTSP client reads from a camera, parsed without trusting a byte of it.
 * The other side of rtsp_msg (requests, for vigil's server): replies to vigil's requests and
 * the interleaved frames between them (RFC 2326 §7, §10.12), the camera's Digest or Basic
 * challenge and vigil's answer to it (RFC 2617, as RTSP cameras use it), and the SDP of a
 * DESCRIBE (RFC 4566) as far as an H.264/H.265 + AAC client needs it.
 *
 * Pure functions, any thread, nothing allocated; every part is bounded (VG_RTSPR_*), and a
 * reply over the bounds is an error, not a truncation. Fuzzed by tests/fuzz/fuzz_rtsp_reply.c.
 * Used by sources/rtsp_source.c.
 */
#ifndef VG_NET_RTSP_REPLY_H
#define VG_NET_RTSP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_RTSPR_HEAD_MAX 8192
#define VG_RTSPR_HEADERS_MAX 48
#define VG_RTSPR_BODY_MAX 32768 /* an SDP: cameras send 0.5-3 KiB */

typedef struct vg_rtsp_reply {
    int status;      /* 200, 401, ... */
    long cseq;       /* -1: absent */
    int header_count;
    const char *names[VG_RTSPR_HEADERS_MAX], *values[VG_RTSPR_HEADERS_MAX]; /* into storage */
    const char *body; /* into storage, NUL-terminated; body_len bytes */
    size_t body_len;
    char storage[VG_RTSPR_HEAD_MAX + VG_RTSPR_BODY_MAX + 2];
} vg_rtsp_reply_t;

typedef enum vg_rtsp_reply_kind {
    VG_RTSPR_NEED_MORE,   /* nothing whole yet: read more */
    VG_RTSPR_REPLY,       /* *reply holds a reply */
    VG_RTSPR_INTERLEAVED, /* a frame: channel, and frame_len bytes after a 4-byte header */
    VG_RTSPR_REQUEST,     /* the camera asks something (some send OPTIONS or ANNOUNCE):
                             consumed bytes of it, ignored */
    VG_RTSPR_BAD,         /* not RTSP, or over the bounds: close */
} vg_rtsp_reply_kind_t;

typedef struct vg_rtsp_reply_parsed {
    vg_rtsp_reply_kind_t kind;
    size_t consumed;  /* bytes of buf this took (INTERLEAVED: 4 + frame_len) */
    int channel;
    size_t frame_len;
    const char *why;  /* BAD: a static reason */
} vg_rtsp_reply_parsed_t;

vg_rtsp_reply_parsed_t vg_rtsp_reply_parse(const uint8_t *buf, size_t len, vg_rtsp_reply_t *r);
/* The value of the first header called name (case-insensitive) from index *from on; *from
 * is set past it, so repeated calls walk every header of that name. NULL: no more. */
const char *vg_rtsp_reply_header(const vg_rtsp_reply_t *r, const char *name, int *from);

/* A WWW-Authenticate challenge. */
typedef struct vg_rtsp_challenge {
    bool is_digest; /* else Basic */
    bool has_qop_auth;
    char realm[128], nonce[256], opaque[256];
} vg_rtsp_challenge_t;
/* Parses one WWW-Authenticate value: 0, VG_ENOENT for another scheme or a Digest algorithm
 * other than MD5, VG_EINVAL when malformed or too long. */
int vg_rtsp_challenge_parse(const char *value, vg_rtsp_challenge_t *out);
/* The Authorization header value answering c for method and uri: Basic, or Digest with
 * response = MD5(MD5(user:realm:pass):nonce[:nc:cnonce:auth]:MD5(method:uri)). nc counts
 * the requests answered with this nonce (qop=auth). Returns the length, or VG_ENOSPC. */
int vg_rtsp_authorization(const vg_rtsp_challenge_t *c, const char *user, const char *pass,
                          const char *method, const char *uri, unsigned nc, const char *cnonce,
                          char *out, size_t cap);

/* One m= section of an SDP. */
#define VG_SDP_MEDIA_MAX 8
typedef struct vg_sdp_media {
    bool is_video, is_audio;
    int payload_type;         /* the first format of the m= line */
    char encoding[32];        /* from a=rtpmap, as sent ("H264", "H265", "mpeg4-generic") */
    int clock_rate, channels; /* from a=rtpmap (channels 1 when absent) */
    char control[512];        /* a=control ("" when absent) */
    char fmtp[2048];          /* a=fmtp parameters for payload_type, as sent */
} vg_sdp_media_t;
typedef struct vg_sdp {
    char control[512]; /* session-level a=control ("" or "*" when absent or aggregate) */
    int media_count;
    vg_sdp_media_t media[VG_SDP_MEDIA_MAX];
} vg_sdp_t;
/* 0, or VG_EINVAL when it is no SDP (no v=0) or a line is over the bounds. */
int vg_sdp_parse(const char *sdp, size_t len, vg_sdp_t *out);
/* The value of parameter name in an fmtp list ("a=1;b=2"), copied into out: its length,
 * VG_ENOENT when absent, VG_ENOSPC when it does not fit. Case-insensitive names. */
int vg_sdp_fmtp_get(const char *fmtp, const char *name, char *out, size_t cap);

/* The URL to SETUP a track: control itself when absolute (rtsp://...), else base joined with
 * it ("/" added between when base has none; a base's query is kept before it as cameras
 * expect). "*" or "" gives base. Returns the length, or VG_ENOSPC. */
int vg_rtsp_control_url(const char *base, const char *control, char *out, size_t cap);

#endif
