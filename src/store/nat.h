/* nat: the address vigil dials for a camera behind a site's NAT gateway. Pure; any thread. */
#ifndef VG_STORE_NAT_H
#define VG_STORE_NAT_H

#include <jansson.h>
#include <stddef.h>

/* Rewrites url's host and port through a gateway: the mapping whose lan_host and lan_port
 * match the URL's host and port (the scheme's default port when the URL names none: 554 for
 * rtsp, 322 rtsps, 80 http, 443 https) gives the gateway port; the host becomes
 * gateway_host. Scheme, credentials, path and query are kept. Returns 0, VG_ENOENT when no
 * mapping matches ("no gateway mapping"), or VG_EURL for a URL without a host or too long
 * for out. */
int vg_nat_rewrite(const char *url, const char *gateway_host, json_t *mappings, char *out,
                   size_t out_len);

#endif
