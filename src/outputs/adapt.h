/* adapt: the adaptive viewer's policy — which rung of its ladder it should be on — as a pure
 * function of what was measured (docs/protocol.md, "Adaptive tier").
 *
 * Signals, each sampled a few times a second:
 *   - delay building up in the network: the kernel's smoothed RTT above the path's own round
 *     trip (the least smoothed RTT of the last 5-10 s, measured afresh after a deep queue
 *     drained: a path that got longer is not a queue), plus what waits unsent in our socket
 *     at the delivery rate (under a loss-based control on a lossy link, at most at what its
 *     window sends: a loss cuts it under the rung for seconds);
 *   - the rate the link delivers: the kernel's delivery-rate samples (a sample limited by
 *     what we sent is a lower bound; a burst of a frame often shows the link's rate anyway);
 *   - local signs: frames replaced before the socket took them, `source` keyframe skips, a
 *     client that reports rendering far fewer frames than it was sent.
 * Moves:
 *   - down as soon as the queue passes its bound (at once, and far enough that the queue
 *     drains, when it is deep), to the richest rung whose measured bitrate fits the rate;
 *   - up only when the measured rate shows headroom for the next rung's measured bitrate,
 *     after a clean hold, as far up as that headroom reaches; a sample the link limited
 *     (not what we sent) is remembered for 30 s as its capacity. When no such measurement
 *     is known and the samples are limited by what we sent (small frames on a paced
 *     connection never show the link's rate), one rung that costs at most 2.5 times the
 *     current one is tried after the hold. An up-step that fails soon doubles the hold (2 s
 *     up to 12 s; 1 s plus five round trips on a short path). A rate guessed while a deep
 *     queue built caps what follows but is no evidence of headroom;
 *   - a path much shorter than at the last step down is a new link: what was learnt of the
 *     old one is forgotten; when it is a path the viewer held a rung on for 10 s before it got
 *     worse, that rung is tried again at once (the samples of a thin rung cannot show a good
 *     link: else the climb is one rung per hold).
 * Keyframes: a rung fits a link only when its largest frame (its keyframe) takes at most a
 * round trip on it (at least 100 ms), since the frames behind a keyframe wait that long each
 * keyframe interval. A viewer on a rung whose keyframe the measured capacity does not carry
 * so steps down ("burst"), and a rung is neither climbed to nor probed while the measured
 * capacity says it would not fit.
 * Frames: each frame's time on the link is part of its delay. A JPEG rung (frames alike) fits
 * only when its mean frame takes at most half its frame interval on the link, or a third of
 * the round trip if that is longer (80% of that to climb to it). The time is read twice, and
 * both readings must say it is too long: from the best delivery sample (at most the link's
 * rate) and from the queue a rung's own frames make at the bottleneck (the smoothed RTT over
 * the kernel's least). A viewer whose frames take longer steps down ("frame") at the same
 * frame rate. A queue that does not shrink with the frames after such a step is another
 * flow's, and the rule is off until the path changes; one that does confirms the reading,
 * which then also holds back climbs.
 * Loss: on a lossy link every retransmission stalls the stream for a round trip, and a rung
 * near the link's rate never catches up. So the share of the rate a rung may use shrinks with
 * the measured loss (80% at none, 10 points less per 1% lost, at least half), and for a round
 * trip after a retransmission the backlog it causes is not read as a queue: a lower rung does
 * not make a lossy link lose less. Under a loss-based control (cubic, reno) the rate a step
 * up may count on is at most what that control carries at the measured loss and round trip
 * (about MSS / RTT x 1.22 / sqrt(loss)), whatever the link's bursts show, and a viewer on a
 * rung that control cannot carry steps down ("loss") before the queue builds; a rung within
 * it is tried after the hold, however much it costs against the current one.
 * Pacing: BBR's estimate can collapse on a sparse stream after a loss (adapt.c); a viewer
 * whose socket paces slower than its rung, with no queue in the network, has the control
 * restarted (is_pacing_restart), at most every 10 s.
 * Pure: the caller passes the time and every measurement; no clock, no I/O. */
#ifndef VG_OUTPUTS_ADAPT_H
#define VG_OUTPUTS_ADAPT_H

#include <stdbool.h>
#include <stdint.h>

#define VG_ADAPT_RATE_SAMPLES 16
#define VG_ADAPT_CONGESTED_SAMPLES 8
/* How often an adaptive viewer is sampled (the caller's timer). */
#define VG_ADAPT_SAMPLE_MS 250

/* Where the link's capacity was read, which says how long it is believed. */
typedef enum vg_adapt_capacity {
    VG_ADAPT_CAPACITY_SAMPLE, /* the best delivery sample, or the rate a step down acted on */
    VG_ADAPT_CAPACITY_LINK,   /* the link's own samples while the queue stood */
    VG_ADAPT_CAPACITY_GUESS,  /* read while a deep queue built: a cap, not evidence */
} vg_adapt_capacity_t;

/* Whose the queue a rung's frames seem to make is (adapt.c, FRAME_FOREIGN_SHARE). */
typedef enum vg_adapt_frame_reading {
    VG_ADAPT_FRAME_UNCHECKED, /* no step down for the frames' time on this path yet */
    VG_ADAPT_FRAME_CHECKING,  /* one was made: the next rung's queue will say */
    VG_ADAPT_FRAME_THEIRS,    /* it shrank with the frames: the reading holds back climbs */
    VG_ADAPT_FRAME_FOREIGN,   /* it did not: another flow's; the rule is off on this path */
} vg_adapt_frame_reading_t;

typedef struct vg_adapt {
    int64_t first_us;         /* the first sample with TCP_INFO (0: none yet) */
    int64_t last_change_us;   /* when the rung last changed (0: never) */
    int64_t last_up_us;       /* the last step up, while it is on probation (0: none) */
    int64_t up_hold_us;       /* clean time needed before the next step up */
    int64_t bad_since_us;     /* the queue has been over its bound since (0: it is not) */
    double queue_at_change_ms; /* the queue when the rung last went down */
    int64_t drain_until_us;   /* until then a queue smaller than that one is left to drain */
    bool has_stepped_down;
    /* delivery-rate samples, newest last (a max filter over the rate window) */
    struct {
        int64_t at_us;
        double kbps;
    } rate[VG_ADAPT_RATE_SAMPLES];
    int rate_count;
    /* the best sample not limited by what we sent (the link's measured capacity), and when */
    double capacity_kbps;
    int64_t capacity_us;
    double last_delivery_kbps; /* the kernel keeps its last sample until a better one comes:
                                  the same value again is no news */
    int64_t delivery_fresh_us; /* when last_delivery_kbps last changed (0: never) */
    bool is_kept_window_limited; /* that sample was not app-limited, with no standing RTT */
    bool was_draining;
    int64_t rtt_stale_until_us; /* after a drain the smoothed RTT still holds the queue's
                                   delay for a few round trips: not read until then */
    /* loss: segments sent and retransmitted, each a sum decaying over a few seconds */
    double segs_sum, retrans_sum;
    double acked_1s_kbps; /* the acknowledged rate, smoothed over about a second */
    double acked_recent[3]; /* the last three samples of it, newest last */
    int acked_count;
    int64_t recovering_until_us; /* a retransmission was seen: its stall is not a queue */
    /* the path's own round trip: the least smoothed RTT of two 5 s buckets */
    double rtt_min_cur, rtt_min_prev;
    int64_t rtt_bucket_us;
    bool is_base_remeasured; /* the buckets were emptied after a drain */
    double base_rtt_at_down_ms; /* the path's round trip at the last step down */
    /* the samples the link limited while the queue was over its bound, newest last: what
     * the link carries now, unlike the acknowledged rate, which a stall reads low */
    double congested_kbps[VG_ADAPT_CONGESTED_SAMPLES];
    int congested_count;
    vg_adapt_capacity_t capacity_kind; /* where capacity_kbps came from */
    /* the richest rung a path carried for a while before it got worse, and that path's round
     * trip: tried again at once when that round trip comes back (-1: none) */
    int path_rung;
    double path_base_ms;
    int64_t path_changed_us; /* the path last got much shorter (0: never, or a step down since) */
    /* the queue the current rung's own frames make (adapt.c, FRAME_QUEUE_SAMPLES) */
    int frame_rung;            /* the rung it is averaged for (-1: none yet) */
    double frame_queue_ms;
    int frame_queue_count;     /* samples in it since that rung was taken */
    double frame_drain_kbps;   /* the rate frames drained at, by the last rung that knew
                                  (0: unknown, or too fast to matter) */
    /* whose that queue is, as the last step down for the frames' time answered */
    vg_adapt_frame_reading_t frame_reading;
    double frame_down_queue_ms; /* at that step, the queue then, and */
    double frame_down_ratio;    /* the new rung's frame against the old one */
    int64_t pacing_restart_us; /* the congestion control was last restarted (0: never) */
    double pacing_peak_kbps;   /* its fastest pacing since then */
    int64_t rtt_probe_until_us; /* BBR's ProbeRTT and the round trip after it, while its
                                   backlog drains: no reading of the link */
} vg_adapt_t;

typedef struct vg_adapt_input {
    int64_t now_us;
    int rung, rung_count;    /* where the viewer is; rungs ordered by cost */
    const double *rung_kbps; /* each rung's expected bitrate (measured; 0: unknown) */
    const double *rung_fps;  /* each rung's frame rate (NULL or 0: unknown) */
    /* each rung's largest frame, in bytes: its keyframe (NULL or 0: unknown) */
    const uint32_t *rung_burst_bytes;
    /* the kernel (tcpinfo.h); has_tcp false when it could not be read */
    bool has_tcp;
    double rtt_ms, min_rtt_ms, delivery_kbps;
    bool is_app_limited; /* that sample was limited by what we sent: a lower bound */
    bool is_loss_based;  /* the socket's congestion control backs off on loss (cubic, reno):
                            on a lossy link it carries about MSS/RTT x 1.22/sqrt(loss) */
    uint32_t mss_bytes;  /* the segment size (0: unknown, 1448 assumed) */
    double pacing_kbps;  /* the rate a pacing control (BBR) paces at, whose estimate can
                            collapse on a sparse stream (0: none, or not such a control) */
    bool is_probing_rtt; /* BBR's ProbeRTT holds the window at four segments (tcpinfo.h) */
    double acked_kbps;   /* bytes the peer acknowledged since the last sample, as a rate
                            (0: unknown); while a queue stands this is the link's rate now */
    uint32_t unsent_bytes, inflight_bytes;
    uint32_t burst_bytes; /* the largest frame sent of late, on any rung: 0 unknown */
    uint32_t sent_segs, retrans_segs; /* TCP segments since the previous sample */
    /* since the previous sample */
    uint32_t offered, replaced, skips;
    /* the client's report (client_fps < 0: none fresh) against what was sent */
    double client_fps, sent_fps;
} vg_adapt_input_t;

typedef struct vg_adapt_decision {
    int rung;           /* the rung to be on (== input rung: stay) */
    const char *reason; /* "congested", "client", "burst", "frame", "loss", "recovered", "headroom";
                           NULL when staying */
    double queue_ms;    /* the delay in the network and our socket, as estimated */
    double base_rtt_ms; /* the path's round trip without queues, as estimated */
    bool is_draining;   /* hold frames back: the queue is deep, let it drain first */
    double rate_kbps;   /* the link's rate, as estimated (0: unknown) */
    double loss;        /* share of segments retransmitted, over the last few seconds */
    bool is_pacing_restart; /* start the congestion control afresh: its pacing cannot carry
                               the rung, and the network shows no queue */
} vg_adapt_decision_t;

void vg_adapt_init(vg_adapt_t *a);
vg_adapt_decision_t vg_adapt_step(vg_adapt_t *a, const vg_adapt_input_t *in);
/* The last step up took effect only now (a move to `source` waits for the camera's next
 * keyframe): its probation and hold count from here. */
void vg_adapt_moved_up(vg_adapt_t *a, int64_t now_us);

#endif
