/* api: GET /healthz, and the registration of every API route. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"

static int healthz(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    (void)user;
    return vg_conn_respond_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

static const vg_handler_ops_t health_ops = {.name = "healthz", .on_request = healthz};

/* /readyz: whether this instance should be sent traffic (a Kubernetes readiness probe, a load
 * balancer's check): its database answers a read within the store wait. Without a database
 * (cameras from a file or flags) it is ready once it listens. /healthz says only that the
 * process and its loop are alive. */
static int ready_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    (void)arg;
    json_t *out = NULL;
    size_t total = 0;
    int rc = vg_store_list(s, "sites", 0, 1, &out, &total, err);
    json_decref(out);
    return rc;
}

static void ready_finish(vg__api_job_t *j, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    const char *why = NULL;
    if (rc == 0 && j->ctx->is_registered && !j->ctx->is_registered(j->ctx->fleet))
        why = "this instance is not registered in the database yet";
    if (c != NULL && rc == 0 && why == NULL) {
        vg_conn_respond_json(c, 200, json_pack("{s:s,s:s}", "status", "ready", "store",
                                               "reachable"));
    } else if (c != NULL) {
        vg_conn_add_header(c, "retry-after", "1");
        vg_conn_respond_json(c, 503, json_pack("{s:s,s:s}", "status", "not ready", "reason",
                                               why                          ? why
                                               : err && err->message[0] ? err->message
                                                                        : "the database did not "
                                                                          "answer"));
    }
    free(j);
}

static int readyz(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    const vg_api_ctx_t *ctx = user;
    if (ctx->read == NULL)
        return vg_conn_respond_json(c, 200, json_pack("{s:s,s:s}", "status", "ready", "store",
                                                      "none"));
    vg__api_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->ctx = ctx;
    return vg__api_submit(c, j, false, ready_run, ready_finish);
}

static const vg_handler_ops_t ready_ops = {
    .name = "readyz", .on_request = readyz, .on_close = vg__api_conn_closed};

/* GET /api/v1/instances (admin): the instances sharing the database (issue 18). One is alive
 * while its heartbeat (every second) is younger than three. */
#define INSTANCE_ALIVE_US (3 * 1000000LL)

typedef struct instances_job {
    vg__api_job_t base;
    json_t *out;
} instances_job_t;

static int instances_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    instances_job_t *j = arg;
    return vg_store_instance_list(s, vg_wall_us(), INSTANCE_ALIVE_US, &j->out, err);
}

static void instances_finish(vg__api_job_t *base, vg_conn_t *c, int rc,
                             const vg_store_err_t *err)
{
    instances_job_t *j = (instances_job_t *)base;
    if (c && rc < 0)
        vg__api_store_error(c, err);
    else if (c)
        vg_conn_respond_json(c, 200, json_pack("{s:O,s:s}", "instances", j->out, "self",
                                               j->base.ctx->instance_id
                                                   ? j->base.ctx->instance_id(j->base.ctx->fleet)
                                                   : ""));
    json_decref(j->out);
    free(j);
}

static int list_instances(vg_conn_t *c, const char *const *params, void *user)
{
    (void)params;
    const vg_api_ctx_t *ctx = user;
    if (ctx->read == NULL)
        return vg_conn_respond_json(c, 200, json_pack("{s:[],s:s}", "instances", "self", ""));
    instances_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->base.ctx = ctx;
    return vg__api_submit(c, &j->base, false, instances_run, instances_finish);
}

static const vg_handler_ops_t instances_ops = {
    .name = "instances", .on_request = list_instances, .on_close = vg__api_conn_closed};

/* POST /api/v1/instances/{id}/drain (admin): the instance hands its cameras over and exits,
 * as on SIGTERM, once its next heartbeat (within a second) reads the flag. Any instance may
 * be asked through any other: they share the database. 202: asked; 404: not registered. */
typedef struct drain_job {
    vg__api_job_t base;
    char id[64];
} drain_job_t;

static int drain_run(vg_store_t *s, void *arg, vg_store_err_t *err)
{
    drain_job_t *j = arg;
    return vg_store_instance_drain(s, j->id, err);
}

static void drain_finish(vg__api_job_t *base, vg_conn_t *c, int rc, const vg_store_err_t *err)
{
    drain_job_t *j = (drain_job_t *)base;
    if (c) {
        vg_auth_audit(j->base.ctx->auth, c, "instance.drain", j->id, rc < 0 ? "failed" : "ok",
                      rc < 0 ? err->message : "");
        if (rc < 0)
            vg__api_store_error(c, err);
        else
            vg_conn_respond_json(c, 202, json_pack("{s:s,s:b}", "id", j->id, "draining", 1));
    }
    free(j);
}

static int drain_instance(vg_conn_t *c, const char *const *params, void *user)
{
    const vg_api_ctx_t *ctx = user;
    if (ctx->write == NULL)
        return vg_conn_error(c, 503, "unavailable", "no configuration database");
    if (strlen(params[0]) >= sizeof(((drain_job_t *)0)->id))
        return vg_conn_error(c, 404, "not_found", "no such instance");
    drain_job_t *j = vg_xcalloc(1, sizeof(*j));
    j->base.ctx = ctx;
    vg_strlcpy(j->id, params[0], sizeof(j->id));
    return vg__api_submit(c, &j->base, false, drain_run, drain_finish);
}

static const vg_handler_ops_t drain_ops = {
    .name = "instance_drain", .on_request = drain_instance, .on_close = vg__api_conn_closed};

int vg__api_store_error(vg_conn_t *c, const vg_store_err_t *err)
{
    if (err->status == 503)
        vg_conn_add_header(c, "retry-after", "1");
    json_t *e = json_pack("{s:s,s:s}", "code", err->code, "message", err->message);
    if (err->field[0])
        json_object_set_new(e, "field", json_string(err->field));
    return vg_conn_respond_json(c, err->status ? err->status : 500,
                                json_pack("{s:o}", "error", e));
}

/* The host of a URL ("rtsp://user:pw@host:554/x" -> "host"), into out; false if none. */
static bool url_host(const char *url, char *out, size_t len)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (p == NULL)
        return false;
    p += 3;
    const char *end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at)
        p = at + 1;
    const char *stop;
    if (*p == '[') { /* [v6]:port */
        stop = memchr(p, ']', (size_t)(end - p));
        if (stop == NULL)
            return false;
        p++;
    } else {
        stop = memchr(p, ':', (size_t)(end - p));
        if (stop == NULL)
            stop = end;
    }
    size_t n = (size_t)(stop - p);
    if (n == 0 || n >= len)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static void collect_hosts(json_t *doc, json_t *hosts)
{
    static const char *const urls[] = {"url", "substream_url", "snapshot_url"};
    char host[256];
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        if (url_host(json_string_value(json_object_get(doc, urls[i])), host, sizeof(host)))
            json_array_append_new(hosts, json_string(host));
    }
    json_t *child;
    const char *key;
    json_object_foreach(doc, key, child) {
        if (json_is_object(child))
            collect_hosts(child, hosts);
    }
}

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

/* The next place host stands as a whole name in p (not inside a longer name: host "cam"
 * in "camera", or "10.0.0.1" in "10.0.0.10"), or NULL. */
static const char *find_host(const char *text, const char *p, const char *host, size_t hl)
{
    for (const char *m = strstr(p, host); m; m = strstr(m + 1, host)) {
        if ((m == text || !is_host_char(m[-1])) && !is_host_char(m[hl]))
            return m;
    }
    return NULL;
}

/* text with host replaced by with wherever it stands as a name (new string), or NULL when
 * it does not. */
static char *replace_host(const char *text, const char *host, const char *with)
{
    size_t hl = strlen(host), wl = strlen(with), hits = 0;
    if (hl == 0)
        return NULL;
    for (const char *m = find_host(text, text, host, hl); m; m = find_host(text, m + hl, host, hl))
        hits++;
    if (hits == 0)
        return NULL;
    char *out = vg_xmalloc(strlen(text) - hits * hl + hits * wl + 1), *o = out;
    const char *p = text;
    for (const char *m; (m = find_host(text, p, host, hl)) != NULL; p = m + hl) {
        memcpy(o, p, (size_t)(m - p));
        o += m - p;
        memcpy(o, with, wl);
        o += wl;
    }
    memcpy(o, p, strlen(p) + 1); /* the tail after the last hit */
    return out;
}

/* Reasons name what failed ("cannot resolve cam7.site.lan"): the same hosts go from them. */
static void scrub_hosts(json_t *doc, json_t *hosts)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(doc, tmp, key, v) {
        if (json_is_object(v)) {
            scrub_hosts(v, hosts);
            continue;
        }
        size_t i;
        json_t *h;
        json_array_foreach(hosts, i, h) {
            char *out = json_is_string(v) ? replace_host(json_string_value(v),
                                                         json_string_value(h), "(camera)")
                                          : NULL;
            if (out) {
                json_object_set_new(doc, key, json_string(out));
                v = json_object_get(doc, key);
                free(out);
            }
        }
    }
}

void vg__api_redact_camera(json_t *doc)
{
    json_t *hosts = json_array();
    collect_hosts(doc, hosts);
    static const char *const hidden[] = {"url",      "substream_url", "snapshot_url",
                                         "username", "has_password",  "ptz_address", "owner"};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
        json_object_del(doc, hidden[i]);
    json_t *live = json_object_get(doc, "live");
    if (json_is_object(live))
        json_object_del(live, "url");
    json_t *sub = json_object_get(doc, "substream");
    if (json_is_object(sub))
        json_object_del(sub, "url");
    scrub_hosts(doc, hosts);
    json_decref(hosts);
}

static void job_done(void *arg, int rc, const vg_store_err_t *err)
{
    vg__api_job_t *j = arg;
    vg_conn_t *c = j->conn;
    if (c)
        vg_conn_set_data(c, NULL);
    j->finish(j, c, rc, err);
}

int vg__api_submit(vg_conn_t *c, vg__api_job_t *j, bool is_write, vg_store_run_fn run,
                   vg__api_finish_fn finish)
{
    const vg_api_ctx_t *ctx = j->ctx;
    j->conn = c;
    j->finish = finish;
    vg_api_job_fn submit = is_write ? ctx->write : ctx->read;
    if (submit == NULL || submit(ctx->fleet, run, job_done, j) < 0) {
        vg_store_err_t err = {.status = 503};
        vg_strlcpy(err.code, "unavailable", sizeof(err.code));
        vg_strlcpy(err.message, "too many requests are waiting for the database: retry shortly",
                   sizeof(err.message));
        j->conn = NULL;
        finish(j, c, VG_EFULL, &err);
        return 0;
    }
    vg_conn_set_data(c, j);
    return 0;
}

void vg__api_conn_closed(vg_conn_t *c)
{
    vg__api_job_t *j = vg_conn_data(c);
    if (j)
        j->conn = NULL;
}

bool vg__api_can_see(const vg_api_ctx_t *ctx, vg_conn_t *c, const char *id)
{
    return vg_auth_can_see(ctx->auth, vg_auth_caller(c), id);
}

void vg_api_register(vg_server_t *srv, vg_api_ctx_t *ctx)
{
    vg_server_route(srv, "GET", "/healthz", VG_ACCESS_PUBLIC, &health_ops, ctx);
    vg_server_route(srv, "GET", "/readyz", VG_ACCESS_PUBLIC, &ready_ops, ctx);
    vg_server_route(srv, "GET", "/api/v1/instances", VG_ACCESS_ADMIN, &instances_ops, ctx);
    vg_server_route(srv, "POST", "/api/v1/instances/{}/drain", VG_ACCESS_ADMIN, &drain_ops,
                    ctx);
    ctx->priv = vg__api_records_register(srv, ctx);
    vg__api_streams_register(srv, ctx);
    vg__api_discover_register(srv, ctx);
    vg__api_metrics_register(srv, ctx);
    vg__api_access_register(srv, ctx);
    vg__api_keys_register(srv, ctx);
    vg__api_status_register(srv, ctx);
    vg__api_ptz_register(srv, ctx);
    vg__api_openapi_register(srv, ctx);
}

void vg_api_release(vg_api_ctx_t *ctx)
{
    vg__api_discover_release(ctx);
    free(ctx->priv);
    ctx->priv = NULL;
    vg__api_ptz_release(ctx);
}
