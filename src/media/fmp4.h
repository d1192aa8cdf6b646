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

/* The video track of the file: its ID in tkhd/tfhd/trex. */
#define VG_FMP4_TRACK_ID 1
/* The audio track, when there is one. */
#define VG_FMP4_AUDIO_TRACK_ID 2
/* The longest AudioSpecificConfig written (its descriptor lengths then fit one byte). */
#define VG_FMP4_AUDIO_CONFIG_MAX 64

/* An AAC track: raw AAC frames (no ADTS), each a sample; its timescale is the sample rate,
 * so an AAC-LC frame lasts 1024 units. */
typedef struct vg_fmp4_audio {
    const uint8_t *config; /* AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1), borrowed */
    size_t config_len;     /* 2..VG_FMP4_AUDIO_CONFIG_MAX */
    uint32_t sample_rate;  /* Hz: the track's timescale */
    int channels;          /* 1..255 */
} vg_fmp4_audio_t;

typedef struct vg_fmp4_track {
    const vg_h26x_params_t *params; /* complete parameter sets; the sample entry and
                                       avcC/hvcC come from them (borrowed for the call) */
    uint32_t timescale;             /* units per second of durations and decode times: 90000 */
    const vg_fmp4_audio_t *audio;   /* NULL: video only; else a second trak (borrowed) */
} vg_fmp4_track_t;

/* The init segment: ftyp + moov with one video trak (sample entry 'avc1' with avcC for
 * H.264, 'hvc1' with hvcC, array_completeness 1, for H.265: Safari plays only hvc1), with
 * t->audio a second trak (track ID 2, sample entry 'mp4a' with an esds holding the
 * AudioSpecificConfig, object type 0x40: what hls.js, Safari and FFmpeg read the codec
 * from), and mvex/trex for each. Returns a new frame (one reference; len is the segment's
 * size), or NULL with *err set: VG_EPROTO when the parameter sets are incomplete or their SPS
 * unreadable, VG_EINVAL for a timescale of 0 or an audio description out of bounds. */
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

/* The samples of one track in a fragment, from base_decode_time on (in the track's
 * timescale). */
typedef struct vg_fmp4_run {
    uint64_t base_decode_time;
    const vg_fmp4_sample_t *samples; /* borrowed for the call */
    size_t n;
} vg_fmp4_run_t;

/* One fragment of a file whose init segment has the audio track: as vg_fmp4_fragment for the
 * video, then, when audio->n > 0, a second traf (track ID 2; tfdt audio->base_decode_time;
 * trun: each AAC frame's duration and size, every one a sync sample) whose samples follow
 * the video's in the same mdat, each raw AAC frame as it is (meta.codec VG_CODEC_AAC). audio
 * NULL or empty: the same bytes as vg_fmp4_fragment. Errors as there, and VG_EINVAL for an
 * audio sample that is empty or not AAC. */
vg_frame_t *vg_fmp4_fragment_av(uint32_t sequence_number, const vg_fmp4_run_t *video,
                                const vg_fmp4_run_t *audio, int *err);

#endif
