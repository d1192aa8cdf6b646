/* secrets: the master key and authenticated encryption for vigil's stored secrets
 * (libsodium XChaCha20-Poly1305-IETF).
 *
 * Two levels: each site has a random 32-byte data key that seals its cameras' passwords
 * (the camera id as associated data, so a sealed password moved to another camera does not
 * open); site keys are stored wrapped by the master key (the site id as associated data).
 * The master key never enters the database: it comes from a file (mode 0600, written by
 * `vigil keygen`) or an environment variable, as 64 hex digits.
 *
 * Keys live in sodium_malloc'd, locked memory; plaintexts are wiped after use. Any thread.
 */
#ifndef VG_STORE_SECRETS_H
#define VG_STORE_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_KEY_LEN 32
#define VG_KEY_HEX_LEN 64
/* A sealed value: nonce || ciphertext || tag. */
#define VG_SEAL_OVERHEAD (24 + 16)

typedef struct vg_secrets vg_secrets_t;

/* Initialises libsodium; call once before anything else here. 0 or < 0. */
int vg_secrets_init(void);

/* Loads the master key from key_file (NULL: none) or, when that is NULL, from hex_env (the
 * value of VIGIL_MASTER_KEY, NULL: none). A key file readable by group or others is refused.
 * Returns 0 (with *out NULL when neither is given), or < 0 with a message in err. */
int vg_secrets_load(vg_secrets_t **out, const char *key_file, const char *hex_env, char *err,
                    size_t err_len);
/* A secrets handle from 64 hex digits (tests, rekey). 0 or < 0 with a message. */
int vg_secrets_from_hex(vg_secrets_t **out, const char *hex, char *err, size_t err_len);
void vg_secrets_free(vg_secrets_t **sp);

/* A new random master key as 64 hex digits + NUL, written to path with mode 0600 (path NULL:
 * only returned in hex_out). Refuses to overwrite an existing file. 0 or < 0 with a message. */
int vg_secrets_keygen(const char *path, char hex_out[VG_KEY_HEX_LEN + 1], char *err,
                      size_t err_len);

/* A short fingerprint of the master key ("k1:" + 16 hex digits of a keyed hash), stored in
 * the database to tell a wrong master key from a right one before anything is unwrapped. */
void vg_secrets_fingerprint(const vg_secrets_t *s, char out[24]);

/* A 32-byte key for one purpose, derived from a 32-byte root: keyed BLAKE2b-256 of the
 * label (root as the key), so that keys with different labels are independent and none
 * reveals the root or another. label names the purpose and its version ("vigil auth v1
 * csrf"); never reuse one for another purpose. Any thread; does not block. */
void vg_kdf(const uint8_t root[VG_KEY_LEN], const char *label, uint8_t out[VG_KEY_LEN]);
/* vg_kdf with the master key as the root (the master key itself never leaves s). */
void vg_secrets_derive(const vg_secrets_t *s, const char *label, uint8_t out[VG_KEY_LEN]);

/* Wraps / unwraps a 32-byte data key under the master key. out must hold
 * VG_KEY_LEN + VG_SEAL_OVERHEAD bytes. unwrap returns < 0 when the tag does not match. */
int vg_secrets_wrap(const vg_secrets_t *s, const uint8_t key[VG_KEY_LEN], const char *ad,
                    uint8_t *out);
int vg_secrets_unwrap(const vg_secrets_t *s, const uint8_t *in, size_t in_len, const char *ad,
                      uint8_t key[VG_KEY_LEN]);

/* A new random data key. */
void vg_secrets_random_key(uint8_t key[VG_KEY_LEN]);

/* Seals plain (len bytes) under key with ad; *out (malloc'd, len + VG_SEAL_OVERHEAD bytes). */
int vg_seal(const uint8_t key[VG_KEY_LEN], const void *plain, size_t len, const char *ad,
            uint8_t **out, size_t *out_len);
/* Opens a sealed value: *out is a NUL-terminated copy in locked memory, freed with
 * vg_unsealed_free (which wipes it). < 0 when the tag does not match. */
int vg_unseal(const uint8_t key[VG_KEY_LEN], const uint8_t *in, size_t in_len, const char *ad,
              char **out);
void vg_unsealed_free(char **p);

/* User passwords (issue 6) are never stored, only an Argon2id hash of them (libsodium's
 * crypto_pwhash_str at its interactive limits: 2 passes over 64 MiB, a random salt, the
 * parameters inside the string, so they can be raised later and old hashes still verify).
 * Hashing costs tens of milliseconds by design: not for the loop thread. */
#define VG_PASSWORD_MIN 8
#define VG_PASSWORD_HASH_MAX 128 /* crypto_pwhash_STRBYTES, NUL included */
int vg_password_hash(const char *password, char out[VG_PASSWORD_HASH_MAX]);
/* In time independent of where a wrong password differs. */
bool vg_password_verify(const char *hash, const char *password);

/* Zeroes memory that held a key or a secret (not optimised away). */
void vg_secrets_wipe(void *p, size_t len);

#endif
