/* keys: the server's signing keys, derived from the master key or from a private key file
 * beside the database (see keys.h for the design and the threat it answers).
 *
 * The key file holds comment lines and 64 hex digits. It is written to a temporary file
 * (mkstemp: mode 0600 whatever the umask) and then linked into place, which fails when the
 * name exists: two processes making it at once both end up reading the one that won, and
 * nobody ever reads a half-written file. Rotation renames over it instead.
 *
 * Blocking file I/O: start-up and CLI threads only.
 */
#include "store/keys.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store_int.h"

/* The labels are part of the derivation: changing one changes that key. */
#define LABEL_TOKEN "vigil auth v1 stream-token"
#define LABEL_CSRF "vigil auth v1 csrf"
#define LABEL_INSTANCE "vigil auth v1 instance"

void vg_instance_key(const vg_secrets_t *master, uint8_t out[32])
{
    vg_secrets_derive(master, LABEL_INSTANCE, out);
}

void vg_instance_credential(const uint8_t key[32], char out[VG_INSTANCE_CREDENTIAL_LEN + 1])
{
    memcpy(out, "vi_", 3);
    sodium_bin2hex(out + 3, VG_INSTANCE_CREDENTIAL_LEN + 1 - 3, key, 32);
}

#define FILE_HEADER                                                                           \
    "# vigil: the root of this database's signing keys (stream tokens, CSRF tokens,\n"       \
    "# integration keys). Keep it private (mode 0600) and out of backups that others read.\n" \
    "# `vigil rekey --auth-keys` replaces it; a master key, when given, is used instead.\n"

bool vg_auth_keys_path(const char *db_path, char *out, size_t out_len)
{
    if (db_path == NULL || *db_path == '\0' || strcmp(db_path, ":memory:") == 0)
        return false;
    int n = snprintf(out, out_len, "%s%s", db_path, VG_AUTH_KEYS_SUFFIX);
    return n > 0 && (size_t)n < out_len;
}

static void derive(const uint8_t root[VG_KEY_LEN], vg_auth_keys_t *out)
{
    vg_kdf(root, LABEL_TOKEN, out->token);
    vg_kdf(root, LABEL_CSRF, out->csrf);
}

/* The root in path: 0, VG_ENOENT when there is no file, or VG_EINVAL with a message. */
static int read_root(const char *path, const char *db_path, uint8_t root[VG_KEY_LEN],
                     char *err, size_t err_len)
{
    char buf[1024];
    int rc = VG_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return VG_ENOENT;
        snprintf(err, err_len, "auth key file %s: %s", path, strerror(errno));
        return VG_EINVAL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, err_len, "auth key file %s is not a regular file", path);
        goto out;
    }
    /* Refused rather than warned about: whoever could read it can sign tokens. */
    if ((sb.st_mode & 077) != 0) {
        snprintf(err, err_len,
                 "%s is readable by others (mode %04o): chmod 600 it, then replace it "
                 "(vigil rekey --auth-keys --db %s)",
                 path, (unsigned)(sb.st_mode & 0777), db_path);
        goto out;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    /* The first line that is neither empty nor a comment is the key. */
    const char *line = buf;
    while (*line == '#' || *line == '\n' || *line == '\r') {
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : line + strlen(line);
    }
    size_t len = strcspn(line, "\r\n");
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t got = 0;
    if (len != VG_KEY_HEX_LEN ||
        sodium_hex2bin(root, VG_KEY_LEN, line, len, NULL, &got, NULL) != 0 ||
        got != VG_KEY_LEN) {
        snprintf(err, err_len,
                 "%s is damaged (want 64 hex digits): replace it (vigil rekey --auth-keys "
                 "--db %s)", path, db_path);
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

/* A new random root into path: linked into place when is_replace is false (EEXIST: another
 * process made it first, which is fine), renamed over it when true. */
static int write_root(const char *path, bool is_replace, char *err, size_t err_len)
{
    char tmp[PATH_MAX], text[sizeof(FILE_HEADER) + VG_KEY_HEX_LEN + 1];
    uint8_t root[VG_KEY_LEN];
    int rc = VG_EINVAL, fd = -1;
    bool is_tmp = false;
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        snprintf(err, err_len, "auth key file %s: name too long", path);
        return VG_EINVAL;
    }
    fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        snprintf(err, err_len, "cannot make the auth key file %s: %s", path, strerror(errno));
        return VG_EINVAL;
    }
    is_tmp = true;
    randombytes_buf(root, sizeof(root));
    memcpy(text, FILE_HEADER, sizeof(FILE_HEADER) - 1);
    sodium_bin2hex(text + sizeof(FILE_HEADER) - 1, VG_KEY_HEX_LEN + 1, root, sizeof(root));
    text[sizeof(text) - 2] = '\n';
    text[sizeof(text) - 1] = '\0';
    size_t len = sizeof(text) - 1;
    if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        snprintf(err, err_len, "cannot write the auth key file %s: %s", path,
                 strerror(errno ? errno : EIO));
        goto out;
    }
    close(fd);
    fd = -1;
    if (is_replace) {
        if (rename(tmp, path) != 0) {
            snprintf(err, err_len, "cannot replace %s: %s", path, strerror(errno));
            goto out;
        }
        is_tmp = false;
    } else if (link(tmp, path) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot make the auth key file %s: %s", path, strerror(errno));
        goto out;
    }
    /* The new name outlives a crash only once its directory is on disk too. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (is_tmp)
        unlink(tmp);
    sodium_memzero(text, sizeof(text));
    sodium_memzero(root, sizeof(root));
    return rc;
}

int vg_auth_keys_load(vg_auth_keys_t *out, const vg_secrets_t *master, const char *db_path,
                      char *err, size_t err_len)
{
    uint8_t root[VG_KEY_LEN];
    char path[PATH_MAX];
    int rc = 0;
    out->has_instance = false;
    if (master != NULL) {
        vg_secrets_derive(master, LABEL_TOKEN, out->token);
        vg_secrets_derive(master, LABEL_CSRF, out->csrf);
        vg_instance_key(master, out->instance);
        out->has_instance = true;
        return 0;
    }
    if (vg_store_is_postgresql(db_path)) {
        /* Instances share the database and must agree on the keys: a root in a local file
         * would make each sign tokens the others refuse. */
        snprintf(err, err_len,
                 "a PostgreSQL store is shared by vigil instances, which must agree on signing "
                 "keys: give the master key (--master-key-file or VIGIL_MASTER_KEY)");
        return VG_EINVAL;
    }
    if (!vg_auth_keys_path(db_path, path, sizeof(path))) {
        /* No file to keep a root beside: keys for this process only. */
        randombytes_buf(root, sizeof(root));
    } else {
        rc = read_root(path, db_path, root, err, err_len);
        if (rc == VG_ENOENT && (rc = write_root(path, false, err, err_len)) == 0)
            rc = read_root(path, db_path, root, err, err_len);
        if (rc == VG_ENOENT)
            snprintf(err, err_len, "auth key file %s vanished while it was made", path);
    }
    if (rc == 0)
        derive(root, out);
    sodium_memzero(root, sizeof(root));
    return rc < 0 ? VG_EINVAL : 0;
}

int vg_auth_keys_rotate(const char *db_path, char *err, size_t err_len)
{
    char path[PATH_MAX];
    if (!vg_auth_keys_path(db_path, path, sizeof(path))) {
        snprintf(err, err_len, "'%s' is not a database file", db_path ? db_path : "");
        return VG_EINVAL;
    }
    return write_root(path, true, err, err_len);
}
