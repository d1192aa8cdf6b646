/* The PTZ drivers' pure helpers against the protocol sheets' worked examples
 * (../shared/protocols/bosch-rcp-plus.md §9, onvif.md §3-§9). */
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ptz/ptz_int.h"
#include "vg_test.h"

static void expect_query(const char *payload, const char *want)
{
    char q[256];
    EXPECT_EQ(vg__bosch_query(q, sizeof(q), "0x09A5", "P_OCTET", "WRITE", 1, payload), 0);
    EXPECT_STREQ(q, want);
}

VG_TEST(bosch_worked_examples)
{
    char p[32];
    vg__bosch_move_payload(-0.5, 0, 0, p); /* §9.1 pan left, medium (8) */
    expect_query(p, "command=0x09A5&type=P_OCTET&direction=WRITE&num=1&payload=0x800006011085080000");
    vg__bosch_move_payload(0, 0, 0, p); /* §9.2 stop */
    expect_query(p, "command=0x09A5&type=P_OCTET&direction=WRITE&num=1&payload=0x800006011085000000");
    vg__bosch_move_payload(0, 0, 0.5, p); /* §9.3 zoom in, medium (4) */
    expect_query(p, "command=0x09A5&type=P_OCTET&direction=WRITE&num=1&payload=0x800006011085000084");
    EXPECT_EQ(vg__bosch_preset_payload(3, false, p), 0); /* §9.4 recall preset 3 */
    expect_query(p, "command=0x09A5&type=P_OCTET&direction=WRITE&num=1&payload=0x800006202081");
    EXPECT_EQ(vg__bosch_preset_payload(3, true, p), 0); /* §9.5 store preset 3 */
    expect_query(p, "command=0x09A5&type=P_OCTET&direction=WRITE&num=1&payload=0x800006202080");
    char q[256];
    vg__bosch_query(q, sizeof(q), "0x0a8b", "F_FLAG", "WRITE", 1, "1"); /* §9.7 */
    EXPECT_STREQ(q, "command=0x0a8b&type=F_FLAG&direction=WRITE&num=1&payload=1");
    vg__bosch_query(q, sizeof(q), "0x0a8b", "F_FLAG", "WRITE", 1, "0");
    EXPECT_STREQ(q, "command=0x0a8b&type=F_FLAG&direction=WRITE&num=1&payload=0");
    vg__bosch_query(q, sizeof(q), "0x0019", "P_UNICODE", "READ", 1, NULL); /* §9.8 */
    EXPECT_STREQ(q, "command=0x0019&type=P_UNICODE&direction=READ&num=1");
}

VG_TEST(bosch_speeds_and_presets)
{
    char p[32];
    vg__bosch_move_payload(-1, 1, 1, p); /* left fast 0F, up fast 8F, in fast 87 (§6.1) */
    EXPECT_STREQ(p, "0x8000060110850F8F87");
    vg__bosch_move_payload(1, -1, -1, p); /* right fast 8F, down fast 0F, out fast 07 */
    EXPECT_STREQ(p, "0x8000060110858F0F07");
    vg__bosch_move_payload(0.01, 0, -0.01, p); /* any non-zero speed is at least step 1 */
    EXPECT_STREQ(p, "0x800006011085810001");
    EXPECT_EQ(vg__bosch_step(0, 15), 0);
    EXPECT_EQ(vg__bosch_step(0.5, 7), 4);
    EXPECT_EQ(vg__bosch_preset_payload(1, false, p), 0);
    EXPECT_STREQ(p, "0x800006200081"); /* B3's literal */
    EXPECT_EQ(vg__bosch_preset_payload(99, true, p), 0);
    EXPECT_STREQ(p, "0x800006262080");
    EXPECT_EQ(vg__bosch_preset_payload(256, false, p), 0);
    EXPECT_STREQ(p, "0x8000062FF081");
    EXPECT_EQ(vg__bosch_preset_payload(0, false, p), VG_EINVAL);
    EXPECT_EQ(vg__bosch_preset_payload(257, false, p), VG_EINVAL);
}

VG_TEST(bosch_replies)
{
    vg__rcp_reply_t r;
    /* §9.8, verbatim */
    const char *name = "<rcp><command><hex>0x0019</hex><dec>25</dec></command>"
                       "<type>P_UNICODE</type><direction>READ</direction><num>1</num>"
                       "<idstring /><payload /><cltid>0xd82d</cltid><auth>2</auth><result>"
                       "<str>00 43 00 61 00 6d 00 65 00 72 00 61 00 20 00 31 00 00</str>"
                       "</result></rcp>";
    EXPECT_EQ(vg__bosch_parse(name, strlen(name), &r), 0);
    EXPECT_EQ(r.err, -1);
    EXPECT_TRUE(r.has_str);
    EXPECT_EQ(r.str_len, 18);
    EXPECT_EQ(r.str[1], 'C');
    const char *err = "<rcp><result><err>0xa0</err></result></rcp>";
    EXPECT_EQ(vg__bosch_parse(err, strlen(err), &r), 0);
    EXPECT_EQ(r.err, 0xA0);
    EXPECT_TRUE(strstr(vg__bosch_err_name(r.err), "INVALID_AUTH_LEVEL") != NULL);
    const char *dec = "<rcp><result><hex>0x01</hex><dec>      1</dec></result></rcp>";
    EXPECT_EQ(vg__bosch_parse(dec, strlen(dec), &r), 0);
    EXPECT_TRUE(r.has_dec);
    EXPECT_EQ(r.dec, 1);
    /* The real capture of §5: Get pan position. */
    const char *pan = "<rcp><result><len>8</len><str>81 00 06 01 12 01 f3 d1</str></result></rcp>";
    EXPECT_EQ(vg__bosch_parse(pan, strlen(pan), &r), 0);
    EXPECT_EQ(r.bicom_err, -1);
    EXPECT_EQ(r.str[6] << 8 | r.str[7], 0xF3D1);
    const char *bicom = "<rcp><result><str>80 00 06 07 70 6f 00 01</str></result></rcp>";
    EXPECT_EQ(vg__bosch_parse(bicom, strlen(bicom), &r), 0);
    EXPECT_EQ(r.bicom_err, 1);
    const char *html = "<html><body>hello</body></html>";
    EXPECT_EQ(vg__bosch_parse(html, strlen(html), &r), VG_EPROTO);
    EXPECT_EQ(vg__bosch_parse("not xml", 7, &r), VG_EPROTO);
}

static const uint8_t nonce[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

VG_TEST(onvif_digest_vector)
{
    char d[29];
    vg__onvif_digest(nonce, 16, "2024-01-01T00:00:00Z", "secret", d); /* §4.2 */
    EXPECT_STREQ(d, "vhkNh82r7E2rA9qMKzvKdpwqvjc=");
    /* Hashing the Base64 text by mistake gives the sheet's negative vector. */
    const char *b64 = "AAECAwQFBgcICQoLDA0ODw==";
    vg__onvif_digest((const uint8_t *)b64, strlen(b64), "2024-01-01T00:00:00Z", "secret", d);
    EXPECT_STREQ(d, "FT/uQPbZudAJWeBHtD7T+ED8Wms=");
    char created[32];
    vg__onvif_created(1704067200000, created);
    EXPECT_STREQ(created, "2024-01-01T00:00:00Z");
}

/* The element the envelope carries, parsed back with libxml2. */
static xmlNode *body_op(xmlDoc *doc)
{
    xmlNode *env = xmlDocGetRootElement(doc);
    xmlNode *b = vg__xml_child(env, "http://www.w3.org/2003/05/soap-envelope", "Body");
    return b ? xmlFirstElementChild(b) : NULL;
}

VG_TEST(onvif_envelope)
{
    char *body = vg__onvif_continuous_move("prof1", -0.5, 0, 0, 5);
    EXPECT_STREQ(body, "<tptz:ContinuousMove><tptz:ProfileToken>prof1</tptz:ProfileToken>"
                       "<tptz:Velocity><tt:PanTilt x=\"-0.5\" y=\"0\"/><tt:Zoom x=\"0\"/>"
                       "</tptz:Velocity><tptz:Timeout>PT5S</tptz:Timeout></tptz:ContinuousMove>");
    char *env = vg__onvif_envelope("admin", "secret", nonce, "2024-01-01T00:00:00Z", body);
    EXPECT_TRUE(strstr(env, "<wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/"
                            "oasis-200401-wss-username-token-profile-1.0#PasswordDigest\">"
                            "vhkNh82r7E2rA9qMKzvKdpwqvjc=</wsse:Password>") != NULL);
    EXPECT_TRUE(strstr(env, ">AAECAwQFBgcICQoLDA0ODw==</wsse:Nonce>") != NULL);
    EXPECT_TRUE(strstr(env, "<wsu:Created>2024-01-01T00:00:00Z</wsu:Created>") != NULL);
    EXPECT_TRUE(strstr(env, "<wsse:Username>admin</wsse:Username>") != NULL);
    xmlDoc *doc = vg__xml_parse(env, strlen(env));
    EXPECT_TRUE(doc != NULL);
    xmlNode *op = body_op(doc);
    EXPECT_TRUE(op && strcmp((const char *)op->name, "ContinuousMove") == 0 &&
                strcmp((const char *)op->ns->href, "http://www.onvif.org/ver20/ptz/wsdl") == 0);
    xmlFreeDoc(doc);
    free(env);
    free(body);

    struct {
        char *body;
        const char *want;
    } cases[] = {
        {vg__onvif_stop("prof1"),
         "<tptz:Stop><tptz:ProfileToken>prof1</tptz:ProfileToken><tptz:PanTilt>true</tptz:PanTilt>"
         "<tptz:Zoom>true</tptz:Zoom></tptz:Stop>"},
        {vg__onvif_goto_preset("prof1", "3"),
         "<tptz:GotoPreset><tptz:ProfileToken>prof1</tptz:ProfileToken>"
         "<tptz:PresetToken>3</tptz:PresetToken></tptz:GotoPreset>"},
        {vg__onvif_set_preset("prof1", "Gate", "3"),
         "<tptz:SetPreset><tptz:ProfileToken>prof1</tptz:ProfileToken><tptz:PresetName>Gate"
         "</tptz:PresetName><tptz:PresetToken>3</tptz:PresetToken></tptz:SetPreset>"},
        {vg__onvif_get_presets("prof1"),
         "<tptz:GetPresets><tptz:ProfileToken>prof1</tptz:ProfileToken></tptz:GetPresets>"},
        {vg__onvif_remove_preset("prof1", "3"),
         "<tptz:RemovePreset><tptz:ProfileToken>prof1</tptz:ProfileToken>"
         "<tptz:PresetToken>3</tptz:PresetToken></tptz:RemovePreset>"},
        {vg__onvif_set_preset("a&b", "<x>", NULL),
         "<tptz:SetPreset><tptz:ProfileToken>a&amp;b</tptz:ProfileToken><tptz:PresetName>&lt;x&gt;"
         "</tptz:PresetName></tptz:SetPreset>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EXPECT_STREQ(cases[i].body, cases[i].want);
        free(cases[i].body);
    }
    char *anon = vg__onvif_envelope(NULL, NULL, nonce, "x", "<tds:GetSystemDateAndTime/>");
    EXPECT_TRUE(strstr(anon, "Security") == NULL);
    free(anon);
}

VG_TEST(onvif_replies)
{
    char err[256];
    xmlDoc *doc;
    const char *fault =
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
        "xmlns:ter=\"http://www.onvif.org/ver10/error\"><s:Body><s:Fault><s:Code>"
        "<s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:InvalidArgVal</s:Value>"
        "<s:Subcode><s:Value>ter:NoProfile</s:Value></s:Subcode></s:Subcode></s:Code>"
        "<s:Reason><s:Text xml:lang=\"en\">Argument Value Invalid</s:Text></s:Reason>"
        "</s:Fault></s:Body></s:Envelope>";
    EXPECT_TRUE(vg__onvif_response(fault, strlen(fault), "StopResponse", &doc, err,
                                   sizeof(err)) == NULL);
    EXPECT_STREQ(err, "ONVIF fault s:Sender/ter:InvalidArgVal/ter:NoProfile: Argument Value Invalid");
    xmlFreeDoc(doc);
    const char *ok = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
                     "xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" "
                     "xmlns:tt=\"http://www.onvif.org/ver10/schema\"><s:Body>"
                     "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                     "<tt:UTCDateTime><tt:Time><tt:Hour>12</tt:Hour><tt:Minute>30</tt:Minute>"
                     "<tt:Second>45</tt:Second></tt:Time><tt:Date><tt:Year>2024</tt:Year>"
                     "<tt:Month>8</tt:Month><tt:Day>17</tt:Day></tt:Date></tt:UTCDateTime>"
                     "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
                     "</s:Body></s:Envelope>";
    xmlNode *r = vg__onvif_response(ok, strlen(ok), "GetSystemDateAndTimeResponse", &doc, err,
                                    sizeof(err));
    EXPECT_TRUE(r != NULL);
    int64_t ms = 0;
    EXPECT_TRUE(vg__onvif_device_time(r, &ms));
    EXPECT_EQ(ms, 1723897845000LL); /* 2024-08-17T12:30:45Z */
    xmlFreeDoc(doc);
    EXPECT_TRUE(vg__onvif_response("nope", 4, "X", &doc, err, sizeof(err)) == NULL);
    xmlFreeDoc(doc);
    EXPECT_EQ(vg__onvif_preset_number("3"), 3);
    EXPECT_EQ(vg__onvif_preset_number("P003"), 3);
    EXPECT_EQ(vg__onvif_preset_number("Home"), 0);
    EXPECT_EQ(vg__onvif_preset_number("P000"), 0);
    EXPECT_EQ(vg__onvif_preset_number("999"), 0);
}
