/* store/async: jobs run on the store thread in order, results come back on the loop, a job
 * queued past its deadline is not run (503), a lock held by another connection fails a job
 * at its deadline instead of blocking, and close completes what is queued. */
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "store/async.h"
#include "store/secrets.h"
#include "store/store.h"
#include "vg_test.h"

typedef struct job {
    int order, rc, status;
    int *counter;
    int sleep_ms;
    const char *kind;
    bool is_done;
} job_t;

static int run_job(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    job_t *j = arg;
    if (j->sleep_ms)
        uv_sleep((unsigned)j->sleep_ms);
    if (j->kind) {
        json_t *fields = json_pack("{s:s,s:s}", "id", "t1", "name", "x"), *out = NULL;
        int rc = vg_store_create(s, j->kind, fields, &out, err);
        json_decref(fields);
        json_decref(out);
        return rc;
    }
    return 0;
}

static void done_job(void *arg, int rc, const vg_store_err_t *err)
{
    job_t *j = arg;
    j->order = ++*j->counter;
    j->rc = rc;
    j->status = rc < 0 ? err->status : 0;
    j->is_done = true;
}

static vg_store_t *open_db(const char *path)
{
    vg_store_t *s = NULL;
    vg_store_err_t err;
    vg_store_cfg_t cfg = {.path = path};
    vg_secrets_init();
    if (vg_store_open(&s, &cfg, &err) < 0)
        fprintf(stderr, "open %s: %s\n", path, err.message);
    return s;
}

static void run_until(uv_loop_t *loop, bool *flag, int max_ms)
{
    int64_t end = vg_mono_us() + (int64_t)max_ms * 1000;
    while (!*flag && vg_mono_us() < end)
        uv_run(loop, UV_RUN_NOWAIT), uv_sleep(1);
}

static void set_true(void *arg) { *(bool *)arg = true; }

VG_TEST(jobs_run_in_order_and_a_late_one_is_not_run)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    vg_store_async_t *a = NULL;
    EXPECT_EQ(vg_store_async_start(&a, &loop, open_db(":memory:")), 0);
    int counter = 0;
    job_t slow = {.counter = &counter, .sleep_ms = 200};
    job_t second = {.counter = &counter};
    job_t late = {.counter = &counter}; /* 50 ms to wait, behind a 200 ms job */
    EXPECT_EQ(vg_store_async_submit(a, run_job, done_job, &slow, 1000), 0);
    EXPECT_EQ(vg_store_async_submit(a, run_job, done_job, &second, 1000), 0);
    EXPECT_EQ(vg_store_async_submit(a, run_job, done_job, &late, 50), 0);
    EXPECT_EQ(vg_store_async_pending(a), 3);
    run_until(&loop, &late.is_done, 3000);
    EXPECT_EQ(slow.order, 1);
    EXPECT_EQ(second.order, 2);
    EXPECT_EQ(late.order, 3);
    EXPECT_EQ(second.rc, 0);
    EXPECT_EQ(late.rc, VG_ETIMEDOUT);
    EXPECT_EQ(late.status, 503);
    EXPECT_EQ(vg_store_async_pending(a), 0);
    vg_store_async_close(&a, NULL, NULL);
    EXPECT_TRUE(a == NULL);
    EXPECT_EQ(vg_store_async_submit(a, run_job, done_job, &late, 50), VG_ECLOSED);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

VG_TEST(a_locked_database_fails_at_the_deadline_without_blocking_the_loop)
{
    char path[] = "/tmp/vg-async-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    vg_store_async_t *a = NULL;
    EXPECT_EQ(vg_store_async_start(&a, &loop, open_db(path)), 0);
    /* Another program holding the database, as `sqlite3` would. */
    sqlite3 *other = NULL;
    EXPECT_EQ(sqlite3_open(path, &other), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    int counter = 0;
    job_t write = {.counter = &counter, .kind = "tenants"};
    int64_t t0 = vg_mono_us();
    EXPECT_EQ(vg_store_async_submit(a, run_job, done_job, &write, 300), 0);
    /* the loop keeps turning while the job waits */
    int turns = 0;
    while (!write.is_done && vg_mono_us() - t0 < 3000000) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(5);
        turns++;
    }
    int64_t took_ms = (vg_mono_us() - t0) / 1000;
    EXPECT_TRUE(write.is_done);
    EXPECT_TRUE(write.rc < 0);
    EXPECT_EQ(write.status, 503);
    EXPECT_TRUE(took_ms >= 250 && took_ms < 1500);
    EXPECT_TRUE(turns > 20);
    EXPECT_EQ(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    /* after the lock goes, the same write succeeds */
    job_t again = {.counter = &counter, .kind = "tenants"};
    EXPECT_EQ(vg_store_async_submit(a, run_job, done_job, &again, 2000), 0);
    run_until(&loop, &again.is_done, 3000);
    EXPECT_EQ(again.rc, 0);
    bool closed = false;
    vg_store_async_close(&a, set_true, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_TRUE(closed);
    EXPECT_EQ(uv_loop_close(&loop), 0);
    sqlite3_close(other);
    unlink(path);
}

VG_TEST(close_completes_queued_jobs)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    vg_store_async_t *a = NULL;
    EXPECT_EQ(vg_store_async_start(&a, &loop, open_db(":memory:")), 0);
    int counter = 0;
    job_t running = {.counter = &counter, .sleep_ms = 100};
    job_t queued = {.counter = &counter};
    EXPECT_EQ(vg_store_async_submit(a, run_job, done_job, &running, 1000), 0);
    EXPECT_EQ(vg_store_async_submit(a, run_job, done_job, &queued, 1000), 0);
    uv_sleep(20); /* the first has started */
    vg_store_async_close(&a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_TRUE(running.is_done && queued.is_done);
    EXPECT_EQ(queued.rc, VG_ECLOSED);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}
