/* jwt: verification of JSON Web Tokens (RFC 7519) signed with HS256 (a shared secret), RS256 or
 * ES256 (public keys from a JWKS file, RFC 7517), for API clients and identity providers.
 *
 * Only the compact JWS form (header.payload.signature, RFC 7515 §7.1) is accepted. The key
 * decides what a token may be: HS256 is checked only against the configured secret, never
 * against JWKS material; RS256 only against RSA keys and ES256 only against EC P-256 keys from
 * the JWKS. "none" and every other algorithm are refused, as are headers with "crit" and
 * tokens naming or carrying a key of their own ("jwk", "jku", "x5u", "x5c"). "exp" is required.
 *
 * A verifier is immutable apart from its JWKS keys, which vg_jwt_reload() swaps atomically:
 * vg_jwt_verify() may run on any number of threads at once, concurrently with a reload.
 */
#ifndef VG_AUTH_JWT_H
#define VG_AUTH_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_jwt vg_jwt_t;

typedef struct vg_jwt_cfg {
    const char *hs256_secret; /* NULL: HS256 tokens are refused. At least 32 bytes. */
    const char *jwks_path;    /* NULL: RS256/ES256 tokens are refused */
    const char *issuer;       /* NULL: iss not checked; else must equal */
    const char *audience;     /* NULL: aud not checked; else aud (string or array) must contain it */
    int leeway_s;             /* allowed clock skew for exp/nbf/iat; 0 means 0 (0..86400) */
} vg_jwt_cfg_t;

/* Makes a verifier from cfg (copied; nothing is borrowed after the call) and reads the JWKS
 * file if one is named. The JWKS must hold at least one usable key: an RSA (2048 to 8192 bits)
 * or EC P-256 key whose "use" is absent or "sig", whose "key_ops" (if any) has "verify" and
 * whose "alg" (if any) is RS256 or ES256; other keys are skipped.
 * Returns 0 and sets *out, or < 0 (VG_EINVAL from core/err.h) with *out NULL and a message in
 * err: unreadable/invalid JWKS, short secret, nothing configured. Any thread; reads a file. */
int vg_jwt_new(vg_jwt_t **out, const vg_jwt_cfg_t *cfg, char *err, size_t err_len);

/* Re-reads the JWKS file (keys rotate); on failure the old keys stay. Without a JWKS path it
 * does nothing and returns 0. 0 or < 0 with message. Any thread; reads a file. */
int vg_jwt_reload(vg_jwt_t *v, char *err, size_t err_len);

/* Frees the verifier and sets *vp to NULL; accepts NULL and *vp NULL. No vg_jwt_verify() or
 * vg_jwt_reload() may be running on it. */
void vg_jwt_free(vg_jwt_t **vp);

/* Verifies a compact JWS token at time now_s (Unix seconds). On success returns 0 and *claims is
 * the payload object (new reference). Otherwise < 0 and err says why in a few words safe to log
 * (never the token): "malformed", "unsupported alg", "bad signature", "expired",
 * "not yet valid", "wrong issuer", "wrong audience", "unknown key", ... Any thread; does not block. */
int vg_jwt_verify(const vg_jwt_t *v, const char *token, int64_t now_s, json_t **claims, char *err,
                  size_t err_len);

#endif
