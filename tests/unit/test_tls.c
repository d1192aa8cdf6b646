/* net/tls: a server session driven against an OpenSSL client over memory, as the RTSP server
 * drives it against a socket: the handshake, plaintext both ways, many small buffers
 * coalesced across record boundaries, a reader's buffer too small, a clean close, garbage,
 * and a certificate that does not load. The certificate is made here (EC P-256, self-signed). */
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/tls.h"
#include "vg_test.h"

static char cert_path[64], key_path[64];

static void remove_cert(void)
{
    unlink(cert_path);
    unlink(key_path);
}

static void make_cert(void)
{
    static int is_registered;
    if (!is_registered++)
        atexit(remove_cert);
    if (cert_path[0])
        return;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"vigil-test",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    snprintf(cert_path, sizeof(cert_path), "/tmp/vg_tls_test_%d.crt", (int)getpid());
    snprintf(key_path, sizeof(key_path), "/tmp/vg_tls_test_%d.key", (int)getpid());
    FILE *f = fopen(cert_path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key_path, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

typedef struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
} client_t;

static void client_new(client_t *c)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    c->ssl = SSL_new(c->ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    SSL_set_bio(c->ssl, c->in, c->out);
    SSL_set_connect_state(c->ssl);
}

static void client_free(client_t *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
}

/* What the client has for the server, into buf. */
static size_t client_take(client_t *c, uint8_t *buf, size_t cap)
{
    int n = BIO_read(c->out, buf, (int)cap);
    return n > 0 ? (size_t)n : 0;
}

/* Moves bytes both ways until the handshake is done (bounded). */
static int handshake(client_t *c, vg_tls_t *t)
{
    static uint8_t wire[65536], plain[4096];
    for (int round = 0; round < 20; round++) {
        int rc = SSL_do_handshake(c->ssl);
        size_t n = client_take(c, wire, sizeof(wire));
        if (n) {
            size_t got = 0;
            char err[200];
            if (vg_tls_feed(t, wire, n, plain, sizeof(plain), &got, err, sizeof(err)) < 0)
                return -1;
        }
        uint8_t *out;
        size_t m = vg_tls_take_output(t, &out);
        if (m) {
            BIO_write(c->in, out, (int)m);
            free(out);
        }
        if (rc == 1 && vg_tls_is_established(t))
            return 0;
    }
    return -1;
}

static vg_tls_ctx_t *server_ctx(void)
{
    make_cert();
    vg_tls_ctx_t *ctx = NULL;
    char err[256];
    int rc = vg_tls_ctx_new(&ctx, cert_path, key_path, err, sizeof(err));
    EXPECT_EQ(rc, 0);
    return ctx;
}

VG_TEST(client_hello_is_told_from_rtsp)
{
    const uint8_t hello[] = {22, 3, 1, 0, 200};
    EXPECT_TRUE(vg_tls_is_client_hello(hello, sizeof(hello)));
    EXPECT_TRUE(!vg_tls_is_client_hello((const uint8_t *)"OPTIONS * RTSP/1.0", 18));
    EXPECT_TRUE(!vg_tls_is_client_hello((const uint8_t *)"$\0\0\4", 4));
    const uint8_t not_tls[] = {22, 9};
    EXPECT_TRUE(!vg_tls_is_client_hello(not_tls, sizeof(not_tls)));
    EXPECT_TRUE(!vg_tls_is_client_hello(hello, 0));
}

VG_TEST(handshake_and_plaintext_both_ways)
{
    vg_tls_ctx_t *ctx = server_ctx();
    vg_tls_t *t = vg_tls_new(ctx);
    client_t c;
    client_new(&c);
    EXPECT_EQ(handshake(&c, t), 0);

    /* client -> server: a request arrives in one piece */
    const char *req = "OPTIONS rtsps://127.0.0.1/cameras/x RTSP/1.0\r\nCSeq: 1\r\n\r\n";
    EXPECT_EQ(SSL_write(c.ssl, req, (int)strlen(req)), (int)strlen(req));
    uint8_t wire[65536], plain[4096];
    size_t n = client_take(&c, wire, sizeof(wire)), got = 0;
    char err[200];
    EXPECT_EQ(vg_tls_feed(t, wire, n, plain, sizeof(plain), &got, err, sizeof(err)), 0);
    EXPECT_EQ(got, strlen(req));
    EXPECT_TRUE(memcmp(plain, req, strlen(req)) == 0);

    /* server -> client: 3,000 pieces of 4 and 1,400 bytes (interleave headers and RTP
     * packets), which cross many 16 KiB record boundaries, arrive whole and in order. */
    enum { PIECES = 3000 };
    static uint8_t data[PIECES / 2 * 1404];
    static uv_buf_t bufs[PIECES];
    size_t total = 0;
    for (int i = 0; i < PIECES; i++) {
        size_t len = i % 2 ? 1400 : 4;
        for (size_t k = 0; k < len; k++)
            data[total + k] = (uint8_t)(total + k * 7);
        bufs[i] = uv_buf_init((char *)data + total, (unsigned)len);
        total += len;
    }
    /* and one piece larger than a record, sent without staging */
    static uint8_t big[40000];
    for (size_t k = 0; k < sizeof(big); k++)
        big[k] = (uint8_t)(k * 13);
    uv_buf_t with_big[3] = {uv_buf_init((char *)data, 4),
                            uv_buf_init((char *)big, sizeof(big)),
                            uv_buf_init((char *)data + 4, 1400)};
    EXPECT_EQ(vg_tls_write(t, bufs, PIECES), 0);
    EXPECT_EQ(vg_tls_write(t, with_big, 3), 0);
    uint8_t *cipher;
    size_t m = vg_tls_take_output(t, &cipher);
    EXPECT_TRUE(m > total + sizeof(big));
    /* records of up to 16 KiB: far fewer than pieces (about 22 bytes of overhead each) */
    EXPECT_TRUE(m < total + sizeof(big) + 3000 / 10 * 30);
    BIO_write(c.in, cipher, (int)m);
    free(cipher);
    static uint8_t back[PIECES / 2 * 1404 + 50000];
    size_t have = 0;
    for (int i = 0; i < 10000; i++) {
        int r = SSL_read(c.ssl, back + have, (int)(sizeof(back) - have));
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    EXPECT_EQ(have, total + 4 + sizeof(big) + 1400);
    EXPECT_TRUE(memcmp(back, data, total) == 0);
    EXPECT_TRUE(memcmp(back + total + 4, big, sizeof(big)) == 0);

    /* a clean close from the client: 1 */
    SSL_shutdown(c.ssl);
    n = client_take(&c, wire, sizeof(wire));
    EXPECT_EQ(vg_tls_feed(t, wire, n, plain, sizeof(plain), &got, err, sizeof(err)), 1);

    client_free(&c);
    vg_tls_free(t);
    vg_tls_ctx_free(&ctx);
    EXPECT_TRUE(ctx == NULL);
}

VG_TEST(more_plaintext_than_the_reader_holds_is_refused)
{
    vg_tls_ctx_t *ctx = server_ctx();
    vg_tls_t *t = vg_tls_new(ctx);
    client_t c;
    client_new(&c);
    EXPECT_EQ(handshake(&c, t), 0);
    static char flood[20000];
    memset(flood, 'A', sizeof(flood));
    EXPECT_EQ(SSL_write(c.ssl, flood, (int)sizeof(flood)), (int)sizeof(flood));
    static uint8_t wire[65536];
    uint8_t plain[1000];
    size_t n = client_take(&c, wire, sizeof(wire)), got = 0;
    char err[200] = "";
    EXPECT_EQ(vg_tls_feed(t, wire, n, plain, sizeof(plain), &got, err, sizeof(err)), -ENOBUFS);
    EXPECT_EQ(got, sizeof(plain));
    EXPECT_TRUE(strstr(err, "buffer") != NULL);
    client_free(&c);
    vg_tls_free(t);
    vg_tls_ctx_free(&ctx);
}

VG_TEST(garbage_is_a_tls_error_with_a_reason)
{
    vg_tls_ctx_t *ctx = server_ctx();
    vg_tls_t *t = vg_tls_new(ctx);
    const uint8_t junk[] = {22, 3, 1, 0, 8, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!', 0, 0, 0};
    uint8_t plain[100];
    size_t got = 0;
    char err[200] = "";
    EXPECT_EQ(vg_tls_feed(t, junk, sizeof(junk), plain, sizeof(plain), &got, err, sizeof(err)),
              -EPROTO);
    EXPECT_TRUE(strncmp(err, "TLS", 3) == 0);
    /* the alert the server has for the peer */
    uint8_t *alert;
    size_t m = vg_tls_take_output(t, &alert);
    free(alert);
    EXPECT_TRUE(m < 100);
    vg_tls_free(t);
    vg_tls_ctx_free(&ctx);
}

VG_TEST(files_that_do_not_load_are_refused_and_reload_keeps_the_old)
{
    vg_tls_ctx_t *ctx = NULL;
    char err[256] = "";
    EXPECT_EQ(vg_tls_ctx_new(&ctx, "/nonexistent.crt", "/nonexistent.key", err, sizeof(err)),
              -EINVAL);
    EXPECT_TRUE(ctx == NULL);
    EXPECT_TRUE(strstr(err, "/nonexistent.crt") != NULL);
    make_cert();
    /* the key file given as the certificate */
    EXPECT_EQ(vg_tls_ctx_new(&ctx, key_path, key_path, err, sizeof(err)), -EINVAL);
    ctx = server_ctx();
    EXPECT_EQ(vg_tls_ctx_reload(ctx, err, sizeof(err)), 0);
    remove_cert(); /* the files are gone: the reload fails, and the old context serves on */
    EXPECT_EQ(vg_tls_ctx_reload(ctx, err, sizeof(err)), -EINVAL);
    vg_tls_t *t = vg_tls_new(ctx);
    client_t c;
    client_new(&c);
    EXPECT_EQ(handshake(&c, t), 0);
    client_free(&c);
    vg_tls_free(t);
    vg_tls_ctx_free(&ctx);
    cert_path[0] = '\0';
}
