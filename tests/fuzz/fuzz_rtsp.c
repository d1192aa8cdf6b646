/* libFuzzer target: what an RTSP client sends (vg_rtsp_parse over a byte stream, then each
 * request's Transport header, URI and Authorization). Checks: the parser always moves
 * forward or stops, never takes more than it was given, and a parsed request's strings lie
 * inside its own storage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "net/rtsp_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(const vg_rtsp_request_t *req, const char *s)
{
    if (s && (s < req->storage || s >= req->storage + sizeof(req->storage)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vg_rtsp_request_t req;
    size_t off = 0;
    for (int rounds = 0; off < size && rounds < 1000; rounds++) {
        vg_rtsp_parsed_t r = vg_rtsp_parse(data + off, size - off, &req);
        if (r.consumed > size - off)
            abort();
        if (r.kind == VG_RTSP_BAD) {
            if (r.status < 400 || r.why == NULL)
                abort();
            break;
        }
        if (r.kind == VG_RTSP_NEED_MORE && r.consumed == 0)
            break;
        off += r.consumed;
        if (r.kind != VG_RTSP_REQUEST)
            continue;
        check_inside(&req, req.uri);
        for (int i = 0; i < req.header_count; i++) {
            check_inside(&req, req.names[i]);
            check_inside(&req, req.values[i]);
        }
        vg_rtsp_transport_t t;
        const char *tr = vg_rtsp_header(&req, "Transport");
        if (tr && vg_rtsp_transport_parse(tr, &t) == 0 &&
            (t.is_tcp ? t.channels[0] > 255 : t.client_ports[0] <= 0 || t.client_ports[0] > 65535))
            abort();
        vg_rtsp_target_t target;
        if (vg_rtsp_target_parse(req.uri, &target) == 0) {
            if (!vg_slug_is_valid(target.camera))
                abort();
            char tok[256];
            (void)vg_query_get(target.query, "token", tok, sizeof(tok));
        }
        char pw[300];
        (void)vg_rtsp_basic_password(vg_rtsp_header(&req, "Authorization"), pw, sizeof(pw));
    }
    return 0;
}
