/* Tests for net/rtsp_reply (being written). */
#include "net/rtsp_reply.h"
#include "vg_test.h"

VG_TEST(placeholder_reply_parse_needs_more_on_empty)
{
    static vg_rtsp_reply_t r;
    EXPECT_EQ(vg_rtsp_reply_parse((const uint8_t *)"", 0, &r).kind, VG_RTSPR_NEED_MORE);
}
