/* outputs: the ways viewers receive a camera — WebSocket JPEG frames (ws.c), MJPEG over HTTP
 * (mjpeg.c) and snapshots (snapshot.c). Each registers its routes on the server and attaches
 * its viewers to the hub's streams as consumers. Loop thread only.
 *
 * Every viewer holds at most one pending frame besides what its socket is sending: a newer
 * frame replaces the pending one and the drop is counted, so a slow viewer never slows the
 * camera or the others and memory stays flat.
 *
 * The outputs also keep statistics (viewers.c): every connected streaming viewer, with its
 * rates measured once a second, and counters per (camera, tier, output) that outlive the
 * viewers, for /metrics.
 */
#ifndef VG_OUTPUTS_H
#define VG_OUTPUTS_H

#include "media/stream.h"
#include "net/server.h"

typedef struct vg_outputs vg_outputs_t;

typedef struct vg_outputs_cfg {
    uv_loop_t *loop;
    vg_hub_t *hub;        /* must outlive the server's connections */
    int snapshot_wait_ms; /* how long a snapshot waits for a first picture */
    /* A `source` viewer further behind than this resumes at the next keyframe (0: 1000 ms,
     * 2 MiB). */
    int source_max_lag_ms;
    size_t source_max_lag_bytes;
    /* WebSocket and MJPEG viewers this instance serves at once (0: no cap); one more is
     * refused with the reason (RTSP readers are not counted: relays between instances and
     * recorders must not be turned away by browsers). */
    int max_viewers;
    /* What this instance's viewers may be sent at once, in kbit/s (0: no cap): measured
     * over the last second, summed over the viewers; past it new WebSocket and MJPEG viewers
     * are refused with the reason. */
    int max_out_kbps;
    /* Who a connection's caller is, for the caps per user and per tenant below and for the
     * viewer list: copies the user (a vigil user id, else the credential's own name such as
     * "jwt:SUB") and the tenant id, "" when none. NULL: nobody is known (no such caps). */
    void (*caller)(void *arg, vg_conn_t *c, char user[64], char tenant[64]);
    void *caller_arg;
    /* What one user or one tenant may watch at once on this instance (0: no cap): streams
     * (WebSocket and MJPEG viewers, as max_viewers) and distinct cameras among them. */
    int max_viewers_per_user, max_viewers_per_tenant;
    int max_cameras_per_user, max_cameras_per_tenant; /* 0..VG_CAMERAS_PER_CALLER_MAX */
} vg_outputs_cfg_t;
#define VG_CAMERAS_PER_CALLER_MAX 1000

/* Why admission refused viewers (vg_outputs_refusals). */
typedef enum vg_refusal {
    VG_REFUSED_MAX_VIEWERS,
    VG_REFUSED_MAX_OUT_KBPS,
    VG_REFUSED_VIEWERS_PER_USER,
    VG_REFUSED_VIEWERS_PER_TENANT,
    VG_REFUSED_CAMERAS_PER_USER,
    VG_REFUSED_CAMERAS_PER_TENANT,
    VG_REFUSAL_COUNT
} vg_refusal_t;
/* The metrics label of a refusal ("max_viewers", "max_viewers_per_user", ...). */
const char *vg_refusal_name(vg_refusal_t r);

#define VG_SOURCE_MAX_LAG_MS_DEFAULT 1000
#define VG_SOURCE_MAX_LAG_BYTES_DEFAULT ((size_t)2 << 20)

/* Registers /api/v1/cameras/{id}/ws, /cameras/{id}/mjpeg and /cameras/{id}/snapshot.jpg and
 * starts the 1 Hz statistics timer. Returns the outputs' shared state. */
vg_outputs_t *vg_outputs_new(vg_server_t *srv, const vg_outputs_cfg_t *cfg);
/* What the viewers were sent over the last second, summed, in kbit/s. */
double vg_outputs_out_kbps(const vg_outputs_t *o);
/* Viewers refused for reason r (the source cap's refusals are the hub's). */
uint64_t vg_outputs_refused(const vg_outputs_t *o, vg_refusal_t r);
/* Closes the timer (at shutdown, while the loop still runs). */
void vg_outputs_stop(vg_outputs_t *o);
/* Frees; after the server and once the loop has run the timer's close callback. */
void vg_outputs_free(vg_outputs_t **op);

/* One connected streaming viewer, as the API shows it. Strings are borrowed for the call. */
typedef struct vg_viewer_info {
    uint64_t id;             /* unique while the server runs */
    const char *output;      /* "ws", "mjpeg" or "rtsp" */
    const char *transport;   /* RTSP: "tcp" or "udp"; NULL for the others */
    const char *camera;
    const char *tier;        /* the tier it receives now */
    bool is_auto;            /* the server picks its tier */
    const char *peer;        /* "ip:port" */
    const char *user;        /* NULL: not logged in */
    const char *tenant;      /* NULL: none */
    int64_t since_us;        /* wall clock */
    uint64_t frames_sent, bytes_sent, drops;
    uint64_t skips; /* `source`: times its queue was emptied to wait for a keyframe */
    /* adaptive viewers: what adaptation measured last (-1: not measured) */
    double queue_ms, link_kbps, tcp_rtt_ms;
    double loss_pct; /* TCP segments retransmitted, % over the last few seconds; -1: unknown */
    const char *congestion; /* the socket's congestion control ("" unknown) */
    uint32_t congestion_restarts; /* times adaptation started it afresh (adapt.h) */
    double fps, kbps;        /* over the last second */
    int64_t latency_us;      /* capture to send of the last frame sent; -1 unknown */
    int64_t rtt_us;          /* WebSocket ping round trip; -1 unknown */
    double client_fps;       /* as the client reported it; -1 unknown */
    double client_decode_ms; /* as the client reported it; -1 unknown */
} vg_viewer_info_t;

/* Calls fn for every viewer of camera_id (all cameras when NULL). Returns the count. */
size_t vg_outputs_each_viewer(vg_outputs_t *o, const char *camera_id,
                              void (*fn)(const vg_viewer_info_t *v, void *arg), void *arg);

/* Capture-to-send latency histogram: bucket b counts frames sent at most
 * vg_latency_bounds_us[b] after capture (the last bucket: later). */
#define VG_LATENCY_BUCKETS 11
extern const int64_t vg_latency_bounds_us[VG_LATENCY_BUCKETS - 1];

/* Totals since start for one (camera, tier, output). */
typedef struct vg_output_counters {
    const char *camera, *tier, *output;
    int viewers;                 /* connected now */
    uint64_t frames, bytes, drops;
    uint64_t skips;              /* `source` viewers: queues emptied to the next keyframe */
    uint64_t latency_hist[VG_LATENCY_BUCKETS];
    uint64_t latency_sum_us;
    /* adaptive viewers' queue delay in the network, as adaptation estimated it, sampled
     * 4 times a second (same buckets) */
    uint64_t queue_hist[VG_LATENCY_BUCKETS];
    uint64_t queue_sum_us;
    uint64_t tier_changes;       /* adaptive moves into this tier */
} vg_output_counters_t;

/* HLS (hls.c), per camera, since start: clients are the peer addresses that fetched in the
 * last 10 s; blocked counts requests held until a part arrived (blocking playlist reloads,
 * preload hints). window_bytes is a gauge: what the camera's window holds now (parts and init
 * segments, shared by every client; 0 while no muxer runs). */
typedef struct vg_hls_counters {
    const char *camera;
    int clients;
    uint64_t requests, blocked, bytes, parts;
    uint64_t window_bytes;
} vg_hls_counters_t;
void vg_outputs_each_hls(vg_outputs_t *o, void (*fn)(const vg_hls_counters_t *c, void *arg),
                         void *arg);
/* The camera is gone for good (deleted or disabled): drops its counters (its viewers were
 * unregistered when its stream was removed, so none is left counting). */
void vg_outputs_forget_camera(vg_outputs_t *o, const char *camera_id);

/* Control messages on a camera's viewing WebSocket that belong to a layer above the outputs
 * (PTZ, in src/api/): a text message whose "type" starts with prefix goes to on_message
 * (msg borrowed for the call); on_close runs when such a WebSocket closes, after which its
 * conn must not be used. Replies go out with vg_outputs_ws_send. Loop thread. */
typedef struct vg_ws_hook {
    const char *prefix; /* e.g. "ptz." */
    void (*on_message)(void *user, vg_conn_t *c, const char *camera, const char *type,
                       json_t *msg);
    void (*on_close)(void *user, vg_conn_t *c);
    void *user;
} vg_ws_hook_t;
void vg_outputs_set_ws_hook(vg_outputs_t *o, const vg_ws_hook_t *hook);
/* Queues a JSON text message (takes msg) on a WebSocket viewer's connection. */
void vg_outputs_ws_send(vg_conn_t *c, json_t *msg);

/* WebSocket close status for viewers of a camera that was removed; the close reason says
 * why ("camera deleted", "camera disabled"). A camera given a new source is not removed:
 * its viewers stay. */
#define VG_WS_CLOSE_CAMERA_REMOVED 4410
/* WebSocket close status for a viewer refused or displaced by admission control (caps,
 * priorities): 1013 Try Again Later (RFC 6455 7.4.1, as registered with IANA); the reason
 * says which cap. */
#define VG_WS_CLOSE_TRY_AGAIN 1013

/* Calls fn for each (camera, tier, output) that has had a viewer. */
void vg_outputs_each_counters(vg_outputs_t *o,
                              void (*fn)(const vg_output_counters_t *c, void *arg), void *arg);

#endif
