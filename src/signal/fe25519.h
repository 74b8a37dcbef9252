/*
 * Arithmetic in GF(2^255 - 19), just enough to map a Montgomery u
 * coordinate to an Edwards y coordinate for XEdDSA verification (RFC 7748
 * section 4.1: y = (u - 1) / (u + 1)). libsodium has Edwards group
 * operations but no public field inversion. The inputs there are public
 * keys, so constant time is not required; the code has no secret-dependent
 * branches anyway.
 */
#ifndef PARLEY_SIGNAL_FE25519_H
#define PARLEY_SIGNAL_FE25519_H

#include <stdint.h>

/* Five 51-bit limbs, little-endian; limbs may carry a few extra bits
 * between operations. */
typedef struct {
    uint64_t v[5];
} fe25519;

/* Reads 32 little-endian bytes, ignoring bit 255 (as X25519 does). */
void fe25519_frombytes(fe25519 *h, const uint8_t s[32]);
/* Writes the canonical (fully reduced) encoding. */
void fe25519_tobytes(uint8_t s[32], const fe25519 *h);
void fe25519_one(fe25519 *h);
void fe25519_add(fe25519 *h, const fe25519 *f, const fe25519 *g);
void fe25519_sub(fe25519 *h, const fe25519 *f, const fe25519 *g);
void fe25519_mul(fe25519 *h, const fe25519 *f, const fe25519 *g);
/* h = 1/z (z^(p-2); 0 maps to 0). */
void fe25519_invert(fe25519 *h, const fe25519 *z);

/* Edwards y from Montgomery u (canonical bytes, bit 255 clear). Returns 0,
 * or -1 when u = -1 (mod p), which has no Edwards image. */
int fe25519_mont_u_to_ed_y(uint8_t y[32], const uint8_t u[32]);

#endif
