/* static: the dashboard's files, embedded at build time (tools/embed_web.py) or read from
 * --web-root during development. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "net/server_int.h"
#include "net/static.h"

int vg__serve_static(vg_conn_t *c, const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    if (c->srv->web_root) {
        if (strstr(path, "..") != NULL)
            return vg_conn_error(c, 404, "not_found", "no such file");
        char file[1024];
        snprintf(file, sizeof(file), "%s%s", c->srv->web_root, path);
        FILE *fp = fopen(file, "rb");
        struct stat st;
        if (fp == NULL || fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) ||
            st.st_size > 16 * 1024 * 1024) {
            if (fp)
                fclose(fp);
            return vg_conn_error(c, 404, "not_found", "no such file");
        }
        char *buf = vg_xmalloc((size_t)st.st_size + 1);
        size_t n = fread(buf, 1, (size_t)st.st_size, fp);
        fclose(fp);
        int rc = vg_conn_respond(c, 200, vg_static_content_type(path), buf, n);
        free(buf);
        return rc;
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
