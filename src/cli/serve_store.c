/* serve_store: `vigil serve --db`: the cameras come from the configuration database. Cameras
 * of the config file (and --camera) are upserted there as owned by the file, file cameras no
 * longer declared are removed, and then every enabled camera of the database is served, its
 * password unsealed only to build the URL it is dialled at, its address rewritten through
 * its site's gateway when the site is remote. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/serve_int.h"
#include "core/log.h"
#include "core/util.h"
#include "store/nat.h"
#include "store/secrets.h"
#include "store/store.h"

static json_t *camera_json(const vg_camera_cfg_t *cc)
{
    json_t *o = json_pack("{s:s,s:s,s:b}", "id", cc->id, "url", cc->url, "always_on",
                          cc->is_always_on);
    if (cc->name && strcmp(cc->name, cc->id) != 0)
        json_object_set_new(o, "name", json_string(cc->name));
    const struct {
        const char *key, *value;
    } opt[] = {
        {"substream_url", cc->substream_url}, {"snapshot_url", cc->snapshot_url},
        {"username", cc->username},           {"password", cc->password},
        {"default_tier", cc->default_tier},
    };
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
        if (opt[i].value)
            json_object_set_new(o, opt[i].key, json_string(opt[i].value));
    }
    if (cc->idle_timeout_ms >= 0)
        json_object_set_new(o, "idle_timeout_s", json_integer(cc->idle_timeout_ms / 1000));
    if (cc->tier_count > 0) {
        json_t *tiers = json_array();
        for (size_t i = 0; i < cc->tier_count; i++) {
            json_t *t = json_pack("{s:s}", "size", cc->tiers[i].size);
            if (cc->tiers[i].name)
                json_object_set_new(t, "name", json_string(cc->tiers[i].name));
            if (cc->tiers[i].fps)
                json_object_set_new(t, "fps", json_integer(cc->tiers[i].fps));
            if (cc->tiers[i].quality)
                json_object_set_new(t, "quality", json_integer(cc->tiers[i].quality));
            json_array_append_new(tiers, t);
        }
        json_object_set_new(o, "tiers", tiers);
    }
    return o;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The file's cameras into the database; file cameras it no longer declares out of it. */
static int sync_file_cameras(vg_store_t *s, const vg_config_t *cfg)
{
    vg_store_err_t err;
    for (size_t i = 0; i < cfg->camera_count; i++) {
        json_t *o = camera_json(&cfg->cameras[i]);
        int rc = vg_store_upsert_file_camera(s, o, &err);
        json_decref(o);
        if (rc < 0) {
            VG_LOG_ERROR("store", "camera '%s' from the config file: %s%s%s",
                         cfg->cameras[i].id, err.field[0] ? err.field : "",
                         err.field[0] ? ": " : "", err.message);
            return VG_ECONFIG;
        }
    }
    json_t *all;
    size_t total;
    if (vg_store_list(s, "cameras", 0, 1000, &all, &total, &err) < 0) {
        VG_LOG_ERROR("store", "%s", err.message);
        return VG_ECONFIG;
    }
    size_t i;
    json_t *cam;
    json_array_foreach(all, i, cam) {
        const char *owner = str(cam, "owner");
        bool is_declared = false;
        for (size_t k = 0; k < cfg->camera_count; k++)
            is_declared = is_declared || strcmp(cfg->cameras[k].id, str(cam, "id")) == 0;
        if (owner && strcmp(owner, "file") == 0 && !is_declared) {
            VG_LOG_INFO("store", "camera '%s' left the config file: removed", str(cam, "id"));
            vg_store_delete_file_camera(s, str(cam, "id"), &err);
        }
    }
    json_decref(all);
    return 0;
}

/* Where the camera is dialled: through its site's gateway when the site is remote. Sets
 * cc->dial_error when it cannot be reached that way. */
static void route(vg_store_t *s, json_t *cam, vg_camera_cfg_t *cc)
{
    vg_store_err_t err;
    json_t *site = NULL, *gw = NULL;
    const char *site_id = str(cam, "site_id");
    if (site_id == NULL || vg_store_get(s, "sites", site_id, &site, &err) < 0)
        return;
    const char *gw_id = str(site, "gateway_id");
    if (json_is_true(json_object_get(site, "is_local")) || gw_id == NULL ||
        vg_store_get(s, "gateways", gw_id, &gw, &err) < 0) {
        json_decref(site);
        return;
    }
    char **urls[] = {&cc->url, &cc->substream_url, &cc->snapshot_url};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        if (*urls[i] == NULL)
            continue;
        char out[4096];
        int rc = vg_nat_rewrite(*urls[i], str(gw, "host"), json_object_get(gw, "mappings"), out,
                                sizeof(out));
        if (rc == 0) {
            vg_config_set_str(urls[i], out);
        } else if (i == 0) {
            vg_config_set_str(&cc->dial_error, rc == VG_ENOENT ? "no gateway mapping"
                                                               : "URL cannot be mapped");
            break;
        } else {
            vg_config_set_str(urls[i], NULL); /* an unmapped extra: go without it */
        }
    }
    json_decref(gw);
    json_decref(site);
}

static int load_camera(vg_store_t *s, json_t *cam, vg_config_t *out)
{
    vg_store_err_t err;
    const char *id = str(cam, "id");
    json_t *idle = json_object_get(cam, "idle_timeout_s");
    if (vg_config_add_camera(out, id, str(cam, "name"), str(cam, "url"), str(cam, "default_tier"),
                             json_is_integer(idle) ? (int)json_integer_value(idle) * 1000 : -1) < 0)
        return VG_ECONFIG;
    vg_camera_cfg_t *cc = vg_config_last_camera(out);
    vg_config_set_str(&cc->substream_url, str(cam, "substream_url"));
    vg_config_set_str(&cc->snapshot_url, str(cam, "snapshot_url"));
    vg_config_set_str(&cc->username, str(cam, "username"));
    cc->is_always_on = json_is_true(json_object_get(cam, "always_on"));
    if (json_is_true(json_object_get(cam, "has_password"))) {
        char *pw = NULL;
        if (vg_store_camera_password(s, id, &pw, &err) < 0) {
            VG_LOG_ERROR("store", "camera '%s': %s", id, err.message);
            return VG_ECONFIG;
        }
        vg_config_set_str(&cc->password, pw);
        vg_store_secret_free(&pw);
    }
    json_t *tiers = json_object_get(cam, "tiers");
    size_t i;
    json_t *t;
    json_array_foreach(tiers, i, t) {
        if (i >= VG_CONFIG_MAX_TIERS)
            break;
        vg_tier_cfg_t *tc = &cc->tiers[cc->tier_count++];
        *tc = (vg_tier_cfg_t){
            .name = str(t, "name") ? vg_xstrdup(str(t, "name")) : NULL,
            .size = vg_xstrdup(str(t, "size") ? str(t, "size") : "native"),
            .fps = (int)json_integer_value(json_object_get(t, "fps")),
            .quality = (int)json_integer_value(json_object_get(t, "quality")),
        };
    }
    route(s, cam, cc);
    return 0;
}

int vg__serve_cameras_from_store(vg_config_t *cfg)
{
    char msg[256];
    vg_secrets_t *sec = NULL;
    vg_store_t *s = NULL;
    int rc = VG_ECONFIG;
    if (vg_secrets_init() < 0 ||
        vg_secrets_load(&sec, cfg->master_key_file, getenv("VIGIL_MASTER_KEY"), msg,
                        sizeof(msg)) < 0) {
        VG_LOG_ERROR("store", "%s", msg);
        return VG_ECONFIG;
    }
    vg_store_err_t err;
    vg_store_cfg_t scfg = {.path = cfg->db_path, .secrets = sec};
    if (vg_store_open(&s, &scfg, &err) < 0) {
        VG_LOG_ERROR("store", "%s: %s", cfg->db_path, err.message);
        goto out;
    }
    if (sec == NULL && vg_store_has_sealed_secrets(s)) {
        VG_LOG_ERROR("store", "%s holds sealed camera passwords: start vigil with its master "
                     "key (--master-key-file FILE or VIGIL_MASTER_KEY)", cfg->db_path);
        goto out;
    }
    if (sync_file_cameras(s, cfg) < 0)
        goto out;
    json_t *all;
    size_t total;
    if (vg_store_list(s, "cameras", 0, VG_CONFIG_MAX_CAMERAS, &all, &total, &err) < 0) {
        VG_LOG_ERROR("store", "%s", err.message);
        goto out;
    }
    if (total > VG_CONFIG_MAX_CAMERAS)
        VG_LOG_WARN("store", "%s has %zu cameras; this server takes the first %d (by id)",
                    cfg->db_path, total, VG_CONFIG_MAX_CAMERAS);
    vg_config_t loaded;
    vg_config_init(&loaded);
    size_t i;
    json_t *cam;
    rc = 0;
    json_array_foreach(all, i, cam) {
        if (json_is_false(json_object_get(cam, "enabled")))
            continue;
        if (load_camera(s, cam, &loaded) < 0) {
            rc = VG_ECONFIG;
            break;
        }
    }
    json_decref(all);
    if (rc == 0) {
        /* Swap the camera lists: the database's become the ones served. */
        vg_camera_cfg_t *tmp = vg_xmalloc(sizeof(cfg->cameras));
        size_t tmp_n = cfg->camera_count;
        memcpy(tmp, cfg->cameras, sizeof(cfg->cameras));
        memcpy(cfg->cameras, loaded.cameras, sizeof(loaded.cameras));
        cfg->camera_count = loaded.camera_count;
        memcpy(loaded.cameras, tmp, sizeof(loaded.cameras));
        loaded.camera_count = tmp_n;
        free(tmp);
        VG_LOG_INFO("store", "%s: %zu camera%s (schema %d)", cfg->db_path, cfg->camera_count,
                    cfg->camera_count == 1 ? "" : "s", vg_store_schema_version(s));
    }
    vg_config_deinit(&loaded);
out:
    vg_store_close(&s);
    vg_secrets_free(&sec);
    return rc;
}
