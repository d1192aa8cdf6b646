/* libFuzzer target: the binary frame header parser (what vigil probe reads off the wire),
 * checked against a round trip through the writer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_frame_meta_t m;
    int n = vg_wire_parse_header(data, size, &m);
    if (n < 0)
        return 0;
    if ((size_t)n > size || n < VG_WIRE_HDR_LEN)
        abort();
    uint8_t again[VG_WIRE_HDR_LEN];
    vg_wire_put_header(again, &m);
    vg_frame_meta_t m2;
    if (vg_wire_parse_header(again, sizeof(again), &m2) != VG_WIRE_HDR_LEN ||
        m2.seq != m.seq || m2.capture_us != m.capture_us || m2.width != m.width)
        abort();
    return 0;
}
