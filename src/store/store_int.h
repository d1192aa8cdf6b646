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
    /* One statement of the store's own SQL (access.c), parameters ?1..?n bound from vals;
     * result rows go to cb (may be NULL), *changes (may be NULL) gets the rows written.
     * Constraint failures are 409 "conflict". */
    /* How long a statement waits for another connection's lock before failing 503 "busy". */
    void (*set_busy_timeout)(void *db, int ms);
    int (*query)(void *db, const char *sql, const vg_val_t *vals, int n, vg_row_cb cb,
                 void *arg, size_t *changes, vg_store_err_t *err);
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
