/* queue: bounds, order, time-outs, close, and a producer/consumer pair. */
#include <pthread.h>
#include <sched.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/queue.h"
#include "vg_test.h"

VG_TEST(fifo_and_bound)
{
    vg_queue_t *q = vg_queue_new(2);
    int a = 1, b = 2, c = 3;
    EXPECT_EQ(vg_queue_push(q, &a), 0);
    EXPECT_EQ(vg_queue_push(q, &b), 0);
    EXPECT_EQ(vg_queue_push(q, &c), VG_EFULL);
    void *out;
    EXPECT_EQ(vg_queue_pop(q, &out, 0), 0);
    EXPECT_TRUE(out == &a);
    EXPECT_EQ(vg_queue_pop(q, &out, 0), 0);
    EXPECT_TRUE(out == &b);
    EXPECT_EQ(vg_queue_pop(q, &out, 0), VG_EAGAIN);
    vg_queue_free(&q, NULL);
    EXPECT_TRUE(q == NULL);
}

VG_TEST(pop_times_out)
{
    vg_queue_t *q = vg_queue_new(1);
    void *out;
    int64_t t0 = vg_mono_us();
    EXPECT_EQ(vg_queue_pop(q, &out, 50000), VG_EAGAIN);
    int64_t waited = vg_mono_us() - t0;
    EXPECT_TRUE(waited >= 45000 && waited < 2000000);
    vg_queue_free(&q, NULL);
}

static int dropped;
static void drop(void *item) { dropped += *(int *)item; }

VG_TEST(close_drains_then_reports_closed)
{
    vg_queue_t *q = vg_queue_new(4);
    int one = 1;
    vg_queue_push(q, &one);
    vg_queue_close(q);
    EXPECT_EQ(vg_queue_push(q, &one), VG_ECLOSED);
    void *out;
    EXPECT_EQ(vg_queue_pop(q, &out, -1), 0);
    EXPECT_EQ(vg_queue_pop(q, &out, -1), VG_ECLOSED);
    vg_queue_push(q, &one); /* refused: closed */
    dropped = 0;
    vg_queue_free(&q, drop);
    EXPECT_EQ(dropped, 0);
}

VG_TEST(free_drops_leftovers)
{
    vg_queue_t *q = vg_queue_new(4);
    int two = 2;
    vg_queue_push(q, &two);
    vg_queue_push(q, &two);
    dropped = 0;
    vg_queue_free(&q, drop);
    EXPECT_EQ(dropped, 4);
}

static void *producer(void *arg)
{
    vg_queue_t *q = arg;
    static int items[10000];
    for (int i = 0; i < 10000; i++) {
        items[i] = i;
        while (vg_queue_push(q, &items[i]) == VG_EFULL)
            sched_yield(); /* the consumer drains; the push never blocks by design */
    }
    vg_queue_close(q);
    return NULL;
}

VG_TEST(threads_see_every_item_in_order)
{
    vg_queue_t *q = vg_queue_new(8);
    pthread_t th;
    pthread_create(&th, NULL, producer, q);
    int expected = 0;
    void *out;
    int rc;
    /* A 5 s bound instead of waiting forever: a lost wake-up fails here, not by time-out. */
    while ((rc = vg_queue_pop(q, &out, 5000000)) == 0) {
        EXPECT_EQ(*(int *)out, expected);
        expected++;
    }
    EXPECT_EQ(rc, VG_ECLOSED);
    pthread_join(th, NULL);
    EXPECT_EQ(expected, 10000);
    vg_queue_free(&q, NULL);
}
