/* libFuzzer target: URL query and number parsing (vg_query_get, vg_parse_int), which see
 * every request's ?tier= and every test:// camera URL, and URL credential handling
 * (vg_url_redact, vg_url_with_credentials), which keeps passwords out of logs. */
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
    /* URLs with credentials: redaction must drop them, and never overrun. */
    char url[256];
    vg_url_redact(s, url, sizeof(url));
    /* Whatever came in, the redacted authority holds no userinfo. */
    const char *auth = strstr(url, "://");
    if (auth) {
        auth += 3;
        size_t auth_len = strcspn(auth, "/?#");
        if (memchr(auth, '@', auth_len) != NULL)
            abort();
    }
    char with[300], again[256];
    if (vg_url_with_credentials(s, "user", "p@ss:word", with, sizeof(with)) == 0) {
        vg_url_redact(with, again, sizeof(again));
        if (strcmp(again, url) != 0)
            abort(); /* adding then redacting credentials must give the bare URL back */
    }
    free(s);
    return 0;
}
