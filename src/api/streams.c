/* streams: GET /api/v1/streams and /api/v1/streams/{id} — each stream's lifecycle state and
 * input, for operators (the URL is shown without credentials). */
#include <libavcodec/avcodec.h>

#include "api/api.h"

static json_t *stream_json(const vg_stream_t *st)
{
    vg_stream_status_t s;
    vg_stream_get_status(st, &s);
    return json_pack("{s:s,s:s,s:s,s:I,s:i,s:s?,s:i,s:i,s:f,s:f,s:i,s:s}", "id",
                     vg_stream_id(st), "state", vg_stream_state_name(s.state), "reason",
                     s.reason, "since_us", (json_int_t)s.since_us, "attempts", (int)s.attempts,
                     "codec", s.codec_id ? avcodec_get_name((enum AVCodecID)s.codec_id) : NULL,
                     "width", s.width, "height", s.height, "input_fps", s.input_fps,
                     "input_kbps", s.input_kbps, "viewers", s.viewers, "url", s.url);
}

static int list_streams(vg_conn_t *c, const char *const *params, void *user)
{
    vg_hub_t *hub = user;
    json_t *arr = json_array();
    for (size_t i = 0; i < vg_hub_count(hub); i++)
        json_array_append_new(arr, stream_json(vg_hub_at(hub, i)));
    return vg_conn_respond_json(c, 200, json_pack("{s:o}", "streams", arr));
}

static int get_stream(vg_conn_t *c, const char *const *params, void *user)
{
    vg_stream_t *st = vg_hub_find(user, params[0]);
    if (st == NULL)
        return vg_conn_error(c, 404, "not_found", "no stream '%s'", params[0]);
    return vg_conn_respond_json(c, 200, stream_json(st));
}

static const vg_handler_ops_t list_ops = {.name = "streams", .on_request = list_streams};
static const vg_handler_ops_t get_ops = {.name = "stream", .on_request = get_stream};

void vg__api_streams_register(vg_server_t *srv, vg_hub_t *hub)
{
    vg_server_route(srv, "GET", "/api/v1/streams", &list_ops, hub);
    vg_server_route(srv, "GET", "/api/v1/streams/{}", &get_ops, hub);
}
