/* uplink_wire: framing and the hello (uplink_wire.h). */
#include "fleet/uplink_wire.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

int vg_uplink_frame_parse(const uint8_t *buf, size_t len, vg_uplink_frame_t *out)
{
    if (len < VG_UPLINK_HEAD || len > VG_UPLINK_FRAME_MAX)
        return VG_EINVAL;
    out->channel = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
                   buf[3];
    out->kind = buf[4];
    out->payload = buf + VG_UPLINK_HEAD;
    out->len = len - VG_UPLINK_HEAD;
    if (out->kind < VG_UPLINK_OPEN || out->kind > VG_UPLINK_BEAT)
        return VG_EINVAL;
    if (out->kind != VG_UPLINK_DATA && out->len != 0)
        return VG_EINVAL;
    return 0;
}

void vg_uplink_frame_head(uint8_t out[VG_UPLINK_HEAD], uint32_t channel, int kind)
{
    out[0] = (uint8_t)(channel >> 24);
    out[1] = (uint8_t)(channel >> 16);
    out[2] = (uint8_t)(channel >> 8);
    out[3] = (uint8_t)channel;
    out[4] = (uint8_t)kind;
}

int vg_uplink_is_name(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return 0;
    }
    return n >= 1 && n <= max;
}

static int refuse(char *why, size_t why_len, const char *text)
{
    snprintf(why, why_len, "%s", text);
    return VG_EINVAL;
}

int vg_uplink_hello_parse(const char *text, size_t len, vg_uplink_hello_t *out, char *why,
                          size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (len > VG_UPLINK_HELLO_MAX)
        return refuse(why, why_len, "hello too long");
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    int rc = VG_EINVAL;
    if (!json_is_object(o)) {
        refuse(why, why_len, "hello: not a JSON object");
        goto out;
    }
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *site = json_string_value(json_object_get(o, "site"));
    const char *token = json_string_value(json_object_get(o, "token"));
    json_t *cams = json_object_get(o, "cameras");
    if (type == NULL || strcmp(type, "hello") != 0) {
        refuse(why, why_len, "expected {\"type\":\"hello\"} first");
        goto out;
    }
    if (site == NULL || !vg_uplink_is_name(site, VG_UPLINK_SITE_MAX)) {
        refuse(why, why_len, "site: 1-31 of a-z 0-9 - _");
        goto out;
    }
    if (token == NULL || !*token || strlen(token) > VG_UPLINK_TOKEN_MAX) {
        refuse(why, why_len, "token: 1-128 characters");
        goto out;
    }
    if (!json_is_array(cams) || json_array_size(cams) > VG_UPLINK_CAMERAS_MAX) {
        refuse(why, why_len, "cameras: an array of at most 256");
        goto out;
    }
    vg_strlcpy(out->site, site, sizeof(out->site));
    vg_strlcpy(out->token, token, sizeof(out->token));
    size_t i;
    json_t *cam;
    json_array_foreach(cams, i, cam) {
        const char *id = json_string_value(json_object_get(cam, "id"));
        const char *name = json_string_value(json_object_get(cam, "name"));
        if (id == NULL || !vg_uplink_is_name(id, 62 - strlen(site))) {
            refuse(why, why_len, "cameras[].id: a-z 0-9 - _, and <site>-<id> at most 63");
            goto out;
        }
        vg_uplink_camera_t *c = &out->cameras[out->camera_count++];
        vg_strlcpy(c->id, id, sizeof(c->id));
        vg_strlcpy(c->name, name ? name : id, sizeof(c->name));
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

json_t *vg_uplink_hello_json(const vg_uplink_hello_t *h)
{
    json_t *cams = json_array();
    for (int i = 0; i < h->camera_count; i++)
        json_array_append_new(cams, json_pack("{s:s,s:s}", "id", h->cameras[i].id, "name",
                                              h->cameras[i].name));
    return json_pack("{s:s,s:s,s:s,s:o}", "type", "hello", "site", h->site, "token", h->token,
                     "cameras", cams);
}
