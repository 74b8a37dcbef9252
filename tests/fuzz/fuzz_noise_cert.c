/*
 * libFuzzer harness: arbitrary bytes as a server certificate, decoded and
 * verified against a fixed root key (the corpus holds certificates signed
 * by it and damaged copies).
 */
#include <stdint.h>
#include <string.h>

#include "parley/noise_cert.h"

/* Root public key of the corpus certificates: Ed25519 from the seed 32 x 0x55 (test only). */
static const uint8_t root_pub[32] = {
    0xc6, 0x82, 0x26, 0x37, 0xc7, 0xd3, 0x10, 0xec, 0x57, 0x62, 0x7b, 0xe0, 0x0b, 0xa2, 0x59, 0xd2,
    0x53, 0x74, 0x9f, 0x4a, 0xaf, 0x64, 0x44, 0x70, 0xcf, 0xfb, 0xe5, 0x3a, 0x35, 0xf7, 0x32, 0x42};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parley_noise_cert_info info, info2;
    int drc = parley_noise_cert_decode(data, size, &info);
    int vrc = parley_noise_cert_verify(data, size, root_pub, NULL, 1700000000u, &info2);
    /* Whatever verifies must also decode, to the same fields. */
    if (vrc == PARLEY_OK &&
        (drc != PARLEY_OK || info.serial != info2.serial ||
         memcmp(info.server_key, info2.server_key, sizeof info.server_key) != 0))
        __builtin_trap();
    if (drc == PARLEY_OK && vrc == PARLEY_OK) {
        uint8_t other[32];
        memcpy(other, info.server_key, sizeof other);
        other[0] ^= 1;
        if (parley_noise_cert_verify(data, size, root_pub, other, 1700000000u, NULL) !=
            PARLEY_ERR_CERT_KEY_MISMATCH)
            __builtin_trap();
    }
    return 0;
}
