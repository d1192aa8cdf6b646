/* config: see config.h. The YAML schema is declared for libcyaml below; unknown keys are
 * errors, so a typo in a config file is reported instead of silently ignored. */
#include "core/config.h"

#include <cyaml/cyaml.h>
#include <pthread.h>
#include <sodium.h>
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

void vg_config_init(vg_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    vg_config_set_str(&cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8080;
    vg_config_set_str(&cfg->log_level, "info");
    cfg->idle_timeout_ms = 30000;
    cfg->stall_timeout_ms = 5000;
    cfg->snapshot_wait_ms = 3000;
    cfg->health_interval_ms = 60000;
    cfg->max_conns_per_ip = 256;
}

static void tiers_free(vg_tier_cfg_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].size);
    }
}

void vg_config_deinit(vg_config_t *cfg)
{
    tiers_free(cfg->tiers, cfg->tier_count);
    free(cfg->listen_host);
    free(cfg->web_root);
    free(cfg->log_level);
    free(cfg->db_path);
    free(cfg->master_key_file);
    for (size_t i = 0; i < cfg->trusted_proxy_count; i++)
        free(cfg->trusted_proxies[i]);
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
        tiers_free(cfg->cameras[i].tiers, cfg->cameras[i].tier_count);
    }
    memset(cfg, 0, sizeof(*cfg));
}

int vg_config_set_listen(vg_config_t *cfg, const char *hostport)
{
    const char *colon = strrchr(hostport, ':');
    const char *port_str = colon ? colon + 1 : hostport;
    long long port;
    if (vg_parse_int(port_str, 0, 65535, &port) < 0) {
        VG_LOG_ERROR("config", "listen address '%s': port must be 0..65535", hostport);
        return VG_ECONFIG;
    }
    if (colon && colon != hostport) {
        size_t n = (size_t)(colon - hostport);
        char host[256];
        if (n >= sizeof(host)) {
            VG_LOG_ERROR("config", "listen address '%s': host too long", hostport);
            return VG_ECONFIG;
        }
        memcpy(host, hostport, n);
        host[n] = '\0';
        /* Accept "[::1]:8080" as well as "::1" style hosts. */
        if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
            memmove(host, host + 1, n - 2);
            host[n - 2] = '\0';
        }
        vg_config_set_str(&cfg->listen_host, host);
    }
    cfg->listen_port = (int)port;
    return 0;
}

int vg_config_add_camera(vg_config_t *cfg, const char *id, const char *name, const char *url,
                         const char *default_tier, int idle_timeout_ms)
{
    if (id == NULL || !vg_slug_is_valid(id)) {
        VG_LOG_ERROR("config", "camera id '%s' is not valid: use 1-64 of a-z 0-9 - _",
                     id ? id : "");
        return VG_ECONFIG;
    }
    if (url == NULL || strstr(url, "://") == NULL) {
        VG_LOG_ERROR("config", "camera '%s': url must look like scheme://...", id);
        return VG_ECONFIG;
    }
    for (size_t i = 0; i < cfg->camera_count; i++) {
        if (strcmp(cfg->cameras[i].id, id) == 0) {
            VG_LOG_ERROR("config", "camera id '%s' is declared twice", id);
            return VG_ECONFIG;
        }
    }
    if (cfg->camera_count == VG_CONFIG_MAX_CAMERAS) {
        VG_LOG_ERROR("config", "too many cameras (at most %d)", VG_CONFIG_MAX_CAMERAS);
        return VG_ECONFIG;
    }
    vg_camera_cfg_t *c = &cfg->cameras[cfg->camera_count++];
    c->id = vg_xstrdup(id);
    c->name = vg_xstrdup(name && *name ? name : id);
    c->url = vg_xstrdup(url);
    c->default_tier = default_tier && *default_tier ? vg_xstrdup(default_tier) : NULL;
    c->idle_timeout_ms = idle_timeout_ms;
    c->stall_timeout_ms = -1;
    return 0;
}

vg_camera_cfg_t *vg_config_last_camera(vg_config_t *cfg)
{
    return cfg->camera_count ? &cfg->cameras[cfg->camera_count - 1] : NULL;
}

int vg_config_add_camera_spec(vg_config_t *cfg, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec) {
        VG_LOG_ERROR("config", "--camera '%s': expected ID=URL", spec);
        return VG_ECONFIG;
    }
    char id[80];
    size_t n = (size_t)(eq - spec);
    if (n >= sizeof(id)) {
        VG_LOG_ERROR("config", "--camera: id too long");
        return VG_ECONFIG;
    }
    memcpy(id, spec, n);
    id[n] = '\0';
    return vg_config_add_camera(cfg, id, NULL, eq + 1, NULL, -1);
}

/* ---- YAML file ---- */

typedef struct yaml_tier {
    char *name, *size;
    unsigned fps, quality;
} yaml_tier_t;

typedef struct yaml_camera {
    char *id, *name, *url, *default_tier;
    char *substream_url, *snapshot_url, *username, *password;
    unsigned idle_timeout_s;  /* absent or 0: the server's default */
    unsigned stall_timeout_s; /* absent or 0: the server's default */
    bool always_on;
    yaml_tier_t *tiers;
    unsigned tiers_count;
} yaml_camera_t;

typedef struct yaml_root {
    char *listen, *web_root, *log_level, *db, *master_key_file;
    unsigned idle_timeout_s, snapshot_wait_ms, stall_timeout_s;
    unsigned *health_interval_s; /* NULL: absent (0 turns the idle checks off) */
    int *max_conns_per_ip; /* NULL: absent (0 means no cap) */
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
    OPT_STR("web_root", yaml_root_t, web_root),
    OPT_STR("log_level", yaml_root_t, log_level),
    OPT_STR("db", yaml_root_t, db),
    OPT_STR("master_key_file", yaml_root_t, master_key_file),
    CYAML_FIELD_UINT("idle_timeout_s", CYAML_FLAG_OPTIONAL, yaml_root_t, idle_timeout_s),
    CYAML_FIELD_UINT("snapshot_wait_ms", CYAML_FLAG_OPTIONAL, yaml_root_t, snapshot_wait_ms),
    CYAML_FIELD_UINT("stall_timeout_s", CYAML_FLAG_OPTIONAL, yaml_root_t, stall_timeout_s),
    CYAML_FIELD_UINT_PTR("health_interval_s", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
                         yaml_root_t, health_interval_s),
    CYAML_FIELD_INT_PTR("max_conns_per_ip", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_root_t,
                        max_conns_per_ip),
    CYAML_FIELD_SEQUENCE("trusted_proxies", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_root_t,
                         trusted_proxies, &proxy_schema, 0, VG_CONFIG_MAX_PROXIES),
    CYAML_FIELD_SEQUENCE("tiers", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_root_t, tiers,
                         &tier_schema, 1, VG_CONFIG_MAX_TIERS),
    CYAML_FIELD_SEQUENCE("cameras", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, yaml_root_t,
                         cameras, &camera_schema, 0, VG_CONFIG_MAX_CAMERAS),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t root_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, yaml_root_t, root_fields),
};

__attribute__((format(printf, 3, 0))) static void cyaml_log_cb(cyaml_log_t level, void *ctx,
                                                              const char *fmt, va_list args)
{
    if (level < CYAML_LOG_ERROR)
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, args);
    VG_LOG_ERROR("config", "%s", msg);
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
        };
    }
    *dst_n = n;
}

/* A duration in seconds from the file as milliseconds: 0 (absent) leaves *ms alone, more
 * than a day is an error (and would overflow an int). */
static int seconds_ms(const char *key, unsigned seconds, int *ms)
{
    if (seconds > 86400) {
        VG_LOG_ERROR("config", "%s: %u is not 0..86400 seconds", key, seconds);
        return VG_ECONFIG;
    }
    if (seconds)
        *ms = (int)seconds * 1000;
    return 0;
}

int vg_config_load_file(vg_config_t *cfg, const char *path)
{
    const cyaml_config_t cy = {
        .log_fn = cyaml_log_cb,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_DEFAULT,
    };
    yaml_root_t *root = NULL;
    cyaml_err_t err = cyaml_load_file(path, &cy, &root_schema, (cyaml_data_t **)&root, NULL);
    if (err != CYAML_OK) {
        VG_LOG_ERROR("config", "cannot load %s: %s", path, cyaml_strerror(err));
        return VG_ECONFIG;
    }
    if (root == NULL) /* an empty file is an empty config (found by tests/fuzz/fuzz_config) */
        return 0;
    int rc = 0;
    if (root->listen && vg_config_set_listen(cfg, root->listen) < 0)
        rc = VG_ECONFIG;
    if (root->web_root)
        vg_config_set_str(&cfg->web_root, root->web_root);
    if (root->log_level)
        vg_config_set_str(&cfg->log_level, root->log_level);
    if (root->db)
        vg_config_set_str(&cfg->db_path, root->db);
    if (root->master_key_file)
        vg_config_set_str(&cfg->master_key_file, root->master_key_file);
    if (seconds_ms("idle_timeout_s", root->idle_timeout_s, &cfg->idle_timeout_ms) < 0 ||
        seconds_ms("stall_timeout_s", root->stall_timeout_s, &cfg->stall_timeout_ms) < 0)
        rc = VG_ECONFIG;
    if (root->health_interval_s && *root->health_interval_s > 86400) {
        VG_LOG_ERROR("config", "health_interval_s: %u is not 0..86400",
                     *root->health_interval_s);
        rc = VG_ECONFIG;
    } else if (root->health_interval_s) {
        cfg->health_interval_ms = (int)*root->health_interval_s * 1000;
    }
    if (root->snapshot_wait_ms > 60000) {
        VG_LOG_ERROR("config", "snapshot_wait_ms: %u is not 0..60000", root->snapshot_wait_ms);
        rc = VG_ECONFIG;
    } else if (root->snapshot_wait_ms) {
        cfg->snapshot_wait_ms = (int)root->snapshot_wait_ms;
    }
    if (root->max_conns_per_ip && (*root->max_conns_per_ip < 0 ||
                                   *root->max_conns_per_ip > 1000000)) {
        VG_LOG_ERROR("config", "max_conns_per_ip: %d is not 0..1000000",
                     *root->max_conns_per_ip);
        rc = VG_ECONFIG;
    } else if (root->max_conns_per_ip) {
        cfg->max_conns_per_ip = *root->max_conns_per_ip;
    }
    for (unsigned i = 0; i < root->trusted_proxies_count; i++)
        cfg->trusted_proxies[cfg->trusted_proxy_count++] = vg_xstrdup(root->trusted_proxies[i]);
    if (root->tiers_count)
        tiers_copy(cfg->tiers, &cfg->tier_count, root->tiers, root->tiers_count);
    for (unsigned i = 0; rc == 0 && i < root->cameras_count; i++) {
        yaml_camera_t *c = &root->cameras[i];
        int idle_ms = -1, stall_ms = -1;
        rc = seconds_ms("idle_timeout_s", c->idle_timeout_s, &idle_ms);
        if (rc == 0)
            rc = seconds_ms("stall_timeout_s", c->stall_timeout_s, &stall_ms);
        if (rc == 0)
            rc = vg_config_add_camera(cfg, c->id, c->name, c->url, c->default_tier, idle_ms);
        if (rc < 0)
            break;
        vg_camera_cfg_t *cc = vg_config_last_camera(cfg);
        /* URLs may carry credentials (rtsp://user:pw@host/...); all three are kept as
         * secrets, like the password. */
        vg_config_set_secret(&cc->url, c->url);
        vg_config_set_secret(&cc->substream_url, c->substream_url);
        vg_config_set_secret(&cc->snapshot_url, c->snapshot_url);
        vg_config_set_str(&cc->username, c->username);
        vg_config_set_secret(&cc->password, c->password);
        cc->stall_timeout_ms = stall_ms;
        cc->is_always_on = c->always_on;
        tiers_copy(cc->tiers, &cc->tier_count, c->tiers, c->tiers_count);
    }
    if (rc < 0)
        VG_LOG_ERROR("config", "in %s", path);
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
    if ((v = getenv("VIGIL_WEB_ROOT")) && *v)
        vg_config_set_str(&cfg->web_root, v);
    if ((v = getenv("VIGIL_LOG_LEVEL")) && *v)
        vg_config_set_str(&cfg->log_level, v);
    if ((v = getenv("VIGIL_DB")) && *v)
        vg_config_set_str(&cfg->db_path, v);
    if ((v = getenv("VIGIL_MASTER_KEY_FILE")) && *v)
        vg_config_set_str(&cfg->master_key_file, v);
    long long n;
    if ((v = getenv("VIGIL_IDLE_TIMEOUT")) && *v) {
        if (vg_parse_int(v, 0, 86400, &n) < 0) {
            VG_LOG_ERROR("config", "VIGIL_IDLE_TIMEOUT='%s': expected seconds 0..86400", v);
            return VG_ECONFIG;
        }
        cfg->idle_timeout_ms = (int)n * 1000;
    }
    if ((v = getenv("VIGIL_SNAPSHOT_WAIT_MS")) && *v) {
        if (vg_parse_int(v, 0, 60000, &n) < 0) {
            VG_LOG_ERROR("config", "VIGIL_SNAPSHOT_WAIT_MS='%s': expected 0..60000", v);
            return VG_ECONFIG;
        }
        cfg->snapshot_wait_ms = (int)n;
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

int vg_config_validate(const vg_config_t *cfg)
{
    vg_log_level_t lvl;
    if (vg_log_level_parse(cfg->log_level, &lvl) < 0) {
        VG_LOG_ERROR("config", "log level '%s': use error, warn, info, debug or trace",
                     cfg->log_level);
        return VG_ECONFIG;
    }
    return 0;
}
