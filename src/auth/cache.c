/* cache: the loop's copy of the access snapshot, with its two overlays (see cache.h).
 *
 * Users, cameras, sessions and keys are sorted arrays searched by halves; grants are scanned
 * (a few per user or tenant in practice, and a scan keeps the rule readable). Loop thread
 * only. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/cache.h"
#include "core/util.h"

#define REVOKE_DEFAULT_US (24LL * 3600 * 1000000)

typedef struct overlay_session {
    vg_access_session_t s;
    bool is_confirmed; /* revocations: the database no longer has it */
} overlay_session_t;

struct vg_access_cache {
    vg_access_t *snap; /* NULL before the first snapshot */
    overlay_session_t *added;
    size_t added_count, added_cap;
    overlay_session_t *revoked;
    size_t revoked_count, revoked_cap;
};

vg_access_cache_t *vg_access_cache_new(void) { return vg_xcalloc(1, sizeof(vg_access_cache_t)); }

void vg_access_cache_free(vg_access_cache_t **cp)
{
    vg_access_cache_t *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    vg_access_free(&c->snap);
    if (c->added)
        sodium_memzero(c->added, c->added_cap * sizeof(*c->added));
    if (c->revoked)
        sodium_memzero(c->revoked, c->revoked_cap * sizeof(*c->revoked));
    free(c->added);
    free(c->revoked);
    free(c);
}

static void overlay_remove(overlay_session_t *arr, size_t *count, size_t i)
{
    arr[i] = arr[--*count];
    sodium_memzero(&arr[*count], sizeof(arr[*count]));
}

void vg_access_cache_set(vg_access_cache_t *c, vg_access_t *snap)
{
    if (snap == NULL)
        return;
    vg_access_free(&c->snap);
    c->snap = snap;
    /* This snapshot was read after every write whose result the loop has seen. */
    while (c->added_count)
        overlay_remove(c->added, &c->added_count, 0);
    for (size_t i = c->revoked_count; i-- > 0;) {
        if (c->revoked[i].is_confirmed)
            overlay_remove(c->revoked, &c->revoked_count, i);
    }
}

bool vg_access_cache_is_loaded(const vg_access_cache_t *c) { return c->snap != NULL; }

static int cmp_id(const void *key, const void *elem, size_t offset)
{
    return strcmp(key, (const char *)elem + offset);
}

/* Binary search over a sorted array by a string at offset, or a hash at offset. */
static const void *find(const void *base, size_t n, size_t sz, size_t offset, const void *key,
                        bool is_hash)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *elem = (const char *)base + mid * sz;
        int d = is_hash ? memcmp(key, elem + offset, VG_SESSION_HASH_LEN)
                        : cmp_id(key, elem, offset);
        if (d == 0)
            return elem;
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const vg_access_user_t *vg_access_cache_user(const vg_access_cache_t *c, const char *id)
{
    if (c->snap == NULL || id == NULL || *id == '\0')
        return NULL;
    return find(c->snap->users, c->snap->user_count, sizeof(vg_access_user_t),
                offsetof(vg_access_user_t, id), id, false);
}

const vg_access_camera_t *vg_access_cache_camera(const vg_access_cache_t *c, const char *id)
{
    if (c->snap == NULL || id == NULL || *id == '\0')
        return NULL;
    return find(c->snap->cameras, c->snap->camera_count, sizeof(vg_access_camera_t),
                offsetof(vg_access_camera_t, id), id, false);
}

static bool is_revoked(const vg_access_cache_t *c, const uint8_t hash[VG_SESSION_HASH_LEN])
{
    for (size_t i = 0; i < c->revoked_count; i++) {
        if (sodium_memcmp(c->revoked[i].s.hash, hash, VG_SESSION_HASH_LEN) == 0)
            return true;
    }
    return false;
}

const vg_access_session_t *vg_access_cache_session(const vg_access_cache_t *c,
                                                   const uint8_t hash[VG_SESSION_HASH_LEN],
                                                   int64_t now_us)
{
    if (is_revoked(c, hash))
        return NULL;
    const vg_access_session_t *s = NULL;
    for (size_t i = 0; i < c->added_count && s == NULL; i++) {
        if (sodium_memcmp(c->added[i].s.hash, hash, VG_SESSION_HASH_LEN) == 0)
            s = &c->added[i].s;
    }
    if (s == NULL && c->snap)
        s = find(c->snap->sessions, c->snap->session_count, sizeof(vg_access_session_t),
                 offsetof(vg_access_session_t, hash), hash, true);
    return s && s->expires_us > now_us ? s : NULL;
}

const vg_access_key_t *vg_access_cache_key(const vg_access_cache_t *c,
                                           const uint8_t hash[VG_SESSION_HASH_LEN],
                                           int64_t now_us)
{
    if (c->snap == NULL)
        return NULL;
    const vg_access_key_t *k = find(c->snap->keys, c->snap->key_count, sizeof(vg_access_key_t),
                                    offsetof(vg_access_key_t, hash), hash, true);
    return k && (k->expires_us == 0 || k->expires_us > now_us) ? k : NULL;
}

static bool eq(const char *a, const char *b) { return a && b && *a && strcmp(a, b) == 0; }

static bool visible(const vg_access_cache_t *c, const char *user_id, const char *tenant_id,
                    const vg_access_camera_t *cam)
{
    if (eq(tenant_id, cam->site_tenant_id))
        return true;
    for (size_t i = 0; i < c->snap->grant_count; i++) {
        const vg_access_grant_t *g = &c->snap->grants[i];
        if ((eq(user_id, g->user_id) || eq(tenant_id, g->tenant_id)) &&
            (eq(cam->id, g->camera_id) || eq(cam->site_id, g->site_id)))
            return true;
    }
    return false;
}

bool vg_access_cache_visible(const vg_access_cache_t *c, const char *user_id,
                             const char *tenant_id, const char *camera_id)
{
    const vg_access_camera_t *cam = vg_access_cache_camera(c, camera_id);
    return cam != NULL && visible(c, user_id, tenant_id, cam);
}

json_t *vg_access_cache_visible_list(const vg_access_cache_t *c, const char *user_id,
                                     const char *tenant_id)
{
    json_t *ids = json_array();
    for (size_t i = 0; c->snap && i < c->snap->camera_count; i++) {
        if (visible(c, user_id, tenant_id, &c->snap->cameras[i]))
            json_array_append_new(ids, json_string(c->snap->cameras[i].id));
    }
    return ids;
}

static overlay_session_t *overlay_push(overlay_session_t **arr, size_t *count, size_t *cap)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        overlay_session_t *n = vg_xcalloc(ncap, sizeof(*n));
        if (*arr) {
            memcpy(n, *arr, *count * sizeof(*n));
            sodium_memzero(*arr, *cap * sizeof(**arr));
            free(*arr);
        }
        *arr = n;
        *cap = ncap;
    }
    overlay_session_t *o = &(*arr)[(*count)++];
    memset(o, 0, sizeof(*o));
    return o;
}

void vg_access_cache_add_session(vg_access_cache_t *c, const uint8_t hash[VG_SESSION_HASH_LEN],
                                 const char *user_id, int64_t expires_us)
{
    overlay_session_t *o = overlay_push(&c->added, &c->added_count, &c->added_cap);
    memcpy(o->s.hash, hash, VG_SESSION_HASH_LEN);
    vg_strlcpy(o->s.user_id, user_id, sizeof(o->s.user_id));
    o->s.expires_us = expires_us;
}

void vg_access_cache_revoke_session(vg_access_cache_t *c,
                                    const uint8_t hash[VG_SESSION_HASH_LEN], int64_t now_us)
{
    if (is_revoked(c, hash))
        return;
    /* Remember it as long as it could have lived. */
    int64_t expires = now_us + REVOKE_DEFAULT_US;
    for (size_t i = 0; i < c->added_count; i++) {
        if (sodium_memcmp(c->added[i].s.hash, hash, VG_SESSION_HASH_LEN) == 0)
            expires = c->added[i].s.expires_us;
    }
    const vg_access_session_t *s =
        c->snap ? find(c->snap->sessions, c->snap->session_count, sizeof(vg_access_session_t),
                       offsetof(vg_access_session_t, hash), hash, true)
                : NULL;
    if (s)
        expires = s->expires_us;
    overlay_session_t *o = overlay_push(&c->revoked, &c->revoked_count, &c->revoked_cap);
    memcpy(o->s.hash, hash, VG_SESSION_HASH_LEN);
    o->s.expires_us = expires;
}

void vg_access_cache_revoke_confirmed(vg_access_cache_t *c,
                                      const uint8_t hash[VG_SESSION_HASH_LEN])
{
    for (size_t i = 0; i < c->revoked_count; i++) {
        if (sodium_memcmp(c->revoked[i].s.hash, hash, VG_SESSION_HASH_LEN) == 0)
            c->revoked[i].is_confirmed = true;
    }
}

void vg_access_cache_each_unconfirmed(const vg_access_cache_t *c,
                                      void (*fn)(const uint8_t hash[VG_SESSION_HASH_LEN],
                                                 void *arg),
                                      void *arg)
{
    for (size_t i = 0; i < c->revoked_count; i++) {
        if (!c->revoked[i].is_confirmed)
            fn(c->revoked[i].s.hash, arg);
    }
}

void vg_access_cache_prune(vg_access_cache_t *c, int64_t now_us)
{
    for (size_t i = c->revoked_count; i-- > 0;) {
        if (c->revoked[i].s.expires_us <= now_us)
            overlay_remove(c->revoked, &c->revoked_count, i);
    }
    for (size_t i = c->added_count; i-- > 0;) {
        if (c->added[i].s.expires_us <= now_us)
            overlay_remove(c->added, &c->added_count, i);
    }
}
