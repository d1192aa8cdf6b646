/* auth: who the caller is and what they may see — the one gate every route and every stream
 * output passes (net/server.h's vg_gate_cb), browser sessions with CSRF protection, bearer
 * JWTs, stream tokens, and the login rate limit. docs/security.md tells the whole design.
 *
 * A caller is identified, in this order, by an "Authorization: Bearer" JWT, by the session
 * cookie, or (only on routes marked VG_ACCESS_TOKEN) by a ?token= stream token. A camera the
 * caller may not see answers 404, the same as one that does not exist; a route above the
 * caller's role answers 403; no identity at all answers 401.
 *
 * Roles: admin sees and manages everything; operator and viewer see the cameras granted to
 * them or their tenant (store.h), and an operator may also steer them (PTZ, alarms).
 *
 * Loop thread only (it reads the store); password checks run on libuv's thread pool.
 */
#ifndef VG_AUTH_H
#define VG_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth/jwt.h"
#include "net/server.h"
#include "store/store.h"

typedef struct vg_auth vg_auth_t;

typedef enum vg_role {
    VG_ROLE_NONE = 0,
    VG_ROLE_VIEWER = VG_ACCESS_VIEWER,
    VG_ROLE_OPERATOR = VG_ACCESS_OPERATOR,
    VG_ROLE_ADMIN = VG_ACCESS_ADMIN,
} vg_role_t;

/* "admin", "operator", "viewer" -> role (VG_ROLE_NONE for anything else), and back. */
vg_role_t vg_role_parse(const char *name);
const char *vg_role_name(vg_role_t role);

typedef enum vg_auth_via {
    VG_VIA_OPEN,    /* --no-auth: everyone is an admin */
    VG_VIA_SESSION, /* the session cookie */
    VG_VIA_JWT,     /* a bearer JWT */
    VG_VIA_TOKEN,   /* a stream token, for one camera */
} vg_auth_via_t;

/* The caller, as the gate found it. Read-only for handlers. */
typedef struct vg_principal {
    vg_auth_via_t via;
    vg_role_t role;
    char user_id[64];   /* the vigil user; "" for a JWT whose claims stand for themselves */
    char tenant_id[64]; /* "" when none */
    char actor[96];     /* for the audit log: the user id, or "jwt:<sub>" */
    json_t *cameras;    /* a JWT's own list of camera ids (NULL: grants decide) */
    uint8_t session_hash[VG_SESSION_HASH_LEN]; /* VG_VIA_SESSION */
} vg_principal_t;

typedef struct vg_auth_cfg {
    uv_loop_t *loop;
    vg_store_t *store;      /* borrowed, outlives the auth handle */
    bool is_open;           /* --no-auth: no checks at all (the server binds 127.0.0.1) */
    const vg_jwt_cfg_t *jwt; /* NULL: bearer tokens are refused */
    int session_ttl_s;      /* 0: 12 hours */
    /* Origins besides the server's own that may open WebSockets with the cookie
     * ("https://ops.example.com"), NULL-terminated; NULL: none. */
    const char *const *allowed_origins;
} vg_auth_cfg_t;

/* 0, or < 0 with a message in err (a JWKS file that does not load, ...). */
int vg_auth_new(vg_auth_t **out, const vg_auth_cfg_t *cfg, char *err, size_t err_len);
/* Installs the gate on srv and registers POST /api/v1/login, POST /api/v1/logout,
 * GET /api/v1/session and POST /api/v1/cameras/{id}/token. a outlives srv. */
void vg_auth_register(vg_auth_t *a, vg_server_t *srv);
void vg_auth_free(vg_auth_t **ap);
/* Re-reads the JWKS file (SIGHUP); the old keys stay when it does not load. 0 or < 0. */
int vg_auth_reload(vg_auth_t *a);

/* The caller of a request the gate let through (never NULL on a non-public route). */
const vg_principal_t *vg_auth_caller(const vg_conn_t *c);
/* Whether p may see camera_id (admins: always, even unknown ids: the handler says 404). */
bool vg_auth_can_see(vg_auth_t *a, const vg_principal_t *p, const char *camera_id);
/* The camera ids p may see, as a new JSON array, or NULL when p sees every camera. */
json_t *vg_auth_visible(vg_auth_t *a, const vg_principal_t *p);

/* Writes an audit entry for what the caller of c did (actor and peer taken from c). */
void vg_auth_audit(vg_auth_t *a, vg_conn_t *c, const char *action, const char *target,
                   const char *outcome, const char *detail);

/* Re-checks every open camera stream on srv against the current grants, and closes those
 * whose caller lost the camera (WebSocket status 4403 "access revoked"). Call after the
 * store changed. */
void vg_auth_recheck(vg_auth_t *a, vg_server_t *srv);

/* Stream tokens: "<camera>.<expiry>.<user>.<mac>", HMAC-SHA-256 over the first three parts
 * with the store's token key. vg_auth_token_make is for tests and the token route. */
#define VG_STREAM_TOKEN_MAX 256
int vg_auth_token_make(vg_auth_t *a, const char *camera_id, const char *user_id,
                       int64_t expires_s, char out[VG_STREAM_TOKEN_MAX]);
/* Checks a stream token for camera_id (its MAC, in constant time, then its expiry): 0 with
 * the user it was made for, VG_ETIMEDOUT when expired, VG_ENOENT when made for another
 * camera, VG_EINVAL when not ours. Whether that user may still see the camera is the
 * caller's to ask (vg_auth_can_see). Untrusted input: fuzzed (tests/fuzz/fuzz_token.c). */
int vg_auth_token_check(vg_auth_t *a, const char *token, const char *camera_id,
                        char user_id[64]);

#endif
