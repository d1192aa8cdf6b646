/* wire: vigil's 32-byte binary frame header (docs/protocol.md), shared by the media worker
 * (which writes it in front of each JPEG) and clients such as vigil probe. Pure functions. */
#ifndef VG_CORE_WIRE_H
#define VG_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

#define VG_WIRE_VERSION 1
#define VG_WIRE_HDR_LEN 32
#define VG_WIRE_FLAG_KEY 0x01
#define VG_WIRE_FLAG_PLACEHOLDER 0x02 /* a rendered "camera offline" card */

/* Writes the header for meta into out[0..32). */
void vg_wire_put_header(uint8_t out[VG_WIRE_HDR_LEN], const vg_frame_meta_t *meta);

/* Parses a header; returns its length (>= 32) or VG_EPROTO for a bad version or length. */
int vg_wire_parse_header(const uint8_t *in, size_t len, vg_frame_meta_t *meta);

#endif
