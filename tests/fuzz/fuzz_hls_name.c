/* libFuzzer target: the LL-HLS names and query a player sends (vg_hlsw_parse_name,
 * vg_hlsw_find, the query carried into vg_hlsw_playlist). The input is "<name>\n<query>".
 * Checks: a name that parses prints back to itself (one name per resource, no overflow), a
 * lookup never hands out references it does not own, and a query the playlist accepts
 * cannot add or break a line of it. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/hls_window.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char *query = strchr(s, '\n');
    if (query != NULL)
        *query++ = '\0';

    vg_hlsw_name_t n;
    if (vg_hlsw_parse_name(s, &n) == 0) {
        char again[64];
        if (n.kind == VG_HLSW_NAME_INIT)
            snprintf(again, sizeof(again), "init%" PRIu64 ".mp4", n.number);
        else if (n.kind == VG_HLSW_NAME_SEGMENT)
            snprintf(again, sizeof(again), "seg%" PRIu64 ".m4s", n.number);
        else
            snprintf(again, sizeof(again), "part%" PRIu64 ".%d.m4s", n.number, n.part);
        if (strcmp(again, s) != 0 || n.number > INT64_MAX || n.part < 0 ||
            n.part >= VG_HLSW_MAX_PARTS)
            abort();
    }

    vg_hlsw_t *w = vg_hlsw_new(&(vg_hlsw_cfg_t){
        .part_target_us = 200000, .segment_target_us = 1000000, .window_segments = 2});
    vg_frame_t *frame = vg_frame_new(16);
    frame->len = 16;
    vg_hlsw_set_init(w, frame);
    for (int i = 0; i < 17; i++) {
        vg_hlsw_add_part(w, frame, 200000, i % 5 == 0, 1700000000000000LL + i * 200000LL);
        if (i % 5 == 4)
            vg_hlsw_close_segment(w);
    }
    vg_hlsw_file_t f;
    vg_hlsw_find_t found = vg_hlsw_find(w, s, &f);
    if ((found == VG_HLSW_FOUND) != (f.n_frames > 0) || f.len_bytes != (size_t)f.n_frames * 16)
        abort();
    vg_hlsw_file_release(&f);

    bool is_skip = query != NULL && query[0] == 'S';
    static char plain[1 << 14], with[1 << 16];
    int plain_len = vg_hlsw_playlist(w, NULL, is_skip, plain, sizeof(plain));
    int len = vg_hlsw_playlist(w, query, is_skip, with, sizeof(with));
    if (plain_len <= 0)
        abort();
    if (len >= 0) {
        if ((size_t)len != strlen(with) || len != vg_hlsw_playlist_len(w, query, is_skip))
            abort();
        /* the query sits inside URIs only: no new line, no quote opened or closed */
        if (count_char(with, '\n') != count_char(plain, '\n') || count_char(with, '\r') != 0 ||
            count_char(with, '"') != count_char(plain, '"'))
            abort();
    }
    vg_hlsw_free(&w);
    if (frame->refs != 1)
        abort();
    vg_frame_unref(&frame);
    free(s);
    return 0;
}
