/* session: browser sign-in — POST /api/v1/login, POST /api/v1/logout, GET /api/v1/session —
 * the login rate limit, and stream tokens (POST /api/v1/cameras/{id}/token).
 *
 * A login checks the password (Argon2id, tens of milliseconds and 64 MiB by design) on
 * libuv's thread pool, never on the loop. A user that does not exist is checked against a
 * fixed hash of nothing anyone knows, so that a wrong name takes as long as a wrong password.
 * On success the browser gets a random 256-bit token in an HttpOnly, SameSite=Strict cookie
 * (Secure on TLS); the database keeps only a BLAKE2b hash of it. The CSRF token is an HMAC
 * of that hash (auth.c), so it need not be stored either.
 *
 * Failed logins are counted per account and per address in fixed 15-minute windows; past
 * the limit the answer is 429 with Retry-After, before any password is checked. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/secrets.h"

#define LOGIN_MAX_BODY 4096
#define TOKEN_MAX_BODY 1024
#define WINDOW_US (15LL * 60 * 1000000)
#define ACCOUNT_FAILURES 5
#define ADDRESS_FAILURES 20
#define LIMIT_SLOTS 1024
#define LOGINS_IN_FLIGHT_MAX 8 /* each holds 64 MiB while it hashes */
#define TOKEN_TTL_DEFAULT_S 300
#define TOKEN_TTL_MAX_S 3600

/* Argon2id at vigil's parameters, of a random password that was thrown away. */
static const char dummy_hash[] =
    "$argon2id$v=19$m=65536,t=2,p=1$0uIWE0r0jiC/bAMyho1EQQ$"
    "1mVZAGw0wp4aO6gQM3Pk7yjdNpFCazfWDPl6Zg/AQJE";

/* ---- rate limit ---- */

typedef struct limit_slot {
    char key[80]; /* "u:<user>" or "a:<ip>"; "" when free */
    int64_t window_start_us;
    int failures;
} limit_slot_t;

struct vg__ratelimit {
    limit_slot_t slots[LIMIT_SLOTS];
};

/* The slot for key; with may_take, a free or the stalest slot is taken for it. */
static limit_slot_t *limit_slot(vg__ratelimit_t *rl, const char *key, bool may_take)
{
    int64_t now = vg_mono_us();
    limit_slot_t *victim = NULL; /* a free slot, else the one whose window began first */
    for (int i = 0; i < LIMIT_SLOTS; i++) {
        limit_slot_t *s = &rl->slots[i];
        if (s->key[0] && now - s->window_start_us >= WINDOW_US)
            s->key[0] = '\0'; /* the window is over */
        if (s->key[0] && strcmp(s->key, key) == 0)
            return s;
        if (s->key[0] == '\0') {
            if (victim == NULL || victim->key[0])
                victim = s;
        } else if (victim == NULL ||
                   (victim->key[0] && s->window_start_us < victim->window_start_us)) {
            victim = s;
        }
    }
    if (!may_take)
        return NULL;
    vg_strlcpy(victim->key, key, sizeof(victim->key));
    victim->window_start_us = now;
    victim->failures = 0;
    return victim;
}

/* Seconds until key may try again, or 0. */
static int limit_wait_s(vg__ratelimit_t *rl, const char *key, int max_failures)
{
    limit_slot_t *s = limit_slot(rl, key, false);
    if (s == NULL || s->failures < max_failures)
        return 0;
    return (int)((s->window_start_us + WINDOW_US - vg_mono_us()) / 1000000) + 1;
}

static void limit_fail(vg__ratelimit_t *rl, const char *key)
{
    limit_slot(rl, key, true)->failures++;
}

static void limit_clear(vg__ratelimit_t *rl, const char *key)
{
    limit_slot_t *s = limit_slot(rl, key, false);
    if (s)
        s->key[0] = '\0';
}

void vg__auth_session_init(vg_auth_t *a) { a->limits = vg_xcalloc(1, sizeof(*a->limits)); }

void vg__auth_session_deinit(vg_auth_t *a)
{
    free(a->limits);
    a->limits = NULL;
}

/* ---- helpers ---- */

static void set_cookie(vg_conn_t *c, const char *token, int max_age_s)
{
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
             VG_AUTH_COOKIE, token, max_age_s, vg_conn_is_tls(c) ? "; Secure" : "");
    vg_conn_add_header(c, "set-cookie", cookie);
}

/* A login attempt for the audit log: before the attempt there is no caller on the
 * connection, so the name tried is the actor. */
static void audit_login(vg_auth_t *a, const char *user, const char *peer, const char *outcome,
                        const char *detail)
{
    vg_audit_entry_t e = {.actor = user, .action = "login", .target = user,
                          .outcome = outcome, .detail = detail, .peer = peer};
    vg_store_err_t err;
    if (vg_store_audit(a->store, &e, &err) < 0)
        VG_LOG_ERROR("auth", "audit entry for a login by %s lost: %s", user, err.message);
}

static json_t *session_doc(vg_auth_t *a, const vg_principal_t *p)
{
    static const char *const via[] = {"open", "session", "jwt", "token"};
    json_t *doc = json_pack("{s:s,s:s,s:s}", "user", p->user_id[0] ? p->user_id : p->actor,
                            "role", vg_role_name(p->role), "via", via[p->via]);
    json_object_set_new(doc, "tenant", p->tenant_id[0] ? json_string(p->tenant_id) : json_null());
    if (p->via == VG_VIA_SESSION) {
        char csrf[VG_AUTH_CSRF_LEN];
        vg__auth_csrf_token(a, p->session_hash, csrf);
        json_object_set_new(doc, "csrf_token", json_string(csrf));
    }
    return doc;
}

/* ---- login ---- */

typedef struct login_job {
    uv_work_t work;
    vg_auth_t *a;
    vg_conn_t *conn; /* NULL once the client has gone */
    char user_id[64];
    char peer_ip[48];
    char *password;  /* sodium_malloc'd */
    char hash[VG_PASSWORD_HASH_MAX];
    bool is_known, is_enabled, is_ok;
} login_job_t;

static void login_work(uv_work_t *w)
{
    login_job_t *j = w->data;
    /* Always one Argon2id verification, whatever the user: no timing tells names apart. */
    bool matches = vg_password_verify(j->is_known && j->hash[0] ? j->hash : dummy_hash,
                                      j->password);
    j->is_ok = matches && j->is_known && j->hash[0] && j->is_enabled;
}

static void login_free(login_job_t *j)
{
    if (j->password) {
        sodium_memzero(j->password, strlen(j->password));
        sodium_free(j->password);
    }
    sodium_memzero(j->hash, sizeof(j->hash));
    free(j);
}

static int login_finish(login_job_t *j)
{
    vg_auth_t *a = j->a;
    vg_conn_t *c = j->conn;
    char ukey[80], akey[80];
    snprintf(ukey, sizeof(ukey), "u:%s", j->user_id);
    snprintf(akey, sizeof(akey), "a:%s", j->peer_ip);
    const char *peer = c ? vg_conn_peer(c) : j->peer_ip;
    vg_store_err_t err;
    if (!j->is_ok) {
        limit_fail(a->limits, ukey);
        limit_fail(a->limits, akey);
        const char *why = !j->is_known     ? "no such user"
                          : !j->is_enabled ? "user disabled"
                                           : "wrong password";
        audit_login(a, j->user_id, peer, "denied", why);
        VG_LOG_INFO("auth", "peer=%s login as '%s' refused (%s)", peer, j->user_id, why);
        if (c)
            vg_conn_error(c, 401, "bad_credentials", "wrong user name or password");
        return 0;
    }
    limit_clear(a->limits, ukey);
    uint8_t raw[32];
    char token[64];
    uint8_t hash[VG_SESSION_HASH_LEN];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(token, sizeof(token), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    crypto_generichash(hash, sizeof(hash), (const uint8_t *)token, strlen(token), NULL, 0);
    int64_t now = vg_wall_us(), expires = now + (int64_t)a->session_ttl_s * 1000000;
    vg_store_sessions_purge(a->store, now, &err);
    if (vg_store_session_add(a->store, hash, j->user_id, expires, peer, &err) < 0) {
        VG_LOG_ERROR("auth", "cannot keep a session: %s", err.message);
        if (c)
            vg_conn_error(c, err.status == 503 ? 503 : 500, err.code, "cannot start a session");
        return 0;
    }
    audit_login(a, j->user_id, peer, "ok", NULL);
    VG_LOG_INFO("auth", "peer=%s '%s' signed in", peer, j->user_id);
    if (c == NULL) {
        vg_store_session_remove(a->store, hash, &err); /* nobody to hand it to */
        return 0;
    }
    vg_principal_t p = {.via = VG_VIA_SESSION};
    vg_store_login_t u;
    if (vg_store_user_login(a->store, j->user_id, &u, &err) == 0) {
        p.role = vg_role_parse(u.role);
        vg_strlcpy(p.tenant_id, u.tenant_id, sizeof(p.tenant_id));
        sodium_memzero(&u, sizeof(u));
    }
    vg_strlcpy(p.user_id, j->user_id, sizeof(p.user_id));
    memcpy(p.session_hash, hash, sizeof(hash));
    set_cookie(c, token, a->session_ttl_s);
    sodium_memzero(token, sizeof(token));
    json_t *doc = session_doc(a, &p);
    json_object_set_new(doc, "expires_at", json_integer(expires / 1000000));
    return vg_conn_respond_json(c, 200, doc);
}

static void login_after(uv_work_t *w, int status)
{
    login_job_t *j = w->data;
    j->a->logins_in_flight--;
    if (j->conn)
        vg_conn_set_data(j->conn, NULL);
    if (status == 0)
        login_finish(j);
    else if (j->conn)
        vg_conn_error(j->conn, 503, "unavailable", "the login was cancelled");
    login_free(j);
}

static void login_conn_closed(vg_conn_t *c)
{
    login_job_t *j = vg_conn_data(c);
    if (j)
        j->conn = NULL;
}

static int login(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    vg_auth_t *a = user;
    json_t *body = vg_conn_body_json(c, false);
    if (body == NULL)
        return 0;
    const char *user_arg = json_string_value(json_object_get(body, "user"));
    const char *password = json_string_value(json_object_get(body, "password"));
    char name[64];
    if (user_arg == NULL || password == NULL || !vg_slug_is_valid(user_arg) ||
        !vg_strlcpy(name, user_arg, sizeof(name)) || strlen(password) > 1024) {
        json_decref(body);
        return vg_conn_error(c, 400, "bad_request",
                             "send {\"user\": \"<id>\", \"password\": \"...\"}");
    }
    char ukey[80], akey[80];
    snprintf(ukey, sizeof(ukey), "u:%s", name);
    snprintf(akey, sizeof(akey), "a:%s", vg_conn_peer_ip(c));
    int wait_s = limit_wait_s(a->limits, ukey, ACCOUNT_FAILURES);
    int wait_addr_s = limit_wait_s(a->limits, akey, ADDRESS_FAILURES);
    if (wait_addr_s > wait_s)
        wait_s = wait_addr_s;
    if (wait_s > 0 || a->logins_in_flight >= LOGINS_IN_FLIGHT_MAX) {
        json_decref(body);
        char secs[16];
        snprintf(secs, sizeof(secs), "%d", wait_s > 0 ? wait_s : 1);
        vg_conn_add_header(c, "retry-after", secs);
        if (wait_s > 0)
            audit_login(a, name, vg_conn_peer(c), "denied", "rate limited");
        return vg_conn_error(c, 429, "rate_limited",
                             wait_s > 0 ? "too many failed logins: try again later"
                                        : "too many logins at once: try again in a second");
    }
    login_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->a = a;
    j->conn = c;
    j->work.data = j;
    vg_strlcpy(j->user_id, name, sizeof(j->user_id));
    vg_strlcpy(j->peer_ip, vg_conn_peer_ip(c), sizeof(j->peer_ip));
    size_t plen = strlen(password);
    j->password = sodium_malloc(plen + 1);
    if (j->password)
        memcpy(j->password, password, plen + 1);
    /* The body held the password in clear: wipe it before it is freed. */
    sodium_memzero((void *)password, plen);
    json_decref(body);
    if (j->password == NULL) {
        login_free(j);
        return vg_conn_error(c, 503, "unavailable", "out of memory");
    }
    vg_store_login_t u;
    vg_store_err_t err;
    if (vg_store_user_login(a->store, j->user_id, &u, &err) == 0) {
        j->is_known = true;
        j->is_enabled = u.is_enabled;
        vg_strlcpy(j->hash, u.password_hash, sizeof(j->hash));
        sodium_memzero(&u, sizeof(u));
    } else if (err.status != 404) {
        login_free(j);
        return vg_conn_error(c, err.status, err.code, "%s", err.message);
    }
    if (uv_queue_work(a->loop, &j->work, login_work, login_after) != 0) {
        login_free(j);
        return vg_conn_error(c, 503, "unavailable", "cannot check the password now");
    }
    a->logins_in_flight++;
    vg_conn_set_data(c, j);
    return 0;
}

/* ---- logout, session ---- */

static void close_session_viewer(vg_conn_t *c, void *arg)
{
    const vg_principal_t *p = vg_auth_caller(c);
    if (p && p->via == VG_VIA_SESSION &&
        sodium_memcmp(p->session_hash, arg, VG_SESSION_HASH_LEN) == 0)
        vg_conn_close(c, 4401, "signed out");
}

static int logout(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    vg_auth_t *a = user;
    const vg_principal_t *p = vg_auth_caller(c);
    if (p->via == VG_VIA_SESSION) {
        vg_store_err_t err;
        vg_store_session_remove(a->store, p->session_hash, &err);
        vg_server_each_viewer(vg_conn_server(c), close_session_viewer,
                              (void *)p->session_hash);
        vg_auth_audit(a, c, "logout", p->user_id, "ok", NULL);
    }
    set_cookie(c, "", 0);
    return vg_conn_respond_json(c, 200, json_pack("{s:b}", "signed_out", 1));
}

static int session(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    return vg_conn_respond_json(c, 200, session_doc(user, vg_auth_caller(c)));
}

/* ---- stream tokens ---- */

static int make_token(vg_conn_t *c, const char *const *params, void *user)
{
    vg_auth_t *a = user;
    const vg_principal_t *p = vg_auth_caller(c);
    json_t *body = vg_conn_body_json(c, true);
    if (body == NULL)
        return 0;
    json_t *ttl_j = json_object_get(body, "ttl_s");
    bool is_bad_type = ttl_j && !json_is_integer(ttl_j);
    json_int_t ttl = ttl_j ? json_integer_value(ttl_j) : TOKEN_TTL_DEFAULT_S;
    json_decref(body);
    if (is_bad_type || ttl < 1 || ttl > TOKEN_TTL_MAX_S)
        return vg_conn_error(c, 400, "bad_request", "ttl_s: an integer 1..%d", TOKEN_TTL_MAX_S);
    if (p->user_id[0] == '\0') /* JWT claims without a user, or --no-auth */
        return vg_conn_error(c, 403, "forbidden",
                             "stream tokens are for vigil users (this caller is %s)", p->actor);
    int64_t expires = vg_wall_us() / 1000000 + ttl;
    char token[VG_STREAM_TOKEN_MAX];
    if (vg_auth_token_make(a, params[0], p->user_id, expires, token) < 0)
        return vg_conn_error(c, 400, "bad_request", "cannot make a token for this camera");
    char detail[32];
    snprintf(detail, sizeof(detail), "ttl %llds", (long long)ttl);
    vg_auth_audit(a, c, "token", params[0], "ok", detail);
    char q[VG_STREAM_TOKEN_MAX + 16], mjpeg[400], snap[400], ws[400];
    snprintf(q, sizeof(q), "?token=%s", token);
    snprintf(mjpeg, sizeof(mjpeg), "/cameras/%s/mjpeg%s", params[0], q);
    snprintf(snap, sizeof(snap), "/cameras/%s/snapshot.jpg%s", params[0], q);
    snprintf(ws, sizeof(ws), "/api/v1/cameras/%s/ws%s", params[0], q);
    return vg_conn_respond_json(c, 201,
                                json_pack("{s:s,s:s,s:I,s:{s:s,s:s,s:s}}", "token", token,
                                          "camera_id", params[0], "expires_at",
                                          (json_int_t)expires, "urls", "mjpeg", mjpeg,
                                          "snapshot", snap, "ws", ws));
}

static const vg_handler_ops_t login_ops = {
    .name = "auth.login", .on_request = login, .on_close = login_conn_closed,
    .max_body = LOGIN_MAX_BODY};
static const vg_handler_ops_t logout_ops = {.name = "auth.logout", .on_request = logout};
static const vg_handler_ops_t session_ops = {.name = "auth.session", .on_request = session};
static const vg_handler_ops_t token_ops = {
    .name = "auth.token", .on_request = make_token, .max_body = TOKEN_MAX_BODY};

void vg__auth_session_register(vg_auth_t *a, vg_server_t *srv)
{
    vg_server_route(srv, "POST", "/api/v1/login", VG_ACCESS_PUBLIC, &login_ops, a);
    vg_server_route(srv, "POST", "/api/v1/logout", VG_ACCESS_VIEWER, &logout_ops, a);
    vg_server_route(srv, "GET", "/api/v1/session", VG_ACCESS_VIEWER, &session_ops, a);
    vg_server_route(srv, "POST", "/api/v1/cameras/{}/token", VG_ACCESS_VIEWER | VG_ACCESS_CAMERA,
                    &token_ops, a);
}
