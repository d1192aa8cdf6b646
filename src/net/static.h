/* static: the dashboard's files, embedded at build time by tools/embed_web.py (or read from
 * --web-root during development). */
#ifndef VG_NET_STATIC_H
#define VG_NET_STATIC_H

#include <stddef.h>

typedef struct vg_web_asset {
    const char *path; /* "/index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} vg_web_asset_t;

extern const vg_web_asset_t vg_web_assets[];
extern const size_t vg_web_asset_count;

/* Content type for a file name's extension (application/octet-stream when unknown). */
const char *vg_static_content_type(const char *path);

#endif
