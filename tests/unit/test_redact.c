/* redact: the one rule for what a non-admin sees of a camera (api/api.h). Its addresses go,
 * and their hosts go from every reason too, as whole names only. */
#include <jansson.h>
#include <stdlib.h>

#include "api/api.h"
#include "vg_test.h"

static const char *str_at(json_t *doc, const char *a, const char *b)
{
    json_t *v = json_object_get(doc, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

VG_TEST(addresses_and_their_hosts_go)
{
    json_t *doc = json_loads(
        "{\"id\":\"gate\",\"url\":\"rtsp://cam7.site.lan:554/x\","
        "\"snapshot_url\":\"http://10.0.0.1/s.jpg\",\"username\":\"op\",\"owner\":\"api\","
        "\"reason\":\"cannot resolve cam7.site.lan: Name or service not known\","
        "\"live\":{\"url\":\"rtsp://cam7.site.lan:554/x\",\"health\":{\"reason\":"
        "\"no answer from 10.0.0.1 (not 10.0.0.10)\"}}}",
        0, NULL);
    vg__api_redact_camera(doc);
    EXPECT_TRUE(json_object_get(doc, "url") == NULL);
    EXPECT_TRUE(json_object_get(doc, "snapshot_url") == NULL);
    EXPECT_TRUE(json_object_get(doc, "username") == NULL);
    EXPECT_TRUE(json_object_get(json_object_get(doc, "live"), "url") == NULL);
    EXPECT_STREQ(str_at(doc, "reason", NULL),
                 "cannot resolve (camera): Name or service not known");
    EXPECT_STREQ(json_string_value(json_object_get(
                     json_object_get(json_object_get(doc, "live"), "health"), "reason")),
                 "no answer from (camera) (not 10.0.0.10)");
    EXPECT_STREQ(str_at(doc, "id", NULL), "gate");
    json_decref(doc);
}

VG_TEST(a_short_host_is_replaced_as_a_name_only)
{
    /* A one-letter host: replaced where it stands alone, never inside words. (A first
     * version sized its buffer at twice the text and replaced every substring: each hit of
     * "a" adds 7 bytes: 22 hits here need 212 bytes of its 146.) */
    json_t *doc = json_loads("{\"url\":\"rtsp://a:554/x\",\"reason\":"
                             "\"a a a a a a a a a a a a a a a a: cannot reach a, a camera\"}",
                             0, NULL);
    vg__api_redact_camera(doc);
    EXPECT_STREQ(str_at(doc, "reason", NULL),
                 "(camera) (camera) (camera) (camera) (camera) (camera) (camera) (camera) "
                 "(camera) (camera) (camera) (camera) (camera) (camera) (camera) (camera): "
                 "cannot reach (camera), (camera) camera");
    json_decref(doc);
}
