/* thread: starting vigil's worker threads. Loop thread (or any). */
#ifndef VG_CORE_THREAD_H
#define VG_CORE_THREAD_H

#include <pthread.h>

/* Starts fn(arg) on a new thread with every signal blocked, so that SIGINT/SIGTERM reach
 * only the loop thread (which takes them as uv_signal callbacks). Returns 0 or -errno. */
int vg_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
