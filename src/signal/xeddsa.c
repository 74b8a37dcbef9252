/*
 * XEdDSA over Curve25519 keys ("The XEdDSA and VXEdDSA Signature Schemes",
 * rev. 1, section 2.3), in the variant libsignal uses: instead of negating
 * the private scalar so that the Edwards public key has sign bit 0, the
 * signer keeps its real Edwards key A = aB and carries A's sign bit in the
 * top bit of the signature's last byte (always 0 in a canonical s). The
 * verifier rebuilds A from the Montgomery u and that bit.
 */
#include "parley/xeddsa.h"

#include <string.h>

#include "crypto/crypto.h"
#include "signal/fe25519.h"
#include "util/safety.h"

int parley_xeddsa_sign(uint8_t sig[PARLEY_XEDDSA_SIG_LEN], const uint8_t priv[32],
                       const uint8_t *msg, size_t len)
{
    int rc;
    uint8_t k[32], wide[64], a[32], A[32], Z[64], digest[64], r[32], R[32], h[32], s[32];
    /* 0xFE || 0xFF * 31: hash_1 of the XEdDSA paper (section 2.5), which
     * keeps the nonce hash domain apart from Ed25519's. */
    uint8_t prefix[32];
    PARLEY_MISUSE(sig != NULL && priv != NULL && (msg != NULL || len == 0));

    /* libsignal clamps a private key when it loads it, and signs with the
     * clamped bytes; do the same so that a = the X25519 scalar. */
    memcpy(k, priv, 32);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    memset(wide, 0, sizeof wide);
    memcpy(wide, k, 32);
    pc_ed25519_scalar_reduce(a, wide);
    GUARD(pc_ed25519_scalarmult_base(A, a));
    uint8_t sign_bit = A[31] & 0x80;

    /* r = hash_1(a || M || Z) mod L, Z 64 random bytes. */
    GUARD(pc_random(Z, sizeof Z));
    prefix[0] = 0xFE;
    memset(prefix + 1, 0xFF, 31);
    const pc_part nonce_parts[] = {{prefix, 32}, {k, 32}, {msg, len}, {Z, 64}};
    GUARD(pc_sha512_parts(digest, nonce_parts, PARLEY_ARRAY_LEN(nonce_parts)));
    pc_ed25519_scalar_reduce(r, digest);
    GUARD(pc_ed25519_scalarmult_base(R, r));

    /* h = SHA-512(R || A || M) mod L; s = r + h a mod L. */
    const pc_part h_parts[] = {{R, 32}, {A, 32}, {msg, len}};
    GUARD(pc_sha512_parts(digest, h_parts, PARLEY_ARRAY_LEN(h_parts)));
    pc_ed25519_scalar_reduce(h, digest);
    pc_ed25519_scalar_muladd(s, h, a, r);

    memcpy(sig, R, 32);
    memcpy(sig + 32, s, 32);
    sig[63] = (uint8_t)((sig[63] & 0x7F) | sign_bit);
    rc = PARLEY_OK;
out:
    pc_wipe(k, sizeof k);
    pc_wipe(wide, sizeof wide);
    pc_wipe(a, sizeof a);
    pc_wipe(Z, sizeof Z);
    pc_wipe(digest, sizeof digest);
    pc_wipe(r, sizeof r);
    pc_wipe(s, sizeof s);
    return rc;
}

int parley_xeddsa_verify(const uint8_t pub[32], const uint8_t *msg, size_t len,
                         const uint8_t sig[PARLEY_XEDDSA_SIG_LEN])
{
    uint8_t A[32], ed_sig[64];
    PARLEY_MISUSE(pub != NULL && sig != NULL && (msg != NULL || len == 0));

    /* A = (x, y) with y = (u - 1) / (u + 1) and the sign of x from the
     * signature (libsignal: MontgomeryPoint::to_edwards(sig[63] >> 7)). */
    if (fe25519_mont_u_to_ed_y(A, pub) != 0)
        return PARLEY_ERR_INVALID_SIGNATURE;
    A[31] |= sig[63] & 0x80;
    memcpy(ed_sig, sig, 64);
    ed_sig[63] &= 0x7F;

    /* From here it is an Ed25519 check of (R, s) against A. libsodium's is
     * strict (s < L, R and A not of small order), a subset of what
     * libsignal accepts (s < 2^253); honest signers, libsignal's included,
     * always produce signatures that pass both. */
    if (pc_ed25519_verify(ed_sig, msg, len, A) != PARLEY_OK)
        return PARLEY_ERR_INVALID_SIGNATURE;
    return PARLEY_OK;
}
