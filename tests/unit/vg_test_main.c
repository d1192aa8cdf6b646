/* Runs every VG_TEST in this binary; exit status 1 if any failed. */
#include "vg_test.h"

#define VG_TEST_MAX 256

int vg__test_failed;
static struct {
    const char *name;
    vg_test_fn fn;
} tests[VG_TEST_MAX];
static int test_count;

void vg__test_register(const char *name, vg_test_fn fn)
{
    if (test_count == VG_TEST_MAX) {
        fprintf(stderr, "too many tests\n");
        abort();
    }
    tests[test_count].name = name;
    tests[test_count].fn = fn;
    test_count++;
}

int main(int argc, char **argv)
{
    int failed = 0;
    for (int i = 0; i < test_count; i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
            continue;
        vg__test_failed = 0;
        tests[i].fn();
        printf("%s %s\n", vg__test_failed ? "FAIL" : "ok  ", tests[i].name);
        failed += vg__test_failed;
    }
    printf("%d passed, %d failed\n", test_count - failed, failed);
    return failed ? 1 : 0;
}
