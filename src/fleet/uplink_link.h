/* uplink_link: what both ends of an uplink do alike (uplink.h): queue messages for the
 * WebSocket, written one per writable callback, and carry a channel's bytes between its TCP
 * socket and frames. uplink_server.c (the central) and uplink_client.c (the edge) embed
 * these. Loop thread only.
 */
#ifndef VG_FLEET_UPLINK_LINK_H
#define VG_FLEET_UPLINK_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct lws;

/* ---- messages waiting for the WebSocket ---- */

typedef struct vg_uplink_out vg_uplink_out_t;

typedef struct vg_uplink_outq {
    vg_uplink_out_t *head, **tail;
    size_t bytes;     /* of the messages queued */
    bool is_ping_due; /* a ping goes before the next message */
} vg_uplink_outq_t;

void vg_uplink_outq_init(vg_uplink_outq_t *q);
/* Queues one message: head (may be 0 bytes) then data; a text message when is_text. */
void vg_uplink_outq_push(vg_uplink_outq_t *q, bool is_text, const void *head, size_t head_len,
                         const void *data, size_t len);
/* Writes a due ping, else the next message, on wsi (its writable callback). 0, or -1 when
 * libwebsockets refused (the connection is going). */
int vg_uplink_outq_write(vg_uplink_outq_t *q, struct lws *wsi);
/* Whether something is left to write (ask for another writable callback). */
bool vg_uplink_outq_has_more(const vg_uplink_outq_t *q);
void vg_uplink_outq_clear(vg_uplink_outq_t *q);

/* ---- channels ---- */

typedef struct vg_uplink_chan vg_uplink_chan_t;

typedef struct vg_uplink_chan_ops {
    /* Bytes read from the socket (borrowed for the call). */
    void (*on_data)(vg_uplink_chan_t *ch, const void *data, size_t len);
    /* The socket ended, failed, or a write to it failed: the owner closes the channel. */
    void (*on_end)(vg_uplink_chan_t *ch);
    /* The socket's handle is closed (vg_uplink_chan_close): the owner frees ch. */
    void (*on_closed)(vg_uplink_chan_t *ch);
} vg_uplink_chan_ops_t;

/* Embedded first in each end's channel. */
struct vg_uplink_chan {
    const vg_uplink_chan_ops_t *ops;
    uint32_t id;
    uv_tcp_t sock;
    size_t writing; /* bytes in writes not done yet */
    bool is_closing, is_reading;
    vg_uplink_chan_t *next; /* the owner's list */
};

/* Initialises ch's socket handle: with a socket already (is_connecting: options may then be
 * set before the connect), or without (for uv_accept, which refuses a handle that has one). */
void vg_uplink_chan_init(vg_uplink_chan_t *ch, uv_loop_t *loop, const vg_uplink_chan_ops_t *ops,
                         uint32_t id, bool is_connecting);
vg_uplink_chan_t *vg_uplink_chan_find(vg_uplink_chan_t *list, uint32_t id);
void vg_uplink_chan_unlink(vg_uplink_chan_t **list, vg_uplink_chan_t *ch);
/* Starts or stops reading the socket (backpressure). */
void vg_uplink_chan_read(vg_uplink_chan_t *ch, bool on);
/* Writes a copy of data to the socket. 0, or < 0 (the owner closes the channel). */
int vg_uplink_chan_write(vg_uplink_chan_t *ch, const void *data, size_t len);
/* Closes the socket; ops->on_closed follows. Once only. */
void vg_uplink_chan_close(vg_uplink_chan_t *ch);

#endif
