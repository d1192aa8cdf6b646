/* util: parsers that take untrusted input. */
#include "core/err.h"
#include "core/util.h"
#include "vg_test.h"

VG_TEST(parse_int_checks_range_and_junk)
{
    long long v;
    EXPECT_EQ(vg_parse_int("42", 0, 100, &v), 0);
    EXPECT_EQ(v, 42);
    EXPECT_EQ(vg_parse_int("101", 0, 100, &v), VG_EINVAL);
    EXPECT_EQ(vg_parse_int("4x", 0, 100, &v), VG_EINVAL);
    EXPECT_EQ(vg_parse_int("", 0, 100, &v), VG_EINVAL);
    EXPECT_EQ(vg_parse_int("99999999999999999999999", 0, 100, &v), VG_EINVAL);
}

VG_TEST(query_get_decodes_and_bounds)
{
    char buf[16];
    EXPECT_EQ(vg_query_get("width=640&height=360", "height", buf, sizeof(buf)), 3);
    EXPECT_STREQ(buf, "360");
    EXPECT_EQ(vg_query_get("a=x%20y+z", "a", buf, sizeof(buf)), 5);
    EXPECT_STREQ(buf, "x y z");
    EXPECT_EQ(vg_query_get("a=1", "b", buf, sizeof(buf)), VG_ENOENT);
    EXPECT_EQ(vg_query_get("aa=1", "a", buf, sizeof(buf)), VG_ENOENT);
    EXPECT_EQ(vg_query_get("a=%4", "a", buf, sizeof(buf)), VG_EINVAL);
    EXPECT_EQ(vg_query_get("a=%zz", "a", buf, sizeof(buf)), VG_EINVAL);
    EXPECT_EQ(vg_query_get("a=0123456789abcdefg", "a", buf, sizeof(buf)), VG_EINVAL);
}

VG_TEST(slugs)
{
    EXPECT_TRUE(vg_slug_is_valid("porch-1"));
    EXPECT_TRUE(!vg_slug_is_valid(""));
    EXPECT_TRUE(!vg_slug_is_valid("-x"));
    EXPECT_TRUE(!vg_slug_is_valid("Porch"));
    EXPECT_TRUE(!vg_slug_is_valid("a/b"));
}

VG_TEST(url_redact_drops_credentials)
{
    char out[128];
    vg_url_redact("rtsp://admin:s3cret@10.0.0.5:554/stream1", out, sizeof(out));
    EXPECT_STREQ(out, "rtsp://10.0.0.5:554/stream1");
    vg_url_redact("rtsp://u:p@ss@host/x?a=b@c", out, sizeof(out));
    EXPECT_STREQ(out, "rtsp://host/x?a=b@c");
    vg_url_redact("http://cam/snap.jpg", out, sizeof(out));
    EXPECT_STREQ(out, "http://cam/snap.jpg");
    vg_url_redact("rtsp://user:pw@h", out, 9);
    EXPECT_STREQ(out, "rtsp://h");
}

VG_TEST(url_credentials_are_encoded)
{
    char out[128];
    EXPECT_EQ(vg_url_with_credentials("rtsp://old:x@cam:554/s", "admin", "p@ss:w/rd", out,
                                      sizeof(out)), 0);
    EXPECT_STREQ(out, "rtsp://admin:p%40ss%3Aw%2Frd@cam:554/s");
    EXPECT_EQ(vg_url_with_credentials("rtsp://cam/s", "u", NULL, out, sizeof(out)), 0);
    EXPECT_STREQ(out, "rtsp://u@cam/s");
    EXPECT_EQ(vg_url_with_credentials("nourl", "u", "p", out, sizeof(out)), VG_EINVAL);
    EXPECT_EQ(vg_url_with_credentials("rtsp://cam/s", "u", "p", out, 12), VG_EINVAL);
}

VG_TEST(query_remove_matches_whole_names)
{
    char q1[] = "transport=udp&rtsp_transport=x&a=1";
    vg_query_remove(q1, "transport");
    EXPECT_STREQ(q1, "rtsp_transport=x&a=1");
    char q2[] = "rtsp_transport=x&transport=tcp";
    vg_query_remove(q2, "transport");
    EXPECT_STREQ(q2, "rtsp_transport=x");
    char q3[] = "transport=udp";
    vg_query_remove(q3, "transport");
    EXPECT_STREQ(q3, "");
    char q4[] = "a=1&transport=udp&b=2&transport=tcp";
    vg_query_remove(q4, "transport");
    EXPECT_STREQ(q4, "a=1&b=2");
}

VG_TEST(parse_time_unix_ms_and_rfc3339)
{
    int64_t us = 0;
    EXPECT_EQ(vg_parse_time("1764915762728", &us), 0);
    EXPECT_EQ(us, 1764915762728000LL);
    /* date -u -d @1764915762.728 +%FT%T.%3NZ → 2025-12-05T06:22:42.728Z */
    EXPECT_EQ(vg_parse_time("2025-12-05T06:22:42.728Z", &us), 0);
    EXPECT_EQ(us, 1764915762728000LL);
    EXPECT_EQ(vg_parse_time("2025-12-05T07:22:42.728+01:00", &us), 0);
    EXPECT_EQ(us, 1764915762728000LL);
    EXPECT_EQ(vg_parse_time("2025-12-05t01:52:42.728123-04:30", &us), 0);
    EXPECT_EQ(us, 1764915762728123LL);
    EXPECT_EQ(vg_parse_time("1970-01-01T00:00:00Z", &us), 0);
    EXPECT_EQ(us, 0);
    EXPECT_EQ(vg_parse_time("2024-02-29T12:00:00Z", &us), 0);
    EXPECT_EQ(us, 1709208000000000LL);
    const char *bad[] = {"", "abc", "-5", "2025-12-05", "2025-12-05T06:22:42", "2025-13-01T00:00:00Z",
                         "2023-02-29T00:00:00Z", "2025-12-05T24:00:00Z", "2025-12-05T06:22:42.Z",
                         "2025-12-05T06:22:42Zjunk", "2025-12-05T06:22:42+1:00",
                         "99999999999999999999", "1e9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (vg_parse_time(bad[i], &us) != VG_EINVAL) {
            fprintf(stderr, "accepted '%s'\n", bad[i]);
            vg__test_failed = 1;
        }
    }
}
