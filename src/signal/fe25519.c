/* GF(2^255 - 19) with 51-bit limbs; see fe25519.h for why it exists. */
#include "signal/fe25519.h"

#include <string.h>

#define MASK51 ((UINT64_C(1) << 51) - 1)

typedef unsigned __int128 u128;

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

void fe25519_add(fe25519 *h, const fe25519 *f, const fe25519 *g)
{
    for (int i = 0; i < 5; i++)
        h->v[i] = f->v[i] + g->v[i];
    carry(h);
}

void fe25519_sub(fe25519 *h, const fe25519 *f, const fe25519 *g)
{
    /* f + 2p - g keeps every limb non-negative for carried inputs. */
    h->v[0] = f->v[0] + UINT64_C(0xfffffffffffda) - g->v[0];
    for (int i = 1; i < 5; i++)
        h->v[i] = f->v[i] + UINT64_C(0xffffffffffffe) - g->v[i];
    carry(h);
}

void fe25519_mul(fe25519 *h, const fe25519 *f, const fe25519 *g)
{
    const uint64_t *a = f->v, *b = g->v;
    uint64_t b1 = 19 * b[1], b2 = 19 * b[2], b3 = 19 * b[3], b4 = 19 * b[4];
    u128 r0 =
        (u128)a[0] * b[0] + (u128)a[1] * b4 + (u128)a[2] * b3 + (u128)a[3] * b2 + (u128)a[4] * b1;
    u128 r1 =
        (u128)a[0] * b[1] + (u128)a[1] * b[0] + (u128)a[2] * b4 + (u128)a[3] * b3 + (u128)a[4] * b2;
    u128 r2 = (u128)a[0] * b[2] + (u128)a[1] * b[1] + (u128)a[2] * b[0] + (u128)a[3] * b4 +
              (u128)a[4] * b3;
    u128 r3 = (u128)a[0] * b[3] + (u128)a[1] * b[2] + (u128)a[2] * b[1] + (u128)a[3] * b[0] +
              (u128)a[4] * b4;
    u128 r4 = (u128)a[0] * b[4] + (u128)a[1] * b[3] + (u128)a[2] * b[2] + (u128)a[3] * b[1] +
              (u128)a[4] * b[0];
    r1 += r0 >> 51;
    r2 += r1 >> 51;
    r3 += r2 >> 51;
    r4 += r3 >> 51;
    uint64_t c = (uint64_t)(r4 >> 51);
    h->v[0] = ((uint64_t)r0 & MASK51) + 19 * c;
    h->v[1] = (uint64_t)r1 & MASK51;
    h->v[2] = (uint64_t)r2 & MASK51;
    h->v[3] = (uint64_t)r3 & MASK51;
    h->v[4] = (uint64_t)r4 & MASK51;
    carry(h);
}

static void sq_times(fe25519 *h, const fe25519 *f, int n)
{
    *h = *f;
    for (int i = 0; i < n; i++)
        fe25519_mul(h, h, h);
}

void fe25519_invert(fe25519 *h, const fe25519 *z)
{
    /* z^(p-2), p - 2 = (2^250 - 1) * 2^5 + 11: the usual addition chain
     * of 254 squarings and 11 multiplications. */
    fe25519 z2, z9, z11, z_5_0, z_10_0, z_20_0, z_50_0, z_100_0, t;
    fe25519_mul(&z2, z, z);       /* 2 */
    sq_times(&t, &z2, 2);         /* 8 */
    fe25519_mul(&z9, &t, z);      /* 9 */
    fe25519_mul(&z11, &z9, &z2);  /* 11 */
    fe25519_mul(&t, &z11, &z11);  /* 22 */
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
    fe25519_mul(&t, &t, &z_50_0); /* 2^250 - 1 */
    sq_times(&t, &t, 5);
    fe25519_mul(h, &t, &z11); /* 2^255 - 21 */
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
