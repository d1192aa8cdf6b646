/* probe_int: what the files of `vigil probe` share (probe.c, probe_conn.c, probe_stats.c).
 * Nothing outside src/cli/probe*.c includes this.
 *
 *   vg_probe_t ──┬─ opts, url, clocks of the current read, measuring window
 *                ├─ viewers[0..n) ── vg_probe_viewer_t: one TCP connection each, its parser
 *                │                   state and counters, no payload buffer of its own
 *                ├─ rx_buf: one read buffer shared by every viewer (see probe_conn.c)
 *                └─ stats: latency histograms, stamp sampler, saved-frame count
 *
 * Everything runs on the one loop thread of the probe.
 */
#ifndef VG_CLI_PROBE_INT_H
#define VG_CLI_PROBE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "core/frame.h"

/* Largest WebSocket message or MJPEG part accepted; bigger is a protocol error. */
#define VG_PROBE_FRAME_MAX (16u * 1024 * 1024)
/* Largest header line (HTTP response, MJPEG part); longer is a protocol error. */
#define VG_PROBE_LINE_MAX 4096
/* Largest text message kept for parsing; longer ones are counted, not parsed. */
#define VG_PROBE_TEXT_MAX (64 * 1024)
/* Largest HTTP response head (status line plus headers). */
#define VG_PROBE_HEAD_MAX (64 * 1024)

typedef enum vg_probe_kind {
    VG_PROBE_WS,    /* ws:// vigil WebSocket viewer */
    VG_PROBE_MJPEG, /* http:// multipart/x-mixed-replace */
} vg_probe_kind_t;

typedef struct vg_probe_opts {
    const char *url;          /* the first URL */
    char *const *urls;        /* every URL given (argv): viewer i opens urls[i % url_count] */
    int url_count;
    int viewers;
    double duration_s;
    double warmup_s;
    double timeout_s;     /* TCP connect plus HTTP/WebSocket handshake */
    double connect_rate;  /* new connections per second; 0 = all at once */
    double stamp_rate;    /* stamp decodes per second over all viewers; 0 = none */
    bool is_json;
    const char *save_dir; /* NULL: do not save */
    int save_max;         /* JPEG frames saved, or viewers whose access units are saved */
    const char *tier;     /* --tier: added to the URL's query; NULL: the URL's own */
    int rcvbuf_bytes;     /* 0: leave the kernel's autotuning alone */
} vg_probe_opts_t;

typedef struct vg_probe_url {
    vg_probe_kind_t kind;
    char host[256];
    char port[8];
    char host_header[272]; /* host[:port] as the Host header wants it */
    char target[2048];     /* path and query */
} vg_probe_url_t;

/* Growable byte buffer, bounded by its user. */
typedef struct vg_probe_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} vg_probe_buf_t;

/* A line being assembled across reads; buf is caller storage of cap bytes. */
typedef struct vg_probe_line {
    char *buf;
    uint16_t len;
    uint16_t cap;
} vg_probe_line_t;

/* Latency histogram: 0.1 ms buckets up to 10 s, then one overflow bucket. Memory is fixed
 * whatever the duration, and 0.1 ms is finer than anything a percentile here needs. */
#define VG_PROBE_HIST_BUCKET_US 100
#define VG_PROBE_HIST_BUCKETS 100000

typedef struct vg_probe_hist {
    uint32_t *counts; /* VG_PROBE_HIST_BUCKETS + 1 (the last one is >= 10 s) */
    uint64_t n;
    uint64_t negative; /* arrivals "before" capture: the two clocks disagree */
    int64_t max_us;
} vg_probe_hist_t;

typedef enum vg_probe_err_kind {
    VG_PROBE_ERR_CONNECT,   /* TCP connect failed */
    VG_PROBE_ERR_TIMEOUT,   /* connect or handshake took longer than --timeout */
    VG_PROBE_ERR_HANDSHAKE, /* HTTP status, headers or Sec-WebSocket-Accept wrong */
    VG_PROBE_ERR_CLOSED,    /* the server closed (or reset) before the end */
    VG_PROBE_ERR_PROTOCOL,  /* a WebSocket or multipart framing error: connection dropped */
    VG_PROBE_ERR_BAD_FRAME, /* a frame whose vigil header is wrong: counted, skipped */
    VG_PROBE_ERR_KINDS,
} vg_probe_err_kind_t;

typedef enum vg_probe_vstate {
    VG_PROBE_V_IDLE,       /* not started yet (ramp) */
    VG_PROBE_V_CONNECTING, /* TCP connect in flight */
    VG_PROBE_V_HANDSHAKE,  /* request sent, reading the response head */
    VG_PROBE_V_OPEN,       /* frames flowing */
    VG_PROBE_V_DRAINING,   /* our close sent and our side shut down: waiting for EOF */
    VG_PROBE_V_CLOSING,    /* uv_close requested */
    VG_PROBE_V_CLOSED,     /* handle closed (or never opened) */
} vg_probe_vstate_t;

typedef struct vg_probe vg_probe_t;

/* What a viewer knows about the frame it is receiving. */
typedef struct vg_probe_frame {
    vg_frame_meta_t meta;
    bool has_seq;
    bool has_capture;
    bool has_ingest;
    bool is_sampled;  /* copy the payload for a stamp decode */
    bool is_saved;    /* copy the payload to write it to --save */
    size_t payload_len; /* bytes so far (WebSocket) or announced (MJPEG) */
} vg_probe_frame_t;

typedef struct vg_probe_viewer {
    uv_tcp_t tcp; /* data = this viewer */
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    vg_probe_t *probe;
    int id;
    vg_probe_vstate_t state;
    bool is_finishing; /* the probe is ending this connection: a close is not an error */
    int64_t deadline_mono_us; /* handshake done by then (HANDSHAKE), EOF by then (DRAINING) */
    bool is_ever_open;

    /* Response head (both kinds), then MJPEG part headers. */
    vg_probe_line_t line;
    int head_state;
    int http_status;
    size_t head_bytes;
    uint8_t head_flags;
    char ws_key[32];
    char boundary[80];

    /* WebSocket framing (probe_conn.c). */
    uint8_t wh[14];
    uint8_t wh_len, wh_need;
    bool ws_in_payload;
    uint8_t frame_op;
    bool frame_fin;
    uint64_t frame_left;
    uint8_t msg_op; /* 0: no data message in progress */
    uint64_t msg_len;
    uint8_t ctl[125];
    uint8_t ctl_len;
    uint8_t vh[255]; /* vigil frame header, as long as it says it is */
    uint8_t vh_len, vh_need;
    bool is_bad_msg; /* header broken: skip the rest of this message */

    /* MJPEG (probe_conn.c). */
    int mp_state;
    uint64_t body_left;
    bool is_chunked;
    int ch_state;
    uint64_t ch_left;
    char ch_line_buf[64];
    vg_probe_line_t ch_line;
    size_t part_head_bytes;

    vg_probe_frame_t cur;
    vg_probe_buf_t copy; /* payload of a sampled or saved frame, or a text message */

    /* Counters (probe_stats.c). "win" counts only the measuring window. */
    uint64_t frames_total;
    uint64_t frames_win;
    uint64_t bytes_total;
    uint64_t bytes_win;
    uint64_t drops_win;
    uint64_t text_msgs;
    uint32_t last_seq;
    bool has_last_seq;

    /* The camera's own video (tier=source) and what every viewer is told about codecs. */
    uint64_t codec_frames_win[4]; /* by vg_codec_t: 0 none, 1 JPEG, 2 H.264, 3 H.265 */
    uint64_t keys_win;
    uint64_t skips_win;          /* seq gaps in H.264/H.265: each a skip to a keyframe */
    uint64_t codec_msgs;         /* {"type":"codec"} messages */
    uint64_t frames_before_codec; /* H.264/H.265 frames before any codec message */
    int first_frame;             /* 0 none yet, 1 the first binary frame was a key, -1 not */
    int64_t lat_sum_us;          /* arrival - capture_us over the window, this viewer */
    uint64_t lat_n;
    int64_t lat_max_us;
    FILE *au_file;               /* --save: this viewer's access units, one after another */
    bool is_au_save_refused;     /* over --save-max viewers, or the file would not open */
    bool is_failed; /* some error ended or prevented this connection */
} vg_probe_viewer_t;

typedef struct vg_probe_stats {
    vg_probe_hist_t lat;    /* arrival - capture_us */
    vg_probe_hist_t server; /* arrival - ingest_us */
    vg_probe_hist_t stamp;  /* arrival - the picture's own timestamp */
    uint64_t stamp_samples;    /* decoded with a valid bar */
    uint64_t stamp_failures;   /* sampled, but no valid bar (or the JPEG would not decode) */
    uint64_t stamp_mismatches; /* bar decoded but differs from the header's capture_us */
    double stamp_tokens;
    int64_t stamp_tokens_mono_us;
    int saved;
    int au_files;     /* viewers whose access units go to DIR/VIEWER.h264|h265 */
    uint64_t au_saved; /* access units written to those files */
    int save_pending; /* frames being received that hold a --save slot */
    int save_failed;
    bool is_save_err_logged;
    uint64_t errors[VG_PROBE_ERR_KINDS];
    bool is_err_logged[VG_PROBE_ERR_KINDS];
    uint64_t text_errors; /* {"type":"error"} messages */
    void *jpeg;           /* libjpeg decompressor, made on first use */
} vg_probe_stats_t;

struct vg_probe {
    uv_loop_t *loop;
    vg_probe_opts_t opts;
    vg_probe_url_t url;
    /* Request targets, one per URL (same scheme, host and port): viewer i asks for
     * targets[i % opts.url_count]. */
    char **targets;
    struct sockaddr_storage addr;

    vg_probe_viewer_t *viewers;
    int started;  /* viewers whose connect has begun */
    int open_handles;
    int64_t start_mono_us;
    int64_t ramp_done_mono_us; /* 0 until the last connect has begun */
    int64_t win_start_mono_us; /* INT64_MAX until known */
    int64_t win_end_mono_us;
    bool is_stopping;
    bool is_interrupted;

    /* Clocks read once per read callback: every frame completed by those bytes arrived then. */
    int64_t now_wall_us;
    int64_t now_mono_us;

    uint8_t *rx_buf;
    size_t rx_cap;

    uv_timer_t tick;
    uv_signal_t sigint;
    uv_signal_t sigterm;

    vg_probe_stats_t stats;
};

/* probe_conn.c */

/* Starts viewer v's connection (TCP connect, then the handshake). Loop thread. */
void vg__probe_viewer_start(vg_probe_viewer_t *v);
/* Ends viewer v: sends a WebSocket close when it is open, then closes the handle. A close
 * started by the probe itself is not counted as an error. Idempotent. Loop thread. */
void vg__probe_viewer_finish(vg_probe_viewer_t *v);
/* Fails viewer v with an error of this kind (counted and logged once per kind). */
void vg__probe_viewer_fail(vg_probe_viewer_t *v, vg_probe_err_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Closes the handle now, whatever state it is in (the end of the grace period). */
void vg__probe_viewer_close(vg_probe_viewer_t *v);

/* probe_stats.c */

void vg__probe_stats_init(vg_probe_stats_t *s);
void vg__probe_stats_deinit(vg_probe_stats_t *s);
/* Counts an error of this kind. Returns true the first time for the kind (log it then). */
bool vg__probe_count_error(vg_probe_t *p, vg_probe_err_kind_t kind);
/* A frame's header is known (before its payload): decides whether its payload is copied
 * for a stamp decode or for --save, and sets cur->is_sampled / is_saved. */
void vg__probe_frame_begin(vg_probe_viewer_t *v);
/* A frame arrived whole (its last byte in this read): counts it and measures latency.
 * payload is the copy when the frame was sampled or saved, else NULL. */
void vg__probe_frame_end(vg_probe_viewer_t *v, const uint8_t *payload, size_t len);
/* The probe is over: closes viewer v's --save file of access units, if any. */
void vg__probe_viewer_save_close(vg_probe_viewer_t *v);
/* A frame was cut short (connection gone): releases a --save slot it held. */
void vg__probe_frame_abort(vg_probe_viewer_t *v);
/* A text message arrived whole. */
void vg__probe_text(vg_probe_viewer_t *v, const uint8_t *msg, size_t len);
/* Percentile p (0..100) in ms, or a negative value when the histogram is empty. */
double vg__probe_hist_pct_ms(const vg_probe_hist_t *h, double p);
/* True when now (mono µs) is inside the measuring window. */
static inline bool vg__probe_in_window(const vg_probe_t *p, int64_t mono_us)
{
    return mono_us >= p->win_start_mono_us && mono_us < p->win_end_mono_us;
}

/* Appends len bytes to b, growing it up to max bytes. Returns 0 or VG_EFULL (b unchanged). */
int vg__probe_buf_append(vg_probe_buf_t *b, const uint8_t *data, size_t len, size_t max);
void vg__probe_buf_free(vg_probe_buf_t *b);

#endif
