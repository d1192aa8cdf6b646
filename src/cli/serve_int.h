/* serve_int: what serve.c and serve_store.c share. */
#ifndef VG_CLI_SERVE_INT_H
#define VG_CLI_SERVE_INT_H

#include "core/config.h"
#include "core/err.h"

/* Replaces cfg's cameras with the enabled cameras of cfg->db_path, after upserting the file's
 * cameras there as owned by the file. 0 or VG_ECONFIG (logged). */
int vg__serve_cameras_from_store(vg_config_t *cfg);

#endif
