/* store/async: the store off the loop — one store thread that owns its own database handle
 * and runs jobs the loop submits, posting each result back to the loop.
 *
 *   loop                          store thread
 *   ────                          ────────────
 *   vg_store_async_submit ──job──→ run(store, arg, err)     (may block on the database)
 *   done(arg, rc, err)   ←─post──┘
 *
 * Every job is bounded in time: it carries a deadline (its max_wait_ms from submission). A
 * job still queued at its deadline is not run and completes with 503 "unavailable"; a job
 * that starts waits for database locks only until its deadline (the backend's busy time-out
 * is set to what is left), then fails with 503 "busy". So a database another process holds
 * locked delays only the requests that need it, by at most their wait, and the loop never
 * waits at all. done is called exactly once for every accepted job, on the loop thread, in
 * the order the jobs ran; arg belongs to the caller until then.
 *
 * This is the interface a PostgreSQL backend implements too: jobs are plain functions over a
 * vg_store_t, whatever the backend behind it.
 *
 * Loop thread, except run (store thread).
 */
#ifndef VG_STORE_ASYNC_H
#define VG_STORE_ASYNC_H

#include <stdint.h>
#include <uv.h>

#include "store/store.h"

typedef struct vg_store_async vg_store_async_t;

/* Store thread: the work, on the thread's own store handle. 0, or < 0 with err filled. */
typedef int (*vg_store_run_fn)(vg_store_t *s, void *arg, vg_store_err_t *err);
/* Loop thread: the outcome (err meaningful when rc < 0: 503 when the database did not
 * answer in time, VG_ECLOSED when the store closed before the job ran). */
typedef void (*vg_store_done_fn)(void *arg, int rc, const vg_store_err_t *err);

#define VG_STORE_WAIT_MS 2000 /* the default bound on a request's wait for the database */

/* Takes s (opened by the caller, used by no other thread from now on) and starts the
 * thread. 0 or < 0. */
int vg_store_async_start(vg_store_async_t **out, uv_loop_t *loop, vg_store_t *s);

/* Queues a job. 0; VG_EFULL when too many jobs wait already (answer 503 at once; done is
 * not called); VG_ECLOSED after close. */
int vg_store_async_submit(vg_store_async_t *a, vg_store_run_fn run, vg_store_done_fn done,
                          void *arg, int max_wait_ms);

/* Jobs queued or running now. */
int vg_store_async_pending(const vg_store_async_t *a);

/* Stops taking jobs; queued ones complete with VG_ECLOSED (their done still runs), the
 * thread finishes the running one, closes its store, exits and is joined when its exit is
 * posted back. Then closed(arg) runs (may be NULL): from there nothing of the store thread
 * runs any more (what its jobs borrowed may go). *ap is cleared at once. */
void vg_store_async_close(vg_store_async_t **ap, void (*closed)(void *arg), void *arg);

#endif
