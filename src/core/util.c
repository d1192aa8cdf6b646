/* util: see util.h. */
#include "core/util.h"

#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without the C library's time zone. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at *p into *out; advances *p. */
static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int vg_parse_time(const char *s, int64_t *out_us)
{
    size_t len = strlen(s);
    if (len > 0 && strspn(s, "0123456789") == len) {
        long long ms;
        if (vg_parse_int(s, 0, 253402300799999LL, &ms) < 0) /* up to 9999-12-31 */
            return VG_EINVAL;
        *out_us = (int64_t)ms * 1000;
        return 0;
    }
    const char *p = s;
    int y, mo, d, h, mi, sec;
    if (!take_digits(&p, 4, &y) || *p++ != '-' || !take_digits(&p, 2, &mo) || *p++ != '-' ||
        !take_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return VG_EINVAL;
    p++;
    if (!take_digits(&p, 2, &h) || *p++ != ':' || !take_digits(&p, 2, &mi) || *p++ != ':' ||
        !take_digits(&p, 2, &sec))
        return VG_EINVAL;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !is_leap) ||
        h > 23 || mi > 59 || sec > 60)
        return VG_EINVAL;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        for (int64_t scale = 100000; *p >= '0' && *p <= '9'; p++, digits++) {
            frac_us += (*p - '0') * scale;
            scale /= 10;
        }
        if (digits == 0)
            return VG_EINVAL;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!take_digits(&p, 2, &oh) || *p++ != ':' || !take_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return VG_EINVAL;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return VG_EINVAL; /* RFC 3339 always says its offset */
    }
    if (*p != '\0')
        return VG_EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *out_us = secs * 1000000 + frac_us;
    return 0;
}

static _Noreturn void out_of_memory(size_t n)
{
    fprintf(stderr, "vigil: out of memory allocating %zu bytes\n", n);
    abort();
}

void *vg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        out_of_memory(n);
    return p;
}

void *vg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *vg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        out_of_memory(n);
    return q;
}

char *vg_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vg_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

int vg_parse_int(const char *s, long long min, long long max, long long *out)
{
    if (s == NULL || *s == '\0')
        return VG_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return VG_EINVAL;
    *out = v;
    return 0;
}

int vg_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool vg_pct_decode(char *dst, size_t cap, const char *src, size_t n)
{
    if (cap == 0)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = vg_hex_digit(src[i + 1])) >= 0 &&
            (lo = vg_hex_digit(src[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return true;
}

void vg_query_remove(char *query, const char *name)
{
    size_t name_len = strlen(name);
    char *w = query;
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        bool is_match = seg > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=';
        if (!is_match) {
            if (w != query)
                *w++ = '&';
            memmove(w, p, seg);
            w += seg;
        }
        p += seg + (end ? 1 : 0);
    }
    *w = '\0';
}

int vg_query_get(const char *query, const char *name, char *out, size_t out_len)
{
    if (query == NULL || out_len == 0)
        return VG_ENOENT;
    size_t name_len = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        if (seg > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t o = 0;
            for (size_t i = name_len + 1; i < seg; i++) {
                char c = p[i];
                if (c == '%') {
                    if (i + 2 >= seg)
                        return VG_EINVAL;
                    int hi = vg_hex_digit(p[i + 1]), lo = vg_hex_digit(p[i + 2]);
                    if (hi < 0 || lo < 0)
                        return VG_EINVAL;
                    c = (char)(hi * 16 + lo);
                    i += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (o + 1 >= out_len)
                    return VG_EINVAL;
                out[o++] = c;
            }
            out[o] = '\0';
            return (int)o;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return VG_ENOENT;
}

bool vg_slug_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '-' || s[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool vg_strlcpy(char *dst, const char *src, size_t dst_len)
{
    size_t n = strlen(src);
    if (n >= dst_len) {
        memcpy(dst, src, dst_len - 1);
        dst[dst_len - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

void vg_url_redact(const char *url, char *out, size_t out_len)
{
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    const char *path = host + strcspn(host, "/?#");
    const char *at = NULL;
    for (const char *p = host; p < path; p++) {
        if (*p == '@')
            at = p; /* the last '@' before the path ends the userinfo */
    }
    if (at == NULL) {
        vg_strlcpy(out, url, out_len);
        return;
    }
    size_t prefix = (size_t)(host - url);
    if (prefix >= out_len)
        prefix = out_len - 1;
    memcpy(out, url, prefix);
    vg_strlcpy(out + prefix, at + 1, out_len - prefix);
}

static bool append_encoded(char *out, size_t out_len, size_t *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        size_t need = plain ? 1 : 3;
        if (*o + need >= out_len)
            return false;
        if (plain) {
            out[(*o)++] = (char)c;
        } else {
            out[(*o)++] = '%';
            out[(*o)++] = hex[c >> 4];
            out[(*o)++] = hex[c & 15];
        }
    }
    return true;
}

int vg_url_with_credentials(const char *url, const char *user, const char *password, char *out,
                            size_t out_len)
{
    char bare[4096];
    const char *scheme_end = strstr(url, "://");
    if (scheme_end == NULL)
        return VG_EINVAL;
    vg_url_redact(url, bare, sizeof(bare));
    size_t prefix = (size_t)(scheme_end + 3 - url);
    if (prefix >= out_len)
        return VG_EINVAL;
    memcpy(out, bare, prefix);
    size_t o = prefix;
    if (!append_encoded(out, out_len, &o, user ? user : ""))
        return VG_EINVAL;
    if (password) {
        if (o + 1 >= out_len)
            return VG_EINVAL;
        out[o++] = ':';
        if (!append_encoded(out, out_len, &o, password))
            return VG_EINVAL;
    }
    if (o + 1 >= out_len)
        return VG_EINVAL;
    out[o++] = '@';
    out[o] = '\0';
    return vg_strlcpy(out + o, bare + prefix, out_len - o) ? 0 : VG_EINVAL;
}

/* jansson copies every string it parses (its lexer's buffer, then the value), and frees them
 * without clearing: a sign-in body leaves the password behind in freed heap twice per login
 * (seen in core dumps). Clearing every JSON allocation on free costs a memset of what was
 * used, small next to the parse itself. */
static void json_wiping_free(void *p)
{
    if (p) {
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
    }
}

void vg_json_wipe_on_free(void) { json_set_alloc_funcs(malloc, json_wiping_free); }
