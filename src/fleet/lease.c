/* lease: a camera's producer on an instance that shares its database with others (issue 18).
 *
 * Each camera is pulled by one instance at a time: the one holding its lease (store/cluster.c).
 * When the stream starts (its first viewer, or always-on), the wrapper asks the store thread
 * for the lease; the loop then starts either the camera's own producer (this instance holds
 * it) or a relay: vigil's RTSP client reading the holder's RTSP re-stream of the camera
 * (rtsp://HOLDER/cameras/ID), with the instance credential every instance derives from the
 * shared master key (store/keys.h). Either way the stream, its viewers and its outputs do not
 * know the difference.
 *
 * The holder renews its leases with its heartbeat (fleet.c); a holder that dies stops
 * renewing, its relays' connections drop, their streams retry, and the first retry after the
 * lease expired takes it and pulls the camera itself. A holder whose lease was taken over
 * (it could not renew in time) learns it from the renewal and restarts the stream, which then
 * relays. Loop thread, except the jobs' run functions (store thread).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "sources/source.h"

typedef struct lease_prod {
    vg_lease_env_t *env;
    struct lease_prod *next;
    char camera[64];
    const vg_producer_ops_t *own_ops; /* the camera itself (taken at wrap) */
    void *own_ctx;
    const vg_producer_ops_t *relay_ops; /* the holder's re-stream, made when needed */
    void *relay_ctx;
    char relay_holder[64]; /* whom relay_ctx reads */
    bool is_own_running, is_relay_running;
    bool was_relaying; /* the last start relayed (a camera it pulled itself is never hurried) */
    vg_stream_input_t *in; /* between start and stop */
    vg_stream_input_t *last_in; /* the stream's, once started: to retry it at once */
    unsigned gen;          /* moved by every start and stop: an older answer is stale */
    int asks;              /* jobs in flight that point here */
    bool is_freed;
    int unused_beats; /* renewals that found its lease held here and nothing pulling it */
    char last_holder[64]; /* for logging changes only */
} lease_prod_t;

typedef struct ask_job {
    lease_prod_t *p;
    unsigned gen;
    char camera[64], instance[64];
    char holder[64];
    char url[512];
} ask_job_t;

typedef struct release_job {
    char camera[64], instance[64];
} release_job_t;

static void destroy(lease_prod_t *p)
{
    if (p->relay_ops)
        p->relay_ops->free(p->relay_ctx);
    if (p->own_ops)
        p->own_ops->free(p->own_ctx);
    free(p);
}

static int ask_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    ask_job_t *j = arg;
    int64_t expires;
    /* A free camera may be placed on a less loaded instance: this one then relays it, and
     * the other, asked by the relay, finds the lease it was given. */
    int rc = vg_store_lease_place(s, j->camera, j->instance, vg_wall_us(), VG_LEASE_TTL_US,
                                  VG_LEASE_TTL_US, j->holder, &expires, err);
    if (rc == 0 && strcmp(j->holder, j->instance) != 0)
        rc = vg_store_instance_rtsp_url(s, j->holder, j->url, sizeof(j->url), err);
    return rc;
}

bool vg_lease_relay_url(const vg_lease_env_t *env, const char *base, const char *camera,
                        char *out, size_t cap)
{
    if (strncmp(base, "rtsp://", 7) != 0)
        return false;
    size_t n = strlen(base);
    while (n > 7 && base[n - 1] == '/')
        n--;
    int w = snprintf(out, cap, "rtsp://instance:%s@%.*s/cameras/%s?client=vigil",
                     env->credential, (int)(n - 7), base + 7, camera);
    return w > 0 && (size_t)w < cap;
}

static void start_relay(lease_prod_t *p, const ask_job_t *j)
{
    char url[768];
    if (!vg_lease_relay_url(p->env, j->url, p->camera, url, sizeof(url))) {
        VG_LOG_WARN("fleet", "camera=%s: instance '%s' advertises no usable RTSP URL", p->camera,
                    j->holder);
        vg_stream_source_ended(p->in, VG_EUNREACHABLE);
        return;
    }
    if (p->relay_ops && strcmp(p->relay_holder, j->holder) != 0) {
        p->relay_ops->free(p->relay_ctx);
        p->relay_ops = NULL;
    }
    if (p->relay_ops == NULL) {
        int w, h, fps;
        char err[256];
        if (vg_source_producer_new(url, p->camera, &p->relay_ops, &p->relay_ctx, &w, &h, &fps,
                                   err, sizeof(err)) < 0) {
            VG_LOG_WARN("fleet", "camera=%s: no relay from '%s': %s", p->camera, j->holder, err);
            p->relay_ops = NULL;
            vg_stream_source_ended(p->in, VG_EUNREACHABLE);
            sodium_memzero(url, sizeof(url));
            return;
        }
        vg_strlcpy(p->relay_holder, j->holder, sizeof(p->relay_holder));
    }
    sodium_memzero(url, sizeof(url));
    if (p->relay_ops->start(p->relay_ctx, p->in) < 0) {
        vg_stream_source_ended(p->in, VG_EUNREACHABLE);
        return;
    }
    p->is_relay_running = true;
}

static void ask_done(void *arg, int rc, const vg_store_err_t *err)
{
    ask_job_t *j = arg;
    lease_prod_t *p = j->p;
    p->asks--;
    if (p->is_freed) {
        if (p->asks == 0)
            destroy(p);
        free(j);
        return;
    }
    if (j->gen != p->gen || p->in == NULL || p->env == NULL) { /* stopped, restarted, or
                                                                    the fleet closed */
        free(j);
        return;
    }
    if (rc < 0) {
        VG_LOG_WARN("fleet", "camera=%s: its lease cannot be read: %s", p->camera,
                    rc == VG_ECLOSED ? "the store closed" : err->message);
        vg_stream_source_ended(p->in, VG_EUNREACHABLE);
        free(j);
        return;
    }
    bool is_mine = strcmp(j->holder, p->env->instance_id) == 0;
    if (strcmp(p->last_holder, j->holder) != 0) {
        if (is_mine)
            VG_LOG_INFO("fleet", "camera=%s: this instance holds its lease and pulls it",
                        p->camera);
        else
            VG_LOG_INFO("fleet", "camera=%s: relayed from instance '%s', which holds its lease",
                        p->camera, j->holder);
        vg_strlcpy(p->last_holder, j->holder, sizeof(p->last_holder));
    }
    p->was_relaying = !is_mine;
    if (is_mine) {
        if (p->own_ops->start(p->own_ctx, p->in) < 0)
            vg_stream_source_ended(p->in, VG_EUNREACHABLE);
        else
            p->is_own_running = true;
    } else {
        start_relay(p, j);
    }
    free(j);
}

static int lease_start(void *ctx, vg_stream_input_t *in)
{
    lease_prod_t *p = ctx;
    p->in = p->last_in = in;
    p->gen++;
    if (p->env == NULL) { /* the fleet closed: nothing to ask */
        vg_stream_source_ended(in, VG_EUNREACHABLE);
        return 0;
    }
    ask_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->p = p;
    j->gen = p->gen;
    vg_strlcpy(j->camera, p->camera, sizeof(j->camera));
    vg_strlcpy(j->instance, p->env->instance_id, sizeof(j->instance));
    if (p->env->async == NULL ||
        vg_store_async_submit(p->env->async, ask_run, ask_done, j, VG_STORE_WAIT_MS) < 0) {
        free(j);
        vg_stream_source_ended(in, VG_EUNREACHABLE); /* the stream retries with backoff */
        return 0;
    }
    p->asks++;
    return 0;
}

static int release_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    release_job_t *r = arg;
    return vg_store_lease_release(s, r->camera, r->instance, err);
}

static void release_done(void *arg, int rc, const vg_store_err_t *err)
{
    (void)rc;
    (void)err;
    free(arg);
}

/* Gives the camera's lease up, if this instance holds it (off the loop). */
static void release(const lease_prod_t *p)
{
    if (p->env == NULL || p->env->async == NULL)
        return;
    release_job_t *r = vg_xcalloc(1, sizeof(*r));
    vg_strlcpy(r->camera, p->camera, sizeof(r->camera));
    vg_strlcpy(r->instance, p->env->instance_id, sizeof(r->instance));
    if (vg_store_async_submit(p->env->async, release_run, release_done, r, 1000) < 0)
        free(r);
}

static void lease_stop(void *ctx)
{
    lease_prod_t *p = ctx;
    p->gen++;
    if (p->is_own_running) {
        p->own_ops->stop(p->own_ctx);
        p->is_own_running = false;
        release(p); /* at once: another instance whose viewers want it need not wait */
    }
    if (p->is_relay_running) {
        p->relay_ops->stop(p->relay_ctx);
        p->is_relay_running = false;
    }
    p->in = NULL;
}

static void lease_free(void *ctx)
{
    lease_prod_t *p = ctx;
    for (lease_prod_t **pp = p->env ? &p->env->producers : NULL; pp && *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    p->is_freed = true;
    if (p->asks == 0)
        destroy(p);
}

static const vg_producer_ops_t lease_ops = {
    .name = "lease",
    .start = lease_start,
    .stop = lease_stop,
    .free = lease_free,
    .check = NULL, /* an idle camera is checked by nobody: every instance would dial it */
    .cancel_check = NULL,
};

void vg_lease_wrap(vg_lease_env_t *env, const char *camera, const vg_producer_ops_t **ops,
                   void **ctx)
{
    lease_prod_t *p = vg_xcalloc(1, sizeof(*p));
    p->env = env;
    vg_strlcpy(p->camera, camera, sizeof(p->camera));
    p->own_ops = *ops;
    p->own_ctx = *ctx;
    p->next = env->producers;
    env->producers = p;
    *ops = &lease_ops;
    *ctx = p;
}

/* A stopped producer (its stream waits to retry) whose camera the lease says can be had:
 * free or expired, or held by another than the one it relayed. */
static bool is_worth_a_retry(const lease_prod_t *p, const json_t *leases)
{
    json_t *l = json_object_get(leases, p->camera);
    if (l == NULL || !json_is_true(json_object_get(l, "valid")))
        return true;
    const char *holder = json_string_value(json_object_get(l, "holder"));
    return holder && strcmp(holder, p->relay_holder) != 0 &&
           strcmp(holder, p->env->instance_id) != 0;
}

/* Whether held lists p's camera. */
static bool is_listed(const lease_prod_t *p, const json_t *held)
{
    size_t i;
    json_t *id;
    json_array_foreach(held, i, id) {
        if (strcmp(json_string_value(id), p->camera) == 0)
            return true;
    }
    return false;
}

/* Renewals a lease placed here may go unused before it is given up: the relay it was placed
 * for asks within milliseconds; one that never comes (its instance died first) must not leave
 * the camera tied to an instance that does not pull it. */
#define UNUSED_BEATS_MAX 3

void vg_lease_held(vg_lease_env_t *env, const json_t *held, const json_t *leases)
{
    for (lease_prod_t *p = env->producers; p; p = p->next) {
        if (!p->is_own_running && p->asks == 0 && is_listed(p, held)) {
            if (++p->unused_beats >= UNUSED_BEATS_MAX) {
                VG_LOG_INFO("fleet", "camera=%s: its lease was placed here but nobody asked "
                            "for it: given up", p->camera);
                p->unused_beats = 0;
                release(p);
            }
            continue;
        }
        p->unused_beats = 0;
        if (p->in == NULL && p->last_in && p->was_relaying && leases &&
            is_worth_a_retry(p, leases)) {
            vg_stream_input_kick(p->last_in);
            continue;
        }
        if (!p->is_own_running || p->in == NULL || is_listed(p, held))
            continue;
        VG_LOG_WARN("fleet", "camera=%s: its lease was taken over (not renewed in time): "
                    "it is relayed instead", p->camera);
        vg_stream_source_ended(p->in, VG_EUNREACHABLE); /* restarts, and asks again */
    }
}

void vg_lease_detach_all(vg_lease_env_t *env)
{
    for (lease_prod_t *p = env->producers, *next; p; p = next) {
        next = p->next;
        p->env = NULL;
        p->next = NULL;
    }
    env->producers = NULL;
    env->async = NULL;
}
