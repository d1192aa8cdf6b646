/* auth: the gate, callers, visibility, CSRF and Origin checks, stream tokens (see auth.h).
 * Login, logout and the session routes are in session.c. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

vg_role_t vg_role_parse(const char *name)
{
    if (name == NULL)
        return VG_ROLE_NONE;
    if (strcmp(name, "admin") == 0)
        return VG_ROLE_ADMIN;
    if (strcmp(name, "operator") == 0)
        return VG_ROLE_OPERATOR;
    if (strcmp(name, "viewer") == 0)
        return VG_ROLE_VIEWER;
    return VG_ROLE_NONE;
}

const char *vg_role_name(vg_role_t role)
{
    switch (role) {
    case VG_ROLE_ADMIN: return "admin";
    case VG_ROLE_OPERATOR: return "operator";
    case VG_ROLE_VIEWER: return "viewer";
    default: return "none";
    }
}

int vg_auth_new(vg_auth_t **out, const vg_auth_cfg_t *cfg, char *err, size_t err_len)
{
    vg_auth_t *a = vg_xcalloc(1, sizeof(*a));
    a->loop = cfg->loop;
    a->store = cfg->store;
    a->is_open = cfg->is_open;
    a->session_ttl_s = cfg->session_ttl_s > 0 ? cfg->session_ttl_s : 12 * 3600;
    for (size_t i = 0; cfg->allowed_origins && cfg->allowed_origins[i]; i++) {
        if (a->origin_count < VG_AUTH_MAX_ORIGINS)
            a->origins[a->origin_count++] = vg_xstrdup(cfg->allowed_origins[i]);
    }
    vg_store_err_t serr;
    a->key = sodium_malloc(VG_AUTH_KEY_LEN);
    if (a->key == NULL || vg_store_token_key(a->store, a->key, &serr) < 0) {
        snprintf(err, err_len, "cannot read the token key from the database: %s",
                 a->key ? serr.message : "out of memory");
        goto fail;
    }
    if (cfg->jwt && vg_jwt_new(&a->jwt, cfg->jwt, err, err_len) < 0)
        goto fail;
    vg__auth_session_init(a);
    *out = a;
    return 0;
fail:
    vg_auth_free(&a);
    return VG_EINVAL;
}

void vg_auth_free(vg_auth_t **ap)
{
    vg_auth_t *a = *ap;
    if (a == NULL)
        return;
    *ap = NULL;
    vg__auth_session_deinit(a);
    vg_jwt_free(&a->jwt);
    if (a->key)
        sodium_free(a->key);
    for (int i = 0; i < a->origin_count; i++)
        free(a->origins[i]);
    free(a);
}


int vg_auth_reload(vg_auth_t *a)
{
    char err[256];
    if (a->jwt == NULL)
        return 0;
    if (vg_jwt_reload(a->jwt, err, sizeof(err)) < 0) {
        VG_LOG_ERROR("auth", "JWKS reload: %s (the old keys stay)", err);
        return VG_EINVAL;
    }
    VG_LOG_INFO("auth", "JWKS reloaded");
    return 0;
}

const vg_principal_t *vg_auth_caller(const vg_conn_t *c) { return vg_conn_principal(c); }

static void principal_free(void *p)
{
    vg_principal_t *pr = p;
    if (pr == NULL)
        return;
    json_decref(pr->cameras);
    sodium_memzero(pr, sizeof(*pr));
    free(pr);
}

/* ---- visibility ---- */

static bool list_has(json_t *list, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
            return true;
    }
    return false;
}

bool vg_auth_can_see(vg_auth_t *a, const vg_principal_t *p, const char *camera_id)
{
    if (p == NULL || camera_id == NULL)
        return false;
    if (p->role == VG_ROLE_ADMIN)
        return true;
    if (p->cameras && list_has(p->cameras, camera_id))
        return true;
    bool is_visible = false;
    vg_store_err_t err;
    if (vg_store_camera_visible(a->store, p->user_id[0] ? p->user_id : NULL,
                                p->tenant_id[0] ? p->tenant_id : NULL, camera_id, &is_visible,
                                &err) < 0) {
        VG_LOG_ERROR("auth", "visibility of camera %s: %s (refused)", camera_id, err.message);
        return false;
    }
    return is_visible;
}

json_t *vg_auth_visible(vg_auth_t *a, const vg_principal_t *p)
{
    if (p == NULL)
        return json_array();
    if (p->role == VG_ROLE_ADMIN)
        return NULL;
    json_t *ids = NULL;
    vg_store_err_t err;
    if (vg_store_visible_cameras(a->store, p->user_id[0] ? p->user_id : NULL,
                                 p->tenant_id[0] ? p->tenant_id : NULL, &ids, &err) < 0) {
        VG_LOG_ERROR("auth", "visible cameras: %s (showing none)", err.message);
        ids = json_array();
    }
    size_t i;
    json_t *v;
    json_array_foreach(p->cameras, i, v)
    {
        if (json_is_string(v) && !list_has(ids, json_string_value(v)))
            json_array_append(ids, v);
    }
    return ids;
}

/* Whether the configuration has camera id (enabled or not): an admin asking for one that
 * does not exist gets the same 404, from the same place, as anybody else. */
static bool camera_exists(vg_auth_t *a, const char *id)
{
    json_t *rec = NULL;
    vg_store_err_t err;
    bool exists = id && vg_store_get(a->store, "cameras", id, &rec, &err) == 0;
    json_decref(rec);
    return exists;
}

/* ---- callers ---- */

/* Fills p from the vigil user user_id. false when there is no such enabled user. */
static bool load_user(vg_auth_t *a, const char *user_id, vg_principal_t *p)
{
    vg_store_login_t u;
    vg_store_err_t err;
    bool is_ok = vg_store_user_login(a->store, user_id, &u, &err) == 0 && u.is_enabled &&
                 vg_role_parse(u.role) != VG_ROLE_NONE;
    if (is_ok) {
        p->role = vg_role_parse(u.role);
        vg_strlcpy(p->user_id, user_id, sizeof(p->user_id));
        vg_strlcpy(p->tenant_id, u.tenant_id, sizeof(p->tenant_id));
        vg_strlcpy(p->actor, user_id, sizeof(p->actor));
    }
    sodium_memzero(&u, sizeof(u));
    return is_ok;
}

static const char *claim_str(json_t *claims, json_t *meta, const char *name)
{
    const char *v = json_string_value(json_object_get(meta, name));
    return v ? v : json_string_value(json_object_get(claims, name));
}

/* A JWT's claims as a caller: "sub" naming a vigil user is that user; otherwise the claims
 * must carry a vigil role (and may carry a tenant and a camera list), at the top level or
 * under "app_metadata" as Supabase issues custom claims. A top-level "role" that is not a
 * vigil role (Supabase's "authenticated") is ignored. */
static int principal_from_claims(vg_auth_t *a, json_t *claims, vg_principal_t *p,
                                 char *why, size_t why_len)
{
    json_t *meta = json_object_get(claims, "app_metadata");
    if (!json_is_object(meta))
        meta = NULL;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (sub && vg_slug_is_valid(sub) && load_user(a, sub, p))
        return 0;
    vg_role_t role = vg_role_parse(claim_str(claims, meta, "role"));
    if (role == VG_ROLE_NONE) {
        snprintf(why, why_len, "the token names no vigil user and carries no vigil role");
        return VG_EINVAL;
    }
    p->role = role;
    const char *tenant = claim_str(claims, meta, "tenant");
    if (tenant && vg_slug_is_valid(tenant))
        vg_strlcpy(p->tenant_id, tenant, sizeof(p->tenant_id));
    json_t *cams = json_object_get(meta, "cameras");
    if (cams == NULL)
        cams = json_object_get(claims, "cameras");
    if (json_is_array(cams))
        p->cameras = json_incref(cams);
    snprintf(p->actor, sizeof(p->actor), "jwt:%.80s", sub ? sub : "?");
    return 0;
}

/* ---- stream tokens ---- */

static void token_mac(const vg_auth_t *a, const char *msg, size_t len,
                      uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, a->key, VG_AUTH_KEY_LEN);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"vigil-stream-token-v1:", 22);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg, len);
    crypto_auth_hmacsha256_final(&st, mac);
}

int vg_auth_token_make(vg_auth_t *a, const char *camera_id, const char *user_id,
                       int64_t expires_s, char out[VG_STREAM_TOKEN_MAX])
{
    if (!vg_slug_is_valid(camera_id) || !vg_slug_is_valid(user_id))
        return VG_EINVAL;
    int n = snprintf(out, VG_STREAM_TOKEN_MAX, "%s.%lld.%s", camera_id, (long long)expires_s,
                     user_id);
    if (n < 0 || n + 1 + 44 >= VG_STREAM_TOKEN_MAX)
        return VG_EINVAL;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    token_mac(a, out, (size_t)n, mac);
    out[n] = '.';
    sodium_bin2base64(out + n + 1, VG_STREAM_TOKEN_MAX - (size_t)n - 1, mac, sizeof(mac),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

int vg_auth_token_check(vg_auth_t *a, const char *token, const char *camera_id,
                        char user_id[64])
{
    user_id[0] = '\0';
    const char *mac_dot = strrchr(token, '.');
    if (mac_dot == NULL || (size_t)(mac_dot - token) >= VG_STREAM_TOKEN_MAX)
        return VG_EINVAL;
    char signed_part[VG_STREAM_TOKEN_MAX];
    size_t signed_len = (size_t)(mac_dot - token);
    memcpy(signed_part, token, signed_len);
    signed_part[signed_len] = '\0';
    uint8_t want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    size_t got_len = 0;
    if (sodium_base642bin(got, sizeof(got), mac_dot + 1, strlen(mac_dot + 1), NULL, &got_len,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got_len != sizeof(got))
        return VG_EINVAL;
    /* Only the one spelling we write: libsodium's decoder takes some bytes outside the
     * alphabet (found by fuzz_token), and a token must not have several spellings. */
    char canonical[64];
    sodium_bin2base64(canonical, sizeof(canonical), got, sizeof(got),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (strcmp(canonical, mac_dot + 1) != 0)
        return VG_EINVAL;
    token_mac(a, signed_part, signed_len, want);
    if (sodium_memcmp(want, got, sizeof(want)) != 0)
        return VG_EINVAL;
    /* Signed by us: the parts are what vg_auth_token_make wrote. */
    char *cam = signed_part, *exp = strchr(cam, '.'), *user = exp ? strchr(exp + 1, '.') : NULL;
    if (user == NULL)
        return VG_EINVAL;
    *exp++ = '\0';
    *user++ = '\0';
    long long expires;
    if (vg_parse_int(exp, 0, 100000000000LL, &expires) < 0 || expires * 1000000LL <= vg_wall_us())
        return VG_ETIMEDOUT;
    if (strcmp(cam, camera_id) != 0)
        return VG_ENOENT;
    return vg_strlcpy(user_id, user, 64) ? 0 : VG_EINVAL;
}

/* A stream token's caller: the user it names, who must still exist. Visibility is checked
 * afterwards like any caller's, which is what revokes a token when its grant goes. */
static int principal_from_token(vg_auth_t *a, const char *token, const char *camera_id,
                                vg_principal_t *p)
{
    char user[64];
    int rc = vg_auth_token_check(a, token, camera_id, user);
    if (rc < 0)
        return rc;
    if (!load_user(a, user, p))
        return VG_EINVAL;
    p->via = VG_VIA_TOKEN;
    return 0;
}

/* ---- CSRF and Origin ---- */

void vg__auth_csrf_token(const vg_auth_t *a, const uint8_t session_hash[VG_SESSION_HASH_LEN],
                         char out[VG_AUTH_CSRF_LEN])
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, a->key, VG_AUTH_KEY_LEN);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"vigil-csrf-v1:", 14);
    crypto_auth_hmacsha256_update(&st, session_hash, VG_SESSION_HASH_LEN);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2base64(out, VG_AUTH_CSRF_LEN, mac, sizeof(mac),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The synchronizer token of the caller's session, in the X-CSRF-Token header, compared in
 * constant time. */
static bool csrf_ok(vg_auth_t *a, vg_conn_t *c, const vg_principal_t *p)
{
    char want[VG_AUTH_CSRF_LEN], got[VG_AUTH_CSRF_LEN];
    if (vg_conn_header(c, "x-csrf-token", got, sizeof(got)) < 0)
        return false;
    vg__auth_csrf_token(a, p->session_hash, want);
    size_t n = strlen(want);
    return strlen(got) == n && sodium_memcmp(want, got, n) == 0;
}

static bool is_safe_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0;
}

/* A browser always sends Origin on a WebSocket upgrade; a page of another site may open one
 * to us and the browser would add our cookie. So an upgrade with an Origin must come from
 * this server's own origin (scheme, host and port as the Host header says) or a configured
 * one. Clients that are not browsers send no Origin and cannot be forged this way. */
static bool origin_ok(vg_auth_t *a, vg_conn_t *c)
{
    char origin[256], host[256], own[300];
    int n = vg_conn_header(c, "origin", origin, sizeof(origin));
    if (n == VG_ENOENT)
        return true;
    if (n < 0)
        return false;
    for (int i = 0; i < a->origin_count; i++) {
        if (strcasecmp(origin, a->origins[i]) == 0)
            return true;
    }
    if (vg_conn_header(c, "host", host, sizeof(host)) < 0)
        return false;
    snprintf(own, sizeof(own), "%s://%s", vg_conn_is_tls(c) ? "https" : "http", host);
    return strcasecmp(origin, own) == 0;
}

/* ---- the gate ---- */

static void deny(vg_gate_verdict_t *v, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void deny(vg_gate_verdict_t *v, int status, const char *code, const char *fmt, ...)
{
    v->status = status;
    v->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
    if (status == 401)
        v->www_authenticate = "Bearer realm=\"vigil\"";
}

/* Who c is: 0 with *out set, 0 with *out NULL for nobody, or < 0 after filling v (a
 * credential was given and is wrong: that is refused, never read as anonymous). */
static int identify(vg_auth_t *a, vg_conn_t *c, unsigned access, const char *const *params,
                    vg_principal_t **out, vg_gate_verdict_t *v)
{
    *out = NULL;
    vg_principal_t *p = vg_xcalloc(1, sizeof(*p));
    char buf[8192];
    int n = vg_conn_header(c, "authorization", buf, sizeof(buf));
    if (n != VG_ENOENT) {
        if (n < 0 || strncasecmp(buf, "Bearer ", 7) != 0) {
            deny(v, 401, "unauthorized", "Authorization must be \"Bearer <JWT>\"");
            goto refused;
        }
        if (a->jwt == NULL) {
            deny(v, 401, "unauthorized", "this server takes no bearer tokens (no JWT key set)");
            goto refused;
        }
        json_t *claims = NULL;
        char why[128];
        if (vg_jwt_verify(a->jwt, buf + 7, vg_wall_us() / 1000000, &claims, why,
                          sizeof(why)) < 0 ||
            principal_from_claims(a, claims, p, why, sizeof(why)) < 0) {
            json_decref(claims);
            VG_LOG_INFO("auth", "peer=%s bearer token refused: %s", vg_conn_peer(c), why);
            deny(v, 401, "invalid_token", "bearer token refused: %s", why);
            goto refused;
        }
        json_decref(claims);
        p->via = VG_VIA_JWT;
        *out = p;
        return 0;
    }
    n = vg_conn_cookie(c, VG_AUTH_COOKIE, buf, sizeof(buf));
    if (n > 0) {
        char user[64];
        vg_store_err_t err;
        crypto_generichash(p->session_hash, VG_SESSION_HASH_LEN, (const uint8_t *)buf,
                           (size_t)n, NULL, 0);
        if (vg_store_session_user(a->store, p->session_hash, vg_wall_us(), user, &err) == 0 &&
            load_user(a, user, p)) {
            p->via = VG_VIA_SESSION;
            *out = p;
            return 0;
        }
        /* An ended session is as good as none: the login page follows. */
        memset(p->session_hash, 0, sizeof(p->session_hash));
    }
    if ((access & VG_ACCESS_TOKEN) && params[0] &&
        (n = vg_conn_query(c, "token", buf, VG_STREAM_TOKEN_MAX)) != VG_ENOENT) {
        int rc = n < 0 ? VG_EINVAL : principal_from_token(a, buf, params[0], p);
        if (rc == VG_ENOENT) {
            deny(v, 404, "not_found", "no camera '%s'", params[0]);
            goto refused;
        }
        if (rc < 0) {
            deny(v, 401, "invalid_token", "the stream token is %s",
                 rc == VG_ETIMEDOUT ? "expired" : "not valid");
            goto refused;
        }
        *out = p;
        return 0;
    }
    principal_free(p);
    return 0;
refused:
    principal_free(p);
    return VG_EINVAL;
}

static void gate(vg_conn_t *c, unsigned access, const char *const *params, bool is_upgrade,
                 vg_gate_verdict_t *v, void *user)
{
    vg_auth_t *a = user;
    vg_principal_t *p = NULL;
    if (a->is_open) {
        /* One caller for every request; handlers only read it, and nothing frees it. */
        static const vg_principal_t everyone = {.via = VG_VIA_OPEN, .role = VG_ROLE_ADMIN,
                                                .actor = "open"};
        vg_conn_set_principal(c, (void *)&everyone, NULL);
        return;
    }
    if ((access & VG_ACCESS_ROLE_MASK) == VG_ACCESS_PUBLIC && !(access & VG_ACCESS_CAMERA))
        return; /* nothing to check, and a stale cookie must not stand in the way of login */
    if (identify(a, c, access, params, &p, v) < 0)
        return;
    if (p == NULL) {
        deny(v, 401, "unauthorized", "sign in first (session cookie or bearer token)");
        return;
    }
    vg_conn_set_principal(c, p, principal_free);
    if (p->via == VG_VIA_SESSION && !is_safe_method(vg_conn_method(c)) && !csrf_ok(a, c, p)) {
        deny(v, 403, "csrf", "missing or wrong X-CSRF-Token for this session");
        return;
    }
    if (is_upgrade && !origin_ok(a, c)) {
        deny(v, 403, "bad_origin", "WebSocket from a foreign origin refused");
        return;
    }
    if ((access & VG_ACCESS_CAMERA) && !(p->role == VG_ROLE_ADMIN
                                             ? camera_exists(a, params[0])
                                             : vg_auth_can_see(a, p, params[0]))) {
        deny(v, 404, "not_found", "no camera '%s'", params[0] ? params[0] : "");
        return;
    }
    if ((int)p->role < (int)(access & VG_ACCESS_ROLE_MASK)) {
        deny(v, 403, "forbidden", "this needs the %s role; you are %s",
             vg_role_name((vg_role_t)(access & VG_ACCESS_ROLE_MASK)), vg_role_name(p->role));
        return;
    }
}

/* ---- audit, recheck ---- */

void vg_auth_audit(vg_auth_t *a, vg_conn_t *c, const char *action, const char *target,
                   const char *outcome, const char *detail)
{
    const vg_principal_t *p = c ? vg_auth_caller(c) : NULL;
    vg_audit_entry_t e = {
        .actor = p ? p->actor : "-",
        .action = action,
        .target = target,
        .outcome = outcome,
        .detail = detail,
        .peer = c ? vg_conn_peer(c) : NULL,
    };
    vg_store_err_t err;
    if (vg_store_audit(a->store, &e, &err) < 0)
        VG_LOG_ERROR("auth", "audit entry %s %s lost: %s", action, target ? target : "",
                     err.message);
}

static void recheck_viewer(vg_conn_t *c, void *arg)
{
    vg_auth_t *a = arg;
    const vg_principal_t *p = vg_auth_caller(c);
    if (p == NULL || !(vg_conn_access(c) & VG_ACCESS_CAMERA))
        return;
    const char *cam = vg_conn_param(c, 0);
    if (vg_auth_can_see(a, p, cam))
        return;
    VG_LOG_INFO("auth", "peer=%s %s lost camera %s: closing its stream", vg_conn_peer(c),
                p->actor, cam);
    vg_conn_close(c, 4403, "access revoked");
}

void vg_auth_recheck(vg_auth_t *a, vg_server_t *srv)
{
    if (!a->is_open)
        vg_server_each_viewer(srv, recheck_viewer, a);
}

void vg_auth_register(vg_auth_t *a, vg_server_t *srv)
{
    vg_server_set_gate(srv, gate, a);
    vg__auth_session_register(a, srv);
}
