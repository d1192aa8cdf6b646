/* router: routes (method + pattern with "{}" segments), the gate every routed request passes,
 * and the dispatch of a plain HTTP request to its handler, the static files, or an error.
 * Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "net/server_int.h"

/* ---- routing ---- */

void vg_server_route(vg_server_t *s, const char *method, const char *pattern, unsigned policy,
                     const vg_handler_ops_t *ops, void *user)
{
    VG_ASSERT(s->route_count < MAX_ROUTES);
    route_t *r = &s->routes[s->route_count++];
    vg_strlcpy(r->method, method, sizeof(r->method));
    vg_strlcpy(r->pattern, pattern, sizeof(r->pattern));
    r->policy = policy;
    r->ops = ops;
    r->user = user;
}

void vg_server_each_route(const vg_server_t *s,
                          void (*fn)(const char *method, const char *pattern, unsigned policy,
                                     void *arg),
                          void *arg)
{
    for (int i = 0; i < s->route_count; i++)
        fn(s->routes[i].method, s->routes[i].pattern, s->routes[i].policy, arg);
}

void vg_server_set_gate(vg_server_t *s, vg_gate_cb gate, void *user)
{
    s->gate = gate;
    s->gate_user = user;
}

/* Asks the gate about c on route r; 0 to go on, or the verdict's status. */
int vg__pass_gate(vg_conn_t *c, const route_t *r, bool is_upgrade, vg_gate_verdict_t *v)
{
    memset(v, 0, sizeof(*v));
    if (c->srv->gate == NULL)
        return 0;
    c->route = r;
    c->srv->gate(c, r->policy, (const char *const *)c->params, is_upgrade, v,
                 c->srv->gate_user);
    return v->status;
}

int vg__refuse(vg_conn_t *c, const vg_gate_verdict_t *v)
{
    if (v->www_authenticate)
        vg_conn_add_header(c, "www-authenticate", v->www_authenticate);
    if (v->retry_after_s > 0) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%d", v->retry_after_s);
        vg_conn_add_header(c, "retry-after", secs);
    }
    c->route = NULL; /* no handler saw it: none gets on_close */
    return vg_conn_error(c, v->status, v->code ? v->code : "forbidden", "%s", v->message);
}

/* Matches path against pattern, capturing "{}" segments into params (allocated). */
static bool route_match(const char *pattern, const char *path, char **params)
{
    int np = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(u, '/');
            size_t n = end ? (size_t)(end - u) : strlen(u);
            if (n == 0 || np == VG_ROUTE_MAX_PARAMS)
                goto no;
            params[np] = vg_xmalloc(n + 1);
            memcpy(params[np], u, n);
            params[np][n] = '\0';
            np++;
            u += n;
            p += 2;
        } else if (*p++ != *u++) {
            goto no;
        }
    }
    if (*p == '\0' && *u == '\0')
        return true;
no:
    for (int i = 0; i < np; i++) {
        free(params[i]);
        params[i] = NULL;
    }
    return false;
}

static const char *request_method(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
    } methods[] = {
        {WSI_TOKEN_GET_URI, "GET"},         {WSI_TOKEN_POST_URI, "POST"},
        {WSI_TOKEN_PUT_URI, "PUT"},         {WSI_TOKEN_DELETE_URI, "DELETE"},
        {WSI_TOKEN_PATCH_URI, "PATCH"},     {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
        {WSI_TOKEN_HEAD_URI, "HEAD"},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
            return methods[i].name;
    }
    return "?";
}

/* Finds the route for path; *method_mismatch tells 405 from 404. */
const route_t *vg__find_route(vg_server_t *s, const char *method, const char *path,
                                 char **params, bool *method_mismatch)
{
    *method_mismatch = false;
    for (int i = 0; i < s->route_count; i++) {
        const route_t *r = &s->routes[i];
        if (!route_match(r->pattern, path, params))
            continue;
        if (strcmp(r->method, method) == 0)
            return r;
        *method_mismatch = true;
        for (int k = 0; k < VG_ROUTE_MAX_PARAMS; k++) {
            free(params[k]);
            params[k] = NULL;
        }
    }
    return NULL;
}

int vg__http_request(vg_server_t *s, struct lws *wsi, const char *uri)
{
    vg__sock_header_done(wsi);
    if (vg__sock_of(wsi) == NULL) /* not accepted by listen.c: nowhere to keep its conn */
        return -1;
    vg__conn_release(wsi); /* none: the previous request went when its transaction completed */
    vg_conn_t *c = vg__conn_new(s, wsi);
    vg__conn_attach(wsi, c);
    vg_strlcpy(c->path, uri, sizeof(c->path));
    const char *method = request_method(wsi);
    VG_LOG_DEBUG("http", "peer=%s %s %s", c->peer, method, c->path);
    if (strcmp(method, "HEAD") == 0) {
        c->is_head = true;
        method = "GET";
    }
    vg_strlcpy(c->method, method, sizeof(c->method));
    if (s->is_shutting_down)
        return vg__answer_early(c, 503, "unavailable", "server is shutting down");
    bool mismatch;
    const route_t *r = vg__find_route(s, method, c->path, c->params, &mismatch);
    if (r == NULL && strcmp(method, "GET") == 0 && strncmp(c->path, "/api/", 5) != 0 &&
        strncmp(c->path, "/cameras/", 9) != 0)
        return vg__serve_static(c, c->path);
    if (r == NULL && mismatch)
        return vg__answer_early(c, 405, "method_not_allowed", "%s is not allowed on %s", method,
                            c->path);
    if (r == NULL)
        return vg__answer_early(c, 404, "not_found", "no route for %s", c->path);
    vg_gate_verdict_t verdict; /* who asks comes before what they asked wrong */
    if (vg__pass_gate(c, r, false, &verdict) != 0)
        return vg__refuse_after_body(c, &verdict);
    c->route = NULL; /* until its handler sees the request: no on_close before that */
    if (r->ops->on_request == NULL)
        return vg__answer_early(c, 426, "upgrade_required",
                            "%s is a WebSocket endpoint: send an Upgrade request", c->path);
    if (r->ops->max_body == 0 && vg__has_body(c))
        return vg__answer_early(c, 413, "too_large", "request bodies are not accepted here");
    c->route = r;
    if (r->ops->max_body > 0)
        return vg__expect_body(c);
    return r->ops->on_request(c, (const char *const *)c->params, r->user) < 0 ? -1 : 0;
}
