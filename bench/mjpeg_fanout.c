/* mjpeg_fanout: N MJPEG viewers of one URL on one epoll loop, counting the JPEG parts each
 * receives. A client in C so that the client is not what limits the server (a Python
 * reader could not take ~1,000 x 30 parts a second on one core).
 *
 *   mjpeg_fanout HOST PORT PATH VIEWERS WARMUP_S DURATION_S [SOURCE_ADDRS]
 *
 * Viewers connect from 127.0.0.2, 127.0.0.3, ... (SOURCE_ADDRS of them, default 8) so that
 * each address stays under vigil's per-address cap. A part is counted when the boundary
 * that vigil sends right after each JPEG ("\r\n--vigilframe\r\n") arrives. Prints one JSON
 * line: viewers connected, those that got a 200 head, and per-viewer fps over the window
 * [WARMUP_S, WARMUP_S + DURATION_S] (median, min, max), plus the viewers that got none.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char BOUNDARY[] = "\r\n--vigilframe\r\n";
#define BLEN (sizeof(BOUNDARY) - 1)

typedef struct viewer {
    int fd;
    int has_head, is_ok;
    long parts_in_window;
    char tail[BLEN]; /* last bytes of the previous read, for a boundary split across reads */
    size_t tail_len;
} viewer_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long count_boundaries(viewer_t *v, const char *buf, size_t n)
{
    /* Join the previous tail with the new bytes' head, then scan the new bytes. */
    long count = 0;
    char join[2 * BLEN];
    size_t head = n < BLEN ? n : BLEN;
    memcpy(join, v->tail, v->tail_len);
    memcpy(join + v->tail_len, buf, head);
    for (const char *p = join, *end = join + v->tail_len + head;
         (p = memmem(p, (size_t)(end - p), BOUNDARY, BLEN)) != NULL; p += BLEN) {
        if (p < join + v->tail_len) /* only boundaries that straddle the two reads */
            count++;
        else
            break;
    }
    for (const char *p = buf, *end = buf + n; (p = memmem(p, (size_t)(end - p), BOUNDARY, BLEN));
         p += BLEN)
        count++;
    size_t keep = n < BLEN - 1 ? n : BLEN - 1;
    if (n < BLEN - 1) { /* rare: a tiny read; keep the tail growing */
        size_t total = v->tail_len + n;
        size_t drop = total > BLEN - 1 ? total - (BLEN - 1) : 0;
        memmove(v->tail, v->tail + drop, v->tail_len - drop);
        v->tail_len -= drop;
        memcpy(v->tail + v->tail_len, buf, n);
        v->tail_len += n;
    } else {
        memcpy(v->tail, buf + n - keep, keep);
        v->tail_len = keep;
    }
    return count;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s HOST PORT PATH VIEWERS WARMUP_S DURATION_S [ADDRS]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), n = atoi(argv[4]);
    double warmup = atof(argv[5]), duration = atof(argv[6]);
    int addrs = argc > 7 ? atoi(argv[7]) : 8;
    viewer_t *v = calloc((size_t)n, sizeof(*v));
    int ep = epoll_create1(0);
    char req[1024];
    int reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    int connected = 0;
    for (int i = 0; i < n; i++) {
        struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
        char srcip[32];
        snprintf(srcip, sizeof(srcip), "127.0.0.%d", 2 + i % addrs);
        inet_pton(AF_INET, srcip, &src.sin_addr);
        inet_pton(AF_INET, host, &dst.sin_addr);
        dst.sin_port = htons((uint16_t)port);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
            connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 ||
            write(fd, req, (size_t)reqlen) != reqlen) {
            perror("connect");
            if (fd >= 0)
                close(fd);
            v[i].fd = -1;
            continue;
        }
        v[i].fd = fd;
        connected++;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    double t0 = now_s(), w0 = t0 + warmup, w1 = w0 + duration;
    static char buf[1 << 20];
    struct epoll_event evs[256];
    for (double t = now_s(); t < w1; t = now_s()) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < k; e++) {
            viewer_t *x = &v[evs[e].data.u32];
            ssize_t r = read(x->fd, buf, sizeof(buf));
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
                continue;
            }
            if (!x->has_head) {
                x->has_head = 1;
                x->is_ok = r >= 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0;
            }
            long parts = count_boundaries(x, buf, (size_t)r);
            double tn = now_s();
            if (tn >= w0 && tn < w1)
                x->parts_in_window += parts;
        }
    }
    double *fps = calloc((size_t)n, sizeof(*fps));
    int ok = 0, none = 0;
    for (int i = 0; i < n; i++) {
        fps[i] = (double)v[i].parts_in_window / duration;
        ok += v[i].is_ok;
        none += v[i].parts_in_window == 0;
    }
    qsort(fps, (size_t)n, sizeof(*fps), cmp_double);
    printf("{\"viewers\": %d, \"connected\": %d, \"ok_heads\": %d, \"fps_median\": %.2f, "
           "\"fps_min\": %.2f, \"fps_max\": %.2f, \"fps_p10\": %.2f, \"viewers_without_frames\": %d}\n",
           n, connected, ok, fps[n / 2], fps[0], fps[n - 1], fps[n / 10], none);
    return 0;
}
