/* queue: a bounded FIFO of pointers between threads (mutex + condition variable).
 *
 * Used for packets from a source to its media worker. Producers never block: a full queue
 * refuses the item (the caller decides what to drop). The consumer may block with a timeout.
 * close() wakes every waiter; after it, pushes fail and pops drain what is left.
 */
#ifndef VG_CORE_QUEUE_H
#define VG_CORE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct vg_queue vg_queue_t;

/* Makes a queue holding at most cap items (cap >= 1). Aborts when memory runs out. */
vg_queue_t *vg_queue_new(size_t cap);
/* Frees the queue and sets *qp to NULL; items still inside are passed to drop (may be NULL). */
void vg_queue_free(vg_queue_t **qp, void (*drop)(void *item));
/* Appends item. Returns 0, VG_EFULL, or VG_ECLOSED. Any thread; never blocks long. */
int vg_queue_push(vg_queue_t *q, void *item);
/* Takes the oldest item into *out. Waits up to timeout_us (0: don't wait, <0: forever).
 * Returns 0, VG_EAGAIN on time-out, or VG_ECLOSED when closed and empty. */
int vg_queue_pop(vg_queue_t *q, void **out, int64_t timeout_us);
/* Closes the queue and wakes all waiters. Any thread. */
void vg_queue_close(vg_queue_t *q);
/* Items currently queued. Any thread (a snapshot). */
size_t vg_queue_len(vg_queue_t *q);

#endif
