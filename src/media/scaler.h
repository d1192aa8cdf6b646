/* scaler: a decoded picture to 8-bit 4:2:0 at another size (or the same), through libswscale,
 * with one context kept across pictures of the same kind.
 *
 * swscale is never given a "yuvj" pixel format. Decoders still hand them out (H.264 with a
 * full-range VUI decodes to yuvj420p, MJPEG to yuvj422p), but swscale maps them to the plain
 * format when it makes a context and stores that one: sws_getCachedContext then sees a
 * different format on every call and made a new context for every picture (0.14 ms each at
 * 720p to 240 lines, and a "deprecated pixel format" warning each; Debian 12's FFmpeg 5.1).
 * Here the format is the plain one, and the ranges are the context's src_range and dst_range.
 *
 * One scaler per thread; never blocks. */
#ifndef VG_MEDIA_SCALER_H
#define VG_MEDIA_SCALER_H

#include <libavutil/frame.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct vg_scaler vg_scaler_t;

/* NULL when out of memory. */
vg_scaler_t *vg_scaler_new(void);
void vg_scaler_free(vg_scaler_t *s);

/* Whether src holds full-range ("JPEG") levels: a yuvj format, or a YUV one whose
 * color_range says so. */
bool vg_scaler_is_full_range(const AVFrame *src);

/* Scales src into dst's three planes (yuv420p, width x height). With to_full the result is
 * full range whatever src's is; without, it keeps src's levels (limited stays limited).
 * Returns 0, or VG_ECODEC when swscale cannot convert src's format (or is out of memory). */
int vg_scaler_scale(vg_scaler_t *s, const AVFrame *src, uint8_t *const dst[3],
                    const int dst_stride[3], int width, int height, bool to_full);

/* How many swscale contexts it has made: one per kind of picture (size, format, range). */
uint64_t vg_scaler_contexts_made(const vg_scaler_t *s);

#endif
