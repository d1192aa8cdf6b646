/* admit: who gets a place when an instance runs as many camera sources as it may (issue 18,
 * admission control), as a pure function of the sources running now and the newcomer's
 * priority. The hub (hub.c) asks it before it starts a source for a new viewer.
 *
 *   a slot is free ─────────────────────────────→ start
 *   a source lingers with no viewer ────────────→ stop it first (nobody notices), start
 *   a running camera has a lower priority ──────→ displace the lowest, least watched one
 *                                                  (its viewers are told why), start
 *   otherwise ──────────────────────────────────→ refuse (503, Retry-After, the reason)
 *
 * Always-on cameras (recording, analytics) hold their place: they are configured to run,
 * and displacing one would only make it come back. Equal priorities never displace each
 * other, so viewers are not bounced between cameras of the same rank.
 *
 * Pure: no clock, no globals, no I/O. Any thread. Unit tests: tests/unit/test_admit.c.
 */
#ifndef VG_MEDIA_ADMIT_H
#define VG_MEDIA_ADMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vg_admit_source {
    int priority;       /* the camera's priority (higher first; the store's -1000..1000) */
    int viewers;        /* consumers attached; 0: lingering after its last one left */
    bool is_pinned;     /* always-on: holds its place */
    int64_t started_us; /* when it took its place (monotonic) */
} vg_admit_source_t;

#define VG_ADMIT_FREE (-1)   /* a place is free: start */
#define VG_ADMIT_REFUSE (-2) /* no place, and none may be taken */

/* Where a new source of `priority` goes when running[0..n) hold the places and max may run
 * (max <= 0: no cap): VG_ADMIT_FREE, VG_ADMIT_REFUSE, or the index of the source to stop so
 * that it can start. */
int vg_admit_place(const vg_admit_source_t *running, int n, int max, int priority);

#endif
