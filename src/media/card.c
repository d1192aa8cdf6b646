/* card: see card.h.
 *
 * The card is drawn straight into full-range I420 planes (one allocation, stride = width) and
 * handed to libjpeg-turbo as planes, so there is no RGB buffer and no colour conversion. Text
 * is a built-in 5x7 bitmap font, each dot an s x s square, written into luma only: the
 * background chroma is nearly neutral, so glyph edges that do not fall on the 2x2 chroma grid
 * cannot fringe. Only the accent bar carries colour, and its height is even for the same
 * reason. Everything lives on the caller's stack or in this call's allocations: any thread.
 */
#include "media/card.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/err.h"
#include "core/util.h"

#define CARD_MIN_W 16
#define CARD_MAX_W 3840
#define CARD_MIN_H 16
#define CARD_MAX_H 2160
#define CARD_MAX_CHARS 96

#define FONT_W 5
#define FONT_H 7
#define CHAR_DOTS (FONT_W + 1) /* advance: 5 dots and 1 dot of spacing */

/* The dashboard's palette (web/style.css) as full-range BT.601 YCbCr, so a card sits next to
 * live tiles without looking like a different app: --panel background, --text headline,
 * --muted for the other lines, --bad for the accent bar. */
static const uint8_t bg_yuv[3] = {25, 131, 126};   /* #161a1f */
static const uint8_t bar_yuv[3] = {135, 103, 202}; /* #ef5a5a */
#define HEAD_Y 220                                 /* #d6dde4 */
#define BODY_Y 145                                 /* #8893a0 */

/* 5x7 dots, one byte per row, bit 4 = leftmost column, indexed by ASCII code - 32 for codes
 * 32..95 (space to '_', which includes the uppercase letters). Codes left out are blank. */
static const uint8_t font[64][FONT_H] = {
    ['!' - 32] = {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},
    ['\'' - 32] = {0x0c, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},
    ['(' - 32] = {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},
    [')' - 32] = {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},
    [',' - 32] = {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08},
    ['-' - 32] = {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00},
    ['.' - 32] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c},
    ['/' - 32] = {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},
    ['0' - 32] = {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e},
    ['1' - 32] = {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e},
    ['2' - 32] = {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f},
    ['3' - 32] = {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e},
    ['4' - 32] = {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02},
    ['5' - 32] = {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e},
    ['6' - 32] = {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e},
    ['7' - 32] = {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
    ['8' - 32] = {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e},
    ['9' - 32] = {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c},
    [':' - 32] = {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00},
    ['?' - 32] = {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},
    ['A' - 32] = {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11},
    ['B' - 32] = {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e},
    ['C' - 32] = {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e},
    ['D' - 32] = {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c},
    ['E' - 32] = {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f},
    ['F' - 32] = {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10},
    ['G' - 32] = {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f},
    ['H' - 32] = {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11},
    ['I' - 32] = {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e},
    ['J' - 32] = {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c},
    ['K' - 32] = {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},
    ['L' - 32] = {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f},
    ['M' - 32] = {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11},
    ['N' - 32] = {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
    ['O' - 32] = {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e},
    ['P' - 32] = {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10},
    ['Q' - 32] = {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d},
    ['R' - 32] = {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11},
    ['S' - 32] = {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e},
    ['T' - 32] = {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
    ['U' - 32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e},
    ['V' - 32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04},
    ['W' - 32] = {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a},
    ['X' - 32] = {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11},
    ['Y' - 32] = {0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04},
    ['Z' - 32] = {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f},
    /* Camera ids are slugs ([a-z0-9_-]), so '_' must not vanish. */
    ['_' - 32] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f},
};

typedef struct card_line {
    char text[CARD_MAX_CHARS + 1]; /* printable ASCII, uppercase; blanks for the rest */
    int chars;
    int dot; /* pixels per font dot */
    int gap; /* pixels above this line */
    uint8_t luma;
} card_line_t;

/* Copies a UTF-8 line into ASCII the font can draw. A multi-byte character becomes one space
 * (its continuation bytes are skipped) so centring still counts characters, not bytes. */
static int normalise(char *dst, const char *src)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p != '\0' && n < CARD_MAX_CHARS;
         p++) {
        unsigned c = *p;
        if (c >= 0x80 && c < 0xc0)
            continue;
        if (c >= 'a' && c <= 'z')
            c -= 'a' - 'A';
        dst[n++] = (c >= 32 && c < 96) ? (char)c : ' ';
    }
    dst[n] = '\0';
    return n;
}

/* Pixels per dot for a line of chars characters whose glyphs should be about target_px tall,
 * shrunk until it fits within avail_px of width, and never below 1. */
static int dot_size(int target_px, int chars, int avail_px)
{
    int dot = (target_px + FONT_H / 2) / FONT_H;
    int dots_wide = chars * CHAR_DOTS - 1;
    if (dots_wide > 0 && dot * dots_wide > avail_px)
        dot = avail_px / dots_wide;
    return dot < 1 ? 1 : dot;
}

/* Writes text in luma at (x, y), each dot a dot x dot square, clipped to the plane: at small
 * sizes or with long lines, x and y may be negative or run past the edges. */
static void draw_text(uint8_t *y_plane, int width, int height, int x, int y, int dot,
                      const char *text, uint8_t luma)
{
    for (; *text != '\0'; text++, x += CHAR_DOTS * dot) {
        if (x >= width)
            break;
        if (x + FONT_W * dot <= 0)
            continue;
        const uint8_t *g = font[(unsigned char)*text - 32];
        for (int row = 0; row < FONT_H; row++) {
            if (g[row] == 0)
                continue;
            int py0 = y + row * dot, py1 = py0 + dot;
            py0 = py0 < 0 ? 0 : py0;
            py1 = py1 > height ? height : py1;
            for (int col = 0; col < FONT_W; col++) {
                if (!(g[row] & (0x10 >> col)))
                    continue;
                int px0 = x + col * dot, px1 = px0 + dot;
                px0 = px0 < 0 ? 0 : px0;
                px1 = px1 > width ? width : px1;
                if (px1 <= px0)
                    continue;
                for (int py = py0; py < py1; py++)
                    memset(y_plane + (ptrdiff_t)py * width + px0, luma, (size_t)(px1 - px0));
            }
        }
    }
}

/* "HH:MM:SS UTC" of a wall-clock time; floors, so times before 1970 still read correctly. */
static void format_clock(char dst[13], int64_t now_us)
{
    int64_t s = now_us / 1000000 - (now_us % 1000000 < 0 ? 1 : 0);
    int64_t day_s = ((s % 86400) + 86400) % 86400;
    int hms[3] = {(int)(day_s / 3600), (int)(day_s / 60 % 60), (int)(day_s % 60)};
    for (int i = 0; i < 3; i++) {
        dst[i * 3] = (char)('0' + hms[i] / 10);
        dst[i * 3 + 1] = (char)('0' + hms[i] % 10);
        dst[i * 3 + 2] = i < 2 ? ':' : ' ';
    }
    memcpy(dst + 9, "UTC", 4);
}

/* Lays out and draws every line, centred as one block. */
static void draw_card(uint8_t *planes, int width, int height, const char *const *lines,
                      int line_count, int64_t now_us)
{
    size_t luma_len = (size_t)width * (size_t)height;
    size_t chroma_len = luma_len / 4;
    memset(planes, bg_yuv[0], luma_len);
    memset(planes + luma_len, bg_yuv[1], chroma_len);
    memset(planes + luma_len + chroma_len, bg_yuv[2], chroma_len);

    /* Even, so the bar's colour covers whole chroma rows and does not bleed into the text. */
    int bar_h = (height / 120) & ~1;
    bar_h = bar_h < 2 ? 2 : bar_h;
    memset(planes, bar_yuv[0], (size_t)width * (size_t)bar_h);
    memset(planes + luma_len, bar_yuv[1], (size_t)(width / 2) * (size_t)(bar_h / 2));
    memset(planes + luma_len + chroma_len, bar_yuv[2], (size_t)(width / 2) * (size_t)(bar_h / 2));

    card_line_t ls[VG_CARD_MAX_LINES + 1];
    int n = 0, block_h = 0;
    int avail = width - 2 * (width / 20);
    for (int i = 0; i <= line_count; i++, n++) {
        card_line_t *l = &ls[n];
        bool is_head = i == 0 && line_count > 0;
        if (i < line_count) {
            l->chars = normalise(l->text, lines[i]);
        } else {
            format_clock(l->text, now_us);
            l->chars = (int)strlen(l->text);
        }
        l->dot = dot_size(is_head ? height / 10 : height / 18, l->chars, avail);
        l->luma = is_head ? HEAD_Y : BODY_Y;
        /* More air under the headline than between the smaller lines. */
        l->gap = i == 0 ? 0 : (i == 1 ? 5 : 4) * l->dot;
        block_h += l->gap + FONT_H * l->dot;
    }

    int y = (height - block_h) / 2;
    for (int i = 0; i < n; i++) {
        const card_line_t *l = &ls[i];
        int text_w = (l->chars * CHAR_DOTS - 1) * l->dot;
        y += l->gap;
        draw_text(planes, width, height, (width - text_w) / 2, y, l->dot, l->text, l->luma);
        y += FONT_H * l->dot;
    }
}

int vg_card_render(vg_frame_t **out, int width, int height, int quality, const char *const *lines,
                   int line_count, int64_t now_us)
{
    if (out == NULL || width < CARD_MIN_W || width > CARD_MAX_W || width % 2 != 0 ||
        height < CARD_MIN_H || height > CARD_MAX_H || height % 2 != 0 || quality < 1 ||
        quality > 100 || line_count < 0 || line_count > VG_CARD_MAX_LINES ||
        (line_count > 0 && lines == NULL))
        return VG_EINVAL;
    for (int i = 0; i < line_count; i++)
        if (lines[i] == NULL)
            return VG_EINVAL;

    int rc = VG_ECODEC;
    size_t luma_len = (size_t)width * (size_t)height;
    uint8_t *planes = vg_xmalloc(luma_len + luma_len / 2);
    unsigned char *jpeg = NULL;
    unsigned long jpeg_len = 0;
    tjhandle tj = tjInitCompress();
    if (tj == NULL)
        goto out;

    draw_card(planes, width, height, lines, line_count, now_us);

    const unsigned char *src[3] = {planes, planes + luma_len, planes + luma_len + luma_len / 4};
    int strides[3] = {width, width / 2, width / 2};
    /* No TJFLAG_NOREALLOC: turbojpeg sizes the buffer, and a flat card compresses far below
     * the worst case tjBufSize() would have us allocate. ISLOW rather than FASTDCT: the card
     * is mostly flat, so the accurate DCT costs little and keeps glyph edges clean. */
    if (tjCompressFromYUVPlanes(tj, src, width, strides, height, TJSAMP_420, &jpeg, &jpeg_len,
                                quality, 0) != 0)
        goto out;

    vg_frame_t *f = vg_frame_new(jpeg_len);
    memcpy(f->data, jpeg, jpeg_len);
    f->len = jpeg_len;
    f->meta.codec = VG_CODEC_JPEG;
    f->meta.is_key = true;
    f->meta.width = width;
    f->meta.height = height;
    *out = f;
    rc = 0;
out:
    tjFree(jpeg); /* accepts NULL */
    if (tj != NULL)
        tjDestroy(tj);
    free(planes);
    return rc;
}
