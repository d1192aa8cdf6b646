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
 * Loop thread only. Decisions read the loop's cache of the store (auth/cache.h), never the
 * database; writes (sessions, audit) go to the store thread; password checks run on
 * libuv's thread pool.
 */
#ifndef VG_AUTH_H
#define VG_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth/jwt.h"
#include "auth/policy.h"
#include "net/server.h"
#include "store/async.h"
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
    VG_VIA_KEY,     /* an integration key (?token= or bearer) */
    VG_VIA_INSTANCE, /* another vigil instance relaying a camera (store/keys.h) */
} vg_auth_via_t;

/* The caller, as the gate found it. Read-only for handlers. Only the credential is kept
 * from the time of connecting: the role, tenant and whether it still holds are derived
 * again from the current store (the loop's cache) at every re-check. */
typedef struct vg_principal {
    vg_auth_via_t via;
    vg_role_t role;     /* as of the last check */
    char user_id[64];   /* the vigil user; "" for a JWT whose claims stand for themselves */
    char tenant_id[64]; /* "" when none */
    char actor[96];     /* for the audit log: the user id, "jwt:<sub>", "key:<id>" */
    json_t *cameras;    /* a JWT's own list of camera ids (NULL: grants decide) */
    uint8_t session_hash[VG_SESSION_HASH_LEN]; /* VG_VIA_SESSION */
    uint8_t key_hash[VG_SESSION_HASH_LEN];     /* VG_VIA_KEY */
    char key_id[64];                           /* VG_VIA_KEY */
    vg_role_t claim_role;  /* VG_VIA_JWT without a vigil user: the role its claims give */
    int64_t token_epoch;   /* VG_VIA_TOKEN: the user's auth epoch the token was signed with */
    int64_t expires_us;    /* when the credential itself ends (0: with its session/key) */
} vg_principal_t;

typedef struct vg_auth_cfg {
    uv_loop_t *loop;
    vg_store_async_t *store; /* borrowed; NULL: nothing is written (fuzzing, unit tests) */
    bool is_open;            /* --no-auth: no checks at all (the server binds 127.0.0.1) */
    const vg_jwt_cfg_t *jwt; /* NULL: bearer JWTs are refused */
    int session_ttl_s;       /* 0: 12 hours */
    /* Origins besides the server's own that may open WebSockets with the cookie
     * ("https://ops.example.com"), NULL-terminated; NULL: none. */
    const char *const *allowed_origins;
    /* Reverse proxies whose X-Forwarded-For is believed (CIDRs), NULL-terminated. */
    const char *const *trusted_proxies;
    /* The stream-token and CSRF keys, 32 bytes each (copied); NULL: random ones (tests). */
    const uint8_t *token_key, *csrf_key;
    /* The instance key (copied): its credential admits another instance to any camera's
     * stream (a relay). NULL: no instance is admitted. */
    const uint8_t *instance_key;
} vg_auth_cfg_t;

/* 0, or < 0 with a message in err (a JWKS file that does not load, ...). */
int vg_auth_new(vg_auth_t **out, const vg_auth_cfg_t *cfg, char *err, size_t err_len);
/* Installs the gate on srv and registers POST /api/v1/login, POST /api/v1/logout,
 * GET /api/v1/session and POST /api/v1/cameras/{id}/token. a outlives srv. */
void vg_auth_register(vg_auth_t *a, vg_server_t *srv);
void vg_auth_free(vg_auth_t **ap);
/* The credential ("vu_...", copied) this edge gave the central it uplinks to: its RTSP
 * client, reading this instance's cameras through the uplink, is admitted as an instance
 * (fleet/uplink.h). */
void vg_auth_set_uplink_token(vg_auth_t *a, const char *token);
/* Re-reads the JWKS file (SIGHUP); the old keys stay when it does not load. 0 or < 0. */
int vg_auth_reload(vg_auth_t *a);

/* The caller of a request the gate let through (never NULL on a non-public route). */
const vg_principal_t *vg_auth_caller(const vg_conn_t *c);
/* Takes a fresh access snapshot (read by the store thread after a change) and re-judges
 * every open stream against it. */
void vg_auth_set_access(vg_auth_t *a, vg_access_t *snap);
/* Whether the configuration has camera id (enabled or not). */
bool vg_auth_camera_exists(vg_auth_t *a, const char *camera_id);
/* The client's address (the peer, or X-Forwarded-For from a trusted proxy). */
void vg_auth_client_ip(vg_auth_t *a, vg_conn_t *c, char *out, size_t len);
/* The same for the audit log: "ip:port" of a direct peer, the forwarded address otherwise. */
void vg_auth_audit_peer(vg_auth_t *a, vg_conn_t *c, char *out, size_t len);

/* Whether p may see camera_id (admins: always, even unknown ids: the handler says 404). */
bool vg_auth_can_see(vg_auth_t *a, const vg_principal_t *p, const char *camera_id);
/* The camera ids p may see, as a new JSON array, or NULL when p sees every camera. */
json_t *vg_auth_visible(vg_auth_t *a, const vg_principal_t *p);

/* The database the handle writes to (sessions, audit), once it has its thread. */
void vg_auth_set_store(vg_auth_t *a, vg_store_async_t *store);
/* Sends the queued audit entries to the database now (they go at the next tick otherwise). */
void vg_auth_audit_flush(vg_auth_t *a);

/* Queues an audit entry for what the caller of c did (actor and peer taken from c); it is
 * written by the store thread, never waited for. */
void vg_auth_audit(vg_auth_t *a, vg_conn_t *c, const char *action, const char *target,
                   const char *outcome, const char *detail);

/* Re-checks every open camera stream on srv against the current cache, and closes those
 * whose credential no longer holds (WebSocket status 4401) or whose caller lost the camera
 * (4403 "access revoked"). vg_auth_set_access calls it; a timer does for expiries. */
void vg_auth_recheck(vg_auth_t *a, vg_server_t *srv);

/* Callers that come without HTTP (the RTSP server): a credential — an integration key or a
 * stream token, "" or NULL for none — for camera_id. Returns 0 with *out (free with
 * vg_auth_principal_free); VG_EUNAUTHORIZED when there is no credential or it is not valid
 * (answer 401); VG_ENOENT when the camera does not exist or the caller may not see it (404:
 * the same answer for both, as on every other output). With --no-auth everyone is admitted. */
int vg_auth_stream_admit(vg_auth_t *a, const char *credential, const char *camera_id,
                         vg_principal_t **out);
/* Whether p's credential still holds now and still sees camera_id (a revoked or expired key,
 * a removed grant, a deleted camera: false). Updates p's role and tenant. */
bool vg_auth_stream_holds(vg_auth_t *a, vg_principal_t *p, const char *camera_id);
void vg_auth_principal_free(vg_principal_t *p);
/* Queues an audit entry for what p did from peer ("ip:port"). */
void vg_auth_audit_as(vg_auth_t *a, const vg_principal_t *p, const char *peer,
                      const char *action, const char *target, const char *outcome,
                      const char *detail);

/* Stream tokens: "<camera>.<expiry>.<user>.<mac>", HMAC-SHA-256 over the first three parts
 * and the user's auth epoch, with the token key: a new password or a disable (which bump
 * the epoch) ends every token of the user. vg_auth_token_make is for tests and the route. */
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
