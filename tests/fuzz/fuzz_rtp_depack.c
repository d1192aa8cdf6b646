/* libFuzzer target: media/rtp_depack on a camera's packets, as H.264, H.265 and AAC, and
 * the RTCP sender report parser. The input is a run of packets, each after a 2-byte length.
 * Beyond "no crash, no read out of bounds", it checks what the depacketizer promises: no
 * unit is empty (AAC aside) or over VG_RTP_DEPACK_MAX_AU, an H.26x unit is Annex B, and a
 * packet refused as not RTP changes no count but bad_packets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "media/h26x.h"
#include "media/rtp_depack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vg_codec_t current;

static void on_unit(void *arg, uint8_t *unit, size_t len, uint32_t ts, bool is_key,
                    bool is_damaged)
{
    (void)arg;
    (void)is_damaged;
    (void)ts;
    (void)is_key;
    if (len > VG_RTP_DEPACK_MAX_AU || (current != VG_CODEC_AAC && len == 0))
        abort();
    if (current != VG_CODEC_AAC && !vg_h26x_is_annexb(unit, len))
        abort();
    free(unit);
}

static void run(vg_codec_t codec, const uint8_t *data, size_t size)
{
    current = codec;
    vg_rtp_depack_cfg_t cfg = {.codec = codec, .payload_type = 96, .on_unit = on_unit};
    vg_rtp_depack_t *d = NULL;
    if (vg_rtp_depack_new(&cfg, &d) != 0)
        abort();
    while (size >= 2) {
        size_t n = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (n > size)
            n = size;
        vg_rtp_depack_stats_t before, after;
        vg_rtp_depack_stats(d, &before);
        int rc = vg_rtp_depack_push(d, data, n);
        vg_rtp_depack_stats(d, &after);
        if (rc == VG_EPROTO && (after.packets != before.packets || after.units != before.units))
            abort();
        if (rc != 0 && rc != VG_EPROTO)
            abort();
        int64_t us;
        uint32_t ts;
        (void)vg_rtcp_parse_sender_report(data, n, &us, &ts);
        data += n;
        size -= n;
    }
    vg_rtp_depack_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(VG_CODEC_H264, data, size);
    run(VG_CODEC_H265, data, size);
    run(VG_CODEC_AAC, data, size);
    return 0;
}
