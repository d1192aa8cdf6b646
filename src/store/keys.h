/* keys: the server's own signing keys (issue 12) — one per purpose, never stored in clear.
 *
 *   token    HMAC key of stream tokens (?token= on snapshot, MJPEG, WebSocket, HLS)
 *   csrf     HMAC key of a session's CSRF token
 *
 * (Integration keys need no key: src/store/apikeys.c stores them as plain BLAKE2b-256
 * hashes, which their 256 random bits allow, so that the CLI adds one without the master
 * key or the key file.)
 *
 * Each is vg_kdf(root, "vigil auth v1 <purpose>"), so no two purposes share a key and none
 * reveals the root. The root is:
 *
 *   - the master key, when one is given (--master-key-file, VIGIL_MASTER_KEY): nothing more
 *     is stored anywhere, every instance holding the master key agrees on the keys, and
 *     `vigil rekey --new-key-file` rotates them with the master key;
 *   - otherwise 32 random bytes in a key file beside the database, "<db>.authkey", mode
 *     0600, made on first use; `vigil rekey --auth-keys` replaces it. A PostgreSQL store
 *     (shared by instances) needs the master key: without it, loading fails and says so.
 *
 * Reading the database alone (a backup, a copy, a file left 0644) gives none of these keys.
 * Before this, a random key sat in the meta table as hex ("stream_token_key") and signed
 * both tokens and CSRF tokens; the store deletes that row when it opens a database.
 *
 * Any thread; these functions block on file I/O (start-up and the CLI, not the loop).
 */
#ifndef VG_STORE_KEYS_H
#define VG_STORE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/secrets.h"

#define VG_AUTH_KEYS_SUFFIX ".authkey"

typedef struct vg_auth_keys {
    uint8_t token[32]; /* stream tokens */
    uint8_t csrf[32];  /* CSRF tokens */
    uint8_t instance[32]; /* instances relaying each other's cameras (issue 18) */
    bool has_instance;    /* only with the master key, which all instances share */
} vg_auth_keys_t;

/* The credential one vigil instance gives another to relay a camera from it ("vi_" and 64 hex
 * digits of the instance key), the RTSP password of the relay (fleet/lease.c). Every instance
 * holding the master key makes the same one. */
#define VG_INSTANCE_CREDENTIAL_LEN 67
void vg_instance_credential(const uint8_t key[32], char out[VG_INSTANCE_CREDENTIAL_LEN + 1]);
void vg_instance_key(const vg_secrets_t *master, uint8_t out[32]);

/* Fills *out (caller's storage; put it in sodium_malloc'd memory and sodium_free it, which
 * wipes it). master may be NULL: then the root comes from db_path's key file, which is made
 * (mode 0600, atomically, so instances starting together agree) when it does not exist. A
 * key file readable by group or others, or not 64 hex digits, is refused: the message in
 * err says what to do. A database without a file (":memory:", "") gets random keys that
 * last as long as the process. Returns 0 or < 0 with a message in err. Blocks (file I/O). */
int vg_auth_keys_load(vg_auth_keys_t *out, const vg_secrets_t *master, const char *db_path,
                      char *err, size_t err_len);

/* Replaces db_path's key file with a new random root (atomically: a reader sees the old
 * file or the new one). Every stream token and CSRF token made before stops working once
 * the server restarts (integration keys, stored unkeyed, stay).
 * Returns 0 or < 0 with a message in err. Blocks. */
int vg_auth_keys_rotate(const char *db_path, char *err, size_t err_len);

/* The key file of db_path ("<db>.authkey") into out; false when the database has no file
 * or the name does not fit. */
bool vg_auth_keys_path(const char *db_path, char *out, size_t out_len);

#endif
