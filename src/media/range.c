/* range: limited to full range, the cheap pass that replaces libswscale when a picture only
 * needs its levels changed for JPEG (range.h gives the mapping).
 *
 * Both paths compute the same fixed-point form in 16-bit lanes, so they agree byte for byte:
 * 255/219 = 1 + 36/219 and 255/224 = 1 + 31/224, and only the fraction is multiplied, as the
 * high half of a 16 x 16-bit product, keeping 9 fractional bits:
 *
 *     luma:   x = max(Y - 16, 0);  Y' = min(x + ((((x << 8) * 21546) >> 16) + 256 >> 9), 255)
 *     chroma: c = C - 128;         C' = clamp(c + ((((c << 8) * 18139) >> 16) + 256 >> 9) + 128)
 *
 * (>> on negative values is floor, which GCC and clang give and _mm256_mulhi_epi16 /
 * _mm256_srai_epi16 do.) The constants are round(36/219 * 2^17) and round(31/224 * 2^17);
 * over all 256 inputs this equals the rational formula of range.h exactly, which the unit
 * test checks against a reference written from that formula.
 *
 * Cost: swscale's yuv420p -> yuvj420p at 1280x720 runs its generic scaler per line; this is
 * one pass of loads, two multiplies per 32 pixels and stores (docs/benchmarks.md, "Picture
 * lane at the floor"). Any thread: no state. */
#include "media/range.h"

#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define RANGE_HAS_X86 1
#include <immintrin.h>
#else
#define RANGE_HAS_X86 0
#endif

#define LUMA_FRAC 21546   /* round(36/219 * 2^17) */
#define CHROMA_FRAC 18139 /* round(31/224 * 2^17) */

static inline uint8_t luma_px(uint8_t y)
{
    uint16_t x = y > 16 ? (uint16_t)(y - 16) : 0;
    uint16_t f = (uint16_t)(((uint32_t)(uint16_t)(x << 8) * LUMA_FRAC) >> 16);
    uint16_t v = (uint16_t)(x + ((uint16_t)(f + 256) >> 9)); /* f + 256 < 2^15 */
    return (uint8_t)(v > 255 ? 255 : v);
}

static inline uint8_t chroma_px(uint8_t cb)
{
    int16_t c = (int16_t)(cb - 128);
    int16_t f = (int16_t)(((int32_t)(int16_t)(c * 256) * CHROMA_FRAC) >> 16);
    int16_t v = (int16_t)(c + ((int16_t)(f + 256) >> 9) + 128);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Rows go through a local copy in blocks of 64: dst may be src, and a loop over a buffer that
 * cannot alias dst is one GCC and clang vectorise at -O2 (16-bit lanes, a high-half multiply)
 * without a run-time overlap check. */
#define ROW_BLOCK 64

static void luma_row_c(uint8_t *dst, const uint8_t *src, int n)
{
    uint8_t in[ROW_BLOCK];
    int i = 0;
    for (; i + ROW_BLOCK <= n; i += ROW_BLOCK) {
        memcpy(in, src + i, ROW_BLOCK);
        for (int k = 0; k < ROW_BLOCK; k++)
            dst[i + k] = luma_px(in[k]);
    }
    for (; i < n; i++)
        dst[i] = luma_px(src[i]);
}

static void chroma_row_c(uint8_t *dst, const uint8_t *src, int n)
{
    uint8_t in[ROW_BLOCK];
    int i = 0;
    for (; i + ROW_BLOCK <= n; i += ROW_BLOCK) {
        memcpy(in, src + i, ROW_BLOCK);
        for (int k = 0; k < ROW_BLOCK; k++)
            dst[i + k] = chroma_px(in[k]);
    }
    for (; i < n; i++)
        dst[i] = chroma_px(src[i]);
}

#if RANGE_HAS_X86
/* 32 pixels a step. unpack{lo,hi}_epi8(0, v) puts each byte in the high half of a 16-bit
 * lane (v << 8) for free; unpack and pack both work within 128-bit halves, so the order
 * comes back as it went in. The tail (width % 32) goes through the C path. */
__attribute__((target("avx2"))) static void luma_row_avx2(uint8_t *dst, const uint8_t *src,
                                                           int n)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i black = _mm256_set1_epi8(16);
    const __m256i frac = _mm256_set1_epi16(LUMA_FRAC);
    const __m256i half = _mm256_set1_epi16(256);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x = _mm256_subs_epu8(_mm256_loadu_si256((const __m256i *)(src + i)), black);
        __m256i lo = _mm256_unpacklo_epi8(zero, x);
        __m256i hi = _mm256_unpackhi_epi8(zero, x);
        __m256i flo = _mm256_srli_epi16(_mm256_add_epi16(_mm256_mulhi_epu16(lo, frac), half), 9);
        __m256i fhi = _mm256_srli_epi16(_mm256_add_epi16(_mm256_mulhi_epu16(hi, frac), half), 9);
        lo = _mm256_add_epi16(_mm256_srli_epi16(lo, 8), flo);
        hi = _mm256_add_epi16(_mm256_srli_epi16(hi, 8), fhi);
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_packus_epi16(lo, hi)); /* min 255 */
    }
    luma_row_c(dst + i, src + i, n - i);
}

__attribute__((target("avx2"))) static void chroma_row_avx2(uint8_t *dst, const uint8_t *src,
                                                             int n)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i flip = _mm256_set1_epi8((char)0x80); /* C ^ 0x80 = C - 128 as int8 */
    const __m256i frac = _mm256_set1_epi16(CHROMA_FRAC);
    const __m256i half = _mm256_set1_epi16(256);
    const __m256i mid = _mm256_set1_epi16(128);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i c = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), flip);
        __m256i lo = _mm256_unpacklo_epi8(zero, c);
        __m256i hi = _mm256_unpackhi_epi8(zero, c);
        __m256i flo = _mm256_srai_epi16(_mm256_add_epi16(_mm256_mulhi_epi16(lo, frac), half), 9);
        __m256i fhi = _mm256_srai_epi16(_mm256_add_epi16(_mm256_mulhi_epi16(hi, frac), half), 9);
        lo = _mm256_add_epi16(_mm256_add_epi16(_mm256_srai_epi16(lo, 8), flo), mid);
        hi = _mm256_add_epi16(_mm256_add_epi16(_mm256_srai_epi16(hi, 8), fhi), mid);
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_packus_epi16(lo, hi)); /* 0..255 */
    }
    chroma_row_c(dst + i, src + i, n - i);
}
#endif

bool vg_range_has_avx2(void)
{
#if RANGE_HAS_X86
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

void vg_range_expand_plane(uint8_t *dst, ptrdiff_t dst_stride, const uint8_t *src,
                           ptrdiff_t src_stride, int width, int height, vg_range_plane_t plane,
                           vg_range_path_t path)
{
    void (*row)(uint8_t *, const uint8_t *, int) =
        plane == VG_RANGE_LUMA ? luma_row_c : chroma_row_c;
#if RANGE_HAS_X86
    if (path != VG_RANGE_PORTABLE && vg_range_has_avx2())
        row = plane == VG_RANGE_LUMA ? luma_row_avx2 : chroma_row_avx2;
#else
    (void)path;
#endif
    for (int y = 0; y < height; y++)
        row(dst + y * dst_stride, src + y * src_stride, width);
}

void vg_range_expand_420(uint8_t *const dst[3], const int dst_stride[3],
                         const uint8_t *const src[3], const int src_stride[3], int width,
                         int height)
{
    int cw = (width + 1) / 2, ch = (height + 1) / 2;
    vg_range_expand_plane(dst[0], dst_stride[0], src[0], src_stride[0], width, height,
                          VG_RANGE_LUMA, VG_RANGE_BEST);
    for (int p = 1; p < 3; p++)
        vg_range_expand_plane(dst[p], dst_stride[p], src[p], src_stride[p], cw, ch,
                              VG_RANGE_CHROMA, VG_RANGE_BEST);
}
