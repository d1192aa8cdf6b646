/* rtsp: the RTSP server (RFC 2326): every camera re-streamed to any number of RTSP readers
 * from the one session vigil holds on the camera (docs/rtsp.md).
 *
 *   rtsp://host:8554/cameras/{id}   (alias rtsp://host:8554/{id})
 *
 * It listens on its own libuv TCP socket on the loop, beside the HTTP server. Per camera that
 * readers use, one `source` consumer of the packet lane cuts each access unit into RTP packets
 * once (media/rtp.h) and hangs them on the access unit (frame->derived); every reader sends
 * those same packets: over its RTSP connection (RTP/AVP/TCP interleaved, one writev per access
 * unit) or over UDP (RTP/AVP, one sendmmsg per access unit) from one shared pair of ports.
 * Readers start at a keyframe from the GOP cache. A TCP reader whose socket falls behind the
 * lag bounds (the outputs' source_max_lag_*) skips to the next keyframe, counted; a UDP
 * reader's datagrams that the socket refuses are dropped, counted.
 *
 * Access goes through the gate given in the configuration (the caller's integration key or
 * stream token as the Basic password, or ?token= in the URL); a camera not granted answers
 * 404 like one that does not exist, and every session is judged again once a second. Loop
 * thread only. */
#ifndef VG_OUTPUTS_RTSP_H
#define VG_OUTPUTS_RTSP_H

#include <stdbool.h>
#include <uv.h>

#include "media/stream.h"
#include "outputs/outputs.h"

typedef struct vg_rtsp vg_rtsp_t;

/* Who may read a camera; implemented by the access layer (serve.c wires auth.h in). */
typedef struct vg_rtsp_gate {
    /* credential: the Basic password or ?token= ("" when none). Returns 0 with *principal
     * (released with release), 401 for no or a bad credential, 404 for a camera that does not
     * exist or that the caller may not see. */
    int (*admit)(void *user, const char *credential, const char *camera, void **principal);
    /* Whether the principal still holds and still sees the camera. */
    bool (*holds)(void *user, void *principal, const char *camera);
    void (*release)(void *user, void *principal);
    /* An audit entry for what principal did from peer. */
    void (*audit)(void *user, void *principal, const char *peer, const char *action,
                  const char *camera, const char *outcome, const char *detail);
    void *user;
} vg_rtsp_gate_t;

typedef struct vg_rtsp_cfg {
    uv_loop_t *loop;
    vg_hub_t *hub;
    vg_outputs_t *outputs;     /* readers are its viewers (statistics, /metrics) */
    const char *host;          /* "127.0.0.1", "::", ... */
    int port;                  /* 0: a free one (vg_rtsp_port tells which) */
    vg_rtsp_gate_t gate;
    int describe_wait_ms;      /* how long DESCRIBE waits for a starting camera (0: 10 s) */
    int session_timeout_s;     /* a UDP session with no sign of its reader (0: 60) */
    int max_conns_per_ip;      /* connections one address may hold (0: no cap) */
    int max_lag_ms;            /* a TCP reader this far behind skips (0: the outputs' default) */
    size_t max_lag_bytes;
    /* The HTTPS certificate and key: with them, the port also speaks rtsps:// (a client
     * whose first bytes open a TLS handshake gets TLS; others plain RTSP). NULL: plain. */
    const char *tls_cert, *tls_key;
} vg_rtsp_cfg_t;

/* Binds and listens. Returns 0 with *out, or < 0 (-EADDRINUSE, ...) with what went wrong in
 * err. */
int vg_rtsp_start(vg_rtsp_t **out, const vg_rtsp_cfg_t *cfg, char *err, size_t err_len);
int vg_rtsp_port(const vg_rtsp_t *r);
/* The UDP ports RTP and RTCP go out from. */
void vg_rtsp_udp_ports(const vg_rtsp_t *r, int *rtp, int *rtcp);
/* Ends every session and closes every handle; r frees itself once the loop has closed them.
 * Sets *rp to NULL. Accepts NULL. */
void vg_rtsp_close(vg_rtsp_t **rp);

/* Totals since start, for /metrics and /api/v1/status. */
typedef struct vg_rtsp_counters {
    int sessions;                /* open now (set up, playing or not) */
    uint64_t requests, sessions_total, refused; /* refused: 401 and 404 answers */
    uint64_t packets, bytes, udp_drops;
} vg_rtsp_counters_t;
void vg_rtsp_counters(const vg_rtsp_t *r, vg_rtsp_counters_t *out);

/* Whether the port also serves rtsps://. */
bool vg_rtsp_is_tls(const vg_rtsp_t *r);
/* Reloads the certificate and key (SIGHUP, after a renewal); sessions already open keep
 * theirs. 0, or < 0 with err when the files do not load (the old ones stay). */
int vg_rtsp_reload_tls(vg_rtsp_t *r, char *err, size_t err_len);

#endif
