/* auth_int: what auth.c and session.c share. */
#ifndef VG_AUTH_INT_H
#define VG_AUTH_INT_H

#include "auth/auth.h"
#include "auth/cache.h"
#include "auth/ratelimit.h"

#define VG_AUTH_KEY_LEN 32
#define VG_AUTH_CSRF_LEN 48 /* base64url of 32 bytes + NUL */
#define VG_AUTH_MAX_ORIGINS 8
#define VG_AUTH_COOKIE "vigil_session"
#define VG_AUTH_AUDIT_MAX 4096 /* entries waiting for the database; past it the oldest go */

typedef struct vg__audit_rec {
    char *actor, *action, *target, *outcome, *detail, *peer;
} vg__audit_rec_t;

struct vg_auth {
    uv_loop_t *loop;
    vg_store_async_t *store;
    vg_server_t *srv; /* set by vg_auth_register */
    bool is_open;
    int session_ttl_s;
    uint8_t *token_key, *csrf_key; /* sodium_malloc'd, VG_AUTH_KEY_LEN each */
    uint8_t *instance_key;         /* sodium_malloc'd; NULL: no instance is admitted */
    char uplink_token[VG_STREAM_TOKEN_MAX]; /* "" : none (vg_auth_set_uplink_token) */
    vg_jwt_t *jwt;
    int jwt_leeway_s;
    char *origins[VG_AUTH_MAX_ORIGINS];
    int origin_count;
    vg_cidr_t proxies[VG_PROXY_MAX];
    size_t proxy_count;
    vg_access_cache_t *cache;
    uv_timer_t tick; /* expiries, audit flushes, sign-out retries */
    bool is_tick_started;
    /* the audit entries not yet written, oldest first, and the keys used since the last
     * flush */
    vg__audit_rec_t *audit;
    size_t audit_count, audit_cap;
    bool is_audit_in_flight;
    uint64_t audit_dropped;
    char (*used_keys)[64];
    size_t used_key_count;
    int revokes_in_flight;
    /* session.c */
    vg_ratelimit_t *limits;
    int logins_in_flight;
};

/* The CSRF token of a session: an HMAC of its hash, so nothing more need be stored. */
void vg__auth_csrf_token(const vg_auth_t *a, const uint8_t session_hash[VG_SESSION_HASH_LEN],
                         char out[VG_AUTH_CSRF_LEN]);

/* The user's auth epoch (0 for a user the cache does not know). */
int64_t vg__auth_user_epoch(vg_auth_t *a, const char *user_id);
/* vg_auth_token_check, also giving the token's expiry (expires_us may be NULL). */
int vg__auth_token_check(vg_auth_t *a, const char *token, const char *camera_id,
                         char user_id[64], int64_t *expires_us);
/* Frees the queued audit entries (the handle is going). */
void vg__auth_audit_free(vg_auth_t *a);

/* Queues an audit entry for the store thread (never blocks, never fails the caller). */
void vg__auth_audit_entry(vg_auth_t *a, const vg_audit_entry_t *e);
/* Writes queued audit entries now (when none are in flight). */
void vg__auth_audit_flush(vg_auth_t *a);

/* Retries the removal of sign-outs the database has not confirmed. */
void vg__auth_retry_revokes(vg_auth_t *a);

void vg__auth_session_init(vg_auth_t *a);
void vg__auth_session_deinit(vg_auth_t *a);
void vg__auth_session_register(vg_auth_t *a, vg_server_t *srv);

#endif
