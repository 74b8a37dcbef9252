/*
 * Streaming media encryption (DESIGN.md 3.6; format in docs/media.md).
 *
 * The construction follows the attachment scheme the large messengers
 * use (HKDF-expanded media key, AES-256-CBC, HMAC-SHA256 over IV and
 * ciphertext truncated to 10 bytes, SHA-256 of plaintext and blob), with
 * parley's own HKDF info strings so that keys never collide with another
 * network's.
 */
#include "parley/media.h"

#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "crypto/crypto.h"
#include "media/hasher.h"
#include "media/media_internal.h"
#include "util/safety.h"

#define IV_LEN 16
#define CIPHER_KEY_LEN 32
#define MAC_KEY_LEN 32
#define EXPANDED_LEN 112

typedef struct {
    uint8_t iv[IV_LEN];
    uint8_t cipher_key[CIPHER_KEY_LEN];
    uint8_t mac_key[MAC_KEY_LEN];
} media_keys;

const char *parley_media_info(parley_media_type type)
{
    switch (type) {
    case PARLEY_MEDIA_IMAGE:
        return "parley image keys";
    case PARLEY_MEDIA_VIDEO:
        return "parley video keys";
    case PARLEY_MEDIA_AUDIO:
        return "parley audio keys";
    case PARLEY_MEDIA_DOCUMENT:
    default:
        return "parley document keys";
    }
}

uint64_t parley_media_encrypted_size(uint64_t plain)
{
    return plain + (16 - plain % 16) + PARLEY_MEDIA_MAC_LEN;
}

int parley_media_key_generate(uint8_t key[PARLEY_MEDIA_KEY_LEN])
{
    return pc_random(key, PARLEY_MEDIA_KEY_LEN);
}

/* HKDF-SHA256(salt = none, ikm = media key, info) -> 112 bytes. */
static int derive(media_keys *k, const uint8_t key[PARLEY_MEDIA_KEY_LEN], parley_media_type type)
{
    int rc;
    uint8_t okm[EXPANDED_LEN];
    const char *info = parley_media_info(type);
    GUARD(pc_hkdf_sha256(okm, sizeof okm, NULL, 0, key, PARLEY_MEDIA_KEY_LEN,
                         (const uint8_t *)info, strlen(info)));
    memcpy(k->iv, okm, IV_LEN);
    memcpy(k->cipher_key, okm + IV_LEN, CIPHER_KEY_LEN);
    memcpy(k->mac_key, okm + IV_LEN + CIPHER_KEY_LEN, MAC_KEY_LEN);
    rc = PARLEY_OK;
out:
    pc_wipe(okm, sizeof okm);
    return rc;
}

/* ---- encryption ----------------------------------------------------------------- */

struct parley_media_encryptor {
    pc_cbc_stream *cbc;
    pc_hmac_sha256_ctx mac;
    pc_sha256_ctx plain_hash, blob_hash;
    uint64_t plain_size, blob_size;
    int finished;
};

int parley_media_encryptor_new(parley_media_encryptor **out,
                               const uint8_t key[PARLEY_MEDIA_KEY_LEN], parley_media_type type)
{
    int rc;
    media_keys k;
    PARLEY_MISUSE(out != NULL && key != NULL);
    parley_media_encryptor *e = calloc(1, sizeof *e);
    ENSURE(e != NULL, PARLEY_ERR_NOMEM);
    GUARD(derive(&k, key, type));
    GUARD(pc_cbc_stream_new(&e->cbc, 1, k.cipher_key, k.iv));
    GUARD(pc_hmac_sha256_init(&e->mac, k.mac_key, sizeof k.mac_key));
    GUARD(pc_hmac_sha256_update(&e->mac, k.iv, sizeof k.iv));
    GUARD(pc_sha256_init(&e->plain_hash));
    GUARD(pc_sha256_init(&e->blob_hash));
    *out = e;
    e = NULL;
    rc = PARLEY_OK;
out:
    pc_wipe(&k, sizeof k);
    parley_media_encryptor_free(e);
    return rc;
}

int parley_media_encryptor_update(parley_media_encryptor *e, const uint8_t *in, size_t n,
                                  uint8_t *out, size_t out_max, size_t *out_len)
{
    int rc;
    size_t l = 0;
    PARLEY_MISUSE(e != NULL && out_len != NULL && (in != NULL || n == 0));
    ENSURE(!e->finished, PARLEY_ERR_STATE);
    ENSURE(out_max >= n + PARLEY_MEDIA_SLACK, PARLEY_ERR_BUFFER);
    {
        /* encryption and the three hash streams side by side
         * (src/crypto/sha256_ni.c) */
        pc_sha256_ctx *const c[3] = {&e->plain_hash, pc_hmac_sha256_inner(&e->mac),
                                     &e->blob_hash};
        static const int over_out[3] = {0, 1, 1};
        GUARD(pc_cbc_stream_update_hashed(e->cbc, out, out_max, &l, in, n, c, over_out));
    }
    e->plain_size += n;
    e->blob_size += l;
    *out_len = l;
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_media_encryptor_final(parley_media_encryptor *e, uint8_t *out, size_t out_max,
                                 size_t *out_len, parley_media_digest *digest)
{
    int rc;
    size_t l = 0;
    uint8_t mac[PC_SHA256_LEN];
    PARLEY_MISUSE(e != NULL && out != NULL && out_len != NULL && digest != NULL);
    ENSURE(!e->finished, PARLEY_ERR_STATE);
    ENSURE(out_max >= PC_AES_BLOCK + PARLEY_MEDIA_MAC_LEN, PARLEY_ERR_BUFFER);
    e->finished = 1;
    GUARD(pc_cbc_stream_final(e->cbc, out, out_max, &l));
    GUARD(pc_hmac_sha256_update(&e->mac, out, l));
    GUARD(pc_hmac_sha256_final(&e->mac, mac));
    memcpy(out + l, mac, PARLEY_MEDIA_MAC_LEN);
    l += PARLEY_MEDIA_MAC_LEN;
    GUARD(pc_sha256_update(&e->blob_hash, out, l));
    GUARD(pc_sha256_final(&e->blob_hash, digest->encrypted_sha256));
    GUARD(pc_sha256_final(&e->plain_hash, digest->plaintext_sha256));
    e->blob_size += l;
    digest->plaintext_size = e->plain_size;
    digest->encrypted_size = e->blob_size;
    *out_len = l;
    rc = PARLEY_OK;
out:
    pc_wipe(mac, sizeof mac);
    return rc;
}

void parley_media_encryptor_free(parley_media_encryptor *e)
{
    if (e == NULL)
        return;
    pc_cbc_stream_free(e->cbc);
    pc_wipe(e, sizeof *e);
    free(e);
}

/* ---- decryption ----------------------------------------------------------------- */

struct parley_media_decryptor {
    pc_cbc_stream *cbc;
    pc_hmac_sha256_ctx mac;
    pc_sha256_ctx plain_hash, blob_hash;
    /* The last 10 bytes seen: they are the MAC if the blob ends here. */
    uint8_t tail[PARLEY_MEDIA_MAC_LEN];
    size_t tail_len;
    uint64_t cipher_size, plain_size, blob_limit;
    uint8_t expect_blob[PC_SHA256_LEN], expect_plain[PC_SHA256_LEN];
    int check_blob, check_plain, failed, finished;
    /* Two cores for large blobs: the worker, started at the first update
     * that warrants it; no_worker once starting one failed. */
    pm_hasher *hasher;
    pm_split_mode split;
    int no_worker;
    uint64_t split_updates;
    /* Pacing (pace()): updates left on one core, the next such pause;
     * nanoseconds per byte absorbed on one core and on two, moving
     * averages (0: not measured yet); fresh_two: two-core updates still
     * to come before the average starts afresh (the first after a pause
     * or at the start pays for waking or creating the thread); late_run:
     * two-core updates in a row on which the worker was late. */
    unsigned pause_left, pause_next;
    double ns_one, ns_two;
    int fresh_two, late_run;
};

static atomic_int split_mode_setting = PM_SPLIT_AUTO;

void pm_decrypt_split_mode(pm_split_mode mode)
{
    atomic_store(&split_mode_setting, (int)mode);
}

uint64_t pm_decryptor_split_updates(const parley_media_decryptor *d)
{
    return d->split_updates;
}

int parley_media_decryptor_new(parley_media_decryptor **out,
                               const uint8_t key[PARLEY_MEDIA_KEY_LEN], parley_media_type type,
                               const uint8_t *expect_encrypted_sha256,
                               const uint8_t *expect_plaintext_sha256, uint64_t plain_size)
{
    int rc;
    media_keys k;
    PARLEY_MISUSE(out != NULL && key != NULL);
    parley_media_decryptor *d = calloc(1, sizeof *d);
    ENSURE(d != NULL, PARLEY_ERR_NOMEM);
    GUARD(derive(&k, key, type));
    GUARD(pc_cbc_stream_new(&d->cbc, 0, k.cipher_key, k.iv));
    GUARD(pc_hmac_sha256_init(&d->mac, k.mac_key, sizeof k.mac_key));
    GUARD(pc_hmac_sha256_update(&d->mac, k.iv, sizeof k.iv));
    GUARD(pc_sha256_init(&d->plain_hash));
    GUARD(pc_sha256_init(&d->blob_hash));
    if (expect_encrypted_sha256 != NULL) {
        memcpy(d->expect_blob, expect_encrypted_sha256, PC_SHA256_LEN);
        d->check_blob = 1;
    }
    if (expect_plaintext_sha256 != NULL) {
        memcpy(d->expect_plain, expect_plaintext_sha256, PC_SHA256_LEN);
        d->check_plain = 1;
    }
    d->plain_size = plain_size;
    d->blob_limit = plain_size == PARLEY_MEDIA_SIZE_UNKNOWN
                        ? UINT64_MAX
                        : parley_media_encrypted_size(plain_size);
    d->split = (pm_split_mode)atomic_load(&split_mode_setting);
    d->pause_next = PM_SPLIT_PAUSE;
    d->fresh_two = 2;
    *out = d;
    d = NULL;
    rc = PARLEY_OK;
out:
    pc_wipe(&k, sizeof k);
    parley_media_decryptor_free(d);
    return rc;
}

/* Ciphertext bytes known not to be part of the MAC: authenticate, hash and
 * decrypt them. */
static int absorb(parley_media_decryptor *d, const uint8_t *ct, size_t n, uint8_t *out,
                  size_t out_max, size_t *written)
{
    int rc;
    size_t l = 0;
    if (n == 0)
        return PARLEY_OK;
    GUARD(pc_cbc_stream_update(d->cbc, out + *written, out_max - *written, &l, ct, n));
    {
        pc_sha256_ctx *const c[3] = {pc_hmac_sha256_inner(&d->mac), &d->blob_hash,
                                     &d->plain_hash};
        const uint8_t *const in[3] = {ct, ct, out + *written};
        const size_t len[3] = {n, n, l};
        GUARD(pc_sha256_update_multi(c, in, len, 3));
    }
    d->cipher_size += n;
    *written += l;
    rc = PARLEY_OK;
out:
    return rc;
}

/*
 * Decryption on two cores (docs/media.md). The three SHA-256 streams
 * saturate one core's SHA unit, and that unit is per core: the worker
 * absorbs the ciphertext into the HMAC and, for part of the update, the
 * blob hash side by side, while this thread decrypts and hashes the
 * plaintext, then finishes the blob hash (src/media/hasher.c). Same
 * bytes, same order, same contexts as absorb(): only where the work runs
 * differs.
 *
 * The worker reads d->tail and in; neither may change, and the call may
 * not return, before it is done, so every path goes through finish.
 */
static int absorb_split(parley_media_decryptor *d, const uint8_t *in, size_t n, uint8_t *out,
                        size_t out_max, size_t *written, int *late)
{
    int rc;
    size_t l = 0, w = *written;
    const uint8_t *const seg[PM_HASHER_SEGS] = {d->tail, in};
    const size_t len[PM_HASHER_SEGS] = {d->tail_len, n};
    pc_sha256_ctx *const c[PM_HASHER_LANES] = {pc_hmac_sha256_inner(&d->mac), &d->blob_hash};
    pm_hasher_post(d->hasher, c, seg, len);
    for (size_t i = 0; i < PM_HASHER_SEGS; i++) {
        if (len[i] == 0)
            continue;
        GUARD(pc_cbc_stream_update_hash_out(d->cbc, out + w, out_max - w, &l, seg[i], len[i],
                                            &d->plain_hash));
        w += l;
    }
    d->cipher_size += len[0] + len[1];
    d->split_updates++;
    *written = w;
    rc = PARLEY_OK;
out:
    *late = pm_hasher_finish(d->hasher);
    return rc;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Two cores are faster only when the second one is free. Another program
 * on it, and the two threads wait for each other: then one core is
 * faster, so the decryptor measures both and pauses the second core
 * (PM_SPLIT_PAUSE updates, doubling while it keeps losing) when two
 * updates in a row on two were late or the two-core average is slower
 * than the one-core one. One late update alone is no reason: a virtual
 * machine's second core is taken away now and then for a moment (the
 * host runs something else), and pausing for each such moment kept 3% of
 * a large blob's updates on one core on a quiet machine here. The pauses
 * are also when the one-core speed gets measured.
 */
static void pace(parley_media_decryptor *d, int split, int late, uint64_t ns, size_t bytes)
{
    double r = (double)ns / (double)bytes;
    if (!split) {
        d->ns_one = d->ns_one == 0 ? r : (3 * d->ns_one + r) / 4;
        return;
    }
    if (d->fresh_two > 0 && --d->fresh_two > 0)
        return;
    d->ns_two = d->ns_two == 0 ? r : (3 * d->ns_two + r) / 4;
    d->late_run = late ? d->late_run + 1 : 0;
    if (d->late_run >= 2 || (d->ns_one > 0 && d->ns_two > d->ns_one)) {
        d->late_run = 0;
        d->pause_left = d->pause_next;
        d->ns_two = 0;
        d->fresh_two = 2;
        if (d->pause_next < PM_SPLIT_PAUSE_MAX)
            d->pause_next *= 2;
    } else {
        d->pause_next = PM_SPLIT_PAUSE;
    }
}

/* Whether an update of n bytes that absorbs the tail and then `absorb`
 * bytes runs on two cores; starts the worker when it is first needed. */
static int want_split(parley_media_decryptor *d, size_t n, size_t absorb)
{
    int always = d->split == PM_SPLIT_ALWAYS || d->split == PM_SPLIT_START_FAILS;
    if (d->split == PM_SPLIT_NEVER || d->no_worker)
        return 0;
    if (absorb == 0 || (!always && absorb < PM_SPLIT_UPDATE_MIN))
        return 0;
    if (!always && d->pause_left > 0) {
        d->pause_left--;
        return 0;
    }
    if (d->hasher != NULL)
        return 1;
    if (!always) {
        uint64_t seen = d->cipher_size + d->tail_len + n;
        uint64_t size = d->blob_limit != UINT64_MAX ? d->blob_limit : seen;
        if (size < PM_SPLIT_BLOB_MIN)
            return 0;
    }
    /* No thread (a process at its limit, a single core, or the test of
     * that case): one core, for good, with the same results. */
    if (d->split == PM_SPLIT_START_FAILS || pm_hasher_start(&d->hasher, always) != PARLEY_OK) {
        d->hasher = NULL;
        d->no_worker = 1;
        return 0;
    }
    return 1;
}

int parley_media_decryptor_update(parley_media_decryptor *d, const uint8_t *in, size_t n,
                                  uint8_t *out, size_t out_max, size_t *out_len)
{
    int rc;
    size_t written = 0;
    PARLEY_MISUSE(d != NULL && out_len != NULL && (in != NULL || n == 0));
    *out_len = 0;
    ENSURE(!d->finished && !d->failed, PARLEY_ERR_STATE);
    ENSURE(out_max >= n + PARLEY_MEDIA_SLACK, PARLEY_ERR_BUFFER);
    /* The MAC and the blob hash are over the ciphertext: decrypting over
     * it would only fail at final, so say so now. A misuse, not a bad
     * blob: nothing is consumed and the decryptor stays usable. */
    if (n > 0 && (uintptr_t)in < (uintptr_t)out + out_max && (uintptr_t)out < (uintptr_t)in + n)
        return PARLEY_ERR_INVALID_ARG;
    /* An extended blob is refused as soon as it is longer than announced. */
    ENSURE(d->cipher_size + d->tail_len + n >= d->cipher_size &&
               d->cipher_size + d->tail_len + n <= d->blob_limit,
           PARLEY_ERR_INVALID_MAC);
    if (n >= PARLEY_MEDIA_MAC_LEN) {
        size_t body = n - PARLEY_MEDIA_MAC_LEN, all = d->tail_len + body;
        int split = want_split(d, n, all), late = 0;
        /* only updates that could run on two cores are timed */
        int timed = d->split == PM_SPLIT_AUTO && d->hasher != NULL && all >= PM_SPLIT_UPDATE_MIN;
        uint64_t t0 = timed ? now_ns() : 0;
        if (split) {
            GUARD(absorb_split(d, in, body, out, out_max, &written, &late));
        } else {
            GUARD(absorb(d, d->tail, d->tail_len, out, out_max, &written));
            GUARD(absorb(d, in, body, out, out_max, &written));
        }
        if (timed)
            pace(d, split, late, now_ns() - t0, all);
        memcpy(d->tail, in + n - PARLEY_MEDIA_MAC_LEN, PARLEY_MEDIA_MAC_LEN);
        d->tail_len = PARLEY_MEDIA_MAC_LEN;
    } else if (d->tail_len + n <= PARLEY_MEDIA_MAC_LEN) {
        if (n > 0)
            memcpy(d->tail + d->tail_len, in, n);
        d->tail_len += n;
    } else {
        size_t drop = d->tail_len + n - PARLEY_MEDIA_MAC_LEN;
        GUARD(absorb(d, d->tail, drop, out, out_max, &written));
        memmove(d->tail, d->tail + drop, d->tail_len - drop);
        memcpy(d->tail + d->tail_len - drop, in, n);
        d->tail_len = PARLEY_MEDIA_MAC_LEN;
    }
    *out_len = written;
    rc = PARLEY_OK;
out:
    if (rc < 0 && rc != PARLEY_ERR_BUFFER && rc != PARLEY_ERR_STATE) {
        d->failed = 1;
        /* no more updates: the thread need not wait for free */
        pm_hasher_stop(d->hasher);
        d->hasher = NULL;
    }
    return rc;
}

int parley_media_decryptor_final(parley_media_decryptor *d, uint8_t *out, size_t out_max,
                                 size_t *out_len, parley_media_digest *digest)
{
    int rc;
    size_t l = 0;
    uint8_t mac[PC_SHA256_LEN], blob_sha[PC_SHA256_LEN], plain_sha[PC_SHA256_LEN];
    uint8_t last[PC_AES_BLOCK];
    PARLEY_MISUSE(d != NULL && out != NULL && out_len != NULL);
    *out_len = 0;
    ENSURE(!d->finished && !d->failed, PARLEY_ERR_STATE);
    ENSURE(out_max >= PC_AES_BLOCK, PARLEY_ERR_BUFFER);
    d->finished = 1;
    /* Every update waited for its job; the thread has nothing left to do. */
    pm_hasher_stop(d->hasher);
    d->hasher = NULL;
    /* Truncated: no room for a MAC and at least one whole block. */
    ENSURE(d->tail_len == PARLEY_MEDIA_MAC_LEN && d->cipher_size >= PC_AES_BLOCK &&
               d->cipher_size % PC_AES_BLOCK == 0,
           PARLEY_ERR_INVALID_MAC);
    ENSURE(d->blob_limit == UINT64_MAX ||
               d->cipher_size + PARLEY_MEDIA_MAC_LEN == d->blob_limit,
           PARLEY_ERR_INVALID_MAC);
    GUARD(pc_hmac_sha256_final(&d->mac, mac));
    ENSURE(pc_ct_eq(mac, d->tail, PARLEY_MEDIA_MAC_LEN), PARLEY_ERR_INVALID_MAC);
    GUARD(pc_sha256_update(&d->blob_hash, d->tail, PARLEY_MEDIA_MAC_LEN));
    GUARD(pc_sha256_final(&d->blob_hash, blob_sha));
    ENSURE(!d->check_blob || pc_ct_eq(blob_sha, d->expect_blob, PC_SHA256_LEN),
           PARLEY_ERR_INVALID_MAC);
    /* Padding is authenticated by now; a bad one means a bad sender. */
    rc = pc_cbc_stream_final(d->cbc, last, sizeof last, &l);
    ENSURE(rc == PARLEY_OK, PARLEY_ERR_INVALID_MAC);
    GUARD(pc_sha256_update(&d->plain_hash, last, l));
    GUARD(pc_sha256_final(&d->plain_hash, plain_sha));
    ENSURE(!d->check_plain || pc_ct_eq(plain_sha, d->expect_plain, PC_SHA256_LEN),
           PARLEY_ERR_INVALID_MAC);
    uint64_t plain = d->cipher_size - PC_AES_BLOCK + l;
    ENSURE(d->plain_size == PARLEY_MEDIA_SIZE_UNKNOWN || plain == d->plain_size,
           PARLEY_ERR_INVALID_MAC);
    memcpy(out, last, l);
    *out_len = l;
    if (digest != NULL) {
        memcpy(digest->encrypted_sha256, blob_sha, PC_SHA256_LEN);
        memcpy(digest->plaintext_sha256, plain_sha, PC_SHA256_LEN);
        digest->plaintext_size = plain;
        digest->encrypted_size = d->cipher_size + PARLEY_MEDIA_MAC_LEN;
    }
    rc = PARLEY_OK;
out:
    pc_wipe(mac, sizeof mac);
    pc_wipe(last, sizeof last);
    return rc;
}

void parley_media_decryptor_free(parley_media_decryptor *d)
{
    if (d == NULL)
        return;
    /* joined before the contexts it works on are wiped */
    pm_hasher_stop(d->hasher);
    pc_cbc_stream_free(d->cbc);
    pc_wipe(d, sizeof *d);
    free(d);
}
