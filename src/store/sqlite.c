/* sqlite: the store's SQLite backend — one file in WAL mode, foreign keys on, numbered
 * migrations applied at open (PRAGMA user_version is the schema version).
 *
 * Other processes (the CLI, the sqlite3 shell, an asset register) may write the same file:
 * a busy timeout waits out their transactions, and PRAGMA data_version tells the server
 * when they committed something.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 5000

/* Migration n brings the schema from version n-1 to n. Append only: never edit one that has
 * shipped. */
/* Rows written by other programs (sqlite3, an asset register) need not give the times. */
#define TIMES                                                                                  \
    "  created_us INTEGER NOT NULL DEFAULT (" NOW_US "),"                                     \
    "  updated_us INTEGER NOT NULL DEFAULT (" NOW_US "));"
#define NOW_US "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"

static const char *const migrations[] = {
    /* 1: sites, gateways, tenants, cameras */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE tenants ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    TIMES
    "CREATE TABLE gateways ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, host TEXT NOT NULL,"
    "  mappings TEXT NOT NULL DEFAULT '[]',"
    TIMES
    "CREATE TABLE sites ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  tenant_id TEXT REFERENCES tenants(id) ON DELETE RESTRICT,"
    "  is_local INTEGER NOT NULL DEFAULT 1 CHECK (is_local IN (0, 1)),"
    "  gateway_id TEXT REFERENCES gateways(id) ON DELETE RESTRICT,"
    "  data_key BLOB," /* the site's data key, wrapped by the master key */
    TIMES
    "CREATE TABLE cameras ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  site_id TEXT NOT NULL DEFAULT 'default' REFERENCES sites(id) ON DELETE RESTRICT,"
    "  url TEXT NOT NULL, substream_url TEXT, snapshot_url TEXT,"
    "  username TEXT, password_sealed BLOB,"
    "  ptz_driver TEXT, ptz_address TEXT,"
    "  always_on INTEGER NOT NULL DEFAULT 0 CHECK (always_on IN (0, 1)),"
    "  idle_timeout_s INTEGER, tiers TEXT, default_tier TEXT,"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
    "  owner TEXT NOT NULL DEFAULT 'api',"
    TIMES
    "CREATE INDEX cameras_site ON cameras(site_id);"
    "CREATE INDEX sites_tenant ON sites(tenant_id);"
    "CREATE INDEX sites_gateway ON sites(gateway_id);"
    "INSERT INTO sites (id, name, is_local, created_us, updated_us)"
    "  VALUES ('default', 'Default site', 1, 0, 0);",
    /* 2: users and their grants (issue 6). A grant gives a tenant or one user a camera or a
     * whole site; it goes with either end. */
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  role TEXT NOT NULL DEFAULT 'viewer' CHECK (role IN ('admin', 'operator', 'viewer')),"
    "  tenant_id TEXT REFERENCES tenants(id) ON DELETE RESTRICT,"
    "  password_hash TEXT,"
    "  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
    TIMES
    "CREATE INDEX users_tenant ON users(tenant_id);"
    "CREATE TABLE grants ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id TEXT REFERENCES tenants(id) ON DELETE CASCADE,"
    "  user_id TEXT REFERENCES users(id) ON DELETE CASCADE,"
    "  camera_id TEXT REFERENCES cameras(id) ON DELETE CASCADE,"
    "  site_id TEXT REFERENCES sites(id) ON DELETE CASCADE,"
    "  created_us INTEGER NOT NULL DEFAULT (" NOW_US "),"
    "  CHECK ((tenant_id IS NULL) <> (user_id IS NULL)),"
    "  CHECK ((camera_id IS NULL) <> (site_id IS NULL)));"
    "CREATE UNIQUE INDEX grants_once ON grants(IFNULL(tenant_id, ''), IFNULL(user_id, ''),"
    "  IFNULL(camera_id, ''), IFNULL(site_id, ''));",
    /* 3: browser sessions (only a hash of each token is kept) and the audit log. */
    "CREATE TABLE sessions ("
    "  token_hash BLOB PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_us INTEGER NOT NULL, expires_us INTEGER NOT NULL, peer TEXT);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at_us INTEGER NOT NULL DEFAULT (" NOW_US "),"
    "  actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT, outcome TEXT NOT NULL,"
    "  detail TEXT, peer TEXT);"
    "CREATE INDEX audit_at ON audit(at_us);",
    /* 4: credentials that follow their user (issue 12). auth_epoch counts the changes that
     * must end a user's credentials (a new password, being disabled): stream tokens are
     * signed with it, so they die with the change. A trigger makes every writer (the CLI,
     * sqlite3, another program) end the sessions too. Integration keys are kept as hashes. */
    "ALTER TABLE users ADD COLUMN auth_epoch INTEGER NOT NULL DEFAULT 0;"
    "CREATE TRIGGER users_credentials_changed AFTER UPDATE OF password_hash, enabled ON users"
    "  WHEN NEW.password_hash IS NOT OLD.password_hash OR NEW.enabled <> OLD.enabled"
    "  BEGIN"
    "    UPDATE users SET auth_epoch = OLD.auth_epoch + 1 WHERE id = NEW.id;"
    "    DELETE FROM sessions WHERE user_id = NEW.id;"
    "  END;"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  key_hash BLOB NOT NULL UNIQUE,"
    "  role TEXT NOT NULL DEFAULT 'viewer' CHECK (role IN ('admin', 'operator', 'viewer')),"
    "  cameras TEXT," /* a JSON array of camera ids; NULL: whatever the user sees */
    "  created_us INTEGER NOT NULL DEFAULT (" NOW_US "),"
    "  expires_us INTEGER, last_used_us INTEGER);"
    "CREATE INDEX api_keys_user ON api_keys(user_id);",
    /* 5: instances sharing the database, and the lease each camera is pulled under (issue
     * 18): one row per camera, taken by one instance until it expires (store/cluster.c). */
    "CREATE TABLE instances ("
    "  id TEXT PRIMARY KEY, urls TEXT NOT NULL DEFAULT '[]',"
    "  capacity INTEGER NOT NULL DEFAULT 0, load INTEGER NOT NULL DEFAULT 0,"
    "  draining INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1)),"
    "  started_us INTEGER NOT NULL, heartbeat_us INTEGER NOT NULL);"
    "CREATE TABLE camera_leases ("
    "  camera_id TEXT PRIMARY KEY REFERENCES cameras(id) ON DELETE CASCADE,"
    "  instance_id TEXT NOT NULL, acquired_us INTEGER NOT NULL, expires_us INTEGER NOT NULL);"
    "CREATE INDEX camera_leases_instance ON camera_leases(instance_id);",
    /* 6: which instance an edge site's uplink reached (fleet/uplink.h): the others relay its
     * cameras from there. Renewed with the instance's heartbeat. */
    ("CREATE TABLE uplink_sites ("
     "  site TEXT PRIMARY KEY, instance_id TEXT NOT NULL, heartbeat_us INTEGER NOT NULL);"),
};
#define SCHEMA_VERSION (int)(sizeof(migrations) / sizeof(migrations[0]))

/* The store's own statements (store_int.h), in SQLite's words: `IS` compares NULL with NULL
 * as equal, `excluded` is the row an upsert would have inserted. */
#define KEY_COLUMNS "id, name, user_id, role, cameras, created_us, expires_us, last_used_us"
static const char *const statements[] = {
    [VG_STMT_GRANT_INSERT] = "INSERT INTO grants (tenant_id, user_id, camera_id, site_id) "
                             "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    [VG_STMT_GRANT_DELETE] = "DELETE FROM grants WHERE tenant_id IS ?1 AND user_id IS ?2 "
                             "AND camera_id IS ?3 AND site_id IS ?4",
    [VG_STMT_GRANT_LIST] = "SELECT tenant_id, user_id, camera_id, site_id FROM grants "
                           "WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR user_id = ?2) "
                           "ORDER BY tenant_id, user_id, camera_id, site_id",
    [VG_STMT_USER_LOGIN] =
        "SELECT role, tenant_id, password_hash, enabled FROM users WHERE id = ?1",
    [VG_STMT_ADMIN_COUNT] = "SELECT count(*) FROM users WHERE role = 'admin' AND enabled = 1",
    [VG_STMT_SESSION_INSERT] =
        "INSERT INTO sessions (token_hash, user_id, created_us, expires_us, peer) "
        "VALUES (?1, ?2, ?3, ?4, ?5)",
    [VG_STMT_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
    [VG_STMT_SESSIONS_DELETE_USER] = "DELETE FROM sessions WHERE user_id = ?1",
    [VG_STMT_SESSIONS_PURGE] = "DELETE FROM sessions WHERE expires_us <= ?1",
    [VG_STMT_AUDIT_INSERT] =
        "INSERT INTO audit (at_us, actor, action, target, outcome, detail, peer) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [VG_STMT_AUDIT_LIST] = "SELECT id, at_us, actor, action, target, outcome, detail, peer "
                           "FROM audit ORDER BY id DESC LIMIT ?1 OFFSET ?2",
    [VG_STMT_ACCESS_USERS] =
        "SELECT id, role, tenant_id, enabled, auth_epoch FROM users ORDER BY id",
    [VG_STMT_ACCESS_SESSIONS] = "SELECT token_hash, user_id, expires_us FROM sessions "
                                "WHERE expires_us > ?1 ORDER BY token_hash",
    [VG_STMT_ACCESS_GRANTS] =
        "SELECT tenant_id, user_id, camera_id, site_id FROM grants ORDER BY id",
    [VG_STMT_ACCESS_CAMERAS] = "SELECT c.id, c.site_id, t.tenant_id, c.enabled FROM cameras c "
                               "LEFT JOIN sites t ON t.id = c.site_id ORDER BY c.id",
    [VG_STMT_ACCESS_KEYS] = "SELECT id, key_hash, user_id, role, cameras, expires_us "
                            "FROM api_keys ORDER BY key_hash",
    [VG_STMT_KEY_LIST] = "SELECT " KEY_COLUMNS " FROM api_keys ORDER BY id",
    [VG_STMT_KEY_LIST_USER] =
        "SELECT " KEY_COLUMNS " FROM api_keys WHERE user_id = ?1 ORDER BY id",
    [VG_STMT_KEY_GET] = "SELECT " KEY_COLUMNS " FROM api_keys WHERE id = ?1",
    [VG_STMT_KEY_INSERT] = "INSERT INTO api_keys (id, name, user_id, key_hash, role, cameras, "
                           "expires_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [VG_STMT_KEY_DELETE] = "DELETE FROM api_keys WHERE id = ?1",
    [VG_STMT_KEY_TOUCH] = "UPDATE api_keys SET last_used_us = ?2 WHERE id = ?1",
    [VG_STMT_INSTANCE_BEAT] =
        "INSERT INTO instances (id, urls, capacity, load, draining, started_us, heartbeat_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?7, ?6) "
        "ON CONFLICT (id) DO UPDATE SET urls = excluded.urls, capacity = excluded.capacity,"
        " load = excluded.load,"
        /* a drain asked through the API holds until this process exits; a new process
         * under the same id starts undrained */
        " draining = CASE WHEN instances.started_us = excluded.started_us"
        "  AND instances.draining = 1 THEN 1 ELSE excluded.draining END,"
        " started_us = excluded.started_us, heartbeat_us = excluded.heartbeat_us",
    [VG_STMT_INSTANCE_LEASES_DELETE] = "DELETE FROM camera_leases WHERE instance_id = ?1",
    [VG_STMT_INSTANCE_DELETE] = "DELETE FROM instances WHERE id = ?1",
    [VG_STMT_INSTANCE_LIST] =
        "SELECT i.id, i.urls, i.capacity, i.load, i.draining, i.started_us, i.heartbeat_us,"
        " (SELECT count(*) FROM camera_leases l"
        "  WHERE l.instance_id = i.id AND l.expires_us > ?1) "
        "FROM instances i ORDER BY i.id",
    [VG_STMT_INSTANCE_URLS] = "SELECT urls FROM instances WHERE id = ?1",
    [VG_STMT_INSTANCE_DRAIN] = "UPDATE instances SET draining = 1 WHERE id = ?1",
    [VG_STMT_INSTANCE_DRAINING] = "SELECT draining FROM instances WHERE id = ?1",
    /* A lease whose holder changes starts anew (acquired_us); a renewal keeps it. */
    [VG_STMT_LEASE_TAKE] =
        "INSERT INTO camera_leases (camera_id, instance_id, acquired_us, expires_us) "
        "VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (camera_id) DO UPDATE SET expires_us = excluded.expires_us,"
        " acquired_us = CASE WHEN camera_leases.instance_id = excluded.instance_id"
        "  THEN camera_leases.acquired_us ELSE excluded.acquired_us END,"
        " instance_id = excluded.instance_id "
        "WHERE camera_leases.instance_id = excluded.instance_id"
        " OR camera_leases.expires_us <= excluded.acquired_us",
    [VG_STMT_LEASE_GET] =
        "SELECT instance_id, expires_us FROM camera_leases WHERE camera_id = ?1",
    [VG_STMT_LEASE_RELEASE] =
        "DELETE FROM camera_leases WHERE camera_id = ?1 AND instance_id = ?2",
    [VG_STMT_LEASES_RENEW] = "UPDATE camera_leases SET expires_us = ?2 "
                             "WHERE instance_id = ?1 AND expires_us > ?3",
    [VG_STMT_LEASES_HELD] = "SELECT camera_id FROM camera_leases WHERE instance_id = ?1 "
                            "AND expires_us > ?2 ORDER BY camera_id",
    [VG_STMT_LEASES_LIST] =
        "SELECT camera_id, instance_id, CASE WHEN expires_us > ?1 THEN 1 ELSE 0 END "
        "FROM camera_leases",
    [VG_STMT_SITE_CLAIM] =
        "INSERT INTO uplink_sites (site, instance_id, heartbeat_us) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (site) DO UPDATE SET instance_id = excluded.instance_id,"
        " heartbeat_us = excluded.heartbeat_us",
    [VG_STMT_SITE_RELEASE] = "DELETE FROM uplink_sites WHERE site = ?1 AND instance_id = ?2",
    [VG_STMT_SITE_GET] = "SELECT instance_id, heartbeat_us FROM uplink_sites WHERE site = ?1",
};
_Static_assert(sizeof(statements) / sizeof(statements[0]) == VG_STMT__COUNT,
               "sqlite.c: a text for every statement of store_int.h");

/* The assert above sees only the table's length: a statement left out before the last one
 * would be a NULL found at its first call, so every open looks for one. */
static void check_statements(void)
{
    for (int i = 0; i < VG_STMT__COUNT; i++)
        VG_ASSERT(statements[i] != NULL);
}

static int sql_err(sqlite3 *db, vg_store_err_t *err, const char *what)
{
    int code = sqlite3_extended_errcode(db);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        vg__store_err(err, 503, "busy", "", "%s: the database is busy (%s)", what,
                      sqlite3_errmsg(db));
    else
        vg__store_err(err, 500, "internal", "", "%s: %s", what, sqlite3_errmsg(db));
    return VG_EINVAL;
}

static int exec(sqlite3 *db, const char *sql, vg_store_err_t *err, const char *what)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : sql_err(db, err, what);
}

static bool has_file(const char *path) { return *path != '\0' && strcmp(path, ":memory:") != 0; }

/* The database holds password and session hashes and wrapped site keys: only its owner may
 * read it (issue 12). SQLite would create a missing file 0644 (less the umask); it gives the
 * -wal and -shm files it makes later the database file's own mode (unixOpen's
 * findCreateFileMode), so creating the file 0600 before SQLite opens it covers all three. */
static int create_private(const char *path, vg_store_err_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd); /* SQLite takes an empty file for an empty database */
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    vg__store_err(err, 500, "internal", "", "cannot create database %s: %s", path,
                  strerror(errno));
    return VG_EINVAL;
}

/* A file that exists keeps its mode (its owner may share it on purpose), but one that others
 * may read is named at every start, with the command that closes it. */
static void warn_if_open_to_others(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char names[3 * (PATH_MAX + 3)] = "", first[PATH_MAX] = "";
    size_t used = 0;
    unsigned first_mode = 0;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char name[PATH_MAX];
        struct stat sb;
        snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
        if (stat(name, &sb) != 0 || (sb.st_mode & 077) == 0)
            continue;
        if (used == 0) {
            snprintf(first, sizeof(first), "%s", name);
            first_mode = (unsigned)(sb.st_mode & 0777);
        }
        /* Quoted when the shell would split or expand it. */
        bool is_plain = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789._/-+:@") == strlen(name);
        int n = snprintf(names + used, sizeof(names) - used, is_plain ? " %s" : " '%s'", name);
        if (n > 0 && used + (size_t)n < sizeof(names))
            used += (size_t)n;
    }
    if (used > 0)
        VG_LOG_WARN("store",
                    "other users can read %s (mode %04o), which holds password hashes and "
                    "wrapped keys; run: chmod 600%s",
                    first, first_mode, names);
}

/* Before issue 12 the stream-token key sat in meta in clear (hex). The keys are now derived
 * (store/keys.c) and the old row goes. Deleting it also retires it: nothing checks a token
 * against it any more, so a copy left in a backup or a free page signs nothing. Only a
 * database that has the row is written to. */
static int drop_clear_token_key(sqlite3 *db, vg_store_err_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM meta WHERE key = 'stream_token_key'", -1, &st,
                           NULL) != SQLITE_OK)
        return 0; /* no meta table: a new database, migrated next */
    bool has_row = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return has_row ? exec(db, "DELETE FROM meta WHERE key = 'stream_token_key'", err,
                          "removing the old stream token key")
                   : 0;
}

static int sq_open(void **out, const char *path, bool is_read_only, vg_store_err_t *err)
{
    sqlite3 *db = NULL;
    check_statements();
    if (has_file(path)) {
        if (!is_read_only && create_private(path, err) < 0)
            return VG_EINVAL;
        warn_if_open_to_others(path);
    }
    int flags = is_read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        vg__store_err(err, 500, "internal", "", "cannot open database %s: %s", path,
                      db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return VG_EINVAL;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(db, 1);
    /* A file that is not a database fails here, with SQLite's own words for it. */
    if (exec(db, "PRAGMA foreign_keys = ON", err, path) < 0 ||
        (!is_read_only && exec(db, "PRAGMA journal_mode = WAL", err, path) < 0) ||
        exec(db, "PRAGMA synchronous = NORMAL", err, path) < 0 ||
        (!is_read_only && drop_clear_token_key(db, err) < 0)) {
        sqlite3_close(db);
        return VG_EINVAL;
    }
    *out = db;
    return 0;
}

static void sq_close(void *db) { sqlite3_close(db); }

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return VG_EINVAL;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : VG_EINVAL;
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static int sq_migrate(void *vdb, int *version, vg_store_err_t *err)
{
    sqlite3 *db = vdb;
    int v;
    if (exec(db, "BEGIN IMMEDIATE", err, "migrate") < 0)
        return VG_EINVAL;
    if (user_version(db, &v) < 0) {
        sql_err(db, err, "schema version");
        goto fail;
    }
    if (v > SCHEMA_VERSION) {
        vg__store_err(err, 500, "internal", "",
                      "the database has schema version %d; this vigil knows up to %d "
                      "(a newer vigil wrote it)", v, SCHEMA_VERSION);
        goto fail;
    }
    for (; v < SCHEMA_VERSION; v++) {
        char what[40], bump[48];
        snprintf(what, sizeof(what), "migration %d", v + 1);
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
        if (exec(db, migrations[v], err, what) < 0 || exec(db, bump, err, what) < 0)
            goto fail;
    }
    if (exec(db, "COMMIT", err, "migrate") < 0)
        goto fail;
    *version = v;
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return VG_EINVAL;
}

static int64_t sq_data_version(void *vdb)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(vdb, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int sq_begin(void *db, vg_store_err_t *err) { return exec(db, "BEGIN IMMEDIATE", err, "begin"); }
/* One snapshot for the reads until commit or rollback (SQLite's transactions are one). */
static int sq_begin_read(void *db, vg_store_err_t *err) { return exec(db, "BEGIN", err, "begin"); }
static int sq_commit(void *db, vg_store_err_t *err) { return exec(db, "COMMIT", err, "commit"); }
static void sq_rollback(void *db) { sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); }

static void bind(sqlite3_stmt *st, int i, const vg_val_t *v)
{
    switch (v->type) {
    case VG_VAL_INT: sqlite3_bind_int64(st, i, v->i); break;
    case VG_VAL_TEXT: sqlite3_bind_text(st, i, v->text, -1, SQLITE_TRANSIENT); break;
    case VG_VAL_BLOB: sqlite3_bind_blob(st, i, v->blob, (int)v->len, SQLITE_TRANSIENT); break;
    default: sqlite3_bind_null(st, i); break;
    }
}


/* The current row's columns as vg_val_t (valid until the next step). */
static void row_values(sqlite3_stmt *st, vg_val_t *vals, int n)
{
    for (int i = 0; i < n; i++) {
        vg_val_t *v = &vals[i];
        *v = (vg_val_t){0};
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v->type = VG_VAL_INT;
            v->i = sqlite3_column_int64(st, i);
            break;
        case SQLITE_TEXT:
            v->type = VG_VAL_TEXT;
            v->text = (const char *)sqlite3_column_text(st, i);
            v->len = (size_t)sqlite3_column_bytes(st, i);
            break;
        case SQLITE_BLOB:
            v->type = VG_VAL_BLOB;
            v->blob = sqlite3_column_blob(st, i);
            v->len = (size_t)sqlite3_column_bytes(st, i);
            break;
        case SQLITE_FLOAT: /* written by hand with sqlite3: take the integer part */
            v->type = VG_VAL_INT;
            v->i = (int64_t)sqlite3_column_double(st, i);
            break;
        default:
            v->type = VG_VAL_NULL;
        }
    }
}

static int sq_select(void *vdb, const char *table, const char *const *cols, int ncols,
                     const char *id, size_t offset, size_t limit, vg_row_cb cb, void *arg,
                     vg_store_err_t *err)
{
    sqlite3 *db = vdb;
    vg__sql_t q;
    vg__sql_select(&q, '?', table, cols, ncols, id != NULL, offset, limit);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, q.s, -1, &st, NULL) != SQLITE_OK)
        return sql_err(db, err, "select");
    if (id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    vg_val_t vals[32];
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        row_values(st, vals, ncols < 32 ? ncols : 32);
        if ((rc = cb(vals, ncols, arg)) != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = sql_err(db, err, "select");
    sqlite3_finalize(st);
    return rc;
}

static int count_sql(sqlite3 *db, const char *sql, const char *value, size_t *out,
                     vg_store_err_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_err(db, err, "count");
    if (value)
        sqlite3_bind_text(st, 1, value, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : sql_err(db, err, "count");
    *out = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static int sq_count(void *db, const char *table, size_t *out, vg_store_err_t *err)
{
    vg__sql_t q;
    vg__sql_count(&q, '?', table, NULL);
    return count_sql(db, q.s, NULL, out, err);
}

static int sq_count_where(void *db, const char *table, const char *column, const char *value,
                          size_t *out, vg_store_err_t *err)
{
    vg__sql_t q;
    vg__sql_count(&q, '?', table, column);
    return count_sql(db, q.s, value, out, err);
}

static int run(sqlite3 *db, const char *sql, const vg_val_t *vals, int n, const char *id,
               vg_store_err_t *err, const char *what)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_err(db, err, what);
    for (int i = 0; i < n; i++)
        bind(st, i + 1, &vals[i]);
    if (id)
        sqlite3_bind_text(st, n + 1, id, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step == SQLITE_DONE)
        return 0;
    int code = sqlite3_extended_errcode(db);
    if (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE) {
        vg__store_err(err, 409, "conflict", "id", "a record with this id exists");
        return VG_EINVAL;
    }
    if (code == SQLITE_CONSTRAINT_FOREIGNKEY) {
        vg__store_err(err, 409, "conflict", "", "other records refer to this one");
        return VG_EINVAL;
    }
    return sql_err(db, err, what);
}

static int sq_insert(void *db, const char *table, const char *const *cols, const vg_val_t *vals,
                     int n, vg_store_err_t *err)
{
    vg__sql_t q;
    vg__sql_insert(&q, '?', table, cols, n);
    return run(db, q.s, vals, n, NULL, err, "insert");
}

static int sq_update(void *db, const char *table, const char *id, const char *const *cols,
                     const vg_val_t *vals, int n, vg_store_err_t *err)
{
    vg__sql_t q;
    vg__sql_update(&q, '?', table, cols, n);
    if (run(db, q.s, vals, n, id, err, "update") < 0)
        return VG_EINVAL;
    if (sqlite3_changes(db) == 0) {
        vg__store_err(err, 404, "not_found", "id", "no such record");
        return VG_ENOENT;
    }
    return 0;
}

static int sq_remove(void *db, const char *table, const char *id, vg_store_err_t *err)
{
    vg__sql_t q;
    vg__sql_delete(&q, '?', table);
    if (run(db, q.s, NULL, 0, id, err, "delete") < 0)
        return VG_EINVAL;
    if (sqlite3_changes(db) == 0) {
        vg__store_err(err, 404, "not_found", "id", "no such record");
        return VG_ENOENT;
    }
    return 0;
}

static int sq_meta_get(void *vdb, const char *key, char **out, vg_store_err_t *err)
{
    sqlite3 *db = vdb;
    sqlite3_stmt *st;
    *out = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return sql_err(db, err, "meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

static int sq_meta_set(void *db, const char *key, const char *value, vg_store_err_t *err)
{
    vg_val_t vals[2] = {{.type = VG_VAL_TEXT, .text = key}, {.type = VG_VAL_TEXT, .text = value}};
    return run(db, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
               vals, 2, NULL, err, "meta");
}

/* A failed step: a constraint is 409 "conflict" in SQLite's words, the rest sql_err's. */
static int step_err(sqlite3 *db, vg_store_err_t *err)
{
    if ((sqlite3_extended_errcode(db) & 0xff) != SQLITE_CONSTRAINT)
        return sql_err(db, err, "query");
    vg__store_err(err, 409, "conflict", "", "%s", sqlite3_errmsg(db));
    return VG_EINVAL;
}

static int sq_run(void *vdb, vg_stmt_t stmt, const vg_val_t *vals, int n, vg_row_cb cb,
                  void *arg, size_t *changes, vg_store_err_t *err)
{
    sqlite3 *db = vdb;
    sqlite3_stmt *st;
    VG_ASSERT((unsigned)stmt < VG_STMT__COUNT);
    if (sqlite3_prepare_v2(db, statements[stmt], -1, &st, NULL) != SQLITE_OK)
        return sql_err(db, err, "query");
    for (int i = 0; i < n; i++)
        bind(st, i + 1, &vals[i]);
    int ncols = sqlite3_column_count(st);
    vg_val_t row[32];
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        row_values(st, row, ncols < 32 ? ncols : 32);
        if (cb && (rc = cb(row, ncols, arg)) != 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = step_err(db, err);
    if (changes)
        *changes = (size_t)sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

static void sq_set_busy_timeout(void *db, int ms) { sqlite3_busy_timeout(db, ms); }

const vg_store_backend_ops_t vg_store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .migrate = sq_migrate,
    .data_version = sq_data_version,
    .begin = sq_begin,
    .begin_read = sq_begin_read,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .select = sq_select,
    .count = sq_count,
    .insert = sq_insert,
    .update = sq_update,
    .remove = sq_remove,
    .count_where = sq_count_where,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .set_busy_timeout = sq_set_busy_timeout,
    .run = sq_run,
};
