/* frame: reference-counted, immutable-once-published media buffers.
 *
 * One encoded JPEG or one compressed access unit is one frame, shared by every viewer that
 * sends it and never copied per viewer. The count is atomic: a frame is typically made on a
 * source or media thread and released by the last viewer on the loop thread.
 *
 *   storage ─┬─ headroom (VG_FRAME_HEADROOM bytes: WebSocket framing + vigil's frame header)
 *            └─ data[0 .. len)   the payload (JPEG, H.264 access unit, ...)
 *
 * Writers may fill data (and the headroom) only while they hold the only reference, i.e.
 * before the frame is handed to anyone else. The one exception is documented in
 * outputs/ws.c: libwebsockets writes identical WebSocket framing into the headroom on the
 * loop thread for each send.
 */
#ifndef VG_CORE_FRAME_H
#define VG_CORE_FRAME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes reserved in front of every owned payload: LWS_PRE (16 in libwebsockets 4.1, checked at
 * build time in outputs/ws.c) plus the 32-byte vigil frame header, rounded up. */
#define VG_FRAME_HEADROOM 64

typedef enum vg_codec {
    VG_CODEC_NONE = 0,
    VG_CODEC_JPEG = 1,
    VG_CODEC_H264 = 2,
    VG_CODEC_H265 = 3,
    VG_CODEC_AAC = 4, /* one raw AAC frame (no ADTS header): an access unit of the audio */
} vg_codec_t;

typedef struct vg_frame_meta {
    vg_codec_t codec;
    bool is_key;
    uint32_t seq;       /* per stream and tier (JPEG) or per stream (packets) */
    int width, height;  /* 0 when unknown (compressed packets) */
    int64_t capture_us; /* wall clock: camera clock when known, else arrival */
    int64_t ingest_us;  /* wall clock: arrival at vigil */
    int tier;           /* tier index for JPEG frames, -1 otherwise */
    bool is_placeholder; /* a rendered "camera offline" card, not a picture from the camera */
    bool is_damaged;     /* a camera's packet with parts lost on the way (decoders conceal) */
} vg_frame_meta_t;

typedef struct vg_frame vg_frame_t;
typedef void (*vg_frame_release_cb)(void *opaque);

struct vg_frame {
    atomic_int refs;      /* any: atomic */
    vg_frame_meta_t meta; /* public: written before publishing, read-only after */
    uint8_t *data;        /* public, read-only: payload start */
    size_t len;           /* public, read-only: payload bytes */
    size_t headroom;      /* public, read-only: writable bytes before data (owned frames) */
    vg_frame_t *derived;  /* loop: another representation of this frame (an MJPEG part),
                             made lazily by an output and released with this frame */
    vg_frame_release_cb release; /* private: for wrapped foreign buffers */
    void *release_opaque;        /* private */
};

/* Allocates a frame with VG_FRAME_HEADROOM bytes of headroom and room for cap payload bytes;
 * len starts at 0. Returns a frame with one reference; aborts when memory runs out. */
vg_frame_t *vg_frame_new(size_t cap);

/* Wraps a foreign buffer (e.g. an AVPacket's data) without copying: release(opaque) runs when
 * the last reference goes. The frame has no headroom. Takes ownership of opaque. */
vg_frame_t *vg_frame_wrap(uint8_t *data, size_t len, vg_frame_release_cb release, void *opaque);

/* Adds a reference; returns f. Any thread. */
static inline vg_frame_t *vg_frame_ref(vg_frame_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

/* Drops a reference and sets *fp to NULL; frees on the last one. Accepts NULL. Any thread. */
void vg_frame_unref(vg_frame_t **fp);

#endif
