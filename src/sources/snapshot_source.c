/* snapshot_source: polls a camera's JPEG snapshot URL with libcurl at a fixed rate and hands
 * each picture on as a JPEG packet, so the media worker decodes and re-encodes it for the
 * tiers like any other video. Used as a stream's fallback while its video source is down.
 *
 * Runs on its own source thread with libcurl's easy interface: each request is bounded by
 * connect and total time-outs and aborted within 100 ms of a stop request through the
 * progress callback. Credentials come in the URL (never logged); libcurl takes them from
 * there and answers basic or digest, whichever the camera asks for.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "sources/source.h"

#define SNAPSHOT_MAX_BYTES (16 * 1024 * 1024)
#define SNAPSHOT_TIMEOUT_MS 5000
#define SNAPSHOT_INTERVAL_US 500000 /* 2 pictures a second: a live-ish view, light on cameras */

typedef struct snap_source {
    vg_source_t *src;
    CURL *curl;
    uint8_t *buf;
    size_t len;
    bool is_too_big;
    int64_t next_poll_us;
    uint32_t seq;
} snap_source_t;

static size_t on_data(char *ptr, size_t size, size_t n, void *user)
{
    snap_source_t *ss = user;
    size_t bytes = size * n;
    if (ss->len + bytes > SNAPSHOT_MAX_BYTES) {
        ss->is_too_big = true;
        return 0; /* aborts the transfer */
    }
    ss->buf = vg_xrealloc(ss->buf, ss->len + bytes);
    memcpy(ss->buf + ss->len, ptr, bytes);
    ss->len += bytes;
    return bytes;
}

static int on_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    snap_source_t *ss = user;
    return vg_source_should_stop(ss->src) ? 1 : 0;
}

static void snap_close(vg_source_t *src)
{
    snap_source_t *ss = vg_source_priv(src);
    if (ss == NULL)
        return;
    if (ss->curl)
        curl_easy_cleanup(ss->curl);
    free(ss->buf);
    free(ss);
    vg_source_set_priv(src, NULL);
}

static int snap_open(vg_source_t *src)
{
    snap_source_t *ss = vg_xcalloc(1, sizeof(*ss));
    ss->src = src;
    vg_source_set_priv(src, ss);
    ss->curl = curl_easy_init();
    if (ss->curl == NULL) {
        snap_close(src);
        return VG_ENOMEM;
    }
    /* The snapshot URL may carry credentials; libcurl takes them from the URL itself. */
    curl_easy_setopt(ss->curl, CURLOPT_URL, vg_source_url(src));
    curl_easy_setopt(ss->curl, CURLOPT_HTTPAUTH, (long)(CURLAUTH_BASIC | CURLAUTH_DIGEST));
    curl_easy_setopt(ss->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)SNAPSHOT_TIMEOUT_MS);
    curl_easy_setopt(ss->curl, CURLOPT_TIMEOUT_MS, (long)SNAPSHOT_TIMEOUT_MS);
    curl_easy_setopt(ss->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ss->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(ss->curl, CURLOPT_WRITEDATA, ss);
    curl_easy_setopt(ss->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(ss->curl, CURLOPT_XFERINFODATA, ss);
    curl_easy_setopt(ss->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(ss->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    return 0;
}

static void frame_release(void *opaque) { free(opaque); }

static int snap_read(vg_source_t *src, vg_frame_t **out)
{
    snap_source_t *ss = vg_source_priv(src);
    if (!vg_source_sleep_until(src, ss->next_poll_us))
        return VG_ECLOSED;
    ss->next_poll_us = vg_mono_us() + SNAPSHOT_INTERVAL_US;
    ss->len = 0;
    ss->is_too_big = false;
    CURLcode cc = curl_easy_perform(ss->curl);
    if (vg_source_should_stop(src))
        return VG_ECLOSED;
    long status = 0;
    curl_easy_getinfo(ss->curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status != 200) {
        /* Keep polling: the fallback is the last thing viewers have. */
        VG_LOG_DEBUG(vg_source_log_ctx(src), "snapshot failed: %s, HTTP %ld",
                     curl_easy_strerror(cc), status);
        return VG_EAGAIN;
    }
    if (ss->len < 4 || ss->buf[0] != 0xff || ss->buf[1] != 0xd8) {
        VG_LOG_DEBUG(vg_source_log_ctx(src), "snapshot is not a JPEG (%zu bytes)", ss->len);
        return VG_EAGAIN; /* a lying camera: skip this one, try the next poll */
    }
    int64_t now = vg_wall_us();
    vg_frame_t *f = vg_frame_wrap(ss->buf, ss->len, frame_release, ss->buf);
    ss->buf = NULL;
    ss->len = 0;
    f->meta.codec = VG_CODEC_JPEG;
    f->meta.is_key = true;
    f->meta.seq = ++ss->seq;
    f->meta.capture_us = now;
    f->meta.ingest_us = now;
    *out = f;
    return 0;
}

const vg_source_ops_t vg_source_snapshot_ops = {
    .name = "snapshot",
    .scheme = "snapshot+http", /* not selectable by URL: made by vg_source_snapshot_producer_new */
    .open = snap_open,
    .read = snap_read,
    .close = snap_close,
};
