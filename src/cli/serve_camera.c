/* serve_camera: one camera's configuration turned into what the hub needs — its producers
 * (main stream, snapshot fallback, substream), its ladder and the redacted URLs operators
 * see. Used at start for every camera and again by live reload when a camera changes. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/serve_int.h"
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

/* The camera's ladder, else the file's, else (0 tiers) the built-in one for its size. */
static int camera_ladder(const vg_config_t *cfg, const vg_camera_cfg_t *cc, int w, int h,
                         int fps, vg_tier_t ladder[VG_TIER_MAX])
{
    const vg_tier_cfg_t *tc = cc->tier_count ? cc->tiers : cfg->tiers;
    size_t tn = cc->tier_count ? cc->tier_count : cfg->tier_count;
    if (tn == 0)
        return 0;
    vg_tier_spec_t specs[VG_TIER_MAX];
    for (size_t k = 0; k < tn && k < VG_TIER_MAX; k++)
        specs[k] = (vg_tier_spec_t){.name = tc[k].name, .size = tc[k].size, .fps = tc[k].fps,
                                    .quality = tc[k].quality};
    char err[160];
    int n = vg_tier_ladder_from_specs(specs, (int)tn, w, h, fps, ladder, err, sizeof(err));
    if (n < 0)
        VG_LOG_ERROR("config", "camera '%s': tiers: %s", cc->id, err);
    return n;
}

int vg__camera_build(vg__camera_build_t *b, const vg_config_t *cfg, const vg_camera_cfg_t *cc)
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
        .config_error = b->err,
    };
    if (url_with_camera_credentials(cc, cc->url, url, sizeof(url)) < 0) {
        VG_LOG_ERROR("config", "camera '%s': URL too long with its credentials", cc->id);
        return VG_ECONFIG;
    }
    vg_url_redact(url, b->shown, sizeof(b->shown));
    if (cc->dial_error) {
        vg_strlcpy(b->err, cc->dial_error, sizeof(b->err));
        VG_LOG_ERROR("config", "camera '%s' (%s): %s", cc->id, b->shown, b->err);
    } else if (vg_source_producer_new(url, cc->id, &b->scfg.producer, &b->scfg.producer_ctx,
                                      &b->scfg.width, &b->scfg.height, &b->scfg.fps, b->err,
                                      sizeof(b->err)) < 0) {
        /* One bad camera must not keep the others down: it is served as "failed" with the
         * reason. The redacted URL is safe to show. */
        VG_LOG_ERROR("config", "camera '%s' (%s): %s", cc->id, b->shown, b->err);
        b->scfg.producer = NULL;
    }
    vg_secrets_wipe(url, sizeof(url));
    char err[256];
    if (cc->snapshot_url) {
        char snap[4096] = "";
        url_with_camera_credentials(cc, cc->snapshot_url, snap, sizeof(snap));
        int rc = vg_source_snapshot_producer_new(snap, cc->id, &b->scfg.fallback,
                                                 &b->scfg.fallback_ctx, err, sizeof(err));
        vg_secrets_wipe(snap, sizeof(snap));
        if (rc < 0) {
            VG_LOG_ERROR("config", "camera '%s': snapshot URL: %s", cc->id, err);
            goto fail;
        }
    }
    if (cc->substream_url) {
        char sub_url[4096] = "";
        int sw, sh, sfps;
        url_with_camera_credentials(cc, cc->substream_url, sub_url, sizeof(sub_url));
        vg_url_redact(sub_url, b->sub_shown, sizeof(b->sub_shown));
        int rc = vg_source_producer_new(sub_url, cc->id, &b->scfg.sub, &b->scfg.sub_ctx, &sw,
                                        &sh, &sfps, err, sizeof(err));
        vg_secrets_wipe(sub_url, sizeof(sub_url));
        if (rc < 0) {
            VG_LOG_ERROR("config", "camera '%s': substream URL (%s): %s", cc->id, b->sub_shown,
                         err);
            goto fail;
        }
        b->scfg.sub_url_redacted = b->sub_shown;
    }
    b->scfg.tier_count = camera_ladder(cfg, cc, b->scfg.width, b->scfg.height, b->scfg.fps,
                                       b->ladder);
    if (b->scfg.tier_count < 0)
        goto fail;
    b->scfg.tiers = b->ladder;
    scrub_stack();
    return 0;
fail:
    vg__camera_build_drop(b);
    scrub_stack();
    return VG_ECONFIG;
}

void vg__camera_build_taken(vg__camera_build_t *b)
{
    b->scfg.producer = b->scfg.fallback = b->scfg.sub = NULL;
}

void vg__camera_build_drop(vg__camera_build_t *b)
{
    if (b->scfg.producer)
        b->scfg.producer->free(b->scfg.producer_ctx);
    if (b->scfg.fallback)
        b->scfg.fallback->free(b->scfg.fallback_ctx);
    if (b->scfg.sub)
        b->scfg.sub->free(b->scfg.sub_ctx);
    vg__camera_build_taken(b);
}
