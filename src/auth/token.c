/* token: stream tokens — "<camera>.<expiry>.<user>.<mac>", an HMAC-SHA-256 under the
 * stream-token key over the first three parts and the user's auth epoch, so that a new
 * password or a disable (which bump the epoch) ends every token of the user (auth.h).
 * Untrusted input: fuzzed (tests/fuzz/fuzz_token.c). Loop thread (it reads the cache). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"

static void token_mac(const vg_auth_t *a, const char *msg, size_t len, int64_t epoch,
                      uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    uint8_t epoch_le[8];
    for (int i = 0; i < 8; i++)
        epoch_le[i] = (uint8_t)((uint64_t)epoch >> (8 * i));
    crypto_auth_hmacsha256_init(&st, a->token_key, VG_AUTH_KEY_LEN);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"vigil-stream-token-v2:", 22);
    crypto_auth_hmacsha256_update(&st, epoch_le, sizeof(epoch_le));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg, len);
    crypto_auth_hmacsha256_final(&st, mac);
}

int64_t vg__auth_user_epoch(vg_auth_t *a, const char *user_id)
{
    const vg_access_user_t *u = vg_access_cache_user(a->cache, user_id);
    return u ? u->auth_epoch : 0;
}

int vg_auth_token_make(vg_auth_t *a, const char *camera_id, const char *user_id,
                       int64_t expires_s, char out[VG_STREAM_TOKEN_MAX])
{
    if (!vg_slug_is_valid(camera_id) || !vg_slug_is_valid(user_id))
        return VG_EINVAL;
    int n = snprintf(out, VG_STREAM_TOKEN_MAX, "%s.%lld.%s", camera_id, (long long)expires_s,
                     user_id);
    if (n < 0 || n + 1 + 44 >= VG_STREAM_TOKEN_MAX)
        return VG_EINVAL;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    token_mac(a, out, (size_t)n, vg__auth_user_epoch(a, user_id), mac);
    out[n] = '.';
    sodium_bin2base64(out + n + 1, VG_STREAM_TOKEN_MAX - (size_t)n - 1, mac, sizeof(mac),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

int vg__auth_token_check(vg_auth_t *a, const char *token, const char *camera_id,
                       char user_id[64], int64_t *expires_us)
{
    user_id[0] = '\0';
    const char *mac_dot = strrchr(token, '.');
    if (mac_dot == NULL || (size_t)(mac_dot - token) >= VG_STREAM_TOKEN_MAX)
        return VG_EINVAL;
    char signed_part[VG_STREAM_TOKEN_MAX];
    size_t signed_len = (size_t)(mac_dot - token);
    memcpy(signed_part, token, signed_len);
    signed_part[signed_len] = '\0';
    uint8_t want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    size_t got_len = 0;
    if (sodium_base642bin(got, sizeof(got), mac_dot + 1, strlen(mac_dot + 1), NULL, &got_len,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got_len != sizeof(got))
        return VG_EINVAL;
    /* Only the one spelling we write: libsodium's decoder takes some bytes outside the
     * alphabet (found by fuzz_token), and a token must not have several spellings. */
    char canonical[64];
    sodium_bin2base64(canonical, sizeof(canonical), got, sizeof(got),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (strcmp(canonical, mac_dot + 1) != 0)
        return VG_EINVAL;
    /* The user part (after the second dot) picks the epoch the MAC must include; a forged
     * user part only picks another epoch, and the MAC still fails. */
    const char *d1 = strchr(signed_part, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d2 == NULL)
        return VG_EINVAL;
    token_mac(a, signed_part, signed_len, vg__auth_user_epoch(a, d2 + 1), want);
    if (sodium_memcmp(want, got, sizeof(want)) != 0)
        return VG_EINVAL;
    /* Signed by us: the parts are what vg_auth_token_make wrote. */
    char *cam = signed_part, *exp = strchr(cam, '.'), *user = exp ? strchr(exp + 1, '.') : NULL;
    if (user == NULL)
        return VG_EINVAL;
    *exp++ = '\0';
    *user++ = '\0';
    long long expires;
    if (vg_parse_int(exp, 0, 100000000000LL, &expires) < 0 || expires * 1000000LL <= vg_wall_us())
        return VG_ETIMEDOUT;
    if (strcmp(cam, camera_id) != 0)
        return VG_ENOENT;
    if (expires_us)
        *expires_us = expires * 1000000LL;
    return vg_strlcpy(user_id, user, 64) ? 0 : VG_EINVAL;
}

int vg_auth_token_check(vg_auth_t *a, const char *token, const char *camera_id,
                        char user_id[64])
{
    return vg__auth_token_check(a, token, camera_id, user_id, NULL);
}
