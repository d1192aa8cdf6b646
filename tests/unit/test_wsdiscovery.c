/* net/wsdiscovery: the Probe and ProbeMatches of ../shared/protocols/onvif.md §6 (the sheet's
 * worked examples), answers to another probe, duplicates, garbage and oversized input; then
 * the probe on a loop against a UDP responder in this file on 127.0.0.1 (a unicast target),
 * which answers with garbage, a wrong RelatesTo, a good answer and its duplicate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/err.h"
#include "net/wsdiscovery.h"
#include "vg_test.h"

#define SHEET_ID "urn:uuid:6f1c2a3e-0000-4000-8000-000000000001"

#define MATCHES_FMT \
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"\n" \
        "    xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"\n" \
        "    xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\"\n" \
        "    xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\"\n" \
        "    xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\">\n" \
        "  <s:Header>\n" \
        "    <wsa:MessageID>urn:uuid:6f1c2a3e-0000-4000-8000-0000000000aa</wsa:MessageID>\n" \
        "    <wsa:RelatesTo>%s</wsa:RelatesTo>\n" \
        "    <wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>\n" \
        "    <wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>\n" \
        "  </s:Header>\n" \
        "  <s:Body>\n" \
        "    <d:ProbeMatches>\n" \
        "      <d:ProbeMatch>\n" \
        "        <wsa:EndpointReference>\n" \
        "          <wsa:Address>%s</wsa:Address>\n" \
        "        </wsa:EndpointReference>\n" \
        "        <d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>\n" \
        "        <d:Scopes>%s</d:Scopes>\n" \
        "        <d:XAddrs>%s</d:XAddrs>\n" \
        "        <d:MetadataVersion>1</d:MetadataVersion>\n" \
        "      </d:ProbeMatch>\n" \
        "    </d:ProbeMatches>\n" \
        "  </s:Body>\n" \
        "</s:Envelope>\n"

/* The sheet's ProbeMatches (§6), with RelatesTo, Address and XAddrs as parameters. */
static char *matches(const char *relates, const char *endpoint, const char *xaddrs,
                     const char *scopes)
{
    size_t n = strlen(MATCHES_FMT) + strlen(relates) + strlen(endpoint) + strlen(xaddrs) +
               strlen(scopes) + 1;
    char *out = malloc(n);
    snprintf(out, n, MATCHES_FMT, relates, endpoint, scopes, xaddrs);
    return out;
}

#define SHEET_SCOPES                                                                          \
    "onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/type/ptz "                 \
    "onvif://www.onvif.org/hardware/FakeCam onvif://www.onvif.org/name/vigil-fake "           \
    "onvif://www.onvif.org/location/lab"
#define SHEET_EP "urn:uuid:0d2f6a50-1b2c-4d3e-8f90-a1b2c3d4e5f6"

static int parse(vg_wsd_list_t *l, const char *id, const char *xml, const char *from)
{
    return vg_wsd_parse_matches(l, id, xml, strlen(xml), from);
}

VG_TEST(message_id_is_a_v4_uuid_urn)
{
    unsigned char rnd[16];
    memset(rnd, 0xff, sizeof(rnd));
    char id[VG_WSD_ID_LEN];
    vg_wsd_message_id(id, rnd);
    EXPECT_STREQ(id, "urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff");
    memset(rnd, 0, sizeof(rnd));
    vg_wsd_message_id(id, rnd);
    EXPECT_STREQ(id, "urn:uuid:00000000-0000-4000-8000-000000000000");
    char a[VG_WSD_ID_LEN], b[VG_WSD_ID_LEN];
    vg_wsd_new_message_id(a);
    vg_wsd_new_message_id(b);
    EXPECT_EQ(strlen(a), VG_WSD_ID_LEN - 1);
    EXPECT_TRUE(strcmp(a, b) != 0); /* a new one per probe */
    EXPECT_EQ(a[9 + 14], '4');                   /* version 4 */
    EXPECT_TRUE(strchr("89ab", a[9 + 19]) != NULL); /* variant 10xx */
}

VG_TEST(probe_is_the_sheets)
{
    char buf[1024];
    int n = vg_wsd_build_probe(SHEET_ID, buf, sizeof(buf));
    EXPECT_TRUE(n > 0);
    EXPECT_EQ(strlen(buf), n);
    static const char *const parts[] = {
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"",
        "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"",
        "xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\"",
        "xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\"",
        ("<s:Header><wsa:MessageID>" SHEET_ID "</wsa:MessageID>"
         "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"
         "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>"
         "</s:Header>"),
        ("<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
         "</s:Envelope>"),
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (strstr(buf, parts[i]) == NULL) {
            fprintf(stderr, "probe lacks %s\n%s\n", parts[i], buf);
            vg__test_failed = 1;
        }
    }
    EXPECT_EQ(vg_wsd_build_probe(SHEET_ID, buf, 100), VG_ENOSPC);
    EXPECT_EQ(vg_wsd_build_probe("urn:uuid:6f1c2a3e-0000-4000-8000-00000000000", buf, 1024),
              VG_EINVAL);
    EXPECT_EQ(vg_wsd_build_probe("urn:uuid:6f1c2a3e-0000-4000-8000-00000000000<", buf, 1024),
              VG_EINVAL);
    EXPECT_EQ(vg_wsd_build_probe(NULL, buf, 1024), VG_EINVAL);
}

VG_TEST(sheet_probe_matches)
{
    vg_wsd_list_t l;
    vg_wsd_list_init(&l);
    char *xml = matches(SHEET_ID, SHEET_EP, "http://192.0.2.20/onvif/device_service",
                        SHEET_SCOPES);
    EXPECT_EQ(parse(&l, SHEET_ID, xml, "192.0.2.20"), 1);
    EXPECT_EQ(l.count, 1);
    EXPECT_EQ(l.ignored, 0);
    if (l.count == 1) {
        const vg_wsd_device_t *d = &l.devices[0];
        EXPECT_STREQ(d->endpoint, SHEET_EP);
        EXPECT_STREQ(d->addresses, "192.0.2.20");
        EXPECT_STREQ(d->xaddrs, "http://192.0.2.20/onvif/device_service");
        EXPECT_STREQ(d->types, "dn:NetworkVideoTransmitter tds:Device");
        EXPECT_STREQ(d->scopes, SHEET_SCOPES);
        EXPECT_STREQ(d->name, "vigil-fake");
        EXPECT_STREQ(d->hardware, "FakeCam");
        EXPECT_STREQ(d->location, "lab");
        EXPECT_TRUE(d->is_ptz);
    }
    json_t *j = vg_wsd_list_json(&l);
    json_t *d0 = json_array_get(json_object_get(j, "devices"), 0);
    EXPECT_STREQ(json_string_value(json_object_get(d0, "name")), "vigil-fake");
    EXPECT_STREQ(json_string_value(json_array_get(json_object_get(d0, "xaddrs"), 0)),
                 "http://192.0.2.20/onvif/device_service");
    EXPECT_EQ(json_array_size(json_object_get(d0, "scopes")), 5);
    EXPECT_TRUE(json_is_true(json_object_get(d0, "ptz")));
    EXPECT_EQ(json_integer_value(json_object_get(j, "ignored")), 0);
    json_decref(j);
    free(xml);
    vg_wsd_list_deinit(&l);
}

VG_TEST(an_answer_to_another_probe_is_ignored)
{
    vg_wsd_list_t l;
    vg_wsd_list_init(&l);
    char *xml = matches("urn:uuid:6f1c2a3e-0000-4000-8000-000000000002", SHEET_EP,
                        "http://192.0.2.20/onvif/device_service", SHEET_SCOPES);
    EXPECT_EQ(parse(&l, SHEET_ID, xml, "192.0.2.20"), VG_ENOENT);
    free(xml);
    xml = matches("", SHEET_EP, "http://192.0.2.20/onvif/device_service", SHEET_SCOPES);
    EXPECT_EQ(parse(&l, SHEET_ID, xml, "192.0.2.20"), VG_ENOENT);
    free(xml);
    /* Upper-case hex is the same UUID (RFC 4122 §3). */
    xml = matches("URN:UUID:6F1C2A3E-0000-4000-8000-000000000001", SHEET_EP, "", SHEET_SCOPES);
    EXPECT_EQ(parse(&l, SHEET_ID, xml, "192.0.2.20"), 1);
    free(xml);
    EXPECT_EQ(l.count, 1);
    EXPECT_EQ(l.ignored, 2);
    EXPECT_EQ(l.answers, 3);
    vg_wsd_list_deinit(&l);
}

VG_TEST(duplicates_merge_by_endpoint)
{
    vg_wsd_list_t l;
    vg_wsd_list_init(&l);
    char *a = matches(SHEET_ID, SHEET_EP, "http://192.0.2.20/onvif/device_service", SHEET_SCOPES);
    char *b = matches(SHEET_ID, "  " SHEET_EP "\n", "http://198.18.0.20/onvif/device_service",
                      SHEET_SCOPES);
    char *c = matches(SHEET_ID, "urn:uuid:11111111-2222-4333-8444-555555555555",
                      "http://192.0.2.30/onvif/device_service",
                      "onvif://www.onvif.org/name/other");
    EXPECT_EQ(parse(&l, SHEET_ID, a, "192.0.2.20"), 1);
    EXPECT_EQ(parse(&l, SHEET_ID, a, "192.0.2.20"), 0); /* the same answer twice */
    EXPECT_EQ(parse(&l, SHEET_ID, b, "198.18.0.20"), 0); /* the device's other interface */
    EXPECT_EQ(parse(&l, SHEET_ID, c, "192.0.2.30"), 1);
    EXPECT_EQ(l.count, 2);
    EXPECT_EQ(l.ignored, 0);
    if (l.count == 2) {
        EXPECT_STREQ(l.devices[0].addresses, "192.0.2.20 198.18.0.20");
        EXPECT_STREQ(l.devices[0].xaddrs,
                     "http://192.0.2.20/onvif/device_service "
                     "http://198.18.0.20/onvif/device_service");
        EXPECT_STREQ(l.devices[1].name, "other");
        EXPECT_TRUE(l.devices[1].hardware == NULL);
        EXPECT_TRUE(l.devices[1].location == NULL);
        EXPECT_TRUE(!l.devices[1].is_ptz);
    }
    free(a);
    free(b);
    free(c);
    vg_wsd_list_deinit(&l);
}

VG_TEST(garbage_is_ignored)
{
    static const char *const bad[] = {
        "",
        "\x00\x01\x02\xff",
        "hello",
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\">",
        "<x/>",
        /* not SOAP */
        ("<Envelope><Header><RelatesTo>" SHEET_ID "</RelatesTo></Header><Body><ProbeMatches>"
         "<ProbeMatch><EndpointReference><Address>x</Address></EndpointReference></ProbeMatch>"
         "</ProbeMatches></Body></Envelope>"),
        /* a Probe, not ProbeMatches (another client's probe looped back) */
        ("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
         "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
         "xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\"><s:Header><wsa:RelatesTo>"
         SHEET_ID "</wsa:RelatesTo></s:Header><s:Body><d:Probe/></s:Body></s:Envelope>"),
        /* ProbeMatches whose only match has no endpoint */
        ("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
         "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
         "xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\"><s:Header><wsa:RelatesTo>"
         SHEET_ID "</wsa:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>"
         "<d:XAddrs>http://x/</d:XAddrs></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"),
        /* a DTD with an entity bomb: refused before anything expands */
        ("<?xml version=\"1.0\"?><!DOCTYPE s [<!ENTITY a \"aaaaaaaaaa\">"
         "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
         "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
         "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
         "xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\"><s:Header><wsa:RelatesTo>"
         SHEET_ID "</wsa:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>"
         "<wsa:EndpointReference><wsa:Address>&c;</wsa:Address></wsa:EndpointReference>"
         "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"),
    };
    vg_wsd_list_t l;
    vg_wsd_list_init(&l);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = i == 1 ? 4 : strlen(bad[i]);
        int rc = vg_wsd_parse_matches(&l, SHEET_ID, bad[i], len, "192.0.2.9");
        if (rc != VG_EPROTO) {
            fprintf(stderr, "garbage %zu: %d\n", i, rc);
            vg__test_failed = 1;
        }
    }
    EXPECT_EQ(l.count, 0);
    EXPECT_EQ(l.ignored, sizeof(bad) / sizeof(bad[0]));
    /* A good answer cut short is garbage too. */
    char *xml = matches(SHEET_ID, SHEET_EP, "http://192.0.2.20/onvif/device_service", SHEET_SCOPES);
    for (size_t cut = 0; cut < strlen(xml) - 2; cut += 7)
        EXPECT_TRUE(vg_wsd_parse_matches(&l, SHEET_ID, xml, cut, NULL) < 0);
    EXPECT_EQ(l.count, 0);
    free(xml);
    vg_wsd_list_deinit(&l);
}

VG_TEST(oversized_input_is_ignored)
{
    vg_wsd_list_t l;
    vg_wsd_list_init(&l);
    /* A valid answer padded with a comment past the datagram bound. */
    char *xml = matches(SHEET_ID, SHEET_EP, "http://192.0.2.20/onvif/device_service", SHEET_SCOPES);
    size_t n = strlen(xml), big = VG_WSD_MAX_DATAGRAM + 1;
    char *buf = malloc(big);
    memcpy(buf, xml, n);
    memset(buf + n, ' ', big - n);
    EXPECT_EQ(vg_wsd_parse_matches(&l, SHEET_ID, buf, big, NULL), VG_ENOSPC);
    EXPECT_EQ(vg_wsd_parse_matches(&l, SHEET_ID, buf, big - 1, NULL), 1); /* at the bound */
    /* A field over its bound drops the match. */
    char *longname = malloc(5000);
    memset(longname, 'n', 4999);
    longname[4999] = '\0';
    char *scopes = malloc(6000);
    snprintf(scopes, 6000, "onvif://www.onvif.org/name/%s", longname);
    char *xml2 = matches(SHEET_ID, "urn:uuid:11111111-2222-4333-8444-555555555555", "", scopes);
    EXPECT_EQ(parse(&l, SHEET_ID, xml2, NULL), VG_EPROTO);
    EXPECT_EQ(l.count, 1);
    EXPECT_EQ(l.ignored, 2);
    free(xml2);
    free(scopes);
    free(longname);
    free(buf);
    free(xml);
    vg_wsd_list_deinit(&l);
}

VG_TEST(scopes_are_decoded_and_cleaned)
{
    vg_wsd_list_t l;
    vg_wsd_list_init(&l);
    char *xml = matches(SHEET_ID, "urn:uuid:1\t\n 2",
                        "http://192.0.2.20/onvif/device_service",
                        "ONVIF://WWW.ONVIF.ORG/name/Gate%20Cam%1b%5B2J "
                        "onvif://www.onvif.org/hardware/AUTODOME%207000 "
                        "onvif://www.onvif.org/location/country/fr "
                        "onvif://www.onvif.org/location/city/Lyon%ff "
                        "onvif://www.onvif.org/name/second%2 "
                        "onvif://www.onvif.org/Type/PTZ");
    EXPECT_EQ(parse(&l, SHEET_ID, xml, "192.0.2.20"), 1);
    if (l.count == 1) {
        const vg_wsd_device_t *d = &l.devices[0];
        EXPECT_STREQ(d->endpoint, "urn:uuid:1 2");
        EXPECT_STREQ(d->name, "Gate Cam?[2J");
        EXPECT_STREQ(d->hardware, "AUTODOME 7000");
        EXPECT_STREQ(d->location, "country/fr, city/Lyon\xff");
        EXPECT_TRUE(d->is_ptz);
    }
    json_t *j = vg_wsd_list_json(&l); /* not UTF-8: still a JSON string */
    json_t *d0 = json_array_get(json_object_get(j, "devices"), 0);
    EXPECT_STREQ(json_string_value(json_object_get(d0, "location")), "country/fr, city/Lyon?");
    json_decref(j);
    free(xml);
    vg_wsd_list_deinit(&l);
}

/* ------------------------------------------------------------------------------------ */
/* The probe on a loop                                                                    */

typedef struct responder {
    uv_udp_t udp;
    char buf[4096];
    int probes;
    char last_id[VG_WSD_ID_LEN];
} responder_t;

typedef struct send_req {
    uv_udp_send_t req;
    char *data;
} send_req_t;

static void sent(uv_udp_send_t *r, int status)
{
    (void)status;
    send_req_t *s = (send_req_t *)r;
    free(s->data);
    free(s);
}

static void reply(responder_t *rs, const struct sockaddr *to, char *data)
{
    send_req_t *s = calloc(1, sizeof(*s));
    s->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)strlen(data));
    uv_udp_send(&s->req, &rs->udp, &b, 1, to, sent);
}

static void rs_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)n;
    responder_t *rs = h->data;
    *b = uv_buf_init(rs->buf, sizeof(rs->buf) - 1);
}

static void rs_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *addr,
                    unsigned flags)
{
    (void)flags;
    responder_t *rs = h->data;
    if (nread <= 0 || addr == NULL)
        return;
    b->base[nread] = '\0';
    /* Test code: the MessageID by string search is enough here. */
    const char *m = strstr(b->base, "<wsa:MessageID>");
    if (m == NULL)
        return;
    m += strlen("<wsa:MessageID>");
    snprintf(rs->last_id, sizeof(rs->last_id), "%.*s", (int)(VG_WSD_ID_LEN - 1), m);
    rs->probes++;
    reply(rs, addr, strdup("not xml at all"));
    reply(rs, addr, matches("urn:uuid:00000000-0000-4000-8000-000000000000", SHEET_EP, "",
                            SHEET_SCOPES));
    reply(rs, addr, matches(rs->last_id, SHEET_EP, "http://127.0.0.1/onvif/device_service",
                            SHEET_SCOPES));
    reply(rs, addr, matches(rs->last_id, SHEET_EP, "http://127.0.0.1/onvif/device_service",
                            SHEET_SCOPES));
}

typedef struct outcome {
    int calls, status;
    size_t count;
    unsigned ignored;
    char name[64], xaddrs[128];
    uint64_t at_ms;
    uv_loop_t *loop;
} outcome_t;

static void done(int status, const vg_wsd_list_t *found, void *user)
{
    outcome_t *o = user;
    o->calls++;
    o->status = status;
    o->count = found->count;
    o->ignored = found->ignored;
    o->at_ms = uv_now(o->loop);
    if (found->count > 0) {
        snprintf(o->name, sizeof(o->name), "%s", found->devices[0].name);
        snprintf(o->xaddrs, sizeof(o->xaddrs), "%s", found->devices[0].xaddrs);
    }
}

static int responder_open(uv_loop_t *loop, responder_t *rs)
{
    memset(rs, 0, sizeof(*rs));
    uv_udp_init(loop, &rs->udp);
    rs->udp.data = rs;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_udp_bind(&rs->udp, (const struct sockaddr *)&sa, 0);
    uv_udp_recv_start(&rs->udp, rs_alloc, rs_recv);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_udp_getsockname(&rs->udp, (struct sockaddr *)&ss, &len);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void close_responder(uv_timer_t *t)
{
    responder_t *rs = t->data;
    uv_close((uv_handle_t *)&rs->udp, NULL);
    uv_close((uv_handle_t *)t, NULL);
}

VG_TEST(probe_collects_answers_on_the_loop)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    responder_t rs;
    int port = responder_open(&loop, &rs);
    char target[32];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    outcome_t o = {.loop = &loop};
    vg_wsd_probe_t *p = NULL;
    vg_wsd_probe_cfg_t cfg = {.loop = &loop, .wait_ms = 300, .target = target,
                              .interface = "127.0.0.1"};
    uint64_t t0 = uv_now(&loop);
    EXPECT_EQ(vg_wsd_probe_start(&p, &cfg, done, &o), 0);
    EXPECT_TRUE(p != NULL);
    EXPECT_TRUE(vg_wsd_probe_remaining_ms(p) > 0 && vg_wsd_probe_remaining_ms(p) <= 300);
    uv_timer_t stop;
    uv_timer_init(&loop, &stop);
    stop.data = &rs;
    uv_timer_start(&stop, close_responder, 400, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(rs.probes, 1);
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.status, 0);
    EXPECT_EQ(o.count, 1);
    EXPECT_EQ(o.ignored, 2); /* the garbage and the wrong RelatesTo */
    EXPECT_STREQ(o.name, "vigil-fake");
    EXPECT_STREQ(o.xaddrs, "http://127.0.0.1/onvif/device_service");
    EXPECT_TRUE(o.at_ms - t0 >= 290 && o.at_ms - t0 < 1000);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

VG_TEST(a_cancelled_probe_never_calls_back)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome_t o = {.loop = &loop};
    vg_wsd_probe_t *p = NULL;
    vg_wsd_probe_cfg_t cfg = {.loop = &loop, .wait_ms = 60000, .target = "127.0.0.1:9"};
    EXPECT_EQ(vg_wsd_probe_start(&p, &cfg, done, &o), 0);
    vg_wsd_probe_cancel(&p);
    EXPECT_TRUE(p == NULL);
    vg_wsd_probe_cancel(&p); /* NULL is fine */
    uint64_t t0 = uv_now(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_update_time(&loop);
    EXPECT_EQ(o.calls, 0);
    EXPECT_TRUE(uv_now(&loop) - t0 < 1000); /* the wait, capped at 10 s, was not waited */
    EXPECT_EQ(uv_loop_close(&loop), 0);
}

VG_TEST(bad_addresses_fail_at_start)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    outcome_t o = {.loop = &loop};
    vg_wsd_probe_t *p = (vg_wsd_probe_t *)&o;
    vg_wsd_probe_cfg_t cfg = {.loop = &loop, .interface = "not-an-address"};
    EXPECT_EQ(vg_wsd_probe_start(&p, &cfg, done, &o), VG_EINVAL);
    EXPECT_TRUE(p == NULL);
    cfg = (vg_wsd_probe_cfg_t){.loop = &loop, .target = "127.0.0.1"};
    EXPECT_EQ(vg_wsd_probe_start(&p, &cfg, done, &o), VG_EINVAL);
    cfg = (vg_wsd_probe_cfg_t){.loop = &loop, .target = "127.0.0.1:99999"};
    EXPECT_EQ(vg_wsd_probe_start(&p, &cfg, done, &o), VG_EINVAL);
    /* An address this host does not have (198.18.0.0/15 is for tests, RFC 2544). */
    cfg = (vg_wsd_probe_cfg_t){.loop = &loop, .interface = "198.19.255.254"};
    EXPECT_EQ(vg_wsd_probe_start(&p, &cfg, done, &o), UV_EADDRNOTAVAIL);
    EXPECT_TRUE(p == NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* closes the socket it opened */
    EXPECT_EQ(o.calls, 0);
    EXPECT_EQ(uv_loop_close(&loop), 0);
}
