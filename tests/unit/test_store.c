/* store: schema, validation, paging, secrets, rekey, against a real SQLite file; or, with
 * VG_TEST_STORE_URL=postgresql://..., against that PostgreSQL database, emptied before each
 * test (tests/integration/test_store_pg.py starts a server and runs this binary so). */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/err.h"
#include "store/secrets.h"
#include "store/store.h"
#include "auth/cache.h"
#include "core/util.h"
#include "vg_test.h"

static const char *KEY_A = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char *KEY_B = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/* The PostgreSQL database the tests run on, or NULL for SQLite files. */
static const char *pg_url(void)
{
    const char *url = getenv("VG_TEST_STORE_URL");
    return url && *url ? url : NULL;
}

/* Runs sql on the PostgreSQL database; the first row's first column into out (if any). */
static bool pg_exec(const char *sql, char *out, size_t len)
{
    PGconn *c = PQconnectdb(pg_url());
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "pg: %s", PQerrorMessage(c));
    if (out) {
        out[0] = '\0';
        if (ok && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
            snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    PQfinish(c);
    return ok;
}

static char *temp_db(void)
{
    static char path[64];
    if (pg_url()) {
        EXPECT_TRUE(pg_exec("SET client_min_messages = warning;"
                            "DROP SCHEMA public CASCADE; CREATE SCHEMA public", NULL, 0));
        return (char *)pg_url();
    }
    snprintf(path, sizeof(path), "/tmp/vg-test-store-XXXXXX");
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    return path;
}

static void remove_db(const char *path)
{
    char p[96];
    if (pg_url())
        return; /* emptied by the next test */
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static vg_store_t *open_with(const char *path, vg_secrets_t *sec)
{
    vg_store_t *s = NULL;
    vg_store_err_t err;
    vg_store_cfg_t cfg = {.path = path, .secrets = sec};
    if (vg_store_open(&s, &cfg, &err) < 0)
        fprintf(stderr, "open: %s\n", err.message);
    return s;
}

static json_t *J(const char *text)
{
    json_error_t je;
    return json_loads(text, 0, &je);
}

VG_TEST(crud_and_validation_name_the_field)
{
    vg_secrets_init();
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL);
    EXPECT_TRUE(s != NULL);
    EXPECT_EQ(vg_store_schema_version(s), 6);
    vg_store_err_t err;
    json_t *out = NULL, *in;

    in = J("{\"id\":\"acme\",\"name\":\"Acme\"}");
    EXPECT_EQ(vg_store_create(s, "tenants", in, &out, &err), 0);
    json_decref(in);
    EXPECT_STREQ(json_string_value(json_object_get(out, "name")), "Acme");
    json_decref(out);

    in = J("{\"id\":\"north\",\"tenant_id\":\"nope\"}");
    EXPECT_TRUE(vg_store_create(s, "sites", in, NULL, &err) < 0);
    json_decref(in);
    EXPECT_EQ(err.status, 400);
    EXPECT_STREQ(err.field, "tenant_id");

    in = J("{\"id\":\"north\",\"tenant_id\":\"acme\",\"is_local\":false}");
    EXPECT_EQ(vg_store_create(s, "sites", in, NULL, &err), 0);
    json_decref(in);

    in = J("{\"id\":\"cam1\",\"url\":\"gopher://x/y\"}");
    EXPECT_TRUE(vg_store_create(s, "cameras", in, NULL, &err) < 0);
    json_decref(in);
    EXPECT_STREQ(err.field, "url");

    /* A password in a URL would be kept and shown in clear. */
    in = J("{\"id\":\"cam1\",\"url\":\"rtsp://10.0.0.5/s\","
           "\"substream_url\":\"rtsp://admin:pw@10.0.0.5/sub\"}");
    EXPECT_TRUE(vg_store_create(s, "cameras", in, NULL, &err) < 0);
    json_decref(in);
    EXPECT_STREQ(err.field, "substream_url");
    EXPECT_EQ(err.status, 400);
    in = J("{\"id\":\"cam1\",\"url\":\"rtsp://10.0.0.5/s?next=a@b\"}"); /* @ in the query */
    EXPECT_EQ(vg_store_create(s, "cameras", in, NULL, &err), 0);
    json_decref(in);
    EXPECT_EQ(vg_store_delete(s, "cameras", "cam1", &err), 0);

    in = J("{\"id\":\"cam1\",\"url\":\"rtsp://10.0.0.5/s\",\"colour\":\"red\"}");
    EXPECT_TRUE(vg_store_create(s, "cameras", in, NULL, &err) < 0);
    json_decref(in);
    EXPECT_STREQ(err.field, "colour");

    in = J("{\"id\":\"cam1\",\"url\":\"rtsp://10.0.0.5/s\",\"site_id\":\"north\","
           "\"tiers\":[{\"size\":\"low\",\"fps\":99}]}");
    EXPECT_TRUE(vg_store_create(s, "cameras", in, NULL, &err) < 0);
    json_decref(in);
    EXPECT_STREQ(err.field, "tiers");

    in = J("{\"id\":\"cam1\",\"url\":\"rtsp://10.0.0.5/s\",\"site_id\":\"north\"}");
    EXPECT_EQ(vg_store_create(s, "cameras", in, &out, &err), 0);
    EXPECT_TRUE(vg_store_create(s, "cameras", in, NULL, &err) < 0);
    EXPECT_EQ(err.status, 409);
    json_decref(in);
    EXPECT_STREQ(json_string_value(json_object_get(out, "owner")), "api");
    EXPECT_TRUE(json_is_false(json_object_get(out, "has_password")));
    EXPECT_TRUE(json_is_true(json_object_get(out, "enabled")));
    json_decref(out);

    /* A password without a master key is refused, and nothing is written. */
    in = J("{\"password\":\"hunter2\"}");
    EXPECT_TRUE(vg_store_update(s, "cameras", "cam1", in, NULL, &err) < 0);
    json_decref(in);
    EXPECT_STREQ(err.code, "locked");

    /* Deleting a site in use names what uses it. */
    EXPECT_TRUE(vg_store_delete(s, "sites", "north", &err) < 0);
    EXPECT_EQ(err.status, 409);
    EXPECT_TRUE(strstr(err.message, "cameras") != NULL);

    size_t total;
    EXPECT_EQ(vg_store_list(s, "sites", 0, 1, &out, &total, &err), 0);
    EXPECT_EQ(total, 2); /* default + north */
    EXPECT_EQ(json_array_size(out), 1);
    json_decref(out);
    EXPECT_EQ(vg_store_delete(s, "cameras", "cam1", &err), 0);
    EXPECT_EQ(vg_store_delete(s, "cameras", "cam1", &err), -2);
    EXPECT_EQ(vg_store_delete(s, "sites", "north", &err), 0);
    vg_store_close(&s);
    remove_db(path);
}

VG_TEST(passwords_are_sealed_and_rekey_keeps_them)
{
    vg_secrets_init();
    char *path = temp_db();
    char msg[160];
    vg_secrets_t *a, *b;
    EXPECT_EQ(vg_secrets_from_hex(&a, KEY_A, msg, sizeof(msg)), 0);
    EXPECT_EQ(vg_secrets_from_hex(&b, KEY_B, msg, sizeof(msg)), 0);
    vg_store_t *s = open_with(path, a);
    vg_store_err_t err;
    json_t *in = J("{\"id\":\"cam1\",\"url\":\"rtsp://10.0.0.5/s\",\"username\":\"admin\","
                   "\"password\":\"pw-Zq8!x\"}");
    json_t *out;
    EXPECT_EQ(vg_store_create(s, "cameras", in, &out, &err), 0);
    json_decref(in);
    EXPECT_TRUE(json_is_true(json_object_get(out, "has_password")));
    EXPECT_TRUE(json_object_get(out, "password") == NULL);
    json_decref(out);
    char *pw;
    EXPECT_EQ(vg_store_camera_password(s, "cam1", &pw, &err), 0);
    EXPECT_STREQ(pw, "pw-Zq8!x");
    vg_store_secret_free(&pw);
    EXPECT_TRUE(vg_store_has_sealed_secrets(s));
    vg_store_close(&s);

    /* The database holds no trace of the password. */
    char buf[1 << 16];
    size_t n = 0;
    if (pg_url()) {
        pg_exec("SELECT concat((SELECT string_agg(t::text, '|') FROM cameras t),"
                " (SELECT string_agg(t::text, '|') FROM sites t),"
                " (SELECT string_agg(t::text, '|') FROM meta t))",
                buf, sizeof(buf));
        n = strlen(buf);
        EXPECT_TRUE(strstr(buf, "cam1") != NULL); /* the dump has the camera's row */
    } else {
        FILE *f = fopen(path, "rb");
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
    }
    EXPECT_TRUE(memmem(buf, n, "pw-Zq8!x", 8) == NULL);

    /* Wrong key: refused at open. */
    vg_store_cfg_t cfg = {.path = path, .secrets = b};
    EXPECT_TRUE(vg_store_open(&s, &cfg, &err) < 0);
    EXPECT_STREQ(err.code, "wrong_master_key");

    s = open_with(path, a);
    EXPECT_EQ(vg_store_rekey(s, b, &err), 0);
    vg_store_close(&s);
    cfg.secrets = a;
    EXPECT_TRUE(vg_store_open(&s, &cfg, &err) < 0); /* the old key no longer fits */
    s = open_with(path, b);
    EXPECT_TRUE(s != NULL);
    EXPECT_EQ(vg_store_camera_password(s, "cam1", &pw, &err), 0);
    EXPECT_STREQ(pw, "pw-Zq8!x");
    vg_store_secret_free(&pw);
    vg_store_close(&s);
    vg_secrets_free(&a);
    vg_secrets_free(&b);
    remove_db(path);
}

VG_TEST(file_cameras_are_owned_by_the_file)
{
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL);
    vg_store_err_t err;
    json_t *in = J("{\"id\":\"porch\",\"url\":\"test://?width=320&height=240\",\"always_on\":true}");
    EXPECT_EQ(vg_store_upsert_file_camera(s, in, &err), 0);
    json_decref(in);
    in = J("{\"id\":\"porch\",\"url\":\"test://?width=640&height=360\"}");
    EXPECT_EQ(vg_store_upsert_file_camera(s, in, &err), 0); /* again, changed: replaced */
    json_decref(in);
    json_t *out;
    EXPECT_EQ(vg_store_get(s, "cameras", "porch", &out, &err), 0);
    EXPECT_STREQ(json_string_value(json_object_get(out, "url")), "test://?width=640&height=360");
    EXPECT_TRUE(json_is_false(json_object_get(out, "always_on")));
    EXPECT_STREQ(json_string_value(json_object_get(out, "owner")), "file");
    json_decref(out);
    in = J("{\"name\":\"x\"}");
    EXPECT_TRUE(vg_store_update(s, "cameras", "porch", in, NULL, &err) < 0);
    json_decref(in);
    EXPECT_STREQ(err.field, "owner");
    EXPECT_TRUE(vg_store_delete(s, "cameras", "porch", &err) < 0);
    vg_store_close(&s);
    remove_db(path);
}

#include "store/nat.h"

VG_TEST(nat_rewrites_host_and_port_and_keeps_the_rest)
{
    json_t *maps = J("[{\"lan_host\":\"10.0.0.5\",\"lan_port\":554,\"port\":18554},"
                     "{\"lan_host\":\"10.0.0.6\",\"lan_port\":80,\"port\":18080}]");
    char out[256];
    EXPECT_EQ(vg_nat_rewrite("rtsp://admin:p%40ss@10.0.0.5/Streaming/101?x=1", "gw.example",
                             maps, out, sizeof(out)), 0);
    EXPECT_STREQ(out, "rtsp://admin:p%40ss@gw.example:18554/Streaming/101?x=1");
    EXPECT_EQ(vg_nat_rewrite("rtsp://10.0.0.5:554/s", "203.0.113.7", maps, out, sizeof(out)), 0);
    EXPECT_STREQ(out, "rtsp://203.0.113.7:18554/s");
    EXPECT_EQ(vg_nat_rewrite("http://10.0.0.6/snap.jpg", "gw", maps, out, sizeof(out)), 0);
    EXPECT_STREQ(out, "http://gw:18080/snap.jpg");
    /* Same host, other port: no mapping. */
    EXPECT_EQ(vg_nat_rewrite("rtsp://10.0.0.5:8554/s", "gw", maps, out, sizeof(out)), -2);
    EXPECT_EQ(vg_nat_rewrite("rtsp://10.0.0.7/s", "gw", maps, out, sizeof(out)), -2);
    EXPECT_TRUE(vg_nat_rewrite("rtsp:///s", "gw", maps, out, sizeof(out)) < -2);
    EXPECT_TRUE(vg_nat_rewrite("rtsp://10.0.0.5/s", "gw", maps, out, 10) < -2);
    json_decref(maps);
}

/* The user's password as the database holds it (for the test only). */
static void read_hash(const char *path, const char *user, char *out, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    out[0] = '\0';
    if (pg_url()) {
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT password_hash FROM users WHERE id = '%s'", user);
        pg_exec(sql, out, len);
        return;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return;
    if (sqlite3_prepare_v2(db, "SELECT password_hash FROM users WHERE id = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

VG_TEST(user_passwords_are_argon2id_hashes_never_shown)
{
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL); /* no master key needed for users */
    vg_store_err_t err;
    json_t *out, *in = J("{\"id\":\"alice\",\"role\":\"operator\",\"password\":\"correct horse\"}");
    EXPECT_EQ(vg_store_create(s, "users", in, &out, &err), 0);
    json_decref(in);
    EXPECT_TRUE(json_is_true(json_object_get(out, "has_password")));
    EXPECT_TRUE(json_object_get(out, "password") == NULL);
    EXPECT_TRUE(json_object_get(out, "password_hash") == NULL);
    EXPECT_STREQ(json_string_value(json_object_get(out, "role")), "operator");
    json_decref(out);

    char hash[VG_PASSWORD_HASH_MAX];
    read_hash(path, "alice", hash, sizeof(hash));
    EXPECT_TRUE(strncmp(hash, "$argon2id$", 10) == 0);
    EXPECT_TRUE(strstr(hash, "correct horse") == NULL);
    EXPECT_TRUE(vg_password_verify(hash, "correct horse"));
    EXPECT_TRUE(!vg_password_verify(hash, "correct horsf"));
    EXPECT_TRUE(!vg_password_verify(hash, ""));

    /* Errors name the field. */
    const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"id\":\"bob\",\"role\":\"root\"}", "role"},
        {"{\"id\":\"bob\"}", "role"},
        {"{\"id\":\"bob\",\"role\":\"viewer\",\"password\":\"short\"}", "password"},
        {"{\"id\":\"bob\",\"role\":\"viewer\",\"tenant_id\":\"nobody\"}", "tenant_id"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        in = J(bad[i].json);
        EXPECT_TRUE(vg_store_create(s, "users", in, NULL, &err) < 0);
        json_decref(in);
        EXPECT_STREQ(err.field, bad[i].field);
    }

    /* A new password replaces the hash; null removes it (the user cannot sign in). */
    in = J("{\"password\":\"battery staple\"}");
    EXPECT_EQ(vg_store_update(s, "users", "alice", in, NULL, &err), 0);
    json_decref(in);
    char hash2[VG_PASSWORD_HASH_MAX];
    read_hash(path, "alice", hash2, sizeof(hash2));
    EXPECT_TRUE(strcmp(hash, hash2) != 0);
    EXPECT_TRUE(vg_password_verify(hash2, "battery staple"));
    EXPECT_TRUE(!vg_password_verify(hash2, "correct horse"));
    in = J("{\"password\":null}");
    EXPECT_EQ(vg_store_update(s, "users", "alice", in, &out, &err), 0);
    json_decref(in);
    EXPECT_TRUE(json_is_false(json_object_get(out, "has_password")));
    json_decref(out);

    /* A tenant with users cannot go. */
    in = J("{\"id\":\"acme\"}");
    EXPECT_EQ(vg_store_create(s, "tenants", in, NULL, &err), 0);
    json_decref(in);
    in = J("{\"tenant_id\":\"acme\"}");
    EXPECT_EQ(vg_store_update(s, "users", "alice", in, NULL, &err), 0);
    json_decref(in);
    EXPECT_TRUE(vg_store_delete(s, "tenants", "acme", &err) < 0);
    EXPECT_EQ(err.status, 409);
    vg_store_close(&s);
    remove_db(path);
}

/* Who sees what: one rule, checked from each side (grant to user or tenant, of a camera or
 * a site, and the sites a tenant owns), and the listing agrees with the single check. */
VG_TEST(visibility_follows_grants_and_site_ownership)
{
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL);
    vg_store_err_t err;
    const char *setup[][2] = {
        {"tenants", "{\"id\":\"acme\",\"name\":\"Acme\"}"},
        {"tenants", "{\"id\":\"globex\",\"name\":\"Globex\"}"},
        {"sites", "{\"id\":\"yard\",\"name\":\"Yard\"}"},
        {"sites", "{\"id\":\"hq\",\"name\":\"HQ\",\"tenant_id\":\"globex\"}"},
        {"cameras", "{\"id\":\"door\",\"url\":\"test://\"}"},
        {"cameras", "{\"id\":\"gate\",\"url\":\"test://\",\"site_id\":\"yard\"}"},
        {"cameras", "{\"id\":\"dock\",\"url\":\"test://\",\"site_id\":\"yard\"}"},
        {"cameras", "{\"id\":\"lobby\",\"url\":\"test://\",\"site_id\":\"hq\"}"},
        {"users", "{\"id\":\"al\",\"name\":\"Al\",\"role\":\"viewer\",\"tenant_id\":\"acme\"}"},
        {"users", "{\"id\":\"bo\",\"name\":\"Bo\",\"role\":\"viewer\",\"tenant_id\":\"acme\"}"},
    };
    for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
        json_t *f = J(setup[i][1]);
        EXPECT_EQ(vg_store_create(s, setup[i][0], f, NULL, &err), 0);
        json_decref(f);
    }
    EXPECT_EQ(vg_store_grant(s, &(vg_grant_t){.tenant_id = "acme", .site_id = "yard"}, &err), 0);
    EXPECT_EQ(vg_store_grant(s, &(vg_grant_t){.user_id = "al", .camera_id = "door"}, &err), 0);
    /* Twice is once; a grant of nothing, or to nobody, or of a missing camera, is refused. */
    EXPECT_EQ(vg_store_grant(s, &(vg_grant_t){.user_id = "al", .camera_id = "door"}, &err), 0);
    EXPECT_EQ(vg_store_grant(s, &(vg_grant_t){.user_id = "al"}, &err), VG_EINVAL);
    EXPECT_EQ(vg_store_grant(s, &(vg_grant_t){.user_id = "al", .tenant_id = "acme",
                                              .camera_id = "door"}, &err), VG_EINVAL);
    EXPECT_EQ(vg_store_grant(s, &(vg_grant_t){.user_id = "al", .camera_id = "nope"}, &err),
              VG_ENOENT);
    EXPECT_STREQ(err.field, "camera_id");

    static const struct {
        const char *user, *tenant, *camera;
        bool sees;
    } cases[] = {
        {"al", "acme", "door", true},    /* granted to al */
        {"bo", "acme", "door", false},   /* not to bo, nor to acme */
        {"bo", "acme", "gate", true},    /* acme has the site yard */
        {"bo", "acme", "dock", true},
        {"bo", "acme", "lobby", false},  /* globex's */
        {NULL, "globex", "lobby", true}, /* globex owns site hq */
        {NULL, "globex", "gate", false},
        {NULL, NULL, "door", false},     /* nobody sees anything */
        {"al", "acme", "ghost", false},  /* no such camera */
    };
    /* What the store reads, as the gate judges it (the rule lives in auth/cache.c). */
    vg_access_cache_t *cache = vg_access_cache_new();
    vg_access_t *snap = NULL;
    EXPECT_EQ(vg_store_access_load(s, 0, &snap, &err), 0);
    vg_access_cache_set(cache, snap);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool sees = vg_access_cache_visible(cache, cases[i].user, cases[i].tenant,
                                            cases[i].camera);
        if (sees != cases[i].sees)
            fprintf(stderr, "case %zu: %s/%s sees %s: %d\n", i, cases[i].user,
                    cases[i].tenant, cases[i].camera, sees);
        EXPECT_EQ(sees, cases[i].sees);
    }
    json_t *ids = vg_access_cache_visible_list(cache, "al", "acme");
    char *text = json_dumps(ids, JSON_COMPACT);
    EXPECT_STREQ(text, "[\"dock\",\"door\",\"gate\"]");
    free(text);
    json_decref(ids);

    /* Revoking the site takes its cameras away; revoking what is not there is 404. */
    EXPECT_EQ(vg_store_revoke(s, &(vg_grant_t){.tenant_id = "acme", .site_id = "yard"}, &err), 0);
    snap = NULL;
    EXPECT_EQ(vg_store_access_load(s, 0, &snap, &err), 0);
    vg_access_cache_set(cache, snap);
    EXPECT_TRUE(!vg_access_cache_visible(cache, "bo", "acme", "gate"));
    vg_access_cache_free(&cache);
    EXPECT_EQ(vg_store_revoke(s, &(vg_grant_t){.tenant_id = "acme", .site_id = "yard"}, &err),
              VG_ENOENT);
    /* A grant goes with its camera. */
    json_t *list = NULL;
    EXPECT_EQ(vg_store_delete(s, "cameras", "door", &err), 0);
    EXPECT_EQ(vg_store_list_grants(s, NULL, "al", &list, &err), 0);
    EXPECT_EQ(json_array_size(list), 0);
    json_decref(list);
    vg_store_close(&s);
    remove_db(path);
}

/* The session of hash in a fresh snapshot read at now_us, as the gate finds it (with its
 * user enabled): its user id, or "" when none. */
static const char *session_user(vg_store_t *s, const uint8_t *hash, int64_t now_us,
                                char user[64])
{
    vg_store_err_t err;
    vg_access_t *snap = NULL;
    user[0] = '\0';
    if (vg_store_access_load(s, now_us, &snap, &err) < 0)
        return user;
    vg_access_cache_t *cache = vg_access_cache_new();
    vg_access_cache_set(cache, snap);
    const vg_access_session_t *x = vg_access_cache_session(cache, hash, now_us);
    const vg_access_user_t *u = x ? vg_access_cache_user(cache, x->user_id) : NULL;
    if (u && u->is_enabled)
        vg_strlcpy(user, u->id, 64);
    vg_access_cache_free(&cache);
    return user;
}

VG_TEST(sessions_expire_and_end_with_their_user)
{
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL);
    vg_store_err_t err;
    json_t *f = J("{\"id\":\"al\",\"name\":\"Al\",\"role\":\"viewer\"}");
    EXPECT_EQ(vg_store_create(s, "users", f, NULL, &err), 0);
    json_decref(f);
    uint8_t h1[VG_SESSION_HASH_LEN] = {1}, h2[VG_SESSION_HASH_LEN] = {2};
    char user[64];
    EXPECT_EQ(vg_store_session_add(s, h1, "al", 2000, "127.0.0.1:1", &err), 0);
    EXPECT_EQ(vg_store_session_add(s, h2, "al", 5000, NULL, &err), 0);
    EXPECT_STREQ(session_user(s, h1, 1999, user), "al");
    EXPECT_STREQ(session_user(s, h1, 2000, user), ""); /* expired */
    EXPECT_EQ(vg_store_sessions_purge(s, 3000, &err), 0);
    EXPECT_STREQ(session_user(s, h1, 0, user), ""); /* purged */
    EXPECT_STREQ(session_user(s, h2, 3000, user), "al");
    /* Disabling the user ends its sessions (schema 4's trigger), and bumps its epoch. */
    f = J("{\"enabled\":false}");
    EXPECT_EQ(vg_store_update(s, "users", "al", f, NULL, &err), 0);
    json_decref(f);
    EXPECT_STREQ(session_user(s, h2, 3000, user), ""); /* disabled */
    f = J("{\"enabled\":true}");
    vg_store_update(s, "users", "al", f, NULL, &err);
    json_decref(f);
    EXPECT_STREQ(session_user(s, h2, 3000, user), ""); /* ended, not merely hidden */
    EXPECT_EQ(vg_store_session_add(s, h2, "al", 5000, NULL, &err), 0);
    EXPECT_EQ(vg_store_sessions_end_user(s, "al", &err), 0);
    EXPECT_STREQ(session_user(s, h2, 3000, user), ""); /* ended */
    vg_store_close(&s);
    remove_db(path);
}

VG_TEST(audit_is_newest_first)
{
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL);
    vg_store_err_t err;
    for (int i = 0; i < 5; i++) {
        char target[16];
        snprintf(target, sizeof(target), "t%d", i);
        vg_audit_entry_t e = {.actor = "al", .action = "login", .target = target,
                              .outcome = "ok", .peer = "127.0.0.1:9"};
        EXPECT_EQ(vg_store_audit(s, &e, &err), 0);
    }
    json_t *list = NULL;
    size_t total = 0;
    EXPECT_EQ(vg_store_audit_list(s, 1, 2, &list, &total, &err), 0);
    EXPECT_EQ(total, 5);
    EXPECT_EQ(json_array_size(list), 2);
    EXPECT_STREQ(json_string_value(json_object_get(json_array_get(list, 0), "target")), "t3");
    EXPECT_TRUE(json_is_null(json_object_get(json_array_get(list, 0), "detail")));
    json_decref(list);
    vg_store_close(&s);
    remove_db(path);
}

VG_TEST(a_camera_lease_has_one_holder_until_it_expires)
{
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL);
    vg_store_err_t err;
    json_t *in = J("{\"id\":\"gate\",\"url\":\"test://?width=320&height=240\"}"), *out;
    EXPECT_EQ(vg_store_create(s, "cameras", in, NULL, &err), 0);
    json_decref(in);
    const int64_t T = 1000000000, TTL = 6000000;
    vg_instance_info_t a = {.id = "vigil-a", .urls = "[\"http://10.0.0.1:8080\"]", .capacity = 50},
                       b = {.id = "vigil-b"};
    EXPECT_EQ(vg_store_instance_beat(s, &a, T, &err), 0);
    EXPECT_EQ(vg_store_instance_beat(s, &b, T, &err), 0);
    char owner[64];
    int64_t until;
    /* a takes it; b is told a holds it, and until when */
    EXPECT_EQ(vg_store_lease_take(s, "gate", "vigil-a", T, TTL, owner, &until, &err), 0);
    EXPECT_STREQ(owner, "vigil-a");
    EXPECT_EQ(until, T + TTL);
    EXPECT_EQ(vg_store_lease_take(s, "gate", "vigil-b", T + 1000, TTL, owner, &until, &err), 0);
    EXPECT_STREQ(owner, "vigil-a");
    EXPECT_EQ(until, T + TTL);
    /* a renews; b still cannot take it before the renewed expiry */
    EXPECT_EQ(vg_store_lease_take(s, "gate", "vigil-a", T + 3000000, TTL, owner, &until, &err), 0);
    EXPECT_EQ(until, T + 3000000 + TTL);
    EXPECT_EQ(vg_store_lease_take(s, "gate", "vigil-b", T + TTL + 1, TTL, owner, &until, &err), 0);
    EXPECT_STREQ(owner, "vigil-a");
    /* a dies: once its lease expires, b takes it */
    int64_t later = T + 3000000 + TTL;
    EXPECT_EQ(vg_store_lease_take(s, "gate", "vigil-b", later, TTL, owner, &until, &err), 0);
    EXPECT_STREQ(owner, "vigil-b");
    /* the list shows both, b alive with one lease, a's heartbeat old */
    EXPECT_EQ(vg_store_instance_beat(s, &b, later, &err), 0);
    EXPECT_EQ(vg_store_instance_list(s, later, 5000000, &out, &err), 0);
    EXPECT_EQ(json_array_size(out), 2);
    json_t *ia = json_array_get(out, 0), *ib = json_array_get(out, 1);
    EXPECT_STREQ(json_string_value(json_object_get(ia, "id")), "vigil-a");
    EXPECT_TRUE(json_is_false(json_object_get(ia, "alive")));
    EXPECT_STREQ(json_string_value(json_array_get(json_object_get(ia, "urls"), 0)),
                 "http://10.0.0.1:8080");
    EXPECT_EQ(json_integer_value(json_object_get(ia, "capacity")), 50);
    EXPECT_TRUE(json_is_true(json_object_get(ib, "alive")));
    EXPECT_EQ(json_integer_value(json_object_get(ib, "leases")), 1);
    json_decref(out);
    /* release is the holder's only */
    EXPECT_EQ(vg_store_lease_release(s, "gate", "vigil-a", &err), 0);
    EXPECT_EQ(vg_store_lease_take(s, "gate", "vigil-a", later + 1, TTL, owner, &until, &err), 0);
    EXPECT_STREQ(owner, "vigil-b");
    /* a clean exit gives its leases up at once */
    EXPECT_EQ(vg_store_instance_remove(s, "vigil-b", &err), 0);
    EXPECT_EQ(vg_store_lease_take(s, "gate", "vigil-a", later + 2, TTL, owner, &until, &err), 0);
    EXPECT_STREQ(owner, "vigil-a");
    /* no such camera; and a deleted camera takes its lease with it */
    EXPECT_EQ(vg_store_lease_take(s, "nope", "vigil-a", later, TTL, owner, &until, &err),
              VG_ENOENT);
    EXPECT_EQ(vg_store_delete(s, "cameras", "gate", &err), 0);
    EXPECT_EQ(vg_store_instance_list(s, later, 5000000, &out, &err), 0);
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(out, 0), "leases")), 0);
    json_decref(out);
    vg_store_close(&s);
    remove_db(path);
}

VG_TEST(a_free_camera_goes_to_the_least_loaded_live_instance_and_a_drain_holds)
{
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL);
    vg_store_err_t err;
    const char *cams[] = {"c1", "c2", "c3", "c4", "c5", "c6"};
    for (size_t i = 0; i < sizeof(cams) / sizeof(cams[0]); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"id\":\"%s\",\"url\":\"test://\"}", cams[i]);
        json_t *in = J(body);
        EXPECT_EQ(vg_store_create(s, "cameras", in, NULL, &err), 0);
        json_decref(in);
    }
    const int64_t T = 1000000000, TTL = 3000000, ALIVE = 3000000;
    vg_instance_info_t a = {.id = "vigil-a", .started_us = 1}, b = {.id = "vigil-b", .started_us = 1},
                       c = {.id = "vigil-c", .started_us = 1};
    EXPECT_EQ(vg_store_instance_beat(s, &a, T, &err), 0);
    EXPECT_EQ(vg_store_instance_beat(s, &b, T, &err), 0);
    EXPECT_EQ(vg_store_instance_beat(s, &c, T - 10 * ALIVE, &err), 0); /* c is dead */
    char owner[64];
    int64_t until;
    /* a asks for everything: it keeps cameras until b holds VG_PLACE_MARGIN fewer */
    const char *want[] = {"vigil-a", "vigil-a", "vigil-b", "vigil-a", "vigil-b", "vigil-a"};
    for (size_t i = 0; i < sizeof(cams) / sizeof(cams[0]); i++) {
        EXPECT_EQ(vg_store_lease_place(s, cams[i], "vigil-a", T + (int64_t)i, TTL, ALIVE, owner,
                                       &until, &err), 0);
        EXPECT_STREQ(owner, want[i]);
    }
    /* a lease held stays where it is, whoever asks and however loaded */
    EXPECT_EQ(vg_store_lease_place(s, "c1", "vigil-b", T + 10, TTL, ALIVE, owner, &until, &err),
              0);
    EXPECT_STREQ(owner, "vigil-a");
    /* b, asked for the camera it was given, takes it as its own (renewed) */
    EXPECT_EQ(vg_store_lease_place(s, "c3", "vigil-b", T + 20, TTL, ALIVE, owner, &until, &err),
              0);
    EXPECT_STREQ(owner, "vigil-b");
    EXPECT_EQ(until, T + 20 + TTL);
    /* a draining instance gets nothing new; the flag holds through its own heartbeats and
     * goes with a new process under the same id */
    EXPECT_EQ(vg_store_instance_drain(s, "vigil-b", &err), 0);
    EXPECT_EQ(vg_store_instance_drain(s, "nope", &err), VG_ENOENT);
    EXPECT_EQ(err.status, 404);
    EXPECT_EQ(vg_store_instance_beat(s, &b, T + 30, &err), 0);
    bool is_draining = false;
    EXPECT_EQ(vg_store_instance_is_draining(s, "vigil-b", &is_draining, &err), 0);
    EXPECT_TRUE(is_draining);
    EXPECT_EQ(vg_store_lease_release(s, "c1", "vigil-a", &err), 0);
    EXPECT_EQ(vg_store_lease_release(s, "c2", "vigil-a", &err), 0);
    EXPECT_EQ(vg_store_lease_release(s, "c4", "vigil-a", &err), 0);
    EXPECT_EQ(vg_store_lease_release(s, "c5", "vigil-b", &err), 0);
    /* a holds 1 (c6), b 1 (c3): free c5 would go to a anyway; put a at 3 and ask again */
    EXPECT_EQ(vg_store_lease_take(s, "c1", "vigil-a", T + 40, TTL, owner, &until, &err), 0);
    EXPECT_EQ(vg_store_lease_take(s, "c2", "vigil-a", T + 40, TTL, owner, &until, &err), 0);
    EXPECT_EQ(vg_store_lease_place(s, "c5", "vigil-a", T + 50, TTL, ALIVE, owner, &until, &err),
              0);
    EXPECT_STREQ(owner, "vigil-a"); /* b is draining, c dead */
    b.started_us = 2; /* b restarted */
    EXPECT_EQ(vg_store_instance_beat(s, &b, T + 60, &err), 0);
    EXPECT_EQ(vg_store_instance_is_draining(s, "vigil-b", &is_draining, &err), 0);
    EXPECT_TRUE(!is_draining);
    vg_store_close(&s);
    remove_db(path);
}

VG_TEST(an_uplink_site_is_found_on_the_instance_its_link_reached_while_it_renews)
{
    char *path = temp_db();
    vg_store_t *s = open_with(path, NULL);
    vg_store_err_t err;
    const int64_t T = 1000000000, ALIVE = 3000000;
    vg_instance_info_t a = {.id = "vigil-a", .urls = "[\"http://a:8080\",\"rtsp://a:8554\"]"},
                       b = {.id = "vigil-b", .urls = "[\"rtsp://b:8554\"]"};
    EXPECT_EQ(vg_store_instance_beat(s, &a, T, &err), 0);
    EXPECT_EQ(vg_store_instance_beat(s, &b, T, &err), 0);
    char owner[64], url[128];
    EXPECT_EQ(vg_store_site_where(s, "north", T, ALIVE, owner, url, sizeof(url), &err), 0);
    EXPECT_STREQ(owner, ""); /* nobody has it */
    EXPECT_EQ(vg_store_site_claim(s, "north", "vigil-a", T, &err), 0);
    EXPECT_EQ(vg_store_site_where(s, "north", T + 1, ALIVE, owner, url, sizeof(url), &err), 0);
    EXPECT_STREQ(owner, "vigil-a");
    EXPECT_STREQ(url, "rtsp://a:8554");
    /* the edge came back through b: the newest claim wins; a's release takes nothing */
    EXPECT_EQ(vg_store_site_claim(s, "north", "vigil-b", T + 10, &err), 0);
    EXPECT_EQ(vg_store_site_release(s, "north", "vigil-a", &err), 0);
    EXPECT_EQ(vg_store_site_where(s, "north", T + 20, ALIVE, owner, url, sizeof(url), &err), 0);
    EXPECT_STREQ(owner, "vigil-b");
    EXPECT_STREQ(url, "rtsp://b:8554");
    /* b stops renewing (died): its claim goes stale */
    EXPECT_EQ(vg_store_site_where(s, "north", T + 10 + ALIVE, ALIVE, owner, url, sizeof(url),
                                  &err), 0);
    EXPECT_STREQ(owner, "");
    EXPECT_EQ(vg_store_site_release(s, "north", "vigil-b", &err), 0);
    EXPECT_EQ(vg_store_site_where(s, "north", T + 30, ALIVE, owner, url, sizeof(url), &err), 0);
    EXPECT_STREQ(owner, "");
    vg_store_close(&s);
    remove_db(path);
}
