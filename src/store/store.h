/* store: vigil's configuration database — tenants, sites, gateways and cameras — behind one
 * interface (an ops table), implemented on SQLite (sqlite.c) so that a PostgreSQL
 * implementation can follow without touching callers.
 *
 * Records cross the interface as JSON objects (jansson): the same shape the REST API and the
 * CLI show, so one validator (schema.c) serves them all and errors name the field. Camera
 * passwords are write-only: a "password" given on create/update is sealed with the camera's
 * site key (secrets.c) before it reaches the database, and records never carry it back
 * ("has_password" says whether one is set).
 *
 * Not thread-safe: one store handle per thread (SQLite serialises writers across processes;
 * other processes may write the same file at any time, see vg_store_data_version).
 */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_store vg_store_t;
#define VG_STORE_PWHASH_MAX 128
typedef struct vg_secrets vg_secrets_t;

/* An error for the caller to show: an HTTP-ish status, a code, the field at fault (or ""),
 * and a message naming it. */
typedef struct vg_store_err {
    int status;        /* 400 invalid, 404 not found, 409 conflict, 500 storage */
    char code[32];     /* "bad_request", "not_found", "conflict", "locked", "internal" */
    char field[64];
    char message[256];
} vg_store_err_t;

/* The kinds of record: "tenants", "sites", "gateways", "cameras". */
bool vg_store_kind_is_valid(const char *kind);

typedef struct vg_store_cfg {
    const char *path;          /* the database file, e.g. "vigil.db", or a PostgreSQL URL
                                  (postgresql://user@host:port/db, libpq's conninfo URI) */
    vg_secrets_t *secrets;     /* borrowed; NULL: sealed secrets cannot be read or written */
    bool is_read_only;
} vg_store_cfg_t;

/* JSON Schema (as OpenAPI 3.0 writes it) of a record of kind, from the same field table the
 * validator uses, so that the API's description cannot drift from what it accepts:
 * VG_SCHEMA_RECORD what reads return, VG_SCHEMA_CREATE and VG_SCHEMA_UPDATE what writes take.
 * New reference, or NULL for an unknown kind. */
typedef enum { VG_SCHEMA_RECORD, VG_SCHEMA_CREATE, VG_SCHEMA_UPDATE } vg_schema_mode_t;
json_t *vg_store_schema(const char *kind, vg_schema_mode_t mode);

/* Whether path names a PostgreSQL database (postgresql:// or postgres://) rather than a file. */
bool vg_store_is_postgresql(const char *path);

/* Opens (creating the file and applying migrations when needed). Returns 0, or < 0 with a
 * message in err (a locked or corrupt file, a newer schema than this vigil knows). */
int vg_store_open(vg_store_t **out, const vg_store_cfg_t *cfg, vg_store_err_t *err);
void vg_store_close(vg_store_t **sp);

/* The schema version the database is at. */
int vg_store_schema_version(vg_store_t *s);

/* A number that changes whenever another connection (any process) commits a change to the
 * database; compare successive values to notice edits made elsewhere. */
int64_t vg_store_data_version(vg_store_t *s);

/* How long a call waits for another process's lock on the database before it fails with 503
 * "busy" (the store thread sets it per job from the job's deadline). */
void vg_store_set_busy_timeout(vg_store_t *s, int ms);

/* CRUD. ids: cameras use their slug; tenants, sites and gateways a slug too ("id"). Records
 * are new references the caller frees. list: offset/limit paging (limit 1..1000), *total set
 * to the count of all records of the kind. create/update take the fields to set (update:
 * only those present; null clears an optional field); unknown fields, wrong types, bad URL
 * schemes, dangling references and duplicate ids are errors naming the field. */
int vg_store_list(vg_store_t *s, const char *kind, size_t offset, size_t limit, json_t **out,
                  size_t *total, vg_store_err_t *err);
int vg_store_get(vg_store_t *s, const char *kind, const char *id, json_t **out,
                 vg_store_err_t *err);
int vg_store_create(vg_store_t *s, const char *kind, json_t *fields, json_t **out,
                    vg_store_err_t *err);
int vg_store_update(vg_store_t *s, const char *kind, const char *id, json_t *fields,
                    json_t **out, vg_store_err_t *err);
int vg_store_delete(vg_store_t *s, const char *kind, const char *id, vg_store_err_t *err);

/* Inserts or replaces a camera declared in the config file, marked as owned by the file
 * (the API and CLI refuse to edit those). */
int vg_store_upsert_file_camera(vg_store_t *s, json_t *fields, vg_store_err_t *err);

/* Removes a camera the config file no longer declares (the one way to delete those). */
int vg_store_delete_file_camera(vg_store_t *s, const char *id, vg_store_err_t *err);

/* A camera's password in clear (for dialling only; never log it). *out is NULL when it has
 * none. Returns 0, or < 0 when it cannot be unsealed (no or wrong master key). The caller
 * wipes and frees it with vg_store_secret_free. */
int vg_store_camera_password(vg_store_t *s, const char *camera_id, char **out,
                             vg_store_err_t *err);
void vg_store_secret_free(char **secret);

/* Whether any sealed secret exists (vigil refuses to start without a master key then). */
bool vg_store_has_sealed_secrets(vg_store_t *s);

/* Re-wraps every site key under a new master key, in one transaction. */
int vg_store_rekey(vg_store_t *s, vg_secrets_t *new_master, vg_store_err_t *err);

/* ---- Access (access.c): grants, login credentials, sessions, audit ----
 *
 * A grant gives a tenant or one user a camera or a whole site. A user sees a camera granted
 * to them or to their tenant, directly or through its site, and every camera of a site their
 * tenant owns (sites.tenant_id); admins see everything. The rule is applied to the access
 * snapshot below, in one place (auth/cache.c). */
typedef struct vg_grant {
    const char *tenant_id, *user_id; /* exactly one */
    const char *camera_id, *site_id; /* exactly one */
} vg_grant_t;

/* Adds a grant (already there: 0). 400 when not exactly one of each pair, 404 naming the
 * field when a party or the camera/site does not exist. */
int vg_store_grant(vg_store_t *s, const vg_grant_t *g, vg_store_err_t *err);
/* Removes a grant; 404 when there was none. */
int vg_store_revoke(vg_store_t *s, const vg_grant_t *g, vg_store_err_t *err);
/* Grants, optionally only those of one tenant or user (NULL: all), as
 * [{"tenant_id"|"user_id":..., "camera_id"|"site_id":...}]. */
int vg_store_list_grants(vg_store_t *s, const char *tenant_id, const char *user_id,
                         json_t **out, vg_store_err_t *err);

/* What login needs of a user. password_hash is "" when the user has none (cannot log in). */
typedef struct vg_store_login {
    char role[16];
    char tenant_id[64]; /* "" when none */
    char password_hash[VG_STORE_PWHASH_MAX];
    bool is_enabled;
} vg_store_login_t;
/* 0, 404 (VG_ENOENT) when no such user, or < 0 with err. */
int vg_store_user_login(vg_store_t *s, const char *user_id, vg_store_login_t *out,
                        vg_store_err_t *err);
/* Whether any enabled admin user exists. */
int vg_store_has_admin(vg_store_t *s, bool *out, vg_store_err_t *err);

/* Sessions, keyed by a hash of the token (the token itself is never stored). */
#define VG_SESSION_HASH_LEN 32
int vg_store_session_add(vg_store_t *s, const uint8_t hash[VG_SESSION_HASH_LEN],
                         const char *user_id, int64_t expires_us, const char *peer,
                         vg_store_err_t *err);
int vg_store_session_remove(vg_store_t *s, const uint8_t hash[VG_SESSION_HASH_LEN],
                            vg_store_err_t *err);
/* Ends every session of a user (password changed, disabled); and expired ones of anybody. */
int vg_store_sessions_end_user(vg_store_t *s, const char *user_id, vg_store_err_t *err);
int vg_store_sessions_purge(vg_store_t *s, int64_t now_us, vg_store_err_t *err);

/* The audit log: who did what to what, from where, and how it went. */
typedef struct vg_audit_entry {
    const char *actor;   /* user id, "jwt:<sub>", "cli:<unix user>", "-" (anonymous) */
    const char *action;  /* "login", "logout", "grant", "revoke", "camera.update", "ptz", ... */
    const char *target;  /* what it acted on, or NULL */
    const char *outcome; /* "ok", "denied", "failed" */
    const char *detail;  /* short free text, or NULL (never a secret) */
    const char *peer;    /* "ip:port" or NULL */
} vg_audit_entry_t;
int vg_store_audit(vg_store_t *s, const vg_audit_entry_t *e, vg_store_err_t *err);
/* Newest first, paged; *total all entries. [{id, at_us, actor, action, target, outcome,
 * detail, peer}] */
int vg_store_audit_list(vg_store_t *s, size_t offset, size_t limit, json_t **out,
                        size_t *total, vg_store_err_t *err);

/* ---- The access snapshot (access.c): what the gate decides with, read at once ----
 *
 * The loop never queries the database for a request: the store thread reads this whole
 * picture (users without their password hashes, unexpired sessions, grants, cameras with
 * their site's tenant, integration keys) after every change, and the loop keeps it in a
 * cache (auth/cache.h). Each array is sorted by its key (id, or hash) for binary search. */
typedef struct vg_access_user {
    char id[64], role[16], tenant_id[64]; /* tenant_id "" when none */
    bool is_enabled;
    int64_t auth_epoch; /* bumped by a new password or a disable (schema 4's trigger) */
} vg_access_user_t;
typedef struct vg_access_session {
    uint8_t hash[VG_SESSION_HASH_LEN];
    char user_id[64];
    int64_t expires_us;
} vg_access_session_t;
typedef struct vg_access_grant {
    char tenant_id[64], user_id[64], camera_id[64], site_id[64]; /* "" for the unused ones */
} vg_access_grant_t;
typedef struct vg_access_camera {
    char id[64], site_id[64], site_tenant_id[64];
    bool is_enabled;
} vg_access_camera_t;
typedef struct vg_access_key {
    char id[64], user_id[64], role[16];
    uint8_t hash[VG_SESSION_HASH_LEN];
    json_t *cameras;    /* array of camera ids, or NULL: whatever the user sees */
    int64_t expires_us; /* 0: never */
} vg_access_key_t;
typedef struct vg_access {
    vg_access_user_t *users;
    size_t user_count;
    vg_access_session_t *sessions;
    size_t session_count;
    vg_access_grant_t *grants;
    size_t grant_count;
    vg_access_camera_t *cameras;
    size_t camera_count;
    vg_access_key_t *keys;
    size_t key_count;
} vg_access_t;

/* Reads the snapshot in one read transaction (sessions expired at now_us left out). */
int vg_store_access_load(vg_store_t *s, int64_t now_us, vg_access_t **out, vg_store_err_t *err);
void vg_access_free(vg_access_t **ap);

/* ---- Integration keys (apikeys.c): long-lived, revocable credentials for clients that
 * cannot sign in (NVRs, Home Assistant, VLC, another vigil). The key itself is shown once,
 * at creation; the database keeps only its BLAKE2b-256 hash. A key acts for its user, with
 * at most its own role (viewer unless asked) and, when it lists cameras, only those. ---- */
#define VG_API_KEY_MAX 96 /* "vk_" id "_" 43 base64url characters, NUL */
typedef struct vg_key_spec {
    const char *user_id;
    const char *name;     /* NULL: the id */
    const char *role;     /* NULL: "viewer"; never above the user's own at use */
    json_t *cameras;      /* borrowed array of camera ids, NULL: the user's view */
    int64_t expires_us;   /* 0: never */
} vg_key_spec_t;
/* Makes a key: key_out gets it in clear (once), *out its record. 400/404 naming the field. */
int vg_store_key_add(vg_store_t *s, const vg_key_spec_t *spec, char key_out[VG_API_KEY_MAX],
                     json_t **out, vg_store_err_t *err);
/* Records, optionally of one user: [{id, name, user_id, role, cameras, created_at,
 * expires_at, last_used_at}] (times in seconds, null when unset). */
int vg_store_key_list(vg_store_t *s, const char *user_id, json_t **out, vg_store_err_t *err);
int vg_store_key_get(vg_store_t *s, const char *id, json_t **out, vg_store_err_t *err);
/* 404 when there is no such key. */
int vg_store_key_remove(vg_store_t *s, const char *id, vg_store_err_t *err);
/* Notes that a key was used (at most this precise: callers batch). */
int vg_store_key_touch(vg_store_t *s, const char *id, int64_t now_us, vg_store_err_t *err);
/* The hash a key is kept and looked up by. */
void vg_api_key_hash(const char *key, size_t len, uint8_t out[VG_SESSION_HASH_LEN]);
/* Whether s looks like a key ("vk_" prefix): then it is judged as one, never as a JWT. */
bool vg_api_key_is_key(const char *s);

/* Appends several audit entries in one transaction. */
int vg_store_audit_many(vg_store_t *s, const vg_audit_entry_t *e, size_t n, vg_store_err_t *err);

/* ---- Instances and camera leases (cluster.c, issue 18): vigil instances that share one
 * database register themselves, and each camera is pulled by the one instance that holds
 * its lease, a row with an expiry that the holder renews. Taking a lease is one statement
 * that grants it only when it is free, expired or already the taker's: two instances can
 * never both hold one, on SQLite or PostgreSQL. ---- */
typedef struct vg_instance_info {
    const char *id;       /* unique among the instances (e.g. the pod's name) */
    const char *urls;     /* a JSON array of the URLs it is reached at ("[]": none given) */
    int64_t capacity;     /* how many cameras it would pull (0: unstated) */
    int64_t load;         /* how many it pulls now */
    bool is_draining;     /* handing its cameras over before it exits */
    int64_t started_us;   /* when this process started (wall clock; 0: now) */
} vg_instance_info_t;
/* Registers the instance or renews its heartbeat (now_us). A drain asked with
 * vg_store_instance_drain stays set while started_us is the same (this process). */
int vg_store_instance_beat(vg_store_t *s, const vg_instance_info_t *me, int64_t now_us,
                           vg_store_err_t *err);
/* Removes the instance and releases its leases (a clean exit). */
int vg_store_instance_remove(vg_store_t *s, const char *id, vg_store_err_t *err);
/* [{id, urls, capacity, load, draining, started_us, heartbeat_us, alive, leases}], by id;
 * alive: its heartbeat is younger than alive_us. */
int vg_store_instance_list(vg_store_t *s, int64_t now_us, int64_t alive_us, json_t **out,
                           vg_store_err_t *err);
/* Takes or renews camera_id's lease for instance until now_us + ttl_us. owner (64 bytes)
 * gets who holds it afterwards: instance itself when granted, else the other holder, whose
 * lease runs until *expires_us. 0 either way; 404 when there is no such camera. */
int vg_store_lease_take(vg_store_t *s, const char *camera_id, const char *instance,
                        int64_t now_us, int64_t ttl_us, char owner[64], int64_t *expires_us,
                        vg_store_err_t *err);
/* Renews every lease instance holds until now_us + ttl_us; *held gets the ids of the cameras
 * it holds afterwards (a JSON array: one it no longer holds was taken over after expiring). */
int vg_store_leases_renew(vg_store_t *s, const char *instance, int64_t now_us, int64_t ttl_us,
                          json_t **held, vg_store_err_t *err);
/* Every camera's lease as {camera_id: {"holder": instance, "valid": unexpired at now_us}}. */
int vg_store_leases_list(vg_store_t *s, int64_t now_us, json_t **out, vg_store_err_t *err);
/* The first rtsp:// URL instance registered (out, cap bytes): 0, or VG_ENOENT (none). */
int vg_store_instance_rtsp_url(vg_store_t *s, const char *instance, char *out, size_t cap,
                               vg_store_err_t *err);
/* Like vg_store_lease_take, but a camera whose lease is free goes to the least loaded live
 * instance: the one holding the fewest leases among those whose heartbeat is younger than
 * alive_us and that are not draining, when it holds at least VG_PLACE_MARGIN fewer than
 * instance (a relay hop costs something; a camera's difference does not pay for it); else
 * to instance. A lease held stays where it is. owner gets the holder afterwards: instance
 * pulls the camera; another relays it from owner, whose RTSP server then takes the lease it
 * was given when asked (issue 18, placement by load). */
#define VG_PLACE_MARGIN 2
int vg_store_lease_place(vg_store_t *s, const char *camera_id, const char *instance,
                         int64_t now_us, int64_t ttl_us, int64_t alive_us, char owner[64],
                         int64_t *expires_us, vg_store_err_t *err);
/* Asks instance id to drain: it hands its cameras over and exits (it sees the flag with its
 * next heartbeat). 404 when no such instance is registered. */
int vg_store_instance_drain(vg_store_t *s, const char *id, vg_store_err_t *err);
/* Whether instance id was asked to drain (false when it is not registered). */
int vg_store_instance_is_draining(vg_store_t *s, const char *id, bool *out, vg_store_err_t *err);
/* Edge sites (fleet/uplink.h) on a shared database: instance records that site's uplink
 * reached it (renewed with its heartbeat; the newest claim wins), and gives it up when the
 * link goes. */
int vg_store_site_claim(vg_store_t *s, const char *site, const char *instance, int64_t now_us,
                        vg_store_err_t *err);
int vg_store_site_release(vg_store_t *s, const char *site, const char *instance,
                          vg_store_err_t *err);
/* The instance whose claim on site is younger than alive_us (owner, 64 bytes; "" when none)
 * and the first rtsp:// URL it registered (url, cap bytes; "" when none). */
int vg_store_site_where(vg_store_t *s, const char *site, int64_t now_us, int64_t alive_us,
                        char owner[64], char *url, size_t cap, vg_store_err_t *err);
/* Gives a lease up (only the holder's; another's stays). */
int vg_store_lease_release(vg_store_t *s, const char *camera_id, const char *instance,
                           vg_store_err_t *err);

#endif
