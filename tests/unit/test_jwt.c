/* jwt: token verification. The keys are made here with OpenSSL (RSA 2048, EC P-256), the
 * JWKS is written to a temporary file, and tokens are signed by the helpers below, so every
 * case is built from scratch and each security rule has a test that a lax verifier fails. */
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "core/err.h"
#include "vg_test.h"

#define NOW 1700000000LL
#define SECRET "0123456789abcdef0123456789abcdef-test-secret"
#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define RS "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}"
#define ES "{\"alg\":\"ES256\",\"kid\":\"ec1\"}"

static EVP_PKEY *g_rsa, *g_rsa2, *g_ec, *g_ec_other;
static char g_jwks[64]; /* rsa1 and ec1 */

/* ---- helpers ---- */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

static char *b64url(const void *bin, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = malloc(cap);
    sodium_bin2base64(s, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return s;
}

static char *b64url_str(const char *s) { return b64url(s, strlen(s)); }

static char *bn_param_b64(EVP_PKEY *pk, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1)
        abort();
    int len = pad ? pad : BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)len);
    BN_bn2binpad(bn, buf, len);
    char *s = b64url(buf, (size_t)len);
    free(buf);
    BN_free(bn);
    return s;
}

/* A public JWK (RFC 7518 §6) for pk; extra is spliced into the object (",\"use\":\"enc\""). */
static char *jwk(EVP_PKEY *pk, const char *kid, const char *extra)
{
    char *a, *b, *s;
    char kidm[64] = "";
    if (kid != NULL)
        snprintf(kidm, sizeof(kidm), ",\"kid\":\"%s\"", kid);
    if (EVP_PKEY_is_a(pk, "RSA")) {
        a = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_N, 0);
        b = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_E, 0);
        s = fmt("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s%s}", a, b, kidm, extra);
    } else {
        a = bn_param_b64(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        b = bn_param_b64(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        s = fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"%s%s}", a, b, kidm,
                extra);
    }
    free(a);
    free(b);
    return s;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* Writes {"keys":[keys]} to a new temporary file; path receives its name. Takes keys. */
static void jwks_file(char path[64], char *keys)
{
    snprintf(path, 64, "/tmp/vigil-jwks-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    char *doc = fmt("{\"keys\":[%s]}", keys);
    write_text(path, doc);
    free(doc);
    free(keys);
}

static void cleanup(void)
{
    if (g_jwks[0] != '\0')
        unlink(g_jwks);
    EVP_PKEY_free(g_rsa);
    EVP_PKEY_free(g_rsa2);
    EVP_PKEY_free(g_ec);
    EVP_PKEY_free(g_ec_other);
}

static void fixture(void)
{
    if (g_rsa != NULL)
        return;
    g_rsa = EVP_RSA_gen(2048);
    g_rsa2 = EVP_RSA_gen(2048);
    g_ec = EVP_EC_gen("P-256");
    g_ec_other = EVP_EC_gen("P-256");
    if (g_rsa == NULL || g_rsa2 == NULL || g_ec == NULL || g_ec_other == NULL)
        abort();
    char *r = jwk(g_rsa, "rsa1", ",\"use\":\"sig\",\"alg\":\"RS256\"");
    char *e = jwk(g_ec, "ec1", "");
    jwks_file(g_jwks, fmt("%s,%s", r, e));
    free(r);
    free(e);
    atexit(cleanup);
}

/* JWS signature bytes for msg: HMAC-SHA256 with key when pk is NULL, else RS256 or ES256
 * (ES256 converted from DER to R || S, RFC 7518 §3.4). */
static size_t sign(const char *msg, const void *key, size_t key_len, EVP_PKEY *pk,
                   unsigned char out[512])
{
    if (pk == NULL) {
        unsigned len = 0;
        HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len);
        return len;
    }
    unsigned char der[512];
    size_t len = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
        EVP_DigestSign(md, der, &len, (const unsigned char *)msg, strlen(msg)) != 1)
        abort();
    EVP_MD_CTX_free(md);
    if (EVP_PKEY_is_a(pk, "RSA")) {
        memcpy(out, der, len);
        return len;
    }
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    BN_bn2binpad(ECDSA_SIG_get0_r(es), out, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), out + 32, 32);
    ECDSA_SIG_free(es);
    return 64;
}

/* header.payload.signature with the signature as given. */
static char *assemble(const char *hdr, const char *payload, const unsigned char *sig,
                      size_t sig_len)
{
    char *h = b64url_str(hdr), *p = b64url_str(payload), *s = b64url(sig, sig_len);
    char *t = fmt("%s.%s.%s", h, p, s);
    free(h);
    free(p);
    free(s);
    return t;
}

/* A token signed as sign() does; flip != 0 xors it into the signature's first byte. */
static char *tok_ex(const char *hdr, const char *payload, const void *key, size_t key_len,
                    EVP_PKEY *pk, int flip)
{
    char *h = b64url_str(hdr), *p = b64url_str(payload);
    char *msg = fmt("%s.%s", h, p);
    unsigned char sig[512];
    size_t sig_len = sign(msg, key, key_len, pk, sig);
    sig[0] ^= (unsigned char)flip;
    char *s = b64url(sig, sig_len);
    char *t = fmt("%s.%s", msg, s);
    free(h);
    free(p);
    free(msg);
    free(s);
    return t;
}

static char *tok_hs(const char *hdr, const char *payload)
{
    return tok_ex(hdr, payload, SECRET, strlen(SECRET), NULL, 0);
}

static char *tok_pk(const char *hdr, const char *payload, EVP_PKEY *pk)
{
    return tok_ex(hdr, payload, NULL, 0, pk, 0);
}

/* Claims valid at NOW, with extra members spliced in. */
static char *claims(const char *extra)
{
    return fmt("{\"sub\":\"alice\",\"exp\":%lld%s}", NOW + 600, extra);
}

typedef struct {
    const char *secret, *jwks, *issuer, *audience;
    int leeway_s;
} opts_t;

static vg_jwt_t *verifier(opts_t o)
{
    vg_jwt_t *v = NULL;
    char err[256] = "";
    vg_jwt_cfg_t cfg = {.hs256_secret = o.secret,
                        .jwks_path = o.jwks,
                        .issuer = o.issuer,
                        .audience = o.audience,
                        .leeway_s = o.leeway_s};
    if (vg_jwt_new(&v, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "vg_jwt_new: %s\n", err);
        abort();
    }
    return v;
}

static vg_jwt_t *std_verifier(void)
{
    fixture();
    return verifier((opts_t){.secret = SECRET, .jwks = g_jwks});
}

/* Verifies tok (taken) at now; "ok" or the error text. */
static const char *check_at(const vg_jwt_t *v, char *tok, long long now)
{
    static char err[128];
    json_t *c = (json_t *)1;
    snprintf(err, sizeof(err), "(unset)");
    int rc = vg_jwt_verify(v, tok, now, &c, err, sizeof(err));
    free(tok);
    if (rc == 0) {
        if (!json_is_object(c))
            return "no claims";
        json_decref(c);
        return "ok";
    }
    if (c != NULL)
        return "claims set on failure";
    return rc == VG_EINVAL ? err : "unexpected code";
}

static const char *check(const vg_jwt_t *v, char *tok) { return check_at(v, tok, NOW); }

/* ---- accepted tokens ---- */

VG_TEST(valid_tokens_are_accepted_with_claims)
{
    vg_jwt_t *v = std_verifier();
    char *c = claims(",\"scope\":\"streams:read\"");
    char *toks[] = {tok_hs(HS, c), tok_pk(RS, c, g_rsa), tok_pk(ES, c, g_ec)};
    for (size_t i = 0; i < 3; i++) {
        json_t *cl = NULL;
        char err[64] = "";
        EXPECT_EQ(vg_jwt_verify(v, toks[i], NOW, &cl, err, sizeof(err)), 0);
        EXPECT_STREQ(json_string_value(json_object_get(cl, "sub")), "alice");
        EXPECT_STREQ(json_string_value(json_object_get(cl, "scope")), "streams:read");
        json_decref(cl);
        free(toks[i]);
    }
    /* Without a kid every key of the right type is tried. */
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"RS256\"}", c, g_rsa)), "ok");
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"ES256\"}", c, g_ec)), "ok");
    /* NumericDate may be a real (RFC 7519 §2). */
    free(c);
    c = fmt("{\"exp\":%lld.5,\"nbf\":%lld.25,\"iat\":%lld.0}", NOW, NOW - 1, NOW);
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "ok");
    free(c);
    vg_jwt_free(&v);
    EXPECT_TRUE(v == NULL);
    vg_jwt_free(&v);
}

/* ---- time claims ---- */

VG_TEST(expired_and_missing_exp_are_refused)
{
    vg_jwt_t *v = std_verifier();
    char *c = fmt("{\"exp\":%lld}", NOW - 1);
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "expired");
    free(c);
    c = fmt("{\"exp\":%lld}", NOW); /* "on or after" exp is too late */
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "expired");
    EXPECT_STREQ(check_at(v, tok_hs(HS, c), NOW - 1), "ok");
    free(c);
    EXPECT_STREQ(check(v, tok_hs(HS, "{\"sub\":\"alice\"}")), "no expiry");
    EXPECT_STREQ(check(v, tok_pk(RS, "{\"sub\":\"alice\"}", g_rsa)), "no expiry");
    EXPECT_STREQ(check(v, tok_hs(HS, "{\"exp\":\"1800000000\"}")), "bad exp");
    EXPECT_STREQ(check(v, tok_hs(HS, "{\"exp\":null}")), "bad exp");
    vg_jwt_free(&v);
}

VG_TEST(nbf_and_iat_in_the_future_are_refused)
{
    vg_jwt_t *v = std_verifier();
    char *c = claims(",\"nbf\":1700000010");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "not yet valid");
    EXPECT_STREQ(check_at(v, tok_hs(HS, c), NOW + 10), "ok");
    free(c);
    c = claims(",\"iat\":1700000100");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "issued in the future");
    free(c);
    c = claims(",\"nbf\":true");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "bad nbf");
    free(c);
    c = claims(",\"iat\":1700000000,\"nbf\":1699999000");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "ok");
    free(c);
    vg_jwt_free(&v);
}

VG_TEST(leeway_is_honoured_and_bounded)
{
    fixture();
    vg_jwt_t *v = verifier((opts_t){.secret = SECRET, .jwks = g_jwks, .leeway_s = 60});
    char *c = fmt("{\"exp\":%lld}", NOW - 30);
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "ok");
    free(c);
    c = fmt("{\"exp\":%lld}", NOW - 60);
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "expired");
    free(c);
    c = claims(",\"nbf\":1700000060,\"iat\":1700000060");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "ok");
    free(c);
    c = claims(",\"nbf\":1700000061");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "not yet valid");
    free(c);
    c = claims(",\"iat\":1700000061");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "issued in the future");
    free(c);
    vg_jwt_free(&v);

    vg_jwt_cfg_t cfg = {.hs256_secret = SECRET, .leeway_s = -1};
    char err[128];
    EXPECT_EQ(vg_jwt_new(&v, &cfg, err, sizeof(err)), VG_EINVAL);
    cfg.leeway_s = 86401;
    EXPECT_EQ(vg_jwt_new(&v, &cfg, err, sizeof(err)), VG_EINVAL);
    EXPECT_TRUE(v == NULL);
}

/* ---- iss and aud ---- */

VG_TEST(issuer_must_match)
{
    fixture();
    vg_jwt_t *v = verifier((opts_t){.secret = SECRET, .jwks = g_jwks, .issuer = "https://idp"});
    char *c = claims(",\"iss\":\"https://idp\"");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "ok");
    free(c);
    c = claims(",\"iss\":\"https://evil\"");
    EXPECT_STREQ(check(v, tok_pk(ES, c, g_ec)), "wrong issuer");
    free(c);
    c = claims(",\"iss\":\"https://idp/\"");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "wrong issuer");
    free(c);
    c = claims(",\"iss\":[\"https://idp\"]");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "wrong issuer");
    free(c);
    c = claims("");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "wrong issuer");
    free(c);
    vg_jwt_free(&v);
}

VG_TEST(audience_string_or_array_must_contain)
{
    fixture();
    vg_jwt_t *v = verifier((opts_t){.secret = SECRET, .audience = "vigil"});
    const char *good[] = {",\"aud\":\"vigil\"", ",\"aud\":[\"other\",\"vigil\"]",
                          ",\"aud\":[1,\"vigil\"]"};
    const char *bad[] = {",\"aud\":\"other\"", ",\"aud\":[\"other\",\"vigil2\"]", ",\"aud\":[]",
                         ",\"aud\":{\"vigil\":1}", ",\"aud\":\"VIGIL\"", ""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *c = claims(good[i]);
        EXPECT_STREQ(check(v, tok_hs(HS, c)), "ok");
        free(c);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *c = claims(bad[i]);
        EXPECT_STREQ(check(v, tok_hs(HS, c)), "wrong audience");
        free(c);
    }
    vg_jwt_free(&v);
}

/* ---- signatures and algorithms ---- */

VG_TEST(flipped_signature_or_changed_payload_is_refused)
{
    vg_jwt_t *v = std_verifier();
    char *c = claims("");
    EXPECT_STREQ(check(v, tok_ex(HS, c, SECRET, strlen(SECRET), NULL, 1)), "bad signature");
    EXPECT_STREQ(check(v, tok_ex(RS, c, NULL, 0, g_rsa, 0x80)), "bad signature");
    EXPECT_STREQ(check(v, tok_ex(ES, c, NULL, 0, g_ec, 4)), "bad signature");
    /* The right key's signature over other claims, spliced onto a changed payload. */
    char *admin = claims(",\"admin\":true");
    char *p = b64url_str(admin);
    EVP_PKEY *pks[] = {NULL, g_rsa, g_ec};
    const char *hdrs[] = {HS, RS, ES};
    for (size_t i = 0; i < 3; i++) {
        char *t = pks[i] ? tok_pk(hdrs[i], c, pks[i]) : tok_hs(hdrs[i], c);
        char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
        *d1 = '\0';
        char *spliced = fmt("%s.%s%s", t, p, d2);
        EXPECT_STREQ(check(v, spliced), "bad signature");
        free(t);
    }
    free(p);
    free(admin);
    /* Signed with another secret, or another key of the right type. */
    EXPECT_STREQ(check(v, tok_ex(HS, c, SECRET "x", strlen(SECRET) + 1, NULL, 0)),
                 "bad signature");
    EXPECT_STREQ(check(v, tok_pk(RS, c, g_rsa2)), "bad signature");
    EXPECT_STREQ(check(v, tok_pk(ES, c, g_ec_other)), "bad signature");
    /* A truncated or extended HMAC: only the full 32 bytes count. */
    char *hb0 = b64url_str(HS), *pb0 = b64url_str(c), *msg0 = fmt("%s.%s", hb0, pb0);
    unsigned char mac[512];
    EXPECT_EQ(sign(msg0, SECRET, strlen(SECRET), NULL, mac), 32);
    EXPECT_STREQ(check(v, assemble(HS, c, mac, 32)), "ok");
    EXPECT_STREQ(check(v, assemble(HS, c, mac, 31)), "bad signature");
    EXPECT_STREQ(check(v, assemble(HS, c, mac, 16)), "bad signature");
    EXPECT_STREQ(check(v, assemble(HS, c, mac, 1)), "bad signature");
    mac[32] = 0;
    EXPECT_STREQ(check(v, assemble(HS, c, mac, 33)), "bad signature");
    free(msg0);
    free(hb0);
    free(pb0);
    /* One signature, one spelling: a letter of it replaced by a byte with the high bit set,
     * which libsodium 1.0.18's decoder reads as a letter, must not verify. */
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "ok");
    char *respelled = tok_hs(HS, c);
    strrchr(respelled, '.')[5] = (char)0xae;
    EXPECT_STREQ(check(v, respelled), "malformed");
    /* An RS256 signature one byte short of the modulus, or one byte long. */
    char *hb = b64url_str(RS), *pb = b64url_str(c), *msg = fmt("%s.%s", hb, pb);
    unsigned char sig[512];
    EXPECT_EQ(sign(msg, NULL, 0, g_rsa, sig), 256);
    EXPECT_STREQ(check(v, assemble(RS, c, sig, 256)), "ok");
    EXPECT_STREQ(check(v, assemble(RS, c, sig, 255)), "bad signature");
    EXPECT_STREQ(check(v, assemble(RS, c, sig, 257)), "bad signature");
    free(msg);
    free(hb);
    free(pb);
    free(c);
    vg_jwt_free(&v);
}

VG_TEST(alg_none_missing_and_unsupported_are_refused)
{
    vg_jwt_t *v = std_verifier();
    char *c = claims("");
    const char *algs[] = {"none", "None", "NONE", "nOnE", "HS384", "HS512", "RS384", "RS512",
                          "PS256", "ES384", "ES512", "EdDSA", "hs256", "rs256", "HS256 ", ""};
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        char *h = fmt("{\"alg\":\"%s\"}", algs[i]);
        EXPECT_STREQ(check(v, tok_hs(h, c)), "unsupported alg");
        /* "none" with the empty signature RFC 7519 §6.1 prescribes. */
        char *hb = b64url_str(h), *pb = b64url_str(c);
        char *t = fmt("%s.%s.", hb, pb);
        const char *r = check(v, t);
        EXPECT_TRUE(strcmp(r, "ok") != 0);
        free(hb);
        free(pb);
        free(h);
    }
    EXPECT_STREQ(check(v, tok_hs("{\"typ\":\"JWT\"}", c)), "unsupported alg");
    EXPECT_STREQ(check(v, tok_hs("{\"alg\":null}", c)), "unsupported alg");
    EXPECT_STREQ(check(v, tok_hs("{\"alg\":[\"HS256\"]}", c)), "unsupported alg");
    EXPECT_STREQ(check(v, tok_hs("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", c)),
                 "unsupported header");
    EXPECT_STREQ(check(v, tok_hs("{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}", c)),
                 "unsupported header");
    free(c);
    vg_jwt_free(&v);
}

/* The classic confusion: a verifier that hands the RSA public key to HMAC when the header says
 * HS256 accepts a token anyone can make from the (public) JWKS. */
VG_TEST(hs256_signed_with_the_rsa_public_key_is_refused)
{
    fixture();
    vg_jwt_t *with_secret = verifier((opts_t){.secret = SECRET, .jwks = g_jwks});
    vg_jwt_t *jwks_only = verifier((opts_t){.jwks = g_jwks});

    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, g_rsa);
    char *pem = NULL;
    long pem_len = BIO_get_mem_data(bio, &pem);
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(g_rsa, &der);
    char *jwk_text = jwk(g_rsa, "rsa1", "");
    FILE *f = fopen(g_jwks, "r");
    char jwks_text[4096];
    size_t jwks_len = fread(jwks_text, 1, sizeof(jwks_text), f);
    fclose(f);
    struct {
        const void *key;
        size_t len;
    } keys[] = {{pem, (size_t)pem_len}, {der, (size_t)der_len}, {jwk_text, strlen(jwk_text)},
                {jwks_text, jwks_len}};
    const char *hdrs[] = {"{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", "{\"alg\":\"HS256\"}"};

    char *c = claims("");
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t h = 0; h < 2; h++) {
            char *t = tok_ex(hdrs[h], c, keys[k].key, keys[k].len, NULL, 0);
            EXPECT_STREQ(check(with_secret, fmt("%s", t)), "bad signature");
            EXPECT_STREQ(check(jwks_only, t), "unsupported alg");
        }
    }
    /* The same key used the right way is fine, so the refusals above are about the alg. */
    EXPECT_STREQ(check(jwks_only, tok_pk(RS, c, g_rsa)), "ok");
    EXPECT_STREQ(check(jwks_only, tok_hs(HS, c)), "unsupported alg");
    free(c);
    free(jwk_text);
    OPENSSL_free(der);
    BIO_free(bio);
    vg_jwt_free(&with_secret);
    vg_jwt_free(&jwks_only);
}

VG_TEST(kid_selects_a_key_of_the_right_type)
{
    vg_jwt_t *v = std_verifier();
    char *c = claims("");
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"RS256\",\"kid\":\"nope\"}", c, g_rsa)),
                 "unknown key");
    /* ec1 exists but is an EC key: the key type decides, not the kid. */
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"RS256\",\"kid\":\"ec1\"}", c, g_rsa)),
                 "unknown key");
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", c, g_ec)),
                 "unknown key");
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"ES256\",\"kid\":\"EC1\"}", c, g_ec)),
                 "unknown key");
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"RS256\",\"kid\":7}", c, g_rsa)), "malformed");
    /* A token that carries or points at a key of its own (RFC 7515 §4.1.2-4.1.6: "jku",
     * "jwk", "x5u", "x5c") is refused outright, whether or not a configured key verifies
     * it. */
    char *attacker = jwk(g_ec_other, "evil", "");
    char *h = fmt("{\"alg\":\"ES256\",\"kid\":\"evil\",\"jwk\":%s}", attacker);
    EXPECT_STREQ(check(v, tok_pk(h, c, g_ec_other)), "key in the token refused");
    free(h);
    h = fmt("{\"alg\":\"ES256\",\"jwk\":%s}", attacker);
    EXPECT_STREQ(check(v, tok_pk(h, c, g_ec_other)), "key in the token refused");
    free(h);
    static const char *const pointing[] = {
        "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"jku\":\"https://evil.example/jwks\"}",
        "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"x5u\":\"https://evil.example/cert\"}",
        "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"x5c\":[\"MIIB\"]}",
    };
    for (size_t i = 0; i < sizeof(pointing) / sizeof(pointing[0]); i++) /* signed by ec1 */
        EXPECT_STREQ(check(v, tok_pk(pointing[i], c, g_ec)), "key in the token refused");
    free(attacker);
    free(c);
    vg_jwt_free(&v);
}

VG_TEST(es256_signature_must_be_64_raw_bytes)
{
    vg_jwt_t *v = std_verifier();
    char *c = claims("");
    char *hb = b64url_str(ES), *pb = b64url_str(c);
    char *msg = fmt("%s.%s", hb, pb);
    unsigned char sig[512];
    size_t len = sign(msg, NULL, 0, g_ec, sig);
    EXPECT_EQ(len, 64);
    EXPECT_STREQ(check(v, assemble(ES, c, sig, 64)), "ok");
    EXPECT_STREQ(check(v, assemble(ES, c, sig, 63)), "bad signature");
    sig[64] = 0;
    EXPECT_STREQ(check(v, assemble(ES, c, sig, 65)), "bad signature");
    EXPECT_STREQ(check(v, assemble(ES, c, sig, 32)), "bad signature");
    /* The DER form OpenSSL produces is not the JWS form. */
    unsigned char der[128];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, g_ec);
    EVP_DigestSign(md, der, &der_len, (const unsigned char *)msg, strlen(msg));
    EVP_MD_CTX_free(md);
    EXPECT_STREQ(check(v, assemble(ES, c, der, der_len)), "bad signature");
    /* r = s = 0 */
    memset(sig, 0, 64);
    EXPECT_STREQ(check(v, assemble(ES, c, sig, 64)), "bad signature");
    free(msg);
    free(hb);
    free(pb);
    free(c);
    vg_jwt_free(&v);
}

/* ---- malformed tokens ---- */

VG_TEST(malformed_tokens_are_refused)
{
    vg_jwt_t *v = std_verifier();
    char *c = claims("");
    char *good = tok_hs(HS, c);
    EXPECT_STREQ(check(v, fmt("%s", good)), "ok");
    char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
    int hl = (int)(d1 - good), pl = (int)(d2 - d1 - 1);
    const char *sig = d2 + 1;

    const char *simple[] = {"", ".", "..", "...", "abc", "eyJhbGciOiJIUzI1NiJ9", "a.b", "a.b.c"};
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        EXPECT_STREQ(check(v, fmt("%s", simple[i])), "malformed");
    EXPECT_STREQ(check(v, fmt("%.*s.%.*s", hl, good, pl, d1 + 1)), "malformed");  /* 2 parts */
    EXPECT_STREQ(check(v, fmt("%s.%s", good, sig)), "malformed");                  /* 4 parts */
    EXPECT_STREQ(check(v, fmt("%.*s.%s", hl, good, good)), "malformed"); /* header twice */
    EXPECT_STREQ(check(v, fmt(".%s", d1 + 1)), "malformed");                       /* no header */
    EXPECT_STREQ(check(v, fmt("%.*s..%s", hl, good, sig)), "malformed");          /* no payload */
    EXPECT_STREQ(check(v, fmt("%.*s.", (int)(d2 - good), good)), "malformed");    /* no sig */
    EXPECT_STREQ(check(v, fmt("%s=", good)), "malformed");                         /* padding */
    EXPECT_STREQ(check(v, fmt("%s\n", good)), "malformed");
    EXPECT_STREQ(check(v, fmt(" %s", good)), "malformed");
    EXPECT_STREQ(check(v, fmt("Bearer %s", good)), "malformed");
    EXPECT_STREQ(check(v, fmt("%.*s+%s", hl - 1, good, good + hl)), "malformed"); /* not url */
    EXPECT_STREQ(check(v, fmt("%.*s/%s", hl - 1, good, good + hl)), "malformed");

    /* The signature's last character carries 4 bits and 2 spare ones that must be zero;
     * setting one decodes to the same bytes, so only a strict decoder refuses it. */
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *t = fmt("%s", good);
    char *last = t + strlen(t) - 1;
    int idx = (int)(strchr(alpha, *last) - alpha);
    EXPECT_EQ(idx & 3, 0);
    *last = alpha[idx | 1];
    EXPECT_STREQ(check(v, t), "malformed");

    /* Well-formed base64 around JSON that is not an object, or not JSON. */
    const char *hdrs[] = {"[\"HS256\"]", "\"HS256\"", "1", "null", "{", "{\"alg\":\"HS256\"}x",
                          "{\"alg\":\"HS256\",\"alg\":\"none\"}",
                          "{\"alg\":\"none\",\"alg\":\"HS256\"}"};
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
        EXPECT_STREQ(check(v, tok_hs(hdrs[i], c)), "malformed");
    char *dup = fmt("{\"exp\":%lld,\"exp\":%lld}", NOW - 10, NOW + 600);
    const char *payloads[] = {"[]", "\"x\"", "42", "", "{\"exp\":1e999}", dup};
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
        EXPECT_STREQ(check(v, tok_hs(HS, payloads[i])), "malformed");
    free(dup);

    /* Size limits. */
    char *big = malloc(9001);
    memset(big, 'A', 9000);
    big[9000] = '\0';
    EXPECT_STREQ(check(v, big), "token too long");
    char *pad = malloc(7000);
    memset(pad, 'x', 6999);
    pad[6999] = '\0';
    char *cbig = fmt("{\"exp\":%lld,\"pad\":\"%s\"}", NOW + 60, pad);
    EXPECT_STREQ(check(v, tok_hs(HS, cbig)), "token too long");
    free(cbig);
    cbig = fmt("{\"alg\":\"HS256\",\"pad\":\"%.*s\"}", 1100, pad);
    EXPECT_STREQ(check(v, tok_hs(cbig, c)), "malformed");
    free(cbig);
    free(pad);

    char err[64];
    json_t *cl = (json_t *)1;
    EXPECT_EQ(vg_jwt_verify(v, NULL, NOW, &cl, err, sizeof(err)), VG_EINVAL);
    EXPECT_STREQ(err, "malformed");
    EXPECT_TRUE(cl == NULL);
    /* err may be absent or tiny, claims may be unwanted. */
    EXPECT_EQ(vg_jwt_verify(v, "x", NOW, NULL, NULL, 0), VG_EINVAL);
    EXPECT_EQ(vg_jwt_verify(v, "x", NOW, NULL, err, 4), VG_EINVAL);
    EXPECT_STREQ(err, "mal");
    EXPECT_EQ(vg_jwt_verify(v, good, NOW, NULL, NULL, 0), 0);
    free(good);
    free(c);
    vg_jwt_free(&v);
}

/* ---- configuration and the JWKS ---- */

VG_TEST(new_refuses_bad_configuration)
{
    fixture();
    vg_jwt_t *v = (vg_jwt_t *)1;
    char err[256];
    vg_jwt_cfg_t cfg = {0};
    EXPECT_EQ(vg_jwt_new(&v, &cfg, err, sizeof(err)), VG_EINVAL);
    EXPECT_TRUE(v == NULL);
    EXPECT_TRUE(strstr(err, "neither") != NULL);
    EXPECT_EQ(vg_jwt_new(&v, NULL, err, sizeof(err)), VG_EINVAL);
    cfg.hs256_secret = "0123456789abcdef0123456789abcde"; /* 31 bytes */
    EXPECT_EQ(vg_jwt_new(&v, &cfg, err, sizeof(err)), VG_EINVAL);
    EXPECT_TRUE(strstr(err, "32") != NULL);
    cfg.hs256_secret = "0123456789abcdef0123456789abcdef";
    EXPECT_EQ(vg_jwt_new(&v, &cfg, err, sizeof(err)), 0);
    vg_jwt_free(&v);

    cfg.hs256_secret = NULL;
    cfg.jwks_path = "/nonexistent/jwks.json";
    EXPECT_EQ(vg_jwt_new(&v, &cfg, err, sizeof(err)), VG_EINVAL);
    EXPECT_TRUE(strstr(err, "No such file") != NULL);
    EXPECT_TRUE(v == NULL);

    char path[64];
    char *rsa_bad_use = jwk(g_rsa, "a", ",\"use\":\"enc\"");
    char *rsa_ops = jwk(g_rsa, "a", ",\"key_ops\":[\"encrypt\"]");
    char *rsa_384 = jwk(g_rsa, "a", ",\"alg\":\"RS384\"");
    char *ec_rs = jwk(g_ec, "a", ",\"alg\":\"RS256\"");
    struct {
        char *keys;
        const char *msg;
    } cases[] = {
        {fmt("%s", "{"), "line"},
        {fmt("%s", "1]"), "line"},
        {fmt("%s", "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}"), "no RSA or EC"},
        {fmt("%s,%s,%s,%s", rsa_bad_use, rsa_ops, rsa_384, ec_rs), "no RSA or EC"},
        {fmt("%s", "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}"), "no RSA"},
        {fmt("%s", "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}"), "2048"},
        {fmt("%s", "{\"kty\":\"RSA\",\"e\":\"AQAB\"}"), "bad n or e"},
        {fmt("%s", "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}"), "32 bytes"},
        {fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
             "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
         "P-256"},
        {fmt("%s", "{\"kty\":7}"), "malformed"},
        {fmt("%s", "\"RSA\""), "not an object"},
        {fmt("%s", "{\"kty\":\"RSA\",\"kid\":1}"), "malformed"},
    };
    cfg.jwks_path = path;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        jwks_file(path, cases[i].keys);
        EXPECT_EQ(vg_jwt_new(&v, &cfg, err, sizeof(err)), VG_EINVAL);
        if (strstr(err, cases[i].msg) == NULL)
            fprintf(stderr, "case %zu: \"%s\" lacks \"%s\"\n", i, err, cases[i].msg);
        EXPECT_TRUE(strstr(err, cases[i].msg) != NULL);
        EXPECT_TRUE(v == NULL);
        unlink(path);
    }
    write_text(path, "{\"keys\":{}}");
    EXPECT_EQ(vg_jwt_new(&v, &cfg, err, sizeof(err)), VG_EINVAL);
    EXPECT_TRUE(strstr(err, "\"keys\"") != NULL);
    unlink(path);
    free(rsa_bad_use);
    free(rsa_ops);
    free(rsa_384);
    free(ec_rs);
}

VG_TEST(jwks_keys_not_for_signing_are_ignored)
{
    fixture();
    char path[64];
    /* rsa2 only for encryption, rsa1 fine, an "oct" key holding the HS256 secret. */
    char *enc = jwk(g_rsa2, "rsa2", ",\"use\":\"enc\"");
    char *ops = jwk(g_ec_other, "ec2", ",\"key_ops\":[\"sign\"]");
    char *sig = jwk(g_rsa, "rsa1", ",\"key_ops\":[\"verify\"]");
    char *nokid = jwk(g_ec, NULL, "");
    char *secret_b64 = b64url_str(SECRET);
    jwks_file(path, fmt("%s,%s,%s,%s,{\"kty\":\"oct\",\"kid\":\"hs\",\"k\":\"%s\"}", enc, ops,
                        sig, nokid, secret_b64));
    vg_jwt_t *v = verifier((opts_t){.jwks = path});
    char *c = claims("");
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"RS256\",\"kid\":\"rsa2\"}", c, g_rsa2)),
                 "unknown key");
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"RS256\"}", c, g_rsa2)), "bad signature");
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"ES256\",\"kid\":\"ec2\"}", c, g_ec_other)),
                 "unknown key");
    EXPECT_STREQ(check(v, tok_pk(RS, c, g_rsa)), "ok");
    /* A JWK without a kid serves only tokens without one. */
    EXPECT_STREQ(check(v, tok_pk("{\"alg\":\"ES256\"}", c, g_ec)), "ok");
    EXPECT_STREQ(check(v, tok_pk(ES, c, g_ec)), "unknown key");
    /* The oct key is never an HS256 key. */
    EXPECT_STREQ(check(v, tok_hs("{\"alg\":\"HS256\",\"kid\":\"hs\"}", c)), "unsupported alg");
    EXPECT_STREQ(check(v, tok_hs(HS, c)), "unsupported alg");
    vg_jwt_free(&v);
    unlink(path);
    free(c);
    free(enc);
    free(ops);
    free(sig);
    free(nokid);
    free(secret_b64);
}

VG_TEST(reload_picks_up_a_rotated_key_and_keeps_old_ones_on_failure)
{
    fixture();
    char path[64];
    jwks_file(path, jwk(g_rsa, "rsa1", ""));
    vg_jwt_t *v = verifier((opts_t){.jwks = path});
    char *c = claims("");
    const char *rs2 = "{\"alg\":\"RS256\",\"kid\":\"rsa2\"}";
    EXPECT_STREQ(check(v, tok_pk(RS, c, g_rsa)), "ok");
    EXPECT_STREQ(check(v, tok_pk(rs2, c, g_rsa2)), "unknown key");

    char *k2 = jwk(g_rsa2, "rsa2", "");
    char *doc = fmt("{\"keys\":[%s]}", k2);
    write_text(path, doc);
    char err[256] = "";
    EXPECT_EQ(vg_jwt_reload(v, err, sizeof(err)), 0);
    EXPECT_STREQ(check(v, tok_pk(rs2, c, g_rsa2)), "ok");
    EXPECT_STREQ(check(v, tok_pk(RS, c, g_rsa)), "unknown key"); /* rotated out */

    write_text(path, "{\"keys\":[");
    EXPECT_EQ(vg_jwt_reload(v, err, sizeof(err)), VG_EINVAL);
    EXPECT_TRUE(strstr(err, path) != NULL);
    write_text(path, "{\"keys\":[]}");
    EXPECT_EQ(vg_jwt_reload(v, err, sizeof(err)), VG_EINVAL);
    unlink(path);
    EXPECT_EQ(vg_jwt_reload(v, err, sizeof(err)), VG_EINVAL);
    EXPECT_STREQ(check(v, tok_pk(rs2, c, g_rsa2)), "ok"); /* the old keys stayed */
    vg_jwt_free(&v);

    /* Nothing to reload without a JWKS. */
    v = verifier((opts_t){.secret = SECRET});
    EXPECT_EQ(vg_jwt_reload(v, err, sizeof(err)), 0);
    vg_jwt_free(&v);
    free(doc);
    free(k2);
    free(c);
}

typedef struct {
    vg_jwt_t *v;
    char *tok;
    int failures;
} worker_t;

static void *verify_loop(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < 200; i++) {
        json_t *cl = NULL;
        if (vg_jwt_verify(w->v, w->tok, NOW, &cl, NULL, 0) != 0)
            w->failures++;
        json_decref(cl);
    }
    return NULL;
}

/* Verifications on several threads while the keys are swapped under them (TSan and ASan
 * builds check the hand-off). Both files hold rsa1, so every verification must pass. */
VG_TEST(verify_races_reload_safely)
{
    fixture();
    char path[64];
    jwks_file(path, jwk(g_rsa, "rsa1", ""));
    vg_jwt_t *v = verifier((opts_t){.secret = SECRET, .jwks = path});
    char *c = claims("");
    worker_t w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.v = v, .tok = i % 2 ? tok_pk(RS, c, g_rsa) : tok_hs(HS, c)};
        pthread_create(&th[i], NULL, verify_loop, &w[i]);
    }
    char err[256];
    int reload_failures = 0;
    for (int i = 0; i < 50; i++)
        reload_failures += vg_jwt_reload(v, err, sizeof(err)) != 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        EXPECT_EQ(w[i].failures, 0);
        free(w[i].tok);
    }
    EXPECT_EQ(reload_failures, 0);
    vg_jwt_free(&v);
    unlink(path);
    free(c);
}
