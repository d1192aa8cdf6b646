/* wsdiscovery: WS-Discovery Probe and ProbeMatches for finding ONVIF devices
 * (../shared/protocols/onvif.md §6, ONVIF Core "Discovery", WS-Discovery 2005/04).
 *
 * Design. Answers come from anyone on the LAN, so a datagram is hostile input: it is
 * size-checked before libxml2 sees it, parsed without network access, entity substitution
 * or a DTD (SOAP 1.2 Part 1 §5: "a SOAP message MUST NOT contain a Document Type
 * Declaration", which also rules out entity expansion attacks), and matched on namespace
 * URIs, never prefixes. An answer must name our Probe in RelatesTo (the sheet's L1 has a
 * TODO for this; without it any late answer to someone else's probe would be listed). What
 * is kept is stripped of control characters, because `vigil discover` prints it on a
 * terminal. Nothing is logged per datagram at INFO: a LAN can be noisy.
 *
 * Threads: the parsing half is pure; the probe (a uv_udp_t and a uv_timer_t) lives on the
 * loop thread.
 */
#include "net/wsdiscovery.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define NS_SOAP12 "http://www.w3.org/2003/05/soap-envelope"
/* Some older stacks answer in SOAP 1.1; the body is the same. [1] */
#define NS_SOAP11 "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_WSA "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_D "http://schemas.xmlsoap.org/ws/2005/04/discovery"
#define SCOPE_PREFIX "onvif://www.onvif.org/"

/* Field bounds: far above what devices send, low enough that a hostile LAN cannot make
 * one answer cost much. A match over a bound is dropped, not truncated. */
#define MAX_ENDPOINT 512
#define MAX_TYPES 1024
#define MAX_SCOPES 4096
#define MAX_XADDRS 2048
#define MAX_ADDRESSES 512

/* ------------------------------------------------------------------------------------ */
/* Probe                                                                                  */

void vg_wsd_message_id(char out[VG_WSD_ID_LEN], const unsigned char rnd[16])
{
    unsigned char b[16];
    memcpy(b, rnd, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 (RFC 4122 §4.4) */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    snprintf(out, VG_WSD_ID_LEN,
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

void vg_wsd_new_message_id(char out[VG_WSD_ID_LEN])
{
    unsigned char rnd[16];
    VG_ASSERT(sodium_init() >= 0); /* idempotent; the CLI may not have called it yet */
    randombytes_buf(rnd, sizeof(rnd));
    vg_wsd_message_id(out, rnd);
}

static bool is_message_id(const char *id)
{
    if (id == NULL || strncmp(id, "urn:uuid:", 9) != 0 || strlen(id) != VG_WSD_ID_LEN - 1)
        return false;
    for (const char *p = id + 9; *p; p++) {
        size_t i = (size_t)(p - id - 9);
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? *p != '-' : !isxdigit((unsigned char)*p))
            return false;
    }
    return true;
}

int vg_wsd_build_probe(const char *message_id, char *buf, size_t len)
{
    if (!is_message_id(message_id))
        return VG_EINVAL;
    /* The sheet's Probe (§6), byte for byte apart from the MessageID. */
    int n = snprintf(buf, len,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<s:Envelope xmlns:s=\"" NS_SOAP12 "\" xmlns:wsa=\"" NS_WSA "\" "
                     "xmlns:d=\"" NS_D "\" "
                     "xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\">"
                     "<s:Header>"
                     "<wsa:MessageID>%s</wsa:MessageID>"
                     "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"
                     "<wsa:Action>" NS_D "/Probe</wsa:Action>"
                     "</s:Header>"
                     "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>"
                     "</s:Body></s:Envelope>",
                     message_id);
    if (n < 0 || (size_t)n >= len)
        return VG_ENOSPC;
    return n;
}

/* ------------------------------------------------------------------------------------ */
/* Text                                                                                   */

/* Copies src (n bytes) into a new string: runs of white space become one space, leading
 * and trailing space go, and control characters (C0, DEL, and C1 as UTF-8 U+0080-U+009F,
 * which some terminals obey) become '?'. */
static char *clean_text(const char *src, size_t n)
{
    char *out = vg_xmalloc(n + 1), *o = out;
    bool pending_space = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            pending_space = o != out;
            continue;
        }
        if (pending_space)
            *o++ = ' ';
        pending_space = false;
        if (c < 0x20 || c == 0x7f) {
            *o++ = '?';
        } else if (c == 0xc2 && i + 1 < n && (unsigned char)src[i + 1] >= 0x80 &&
                   (unsigned char)src[i + 1] <= 0x9f) {
            *o++ = '?';
            i++;
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}


/* A scope's value, %-decoded (RFC 3986 §2.1; ONVIF scopes encode spaces as %20), cleaned. */
static char *scope_value(const char *s, size_t n)
{
    char *dec = vg_xmalloc(n + 1);
    vg_pct_decode(dec, n + 1, s, n); /* never longer than its source */
    char *out = clean_text(dec, strlen(dec));
    free(dec);
    return out;
}

/* Whether the space-separated list holds word. */
static bool list_has(const char *list, const char *word, size_t wn)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ");
        if (n == wn && memcmp(p, word, n) == 0)
            return true;
        p += n;
        p += strspn(p, " ");
    }
    return false;
}

/* Adds the words of more that *list lacks, unless the result would exceed max bytes. */
static void list_merge(char **list, const char *more, size_t max)
{
    for (const char *p = more; *p;) {
        size_t n = strcspn(p, " ");
        if (n > 0 && !list_has(*list, p, n)) {
            size_t have = strlen(*list);
            if (have + 1 + n > max)
                return;
            *list = vg_xrealloc(*list, have + n + 2);
            if (have)
                (*list)[have++] = ' ';
            memcpy(*list + have, p, n);
            (*list)[have + n] = '\0';
        }
        p += n;
        p += strspn(p, " ");
    }
}

/* ------------------------------------------------------------------------------------ */
/* Parsing                                                                                */

static bool is_el(const xmlNode *n, const char *ns, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0 && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(const xmlNode *parent, const char *ns, const char *name)
{
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next) {
        if (is_el(n, ns, name))
            return n;
    }
    return NULL;
}

/* The element's text, cleaned, or NULL when absent or longer than max bytes. */
static char *text_of(const xmlNode *n, size_t max)
{
    if (n == NULL)
        return NULL;
    xmlChar *raw = xmlNodeGetContent(n);
    if (raw == NULL)
        return NULL;
    size_t len = strlen((const char *)raw);
    char *out = len <= max ? clean_text((const char *)raw, len) : NULL;
    xmlFree(raw);
    return out;
}

static void device_free(vg_wsd_device_t *d)
{
    free(d->endpoint);
    free(d->addresses);
    free(d->xaddrs);
    free(d->types);
    free(d->scopes);
    free(d->name);
    free(d->hardware);
    free(d->location);
    memset(d, 0, sizeof(*d));
}

static void read_scopes(vg_wsd_device_t *d)
{
    for (const char *p = d->scopes; *p;) {
        size_t n = strcspn(p, " ");
        size_t pl = strlen(SCOPE_PREFIX);
        /* Scheme and host compare case-insensitively (RFC 3986 §6.2.2.1); the path as
         * written, except the fixed words ONVIF defines. */
        if (n > pl && strncasecmp(p, SCOPE_PREFIX, pl) == 0) {
            const char *v = p + pl;
            size_t vn = n - pl;
            if (d->name == NULL && vn > 5 && strncasecmp(v, "name/", 5) == 0) {
                d->name = scope_value(v + 5, vn - 5);
            } else if (d->hardware == NULL && vn > 9 && strncasecmp(v, "hardware/", 9) == 0) {
                d->hardware = scope_value(v + 9, vn - 9);
            } else if (vn > 9 && strncasecmp(v, "location/", 9) == 0) {
                char *loc = scope_value(v + 9, vn - 9);
                if (d->location == NULL) {
                    d->location = loc;
                } else if (strlen(d->location) + strlen(loc) < MAX_SCOPES) {
                    size_t have = strlen(d->location);
                    d->location = vg_xrealloc(d->location, have + strlen(loc) + 3);
                    memcpy(d->location + have, ", ", 2);
                    memcpy(d->location + have + 2, loc, strlen(loc) + 1);
                    free(loc);
                } else {
                    free(loc);
                }
            } else if (vn == 8 && strncasecmp(v, "type/ptz", 8) == 0) {
                d->is_ptz = true;
            }
        }
        p += n;
        p += strspn(p, " ");
    }
}

/* Fills d from one ProbeMatch; false (d left empty) when it has no usable endpoint or a
 * field is over its bound. */
static bool read_match(const xmlNode *m, vg_wsd_device_t *d, const char *from)
{
    memset(d, 0, sizeof(*d));
    d->endpoint = text_of(child(child(m, NS_WSA, "EndpointReference"), NS_WSA, "Address"),
                          MAX_ENDPOINT);
    const xmlNode *t = child(m, NS_D, "Types"), *s = child(m, NS_D, "Scopes"),
                  *x = child(m, NS_D, "XAddrs");
    d->types = t ? text_of(t, MAX_TYPES) : vg_xstrdup("");
    d->scopes = s ? text_of(s, MAX_SCOPES) : vg_xstrdup("");
    d->xaddrs = x ? text_of(x, MAX_XADDRS) : vg_xstrdup("");
    if (d->endpoint == NULL || d->endpoint[0] == '\0' || d->types == NULL ||
        d->scopes == NULL || d->xaddrs == NULL) {
        device_free(d);
        return false;
    }
    d->addresses = from && from[0] && strlen(from) < MAX_ADDRESSES ? clean_text(from, strlen(from))
                                                                   : vg_xstrdup("");
    read_scopes(d);
    return true;
}

static vg_wsd_device_t *find_device(vg_wsd_list_t *l, const char *endpoint)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->devices[i].endpoint, endpoint) == 0)
            return &l->devices[i];
    }
    return NULL;
}

/* Adds or merges d (taking its strings). 1 when new, 0 when merged or the list is full. */
static int add_device(vg_wsd_list_t *l, vg_wsd_device_t *d)
{
    vg_wsd_device_t *have = find_device(l, d->endpoint);
    if (have) { /* a multi-homed device answers once per interface (sheet §6) */
        list_merge(&have->xaddrs, d->xaddrs, MAX_XADDRS);
        list_merge(&have->addresses, d->addresses, MAX_ADDRESSES);
        device_free(d);
        return 0;
    }
    if (l->count >= VG_WSD_MAX_DEVICES) {
        device_free(d);
        return 0;
    }
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->devices = vg_xrealloc(l->devices, l->cap * sizeof(*l->devices));
    }
    l->devices[l->count++] = *d;
    memset(d, 0, sizeof(*d));
    return 1;
}

void vg_wsd_list_init(vg_wsd_list_t *l)
{
    memset(l, 0, sizeof(*l));
}

void vg_wsd_list_deinit(vg_wsd_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        device_free(&l->devices[i]);
    free(l->devices);
    memset(l, 0, sizeof(*l));
}

static int parse_doc(vg_wsd_list_t *l, const char *message_id, xmlDoc *doc, const char *from)
{
    if (doc->intSubset != NULL || doc->extSubset != NULL)
        return VG_EPROTO; /* no DTD in SOAP (see the top) */
    xmlNode *env = xmlDocGetRootElement(doc);
    const char *soap = NULL;
    if (env && is_el(env, NS_SOAP12, "Envelope"))
        soap = NS_SOAP12;
    else if (env && is_el(env, NS_SOAP11, "Envelope"))
        soap = NS_SOAP11;
    if (soap == NULL)
        return VG_EPROTO;
    xmlNode *matches = child(child(env, soap, "Body"), NS_D, "ProbeMatches");
    if (matches == NULL)
        return VG_EPROTO;
    char *relates = text_of(child(child(env, soap, "Header"), NS_WSA, "RelatesTo"), 128);
    /* UUIDs compare case-insensitively (RFC 4122 §3). */
    bool is_ours = relates && message_id && strcasecmp(relates, message_id) == 0;
    free(relates);
    if (!is_ours)
        return VG_ENOENT;
    int added = 0, usable = 0;
    for (xmlNode *m = matches->children; m; m = m->next) {
        vg_wsd_device_t d;
        if (!is_el(m, NS_D, "ProbeMatch") || !read_match(m, &d, from))
            continue;
        usable++;
        added += add_device(l, &d);
    }
    return usable > 0 ? added : VG_EPROTO;
}

int vg_wsd_parse_matches(vg_wsd_list_t *l, const char *message_id, const void *data, size_t len,
                         const char *from)
{
    l->answers++;
    int rc;
    if (len > VG_WSD_MAX_DATAGRAM) {
        rc = VG_ENOSPC;
        goto out;
    }
    xmlInitParser(); /* idempotent; here so that no caller has to remember it */
    /* No NOENT (entities stay unexpanded), no DTD loading, no network; errors stay quiet
     * (libxml2 would print them on stderr). */
    xmlDoc *doc = xmlReadMemory(data, (int)len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        rc = VG_EPROTO;
        goto out;
    }
    rc = parse_doc(l, message_id, doc, from);
    xmlFreeDoc(doc);
out:
    if (rc < 0)
        l->ignored++;
    return rc;
}

/* A space-separated list as a JSON array of strings. */
static json_t *words_json(const char *list)
{
    json_t *a = json_array();
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ");
        if (n > 0)
            json_array_append_new(a, json_stringn_nocheck(p, n));
        p += n;
        p += strspn(p, " ");
    }
    return a;
}

/* A string as JSON; %-decoded scope values may not be UTF-8 (jansson refuses those), so
 * then every non-ASCII byte becomes '?'. */
static json_t *str_json(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = vg_xstrdup(s);
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    j = json_string(copy);
    free(copy);
    return j;
}

json_t *vg_wsd_list_json(const vg_wsd_list_t *l)
{
    json_t *devs = json_array();
    for (size_t i = 0; i < l->count; i++) {
        const vg_wsd_device_t *d = &l->devices[i];
        /* The XML-sourced lists are UTF-8 from libxml2; words_json's nocheck relies on it. */
        json_array_append_new(
            devs, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "endpoint",
                            str_json(d->endpoint), "addresses", words_json(d->addresses),
                            "xaddrs", words_json(d->xaddrs), "types", words_json(d->types),
                            "scopes", words_json(d->scopes), "name", str_json(d->name),
                            "hardware", str_json(d->hardware), "location",
                            str_json(d->location), "ptz", d->is_ptz));
    }
    return json_pack("{s:o,s:I,s:I}", "devices", devs, "answers", (json_int_t)l->answers,
                     "ignored", (json_int_t)l->ignored);
}

/* ------------------------------------------------------------------------------------ */
/* The probe on the loop                                                                  */

struct vg_wsd_probe {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t timer;
    int open_handles;     /* freed when both are closed */
    bool is_done;         /* the callback ran or the probe was cancelled */
    uint64_t deadline_ms; /* uv_now() at which the wait ends */
    vg_wsd_done_cb cb;
    void *user;
    char message_id[VG_WSD_ID_LEN];
    vg_wsd_list_t found;
    char buf[VG_WSD_MAX_DATAGRAM + 1]; /* one datagram; one byte more spots oversized ones */
};

static void on_closed(uv_handle_t *h)
{
    vg_wsd_probe_t *p = h->data;
    if (--p->open_handles == 0) {
        vg_wsd_list_deinit(&p->found);
        free(p);
    }
}

static void probe_close(vg_wsd_probe_t *p)
{
    p->is_done = true;
    uv_udp_recv_stop(&p->udp);
    uv_close((uv_handle_t *)&p->udp, on_closed);
    uv_close((uv_handle_t *)&p->timer, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    vg_wsd_probe_t *p = h->data;
    *buf = uv_buf_init(p->buf, sizeof(p->buf));
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    vg_wsd_probe_t *p = h->data;
    if (p->is_done || nread == 0)
        return; /* nread 0 with addr NULL: nothing more to read now */
    if (nread < 0) {
        VG_LOG_DEBUG("wsd", "receive: %s", uv_strerror((int)nread));
        return;
    }
    char from[64] = "";
    if (addr && addr->sa_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)addr, from, sizeof(from));
    size_t len = (flags & UV_UDP_PARTIAL) ? VG_WSD_MAX_DATAGRAM + 1 : (size_t)nread;
    int rc = vg_wsd_parse_matches(&p->found, p->message_id, buf->base, len, from);
    if (rc < 0)
        VG_LOG_DEBUG("wsd", "ignored an answer from %s (%zd bytes): %s", from, nread,
                     vg_strerror(rc));
}

static void on_timer(uv_timer_t *t)
{
    vg_wsd_probe_t *p = t->data;
    uv_udp_recv_stop(&p->udp);
    p->is_done = true;
    p->cb(0, &p->found, p->user);
    probe_close(p);
}

/* "a.b.c.d:port" into sa; false if it is not one. */
static bool parse_target(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    long long port;
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    return vg_parse_int(colon + 1, 1, 65535, &port) == 0 && uv_ip4_addr(host, (int)port, sa) == 0;
}

int vg_wsd_probe_start(vg_wsd_probe_t **out, const vg_wsd_probe_cfg_t *cfg, vg_wsd_done_cb cb,
                       void *user)
{
    *out = NULL;
    struct sockaddr_in local, dest;
    if (uv_ip4_addr(cfg->interface ? cfg->interface : "0.0.0.0", 0, &local) != 0)
        return VG_EINVAL;
    if (cfg->target ? !parse_target(cfg->target, &dest)
                    : uv_ip4_addr(VG_WSD_GROUP, VG_WSD_PORT, &dest) != 0)
        return VG_EINVAL;
    vg_wsd_probe_t *p = vg_xcalloc(1, sizeof(*p));
    p->loop = cfg->loop;
    p->cb = cb;
    p->user = user;
    vg_wsd_list_init(&p->found);
    vg_wsd_new_message_id(p->message_id);
    char probe[1024];
    int plen = vg_wsd_build_probe(p->message_id, probe, sizeof(probe));
    VG_ASSERT(plen > 0);

    int rc = uv_udp_init(p->loop, &p->udp);
    if (rc < 0) {
        free(p);
        return rc;
    }
    p->udp.data = p;
    uv_timer_init(p->loop, &p->timer);
    p->timer.data = p;
    p->open_handles = 2;
    const char *step = "bind";
    if ((rc = uv_udp_bind(&p->udp, (const struct sockaddr *)&local, 0)) < 0)
        goto fail;
    /* TTL 1: the probe is for this link (multicast does not cross routers anyway, sheet
     * §6). Loopback on: a device on this very host (a test's fake) hears it too. */
    step = "multicast options";
    if ((rc = uv_udp_set_multicast_ttl(&p->udp, 1)) < 0 ||
        (rc = uv_udp_set_multicast_loop(&p->udp, 1)) < 0)
        goto fail;
    if (cfg->interface && (rc = uv_udp_set_multicast_interface(&p->udp, cfg->interface)) < 0)
        goto fail;
    step = "receive";
    if ((rc = uv_udp_recv_start(&p->udp, on_alloc, on_recv)) < 0)
        goto fail;
    /* One datagram, never blocking: a full socket buffer is an error, not a wait. */
    step = "send";
    uv_buf_t b = uv_buf_init(probe, (unsigned)plen);
    rc = uv_udp_try_send(&p->udp, &b, 1, (const struct sockaddr *)&dest);
    if (rc >= 0 && rc != plen)
        rc = UV_EMSGSIZE;
    if (rc < 0)
        goto fail;
    uint32_t wait_ms = cfg->wait_ms ? cfg->wait_ms : VG_WSD_DEFAULT_WAIT_MS;
    if (wait_ms > VG_WSD_MAX_WAIT_MS)
        wait_ms = VG_WSD_MAX_WAIT_MS;
    p->deadline_ms = uv_now(p->loop) + wait_ms;
    uv_timer_start(&p->timer, on_timer, wait_ms, 0);
    VG_LOG_DEBUG("wsd", "probe %s sent to %s:%d, waiting %u ms", p->message_id,
                 cfg->target ? "target" : VG_WSD_GROUP, ntohs(dest.sin_port), wait_ms);
    *out = p;
    return 0;
fail:
    VG_LOG_DEBUG("wsd", "probe: %s: %s", step, uv_strerror(rc));
    probe_close(p);
    return rc;
}

void vg_wsd_probe_cancel(vg_wsd_probe_t **pp)
{
    vg_wsd_probe_t *p = *pp;
    *pp = NULL;
    if (p == NULL || p->is_done)
        return;
    uv_timer_stop(&p->timer);
    probe_close(p);
}

uint64_t vg_wsd_probe_remaining_ms(const vg_wsd_probe_t *p)
{
    if (p == NULL || p->is_done)
        return 0;
    uint64_t now = uv_now(p->loop);
    return now >= p->deadline_ms ? 0 : p->deadline_ms - now;
}
