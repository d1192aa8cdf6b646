/* keys: `vigil key add|list|rm` — integration keys for clients that cannot sign in (NVRs,
 * Home Assistant, VLC, another vigil). The key is printed once, by add; the database keeps
 * only its hash (store.h), so a lost key is removed and made again, never shown. A running
 * server sees the change within a quarter of a second (a removed key's streams close). */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "store/secrets.h"
#include "store/store.h"

#define DEFAULT_DB "vigil.db"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vigil key add user=ID [name=NAME] [role=viewer|operator|admin]\n"
            "                     [cameras=ID,ID...] [expires=SECONDS]\n"
            "       vigil key list [user=ID]\n"
            "       vigil key rm KEY_ID\n"
            "\n"
            "Integration keys: long-lived, revocable credentials for clients that cannot sign\n"
            "in. A key acts for its user, with at most its role (viewer unless role= says\n"
            "otherwise, never above the user's own) and, with cameras=, only those cameras.\n"
            "Use it as ?token=KEY on stream URLs (/cameras/ID/mjpeg?token=..., snapshots,\n"
            "WebSocket) or as 'Authorization: Bearer KEY' on the API. add prints the key once:\n"
            "only a hash of it is kept. rm ends the key's open streams within a second.\n"
            "\n"
            "options:\n"
            "      --db FILE|URL  the database, a file or postgresql:// (env VIGIL_DB;\n"
            "                     default " DEFAULT_DB ")\n"
            "      --json      print JSON\n"
            "  -h, --help      show this help\n");
}

static const char *arg_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

static void audit(vg_store_t *s, const char *action, const char *target, int rc,
                  const vg_store_err_t *err)
{
    char actor[80];
    vg__cli_actor(actor, sizeof(actor));
    vg_audit_entry_t e = {.actor = actor, .action = action, .target = target,
                          .outcome = rc < 0 ? "failed" : "ok",
                          .detail = rc < 0 ? err->message : NULL};
    vg_store_err_t ignored;
    vg_store_audit(s, &e, &ignored);
}

static int add(vg_store_t *s, char **args, int n, bool is_json)
{
    vg_key_spec_t spec = {0};
    json_t *cams = NULL;
    int rc = 2;
    for (int i = 0; i < n; i++) {
        const char *v;
        if ((v = arg_value(args[i], "user")) != NULL) {
            spec.user_id = v;
        } else if ((v = arg_value(args[i], "name")) != NULL) {
            spec.name = v;
        } else if ((v = arg_value(args[i], "role")) != NULL) {
            spec.role = v;
        } else if ((v = arg_value(args[i], "cameras")) != NULL) {
            json_decref(cams);
            cams = json_array();
            char *copy = vg_xstrdup(v);
            for (char *tok = copy, *next; tok; tok = next) {
                next = strchr(tok, ',');
                if (next)
                    *next++ = '\0';
                if (*tok)
                    json_array_append_new(cams, json_string(tok));
            }
            free(copy);
            spec.cameras = cams;
        } else if ((v = arg_value(args[i], "expires")) != NULL) {
            long long secs;
            if (vg_parse_int(v, 1, 10LL * 365 * 86400, &secs) < 0) {
                fprintf(stderr, "vigil: expires=%s: seconds from now, 1..315360000\n", v);
                goto out;
            }
            spec.expires_us = vg_wall_us() + secs * 1000000;
        } else {
            fprintf(stderr, "vigil: key add: unknown argument '%s' (see --help)\n", args[i]);
            goto out;
        }
    }
    if (spec.user_id == NULL) {
        fprintf(stderr, "vigil: key add: user=ID is required (the user the key acts for)\n");
        goto out;
    }
    char key[VG_API_KEY_MAX];
    json_t *rec = NULL;
    vg_store_err_t err;
    int wr = vg_store_key_add(s, &spec, key, &rec, &err);
    audit(s, "key.create", wr == 0 ? json_string_value(json_object_get(rec, "id")) : spec.user_id,
          wr, &err);
    if (wr < 0) {
        fprintf(stderr, "vigil: key add: %s\n", err.message);
        rc = 1;
        goto out;
    }
    if (is_json) {
        json_object_set_new(rec, "key", json_string(key));
        json_dumpf(rec, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
    } else {
        printf("key: %s\n", key);
        printf("id: %s (for vigil key rm; the key itself is not shown again)\n",
               json_string_value(json_object_get(rec, "id")));
    }
    sodium_memzero(key, sizeof(key));
    json_decref(rec);
    rc = 0;
out:
    json_decref(cams);
    return rc;
}

static void print_time(const char *label, json_t *v)
{
    if (!json_is_integer(v)) {
        printf(" %s=-", label);
        return;
    }
    char when[32];
    time_t t = (time_t)json_integer_value(v);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf(" %s=%s", label, when);
}

static int list(vg_store_t *s, char **args, int n, bool is_json)
{
    const char *user = NULL;
    for (int i = 0; i < n; i++) {
        if ((user = arg_value(args[i], "user")) == NULL) {
            fprintf(stderr, "vigil: key list: unknown argument '%s'\n", args[i]);
            return 2;
        }
    }
    json_t *keys;
    vg_store_err_t err;
    if (vg_store_key_list(s, user, &keys, &err) < 0) {
        fprintf(stderr, "vigil: key list: %s\n", err.message);
        return 1;
    }
    if (is_json) {
        json_t *doc = json_pack("{s:o}", "keys", keys);
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(doc);
        return 0;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        json_t *cams = json_object_get(k, "cameras");
        char *cams_text = json_is_array(cams) ? json_dumps(cams, JSON_COMPACT) : NULL;
        printf("%s name=%s user=%s role=%s cameras=%s",
               json_string_value(json_object_get(k, "id")),
               json_string_value(json_object_get(k, "name")),
               json_string_value(json_object_get(k, "user_id")),
               json_string_value(json_object_get(k, "role")), cams_text ? cams_text : "(user's)");
        print_time("expires", json_object_get(k, "expires_at"));
        print_time("last_used", json_object_get(k, "last_used_at"));
        printf("\n");
        free(cams_text);
    }
    if (json_array_size(keys) == 0)
        printf("(no keys)\n");
    json_decref(keys);
    return 0;
}

int vg_cli_key(int argc, char **argv)
{
    const char *db = getenv("VIGIL_DB") && *getenv("VIGIL_DB") ? getenv("VIGIL_DB") : DEFAULT_DB;
    bool is_json = false;
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'j': is_json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[optind];
    char **rest = argv + optind + 1;
    int nrest = argc - optind - 1;
    if (strcmp(verb, "add") != 0 && strcmp(verb, "list") != 0 && strcmp(verb, "rm") != 0) {
        fprintf(stderr, "vigil: key: unknown command '%s' (add, list, rm)\n", verb);
        return 2;
    }
    if (strcmp(verb, "rm") == 0 && nrest != 1) {
        fprintf(stderr, "vigil: key rm KEY_ID\n");
        return 2;
    }
    vg_store_t *s = NULL;
    vg_store_err_t err;
    vg_store_cfg_t cfg = {.path = db};
    if (vg_secrets_init() < 0 || vg_store_open(&s, &cfg, &err) < 0) {
        fprintf(stderr, "vigil: %s: %s\n", db, s ? "" : err.message);
        return 1;
    }
    int rc;
    if (strcmp(verb, "add") == 0) {
        rc = add(s, rest, nrest, is_json);
    } else if (strcmp(verb, "list") == 0) {
        rc = list(s, rest, nrest, is_json);
    } else {
        int wr = vg_store_key_remove(s, rest[0], &err);
        audit(s, "key.delete", rest[0], wr, &err);
        if (wr < 0)
            fprintf(stderr, "vigil: key rm: %s\n", err.message);
        else if (is_json)
            printf("{\"deleted\": \"%s\"}\n", rest[0]);
        else
            printf("removed key %s\n", rest[0]);
        rc = wr < 0 ? 1 : 0;
    }
    vg_store_close(&s);
    return rc;
}
