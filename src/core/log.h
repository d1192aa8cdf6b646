/* log: leveled logging to stderr, one write(2) per line so lines from several threads never
 * interleave. The level is set once at start-up (before threads run) and read by all. */
#ifndef VG_CORE_LOG_H
#define VG_CORE_LOG_H

typedef enum vg_log_level {
    VG_LOG_LEVEL_ERROR,
    VG_LOG_LEVEL_WARN,
    VG_LOG_LEVEL_INFO,
    VG_LOG_LEVEL_DEBUG,
    VG_LOG_LEVEL_TRACE,
} vg_log_level_t;

extern vg_log_level_t vg__log_level; /* read by the macros; written by vg_log_set_level */

/* Sets the level; call before starting threads. */
void vg_log_set_level(vg_log_level_t level);
/* Parses "error|warn|info|debug|trace"; returns 0 or VG_EINVAL. */
int vg_log_level_parse(const char *s, vg_log_level_t *out);
/* Writes one line: time, level, "ctx: " and the message. Any thread. */
void vg_log_write(vg_log_level_t level, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Routes FFmpeg's and libwebsockets' logs into vg_log_write at the current level. */
void vg_log_route_libraries(void);

#define VG_LOG_AT(lvl, ctx, ...)                                                              \
    do {                                                                                      \
        if ((lvl) <= vg__log_level)                                                           \
            vg_log_write((lvl), (ctx), __VA_ARGS__);                                          \
    } while (0)
#define VG_LOG_ERROR(ctx, ...) VG_LOG_AT(VG_LOG_LEVEL_ERROR, ctx, __VA_ARGS__)
#define VG_LOG_WARN(ctx, ...) VG_LOG_AT(VG_LOG_LEVEL_WARN, ctx, __VA_ARGS__)
#define VG_LOG_INFO(ctx, ...) VG_LOG_AT(VG_LOG_LEVEL_INFO, ctx, __VA_ARGS__)
#define VG_LOG_DEBUG(ctx, ...) VG_LOG_AT(VG_LOG_LEVEL_DEBUG, ctx, __VA_ARGS__)
#define VG_LOG_TRACE(ctx, ...) VG_LOG_AT(VG_LOG_LEVEL_TRACE, ctx, __VA_ARGS__)

#define VG_ASSERT(cond)                                                                       \
    do {                                                                                      \
        if (!(cond))                                                                          \
            vg__assert_fail(#cond, __FILE__, __LINE__);                                       \
    } while (0)
_Noreturn void vg__assert_fail(const char *cond, const char *file, int line);

#endif
