/* admit: the source cap's choice (admit.h). */
#include "media/admit.h"

/* Whether a is a better one to stop than b: the lower priority, then the fewer viewers,
 * then the one that took its place last (it has served the shortest time). */
static bool is_cheaper(const vg_admit_source_t *a, const vg_admit_source_t *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    if (a->viewers != b->viewers)
        return a->viewers < b->viewers;
    return a->started_us > b->started_us;
}

int vg_admit_place(const vg_admit_source_t *running, int n, int max, int priority)
{
    if (max <= 0 || n < max)
        return VG_ADMIT_FREE;
    int lingering = -1, lower = -1;
    for (int i = 0; i < n; i++) {
        const vg_admit_source_t *s = &running[i];
        if (s->is_pinned)
            continue;
        if (s->viewers == 0 && (lingering < 0 || is_cheaper(s, &running[lingering])))
            lingering = i;
        if (s->priority < priority && (lower < 0 || is_cheaper(s, &running[lower])))
            lower = i;
    }
    if (lingering >= 0)
        return lingering;
    return lower >= 0 ? lower : VG_ADMIT_REFUSE;
}
