#define _GNU_SOURCE /* pthread_setname_np */
/* source: the registry of source implementations and the thread that runs one.
 *
 * The runner thread opens the source, reads packets until it is told to stop or the source
 * fails, and hands each packet to the stream. stop() sets an atomic flag, interrupts a
 * blocked read, and joins. Credentials in URLs never reach the logs: only the camera id does.
 */
#include "sources/source.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/thread.h"
#include "core/util.h"

extern const vg_source_ops_t vg_source_snapshot_ops;
extern const vg_source_ops_t vg_source_test_ops, vg_source_rtsp_ops, vg_source_rtsps_ops,
    vg_source_http_ops, vg_source_https_ops, vg_source_file_ops, vg_source_v4l2_ops;

static const vg_source_ops_t *const registry[] = {
    &vg_source_test_ops, &vg_source_rtsp_ops, &vg_source_rtsps_ops, &vg_source_http_ops,
    &vg_source_https_ops, &vg_source_file_ops, &vg_source_v4l2_ops,
};

struct vg_source {
    const vg_source_ops_t *ops;
    char *url;
    char url_redacted[512];
    char log_ctx[80];
    char thread_name[16];
    void *priv;               /* source thread */
    vg_stream_t *stream;      /* loop sets before the thread starts */
    pthread_t thread;
    bool has_thread;          /* loop */
    atomic_bool should_stop;  /* any: atomic */
};

const char *vg_source_url(const vg_source_t *src) { return src->url; }
void *vg_source_priv(const vg_source_t *src) { return src->priv; }
void vg_source_set_priv(vg_source_t *src, void *priv) { src->priv = priv; }
const char *vg_source_log_ctx(const vg_source_t *src) { return src->log_ctx; }
bool vg_source_should_stop(const vg_source_t *src) { return atomic_load(&src->should_stop); }
void vg_source_set_info(vg_source_t *src, const vg_stream_info_t *info)
{
    vg_stream_set_info(src->stream, info);
}

static void *source_main(void *arg)
{
    vg_source_t *src = arg;
    pthread_setname_np(pthread_self(), src->thread_name);
    int rc = src->ops->open(src);
    if (rc < 0) {
        /* Logged by the stream as its state's reason; repeated failures are not spam. */
        VG_LOG_DEBUG(src->log_ctx, "cannot open %s: %s", src->url_redacted, vg_strerror(rc));
        vg_stream_source_ended(src->stream, src, rc);
        return NULL;
    }
    while (!atomic_load(&src->should_stop)) {
        vg_frame_t *pkt = NULL;
        rc = src->ops->read(src, &pkt);
        if (rc == VG_EAGAIN)
            continue;
        if (rc < 0)
            break;
        vg_stream_push_packet(src->stream, src, pkt);
    }
    src->ops->close(src);
    if (!atomic_load(&src->should_stop))
        vg_stream_source_ended(src->stream, src, rc < 0 ? rc : VG_ECLOSED);
    return NULL;
}

static int producer_start(void *ctx, vg_stream_t *st)
{
    vg_source_t *src = ctx;
    src->stream = st;
    atomic_store(&src->should_stop, false);
    int rc = vg_thread_start(&src->thread, source_main, src);
    if (rc < 0)
        return rc;
    src->has_thread = true;
    return 0;
}

static void producer_stop(void *ctx)
{
    vg_source_t *src = ctx;
    if (!src->has_thread)
        return;
    atomic_store(&src->should_stop, true);
    if (src->ops->interrupt)
        src->ops->interrupt(src);
    /* TODO(vigil): join off the loop thread once sources can block for long (#3). */
    pthread_join(src->thread, NULL);
    src->has_thread = false;
}

static void producer_free(void *ctx)
{
    vg_source_t *src = ctx;
    if (src == NULL)
        return;
    producer_stop(src);
    free(src->url);
    free(src);
}

static const vg_producer_ops_t source_producer_ops = {
    .name = "source",
    .start = producer_start,
    .stop = producer_stop,
    .free = producer_free,
};

static void *source_new(const vg_source_ops_t *so, const char *url, const char *camera_id,
                        const char *kind)
{
    vg_source_t *src = vg_xcalloc(1, sizeof(*src));
    src->ops = so;
    src->url = vg_xstrdup(url);
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
        if (so->probe && so->probe(url, width, height, fps, err, err_len) < 0)
            return VG_EURL;
        *ops = &source_producer_ops;
        *ctx = source_new(so, url, camera_id, "");
        return 0;
    }
    snprintf(err, err_len, "unsupported URL scheme '%.*s'", (int)scheme_len, url);
    return VG_EURL;
}
