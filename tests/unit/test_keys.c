/* keys: the signing keys (issue 12) — derived per purpose, from the master key or a private
 * key file beside the database; stable across loads, changed by rotation; and the database
 * file itself private, without the old clear key. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/keys.h"
#include "store/secrets.h"
#include "store/store.h"
#include "vg_test.h"

static const char *KEY_A = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char *KEY_B = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/* A fresh directory per test, so the key file and the database are new. */
static void temp_dir(char dir[64], char db[96])
{
    snprintf(dir, 64, "/tmp/vg-test-keys-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        abort();
    }
    snprintf(db, 96, "%s/vigil.db", dir);
}

static void remove_dir(const char *dir)
{
    static const char *const names[] = {"vigil.db", "vigil.db-wal", "vigil.db-shm",
                                        "vigil.db.authkey"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static unsigned mode_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 0777) : 0;
}

static bool same(const uint8_t *a, const uint8_t *b) { return memcmp(a, b, 32) == 0; }

static void expect_distinct(const vg_auth_keys_t *k)
{
    EXPECT_TRUE(!same(k->token, k->csrf));
}

VG_TEST(key_file_keys_are_distinct_stable_private_and_rotate)
{
    vg_secrets_init();
    char dir[64], db[96], path[128], err[512];
    temp_dir(dir, db);
    EXPECT_TRUE(vg_auth_keys_path(db, path, sizeof(path)));
    EXPECT_STREQ(strrchr(path, '/'), "/vigil.db.authkey");
    vg_auth_keys_t *k1 = sodium_malloc(sizeof(*k1)), *k2 = sodium_malloc(sizeof(*k2));
    EXPECT_EQ(vg_auth_keys_load(k1, NULL, db, err, sizeof(err)), 0);
    EXPECT_EQ(mode_of(path), 0600);
    expect_distinct(k1);
    /* The file holds the root, not any of the keys. */
    FILE *f = fopen(path, "r");
    char text[1024] = "";
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), k1->token, 32);
    EXPECT_TRUE(strstr(text, hex) == NULL);
    sodium_bin2hex(hex, sizeof(hex), k1->csrf, 32);
    EXPECT_TRUE(strstr(text, hex) == NULL);
    /* Stable across loads. */
    EXPECT_EQ(vg_auth_keys_load(k2, NULL, db, err, sizeof(err)), 0);
    EXPECT_TRUE(same(k1->token, k2->token) && same(k1->csrf, k2->csrf));
    /* Rotation changes both, and leaves the file private. */
    EXPECT_EQ(vg_auth_keys_rotate(db, err, sizeof(err)), 0);
    EXPECT_EQ(mode_of(path), 0600);
    EXPECT_EQ(vg_auth_keys_load(k2, NULL, db, err, sizeof(err)), 0);
    EXPECT_TRUE(!same(k1->token, k2->token) && !same(k1->csrf, k2->csrf));
    expect_distinct(k2);
    sodium_free(k1);
    sodium_free(k2);
    remove_dir(dir);
}

VG_TEST(master_key_keys_are_distinct_stable_and_follow_the_master_key)
{
    vg_secrets_init();
    char dir[64], db[96], path[128], err[512];
    temp_dir(dir, db);
    vg_secrets_t *a = NULL, *b = NULL;
    EXPECT_EQ(vg_secrets_from_hex(&a, KEY_A, err, sizeof(err)), 0);
    EXPECT_EQ(vg_secrets_from_hex(&b, KEY_B, err, sizeof(err)), 0);
    vg_auth_keys_t *ka = sodium_malloc(sizeof(*ka)), *ka2 = sodium_malloc(sizeof(*ka2)),
                   *kb = sodium_malloc(sizeof(*kb)), *kf = sodium_malloc(sizeof(*kf));
    EXPECT_EQ(vg_auth_keys_load(ka, a, db, err, sizeof(err)), 0);
    expect_distinct(ka);
    /* With a master key nothing is written beside the database. */
    EXPECT_TRUE(vg_auth_keys_path(db, path, sizeof(path)));
    EXPECT_TRUE(access(path, F_OK) != 0);
    EXPECT_EQ(vg_auth_keys_load(ka2, a, "/elsewhere/other.db", err, sizeof(err)), 0);
    EXPECT_TRUE(same(ka->token, ka2->token) && same(ka->csrf, ka2->csrf));
    /* A new master key (vigil rekey --new-key-file) gives new keys. */
    EXPECT_EQ(vg_auth_keys_load(kb, b, db, err, sizeof(err)), 0);
    EXPECT_TRUE(!same(ka->token, kb->token) && !same(ka->csrf, kb->csrf));
    /* And none of them is the master key itself. */
    uint8_t raw[32];
    size_t got;
    sodium_hex2bin(raw, sizeof(raw), KEY_A, 64, NULL, &got, NULL);
    EXPECT_TRUE(!same(ka->token, raw) && !same(ka->csrf, raw));
    /* Without the master key, the key file's root: other keys again. */
    EXPECT_EQ(vg_auth_keys_load(kf, NULL, db, err, sizeof(err)), 0);
    EXPECT_TRUE(!same(kf->token, ka->token) && !same(kf->csrf, ka->csrf));
    vg_secrets_free(&a);
    vg_secrets_free(&b);
    sodium_free(ka);
    sodium_free(ka2);
    sodium_free(kb);
    sodium_free(kf);
    remove_dir(dir);
}

VG_TEST(a_loose_or_damaged_key_file_is_refused)
{
    vg_secrets_init();
    char dir[64], db[96], path[128], err[512];
    temp_dir(dir, db);
    vg_auth_keys_path(db, path, sizeof(path));
    vg_auth_keys_t *k = sodium_malloc(sizeof(*k));
    EXPECT_EQ(vg_auth_keys_load(k, NULL, db, err, sizeof(err)), 0);
    chmod(path, 0644);
    err[0] = '\0';
    EXPECT_TRUE(vg_auth_keys_load(k, NULL, db, err, sizeof(err)) < 0);
    EXPECT_TRUE(strstr(err, "chmod 600") != NULL && strstr(err, "rekey --auth-keys") != NULL);
    chmod(path, 0600);
    FILE *f = fopen(path, "w");
    fputs("# short\n0011\n", f);
    fclose(f);
    EXPECT_TRUE(vg_auth_keys_load(k, NULL, db, err, sizeof(err)) < 0);
    EXPECT_TRUE(strstr(err, "damaged") != NULL);
    /* The key alone on one line, without comments, is read too. */
    f = fopen(path, "w");
    fprintf(f, "%s\n", KEY_A);
    fclose(f);
    EXPECT_EQ(vg_auth_keys_load(k, NULL, db, err, sizeof(err)), 0);
    sodium_free(k);
    remove_dir(dir);
}

VG_TEST(instances_starting_together_agree_on_the_keys)
{
    vg_secrets_init();
    char dir[64], db[96], err[512];
    temp_dir(dir, db);
    enum { N = 6 };
    int fds[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        EXPECT_EQ(pipe(fds[i]), 0);
        pids[i] = fork();
        if (pids[i] == 0) {
            vg_auth_keys_t k;
            int rc = vg_auth_keys_load(&k, NULL, db, err, sizeof(err));
            ssize_t w = write(fds[i][1], rc == 0 ? k.token : (const uint8_t *)"", rc == 0 ? 32 : 0);
            _exit(w == 32 ? 0 : 1);
        }
        close(fds[i][1]);
    }
    uint8_t first[32] = {0};
    for (int i = 0; i < N; i++) {
        uint8_t got[32];
        EXPECT_EQ(read(fds[i][0], got, sizeof(got)), 32);
        close(fds[i][0]);
        int status = -1;
        waitpid(pids[i], &status, 0);
        EXPECT_EQ(status, 0);
        if (i == 0)
            memcpy(first, got, 32);
        else
            EXPECT_TRUE(same(first, got));
    }
    remove_dir(dir);
}

VG_TEST(a_database_without_a_file_gets_keys_for_the_process_only)
{
    vg_secrets_init();
    char err[512], path[128];
    EXPECT_TRUE(!vg_auth_keys_path(":memory:", path, sizeof(path)));
    vg_auth_keys_t k1, k2;
    EXPECT_EQ(vg_auth_keys_load(&k1, NULL, ":memory:", err, sizeof(err)), 0);
    EXPECT_EQ(vg_auth_keys_load(&k2, NULL, ":memory:", err, sizeof(err)), 0);
    EXPECT_TRUE(!same(k1.token, k2.token));
    EXPECT_TRUE(vg_auth_keys_rotate(":memory:", err, sizeof(err)) < 0);
    sodium_memzero(&k1, sizeof(k1));
    sodium_memzero(&k2, sizeof(k2));
}

static int count_rows(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

VG_TEST(the_database_is_private_and_loses_the_clear_token_key)
{
    vg_secrets_init();
    char dir[64], db[96], p[128];
    temp_dir(dir, db);
    mode_t old = umask(022); /* what a shell gives: SQLite alone would make 0644 files */
    vg_store_t *s = NULL;
    vg_store_err_t serr;
    vg_store_cfg_t cfg = {.path = db};
    EXPECT_EQ(vg_store_open(&s, &cfg, &serr), 0);
    /* A write makes the -wal file; the -shm is there since the open (WAL mode). */
    vg_audit_entry_t e = {.actor = "t", .action = "test", .outcome = "ok"};
    EXPECT_EQ(vg_store_audit(s, &e, &serr), 0);
    EXPECT_EQ(mode_of(db), 0600);
    snprintf(p, sizeof(p), "%s-wal", db);
    EXPECT_EQ(mode_of(p), 0600);
    snprintf(p, sizeof(p), "%s-shm", db);
    EXPECT_EQ(mode_of(p), 0600);
    vg_store_close(&s);
    umask(old);
    /* A database from before issue 12 kept the key in meta, in clear: opening it drops it. */
    sqlite3 *h = NULL;
    EXPECT_EQ(sqlite3_open(db, &h), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(h,
                           "INSERT INTO meta (key, value) VALUES ('stream_token_key', "
                           "'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff')",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(h);
    EXPECT_EQ(count_rows(db, "SELECT count(*) FROM meta WHERE key = 'stream_token_key'"), 1);
    EXPECT_EQ(vg_store_open(&s, &cfg, &serr), 0);
    vg_store_close(&s);
    EXPECT_EQ(count_rows(db, "SELECT count(*) FROM meta WHERE key = 'stream_token_key'"), 0);
    remove_dir(dir);
}
