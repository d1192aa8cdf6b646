/* wsdiscovery: finding ONVIF devices with WS-Discovery (2005/04, as ONVIF Core uses it;
 * ../shared/protocols/onvif.md §6).
 *
 * Two halves:
 *   - pure functions: build a Probe, parse a ProbeMatches datagram into a list of devices
 *     (libxml2, no network, no loop), deduplicated by endpoint address. Any thread.
 *   - the probe on the loop: one uv_udp socket sends the Probe to 239.255.255.250:3702 (or a
 *     configured target), collects the unicast answers for a bounded time and calls back
 *     once with the list. It never blocks the loop. Loop thread only.
 */
#ifndef VG_NET_WSDISCOVERY_H
#define VG_NET_WSDISCOVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define VG_WSD_GROUP "239.255.255.250"
#define VG_WSD_PORT 3702
#define VG_WSD_ID_LEN 46              /* "urn:uuid:" + 36 + NUL */
#define VG_WSD_MAX_DATAGRAM 32768     /* a larger answer is ignored (real ones are ~1-2 KB) */
#define VG_WSD_MAX_DEVICES 256        /* answers past this many devices are ignored */
#define VG_WSD_DEFAULT_WAIT_MS 2000
#define VG_WSD_MAX_WAIT_MS 10000

/* "urn:uuid:" and an RFC 4122 version-4 UUID made of the 16 bytes rnd (the version and
 * variant bits are set here). Pure: tests pass fixed bytes. */
void vg_wsd_message_id(char out[VG_WSD_ID_LEN], const unsigned char rnd[16]);
/* The same from libsodium's randombytes_buf (a new MessageID per probe, sheet §6). */
void vg_wsd_new_message_id(char out[VG_WSD_ID_LEN]);
/* Writes the Probe for message_id (Types dn:NetworkVideoTransmitter) into buf, NUL
 * terminated. Returns its length, VG_EINVAL when message_id is not a urn:uuid of ours,
 * VG_ENOSPC when buf is too small (1024 bytes always suffice). */
int vg_wsd_build_probe(const char *message_id, char *buf, size_t len);

/* One device that answered. Every string is owned by the list, NUL terminated, stripped of
 * control characters (they may reach a terminal) and never NULL except name, hardware and
 * location, which are NULL when no scope names them. Lists are space-separated. */
typedef struct vg_wsd_device {
    char *endpoint;  /* EndpointReference/Address, e.g. "urn:uuid:0d2f..." (the dedupe key) */
    char *addresses; /* the IP addresses the answers came from */
    char *xaddrs;    /* device-service URLs, merged over duplicate answers ("" if none) */
    char *types;     /* e.g. "dn:NetworkVideoTransmitter tds:Device" */
    char *scopes;    /* the raw scope URIs */
    char *name;      /* onvif://www.onvif.org/name/X, %-decoded */
    char *hardware;  /* onvif://www.onvif.org/hardware/X (the model), %-decoded */
    char *location;  /* onvif://www.onvif.org/location/X..., %-decoded, ", "-joined */
    bool is_ptz;     /* a onvif://www.onvif.org/type/ptz scope */
} vg_wsd_device_t;

typedef struct vg_wsd_list {
    vg_wsd_device_t *devices; /* read-only: count of them, in order of first answer */
    size_t count;             /* read-only */
    size_t cap;               /* private */
    unsigned answers;         /* read-only: datagrams parsed, ignored ones included */
    unsigned ignored;         /* read-only: malformed, answering another probe, oversized */
} vg_wsd_list_t;

void vg_wsd_list_init(vg_wsd_list_t *l);
void vg_wsd_list_deinit(vg_wsd_list_t *l);
/* Parses one datagram: a SOAP envelope whose RelatesTo is message_id and whose Body holds
 * d:ProbeMatches. Each ProbeMatch with an endpoint address is added to l, or merged into
 * the device with the same endpoint (its XAddrs and from join the existing ones). from is
 * the sender's IP address (may be NULL). Returns how many devices were new (0 for
 * duplicates), or VG_EPROTO (malformed, a DTD, not ProbeMatches), VG_ENOENT (answers
 * another probe) or VG_ENOSPC (larger than VG_WSD_MAX_DATAGRAM); those count in l->ignored.
 * Never reads past len; data need not be NUL terminated. */
int vg_wsd_parse_matches(vg_wsd_list_t *l, const char *message_id, const void *data, size_t len,
                         const char *from);
/* {"devices":[{"endpoint","addresses":[],"xaddrs":[],"types":[],"scopes":[],"name",
 * "hardware","location","ptz"}], "answers", "ignored"} (new reference). */
json_t *vg_wsd_list_json(const vg_wsd_list_t *l);

/* The probe on the loop. */
typedef struct vg_wsd_probe vg_wsd_probe_t;
/* Called once when the wait is over (status 0), with the devices found (borrowed: valid
 * during the call). The probe frees itself after it returns: forget the handle here. */
typedef void (*vg_wsd_done_cb)(int status, const vg_wsd_list_t *found, void *user);

typedef struct vg_wsd_probe_cfg {
    uv_loop_t *loop;
    uint32_t wait_ms;      /* how long to collect answers; 0: 2000; capped at 10000 */
    const char *interface; /* a local IPv4 address to bind and send the multicast from;
                            * NULL: any address, the kernel's route for the group */
    const char *target;    /* "IPv4:port" to send the probe to instead of the group (a
                            * unicast probe, for tests); NULL: 239.255.255.250:3702 */
} vg_wsd_probe_cfg_t;

/* Opens the socket, sends the probe and starts collecting. Returns 0, or < 0 with nothing
 * running and cb never called: VG_EINVAL (interface or target not an IPv4 address[:port]),
 * or the -errno of the socket, bind or send (UV_EADDRNOTAVAIL: interface is not local;
 * UV_ENETUNREACH: no route for the group). On failure the loop must still run once to
 * close the socket. */
int vg_wsd_probe_start(vg_wsd_probe_t **out, const vg_wsd_probe_cfg_t *cfg, vg_wsd_done_cb cb,
                       void *user);
/* Stops a running probe without calling its callback; sets *p to NULL. NULL is fine. */
void vg_wsd_probe_cancel(vg_wsd_probe_t **p);
/* Milliseconds until the probe's wait ends (0 when it is over). */
uint64_t vg_wsd_probe_remaining_ms(const vg_wsd_probe_t *p);

#endif
