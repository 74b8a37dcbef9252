/*
 * Curve25519 public keys on the wire: one type byte (0x05, libsignal's
 * DJB_TYPE) then the 32-byte Montgomery u-coordinate (curve.c).
 */
#include <string.h>
#include "parley/signal.h"
#include "util/safety.h"

void parley_key_encode(uint8_t out[PARLEY_PUBKEY_LEN], const uint8_t pub[32])
{
    out[0] = PARLEY_KEY_TYPE_DJB;
    memcpy(out + 1, pub, 32);
}

int parley_key_decode(uint8_t pub[32], const uint8_t *in, size_t len)
{
    if (in == NULL || len != PARLEY_PUBKEY_LEN || in[0] != PARLEY_KEY_TYPE_DJB)
        return PARLEY_ERR_INVALID_KEY;
    memcpy(pub, in + 1, 32);
    return PARLEY_OK;
}
