/* libFuzzer target: what an edge or a central reads off an uplink's WebSocket (fleet/
 * uplink_wire.h): a binary frame from either side, and the edge's hello, whose camera ids
 * become ids in the central's database. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/uplink_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_uplink_frame_t f;
    if (vg_uplink_frame_parse(data, size, &f) == 0) {
        if (f.payload + f.len != data + size || (f.kind != VG_UPLINK_DATA && f.len))
            abort();
        uint8_t head[VG_UPLINK_HEAD];
        vg_uplink_frame_head(head, f.channel, f.kind);
        if (memcmp(head, data, VG_UPLINK_HEAD) != 0) /* the head says what was parsed */
            abort();
    }
    static vg_uplink_hello_t h; /* 50 KB: off the stack */
    char why[120];
    if (vg_uplink_hello_parse((const char *)data, size, &h, why, sizeof(why)) == 0) {
        if (!vg_uplink_is_name(h.site, VG_UPLINK_SITE_MAX) || h.camera_count < 0 ||
            h.camera_count > VG_UPLINK_CAMERAS_MAX)
            abort();
        for (int i = 0; i < h.camera_count; i++) {
            /* "<site>-<camera>" must be an id the central can store (63 at most) */
            if (strlen(h.site) + 1 + strlen(h.cameras[i].id) > 63)
                abort();
        }
        json_t *again = vg_uplink_hello_json(&h);
        json_decref(again);
    }
    return 0;
}
