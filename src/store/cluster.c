/* cluster: instances and camera leases (see store.h). A lease is taken with one statement
 * (VG_STMT_LEASE_TAKE: INSERT ... ON CONFLICT DO UPDATE ... WHERE in each backend's words),
 * which both SQLite and PostgreSQL run atomically per row: the row changes hands only when
 * its lease has expired or is the taker's own. Any thread that owns the store handle. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store_int.h"

static vg_val_t text(const char *s) { return (vg_val_t){.type = VG_VAL_TEXT, .text = s}; }
static vg_val_t num(int64_t i) { return (vg_val_t){.type = VG_VAL_INT, .i = i}; }

int vg_store_instance_beat(vg_store_t *s, const vg_instance_info_t *me, int64_t now_us,
                           vg_store_err_t *err)
{
    if (me->id == NULL || !*me->id || strlen(me->id) > 63) {
        vg__store_err(err, 400, "bad_request", "id", "an instance id is 1-63 characters");
        return VG_EINVAL;
    }
    vg_val_t v[7] = {text(me->id), text(me->urls && *me->urls ? me->urls : "[]"),
                     num(me->capacity), num(me->load), num(me->is_draining), num(now_us),
                     num(me->started_us ? me->started_us : now_us)};
    return s->ops->run(s->db, VG_STMT_INSTANCE_BEAT, v, 7, NULL, NULL, NULL, err);
}

int vg_store_instance_remove(vg_store_t *s, const char *id, vg_store_err_t *err)
{
    vg_val_t v = text(id);
    if (s->ops->begin(s->db, err) < 0)
        return VG_EINVAL;
    if (s->ops->run(s->db, VG_STMT_INSTANCE_LEASES_DELETE, &v, 1, NULL, NULL, NULL, err) < 0 ||
        s->ops->run(s->db, VG_STMT_INSTANCE_DELETE, &v, 1, NULL, NULL, NULL, err) < 0) {
        s->ops->rollback(s->db);
        return VG_EINVAL;
    }
    return s->ops->commit(s->db, err);
}

typedef struct list_ctx {
    json_t *list;
    int64_t now_us, alive_us;
} list_ctx_t;

static int take_instance(const vg_val_t *v, int n, void *arg)
{
    list_ctx_t *ctx = arg;
    if (n < 8)
        return 0;
    json_error_t je;
    json_t *urls = v[1].type == VG_VAL_TEXT ? json_loads(v[1].text, 0, &je) : NULL;
    json_t *o = json_pack("{s:s,s:o,s:I,s:I,s:b,s:I,s:I,s:b,s:I}", "id", v[0].text, "urls",
                          json_is_array(urls) ? urls : json_array(), "capacity",
                          (json_int_t)v[2].i, "load", (json_int_t)v[3].i, "draining",
                          v[4].i != 0, "started_us", (json_int_t)v[5].i, "heartbeat_us",
                          (json_int_t)v[6].i, "alive", ctx->now_us - v[6].i < ctx->alive_us,
                          "leases", (json_int_t)v[7].i);
    if (urls && !json_is_array(urls))
        json_decref(urls);
    json_array_append_new(ctx->list, o);
    return 0;
}

int vg_store_instance_list(vg_store_t *s, int64_t now_us, int64_t alive_us, json_t **out,
                           vg_store_err_t *err)
{
    list_ctx_t ctx = {.list = json_array(), .now_us = now_us, .alive_us = alive_us};
    vg_val_t v = num(now_us);
    if (s->ops->run(s->db, VG_STMT_INSTANCE_LIST, &v, 1, take_instance, &ctx, NULL, err) < 0) {
        json_decref(ctx.list);
        return VG_EINVAL;
    }
    *out = ctx.list;
    return 0;
}

typedef struct lease_row {
    char owner[64];
    int64_t expires_us;
    bool found;
} lease_row_t;

static int take_lease(const vg_val_t *v, int n, void *arg)
{
    lease_row_t *row = arg;
    if (n >= 2 && v[0].type == VG_VAL_TEXT) {
        vg_strlcpy(row->owner, v[0].text, sizeof(row->owner));
        row->expires_us = v[1].i;
        row->found = true;
    }
    return 0;
}

int vg_store_lease_take(vg_store_t *s, const char *camera_id, const char *instance,
                        int64_t now_us, int64_t ttl_us, char owner[64], int64_t *expires_us,
                        vg_store_err_t *err)
{
    owner[0] = '\0';
    *expires_us = 0;
    vg_val_t v[4] = {text(camera_id), text(instance), num(now_us), num(now_us + ttl_us)};
    int rc = s->ops->run(s->db, VG_STMT_LEASE_TAKE, v, 4, NULL, NULL, NULL, err);
    if (rc < 0) {
        if (err->status == 409) /* the camera is not there (foreign key) */
            vg__store_err(err, 404, "not_found", "camera_id", "no such camera");
        return err->status == 404 ? VG_ENOENT : VG_EINVAL;
    }
    lease_row_t row = {0};
    if (s->ops->run(s->db, VG_STMT_LEASE_GET, v, 1, take_lease, &row, NULL, err) < 0)
        return VG_EINVAL;
    if (!row.found) { /* deleted between the two statements */
        vg__store_err(err, 404, "not_found", "camera_id", "no such camera");
        return VG_ENOENT;
    }
    vg_strlcpy(owner, row.owner, 64);
    *expires_us = row.expires_us;
    return 0;
}

/* One instance as placement sees it. */
typedef struct place_row {
    char id[64];
    int64_t leases;
} place_row_t;

typedef struct place_ctx {
    int64_t now_us, alive_us;
    const char *asker;
    int64_t asker_leases;
    place_row_t best; /* the least loaded other candidate; id "" when none */
} place_ctx_t;

/* INSTANCE_LIST's rows: id, urls, capacity, load, draining, started_us, heartbeat_us, leases. */
static int take_candidate(const vg_val_t *v, int n, void *arg)
{
    place_ctx_t *ctx = arg;
    if (n < 8 || v[0].type != VG_VAL_TEXT)
        return 0;
    if (strcmp(v[0].text, ctx->asker) == 0) {
        ctx->asker_leases = v[7].i;
        return 0;
    }
    bool is_candidate = ctx->now_us - v[6].i < ctx->alive_us && v[4].i == 0;
    if (is_candidate && (ctx->best.id[0] == '\0' || v[7].i < ctx->best.leases)) {
        vg_strlcpy(ctx->best.id, v[0].text, sizeof(ctx->best.id));
        ctx->best.leases = v[7].i; /* rows come by id: ties go to the first */
    }
    return 0;
}

int vg_store_lease_place(vg_store_t *s, const char *camera_id, const char *instance,
                         int64_t now_us, int64_t ttl_us, int64_t alive_us, char owner[64],
                         int64_t *expires_us, vg_store_err_t *err)
{
    lease_row_t row = {0};
    vg_val_t cam = text(camera_id);
    if (s->ops->run(s->db, VG_STMT_LEASE_GET, &cam, 1, take_lease, &row, NULL, err) < 0)
        return VG_EINVAL;
    const char *to = instance;
    place_ctx_t ctx = {.now_us = now_us, .alive_us = alive_us, .asker = instance};
    if (!row.found || row.expires_us <= now_us) { /* free: placed */
        vg_val_t now = num(now_us);
        if (s->ops->run(s->db, VG_STMT_INSTANCE_LIST, &now, 1, take_candidate, &ctx, NULL,
                        err) < 0)
            return VG_EINVAL;
        if (ctx.best.id[0] && ctx.best.leases + VG_PLACE_MARGIN <= ctx.asker_leases)
            to = ctx.best.id;
    }
    /* Taking for another is the same statement: it grants only a free lease, so two
     * instances placing one camera at once still leave it with one holder. */
    return vg_store_lease_take(s, camera_id, to, now_us, ttl_us, owner, expires_us, err);
}

int vg_store_instance_drain(vg_store_t *s, const char *id, vg_store_err_t *err)
{
    vg_val_t v = text(id);
    size_t changes = 0;
    if (s->ops->run(s->db, VG_STMT_INSTANCE_DRAIN, &v, 1, NULL, NULL, &changes, err) < 0)
        return VG_EINVAL;
    if (changes == 0) {
        vg__store_err(err, 404, "not_found", "id", "no such instance");
        return VG_ENOENT;
    }
    return 0;
}

static int take_flag(const vg_val_t *v, int n, void *arg)
{
    if (n >= 1)
        *(bool *)arg = v[0].i != 0;
    return 0;
}

int vg_store_instance_is_draining(vg_store_t *s, const char *id, bool *out, vg_store_err_t *err)
{
    vg_val_t v = text(id);
    *out = false;
    return s->ops->run(s->db, VG_STMT_INSTANCE_DRAINING, &v, 1, take_flag, out, NULL, err) < 0
               ? VG_EINVAL
               : 0;
}

int vg_store_site_claim(vg_store_t *s, const char *site, const char *instance, int64_t now_us,
                        vg_store_err_t *err)
{
    vg_val_t v[3] = {text(site), text(instance), num(now_us)};
    return s->ops->run(s->db, VG_STMT_SITE_CLAIM, v, 3, NULL, NULL, NULL, err);
}

int vg_store_site_release(vg_store_t *s, const char *site, const char *instance,
                          vg_store_err_t *err)
{
    vg_val_t v[2] = {text(site), text(instance)};
    return s->ops->run(s->db, VG_STMT_SITE_RELEASE, v, 2, NULL, NULL, NULL, err);
}

int vg_store_site_where(vg_store_t *s, const char *site, int64_t now_us, int64_t alive_us,
                        char owner[64], char *url, size_t cap, vg_store_err_t *err)
{
    owner[0] = url[0] = '\0';
    lease_row_t row = {0}; /* the same two columns: an instance and a time */
    vg_val_t v = text(site);
    if (s->ops->run(s->db, VG_STMT_SITE_GET, &v, 1, take_lease, &row, NULL, err) < 0)
        return VG_EINVAL;
    if (!row.found || now_us - row.expires_us >= alive_us)
        return 0;
    vg_strlcpy(owner, row.owner, 64);
    int rc = vg_store_instance_rtsp_url(s, owner, url, cap, err);
    return rc == VG_ENOENT ? 0 : rc;
}

int vg_store_lease_release(vg_store_t *s, const char *camera_id, const char *instance,
                           vg_store_err_t *err)
{
    vg_val_t v[2] = {text(camera_id), text(instance)};
    return s->ops->run(s->db, VG_STMT_LEASE_RELEASE, v, 2, NULL, NULL, NULL, err);
}

static int take_id(const vg_val_t *v, int n, void *arg)
{
    if (n >= 1 && v[0].type == VG_VAL_TEXT)
        json_array_append_new(arg, json_string(v[0].text));
    return 0;
}

int vg_store_leases_renew(vg_store_t *s, const char *instance, int64_t now_us, int64_t ttl_us,
                          json_t **held, vg_store_err_t *err)
{
    vg_val_t v[3] = {text(instance), num(now_us + ttl_us), num(now_us)};
    /* Only unexpired ones: an expired lease may be someone else's by now. */
    if (s->ops->run(s->db, VG_STMT_LEASES_RENEW, v, 3, NULL, NULL, NULL, err) < 0)
        return VG_EINVAL;
    json_t *ids = json_array();
    if (s->ops->run(s->db, VG_STMT_LEASES_HELD, (vg_val_t[]){v[0], v[2]}, 2, take_id, ids, NULL,
                    err) < 0) {
        json_decref(ids);
        return VG_EINVAL;
    }
    *held = ids;
    return 0;
}

typedef struct url_ctx {
    char *out;
    size_t cap;
    bool found;
} url_ctx_t;

static int take_rtsp_url(const vg_val_t *v, int n, void *arg)
{
    url_ctx_t *u = arg;
    json_error_t je;
    json_t *urls = n >= 1 && v[0].type == VG_VAL_TEXT ? json_loads(v[0].text, 0, &je) : NULL;
    size_t i;
    json_t *url;
    json_array_foreach(urls, i, url) {
        const char *t = json_string_value(url);
        if (!u->found && t && strncmp(t, "rtsp://", 7) == 0 && strlen(t) < u->cap) {
            vg_strlcpy(u->out, t, u->cap);
            u->found = true;
        }
    }
    json_decref(urls);
    return 0;
}

int vg_store_instance_rtsp_url(vg_store_t *s, const char *instance, char *out, size_t cap,
                               vg_store_err_t *err)
{
    url_ctx_t u = {.out = out, .cap = cap};
    vg_val_t v = text(instance);
    if (s->ops->run(s->db, VG_STMT_INSTANCE_URLS, &v, 1, take_rtsp_url, &u, NULL, err) < 0)
        return VG_EINVAL;
    if (!u.found) {
        vg__store_err(err, 404, "not_found", "instance", "instance '%s' advertises no rtsp:// URL",
                      instance);
        return VG_ENOENT;
    }
    return 0;
}

static int take_lease_row(const vg_val_t *v, int n, void *arg)
{
    if (n >= 3 && v[0].type == VG_VAL_TEXT && v[1].type == VG_VAL_TEXT)
        json_object_set_new(arg, v[0].text,
                            json_pack("{s:s,s:b}", "holder", v[1].text, "valid", v[2].i != 0));
    return 0;
}

int vg_store_leases_list(vg_store_t *s, int64_t now_us, json_t **out, vg_store_err_t *err)
{
    json_t *all = json_object();
    vg_val_t v = num(now_us);
    if (s->ops->run(s->db, VG_STMT_LEASES_LIST, &v, 1, take_lease_row, all, NULL, err) < 0) {
        json_decref(all);
        return VG_EINVAL;
    }
    *out = all;
    return 0;
}
