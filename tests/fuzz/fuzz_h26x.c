/* libFuzzer target: every h26x function on camera-like bytes, read as H.264 and as H.265.
 * Beyond "no crash, no read out of bounds", it checks what the functions promise: units lie
 * inside the input, a refused update leaves the parameter sets alone, the Annex B form of
 * the sets reads back to the same sets, and sizes and lengths are sane. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/h26x.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_codec(vg_codec_t codec, const uint8_t *data, size_t size)
{
    size_t pos = 0, last_pos = 0, nal_len;
    const uint8_t *nal;
    while (vg_h26x_next_nal(data, size, &pos, &nal, &nal_len)) {
        if (nal < data || nal_len == 0 || nal_len > size || nal + nal_len > data + size ||
            pos <= last_pos || pos > size)
            abort();
        if (vg_h26x_nal_type(codec, nal, nal_len) < 0)
            abort();
        last_pos = pos;
    }
    (void)vg_h26x_is_annexb(data, size);
    (void)vg_h26x_has_sps(codec, data, size);
    (void)vg_h26x_has_keyframe(codec, data, size);

    static vg_h26x_params_t ps, before, again; /* 3 KiB each: off the stack */
    memset(&ps, 0, sizeof(ps));
    ps.codec = codec;
    /* The input twice: once from empty, once over itself (no change the second time). */
    int rc = vg_h26x_params_update(&ps, data, size);
    if (rc != 0 && rc != 1 && rc != VG_EPROTO)
        abort();
    before = ps;
    int rc2 = vg_h26x_params_update(&ps, data, size);
    if (rc2 == 1 || (rc == VG_EPROTO) != (rc2 == VG_EPROTO))
        abort();
    if (memcmp(&before, &ps, sizeof(ps)) != 0)
        abort();

    static uint8_t out[3 * (VG_H26X_PS_MAX + 4)];
    int n = vg_h26x_params_annexb(&ps, out, sizeof(out));
    if (n < 0)
        abort();
    memset(&again, 0, sizeof(again));
    again.codec = codec;
    if (vg_h26x_params_update(&again, out, (size_t)n) < 0)
        abort();
    /* Trailing zeros of a set are dropped when it is taken, so the round trip is exact. */
    if (again.sps_len != ps.sps_len || again.pps_len != ps.pps_len ||
        (codec == VG_CODEC_H265 && again.vps_len != ps.vps_len) ||
        memcmp(again.sps, ps.sps, ps.sps_len) != 0 || memcmp(again.pps, ps.pps, ps.pps_len) != 0)
        abort();
    if (n > 0 && vg_h26x_params_annexb(&ps, out, (size_t)n - 1) != VG_ENOSPC)
        abort();

    char s[64];
    rc = vg_h26x_codec_string(&ps, s, sizeof(s));
    if (rc == 0 && strnlen(s, sizeof(s)) >= sizeof(s))
        abort();
    (void)vg_h26x_codec_string(&ps, s, 8);
    (void)vg_h26x_params_complete(&ps);

    static uint8_t rec[4 * VG_H26X_PS_MAX];
    n = vg_h26x_description(&ps, rec, sizeof(rec));
    if (n > (int)sizeof(rec) || (n < 0 && n != VG_EPROTO))
        abort();
    if (n > 0 && vg_h26x_description(&ps, rec, (size_t)n - 1) != VG_ENOSPC)
        abort();

    int w = -1, h = -1;
    rc = vg_h26x_picture_size(&ps, &w, &h);
    if (rc == 0 && (w <= 0 || h <= 0 || w > 65536 || h > 65536))
        abort();
    if (rc != 0 && (rc != VG_EPROTO || w != -1 || h != -1))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_codec(VG_CODEC_H264, data, size);
    check_codec(VG_CODEC_H265, data, size);
    return 0;
}
