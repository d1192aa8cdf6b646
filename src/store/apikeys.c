/* apikeys: integration keys (see store.h) — made, listed, removed, and noted when used.
 *
 * A key is "vk_" + a public id (12 hex digits, what lists, logs and the audit show) + "_" +
 * 256 random bits in base64url. Only a BLAKE2b-256 hash of the whole key is stored: the key
 * has all the entropy a hash needs (no salt or slow hash), and a copy of the database opens
 * nothing. Any thread that owns the store handle.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store_int.h"

#define KEY_PREFIX "vk_"
#define KEY_ID_BYTES 6
#define KEY_SECRET_BYTES 32

void vg_api_key_hash(const char *key, size_t len, uint8_t out[VG_SESSION_HASH_LEN])
{
    crypto_generichash(out, VG_SESSION_HASH_LEN, (const uint8_t *)key, len, NULL, 0);
}

bool vg_api_key_is_key(const char *s) { return s && strncmp(s, KEY_PREFIX, 3) == 0; }

static vg_val_t text_or_null(const char *s)
{
    return s && *s ? (vg_val_t){.type = VG_VAL_TEXT, .text = s} : (vg_val_t){.type = VG_VAL_NULL};
}

static vg_val_t int_or_null(int64_t i)
{
    return i ? (vg_val_t){.type = VG_VAL_INT, .i = i} : (vg_val_t){.type = VG_VAL_NULL};
}

/* A row of VG_STMT_KEY_LIST, _LIST_USER or _GET, in the columns store_int.h gives. */
static int take_key(const vg_val_t *v, int n, void *arg)
{
    if (n < 8)
        return 1;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(v[0].type == VG_VAL_TEXT ? v[0].text : ""));
    json_object_set_new(o, "name", json_string(v[1].type == VG_VAL_TEXT ? v[1].text : ""));
    json_object_set_new(o, "user_id", json_string(v[2].type == VG_VAL_TEXT ? v[2].text : ""));
    json_object_set_new(o, "role", json_string(v[3].type == VG_VAL_TEXT ? v[3].text : ""));
    json_t *cams = v[4].type == VG_VAL_TEXT ? json_loads(v[4].text, 0, NULL) : NULL;
    json_object_set_new(o, "cameras", json_is_array(cams) ? cams : json_null());
    if (cams && !json_is_array(cams))
        json_decref(cams);
    static const char *const times[] = {"created_at", "expires_at", "last_used_at"};
    for (int i = 0; i < 3; i++)
        json_object_set_new(o, times[i], v[5 + i].type == VG_VAL_INT
                                             ? json_integer(v[5 + i].i / 1000000)
                                             : json_null());
    json_array_append_new(arg, o);
    return 0;
}

int vg_store_key_list(vg_store_t *s, const char *user_id, json_t **out, vg_store_err_t *err)
{
    json_t *list = json_array();
    vg_val_t v = text_or_null(user_id);
    int rc = user_id ? s->ops->run(s->db, VG_STMT_KEY_LIST_USER, &v, 1, take_key, list, NULL,
                                   err)
                     : s->ops->run(s->db, VG_STMT_KEY_LIST, NULL, 0, take_key, list, NULL, err);
    if (rc < 0) {
        json_decref(list);
        return VG_EINVAL;
    }
    *out = list;
    return 0;
}

int vg_store_key_get(vg_store_t *s, const char *id, json_t **out, vg_store_err_t *err)
{
    json_t *list = json_array();
    vg_val_t v = text_or_null(id);
    if (s->ops->run(s->db, VG_STMT_KEY_GET, &v, 1, take_key, list, NULL, err) < 0) {
        json_decref(list);
        return VG_EINVAL;
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        vg__store_err(err, 404, "not_found", "id", "no key '%s'", id ? id : "");
        return VG_ENOENT;
    }
    *out = json_incref(json_array_get(list, 0));
    json_decref(list);
    return 0;
}

static int check_spec(vg_store_t *s, const vg_key_spec_t *spec, vg_store_err_t *err)
{
    if (spec->user_id == NULL || !vg_slug_is_valid(spec->user_id)) {
        vg__store_err(err, 400, "bad_request", "user_id", "user_id: a user id");
        return VG_EINVAL;
    }
    size_t n = 0;
    if (s->ops->count_where(s->db, "users", "id", spec->user_id, &n, err) < 0)
        return VG_EINVAL;
    if (n == 0) {
        vg__store_err(err, 404, "not_found", "user_id", "no user '%s'", spec->user_id);
        return VG_ENOENT;
    }
    if (spec->name && (strlen(spec->name) == 0 || strlen(spec->name) > 100)) {
        vg__store_err(err, 400, "bad_request", "name", "name: 1 to 100 characters");
        return VG_EINVAL;
    }
    if (spec->role && strcmp(spec->role, "viewer") != 0 && strcmp(spec->role, "operator") != 0 &&
        strcmp(spec->role, "admin") != 0) {
        vg__store_err(err, 400, "bad_request", "role", "role: viewer, operator or admin");
        return VG_EINVAL;
    }
    if (spec->cameras) {
        if (!json_is_array(spec->cameras) || json_array_size(spec->cameras) > 1000) {
            vg__store_err(err, 400, "bad_request", "cameras",
                          "cameras: a list of camera ids (at most 1000)");
            return VG_EINVAL;
        }
        size_t i;
        json_t *c;
        json_array_foreach(spec->cameras, i, c) {
            const char *id = json_string_value(c);
            if (id == NULL || !vg_slug_is_valid(id)) {
                vg__store_err(err, 400, "bad_request", "cameras", "cameras[%zu]: a camera id", i);
                return VG_EINVAL;
            }
            if (s->ops->count_where(s->db, "cameras", "id", id, &n, err) < 0)
                return VG_EINVAL;
            if (n == 0) {
                vg__store_err(err, 404, "not_found", "cameras", "no camera '%s'", id);
                return VG_ENOENT;
            }
        }
    }
    if (spec->expires_us < 0 || (spec->expires_us && spec->expires_us <= vg_wall_us())) {
        vg__store_err(err, 400, "bad_request", "expires_at", "expires_at: a time in the future");
        return VG_EINVAL;
    }
    return 0;
}

int vg_store_key_add(vg_store_t *s, const vg_key_spec_t *spec, char key_out[VG_API_KEY_MAX],
                     json_t **out, vg_store_err_t *err)
{
    int rc = check_spec(s, spec, err);
    if (rc < 0)
        return rc;
    uint8_t id_raw[KEY_ID_BYTES], secret[KEY_SECRET_BYTES], hash[VG_SESSION_HASH_LEN];
    char id[2 * KEY_ID_BYTES + 1], secret_b64[64];
    randombytes_buf(id_raw, sizeof(id_raw));
    randombytes_buf(secret, sizeof(secret));
    sodium_bin2hex(id, sizeof(id), id_raw, sizeof(id_raw));
    sodium_bin2base64(secret_b64, sizeof(secret_b64), secret, sizeof(secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    int n = snprintf(key_out, VG_API_KEY_MAX, KEY_PREFIX "%s_%s", id, secret_b64);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(secret_b64, sizeof(secret_b64));
    vg_api_key_hash(key_out, (size_t)n, hash);
    char *cams = spec->cameras ? json_dumps(spec->cameras, JSON_COMPACT) : NULL;
    vg_val_t v[7] = {text_or_null(id),
                     text_or_null(spec->name ? spec->name : id),
                     text_or_null(spec->user_id),
                     {.type = VG_VAL_BLOB, .blob = hash, .len = sizeof(hash)},
                     text_or_null(spec->role ? spec->role : "viewer"),
                     text_or_null(cams),
                     int_or_null(spec->expires_us)};
    rc = s->ops->run(s->db, VG_STMT_KEY_INSERT, v, 7, NULL, NULL, NULL, err);
    free(cams);
    if (rc == 0)
        rc = vg_store_key_get(s, id, out, err);
    if (rc < 0)
        sodium_memzero(key_out, VG_API_KEY_MAX);
    return rc;
}

int vg_store_key_remove(vg_store_t *s, const char *id, vg_store_err_t *err)
{
    vg_val_t v = text_or_null(id);
    size_t changes = 0;
    if (s->ops->run(s->db, VG_STMT_KEY_DELETE, &v, 1, NULL, NULL, &changes, err) < 0)
        return VG_EINVAL;
    if (changes == 0) {
        vg__store_err(err, 404, "not_found", "id", "no key '%s'", id ? id : "");
        return VG_ENOENT;
    }
    return 0;
}

int vg_store_key_touch(vg_store_t *s, const char *id, int64_t now_us, vg_store_err_t *err)
{
    vg_val_t v[2] = {text_or_null(id), {.type = VG_VAL_INT, .i = now_us}};
    return s->ops->run(s->db, VG_STMT_KEY_TOUCH, v, 2, NULL, NULL, NULL, err);
}
