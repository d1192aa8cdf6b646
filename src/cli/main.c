/* main: parses the subcommand and hands over; everything else lives in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vigil <command> [options]\n"
            "\n"
            "vigil is a low-latency camera streaming server.\n"
            "\n"
            "commands:\n"
            "  serve   run the server with the cameras from the config file or --camera\n"
            "  demo    run the server on 127.0.0.1:8080 with four built-in test cameras\n"
            "  probe   open N viewers on a vigil stream and measure fps, latency, bytes\n"
            "  camera, site, gateway, tenant, user\n"
            "          edit the configuration database (add, list, show, set, rm)\n"
            "  key     integration keys for NVRs and players that cannot sign in (add,\n"
            "          list, rm)\n"
            "  discover  find ONVIF cameras on the LAN (WS-Discovery)\n"
            "  keygen  make a master key for sealed camera passwords\n"
            "  rekey   rotate the master key (re-wrapping site keys) or the signing keys\n"
            "\n"
            "Run 'vigil <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    vg_json_wipe_on_free();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("vigil %s\n", VIGIL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return vg_cli_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0)
        return vg_cli_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "probe") == 0)
        return vg_cli_probe(argc - 1, argv + 1);
    if (strcmp(cmd, "discover") == 0)
        return vg_cli_discover(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return vg_cli_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "rekey") == 0)
        return vg_cli_rekey(argc - 1, argv + 1);
    if (strcmp(cmd, "key") == 0)
        return vg_cli_key(argc - 1, argv + 1);
    if (strcmp(cmd, "camera") == 0 || strcmp(cmd, "site") == 0 || strcmp(cmd, "gateway") == 0 ||
        strcmp(cmd, "tenant") == 0 || strcmp(cmd, "user") == 0)
        return vg_cli_admin(cmd, argc - 1, argv + 1);
    fprintf(stderr, "vigil: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
