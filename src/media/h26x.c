/* h26x: Annex B scanning, parameter-set bookkeeping, and the few SPS fields the packet lane
 * needs (codec string, avcC/hvcC, picture size), for H.264 (ITU-T H.264) and H.265 (ITU-T
 * H.265). Pure functions on caller memory, no allocation, any thread.
 *
 * Every byte comes from a camera, so every read is bounded: NAL units are found by scanning
 * for start codes within len, and SPS fields are read from an unescaped copy (emulation
 * prevention bytes removed, H.264 7.4.1 / H.265 7.4.2) on the stack through a bit reader
 * that turns any read past the end into a sticky error instead of a read.
 */
#include "media/h26x.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

enum {
    H264_NAL_IDR = 5,
    H264_NAL_SPS = 7,
    H264_NAL_PPS = 8,
    H265_NAL_BLA_W_LP = 16,
    H265_NAL_CRA = 21,
    H265_NAL_VPS = 32,
    H265_NAL_SPS = 33,
    H265_NAL_PPS = 34,
};

/* ---- Annex B ---------------------------------------------------------------------------- */

bool vg_h26x_is_annexb(const uint8_t *buf, size_t len)
{
    if (len >= 3 && buf[0] == 0 && buf[1] == 0 && buf[2] == 1)
        return true;
    return len >= 4 && buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 1;
}

/* The offset of the first 00 00 01 at or after from, or len. memchr for the 01 keeps the scan
 * of a large slice cheap: in compressed data a 01 byte is rare. */
static size_t find_start_code(const uint8_t *buf, size_t len, size_t from)
{
    size_t i = from + 2;
    while (i < len) {
        const uint8_t *one = memchr(buf + i, 1, len - i);
        if (one == NULL)
            return len;
        i = (size_t)(one - buf);
        if (buf[i - 1] == 0 && buf[i - 2] == 0)
            return i - 2;
        i++;
    }
    return len;
}

bool vg_h26x_next_nal(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **nal,
                      size_t *nal_len)
{
    size_t at = *pos;
    while (at < len) {
        size_t sc = find_start_code(buf, len, at);
        if (sc >= len)
            break;
        size_t begin = sc + 3;
        size_t end = find_start_code(buf, len, begin);
        at = end;
        /* The zeros before the next start code are either trailing_zero_8bits or the first
         * byte of a 4-byte start code: neither belongs to this unit. */
        while (end > begin && buf[end - 1] == 0)
            end--;
        if (end > begin) { /* units of nothing but zeros are padding, not NAL units */
            *pos = at;
            *nal = buf + begin;
            *nal_len = end - begin;
            return true;
        }
    }
    *pos = len;
    return false;
}

int vg_h26x_nal_type(vg_codec_t codec, const uint8_t *nal, size_t nal_len)
{
    if (nal_len == 0)
        return -1;
    if (codec == VG_CODEC_H264)
        return nal[0] & 0x1f;
    if (codec == VG_CODEC_H265)
        return (nal[0] >> 1) & 0x3f;
    return -1;
}

static bool is_sps_type(vg_codec_t codec, int type)
{
    return (codec == VG_CODEC_H264 && type == H264_NAL_SPS) ||
           (codec == VG_CODEC_H265 && type == H265_NAL_SPS);
}

static bool is_keyframe_type(vg_codec_t codec, int type)
{
    if (codec == VG_CODEC_H264)
        return type == H264_NAL_IDR;
    /* BLA, IDR and CRA pictures: the IRAP range of H.265 table 7-1 (22, 23 are reserved). */
    return codec == VG_CODEC_H265 && type >= H265_NAL_BLA_W_LP && type <= H265_NAL_CRA;
}

bool vg_h26x_has_sps(vg_codec_t codec, const uint8_t *au, size_t len)
{
    size_t pos = 0, n;
    const uint8_t *nal;
    while (vg_h26x_next_nal(au, len, &pos, &nal, &n)) {
        if (is_sps_type(codec, vg_h26x_nal_type(codec, nal, n)))
            return true;
    }
    return false;
}

bool vg_h26x_has_keyframe(vg_codec_t codec, const uint8_t *au, size_t len)
{
    size_t pos = 0, n;
    const uint8_t *nal;
    while (vg_h26x_next_nal(au, len, &pos, &nal, &n)) {
        if (is_keyframe_type(codec, vg_h26x_nal_type(codec, nal, n)))
            return true;
    }
    return false;
}

/* ---- parameter sets --------------------------------------------------------------------- */

/* Where a parameter set of this type is kept in ps, or NULL when the type is no parameter
 * set. */
static uint8_t *ps_slot(vg_h26x_params_t *ps, int type, size_t **len)
{
    int vps = -2, sps = H264_NAL_SPS, pps = H264_NAL_PPS;
    if (ps->codec == VG_CODEC_H265) {
        vps = H265_NAL_VPS;
        sps = H265_NAL_SPS;
        pps = H265_NAL_PPS;
    } else if (ps->codec != VG_CODEC_H264) {
        return NULL;
    }
    if (type == vps) {
        *len = &ps->vps_len;
        return ps->vps;
    }
    if (type == sps) {
        *len = &ps->sps_len;
        return ps->sps;
    }
    if (type == pps) {
        *len = &ps->pps_len;
        return ps->pps;
    }
    return NULL;
}

int vg_h26x_params_update(vg_h26x_params_t *ps, const uint8_t *buf, size_t len)
{
    /* Only the last set of each kind counts, so that a buffer repeating an old SPS before the
     * current one is no change; and all are checked before any is taken, so that a refusal
     * leaves ps as it was. */
    enum { N_KINDS = 3 };
    uint8_t *slots[N_KINDS] = {NULL};
    size_t *slot_lens[N_KINDS] = {NULL};
    const uint8_t *last[N_KINDS] = {NULL};
    size_t last_lens[N_KINDS] = {0};
    size_t pos = 0, n;
    const uint8_t *nal;
    while (vg_h26x_next_nal(buf, len, &pos, &nal, &n)) {
        size_t *slot_len;
        uint8_t *slot = ps_slot(ps, vg_h26x_nal_type(ps->codec, nal, n), &slot_len);
        if (slot == NULL)
            continue;
        if (n > VG_H26X_PS_MAX)
            return VG_EPROTO;
        int k = slot == ps->vps ? 0 : slot == ps->sps ? 1 : 2;
        slots[k] = slot;
        slot_lens[k] = slot_len;
        last[k] = nal;
        last_lens[k] = n;
    }
    int is_changed = 0;
    for (int k = 0; k < N_KINDS; k++) {
        if (last[k] == NULL || (*slot_lens[k] == last_lens[k] &&
                                memcmp(slots[k], last[k], last_lens[k]) == 0))
            continue;
        memcpy(slots[k], last[k], last_lens[k]);
        *slot_lens[k] = last_lens[k];
        is_changed = 1;
    }
    return is_changed;
}

bool vg_h26x_params_complete(const vg_h26x_params_t *ps)
{
    if (ps->codec == VG_CODEC_H264)
        return ps->sps_len > 0 && ps->pps_len > 0;
    if (ps->codec == VG_CODEC_H265)
        return ps->vps_len > 0 && ps->sps_len > 0 && ps->pps_len > 0;
    return false;
}

int vg_h26x_params_annexb(const vg_h26x_params_t *ps, uint8_t *out, size_t cap)
{
    const uint8_t *sets[3] = {ps->vps, ps->sps, ps->pps};
    size_t lens[3] = {ps->codec == VG_CODEC_H265 ? ps->vps_len : 0, ps->sps_len, ps->pps_len};
    size_t need = 0;
    for (int i = 0; i < 3; i++)
        need += lens[i] > 0 ? 4 + lens[i] : 0;
    if (need > cap)
        return VG_ENOSPC;
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        if (lens[i] == 0)
            continue;
        static const uint8_t start_code[4] = {0, 0, 0, 1};
        memcpy(out + at, start_code, 4);
        memcpy(out + at + 4, sets[i], lens[i]);
        at += 4 + lens[i];
    }
    return (int)at;
}

/* ---- SPS fields ------------------------------------------------------------------------- */

/* A NAL unit with its emulation prevention bytes removed (the RBSP plus the NAL header). */
typedef struct rbsp {
    uint8_t buf[VG_H26X_PS_MAX];
    size_t len;
} rbsp_t;

static void rbsp_unescape(rbsp_t *r, const uint8_t *nal, size_t nal_len)
{
    size_t zeros = 0;
    r->len = 0;
    for (size_t i = 0; i < nal_len && r->len < sizeof(r->buf); i++) {
        if (zeros >= 2 && nal[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = nal[i] == 0 ? zeros + 1 : 0;
        r->buf[r->len++] = nal[i];
    }
}

/* An MSB-first bit reader. A read past the end returns zeros and sets is_overrun, so a parse
 * runs to its end and is judged once. */
typedef struct bits {
    const uint8_t *buf;
    size_t len_bits, pos;
    bool is_overrun;
} bits_t;

static bits_t bits_at(const rbsp_t *r, size_t byte_offset)
{
    bits_t b = {.buf = r->buf, .len_bits = r->len * 8, .pos = byte_offset * 8};
    b.is_overrun = byte_offset > r->len;
    return b;
}

static uint32_t bits_u(bits_t *b, int n) /* n <= 32 */
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
        if (b->pos >= b->len_bits) {
            b->is_overrun = true;
            return 0;
        }
        v = (v << 1) | ((b->buf[b->pos / 8] >> (7 - b->pos % 8)) & 1);
        b->pos++;
    }
    return v;
}

static void bits_skip(bits_t *b, size_t n)
{
    if (b->pos > b->len_bits || n > b->len_bits - b->pos) {
        b->is_overrun = true;
        b->pos = b->len_bits;
        return;
    }
    b->pos += n;
}

/* ue(v), H.264 9.1. Values need at most 32 bits in any field read here; a longer prefix is
 * corrupt input. */
static uint32_t bits_ue(bits_t *b)
{
    int zeros = 0;
    while (bits_u(b, 1) == 0) {
        if (b->is_overrun || ++zeros > 31) {
            b->is_overrun = true;
            return 0;
        }
    }
    return (uint32_t)((UINT64_C(1) << zeros) - 1 + bits_u(b, zeros));
}

static int32_t bits_se(bits_t *b)
{
    uint32_t k = bits_ue(b);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

/* What the avcC and the picture size need from an H.264 SPS (7.3.2.1.1). */
typedef struct h264_sps {
    uint8_t profile_idc, constraint_flags, level_idc;
    uint32_t chroma_format_idc, bit_depth_luma_minus8, bit_depth_chroma_minus8;
    bool separate_colour_plane_flag;
    int width, height;
} h264_sps_t;

static bool h264_has_chroma_info(uint8_t profile_idc)
{
    /* The profiles 7.3.2.1.1 lists before chroma_format_idc. */
    static const uint8_t profiles[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134,
                                       135};
    for (size_t i = 0; i < sizeof(profiles); i++) {
        if (profiles[i] == profile_idc)
            return true;
    }
    return false;
}

static void h264_skip_scaling_list(bits_t *b, int size)
{
    int last_scale = 8, next_scale = 8;
    for (int j = 0; j < size && !b->is_overrun; j++) {
        if (next_scale != 0) {
            int32_t delta_scale = bits_se(b);
            if (delta_scale < -128 || delta_scale > 127) { /* 7.4.2.1.1.1 */
                b->is_overrun = true;
                return;
            }
            next_scale = (last_scale + delta_scale + 256) % 256;
        }
        last_scale = next_scale == 0 ? last_scale : next_scale;
    }
}

/* Crop or size fields beyond this are corrupt: 8192x4320 is 512x270 macroblocks, and H.264
 * level 6.2 caps frames at 139264 macroblocks. */
#define H26X_DIM_MAX 65536u

static int h264_parse_sps(const vg_h26x_params_t *ps, h264_sps_t *s)
{
    rbsp_t r;
    if (ps->sps_len < 4)
        return VG_EPROTO;
    rbsp_unescape(&r, ps->sps, ps->sps_len);
    bits_t b = bits_at(&r, 1);
    memset(s, 0, sizeof(*s));
    s->profile_idc = (uint8_t)bits_u(&b, 8);
    s->constraint_flags = (uint8_t)bits_u(&b, 8);
    s->level_idc = (uint8_t)bits_u(&b, 8);
    bits_ue(&b); /* seq_parameter_set_id */
    s->chroma_format_idc = 1;
    if (h264_has_chroma_info(s->profile_idc)) {
        s->chroma_format_idc = bits_ue(&b);
        if (s->chroma_format_idc > 3)
            return VG_EPROTO;
        if (s->chroma_format_idc == 3)
            s->separate_colour_plane_flag = bits_u(&b, 1);
        s->bit_depth_luma_minus8 = bits_ue(&b);
        s->bit_depth_chroma_minus8 = bits_ue(&b);
        if (s->bit_depth_luma_minus8 > 6 || s->bit_depth_chroma_minus8 > 6)
            return VG_EPROTO;
        bits_u(&b, 1); /* qpprime_y_zero_transform_bypass_flag */
        if (bits_u(&b, 1)) { /* seq_scaling_matrix_present_flag */
            int lists = s->chroma_format_idc != 3 ? 8 : 12;
            for (int i = 0; i < lists && !b.is_overrun; i++) {
                if (bits_u(&b, 1))
                    h264_skip_scaling_list(&b, i < 6 ? 16 : 64);
            }
        }
    }
    bits_ue(&b); /* log2_max_frame_num_minus4 */
    uint32_t poc_type = bits_ue(&b);
    if (poc_type == 0) {
        bits_ue(&b); /* log2_max_pic_order_cnt_lsb_minus4 */
    } else if (poc_type == 1) {
        bits_u(&b, 1); /* delta_pic_order_always_zero_flag */
        bits_se(&b);   /* offset_for_non_ref_pic */
        bits_se(&b);   /* offset_for_top_to_bottom_field */
        uint32_t cycle = bits_ue(&b);
        if (cycle > 255)
            return VG_EPROTO;
        for (uint32_t i = 0; i < cycle && !b.is_overrun; i++)
            bits_se(&b); /* offset_for_ref_frame[i] */
    } else if (poc_type != 2) {
        return VG_EPROTO;
    }
    bits_ue(&b);   /* max_num_ref_frames */
    bits_u(&b, 1); /* gaps_in_frame_num_value_allowed_flag */
    uint64_t width_mbs = (uint64_t)bits_ue(&b) + 1;
    uint64_t height_map_units = (uint64_t)bits_ue(&b) + 1;
    uint32_t frame_mbs_only = bits_u(&b, 1);
    if (!frame_mbs_only)
        bits_u(&b, 1); /* mb_adaptive_frame_field_flag */
    bits_u(&b, 1);     /* direct_8x8_inference_flag */
    uint64_t crop[4] = {0, 0, 0, 0}; /* left, right, top, bottom */
    if (bits_u(&b, 1)) {
        for (int i = 0; i < 4; i++)
            crop[i] = bits_ue(&b);
    }
    if (b.is_overrun)
        return VG_EPROTO;

    /* 7.4.2.1.1: crop units follow the chroma subsampling, and count field pairs in field
     * coding (frame_mbs_only_flag 0). */
    uint64_t frame_factor = 2 - frame_mbs_only;
    uint64_t crop_x = 1, crop_y = frame_factor;
    if (!s->separate_colour_plane_flag && s->chroma_format_idc != 0) {
        crop_x = s->chroma_format_idc == 3 ? 1 : 2;
        crop_y = (s->chroma_format_idc == 1 ? 2 : 1) * frame_factor;
    }
    uint64_t width = width_mbs * 16, height = height_map_units * 16 * frame_factor;
    uint64_t crop_w = crop_x * (crop[0] + crop[1]), crop_h = crop_y * (crop[2] + crop[3]);
    if (width > H26X_DIM_MAX || height > H26X_DIM_MAX || crop_w >= width || crop_h >= height)
        return VG_EPROTO;
    s->width = (int)(width - crop_w);
    s->height = (int)(height - crop_h);
    return 0;
}

/* What the codec string, hvcC and picture size need from an H.265 SPS (7.3.2.2.1). The
 * profile_tier_level() general part sits at a fixed place: after the 2-byte NAL header and
 * one byte of sps_video_parameter_set_id, sps_max_sub_layers_minus1 and
 * sps_temporal_id_nesting_flag. */
enum { H265_PTL_OFFSET = 3, H265_PTL_GENERAL_LEN = 12 };

typedef struct h265_sps {
    uint8_t ptl[H265_PTL_GENERAL_LEN]; /* space/tier/idc, 4 compat, 6 constraint, level */
    uint32_t max_sub_layers_minus1;
    bool is_temporal_id_nested;
    uint32_t chroma_format_idc, bit_depth_luma_minus8, bit_depth_chroma_minus8;
    int width, height;
} h265_sps_t;

/* Only the general profile (what the codec string needs) when is_full is false. */
static int h265_parse_sps(const vg_h26x_params_t *ps, h265_sps_t *s, bool is_full)
{
    rbsp_t r;
    rbsp_unescape(&r, ps->sps, ps->sps_len);
    if (r.len < H265_PTL_OFFSET + H265_PTL_GENERAL_LEN)
        return VG_EPROTO;
    memset(s, 0, sizeof(*s));
    memcpy(s->ptl, r.buf + H265_PTL_OFFSET, H265_PTL_GENERAL_LEN);
    s->max_sub_layers_minus1 = (r.buf[2] >> 1) & 7;
    s->is_temporal_id_nested = r.buf[2] & 1;
    if (!is_full)
        return 0;

    bits_t b = bits_at(&r, H265_PTL_OFFSET + H265_PTL_GENERAL_LEN);
    /* The sub-layer part of profile_tier_level() (7.3.3): two flags per sub-layer, padding to
     * 8 pairs, then 88 bits of profile and 8 of level for each sub-layer that has them. */
    uint32_t n = s->max_sub_layers_minus1;
    bool has_profile[8] = {false}, has_level[8] = {false};
    for (uint32_t i = 0; i < n; i++) {
        has_profile[i] = bits_u(&b, 1);
        has_level[i] = bits_u(&b, 1);
    }
    if (n > 0)
        bits_skip(&b, 2 * (8 - n));
    for (uint32_t i = 0; i < n; i++)
        bits_skip(&b, (has_profile[i] ? 88 : 0) + (has_level[i] ? 8 : 0));

    bits_ue(&b); /* sps_seq_parameter_set_id */
    s->chroma_format_idc = bits_ue(&b);
    if (s->chroma_format_idc > 3)
        return VG_EPROTO;
    bool separate_colour_plane = s->chroma_format_idc == 3 && bits_u(&b, 1);
    uint64_t width = bits_ue(&b), height = bits_ue(&b);
    uint64_t crop[4] = {0, 0, 0, 0}; /* left, right, top, bottom */
    if (bits_u(&b, 1)) {
        for (int i = 0; i < 4; i++)
            crop[i] = bits_ue(&b);
    }
    s->bit_depth_luma_minus8 = bits_ue(&b);
    s->bit_depth_chroma_minus8 = bits_ue(&b);
    if (b.is_overrun || s->bit_depth_luma_minus8 > 8 || s->bit_depth_chroma_minus8 > 8)
        return VG_EPROTO;

    /* Table 6-1: the conformance window counts chroma samples. */
    uint64_t sub_w = 1, sub_h = 1;
    if (!separate_colour_plane && (s->chroma_format_idc == 1 || s->chroma_format_idc == 2))
        sub_w = 2;
    if (!separate_colour_plane && s->chroma_format_idc == 1)
        sub_h = 2;
    uint64_t crop_w = sub_w * (crop[0] + crop[1]), crop_h = sub_h * (crop[2] + crop[3]);
    if (width > H26X_DIM_MAX || height > H26X_DIM_MAX || crop_w >= width || crop_h >= height)
        return VG_EPROTO;
    s->width = (int)(width - crop_w);
    s->height = (int)(height - crop_h);
    return 0;
}

/* ---- codec string, description, picture size -------------------------------------------- */

static uint32_t reverse_bits32(uint32_t x)
{
    uint32_t y = 0;
    for (int i = 0; i < 32; i++, x >>= 1)
        y = (y << 1) | (x & 1);
    return y;
}

/* hvc1.<space><idc>.<compat reversed>.<tier><level>[.<constraint byte>...], ISO/IEC 14496-15
 * Annex E.3; hex in upper case as the Annex's examples write it ("hvc1.1.6.L93.B0"). */
static int h265_codec_string(const h265_sps_t *s, char *out, size_t cap)
{
    static const char *const spaces[4] = {"", "A", "B", "C"};
    const uint8_t *p = s->ptl;
    uint32_t compat = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    int n = snprintf(out, cap, "hvc1.%s%u.%X.%c%u", spaces[p[0] >> 6], p[0] & 0x1fu,
                     reverse_bits32(compat), (p[0] & 0x20) ? 'H' : 'L', (unsigned)p[11]);
    if (n < 0 || (size_t)n >= cap)
        return VG_ENOSPC;
    int constraint_len = 6;
    while (constraint_len > 0 && p[5 + constraint_len - 1] == 0)
        constraint_len--;
    for (int i = 0; i < constraint_len; i++) {
        int m = snprintf(out + n, cap - (size_t)n, ".%X", (unsigned)p[5 + i]);
        if (m < 0 || (size_t)m >= cap - (size_t)n)
            return VG_ENOSPC;
        n += m;
    }
    return 0;
}

int vg_h26x_codec_string(const vg_h26x_params_t *ps, char *out, size_t cap)
{
    if (ps->codec == VG_CODEC_H264) {
        rbsp_t r;
        rbsp_unescape(&r, ps->sps, ps->sps_len);
        if (r.len < 4)
            return VG_EPROTO;
        /* RFC 6381 3.3: profile_idc, the constraint flags byte and level_idc, in hex. */
        int n = snprintf(out, cap, "avc1.%02x%02x%02x", r.buf[1], r.buf[2], r.buf[3]);
        return n < 0 || (size_t)n >= cap ? VG_ENOSPC : 0;
    }
    if (ps->codec == VG_CODEC_H265) {
        h265_sps_t s;
        int rc = h265_parse_sps(ps, &s, false);
        return rc < 0 ? rc : h265_codec_string(&s, out, cap);
    }
    return VG_EPROTO;
}

static void put_u16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* AVCDecoderConfigurationRecord, ISO/IEC 14496-15 5.3.3.1. */
static int h264_description(const vg_h26x_params_t *ps, uint8_t *out, size_t cap)
{
    h264_sps_t s;
    int rc = h264_parse_sps(ps, &s);
    if (rc < 0)
        return rc;
    /* The record carries chroma format and bit depths only for these four profiles. FFmpeg's
     * muxer writes them for every profile but 66, 77 and 88; a reader stops after the PPS
     * array for the others either way. */
    bool has_ext = s.profile_idc == 100 || s.profile_idc == 110 || s.profile_idc == 122 ||
                   s.profile_idc == 144;
    size_t need = 6 + 2 + ps->sps_len + 1 + 2 + ps->pps_len + (has_ext ? 4 : 0);
    if (need > cap)
        return VG_ENOSPC;
    uint8_t *p = out;
    *p++ = 1; /* configurationVersion */
    *p++ = s.profile_idc;
    *p++ = s.constraint_flags;
    *p++ = s.level_idc;
    *p++ = 0xfc | 3; /* reserved bits, lengthSizeMinusOne */
    *p++ = 0xe0 | 1; /* reserved bits, numOfSequenceParameterSets */
    put_u16(p, ps->sps_len);
    memcpy(p + 2, ps->sps, ps->sps_len);
    p += 2 + ps->sps_len;
    *p++ = 1; /* numOfPictureParameterSets */
    put_u16(p, ps->pps_len);
    memcpy(p + 2, ps->pps, ps->pps_len);
    p += 2 + ps->pps_len;
    if (has_ext) {
        *p++ = (uint8_t)(0xfc | s.chroma_format_idc);
        *p++ = (uint8_t)(0xf8 | s.bit_depth_luma_minus8);
        *p++ = (uint8_t)(0xf8 | s.bit_depth_chroma_minus8);
        *p++ = 0; /* numOfSequenceParameterSetExt */
    }
    return (int)(p - out);
}

/* HEVCDecoderConfigurationRecord, ISO/IEC 14496-15 8.3.3.1. */
static int h265_description(const vg_h26x_params_t *ps, uint8_t *out, size_t cap)
{
    h265_sps_t s;
    int rc = h265_parse_sps(ps, &s, true);
    if (rc < 0)
        return rc;
    const uint8_t *sets[3] = {ps->vps, ps->sps, ps->pps};
    const size_t lens[3] = {ps->vps_len, ps->sps_len, ps->pps_len};
    const uint8_t types[3] = {H265_NAL_VPS, H265_NAL_SPS, H265_NAL_PPS};
    size_t need = 23;
    for (int i = 0; i < 3; i++)
        need += 5 + lens[i];
    if (need > cap)
        return VG_ENOSPC;
    uint8_t *p = out;
    *p++ = 1; /* configurationVersion */
    memcpy(p, s.ptl, H265_PTL_GENERAL_LEN);
    p += H265_PTL_GENERAL_LEN;
    /* min_spatial_segmentation_idc 0 and parallelismType 0 (unknown) need no VUI or PPS
     * parse, and promise nothing a decoder could rely on wrongly. */
    *p++ = 0xf0;
    *p++ = 0x00;
    *p++ = 0xfc;
    *p++ = (uint8_t)(0xfc | s.chroma_format_idc);
    *p++ = (uint8_t)(0xf8 | s.bit_depth_luma_minus8);
    *p++ = (uint8_t)(0xf8 | s.bit_depth_chroma_minus8);
    *p++ = 0; /* avgFrameRate: unspecified */
    *p++ = 0;
    /* constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3 */
    *p++ = (uint8_t)((s.max_sub_layers_minus1 + 1) << 3 | (s.is_temporal_id_nested ? 4 : 0) | 3);
    *p++ = 3; /* numOfArrays */
    for (int i = 0; i < 3; i++) {
        *p++ = 0x80 | types[i]; /* array_completeness 1: no others arrive in band */
        put_u16(p, 1);          /* numNalus */
        put_u16(p + 2, lens[i]);
        memcpy(p + 4, sets[i], lens[i]);
        p += 4 + lens[i];
    }
    return (int)(p - out);
}

int vg_h26x_description(const vg_h26x_params_t *ps, uint8_t *out, size_t cap)
{
    if (!vg_h26x_params_complete(ps))
        return VG_EPROTO;
    if (ps->codec == VG_CODEC_H264)
        return h264_description(ps, out, cap);
    return h265_description(ps, out, cap);
}

int vg_h26x_picture_size(const vg_h26x_params_t *ps, int *width, int *height)
{
    if (ps->codec == VG_CODEC_H264) {
        h264_sps_t s;
        int rc = h264_parse_sps(ps, &s);
        if (rc < 0)
            return rc;
        *width = s.width;
        *height = s.height;
        return 0;
    }
    if (ps->codec == VG_CODEC_H265) {
        h265_sps_t s;
        int rc = h265_parse_sps(ps, &s, true);
        if (rc < 0)
            return rc;
        *width = s.width;
        *height = s.height;
        return 0;
    }
    return VG_EPROTO;
}
