/* lifecycle: the stream retry policy as a pure function of (state, event, now, rng): the
 * exponential backoff with jitter and its cap, and the reachability probes that bring a
 * camera back early without hammering one that is up but broken (issue 13). */
#include "core/err.h"
#include "media/lifecycle.h"
#include "vg_test.h"

#define MS 1000LL
#define S 1000000LL

static const vg_retry_cfg_t no_jitter = {
    .first_ms = 500, .cap_ms = 30000, .jitter_pct = 0, .probe_ms = 1000, .good_us = 60 * S};

/* Fails n times in a row (each attempt made when the timer says), returns the time. */
static int64_t fail_n(vg_retry_t *s, const vg_retry_cfg_t *cfg, int n, int status, int64_t now,
                      uint64_t *rng)
{
    for (int i = 0; i < n; i++) {
        EXPECT_EQ(vg_retry_step(s, cfg, VG_RETRY_FAILED, status, now, rng), VG_RETRY_WAIT);
        if (i + 1 < n) {
            now = s->retry_at_us;
            s->probe_at_us = 0; /* these tests skip the probes */
            EXPECT_EQ(vg_retry_step(s, cfg, VG_RETRY_TIMER, 0, now, rng), VG_RETRY_ATTEMPT);
        }
    }
    return now;
}

VG_TEST(doubling_from_half_a_second_to_the_cap)
{
    static const int64_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    vg_retry_t s = {0};
    uint64_t rng = 1;
    int64_t now = 1000 * S;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_FAILED, VG_EUNAUTHORIZED, now, &rng),
                  VG_RETRY_WAIT);
        EXPECT_EQ(s.last_delay_ms, want[i]);
        EXPECT_EQ(s.retry_at_us, now + want[i] * MS);
        EXPECT_EQ(s.probe_at_us, 0); /* not a reachability failure: no probes */
        EXPECT_EQ(vg_retry_wake_at(&s, &no_jitter), now + want[i] * MS);
        /* too early: nothing; on time: attempt */
        EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now + want[i] * MS - 1, &rng),
                  VG_RETRY_WAIT);
        now += want[i] * MS;
        EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_ATTEMPT);
        EXPECT_EQ(vg_retry_wake_at(&s, &no_jitter), 0);
    }
    EXPECT_EQ(s.attempts, 9);
}

VG_TEST(jitter_stays_within_twenty_percent_and_varies)
{
    vg_retry_cfg_t cfg = no_jitter;
    cfg.jitter_pct = 20;
    uint64_t rng = 42;
    int64_t lo = 1 << 30, hi = 0;
    for (int i = 0; i < 200; i++) {
        vg_retry_t s = {.attempts = 4}; /* the next failure is the fifth: 8 s */
        vg_retry_step(&s, &cfg, VG_RETRY_FAILED, VG_EUNAUTHORIZED, 0, &rng);
        lo = s.last_delay_ms < lo ? s.last_delay_ms : lo;
        hi = s.last_delay_ms > hi ? s.last_delay_ms : hi;
    }
    EXPECT_TRUE(lo >= 6400 && hi <= 9600);
    EXPECT_TRUE(hi - lo > 1000); /* cameras that fell together do not come back together */
    /* the same seed gives the same waits: the policy is deterministic */
    uint64_t r1 = 7, r2 = 7;
    vg_retry_t a = {.attempts = 3}, b = {.attempts = 3};
    vg_retry_step(&a, &cfg, VG_RETRY_FAILED, VG_EEOF, 0, &r1);
    vg_retry_step(&b, &cfg, VG_RETRY_FAILED, VG_EEOF, 0, &r2);
    EXPECT_EQ(a.last_delay_ms, b.last_delay_ms);
}

/* The case: a camera restarted while 10 viewers wait. After a few refusals the wait
 * has grown to 16 s; the camera is back 2.3 s into it; a probe sees it within a second. */
VG_TEST(camera_back_after_restart_is_retried_within_a_probe_interval)
{
    vg_retry_t s = {0};
    uint64_t rng = 1;
    int64_t now = fail_n(&s, &no_jitter, 6, VG_EUNREACHABLE, 0, &rng);
    EXPECT_EQ(s.last_delay_ms, 16000);
    EXPECT_EQ(s.probe_at_us, now + 1 * S);
    int64_t back_at = now + 2300 * MS;
    int probes = 0;
    for (;;) {
        int64_t at = vg_retry_wake_at(&s, &no_jitter);
        EXPECT_TRUE(at > now);
        now = at;
        vg_retry_action_t a = vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng);
        if (a == VG_RETRY_ATTEMPT)
            break;
        EXPECT_EQ(a, VG_RETRY_PROBE);
        probes++;
        EXPECT_EQ(vg_retry_wake_at(&s, &no_jitter), 0); /* waiting for the answer */
        now += 5 * MS;                                  /* a loopback connect */
        a = vg_retry_step(&s, &no_jitter, now >= back_at ? VG_RETRY_PROBE_UP : VG_RETRY_PROBE_DOWN,
                          0, now, &rng);
        if (a == VG_RETRY_ATTEMPT)
            break;
    }
    EXPECT_EQ(probes, 3);                        /* at +1 s, +2 s (down), +3 s (up) */
    EXPECT_TRUE(now - back_at <= 1005 * MS);     /* not 13.7 s later */
    EXPECT_TRUE(s.was_early);
    EXPECT_EQ(s.retry_at_us, 0);
    EXPECT_EQ(s.probe_at_us, 0);
}

/* A camera that accepts connections but fails every attempt (a wrong path, a firmware that
 * answers garbage) is probed as "up" each time: that must never shorten the backoff. */
VG_TEST(probes_never_hammer_a_camera_that_is_up_but_failing)
{
    vg_retry_t s = {0};
    uint64_t rng = 1;
    int64_t now = 0;
    int attempts = 0;
    int64_t end = 120 * S;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_FAILED, VG_EEOF, now, &rng), VG_RETRY_WAIT);
    while (now < end) {
        now = vg_retry_wake_at(&s, &no_jitter);
        vg_retry_action_t a = vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng);
        if (a == VG_RETRY_PROBE)
            a = vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, now + 2 * MS, &rng);
        if (a == VG_RETRY_ATTEMPT) {
            attempts++;
            /* it fails the way a half-broken camera does: unreachable as far as FFmpeg says */
            vg_retry_step(&s, &no_jitter, VG_RETRY_FAILED, VG_EUNREACHABLE, now + 3 * MS, &rng);
        }
    }
    /* plain backoff: 0.5 + 1 + 2 + 4 + 8 + 16 + 30 + 30 + 30 s reach past 120 s at the 9th */
    EXPECT_TRUE(attempts <= 9);
    EXPECT_TRUE(attempts >= 7);
}

/* After a probe-started attempt fails, probes must see the camera down again before the next
 * early attempt. */
VG_TEST(a_failed_early_attempt_does_not_rearm_itself)
{
    vg_retry_t s = {0};
    uint64_t rng = 1;
    int64_t now = fail_n(&s, &no_jitter, 4, VG_EUNREACHABLE, 0, &rng);
    /* a failure alone is not "seen down" (FFmpeg says unreachable for garbage too) */
    now = s.probe_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, now, &rng), VG_RETRY_WAIT);
    now = s.probe_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_DOWN, 0, now, &rng), VG_RETRY_WAIT);
    now = s.probe_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, now, &rng), VG_RETRY_ATTEMPT);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_FAILED, VG_EUNREACHABLE, now, &rng),
              VG_RETRY_WAIT);
    EXPECT_TRUE(!s.seen_down);
    now = s.probe_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, now, &rng), VG_RETRY_WAIT);
    now = s.probe_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_DOWN, 0, now, &rng), VG_RETRY_WAIT);
    now = s.probe_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, now, &rng), VG_RETRY_ATTEMPT);
}

VG_TEST(good_video_for_a_minute_forgives_old_failures)
{
    vg_retry_t s = {0};
    uint64_t rng = 1;
    int64_t now = fail_n(&s, &no_jitter, 5, VG_EUNAUTHORIZED, 0, &rng);
    now = s.retry_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_ATTEMPT);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_LIVE, 0, now, &rng), VG_RETRY_WAIT);
    EXPECT_EQ(vg_retry_wake_at(&s, &no_jitter), now + 60 * S);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now + 59 * S, &rng), VG_RETRY_WAIT);
    EXPECT_EQ(s.attempts, 5);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now + 60 * S, &rng), VG_RETRY_WAIT);
    EXPECT_EQ(s.attempts, 0);
    EXPECT_EQ(vg_retry_wake_at(&s, &no_jitter), 0);
    /* the next failure starts again at half a second */
    vg_retry_step(&s, &no_jitter, VG_RETRY_FAILED, VG_ETIMEDOUT, now + 61 * S, &rng);
    EXPECT_EQ(s.last_delay_ms, 500);
    EXPECT_EQ(s.probe_at_us, 0); /* a probe in 1 s would come after the attempt */
}

VG_TEST(reset_forgets_everything_and_stale_probe_answers_are_ignored)
{
    vg_retry_t s = {0};
    uint64_t rng = 1;
    fail_n(&s, &no_jitter, 6, VG_EUNREACHABLE, 0, &rng);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_RESET, 0, 0, &rng), VG_RETRY_WAIT);
    EXPECT_EQ(s.attempts, 0);
    EXPECT_EQ(vg_retry_wake_at(&s, &no_jitter), 0);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, 0, &rng), VG_RETRY_WAIT);
}

/* Found in the integration test under ASan: the camera came back 0.6 s after a plain attempt
 * had found it still down; the probes had seen it down before that attempt, so the first
 * probe that connects must attempt at once rather than wait out the 16 s step. */
VG_TEST(camera_back_just_after_a_plain_attempt_is_retried_at_the_next_probe)
{
    vg_retry_t s = {0};
    uint64_t rng = 1;
    int64_t now = fail_n(&s, &no_jitter, 5, VG_EUNREACHABLE, 0, &rng); /* waiting 8 s */
    /* every probe of this step sees the camera down */
    while (vg_retry_wake_at(&s, &no_jitter) == s.probe_at_us && s.probe_at_us != 0) {
        now = s.probe_at_us;
        EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
        EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_DOWN, 0, now, &rng), VG_RETRY_WAIT);
    }
    now = s.retry_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_ATTEMPT);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_FAILED, VG_EUNREACHABLE, now, &rng),
              VG_RETRY_WAIT);
    EXPECT_EQ(s.last_delay_ms, 16000);
    /* the camera is back before the first probe of the 16 s step */
    now = s.probe_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, now, &rng), VG_RETRY_ATTEMPT);
}

/* ...but a camera the probes always reach (up, failing) never carries "seen down". */
VG_TEST(no_carry_without_a_probe_that_saw_it_down)
{
    vg_retry_t s = {0};
    uint64_t rng = 1;
    int64_t now = fail_n(&s, &no_jitter, 5, VG_EUNREACHABLE, 0, &rng);
    while (vg_retry_wake_at(&s, &no_jitter) == s.probe_at_us && s.probe_at_us != 0) {
        now = s.probe_at_us;
        EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
        EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, now, &rng), VG_RETRY_WAIT);
    }
    now = s.retry_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_ATTEMPT);
    vg_retry_step(&s, &no_jitter, VG_RETRY_FAILED, VG_EUNREACHABLE, now, &rng);
    now = s.probe_at_us;
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_TIMER, 0, now, &rng), VG_RETRY_PROBE);
    EXPECT_EQ(vg_retry_step(&s, &no_jitter, VG_RETRY_PROBE_UP, 0, now, &rng), VG_RETRY_WAIT);
}
