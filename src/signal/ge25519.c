/*
 * Edwards25519 for XEdDSA verification; see ge25519.h. Formulas: Hisil,
 * Wong, Carter, Dawson, "Twisted Edwards Curves Revisited" (2008), for
 * a = -1: extended coordinates, the "completed" (p1p1) intermediate form
 * of a sum or double, and the dedicated doubling. Scalars are recoded in
 * width-w NAF (signed odd digits, at most one nonzero in any w
 * consecutive positions).
 */
#include "signal/ge25519.h"

#include <pthread.h>
#include <string.h>

/* Projective (X : Y : Z): enough to double. */
typedef struct {
    fe25519 X, Y, Z;
} ge_p2;

/* Completed ((X : Z), (Y : T)): x = X/Z, y = Y/T. */
typedef struct {
    fe25519 X, Y, Z, T;
} ge_p1p1;

/* Affine, ready to add: (y+x, y-x, 2dxy). */
typedef struct {
    fe25519 ypx, ymx, xy2d;
} ge_niels;

/* The fixed-base table: odd multiples 1..2^(B_WINDOW-1)-1 of 2^(64 k) B.
 * The base is fixed, so a wider window than A's costs nothing per key. */
#define B_WINDOW  7
#define B_ENTRIES (1 << (B_WINDOW - 2))

/* wNAF digits of one GE25519_PIECE_BITS piece (one extra position for
 * the final carry), and of a whole 256-bit scalar. */
#define PIECE_DIGITS (GE25519_PIECE_BITS + 1)
_Static_assert(GE25519_PIECE_BITS == 64, "wnaf64 recodes 64-bit pieces");
#define FULL_DIGITS 257

static struct {
    fe25519 d, d2, sqrtm1;
    fe25519 small_y[5]; /* y of the points of order 1, 2, 4 and 8 */
    ge_niels base[GE25519_SPLIT][B_ENTRIES];
} C;
static pthread_once_t consts_once = PTHREAD_ONCE_INIT;

/* ---- point arithmetic ----------------------------------------------------- */

static void p1p1_to_p2(ge_p2 *r, const ge_p1p1 *p)
{
    fe25519_mul(&r->X, &p->X, &p->T);
    fe25519_mul(&r->Y, &p->Y, &p->Z);
    fe25519_mul(&r->Z, &p->Z, &p->T);
}

static void p1p1_to_p3(ge25519_p3 *r, const ge_p1p1 *p)
{
    fe25519_mul(&r->X, &p->X, &p->T);
    fe25519_mul(&r->Y, &p->Y, &p->Z);
    fe25519_mul(&r->Z, &p->Z, &p->T);
    fe25519_mul(&r->T, &p->X, &p->Y);
}

/* dbl-2008-hwcd: 4 squarings. */
static void p2_dbl(ge_p1p1 *r, const ge_p2 *p)
{
    fe25519 xx, yy, zz2, aa;
    fe25519_sq(&xx, &p->X);
    fe25519_sq(&yy, &p->Y);
    fe25519_sq(&zz2, &p->Z);
    fe25519_add(&zz2, &zz2, &zz2);
    fe25519_add(&aa, &p->X, &p->Y);
    fe25519_sq(&aa, &aa);
    fe25519_add(&r->Y, &yy, &xx);
    fe25519_sub(&r->Z, &yy, &xx);
    fe25519_sub(&r->X, &aa, &r->Y);
    fe25519_sub(&r->T, &zz2, &r->Z);
}

static void p3_dbl(ge_p1p1 *r, const ge25519_p3 *p)
{
    ge_p2 q;
    q.X = p->X;
    q.Y = p->Y;
    q.Z = p->Z;
    p2_dbl(r, &q);
}

/* add-2008-hwcd-3 with a cached second operand; neg subtracts it. */
static void p3_add_cached(ge_p1p1 *r, const ge25519_p3 *p, const ge25519_cached *q, int neg)
{
    fe25519 a, b, c, d;
    fe25519_add(&a, &p->Y, &p->X);
    fe25519_sub(&b, &p->Y, &p->X);
    fe25519_mul(&a, &a, neg ? &q->ymx : &q->ypx);
    fe25519_mul(&b, &b, neg ? &q->ypx : &q->ymx);
    fe25519_mul(&c, &p->T, &q->t2d);
    fe25519_mul(&d, &p->Z, &q->z2);
    fe25519_sub(&r->X, &a, &b);
    fe25519_add(&r->Y, &a, &b);
    if (neg) {
        fe25519_sub(&r->Z, &d, &c);
        fe25519_add(&r->T, &d, &c);
    } else {
        fe25519_add(&r->Z, &d, &c);
        fe25519_sub(&r->T, &d, &c);
    }
}

/* The same with an affine second operand (Z2 = 1): one multiplication
 * fewer. */
static void p3_add_niels(ge_p1p1 *r, const ge25519_p3 *p, const ge_niels *q, int neg)
{
    fe25519 a, b, c, d;
    fe25519_add(&a, &p->Y, &p->X);
    fe25519_sub(&b, &p->Y, &p->X);
    fe25519_mul(&a, &a, neg ? &q->ymx : &q->ypx);
    fe25519_mul(&b, &b, neg ? &q->ypx : &q->ymx);
    fe25519_mul(&c, &p->T, &q->xy2d);
    fe25519_add(&d, &p->Z, &p->Z);
    fe25519_sub(&r->X, &a, &b);
    fe25519_add(&r->Y, &a, &b);
    if (neg) {
        fe25519_sub(&r->Z, &d, &c);
        fe25519_add(&r->T, &d, &c);
    } else {
        fe25519_add(&r->Z, &d, &c);
        fe25519_sub(&r->T, &d, &c);
    }
}

static void p3_to_cached(ge25519_cached *r, const ge25519_p3 *p)
{
    fe25519_add(&r->ypx, &p->Y, &p->X);
    fe25519_sub(&r->ymx, &p->Y, &p->X);
    fe25519_add(&r->z2, &p->Z, &p->Z);
    fe25519_mul(&r->t2d, &p->T, &C.d2);
}

static void p3_identity(ge25519_p3 *h)
{
    memset(h, 0, sizeof *h);
    fe25519_one(&h->Y);
    fe25519_one(&h->Z);
}

static void p2_to_bytes(uint8_t s[32], const ge_p2 *h)
{
    fe25519 recip, x, y;
    fe25519_invert(&recip, &h->Z);
    fe25519_mul(&x, &h->X, &recip);
    fe25519_mul(&y, &h->Y, &recip);
    fe25519_tobytes(s, &y);
    s[31] = (uint8_t)(s[31] ^ (fe25519_isodd(&x) << 7));
}

void ge25519_tobytes(uint8_t s[32], const ge25519_p3 *h)
{
    ge_p2 q;
    q.X = h->X;
    q.Y = h->Y;
    q.Z = h->Z;
    p2_to_bytes(s, &q);
}

/* x from y and the sign bit; shared by decoding and the constants. */
static int recover_x(fe25519 *x, const fe25519 *y, int sign)
{
    fe25519 one, u, v, v3, vxx, t;
    fe25519_one(&one);
    fe25519_sq(&u, y);
    fe25519_mul(&v, &u, &C.d);
    fe25519_sub(&u, &u, &one); /* u = y^2 - 1 */
    fe25519_add(&v, &v, &one); /* v = d y^2 + 1 */

    /* x = u v^3 (u v^7)^((p-5)/8) (RFC 8032 section 5.1.3, step 2). */
    fe25519_sq(&v3, &v);
    fe25519_mul(&v3, &v3, &v);
    fe25519_sq(&t, &v3);
    fe25519_mul(&t, &t, &v);
    fe25519_mul(&t, &t, &u);
    fe25519_pow22523(&t, &t);
    fe25519_mul(&t, &t, &v3);
    fe25519_mul(x, &t, &u);

    fe25519_sq(&vxx, x);
    fe25519_mul(&vxx, &vxx, &v);
    fe25519_sub(&t, &vxx, &u);
    if (!fe25519_iszero(&t)) {
        fe25519_add(&t, &vxx, &u);
        if (!fe25519_iszero(&t))
            return -1; /* u/v is not a square: no point has this y */
        fe25519_mul(x, x, &C.sqrtm1);
    }
    if (fe25519_iszero(x) && sign)
        return -1;
    if (fe25519_isodd(x) != sign)
        fe25519_neg(x, x);
    return 0;
}

static void init_consts(void);

int ge25519_frombytes(ge25519_p3 *h, const uint8_t s[32])
{
    pthread_once(&consts_once, init_consts);
    fe25519_frombytes(&h->Y, s);
    fe25519_one(&h->Z);
    if (recover_x(&h->X, &h->Y, s[31] >> 7) != 0)
        return -1;
    fe25519_mul(&h->T, &h->X, &h->Y);
    return 0;
}

void ge25519_base(ge25519_p3 *b)
{
    /* y = 4/5, x even (RFC 8032 section 5.1). */
    uint8_t enc[32];
    memset(enc, 0x66, sizeof enc);
    enc[0] = 0x58;
    (void)ge25519_frombytes(b, enc);
}

/* ---- constants -------------------------------------------------------------- */

static void fe_small(fe25519 *h, uint64_t n)
{
    memset(h, 0, sizeof *h);
    h->v[0] = n;
}

/* r = (Z = 1) form of p (affine): p's coordinates divided by zinv. */
static void to_niels(ge_niels *r, const ge25519_p3 *p, const fe25519 *zinv)
{
    fe25519 x, y;
    fe25519_mul(&x, &p->X, zinv);
    fe25519_mul(&y, &p->Y, zinv);
    fe25519_add(&r->ypx, &y, &x);
    fe25519_sub(&r->ymx, &y, &x);
    fe25519_mul(&r->xy2d, &x, &y);
    fe25519_mul(&r->xy2d, &r->xy2d, &C.d2);
}

/* Odd multiples 1, 3, 5, ... of p, n of them, in extended form. */
static void odd_multiples(ge25519_p3 *out, const ge25519_p3 *p, int n)
{
    ge_p1p1 t;
    ge25519_p3 p2;
    ge25519_cached c2;
    out[0] = *p;
    p3_dbl(&t, p);
    p1p1_to_p3(&p2, &t);
    p3_to_cached(&c2, &p2);
    for (int i = 1; i < n; i++) {
        p3_add_cached(&t, &out[i - 1], &c2, 0);
        p1p1_to_p3(&out[i], &t);
    }
}

/* p = [2^k]p. */
static void dbl_times(ge25519_p3 *p, int k)
{
    ge_p1p1 t;
    ge_p2 q;
    q.X = p->X;
    q.Y = p->Y;
    q.Z = p->Z;
    for (int i = 0; i < k; i++) {
        p2_dbl(&t, &q);
        if (i + 1 < k)
            p1p1_to_p2(&q, &t);
    }
    p1p1_to_p3(p, &t);
}

static void init_consts(void)
{
    fe25519 t, u;
    uint8_t y8[32];
    /* d = -121665 / 121666 (RFC 8032 section 5.1). */
    fe_small(&t, 121666);
    fe25519_invert(&u, &t);
    fe_small(&t, 121665);
    fe25519_mul(&u, &u, &t);
    fe25519_neg(&C.d, &u);
    fe25519_add(&C.d2, &C.d, &C.d);
    /* sqrt(-1) = 2^((p-1)/4), (p-1)/4 = 2 (p-5)/8 + 1. */
    fe_small(&t, 2);
    fe25519_pow22523(&u, &t);
    fe25519_sq(&u, &u);
    fe25519_mul(&C.sqrtm1, &u, &t);

    /* The y coordinates of the small-order points: 1 (order 1), -1
     * (order 2), 0 (order 4) and +-y8 (order 8), y8 below in
     * little-endian bytes; tests check that it has order 8. */
    static const char y8_hex[] = "26e8958fc2b227b045c3f489f2ef98f0"
                                 "d5dfac05d3c63339b13802886d53fc05";
    for (int i = 0; i < 32; i++) {
        unsigned hi = (unsigned)y8_hex[2 * i], lo = (unsigned)y8_hex[2 * i + 1];
        hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
        lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
        y8[i] = (uint8_t)(hi << 4 | lo);
    }
    fe25519_one(&C.small_y[0]);
    fe25519_neg(&C.small_y[1], &C.small_y[0]);
    fe_small(&C.small_y[2], 0);
    fe25519_frombytes(&C.small_y[3], y8);
    fe25519_neg(&C.small_y[4], &C.small_y[3]);

    /* The base table, made affine with one inversion (Montgomery's
     * trick: invert the product of all Z, then peel). */
    enum { N = GE25519_SPLIT * B_ENTRIES };
    static ge25519_p3 pts[N];
    static fe25519 prefix[N];
    ge25519_p3 b;
    uint8_t enc[32];
    memset(enc, 0x66, sizeof enc);
    enc[0] = 0x58;
    fe25519_frombytes(&b.Y, enc);
    fe25519_one(&b.Z);
    (void)recover_x(&b.X, &b.Y, 0);
    fe25519_mul(&b.T, &b.X, &b.Y);
    for (int k = 0; k < GE25519_SPLIT; k++) {
        if (k > 0)
            dbl_times(&b, GE25519_PIECE_BITS);
        odd_multiples(&pts[k * B_ENTRIES], &b, B_ENTRIES);
    }
    prefix[0] = pts[0].Z;
    for (int i = 1; i < N; i++)
        fe25519_mul(&prefix[i], &prefix[i - 1], &pts[i].Z);
    fe25519_invert(&t, &prefix[N - 1]);
    for (int i = N - 1; i >= 0; i--) {
        /* t = 1 / (Z_0 ... Z_i) */
        if (i > 0)
            fe25519_mul(&u, &t, &prefix[i - 1]); /* 1 / Z_i */
        else
            u = t;
        to_niels(&C.base[i / B_ENTRIES][i % B_ENTRIES], &pts[i], &u);
        fe25519_mul(&t, &t, &pts[i].Z);
    }
}

/* ---- encoding checks -------------------------------------------------------- */

int ge25519_is_canonical(const uint8_t s[32])
{
    /* y >= p = 2^255 - 19 exactly when bits 5..254 are all ones and the
     * low byte is at least 0xed. */
    if ((s[31] & 0x7f) != 0x7f)
        return 1;
    for (int i = 30; i > 0; i--)
        if (s[i] != 0xff)
            return 1;
    return s[0] < 0xed;
}

int ge25519_not_small_order(const uint8_t s[32])
{
    fe25519 y, d;
    pthread_once(&consts_once, init_consts);
    fe25519_frombytes(&y, s); /* bit 255 ignored; reduced mod p below */
    for (int i = 0; i < 5; i++) {
        fe25519_sub(&d, &y, &C.small_y[i]);
        if (fe25519_iszero(&d))
            return 0;
    }
    return 1;
}

int sc25519_is_canonical(const uint8_t s[32])
{
    /* L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
    for (int i = 31; i >= 0; i--) {
        if (s[i] != L[i])
            return s[i] < L[i];
    }
    return 0; /* s = L */
}

/* ---- scalar recoding --------------------------------------------------------- */

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Width-w NAF of the `bits`-bit number in limbs (little-endian 64-bit
 * words, bits a multiple of 64, at most 256), into naf[0 .. bits] (bits + 1
 * digits). Runs of zero bits are skipped a word at a time. */
static void wnaf(int8_t *naf, const uint64_t *limbs, int bits, int w)
{
    const uint64_t full = UINT64_C(1) << w, mask = full - 1, half = full >> 1;
    uint64_t k[5] = {0, 0, 0, 0, 0};
    const int nl = bits / 64;
    for (int i = 0; i < nl; i++)
        k[i] = limbs[i];
    memset(naf, 0, (size_t)bits + 1);
    int pos = 0;
    while (pos <= bits) {
        uint64_t word = k[pos / 64] >> (pos % 64);
        if (pos % 64 != 0)
            word |= k[pos / 64 + 1] << (64 - pos % 64);
        if (word == 0) {
            pos += 64 - pos % 64;
            continue;
        }
        if ((word & 1) == 0) {
            pos += __builtin_ctzll(word);
            continue;
        }
        /* An odd window: digit d = the low w bits, made signed; the
         * number becomes k - d 2^pos, which clears those w bits or
         * carries into the ones above. */
        uint64_t low = word & mask;
        if (low < half) {
            naf[pos] = (int8_t)low;
            /* clear the w bits at pos */
            for (int b = 0; b < w && pos + b < 64 * (nl + 1); b++)
                k[(pos + b) / 64] &= ~(UINT64_C(1) << ((pos + b) % 64));
        } else {
            naf[pos] = (int8_t)((int64_t)low - (int64_t)full);
            /* k += (full - low) 2^pos: the low w bits become 0 with a carry
             * out of bit pos + w - 1. */
            for (int b = 0; b < w && pos + b < 64 * (nl + 1); b++)
                k[(pos + b) / 64] &= ~(UINT64_C(1) << ((pos + b) % 64));
            int c = pos + w;
            while (c < 64 * (nl + 1)) {
                uint64_t bit = UINT64_C(1) << (c % 64);
                k[c / 64] ^= bit;
                if (k[c / 64] & bit)
                    break; /* was 0, now 1: the carry stops */
                c++;
            }
        }
        pos += w;
    }
}

/* The same for one 64-bit piece, on a 128-bit integer: naf[0 .. 64]. */
static void wnaf64(int8_t naf[GE25519_PIECE_BITS + 1], uint64_t piece, int w)
{
    const int64_t full = INT64_C(1) << w, half = full >> 1;
    unsigned __int128 k = piece;
    int pos = 0;
    memset(naf, 0, GE25519_PIECE_BITS + 1);
    while (k != 0) {
        uint64_t lo = (uint64_t)k;
        int z = lo != 0 ? __builtin_ctzll(lo) : 64; /* k < 2^65: 64 at most */
        k >>= z;
        pos += z;
        int64_t d = (int64_t)((uint64_t)k & (uint64_t)(full - 1));
        if (d >= half)
            d -= full;
        naf[pos] = (int8_t)d;
        /* k - d has its low w bits clear */
        if (d > 0)
            k -= (uint64_t)d;
        else
            k += (uint64_t)(-d);
        k >>= w;
        pos += w;
    }
}

/* ---- the double-scalar multiplications ---------------------------------------- */

/*
 * Straus-Shamir over n "A" terms (cached tables, digits naf_a[i*len ..])
 * and n "B" terms (the fixed table of piece i), len digit positions, one
 * shared chain of doublings.
 */
static void straus(uint8_t out[32], const ge25519_cached *const *tab_a, int sign,
                   const int8_t *naf_a, const int8_t *naf_b, int n, int len)
{
    ge_p1p1 t;
    ge25519_p3 u;
    ge_p2 r;
    int top = len - 1;
    while (top >= 0) {
        int any = 0;
        for (int k = 0; k < n; k++)
            any |= naf_a[k * len + top] | naf_b[k * len + top];
        if (any)
            break;
        top--;
    }
    memset(&r, 0, sizeof r);
    fe25519_one(&r.Y);
    fe25519_one(&r.Z);
    for (int i = top; i >= 0; i--) {
        p2_dbl(&t, &r);
        for (int k = 0; k < n; k++) {
            int d = naf_a[k * len + i] * sign;
            if (d != 0) {
                p1p1_to_p3(&u, &t);
                p3_add_cached(&t, &u, &tab_a[k][(d > 0 ? d : -d) / 2], d < 0);
            }
            d = naf_b[k * len + i];
            if (d != 0) {
                p1p1_to_p3(&u, &t);
                p3_add_niels(&t, &u, &C.base[k][(d > 0 ? d : -d) / 2], d < 0);
            }
        }
        p1p1_to_p2(&r, &t);
    }
    p2_to_bytes(out, &r);
}

static void split_naf(int8_t *naf, const uint8_t sc[32], int w)
{
    for (int k = 0; k < GE25519_SPLIT; k++) {
        wnaf64(naf + k * PIECE_DIGITS, load64(sc + 8 * k), w);
    }
}

void ge25519_table_init(ge25519_table *tab, const ge25519_p3 *A)
{
    ge25519_p3 p = *A, mult[GE25519_A_ENTRIES];
    pthread_once(&consts_once, init_consts);
    for (int k = 0; k < GE25519_SPLIT; k++) {
        if (k > 0)
            dbl_times(&p, GE25519_PIECE_BITS);
        odd_multiples(mult, &p, GE25519_A_ENTRIES);
        for (int i = 0; i < GE25519_A_ENTRIES; i++)
            p3_to_cached(&tab->t[k][i], &mult[i]);
    }
}

void ge25519_verify_split(uint8_t out[32], const ge25519_table *tab, int sign, const uint8_t h[32],
                          const uint8_t s[32])
{
    int8_t naf_a[GE25519_SPLIT * PIECE_DIGITS], naf_b[GE25519_SPLIT * PIECE_DIGITS];
    const ge25519_cached *rows[GE25519_SPLIT];
    pthread_once(&consts_once, init_consts);
    split_naf(naf_a, h, GE25519_A_WINDOW);
    split_naf(naf_b, s, B_WINDOW);
    for (int k = 0; k < GE25519_SPLIT; k++)
        rows[k] = tab->t[k];
    straus(out, rows, sign, naf_a, naf_b, GE25519_SPLIT, PIECE_DIGITS);
}

void ge25519_verify_once(uint8_t out[32], const ge25519_p3 *A, int sign, const uint8_t h[32],
                         const uint8_t s[32])
{
    int8_t naf_a[FULL_DIGITS], naf_b[FULL_DIGITS];
    uint64_t limbs[4];
    ge25519_p3 mult[GE25519_A_ENTRIES];
    ge25519_cached row[GE25519_A_ENTRIES];
    const ge25519_cached *rows[1] = {row};
    pthread_once(&consts_once, init_consts);
    odd_multiples(mult, A, GE25519_A_ENTRIES);
    for (int i = 0; i < GE25519_A_ENTRIES; i++)
        p3_to_cached(&row[i], &mult[i]);
    for (int i = 0; i < 4; i++)
        limbs[i] = load64(h + 8 * i);
    wnaf(naf_a, limbs, 256, GE25519_A_WINDOW);
    for (int i = 0; i < 4; i++)
        limbs[i] = load64(s + 8 * i);
    wnaf(naf_b, limbs, 256, B_WINDOW);
    /* One A term and the first piece of the base table (B itself). */
    straus(out, rows, sign, naf_a, naf_b, 1, FULL_DIGITS);
}

void ge25519_scalarmult_slow(ge25519_p3 *r, const ge25519_p3 *p, const uint8_t n[32])
{
    ge25519_p3 acc;
    ge25519_cached c;
    ge_p1p1 t;
    pthread_once(&consts_once, init_consts);
    p3_identity(&acc);
    p3_to_cached(&c, p);
    for (int i = 255; i >= 0; i--) {
        p3_dbl(&t, &acc);
        p1p1_to_p3(&acc, &t);
        if ((n[i / 8] >> (i % 8)) & 1) {
            p3_add_cached(&t, &acc, &c, 0);
            p1p1_to_p3(&acc, &t);
        }
    }
    *r = acc;
}
