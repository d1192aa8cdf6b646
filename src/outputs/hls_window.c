/* hls_window: see hls_window.h. A ring of window_segments + 1 segment slots: the complete
 * segments, oldest first, then at most one open segment that receives parts. Segment numbers
 * (msn) are contiguous in the ring, so a lookup by msn is an index. Each segment holds its
 * parts' frames and its init segment's frame; dropping a segment drops them.
 *
 * Spec references are to draft-pantos-hls-rfc8216bis (LL-HLS): 4.4.3.7 EXT-X-PART-INF,
 * 4.4.3.8 EXT-X-SERVER-CONTROL, 4.4.4.9 EXT-X-PART, 4.4.5.2 EXT-X-SKIP, 6.2.2 removal of
 * parts, 6.2.5.1 delta updates, 6.2.5.2 blocking reload. Loop thread only.
 */
#include "outputs/hls_window.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"

#define US_PER_S 1000000LL

typedef struct hlsw_part {
    vg_frame_t *bytes;
    int64_t duration_us;
    bool is_independent;
} hlsw_part_t;

typedef struct hlsw_seg {
    uint64_t msn;
    uint32_t init_n;  /* the init segment its parts need */
    vg_frame_t *init; /* a reference, so init{n}.mp4 stays servable while the segment is */
    bool has_discontinuity;
    int64_t pdt_us;
    int64_t duration_us; /* the sum of its parts' */
    int n_parts;
    hlsw_part_t parts[VG_HLSW_MAX_PARTS];
} hlsw_seg_t;

struct vg_hlsw {
    vg_hlsw_cfg_t cfg;
    hlsw_seg_t *segs; /* segs[(head + i) % cap], i in [0, count); the last is open if is_open */
    int cap, head, count;
    bool is_open;
    uint64_t next_msn;      /* the msn the next segment to open gets */
    uint64_t discontinuity_seq; /* EXT-X-DISCONTINUITY tags that left the window */
    vg_frame_t *init;       /* current init segment; NULL before the first */
    uint32_t init_n;        /* its number, from 1 */
    bool is_discontinuity_pending; /* the next segment to open follows a new init */
    /* Advertised durations only ever grow: a player that saw a PART-TARGET or a
     * TARGETDURATION keeps its timing from it (rfc8216bis 6.2.1 forbids changing the target
     * duration), and every part and segment must fit them. */
    int64_t part_target_us;
    int target_s;
};

static hlsw_seg_t *seg_at(const vg_hlsw_t *w, int i)
{
    return &w->segs[(w->head + i) % w->cap];
}

/* Microseconds to the 10 µs steps of a 5-decimal rendering, to nearest or up. */
static int64_t to_steps(int64_t us, bool is_ceil)
{
    return is_ceil ? (us + 9) / 10 : (us + 5) / 10;
}

/* rfc8216bis 4.4.3.1: each EXTINF "rounded to the nearest integer" must not exceed the target
 * duration, which must not change: a segment of 2.2 s fits a target of 2. */
static int nearest_seconds(int64_t us)
{
    int64_t steps = to_steps(us, false); /* what EXTINF will say */
    int64_t s = (steps + 50000) / 100000;
    return s < 1 ? 1 : s > 86400 ? 86400 : (int)s;
}

static int ceil_seconds(int64_t us)
{
    int64_t steps = to_steps(us, false); /* what EXTINF will say */
    int64_t s = (steps + 99999) / 100000;
    return s < 1 ? 1 : s > 86400 ? 86400 : (int)s;
}

vg_hlsw_t *vg_hlsw_new(const vg_hlsw_cfg_t *cfg)
{
    if (cfg->part_target_us <= 0 || cfg->segment_target_us <= 0 ||
        cfg->segment_target_us > 3600 * US_PER_S || cfg->part_target_us > 3600 * US_PER_S)
        return NULL;
    vg_hlsw_t *w = vg_xcalloc(1, sizeof(*w));
    w->cfg = *cfg;
    if (w->cfg.window_segments <= 0)
        w->cfg.window_segments = VG_HLSW_DEFAULT_WINDOW_SEGMENTS;
    if (w->cfg.window_segments > VG_HLSW_MAX_SEGMENTS)
        w->cfg.window_segments = VG_HLSW_MAX_SEGMENTS;
    w->cap = w->cfg.window_segments + 1;
    w->segs = vg_xcalloc((size_t)w->cap, sizeof(*w->segs));
    w->part_target_us = to_steps(cfg->part_target_us, true) * 10;
    w->target_s = ceil_seconds(cfg->segment_target_us);
    return w;
}

static void seg_clear(hlsw_seg_t *s)
{
    for (int i = 0; i < s->n_parts; i++)
        vg_frame_unref(&s->parts[i].bytes);
    vg_frame_unref(&s->init);
    memset(s, 0, sizeof(*s));
}

void vg_hlsw_free(vg_hlsw_t **wp)
{
    vg_hlsw_t *w = *wp;
    if (w == NULL)
        return;
    for (int i = 0; i < w->count; i++)
        seg_clear(seg_at(w, i));
    vg_frame_unref(&w->init);
    free(w->segs);
    free(w);
    *wp = NULL;
}

void vg_hlsw_close_segment(vg_hlsw_t *w)
{
    if (!w->is_open)
        return;
    w->is_open = false;
    int s = nearest_seconds(seg_at(w, w->count - 1)->duration_us);
    if (s > w->target_s)
        w->target_s = s;
    while (w->count > w->cfg.window_segments) {
        hlsw_seg_t *old = seg_at(w, 0);
        /* rfc8216 6.2.2: removing a segment that carries EXT-X-DISCONTINUITY increments
         * EXT-X-DISCONTINUITY-SEQUENCE. */
        if (old->has_discontinuity)
            w->discontinuity_seq++;
        seg_clear(old);
        w->head = (w->head + 1) % w->cap;
        w->count--;
    }
}

void vg_hlsw_set_init(vg_hlsw_t *w, vg_frame_t *init)
{
    vg_hlsw_close_segment(w);
    vg_frame_unref(&w->init);
    w->init = vg_frame_ref(init);
    w->init_n++;
    w->is_discontinuity_pending = w->next_msn > 0;
}

int vg_hlsw_add_part(vg_hlsw_t *w, vg_frame_t *bytes, int64_t duration_us, bool is_independent,
                     int64_t pdt_us)
{
    if (w->init == NULL || duration_us <= 0 || duration_us > 3600 * US_PER_S)
        return VG_EINVAL;
    if (!w->is_open) {
        /* The ring has room: close_segment leaves at most window_segments complete ones. */
        hlsw_seg_t *s = seg_at(w, w->count);
        w->count++;
        w->is_open = true;
        s->msn = w->next_msn++;
        s->init = vg_frame_ref(w->init);
        s->init_n = w->init_n;
        s->has_discontinuity = w->is_discontinuity_pending;
        w->is_discontinuity_pending = false;
        s->pdt_us = pdt_us;
    }
    hlsw_seg_t *s = seg_at(w, w->count - 1);
    s->parts[s->n_parts++] = (hlsw_part_t){
        .bytes = vg_frame_ref(bytes),
        .duration_us = duration_us,
        .is_independent = is_independent,
    };
    s->duration_us += duration_us;
    /* 4.4.4.9: "The duration of a Partial Segment MUST be less than or equal to the Part
     * Target Duration", independent and final parts included. */
    int64_t rendered_us = to_steps(duration_us, false) * 10;
    if (rendered_us > w->part_target_us)
        w->part_target_us = rendered_us;
    if (s->n_parts == VG_HLSW_MAX_PARTS)
        vg_hlsw_close_segment(w);
    return 0;
}

void vg_hlsw_next(const vg_hlsw_t *w, uint64_t *msn, int *part)
{
    if (w->is_open) {
        const hlsw_seg_t *s = seg_at(w, w->count - 1);
        *msn = s->msn;
        *part = s->n_parts;
    } else {
        *msn = w->next_msn;
        *part = 0;
    }
}

size_t vg_hlsw_bytes(const vg_hlsw_t *w)
{
    size_t n = w->init ? w->init->len : 0;
    const vg_frame_t *counted = w->init;
    for (int i = 0; i < w->count; i++) {
        const hlsw_seg_t *s = seg_at(w, i);
        /* Segments hold references to their init: consecutive ones share it. */
        if (s->init && s->init != counted && s->init != w->init) {
            n += s->init->len;
            counted = s->init;
        }
        for (int p = 0; p < s->n_parts; p++)
            n += s->parts[p].bytes->len;
    }
    return n;
}

int vg_hlsw_target_duration_s(const vg_hlsw_t *w)
{
    return w->target_s;
}

/* 6.2.5.2: "three divided by the Part Target Duration if the Part Target Duration is less
 * than one second, or three otherwise". */
static int64_t advance_part_limit(const vg_hlsw_t *w)
{
    return w->part_target_us < US_PER_S ? 3 * US_PER_S / w->part_target_us : 3;
}

vg_hlsw_block_t vg_hlsw_block(const vg_hlsw_t *w, int64_t msn, int64_t part)
{
    if (msn < 0)
        return part >= 0 ? VG_HLSW_BAD : VG_HLSW_READY; /* no blocking asked */
    /* msns stay far below 2^63 (one per segment), so these fit. */
    int64_t last_complete = (int64_t)w->next_msn - 1 - (w->is_open ? 1 : 0);
    if (part < 0) {
        /* "until the Playlist contains a Media Segment with a Media Sequence Number of M or
         * later": a segment still being built is only parts, not yet a Media Segment. */
        if (msn <= last_complete)
            return VG_HLSW_READY;
        return msn > last_complete + 2 ? VG_HLSW_BAD : VG_HLSW_WAIT;
    }
    if (msn <= last_complete) {
        /* Segment msn is complete. A part index beyond its last part means part 0 of the next
         * segment ("MUST treat the request as one for Part Index 0 of the following Parent
         * Segment"), which exists unless msn is the newest segment and nothing follows. */
        if (msn < last_complete || w->is_open)
            return VG_HLSW_READY;
        const hlsw_seg_t *s = seg_at(w, w->count - 1);
        if (part < s->n_parts)
            return VG_HLSW_READY;
        msn++;
        part = 0;
    }
    if (msn > last_complete + 2)
        return VG_HLSW_BAD;
    int64_t ahead; /* parts still to come before (msn, part) exists, at least */
    if (w->is_open && (uint64_t)msn == seg_at(w, w->count - 1)->msn) {
        int last_part = seg_at(w, w->count - 1)->n_parts - 1;
        if (part <= last_part)
            return VG_HLSW_READY;
        ahead = part - last_part;
    } else {
        ahead = part + 1;
    }
    return ahead > advance_part_limit(w) ? VG_HLSW_BAD : VG_HLSW_WAIT;
}

/* ---- playlist text ---- */

typedef struct wbuf {
    char *out;
    size_t cap, len; /* len counts everything, also what did not fit */
} wbuf_t;

__attribute__((format(printf, 2, 3))) static void put(wbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = b->len < b->cap ? b->out + b->len : NULL;
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

/* Seconds with five decimals ("0.20000"), from a count of 10 µs steps. */
static void put_steps(wbuf_t *b, int64_t steps)
{
    put(b, "%" PRId64 ".%05" PRId64, steps / 100000, steps % 100000);
}

/* A URI, with the query when there is one. */
__attribute__((format(printf, 3, 4))) static void put_uri(wbuf_t *b, const char *query,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char name[64];
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    put(b, "%s%s%s", name, query[0] ? "?" : "", query);
}

static void put_pdt(wbuf_t *b, int64_t pdt_us)
{
    int64_t ms = pdt_us / 1000 - (pdt_us % 1000 < 0 ? 1 : 0);
    time_t secs = (time_t)(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
    int msec = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return; /* not a date an ISO 8601 year can hold: leave the tag out */
    put(b, "#EXT-X-PROGRAM-DATE-TIME:%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\n", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
}

/* Characters a query may carry into a quoted-string URI: an already-encoded query's unreserved
 * and sub-delim characters (RFC 3986 3.4). Anything else ('"' ends the quoted string, a line
 * break starts a tag, '#' a fragment) could rewrite the playlist. */
static bool query_is_safe(const char *q)
{
    for (const unsigned char *p = (const unsigned char *)q; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            continue;
        if (strchr("-._~%!$&'()*+,;=:@/?", *p) == NULL)
            return false;
    }
    return true;
}

static int render(const vg_hlsw_t *w, const char *query, bool is_skip, wbuf_t *b)
{
    if (query == NULL)
        query = "";
    if (!query_is_safe(query) || strlen(query) > 4096)
        return VG_EINVAL;
    if (w->count == 0)
        return VG_EAGAIN;
    int64_t target_us = (int64_t)w->target_s * US_PER_S;
    int64_t end_us = 0;
    for (int i = 0; i < w->count; i++)
        end_us += seg_at(w, i)->duration_us;
    int n_complete = w->count - (w->is_open ? 1 : 0);

    /* 6.2.5.1: a delta update replaces the segments further from the end than the Skip
     * Boundary (CAN-SKIP-UNTIL, at least six target durations per 4.4.3.8). */
    int64_t skip_boundary_us = 6 * target_us;
    int skipped = 0;
    if (is_skip) {
        int64_t seg_end_us = 0;
        for (int i = 0; i < n_complete; i++) {
            seg_end_us += seg_at(w, i)->duration_us;
            if (end_us - seg_end_us <= skip_boundary_us)
                break;
            skipped++;
        }
    }

    put(b, "#EXTM3U\n");
    /* Section 8: EXT-X-SKIP needs version 9; the rest (EXT-X-MAP for fMP4: 6) less. One
     * version for both forms, so a player never sees it change between reloads. */
    put(b, "#EXT-X-VERSION:9\n");
    put(b, "#EXT-X-TARGETDURATION:%d\n", w->target_s);
    /* 4.4.3.8: PART-HOLD-BACK at least twice, and SHOULD be three times, PART-TARGET. */
    put(b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=");
    put_steps(b, to_steps(3 * w->part_target_us, true));
    put(b, ",CAN-SKIP-UNTIL=");
    put_steps(b, to_steps(skip_boundary_us, true));
    put(b, "\n#EXT-X-PART-INF:PART-TARGET=");
    put_steps(b, to_steps(w->part_target_us, true));
    put(b, "\n#EXT-X-MEDIA-SEQUENCE:%" PRIu64 "\n", seg_at(w, 0)->msn);
    if (w->discontinuity_seq > 0)
        put(b, "#EXT-X-DISCONTINUITY-SEQUENCE:%" PRIu64 "\n", w->discontinuity_seq);
    if (skipped > 0)
        put(b, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%d\n", skipped);

    /* 6.2.2: parts SHOULD leave the playlist once more than three target durations from the
     * end; whole segments stay (players without LL-HLS play those). */
    int64_t part_horizon_us = 3 * target_us;
    int64_t seg_start_us = 0;
    for (int i = 0; i < skipped; i++)
        seg_start_us += seg_at(w, i)->duration_us;
    for (int i = skipped; i < w->count; i++) {
        const hlsw_seg_t *s = seg_at(w, i);
        bool is_complete = i < n_complete;
        int64_t seg_end_us = seg_start_us + s->duration_us;
        seg_start_us = seg_end_us;
        if (s->has_discontinuity)
            put(b, "#EXT-X-DISCONTINUITY\n");
        /* The first segment listed names its init even in a delta update: a player that lost
         * the skipped segments' tags still knows which one to fetch. */
        if (i == skipped || seg_at(w, i - 1)->init_n != s->init_n) {
            put(b, "#EXT-X-MAP:URI=\"");
            put_uri(b, query, "init%" PRIu32 ".mp4", s->init_n);
            put(b, "\"\n");
        }
        put_pdt(b, s->pdt_us);
        if (!is_complete || end_us - seg_end_us <= part_horizon_us) {
            for (int p = 0; p < s->n_parts; p++) {
                put(b, "#EXT-X-PART:DURATION=");
                put_steps(b, to_steps(s->parts[p].duration_us, false));
                put(b, ",URI=\"");
                put_uri(b, query, "part%" PRIu64 ".%d.m4s", s->msn, p);
                put(b, "\"%s\n", s->parts[p].is_independent ? ",INDEPENDENT=YES" : "");
            }
        }
        if (is_complete) {
            put(b, "#EXTINF:");
            put_steps(b, to_steps(s->duration_us, false));
            put(b, ",\n");
            put_uri(b, query, "seg%" PRIu64 ".m4s", s->msn);
            put(b, "\n");
        }
    }
    uint64_t next_msn;
    int next_part;
    vg_hlsw_next(w, &next_msn, &next_part);
    put(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"");
    put_uri(b, query, "part%" PRIu64 ".%d.m4s", next_msn, next_part);
    put(b, "\"\n");
    return b->len > (size_t)INT32_MAX ? VG_ENOSPC : 0;
}

int vg_hlsw_playlist(const vg_hlsw_t *w, const char *query, bool is_skip, char *out, size_t cap)
{
    wbuf_t b = {.out = out, .cap = cap};
    if (cap > 0)
        out[0] = '\0';
    int rc = render(w, query, is_skip, &b);
    if (rc < 0)
        return rc;
    return b.len < cap ? (int)b.len : VG_ENOSPC;
}

int vg_hlsw_playlist_len(const vg_hlsw_t *w, const char *query, bool is_skip)
{
    wbuf_t b = {0};
    int rc = render(w, query, is_skip, &b);
    return rc < 0 ? rc : (int)b.len;
}

/* ---- names ---- */

/* Strict decimal: at least one digit, no sign, no leading zero, at most max. Advances *sp
 * past the digits. */
static int parse_number(const char **sp, uint64_t max, uint64_t *out)
{
    const char *s = *sp;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return VG_EINVAL;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (max - d) / 10)
            return VG_EINVAL;
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return 0;
}

static bool eat(const char **sp, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*sp, lit, n) != 0)
        return false;
    *sp += n;
    return true;
}

int vg_hlsw_parse_name(const char *name, vg_hlsw_name_t *out)
{
    const char *s = name;
    uint64_t a, b;
    vg_hlsw_name_t n = {0};
    if (eat(&s, "init")) {
        if (parse_number(&s, INT32_MAX, &a) < 0 || a == 0 || !eat(&s, ".mp4"))
            return VG_EINVAL;
        n = (vg_hlsw_name_t){.kind = VG_HLSW_NAME_INIT, .number = a};
    } else if (eat(&s, "seg")) {
        if (parse_number(&s, INT64_MAX, &a) < 0 || !eat(&s, ".m4s"))
            return VG_EINVAL;
        n = (vg_hlsw_name_t){.kind = VG_HLSW_NAME_SEGMENT, .number = a};
    } else if (eat(&s, "part")) {
        if (parse_number(&s, INT64_MAX, &a) < 0 || !eat(&s, ".") ||
            parse_number(&s, VG_HLSW_MAX_PARTS - 1, &b) < 0 || !eat(&s, ".m4s"))
            return VG_EINVAL;
        n = (vg_hlsw_name_t){.kind = VG_HLSW_NAME_PART, .number = a, .part = (int)b};
    } else {
        return VG_EINVAL;
    }
    if (*s != '\0')
        return VG_EINVAL;
    *out = n;
    return 0;
}

static void file_add(vg_hlsw_file_t *f, vg_frame_t *frame)
{
    f->frames[f->n_frames++] = vg_frame_ref(frame);
    f->len_bytes += frame->len;
}

/* The segment numbered msn, or NULL when it is not in the window. */
static const hlsw_seg_t *seg_by_msn(const vg_hlsw_t *w, uint64_t msn)
{
    if (w->count == 0 || msn < seg_at(w, 0)->msn)
        return NULL;
    uint64_t i = msn - seg_at(w, 0)->msn;
    return i < (uint64_t)w->count ? seg_at(w, (int)i) : NULL;
}

vg_hlsw_find_t vg_hlsw_find(const vg_hlsw_t *w, const char *name, vg_hlsw_file_t *out)
{
    memset(out, 0, sizeof(*out));
    vg_hlsw_name_t n;
    if (vg_hlsw_parse_name(name, &n) < 0)
        return VG_HLSW_BAD_NAME;
    uint64_t next_msn;
    int next_part;
    vg_hlsw_next(w, &next_msn, &next_part);
    switch (n.kind) {
    case VG_HLSW_NAME_INIT:
        if (w->init != NULL && n.number == w->init_n) {
            file_add(out, w->init);
            return VG_HLSW_FOUND;
        }
        for (int i = 0; i < w->count; i++) {
            if (seg_at(w, i)->init_n == n.number) {
                file_add(out, seg_at(w, i)->init);
                return VG_HLSW_FOUND;
            }
        }
        return VG_HLSW_GONE; /* never hinted (no TYPE=MAP hints): 6.2.6 says 404 */
    case VG_HLSW_NAME_SEGMENT: {
        const hlsw_seg_t *s = seg_by_msn(w, n.number);
        bool is_building = (s != NULL && w->is_open && s == seg_at(w, w->count - 1)) ||
                           (s == NULL && !w->is_open && n.number == next_msn);
        if (is_building)
            return VG_HLSW_FUTURE;
        if (s == NULL)
            return VG_HLSW_GONE;
        for (int p = 0; p < s->n_parts; p++)
            file_add(out, s->parts[p].bytes);
        return VG_HLSW_FOUND;
    }
    case VG_HLSW_NAME_PART: {
        const hlsw_seg_t *s = seg_by_msn(w, n.number);
        if (s != NULL && n.part < s->n_parts) {
            file_add(out, s->parts[n.part].bytes);
            return VG_HLSW_FOUND;
        }
        if (n.number == next_msn && n.part == next_part)
            return VG_HLSW_FUTURE;
        return VG_HLSW_GONE;
    }
    }
    return VG_HLSW_BAD_NAME;
}

void vg_hlsw_file_release(vg_hlsw_file_t *f)
{
    for (int i = 0; i < f->n_frames; i++)
        vg_frame_unref(&f->frames[i]);
    memset(f, 0, sizeof(*f));
}
