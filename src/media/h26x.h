/* h26x: what the packet lane needs to know of H.264/H.265 bitstreams, without decoding.
 *
 * Access units travel in Annex B form (start codes). The lane forwards them untouched, but it
 * has to know three things a viewer's decoder needs before the first picture: the parameter
 * sets (so that every keyframe can carry them in band), the WebCodecs codec string
 * (avc1.PPCCLL, hvc1.…: ISO/IEC 14496-15 Annex E / RFC 6381), and the avcC/hvcC record
 * (`description`) for decoders that want length-prefixed input. Everything here reads the
 * first bytes of the SPS and copies NAL units: it never parses slices. Pure functions, any
 * thread; all input is untrusted (it comes from cameras) and is fuzzed (tests/fuzz/fuzz_h26x.c).
 */
#ifndef VG_MEDIA_H26X_H
#define VG_MEDIA_H26X_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/frame.h"

/* The longest parameter set kept. Real SPS/PPS are tens of bytes; PPS with scaling lists a
 * few hundred; a "parameter set" longer than this is refused rather than truncated. */
#define VG_H26X_PS_MAX 1024

/* The parameter sets of one stream: one of each kind (the last seen). H.264 has no VPS. */
typedef struct vg_h26x_params {
    vg_codec_t codec; /* VG_CODEC_H264 or VG_CODEC_H265 */
    uint8_t vps[VG_H26X_PS_MAX], sps[VG_H26X_PS_MAX], pps[VG_H26X_PS_MAX];
    size_t vps_len, sps_len, pps_len; /* 0: not seen */
} vg_h26x_params_t;

/* Whether buf starts with an Annex B start code (00 00 01 or 00 00 00 01). */
bool vg_h26x_is_annexb(const uint8_t *buf, size_t len);

/* Iterates over the NAL units of an Annex B buffer: *pos starts at 0. Returns true with the
 * next unit (without its start code, trailing zero bytes removed), false at the end. */
bool vg_h26x_next_nal(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **nal,
                      size_t *nal_len);

/* The NAL unit type (H.264: 5 bits, H.265: 6 bits), -1 for an empty unit. */
int vg_h26x_nal_type(vg_codec_t codec, const uint8_t *nal, size_t nal_len);

/* Whether the access unit holds an SPS (then it also carries what a decoder needs). */
bool vg_h26x_has_sps(vg_codec_t codec, const uint8_t *au, size_t len);

/* Whether the access unit holds an IDR/IRAP slice: a picture decodable on its own. */
bool vg_h26x_has_keyframe(vg_codec_t codec, const uint8_t *au, size_t len);

/* Takes the parameter sets found in an Annex B buffer into ps (ps->codec set by the caller).
 * Returns 1 when one of them changed, 0 when none did (or none were found), VG_EPROTO for a
 * parameter set longer than VG_H26X_PS_MAX (ps is left as it was). */
int vg_h26x_params_update(vg_h26x_params_t *ps, const uint8_t *buf, size_t len);

/* Whether ps has what a decoder needs: SPS and PPS (and VPS for H.265). */
bool vg_h26x_params_complete(const vg_h26x_params_t *ps);

/* Writes the parameter sets in Annex B form (4-byte start codes) to out. Returns the length,
 * or VG_ENOSPC when cap is too small. */
int vg_h26x_params_annexb(const vg_h26x_params_t *ps, uint8_t *out, size_t cap);

/* The WebCodecs codec string ("avc1.64001f", "hvc1.1.6.L93.B0"). Returns 0, VG_EPROTO
 * when the SPS is missing or too short, or VG_ENOSPC when cap is too small. */
int vg_h26x_codec_string(const vg_h26x_params_t *ps, char *out, size_t cap);

/* The displayed picture size from the SPS: the coded size less the cropping (H.264
 * frame_crop_*_offset) or conformance window (H.265 conf_win_*_offset). Returns 0, or
 * VG_EPROTO when the SPS is missing, truncated or malformed. */
int vg_h26x_picture_size(const vg_h26x_params_t *ps, int *width, int *height);

/* The AVCDecoderConfigurationRecord (avcC) or HEVCDecoderConfigurationRecord (hvcC), with
 * 4-byte NAL lengths. Returns the length, VG_EPROTO when ps is incomplete, VG_ENOSPC when cap
 * is too small. */
int vg_h26x_description(const vg_h26x_params_t *ps, uint8_t *out, size_t cap);

#endif
