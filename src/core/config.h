/* config: vigil's settings, from (lowest to highest precedence) built-in defaults, a YAML
 * config file (libcyaml), VIGIL_* environment variables, and command-line flags.
 *
 * The CLI fills a vg_config_t in that order and hands it to the server, which copies what it
 * keeps. Loop thread only (start-up).
 */
#ifndef VG_CORE_CONFIG_H
#define VG_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* A config file declares at most this many cameras, and a command line this many --camera
 * flags; the configuration database holds any number (the fleet serves them all). */
#define VG_CONFIG_MAX_FILE_CAMERAS 4096
#define VG_CONFIG_MAX_CAMERA_FLAGS 256
#define VG_CONFIG_MAX_PROXIES 16
#define VG_CONFIG_MAX_TIERS 16

/* One rung of a ladder as written in the file (checked by the media layer). */
typedef struct vg_tier_cfg {
    char *name;  /* NULL: the size class's name */
    char *size;  /* micro, thin, tiny, low, medium, high, ultra, native */
    int fps;     /* 0: default */
    int quality; /* 0: default (JPEG) */
    char *codec; /* NULL: jpeg; or h264 */
    int kbps;    /* 0: default (H.264) */
} vg_tier_cfg_t;

typedef struct vg_camera_cfg {
    char *id;           /* slug, unique */
    char *name;         /* display name; defaults to id */
    char *url;          /* source URL, e.g. test://?width=640&height=360 */
    char *substream_url; /* optional lower-resolution stream (NULL: none) */
    char *snapshot_url;  /* optional JPEG snapshot URL, polled when the stream is down */
    char *username, *password; /* optional credentials, kept out of the URL in files */
    char *default_tier; /* NULL: the ladder's default */
    int idle_timeout_ms; /* -1: the server default */
    int stall_timeout_ms; /* -1: the server default */
    bool is_always_on;
    int priority;       /* under a source cap, higher runs first (-1000..1000; 0) */
    vg_tier_cfg_t tiers[VG_CONFIG_MAX_TIERS]; /* the ladder; none: the default ladder */
    size_t tier_count;
    char *dial_error;   /* why the camera cannot be dialled (e.g. no gateway mapping), or NULL */
    char *ptz_driver;   /* "bosch", "onvif", or NULL: no PTZ (from the database only) */
    char *ptz_address;  /* the PTZ address, through the site's gateway mapping when remote */
    char *ptz_error;    /* why the PTZ address cannot be reached (no mapping), or NULL */
    int file_index;     /* its entry in the config file's cameras list; -1: not from the file */
    bool is_flag;       /* from --camera */
} vg_camera_cfg_t;

typedef struct vg_config_locs vg_config_locs_t; /* where each key of the file is (private) */

typedef struct vg_config {
    char *listen_host;    /* default 127.0.0.1 */
    int listen_port;      /* default 8080 */
    char *rtsp_listen_host; /* the RTSP server's address; default 127.0.0.1 */
    int rtsp_listen_port;   /* default 8554; 0: a free one; -1: no RTSP server ("none") */
    char *web_root;       /* NULL: serve the embedded dashboard */
    char *log_level;      /* error|warn|info|debug|trace */
    /* Viewer sockets' TCP congestion control: "bbr" (the default: it keeps bottleneck queues
     * short), "cubic", any the kernel offers, or "system" (leave the kernel's default). */
    char *viewer_cc;
    char *db_path;        /* the configuration database; NULL: cameras from the file only */
    char *master_key_file; /* NULL: VIGIL_MASTER_KEY, or none */
    /* Instances sharing a database (issue 18): this one's id (NULL: the host's name) and the
     * URL the others reach it at (NULL: none advertised). */
    char *instance_id;
    char *advertise_url;
    /* An edge site (fleet/uplink.h): the central vigil it dials (ws:// or wss://; NULL:
     * none), the central's integration key, and this site's name there. */
    char *uplink_url, *uplink_key, *uplink_site;
    int idle_timeout_ms;  /* stop an on-demand source this long after its last viewer */
    int stall_timeout_ms; /* restart a source that sent nothing for this long */
    int snapshot_wait_ms; /* how long a snapshot waits for a first picture */
    int ptz_timeout_ms;   /* one PTZ exchange with a camera (ptz_timeout_ms, VIGIL_PTZ_TIMEOUT_MS) */
    /* A `source` viewer this far behind resumes at the next keyframe (docs/protocol.md). */
    int source_max_lag_ms;
    int source_max_lag_kb;
    int health_interval_ms; /* idle cameras are checked this often; 0: never */
    int max_conns_per_ip; /* open connections one peer address may hold; 0: no cap */
    /* Streaming viewers (WebSocket, MJPEG, RTSP) this instance serves at once; more are
     * refused with 503 and the reason (admission control, issue 18). 0: no cap. */
    int max_viewers;
    /* Camera sources this instance runs at once; a camera of higher priority displaces the
     * lowest-priority one at the cap, else a new viewer is refused with the reason (issue
     * 18, media/admit.h). 0: no cap. */
    int max_sources;
    int max_out_kbps; /* what the viewers may be sent at once, kbit/s; 0: no cap */
    int max_decoding; /* cameras decoded at once for JPEG tiers; 0: no cap */
    /* What one user or one tenant may watch at once on this instance: streams (WebSocket
     * and MJPEG) and distinct cameras. 0: no cap. */
    int max_viewers_per_user, max_viewers_per_tenant;
    int max_cameras_per_user, max_cameras_per_tenant;
    char *trusted_proxies[VG_CONFIG_MAX_PROXIES]; /* CIDRs whose X-Forwarded-For is believed */
    size_t trusted_proxy_count;
    vg_tier_cfg_t tiers[VG_CONFIG_MAX_TIERS]; /* default ladder for every camera; none: built in */
    size_t tier_count;
    vg_camera_cfg_t *cameras; /* camera_count of them (room for camera_cap); an append may
                                 move them: hold indexes, not pointers, across one */
    size_t camera_count, camera_cap;
    char *file_path;        /* the config file read, or NULL */
    vg_config_locs_t *locs; /* its keys' lines, for messages */
    char error[512];        /* the last error, one line as logged ("" when none) */
    bool is_quiet;          /* errors are only kept in error, not logged (a reload says them) */
} vg_config_t;

/* Fills cfg with the defaults. Release with vg_config_deinit. */
void vg_config_init(vg_config_t *cfg);
/* Whether name is a viewer congestion control the configuration accepts: "system", "bbr", or
 * one the kernel lists as available. 0 or VG_EINVAL. */
int vg_config_check_cc(const char *name);
void vg_config_deinit(vg_config_t *cfg);

/* Reads a YAML file over cfg (keys it sets replace the current values; cameras are appended).
 * Returns 0, or VG_ECONFIG after logging one line that names the file, the line and the field,
 * e.g. "vigil.yaml:12: cameras[2].idle_timeout_s: 'ten' is not a whole number" (also kept
 * in cfg->error). libcyaml's own messages are turned into such a line, never passed on. */
int vg_config_load_file(vg_config_t *cfg, const char *path);

/* The line of the file where the key at path ("cameras[2].url", "tiers[0]", "listen") is,
 * or 0 when the file does not have it. */
int vg_config_line(const vg_config_t *cfg, const char *path);

/* Where a camera's field comes from, for messages: "vigil.yaml:12: cameras[2].url" for a
 * file's camera (its entry's line when the key is absent), "--camera porch: url" for a flag,
 * "camera 'porch': url" otherwise. field may be "" (the camera itself). */
void vg_config_where(const vg_config_t *cfg, const vg_camera_cfg_t *cc, const char *field,
                     char *out, size_t out_len);

/* Logs one error line (context "config") and keeps it in cfg->error. Returns VG_ECONFIG. */
__attribute__((format(printf, 2, 3))) int vg_config_error(vg_config_t *cfg, const char *fmt,
                                                          ...);

/* Applies VIGIL_LISTEN, VIGIL_WEB_ROOT, VIGIL_LOG_LEVEL, VIGIL_IDLE_TIMEOUT (seconds) and
 * VIGIL_SNAPSHOT_WAIT_MS. Returns 0 or VG_ECONFIG (logged). */
int vg_config_apply_env(vg_config_t *cfg);

/* Sets listen_host/listen_port from "host:port" or ":port" or "port". 0 or VG_ECONFIG. */
int vg_config_set_listen(vg_config_t *cfg, const char *hostport);
/* The same for the RTSP server; "none" turns it off. */
int vg_config_set_rtsp_listen(vg_config_t *cfg, const char *hostport);

/* Sets a string setting, freeing the old value (wiped first: a URL may carry credentials).
 * value may be NULL. */
void vg_config_set_str(char **field, const char *value);

/* Sets a secret setting (a camera's password, a URL with credentials in it): like
 * vg_config_set_str, but the copy lives in vg_config_secret_dup memory. Either setter may
 * replace either kind of value, and vg_config_deinit frees both kinds. */
void vg_config_set_secret(char **field, const char *value);

/* A copy of s (NULL for NULL) in libsodium guarded memory: locked in RAM, left out of core
 * dumps (MADV_DONTDUMP) and wiped when freed, so a camera password does not end up on disk
 * or in a crash report. Release with vg_config_secret_free, never free(). Any thread. */
char *vg_config_secret_dup(const char *s);
/* Wipes and frees a vg_config_secret_dup copy, or wipes and frees a malloc'd string that
 * held a secret; NULL is fine. Clears *p. Any thread. */
void vg_config_secret_free(char **p);

/* Adds a camera from "id=url" (the CLI's --camera) or from fields. Validates the id (slug,
 * unique) and that the URL has a scheme. Returns 0 or VG_ECONFIG (logged). */
int vg_config_add_camera_spec(vg_config_t *cfg, const char *spec);
int vg_config_add_camera(vg_config_t *cfg, const char *id, const char *name, const char *url,
                         const char *default_tier, int idle_timeout_ms);
/* The camera added last (to set its optional fields). */
vg_camera_cfg_t *vg_config_last_camera(vg_config_t *cfg);

/* Checks the whole config (log level known, port in range, ...). 0 or VG_ECONFIG (logged). */
int vg_config_validate(vg_config_t *cfg);

#endif
