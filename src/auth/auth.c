/* auth: the gate, callers, visibility, CSRF and Origin checks, integration keys, and the
 * re-checking of open streams (see auth.h). Login, logout and the session routes are in
 * session.c, stream tokens in token.c, the audit queue in audit.c.
 *
 * Every decision reads the loop's cache (cache.h), never the database: a locked or slow
 * database cannot stall a request or a stream. A caller's principal keeps only the
 * credential it came with (session hash, key hash, token expiry, JWT claims); who that
 * credential stands for, with which role and tenant, and whether it still holds are
 * resolved again from the cache at every request and every re-check (resolve()). A store
 * change re-judges every open stream at once (vg_auth_set_access), and a 250 ms tick closes
 * streams whose credential expired, so access ends within a second of its cause. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys.h"
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


#define TICK_MS 250

static void on_tick(uv_timer_t *t);

int vg_auth_new(vg_auth_t **out, const vg_auth_cfg_t *cfg, char *err, size_t err_len)
{
    vg_auth_t *a = vg_xcalloc(1, sizeof(*a));
    a->loop = cfg->loop;
    a->store = cfg->store;
    a->is_open = cfg->is_open;
    a->session_ttl_s = cfg->session_ttl_s > 0 ? cfg->session_ttl_s : 12 * 3600;
    a->cache = vg_access_cache_new();
    for (size_t i = 0; cfg->allowed_origins && cfg->allowed_origins[i]; i++) {
        if (a->origin_count < VG_AUTH_MAX_ORIGINS)
            a->origins[a->origin_count++] = vg_xstrdup(cfg->allowed_origins[i]);
    }
    for (size_t i = 0; cfg->trusted_proxies && cfg->trusted_proxies[i]; i++) {
        if (a->proxy_count == VG_PROXY_MAX) {
            snprintf(err, err_len, "at most %d trusted proxies", VG_PROXY_MAX);
            goto fail;
        }
        if (vg_cidr_parse(cfg->trusted_proxies[i], &a->proxies[a->proxy_count]) < 0) {
            snprintf(err, err_len, "trusted proxy '%s': not an address or CIDR (10.0.0.0/8)",
                     cfg->trusted_proxies[i]);
            goto fail;
        }
        a->proxy_count++;
    }
    a->token_key = sodium_malloc(VG_AUTH_KEY_LEN);
    a->csrf_key = sodium_malloc(VG_AUTH_KEY_LEN);
    if (a->token_key == NULL || a->csrf_key == NULL) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    if (cfg->token_key)
        memcpy(a->token_key, cfg->token_key, VG_AUTH_KEY_LEN);
    else
        randombytes_buf(a->token_key, VG_AUTH_KEY_LEN);
    if (cfg->csrf_key)
        memcpy(a->csrf_key, cfg->csrf_key, VG_AUTH_KEY_LEN);
    else
        randombytes_buf(a->csrf_key, VG_AUTH_KEY_LEN);
    if (cfg->instance_key) {
        if ((a->instance_key = sodium_malloc(VG_AUTH_KEY_LEN)) == NULL) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
        memcpy(a->instance_key, cfg->instance_key, VG_AUTH_KEY_LEN);
    }
    if (cfg->jwt && vg_jwt_new(&a->jwt, cfg->jwt, err, err_len) < 0)
        goto fail;
    a->jwt_leeway_s = cfg->jwt ? cfg->jwt->leeway_s : 0;
    vg__auth_session_init(a);
    *out = a;
    return 0;
fail:
    vg_auth_free(&a);
    return VG_EINVAL;
}

static void auth_release(vg_auth_t *a)
{
    vg__auth_session_deinit(a);
    vg_jwt_free(&a->jwt);
    if (a->token_key)
        sodium_free(a->token_key);
    if (a->csrf_key)
        sodium_free(a->csrf_key);
    if (a->instance_key)
        sodium_free(a->instance_key);
    for (int i = 0; i < a->origin_count; i++)
        free(a->origins[i]);
    vg__auth_audit_free(a);
    vg_access_cache_free(&a->cache);
    free(a);
}

static void on_tick_closed(uv_handle_t *h) { auth_release(h->data); }

void vg_auth_free(vg_auth_t **ap)
{
    vg_auth_t *a = *ap;
    if (a == NULL)
        return;
    *ap = NULL;
    if (a->is_tick_started)
        uv_close((uv_handle_t *)&a->tick, on_tick_closed);
    else
        auth_release(a);
}

void vg_auth_set_uplink_token(vg_auth_t *a, const char *token)
{
    vg_strlcpy(a->uplink_token, token ? token : "", sizeof(a->uplink_token));
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

void vg_auth_client_ip(vg_auth_t *a, vg_conn_t *c, char *out, size_t len)
{
    char xff[512];
    bool has_xff = a->proxy_count > 0 && vg_conn_header(c, "x-forwarded-for", xff, sizeof(xff)) > 0;
    vg_client_ip(a->proxies, a->proxy_count, vg_conn_peer_ip(c), has_xff ? xff : NULL, out, len);
}

void vg_auth_audit_peer(vg_auth_t *a, vg_conn_t *c, char *out, size_t len)
{
    vg_auth_client_ip(a, c, out, len);
    if (strcmp(out, vg_conn_peer_ip(c)) == 0)
        vg_strlcpy(out, vg_conn_peer(c), len);
}

/* ---- who a credential stands for, now ---- */

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

/* The enabled user id with a valid role, or NULL. */
static const vg_access_user_t *live_user(vg_auth_t *a, const char *id)
{
    const vg_access_user_t *u = vg_access_cache_user(a->cache, id);
    return u && u->is_enabled && vg_role_parse(u->role) != VG_ROLE_NONE ? u : NULL;
}

static void take_user(vg_principal_t *p, const vg_access_user_t *u)
{
    p->role = vg_role_parse(u->role);
    vg_strlcpy(p->user_id, u->id, sizeof(p->user_id));
    vg_strlcpy(p->tenant_id, u->tenant_id, sizeof(p->tenant_id));
}

/* Brings p's role and tenant up to date from the cache: 0 when its credential still holds
 * at now_us, VG_ETIMEDOUT when it expired, VG_ENOENT when it (or its user) is gone. */
static int resolve(vg_auth_t *a, vg_principal_t *p, int64_t now_us)
{
    if (p->via == VG_VIA_OPEN || p->via == VG_VIA_INSTANCE)
        return 0;
    if (p->expires_us && p->expires_us <= now_us)
        return VG_ETIMEDOUT;
    const vg_access_user_t *u = NULL;
    switch (p->via) {
    case VG_VIA_SESSION: {
        const vg_access_session_t *s = vg_access_cache_session(a->cache, p->session_hash, now_us);
        if (s == NULL || strcmp(s->user_id, p->user_id) != 0)
            return VG_ENOENT;
        u = live_user(a, s->user_id);
        break;
    }
    case VG_VIA_KEY: {
        const vg_access_key_t *k = vg_access_cache_key(a->cache, p->key_hash, now_us);
        if (k == NULL)
            return VG_ENOENT;
        u = live_user(a, k->user_id);
        if (u == NULL)
            return VG_ENOENT;
        take_user(p, u);
        /* At most the key's own role, and never above its user's. */
        vg_role_t key_role = vg_role_parse(k->role);
        if (key_role < p->role)
            p->role = key_role;
        json_decref(p->cameras);
        p->cameras = k->cameras ? json_incref(k->cameras) : NULL;
        return p->role == VG_ROLE_NONE ? VG_ENOENT : 0;
    }
    case VG_VIA_TOKEN:
        u = live_user(a, p->user_id);
        if (u && u->auth_epoch != p->token_epoch)
            return VG_ENOENT; /* a new password (or a disable) since it was signed */
        break;
    case VG_VIA_JWT:
        if (p->user_id[0] == '\0') { /* claims that stand for themselves */
            p->role = p->claim_role;
            return 0;
        }
        u = live_user(a, p->user_id);
        break;
    default: return VG_ENOENT;
    }
    if (u == NULL)
        return VG_ENOENT;
    take_user(p, u);
    return 0;
}

/* ---- visibility ---- */

/* Whether the grants (not the caller's role) give p the camera. */
static bool granted(vg_auth_t *a, const vg_principal_t *p, const char *camera_id)
{
    return vg_access_cache_visible(a->cache, p->user_id[0] ? p->user_id : NULL,
                                   p->tenant_id[0] ? p->tenant_id : NULL, camera_id);
}

bool vg_auth_can_see(vg_auth_t *a, const vg_principal_t *p, const char *camera_id)
{
    if (p == NULL || camera_id == NULL)
        return false;
    if (p->via == VG_VIA_KEY) {
        /* A key sees what its user sees, narrowed to its own list when it has one. */
        if (p->cameras && !list_has(p->cameras, camera_id))
            return false;
        const vg_access_user_t *u = vg_access_cache_user(a->cache, p->user_id);
        return (u && vg_role_parse(u->role) == VG_ROLE_ADMIN) || granted(a, p, camera_id);
    }
    if (p->role == VG_ROLE_ADMIN)
        return true;
    if (p->cameras && list_has(p->cameras, camera_id))
        return true;
    return granted(a, p, camera_id);
}

json_t *vg_auth_visible(vg_auth_t *a, const vg_principal_t *p)
{
    if (p == NULL)
        return json_array();
    bool is_admin_user = false;
    if (p->via == VG_VIA_KEY) {
        const vg_access_user_t *u = vg_access_cache_user(a->cache, p->user_id);
        is_admin_user = u && vg_role_parse(u->role) == VG_ROLE_ADMIN;
        if (is_admin_user && p->cameras == NULL)
            return NULL;
    } else if (p->role == VG_ROLE_ADMIN) {
        return NULL;
    }
    json_t *ids = vg_access_cache_visible_list(a->cache, p->user_id[0] ? p->user_id : NULL,
                                               p->tenant_id[0] ? p->tenant_id : NULL);
    size_t i;
    json_t *v;
    if (p->via == VG_VIA_KEY && p->cameras == NULL)
        return ids; /* the user's own view */
    if (p->via == VG_VIA_KEY) {
        json_t *out = json_array();
        json_array_foreach(p->cameras, i, v)
        {
            const char *id = json_string_value(v);
            if (id && vg_auth_camera_exists(a, id) && (is_admin_user || list_has(ids, id)) &&
                !list_has(out, id))
                json_array_append(out, v);
        }
        json_decref(ids);
        return out;
    }
    json_array_foreach(p->cameras, i, v)
    {
        if (json_is_string(v) && !list_has(ids, json_string_value(v)))
            json_array_append(ids, v);
    }
    return ids;
}

bool vg_auth_camera_exists(vg_auth_t *a, const char *id)
{
    return vg_access_cache_camera(a->cache, id) != NULL;
}

/* ---- callers ---- */

static const char *claim_str(json_t *claims, json_t *meta, const char *name)
{
    const char *v = json_string_value(json_object_get(meta, name));
    return v ? v : json_string_value(json_object_get(claims, name));
}

/* A JWT's claims as a caller: "sub" naming a vigil user is that user, bound by that user's
 * state (a disabled or deleted user's tokens are refused whatever role they claim);
 * otherwise the claims must carry a vigil role (and may carry a tenant and a camera list),
 * at the top level or under "app_metadata" as Supabase issues custom claims. A top-level
 * "role" that is not a vigil role (Supabase's "authenticated") is ignored. */
static int principal_from_claims(vg_auth_t *a, json_t *claims, vg_principal_t *p,
                                 char *why, size_t why_len)
{
    json_t *meta = json_object_get(claims, "app_metadata");
    if (!json_is_object(meta))
        meta = NULL;
    json_t *exp = json_object_get(claims, "exp");
    /* The leeway the verifier allowed on exp holds for the stream too: a token it took is
     * not then refused, or closed, for the same few seconds of skew. */
    int64_t leeway_us = (int64_t)a->jwt_leeway_s * 1000000;
    if (json_is_integer(exp) && json_integer_value(exp) > 0 &&
        json_integer_value(exp) < (json_int_t)(INT64_MAX / 2000000))
        p->expires_us = (int64_t)json_integer_value(exp) * 1000000 + leeway_us;
    else if (json_is_real(exp) && json_real_value(exp) > 0 && json_real_value(exp) < 1e12)
        p->expires_us = (int64_t)(json_real_value(exp) * 1e6) + leeway_us;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (sub && vg_slug_is_valid(sub) && vg_access_cache_user(a->cache, sub)) {
        if (live_user(a, sub) == NULL) {
            snprintf(why, why_len, "its user is disabled");
            return VG_EINVAL;
        }
        vg_strlcpy(p->user_id, sub, sizeof(p->user_id));
        vg_strlcpy(p->actor, sub, sizeof(p->actor));
        return 0;
    }
    vg_role_t role = vg_role_parse(claim_str(claims, meta, "role"));
    if (role == VG_ROLE_NONE) {
        snprintf(why, why_len, "the token names no vigil user and carries no vigil role");
        return VG_EINVAL;
    }
    p->claim_role = role;
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

/* A stream token's caller: the user it names, who must still be enabled (and whose epoch
 * the token was signed with). Visibility is checked afterwards like any caller's. */
static int principal_from_token(vg_auth_t *a, const char *token, const char *camera_id,
                                vg_principal_t *p)
{
    char user[64];
    int rc = vg__auth_token_check(a, token, camera_id, user, &p->expires_us);
    if (rc < 0)
        return rc;
    vg_strlcpy(p->user_id, user, sizeof(p->user_id));
    vg_strlcpy(p->actor, user, sizeof(p->actor));
    p->via = VG_VIA_TOKEN;
    p->token_epoch = vg__auth_user_epoch(a, user);
    return resolve(a, p, vg_wall_us()) < 0 ? VG_EINVAL : 0;
}

/* An integration key's caller. */
static int principal_from_key(vg_auth_t *a, const char *key, vg_principal_t *p)
{
    vg_api_key_hash(key, strlen(key), p->key_hash);
    const vg_access_key_t *k = vg_access_cache_key(a->cache, p->key_hash, vg_wall_us());
    if (k == NULL)
        return VG_EINVAL;
    p->via = VG_VIA_KEY;
    vg_strlcpy(p->key_id, k->id, sizeof(p->key_id));
    p->expires_us = k->expires_us;
    snprintf(p->actor, sizeof(p->actor), "key:%.60s", k->id);
    if (resolve(a, p, vg_wall_us()) < 0)
        return VG_EINVAL;
    /* Noted, with its last use, by the next audit flush. */
    for (size_t i = 0; i < a->used_key_count; i++) {
        if (strcmp(a->used_keys[i], p->key_id) == 0)
            return 0;
    }
    if (a->used_key_count < 256) {
        a->used_keys = vg_xrealloc(a->used_keys, (a->used_key_count + 1) * sizeof(*a->used_keys));
        vg_strlcpy(a->used_keys[a->used_key_count++], p->key_id, 64);
    }
    return 0;
}

/* ---- CSRF and Origin ---- */

void vg__auth_csrf_token(const vg_auth_t *a, const uint8_t session_hash[VG_SESSION_HASH_LEN],
                         char out[VG_AUTH_CSRF_LEN])
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, a->csrf_key, VG_AUTH_KEY_LEN);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"vigil-csrf-v2:", 14);
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
    int64_t now = vg_wall_us();
    int n = vg_conn_header(c, "authorization", buf, sizeof(buf));
    if (n != VG_ENOENT) {
        if (n < 0 || strncasecmp(buf, "Bearer ", 7) != 0) {
            deny(v, 401, "unauthorized", "Authorization must be \"Bearer <JWT or key>\"");
            goto refused;
        }
        if (vg_api_key_is_key(buf + 7)) {
            if (principal_from_key(a, buf + 7, p) < 0) {
                deny(v, 401, "invalid_token", "the key is not valid (revoked or expired?)");
                goto refused;
            }
            *out = p;
            return 0;
        }
        if (a->jwt == NULL) {
            deny(v, 401, "unauthorized", "this server takes no bearer JWTs (no JWT key set)");
            goto refused;
        }
        json_t *claims = NULL;
        char why[128];
        p->via = VG_VIA_JWT;
        if (vg_jwt_verify(a->jwt, buf + 7, now / 1000000, &claims, why, sizeof(why)) < 0 ||
            principal_from_claims(a, claims, p, why, sizeof(why)) < 0 ||
            (resolve(a, p, now) < 0 &&
             snprintf(why, sizeof(why), "its user is disabled or gone"))) {
            json_decref(claims);
            VG_LOG_INFO("auth", "peer=%s bearer token refused: %s", vg_conn_peer(c), why);
            deny(v, 401, "invalid_token", "bearer token refused: %s", why);
            goto refused;
        }
        json_decref(claims);
        *out = p;
        return 0;
    }
    n = vg_conn_cookie(c, VG_AUTH_COOKIE, buf, sizeof(buf));
    if (n > 0) {
        crypto_generichash(p->session_hash, VG_SESSION_HASH_LEN, (const uint8_t *)buf,
                           (size_t)n, NULL, 0);
        const vg_access_session_t *s = vg_access_cache_session(a->cache, p->session_hash, now);
        p->via = VG_VIA_SESSION;
        if (s) {
            vg_strlcpy(p->user_id, s->user_id, sizeof(p->user_id));
            vg_strlcpy(p->actor, s->user_id, sizeof(p->actor));
        }
        if (s && resolve(a, p, now) == 0) {
            *out = p;
            return 0;
        }
        /* An ended session is as good as none: the login page follows. */
        memset(p, 0, sizeof(*p));
    }
    if ((access & VG_ACCESS_TOKEN) && params[0] &&
        (n = vg_conn_query(c, "token", buf, VG_STREAM_TOKEN_MAX)) != VG_ENOENT) {
        int rc;
        if (n < 0)
            rc = VG_EINVAL;
        else if (vg_api_key_is_key(buf))
            rc = principal_from_key(a, buf, p);
        else
            rc = principal_from_token(a, buf, params[0], p);
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
        /* Without sign-in a page of any other site could still open a socket to us (a
         * browser on this machine would): upgrades keep the same-origin rule. */
        if (is_upgrade && !origin_ok(a, c)) {
            deny(v, 403, "bad_origin", "WebSocket from a foreign origin refused");
            return;
        }
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
    if (p->via == VG_VIA_KEY) {
        char ip[80];
        vg_auth_audit_peer(a, c, ip, sizeof(ip));
        vg_audit_entry_t e = {.actor = p->actor, .action = "key.use", .target = vg_conn_param(c, 0),
                              .outcome = "ok", .detail = vg_conn_method(c), .peer = ip};
        vg__auth_audit_entry(a, &e);
    }
    if (p->via == VG_VIA_SESSION && !is_safe_method(vg_conn_method(c)) && !csrf_ok(a, c, p)) {
        deny(v, 403, "csrf", "missing or wrong X-CSRF-Token for this session");
        return;
    }
    if (is_upgrade && !origin_ok(a, c)) {
        deny(v, 403, "bad_origin", "WebSocket from a foreign origin refused");
        return;
    }
    if ((access & VG_ACCESS_CAMERA) &&
        !(vg_auth_camera_exists(a, params[0]) && vg_auth_can_see(a, p, params[0]))) {
        deny(v, 404, "not_found", "no camera '%s'", params[0] ? params[0] : "");
        return;
    }
    if ((int)p->role < (int)(access & VG_ACCESS_ROLE_MASK)) {
        deny(v, 403, "forbidden", "this needs the %s role; you are %s",
             vg_role_name((vg_role_t)(access & VG_ACCESS_ROLE_MASK)), vg_role_name(p->role));
        return;
    }
}

/* ---- callers without HTTP ---- */

int vg_auth_stream_admit(vg_auth_t *a, const char *credential, const char *camera_id,
                         vg_principal_t **out)
{
    *out = NULL;
    vg_principal_t *p = vg_xcalloc(1, sizeof(*p));
    if (a->is_open) {
        *p = (vg_principal_t){.via = VG_VIA_OPEN, .role = VG_ROLE_ADMIN, .actor = "open"};
        if (!vg_auth_camera_exists(a, camera_id)) {
            principal_free(p);
            return VG_ENOENT;
        }
        *out = p;
        return 0;
    }
    int rc = VG_EUNAUTHORIZED;
    if (credential == NULL || credential[0] == '\0' || strlen(credential) >= VG_STREAM_TOKEN_MAX)
        goto refused;
    bool is_uplink = strncmp(credential, "vu_", 3) == 0;
    if (strncmp(credential, "vi_", 3) == 0 || is_uplink) {
        /* another instance relaying (store/keys.h), or the central this edge uplinks to */
        char want[VG_INSTANCE_CREDENTIAL_LEN + 1];
        bool is_instance = false;
        size_t n = strlen(credential);
        if (is_uplink) {
            is_instance = a->uplink_token[0] && n == strlen(a->uplink_token) &&
                          sodium_memcmp(a->uplink_token, credential, n) == 0;
        } else if (a->instance_key && n == VG_INSTANCE_CREDENTIAL_LEN) {
            vg_instance_credential(a->instance_key, want);
            is_instance = sodium_memcmp(want, credential, VG_INSTANCE_CREDENTIAL_LEN) == 0;
            sodium_memzero(want, sizeof(want));
        }
        if (!is_instance)
            goto refused;
        *p = (vg_principal_t){.via = VG_VIA_INSTANCE, .role = VG_ROLE_ADMIN};
        vg_strlcpy(p->actor, is_uplink ? "uplink" : "instance", sizeof(p->actor));
        if (!vg_auth_camera_exists(a, camera_id)) {
            rc = VG_ENOENT;
            goto refused;
        }
        *out = p;
        return 0;
    }
    int r = vg_api_key_is_key(credential) ? principal_from_key(a, credential, p)
                                          : principal_from_token(a, credential, camera_id, p);
    if (r < 0) {
        rc = r == VG_ENOENT ? VG_ENOENT : VG_EUNAUTHORIZED;
        goto refused;
    }
    if (p->role < VG_ROLE_VIEWER || !vg_auth_camera_exists(a, camera_id) ||
        !vg_auth_can_see(a, p, camera_id)) {
        rc = VG_ENOENT;
        goto refused;
    }
    *out = p;
    return 0;
refused:
    principal_free(p);
    return rc;
}

bool vg_auth_stream_holds(vg_auth_t *a, vg_principal_t *p, const char *camera_id)
{
    if (p == NULL)
        return false;
    if (p->via == VG_VIA_OPEN || p->via == VG_VIA_INSTANCE)
        return vg_auth_camera_exists(a, camera_id);
    return resolve(a, p, vg_wall_us()) == 0 && p->role >= VG_ROLE_VIEWER &&
           vg_auth_camera_exists(a, camera_id) && vg_auth_can_see(a, p, camera_id);
}

void vg_auth_principal_free(vg_principal_t *p) { principal_free(p); }

void vg_auth_audit_as(vg_auth_t *a, const vg_principal_t *p, const char *peer,
                      const char *action, const char *target, const char *outcome,
                      const char *detail)
{
    vg_audit_entry_t e = {.actor = p && p->actor[0] ? p->actor : "-", .action = action,
                          .target = target, .outcome = outcome, .detail = detail, .peer = peer};
    vg__auth_audit_entry(a, &e);
}

void vg_auth_set_store(vg_auth_t *a, vg_store_async_t *store) { a->store = store; }

/* ---- re-checking open streams ---- */

typedef struct recheck_ctx {
    vg_auth_t *a;
    int64_t now_us;
    bool only_expiry;
} recheck_ctx_t;

static void recheck_viewer(vg_conn_t *c, void *arg)
{
    recheck_ctx_t *x = arg;
    vg_auth_t *a = x->a;
    vg_principal_t *p = vg_conn_principal(c);
    if (p == NULL || p->via == VG_VIA_OPEN || vg_conn_is_closing(c))
        return;
    if (x->only_expiry && !(p->expires_us && p->expires_us <= x->now_us))
        return;
    const char *cam = vg_conn_param(c, 0);
    int rc = resolve(a, p, x->now_us);
    if (rc < 0) {
        const char *why = rc == VG_ETIMEDOUT ? "credential expired" : "credential revoked";
        VG_LOG_INFO("auth", "peer=%s %s: %s, closing its stream", vg_conn_peer(c), p->actor, why);
        vg_conn_close(c, 4401, why);
        return;
    }
    if (!(vg_conn_policy(c) & VG_ACCESS_CAMERA))
        return;
    if (vg_auth_camera_exists(a, cam) && vg_auth_can_see(a, p, cam))
        return;
    VG_LOG_INFO("auth", "peer=%s %s lost camera %s: closing its stream", vg_conn_peer(c),
                p->actor, cam);
    vg_conn_close(c, 4403, "access revoked");
}

void vg_auth_recheck(vg_auth_t *a, vg_server_t *srv)
{
    if (a->is_open || srv == NULL)
        return;
    recheck_ctx_t x = {.a = a, .now_us = vg_wall_us()};
    vg_server_each_viewer(srv, recheck_viewer, &x);
}

void vg_auth_set_access(vg_auth_t *a, vg_access_t *snap)
{
    vg_access_cache_set(a->cache, snap);
    vg_auth_recheck(a, a->srv);
}

static void on_tick(uv_timer_t *t)
{
    vg_auth_t *a = t->data;
    int64_t now = vg_wall_us();
    if (!a->is_open && a->srv) {
        recheck_ctx_t x = {.a = a, .now_us = now, .only_expiry = true};
        vg_server_each_viewer(a->srv, recheck_viewer, &x);
    }
    vg_access_cache_prune(a->cache, now);
    vg__auth_retry_revokes(a);
    vg__auth_audit_flush(a);
}

void vg_auth_register(vg_auth_t *a, vg_server_t *srv)
{
    a->srv = srv;
    vg_server_set_gate(srv, gate, a);
    vg__auth_session_register(a, srv);
    if (a->loop && !a->is_tick_started) {
        uv_timer_init(a->loop, &a->tick);
        a->tick.data = a;
        uv_timer_start(&a->tick, on_tick, TICK_MS, TICK_MS);
        uv_unref((uv_handle_t *)&a->tick); /* it must not keep a stopping loop alive */
        a->is_tick_started = true;
    }
}
