/* ptz/discover: ONVIF WS-Discovery — one Probe for NetworkVideoTransmitters, sent as a UDP
 * datagram to 239.255.255.250:3702 (or to a given address), and the ProbeMatches that come
 * back unicast to the same socket within a bounded wait (../shared/protocols/onvif.md §6).
 * Matches are kept only when their RelatesTo names this probe's MessageID, and deduplicated
 * by EndpointReference/Address. Loop thread only; nothing blocks.
 */
#ifndef VG_PTZ_DISCOVER_H
#define VG_PTZ_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <uv.h>

#define VG_DISCOVER_MAX 256 /* devices kept from one probe */

typedef struct vg_discovered {
    char address[128];  /* EndpointReference/Address, e.g. urn:uuid:... */
    char xaddrs[512];   /* device service URLs, space-separated */
    char types[256];
    char scopes[1024];  /* space-separated */
    char model[64];     /* from the scope onvif://www.onvif.org/hardware/MODEL ("" if none) */
    char name[64];      /* from .../name/NAME, URL-decoded ("" if none) */
    char from[64];      /* the IP the answer came from */
} vg_discovered_t;

typedef struct vg_discover_opts {
    const char *target;    /* "host:port" to send the probe to; NULL: 239.255.255.250:3702 */
    const char *interface; /* IPv4 address of the interface for multicast; NULL: the default */
    unsigned wait_ms;      /* how long answers are collected; 0: 2000; at most 10000 */
} vg_discover_opts_t;

/* found[0..n) borrowed for the call. status 0, or < 0 when the probe could not be sent (no
 * answers then). */
typedef void (*vg_discover_done_cb)(void *user, int status, const vg_discovered_t *found,
                                    size_t n);

/* Sends one probe and calls done once, after the wait. Returns 0, or < 0 at once (bad
 * options; done not called). */
int vg_discover(uv_loop_t *loop, const vg_discover_opts_t *opts, vg_discover_done_cb done,
                void *user);

/* One device as JSON: {"address","xaddrs":[...],"types":[...],"scopes":[...],"model","name",
 * "from"} (new reference). */
json_t *vg_discovered_json(const vg_discovered_t *d);

/* Pure, for tests: the probe for message id (a "urn:uuid:..." string) into a new string. */
char *vg__discover_probe(const char *message_id);
/* Reads a datagram: true with *out filled when it is a ProbeMatch relating to message_id. */
bool vg__discover_parse(const char *buf, size_t len, const char *message_id,
                        vg_discovered_t *out);

#endif
