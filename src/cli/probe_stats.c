/* probe_stats: what `vigil probe` measures about each frame: counts, seq gaps, latency
 * histograms, the timestamp bar of a bounded sample of pictures, and --save.
 *
 * Memory is fixed whatever the duration: three histograms of 0.1 ms buckets up to 10 s.
 * Stamp decodes are rationed by a token bucket over all viewers (--stamp-rate per second),
 * and each one reads only the bar: libjpeg decodes the top floor(H/12) rows at a 1/2..1/8
 * DCT scale to greyscale and stops, which costs about 1/50 of a full decode of a 720p
 * picture (0.07 ms against 3.9 ms for TurboJPEG's whole-picture decode at 1/4 scale, which
 * must still entropy-decode every row). Saved frames are written synchronously: there are at
 * most --save-max of them. Access units (tier=source) are appended to one file per viewer, for
 * at most --save-max viewers, so that the file plays as a raw H.264/H.265 stream.
 *
 * Loop thread only.
 */
#include <errno.h>
#include <jansson.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/probe_int.h"
#include "core/err.h"
#include "core/stamp.h"
#include "core/util.h"

#define STAMP_MASK ((UINT64_C(1) << 56) - 1)
/* Smallest scaled picture the bar still reads well from: 4 columns per block, so the middle
 * half the decoder averages is 2 columns away from smeared edges, and the bar at least 8
 * rows (vg_stamp_rows' floor), so the scaled bar height matches the one it computes. */
#define STAMP_MIN_WIDTH (VG_STAMP_BLOCKS * 4)
#define STAMP_MIN_HEIGHT 96
/* Seq jumps beyond this are a restart or a tier change, not drops. */
#define DROP_GAP_MAX 1000000

/* ---- buffers and histograms ---------------------------------------------------------- */

int vg__probe_buf_append(vg_probe_buf_t *b, const uint8_t *data, size_t len, size_t max)
{
    if (len > max || b->len > max - len)
        return VG_EFULL;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        if (cap > max)
            cap = max;
        b->data = vg_xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void vg__probe_buf_free(vg_probe_buf_t *b)
{
    free(b->data);
    *b = (vg_probe_buf_t){0};
}

static void hist_add(vg_probe_hist_t *h, int64_t us)
{
    if (us < 0) {
        h->negative++;
        us = 0;
    }
    int64_t b = us / VG_PROBE_HIST_BUCKET_US;
    if (b > VG_PROBE_HIST_BUCKETS)
        b = VG_PROBE_HIST_BUCKETS;
    h->counts[b]++;
    h->n++;
    if (us > h->max_us)
        h->max_us = us;
}

double vg__probe_hist_pct_ms(const vg_probe_hist_t *h, double p)
{
    if (h->n == 0)
        return -1;
    /* Nearest rank: the smallest value with at least p% of the samples at or below it. */
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t seen = 0;
    for (int b = 0; b <= VG_PROBE_HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen < rank)
            continue;
        if (b == VG_PROBE_HIST_BUCKETS)
            return (double)h->max_us / 1000.0;
        double mid_ms = ((double)b + 0.5) * VG_PROBE_HIST_BUCKET_US / 1000.0;
        double max_ms = (double)h->max_us / 1000.0;
        return mid_ms < max_ms ? mid_ms : max_ms; /* never above what was seen */
    }
    return (double)h->max_us / 1000.0;
}

static void hist_init(vg_probe_hist_t *h)
{
    *h = (vg_probe_hist_t){0};
    h->counts = vg_xcalloc(VG_PROBE_HIST_BUCKETS + 1, sizeof(*h->counts));
}

/* ---- the JPEG bar reader ------------------------------------------------------------- */

typedef struct stamp_jpeg {
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr em;
    jmp_buf jb;
    uint8_t *rows;
    size_t rows_cap;
} stamp_jpeg_t;

/* libjpeg's default error_exit calls exit(); an error in one picture must only fail it. */
static void jpeg_on_error(j_common_ptr ci)
{
    stamp_jpeg_t *sj = (stamp_jpeg_t *)ci->client_data;
    longjmp(sj->jb, 1);
}

static void jpeg_on_message(j_common_ptr ci)
{
    (void)ci; /* corrupt-data warnings: the bar check decides */
}

static stamp_jpeg_t *stamp_jpeg_new(void)
{
    stamp_jpeg_t *sj = vg_xcalloc(1, sizeof(*sj));
    sj->ci.err = jpeg_std_error(&sj->em);
    sj->em.error_exit = jpeg_on_error;
    sj->em.output_message = jpeg_on_message;
    sj->ci.client_data = sj;
    jpeg_create_decompress(&sj->ci);
    return sj;
}

static void stamp_jpeg_free(stamp_jpeg_t **sjp)
{
    stamp_jpeg_t *sj = *sjp;
    if (sj == NULL)
        return;
    jpeg_destroy_decompress(&sj->ci);
    free(sj->rows);
    free(sj);
    *sjp = NULL;
}

/* Reads the bar from a JPEG. Returns 0 and *stamp (56 bits), VG_ESTAMP or VG_ECODEC. */
static int stamp_read(stamp_jpeg_t *sj, const uint8_t *jpeg, size_t len, uint64_t *stamp)
{
    struct jpeg_decompress_struct *ci = &sj->ci;

    /* Everything the code after setjmp needs lives in *sj, so nothing is clobbered. */
    if (setjmp(sj->jb) != 0) {
        jpeg_abort_decompress(ci);
        return VG_ECODEC;
    }
    jpeg_mem_src(ci, jpeg, (unsigned long)len);
    jpeg_read_header(ci, TRUE);

    /* The coarsest DCT scale that keeps the bar readable. */
    unsigned denom = 8;
    while (denom > 1 && ((ci->image_width + denom - 1) / denom < STAMP_MIN_WIDTH ||
                         (ci->image_height + denom - 1) / denom < STAMP_MIN_HEIGHT))
        denom /= 2;
    ci->scale_num = 1;
    ci->scale_denom = denom;
    ci->out_color_space = JCS_GRAYSCALE; /* luma only: chroma's IDCT and upsampling skipped */
    ci->dct_method = JDCT_IFAST;
    ci->do_fancy_upsampling = FALSE;
    jpeg_start_decompress(ci);

    size_t w = ci->output_width, h = ci->output_height;
    size_t rows = (size_t)vg_stamp_rows((int)h);
    if (w * rows > sj->rows_cap) {
        free(sj->rows);
        sj->rows_cap = w * rows;
        sj->rows = vg_xmalloc(sj->rows_cap);
    }
    while (ci->output_scanline < rows) {
        JSAMPROW row = sj->rows + (size_t)ci->output_scanline * w;
        if (jpeg_read_scanlines(ci, &row, 1) != 1)
            break;
    }
    int rc = ci->output_scanline < rows ? VG_ECODEC
                                        : vg_stamp_decode(sj->rows, (int)w, (int)w, (int)h, stamp);
    jpeg_abort_decompress(ci); /* the rest of the picture is never decoded */
    return rc;
}

/* ---- per frame ----------------------------------------------------------------------- */

void vg__probe_stats_init(vg_probe_stats_t *s)
{
    *s = (vg_probe_stats_t){0};
    hist_init(&s->lat);
    hist_init(&s->server);
    hist_init(&s->stamp);
}

void vg__probe_stats_deinit(vg_probe_stats_t *s)
{
    free(s->lat.counts);
    free(s->server.counts);
    free(s->stamp.counts);
    stamp_jpeg_t *sj = s->jpeg;
    stamp_jpeg_free(&sj);
    *s = (vg_probe_stats_t){0};
}

bool vg__probe_count_error(vg_probe_t *p, vg_probe_err_kind_t kind)
{
    p->stats.errors[kind]++;
    if (p->stats.is_err_logged[kind])
        return false;
    p->stats.is_err_logged[kind] = true;
    return true;
}

static bool take_stamp_token(vg_probe_t *p)
{
    vg_probe_stats_t *s = &p->stats;
    double rate = p->opts.stamp_rate;
    if (rate <= 0)
        return false;
    /* The bucket holds 0.1 s worth of tokens (at least two): a server sends each frame to
     * all its viewers at once, so a smaller bucket would cap the rate at bucket x fps, and
     * with fewer than two the fractions left between frames would be lost (20/s at 30 fps
     * would give 15/s). Within the 0.1 s, whichever viewers read first get sampled. */
    double cap = rate / 10 > 2 ? rate / 10 : 2;
    if (s->stamp_tokens_mono_us != 0)
        s->stamp_tokens += (double)(p->now_mono_us - s->stamp_tokens_mono_us) * rate / 1e6;
    else
        s->stamp_tokens = 1;
    s->stamp_tokens_mono_us = p->now_mono_us;
    if (s->stamp_tokens > cap)
        s->stamp_tokens = cap;
    if (s->stamp_tokens < 1)
        return false;
    s->stamp_tokens -= 1;
    return true;
}

static void au_file_open(vg_probe_viewer_t *v)
{
    vg_probe_t *p = v->probe;
    char path[4096];

    v->is_au_save_refused = true; /* one try per viewer */
    if (p->stats.au_files >= p->opts.save_max)
        return;
    int n = snprintf(path, sizeof(path), "%s/%d.%s", p->opts.save_dir, v->id,
                     v->cur.meta.codec == VG_CODEC_H265 ? "h265" : "h264");
    v->au_file = n > 0 && (size_t)n < sizeof(path) ? fopen(path, "wb") : NULL;
    if (v->au_file == NULL) {
        p->stats.save_failed++;
        if (!p->stats.is_save_err_logged) {
            p->stats.is_save_err_logged = true;
            fprintf(stderr, "probe: cannot write %s: %s\n", path, strerror(errno));
        }
        return;
    }
    v->is_au_save_refused = false;
    p->stats.au_files++;
}

static void au_save(vg_probe_viewer_t *v, const uint8_t *au, size_t len)
{
    vg_probe_stats_t *s = &v->probe->stats;
    if (fwrite(au, 1, len, v->au_file) == len) {
        s->au_saved++;
        return;
    }
    s->save_failed++;
    if (!s->is_save_err_logged) {
        s->is_save_err_logged = true;
        fprintf(stderr, "probe: viewer %d: cannot write an access unit: %s\n", v->id,
                strerror(errno));
    }
}

void vg__probe_viewer_save_close(vg_probe_viewer_t *v)
{
    if (v->au_file != NULL && fclose(v->au_file) != 0)
        v->probe->stats.save_failed++;
    v->au_file = NULL;
}

void vg__probe_frame_begin(vg_probe_viewer_t *v)
{
    vg_probe_t *p = v->probe;
    vg_probe_frame_t *cur = &v->cur;

    cur->is_sampled = false;
    cur->is_saved = false;
    if (cur->meta.codec == VG_CODEC_H264 || cur->meta.codec == VG_CODEC_H265) {
        /* A decode check needs every access unit from the first one on, so a saving viewer
         * saves all of them; --save-max bounds the number of such viewers. */
        if (p->opts.save_dir != NULL && v->au_file == NULL && !v->is_au_save_refused)
            au_file_open(v);
        cur->is_saved = v->au_file != NULL;
        return;
    }
    if (cur->meta.codec != VG_CODEC_JPEG)
        return;
    if (vg__probe_in_window(p, p->now_mono_us) && take_stamp_token(p))
        cur->is_sampled = true;
    if (p->opts.save_dir != NULL && p->stats.saved + p->stats.save_pending < p->opts.save_max) {
        p->stats.save_pending++;
        cur->is_saved = true;
    }
}

void vg__probe_frame_abort(vg_probe_viewer_t *v)
{
    if (v->cur.is_saved && v->cur.meta.codec == VG_CODEC_JPEG)
        v->probe->stats.save_pending--;
    v->cur.is_saved = false;
    v->cur.is_sampled = false;
}

static void stamp_check(vg_probe_viewer_t *v, const uint8_t *jpeg, size_t len)
{
    vg_probe_t *p = v->probe;
    vg_probe_stats_t *s = &p->stats;
    uint64_t stamp = 0;

    if (s->jpeg == NULL)
        s->jpeg = stamp_jpeg_new();
    if (stamp_read(s->jpeg, jpeg, len, &stamp) < 0) {
        s->stamp_failures++;
        return;
    }
    s->stamp_samples++;
    /* The bar holds the 56 low bits: take the high bits from the arrival time, then the
     * candidate nearest to it (2^56 µs is 2,283 years, so this never guesses wrong). */
    uint64_t now = (uint64_t)p->now_wall_us;
    uint64_t full = (now & ~STAMP_MASK) | stamp;
    if (full > now + (STAMP_MASK >> 1) && full > STAMP_MASK)
        full -= STAMP_MASK + 1;
    hist_add(&s->stamp, p->now_wall_us - (int64_t)full);
    if (v->cur.has_capture && ((uint64_t)v->cur.meta.capture_us & STAMP_MASK) != stamp)
        s->stamp_mismatches++;
}

static void save_frame(vg_probe_viewer_t *v, const uint8_t *jpeg, size_t len)
{
    vg_probe_t *p = v->probe;
    char path[4096];
    unsigned long long seq = v->cur.has_seq ? v->cur.meta.seq : v->frames_total;
    int n = snprintf(path, sizeof(path), "%s/%d-%llu.jpg", p->opts.save_dir, v->id, seq);
    FILE *f = n > 0 && (size_t)n < sizeof(path) ? fopen(path, "wb") : NULL;
    bool is_ok = f != NULL && fwrite(jpeg, 1, len, f) == len;
    if (f != NULL && fclose(f) != 0)
        is_ok = false;
    if (!is_ok && !p->stats.is_save_err_logged) {
        p->stats.is_save_err_logged = true;
        fprintf(stderr, "probe: cannot write %s: %s\n", path, strerror(errno));
    }
    if (is_ok)
        p->stats.saved++;
    else
        p->stats.save_failed++;
}

void vg__probe_frame_end(vg_probe_viewer_t *v, const uint8_t *payload, size_t len)
{
    vg_probe_t *p = v->probe;
    vg_probe_frame_t *cur = &v->cur;
    bool is_in = vg__probe_in_window(p, p->now_mono_us);

    bool is_packet = cur->meta.codec == VG_CODEC_H264 || cur->meta.codec == VG_CODEC_H265;
    v->frames_total++;
    if (v->first_frame == 0)
        v->first_frame = cur->meta.is_key ? 1 : -1;
    if (is_packet && v->codec_msgs == 0)
        v->frames_before_codec++;
    if (cur->has_seq) {
        uint32_t gap = cur->meta.seq - v->last_seq - 1; /* wraps: backwards is huge */
        if (is_in && v->has_last_seq && gap <= DROP_GAP_MAX) {
            v->drops_win += gap;
            /* Access units are never replaced, only skipped to the next keyframe. */
            if (is_packet && gap > 0)
                v->skips_win++;
        }
        v->last_seq = cur->meta.seq;
        v->has_last_seq = true;
    }
    if (is_in) {
        v->frames_win++;
        v->codec_frames_win[cur->meta.codec <= VG_CODEC_H265 ? cur->meta.codec : 0]++;
        v->keys_win += cur->meta.is_key;
        if (cur->has_capture) {
            int64_t lat_us = p->now_wall_us - cur->meta.capture_us;
            hist_add(&p->stats.lat, lat_us);
            v->lat_sum_us += lat_us;
            v->lat_n++;
            if (lat_us > v->lat_max_us)
                v->lat_max_us = lat_us;
        }
        if (cur->has_ingest)
            hist_add(&p->stats.server, p->now_wall_us - cur->meta.ingest_us);
    }
    if (payload != NULL && cur->is_sampled)
        stamp_check(v, payload, len);
    if (is_packet) {
        if (cur->is_saved && payload != NULL)
            au_save(v, payload, len);
    } else if (cur->is_saved) {
        p->stats.save_pending--;
        if (payload != NULL)
            save_frame(v, payload, len);
    }
    cur->is_sampled = false;
    cur->is_saved = false;
}

void vg__probe_text(vg_probe_viewer_t *v, const uint8_t *msg, size_t len)
{
    vg_probe_t *p = v->probe;
    v->text_msgs++;
    if (msg == NULL)
        return;
    json_t *root = json_loadb((const char *)msg, len, 0, NULL);
    const char *type = json_string_value(json_object_get(root, "type"));
    if (type != NULL && strcmp(type, "codec") == 0)
        v->codec_msgs++;
    if (type != NULL && strcmp(type, "error") == 0) {
        if (p->stats.text_errors++ == 0)
            fprintf(stderr, "probe: viewer %d: server said: %.*s\n", v->id,
                    len > 300 ? 300 : (int)len, (const char *)msg);
    }
    json_decref(root);
}
