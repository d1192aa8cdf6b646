/* rtsp_source: vigil's own RTSP client for H.264/H.265 cameras (with their AAC), over TCP
 * interleaved (RFC 2326 §10.12), chosen per camera with ?client=vigil (or auto) in an
 * rtsp:// URL.
 *
 * Why not libavformat here: it hands an access unit over only when the next one starts (its
 * parser cannot see the RTP marker bit), one frame interval late (33 ms at 30 fps, measured
 * in docs/benchmarks.md "RTSP glass to glass"). media/rtp_depack ends each access unit at
 * its marker instead. Everything else a camera needs is here: Basic and Digest (MD5, qop
 * auth) challenges, the SDP's parameter sets, keep-alives within the session time-out,
 * RTCP sender reports for the camera's clock, TEARDOWN on every end.
 *
 * One thread (the source runner's); every wait is a poll() of at most 100 ms that also
 * looks at the stop flag and the deadline, so a dead camera never holds the thread. The
 * credentials live in guarded memory (sodium_malloc) and are wiped at close; logs and
 * errors name only the redacted URL.
 *
 * What it does not do (libavformat, the default client, does): UDP transport, rtsps://,
 * MJPEG and other codecs, RTP over HTTP tunnels.
 */
#include <errno.h>
#include <fcntl.h>
#include <libavcodec/codec_id.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/h26x.h"
#include "media/rtp_depack.h"
#include "net/rtsp_reply.h"
#include "sources/source.h"

extern const vg_source_ops_t vg_source_rtsp_ops; /* av_source.c: libavformat's client */

#define OPEN_TIMEOUT_US (10 * 1000000)
#define READ_TIMEOUT_US (10 * 1000000)
/* A camera sends its first video packet within milliseconds of answering PLAY. One that
 * sends only RTCP has a stuck encoder behind a live RTSP server (GStreamer's server does this
 * now and then when PLAY follows SETUP quickly): a new session is what brings it back. */
#define FIRST_VIDEO_TIMEOUT_US (5 * 1000000)
#define POLL_MS 100
#define BUF_CAP (512 * 1024) /* an interleaved frame is at most 64 KiB; room for several */
#define READY_MAX 256        /* units decoded from the socket, not yet handed over */
#define URL_MAX 2048
#define CRED_MAX 256
#define MAX_CLOCK_SKEW_US (10 * 1000000)
#define KEEPALIVE_DEFAULT_S 60

typedef struct clock_map {
    bool is_known;        /* a sender report came */
    int64_t unix_us;      /* its wall-clock time */
    uint32_t rtp_ts;      /* and the RTP time that stands for */
    uint32_t hz;
} clock_map_t;

typedef struct rtsp_source {
    vg_source_t *src;
    int fd;
    uint8_t *buf;
    size_t head, len;   /* unread bytes are buf[head, len) */
    vg_rtsp_reply_t *reply;
    char *user, *pass; /* sodium_malloc'd, CRED_MAX each */
    bool has_challenge;
    vg_rtsp_challenge_t challenge;
    unsigned nc;
    char url[URL_MAX];     /* what is requested: no credentials, none of vigil's parameters */
    char base[URL_MAX];    /* Content-Base, else url */
    char session[256];
    int session_timeout_s;
    bool use_get_parameter;
    unsigned cseq;
    int64_t deadline_us;   /* monotonic: what the current wait may not pass */
    int64_t play_us, last_video_us, next_keepalive_us; /* last_video_us: 0 before the first */
    /* tracks */
    vg_codec_t video_codec;
    int video_channel, audio_channel;
    vg_rtp_depack_t *video, *audio;
    clock_map_t video_clock, audio_clock;
    vg_h26x_params_t params;
    /* units out, oldest first; a NULL entry is a loss */
    vg_frame_t *ready[READY_MAX];
    bool ready_is_loss[READY_MAX];
    size_t ready_head, ready_count;
    uint32_t seq;
    bool is_playing;
    bool may_hand_over; /* client=auto: what this client does not read goes to
                           libavformat's */
} rtsp_source_t;

static const char *ctx(rtsp_source_t *rs)
{
    return vg_source_log_ctx(rs->src);
}

/* ---- the URL ---- */

/* Splits rtsp://[user[:pass]@]host[:port][/path][?query]: the request URL without the
 * credentials and vigil's own parameters into rs->url, the credentials into rs->user/pass,
 * and host and port. */
static int parse_url(rtsp_source_t *rs, const char *url, char *host, size_t host_cap,
                     char *port, size_t port_cap)
{
    if (strncmp(url, "rtsp://", 7) != 0)
        return VG_EURL;
    const char *auth_start = url + 7;
    const char *path = auth_start + strcspn(auth_start, "/?");
    const char *at = NULL;
    for (const char *p = auth_start; p < path; p++)
        if (*p == '@')
            at = p;
    const char *hostport = at ? at + 1 : auth_start;
    if (at) {
        const char *colon = memchr(auth_start, ':', (size_t)(at - auth_start));
        const char *user_end = colon ? colon : at;
        if (!vg_pct_decode(rs->user, CRED_MAX, auth_start, (size_t)(user_end - auth_start)) ||
            !vg_pct_decode(rs->pass, CRED_MAX, colon ? colon + 1 : at,
                           colon ? (size_t)(at - colon - 1) : 0))
            return VG_EURL;
    }
    size_t hp_len = (size_t)(path - hostport);
    if (hp_len == 0 || hp_len >= host_cap)
        return VG_EURL;
    const char *port_sep = NULL;
    if (hostport[0] == '[') { /* [IPv6]:port */
        const char *close = memchr(hostport, ']', hp_len);
        if (close == NULL)
            return VG_EURL;
        memcpy(host, hostport + 1, (size_t)(close - hostport - 1));
        host[close - hostport - 1] = '\0';
        port_sep = close + 1 < path && close[1] == ':' ? close + 1 : NULL;
    } else {
        port_sep = memchr(hostport, ':', hp_len);
        size_t hn = port_sep ? (size_t)(port_sep - hostport) : hp_len;
        memcpy(host, hostport, hn);
        host[hn] = '\0';
    }
    size_t pn = port_sep ? (size_t)(path - port_sep - 1) : 0;
    if (pn == 0)
        vg_strlcpy(port, "554", port_cap);
    else if (pn < port_cap) {
        memcpy(port, port_sep + 1, pn);
        port[pn] = '\0';
    } else {
        return VG_EURL;
    }
    /* The request URL: scheme, host and port as given, the path, the camera's own query. */
    int n = snprintf(rs->url, sizeof(rs->url), "rtsp://%.*s%s", (int)hp_len, hostport,
                     *path ? "" : "/");
    if (n < 0 || (size_t)n >= sizeof(rs->url) || !vg_strlcpy(rs->url + n, path,
                                                            sizeof(rs->url) - (size_t)n))
        return VG_EURL;
    char *q = strchr(rs->url, '?');
    if (q) {
        vg_query_remove(q + 1, "client");
        vg_query_remove(q + 1, "transport");
        if (q[1] == '\0')
            *q = '\0';
    }
    return 0;
}

/* ---- the socket ---- */

/* Waits for events on the socket, a step at a time: 1 ready, 0 deadline passed (or stop
 * asked: VG_ECLOSED), <0 error. */
static int wait_fd(rtsp_source_t *rs, short events)
{
    for (;;) {
        if (vg_source_should_stop(rs->src))
            return VG_ECLOSED;
        int64_t left = rs->deadline_us - vg_mono_us();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = rs->fd, .events = events};
        int ms = left / 1000 < POLL_MS ? (int)(left / 1000) + 1 : POLL_MS;
        int rc = poll(&pfd, 1, ms);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return VG_EUNREACHABLE;
    }
}

static int dial(rtsp_source_t *rs, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return VG_EUNREACHABLE;
    int rc = VG_EUNREACHABLE;
    for (struct addrinfo *ai = res; ai && rc == VG_EUNREACHABLE; ai = ai->ai_next) {
        rs->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (rs->fd < 0)
            continue;
        int one = 1;
        setsockopt(rs->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(rs->fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            int w = wait_fd(rs, POLLOUT);
            int err = 0;
            socklen_t elen = sizeof(err);
            if (w == 1 && getsockopt(rs->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
                rc = 0;
            else if (w == VG_ECLOSED)
                rc = VG_ECLOSED;
        }
        if (rc != 0) {
            close(rs->fd);
            rs->fd = -1;
        }
    }
    freeaddrinfo(res);
    return rc;
}

static int send_all(rtsp_source_t *rs, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(rs->fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return VG_EUNREACHABLE;
        int w = wait_fd(rs, POLLOUT);
        if (w <= 0)
            return w == 0 ? VG_EUNREACHABLE : w;
    }
    return 0;
}

/* Reads what has arrived (waiting up to the deadline for something): 0, or an error. */
static int fill(rtsp_source_t *rs)
{
    if (rs->len - rs->head == BUF_CAP)
        return VG_EPROTO; /* a frame bigger than the buffer: not from a sane camera */
    if (rs->head > 0 && BUF_CAP - rs->len < BUF_CAP / 2) {
        /* moved down only when room runs short, not after each frame: a backlog of a
         * thousand small frames would otherwise move the buffer a thousand times */
        memmove(rs->buf, rs->buf + rs->head, rs->len - rs->head);
        rs->len -= rs->head;
        rs->head = 0;
    }
    for (;;) {
        ssize_t n = recv(rs->fd, rs->buf + rs->len, BUF_CAP - rs->len, 0);
        if (n > 0) {
            rs->len += (size_t)n;
            return 0;
        }
        if (n == 0)
            return VG_EEOF;
        if (errno != EAGAIN && errno != EINTR)
            return VG_EUNREACHABLE;
        int w = wait_fd(rs, POLLIN);
        if (w <= 0)
            return w == 0 ? VG_ETIMEDOUT : w;
    }
}

static void consume(rtsp_source_t *rs, size_t n)
{
    rs->head += n;
    if (rs->head == rs->len)
        rs->head = rs->len = 0;
}

/* ---- units out ---- */

static void ready_put(rtsp_source_t *rs, vg_frame_t *f, bool is_loss)
{
    if (rs->ready_count == READY_MAX) { /* the runner is not reading: drop, and say so */
        vg_frame_unref(&f);
        f = NULL;
        is_loss = true;
        size_t last = (rs->ready_head + rs->ready_count - 1) % READY_MAX;
        if (rs->ready_is_loss[last])
            return;
        vg_frame_unref(&rs->ready[last]);
        rs->ready_is_loss[last] = true;
        return;
    }
    size_t i = (rs->ready_head + rs->ready_count) % READY_MAX;
    rs->ready[i] = f;
    rs->ready_is_loss[i] = is_loss;
    rs->ready_count++;
}

static int64_t capture_time(const clock_map_t *c, uint32_t ts, int64_t now)
{
    if (!c->is_known || c->hz == 0)
        return now;
    int64_t cam = c->unix_us + (int64_t)(int32_t)(ts - c->rtp_ts) * 1000000 / c->hz;
    return llabs(cam - now) < MAX_CLOCK_SKEW_US ? cam : now;
}

static void frame_free(void *opaque)
{
    free(opaque);
}

static void on_video(void *arg, uint8_t *data, size_t len, uint32_t ts, bool is_key,
                     bool is_damaged)
{
    rtsp_source_t *rs = arg;
    int64_t now = vg_wall_us();
    vg_frame_t *f = vg_frame_wrap(data, len, frame_free, data);
    f->meta.codec = rs->video_codec;
    f->meta.is_key = is_key;
    f->meta.is_damaged = is_damaged; /* passed on as libavformat's client did; counted */
    f->meta.seq = ++rs->seq;
    f->meta.capture_us = capture_time(&rs->video_clock, ts, now);
    f->meta.ingest_us = now;
    ready_put(rs, f, false);
}

static void on_audio(void *arg, uint8_t *data, size_t len, uint32_t ts, bool is_key,
                     bool is_damaged)
{
    rtsp_source_t *rs = arg;
    (void)is_key;
    (void)is_damaged;
    int64_t now = vg_wall_us();
    vg_frame_t *f = vg_frame_wrap(data, len, frame_free, data);
    f->meta.codec = VG_CODEC_AAC;
    f->meta.is_key = true;
    f->meta.capture_us = capture_time(&rs->audio_clock, ts, now);
    f->meta.ingest_us = now;
    ready_put(rs, f, false);
}

static void on_video_lost(void *arg)
{
    ready_put(arg, NULL, true);
}

/* An interleaved frame: RTP to its depacketizer, RTCP for the clock. */
static void on_frame(rtsp_source_t *rs, int channel, const uint8_t *data, size_t len)
{
    if (channel == rs->video_channel && rs->video) {
        rs->last_video_us = vg_mono_us();
        vg_rtp_depack_push(rs->video, data, len);
    } else if (channel == rs->audio_channel && rs->audio) {
        vg_rtp_depack_push(rs->audio, data, len);
    } else if (channel == rs->video_channel + 1 || channel == rs->audio_channel + 1) {
        clock_map_t *c = channel == rs->video_channel + 1 ? &rs->video_clock : &rs->audio_clock;
        int64_t us;
        uint32_t ts;
        if (vg_rtcp_parse_sender_report(data, len, &us, &ts) == 0) {
            c->is_known = true;
            c->unix_us = us;
            c->rtp_ts = ts;
        }
    }
}

/* ---- requests ---- */

static int send_request(rtsp_source_t *rs, const char *method, const char *uri,
                        const char *extra)
{
    char auth[1024] = "";
    if (rs->has_challenge) {
        char cnonce[17];
        snprintf(cnonce, sizeof(cnonce), "%08x%08x", randombytes_random(), randombytes_random());
        char value[900];
        int n = vg_rtsp_authorization(&rs->challenge, rs->user, rs->pass, method, uri, ++rs->nc,
                                      cnonce, value, sizeof(value));
        if (n < 0)
            return VG_EURL;
        snprintf(auth, sizeof(auth), "Authorization: %s\r\n", value);
        sodium_memzero(value, sizeof(value));
    }
    char session[300] = "";
    if (rs->session[0])
        snprintf(session, sizeof(session), "Session: %s\r\n", rs->session);
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "%s %s RTSP/1.0\r\nCSeq: %u\r\nUser-Agent: vigil/" VIGIL_VERSION "\r\n"
                     "%s%s%s\r\n",
                     method, uri, ++rs->cseq, auth, session, extra ? extra : "");
    sodium_memzero(auth, sizeof(auth));
    if (n < 0 || (size_t)n >= sizeof(req))
        return VG_EURL;
    int rc = send_all(rs, req, (size_t)n);
    sodium_memzero(req, sizeof(req));
    return rc;
}

/* Takes the next whole thing the buffer holds: an interleaved frame goes to its track, a
 * reply is left in rs->reply, a request from the camera is skipped. Returns its kind,
 * VG_RTSPR_NEED_MORE only when nothing was taken (read more), or VG_EPROTO. */
static int pump(rtsp_source_t *rs)
{
    vg_rtsp_reply_parsed_t p = vg_rtsp_reply_parse(rs->buf + rs->head, rs->len - rs->head,
                                                   rs->reply);
    if (p.kind == VG_RTSPR_BAD) {
        VG_LOG_WARN(ctx(rs), "camera's RTSP: %s", p.why);
        return VG_EPROTO;
    }
    if (p.kind == VG_RTSPR_INTERLEAVED)
        on_frame(rs, p.channel, rs->buf + rs->head + 4, p.frame_len);
    if (p.consumed == 0)
        return VG_RTSPR_NEED_MORE;
    consume(rs, p.consumed);
    return p.kind == VG_RTSPR_NEED_MORE ? VG_RTSPR_REQUEST : (int)p.kind;
}

/* Reads up to the reply to the last request (frames before it are handled). */
static int read_reply(rtsp_source_t *rs)
{
    for (;;) {
        int kind = pump(rs);
        if (kind < 0)
            return kind;
        if (kind == VG_RTSPR_REPLY && rs->reply->cseq == (long)rs->cseq)
            return 0;
        if (kind == VG_RTSPR_NEED_MORE) {
            int rc = fill(rs);
            if (rc < 0)
                return rc == VG_ETIMEDOUT || rc == VG_EEOF ? VG_EUNREACHABLE : rc;
        }
    }
}

/* Sends a request and reads its reply; a 401 is answered once with the camera's challenge
 * (Digest before Basic). Returns the status, or an error. */
static int exchange(rtsp_source_t *rs, const char *method, const char *uri, const char *extra)
{
    for (int attempt = 0;; attempt++) {
        int rc = send_request(rs, method, uri, extra);
        if (rc == 0)
            rc = read_reply(rs);
        if (rc < 0)
            return rc;
        int status = rs->reply->status;
        if (status != 401 || attempt > 0 || rs->user[0] == '\0')
            return status;
        /* Take the strongest challenge the camera offers. */
        bool found = false;
        int from = 0;
        const char *v;
        while ((v = vg_rtsp_reply_header(rs->reply, "WWW-Authenticate", &from)) != NULL) {
            vg_rtsp_challenge_t c;
            if (vg_rtsp_challenge_parse(v, &c) == 0 && (!found || c.is_digest)) {
                rs->challenge = c;
                found = true;
            }
        }
        if (!found)
            return status;
        rs->has_challenge = true;
        rs->nc = 0;
    }
}

static int status_error(rtsp_source_t *rs, const char *method, int status)
{
    VG_LOG_INFO(ctx(rs), "camera answered %s with %d", method, status);
    return status == 401 || status == 403 ? VG_EUNAUTHORIZED : VG_EUNREACHABLE;
}

/* ---- the session ---- */

/* The Annex B parameter sets of the SDP, base64 ones joined with start codes. */
static size_t sprops_annexb(const char *const *lists, size_t n, uint8_t *out, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char copy[2048];
        if (lists[i] == NULL || !vg_strlcpy(copy, lists[i], sizeof(copy)))
            continue;
        char *save = NULL;
        for (char *b64 = strtok_r(copy, ",", &save); b64; b64 = strtok_r(NULL, ",", &save)) {
            size_t bin_len = 0;
            if (cap - len < 4 + 1)
                return len;
            if (sodium_base642bin(out + len + 4, cap - len - 4, b64, strlen(b64), NULL, &bin_len,
                                  NULL, sodium_base64_VARIANT_ORIGINAL) != 0 &&
                sodium_base642bin(out + len + 4, cap - len - 4, b64, strlen(b64), NULL, &bin_len,
                                  NULL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
                continue;
            if (bin_len == 0)
                continue;
            memcpy(out + len, "\0\0\0\1", 4);
            len += 4 + bin_len;
        }
    }
    return len;
}

/* Decodes the hex AudioSpecificConfig of an AAC-hbr fmtp. */
static bool aac_config(const char *fmtp, vg_stream_audio_t *a)
{
    char hex[2 * VG_AUDIO_CONFIG_MAX + 1], v[16];
    if (vg_sdp_fmtp_get(fmtp, "config", hex, sizeof(hex)) <= 0 ||
        vg_sdp_fmtp_get(fmtp, "mode", v, sizeof(v)) < 0 || strcasecmp(v, "AAC-hbr") != 0 ||
        vg_sdp_fmtp_get(fmtp, "sizelength", v, sizeof(v)) < 0 || strcmp(v, "13") != 0 ||
        vg_sdp_fmtp_get(fmtp, "indexlength", v, sizeof(v)) < 0 || strcmp(v, "3") != 0)
        return false;
    size_t n = 0;
    if (sodium_hex2bin(a->config, sizeof(a->config), hex, strlen(hex), NULL, &n, NULL) != 0 ||
        n < 2)
        return false;
    a->config_len = n;
    return true;
}

static int setup_track(rtsp_source_t *rs, const vg_sdp_media_t *m, int channel)
{
    char url[URL_MAX], transport[96];
    if (vg_rtsp_control_url(rs->base, m->control, url, sizeof(url)) < 0)
        return VG_EPROTO;
    snprintf(transport, sizeof(transport), "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n",
             channel, channel + 1);
    int status = exchange(rs, "SETUP", url, transport);
    if (status < 0)
        return status;
    if (status == 461) {
        VG_LOG_INFO(ctx(rs), "camera refuses RTP over its RTSP connection (461)");
        return VG_EPROTO;
    }
    if (status != 200)
        return status_error(rs, "SETUP", status);
    const char *session = vg_rtsp_reply_header(rs->reply, "Session", NULL);
    if (session == NULL)
        return VG_EPROTO;
    const char *semi = strchr(session, ';');
    size_t n = semi ? (size_t)(semi - session) : strlen(session);
    if (n == 0 || n >= sizeof(rs->session))
        return VG_EPROTO;
    memcpy(rs->session, session, n);
    rs->session[n] = '\0';
    const char *t = semi ? strstr(semi, "timeout=") : NULL;
    if (t) {
        long long timeout;
        char num[16] = "";
        size_t digits = strspn(t + 8, "0123456789");
        if (digits > 0 && digits < sizeof(num)) {
            memcpy(num, t + 8, digits);
            if (vg_parse_int(num, 1, 3600, &timeout) == 0)
                rs->session_timeout_s = (int)timeout;
        }
    }
    /* The camera may pick other channels than asked. */
    const char *tr = vg_rtsp_reply_header(rs->reply, "Transport", NULL);
    const char *il = tr ? strstr(tr, "interleaved=") : NULL;
    int got = channel;
    if (il && sscanf(il + 12, "%d", &got) == 1 && got >= 0 && got < 255)
        return got;
    return channel;
}

static void rtsp_close(vg_source_t *src)
{
    rtsp_source_t *rs = vg_source_priv(src);
    if (rs == NULL)
        return;
    if (rs->fd >= 0 && rs->session[0]) {
        /* Cameras allow few sessions and keep an abandoned one for its time-out: say goodbye,
         * without waiting for the answer. */
        rs->deadline_us = vg_mono_us() + 300 * 1000;
        send_request(rs, "TEARDOWN", rs->base, NULL);
    }
    if (rs->fd >= 0)
        close(rs->fd);
    for (size_t i = 0; i < rs->ready_count; i++)
        vg_frame_unref(&rs->ready[(rs->ready_head + i) % READY_MAX]);
    vg_rtp_depack_free(&rs->video);
    vg_rtp_depack_free(&rs->audio);
    free(rs->buf);
    free(rs->reply);
    sodium_free(rs->user); /* wipes */
    sodium_free(rs->pass);
    free(rs);
    vg_source_set_priv(src, NULL);
}

static int rtsp_open(vg_source_t *src)
{
    rtsp_source_t *rs = vg_xcalloc(1, sizeof(*rs));
    rs->src = src;
    rs->fd = -1;
    rs->video_channel = rs->audio_channel = -10;
    rs->session_timeout_s = KEEPALIVE_DEFAULT_S;
    vg_source_set_priv(src, rs);
    int rc;
    if (sodium_init() < 0 || (rs->user = sodium_malloc(CRED_MAX)) == NULL ||
        (rs->pass = sodium_malloc(CRED_MAX)) == NULL) {
        rc = VG_ENOMEM;
        goto fail;
    }
    rs->user[0] = rs->pass[0] = '\0';
    rs->buf = vg_xmalloc(BUF_CAP);
    rs->reply = vg_xmalloc(sizeof(*rs->reply));
    char host[256], port[8];
    const char *q = strchr(vg_source_url(src), '?');
    char client[16] = "auto";
    if (q)
        vg_query_get(q + 1, "client", client, sizeof(client));
    rs->may_hand_over = strcmp(client, "vigil") != 0;
    rc = parse_url(rs, vg_source_url(src), host, sizeof(host), port, sizeof(port));
    if (rc < 0)
        goto fail;
    vg_strlcpy(rs->base, rs->url, sizeof(rs->base));
    rs->deadline_us = vg_mono_us() + OPEN_TIMEOUT_US;
    rc = dial(rs, host, port);
    if (rc < 0)
        goto fail;

    int status = exchange(rs, "OPTIONS", rs->url, NULL);
    if (status < 0) {
        rc = status;
        goto fail;
    }
    const char *pub = status == 200 ? vg_rtsp_reply_header(rs->reply, "Public", NULL) : NULL;
    rs->use_get_parameter = pub && strstr(pub, "GET_PARAMETER");

    status = exchange(rs, "DESCRIBE", rs->url, "Accept: application/sdp\r\n");
    if (status < 0 || status != 200) {
        rc = status < 0 ? status : status_error(rs, "DESCRIBE", status);
        goto fail;
    }
    const char *cb = vg_rtsp_reply_header(rs->reply, "Content-Base", NULL);
    if (cb == NULL)
        cb = vg_rtsp_reply_header(rs->reply, "Content-Location", NULL);
    if (cb && strncmp(cb, "rtsp://", 7) == 0)
        vg_strlcpy(rs->base, cb, sizeof(rs->base));
    vg_sdp_t *sdp = vg_xcalloc(1, sizeof(*sdp));
    if (vg_sdp_parse(rs->reply->body, rs->reply->body_len, sdp) < 0) {
        free(sdp);
        VG_LOG_WARN(ctx(rs), "camera's DESCRIBE gave no SDP");
        rc = VG_EPROTO;
        goto fail;
    }
    const vg_sdp_media_t *video = NULL, *audio = NULL, *other_video = NULL;
    for (int i = 0; i < sdp->media_count; i++) {
        const vg_sdp_media_t *m = &sdp->media[i];
        bool is_h264 = strcasecmp(m->encoding, "H264") == 0;
        bool is_h265 = strcasecmp(m->encoding, "H265") == 0;
        if (m->is_video && video == NULL && (is_h264 || is_h265))
            video = m;
        else if (m->is_video && other_video == NULL)
            other_video = m;
        if (m->is_audio && audio == NULL && strcasecmp(m->encoding, "mpeg4-generic") == 0)
            audio = m;
    }
    if (video == NULL) {
        if (other_video && !rs->may_hand_over)
            VG_LOG_WARN(ctx(rs), "codec %s is not supported by the vigil RTSP client",
                        other_video->encoding[0] ? other_video->encoding : "(unnamed)");
        rc = other_video ? VG_EUNSUPPORTED : VG_ENOVIDEO;
        free(sdp);
        goto fail;
    }
    rs->video_codec = strcasecmp(video->encoding, "H264") == 0 ? VG_CODEC_H264 : VG_CODEC_H265;
    uint8_t ps[4096];
    size_t ps_len;
    char a[2048], b[1024], c[1024];
    if (rs->video_codec == VG_CODEC_H264) {
        const char *lists[] = {vg_sdp_fmtp_get(video->fmtp, "sprop-parameter-sets", a,
                                               sizeof(a)) > 0 ? a : NULL};
        ps_len = sprops_annexb(lists, 1, ps, sizeof(ps));
    } else {
        const char *lists[] = {
            vg_sdp_fmtp_get(video->fmtp, "sprop-vps", a, sizeof(a)) > 0 ? a : NULL,
            vg_sdp_fmtp_get(video->fmtp, "sprop-sps", b, sizeof(b)) > 0 ? b : NULL,
            vg_sdp_fmtp_get(video->fmtp, "sprop-pps", c, sizeof(c)) > 0 ? c : NULL};
        ps_len = sprops_annexb(lists, 3, ps, sizeof(ps));
    }
    rs->params.codec = rs->video_codec;
    vg_h26x_params_update(&rs->params, ps, ps_len);
    vg_stream_info_t info = {
        .codec_id = rs->video_codec == VG_CODEC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_HEVC,
        .extradata = ps_len ? ps : NULL,
        .extradata_len = ps_len,
    };
    vg_h26x_picture_size(&rs->params, &info.width, &info.height);

    vg_rtp_depack_cfg_t vcfg = {.codec = rs->video_codec, .payload_type = video->payload_type,
                                .on_unit = on_video, .on_lost = on_video_lost, .arg = rs};
    vg_rtp_depack_new(&vcfg, &rs->video);
    rs->video_clock.hz = video->clock_rate > 0 ? (uint32_t)video->clock_rate : 90000;
    rc = setup_track(rs, video, 0);
    if (rc < 0) {
        free(sdp);
        goto fail;
    }
    rs->video_channel = rc;
    if (audio) {
        if (audio->clock_rate > 0 && aac_config(audio->fmtp, &info.audio)) {
            info.audio.codec = VG_CODEC_AAC;
            info.audio.sample_rate = audio->clock_rate;
            info.audio.channels = audio->channels;
            vg_rtp_depack_cfg_t acfg = {.codec = VG_CODEC_AAC,
                                        .payload_type = audio->payload_type,
                                        .on_unit = on_audio, .arg = rs};
            vg_rtp_depack_new(&acfg, &rs->audio);
            rs->audio_clock.hz = (uint32_t)audio->clock_rate;
            rc = setup_track(rs, audio, rs->video_channel + 2);
            if (rc < 0) {
                free(sdp);
                goto fail;
            }
            rs->audio_channel = rc;
            VG_LOG_INFO(ctx(rs), "audio aac %d Hz, %d channels", audio->clock_rate,
                        audio->channels);
        } else {
            VG_LOG_INFO(ctx(rs), "audio %s left out: only AAC-hbr with its config is passed on",
                        audio->encoding);
            memset(&info.audio, 0, sizeof(info.audio));
        }
    }
    /* The aggregate URL (PLAY, keep-alives, TEARDOWN): the session's a=control when it is a
     * URL of its own, else the base (RFC 2326 C.1.1). */
    if (strncmp(sdp->control, "rtsp://", 7) == 0)
        vg_strlcpy(rs->base, sdp->control, sizeof(rs->base));
    free(sdp);
    status = exchange(rs, "PLAY", rs->base, "Range: npt=0.000-\r\n");
    if (status < 0 || status != 200) {
        rc = status < 0 ? status : status_error(rs, "PLAY", status);
        goto fail;
    }
    rs->is_playing = true;
    rs->play_us = vg_mono_us();
    rs->next_keepalive_us = rs->play_us + (int64_t)rs->session_timeout_s * 1000000 / 2;
    vg_source_set_info(src, &info);
    VG_LOG_INFO(ctx(rs), "%s %dx%d (vigil's RTSP client)",
                rs->video_codec == VG_CODEC_H264 ? "h264" : "hevc", info.width, info.height);
    return 0;
fail:;
    bool hand_over = rs->may_hand_over && (rc == VG_EUNSUPPORTED || rc == VG_EPROTO);
    rtsp_close(src);
    if (hand_over) {
        VG_LOG_INFO(vg_source_log_ctx(src), "%s: read through libavformat instead",
                    rc == VG_EUNSUPPORTED ? "a codec vigil's RTSP client does not read"
                                          : "an RTSP exchange vigil's client does not take");
        return vg_source_hand_over(src, &vg_source_rtsp_ops);
    }
    return rc;
}

/* When the video is given up for stalled: within FIRST_VIDEO_TIMEOUT_US of PLAY for the
 * first packet, READ_TIMEOUT_US of the last one after that. RTCP and audio do not count:
 * they flow on while an encoder is stuck. */
static int64_t video_deadline(const rtsp_source_t *rs)
{
    return rs->last_video_us ? rs->last_video_us + READ_TIMEOUT_US
                             : rs->play_us + FIRST_VIDEO_TIMEOUT_US;
}

static int rtsp_read(vg_source_t *src, vg_frame_t **out)
{
    rtsp_source_t *rs = vg_source_priv(src);
    while (rs->ready_count == 0) {
        int64_t now = vg_mono_us();
        if (now > video_deadline(rs)) {
            if (rs->last_video_us == 0)
                VG_LOG_WARN(ctx(rs), "camera answered PLAY but sent no video in %d s",
                            FIRST_VIDEO_TIMEOUT_US / 1000000);
            return VG_ETIMEDOUT;
        }
        if (now >= rs->next_keepalive_us) {
            rs->deadline_us = now + 2 * 1000000;
            int rc = send_request(rs, rs->use_get_parameter ? "GET_PARAMETER" : "OPTIONS",
                                  rs->base, NULL);
            if (rc < 0)
                return rc == VG_ECLOSED ? rc : VG_ETIMEDOUT;
            rs->next_keepalive_us = now + (int64_t)rs->session_timeout_s * 1000000 / 2;
        }
        int kind = pump(rs);
        if (kind < 0)
            return kind;
        if (kind == VG_RTSPR_REPLY && rs->reply->status == 454)
            return VG_ETIMEDOUT; /* the camera forgot the session */
        if (kind == VG_RTSPR_NEED_MORE) {
            rs->deadline_us = video_deadline(rs);
            if (rs->deadline_us > rs->next_keepalive_us)
                rs->deadline_us = rs->next_keepalive_us;
            int rc = fill(rs);
            if (rc == VG_ETIMEDOUT)
                continue; /* a keep-alive is due, or the video deadline above decides */
            if (rc < 0)
                return rc == VG_EEOF ? VG_ETIMEDOUT : rc;
        }
    }
    size_t i = rs->ready_head;
    vg_frame_t *f = rs->ready[i];
    bool is_loss = rs->ready_is_loss[i];
    rs->ready[i] = NULL;
    rs->ready_head = (i + 1) % READY_MAX;
    rs->ready_count--;
    if (is_loss) {
        vg_source_packet_lost(src);
        return VG_EAGAIN;
    }
    *out = f;
    return 0;
}

static int rtsp_probe(const char *url, int *width, int *height, int *fps, char *err,
                      size_t err_len)
{
    (void)width;
    (void)height;
    (void)fps;
    char v[16];
    const char *q = strchr(url, '?');
    if (q && vg_query_get(q + 1, "transport", v, sizeof(v)) >= 0 && strcmp(v, "tcp") != 0) {
        snprintf(err, err_len, "client=vigil reads over TCP only (transport=%s)", v);
        return VG_EURL;
    }
    if (strncmp(url, "rtsp://", 7) != 0 || url[7] == '\0' || url[7] == '/') {
        snprintf(err, err_len, "client=vigil needs rtsp://host[:port]/path");
        return VG_EURL;
    }
    return 0;
}

/* client=vigil; auto (the default) over TCP. The rest is libavformat's (the next rtsp
 * implementation in the registry). */
static int rtsp_claims(const char *url, char *err, size_t err_len)
{
    char client[16], transport[8] = "tcp";
    if (vg_source_rtsp_client(url, client, err, err_len) < 0)
        return VG_EURL;
    const char *q = strchr(url, '?');
    if (q && vg_query_get(q + 1, "transport", transport, sizeof(transport)) == VG_EINVAL)
        vg_strlcpy(transport, "?", sizeof(transport));
    return strcmp(client, "vigil") == 0 ||
           (strcmp(client, "auto") == 0 && strcmp(transport, "tcp") == 0);
}

const vg_source_ops_t vg_source_rtsp_vigil_ops = {
    .name = "rtsp-vigil",
    .scheme = "rtsp",
    .probe = rtsp_probe,
    .claims = rtsp_claims,
    .open = rtsp_open,
    .read = rtsp_read,
    .interrupt = NULL, /* every wait polls the stop flag */
    .close = rtsp_close,
};
