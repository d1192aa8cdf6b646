/* tcpinfo: the socket options a viewer's connection gets, read back from the kernel, and
 * TCP_INFO on a real loopback connection. */
#include "net/tcpinfo.h"
#include "vg_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TCP_RTO_MIN_US
#define TCP_RTO_MIN_US 45
#endif

/* A connected loopback pair; returns the client end, *server the accepted one. */
static int connect_pair(int *server)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    EXPECT_TRUE(lfd >= 0);
    EXPECT_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    EXPECT_EQ(listen(lfd, 1), 0);
    EXPECT_EQ(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    *server = accept(lfd, NULL, NULL);
    EXPECT_TRUE(*server >= 0);
    close(lfd);
    return cfd;
}

VG_TEST(quick_recovery_lowers_the_minimum_timeout_and_keeps_timeouts_linear)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int before = 0, after = 0, thin = 0;
    socklen_t len = sizeof(before);
    bool has_rto_min = getsockopt(fd, IPPROTO_TCP, TCP_RTO_MIN_US, &before, &len) == 0;
    int rc = vg_tcp_set_quick_recovery(fd);
    len = sizeof(thin);
    EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, &thin, &len), 0);
    EXPECT_EQ(thin, 1);
    if (has_rto_min) {
        EXPECT_EQ(rc, 0);
        len = sizeof(after);
        EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_RTO_MIN_US, &after, &len), 0);
        /* the kernel keeps it in jiffies: 50 ms reads back as 48-52 ms */
        EXPECT_TRUE(after >= 40000 && after <= 60000);
        EXPECT_TRUE(after < before);
    } else {
        /* a kernel before 6.15: the socket keeps its 200 ms and stays usable */
        fprintf(stderr, "note: this kernel has no TCP_RTO_MIN_US; only the linear timeouts checked\n");
        EXPECT_EQ(rc, -ENOPROTOOPT);
    }
    close(fd);
}

VG_TEST(stats_read_the_connection_and_its_congestion_control)
{
    int server = -1;
    int client = connect_pair(&server);
    EXPECT_EQ(vg_tcp_set_congestion(server, "reno"), 0);
    EXPECT_TRUE(vg_tcp_set_congestion(server, "no-such-control") < 0);
    static const char msg[] = "hello";
    EXPECT_EQ(write(server, msg, sizeof(msg)), (long)sizeof(msg));
    char buf[16];
    EXPECT_EQ(read(client, buf, sizeof(buf)), (long)sizeof(msg));
    vg_tcp_stats_t st;
    EXPECT_EQ(vg_tcp_stats_read(server, &st), 0);
    EXPECT_STREQ(st.congestion, "reno");
    EXPECT_TRUE(st.mss_bytes > 0);
    EXPECT_TRUE(st.segs_out > 0);
    EXPECT_TRUE(st.cwnd_bytes > 0);
    EXPECT_EQ(vg_tcp_stats_read(-1, &st), -EBADF);
    close(client);
    close(server);
}
