/* store_int: the backend interface the store's public functions run on (sqlite.c, pg.c).
 * Rows are flat: a table, named columns and values; validation, JSON and secrets stay in
 * store.c. */
#ifndef VG_STORE_INT_H
#define VG_STORE_INT_H

#include "store/store.h"

typedef enum { VG_VAL_NULL, VG_VAL_INT, VG_VAL_TEXT, VG_VAL_BLOB } vg_val_type_t;

typedef struct vg_val {
    vg_val_type_t type;
    int64_t i;
    const char *text;  /* VG_VAL_TEXT: NUL-terminated */
    const void *blob;  /* VG_VAL_BLOB */
    size_t len;
} vg_val_t;

/* One row from select: vals[i] for cols[i], valid during the call. Return 0 to go on. */
typedef int (*vg_row_cb)(const vg_val_t *vals, int n, void *arg);

/* The store's own statements (access.c, apikeys.c, cluster.c), by name. Each backend keeps
 * their text in its own dialect (sqlite.c, pg.c), so callers hold no SQL and no backend
 * rewrites another's. The comment gives the parameters, in order, and the result columns. */
typedef enum vg_stmt {
    /* grants */
    VG_STMT_GRANT_INSERT,           /* tenant, user, camera, site (each may be NULL); once */
    VG_STMT_GRANT_DELETE,           /* tenant, user, camera, site; NULL matches NULL */
    VG_STMT_GRANT_LIST,             /* tenant, user (NULL: any) -> tenant, user, camera, site */
    /* users and sessions */
    VG_STMT_USER_LOGIN,             /* id -> role, tenant_id, password_hash, enabled */
    VG_STMT_ADMIN_COUNT,            /* -> count of enabled admins */
    VG_STMT_SESSION_INSERT,         /* token_hash, user_id, created_us, expires_us, peer */
    VG_STMT_SESSION_DELETE,         /* token_hash */
    VG_STMT_SESSIONS_DELETE_USER,   /* user_id */
    VG_STMT_SESSIONS_PURGE,         /* now_us: those expired by then */
    /* audit */
    VG_STMT_AUDIT_INSERT,           /* at_us, actor, action, target, outcome, detail, peer */
    VG_STMT_AUDIT_LIST,             /* limit, offset -> id, at_us, ..., peer; newest first */
    /* the access snapshot, read in one transaction */
    VG_STMT_ACCESS_USERS,           /* -> id, role, tenant_id, enabled, auth_epoch */
    VG_STMT_ACCESS_SESSIONS,        /* now_us -> token_hash, user_id, expires_us (unexpired) */
    VG_STMT_ACCESS_GRANTS,          /* -> tenant_id, user_id, camera_id, site_id */
    VG_STMT_ACCESS_CAMERAS,         /* -> id, site_id, the site's tenant_id, enabled */
    VG_STMT_ACCESS_KEYS,            /* -> id, key_hash, user_id, role, cameras, expires_us */
    /* integration keys; rows: id, name, user_id, role, cameras, created, expires, last used */
    VG_STMT_KEY_LIST,               /* -> rows */
    VG_STMT_KEY_LIST_USER,          /* user_id -> rows */
    VG_STMT_KEY_GET,                /* id -> row */
    VG_STMT_KEY_INSERT,             /* id, name, user_id, key_hash, role, cameras, expires_us */
    VG_STMT_KEY_DELETE,             /* id */
    VG_STMT_KEY_TOUCH,              /* id, last_used_us */
    /* instances and camera leases */
    VG_STMT_INSTANCE_BEAT,          /* id, urls, capacity, load, draining, now_us,
                                       started_us (the process's): upsert */
    VG_STMT_INSTANCE_LEASES_DELETE, /* instance id */
    VG_STMT_INSTANCE_DELETE,        /* id */
    VG_STMT_INSTANCE_LIST,          /* now_us -> id, urls, ..., heartbeat_us, leases held */
    VG_STMT_INSTANCE_URLS,          /* id -> urls */
    VG_STMT_INSTANCE_DRAIN,         /* id: asked to hand its cameras over and exit */
    VG_STMT_INSTANCE_DRAINING,      /* id -> draining */
    VG_STMT_LEASE_TAKE,             /* camera, instance, now_us, expires_us; free or own */
    VG_STMT_LEASE_GET,              /* camera -> instance_id, expires_us */
    VG_STMT_LEASE_RELEASE,          /* camera, instance */
    VG_STMT_LEASES_RENEW,           /* instance, expires_us, now_us: the unexpired ones */
    VG_STMT_LEASES_HELD,            /* instance, now_us -> camera_id (unexpired) */
    VG_STMT_LEASES_LIST,            /* now_us -> camera_id, instance_id, 1 if unexpired */
    VG_STMT_SITE_CLAIM,             /* site, instance, now_us: upsert (the newest link wins) */
    VG_STMT_SITE_RELEASE,           /* site, instance: only that instance's */
    VG_STMT_SITE_GET,               /* site -> instance_id, heartbeat_us */
    VG_STMT__COUNT
} vg_stmt_t;

typedef struct vg_store_backend_ops {
    const char *name;
    int (*open)(void **db, const char *path, bool is_read_only, vg_store_err_t *err);
    void (*close)(void *db);
    /* Brings the schema to the newest version; *version gets it. */
    int (*migrate)(void *db, int *version, vg_store_err_t *err);
    int64_t (*data_version)(void *db);
    int (*begin)(void *db, vg_store_err_t *err);
    /* A read transaction whose statements all see the same snapshot; ended by commit or
     * rollback. */
    int (*begin_read)(void *db, vg_store_err_t *err);
    int (*commit)(void *db, vg_store_err_t *err);
    void (*rollback)(void *db);
    /* Rows of table (all, or the one with id), ordered by id, paged. */
    int (*select)(void *db, const char *table, const char *const *cols, int ncols,
                  const char *id, size_t offset, size_t limit, vg_row_cb cb, void *arg,
                  vg_store_err_t *err);
    int (*count)(void *db, const char *table, size_t *out, vg_store_err_t *err);
    /* 409 "conflict" on a duplicate id. */
    int (*insert)(void *db, const char *table, const char *const *cols, const vg_val_t *vals,
                  int n, vg_store_err_t *err);
    /* 404 when no row has id. */
    int (*update)(void *db, const char *table, const char *id, const char *const *cols,
                  const vg_val_t *vals, int n, vg_store_err_t *err);
    /* 404 when no row has id; 409 when other rows still refer to it. */
    int (*remove)(void *db, const char *table, const char *id, vg_store_err_t *err);
    /* Rows of table whose column equals value (a reference count). */
    int (*count_where)(void *db, const char *table, const char *column, const char *value,
                       size_t *out, vg_store_err_t *err);
    /* meta key/value (*out malloc'd, NULL when absent). */
    int (*meta_get)(void *db, const char *key, char **out, vg_store_err_t *err);
    int (*meta_set)(void *db, const char *key, const char *value, vg_store_err_t *err);
    /* How long a statement waits for another connection's lock before failing 503 "busy". */
    void (*set_busy_timeout)(void *db, int ms);
    /* Runs the backend's text of stmt with vals as its parameters 1..n; result rows go to cb
     * (may be NULL; a nonzero return stops and is returned), *changes (may be NULL) gets the
     * rows written. Constraint failures are 409 "conflict". */
    int (*run)(void *db, vg_stmt_t stmt, const vg_val_t *vals, int n, vg_row_cb cb, void *arg,
               size_t *changes, vg_store_err_t *err);
} vg_store_backend_ops_t;

/* Shared by store.c and access.c. */
struct vg_store {
    const vg_store_backend_ops_t *ops;
    void *db;
    vg_secrets_t *secrets; /* borrowed; NULL: locked */
    int schema_version;
};

extern const vg_store_backend_ops_t vg_store_sqlite_ops;
extern const vg_store_backend_ops_t vg_store_pg_ops; /* pg.c */

/* sql.c: the generic statements, with the backend's parameter mark ('?' or '$'). */
typedef struct vg__sql {
    char s[2048];
    size_t n;
} vg__sql_t;
void vg__sql_select(vg__sql_t *q, char mark, const char *table, const char *const *cols,
                    int ncols, bool is_by_id, size_t offset, size_t limit);
void vg__sql_count(vg__sql_t *q, char mark, const char *table, const char *column);
void vg__sql_insert(vg__sql_t *q, char mark, const char *table, const char *const *cols, int n);
void vg__sql_update(vg__sql_t *q, char mark, const char *table, const char *const *cols, int n);
void vg__sql_delete(vg__sql_t *q, char mark, const char *table);

void vg__store_err(vg_store_err_t *err, int status, const char *code, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
