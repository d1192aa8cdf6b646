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
 * Failed logins slow guessing down without locking anybody out (ratelimit.h): counted per
 * account from one address, per address, and per account from anywhere, each with its own
 * free failures and a doubling wait up to a cap; while one applies the answer is 429 with
 * Retry-After, before any password is checked. The address is the client's, behind trusted
 * proxies (X-Forwarded-For); docs/security.md weighs the trade-off.
 *
 * Nothing here waits on the database: a login reads the user on the store thread, checks the
 * password on libuv's pool, and stores the session on the store thread, each step posting
 * back to the loop; a database that does not answer in time gives 503 with Retry-After. A
 * sign-out ends the session in the loop's cache at once (its streams close), then removes it
 * from the database; when that fails the answer says so (503), and the removal is retried
 * while the session stays refused here. */
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
#define LIMIT_SLOTS 4096
#define LOGINS_IN_FLIGHT_MAX 8 /* each holds 64 MiB while it hashes */
#define REVOKES_IN_FLIGHT_MAX 16
#define TOKEN_TTL_DEFAULT_S 300
#define TOKEN_TTL_MAX_S 3600

/* One account from one address: the guesser's own budget. */
static const vg_backoff_policy_t per_account_address = {
    .free_failures = 5, .first_wait_s = 1, .cap_s = 30, .forget_s = 900};
/* One address, whatever account: a guesser trying many names. Behind a proxy that is not
 * trusted every client shares one address, so the cap stays short. */
static const vg_backoff_policy_t per_address = {
    .free_failures = 20, .first_wait_s = 1, .cap_s = 10, .forget_s = 900};
/* One account from anywhere: guessing spread over many addresses. */
static const vg_backoff_policy_t per_account = {
    .free_failures = 50, .first_wait_s = 1, .cap_s = 5, .forget_s = 900};

/* Argon2id at vigil's parameters, of a random password that was thrown away. */
static const char dummy_hash[] =
    "$argon2id$v=19$m=65536,t=2,p=1$0uIWE0r0jiC/bAMyho1EQQ$"
    "1mVZAGw0wp4aO6gQM3Pk7yjdNpFCazfWDPl6Zg/AQJE";

void vg__auth_session_init(vg_auth_t *a) { a->limits = vg_ratelimit_new(LIMIT_SLOTS); }

void vg__auth_session_deinit(vg_auth_t *a) { vg_ratelimit_free(&a->limits); }

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
    vg__auth_audit_entry(a, &e);
    vg__auth_audit_flush(a);
}

static json_t *session_doc(vg_auth_t *a, const vg_principal_t *p)
{
    static const char *const via[] = {"open", "session", "jwt", "token", "key"};
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

/* A 503 that tells the client when to come back. */
static int unavailable(vg_conn_t *c, const vg_store_err_t *err, const char *what)
{
    vg_conn_add_header(c, "retry-after", "1");
    return vg_conn_error(c, 503, "unavailable", "%s: %s", what,
                         err ? err->message : "the database is busy");
}

/* ---- login: read the user (store thread), check the password (pool), keep the session
 * (store thread) ---- */

typedef struct login_job {
    uv_work_t work;
    vg_auth_t *a;
    vg_conn_t *conn; /* NULL once the client has gone */
    char user_id[64];
    char client_ip[64];
    char peer[80];   /* for the audit log: ip:port, or the forwarded client address */
    char *password;  /* sodium_malloc'd */
    char hash[VG_PASSWORD_HASH_MAX];
    bool is_known, is_enabled, is_ok;
    int64_t deadline_us; /* monotonic: one bound for the whole login, whatever its steps */
    /* the session, once the password matched */
    uint8_t session_hash[VG_SESSION_HASH_LEN];
    char token[64];
    int64_t expires_us;
} login_job_t;

static void login_free(login_job_t *j)
{
    if (j->password) {
        sodium_memzero(j->password, strlen(j->password));
        sodium_free(j->password);
    }
    if (j->conn)
        vg_conn_set_data(j->conn, NULL);
    j->a->logins_in_flight--;
    sodium_memzero(j, sizeof(*j));
    free(j);
}

/* The three counters a login of user from ip is judged by (ratelimit.h). */
typedef struct limit_keys {
    char account_address[140], address[140], account[140];
} limit_keys_t;

static void limit_keys(const char *user, const char *ip, limit_keys_t *k)
{
    snprintf(k->account_address, sizeof(k->account_address), "u:%s@%s", user, ip);
    snprintf(k->address, sizeof(k->address), "a:%s", ip);
    snprintf(k->account, sizeof(k->account), "u:%s", user);
}

static int session_store_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    login_job_t *j = arg;
    vg_store_sessions_purge(s, vg_wall_us(), err); /* best effort */
    return vg_store_session_add(s, j->session_hash, j->user_id, j->expires_us, j->client_ip,
                                err);
}

static void session_store_done(void *arg, int rc, const vg_store_err_t *err)
{
    login_job_t *j = arg;
    vg_auth_t *a = j->a;
    vg_conn_t *c = j->conn;
    if (rc < 0) {
        VG_LOG_ERROR("auth", "cannot keep a session for '%s': %s", j->user_id, err->message);
        if (c)
            unavailable(c, err, "cannot start a session now");
        login_free(j);
        return;
    }
    vg_access_cache_add_session(a->cache, j->session_hash, j->user_id, j->expires_us);
    audit_login(a, j->user_id, j->peer, "ok", NULL);
    VG_LOG_INFO("auth", "peer=%s '%s' signed in", j->peer, j->user_id);
    if (c == NULL) { /* nobody to hand it to: end it */
        vg_access_cache_revoke_session(a->cache, j->session_hash, vg_wall_us());
        vg__auth_retry_revokes(a);
        login_free(j);
        return;
    }
    vg_principal_t p = {.via = VG_VIA_SESSION};
    const vg_access_user_t *u = vg_access_cache_user(a->cache, j->user_id);
    if (u) {
        p.role = vg_role_parse(u->role);
        vg_strlcpy(p.tenant_id, u->tenant_id, sizeof(p.tenant_id));
    }
    vg_strlcpy(p.user_id, j->user_id, sizeof(p.user_id));
    memcpy(p.session_hash, j->session_hash, sizeof(p.session_hash));
    set_cookie(c, j->token, a->session_ttl_s);
    json_t *doc = session_doc(a, &p);
    json_object_set_new(doc, "expires_at", json_integer(j->expires_us / 1000000));
    vg_conn_respond_json(c, 200, doc);
    login_free(j);
}

static void login_work(uv_work_t *w)
{
    login_job_t *j = w->data;
    /* Always one Argon2id verification, whatever the user: no timing tells names apart. */
    bool matches = vg_password_verify(j->is_known && j->hash[0] ? j->hash : dummy_hash,
                                      j->password);
    j->is_ok = matches && j->is_known && j->hash[0] && j->is_enabled;
}

static void login_after(uv_work_t *w, int status)
{
    login_job_t *j = w->data;
    vg_auth_t *a = j->a;
    vg_conn_t *c = j->conn;
    sodium_memzero(j->hash, sizeof(j->hash));
    if (status != 0) {
        if (c)
            vg_conn_error(c, 503, "unavailable", "the login was cancelled");
        login_free(j);
        return;
    }
    limit_keys_t k;
    limit_keys(j->user_id, j->client_ip, &k);
    int64_t now = vg_mono_us();
    if (!j->is_ok) {
        vg_ratelimit_fail(a->limits, k.account_address, now);
        vg_ratelimit_fail(a->limits, k.address, now);
        vg_ratelimit_fail(a->limits, k.account, now);
        const char *why = !j->is_known     ? "no such user"
                          : !j->is_enabled ? "user disabled"
                                           : "wrong password";
        audit_login(a, j->user_id, j->peer, "denied", why);
        VG_LOG_INFO("auth", "peer=%s login as '%s' refused (%s)", j->peer, j->user_id, why);
        if (c)
            vg_conn_error(c, 401, "bad_credentials", "wrong user name or password");
        login_free(j);
        return;
    }
    vg_ratelimit_clear(a->limits, k.account_address);
    vg_ratelimit_clear(a->limits, k.account);
    uint8_t raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(j->token, sizeof(j->token), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    crypto_generichash(j->session_hash, sizeof(j->session_hash), (const uint8_t *)j->token,
                       strlen(j->token), NULL, 0);
    j->expires_us = vg_wall_us() + (int64_t)a->session_ttl_s * 1000000;
    vg_store_err_t err;
    int64_t left_ms = (j->deadline_us - vg_mono_us()) / 1000;
    if (left_ms < 1 || vg_store_async_submit(a->store, session_store_run, session_store_done, j,
                                             (int)left_ms) < 0) {
        err = (vg_store_err_t){.status = 503};
        vg_strlcpy(err.message, "the database did not answer in time", sizeof(err.message));
        if (c)
            unavailable(c, &err, "cannot start a session now");
        login_free(j);
    }
}

static int login_read_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    login_job_t *j = arg;
    vg_store_login_t u;
    int rc = vg_store_user_login(s, j->user_id, &u, err);
    if (rc == 0) {
        j->is_known = true;
        j->is_enabled = u.is_enabled;
        vg_strlcpy(j->hash, u.password_hash, sizeof(j->hash));
    }
    sodium_memzero(&u, sizeof(u));
    return rc == VG_ENOENT ? 0 : rc;
}

static void login_read_done(void *arg, int rc, const vg_store_err_t *err)
{
    login_job_t *j = arg;
    if (rc < 0 || j->conn == NULL) {
        if (j->conn)
            unavailable(j->conn, err, "cannot check the login now");
        login_free(j);
        return;
    }
    if (uv_queue_work(j->a->loop, &j->work, login_work, login_after) != 0) {
        if (j->conn)
            vg_conn_error(j->conn, 503, "unavailable", "cannot check the password now");
        login_free(j);
    }
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
        if (password)
            sodium_memzero((void *)password, strlen(password));
        json_decref(body);
        return vg_conn_error(c, 400, "bad_request",
                             "send {\"user\": \"<id>\", \"password\": \"...\"}");
    }
    char ip[64];
    vg_auth_client_ip(a, c, ip, sizeof(ip));
    limit_keys_t k;
    limit_keys(name, ip, &k);
    int64_t now = vg_mono_us();
    int wait_s = vg_ratelimit_wait_s(a->limits, &per_account_address, k.account_address, now);
    int w2 = vg_ratelimit_wait_s(a->limits, &per_address, k.address, now);
    int w3 = vg_ratelimit_wait_s(a->limits, &per_account, k.account, now);
    wait_s = w2 > wait_s ? w2 : wait_s;
    wait_s = w3 > wait_s ? w3 : wait_s;
    if (wait_s > 0 || a->logins_in_flight >= LOGINS_IN_FLIGHT_MAX || a->store == NULL) {
        sodium_memzero((void *)password, strlen(password));
        json_decref(body);
        char secs[16];
        snprintf(secs, sizeof(secs), "%d", wait_s > 0 ? wait_s : 1);
        vg_conn_add_header(c, "retry-after", secs);
        if (wait_s > 0) {
            char peer[80];
            vg_auth_audit_peer(a, c, peer, sizeof(peer));
            audit_login(a, name, peer, "denied", "slowed down after failures");
        }
        return vg_conn_error(c, 429, "rate_limited",
                             wait_s > 0 ? "too many failed logins: try again in %d s"
                                        : "too many logins at once: try again in %d s",
                             wait_s > 0 ? wait_s : 1);
    }
    login_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->a = a;
    j->conn = c;
    j->work.data = j;
    a->logins_in_flight++;
    j->deadline_us = vg_mono_us() + (int64_t)VG_STORE_WAIT_MS * 1000;
    vg_strlcpy(j->user_id, name, sizeof(j->user_id));
    vg_strlcpy(j->client_ip, ip, sizeof(j->client_ip));
    vg_auth_audit_peer(a, c, j->peer, sizeof(j->peer));
    size_t plen = strlen(password);
    j->password = sodium_malloc(plen + 1);
    if (j->password)
        memcpy(j->password, password, plen + 1);
    /* The body held the password in clear: wipe it before it is freed. */
    sodium_memzero((void *)password, plen);
    json_decref(body);
    if (j->password == NULL) {
        j->conn = NULL;
        login_free(j);
        return vg_conn_error(c, 503, "unavailable", "out of memory");
    }
    if (vg_store_async_submit(a->store, login_read_run, login_read_done, j, VG_STORE_WAIT_MS) <
        0) {
        j->conn = NULL;
        login_free(j);
        vg_conn_add_header(c, "retry-after", "1");
        return vg_conn_error(c, 503, "unavailable", "too many requests wait for the database");
    }
    vg_conn_set_data(c, j);
    return 0;
}

/* ---- logout ---- */

static void close_session_viewer(vg_conn_t *c, void *arg)
{
    const vg_principal_t *p = vg_auth_caller(c);
    if (p && p->via == VG_VIA_SESSION &&
        sodium_memcmp(p->session_hash, arg, VG_SESSION_HASH_LEN) == 0)
        vg_conn_close(c, 4401, "signed out");
}

static void close_session_viewers(vg_auth_t *a, const uint8_t hash[VG_SESSION_HASH_LEN])
{
    if (a->srv)
        vg_server_each_viewer(a->srv, close_session_viewer, (void *)hash);
}

typedef struct revoke_job {
    vg_auth_t *a;
    vg_conn_t *conn; /* the logout request still waiting, or NULL (a retry) */
    uint8_t hash[VG_SESSION_HASH_LEN];
    char user_id[64];
} revoke_job_t;

static int revoke_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    revoke_job_t *j = arg;
    return vg_store_session_remove(s, j->hash, err);
}

static void revoke_done(void *arg, int rc, const vg_store_err_t *err)
{
    revoke_job_t *j = arg;
    vg_auth_t *a = j->a;
    a->revokes_in_flight--;
    if (rc == 0)
        vg_access_cache_revoke_confirmed(a->cache, j->hash);
    else
        VG_LOG_WARN("auth", "a signed-out session could not be removed from the database: %s "
                    "(refused here; retried)", err->message);
    vg_conn_t *c = j->conn;
    if (c) {
        vg_conn_set_data(c, NULL);
        if (rc == 0) {
            vg_conn_respond_json(c, 200, json_pack("{s:b}", "signed_out", 1));
        } else {
            vg_conn_add_header(c, "retry-after", "1");
            vg_conn_error(c, 503, "unavailable",
                          "signed out on this server, but the database did not record it (%s): "
                          "the session stays refused here and its removal is retried",
                          err->message);
        }
    }
    sodium_memzero(j, sizeof(*j));
    free(j);
}

static int submit_revoke(vg_auth_t *a, const uint8_t hash[VG_SESSION_HASH_LEN], vg_conn_t *c)
{
    revoke_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->a = a;
    j->conn = c;
    memcpy(j->hash, hash, VG_SESSION_HASH_LEN);
    if (vg_store_async_submit(a->store, revoke_run, revoke_done, j, VG_STORE_WAIT_MS) < 0) {
        free(j);
        return VG_EFULL;
    }
    a->revokes_in_flight++;
    if (c)
        vg_conn_set_data(c, j);
    return 0;
}

static void retry_one(const uint8_t hash[VG_SESSION_HASH_LEN], void *arg)
{
    vg_auth_t *a = arg;
    if (a->revokes_in_flight < REVOKES_IN_FLIGHT_MAX)
        submit_revoke(a, hash, NULL);
}

void vg__auth_retry_revokes(vg_auth_t *a)
{
    if (a->store && a->revokes_in_flight == 0)
        vg_access_cache_each_unconfirmed(a->cache, retry_one, a);
}

static void logout_conn_closed(vg_conn_t *c)
{
    revoke_job_t *j = vg_conn_data(c);
    if (j)
        j->conn = NULL;
}

static int logout(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    vg_auth_t *a = user;
    const vg_principal_t *p = vg_auth_caller(c);
    set_cookie(c, "", 0);
    if (p->via != VG_VIA_SESSION)
        return vg_conn_respond_json(c, 200, json_pack("{s:b}", "signed_out", 1));
    /* Dead here at once, whatever the database says next. */
    vg_access_cache_revoke_session(a->cache, p->session_hash, vg_wall_us());
    close_session_viewers(a, p->session_hash);
    vg_auth_audit(a, c, "logout", p->user_id, "ok", NULL);
    if (a->store == NULL || submit_revoke(a, p->session_hash, c) < 0) {
        vg_conn_add_header(c, "retry-after", "1");
        return vg_conn_error(c, 503, "unavailable",
                             "signed out on this server, but the database is not taking "
                             "changes now: the session stays refused here and its removal "
                             "is retried");
    }
    return 0;
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
static const vg_handler_ops_t logout_ops = {
    .name = "auth.logout", .on_request = logout, .on_close = logout_conn_closed};
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
