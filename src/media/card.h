/* card: the "camera offline, reconnecting" picture that JPEG viewers (WebSocket, MJPEG, plain
 * <img> tags) get at a low rate while a camera is down, instead of a frozen last picture.
 * A pure function: any thread, never blocks; it allocates its planes and the frame. */
#ifndef VG_MEDIA_CARD_H
#define VG_MEDIA_CARD_H

#include <stdint.h>

#include "core/frame.h"

/* Most caller lines drawn; the clock line comes on top of these. */
#define VG_CARD_MAX_LINES 8

/* Renders a card of width x height (even, 16..3840 x 16..2160) in the dashboard's dark
 * palette: a red accent bar along the top, then centred text: lines[0] large (about height/10
 * tall, e.g. "CAMERA OFFLINE"), lines[1..] smaller (about height/18: "RECONNECTING", the
 * reason, the camera name), and last the UTC time at_us (wall-clock µs) as
 * "HH:MM:SS UTC" (the stream shows when the camera went down, so a card changes only with its
 * size or text, and is encoded once and reused). Text shrinks to fit the width (down to
 * 1 px per font dot) and is clipped to the picture beyond that.
 *
 * lines[] holds line_count (0..VG_CARD_MAX_LINES) UTF-8 strings, borrowed; only ASCII is
 * drawn: lowercase as uppercase, anything the font lacks (and each non-ASCII character) as a
 * space. The font covers A-Z 0-9 and : . , - _ ' ( ) / ! ? and space. Lines longer than 96
 * characters are cut.
 *
 * The picture is JPEG-encoded at quality (1..100), 4:2:0, full range (JFIF), into a new
 * frame with one reference for the caller: data/len hold the JPEG; meta.codec is
 * VG_CODEC_JPEG, meta.is_key true, meta.width/height the size; the rest of meta is left to
 * the caller (seq, times, tier).
 *
 * Returns 0 and sets *out, VG_EINVAL for bad arguments (*out untouched), or VG_ECODEC when
 * libjpeg-turbo fails. Any thread; allocates (about 1.5 bytes per pixel, freed before it
 * returns); does not block, but costs a JPEG encode, so the stream runs it on the uv pool
 * rather than on the loop. */
int vg_card_render(vg_frame_t **out, int width, int height, int quality, const char *const *lines,
                   int line_count, int64_t at_us);

#endif
