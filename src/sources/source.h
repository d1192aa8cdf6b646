/* source: the interface every camera source implements, and the generic runner that gives
 * each active source its own thread and turns it into a stream producer.
 *
 * A source's read() blocks (FFmpeg demuxers do); interrupt() must make a blocked read()
 * return promptly from any thread, which is how stop and shutdown reach it.
 */
#ifndef VG_SOURCES_SOURCE_H
#define VG_SOURCES_SOURCE_H

#include <stdbool.h>

#include "core/frame.h"
#include "media/stream.h"

typedef struct vg_source vg_source_t;

typedef struct vg_source_ops {
    const char *name;   /* "test", "rtsp", ... */
    const char *scheme; /* URL scheme it serves, without "://" */
    /* Checks the URL without opening anything; fills what it knows (0 when unknown).
     * Returns 0 or VG_EURL (with a message in err). Any thread. */
    int (*probe)(const char *url, int *width, int *height, int *fps, char *err, size_t err_len);
    /* Where several implementations serve one scheme (rtsp://: vigil's client, then
     * libavformat's), the first whose claims() answers 1 reads the URL; 0 leaves it to the
     * next; VG_EURL refuses it (with a message in err). NULL: claims every URL. Any thread. */
    int (*claims)(const char *url, char *err, size_t err_len);
    int (*open)(vg_source_t *src);                  /* source thread */
    int (*read)(vg_source_t *src, vg_frame_t **out); /* blocks; source thread; takes *out */
    void (*interrupt)(vg_source_t *src);            /* any thread; may be NULL */
    void (*close)(vg_source_t *src);                /* source thread */
} vg_source_ops_t;

/* An rtsp:// or rtsps:// URL's choice of client (`?client=`: auto, the default; vigil;
 * ffmpeg) into client (16 bytes). Returns 0 or VG_EURL (with a message in err). */
int vg_source_rtsp_client(const char *url, char client[16], char *err, size_t err_len);

/* For implementations: the source's URL, its private state, its log context, and whether
 * it has been asked to stop (check it in any wait). */
const char *vg_source_url(const vg_source_t *src);
void *vg_source_priv(const vg_source_t *src);
void vg_source_set_priv(vg_source_t *src, void *priv);
const char *vg_source_log_ctx(const vg_source_t *src);
bool vg_source_should_stop(const vg_source_t *src);
/* Source thread: sleeps until the monotonic deadline in short steps, so that a stop request
 * is seen within 20 ms. Returns false when asked to stop. */
bool vg_source_sleep_until(const vg_source_t *src, int64_t deadline_us);
/* vg_frame_wrap release for a frame that borrows an AVPacket's data (frees the packet). */
void vg_source_packet_release(void *opaque);
/* Source thread, from within open: hands this run over to another implementation (vigil's
 * RTSP client to libavformat's for a codec it does not read). Runs ops->open and returns its
 * result; read and close then go to ops. ops must not need interrupt(). */
int vg_source_hand_over(vg_source_t *src, const vg_source_ops_t *ops);
/* Source thread: access units were lost since the last packet handed over (decoders and
 * the packet lane wait for the next keyframe). */
void vg_source_packet_lost(vg_source_t *src);
/* Source thread: describe the video to the stream (before the first packet). */
void vg_source_set_info(vg_source_t *src, const vg_stream_info_t *info);

/* A producer that polls a JPEG snapshot URL (http or https) twice a second: a stream's
 * fallback while its video is down. Returns 0 or VG_EURL (message in err). Loop thread. */
int vg_source_snapshot_producer_new(const char *url, const char *camera_id,
                                    const vg_producer_ops_t **ops, void **ctx, char *err,
                                    size_t err_len);

/* Finds the source for url's scheme and checks the URL. On success fills *ops and *ctx with a
 * producer for vg_stream_cfg_t (ctx freed through ops->free) and the picture size when the
 * URL tells it. Returns 0 or VG_EURL (message in err). Loop thread. */
int vg_source_producer_new(const char *url, const char *camera_id,
                           const vg_producer_ops_t **ops, void **ctx, int *width, int *height,
                           int *fps, char *err, size_t err_len);

/* check.c: a non-blocking check of the camera at url (credentials are not sent: pass the
 * redacted URL). NULL when the scheme has nothing to check. Loop thread. */
vg_check_t *vg__source_check_start(uv_loop_t *loop, const char *url, vg_check_depth_t depth,
                                   int timeout_ms, vg_check_cb cb, void *arg);
void vg__source_check_cancel(vg_check_t *c);

#endif
