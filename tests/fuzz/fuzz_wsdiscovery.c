/* libFuzzer target: one WS-Discovery answer (vg_wsd_parse_matches), as any host on the LAN
 * may send it. The first byte picks the MessageID the answer must name, so the fuzzer can
 * reach the matching paths with the seeds' RelatesTo. Checks: the list stays within its
 * bounds, every kept string is present, free of control characters and within the
 * datagram's size, the JSON view builds, and an input parsed twice adds nothing new. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/wsdiscovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, bool may_be_null)
{
    if (s == NULL) {
        if (!may_be_null)
            abort();
        return;
    }
    size_t n = strlen(s);
    if (n > VG_WSD_MAX_DATAGRAM * 3)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ids[] = {"urn:uuid:6f1c2a3e-0000-4000-8000-000000000001",
                                      "urn:uuid:00000000-0000-4000-8000-000000000000"};
    const char *id = ids[size > 0 ? data[0] & 1 : 0];
    const uint8_t *body = size > 0 ? data + 1 : data;
    size_t len = size > 0 ? size - 1 : 0;
    vg_wsd_list_t l;
    vg_wsd_list_init(&l);
    int rc = vg_wsd_parse_matches(&l, id, body, len, "192.0.2.1");
    if ((rc < 0) != (l.ignored == 1) || (rc >= 0 && (size_t)rc != l.count))
        abort();
    if (l.count > VG_WSD_MAX_DEVICES)
        abort();
    for (size_t i = 0; i < l.count; i++) {
        const vg_wsd_device_t *d = &l.devices[i];
        if (d->endpoint[0] == '\0')
            abort();
        check_text(d->endpoint, false);
        check_text(d->addresses, false);
        check_text(d->xaddrs, false);
        check_text(d->types, false);
        check_text(d->scopes, false);
        check_text(d->name, true);
        check_text(d->hardware, true);
        check_text(d->location, true);
    }
    size_t before = l.count;
    int again = vg_wsd_parse_matches(&l, id, body, len, "192.0.2.2");
    if (l.count != before || (rc >= 0 && again != 0))
        abort();
    json_t *j = vg_wsd_list_json(&l);
    if (j == NULL || json_array_size(json_object_get(j, "devices")) != l.count)
        abort();
    json_decref(j);
    vg_wsd_list_deinit(&l);
    return 0;
}
