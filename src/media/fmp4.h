/* fmp4: fragmented MP4 (ISO/IEC 14496-12 ISO BMFF) for one H.264 or H.265 video track, the
 * container of LL-HLS (RFC 8216bis, CMAF chunks): an init segment (ftyp + moov) made from the
 * stream's parameter sets, and fragments (moof + mdat) of camera access units.
 *
 * Each LL-HLS part is one fragment; a segment is the byte concatenation of its parts. The
 * access units come from the packet lane in Annex B form and are written as 4-byte
 * length-prefixed NAL units; parameter sets and access unit delimiters are left out of the
 * samples, because with 'avc1'/'hvc1' sample entries they live only in the init segment (a
 * parameter change needs a new init segment: the caller notices it with
 * vg_h26x_params_update and makes one).
 *
 * No B-frames: the cameras in the field and the simulator send none, so decode order is
 * presentation order, every composition time offset is 0 and trun carries none. A stream
 * with B-frames would play with its pictures out of order.
 *
 * Pure functions: each returns a new frame holding the bytes, computed to the exact size
 * first and written once. Any thread; nothing blocks.
 */
#ifndef VG_MEDIA_FMP4_H
#define VG_MEDIA_FMP4_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "media/h26x.h"

/* The one track of the file: its ID in tkhd/tfhd/trex. */
#define VG_FMP4_TRACK_ID 1

typedef struct vg_fmp4_track {
    const vg_h26x_params_t *params; /* complete parameter sets; the sample entry and
                                       avcC/hvcC come from them (borrowed for the call) */
    uint32_t timescale;             /* units per second of durations and decode times: 90000 */
} vg_fmp4_track_t;

/* The init segment: ftyp + moov with one video trak (sample entry 'avc1' with avcC for
 * H.264, 'hvc1' with hvcC, array_completeness 1, for H.265: Safari plays only hvc1) and
 * mvex/trex. Returns a new frame (one reference; len is the segment's size), or NULL with *err
 * set: VG_EPROTO when the parameter sets are incomplete or their SPS unreadable, VG_EINVAL for
 * a timescale of 0. */
vg_frame_t *vg_fmp4_init_segment(const vg_fmp4_track_t *t, int *err);

typedef struct vg_fmp4_sample {
    const vg_frame_t *au; /* Annex B access unit; meta.codec (H.264/H.265) and meta.is_key
                             are read (borrowed for the call) */
    uint32_t duration;    /* in timescale units */
} vg_fmp4_sample_t;

/* One fragment: moof (mfhd sequence_number; traf: tfhd default-base-is-moof, tfdt version 1
 * with base_decode_time, trun with data_offset and each sample's duration, size and flags)
 * + mdat with each access unit as 4-byte length-prefixed NAL units, parameter sets and access
 * unit delimiters left out. Keyframes (meta.is_key) are sync samples (sample_depends_on 2),
 * the others non-sync (sample_depends_on 1, sample_is_non_sync_sample 1).
 *
 * sequence_number should start at 1 and grow by one per fragment. Returns a new frame (one
 * reference; len is the fragment's size; meta.codec, is_key, capture_us and ingest_us are the
 * first sample's, so meta.is_key tells an independent part), or NULL with *err set to
 * VG_EINVAL: n == 0, an
 * access unit that is empty or holds nothing but parameter sets and delimiters, a codec other
 * than H.264/H.265, or a fragment that would not fit the 32-bit box sizes (4 GiB). */
vg_frame_t *vg_fmp4_fragment(uint32_t sequence_number, uint64_t base_decode_time,
                             const vg_fmp4_sample_t *samples, size_t n, int *err);

#endif
