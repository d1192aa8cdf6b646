/* serve, demo: run the server. Settings come from defaults, then the config file, then
 * VIGIL_* environment variables, then flags (each overriding the one before); cameras from
 * the file and from --camera are all served.
 *
 * Shutdown (SIGINT/SIGTERM, taken as loop callbacks): viewers get a close frame, then the
 * libwebsockets context goes, then every stream's source and worker threads are joined, then
 * the loop runs until no handle is left and closes. A second signal exits at once.
 */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "fleet/fleet.h"
#include "fleet/uplink.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/looplag.h"
#include "core/util.h"
#include "media/stream.h"
#include "net/server.h"
#include "outputs/outputs.h"
#include "outputs/rtsp.h"
#include "sources/source.h"
#include "store/keys.h"
#include "store/secrets.h"
#include "auth/ratelimit.h"

/* Access-control settings, from flags and the environment. */
typedef struct auth_opts {
    bool is_open; /* --no-auth */
    const char *jwt_secret_file, *jwks, *jwt_issuer, *jwt_audience;
    int jwt_leeway_s;
    const char *tls_cert, *tls_key;
    const char *origins[9];
    int origin_count;
    int session_ttl_s;
    const char *proxies[VG_PROXY_MAX + 1]; /* --trusted-proxy, VIGIL_TRUSTED_PROXIES */
    int proxy_count;
    char *proxies_env;                     /* the copy VIGIL_TRUSTED_PROXIES was split in */
} auth_opts_t;

/* The flags that make the configuration: kept, so that SIGHUP reads the file again and
 * puts the same flags over it. */
typedef struct cfg_flags {
    const char *config_path, *listen, *rtsp_listen, *web_root, *log_level, *idle, *health, *snapwait, *db;
    const char *key_file;
    const char *max_conns;
    const char *lag_ms, *lag_kb, *viewer_cc;
    const char *instance_id, *advertise_url;
    const char *uplink, *uplink_key, *uplink_site;
    const char *max_viewers;
    const char *max_sources;
    const char *caller_caps[4]; /* --max-{viewers,cameras}-per-{user,tenant} */
    const char *max_out_kbps, *max_decoding;
    const char *cameras[VG_CONFIG_MAX_CAMERA_FLAGS];
    size_t camera_count;
    bool is_demo, list_routes;
} cfg_flags_t;

typedef struct app {
    uv_loop_t loop;
    const cfg_flags_t *flags;
    const vg_config_t *cfg;  /* the configuration running */
    vg_config_t *cfg_owned;  /* cfg when a reload made it (the first is serve_main's) */
    vg_config_t *cfg_next;   /* a reload being applied */
    uv_signal_t sigint, sigterm, sighup;
    vg_auth_t *auth;
    char demo_password[32]; /* shown once in the demo's banner, then wiped */
    vg_hub_t *hub;
    vg_fleet_t *fleet; /* the cameras, from the configuration database, kept live */
    vg_server_t *server;
    vg_outputs_t *outputs;
    vg_rtsp_t *rtsp;  /* NULL: no RTSP server (rtsp_listen none, or its port was taken) */
    vg_api_ctx_t api; /* the API routes point here */
    vg_http_client_t *http; /* outgoing HTTP (PTZ) */
    vg_ptz_ctl_t *ptz;      /* PTZ control */
    vg_looplag_t *looplag; /* the loop's stalls, for /metrics and /api/v1/status */
    vg_uplinks_t *uplinks;       /* edge sites that dial this instance */
    vg_uplink_client_t *uplink;  /* this instance as an edge: its link out, or NULL */
    bool is_stopping;
} app_t;

static const char *const demo_cameras[][3] = {
    {"lobby", "Lobby 720p (detailed)", "test://?width=1280&height=720&fps=30&pattern=detailed"},
    {"gate", "Gate 360p", "test://?width=640&height=360&fps=15"},
    {"yard", "Yard 1080p", "test://?width=1920&height=1080&fps=10"},
    {"dock", "Dock 4:3 (detailed)", "test://?width=800&height=600&fps=25&pattern=detailed"},
};

static void print_usage(FILE *out, bool is_demo)
{
    if (is_demo)
        fprintf(out, "usage: vigil demo [options]\n\n"
                     "Serves a dashboard of four built-in test cameras (default\n"
                     "http://127.0.0.1:8080/).\n\n");
    else
        fprintf(out, "usage: vigil serve [options]\n\n"
                     "Serves the cameras of the config file and of --camera.\n\n");
    fprintf(out,
            "options:\n"
            "  -c, --config FILE        YAML config file (env VIGIL_CONFIG); a mistake stops\n"
            "                           the start (exit 2) naming FILE:LINE and the field;\n"
            "                           re-read on SIGHUP (a bad file is kept out)\n"
            "  -l, --listen HOST:PORT   address to listen on (env VIGIL_LISTEN;\n"
            "                           default 127.0.0.1:8080; port 0 picks a free one)\n"
            "      --rtsp-listen HOST:PORT  the RTSP server's address (env VIGIL_RTSP_LISTEN;\n"
            "                           default 127.0.0.1:8554; none: off; docs/rtsp.md)\n"
            "      --camera ID=URL      add a camera (repeatable), e.g.\n"
            "                           --camera porch='test://?width=1280&height=720&fps=30'\n"
            "      --idle-timeout SEC   stop a source this long after its last viewer\n"
            "                           (env VIGIL_IDLE_TIMEOUT; default 30)\n"
            "      --health-interval SEC  check cameras nobody watches this often (RTSP\n"
            "                           OPTIONS, HTTP HEAD; env VIGIL_HEALTH_INTERVAL;\n"
            "                           default 60; 0: off)\n"
            "      --snapshot-wait-ms MS  how long a snapshot waits for a first picture\n"
            "                           (env VIGIL_SNAPSHOT_WAIT_MS; default 3000)\n"
            "      --source-max-lag-ms MS  a `source` viewer (the camera's own video) this far\n"
            "                           behind resumes at the next keyframe (env\n"
            "                           VIGIL_SOURCE_MAX_LAG_MS; default 1000)\n"
            "      --source-max-lag-kb KB  the same bound in queued kilobytes (env\n"
            "                           VIGIL_SOURCE_MAX_LAG_KB; default 2048)\n"
            "      --viewer-congestion-control CC  bbr (default, when the kernel has it),\n"
            "                           cubic, another the kernel offers, or system (env\n"
            "                           VIGIL_VIEWER_CONGESTION_CONTROL)\n"
            "      --max-conns-per-ip N  connections one client address may hold open\n"
            "                           (default 256; 0: no cap; docs/security.md)\n"
            "      --max-viewers N      streaming viewers (WebSocket, MJPEG, RTSP) this\n"
            "                           instance serves at once; more get 503 and the\n"
            "                           reason (env VIGIL_MAX_VIEWERS; default 0: no cap)\n"
            "      --max-sources N      camera sources this instance runs at once; at the\n"
            "                           cap a camera of higher priority displaces the\n"
            "                           lowest one, else viewers get 503 and the reason\n"
            "                           (env VIGIL_MAX_SOURCES; default 0: no cap)\n"
            "      --max-decoding N     cameras this instance decodes at once for JPEG\n"
            "                           viewers (`source` ones need none); priority decides\n"
            "                           as for --max-sources (env VIGIL_MAX_DECODING;\n"
            "                           default 0: no cap)\n"
            "      --max-out-kbps N     what this instance's viewers may be sent at once\n"
            "                           (kbit/s over the last second); past it new viewers\n"
            "                           get 503 (env VIGIL_MAX_OUT_KBPS; default 0: no cap)\n"
            "      --max-viewers-per-user N, --max-viewers-per-tenant N\n"
            "      --max-cameras-per-user N, --max-cameras-per-tenant N\n"
            "                           streams (WebSocket, MJPEG) and distinct cameras one\n"
            "                           user or tenant watches at once on this instance;\n"
            "                           more get 503 and the reason (env VIGIL_MAX_..._PER_...;\n"
            "                           default 0: no cap)\n"
            "      --web-root DIR       serve the dashboard from DIR instead of the\n"
            "                           embedded copy (env VIGIL_WEB_ROOT; development)\n"
            "      --log-level LEVEL    error, warn, info, debug or trace\n"
            "                           (env VIGIL_LOG_LEVEL; default info)\n"
            "      --db FILE|URL        the configuration database (env VIGIL_DB; default\n"
            "                           %s; docs/store.md): its cameras are served\n"
            "                           and its changes applied live; the config file's\n"
            "                           cameras are put there, owned by the file. A\n"
            "                           postgresql:// URL shares it between instances\n"
            "                           (then the master key is required)\n"
            "      --master-key-file FILE  key for sealed camera passwords\n"
            "                           (env VIGIL_MASTER_KEY_FILE or VIGIL_MASTER_KEY)\n"
            "      --instance-id ID     this instance among those sharing the database\n"
            "                           (env VIGIL_INSTANCE_ID; default the host name)\n"
            "      --advertise-url URL  where the other instances reach this one\n"
            "                           (env VIGIL_ADVERTISE_URL; GET /api/v1/instances)\n"
            "      --uplink URL         make this an edge site: dial out to the central vigil\n"
            "                           at ws[s]://HOST[:PORT], which then serves this site's\n"
            "                           cameras with no inbound connection (env VIGIL_UPLINK;\n"
            "                           docs/uplink.md)\n"
            "      --uplink-key KEY     an admin's integration key of the central (env\n"
            "                           VIGIL_UPLINK_KEY)\n"
            "      --uplink-site NAME   this site's name at the central; its cameras appear\n"
            "                           there as NAME-CAMERA (env VIGIL_UPLINK_SITE; default\n"
            "                           the instance id)\n"
            "      --list-routes        print every route (METHOD PATTERN ACCESS) and exit\n"
            "\n"
            "access control (docs/security.md):\n"
            "      --no-auth            no sign-in at all: everyone is an admin (binds\n"
            "                           127.0.0.1 only; for development)\n"
            "      --jwt-secret-file FILE  accept HS256 bearer JWTs signed with the secret\n"
            "                           in FILE (env VIGIL_JWT_SECRET; 32 bytes or more)\n"
            "      --jwks FILE          accept RS256/ES256 bearer JWTs signed by these keys\n"
            "                           (env VIGIL_JWKS; re-read on SIGHUP)\n"
            "      --jwt-issuer ISS     required iss claim (env VIGIL_JWT_ISSUER)\n"
            "      --jwt-audience AUD   required aud claim (env VIGIL_JWT_AUDIENCE)\n"
            "      --jwt-leeway SEC     clock skew allowed on exp, nbf, iat (default 30;\n"
            "                           env VIGIL_JWT_LEEWAY); streams close at exp + SEC\n"
            "      --tls-cert FILE      serve HTTPS/WSS, and rtsps:// on the RTSP port, with\n"
            "                           this PEM certificate chain (env VIGIL_TLS_CERT;\n"
            "                           re-read on SIGHUP)\n"
            "      --tls-key FILE       its PEM private key (env VIGIL_TLS_KEY)\n"
            "      --allow-origin URL   another origin whose pages may open WebSockets\n"
            "                           with the session cookie (repeatable)\n"
            "      --session-ttl SEC    browser sessions last this long (default 43200)\n"
            "      --trusted-proxy CIDR a reverse proxy whose X-Forwarded-For names the\n"
            "                           client (login limits, audit); repeatable (env\n"
            "                           VIGIL_TRUSTED_PROXIES, comma-separated)\n"
            "  -h, --help               show this help\n"
            "\n"
            "Precedence: flags, then environment, then config file, then defaults.\n"
            "Endpoints: see docs/protocol.md (dashboard at /, API under /api/v1).\n",
            is_demo ? ":memory:, nothing kept" : "vigil.db");
}

static void on_handle_closed(uv_handle_t *h) { (void)h; }

static void on_server_down(void *arg)
{
    app_t *app = arg;
    app->api.looplag = NULL;
    vg_looplag_close(&app->looplag);
    vg_outputs_stop(app->outputs);
    vg_uplinks_close(&app->uplinks);
    vg_fleet_close(&app->fleet); /* no reload may touch the hub from here on */
    app->api.ptz = NULL;
    vg_ptz_ctl_free(&app->ptz); /* stops nothing more; cancels what is in flight */
    vg_http_client_free(&app->http);
    vg_hub_close(&app->hub);
    uv_close((uv_handle_t *)&app->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&app->sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&app->sighup, on_handle_closed);
}

static void on_left(void *arg)
{
    app_t *app = arg;
    vg_uplink_client_close(&app->uplink);
    app->api.rtsp = NULL;
    vg_rtsp_close(&app->rtsp);
    vg_server_shutdown(app->server, on_server_down, app);
}

/* Out of the database first (its cameras' leases free for the instances relaying them),
 * still serving meanwhile; then the listeners. */
static void begin_stop(app_t *app)
{
    app->is_stopping = true;
    if (app->fleet)
        vg_fleet_leave(app->fleet, on_left, app);
    else
        on_left(app);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    if (app->is_stopping) {
        VG_LOG_WARN("main", "second signal: exiting now");
        _exit(1);
    }
    VG_LOG_INFO("main", "%s: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    begin_stop(app);
}

/* POST /api/v1/instances/{id}/drain reached this instance through the database. */
static void on_drain(void *arg)
{
    app_t *app = arg;
    if (app->is_stopping)
        return;
    VG_LOG_INFO("main", "drain asked through the API: shutting down");
    begin_stop(app);
}

/* Each viewer is a socket: the default soft limit of 1024 descriptors would refuse the
 * thousandth viewer (accept: EMFILE), so take what the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t want = rl.rlim_max, old = rl.rlim_cur;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        VG_LOG_INFO("main", "open-file limit raised from %llu to %llu (one per connection)",
                    (unsigned long long)old, (unsigned long long)want);
}

static void print_route(const char *method, const char *pattern, unsigned access, void *arg)
{
    (void)arg;
    static const char *const roles[] = {"public", "viewer", "operator", "admin"};
    printf("%s %s %s%s%s\n", method, pattern, roles[access & VG_ACCESS_ROLE_MASK],
           access & VG_ACCESS_CAMERA ? "+camera" : "", access & VG_ACCESS_TOKEN ? "+token" : "");
}

static int build_config(vg_config_t *cfg, const cfg_flags_t *fl);

static void config_free(vg_config_t **cp)
{
    if (*cp) {
        vg_config_deinit(*cp);
        free(*cp);
        *cp = NULL;
    }
}

static void on_reloaded(void *arg, int rc, const vg_store_err_t *err)
{
    app_t *app = arg;
    if (rc < 0 && rc != VG_ECLOSED) {
        VG_LOG_ERROR("main", "SIGHUP: %s; the cameras follow the database as it is",
                     err->message);
        vg_fleet_changed(app->fleet);
    }
    config_free(&app->cfg_owned); /* the store thread has switched to the new one */
    app->cfg_owned = app->cfg_next;
    app->cfg = app->cfg_next;
    app->cfg_next = NULL;
    if (rc == 0)
        VG_LOG_INFO("main", "SIGHUP: %s applied", app->cfg->file_path);
}

/* Settings the running server cannot take without a restart: said, and left as they are. */
static void note_restart_settings(const vg_config_t *old, const vg_config_t *cur)
{
    const struct {
        const char *name, *was, *now;
    } strs[] = {
        {"listen address", old->listen_host, cur->listen_host},
        {"RTSP listen address", old->rtsp_listen_host, cur->rtsp_listen_host},
        {"db", old->db_path, cur->db_path},
        {"master_key_file", old->master_key_file, cur->master_key_file},
        {"web_root", old->web_root, cur->web_root},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *a = strs[i].was ? strs[i].was : "", *b = strs[i].now ? strs[i].now : "";
        if (strcmp(a, b) != 0)
            VG_LOG_WARN("main", "SIGHUP: %s changed from '%s' to '%s': needs a restart (still "
                        "'%s' until then)", strs[i].name, a, b, a);
    }
    const struct {
        const char *name;
        int was, now;
    } ints[] = {
        {"listen port", old->listen_port, cur->listen_port},
        {"RTSP listen port", old->rtsp_listen_port, cur->rtsp_listen_port},
        {"max_conns_per_ip", old->max_conns_per_ip, cur->max_conns_per_ip},
        {"snapshot_wait_ms", old->snapshot_wait_ms, cur->snapshot_wait_ms},
        {"ptz_timeout_ms", old->ptz_timeout_ms, cur->ptz_timeout_ms},
        {"source_max_lag_ms", old->source_max_lag_ms, cur->source_max_lag_ms},
        {"source_max_lag_kb", old->source_max_lag_kb, cur->source_max_lag_kb},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (ints[i].was != ints[i].now)
            VG_LOG_WARN("main", "SIGHUP: %s changed from %d to %d: needs a restart (still %d "
                        "until then)", ints[i].name, ints[i].was, ints[i].now, ints[i].was);
    }
    bool is_proxies_changed = old->trusted_proxy_count != cur->trusted_proxy_count;
    for (size_t i = 0; !is_proxies_changed && i < cur->trusted_proxy_count; i++)
        is_proxies_changed = strcmp(old->trusted_proxies[i], cur->trusted_proxies[i]) != 0;
    if (is_proxies_changed)
        VG_LOG_WARN("main", "SIGHUP: trusted_proxies changed: needs a restart");
}

/* SIGHUP: the config file read again, the flags put over it as at start. A file with an
 * error changes nothing (said in one line); otherwise its cameras are applied as database
 * changes are (added, restarted or updated in place, removed), the log level at once, and
 * what needs a restart is said. */
static void reload_config(app_t *app)
{
    if (app->flags->config_path == NULL)
        return;
    if (app->cfg_next) {
        VG_LOG_WARN("main", "SIGHUP: the last reload is still being applied; send SIGHUP "
                    "again in a moment");
        return;
    }
    vg_config_t *next = vg_xmalloc(sizeof(*next));
    vg_config_init(next);
    next->is_quiet = true; /* one line below says it all */
    if (build_config(next, app->flags) < 0) {
        VG_LOG_ERROR("main", "SIGHUP: %s; the configuration running is kept", next->error);
        config_free(&next);
        return;
    }
    next->is_quiet = false;
    note_restart_settings(app->cfg, next);
    vg_log_level_t lvl;
    if (vg_log_level_parse(next->log_level, &lvl) == 0)
        vg_log_set_level(lvl);
    app->cfg_next = next;
    if (vg_fleet_reload(app->fleet, next, on_reloaded, app) < 0) {
        VG_LOG_ERROR("main", "SIGHUP: the store is busy: configuration not reloaded; send "
                     "SIGHUP again");
        app->cfg_next = NULL;
        config_free(&next);
    }
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    app_t *app = h->data;
    VG_LOG_INFO("main", "SIGHUP: reloading %s%sthe TLS certificate and the JWKS",
                app->flags->config_path ? app->flags->config_path : "",
                app->flags->config_path ? ", " : "");
    vg_server_reload_tls(app->server);
    char err[256];
    if (app->rtsp && vg_rtsp_reload_tls(app->rtsp, err, sizeof(err)) < 0)
        VG_LOG_ERROR("main", "rtsps: keeping the old certificate: %s", err);
    vg_auth_reload(app->auth);
    reload_config(app);
}

static int api_write(void *fleet, vg_store_run_fn run, vg_store_done_fn done, void *arg)
{
    return vg_fleet_write(fleet, run, done, arg);
}

static int api_read(void *fleet, vg_store_run_fn run, vg_store_done_fn done, void *arg)
{
    return vg_fleet_read(fleet, run, done, arg);
}

static const char *api_instance_id(void *fleet) { return vg_fleet_instance_id(fleet); }

/* What an edge announces goes into the database through the fleet's store thread. */
static int uplinks_write(void *fleet, vg_store_run_fn run, vg_store_done_fn done, void *job)
{
    return vg_fleet_write(fleet, run, done, job);
}

/* This instance as an edge site (--uplink): checked before anything is served, started once
 * the RTSP server it opens channels to is listening. 0 or VG_ECONFIG (logged). */
static int open_uplink(app_t *app, const vg_config_t *cfg)
{
    if (cfg->uplink_url == NULL)
        return 0;
    const char *site = cfg->uplink_site ? cfg->uplink_site : vg_fleet_instance_id(app->fleet);
    vg_uplink_client_cfg_t ucfg = {.loop = &app->loop, .server = app->server, .hub = app->hub,
                                   .url = cfg->uplink_url, .key = cfg->uplink_key,
                                   .site = site};
    char why[300];
    if (vg_uplink_client_new(&app->uplink, &ucfg, why, sizeof(why)) < 0) {
        VG_LOG_ERROR("config", "%s", why);
        return VG_ECONFIG;
    }
    vg_auth_set_uplink_token(app->auth, vg_uplink_client_token(app->uplink));
    return 0;
}

/* The outputs' caps per user and tenant count the caller the gate found: a vigil user by
 * id, else the credential itself ("jwt:SUB"); with --no-auth nobody (no caps). */
static void viewer_caller(void *auth, vg_conn_t *c, char user[64], char tenant[64])
{
    (void)auth;
    const vg_principal_t *p = vg_auth_caller(c);
    if (p == NULL || p->via == VG_VIA_OPEN || p->via == VG_VIA_INSTANCE)
        return;
    vg_strlcpy(user, p->user_id[0] ? p->user_id : p->actor, 64);
    vg_strlcpy(tenant, p->tenant_id, 64);
}
static bool api_is_registered(void *fleet) { return vg_fleet_is_registered(fleet); }

/* Every snapshot of the store re-judges the open streams (vg_auth_set_access). */
static void on_access(void *arg, vg_access_t *snap)
{
    app_t *app = arg;
    if (app->auth)
        vg_auth_set_access(app->auth, snap);
    else
        vg_access_free(&snap);
}

/* The demo's admin: a random password, shown once on the terminal. */
static int make_demo_admin(vg_store_t *store, char password[32])
{
    uint8_t raw[12];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(password, 32, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    json_t *fields = json_pack("{s:s,s:s,s:s,s:s}", "id", "admin", "name", "Demo admin", "role",
                               "admin", "password", password);
    json_t *rec = NULL;
    vg_store_err_t err;
    int rc = vg_store_create(store, "users", fields, &rec, &err);
    json_decref(fields);
    json_decref(rec);
    if (rc < 0) {
        VG_LOG_ERROR("main", "cannot create the demo admin: %s", err.message);
        return rc;
    }
    return 0;
}

/* Makes the access-control handle. Without --no-auth a server needs an admin who can sign
 * in; without one it would serve nobody, or (worse) tempt people to open it up. */
static int open_auth(app_t *app, const vg_config_t *cfg, const auth_opts_t *ao, bool is_demo,
                     bool list_routes)
{
    vg_store_t *store = vg_fleet_store(app->fleet);
    vg_store_err_t serr;
    if (is_demo && !ao->is_open && !list_routes && make_demo_admin(store, app->demo_password) < 0)
        return VG_EINVAL;
    bool has_admin = false;
    if (!ao->is_open && !list_routes && vg_store_has_admin(store, &has_admin, &serr) == 0 &&
        !has_admin) {
        VG_LOG_ERROR("main", "%s has no admin user: add one with `vigil user add id=admin "
                     "role=admin --password-stdin --db %s`, or run with --no-auth (no sign-in, "
                     "127.0.0.1 only)", cfg->db_path, cfg->db_path);
        return VG_ECONFIG;
    }
    char secret[512] = "";
    const char *secret_env = getenv("VIGIL_JWT_SECRET");
    if (ao->jwt_secret_file) {
        /* Whoever reads an HS256 secret can sign admin tokens: refused when others may. */
        struct stat st;
        if (stat(ao->jwt_secret_file, &st) == 0 && (st.st_mode & 077)) {
            VG_LOG_ERROR("main", "--jwt-secret-file %s: readable by group or others (mode %03o): "
                         "chmod 600 it", ao->jwt_secret_file, (unsigned)(st.st_mode & 0777));
            return VG_ECONFIG;
        }
        FILE *fp = fopen(ao->jwt_secret_file, "r");
        size_t n = fp ? fread(secret, 1, sizeof(secret) - 1, fp) : 0;
        if (fp)
            fclose(fp);
        if (fp == NULL) {
            VG_LOG_ERROR("main", "--jwt-secret-file %s: %s", ao->jwt_secret_file,
                         strerror(errno));
            return VG_ECONFIG;
        }
        secret[n] = '\0';
        secret[strcspn(secret, "\r\n")] = '\0';
    } else if (secret_env && *secret_env) {
        vg_strlcpy(secret, secret_env, sizeof(secret));
    }
    vg_jwt_cfg_t jcfg = {
        .hs256_secret = secret[0] ? secret : NULL,
        .jwks_path = ao->jwks,
        .issuer = ao->jwt_issuer,
        .audience = ao->jwt_audience,
        .leeway_s = ao->jwt_leeway_s,
    };
    char err[256];
    vg_auth_keys_t *keys = sodium_malloc(sizeof(*keys));
    if (keys == NULL || vg_auth_keys_load(keys, vg_fleet_secrets(app->fleet), cfg->db_path, err,
                                          sizeof(err)) < 0) {
        VG_LOG_ERROR("main", "signing keys: %s", keys ? err : "out of memory");
        if (keys)
            sodium_free(keys);
        sodium_memzero(secret, sizeof(secret));
        return VG_ECONFIG;
    }
    vg_auth_cfg_t acfg = {
        .loop = &app->loop,
        .store = NULL, /* set once the store has its thread */
        .is_open = ao->is_open,
        .jwt = jcfg.hs256_secret || jcfg.jwks_path ? &jcfg : NULL,
        .session_ttl_s = ao->session_ttl_s,
        .allowed_origins = ao->origins,
        .trusted_proxies = ao->proxies,
        .token_key = keys->token,
        .csrf_key = keys->csrf,
        .instance_key = keys->has_instance ? keys->instance : NULL,
    };
    int rc = vg_auth_new(&app->auth, &acfg, err, sizeof(err));
    sodium_free(keys);
    sodium_memzero(secret, sizeof(secret));
    if (rc < 0) {
        VG_LOG_ERROR("main", "access control: %s", err);
        return VG_ECONFIG;
    }
    if (ao->is_open && !list_routes)
        VG_LOG_WARN("main", "*** --no-auth: NO SIGN-IN. Anyone who can reach %s:%d is an admin "
                    "of every camera. For development only. ***", cfg->listen_host,
                    cfg->listen_port);
    return 0;
}

/* ---- the RTSP server's gate: auth.h behind vg_rtsp_gate_t ---- */

static int rtsp_admit(void *user, const char *credential, const char *camera, void **principal)
{
    vg_principal_t *p = NULL;
    int rc = vg_auth_stream_admit(user, credential, camera, &p);
    *principal = p;
    return rc == 0 ? 0 : rc == VG_ENOENT ? 404 : 401;
}

static bool rtsp_holds(void *user, void *principal, const char *camera)
{
    return vg_auth_stream_holds(user, principal, camera);
}

static void rtsp_release_principal(void *user, void *principal)
{
    (void)user;
    vg_auth_principal_free(principal);
}

static void rtsp_audit(void *user, void *principal, const char *peer, const char *action,
                       const char *camera, const char *outcome, const char *detail)
{
    vg_auth_audit_as(user, principal, peer, action, camera, outcome, detail);
}

/* The shared HTTP client and the PTZ control layer, told the cameras by the fleet. A client
 * that cannot be made leaves vigil serving video without PTZ. */
static void open_ptz(app_t *app, const vg_config_t *cfg)
{
    /* Two requests in flight per camera: a command and a health probe side by side. */
    vg_http_client_opts_t hopts = {.max_in_flight = 64, .max_per_key = 2};
    if (vg_http_client_new(&app->http, &app->loop, &hopts) < 0) {
        VG_LOG_ERROR("main", "no HTTP client: PTZ is off");
        return;
    }
    vg_ptz_ctl_cfg_t pcfg = {.loop = &app->loop, .http = app->http,
                             .timeout_ms = (uint32_t)cfg->ptz_timeout_ms};
    vg_api_ptz_audit_hook(&pcfg, &app->api);
    vg_ptz_ctl_new(&app->ptz, &pcfg);
    vg_fleet_set_ptz(app->fleet, app->ptz);
}

/* The RTSP server, unless it is off. A taken port leaves HTTP serving and says what to do. */
static void start_rtsp(app_t *app, const vg_config_t *cfg, const auth_opts_t *ao)
{
    if (cfg->rtsp_listen_port < 0)
        return;
    vg_rtsp_cfg_t rcfg = {
        .loop = &app->loop,
        .hub = app->hub,
        .outputs = app->outputs,
        .host = cfg->rtsp_listen_host,
        .port = cfg->rtsp_listen_port,
        .gate = {.admit = rtsp_admit, .holds = rtsp_holds, .release = rtsp_release_principal,
                 .audit = rtsp_audit, .user = app->auth},
        .max_conns_per_ip = cfg->max_conns_per_ip,
        .max_lag_ms = cfg->source_max_lag_ms,
        .max_lag_bytes = (size_t)cfg->source_max_lag_kb * 1024,
        .tls_cert = ao->tls_cert,
        .tls_key = ao->tls_key,
    };
    char err[256];
    int rc = vg_rtsp_start(&app->rtsp, &rcfg, err, sizeof(err));
    if (rc < 0) {
        VG_LOG_ERROR("main", "RTSP server not started: %s%s", err,
                     rc == UV_EADDRINUSE ? " (taken by another program: choose another with "
                                           "--rtsp-listen HOST:PORT, or none)"
                                         : "");
        return;
    }
    const char *host = strchr(cfg->rtsp_listen_host, ':') ? "[::1]" : cfg->rtsp_listen_host;
    int rtp, rtcp;
    vg_rtsp_udp_ports(app->rtsp, &rtp, &rtcp);
    app->api.rtsp = app->rtsp;
    int port = vg_rtsp_port(app->rtsp);
    if (vg_rtsp_is_tls(app->rtsp))
        VG_LOG_INFO("main",
                    "rtsp listening on rtsp://%s:%d/ and rtsps://%s:%d/ (RTP/RTCP over UDP "
                    "from ports %d-%d)",
                    host, port, host, port, rtp, rtcp);
    else
        VG_LOG_INFO("main", "rtsp listening on rtsp://%s:%d/ (RTP/RTCP over UDP from ports "
                            "%d-%d)",
                    host, port, rtp, rtcp);
    /* Where other instances sharing the database relay this one's cameras from: the
     * advertised URL's host, else the address it listens on (the host's name for a wildcard). */
    char adv_host[256] = "";
    const char *adv = cfg->advertise_url;
    const char *h = adv ? strstr(adv, "://") : NULL;
    if (h) {
        h += 3;
        size_t n = strcspn(h, "/?#");
        const char *at = memchr(h, '@', n);
        if (at) { /* no credentials in what is advertised */
            n -= (size_t)(at + 1 - h);
            h = at + 1;
        }
        size_t hn = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#");
        if (hn <= n && hn < sizeof(adv_host))
            snprintf(adv_host, sizeof(adv_host), "%.*s", (int)hn, h);
    }
    if (!adv_host[0] && (strcmp(host, "0.0.0.0") == 0 || strcmp(cfg->rtsp_listen_host, "::") == 0))
        gethostname(adv_host, sizeof(adv_host) - 1);
    char rtsp_url[320];
    snprintf(rtsp_url, sizeof(rtsp_url), "rtsp://%s:%d", adv_host[0] ? adv_host : host, port);
    vg_fleet_set_rtsp_url(app->fleet, rtsp_url);
}

static int run(const vg_config_t *cfg, const auth_opts_t *ao, const cfg_flags_t *fl)
{
    app_t app = {.flags = fl, .cfg = cfg};
    bool is_demo = fl->is_demo, list_routes = fl->list_routes;
    int rc = 1;
    uv_loop_init(&app.loop);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    app.hub = vg_hub_new(&app.loop);
    vg_hub_set_health_interval(app.hub, cfg->health_interval_ms);
    vg_hub_set_max_sources(app.hub, cfg->max_sources);
    vg_hub_set_max_decoding(app.hub, cfg->max_decoding);
    if (vg_fleet_open(&app.fleet, cfg, &app.loop, app.hub) < 0) {
        vg_fleet_close(&app.fleet);
        vg_hub_close(&app.hub);
        goto out;
    }
    app.uplinks = vg_uplinks_new(&app.loop, uplinks_write, app.fleet);
    vg_fleet_set_uplinks(app.fleet, app.uplinks);
    if (open_auth(&app, cfg, ao, is_demo, list_routes) < 0) {
        vg_uplinks_close(&app.uplinks);
        vg_fleet_close(&app.fleet);
        vg_hub_close(&app.hub);
        uv_run(&app.loop, UV_RUN_DEFAULT);
        goto out;
    }
    /* The first snapshot is read here, before anything is served; from now on the store
     * is its thread's, and the loop never waits on it. */
    vg_fleet_on_access(app.fleet, on_access, &app);
    open_ptz(&app, cfg);
    vg_fleet_reconcile(app.fleet);
    if (vg_fleet_start_store(app.fleet) < 0) {
        vg_uplinks_close(&app.uplinks);
        vg_fleet_close(&app.fleet);
        vg_ptz_ctl_free(&app.ptz);
        vg_http_client_free(&app.http);
        vg_hub_close(&app.hub);
        uv_run(&app.loop, UV_RUN_DEFAULT);
        goto out;
    }
    vg_auth_set_store(app.auth, vg_fleet_async(app.fleet));
    if (vg_hub_count(app.hub) == 0 && !list_routes)
        VG_LOG_WARN("main", "no cameras: add some with --camera, a config file, the API or "
                    "`vigil camera add`");
    vg_server_cfg_t scfg = {
        .loop = &app.loop,
        .host = cfg->listen_host,
        .port = cfg->listen_port,
        .web_root = cfg->web_root,
        .max_conns_per_ip = cfg->max_conns_per_ip > 0 ? cfg->max_conns_per_ip : -1,
        .viewer_cc = cfg->viewer_cc,
        .tls = {.cert_path = ao->tls_cert, .key_path = ao->tls_key},
        .has_tls_clients = cfg->uplink_url && strncmp(cfg->uplink_url, "wss://", 6) == 0,
    };
    vg_server_new(&app.server, &scfg);
    vg_outputs_cfg_t ocfg = {
        .loop = &app.loop,
        .hub = app.hub,
        .snapshot_wait_ms = cfg->snapshot_wait_ms,
        .source_max_lag_ms = cfg->source_max_lag_ms,
        .source_max_lag_bytes = (size_t)cfg->source_max_lag_kb * 1024,
        .max_viewers = cfg->max_viewers,
        .max_out_kbps = cfg->max_out_kbps,
        .caller = viewer_caller,
        .caller_arg = app.auth,
        .max_viewers_per_user = cfg->max_viewers_per_user,
        .max_viewers_per_tenant = cfg->max_viewers_per_tenant,
        .max_cameras_per_user = cfg->max_cameras_per_user,
        .max_cameras_per_tenant = cfg->max_cameras_per_tenant,
    };
    app.outputs = vg_outputs_new(app.server, &ocfg);
    vg_fleet_set_outputs(app.fleet, app.outputs);
    vg_fleet_on_drain(app.fleet, on_drain, &app);
    vg_auth_register(app.auth, app.server);
    app.api = (vg_api_ctx_t){
        .hub = app.hub,
        .loop = &app.loop,
        .outputs = app.outputs,
        .auth = app.auth,
        .fleet = app.fleet,
        .write = api_write,
        .read = api_read,
        .instance_id = api_instance_id,
        .is_registered = api_is_registered,
        .ptz = app.ptz,
    };
    vg_api_register(app.server, &app.api);
    vg_uplinks_register(app.uplinks, app.server);
    if (list_routes || open_uplink(&app, cfg) < 0) {
        if (list_routes) { /* for tests and audits: every route this server would answer */
            vg_server_each_route(app.server, print_route, NULL);
            fflush(stdout);
        } else {
            rc = 2;
        }
        vg_outputs_stop(app.outputs);
        vg_uplinks_close(&app.uplinks);
        vg_fleet_close(&app.fleet);
        vg_ptz_ctl_free(&app.ptz);
        vg_http_client_free(&app.http);
        vg_hub_close(&app.hub);
        uv_run(&app.loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_init(&app.loop, &app.sigterm);
    uv_signal_init(&app.loop, &app.sighup);
    app.sigint.data = app.sigterm.data = app.sighup.data = &app;
    int start_rc = vg_server_start(app.server);
    if (start_rc < 0) {
        if (start_rc == -EADDRINUSE) /* logged below us; say what to change */
            VG_LOG_ERROR("main", "%s:%d is taken by another program: choose another address "
                         "with --listen HOST:PORT or VIGIL_LISTEN (port 0 picks a free one)",
                         cfg->listen_host, cfg->listen_port);
        app.is_stopping = true;
        vg_uplink_client_close(&app.uplink);
        vg_server_shutdown(app.server, on_server_down, &app);
        uv_run(&app.loop, UV_RUN_DEFAULT);
        goto out; /* rc is still 1 */
    }
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sighup, on_sighup, SIGHUP);
    if (vg_looplag_open(&app.looplag, &app.loop) == 0)
        app.api.looplag = app.looplag;
    start_rtsp(&app, cfg, ao); /* before the fleet's first heartbeat, which advertises it */
    if (app.uplink && app.rtsp == NULL) {
        VG_LOG_ERROR("main", "--uplink serves the central through this instance's RTSP "
                     "server, which is not running (rtsp_listen none, or its port is taken): "
                     "no uplink");
        vg_uplink_client_close(&app.uplink);
    } else if (app.uplink) {
        vg_uplink_client_set_rtsp_port(app.uplink, vg_rtsp_port(app.rtsp));
        vg_uplink_client_start(app.uplink);
    }
    vg_fleet_start(app.fleet);
    if (app.ptz)
        vg_ptz_ctl_start_health(app.ptz, (uint32_t)cfg->health_interval_ms); /* 0: once */

    const char *host = strchr(cfg->listen_host, ':') ? "[::1]" : cfg->listen_host;
    size_t cams = vg_hub_count(app.hub);
    const char *scheme = vg_server_is_tls(app.server) ? "https" : "http";
    VG_LOG_INFO("main", "listening on %s://%s:%d/ with %zu camera%s", scheme, host,
                vg_server_port(app.server), cams, cams == 1 ? "" : "s");
    if (is_demo) {
        printf("\nvigil demo: open %s://%s:%d/ in a browser (Ctrl-C to stop)\n", scheme, host,
               vg_server_port(app.server));
        if (app.demo_password[0])
            printf("vigil demo: sign in as user admin, password %s\n", app.demo_password);
        printf("\n");
        sodium_memzero(app.demo_password, sizeof(app.demo_password));
        fflush(stdout);
    }
    uv_run(&app.loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    vg_server_free(&app.server);
    vg_api_release(&app.api);
    vg_auth_free(&app.auth);
    uv_run(&app.loop, UV_RUN_DEFAULT); /* let the last close callbacks run */
    vg_outputs_free(&app.outputs);
    config_free(&app.cfg_next); /* a reload cut short by the stop */
    config_free(&app.cfg_owned);
    if (uv_loop_close(&app.loop) != 0) {
        VG_LOG_ERROR("main", "handles left open at exit");
        rc = 1;
    }
    if (rc == 0)
        VG_LOG_INFO("main", "stopped cleanly");
    return rc;
}

static int serve_main(int argc, char **argv, bool is_demo)
{
    enum { OPT_CAMERA = 256, OPT_IDLE, OPT_SNAPWAIT, OPT_WEBROOT, OPT_LOGLEVEL, OPT_DB,
           OPT_MAXCONNS,
           OPT_KEYFILE, OPT_ROUTES, OPT_NOAUTH, OPT_JWTSECRET, OPT_JWKS, OPT_JWTISS,
           OPT_JWTAUD, OPT_TLSCERT, OPT_TLSKEY, OPT_ORIGIN, OPT_SESSIONTTL, OPT_PROXY,
           OPT_JWTLEEWAY, OPT_HEALTH, OPT_LAGMS, OPT_LAGKB, OPT_VIEWERCC, OPT_RTSPLISTEN,
           OPT_INSTANCE, OPT_ADVERTISE, OPT_MAXVIEWERS, OPT_MAXSOURCES, OPT_MAXOUT, OPT_MAXDECODING,
           OPT_UPLINK, OPT_UPLINKKEY, OPT_UPLINKSITE,
           OPT_CALLERCAP, /* four in a row */ OPT_CALLERCAP_END = OPT_CALLERCAP + 3 };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"rtsp-listen", required_argument, NULL, OPT_RTSPLISTEN},
        {"camera", required_argument, NULL, OPT_CAMERA},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"health-interval", required_argument, NULL, OPT_HEALTH},
        {"snapshot-wait-ms", required_argument, NULL, OPT_SNAPWAIT},
        {"source-max-lag-ms", required_argument, NULL, OPT_LAGMS},
        {"source-max-lag-kb", required_argument, NULL, OPT_LAGKB},
        {"viewer-congestion-control", required_argument, NULL, OPT_VIEWERCC},
        {"web-root", required_argument, NULL, OPT_WEBROOT},
        {"max-conns-per-ip", required_argument, NULL, OPT_MAXCONNS},
        {"max-viewers", required_argument, NULL, OPT_MAXVIEWERS},
        {"max-sources", required_argument, NULL, OPT_MAXSOURCES},
        {"max-out-kbps", required_argument, NULL, OPT_MAXOUT},
        {"max-decoding", required_argument, NULL, OPT_MAXDECODING},
        {"max-viewers-per-user", required_argument, NULL, OPT_CALLERCAP + 0},
        {"max-viewers-per-tenant", required_argument, NULL, OPT_CALLERCAP + 1},
        {"max-cameras-per-user", required_argument, NULL, OPT_CALLERCAP + 2},
        {"max-cameras-per-tenant", required_argument, NULL, OPT_CALLERCAP + 3},
        {"log-level", required_argument, NULL, OPT_LOGLEVEL},
        {"db", required_argument, NULL, OPT_DB},
        {"master-key-file", required_argument, NULL, OPT_KEYFILE},
        {"instance-id", required_argument, NULL, OPT_INSTANCE},
        {"advertise-url", required_argument, NULL, OPT_ADVERTISE},
        {"uplink", required_argument, NULL, OPT_UPLINK},
        {"uplink-key", required_argument, NULL, OPT_UPLINKKEY},
        {"uplink-site", required_argument, NULL, OPT_UPLINKSITE},
        {"list-routes", no_argument, NULL, OPT_ROUTES},
        {"no-auth", no_argument, NULL, OPT_NOAUTH},
        {"jwt-secret-file", required_argument, NULL, OPT_JWTSECRET},
        {"jwks", required_argument, NULL, OPT_JWKS},
        {"jwt-issuer", required_argument, NULL, OPT_JWTISS},
        {"jwt-audience", required_argument, NULL, OPT_JWTAUD},
        {"tls-cert", required_argument, NULL, OPT_TLSCERT},
        {"tls-key", required_argument, NULL, OPT_TLSKEY},
        {"allow-origin", required_argument, NULL, OPT_ORIGIN},
        {"session-ttl", required_argument, NULL, OPT_SESSIONTTL},
        {"trusted-proxy", required_argument, NULL, OPT_PROXY},
        {"jwt-leeway", required_argument, NULL, OPT_JWTLEEWAY},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool list_routes = false;
    const char *session_ttl = NULL;
    const char *jwt_leeway = getenv("VIGIL_JWT_LEEWAY");
    auth_opts_t ao = {
        .jwks = getenv("VIGIL_JWKS"),
        .jwt_issuer = getenv("VIGIL_JWT_ISSUER"),
        .jwt_audience = getenv("VIGIL_JWT_AUDIENCE"),
        .jwt_leeway_s = 30,
        .tls_cert = getenv("VIGIL_TLS_CERT"),
        .tls_key = getenv("VIGIL_TLS_KEY"),
    };
    const char *config_path = getenv("VIGIL_CONFIG"), *listen = NULL, *web_root = NULL,
               *log_level = NULL, *idle = NULL, *health = NULL, *snapwait = NULL, *db = NULL, *key_file = NULL;
    const char *max_conns = NULL, *lag_ms = NULL, *lag_kb = NULL, *viewer_cc = NULL;
    const char *uplink = NULL, *uplink_key = NULL, *uplink_site = NULL;
    const char *rtsp_listen = NULL, *instance_id = NULL, *advertise_url = NULL;
    const char *max_viewers = NULL;
    const char *max_sources = NULL;
    const char *caller_caps[4] = {NULL};
    const char *max_out_kbps = NULL, *max_decoding = NULL;
    const char *cameras[VG_CONFIG_MAX_CAMERA_FLAGS];
    size_t camera_count = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'l': listen = optarg; break;
        case OPT_CAMERA:
            if (camera_count == VG_CONFIG_MAX_CAMERA_FLAGS) {
                fprintf(stderr, "vigil: too many --camera\n");
                return 2;
            }
            cameras[camera_count++] = optarg;
            break;
        case OPT_RTSPLISTEN: rtsp_listen = optarg; break;
        case OPT_IDLE: idle = optarg; break;
        case OPT_HEALTH: health = optarg; break;
        case OPT_SNAPWAIT: snapwait = optarg; break;
        case OPT_LAGMS: lag_ms = optarg; break;
        case OPT_LAGKB: lag_kb = optarg; break;
        case OPT_VIEWERCC: viewer_cc = optarg; break;
        case OPT_WEBROOT: web_root = optarg; break;
        case OPT_MAXCONNS: max_conns = optarg; break;
        case OPT_MAXVIEWERS: max_viewers = optarg; break;
        case OPT_MAXSOURCES: max_sources = optarg; break;
        case OPT_MAXOUT: max_out_kbps = optarg; break;
        case OPT_MAXDECODING: max_decoding = optarg; break;
        case OPT_CALLERCAP:
        case OPT_CALLERCAP + 1:
        case OPT_CALLERCAP + 2:
        case OPT_CALLERCAP + 3: caller_caps[c - OPT_CALLERCAP] = optarg; break;
        case OPT_LOGLEVEL: log_level = optarg; break;
        case OPT_DB: db = optarg; break;
        case OPT_KEYFILE: key_file = optarg; break;
        case OPT_INSTANCE: instance_id = optarg; break;
        case OPT_ADVERTISE: advertise_url = optarg; break;
        case OPT_UPLINK: uplink = optarg; break;
        case OPT_UPLINKKEY: uplink_key = optarg; break;
        case OPT_UPLINKSITE: uplink_site = optarg; break;
        case OPT_ROUTES: list_routes = true; break;
        case OPT_NOAUTH: ao.is_open = true; break;
        case OPT_JWTSECRET: ao.jwt_secret_file = optarg; break;
        case OPT_JWKS: ao.jwks = optarg; break;
        case OPT_JWTISS: ao.jwt_issuer = optarg; break;
        case OPT_JWTAUD: ao.jwt_audience = optarg; break;
        case OPT_TLSCERT: ao.tls_cert = optarg; break;
        case OPT_TLSKEY: ao.tls_key = optarg; break;
        case OPT_ORIGIN:
            if (ao.origin_count == 8) {
                fprintf(stderr, "vigil: at most 8 --allow-origin\n");
                return 2;
            }
            ao.origins[ao.origin_count++] = optarg;
            break;
        case OPT_SESSIONTTL: session_ttl = optarg; break;
        case OPT_JWTLEEWAY: jwt_leeway = optarg; break;
        case OPT_PROXY:
            if (ao.proxy_count == VG_PROXY_MAX) {
                fprintf(stderr, "vigil: at most %d --trusted-proxy\n", VG_PROXY_MAX);
                return 2;
            }
            ao.proxies[ao.proxy_count++] = optarg;
            break;
        case 'h': print_usage(stdout, is_demo); return 0;
        default: print_usage(stderr, is_demo); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil: unexpected argument '%s'\n\n", argv[optind]);
        print_usage(stderr, is_demo);
        return 2;
    }

    cfg_flags_t *fl = vg_xcalloc(1, sizeof(*fl));
    *fl = (cfg_flags_t){.config_path = config_path, .listen = listen,
                        .rtsp_listen = rtsp_listen, .web_root = web_root,
                        .log_level = log_level, .idle = idle, .health = health, .snapwait = snapwait, .db = db,
                        .key_file = key_file, .max_conns = max_conns, .lag_ms = lag_ms,
                        .lag_kb = lag_kb, .viewer_cc = viewer_cc,
                        .instance_id = instance_id, .advertise_url = advertise_url,
                        .uplink = uplink, .uplink_key = uplink_key, .uplink_site = uplink_site,
                        .max_viewers = max_viewers,
                        .max_sources = max_sources,
                        .max_out_kbps = max_out_kbps, .max_decoding = max_decoding,
                        .caller_caps = {caller_caps[0], caller_caps[1], caller_caps[2],
                                        caller_caps[3]},
                        .camera_count = camera_count, .is_demo = is_demo,
                        .list_routes = list_routes};
    memcpy(fl->cameras, cameras, camera_count * sizeof(cameras[0]));
    vg_config_t cfg;
    vg_config_init(&cfg);
    int rc = 2;
    long long n;
    /* The level is needed before the file is read, so that its errors are shown. */
    vg_log_level_t lvl;
    const char *early = log_level ? log_level : getenv("VIGIL_LOG_LEVEL");
    if (early && vg_log_level_parse(early, &lvl) == 0)
        vg_log_set_level(lvl);
    if (build_config(&cfg, fl) < 0)
        goto out;
    if (session_ttl) {
        if (vg_parse_int(session_ttl, 60, 30 * 86400, &n) < 0) {
            fprintf(stderr, "vigil: --session-ttl '%s': expected seconds 60..2592000\n",
                    session_ttl);
            goto out;
        }
        ao.session_ttl_s = (int)n;
    }
    if (jwt_leeway && *jwt_leeway) {
        if (vg_parse_int(jwt_leeway, 0, 300, &n) < 0) {
            fprintf(stderr, "vigil: --jwt-leeway '%s': expected seconds 0..300\n", jwt_leeway);
            goto out;
        }
        ao.jwt_leeway_s = (int)n;
    }
    if ((ao.tls_cert == NULL) != (ao.tls_key == NULL)) {
        fprintf(stderr, "vigil: --tls-cert and --tls-key go together\n");
        goto out;
    }
    /* Quietly binding somewhere else than asked would leave the operator believing the
     * server is reachable (or worse, that it is not open). */
    if (ao.is_open && strcmp(cfg.listen_host, "127.0.0.1") != 0 &&
        strcmp(cfg.listen_host, "::1") != 0 && strcmp(cfg.listen_host, "localhost") != 0) {
        fprintf(stderr, "vigil: --no-auth is for 127.0.0.1 only: it makes everyone an admin, "
                "so it will not listen on %s (sign-in is on without --no-auth)\n",
                cfg.listen_host);
        goto out;
    }
    /* Flags, else the environment, else the file: a list is taken whole from one place. */
    const char *proxies_env = getenv("VIGIL_TRUSTED_PROXIES");
    if (ao.proxy_count == 0 && !(proxies_env && *proxies_env)) {
        for (size_t i = 0; i < cfg.trusted_proxy_count; i++)
            ao.proxies[ao.proxy_count++] = cfg.trusted_proxies[i];
    }
    if (ao.proxy_count == 0 && proxies_env && *proxies_env) {
        ao.proxies_env = vg_xstrdup(proxies_env);
        for (char *tok = ao.proxies_env, *next; tok && *tok; tok = next) {
            next = strchr(tok, ',');
            if (next)
                *next++ = '\0';
            while (*tok == ' ')
                tok++;
            if (*tok == '\0')
                continue;
            if (ao.proxy_count == VG_PROXY_MAX) {
                fprintf(stderr, "vigil: VIGIL_TRUSTED_PROXIES: at most %d\n", VG_PROXY_MAX);
                goto out;
            }
            ao.proxies[ao.proxy_count++] = tok;
        }
    }
    for (int i = 0; i < ao.proxy_count; i++) {
        vg_cidr_t net;
        if (vg_cidr_parse(ao.proxies[i], &net) < 0) {
            fprintf(stderr, "vigil: trusted proxy '%s': expected an address or CIDR "
                    "(10.0.0.0/8, ::1)\n", ao.proxies[i]);
            goto out;
        }
    }
    vg_log_level_parse(cfg.log_level, &lvl);
    vg_log_set_level(lvl);
    vg_log_route_libraries();
    rc = run(&cfg, &ao, fl);
    if (list_routes && rc == 1)
        rc = 0;
out:
    vg_config_deinit(&cfg);
    free(ao.proxies_env);
    free(fl);
    return rc;
}

/* The configuration from defaults, the file, the environment and the flags, each over the one
 * before, checked whole: every camera as the sources and the media layer would take it. At
 * start and on SIGHUP. 0, or VG_ECONFIG (one line, logged unless cfg->is_quiet, in
 * cfg->error). */
static int build_config(vg_config_t *cfg, const cfg_flags_t *fl)
{
    long long n;
    if (fl->config_path && vg_config_load_file(cfg, fl->config_path) < 0)
        return VG_ECONFIG;
    if (vg_config_apply_env(cfg) < 0)
        return VG_ECONFIG;
    if (fl->listen && vg_config_set_listen(cfg, fl->listen) < 0)
        return VG_ECONFIG;
    if (fl->rtsp_listen && vg_config_set_rtsp_listen(cfg, fl->rtsp_listen) < 0)
        return VG_ECONFIG;
    if (fl->web_root)
        vg_config_set_str(&cfg->web_root, fl->web_root);
    if (fl->log_level)
        vg_config_set_str(&cfg->log_level, fl->log_level);
    if (fl->db)
        vg_config_set_str(&cfg->db_path, fl->db);
    if (fl->key_file)
        vg_config_set_str(&cfg->master_key_file, fl->key_file);
    if (fl->instance_id)
        vg_config_set_str(&cfg->instance_id, fl->instance_id);
    if (fl->advertise_url)
        vg_config_set_str(&cfg->advertise_url, fl->advertise_url);
    if (fl->uplink)
        vg_config_set_str(&cfg->uplink_url, fl->uplink);
    if (fl->uplink_key)
        vg_config_set_secret(&cfg->uplink_key, fl->uplink_key);
    if (fl->uplink_site)
        vg_config_set_str(&cfg->uplink_site, fl->uplink_site);
    if (fl->idle) {
        if (vg_parse_int(fl->idle, 0, 86400, &n) < 0)
            return vg_config_error(cfg, "--idle-timeout '%s': expected seconds 0..86400",
                                   fl->idle);
        cfg->idle_timeout_ms = (int)n * 1000;
    }
    if (fl->health) {
        if (vg_parse_int(fl->health, 0, 86400, &n) < 0)
            return vg_config_error(cfg, "--health-interval '%s': expected seconds 0..86400 "
                                   "(0: off)", fl->health);
        cfg->health_interval_ms = (int)n * 1000;
    }
    if (fl->snapwait) {
        if (vg_parse_int(fl->snapwait, 0, 60000, &n) < 0)
            return vg_config_error(cfg, "--snapshot-wait-ms '%s': expected 0..60000",
                                   fl->snapwait);
        cfg->snapshot_wait_ms = (int)n;
    }
    if (fl->viewer_cc) {
        if (vg_config_check_cc(fl->viewer_cc) < 0)
            return vg_config_error(cfg, "--viewer-congestion-control '%s': expected system or "
                                   "one the kernel offers (%s)", fl->viewer_cc,
                                   "/proc/sys/net/ipv4/tcp_available_congestion_control");
        vg_config_set_str(&cfg->viewer_cc, fl->viewer_cc);
    }
    if (fl->lag_ms) {
        if (vg_parse_int(fl->lag_ms, 1, 60000, &n) < 0)
            return vg_config_error(cfg, "--source-max-lag-ms '%s': expected 1..60000",
                                   fl->lag_ms);
        cfg->source_max_lag_ms = (int)n;
    }
    if (fl->lag_kb) {
        if (vg_parse_int(fl->lag_kb, 1, 1048576, &n) < 0)
            return vg_config_error(cfg, "--source-max-lag-kb '%s': expected 1..1048576",
                                   fl->lag_kb);
        cfg->source_max_lag_kb = (int)n;
    }
    if (fl->max_conns) {
        if (vg_parse_int(fl->max_conns, 0, 1000000, &n) < 0)
            return vg_config_error(cfg, "--max-conns-per-ip '%s': expected 0..1000000",
                                   fl->max_conns);
        cfg->max_conns_per_ip = (int)n;
    }
    if (fl->max_viewers) {
        if (vg_parse_int(fl->max_viewers, 0, 1000000, &n) < 0)
            return vg_config_error(cfg, "--max-viewers '%s': expected 0..1000000",
                                   fl->max_viewers);
        cfg->max_viewers = (int)n;
    }
    if (fl->max_sources) {
        if (vg_parse_int(fl->max_sources, 0, 100000, &n) < 0)
            return vg_config_error(cfg, "--max-sources '%s': expected 0..100000",
                                   fl->max_sources);
        cfg->max_sources = (int)n;
    }
    const struct {
        const char *flag;
        long long max;
        int *into;
    } caps[6] = {
        {"--max-out-kbps", 100000000, &cfg->max_out_kbps},
        {"--max-decoding", 100000, &cfg->max_decoding},
        {"--max-viewers-per-user", 1000000, &cfg->max_viewers_per_user},
        {"--max-viewers-per-tenant", 1000000, &cfg->max_viewers_per_tenant},
        {"--max-cameras-per-user", 1000, &cfg->max_cameras_per_user},
        {"--max-cameras-per-tenant", 1000, &cfg->max_cameras_per_tenant},
    };
    const char *given[6] = {fl->max_out_kbps, fl->max_decoding, fl->caller_caps[0],
                            fl->caller_caps[1], fl->caller_caps[2], fl->caller_caps[3]};
    for (int i = 0; i < 6; i++) {
        if (given[i] == NULL)
            continue;
        if (vg_parse_int(given[i], 0, caps[i].max, &n) < 0)
            return vg_config_error(cfg, "%s '%s': expected 0..%lld", caps[i].flag, given[i],
                                   caps[i].max);
        *caps[i].into = (int)n;
    }
    for (size_t i = 0; i < fl->camera_count; i++) {
        if (vg_config_add_camera_spec(cfg, fl->cameras[i]) < 0)
            return VG_ECONFIG;
    }
    if (fl->is_demo) {
        for (size_t i = 0; i < sizeof(demo_cameras) / sizeof(demo_cameras[0]); i++) {
            if (vg_config_add_camera(cfg, demo_cameras[i][0], demo_cameras[i][1],
                                     demo_cameras[i][2], "low", -1) < 0)
                return VG_ECONFIG;
        }
    }
    if (vg_config_validate(cfg) < 0 || vg_fleet_check_cameras(cfg) < 0)
        return VG_ECONFIG;
    if (cfg->db_path == NULL) /* a demo keeps nothing; a server keeps its cameras */
        vg_config_set_str(&cfg->db_path, fl->is_demo ? ":memory:" : "vigil.db");
    if (fl->list_routes)
        vg_config_set_str(&cfg->db_path, ":memory:");
    return 0;
}

int vg_cli_serve(int argc, char **argv) { return serve_main(argc, argv, false); }
int vg_cli_demo(int argc, char **argv) { return serve_main(argc, argv, true); }
