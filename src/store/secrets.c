/* secrets: see secrets.h. */
#include "store/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

struct vg_secrets {
    uint8_t *master; /* sodium_malloc'd, VG_KEY_LEN */
};

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
_Static_assert(NONCE_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES == VG_SEAL_OVERHEAD,
               "seal overhead");

int vg_secrets_init(void) { return sodium_init() < 0 ? VG_EINVAL : 0; }

int vg_secrets_from_hex(vg_secrets_t **out, const char *hex, char *err, size_t err_len)
{
    *out = NULL;
    size_t n = strlen(hex);
    while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
        n--;
    vg_secrets_t *s = calloc(1, sizeof(*s));
    s->master = sodium_malloc(VG_KEY_LEN);
    size_t got = 0;
    if (s->master == NULL || n != VG_KEY_HEX_LEN ||
        sodium_hex2bin(s->master, VG_KEY_LEN, hex, n, NULL, &got, NULL) != 0 ||
        got != VG_KEY_LEN) {
        snprintf(err, err_len, "a master key is %d hex digits (make one with `vigil keygen`)",
                 VG_KEY_HEX_LEN);
        vg_secrets_free(&s);
        return VG_EINVAL;
    }
    sodium_mprotect_readonly(s->master);
    *out = s;
    return 0;
}

int vg_secrets_load(vg_secrets_t **out, const char *key_file, const char *hex_env, char *err,
                    size_t err_len)
{
    *out = NULL;
    if (key_file == NULL)
        return hex_env && *hex_env ? vg_secrets_from_hex(out, hex_env, err, err_len) : 0;
    int fd = open(key_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "master key file %s: %s", key_file, strerror(errno));
        return VG_ENOENT;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (sb.st_mode & 077) != 0) {
        close(fd);
        snprintf(err, err_len, "master key file %s is readable by others (mode %03o); "
                 "chmod 600 it", key_file, (unsigned)(sb.st_mode & 0777));
        return VG_EINVAL;
    }
    char buf[VG_KEY_HEX_LEN + 8];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    int rc = vg_secrets_from_hex(out, buf, err, err_len);
    sodium_memzero(buf, sizeof(buf));
    if (rc < 0) {
        char why[160];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, err_len, "master key file %s: %s", key_file, why);
    }
    return rc;
}

void vg_secrets_free(vg_secrets_t **sp)
{
    vg_secrets_t *s = *sp;
    if (s == NULL)
        return;
    sodium_free(s->master); /* wipes */
    free(s);
    *sp = NULL;
}

int vg_secrets_keygen(const char *path, char hex_out[VG_KEY_HEX_LEN + 1], char *err,
                      size_t err_len)
{
    uint8_t key[VG_KEY_LEN];
    randombytes_buf(key, sizeof(key));
    sodium_bin2hex(hex_out, VG_KEY_HEX_LEN + 1, key, sizeof(key));
    sodium_memzero(key, sizeof(key));
    if (path == NULL)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "%s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (refusing to overwrite a key)" : "");
        return VG_EINVAL;
    }
    char line[VG_KEY_HEX_LEN + 2];
    memcpy(line, hex_out, VG_KEY_HEX_LEN);
    line[VG_KEY_HEX_LEN] = '\n';
    ssize_t w = write(fd, line, sizeof(line) - 1);
    sodium_memzero(line, sizeof(line));
    if (w != (ssize_t)sizeof(line) - 1 || fsync(fd) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno ? errno : EIO));
        close(fd);
        unlink(path);
        return VG_EINVAL;
    }
    close(fd);
    return 0;
}

void vg_secrets_fingerprint(const vg_secrets_t *s, char out[24])
{
    static const char context[] = "vigil master key fingerprint v1";
    uint8_t h[8];
    crypto_generichash(h, sizeof(h), (const uint8_t *)context, sizeof(context) - 1, s->master,
                       VG_KEY_LEN);
    memcpy(out, "k1:", 3);
    sodium_bin2hex(out + 3, 17, h, sizeof(h));
}

void vg_kdf(const uint8_t root[VG_KEY_LEN], const char *label, uint8_t out[VG_KEY_LEN])
{
    crypto_generichash(out, VG_KEY_LEN, (const uint8_t *)label, strlen(label), root,
                       VG_KEY_LEN);
}

void vg_secrets_derive(const vg_secrets_t *s, const char *label, uint8_t out[VG_KEY_LEN])
{
    vg_kdf(s->master, label, out);
}

static int aead_seal(const uint8_t *key, const uint8_t *plain, size_t len, const char *ad,
                     uint8_t *out)
{
    randombytes_buf(out, NONCE_LEN);
    unsigned long long clen;
    return crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_LEN, &clen, plain, len,
                                                      (const uint8_t *)ad, strlen(ad), NULL, out,
                                                      key) == 0
               ? 0
               : VG_EINVAL;
}

static int aead_open(const uint8_t *key, const uint8_t *in, size_t in_len, const char *ad,
                     uint8_t *out, size_t *out_len)
{
    if (in_len < VG_SEAL_OVERHEAD)
        return VG_EINVAL;
    unsigned long long plen;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, in + NONCE_LEN,
                                                   in_len - NONCE_LEN, (const uint8_t *)ad,
                                                   strlen(ad), in, key) != 0)
        return VG_EINVAL;
    *out_len = (size_t)plen;
    return 0;
}

int vg_secrets_wrap(const vg_secrets_t *s, const uint8_t key[VG_KEY_LEN], const char *ad,
                    uint8_t *out)
{
    return aead_seal(s->master, key, VG_KEY_LEN, ad, out);
}

int vg_secrets_unwrap(const vg_secrets_t *s, const uint8_t *in, size_t in_len, const char *ad,
                      uint8_t key[VG_KEY_LEN])
{
    if (in_len != VG_KEY_LEN + VG_SEAL_OVERHEAD)
        return VG_EINVAL;
    size_t n;
    return aead_open(s->master, in, in_len, ad, key, &n);
}

void vg_secrets_random_key(uint8_t key[VG_KEY_LEN]) { randombytes_buf(key, VG_KEY_LEN); }

int vg_seal(const uint8_t key[VG_KEY_LEN], const void *plain, size_t len, const char *ad,
            uint8_t **out, size_t *out_len)
{
    *out = malloc(len + VG_SEAL_OVERHEAD);
    if (*out == NULL || aead_seal(key, plain, len, ad, *out) < 0) {
        free(*out);
        *out = NULL;
        return VG_ENOMEM;
    }
    *out_len = len + VG_SEAL_OVERHEAD;
    return 0;
}

int vg_unseal(const uint8_t key[VG_KEY_LEN], const uint8_t *in, size_t in_len, const char *ad,
              char **out)
{
    *out = NULL;
    if (in_len < VG_SEAL_OVERHEAD)
        return VG_EINVAL;
    size_t cap = in_len - VG_SEAL_OVERHEAD + 1;
    char *p = sodium_malloc(cap);
    size_t n;
    if (p == NULL || aead_open(key, in, in_len, ad, (uint8_t *)p, &n) < 0) {
        sodium_free(p);
        return VG_EINVAL;
    }
    p[n] = '\0';
    *out = p;
    return 0;
}

void vg_unsealed_free(char **p)
{
    sodium_free(*p); /* wipes */
    *p = NULL;
}

void vg_secrets_wipe(void *p, size_t len) { sodium_memzero(p, len); }

_Static_assert(VG_PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash string size");

int vg_password_hash(const char *password, char out[VG_PASSWORD_HASH_MAX])
{
    if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return VG_ENOMEM;
    return 0;
}

bool vg_password_verify(const char *hash, const char *password)
{
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
