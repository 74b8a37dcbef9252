/*
 * File helpers around the streaming media cipher: bounded buffers, and a
 * decrypted file that only appears under its name once it is authentic
 * (include/parley/media.h).
 */
#include "parley/media.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/safety.h"

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return PARLEY_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return PARLEY_OK;
}

static ssize_t read_some(int fd, uint8_t *p, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

int parley_media_encrypt_fd(int in_fd, int out_fd, const uint8_t key[PARLEY_MEDIA_KEY_LEN],
                            parley_media_type type, parley_media_digest *digest)
{
    int rc;
    parley_media_encryptor *e = NULL;
    uint8_t *in = malloc(PARLEY_MEDIA_IO_CHUNK);
    uint8_t *out = malloc(PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK);
    size_t l;
    ENSURE(in != NULL && out != NULL, PARLEY_ERR_NOMEM);
    GUARD(parley_media_encryptor_new(&e, key, type));
    for (;;) {
        ssize_t r = read_some(in_fd, in, PARLEY_MEDIA_IO_CHUNK);
        ENSURE(r >= 0, PARLEY_ERR_IO);
        if (r == 0)
            break;
        GUARD(parley_media_encryptor_update(e, in, (size_t)r, out,
                                            PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK, &l));
        GUARD(write_all(out_fd, out, l));
    }
    GUARD(parley_media_encryptor_final(e, out, PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK, &l,
                                       digest));
    GUARD(write_all(out_fd, out, l));
    rc = PARLEY_OK;
out:
    parley_media_encryptor_free(e);
    if (in != NULL)
        pc_wipe(in, PARLEY_MEDIA_IO_CHUNK);
    free(in);
    free(out);
    return rc;
}

int parley_media_decrypt_fd(int in_fd, const char *out_path,
                            const uint8_t key[PARLEY_MEDIA_KEY_LEN], parley_media_type type,
                            const uint8_t *expect_encrypted_sha256,
                            const uint8_t *expect_plaintext_sha256, uint64_t plain_size,
                            parley_media_digest *digest)
{
    int rc, tmp_fd = -1;
    parley_media_decryptor *d = NULL;
    char tmp[PATH_MAX];
    uint8_t *in = malloc(PARLEY_MEDIA_IO_CHUNK);
    uint8_t *out = malloc(PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK);
    size_t l;
    PARLEY_MISUSE(out_path != NULL);
    tmp[0] = '\0';
    ENSURE(in != NULL && out != NULL, PARLEY_ERR_NOMEM);
    ENSURE(snprintf(tmp, sizeof tmp, "%s.partXXXXXX", out_path) < (int)sizeof tmp,
           PARLEY_ERR_INVALID_ARG);
    tmp_fd = mkstemp(tmp);
    if (tmp_fd < 0)
        tmp[0] = '\0';
    ENSURE(tmp_fd >= 0, PARLEY_ERR_IO);
    GUARD(parley_media_decryptor_new(&d, key, type, expect_encrypted_sha256,
                                     expect_plaintext_sha256, plain_size));
    for (;;) {
        ssize_t r = read_some(in_fd, in, PARLEY_MEDIA_IO_CHUNK);
        ENSURE(r >= 0, PARLEY_ERR_IO);
        if (r == 0)
            break;
        GUARD(parley_media_decryptor_update(d, in, (size_t)r, out,
                                            PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK, &l));
        GUARD(write_all(tmp_fd, out, l));
    }
    GUARD(parley_media_decryptor_final(d, out, PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK, &l,
                                       digest));
    GUARD(write_all(tmp_fd, out, l));
    ENSURE(fsync(tmp_fd) == 0, PARLEY_ERR_IO);
    ENSURE(close(tmp_fd) == 0, PARLEY_ERR_IO);
    tmp_fd = -1;
    /* Only now does the verified plaintext get its name. */
    ENSURE(rename(tmp, out_path) == 0, PARLEY_ERR_IO);
    tmp[0] = '\0';
    rc = PARLEY_OK;
out:
    parley_media_decryptor_free(d);
    if (tmp_fd >= 0)
        close(tmp_fd);
    if (tmp[0] != '\0')
        unlink(tmp);
    if (out != NULL)
        pc_wipe(out, PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK);
    free(in);
    free(out);
    return rc;
}
