/*
 * libFuzzer harness: arbitrary bytes as a provider attestation, decoded and
 * verified against a fixed provider key (the corpus holds attestations
 * signed by it and damaged copies). Properties: whatever verifies also
 * decodes to the same claims, and re-issuing those claims with the same
 * key gives back exactly the input (the encoding is canonical and Ed25519
 * deterministic), so no two encodings carry one signature.
 */
#include <stdint.h>
#include <string.h>

#include "parley/attestation.h"

/* Ed25519 from the seed 32 x 0x66 (test only): secret key = seed || public. */
static const uint8_t sk[64] = {
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x34, 0xb4, 0xd9, 0x04, 0x31, 0x56, 0xcb, 0x6d, 0xcf, 0x0b, 0xeb, 0x0a, 0x29, 0x49, 0xb7, 0x55,
    0x9c, 0x94, 0x0d, 0x2b, 0xcb, 0x6d, 0xbe, 0x8c, 0x53, 0xa9, 0xb3, 0x02, 0x78, 0xe3, 0xa7, 0x46};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const domains[] = {"birdy.example"};
    parley_attest_key key = {.key_id = 1};
    memcpy(key.pub, sk + 32, 32);
    parley_attest_trust trust = {.provider = "birdy",
                                 .domains = domains,
                                 .domain_count = 1,
                                 .keys = &key,
                                 .key_count = 1,
                                 .max_lifetime = 0,
                                 .skew = 60};
    parley_attestation d, v;
    int drc = parley_attestation_decode(&d, data, size);
    if (drc != PARLEY_OK)
        return 0;
    int vrc = parley_attestation_verify(&v, data, size, &trust, d.noise_key, d.identity_key,
                                        d.identity_key_len, 1700000000u);
    if (vrc == PARLEY_OK) {
        uint8_t again[PARLEY_ATTEST_MAX_LEN];
        size_t n = 0;
        if (memcmp(&d, &v, sizeof d) != 0)
            __builtin_trap();
        if (parley_attestation_issue(again, sizeof again, &n, &d, sk) != PARLEY_OK || n != size ||
            memcmp(again, data, n) != 0)
            __builtin_trap();
        uint8_t other[PARLEY_ATTEST_NOISE_KEY_LEN];
        memcpy(other, d.noise_key, sizeof other);
        other[0] ^= 1;
        if (parley_attestation_verify(NULL, data, size, &trust, other, NULL, 0, 1700000000u) !=
            PARLEY_ERR_ATTEST_KEY_MISMATCH)
            __builtin_trap();
    }
    return 0;
}
