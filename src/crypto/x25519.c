/* X25519 (RFC 7748) through libsodium. */
#include "crypto/crypto_internal.h"

#include <sodium.h>

int pc_x25519_keygen(uint8_t pub[PC_X25519_LEN], uint8_t priv[PC_X25519_LEN])
{
    GUARD_INIT();
    randombytes_buf(priv, PC_X25519_LEN);
    /* Clamp as libsignal does when it stores a private key, so that the
     * serialized private key is identical to theirs. */
    priv[0] &= 248;
    priv[31] &= 127;
    priv[31] |= 64;
    return pc_x25519_public(pub, priv);
}

int pc_x25519_public(uint8_t pub[PC_X25519_LEN], const uint8_t priv[PC_X25519_LEN])
{
    GUARD_INIT();
    if (crypto_scalarmult_base(pub, priv) != 0)
        return PARLEY_ERR_INVALID_KEY;
    return PARLEY_OK;
}

int pc_x25519(uint8_t shared[PC_X25519_LEN], const uint8_t priv[PC_X25519_LEN],
              const uint8_t pub[PC_X25519_LEN])
{
    GUARD_INIT();
    /* libsodium refuses (returns -1 for) an all-zero result: a low-order
     * public key that would make the shared secret predictable. */
    if (crypto_scalarmult(shared, priv, pub) != 0)
        return PARLEY_ERR_INVALID_KEY;
    return PARLEY_OK;
}
