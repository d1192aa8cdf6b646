/* libFuzzer target: record validation in the configuration store (hostile JSON from the API,
 * the CLI or another process), on an in-memory SQLite database with a master key so that
 * password sealing runs too. The first byte picks the kind; the rest is the JSON text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/secrets.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vg_store_t *store;
static vg_secrets_t *secrets;

static void setup(void)
{
    char msg[128];
    vg_store_err_t err;
    vg_secrets_init();
    vg_secrets_from_hex(&secrets, "00112233445566778899aabbccddeeff00112233445566778899aabbcc"
                                  "ddeeff", msg, sizeof(msg));
    vg_store_cfg_t cfg = {.path = ":memory:", .secrets = secrets};
    if (vg_store_open(&store, &cfg, &err) < 0)
        abort();
    json_t *t = json_pack("{s:s}", "id", "acme");
    vg_store_create(store, "tenants", t, NULL, &err);
    json_decref(t);
    json_t *c = json_pack("{s:s,s:s}", "id", "cam1", "url", "rtsp://10.0.0.5/s");
    vg_store_create(store, "cameras", c, NULL, &err);
    json_decref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const kinds[] = {"tenants", "sites", "gateways", "cameras"};
    if (store == NULL)
        setup();
    if (size < 1)
        return 0;
    const char *kind = kinds[data[0] % 4];
    json_error_t je;
    json_t *in = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, &je);
    if (in == NULL)
        return 0;
    vg_store_err_t err;
    json_t *out = NULL;
    if (vg_store_create(store, kind, in, &out, &err) == 0) {
        const char *id = json_string_value(json_object_get(out, "id"));
        if (id && strcmp(id, "default") != 0 && strcmp(id, "acme") != 0 &&
            strcmp(id, "cam1") != 0)
            vg_store_delete(store, kind, id, &err); /* keep the database small */
    }
    json_decref(out);
    out = NULL;
    if (vg_store_update(store, "cameras", "cam1", in, &out, &err) == 0)
        json_decref(out);
    json_decref(in);
    return 0;
}
