/*
 * Edwards25519 group and scalar operations through libsodium, for XEdDSA
 * (src/signal/xeddsa.c), which signs with a Curve25519 key rather than an
 * Ed25519 seed and so cannot use crypto_sign_ed25519_detached.
 */
#include "crypto/crypto_internal.h"

#include <sodium.h>

int pc_ed25519_scalarmult_base(uint8_t q[PC_ED25519_PUB_LEN], const uint8_t n[32])
{
    GUARD_INIT();
    /* Fails only for n = 0 mod L (the identity), never for a real key or
     * nonce except with negligible probability. */
    if (crypto_scalarmult_ed25519_base_noclamp(q, n) != 0)
        return PARLEY_ERR_INVALID_KEY;
    return PARLEY_OK;
}

void pc_ed25519_scalar_reduce(uint8_t r[32], const uint8_t s[64])
{
    crypto_core_ed25519_scalar_reduce(r, s);
}

void pc_ed25519_scalar_muladd(uint8_t s[32], const uint8_t h[32], const uint8_t a[32],
                              const uint8_t r[32])
{
    uint8_t ha[32];
    crypto_core_ed25519_scalar_mul(ha, h, a);
    crypto_core_ed25519_scalar_add(s, ha, r);
    sodium_memzero(ha, sizeof ha);
}
