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
#include "crypto/fe25519.h"
#include "signal/ge25519.h"
#include "signal/xeddsa_internal.h"
#include "util/safety.h"

int xeddsa_expand(xeddsa_signing_key *sk, const uint8_t priv[32])
{
    int rc;
    uint8_t wide[64];
    /* libsignal clamps a private key when it loads it, and signs with the
     * clamped bytes; do the same so that a = the X25519 scalar. */
    memcpy(sk->k, priv, 32);
    sk->k[0] &= 248;
    sk->k[31] &= 127;
    sk->k[31] |= 64;
    memset(wide, 0, sizeof wide);
    memcpy(wide, sk->k, 32);
    pc_ed25519_scalar_reduce(sk->a, wide);
    GUARD(pc_ed25519_scalarmult_base(sk->A, sk->a));
    rc = PARLEY_OK;
out:
    pc_wipe(wide, sizeof wide);
    if (rc != PARLEY_OK)
        pc_wipe(sk, sizeof *sk);
    return rc;
}

int xeddsa_sign_expanded(uint8_t sig[PARLEY_XEDDSA_SIG_LEN], const xeddsa_signing_key *sk,
                         const uint8_t *msg, size_t len)
{
    int rc;
    uint8_t Z[64], digest[64], r[32], R[32], h[32], s[32];
    /* 0xFE || 0xFF * 31: hash_1 of the XEdDSA paper (section 2.5), which
     * keeps the nonce hash domain apart from Ed25519's. */
    uint8_t prefix[32];
    PARLEY_MISUSE(sig != NULL && sk != NULL && (msg != NULL || len == 0));
    uint8_t sign_bit = sk->A[31] & 0x80;

    /* r = hash_1(k || M || Z) mod L, Z 64 random bytes. */
    GUARD(pc_random(Z, sizeof Z));
    prefix[0] = 0xFE;
    memset(prefix + 1, 0xFF, 31);
    const pc_part nonce_parts[] = {{prefix, 32}, {sk->k, 32}, {msg, len}, {Z, 64}};
    GUARD(pc_sha512_parts(digest, nonce_parts, PARLEY_ARRAY_LEN(nonce_parts)));
    pc_ed25519_scalar_reduce(r, digest);
    GUARD(pc_ed25519_scalarmult_base(R, r));

    /* h = SHA-512(R || A || M) mod L; s = r + h a mod L. */
    const pc_part h_parts[] = {{R, 32}, {sk->A, 32}, {msg, len}};
    GUARD(pc_sha512_parts(digest, h_parts, PARLEY_ARRAY_LEN(h_parts)));
    pc_ed25519_scalar_reduce(h, digest);
    pc_ed25519_scalar_muladd(s, h, sk->a, r);

    memcpy(sig, R, 32);
    memcpy(sig + 32, s, 32);
    sig[63] = (uint8_t)((sig[63] & 0x7F) | sign_bit);
    rc = PARLEY_OK;
out:
    pc_wipe(Z, sizeof Z);
    pc_wipe(digest, sizeof digest);
    pc_wipe(r, sizeof r);
    pc_wipe(s, sizeof s);
    return rc;
}

int parley_xeddsa_sign(uint8_t sig[PARLEY_XEDDSA_SIG_LEN], const uint8_t priv[32],
                       const uint8_t *msg, size_t len)
{
    int rc;
    xeddsa_signing_key sk;
    PARLEY_MISUSE(sig != NULL && priv != NULL && (msg != NULL || len == 0));
    GUARD(xeddsa_expand(&sk, priv));
    GUARD(xeddsa_sign_expanded(sig, &sk, msg, len));
    rc = PARLEY_OK;
out:
    pc_wipe(&sk, sizeof sk);
    return rc;
}

/*
 * What libsodium's strict Ed25519 verification (crypto_sign_ed25519_
 * verify_detached, which parley used before and whose acceptance rules
 * are kept exactly) checks before the group arithmetic: s < L, R not of
 * small order, A' canonical and not of small order; then
 * h = SHA-512(R || A' || M) mod L. A' is the key's Edwards y with the
 * sign bit the signature carries; the caller has already checked the
 * key's own y (canonical, not small order) when check_key is 0.
 */
static int prologue(uint8_t h[32], uint8_t s[32], uint8_t A[32], const uint8_t y[32],
                    const uint8_t *msg, size_t len, const uint8_t sig[PARLEY_XEDDSA_SIG_LEN],
                    int check_key)
{
    int rc;
    uint8_t digest[64];
    /* The sign of x comes from the signature's top bit, which is then
     * cleared to leave a plain Ed25519 (R, s). */
    memcpy(A, y, 32);
    A[31] = (uint8_t)((A[31] & 0x7F) | (sig[63] & 0x80));
    memcpy(s, sig + 32, 32);
    s[31] &= 0x7F;
    /* libsodium's strict rules are a subset of what libsignal accepts
     * (s < 2^253); honest signers, libsignal's included, always produce
     * signatures that pass both. */
    ENSURE(sc25519_is_canonical(s), PARLEY_ERR_INVALID_SIGNATURE);
    ENSURE(ge25519_not_small_order(sig), PARLEY_ERR_INVALID_SIGNATURE);
    if (check_key)
        ENSURE(ge25519_is_canonical(A) && ge25519_not_small_order(A), PARLEY_ERR_INVALID_SIGNATURE);
    const pc_part parts[] = {{sig, 32}, {A, 32}, {msg, len}};
    GUARD(pc_sha512_parts(digest, parts, PARLEY_ARRAY_LEN(parts)));
    pc_ed25519_scalar_reduce(h, digest);
    rc = PARLEY_OK;
out:
    return rc;
}

int xeddsa_verify_key_init(xeddsa_verify_key *vk, const uint8_t pub[32])
{
    ge25519_p3 P;
    PARLEY_MISUSE(vk != NULL && pub != NULL);
    /* A = (x, y) with y = (u - 1) / (u + 1) (libsignal:
     * MontgomeryPoint::to_edwards, which refuses u = -1). */
    if (fe25519_mont_u_to_ed_y(vk->y, pub) != 0)
        return PARLEY_ERR_INVALID_KEY;
    /* The sign bit varies per signature; these hold for both signs. */
    if (!ge25519_is_canonical(vk->y) || !ge25519_not_small_order(vk->y))
        return PARLEY_ERR_INVALID_KEY;
    if (ge25519_frombytes(&P, vk->y) != 0)
        return PARLEY_ERR_INVALID_KEY;
    ge25519_table_init(&vk->tab, &P);
    return PARLEY_OK;
}

int xeddsa_verify_expanded(const xeddsa_verify_key *vk, const uint8_t *msg, size_t len,
                           const uint8_t sig[PARLEY_XEDDSA_SIG_LEN])
{
    uint8_t h[32], s[32], A[32], check[32];
    PARLEY_MISUSE(vk != NULL && sig != NULL && (msg != NULL || len == 0));
    if (prologue(h, s, A, vk->y, msg, len, sig, 0) != PARLEY_OK)
        return PARLEY_ERR_INVALID_SIGNATURE;
    /* The table holds P, x even. A' = P when the sign bit is clear, -P
     * when it is set; the check is [s]B - [h]A' = R. */
    ge25519_verify_split(check, &vk->tab, (sig[63] & 0x80) ? 1 : -1, h, s);
    if (!pc_ct_eq(check, sig, 32))
        return PARLEY_ERR_INVALID_SIGNATURE;
    return PARLEY_OK;
}

int parley_xeddsa_verify(const uint8_t pub[32], const uint8_t *msg, size_t len,
                         const uint8_t sig[PARLEY_XEDDSA_SIG_LEN])
{
    uint8_t y[32], h[32], s[32], A[32], check[32];
    ge25519_p3 P;
    PARLEY_MISUSE(pub != NULL && sig != NULL && (msg != NULL || len == 0));
    if (fe25519_mont_u_to_ed_y(y, pub) != 0)
        return PARLEY_ERR_INVALID_SIGNATURE;
    if (prologue(h, s, A, y, msg, len, sig, 1) != PARLEY_OK)
        return PARLEY_ERR_INVALID_SIGNATURE;
    if (ge25519_frombytes(&P, A) != 0)
        return PARLEY_ERR_INVALID_SIGNATURE;
    ge25519_verify_once(check, &P, -1, h, s);
    if (!pc_ct_eq(check, sig, 32))
        return PARLEY_ERR_INVALID_SIGNATURE;
    return PARLEY_OK;
}
