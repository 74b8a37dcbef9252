/*
 * Safety numbers as libsignal computes them (rust/protocol/src/fingerprint.rs,
 * "NumericFingerprintGenerator" in the Java library): per party,
 *   H_0 = SHA-512(0x0000 || key || stable_id || key)
 *   H_i = SHA-512(H_{i-1} || key),  i = 1 .. iterations - 1
 * with key the 33-byte serialized identity key (0x05 || 32). The displayed
 * number takes H's first 30 bytes as six 40-bit big-endian integers, each
 * mod 100000 as five digits; the two 30-digit halves are concatenated in
 * ascending order so both parties show the same 60 digits. The scannable
 * form is CombinedFingerprints{version, local H[0..32], remote H[0..32]}.
 */
#include "parley/fingerprint.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "fingerprint.pb-c.h"
#include "util/safety.h"

#define HALF_DIGITS        30
#define SCANNABLE_HASH_LEN 32
#define ITERATIONS_MAX     1000000u

static int party_hash(uint8_t out[PC_SHA512_LEN], uint32_t iterations, const uint8_t *id,
                      size_t id_len, const uint8_t key[32])
{
    int rc;
    uint8_t serialized[33];
    static const uint8_t version[2] = {0, 0};
    serialized[0] = 0x05;
    memcpy(serialized + 1, key, 32);
    const pc_part first[] = {{version, 2}, {serialized, 33}, {id, id_len}, {serialized, 33}};
    GUARD(pc_sha512_parts(out, first, PARLEY_ARRAY_LEN(first)));
    for (uint32_t i = 1; i < iterations; i++) {
        const pc_part next[] = {{out, PC_SHA512_LEN}, {serialized, 33}};
        GUARD(pc_sha512_parts(out, next, PARLEY_ARRAY_LEN(next)));
    }
    rc = PARLEY_OK;
out:
    return rc;
}

static void encode_half(char out[HALF_DIGITS + 1], const uint8_t h[PC_SHA512_LEN])
{
    for (int chunk = 0; chunk < 6; chunk++) {
        uint64_t v = 0;
        for (int j = 0; j < 5; j++)
            v = (v << 8) | h[chunk * 5 + j];
        /* Five digits, zero-padded; the value is < 100000 so exactly 5. */
        uint32_t d = (uint32_t)(v % 100000u);
        for (int k = 4; k >= 0; k--) {
            out[chunk * 5 + k] = (char)('0' + d % 10);
            d /= 10;
        }
    }
    out[HALF_DIGITS] = '\0';
}

static int scannable_encode(uint8_t out[PARLEY_FINGERPRINT_SCANNABLE_MAX], size_t *out_len,
                            uint32_t version, const uint8_t local[SCANNABLE_HASH_LEN],
                            const uint8_t remote[SCANNABLE_HASH_LEN])
{
    Parley__Fingerprint__LogicalFingerprint l = PARLEY__FINGERPRINT__LOGICAL_FINGERPRINT__INIT;
    Parley__Fingerprint__LogicalFingerprint r = PARLEY__FINGERPRINT__LOGICAL_FINGERPRINT__INIT;
    Parley__Fingerprint__CombinedFingerprints c = PARLEY__FINGERPRINT__COMBINED_FINGERPRINTS__INIT;
    l.has_content = 1;
    l.content.data = (uint8_t *)(uintptr_t)local;
    l.content.len = SCANNABLE_HASH_LEN;
    r.has_content = 1;
    r.content.data = (uint8_t *)(uintptr_t)remote;
    r.content.len = SCANNABLE_HASH_LEN;
    c.has_version = 1;
    c.version = version;
    c.local_fingerprint = &l;
    c.remote_fingerprint = &r;
    size_t n = parley__fingerprint__combined_fingerprints__get_packed_size(&c);
    if (n > PARLEY_FINGERPRINT_SCANNABLE_MAX)
        return PARLEY_ERR_BUFFER;
    *out_len = parley__fingerprint__combined_fingerprints__pack(&c, out);
    return PARLEY_OK;
}

int parley_fingerprint_compute_ex(char display[PARLEY_FINGERPRINT_DISPLAY_LEN + 1],
                                  uint8_t scannable[PARLEY_FINGERPRINT_SCANNABLE_MAX],
                                  size_t *scannable_len, uint32_t version, uint32_t iterations,
                                  const uint8_t *local_id, size_t local_id_len,
                                  const uint8_t local_key[32], const uint8_t *remote_id,
                                  size_t remote_id_len, const uint8_t remote_key[32])
{
    int rc;
    uint8_t lh[PC_SHA512_LEN], rh[PC_SHA512_LEN];
    char ls[HALF_DIGITS + 1], rs[HALF_DIGITS + 1];
    PARLEY_MISUSE(display != NULL && scannable != NULL && scannable_len != NULL);
    PARLEY_MISUSE(local_key != NULL && remote_key != NULL);
    PARLEY_MISUSE((local_id != NULL || local_id_len == 0) &&
                  (remote_id != NULL || remote_id_len == 0));
    /* libsignal refuses iterations <= 1 or > 1000000. */
    ENSURE(iterations > 1 && iterations <= ITERATIONS_MAX, PARLEY_ERR_INVALID_ARG);
    ENSURE(local_id_len <= PARLEY_FINGERPRINT_ID_MAX && remote_id_len <= PARLEY_FINGERPRINT_ID_MAX,
           PARLEY_ERR_INVALID_ARG);

    GUARD(party_hash(lh, iterations, local_id, local_id_len, local_key));
    GUARD(party_hash(rh, iterations, remote_id, remote_id_len, remote_key));
    encode_half(ls, lh);
    encode_half(rs, rh);
    /* Ascending order (libsignal's DisplayableFingerprint: local < remote). */
    if (strcmp(ls, rs) < 0) {
        memcpy(display, ls, HALF_DIGITS);
        memcpy(display + HALF_DIGITS, rs, HALF_DIGITS + 1);
    } else {
        memcpy(display, rs, HALF_DIGITS);
        memcpy(display + HALF_DIGITS, ls, HALF_DIGITS + 1);
    }
    GUARD(scannable_encode(scannable, scannable_len, version, lh, rh));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_fingerprint_compute(char display[PARLEY_FINGERPRINT_DISPLAY_LEN + 1],
                               uint8_t scannable[PARLEY_FINGERPRINT_SCANNABLE_MAX],
                               size_t *scannable_len, const uint8_t *local_id, size_t local_id_len,
                               const uint8_t local_key[32], const uint8_t *remote_id,
                               size_t remote_id_len, const uint8_t remote_key[32])
{
    return parley_fingerprint_compute_ex(display, scannable, scannable_len,
                                         PARLEY_FINGERPRINT_VERSION, PARLEY_FINGERPRINT_ITERATIONS,
                                         local_id, local_id_len, local_key, remote_id,
                                         remote_id_len, remote_key);
}

/* A logical fingerprint's content, or NULL when absent. */
static const ProtobufCBinaryData *logical_content(const Parley__Fingerprint__LogicalFingerprint *f)
{
    if (f == NULL || !f->has_content)
        return NULL;
    return &f->content;
}

static int bytes_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    if (a->len != b->len)
        return 0;
    return pc_ct_eq(a->data, b->data, a->len);
}

int parley_fingerprint_compare(const uint8_t *ours, size_t ours_len, const uint8_t *theirs,
                               size_t theirs_len)
{
    int rc;
    Parley__Fingerprint__CombinedFingerprints *a = NULL, *b = NULL;
    PARLEY_MISUSE(ours != NULL && theirs != NULL);
    ENSURE(ours_len <= PARLEY_FINGERPRINT_SCANNABLE_MAX * 4 &&
               theirs_len <= PARLEY_FINGERPRINT_SCANNABLE_MAX * 4,
           PARLEY_ERR_DECODE);
    a = parley__fingerprint__combined_fingerprints__unpack(NULL, ours_len, ours);
    b = parley__fingerprint__combined_fingerprints__unpack(NULL, theirs_len, theirs);
    ENSURE(a != NULL && b != NULL, PARLEY_ERR_DECODE);
    const ProtobufCBinaryData *al = logical_content(a->local_fingerprint),
                              *ar = logical_content(a->remote_fingerprint);
    ENSURE(a->has_version && al != NULL && ar != NULL, PARLEY_ERR_DECODE);
    /* libsignal: a missing version reads as 0 and so as a mismatch. */
    ENSURE((b->has_version ? b->version : 0) == a->version, PARLEY_ERR_LEGACY_VERSION);
    const ProtobufCBinaryData *bl = logical_content(b->local_fingerprint),
                              *br = logical_content(b->remote_fingerprint);
    ENSURE(bl != NULL && br != NULL, PARLEY_ERR_DECODE);
    /* Both halves are compared whatever the first gives. */
    int same = bytes_eq(bl, ar) & bytes_eq(br, al);
    rc = same ? 1 : 0;
out:
    if (a != NULL)
        parley__fingerprint__combined_fingerprints__free_unpacked(a, NULL);
    if (b != NULL)
        parley__fingerprint__combined_fingerprints__free_unpacked(b, NULL);
    return rc;
}
