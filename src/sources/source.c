#define _GNU_SOURCE /* pthread_setname_np */
/* source: the registry of source implementations and the thread that runs one.
 *
 * The runner thread opens the source, reads packets until it is told to stop or the source
 * fails, and hands each packet to the stream. stop() runs on the loop thread, so it never
 * waits for the thread: it sets atomic flags, interrupts a blocked read, and cuts the run off
 * from the stream (cb_lock is held around each quick call into the stream; stop only tries it,
 * and a thread found inside a call cuts itself off before its next one). The
 * thread finishes on its own (a slow RTSP TEARDOWN runs there, not on the loop), posts its
 * exit to the hub, and run_reap joins it on the loop (vg_thread_exit_t in media/stream.h).
 * A restart makes a new run at once: the old one, cut off, can no longer reach the stream.
 * Credentials in URLs never reach the logs: only the camera id does. A URL with credentials
 * is kept only in guarded memory (vg_config_secret_dup: locked, out of core dumps, wiped when
 * freed), once by the producer and once by each run.
 */
#include "sources/source.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavcodec/packet.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "core/util.h"

extern const vg_source_ops_t vg_source_snapshot_ops;
extern const vg_source_ops_t vg_source_rtsp_vigil_ops; /* rtsp:// over TCP, client=auto|vigil */
extern const vg_source_ops_t vg_source_test_ops, vg_source_rtsp_ops, vg_source_rtsps_ops,
    vg_source_http_ops, vg_source_https_ops, vg_source_file_ops, vg_source_v4l2_ops;

/* In order: of the implementations of one scheme, the first that claims a URL reads it. */
static const vg_source_ops_t *const registry[] = {
    &vg_source_test_ops,  &vg_source_rtsp_vigil_ops, &vg_source_rtsp_ops,
    &vg_source_rtsps_ops, &vg_source_http_ops,       &vg_source_https_ops,
    &vg_source_file_ops,  &vg_source_v4l2_ops,
};

int vg_source_rtsp_client(const char *url, char client[16], char *err, size_t err_len)
{
    const char *q = strchr(url, '?');
    vg_strlcpy(client, "auto", 16);
    if (q && vg_query_get(q + 1, "client", client, 16) == VG_EINVAL) {
        snprintf(err, err_len, "client: auto, vigil or ffmpeg");
        return VG_EURL;
    }
    if (strcmp(client, "auto") != 0 && strcmp(client, "vigil") != 0 &&
        strcmp(client, "ffmpeg") != 0) {
        snprintf(err, err_len, "client: '%.16s' is not auto, vigil or ffmpeg", client);
        return VG_EURL;
    }
    return 0;
}

/* One run of a source: what its thread uses. A new run is made on every start, so a thread
 * that outlives its stop (blocked where no interrupt reaches, such as a DNS lookup inside
 * libavformat) keeps its own state and can finish later without touching the next run. */
struct vg_source {
    const vg_source_ops_t *ops;
    const vg_source_ops_t *io; /* source thread: what reads and closes (ops, or the one it
                                  handed over to in open: vg_source_hand_over) */
    char *url; /* may hold the camera's credentials: vg_config_secret_dup memory */
    char url_redacted[512];
    char log_ctx[80];
    char thread_name[16];
    void *priv;              /* source thread */
    pthread_t thread;
    atomic_bool should_stop; /* any: atomic */
    atomic_bool is_cut;      /* any: stop() found cb_lock taken; the thread cuts itself off */
    /* cb_lock guards input and is held around every call into the stream, so that once
     * stop() has cleared input no packet or event can reach the stream: the loop may then
     * stop the stream's worker even if this thread has not finished. */
    pthread_mutex_t cb_lock;
    vg_stream_input_t *input; /* cb_lock; NULL once detached */
    int refs;                /* cb_lock: the thread's (then its reaper's) and the producer's */
    bool has_posted;         /* cb_lock: the thread posted its exit; it will be joined */
    bool is_abandoned;       /* cb_lock: detached at shutdown; the thread frees itself */
    vg_thread_exit_t exit;   /* posted by the thread as its last act */
};

/* The producer: one per configured URL, restarting runs. Loop thread. */
typedef struct source_producer {
    const vg_source_ops_t *ops;
    char *url; /* may hold the camera's credentials: vg_config_secret_dup memory */
    char url_redacted[512];
    char log_ctx[80];
    char thread_name[16];
    vg_source_t *run; /* the current run, or NULL when stopped */
} source_producer_t;

const char *vg_source_url(const vg_source_t *src) { return src->url; }
void *vg_source_priv(const vg_source_t *src) { return src->priv; }
void vg_source_set_priv(vg_source_t *src, void *priv) { src->priv = priv; }
const char *vg_source_log_ctx(const vg_source_t *src) { return src->log_ctx; }
bool vg_source_should_stop(const vg_source_t *src) { return atomic_load(&src->should_stop); }

void vg_source_set_info(vg_source_t *src, const vg_stream_info_t *info)
{
    pthread_mutex_lock(&src->cb_lock);
    if (atomic_load(&src->is_cut))
        src->input = NULL;
    if (src->input)
        vg_stream_set_info(src->input, info);
    pthread_mutex_unlock(&src->cb_lock);
}

int vg_source_hand_over(vg_source_t *src, const vg_source_ops_t *ops)
{
    src->io = ops;
    return ops->open(src);
}

void vg_source_packet_lost(vg_source_t *src)
{
    pthread_mutex_lock(&src->cb_lock);
    if (atomic_load(&src->is_cut))
        src->input = NULL;
    if (src->input)
        vg_stream_input_lost(src->input);
    pthread_mutex_unlock(&src->cb_lock);
}

bool vg_source_sleep_until(const vg_source_t *src, int64_t deadline_us)
{
    for (;;) {
        if (vg_source_should_stop(src))
            return false;
        int64_t left = deadline_us - vg_mono_us();
        if (left <= 0)
            return true;
        if (left > 20000)
            left = 20000;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000};
        nanosleep(&ts, NULL);
    }
}

void vg_source_packet_release(void *opaque)
{
    AVPacket *pkt = opaque;
    av_packet_free(&pkt);
}

static void run_unref(vg_source_t *run)
{
    pthread_mutex_lock(&run->cb_lock);
    bool is_last = --run->refs == 0;
    pthread_mutex_unlock(&run->cb_lock);
    if (!is_last)
        return;
    pthread_mutex_destroy(&run->cb_lock);
    vg_config_secret_free(&run->url);
    free(run);
}

static void run_push(vg_source_t *run, vg_frame_t *pkt)
{
    pthread_mutex_lock(&run->cb_lock);
    if (atomic_load(&run->is_cut))
        run->input = NULL;
    if (run->input) {
        vg_stream_push_packet(run->input, pkt);
        pkt = NULL;
    }
    pthread_mutex_unlock(&run->cb_lock);
    vg_frame_unref(&pkt);
}

static void run_ended(vg_source_t *run, int status)
{
    pthread_mutex_lock(&run->cb_lock);
    if (atomic_load(&run->is_cut))
        run->input = NULL;
    if (run->input && !atomic_load(&run->should_stop))
        vg_stream_source_ended(run->input, status);
    pthread_mutex_unlock(&run->cb_lock);
}

static void *source_main(void *arg)
{
    vg_source_t *run = arg;
    pthread_setname_np(pthread_self(), run->thread_name);
    run->io = run->ops;
    int rc = run->ops->open(run);
    if (rc < 0) {
        /* Logged by the stream as its state's reason; repeated failures are not spam. */
        VG_LOG_DEBUG(run->log_ctx, "cannot open %s: %s", run->url_redacted, vg_strerror(rc));
        run_ended(run, rc);
        goto out;
    }
    while (!atomic_load(&run->should_stop)) {
        vg_frame_t *pkt = NULL;
        rc = run->io->read(run, &pkt);
        if (rc == VG_EAGAIN)
            continue;
        if (rc < 0)
            break;
        run_push(run, pkt);
    }
    run->io->close(run);
    run_ended(run, rc < 0 ? rc : VG_ECLOSED);
out:
    pthread_mutex_lock(&run->cb_lock);
    bool is_abandoned = run->is_abandoned;
    if (!is_abandoned) {
        run->has_posted = true;
        vg_stream_post_exit(&run->exit); /* the loop joins this thread, then frees run */
    }
    pthread_mutex_unlock(&run->cb_lock);
    if (is_abandoned)
        run_unref(run); /* nobody joins a detached thread: its reference is its own */
    return NULL;
}

/* Loop thread, at shutdown, for a run stuck past VG_THREAD_STOP_WAIT_MS. */
static bool run_abandon(vg_thread_exit_t *e)
{
    vg_source_t *run = (vg_source_t *)((char *)e - offsetof(vg_source_t, exit));
    pthread_mutex_lock(&run->cb_lock);
    bool can = !run->has_posted;
    run->is_abandoned = can;
    pthread_mutex_unlock(&run->cb_lock);
    if (can)
        pthread_detach(run->thread);
    return can;
}

/* Loop thread, once the run's thread has posted its exit: false while it has not returned
 * (the hub asks again; a join would block the loop). */
static bool run_reap(vg_thread_exit_t *e)
{
    vg_source_t *run = (vg_source_t *)((char *)e - offsetof(vg_source_t, exit));
    if (pthread_tryjoin_np(run->thread, NULL) == EBUSY)
        return false;
    run_unref(run); /* the thread's */
    return true;
}

static int producer_start(void *ctx, vg_stream_input_t *in)
{
    vg_stream_t *st = vg_stream_input_stream(in);
    source_producer_t *sp = ctx;
    if (sp->run)
        return VG_EINVAL;
    vg_source_t *run = vg_xcalloc(1, sizeof(*run));
    run->ops = sp->ops;
    run->url = vg_config_secret_dup(sp->url);
    memcpy(run->url_redacted, sp->url_redacted, sizeof(run->url_redacted));
    memcpy(run->log_ctx, sp->log_ctx, sizeof(run->log_ctx));
    memcpy(run->thread_name, sp->thread_name, sizeof(run->thread_name));
    run->input = in;
    run->refs = 2;
    atomic_init(&run->should_stop, false);
    pthread_mutex_init(&run->cb_lock, NULL);
    run->exit.st = st;
    run->exit.log_ctx = run->log_ctx;
    run->exit.reap = run_reap;
    run->exit.abandon = run_abandon;
    int rc = vg_thread_start(&run->thread, source_main, run);
    if (rc < 0) {
        run->refs = 1;
        run_unref(run);
        return rc;
    }
    vg_stream_thread_started(&run->exit);
    sp->run = run;
    return 0;
}

static void producer_stop(void *ctx)
{
    source_producer_t *sp = ctx;
    vg_source_t *run = sp->run;
    if (run == NULL)
        return;
    sp->run = NULL;
    atomic_store(&run->should_stop, true);
    if (run->ops->interrupt)
        run->ops->interrupt(run);
    /* The loop never waits for the source thread: if it is inside a call into the stream
     * (a push: a queue hand-off, safe after the stop), it finishes that one and cuts itself
     * off before the next. Waiting here could stall the loop for as long as the scheduler
     * keeps a preempted source thread off its core while it holds the lock. */
    atomic_store(&run->is_cut, true);
    if (pthread_mutex_trylock(&run->cb_lock) == 0) {
        run->input = NULL;
        pthread_mutex_unlock(&run->cb_lock);
    }
    vg_stream_thread_stopping(&run->exit);
    run_unref(run); /* the producer's; the run's thread is joined when it posts its exit */
}

static void producer_free(void *ctx)
{
    source_producer_t *sp = ctx;
    if (sp == NULL)
        return;
    producer_stop(sp);
    vg_config_secret_free(&sp->url);
    free(sp);
}

static vg_check_t *producer_check(void *ctx, uv_loop_t *loop, vg_check_depth_t depth,
                                  int timeout_ms, vg_check_cb cb, void *arg)
{
    source_producer_t *sp = ctx;
    return vg__source_check_start(loop, sp->url_redacted, depth, timeout_ms, cb, arg);
}

static const vg_producer_ops_t source_producer_ops = {
    .name = "source",
    .start = producer_start,
    .stop = producer_stop,
    .free = producer_free,
    .check = producer_check,
    .cancel_check = vg__source_check_cancel,
};

static void *source_new(const vg_source_ops_t *so, const char *url, const char *camera_id,
                        const char *kind)
{
    source_producer_t *src = vg_xcalloc(1, sizeof(*src));
    src->ops = so;
    src->url = vg_config_secret_dup(url);
    vg_url_redact(url, src->url_redacted, sizeof(src->url_redacted));
    snprintf(src->log_ctx, sizeof(src->log_ctx), "source: cam=%s%s", camera_id, kind);
    snprintf(src->thread_name, sizeof(src->thread_name), "vg-%s-%.8s", *kind ? "snp" : "src",
             camera_id);
    return src;
}

int vg_source_snapshot_producer_new(const char *url, const char *camera_id,
                                    const vg_producer_ops_t **ops, void **ctx, char *err,
                                    size_t err_len)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, err_len, "snapshot URL must be http:// or https://");
        return VG_EURL;
    }
    *ops = &source_producer_ops;
    *ctx = source_new(&vg_source_snapshot_ops, url, camera_id, " snapshot");
    return 0;
}

int vg_source_producer_new(const char *url, const char *camera_id,
                           const vg_producer_ops_t **ops, void **ctx, int *width, int *height,
                           int *fps, char *err, size_t err_len)
{
    const char *sep = strstr(url, "://");
    *width = *height = *fps = 0;
    if (sep == NULL) {
        snprintf(err, err_len, "URL has no scheme");
        return VG_EURL;
    }
    size_t scheme_len = (size_t)(sep - url);
    for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++) {
        const vg_source_ops_t *so = registry[i];
        if (strlen(so->scheme) != scheme_len || strncmp(so->scheme, url, scheme_len) != 0)
            continue;
        if (so->claims) {
            int claimed = so->claims(url, err, err_len);
            if (claimed < 0)
                return VG_EURL;
            if (claimed == 0)
                continue;
        }
        if (so->probe && so->probe(url, width, height, fps, err, err_len) < 0)
            return VG_EURL;
        *ops = &source_producer_ops;
        *ctx = source_new(so, url, camera_id, "");
        return 0;
    }
    char known[96] = "";
    for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++) {
        if (i > 0 && strcmp(registry[i]->scheme, registry[i - 1]->scheme) == 0)
            continue; /* one scheme, several implementations */
        strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
        strncat(known, registry[i]->scheme, sizeof(known) - strlen(known) - 1);
    }
    snprintf(err, err_len, "scheme '%.*s' is not supported (%s)",
             (int)(scheme_len > 32 ? 32 : scheme_len), url, known);
    return VG_EURL;
}
