/* libFuzzer target: the timestamp-bar decoder on arbitrary pictures of arbitrary sizes
 * (vigil probe runs it on whatever a server sends). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/stamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    int width = 1 + data[0] % 200, height = 1 + data[1] % 200;
    int stride = width + data[2] % 16;
    size_t need = (size_t)stride * (size_t)height;
    uint8_t *plane = malloc(need); /* exact size: ASan catches any read past the plane */
    for (size_t i = 0; i < need; i++)
        plane[i] = data[3 + i % (size - 3)];
    uint64_t us;
    vg_stamp_decode(plane, stride, width, height, &us);
    free(plane);
    return 0;
}
