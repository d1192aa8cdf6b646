/* lifecycle: when a stream whose camera failed tries again, as a pure function of
 * (state, event, now, rng). The stream (stream.c) owns one vg_retry_t per camera, feeds it
 * what happened, and does what the answer says: wait, attempt, or probe.
 *
 *   attempt fails ──→ wait first_ms · 2^(n-1), capped, ±jitter ──→ attempt ...
 *                       │ meanwhile, when the camera looked unreachable:
 *                       └─ probe (a TCP connect) every probe_ms
 *                            refused / no answer → remember "seen down", probe again
 *                            connects after "seen down" → attempt now (it came back)
 *
 * An early attempt needs the camera to have been seen down and then up, so a camera that
 * accepts connections but keeps failing (wrong path, broken firmware) never gets more than
 * the plain exponential backoff: probes alone cannot make vigil hammer it. Only a probe
 * counts as "seen down" (a failed attempt alone does not: FFmpeg reports a refusal and a
 * camera answering garbage alike); a plain attempt that finds unreachable a camera the
 * probes had seen down keeps it "seen down". A failed early attempt needs a probe to see
 * the camera down again before the next one.
 *
 * Pure: no clock, no globals, no I/O; the caller passes now (monotonic µs) and the jitter
 * state (xorshift64). Any thread. Unit tests: tests/unit/test_lifecycle.c.
 */
#ifndef VG_MEDIA_LIFECYCLE_H
#define VG_MEDIA_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vg_retry_cfg {
    int first_ms;      /* the first wait (500) */
    int cap_ms;        /* the longest wait (30000) */
    int jitter_pct;    /* each wait is ±this % (20), so cameras that fell together spread */
    int probe_ms;      /* time between probes while waiting (1000); 0: never probe */
    int64_t good_us;   /* video good this long forgives old failures (60 s) */
} vg_retry_cfg_t;

#define VG_RETRY_CFG_DEFAULT                                                                  \
    ((vg_retry_cfg_t){.first_ms = 500, .cap_ms = 30000, .jitter_pct = 20, .probe_ms = 1000,  \
                      .good_us = 60 * 1000000LL})

typedef enum vg_retry_event {
    VG_RETRY_FAILED,     /* an attempt failed, or the live source ended or stalled (status) */
    VG_RETRY_TIMER,      /* the time vg_retry_wake_at() named has come */
    VG_RETRY_PROBE_UP,   /* the probe connected */
    VG_RETRY_PROBE_DOWN, /* the probe was refused or not answered */
    VG_RETRY_LIVE,       /* the source delivers video */
    VG_RETRY_RESET,      /* stopped, or restarted on new settings: forget everything */
} vg_retry_event_t;

typedef enum vg_retry_action {
    VG_RETRY_WAIT,    /* nothing now; wake at vg_retry_wake_at() (0: no timer) */
    VG_RETRY_ATTEMPT, /* start the source now */
    VG_RETRY_PROBE,   /* start one reachability probe now; report PROBE_UP or PROBE_DOWN */
} vg_retry_action_t;

typedef struct vg_retry {
    unsigned attempts;     /* failures since the video was last good for good_us */
    int64_t retry_at_us;   /* the next attempt; 0: none planned */
    int64_t probe_at_us;   /* the next probe; 0: none planned */
    int64_t live_since_us; /* when the video came back; 0: not live */
    int64_t last_delay_ms; /* the wait chosen at the last failure (for logs and tests) */
    bool is_probing;       /* a probe is out: wait for its answer */
    bool seen_down;        /* a probe saw the camera unreachable since the last attempt */
    bool was_early;        /* the running attempt was started by a probe */
    bool was_down;         /* probes had seen the camera down before the running attempt */
} vg_retry_t;

/* Feeds ev to the policy. status is the failure's VG_E* code for VG_RETRY_FAILED (ignored
 * otherwise). rng is the xorshift64 state for the jitter (never 0). */
vg_retry_action_t vg_retry_step(vg_retry_t *s, const vg_retry_cfg_t *cfg, vg_retry_event_t ev,
                                int status, int64_t now_us, uint64_t *rng);

/* When the caller should feed VG_RETRY_TIMER next (monotonic µs), or 0: no timer. While
 * live, that is when the video will have been good for good_us. */
int64_t vg_retry_wake_at(const vg_retry_t *s, const vg_retry_cfg_t *cfg);

#endif
