/* linkemu: a two-way link emulator between two network namespaces, for the weak-link bench
 * (bench/weaklink.py, issue 19). This kernel has no sch_netem, so delay and loss are made
 * here: the emulator owns a TUN device in each namespace and forwards IP packets between
 * them, per direction through
 *
 *   random loss -> bottleneck queue (tail drop at `queue` packets) served at `rate`
 *               -> fixed one-way `delay` -> the other TUN.
 *
 * A packet's time on the wire is computed when it arrives (departure = max(now, previous
 * departure) + size / rate; release = departure + delay), so one FIFO per direction holds
 * both the bottleneck queue and the delay line, and one absolute timerfd wakes the loop for
 * the earliest release. Timer slack is set to 1 ns so the wakeups are not rounded to 50 us.
 *
 * Usage: linkemu --netns-a NAME --netns-b NAME [--dev NAME] [--rate-kbit N] [--delay-ms N]
 *                [--loss-pct P] [--queue N] [--seed N] [--rt-priority N]
 *   Opens DEV (default lemu0) in each namespace (/run/netns/NAME) and prints "ready" on
 *   stdout; the caller brings the devices up and adds addresses and routes. Direction "ab"
 *   is from namespace A to namespace B.
 * Commands on stdin, one per line (answers on stdout, one JSON line each):
 *   set [dir=ab|ba|both] [rate_kbit=N] [delay_ms=N] [loss_pct=P] [queue=N]   (live)
 *   stats        counters so far
 *   reset        zeroes the counters (one measurement each)
 *   quit         (or EOF on stdin, SIGTERM, SIGINT): prints the counters and exits
 * rate_kbit=0 means no rate limit. Settings apply to packets arriving from then on; packets
 * already on their way keep their times (never reordered: a release is never earlier than
 * the previous one).
 *
 * --rt-priority N runs the loop SCHED_FIFO at N: on a loaded machine, ordinary scheduling
 * delayed 1% of releases by 1-2 ms; real-time scheduling keeps that under 0.1 ms. The loop
 * sleeps in epoll_wait and does bounded work per wakeup, and the kernel's real-time
 * throttling still leaves others 5% of each core.
 *
 * Memory is bounded: SLOTS packets of at most SLOT_BYTES per direction, allocated once. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 16384u          /* per direction: 20 Mbit/s x 1 s of delay is ~1,700 packets */
#define SLOT_BYTES 2048u      /* the TUN MTU is 1500 */
#define READS_PER_WAKE 256    /* so a flood in one direction cannot starve the timer */
#define LATE_BUCKETS 1001     /* how late releases are: 10 us bins to 10 ms, then overflow */
#define LATE_BIN_US 10

typedef struct link_cfg {
    uint64_t rate_bps;        /* 0: unlimited */
    int64_t delay_ns;
    uint32_t loss_ppm;
    uint32_t queue_pkts;
} link_cfg_t;

typedef struct link_dir {
    const char *name;
    int in_fd, out_fd;
    link_cfg_t cfg;
    uint8_t *data;            /* SLOTS x SLOT_BYTES */
    uint16_t *len;
    int64_t *depart_ns, *release_ns;
    uint32_t head, tail;      /* FIFO [head, tail): not yet released */
    uint32_t wire_head;       /* first packet not yet fully serialized (head <= it <= tail) */
    int64_t last_depart_ns, last_release_ns;
    uint64_t rx_pkts, fwd_pkts, fwd_bytes, drop_loss, drop_queue, drop_full, write_errors;
    uint64_t late_hist[LATE_BUCKETS];
    int64_t late_max_ns, late_sum_ns;
} link_dir_t;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64*: the loss decisions, reproducible from --seed. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static int open_tun_in(const char *netns, const char *dev)
{
    char path[256];
    int self = -1, target = -1, fd = -1;
    snprintf(path, sizeof(path), "/run/netns/%s", netns);
    self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (self < 0 || target < 0) {
        fprintf(stderr, "linkemu: open %s: %s\n", self < 0 ? "/proc/self/ns/net" : path,
                strerror(errno));
        goto cleanup;
    }
    if (setns(target, CLONE_NEWNET) < 0) {
        fprintf(stderr, "linkemu: setns %s: %s\n", netns, strerror(errno));
        goto cleanup;
    }
    /* The device belongs to the namespace the opener is in when TUNSETIFF runs. */
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
            fprintf(stderr, "linkemu: TUNSETIFF %s in %s: %s\n", dev, netns, strerror(errno));
            close(fd);
            fd = -1;
        }
    } else {
        fprintf(stderr, "linkemu: open /dev/net/tun: %s\n", strerror(errno));
    }
    if (setns(self, CLONE_NEWNET) < 0) {
        fprintf(stderr, "linkemu: setns back: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
cleanup:
    if (self >= 0)
        close(self);
    if (target >= 0)
        close(target);
    return fd;
}

static int dir_init(link_dir_t *d, const char *name, int in_fd, int out_fd, link_cfg_t cfg)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    d->in_fd = in_fd;
    d->out_fd = out_fd;
    d->cfg = cfg;
    d->data = malloc((size_t)SLOTS * SLOT_BYTES);
    d->len = calloc(SLOTS, sizeof(*d->len));
    d->depart_ns = calloc(SLOTS, sizeof(*d->depart_ns));
    d->release_ns = calloc(SLOTS, sizeof(*d->release_ns));
    return d->data && d->len && d->depart_ns && d->release_ns ? 0 : -1;
}

static void dir_deinit(link_dir_t *d)
{
    free(d->data);
    free(d->len);
    free(d->depart_ns);
    free(d->release_ns);
}

/* Reads what the input TUN has (bounded) and schedules or drops each packet. */
static void dir_read(link_dir_t *d, uint64_t *rng)
{
    for (int i = 0; i < READS_PER_WAKE; i++) {
        uint32_t slot = d->tail % SLOTS;
        bool is_full = d->tail - d->head >= SLOTS;
        static uint8_t scratch[SLOT_BYTES];
        uint8_t *buf = is_full ? scratch : d->data + (size_t)slot * SLOT_BYTES;
        ssize_t n = read(d->in_fd, buf, SLOT_BYTES);
        if (n <= 0)
            return;  /* EAGAIN, or the device went away: the loop notices on HUP */
        d->rx_pkts++;
        if (is_full) {
            d->drop_full++;
            continue;
        }
        if (d->cfg.loss_ppm && rng_next(rng) % 1000000u < d->cfg.loss_ppm) {
            d->drop_loss++;
            continue;
        }
        int64_t now = now_ns();
        while (d->wire_head != d->tail && d->depart_ns[d->wire_head % SLOTS] <= now)
            d->wire_head++;
        if (d->tail - d->wire_head >= d->cfg.queue_pkts) {
            d->drop_queue++;
            continue;
        }
        int64_t depart = now;
        if (d->cfg.rate_bps) {
            if (d->last_depart_ns > depart)
                depart = d->last_depart_ns;
            depart += (int64_t)((uint64_t)n * 8u * 1000000000u / d->cfg.rate_bps);
        }
        int64_t release = depart + d->cfg.delay_ns;
        if (release < d->last_release_ns)
            release = d->last_release_ns;  /* a shorter delay set live must not reorder */
        d->last_depart_ns = depart;
        d->last_release_ns = release;
        d->len[slot] = (uint16_t)n;
        d->depart_ns[slot] = depart;
        d->release_ns[slot] = release;
        d->tail++;
    }
}

static void note_late(link_dir_t *d, int64_t late_ns)
{
    if (late_ns < 0)
        late_ns = 0;
    if (late_ns > d->late_max_ns)
        d->late_max_ns = late_ns;
    d->late_sum_ns += late_ns;
    int64_t b = late_ns / 1000 / LATE_BIN_US;
    d->late_hist[b < LATE_BUCKETS - 1 ? b : LATE_BUCKETS - 1]++;
}

/* Writes out every packet whose release time has come. */
static void dir_release(link_dir_t *d, int64_t now)
{
    while (d->head != d->tail) {
        uint32_t slot = d->head % SLOTS;
        if (d->release_ns[slot] > now)
            break;
        note_late(d, now - d->release_ns[slot]);
        ssize_t w = write(d->out_fd, d->data + (size_t)slot * SLOT_BYTES, d->len[slot]);
        if (w == (ssize_t)d->len[slot]) {
            d->fwd_pkts++;
            d->fwd_bytes += d->len[slot];
        } else {
            d->write_errors++;
        }
        d->head++;
        if (d->wire_head < d->head)
            d->wire_head = d->head;
    }
}

/* p-th percentile from the histogram: the upper edge of its bin, in us (-1: over 10 ms). */
static int64_t late_pct_us(const link_dir_t *d, double p)
{
    uint64_t total = 0, seen = 0;
    for (int b = 0; b < LATE_BUCKETS; b++)
        total += d->late_hist[b];
    if (!total)
        return 0;
    for (int b = 0; b < LATE_BUCKETS; b++) {
        seen += d->late_hist[b];
        if ((double)seen >= p * (double)total)
            return b == LATE_BUCKETS - 1 ? -1 : (int64_t)(b + 1) * LATE_BIN_US;
    }
    return -1;
}

static void print_dir(FILE *f, const link_dir_t *d)
{
    fprintf(f,
            "\"%s\":{\"rate_kbit\":%" PRIu64 ",\"delay_ms\":%.3f,\"loss_pct\":%.4f,\"queue\":%u,"
            "\"received\":%" PRIu64 ",\"forwarded\":%" PRIu64 ",\"bytes\":%" PRIu64
            ",\"dropped_loss\":%" PRIu64 ",\"dropped_queue\":%" PRIu64 ",\"dropped_full\":%" PRIu64
            ",\"write_errors\":%" PRIu64 ",\"in_flight\":%u,\"late_mean_us\":%.1f"
            ",\"late_p50_le_us\":%" PRId64 ",\"late_p99_le_us\":%" PRId64
            ",\"late_max_us\":%.1f}",
            d->name, d->cfg.rate_bps / 1000, (double)d->cfg.delay_ns / 1e6,
            d->cfg.loss_ppm / 1e4, d->cfg.queue_pkts, d->rx_pkts, d->fwd_pkts, d->fwd_bytes,
            d->drop_loss, d->drop_queue, d->drop_full, d->write_errors, d->tail - d->head,
            d->fwd_pkts + d->write_errors
                ? (double)d->late_sum_ns / 1e3 / (double)(d->fwd_pkts + d->write_errors)
                : 0.0,
            late_pct_us(d, 0.5), late_pct_us(d, 0.99), (double)d->late_max_ns / 1e3);
}

static void print_stats(const link_dir_t *ab, const link_dir_t *ba)
{
    fputs("{", stdout);
    print_dir(stdout, ab);
    fputs(",", stdout);
    print_dir(stdout, ba);
    fputs("}\n", stdout);
    fflush(stdout);
}

/* Parses "key=value" into cfg; returns 0, or -1 for an unknown key or a bad value. */
static int apply_setting(link_cfg_t *cfg, const char *key, const char *val)
{
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end || v < 0)
        return -1;
    if (!strcmp(key, "rate_kbit"))
        cfg->rate_bps = (uint64_t)(v * 1000.0);
    else if (!strcmp(key, "delay_ms"))
        cfg->delay_ns = (int64_t)(v * 1e6);
    else if (!strcmp(key, "loss_pct") && v <= 100)
        cfg->loss_ppm = (uint32_t)(v * 1e4 + 0.5);
    else if (!strcmp(key, "queue") && v >= 1 && v <= SLOTS)
        cfg->queue_pkts = (uint32_t)v;
    else
        return -1;
    return 0;
}

/* One command line; returns false to quit. */
static bool run_command(char *line, link_dir_t *ab, link_dir_t *ba)
{
    char *save = NULL, *word = strtok_r(line, " \t\r\n", &save);
    if (!word)
        return true;
    if (!strcmp(word, "stats")) {
        print_stats(ab, ba);
        return true;
    }
    if (!strcmp(word, "quit"))
        return false;
    if (!strcmp(word, "reset")) {
        link_dir_t *dirs[] = {ab, ba};
        for (int i = 0; i < 2; i++) {
            link_dir_t *d = dirs[i];
            d->rx_pkts = d->fwd_pkts = d->fwd_bytes = 0;
            d->drop_loss = d->drop_queue = d->drop_full = d->write_errors = 0;
            memset(d->late_hist, 0, sizeof(d->late_hist));
            d->late_max_ns = d->late_sum_ns = 0;
        }
        printf("{\"ok\":true}\n");
        fflush(stdout);
        return true;
    }
    if (strcmp(word, "set")) {
        printf("{\"error\":\"unknown command %s\"}\n", word);
        fflush(stdout);
        return true;
    }
    link_cfg_t cab = ab->cfg, cba = ba->cfg;
    bool to_ab = true, to_ba = true;
    char *bad = NULL;
    while ((word = strtok_r(NULL, " \t\r\n", &save))) {
        char *eq = strchr(word, '=');
        if (!eq) {
            bad = word;
            break;
        }
        *eq = '\0';
        if (!strcmp(word, "dir")) {
            to_ab = !strcmp(eq + 1, "ab") || !strcmp(eq + 1, "both");
            to_ba = !strcmp(eq + 1, "ba") || !strcmp(eq + 1, "both");
            if (!to_ab && !to_ba) {
                bad = eq + 1;
                break;
            }
            continue;
        }
        if (apply_setting(&cab, word, eq + 1) < 0 || apply_setting(&cba, word, eq + 1) < 0) {
            bad = word;
            break;
        }
    }
    if (bad) {
        printf("{\"error\":\"bad setting %s\"}\n", bad);
    } else {
        if (to_ab)
            ab->cfg = cab;
        if (to_ba)
            ba->cfg = cba;
        printf("{\"ok\":true}\n");
    }
    fflush(stdout);
    return true;
}

static void usage(void)
{
    fputs("usage: linkemu --netns-a NAME --netns-b NAME [--dev NAME] [--rate-kbit N]\n"
          "               [--delay-ms N] [--loss-pct P] [--queue N] [--seed N]\n"
          "               [--rt-priority N]\n", stderr);
}

int main(int argc, char **argv)
{
    const char *ns_a = NULL, *ns_b = NULL, *dev = "lemu0";
    link_cfg_t cfg = {.rate_bps = 0, .delay_ns = 0, .loss_ppm = 0, .queue_pkts = 1000};
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int rt_priority = 0;
    int rc = 1, fd_a = -1, fd_b = -1, ep = -1, tfd = -1, sfd = -1;
    link_dir_t ab, ba;
    bool dirs_ready = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--netns-a"))
            ns_a = v;
        else if (!strcmp(a, "--netns-b"))
            ns_b = v;
        else if (!strcmp(a, "--dev"))
            dev = v;
        else if (!strcmp(a, "--rt-priority"))
            rt_priority = atoi(v);
        else if (!strcmp(a, "--seed"))
            rng = strtoull(v, NULL, 0) | 1;
        else if (!strncmp(a, "--", 2) && strlen(a) < 40) {
            char key[40];
            snprintf(key, sizeof(key), "%s", a + 2);
            for (char *p = key; *p; p++)
                if (*p == '-')
                    *p = '_';
            if (apply_setting(&cfg, key, v) < 0) {
                fprintf(stderr, "linkemu: bad %s %s\n", a, v);
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!ns_a || !ns_b) {
        usage();
        return 2;
    }
    /* Release times are honoured to the microsecond: no 50 us rounding of timer wakeups. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    if (rt_priority > 0) {
        struct sched_param sp = {.sched_priority = rt_priority};
        if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0)
            fprintf(stderr, "linkemu: SCHED_FIFO %d: %s (going on without)\n", rt_priority,
                    strerror(errno));
    }

    fd_a = open_tun_in(ns_a, dev);
    fd_b = open_tun_in(ns_b, dev);
    if (fd_a < 0 || fd_b < 0)
        goto cleanup;
    if (dir_init(&ab, "ab", fd_a, fd_b, cfg) < 0 || dir_init(&ba, "ba", fd_b, fd_a, cfg) < 0) {
        fprintf(stderr, "linkemu: out of memory\n");
        goto cleanup;
    }
    dirs_ready = true;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGPIPE);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || tfd < 0 || ep < 0) {
        perror("linkemu: setup");
        goto cleanup;
    }
    int fds[] = {fd_a, fd_b, tfd, sfd, STDIN_FILENO};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
            perror("linkemu: epoll_ctl");
            goto cleanup;
        }
    }
    printf("ready\n");
    fflush(stdout);

    char line[512];
    size_t line_len = 0;
    int64_t armed_ns = -1;
    bool is_running = true;
    while (is_running) {
        struct epoll_event evs[8];
        int n = epoll_wait(ep, evs, 8, -1);
        if (n < 0 && errno != EINTR) {
            perror("linkemu: epoll_wait");
            goto cleanup;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == fd_a)
                dir_read(&ab, &rng);
            else if (fd == fd_b)
                dir_read(&ba, &rng);
            else if (fd == tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
                    perror("linkemu: timerfd");
                armed_ns = -1;
            } else if (fd == sfd) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGPIPE)
                    is_running = false;
            } else if (fd == STDIN_FILENO) {
                ssize_t r = read(STDIN_FILENO, line + line_len, sizeof(line) - 1 - line_len);
                if (r <= 0) {
                    is_running = false;  /* the harness is gone: do not outlive it */
                    continue;
                }
                line_len += (size_t)r;
                char *nl;
                while (is_running && (nl = memchr(line, '\n', line_len))) {
                    *nl = '\0';
                    size_t used = (size_t)(nl - line) + 1;
                    is_running = run_command(line, &ab, &ba);
                    memmove(line, line + used, line_len - used);
                    line_len -= used;
                }
                if (line_len == sizeof(line) - 1)
                    line_len = 0;  /* an overlong line is dropped, not executed in pieces */
            }
            if (evs[i].events & (EPOLLHUP | EPOLLERR) && fd != STDIN_FILENO && fd != tfd) {
                fprintf(stderr, "linkemu: a device went away\n");
                is_running = false;
            }
        }
        int64_t now = now_ns();
        dir_release(&ab, now);
        dir_release(&ba, now);
        int64_t next = -1;
        if (ab.head != ab.tail)
            next = ab.release_ns[ab.head % SLOTS];
        if (ba.head != ba.tail && (next < 0 || ba.release_ns[ba.head % SLOTS] < next))
            next = ba.release_ns[ba.head % SLOTS];
        if (next >= 0 && next != armed_ns) {
            struct itimerspec its = {.it_value = {.tv_sec = next / 1000000000,
                                                  .tv_nsec = next % 1000000000}};
            if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
                perror("linkemu: timerfd_settime");
            armed_ns = next;
        }
    }
    print_stats(&ab, &ba);
    rc = 0;
cleanup:
    if (dirs_ready) {
        dir_deinit(&ab);
        dir_deinit(&ba);
    }
    if (ep >= 0)
        close(ep);
    if (tfd >= 0)
        close(tfd);
    if (sfd >= 0)
        close(sfd);
    if (fd_a >= 0)
        close(fd_a);
    if (fd_b >= 0)
        close(fd_b);
    return rc;
}
