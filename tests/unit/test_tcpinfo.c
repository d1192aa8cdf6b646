/* tcpinfo: TCP_INFO and the congestion control of a real loopback connection. */
#include "net/tcpinfo.h"
#include "vg_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
    /* a restart leaves the connection on the control it had, and it still carries data */
    EXPECT_EQ(vg_tcp_set_congestion(server, "cubic"), 0);
    EXPECT_EQ(vg_tcp_restart_congestion(server, "cubic"), 0);
    EXPECT_EQ(vg_tcp_stats_read(server, &st), 0);
    EXPECT_STREQ(st.congestion, "cubic");
    EXPECT_EQ(write(server, msg, sizeof(msg)), (long)sizeof(msg));
    EXPECT_EQ(read(client, buf, sizeof(buf)), (long)sizeof(msg));
    EXPECT_TRUE(vg_tcp_restart_congestion(server, "no-such-control") < 0);
    close(client);
    close(server);
}
