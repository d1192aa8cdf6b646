/* hls_load: N LL-HLS players of one camera at the live edge, on one epoll loop, for the HLS
 * fan-out benchmark (bench/hls_fanout.py). A client in C for the same reason as rtsp_load:
 * 1,000 players must not be what limits the server.
 *
 *   hls_load [-n CLIENTS] [-r CONNECTS_PER_S] [-w WARMUP_S] [-d DURATION_S] [-l LAG_MS] [-D]
 *            http://HOST:PORT/cameras/ID/hls/index.m3u8[?token=T]
 *
 * Each client does what an LL-HLS player (hls.js in low-latency mode) does at the live edge,
 * one request at a time on one HTTP/1.1 keep-alive connection: the plain playlist once, then
 * a blocking reload for the part the preload hint names (index.m3u8?_HLS_msn=M&_HLS_part=P,
 * with _HLS_skip=YES, a delta update, unless -D), then a GET of that part, which the reload's
 * answer lists; then again. A client that fell behind (the answer lists parts after the one it
 * fetched) fetches those first, in order, without a reload, as a player fills its buffer.
 * A part that left the playlist before the client asked for it counts as skipped; a 404 for a
 * part (the muxer restarted) sends the client back to the plain playlist (a resync).
 *
 * Lag: a part's publication is estimated as the moment a playlist answer first listed it, to
 * any client (the server answers the held reloads for a part as soon as it exists, so the
 * first of them arrives within a loop turn of that; a later playlist lists every part up to
 * the edge, so an overloaded server cannot hide parts by answering late: they are dated by
 * whichever playlist listed them first). A client's lag for a part is when it had the part
 * whole minus that.
 * The capture lag is when the client had it minus the part's end on the camera's clock
 * (EXT-X-PROGRAM-DATE-TIME plus the durations of the segment's parts up to and including it;
 * this machine's wall clock, like bench/hls_latency.py, whose figure is this minus one frame).
 *
 * Window: the ramp ends when every client has had a part (or N / rate + 15 s); the window
 * opens WARMUP_S later and lasts DURATION_S; the loop then runs GRACE_S more so that parts
 * published late in the window can still arrive. Counted in the window: requests and bytes
 * completed in it (for the server's CPU per request and per byte over the same span), and,
 * per client, the parts published in it (first listed in the window) it had. A client
 * keeps up when it had every part published in the window, each within LAG_MS of its
 * publication (default: the playlist's PART-HOLD-BACK, the hold-back at which a player
 * plays; a part later than that stalls it).
 *
 * Prints one JSON object on stdout; exits 0 when it could measure, 1 on a usage error, 2 when
 * the URL could not be resolved. Bounded: CLIENTS <= 20000, DURATION_S <= 3600, every phase
 * has a deadline, a response head is at most HEAD_MAX bytes and a playlist at most
 * PLAYLIST_MAX; part bodies are counted and skipped, never kept. Standalone: libc only. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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

#define CLIENTS_MAX 20000
#define HEAD_MAX 8192
#define PLAYLIST_MAX (1024 * 1024)
#define READ_CHUNK (256 * 1024)
#define RAMP_SLACK_S 15.0
#define GRACE_S 2.0
#define PATH_MAX_LEN 2048
#define URL_PART_MAX 512 /* the URL's directory, its query: PATH_MAX_LEN holds both */
/* Parts are recorded by (msn - first msn seen) * PARTS_PER_SEG + part: an hour of 1 s
 * segments with room to spare. The window's own cap (hls_window.h) is 64 parts a segment. */
#define SEGS_MAX 8192
#define PARTS_PER_SEG 64
#define LAGS_MAX (4 * 1024 * 1024)
#define ERRORS_MAX 50
#define RECONNECTS_MAX 50

enum phase { P_CONNECT, P_PLAYLIST, P_RELOAD, P_PART, P_FAILED };
static const char *const PHASE_NAMES[] = {"connect", "playlist", "reload", "part", "failed"};

typedef struct part_rec {
    double published_at; /* monotonic: a playlist answer first listed it; 0: none yet */
    int got;             /* clients that had it */
} part_rec_t;

/* A part as a playlist lists it. */
typedef struct listed {
    uint64_t msn;
    int part;
    const char *uri; /* into the playlist text, up to the closing quote */
    size_t uri_len;
    double end_wall; /* the part's end on the camera's clock, Unix seconds; 0: no PDT */
} listed_t;

typedef struct client {
    int fd;
    enum phase phase, failed_in;
    enum phase then; /* while connecting: the request to send (P_CONNECT: the playlist) */
    /* the request in flight, kept to send it again after a reconnect */
    char path[PATH_MAX_LEN];
    double sent_at;
    /* the response being read */
    char head[HEAD_MAX + 1];
    size_t head_len;
    bool is_in_body;
    int status;
    size_t body_len, body_got;
    char *body; /* playlists only */
    /* the last playlist answered, and what it lists */
    char *playlist;
    listed_t *listed;
    int n_listed, listed_cap;
    bool has_hint;
    uint64_t hint_msn;
    int hint_part;
    /* the part wanted next */
    bool has_want;
    uint64_t want_msn;
    int want_part;
    double want_end_wall;
    bool has_part;
    uint64_t got_msn; /* the last part had, when has_part */
    int got_part;
    /* counts; *_win inside the window (requests and bytes by completion; parts by
     * publication) */
    long requests_win, reloads_win, bytes_win, parts_win, late_win;
    long parts_total, skipped, resyncs, reconnects, errors, repeats;
    int last_error_status;
    double max_lag_win;
    char fail_why[96];
} client_t;

typedef struct load {
    const char *url;
    char host[256], port[16];
    char dir[URL_PART_MAX];   /* the playlist's path up to and including the last '/' */
    char query[URL_PART_MAX]; /* the URL's own query (a token), carried into reloads */
    bool is_delta;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int epfd;
    client_t *clients;
    int n;
    double lag_limit_s; /* 0: PART-HOLD-BACK */
    double part_hold_back_s;
    double win_start, win_end, grace_end; /* 0 until the ramp ended */
    bool has_base;
    uint64_t msn_base;
    part_rec_t *parts;
    /* every (client, part) lag in the window, for percentiles */
    double *lags, *capture_lags, *fetch_ms;
    long n_lags, n_capture_lags, n_fetch;
    long status_400, status_404, status_503, status_other; /* error answers, all clients */
} load_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool in_window(const load_t *L, double t)
{
    return L->win_start > 0 && t >= L->win_start && t <= L->win_end;
}

static void fail(load_t *L, client_t *c, const char *why)
{
    if (c->phase == P_FAILED)
        return;
    c->failed_in = c->phase;
    snprintf(c->fail_why, sizeof(c->fail_why), "%s", why);
    c->phase = P_FAILED;
    if (c->fd >= 0) {
        epoll_ctl(L->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

static int parse_url(load_t *L)
{
    const char *p = L->url;
    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    const char *slash = strchr(p, '/');
    if (slash == NULL || memchr(p, '@', (size_t)(slash - p)))
        return -1;
    size_t hostport = (size_t)(slash - p);
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
        snprintf(L->port, sizeof(L->port), "80");
    }
    const char *q = strchr(slash, '?');
    size_t path_len = q ? (size_t)(q - slash) : strlen(slash);
    const char *last = slash;
    for (const char *s = slash; s < slash + path_len; s++)
        if (*s == '/')
            last = s;
    size_t dir_len = (size_t)(last - slash) + 1;
    if (dir_len >= sizeof(L->dir) || (q && strlen(q + 1) >= sizeof(L->query)))
        return -1;
    memcpy(L->dir, slash, dir_len);
    L->dir[dir_len] = '\0';
    snprintf(L->query, sizeof(L->query), "%s", q ? q + 1 : "");
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

static void open_client(load_t *L, client_t *c);

/* Sends c->path as a GET; when the connection is gone, opens a new one, which sends it. */
static void send_request(load_t *L, client_t *c, enum phase phase)
{
    char req[PATH_MAX_LEN + 512];
    c->phase = phase;
    c->head_len = 0;
    c->is_in_body = false;
    free(c->body);
    c->body = NULL;
    if (c->fd < 0) {
        open_client(L, c);
        return;
    }
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: vigil-hls_load\r\n"
                     "Accept: */*\r\n\r\n",
                     c->path, L->host, L->port);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        fail(L, c, "request too long");
        return;
    }
    c->sent_at = now_s();
    if (send_all(c->fd, req, (size_t)n) < 0)
        fail(L, c, "send");
}

static void request_playlist(load_t *L, client_t *c)
{
    snprintf(c->path, sizeof(c->path), "%sindex.m3u8%s%s", L->dir, L->query[0] ? "?" : "",
             L->query);
    send_request(L, c, P_PLAYLIST);
}

static void request_reload(load_t *L, client_t *c)
{
    snprintf(c->path, sizeof(c->path), "%sindex.m3u8?_HLS_msn=%" PRIu64 "&_HLS_part=%d%s%s%s",
             L->dir, c->want_msn, c->want_part, L->is_delta ? "&_HLS_skip=YES" : "",
             L->query[0] ? "&" : "", L->query);
    send_request(L, c, P_RELOAD);
}

static void request_part(load_t *L, client_t *c, const listed_t *p)
{
    size_t dir_len = strlen(L->dir);
    if (dir_len + p->uri_len + 1 > sizeof(c->path)) {
        fail(L, c, "part URI too long");
        return;
    }
    memcpy(c->path, L->dir, dir_len);
    memcpy(c->path + dir_len, p->uri, p->uri_len);
    c->path[dir_len + p->uri_len] = '\0';
    c->want_end_wall = p->end_wall;
    send_request(L, c, P_PART);
}

static part_rec_t *part_rec(load_t *L, uint64_t msn, int part);

/* "2026-12-05T18:11:22.123Z" as Unix seconds; 0 when it is not that. */
static double parse_pdt(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + ms / 1000.0;
}

/* "partM.P.m4s..." -> M, P. */
static bool part_name(const char *uri, uint64_t *msn, int *part)
{
    char *end;
    if (strncmp(uri, "part", 4) != 0)
        return false;
    *msn = strtoull(uri + 4, &end, 10);
    if (*end != '.')
        return false;
    *part = (int)strtol(end + 1, &end, 10);
    return strncmp(end, ".m4s", 4) == 0;
}

/* Takes c->body as the client's playlist and lists its parts and preload hint. */
static int parse_playlist(load_t *L, client_t *c)
{
    free(c->playlist);
    c->playlist = c->body;
    c->body = NULL;
    c->n_listed = 0;
    c->has_hint = false;
    double seg_t = 0, now = now_s();
    for (char *line = c->playlist; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, "#EXT-X-PROGRAM-DATE-TIME:", 25) == 0) {
            seg_t = parse_pdt(line + 25);
        } else if (strncmp(line, "#EXT-X-PART:", 12) == 0) {
            const char *d = strstr(line, "DURATION="), *u = strstr(line, "URI=\"");
            if (d == NULL || u == NULL)
                return -1;
            double dur = strtod(d + 9, NULL);
            if (seg_t > 0)
                seg_t += dur;
            if (c->n_listed == c->listed_cap) {
                int cap = c->listed_cap ? 2 * c->listed_cap : 64;
                listed_t *nlist = realloc(c->listed, (size_t)cap * sizeof(*nlist));
                if (nlist == NULL)
                    return -1;
                c->listed = nlist;
                c->listed_cap = cap;
            }
            listed_t *p = &c->listed[c->n_listed];
            p->uri = u + 5;
            const char *q = strchr(p->uri, '"');
            if (q == NULL || !part_name(p->uri, &p->msn, &p->part))
                return -1;
            p->uri_len = (size_t)(q - p->uri);
            p->end_wall = seg_t;
            c->n_listed++;
            part_rec_t *r = part_rec(L, p->msn, p->part);
            if (r != NULL && r->published_at == 0)
                r->published_at = now;
        } else if (strncmp(line, "#EXT-X-PRELOAD-HINT:", 20) == 0) {
            const char *u = strstr(line, "URI=\"");
            if (u && part_name(u + 5, &c->hint_msn, &c->hint_part))
                c->has_hint = true;
        } else if (L->part_hold_back_s == 0 && strncmp(line, "#EXT-X-SERVER-CONTROL:", 22) == 0) {
            const char *h = strstr(line, "PART-HOLD-BACK=");
            if (h)
                L->part_hold_back_s = strtod(h + 15, NULL);
        }
        line = nl ? nl + 1 : NULL;
    }
    return c->has_hint ? 0 : -1;
}

static int find_listed(const client_t *c, uint64_t msn, int part)
{
    for (int i = c->n_listed - 1; i >= 0; i--)
        if (c->listed[i].msn == msn && c->listed[i].part == part)
            return i;
    return -1;
}

static bool is_before(uint64_t am, int ap, uint64_t bm, int bp)
{
    return am < bm || (am == bm && ap < bp);
}

/* What the client asks for next, from its playlist: the part it wants if listed, else the
 * oldest listed part after the one it wants (the ones between left: skipped), else a
 * blocking reload for the preload hint. */
static void next_step(load_t *L, client_t *c)
{
    if (!c->has_want) {
        c->has_want = true;
        c->want_msn = c->hint_msn;
        c->want_part = c->hint_part;
    }
    int i = find_listed(c, c->want_msn, c->want_part);
    if (i < 0 && c->n_listed > 0 &&
        is_before(c->want_msn, c->want_part, c->listed[0].msn, c->listed[0].part)) {
        c->skipped++; /* at least one; it left the playlist before the client asked */
        i = 0;
    }
    if (i >= 0) {
        c->want_msn = c->listed[i].msn;
        c->want_part = c->listed[i].part;
        request_part(L, c, &c->listed[i]);
        return;
    }
    if (is_before(c->hint_msn, c->hint_part, c->want_msn, c->want_part)) {
        /* wanted further ahead than the server's edge: cannot happen with vigil's
         * playlists; start again from the hint */
        c->want_msn = c->hint_msn;
        c->want_part = c->hint_part;
    } else if (is_before(c->want_msn, c->want_part, c->hint_msn, c->hint_part)) {
        c->skipped++; /* neither listed nor hinted: a gap */
        c->want_msn = c->hint_msn;
        c->want_part = c->hint_part;
    }
    request_reload(L, c);
}

static part_rec_t *part_rec(load_t *L, uint64_t msn, int part)
{
    if (!L->has_base) {
        L->has_base = true;
        L->msn_base = msn;
    }
    if (msn < L->msn_base || msn - L->msn_base >= SEGS_MAX || part < 0 || part >= PARTS_PER_SEG)
        return NULL;
    return &L->parts[(msn - L->msn_base) * PARTS_PER_SEG + (uint64_t)part];
}

static void on_part(load_t *L, client_t *c, double t)
{
    part_rec_t *r = part_rec(L, c->want_msn, c->want_part);
    c->parts_total++;
    if (c->has_part && !is_before(c->got_msn, c->got_part, c->want_msn, c->want_part))
        c->repeats++; /* not after the last one: a bug here, or the muxer restarted */
    c->has_part = true;
    c->got_msn = c->want_msn;
    c->got_part = c->want_part;
    if (r != NULL && r->published_at > 0) {
        r->got++;
        double lag = t - r->published_at;
        if (in_window(L, r->published_at)) {
            double limit = L->lag_limit_s > 0 ? L->lag_limit_s : L->part_hold_back_s;
            c->parts_win++;
            if (limit > 0 && lag > limit)
                c->late_win++;
            if (lag > c->max_lag_win)
                c->max_lag_win = lag;
            if (L->n_lags < LAGS_MAX)
                L->lags[L->n_lags++] = lag;
            if (c->want_end_wall > 0 && L->n_capture_lags < LAGS_MAX)
                L->capture_lags[L->n_capture_lags++] = wall_s() - c->want_end_wall;
        }
    }
    if (in_window(L, t) && L->n_fetch < LAGS_MAX)
        L->fetch_ms[L->n_fetch++] = 1000 * (t - c->sent_at);
    /* the next part in sequence: the one after it in the playlist, or the hint */
    int i = find_listed(c, c->want_msn, c->want_part);
    if (i >= 0 && i + 1 < c->n_listed) {
        c->want_msn = c->listed[i + 1].msn;
        c->want_part = c->listed[i + 1].part;
    } else {
        c->want_msn = c->hint_msn;
        c->want_part = c->hint_part;
    }
    next_step(L, c);
}

static void on_error_status(load_t *L, client_t *c)
{
    c->errors++;
    c->last_error_status = c->status;
    if (c->status == 400)
        L->status_400++;
    else if (c->status == 404)
        L->status_404++;
    else if (c->status == 503)
        L->status_503++;
    else
        L->status_other++;
    if (c->errors > ERRORS_MAX) {
        char why[96];
        snprintf(why, sizeof(why), "%d errors, the last %d to a %s request", ERRORS_MAX,
                 c->status, PHASE_NAMES[c->phase]);
        fail(L, c, why);
        return;
    }
    if (c->phase == P_RELOAD && c->status == 503) {
        request_reload(L, c); /* held too long (the camera paused): ask again */
        return;
    }
    c->resyncs++;
    c->has_want = false;
    request_playlist(L, c);
}

/* One whole response (head in c->head, a playlist's body in c->body). */
static void on_response(load_t *L, client_t *c)
{
    double t = now_s();
    if (in_window(L, t)) {
        c->requests_win++;
        c->reloads_win += c->phase == P_RELOAD;
        c->bytes_win += (long)c->body_len;
    }
    if (c->status != 200) {
        on_error_status(L, c);
        return;
    }
    if (c->phase == P_PART) {
        on_part(L, c, t);
        return;
    }
    if (parse_playlist(L, c) < 0) {
        fail(L, c, "a playlist without a preload hint, or a part line not understood");
        return;
    }
    next_step(L, c);
}

/* The head is complete: status and Content-Length. */
static int on_head(load_t *L, client_t *c)
{
    (void)L;
    if (sscanf(c->head, "HTTP/1.%*d %d", &c->status) != 1)
        return -1;
    c->body_len = 0;
    bool has_len = false;
    for (char *h = strstr(c->head, "\r\n"); h && h[2]; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "content-length:", 15) == 0) {
            c->body_len = strtoul(h + 17, NULL, 10);
            has_len = true;
        } else if (strncasecmp(h + 2, "transfer-encoding:", 18) == 0) {
            return -1; /* chunked: vigil sends lengths; not implemented */
        }
    }
    if (!has_len && c->status != 304 && c->status != 204)
        return -1;
    c->body_got = 0;
    if (c->phase != P_PART || c->status != 200) {
        if (c->body_len > PLAYLIST_MAX)
            return -1;
        c->body = malloc(c->body_len + 1);
        if (c->body == NULL)
            return -1;
        c->body[0] = '\0';
    }
    c->is_in_body = true;
    return 0;
}

static void on_readable(load_t *L, client_t *c, char *buf)
{
    for (int rounds = 0; rounds < 4 && c->phase != P_FAILED; rounds++) {
        ssize_t got = recv(c->fd, buf, READ_CHUNK, 0);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            /* The server closed the keep-alive connection: again on a new one. */
            epoll_ctl(L->epfd, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            if (++c->reconnects > RECONNECTS_MAX) {
                fail(L, c, got == 0 ? "closed by the server, too often" : strerror(errno));
                return;
            }
            send_request(L, c, c->phase);
            return;
        }
        size_t n = (size_t)got;
        char *p = buf;
        while (n > 0 && c->phase != P_FAILED && c->phase != P_CONNECT) {
            if (!c->is_in_body) {
                size_t take = HEAD_MAX - c->head_len < n ? HEAD_MAX - c->head_len : n;
                memcpy(c->head + c->head_len, p, take);
                size_t old = c->head_len;
                c->head_len += take;
                c->head[c->head_len] = '\0';
                char *end = strstr(c->head + (old >= 3 ? old - 3 : 0), "\r\n\r\n");
                if (end == NULL) {
                    if (c->head_len >= HEAD_MAX) {
                        fail(L, c, "a response head too long");
                        return;
                    }
                    n = 0;
                    break;
                }
                size_t head_len = (size_t)(end - c->head) + 4;
                size_t used = head_len - old;
                end[2] = '\0';
                p += used;
                n -= used;
                if (on_head(L, c) < 0) {
                    fail(L, c, "a response without a usable Content-Length");
                    return;
                }
            }
            size_t want = c->body_len - c->body_got;
            size_t take = want < n ? want : n;
            if (c->body)
                memcpy(c->body + c->body_got, p, take);
            c->body_got += take;
            p += take;
            n -= take;
            if (c->body_got == c->body_len) {
                if (c->body)
                    c->body[c->body_len] = '\0';
                c->is_in_body = false;
                c->head_len = 0;
                on_response(L, c);
                if (n > 0 && c->phase != P_FAILED) {
                    fail(L, c, "bytes after a whole response (one request at a time)");
                    return;
                }
            }
        }
        if ((size_t)got < READ_CHUNK)
            return;
    }
}

static void open_client(load_t *L, client_t *c)
{
    c->fd = socket(L->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(L, c, strerror(errno));
        return;
    }
    c->then = c->phase;
    if (connect(c->fd, (struct sockaddr *)&L->addr, L->addr_len) < 0 && errno != EINPROGRESS) {
        fail(L, c, strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        fail(L, c, strerror(errno));
        return;
    }
    c->phase = P_CONNECT;
}

static void on_connected(load_t *L, client_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        fail(L, c, strerror(err));
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(L->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    if (c->then == P_CONNECT)
        request_playlist(L, c);
    else
        send_request(L, c, c->then); /* after a reconnect: the request that was in flight */
}

static double percentile(const double *sorted, long n, double q)
{
    if (n == 0)
        return 0;
    double pos = q * (double)(n - 1);
    long lo = (long)pos;
    long hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - (double)lo);
}

static void print_dist(const char *name, double *v, long n, double scale)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    printf("\"%s\": {\"n\": %ld, \"p50\": %.1f, \"p95\": %.1f, \"p99\": %.1f, \"max\": %.1f}", name,
           n, scale * percentile(v, n, 0.5), scale * percentile(v, n, 0.95),
           scale * percentile(v, n, 0.99), n ? scale * v[n - 1] : 0);
}

static void report(load_t *L, double ramp_s, double warmup_s, double cpu_s, double total_s)
{
    double win = L->win_end - L->win_start;
    long published = 0;
    for (long i = 0; i < (long)SEGS_MAX * PARTS_PER_SEG; i++)
        published += L->parts[i].published_at > 0 && in_window(L, L->parts[i].published_at);
    int failed = 0, kept_up = 0, with_skips = 0, with_errors = 0;
    int failed_by[P_FAILED] = {0};
    long requests = 0, reloads = 0, bytes = 0, parts = 0, late = 0, skipped = 0, resyncs = 0,
         reconnects = 0, errors = 0, repeats = 0;
    const char *first_why = NULL;
    double *pps = calloc((size_t)L->n + 1, sizeof(double));
    double *maxlag = calloc((size_t)L->n + 1, sizeof(double));
    for (int i = 0; i < L->n; i++) {
        client_t *c = &L->clients[i];
        requests += c->requests_win;
        reloads += c->reloads_win;
        bytes += c->bytes_win;
        parts += c->parts_win;
        late += c->late_win;
        skipped += c->skipped;
        resyncs += c->resyncs;
        reconnects += c->reconnects;
        errors += c->errors;
        repeats += c->repeats;
        with_skips += c->skipped > 0;
        with_errors += c->errors > 0;
        if (c->phase == P_FAILED) {
            failed++;
            failed_by[c->failed_in]++;
            if (first_why == NULL)
                first_why = c->fail_why;
        }
        kept_up += c->phase != P_FAILED && published > 0 && c->parts_win == published &&
                   c->late_win == 0;
        pps[i] = win > 0 ? (double)c->parts_win / win : 0;
        maxlag[i] = c->max_lag_win;
    }
    qsort(pps, (size_t)L->n, sizeof(double), cmp_double);
    qsort(maxlag, (size_t)L->n, sizeof(double), cmp_double);
    double limit = L->lag_limit_s > 0 ? L->lag_limit_s : L->part_hold_back_s;
    printf("{\"url\": \"%s\", \"clients\": %d, \"delta_updates\": %s, \"failed\": %d, "
           "\"failed_in\": {\"connect\": %d, \"playlist\": %d, \"reload\": %d, \"part\": %d}, "
           "\"first_failure\": \"%s\", \"ramp_s\": %.3f, \"warmup_s\": %.3f, "
           "\"duration_s\": %.3f, \"parts_published\": %ld, \"parts_published_per_s\": %.3f, "
           "\"kept_up\": %d, \"lag_limit_ms\": %.0f, \"part_hold_back_ms\": %.0f, "
           "\"parts_per_s_median\": %.3f, \"parts_per_s_p1\": %.3f, \"parts_per_s_min\": %.3f, "
           "\"parts\": %ld, \"late_parts\": %ld, \"requests\": %ld, \"reloads\": %ld, "
           "\"bytes\": %ld, \"requests_per_s\": %.1f, \"bytes_per_s\": %.0f, "
           "\"skipped\": %ld, \"clients_with_skips\": %d, \"resyncs\": %ld, "
           "\"reconnects\": %ld, \"repeats\": %ld, \"error_responses\": %ld, \"clients_with_errors\": %d, "
           "\"client_max_lag_ms\": {\"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f}, ",
           L->url, L->n, L->is_delta ? "true" : "false", failed, failed_by[P_CONNECT],
           failed_by[P_PLAYLIST], failed_by[P_RELOAD], failed_by[P_PART],
           first_why ? first_why : "", ramp_s, warmup_s, win, published,
           win > 0 ? (double)published / win : 0, kept_up, 1000 * limit,
           1000 * L->part_hold_back_s, percentile(pps, L->n, 0.5), percentile(pps, L->n, 0.01),
           pps[0], parts, late, requests, reloads, bytes, win > 0 ? (double)requests / win : 0,
           win > 0 ? (double)bytes / win : 0, skipped, with_skips, resyncs, reconnects, repeats, errors,
           with_errors, 1000 * percentile(maxlag, L->n, 0.5),
           1000 * percentile(maxlag, L->n, 0.99), 1000 * maxlag[L->n - 1]);
    print_dist("publish_lag_ms", L->lags, L->n_lags, 1000);
    printf(", ");
    print_dist("capture_lag_ms", L->capture_lags, L->n_capture_lags, 1000);
    printf(", ");
    print_dist("part_fetch_ms", L->fetch_ms, L->n_fetch, 1);
    printf(", \"error_statuses\": {\"400\": %ld, \"404\": %ld, \"503\": %ld, \"other\": %ld}",
           L->status_400, L->status_404, L->status_503, L->status_other);
    printf(", \"client_cpu_pct\": %.1f}\n", 100 * cpu_s / total_s);
    free(pps);
    free(maxlag);
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
    fprintf(stderr, "usage: hls_load [-n CLIENTS] [-r CONNECTS_PER_S] [-w WARMUP_S] "
                    "[-d DURATION_S] [-l LAG_MS] [-D] "
                    "http://HOST:PORT/cameras/ID/hls/index.m3u8[?token=T]\n");
}

int main(int argc, char **argv)
{
    load_t L = {.epfd = -1, .n = 1, .is_delta = true};
    double rate = 200, warmup_s = 2, duration_s = 10, lag_ms = 0;
    int opt;
    while ((opt = getopt(argc, argv, "n:r:w:d:l:Dh")) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'n': L.n = (int)strtol(optarg, &end, 10); break;
        case 'r': rate = strtod(optarg, &end); break;
        case 'w': warmup_s = strtod(optarg, &end); break;
        case 'd': duration_s = strtod(optarg, &end); break;
        case 'l': lag_ms = strtod(optarg, &end); break;
        case 'D': L.is_delta = false; break;
        default: usage(); return 1;
        }
        if (end != NULL && (end == optarg || *end != '\0')) {
            usage();
            return 1;
        }
    }
    if (optind + 1 != argc || L.n < 1 || L.n > CLIENTS_MAX || rate <= 0 || warmup_s < 0 ||
        duration_s <= 0 || duration_s > 3600 || lag_ms < 0) {
        usage();
        return 1;
    }
    L.lag_limit_s = lag_ms / 1000;
    L.url = argv[optind];
    if (parse_url(&L) < 0) {
        fprintf(stderr, "hls_load: %s: expected http://HOST[:PORT]/PATH/index.m3u8[?QUERY]\n",
                L.url);
        return 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(L.host, L.port, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "hls_load: cannot resolve %s:%s\n", L.host, L.port);
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
    char *buf = malloc(READ_CHUNK);
    L.clients = calloc((size_t)L.n, sizeof(client_t));
    L.parts = calloc((size_t)SEGS_MAX * PARTS_PER_SEG, sizeof(part_rec_t));
    L.lags = malloc(LAGS_MAX * sizeof(double));
    L.capture_lags = malloc(LAGS_MAX * sizeof(double));
    L.fetch_ms = malloc(LAGS_MAX * sizeof(double));
    L.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (buf == NULL || L.clients == NULL || L.parts == NULL || L.lags == NULL ||
        L.capture_lags == NULL || L.fetch_ms == NULL || L.epfd < 0) {
        fprintf(stderr, "hls_load: out of memory or epoll\n");
        goto out;
    }
    for (int i = 0; i < L.n; i++) {
        L.clients[i].fd = -1;
        L.clients[i].phase = P_CONNECT;
    }
    double t0 = now_s(), cpu0 = cpu_seconds();
    double ramp_deadline = t0 + L.n / rate + RAMP_SLACK_S, ramp_s = 0;
    int opened = 0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now_s();
        while (opened < L.n && opened < (int)((t - t0) * rate) + 1)
            open_client(&L, &L.clients[opened++]);
        if (L.win_start == 0) {
            int settled = 0;
            for (int i = 0; i < opened; i++)
                settled += L.clients[i].has_part || L.clients[i].phase == P_FAILED;
            if ((opened == L.n && settled == L.n) || t >= ramp_deadline) {
                ramp_s = t - t0;
                L.win_start = t + warmup_s;
                L.win_end = L.win_start + duration_s;
                L.grace_end = L.win_end + GRACE_S;
            }
        }
        if (L.win_start > 0 && t >= L.grace_end)
            break;
        int ne = epoll_wait(L.epfd, evs, 256, 5);
        if (ne < 0 && errno != EINTR) {
            fprintf(stderr, "hls_load: epoll_wait: %s\n", strerror(errno));
            goto out;
        }
        for (int i = 0; i < ne; i++) {
            client_t *c = evs[i].data.ptr;
            if (c->phase == P_CONNECT)
                on_connected(&L, c);
            else if (c->phase != P_FAILED && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(&L, c, buf);
        }
    }
    report(&L, ramp_s, L.win_start - t0 - ramp_s, cpu_seconds() - cpu0, now_s() - t0);
    rc = 0;
out:
    if (L.clients) {
        for (int i = 0; i < L.n; i++) {
            if (L.clients[i].fd >= 0)
                close(L.clients[i].fd);
            free(L.clients[i].body);
            free(L.clients[i].playlist);
            free(L.clients[i].listed);
        }
    }
    if (L.epfd >= 0)
        close(L.epfd);
    free(L.clients);
    free(L.parts);
    free(L.lags);
    free(L.capture_lags);
    free(L.fetch_ms);
    free(buf);
    return rc;
}
