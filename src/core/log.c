/* log: see log.h. Lines are formatted into a stack buffer and written with one write(2);
 * library callbacks (FFmpeg, libwebsockets) are mapped onto vigil's levels. */
#include "core/log.h"

#include <libavutil/log.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

vg_log_level_t vg__log_level = VG_LOG_LEVEL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void vg_log_set_level(vg_log_level_t level) { vg__log_level = level; }

int vg_log_level_parse(const char *s, vg_log_level_t *out)
{
    for (int i = 0; i <= VG_LOG_LEVEL_TRACE; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (vg_log_level_t)i;
            return 0;
        }
    }
    return VG_EINVAL;
}

__attribute__((format(printf, 3, 0))) static void log_vwrite(vg_log_level_t level,
                                                            const char *ctx, const char *fmt,
                                                            va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], ctx ? ctx : "",
                     ctx ? ": " : "");
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    while (len > 0 && line[len - 1] == '\n')
        len--;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void vg_log_write(vg_log_level_t level, const char *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, ctx, fmt, ap);
    va_end(ap);
}

_Noreturn void vg__assert_fail(const char *cond, const char *file, int line)
{
    vg_log_write(VG_LOG_LEVEL_ERROR, "assert", "%s:%d: %s", file, line, cond);
    abort();
}

__attribute__((format(printf, 3, 0))) static void av_log_cb(void *avcl, int av_level,
                                                           const char *fmt, va_list ap)
{
    vg_log_level_t level;
    if (av_level <= AV_LOG_ERROR)
        level = VG_LOG_LEVEL_WARN; /* vigil decides what is an error; FFmpeg's are warnings */
    else if (av_level <= AV_LOG_WARNING)
        level = VG_LOG_LEVEL_DEBUG;
    else
        level = VG_LOG_LEVEL_TRACE;
    if (level > vg__log_level)
        return;
    const char *name = avcl ? (*(AVClass **)avcl)->item_name(avcl) : "ffmpeg";
    char ctx[64];
    snprintf(ctx, sizeof(ctx), "ffmpeg[%s]", name);
    log_vwrite(level, ctx, fmt, ap);
}

static void lws_log_cb(int lws_level, const char *line)
{
    vg_log_level_t level = lws_level == LLL_ERR    ? VG_LOG_LEVEL_WARN
                           : lws_level == LLL_WARN ? VG_LOG_LEVEL_DEBUG
                                                   : VG_LOG_LEVEL_TRACE;
    if (level <= vg__log_level)
        vg_log_write(level, "lws", "%s", line);
}

void vg_log_route_libraries(void)
{
    av_log_set_callback(av_log_cb);
    int lws_levels = LLL_ERR;
    if (vg__log_level >= VG_LOG_LEVEL_DEBUG)
        lws_levels |= LLL_WARN;
    if (vg__log_level >= VG_LOG_LEVEL_TRACE)
        lws_levels |= LLL_NOTICE | LLL_INFO;
    lws_set_log_level(lws_levels, lws_log_cb);
}
