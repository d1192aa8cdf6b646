/* outputs_int: what the outputs share inside the module. */
#ifndef VG_OUTPUTS_INT_H
#define VG_OUTPUTS_INT_H

#include "auth/policy.h"
#include "outputs/adapt.h"
#include "outputs/outputs.h"

/* Every stream output: a viewer of the camera named in the path, or a stream token for it
 * (players that cannot send headers). */
#define VG_OUTPUT_ACCESS (VG_ACCESS_VIEWER | VG_ACCESS_CAMERA | VG_ACCESS_TOKEN)

typedef struct out_counters out_counters_t;

/* The part of a streaming viewer that statistics see; embedded first in ws/mjpeg viewers. */
typedef struct vg__viewer {
    vg_consumer_t cons;          /* cons.user points at the protocol's viewer */
    vg_outputs_t *outputs;
    vg_conn_t *conn;             /* NULL for viewers outside the HTTP server (RTSP) */
    const char *peer;            /* "ip:port" when conn is NULL */
    const char *transport;       /* RTSP: "tcp" or "udp"; NULL otherwise */
    vg_stream_t *st;             /* NULL once the camera was removed */
    const char *output;          /* "ws", "mjpeg", "rtsp" */
    char user[64], tenant[64];   /* the caller (cfg.caller), "" when unknown */
    uint64_t id;
    int64_t since_us;
    bool is_auto;
    bool is_keys_only; /* `source-keys`: a VG_TIER_SOURCE consumer that keeps only keyframes */
    uint64_t frames_sent, bytes_sent, drops, offered;
    uint64_t skips; /* `source`: queue emptied, resumed at the next keyframe */
    int64_t latency_us, rtt_us;
    double client_fps, client_decode_ms;
    /* the last 1 Hz window: totals at its start, and what happened during it */
    int64_t tick_mono_us;
    uint64_t tick_frames, tick_bytes, tick_drops, tick_offered;
    uint64_t win_sent, win_bytes, win_drops, win_offered;
    double fps, kbps;
    out_counters_t *counters;    /* of (camera, current tier, output) */
    /* 1 Hz, after the window is measured; NULL: nothing to do. */
    void (*on_tick)(struct vg__viewer *v);
    /* 4 Hz for adaptive viewers (is_auto): the adaptation's sample. NULL: none. */
    void (*on_sample)(struct vg__viewer *v);
    /* what adaptation measured last (adaptive viewers; -1: not measured) */
    double queue_ms, link_kbps, tcp_rtt_ms, loss_pct;
    const char *congestion; /* the socket's congestion control, "" when unknown */
    /* adaptation's state (vg__viewer_adapt) */
    vg_adapt_t adapt;
    uint64_t smp_offered, smp_drops, smp_skips; /* at the previous sample */
    uint64_t smp_acked;      /* TCP bytes acknowledged at the previous sample */
    uint32_t smp_segs, smp_retrans; /* TCP segments sent and retransmitted, same */
    int64_t smp_us;          /* when the previous sample was taken (0: none yet) */
    /* the largest frame sent in this window and the one before (BURST_WINDOW_US each): a
     * keyframe's own time on the link is not a standing queue */
    size_t largest_sent, largest_prev;
    int64_t largest_since_us;
    bool is_draining;        /* adaptation: hold frames back until the queue drains */
    char congestion_buf[16];
    uint32_t congestion_restarts; /* its congestion control was started afresh (adapt.h) */
    int64_t report_us; /* when the client last reported its rendering (0: never) */
    struct vg__viewer *prev, *next;
} vg__viewer_t;

struct vg_outputs {
    vg_outputs_cfg_t cfg;
    uv_timer_t tick_timer;
    uv_timer_t sample_timer; /* 4 Hz: adaptive viewers' samples */
    vg__viewer_t *viewers;
    size_t viewer_count;
    size_t capped_count;   /* of viewer_count: the WebSocket and MJPEG ones (max_viewers) */
    uint64_t refused[VG_REFUSAL_COUNT];
    double out_kbps;       /* the viewers' kbps summed at the last 1 Hz tick */
    uint64_t next_viewer_id;
    out_counters_t *counters; /* list */
    struct hls_cam *hls;      /* hls.c: one muxer per camera HLS clients fetch */
    struct vg__hls_stats *hls_stats; /* list */
    vg_ws_hook_t ws_hook; /* WebSocket control messages for a layer above (PTZ) */
};

typedef struct vg__hls_stats {
    vg_hls_counters_t pub;
    struct vg__hls_stats *next;
} vg__hls_stats_t;

/* Whether one more WebSocket or MJPEG viewer of st at tier may join on c: the viewer cap
 * (max_viewers), the caller's caps per user and tenant, the hub's decoding cap for a JPEG
 * tier (vg_stream_admit_decoding), then a place for st's source under the hub's source cap (vg_stream_admit, which may displace a camera of lower priority:
 * asked last, so that nothing is displaced for a viewer refused anyway). When not, the
 * refusal is counted and why gets the reason, short enough for a WebSocket close reason
 * (123 bytes). */
bool vg__viewers_admit(vg_outputs_t *o, vg_conn_t *c, vg_stream_t *st, int tier, char *why,
                       size_t why_len);
/* Registers v (conn, st, cons.ops/user set by the caller) and attaches it at tier
 * (VG_TIER_SOURCE_KEYS: to the packet lane, keeping only keyframes). */
void vg__viewer_add(vg_outputs_t *o, vg__viewer_t *v, const char *output, int tier);
/* Detaches and unregisters v. */
void vg__viewer_remove(vg__viewer_t *v);
/* v's stream was removed (it is already detached): unregisters v and clears v->st; the
 * output then closes the connection. */
void vg__viewer_stream_removed(vg__viewer_t *v);
/* v's stream changed its ladder and moved v (cons.tier is its new tier). */
void vg__viewer_ladder_changed(vg__viewer_t *v);
/* Moves v to another tier (adaptive: counts a tier change). */
void vg__viewer_set_tier(vg__viewer_t *v, int tier, bool is_adaptive);
/* The tier the viewer is on as its ladder names it: VG_TIER_SOURCE_KEYS for a `source`
 * consumer that keeps only keyframes. */
static inline int vg__viewer_tier(const vg__viewer_t *v)
{
    return v->is_keys_only ? VG_TIER_SOURCE_KEYS : v->cons.tier;
}
/* Accounting: a frame arrived for v / replaced a pending one / was written (bytes on the
 * wire). */
void vg__viewer_offered(vg__viewer_t *v);
void vg__viewer_dropped(vg__viewer_t *v);
void vg__viewer_skipped(vg__viewer_t *v);
/* One adaptation sample of an adaptive viewer (from its on_sample): reads the socket's
 * TCP_INFO and what happened since the last sample, and asks the policy (adapt.h) where on
 * rungs[0..n) (tier indices, cheapest first, kbps[] their cost) the viewer should be; cur is
 * its rung now, extra_skips a further sign of its own (a `source` queue half full),
 * queued_bytes what waits in the output's own queue for the socket (an access-unit queue:
 * as much a queue as the socket's unsent bytes). Returns the tier to move to, or -1 to stay;
 * *reason says why. */
int vg__viewer_adapt(vg__viewer_t *v, const int *rungs, const double *kbps, int n, int cur,
                     uint32_t extra_skips, size_t queued_bytes, const char **reason);
void vg__viewer_sent(vg__viewer_t *v, const vg_frame_t *f, size_t bytes);

void vg__viewers_start(vg_outputs_t *o);
void vg__viewers_free(vg_outputs_t *o);

/* Shared by the outputs: the tier a request names in ?tier= (or the default). Returns the
 * index (a JPEG tier: these outputs send pictures), VG__TIER_AUTO for "auto", or -1 after
 * responding 400/404 on c (HTTP) — *st is set when the camera exists. */
#define VG__TIER_AUTO (-2)
int vg__outputs_resolve(vg_conn_t *c, vg_hub_t *hub, const char *camera_id, vg_stream_t **st);

void vg__ws_register(vg_server_t *srv, vg_outputs_t *o);
void vg__mjpeg_register(vg_server_t *srv, vg_outputs_t *o);
void vg__snapshot_register(vg_server_t *srv, vg_outputs_t *o);
void vg__hls_register(vg_server_t *srv, vg_outputs_t *o);
/* Stops every HLS muxer (shutdown, loop still running) / frees the HLS counters. */
void vg__hls_stop(vg_outputs_t *o);
void vg__hls_free(vg_outputs_t *o);

#endif
