/* X25519 (RFC 7748) through libsodium (and, for public keys, its Ed25519
 * fixed-base multiplication). */
#include "crypto/crypto_internal.h"

#include <sodium.h>
#include <string.h>

#include "crypto/fe25519.h"

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
    int rc;
    uint8_t k[32], ed[32];
    GUARD_INIT();
    /*
     * X25519(k, 9) through the Edwards curve: the birational map of RFC
     * 7748 section 4.1 sends the Ed25519 base point to u = 9 and is a
     * group homomorphism, so u([k]B) = (1 + y) / (1 - y) with [k]B from
     * libsodium's constant-time fixed-base table. libsodium's own
     * crypto_scalarmult_base runs the full Montgomery ladder on this
     * machine's build (sandy2x), which costs about half as much again.
     * k is clamped exactly as crypto_scalarmult_base clamps it.
     */
    memcpy(k, priv, 32);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    /* Fails only for k = 0 mod L, which no clamped k is. */
    ENSURE(crypto_scalarmult_ed25519_base_noclamp(ed, k) == 0, PARLEY_ERR_INVALID_KEY);
    fe25519_ed_y_to_mont_u(pub, ed);
    rc = PARLEY_OK;
out:
    pc_wipe(k, sizeof k);
    return rc;
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
