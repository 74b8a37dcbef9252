/*
 * XEdDSA in two steps, for callers that sign or verify many messages with
 * one key (sender-key chains): the per-key work (the Edwards form of the
 * key and a table of its multiples) is done once and kept; the
 * per-message work is what remains.
 * parley_xeddsa_sign is the two signing steps back to back;
 * parley_xeddsa_verify skips the table, which only pays off over many
 * messages.
 */
#ifndef PARLEY_SIGNAL_XEDDSA_INTERNAL_H
#define PARLEY_SIGNAL_XEDDSA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "parley/xeddsa.h"
#include "signal/ge25519.h"

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

/*
 * A verification key: the per-key half of XEdDSA verification for X25519
 * public key pub, kept while a chain of messages from that key is
 * verified. Public data (no wiping needed); about 5 KiB, so callers keep
 * it on the heap.
 */
typedef struct {
    uint8_t y[32];     /* Edwards y of the key, sign bit clear */
    ge25519_table tab; /* multiples of the point with that y and x even */
} xeddsa_verify_key;

/* PARLEY_ERR_INVALID_KEY when no signature can verify under pub: u = -1
 * (no Edwards image), an Edwards point of small order, or a u whose y is
 * not on the curve (the twist). */
PARLEY_MUST_CHECK int xeddsa_verify_key_init(xeddsa_verify_key *vk, const uint8_t pub[32]);
/* Accepts exactly what parley_xeddsa_verify accepts for the same key. */
PARLEY_MUST_CHECK int xeddsa_verify_expanded(const xeddsa_verify_key *vk, const uint8_t *msg,
                                             size_t len, const uint8_t sig[PARLEY_XEDDSA_SIG_LEN]);

#endif
