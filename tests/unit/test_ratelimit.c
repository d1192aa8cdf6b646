/* ratelimit: the login backoff policy (a pure function of counter and time: no sleeping)
 * and the client address behind trusted proxies. */
#include "auth/ratelimit.h"
#include "vg_test.h"

#define S 1000000LL

static const vg_backoff_policy_t p = {.free_failures = 5, .first_wait_s = 1, .cap_s = 30,
                                      .forget_s = 900};

VG_TEST(free_failures_then_doubling_to_a_cap)
{
    EXPECT_EQ(vg_backoff_wait_us(&p, 0, 0, 0), 0);
    EXPECT_EQ(vg_backoff_wait_us(&p, 4, 100 * S, 100 * S), 0);
    EXPECT_EQ(vg_backoff_wait_us(&p, 5, 100 * S, 100 * S), 1 * S);
    EXPECT_EQ(vg_backoff_wait_us(&p, 6, 100 * S, 100 * S), 2 * S);
    EXPECT_EQ(vg_backoff_wait_us(&p, 7, 100 * S, 100 * S), 4 * S);
    EXPECT_EQ(vg_backoff_wait_us(&p, 9, 100 * S, 100 * S), 16 * S);
    EXPECT_EQ(vg_backoff_wait_us(&p, 10, 100 * S, 100 * S), 30 * S); /* capped, not 32 */
    EXPECT_EQ(vg_backoff_wait_us(&p, 1000, 100 * S, 100 * S), 30 * S);
    /* the wait runs from the last failure */
    EXPECT_EQ(vg_backoff_wait_us(&p, 7, 100 * S, 103 * S), 1 * S);
    EXPECT_EQ(vg_backoff_wait_us(&p, 7, 100 * S, 104 * S), 0);
    /* never a lock-out: at most the cap after any number of failures */
    EXPECT_EQ(vg_backoff_wait_us(&p, 1000, 100 * S, 130 * S), 0);
    /* forgotten after a quiet period */
    EXPECT_EQ(vg_backoff_wait_us(&p, 1000, 100 * S, 1000 * S), 0);
}

VG_TEST(table_counts_per_key_and_clears)
{
    vg_ratelimit_t *r = vg_ratelimit_new(4);
    for (int i = 0; i < 5; i++)
        vg_ratelimit_fail(r, "u:admin@10.0.0.9", 10 * S);
    EXPECT_EQ(vg_ratelimit_wait_s(r, &p, "u:admin@10.0.0.9", 10 * S), 1);
    EXPECT_EQ(vg_ratelimit_wait_s(r, &p, "u:admin@10.0.0.8", 10 * S), 0); /* the owner */
    vg_ratelimit_clear(r, "u:admin@10.0.0.9");
    EXPECT_EQ(vg_ratelimit_wait_s(r, &p, "u:admin@10.0.0.9", 10 * S), 0);
    /* more keys than slots: the idlest is reused, memory stays bounded */
    for (int i = 0; i < 100; i++) {
        char key[32];
        snprintf(key, sizeof(key), "a:10.0.%d.1", i);
        vg_ratelimit_fail(r, key, (10 + i) * S);
    }
    vg_ratelimit_free(&r);
    EXPECT_TRUE(r == NULL);
}

VG_TEST(client_address_behind_trusted_proxies)
{
    vg_cidr_t nets[2];
    EXPECT_EQ(vg_cidr_parse("127.0.0.1", &nets[0]), 0);
    EXPECT_EQ(vg_cidr_parse("10.0.0.0/8", &nets[1]), 0);
    EXPECT_TRUE(vg_cidr_parse("10.0.0.0/33", &nets[1]) < 0);
    EXPECT_TRUE(vg_cidr_parse("nonsense", &nets[1]) < 0);
    EXPECT_TRUE(vg_cidr_parse("10.0.0.0/", &nets[1]) < 0);
    EXPECT_EQ(vg_cidr_parse("10.0.0.0/8", &nets[1]), 0);
    EXPECT_TRUE(vg_cidr_contains(nets, 2, "10.200.3.4"));
    EXPECT_TRUE(!vg_cidr_contains(nets, 2, "11.0.0.1"));
    char out[64];
    /* from an untrusted peer the header is ignored */
    vg_client_ip(nets, 2, "192.0.2.7", "203.0.113.5", out, sizeof(out));
    EXPECT_STREQ(out, "192.0.2.7");
    /* through a trusted proxy: the rightmost address that is not one */
    vg_client_ip(nets, 2, "127.0.0.1", "1.2.3.4, 203.0.113.5, 10.1.1.1", out, sizeof(out));
    EXPECT_STREQ(out, "203.0.113.5");
    /* a forged leftmost entry does not win */
    vg_client_ip(nets, 2, "127.0.0.1", "6.6.6.6,203.0.113.5", out, sizeof(out));
    EXPECT_STREQ(out, "203.0.113.5");
    /* garbage stops the walk at the last good hop */
    vg_client_ip(nets, 2, "127.0.0.1", "evil, 10.9.9.9", out, sizeof(out));
    EXPECT_STREQ(out, "10.9.9.9");
    /* no proxies configured: the peer */
    vg_client_ip(nets, 0, "127.0.0.1", "203.0.113.5", out, sizeof(out));
    EXPECT_STREQ(out, "127.0.0.1");
    /* IPv6 */
    vg_cidr_t v6;
    EXPECT_EQ(vg_cidr_parse("::1", &v6), 0);
    vg_client_ip(&v6, 1, "::1", "2001:db8::7", out, sizeof(out));
    EXPECT_STREQ(out, "2001:db8::7");
}
