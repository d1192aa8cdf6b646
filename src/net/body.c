/* body: request bodies, for routes that declare a max_body, and the rule that an answer given
 * before a body is read waits until the body has been read and dropped. Loop thread only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "net/server_int.h"

#define DISCARD_MAX (1024 * 1024)

/* The request's Content-Length (0 when absent or not a number). */
static long long content_length(vg_conn_t *c)
{
    char len_text[24] = "";
    long long n = 0;
    if (lws_hdr_copy(c->wsi, len_text, sizeof(len_text), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
        vg_parse_int(len_text, 0, 1LL << 40, &n) < 0)
        return 0;
    return n;
}

bool vg__has_body(vg_conn_t *c) { return content_length(c) > 0; }

/* Every answer given before the request's body is read goes through here: with a body
 * (up to DISCARD_MAX) it waits until the body has been read and dropped. Under load,
 * answering first left the loop spinning in libwebsockets 4.1's rx-flow service
 * (lws_service_do_ripe_rxflow) and the server hung. */
int vg__refuse_after_body(vg_conn_t *c, const vg_gate_verdict_t *v)
{
    long long n = content_length(c);
    if (n > 0 && n <= DISCARD_MAX) {
        c->route = NULL;
        c->is_discarding_body = true;
        c->discard_left = (size_t)n;
        c->discard_verdict = *v;
        return 0;
    }
    return vg__refuse(c, v);
}

int vg__answer_early(vg_conn_t *c, int status, const char *code, const char *fmt, ...)
{
    vg_gate_verdict_t v = {.status = status, .code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v.message, sizeof(v.message), fmt, ap);
    va_end(ap);
    return vg__refuse_after_body(c, &v);
}

static int run_request(vg_conn_t *c)
{
    const route_t *r = c->route;
    return r->ops->on_request(c, (const char *const *)c->params, r->user) < 0 ? -1 : 0;
}

/* A route that takes a body: the request runs once the whole body is in (lws delivers it in
 * HTTP_BODY pieces and then HTTP_BODY_COMPLETION), or at once when there is none. */
int vg__expect_body(vg_conn_t *c)
{
    char len_text[24] = "";
    size_t max = c->route->ops->max_body;
    if (lws_hdr_copy(c->wsi, len_text, sizeof(len_text), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
        if (lws_hdr_total_length(c->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
            return vg_conn_error(c, 411, "length_required",
                                 "send the body with a Content-Length (at most %zu bytes)", max);
        return run_request(c); /* no body */
    }
    long long n;
    if (vg_parse_int(len_text, 0, 1LL << 40, &n) < 0)
        return vg_conn_error(c, 400, "bad_request", "Content-Length is not a number");
    if ((size_t)n > max) {
        c->route = NULL;
        return vg__answer_early(c, 413, "too_large", "request bodies here are at most %zu bytes",
                            max);
    }
    if (n == 0)
        return run_request(c);
    c->req_body = vg_xmalloc((size_t)n + 1);
    c->req_body[0] = '\0';
    c->req_body_want = (size_t)n;
    c->is_awaiting_body = true;
    return 0;
}

int vg__body_receive(vg_conn_t *c, const void *in, size_t len)
{
    if (c->is_discarding_body) {
        c->discard_left -= len < c->discard_left ? len : c->discard_left;
        return 0;
    }
    if (len == 0) /* lws reports an empty body ("Content-Length: 0") as a piece of nothing */
        return 0;
    if (!c->is_awaiting_body) /* a body without a Content-Length where none is taken */
        return c->resp == RESP_NONE
                   ? vg_conn_error(c, 413, "too_large", "request bodies are not accepted here")
                   : 0;
    if (len > c->req_body_want - c->req_body_len) {
        c->is_awaiting_body = false;
        return vg_conn_error(c, 400, "bad_request", "body longer than its Content-Length");
    }
    memcpy(c->req_body + c->req_body_len, in, len);
    /* A body may carry a password (sign-in). libwebsockets hands it from its own buffers
     * (the service buffer, or a list of chunks it frees without clearing), and does not
     * read them again once delivered: clear them here, so ours is the one copy. */
    explicit_bzero((void *)in, len);
    c->req_body_len += len;
    c->req_body[c->req_body_len] = '\0';
    return 0;
}

int vg__body_complete(vg_conn_t *c)
{
    if (c->is_discarding_body) {
        c->is_discarding_body = false;
        return vg__refuse(c, &c->discard_verdict);
    }
    if (!c->is_awaiting_body)
        return 0;
    c->is_awaiting_body = false;
    return run_request(c);
}
