/* libFuzzer target: stream tokens, which arrive in the query string of MJPEG, snapshot and
 * WebSocket URLs from anybody (vg_auth_token_check). Arbitrary input must never verify; a
 * real token must verify, and no one-byte change of it may. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/clock.h"
#include "core/util.h"
#include "store/secrets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vg_auth_t *auth;

static void setup(void)
{
    char msg[128];
    vg_secrets_init();
    vg_auth_cfg_t acfg = {.store = NULL}; /* random keys; users unknown: epoch 0 */
    if (vg_auth_new(&auth, &acfg, msg, sizeof(msg)) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (auth == NULL)
        setup();
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char user[64];
    /* Without our key nobody makes a token that verifies. */
    if (vg_auth_token_check(auth, s, "cam-1", user) == 0)
        abort();
    /* A real one verifies, for its camera only, and a change of one byte breaks it. */
    char token[VG_STREAM_TOKEN_MAX];
    if (vg_auth_token_make(auth, "cam-1", "user-1", vg_wall_us() / 1000000 + 600, token) < 0)
        abort();
    if (vg_auth_token_check(auth, token, "cam-1", user) != 0 || strcmp(user, "user-1") != 0)
        abort();
    if (vg_auth_token_check(auth, token, "cam-2", user) == 0)
        abort();
    if (size >= 2) {
        size_t at = data[0] % strlen(token);
        char was = token[at];
        token[at] = (char)data[1];
        if (token[at] != was && token[at] != '\0' &&
            vg_auth_token_check(auth, token, "cam-1", user) == 0)
            abort();
    }
    free(s);
    return 0;
}
