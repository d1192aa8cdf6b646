/* libFuzzer target: JWT verification (auth/jwt.c) with an HS256 secret, an RSA and an EC P-256
 * key configured, at a fixed time so every run is deterministic.
 *
 * The first byte picks the mode. Even ('T' in the seeds): the rest is a token as a client
 * would send it. Odd ('S'): the rest is "header JSON\npayload JSON", which the harness encodes
 * and signs with the HS256 secret, so the fuzzer also reaches the header and claim checks that
 * only a correctly signed token gets to. The seed tokens (tests/fuzz/corpus/jwt) were signed
 * with the private halves of the keys below, which are not kept. */
#define _GNU_SOURCE /* memfd_create */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth/jwt.h"

#define NOW 1700000000
#define SECRET "fuzz-secret-0123456789abcdef0123456789"

/* RS256 key "r1" (2048 bits) and ES256 key "e1". */
static const char jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"alg\":\"RS256\",\"e\":\"AQAB\","
    "\"n\":\"liDK4bLoa8R3h2ca55OYA5ffaQ19oW6I4nSp2XMDYvNhBaVEx3HJjautNZRY8AIkDPTOtnpcaRO7-LcV1Vf7"
    "UO2CtnJ7iZXrCUv8JPKtHj9roXuyXdvZ7ALFXwTfvndZQf6c7pEdmYhXyv6rO2YZC1D_nKvp71CCpOxoR3A5"
    "urEjFtpILnyrQKl7nxwjThIvv-D5-ne-8kdYCxWNyE-oybxeSlfK_2IhkSE-4kgVLyLopiB9qPS7JEdYngDi"
    "ygT41r8a6Zso6eLceKquAc8omEdxy9YtTV6Rrs8zW6Sy5AxUu5Q01p_rRmwpkWQ5lhzsxPyU3NnCQfcirw0p"
    "-cQb5w\"},"
    "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\","
    "\"x\":\"CxTWauOHZnlKtdXVTpFnNMQfrylMUEh4r_XYG7eQjWg\","
    "\"y\":\"Clh1rOOAF229gJPrV43TechnXacjtzrFZAcaMkeixiI\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vg_jwt_t *verifier(void)
{
    static vg_jwt_t *v;
    if (v != NULL)
        return v;
    /* The JWKS lives in a memfd that stays open for the process, as in fuzz_config.c. */
    int fd = memfd_create("vigil-jwks", 0);
    if (fd < 0 || write(fd, jwks, sizeof(jwks) - 1) != (ssize_t)(sizeof(jwks) - 1))
        abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    char err[256];
    vg_jwt_cfg_t cfg = {.hs256_secret = SECRET,
                        .jwks_path = path,
                        .issuer = "https://idp.example",
                        .audience = "vigil",
                        .leeway_s = 30};
    if (vg_jwt_new(&v, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_jwt: %s\n", err);
        abort();
    }
    return v;
}

static char *b64url(const uint8_t *bin, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = malloc(cap);
    sodium_bin2base64(s, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return s;
}

/* "header\npayload" -> a token signed with SECRET. */
static char *sign_hs256(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hdr_len = nl ? (size_t)(nl - data) : size;
    const uint8_t *payload = nl ? nl + 1 : data + size;
    char *h = b64url(data, hdr_len);
    char *p = b64url(payload, size - (size_t)(payload - data));
    size_t msg_len = strlen(h) + 1 + strlen(p);
    char *tok = malloc(msg_len + 1 + 44);
    snprintf(tok, msg_len + 1, "%s.%s", h, p);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const uint8_t *)tok, msg_len, mac, &mac_len);
    tok[msg_len] = '.';
    sodium_bin2base64(tok + msg_len + 1, 44, mac, mac_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(h);
    free(p);
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    vg_jwt_t *v = verifier();
    char *tok;
    if (data[0] & 1) {
        tok = sign_hs256(data + 1, size - 1);
    } else {
        tok = malloc(size); /* a C string: the token ends at the first NUL, as it would */
        memcpy(tok, data + 1, size - 1);
        tok[size - 1] = '\0';
    }
    json_t *claims = NULL;
    char err[64];
    if (vg_jwt_verify(v, tok, NOW, &claims, err, sizeof(err)) == 0 && !json_is_object(claims))
        abort();
    json_decref(claims);
    free(tok);
    return 0;
}
