/*
 * Arithmetic in GF(2^255 - 19), for what libsodium does not offer:
 *  - the Montgomery u to Edwards y map of XEdDSA verification (RFC 7748
 *    section 4.1: y = (u - 1) / (u + 1)) and the Edwards group code of
 *    src/signal/ge25519.c, which only ever sees public data;
 *  - the Edwards y to Montgomery u map u = (1 + y) / (1 - y) by which
 *    x25519.c turns libsodium's fixed-base Ed25519 multiplication into an
 *    X25519 public key.
 * The field operations have no branches or memory accesses that depend on
 * the values (inversion is a fixed addition chain); callers that branch
 * on fe25519_iszero or fe25519_isodd do so on public values only.
 *
 * The hot operations are static inline so that the point formulas, which
 * call them thousands of times per verification, compile into straight
 * code.
 *
 * Limb bounds: a "tight" element has limbs below 2^52 (what mul, sq and
 * sub return); add returns loose limbs below 2^54 when given tight ones.
 * mul and sq accept limbs below 2^54; sub accepts a minuend below 2^54
 * and a subtrahend below 2^53.
 */
#ifndef PARLEY_CRYPTO_FE25519_H
#define PARLEY_CRYPTO_FE25519_H

#include <stdint.h>

/* Five 51-bit limbs, little-endian. */
typedef struct {
    uint64_t v[5];
} fe25519;

#define FE25519_MASK51 ((UINT64_C(1) << 51) - 1)

typedef unsigned __int128 fe25519_u128;

/* Reads 32 little-endian bytes, ignoring bit 255 (as X25519 does). */
void fe25519_frombytes(fe25519 *h, const uint8_t s[32]);
/* Writes the canonical (fully reduced) encoding. */
void fe25519_tobytes(uint8_t s[32], const fe25519 *h);
void fe25519_one(fe25519 *h);
/* h = 1/z (z^(p-2); 0 maps to 0). */
void fe25519_invert(fe25519 *h, const fe25519 *z);
/* h = z^((p-5)/8), the core of a square root (RFC 8032 section 5.1.3). */
void fe25519_pow22523(fe25519 *h, const fe25519 *z);
/* 1 when h = 0 (mod p). */
int fe25519_iszero(const fe25519 *h);
/* The low bit of the canonical encoding ("negative" in RFC 8032). */
int fe25519_isodd(const fe25519 *h);

/* Montgomery u from Edwards y (32 bytes, bit 255 ignored): constant
 * time. y = 1 gives 0. */
void fe25519_ed_y_to_mont_u(uint8_t u[32], const uint8_t y[32]);
/* Edwards y from Montgomery u (canonical bytes, bit 255 clear). Returns 0,
 * or -1 when u = -1 (mod p), which has no Edwards image. */
int fe25519_mont_u_to_ed_y(uint8_t y[32], const uint8_t u[32]);

static inline __attribute__((always_inline)) void fe25519_add(fe25519 *h, const fe25519 *f,
                                                              const fe25519 *g)
{
    for (int i = 0; i < 5; i++)
        h->v[i] = f->v[i] + g->v[i];
}

/* h = f - g, computed as f + 4p - g and carried, so the result is tight. */
static inline __attribute__((always_inline)) void fe25519_sub(fe25519 *h, const fe25519 *f,
                                                              const fe25519 *g)
{
    uint64_t t[5];
    t[0] = f->v[0] + (UINT64_C(0x7ffffffffffed) << 2) - g->v[0];
    for (int i = 1; i < 5; i++)
        t[i] = f->v[i] + (UINT64_C(0x7ffffffffffff) << 2) - g->v[i];
    for (int i = 0; i < 4; i++) {
        t[i + 1] += t[i] >> 51;
        t[i] &= FE25519_MASK51;
    }
    t[0] += 19 * (t[4] >> 51);
    t[4] &= FE25519_MASK51;
    for (int i = 0; i < 5; i++)
        h->v[i] = t[i];
}

/* h = -f (tight). */
static inline __attribute__((always_inline)) void fe25519_neg(fe25519 *h, const fe25519 *f)
{
    static const fe25519 zero = {{0, 0, 0, 0, 0}};
    fe25519_sub(h, &zero, f);
}

/* Carries the five column sums of a product into a tight element. */
static inline __attribute__((always_inline)) void
fe25519_reduce_wide(fe25519 *h, fe25519_u128 r0, fe25519_u128 r1, fe25519_u128 r2, fe25519_u128 r3,
                    fe25519_u128 r4)
{
    r1 += (uint64_t)(r0 >> 51);
    r2 += (uint64_t)(r1 >> 51);
    r3 += (uint64_t)(r2 >> 51);
    r4 += (uint64_t)(r3 >> 51);
    uint64_t c = (uint64_t)(r4 >> 51);
    uint64_t h0 = ((uint64_t)r0 & FE25519_MASK51) + 19 * c;
    uint64_t h1 = ((uint64_t)r1 & FE25519_MASK51) + (h0 >> 51);
    h->v[0] = h0 & FE25519_MASK51;
    h->v[1] = h1;
    h->v[2] = (uint64_t)r2 & FE25519_MASK51;
    h->v[3] = (uint64_t)r3 & FE25519_MASK51;
    h->v[4] = (uint64_t)r4 & FE25519_MASK51;
}

static inline __attribute__((always_inline)) void fe25519_mul(fe25519 *h, const fe25519 *f,
                                                              const fe25519 *g)
{
    const uint64_t a0 = f->v[0], a1 = f->v[1], a2 = f->v[2], a3 = f->v[3], a4 = f->v[4];
    const uint64_t b0 = g->v[0], b1 = g->v[1], b2 = g->v[2], b3 = g->v[3], b4 = g->v[4];
    const uint64_t b1_19 = 19 * b1, b2_19 = 19 * b2, b3_19 = 19 * b3, b4_19 = 19 * b4;
    fe25519_u128 r0 = (fe25519_u128)a0 * b0 + (fe25519_u128)a1 * b4_19 + (fe25519_u128)a2 * b3_19 +
                      (fe25519_u128)a3 * b2_19 + (fe25519_u128)a4 * b1_19;
    fe25519_u128 r1 = (fe25519_u128)a0 * b1 + (fe25519_u128)a1 * b0 + (fe25519_u128)a2 * b4_19 +
                      (fe25519_u128)a3 * b3_19 + (fe25519_u128)a4 * b2_19;
    fe25519_u128 r2 = (fe25519_u128)a0 * b2 + (fe25519_u128)a1 * b1 + (fe25519_u128)a2 * b0 +
                      (fe25519_u128)a3 * b4_19 + (fe25519_u128)a4 * b3_19;
    fe25519_u128 r3 = (fe25519_u128)a0 * b3 + (fe25519_u128)a1 * b2 + (fe25519_u128)a2 * b1 +
                      (fe25519_u128)a3 * b0 + (fe25519_u128)a4 * b4_19;
    fe25519_u128 r4 = (fe25519_u128)a0 * b4 + (fe25519_u128)a1 * b3 + (fe25519_u128)a2 * b2 +
                      (fe25519_u128)a3 * b1 + (fe25519_u128)a4 * b0;
    fe25519_reduce_wide(h, r0, r1, r2, r3, r4);
}

/* h = f^2: the symmetric products once, doubled (15 multiplications
 * instead of 25). */
static inline __attribute__((always_inline)) void fe25519_sq(fe25519 *h, const fe25519 *f)
{
    const uint64_t a0 = f->v[0], a1 = f->v[1], a2 = f->v[2], a3 = f->v[3], a4 = f->v[4];
    const uint64_t d0 = 2 * a0, d1 = 2 * a1, d2 = 2 * a2;
    const uint64_t a3_19 = 19 * a3, a4_19 = 19 * a4;
    fe25519_u128 r0 = (fe25519_u128)a0 * a0 + (fe25519_u128)d1 * a4_19 + (fe25519_u128)d2 * a3_19;
    fe25519_u128 r1 = (fe25519_u128)d0 * a1 + (fe25519_u128)d2 * a4_19 + (fe25519_u128)a3 * a3_19;
    fe25519_u128 r2 =
        (fe25519_u128)d0 * a2 + (fe25519_u128)a1 * a1 + (fe25519_u128)(2 * a3) * a4_19;
    fe25519_u128 r3 = (fe25519_u128)d0 * a3 + (fe25519_u128)d1 * a2 + (fe25519_u128)a4 * a4_19;
    fe25519_u128 r4 = (fe25519_u128)d0 * a4 + (fe25519_u128)d1 * a3 + (fe25519_u128)a2 * a2;
    fe25519_reduce_wide(h, r0, r1, r2, r3, r4);
}

#endif
