/* queue: see queue.h. A ring buffer under one mutex; the lock is a leaf (no callbacks run
 * under it). Time-outs use CLOCK_MONOTONIC so wall-clock jumps don't stretch them. */
#include "core/queue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"

struct vg_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    void **items;
    size_t cap, head, len;
    bool is_closed;
};

vg_queue_t *vg_queue_new(size_t cap)
{
    vg_queue_t *q = vg_xcalloc(1, sizeof(*q));
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->nonempty, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&q->lock, NULL);
    q->cap = cap ? cap : 1;
    q->items = vg_xcalloc(q->cap, sizeof(void *));
    return q;
}

void vg_queue_free(vg_queue_t **qp, void (*drop)(void *item))
{
    vg_queue_t *q = *qp;
    if (q == NULL)
        return;
    *qp = NULL;
    for (size_t i = 0; i < q->len; i++) {
        if (drop)
            drop(q->items[(q->head + i) % q->cap]);
    }
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
    free(q->items);
    free(q);
}

int vg_queue_push(vg_queue_t *q, void *item)
{
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    if (q->is_closed) {
        rc = VG_ECLOSED;
    } else if (q->len == q->cap) {
        rc = VG_EFULL;
    } else {
        q->items[(q->head + q->len) % q->cap] = item;
        q->len++;
        pthread_cond_signal(&q->nonempty);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int vg_queue_pop(vg_queue_t *q, void **out, int64_t timeout_us)
{
    struct timespec deadline;
    if (timeout_us > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        int64_t ns = deadline.tv_nsec + (timeout_us % 1000000) * 1000;
        deadline.tv_sec += (time_t)(timeout_us / 1000000 + ns / 1000000000);
        deadline.tv_nsec = (long)(ns % 1000000000);
    }
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    while (q->len == 0 && !q->is_closed && timeout_us != 0) {
        if (timeout_us < 0) {
            pthread_cond_wait(&q->nonempty, &q->lock);
        } else if (pthread_cond_timedwait(&q->nonempty, &q->lock, &deadline) != 0) {
            break;
        }
    }
    if (q->len > 0) {
        *out = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    } else {
        rc = q->is_closed ? VG_ECLOSED : VG_EAGAIN;
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void vg_queue_close(vg_queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->is_closed = true;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

size_t vg_queue_len(vg_queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}
