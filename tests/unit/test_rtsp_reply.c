/* rtsp_reply: what vigil's RTSP client reads from a camera. Replies as GStreamer's
 * rtsp-server and IP cameras send them, cut anywhere, back to back with interleaved frames,
 * and hostile; their challenges and vigil's answers (RFC 2617 §3.5 values); the SDP of a
 * DESCRIBE, its fmtp parameters and the control URLs to SETUP. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "net/rtsp_reply.h"
#include "vg_test.h"

static vg_rtsp_reply_t rep; /* 40 KiB: off the stack */

static vg_rtsp_reply_parsed_t parse_n(const char *s, size_t n)
{
    return vg_rtsp_reply_parse((const uint8_t *)s, n, &rep);
}

static vg_rtsp_reply_parsed_t parse(const char *s) { return parse_n(s, strlen(s)); }

/* The SDP gst-rtsp-server (test-launch with x264enc ! rtph264pay and avenc_aac !
 * rtpmp4gpay) gives for a DESCRIBE. */
static const char gst_sdp[] =
    "v=0\r\n"
    "o=- 1188340656180883 1 IN IP4 127.0.0.1\r\n"
    "s=Session streamed with GStreamer\r\n"
    "i=rtsp-server\r\n"
    "t=0 0\r\n"
    "a=tool:GStreamer\r\n"
    "a=type:broadcast\r\n"
    "a=range:npt=now-\r\n"
    "a=control:rtsp://127.0.0.1:8554/test\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:2000\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=framerate:30\r\n"
    "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QAKKzZQHgCJ+XAWoCAgKAAAAMAIAAAB5HjBjLA,"
    "aOvjyyLA;profile-level-id=640028;level-asymmetry-allowed=1\r\n"
    "a=control:stream=0\r\n"
    "a=ts-refclk:local\r\n"
    "a=mediaclk:sender\r\n"
    "m=audio 0 RTP/AVP 97\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:128\r\n"
    "a=rtpmap:97 MPEG4-GENERIC/48000/2\r\n"
    "a=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1190;sizelength=13;"
    "indexlength=3;indexdeltalength=3\r\n"
    "a=control:stream=1\r\n"
    "a=ts-refclk:local\r\n"
    "a=mediaclk:sender\r\n";

/* The whole DESCRIBE reply around gst_sdp; its length. */
static size_t gst_describe(char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "RTSP/1.0 200 OK\r\n"
                     "CSeq: 3\r\n"
                     "Content-Type: application/sdp\r\n"
                     "Content-Base: rtsp://127.0.0.1:8554/test/\r\n"
                     "Server: GStreamer RTSP server\r\n"
                     "Date: Sat, 06 Dec 2025 02:47:11 GMT\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n"
                     "%s",
                     strlen(gst_sdp), gst_sdp);
    EXPECT_TRUE(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

VG_TEST(a_gstreamer_describe_reply_parses_with_its_headers_and_sdp)
{
    char s[4096];
    size_t n = gst_describe(s, sizeof(s));
    vg_rtsp_reply_parsed_t p = parse_n(s, n);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(p.consumed, n);
    EXPECT_EQ(rep.status, 200);
    EXPECT_EQ(rep.cseq, 3);
    EXPECT_EQ(rep.header_count, 6);
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "content-base", NULL), "rtsp://127.0.0.1:8554/test/");
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "CONTENT-TYPE", NULL), "application/sdp");
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "Server", NULL), "GStreamer RTSP server");
    /* a value keeps its colons and inner spaces */
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "Date", NULL), "Sat, 06 Dec 2025 02:47:11 GMT");
    EXPECT_TRUE(vg_rtsp_reply_header(&rep, "Session", NULL) == NULL);
    EXPECT_EQ(rep.body_len, strlen(gst_sdp));
    EXPECT_STREQ(rep.body, gst_sdp);

    static vg_sdp_t sdp;
    EXPECT_EQ(vg_sdp_parse(rep.body, rep.body_len, &sdp), 0);
    EXPECT_STREQ(sdp.control, "rtsp://127.0.0.1:8554/test");
    EXPECT_EQ(sdp.media_count, 2);
    const vg_sdp_media_t *v = &sdp.media[0], *a = &sdp.media[1];
    EXPECT_TRUE(v->is_video && !v->is_audio);
    EXPECT_EQ(v->payload_type, 96);
    EXPECT_STREQ(v->encoding, "H264");
    EXPECT_EQ(v->clock_rate, 90000);
    EXPECT_EQ(v->channels, 1);
    EXPECT_STREQ(v->control, "stream=0");
    EXPECT_STREQ(v->fmtp, "packetization-mode=1;sprop-parameter-sets=Z2QAKKzZQHgCJ+XAWoCAgKAAAAMA"
                          "IAAAB5HjBjLA,aOvjyyLA;profile-level-id=640028;level-asymmetry-allowed=1");
    EXPECT_TRUE(a->is_audio && !a->is_video);
    EXPECT_EQ(a->payload_type, 97);
    EXPECT_STREQ(a->encoding, "MPEG4-GENERIC"); /* as sent */
    EXPECT_EQ(a->clock_rate, 48000);
    EXPECT_EQ(a->channels, 2);
    EXPECT_STREQ(a->control, "stream=1");

    char val[256];
    EXPECT_EQ(vg_sdp_fmtp_get(v->fmtp, "sprop-parameter-sets", val, sizeof(val)), 49);
    EXPECT_STREQ(val, "Z2QAKKzZQHgCJ+XAWoCAgKAAAAMAIAAAB5HjBjLA,aOvjyyLA");
    EXPECT_EQ(vg_sdp_fmtp_get(v->fmtp, "packetization-mode", val, sizeof(val)), 1);
    EXPECT_STREQ(val, "1");
    EXPECT_EQ(vg_sdp_fmtp_get(a->fmtp, "config", val, sizeof(val)), 4);
    EXPECT_STREQ(val, "1190");
    EXPECT_EQ(vg_sdp_fmtp_get(a->fmtp, "sizelength", val, sizeof(val)), 2);
    EXPECT_STREQ(val, "13");
    EXPECT_EQ(vg_sdp_fmtp_get(a->fmtp, "indexlength", val, sizeof(val)), 1);
    EXPECT_STREQ(val, "3");
    EXPECT_EQ(vg_sdp_fmtp_get(a->fmtp, "indexdeltalength", val, sizeof(val)), 1);
    EXPECT_EQ(vg_sdp_fmtp_get(a->fmtp, "mode", val, sizeof(val)), 7);
    EXPECT_STREQ(val, "AAC-hbr");

    /* SETUP URLs: the media's control joined to Content-Base */
    const char *base = vg_rtsp_reply_header(&rep, "Content-Base", NULL);
    char url[512];
    EXPECT_EQ(vg_rtsp_control_url(base, v->control, url, sizeof(url)), 35);
    EXPECT_STREQ(url, "rtsp://127.0.0.1:8554/test/stream=0");
    EXPECT_EQ(vg_rtsp_control_url(base, a->control, url, sizeof(url)), 35);
    EXPECT_STREQ(url, "rtsp://127.0.0.1:8554/test/stream=1");
    /* the session's control is absolute: itself (the aggregate PLAY URL) */
    EXPECT_EQ(vg_rtsp_control_url(base, sdp.control, url, sizeof(url)), 26);
    EXPECT_STREQ(url, "rtsp://127.0.0.1:8554/test");
}

VG_TEST(a_reply_arriving_byte_by_byte_waits_until_whole)
{
    char s[4096];
    size_t n = gst_describe(s, sizeof(s));
    for (size_t cut = 0; cut < n; cut++) {
        vg_rtsp_reply_parsed_t p = parse_n(s, cut);
        EXPECT_EQ(p.kind, VG_RTSPR_NEED_MORE);
        EXPECT_EQ(p.consumed, 0);
        if (p.kind != VG_RTSPR_NEED_MORE) {
            fprintf(stderr, "  at cut %zu of %zu\n", cut, n);
            break;
        }
    }
    vg_rtsp_reply_parsed_t p = parse_n(s, n);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(p.consumed, n);
    EXPECT_EQ(rep.body_len, strlen(gst_sdp));
    EXPECT_TRUE(memcmp(rep.body, gst_sdp, rep.body_len) == 0);
    EXPECT_EQ(rep.body[rep.body_len], '\0');
}

VG_TEST(a_setup_reply_gives_its_transport_and_session)
{
    const char *s = "RTSP/1.0 200 OK\r\n"
                    "CSeq: 4\r\n"
                    "Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=5C4DDA6B;mode=\"PLAY\"\r\n"
                    "Server: GStreamer RTSP server\r\n"
                    "Session: iJpVnIHN1MZMAkTm;timeout=60\r\n"
                    "Date: Sat, 06 Dec 2025 02:47:11 GMT\r\n"
                    "\r\n";
    vg_rtsp_reply_parsed_t p = parse(s);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(p.consumed, strlen(s));
    EXPECT_EQ(rep.cseq, 4);
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "session", NULL), "iJpVnIHN1MZMAkTm;timeout=60");
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "Transport", NULL),
                 "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=5C4DDA6B;mode=\"PLAY\"");
    EXPECT_EQ(rep.body_len, 0);
    EXPECT_STREQ(rep.body, "");
}

VG_TEST(interleaved_frames_give_channel_and_length_and_wait_when_cut)
{
    const char f[] = "$\x01\x00\x05hello";
    size_t n = sizeof(f) - 1;
    for (size_t cut = 0; cut < n; cut++) {
        vg_rtsp_reply_parsed_t p = parse_n(f, cut);
        EXPECT_EQ(p.kind, VG_RTSPR_NEED_MORE);
        EXPECT_EQ(p.consumed, 0);
    }
    vg_rtsp_reply_parsed_t p = parse_n(f, n);
    EXPECT_EQ(p.kind, VG_RTSPR_INTERLEAVED);
    EXPECT_EQ(p.channel, 1);
    EXPECT_EQ(p.frame_len, 5);
    EXPECT_EQ(p.consumed, 9);
    /* an empty frame is whole with its header */
    p = parse_n("$\x00\x00\x00", 4);
    EXPECT_EQ(p.kind, VG_RTSPR_INTERLEAVED);
    EXPECT_EQ(p.channel, 0);
    EXPECT_EQ(p.frame_len, 0);
    EXPECT_EQ(p.consumed, 4);
    /* the largest: channel 255, 65535 bytes, the length big-endian */
    static char big[4 + 65535 + 10];
    memset(big, 0x80, sizeof(big));
    memcpy(big, "$\xff\xff\xff", 4);
    p = parse_n(big, 4 + 65534);
    EXPECT_EQ(p.kind, VG_RTSPR_NEED_MORE);
    p = parse_n(big, sizeof(big));
    EXPECT_EQ(p.kind, VG_RTSPR_INTERLEAVED);
    EXPECT_EQ(p.channel, 255);
    EXPECT_EQ(p.frame_len, 65535);
    EXPECT_EQ(p.consumed, 4 + 65535);
    p = parse_n("$\x02\x01\x00", 4); /* 256 bytes announced */
    EXPECT_EQ(p.kind, VG_RTSPR_NEED_MORE);
}

VG_TEST(messages_back_to_back_come_apart)
{
    /* a keep-alive reply, RTP and RTCP frames, a stray line end, another reply with a body */
    const char s[] = "RTSP/1.0 200 OK\r\nCSeq: 7\r\nSession: 1234\r\n\r\n"
                     "$\x00\x00\x04\x80\x60\x00\x01"
                     "$\x01\x00\x02\x81\xc8"
                     "\r\n"
                     "RTSP/1.0 200 OK\r\nCSeq: 8\r\nContent-Length: 3\r\n\r\nabc"
                     "RTSP/1.0 2";
    size_t len = sizeof(s) - 1, off = 0;
    vg_rtsp_reply_parsed_t p = parse_n(s, len);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(rep.cseq, 7);
    EXPECT_EQ(p.consumed, 43);
    off += p.consumed;
    p = parse_n(s + off, len - off);
    EXPECT_EQ(p.kind, VG_RTSPR_INTERLEAVED);
    EXPECT_EQ(p.channel, 0);
    EXPECT_EQ(p.frame_len, 4);
    EXPECT_TRUE(memcmp(s + off + 4, "\x80\x60\x00\x01", 4) == 0);
    off += p.consumed;
    p = parse_n(s + off, len - off);
    EXPECT_EQ(p.kind, VG_RTSPR_INTERLEAVED);
    EXPECT_EQ(p.channel, 1);
    EXPECT_EQ(p.frame_len, 2);
    off += p.consumed;
    for (int i = 0; i < 2; i++) { /* \r, then \n: one byte each, not yet a message */
        p = parse_n(s + off, len - off);
        EXPECT_EQ(p.kind, VG_RTSPR_NEED_MORE);
        EXPECT_EQ(p.consumed, 1);
        off += p.consumed;
    }
    p = parse_n(s + off, len - off);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(rep.cseq, 8);
    EXPECT_EQ(rep.body_len, 3);
    EXPECT_STREQ(rep.body, "abc");
    off += p.consumed;
    /* what is left is the start of a third */
    EXPECT_EQ(len - off, 10);
    p = parse_n(s + off, len - off);
    EXPECT_EQ(p.kind, VG_RTSPR_NEED_MORE);
    EXPECT_EQ(p.consumed, 0);
}

VG_TEST(bare_lf_line_ends_are_taken)
{
    const char *s = "RTSP/1.0 200 OK\nCSeq: 2\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\n"
                    "Content-Length: 4\n\nv=0\nnext";
    vg_rtsp_reply_parsed_t p = parse(s);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(p.consumed, strlen(s) - 4);
    EXPECT_EQ(rep.status, 200);
    EXPECT_EQ(rep.cseq, 2);
    EXPECT_EQ(rep.header_count, 3);
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "Public", NULL),
                 "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN");
    EXPECT_EQ(rep.body_len, 4);
    EXPECT_STREQ(rep.body, "v=0\n");
    /* the blank line as \n\r\n (a camera that ends its headers with LF but the head with
     * CRLF) */
    const char *mixed = "RTSP/1.0 404 Not Found\nCSeq: 5\n\r\n";
    p = parse(mixed);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(p.consumed, strlen(mixed));
    EXPECT_EQ(rep.status, 404);
    EXPECT_EQ(rep.cseq, 5);
    /* headers padded with spaces and tabs are trimmed; CSeq that is not a number is absent */
    p = parse("RTSP/1.0 200 OK\r\ncseq :\t 11 \t\r\nX-Empty:\r\n\r\n");
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(rep.cseq, 11);
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "X-Empty", NULL), "");
    p = parse("RTSP/1.0 200 OK\r\nCSeq: seven\r\n\r\n");
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(rep.cseq, -1);
}

VG_TEST(a_request_from_the_camera_is_taken_whole_and_told_apart)
{
    const char *s = "OPTIONS rtsp://192.168.1.10:554/ RTSP/1.0\r\nCSeq: 1\r\n"
                    "User-Agent: LIVE555 Streaming Media v2020.01.01\r\n\r\n";
    vg_rtsp_reply_parsed_t p = parse(s);
    EXPECT_EQ(p.kind, VG_RTSPR_REQUEST);
    EXPECT_EQ(p.consumed, strlen(s));
    EXPECT_EQ(rep.cseq, 1);
    EXPECT_EQ(rep.status, 0);
    /* with a body, the body is part of it */
    const char *announce = "ANNOUNCE rtsp://h/a RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nv=0\r\n"
                           "RTSP"; /* the start of the next */
    p = parse(announce);
    EXPECT_EQ(p.kind, VG_RTSPR_REQUEST);
    EXPECT_EQ(p.consumed, strlen(announce) - 4);
    for (size_t cut = 0; cut < strlen(announce) - 4; cut++)
        EXPECT_EQ(parse_n(announce, cut).kind, VG_RTSPR_NEED_MORE);
}

VG_TEST(bad_input_is_refused_with_a_reason)
{
    const char *bads[] = {
        "\x16\x03\x01\x02\x00",                     /* a TLS hello */
        "rtsp/1.0 200 OK\r\n\r\n",                  /* lower case: no RTSP */
        "<html>\r\n\r\n",
        "\x80\x60\x00\x01",                         /* RTP without its $ header */
        "RTSP/2.0 200 OK\r\nCSeq: 1\r\n\r\n",       /* another version */
        "RTSP/1.0 20 OK\r\n\r\n",                   /* two digits */
        "RTSP/1.0 2x0 OK\r\n\r\n",
        "RTSP/1.0 099 Low\r\n\r\n",
        "RTSP/1.0 -20 OK\r\n\r\n",
        "RTSP/1.0\r\n\r\n",                         /* no status */
        "RTSP/1.0 \r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n",                  /* uppercase: taken as a request... */
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]) - 1; i++) {
        vg_rtsp_reply_parsed_t p = parse(bads[i]);
        EXPECT_EQ(p.kind, VG_RTSPR_BAD);
        EXPECT_EQ(p.consumed, 0);
        EXPECT_TRUE(p.why != NULL && p.why[0] != '\0');
        if (p.kind != VG_RTSPR_BAD)
            fprintf(stderr, "  bads[%zu] was taken\n", i);
    }
    /* ...which the client ignores: it is not a reply */
    EXPECT_EQ(parse(bads[sizeof(bads) / sizeof(bads[0]) - 1]).kind, VG_RTSPR_REQUEST);
    EXPECT_EQ(parse("RTSP/1.0 200 OK\r\nCSeq: 1\r\nno colon here\r\n\r\n").kind, VG_RTSPR_BAD);
    /* three digits of any class are a status; the caller judges them */
    EXPECT_EQ(parse("RTSP/1.0 551 Option not supported\r\n\r\n").kind, VG_RTSPR_REPLY);
    EXPECT_EQ(rep.status, 551);
    EXPECT_EQ(parse("RTSP/1.1 200 OK\r\n\r\n").kind, VG_RTSPR_REPLY);
}

VG_TEST(a_head_over_8_kib_is_refused_whole_or_not)
{
    static char big[VG_RTSPR_HEAD_MAX + 64];
    const char *start = "RTSP/1.0 200 OK\r\nX-Pad: ";
    /* no end in sight: wait up to 8 KiB, refuse past it */
    memset(big, 'a', sizeof(big));
    memcpy(big, start, strlen(start));
    EXPECT_EQ(parse_n(big, VG_RTSPR_HEAD_MAX).kind, VG_RTSPR_NEED_MORE);
    vg_rtsp_reply_parsed_t p = parse_n(big, VG_RTSPR_HEAD_MAX + 1);
    EXPECT_EQ(p.kind, VG_RTSPR_BAD);
    EXPECT_TRUE(p.why != NULL);
    /* a head of exactly 8 KiB is taken, one byte more is not */
    memcpy(big + VG_RTSPR_HEAD_MAX - 4, "\r\n\r\n", 4);
    p = parse_n(big, VG_RTSPR_HEAD_MAX);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(p.consumed, VG_RTSPR_HEAD_MAX);
    const char *pad = p.kind == VG_RTSPR_REPLY ? vg_rtsp_reply_header(&rep, "X-Pad", NULL) : NULL;
    EXPECT_TRUE(pad != NULL);
    EXPECT_EQ(pad ? strlen(pad) : 0, VG_RTSPR_HEAD_MAX - 4 - strlen(start));
    memset(big, 'a', sizeof(big));
    memcpy(big, start, strlen(start));
    memcpy(big + VG_RTSPR_HEAD_MAX - 3, "\r\n\r\n", 4);
    EXPECT_EQ(parse_n(big, VG_RTSPR_HEAD_MAX + 1).kind, VG_RTSPR_BAD);
    EXPECT_EQ(parse_n(big, sizeof(big)).kind, VG_RTSPR_BAD);
}

VG_TEST(content_length_over_32_kib_or_not_a_number_is_refused)
{
    EXPECT_EQ(parse("RTSP/1.0 200 OK\r\nContent-Length: 32769\r\n\r\n").kind, VG_RTSPR_BAD);
    EXPECT_EQ(parse("RTSP/1.0 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n").kind,
              VG_RTSPR_BAD);
    EXPECT_EQ(parse("RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n").kind, VG_RTSPR_BAD);
    EXPECT_EQ(parse("RTSP/1.0 200 OK\r\nContent-Length: abc\r\n\r\n").kind, VG_RTSPR_BAD);
    EXPECT_EQ(parse("RTSP/1.0 200 OK\r\nContent-Length: 12abc\r\n\r\n").kind, VG_RTSPR_BAD);
    EXPECT_EQ(parse("RTSP/1.0 200 OK\r\nContent-Length:\r\n\r\n").kind, VG_RTSPR_BAD);
    EXPECT_TRUE(parse("RTSP/1.0 200 OK\r\ncontent-length: x\r\n\r\n").why != NULL);
    /* 32 KiB exactly: waited for, then taken whole */
    static char s[128 + VG_RTSPR_BODY_MAX];
    int h = snprintf(s, sizeof(s), "RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: %d\r\n\r\n",
                     VG_RTSPR_BODY_MAX);
    memset(s + h, 'b', VG_RTSPR_BODY_MAX);
    vg_rtsp_reply_parsed_t p = parse_n(s, (size_t)h + VG_RTSPR_BODY_MAX - 1);
    EXPECT_EQ(p.kind, VG_RTSPR_NEED_MORE);
    EXPECT_EQ(p.consumed, 0);
    p = parse_n(s, (size_t)h + VG_RTSPR_BODY_MAX);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(p.consumed, (size_t)h + VG_RTSPR_BODY_MAX);
    EXPECT_EQ(rep.body_len, VG_RTSPR_BODY_MAX);
    EXPECT_EQ(rep.body[0], 'b');
    EXPECT_EQ(rep.body[VG_RTSPR_BODY_MAX - 1], 'b');
    EXPECT_EQ(rep.body[VG_RTSPR_BODY_MAX], '\0');
}

VG_TEST(forty_eight_headers_are_taken_and_forty_nine_are_not)
{
    static char s[4096];
    strcpy(s, "RTSP/1.0 200 OK\r\n");
    for (int i = 0; i < VG_RTSPR_HEADERS_MAX; i++)
        sprintf(s + strlen(s), "X-H%d: v%d\r\n", i, i);
    size_t head = strlen(s);
    strcat(s, "\r\n");
    vg_rtsp_reply_parsed_t p = parse(s);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(rep.header_count, VG_RTSPR_HEADERS_MAX);
    EXPECT_STREQ(vg_rtsp_reply_header(&rep, "x-h47", NULL), "v47");
    strcpy(s + head, "CSeq: 9\r\n\r\n");
    p = parse(s);
    EXPECT_EQ(p.kind, VG_RTSPR_BAD);
    EXPECT_TRUE(p.why != NULL);
}

VG_TEST(repeated_www_authenticate_headers_are_walked_in_order)
{
    const char *s = "RTSP/1.0 401 Unauthorized\r\n"
                    "CSeq: 2\r\n"
                    "WWW-Authenticate: Digest realm=\"IP Camera(C1234)\", "
                    "nonce=\"4e4459314e7a49334e4449364d6a5a6d4f5467795a4451304e773d3d\", stale=\"FALSE\"\r\n"
                    "Date: Sat, Dec 06 2025 02:47:11 GMT\r\n"
                    "www-authenticate: Basic realm=\"IP Camera(C1234)\"\r\n"
                    "\r\n";
    vg_rtsp_reply_parsed_t p = parse(s);
    EXPECT_EQ(p.kind, VG_RTSPR_REPLY);
    EXPECT_EQ(rep.status, 401);
    int from = 0;
    const char *v = vg_rtsp_reply_header(&rep, "WWW-Authenticate", &from);
    EXPECT_TRUE(v != NULL && strncmp(v, "Digest ", 7) == 0);
    EXPECT_EQ(from, 2);
    vg_rtsp_challenge_t c;
    EXPECT_EQ(vg_rtsp_challenge_parse(v, &c), 0);
    EXPECT_TRUE(c.is_digest);
    EXPECT_TRUE(!c.has_qop_auth);
    EXPECT_STREQ(c.realm, "IP Camera(C1234)");
    EXPECT_STREQ(c.nonce, "4e4459314e7a49334e4449364d6a5a6d4f5467795a4451304e773d3d");
    EXPECT_STREQ(c.opaque, "");
    v = vg_rtsp_reply_header(&rep, "WWW-Authenticate", &from);
    EXPECT_STREQ(v, "Basic realm=\"IP Camera(C1234)\"");
    EXPECT_EQ(from, 4);
    EXPECT_EQ(vg_rtsp_challenge_parse(v, &c), 0);
    EXPECT_TRUE(!c.is_digest);
    EXPECT_STREQ(c.realm, "IP Camera(C1234)");
    EXPECT_TRUE(vg_rtsp_reply_header(&rep, "WWW-Authenticate", &from) == NULL);
    EXPECT_EQ(from, rep.header_count);
    EXPECT_TRUE(vg_rtsp_reply_header(&rep, "WWW-Authenticate", &from) == NULL); /* stays done */
    /* without from: the first */
    EXPECT_TRUE(strncmp(vg_rtsp_reply_header(&rep, "www-AUTHENTICATE", NULL), "Digest", 6) == 0);
    from = 0;
    EXPECT_TRUE(vg_rtsp_reply_header(&rep, "Proxy-Authenticate", &from) == NULL);
    EXPECT_EQ(from, rep.header_count);

    /* the answer to the Digest one for a DESCRIBE, without qop:
     * python3 -c "import hashlib;m=lambda s:hashlib.md5(s.encode()).hexdigest();
     *   print(m(m('admin:IP Camera(C1234):12345')+':4e4459314e7a49334e4449364d6a5a6d4f5467795a4451304e773d3d:'
     *   +m('DESCRIBE:rtsp://192.168.1.64:554/Streaming/Channels/101')))"
     * → 34fc9c19b22fe70f7c2bb57f69cdbeb8 */
    from = 0;
    EXPECT_EQ(vg_rtsp_challenge_parse(vg_rtsp_reply_header(&rep, "WWW-Authenticate", &from), &c), 0);
    char out[512];
    int n = vg_rtsp_authorization(&c, "admin", "12345", "DESCRIBE",
                                  "rtsp://192.168.1.64:554/Streaming/Channels/101", 1, "abcdef01",
                                  out, sizeof(out));
    EXPECT_EQ(n, (int)strlen(out));
    EXPECT_STREQ(out, "Digest username=\"admin\", realm=\"IP Camera(C1234)\", "
                      "nonce=\"4e4459314e7a49334e4449364d6a5a6d4f5467795a4451304e773d3d\", "
                      "uri=\"rtsp://192.168.1.64:554/Streaming/Channels/101\", "
                      "response=\"34fc9c19b22fe70f7c2bb57f69cdbeb8\"");
}

VG_TEST(challenges_parse_basic_and_digest_in_their_forms)
{
    vg_rtsp_challenge_t c;
    EXPECT_EQ(vg_rtsp_challenge_parse("Basic realm=\"LIVE555 Streaming Media\"", &c), 0);
    EXPECT_TRUE(!c.is_digest);
    EXPECT_STREQ(c.realm, "LIVE555 Streaming Media");
    EXPECT_EQ(vg_rtsp_challenge_parse("Basic", &c), 0);
    EXPECT_TRUE(!c.is_digest);
    EXPECT_STREQ(c.realm, "");
    EXPECT_EQ(vg_rtsp_challenge_parse("  basic realm=cam", &c), 0);
    EXPECT_STREQ(c.realm, "cam");

    /* RFC 2617 §3.5's challenge: a qop list with auth in it, and opaque */
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                                      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                                      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
                                      &c),
              0);
    EXPECT_TRUE(c.is_digest);
    EXPECT_TRUE(c.has_qop_auth);
    EXPECT_STREQ(c.realm, "testrealm@host.com");
    EXPECT_STREQ(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    EXPECT_STREQ(c.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
    /* unquoted parameters, spaces around =, lower-case scheme and names, algorithm=MD5 */
    EXPECT_EQ(vg_rtsp_challenge_parse("digest REALM = cam1 ,nonce=abc123,algorithm=md5,stale=FALSE",
                                      &c),
              0);
    EXPECT_TRUE(c.is_digest);
    EXPECT_TRUE(!c.has_qop_auth);
    EXPECT_STREQ(c.realm, "cam1");
    EXPECT_STREQ(c.nonce, "abc123");
    /* quoted values keep commas, spaces and = */
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=\"a, b=c\", nonce=\"n=1, 2\", qop=auth", &c), 0);
    EXPECT_STREQ(c.realm, "a, b=c");
    EXPECT_STREQ(c.nonce, "n=1, 2");
    EXPECT_TRUE(c.has_qop_auth);
    /* qop lists in other orders and spacings; auth-int alone is not auth */
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=r, nonce=n, qop=\"auth-int, auth\"", &c), 0);
    EXPECT_TRUE(c.has_qop_auth);
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=r, nonce=n, qop=\"auth-int\"", &c), 0);
    EXPECT_TRUE(!c.has_qop_auth);
    /* a parameter whose name ends in a wanted one is another parameter */
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest xrealm=\"x\", realm=\"r\", cnonce=1, nonce=\"n\"", &c), 0);
    EXPECT_STREQ(c.realm, "r");
    EXPECT_STREQ(c.nonce, "n");

    /* other algorithms and schemes: not vigil's */
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256", &c),
              VG_ENOENT);
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=\"r\", nonce=\"n\", algorithm=\"MD5-sess\"", &c),
              VG_ENOENT);
    EXPECT_EQ(vg_rtsp_challenge_parse("Bearer realm=\"r\"", &c), VG_ENOENT);
    EXPECT_EQ(vg_rtsp_challenge_parse("NTLM", &c), VG_ENOENT);
    EXPECT_EQ(vg_rtsp_challenge_parse("Basically realm=\"r\"", &c), VG_ENOENT);
    EXPECT_EQ(vg_rtsp_challenge_parse("", &c), VG_ENOENT);
    /* malformed */
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=\"r\"", &c), VG_EINVAL); /* no nonce */
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest nonce=\"n\"", &c), VG_EINVAL); /* no realm */
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=\"r, nonce=\"n\"", &c), VG_EINVAL);
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=\"r\", nonce=\"n\", opaque=\"o", &c),
              VG_EINVAL);
    char longer[600];
    snprintf(longer, sizeof(longer), "Digest realm=\"r\", nonce=\"%0300d\"", 7);
    EXPECT_EQ(vg_rtsp_challenge_parse(longer, &c), VG_EINVAL);
    snprintf(longer, sizeof(longer), "Digest realm=\"%0128d\", nonce=\"n\"", 7);
    EXPECT_EQ(vg_rtsp_challenge_parse(longer, &c), VG_EINVAL);
    snprintf(longer, sizeof(longer), "Digest realm=\"%0127d\", nonce=\"%0255d\"", 7, 8);
    EXPECT_EQ(vg_rtsp_challenge_parse(longer, &c), 0); /* both just fit */
    EXPECT_EQ(strlen(c.realm), 127);
    EXPECT_EQ(strlen(c.nonce), 255);
}

VG_TEST(digest_answers_match_rfc_2617)
{
    vg_rtsp_challenge_t c;
    EXPECT_EQ(vg_rtsp_challenge_parse("Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                                      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                                      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
                                      &c),
              0);
    char out[512];
    /* RFC 2617 §3.5: response="6629fae49393a05397450978507c4ef1" */
    int n = vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1,
                                  "0a4f113b", out, sizeof(out));
    const char *want = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
                       "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
                       "response=\"6629fae49393a05397450978507c4ef1\", qop=auth, nc=00000001, "
                       "cnonce=\"0a4f113b\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    EXPECT_STREQ(out, want);
    EXPECT_EQ(n, (int)strlen(want));
    /* nc is the count for this nonce, in 8 hex digits:
     * python3 -c "import hashlib;m=lambda s:hashlib.md5(s.encode()).hexdigest();
     *   print(m(m('Mufasa:testrealm@host.com:Circle Of Life')+
     *   ':dcd98b7102dd2f0e8b11d0f600bfb0c093:00000002:0a4f113b:auth:'+m('GET:/dir/index.html')))"
     * → 15b6bb427e3fecd23a43cb702ce447d5 */
    n = vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 2,
                              "0a4f113b", out, sizeof(out));
    EXPECT_TRUE(n > 0 && strstr(out, "response=\"15b6bb427e3fecd23a43cb702ce447d5\"") != NULL);
    EXPECT_TRUE(strstr(out, ", nc=00000002,") != NULL);
    n = vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 0x1a,
                              "0a4f113b", out, sizeof(out));
    EXPECT_TRUE(n > 0 && strstr(out, ", nc=0000001a,") != NULL);

    /* The same challenge without qop: response = MD5(HA1:nonce:HA2), no qop, nc or cnonce.
     * python3 -c "import hashlib;m=lambda s:hashlib.md5(s.encode()).hexdigest();
     *   print(m(m('Mufasa:testrealm@host.com:Circle Of Life')+
     *   ':dcd98b7102dd2f0e8b11d0f600bfb0c093:'+m('GET:/dir/index.html')))"
     * → 670fd8c2df070c60b045671b8b24ff02 */
    c.has_qop_auth = false;
    n = vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1,
                              "0a4f113b", out, sizeof(out));
    want = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
           "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
           "response=\"670fd8c2df070c60b045671b8b24ff02\", "
           "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    EXPECT_STREQ(out, want);
    EXPECT_EQ(n, (int)strlen(want));

    /* the buffer: one byte short of the string and its NUL is VG_ENOSPC, in the main part and
     * in the opaque */
    size_t len = strlen(want);
    EXPECT_EQ(vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1,
                                    "0a4f113b", out, len + 1),
              (int)len);
    EXPECT_EQ(vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1,
                                    "0a4f113b", out, len),
              VG_ENOSPC);
    EXPECT_EQ(vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1,
                                    "0a4f113b", out, 60),
              VG_ENOSPC);
    EXPECT_EQ(vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1,
                                    "0a4f113b", out, 0),
              VG_ENOSPC);
    c.has_qop_auth = true;
    EXPECT_EQ(vg_rtsp_authorization(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1,
                                    "0a4f113b", out, 100),
              VG_ENOSPC);
}

VG_TEST(basic_answers_are_base64_of_user_and_password)
{
    vg_rtsp_challenge_t c;
    EXPECT_EQ(vg_rtsp_challenge_parse("Basic realm=\"WallyWorld\"", &c), 0);
    char out[128];
    int n = vg_rtsp_authorization(&c, "Aladdin", "open sesame", "DESCRIBE", "rtsp://h/a", 1,
                                  "x", out, sizeof(out));
    EXPECT_STREQ(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    EXPECT_EQ(n, 34);
    EXPECT_EQ(vg_rtsp_authorization(&c, "Aladdin", "open sesame", "DESCRIBE", "rtsp://h/a", 1,
                                    "x", out, 35),
              34);
    EXPECT_EQ(vg_rtsp_authorization(&c, "Aladdin", "open sesame", "DESCRIBE", "rtsp://h/a", 1,
                                    "x", out, 34),
              VG_ENOSPC);
    EXPECT_EQ(vg_rtsp_authorization(&c, "Aladdin", "open sesame", "DESCRIBE", "rtsp://h/a", 1,
                                    "x", out, 0),
              VG_ENOSPC);
    /* an empty user and password: ":" */
    EXPECT_EQ(vg_rtsp_authorization(&c, "", "", "OPTIONS", "*", 1, "x", out, sizeof(out)), 10);
    EXPECT_STREQ(out, "Basic Og==");
    /* a password with a colon and UTF-8 is taken as bytes: "u:p:ä" */
    EXPECT_EQ(vg_rtsp_authorization(&c, "u", "p:\xc3\xa4", "OPTIONS", "*", 1, "x", out, sizeof(out)),
              14);
    EXPECT_STREQ(out, "Basic dTpwOsOk");
    /* credentials over the bound are refused, not cut */
    char huge[600];
    memset(huge, 'p', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    static char wide[2048];
    EXPECT_EQ(vg_rtsp_authorization(&c, "u", huge, "OPTIONS", "*", 1, "x", wide, sizeof(wide)),
              VG_ENOSPC);
}

VG_TEST(sdp_keeps_the_first_eight_media_and_only_their_attributes)
{
    static char sdp[4096];
    strcpy(sdp, "v=0\r\ns=many\r\na=control:*\r\n");
    for (int i = 0; i < VG_SDP_MEDIA_MAX + 2; i++)
        sprintf(sdp + strlen(sdp),
                "m=video 0 RTP/AVP %d\r\na=rtpmap:%d H264/90000\r\na=fmtp:%d packetization-mode=%d\r\n"
                "a=control:track%d\r\n",
                96 + i, 96 + i, 96 + i, i, i);
    static vg_sdp_t s;
    EXPECT_EQ(vg_sdp_parse(sdp, strlen(sdp), &s), 0);
    EXPECT_EQ(s.media_count, VG_SDP_MEDIA_MAX);
    EXPECT_STREQ(s.media[0].control, "track0");
    EXPECT_STREQ(s.media[7].control, "track7");
    EXPECT_EQ(s.media[7].payload_type, 103);
    EXPECT_STREQ(s.media[7].fmtp, "packetization-mode=7");
    /* the media past the eighth are not read: their a=control is not the session's */
    EXPECT_STREQ(s.control, "*");
}

VG_TEST(sdp_media_lines_and_attributes_are_read_as_far_as_they_go)
{
    static vg_sdp_t s;
    /* bare LF, no session control, an H.265 track with the usual fmtp, a format list, an
     * rtpmap for another format, an fmtp for another format first, lower-case encoding */
    const char *sdp = "v=0\n"
                      "o=- 0 0 IN IP4 0.0.0.0\n"
                      "m=video 0 RTP/AVP 98 99\n"
                      "a=rtpmap:99 H264/90000\n"
                      "a=rtpmap:98 H265/90000\n"
                      "a=fmtp:99 packetization-mode=1\n"
                      "a=fmtp:98 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwB4mZgJ; sprop-sps=QgEBAWAAAAMAkAAAAwAAAwB4oAPAgBDlmZpJMrwFoCAg; sprop-pps=RAHBcrRiQA==\n"
                      "a=control:trackID=1\n"
                      "m=audio 0 RTP/AVP 96\n"
                      "a=rtpmap:96 mpeg4-generic/16000\n"
                      "m=application 0 RTP/AVP 107\n"
                      "a=rtpmap:107 vnd.onvif.metadata/90000\n"
                      "a=control:trackID=3";
    EXPECT_EQ(vg_sdp_parse(sdp, strlen(sdp), &s), 0);
    EXPECT_STREQ(s.control, "");
    EXPECT_EQ(s.media_count, 3);
    EXPECT_EQ(s.media[0].payload_type, 98);
    EXPECT_STREQ(s.media[0].encoding, "H265");
    EXPECT_EQ(s.media[0].clock_rate, 90000);
    EXPECT_TRUE(strncmp(s.media[0].fmtp, "sprop-vps=", 10) == 0);
    EXPECT_STREQ(s.media[0].control, "trackID=1");
    char v[128];
    EXPECT_EQ(vg_sdp_fmtp_get(s.media[0].fmtp, "sprop-pps", v, sizeof(v)), 12);
    EXPECT_STREQ(v, "RAHBcrRiQA==");
    EXPECT_TRUE(s.media[1].is_audio);
    EXPECT_STREQ(s.media[1].encoding, "mpeg4-generic");
    EXPECT_EQ(s.media[1].clock_rate, 16000);
    EXPECT_EQ(s.media[1].channels, 1); /* absent: one */
    EXPECT_STREQ(s.media[1].control, "");
    EXPECT_STREQ(s.media[1].fmtp, "");
    EXPECT_TRUE(!s.media[2].is_video && !s.media[2].is_audio);
    EXPECT_STREQ(s.media[2].control, "trackID=3"); /* the last line without its line end */

    /* a channel count of 0 or less is one */
    const char *zero = "v=0\r\nm=audio 0 RTP/AVP 11\r\na=rtpmap:11 L16/44100/0\r\n";
    EXPECT_EQ(vg_sdp_parse(zero, strlen(zero), &s), 0);
    EXPECT_STREQ(s.media[0].encoding, "L16");
    EXPECT_EQ(s.media[0].clock_rate, 44100);
    EXPECT_EQ(s.media[0].channels, 1);
    const char *neg = "v=0\r\nm=audio 0 RTP/AVP 11\r\na=rtpmap:11 L16/44100/-2\r\n";
    EXPECT_EQ(vg_sdp_parse(neg, strlen(neg), &s), 0);
    EXPECT_EQ(s.media[0].channels, 1);

    /* an m= line with no payload type */
    EXPECT_EQ(vg_sdp_parse("v=0\r\nm=video 0 RTP/AVP\r\n", 24, &s), 0);
    EXPECT_EQ(s.media_count, 1);
    EXPECT_EQ(s.media[0].payload_type, -1);
    EXPECT_EQ(vg_sdp_parse("v=0\r\nm=video 0 RTP/AVP 300\r\n", 28, &s), 0);
    EXPECT_EQ(s.media[0].payload_type, -1);
    /* the length is honoured: what is past it is not read */
    const char *cut = "v=0\r\nm=video 0 RTP/AVP 96\r\na=control:abcdef";
    EXPECT_EQ(vg_sdp_parse(cut, strlen(cut) - 3, &s), 0);
    EXPECT_STREQ(s.media[0].control, "abc");

    /* no SDP */
    EXPECT_EQ(vg_sdp_parse("", 0, &s), VG_EINVAL);
    EXPECT_EQ(vg_sdp_parse("m=video 0 RTP/AVP 96\r\n", 22, &s), VG_EINVAL);
    EXPECT_EQ(vg_sdp_parse("v=1\r\n", 5, &s), VG_EINVAL);
    EXPECT_EQ(vg_sdp_parse("<html></html>", 13, &s), VG_EINVAL);
    /* lines over the bounds */
    static char big[4096];
    snprintf(big, sizeof(big), "v=0\r\nm=video 0 RTP/AVP 96\r\na=control:%0600d\r\n", 1);
    EXPECT_EQ(vg_sdp_parse(big, strlen(big), &s), VG_EINVAL);
    snprintf(big, sizeof(big), "v=0\r\nm=video 0 RTP/AVP 96\r\na=control:%0511d\r\n", 1);
    EXPECT_EQ(vg_sdp_parse(big, strlen(big), &s), 0); /* just fits */
    EXPECT_EQ(strlen(s.media[0].control), 511);
    snprintf(big, sizeof(big), "v=0\r\nm=video 0 RTP/AVP 96\r\na=fmtp:96 a=%03000d\r\n", 1);
    EXPECT_EQ(vg_sdp_parse(big, strlen(big), &s), VG_EINVAL);
    snprintf(big, sizeof(big), "v=0\r\nm=video 0 RTP/AVP %0300d\r\n", 96);
    EXPECT_EQ(vg_sdp_parse(big, strlen(big), &s), VG_EINVAL);
}

VG_TEST(fmtp_lookup_is_case_insensitive_exact_and_bounded)
{
    const char *f = "streamtype=5; profile-level-id=15;mode=AAC-hbr; config=1210 ;SizeLength=13;"
                    "IndexLength=3;indexDeltaLength=3;empty=";
    char v[32];
    EXPECT_EQ(vg_sdp_fmtp_get(f, "sizelength", v, sizeof(v)), 2);
    EXPECT_STREQ(v, "13");
    EXPECT_EQ(vg_sdp_fmtp_get(f, "INDEXLENGTH", v, sizeof(v)), 1);
    EXPECT_STREQ(v, "3");
    EXPECT_EQ(vg_sdp_fmtp_get(f, "Mode", v, sizeof(v)), 7);
    EXPECT_STREQ(v, "AAC-hbr");
    EXPECT_EQ(vg_sdp_fmtp_get(f, "config", v, sizeof(v)), 4); /* its trailing space dropped */
    EXPECT_STREQ(v, "1210");
    EXPECT_EQ(vg_sdp_fmtp_get(f, "profile-level-id", v, sizeof(v)), 2);
    EXPECT_STREQ(v, "15");
    EXPECT_EQ(vg_sdp_fmtp_get(f, "empty", v, sizeof(v)), 0);
    EXPECT_STREQ(v, "");
    /* whole names only: not a prefix or a suffix of another */
    EXPECT_EQ(vg_sdp_fmtp_get(f, "length", v, sizeof(v)), VG_ENOENT);
    EXPECT_EQ(vg_sdp_fmtp_get(f, "size", v, sizeof(v)), VG_ENOENT);
    EXPECT_EQ(vg_sdp_fmtp_get("packetization-mode=1", "mode", v, sizeof(v)), VG_ENOENT);
    EXPECT_EQ(vg_sdp_fmtp_get("", "mode", v, sizeof(v)), VG_ENOENT);
    EXPECT_EQ(vg_sdp_fmtp_get("mode;x=1", "mode", v, sizeof(v)), VG_ENOENT);
    /* a value with = in it (base64) is taken whole */
    EXPECT_EQ(vg_sdp_fmtp_get("sprop-parameter-sets=Z0IAHpWoLQ==,aM48gA==", "SPROP-PARAMETER-SETS",
                              v, sizeof(v)),
              21);
    EXPECT_STREQ(v, "Z0IAHpWoLQ==,aM48gA==");
    /* the buffer: the value and its NUL, or VG_ENOSPC */
    EXPECT_EQ(vg_sdp_fmtp_get(f, "mode", v, 8), 7);
    EXPECT_STREQ(v, "AAC-hbr");
    EXPECT_EQ(vg_sdp_fmtp_get(f, "mode", v, 7), VG_ENOSPC);
    EXPECT_EQ(vg_sdp_fmtp_get(f, "empty", v, 0), VG_ENOSPC);
}

VG_TEST(control_urls_join_as_cameras_expect)
{
    char u[64];
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live/", "trackID=1", u, sizeof(u)), 30);
    EXPECT_STREQ(u, "rtsp://10.0.0.5/live/trackID=1");
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live", "trackID=1", u, sizeof(u)), 30);
    EXPECT_STREQ(u, "rtsp://10.0.0.5/live/trackID=1");
    /* a base's query stays before the control */
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live?ch=1", "track1", u, sizeof(u)), 32);
    EXPECT_STREQ(u, "rtsp://10.0.0.5/live?ch=1/track1");
    /* absolute controls are themselves, in any case of scheme */
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live/", "rtsp://10.0.0.6:554/ch1/track2", u,
                                  sizeof(u)),
              30);
    EXPECT_STREQ(u, "rtsp://10.0.0.6:554/ch1/track2");
    EXPECT_EQ(vg_rtsp_control_url("rtsp://a/", "RTSP://B/x", u, sizeof(u)), 10);
    EXPECT_STREQ(u, "RTSP://B/x");
    EXPECT_EQ(vg_rtsp_control_url("rtsp://a/", "rtsps://b/x", u, sizeof(u)), 11);
    EXPECT_STREQ(u, "rtsps://b/x");
    /* aggregate or absent: the base */
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live", "*", u, sizeof(u)), 20);
    EXPECT_STREQ(u, "rtsp://10.0.0.5/live");
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live/", "", u, sizeof(u)), 21);
    EXPECT_STREQ(u, "rtsp://10.0.0.5/live/");
    /* the buffer: the URL and its NUL, or VG_ENOSPC, whichever way it was joined */
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live", "trackID=1", u, 31), 30);
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live", "trackID=1", u, 30), VG_ENOSPC);
    EXPECT_EQ(vg_rtsp_control_url("rtsp://a/", "rtsp://10.0.0.6:554/ch1/track2", u, 30),
              VG_ENOSPC);
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live", "*", u, 20), VG_ENOSPC);
    EXPECT_EQ(vg_rtsp_control_url("rtsp://10.0.0.5/live", "", u, 0), VG_ENOSPC);
}
