/* rtsp: the RTSP server; rtsp.h tells the design, docs/rtsp.md the behaviour.
 *
 * Three kinds of object, all on the loop:
 *   rtsp_conn_t    one RTSP control connection; holds at most one session, and the camera
 *                  (rtsp_cam_t) its DESCRIBE or SETUP named.
 *   rtsp_session_t one reader: its transport, and while it plays a `source` consumer
 *                  registered as an output viewer ("rtsp"), so it shows in /api/v1/viewers.
 *   rtsp_cam_t     per camera in use: the consumer that packetizes each access unit once,
 *                  the parameter sets its SDP announced, and the held DESCRIBEs.
 * A connection is closed in two steps: conn_close marks it and closes the socket, and only
 * the close callback detaches its consumer and frees it. So nothing is detached from inside
 * the hub's delivery of a frame, except a consumer detaching itself. */
#define _GNU_SOURCE /* sendmmsg */
#include "outputs/rtsp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/h26x.h"
#include "media/rtp.h"
#include "net/rtsp_msg.h"
#include "net/tls.h"
#include "outputs/outputs_int.h"

#define PAYLOAD_TYPE 96
#define AUDIO_PAYLOAD_TYPE 97
#define TRACK_VIDEO 0
#define TRACK_AUDIO 1
#define DESCRIBE_WAIT_MS_DEFAULT 10000
#define SESSION_TIMEOUT_S_DEFAULT 60
#define SR_EVERY_US 5000000
#define READ_MAX (VG_RTSP_HEAD_MAX + VG_RTSP_BODY_MAX + 64)
/* An unacknowledged TCP connection is dropped after this: a reader that vanished without a
 * FIN must not hold its session (and its writes) for the kernel's 15-minute default. */
#define TCP_USER_TIMEOUT_MS 20000
/* What the kernel may hold unsent per reader: beyond it, bytes wait in libuv's queue where the
 * lag bounds see them. */
#define NOTSENT_LOWAT (128 * 1024)
#define MMSG_BATCH 64
/* A client that holds a request half-sent this long (slowloris), or a connection with no
 * session and no request this long, is closed. */
#define PARTIAL_REQUEST_US 10000000LL
#define IDLE_CONN_US 60000000LL
#define CREDENTIAL_MAX 256

typedef struct rtsp_cam rtsp_cam_t;
typedef struct rtsp_conn rtsp_conn_t;

/* The RTP packets of one access unit, hung on it as frame->derived. */
typedef struct rtp_au {
    uint64_t gen; /* the packetizer's (rtsp_cam_t.gen): packets of another are not sent */
    vg_frame_t **pkts;
    size_t n, bytes;
    uint32_t rtp_ts;
} rtp_au_t;

/* One media of a session: video (trackID=0) or the camera's AAC (trackID=1). */
typedef struct rtsp_track {
    bool is_set; /* named by a SETUP */
    int channels[2];
    struct sockaddr_storage rtp_to, rtcp_to;
    int64_t last_sr_us;       /* monotonic */
    uint32_t packets, octets; /* for sender reports (mod 2^32) */
} rtsp_track_t;

typedef struct rtsp_session {
    vg__viewer_t base; /* first: statistics see it */
    rtsp_conn_t *conn;
    rtsp_cam_t *cam;
    void *principal;
    char id[17];
    bool is_tcp, is_playing, is_waiting_key, is_registered;
    bool has_video_started; /* audio goes once the reader has its first keyframe */
    rtsp_track_t track[2];
    socklen_t to_len;
    int64_t last_seen_us; /* monotonic */
} rtsp_session_t;

struct rtsp_conn {
    uv_tcp_t tcp;
    vg_rtsp_t *r;
    char peer[64], peer_ip[48];
    struct sockaddr_storage peer_addr;
    char local_ip[48];
    uint8_t *rbuf;
    size_t rlen;
    /* rtsps://: the TLS session, made when the first bytes open a handshake; NULL: plain */
    vg_tls_t *tls;
    bool is_sniffed;
    int64_t partial_since_us; /* monotonic: when the unfinished bytes in rbuf started, 0 none */
    int64_t last_request_us;  /* monotonic */
    rtsp_cam_t *cam;
    rtsp_session_t *session;
    /* a held DESCRIBE, answered when the camera's parameter sets are known */
    bool is_held;
    long held_cseq;
    char *held_base; /* the Content-Base */
    char *held_query;
    uv_timer_t held_timer;
    bool is_closing, is_closed;
    int open_handles; /* tcp and timer: freed when both have closed */
    uv_shutdown_t shutdown;
    /* writes in flight, oldest first: their age is the reader's lag */
    struct tcp_write *w_head, *w_tail;
    rtsp_conn_t *prev, *next;
};

struct rtsp_cam {
    vg_consumer_t cons;
    vg_rtsp_t *r;
    vg_stream_t *st; /* NULL once the stream was removed */
    char *camera;
    int users; /* connections that named it */
    vg_rtp_packetizer_t *pk;
    vg_codec_t codec;
    uint32_t ssrc;
    uint64_t gen; /* changes with each packetizer */
    int64_t base_us;
    uint32_t base_ts;
    vg_h26x_params_t ps;      /* the latest */
    vg_h26x_params_t announced; /* what the SDPs said (codec NONE: nothing announced yet) */
    bool is_unsupported;
    bool has_key;
    uint16_t key_seq; /* the first packet of the latest keyframe */
    uint32_t key_ts;
    uint32_t last_ts; /* the latest access unit's RTP timestamp */
    bool has_last_ts;
    /* the camera's AAC, when it has some (read at DESCRIBE) */
    bool has_audio;
    vg_stream_audio_t audio;
    vg_rtp_packetizer_t *pk_audio;
    uint32_t ssrc_audio, base_ts_audio;
    uint64_t gen_audio;
    int64_t base_us_audio;
    rtsp_cam_t *next;
};

struct vg_rtsp {
    vg_rtsp_cfg_t cfg;
    char *host;
    uv_tcp_t listener;
    vg_tls_ctx_t *tls; /* NULL: plain RTSP only */
    uv_udp_t rtp_udp, rtcp_udp;
    int rtp_port, rtcp_port;
    uv_timer_t tick;
    rtsp_conn_t *conns;
    rtsp_cam_t *cams;
    int open_handles;
    bool is_closing;
    uint64_t next_gen;
    vg_rtsp_counters_t counters;
};

typedef struct tcp_write {
    uv_write_t req;
    rtsp_conn_t *conn;
    vg_frame_t *pkts; /* the access unit's derived frame: its packets stay while written */
    int64_t queued_us;
    size_t bytes;
    struct tcp_write *next;
    size_t nbufs;
    uv_buf_t *bufs;
    uint8_t *hdrs;   /* 4 bytes per packet: "$" channel length */
    uint8_t *cipher; /* TLS: what goes out instead of bufs (owned) */
    uint8_t text[];  /* a response or an RTCP packet */
} tcp_write_t;

static void conn_close(rtsp_conn_t *c, const char *why);
/* Closes once what is queued has been written (a last answer, a BYE), within a bound. */
static void conn_close_flushed(rtsp_conn_t *c, const char *why);
static void rtsp_release(vg_rtsp_t *r);

/* ---- access units as RTP packets ---- */

static void rtp_au_release(void *opaque)
{
    rtp_au_t *au = opaque;
    vg_rtp_packets_free(&au->pkts, au->n);
    free(au);
}

static const rtp_au_t *au_packets(const vg_frame_t *f)
{
    return f->derived && f->derived->release == rtp_au_release
               ? (const rtp_au_t *)f->derived->release_opaque
               : NULL;
}

static bool same_stream_params(const vg_h26x_params_t *a, const vg_h26x_params_t *b)
{
    return a->codec == b->codec && a->sps_len == b->sps_len && a->vps_len == b->vps_len &&
           memcmp(a->sps, b->sps, a->sps_len) == 0 && memcmp(a->vps, b->vps, a->vps_len) == 0;
}

static void cam_new_packetizer(rtsp_cam_t *cam, vg_codec_t codec, int64_t capture_us)
{
    vg_rtp_packetizer_free(&cam->pk);
    uint16_t seq;
    randombytes_buf(&seq, sizeof(seq));
    cam->ssrc = randombytes_random();
    cam->base_ts = randombytes_random();
    cam->base_us = capture_us;
    vg_rtp_cfg_t cfg = {.codec = codec, .payload_type = PAYLOAD_TYPE, .ssrc = cam->ssrc,
                        .first_seq = seq};
    if (vg_rtp_packetizer_new(&cfg, &cam->pk) < 0)
        cam->pk = NULL;
    cam->codec = codec;
    cam->gen = ++cam->r->next_gen;
    cam->has_key = false;
    cam->has_last_ts = false;
}

/* ---- writing to a connection ---- */

static void on_written(uv_write_t *req, int status)
{
    tcp_write_t *w = req->data;
    rtsp_conn_t *c = w->conn;
    if (c->w_head == w) { /* libuv completes writes in order */
        c->w_head = w->next;
        if (c->w_head == NULL)
            c->w_tail = NULL;
    }
    vg_frame_unref(&w->pkts);
    free(w->cipher);
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->is_closing)
        conn_close(c, uv_strerror(status));
}

static tcp_write_t *write_new(rtsp_conn_t *c, size_t nbufs, size_t npkts, size_t text_len)
{
    size_t bufs_at = sizeof(tcp_write_t) + text_len;
    bufs_at = (bufs_at + 15) & ~(size_t)15;
    tcp_write_t *w = vg_xcalloc(1, bufs_at + nbufs * sizeof(uv_buf_t) + npkts * 4);
    w->conn = c;
    w->req.data = w;
    w->nbufs = nbufs;
    w->bufs = (uv_buf_t *)((uint8_t *)w + bufs_at);
    w->hdrs = (uint8_t *)(w->bufs + nbufs);
    return w;
}

/* TLS: w's plaintext becomes one ciphertext buffer, and the packets it borrowed go back. */
static int write_encrypt(rtsp_conn_t *c, tcp_write_t *w)
{
    if (vg_tls_write(c->tls, w->bufs, w->nbufs) < 0)
        return UV_EPROTO;
    size_t n = vg_tls_take_output(c->tls, &w->cipher);
    vg_frame_unref(&w->pkts);
    w->nbufs = 1;
    w->bufs[0] = uv_buf_init((char *)w->cipher, (unsigned)n);
    return 0;
}

static void write_go(rtsp_conn_t *c, tcp_write_t *w)
{
    w->queued_us = vg_mono_us();
    int rc = c->tls ? write_encrypt(c, w) : 0;
    if (rc < 0) {
        vg_frame_unref(&w->pkts);
        free(w->cipher);
        free(w);
        conn_close(c, "TLS write failed");
        return;
    }
    if (c->w_tail)
        c->w_tail->next = w;
    else
        c->w_head = w;
    c->w_tail = w;
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, w->bufs, (unsigned)w->nbufs, on_written);
    if (rc < 0) { /* never queued: undo and close */
        if (c->w_head == w)
            c->w_head = c->w_tail = NULL;
        vg_frame_unref(&w->pkts);
        free(w->cipher);
        free(w);
        conn_close(c, uv_strerror(rc));
    }
}

static void write_text(rtsp_conn_t *c, const void *text, size_t len)
{
    if (c->is_closing)
        return;
    tcp_write_t *w = write_new(c, 1, 0, len);
    memcpy(w->text, text, len);
    w->bufs[0] = uv_buf_init((char *)w->text, (unsigned)len);
    w->bytes = len;
    write_go(c, w);
}

static void http_date(char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* One response: status line, CSeq, Date, the extra header lines (each ending in CRLF), and a
 * body when given. */
static void respond(rtsp_conn_t *c, long cseq, int status, const char *extra, const char *ctype,
                    const char *body)
{
    char date[64];
    http_date(date, sizeof(date));
    size_t body_len = body ? strlen(body) : 0;
    size_t cap = 512 + (extra ? strlen(extra) : 0) + body_len;
    char *buf = vg_xmalloc(cap);
    int n = snprintf(buf, cap, "RTSP/1.0 %d %s\r\n", status, vg_rtsp_reason(status));
    if (cseq >= 0)
        n += snprintf(buf + n, cap - (size_t)n, "CSeq: %ld\r\n", cseq);
    n += snprintf(buf + n, cap - (size_t)n, "Server: vigil\r\nDate: %s\r\n%s", date,
                  extra ? extra : "");
    if (body)
        n += snprintf(buf + n, cap - (size_t)n, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                      ctype, body_len);
    n += snprintf(buf + n, cap - (size_t)n, "\r\n%s", body ? body : "");
    write_text(c, buf, (size_t)n);
    free(buf);
    if (status == 401 || status == 404)
        c->r->counters.refused++;
}

static void respond_error(rtsp_conn_t *c, long cseq, int status, const char *why)
{
    char extra[320];
    /* RFC 2326 has no body for errors; the reason travels in a header a person can read. */
    snprintf(extra, sizeof(extra), "X-Vigil-Reason: %s\r\n%s", why,
             status == 401 ? "WWW-Authenticate: Basic realm=\"vigil\"\r\n"
             : status == 503 ? "Retry-After: 5\r\n"
                             : "");
    respond(c, cseq, status, extra, NULL, NULL);
}

/* How far behind the reader's socket is: the age of its oldest write in flight. */
static int64_t conn_lag_us(const rtsp_conn_t *c)
{
    return c->w_head ? vg_mono_us() - c->w_head->queued_us : 0;
}

/* ---- sending to readers ---- */

static void send_rtcp_tcp(rtsp_session_t *s, int t, const uint8_t *pkt, size_t len)
{
    tcp_write_t *w = write_new(s->conn, 1, 0, 4 + len);
    w->text[0] = '$';
    w->text[1] = (uint8_t)s->track[t].channels[1];
    w->text[2] = (uint8_t)(len >> 8);
    w->text[3] = (uint8_t)len;
    memcpy(w->text + 4, pkt, len);
    w->bufs[0] = uv_buf_init((char *)w->text, (unsigned)(4 + len));
    w->bytes = 4 + len;
    write_go(s->conn, w);
}

static void send_rtcp(rtsp_session_t *s, int t, const uint8_t *pkt, size_t len)
{
    if (s->is_tcp) {
        send_rtcp_tcp(s, t, pkt, len);
        return;
    }
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&s->conn->r->rtcp_udp, &fd) == 0)
        (void)sendto(fd, pkt, len, MSG_DONTWAIT, (const struct sockaddr *)&s->track[t].rtcp_to,
                     s->to_len);
}

/* A sender report for track t (and BYE when the stream ends for this reader). */
static void send_report(rtsp_session_t *s, int t, int64_t capture_us, uint32_t rtp_ts,
                        bool with_bye)
{
    rtsp_track_t *tr = &s->track[t];
    uint32_t ssrc = t == TRACK_AUDIO ? s->cam->ssrc_audio : s->cam->ssrc;
    uint8_t buf[VG_RTCP_SR_MAX + VG_RTCP_BYE_LEN];
    int n = vg_rtp_sender_report(ssrc, capture_us, rtp_ts, tr->packets, tr->octets, "vigil", buf,
                                 sizeof(buf));
    if (n < 0)
        return;
    if (with_bye) {
        int b = vg_rtp_bye(ssrc, buf + n, sizeof(buf) - (size_t)n);
        if (b > 0)
            n += b;
    }
    send_rtcp(s, t, buf, (size_t)n);
    tr->last_sr_us = vg_mono_us();
}

/* The end of the stream for this reader: a sender report and BYE on each of its tracks. */
static void send_byes(rtsp_session_t *s)
{
    rtsp_cam_t *cam = s->cam;
    int64_t now = vg_wall_us();
    if (s->track[TRACK_VIDEO].is_set)
        send_report(s, TRACK_VIDEO, now, vg_rtp_timestamp(now, cam->base_us, cam->base_ts), true);
    if (s->track[TRACK_AUDIO].is_set && cam->pk_audio)
        send_report(s, TRACK_AUDIO, now,
                    vg_rtp_timestamp_hz(now, cam->base_us_audio, cam->base_ts_audio,
                                        (uint32_t)cam->audio.sample_rate),
                    true);
}

static size_t send_tcp(rtsp_session_t *s, int t, vg_frame_t *f, const rtp_au_t *au)
{
    tcp_write_t *w = write_new(s->conn, 2 * au->n, au->n, 0);
    for (size_t i = 0; i < au->n; i++) {
        uint8_t *h = w->hdrs + 4 * i;
        size_t len = au->pkts[i]->len;
        h[0] = '$';
        h[1] = (uint8_t)s->track[t].channels[0];
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        w->bufs[2 * i] = uv_buf_init((char *)h, 4);
        w->bufs[2 * i + 1] = uv_buf_init((char *)au->pkts[i]->data, (unsigned)len);
    }
    w->pkts = vg_frame_ref(f->derived);
    w->bytes = au->bytes + 4 * au->n;
    write_go(s->conn, w);
    return w->bytes;
}

/* One sendmmsg per batch; what the socket refuses is dropped. Returns the bytes sent. */
static size_t send_udp(rtsp_session_t *s, int t, const rtp_au_t *au)
{
    vg_rtsp_t *r = s->conn->r;
    struct mmsghdr msgs[MMSG_BATCH];
    struct iovec iov[MMSG_BATCH];
    size_t sent_bytes = 0;
    for (size_t i = 0; i < au->n;) {
        size_t batch = au->n - i < MMSG_BATCH ? au->n - i : MMSG_BATCH;
        for (size_t k = 0; k < batch; k++) {
            iov[k] = (struct iovec){au->pkts[i + k]->data, au->pkts[i + k]->len};
            msgs[k] = (struct mmsghdr){.msg_hdr = {.msg_name = &s->track[t].rtp_to,
                                                   .msg_namelen = s->to_len,
                                                   .msg_iov = &iov[k],
                                                   .msg_iovlen = 1}};
        }
        uv_os_fd_t fd;
        int n = uv_fileno((uv_handle_t *)&r->rtp_udp, &fd) == 0
                    ? sendmmsg(fd, msgs, (unsigned)batch, MSG_DONTWAIT)
                    : -1;
        size_t ok = n > 0 ? (size_t)n : 0;
        for (size_t k = 0; k < ok; k++)
            sent_bytes += iov[k].iov_len;
        if (ok < batch) {
            r->counters.udp_drops += au->n - i - ok;
            vg__viewer_dropped(&s->base);
            break;
        }
        i += batch;
    }
    return sent_bytes;
}

static int max_lag_ms(const vg_rtsp_t *r)
{
    return r->cfg.max_lag_ms > 0 ? r->cfg.max_lag_ms : VG_SOURCE_MAX_LAG_MS_DEFAULT;
}

static size_t max_lag_bytes(const vg_rtsp_t *r)
{
    return r->cfg.max_lag_bytes > 0 ? r->cfg.max_lag_bytes : VG_SOURCE_MAX_LAG_BYTES_DEFAULT;
}

static const rtp_au_t *cam_touch(rtsp_cam_t *cam, vg_frame_t *f);
static const rtp_au_t *cam_touch_audio(rtsp_cam_t *cam, vg_frame_t *f);

/* Sends an access unit's packets on track t; counts them. */
static void send_au(rtsp_session_t *s, int t, vg_frame_t *f, const rtp_au_t *au)
{
    rtsp_conn_t *c = s->conn;
    size_t bytes = s->is_tcp ? send_tcp(s, t, f, au) : send_udp(s, t, au);
    rtsp_track_t *tr = &s->track[t];
    tr->packets += (uint32_t)au->n;
    tr->octets += (uint32_t)(au->bytes - au->n * VG_RTP_HEADER_LEN);
    c->r->counters.packets += au->n;
    c->r->counters.bytes += bytes;
    if (t == TRACK_VIDEO)
        vg__viewer_sent(&s->base, f, bytes);
    if (tr->last_sr_us == 0 || vg_mono_us() - tr->last_sr_us >= SR_EVERY_US)
        send_report(s, t, f->meta.capture_us, au->rtp_ts, false);
}

static bool conn_is_lagging(const rtsp_conn_t *c, size_t more)
{
    const vg_rtsp_t *r = c->r;
    size_t queued = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    return queued + more > max_lag_bytes(r) || conn_lag_us(c) > max_lag_ms(r) * 1000LL;
}

static void reader_on_frame(vg_consumer_t *cons, vg_frame_t *f)
{
    rtsp_session_t *s = cons->user;
    rtsp_conn_t *c = s->conn;
    if (c->is_closing || !s->is_playing)
        return;
    vg__viewer_offered(&s->base);
    const rtp_au_t *au = cam_touch(s->cam, f);
    if (au == NULL || au->n == 0 || au->gen != s->cam->gen)
        return;
    if (s->is_waiting_key && !f->meta.is_key)
        return;
    if (!s->track[TRACK_VIDEO].is_set)
        return;
    if (s->is_tcp && conn_is_lagging(c, au->bytes)) {
        if (!s->is_waiting_key)
            vg__viewer_skipped(&s->base); /* what is queued is sent; then the next key */
        s->is_waiting_key = true;
        return;
    }
    s->is_waiting_key = false;
    s->has_video_started = true;
    send_au(s, TRACK_VIDEO, f, au);
}

static void reader_on_audio(vg_consumer_t *cons, vg_frame_t *f)
{
    rtsp_session_t *s = cons->user;
    rtsp_conn_t *c = s->conn;
    if (c->is_closing || !s->is_playing || !s->track[TRACK_AUDIO].is_set ||
        (s->track[TRACK_VIDEO].is_set && (!s->has_video_started || s->is_waiting_key)))
        return;
    const rtp_au_t *au = cam_touch_audio(s->cam, f);
    if (au == NULL || au->n == 0 || au->gen != s->cam->gen_audio)
        return;
    if (s->is_tcp && conn_is_lagging(c, au->bytes))
        return; /* the video's skip follows; audio alone is not worth a queue */
    send_au(s, TRACK_AUDIO, f, au);
}

static void reader_on_removed(vg_consumer_t *cons, const char *reason)
{
    rtsp_session_t *s = cons->user;
    vg__viewer_stream_removed(&s->base);
    s->is_registered = false;
    s->is_playing = false;
    conn_close(s->conn, reason);
}

static const vg_consumer_ops_t reader_ops = {
    .on_frame = reader_on_frame, .on_audio = reader_on_audio, .on_removed = reader_on_removed};

/* ---- sessions ---- */

static void session_stop_playing(rtsp_session_t *s)
{
    if (s->is_registered) {
        vg__viewer_remove(&s->base);
        s->is_registered = false;
    }
    s->is_playing = false;
}

static void session_free(rtsp_session_t *s, const char *why)
{
    vg_rtsp_t *r = s->conn->r;
    session_stop_playing(s);
    r->cfg.gate.audit(r->cfg.gate.user, s->principal, s->conn->peer, "rtsp.end", s->cam->camera,
                      "ok", why);
    r->cfg.gate.release(r->cfg.gate.user, s->principal);
    r->counters.sessions--;
    free(s);
}

/* ---- cameras ---- */

static void answer_describe(rtsp_conn_t *c);
static void held_answer_error(rtsp_conn_t *c, int status, const char *why);

static void cam_wake(rtsp_cam_t *cam)
{
    for (rtsp_conn_t *c = cam->r->conns; c; c = c->next) {
        if (c->cam != cam || !c->is_held || c->is_closing)
            continue;
        if (cam->st == NULL)
            held_answer_error(c, 404, "the camera was removed");
        else if (cam->is_unsupported)
            held_answer_error(c, 415, "the camera's video is not H.264 or H.265");
        else if (vg_h26x_params_complete(&cam->ps))
            answer_describe(c);
    }
}

/* The camera's parameters changed under readers that were told others: they end cleanly
 * (RTCP BYE, then the connection closes) and re-DESCRIBE. */
static void cam_end_readers(rtsp_cam_t *cam, const char *why)
{
    for (rtsp_conn_t *c = cam->r->conns; c; c = c->next) {
        if (c->cam != cam || c->is_closing)
            continue;
        if (c->session && c->session->is_playing)
            send_byes(c->session);
        conn_close_flushed(c, why);
    }
}

/* Packetizes f for the camera's readers unless that was done: whichever of the camera's
 * consumers the hub calls first for an access unit (the hub calls the newest first) does it,
 * so packets are made once per access unit and in order. Returns its packets, or NULL. */
static const rtp_au_t *cam_touch(rtsp_cam_t *cam, vg_frame_t *f)
{
    const rtp_au_t *had = au_packets(f);
    if (had && had->gen == cam->gen)
        return had;
    vg_codec_t codec = f->meta.codec;
    if (codec != VG_CODEC_H264 && codec != VG_CODEC_H265) {
        if (!cam->is_unsupported)
            VG_LOG_INFO("rtsp", "camera=%s sends no H.264/H.265: no RTSP", cam->camera);
        cam->is_unsupported = true;
        cam_wake(cam);
        return NULL;
    }
    cam->is_unsupported = false;
    bool was_complete = vg_h26x_params_complete(&cam->ps);
    if (f->meta.is_key) {
        if (cam->ps.codec != codec) {
            memset(&cam->ps, 0, sizeof(cam->ps));
            cam->ps.codec = codec;
        }
        (void)vg_h26x_params_update(&cam->ps, f->data, f->len);
        if (cam->announced.codec != VG_CODEC_NONE && vg_h26x_params_complete(&cam->ps) &&
            !same_stream_params(&cam->ps, &cam->announced)) {
            VG_LOG_INFO("rtsp", "camera=%s changed its video parameters: readers end and "
                        "DESCRIBE again", cam->camera);
            cam_end_readers(cam, "the camera's video parameters changed");
            cam->announced.codec = VG_CODEC_NONE;
        }
    }
    if (cam->pk == NULL || cam->codec != codec)
        cam_new_packetizer(cam, codec, f->meta.capture_us);
    had = au_packets(f);
    if (cam->pk && (had == NULL || had->gen != cam->gen)) {
        /* Packets of an earlier packetizer (a camera's RTSP state started again while the
         * access unit stayed in the GOP cache) are dropped here; writes in flight hold their
         * own reference. */
        vg_frame_unref(&f->derived);
        rtp_au_t *au = vg_xcalloc(1, sizeof(*au));
        au->gen = cam->gen;
        au->rtp_ts = vg_rtp_timestamp(f->meta.capture_us, cam->base_us, cam->base_ts);
        /* Each access unit's timestamp must come after the last one's. capture_us can step
         * back once, when the camera's first RTCP sender report replaces arrival times with
         * its own clock (bench/rtsp_glass.py saw 2-31 ms on every cold start), and readers
         * then see non-monotonic DTS: keep the order, a tick apart. */
        if (cam->has_last_ts && (int32_t)(au->rtp_ts - cam->last_ts) <= 0)
            au->rtp_ts = cam->last_ts + 1;
        cam->last_ts = au->rtp_ts;
        cam->has_last_ts = true;
        uint16_t first_seq = vg_rtp_packetizer_next_seq(cam->pk);
        if (vg_rtp_packetize(cam->pk, f, au->rtp_ts, &au->pkts, &au->n) < 0)
            au->n = 0;
        for (size_t i = 0; i < au->n; i++)
            au->bytes += au->pkts[i]->len;
        f->derived = vg_frame_wrap(NULL, 0, rtp_au_release, au);
        if (f->meta.is_key && au->n) {
            cam->has_key = true;
            cam->key_seq = first_seq;
            cam->key_ts = au->rtp_ts;
        }
    }
    if (!was_complete && vg_h26x_params_complete(&cam->ps))
        cam_wake(cam);
    return au_packets(f);
}

static void cam_on_frame(vg_consumer_t *cons, vg_frame_t *f) { (void)cam_touch(cons->user, f); }

/* The same for an AAC frame: one packetizer per camera at the sample rate announced. */
static const rtp_au_t *cam_touch_audio(rtsp_cam_t *cam, vg_frame_t *f)
{
    const rtp_au_t *had = au_packets(f);
    if (had && had->gen == cam->gen_audio)
        return had;
    if (!cam->has_audio || f->meta.codec != VG_CODEC_AAC)
        return NULL;
    vg_frame_unref(&f->derived);
    rtp_au_t *au = vg_xcalloc(1, sizeof(*au));
    au->gen = cam->gen_audio;
    au->rtp_ts = vg_rtp_timestamp_hz(f->meta.capture_us, cam->base_us_audio, cam->base_ts_audio,
                                     (uint32_t)cam->audio.sample_rate);
    if (vg_rtp_packetize(cam->pk_audio, f, au->rtp_ts, &au->pkts, &au->n) < 0)
        au->n = 0;
    for (size_t i = 0; i < au->n; i++)
        au->bytes += au->pkts[i]->len;
    f->derived = vg_frame_wrap(NULL, 0, rtp_au_release, au);
    return au;
}

static void cam_on_codec(vg_consumer_t *cons)
{
    rtsp_cam_t *cam = cons->user;
    vg_stream_codec_t sc;
    vg_stream_codec(cons->stream, &sc);
    cam->is_unsupported = sc.codec != VG_CODEC_NONE && sc.codec != VG_CODEC_H264 &&
                          sc.codec != VG_CODEC_H265;
    if (cam->is_unsupported)
        cam_wake(cam);
}

static void cam_on_removed(vg_consumer_t *cons, const char *reason)
{
    rtsp_cam_t *cam = cons->user;
    cam->st = NULL;
    cam_wake(cam); /* held DESCRIBEs: 404 */
    for (rtsp_conn_t *c = cam->r->conns; c; c = c->next) {
        if (c->cam == cam && !c->is_closing)
            conn_close(c, reason);
    }
}

static const vg_consumer_ops_t cam_ops = {
    .on_frame = cam_on_frame, .on_codec = cam_on_codec, .on_removed = cam_on_removed};

static rtsp_cam_t *cam_use(vg_rtsp_t *r, vg_stream_t *st)
{
    rtsp_cam_t *cam;
    for (cam = r->cams; cam; cam = cam->next) {
        if (cam->st == st)
            break;
    }
    if (cam == NULL) {
        cam = vg_xcalloc(1, sizeof(*cam));
        cam->r = r;
        cam->st = st;
        cam->camera = vg_xstrdup(vg_stream_id(st));
        cam->cons.ops = &cam_ops;
        cam->cons.user = cam;
        cam->next = r->cams;
        r->cams = cam;
        vg_stream_attach(st, &cam->cons, VG_TIER_SOURCE); /* may packetize the GOP cache */
        cam_on_codec(&cam->cons);
    }
    cam->users++;
    return cam;
}

static void cam_release(rtsp_cam_t *cam)
{
    if (cam == NULL || --cam->users > 0)
        return;
    vg_rtsp_t *r = cam->r;
    for (rtsp_cam_t **p = &r->cams; *p; p = &(*p)->next) {
        if (*p == cam) {
            *p = cam->next;
            break;
        }
    }
    vg_stream_detach(&cam->cons);
    vg_rtp_packetizer_free(&cam->pk);
    vg_rtp_packetizer_free(&cam->pk_audio);
    free(cam->camera);
    free(cam);
}

/* ---- requests ---- */

static void held_clear(rtsp_conn_t *c)
{
    if (!c->is_held)
        return;
    c->is_held = false;
    uv_timer_stop(&c->held_timer);
    free(c->held_base);
    free(c->held_query);
    c->held_base = c->held_query = NULL;
}

static void conn_process(rtsp_conn_t *c);

static void on_resume(uv_timer_t *t)
{
    rtsp_conn_t *c = t->data;
    if (!c->is_closing && !c->is_held)
        conn_process(c);
}

/* What was pipelined behind a held request is handled on the next loop pass: the answer may
 * come from inside conn_process (a camera already known), which must not run twice at once. */
static void resume_soon(rtsp_conn_t *c)
{
    if (!c->is_closing)
        uv_timer_start(&c->held_timer, on_resume, 0, 0);
}

static void held_answer_error(rtsp_conn_t *c, int status, const char *why)
{
    long cseq = c->held_cseq;
    held_clear(c);
    respond_error(c, cseq, status, why);
    resume_soon(c);
}

/* Whether the camera passes on AAC, read when a DESCRIBE is answered; the audio's SSRC is
 * drawn then, as SETUP names it before any audio is packetized. */
static void cam_audio_prepare(rtsp_cam_t *cam)
{
    if (cam->has_audio || cam->st == NULL)
        return;
    if (vg_stream_audio(cam->st, &cam->audio) < 0 || cam->audio.sample_rate <= 0)
        return;
    uint16_t seq;
    randombytes_buf(&seq, sizeof(seq));
    cam->ssrc_audio = randombytes_random();
    cam->base_ts_audio = randombytes_random();
    cam->base_us_audio = vg_wall_us();
    vg_rtp_cfg_t cfg = {.codec = VG_CODEC_AAC, .payload_type = AUDIO_PAYLOAD_TYPE,
                        .ssrc = cam->ssrc_audio, .first_seq = seq};
    if (vg_rtp_packetizer_new(&cfg, &cam->pk_audio) < 0)
        return;
    cam->gen_audio = ++cam->r->next_gen;
    cam->has_audio = true;
}

static void answer_describe(rtsp_conn_t *c)
{
    rtsp_cam_t *cam = c->cam;
    char media[4096];
    char control[1024];
    snprintf(control, sizeof(control), "%strackID=0%s%s", c->held_base,
             c->held_query[0] ? "?" : "", c->held_query);
    int n = vg_rtp_sdp_media(&cam->ps, PAYLOAD_TYPE, 0, control, media, sizeof(media));
    if (n < 0) {
        held_answer_error(c, 500, "the camera's parameter sets do not fit an SDP");
        return;
    }
    cam->announced = cam->ps;
    cam_audio_prepare(cam);
    if (cam->has_audio) {
        char audio[1024];
        snprintf(control, sizeof(control), "%strackID=1%s%s", c->held_base,
                 c->held_query[0] ? "?" : "", c->held_query);
        int an = vg_rtp_sdp_aac(&cam->audio, AUDIO_PAYLOAD_TYPE, 0, control, audio,
                                sizeof(audio));
        if (an > 0 && (size_t)n + (size_t)an < sizeof(media))
            memcpy(media + n, audio, (size_t)an + 1);
    }
    const char *family = strchr(c->local_ip, ':') ? "IP6" : "IP4";
    char sdp[4096 + 1024];
    snprintf(sdp, sizeof(sdp),
             "v=0\r\n"
             "o=- %" PRIu32 " 1 IN %s %s\r\n"
             "s=%s\r\n"
             "c=IN %s %s\r\n"
             "t=0 0\r\n"
             "a=tool:vigil\r\n"
             "a=range:npt=now-\r\n"
             "a=control:*\r\n"
             "%s",
             cam->ssrc, family, c->local_ip, vg_stream_name(cam->st), family,
             family[2] == '6' ? "::" : "0.0.0.0", media);
    char extra[1200];
    snprintf(extra, sizeof(extra), "Content-Base: %s\r\nCache-Control: no-cache\r\n",
             c->held_base);
    long cseq = c->held_cseq;
    held_clear(c);
    respond(c, cseq, 200, extra, "application/sdp", sdp);
    resume_soon(c);
}

static void on_held_timeout(uv_timer_t *t)
{
    rtsp_conn_t *c = t->data;
    if (c->is_held)
        held_answer_error(c, 503, "the camera is not live yet; try again");
}

/* The credential a request carries: the Basic password, else ?token=. */
static void credential_of(const vg_rtsp_request_t *req, const vg_rtsp_target_t *t, char *out,
                          size_t cap)
{
    out[0] = '\0';
    if (vg_rtsp_basic_password(vg_rtsp_header(req, "Authorization"), out, cap) > 0)
        return;
    if (vg_query_get(t->query, "token", out, cap) < 0)
        out[0] = '\0';
}

/* Admits the caller of req for the camera it names: 0 with the stream and the principal, or
 * answered already (< 0). */
static int admit(rtsp_conn_t *c, const vg_rtsp_request_t *req, const vg_rtsp_target_t *t,
                 vg_stream_t **st, void **principal)
{
    vg_rtsp_t *r = c->r;
    char cred[CREDENTIAL_MAX];
    credential_of(req, t, cred, sizeof(cred));
    int status = r->cfg.gate.admit(r->cfg.gate.user, cred, t->camera, principal);
    sodium_memzero(cred, sizeof(cred));
    if (status == 0 && (*st = vg_hub_find(r->cfg.hub, t->camera)) == NULL) {
        r->cfg.gate.release(r->cfg.gate.user, *principal);
        *principal = NULL;
        status = 404;
    }
    if (status == 401) {
        respond_error(c, req->cseq, 401, "a key or stream token is needed (Basic password "
                      "or ?token=)");
        return -1;
    }
    if (status != 0) {
        respond_error(c, req->cseq, 404, "no such camera");
        return -1;
    }
    char why[200];
    if (vg_stream_admit(*st, why, sizeof(why)) < 0) { /* a reader starts the camera too */
        r->cfg.gate.release(r->cfg.gate.user, *principal);
        *principal = NULL;
        respond_error(c, req->cseq, 503, why);
        return -1;
    }
    return 0;
}

static void conn_set_cam(rtsp_conn_t *c, rtsp_cam_t *cam)
{
    if (c->cam == cam) {
        cam_release(cam); /* cam_use counted it again */
        return;
    }
    cam_release(c->cam);
    c->cam = cam;
}

/* The Content-Base: the request URI without its query, ending in '/'. */
static char *base_of(const char *uri)
{
    size_t n = strcspn(uri, "?");
    char *b = vg_xmalloc(n + 2);
    memcpy(b, uri, n);
    b[n] = '\0';
    if (n == 0 || b[n - 1] != '/')
        strcat(b, "/");
    return b;
}

static void on_describe(rtsp_conn_t *c, const vg_rtsp_request_t *req)
{
    vg_rtsp_target_t t;
    if (vg_rtsp_target_parse(req->uri, &t) < 0 || t.track[0]) {
        respond_error(c, req->cseq, 404, "no such camera (rtsp://HOST:PORT/cameras/ID)");
        return;
    }
    vg_stream_t *st;
    void *principal;
    if (admit(c, req, &t, &st, &principal) < 0)
        return;
    c->r->cfg.gate.release(c->r->cfg.gate.user, principal);
    if (c->session && strcmp(c->session->cam->camera, t.camera) != 0) {
        respond_error(c, req->cseq, 459, "this connection's session reads another camera");
        return;
    }
    conn_set_cam(c, cam_use(c->r, st));
    c->is_held = true;
    c->held_cseq = req->cseq;
    c->held_base = base_of(req->uri);
    c->held_query = vg_xstrdup(t.query);
    int wait_ms = c->r->cfg.describe_wait_ms > 0 ? c->r->cfg.describe_wait_ms
                                                 : DESCRIBE_WAIT_MS_DEFAULT;
    uv_timer_start(&c->held_timer, on_held_timeout, (uint64_t)wait_ms, 0);
    cam_wake(c->cam); /* answers at once when the parameters are known */
}

static int session_check(rtsp_conn_t *c, const vg_rtsp_request_t *req)
{
    const char *sid = vg_rtsp_header(req, "Session");
    if (sid == NULL) {
        respond_error(c, req->cseq, 454, "no Session header");
        return -1;
    }
    size_t n = strcspn(sid, "; ");
    if (c->session == NULL || n != strlen(c->session->id) ||
        strncmp(sid, c->session->id, n) != 0) {
        respond_error(c, req->cseq, 454, "no such session on this connection");
        return -1;
    }
    c->session->last_seen_us = vg_mono_us();
    return 0;
}

static void on_setup(rtsp_conn_t *c, const vg_rtsp_request_t *req)
{
    vg_rtsp_t *r = c->r;
    vg_rtsp_target_t t;
    if (vg_rtsp_target_parse(req->uri, &t) < 0 ||
        (t.track[0] && strcmp(t.track, "trackID=0") != 0 && strcmp(t.track, "trackID=1") != 0)) {
        respond_error(c, req->cseq, 404, "no such camera or track");
        return;
    }
    int ti = strcmp(t.track, "trackID=1") == 0 ? TRACK_AUDIO : TRACK_VIDEO;
    vg_rtsp_transport_t tr;
    int trc = vg_rtsp_transport_parse(vg_rtsp_header(req, "Transport"), &tr);
    if (trc == VG_EINVAL) {
        respond_error(c, req->cseq, 400, "a malformed or missing Transport header");
        return;
    }
    if (trc < 0) {
        respond_error(c, req->cseq, 461, "vigil sends RTP/AVP over unicast UDP (client_port) "
                      "or RTP/AVP/TCP (interleaved)");
        return;
    }
    if (vg_rtsp_header(req, "Session")) {
        if (session_check(c, req) < 0)
            return;
        if (strcmp(c->session->cam->camera, t.camera) != 0) {
            respond_error(c, req->cseq, 459, "a session reads one camera");
            return;
        }
        if (tr.is_tcp != c->session->is_tcp) {
            respond_error(c, req->cseq, 461, "the tracks of a session share one transport");
            return;
        }
        /* RFC 2326 10.4 lets a server refuse to change transports while playing. */
        if (c->session->is_playing) {
            respond_error(c, req->cseq, 455, "SETUP while playing: PAUSE first");
            return;
        }
        /* The other track, or the same one again (a new transport for it). */
    } else if (c->session) {
        respond_error(c, req->cseq, 459, "this connection has a session; send its Session");
        return;
    }
    vg_stream_t *st;
    void *principal;
    if (admit(c, req, &t, &st, &principal) < 0)
        return;
    if (ti == TRACK_AUDIO && (c->cam == NULL || c->cam->st != st || !c->cam->has_audio)) {
        r->cfg.gate.release(r->cfg.gate.user, principal);
        respond_error(c, req->cseq, 404, "this camera has no audio track (DESCRIBE first)");
        return;
    }
    rtsp_session_t *s = c->session;
    bool is_new = s == NULL;
    if (is_new) {
        s = vg_xcalloc(1, sizeof(*s));
        s->conn = c;
        uint8_t raw[8];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(s->id, sizeof(s->id), raw, sizeof(raw));
        conn_set_cam(c, cam_use(r, st));
        s->cam = c->cam;
        s->principal = principal;
        s->base.cons.ops = &reader_ops;
        s->base.cons.user = s;
        s->base.peer = c->peer;
        r->counters.sessions++;
        r->counters.sessions_total++;
        c->session = s;
    } else {
        r->cfg.gate.release(r->cfg.gate.user, s->principal);
        s->principal = principal;
        session_stop_playing(s);
    }
    s->last_seen_us = vg_mono_us();
    s->is_tcp = tr.is_tcp;
    rtsp_track_t *track = &s->track[ti];
    track->is_set = true;
    uint32_t ssrc = ti == TRACK_AUDIO ? c->cam->ssrc_audio : c->cam->ssrc;
    char transport[256];
    if (tr.is_tcp) {
        track->channels[0] = tr.channels[0] >= 0 ? tr.channels[0] : 2 * ti;
        track->channels[1] = tr.channels[0] >= 0 ? tr.channels[1] : 2 * ti + 1;
        snprintf(transport, sizeof(transport),
                 "RTP/AVP/TCP;unicast;interleaved=%d-%d;ssrc=%08" PRIX32, track->channels[0],
                 track->channels[1], ssrc);
        s->base.transport = "tcp";
    } else {
        s->to_len = c->peer_addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in);
        memcpy(&track->rtp_to, &c->peer_addr, s->to_len);
        memcpy(&track->rtcp_to, &c->peer_addr, s->to_len);
        uint16_t rtp = htons((uint16_t)tr.client_ports[0]);
        uint16_t rtcp = htons((uint16_t)tr.client_ports[1]);
        if (c->peer_addr.ss_family == AF_INET6) {
            ((struct sockaddr_in6 *)&track->rtp_to)->sin6_port = rtp;
            ((struct sockaddr_in6 *)&track->rtcp_to)->sin6_port = rtcp;
        } else {
            ((struct sockaddr_in *)&track->rtp_to)->sin_port = rtp;
            ((struct sockaddr_in *)&track->rtcp_to)->sin_port = rtcp;
        }
        snprintf(transport, sizeof(transport),
                 "RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d;ssrc=%08" PRIX32,
                 tr.client_ports[0], tr.client_ports[1], r->rtp_port, r->rtcp_port, ssrc);
        s->base.transport = "udp";
    }
    char extra[512];
    int timeout = r->cfg.session_timeout_s > 0 ? r->cfg.session_timeout_s
                                               : SESSION_TIMEOUT_S_DEFAULT;
    snprintf(extra, sizeof(extra), "Transport: %s\r\nSession: %s;timeout=%d\r\n", transport,
             s->id, timeout);
    respond(c, req->cseq, 200, extra, NULL, NULL);
    if (is_new)
        r->cfg.gate.audit(r->cfg.gate.user, s->principal, c->peer, "rtsp.session", t.camera,
                          "ok", s->is_tcp ? "tcp" : "udp");
}

static void on_play(rtsp_conn_t *c, const vg_rtsp_request_t *req)
{
    if (session_check(c, req) < 0)
        return;
    rtsp_session_t *s = c->session;
    rtsp_cam_t *cam = s->cam;
    if (cam->st == NULL) {
        respond_error(c, req->cseq, 404, "the camera was removed");
        return;
    }
    char extra[1200] = "Range: npt=now-\r\n";
    if (cam->has_key && !s->is_playing) {
        char *base = base_of(req->uri);
        /* The reader starts at the latest keyframe: its first packet and timestamp. */
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
                 "RTP-Info: url=%strackID=0;seq=%u;rtptime=%" PRIu32 "\r\n", base,
                 (unsigned)cam->key_seq, cam->key_ts);
        free(base);
    }
    respond(c, req->cseq, 200, extra, NULL, NULL);
    if (s->is_playing)
        return;
    s->is_playing = true;
    s->is_waiting_key = false;
    s->has_video_started = false;
    s->base.st = cam->st;
    s->is_registered = true;
    vg__viewer_add(c->r->cfg.outputs, &s->base, "rtsp", VG_TIER_SOURCE); /* GOP cache now */
}

static void conn_handle(rtsp_conn_t *c, const vg_rtsp_request_t *req)
{
    vg_rtsp_t *r = c->r;
    r->counters.requests++;
    if (req->cseq < 0) {
        respond_error(c, -1, 400, "no CSeq");
        return;
    }
    const char *m = req->method;
    if (strcmp(m, "OPTIONS") == 0) {
        respond(c, req->cseq, 200,
                "Public: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, "
                "SET_PARAMETER\r\n",
                NULL, NULL);
    } else if (strcmp(m, "DESCRIBE") == 0) {
        on_describe(c, req);
    } else if (strcmp(m, "SETUP") == 0) {
        on_setup(c, req);
    } else if (strcmp(m, "PLAY") == 0) {
        on_play(c, req);
    } else if (strcmp(m, "PAUSE") == 0) {
        if (session_check(c, req) == 0) {
            session_stop_playing(c->session);
            respond(c, req->cseq, 200, NULL, NULL, NULL);
        }
    } else if (strcmp(m, "TEARDOWN") == 0) {
        if (session_check(c, req) == 0) {
            respond(c, req->cseq, 200, NULL, NULL, NULL);
            session_free(c->session, "teardown");
            c->session = NULL;
        }
    } else if (strcmp(m, "GET_PARAMETER") == 0 || strcmp(m, "SET_PARAMETER") == 0) {
        /* Keep-alives. A request without Session is a ping of the connection. */
        if (vg_rtsp_header(req, "Session") && session_check(c, req) < 0)
            return;
        if (m[0] == 'S' && req->body_len > 0)
            respond_error(c, req->cseq, 451, "vigil has no parameters to set");
        else
            respond(c, req->cseq, 200, NULL, NULL, NULL);
    } else if (strcmp(m, "ANNOUNCE") == 0 || strcmp(m, "RECORD") == 0 ||
               strcmp(m, "REDIRECT") == 0) {
        respond(c, req->cseq, 405,
                "Allow: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, "
                "SET_PARAMETER\r\n",
                NULL, NULL);
    } else {
        respond_error(c, req->cseq, 501, "unknown method");
    }
}

/* Handles what the buffer holds, until a request is held or more bytes are needed. */
static void conn_process(rtsp_conn_t *c)
{
    static vg_rtsp_request_t req; /* loop thread only; 12 KiB kept off the stack */
    size_t off = 0;
    while (!c->is_closing && !c->is_held && off < c->rlen) {
        vg_rtsp_parsed_t p = vg_rtsp_parse(c->rbuf + off, c->rlen - off, &req);
        if (p.kind == VG_RTSP_BAD) {
            VG_LOG_INFO("rtsp", "peer=%s bad request: %s", c->peer, p.why);
            respond_error(c, -1, p.status, p.why);
            conn_close_flushed(c, p.why);
            break;
        }
        off += p.consumed;
        if (p.kind == VG_RTSP_NEED_MORE)
            break;
        if (p.kind == VG_RTSP_INTERLEAVED) { /* an RTCP report over TCP: the reader lives */
            if (c->session)
                c->session->last_seen_us = vg_mono_us();
            continue;
        }
        c->last_request_us = vg_mono_us();
        conn_handle(c, &req);
    }
    if (off && !c->is_closing) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
        c->partial_since_us = 0;
    }
    if (c->rlen > 0 && c->partial_since_us == 0)
        c->partial_since_us = vg_mono_us();
}

/* ---- connections ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    rtsp_conn_t *c = h->data;
    if (c->rbuf == NULL)
        c->rbuf = vg_xmalloc(READ_MAX);
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(READ_MAX - c->rlen));
}

/* Sends what the TLS session has for the peer (handshake records, alerts). */
static void tls_flush(rtsp_conn_t *c)
{
    uint8_t *cipher;
    size_t n = vg_tls_take_output(c->tls, &cipher);
    if (n == 0 || c->is_closing) {
        free(cipher);
        return;
    }
    tcp_write_t *w = write_new(c, 1, 0, 0);
    w->cipher = cipher;
    w->bufs[0] = uv_buf_init((char *)cipher, (unsigned)n);
    w->queued_us = vg_mono_us();
    if (c->w_tail)
        c->w_tail->next = w;
    else
        c->w_head = w;
    c->w_tail = w;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, w->bufs, 1, on_written);
    if (rc < 0) {
        if (c->w_head == w)
            c->w_head = c->w_tail = NULL;
        free(w->cipher);
        free(w);
        conn_close(c, uv_strerror(rc));
    }
}

/* rtsps://: the n ciphertext bytes just read (at rbuf + rlen) become plaintext in rbuf. */
static bool tls_read(rtsp_conn_t *c, size_t n)
{
    static uint8_t cipher[READ_MAX]; /* loop thread only */
    memcpy(cipher, c->rbuf + c->rlen, n);
    size_t plain = 0;
    char err[256];
    int rc = vg_tls_feed(c->tls, cipher, n, c->rbuf + c->rlen, READ_MAX - c->rlen, &plain, err,
                         sizeof(err));
    c->rlen += plain;
    tls_flush(c);
    if (rc != 0) {
        if (rc < 0)
            VG_LOG_INFO("rtsp", "peer=%s %s", c->peer, err);
        conn_close_flushed(c, rc > 0 ? "TLS closed by the reader" : err);
        return false;
    }
    return true;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    rtsp_conn_t *c = stream->data;
    if (n < 0) {
        conn_close(c, n == UV_EOF ? "closed by the reader" : uv_strerror((int)n));
        return;
    }
    if (!c->is_sniffed && n > 0) {
        c->is_sniffed = true;
        if (c->r->tls && vg_tls_is_client_hello(c->rbuf + c->rlen, (size_t)n)) {
            c->tls = vg_tls_new(c->r->tls);
            if (c->tls == NULL) {
                conn_close(c, "out of memory for TLS");
                return;
            }
        }
    }
    if (c->tls) {
        if (!tls_read(c, (size_t)n))
            return;
    } else {
        c->rlen += (size_t)n;
    }
    conn_process(c);
    if (!c->is_closing && c->rlen == READ_MAX) /* a held DESCRIBE and a flood behind it */
        conn_close(c, "too much sent ahead of an answer");
}

static void on_conn_closed(uv_handle_t *h)
{
    rtsp_conn_t *c = h->data;
    if (--c->open_handles > 0)
        return;
    vg_rtsp_t *r = c->r;
    if (c->session)
        session_free(c->session, "connection closed");
    cam_release(c->cam);
    held_clear(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->rbuf);
    vg_tls_free(c->tls);
    free(c);
    rtsp_release(r);
}

static void conn_close_now(rtsp_conn_t *c)
{
    if (c->is_closed)
        return;
    c->is_closed = true;
    uv_timer_stop(&c->held_timer);
    uv_close((uv_handle_t *)&c->held_timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void conn_mark_closing(rtsp_conn_t *c, const char *why)
{
    c->is_closing = true;
    VG_LOG_DEBUG("rtsp", "peer=%s closing: %s", c->peer, why);
    if (c->session)
        c->session->is_playing = false; /* sends nothing more; detached once closed */
    held_clear(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
}

static void conn_close(rtsp_conn_t *c, const char *why)
{
    if (!c->is_closing)
        conn_mark_closing(c, why);
    conn_close_now(c);
}

static void on_flushed(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close_now(req->data);
}

static void on_flush_timeout(uv_timer_t *t) { conn_close_now(t->data); }

#define FLUSH_WAIT_MS 2000

static void conn_close_flushed(rtsp_conn_t *c, const char *why)
{
    if (c->is_closing)
        return;
    conn_mark_closing(c, why);
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_flushed) < 0) {
        conn_close_now(c);
        return;
    }
    uv_timer_start(&c->held_timer, on_flush_timeout, FLUSH_WAIT_MS, 0);
}

static void addr_text(const struct sockaddr_storage *ss, char *ip, size_t ip_len, int *port)
{
    ip[0] = '\0';
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, ip_len);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, ip_len);
        *port = ntohs(a->sin6_port);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    vg_rtsp_t *r = server->data;
    if (status < 0 || r->is_closing)
        return;
    rtsp_conn_t *c = vg_xcalloc(1, sizeof(*c));
    c->r = r;
    uv_tcp_init(r->cfg.loop, &c->tcp);
    c->tcp.data = c;
    uv_timer_init(r->cfg.loop, &c->held_timer);
    c->held_timer.data = c;
    c->open_handles = 2;
    r->open_handles++;
    c->next = r->conns;
    if (r->conns)
        r->conns->prev = c;
    r->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, "accept failed");
        return;
    }
    int len = sizeof(c->peer_addr), port;
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer_addr, &len);
    addr_text(&c->peer_addr, c->peer_ip, sizeof(c->peer_ip), &port);
    snprintf(c->peer, sizeof(c->peer), strchr(c->peer_ip, ':') ? "[%s]:%d" : "%s:%d",
             c->peer_ip, port);
    if (r->cfg.max_conns_per_ip > 0) {
        int same = 0;
        for (rtsp_conn_t *o = r->conns; o; o = o->next)
            same += !o->is_closing && strcmp(o->peer_ip, c->peer_ip) == 0;
        if (same > r->cfg.max_conns_per_ip) {
            VG_LOG_INFO("rtsp", "peer=%s has %d connections open: refused", c->peer, same - 1);
            conn_close(c, "too many connections from one address");
            return;
        }
    }
    struct sockaddr_storage local;
    len = sizeof(local);
    uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&local, &len);
    addr_text(&local, c->local_ip, sizeof(c->local_ip), &port);
    uv_tcp_nodelay(&c->tcp, 1);
    c->last_request_us = vg_mono_us();
    uv_os_fd_t fd = -1;
    uv_fileno((uv_handle_t *)&c->tcp, &fd);
    int v = NOTSENT_LOWAT;
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof(v));
    v = TCP_USER_TIMEOUT_MS;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v));
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- UDP ---- */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char scratch[2048]; /* loop thread only: reports are read and dropped */
    *buf = uv_buf_init(scratch, sizeof(scratch));
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (b->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, 4) == 0 &&
               ((const struct sockaddr_in *)a)->sin_port ==
                   ((const struct sockaddr_in *)b)->sin_port;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0 &&
           ((const struct sockaddr_in6 *)a)->sin6_port ==
               ((const struct sockaddr_in6 *)b)->sin6_port;
}

/* A receiver report from a UDP reader: it lives (RFC 2326 §12.37, RTCP as keep-alive). */
static void on_rtcp_in(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                       unsigned flags)
{
    (void)buf;
    (void)flags;
    vg_rtsp_t *r = h->data;
    if (n <= 0 || from == NULL)
        return;
    for (rtsp_conn_t *c = r->conns; c; c = c->next) {
        rtsp_session_t *s = c->session;
        if (s && !s->is_tcp && (same_addr(&s->track[0].rtcp_to, from) ||
                                same_addr(&s->track[1].rtcp_to, from)))
            s->last_seen_us = vg_mono_us();
    }
}

static void on_rtp_in(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                      unsigned flags)
{
    (void)h, (void)n, (void)buf, (void)from, (void)flags; /* NAT openers: nothing to do */
}

/* A pair of UDP ports, RTP even and RTCP the next (RFC 3550 §11), bound on host. */
static int udp_bind_pair(vg_rtsp_t *r, char *err, size_t err_len)
{
    struct sockaddr_storage ss;
    bool is_v6 = strchr(r->host, ':') != NULL;
    int rc = is_v6 ? uv_ip6_addr(r->host, 0, (struct sockaddr_in6 *)&ss)
                   : uv_ip4_addr(r->host, 0, (struct sockaddr_in *)&ss);
    if (rc < 0) {
        snprintf(err, err_len, "'%s' is not an IP address", r->host);
        return rc;
    }
    for (int attempt = 0; attempt < 64; attempt++) {
        int port = 20000 + 2 * (int)randombytes_uniform(20000);
        int fds[2] = {-1, -1};
        bool ok = true;
        for (int k = 0; k < 2 && ok; k++) {
            fds[k] = socket(is_v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (is_v6)
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)(port + k));
            else
                ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)(port + k));
            ok = fds[k] >= 0 &&
                 bind(fds[k], (struct sockaddr *)&ss,
                      is_v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) == 0;
        }
        if (!ok) {
            for (int k = 0; k < 2; k++) {
                if (fds[k] >= 0)
                    close(fds[k]);
            }
            continue;
        }
        int sndbuf = 4 << 20;
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        uv_udp_init(r->cfg.loop, &r->rtp_udp);
        uv_udp_init(r->cfg.loop, &r->rtcp_udp);
        r->rtp_udp.data = r->rtcp_udp.data = r;
        r->open_handles += 2;
        uv_udp_open(&r->rtp_udp, fds[0]);
        uv_udp_open(&r->rtcp_udp, fds[1]);
        uv_udp_recv_start(&r->rtp_udp, udp_alloc, on_rtp_in);
        uv_udp_recv_start(&r->rtcp_udp, udp_alloc, on_rtcp_in);
        r->rtp_port = port;
        r->rtcp_port = port + 1;
        return 0;
    }
    snprintf(err, err_len, "no free pair of UDP ports for RTP/RTCP on %s", r->host);
    return VG_EBUSY;
}

/* ---- the server ---- */

static void on_tick(uv_timer_t *t)
{
    vg_rtsp_t *r = t->data;
    int64_t now = vg_mono_us();
    int timeout_s = r->cfg.session_timeout_s > 0 ? r->cfg.session_timeout_s
                                                 : SESSION_TIMEOUT_S_DEFAULT;
    for (rtsp_conn_t *c = r->conns; c; c = c->next) {
        rtsp_session_t *s = c->session;
        if (c->is_closing)
            continue;
        if (c->partial_since_us && !c->is_held && now - c->partial_since_us > PARTIAL_REQUEST_US) {
            VG_LOG_INFO("rtsp", "peer=%s sent half a request for %lld s: closed", c->peer,
                        PARTIAL_REQUEST_US / 1000000);
            conn_close(c, "request not finished in time");
            continue;
        }
        if (s == NULL) {
            if (!c->is_held && now - c->last_request_us > IDLE_CONN_US)
                conn_close(c, "idle without a session");
            continue;
        }
        if (!r->cfg.gate.holds(r->cfg.gate.user, s->principal, s->cam->camera)) {
            VG_LOG_INFO("rtsp", "peer=%s camera=%s access ended: closing its session", c->peer,
                        s->cam->camera);
            if (s->is_playing)
                send_byes(s);
            conn_close_flushed(c, "access revoked");
            continue;
        }
        /* A TCP reader lives as long as its connection (a dead one is cut by the kernel's
         * user time-out); a UDP reader must show signs of life. */
        if (!s->is_tcp && now - s->last_seen_us > timeout_s * 1000000LL) {
            VG_LOG_INFO("rtsp", "peer=%s session %s timed out", c->peer, s->id);
            conn_close(c, "session timed out");
        }
    }
}

static void on_handle_closed(uv_handle_t *h) { rtsp_release(h->data); }

static void rtsp_release(vg_rtsp_t *r)
{
    if (--r->open_handles > 0)
        return;
    vg_tls_ctx_free(&r->tls);
    free(r->host);
    free(r);
}

int vg_rtsp_start(vg_rtsp_t **out, const vg_rtsp_cfg_t *cfg, char *err, size_t err_len)
{
    *out = NULL;
    vg_rtsp_t *r = vg_xcalloc(1, sizeof(*r));
    r->cfg = *cfg;
    r->host = vg_xstrdup(cfg->host);
    r->cfg.host = r->host;
    struct sockaddr_storage ss;
    bool is_v6 = strchr(r->host, ':') != NULL;
    int rc = is_v6 ? uv_ip6_addr(r->host, cfg->port, (struct sockaddr_in6 *)&ss)
                   : uv_ip4_addr(r->host, cfg->port, (struct sockaddr_in *)&ss);
    if (rc < 0) {
        snprintf(err, err_len, "'%s' is not an IP address", r->host);
        free(r->host);
        free(r);
        return rc;
    }
    if (cfg->tls_cert && *cfg->tls_cert) {
        rc = vg_tls_ctx_new(&r->tls, cfg->tls_cert, cfg->tls_key, err, err_len);
        if (rc < 0) {
            free(r->host);
            free(r);
            return rc;
        }
    }
    r->cfg.tls_cert = r->cfg.tls_key = NULL; /* the context keeps its own copies */
    uv_tcp_init(cfg->loop, &r->listener);
    r->listener.data = r;
    r->open_handles = 1;
    rc = uv_tcp_bind(&r->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&r->listener, 128, on_connection);
    if (rc < 0) {
        snprintf(err, err_len, "%s:%d: %s", r->host, cfg->port, uv_strerror(rc));
        r->is_closing = true;
        uv_close((uv_handle_t *)&r->listener, on_handle_closed);
        return rc;
    }
    rc = udp_bind_pair(r, err, err_len);
    if (rc < 0) {
        r->is_closing = true;
        uv_close((uv_handle_t *)&r->listener, on_handle_closed);
        return rc;
    }
    uv_timer_init(cfg->loop, &r->tick);
    r->tick.data = r;
    r->open_handles++;
    uv_timer_start(&r->tick, on_tick, 1000, 1000);
    *out = r;
    return 0;
}

int vg_rtsp_port(const vg_rtsp_t *r)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss), port = 0;
    char ip[64];
    if (uv_tcp_getsockname(&r->listener, (struct sockaddr *)&ss, &len) == 0)
        addr_text(&ss, ip, sizeof(ip), &port);
    return port;
}

void vg_rtsp_udp_ports(const vg_rtsp_t *r, int *rtp, int *rtcp)
{
    *rtp = r->rtp_port;
    *rtcp = r->rtcp_port;
}

void vg_rtsp_counters(const vg_rtsp_t *r, vg_rtsp_counters_t *out) { *out = r->counters; }

bool vg_rtsp_is_tls(const vg_rtsp_t *r) { return r->tls != NULL; }

int vg_rtsp_reload_tls(vg_rtsp_t *r, char *err, size_t err_len)
{
    return r->tls ? vg_tls_ctx_reload(r->tls, err, err_len) : 0;
}

void vg_rtsp_close(vg_rtsp_t **rp)
{
    vg_rtsp_t *r = *rp;
    *rp = NULL;
    if (r == NULL)
        return;
    r->is_closing = true;
    /* Sessions end here, not in the close callbacks: the hub, the outputs and the gate may be
     * gone by the time those run. */
    for (rtsp_conn_t *c = r->conns; c; c = c->next) {
        rtsp_session_t *s = c->session;
        if (s && s->is_playing)
            send_byes(s);
        conn_close(c, "server stopping");
        if (s)
            session_free(s, "server stopping");
        c->session = NULL;
        cam_release(c->cam);
        c->cam = NULL;
    }
    uv_close((uv_handle_t *)&r->listener, on_handle_closed);
    uv_timer_stop(&r->tick);
    uv_close((uv_handle_t *)&r->tick, on_handle_closed);
    uv_close((uv_handle_t *)&r->rtp_udp, on_handle_closed);
    uv_close((uv_handle_t *)&r->rtcp_udp, on_handle_closed);
}
