/* lifecycle: the retry policy of a stream (see lifecycle.h). Pure functions; any thread. */
#include "media/lifecycle.h"

#include "core/err.h"

static uint64_t next_rand(uint64_t *rng)
{
    uint64_t x = *rng ? *rng : 0x9e3779b97f4a7c15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    return x;
}

/* The camera went away (refused, unanswered, ended, silent): a probe can tell when it is
 * back. Other failures (credentials, codec, no video) are not about reachability. */
static bool is_reachability(int status)
{
    return status == VG_EUNREACHABLE || status == VG_ETIMEDOUT || status == VG_EEOF;
}

static int64_t backoff_ms(const vg_retry_cfg_t *cfg, unsigned attempts, uint64_t *rng)
{
    int64_t delay = cfg->first_ms;
    for (unsigned i = 1; i < attempts && delay < cfg->cap_ms; i++)
        delay *= 2;
    if (delay > cfg->cap_ms)
        delay = cfg->cap_ms;
    if (cfg->jitter_pct > 0) {
        uint64_t span = 2 * (uint64_t)cfg->jitter_pct + 1;
        delay = delay * (int64_t)(100 - cfg->jitter_pct + (int)(next_rand(rng) % span)) / 100;
    }
    return delay;
}

/* Plans the next probe if it comes before the next attempt. */
static void plan_probe(vg_retry_t *s, const vg_retry_cfg_t *cfg, int64_t now_us)
{
    int64_t at = now_us + (int64_t)cfg->probe_ms * 1000;
    s->probe_at_us = cfg->probe_ms > 0 && s->retry_at_us > 0 && at < s->retry_at_us ? at : 0;
}

static vg_retry_action_t attempt_now(vg_retry_t *s, bool is_early)
{
    s->retry_at_us = s->probe_at_us = 0;
    s->was_down = s->seen_down;
    s->seen_down = false;
    s->was_early = is_early;
    return VG_RETRY_ATTEMPT;
}

vg_retry_action_t vg_retry_step(vg_retry_t *s, const vg_retry_cfg_t *cfg, vg_retry_event_t ev,
                                int status, int64_t now_us, uint64_t *rng)
{
    switch (ev) {
    case VG_RETRY_RESET:
        *s = (vg_retry_t){0};
        return VG_RETRY_WAIT;
    case VG_RETRY_LIVE:
        s->live_since_us = now_us;
        s->was_down = false;
        s->retry_at_us = s->probe_at_us = 0;
        s->was_early = false;
        return VG_RETRY_WAIT;
    case VG_RETRY_FAILED: {
        s->attempts++;
        s->live_since_us = 0;
        s->last_delay_ms = backoff_ms(cfg, s->attempts, rng);
        s->retry_at_us = now_us + s->last_delay_ms * 1000;
        /* Only a probe counts as seeing the camera down: FFmpeg reports a refusal, a 404
         * and garbage alike as unreachable, and a camera that answers garbage is up. But a
         * camera probes saw down, whose plain attempt then found it unreachable, is still
         * down: the next probe that connects may attempt at once (else a camera back just
         * after an attempt would wait out the whole step). */
        s->seen_down = status == VG_EUNREACHABLE && s->was_down && !s->was_early;
        s->was_down = false;
        s->was_early = false;
        s->is_probing = false;
        if (is_reachability(status))
            plan_probe(s, cfg, now_us);
        else
            s->probe_at_us = 0;
        return VG_RETRY_WAIT;
    }
    case VG_RETRY_TIMER:
        if (s->live_since_us > 0 && s->attempts > 0 && now_us - s->live_since_us >= cfg->good_us)
            s->attempts = 0;
        if (s->retry_at_us > 0 && now_us >= s->retry_at_us && !s->is_probing)
            return attempt_now(s, false);
        if (s->probe_at_us > 0 && now_us >= s->probe_at_us && !s->is_probing) {
            s->probe_at_us = 0;
            s->is_probing = true;
            return VG_RETRY_PROBE;
        }
        return VG_RETRY_WAIT;
    case VG_RETRY_PROBE_UP:
    case VG_RETRY_PROBE_DOWN:
        if (!s->is_probing)
            return VG_RETRY_WAIT; /* a stale answer: an attempt started meanwhile */
        s->is_probing = false;
        if (ev == VG_RETRY_PROBE_UP && s->seen_down)
            return attempt_now(s, true);
        if (ev == VG_RETRY_PROBE_DOWN)
            s->seen_down = true;
        if (s->retry_at_us > 0 && now_us >= s->retry_at_us)
            return attempt_now(s, false); /* the probe outlasted the wait */
        plan_probe(s, cfg, now_us);
        return VG_RETRY_WAIT;
    }
    return VG_RETRY_WAIT;
}

int64_t vg_retry_wake_at(const vg_retry_t *s, const vg_retry_cfg_t *cfg)
{
    if (s->is_probing)
        return 0; /* the probe's answer comes first */
    int64_t at = s->retry_at_us;
    if (s->probe_at_us > 0 && (at == 0 || s->probe_at_us < at))
        at = s->probe_at_us;
    if (at == 0 && s->live_since_us > 0 && s->attempts > 0)
        at = s->live_since_us + cfg->good_us;
    return at;
}
