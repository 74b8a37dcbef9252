/*
 * parley-peer's extra operations (docs/peer-protocol.md): XEdDSA sign and
 * verify with the identity key, safety numbers, and sender-key groups.
 * With --store DIR the sender-key store lives in DIR/sender-keys, written
 * whole, atomically (temporary file, fsync, rename, fsync of DIR), after
 * every change and before any ciphertext is answered.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "parley/fingerprint.h"
#include "parley/group.h"
#include "parley/xeddsa.h"
#include "peer.h"

#define EXTRAS_FILE     "sender-keys"
#define EXTRAS_TMP      ".sender-keys.tmp"
#define PEER_DEVICE_MAX 0x7fffffff
/* Messages to sign and plaintexts: bounded well inside a request line. */
#define EXTRAS_BLOB_MAX (PARLEY_GROUP_CIPHERTEXT_MAX(PARLEY_GROUP_MAX_PLAINTEXT))

struct peer_extras_state {
    parley_group_store *groups;
};

/* ---- persistence ---- */

static int path_join(char *out, size_t max, const char *dir, const char *name)
{
    int n = snprintf(out, max, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= max ? PARLEY_ERR_INVALID_ARG : PARLEY_OK;
}

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

/* Write the whole store so that a crash leaves either the old or the new
 * file, never a torn one. */
static int extras_save(struct peer *p)
{
    int rc, fd = -1;
    uint8_t *blob = NULL;
    size_t len = 0;
    char path[4096], tmp[4096];
    if (p->store_dir == NULL)
        return PARLEY_OK;
    GUARD(path_join(path, sizeof path, p->store_dir, EXTRAS_FILE));
    GUARD(path_join(tmp, sizeof tmp, p->store_dir, EXTRAS_TMP));
    GUARD(parley_group_store_serialize(p->extras->groups, &blob, &len));
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ENSURE(fd >= 0, PARLEY_ERR_IO);
    GUARD(write_all(fd, blob, len));
    ENSURE(fsync(fd) == 0, PARLEY_ERR_IO);
    ENSURE(close(fd) == 0, PARLEY_ERR_IO);
    fd = -1;
    ENSURE(rename(tmp, path) == 0, PARLEY_ERR_IO);
    fd = open(p->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ENSURE(fd >= 0, PARLEY_ERR_IO);
    ENSURE(fsync(fd) == 0, PARLEY_ERR_IO);
    rc = PARLEY_OK;
out:
    if (fd >= 0)
        close(fd);
    parley_group_buffer_free(blob, len);
    return rc;
}

static int extras_load(struct peer *p, parley_group_store **out)
{
    int rc, fd = -1;
    uint8_t *blob = NULL;
    size_t len = 0;
    char path[4096];
    struct stat st;
    GUARD(path_join(path, sizeof path, p->store_dir, EXTRAS_FILE));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return parley_group_store_new(out);
    ENSURE(fd >= 0, PARLEY_ERR_IO);
    ENSURE(fstat(fd, &st) == 0, PARLEY_ERR_IO);
    ENSURE(st.st_size >= 0 && (uint64_t)st.st_size <= PARLEY_GROUP_MAX_STORE_BYTES,
           PARLEY_ERR_STORE);
    len = (size_t)st.st_size;
    blob = malloc(len + 1);
    ENSURE(blob != NULL, PARLEY_ERR_NOMEM);
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, blob + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        ENSURE(r > 0, PARLEY_ERR_IO);
        got += (size_t)r;
    }
    rc = parley_group_store_load(out, blob, len);
    ENSURE(rc == PARLEY_OK, rc == PARLEY_ERR_DECODE ? PARLEY_ERR_STORE : rc);
out:
    if (fd >= 0)
        close(fd);
    parley_group_buffer_free(blob, len);
    return rc;
}

int peer_extras_open(struct peer *p)
{
    int rc;
    struct peer_extras_state *x = NULL;
    if (p->extras != NULL)
        return PARLEY_OK;
    x = calloc(1, sizeof *x);
    ENSURE(x != NULL, PARLEY_ERR_NOMEM);
    if (p->store_dir != NULL)
        GUARD(extras_load(p, &x->groups));
    else
        GUARD(parley_group_store_new(&x->groups));
    p->extras = x;
    x = NULL;
    rc = PARLEY_OK;
out:
    free(x);
    return rc;
}

void peer_extras_close(struct peer *p)
{
    if (p->extras == NULL)
        return;
    parley_group_store_free(p->extras->groups);
    free(p->extras);
    p->extras = NULL;
}

/* ---- request helpers ---- */

/* A base64 member decoded into a fresh buffer of at most max bytes. */
static int get_blob(const pjson *req, const char *key, size_t max, uint8_t **out, size_t *len)
{
    const pjson *m = pjson_get(req, key);
    if (m == NULL || m->type != PJSON_STRING)
        return PEER_BAD_REQUEST;
    size_t cap = m->str_len / 4 * 3 + 3;
    if (cap > max + 3)
        return PEER_BAD_REQUEST;
    uint8_t *b = malloc(cap + 1);
    if (b == NULL)
        return PARLEY_ERR_NOMEM;
    if (pjson_get_base64(req, key, b, cap, len) != PARLEY_OK || *len > max) {
        free(b);
        return PEER_BAD_REQUEST;
    }
    *out = b;
    return PARLEY_OK;
}

static void free_blob(uint8_t *b, size_t len)
{
    if (b != NULL) {
        pc_wipe(b, len);
        free(b);
    }
}

/* A public key as 33 bytes (0x05 || 32, libsignal's serialization) or 32. */
static int get_public_key(const pjson *req, const char *key, uint8_t out[32])
{
    uint8_t b[33];
    size_t n = 0;
    if (pjson_get_base64(req, key, b, sizeof b, &n) != PARLEY_OK)
        return PEER_BAD_REQUEST;
    if (n == 33 && b[0] == 0x05) {
        memcpy(out, b + 1, 32);
        return PARLEY_OK;
    }
    if (n == 32) {
        memcpy(out, b, 32);
        return PARLEY_OK;
    }
    return PEER_BAD_REQUEST;
}

static int get_name(const pjson *req, const char *key, const char **out)
{
    const char *s = pjson_get_string(req, key);
    if (s == NULL || s[0] == 0 || strlen(s) >= PEER_NAME_MAX ||
        strlen(s) != pjson_get(req, key)->str_len)
        return PEER_BAD_REQUEST;
    *out = s;
    return PARLEY_OK;
}

static int get_device(const pjson *req, const char *key, uint32_t *out)
{
    int64_t d;
    if (pjson_get_int(req, key, 0, PEER_DEVICE_MAX, &d) != PARLEY_OK)
        return PEER_BAD_REQUEST;
    *out = (uint32_t)d;
    return PARLEY_OK;
}

static int get_distribution(const pjson *req, uint8_t out[PARLEY_GROUP_DISTRIBUTION_ID_LEN])
{
    const char *s = pjson_get_string(req, "distribution_id");
    if (s == NULL || parley_group_uuid_parse(out, s) != PARLEY_OK)
        return PEER_BAD_REQUEST;
    return PARLEY_OK;
}

static int ensure_open(struct peer *p)
{
    return p->extras != NULL ? PARLEY_OK : peer_extras_open(p);
}

/* ---- operations ---- */

int peer_op_sign(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    uint8_t *msg = NULL, sig[PARLEY_XEDDSA_SIG_LEN];
    size_t n = 0;
    GUARD(get_blob(req, "message", EXTRAS_BLOB_MAX, &msg, &n));
    GUARD(parley_xeddsa_sign(sig, p->identity_priv, msg, n));
    pjson_w_base64(resp, "signature", sig, sizeof sig);
    rc = PARLEY_OK;
out:
    free_blob(msg, n);
    return rc;
}

int peer_op_verify(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    uint8_t pub[32], *msg = NULL, *sig = NULL;
    size_t n = 0, sig_len = 0;
    (void)p;
    GUARD(get_public_key(req, "public_key", pub));
    GUARD(get_blob(req, "message", EXTRAS_BLOB_MAX, &msg, &n));
    GUARD(get_blob(req, "signature", 1024, &sig, &sig_len));
    /* As libsignal: a signature of the wrong length is simply not valid. */
    int valid =
        sig_len == PARLEY_XEDDSA_SIG_LEN && parley_xeddsa_verify(pub, msg, n, sig) == PARLEY_OK;
    pjson_w_bool(resp, "valid", valid);
    rc = PARLEY_OK;
out:
    free_blob(msg, n);
    free_blob(sig, sig_len);
    return rc;
}

int peer_op_fingerprint(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    uint8_t remote_key[32], *local_id = NULL, *remote_id = NULL;
    uint8_t scannable[PARLEY_FINGERPRINT_SCANNABLE_MAX];
    char display[PARLEY_FINGERPRINT_DISPLAY_LEN + 1];
    size_t ln = 0, rn = 0, sn = 0;
    GUARD(get_blob(req, "local_id", PARLEY_FINGERPRINT_ID_MAX, &local_id, &ln));
    GUARD(get_blob(req, "remote_id", PARLEY_FINGERPRINT_ID_MAX, &remote_id, &rn));
    GUARD(get_public_key(req, "remote_identity_key", remote_key));
    GUARD(parley_fingerprint_compute(display, scannable, &sn, local_id, ln, p->identity_pub,
                                     remote_id, rn, remote_key));
    pjson_w_string(resp, "displayable", display);
    pjson_w_base64(resp, "scannable", scannable, sn);
    rc = PARLEY_OK;
out:
    free_blob(local_id, ln);
    free_blob(remote_id, rn);
    return rc;
}

int peer_op_group_create(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    uint8_t dist[PARLEY_GROUP_DISTRIBUTION_ID_LEN], skdm[PARLEY_GROUP_SKDM_MAX];
    size_t n = 0;
    GUARD(get_distribution(req, dist));
    GUARD(ensure_open(p));
    GUARD(parley_group_create(p->extras->groups, p->name, p->device, dist, skdm, sizeof skdm, &n));
    GUARD(extras_save(p));
    pjson_w_base64(resp, "skdm", skdm, n);
    rc = PARLEY_OK;
out:
    pc_wipe(skdm, sizeof skdm);
    return rc;
}

int peer_op_group_process(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    const char *sender;
    uint32_t device;
    uint8_t *skdm = NULL;
    size_t n = 0;
    (void)resp;
    GUARD(get_name(req, "sender", &sender));
    GUARD(get_device(req, "device", &device));
    GUARD(get_blob(req, "skdm", 4096, &skdm, &n));
    GUARD(ensure_open(p));
    GUARD(parley_group_process(p->extras->groups, sender, device, skdm, n));
    GUARD(extras_save(p));
    rc = PARLEY_OK;
out:
    free_blob(skdm, n);
    return rc;
}

int peer_op_group_encrypt(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    uint8_t dist[PARLEY_GROUP_DISTRIBUTION_ID_LEN], *pt = NULL, *ct = NULL;
    size_t n = 0, cn = 0, cmax = 0;
    GUARD(get_distribution(req, dist));
    GUARD(get_blob(req, "plaintext", PARLEY_GROUP_MAX_PLAINTEXT, &pt, &n));
    GUARD(ensure_open(p));
    cmax = PARLEY_GROUP_CIPHERTEXT_MAX(n);
    ct = malloc(cmax);
    ENSURE(ct != NULL, PARLEY_ERR_NOMEM);
    GUARD(parley_group_encrypt(p->extras->groups, p->name, p->device, dist, pt, n, ct, cmax, &cn));
    /* The advanced chain is durable before the ciphertext is answered. */
    GUARD(extras_save(p));
    pjson_w_base64(resp, "ciphertext", ct, cn);
    rc = PARLEY_OK;
out:
    free_blob(pt, n);
    free(ct);
    return rc;
}

int peer_op_group_decrypt(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    const char *sender;
    uint32_t device;
    uint8_t *ct = NULL, *pt = NULL;
    size_t n = 0, pn = 0;
    GUARD(get_name(req, "sender", &sender));
    GUARD(get_device(req, "device", &device));
    GUARD(get_blob(req, "ciphertext", EXTRAS_BLOB_MAX, &ct, &n));
    GUARD(ensure_open(p));
    pt = malloc(n + 1);
    ENSURE(pt != NULL, PARLEY_ERR_NOMEM);
    GUARD(parley_group_decrypt(p->extras->groups, sender, device, ct, n, pt, n, &pn));
    GUARD(extras_save(p));
    pjson_w_base64(resp, "plaintext", pt, pn);
    rc = PARLEY_OK;
out:
    free_blob(ct, n);
    free_blob(pt, pn);
    return rc;
}
