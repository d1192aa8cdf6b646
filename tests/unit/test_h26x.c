/* Tests for media/h26x against real encoder output: parameter sets, WebCodecs codec strings,
 * avcC/hvcC records and picture sizes of x264 and x265 streams, compared with what FFmpeg's own
 * tools say of the same bytes; plus Annex B edge cases (3- and 4-byte start codes, trailing
 * zeros, garbage), truncated and oversize parameter sets, and too-small output buffers. Run
 * under ASan, the truncation tests also check that no read goes past a parameter set.
 *
 * The streams and where their expected values come from: h26x_streams.h.
 */
#include <stdbool.h>

#include "core/err.h"
#include "h26x_streams.h"
#include "media/h26x.h"
#include "vg_test.h"


typedef struct clip {
    const char *name;
    vg_codec_t codec;
    const uint8_t *au1, *au2, *record;
    size_t au1_len, au2_len, record_len;
    int width, height;
    const char *codec_string;
} clip_t;

#define CLIP(n, c, w, h, s, rec)                                                               \
    {.name = #n, .codec = c, .au1 = n##_au1, .au1_len = sizeof(n##_au1), .au2 = n##_au2,       \
     .au2_len = sizeof(n##_au2), .record = n##_##rec, .record_len = sizeof(n##_##rec),          \
     .width = w, .height = h, .codec_string = s}

static const clip_t clips[] = {
    CLIP(b720, VG_CODEC_H264, 1280, 720, "avc1.42c01f", avcc),
    CLIP(h362, VG_CODEC_H264, 642, 362, "avc1.64001e", avcc),
    CLIP(h422, VG_CODEC_H264, 642, 362, "avc1.7a001e", avcc),
    CLIP(hi364, VG_CODEC_H264, 642, 364, "avc1.64001e", avcc),
    CLIP(m362, VG_CODEC_H265, 642, 362, "hvc1.1.6.L63.90", hvcc),
    CLIP(m10_720, VG_CODEC_H265, 1280, 720, "hvc1.2.4.L93.90", hvcc),
};
#define N_CLIPS (sizeof(clips) / sizeof(clips[0]))

static void params_from(vg_h26x_params_t *ps, const clip_t *c)
{
    memset(ps, 0, sizeof(*ps));
    ps->codec = c->codec;
    EXPECT_EQ(vg_h26x_params_update(ps, c->au1, c->au1_len), 1);
}

static void expect_bytes(const char *what, const uint8_t *got, size_t got_len,
                         const uint8_t *want, size_t want_len)
{
    EXPECT_EQ(got_len, want_len);
    for (size_t i = 0; i < got_len && i < want_len; i++) {
        if (got[i] != want[i]) {
            fprintf(stderr, "%s: first difference at byte %zu: %02x != %02x\n", what, i,
                    got[i], want[i]);
            vg__test_failed = 1;
            return;
        }
    }
}

VG_TEST(real_streams_match_ffmpeg)
{
    for (size_t i = 0; i < N_CLIPS; i++) {
        const clip_t *c = &clips[i];
        fprintf(stderr, "clip %s\n", c->name);
        vg_h26x_params_t ps;
        params_from(&ps, c);
        EXPECT_TRUE(vg_h26x_params_complete(&ps));

        int w = -1, h = -1;
        EXPECT_EQ(vg_h26x_picture_size(&ps, &w, &h), 0);
        EXPECT_EQ(w, c->width);
        EXPECT_EQ(h, c->height);

        char s[64];
        EXPECT_EQ(vg_h26x_codec_string(&ps, s, sizeof(s)), 0);
        EXPECT_STREQ(s, c->codec_string);

        uint8_t rec[4 * VG_H26X_PS_MAX];
        int n = vg_h26x_description(&ps, rec, sizeof(rec));
        EXPECT_TRUE(n > 0);
        if (n > 0)
            expect_bytes(c->name, rec, (size_t)n, c->record, c->record_len);
    }
}

VG_TEST(keyframes_and_sps_by_access_unit)
{
    for (size_t i = 0; i < N_CLIPS; i++) {
        const clip_t *c = &clips[i];
        EXPECT_TRUE(vg_h26x_has_keyframe(c->codec, c->au1, c->au1_len));
        EXPECT_TRUE(vg_h26x_has_sps(c->codec, c->au1, c->au1_len));
        EXPECT_TRUE(!vg_h26x_has_keyframe(c->codec, c->au2, c->au2_len));
        EXPECT_TRUE(!vg_h26x_has_sps(c->codec, c->au2, c->au2_len));
        /* Read as the other codec, the same bytes hold neither (an H.264 SPS header 0x67 is
         * H.265 type 51; an H.265 VPS header 0x40 is H.264 type 0). */
        vg_codec_t other = c->codec == VG_CODEC_H264 ? VG_CODEC_H265 : VG_CODEC_H264;
        EXPECT_TRUE(!vg_h26x_has_sps(other, c->au1, c->au1_len));
    }
}

VG_TEST(keyframe_nal_types)
{
    for (int t = 0; t < 64; t++) {
        /* H.265 NAL header: forbidden 0, type (6 bits), layer id 0, temporal id plus 1 = 1. */
        uint8_t au[] = {0, 0, 0, 1, (uint8_t)(t << 1), 1, 0xaf};
        EXPECT_EQ(vg_h26x_has_keyframe(VG_CODEC_H265, au, sizeof(au)), t >= 16 && t <= 21);
        EXPECT_EQ(vg_h26x_nal_type(VG_CODEC_H265, au + 4, 3), t);
    }
    for (int t = 0; t < 32; t++) {
        uint8_t au[] = {0, 0, 1, (uint8_t)(0x60 | t), 0x88};
        EXPECT_EQ(vg_h26x_has_keyframe(VG_CODEC_H264, au, sizeof(au)), t == 5);
        EXPECT_EQ(vg_h26x_nal_type(VG_CODEC_H264, au + 3, 2), t);
    }
    EXPECT_EQ(vg_h26x_nal_type(VG_CODEC_H264, clips[0].au1, 0), -1);
    EXPECT_EQ(vg_h26x_nal_type(VG_CODEC_H265, clips[0].au1, 0), -1);
}

/* The units of buf, as (offset, length) pairs. */
static size_t collect(const uint8_t *buf, size_t len, const uint8_t **nals, size_t *lens,
                      size_t max)
{
    size_t pos = 0, n = 0;
    const uint8_t *nal;
    size_t nal_len;
    while (n < max && vg_h26x_next_nal(buf, len, &pos, &nal, &nal_len)) {
        EXPECT_TRUE(nal >= buf && nal + nal_len <= buf + len);
        nals[n] = nal;
        lens[n++] = nal_len;
    }
    return n;
}

VG_TEST(start_codes_of_3_and_4_bytes_and_trailing_zeros)
{
    /* h362's first access unit holds SPS, PPS and IDR slice: 27, 6 and 88 bytes, as python
     * counts them: [len(p.rstrip(b'\0')) for p in data.split(b'\0\0\1')[1:]]. */
    const uint8_t *nals[8];
    size_t lens[8];
    size_t n = collect(h362_au1, sizeof(h362_au1), nals, lens, 8);
    EXPECT_EQ(n, 3);
    EXPECT_EQ(lens[0], 27);
    EXPECT_EQ(lens[1], 6);
    EXPECT_EQ(lens[2], 88);

    /* Rebuild the unit with each start code form, with and without trailing_zero_8bits. */
    static const struct {
        uint8_t code[4];
        size_t code_len, zeros;
    } forms[] = {{{0, 0, 1}, 3, 0}, {{0, 0, 0, 1}, 4, 0}, {{0, 0, 1}, 3, 3}, {{0, 0, 0, 1}, 4, 2}};
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        uint8_t buf[256];
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(buf + len, forms[f].code, forms[f].code_len);
            len += forms[f].code_len;
            memcpy(buf + len, nals[i], lens[i]);
            len += lens[i];
            memset(buf + len, 0, forms[f].zeros);
            len += forms[f].zeros;
        }
        EXPECT_TRUE(vg_h26x_is_annexb(buf, len));
        const uint8_t *got[8];
        size_t got_lens[8];
        EXPECT_EQ(collect(buf, len, got, got_lens, 8), n);
        for (size_t i = 0; i < n; i++) {
            EXPECT_EQ(got_lens[i], lens[i]);
            EXPECT_TRUE(memcmp(got[i], nals[i], lens[i]) == 0);
        }
        vg_h26x_params_t ps = {.codec = VG_CODEC_H264};
        EXPECT_EQ(vg_h26x_params_update(&ps, buf, len), 1);
        int w = 0, h = 0;
        EXPECT_EQ(vg_h26x_picture_size(&ps, &w, &h), 0);
        EXPECT_EQ(w, 642);
        EXPECT_EQ(h, 362);
    }
}

VG_TEST(annexb_detection)
{
    static const uint8_t three[] = {0, 0, 1, 0x67}, four[] = {0, 0, 0, 1, 0x67};
    static const uint8_t avcc_like[] = {0, 0, 0, 0x1b, 0x67}, two[] = {0, 0, 2, 0x67};
    EXPECT_TRUE(vg_h26x_is_annexb(three, sizeof(three)));
    EXPECT_TRUE(vg_h26x_is_annexb(four, sizeof(four)));
    EXPECT_TRUE(vg_h26x_is_annexb(three, 3));
    EXPECT_TRUE(!vg_h26x_is_annexb(three, 2));
    EXPECT_TRUE(!vg_h26x_is_annexb(four, 3));
    EXPECT_TRUE(!vg_h26x_is_annexb(avcc_like, sizeof(avcc_like)));
    EXPECT_TRUE(!vg_h26x_is_annexb(two, sizeof(two)));
    EXPECT_TRUE(!vg_h26x_is_annexb(NULL, 0));
}

VG_TEST(nal_iteration_over_garbage)
{
    /* Garbage before the first start code, an empty unit, a unit of zeros, a 00 00 02 that is
     * no start code, and a start code at the very end. */
    static const uint8_t buf[] = {0xff, 0x12, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                                  0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x09, 0x00,
                                  0x00, 0x02, 0x33, 0x00, 0x00, 0x01};
    const uint8_t *nals[8];
    size_t lens[8];
    size_t n = collect(buf, sizeof(buf), nals, lens, 8);
    EXPECT_EQ(n, 1);
    if (n == 1) {
        EXPECT_EQ(nals[0] - buf, 14);
        EXPECT_EQ(lens[0], 5); /* 09 00 00 02 33: up to the last 00 00 01 */
    }

    static const uint8_t none[] = {0x12, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00};
    size_t pos = 0, nal_len = 0;
    const uint8_t *nal = NULL;
    EXPECT_TRUE(!vg_h26x_next_nal(none, sizeof(none), &pos, &nal, &nal_len));
    EXPECT_EQ(pos, sizeof(none));
    pos = 0;
    EXPECT_TRUE(!vg_h26x_next_nal(none, 0, &pos, &nal, &nal_len));
    pos = 0;
    EXPECT_TRUE(!vg_h26x_next_nal(buf + 19, 3, &pos, &nal, &nal_len)); /* a start code alone */

    vg_h26x_params_t ps = {.codec = VG_CODEC_H264};
    EXPECT_EQ(vg_h26x_params_update(&ps, buf, sizeof(buf)), 0);
    EXPECT_TRUE(!vg_h26x_params_complete(&ps));
}

VG_TEST(truncated_sps_is_refused_never_misread)
{
    for (size_t i = 0; i < N_CLIPS; i++) {
        const clip_t *c = &clips[i];
        vg_h26x_params_t full;
        params_from(&full, c);
        int refusals = 0;
        for (size_t cut = 0; cut < full.sps_len; cut++) {
            /* A copy on the heap of exactly cut bytes lets ASan see any read past it. */
            vg_h26x_params_t *ps = malloc(sizeof(*ps));
            memcpy(ps, &full, sizeof(*ps));
            ps->sps_len = cut;
            int w = -1, h = -1;
            int rc = vg_h26x_picture_size(ps, &w, &h);
            if (rc == 0) { /* the fields it needs all came before the cut */
                EXPECT_EQ(w, c->width);
                EXPECT_EQ(h, c->height);
            } else {
                EXPECT_EQ(rc, VG_EPROTO);
                EXPECT_EQ(w, -1);
                refusals++;
            }
            uint8_t rec[4 * VG_H26X_PS_MAX];
            int n = vg_h26x_description(ps, rec, sizeof(rec));
            EXPECT_TRUE(n > 0 || n == VG_EPROTO);
            char s[64];
            rc = vg_h26x_codec_string(ps, s, sizeof(s));
            if (rc == 0)
                EXPECT_STREQ(s, c->codec_string);
            else
                EXPECT_EQ(rc, VG_EPROTO);
            free(ps);
        }
        /* The size fields end well past the first bytes of every SPS here. */
        EXPECT_TRUE(refusals >= 8);
        vg_h26x_params_t ps = full;
        ps.sps_len = c->codec == VG_CODEC_H264 ? 3 : 14;
        char s[64];
        EXPECT_EQ(vg_h26x_codec_string(&ps, s, sizeof(s)), VG_EPROTO);
        ps.sps_len = 0;
        EXPECT_EQ(vg_h26x_description(&ps, (uint8_t *)s, sizeof(s)), VG_EPROTO);
    }
}

VG_TEST(oversize_parameter_set_leaves_params_unchanged)
{
    /* A new, valid SPS (h422's) first, then a PPS one byte over the limit: neither is taken. */
    static uint8_t buf[64 + VG_H26X_PS_MAX + 8];
    size_t len = 0;
    memcpy(buf, h422_au1, 35); /* 00 00 00 01, h422's 28-byte SPS, 00 00 00 */
    len = 35;
    static const uint8_t code[4] = {0, 0, 0, 1};
    memcpy(buf + len, code, 4);
    len += 4;
    buf[len++] = 0x68;
    memset(buf + len, 0x5a, VG_H26X_PS_MAX);
    len += VG_H26X_PS_MAX;

    vg_h26x_params_t ps, before;
    params_from(&ps, &clips[1]); /* h362 */
    before = ps;
    EXPECT_EQ(vg_h26x_params_update(&ps, buf, len), VG_EPROTO);
    EXPECT_TRUE(memcmp(&ps, &before, sizeof(ps)) == 0);

    /* One byte less fits. */
    EXPECT_EQ(vg_h26x_params_update(&ps, buf, len - 1), 1);
    EXPECT_EQ(ps.pps_len, VG_H26X_PS_MAX);
    EXPECT_TRUE(memcmp(ps.sps, h422_au1 + 4, ps.sps_len) == 0);

    /* A unit that is no parameter set may be any size. */
    buf[39] = 0x65;
    vg_h26x_params_t ps2 = {.codec = VG_CODEC_H264};
    memset(buf + len, 0x5a, 8);
    EXPECT_EQ(vg_h26x_params_update(&ps2, buf + 35, len + 8 - 35), 0);
}

VG_TEST(params_update_reports_only_changes)
{
    vg_h26x_params_t ps = {.codec = VG_CODEC_H264};
    EXPECT_EQ(vg_h26x_params_update(&ps, h362_au2, sizeof(h362_au2)), 0); /* a P slice only */
    EXPECT_TRUE(!vg_h26x_params_complete(&ps));
    EXPECT_EQ(vg_h26x_params_update(&ps, h362_au1, sizeof(h362_au1)), 1);
    EXPECT_TRUE(vg_h26x_params_complete(&ps));
    EXPECT_EQ(vg_h26x_params_update(&ps, h362_au1, sizeof(h362_au1)), 0);
    EXPECT_EQ(vg_h26x_params_update(&ps, h362_au2, sizeof(h362_au2)), 0);
    /* h422 has the same PPS bytes as h362 but another SPS. */
    EXPECT_EQ(vg_h26x_params_update(&ps, h422_au1, sizeof(h422_au1)), 1);
    char s[32];
    EXPECT_EQ(vg_h26x_codec_string(&ps, s, sizeof(s)), 0);
    EXPECT_STREQ(s, "avc1.7a001e");
    EXPECT_EQ(vg_h26x_params_update(&ps, h422_au1, sizeof(h422_au1)), 0);

    /* An old SPS repeated before the current one in the same buffer is no change: only the
     * last of each kind counts (found by fuzzing: this once returned 1 for every repeat). */
    uint8_t two[sizeof(h362_au1) + sizeof(h422_au1)];
    memcpy(two, h362_au1, sizeof(h362_au1));
    memcpy(two + sizeof(h362_au1), h422_au1, sizeof(h422_au1));
    EXPECT_EQ(vg_h26x_params_update(&ps, two, sizeof(two)), 0); /* h422's SPS already held */
    EXPECT_EQ(vg_h26x_params_update(&ps, two, sizeof(two)), 0);
    EXPECT_EQ(vg_h26x_params_update(&ps, h362_au1, sizeof(h362_au1)), 1);
    EXPECT_EQ(vg_h26x_params_update(&ps, two, sizeof(two)), 1);
    EXPECT_EQ(vg_h26x_codec_string(&ps, s, sizeof(s)), 0);
    EXPECT_STREQ(s, "avc1.7a001e");

    /* H.265 needs its VPS too. */
    vg_h26x_params_t hp = {.codec = VG_CODEC_H265};
    /* From the SPS start code on: no VPS. */
    EXPECT_EQ(vg_h26x_params_update(&hp, m362_au1 + 28, sizeof(m362_au1) - 28), 1);
    EXPECT_TRUE(hp.vps_len == 0 && hp.sps_len > 0 && hp.pps_len > 0);
    EXPECT_TRUE(!vg_h26x_params_complete(&hp));
    uint8_t rec[64];
    EXPECT_EQ(vg_h26x_description(&hp, rec, sizeof(rec)), VG_EPROTO);
    EXPECT_EQ(vg_h26x_params_update(&hp, m362_au1, sizeof(m362_au1)), 1);
    EXPECT_TRUE(vg_h26x_params_complete(&hp));
    EXPECT_EQ(vg_h26x_params_update(&hp, m10_720_au1, sizeof(m10_720_au1)), 1);
    EXPECT_EQ(vg_h26x_params_update(&hp, m10_720_au2, sizeof(m10_720_au2)), 0);
}

VG_TEST(params_annexb_round_trip_and_small_buffers)
{
    for (size_t i = 0; i < N_CLIPS; i++) {
        const clip_t *c = &clips[i];
        vg_h26x_params_t ps;
        params_from(&ps, c);
        size_t want = 4 + ps.sps_len + 4 + ps.pps_len +
                      (c->codec == VG_CODEC_H265 ? 4 + ps.vps_len : 0);
        uint8_t out[3 * (VG_H26X_PS_MAX + 4)];
        EXPECT_EQ(vg_h26x_params_annexb(&ps, out, want - 1), VG_ENOSPC);
        EXPECT_EQ(vg_h26x_params_annexb(&ps, out, 0), VG_ENOSPC);
        EXPECT_EQ(vg_h26x_params_annexb(&ps, out, want), (int)want);
        EXPECT_TRUE(vg_h26x_is_annexb(out, want));
        EXPECT_TRUE(vg_h26x_has_sps(c->codec, out, want));
        vg_h26x_params_t again = {.codec = c->codec};
        EXPECT_EQ(vg_h26x_params_update(&again, out, want), 1);
        EXPECT_TRUE(memcmp(&again, &ps, sizeof(ps)) == 0);

        uint8_t rec[4 * VG_H26X_PS_MAX];
        EXPECT_EQ(vg_h26x_description(&ps, rec, c->record_len), (int)c->record_len);
        EXPECT_EQ(vg_h26x_description(&ps, rec, c->record_len - 1), VG_ENOSPC);
        EXPECT_EQ(vg_h26x_description(&ps, rec, 0), VG_ENOSPC);

        size_t slen = strlen(c->codec_string);
        char s[64];
        memset(s, 'x', sizeof(s));
        EXPECT_EQ(vg_h26x_codec_string(&ps, s, slen + 1), 0);
        EXPECT_STREQ(s, c->codec_string);
        EXPECT_EQ(vg_h26x_codec_string(&ps, s, slen), VG_ENOSPC);
        EXPECT_EQ(vg_h26x_codec_string(&ps, s, 0), VG_ENOSPC);
    }
    vg_h26x_params_t empty = {.codec = VG_CODEC_H264};
    uint8_t out[4];
    EXPECT_EQ(vg_h26x_params_annexb(&empty, out, 0), 0);
}

/* The hvc1 string for profile fields FFmpeg's x265 streams never use: a profile space, the
 * high tier, and constraint bytes with zeros inside. The SPS is m362's with its
 * profile_tier_level bytes replaced (the codec string reads nothing after them); expected
 * strings written from ISO/IEC 14496-15 E.3 by hand. */
VG_TEST(hvc1_string_fields)
{
    vg_h26x_params_t ps;
    params_from(&ps, &clips[4]);
    static const struct {
        uint8_t ptl[12];
        const char *want;
    } cases[] = {
        {{0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d}, "hvc1.1.6.L93.90"},
        {{0x22, 0x20, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 0x99}, "hvc1.2.4.H153.B0"},
        {{0x41, 0x80, 0, 0, 0x01, 0x90, 0, 0x08, 0, 0, 0, 0x3c}, "hvc1.A1.80000001.L60.90.0.8"},
        {{0xc4, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x01, 0x78}, "hvc1.C4.8000000.L120.0.0.0.0.0.1"},
        {{0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1e}, "hvc1.1.0.L30"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(ps.sps + 3, cases[i].ptl, 12); /* no 00 00 0x pattern in these */
        char s[64];
        EXPECT_EQ(vg_h26x_codec_string(&ps, s, sizeof(s)), 0);
        EXPECT_STREQ(s, cases[i].want);
    }
}

/* x264 writes scaling lists only into the PPS and always uses pic_order_cnt_type 0 (2 for
 * baseline), so these SPS are h362's rewritten by tests/unit/h26x_sps_rewrite.py (run next
 * to h362.h264): seq_scaling_matrix_present_flag with an explicit 4x4 list and an 8x8
 * "use default" list; the second also with pic_order_cnt_type 1 and a 3-entry cycle.
 * Independent checks: ffprobe -show_entries stream=width,height h362sl.h264 says 642x362
 * (and ffmpeg decodes both frames without error); for h362slpoc1.h264 (its slices no longer
 * match, so ffprobe cannot size it) `-bsf:v trace_headers` reads pic_order_cnt_type 1,
 * pic_width_in_mbs_minus1 40, pic_height_in_map_units_minus1 22 and crop right 7 / bottom 3:
 * h362's fields, hence h362's 642x362. */
static const uint8_t h362sl_sps[] = {
    0x67, 0x64, 0x00, 0x1e, 0xad, 0x8a, 0x39, 0x14, 0x70, 0x4c, 0x41, 0x88,
    0x93, 0x28, 0xc8, 0x21, 0x16, 0xca, 0x05, 0x21, 0x7f, 0x11, 0x26, 0x02,
    0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x06, 0x41, 0xe2, 0xc5,
    0xb2, 0xc0,
};
static const uint8_t h362slpoc1_sps[] = {
    0x67, 0x64, 0x00, 0x1e, 0xad, 0x8a, 0x39, 0x14, 0x70, 0x4c, 0x41, 0x88,
    0x93, 0x28, 0xc8, 0x21, 0x15, 0x4a, 0x62, 0x11, 0x81, 0x40, 0xa0, 0x52,
    0x17, 0xf1, 0x12, 0x60, 0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00,
    0x03, 0x00, 0x64, 0x1e, 0x2c, 0x5b, 0x2c,
};

VG_TEST(h264_sps_with_scaling_lists_and_poc_type_1)
{
    const uint8_t *sets[] = {h362sl_sps, h362slpoc1_sps};
    const size_t lens[] = {sizeof(h362sl_sps), sizeof(h362slpoc1_sps)};
    for (int i = 0; i < 2; i++) {
        vg_h26x_params_t full;
        params_from(&full, &clips[1]); /* h362 */
        memcpy(full.sps, sets[i], lens[i]);
        full.sps_len = lens[i];
        int w = -1, h = -1;
        EXPECT_EQ(vg_h26x_picture_size(&full, &w, &h), 0);
        EXPECT_EQ(w, 642);
        EXPECT_EQ(h, 362);
        uint8_t rec[256];
        int n = vg_h26x_description(&full, rec, sizeof(rec));
        EXPECT_EQ(n, (int)(6 + 2 + lens[i] + 3 + full.pps_len + 4));
        if (n > 4)
            EXPECT_TRUE(memcmp(rec + n - 4, "\xfd\xf8\xf8\x00", 4) == 0); /* 4:2:0, 8 bits */
        int refusals = 0;
        for (size_t cut = 0; cut < lens[i]; cut++) {
            vg_h26x_params_t *ps = malloc(sizeof(*ps));
            memcpy(ps, &full, sizeof(*ps));
            ps->sps_len = cut;
            w = h = -1;
            int rc = vg_h26x_picture_size(ps, &w, &h);
            EXPECT_TRUE(rc == VG_EPROTO || (rc == 0 && w == 642 && h == 362));
            refusals += rc == VG_EPROTO;
            free(ps);
        }
        EXPECT_TRUE(refusals >= 20); /* the crop fields sit past byte 20 */
    }
    /* 48 zero bits inside the lists: no ue(v)/se(v) has more than 31 leading zeros. */
    vg_h26x_params_t bad;
    params_from(&bad, &clips[1]);
    memcpy(bad.sps, h362sl_sps, sizeof(h362sl_sps));
    bad.sps_len = sizeof(h362sl_sps);
    memset(bad.sps + 5, 0, 6);
    int w = 0, h = 0;
    EXPECT_EQ(vg_h26x_picture_size(&bad, &w, &h), VG_EPROTO);
}
