/* libFuzzer target: what a camera (or anything on the LAN) sends the PTZ drivers — RCP+
 * replies, ONVIF SOAP replies and faults (WS-Discovery has its own target, fuzz_wsdiscovery)
 * — through the parsers
 * the drivers use (libxml2 underneath, never the network). The first byte picks the parser. */
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptz/ptz_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: {
        vg__rcp_reply_t r;
        if (vg__bosch_parse(body, len, &r) == 0 && (r.str_len > sizeof(r.str) ||
                                                    (r.bicom_err >= 0 && r.str_len < 8)))
            abort();
        break;
    }
    case 1: {
        xmlDoc *doc = NULL;
        char err[256];
        xmlNode *n = vg__onvif_response(body, len, "GetStatusResponse", &doc, err, sizeof(err));
        int64_t ms;
        if (n)
            (void)vg__onvif_device_time(n, &ms);
        else if (strlen(err) >= sizeof(err))
            abort();
        xmlFreeDoc(doc);
        break;
    }
    default: {
        char *tok = malloc(len + 1);
        memcpy(tok, body, len);
        tok[len] = '\0';
        int n = vg__onvif_preset_number(tok);
        if (n < 0 || n > VG_PTZ_PRESET_MAX)
            abort();
        free(tok);
        break;
    }
    }
    return 0;
}
