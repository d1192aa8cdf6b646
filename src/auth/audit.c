/* audit: the audit queue. Entries are made on the loop (never waiting for the database) and
 * written by the store thread in batches, one transaction each, together with the last-use
 * times of the integration keys seen since the last batch. While the database does not take
 * them they wait, up to VG_AUTH_AUDIT_MAX; past that the oldest go, counted and logged.
 * Loop thread (the batch's write: the store thread). */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

static void audit_rec_free(vg__audit_rec_t *r)
{
    free(r->actor);
    free(r->action);
    free(r->target);
    free(r->outcome);
    free(r->detail);
    free(r->peer);
    memset(r, 0, sizeof(*r));
}

void vg__auth_audit_free(vg_auth_t *a)
{
    for (size_t i = 0; i < a->audit_count; i++)
        audit_rec_free(&a->audit[i]);
    free(a->audit);
    free(a->used_keys);
    a->audit = NULL;
    a->audit_count = a->audit_cap = 0;
    a->used_keys = NULL;
    a->used_key_count = 0;
}

static char *dup_or_null(const char *s) { return s ? vg_xstrdup(s) : NULL; }

/* Room for n entries in the queue. */
static void audit_reserve(vg_auth_t *a, size_t n)
{
    if (n <= a->audit_cap)
        return;
    size_t cap = a->audit_cap ? a->audit_cap : 16;
    while (cap < n)
        cap *= 2;
    a->audit = vg_xrealloc(a->audit, cap * sizeof(*a->audit));
    a->audit_cap = cap;
}

/* The database has been unavailable for long: keep the newest, say what was lost. */
static void audit_trim(vg_auth_t *a, size_t max)
{
    if (a->audit_count <= max)
        return;
    size_t drop = a->audit_count - max;
    for (size_t i = 0; i < drop; i++)
        audit_rec_free(&a->audit[i]);
    memmove(a->audit, a->audit + drop, max * sizeof(*a->audit));
    a->audit_count = max;
    if (a->audit_dropped / 1000 != (a->audit_dropped + drop) / 1000 || a->audit_dropped == 0)
        VG_LOG_WARN("auth", "audit entries lost: the database has not taken them (%llu so "
                    "far)", (unsigned long long)(a->audit_dropped + drop));
    a->audit_dropped += drop;
}

void vg__auth_audit_entry(vg_auth_t *a, const vg_audit_entry_t *e)
{
    audit_trim(a, VG_AUTH_AUDIT_MAX - 1);
    audit_reserve(a, a->audit_count + 1);
    a->audit[a->audit_count++] = (vg__audit_rec_t){
        .actor = vg_xstrdup(e->actor ? e->actor : "-"),
        .action = vg_xstrdup(e->action),
        .target = dup_or_null(e->target),
        .outcome = vg_xstrdup(e->outcome ? e->outcome : "ok"),
        .detail = dup_or_null(e->detail),
        .peer = dup_or_null(e->peer),
    };
}

void vg_auth_audit(vg_auth_t *a, vg_conn_t *c, const char *action, const char *target,
                   const char *outcome, const char *detail)
{
    const vg_principal_t *p = c ? vg_auth_caller(c) : NULL;
    char ip[80] = "";
    if (c)
        vg_auth_audit_peer(a, c, ip, sizeof(ip));
    vg_audit_entry_t e = {
        .actor = p ? p->actor : "-",
        .action = action,
        .target = target,
        .outcome = outcome,
        .detail = detail,
        .peer = c ? ip : NULL,
    };
    vg__auth_audit_entry(a, &e);
    vg__auth_audit_flush(a);
}

typedef struct audit_job {
    vg_auth_t *a;
    vg__audit_rec_t *recs;
    size_t count;
    char (*keys)[64];
    size_t key_count;
    int64_t now_us;
} audit_job_t;

static int audit_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    audit_job_t *j = arg;
    vg_audit_entry_t *e = vg_xcalloc(j->count ? j->count : 1, sizeof(*e));
    for (size_t i = 0; i < j->count; i++)
        e[i] = (vg_audit_entry_t){.actor = j->recs[i].actor, .action = j->recs[i].action,
                                  .target = j->recs[i].target, .outcome = j->recs[i].outcome,
                                  .detail = j->recs[i].detail, .peer = j->recs[i].peer};
    int rc = vg_store_audit_many(s, e, j->count, err);
    free(e);
    for (size_t i = 0; rc == 0 && i < j->key_count; i++)
        vg_store_key_touch(s, j->keys[i], j->now_us, err); /* best effort */
    return rc;
}

static void audit_done(void *arg, int rc, const vg_store_err_t *err)
{
    audit_job_t *j = arg;
    vg_auth_t *a = j->a;
    a->is_audit_in_flight = false;
    if (rc < 0 && rc != VG_ECLOSED) {
        /* Put them back in front of what came since; the next tick retries. */
        VG_LOG_DEBUG("auth", "audit flush of %zu entries: %s (retried)", j->count, err->message);
        audit_reserve(a, a->audit_count + j->count);
        memmove(a->audit + j->count, a->audit, a->audit_count * sizeof(*a->audit));
        memcpy(a->audit, j->recs, j->count * sizeof(*a->audit));
        a->audit_count += j->count;
        free(j->recs);
        audit_trim(a, VG_AUTH_AUDIT_MAX);
    } else {
        for (size_t i = 0; i < j->count; i++)
            audit_rec_free(&j->recs[i]);
        free(j->recs);
    }
    free(j->keys);
    free(j);
}

void vg__auth_audit_flush(vg_auth_t *a)
{
    if (a->store == NULL || a->is_audit_in_flight ||
        (a->audit_count == 0 && a->used_key_count == 0))
        return;
    audit_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->a = a;
    j->recs = a->audit;
    j->count = a->audit_count;
    j->keys = a->used_keys;
    j->key_count = a->used_key_count;
    j->now_us = vg_wall_us();
    if (vg_store_async_submit(a->store, audit_run, audit_done, j, 1000) < 0) {
        free(j);
        return; /* kept; the next tick tries again */
    }
    a->audit = NULL;
    a->audit_count = a->audit_cap = 0;
    a->used_keys = NULL;
    a->used_key_count = 0;
    a->is_audit_in_flight = true;
}

void vg_auth_audit_flush(vg_auth_t *a) { vg__auth_audit_flush(a); }
