/* frame: refcounts across threads, headroom, wrapped buffers. */
#include <pthread.h>
#include <stdatomic.h>

#include "core/frame.h"
#include "core/wire.h"
#include "vg_test.h"

static atomic_int released; /* the release may run on any thread */
static void on_release(void *opaque) { atomic_fetch_add(&released, *(int *)opaque); }

VG_TEST(new_has_headroom_and_payload)
{
    vg_frame_t *f = vg_frame_new(100);
    EXPECT_EQ(f->headroom, VG_FRAME_HEADROOM);
    EXPECT_EQ(f->len, 0);
    memset(f->data - VG_FRAME_HEADROOM, 0xab, VG_FRAME_HEADROOM + 100); /* ASan checks bounds */
    vg_frame_unref(&f);
    EXPECT_TRUE(f == NULL);
    vg_frame_unref(&f); /* NULL is fine */
}

VG_TEST(wrap_releases_once_on_last_unref)
{
    int weight = 1;
    atomic_store(&released, 0);
    uint8_t bytes[4] = {1, 2, 3, 4};
    vg_frame_t *f = vg_frame_wrap(bytes, sizeof(bytes), on_release, &weight);
    vg_frame_t *g = vg_frame_ref(f);
    vg_frame_unref(&f);
    EXPECT_EQ(atomic_load(&released), 0);
    vg_frame_unref(&g);
    EXPECT_EQ(atomic_load(&released), 1);
}

VG_TEST(derived_frame_released_with_parent)
{
    vg_frame_t *f = vg_frame_new(10);
    f->derived = vg_frame_new(20);
    vg_frame_unref(&f); /* LeakSanitizer fails the test if derived leaked */
}

enum { RACE_FRAMES = 20000, RACE_THREADS = 4 };
static pthread_barrier_t race_start;

/* All threads start together so that their unrefs of the same frames really overlap. */
static void *unref_many(void *arg)
{
    vg_frame_t **frames = arg;
    pthread_barrier_wait(&race_start);
    for (int i = 0; i < RACE_FRAMES; i++)
        vg_frame_unref(&frames[i]);
    return NULL;
}

VG_TEST(refs_dropped_on_other_threads)
{
    enum { N = RACE_FRAMES, T = RACE_THREADS };
    static vg_frame_t *per_thread[T][N];
    int weight = 1;
    atomic_store(&released, 0);
    pthread_barrier_init(&race_start, NULL, T);
    uint8_t byte = 0;
    vg_frame_t *shared[N];
    for (int i = 0; i < N; i++) {
        shared[i] = vg_frame_wrap(&byte, 1, on_release, &weight);
        for (int t = 0; t < T; t++)
            per_thread[t][i] = vg_frame_ref(shared[i]);
        vg_frame_unref(&shared[i]);
    }
    pthread_t th[T];
    for (int t = 0; t < T; t++)
        pthread_create(&th[t], NULL, unref_many, per_thread[t]);
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&race_start);
    EXPECT_EQ(atomic_load(&released), N); /* each frame released exactly once */
}

VG_TEST(wire_header_round_trip)
{
    vg_frame_meta_t m = {.codec = VG_CODEC_JPEG, .is_key = true, .seq = 0xdeadbeef,
                         .width = 1280, .height = 720, .capture_us = 1790000000123456,
                         .ingest_us = 1790000000123999, .tier = 2};
    uint8_t hdr[VG_WIRE_HDR_LEN];
    vg_wire_put_header(hdr, &m);
    EXPECT_EQ(hdr[0], 1);
    EXPECT_EQ(hdr[1], 32);
    EXPECT_EQ(hdr[8], 0x40); /* little-endian: lowest byte of capture_us first */
    vg_frame_meta_t back;
    EXPECT_EQ(vg_wire_parse_header(hdr, sizeof(hdr), &back), 32);
    EXPECT_EQ(back.seq, m.seq);
    EXPECT_EQ(back.capture_us, m.capture_us);
    EXPECT_EQ(back.ingest_us, m.ingest_us);
    EXPECT_EQ(back.width, 1280);
    EXPECT_EQ(back.height, 720);
    EXPECT_EQ(back.tier, 2);
    EXPECT_TRUE(back.is_key);
    hdr[0] = 2;
    EXPECT_TRUE(vg_wire_parse_header(hdr, sizeof(hdr), &back) < 0);
    hdr[0] = 1;
    EXPECT_TRUE(vg_wire_parse_header(hdr, 31, &back) < 0);
}
