/* rtsp_msg: RTSP 1.0 requests (RFC 2326) as they arrive on a connection, parsed without
 * trusting a byte of them. Pure functions, any thread, nothing allocated.
 *
 * A client's byte stream holds requests and, once it plays over TCP, interleaved frames
 * ("$" channel length data, §10.12: its RTCP receiver reports). vg_rtsp_parse takes the
 * start of what has arrived and says what is there: a whole request (copied into the
 * request's own bounded storage, so the connection's buffer can move on), an interleaved
 * frame to skip, not enough bytes yet, or an error with the status to answer before closing.
 *
 * Bounds (a client can make none of them grow): the request line, each header and the whole
 * head share VG_RTSP_HEAD_MAX bytes, at most VG_RTSP_HEADERS_MAX headers, a body of at most
 * VG_RTSP_BODY_MAX bytes (SET_PARAMETER, GET_PARAMETER). Fuzzed by tests/fuzz/fuzz_rtsp.c.
 */
#ifndef VG_NET_RTSP_MSG_H
#define VG_NET_RTSP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_RTSP_HEAD_MAX 8192
#define VG_RTSP_HEADERS_MAX 32
#define VG_RTSP_BODY_MAX 4096
#define VG_RTSP_METHOD_MAX 16

typedef struct vg_rtsp_request {
    char method[VG_RTSP_METHOD_MAX]; /* as sent, upper case by the RFC ("DESCRIBE") */
    const char *uri;                 /* into storage */
    long cseq;                       /* -1: absent (an error the caller answers 400) */
    int header_count;
    const char *names[VG_RTSP_HEADERS_MAX], *values[VG_RTSP_HEADERS_MAX]; /* into storage */
    const uint8_t *body; /* into storage; body_len bytes */
    size_t body_len;
    char storage[VG_RTSP_HEAD_MAX + VG_RTSP_BODY_MAX + 2];
} vg_rtsp_request_t;

typedef enum vg_rtsp_parse_kind {
    VG_RTSP_NEED_MORE,   /* nothing whole yet: read more */
    VG_RTSP_REQUEST,     /* *req holds a request */
    VG_RTSP_INTERLEAVED, /* an interleaved frame: skip it */
    VG_RTSP_BAD,         /* answer *status (400, 413, 431, 505) and close */
} vg_rtsp_parse_kind_t;

typedef struct vg_rtsp_parsed {
    vg_rtsp_parse_kind_t kind;
    size_t consumed;  /* bytes of buf this took (NEED_MORE: blank lines to drop; BAD: 0) */
    int channel;      /* VG_RTSP_INTERLEAVED: its channel */
    int status;       /* VG_RTSP_BAD */
    const char *why;  /* VG_RTSP_BAD: a static reason for the log and the answer */
} vg_rtsp_parsed_t;

/* Looks at the first len bytes of what a client sent. req is written only for
 * VG_RTSP_REQUEST. */
/* Where a request's or a reply's head ends (just past its blank line) within buf[0..len), or
 * 0 when it is not all there yet. Bare LF line ends count too: some cameras send them. */
size_t vg_rtsp_head_end(const uint8_t *buf, size_t len);

vg_rtsp_parsed_t vg_rtsp_parse(const uint8_t *buf, size_t len, vg_rtsp_request_t *req);

/* The value of header name (case-insensitive), or NULL. */
const char *vg_rtsp_header(const vg_rtsp_request_t *req, const char *name);

/* A Transport header (§12.39) as vigil takes it: the first specification of the list that it
 * serves, RTP/AVP over unicast UDP with client_port, or RTP/AVP/TCP with interleaved. */
typedef struct vg_rtsp_transport {
    bool is_tcp;
    int channels[2];     /* is_tcp: interleaved=a-b (absent: -1, the server picks) */
    int client_ports[2]; /* UDP: client_port=a-b (b = a + 1 when only a is given) */
} vg_rtsp_transport_t;
/* 0 with *out; VG_ENOENT when no specification of the list is one vigil serves (multicast,
 * RAW/UDP, a missing client_port: answer 461); VG_EINVAL for a malformed header (400). */
int vg_rtsp_transport_parse(const char *value, vg_rtsp_transport_t *out);

/* What an RTSP URI names: rtsp[s]://host[:port]/cameras/{id}[/trackID=N][?query], or the
 * alias /{id}[/trackID=N]. camera and track are NUL-terminated copies (track "" for the camera
 * itself); query points into uri after '?' ("" when none; read it with vg_query_get). Returns
 * 0, or VG_EINVAL for a URI that names no camera (answer 404) or whose parts do not fit. */
typedef struct vg_rtsp_target {
    char camera[128];
    char track[32];
    const char *query;
} vg_rtsp_target_t;
int vg_rtsp_target_parse(const char *uri, vg_rtsp_target_t *out);

/* The password of an "Authorization: Basic" header (RFC 7617), decoded into out: its length,
 * VG_ENOENT for another scheme, VG_EINVAL when malformed, VG_ENOSPC when it does not fit. */
int vg_rtsp_basic_password(const char *authorization, char *out, size_t cap);

/* The reason phrase of an RTSP status code ("Session Not Found" for 454). */
const char *vg_rtsp_reason(int status);

#endif
