/* libFuzzer target for net/rtsp_reply (being written). */
#include <stdint.h>
#include <stdlib.h>
#include "net/rtsp_reply.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vg_rtsp_reply_t r;
    (void)vg_rtsp_reply_parse(data, size, &r);
    return 0;
}
