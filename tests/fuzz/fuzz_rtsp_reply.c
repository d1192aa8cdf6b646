/* libFuzzer target: what vigil's RTSP client reads from a camera (vg_rtsp_reply_parse over a
 * byte stream, consumed and continued as sources/rtsp_source.c does), then each reply's
 * WWW-Authenticate challenges and the answers to them, its SDP body, every media's fmtp
 * parameters and SETUP URL. Checks: the parser never takes more than it was given and always
 * moves forward on what it takes, frames are their header and length, a parsed reply stays
 * in its bounds and its strings in its own storage, and every returned length fits its
 * buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/rtsp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(const vg_rtsp_reply_t *r, const char *s)
{
    if (s == NULL || s < r->storage || s >= r->storage + sizeof(r->storage))
        abort();
}

/* A returned length: an error code, or the string's length below cap. */
static void check_len(int n, const char *out, size_t cap)
{
    if (n >= 0 && ((size_t)n >= cap || strlen(out) != (size_t)n))
        abort();
}

static void check_challenges(const vg_rtsp_reply_t *r)
{
    int from = 0, seen = 0;
    const char *v;
    while ((v = vg_rtsp_reply_header(r, "WWW-Authenticate", &from)) != NULL) {
        if (from <= 0 || from > r->header_count || ++seen > VG_RTSPR_HEADERS_MAX)
            abort();
        vg_rtsp_challenge_t c;
        int rc = vg_rtsp_challenge_parse(v, &c);
        if (rc != 0 && rc != VG_ENOENT && rc != VG_EINVAL)
            abort();
        if (rc != 0)
            continue;
        if (strnlen(c.realm, sizeof(c.realm)) >= sizeof(c.realm) ||
            strnlen(c.nonce, sizeof(c.nonce)) >= sizeof(c.nonce) ||
            strnlen(c.opaque, sizeof(c.opaque)) >= sizeof(c.opaque))
            abort();
        static char out[2048];
        int n = vg_rtsp_authorization(&c, "admin", "pass:word", "DESCRIBE",
                                      "rtsp://192.168.1.64:554/Streaming/Channels/101", 1,
                                      "0a4f113b", out, sizeof(out));
        if (n < 0 && n != VG_ENOSPC)
            abort();
        check_len(n, out, sizeof(out));
        if (n > 0) {
            /* the same answer one byte short does not fit; its exact size does */
            static char again[2048];
            if (vg_rtsp_authorization(&c, "admin", "pass:word", "DESCRIBE",
                                      "rtsp://192.168.1.64:554/Streaming/Channels/101", 1,
                                      "0a4f113b", again, (size_t)n) != VG_ENOSPC)
                abort();
            if (vg_rtsp_authorization(&c, "admin", "pass:word", "DESCRIBE",
                                      "rtsp://192.168.1.64:554/Streaming/Channels/101", 1,
                                      "0a4f113b", again, (size_t)n + 1) != n ||
                memcmp(out, again, (size_t)n + 1) != 0)
                abort();
        }
        /* small buffers */
        char tiny[16];
        n = vg_rtsp_authorization(&c, "a", "b", "OPTIONS", "*", 2, "c", tiny, sizeof(tiny));
        check_len(n, tiny, sizeof(tiny));
    }
    if (from != r->header_count)
        abort();
}

static void check_sdp(const vg_rtsp_reply_t *r)
{
    static vg_sdp_t sdp;
    int rc = vg_sdp_parse(r->body, r->body_len, &sdp);
    if (rc != 0 && rc != VG_EINVAL)
        abort();
    if (rc != 0)
        return;
    if (sdp.media_count < 0 || sdp.media_count > VG_SDP_MEDIA_MAX ||
        strnlen(sdp.control, sizeof(sdp.control)) >= sizeof(sdp.control))
        abort();
    const char *base = vg_rtsp_reply_header(r, "Content-Base", NULL);
    if (base == NULL)
        base = "rtsp://127.0.0.1:8554/cameras/lobby";
    static const char *names[] = {"sprop-parameter-sets", "sprop-vps", "sprop-sps", "sprop-pps",
                                  "packetization-mode", "profile-level-id", "config", "mode",
                                  "sizelength", "indexlength", "indexdeltalength", ""};
    static char url[1024], val[2048];
    for (int i = 0; i < sdp.media_count; i++) {
        const vg_sdp_media_t *m = &sdp.media[i];
        if (m->payload_type < -1 || m->payload_type > 127 || m->channels < 1 ||
            (m->is_video && m->is_audio) ||
            strnlen(m->encoding, sizeof(m->encoding)) >= sizeof(m->encoding) ||
            strnlen(m->control, sizeof(m->control)) >= sizeof(m->control) ||
            strnlen(m->fmtp, sizeof(m->fmtp)) >= sizeof(m->fmtp))
            abort();
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            int n = vg_sdp_fmtp_get(m->fmtp, names[k], val, sizeof(val));
            if (n < 0 && n != VG_ENOENT && n != VG_ENOSPC)
                abort();
            check_len(n, val, sizeof(val));
            if (n >= 0 && (size_t)n >= strlen(m->fmtp) + 1)
                abort();
            char small[8];
            n = vg_sdp_fmtp_get(m->fmtp, names[k], small, sizeof(small));
            check_len(n, small, sizeof(small));
        }
        int n = vg_rtsp_control_url(base, m->control, url, sizeof(url));
        if (n < 0 && n != VG_ENOSPC)
            abort();
        check_len(n, url, sizeof(url));
        char small[24];
        n = vg_rtsp_control_url(base, m->control, small, sizeof(small));
        check_len(n, small, sizeof(small));
    }
    int n = vg_rtsp_control_url(base, sdp.control, url, sizeof(url));
    check_len(n, url, sizeof(url));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vg_rtsp_reply_t r; /* 40 KiB: off the stack */
    size_t off = 0;
    for (int rounds = 0; off < size && rounds < 2000; rounds++) {
        size_t len = size - off;
        vg_rtsp_reply_parsed_t p = vg_rtsp_reply_parse(data + off, len, &r);
        if (p.consumed > len)
            abort();
        switch (p.kind) {
        case VG_RTSPR_BAD:
            if (p.why == NULL || p.consumed != 0)
                abort();
            return 0;
        case VG_RTSPR_NEED_MORE:
            if (p.consumed == 0)
                return 0; /* a client reads more here; there is no more */
            if (p.consumed != 1 || (data[off] != '\r' && data[off] != '\n'))
                abort(); /* only a stray line end is skipped while waiting */
            break;
        case VG_RTSPR_INTERLEAVED:
            if (p.consumed == 0 || p.frame_len + 4 != p.consumed || data[off] != '$' ||
                p.channel != data[off + 1] || p.frame_len > 65535)
                abort();
            break;
        case VG_RTSPR_REPLY:
        case VG_RTSPR_REQUEST:
            if (p.consumed == 0 || r.header_count < 0 || r.header_count > VG_RTSPR_HEADERS_MAX ||
                r.body_len > VG_RTSPR_BODY_MAX || p.consumed < r.body_len ||
                p.consumed - r.body_len > VG_RTSPR_HEAD_MAX || r.cseq < -1)
                abort();
            if (p.kind == VG_RTSPR_REPLY && (r.status < 100 || r.status > 999))
                abort();
            check_inside(&r, r.body);
            check_inside(&r, r.body + r.body_len);
            if (r.body[r.body_len] != '\0' ||
                memcmp(r.body, data + off + p.consumed - r.body_len, r.body_len) != 0)
                abort();
            for (int i = 0; i < r.header_count; i++) {
                check_inside(&r, r.names[i]);
                check_inside(&r, r.values[i]);
            }
            if (p.kind == VG_RTSPR_REPLY) {
                check_challenges(&r);
                if (r.body_len > 0)
                    check_sdp(&r);
            }
            break;
        default:
            abort();
        }
        off += p.consumed;
    }
    /* The whole input as one SDP and one challenge too: the parsers are reached directly,
     * not only through a well-formed reply. */
    if (size <= VG_RTSPR_BODY_MAX) {
        static char text[VG_RTSPR_BODY_MAX + 1];
        memcpy(text, data, size);
        text[size] = '\0';
        static vg_rtsp_reply_t direct;
        direct.header_count = 0;
        direct.body = text;
        direct.body_len = size;
        check_sdp(&direct);
        if (size < 4096) {
            vg_rtsp_challenge_t c;
            int rc = vg_rtsp_challenge_parse(text, &c);
            if (rc != 0 && rc != VG_ENOENT && rc != VG_EINVAL)
                abort();
            if (rc == 0) {
                char out[1024];
                int n = vg_rtsp_authorization(&c, text, "p", "SETUP", text, 7, "cn", out,
                                              sizeof(out));
                if (n < 0 && n != VG_ENOSPC)
                    abort();
                check_len(n, out, sizeof(out));
            }
        }
    }
    return 0;
}
