/* ptz: the driver registry (a static table by name), the instance's lifecycle, the op
 * wrappers, and the helpers the drivers share (HTTP errors as PTZ errors, libxml2 reads).
 * Loop thread only. libxml2 never touches the network here (XML_PARSE_NONET) and is used
 * only from the loop thread, so its global state needs no locking.
 */
#include <errno.h>
#include <libxml/parser.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "ptz/ptz_int.h"

static const vg_ptz_ops_t *const drivers[] = {&vg__ptz_bosch_ops, &vg__ptz_onvif_ops};

const vg_ptz_ops_t *vg_ptz_find_driver(const char *name)
{
    for (size_t i = 0; name && i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    }
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? vg_xstrdup(s) : NULL;
}

int vg_ptz_open(vg_ptz_t **out, const char *driver, const vg_ptz_cfg_t *cfg)
{
    const vg_ptz_ops_t *ops = vg_ptz_find_driver(driver);
    *out = NULL;
    if (ops == NULL)
        return VG_ENOENT;
    if (cfg->address == NULL || cfg->address[0] == '\0' || cfg->http == NULL)
        return VG_EINVAL;
    xmlInitParser();
    vg_ptz_t *p = vg_xcalloc(1, sizeof(*p));
    p->ops = ops;
    p->camera_id = vg_xstrdup(cfg->camera_id ? cfg->camera_id : "");
    p->address = vg_xstrdup(cfg->address);
    /* Some deployments write the Bosch address with a trailing slash: one form only. */
    size_t n = strlen(p->address);
    while (n > 0 && p->address[n - 1] == '/' && strstr(p->address, "/onvif/") == NULL)
        p->address[--n] = '\0';
    p->user = dup_or_null(cfg->user);
    p->password = dup_or_null(cfg->password);
    p->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 3000;
    p->http = cfg->http;
    int rc = ops->open ? ops->open(p, cfg) : 0;
    if (rc < 0) {
        vg_ptz_close(&p);
        return rc;
    }
    *out = p;
    return 0;
}

void vg_ptz_close(vg_ptz_t **pp)
{
    vg_ptz_t *p = *pp;
    if (p == NULL)
        return;
    *pp = NULL;
    if (p->ops->close)
        p->ops->close(p);
    if (p->password) {
        sodium_memzero(p->password, strlen(p->password));
        free(p->password);
    }
    free(p->user);
    free(p->address);
    free(p->camera_id);
    free(p);
}

const vg_ptz_ops_t *vg_ptz_driver(const vg_ptz_t *p)
{
    return p->ops;
}

#define CALL(op, ...) (p->ops->op ? p->ops->op(p, __VA_ARGS__) : -ENOTSUP)

int vg_ptz_move(vg_ptz_t *p, double pan, double tilt, double zoom, vg_ptz_done_cb done,
                void *user)
{
    if (!(pan >= -1 && pan <= 1 && tilt >= -1 && tilt <= 1 && zoom >= -1 && zoom <= 1))
        return VG_EINVAL; /* also NaN */
    return CALL(move, pan, tilt, zoom, done, user);
}
int vg_ptz_stop(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return CALL(stop, done, user);
}
int vg_ptz_goto_preset(vg_ptz_t *p, int number, vg_ptz_done_cb done, void *user)
{
    if (number < 1 || number > VG_PTZ_PRESET_MAX)
        return VG_EINVAL;
    return CALL(goto_preset, number, done, user);
}
int vg_ptz_set_preset(vg_ptz_t *p, int number, const char *name, vg_ptz_done_cb done,
                      void *user)
{
    if (number < 1 || number > VG_PTZ_PRESET_MAX ||
        (name && strlen(name) > VG_PTZ_NAME_MAX))
        return VG_EINVAL;
    return CALL(set_preset, number, name, done, user);
}
int vg_ptz_remove_preset(vg_ptz_t *p, int number, vg_ptz_done_cb done, void *user)
{
    if (number < 1 || number > VG_PTZ_PRESET_MAX)
        return VG_EINVAL;
    return CALL(remove_preset, number, done, user);
}
int vg_ptz_list_presets(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return CALL(list_presets, done, user);
}
int vg_ptz_set_alarm(vg_ptz_t *p, int n, bool is_on, vg_ptz_done_cb done, void *user)
{
    if (n < 1 || n > 255)
        return VG_EINVAL;
    return CALL(set_alarm, n, is_on, done, user);
}
int vg_ptz_status(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return CALL(status, done, user);
}
int vg_ptz_probe(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return CALL(probe, done, user);
}

void vg__ptz_done_simple(vg_ptz_done_cb done, void *user, int status, const char *error)
{
    vg_ptz_result_t res = {.error = status < 0 ? (error ? error : vg_strerror(status)) : NULL};
    done(user, status, &res);
}

int vg__ptz_http_error(int status, const vg_http_response_t *res, char *msg, size_t len)
{
    if (status == -ETIMEDOUT) {
        snprintf(msg, len, "the camera did not answer within %u ms", res->elapsed_ms);
        return -ETIMEDOUT;
    }
    if (status < 0) {
        snprintf(msg, len, "cannot reach the camera: %s", res->error ? res->error : "error");
        return status == -EMSGSIZE ? VG_EPROTO : VG_EUNREACHABLE;
    }
    if (res->http_status == 401) {
        snprintf(msg, len, "the camera refused the credentials (HTTP 401)");
        return VG_EUNAUTHORIZED;
    }
    snprintf(msg, len, "the camera answered HTTP %ld", res->http_status);
    return VG_EPROTO;
}

/* ---- libxml2 ---- */

xmlDoc *vg__xml_parse(const char *body, size_t len)
{
    if (len == 0 || len > (size_t)1 << 30)
        return NULL;
    return xmlReadMemory(body, (int)len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                             XML_PARSE_NOBLANKS);
}

xmlNode *vg__xml_child(const xmlNode *n, const char *ns, const char *local)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, local) != 0)
            continue;
        if (ns == NULL || (c->ns && c->ns->href && strcmp((const char *)c->ns->href, ns) == 0))
            return c;
    }
    return NULL;
}

void vg__xml_text(const xmlNode *n, char *out, size_t len)
{
    out[0] = '\0';
    if (n == NULL)
        return;
    xmlChar *t = xmlNodeGetContent(n);
    if (t == NULL)
        return;
    const char *s = (const char *)t;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    vg_strlcpy(out, s, len);
    size_t k = strlen(out);
    while (k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\t' || out[k - 1] == '\n' ||
                     out[k - 1] == '\r'))
        out[--k] = '\0';
    xmlFree(t);
}

bool vg__xml_attr(const xmlNode *n, const char *name, char *out, size_t len)
{
    xmlChar *v = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
    if (v == NULL)
        return false;
    vg_strlcpy(out, (const char *)v, len);
    xmlFree(v);
    return true;
}
