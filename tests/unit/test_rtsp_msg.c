/* rtsp_msg: requests as clients send them (FFmpeg, GStreamer, VLC), pipelined, interleaved
 * with RTCP, cut anywhere, and hostile. */
#include <string.h>

#include "core/err.h"
#include "net/rtsp_msg.h"
#include "vg_test.h"

static vg_rtsp_request_t req;

static vg_rtsp_parsed_t parse(const char *s) { return vg_rtsp_parse((const uint8_t *)s, strlen(s), &req); }

VG_TEST(an_ffmpeg_describe_parses_with_its_headers)
{
    const char *s = "DESCRIBE rtsp://127.0.0.1:8554/cameras/lobby RTSP/1.0\r\n"
                    "Accept: application/sdp\r\n"
                    "CSeq: 2\r\n"
                    "User-Agent: Lavf59.27.100\r\n"
                    "\r\n";
    vg_rtsp_parsed_t r = parse(s);
    EXPECT_EQ(r.kind, VG_RTSP_REQUEST);
    EXPECT_EQ(r.consumed, strlen(s));
    EXPECT_STREQ(req.method, "DESCRIBE");
    EXPECT_STREQ(req.uri, "rtsp://127.0.0.1:8554/cameras/lobby");
    EXPECT_EQ(req.cseq, 2);
    EXPECT_STREQ(vg_rtsp_header(&req, "accept"), "application/sdp");
    EXPECT_STREQ(vg_rtsp_header(&req, "USER-AGENT"), "Lavf59.27.100");
    EXPECT_TRUE(vg_rtsp_header(&req, "Session") == NULL);
    EXPECT_EQ(req.body_len, 0);
}

VG_TEST(every_cut_of_a_request_waits_for_the_rest)
{
    const char *s = "SET_PARAMETER rtsp://h/cameras/a RTSP/1.0\r\nCSeq: 9\r\nSession: 12\r\n"
                    "Content-Length: 5\r\n\r\nhello";
    size_t n = strlen(s);
    for (size_t cut = 0; cut < n; cut++) {
        vg_rtsp_parsed_t r = vg_rtsp_parse((const uint8_t *)s, cut, &req);
        EXPECT_EQ(r.kind, VG_RTSP_NEED_MORE);
    }
    vg_rtsp_parsed_t r = vg_rtsp_parse((const uint8_t *)s, n, &req);
    EXPECT_EQ(r.kind, VG_RTSP_REQUEST);
    EXPECT_EQ(req.body_len, 5);
    EXPECT_TRUE(memcmp(req.body, "hello", 5) == 0);
    EXPECT_EQ(req.cseq, 9);
}

VG_TEST(pipelined_requests_and_interleaved_rtcp_come_apart)
{
    const char two[] = "OPTIONS * RTSP/1.0\nCSeq: 1\n\n"
                       "$\x01\x00\x03xyz"
                       "\r\nGET_PARAMETER rtsp://h/a RTSP/1.0\r\nCSeq: 3\r\n\r\n";
    size_t len = sizeof(two) - 1, off = 0;
    vg_rtsp_parsed_t r = vg_rtsp_parse((const uint8_t *)two, len, &req);
    EXPECT_EQ(r.kind, VG_RTSP_REQUEST);
    EXPECT_STREQ(req.uri, "*");
    off += r.consumed;
    r = vg_rtsp_parse((const uint8_t *)two + off, len - off, &req);
    EXPECT_EQ(r.kind, VG_RTSP_INTERLEAVED);
    EXPECT_EQ(r.channel, 1);
    EXPECT_EQ(r.consumed, 7);
    off += r.consumed;
    r = vg_rtsp_parse((const uint8_t *)two + off, len - off, &req);
    EXPECT_EQ(r.kind, VG_RTSP_REQUEST);
    EXPECT_STREQ(req.method, "GET_PARAMETER");
    EXPECT_EQ(req.cseq, 3);
    EXPECT_EQ(off + r.consumed, len);
}

VG_TEST(garbage_and_oversize_are_refused_with_the_right_status)
{
    EXPECT_EQ(parse("\x16\x03\x01\x02\x00").kind, VG_RTSP_BAD); /* a TLS hello */
    EXPECT_EQ(parse("GET / HTTP/1.1\r\n\r\n").status, 400);
    EXPECT_EQ(parse("OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n").status, 505);
    EXPECT_EQ(parse("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n folded\r\n\r\n").status, 400);
    EXPECT_EQ(parse("OPTIONS * RTSP/1.0\r\nno colon\r\n\r\n").status, 400);
    EXPECT_EQ(parse("OPTIONS  RTSP/1.0\r\n\r\n").status, 400);
    EXPECT_EQ(parse("SET_PARAMETER * RTSP/1.0\r\nContent-Length: 4097\r\n\r\n").status, 413);
    EXPECT_EQ(parse("SET_PARAMETER * RTSP/1.0\r\nContent-Length: -1\r\n\r\n").status, 400);
    EXPECT_EQ(parse("AVERYVERYLONGMETHODNAME * RTSP/1.0\r\n\r\n").kind, VG_RTSP_BAD);
    char big[VG_RTSP_HEAD_MAX + 64];
    memset(big, 'a', sizeof(big));
    memcpy(big, "OPTIONS * RTSP/1.0\r\nX: ", 23);
    vg_rtsp_parsed_t r = vg_rtsp_parse((const uint8_t *)big, sizeof(big), &req);
    EXPECT_EQ(r.kind, VG_RTSP_BAD);
    EXPECT_EQ(r.status, 431);
    /* 33 headers: one too many */
    char many[2048] = "OPTIONS * RTSP/1.0\r\n";
    for (int i = 0; i < VG_RTSP_HEADERS_MAX + 1; i++)
        strcat(many, "X-A: b\r\n");
    strcat(many, "\r\n");
    EXPECT_EQ(parse(many).status, 431);
    /* a missing or bad CSeq is the caller's to refuse: the parser reports it absent */
    EXPECT_EQ(parse("OPTIONS * RTSP/1.0\r\nCSeq: x\r\n\r\n").kind, VG_RTSP_REQUEST);
    EXPECT_EQ(req.cseq, -1);
}

VG_TEST(transports_pick_the_first_vigil_serves)
{
    vg_rtsp_transport_t t;
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP/TCP;unicast;interleaved=0-1", &t), 0);
    EXPECT_TRUE(t.is_tcp);
    EXPECT_EQ(t.channels[0], 0);
    EXPECT_EQ(t.channels[1], 1);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP;unicast;client_port=5000-5001", &t), 0);
    EXPECT_TRUE(!t.is_tcp);
    EXPECT_EQ(t.client_ports[0], 5000);
    EXPECT_EQ(t.client_ports[1], 5001);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP/UDP;unicast;client_port=6000", &t), 0);
    EXPECT_EQ(t.client_ports[1], 6001);
    /* GStreamer offers several; multicast first is skipped */
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP;multicast;port=5000-5001,RTP/AVP/TCP;interleaved=2-3", &t), 0);
    EXPECT_TRUE(t.is_tcp);
    EXPECT_EQ(t.channels[0], 2);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP/TCP;unicast", &t), 0);
    EXPECT_EQ(t.channels[0], -1);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP;multicast", &t), VG_ENOENT);
    EXPECT_EQ(vg_rtsp_transport_parse("RAW/RAW/UDP;unicast;client_port=1-2", &t), VG_ENOENT);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP;unicast", &t), VG_ENOENT);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP/TCP;interleaved=0-1;mode=record", &t), VG_ENOENT);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP;client_port=70000-70001", &t), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP/TCP;interleaved=a-b", &t), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_transport_parse("RTP/AVP/TCP;interleaved=255", &t), VG_EINVAL);
}

VG_TEST(uris_name_a_camera_and_a_track)
{
    vg_rtsp_target_t t;
    EXPECT_EQ(vg_rtsp_target_parse("rtsp://127.0.0.1:8554/cameras/lobby", &t), 0);
    EXPECT_STREQ(t.camera, "lobby");
    EXPECT_STREQ(t.track, "");
    EXPECT_STREQ(t.query, "");
    EXPECT_EQ(vg_rtsp_target_parse("rtsp://h/cameras/lobby/trackID=0?token=a%2Bb", &t), 0);
    EXPECT_STREQ(t.track, "trackID=0");
    EXPECT_STREQ(t.query, "token=a%2Bb");
    EXPECT_EQ(vg_rtsp_target_parse("rtsp://h/gate/", &t), 0);
    EXPECT_STREQ(t.camera, "gate");
    EXPECT_EQ(vg_rtsp_target_parse("rtsps://h:322/cameras/gate/trackID=1", &t), 0);
    EXPECT_STREQ(t.track, "trackID=1");
    EXPECT_EQ(vg_rtsp_target_parse("rtsp://h", &t), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_target_parse("rtsp://h/", &t), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_target_parse("*", &t), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_target_parse("rtsp://h/cameras/a/b", &t), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_target_parse("rtsp://h/cameras/../etc", &t), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_target_parse("rtsp://h/Bad%20Id", &t), VG_EINVAL);
}

VG_TEST(basic_credentials_give_their_password)
{
    char pw[64];
    /* "key:vk_abc" */
    EXPECT_EQ(vg_rtsp_basic_password("Basic a2V5OnZrX2FiYw==", pw, sizeof(pw)), 6);
    EXPECT_STREQ(pw, "vk_abc");
    /* ":x:y" keeps colons after the first */
    EXPECT_EQ(vg_rtsp_basic_password("Basic Ong6eQ==", pw, sizeof(pw)), 3);
    EXPECT_STREQ(pw, "x:y");
    EXPECT_EQ(vg_rtsp_basic_password("Digest username=\"a\"", pw, sizeof(pw)), VG_ENOENT);
    EXPECT_EQ(vg_rtsp_basic_password("Basic !!!", pw, sizeof(pw)), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_basic_password("Basic bm9jb2xvbg==", pw, sizeof(pw)), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_basic_password("Basic a2V5OnZrX2FiYw==", pw, 4), VG_ENOSPC);
}
