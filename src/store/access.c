/* access: the store's side of access control (see store.h): grants, what login reads of a
 * user, sessions, the audit log, and the snapshot the gate decides with. The visibility rule
 * itself is applied to that snapshot, in one place: auth/cache.c.
 *
 * Statements are named (store_int.h's vg_stmt_t); each backend holds their SQL. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store_int.h"

static vg_val_t text_or_null(const char *s)
{
    return s && *s ? (vg_val_t){.type = VG_VAL_TEXT, .text = s} : (vg_val_t){.type = VG_VAL_NULL};
}

static vg_val_t blob(const void *p, size_t len)
{
    return (vg_val_t){.type = VG_VAL_BLOB, .blob = p, .len = len};
}

static vg_val_t int_val(int64_t i) { return (vg_val_t){.type = VG_VAL_INT, .i = i}; }

static int run(vg_store_t *s, vg_stmt_t stmt, const vg_val_t *vals, int n, vg_row_cb cb,
               void *arg, size_t *changes, vg_store_err_t *err)
{
    return s->ops->run(s->db, stmt, vals, n, cb, arg, changes, err);
}

static int take_count(const vg_val_t *vals, int n, void *arg)
{
    *(int64_t *)arg = n > 0 && vals[0].type == VG_VAL_INT ? vals[0].i : 0;
    return 1;
}

static int count(vg_store_t *s, vg_stmt_t stmt, const vg_val_t *vals, int n, int64_t *out,
                 vg_store_err_t *err)
{
    *out = 0;
    int rc = run(s, stmt, vals, n, take_count, out, NULL, err);
    return rc < 0 ? rc : 0;
}

/* ---- grants ---- */

static int check_grant(vg_store_t *s, const vg_grant_t *g, vg_store_err_t *err)
{
    bool has_party = (g->tenant_id && *g->tenant_id) != (g->user_id && *g->user_id);
    bool has_object = (g->camera_id && *g->camera_id) != (g->site_id && *g->site_id);
    if (!has_party) {
        vg__store_err(err, 400, "bad_request", "tenant_id",
                      "a grant goes to exactly one tenant or one user");
        return VG_EINVAL;
    }
    if (!has_object) {
        vg__store_err(err, 400, "bad_request", "camera_id",
                      "a grant gives exactly one camera or one site");
        return VG_EINVAL;
    }
    static const struct {
        const char *table, *field;
        size_t offset;
    } refs[] = {
        {"tenants", "tenant_id", offsetof(vg_grant_t, tenant_id)},
        {"users", "user_id", offsetof(vg_grant_t, user_id)},
        {"cameras", "camera_id", offsetof(vg_grant_t, camera_id)},
        {"sites", "site_id", offsetof(vg_grant_t, site_id)},
    };
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        const char *id = *(const char *const *)((const char *)g + refs[i].offset);
        if (id == NULL || *id == '\0')
            continue;
        size_t n;
        if (s->ops->count_where(s->db, refs[i].table, "id", id, &n, err) < 0)
            return VG_EINVAL;
        if (n == 0) {
            vg__store_err(err, 404, "not_found", refs[i].field, "no %.*s '%s'",
                          (int)strlen(refs[i].table) - 1, refs[i].table, id);
            return VG_ENOENT;
        }
    }
    return 0;
}

static void grant_vals(const vg_grant_t *g, vg_val_t v[4])
{
    v[0] = text_or_null(g->tenant_id);
    v[1] = text_or_null(g->user_id);
    v[2] = text_or_null(g->camera_id);
    v[3] = text_or_null(g->site_id);
}

int vg_store_grant(vg_store_t *s, const vg_grant_t *g, vg_store_err_t *err)
{
    int rc = check_grant(s, g, err);
    if (rc < 0)
        return rc;
    vg_val_t v[4];
    grant_vals(g, v);
    return run(s, VG_STMT_GRANT_INSERT, v, 4, NULL, NULL, NULL, err);
}

int vg_store_revoke(vg_store_t *s, const vg_grant_t *g, vg_store_err_t *err)
{
    int rc = check_grant(s, g, err);
    if (rc < 0)
        return rc;
    vg_val_t v[4];
    grant_vals(g, v);
    size_t changes = 0;
    if (run(s, VG_STMT_GRANT_DELETE, v, 4, NULL, NULL, &changes, err) < 0)
        return VG_EINVAL;
    if (changes == 0) {
        vg__store_err(err, 404, "not_found", "", "no such grant");
        return VG_ENOENT;
    }
    return 0;
}

static int take_grant(const vg_val_t *vals, int n, void *arg)
{
    static const char *const names[] = {"tenant_id", "user_id", "camera_id", "site_id"};
    json_t *o = json_object();
    for (int i = 0; i < n && i < 4; i++) {
        if (vals[i].type == VG_VAL_TEXT)
            json_object_set_new(o, names[i], json_string(vals[i].text));
    }
    json_array_append_new(arg, o);
    return 0;
}

int vg_store_list_grants(vg_store_t *s, const char *tenant_id, const char *user_id,
                         json_t **out, vg_store_err_t *err)
{
    json_t *list = json_array();
    vg_val_t v[2] = {text_or_null(tenant_id), text_or_null(user_id)};
    if (run(s, VG_STMT_GRANT_LIST, v, 2, take_grant, list, NULL, err) < 0) {
        json_decref(list);
        return VG_EINVAL;
    }
    *out = list;
    return 0;
}

/* ---- users ---- */

static int take_login(const vg_val_t *vals, int n, void *arg)
{
    vg_store_login_t *o = arg;
    if (n < 4)
        return 1;
    vg_strlcpy(o->role, vals[0].type == VG_VAL_TEXT ? vals[0].text : "", sizeof(o->role));
    vg_strlcpy(o->tenant_id, vals[1].type == VG_VAL_TEXT ? vals[1].text : "",
               sizeof(o->tenant_id));
    if (vals[2].type != VG_VAL_TEXT ||
        !vg_strlcpy(o->password_hash, vals[2].text, sizeof(o->password_hash)))
        o->password_hash[0] = '\0';
    o->is_enabled = vals[3].type == VG_VAL_INT && vals[3].i != 0;
    return 2; /* found */
}

int vg_store_user_login(vg_store_t *s, const char *user_id, vg_store_login_t *out,
                        vg_store_err_t *err)
{
    memset(out, 0, sizeof(*out));
    vg_val_t v = text_or_null(user_id);
    int rc = run(s, VG_STMT_USER_LOGIN, &v, 1, take_login, out, NULL, err);
    if (rc < 0)
        return rc;
    if (rc != 2) {
        vg__store_err(err, 404, "not_found", "id", "no such user");
        return VG_ENOENT;
    }
    return 0;
}

int vg_store_has_admin(vg_store_t *s, bool *out, vg_store_err_t *err)
{
    int64_t n;
    int rc = count(s, VG_STMT_ADMIN_COUNT, NULL, 0, &n, err);
    *out = n > 0;
    return rc;
}

/* ---- sessions ---- */

int vg_store_session_add(vg_store_t *s, const uint8_t hash[VG_SESSION_HASH_LEN],
                         const char *user_id, int64_t expires_us, const char *peer,
                         vg_store_err_t *err)
{
    vg_val_t v[5] = {blob(hash, VG_SESSION_HASH_LEN), text_or_null(user_id),
                     int_val(vg_wall_us()), int_val(expires_us), text_or_null(peer)};
    return run(s, VG_STMT_SESSION_INSERT, v, 5, NULL, NULL, NULL, err);
}

int vg_store_session_remove(vg_store_t *s, const uint8_t hash[VG_SESSION_HASH_LEN],
                            vg_store_err_t *err)
{
    vg_val_t v = blob(hash, VG_SESSION_HASH_LEN);
    return run(s, VG_STMT_SESSION_DELETE, &v, 1, NULL, NULL, NULL, err);
}

int vg_store_sessions_end_user(vg_store_t *s, const char *user_id, vg_store_err_t *err)
{
    vg_val_t v = text_or_null(user_id);
    return run(s, VG_STMT_SESSIONS_DELETE_USER, &v, 1, NULL, NULL, NULL, err);
}

int vg_store_sessions_purge(vg_store_t *s, int64_t now_us, vg_store_err_t *err)
{
    vg_val_t v = int_val(now_us);
    return run(s, VG_STMT_SESSIONS_PURGE, &v, 1, NULL, NULL, NULL, err);
}

/* ---- audit ---- */

int vg_store_audit(vg_store_t *s, const vg_audit_entry_t *e, vg_store_err_t *err)
{
    vg_val_t v[7] = {int_val(vg_wall_us()),        text_or_null(e->actor ? e->actor : "-"),
                     text_or_null(e->action),      text_or_null(e->target),
                     text_or_null(e->outcome ? e->outcome : "ok"), text_or_null(e->detail),
                     text_or_null(e->peer)};
    return run(s, VG_STMT_AUDIT_INSERT, v, 7, NULL, NULL, NULL, err);
}

static int take_audit(const vg_val_t *vals, int n, void *arg)
{
    static const char *const names[] = {"id",      "at_us",  "actor", "action",
                                        "target",  "outcome", "detail", "peer"};
    json_t *o = json_object();
    for (int i = 0; i < n && i < 8; i++) {
        if (vals[i].type == VG_VAL_INT)
            json_object_set_new(o, names[i], json_integer(vals[i].i));
        else if (vals[i].type == VG_VAL_TEXT)
            json_object_set_new(o, names[i], json_string(vals[i].text));
        else
            json_object_set_new(o, names[i], json_null());
    }
    json_array_append_new(arg, o);
    return 0;
}

int vg_store_audit_list(vg_store_t *s, size_t offset, size_t limit, json_t **out,
                        size_t *total, vg_store_err_t *err)
{
    json_t *list = json_array();
    vg_val_t v[2] = {int_val((int64_t)limit), int_val((int64_t)offset)};
    if (run(s, VG_STMT_AUDIT_LIST, v, 2, take_audit, list, NULL, err) < 0 ||
        s->ops->count(s->db, "audit", total, err) < 0) {
        json_decref(list);
        return VG_EINVAL;
    }
    *out = list;
    return 0;
}

int vg_store_audit_many(vg_store_t *s, const vg_audit_entry_t *e, size_t n, vg_store_err_t *err)
{
    if (n == 0)
        return 0;
    if (s->ops->begin(s->db, err) < 0)
        return VG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (vg_store_audit(s, &e[i], err) < 0) {
            s->ops->rollback(s->db);
            return VG_EINVAL;
        }
    }
    if (s->ops->commit(s->db, err) < 0) {
        s->ops->rollback(s->db);
        return VG_EINVAL;
    }
    return 0;
}

/* ---- the access snapshot ---- */

static const char *text_of(const vg_val_t *v) { return v->type == VG_VAL_TEXT ? v->text : ""; }

/* Appends one element to a growing array of elements of size sz. */
static void *grow(void **arr, size_t *count, size_t sz)
{
    if ((*count & (*count - 1)) == 0) /* 0, 1, 2, 4, ...: double */
        *arr = vg_xrealloc(*arr, (*count ? *count * 2 : 1) * sz);
    void *slot = (char *)*arr + *count * sz;
    memset(slot, 0, sz);
    (*count)++;
    return slot;
}

static int take_user_row(const vg_val_t *v, int n, void *arg)
{
    vg_access_t *a = arg;
    if (n < 5)
        return 1;
    vg_access_user_t *u = grow((void **)&a->users, &a->user_count, sizeof(*u));
    vg_strlcpy(u->id, text_of(&v[0]), sizeof(u->id));
    vg_strlcpy(u->role, text_of(&v[1]), sizeof(u->role));
    vg_strlcpy(u->tenant_id, text_of(&v[2]), sizeof(u->tenant_id));
    u->is_enabled = v[3].type == VG_VAL_INT && v[3].i != 0;
    u->auth_epoch = v[4].type == VG_VAL_INT ? v[4].i : 0;
    return 0;
}

static int take_session_row(const vg_val_t *v, int n, void *arg)
{
    vg_access_t *a = arg;
    if (n < 3 || v[0].type != VG_VAL_BLOB || v[0].len != VG_SESSION_HASH_LEN)
        return 0; /* a row another program wrote wrong: it opens nothing */
    vg_access_session_t *x = grow((void **)&a->sessions, &a->session_count, sizeof(*x));
    memcpy(x->hash, v[0].blob, VG_SESSION_HASH_LEN);
    vg_strlcpy(x->user_id, text_of(&v[1]), sizeof(x->user_id));
    x->expires_us = v[2].type == VG_VAL_INT ? v[2].i : 0;
    return 0;
}

static int take_grant_row(const vg_val_t *v, int n, void *arg)
{
    vg_access_t *a = arg;
    if (n < 4)
        return 1;
    vg_access_grant_t *g = grow((void **)&a->grants, &a->grant_count, sizeof(*g));
    vg_strlcpy(g->tenant_id, text_of(&v[0]), sizeof(g->tenant_id));
    vg_strlcpy(g->user_id, text_of(&v[1]), sizeof(g->user_id));
    vg_strlcpy(g->camera_id, text_of(&v[2]), sizeof(g->camera_id));
    vg_strlcpy(g->site_id, text_of(&v[3]), sizeof(g->site_id));
    return 0;
}

static int take_camera_row(const vg_val_t *v, int n, void *arg)
{
    vg_access_t *a = arg;
    if (n < 4)
        return 1;
    vg_access_camera_t *c = grow((void **)&a->cameras, &a->camera_count, sizeof(*c));
    vg_strlcpy(c->id, text_of(&v[0]), sizeof(c->id));
    vg_strlcpy(c->site_id, text_of(&v[1]), sizeof(c->site_id));
    vg_strlcpy(c->site_tenant_id, text_of(&v[2]), sizeof(c->site_tenant_id));
    c->is_enabled = v[3].type == VG_VAL_INT && v[3].i != 0;
    return 0;
}

static int take_key_row(const vg_val_t *v, int n, void *arg)
{
    vg_access_t *a = arg;
    if (n < 6 || v[1].type != VG_VAL_BLOB || v[1].len != VG_SESSION_HASH_LEN)
        return 0;
    vg_access_key_t *k = grow((void **)&a->keys, &a->key_count, sizeof(*k));
    vg_strlcpy(k->id, text_of(&v[0]), sizeof(k->id));
    memcpy(k->hash, v[1].blob, VG_SESSION_HASH_LEN);
    vg_strlcpy(k->user_id, text_of(&v[2]), sizeof(k->user_id));
    vg_strlcpy(k->role, text_of(&v[3]), sizeof(k->role));
    if (v[4].type == VG_VAL_TEXT) {
        /* A list that does not parse opens no camera (an empty list), never all of them. */
        k->cameras = json_loads(v[4].text, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_array(k->cameras)) {
            json_decref(k->cameras);
            k->cameras = json_array();
        }
    }
    k->expires_us = v[5].type == VG_VAL_INT ? v[5].i : 0;
    return 0;
}

int vg_store_access_load(vg_store_t *s, int64_t now_us, vg_access_t **out, vg_store_err_t *err)
{
    vg_access_t *a = vg_xcalloc(1, sizeof(*a));
    vg_val_t now = int_val(now_us);
    /* One read transaction, so the pieces agree with each other. */
    if (s->ops->begin_read(s->db, err) < 0)
        goto fail;
    if (run(s, VG_STMT_ACCESS_USERS, NULL, 0, take_user_row, a, NULL, err) < 0 ||
        run(s, VG_STMT_ACCESS_SESSIONS, &now, 1, take_session_row, a, NULL, err) < 0 ||
        run(s, VG_STMT_ACCESS_GRANTS, NULL, 0, take_grant_row, a, NULL, err) < 0 ||
        run(s, VG_STMT_ACCESS_CAMERAS, NULL, 0, take_camera_row, a, NULL, err) < 0 ||
        run(s, VG_STMT_ACCESS_KEYS, NULL, 0, take_key_row, a, NULL, err) < 0) {
        s->ops->rollback(s->db);
        goto fail;
    }
    if (s->ops->commit(s->db, err) < 0)
        goto fail;
    *out = a;
    return 0;
fail:
    vg_access_free(&a);
    return VG_EINVAL;
}

void vg_access_free(vg_access_t **ap)
{
    vg_access_t *a = *ap;
    if (a == NULL)
        return;
    *ap = NULL;
    for (size_t i = 0; i < a->key_count; i++)
        json_decref(a->keys[i].cameras);
    if (a->sessions)
        sodium_memzero(a->sessions, a->session_count * sizeof(*a->sessions));
    free(a->users);
    free(a->sessions);
    free(a->grants);
    free(a->cameras);
    free(a->keys);
    free(a);
}
