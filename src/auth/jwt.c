/* jwt: see jwt.h.
 *
 * A token is checked in this order, and the first failure decides the message:
 *   1. shape: at most JWT_MAX_TOKEN bytes, exactly three non-empty base64url segments (RFC 7515
 *      §7.1), each strictly decoded (no padding, no stray characters, no non-zero spare bits);
 *   2. header: a JSON object without duplicate names, a supported "alg", no "crit";
 *   3. signature, with a key chosen by the algorithm's key type (never by anything else the
 *      token says);
 *   4. claims: exp (required), nbf, iat, iss, aud.
 * Claims are looked at only after the signature holds, so an unsigned token learns nothing.
 *
 * The JWKS keys live in a refcounted keyset. vg_jwt_verify() takes a reference under a leaf
 * mutex (held for a pointer copy and an increment, never across crypto or I/O), so a reload
 * can swap in a new set while verifications on other threads finish with the old one. The
 * EVP_PKEYs are read-only after import, which OpenSSL 3 allows to be shared between threads.
 */
#include "auth/jwt.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

/* Bounds on untrusted input. Real tokens are a few hundred bytes; an 8 KiB token already
 * exceeds what most servers accept in one header line. */
#define JWT_MAX_TOKEN 8192
#define JWT_MAX_HEADER 1024 /* decoded header JSON */
#define JWT_MIN_SECRET 32   /* RFC 7518 §3.2: a key at least as long as the hash output */
#define JWT_MAX_LEEWAY 86400
#define JWKS_MAX_FILE (1024 * 1024)
#define JWKS_MAX_KEYS 64 /* keys tried per token without a kid, so keep it small */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192 /* bigger keys make each verification a CPU sink */
#define RSA_MAX_E_BITS 64 /* OpenSSL's own cap for large moduli; huge exponents are a DoS */
#define P256_COORD 32

typedef enum { ALG_HS256, ALG_RS256, ALG_ES256 } jwt_alg_t;

typedef struct jwk {
    jwt_alg_t alg; /* the only algorithm this key verifies: RS256 for RSA, ES256 for P-256 */
    char *kid;     /* NULL when the JWK has none */
    EVP_PKEY *pkey;
} jwk_t;

typedef struct keyset {
    atomic_int refs;
    size_t n;
    jwk_t keys[JWKS_MAX_KEYS];
} keyset_t;

struct vg_jwt {
    uint8_t *secret; /* NULL: HS256 refused; wiped on free */
    size_t secret_len;
    char *jwks_path; /* NULL: RS256/ES256 refused */
    char *issuer;
    char *audience;
    int leeway_s;
    pthread_mutex_t lock; /* guards keys only; a leaf lock */
    keyset_t *keys;       /* NULL without a JWKS path */
};

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static void keyset_unref(keyset_t **kp)
{
    keyset_t *ks = *kp;
    *kp = NULL;
    if (ks == NULL || atomic_fetch_sub(&ks->refs, 1) != 1)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->keys[i].kid);
        EVP_PKEY_free(ks->keys[i].pkey);
    }
    free(ks);
}

/* Strict base64url without padding (RFC 7515 §2, RFC 4648 §5). libsodium refuses '=', a
 * length of 4k+1 and non-zero spare bits; it takes some bytes with the high bit set as if
 * they were letters (libsodium 1.0.18, found by fuzz_token), so the alphabet is checked
 * here first. Every byte string then has exactly one accepted encoding. Returns a malloc'd buffer (at least one byte so
 * an empty result is not NULL) or NULL when the input is invalid or decodes to over max. */
static uint8_t *b64url_decode(const char *s, size_t len, size_t max, size_t *out_len)
{
    size_t cap = len / 4 * 3 + 3;
    if (cap > max + 3)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return NULL;
    }
    uint8_t *buf = vg_xmalloc(cap);
    if (sodium_base642bin(buf, cap, s, len, NULL, out_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        *out_len > max) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Decodes the base64url string member name of a JWK. NULL when absent, not a string, invalid,
 * or longer than max bytes. */
static uint8_t *jwk_bytes(json_t *jwk, const char *name, size_t max, size_t *out_len)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    return s ? b64url_decode(s, strlen(s), max, out_len) : NULL;
}

static bool pkey_is_valid_public(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* RFC 7518 §6.3.1: n and e are unsigned big-endian integers in base64url. */
static EVP_PKEY *rsa_from_jwk(json_t *jwk, const char **why)
{
    EVP_PKEY *pkey = NULL;
    size_t n_len = 0, e_len = 0;
    uint8_t *n_bin = jwk_bytes(jwk, "n", RSA_MAX_BITS / 8 + 1, &n_len);
    uint8_t *e_bin = jwk_bytes(jwk, "e", 16, &e_len);
    BIGNUM *n = n_bin ? BN_bin2bn(n_bin, (int)n_len, NULL) : NULL;
    BIGNUM *e = e_bin ? BN_bin2bn(e_bin, (int)e_len, NULL) : NULL;
    OSSL_PARAM_BLD *bld = NULL;

    *why = "bad n or e";
    if (n == NULL || e == NULL)
        goto out;
    if (BN_num_bits(n) < RSA_MIN_BITS || BN_num_bits(n) > RSA_MAX_BITS) {
        *why = "RSA modulus must have 2048 to 8192 bits";
        goto out;
    }
    if (BN_num_bits(e) < 2 || BN_num_bits(e) > RSA_MAX_E_BITS || !BN_is_odd(e)) {
        *why = "bad RSA exponent";
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto out;
    pkey = pkey_from_params("RSA", bld);
    if (pkey == NULL)
        *why = "OpenSSL refused the RSA key";
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(e);
    BN_free(n);
    free(e_bin);
    free(n_bin);
    return pkey;
}

/* RFC 7518 §6.2.1: x and y are the full-length (32-byte for P-256) big-endian coordinates.
 * The point is checked to lie on the curve: a key off the curve is a misconfiguration. */
static EVP_PKEY *p256_from_jwk(json_t *jwk, const char **why)
{
    EVP_PKEY *pkey = NULL;
    size_t x_len = 0, y_len = 0;
    uint8_t *x = jwk_bytes(jwk, "x", P256_COORD, &x_len);
    uint8_t *y = jwk_bytes(jwk, "y", P256_COORD, &y_len);
    OSSL_PARAM_BLD *bld = NULL;
    uint8_t point[1 + 2 * P256_COORD];

    *why = "x and y must be 32 bytes each";
    if (x == NULL || y == NULL || x_len != P256_COORD || y_len != P256_COORD)
        goto out;
    point[0] = 0x04; /* SEC 1 §2.3.3: uncompressed */
    memcpy(point + 1, x, P256_COORD);
    memcpy(point + 1 + P256_COORD, y, P256_COORD);
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1,
                                         0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
        goto out;
    pkey = pkey_from_params("EC", bld);
    if (pkey != NULL && !pkey_is_valid_public(pkey)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    if (pkey == NULL)
        *why = "not a point on P-256";
out:
    OSSL_PARAM_BLD_free(bld);
    free(y);
    free(x);
    return pkey;
}

static bool json_array_has_string(json_t *arr, const char *s)
{
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el) {
        const char *v = json_string_value(el);
        if (v != NULL && strcmp(v, s) == 0)
            return true;
    }
    return false;
}

/* Adds one JWK to ks, skips it (returns 0) when it is not a signing key vigil can use, or
 * returns VG_EINVAL with a message when it claims to be one but is broken. Keys of other
 * types (oct, OKP, other curves) are skipped rather than refused because identity providers
 * publish them alongside the ones we use. "oct" in particular is never usable: HS256 takes
 * only the configured secret. */
static int jwks_add(keyset_t *ks, json_t *jwk, size_t idx, const char *path, char *err,
                    size_t err_len)
{
    if (!json_is_object(jwk)) {
        set_err(err, err_len, "JWKS %s: key %zu is not an object", path, idx);
        return VG_EINVAL;
    }
    json_t *kid_j = json_object_get(jwk, "kid");
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    json_t *use = json_object_get(jwk, "use");
    json_t *ops = json_object_get(jwk, "key_ops");
    json_t *alg_j = json_object_get(jwk, "alg");
    const char *alg = json_string_value(alg_j);
    if (kty == NULL || (kid_j != NULL && !json_is_string(kid_j)) ||
        (use != NULL && !json_is_string(use)) || (ops != NULL && !json_is_array(ops)) ||
        (alg_j != NULL && alg == NULL)) {
        set_err(err, err_len, "JWKS %s: key %zu: kty, kid, use, key_ops or alg malformed", path,
                idx);
        return VG_EINVAL;
    }
    /* RFC 7517 §4.2, §4.3: a key meant for encryption must not verify signatures. */
    if ((use != NULL && strcmp(json_string_value(use), "sig") != 0) ||
        (ops != NULL && !json_array_has_string(ops, "verify")))
        return 0;

    jwt_alg_t key_alg;
    const char *why = NULL;
    EVP_PKEY *pkey = NULL;
    if (strcmp(kty, "RSA") == 0) {
        if (alg != NULL && strcmp(alg, "RS256") != 0)
            return 0; /* RS384, PS256, RSA-OAEP...: bound to an algorithm we don't do */
        key_alg = ALG_RS256;
        pkey = rsa_from_jwk(jwk, &why);
    } else if (strcmp(kty, "EC") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        if (crv == NULL || strcmp(crv, "P-256") != 0 || (alg != NULL && strcmp(alg, "ES256") != 0))
            return 0;
        key_alg = ALG_ES256;
        pkey = p256_from_jwk(jwk, &why);
    } else {
        return 0;
    }
    ERR_clear_error(); /* what OpenSSL queued while refusing a key is not ours to leave */
    if (pkey == NULL) {
        set_err(err, err_len, "JWKS %s: key %zu (%s): %s", path, idx, kty, why);
        return VG_EINVAL;
    }
    if (ks->n == JWKS_MAX_KEYS) {
        EVP_PKEY_free(pkey);
        set_err(err, err_len, "JWKS %s: more than %d usable keys", path, JWKS_MAX_KEYS);
        return VG_EINVAL;
    }
    jwk_t *k = &ks->keys[ks->n++];
    k->alg = key_alg;
    k->kid = kid_j ? vg_xstrdup(json_string_value(kid_j)) : NULL;
    k->pkey = pkey;
    return 0;
}

/* Reads a bounded file whole; NUL-terminated. NULL with errno set on failure. */
static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = vg_xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n > max) {
        free(buf);
        errno = failed ? EIO : EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int jwks_load(const char *path, keyset_t **out, char *err, size_t err_len)
{
    int rc = VG_EINVAL;
    size_t len = 0;
    json_t *root = NULL;
    keyset_t *ks = NULL;
    char *text = read_file(path, JWKS_MAX_FILE, &len);
    if (text == NULL) {
        set_err(err, err_len, "JWKS %s: %s", path, strerror(errno));
        goto out;
    }
    json_error_t jerr;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        set_err(err, err_len, "JWKS %s: line %d: %s", path, jerr.line, jerr.text);
        goto out;
    }
    json_t *keys = json_object_get(root, "keys"); /* RFC 7517 §5 */
    if (!json_is_array(keys)) {
        set_err(err, err_len, "JWKS %s: no \"keys\" array", path);
        goto out;
    }
    ks = vg_xcalloc(1, sizeof(*ks));
    atomic_init(&ks->refs, 1);
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk) {
        if ((rc = jwks_add(ks, jwk, i, path, err, err_len)) < 0)
            goto out;
    }
    if (ks->n == 0) {
        rc = VG_EINVAL;
        set_err(err, err_len, "JWKS %s: no RSA or EC P-256 signing keys", path);
        goto out;
    }
    *out = ks;
    ks = NULL;
    rc = 0;
out:
    keyset_unref(&ks);
    json_decref(root);
    free(text);
    return rc;
}

int vg_jwt_new(vg_jwt_t **out, const vg_jwt_cfg_t *cfg, char *err, size_t err_len)
{
    *out = NULL;
    if (sodium_init() < 0) {
        set_err(err, err_len, "jwt: libsodium failed to initialise");
        return VG_EINVAL;
    }
    if (cfg == NULL || (cfg->hs256_secret == NULL && cfg->jwks_path == NULL)) {
        set_err(err, err_len, "jwt: neither an HS256 secret nor a JWKS file is configured");
        return VG_EINVAL;
    }
    if (cfg->hs256_secret != NULL && strlen(cfg->hs256_secret) < JWT_MIN_SECRET) {
        set_err(err, err_len, "jwt: the HS256 secret must be at least %d bytes", JWT_MIN_SECRET);
        return VG_EINVAL;
    }
    if (cfg->leeway_s < 0 || cfg->leeway_s > JWT_MAX_LEEWAY) {
        set_err(err, err_len, "jwt: leeway must be 0 to %d s", JWT_MAX_LEEWAY);
        return VG_EINVAL;
    }

    vg_jwt_t *v = vg_xcalloc(1, sizeof(*v));
    pthread_mutex_init(&v->lock, NULL);
    if (cfg->hs256_secret != NULL) {
        v->secret_len = strlen(cfg->hs256_secret);
        v->secret = vg_xmalloc(v->secret_len);
        memcpy(v->secret, cfg->hs256_secret, v->secret_len);
    }
    v->jwks_path = cfg->jwks_path ? vg_xstrdup(cfg->jwks_path) : NULL;
    v->issuer = cfg->issuer ? vg_xstrdup(cfg->issuer) : NULL;
    v->audience = cfg->audience ? vg_xstrdup(cfg->audience) : NULL;
    v->leeway_s = cfg->leeway_s;
    int rc = v->jwks_path ? jwks_load(v->jwks_path, &v->keys, err, err_len) : 0;
    if (rc < 0) {
        vg_jwt_free(&v);
        return rc;
    }
    *out = v;
    return 0;
}

int vg_jwt_reload(vg_jwt_t *v, char *err, size_t err_len)
{
    if (v->jwks_path == NULL)
        return 0;
    keyset_t *ks = NULL;
    int rc = jwks_load(v->jwks_path, &ks, err, err_len);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    keyset_t *old = v->keys;
    v->keys = ks;
    pthread_mutex_unlock(&v->lock);
    keyset_unref(&old); /* outside the lock: freeing keys is not a leaf's job */
    return 0;
}

void vg_jwt_free(vg_jwt_t **vp)
{
    vg_jwt_t *v = *vp;
    if (v == NULL)
        return;
    *vp = NULL;
    keyset_unref(&v->keys);
    pthread_mutex_destroy(&v->lock);
    if (v->secret != NULL)
        sodium_memzero(v->secret, v->secret_len);
    free(v->secret);
    free(v->jwks_path);
    free(v->issuer);
    free(v->audience);
    free(v);
}

static keyset_t *keys_ref(const vg_jwt_t *v)
{
    /* The lock is the one mutable part of a verifier, hence the cast. */
    pthread_mutex_t *lock = (pthread_mutex_t *)&v->lock;
    pthread_mutex_lock(lock);
    keyset_t *ks = v->keys;
    if (ks != NULL)
        atomic_fetch_add(&ks->refs, 1);
    pthread_mutex_unlock(lock);
    return ks;
}

static bool pkey_verify(EVP_PKEY *pkey, const char *msg, size_t msg_len, const uint8_t *sig,
                        size_t sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
              EVP_DigestVerify(md, sig, sig_len, (const uint8_t *)msg, msg_len) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error(); /* a failed verification leaves errors in this thread's queue */
    return ok;
}

/* RFC 7518 §3.4: a JWS ECDSA signature is R || S, each 32 bytes for P-256; OpenSSL wants the
 * DER SEQUENCE of two INTEGERs. Returns the DER length or 0 (the caller OPENSSL_free()s *der). */
static size_t es256_to_der(const uint8_t *sig, size_t sig_len, uint8_t **der)
{
    *der = NULL;
    if (sig_len != 2 * P256_COORD)
        return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, P256_COORD, NULL);
    BIGNUM *s = BN_bin2bn(sig + P256_COORD, P256_COORD, NULL);
    int len = 0;
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* es owns them now */
        len = i2d_ECDSA_SIG(es, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    if (len <= 0) {
        OPENSSL_free(*der);
        *der = NULL;
        return 0;
    }
    return (size_t)len;
}

/* Checks the signature with every JWK of the algorithm's key type (and kid, when the header
 * names one). Returns NULL on success or the reason. */
static const char *verify_jwks(const vg_jwt_t *v, jwt_alg_t alg, const char *kid, const char *msg,
                               size_t msg_len, const uint8_t *sig, size_t sig_len)
{
    keyset_t *ks = keys_ref(v);
    if (ks == NULL)
        return "unsupported alg";
    const char *why = "unknown key";
    uint8_t *der = NULL;
    if (alg == ALG_ES256) {
        size_t der_len = es256_to_der(sig, sig_len, &der);
        if (der_len == 0) {
            why = "bad signature";
            goto out;
        }
        sig = der;
        sig_len = der_len;
    }
    for (size_t i = 0; i < ks->n; i++) {
        const jwk_t *k = &ks->keys[i];
        if (k->alg != alg || (kid != NULL && (k->kid == NULL || strcmp(k->kid, kid) != 0)))
            continue;
        why = "bad signature";
        /* RFC 8017 §8.2.2: an RSA signature is exactly as long as the modulus. */
        if (alg == ALG_RS256 && sig_len != (size_t)EVP_PKEY_get_size(k->pkey))
            continue;
        if (pkey_verify(k->pkey, msg, msg_len, sig, sig_len)) {
            why = NULL;
            break;
        }
    }
out:
    OPENSSL_free(der);
    keyset_unref(&ks);
    return why;
}

static const char *verify_hs256(const vg_jwt_t *v, const char *msg, size_t msg_len,
                                const uint8_t *sig, size_t sig_len)
{
    if (v->secret == NULL)
        return "unsupported alg";
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (HMAC(EVP_sha256(), v->secret, (int)v->secret_len, (const uint8_t *)msg, msg_len, mac,
             &mac_len) == NULL) {
        ERR_clear_error();
        return "bad signature";
    }
    /* Constant time, so the comparison does not reveal how many leading bytes were right. */
    bool ok = sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
    sodium_memzero(mac, sizeof(mac));
    return ok ? NULL : "bad signature";
}

/* Header: RFC 7515 §4.1. Sets *alg and *kid (borrowed from hdr). */
static const char *check_header(json_t *hdr, jwt_alg_t *alg, const char **kid)
{
    json_t *kid_j = json_object_get(hdr, "kid");
    if (kid_j != NULL && !json_is_string(kid_j))
        return "malformed";
    *kid = json_string_value(kid_j);
    /* §4.1.11: "crit" lists extensions the recipient must understand; we understand none,
     * and RFC 7797's "b64": false (an unencoded payload) would need it. */
    if (json_object_get(hdr, "crit") != NULL || json_object_get(hdr, "b64") != NULL)
        return "unsupported header";
    /* A token that points at its own key (RFC 7515 §4.1.2–4.1.6) is refused outright, as
     * docs/security.md says: ignoring the header would still accept a token whose issuer
     * meant a key we do not have, and refusing it leaves nothing to misread. */
    static const char *const key_headers[] = {"jku", "jwk", "x5u", "x5c"};
    for (size_t i = 0; i < sizeof(key_headers) / sizeof(key_headers[0]); i++) {
        if (json_object_get(hdr, key_headers[i]) != NULL)
            return "key in the token refused";
    }
    /* Names are case-sensitive (RFC 7515 §4.1.1), so "none", "None", "hs256" and anything not
     * listed here all fall through to the refusal. */
    const char *name = json_string_value(json_object_get(hdr, "alg"));
    if (name != NULL && strcmp(name, "HS256") == 0)
        *alg = ALG_HS256;
    else if (name != NULL && strcmp(name, "RS256") == 0)
        *alg = ALG_RS256;
    else if (name != NULL && strcmp(name, "ES256") == 0)
        *alg = ALG_ES256;
    else
        return "unsupported alg";
    return NULL;
}

/* A NumericDate (RFC 7519 §2) may have a fraction; absent is fine, another type is not. */
static bool get_date(json_t *claims, const char *name, bool *present, double *out)
{
    json_t *j = json_object_get(claims, name);
    *present = j != NULL;
    if (j == NULL)
        return true;
    if (!json_is_number(j))
        return false;
    *out = json_number_value(j);
    return true;
}

/* Claims: RFC 7519 §4.1. Times compare as doubles: int64 seconds up to 2^53 are exact, and
 * the leeway never makes an integer overflow. */
static const char *check_claims(const vg_jwt_t *v, json_t *claims, int64_t now_s)
{
    double now = (double)now_s, leeway = v->leeway_s, t = 0;
    bool present;

    if (!get_date(claims, "exp", &present, &t))
        return "bad exp";
    if (!present)
        return "no expiry";
    if (now - leeway >= t) /* §4.1.4: "on or after" the expiry is too late */
        return "expired";
    if (!get_date(claims, "nbf", &present, &t))
        return "bad nbf";
    if (present && now + leeway < t) /* §4.1.5 */
        return "not yet valid";
    if (!get_date(claims, "iat", &present, &t))
        return "bad iat";
    if (present && t > now + leeway)
        return "issued in the future";
    if (v->issuer != NULL) {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        if (iss == NULL || strcmp(iss, v->issuer) != 0)
            return "wrong issuer";
    }
    if (v->audience != NULL) {
        /* §4.1.3: a single string or an array of strings. */
        json_t *aud = json_object_get(claims, "aud");
        const char *one = json_string_value(aud);
        bool ok = one != NULL ? strcmp(one, v->audience) == 0
                              : json_is_array(aud) && json_array_has_string(aud, v->audience);
        if (!ok)
            return "wrong audience";
    }
    return NULL;
}

/* Decodes a base64url JSON object segment. NULL if anything is wrong. Duplicate names are
 * refused: two "alg"s or two "exp"s would be read differently by different libraries. */
static json_t *decode_object(const char *s, size_t len, size_t max)
{
    size_t bin_len = 0;
    uint8_t *bin = b64url_decode(s, len, max, &bin_len);
    if (bin == NULL)
        return NULL;
    json_t *obj = json_loadb((const char *)bin, bin_len, JSON_REJECT_DUPLICATES, NULL);
    free(bin);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

int vg_jwt_verify(const vg_jwt_t *v, const char *token, int64_t now_s, json_t **claims, char *err,
                  size_t err_len)
{
    const char *why = "malformed";
    json_t *hdr = NULL, *payload = NULL;
    uint8_t *sig = NULL;

    if (claims != NULL)
        *claims = NULL;
    if (token == NULL)
        goto out;
    size_t len = strnlen(token, JWT_MAX_TOKEN + 1);
    if (len > JWT_MAX_TOKEN) {
        why = "token too long";
        goto out;
    }
    /* Exactly header.payload.signature, none empty (RFC 7515 §7.1; "none" tokens end in an
     * empty signature and stop here). */
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL ||
        dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
        goto out;
    const char *sig_b64 = dot2 + 1;
    size_t sig_len = 0;
    if ((hdr = decode_object(token, (size_t)(dot1 - token), JWT_MAX_HEADER)) == NULL ||
        (payload = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), JWT_MAX_TOKEN)) == NULL ||
        (sig = b64url_decode(sig_b64, len - (size_t)(sig_b64 - token), JWT_MAX_TOKEN,
                             &sig_len)) == NULL)
        goto out;

    jwt_alg_t alg;
    const char *kid = NULL;
    if ((why = check_header(hdr, &alg, &kid)) != NULL)
        goto out;
    /* The signing input is the two segments exactly as received (RFC 7515 §5.2 step 8). */
    size_t msg_len = (size_t)(dot2 - token);
    why = alg == ALG_HS256 ? verify_hs256(v, token, msg_len, sig, sig_len)
                           : verify_jwks(v, alg, kid, token, msg_len, sig, sig_len);
    if (why != NULL || (why = check_claims(v, payload, now_s)) != NULL)
        goto out;
    if (claims != NULL) {
        *claims = payload;
        payload = NULL;
    }
out:
    json_decref(payload);
    json_decref(hdr);
    free(sig);
    if (why != NULL) {
        set_err(err, err_len, "%s", why);
        return VG_EINVAL;
    }
    return 0;
}
