/* admin: the commands that work on the configuration database directly (the server need not
 * run): keygen, rekey (the master key, or the signing keys' key file), and
 * tenant|site|gateway|camera|user add|list|show|set|rm.
 *
 * Fields are given as key=value (a string) or key:=JSON (a number, true/false, null, an
 * array or object), as in httpie; a camera password is better read from standard input with
 * --password-stdin than given on the command line, where other users can see it in ps.
 */
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/util.h"
#include "store/keys.h"
#include "store/secrets.h"
#include "store/store.h"

#define DEFAULT_DB "vigil.db"

typedef struct admin_opts {
    const char *db;
    const char *key_file;
    bool is_json;
    bool password_stdin;
    long offset, limit;
} admin_opts_t;

static void admin_usage(FILE *out, const char *kind)
{
    fprintf(out,
            "usage: vigil %s add FIELD=VALUE... | list | show ID | set ID FIELD=VALUE... | rm ID\n"
            "       vigil user passwd ID            (the new password on standard input)\n"
            "       vigil user|tenant grant ID camera=CAMERA|site=SITE\n"
            "       vigil user|tenant revoke ID camera=CAMERA|site=SITE\n"
            "       vigil user|tenant grants ID     (what ID has been granted)\n"
            "\n"
            "Edits the configuration database directly; a running server picks the change up.\n"
            "\n"
            "FIELD=VALUE sets a string, FIELD:=JSON anything else (numbers, true/false, null,\n"
            "arrays), e.g.  vigil camera add id=gate url=rtsp://10.0.0.5/s always_on:=true\n"
            "\n"
            "fields:\n"
            "  tenant   id name\n"
            "  site     id name tenant_id is_local:=BOOL gateway_id\n"
            "  gateway  id name host mappings:='[{\"lan_host\":H,\"lan_port\":P,\"port\":Q}]'\n"
            "  camera   id name site_id url substream_url snapshot_url username password\n"
            "           ptz_driver ptz_address always_on:=BOOL idle_timeout_s:=N\n"
            "           tiers:=JSON default_tier priority:=N enabled:=BOOL\n"
            "           onvif=URL  (the device service: fills url, substream_url,\n"
            "           snapshot_url and, for a PTZ device, ptz_driver and ptz_address\n"
            "           from the device; with username and --password-stdin)\n"
            "  user     id name role (admin, operator, viewer) tenant_id password\n"
            "           enabled:=BOOL; the password is kept as an Argon2id hash\n"
            "\n"
            "options:\n"
            "      --db FILE|URL          the database, a file or postgresql:// (env VIGIL_DB;\n"
            "                             default " DEFAULT_DB ")\n"
            "      --master-key-file FILE the master key (env VIGIL_MASTER_KEY_FILE, or the\n"
            "                             key itself in VIGIL_MASTER_KEY); needed to set a\n"
            "                             camera password\n"
            "      --password-stdin       read the camera's or user's password from standard\n"
            "                             input (never on the command line: ps shows it)\n"
            "      --json                 print JSON\n"
            "      --offset N, --limit N  list paging (default 0, 100)\n"
            "  -h, --help                 show this help\n",
            kind ? kind : "tenant|site|gateway|camera|user");
}

static void print_err(const char *what, const char *id, const vg_store_err_t *err)
{
    fprintf(stderr, "vigil: %s%s%s%s: %s\n", what, id ? " '" : "", id ? id : "", id ? "'" : "",
            err->message);
}

static int open_store(const admin_opts_t *o, vg_store_t **s, vg_secrets_t **sec)
{
    char msg[256];
    const char *key_file = o->key_file ? o->key_file : getenv("VIGIL_MASTER_KEY_FILE");
    if (key_file && !*key_file)
        key_file = NULL;
    if (vg_secrets_init() < 0 ||
        vg_secrets_load(sec, key_file, getenv("VIGIL_MASTER_KEY"), msg, sizeof(msg)) < 0) {
        fprintf(stderr, "vigil: %s\n", msg);
        return 1;
    }
    vg_store_err_t err;
    vg_store_cfg_t cfg = {.path = o->db, .secrets = *sec};
    if (vg_store_open(s, &cfg, &err) < 0) {
        char shown[512]; /* a PostgreSQL URL may carry a password */
        vg_url_redact(o->db, shown, sizeof(shown));
        fprintf(stderr, "vigil: %s: %s\n", shown, err.message);
        vg_secrets_free(sec);
        return 1;
    }
    return 0;
}

/* key=value and key:=json arguments into an object. */
static json_t *parse_fields(char **args, int n, const admin_opts_t *o)
{
    json_t *obj = json_object();
    for (int i = 0; i < n; i++) {
        char *eq = strchr(args[i], '=');
        if (eq == NULL || eq == args[i]) {
            fprintf(stderr, "vigil: '%s': expected FIELD=VALUE or FIELD:=JSON\n", args[i]);
            json_decref(obj);
            return NULL;
        }
        bool is_json = eq > args[i] && eq[-1] == ':';
        char key[64];
        size_t klen = (size_t)(eq - args[i]) - (is_json ? 1 : 0);
        if (klen == 0 || klen >= sizeof(key)) {
            fprintf(stderr, "vigil: '%s': bad field name\n", args[i]);
            json_decref(obj);
            return NULL;
        }
        memcpy(key, args[i], klen);
        key[klen] = '\0';
        json_t *v;
        if (is_json) {
            json_error_t je;
            v = json_loads(eq + 1, JSON_DECODE_ANY, &je);
            if (v == NULL) {
                fprintf(stderr, "vigil: %s: not JSON (%s)\n", key, je.text);
                json_decref(obj);
                return NULL;
            }
        } else {
            v = json_string(eq + 1);
        }
        json_object_set_new(obj, key, v);
    }
    if (o->password_stdin) {
        char line[1100];
        if (fgets(line, sizeof(line), stdin) == NULL) {
            fprintf(stderr, "vigil: --password-stdin: nothing on standard input\n");
            json_decref(obj);
            return NULL;
        }
        line[strcspn(line, "\r\n")] = '\0';
        json_object_set_new(obj, "password", json_string(line));
        vg_secrets_wipe(line, sizeof(line));
    }
    return obj;
}

static void print_record(json_t *rec, bool is_json)
{
    if (is_json) {
        json_dumpf(rec, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(rec, key, v) {
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *shown = json_is_string(v) ? json_string_value(v) : text;
        char redacted[512];
        if (strstr(key, "url") && json_is_string(v)) {
            vg_url_redact(shown, redacted, sizeof(redacted));
            shown = redacted;
        }
        printf("%-16s %s\n", key, shown ? shown : "");
        free(text);
    }
}

static void print_list(const char *kind, json_t *arr, size_t total, const admin_opts_t *o)
{
    if (o->is_json) {
        json_t *doc = json_pack("{s:O,s:I,s:I,s:I}", kind, arr, "total", (json_int_t)total,
                                "offset", (json_int_t)o->offset, "limit", (json_int_t)o->limit);
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(doc);
        return;
    }
    bool is_camera = strcmp(kind, "cameras") == 0;
    printf("%-20s %-24s %s\n", "ID", "NAME", is_camera ? "URL" : "");
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec) {
        char url[512] = "";
        if (is_camera)
            vg_url_redact(json_string_value(json_object_get(rec, "url")), url, sizeof(url));
        printf("%-20s %-24s %s\n", json_string_value(json_object_get(rec, "id")),
               json_string_value(json_object_get(rec, "name")), url);
    }
    if (total > json_array_size(arr))
        printf("(%zu of %zu; --offset/--limit for more)\n", json_array_size(arr), total);
}

static const char *plural(const char *kind)
{
    if (strcmp(kind, "tenant") == 0)
        return "tenants";
    if (strcmp(kind, "site") == 0)
        return "sites";
    if (strcmp(kind, "gateway") == 0)
        return "gateways";
    if (strcmp(kind, "camera") == 0)
        return "cameras";
    if (strcmp(kind, "user") == 0)
        return "users";
    return NULL;
}

void vg__cli_actor(char *out, size_t out_len)
{
    /* The real uid: $USER is the caller's to set, so USER=root vigil ... would put someone
     * else's name in the audit trail. */
    uid_t uid = getuid();
    struct passwd *pw = getpwuid(uid);
    if (pw && pw->pw_name && *pw->pw_name)
        snprintf(out, out_len, "cli:%.60s", pw->pw_name);
    else
        snprintf(out, out_len, "cli:uid:%lu", (unsigned long)uid);
}

static void audit_cli(vg_store_t *s, const char *action, const char *target,
                      const char *outcome, const char *detail)
{
    char actor[80];
    vg__cli_actor(actor, sizeof(actor));
    vg_audit_entry_t e = {.actor = actor, .action = action, .target = target,
                          .outcome = outcome, .detail = detail};
    vg_store_err_t err;
    vg_store_audit(s, &e, &err);
}

/* vigil user|tenant grant|revoke ID camera=X|site=Y, and grants ID. */
static int grant_command(const admin_opts_t *o, const char *kind_arg, const char *verb,
                         char **rest, int nrest)
{
    bool is_user = strcmp(kind_arg, "user") == 0;
    if (!is_user && strcmp(kind_arg, "tenant") != 0) {
        fprintf(stderr, "vigil: grants go to a user or a tenant, not a %s\n", kind_arg);
        return 2;
    }
    bool is_list = strcmp(verb, "grants") == 0;
    if (nrest != (is_list ? 1 : 2)) {
        fprintf(stderr, "vigil: usage: vigil %s %s ID%s\n", kind_arg, verb,
                is_list ? "" : " camera=CAMERA|site=SITE");
        return 2;
    }
    vg_grant_t g = {0};
    if (is_user)
        g.user_id = rest[0];
    else
        g.tenant_id = rest[0];
    if (!is_list) {
        if (strncmp(rest[1], "camera=", 7) == 0) {
            g.camera_id = rest[1] + 7;
        } else if (strncmp(rest[1], "site=", 5) == 0) {
            g.site_id = rest[1] + 5;
        } else {
            fprintf(stderr, "vigil: %s %s: say what: camera=ID or site=ID (not '%s')\n",
                    kind_arg, verb, rest[1]);
            return 2;
        }
    }
    vg_store_t *s = NULL;
    vg_secrets_t *sec = NULL;
    if (open_store(o, &s, &sec) != 0)
        return 1;
    vg_store_err_t err;
    int rc = 0;
    if (is_list) {
        json_t *list;
        if (vg_store_list_grants(s, g.tenant_id, g.user_id, &list, &err) < 0) {
            print_err(kind_arg, rest[0], &err);
            rc = 1;
        } else if (o->is_json) {
            char *text = json_dumps(list, JSON_INDENT(2));
            printf("%s\n", text);
            free(text);
            json_decref(list);
        } else {
            size_t i;
            json_t *gr;
            json_array_foreach(list, i, gr)
            {
                const char *cam = json_string_value(json_object_get(gr, "camera_id"));
                printf("%s %s\n", cam ? "camera" : "site",
                       cam ? cam : json_string_value(json_object_get(gr, "site_id")));
            }
            if (json_array_size(list) == 0)
                printf("(no grants)\n");
            json_decref(list);
        }
    } else {
        bool is_grant = strcmp(verb, "grant") == 0;
        char target[200];
        snprintf(target, sizeof(target), "%s:%s -> %s", kind_arg, rest[0], rest[1]);
        int wr = is_grant ? vg_store_grant(s, &g, &err) : vg_store_revoke(s, &g, &err);
        audit_cli(s, verb, target, wr < 0 ? "failed" : "ok", wr < 0 ? err.message : NULL);
        if (wr < 0) {
            print_err(kind_arg, rest[0], &err);
            rc = 1;
        } else {
            printf("%s %s '%s' %s %s\n", is_grant ? "granted" : "revoked", kind_arg, rest[0],
                   is_grant ? "->" : "-x", rest[1]);
        }
    }
    vg_store_close(&s);
    vg_secrets_free(&sec);
    return rc;
}

int vg_cli_admin(const char *kind_arg, int argc, char **argv)
{
    const char *kind = plural(kind_arg);
    admin_opts_t o = {.db = getenv("VIGIL_DB") && *getenv("VIGIL_DB") ? getenv("VIGIL_DB")
                                                                       : DEFAULT_DB,
                      .limit = 100};
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"master-key-file", required_argument, NULL, 'k'},
        {"password-stdin", no_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"offset", required_argument, NULL, 'o'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    optind = 1;
    int c;
    long long n;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'k': o.key_file = optarg; break;
        case 'p': o.password_stdin = true; break;
        case 'j': o.is_json = true; break;
        case 'o':
        case 'l':
            if (vg_parse_int(optarg, c == 'o' ? 0 : 1, c == 'o' ? 1000000000 : 1000, &n) < 0) {
                fprintf(stderr, "vigil: --%s '%s': out of range\n", c == 'o' ? "offset" : "limit",
                        optarg);
                return 2;
            }
            if (c == 'o')
                o.offset = (long)n;
            else
                o.limit = (long)n;
            break;
        case 'h': admin_usage(stdout, kind_arg); return 0;
        default: admin_usage(stderr, kind_arg); return 2;
        }
    }
    if (optind >= argc) {
        admin_usage(stderr, kind_arg);
        return 2;
    }
    const char *verb = argv[optind++];
    if (strcmp(verb, "passwd") == 0 && strcmp(kind_arg, "user") == 0) {
        verb = "set"; /* a user's new password, from standard input */
        o.password_stdin = true;
    }
    char **rest = argv + optind;
    int nrest = argc - optind;
    if (strcmp(verb, "grant") == 0 || strcmp(verb, "revoke") == 0 ||
        strcmp(verb, "grants") == 0)
        return grant_command(&o, kind_arg, verb, rest, nrest);
    bool needs_id = strcmp(verb, "show") == 0 || strcmp(verb, "set") == 0 ||
                    strcmp(verb, "rm") == 0;
    bool is_known = needs_id || strcmp(verb, "add") == 0 || strcmp(verb, "list") == 0;
    if (!is_known || (needs_id && nrest < 1) || (strcmp(verb, "list") == 0 && nrest > 0) ||
        ((strcmp(verb, "show") == 0 || strcmp(verb, "rm") == 0) && nrest != 1)) {
        fprintf(stderr, "vigil: %s %s: wrong arguments\n\n", kind_arg, verb);
        admin_usage(stderr, kind_arg);
        return 2;
    }
    vg_store_t *s = NULL;
    vg_secrets_t *sec = NULL;
    if (open_store(&o, &s, &sec) != 0)
        return 1;
    int rc = 1;
    vg_store_err_t err;
    json_t *out = NULL, *fields = NULL;
    if (strcmp(verb, "list") == 0) {
        size_t total;
        if (vg_store_list(s, kind, (size_t)o.offset, (size_t)o.limit, &out, &total, &err) < 0) {
            print_err(kind, NULL, &err);
            goto done;
        }
        print_list(kind, out, total, &o);
    } else if (strcmp(verb, "show") == 0) {
        if (vg_store_get(s, kind, rest[0], &out, &err) < 0) {
            print_err(kind_arg, rest[0], &err);
            goto done;
        }
        print_record(out, o.is_json);
    } else if (strcmp(verb, "rm") == 0) {
        char action[32];
        snprintf(action, sizeof(action), "%s.delete", kind);
        int wr = vg_store_delete(s, kind, rest[0], &err);
        audit_cli(s, action, rest[0], wr < 0 ? "failed" : "ok", wr < 0 ? err.message : NULL);
        if (wr < 0) {
            print_err(kind_arg, rest[0], &err);
            goto done;
        }
        if (!o.is_json)
            printf("removed %s '%s'\n", kind_arg, rest[0]);
    } else {
        bool is_add = strcmp(verb, "add") == 0;
        fields = parse_fields(rest + (is_add ? 0 : 1), nrest - (is_add ? 0 : 1), &o);
        if (fields == NULL) {
            rc = 2;
            goto done;
        }
        if (strcmp(kind, "cameras") == 0 && json_object_get(fields, "onvif")) {
            char why[320];
            if (vg__cli_onvif_fill(fields, why, sizeof(why)) < 0) {
                fprintf(stderr, "vigil: camera: the ONVIF device did not tell its URLs: %s\n",
                        why);
                rc = 1;
                goto done;
            }
        }
        int wr = is_add ? vg_store_create(s, kind, fields, &out, &err)
                        : vg_store_update(s, kind, rest[0], fields, &out, &err);
        const char *id = is_add ? json_string_value(json_object_get(fields, "id")) : rest[0];
        char action[32];
        snprintf(action, sizeof(action), "%s.%s", kind, is_add ? "create" : "update");
        audit_cli(s, action, id, wr < 0 ? "failed" : "ok", wr < 0 ? err.message : NULL);
        /* A new password, or a disabled account, ends the user's browser sessions. */
        if (wr == 0 && !is_add && strcmp(kind, "users") == 0 &&
            (json_object_get(fields, "password") ||
             json_is_false(json_object_get(fields, "enabled"))))
            vg_store_sessions_end_user(s, rest[0], &err);
        if (wr < 0) {
            print_err(kind_arg, id, &err);
            goto done;
        }
        print_record(out, o.is_json);
    }
    rc = 0;
done:
    json_decref(out);
    json_decref(fields);
    vg_store_close(&s);
    vg_secrets_free(&sec);
    return rc;
}

int vg_cli_keygen(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: vigil keygen [-o FILE]\n\n"
                   "Makes a master key for sealing camera passwords: 64 hex digits, written to\n"
                   "FILE with mode 0600 (never overwriting one), or printed. Give it to vigil\n"
                   "with --master-key-file FILE or VIGIL_MASTER_KEY. Keep a copy somewhere safe:\n"
                   "without it the sealed passwords cannot be recovered.\n");
            return 0;
        }
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--out") == 0) && i + 1 < argc) {
            path = argv[++i];
            continue;
        }
        fprintf(stderr, "vigil keygen: unknown argument '%s' (see --help)\n", argv[i]);
        return 2;
    }
    char hex[VG_KEY_HEX_LEN + 1], msg[256];
    if (vg_secrets_init() < 0 || vg_secrets_keygen(path, hex, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "vigil keygen: %s\n", msg);
        return 1;
    }
    if (path == NULL) {
        printf("%s\n", hex);
    } else {
        vg_secrets_t *s;
        char fp[24] = "";
        if (vg_secrets_from_hex(&s, hex, msg, sizeof(msg)) == 0) {
            vg_secrets_fingerprint(s, fp);
            vg_secrets_free(&s);
        }
        fprintf(stderr, "vigil keygen: wrote %s (mode 0600, fingerprint %s)\n", path, fp);
    }
    vg_secrets_wipe(hex, sizeof(hex));
    return 0;
}

/* vigil rekey --auth-keys: a new root for the signing keys, when no master key is in use
 * (with one, they are derived from it and rotate with it). */
static int rekey_auth_keys(const admin_opts_t *o)
{
    struct stat sb;
    if (stat(o->db, &sb) != 0) {
        fprintf(stderr, "vigil rekey: no database at %s (--db FILE or VIGIL_DB)\n", o->db);
        return 1;
    }
    vg_store_t *s;
    vg_secrets_t *cur;
    if (open_store(o, &s, &cur) != 0)
        return 1;
    int rc = 1;
    char msg[512], path[PATH_MAX];
    if (cur != NULL) {
        fprintf(stderr,
                "vigil rekey: with a master key, the signing keys are derived from it and "
                "rotate with it:\n  vigil keygen -o NEW.key && vigil rekey --new-key-file "
                "NEW.key\n");
        goto done;
    }
    if (vg_auth_keys_rotate(o->db, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "vigil rekey: %s (nothing was changed)\n", msg);
        audit_cli(s, "auth-keys.rotate", o->db, "failed", msg);
        goto done;
    }
    audit_cli(s, "auth-keys.rotate", o->db, "ok", NULL);
    vg_auth_keys_path(o->db, path, sizeof(path));
    fprintf(stderr,
            "vigil rekey: wrote new signing keys to %s (mode 0600). Restart vigil: stream "
            "tokens\nmade before stop working, and browsers need a new CSRF token (reload).\n",
            path);
    if (vg_store_has_sealed_secrets(s))
        fprintf(stderr, "vigil rekey: note: %s holds sealed camera passwords, so vigil runs "
                "with a master key,\nwhich its signing keys come from instead of this file "
                "(rotate it with --new-key-file)\n", o->db);
    rc = 0;
done:
    vg_store_close(&s);
    vg_secrets_free(&cur);
    return rc;
}

static void rekey_usage(FILE *out)
{
    fprintf(out,
            "usage: vigil rekey --new-key-file FILE [--db FILE] [--master-key-file OLD]\n"
            "       vigil rekey --auth-keys [--db FILE]\n"
            "\n"
            "Rotates vigil's keys. Restart vigil afterwards.\n"
            "\n"
            "  --new-key-file FILE     a new master key (make one with vigil keygen): re-wraps\n"
            "                          every site key under it, in one transaction. The current\n"
            "                          key comes from --master-key-file, VIGIL_MASTER_KEY_FILE\n"
            "                          or VIGIL_MASTER_KEY. Camera passwords themselves are not\n"
            "                          touched. The signing keys of stream tokens and CSRF\n"
            "                          tokens are derived from the master key, so they change\n"
            "                          with it.\n"
            "  --auth-keys             new signing keys when vigil runs without a master key:\n"
            "                          replaces the random root in DB" VG_AUTH_KEYS_SUFFIX
            " (mode 0600).\n"
            "      --db FILE|URL       the database, a file or postgresql:// (env VIGIL_DB;\n"
            "                          default " DEFAULT_DB ")\n"
            "      --master-key-file FILE  the current master key\n"
            "  -h, --help              show this help\n"
            "\n"
            "New signing keys end every stream token made before, and the CSRF tokens of\n"
            "signed-in browsers (which reload); sessions and integration keys (vigil key) stay.\n");
}

int vg_cli_rekey(int argc, char **argv)
{
    admin_opts_t o = {.db = getenv("VIGIL_DB") && *getenv("VIGIL_DB") ? getenv("VIGIL_DB")
                                                                       : DEFAULT_DB};
    const char *new_file = NULL;
    bool is_auth_keys = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            rekey_usage(stdout);
            return 0;
        }
        if (i + 1 < argc && strcmp(argv[i], "--db") == 0) {
            o.db = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--master-key-file") == 0) {
            o.key_file = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--new-key-file") == 0) {
            new_file = argv[++i];
        } else if (strcmp(argv[i], "--auth-keys") == 0) {
            is_auth_keys = true;
        } else {
            fprintf(stderr, "vigil rekey: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if ((new_file == NULL) == !is_auth_keys) {
        fprintf(stderr, "vigil rekey: give --new-key-file FILE (a new master key, from vigil "
                        "keygen) or --auth-keys (see --help)\n");
        return 2;
    }
    if (is_auth_keys)
        return rekey_auth_keys(&o);
    char msg[256];
    vg_secrets_t *next = NULL;
    if (vg_secrets_init() < 0 || vg_secrets_load(&next, new_file, NULL, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "vigil rekey: %s\n", msg);
        return 1;
    }
    vg_store_t *s;
    vg_secrets_t *cur;
    if (open_store(&o, &s, &cur) != 0) {
        vg_secrets_free(&next);
        return 1;
    }
    vg_store_err_t err;
    int rc = 0;
    if (cur == NULL) {
        fprintf(stderr, "vigil rekey: the current master key is needed (--master-key-file)\n");
        rc = 1;
    } else if (vg_store_rekey(s, next, &err) < 0) {
        fprintf(stderr, "vigil rekey: %s (nothing was changed)\n", err.message);
        audit_cli(s, "master-key.rotate", o.db, "failed", err.message);
        rc = 1;
    } else {
        char fp[24];
        vg_secrets_fingerprint(next, fp);
        audit_cli(s, "master-key.rotate", o.db, "ok", fp);
        fprintf(stderr, "vigil rekey: %s now uses the key %s; restart vigil with it (stream "
                "tokens made\nbefore stop working: the signing keys follow the master key)\n",
                o.db, fp);
    }
    vg_store_close(&s);
    vg_secrets_free(&cur);
    vg_secrets_free(&next);
    return rc;
}
