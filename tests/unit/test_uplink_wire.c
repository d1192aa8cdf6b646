/* uplink_wire: the frames and the hello of an edge's uplink (issue 18): the head round-trips,
 * malformed frames are refused, and a hello is refused when its camera ids could not become
 * ids at the central. */
#include <string.h>

#include "core/err.h"
#include "fleet/uplink_wire.h"
#include "vg_test.h"

VG_TEST(a_frame_head_round_trips_and_bad_frames_are_refused)
{
    uint8_t buf[16];
    vg_uplink_frame_head(buf, 0x01020304u, VG_UPLINK_DATA);
    memcpy(buf + VG_UPLINK_HEAD, "abc", 3);
    vg_uplink_frame_t f;
    EXPECT_EQ(vg_uplink_frame_parse(buf, VG_UPLINK_HEAD + 3, &f), 0);
    EXPECT_EQ(f.channel, 0x01020304u);
    EXPECT_EQ(f.kind, VG_UPLINK_DATA);
    EXPECT_EQ(f.len, 3);
    EXPECT_TRUE(memcmp(f.payload, "abc", 3) == 0);
    EXPECT_EQ(vg_uplink_frame_parse(buf, 4, &f), VG_EINVAL); /* too short */
    buf[4] = 9;
    EXPECT_EQ(vg_uplink_frame_parse(buf, VG_UPLINK_HEAD, &f), VG_EINVAL); /* unknown kind */
    buf[4] = VG_UPLINK_OPEN;
    EXPECT_EQ(vg_uplink_frame_parse(buf, VG_UPLINK_HEAD, &f), 0);
    EXPECT_EQ(vg_uplink_frame_parse(buf, VG_UPLINK_HEAD + 1, &f), VG_EINVAL); /* open + data */
}

VG_TEST(a_hello_names_the_site_and_cameras_that_can_be_ids_at_the_central)
{
    static vg_uplink_hello_t h;
    char why[120];
    const char *ok = "{\"type\":\"hello\",\"site\":\"north\",\"token\":\"vu_1\","
                     "\"cameras\":[{\"id\":\"door\",\"name\":\"Front door\"},{\"id\":\"yard\"}]}";
    EXPECT_EQ(vg_uplink_hello_parse(ok, strlen(ok), &h, why, sizeof(why)), 0);
    EXPECT_STREQ(h.site, "north");
    EXPECT_EQ(h.camera_count, 2);
    EXPECT_STREQ(h.cameras[0].name, "Front door");
    EXPECT_STREQ(h.cameras[1].name, "yard"); /* no name: its id */
    static const char *const bad[] = {
        "not json",
        "{\"type\":\"bye\",\"site\":\"north\",\"token\":\"t\",\"cameras\":[]}",
        "{\"type\":\"hello\",\"site\":\"North!\",\"token\":\"t\",\"cameras\":[]}",
        "{\"type\":\"hello\",\"site\":\"north\",\"cameras\":[]}",
        "{\"type\":\"hello\",\"site\":\"north\",\"token\":\"t\",\"cameras\":[{\"id\":\"a/b\"}]}",
        /* "north-" + 58 characters is 64: one too many for an id */
        "{\"type\":\"hello\",\"site\":\"north\",\"token\":\"t\",\"cameras\":[{\"id\":"
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        EXPECT_EQ(vg_uplink_hello_parse(bad[i], strlen(bad[i]), &h, why, sizeof(why)),
                  VG_EINVAL);
        EXPECT_TRUE(why[0] != '\0');
    }
    /* 57 characters fit */
    const char *edge = "{\"type\":\"hello\",\"site\":\"north\",\"token\":\"t\",\"cameras\":[{\"id\":"
                       "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}";
    EXPECT_EQ(vg_uplink_hello_parse(edge, strlen(edge), &h, why, sizeof(why)), 0);
}
