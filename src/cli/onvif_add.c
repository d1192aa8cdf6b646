/* onvif_add: `vigil camera add|set … onvif=http://HOST/onvif/device_service` — the fields a
 * camera's record needs, asked from the device itself (ptz/onvif.h): the first profile's
 * RTSP URI as url, the second's as substream_url, the snapshot URI, and, when a profile has
 * a PTZ configuration, ptz_driver=onvif with the device service as ptz_address. Fields given
 * on the command line win. Runs its own short loop with the shared HTTP client. */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "core/err.h"
#include "net/http_client.h"
#include "ptz/onvif.h"

typedef struct fill {
    json_t *fields;
    int status;
    char *err;
    size_t err_len;
} fill_t;

static void set_if_absent(json_t *fields, const char *key, const char *value)
{
    if (value[0] && json_object_get(fields, key) == NULL)
        json_object_set_new(fields, key, json_string(value));
}

static void on_media(void *user, int status, const char *error, const vg_onvif_media_t *m)
{
    fill_t *f = user;
    f->status = status;
    if (status < 0) {
        snprintf(f->err, f->err_len, "%s", error);
        return;
    }
    if (m->main_uri[0] == '\0') {
        f->status = VG_EPROTO;
        snprintf(f->err, f->err_len, "the device reports no stream (%d profiles)", m->profiles);
        return;
    }
    set_if_absent(f->fields, "url", m->main_uri);
    set_if_absent(f->fields, "substream_url", m->sub_uri);
    set_if_absent(f->fields, "snapshot_url", m->snapshot_uri);
    if (m->has_ptz) {
        set_if_absent(f->fields, "ptz_driver", "onvif");
        const char *addr = json_string_value(json_object_get(f->fields, "onvif"));
        set_if_absent(f->fields, "ptz_address", addr);
    }
}

int vg__cli_onvif_fill(json_t *fields, char *err, size_t err_len)
{
    const char *addr = json_string_value(json_object_get(fields, "onvif"));
    if (addr == NULL) {
        snprintf(err, err_len, "onvif= is the device service URL");
        return VG_EINVAL;
    }
    fill_t f = {.fields = fields, .status = VG_ECLOSED, .err = err, .err_len = err_len};
    snprintf(err, err_len, "no answer");
    uv_loop_t loop;
    uv_loop_init(&loop);
    vg_http_client_t *http = NULL;
    vg_ptz_t *p = NULL;
    int rc = vg_http_client_new(&http, &loop, NULL);
    vg_ptz_cfg_t cfg = {.camera_id = "onboarding", .address = addr,
                        .user = json_string_value(json_object_get(fields, "username")),
                        .password = json_string_value(json_object_get(fields, "password")),
                        .timeout_ms = 5000, .http = http};
    if (rc == 0)
        rc = vg_ptz_open(&p, "onvif", &cfg);
    if (rc == 0)
        rc = vg_onvif_media_info(p, on_media, &f);
    if (rc == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    else
        snprintf(err, err_len, "%s", vg_strerror(rc));
    vg_ptz_close(&p);
    vg_http_client_free(&http);
    uv_run(&loop, UV_RUN_DEFAULT); /* the client's handles close */
    uv_loop_close(&loop);
    json_object_del(fields, "onvif"); /* not a field of the record */
    return rc < 0 ? rc : f.status;
}
