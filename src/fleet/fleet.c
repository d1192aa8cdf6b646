/* fleet: the cameras of the configuration database, kept live.
 *
 * At start the config file's cameras (and --camera) are upserted into the database as owned
 * by the file, file cameras no longer declared are removed, and every enabled camera of the
 * database is served. A file camera's password stays in the file (and in memory): it is not
 * sealed into the database, so a config file without a master key keeps working.
 *
 * Nothing here touches the database on the loop. The store thread (store/async.h) reads a
 * snapshot — every camera made into a stream configuration (NAT routes applied, passwords
 * unsealed) and the access snapshot the gate decides with — and the loop applies it. Live
 * reload: four times a second a job asks PRAGMA data_version whether any other connection
 * (the CLI, sqlite3, another program) committed a change, and reads a snapshot when one did;
 * the API's writes read one in the same job, right after the write, so the response goes out
 * once the change runs. Either way the whole camera table is compared with what runs,
 * camera by camera, through two fingerprints (keyed BLAKE2b, so no password is kept in clear
 * to compare): one of what is dialled (URLs after NAT rewriting, credentials), one of
 * everything. A camera whose dial fingerprint changed has its sources replaced in place,
 * its viewers staying connected (moved to the same-named tier when the ladder changed with
 * it); one whose other fields changed is updated in place. Passwords are unsealed only to
 * build the URL that is dialled.
 * Threads: the loop (applying, the API), the store thread (load_snapshot, the jobs' run).
 * Before vg_fleet_start, everything runs on the loop thread, before the loop serves.
 */
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet.h"
#include "fleet/uplink.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "store/async.h"
#include "store/nat.h"
#include "store/secrets.h"
#include "store/store.h"

#define FP_LEN 16
#define POLL_MS 250
/* The instance's heartbeat in the database (issue 18), which also renews its camera leases
 * (VG_LEASE_TTL_US, three beats): another instance counts it gone when its beat is three
 * periods old. A beat waits at most BEAT_WAIT_MS for the database, so that
 * a lock held elsewhere does not hold up the jobs behind it. */
#define BEAT_MS 1000
#define BEAT_WAIT_MS 500
#define LIST_PAGE 1000 /* the store's largest page */

typedef struct fleet_cam {
    char *id;
    uint8_t dial_fp[FP_LEN], all_fp[FP_LEN];
    bool is_config_failed; /* served failed for a field its configuration got wrong */
} fleet_cam_t;

struct vg_fleet {
    const vg_config_t *cfg;       /* loop: what streams are built with */
    const vg_config_t *store_cfg; /* store thread: the file's cameras (the loop's before start;
                                   * a reload switches it in its job) */
    uv_loop_t *loop;
    vg_hub_t *hub;
    vg_outputs_t *outputs;
    vg_secrets_t *secrets;
    vg_store_t *store;        /* the loop's, until vg_fleet_start hands it to the thread */
    vg_store_async_t *async;  /* after vg_fleet_start */
    uv_timer_t poll_timer;
    int64_t data_version;     /* the store thread's (the loop's before start) */
    bool is_poll_in_flight;   /* loop */
    void (*on_access)(void *arg, vg_access_t *snap);
    void *on_access_arg;
    bool is_started, is_closing;
    int open_parts; /* while closing: the timer and the store thread */
    vg_ptz_ctl_t *ptz; /* NULL: no PTZ; told every camera's PTZ part on each snapshot */
    fleet_cam_t *cams; /* what runs, with the fingerprints it was built from */
    size_t cam_count;
    uint8_t fp_key[crypto_generichash_KEYBYTES];
    /* this instance among those sharing the database */
    char instance_id[64];
    char instance_urls[600]; /* a JSON array */
    char *advertise_url, *rtsp_url; /* what instance_urls is made of */
    bool is_cluster;        /* PostgreSQL with the master key: cameras pulled under leases */
    vg_lease_env_t lease;
    bool is_registered, is_beat_in_flight; /* loop */
    bool is_leaving;                       /* loop: no more heartbeats */
    int64_t last_beat_us;                  /* loop, monotonic */
    int64_t started_us;                    /* wall clock: this process's, for drains */
    struct vg_uplinks *uplinks;            /* loop: edge sites (fleet/uplink.h), or NULL */
    void (*on_drain)(void *arg);           /* loop: asked to drain (vg_fleet_on_drain) */
    void *on_drain_arg;
    bool is_drain_told;
};

/* What the store thread reads for the loop to apply. */
typedef struct fleet_snap {
    vg_config_t *want; /* the enabled cameras as streams are built from them */
    json_t *disabled;  /* ids of the disabled ones */
    vg_access_t *access;
} fleet_snap_t;

/* A file camera as the database keeps it: its URLs without credentials and no password
 * (those stay in the file; see load_camera). */
static json_t *camera_json(const vg_camera_cfg_t *cc)
{
    char shown[4096];
    vg_url_redact(cc->url, shown, sizeof(shown));
    json_t *o = json_pack("{s:s,s:s,s:b,s:i}", "id", cc->id, "url", shown, "always_on",
                          cc->is_always_on, "priority", cc->priority);
    if (cc->name && strcmp(cc->name, cc->id) != 0)
        json_object_set_new(o, "name", json_string(cc->name));
    const struct {
        const char *key, *value;
    } opt[] = {
        {"substream_url", cc->substream_url}, {"snapshot_url", cc->snapshot_url},
        {"username", cc->username},           {"default_tier", cc->default_tier},
    };
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
        if (opt[i].value == NULL)
            continue;
        if (strstr(opt[i].key, "_url")) {
            vg_url_redact(opt[i].value, shown, sizeof(shown));
            json_object_set_new(o, opt[i].key, json_string(shown));
        } else {
            json_object_set_new(o, opt[i].key, json_string(opt[i].value));
        }
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
            if (cc->tiers[i].codec)
                json_object_set_new(t, "codec", json_string(cc->tiers[i].codec));
            if (cc->tiers[i].kbps)
                json_object_set_new(t, "kbps", json_integer(cc->tiers[i].kbps));
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

/* The file's cameras into the database; file cameras it no longer declares out of it. An
 * invalid field (a bad ladder) is a configuration error that stops the start. */
/* Every camera record, in id order, a page at a time: a fleet has no cap of its own. A
 * camera written by another process between two pages may be missed or seen twice by this
 * reading; the write also bumps the database's version, so the next poll reads again. */
static int list_all_cameras(vg_store_t *s, json_t **out, size_t *total, vg_store_err_t *err)
{
    json_t *all = json_array();
    for (size_t offset = 0;; offset += LIST_PAGE) {
        json_t *page = NULL;
        if (vg_store_list(s, "cameras", offset, LIST_PAGE, &page, total, err) < 0) {
            json_decref(all);
            return VG_EINVAL;
        }
        size_t n = json_array_size(page);
        json_array_extend(all, page);
        json_decref(page);
        if (n < LIST_PAGE || offset + n >= *total)
            break;
    }
    *out = all;
    return 0;
}

static int sync_file_cameras(vg_store_t *s, const vg_config_t *cfg)
{
    vg_store_err_t err;
    for (size_t i = 0; i < cfg->camera_count; i++) {
        json_t *o = camera_json(&cfg->cameras[i]);
        int rc = vg_store_upsert_file_camera(s, o, &err);
        json_decref(o);
        if (rc < 0) {
            VG_LOG_ERROR("store", "camera '%s' from the config file: %s", cfg->cameras[i].id,
                         err.message);
            return VG_ECONFIG;
        }
    }
    json_t *all;
    size_t total;
    if (list_all_cameras(s, &all, &total, &err) < 0) {
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
    if (cc->ptz_address) { /* steered through the same gateway as its video */
        char out[4096];
        int rc = vg_nat_rewrite(cc->ptz_address, str(gw, "host"), json_object_get(gw, "mappings"),
                                out, sizeof(out));
        if (rc == 0)
            vg_config_set_str(&cc->ptz_address, out);
        else
            vg_config_set_str(&cc->ptz_error, rc == VG_ENOENT ? "no gateway mapping for the PTZ "
                                                                "address"
                                                              : "PTZ address cannot be mapped");
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

static int load_camera(vg_store_t *s, const vg_config_t *file_cfg, json_t *cam,
                       vg_config_t *out)
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
    vg_config_set_str(&cc->ptz_driver, str(cam, "ptz_driver"));
    vg_config_set_str(&cc->ptz_address, str(cam, "ptz_address"));
    cc->is_always_on = json_is_true(json_object_get(cam, "always_on"));
    cc->priority = (int)json_integer_value(json_object_get(cam, "priority"));
    const char *owner = str(cam, "owner");
    const vg_camera_cfg_t *file_cc = NULL;
    for (size_t k = 0; owner && strcmp(owner, "file") == 0 && k < file_cfg->camera_count; k++) {
        if (strcmp(file_cfg->cameras[k].id, id) == 0)
            file_cc = &file_cfg->cameras[k];
    }
    if (file_cc) { /* the file is the truth: its URLs may carry credentials the database
                    * does not hold, its password is not sealed there */
        vg_config_set_secret(&cc->url, file_cc->url);
        vg_config_set_secret(&cc->substream_url, file_cc->substream_url);
        vg_config_set_secret(&cc->snapshot_url, file_cc->snapshot_url);
        vg_config_set_secret(&cc->password, file_cc->password);
        cc->stall_timeout_ms = file_cc->stall_timeout_ms;
    } else if (json_is_true(json_object_get(cam, "has_password"))) {
        char *pw = NULL;
        if (vg_store_camera_password(s, id, &pw, &err) < 0) {
            VG_LOG_ERROR("store", "camera '%s': %s", id, err.message);
            return VG_ECONFIG;
        }
        vg_config_set_secret(&cc->password, pw);
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
            .codec = str(t, "codec") ? vg_xstrdup(str(t, "codec")) : NULL,
            .kbps = (int)json_integer_value(json_object_get(t, "kbps")),
        };
    }
    route(s, cam, cc);
    return 0;
}

/* ---- fingerprints ---- */

static void fp_str(crypto_generichash_state *h, const char *v)
{
    uint32_t n = v ? (uint32_t)strlen(v) + 1 : 0; /* NULL and "" differ */
    crypto_generichash_update(h, (const uint8_t *)&n, sizeof(n));
    if (v)
        crypto_generichash_update(h, (const uint8_t *)v, n);
}

static void fp_int(crypto_generichash_state *h, long long v)
{
    crypto_generichash_update(h, (const uint8_t *)&v, sizeof(v));
}

/* dial: what the sources are built from; all: that and everything else. */
static void fingerprints(const vg_fleet_t *f, const vg_camera_cfg_t *cc,
                         uint8_t dial[FP_LEN], uint8_t all[FP_LEN])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, f->fp_key, sizeof(f->fp_key), FP_LEN);
    const char *dial_fields[] = {cc->url, cc->substream_url, cc->snapshot_url, cc->username,
                                 cc->password, cc->dial_error};
    for (size_t i = 0; i < sizeof(dial_fields) / sizeof(dial_fields[0]); i++)
        fp_str(&h, dial_fields[i]);
    crypto_generichash_state h_all = h;
    crypto_generichash_final(&h, dial, FP_LEN);
    fp_str(&h_all, cc->name);
    fp_str(&h_all, cc->default_tier);
    /* What it takes from the file's defaults too, so that a reload changing them reaches
     * the cameras that use them. */
    fp_int(&h_all, cc->idle_timeout_ms >= 0 ? cc->idle_timeout_ms : f->cfg->idle_timeout_ms);
    fp_int(&h_all, cc->stall_timeout_ms >= 0 ? cc->stall_timeout_ms : f->cfg->stall_timeout_ms);
    fp_int(&h_all, cc->is_always_on);
    fp_int(&h_all, cc->priority);
    const vg_tier_cfg_t *tiers = cc->tier_count ? cc->tiers : f->cfg->tiers;
    size_t tier_count = cc->tier_count ? cc->tier_count : f->cfg->tier_count;
    for (size_t t = 0; t < tier_count; t++) {
        fp_str(&h_all, tiers[t].name);
        fp_str(&h_all, tiers[t].size);
        fp_int(&h_all, tiers[t].fps);
        fp_int(&h_all, tiers[t].quality);
        fp_str(&h_all, tiers[t].codec);
        fp_int(&h_all, tiers[t].kbps);
    }
    crypto_generichash_final(&h_all, all, FP_LEN);
}

static fleet_cam_t *cam_find(vg_fleet_t *f, const char *id)
{
    for (size_t i = 0; i < f->cam_count; i++) {
        if (strcmp(f->cams[i].id, id) == 0)
            return &f->cams[i];
    }
    return NULL;
}

static void cam_set(vg_fleet_t *f, const char *id, const uint8_t dial[FP_LEN],
                    const uint8_t all[FP_LEN], bool is_config_failed)
{
    fleet_cam_t *c = cam_find(f, id);
    if (c == NULL) {
        f->cams = vg_xrealloc(f->cams, (f->cam_count + 1) * sizeof(*f->cams));
        c = &f->cams[f->cam_count++];
        c->id = vg_xstrdup(id);
    }
    memcpy(c->dial_fp, dial, FP_LEN);
    memcpy(c->all_fp, all, FP_LEN);
    c->is_config_failed = is_config_failed;
}

static void cam_forget(vg_fleet_t *f, const char *id)
{
    fleet_cam_t *c = cam_find(f, id);
    if (c == NULL)
        return;
    free(c->id);
    *c = f->cams[--f->cam_count];
}

/* ---- reconcile ---- */

static void remove_stream(vg_fleet_t *f, vg_stream_t *st, const char *reason)
{
    char *id = vg_xstrdup(vg_stream_id(st));
    vg_hub_remove_stream(f->hub, st, reason);
    cam_forget(f, id);
    if (f->outputs)
        vg_outputs_forget_camera(f->outputs, id);
    free(id);
}

/* Adds the stream b describes (taking its producers when the hub accepts it). */
static void add_built(vg_fleet_t *f, vg_camera_build_t *b, const uint8_t dial[FP_LEN],
                      const uint8_t all[FP_LEN])
{
    vg_stream_t *st;
    if (vg_hub_add_stream(f->hub, &b->scfg, &st) < 0) {
        VG_LOG_ERROR("store", "camera '%s' cannot be served (see above)", b->scfg.id);
        return;
    }
    vg_camera_build_taken(b);
    cam_set(f, b->scfg.id, dial, all, b->field[0] != '\0');
    if (f->is_started)
        vg_stream_start_always_on(st);
}

/* A camera served failed: said once, when it is built. */
static void log_failed(const vg_camera_build_t *b)
{
    if (b->scfg.producer == NULL && b->err[0])
        VG_LOG_ERROR("store", "camera '%s' (%s) is served failed: %s", b->scfg.id, b->shown,
                     b->err);
}

/* vg_camera_build, and on a shared database the camera's producer under its lease (no
 * substream there: a relaying instance would dial the camera for it). */
static void build(vg_fleet_t *f, vg_camera_build_t *b, const vg_camera_cfg_t *cc)
{
    vg_camera_build(b, f->cfg, cc);
    if (b->is_uplink && !b->field[0]) {
        /* An edge's camera: read through the site's link where the link reached, and relayed
         * from there by the other instances (uplink_server.c); not under a lease, which could
         * go to an instance the site never dialled. */
        if (f->uplinks == NULL ||
            vg_uplinks_producer(f->uplinks, cc->url, &b->scfg.producer, &b->scfg.producer_ctx,
                                b->err, sizeof(b->err)) < 0) {
            if (f->uplinks == NULL)
                vg_strlcpy(b->err, "no uplinks here", sizeof(b->err));
            b->scfg.producer = NULL;
        }
        return;
    }
    if (!f->is_cluster || b->scfg.producer == NULL)
        return;
    vg_lease_wrap(&f->lease, cc->id, &b->scfg.producer, &b->scfg.producer_ctx);
    if (b->scfg.sub) {
        b->scfg.sub->free(b->scfg.sub_ctx);
        b->scfg.sub = NULL;
        b->scfg.sub_ctx = NULL;
    }
}

static void add_stream(vg_fleet_t *f, const vg_camera_cfg_t *cc, const uint8_t dial[FP_LEN],
                       const uint8_t all[FP_LEN])
{
    vg_camera_build_t *b = vg_xmalloc(sizeof(*b));
    build(f, b, cc);
    log_failed(b);
    add_built(f, b, dial, all);
    vg_camera_build_drop(b);
    free(b);
}

/* A camera that runs and whose configuration changed. */
static void update_stream(vg_fleet_t *f, vg_stream_t *st, const vg_camera_cfg_t *cc,
                          const uint8_t dial[FP_LEN], const uint8_t all[FP_LEN])
{
    fleet_cam_t *known = cam_find(f, cc->id);
    vg_camera_build_t *b = vg_xmalloc(sizeof(*b));
    build(f, b, cc);
    log_failed(b);
    /* Failing for a field, or recovering from one, replaces its sources (there are none on
     * the failed side). */
    bool is_config_failed = b->field[0] != '\0';
    bool is_dial_changed = known == NULL || memcmp(known->dial_fp, dial, FP_LEN) != 0 ||
                           is_config_failed || known->is_config_failed;
    int rc = vg_stream_reconfigure(st, &b->scfg, is_dial_changed);
    if (rc == VG_EBUSY) { /* a new ladder: the stream restarts on it, its viewers moved */
        is_dial_changed = true;
        rc = vg_stream_reconfigure(st, &b->scfg, true);
    }
    if (rc == 0) {
        if (is_dial_changed)
            vg_camera_build_taken(b);
        cam_set(f, cc->id, dial, all, is_config_failed);
        VG_LOG_INFO("store", "camera '%s' changed: %s", cc->id,
                    is_dial_changed ? "restarted on its new configuration" : "updated in place");
    } else { /* a default tier its new ladder lacks (logged) */
        VG_LOG_ERROR("store", "camera '%s': the change cannot be applied; it keeps running as "
                     "it was", cc->id);
    }
    vg_camera_build_drop(b);
    free(b);
}

static bool is_in(const vg_config_t *c, const char *id)
{
    for (size_t i = 0; i < c->camera_count; i++) {
        if (strcmp(c->cameras[i].id, id) == 0)
            return true;
    }
    return false;
}

static void snap_free(fleet_snap_t *sn)
{
    if (sn->want) {
        vg_config_deinit(sn->want);
        free(sn->want);
    }
    json_decref(sn->disabled);
    vg_access_free(&sn->access);
    memset(sn, 0, sizeof(*sn));
}

/* Store thread (or the loop before start): reads everything a reconcile applies. */
static int load_snapshot(const vg_fleet_t *f, vg_store_t *s, fleet_snap_t *out,
                         vg_store_err_t *err)
{
    json_t *all = NULL;
    memset(out, 0, sizeof(*out));
    size_t total;
    if (list_all_cameras(s, &all, &total, err) < 0)
        return VG_EINVAL;
    out->want = vg_xmalloc(sizeof(*out->want));
    vg_config_init(out->want);
    out->disabled = json_object();
    size_t i;
    json_t *cam;
    json_array_foreach(all, i, cam) {
        const char *id = str(cam, "id");
        if (json_is_false(json_object_get(cam, "enabled"))) {
            json_object_set_new(out->disabled, id, json_true());
            continue;
        }
        size_t before = out->want->camera_count;
        if (load_camera(s, f->store_cfg, cam, out->want) < 0 && out->want->camera_count > before) {
            /* Its password cannot be unsealed: served as failed, saying so, rather than
             * dialled without it. */
            vg_camera_cfg_t *cc = vg_config_last_camera(out->want);
            cc->dial_error = vg_xstrdup("password cannot be unsealed");
        }
    }
    json_decref(all);
    if (vg_store_access_load(s, vg_wall_us(), &out->access, err) < 0) {
        snap_free(out);
        return VG_EINVAL;
    }
    return 0;
}

/* Loop: brings the hub in line with a snapshot (taking it). */
static void apply_snapshot(vg_fleet_t *f, fleet_snap_t *sn)
{
    vg_config_t *want = sn->want;
    for (size_t k = vg_hub_count(f->hub); k-- > 0;) {
        vg_stream_t *st = vg_hub_at(f->hub, k);
        if (!is_in(want, vg_stream_id(st))) {
            bool is_disabled = json_object_get(sn->disabled, vg_stream_id(st)) != NULL;
            remove_stream(f, st, is_disabled ? "camera disabled" : "camera deleted");
        }
    }
    for (size_t k = 0; k < want->camera_count; k++) {
        const vg_camera_cfg_t *cc = &want->cameras[k];
        uint8_t dial[FP_LEN], allfp[FP_LEN];
        fingerprints(f, cc, dial, allfp);
        vg_stream_t *st = vg_hub_find(f->hub, cc->id);
        fleet_cam_t *known = cam_find(f, cc->id);
        if (st == NULL) {
            add_stream(f, cc, dial, allfp);
            if (f->is_started)
                VG_LOG_INFO("store", "camera '%s' added", cc->id);
        } else if (known == NULL || memcmp(known->all_fp, allfp, FP_LEN) != 0) {
            update_stream(f, st, cc, dial, allfp);
        }
    }
    if (f->ptz) {
        vg_ptz_ctl_sync_begin(f->ptz);
        for (size_t k = 0; k < want->camera_count; k++) {
            const vg_camera_cfg_t *cc = &want->cameras[k];
            if (cc->ptz_driver)
                vg_ptz_ctl_set_camera(f->ptz, cc->id, cc->ptz_driver, cc->ptz_address,
                                      cc->username, cc->password, cc->ptz_error);
        }
        vg_ptz_ctl_sync_end(f->ptz);
    }
    if (f->on_access) {
        f->on_access(f->on_access_arg, sn->access);
        sn->access = NULL;
    }
    snap_free(sn);
}

void vg_fleet_reconcile(vg_fleet_t *f)
{
    vg_store_err_t err;
    fleet_snap_t sn;
    if (f->store == NULL) { /* started: the thread has the store */
        vg_fleet_changed(f);
        return;
    }
    f->data_version = vg_store_data_version(f->store);
    if (load_snapshot(f, f->store, &sn, &err) < 0) {
        VG_LOG_ERROR("store", "cannot read the cameras: %s (kept as they are)", err.message);
        return;
    }
    apply_snapshot(f, &sn);
}

void vg_fleet_set_ptz(vg_fleet_t *f, vg_ptz_ctl_t *ptz)
{
    f->ptz = ptz;
}

void vg_fleet_on_access(vg_fleet_t *f, void (*fn)(void *arg, vg_access_t *snap), void *arg)
{
    f->on_access = fn;
    f->on_access_arg = arg;
}

/* ---- jobs: polls, and the API's writes followed by a snapshot ---- */

/* A reload of the config file: its cameras put in the database on the store thread. */
typedef struct fleet_reload {
    vg_fleet_t *f;
    const vg_config_t *cfg;
} fleet_reload_t;

typedef struct fleet_job {
    vg_fleet_t *f;
    bool is_forced;            /* read a snapshot whatever the data version says */
    vg_store_run_fn write;     /* NULL: a poll */
    vg_store_done_fn done;
    void *arg;
    bool has_snap;
    fleet_snap_t snap;
    fleet_reload_t *reload; /* a reload's: write's arg, freed with the job */
} fleet_job_t;

static int job_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    fleet_job_t *j = arg;
    vg_fleet_t *f = j->f;
    if (j->write) {
        int rc = j->write(s, j->reload ? (void *)j->reload : j->arg, err);
        if (rc < 0)
            return rc;
    }
    int64_t v = vg_store_data_version(s);
    /* data_version counts other connections' commits only: our own writes force it. */
    if (v == f->data_version && !j->is_forced && j->write == NULL)
        return 0;
    vg_store_err_t lerr;
    if (load_snapshot(f, s, &j->snap, &lerr) < 0) {
        if (j->write == NULL) {
            *err = lerr;
            return VG_EINVAL;
        }
        /* The write is done; the next poll catches up. */
        return 0;
    }
    f->data_version = v;
    j->has_snap = true;
    return 0;
}

static void job_done(void *arg, int rc, const vg_store_err_t *err)
{
    fleet_job_t *j = arg;
    vg_fleet_t *f = j->f;
    if (j->write == NULL)
        f->is_poll_in_flight = false;
    if (j->has_snap) {
        if (f->is_closing)
            snap_free(&j->snap);
        else
            apply_snapshot(f, &j->snap);
    }
    if (rc < 0 && j->write == NULL && rc != VG_ECLOSED)
        VG_LOG_DEBUG("store", "reload: %s (the next poll retries)", err->message);
    if (j->done)
        j->done(j->arg, rc, err);
    free(j->reload);
    free(j);
}

static int submit(vg_fleet_t *f, fleet_job_t *j, int max_wait_ms)
{
    int rc = vg_store_async_submit(f->async, job_run, job_done, j, max_wait_ms);
    if (rc < 0)
        free(j);
    return rc;
}

int vg_fleet_write(vg_fleet_t *f, vg_store_run_fn write, vg_store_done_fn done, void *arg)
{
    fleet_job_t *j = vg_xcalloc(1, sizeof(*j));
    *j = (fleet_job_t){.f = f, .is_forced = true, .write = write, .done = done, .arg = arg};
    return submit(f, j, VG_STORE_WAIT_MS);
}

int vg_fleet_read(vg_fleet_t *f, vg_store_run_fn read, vg_store_done_fn done, void *arg)
{
    return vg_store_async_submit(f->async, read, done, arg, VG_STORE_WAIT_MS);
}

static int reload_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    fleet_reload_t *r = arg;
    r->f->store_cfg = r->cfg; /* the snapshot read next takes the file's cameras from it */
    if (sync_file_cameras(s, r->cfg) < 0) {
        snprintf(err->message, sizeof(err->message), "the database refused a camera of the "
                 "file (see above)");
        return VG_ECONFIG;
    }
    return 0;
}

int vg_fleet_reload(vg_fleet_t *f, const vg_config_t *cfg, vg_store_done_fn done, void *arg)
{
    if (f->async == NULL || f->is_closing)
        return VG_ECLOSED;
    fleet_reload_t *r = vg_xmalloc(sizeof(*r));
    *r = (fleet_reload_t){.f = f, .cfg = cfg};
    fleet_job_t *j = vg_xcalloc(1, sizeof(*j));
    *j = (fleet_job_t){.f = f, .is_forced = true, .write = reload_run, .done = done,
                       .arg = arg, .reload = r};
    int rc = vg_store_async_submit(f->async, job_run, job_done, j, VG_STORE_WAIT_MS);
    if (rc < 0) {
        free(r);
        free(j);
        return rc;
    }
    f->cfg = cfg; /* the loop builds with it from now on; the store thread once it runs */
    return 0;
}

typedef struct beat_job {
    vg_fleet_t *f;
    int64_t load, capacity;
    char urls[600];
    json_t *held;   /* the leases it still holds (cluster) */
    json_t *leases; /* and every camera's (cluster) */
    bool is_draining; /* asked to drain (vg_store_instance_drain) */
} beat_job_t;

static int beat_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    beat_job_t *b = arg;
    vg_instance_info_t me = {.id = b->f->instance_id, .urls = b->urls, .load = b->load,
                             .capacity = b->capacity,
                             .started_us = b->f->started_us};
    int64_t now = vg_wall_us();
    int rc = vg_store_instance_beat(s, &me, now, err);
    if (rc == 0)
        rc = vg_store_instance_is_draining(s, b->f->instance_id, &b->is_draining, err);
    if (rc == 0 && b->f->is_cluster)
        rc = vg_store_leases_renew(s, b->f->instance_id, now, VG_LEASE_TTL_US, &b->held, err);
    if (rc == 0 && b->f->is_cluster)
        rc = vg_store_leases_list(s, now, &b->leases, err);
    return rc;
}

static void beat_done(void *arg, int rc, const vg_store_err_t *err)
{
    beat_job_t *b = arg;
    vg_fleet_t *f = b->f;
    f->is_beat_in_flight = false;
    if (rc == 0 && !f->is_registered)
        VG_LOG_INFO("store", "instance '%s' registered", f->instance_id);
    else if (rc < 0 && rc != VG_ECLOSED && f->is_registered)
        VG_LOG_WARN("store", "instance '%s': heartbeat failed: %s", f->instance_id,
                    err->message);
    if (rc != VG_ECLOSED)
        f->is_registered = rc == 0;
    if (rc == 0 && b->held && !f->is_closing)
        vg_lease_held(&f->lease, b->held, b->leases);
    if (rc == 0 && b->is_draining && !f->is_drain_told && f->on_drain && !f->is_closing) {
        f->is_drain_told = true;
        VG_LOG_INFO("store", "instance '%s' asked to drain: handing its cameras over",
                    f->instance_id);
        f->on_drain(f->on_drain_arg);
    }
    json_decref(b->held);
    json_decref(b->leases);
    free(b);
}

static void beat(vg_fleet_t *f)
{
    if (f->is_beat_in_flight || f->is_closing || f->is_leaving || f->async == NULL)
        return;
    beat_job_t *b = vg_xcalloc(1, sizeof(*b));
    b->f = f;
    vg_strlcpy(b->urls, f->instance_urls, sizeof(b->urls));
    b->capacity = f->cfg->max_sources; /* the loop's: a reload may replace cfg */
    for (size_t i = 0; i < vg_hub_count(f->hub); i++) /* the cameras it pulls now */
        b->load += vg_stream_state(vg_hub_at(f->hub, i)) != VG_STREAM_IDLE;
    f->last_beat_us = vg_mono_us();
    if (vg_store_async_submit(f->async, beat_run, beat_done, b, BEAT_WAIT_MS) == 0)
        f->is_beat_in_flight = true;
    else
        free(b);
}

bool vg_fleet_is_registered(const vg_fleet_t *f) { return f->is_registered; }

typedef struct leave_job {
    vg_fleet_t *f;
    void (*done)(void *arg);
    void *arg;
} leave_job_t;

static int leave_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    leave_job_t *l = arg;
    return vg_store_instance_remove(s, l->f->instance_id, err);
}

static void leave_done(void *arg, int rc, const vg_store_err_t *err)
{
    leave_job_t *l = arg;
    if (rc == 0)
        VG_LOG_INFO("store", "instance '%s' left; its camera leases are free", l->f->instance_id);
    else if (rc != VG_ECLOSED)
        VG_LOG_WARN("store", "instance '%s' could not leave: %s (its leases expire instead)",
                    l->f->instance_id, err->message);
    l->done(l->arg);
    free(l);
}

void vg_fleet_set_uplinks(vg_fleet_t *f, struct vg_uplinks *uplinks)
{
    f->uplinks = uplinks;
    if (uplinks && f->is_cluster)
        vg_uplinks_set_cluster(uplinks, &f->lease);
}

void vg_fleet_on_drain(vg_fleet_t *f, void (*fn)(void *arg), void *arg)
{
    f->on_drain = fn;
    f->on_drain_arg = arg;
}

void vg_fleet_leave(vg_fleet_t *f, void (*done)(void *arg), void *arg)
{
    f->is_leaving = true;
    leave_job_t *l = vg_xmalloc(sizeof(*l));
    *l = (leave_job_t){.f = f, .done = done, .arg = arg};
    if (f->async == NULL ||
        vg_store_async_submit(f->async, leave_run, leave_done, l, 1000) < 0) {
        free(l);
        done(arg);
    }
}

/* instance_urls from advertise_url and rtsp_url. False when they do not fit. */
static bool make_urls(vg_fleet_t *f)
{
    json_t *urls = json_array();
    if (f->advertise_url)
        json_array_append_new(urls, json_string(f->advertise_url));
    if (f->rtsp_url)
        json_array_append_new(urls, json_string(f->rtsp_url));
    char *text = json_dumps(urls, JSON_COMPACT);
    json_decref(urls);
    bool fits = text && strlen(text) < sizeof(f->instance_urls);
    if (fits)
        vg_strlcpy(f->instance_urls, text, sizeof(f->instance_urls));
    free(text);
    return fits;
}

void vg_fleet_set_rtsp_url(vg_fleet_t *f, const char *url)
{
    free(f->rtsp_url);
    f->rtsp_url = url ? vg_xstrdup(url) : NULL;
    if (!make_urls(f))
        VG_LOG_WARN("config", "the RTSP URL '%s' is too long to advertise", url);
}
const char *vg_fleet_instance_id(const vg_fleet_t *f) { return f->instance_id; }

static void on_poll(uv_timer_t *t)
{
    vg_fleet_t *f = t->data;
    if (!f->is_closing && vg_mono_us() - f->last_beat_us >= BEAT_MS * 1000LL)
        beat(f);
    if (f->is_poll_in_flight || f->is_closing)
        return;
    fleet_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->f = f;
    if (submit(f, j, POLL_MS * 8) == 0)
        f->is_poll_in_flight = true;
}

int vg_fleet_open(vg_fleet_t **out, const vg_config_t *cfg, uv_loop_t *loop, vg_hub_t *hub)
{
    char msg[256];
    vg_fleet_t *f = vg_xcalloc(1, sizeof(*f));
    f->cfg = f->store_cfg = cfg;
    f->loop = loop;
    f->hub = hub;
    f->started_us = vg_wall_us();
    uv_timer_init(loop, &f->poll_timer);
    f->poll_timer.data = f;
    *out = f;
    if (cfg->instance_id && *cfg->instance_id) {
        if (strlen(cfg->instance_id) >= sizeof(f->instance_id)) {
            VG_LOG_ERROR("config", "instance_id '%.80s' is longer than %zu characters",
                         cfg->instance_id, sizeof(f->instance_id) - 1);
            return VG_ECONFIG;
        }
        vg_strlcpy(f->instance_id, cfg->instance_id, sizeof(f->instance_id));
    } else if (gethostname(f->instance_id, sizeof(f->instance_id) - 1) != 0 ||
               !*f->instance_id) {
        vg_strlcpy(f->instance_id, "vigil", sizeof(f->instance_id));
    }
    if (cfg->advertise_url && *cfg->advertise_url)
        f->advertise_url = vg_xstrdup(cfg->advertise_url);
    if (!make_urls(f)) {
        VG_LOG_ERROR("config", "advertise_url is too long");
        return VG_ECONFIG;
    }
    if (vg_secrets_init() < 0 ||
        vg_secrets_load(&f->secrets, cfg->master_key_file, getenv("VIGIL_MASTER_KEY"), msg,
                        sizeof(msg)) < 0) {
        VG_LOG_ERROR("store", "%s", msg);
        return VG_ECONFIG;
    }
    randombytes_buf(f->fp_key, sizeof(f->fp_key));
    vg_store_err_t err;
    vg_store_cfg_t scfg = {.path = cfg->db_path, .secrets = f->secrets};
    char shown[512]; /* a PostgreSQL URL may carry a password */
    vg_url_redact(cfg->db_path, shown, sizeof(shown));
    if (vg_store_open(&f->store, &scfg, &err) < 0) {
        VG_LOG_ERROR("store", "%s: %s", shown, err.message);
        return VG_ECONFIG;
    }
    if (f->secrets == NULL && vg_store_has_sealed_secrets(f->store)) {
        VG_LOG_ERROR("store", "%s holds sealed camera passwords: start vigil with its master "
                     "key (--master-key-file FILE or VIGIL_MASTER_KEY)", shown);
        return VG_ECONFIG;
    }
    if (sync_file_cameras(f->store, cfg) < 0)
        return VG_ECONFIG;
    VG_LOG_INFO("store", "%s (schema %d)", shown, vg_store_schema_version(f->store));
    /* Shared with other instances (the master key is required there, store/keys.h): each
     * camera is pulled under its lease, by one instance, and relayed by the others. */
    f->is_cluster = vg_store_is_postgresql(cfg->db_path) && f->secrets != NULL;
    if (f->is_cluster) {
        uint8_t key[32];
        vg_instance_key(f->secrets, key);
        vg_instance_credential(key, f->lease.credential);
        sodium_memzero(key, sizeof(key));
        vg_strlcpy(f->lease.instance_id, f->instance_id, sizeof(f->lease.instance_id));
        VG_LOG_INFO("store", "instance '%s': cameras are pulled under leases shared with the "
                    "other instances of this database", f->instance_id);
    }
    return 0;
}

void vg_fleet_set_outputs(vg_fleet_t *f, vg_outputs_t *outputs) { f->outputs = outputs; }
vg_store_t *vg_fleet_store(vg_fleet_t *f) { return f->store; }
vg_store_async_t *vg_fleet_async(vg_fleet_t *f) { return f->async; }
const vg_secrets_t *vg_fleet_secrets(vg_fleet_t *f) { return f->secrets; }

int vg_fleet_start_store(vg_fleet_t *f)
{
    if (f->async)
        return 0;
    if (vg_store_async_start(&f->async, f->loop, f->store) < 0)
        return VG_ECONFIG;
    f->lease.async = f->async;
    f->store = NULL; /* the store thread's from now on */
    return 0;
}

void vg_fleet_start(vg_fleet_t *f)
{
    f->is_started = true;
    beat(f); /* before any request: the store thread runs jobs in order, so /readyz sees it */
    for (size_t i = 0; i < vg_hub_count(f->hub); i++)
        vg_stream_start_always_on(vg_hub_at(f->hub, i));
    uv_timer_start(&f->poll_timer, on_poll, POLL_MS, POLL_MS);
}

void vg_fleet_changed(void *fleet)
{
    vg_fleet_t *f = fleet;
    if (f->is_closing || f->async == NULL)
        return;
    fleet_job_t *j = vg_xcalloc(1, sizeof(*j));
    *j = (fleet_job_t){.f = f, .is_forced = true};
    submit(f, j, VG_STORE_WAIT_MS);
}

/* The last of the poll timer and the store thread to close frees the fleet: the thread's
 * jobs borrow the secrets and name the fleet until then. */
static void fleet_closed_part(vg_fleet_t *f)
{
    if (--f->open_parts > 0)
        return;
    vg_secrets_free(&f->secrets);
    free(f->advertise_url);
    free(f->rtsp_url);
    for (size_t i = 0; i < f->cam_count; i++)
        free(f->cams[i].id);
    free(f->cams);
    free(f);
}

static void on_timer_closed(uv_handle_t *h) { fleet_closed_part(h->data); }
static void on_store_closed(void *arg) { fleet_closed_part(arg); }

void vg_fleet_close(vg_fleet_t **fp)
{
    vg_fleet_t *f = *fp;
    if (f == NULL)
        return;
    *fp = NULL;
    f->is_closing = true;
    f->open_parts = 2;
    vg_lease_detach_all(&f->lease); /* the hub's streams outlive f */
    /* Jobs still queued complete with VG_ECLOSED; their done callbacks name f. */
    vg_store_async_close(&f->async, on_store_closed, f);
    vg_store_close(&f->store);
    uv_close((uv_handle_t *)&f->poll_timer, on_timer_closed);
}
