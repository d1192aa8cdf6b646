/* tls: OpenSSL server sessions over memory BIOs (see tls.h). */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "net/tls.h"

/* The largest TLS record's plaintext: coalescing small buffers (4-byte interleave headers
 * before each RTP packet) into full records saves a header, a MAC and a call per piece. */
#define RECORD_MAX 16384

struct vg_tls_ctx {
    SSL_CTX *ssl;
    char *cert_path, *key_path;
};

struct vg_tls {
    SSL *ssl;
    BIO *in, *out; /* owned by ssl */
};

static void ssl_error_text(char *err, size_t err_len, const char *what)
{
    unsigned long e = ERR_get_error();
    char detail[200] = "";
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    snprintf(err, err_len, "%s%s%s", what, *detail ? ": " : "", detail);
}

static SSL_CTX *load(const char *cert_path, const char *key_path, char *err, size_t err_len)
{
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (ssl == NULL) {
        ssl_error_text(err, err_len, "cannot make a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    /* Partial writes never happen on memory BIOs; moving buffers do (the caller's plaintext
     * is staged in a scratch that is reused). */
    SSL_CTX_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ssl, cert_path) != 1) {
        char what[300];
        snprintf(what, sizeof(what), "cannot load the certificate %s", cert_path);
        ssl_error_text(err, err_len, what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ssl, key_path, SSL_FILETYPE_PEM) != 1) {
        char what[300];
        snprintf(what, sizeof(what), "cannot load the private key %s", key_path);
        ssl_error_text(err, err_len, what);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ssl) != 1) {
        ssl_error_text(err, err_len, "the private key does not match the certificate");
        goto fail;
    }
    return ssl;
fail:
    SSL_CTX_free(ssl);
    return NULL;
}

int vg_tls_ctx_new(vg_tls_ctx_t **out, const char *cert_path, const char *key_path, char *err,
                   size_t err_len)
{
    *out = NULL;
    SSL_CTX *ssl = load(cert_path, key_path, err, err_len);
    if (ssl == NULL)
        return -EINVAL;
    vg_tls_ctx_t *ctx = vg_xcalloc(1, sizeof(*ctx));
    ctx->ssl = ssl;
    ctx->cert_path = vg_xstrdup(cert_path);
    ctx->key_path = vg_xstrdup(key_path);
    *out = ctx;
    return 0;
}

int vg_tls_ctx_reload(vg_tls_ctx_t *ctx, char *err, size_t err_len)
{
    SSL_CTX *ssl = load(ctx->cert_path, ctx->key_path, err, err_len);
    if (ssl == NULL)
        return -EINVAL;
    SSL_CTX_free(ctx->ssl); /* reference counted: open sessions keep the old one */
    ctx->ssl = ssl;
    return 0;
}

void vg_tls_ctx_free(vg_tls_ctx_t **ctxp)
{
    vg_tls_ctx_t *ctx = *ctxp;
    if (ctx == NULL)
        return;
    *ctxp = NULL;
    SSL_CTX_free(ctx->ssl);
    free(ctx->cert_path);
    free(ctx->key_path);
    free(ctx);
}

bool vg_tls_is_client_hello(const uint8_t *p, size_t len)
{
    /* A handshake record (22) of TLS 1.0-1.3's record version 3.x. No RTSP request or
     * interleaved frame ('$') starts with byte 22. */
    return len >= 1 && p[0] == 22 && (len < 2 || p[1] == 3);
}

vg_tls_t *vg_tls_new(vg_tls_ctx_t *ctx)
{
    vg_tls_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_accept_state(t->ssl);
    return t;
}

void vg_tls_free(vg_tls_t *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    free(t);
}

int vg_tls_feed(vg_tls_t *t, const void *in, size_t in_len, uint8_t *out, size_t cap,
                size_t *out_len, char *err, size_t err_len)
{
    *out_len = 0;
    if (in_len && BIO_write(t->in, in, (int)in_len) != (int)in_len) {
        ssl_error_text(err, err_len, "TLS input");
        return -ENOMEM;
    }
    for (;;) {
        if (*out_len == cap) {
            /* Plaintext may still wait inside OpenSSL: the caller has no room for it. */
            if (SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->in) > 0) {
                snprintf(err, err_len, "more sent than the reader's buffer holds");
                return -ENOBUFS;
            }
            return 0;
        }
        size_t room = cap - *out_len;
        int n = SSL_read(t->ssl, out + *out_len, room > INT32_MAX ? INT32_MAX : (int)room);
        if (n > 0) {
            *out_len += (size_t)n;
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        if (e == SSL_ERROR_ZERO_RETURN)
            return 1;
        ssl_error_text(err, err_len, "TLS");
        return -EPROTO;
    }
}

int vg_tls_write(vg_tls_t *t, const uv_buf_t *bufs, size_t nbufs)
{
    static uint8_t stage[RECORD_MAX]; /* loop thread only */
    size_t staged = 0;
    for (size_t i = 0; i <= nbufs; i++) {
        const uint8_t *p = i < nbufs ? (const uint8_t *)bufs[i].base : NULL;
        size_t left = i < nbufs ? bufs[i].len : 0;
        /* A piece as large as a record goes as it is, without the copy. */
        if (staged == 0 && left >= RECORD_MAX) {
            while (left >= RECORD_MAX) {
                if (SSL_write(t->ssl, p, RECORD_MAX) != RECORD_MAX)
                    goto fail;
                p += RECORD_MAX;
                left -= RECORD_MAX;
            }
        }
        while (left > 0) {
            size_t take = RECORD_MAX - staged < left ? RECORD_MAX - staged : left;
            memcpy(stage + staged, p, take);
            staged += take;
            p += take;
            left -= take;
            if (staged == RECORD_MAX) {
                if (SSL_write(t->ssl, stage, (int)staged) != (int)staged)
                    goto fail;
                staged = 0;
            }
        }
    }
    if (staged && SSL_write(t->ssl, stage, (int)staged) != (int)staged)
        goto fail;
    return 0;
fail:
    ERR_clear_error();
    return -EPROTO;
}

size_t vg_tls_take_output(vg_tls_t *t, uint8_t **out)
{
    *out = NULL;
    size_t n = BIO_ctrl_pending(t->out);
    if (n == 0)
        return 0;
    uint8_t *buf = vg_xmalloc(n);
    int got = BIO_read(t->out, buf, (int)n);
    if (got <= 0) {
        free(buf);
        return 0;
    }
    *out = buf;
    return (size_t)got;
}

bool vg_tls_is_established(const vg_tls_t *t) { return SSL_is_init_finished(t->ssl) == 1; }
