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

/* Issue 13: each mistake in a file is one line naming the file, the line and the field, made
 * from libcyaml's report (never its backtrace) or from vigil's own checks. */
VG_TEST(errors_name_file_line_and_field)
{
    static const struct {
        const char *text, *where, *why;
    } cases[] = {
        {"cameras:\n  - id: a\n    url: \"test://\"\n    colour: red\n", ":4: cameras[0].colour: ",
         "unknown key"},
        {"log_level: info\nidle_timeout_s: ten\n", ":2: idle_timeout_s: ", "'ten' is not a whole"},
        {"cameras:\n  - id: a\n    url: \"test://\"\n  - id: b\n    name: B\n", ":4: cameras[1]: ",
         "'url' is required"},
        {"cameras:\n  - id: a\n    url: \"test://\"\n    tiers:\n      - size: low\n        fps: [1]\n",
         ":6: cameras[0].tiers[0].fps: ", "expected a whole number, found a list"},
        {"cameras:\n  - id: a\n    url: \"test://\"\n  - id: a\n    url: \"test://\"\n",
         ":4: cameras[1].id: ", "declared twice"},
        {"cameras:\n  - id: a\n    url: nourl\n", ":3: cameras[0].url: ", "scheme://"},
        {"listen: \"h:99999\"\n", ":1: listen: ", "port must be 0..65535"},
        {"cameras: [\n", ":2: YAML syntax: ", "did not find expected node content"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vg_config_t cfg;
        vg_config_init(&cfg);
        char *path = write_tmp(cases[i].text);
        EXPECT_EQ(vg_config_load_file(&cfg, path), VG_ECONFIG);
        char want[128];
        snprintf(want, sizeof(want), "%s%s", path, cases[i].where);
        EXPECT_TRUE(strncmp(cfg.error, want, strlen(want)) == 0);
        EXPECT_TRUE(strstr(cfg.error, cases[i].why) != NULL);
        EXPECT_TRUE(strstr(cfg.error, "Backtrace") == NULL && strchr(cfg.error, '\n') == NULL);
        if (strncmp(cfg.error, want, strlen(want)) != 0 || !strstr(cfg.error, cases[i].why))
            fprintf(stderr, "case %zu: %s\n", i, cfg.error);
        unlink(path);
        vg_config_deinit(&cfg);
    }
}

VG_TEST(lines_of_keys_and_where_a_camera_field_is)
{
    vg_config_t cfg;
    vg_config_init(&cfg);
    char *path = write_tmp("# comment\ncameras:\n  - id: a\n    url: \"test://\"\n"
                           "  - id: b\n    url: \"test://\"\n    tiers:\n      - size: low\n");
    EXPECT_EQ(vg_config_load_file(&cfg, path), 0);
    EXPECT_EQ(vg_config_line(&cfg, "cameras"), 2);
    EXPECT_EQ(vg_config_line(&cfg, "cameras[1]"), 5);
    EXPECT_EQ(vg_config_line(&cfg, "cameras[1].url"), 6);
    EXPECT_EQ(vg_config_line(&cfg, "cameras[1].tiers[0].size"), 8);
    EXPECT_EQ(vg_config_line(&cfg, "cameras[1].default_tier"), 0);
    char where[256], want[256];
    vg_config_where(&cfg, &cfg.cameras[1], "default_tier", where, sizeof(where));
    snprintf(want, sizeof(want), "%s:5: cameras[1].default_tier", path);
    EXPECT_STREQ(where, want);
    EXPECT_EQ(vg_config_add_camera_spec(&cfg, "c=test://"), 0);
    vg_config_where(&cfg, vg_config_last_camera(&cfg), "url", where, sizeof(where));
    EXPECT_STREQ(where, "--camera c: url");
    unlink(path);
    vg_config_deinit(&cfg);
}

VG_TEST(a_configuration_holds_any_number_of_cameras)
{
    /* The database's cameras are built into a configuration: no cap of the file's (256
     * before); the array grows and every camera keeps its fields. */
    vg_config_t cfg;
    vg_config_init(&cfg);
    char id[32], url[64];
    for (int i = 0; i < 1500; i++) {
        snprintf(id, sizeof(id), "cam-%04d", i);
        snprintf(url, sizeof(url), "test://?width=%d", 64 + i);
        EXPECT_EQ(vg_config_add_camera(&cfg, id, NULL, url, NULL, -1), 0);
        vg_config_last_camera(&cfg)->is_always_on = i % 2;
    }
    EXPECT_EQ((long)cfg.camera_count, 1500);
    EXPECT_STREQ(cfg.cameras[0].id, "cam-0000");
    EXPECT_STREQ(cfg.cameras[1499].id, "cam-1499");
    EXPECT_STREQ(cfg.cameras[1499].url, "test://?width=1563");
    EXPECT_TRUE(cfg.cameras[1499].is_always_on && !cfg.cameras[1498].is_always_on);
    EXPECT_EQ(cfg.cameras[700].file_index, -1);
    EXPECT_EQ(vg_config_add_camera(&cfg, "cam-0700", NULL, "test://", NULL, -1), VG_ECONFIG);
    vg_config_deinit(&cfg); /* ASan: nothing leaks */
}
