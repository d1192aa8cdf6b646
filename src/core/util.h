/* util: allocation that aborts on exhaustion, and small string/number parsers that check
 * their input (sizes and numbers from the network or config are validated, never trusted). */
#ifndef VG_CORE_UTIL_H
#define VG_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *vg_xmalloc(size_t n);
void *vg_xcalloc(size_t n, size_t size);
void *vg_xrealloc(void *p, size_t n);
char *vg_xstrdup(const char *s);

/* Parses a whole decimal integer in [min, max]; returns 0 or VG_EINVAL. */
int vg_parse_int(const char *s, long long min, long long max, long long *out);

/* A point in time as Unix milliseconds ("1764915762728") or RFC 3339
 * ("2026-12-05T06:22:42.728Z", "2026-12-05T07:22:42+01:00"; fractions to the microsecond),
 * into Unix microseconds. Returns 0 or VG_EINVAL. Pure. */
int vg_parse_time(const char *s, int64_t *out_us);

/* The value of a hexadecimal digit, or -1. */
int vg_hex_digit(int c);
/* Percent-decodes src[0..n) into dst (cap bytes, NUL-terminated); a '%' not followed by two
 * hexadecimal digits stays as it is. False when the result does not fit. */
bool vg_pct_decode(char *dst, size_t cap, const char *src, size_t n);

/* Finds name in a URL query ("a=1&b=x%20y", no leading '?'), percent-decodes its value into
 * out (NUL-terminated). Returns the value length, VG_ENOENT when absent, or VG_EINVAL when it
 * does not fit or is badly encoded. */
int vg_query_get(const char *query, const char *name, char *out, size_t out_len);
/* Removes every name=... segment from query (in place, no leading '?'), matching whole
 * names as vg_query_get does. */
void vg_query_remove(char *query, const char *name);

/* True for 1..64 characters of [a-z0-9_-], starting with a letter or digit. */
bool vg_slug_is_valid(const char *s);

/* Copies url into out without its credentials ("rtsp://user:pw@h/p" -> "rtsp://h/p"), so it
 * can be logged or shown. Always NUL-terminates. */
void vg_url_redact(const char *url, char *out, size_t out_len);

/* Puts user and password (percent-encoded) into url's userinfo, replacing any there.
 * Returns 0, or VG_EINVAL when out is too small or url has no scheme. */
int vg_url_with_credentials(const char *url, const char *user, const char *password, char *out,
                            size_t out_len);

/* Copies src into dst (always NUL-terminated); returns false when it was truncated. */
bool vg_strlcpy(char *dst, const char *src, size_t dst_len);

/* Makes jansson clear every allocation it frees (parsed request bodies hold passwords).
 * Call once at start, before any JSON is made. */
void vg_json_wipe_on_free(void);

#endif
