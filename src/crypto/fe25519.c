/* GF(2^255 - 19) with 51-bit limbs: the parts that are not inline (see
 * fe25519.h for why the field code exists at all). */
#include "crypto/fe25519.h"

#include <string.h>

#define MASK51 FE25519_MASK51

static uint64_t load64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void fe25519_frombytes(fe25519 *h, const uint8_t s[32])
{
    uint64_t w0 = load64_le(s), w1 = load64_le(s + 8), w2 = load64_le(s + 16),
             w3 = load64_le(s + 24) & UINT64_C(0x7fffffffffffffff);
    h->v[0] = w0 & MASK51;
    h->v[1] = ((w0 >> 51) | (w1 << 13)) & MASK51;
    h->v[2] = ((w1 >> 38) | (w2 << 26)) & MASK51;
    h->v[3] = ((w2 >> 25) | (w3 << 39)) & MASK51;
    h->v[4] = (w3 >> 12) & MASK51;
}

/* One carry pass: every limb below 2^51 except limb 0, which may exceed it
 * by a little (19 * the carry out of limb 4). */
static void carry(fe25519 *h)
{
    uint64_t c;
    for (int i = 0; i < 4; i++) {
        c = h->v[i] >> 51;
        h->v[i] &= MASK51;
        h->v[i + 1] += c;
    }
    c = h->v[4] >> 51;
    h->v[4] &= MASK51;
    h->v[0] += 19 * c;
}

void fe25519_tobytes(uint8_t s[32], const fe25519 *h)
{
    fe25519 t = *h;
    carry(&t);
    carry(&t);
    /* Now t < 2^255 + small; subtract p once if t >= p, which is the case
     * exactly when t + 19 carries out of bit 255. */
    uint64_t q = (t.v[0] + 19) >> 51;
    q = (t.v[1] + q) >> 51;
    q = (t.v[2] + q) >> 51;
    q = (t.v[3] + q) >> 51;
    q = (t.v[4] + q) >> 51;
    t.v[0] += 19 * q;
    for (int i = 0; i < 4; i++) {
        t.v[i + 1] += t.v[i] >> 51;
        t.v[i] &= MASK51;
    }
    t.v[4] &= MASK51;

    uint64_t w[4];
    w[0] = t.v[0] | (t.v[1] << 51);
    w[1] = (t.v[1] >> 13) | (t.v[2] << 38);
    w[2] = (t.v[2] >> 26) | (t.v[3] << 25);
    w[3] = (t.v[3] >> 39) | (t.v[4] << 12);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            s[8 * i + j] = (uint8_t)(w[i] >> (8 * j));
}

void fe25519_one(fe25519 *h)
{
    memset(h, 0, sizeof *h);
    h->v[0] = 1;
}

static void sq_times(fe25519 *h, const fe25519 *f, int n)
{
    fe25519_sq(h, f);
    for (int i = 1; i < n; i++)
        fe25519_sq(h, h);
}

/* z^(2^250 - 1) and z^11, the common head of the two exponentiations
 * below: the usual addition chain of 249 squarings and 11 multiplications
 * (ref10 and RFC 7748's reference code use the same). */
static void pow_2_250_1(fe25519 *z_250_0, fe25519 *z11, const fe25519 *z)
{
    fe25519 z2, z9, z_5_0, z_10_0, z_20_0, z_50_0, z_100_0, t;
    fe25519_sq(&z2, z);           /* 2 */
    sq_times(&t, &z2, 2);         /* 8 */
    fe25519_mul(&z9, &t, z);      /* 9 */
    fe25519_mul(z11, &z9, &z2);   /* 11 */
    fe25519_sq(&t, z11);          /* 22 */
    fe25519_mul(&z_5_0, &t, &z9); /* 2^5 - 1 */
    sq_times(&t, &z_5_0, 5);
    fe25519_mul(&z_10_0, &t, &z_5_0); /* 2^10 - 1 */
    sq_times(&t, &z_10_0, 10);
    fe25519_mul(&z_20_0, &t, &z_10_0); /* 2^20 - 1 */
    sq_times(&t, &z_20_0, 20);
    fe25519_mul(&t, &t, &z_20_0); /* 2^40 - 1 */
    sq_times(&t, &t, 10);
    fe25519_mul(&z_50_0, &t, &z_10_0); /* 2^50 - 1 */
    sq_times(&t, &z_50_0, 50);
    fe25519_mul(&z_100_0, &t, &z_50_0); /* 2^100 - 1 */
    sq_times(&t, &z_100_0, 100);
    fe25519_mul(&t, &t, &z_100_0); /* 2^200 - 1 */
    sq_times(&t, &t, 50);
    fe25519_mul(z_250_0, &t, &z_50_0); /* 2^250 - 1 */
}

void fe25519_invert(fe25519 *h, const fe25519 *z)
{
    /* z^(p-2), p - 2 = (2^250 - 1) * 2^5 + 11. */
    fe25519 t, z11;
    pow_2_250_1(&t, &z11, z);
    sq_times(&t, &t, 5);
    fe25519_mul(h, &t, &z11); /* 2^255 - 21 */
}

void fe25519_pow22523(fe25519 *h, const fe25519 *z)
{
    /* (p-5)/8 = 2^252 - 3 = (2^250 - 1) * 4 + 1. */
    fe25519 t, z11;
    pow_2_250_1(&t, &z11, z);
    sq_times(&t, &t, 2);
    fe25519_mul(h, &t, z);
}

int fe25519_iszero(const fe25519 *h)
{
    uint8_t s[32];
    uint8_t acc = 0;
    fe25519_tobytes(s, h);
    for (int i = 0; i < 32; i++)
        acc |= s[i];
    return acc == 0;
}

int fe25519_isodd(const fe25519 *h)
{
    uint8_t s[32];
    fe25519_tobytes(s, h);
    return s[0] & 1;
}

int fe25519_mont_u_to_ed_y(uint8_t y[32], const uint8_t u_bytes[32])
{
    fe25519 u, one, num, den, inv, r;
    uint8_t check[32];
    fe25519_frombytes(&u, u_bytes);
    fe25519_one(&one);
    fe25519_add(&den, &u, &one);
    fe25519_tobytes(check, &den);
    static const uint8_t zero[32];
    if (memcmp(check, zero, sizeof zero) == 0)
        return -1; /* u = -1: the point at which the birational map is undefined */
    fe25519_sub(&num, &u, &one);
    fe25519_invert(&inv, &den);
    fe25519_mul(&r, &num, &inv);
    fe25519_tobytes(y, &r);
    return 0;
}

void fe25519_ed_y_to_mont_u(uint8_t u[32], const uint8_t y_bytes[32])
{
    /* Only public values pass through here: y is the public key. */
    fe25519 y, one, num, den, inv, r;
    fe25519_frombytes(&y, y_bytes); /* the sign of x (bit 255) plays no part */
    fe25519_one(&one);
    fe25519_add(&num, &one, &y);
    fe25519_sub(&den, &one, &y);
    fe25519_invert(&inv, &den); /* y = 1 (the identity) gives 0 */
    fe25519_mul(&r, &num, &inv);
    fe25519_tobytes(u, &r);
}
