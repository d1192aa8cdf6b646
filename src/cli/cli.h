/* cli: vigil's subcommands. main.c only dispatches to these. Each takes the arguments after
 * the subcommand name (argv[0] is the subcommand), prints its own --help, and returns the
 * process exit status (0 ok, 1 runtime failure, 2 usage error). Loop thread (the caller's). */
#ifndef VG_CLI_H
#define VG_CLI_H

#include <jansson.h>
#include <stddef.h>

int vg_cli_serve(int argc, char **argv);
int vg_cli_demo(int argc, char **argv);
int vg_cli_probe(int argc, char **argv);
/* ONVIF WS-Discovery on the LAN (discover.c). */
int vg_cli_discover(int argc, char **argv);
/* tenant|site|gateway|camera add|list|show|set|rm on the database (admin.c). */
int vg_cli_admin(const char *kind, int argc, char **argv);
int vg_cli_keygen(int argc, char **argv);
int vg_cli_rekey(int argc, char **argv);
/* key add|list|rm: integration keys (keys.c). */
int vg_cli_key(int argc, char **argv);

/* The audit actor of a CLI change, "cli:NAME", NAME the real user's login (getpwuid(getuid()),
 * not $USER, which anyone can set), else "uid:N" (admin.c). */
void vg__cli_actor(char *out, size_t out_len);

/* `camera add|set … onvif=URL`: fills url, substream_url, snapshot_url and the PTZ fields
 * that fields lacks from the ONVIF device at URL (with fields' username and password), and
 * removes "onvif". 0, or < 0 with err (onvif_add.c). Blocks: the CLI only. */
int vg__cli_onvif_fill(json_t *fields, char *err, size_t err_len);

#endif
