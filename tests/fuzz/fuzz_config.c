/* libFuzzer target: the YAML config file reader (libcyaml schema, camera validation). */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_log_set_level((vg_log_level_t)-1); /* silence: errors are expected here */
    int fd = memfd_create("vigil-config", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    vg_config_t cfg;
    vg_config_init(&cfg);
    vg_config_load_file(&cfg, path);
    vg_config_validate(&cfg);
    vg_config_deinit(&cfg);
    close(fd);
    return 0;
}
