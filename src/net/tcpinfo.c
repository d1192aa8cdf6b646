/* tcpinfo: see tcpinfo.h. <linux/tcp.h> has the kernel's full struct tcp_info (delivery
 * rate, bytes acked, unsent bytes, min RTT), which glibc's <netinet/tcp.h> lacks; the two
 * headers clash, so this file includes only the kernel's. */
#include "net/tcpinfo.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* tcp_bbr_info's gains are fixed point, shifted left 8 bits (linux/inet_diag.h) */
#define BBR_GAIN_UNIT 256u

int vg_tcp_stats_read(int fd, vg_tcp_stats_t *out)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    memset(out, 0, sizeof(*out));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return -errno;
    out->rtt_ms = ti.tcpi_rtt / 1000.0;
    out->rttvar_ms = ti.tcpi_rttvar / 1000.0;
    /* Fields the kernel did not fill (an older one) read 0: len says how much it wrote. */
    if (len >= offsetof(struct tcp_info, tcpi_min_rtt) + sizeof(ti.tcpi_min_rtt))
        out->min_rtt_ms = ti.tcpi_min_rtt / 1000.0;
    if (len >= offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof(ti.tcpi_delivery_rate)) {
        out->delivery_kbps = (double)ti.tcpi_delivery_rate * 8 / 1000;
        out->is_app_limited = ti.tcpi_delivery_rate_app_limited;
    }
    if (len >= offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
        out->bytes_acked = ti.tcpi_bytes_acked;
    if (len >= offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof(ti.tcpi_notsent_bytes))
        out->unsent_bytes = ti.tcpi_notsent_bytes;
    /* ~0: the socket is not paced (no pacing congestion control, no fq) */
    if (len >= offsetof(struct tcp_info, tcpi_pacing_rate) + sizeof(ti.tcpi_pacing_rate) &&
        ti.tcpi_pacing_rate != 0 && ti.tcpi_pacing_rate != UINT64_MAX)
        out->pacing_kbps = (double)ti.tcpi_pacing_rate * 8 / 1000;
    out->mss_bytes = ti.tcpi_snd_mss;
    out->inflight_bytes = ti.tcpi_unacked * ti.tcpi_snd_mss;
    out->cwnd_bytes = ti.tcpi_snd_cwnd * ti.tcpi_snd_mss;
    out->retransmits = ti.tcpi_total_retrans;
    if (len >= offsetof(struct tcp_info, tcpi_segs_out) + sizeof(ti.tcpi_segs_out))
        out->segs_out = ti.tcpi_segs_out;
    char cc[16] = "";
    len = sizeof(cc);
    if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len) == 0)
        memcpy(out->congestion, cc, len < sizeof(cc) ? len : sizeof(cc) - 1);
    if (strcmp(out->congestion, "bbr") == 0) {
        union tcp_cc_info cc_info;
        memset(&cc_info, 0, sizeof(cc_info));
        len = sizeof(cc_info);
        /* (ProbeBW's gain cycle may set the pacing gain to 1 as well, never the window's) */
        if (getsockopt(fd, IPPROTO_TCP, TCP_CC_INFO, &cc_info, &len) == 0 &&
            len >= sizeof(struct tcp_bbr_info))
            out->is_probing_rtt = cc_info.bbr.bbr_cwnd_gain == BBR_GAIN_UNIT &&
                                  cc_info.bbr.bbr_pacing_gain == BBR_GAIN_UNIT;
    }
    return 0;
}

int vg_tcp_set_congestion(int fd, const char *name)
{
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)strlen(name)) < 0)
        return -errno;
    return 0;
}

int vg_tcp_restart_congestion(int fd, const char *name)
{
    int rc = vg_tcp_set_congestion(fd, "reno");
    if (rc < 0)
        return rc;
    return vg_tcp_set_congestion(fd, name);
}

bool vg_tcp_congestion_available(const char *name)
{
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "r");
    if (f == NULL)
        return false;
    char line[256] = "";
    bool found = false;
    if (fgets(line, sizeof(line), f)) {
        for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n"))
            found |= strcmp(tok, name) == 0;
    }
    fclose(f);
    return found;
}
