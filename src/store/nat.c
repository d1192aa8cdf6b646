/* nat: see nat.h. */
#include "store/nat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int default_port(const char *scheme, size_t len)
{
    static const struct {
        const char *name;
        int port;
    } ports[] = {{"rtsp", 554}, {"rtsps", 322}, {"http", 80}, {"https", 443}};
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        if (strlen(ports[i].name) == len && strncmp(ports[i].name, scheme, len) == 0)
            return ports[i].port;
    }
    return 0;
}

int vg_nat_rewrite(const char *url, const char *gateway_host, json_t *mappings, char *out,
                   size_t out_len)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL)
        return VG_EURL;
    const char *auth = sep + 3;
    const char *auth_end = auth + strcspn(auth, "/?#");
    /* Credentials end at the last '@' of the authority (a password may hold one). */
    const char *host = auth;
    for (const char *p = auth; p < auth_end; p++) {
        if (*p == '@')
            host = p + 1;
    }
    const char *host_end, *port_str = NULL;
    if (*host == '[') { /* IPv6 literal */
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (host_end == NULL)
            return VG_EURL;
        host_end++;
        if (host_end < auth_end && *host_end == ':')
            port_str = host_end + 1;
    } else {
        host_end = memchr(host, ':', (size_t)(auth_end - host));
        if (host_end)
            port_str = host_end + 1;
        else
            host_end = auth_end;
    }
    if (host_end == host)
        return VG_EURL;
    int port = port_str ? atoi(port_str) : default_port(url, (size_t)(sep - url));
    size_t host_len = (size_t)(host_end - host);
    size_t i;
    json_t *m;
    json_array_foreach(mappings, i, m) {
        const char *lan_host = json_string_value(json_object_get(m, "lan_host"));
        json_int_t lan_port = json_integer_value(json_object_get(m, "lan_port"));
        json_int_t gw_port = json_integer_value(json_object_get(m, "port"));
        if (lan_host == NULL || lan_port != port || strlen(lan_host) != host_len ||
            strncmp(lan_host, host, host_len) != 0)
            continue;
        int n = snprintf(out, out_len, "%.*s%s:%lld%s", (int)(host - url), url, gateway_host,
                         (long long)gw_port, auth_end);
        return n < 0 || (size_t)n >= out_len ? VG_EURL : 0;
    }
    return VG_ENOENT;
}
