/* build: one camera's configuration turned into what the hub needs — its producers
 * (main stream, snapshot fallback, substream), its ladder and the redacted URLs operators
 * see. Used at start for every camera and again by live reload when a camera changes. */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "sources/source.h"
#include "store/secrets.h"

/* url with the camera's username/password put in (percent-encoded), into out. */
static int url_with_camera_credentials(const vg_camera_cfg_t *cc, const char *url, char *out,
                                       size_t out_len)
{
    if (cc->username == NULL && cc->password == NULL)
        return vg_strlcpy(out, url, out_len) ? 0 : VG_EINVAL;
    return vg_url_with_credentials(url, cc->username, cc->password, out, out_len);
}

/* Building a camera puts its credentials through the stack, ours and that of the calls we
 * make (percent-encoding, the fleet's fingerprints hashed just before us with libsodium's
 * BLAKE2b): our own buffers are wiped, and this clears what the calls left below us, so a
 * core dump of the loop thread's stack holds no camera password (issue 12). Cheap: a few
 * cameras are built at a time, and only when the configuration changes. */
static void scrub_stack(void)
{
    sodium_stackzero(64 * 1024);
}

__attribute__((format(printf, 3, 4))) static void problem(vg_camera_build_t *b,
                                                         const char *field, const char *fmt,
                                                         ...)
{
    if (b->field[0])
        return; /* the first one is reported */
    vg_strlcpy(b->field, field, sizeof(b->field));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->why, sizeof(b->why), fmt, ap);
    va_end(ap);
}

/* The camera's ladder, else the file's, else (0 tiers) the built-in one for its size. A tier
 * the media layer refuses is reported with its field ("tiers[1].fps"). */
static int camera_ladder(vg_camera_build_t *b, const vg_config_t *cfg,
                         const vg_camera_cfg_t *cc, int w, int h, int fps,
                         vg_tier_t ladder[VG_TIER_MAX])
{
    const vg_tier_cfg_t *tc = cc->tier_count ? cc->tiers : cfg->tiers;
    size_t tn = cc->tier_count ? cc->tier_count : cfg->tier_count;
    if (tn == 0)
        return vg_tier_default_ladder(w, h, fps, ladder);
    vg_tier_spec_t specs[VG_TIER_MAX];
    for (size_t k = 0; k < tn && k < VG_TIER_MAX; k++)
        specs[k] = (vg_tier_spec_t){.name = tc[k].name, .size = tc[k].size, .fps = tc[k].fps,
                                    .quality = tc[k].quality, .codec = tc[k].codec,
                                    .kbps = tc[k].kbps};
    char err[160], field[64];
    b->is_root_field = cc->tier_count == 0;
    for (size_t k = 0; k < tn && k < VG_TIER_MAX; k++) { /* each alone, to name its field */
        if (vg_tier_spec_check(&specs[k], (int)k, err, sizeof(err)) >= 0)
            continue;
        const char *which = strstr(err, "size") ? "size" : strstr(err, "fps") ? "fps"
                            : strstr(err, "quality") ? "quality" : strstr(err, "codec") ? "codec"
                            : strstr(err, "kbps") ? "kbps" : "name";
        const char *colon = strstr(err, ": ");
        snprintf(field, sizeof(field), "tiers[%zu].%s", k, which);
        problem(b, field, "%s", colon ? colon + 2 : err);
        return -1;
    }
    int n = vg_tier_ladder_from_specs(specs, (int)tn, w, h, fps, ladder, err, sizeof(err));
    if (n < 0)
        problem(b, "tiers", "%s", err);
    return n;
}

/* Whatever b holds is dropped and the stream is served failed with the reason. */
static void serve_failed(vg_camera_build_t *b)
{
    vg_camera_build_drop(b);
    b->scfg.tier_count = 0;
    b->scfg.tiers = NULL;
    b->scfg.default_tier = NULL;
    snprintf(b->err, sizeof(b->err), "%s%s%s", b->is_root_field ? "" : b->field,
             b->is_root_field ? "" : ": ", b->why);
}

int vg_camera_build(vg_camera_build_t *b, const vg_config_t *cfg, const vg_camera_cfg_t *cc)
{
    char url[4096];
    memset(b, 0, sizeof(*b));
    b->scfg = (vg_stream_cfg_t){
        .id = cc->id,
        .name = cc->name,
        .url_redacted = b->shown,
        .default_tier = cc->default_tier,
        .idle_timeout_ms = cc->idle_timeout_ms >= 0 ? cc->idle_timeout_ms : cfg->idle_timeout_ms,
        .stall_timeout_ms = cc->stall_timeout_ms >= 0 ? cc->stall_timeout_ms
                                                      : cfg->stall_timeout_ms,
        .is_always_on = cc->is_always_on,
        .priority = cc->priority,
        .config_error = b->err,
    };
    if (url_with_camera_credentials(cc, cc->url, url, sizeof(url)) < 0) {
        vg_strlcpy(url, "", sizeof(url));
        problem(b, "url", "too long with its credentials");
    }
    vg_url_redact(url, b->shown, sizeof(b->shown));
    if (b->field[0]) {
        /* reported below */
    } else if (cc->dial_error) {
        vg_strlcpy(b->err, cc->dial_error, sizeof(b->err));
    } else if (strncmp(url, "uplink://", 9) == 0) {
        b->is_uplink = true; /* the fleet gives it the uplinks' producer (fleet/uplink.h) */
    } else if (vg_source_producer_new(url, cc->id, &b->scfg.producer, &b->scfg.producer_ctx,
                                      &b->scfg.width, &b->scfg.height, &b->scfg.fps, b->err,
                                      sizeof(b->err)) < 0) {
        /* One bad camera must not keep the others down: it is served as "failed" with the
         * reason. The redacted URL is safe to show. */
        problem(b, "url", "%s", b->err);
        b->scfg.producer = NULL;
    }
    vg_secrets_wipe(url, sizeof(url));
    char err[256];
    if (cc->snapshot_url && !b->field[0]) {
        char snap[4096] = "";
        url_with_camera_credentials(cc, cc->snapshot_url, snap, sizeof(snap));
        int rc = vg_source_snapshot_producer_new(snap, cc->id, &b->scfg.fallback,
                                                 &b->scfg.fallback_ctx, err, sizeof(err));
        vg_secrets_wipe(snap, sizeof(snap));
        if (rc < 0)
            problem(b, "snapshot_url", "%s", err);
    }
    if (cc->substream_url && !b->field[0]) {
        char sub_url[4096] = "";
        int sw, sh, sfps;
        url_with_camera_credentials(cc, cc->substream_url, sub_url, sizeof(sub_url));
        vg_url_redact(sub_url, b->sub_shown, sizeof(b->sub_shown));
        int rc = vg_source_producer_new(sub_url, cc->id, &b->scfg.sub, &b->scfg.sub_ctx, &sw,
                                        &sh, &sfps, err, sizeof(err));
        vg_secrets_wipe(sub_url, sizeof(sub_url));
        if (rc < 0)
            problem(b, "substream_url", "%s", err);
        else
            b->scfg.sub_url_redacted = b->sub_shown;
    }
    if (!b->field[0]) {
        int n = camera_ladder(b, cfg, cc, b->scfg.width, b->scfg.height, b->scfg.fps,
                              b->ladder);
        int dt = n > 0 && cc->default_tier ? vg_tier_find(b->ladder, n, cc->default_tier) : -1;
        if (dt >= 0 && b->ladder[dt].codec != VG_CODEC_JPEG) {
            b->is_root_field = false;
            problem(b, "default_tier", "'%s' is an H.264 tier; the default is where MJPEG and "
                    "snapshots start, a JPEG tier", cc->default_tier);
        } else if (n > 0 && cc->default_tier && dt < 0) {
            char names[VG_TIER_MAX * (VG_TIER_NAME_MAX + 2)] = "";
            for (int k = 0; k < n; k++) {
                strncat(names, k ? ", " : "", sizeof(names) - strlen(names) - 1);
                strncat(names, b->ladder[k].name, sizeof(names) - strlen(names) - 1);
            }
            b->is_root_field = false;
            problem(b, "default_tier", "'%s' is not in its ladder (%s)", cc->default_tier,
                    names);
        }
        /* Only its own or the file's tiers are passed: the stream picks the built-in
         * ladder itself (0 tiers), as it always has. */
        b->scfg.tier_count = n > 0 && (cc->tier_count || cfg->tier_count) ? n : 0;
        b->scfg.tiers = b->ladder;
    }
    if (b->field[0])
        serve_failed(b);
    scrub_stack();
    return 0;
}

int vg_fleet_check_cameras(vg_config_t *cfg)
{
    vg_camera_build_t *b = vg_xmalloc(sizeof(*b));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < cfg->camera_count; i++) {
        const vg_camera_cfg_t *cc = &cfg->cameras[i];
        vg_camera_build(b, cfg, cc);
        vg_camera_build_drop(b);
        if (!b->field[0])
            continue;
        char where[256];
        if (b->is_root_field) {
            int line = vg_config_line(cfg, b->field);
            snprintf(where, sizeof(where), "%s:%d: %s", cfg->file_path ? cfg->file_path : "?",
                     line, b->field);
        } else {
            vg_config_where(cfg, cc, b->field, where, sizeof(where));
        }
        rc = vg_config_error(cfg, "%s: %s", where, b->why);
    }
    free(b);
    return rc;
}

void vg_camera_build_taken(vg_camera_build_t *b)
{
    b->scfg.producer = b->scfg.fallback = b->scfg.sub = NULL;
}

void vg_camera_build_drop(vg_camera_build_t *b)
{
    if (b->scfg.producer)
        b->scfg.producer->free(b->scfg.producer_ctx);
    if (b->scfg.fallback)
        b->scfg.fallback->free(b->scfg.fallback_ctx);
    if (b->scfg.sub)
        b->scfg.sub->free(b->scfg.sub_ctx);
    vg_camera_build_taken(b);
}
