/* admit: the source cap's choice (issue 18): a free place, a lingering source stopped first,
 * the lowest-priority and least-watched camera displaced by a higher one, always-on cameras
 * and equal ranks left alone. */
#include "media/admit.h"
#include "vg_test.h"

#define S(prio_, viewers_, pinned_, started_) \
    ((vg_admit_source_t){.priority = (prio_), .viewers = (viewers_), .is_pinned = (pinned_), \
                         .started_us = (started_)})

VG_TEST(a_place_is_free_below_the_cap_and_without_one)
{
    vg_admit_source_t run[2] = {S(0, 3, false, 1), S(0, 1, false, 2)};
    EXPECT_EQ(vg_admit_place(run, 2, 3, 0), VG_ADMIT_FREE);
    EXPECT_EQ(vg_admit_place(run, 2, 0, 0), VG_ADMIT_FREE); /* no cap */
    EXPECT_EQ(vg_admit_place(NULL, 0, 1, -1000), VG_ADMIT_FREE);
}

VG_TEST(equal_or_lower_priority_is_refused_at_the_cap)
{
    vg_admit_source_t run[2] = {S(5, 3, false, 1), S(5, 1, false, 2)};
    EXPECT_EQ(vg_admit_place(run, 2, 2, 5), VG_ADMIT_REFUSE);
    EXPECT_EQ(vg_admit_place(run, 2, 2, 4), VG_ADMIT_REFUSE);
    /* a cap lowered below what runs refuses too: nothing is displaced for an equal */
    EXPECT_EQ(vg_admit_place(run, 2, 1, 5), VG_ADMIT_REFUSE);
}

VG_TEST(a_higher_priority_displaces_the_lowest_then_least_watched_then_newest)
{
    vg_admit_source_t run[4] = {S(3, 1, false, 10), S(1, 9, false, 20), S(1, 2, false, 30),
                                S(1, 2, false, 40)};
    /* priority 1 is the lowest; of those, 2 viewers beat 9; of equal viewers the newest */
    EXPECT_EQ(vg_admit_place(run, 4, 4, 2), 3);
    run[3].viewers = 3;
    EXPECT_EQ(vg_admit_place(run, 4, 4, 2), 2);
    /* only strictly lower priorities may go: at 1 nothing is lower */
    EXPECT_EQ(vg_admit_place(run, 4, 4, 1), VG_ADMIT_REFUSE);
    /* at 4 the priority-3 camera could go too, but the lowest goes first */
    EXPECT_EQ(vg_admit_place(run, 4, 4, 4), 2);
}

VG_TEST(a_lingering_source_goes_first_whatever_its_priority)
{
    /* no viewer left on the high one: stopping it early costs nobody a picture */
    vg_admit_source_t run[3] = {S(0, 2, false, 1), S(100, 0, false, 2), S(0, 1, false, 3)};
    EXPECT_EQ(vg_admit_place(run, 3, 3, -5), 1);
    EXPECT_EQ(vg_admit_place(run, 3, 3, 50), 1);
    /* of two lingering, the lower priority */
    run[0].viewers = 0;
    EXPECT_EQ(vg_admit_place(run, 3, 3, 0), 0);
}

VG_TEST(always_on_cameras_hold_their_place)
{
    vg_admit_source_t run[2] = {S(-10, 0, true, 1), S(-10, 4, true, 2)};
    EXPECT_EQ(vg_admit_place(run, 2, 2, 1000), VG_ADMIT_REFUSE);
    run[1].is_pinned = false;
    EXPECT_EQ(vg_admit_place(run, 2, 2, 1000), 1);
}
