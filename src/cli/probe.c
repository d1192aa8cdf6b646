/* probe: `vigil probe`, the load client and measuring stick. It opens N viewers on a vigil
 * WebSocket or MJPEG URL, ramps them up at --connect-rate, waits --warmup seconds after the
 * last connect, then counts for --duration seconds: per-viewer fps, latency from the frame
 * headers (arrival minus capture_us, and minus ingest_us for the server's own share), the
 * latency read from the timestamp bar in a bounded sample of pictures, bytes, seq gaps and
 * errors; for the camera's own video (tier=source) also keyframes, skips, codec messages and
 * whether each viewer began with a keyframe. It prints text, or one JSON line with --json.
 *
 *   timeline  |-- ramp: connects --|-- warmup --|====== window (--duration) ======|-- close
 *
 * Built as one thread on a private libuv loop so that one core drives about a thousand
 * viewers: probe_conn.c holds the connections and the WebSocket/HTTP clients, probe_stats.c
 * the per-frame accounting and the stamp reader, this file the options, the ramp and the
 * report. The loop ends when every handle is closed.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/probe_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"

#define TICK_MS 20
#define RX_BUF_BYTES (1024 * 1024)
/* After the window: how long closing viewers may take before their sockets are dropped. */
#define STOP_GRACE_US 1500000

static const char usage_text[] =
    "usage: vigil probe [options] URL [URL...]\n"
    "\n"
    "Opens viewers on a vigil camera and measures what they receive: fps, latency from\n"
    "the frame headers and from the timestamp drawn in the picture, bytes, drops, errors.\n"
    "\n"
    "URL  ws://HOST[:PORT]/api/v1/cameras/ID/ws[?tier=T]    WebSocket viewers\n"
    "     http://HOST[:PORT]/cameras/ID/mjpeg[?tier=T]      MJPEG viewers\n"
    "With several URLs (one server: same scheme, host and port), viewer i opens URL\n"
    "number i modulo their count: -n 100 with 100 camera URLs is one viewer each.\n"
    "\n"
    "  -n, --viewers N       viewers to open (default 1)\n"
    "  -d, --duration S      length of the measuring window, seconds (default 10)\n"
    "      --warmup S        seconds from the last connect to the window (default 1)\n"
    "      --connect-rate R  new connections per second, 0 for all at once (default 200)\n"
    "      --timeout S       limit for each viewer's connect and handshake (default 5)\n"
    "      --stamp-rate R    pictures per second, over all viewers, whose timestamp bar\n"
    "                        is decoded (default 20, 0 for none)\n"
    "      --tier T          ask for tier T (adds tier=T to the URL's query); with\n"
    "                        'source', the camera's own H.264/H.265 access units\n"
    "      --save DIR        save received JPEGs as DIR/VIEWER-SEQ.jpg, and each viewer's\n"
    "                        H.264/H.265 access units, one after another, as\n"
    "                        DIR/VIEWER.h264 (or .h265): a raw stream ffmpeg plays\n"
    "      --save-max N      save at most N JPEGs, or the access units of at most N\n"
    "                        viewers (default 100)\n"
    "      --rcvbuf BYTES    SO_RCVBUF for each connection (default: kernel autotuning)\n"
    "      --json            print one JSON line on stdout instead of text\n"
    "  -h, --help            show this text\n"
    "\n"
    "With H.264/H.265 frames (tier=source) it also counts keyframes, skips (gaps in seq:\n"
    "the server emptied a viewer's queue and resumed at a keyframe), codec messages, and\n"
    "whether each viewer's first frame was a keyframe.\n"
    "Connects ramp up at --connect-rate; the window opens --warmup seconds after the last\n"
    "one and lasts --duration seconds; only frames arriving inside it count. Ctrl-C ends\n"
    "the window early and reports what was measured.\n"
    "Exit status: 0 when every viewer received frames in the window, 1 otherwise, 2 for\n"
    "a usage error.\n";

/* ---- options ------------------------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vigil probe: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'vigil probe --help'.\n", stderr);
    va_end(ap);
    return 2;
}

static bool parse_seconds(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

static int url_parse(vg_probe_url_t *u, const char *url)
{
    const char *rest;
    if (strncmp(url, "ws://", 5) == 0) {
        u->kind = VG_PROBE_WS;
        rest = url + 5;
    } else if (strncmp(url, "http://", 7) == 0) {
        u->kind = VG_PROBE_MJPEG;
        rest = url + 7;
    } else {
        return VG_EURL; /* wss:// and https:// too: the probe speaks no TLS */
    }

    size_t alen = strcspn(rest, "/?#");
    const char *host = rest, *port = NULL;
    size_t hlen, plen = 0;
    if (alen == 0 || memchr(rest, '@', alen) != NULL)
        return VG_EURL;
    if (rest[0] == '[') { /* [v6 address]:port */
        const char *close = memchr(rest, ']', alen);
        if (close == NULL)
            return VG_EURL;
        host = rest + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < rest + alen) {
            if (close[1] != ':')
                return VG_EURL;
            port = close + 2;
            plen = (size_t)(rest + alen - port);
        }
    } else {
        const char *colon = memchr(rest, ':', alen);
        hlen = colon != NULL ? (size_t)(colon - rest) : alen;
        if (colon != NULL) {
            port = colon + 1;
            plen = (size_t)(rest + alen - port);
        }
    }
    if (hlen == 0 || hlen >= sizeof(u->host) || alen >= sizeof(u->host_header))
        return VG_EURL;
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    memcpy(u->host_header, rest, alen);
    u->host_header[alen] = '\0';

    if (port == NULL) {
        vg_strlcpy(u->port, "80", sizeof(u->port));
    } else {
        char tmp[8];
        long long n;
        if (plen == 0 || plen >= sizeof(tmp))
            return VG_EURL;
        memcpy(tmp, port, plen);
        tmp[plen] = '\0';
        if (vg_parse_int(tmp, 1, 65535, &n) < 0)
            return VG_EURL;
        snprintf(u->port, sizeof(u->port), "%lld", n);
    }

    const char *path = rest + alen;
    size_t tlen = strcspn(path, "#"); /* a fragment never goes on the wire */
    if (tlen + 2 > sizeof(u->target))
        return VG_EURL;
    size_t off = 0;
    if (tlen == 0 || path[0] != '/')
        u->target[off++] = '/';
    memcpy(u->target + off, path, tlen);
    u->target[off + tlen] = '\0';
    for (const char *c = u->target; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return VG_EURL; /* would break the request line */
    return 0;
}

/* Adds tier=NAME to the target's query. VG_EINVAL when the query has a tier already (two
 * would leave the server to pick one) or the target would be too long. */
static int url_add_tier(vg_probe_url_t *u, const char *name)
{
    const char *q = strchr(u->target, '?');
    for (const char *k = q; k != NULL; k = strchr(k + 1, '&'))
        if (strncmp(k + 1, "tier=", 5) == 0)
            return VG_EINVAL;
    size_t len = strlen(u->target);
    int n = snprintf(u->target + len, sizeof(u->target) - len, "%stier=%s",
                     q == NULL ? "?" : q[1] == '\0' ? "" : "&", name);
    if (n < 0 || (size_t)n >= sizeof(u->target) - len) {
        u->target[len] = '\0';
        return VG_EINVAL;
    }
    return 0;
}

/* Returns 0 to run, 1 after --help, 2 for a usage error. */
static int parse_opts(vg_probe_t *p, int argc, char **argv)
{
    enum { O_WARMUP = 256, O_JSON, O_SAVE, O_SAVE_MAX, O_STAMP_RATE, O_CONNECT_RATE, O_TIMEOUT,
           O_RCVBUF, O_TIER };
    static const struct option longopts[] = {
        {"viewers", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"json", no_argument, NULL, O_JSON},
        {"save", required_argument, NULL, O_SAVE},
        {"save-max", required_argument, NULL, O_SAVE_MAX},
        {"stamp-rate", required_argument, NULL, O_STAMP_RATE},
        {"connect-rate", required_argument, NULL, O_CONNECT_RATE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"rcvbuf", required_argument, NULL, O_RCVBUF},
        {"tier", required_argument, NULL, O_TIER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    vg_probe_opts_t *o = &p->opts;
    *o = (vg_probe_opts_t){
        .viewers = 1, .duration_s = 10, .warmup_s = 1, .timeout_s = 5, .connect_rate = 200,
        .stamp_rate = 20, .save_max = 100,
    };

    optind = 0; /* glibc: start afresh, whoever parsed options before */
    int c;
    long long n;
    while ((c = getopt_long(argc, argv, "n:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (vg_parse_int(optarg, 1, 100000, &n) < 0)
                return usage_error("--viewers wants 1..100000, not '%s'", optarg);
            o->viewers = (int)n;
            break;
        case 'd':
            if (!parse_seconds(optarg, 0.1, 86400, &o->duration_s))
                return usage_error("--duration wants 0.1..86400 seconds, not '%s'", optarg);
            break;
        case O_WARMUP:
            if (!parse_seconds(optarg, 0, 3600, &o->warmup_s))
                return usage_error("--warmup wants 0..3600 seconds, not '%s'", optarg);
            break;
        case O_JSON:
            o->is_json = true;
            break;
        case O_SAVE:
            o->save_dir = optarg;
            break;
        case O_SAVE_MAX:
            if (vg_parse_int(optarg, 0, 1000000, &n) < 0)
                return usage_error("--save-max wants 0..1000000, not '%s'", optarg);
            o->save_max = (int)n;
            break;
        case O_STAMP_RATE:
            if (!parse_seconds(optarg, 0, 100000, &o->stamp_rate))
                return usage_error("--stamp-rate wants 0..100000 per second, not '%s'", optarg);
            break;
        case O_CONNECT_RATE:
            if (!parse_seconds(optarg, 0, 1000000, &o->connect_rate))
                return usage_error("--connect-rate wants 0..1000000 per second, not '%s'",
                                   optarg);
            break;
        case O_TIMEOUT:
            if (!parse_seconds(optarg, 0.01, 3600, &o->timeout_s))
                return usage_error("--timeout wants 0.01..3600 seconds, not '%s'", optarg);
            break;
        case O_RCVBUF:
            if (vg_parse_int(optarg, 0, 1 << 30, &n) < 0)
                return usage_error("--rcvbuf wants 0..1073741824 bytes, not '%s'", optarg);
            o->rcvbuf_bytes = (int)n;
            break;
        case O_TIER:
            if (optarg[0] == '\0' || strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
                                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                                          strlen(optarg))
                return usage_error("--tier wants a tier name, not '%s'", optarg);
            o->tier = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        default: /* getopt has said what was wrong */
            fputs("Try 'vigil probe --help'.\n", stderr);
            return 2;
        }
    }
    if (optind >= argc)
        return usage_error("no URL given");
    o->url = argv[optind];
    o->urls = argv + optind;
    o->url_count = argc - optind;
    p->targets = vg_xcalloc((size_t)o->url_count, sizeof(*p->targets));
    for (int i = 0; i < o->url_count; i++) {
        vg_probe_url_t other, *u = i == 0 ? &p->url : &other;
        if (url_parse(u, o->urls[i]) < 0)
            return usage_error("'%s' is not a ws:// or http:// URL", o->urls[i]);
        if (o->tier != NULL && url_add_tier(u, o->tier) < 0)
            return usage_error("--tier %s: '%s' already names a tier, or is too long", o->tier,
                               o->urls[i]);
        if (i > 0 && (u->kind != p->url.kind || strcmp(u->host_header, p->url.host_header) != 0))
            return usage_error("'%s': every URL must have the first one's scheme, host and "
                               "port", o->urls[i]);
        p->targets[i] = vg_xstrdup(u->target);
    }
    return 0;
}

/* ---- the run ------------------------------------------------------------------------- */

static int resolve(vg_probe_t *p)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(p->url.host, p->url.port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "vigil probe: cannot resolve %s: %s\n", p->url.host, gai_strerror(rc));
        return VG_EINVAL;
    }
    /* IPv4 first: "localhost" often resolves to ::1 first while a server listens on
     * 127.0.0.1 only, and every viewer connects to this one address. */
    const struct addrinfo *pick = res;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    }
    memcpy(&p->addr, pick->ai_addr, pick->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* A thousand viewers need a thousand descriptors; the usual soft limit is 1024. */
static void raise_fd_limit(int viewers)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)viewers + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        fprintf(stderr, "vigil probe: only %llu file descriptors for %d viewers\n",
                (unsigned long long)rl.rlim_cur, viewers);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct probe_run {
    vg_probe_t p;
    int64_t stop_deadline_mono_us;
    double cpu_win_start_s; /* < 0 until the window opens */
    double cpu_win_s;
    int64_t cpu_win_start_mono_us;
    int64_t cpu_win_us;
    bool is_handles_closed;
} probe_run_t;

static void close_own_handles(probe_run_t *r)
{
    if (r->is_handles_closed || r->p.open_handles > 0)
        return;
    r->is_handles_closed = true;
    uv_close((uv_handle_t *)&r->p.tick, NULL);
    uv_close((uv_handle_t *)&r->p.sigint, NULL);
    uv_close((uv_handle_t *)&r->p.sigterm, NULL);
}

static void cpu_mark_end(probe_run_t *r, int64_t now)
{
    if (r->cpu_win_start_s >= 0 && r->cpu_win_us == 0) {
        r->cpu_win_s = cpu_seconds() - r->cpu_win_start_s;
        r->cpu_win_us = now - r->cpu_win_start_mono_us;
    }
}

static void probe_stop(probe_run_t *r, bool is_interrupt)
{
    vg_probe_t *p = &r->p;
    int64_t now = vg_mono_us();
    if (p->is_stopping)
        return;
    p->is_stopping = true;
    if (is_interrupt) {
        p->is_interrupted = true;
        if (p->win_end_mono_us > now)
            p->win_end_mono_us = now;
    }
    cpu_mark_end(r, now);
    r->stop_deadline_mono_us = now + STOP_GRACE_US;
    for (int i = 0; i < p->opts.viewers; i++)
        vg__probe_viewer_finish(&p->viewers[i]);
    close_own_handles(r);
}

static void close_all_now(probe_run_t *r)
{
    for (int i = 0; i < r->p.opts.viewers; i++)
        vg__probe_viewer_close(&r->p.viewers[i]);
}

static void ramp(probe_run_t *r, int64_t now)
{
    vg_probe_t *p = &r->p;
    int n = p->opts.viewers;
    if (p->started >= n)
        return;
    int64_t target = n;
    if (p->opts.connect_rate > 0) {
        double due = 1 + (double)(now - p->start_mono_us) * p->opts.connect_rate / 1e6;
        target = due < n ? (int64_t)due : n;
    }
    while (p->started < target) {
        vg__probe_viewer_start(&p->viewers[p->started]);
        p->started++;
    }
    if (p->started == n) {
        p->ramp_done_mono_us = now;
        p->win_start_mono_us = now + (int64_t)(p->opts.warmup_s * 1e6);
        p->win_end_mono_us = p->win_start_mono_us + (int64_t)(p->opts.duration_s * 1e6);
    }
}

static void on_tick(uv_timer_t *t)
{
    probe_run_t *r = t->data;
    vg_probe_t *p = &r->p;
    int64_t now = vg_mono_us();

    if (p->is_stopping) {
        if (now >= r->stop_deadline_mono_us)
            close_all_now(r);
        close_own_handles(r);
        return;
    }
    ramp(r, now);
    if (r->cpu_win_start_s < 0 && now >= p->win_start_mono_us) {
        r->cpu_win_start_s = cpu_seconds();
        r->cpu_win_start_mono_us = now;
    }

    bool is_any_alive = false;
    for (int i = 0; i < p->started; i++) {
        vg_probe_viewer_t *v = &p->viewers[i];
        if ((v->state == VG_PROBE_V_CONNECTING || v->state == VG_PROBE_V_HANDSHAKE) &&
            now >= v->deadline_mono_us)
            vg__probe_viewer_fail(v, VG_PROBE_ERR_TIMEOUT, "no %s within %.2f s",
                                  v->state == VG_PROBE_V_CONNECTING ? "connection" : "response",
                                  p->opts.timeout_s);
        else if (v->state == VG_PROBE_V_DRAINING && now >= v->deadline_mono_us)
            vg__probe_viewer_close(v);
        if (v->state != VG_PROBE_V_CLOSED && v->state != VG_PROBE_V_CLOSING &&
            v->state != VG_PROBE_V_DRAINING)
            is_any_alive = true;
    }
    if (p->ramp_done_mono_us != 0 && (now >= p->win_end_mono_us || !is_any_alive))
        probe_stop(r, false); /* with every viewer gone there is nothing left to measure */
}

static void on_signal(uv_signal_t *s, int signum)
{
    probe_run_t *r = s->data;
    (void)signum;
    if (!r->p.is_stopping) {
        probe_stop(r, true);
    } else {
        close_all_now(r); /* a second Ctrl-C: do not wait for orderly closes */
        close_own_handles(r);
    }
}

/* ---- the report ---------------------------------------------------------------------- */

/* JSON keys of the error kinds, in vg_probe_err_kind_t order. */
static const char *const err_keys[VG_PROBE_ERR_KINDS] = {
    "connect", "timeout", "handshake", "closed", "protocol", "bad_frame",
};

typedef struct spread {
    double min, median, max;
} spread_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static spread_t spread_of(double *vals, int n)
{
    qsort(vals, (size_t)n, sizeof(*vals), cmp_double);
    return (spread_t){vals[0], (vals[(n - 1) / 2] + vals[n / 2]) / 2, vals[n - 1]};
}

/* The value at percentile pct (nearest rank) of sorted vals[0..n). */
static double sorted_pct(const double *vals, int n, double pct)
{
    int rank = (int)ceil(pct / 100.0 * n);
    return vals[rank < 1 ? 0 : rank > n ? n - 1 : rank - 1];
}

static double round_to(double x, double unit) { return round(x / unit) * unit; }

/* What the viewers of the camera's own video received, over the window. */
typedef struct packet_report {
    uint64_t codec_frames[4];
    uint64_t keys, skips, codec_msgs, frames_before_codec;
    int first_key, first_not_key;   /* viewers by their first binary frame */
    int with_lat;                   /* viewers with a latency in the window */
    spread_t lat_mean_ms, lat_max_ms; /* per-viewer mean and max, across viewers */
    double lat_mean_p99_ms, lat_max_p99_ms;
    double fps_p1;                  /* the fps that 99% of viewers reached */
} packet_report_t;

static void packet_report_of(const vg_probe_t *p, const double *fps_sorted,
                             packet_report_t *pr)
{
    int n = p->opts.viewers;
    double *mean = vg_xcalloc((size_t)n, sizeof(*mean));
    double *mx = vg_xcalloc((size_t)n, sizeof(*mx));

    *pr = (packet_report_t){0};
    for (int i = 0; i < n; i++) {
        const vg_probe_viewer_t *v = &p->viewers[i];
        for (int c = 0; c < 4; c++)
            pr->codec_frames[c] += v->codec_frames_win[c];
        pr->keys += v->keys_win;
        pr->skips += v->skips_win;
        pr->codec_msgs += v->codec_msgs;
        pr->frames_before_codec += v->frames_before_codec;
        pr->first_key += v->first_frame > 0;
        pr->first_not_key += v->first_frame < 0;
        if (v->lat_n > 0) {
            mean[pr->with_lat] = (double)v->lat_sum_us / (double)v->lat_n / 1000;
            mx[pr->with_lat] = (double)v->lat_max_us / 1000;
            pr->with_lat++;
        }
    }
    if (pr->with_lat > 0) {
        pr->lat_mean_ms = spread_of(mean, pr->with_lat);
        pr->lat_max_ms = spread_of(mx, pr->with_lat);
        pr->lat_mean_p99_ms = sorted_pct(mean, pr->with_lat, 99);
        pr->lat_max_p99_ms = sorted_pct(mx, pr->with_lat, 99);
    }
    /* The slowest 1%: p1 of fps is the 99th percentile of "how bad" across viewers. */
    pr->fps_p1 = sorted_pct(fps_sorted, n, 1);
    free(mean);
    free(mx);
}

static json_t *json_spread(spread_t sp, double p99, double unit)
{
    json_t *o = json_object();
    json_object_set_new(o, "min", json_real(round_to(sp.min, unit)));
    json_object_set_new(o, "median", json_real(round_to(sp.median, unit)));
    json_object_set_new(o, "p99", json_real(round_to(p99, unit)));
    json_object_set_new(o, "max", json_real(round_to(sp.max, unit)));
    return o;
}

static json_t *json_num(double x, double unit)
{
    return x < 0 ? json_null() : json_real(round_to(x, unit));
}

static json_t *json_hist(const vg_probe_hist_t *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "p50", json_num(vg__probe_hist_pct_ms(h, 50), 0.01));
    json_object_set_new(o, "p95", json_num(vg__probe_hist_pct_ms(h, 95), 0.01));
    json_object_set_new(o, "p99", json_num(vg__probe_hist_pct_ms(h, 99), 0.01));
    json_object_set_new(o, "max", json_num(h->n ? (double)h->max_us / 1000 : -1, 0.01));
    json_object_set_new(o, "n", json_integer((json_int_t)h->n));
    json_object_set_new(o, "negative", json_integer((json_int_t)h->negative));
    return o;
}

static void text_hist(const char *label, const vg_probe_hist_t *h, const char *extra)
{
    if (h->n == 0) {
        printf("%-14s none%s\n", label, extra);
        return;
    }
    printf("%-14s p50 %.1f  p95 %.1f  p99 %.1f  max %.1f ms  (%llu frames", label,
           vg__probe_hist_pct_ms(h, 50), vg__probe_hist_pct_ms(h, 95),
           vg__probe_hist_pct_ms(h, 99), (double)h->max_us / 1000, (unsigned long long)h->n);
    if (h->negative > 0)
        printf(", %llu before their capture time: clocks disagree",
               (unsigned long long)h->negative);
    printf(")%s\n", extra);
}

/* Prints the report; returns the exit status. */
static int report(probe_run_t *r)
{
    vg_probe_t *p = &r->p;
    const vg_probe_stats_t *s = &p->stats;
    int n = p->opts.viewers;
    bool has_window = p->win_start_mono_us < p->win_end_mono_us &&
                      p->win_start_mono_us != INT64_MAX;
    double win_s = has_window ? (double)(p->win_end_mono_us - p->win_start_mono_us) / 1e6 : 0;
    double ramp_s = p->ramp_done_mono_us ? (double)(p->ramp_done_mono_us - p->start_mono_us) / 1e6
                                         : 0;
    double *fps = vg_xcalloc((size_t)n, sizeof(*fps));
    double *bps = vg_xcalloc((size_t)n, sizeof(*bps));
    uint64_t frames = 0, drops = 0, bytes = 0, texts = 0, errors = 0;
    int connected = 0, failed = 0, starved = 0;

    for (int i = 0; i < n; i++) {
        const vg_probe_viewer_t *v = &p->viewers[i];
        fps[i] = win_s > 0 ? (double)v->frames_win / win_s : 0;
        bps[i] = win_s > 0 ? (double)v->bytes_win / win_s : 0;
        frames += v->frames_win;
        drops += v->drops_win;
        bytes += v->bytes_win;
        texts += v->text_msgs;
        connected += v->is_ever_open;
        failed += v->is_failed;
        starved += v->frames_win == 0;
    }
    for (int k = 0; k < VG_PROBE_ERR_KINDS; k++)
        errors += s->errors[k];
    spread_t f = spread_of(fps, n), b = spread_of(bps, n);
    packet_report_t pr;
    packet_report_of(p, fps, &pr); /* fps is sorted now */
    double bps_p1 = sorted_pct(bps, n, 1);
    double bytes_per_s = win_s > 0 ? (double)bytes / win_s : 0;
    /* getrusage ticks are coarse: a stretch shorter than 0.2 s says nothing. */
    double cpu_pct = r->cpu_win_us >= 200000
                         ? r->cpu_win_s / ((double)r->cpu_win_us / 1e6) * 100
                         : -1;
    free(fps);
    free(bps);

    if (p->opts.is_json) {
        json_t *o = json_object(), *det = json_object(), *vb = json_object();
        json_object_set_new(o, "url", json_string(p->opts.url));
        json_object_set_new(o, "target", json_string(p->url.target));
        json_object_set_new(o, "transport",
                            json_string(p->url.kind == VG_PROBE_WS ? "ws" : "mjpeg"));
        json_object_set_new(o, "viewers", json_integer(n));
        json_object_set_new(o, "connected", json_integer(connected));
        json_object_set_new(o, "failed", json_integer(failed));
        json_object_set_new(o, "duration_s", json_real(round_to(win_s, 0.001)));
        json_object_set_new(o, "warmup_s", json_real(p->opts.warmup_s));
        json_object_set_new(o, "ramp_s", json_real(round_to(ramp_s, 0.001)));
        json_object_set_new(o, "interrupted", json_boolean(p->is_interrupted));
        json_object_set_new(o, "fps_min", json_real(round_to(f.min, 0.01)));
        json_object_set_new(o, "fps_median", json_real(round_to(f.median, 0.01)));
        json_object_set_new(o, "fps_max", json_real(round_to(f.max, 0.01)));
        json_object_set_new(o, "latency_ms", json_hist(&s->lat));
        json_object_set_new(o, "server_latency_ms", json_hist(&s->server));
        json_object_set_new(o, "stamp_latency_ms", json_hist(&s->stamp));
        json_object_set_new(o, "stamp_samples", json_integer((json_int_t)s->stamp_samples));
        json_object_set_new(o, "stamp_failures", json_integer((json_int_t)s->stamp_failures));
        json_object_set_new(o, "stamp_mismatches", json_integer((json_int_t)s->stamp_mismatches));
        json_object_set_new(o, "bytes_per_s", json_real(round(bytes_per_s)));
        json_object_set_new(vb, "min", json_real(round(b.min)));
        json_object_set_new(vb, "median", json_real(round(b.median)));
        json_object_set_new(vb, "max", json_real(round(b.max)));
        json_object_set_new(o, "viewer_bytes_per_s", vb);
        json_object_set_new(o, "frames", json_integer((json_int_t)frames));
        json_object_set_new(o, "drops", json_integer((json_int_t)drops));
        json_object_set_new(o, "errors", json_integer((json_int_t)errors));
        for (int k = 0; k < VG_PROBE_ERR_KINDS; k++)
            json_object_set_new(det, err_keys[k], json_integer((json_int_t)s->errors[k]));
        json_object_set_new(o, "error_detail", det);
        json_object_set_new(o, "text_messages", json_integer((json_int_t)texts));
        json_object_set_new(o, "text_errors", json_integer((json_int_t)s->text_errors));
        json_object_set_new(o, "saved", json_integer(s->saved));
        json_object_set_new(o, "fps_p1", json_real(round_to(pr.fps_p1, 0.01)));
        json_object_set_new(vb, "p1", json_real(round(bps_p1)));
        json_t *cf = json_object(), *vl = json_object();
        json_object_set_new(cf, "jpeg", json_integer((json_int_t)pr.codec_frames[VG_CODEC_JPEG]));
        json_object_set_new(cf, "h264", json_integer((json_int_t)pr.codec_frames[VG_CODEC_H264]));
        json_object_set_new(cf, "h265", json_integer((json_int_t)pr.codec_frames[VG_CODEC_H265]));
        json_object_set_new(cf, "other", json_integer((json_int_t)pr.codec_frames[0]));
        json_object_set_new(o, "codec_frames", cf);
        json_object_set_new(o, "keyframes", json_integer((json_int_t)pr.keys));
        json_object_set_new(o, "skips", json_integer((json_int_t)pr.skips));
        json_object_set_new(o, "codec_messages", json_integer((json_int_t)pr.codec_msgs));
        json_object_set_new(o, "frames_before_codec",
                            json_integer((json_int_t)pr.frames_before_codec));
        json_object_set_new(o, "first_frame_key", json_integer(pr.first_key));
        json_object_set_new(o, "first_frame_not_key", json_integer(pr.first_not_key));
        if (pr.with_lat > 0) {
            json_object_set_new(vl, "mean", json_spread(pr.lat_mean_ms, pr.lat_mean_p99_ms, 0.01));
            json_object_set_new(vl, "max", json_spread(pr.lat_max_ms, pr.lat_max_p99_ms, 0.01));
            json_object_set_new(vl, "viewers", json_integer(pr.with_lat));
            json_object_set_new(o, "viewer_latency_ms", vl);
        } else {
            json_decref(vl);
            json_object_set_new(o, "viewer_latency_ms", json_null());
        }
        json_object_set_new(o, "saved_streams", json_integer(s->au_files));
        json_object_set_new(o, "saved_access_units", json_integer((json_int_t)s->au_saved));
        json_object_set_new(o, "save_failures", json_integer(s->save_failed));
        json_object_set_new(o, "probe_cpu_pct", json_num(cpu_pct, 0.1));
        char *line = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
        if (line == NULL) {
            fprintf(stderr, "vigil probe: cannot build the JSON report\n");
            json_decref(o);
            return 1;
        }
        puts(line);
        free(line);
        json_decref(o);
    } else {
        printf("%s: %d %s viewers (%d connected, %d failed), %.1f s window after %.1f s "
               "warmup, ramp %.1f s%s\n",
               p->opts.url, n, p->url.kind == VG_PROBE_WS ? "WebSocket" : "MJPEG", connected,
               failed, win_s, p->opts.warmup_s, ramp_s, p->is_interrupted ? ", interrupted" : "");
        printf("%-14s min %.2f  median %.2f  max %.2f\n", "fps", f.min, f.median, f.max);
        text_hist("latency", &s->lat, "");
        text_hist("server-added", &s->server, "");
        char extra[160];
        snprintf(extra, sizeof(extra), "  [%llu decoded, %llu without a valid bar, %llu "
                 "differ from the header]", (unsigned long long)s->stamp_samples,
                 (unsigned long long)s->stamp_failures, (unsigned long long)s->stamp_mismatches);
        text_hist("stamp latency", &s->stamp, extra);
        printf("%-14s %.2f MB/s total; per viewer min %.3f  median %.3f  max %.3f MB/s\n",
               "throughput", bytes_per_s / 1e6, b.min / 1e6, b.median / 1e6, b.max / 1e6);
        printf("%-14s %llu received, %llu dropped (seq gaps)\n", "frames",
               (unsigned long long)frames, (unsigned long long)drops);
        if (pr.codec_frames[VG_CODEC_H264] + pr.codec_frames[VG_CODEC_H265] > 0) {
            printf("%-14s H.264 %llu, H.265 %llu, JPEG %llu frames; %llu keyframes, %llu skips "
                   "to a keyframe, %llu codec messages (%llu frames came before one)\n",
                   "source", (unsigned long long)pr.codec_frames[VG_CODEC_H264],
                   (unsigned long long)pr.codec_frames[VG_CODEC_H265],
                   (unsigned long long)pr.codec_frames[VG_CODEC_JPEG],
                   (unsigned long long)pr.keys, (unsigned long long)pr.skips,
                   (unsigned long long)pr.codec_msgs,
                   (unsigned long long)pr.frames_before_codec);
            printf("%-14s %d viewers began with a keyframe, %d did not\n", "first frame",
                   pr.first_key, pr.first_not_key);
        }
        if (pr.with_lat > 0)
            printf("%-14s mean: median %.1f  p99 %.1f ms; max: median %.1f  p99 %.1f ms "
                   "(across %d viewers); fps p1 %.2f\n",
                   "per viewer", pr.lat_mean_ms.median, pr.lat_mean_p99_ms,
                   pr.lat_max_ms.median, pr.lat_max_p99_ms, pr.with_lat, pr.fps_p1);
        printf("%-14s %llu  (connect %llu, timeout %llu, handshake %llu, closed %llu, "
               "protocol %llu, bad frame %llu)\n",
               "errors", (unsigned long long)errors,
               (unsigned long long)s->errors[VG_PROBE_ERR_CONNECT],
               (unsigned long long)s->errors[VG_PROBE_ERR_TIMEOUT],
               (unsigned long long)s->errors[VG_PROBE_ERR_HANDSHAKE],
               (unsigned long long)s->errors[VG_PROBE_ERR_CLOSED],
               (unsigned long long)s->errors[VG_PROBE_ERR_PROTOCOL],
               (unsigned long long)s->errors[VG_PROBE_ERR_BAD_FRAME]);
        printf("%-14s %llu (%llu errors)\n", "text messages", (unsigned long long)texts,
               (unsigned long long)s->text_errors);
        if (p->opts.save_dir != NULL)
            printf("%-14s %d frames, %d streams (%llu access units) in %s\n", "saved",
                   s->saved, s->au_files, (unsigned long long)s->au_saved, p->opts.save_dir);
        if (cpu_pct >= 0)
            printf("%-14s %.0f%% of one core during the window%s\n", "probe cpu", cpu_pct,
                   cpu_pct > 90 ? ": the probe itself may be the bottleneck" : "");
    }
    if (starved > 0 && !p->opts.is_json)
        printf("%d of %d viewers received no frame in the window\n", starved, n);
    return starved == 0 && win_s > 0 ? 0 : 1;
}

/* ---- entry --------------------------------------------------------------------------- */

int vg_cli_probe(int argc, char **argv)
{
    probe_run_t *r = vg_xcalloc(1, sizeof(*r));
    vg_probe_t *p = &r->p;
    uv_loop_t loop;
    int status = parse_opts(p, argc, argv);
    bool is_loop_open = false;

    if (status != 0) {
        status = status == 1 ? 0 : 2;
        goto out;
    }
    status = 1;
    if (resolve(p) < 0)
        goto out;
    if (p->opts.save_dir != NULL && p->opts.save_max > 0) {
        struct stat st;
        if (stat(p->opts.save_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "vigil probe: --save %s is not a directory\n", p->opts.save_dir);
            goto out;
        }
    }
    raise_fd_limit(p->opts.viewers);
    /* A write to a socket the server has reset must be an error code, not the end of us. */
    signal(SIGPIPE, SIG_IGN);

    if (uv_loop_init(&loop) < 0)
        goto out;
    is_loop_open = true;
    p->loop = &loop;
    vg__probe_stats_init(&p->stats);
    p->viewers = vg_xcalloc((size_t)p->opts.viewers, sizeof(*p->viewers));
    for (int i = 0; i < p->opts.viewers; i++) {
        p->viewers[i].probe = p;
        p->viewers[i].id = i;
    }
    p->rx_cap = RX_BUF_BYTES;
    p->rx_buf = vg_xmalloc(p->rx_cap);
    p->win_start_mono_us = p->win_end_mono_us = INT64_MAX;
    r->cpu_win_start_s = -1;

    uv_timer_init(&loop, &p->tick);
    uv_signal_init(&loop, &p->sigint);
    uv_signal_init(&loop, &p->sigterm);
    p->tick.data = p->sigint.data = p->sigterm.data = r;
    uv_signal_start(&p->sigint, on_signal, SIGINT);
    uv_signal_start(&p->sigterm, on_signal, SIGTERM);
    p->start_mono_us = vg_mono_us();
    uv_timer_start(&p->tick, on_tick, 0, TICK_MS);

    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < p->opts.viewers; i++)
        vg__probe_viewer_save_close(&p->viewers[i]); /* flushed before the report counts */
    status = report(r);

out:
    if (is_loop_open && uv_loop_close(&loop) != 0)
        fprintf(stderr, "vigil probe: handles left open at exit\n");
    if (p->viewers != NULL) {
        for (int i = 0; i < p->opts.viewers; i++) {
            vg__probe_buf_free(&p->viewers[i].copy);
            vg__probe_viewer_save_close(&p->viewers[i]);
        }
    }
    free(p->viewers);
    for (int i = 0; p->targets != NULL && i < p->opts.url_count; i++)
        free(p->targets[i]);
    free(p->targets);
    free(p->rx_buf);
    vg__probe_stats_deinit(&p->stats);
    free(r);
    return status;
}
