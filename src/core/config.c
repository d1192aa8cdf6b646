/* config: see config.h. The YAML schema is declared for libcyaml below; unknown keys are
 * errors, so a typo in a config file is reported instead of silently ignored. */
#include "core/config.h"

#include <cyaml/cyaml.h>
#include <yaml.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* Secrets: which live strings came from sodium_malloc, so that every free takes the right
 * path whichever setter put the value there (the fleet sets a camera's password with
 * vg_config_set_str; a file's goes through vg_config_set_secret). Few entries (a password
 * or a URL with credentials per camera), looked up only when a setting changes or is freed.
 * Any thread: the fleet may build its configs away from the loop. */
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;    /* secrets_lock */
static size_t secret_count, secret_cap; /* secrets_lock */

static bool secret_forget(const char *p)
{
    bool is_secret = false;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < secret_count; i++) {
        if (secrets[i] == p) {
            secrets[i] = secrets[--secret_count];
            is_secret = true;
            break;
        }
    }
    pthread_mutex_unlock(&secrets_lock);
    return is_secret;
}

char *vg_config_secret_dup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    /* sodium_init: sodium_malloc needs the page size it learns there (idempotent). */
    char *p = sodium_init() < 0 ? NULL : sodium_malloc(n);
    if (p == NULL) {
        fputs("vigil: out of memory for a secret\n", stderr);
        abort(); /* as vg_xmalloc does */
    }
    memcpy(p, s, n);
    pthread_mutex_lock(&secrets_lock);
    if (secret_count == secret_cap) {
        secret_cap = secret_cap ? secret_cap * 2 : 16;
        secrets = vg_xrealloc(secrets, secret_cap * sizeof(*secrets));
    }
    secrets[secret_count++] = p;
    pthread_mutex_unlock(&secrets_lock);
    return p;
}

void vg_config_secret_free(char **p)
{
    if (*p == NULL)
        return;
    if (secret_forget(*p)) {
        sodium_free(*p); /* wipes it */
    } else {
        sodium_memzero(*p, strlen(*p));
        free(*p);
    }
    *p = NULL;
}

void vg_config_set_str(char **field, const char *value)
{
    vg_config_secret_free(field); /* any setting may hold credentials (a URL's userinfo) */
    *field = value ? vg_xstrdup(value) : NULL;
}

void vg_config_set_secret(char **field, const char *value)
{
    vg_config_secret_free(field);
    *field = vg_config_secret_dup(value);
}

int vg_config_check_cc(const char *name)
{
    if (strcmp(name, "system") == 0 || strcmp(name, "bbr") == 0)
        return 0; /* bbr falls back to the system's when the kernel lacks it (logged) */
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "r");
    char line[256] = "";
    int rc = VG_EINVAL;
    if (f && fgets(line, sizeof(line), f)) {
        for (char *save = NULL, *tok = strtok_r(line, " \n", &save); tok;
             tok = strtok_r(NULL, " \n", &save))
            rc = strcmp(tok, name) == 0 ? 0 : rc;
    }
    if (f)
        fclose(f);
    return rc;
}

void vg_config_init(vg_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    vg_config_set_str(&cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8080;
    vg_config_set_str(&cfg->rtsp_listen_host, "127.0.0.1");
    cfg->rtsp_listen_port = 8554;
    vg_config_set_str(&cfg->log_level, "info");
    vg_config_set_str(&cfg->viewer_cc, "bbr");
    cfg->idle_timeout_ms = 30000;
    cfg->stall_timeout_ms = 5000;
    cfg->snapshot_wait_ms = 3000;
    cfg->ptz_timeout_ms = 3000;
    cfg->source_max_lag_ms = 1000;
    cfg->source_max_lag_kb = 2048;
    cfg->health_interval_ms = 60000;
    cfg->max_conns_per_ip = 256;
}

/* ---- where each key of the file is: a second pass over the file with libyaml, because
 * libcyaml only tells where it was when it gave up, not where the offending key is ---- */

typedef struct loc {
    char *path; /* "cameras[2].url" */
    int line;   /* 1-based */
} loc_t;

struct vg_config_locs {
    loc_t *v;
    size_t n, cap;
};

static void locs_free(vg_config_locs_t **lp)
{
    vg_config_locs_t *l = *lp;
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    free(l);
    *lp = NULL;
}

static void locs_add(vg_config_locs_t *l, const char *path, int line)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = vg_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = (loc_t){.path = vg_xstrdup(path), .line = line};
}

int vg_config_line(const vg_config_t *cfg, const char *path)
{
    for (size_t i = 0; cfg->locs && i < cfg->locs->n; i++) {
        if (strcmp(cfg->locs->v[i].path, path) == 0)
            return cfg->locs->v[i].line;
    }
    return 0;
}

int vg_config_error(vg_config_t *cfg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cfg->error, sizeof(cfg->error), fmt, ap);
    va_end(ap);
    if (!cfg->is_quiet)
        VG_LOG_ERROR("config", "%s", cfg->error);
    return VG_ECONFIG;
}

/* "FILE:LINE: PATH: " + message; the line is PATH's, else its nearest parent's. */
__attribute__((format(printf, 3, 4))) static int file_error(vg_config_t *cfg, const char *path,
                                                           const char *fmt, ...)
{
    char msg[400], p[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vg_strlcpy(p, path, sizeof(p));
    int line = 0;
    while ((line = vg_config_line(cfg, p)) == 0) {
        char *cut = strrchr(p, '.'), *br = strrchr(p, '[');
        cut = cut > br ? cut : br;
        if (cut == NULL)
            break;
        *cut = '\0';
    }
    if (line > 0)
        return vg_config_error(cfg, "%s:%d: %s: %s", cfg->file_path, line, path, msg);
    return vg_config_error(cfg, "%s: %s: %s", cfg->file_path, path, msg);
}

void vg_config_where(const vg_config_t *cfg, const vg_camera_cfg_t *cc, const char *field,
                     char *out, size_t out_len)
{
    const char *dot = *field ? "." : "";
    if (cc->file_index >= 0 && cfg->file_path) {
        char path[160];
        snprintf(path, sizeof(path), "cameras[%d]%s%s", cc->file_index, dot, field);
        int line = vg_config_line(cfg, path);
        if (line == 0) {
            char entry[32];
            snprintf(entry, sizeof(entry), "cameras[%d]", cc->file_index);
            line = vg_config_line(cfg, entry);
        }
        snprintf(out, out_len, "%s:%d: %s", cfg->file_path, line, path);
    } else if (cc->is_flag) {
        snprintf(out, out_len, "--camera %s%s%s", cc->id, *field ? ": " : "", field);
    } else {
        snprintf(out, out_len, "camera '%s'%s%s", cc->id, *field ? ": " : "", field);
    }
}

typedef struct walk_frame {
    char path[160];
    bool is_seq, is_value_next; /* mapping: a key was read, its value comes next */
    char key[64];
    int index;
} walk_frame_t;

/* The path of the node the top frame is about to read. */
static void walk_child(const walk_frame_t *f, char *out, size_t n)
{
    if (f->is_seq)
        snprintf(out, n, "%s[%d]", f->path, f->index);
    else
        snprintf(out, n, "%s%s%s", f->path, f->path[0] ? "." : "", f->key);
}

/* Reads every key's line into cfg->locs. 0, or VG_ECONFIG on a YAML syntax error (logged,
 * with its line). */
static int locs_read(vg_config_t *cfg, FILE *fp)
{
    yaml_parser_t p;
    yaml_event_t ev;
    walk_frame_t st[16];
    int depth = 0, rc = 0;
    char child[256];
    locs_free(&cfg->locs);
    cfg->locs = vg_xcalloc(1, sizeof(*cfg->locs));
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, fp);
    for (bool done = false; !done;) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = vg_config_error(cfg, "%s:%zu: YAML syntax: %s%s%s", cfg->file_path,
                                 p.problem_mark.line + 1, p.problem ? p.problem : "error",
                                 p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        walk_frame_t *top = depth > 0 ? &st[depth - 1] : NULL;
        int line = (int)ev.start_mark.line + 1;
        bool is_value = top && (top->is_seq || top->is_value_next);
        if (is_value)
            walk_child(top, child, sizeof(child));
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            if (top && !top->is_seq && !top->is_value_next) { /* a key */
                snprintf(top->key, sizeof(top->key), "%s",
                         ev.type == YAML_SCALAR_EVENT ? (char *)ev.data.scalar.value : "*");
                walk_child(top, child, sizeof(child));
                locs_add(cfg->locs, child, line);
                top->is_value_next = true;
            } else if (top && top->is_seq) {
                locs_add(cfg->locs, child, line);
                top->index++;
            } else if (top) {
                top->is_value_next = false;
            }
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (top && top->is_seq)
                locs_add(cfg->locs, child, line);
            if (depth == (int)(sizeof(st) / sizeof(st[0]))) {
                rc = vg_config_error(cfg, "%s:%d: nested too deeply", cfg->file_path, line);
                done = true;
                break;
            }
            st[depth] = (walk_frame_t){.is_seq = ev.type == YAML_SEQUENCE_START_EVENT};
            vg_strlcpy(st[depth].path, top ? child : "", sizeof(st[depth].path));
            depth++;
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            if (depth > 0) {
                top = &st[depth - 1];
                if (top->is_seq)
                    top->index++;
                else
                    top->is_value_next = false;
            }
            break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

static void tiers_free(vg_tier_cfg_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].size);
        free(t[i].codec);
    }
}

void vg_config_deinit(vg_config_t *cfg)
{
    tiers_free(cfg->tiers, cfg->tier_count);
    free(cfg->listen_host);
    free(cfg->rtsp_listen_host);
    free(cfg->web_root);
    free(cfg->log_level);
    free(cfg->viewer_cc);
    free(cfg->db_path);
    free(cfg->master_key_file);
    free(cfg->instance_id);
    free(cfg->advertise_url);
    free(cfg->uplink_url);
    vg_config_secret_free(&cfg->uplink_key);
    free(cfg->uplink_site);
    for (size_t i = 0; i < cfg->trusted_proxy_count; i++)
        free(cfg->trusted_proxies[i]);
    free(cfg->file_path);
    locs_free(&cfg->locs);
    for (size_t i = 0; i < cfg->camera_count; i++) {
        free(cfg->cameras[i].id);
        free(cfg->cameras[i].name);
        /* These may hold the camera's credentials: wiped, whoever allocated them. */
        vg_config_secret_free(&cfg->cameras[i].url);
        vg_config_secret_free(&cfg->cameras[i].substream_url);
        vg_config_secret_free(&cfg->cameras[i].snapshot_url);
        vg_config_secret_free(&cfg->cameras[i].username);
        vg_config_secret_free(&cfg->cameras[i].password);
        free(cfg->cameras[i].default_tier);
        free(cfg->cameras[i].dial_error);
        free(cfg->cameras[i].ptz_driver);
        free(cfg->cameras[i].ptz_address);
        free(cfg->cameras[i].ptz_error);
        tiers_free(cfg->cameras[i].tiers, cfg->cameras[i].tier_count);
    }
    free(cfg->cameras);
    memset(cfg, 0, sizeof(*cfg));
}

/* "host:port", ":port" or "port" into *host and *port; NULL, or what is wrong. */
static const char *hostport_set(char **host_out, int *port_out, const char *hostport)
{
    const char *colon = strrchr(hostport, ':');
    const char *port_str = colon ? colon + 1 : hostport;
    long long port;
    if (vg_parse_int(port_str, 0, 65535, &port) < 0)
        return "port must be 0..65535";
    if (colon && colon != hostport) {
        size_t n = (size_t)(colon - hostport);
        char host[256];
        if (n >= sizeof(host))
            return "host too long";
        memcpy(host, hostport, n);
        host[n] = '\0';
        /* Accept "[::1]:8080" as well as "::1" style hosts. */
        if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
            memmove(host, host + 1, n - 2);
            host[n - 2] = '\0';
        }
        vg_config_set_str(host_out, host);
    }
    *port_out = (int)port;
    return NULL;
}

static const char *listen_set(vg_config_t *cfg, const char *hostport)
{
    return hostport_set(&cfg->listen_host, &cfg->listen_port, hostport);
}

static const char *rtsp_listen_set(vg_config_t *cfg, const char *hostport)
{
    if (strcmp(hostport, "none") == 0) {
        cfg->rtsp_listen_port = -1;
        return NULL;
    }
    return hostport_set(&cfg->rtsp_listen_host, &cfg->rtsp_listen_port, hostport);
}

int vg_config_set_rtsp_listen(vg_config_t *cfg, const char *hostport)
{
    const char *why = rtsp_listen_set(cfg, hostport);
    if (why)
        return vg_config_error(cfg, "RTSP listen address '%s': %s (or none)", hostport, why);
    return 0;
}

int vg_config_set_listen(vg_config_t *cfg, const char *hostport)
{
    const char *why = listen_set(cfg, hostport);
    if (why)
        return vg_config_error(cfg, "listen address '%s': %s", hostport, why);
    return 0;
}

/* What is wrong with a camera's id or URL for cfg, or NULL. *field gets "id" or "url". */
static const char *camera_refusal(const vg_config_t *cfg, const char *id, const char *url,
                                  const char **field, char *buf, size_t len)
{
    *field = "id";
    if (id == NULL || !vg_slug_is_valid(id)) {
        snprintf(buf, len, "'%.80s' is not a valid camera id: use 1-64 of a-z 0-9 - _",
                 id ? id : "");
        return buf;
    }
    for (size_t i = 0; i < cfg->camera_count; i++) {
        if (strcmp(cfg->cameras[i].id, id) == 0) {
            snprintf(buf, len, "camera id '%s' is declared twice", id);
            return buf;
        }
    }
    *field = "url";
    if (url == NULL || strstr(url, "://") == NULL) {
        snprintf(buf, len, "must look like scheme://... (rtsp://, http://, test://, ...)");
        return buf;
    }
    return NULL;
}

static vg_camera_cfg_t *camera_append(vg_config_t *cfg, const char *id, const char *name,
                                      const char *url, const char *default_tier,
                                      int idle_timeout_ms)
{
    if (cfg->camera_count == cfg->camera_cap) {
        size_t cap = cfg->camera_cap ? 2 * cfg->camera_cap : 16;
        cfg->cameras = vg_xrealloc(cfg->cameras, cap * sizeof(cfg->cameras[0]));
        memset(&cfg->cameras[cfg->camera_cap], 0, (cap - cfg->camera_cap) * sizeof(cfg->cameras[0]));
        cfg->camera_cap = cap;
    }
    vg_camera_cfg_t *c = &cfg->cameras[cfg->camera_count++];
    c->id = vg_xstrdup(id);
    c->name = vg_xstrdup(name && *name ? name : id);
    c->url = vg_xstrdup(url);
    c->default_tier = default_tier && *default_tier ? vg_xstrdup(default_tier) : NULL;
    c->idle_timeout_ms = idle_timeout_ms;
    c->stall_timeout_ms = -1;
    c->file_index = -1;
    return c;
}

int vg_config_add_camera(vg_config_t *cfg, const char *id, const char *name, const char *url,
                         const char *default_tier, int idle_timeout_ms)
{
    char buf[200];
    const char *field;
    const char *why = camera_refusal(cfg, id, url, &field, buf, sizeof(buf));
    if (why) {
        VG_LOG_ERROR("config", "camera '%s': %s: %s", id ? id : "", field, why);
        return VG_ECONFIG;
    }
    camera_append(cfg, id, name, url, default_tier, idle_timeout_ms);
    return 0;
}

vg_camera_cfg_t *vg_config_last_camera(vg_config_t *cfg)
{
    return cfg->camera_count ? &cfg->cameras[cfg->camera_count - 1] : NULL;
}

int vg_config_add_camera_spec(vg_config_t *cfg, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec)
        return vg_config_error(cfg, "--camera '%.80s': expected ID=URL", spec);
    char id[80], buf[200];
    size_t n = (size_t)(eq - spec);
    if (n >= sizeof(id))
        return vg_config_error(cfg, "--camera: id too long");
    memcpy(id, spec, n);
    id[n] = '\0';
    const char *field;
    const char *why = camera_refusal(cfg, id, eq + 1, &field, buf, sizeof(buf));
    if (why)
        return vg_config_error(cfg, "--camera %s: %s: %s", id, field, why);
    vg_config_set_secret(&camera_append(cfg, id, NULL, eq + 1, NULL, -1)->url, eq + 1);
    vg_config_last_camera(cfg)->is_flag = true;
    return 0;
}

/* ---- YAML file ---- */

typedef struct yaml_tier {
    char *name, *size, *codec;
    unsigned fps, quality, kbps;
} yaml_tier_t;

typedef struct yaml_camera {
    char *id, *name, *url, *default_tier;
    char *substream_url, *snapshot_url, *username, *password;
    unsigned idle_timeout_s;  /* absent or 0: the server's default */
    unsigned stall_timeout_s; /* absent or 0: the server's default */
    bool always_on;
    int priority;
    yaml_tier_t *tiers;
    unsigned tiers_count;
} yaml_camera_t;

typedef struct yaml_root {
    char *listen, *rtsp_listen, *web_root, *log_level, *db, *master_key_file, *viewer_cc;
    char *instance_id, *advertise_url, *uplink, *uplink_site;
    unsigned idle_timeout_s, snapshot_wait_ms, stall_timeout_s, ptz_timeout_ms;
    unsigned source_max_lag_ms, source_max_lag_kb;
    unsigned *health_interval_s; /* NULL: absent (0 turns the idle checks off) */
    int *max_conns_per_ip; /* NULL: absent (0 means no cap) */
    unsigned max_viewers;   /* 0: no cap */
    unsigned max_sources;   /* 0: no cap */
    unsigned max_viewers_per_user, max_viewers_per_tenant; /* 0: no cap */
    unsigned max_out_kbps;                                 /* 0: no cap */
    unsigned max_decoding;                                 /* 0: no cap */
    unsigned max_cameras_per_user, max_cameras_per_tenant; /* 0: no cap */
    char **trusted_proxies;
    unsigned trusted_proxies_count;
    yaml_tier_t *tiers;
    unsigned tiers_count;
    yaml_camera_t *cameras;
    unsigned cameras_count;
} yaml_root_t;

#define OPT_STR(key, type, field)                                                             \
    CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, type, field, 0,      \
                           CYAML_UNLIMITED)

static const cyaml_schema_field_t tier_fields[] = {
    OPT_STR("name", yaml_tier_t, name),
    CYAML_FIELD_STRING_PTR("size", CYAML_FLAG_POINTER, yaml_tier_t, size, 1, 16),
    CYAML_FIELD_UINT("fps", CYAML_FLAG_OPTIONAL, yaml_tier_t, fps),
    CYAML_FIELD_UINT("quality", CYAML_FLAG_OPTIONAL, yaml_tier_t, quality),
    OPT_STR("codec", yaml_tier_t, codec),
    CYAML_FIELD_UINT("kbps", CYAML_FLAG_OPTIONAL, yaml_tier_t, kbps),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t tier_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, yaml_tier_t, tier_fields),
};

static const cyaml_schema_field_t camera_fields[] = {
    CYAML_FIELD_STRING_PTR("id", CYAML_FLAG_POINTER, yaml_camera_t, id, 1, 64),
    OPT_STR("name", yaml_camera_t, name),
    CYAML_FIELD_STRING_PTR("url", CYAML_FLAG_POINTER, yaml_camera_t, url, 1, 4096),
    OPT_STR("default_tier", yaml_camera_t, default_tier),
    OPT_STR("substream_url", yaml_camera_t, substream_url),
    OPT_STR("snapshot_url", yaml_camera_t, snapshot_url),
    OPT_STR("username", yaml_camera_t, username),
    OPT_STR("password", yaml_camera_t, password),
    CYAML_FIELD_UINT("idle_timeout_s", CYAML_FLAG_OPTIONAL, yaml_camera_t, idle_timeout_s),
    CYAML_FIELD_UINT("stall_timeout_s", CYAML_FLAG_OPTIONAL, yaml_camera_t, stall_timeout_s),
    CYAML_FIELD_BOOL("always_on", CYAML_FLAG_OPTIONAL, yaml_camera_t, always_on),
    CYAML_FIELD_INT("priority", CYAML_FLAG_OPTIONAL, yaml_camera_t, priority),
    CYAML_FIELD_SEQUENCE("tiers", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_camera_t, tiers,
                         &tier_schema, 1, VG_CONFIG_MAX_TIERS),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t camera_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, yaml_camera_t, camera_fields),
};

static const cyaml_schema_value_t proxy_schema = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, 64),
};

static const cyaml_schema_field_t root_fields[] = {
    OPT_STR("listen", yaml_root_t, listen),
    OPT_STR("rtsp_listen", yaml_root_t, rtsp_listen),
    OPT_STR("web_root", yaml_root_t, web_root),
    OPT_STR("log_level", yaml_root_t, log_level),
    OPT_STR("viewer_congestion_control", yaml_root_t, viewer_cc),
    OPT_STR("db", yaml_root_t, db),
    OPT_STR("instance_id", yaml_root_t, instance_id),
    OPT_STR("advertise_url", yaml_root_t, advertise_url),
    OPT_STR("uplink", yaml_root_t, uplink),
    OPT_STR("uplink_site", yaml_root_t, uplink_site),
    OPT_STR("master_key_file", yaml_root_t, master_key_file),
    CYAML_FIELD_UINT("idle_timeout_s", CYAML_FLAG_OPTIONAL, yaml_root_t, idle_timeout_s),
    CYAML_FIELD_UINT("snapshot_wait_ms", CYAML_FLAG_OPTIONAL, yaml_root_t, snapshot_wait_ms),
    CYAML_FIELD_UINT("ptz_timeout_ms", CYAML_FLAG_OPTIONAL, yaml_root_t, ptz_timeout_ms),
    CYAML_FIELD_UINT("stall_timeout_s", CYAML_FLAG_OPTIONAL, yaml_root_t, stall_timeout_s),
    CYAML_FIELD_UINT("source_max_lag_ms", CYAML_FLAG_OPTIONAL, yaml_root_t, source_max_lag_ms),
    CYAML_FIELD_UINT("source_max_lag_kb", CYAML_FLAG_OPTIONAL, yaml_root_t, source_max_lag_kb),
    CYAML_FIELD_UINT("max_viewers", CYAML_FLAG_OPTIONAL, yaml_root_t, max_viewers),
    CYAML_FIELD_UINT("max_sources", CYAML_FLAG_OPTIONAL, yaml_root_t, max_sources),
    CYAML_FIELD_UINT("max_out_kbps", CYAML_FLAG_OPTIONAL, yaml_root_t, max_out_kbps),
    CYAML_FIELD_UINT("max_decoding", CYAML_FLAG_OPTIONAL, yaml_root_t, max_decoding),
    CYAML_FIELD_UINT("max_viewers_per_user", CYAML_FLAG_OPTIONAL, yaml_root_t, max_viewers_per_user),
    CYAML_FIELD_UINT("max_viewers_per_tenant", CYAML_FLAG_OPTIONAL, yaml_root_t, max_viewers_per_tenant),
    CYAML_FIELD_UINT("max_cameras_per_user", CYAML_FLAG_OPTIONAL, yaml_root_t, max_cameras_per_user),
    CYAML_FIELD_UINT("max_cameras_per_tenant", CYAML_FLAG_OPTIONAL, yaml_root_t, max_cameras_per_tenant),
    CYAML_FIELD_UINT_PTR("health_interval_s", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
                         yaml_root_t, health_interval_s),
    CYAML_FIELD_INT_PTR("max_conns_per_ip", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_root_t,
                        max_conns_per_ip),
    CYAML_FIELD_SEQUENCE("trusted_proxies", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_root_t,
                         trusted_proxies, &proxy_schema, 0, VG_CONFIG_MAX_PROXIES),
    CYAML_FIELD_SEQUENCE("tiers", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_root_t, tiers,
                         &tier_schema, 1, VG_CONFIG_MAX_TIERS),
    CYAML_FIELD_SEQUENCE("cameras", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_root_t,
                         cameras, &camera_schema, 0, VG_CONFIG_MAX_FILE_CAMERAS),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t root_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, yaml_root_t, root_fields),
};

/* libcyaml's messages during a load: its reason, then a backtrace (innermost first). They
 * are collected here and turned into one line (load_error), never logged as they are. */
typedef struct cyaml_capture {
    char text[2048];
    size_t len;
} cyaml_capture_t;

__attribute__((format(printf, 3, 0))) static void cyaml_log_cb(cyaml_log_t level, void *ctx,
                                                              const char *fmt, va_list args)
{
    cyaml_capture_t *c = ctx;
    if (level < CYAML_LOG_ERROR || c->len >= sizeof(c->text) - 1)
        return;
    int n = vsnprintf(c->text + c->len, sizeof(c->text) - c->len, fmt, args);
    if (n > 0)
        c->len = c->len + (size_t)n < sizeof(c->text) ? c->len + (size_t)n : sizeof(c->text) - 1;
}

static const char *const root_keys = "listen, rtsp_listen, web_root, log_level, db, "
                                     "master_key_file, viewer_congestion_control, "
                                     "idle_timeout_s, snapshot_wait_ms, stall_timeout_s, health_interval_s, "
                                     "ptz_timeout_ms, "
                                     "source_max_lag_ms, source_max_lag_kb, "
                                     "max_conns_per_ip, max_viewers, max_sources, max_decoding, max_out_kbps, "
                                     "max_viewers_per_user, "
                                     "max_viewers_per_tenant, max_cameras_per_user, "
                                     "max_cameras_per_tenant, instance_id, advertise_url, uplink, "
                                     "uplink_site, "
                                     "trusted_proxies, tiers, cameras";
static const char *const camera_keys = "id, name, url, default_tier, substream_url, "
                                       "snapshot_url, username, password, idle_timeout_s, "
                                       "stall_timeout_s, always_on, priority, tiers";
static const char *const tier_keys = "name, size, fps, quality, codec, kbps";

/* Turns what libcyaml said into "FILE:LINE: PATH: reason". */
static int load_error(vg_config_t *cfg, const cyaml_capture_t *c, cyaml_err_t err)
{
    /* Frames, innermost first: "  in mapping field 'K' (line: L, column: C)",
     * "  in sequence entry 'N' (...)", "  in mapping (...)". */
    char reason[256] = "", path[160] = "", seg[8][96];
    int nseg = 0, cy_line = 0;
    bool is_innermost_field = false, is_first = true;
    const char *p = c->text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char l[300];
        size_t ln = n < sizeof(l) ? n : sizeof(l) - 1;
        memcpy(l, p, ln);
        l[ln] = '\0';
        char name[80];
        int line = 0;
        const char *at = strstr(l, "(line: ");
        if (at)
            line = atoi(at + 7);
        if (strncmp(l, "Load: ", 6) == 0 && reason[0] == '\0' &&
            strcmp(l, "Load: Backtrace:") != 0) {
            vg_strlcpy(reason, l + 6, sizeof(reason));
        } else if (nseg < 8 && sscanf(l, "  in mapping field '%79[^']'", name) == 1) {
            snprintf(seg[nseg++], sizeof(seg[0]), ".%s", name);
            if (is_first) {
                is_innermost_field = true;
                cy_line = line;
            }
            is_first = false;
        } else if (nseg < 8 && sscanf(l, "  in sequence entry '%79[^']'", name) == 1) {
            snprintf(seg[nseg++], sizeof(seg[0]), "[%d]", atoi(name) - 1);
            if (is_first)
                cy_line = line;
            is_first = false;
        } else if (strncmp(l, "  in mapping", 12) == 0 && is_first) {
            cy_line = line;
            is_first = false;
        }
        p = eol ? eol + 1 : p + n;
    }
    char key[80] = "", msg[600];
    bool is_missing = sscanf(reason, "Missing required mapping field: %79s", key) == 1;
    if (is_missing && is_innermost_field) /* that frame is the field read before */
        memmove(seg[0], seg[1], sizeof(seg[0]) * (size_t)--nseg);
    for (int i = nseg; i-- > 0;)
        strncat(path, seg[i][0] == '.' && path[0] == '\0' ? seg[i] + 1 : seg[i],
                sizeof(path) - strlen(path) - 1);
    char unknown[80];
    if (sscanf(reason, "Unexpected key: %79s", unknown) == 1) {
        const char *known = strstr(path, "tiers") ? tier_keys
                            : strstr(path, "cameras") ? camera_keys : root_keys;
        snprintf(msg, sizeof(msg), "unknown key (expected one of: %s)", known);
        if (path[0])
            strncat(path, ".", sizeof(path) - strlen(path) - 1);
        strncat(path, unknown, sizeof(path) - strlen(path) - 1);
    } else if (is_missing) {
        snprintf(msg, sizeof(msg), "'%s' is required", key);
    } else if (strncmp(reason, "Invalid ", 8) == 0 && strstr(reason, "value: ")) {
        const char *v = strstr(reason, "value: ") + 7;
        bool is_bool = strstr(reason, "BOOL") || strstr(reason, "bool");
        snprintf(msg, sizeof(msg), "%s is not %s", v,
                 is_bool ? "true or false" : "a whole number (0 or more)");
    } else if (strncmp(reason, "Expecting ", 10) == 0) {
        char want[32] = "", got[32] = "";
        sscanf(reason, "Expecting %31[^,], got event: %31s", want, got);
        const char *g = strncmp(got, "SEQUENCE", 8) == 0  ? "a list"
                        : strncmp(got, "MAPPING", 7) == 0 ? "a mapping"
                                                          : "a single value";
        for (char *w = want; *w; w++)
            *w = (char)(*w >= 'A' && *w <= 'Z' ? *w - 'A' + 'a' : *w);
        snprintf(msg, sizeof(msg), "expected %s, found %s",
                 strstr(want, "int")              ? "a whole number"
                 : strstr(want, "bool")           ? "true or false"
                 : strcmp(want, "mapping") == 0   ? "a mapping"
                 : strcmp(want, "sequence") == 0  ? "a list"
                                                  : "a single value", g);
    } else {
        snprintf(msg, sizeof(msg), "%s", reason[0] ? reason : cyaml_strerror(err));
    }
    if (path[0] == '\0')
        return cy_line ? vg_config_error(cfg, "%s:%d: %s", cfg->file_path, cy_line, msg)
                       : vg_config_error(cfg, "%s: %s", cfg->file_path, msg);
    if (vg_config_line(cfg, path) == 0 && cy_line > 0 && !is_missing)
        return vg_config_error(cfg, "%s:%d: %s: %s", cfg->file_path, cy_line, path, msg);
    return file_error(cfg, path, "%s", msg);
}

/* Values too large for an int are kept out of range, for the media layer to refuse. */
static int clamp_uint(unsigned v) { return v > 1000000 ? 1000000 : (int)v; }

static void tiers_copy(vg_tier_cfg_t *dst, size_t *dst_n, const yaml_tier_t *src, unsigned n)
{
    tiers_free(dst, *dst_n);
    for (unsigned i = 0; i < n; i++) {
        dst[i] = (vg_tier_cfg_t){
            .name = src[i].name ? vg_xstrdup(src[i].name) : NULL,
            .size = vg_xstrdup(src[i].size),
            .fps = clamp_uint(src[i].fps),
            .quality = clamp_uint(src[i].quality),
            .codec = src[i].codec ? vg_xstrdup(src[i].codec) : NULL,
            .kbps = clamp_uint(src[i].kbps),
        };
    }
    *dst_n = n;
}

/* A duration in seconds from the file as milliseconds: 0 (absent) leaves *ms alone, more
 * than a day is an error (and would overflow an int). */
static int seconds_ms(vg_config_t *cfg, const char *key, unsigned seconds, int *ms)
{
    if (seconds > 86400)
        return file_error(cfg, key, "%u is not 0..86400 seconds", seconds);
    if (seconds)
        *ms = (int)seconds * 1000;
    return 0;
}

int vg_config_load_file(vg_config_t *cfg, const char *path)
{
    cyaml_capture_t capture = {.len = 0};
    const cyaml_config_t cy = {
        .log_fn = cyaml_log_cb,
        .log_ctx = &capture,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_DEFAULT,
    };
    cfg->error[0] = '\0';
    vg_config_set_str(&cfg->file_path, path);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return vg_config_error(cfg, "cannot read config file %s: %s", path, strerror(errno));
    int rc = locs_read(cfg, fp);
    fclose(fp);
    if (rc < 0)
        return rc;
    yaml_root_t *root = NULL;
    cyaml_err_t err = cyaml_load_file(path, &cy, &root_schema, (cyaml_data_t **)&root, NULL);
    if (err != CYAML_OK)
        return load_error(cfg, &capture, err);
    if (root == NULL) /* an empty file is an empty config (found by tests/fuzz/fuzz_config) */
        return 0;
    const char *why_listen = root->listen ? listen_set(cfg, root->listen) : NULL;
    if (why_listen)
        rc = file_error(cfg, "listen", "'%s': %s", root->listen, why_listen);
    const char *why_rtsp = root->rtsp_listen ? rtsp_listen_set(cfg, root->rtsp_listen) : NULL;
    if (why_rtsp)
        rc = file_error(cfg, "rtsp_listen", "'%s': %s (or none)", root->rtsp_listen, why_rtsp);
    if (root->web_root)
        vg_config_set_str(&cfg->web_root, root->web_root);
    if (root->log_level) {
        vg_log_level_t lvl;
        if (vg_log_level_parse(root->log_level, &lvl) < 0)
            rc = file_error(cfg, "log_level", "'%s' is not error, warn, info, debug or trace",
                            root->log_level);
        vg_config_set_str(&cfg->log_level, root->log_level);
    }
    if (root->viewer_cc) {
        if (vg_config_check_cc(root->viewer_cc) < 0)
            rc = file_error(cfg, "viewer_congestion_control",
                            "'%s' is not system or one the kernel offers (%s)", root->viewer_cc,
                            "/proc/sys/net/ipv4/tcp_available_congestion_control");
        vg_config_set_str(&cfg->viewer_cc, root->viewer_cc);
    }
    if (root->db)
        vg_config_set_str(&cfg->db_path, root->db);
    if (root->master_key_file)
        vg_config_set_str(&cfg->master_key_file, root->master_key_file);
    if (root->instance_id)
        vg_config_set_str(&cfg->instance_id, root->instance_id);
    if (root->advertise_url)
        vg_config_set_str(&cfg->advertise_url, root->advertise_url);
    if (root->uplink)
        vg_config_set_str(&cfg->uplink_url, root->uplink);
    if (root->uplink_site)
        vg_config_set_str(&cfg->uplink_site, root->uplink_site);
    if (seconds_ms(cfg, "idle_timeout_s", root->idle_timeout_s, &cfg->idle_timeout_ms) < 0 ||
        seconds_ms(cfg, "stall_timeout_s", root->stall_timeout_s, &cfg->stall_timeout_ms) < 0)
        rc = VG_ECONFIG;
    if (root->health_interval_s && *root->health_interval_s > 86400)
        rc = file_error(cfg, "health_interval_s", "%u is not 0..86400",
                        *root->health_interval_s);
    else if (root->health_interval_s)
        cfg->health_interval_ms = (int)*root->health_interval_s * 1000;
    if (root->ptz_timeout_ms > 60000)
        rc = file_error(cfg, "ptz_timeout_ms", "%u is not 0..60000", root->ptz_timeout_ms);
    else if (root->ptz_timeout_ms)
        cfg->ptz_timeout_ms = (int)root->ptz_timeout_ms;
    if (root->snapshot_wait_ms > 60000) {
        rc = file_error(cfg, "snapshot_wait_ms", "%u is not 0..60000", root->snapshot_wait_ms);
    } else if (root->snapshot_wait_ms) {
        cfg->snapshot_wait_ms = (int)root->snapshot_wait_ms;
    }
    if (root->source_max_lag_ms > 60000)
        rc = file_error(cfg, "source_max_lag_ms", "%u is not 1..60000", root->source_max_lag_ms);
    else if (root->source_max_lag_ms)
        cfg->source_max_lag_ms = (int)root->source_max_lag_ms;
    if (root->source_max_lag_kb > 1048576)
        rc = file_error(cfg, "source_max_lag_kb", "%u is not 1..1048576",
                        root->source_max_lag_kb);
    else if (root->source_max_lag_kb)
        cfg->source_max_lag_kb = (int)root->source_max_lag_kb;
    if (root->max_conns_per_ip && (*root->max_conns_per_ip < 0 ||
                                   *root->max_conns_per_ip > 1000000)) {
        rc = file_error(cfg, "max_conns_per_ip", "%d is not 0..1000000",
                        *root->max_conns_per_ip);
    } else if (root->max_conns_per_ip) {
        cfg->max_conns_per_ip = *root->max_conns_per_ip;
    }
    if (root->max_viewers > 1000000)
        rc = file_error(cfg, "max_viewers", "%u is not 0..1000000", root->max_viewers);
    else if (root->max_viewers)
        cfg->max_viewers = (int)root->max_viewers;
    if (root->max_sources > 100000)
        rc = file_error(cfg, "max_sources", "%u is not 0..100000", root->max_sources);
    else if (root->max_sources)
        cfg->max_sources = (int)root->max_sources;
    const struct {
        const char *key;
        unsigned value, max;
        int *into;
    } caller_caps[] = {
        {"max_out_kbps", root->max_out_kbps, 100000000, &cfg->max_out_kbps},
        {"max_decoding", root->max_decoding, 100000, &cfg->max_decoding},
        {"max_viewers_per_user", root->max_viewers_per_user, 1000000, &cfg->max_viewers_per_user},
        {"max_viewers_per_tenant", root->max_viewers_per_tenant, 1000000, &cfg->max_viewers_per_tenant},
        {"max_cameras_per_user", root->max_cameras_per_user, 1000, &cfg->max_cameras_per_user},
        {"max_cameras_per_tenant", root->max_cameras_per_tenant, 1000, &cfg->max_cameras_per_tenant},
    };
    for (size_t i = 0; i < sizeof(caller_caps) / sizeof(caller_caps[0]); i++) {
        if (caller_caps[i].value > caller_caps[i].max)
            rc = file_error(cfg, caller_caps[i].key, "%u is not 0..%u", caller_caps[i].value,
                            caller_caps[i].max);
        else if (caller_caps[i].value)
            *caller_caps[i].into = (int)caller_caps[i].value;
    }
    for (unsigned i = 0; i < root->trusted_proxies_count; i++)
        cfg->trusted_proxies[cfg->trusted_proxy_count++] = vg_xstrdup(root->trusted_proxies[i]);
    if (root->tiers_count)
        tiers_copy(cfg->tiers, &cfg->tier_count, root->tiers, root->tiers_count);
    for (unsigned i = 0; rc == 0 && i < root->cameras_count; i++) {
        yaml_camera_t *c = &root->cameras[i];
        char key[64], buf[200];
        const char *field;
        int idle_ms = -1, stall_ms = -1;
        snprintf(key, sizeof(key), "cameras[%u].idle_timeout_s", i);
        rc = seconds_ms(cfg, key, c->idle_timeout_s, &idle_ms);
        snprintf(key, sizeof(key), "cameras[%u].stall_timeout_s", i);
        if (rc == 0)
            rc = seconds_ms(cfg, key, c->stall_timeout_s, &stall_ms);
        const char *why = camera_refusal(cfg, c->id, c->url, &field, buf, sizeof(buf));
        if (rc == 0 && !why && (c->priority < -1000 || c->priority > 1000)) {
            field = "priority";
            snprintf(buf, sizeof(buf), "%d is not -1000..1000", c->priority);
            why = buf;
        }
        if (rc == 0 && why) {
            snprintf(key, sizeof(key), "cameras[%u].%s", i, field);
            rc = file_error(cfg, key, "%s", why);
        }
        if (rc < 0)
            break;
        vg_camera_cfg_t *cc = camera_append(cfg, c->id, c->name, c->url, c->default_tier,
                                            idle_ms);
        cc->file_index = (int)i;
        /* URLs may carry credentials (rtsp://user:pw@host/...); all three are kept as
         * secrets, like the password. */
        vg_config_set_secret(&cc->url, c->url);
        vg_config_set_secret(&cc->substream_url, c->substream_url);
        vg_config_set_secret(&cc->snapshot_url, c->snapshot_url);
        vg_config_set_str(&cc->username, c->username);
        vg_config_set_secret(&cc->password, c->password);
        cc->stall_timeout_ms = stall_ms;
        cc->is_always_on = c->always_on;
        cc->priority = c->priority;
        tiers_copy(cc->tiers, &cc->tier_count, c->tiers, c->tiers_count);
    }
    /* libcyaml frees without wiping: clear the file's secrets first. */
    for (unsigned i = 0; i < root->cameras_count; i++) {
        char *secret[] = {root->cameras[i].url, root->cameras[i].substream_url,
                          root->cameras[i].snapshot_url, root->cameras[i].password};
        for (size_t k = 0; k < sizeof(secret) / sizeof(secret[0]); k++)
            if (secret[k] != NULL)
                sodium_memzero(secret[k], strlen(secret[k]));
    }
    cyaml_free(&cy, &root_schema, root, 0);
    return rc;
}

int vg_config_apply_env(vg_config_t *cfg)
{
    const char *v;
    if ((v = getenv("VIGIL_LISTEN")) && *v && vg_config_set_listen(cfg, v) < 0)
        return VG_ECONFIG;
    if ((v = getenv("VIGIL_RTSP_LISTEN")) && *v && vg_config_set_rtsp_listen(cfg, v) < 0)
        return VG_ECONFIG;
    if ((v = getenv("VIGIL_WEB_ROOT")) && *v)
        vg_config_set_str(&cfg->web_root, v);
    if ((v = getenv("VIGIL_LOG_LEVEL")) && *v)
        vg_config_set_str(&cfg->log_level, v);
    if ((v = getenv("VIGIL_DB")) && *v)
        vg_config_set_str(&cfg->db_path, v);
    if ((v = getenv("VIGIL_MASTER_KEY_FILE")) && *v)
        vg_config_set_str(&cfg->master_key_file, v);
    if ((v = getenv("VIGIL_MAX_VIEWERS")) && *v) {
        long long mv;
        if (vg_parse_int(v, 0, 1000000, &mv) < 0) {
            VG_LOG_ERROR("config", "VIGIL_MAX_VIEWERS='%s': expected 0..1000000", v);
            return VG_ECONFIG;
        }
        cfg->max_viewers = (int)mv;
    }
    const struct {
        const char *env;
        long long max;
        int *into;
    } env_caps[] = {
        {"VIGIL_MAX_OUT_KBPS", 100000000, &cfg->max_out_kbps},
        {"VIGIL_MAX_DECODING", 100000, &cfg->max_decoding},
        {"VIGIL_MAX_VIEWERS_PER_USER", 1000000, &cfg->max_viewers_per_user},
        {"VIGIL_MAX_VIEWERS_PER_TENANT", 1000000, &cfg->max_viewers_per_tenant},
        {"VIGIL_MAX_CAMERAS_PER_USER", 1000, &cfg->max_cameras_per_user},
        {"VIGIL_MAX_CAMERAS_PER_TENANT", 1000, &cfg->max_cameras_per_tenant},
    };
    for (size_t i = 0; i < sizeof(env_caps) / sizeof(env_caps[0]); i++) {
        long long cap;
        if (!(v = getenv(env_caps[i].env)) || !*v)
            continue;
        if (vg_parse_int(v, 0, env_caps[i].max, &cap) < 0) {
            VG_LOG_ERROR("config", "%s='%s': expected 0..%lld", env_caps[i].env, v,
                         env_caps[i].max);
            return VG_ECONFIG;
        }
        *env_caps[i].into = (int)cap;
    }
    if ((v = getenv("VIGIL_MAX_SOURCES")) && *v) {
        long long ms;
        if (vg_parse_int(v, 0, 100000, &ms) < 0) {
            VG_LOG_ERROR("config", "VIGIL_MAX_SOURCES='%s': expected 0..100000", v);
            return VG_ECONFIG;
        }
        cfg->max_sources = (int)ms;
    }
    if ((v = getenv("VIGIL_INSTANCE_ID")) && *v)
        vg_config_set_str(&cfg->instance_id, v);
    if ((v = getenv("VIGIL_ADVERTISE_URL")) && *v)
        vg_config_set_str(&cfg->advertise_url, v);
    if ((v = getenv("VIGIL_UPLINK")) && *v)
        vg_config_set_str(&cfg->uplink_url, v);
    if ((v = getenv("VIGIL_UPLINK_KEY")) && *v)
        vg_config_set_secret(&cfg->uplink_key, v);
    if ((v = getenv("VIGIL_UPLINK_SITE")) && *v)
        vg_config_set_str(&cfg->uplink_site, v);
    long long n;
    if ((v = getenv("VIGIL_IDLE_TIMEOUT")) && *v) {
        if (vg_parse_int(v, 0, 86400, &n) < 0) {
            VG_LOG_ERROR("config", "VIGIL_IDLE_TIMEOUT='%s': expected seconds 0..86400", v);
            return VG_ECONFIG;
        }
        cfg->idle_timeout_ms = (int)n * 1000;
    }
    if ((v = getenv("VIGIL_PTZ_TIMEOUT_MS")) && *v) {
        if (vg_parse_int(v, 100, 60000, &n) < 0) {
            VG_LOG_ERROR("config", "VIGIL_PTZ_TIMEOUT_MS='%s': expected 100..60000", v);
            return VG_ECONFIG;
        }
        cfg->ptz_timeout_ms = (int)n;
    }
    if ((v = getenv("VIGIL_SNAPSHOT_WAIT_MS")) && *v) {
        if (vg_parse_int(v, 0, 60000, &n) < 0) {
            VG_LOG_ERROR("config", "VIGIL_SNAPSHOT_WAIT_MS='%s': expected 0..60000", v);
            return VG_ECONFIG;
        }
        cfg->snapshot_wait_ms = (int)n;
    }
    if ((v = getenv("VIGIL_VIEWER_CONGESTION_CONTROL")) && *v) {
        if (vg_config_check_cc(v) < 0) {
            VG_LOG_ERROR("config", "VIGIL_VIEWER_CONGESTION_CONTROL='%s': expected system or "
                         "one the kernel offers", v);
            return VG_ECONFIG;
        }
        vg_config_set_str(&cfg->viewer_cc, v);
    }
    if ((v = getenv("VIGIL_SOURCE_MAX_LAG_MS")) && *v) {
        if (vg_parse_int(v, 1, 60000, &n) < 0) {
            VG_LOG_ERROR("config", "VIGIL_SOURCE_MAX_LAG_MS='%s': expected 1..60000", v);
            return VG_ECONFIG;
        }
        cfg->source_max_lag_ms = (int)n;
    }
    if ((v = getenv("VIGIL_SOURCE_MAX_LAG_KB")) && *v) {
        if (vg_parse_int(v, 1, 1048576, &n) < 0) {
            VG_LOG_ERROR("config", "VIGIL_SOURCE_MAX_LAG_KB='%s': expected 1..1048576", v);
            return VG_ECONFIG;
        }
        cfg->source_max_lag_kb = (int)n;
    }
    if ((v = getenv("VIGIL_HEALTH_INTERVAL")) && *v) {
        if (vg_parse_int(v, 0, 86400, &n) < 0) {
            VG_LOG_ERROR("config", "VIGIL_HEALTH_INTERVAL='%s': expected seconds 0..86400", v);
            return VG_ECONFIG;
        }
        cfg->health_interval_ms = (int)n * 1000;
    }
    return 0;
}

int vg_config_validate(vg_config_t *cfg)
{
    vg_log_level_t lvl;
    if (vg_log_level_parse(cfg->log_level, &lvl) < 0)
        return vg_config_error(cfg, "log level '%s': use error, warn, info, debug or trace",
                               cfg->log_level);
    return 0;
}
