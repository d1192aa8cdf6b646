/* offline: the "camera offline" card. While a camera is down its JPEG viewers get, once a
 * second, a rendered picture saying why and since when instead of a frozen last picture. It
 * changes only with its size or text, so it is encoded on the uv pool (never on the loop)
 * once per size and text, and the loop resends the cached one with a new header each second.
 * It is the size of the smallest watched tier, at most 640x360: a viewer's picture element
 * scales it, and a 4K native tier must not cost a 4K encode. */
#include "media/stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "core/wire.h"
#include "media/card.h"
#include "media/stream_int.h"

bool vg__stream_is_down(const vg_stream_t *st)
{
    return st->state == VG_STREAM_BACKOFF || st->state == VG_STREAM_STALLED ||
           st->state == VG_STREAM_FAILED ||
           (st->state == VG_STREAM_CONNECTING && st->attempts > 0);
}

/* While a camera is down, JPEG viewers get a rendered "camera offline" picture once a second
 * instead of a frozen last picture. It says why and since when, so it changes only with
 * its size or text: it is JPEG-encoded on the uv pool, never on the loop (issue 12), once
 * per size and text, and the loop resends the cached one each second with a new header.
 * The card is the size of the smallest watched tier, at most 640x360 (a viewer's picture
 * element scales it; a 4K native tier must not cost a 4K encode). */
#define CARD_LINES 5

typedef struct card_job {
    uv_work_t req;
    vg_stream_t *st;
    int width, height;
    char *lines[CARD_LINES]; /* copies: the pool thread must not read loop-owned strings */
    int64_t since_us;
    char *key;
    vg_frame_t *out; /* pool thread, then loop */
} card_job_t;

static void card_job_free(card_job_t *job)
{
    for (int i = 0; i < CARD_LINES; i++)
        free(job->lines[i]);
    free(job->key);
    vg_frame_unref(&job->out);
    free(job);
}

static void on_card_work(uv_work_t *req) /* uv pool thread */
{
    card_job_t *job = req->data;
    if (vg_card_render(&job->out, job->width, job->height, 75, (const char *const *)job->lines,
                       CARD_LINES, job->since_us) < 0)
        job->out = NULL;
}

/* Each watched tier gets a copy of the cached card with its own header. Loop thread. */
static void card_send(vg_stream_t *st)
{
    vg_frame_t *card = st->card;
    int64_t now = vg_wall_us();
    st->card_seq++;
    for (int tier = 0; tier < st->tier_count; tier++) {
        if (st->consumer_count[tier] == 0)
            continue;
        vg_frame_t *f = vg_frame_new(card->len);
        memcpy(f->data, card->data, card->len);
        f->len = card->len;
        f->meta = card->meta;
        f->meta.seq = st->card_seq;
        f->meta.is_placeholder = true;
        f->meta.capture_us = f->meta.ingest_us = now;
        f->meta.tier = tier;
        vg_wire_put_header(f->data - VG_WIRE_HDR_LEN, &f->meta);
        vg__stream_fanout(st, tier, f);
        vg_frame_unref(&f);
    }
}

static void on_card_done(uv_work_t *req, int status) /* loop thread */
{
    card_job_t *job = req->data;
    vg_stream_t *st = job->st;
    st->is_card_encoding = false;
    if (status == 0 && job->out != NULL) {
        vg_frame_unref(&st->card);
        free(st->card_key);
        st->card = job->out;
        st->card_key = job->key;
        job->out = NULL;
        job->key = NULL;
        if (!st->is_removed && !st->hub->is_closing && vg__stream_is_down(st))
            card_send(st); /* the tick that asked for it sent nothing */
    }
    card_job_free(job);
    vg__stream_release(st); /* the job held the stream like a handle */
}

void vg__stream_on_card(uv_timer_t *t)
{
    vg_stream_t *st = t->data;
    if (!vg__stream_is_down(st)) {
        uv_timer_stop(t);
        return;
    }
    int w = CARD_MAX_WIDTH, h = CARD_MAX_HEIGHT, watched = 0;
    for (int tier = 0; tier < st->tier_count; tier++) {
        if (st->consumer_count[tier] == 0)
            continue;
        watched++;
        const vg_tier_t *tr = &st->tiers[tier];
        if (tr->width > 0 && tr->height > 0 && tr->width <= w && tr->height <= h) {
            w = tr->width;
            h = tr->height;
        }
    }
    if (watched == 0)
        return;
    if (st->down_since_us == 0) /* down from the start: since it has been in this state */
        st->down_since_us = st->state_since_us ? st->state_since_us : vg_wall_us();
    const char *lines[CARD_LINES] = {
        "CAMERA OFFLINE",
        st->state == VG_STREAM_FAILED ? "FAILED, RETRYING" : "RECONNECTING",
        st->reason, /* the card cuts long lines itself */
        st->name,
        "DOWN SINCE", /* the card's last line: the time */
    };
    char key[512];
    snprintf(key, sizeof(key), "%dx%d|%s|%s|%s|%lld", w & ~1, h & ~1, lines[1], lines[2],
             lines[3], (long long)st->down_since_us);
    if (st->card != NULL && strcmp(key, st->card_key) == 0) {
        card_send(st);
        return;
    }
    if (st->is_card_encoding)
        return; /* the next tick looks again */
    card_job_t *job = vg_xcalloc(1, sizeof(*job));
    job->req.data = job;
    job->st = st;
    job->width = w & ~1;
    job->height = h & ~1;
    for (int i = 0; i < CARD_LINES; i++)
        job->lines[i] = vg_xstrdup(lines[i]);
    job->since_us = st->down_since_us;
    job->key = vg_xstrdup(key);
    if (uv_queue_work(st->hub->loop, &job->req, on_card_work, on_card_done) != 0) {
        card_job_free(job);
        return;
    }
    st->is_card_encoding = true;
    st->handles_open++; /* the stream and the hub wait for the job as for a handle */
    st->hub->handles_open++;
}
