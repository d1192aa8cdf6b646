/* rtsp_reply: see rtsp_reply.h. */
#include "net/rtsp_reply.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/util.h"
#include "net/rtsp_msg.h"

static vg_rtsp_reply_parsed_t bad(const char *why)
{
    return (vg_rtsp_reply_parsed_t){.kind = VG_RTSPR_BAD, .why = why};
}


static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

vg_rtsp_reply_parsed_t vg_rtsp_reply_parse(const uint8_t *buf, size_t len, vg_rtsp_reply_t *r)
{
    if (len == 0)
        return (vg_rtsp_reply_parsed_t){.kind = VG_RTSPR_NEED_MORE};
    if (buf[0] == '$') {
        if (len < 4)
            return (vg_rtsp_reply_parsed_t){.kind = VG_RTSPR_NEED_MORE};
        size_t n = (size_t)buf[2] << 8 | buf[3];
        if (len < 4 + n)
            return (vg_rtsp_reply_parsed_t){.kind = VG_RTSPR_NEED_MORE};
        return (vg_rtsp_reply_parsed_t){.kind = VG_RTSPR_INTERLEAVED, .consumed = 4 + n,
                                        .channel = buf[1], .frame_len = n};
    }
    if (buf[0] == '\r' || buf[0] == '\n') /* stray line ends between messages */
        return (vg_rtsp_reply_parsed_t){.kind = VG_RTSPR_NEED_MORE, .consumed = 1};
    size_t probe = len < 5 ? len : 5;
    bool is_reply = memcmp(buf, "RTSP/", probe) == 0;
    if (!is_reply && !isupper(buf[0]))
        return bad("neither an RTSP message nor an interleaved frame");
    size_t end = vg_rtsp_head_end(buf, len);
    if (end == 0)
        return len > VG_RTSPR_HEAD_MAX ? bad("reply head over 8 KiB")
                                       : (vg_rtsp_reply_parsed_t){.kind = VG_RTSPR_NEED_MORE};
    if (end > VG_RTSPR_HEAD_MAX)
        return bad("reply head over 8 KiB");
    memcpy(r->storage, buf, end);
    r->storage[end] = '\0';
    r->header_count = 0;
    r->cseq = -1;
    r->status = 0;
    long content_length = 0;
    char *save = NULL;
    char *line = strtok_r(r->storage, "\n", &save);
    if (line == NULL)
        return bad("empty head");
    if (is_reply) {
        /* RTSP/1.0 200 OK */
        char *sp = strchr(line, ' ');
        if (sp == NULL || strncmp(line, "RTSP/1.", 7) != 0)
            return bad("not an RTSP/1.x status line");
        long long status;
        char code[4] = {0};
        memcpy(code, sp + 1, strnlen(sp + 1, 3));
        if (strlen(code) != 3 || vg_parse_int(code, 100, 999, &status) < 0)
            return bad("status is not a three-digit number");
        r->status = (int)status;
    }
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        line = trim(line);
        if (*line == '\0')
            break;
        char *colon = strchr(line, ':');
        if (colon == NULL)
            return bad("a header line without a colon");
        if (r->header_count == VG_RTSPR_HEADERS_MAX)
            return bad("more than 48 headers");
        *colon = '\0';
        const char *name = trim(line), *value = trim(colon + 1);
        r->names[r->header_count] = name;
        r->values[r->header_count] = value;
        r->header_count++;
        long long v;
        if (strcasecmp(name, "CSeq") == 0 && vg_parse_int(value, 0, 0x7fffffff, &v) == 0)
            r->cseq = (long)v;
        if (strcasecmp(name, "Content-Length") == 0) {
            if (vg_parse_int(value, 0, VG_RTSPR_BODY_MAX, &v) < 0)
                return bad("Content-Length missing a number or over 32 KiB");
            content_length = (long)v;
        }
    }
    if (len - end < (size_t)content_length)
        return (vg_rtsp_reply_parsed_t){.kind = VG_RTSPR_NEED_MORE};
    char *body = r->storage + end + 1;
    memcpy(body, buf + end, (size_t)content_length);
    body[content_length] = '\0';
    r->body = body;
    r->body_len = (size_t)content_length;
    return (vg_rtsp_reply_parsed_t){.kind = is_reply ? VG_RTSPR_REPLY : VG_RTSPR_REQUEST,
                                    .consumed = end + (size_t)content_length};
}

const char *vg_rtsp_reply_header(const vg_rtsp_reply_t *r, const char *name, int *from)
{
    for (int i = from ? *from : 0; i < r->header_count; i++) {
        if (strcasecmp(r->names[i], name) == 0) {
            if (from)
                *from = i + 1;
            return r->values[i];
        }
    }
    if (from)
        *from = r->header_count;
    return NULL;
}

/* Copies the value of key="..." or key=token from a challenge's parameter list. */
static int challenge_param(const char *params, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = params;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *eq = strchr(p, '=');
        if (eq == NULL)
            return VG_ENOENT;
        const char *name_end = eq;
        while (name_end > p && name_end[-1] == ' ')
            name_end--;
        bool is_key = (size_t)(name_end - p) == klen && strncasecmp(p, key, klen) == 0;
        const char *v = eq + 1;
        while (*v == ' ')
            v++;
        const char *vend;
        if (*v == '"') {
            v++;
            vend = strchr(v, '"');
            if (vend == NULL)
                return VG_EINVAL;
            p = vend + 1;
        } else {
            vend = v + strcspn(v, ", \t");
            p = vend;
        }
        if (is_key) {
            size_t n = (size_t)(vend - v);
            if (n + 1 > cap)
                return VG_EINVAL;
            memcpy(out, v, n);
            out[n] = '\0';
            return (int)n;
        }
    }
    return VG_ENOENT;
}

int vg_rtsp_challenge_parse(const char *value, vg_rtsp_challenge_t *out)
{
    memset(out, 0, sizeof(*out));
    while (*value == ' ')
        value++;
    if (strncasecmp(value, "Basic", 5) == 0 && (value[5] == ' ' || value[5] == '\0')) {
        challenge_param(value + 5, "realm", out->realm, sizeof(out->realm));
        return 0;
    }
    if (strncasecmp(value, "Digest", 6) != 0 || value[6] != ' ')
        return VG_ENOENT;
    const char *params = value + 7;
    out->is_digest = true;
    char algorithm[32] = "MD5", qop[64] = "";
    if (challenge_param(params, "realm", out->realm, sizeof(out->realm)) < 0 ||
        challenge_param(params, "nonce", out->nonce, sizeof(out->nonce)) < 0)
        return VG_EINVAL;
    int rc = challenge_param(params, "opaque", out->opaque, sizeof(out->opaque));
    if (rc == VG_EINVAL)
        return rc;
    if (challenge_param(params, "algorithm", algorithm, sizeof(algorithm)) == VG_EINVAL ||
        challenge_param(params, "qop", qop, sizeof(qop)) == VG_EINVAL)
        return VG_EINVAL;
    if (strcasecmp(algorithm, "MD5") != 0)
        return VG_ENOENT;
    /* qop is a list ("auth,auth-int"): vigil answers auth. */
    for (char *t = qop; (t = strstr(t, "auth")) != NULL; t += 4) {
        if (t[4] != '-' && (t == qop || t[-1] == ',' || t[-1] == ' '))
            out->has_qop_auth = true;
    }
    return 0;
}

static void md5_hex(const char *const *parts, size_t n, char out[33])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char digest[16];
    unsigned len = 0;
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            EVP_DigestUpdate(ctx, ":", 1);
        EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
    }
    EVP_DigestFinal_ex(ctx, digest, &len);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

int vg_rtsp_authorization(const vg_rtsp_challenge_t *c, const char *user, const char *pass,
                          const char *method, const char *uri, unsigned nc, const char *cnonce,
                          char *out, size_t cap)
{
    int n;
    if (!c->is_digest) {
        char plain[512];
        n = snprintf(plain, sizeof(plain), "%s:%s", user, pass);
        if (n < 0 || (size_t)n >= sizeof(plain))
            return VG_ENOSPC;
        size_t b64 = 4 * (((size_t)n + 2) / 3);
        if (6 + b64 + 1 > cap) {
            memset(plain, 0, sizeof(plain));
            return VG_ENOSPC;
        }
        memcpy(out, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, n);
        memset(plain, 0, sizeof(plain));
        return (int)(6 + b64);
    }
    char ha1[33], ha2[33], response[33], ncs[9];
    const char *a1[] = {user, c->realm, pass};
    md5_hex(a1, 3, ha1);
    const char *a2[] = {method, uri};
    md5_hex(a2, 2, ha2);
    snprintf(ncs, sizeof(ncs), "%08x", nc);
    if (c->has_qop_auth) {
        const char *r[] = {ha1, c->nonce, ncs, cnonce, "auth", ha2};
        md5_hex(r, 6, response);
        n = snprintf(out, cap,
                     "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                     "response=\"%s\", qop=auth, nc=%s, cnonce=\"%s\"",
                     user, c->realm, c->nonce, uri, response, ncs, cnonce);
    } else {
        const char *r[] = {ha1, c->nonce, ha2};
        md5_hex(r, 3, response);
        n = snprintf(out, cap,
                     "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                     "response=\"%s\"",
                     user, c->realm, c->nonce, uri, response);
    }
    memset(ha1, 0, sizeof(ha1));
    if (n < 0 || (size_t)n >= cap)
        return VG_ENOSPC;
    if (c->opaque[0]) {
        int m = snprintf(out + n, cap - (size_t)n, ", opaque=\"%s\"", c->opaque);
        if (m < 0 || (size_t)(n + m) >= cap)
            return VG_ENOSPC;
        n += m;
    }
    return n;
}

static bool copy_bounded(char *dst, size_t cap, const char *src, size_t len)
{
    if (len + 1 > cap)
        return false;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

int vg_sdp_parse(const char *sdp, size_t len, vg_sdp_t *out)
{
    memset(out, 0, sizeof(*out));
    bool has_version = false;
    vg_sdp_media_t *m = NULL;
    const char *p = sdp, *end = sdp + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        const char *line = p;
        p = nl ? nl + 1 : end;
        if (n < 2 || line[1] != '=')
            continue;
        if (line[0] == 'v') {
            has_version = n == 3 && line[2] == '0';
        } else if (line[0] == 'm') {
            if (out->media_count == VG_SDP_MEDIA_MAX) {
                m = NULL; /* more media than kept: the rest are not read */
                continue;
            }
            m = &out->media[out->media_count++];
            char kind[16] = "";
            int port = 0, pt = -1;
            char text[256];
            if (!copy_bounded(text, sizeof(text), line + 2, n - 2))
                return VG_EINVAL;
            /* m=video 0 RTP/AVP 96 */
            if (sscanf(text, "%15s %d %*s %d", kind, &port, &pt) < 3 || pt < 0 || pt > 127)
                pt = -1;
            m->is_video = strcmp(kind, "video") == 0;
            m->is_audio = strcmp(kind, "audio") == 0;
            m->payload_type = pt;
            m->channels = 1;
        } else if (line[0] == 'a' && (m != NULL || out->media_count == 0)) {
            /* session level, or a kept media: not the media past VG_SDP_MEDIA_MAX */
            const char *a = line + 2;
            size_t an = n - 2;
            if (an > 8 && strncmp(a, "control:", 8) == 0) {
                char *dst = m ? m->control : out->control;
                if (!copy_bounded(dst, sizeof(out->control), a + 8, an - 8))
                    return VG_EINVAL;
            } else if (m && an > 7 && strncmp(a, "rtpmap:", 7) == 0) {
                char text[256], enc[32] = "";
                int pt = -1, rate = 0, ch = 1;
                if (!copy_bounded(text, sizeof(text), a + 7, an - 7))
                    return VG_EINVAL;
                /* rtpmap:96 H264/90000 or rtpmap:97 mpeg4-generic/48000/2 */
                if (sscanf(text, "%d %31[^/]/%d/%d", &pt, enc, &rate, &ch) >= 3 &&
                    pt == m->payload_type) {
                    memcpy(m->encoding, enc, sizeof(enc));
                    m->clock_rate = rate;
                    m->channels = ch > 0 ? ch : 1;
                }
            } else if (m && an > 5 && strncmp(a, "fmtp:", 5) == 0) {
                char *sp = memchr(a + 5, ' ', an - 5);
                long long pt;
                char num[8];
                if (sp == NULL || !copy_bounded(num, sizeof(num), a + 5, (size_t)(sp - a - 5)) ||
                    vg_parse_int(num, 0, 127, &pt) < 0 || pt != m->payload_type)
                    continue;
                if (!copy_bounded(m->fmtp, sizeof(m->fmtp), sp + 1, (size_t)(a + an - sp - 1)))
                    return VG_EINVAL;
            }
        }
    }
    return has_version ? 0 : VG_EINVAL;
}

int vg_sdp_fmtp_get(const char *fmtp, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = fmtp;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = p + strcspn(p, ";");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq != NULL && (size_t)(eq - p) == nlen && strncasecmp(p, name, nlen) == 0) {
            const char *v = eq + 1;
            size_t n = (size_t)(end - v);
            while (n > 0 && v[n - 1] == ' ')
                n--;
            if (n + 1 > cap)
                return VG_ENOSPC;
            memcpy(out, v, n);
            out[n] = '\0';
            return (int)n;
        }
        p = end;
    }
    return VG_ENOENT;
}

int vg_rtsp_control_url(const char *base, const char *control, char *out, size_t cap)
{
    int n;
    if (control[0] == '\0' || strcmp(control, "*") == 0)
        n = snprintf(out, cap, "%s", base);
    else if (strncasecmp(control, "rtsp://", 7) == 0 || strncasecmp(control, "rtsps://", 8) == 0)
        n = snprintf(out, cap, "%s", control);
    else
        /* As libavformat joins them, which is what cameras are tested against. */
        n = snprintf(out, cap, "%s%s%s", base,
                     base[0] && base[strlen(base) - 1] == '/' ? "" : "/", control);
    return n < 0 || (size_t)n >= cap ? VG_ENOSPC : n;
}
