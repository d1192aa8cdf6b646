/* tcpinfo: what the kernel knows about a viewer's TCP connection (TCP_INFO), and its
 * congestion control (TCP_CONGESTION). Adaptation reads the delay building up in the
 * network and the rate the link delivers from here instead of guessing from local drops
 * (docs/protocol.md, "Adaptive tier"). Any thread; each call is one getsockopt/setsockopt. */
#ifndef VG_NET_TCPINFO_H
#define VG_NET_TCPINFO_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vg_tcp_stats {
    double rtt_ms, rttvar_ms; /* smoothed round trip and its variation */
    double min_rtt_ms;        /* the kernel's windowed minimum: the path without queues */
    double delivery_kbps;     /* the kernel's latest delivery-rate sample */
    bool is_app_limited;      /* that sample was limited by us, not the link (a lower bound) */
    uint64_t bytes_acked;     /* payload bytes the peer acknowledged, since the connect */
    uint32_t unsent_bytes;    /* written by us, not yet sent */
    uint32_t inflight_bytes;  /* sent, not yet acknowledged (packets x MSS) */
    uint32_t cwnd_bytes;
    uint32_t mss_bytes;       /* the segment size we send */
    uint32_t retransmits;     /* segments retransmitted, total */
    uint32_t segs_out;        /* segments sent, retransmissions included, total (0: unknown) */
    double pacing_kbps;       /* the rate the kernel paces this socket at (0: not paced) */
    char congestion[16];      /* "bbr", "cubic", ... */
    /* BBR is in ProbeRTT: every 10 s without a lower RTT it holds its window at four
     * segments for 200 ms and a round trip, to measure the path empty (TCP_CC_INFO: both
     * gains at 1, which only that state has). What the viewer sends then waits behind it. */
    bool is_probing_rtt;
} vg_tcp_stats_t;

/* Reads fd's TCP_INFO. Returns 0, or a negative errno. */
int vg_tcp_stats_read(int fd, vg_tcp_stats_t *out);

/* Sets fd's congestion control ("bbr", "cubic", ...). Returns 0, or a negative errno
 * (-ENOENT: the kernel does not offer it). */
int vg_tcp_set_congestion(int fd, const char *name);

/* Starts fd's congestion control `name` afresh, as on a new connection, keeping the window
 * (it switches to reno and back: the kernel re-initialises a control only when it changes).
 * Returns 0, or a negative errno (then fd may be left on reno, which still carries it). */
int vg_tcp_restart_congestion(int fd, const char *name);

/* Whether the kernel offers name to unprivileged sockets (reads
 * /proc/sys/net/ipv4/tcp_allowed_congestion_control; root may use any available one). */
bool vg_tcp_congestion_available(const char *name);

#endif
