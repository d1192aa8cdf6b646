/* ptz/onvif: what the ONVIF driver offers beyond the PTZ ops — the media URIs a device
 * reports, for onboarding (`vigil camera add … onvif=URL`). Loop thread only. */
#ifndef VG_PTZ_ONVIF_H
#define VG_PTZ_ONVIF_H

#include <stdbool.h>

#include "ptz/ptz.h"

typedef struct vg_onvif_media {
    char main_uri[512];     /* GetStreamUri (RTP-Unicast over RTSP) of the first profile */
    char sub_uri[512];      /* ... of the second profile, "" when the device has one only */
    char snapshot_uri[512]; /* GetSnapshotUri of the first profile, "" when none */
    bool has_ptz;           /* a profile carries a PTZConfiguration */
    int profiles;
} vg_onvif_media_t;

/* status 0 with m, or < 0 with error (a message); m borrowed for the call. */
typedef void (*vg_onvif_media_cb)(void *user, int status, const char *error,
                                  const vg_onvif_media_t *m);

/* Asks an ONVIF instance (vg_ptz_open "onvif") for its media URIs: GetProfiles, GetStreamUri
 * for the first two profiles, GetSnapshotUri. 0 (done follows), VG_EINVAL (not an ONVIF
 * instance), or < 0 at once. */
int vg_onvif_media_info(vg_ptz_t *p, vg_onvif_media_cb done, void *user);

#endif
