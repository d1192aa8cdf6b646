/* auth/policy: what a route's policy word means. The HTTP server stores the word a route was
 * registered with and hands it, unread, to the gate (auth.c's vg_auth_gate); only src/auth/
 * interprets it. Routes are registered with these values by src/api/ and src/outputs/.
 *
 * The low bits are the least role the caller needs; the flags say that params[0] names a
 * camera the caller must be allowed to see (else 404, as if it did not exist), and that a
 * stream token for that camera (?token=) is enough. */
#ifndef VG_AUTH_POLICY_H
#define VG_AUTH_POLICY_H

enum {
    VG_ACCESS_PUBLIC = 0,
    VG_ACCESS_VIEWER = 1,
    VG_ACCESS_OPERATOR = 2,
    VG_ACCESS_ADMIN = 3,
    VG_ACCESS_ROLE_MASK = 0x3,
    VG_ACCESS_CAMERA = 0x10,
    VG_ACCESS_TOKEN = 0x20,
};

#endif
