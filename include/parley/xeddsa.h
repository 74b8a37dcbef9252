/*
 * XEdDSA signatures over Curve25519 keys, exactly as libsignal computes and
 * checks them (the Montgomery key's Edwards form has sign bit 0; the sign
 * bit of the signer's real Edwards key travels in the top bit of the
 * signature's last byte). See "The XEdDSA and VXEdDSA Signature Schemes",
 * revision 1, section 2.
 */
#ifndef PARLEY_XEDDSA_H
#define PARLEY_XEDDSA_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_XEDDSA_SIG_LEN 64

/* Sign msg with the X25519 private key priv (64 random bytes of nonce
 * material are drawn internally). */
PARLEY_MUST_CHECK int parley_xeddsa_sign(uint8_t sig[PARLEY_XEDDSA_SIG_LEN],
                                         const uint8_t priv[32], const uint8_t *msg, size_t len);

/* PARLEY_OK when sig is a valid signature of msg by the X25519 public key
 * pub, PARLEY_ERR_INVALID_SIGNATURE otherwise. */
PARLEY_MUST_CHECK int parley_xeddsa_verify(const uint8_t pub[32], const uint8_t *msg, size_t len,
                                           const uint8_t sig[PARLEY_XEDDSA_SIG_LEN]);

#ifdef __cplusplus
}
#endif
#endif
