/* err: text for vigil's error codes (see err.h). */
#include "core/err.h"

#include <string.h>

const char *vg_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case VG_ESTAMP: return "no valid timestamp in picture";
    case VG_ECONFIG: return "configuration error";
    case VG_ECODEC: return "codec error";
    case VG_EFULL: return "queue full";
    case VG_ECLOSED: return "closed";
    case VG_EPROTO: return "protocol error";
    case VG_EURL: return "malformed or unsupported URL";
    case VG_EUNREACHABLE: return "unreachable";
    case VG_EUNAUTHORIZED: return "unauthorized";
    case VG_EUNSUPPORTED: return "unsupported codec";
    case VG_ENOVIDEO: return "no video track";
    case VG_ETIMEDOUT: return "timed out";
    case VG_EEOF: return "source ended";
    default: break;
    }
    if (err < 0 && err > VG_EBASE)
        return strerror(-err);
    return "unknown error";
}
