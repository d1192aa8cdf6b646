/* store/async: the store thread (see async.h).
 *
 * Two lists under one lock each: jobs waiting for the thread (FIFO, woken by a condition
 * variable) and jobs done, waiting for the loop (woken by uv_async_send only when the list
 * was empty, since sends coalesce; the callback drains it all). The thread owns the store
 * handle and closes it before it exits; its exit is posted like a result and joined in the
 * loop's callback, where the join cannot wait.
 *
 * Threads: the loop (submit, results, close) and the store thread (run).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/async.h"
#include "store/store_int.h"

#define MAX_PENDING 1024

typedef struct job {
    struct job *next;
    vg_store_run_fn run;
    vg_store_done_fn done;
    void *arg;
    int64_t deadline_us; /* monotonic */
    int rc;
    vg_store_err_t err;
} job_t;

struct vg_store_async {
    uv_loop_t *loop;
    vg_store_t *store; /* store thread */
    uv_thread_t thread;
    uv_async_t wakeup; /* loop: results and the thread's exit */

    uv_mutex_t lock; /* guards todo, is_stopping */
    uv_cond_t cond;
    job_t *todo_head, *todo_tail;
    bool is_stopping;

    uv_mutex_t done_lock; /* guards done_*, has_exited */
    job_t *done_head, *done_tail;
    bool has_exited;

    void (*closed)(void *arg); /* loop */
    void *closed_arg;
    int pending;    /* loop: accepted and not yet done */
    bool is_closed; /* loop */
    bool is_joined; /* loop */
};

static void post(vg_store_async_t *a, job_t *j, bool is_exit)
{
    uv_mutex_lock(&a->done_lock);
    bool was_empty = a->done_head == NULL && !a->has_exited;
    if (j) {
        if (a->done_tail)
            a->done_tail->next = j;
        else
            a->done_head = j;
        a->done_tail = j;
    }
    if (is_exit)
        a->has_exited = true;
    uv_mutex_unlock(&a->done_lock);
    if (was_empty)
        uv_async_send(&a->wakeup);
}

static void run_one(vg_store_async_t *a, job_t *j, bool is_stopping)
{
    int64_t left_us = j->deadline_us - vg_mono_us();
    if (is_stopping) {
        j->rc = VG_ECLOSED;
        vg__store_err(&j->err, 503, "unavailable", "", "the server is stopping");
    } else if (left_us <= 0) {
        j->rc = VG_ETIMEDOUT;
        vg__store_err(&j->err, 503, "unavailable", "",
                      "the database did not answer in time (busy or locked): retry shortly");
    } else {
        vg_store_set_busy_timeout(a->store, (int)(left_us / 1000) + 1);
        j->rc = j->run(a->store, j->arg, &j->err);
        if (j->rc > 0)
            j->rc = 0;
    }
}

static void store_thread(void *arg)
{
    vg_store_async_t *a = arg;
    pthread_setname_np(pthread_self(), "vg-store");
    for (;;) {
        uv_mutex_lock(&a->lock);
        while (a->todo_head == NULL && !a->is_stopping)
            uv_cond_wait(&a->cond, &a->lock);
        job_t *j = a->todo_head;
        if (j) {
            a->todo_head = j->next;
            if (a->todo_head == NULL)
                a->todo_tail = NULL;
            j->next = NULL;
        }
        bool is_stopping = a->is_stopping;
        uv_mutex_unlock(&a->lock);
        if (j == NULL)
            break; /* stopping, and nothing left */
        run_one(a, j, is_stopping);
        post(a, j, false);
    }
    vg_store_close(&a->store);
    post(a, NULL, true);
}

static void on_closed(uv_handle_t *h)
{
    vg_store_async_t *a = h->data;
    if (a->closed)
        a->closed(a->closed_arg);
    uv_cond_destroy(&a->cond);
    uv_mutex_destroy(&a->lock);
    uv_mutex_destroy(&a->done_lock);
    free(a);
}

static void on_wakeup(uv_async_t *h)
{
    vg_store_async_t *a = h->data;
    uv_mutex_lock(&a->done_lock);
    job_t *list = a->done_head;
    a->done_head = a->done_tail = NULL;
    bool has_exited = a->has_exited;
    uv_mutex_unlock(&a->done_lock);
    while (list) {
        job_t *j = list;
        list = j->next;
        a->pending--;
        j->done(j->arg, j->rc, &j->err);
        free(j);
    }
    if (has_exited && !a->is_joined) {
        a->is_joined = true;
        uv_thread_join(&a->thread); /* it has returned: this does not wait */
        uv_close((uv_handle_t *)&a->wakeup, on_closed);
    }
}

int vg_store_async_start(vg_store_async_t **out, uv_loop_t *loop, vg_store_t *s)
{
    vg_store_async_t *a = vg_xcalloc(1, sizeof(*a));
    a->loop = loop;
    a->store = s;
    uv_mutex_init(&a->lock);
    uv_mutex_init(&a->done_lock);
    uv_cond_init(&a->cond);
    uv_async_init(loop, &a->wakeup, on_wakeup);
    a->wakeup.data = a;
    if (uv_thread_create(&a->thread, store_thread, a) != 0) {
        VG_LOG_ERROR("store", "cannot start the store thread");
        a->store = NULL; /* the caller keeps it */
        a->is_joined = true;
        uv_close((uv_handle_t *)&a->wakeup, on_closed);
        return VG_ENOMEM;
    }
    *out = a;
    return 0;
}

int vg_store_async_submit(vg_store_async_t *a, vg_store_run_fn run, vg_store_done_fn done,
                          void *arg, int max_wait_ms)
{
    if (a == NULL || a->is_closed)
        return VG_ECLOSED;
    if (a->pending >= MAX_PENDING)
        return VG_EFULL;
    job_t *j = vg_xcalloc(1, sizeof(*j));
    j->run = run;
    j->done = done;
    j->arg = arg;
    j->deadline_us = vg_mono_us() + (int64_t)(max_wait_ms > 0 ? max_wait_ms : VG_STORE_WAIT_MS) * 1000;
    a->pending++;
    uv_mutex_lock(&a->lock);
    if (a->todo_tail)
        a->todo_tail->next = j;
    else
        a->todo_head = j;
    a->todo_tail = j;
    uv_cond_signal(&a->cond);
    uv_mutex_unlock(&a->lock);
    return 0;
}

int vg_store_async_pending(const vg_store_async_t *a) { return a ? a->pending : 0; }

void vg_store_async_close(vg_store_async_t **ap, void (*closed)(void *arg), void *arg)
{
    vg_store_async_t *a = *ap;
    if (a == NULL) {
        if (closed)
            closed(arg);
        return;
    }
    *ap = NULL;
    a->closed = closed;
    a->closed_arg = arg;
    a->is_closed = true;
    uv_mutex_lock(&a->lock);
    a->is_stopping = true;
    uv_cond_signal(&a->cond);
    uv_mutex_unlock(&a->lock);
}
