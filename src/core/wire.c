/* wire: see wire.h. Little-endian, written byte by byte so it is right on any host. */
#include "core/wire.h"

#include <string.h>

#include "core/err.h"

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void vg_wire_put_header(uint8_t out[VG_WIRE_HDR_LEN], const vg_frame_meta_t *meta)
{
    memset(out, 0, VG_WIRE_HDR_LEN);
    out[0] = VG_WIRE_VERSION;
    out[1] = VG_WIRE_HDR_LEN;
    out[2] = (uint8_t)meta->codec;
    out[3] = (uint8_t)((meta->is_key ? VG_WIRE_FLAG_KEY : 0) |
                       (meta->is_placeholder ? VG_WIRE_FLAG_PLACEHOLDER : 0));
    put_le(out + 4, meta->seq, 4);
    put_le(out + 8, (uint64_t)meta->capture_us, 8);
    put_le(out + 16, (uint64_t)meta->ingest_us, 8);
    put_le(out + 24, (uint64_t)meta->width, 2);
    put_le(out + 26, (uint64_t)meta->height, 2);
    out[28] = meta->tier < 0 ? 0xff : (uint8_t)meta->tier;
}

int vg_wire_parse_header(const uint8_t *in, size_t len, vg_frame_meta_t *meta)
{
    if (len < VG_WIRE_HDR_LEN || in[0] != VG_WIRE_VERSION || in[1] < VG_WIRE_HDR_LEN ||
        in[1] > len)
        return VG_EPROTO;
    meta->codec = (vg_codec_t)in[2];
    meta->is_key = (in[3] & VG_WIRE_FLAG_KEY) != 0;
    meta->is_placeholder = (in[3] & VG_WIRE_FLAG_PLACEHOLDER) != 0;
    meta->seq = (uint32_t)get_le(in + 4, 4);
    meta->capture_us = (int64_t)get_le(in + 8, 8);
    meta->ingest_us = (int64_t)get_le(in + 16, 8);
    meta->width = (int)get_le(in + 24, 2);
    meta->height = (int)get_le(in + 26, 2);
    meta->tier = in[28] == 0xff ? -1 : in[28];
    return in[1];
}
