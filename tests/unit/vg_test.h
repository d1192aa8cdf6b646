/* A tiny unit-test harness: one binary per test file, each VG_TEST registered at load time
 * and run in order; EXPECT_* print both values and the line, and mark the test failed.
 * Link with the vigil static library. */
#ifndef VG_TEST_H
#define VG_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*vg_test_fn)(void);
void vg__test_register(const char *name, vg_test_fn fn);
extern int vg__test_failed;

#define VG_TEST(name)                                                                         \
    static void test_##name(void);                                                           \
    __attribute__((constructor)) static void register_##name(void)                           \
    {                                                                                         \
        vg__test_register(#name, test_##name);                                                \
    }                                                                                         \
    static void test_##name(void)

#define EXPECT_TRUE(c)                                                                        \
    do {                                                                                      \
        if (!(c)) {                                                                           \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #c);                  \
            vg__test_failed = 1;                                                              \
        }                                                                                     \
    } while (0)

#define EXPECT_EQ(a, b)                                                                       \
    do {                                                                                      \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                 \
        if (va_ != vb_) {                                                                     \
            fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b,     \
                    va_, vb_);                                                                \
            vg__test_failed = 1;                                                              \
        }                                                                                     \
    } while (0)

#define EXPECT_STREQ(a, b)                                                                    \
    do {                                                                                      \
        const char *sa_ = (a), *sb_ = (b);                                                    \
        if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0) {                            \
            fprintf(stderr, "%s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b, \
                    sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                              \
            vg__test_failed = 1;                                                              \
        }                                                                                     \
    } while (0)

#endif
