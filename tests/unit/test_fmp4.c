/* Tests for media/fmp4: the boxes are parsed back here, by a reader written against ISO/IEC
 * 14496-12 and independent of fmp4.c, and checked field by field: box sizes add up to their
 * parents and to the frame, the sample entry carries the avcC/hvcC FFmpeg's mp4 muxer writes
 * for the same stream, trun's count, durations, sizes and flags match the samples, tfdt holds
 * the 64-bit decode time, data_offset points at the mdat payload, and the mdat holds the
 * access units' slices as length-prefixed NAL units with no parameter sets or delimiters.
 * Edge cases: no samples, access units with nothing to keep, unknown codecs, counts and sizes
 * past the 32-bit fields. tests/integration/test_fmp4_ffmpeg.py has FFmpeg play the output.
 *
 * The streams and records are those of h26x_streams.h (see there for how they were made and
 * where each expected value comes from): h362 is x264 High 642x362, m362 x265 Main 642x362;
 * _au1 holds the parameter sets and the IDR picture, _au2 a P picture.
 */
#include <stdbool.h>
#include <sys/mman.h>

#include "core/err.h"
#include "media/fmp4.h"
#include "h26x_streams.h"
#include "media/h26x.h"
#include "vg_test.h"


/* ---- an ISO BMFF reader, independent of fmp4.c ------------------------------------------ */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

typedef struct box {
    const uint8_t *start, *body, *end; /* body: after size and type */
    char type[5];
} box_t;

/* The box at p, when its 32-bit size is at least a header and it ends within end. */
static bool box_at(const uint8_t *p, const uint8_t *end, box_t *b)
{
    if (end - p < 8)
        return false;
    uint32_t size = rd32(p);
    if (size < 8 || size > (size_t)(end - p))
        return false;
    b->start = p;
    b->body = p + 8;
    b->end = p + size;
    memcpy(b->type, p + 4, 4);
    b->type[4] = '\0';
    return true;
}

static bool is_container(const char *type)
{
    static const char *const containers[] = {"moov", "trak", "mdia", "minf", "dinf",
                                             "stbl", "mvex", "moof", "traf"};
    for (size_t i = 0; i < sizeof(containers) / sizeof(containers[0]); i++) {
        if (strcmp(type, containers[i]) == 0)
            return true;
    }
    return false;
}

/* Whether the boxes in [p, end) fill it exactly, recursively inside containers. */
static bool boxes_tile(const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        box_t b;
        if (!box_at(p, end, &b))
            return false;
        if (is_container(b.type) && !boxes_tile(b.body, b.end))
            return false;
        p = b.end;
    }
    return p == end;
}

/* Finds a box by a path of types ("moov/trak/tkhd") among the boxes in [p, end). */
static bool box_find(const uint8_t *p, const uint8_t *end, const char *path, box_t *out)
{
    while (p < end) {
        box_t b;
        if (!box_at(p, end, &b))
            return false;
        if (strncmp(path, b.type, 4) == 0) {
            if (path[4] == '\0') {
                *out = b;
                return true;
            }
            return box_find(b.body, b.end, path + 5, out);
        }
        p = b.end;
    }
    return false;
}

/* ---- what the mdat should hold, from an Annex B splitter of the test's own ---------------- */

/* Appends the AU's NAL units but the skipped types as 4-byte-length units to out; returns the
 * bytes appended. Start codes are found byte by byte, 4-byte codes as 00 + 3-byte codes. */
static size_t expected_sample(vg_codec_t codec, const uint8_t *au, size_t len, uint8_t *out)
{
    size_t written = 0, i = 0, begin = SIZE_MAX;
    while (i <= len) {
        bool is_code = i + 3 <= len && au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1;
        if (is_code || i == len) {
            if (begin != SIZE_MAX) {
                size_t end = i;
                if (is_code && end > begin && au[end - 1] == 0)
                    end--; /* the first byte of a 4-byte start code */
                int type = codec == VG_CODEC_H264 ? au[begin] & 0x1f : (au[begin] >> 1) & 0x3f;
                bool is_skipped = codec == VG_CODEC_H264 ? (type >= 7 && type <= 9)
                                                         : (type >= 32 && type <= 35);
                if (!is_skipped) {
                    size_t n = end - begin;
                    out[written] = (uint8_t)(n >> 24);
                    out[written + 1] = (uint8_t)(n >> 16);
                    out[written + 2] = (uint8_t)(n >> 8);
                    out[written + 3] = (uint8_t)n;
                    memcpy(out + written + 4, au + begin, n);
                    written += 4 + n;
                }
            }
            if (i == len)
                break;
            begin = i + 3;
            i += 3;
        } else {
            i++;
        }
    }
    return written;
}

static vg_frame_t *au_frame(vg_codec_t codec, bool is_key, const uint8_t *data, size_t len)
{
    vg_frame_t *f = vg_frame_new(len);
    memcpy(f->data, data, len);
    f->len = len;
    f->meta.codec = codec;
    f->meta.is_key = is_key;
    return f;
}

static void params_from(vg_h26x_params_t *ps, vg_codec_t codec, const uint8_t *au, size_t len)
{
    memset(ps, 0, sizeof(*ps));
    ps->codec = codec;
    EXPECT_EQ(vg_h26x_params_update(ps, au, len), 1);
}

/* ---- init segments ------------------------------------------------------------------------ */

static void check_init(vg_codec_t codec, const uint8_t *au1, size_t au1_len, const char *entry,
                       const char *record_type, const uint8_t *record, size_t record_len)
{
    vg_h26x_params_t ps;
    params_from(&ps, codec, au1, au1_len);
    vg_fmp4_track_t track = {.params = &ps, .timescale = 90000};
    int err = 1;
    vg_frame_t *f = vg_fmp4_init_segment(&track, &err);
    EXPECT_TRUE(f != NULL);
    if (f == NULL)
        return;
    EXPECT_EQ(err, 0);
    const uint8_t *p = f->data, *end = f->data + f->len;
    EXPECT_TRUE(boxes_tile(p, end));

    box_t ftyp, moov, b;
    EXPECT_TRUE(box_at(p, end, &ftyp) && strcmp(ftyp.type, "ftyp") == 0);
    EXPECT_TRUE(box_at(ftyp.end, end, &moov) && strcmp(moov.type, "moov") == 0);
    EXPECT_TRUE(moov.end == end);
    EXPECT_TRUE(memcmp(ftyp.body, "iso6", 4) == 0);

    EXPECT_TRUE(box_find(p, end, "moov/mvhd", &b));
    EXPECT_EQ(rd32(b.body + 4 + 8), 90000);   /* timescale after version/flags and 2 times */
    EXPECT_EQ(rd32(b.end - 4), 2);            /* next_track_ID */
    EXPECT_TRUE(box_find(p, end, "moov/trak/tkhd", &b));
    EXPECT_EQ(rd32(b.body + 4 + 8), 1);       /* track_ID */
    EXPECT_EQ(rd32(b.end - 8), 642u << 16);   /* width, 16.16: ffprobe says 642x362 */
    EXPECT_EQ(rd32(b.end - 4), 362u << 16);
    EXPECT_TRUE(box_find(p, end, "moov/trak/mdia/mdhd", &b));
    EXPECT_EQ(rd32(b.body + 4 + 8), 90000);
    EXPECT_TRUE(box_find(p, end, "moov/trak/mdia/hdlr", &b));
    EXPECT_TRUE(memcmp(b.body + 8, "vide", 4) == 0);
    EXPECT_TRUE(box_find(p, end, "moov/mvex/trex", &b));
    EXPECT_EQ(rd32(b.body + 4), 1); /* track_ID */
    EXPECT_EQ(rd32(b.body + 8), 1); /* default_sample_description_index */
    const char *tables[] = {"stts", "stsc", "stco"};
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof(path), "moov/trak/mdia/minf/stbl/%s", tables[i]);
        EXPECT_TRUE(box_find(p, end, path, &b));
        EXPECT_EQ(b.end - b.start, 16);
        EXPECT_EQ(rd32(b.body + 4), 0); /* no entries */
    }

    /* stsd: version/flags, entry_count 1, then the VisualSampleEntry whose 78 bytes of fields
     * are followed by the decoder configuration box. */
    box_t stsd, sample_entry, config;
    EXPECT_TRUE(box_find(p, end, "moov/trak/mdia/minf/stbl/stsd", &stsd));
    EXPECT_EQ(rd32(stsd.body + 4), 1);
    EXPECT_TRUE(box_at(stsd.body + 8, stsd.end, &sample_entry));
    EXPECT_TRUE(sample_entry.end == stsd.end);
    EXPECT_STREQ(sample_entry.type, entry);
    EXPECT_EQ(sample_entry.body[24] << 8 | sample_entry.body[25], 642); /* width */
    EXPECT_EQ(sample_entry.body[26] << 8 | sample_entry.body[27], 362); /* height */
    EXPECT_TRUE(box_at(sample_entry.body + 78, sample_entry.end, &config));
    EXPECT_TRUE(config.end == sample_entry.end);
    EXPECT_STREQ(config.type, record_type);
    EXPECT_EQ(config.end - config.body, record_len);
    if ((size_t)(config.end - config.body) == record_len)
        EXPECT_TRUE(memcmp(config.body, record, record_len) == 0);
    vg_frame_unref(&f);
    EXPECT_TRUE(f == NULL);
}

VG_TEST(init_segment_h264)
{
    check_init(VG_CODEC_H264, h362_au1, sizeof(h362_au1), "avc1", "avcC", h362_avcc,
               sizeof(h362_avcc));
}

VG_TEST(init_segment_h265)
{
    check_init(VG_CODEC_H265, m362_au1, sizeof(m362_au1), "hvc1", "hvcC", m362_hvcc,
               sizeof(m362_hvcc));
}

VG_TEST(init_segment_refuses)
{
    vg_h26x_params_t ps;
    params_from(&ps, VG_CODEC_H265, m362_au1, sizeof(m362_au1));
    ps.vps_len = 0; /* H.265 without its VPS */
    vg_fmp4_track_t track = {.params = &ps, .timescale = 90000};
    int err = 0;
    EXPECT_TRUE(vg_fmp4_init_segment(&track, &err) == NULL);
    EXPECT_EQ(err, VG_EPROTO);

    params_from(&ps, VG_CODEC_H264, h362_au1, sizeof(h362_au1));
    ps.sps_len = 3; /* too short to hold profile and level */
    err = 0;
    EXPECT_TRUE(vg_fmp4_init_segment(&track, &err) == NULL);
    EXPECT_EQ(err, VG_EPROTO);

    params_from(&ps, VG_CODEC_H264, h362_au1, sizeof(h362_au1));
    track.timescale = 0;
    err = 0;
    EXPECT_TRUE(vg_fmp4_init_segment(&track, &err) == NULL);
    EXPECT_EQ(err, VG_EINVAL);
}

/* ---- fragments ---------------------------------------------------------------------------- */

/* Checks a fragment of these samples against everything the reader finds in it. */
static void check_fragment(const vg_frame_t *f, uint32_t seq, uint64_t base,
                           const vg_fmp4_sample_t *samples, size_t n)
{
    const uint8_t *p = f->data, *end = f->data + f->len;
    EXPECT_TRUE(boxes_tile(p, end));
    box_t moof, mdat, b;
    EXPECT_TRUE(box_at(p, end, &moof) && strcmp(moof.type, "moof") == 0);
    EXPECT_TRUE(box_at(moof.end, end, &mdat) && strcmp(mdat.type, "mdat") == 0);
    EXPECT_TRUE(mdat.end == end);
    if (mdat.end != end)
        return;

    EXPECT_TRUE(box_find(p, end, "moof/mfhd", &b));
    EXPECT_EQ(rd32(b.body + 4), seq);
    EXPECT_TRUE(box_find(p, end, "moof/traf/tfhd", &b));
    EXPECT_EQ(rd32(b.body), 0x020000); /* version 0, default-base-is-moof, nothing else */
    EXPECT_EQ(rd32(b.body + 4), 1);
    EXPECT_TRUE(box_find(p, end, "moof/traf/tfdt", &b));
    EXPECT_EQ(b.body[0], 1); /* version 1: 64-bit time */
    EXPECT_TRUE(rd64(b.body + 4) == base);

    box_t trun;
    EXPECT_TRUE(box_find(p, end, "moof/traf/trun", &trun));
    EXPECT_EQ(rd32(trun.body), 0x000701); /* data offset, duration, size, flags */
    EXPECT_EQ(rd32(trun.body + 4), n);
    EXPECT_EQ(trun.end - trun.body, 12 + 12 * n);
    /* default-base-is-moof: the offset counts from the moof's first byte. */
    EXPECT_TRUE(moof.start + rd32(trun.body + 8) == mdat.body);

    uint8_t *expected = malloc(f->len);
    size_t at = 0;
    const uint8_t *entry = trun.body + 12;
    for (size_t i = 0; i < n && entry + 12 <= trun.end; i++, entry += 12) {
        const vg_frame_t *au = samples[i].au;
        size_t size = expected_sample(au->meta.codec, au->data, au->len, expected + at);
        EXPECT_EQ(rd32(entry), samples[i].duration);
        EXPECT_EQ(rd32(entry + 4), size);
        EXPECT_EQ(rd32(entry + 8), au->meta.is_key ? 0x02000000 : 0x01010000);
        at += size;
    }
    EXPECT_EQ(mdat.end - mdat.body, at);
    if ((size_t)(mdat.end - mdat.body) == at)
        EXPECT_TRUE(memcmp(mdat.body, expected, at) == 0);
    free(expected);
}

/* Counts the NAL units of each type in an mdat of 4-byte-length units; false when the lengths
 * do not add up to the payload. */
static bool mdat_nal_types(vg_codec_t codec, const vg_frame_t *f, int counts[64])
{
    box_t moof, mdat;
    if (!box_at(f->data, f->data + f->len, &moof) ||
        !box_at(moof.end, f->data + f->len, &mdat))
        return false;
    const uint8_t *p = mdat.body;
    memset(counts, 0, 64 * sizeof(int));
    while (mdat.end - p >= 5) {
        uint32_t n = rd32(p);
        if (n == 0 || n > (size_t)(mdat.end - p - 4))
            return false;
        counts[codec == VG_CODEC_H264 ? p[4] & 0x1f : (p[4] >> 1) & 0x3f]++;
        p += 4 + n;
    }
    return p == mdat.end;
}

VG_TEST(fragment_h264)
{
    /* An access unit delimiter (type 9, primary_pic_type 7) before the IDR's parameter sets,
     * as some cameras send it. */
    uint8_t aud_au1[6 + sizeof(h362_au1)] = {0x00, 0x00, 0x00, 0x01, 0x09, 0xf0};
    memcpy(aud_au1 + 6, h362_au1, sizeof(h362_au1));
    vg_frame_t *aus[3] = {
        au_frame(VG_CODEC_H264, true, aud_au1, sizeof(aud_au1)),
        au_frame(VG_CODEC_H264, false, h362_au2, sizeof(h362_au2)),
        au_frame(VG_CODEC_H264, false, h362_au2, sizeof(h362_au2)),
    };
    vg_fmp4_sample_t samples[3] = {{aus[0], 3000}, {aus[1], 3003}, {aus[2], 2997}};
    aus[0]->meta.capture_us = 1700000000123456;
    aus[0]->meta.ingest_us = 1700000000124000;
    uint64_t base = (UINT64_C(1) << 33) + 5; /* past 32 bits: tfdt must be version 1 */
    int err = 1;
    vg_frame_t *f = vg_fmp4_fragment(7, base, samples, 3, &err);
    EXPECT_TRUE(f != NULL);
    if (f != NULL) {
        EXPECT_EQ(err, 0);
        EXPECT_EQ(f->meta.codec, VG_CODEC_H264);
        EXPECT_TRUE(f->meta.is_key);
        EXPECT_EQ(f->meta.capture_us, 1700000000123456);
        EXPECT_EQ(f->meta.ingest_us, 1700000000124000);
        check_fragment(f, 7, base, samples, 3);
        int counts[64];
        EXPECT_TRUE(mdat_nal_types(VG_CODEC_H264, f, counts));
        EXPECT_EQ(counts[5], 1); /* the IDR slice */
        EXPECT_EQ(counts[1], 2); /* the P slices */
        EXPECT_EQ(counts[7] + counts[8] + counts[9], 0);
        /* moof 88 + 12 per sample, mdat 8 + three units: the IDR (its 00 00 01 start code
         * at offset 41 of h362_au1) and the P slice twice (4-byte start code). */
        size_t idr_len = sizeof(h362_au1) - 44, p_len = sizeof(h362_au2) - 4;
        EXPECT_EQ(f->len, 88 + 3 * 12 + 8 + 4 + idr_len + 2 * (4 + p_len));
    }
    vg_frame_unref(&f);
    for (int i = 0; i < 3; i++)
        vg_frame_unref(&aus[i]);
}

VG_TEST(fragment_h265)
{
    vg_frame_t *aus[2] = {
        au_frame(VG_CODEC_H265, true, m362_au1, sizeof(m362_au1)),
        au_frame(VG_CODEC_H265, false, m362_au2, sizeof(m362_au2)),
    };
    vg_fmp4_sample_t samples[2] = {{aus[0], 3600}, {aus[1], 3600}};
    int err = 1;
    vg_frame_t *f = vg_fmp4_fragment(1, 0, samples, 2, &err);
    EXPECT_TRUE(f != NULL);
    if (f != NULL) {
        EXPECT_EQ(err, 0);
        EXPECT_EQ(f->meta.codec, VG_CODEC_H265);
        check_fragment(f, 1, 0, samples, 2);
        int counts[64];
        EXPECT_TRUE(mdat_nal_types(VG_CODEC_H265, f, counts));
        EXPECT_EQ(counts[32] + counts[33] + counts[34] + counts[35], 0);
        EXPECT_EQ(counts[20], 1); /* IDR_N_LP */
        EXPECT_EQ(counts[1], 1);  /* TRAIL_R */
    }
    vg_frame_unref(&f);

    /* A part that starts with a P picture is not independent. */
    vg_fmp4_sample_t p_only[1] = {{aus[1], 3600}};
    f = vg_fmp4_fragment(2, 7200, p_only, 1, &err);
    EXPECT_TRUE(f != NULL);
    if (f != NULL) {
        EXPECT_TRUE(!f->meta.is_key);
        check_fragment(f, 2, 7200, p_only, 1);
    }
    vg_frame_unref(&f);
    for (int i = 0; i < 2; i++)
        vg_frame_unref(&aus[i]);
}

VG_TEST(fragment_refuses_what_it_cannot_write)
{
    int err = 0;
    EXPECT_TRUE(vg_fmp4_fragment(1, 0, NULL, 0, &err) == NULL);
    EXPECT_EQ(err, VG_EINVAL);

    /* Only parameter sets, an AUD alone, nothing at all, and a codec that is not H.26x. */
    vg_h26x_params_t ps;
    params_from(&ps, VG_CODEC_H264, h362_au1, sizeof(h362_au1));
    uint8_t annexb[2 * VG_H26X_PS_MAX + 8];
    int ps_len = vg_h26x_params_annexb(&ps, annexb, sizeof(annexb));
    EXPECT_TRUE(ps_len > 0);
    static const uint8_t aud[] = {0x00, 0x00, 0x00, 0x01, 0x46, 0x01, 0x50}; /* H.265 AUD */
    vg_frame_t *good = au_frame(VG_CODEC_H264, false, h362_au2, sizeof(h362_au2));
    vg_frame_t *bad[] = {
        au_frame(VG_CODEC_H264, true, annexb, (size_t)ps_len),
        au_frame(VG_CODEC_H265, false, aud, sizeof(aud)),
        au_frame(VG_CODEC_H264, false, h362_au2, 0),
        au_frame(VG_CODEC_JPEG, false, h362_au2, sizeof(h362_au2)),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* Last in the list: the samples before it pass, so the refusal is this one's. */
        vg_fmp4_sample_t samples[2] = {{good, 3000}, {bad[i], 3000}};
        err = 0;
        EXPECT_TRUE(vg_fmp4_fragment(1, 0, samples, 2, &err) == NULL);
        EXPECT_EQ(err, VG_EINVAL);
        vg_frame_unref(&bad[i]);
    }

    /* A count whose trun would not fit 32 bits is refused before any sample is read: the
     * array holds one (ASan would see a read past it). */
    vg_fmp4_sample_t one[1] = {{good, 3000}};
    size_t counts[] = {SIZE_MAX, SIZE_MAX / 12 + 1, (UINT32_MAX - 96) / 12 + 1};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        err = 0;
        EXPECT_TRUE(vg_fmp4_fragment(1, 0, one, counts[i], &err) == NULL);
        EXPECT_EQ(err, VG_EINVAL);
    }
    vg_frame_unref(&good);
}

/* ThreadSanitizer checks every byte memchr reads against its shadow: 4 GiB of scanning takes
 * it 27 s (`time build-tsan/test_fmp4`), against 0.5 s under ASan, and the test has no
 * threads to check. */
#if defined(__SANITIZE_THREAD__)
#define IS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IS_TSAN 1
#endif
#endif

VG_TEST(fragment_refuses_4gib)
{
#ifdef IS_TSAN
    printf("skip fragment_refuses_4gib: 4 GiB of memchr under ThreadSanitizer takes ~30 s\n");
    return;
#endif
    /* One slice of 2 GiB, twice: each fits a 32-bit sample size, their mdat does not. The
     * mapping is untouched zero pages but for its first and last bytes, so it costs little
     * memory; the refusal must come from the size check, not from an allocation. */
    if (SIZE_MAX <= UINT32_MAX) {
        printf("skip fragment_refuses_4gib: a 32-bit size_t cannot hold the test's AU\n");
        return;
    }
    size_t len = (size_t)1 << 31;
    uint8_t *au = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (au == MAP_FAILED) {
        printf("skip fragment_refuses_4gib: mmap of 2 GiB refused\n");
        return;
    }
    static const uint8_t slice_head[] = {0x00, 0x00, 0x00, 0x01, 0x41, 0x9a};
    memcpy(au, slice_head, sizeof(slice_head));
    au[len - 1] = 0x80; /* the slice's last byte: the zeros before it are slice data */
    vg_frame_t *big = vg_frame_wrap(au, len, NULL, NULL);
    big->meta.codec = VG_CODEC_H264;
    vg_fmp4_sample_t samples[2] = {{big, 3000}, {big, 3000}};
    int err = 0;
    EXPECT_TRUE(vg_fmp4_fragment(1, 0, samples, 2, &err) == NULL);
    EXPECT_EQ(err, VG_EINVAL);
    vg_frame_unref(&big);
    munmap(au, len);
}

/* ---- the audio track ---------------------------------------------------------------------- */

/* AAC-LC, 48 kHz, stereo: object type 2, frequency index 3, channel configuration 2 (ISO/IEC
 * 14496-3 1.6.2.1), the config= the simulator's rtpmp4gpay sends. */
static const uint8_t aac_lc_48k_stereo[] = {0x11, 0x90};

/* The n-th child box of type `type` inside [p, end), 0-based. */
static bool child_nth(const uint8_t *p, const uint8_t *end, const char *type, int n, box_t *out)
{
    while (p < end) {
        box_t b;
        if (!box_at(p, end, &b))
            return false;
        if (strcmp(b.type, type) == 0 && n-- == 0) {
            *out = b;
            return true;
        }
        p = b.end;
    }
    return false;
}

VG_TEST(init_segment_with_audio)
{
    vg_h26x_params_t ps;
    params_from(&ps, VG_CODEC_H264, h362_au1, sizeof(h362_au1));
    vg_fmp4_audio_t audio = {.config = aac_lc_48k_stereo,
                             .config_len = sizeof(aac_lc_48k_stereo),
                             .sample_rate = 48000,
                             .channels = 2};
    vg_fmp4_track_t video_only = {.params = &ps, .timescale = 90000};
    vg_fmp4_track_t both = {.params = &ps, .timescale = 90000, .audio = &audio};
    int err = 1;
    vg_frame_t *v = vg_fmp4_init_segment(&video_only, &err);
    vg_frame_t *f = vg_fmp4_init_segment(&both, &err);
    EXPECT_TRUE(v != NULL && f != NULL);
    if (v == NULL || f == NULL)
        return;
    EXPECT_EQ(err, 0);
    const uint8_t *p = f->data, *end = f->data + f->len;
    EXPECT_TRUE(boxes_tile(p, end));
    box_t moov, b, vtrak, vtrak_only, atrak;
    EXPECT_TRUE(box_find(p, end, "moov", &moov));
    EXPECT_TRUE(box_find(p, end, "moov/mvhd", &b));
    EXPECT_EQ(rd32(b.end - 4), 3); /* next_track_ID */
    /* The video trak is byte for byte the one of the video-only file. */
    EXPECT_TRUE(child_nth(moov.body, moov.end, "trak", 0, &vtrak));
    EXPECT_TRUE(box_find(v->data, v->data + v->len, "moov/trak", &vtrak_only));
    EXPECT_EQ(vtrak.end - vtrak.start, vtrak_only.end - vtrak_only.start);
    EXPECT_TRUE(memcmp(vtrak.start, vtrak_only.start, (size_t)(vtrak.end - vtrak.start)) == 0);

    EXPECT_TRUE(child_nth(moov.body, moov.end, "trak", 1, &atrak));
    EXPECT_TRUE(box_find(atrak.body, atrak.end, "tkhd", &b));
    EXPECT_EQ(rd32(b.body + 4 + 8), 2);               /* track_ID */
    EXPECT_EQ(b.body[4 + 32] << 8 | b.body[4 + 33], 0x0100); /* volume 1.0 */
    EXPECT_EQ(rd32(b.end - 8), 0);                    /* no width, height */
    EXPECT_TRUE(box_find(atrak.body, atrak.end, "mdia/mdhd", &b));
    EXPECT_EQ(rd32(b.body + 4 + 8), 48000);           /* timescale: the sample rate */
    EXPECT_TRUE(box_find(atrak.body, atrak.end, "mdia/hdlr", &b));
    EXPECT_TRUE(memcmp(b.body + 8, "soun", 4) == 0);
    EXPECT_TRUE(box_find(atrak.body, atrak.end, "mdia/minf/smhd", &b));
    EXPECT_EQ(b.end - b.start, 16);
    box_t stsd, mp4a, esds;
    EXPECT_TRUE(box_find(atrak.body, atrak.end, "mdia/minf/stbl/stsd", &stsd));
    EXPECT_EQ(rd32(stsd.body + 4), 1);
    EXPECT_TRUE(box_at(stsd.body + 8, stsd.end, &mp4a) && mp4a.end == stsd.end);
    EXPECT_STREQ(mp4a.type, "mp4a");
    /* AudioSampleEntry (14496-12 12.2.3): reserved 6, data_reference_index, reserved 8,
     * channelcount, samplesize, pre_defined, reserved, samplerate 16.16. */
    EXPECT_EQ(mp4a.body[6] << 8 | mp4a.body[7], 1);
    EXPECT_EQ(mp4a.body[16] << 8 | mp4a.body[17], 2);
    EXPECT_EQ(mp4a.body[18] << 8 | mp4a.body[19], 16);
    EXPECT_EQ(rd32(mp4a.body + 24), 48000u << 16);
    EXPECT_TRUE(box_at(mp4a.body + 28, mp4a.end, &esds) && esds.end == mp4a.end);
    EXPECT_STREQ(esds.type, "esds");
    /* The descriptors (14496-1 7.2.6.5, 7.2.6.6, 7.2.6.7), each tag then a one-byte size. */
    const uint8_t *d = esds.body + 4;
    size_t esds_len = (size_t)(esds.end - d);
    EXPECT_EQ(esds_len, 25 + sizeof(aac_lc_48k_stereo));
    if (esds_len == 25 + sizeof(aac_lc_48k_stereo)) {
        EXPECT_EQ(d[0], 0x03);              /* ES_Descriptor */
        EXPECT_EQ(d[1], esds_len - 2);
        EXPECT_EQ(d[5], 0x04);              /* DecoderConfigDescriptor */
        EXPECT_EQ(d[6], 13 + 2 + sizeof(aac_lc_48k_stereo));
        EXPECT_EQ(d[7], 0x40);              /* MPEG-4 audio */
        EXPECT_EQ(d[8] >> 2, 5);            /* streamType audio */
        EXPECT_EQ(d[20], 0x05);             /* DecoderSpecificInfo */
        EXPECT_EQ(d[21], sizeof(aac_lc_48k_stereo));
        EXPECT_TRUE(memcmp(d + 22, aac_lc_48k_stereo, sizeof(aac_lc_48k_stereo)) == 0);
        EXPECT_EQ(d[24], 0x06);             /* SLConfigDescriptor */
        EXPECT_EQ(d[25], 1);
        EXPECT_EQ(d[26], 2);
    }
    box_t mvex, trex;
    EXPECT_TRUE(box_find(p, end, "moov/mvex", &mvex));
    EXPECT_TRUE(child_nth(mvex.body, mvex.end, "trex", 0, &trex));
    EXPECT_EQ(rd32(trex.body + 4), 1);
    EXPECT_TRUE(child_nth(mvex.body, mvex.end, "trex", 1, &trex));
    EXPECT_EQ(rd32(trex.body + 4), 2);
    vg_frame_unref(&v);
    vg_frame_unref(&f);
}

VG_TEST(init_segment_refuses_bad_audio)
{
    vg_h26x_params_t ps;
    params_from(&ps, VG_CODEC_H264, h362_au1, sizeof(h362_au1));
    uint8_t long_config[VG_FMP4_AUDIO_CONFIG_MAX + 1] = {0x11, 0x90};
    vg_fmp4_audio_t bad[] = {
        {.config = long_config, .config_len = 1, .sample_rate = 48000, .channels = 2},
        {.config = long_config, .config_len = sizeof(long_config), .sample_rate = 48000,
         .channels = 2},
        {.config = NULL, .config_len = 2, .sample_rate = 48000, .channels = 2},
        {.config = long_config, .config_len = 2, .sample_rate = 0, .channels = 2},
        {.config = long_config, .config_len = 2, .sample_rate = 48000, .channels = 0},
        {.config = long_config, .config_len = 2, .sample_rate = 48000, .channels = 256},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vg_fmp4_track_t track = {.params = &ps, .timescale = 90000, .audio = &bad[i]};
        int err = 0;
        EXPECT_TRUE(vg_fmp4_init_segment(&track, &err) == NULL);
        EXPECT_EQ(err, VG_EINVAL);
    }
    /* The longest config allowed is written. */
    vg_fmp4_audio_t longest = {.config = long_config, .config_len = VG_FMP4_AUDIO_CONFIG_MAX,
                               .sample_rate = 96000, .channels = 8};
    vg_fmp4_track_t track = {.params = &ps, .timescale = 90000, .audio = &longest};
    int err = 1;
    vg_frame_t *f = vg_fmp4_init_segment(&track, &err);
    EXPECT_TRUE(f != NULL && err == 0);
    if (f != NULL)
        EXPECT_TRUE(boxes_tile(f->data, f->data + f->len));
    vg_frame_unref(&f);
}

static vg_frame_t *aac_frame(size_t len, uint8_t fill)
{
    vg_frame_t *f = vg_frame_new(len);
    memset(f->data, fill, len);
    f->len = len;
    f->meta.codec = VG_CODEC_AAC;
    f->meta.is_key = true;
    return f;
}

VG_TEST(fragment_with_audio)
{
    vg_frame_t *au1 = au_frame(VG_CODEC_H264, true, h362_au1, sizeof(h362_au1));
    vg_frame_t *au2 = au_frame(VG_CODEC_H264, false, h362_au2, sizeof(h362_au2));
    vg_frame_t *aac[3] = {aac_frame(5, 0xa1), aac_frame(371, 0xb2), aac_frame(7, 0xc3)};
    vg_fmp4_sample_t vs[2] = {{au1, 3000}, {au2, 3000}};
    vg_fmp4_sample_t as[3] = {{aac[0], 1024}, {aac[1], 1024}, {aac[2], 1000}};
    vg_fmp4_run_t video = {.base_decode_time = 90000ull << 33, .samples = vs, .n = 2};
    vg_fmp4_run_t audio = {.base_decode_time = 48000ull * 7, .samples = as, .n = 3};
    int err = 1;
    vg_frame_t *only = vg_fmp4_fragment(9, video.base_decode_time, vs, 2, &err);
    vg_frame_t *f = vg_fmp4_fragment_av(9, &video, &audio, &err);
    EXPECT_TRUE(only != NULL && f != NULL);
    if (only == NULL || f == NULL)
        return;
    EXPECT_EQ(err, 0);
    EXPECT_TRUE(f->meta.is_key && f->meta.codec == VG_CODEC_H264);
    const uint8_t *p = f->data, *end = f->data + f->len;
    EXPECT_TRUE(boxes_tile(p, end));
    box_t moof, mdat, vtraf, atraf, b, only_moof, only_mdat;
    EXPECT_TRUE(box_at(p, end, &moof) && strcmp(moof.type, "moof") == 0);
    EXPECT_TRUE(box_at(moof.end, end, &mdat) && mdat.end == end);
    EXPECT_TRUE(box_at(only->data, only->data + only->len, &only_moof));
    EXPECT_TRUE(box_at(only_moof.end, only->data + only->len, &only_mdat));
    size_t video_bytes = (size_t)(only_mdat.end - only_mdat.body);
    EXPECT_EQ(mdat.end - mdat.body, video_bytes + 5 + 371 + 7);

    EXPECT_TRUE(child_nth(moof.body, moof.end, "traf", 0, &vtraf));
    EXPECT_TRUE(box_find(vtraf.body, vtraf.end, "tfhd", &b));
    EXPECT_EQ(rd32(b.body + 4), 1);
    EXPECT_TRUE(box_find(vtraf.body, vtraf.end, "tfdt", &b));
    EXPECT_TRUE(rd64(b.body + 4) == video.base_decode_time);
    EXPECT_TRUE(box_find(vtraf.body, vtraf.end, "trun", &b));
    EXPECT_EQ(rd32(b.body + 4), 2);
    EXPECT_TRUE(moof.start + rd32(b.body + 8) == mdat.body);
    /* The video samples are those of the video-only fragment, first in the mdat. */
    EXPECT_TRUE(memcmp(mdat.body, only_mdat.body, video_bytes) == 0);

    EXPECT_TRUE(child_nth(moof.body, moof.end, "traf", 1, &atraf));
    EXPECT_TRUE(box_find(atraf.body, atraf.end, "tfhd", &b));
    EXPECT_EQ(rd32(b.body), 0x020000);
    EXPECT_EQ(rd32(b.body + 4), 2);
    EXPECT_TRUE(box_find(atraf.body, atraf.end, "tfdt", &b));
    EXPECT_EQ(b.body[0], 1);
    EXPECT_TRUE(rd64(b.body + 4) == audio.base_decode_time);
    box_t trun;
    EXPECT_TRUE(box_find(atraf.body, atraf.end, "trun", &trun));
    EXPECT_EQ(rd32(trun.body), 0x000701);
    EXPECT_EQ(rd32(trun.body + 4), 3);
    EXPECT_EQ(trun.end - trun.body, 12 + 12 * 3);
    const uint8_t *at = moof.start + rd32(trun.body + 8);
    EXPECT_TRUE(at == mdat.body + video_bytes);
    const uint8_t *entry = trun.body + 12;
    for (int i = 0; i < 3 && entry + 12 <= trun.end; i++, entry += 12) {
        EXPECT_EQ(rd32(entry), as[i].duration);
        EXPECT_EQ(rd32(entry + 4), aac[i]->len);
        EXPECT_EQ(rd32(entry + 8), 0x02000000); /* every AAC frame is a sync sample */
        if (at + aac[i]->len <= mdat.end)
            EXPECT_TRUE(memcmp(at, aac[i]->data, aac[i]->len) == 0);
        at += aac[i]->len;
    }
    EXPECT_TRUE(at == mdat.end);

    /* No audio, or none in this part: the video-only bytes. */
    vg_fmp4_run_t none = {.base_decode_time = 5, .samples = as, .n = 0};
    vg_frame_t *g = vg_fmp4_fragment_av(9, &video, &none, &err);
    EXPECT_TRUE(g != NULL && g->len == only->len && memcmp(g->data, only->data, g->len) == 0);
    vg_frame_unref(&g);

    /* An empty AAC frame, or a sample that is not AAC, is refused. */
    vg_frame_t *empty = aac_frame(0, 0);
    vg_fmp4_sample_t bad1[2] = {{aac[0], 1024}, {empty, 1024}};
    vg_fmp4_sample_t bad2[2] = {{aac[0], 1024}, {au2, 1024}};
    vg_fmp4_run_t bad_runs[2] = {{.samples = bad1, .n = 2}, {.samples = bad2, .n = 2}};
    for (int i = 0; i < 2; i++) {
        err = 0;
        EXPECT_TRUE(vg_fmp4_fragment_av(9, &video, &bad_runs[i], &err) == NULL);
        EXPECT_EQ(err, VG_EINVAL);
    }
    /* No video: refused (a part always starts with video). */
    vg_fmp4_run_t no_video = {.samples = vs, .n = 0};
    err = 0;
    EXPECT_TRUE(vg_fmp4_fragment_av(9, &no_video, &audio, &err) == NULL);
    EXPECT_EQ(err, VG_EINVAL);

    vg_frame_unref(&empty);
    for (int i = 0; i < 3; i++)
        vg_frame_unref(&aac[i]);
    vg_frame_unref(&au1);
    vg_frame_unref(&au2);
    vg_frame_unref(&only);
    vg_frame_unref(&f);
}
