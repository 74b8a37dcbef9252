/* Ed25519 (RFC 8032) through libsodium: signatures by an offline root key. */
#include "crypto/crypto_internal.h"

#include <sodium.h>

int pc_ed25519_keygen(uint8_t pub[PC_ED25519_PUB_LEN], uint8_t priv[PC_ED25519_PRIV_LEN])
{
    GUARD_INIT();
    if (crypto_sign_ed25519_keypair(pub, priv) != 0)
        return PARLEY_ERR_CRYPTO;
    return PARLEY_OK;
}

int pc_ed25519_sign(uint8_t sig[PC_ED25519_SIG_LEN], const uint8_t *msg, size_t n,
                    const uint8_t priv[PC_ED25519_PRIV_LEN])
{
    GUARD_INIT();
    if (crypto_sign_ed25519_detached(sig, NULL, msg, n, priv) != 0)
        return PARLEY_ERR_CRYPTO;
    return PARLEY_OK;
}

int pc_ed25519_verify(const uint8_t sig[PC_ED25519_SIG_LEN], const uint8_t *msg, size_t n,
                      const uint8_t pub[PC_ED25519_PUB_LEN])
{
    GUARD_INIT();
    /* libsodium rejects non-canonical S, small-order A and R: strict
     * verification, so one certificate has exactly one valid signature. */
    if (crypto_sign_ed25519_verify_detached(sig, msg, n, pub) != 0)
        return PARLEY_ERR_INVALID_SIGNATURE;
    return PARLEY_OK;
}
