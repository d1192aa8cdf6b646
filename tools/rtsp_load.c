/* rtsp_load: N RTSP readers of one URL over RTP/AVP/TCP interleaved, on one epoll loop, for
 * the RTSP fan-out benchmark (bench/rtsp_fanout.py). A client in C because the client must
 * not be what limits the server: 500 readers of a 4 Mbit/s camera are 250 MB/s to read.
 *
 *   rtsp_load [-n READERS] [-r CONNECTS_PER_S] [-w WARMUP_S] [-d DURATION_S] URL
 *
 * Each reader sends DESCRIBE, SETUP (RTP/AVP/TCP;unicast;interleaved=0-1, to the SDP's media
 * control URL) and PLAY with the Session SETUP returned, one request at a time, then reads the
 * interleaved stream ('$', channel, 16-bit length, packet; RFC 2326 section 10.12). Readers
 * connect at most CONNECTS_PER_S a second. The ramp ends when every reader plays or failed;
 * the window opens WARMUP_S later and lasts DURATION_S. In the window it counts, per reader,
 * RTP packets and frames (the marker bit on channel 0 ends an access unit, RFC 6184 5.1),
 * bytes read, and sequence-number gaps (on TCP nothing is lost in transit, so a gap is the
 * server skipping). Prints one JSON object on stdout; exits 0 when it could measure, 1 on a
 * usage error, 2 when the URL could not be resolved.
 *
 * Bounded: READERS <= 20000, every phase has a deadline (the ramp N / rate + 15 s, then the
 * window), an RTSP response may be at most RESP_MAX bytes, and the interleaved parser never
 * buffers more than an 8-byte header: payload bytes are counted and skipped, never copied,
 * whatever the read boundaries. Standalone: libc only, no vigil library. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READERS_MAX 20000
#define RESP_MAX 16384
#define READ_CHUNK (256 * 1024)
/* '$', channel, length (2), then the RTP header's first 4 bytes: V/P/X/CC, M/PT, sequence. */
#define HDR_LEN 8
#define RAMP_SLACK_S 15.0

enum phase { P_CONNECT, P_DESCRIBE, P_SETUP, P_PLAY, P_PLAYING, P_FAILED };
static const char *const PHASE_NAMES[] = {"connect", "describe", "setup", "play", "playing",
                                          "failed"};

typedef struct reader {
    int fd;
    enum phase phase, failed_in;
    /* the RTSP response being read (or a server request met while playing) */
    char resp[RESP_MAX + 1];
    size_t resp_len;
    bool is_text; /* while playing: inside an RTSP message, not an interleaved packet */
    /* the interleaved packet being parsed: its header so far, then payload bytes to skip */
    uint8_t hdr[HDR_LEN];
    size_t hdr_len;
    size_t payload_left; /* of the packet after its header bytes */
    size_t packet_len;
    bool has_seq;
    uint16_t last_seq;
    /* counts; the *_win ones only inside the window */
    long frames_win, packets_win, bytes_win, gaps_win, lost_win;
    long frames_total;
    double playing_at;
    char fail_why[96];
} reader_t;

typedef struct load {
    const char *url;
    char host[256], port[16];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int epfd;
    reader_t *readers;
    int n;
    double win_start, win_end; /* 0 until the ramp ended */
    bool is_in_window;
} load_t;

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

static void fail(load_t *L, reader_t *r, const char *why)
{
    if (r->phase == P_FAILED)
        return;
    r->failed_in = r->phase;
    snprintf(r->fail_why, sizeof(r->fail_why), "%s", why);
    r->phase = P_FAILED;
    if (r->fd >= 0) {
        epoll_ctl(L->epfd, EPOLL_CTL_DEL, r->fd, NULL);
        close(r->fd);
        r->fd = -1;
    }
}

static int parse_url(load_t *L)
{
    const char *p = L->url;
    if (strncmp(p, "rtsp://", 7) != 0)
        return -1;
    p += 7;
    const char *at = strchr(p, '@'), *slash = strchr(p, '/');
    if (at && (slash == NULL || at < slash))
        return -1; /* credentials: not needed by --no-auth; not implemented */
    size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hostport);
    size_t hlen = colon ? (size_t)(colon - p) : hostport;
    if (hlen == 0 || hlen >= sizeof(L->host))
        return -1;
    memcpy(L->host, p, hlen);
    L->host[hlen] = '\0';
    if (colon) {
        size_t plen = hostport - hlen - 1;
        if (plen == 0 || plen >= sizeof(L->port))
            return -1;
        memcpy(L->port, colon + 1, plen);
        L->port[plen] = '\0';
    } else {
        snprintf(L->port, sizeof(L->port), "554");
    }
    return 0;
}

static int send_all(int fd, const char *buf, size_t len)
{
    /* Requests are small and the socket's buffer empty when one is sent (one at a time). */
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static int send_request(reader_t *r, const char *method, const char *uri, int cseq,
                        const char *extra)
{
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: vigil-rtsp_load\r\n%s\r\n",
                     method, uri, cseq, extra);
    if (n < 0 || (size_t)n >= sizeof(req))
        return -1;
    return send_all(r->fd, req, (size_t)n);
}

/* A header's value in a response head (case-insensitive name), copied into out. */
static bool header(const char *head, const char *name, char *out, size_t out_len)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            const char *v = h + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vlen = strcspn(v, "\r\n");
            if (vlen >= out_len)
                return false;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
    }
    return false;
}

/* Length of the complete message at the start of r->resp (head and body), 0 if incomplete,
 * -1 if it cannot fit. */
static long message_len(reader_t *r)
{
    r->resp[r->resp_len] = '\0';
    char *end = strstr(r->resp, "\r\n\r\n");
    if (end == NULL)
        return r->resp_len >= RESP_MAX ? -1 : 0;
    size_t head_len = (size_t)(end - r->resp) + 4;
    char cl[32];
    long body = 0;
    char saved = r->resp[head_len];
    r->resp[head_len] = '\0';
    if (header(r->resp, "Content-Length", cl, sizeof(cl)))
        body = strtol(cl, NULL, 10);
    r->resp[head_len] = saved;
    if (body < 0 || head_len + (size_t)body > RESP_MAX)
        return -1;
    return head_len + (size_t)body <= r->resp_len ? (long)(head_len + (size_t)body) : 0;
}

/* The SETUP URL: the SDP's last a=control (the media's), absolute or under Content-Base. */
static void setup_url(load_t *L, const char *head, const char *body, char *out, size_t out_len)
{
    char base[1024];
    if (!header(head, "Content-Base", base, sizeof(base)))
        snprintf(base, sizeof(base), "%s/", L->url);
    const char *ctl = NULL;
    for (const char *p = body; (p = strstr(p, "a=control:")) != NULL; p += 10)
        ctl = p + 10;
    size_t clen = ctl ? strcspn(ctl, "\r\n") : 0;
    if (ctl == NULL || (clen == 1 && ctl[0] == '*'))
        snprintf(out, out_len, "%s", base);
    else if (strncmp(ctl, "rtsp://", 7) == 0)
        snprintf(out, out_len, "%.*s", (int)clen, ctl);
    else
        snprintf(out, out_len, "%s%s%.*s", base,
                 base[0] && base[strlen(base) - 1] == '/' ? "" : "/", (int)clen, ctl);
}

/* One whole response to the request of r->phase: sends the next request or fails. */
static void on_response(load_t *L, reader_t *r, size_t len)
{
    char saved = r->resp[len];
    r->resp[len] = '\0';
    char *body = strstr(r->resp, "\r\n\r\n");
    body[2] = '\0'; /* head ends with its last header's CRLF */
    body += 4;
    int status = 0;
    if (sscanf(r->resp, "RTSP/1.0 %d", &status) != 1 || status != 200) {
        char why[96];
        snprintf(why, sizeof(why), "%s answered %d", PHASE_NAMES[r->phase], status);
        r->resp[len] = saved;
        fail(L, r, why);
        return;
    }
    char url[1100], session[128], extra[256];
    switch (r->phase) {
    case P_DESCRIBE:
        setup_url(L, r->resp, body, url, sizeof(url));
        r->phase = P_SETUP;
        if (send_request(r, "SETUP", url, 2,
                         "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n") < 0)
            fail(L, r, "send SETUP");
        break;
    case P_SETUP:
        if (!header(r->resp, "Session", session, sizeof(session))) {
            fail(L, r, "SETUP without Session");
            break;
        }
        session[strcspn(session, "; ")] = '\0';
        snprintf(extra, sizeof(extra), "Session: %s\r\nRange: npt=0.000-\r\n", session);
        r->phase = P_PLAY;
        if (send_request(r, "PLAY", L->url, 3, extra) < 0)
            fail(L, r, "send PLAY");
        break;
    case P_PLAY:
        r->phase = P_PLAYING;
        r->playing_at = now_s();
        break;
    default:
        break;
    }
    r->resp[len] = saved;
}

static void count_packet_header(load_t *L, reader_t *r)
{
    bool is_video = r->hdr[1] == 0;
    if (L->is_in_window)
        r->packets_win++;
    if (is_video && r->packet_len >= 4) {
        uint16_t seq = (uint16_t)(r->hdr[6] << 8 | r->hdr[7]);
        if (L->is_in_window && r->has_seq && seq != (uint16_t)(r->last_seq + 1)) {
            r->gaps_win++;
            r->lost_win += (uint16_t)(seq - r->last_seq - 1);
        }
        r->last_seq = seq;
        r->has_seq = true;
    }
    if (is_video && r->packet_len >= 2 && (r->hdr[5] & 0x80)) {
        r->frames_total++;
        if (L->is_in_window)
            r->frames_win++;
    }
}

/* The interleaved stream, fed in arbitrary pieces: headers are gathered byte by byte across
 * reads, payloads skipped by count. An RTSP message from the server (a '$' is missing) is
 * gathered whole and dropped. */
static void feed_playing(load_t *L, reader_t *r, const uint8_t *p, size_t n)
{
    while (n > 0 && r->phase == P_PLAYING) {
        if (r->is_text) {
            size_t take = RESP_MAX - r->resp_len < n ? RESP_MAX - r->resp_len : n;
            memcpy(r->resp + r->resp_len, p, take);
            r->resp_len += take;
            long len = message_len(r);
            if (len < 0) {
                fail(L, r, "an unparsable message inside the interleaved stream");
                return;
            }
            if (len == 0) {
                if (take < n) {
                    fail(L, r, "an oversized message inside the interleaved stream");
                    return;
                }
                return; /* all of p taken */
            }
            /* Give back what followed the message. */
            size_t extra = r->resp_len - (size_t)len;
            p += take - extra;
            n -= take - extra;
            r->resp_len = 0;
            r->is_text = false;
            continue;
        }
        if (r->payload_left > 0) {
            size_t skip = r->payload_left < n ? r->payload_left : n;
            r->payload_left -= skip;
            p += skip;
            n -= skip;
            continue;
        }
        if (r->hdr_len == 0 && p[0] != '$') {
            r->is_text = true;
            continue;
        }
        /* Gather the header: 4 bytes of framing, then up to 4 of the packet. */
        while (n > 0) {
            size_t want = r->hdr_len < 4 ? 4 : 4 + (r->packet_len < 4 ? r->packet_len : 4);
            if (r->hdr_len >= want)
                break;
            r->hdr[r->hdr_len++] = *p++;
            n--;
            if (r->hdr_len == 4)
                r->packet_len = (size_t)(r->hdr[2] << 8 | r->hdr[3]);
        }
        size_t want = 4 + (r->packet_len < 4 ? r->packet_len : 4);
        if (r->hdr_len < want)
            return; /* the rest of the header comes with the next read */
        count_packet_header(L, r);
        r->payload_left = r->packet_len - (want - 4);
        r->hdr_len = 0;
    }
}

static void on_readable(load_t *L, reader_t *r, uint8_t *buf)
{
    for (int rounds = 0; rounds < 4 && r->phase != P_FAILED; rounds++) {
        ssize_t got = recv(r->fd, buf, READ_CHUNK, 0);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            fail(L, r, got == 0 ? "closed by the server" : strerror(errno));
            return;
        }
        if (L->is_in_window)
            r->bytes_win += got;
        size_t n = (size_t)got;
        const uint8_t *p = buf;
        while (n > 0 && r->phase >= P_DESCRIBE && r->phase <= P_PLAY) {
            size_t take = RESP_MAX - r->resp_len < n ? RESP_MAX - r->resp_len : n;
            memcpy(r->resp + r->resp_len, p, take);
            r->resp_len += take;
            long len = message_len(r);
            if (len < 0) {
                fail(L, r, "a response too long or malformed");
                return;
            }
            if (len == 0) {
                if (take < n) {
                    fail(L, r, "a response too long");
                    return;
                }
                n = 0;
                break;
            }
            size_t extra = r->resp_len - (size_t)len;
            on_response(L, r, (size_t)len);
            r->resp_len = 0;
            p += take - extra;
            n -= take - extra;
        }
        if (n > 0 && r->phase == P_PLAYING)
            feed_playing(L, r, p, n);
        if ((size_t)got < READ_CHUNK)
            return;
    }
}

static void open_reader(load_t *L, reader_t *r)
{
    r->fd = socket(L->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->fd < 0) {
        fail(L, r, strerror(errno));
        return;
    }
    r->phase = P_CONNECT;
    if (connect(r->fd, (struct sockaddr *)&L->addr, L->addr_len) < 0 && errno != EINPROGRESS) {
        fail(L, r, strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = r};
    if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, r->fd, &ev) < 0)
        fail(L, r, strerror(errno));
}

static void on_connected(load_t *L, reader_t *r)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        fail(L, r, strerror(err));
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = r};
    epoll_ctl(L->epfd, EPOLL_CTL_MOD, r->fd, &ev);
    r->phase = P_DESCRIBE;
    if (send_request(r, "DESCRIBE", L->url, 1, "Accept: application/sdp\r\n") < 0)
        fail(L, r, "send DESCRIBE");
}

static double percentile(const double *sorted, int n, double q)
{
    if (n == 0)
        return 0;
    double pos = q * (n - 1);
    int lo = (int)pos;
    int hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

static void report(load_t *L, double ramp_s, double warmup_s, double cpu_s)
{
    int failed_by[P_FAILED] = {0};
    int playing = 0, failed = 0, starved = 0, gap_readers = 0;
    long frames = 0, packets = 0, bytes = 0, gaps = 0, lost = 0;
    double *fps = calloc((size_t)L->n + 1, sizeof(double));
    const char *first_why = NULL;
    int nfps = 0;
    double win = L->win_end - L->win_start;
    for (int i = 0; i < L->n; i++) {
        reader_t *r = &L->readers[i];
        frames += r->frames_win;
        packets += r->packets_win;
        bytes += r->bytes_win;
        gaps += r->gaps_win;
        lost += r->lost_win;
        gap_readers += r->gaps_win > 0;
        if (r->phase == P_FAILED) {
            failed++;
            failed_by[r->failed_in]++;
            if (first_why == NULL)
                first_why = r->fail_why;
        } else if (r->phase == P_PLAYING) {
            playing++;
        }
        /* Every reader counts in the fps distribution, a failed one with what it got. */
        fps[nfps++] = win > 0 ? (double)r->frames_win / win : 0;
        starved += r->frames_win == 0;
    }
    qsort(fps, (size_t)nfps, sizeof(double), cmp_double);
    printf("{\"url\": \"%s\", \"readers\": %d, \"playing_at_end\": %d, \"failed\": %d, "
           "\"failed_in\": {\"connect\": %d, \"describe\": %d, \"setup\": %d, \"play\": %d, "
           "\"playing\": %d}, \"first_failure\": \"%s\", \"starved\": %d, "
           "\"ramp_s\": %.3f, \"warmup_s\": %.3f, \"duration_s\": %.3f, "
           "\"fps_median\": %.2f, \"fps_p1\": %.2f, \"fps_min\": %.2f, \"fps_max\": %.2f, "
           "\"frames\": %ld, \"packets\": %ld, \"bytes\": %ld, \"bytes_per_s\": %.0f, "
           "\"seq_gaps\": %d, \"seq_gaps_total\": %ld, \"packets_missing\": %ld, "
           "\"client_cpu_pct\": %.1f}\n",
           L->url, L->n, playing, failed, failed_by[P_CONNECT], failed_by[P_DESCRIBE],
           failed_by[P_SETUP], failed_by[P_PLAY], failed_by[P_PLAYING],
           first_why ? first_why : "", starved, ramp_s, warmup_s, win, percentile(fps, nfps, 0.5),
           percentile(fps, nfps, 0.01), nfps ? fps[0] : 0, nfps ? fps[nfps - 1] : 0, frames,
           packets, bytes, win > 0 ? (double)bytes / win : 0, gap_readers, gaps, lost,
           100 * cpu_s / (ramp_s + warmup_s + win));
    free(fps);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(void)
{
    fprintf(stderr, "usage: rtsp_load [-n READERS] [-r CONNECTS_PER_S] [-w WARMUP_S] "
                    "[-d DURATION_S] rtsp://HOST:PORT/PATH\n");
}

int main(int argc, char **argv)
{
    load_t L = {.epfd = -1, .n = 1};
    double rate = 200, warmup_s = 2, duration_s = 10;
    int opt;
    while ((opt = getopt(argc, argv, "n:r:w:d:h")) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'n': L.n = (int)strtol(optarg, &end, 10); break;
        case 'r': rate = strtod(optarg, &end); break;
        case 'w': warmup_s = strtod(optarg, &end); break;
        case 'd': duration_s = strtod(optarg, &end); break;
        default: usage(); return 1;
        }
        if (end == optarg || *end != '\0') {
            usage();
            return 1;
        }
    }
    if (optind + 1 != argc || L.n < 1 || L.n > READERS_MAX || rate <= 0 || warmup_s < 0 ||
        duration_s <= 0 || duration_s > 3600) {
        usage();
        return 1;
    }
    L.url = argv[optind];
    if (parse_url(&L) < 0) {
        fprintf(stderr, "rtsp_load: %s: expected rtsp://HOST[:PORT]/PATH without credentials\n",
                L.url);
        return 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(L.host, L.port, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "rtsp_load: cannot resolve %s:%s\n", L.host, L.port);
        return 2;
    }
    memcpy(&L.addr, ai->ai_addr, ai->ai_addrlen);
    L.addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)L.n + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int rc = 1;
    uint8_t *buf = malloc(READ_CHUNK);
    L.readers = calloc((size_t)L.n, sizeof(reader_t));
    L.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (buf == NULL || L.readers == NULL || L.epfd < 0) {
        fprintf(stderr, "rtsp_load: out of memory or epoll\n");
        goto out;
    }
    for (int i = 0; i < L.n; i++) {
        L.readers[i].fd = -1;
        L.readers[i].phase = P_CONNECT;
    }
    double t0 = now_s(), cpu0 = cpu_seconds();
    double ramp_deadline = t0 + L.n / rate + RAMP_SLACK_S, ramp_s = 0;
    int opened = 0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now_s();
        while (opened < L.n && opened < (int)((t - t0) * rate) + 1)
            open_reader(&L, &L.readers[opened++]);
        if (L.win_start == 0) {
            int settled = 0;
            for (int i = 0; i < opened; i++)
                settled += L.readers[i].phase >= P_PLAYING;
            if ((opened == L.n && settled == L.n) || t >= ramp_deadline) {
                ramp_s = t - t0;
                L.win_start = t + warmup_s;
                L.win_end = L.win_start + duration_s;
            }
        }
        if (L.win_start > 0 && !L.is_in_window && t >= L.win_start) {
            /* The window is the loop's, to within one epoll_wait (5 ms). */
            L.is_in_window = true;
            L.win_start = t;
            L.win_end = t + duration_s;
        }
        if (L.win_start > 0 && t >= L.win_end)
            break;
        int ne = epoll_wait(L.epfd, evs, 256, 5);
        if (ne < 0 && errno != EINTR) {
            fprintf(stderr, "rtsp_load: epoll_wait: %s\n", strerror(errno));
            goto out;
        }
        for (int i = 0; i < ne; i++) {
            reader_t *r = evs[i].data.ptr;
            if (r->phase == P_CONNECT)
                on_connected(&L, r);
            else if (r->phase != P_FAILED && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(&L, r, buf);
        }
    }
    report(&L, ramp_s, L.win_start - t0 - ramp_s, cpu_seconds() - cpu0);
    rc = 0;
out:
    if (L.readers)
        for (int i = 0; i < L.n; i++)
            if (L.readers[i].fd >= 0)
                close(L.readers[i].fd);
    if (L.epfd >= 0)
        close(L.epfd);
    free(L.readers);
    free(buf);
    return rc;
}
