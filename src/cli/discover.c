/* discover: `vigil discover` — sends one ONVIF WS-Discovery Probe on the LAN (multicast
 * 239.255.255.250:3702, net/wsdiscovery.h), waits a bounded time on its own loop and prints
 * what answered. It needs no database and no server. Loop thread (its own). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/util.h"
#include "net/wsdiscovery.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vigil discover [--wait SECONDS] [--interface ADDR] [--json]\n"
            "\n"
            "Finds ONVIF cameras on this network: sends a WS-Discovery Probe to\n"
            "239.255.255.250:3702 and lists every device that answers (address, name,\n"
            "model, location, PTZ, device-service URL). Multicast stays on the local link:\n"
            "cameras behind a router never answer; add those by address.\n"
            "\n"
            "options:\n"
            "      --wait SECONDS     how long to collect answers (default 2, at most 10)\n"
            "      --interface ADDR   send from this local IPv4 address (its interface),\n"
            "                         on a host with several networks\n"
            "      --target ADDR:PORT probe one address by unicast instead of multicast\n"
            "      --json             print JSON ({\"devices\":[...]})\n"
            "  -h, --help             show this help\n"
            "\n"
            "Exit status: 0 when the probe went out (whether or not anything answered),\n"
            "1 when it could not be sent, 2 on a usage error. docs/discovery.md\n");
}

typedef struct run {
    json_t *found; /* vg_wsd_list_json of the answers */
    int status;
    bool is_done;
} run_t;

static void on_done(int status, const vg_wsd_list_t *found, void *user)
{
    run_t *r = user;
    r->status = status;
    r->found = vg_wsd_list_json(found);
    r->is_done = true;
}

static void print_words(const char *label, json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        printf("    %-9s %s\n", i == 0 ? label : "", json_string_value(v));
    }
    if (json_array_size(arr) == 0)
        printf("    %-9s -\n", label);
}

static const char *or_dash(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && s[0] ? s : "-";
}

static void print_text(json_t *found, double wait_s)
{
    json_t *devs = json_object_get(found, "devices");
    size_t n = json_array_size(devs);
    printf("%zu ONVIF device%s answered within %g s:\n", n, n == 1 ? "" : "s", wait_s);
    size_t i;
    json_t *d;
    json_array_foreach(devs, i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        printf("\n  %s\n", name && name[0] ? name : "(no name)");
        printf("    %-9s %s\n", "model", or_dash(d, "hardware"));
        printf("    %-9s %s\n", "location", or_dash(d, "location"));
        printf("    %-9s %s\n", "ptz", json_is_true(json_object_get(d, "ptz")) ? "yes" : "no");
        print_words("address", json_object_get(d, "addresses"));
        print_words("xaddrs", json_object_get(d, "xaddrs"));
        printf("    %-9s %s\n", "endpoint", or_dash(d, "endpoint"));
    }
}

/* Why the probe could not go out, in the user's terms. */
static void print_failure(int rc, const char *iface, const char *target)
{
    const char *dest = target ? target : VG_WSD_GROUP ":3702";
    fprintf(stderr, "vigil discover: cannot open a UDP socket and send the probe to %s%s%s: %s\n",
            dest, iface ? " from " : "", iface ? iface : "", uv_strerror(rc));
    if (rc == UV_EADDRNOTAVAIL)
        fprintf(stderr, "vigil discover: %s is not an address of this host (see `ip addr`)\n",
                iface ? iface : "the address");
    else if (rc == UV_ENETUNREACH || rc == UV_ENODEV || rc == UV_EHOSTUNREACH)
        fprintf(stderr, "vigil discover: no route for multicast: name the camera network's "
                        "local address with --interface ADDR\n");
    else if (rc == UV_EACCES || rc == UV_EPERM)
        fprintf(stderr, "vigil discover: not permitted (a firewall, or a sandbox without "
                        "network access)\n");
}

int vg_cli_discover(int argc, char **argv)
{
    enum { OPT_WAIT = 256, OPT_IFACE, OPT_TARGET, OPT_JSON };
    static const struct option opts[] = {
        {"wait", required_argument, NULL, OPT_WAIT},
        {"interface", required_argument, NULL, OPT_IFACE},
        {"target", required_argument, NULL, OPT_TARGET},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    double wait_s = VG_WSD_DEFAULT_WAIT_MS / 1000.0;
    const char *iface = NULL, *target = NULL;
    bool is_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_WAIT: {
            char *end;
            wait_s = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(wait_s >= 0.05 && wait_s <= 10.0)) {
                fprintf(stderr, "vigil discover: --wait takes seconds from 0.05 to 10, not "
                                "'%s'\n", optarg);
                return 2;
            }
            break;
        }
        case OPT_IFACE: iface = optarg; break;
        case OPT_TARGET: target = optarg; break;
        case OPT_JSON: is_json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil discover: unexpected argument '%s'\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    run_t r = {0};
    vg_wsd_probe_t *probe = NULL;
    vg_wsd_probe_cfg_t cfg = {.loop = &loop, .wait_ms = (uint32_t)(wait_s * 1000.0 + 0.5),
                              .interface = iface, .target = target};
    int rc = vg_wsd_probe_start(&probe, &cfg, on_done, &r);
    if (rc == VG_EINVAL) {
        fprintf(stderr, "vigil discover: --interface takes a local IPv4 address (e.g. "
                        "192.168.1.10) and --target an IPv4 ADDR:PORT\n");
        uv_loop_close(&loop); /* nothing was opened */
        return 2;
    }
    if (rc < 0) {
        print_failure(rc, iface, target);
        uv_run(&loop, UV_RUN_DEFAULT); /* closes the socket */
        uv_loop_close(&loop);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    int exit_rc = 0;
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "vigil discover: handles left open\n");
        exit_rc = 1;
    }
    if (!r.is_done || r.found == NULL) {
        fprintf(stderr, "vigil discover: the probe ended without an answer list\n");
        json_decref(r.found);
        return 1;
    }
    size_t n = json_array_size(json_object_get(r.found, "devices"));
    if (is_json) {
        json_object_set_new(r.found, "wait_ms", json_integer((json_int_t)cfg.wait_ms));
        char *s = json_dumps(r.found, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
    } else if (n > 0) {
        print_text(r.found, wait_s);
    }
    if (n == 0) {
        /* stdout unless --json, where stdout is the document */
        FILE *out = is_json ? stderr : stdout;
        fprintf(out, "no ONVIF device answered within %g s\n", wait_s);
    }
    long long ignored = json_integer_value(json_object_get(r.found, "ignored"));
    if (ignored > 0)
        fprintf(stderr, "vigil discover: ignored %lld answer%s (malformed, or for another "
                        "probe)\n",
                ignored, ignored == 1 ? "" : "s");
    json_decref(r.found);
    return exit_rc;
}
