/* still: one JPEG from a run of access units (a keyframe and those after it), for snapshots
 * of the recent past (snapshot.jpg?at=). It opens its own decoder, so it runs on any thread;
 * the caller puts it on the uv pool, never on the loop (decoding a GOP takes tens of ms). */
#ifndef VG_MEDIA_STILL_H
#define VG_MEDIA_STILL_H

#include <stddef.h>

#include "core/frame.h"

/* Decodes aus[0..n) (aus[0] a keyframe; H.264/H.265 Annex B) and JPEG-encodes the picture of
 * the last one at quality (1..100), full range. *out gets a frame with headroom whose
 * meta.capture_us is that access unit's. Returns 0, VG_ECODEC (nothing decodable), or
 * VG_EINVAL. */
int vg_still_encode(vg_frame_t *const *aus, size_t n, int quality, vg_frame_t **out);

#endif
