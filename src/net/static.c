/* static: the dashboard's files, embedded at build time (tools/embed_web.py) or read from
 * --web-root during development. Loop thread, except read_file (uv thread pool).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "net/server_int.h"
#include "net/static.h"

#define WEB_ROOT_FILE_MAX (16 * 1024 * 1024)

/* Browser libraries from npm (web/package.json), served as published: each URL maps to one
 * file of web/node_modules, which holds far more (sources, maps, other builds) than the page
 * needs, so nothing else under node_modules is served. The embedded copy keeps the file's
 * node_modules path (tools/embed_web.py), and the same table finds it. */
static const struct {
    const char *url;
    const char *file;
} vendor_files[] = {
    {"/vendor/hls.light.min.js", "/node_modules/hls.js/dist/hls.light.min.js"},
};

/* A --web-root file read on the uv thread pool, so that a slow disk never stalls the loop.
 * The files are read per request rather than cached at start because --web-root exists for
 * editing the dashboard while vigil runs (the embedded copy serves everyone else). */
typedef struct static_job {
    uv_work_t req;
    vg_conn_t *conn; /* loop: NULL once the connection is gone */
    const char *content_type;
    char file[1024];
    char *data; /* pool thread, then loop */
    size_t len;
    bool is_found;
} static_job_t;

static void read_file(uv_work_t *req) /* pool thread */
{
    static_job_t *job = req->data;
    int fd = open(job->file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_ROOT_FILE_MAX)
        goto out;
    job->data = vg_xmalloc((size_t)st.st_size + 1);
    while (job->len < (size_t)st.st_size) {
        ssize_t n = read(fd, job->data + job->len, (size_t)st.st_size - job->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* shorter than it was: serve what is there */
        job->len += (size_t)n;
    }
    job->is_found = true;
out:
    if (fd >= 0)
        close(fd);
}

static void read_file_done(uv_work_t *req, int status) /* loop */
{
    static_job_t *job = req->data;
    vg_conn_t *c = job->conn;
    if (c != NULL) {
        c->static_job = NULL;
        if (job->is_found && status == 0)
            vg_conn_respond(c, 200, job->content_type, job->data, job->len);
        else
            vg_conn_error(c, 404, "not_found", "no such file");
    }
    free(job->data);
    free(job);
}

void vg__static_detach(vg_conn_t *c)
{
    static_job_t *job = c->static_job;
    if (job != NULL)
        job->conn = NULL;
    c->static_job = NULL;
}

int vg__serve_static(vg_conn_t *c, const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    if (strncmp(path, "/node_modules/", 14) == 0)
        return vg_conn_error(c, 404, "not_found", "no such file");
    for (size_t i = 0; i < sizeof(vendor_files) / sizeof(vendor_files[0]); i++) {
        if (strcmp(path, vendor_files[i].url) == 0) {
            path = vendor_files[i].file;
            break;
        }
    }
    if (c->srv->web_root) {
        static_job_t *job = vg_xcalloc(1, sizeof(*job));
        if (strstr(path, "..") != NULL ||
            snprintf(job->file, sizeof(job->file), "%s%s", c->srv->web_root, path) >=
                (int)sizeof(job->file)) {
            free(job);
            return vg_conn_error(c, 404, "not_found", "no such file");
        }
        job->conn = c;
        job->content_type = vg_static_content_type(path);
        job->req.data = job;
        int rc = uv_queue_work(c->srv->cfg.loop, &job->req, read_file, read_file_done);
        if (rc < 0) {
            free(job);
            return vg_conn_error(c, 503, "unavailable", "cannot read files now");
        }
        c->static_job = job;
        return 0;
    }
    for (size_t i = 0; i < vg_web_asset_count; i++) {
        if (strcmp(vg_web_assets[i].path, path) == 0)
            return vg_conn_respond(c, 200, vg_web_assets[i].content_type,
                                   vg_web_assets[i].data, vg_web_assets[i].len);
    }
    return vg_conn_error(c, 404, "not_found", "no such file");
}

const char *vg_static_content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".png") == 0)
        return "image/png";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}
