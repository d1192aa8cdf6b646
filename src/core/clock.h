/* clock: wall-clock and monotonic time in microseconds. Any thread. */
#ifndef VG_CORE_CLOCK_H
#define VG_CORE_CLOCK_H

#include <stdint.h>

/* Wall clock, µs since the Unix epoch (what capture_us and ingest_us carry). */
int64_t vg_wall_us(void);
/* Monotonic clock, µs since an arbitrary point (for intervals and deadlines). */
int64_t vg_mono_us(void);

#endif
