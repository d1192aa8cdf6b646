/* ptz: the driver interface for steering cameras (issue 17). One const ops table per protocol
 * (Bosch RCP+ over CGI, ONVIF PTZ), chosen by the camera record's ptz_driver and addressed by
 * its ptz_address after the site's NAT mapping.
 *
 * A driver only translates: one call, one or a few HTTP exchanges through the shared
 * net/http_client, keyed by camera so that a slow camera holds up nobody else. What sits
 * above the drivers (ptz/ctl.h) owns the policy: commands to one camera
 * serialised and coalesced (a newer move replaces a pending one, a stop is never dropped),
 * the move lease (no refresh for a second: vigil sends stop), the control lock and the audit.
 *
 * Speeds are in -1..1 on every axis: +pan right, +tilt up, +zoom in (tele), 0 stops that
 * axis (ONVIF's generic velocity space; the Bosch driver maps them to BiCom steps 1..15 and
 * 1..7). Presets are numbered 1..256 for the API; a driver maps numbers to what the camera
 * keeps (Bosch objects 0x200 + n - 1; ONVIF device-chosen tokens, matched by name).
 *
 * Loop thread only, every op and every callback; no op blocks. The registry (ptz.c) opens
 * a driver by name; the vg_ptz_* wrappers below call its ops.
 */
#ifndef VG_PTZ_PTZ_H
#define VG_PTZ_PTZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http_client.h"

#define VG_PTZ_PRESET_MAX 256
#define VG_PTZ_NAME_MAX 64 /* tt:Name is at most 64 characters (ONVIF sheet §2) */

typedef struct vg_ptz vg_ptz_t; /* one camera's driver instance; opaque */

typedef struct vg_ptz_cfg {
    const char *camera_id;  /* for logs and the http client's per-camera key */
    const char *address;    /* mapped: Bosch "http://host:port", ONVIF device_service URL */
    const char *user;       /* the camera's sealed credentials, opened for this call; */
    const char *password;   /*   the driver copies what it keeps */
    uint32_t timeout_ms;    /* per camera exchange */
    vg_http_client_t *http; /* shared; borrowed, outlives every vg_ptz_t */
} vg_ptz_cfg_t;

typedef struct vg_ptz_preset {
    int number;                       /* 1..VG_PTZ_PRESET_MAX */
    char name[VG_PTZ_NAME_MAX + 1];   /* "" when the camera keeps no names (Bosch) */
} vg_ptz_preset_t;

typedef struct vg_ptz_status {
    bool has_position; /* false when the camera reports none */
    double pan, tilt;  /* -1..1 (ONVIF generic space; Bosch degrees mapped onto it) */
    double zoom;       /* 0 wide .. 1 tele */
    bool is_moving;
} vg_ptz_status_t;

/* What an op produced, borrowed until the callback returns. */
typedef struct vg_ptz_result {
    const char *error;                /* NULL on success; else a message for the API caller */
    const vg_ptz_status_t *status;    /* status only */
    const vg_ptz_preset_t *presets;   /* list_presets only */
    size_t n_presets;
    const char *device_name;          /* probe only: Bosch camera name, ONVIF model */
} vg_ptz_result_t;

/* The outcome of one op, exactly once unless the instance closed first. status: 0, or
 * VG_EUNAUTHORIZED (credentials refused), VG_EUNREACHABLE, -ETIMEDOUT, VG_EPROTO (a reply
 * the driver could not read, or a protocol error: RCP+ <err>, BiCom error, SOAP fault, the
 * detail in res->error), VG_ENOENT (no such preset), VG_EINVAL. */
typedef void (*vg_ptz_done_cb)(void *user, int status, const vg_ptz_result_t *res);

/* A driver. Every op returns 0 when the request went out (done follows) or a negative code
 * at once (done is then not called). NULL: the protocol has no such operation. */
typedef struct vg_ptz_ops {
    const char *name; /* the camera record's ptz_driver: "bosch", "onvif" */
    int (*open)(vg_ptz_t *ptz, const vg_ptz_cfg_t *cfg);
    void (*close)(vg_ptz_t *ptz); /* cancels what is in flight; no callback after */
    int (*move)(vg_ptz_t *ptz, double pan, double tilt, double zoom, vg_ptz_done_cb done,
                void *user);
    int (*stop)(vg_ptz_t *ptz, vg_ptz_done_cb done, void *user);
    int (*goto_preset)(vg_ptz_t *ptz, int number, vg_ptz_done_cb done, void *user);
    int (*set_preset)(vg_ptz_t *ptz, int number, const char *name, vg_ptz_done_cb done,
                      void *user); /* name may be NULL; ignored where the camera keeps none */
    int (*remove_preset)(vg_ptz_t *ptz, int number, vg_ptz_done_cb done, void *user);
    int (*list_presets)(vg_ptz_t *ptz, vg_ptz_done_cb done, void *user);
    /* Bosch: virtual input n (0x0a8b); ONVIF: relay output n, in GetRelayOutputs order. */
    int (*set_alarm)(vg_ptz_t *ptz, int n, bool is_on, vg_ptz_done_cb done, void *user);
    int (*status)(vg_ptz_t *ptz, vg_ptz_done_cb done, void *user);
    /* Reachability for health: Bosch camera-name read, ONVIF GetDeviceInformation. */
    int (*probe)(vg_ptz_t *ptz, vg_ptz_done_cb done, void *user);
} vg_ptz_ops_t;


/* Opens an instance of the driver named driver ("bosch", "onvif") for one camera. Nothing
 * is sent yet. Returns 0 with *out set, VG_ENOENT (no such driver) or VG_EINVAL (no
 * address). The instance copies what it keeps of cfg. */
int vg_ptz_open(vg_ptz_t **out, const char *driver, const vg_ptz_cfg_t *cfg);
/* Cancels what is in flight (no callback follows) and frees. Accepts NULL; clears *p. */
void vg_ptz_close(vg_ptz_t **p);
const vg_ptz_ops_t *vg_ptz_driver(const vg_ptz_t *p);
/* The driver table by name, or NULL. */
const vg_ptz_ops_t *vg_ptz_find_driver(const char *name);

/* The ops through the instance: 0 (done follows), -ENOTSUP when the driver has no such
 * operation, or the driver's immediate error. */
int vg_ptz_move(vg_ptz_t *p, double pan, double tilt, double zoom, vg_ptz_done_cb done,
                void *user);
int vg_ptz_stop(vg_ptz_t *p, vg_ptz_done_cb done, void *user);
int vg_ptz_goto_preset(vg_ptz_t *p, int number, vg_ptz_done_cb done, void *user);
int vg_ptz_set_preset(vg_ptz_t *p, int number, const char *name, vg_ptz_done_cb done,
                      void *user);
int vg_ptz_remove_preset(vg_ptz_t *p, int number, vg_ptz_done_cb done, void *user);
int vg_ptz_list_presets(vg_ptz_t *p, vg_ptz_done_cb done, void *user);
int vg_ptz_set_alarm(vg_ptz_t *p, int n, bool is_on, vg_ptz_done_cb done, void *user);
int vg_ptz_status(vg_ptz_t *p, vg_ptz_done_cb done, void *user);
int vg_ptz_probe(vg_ptz_t *p, vg_ptz_done_cb done, void *user);

#endif
