/* The PTZ control policy (ptz/ctl.h): lock, lease and queue as pure functions of time. */
#include <string.h>

#include "core/err.h"
#include "ptz/ctl.h"
#include "vg_test.h"

static const vg_ptz_who_t op1 = {.actor = "op1", .session = 0};
static const vg_ptz_who_t op2 = {.actor = "op2", .session = 0};
static const vg_ptz_who_t adm = {.actor = "admin", .is_admin = true};
static const vg_ptz_who_t ws7 = {.actor = "op1", .session = 7};

VG_TEST(lease_expires_into_a_stop)
{
    vg_ptz_policy_t s = {0};
    vg_ptz_verdict_t v;
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, -0.5, 0, 0, 1000, &v);
    EXPECT_TRUE(v.is_allowed && !v.is_refresh_only);
    vg_ptz_policy_sent(&s, -0.5, 0, 0, 1000);
    EXPECT_TRUE(!vg_ptz_policy_tick(&s, 1999));
    /* a refresh with the same speeds sends nothing and pushes the lease on */
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, -0.5, 0, 0, 1900, &v);
    EXPECT_TRUE(v.is_allowed && v.is_refresh_only);
    EXPECT_TRUE(!vg_ptz_policy_tick(&s, 2899));
    EXPECT_TRUE(vg_ptz_policy_tick(&s, 2900)); /* no refresh for 1 s: stop */
    EXPECT_TRUE(!s.is_moving);
    EXPECT_STREQ(vg_ptz_policy_holder(&s, 2900), ""); /* and the lock goes */
    EXPECT_TRUE(!vg_ptz_policy_tick(&s, 5000)); /* once */
}

VG_TEST(refresh_resends_when_old_or_changed)
{
    vg_ptz_policy_t s = {0};
    vg_ptz_verdict_t v;
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 0.3, 0, 0, 0, &v);
    vg_ptz_policy_sent(&s, 0.3, 0, 0, 0);
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 0.4, 0, 0, 500, &v);
    EXPECT_TRUE(!v.is_refresh_only); /* new speeds go out */
    vg_ptz_policy_sent(&s, 0.4, 0, 0, 500);
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 0.4, 0, 0, 1400, &v);
    EXPECT_TRUE(v.is_refresh_only);
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 0.4, 0, 0, 2300, &v);
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 0.4, 0, 0, 2500, &v);
    EXPECT_TRUE(!v.is_refresh_only); /* 2 s since the last send: again */
}

VG_TEST(lock_refuses_others_and_admin_takes_over)
{
    vg_ptz_policy_t s = {0};
    vg_ptz_verdict_t v;
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 1, 0, 0, 0, &v);
    EXPECT_TRUE(v.is_allowed);
    vg_ptz_policy_command(&s, &op2, VG_PTZ_MOVE, -1, 0, 0, 100, &v);
    EXPECT_TRUE(!v.is_allowed);
    EXPECT_STREQ(v.other, "op1");
    vg_ptz_policy_command(&s, &op2, VG_PTZ_STOP, 0, 0, 0, 100, &v);
    EXPECT_TRUE(!v.is_allowed); /* not even a stop: it is op1's camera now */
    vg_ptz_policy_command(&s, &op2, VG_PTZ_STATUS, 0, 0, 0, 100, &v);
    EXPECT_TRUE(v.is_allowed); /* reads need no lock */
    vg_ptz_policy_command(&s, &adm, VG_PTZ_GOTO, 0, 0, 0, 200, &v);
    EXPECT_TRUE(v.is_allowed && v.is_takeover);
    EXPECT_STREQ(v.other, "op1");
    EXPECT_STREQ(vg_ptz_policy_holder(&s, 200), "admin");
    EXPECT_TRUE(!s.is_moving); /* a preset recall ends the continuous move */
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 1, 0, 0, 300, &v);
    EXPECT_TRUE(!v.is_allowed);
    /* idle: the admin's lock lapses after VG_PTZ_LOCK_IDLE_MS */
    EXPECT_STREQ(vg_ptz_policy_holder(&s, 200 + VG_PTZ_LOCK_IDLE_MS), "");
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 1, 0, 0, 200 + VG_PTZ_LOCK_IDLE_MS, &v);
    EXPECT_TRUE(v.is_allowed);
}

VG_TEST(stop_releases_the_lock)
{
    vg_ptz_policy_t s = {0};
    vg_ptz_verdict_t v;
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 1, 0, 0, 0, &v);
    vg_ptz_policy_command(&s, &op1, VG_PTZ_MOVE, 0, 0, 0, 100, &v); /* all zero is a stop */
    EXPECT_TRUE(v.is_allowed && !s.is_moving);
    EXPECT_STREQ(vg_ptz_policy_holder(&s, 100), "");
    vg_ptz_policy_command(&s, &op2, VG_PTZ_MOVE, 1, 0, 0, 150, &v);
    EXPECT_TRUE(v.is_allowed);
}

VG_TEST(websocket_close_stops_its_move)
{
    vg_ptz_policy_t s = {0};
    vg_ptz_verdict_t v;
    vg_ptz_policy_command(&s, &ws7, VG_PTZ_MOVE, 0, 1, 0, 0, &v);
    EXPECT_TRUE(!vg_ptz_policy_session_closed(&s, 8)); /* another socket */
    EXPECT_TRUE(vg_ptz_policy_session_closed(&s, 7));
    EXPECT_TRUE(!s.is_moving);
    EXPECT_STREQ(vg_ptz_policy_holder(&s, 1), "");
    EXPECT_TRUE(!vg_ptz_policy_session_closed(&s, 0)); /* REST has no session */
}

static vg_ptz_cmd_t cmd(vg_ptz_op_t op, double pan)
{
    vg_ptz_cmd_t c = {.op = op, .pan = pan};
    return c;
}

VG_TEST(queue_coalesces_moves_and_keeps_stops)
{
    vg_ptz_queue_t q = {0};
    vg_ptz_cmd_t old, out;
    bool has_old;
    vg_ptz_cmd_t m1 = cmd(VG_PTZ_MOVE, 0.1), m2 = cmd(VG_PTZ_MOVE, 0.2), st = cmd(VG_PTZ_STOP, 0);
    EXPECT_EQ(vg_ptz_queue_push(&q, &m1, &old, &has_old), 0);
    EXPECT_TRUE(!has_old);
    EXPECT_EQ(vg_ptz_queue_push(&q, &m2, &old, &has_old), 0);
    EXPECT_TRUE(has_old && old.pan == 0.1); /* the newer move replaced it */
    EXPECT_EQ(q.count, 1);
    EXPECT_EQ(vg_ptz_queue_push(&q, &st, &old, &has_old), 0);
    EXPECT_TRUE(has_old && old.op == VG_PTZ_MOVE); /* a stop replaces a waiting move */
    EXPECT_EQ(vg_ptz_queue_push(&q, &m1, &old, &has_old), 0);
    EXPECT_TRUE(!has_old); /* a move never replaces a stop */
    EXPECT_EQ(q.count, 2);
    EXPECT_TRUE(vg_ptz_queue_pop(&q, &out) && out.op == VG_PTZ_STOP);
    EXPECT_TRUE(vg_ptz_queue_pop(&q, &out) && out.op == VG_PTZ_MOVE);
    EXPECT_TRUE(!vg_ptz_queue_pop(&q, &out));
}

VG_TEST(full_queue_still_takes_a_stop)
{
    vg_ptz_queue_t q = {0};
    vg_ptz_cmd_t old;
    bool has_old;
    for (int i = 0; i < VG_PTZ_QUEUE_MAX; i++) {
        vg_ptz_cmd_t g = {.op = VG_PTZ_GOTO, .number = i + 1};
        EXPECT_EQ(vg_ptz_queue_push(&q, &g, &old, &has_old), 0);
    }
    vg_ptz_cmd_t g = {.op = VG_PTZ_GOTO, .number = 99};
    EXPECT_EQ(vg_ptz_queue_push(&q, &g, &old, &has_old), VG_EFULL);
    vg_ptz_cmd_t st = cmd(VG_PTZ_STOP, 0);
    EXPECT_EQ(vg_ptz_queue_push(&q, &st, &old, &has_old), 0);
    EXPECT_TRUE(has_old && old.number == VG_PTZ_QUEUE_MAX);
    vg_ptz_cmd_t out;
    int n = 0, last = -1;
    while (vg_ptz_queue_pop(&q, &out)) {
        n++;
        last = out.op;
    }
    EXPECT_EQ(n, VG_PTZ_QUEUE_MAX);
    EXPECT_EQ(last, VG_PTZ_STOP);
}
