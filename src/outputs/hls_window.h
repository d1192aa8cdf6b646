/* hls_window: the model behind a camera's Low-Latency HLS media playlist
 * (draft-pantos-hls-rfc8216bis: partial segments, preload hints, blocking reload, delta
 * updates). It holds the window of fMP4 segments and their parts, renders the playlist text,
 * resolves the names a player fetches, and decides when a blocking reload may answer.
 *
 *   init1.mp4 ─┐        (each segment holds a reference to its init segment)
 *   segs: [ seg5: part5.0 .. part5.9 ][ seg6 ... ] ... [ seg11 ][ seg12 (open): part12.0 .. 12.3 ]
 *          oldest complete                  window_segments complete    ^ next part: part12.4
 *
 * Every byte is a refcounted vg_frame_t that the caller made (one moof+mdat per part); the
 * window holds references, never copies, and hands out new references to what a request
 * must write. Pure: no I/O, no clock, no libuv. Loop thread only.
 *
 * Names (relative to the playlist URL): "init{n}.mp4" (n counts init segments from 1),
 * "seg{msn}.m4s" (a complete segment, the concatenation of its parts), "part{msn}.{i}.m4s".
 * Numbers are plain decimal without leading zeros, so each resource has exactly one name.
 */
#ifndef VG_OUTPUTS_HLS_WINDOW_H
#define VG_OUTPUTS_HLS_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

/* Parts per segment, at most: the window closes a segment itself when it reaches this, so a
 * camera that stops sending keyframes cannot grow one without bound (64 x 200 ms = 12.8 s). */
#define VG_HLSW_MAX_PARTS 64
/* Complete segments kept, at most (cfg.window_segments is clamped to it). */
#define VG_HLSW_MAX_SEGMENTS 64
#define VG_HLSW_DEFAULT_WINDOW_SEGMENTS 7

typedef struct vg_hlsw vg_hlsw_t;

typedef struct vg_hlsw_cfg {
    int64_t part_target_us;    /* EXT-X-PART-INF:PART-TARGET, e.g. 200000 (> 0) */
    int64_t segment_target_us; /* EXT-X-TARGETDURATION: the longest segment rounded up, at
                                  least this rounded up (> 0) */
    int window_segments;       /* complete segments kept (0: default 7; at most 64) */
} vg_hlsw_cfg_t;

/* Makes an empty window; copies cfg. Returns NULL when cfg is invalid (a target <= 0).
 * Aborts when memory runs out. */
vg_hlsw_t *vg_hlsw_new(const vg_hlsw_cfg_t *cfg);
/* Drops every reference the window holds and sets *wp to NULL. Accepts NULL. */
void vg_hlsw_free(vg_hlsw_t **wp);

/* A new init segment (the first, or the codec parameters changed). Takes a reference to init
 * (the caller keeps its own). An open segment is closed first, because its parts were cut for
 * the old init; the next segment starts with EXT-X-MAP naming init{n}.mp4, and, unless it is
 * the first segment ever, with EXT-X-DISCONTINUITY. */
void vg_hlsw_set_init(vg_hlsw_t *w, vg_frame_t *init);

/* Appends a part (one moof+mdat) to the open segment, opening one when none is. Takes a
 * reference to bytes (the caller keeps its own). is_independent: the part starts with a
 * keyframe. pdt_us: wall-clock capture time of its first frame (Unix microseconds).
 * A part longer than part_target_us raises the advertised PART-TARGET for good (the spec
 * requires every part <= PART-TARGET); the cutter should avoid it. Reaching
 * VG_HLSW_MAX_PARTS closes the segment. Returns 0, or VG_EINVAL (nothing added) when no init
 * segment was set or duration_us <= 0. */
int vg_hlsw_add_part(vg_hlsw_t *w, vg_frame_t *bytes, int64_t duration_us, bool is_independent,
                     int64_t pdt_us);

/* Closes the open segment (no-op when none is): the next part opens a new one. The caller
 * closes before a keyframe part once the segment is long enough. Complete segments beyond
 * window_segments leave, oldest first, with their references. */
void vg_hlsw_close_segment(vg_hlsw_t *w);

/* The live edge: the msn and part index the next add_part will get (what the preload hint
 * names). */
void vg_hlsw_next(const vg_hlsw_t *w, uint64_t *msn, int *part);

/* Blocking playlist reload (rfc8216bis 6.2.5.2), for _HLS_msn=msn and _HLS_part=part (-1 for
 * an absent directive). READY: answer now. WAIT: hold the request and ask again after each
 * add_part/close_segment; the caller bounds the wait (the spec: 503 after three target
 * durations, see vg_hlsw_target_duration_s). BAD: answer 400 (_HLS_part without _HLS_msn, a
 * negative value, msn more than two beyond the last complete segment, or a part further
 * ahead of the last part than the Advance Part Limit: 3 / PART-TARGET in seconds). */
typedef enum { VG_HLSW_READY, VG_HLSW_WAIT, VG_HLSW_BAD } vg_hlsw_block_t;
vg_hlsw_block_t vg_hlsw_block(const vg_hlsw_t *w, int64_t msn, int64_t part);

/* EXT-X-TARGETDURATION as rendered now, in seconds (never decreases). */
int vg_hlsw_target_duration_s(const vg_hlsw_t *w);

/* The bytes the window holds: every part of its segments and each init segment they (or the
 * next segment) need, counted once. Segments are their parts, so they add nothing. */
size_t vg_hlsw_bytes(const vg_hlsw_t *w);

/* Renders the media playlist into out[0 .. cap) with a terminating NUL. query: appended as
 * "?query" to every URI in it (init, segments, parts, preload hint) so that a stream token in
 * the playlist URL reaches every request; NULL or "" for none. It is not escaped: it must be
 * an already-encoded query, and one with a character that could break out of a quoted string
 * or a line ('"', '#', space, controls, non-ASCII) is refused. is_skip: the client sent
 * _HLS_skip=YES; segments further than CAN-SKIP-UNTIL (six target durations) from the end
 * become one EXT-X-SKIP tag (none when the window is shorter than that).
 * Returns the length (without the NUL), VG_ENOSPC when cap is too small (out then holds a
 * truncated prefix), VG_EAGAIN while the window holds no part yet, VG_EINVAL for a bad query. */
int vg_hlsw_playlist(const vg_hlsw_t *w, const char *query, bool is_skip, char *out,
                     size_t cap);
/* The exact length vg_hlsw_playlist would return for the same arguments, or its error. */
int vg_hlsw_playlist_len(const vg_hlsw_t *w, const char *query, bool is_skip);

/* A name parsed: what a GET .../hls/<name> asks for. Pure; used by vg_hlsw_find. */
typedef enum {
    VG_HLSW_NAME_INIT,    /* init{n}.mp4 */
    VG_HLSW_NAME_SEGMENT, /* seg{msn}.m4s */
    VG_HLSW_NAME_PART,    /* part{msn}.{index}.m4s */
} vg_hlsw_name_kind_t;

typedef struct vg_hlsw_name {
    vg_hlsw_name_kind_t kind;
    uint64_t number; /* n for an init, msn otherwise */
    int part;        /* index, parts only */
} vg_hlsw_name_t;

/* Parses a name strictly: decimal digits only, no sign or leading zeros, msn below 2^63, n
 * from 1 and below 2^31, part index below VG_HLSW_MAX_PARTS. Returns 0 or VG_EINVAL. */
int vg_hlsw_parse_name(const char *name, vg_hlsw_name_t *out);

/* What a lookup found: new references, in the order to write them (a segment is its parts
 * one after the other; nothing is concatenated). Release with vg_hlsw_file_release. */
typedef struct vg_hlsw_file {
    vg_frame_t *frames[VG_HLSW_MAX_PARTS];
    int n_frames;
    size_t len_bytes; /* the sum of the frames' lengths: the Content-Length */
} vg_hlsw_file_t;

typedef enum {
    VG_HLSW_FOUND,  /* out holds the bytes: 200 */
    VG_HLSW_GONE,   /* left the window, or will not exist: 404 */
    VG_HLSW_FUTURE, /* the next part (the one the preload hint names) or the segment being
                       built: hold the request, look again after each change, bounded */
    VG_HLSW_BAD_NAME, /* not a name this window serves: 404 (or 400) */
} vg_hlsw_find_t;

/* Looks a name up. On FOUND fills *out (the caller owns the references); otherwise *out is
 * left empty. */
vg_hlsw_find_t vg_hlsw_find(const vg_hlsw_t *w, const char *name, vg_hlsw_file_t *out);
/* Drops the references in *f and empties it. */
void vg_hlsw_file_release(vg_hlsw_file_t *f);

#endif
