/* net/tls: TLS for vigil's own listeners (the RTSP server's rtsps://), which libwebsockets
 * does not serve. OpenSSL over memory BIOs: the caller owns the socket and moves bytes,
 * this module only turns ciphertext into plaintext and back, so it fits any libuv stream
 * and never blocks.
 *
 *   vg_tls_ctx_t   the certificate and key (the same files as HTTPS), shared by sessions;
 *                  reloaded in place on SIGHUP (sessions already open keep theirs)
 *   vg_tls_t       one connection's session
 *
 * Loop thread only.
 */
#ifndef VG_NET_TLS_H
#define VG_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct vg_tls_ctx vg_tls_ctx_t;
typedef struct vg_tls vg_tls_t;

/* Loads a PEM certificate chain and its private key. Returns 0 with *out, or < 0 with what
 * went wrong in err. */
int vg_tls_ctx_new(vg_tls_ctx_t **out, const char *cert_path, const char *key_path, char *err,
                   size_t err_len);
/* Loads the files again; on failure (< 0, err says why) the old ones stay. */
int vg_tls_ctx_reload(vg_tls_ctx_t *ctx, char *err, size_t err_len);
/* Sessions hold their own reference to what they started with, so this is safe with
 * sessions open. Sets *ctxp to NULL; accepts NULL. */
void vg_tls_ctx_free(vg_tls_ctx_t **ctxp);

/* Whether the first bytes a client sent open a TLS handshake (a handshake record), so one
 * port can serve both plain and TLS clients. */
bool vg_tls_is_client_hello(const uint8_t *p, size_t len);

/* A server-side session; NULL on allocation failure. */
vg_tls_t *vg_tls_new(vg_tls_ctx_t *ctx);
void vg_tls_free(vg_tls_t *t); /* accepts NULL */

/* Feeds ciphertext from the peer. The plaintext it yields is copied into out (cap bytes
 * free there); *out_len says how much. Returns 0, 1 when the peer closed the session
 * cleanly, or < 0 on a TLS error (err says which) or when more plaintext came than out
 * holds (-ENOBUFS). Handshake replies are left to vg_tls_take_output. */
int vg_tls_feed(vg_tls_t *t, const void *in, size_t in_len, uint8_t *out, size_t cap,
                size_t *out_len, char *err, size_t err_len);
/* Encrypts bufs (in order, coalesced into records of up to 16 KiB). Returns 0 or < 0. The
 * ciphertext is left to vg_tls_take_output. */
int vg_tls_write(vg_tls_t *t, const uv_buf_t *bufs, size_t nbufs);
/* Moves the ciphertext waiting to go to the peer into a new malloc'd buffer (*out; the
 * caller frees it) and returns its length; 0 (and *out NULL) when nothing waits. */
size_t vg_tls_take_output(vg_tls_t *t, uint8_t **out);
bool vg_tls_is_established(const vg_tls_t *t);

#endif
