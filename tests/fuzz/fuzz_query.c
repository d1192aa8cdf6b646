/* libFuzzer target: URL query and number parsing (vg_query_get, vg_parse_int), which see
 * every request's ?tier= and every test:// camera URL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char out[64];
    static const char *const names[] = {"tier", "width", "a", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int n = vg_query_get(s, names[i], out, sizeof(out));
        if (n >= 0 && (size_t)n >= sizeof(out))
            abort(); /* the value must fit what it claims */
    }
    long long v;
    if (vg_parse_int(s, -1000, 1000, &v) == 0 && (v < -1000 || v > 1000))
        abort();
    vg_slug_is_valid(s);
    free(s);
    return 0;
}
