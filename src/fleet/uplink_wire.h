/* uplink_wire: what an edge vigil and a central vigil say over the one WebSocket the edge
 * dials out (issue 18, docs/uplink.md). Pure: parsing and framing, no I/O. Any thread.
 *
 *   edge → central, text:   {"type":"hello","site":"north","token":"…",
 *                             "cameras":[{"id":"door","name":"Door"}, …]}
 *   both ways, binary:      [channel: u32 big-endian][kind: u8][payload]
 *                             kind 1 open (central → edge: connect to your RTSP server)
 *                                  2 data (the TCP bytes of the channel)
 *                                  3 close (either side)
 *                                  4 beat (central → edge, channel 0, every 2 s: the link
 *                                    is alive; the edge's own pings wait behind its video
 *                                    on a thin link, this direction does not)
 *
 * A channel is one TCP connection of the central's RTSP client to the edge's RTSP server,
 * carried through the WebSocket: the central never connects to the edge, whose network may
 * have no inbound route at all.
 */
#ifndef VG_FLEET_UPLINK_WIRE_H
#define VG_FLEET_UPLINK_WIRE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum { VG_UPLINK_OPEN = 1, VG_UPLINK_DATA = 2, VG_UPLINK_CLOSE = 3, VG_UPLINK_BEAT = 4 };

#define VG_UPLINK_HEAD 5
/* The most a data frame carries: one read of a channel's socket. */
#define VG_UPLINK_DATA_MAX (64 * 1024)
#define VG_UPLINK_FRAME_MAX (VG_UPLINK_HEAD + VG_UPLINK_DATA_MAX)
/* A hello's text, its cameras and their names at most. */
#define VG_UPLINK_HELLO_MAX (64 * 1024)
#define VG_UPLINK_CAMERAS_MAX 256
/* A site's name: [a-z0-9_-], short enough that "<site>-<camera>" stays an id (63). */
#define VG_UPLINK_SITE_MAX 31
#define VG_UPLINK_TOKEN_MAX 128

typedef struct vg_uplink_frame {
    uint32_t channel;
    int kind;
    const uint8_t *payload; /* into the parsed buffer */
    size_t len;
} vg_uplink_frame_t;

/* 0, or VG_EINVAL for a frame too short, of an unknown kind, or an open or close with a
 * payload. */
int vg_uplink_frame_parse(const uint8_t *buf, size_t len, vg_uplink_frame_t *out);
/* Writes the 5-byte head of a frame. */
void vg_uplink_frame_head(uint8_t out[VG_UPLINK_HEAD], uint32_t channel, int kind);

typedef struct vg_uplink_camera {
    char id[64];
    char name[128];
} vg_uplink_camera_t;

typedef struct vg_uplink_hello {
    char site[VG_UPLINK_SITE_MAX + 1];
    char token[VG_UPLINK_TOKEN_MAX + 1];
    vg_uplink_camera_t cameras[VG_UPLINK_CAMERAS_MAX];
    int camera_count;
} vg_uplink_hello_t;

/* Parses a hello. 0, or VG_EINVAL with why (for the close reason and the log): not JSON, not
 * a hello, a bad site or token, too many cameras, a camera id that is not one, or a
 * "<site>-<camera>" id over 63 characters. */
int vg_uplink_hello_parse(const char *text, size_t len, vg_uplink_hello_t *out, char *why,
                          size_t why_len);
/* The hello an edge sends (new reference). */
json_t *vg_uplink_hello_json(const vg_uplink_hello_t *h);
/* Whether s is a site name or a camera id: 1..max of [a-z0-9_-]. */
int vg_uplink_is_name(const char *s, size_t max);

#endif
