/* outputs: registration and the request parsing the HTTP outputs share. */
#include "outputs/outputs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

vg_outputs_t *vg_outputs_new(vg_server_t *srv, const vg_outputs_cfg_t *cfg)
{
    vg_outputs_t *o = vg_xcalloc(1, sizeof(*o));
    o->cfg = *cfg;
    vg__ws_register(srv, o);
    vg__mjpeg_register(srv, o);
    vg__snapshot_register(srv, o);
    vg__hls_register(srv, o);
    vg__viewers_start(o);
    return o;
}

void vg_outputs_free(vg_outputs_t **op)
{
    if (*op == NULL)
        return;
    vg__viewers_free(*op);
    vg__hls_free(*op);
    free(*op);
    *op = NULL;
}

int vg__outputs_resolve(vg_conn_t *c, vg_hub_t *hub, const char *camera_id, vg_stream_t **st)
{
    *st = vg_hub_find(hub, camera_id);
    if (*st == NULL) {
        vg_conn_error(c, 404, "not_found", "no camera '%s'", camera_id);
        return -1;
    }
    const vg_tier_t *tiers;
    int n = vg_stream_tiers(*st, &tiers);
    char name[VG_TIER_NAME_MAX + 1];
    int rc = vg_conn_query(c, "tier", name, sizeof(name));
    if (rc == VG_ENOENT)
        return vg_stream_default_tier(*st);
    if (rc >= 0 && strcmp(name, "auto") == 0)
        return VG__TIER_AUTO;
    int t = rc >= 0 ? vg_tier_find(tiers, n, name) : -1;
    if (t < 0) {
        char list[160] = "";
        size_t used = 0;
        for (int i = 0; i < n && used < sizeof(list); i++)
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                                     tiers[i].name);
        vg_conn_error(c, 400, "bad_request", "unknown tier; camera '%s' offers: %s", camera_id,
                      list);
        return -1;
    }
    if (tiers[t].codec != VG_CODEC_JPEG) {
        vg_conn_error(c, 400, "bad_request", "tier '%s' is H.264, for WebSocket viewers that "
                      "decode it; JPEG tiers of camera '%s' end before it", name, camera_id);
        return -1;
    }
    return t;
}
