/* Key files: hex in 0600 files (keyfile.h). */
#include "server/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "util/safety.h"

void srv_hex(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int srv_unhex(uint8_t *out, size_t n, const char *hex, size_t hex_len)
{
    if (hex_len != 2 * n)
        return PARLEY_ERR_DECODE;
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PARLEY_ERR_DECODE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return PARLEY_OK;
}

int srv_file_read(const char *path, uint8_t *out, size_t max, size_t *len)
{
    int rc;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ENSURE(fd >= 0, errno == ENOENT ? PARLEY_ERR_NOT_FOUND : PARLEY_ERR_IO);
    for (;;) {
        ENSURE(got < max + 1, PARLEY_ERR_BUFFER);
        uint8_t tmp[512];
        ssize_t r = read(fd, tmp, sizeof tmp);
        ENSURE(r >= 0, PARLEY_ERR_IO);
        if (r == 0)
            break;
        ENSURE(got + (size_t)r <= max, PARLEY_ERR_BUFFER);
        memcpy(out + got, tmp, (size_t)r);
        got += (size_t)r;
        pc_wipe(tmp, sizeof tmp);
    }
    *len = got;
    rc = PARLEY_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int srv_file_write(const char *path, const uint8_t *data, size_t n, int mode)
{
    int rc;
    char tmp[4096];
    int fd = -1;
    /* Write a sibling then rename, so a crash never leaves half a key. */
    ENSURE(snprintf(tmp, sizeof tmp, "%s.tmp", path) < (int)sizeof tmp, PARLEY_ERR_INVALID_ARG);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    ENSURE(fd >= 0, PARLEY_ERR_IO);
    ENSURE(fchmod(fd, (mode_t)mode) == 0, PARLEY_ERR_IO);
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        ENSURE(w > 0, PARLEY_ERR_IO);
        done += (size_t)w;
    }
    ENSURE(fsync(fd) == 0, PARLEY_ERR_IO);
    ENSURE(close(fd) == 0, PARLEY_ERR_IO);
    fd = -1;
    ENSURE(rename(tmp, path) == 0, PARLEY_ERR_IO);
    rc = PARLEY_OK;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    return rc;
}

int srv_keyfile_read(const char *path, uint8_t *out, size_t n)
{
    int rc;
    uint8_t text[260];
    size_t len = 0;
    ENSURE(2 * n + 2 <= sizeof text, PARLEY_ERR_INVALID_ARG);
    GUARD(srv_file_read(path, text, sizeof text, &len));
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    GUARD(srv_unhex(out, n, (const char *)text, len));
    rc = PARLEY_OK;
out:
    pc_wipe(text, sizeof text);
    return rc;
}

int srv_keyfile_write(const char *path, const uint8_t *key, size_t n)
{
    int rc;
    char text[260];
    ENSURE(2 * n + 2 <= sizeof text, PARLEY_ERR_INVALID_ARG);
    srv_hex(text, key, n);
    text[2 * n] = '\n';
    GUARD(srv_file_write(path, (const uint8_t *)text, 2 * n + 1, 0600));
    rc = PARLEY_OK;
out:
    pc_wipe(text, sizeof text);
    return rc;
}
