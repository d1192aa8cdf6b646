/* cache: the loop's copy of what access decisions need (store.h's vg_access_t), so that the
 * gate and every re-check of an open stream decide without a database query.
 *
 * The store thread reads a fresh snapshot after every change (made by this server, or by any
 * other program, seen through the database's data version) and the loop swaps it in. Two
 * overlays bridge the time between a write and the next snapshot:
 *   - sessions this server just started (kept until the next snapshot, which holds them:
 *     snapshots are applied in the order the store thread read them, after the write);
 *   - sessions signed out here (refused at once, whatever the database says, until their
 *     removal is confirmed and a later snapshot no longer has them, or they expire).
 *
 * Pure data and lookups: no I/O, no clock of its own (now is passed in), so the rules are
 * unit-tested in tests/unit/test_access_cache.c. Loop thread only.
 */
#ifndef VG_AUTH_CACHE_H
#define VG_AUTH_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

typedef struct vg_access_cache vg_access_cache_t;

vg_access_cache_t *vg_access_cache_new(void);
void vg_access_cache_free(vg_access_cache_t **cp);

/* Swaps in a snapshot (takes it; NULL keeps the old one). Sessions started here are then
 * in it; sign-outs whose removal was confirmed are dropped. */
void vg_access_cache_set(vg_access_cache_t *c, vg_access_t *snap);
/* Whether any snapshot was set yet. */
bool vg_access_cache_is_loaded(const vg_access_cache_t *c);

const vg_access_user_t *vg_access_cache_user(const vg_access_cache_t *c, const char *id);
/* NULL when the camera is not in the configuration (enabled or not). */
const vg_access_camera_t *vg_access_cache_camera(const vg_access_cache_t *c, const char *id);
/* The session with this hash, unexpired at now_us and not signed out; NULL otherwise. */
const vg_access_session_t *vg_access_cache_session(const vg_access_cache_t *c,
                                                   const uint8_t hash[VG_SESSION_HASH_LEN],
                                                   int64_t now_us);
/* The integration key with this hash, unexpired at now_us; NULL otherwise. */
const vg_access_key_t *vg_access_cache_key(const vg_access_cache_t *c,
                                           const uint8_t hash[VG_SESSION_HASH_LEN],
                                           int64_t now_us);

/* The visibility rule (not counting admin rights): camera_id is granted to user_id or to
 * tenant_id (either may be "" or NULL), directly or through its site, or it is on a site the
 * tenant owns. */
bool vg_access_cache_visible(const vg_access_cache_t *c, const char *user_id,
                             const char *tenant_id, const char *camera_id);
/* Every camera id they see, sorted (new JSON array). */
json_t *vg_access_cache_visible_list(const vg_access_cache_t *c, const char *user_id,
                                     const char *tenant_id);

/* A session this server just stored. */
void vg_access_cache_add_session(vg_access_cache_t *c, const uint8_t hash[VG_SESSION_HASH_LEN],
                                 const char *user_id, int64_t expires_us);
/* A session signed out here: refused from now on. expires_us bounds how long it is
 * remembered (0: the session's own expiry when known, else 24 hours from now_us). */
void vg_access_cache_revoke_session(vg_access_cache_t *c,
                                    const uint8_t hash[VG_SESSION_HASH_LEN], int64_t now_us);
/* Its removal from the database succeeded. */
void vg_access_cache_revoke_confirmed(vg_access_cache_t *c,
                                      const uint8_t hash[VG_SESSION_HASH_LEN]);
/* Calls fn for each sign-out whose removal is not confirmed yet (to retry it). */
void vg_access_cache_each_unconfirmed(const vg_access_cache_t *c,
                                      void (*fn)(const uint8_t hash[VG_SESSION_HASH_LEN],
                                                 void *arg),
                                      void *arg);
/* Forgets sign-outs past their expiry (their sessions are dead anyway). */
void vg_access_cache_prune(vg_access_cache_t *c, int64_t now_us);

#endif
