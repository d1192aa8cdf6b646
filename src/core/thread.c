/* thread: see thread.h. The new thread inherits the signal mask in force at creation, so
 * block everything around pthread_create and restore the caller's mask after. */
#include "core/thread.h"

#include <signal.h>

int vg_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}
