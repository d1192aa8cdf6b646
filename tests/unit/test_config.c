/* config: file, environment and flag precedence, and clear refusals. */
#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "vg_test.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/vg-test-config-XXXXXX");
    int fd = mkstemp(path);
    ssize_t n = write(fd, text, strlen(text));
    (void)n;
    close(fd);
    return path;
}

VG_TEST(file_then_env)
{
    vg_log_set_level(VG_LOG_LEVEL_ERROR);
    vg_config_t cfg;
    vg_config_init(&cfg);
    char *path = write_tmp("listen: \"127.0.0.1:9000\"\n"
                           "idle_timeout_s: 5\n"
                           "cameras:\n"
                           "  - id: porch\n"
                           "    name: Porch\n"
                           "    url: \"test://?width=640&height=360\"\n");
    EXPECT_EQ(vg_config_load_file(&cfg, path), 0);
    unlink(path);
    EXPECT_EQ(cfg.listen_port, 9000);
    EXPECT_EQ(cfg.idle_timeout_ms, 5000);
    EXPECT_EQ(cfg.camera_count, 1);
    EXPECT_STREQ(cfg.cameras[0].name, "Porch");
    setenv("VIGIL_LISTEN", "127.0.0.2:9001", 1);
    EXPECT_EQ(vg_config_apply_env(&cfg), 0);
    unsetenv("VIGIL_LISTEN");
    EXPECT_STREQ(cfg.listen_host, "127.0.0.2");
    EXPECT_EQ(cfg.listen_port, 9001);
    vg_config_deinit(&cfg);
}

VG_TEST(unknown_key_is_an_error)
{
    vg_log_set_level(VG_LOG_LEVEL_ERROR + 0);
    vg_config_t cfg;
    vg_config_init(&cfg);
    char *path = write_tmp("lisen: \"127.0.0.1:9000\"\n");
    EXPECT_EQ(vg_config_load_file(&cfg, path), VG_ECONFIG);
    unlink(path);
    EXPECT_EQ(vg_config_load_file(&cfg, "/nonexistent/vigil.yaml"), VG_ECONFIG);
    vg_config_deinit(&cfg);
}

VG_TEST(camera_specs_are_checked)
{
    vg_config_t cfg;
    vg_config_init(&cfg);
    EXPECT_EQ(vg_config_add_camera_spec(&cfg, "a=test://"), 0);
    EXPECT_EQ(vg_config_add_camera_spec(&cfg, "a=test://"), VG_ECONFIG); /* duplicate */
    EXPECT_EQ(vg_config_add_camera_spec(&cfg, "B=test://"), VG_ECONFIG); /* not a slug */
    EXPECT_EQ(vg_config_add_camera_spec(&cfg, "c=nourl"), VG_ECONFIG);
    EXPECT_EQ(vg_config_add_camera_spec(&cfg, "=test://"), VG_ECONFIG);
    EXPECT_EQ(vg_config_set_listen(&cfg, "[::1]:8081"), 0);
    EXPECT_STREQ(cfg.listen_host, "::1");
    EXPECT_EQ(vg_config_set_listen(&cfg, "host:99999"), VG_ECONFIG);
    vg_config_deinit(&cfg);
}

VG_TEST(empty_file_is_an_empty_config)
{
    vg_config_t cfg;
    vg_config_init(&cfg);
    char *path = write_tmp("");
    EXPECT_EQ(vg_config_load_file(&cfg, path), 0);
    unlink(path);
    EXPECT_EQ(cfg.camera_count, 0);
    EXPECT_EQ(cfg.listen_port, 8080);
    vg_config_deinit(&cfg);
}

VG_TEST(durations_out_of_range_are_errors)
{
    static const char *const bad[] = {
        "idle_timeout_s: 4294967295\n",
        "stall_timeout_s: 86401\n",
        "snapshot_wait_ms: 60001\n",
        "cameras:\n  - id: a\n    url: \"test://\"\n    idle_timeout_s: 3000000\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vg_config_t cfg;
        vg_config_init(&cfg);
        char *path = write_tmp(bad[i]);
        EXPECT_EQ(vg_config_load_file(&cfg, path), VG_ECONFIG);
        unlink(path);
        vg_config_deinit(&cfg);
    }
    vg_config_t cfg;
    vg_config_init(&cfg);
    char *path = write_tmp("idle_timeout_s: 86400\n");
    EXPECT_EQ(vg_config_load_file(&cfg, path), 0);
    unlink(path);
    EXPECT_EQ(cfg.idle_timeout_ms, 86400000);
    vg_config_deinit(&cfg);
}
