/* discover: `vigil discover` — one ONVIF WS-Discovery probe on the LAN (ptz/discover.h) and
 * what answered within the wait: address, device service URLs, model, name, scopes. Runs its
 * own short-lived loop. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "core/util.h"
#include "ptz/discover.h"

typedef struct disc_cli {
    bool is_json;
    int status;
} disc_cli_t;

static void on_done(void *user, int status, const vg_discovered_t *found, size_t n)
{
    disc_cli_t *dc = user;
    dc->status = status;
    if (dc->is_json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, vg_discovered_json(&found[i]));
        json_t *doc = json_pack("{s:o}", "devices", arr);
        char *text = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(doc);
        return;
    }
    for (size_t i = 0; i < n; i++)
        printf("%s\n  device service: %s\n  model: %s\n  name: %s\n  from: %s\n  scopes: %s\n",
               found[i].address, found[i].xaddrs, found[i].model[0] ? found[i].model : "-",
               found[i].name[0] ? found[i].name : "-", found[i].from, found[i].scopes);
    printf("%zu device%s answered\n", n, n == 1 ? "" : "s");
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vigil discover [--wait-ms N] [--interface IP] [--to HOST:PORT] [--json]\n\n"
            "Sends one ONVIF WS-Discovery probe (to 239.255.255.250:3702) and lists the\n"
            "devices that answered within the wait: address, device service URL (for\n"
            "ptz_address and `vigil camera add`), model, name, scopes.\n\n"
            "  --wait-ms N       how long to collect answers (default 2000, at most 10000)\n"
            "  --interface IP    the IPv4 address of the interface to probe from\n"
            "  --to HOST:PORT    send the probe to one address instead (no multicast)\n"
            "  --json            print {\"devices\":[...]}\n");
}

int vg_cli_discover(int argc, char **argv)
{
    static const struct option opts[] = {{"wait-ms", required_argument, NULL, 'w'},
                                         {"interface", required_argument, NULL, 'i'},
                                         {"to", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    vg_discover_opts_t o = {0};
    disc_cli_t dc = {0};
    long long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (vg_parse_int(optarg, 1, 10000, &v) < 0) {
                fprintf(stderr, "vigil discover: --wait-ms is 1..10000\n");
                return 2;
            }
            o.wait_ms = (unsigned)v;
            break;
        case 'i': o.interface = optarg; break;
        case 't': o.target = optarg; break;
        case 'j': dc.is_json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    if (vg_discover(&loop, &o, on_done, &dc) < 0) {
        fprintf(stderr, "vigil discover: bad --to or --wait-ms\n");
        uv_loop_close(&loop);
        return 2;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (dc.status < 0) {
        fprintf(stderr, "vigil discover: the probe could not be sent (see above)\n");
        return 1;
    }
    return 0;
}
