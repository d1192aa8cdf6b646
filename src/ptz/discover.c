/* discover: ONVIF WS-Discovery on a libuv UDP socket (discover.h). One probe, one socket: the
 * answers come back unicast to the port the probe left from (onvif.md §6), collected until a
 * timer ends the wait; then both handles close and done runs from the last close callback.
 * Datagrams are parsed with libxml2 (never the network); a malformed one is ignored, as
 * devices ignore malformed probes. Loop thread only.
 */
#include <libxml/parser.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "ptz/discover.h"
#include "ptz/ptz_int.h"

#define NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define NS_WSA "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_D "http://schemas.xmlsoap.org/ws/2005/04/discovery"
#define WSD_GROUP "239.255.255.250"
#define WSD_PORT 3702

typedef struct disc {
    uv_udp_t sock;
    uv_timer_t timer;
    int open_handles;
    char message_id[64];
    vg_discovered_t *found;
    size_t n;
    int status;
    vg_discover_done_cb done;
    void *user;
    char buf[65536];
} disc_t;

#define PROBE_HEAD                                                                            \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"                                              \
    "<s:Envelope xmlns:s=\"" NS_SOAP "\" xmlns:wsa=\"" NS_WSA "\" xmlns:d=\"" NS_D "\" "       \
    "xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\"><s:Header><wsa:MessageID>"
#define PROBE_TAIL                                                                            \
    "</wsa:MessageID><wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"             \
    "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>"           \
    "</s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>"      \
    "</s:Body></s:Envelope>"

char *vg__discover_probe(const char *message_id)
{
    size_t n = sizeof(PROBE_HEAD) + strlen(message_id) + sizeof(PROBE_TAIL);
    char *out = vg_xmalloc(n);
    snprintf(out, n, "%s%s%s", PROBE_HEAD, message_id, PROBE_TAIL);
    return out;
}

/* The value of the first scope starting with prefix, %-decoded, into out. */
static void scope_value(const char *scopes, const char *prefix, char *out, size_t len)
{
    out[0] = '\0';
    size_t pl = strlen(prefix);
    for (const char *p = scopes; *p;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w > pl && strncmp(p, prefix, pl) == 0) {
            size_t o = 0;
            for (size_t i = pl; i < w && o + 1 < len; i++) {
                unsigned v;
                if (p[i] == '%' && i + 2 < w && sscanf(p + i + 1, "%2x", &v) == 1) {
                    out[o++] = (char)v;
                    i += 2;
                } else {
                    out[o++] = p[i];
                }
            }
            out[o] = '\0';
            return;
        }
        p += w;
    }
}

bool vg__discover_parse(const char *buf, size_t len, const char *message_id,
                        vg_discovered_t *out)
{
    memset(out, 0, sizeof(*out));
    xmlDoc *doc = vg__xml_parse(buf, len);
    xmlNode *env = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNode *hdr = vg__xml_child(env, NS_SOAP, "Header");
    xmlNode *match = vg__xml_child(vg__xml_child(vg__xml_child(env, NS_SOAP, "Body"), NS_D,
                                                 "ProbeMatches"),
                                   NS_D, "ProbeMatch");
    char relates[64];
    vg__xml_text(vg__xml_child(hdr, NS_WSA, "RelatesTo"), relates, sizeof(relates));
    bool ok = match != NULL && strcmp(relates, message_id) == 0;
    if (ok) {
        vg__xml_text(vg__xml_child(vg__xml_child(match, NS_WSA, "EndpointReference"), NS_WSA,
                                   "Address"),
                     out->address, sizeof(out->address));
        vg__xml_text(vg__xml_child(match, NS_D, "XAddrs"), out->xaddrs, sizeof(out->xaddrs));
        vg__xml_text(vg__xml_child(match, NS_D, "Types"), out->types, sizeof(out->types));
        vg__xml_text(vg__xml_child(match, NS_D, "Scopes"), out->scopes, sizeof(out->scopes));
        scope_value(out->scopes, "onvif://www.onvif.org/hardware/", out->model,
                    sizeof(out->model));
        scope_value(out->scopes, "onvif://www.onvif.org/name/", out->name, sizeof(out->name));
        ok = out->address[0] != '\0' || out->xaddrs[0] != '\0';
    }
    xmlFreeDoc(doc);
    return ok;
}

static json_t *words(const char *s)
{
    json_t *arr = json_array();
    for (const char *p = s; *p;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w > 0)
            json_array_append_new(arr, json_stringn(p, w));
        p += w;
    }
    return arr;
}

json_t *vg_discovered_json(const vg_discovered_t *d)
{
    return json_pack("{s:s,s:o,s:o,s:o,s:s,s:s,s:s}", "address", d->address, "xaddrs",
                     words(d->xaddrs), "types", words(d->types), "scopes", words(d->scopes),
                     "model", d->model, "name", d->name, "from", d->from);
}

static void on_closed(uv_handle_t *h)
{
    disc_t *d = h->data;
    if (--d->open_handles > 0)
        return;
    d->done(d->user, d->status, d->found, d->n);
    free(d->found);
    free(d);
}

static void finish(disc_t *d)
{
    uv_udp_recv_stop(&d->sock);
    uv_close((uv_handle_t *)&d->sock, on_closed);
    uv_close((uv_handle_t *)&d->timer, on_closed);
}

static void on_timer(uv_timer_t *t)
{
    finish(t->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    disc_t *d = h->data;
    *buf = uv_buf_init(d->buf, sizeof(d->buf));
}

static void on_recv(uv_udp_t *s, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    disc_t *d = s->data;
    vg_discovered_t one;
    if (nread <= 0 || from == NULL || d->n == VG_DISCOVER_MAX ||
        !vg__discover_parse(buf->base, (size_t)nread, d->message_id, &one))
        return;
    if (from->sa_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)from, one.from, sizeof(one.from));
    for (size_t i = 0; i < d->n; i++) { /* multi-homed devices answer once per address */
        if (strcmp(d->found[i].address, one.address) == 0)
            return;
    }
    d->found = vg_xrealloc(d->found, (d->n + 1) * sizeof(*d->found));
    d->found[d->n++] = one;
}

/* The probe's bytes live with the send request: libuv needs them until on_sent. */
typedef struct probe_send {
    uv_udp_send_t req;
    char *probe;
} probe_send_t;

static void on_sent(uv_udp_send_t *req, int status)
{
    disc_t *d = req->data;
    probe_send_t *ps = (probe_send_t *)req;
    free(ps->probe);
    free(ps);
    if (status < 0) {
        d->status = VG_EUNREACHABLE;
        VG_LOG_WARN("discover", "probe not sent: %s", uv_strerror(status));
    }
}

int vg_discover(uv_loop_t *loop, const vg_discover_opts_t *opts, vg_discover_done_cb done,
                void *user)
{
    char host[64] = WSD_GROUP;
    int port = WSD_PORT;
    if (opts->target) {
        const char *colon = strrchr(opts->target, ':');
        long long p;
        if (colon == NULL || (size_t)(colon - opts->target) >= sizeof(host) ||
            vg_parse_int(colon + 1, 1, 65535, &p) < 0)
            return VG_EINVAL;
        memcpy(host, opts->target, (size_t)(colon - opts->target));
        host[colon - opts->target] = '\0';
        port = (int)p;
    }
    struct sockaddr_in to, any;
    if (uv_ip4_addr(host, port, &to) < 0 || uv_ip4_addr("0.0.0.0", 0, &any) < 0)
        return VG_EINVAL;
    unsigned wait_ms = opts->wait_ms ? opts->wait_ms : 2000;
    if (wait_ms > 10000)
        return VG_EINVAL;
    xmlInitParser();
    disc_t *d = vg_xcalloc(1, sizeof(*d));
    d->done = done;
    d->user = user;
    uint8_t r[16];
    randombytes_buf(r, sizeof(r));
    r[6] = (uint8_t)((r[6] & 0x0F) | 0x40); /* a version 4 UUID */
    r[8] = (uint8_t)((r[8] & 0x3F) | 0x80);
    snprintf(d->message_id, sizeof(d->message_id),
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
    uv_udp_init(loop, &d->sock);
    uv_timer_init(loop, &d->timer);
    d->sock.data = d->timer.data = d;
    d->open_handles = 2;
    int rc = uv_udp_bind(&d->sock, (const struct sockaddr *)&any, 0);
    if (rc == 0 && opts->interface)
        rc = uv_udp_set_multicast_interface(&d->sock, opts->interface);
    if (rc == 0)
        rc = uv_udp_set_multicast_ttl(&d->sock, 1); /* the LAN only */
    if (rc == 0)
        rc = uv_udp_recv_start(&d->sock, on_alloc, on_recv);
    probe_send_t *ps = vg_xmalloc(sizeof(*ps));
    ps->probe = vg__discover_probe(d->message_id);
    ps->req.data = d;
    uv_buf_t b = uv_buf_init(ps->probe, (unsigned)strlen(ps->probe));
    if (rc == 0)
        rc = uv_udp_send(&ps->req, &d->sock, &b, 1, (const struct sockaddr *)&to, on_sent);
    if (rc < 0) {
        free(ps->probe);
        free(ps);
        VG_LOG_WARN("discover", "cannot send the probe to %s:%d: %s", host, port,
                    uv_strerror(rc));
        d->status = VG_EUNREACHABLE;
        finish(d);
        return 0;
    }
    uv_timer_start(&d->timer, on_timer, wait_ms, 0);
    return 0;
}
