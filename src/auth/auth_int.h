/* auth_int: what auth.c and session.c share. */
#ifndef VG_AUTH_INT_H
#define VG_AUTH_INT_H

#include "auth/auth.h"

#define VG_AUTH_KEY_LEN 32
#define VG_AUTH_CSRF_LEN 48 /* base64url of 32 bytes + NUL */
#define VG_AUTH_MAX_ORIGINS 8
#define VG_AUTH_COOKIE "vigil_session"

typedef struct vg__ratelimit vg__ratelimit_t;

struct vg_auth {
    uv_loop_t *loop;
    vg_store_t *store;
    bool is_open;
    int session_ttl_s;
    uint8_t *key; /* the store's token key, in sodium_malloc'd memory */
    vg_jwt_t *jwt;
    char *origins[VG_AUTH_MAX_ORIGINS];
    int origin_count;
    /* session.c */
    vg__ratelimit_t *limits;
    char *dummy_hash;  /* verified against when the user does not exist, to take as long */
    int logins_in_flight;
};

/* The CSRF token of a session: an HMAC of its hash, so nothing more need be stored. */
void vg__auth_csrf_token(const vg_auth_t *a, const uint8_t session_hash[VG_SESSION_HASH_LEN],
                         char out[VG_AUTH_CSRF_LEN]);

void vg__auth_session_init(vg_auth_t *a);
void vg__auth_session_deinit(vg_auth_t *a);
void vg__auth_session_register(vg_auth_t *a, vg_server_t *srv);

#endif
