/*
 * The Edwards25519 group (RFC 8032 section 5.1), only what XEdDSA
 * verification needs: point decoding, the encoding checks libsodium's
 * strict Ed25519 verification applies, and [s]B + [h]A computed in
 * variable time (every input is public).
 *
 * Why parley has its own: libsodium offers Ed25519 verification only as a
 * whole (decode A, hash, double-scalar multiplication, compare) and keeps
 * the group code private. A sender-key chain verifies every message with
 * the same key, so the per-key part (decoding A and a table of multiples
 * of A, 2^64 A, 2^128 A and 2^192 A) can be done once; what remains per
 * message is a quarter of the doublings. See docs/signal.md.
 */
#ifndef PARLEY_SIGNAL_GE25519_H
#define PARLEY_SIGNAL_GE25519_H

#include <stdint.h>
#include "crypto/fe25519.h"

/* Extended coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, xy = T/Z. */
typedef struct {
    fe25519 X, Y, Z, T;
} ge25519_p3;

/* A point ready to be added: (Y+X, Y-X, 2Z, 2dT). */
typedef struct {
    fe25519 ypx, ymx, z2, t2d;
} ge25519_cached;

/* Scalars split into GE25519_SPLIT pieces of GE25519_PIECE_BITS bits;
 * the per-key table holds the odd multiples 1..15 of 2^(64 k) A. */
#define GE25519_SPLIT      4
#define GE25519_PIECE_BITS 64
#define GE25519_A_WINDOW   5
#define GE25519_A_ENTRIES  (1 << (GE25519_A_WINDOW - 2))

/* Multiples of one point for ge25519_verify_split. About 5 KiB. */
typedef struct {
    ge25519_cached t[GE25519_SPLIT][GE25519_A_ENTRIES];
} ge25519_table;

/* Decodes s (RFC 8032 section 5.1.3; y need not be below p, bit 255 is
 * the sign of x). Returns 0, or -1 when no point has that y, or when
 * x = 0 and the sign bit is set. */
int ge25519_frombytes(ge25519_p3 *h, const uint8_t s[32]);
void ge25519_tobytes(uint8_t s[32], const ge25519_p3 *h);

/* The encoding checks of libsodium's strict verification: y < p
 * (ignoring bit 255); y (mod p, bit 255 ignored) not that of a point of
 * order 1, 2, 4 or 8; s < L. Each returns 1 when the check passes. */
int ge25519_is_canonical(const uint8_t s[32]);
int ge25519_not_small_order(const uint8_t s[32]);
int sc25519_is_canonical(const uint8_t s[32]);

/* Fills the table for A (the per-key precomputation). */
void ge25519_table_init(ge25519_table *tab, const ge25519_p3 *A);

/*
 * out = encoding of [s]B + [h](sign * A), sign = +1 or -1, h and s below
 * 2^256 (h < L and s < L in verification). ge25519_verify_split takes A's
 * table; ge25519_verify_once builds what it needs from A on the spot.
 */
void ge25519_verify_split(uint8_t out[32], const ge25519_table *tab, int sign, const uint8_t h[32],
                          const uint8_t s[32]);
void ge25519_verify_once(uint8_t out[32], const ge25519_p3 *A, int sign, const uint8_t h[32],
                         const uint8_t s[32]);

/* [n]P by double-and-add, for tests (variable time: public inputs only). */
void ge25519_scalarmult_slow(ge25519_p3 *r, const ge25519_p3 *p, const uint8_t n[32]);
/* The base point B. */
void ge25519_base(ge25519_p3 *b);

#endif
