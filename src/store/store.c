/* store: see store.h. This file holds what every backend shares: the schema of each kind of
 * record (field names, types, references), validation with errors that name the field, the
 * JSON shape of records, and the sealing of camera passwords. */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "media/tier.h"
#include "store/secrets.h"
#include "store/store_int.h"

#define MAX_FIELDS 24
#define MAX_MAPPINGS 256
#define META_FINGERPRINT "master_key_fingerprint"

typedef enum {
    T_ID,       /* slug, the primary key */
    T_TEXT,     /* free text, one line */
    T_HOST,     /* host name or address */
    T_INT,
    T_BOOL,
    T_URL,      /* with a scheme from choices */
    T_REF,      /* id of a record in ref */
    T_ENUM,     /* one of choices */
    T_MAPPINGS, /* gateway port mappings (JSON array) */
    T_TIERS,    /* a tier ladder (JSON array) */
    T_SECRET,   /* write-only; sealed into column, shown as has_<name> */
    T_PWHASH,   /* write-only; an Argon2id hash of it in column, shown as has_<name> */
    T_OWNER,    /* read-only: who owns the record */
} ftype_t;

typedef struct field {
    const char *name;   /* in JSON */
    const char *column; /* in the table */
    ftype_t type;
    bool is_required;
    const char *ref;                /* T_REF: the referenced table */
    const char *const *choices;     /* T_URL schemes, T_ENUM values; NULL-terminated */
    int64_t min, max;               /* T_INT */
    bool has_default;               /* null (or absent on create) means this value */
    int64_t dflt;
} field_t;

typedef struct kind {
    const char *name, *singular;
    const field_t *fields;
    int nfields;
} kind_t;

static const char *const camera_schemes[] = {"rtsp", "rtsps", "http", "https", "file", "v4l2",
                                             "test", "uplink", NULL};
static const char *const http_schemes[] = {"http", "https", NULL};
static const char *const ptz_drivers[] = {"bosch", "onvif", NULL};
static const char *const roles[] = {"admin", "operator", "viewer", NULL};

/* The JSON name is the column name, except for secrets (sealed into another column). */
#define FIELD(n, t, ...) {.name = n, .column = n, .type = t, __VA_ARGS__}

static const field_t tenant_fields[] = {
    FIELD("id", T_ID, .is_required = true),
    FIELD("name", T_TEXT),
};
static const field_t gateway_fields[] = {
    FIELD("id", T_ID, .is_required = true),
    FIELD("name", T_TEXT),
    FIELD("host", T_HOST, .is_required = true),
    FIELD("mappings", T_MAPPINGS),
};
static const field_t site_fields[] = {
    FIELD("id", T_ID, .is_required = true),
    FIELD("name", T_TEXT),
    FIELD("tenant_id", T_REF, .ref = "tenants"),
    FIELD("is_local", T_BOOL, .has_default = true, .dflt = 1),
    FIELD("gateway_id", T_REF, .ref = "gateways"),
};
static const field_t camera_fields[] = {
    FIELD("id", T_ID, .is_required = true),
    FIELD("name", T_TEXT),
    FIELD("site_id", T_REF, .ref = "sites"),
    FIELD("url", T_URL, .is_required = true, .choices = camera_schemes),
    FIELD("substream_url", T_URL, .choices = camera_schemes),
    FIELD("snapshot_url", T_URL, .choices = http_schemes),
    FIELD("username", T_TEXT),
    {.name = "password", .column = "password_sealed", .type = T_SECRET},
    FIELD("ptz_driver", T_ENUM, .choices = ptz_drivers),
    FIELD("ptz_address", T_TEXT),
    FIELD("always_on", T_BOOL, .has_default = true, .dflt = 0),
    FIELD("idle_timeout_s", T_INT, .min = 0, .max = 86400),
    FIELD("tiers", T_TIERS),
    FIELD("default_tier", T_TEXT),
    FIELD("priority", T_INT, .min = -1000, .max = 1000, .has_default = true, .dflt = 0),
    FIELD("enabled", T_BOOL, .has_default = true, .dflt = 1),
    FIELD("owner", T_OWNER),
};

/* Users sign in to the dashboard and the API (issue 6): a role, an optional tenant whose
 * grants they share, and a password kept only as an Argon2id hash. */
static const field_t user_fields[] = {
    FIELD("id", T_ID, .is_required = true),
    FIELD("name", T_TEXT),
    FIELD("role", T_ENUM, .is_required = true, .choices = roles),
    FIELD("tenant_id", T_REF, .ref = "tenants"),
    {.name = "password", .column = "password_hash", .type = T_PWHASH},
    FIELD("enabled", T_BOOL, .has_default = true, .dflt = 1),
};

#define KIND(n, s, f) {n, s, f, (int)(sizeof(f) / sizeof(f[0]))}
static const kind_t kinds[] = {
    KIND("tenants", "tenant", tenant_fields),
    KIND("gateways", "gateway", gateway_fields),
    KIND("sites", "site", site_fields),
    KIND("cameras", "camera", camera_fields),
    KIND("users", "user", user_fields),
};

void vg__store_err(vg_store_err_t *err, int status, const char *code, const char *field,
                   const char *fmt, ...)
{
    if (err == NULL)
        return;
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

static const kind_t *kind_find(const char *name)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    }
    return NULL;
}

bool vg_store_kind_is_valid(const char *kind) { return kind_find(kind) != NULL; }

static const field_t *field_find(const kind_t *k, const char *name)
{
    for (int i = 0; i < k->nfields; i++) {
        if (strcmp(k->fields[i].name, name) == 0)
            return &k->fields[i];
    }
    return NULL;
}

/* ---- open / close ---- */

static json_t *enum_of(const char *const *choices)
{
    json_t *a = json_array();
    for (const char *const *c = choices; *c; c++)
        json_array_append_new(a, json_string(*c));
    return a;
}

static json_t *field_schema(const field_t *f, vg_schema_mode_t mode)
{
    json_t *o;
    switch (f->type) {
    case T_ID:
        return json_pack("{s:s,s:s,s:i,s:s}", "type", "string", "pattern",
                         "^[a-z0-9][a-z0-9_-]*$", "maxLength", 64, "description",
                         "slug: lower-case letters, digits, - and _");
    case T_INT:
        o = json_pack("{s:s,s:I,s:I}", "type", "integer", "minimum", (json_int_t)f->min,
                      "maximum", (json_int_t)f->max);
        break;
    case T_BOOL:
        o = json_pack("{s:s}", "type", "boolean");
        break;
    case T_URL: {
        char desc[160] = "URL; scheme one of:";
        for (const char *const *c = f->choices; *c; c++)
            snprintf(desc + strlen(desc), sizeof(desc) - strlen(desc), " %s", *c);
        o = json_pack("{s:s,s:i,s:s}", "type", "string", "maxLength", 4096, "description",
                      desc);
        break;
    }
    case T_ENUM:
        o = json_pack("{s:s,s:o}", "type", "string", "enum", enum_of(f->choices));
        break;
    case T_MAPPINGS:
        o = json_pack("{s:s,s:i,s:{s:s,s:b,s:[sss],s:{s:{s:s},s:{s:s,s:i,s:i},s:{s:s,s:i,"
                      "s:i}}}}",
                      "type", "array", "maxItems", MAX_MAPPINGS, "items", "type", "object",
                      "additionalProperties", 0, "required", "lan_host", "lan_port", "port",
                      "properties", "lan_host", "type", "string", "lan_port", "type",
                      "integer", "minimum", 1, "maximum", 65535, "port", "type", "integer",
                      "minimum", 1, "maximum", 65535);
        json_object_set_new(o, "description",
                            json_string("camera LAN host:port -> this gateway's port"));
        break;
    case T_TIERS: {
        static const char *const sizes[] = {"micro", "thin", "tiny", "low", "medium", "high",
                                            "ultra", "native", NULL};
        static const char *const codecs[] = {"jpeg", "h264", NULL};
        o = json_pack("{s:s,s:i,s:i,s:{s:s,s:b,s:[s],s:{s:{s:s,s:i},s:{s:s,s:o},s:{s:s,s:i,"
                      "s:i},s:{s:s,s:i,s:i},s:{s:s,s:o},s:{s:s,s:i,s:i}}}}",
                      "type", "array", "minItems", 1, "maxItems", VG_TIER_MAX, "items", "type",
                      "object", "additionalProperties", 0, "required", "size", "properties",
                      "name", "type", "string", "maxLength", VG_TIER_NAME_MAX - 1, "size",
                      "type", "string", "enum", enum_of(sizes), "fps", "type", "integer",
                      "minimum", 1, "maximum", 60, "quality", "type", "integer", "minimum", 1,
                      "maximum", 100, "codec", "type", "string", "enum", enum_of(codecs),
                      "kbps", "type", "integer", "minimum", 50, "maximum", 20000);
        break;
    }
    case T_PWHASH:
        return json_pack("{s:s,s:i,s:i,s:b,s:b,s:s}", "type", "string", "minLength",
                         VG_PASSWORD_MIN, "maxLength", 1024, "writeOnly", 1, "nullable", 1,
                         "description", "write-only: kept as an Argon2id hash");
    case T_SECRET:
        return json_pack("{s:s,s:b,s:b,s:s}", "type", "string", "writeOnly", 1, "nullable", 1,
                         "description", "write-only: sealed at rest, never returned; null "
                         "clears it");
    case T_OWNER:
        return json_pack("{s:s,s:[ss],s:b,s:s}", "type", "string", "enum", "api", "file",
                         "readOnly", 1, "description",
                         "file: declared in the config file, read-only here");
    default: /* T_TEXT, T_HOST, T_REF */
        o = json_pack("{s:s,s:i}", "type", "string", "maxLength",
                      f->type == T_HOST ? 253 : 4096);
        if (f->type == T_REF)
            json_object_set_new(o, "description", json_sprintf("id of one of the %s", f->ref));
        break;
    }
    if (!f->is_required || mode == VG_SCHEMA_UPDATE)
        json_object_set_new(o, "nullable", json_true()); /* null: unset (or the default) */
    return o;
}

json_t *vg_store_schema(const char *kind, vg_schema_mode_t mode)
{
    const kind_t *k = kind_find(kind);
    if (k == NULL)
        return NULL;
    json_t *props = json_object(), *required = json_array();
    for (int i = 0; i < k->nfields; i++) {
        const field_t *f = &k->fields[i];
        if (f->type == T_OWNER && mode != VG_SCHEMA_RECORD)
            continue;
        if (f->type == T_ID && mode == VG_SCHEMA_UPDATE)
            continue; /* the path names the record */
        if ((f->type == T_SECRET || f->type == T_PWHASH) && mode == VG_SCHEMA_RECORD) {
            char key[48];
            snprintf(key, sizeof(key), "has_%s", f->name);
            json_object_set_new(props, key, json_pack("{s:s,s:b}", "type", "boolean",
                                                      "readOnly", 1));
            json_array_append_new(required, json_string(key));
            continue;
        }
        json_object_set_new(props, f->name, field_schema(f, mode));
        if (mode == VG_SCHEMA_RECORD ||
            (mode == VG_SCHEMA_CREATE && f->is_required))
            json_array_append_new(required, json_string(f->name));
    }
    json_t *o = json_pack("{s:s,s:o,s:b}", "type", "object", "properties", props,
                          "additionalProperties", mode == VG_SCHEMA_RECORD);
    if (json_array_size(required) > 0)
        json_object_set_new(o, "required", required);
    else
        json_decref(required);
    return o;
}

static int check_master_key(vg_store_t *s, vg_store_err_t *err)
{
    char *stored = NULL;
    if (s->ops->meta_get(s->db, META_FINGERPRINT, &stored, err) < 0)
        return VG_EINVAL;
    int rc = 0;
    if (stored && s->secrets) {
        char fp[24];
        vg_secrets_fingerprint(s->secrets, fp);
        if (strcmp(fp, stored) != 0) {
            vg__store_err(err, 403, "wrong_master_key", "",
                          "the master key does not match this database (key %s, database "
                          "expects %s); nothing was changed", fp, stored);
            rc = VG_EINVAL;
        }
    }
    free(stored);
    return rc;
}

bool vg_store_is_postgresql(const char *path)
{
    return path && (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0);
}

int vg_store_open(vg_store_t **out, const vg_store_cfg_t *cfg, vg_store_err_t *err)
{
    *out = NULL;
    vg_store_t *s = vg_xcalloc(1, sizeof(*s));
    s->ops = vg_store_is_postgresql(cfg->path) ? &vg_store_pg_ops : &vg_store_sqlite_ops;
    s->secrets = cfg->secrets;
    if (s->ops->open(&s->db, cfg->path, cfg->is_read_only, err) < 0) {
        free(s);
        return VG_EINVAL;
    }
    if (cfg->is_read_only) {
        s->schema_version = -1;
    } else if (s->ops->migrate(s->db, &s->schema_version, err) < 0) {
        vg_store_close(&s);
        return VG_EINVAL;
    }
    if (check_master_key(s, err) < 0) {
        vg_store_close(&s);
        return VG_EINVAL;
    }
    *out = s;
    return 0;
}

void vg_store_close(vg_store_t **sp)
{
    vg_store_t *s = *sp;
    if (s == NULL)
        return;
    s->ops->close(s->db);
    free(s);
    *sp = NULL;
}

int vg_store_schema_version(vg_store_t *s) { return s->schema_version; }
int64_t vg_store_data_version(vg_store_t *s) { return s->ops->data_version(s->db); }
void vg_store_set_busy_timeout(vg_store_t *s, int ms) { s->ops->set_busy_timeout(s->db, ms); }

/* ---- reading ---- */

typedef struct read_ctx {
    const kind_t *kind;
    json_t *arr;
} read_ctx_t;

static const char *select_column(const field_t *f)
{
    if (f->type == T_SECRET)
        return "password_sealed IS NOT NULL";
    if (f->type == T_PWHASH)
        return "password_hash IS NOT NULL";
    return f->column;
}

static int row_to_json(const vg_val_t *vals, int n, void *arg)
{
    read_ctx_t *rc = arg;
    json_t *o = json_object();
    for (int i = 0; i < n; i++) {
        const field_t *f = &rc->kind->fields[i];
        const vg_val_t *v = &vals[i];
        json_t *j = json_null();
        switch (f->type) {
        case T_BOOL:
            j = v->type == VG_VAL_INT ? json_boolean(v->i != 0) : json_null();
            break;
        case T_INT:
            j = v->type == VG_VAL_INT ? json_integer(v->i) : json_null();
            break;
        case T_SECRET:
        case T_PWHASH: {
            char key[48];
            snprintf(key, sizeof(key), "has_%s", f->name);
            json_object_set_new(o, key, json_boolean(v->type == VG_VAL_INT && v->i != 0));
            continue;
        }
        case T_MAPPINGS:
        case T_TIERS:
            if (v->type == VG_VAL_TEXT) {
                j = json_loads(v->text, 0, NULL);
                if (j == NULL) /* hand-edited garbage: show it as text rather than hide it */
                    j = json_string(v->text);
            }
            break;
        default:
            if (v->type == VG_VAL_TEXT)
                j = json_stringn(v->text, v->len);
            else if (v->type == VG_VAL_INT)
                j = json_integer(v->i);
        }
        json_object_set_new(o, f->name, j ? j : json_null());
    }
    json_array_append_new(rc->arr, o);
    return 0;
}

static int read_rows(vg_store_t *s, const kind_t *k, const char *id, size_t offset,
                     size_t limit, json_t **out, vg_store_err_t *err)
{
    const char *cols[MAX_FIELDS];
    for (int i = 0; i < k->nfields; i++)
        cols[i] = select_column(&k->fields[i]);
    read_ctx_t rc = {.kind = k, .arr = json_array()};
    if (s->ops->select(s->db, k->name, cols, k->nfields, id, offset, limit, row_to_json, &rc,
                       err) < 0) {
        json_decref(rc.arr);
        return VG_EINVAL;
    }
    *out = rc.arr;
    return 0;
}

int vg_store_list(vg_store_t *s, const char *kind, size_t offset, size_t limit, json_t **out,
                  size_t *total, vg_store_err_t *err)
{
    const kind_t *k = kind_find(kind);
    if (k == NULL) {
        vg__store_err(err, 404, "not_found", "", "no kind of record '%s'", kind);
        return VG_ENOENT;
    }
    if (limit < 1 || limit > 1000) {
        vg__store_err(err, 400, "bad_request", "limit", "limit must be 1..1000");
        return VG_EINVAL;
    }
    if (s->ops->count(s->db, k->name, total, err) < 0)
        return VG_EINVAL;
    return read_rows(s, k, NULL, offset, limit, out, err);
}

int vg_store_get(vg_store_t *s, const char *kind, const char *id, json_t **out,
                 vg_store_err_t *err)
{
    const kind_t *k = kind_find(kind);
    if (k == NULL) {
        vg__store_err(err, 404, "not_found", "", "no kind of record '%s'", kind);
        return VG_ENOENT;
    }
    json_t *arr;
    if (read_rows(s, k, id, 0, 1, &arr, err) < 0)
        return VG_EINVAL;
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        vg__store_err(err, 404, "not_found", "id", "no %s '%s'", k->singular, id);
        return VG_ENOENT;
    }
    *out = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return 0;
}

/* ---- validation ---- */

static bool is_host(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

static bool is_one_line(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    }
    return true;
}

/* any_scheme: for config-file cameras, whose file is checked by the config loader and whose
 * URL the sources judge when they dial it (an unknown scheme makes a failed camera that says
 * so, as it always did, rather than an error that stops the server). */
static int check_url(const field_t *f, const char *url, bool any_scheme, vg_store_err_t *err)
{
    const char *sep = strstr(url, "://");
    if (strlen(url) > 4096 || !is_one_line(url) || strchr(url, ' ') || sep == NULL) {
        vg__store_err(err, 400, "bad_request", f->name, "%s: not a URL", f->name);
        return VG_EINVAL;
    }
    /* A password in the URL would be stored and shown in clear: it has its own field. */
    size_t authority = strcspn(sep + 3, "/?#");
    if (memchr(sep + 3, '@', authority) != NULL) {
        vg__store_err(err, 400, "bad_request", f->name,
                      "%s: no credentials in the URL; set \"username\" and \"password\" "
                      "(the password is stored sealed)", f->name);
        return VG_EINVAL;
    }
    if (any_scheme)
        return 0;
    for (const char *const *sc = f->choices; *sc; sc++) {
        if (strlen(*sc) == (size_t)(sep - url) && strncmp(*sc, url, (size_t)(sep - url)) == 0)
            return 0;
    }
    char allowed[96] = "";
    for (const char *const *sc = f->choices; *sc; sc++)
        snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s",
                 sc == f->choices ? "" : ", ", *sc);
    vg__store_err(err, 400, "bad_request", f->name, "%s: scheme must be one of %s", f->name,
                  allowed);
    return VG_EINVAL;
}

static int check_mappings(const field_t *f, json_t *j, vg_store_err_t *err)
{
    if (!json_is_array(j) || json_array_size(j) > MAX_MAPPINGS) {
        vg__store_err(err, 400, "bad_request", f->name,
                      "%s: an array of at most %d {lan_host, lan_port, port}", f->name,
                      MAX_MAPPINGS);
        return VG_EINVAL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(j, i, m) {
        const char *host = NULL;
        json_int_t lan_port = 0, port = 0;
        json_error_t je;
        if (json_unpack_ex(m, &je, JSON_STRICT, "{s:s, s:I, s:I}", "lan_host", &host,
                           "lan_port", &lan_port, "port", &port) != 0 ||
            !is_host(host) || lan_port < 1 || lan_port > 65535 || port < 1 || port > 65535) {
            vg__store_err(err, 400, "bad_request", f->name,
                          "%s[%zu]: {\"lan_host\": host, \"lan_port\": 1..65535, \"port\": "
                          "1..65535} and nothing else", f->name, i);
            return VG_EINVAL;
        }
    }
    return 0;
}

static int check_tiers(const field_t *f, json_t *j, vg_store_err_t *err)
{
    vg_tier_spec_t specs[VG_TIER_MAX];
    if (!json_is_array(j) || json_array_size(j) < 1 || json_array_size(j) > VG_TIER_MAX) {
        vg__store_err(err, 400, "bad_request", f->name, "%s: an array of 1 to %d tiers",
                      f->name, VG_TIER_MAX);
        return VG_EINVAL;
    }
    size_t i;
    json_t *t;
    json_array_foreach(j, i, t) {
        const char *name = NULL, *size = NULL;
        const char *codec = NULL;
        int fps = 0, quality = 0, kbps = 0;
        json_error_t je;
        if (json_unpack_ex(t, &je, JSON_STRICT, "{s?s, s:s, s?i, s?i, s?s, s?i}", "name", &name,
                           "size", &size, "fps", &fps, "quality", &quality, "codec", &codec,
                           "kbps", &kbps) != 0) {
            vg__store_err(err, 400, "bad_request", f->name,
                          "%s[%zu]: {\"size\": class, \"name\"?, \"fps\"?, \"quality\"?, "
                          "\"codec\"?, \"kbps\"?}", f->name, i);
            return VG_EINVAL;
        }
        specs[i] = (vg_tier_spec_t){.name = name, .size = size, .fps = fps, .quality = quality,
                                    .codec = codec, .kbps = kbps};
    }
    vg_tier_t ladder[VG_TIER_MAX];
    char why[160];
    if (vg_tier_ladder_from_specs(specs, (int)json_array_size(j), 0, 0, 0, ladder, why,
                                  sizeof(why)) < 0) {
        vg__store_err(err, 400, "bad_request", f->name, "%s: %s", f->name, why);
        return VG_EINVAL;
    }
    return 0;
}

/* A validated value ready for the backend; text it points into lives in j or in owned. */
typedef struct pending {
    const char *cols[MAX_FIELDS + 2];
    vg_val_t vals[MAX_FIELDS + 2];
    int n;
    char *owned[MAX_FIELDS + 2]; /* freed after the write */
    int nowned;
    const char *password;        /* the secret to seal, borrowed from the input */
    bool clears_password;
} pending_t;

static void pending_add(pending_t *p, const char *col, vg_val_t v)
{
    p->cols[p->n] = col;
    p->vals[p->n++] = v;
}

static void pending_free(pending_t *p)
{
    for (int i = 0; i < p->nowned; i++)
        free(p->owned[i]);
}

static int ref_exists(vg_store_t *s, const char *table, const char *id, bool *out,
                      vg_store_err_t *err)
{
    size_t n;
    if (s->ops->count_where(s->db, table, "id", id, &n, err) < 0)
        return VG_EINVAL;
    *out = n > 0;
    return 0;
}

static int validate(vg_store_t *s, const kind_t *k, json_t *fields, bool is_create,
                    bool is_from_file, pending_t *p, vg_store_err_t *err)
{
    if (!json_is_object(fields)) {
        vg__store_err(err, 400, "bad_request", "", "a %s is a JSON object", k->singular);
        return VG_EINVAL;
    }
    const char *key;
    json_t *j;
    json_object_foreach(fields, key, j) {
        const field_t *f = field_find(k, key);
        if (f == NULL) {
            vg__store_err(err, 400, "bad_request", key, "unknown field '%s' for a %s", key,
                          k->singular);
            return VG_EINVAL;
        }
        if (f->type == T_OWNER) {
            vg__store_err(err, 400, "bad_request", key, "'%s' is set by vigil", key);
            return VG_EINVAL;
        }
        if (f->type == T_ID && !is_create) {
            vg__store_err(err, 400, "bad_request", key, "ids cannot change; create a new %s",
                          k->singular);
            return VG_EINVAL;
        }
        if (json_is_null(j)) {
            if (f->is_required || f->type == T_ID) {
                vg__store_err(err, 400, "bad_request", key, "%s is required", key);
                return VG_EINVAL;
            }
            if (f->type == T_SECRET)
                p->clears_password = true;
            else if (f->type == T_PWHASH)
                pending_add(p, f->column, (vg_val_t){.type = VG_VAL_NULL});
            else if (f->has_default)
                pending_add(p, f->column, (vg_val_t){.type = VG_VAL_INT, .i = f->dflt});
            else
                pending_add(p, f->column, (vg_val_t){.type = VG_VAL_NULL});
            continue;
        }
        switch (f->type) {
        case T_ID:
            if (!json_is_string(j) || !vg_slug_is_valid(json_string_value(j))) {
                vg__store_err(err, 400, "bad_request", key,
                              "%s: lower-case letters, digits, '-' and '_', up to 64", key);
                return VG_EINVAL;
            }
            pending_add(p, f->column, (vg_val_t){.type = VG_VAL_TEXT, .text = json_string_value(j)});
            break;
        case T_TEXT:
        case T_HOST:
        case T_ENUM:
        case T_URL:
        case T_REF:
        case T_SECRET:
        case T_PWHASH: {
            if (!json_is_string(j)) {
                vg__store_err(err, 400, "bad_request", key, "%s: a string", key);
                return VG_EINVAL;
            }
            const char *v = json_string_value(j);
            if (f->type == T_TEXT && (strlen(v) > 256 || !is_one_line(v))) {
                vg__store_err(err, 400, "bad_request", key, "%s: one line, up to 256 bytes", key);
                return VG_EINVAL;
            }
            if (f->type == T_HOST && !is_host(v)) {
                vg__store_err(err, 400, "bad_request", key, "%s: a host name or address", key);
                return VG_EINVAL;
            }
            if (f->type == T_ENUM) {
                bool ok = false;
                for (const char *const *c = f->choices; *c; c++)
                    ok = ok || strcmp(*c, v) == 0;
                if (!ok) {
                    vg__store_err(err, 400, "bad_request", key, "%s: unknown value '%s'", key, v);
                    return VG_EINVAL;
                }
            }
            if (f->type == T_URL && check_url(f, v, is_from_file, err) < 0)
                return VG_EINVAL;
            if (f->type == T_REF) {
                bool exists;
                if (ref_exists(s, f->ref, v, &exists, err) < 0)
                    return VG_EINVAL;
                if (!exists) {
                    vg__store_err(err, 400, "bad_request", key, "%s: no %s '%s'", key,
                                  kind_find(f->ref)->singular, v);
                    return VG_EINVAL;
                }
            }
            if (f->type == T_PWHASH) {
                size_t n = strlen(v);
                if (n < VG_PASSWORD_MIN || n > 1024) {
                    vg__store_err(err, 400, "bad_request", key, "%s: %d to 1024 bytes", key,
                                  VG_PASSWORD_MIN);
                    return VG_EINVAL;
                }
                char *hash = vg_xmalloc(VG_PASSWORD_HASH_MAX);
                if (vg_password_hash(v, hash) < 0) {
                    free(hash);
                    vg__store_err(err, 500, "internal", key, "%s: cannot hash (out of memory)",
                                  key);
                    return VG_EINVAL;
                }
                p->owned[p->nowned++] = hash;
                pending_add(p, f->column, (vg_val_t){.type = VG_VAL_TEXT, .text = hash});
                break;
            }
            if (f->type == T_SECRET) {
                if (strlen(v) > 1024) {
                    vg__store_err(err, 400, "bad_request", key, "%s: up to 1024 bytes", key);
                    return VG_EINVAL;
                }
                p->password = v;
                break;
            }
            pending_add(p, f->column, (vg_val_t){.type = VG_VAL_TEXT, .text = v});
            break;
        }
        case T_INT:
            if (!json_is_integer(j) || json_integer_value(j) < f->min ||
                json_integer_value(j) > f->max) {
                vg__store_err(err, 400, "bad_request", key, "%s: an integer %lld..%lld", key,
                              (long long)f->min, (long long)f->max);
                return VG_EINVAL;
            }
            pending_add(p, f->column, (vg_val_t){.type = VG_VAL_INT, .i = json_integer_value(j)});
            break;
        case T_BOOL:
            if (!json_is_boolean(j)) {
                vg__store_err(err, 400, "bad_request", key, "%s: true or false", key);
                return VG_EINVAL;
            }
            pending_add(p, f->column, (vg_val_t){.type = VG_VAL_INT, .i = json_is_true(j)});
            break;
        case T_MAPPINGS:
        case T_TIERS: {
            if ((f->type == T_MAPPINGS ? check_mappings(f, j, err) : check_tiers(f, j, err)) < 0)
                return VG_EINVAL;
            char *text = json_dumps(j, JSON_COMPACT);
            p->owned[p->nowned++] = text;
            pending_add(p, f->column, (vg_val_t){.type = VG_VAL_TEXT, .text = text});
            break;
        }
        case T_OWNER:
            break;
        }
    }
    if (is_create) {
        for (int i = 0; i < k->nfields; i++) {
            const field_t *f = &k->fields[i];
            if (f->is_required && json_object_get(fields, f->name) == NULL) {
                vg__store_err(err, 400, "bad_request", f->name, "%s is required", f->name);
                return VG_EINVAL;
            }
        }
    }
    return 0;
}

/* ---- secrets ---- */

/* The data key of a site, made (and stored wrapped) on first use. */
static int site_key(vg_store_t *s, const char *site_id, bool may_create, uint8_t key[VG_KEY_LEN],
                    vg_store_err_t *err);

typedef struct blob_ctx {
    uint8_t *data;
    size_t len;
    bool found;
} blob_ctx_t;

static int take_blob(const vg_val_t *vals, int n, void *arg)
{
    blob_ctx_t *b = arg;
    b->found = true;
    if (vals[0].type == VG_VAL_BLOB && vals[0].len > 0) {
        b->data = vg_xmalloc(vals[0].len);
        memcpy(b->data, vals[0].blob, vals[0].len);
        b->len = vals[0].len;
    }
    return 0;
}

static int read_blob(vg_store_t *s, const char *table, const char *column, const char *id,
                     blob_ctx_t *out, vg_store_err_t *err)
{
    *out = (blob_ctx_t){0};
    const char *cols[1] = {column};
    return s->ops->select(s->db, table, cols, 1, id, 0, 1, take_blob, out, err);
}

static int need_master(vg_store_t *s, vg_store_err_t *err)
{
    if (s->secrets)
        return 0;
    vg__store_err(err, 503, "locked", "password",
                  "camera passwords need the master key (--master-key-file or "
                  "VIGIL_MASTER_KEY); make one with `vigil keygen`");
    return VG_EINVAL;
}

static int site_key(vg_store_t *s, const char *site_id, bool may_create, uint8_t key[VG_KEY_LEN],
                    vg_store_err_t *err)
{
    if (need_master(s, err) < 0)
        return VG_EINVAL;
    char ad[96];
    snprintf(ad, sizeof(ad), "vigil site key:%s", site_id);
    blob_ctx_t b;
    if (read_blob(s, "sites", "data_key", site_id, &b, err) < 0)
        return VG_EINVAL;
    if (!b.found) {
        vg__store_err(err, 400, "bad_request", "site_id", "no site '%s'", site_id);
        return VG_EINVAL;
    }
    if (b.data) {
        int rc = vg_secrets_unwrap(s->secrets, b.data, b.len, ad, key);
        free(b.data);
        if (rc < 0)
            vg__store_err(err, 403, "wrong_master_key", "",
                          "site '%s': its key does not open with this master key", site_id);
        return rc;
    }
    if (!may_create) {
        vg__store_err(err, 500, "internal", "", "site '%s' has no key", site_id);
        return VG_EINVAL;
    }
    uint8_t wrapped[VG_KEY_LEN + VG_SEAL_OVERHEAD];
    vg_secrets_random_key(key);
    vg_secrets_wrap(s->secrets, key, ad, wrapped);
    const char *cols[1] = {"data_key"};
    vg_val_t v = {.type = VG_VAL_BLOB, .blob = wrapped, .len = sizeof(wrapped)};
    if (s->ops->update(s->db, "sites", site_id, cols, &v, 1, err) < 0)
        return VG_EINVAL;
    char fp[24];
    vg_secrets_fingerprint(s->secrets, fp);
    return s->ops->meta_set(s->db, META_FINGERPRINT, fp, err);
}

/* Seals password for camera_id under site_id's key into p (column password_sealed). */
static int seal_password(vg_store_t *s, const char *camera_id, const char *site_id,
                         const char *password, pending_t *p, vg_store_err_t *err)
{
    uint8_t key[VG_KEY_LEN];
    if (site_key(s, site_id, true, key, err) < 0)
        return VG_EINVAL;
    char ad[96];
    snprintf(ad, sizeof(ad), "vigil camera password:%s", camera_id);
    uint8_t *sealed;
    size_t len;
    int rc = vg_seal(key, password, strlen(password), ad, &sealed, &len);
    vg_secrets_wipe(key, sizeof(key));
    if (rc < 0) {
        vg__store_err(err, 500, "internal", "password", "cannot seal the password");
        return VG_EINVAL;
    }
    p->owned[p->nowned++] = (char *)sealed;
    pending_add(p, "password_sealed", (vg_val_t){.type = VG_VAL_BLOB, .blob = sealed, .len = len});
    return 0;
}

static int camera_unseal(vg_store_t *s, const char *camera_id, const char *site_id,
                         const uint8_t *sealed, size_t len, char **out, vg_store_err_t *err)
{
    uint8_t key[VG_KEY_LEN];
    if (site_key(s, site_id, false, key, err) < 0)
        return VG_EINVAL;
    char ad[96];
    snprintf(ad, sizeof(ad), "vigil camera password:%s", camera_id);
    int rc = vg_unseal(key, sealed, len, ad, out);
    vg_secrets_wipe(key, sizeof(key));
    if (rc < 0)
        vg__store_err(err, 403, "wrong_master_key", "password",
                      "camera '%s': its password does not open (wrong master key, or the "
                      "sealed value was moved from another camera)", camera_id);
    return rc;
}

/* ---- writing ---- */

static const char *json_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int write_record(vg_store_t *s, const kind_t *k, const char *id, json_t *fields,
                        bool is_create, const char *owner, json_t **out, vg_store_err_t *err)
{
    pending_t p = {0};
    int rc = VG_EINVAL;
    json_t *before = NULL;
    if (s->ops->begin(s->db, err) < 0)
        return VG_EINVAL;
    if (!is_create) {
        if (vg_store_get(s, k->name, id, &before, err) < 0)
            goto fail;
        const char *was_owner = json_str(before, "owner");
        if (owner == NULL && was_owner && strcmp(was_owner, "file") == 0) {
            vg__store_err(err, 409, "conflict", "owner",
                          "camera '%s' comes from the config file; change it there", id);
            goto fail;
        }
    }
    bool is_from_file = owner && strcmp(owner, "file") == 0;
    if (validate(s, k, fields, is_create, is_from_file, &p, err) < 0)
        goto fail;
    int64_t now = vg_wall_us();
    if (is_create) {
        id = json_str(fields, "id");
        if (json_object_get(fields, "name") == NULL)
            pending_add(&p, "name", (vg_val_t){.type = VG_VAL_TEXT, .text = id});
        pending_add(&p, "created_us", (vg_val_t){.type = VG_VAL_INT, .i = now});
    }
    if (owner)
        pending_add(&p, "owner", (vg_val_t){.type = VG_VAL_TEXT, .text = owner});
    pending_add(&p, "updated_us", (vg_val_t){.type = VG_VAL_INT, .i = now});
    if (strcmp(k->name, "cameras") == 0) {
        const char *site = json_str(fields, "site_id");
        if (site == NULL)
            site = before ? json_str(before, "site_id") : "default";
        const char *old_site = before ? json_str(before, "site_id") : NULL;
        if (p.password) {
            if (seal_password(s, id, site, p.password, &p, err) < 0)
                goto fail;
        } else if (p.clears_password) {
            pending_add(&p, "password_sealed", (vg_val_t){.type = VG_VAL_NULL});
        } else if (old_site && strcmp(old_site, site) != 0 &&
                   json_is_true(json_object_get(before, "has_password"))) {
            /* Moving to another site: the password follows, under the new site's key. */
            char *plain = NULL;
            if (vg_store_camera_password(s, id, &plain, err) < 0)
                goto fail;
            int sr = seal_password(s, id, site, plain, &p, err);
            vg_store_secret_free(&plain);
            if (sr < 0)
                goto fail;
        }
    }
    if (is_create)
        rc = s->ops->insert(s->db, k->name, p.cols, p.vals, p.n, err);
    else
        rc = s->ops->update(s->db, k->name, id, p.cols, p.vals, p.n, err);
    if (rc < 0)
        goto fail;
    if (s->ops->commit(s->db, err) < 0)
        goto fail;
    json_decref(before);
    pending_free(&p);
    return out ? vg_store_get(s, k->name, id, out, err) : 0;
fail:
    s->ops->rollback(s->db);
    json_decref(before);
    pending_free(&p);
    return VG_EINVAL;
}

int vg_store_create(vg_store_t *s, const char *kind, json_t *fields, json_t **out,
                    vg_store_err_t *err)
{
    const kind_t *k = kind_find(kind);
    if (k == NULL) {
        vg__store_err(err, 404, "not_found", "", "no kind of record '%s'", kind);
        return VG_ENOENT;
    }
    return write_record(s, k, NULL, fields, true,
                        strcmp(kind, "cameras") == 0 ? "api" : NULL, out, err);
}

int vg_store_update(vg_store_t *s, const char *kind, const char *id, json_t *fields,
                    json_t **out, vg_store_err_t *err)
{
    const kind_t *k = kind_find(kind);
    if (k == NULL) {
        vg__store_err(err, 404, "not_found", "", "no kind of record '%s'", kind);
        return VG_ENOENT;
    }
    return write_record(s, k, id, fields, false, NULL, out, err);
}

/* What a camera field becomes when the config file leaves it out. */
static json_t *file_default(const field_t *f, const char *id)
{
    if (strcmp(f->name, "site_id") == 0)
        return json_string("default");
    if (strcmp(f->name, "name") == 0)
        return json_string(id);
    return json_null(); /* its column default, or none */
}

int vg_store_upsert_file_camera(vg_store_t *s, json_t *fields, vg_store_err_t *err)
{
    const kind_t *k = kind_find("cameras");
    const char *id = json_str(fields, "id");
    bool exists = false;
    if (id && ref_exists(s, "cameras", id, &exists, err) < 0)
        return VG_EINVAL;
    if (!exists)
        return write_record(s, k, NULL, fields, true, "file", NULL, err);
    /* The file is the whole truth for its cameras: what it leaves out is reset. */
    json_t *rest = json_deep_copy(fields);
    json_object_del(rest, "id");
    for (int i = 0; i < k->nfields; i++) {
        const field_t *f = &k->fields[i];
        if (f->type != T_ID && f->type != T_OWNER && !f->is_required &&
            json_object_get(rest, f->name) == NULL)
            json_object_set_new(rest, f->name, file_default(f, id));
    }
    int rc = write_record(s, k, id, rest, false, "file", NULL, err);
    json_decref(rest);
    return rc;
}

int vg_store_delete(vg_store_t *s, const char *kind, const char *id, vg_store_err_t *err)
{
    const kind_t *k = kind_find(kind);
    if (k == NULL) {
        vg__store_err(err, 404, "not_found", "", "no kind of record '%s'", kind);
        return VG_ENOENT;
    }
    if (strcmp(kind, "sites") == 0 && strcmp(id, "default") == 0) {
        vg__store_err(err, 409, "conflict", "id", "the default site cannot be removed");
        return VG_EINVAL;
    }
    /* Name what still refers to the record, rather than a bare constraint failure. */
    static const struct {
        const char *kind, *table, *column;
    } refs[] = {
        {"tenants", "sites", "tenant_id"},
        {"gateways", "sites", "gateway_id"},
        {"sites", "cameras", "site_id"},
        {"tenants", "users", "tenant_id"},
    };
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        size_t n;
        if (strcmp(refs[i].kind, kind) != 0)
            continue;
        if (s->ops->count_where(s->db, refs[i].table, refs[i].column, id, &n, err) < 0)
            return VG_EINVAL;
        if (n > 0) {
            vg__store_err(err, 409, "conflict", "id", "%s '%s' is used by %zu %s", k->singular,
                          id, n, refs[i].table);
            return VG_EINVAL;
        }
    }
    if (strcmp(kind, "cameras") == 0) {
        json_t *cam;
        if (vg_store_get(s, kind, id, &cam, err) < 0)
            return VG_ENOENT;
        bool is_file = json_str(cam, "owner") && strcmp(json_str(cam, "owner"), "file") == 0;
        json_decref(cam);
        if (is_file) {
            vg__store_err(err, 409, "conflict", "owner",
                          "camera '%s' comes from the config file; remove it there", id);
            return VG_EINVAL;
        }
    }
    return s->ops->remove(s->db, k->name, id, err);
}

int vg_store_delete_file_camera(vg_store_t *s, const char *id, vg_store_err_t *err)
{
    return s->ops->remove(s->db, "cameras", id, err);
}

int vg_store_camera_password(vg_store_t *s, const char *camera_id, char **out,
                             vg_store_err_t *err)
{
    *out = NULL;
    json_t *cam;
    if (vg_store_get(s, "cameras", camera_id, &cam, err) < 0)
        return VG_ENOENT;
    char site[80];
    vg_strlcpy(site, json_str(cam, "site_id") ? json_str(cam, "site_id") : "default",
               sizeof(site));
    json_decref(cam);
    blob_ctx_t b;
    if (read_blob(s, "cameras", "password_sealed", camera_id, &b, err) < 0)
        return VG_EINVAL;
    if (b.data == NULL)
        return 0;
    int rc = camera_unseal(s, camera_id, site, b.data, b.len, out, err);
    free(b.data);
    return rc;
}

void vg_store_secret_free(char **secret)
{
    if (*secret)
        vg_unsealed_free(secret);
}

/* The fingerprint is written with the first site key, so it marks sealed secrets. */
bool vg_store_has_sealed_secrets(vg_store_t *s)
{
    vg_store_err_t err;
    char *fp = NULL;
    bool has = s->ops->meta_get(s->db, META_FINGERPRINT, &fp, &err) == 0 && fp != NULL;
    free(fp);
    return has;
}

/* Ids of the sites that hold a wrapped key. */
typedef struct rekey_ctx {
    char (*ids)[80];
    size_t n, cap;
} rekey_ctx_t;

static int take_id(const vg_val_t *vals, int n, void *arg)
{
    rekey_ctx_t *r = arg;
    if (vals[0].type != VG_VAL_TEXT || vals[1].type != VG_VAL_BLOB)
        return 0;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->ids = vg_xrealloc(r->ids, r->cap * sizeof(r->ids[0]));
    }
    vg_strlcpy(r->ids[r->n++], vals[0].text, sizeof(r->ids[0]));
    return 0;
}

int vg_store_rekey(vg_store_t *s, vg_secrets_t *new_master, vg_store_err_t *err)
{
    if (need_master(s, err) < 0)
        return VG_EINVAL;
    rekey_ctx_t ctx = {0}, *r = &ctx;
    const char *cols[2] = {"id", "data_key"};
    int rc = VG_EINVAL;
    if (s->ops->begin(s->db, err) < 0)
        goto out;
    if (s->ops->select(s->db, "sites", cols, 2, NULL, 0, 1000000, take_id, r, err) < 0)
        goto fail;
    for (size_t i = 0; i < r->n; i++) {
        uint8_t key[VG_KEY_LEN];
        if (site_key(s, r->ids[i], false, key, err) < 0)
            goto fail;
        char ad[96];
        snprintf(ad, sizeof(ad), "vigil site key:%s", r->ids[i]);
        uint8_t wrapped[VG_KEY_LEN + VG_SEAL_OVERHEAD];
        vg_secrets_wrap(new_master, key, ad, wrapped);
        vg_secrets_wipe(key, sizeof(key));
        const char *c[1] = {"data_key"};
        vg_val_t v = {.type = VG_VAL_BLOB, .blob = wrapped, .len = sizeof(wrapped)};
        if (s->ops->update(s->db, "sites", r->ids[i], c, &v, 1, err) < 0)
            goto fail;
    }
    char fp[24];
    vg_secrets_fingerprint(new_master, fp);
    if (s->ops->meta_set(s->db, META_FINGERPRINT, fp, err) < 0 || s->ops->commit(s->db, err) < 0)
        goto fail;
    s->secrets = new_master;
    rc = 0;
    goto out;
fail:
    s->ops->rollback(s->db);
out:
    free(ctx.ids);
    return rc;
}
