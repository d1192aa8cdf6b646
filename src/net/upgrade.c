/* upgrade: WebSocket upgrades (routed and judged before libwebsockets accepts them),
 * client messages, and close frames. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "net/server_int.h"

int vg__ws_open(vg_server_t *s, struct lws *wsi)
{
    vg__conn_release(wsi); /* none: an upgrade is never a kept-alive request's */
    vg__sock_t *k = vg__sock_of(wsi);
    vg_conn_t *c = k ? k->upgrade : NULL; /* from filter_upgrade */
    if (c) {
        k->upgrade = NULL;
        vg__conn_attach(wsi, c); /* freed at LWS_CALLBACK_CLOSED (or WSI_DESTROY) */
    }
    if (c == NULL || s->is_shutting_down) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)"shutting down", 13);
        return -1;
    }
    c->is_ws = true;
    const route_t *r = c->route = c->ws_route;
    vg__limit_unsent(wsi);
    VG_LOG_DEBUG("http", "peer=%s WebSocket %s", c->peer, c->path);
    return r->ops->on_ws_open(c, (const char *const *)c->params, r->user) < 0 ? -1 : 0;
}

/* Answers a refused WebSocket upgrade with an HTTP status and a JSON error, written at once
 * (libwebsockets gives no later chance: the connection closes when the filter says no).
 * extra_name/extra_value: one more header (NULL: none). */
static void refuse_upgrade(struct lws *wsi, const vg_gate_verdict_t *v, const char *extra_name,
                           const char *extra_value)
{
    json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", v->code ? v->code : "forbidden",
                            "message", v->message);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    int blen = body ? (int)strlen(body) : 0;
    uint8_t buf[LWS_PRE + 1024];
    uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)v->status, "application/json",
                                    (lws_filepos_t)blen, &p, end) ||
        vg__add_security_headers(wsi, &p, end) ||
        (v->www_authenticate &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                     (const unsigned char *)v->www_authenticate,
                                     (int)strlen(v->www_authenticate), &p, end)) ||
        (extra_name && lws_add_http_header_by_name(wsi, (const unsigned char *)extra_name,
                                                   (const unsigned char *)extra_value,
                                                   (int)strlen(extra_value), &p, end)) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                    (const unsigned char *)"close", 5, &p, end) ||
        lws_finalize_http_header(wsi, &p, end) || end - p < blen) {
        free(body);
        return;
    }
    /* libwebsockets 4.1 writes the status line's version from the request's, which it reads
     * only for requests it routes itself (lws_http_action), never for an upgrade: it would
     * say HTTP/1.0, which some clients cannot read. The request was HTTP/1.1 (RFC 6455
     * section 4.1 requires it), and so is the answer. */
    if (memcmp(start, "HTTP/1.0 ", 9) == 0)
        start[7] = '1';
    memcpy(p, body, (size_t)blen);
    p += blen;
    free(body);
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
}

/* Routes a WebSocket upgrade and asks the gate, before libwebsockets accepts it: refused
 * upgrades get an HTTP status (401, 404, 403) as plain requests do, not an accepted socket
 * that closes at once. The connection made here, with its caller, waits on the wsi for
 * vg__ws_open (or is freed with the wsi). */
int vg__ws_filter_upgrade(vg_server_t *s, struct lws *wsi)
{
    /* RFC 6455 section 4.2.2: a version other than 13 gets 426 naming the one we speak
     * (libwebsockets 4.1 would take any). */
    char version[8];
    if (lws_hdr_copy(wsi, version, sizeof(version), WSI_TOKEN_VERSION) <= 0 ||
        strcmp(version, "13") != 0) {
        VG_LOG_DEBUG("http", "WebSocket upgrade refused: Sec-WebSocket-Version is not 13");
        vg_gate_verdict_t v = {.status = 426, .code = "upgrade_required",
                               .message = "only WebSocket version 13 is spoken here"};
        refuse_upgrade(wsi, &v, "sec-websocket-version:", "13");
        return 1;
    }
    vg__sock_t *k = vg__sock_of(wsi);
    if (k == NULL)
        return 1;
    vg_conn_t *c = vg__conn_new(s, wsi);
    bool mismatch;
    const route_t *r = NULL;
    if (lws_hdr_copy(wsi, c->path, sizeof(c->path), WSI_TOKEN_GET_URI) > 0)
        r = vg__find_route(s, "GET", c->path, c->params, &mismatch);
    if (r == NULL || r->ops->on_ws_open == NULL || s->is_shutting_down) {
        VG_LOG_DEBUG("http", "peer=%s WebSocket upgrade refused for %s", c->peer, c->path);
        vg_gate_verdict_t v = {.status = s->is_shutting_down ? 503 : 404,
                               .code = s->is_shutting_down ? "unavailable" : "not_found"};
        snprintf(v.message, sizeof(v.message), "no WebSocket endpoint at %.100s", c->path);
        refuse_upgrade(wsi, &v, NULL, NULL);
        vg__conn_free(c);
        return 1;
    }
    vg_strlcpy(c->method, "GET", sizeof(c->method));
    vg_gate_verdict_t v;
    if (vg__pass_gate(c, r, true, &v) != 0) {
        VG_LOG_DEBUG("http", "peer=%s WebSocket upgrade for %s refused: %d %s", c->peer,
                     c->path, v.status, v.message);
        refuse_upgrade(wsi, &v, NULL, NULL);
        c->route = NULL;
        vg__conn_free(c);
        return 1;
    }
    c->ws_route = r;
    c->route = NULL; /* its handler has not seen it yet */
    k->upgrade = c;
    return 0;
}

/* An upgrade that passed filter_upgrade but never opened: its connection goes with it. */
void vg__ws_drop_pending(struct lws *wsi)
{
    vg__sock_t *k = vg__sock_of(wsi);
    if (k == NULL || k->upgrade == NULL)
        return;
    vg_conn_t *c = k->upgrade;
    k->upgrade = NULL;
    vg__conn_free(c);
}



int vg__ws_receive(vg_conn_t *c, const void *in, size_t len)
{
    struct lws *wsi = c->wsi;
    if (lws_is_first_fragment(wsi)) {
        c->rx_len = 0;
        c->rx_is_binary = lws_frame_is_binary(wsi);
    }
    const vg_handler_ops_t *ops = c->route->ops;
    if (c->rx_is_binary && ops->on_ws_binary == NULL) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                         (unsigned char *)"binary messages are not accepted", 32);
        return -1;
    }
    size_t max = c->rx_is_binary ? ops->max_ws_binary : WS_RX_MAX;
    if (c->rx_len + len + lws_remaining_packet_payload(wsi) > max) {
        static const char text_big[] = "control messages are at most 4096 bytes";
        static const char binary_big[] = "binary message too large";
        const char *why = c->rx_is_binary ? binary_big : text_big;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                         strlen(why));
        return -1;
    }
    if (c->rx_cap < max + 1) { /* grown once to the route's largest */
        free(c->rx);
        c->rx = vg_xmalloc(max + 1);
        c->rx_cap = max + 1;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    c->rx[c->rx_len] = '\0';
    size_t n = c->rx_len;
    c->rx_len = 0;
    if (c->rx_is_binary)
        return ops->on_ws_binary(c, (const uint8_t *)c->rx, n);
    if (ops->on_ws_message)
        return ops->on_ws_message(c, c->rx, n);
    return 0;
}

/* libwebsockets 4.1's own opcode for close frames (LWS_WRITE_CLOSE in its private headers;
 * lws-write.h reserves the value). */
#define WRITE_CLOSE ((enum lws_write_protocol)4)

/* Sends the close frame vg_conn_close() asked for, then waits (at most 2 s) for the peer's
 * reply, as RFC 6455 section 7.1.2 asks. We write the frame ourselves because libwebsockets
 * 4.1 drops the socket without one when a WRITEABLE callback returns -1 after
 * lws_close_reason(), and kills it the same way through its time-out path. */
int vg__ws_send_close(vg_conn_t *c)
{
    if (c->close_sent)
        return 0;
    c->close_sent = true;
    uint8_t buf[LWS_PRE + 2 + sizeof(c->close_reason)];
    size_t n = strlen(c->close_reason);
    buf[LWS_PRE] = (uint8_t)(c->close_status >> 8);
    buf[LWS_PRE + 1] = (uint8_t)c->close_status;
    memcpy(buf + LWS_PRE + 2, c->close_reason, n);
    if (lws_write(c->wsi, buf + LWS_PRE, 2 + n, WRITE_CLOSE) < 0)
        return -1;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, 2);
    return 0;
}
