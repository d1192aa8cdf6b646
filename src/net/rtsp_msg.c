/* rtsp_msg: see rtsp_msg.h. */
#include "net/rtsp_msg.h"

#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/util.h"

_Static_assert(VG_RTSP_HEAD_MAX == 8192 && VG_RTSP_BODY_MAX == 4096,
               "the messages below name the bounds");

static vg_rtsp_parsed_t bad(int status, const char *why)
{
    return (vg_rtsp_parsed_t){.kind = VG_RTSP_BAD, .status = status, .why = why};
}

static bool is_token_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

size_t vg_rtsp_head_end(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Cuts storage at line ends: returns the next line (NUL-terminated, without CR LF) and moves
 * *pos past it, or NULL at the end of the head. */
static char *next_line(char *s, size_t end, size_t *pos)
{
    if (*pos >= end)
        return NULL;
    char *line = s + *pos;
    char *nl = memchr(line, '\n', end - *pos);
    if (nl == NULL)
        return NULL;
    *pos = (size_t)(nl - s) + 1;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    return line;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++) {
        if ((uint8_t)*s < 0x20 || (uint8_t)*s == 0x7f)
            return true;
    }
    return false;
}

static vg_rtsp_parsed_t parse_head(vg_rtsp_request_t *req, size_t head_len)
{
    size_t pos = 0;
    char *line = next_line(req->storage, head_len, &pos);
    if (line == NULL)
        return bad(400, "no request line");
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' '))
        return bad(400, "the request line is not \"METHOD URI RTSP/1.0\"");
    size_t mlen = (size_t)(sp1 - line);
    if (mlen == 0 || mlen >= sizeof(req->method))
        return bad(400, "unknown method");
    for (size_t i = 0; i < mlen; i++) {
        if (!is_token_char((uint8_t)line[i]))
            return bad(400, "unknown method");
    }
    memcpy(req->method, line, mlen);
    req->method[mlen] = '\0';
    *sp2 = '\0';
    req->uri = sp1 + 1;
    if (req->uri[0] == '\0' || has_ctl(req->uri))
        return bad(400, "bad request URI");
    const char *version = sp2 + 1;
    if (strncmp(version, "RTSP/1.", 7) != 0 || version[7] < '0' || version[7] > '9' ||
        version[8] != '\0')
        return strncmp(version, "RTSP/", 5) == 0 ? bad(505, "only RTSP/1.0 is spoken here")
                                                  : bad(400, "not an RTSP request");
    while ((line = next_line(req->storage, head_len, &pos)) != NULL && line[0] != '\0') {
        if (line[0] == ' ' || line[0] == '\t')
            return bad(400, "folded header lines are not accepted");
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line)
            return bad(400, "a header line without a name");
        for (char *c = line; c < colon; c++) {
            if (!is_token_char((uint8_t)*c))
                return bad(400, "a bad header name");
        }
        if (req->header_count == VG_RTSP_HEADERS_MAX)
            return bad(431, "too many headers");
        *colon = '\0';
        char *value = trim(colon + 1);
        if (has_ctl(value))
            return bad(400, "a control character in a header");
        req->names[req->header_count] = line;
        req->values[req->header_count++] = value;
    }
    const char *cseq = vg_rtsp_header(req, "CSeq");
    long long n;
    req->cseq = -1;
    if (cseq && vg_parse_int(cseq, 0, 2147483647LL, &n) == 0)
        req->cseq = (long)n;
    return (vg_rtsp_parsed_t){.kind = VG_RTSP_REQUEST};
}

vg_rtsp_parsed_t vg_rtsp_parse(const uint8_t *buf, size_t len, vg_rtsp_request_t *req)
{
    size_t skip = 0;
    while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n'))
        skip++; /* blank lines between requests */
    buf += skip;
    len -= skip;
    if (len == 0)
        return (vg_rtsp_parsed_t){.kind = VG_RTSP_NEED_MORE, .consumed = skip};
    if (buf[0] == '$') {
        if (len < 4)
            return (vg_rtsp_parsed_t){.kind = VG_RTSP_NEED_MORE, .consumed = skip};
        size_t n = (size_t)buf[2] << 8 | buf[3];
        if (len < 4 + n)
            return (vg_rtsp_parsed_t){.kind = VG_RTSP_NEED_MORE, .consumed = skip};
        return (vg_rtsp_parsed_t){.kind = VG_RTSP_INTERLEAVED, .consumed = skip + 4 + n,
                                  .channel = buf[1]};
    }
    /* Garbage shows in its first bytes: no need to wait for a head's worth of it. */
    for (size_t i = 0; i < len && buf[i] != ' '; i++) {
        if (!is_token_char(buf[i]) || i >= VG_RTSP_METHOD_MAX)
            return bad(400, "not an RTSP request");
    }
    size_t limit = len < VG_RTSP_HEAD_MAX ? len : VG_RTSP_HEAD_MAX;
    size_t end = vg_rtsp_head_end(buf, limit);
    if (end == 0)
        return len >= VG_RTSP_HEAD_MAX
                   ? bad(431, "request head over 8192 bytes")
                   : (vg_rtsp_parsed_t){.kind = VG_RTSP_NEED_MORE, .consumed = skip};
    memset(req, 0, offsetof(vg_rtsp_request_t, storage));
    memcpy(req->storage, buf, end);
    req->storage[end] = '\0';
    vg_rtsp_parsed_t r = parse_head(req, end);
    if (r.kind == VG_RTSP_BAD)
        return r;
    const char *clen = vg_rtsp_header(req, "Content-Length");
    long long body = 0;
    if (clen && vg_parse_int(clen, 0, 1LL << 40, &body) < 0)
        return bad(400, "a bad Content-Length");
    if (body > VG_RTSP_BODY_MAX)
        return bad(413, "request body over 4096 bytes");
    if (len - end < (size_t)body)
        return (vg_rtsp_parsed_t){.kind = VG_RTSP_NEED_MORE, .consumed = skip};
    uint8_t *b = (uint8_t *)req->storage + end + 1;
    memcpy(b, buf + end, (size_t)body);
    req->body = b;
    req->body_len = (size_t)body;
    return (vg_rtsp_parsed_t){.kind = VG_RTSP_REQUEST, .consumed = skip + end + (size_t)body};
}

const char *vg_rtsp_header(const vg_rtsp_request_t *req, const char *name)
{
    for (int i = 0; i < req->header_count; i++) {
        if (strcasecmp(req->names[i], name) == 0)
            return req->values[i];
    }
    return NULL;
}

/* ---- Transport ---- */

/* "a" or "a-b" of ports or channels; 0 with *lo and *hi (hi = lo + 1 when absent). */
static int parse_pair(const char *s, size_t len, long long max, int *lo, int *hi)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf))
        return VG_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *dash = strchr(buf, '-');
    long long a, b;
    if (dash)
        *dash = '\0';
    if (vg_parse_int(buf, 0, max, &a) < 0)
        return VG_EINVAL;
    if (dash ? vg_parse_int(dash + 1, 0, max, &b) < 0 : (b = a + 1) > max)
        return VG_EINVAL;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

/* One specification (no commas): 0 when vigil serves it, VG_ENOENT when not, VG_EINVAL when
 * malformed. */
static int parse_spec(const char *s, size_t len, vg_rtsp_transport_t *out)
{
    *out = (vg_rtsp_transport_t){.channels = {-1, -1}, .client_ports = {-1, -1}};
    const char *end = s + len;
    bool is_rtp = false, is_multicast = false, is_record = false;
    for (const char *p = s; p < end;) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        size_t n = (size_t)(stop - p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        const char *eq = memchr(p, '=', n);
        size_t klen = eq ? (size_t)(eq - p) : n;
        const char *v = eq ? eq + 1 : NULL;
        size_t vlen = eq ? n - klen - 1 : 0;
        if (p == s) { /* the protocol/profile/lower-transport */
            if (n == 7 && strncasecmp(p, "RTP/AVP", 7) == 0)
                is_rtp = true;
            else if (n == 11 && strncasecmp(p, "RTP/AVP/UDP", 11) == 0)
                is_rtp = true;
            else if (n == 11 && strncasecmp(p, "RTP/AVP/TCP", 11) == 0)
                is_rtp = out->is_tcp = true;
        } else if (klen == 9 && strncasecmp(p, "multicast", 9) == 0) {
            is_multicast = true;
        } else if (klen == 11 && strncasecmp(p, "interleaved", 11) == 0) {
            if (v == NULL || parse_pair(v, vlen, 255, &out->channels[0], &out->channels[1]) < 0)
                return VG_EINVAL;
        } else if (klen == 11 && strncasecmp(p, "client_port", 11) == 0) {
            if (v == NULL ||
                parse_pair(v, vlen, 65535, &out->client_ports[0], &out->client_ports[1]) < 0)
                return VG_EINVAL;
        } else if (klen == 4 && strncasecmp(p, "mode", 4) == 0 && v) {
            is_record = vlen >= 6 && strncasecmp(v[0] == '"' ? v + 1 : v, "record", 6) == 0;
        }
        p = semi ? semi + 1 : end;
    }
    if (!is_rtp || is_multicast || is_record)
        return VG_ENOENT;
    if (!out->is_tcp && (out->client_ports[0] <= 0 || out->client_ports[1] <= 0))
        return VG_ENOENT; /* UDP without a port to send to */
    return 0;
}

int vg_rtsp_transport_parse(const char *value, vg_rtsp_transport_t *out)
{
    if (value == NULL)
        return VG_EINVAL;
    int rc = VG_ENOENT;
    for (const char *p = value;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int r = parse_spec(p, n, out);
        if (r == 0)
            return 0;
        if (r == VG_EINVAL)
            rc = VG_EINVAL;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return rc;
}

/* ---- URIs and credentials ---- */

static bool is_track(const char *s, size_t n)
{
    static const char prefix[] = "trackID=";
    if (n <= sizeof(prefix) - 1 || n > 16 || strncmp(s, prefix, sizeof(prefix) - 1) != 0)
        return false;
    for (size_t i = sizeof(prefix) - 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

int vg_rtsp_target_parse(const char *uri, vg_rtsp_target_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = uri;
    size_t scheme = strncasecmp(p, "rtsp://", 7) == 0    ? 7
                    : strncasecmp(p, "rtsps://", 8) == 0 ? 8
                                                         : 0;
    if (scheme) {
        p = strchr(p + scheme, '/');
        if (p == NULL)
            return VG_EINVAL;
    }
    if (*p != '/')
        return VG_EINVAL;
    const char *q = strchr(p, '?');
    out->query = q ? q + 1 : "";
    size_t path_len = q ? (size_t)(q - p) : strlen(p);
    /* Segments of the path, without empty ones (a trailing '/' is common). */
    const char *seg[4];
    size_t seg_len[4];
    int n = 0;
    for (size_t i = 0; i < path_len;) {
        while (i < path_len && p[i] == '/')
            i++;
        if (i == path_len)
            break;
        size_t j = i;
        while (j < path_len && p[j] != '/')
            j++;
        if (n == 4)
            return VG_EINVAL;
        seg[n] = p + i;
        seg_len[n++] = j - i;
        i = j;
    }
    int first = n >= 2 && seg_len[0] == 7 && strncmp(seg[0], "cameras", 7) == 0 ? 1 : 0;
    int rest = n - first;
    if (rest < 1 || rest > 2 || (rest == 2 && !is_track(seg[first + 1], seg_len[first + 1])))
        return VG_EINVAL;
    if (seg_len[first] >= sizeof(out->camera))
        return VG_EINVAL;
    memcpy(out->camera, seg[first], seg_len[first]);
    out->camera[seg_len[first]] = '\0';
    if (!vg_slug_is_valid(out->camera))
        return VG_EINVAL;
    if (rest == 2) {
        memcpy(out->track, seg[first + 1], seg_len[first + 1]);
        out->track[seg_len[first + 1]] = '\0';
    }
    return 0;
}

int vg_rtsp_basic_password(const char *authorization, char *out, size_t cap)
{
    if (authorization == NULL || strncasecmp(authorization, "Basic ", 6) != 0)
        return VG_ENOENT;
    const char *b64 = authorization + 6;
    while (*b64 == ' ')
        b64++;
    uint8_t raw[512];
    size_t n = 0;
    if (strlen(b64) > 4 * sizeof(raw) / 3 ||
        sodium_base642bin(raw, sizeof(raw) - 1, b64, strlen(b64), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return VG_EINVAL;
    raw[n] = '\0';
    const uint8_t *colon = memchr(raw, ':', n);
    if (colon == NULL || memchr(raw, '\0', n)) {
        sodium_memzero(raw, sizeof(raw));
        return VG_EINVAL;
    }
    size_t plen = n - (size_t)(colon + 1 - raw);
    int rc = VG_ENOSPC;
    if (plen < cap) {
        memcpy(out, colon + 1, plen);
        out[plen] = '\0';
        rc = (int)plen;
    }
    sodium_memzero(raw, sizeof(raw));
    return rc;
}

const char *vg_rtsp_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 453: return "Not Enough Bandwidth";
    case 454: return "Session Not Found";
    case 455: return "Method Not Valid in This State";
    case 459: return "Aggregate Operation Not Allowed";
    case 461: return "Unsupported Transport";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "RTSP Version Not Supported";
    default: return "Error";
    }
}
