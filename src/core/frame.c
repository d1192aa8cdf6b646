/* frame: see frame.h. Owned frames are a single allocation (header, headroom, payload), so a
 * frame costs one malloc and one free whatever its size. */
#include "core/frame.h"

#include <stdlib.h>

#include "core/util.h"

vg_frame_t *vg_frame_new(size_t cap)
{
    vg_frame_t *f = vg_xmalloc(sizeof(*f) + VG_FRAME_HEADROOM + cap);
    atomic_init(&f->refs, 1);
    f->meta = (vg_frame_meta_t){.tier = -1};
    f->data = (uint8_t *)(f + 1) + VG_FRAME_HEADROOM;
    f->len = 0;
    f->headroom = VG_FRAME_HEADROOM;
    f->derived = NULL;
    f->release = NULL;
    f->release_opaque = NULL;
    return f;
}

vg_frame_t *vg_frame_wrap(uint8_t *data, size_t len, vg_frame_release_cb release, void *opaque)
{
    vg_frame_t *f = vg_xmalloc(sizeof(*f));
    atomic_init(&f->refs, 1);
    f->meta = (vg_frame_meta_t){.tier = -1};
    f->data = data;
    f->len = len;
    f->headroom = 0;
    f->derived = NULL;
    f->release = release;
    f->release_opaque = opaque;
    return f;
}

void vg_frame_unref(vg_frame_t **fp)
{
    vg_frame_t *f = *fp;
    if (f == NULL)
        return;
    *fp = NULL;
    /* acq_rel: the freeing thread must see every write made before other threads let go. */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    vg_frame_unref(&f->derived);
    if (f->release)
        f->release(f->release_opaque);
    free(f);
}
