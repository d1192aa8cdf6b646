/* access cache: the visibility rule, sessions and their overlays, keys — the decisions the
 * gate and every re-check of an open stream make, without a database. */
#include <stdlib.h>
#include <string.h>

#include "auth/cache.h"
#include "core/util.h"
#include "vg_test.h"

#define NOW 1000000000LL

static vg_access_t *world(void)
{
    vg_access_t *a = vg_xcalloc(1, sizeof(*a));
    static const vg_access_user_t users[] = {
        {.id = "ann", .role = "viewer", .tenant_id = "acme", .is_enabled = true},
        {.id = "bob", .role = "viewer", .is_enabled = true, .auth_epoch = 3},
        {.id = "off", .role = "admin", .is_enabled = false},
    };
    a->users = vg_xmalloc(sizeof(users));
    memcpy(a->users, users, sizeof(users));
    a->user_count = 3;
    static const vg_access_camera_t cams[] = {
        {.id = "a1", .site_id = "north", .site_tenant_id = "acme", .is_enabled = true},
        {.id = "b1", .site_id = "south", .is_enabled = true},
        {.id = "b2", .site_id = "south", .is_enabled = true},
        {.id = "c1", .site_id = "west", .is_enabled = false},
    };
    a->cameras = vg_xmalloc(sizeof(cams));
    memcpy(a->cameras, cams, sizeof(cams));
    a->camera_count = 4;
    static const vg_access_grant_t grants[] = {
        {.user_id = "bob", .camera_id = "b1"},
        {.tenant_id = "acme", .site_id = "west"},
    };
    a->grants = vg_xmalloc(sizeof(grants));
    memcpy(a->grants, grants, sizeof(grants));
    a->grant_count = 2;
    a->sessions = vg_xcalloc(2, sizeof(*a->sessions));
    a->session_count = 2;
    memset(a->sessions[0].hash, 0x11, VG_SESSION_HASH_LEN);
    vg_strlcpy(a->sessions[0].user_id, "ann", 64);
    a->sessions[0].expires_us = NOW + 100;
    memset(a->sessions[1].hash, 0x22, VG_SESSION_HASH_LEN);
    vg_strlcpy(a->sessions[1].user_id, "bob", 64);
    a->sessions[1].expires_us = NOW - 1; /* expired */
    a->keys = vg_xcalloc(1, sizeof(*a->keys));
    a->key_count = 1;
    memset(a->keys[0].hash, 0x33, VG_SESSION_HASH_LEN);
    vg_strlcpy(a->keys[0].id, "k1", 64);
    vg_strlcpy(a->keys[0].user_id, "bob", 64);
    a->keys[0].expires_us = NOW + 50;
    return a;
}

static void hash_of(uint8_t h[VG_SESSION_HASH_LEN], uint8_t byte)
{
    memset(h, byte, VG_SESSION_HASH_LEN);
}

static void count(const uint8_t h[VG_SESSION_HASH_LEN], void *arg)
{
    (void)h;
    (*(int *)arg)++;
}

VG_TEST(visibility_rule)
{
    vg_access_cache_t *c = vg_access_cache_new();
    EXPECT_TRUE(!vg_access_cache_is_loaded(c));
    EXPECT_TRUE(!vg_access_cache_visible(c, "bob", NULL, "b1")); /* nothing loaded: nothing */
    vg_access_cache_set(c, world());
    /* a camera granted to the user */
    EXPECT_TRUE(vg_access_cache_visible(c, "bob", NULL, "b1"));
    EXPECT_TRUE(!vg_access_cache_visible(c, "bob", NULL, "b2"));
    /* on a site the tenant owns; through a site granted to the tenant */
    EXPECT_TRUE(vg_access_cache_visible(c, "ann", "acme", "a1"));
    EXPECT_TRUE(vg_access_cache_visible(c, "ann", "acme", "c1"));
    EXPECT_TRUE(!vg_access_cache_visible(c, "ann", "acme", "b1"));
    /* empty ids match nothing (a grant's empty column is not a wildcard) */
    EXPECT_TRUE(!vg_access_cache_visible(c, "", "", "b2"));
    EXPECT_TRUE(!vg_access_cache_visible(c, NULL, NULL, "a1"));
    EXPECT_TRUE(!vg_access_cache_visible(c, "bob", NULL, "nope"));
    json_t *ids = vg_access_cache_visible_list(c, "ann", "acme");
    EXPECT_EQ(json_array_size(ids), 2);
    EXPECT_STREQ(json_string_value(json_array_get(ids, 0)), "a1");
    EXPECT_STREQ(json_string_value(json_array_get(ids, 1)), "c1");
    json_decref(ids);
    EXPECT_TRUE(vg_access_cache_camera(c, "c1") != NULL);
    EXPECT_TRUE(vg_access_cache_camera(c, "zz") == NULL);
    EXPECT_EQ(vg_access_cache_user(c, "bob")->auth_epoch, 3);
    EXPECT_TRUE(vg_access_cache_user(c, "carol") == NULL);
    vg_access_cache_free(&c);
    EXPECT_TRUE(c == NULL);
}

VG_TEST(sessions_expire_and_sign_out_at_once)
{
    vg_access_cache_t *c = vg_access_cache_new();
    vg_access_cache_set(c, world());
    uint8_t ann[VG_SESSION_HASH_LEN], bob[VG_SESSION_HASH_LEN], fresh[VG_SESSION_HASH_LEN];
    hash_of(ann, 0x11);
    hash_of(bob, 0x22);
    hash_of(fresh, 0x44);
    EXPECT_TRUE(vg_access_cache_session(c, ann, NOW) != NULL);
    EXPECT_TRUE(vg_access_cache_session(c, ann, NOW + 100) == NULL); /* at its expiry */
    EXPECT_TRUE(vg_access_cache_session(c, bob, NOW) == NULL);       /* expired */
    /* a session started here is seen before the next snapshot, and held by it */
    EXPECT_TRUE(vg_access_cache_session(c, fresh, NOW) == NULL);
    vg_access_cache_add_session(c, fresh, "bob", NOW + 1000);
    EXPECT_STREQ(vg_access_cache_session(c, fresh, NOW)->user_id, "bob");
    /* signed out: dead at once, even though the snapshot still has it */
    vg_access_cache_revoke_session(c, ann, NOW);
    EXPECT_TRUE(vg_access_cache_session(c, ann, NOW) == NULL);
    int unconfirmed = 0;
    vg_access_cache_each_unconfirmed(c, count, &unconfirmed);
    EXPECT_EQ(unconfirmed, 1);
    /* a snapshot read before the removal landed still has it: still refused */
    vg_access_cache_set(c, world());
    EXPECT_TRUE(vg_access_cache_session(c, ann, NOW) == NULL);
    /* confirmed, and a later snapshot without it: the overlay goes, the session stays dead */
    vg_access_cache_revoke_confirmed(c, ann);
    vg_access_t *after = world();
    after->sessions[0].expires_us = 0; /* gone from the database (expired stand-in) */
    vg_access_cache_set(c, after);
    EXPECT_TRUE(vg_access_cache_session(c, ann, NOW) == NULL);
    unconfirmed = 0;
    vg_access_cache_each_unconfirmed(c, count, &unconfirmed);
    EXPECT_EQ(unconfirmed, 0);
    vg_access_cache_free(&c);
}

VG_TEST(unconfirmed_sign_outs_are_forgotten_at_their_expiry)
{
    vg_access_cache_t *c = vg_access_cache_new();
    vg_access_cache_set(c, world());
    uint8_t ann[VG_SESSION_HASH_LEN];
    hash_of(ann, 0x11);
    vg_access_cache_revoke_session(c, ann, NOW);
    int n = 0;
    vg_access_cache_prune(c, NOW + 99);
    vg_access_cache_each_unconfirmed(c, count, &n);
    EXPECT_EQ(n, 1);
    n = 0;
    vg_access_cache_prune(c, NOW + 100); /* the session's own expiry */
    vg_access_cache_each_unconfirmed(c, count, &n);
    EXPECT_EQ(n, 0);
    vg_access_cache_free(&c);
}

VG_TEST(keys_by_hash_until_expiry)
{
    vg_access_cache_t *c = vg_access_cache_new();
    vg_access_cache_set(c, world());
    uint8_t k[VG_SESSION_HASH_LEN], other[VG_SESSION_HASH_LEN];
    hash_of(k, 0x33);
    hash_of(other, 0x34);
    EXPECT_STREQ(vg_access_cache_key(c, k, NOW)->id, "k1");
    EXPECT_TRUE(vg_access_cache_key(c, k, NOW + 50) == NULL);
    EXPECT_TRUE(vg_access_cache_key(c, other, NOW) == NULL);
    vg_access_cache_free(&c);
}
