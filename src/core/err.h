/* err: vigil's error codes. Functions return 0 or a negative code: -errno where an errno
 * fits, otherwise one of the VG_E* values below. vg_strerror() gives the text. */
#ifndef VG_CORE_ERR_H
#define VG_CORE_ERR_H

#include <errno.h>

enum {
    VG_EAGAIN = -EAGAIN, /* not now, call again; never a failure */
    VG_ENOMEM = -ENOMEM,
    VG_EINVAL = -EINVAL,
    VG_ENOENT = -ENOENT,
    VG_EBUSY = -EBUSY,
    VG_ENOSPC = -ENOSPC, /* the caller's buffer is too small */
    VG_EBASE = -10000,
    VG_ESTAMP = VG_EBASE - 1,  /* no valid timestamp bar in a picture */
    VG_ECONFIG = VG_EBASE - 2, /* configuration error (message already logged) */
    VG_ECODEC = VG_EBASE - 3,  /* codec open/encode/decode failed */
    VG_EFULL = VG_EBASE - 4,   /* bounded queue full */
    VG_ECLOSED = VG_EBASE - 5, /* queue or object closed */
    VG_EPROTO = VG_EBASE - 6,  /* peer broke the protocol */
    VG_EURL = VG_EBASE - 7,    /* malformed or unsupported URL */
    VG_EUNREACHABLE = VG_EBASE - 8,  /* camera refused, unreachable, or did not answer */
    VG_EUNAUTHORIZED = VG_EBASE - 9, /* camera refused the credentials */
    VG_EUNSUPPORTED = VG_EBASE - 10, /* the camera's video codec is not supported */
    VG_ENOVIDEO = VG_EBASE - 11,     /* the source has no video track */
    VG_ETIMEDOUT = VG_EBASE - 12,    /* the camera stopped answering mid-stream */
    VG_EEOF = VG_EBASE - 13,         /* the source ended */
};

/* Static text for any code this file or errno defines. Any thread. */
const char *vg_strerror(int err);

#endif
