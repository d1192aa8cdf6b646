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
    VG_EBASE = -10000,
    VG_ESTAMP = VG_EBASE - 1,  /* no valid timestamp bar in a picture */
    VG_ECONFIG = VG_EBASE - 2, /* configuration error (message already logged) */
    VG_ECODEC = VG_EBASE - 3,  /* codec open/encode/decode failed */
    VG_EFULL = VG_EBASE - 4,   /* bounded queue full */
    VG_ECLOSED = VG_EBASE - 5, /* queue or object closed */
    VG_EPROTO = VG_EBASE - 6,  /* peer broke the protocol */
    VG_EURL = VG_EBASE - 7,    /* malformed or unsupported URL */
};

/* Static text for any code this file or errno defines. Any thread. */
const char *vg_strerror(int err);

#endif
