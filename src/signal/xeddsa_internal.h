/*
 * XEdDSA in two steps, for callers that sign or verify many messages with
 * one key (sender-key chains): the per-key work (the Edwards form of the
 * key) is done once and kept; the per-message work is what remains.
 * parley_xeddsa_sign/verify are these two steps back to back.
 */
#ifndef PARLEY_SIGNAL_XEDDSA_INTERNAL_H
#define PARLEY_SIGNAL_XEDDSA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "parley/xeddsa.h"

/* A signing key: the clamped X25519 private key k, a = k mod L and the
 * compressed Edwards public key A = aB (with its real sign bit). Secret. */
typedef struct {
    uint8_t k[32];
    uint8_t a[32];
    uint8_t A[32];
} xeddsa_signing_key;

PARLEY_MUST_CHECK int xeddsa_expand(xeddsa_signing_key *sk, const uint8_t priv[32]);
PARLEY_MUST_CHECK int xeddsa_sign_expanded(uint8_t sig[PARLEY_XEDDSA_SIG_LEN],
                                           const xeddsa_signing_key *sk, const uint8_t *msg,
                                           size_t len);

/* The Edwards y (sign bit clear) for X25519 public key pub;
 * PARLEY_ERR_INVALID_KEY for u = -1, which has none. */
PARLEY_MUST_CHECK int xeddsa_edwards_y(uint8_t y[32], const uint8_t pub[32]);
PARLEY_MUST_CHECK int xeddsa_verify_y(const uint8_t y[32], const uint8_t *msg, size_t len,
                                      const uint8_t sig[PARLEY_XEDDSA_SIG_LEN]);

#endif
