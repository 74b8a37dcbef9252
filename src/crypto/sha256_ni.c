/*
 * SHA-256 block compression for the streaming contexts (stream.c), with
 * the x86 SHA extensions when the CPU has them and OpenSSL's
 * SHA256_Transform otherwise.
 *
 * Why a kernel of our own: a media blob needs three independent SHA-256
 * streams over the same bytes (the plaintext hash, the HMAC over IV and
 * ciphertext, the blob hash; DESIGN.md 3.6). One SHA-256 stream is bound
 * by the latency of SHA256RNDS2, not by its throughput, so compressing
 * blocks of two or three streams in one loop runs them side by side for
 * little more than the cost of one (FIPS 180-4 section 6.2.2 per stream).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/sha256_blocks.h"
#include "crypto/crypto.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/*
 * One stream after the other through OpenSSL. SHA256_Update on a context
 * with no buffered bytes hands whole blocks to OpenSSL's block loop in one
 * call, which runs a stream about 1.6 times as fast here as
 * SHA256_Transform block by block (0.6 against 1.0 ns/byte on the AMD
 * EPYC of bench/RESULTS-media.md); the length counters it keeps are not
 * used, since finalisation is ours (stream.c).
 */
static void blocks_openssl(uint32_t *const st[], const uint8_t *const d[], size_t k, size_t n)
{
    SHA256_CTX c;
    for (size_t s = 0; s < k; s++) {
        memset(&c, 0, sizeof c);
        memcpy(c.h, st[s], 32);
        c.md_len = 32;
        for (size_t done = 0; done < n;) {
            /* SHA256_Update counts bits in 32-bit halves: stay well below */
            size_t step = n - done < ((size_t)1 << 20) ? n - done : (size_t)1 << 20;
            SHA256_Update(&c, d[s] + 64 * done, 64 * step);
            done += step;
        }
        memcpy(st[s], c.h, 32);
    }
    pc_wipe(&c, sizeof c);
}

/* pc_sha256_blocks2_until without the SHA extensions: OpenSSL a few
 * blocks at a time, looking at stop between them. */
static size_t blocks2_until_portable(uint32_t *const st[2], const uint8_t *const d[2], size_t n,
                                     const atomic_uint *stop, unsigned value)
{
    size_t done = 0;
    while (done < n &&
           (stop == NULL || atomic_load_explicit(stop, memory_order_relaxed) != value)) {
        size_t step = n - done < 4 ? n - done : 4;
        const uint8_t *const dd[2] = {d[0] + 64 * done, d[1] + 64 * done};
        blocks_openssl(st, dd, 2, step);
        done += step;
    }
    return done;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

#define NI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define MAX_LANES 3

static int force_portable; /* tests: take the portable paths */

typedef struct {
    __m128i abef, cdgh, abef0, cdgh0;
    __m128i w[4];
} lane;

/* State words a..h to the (ABEF, CDGH) register layout SHA256RNDS2 uses. */
static inline NI_TARGET void lane_load(lane *l, const uint32_t st[8])
{
    __m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)st);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)(st + 4));
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    l->abef = _mm_alignr_epi8(cdab, efgh, 8);
    l->cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
}

static inline NI_TARGET void lane_store(const lane *l, uint32_t st[8])
{
    __m128i feba = _mm_shuffle_epi32(l->abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(l->cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)(void *)st, _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)(void *)(st + 4), _mm_alignr_epi8(dchg, feba, 8));
}

/*
 * Four rounds (group g of 16) of one lane: message schedule with
 * SHA256MSG1/MSG2 on the rotating words w[0..3].
 */
static inline __attribute__((always_inline)) NI_TARGET void lane_rounds(lane *l, int g,
                                                                         const uint8_t *blk)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i *w = l->w;
    if (g < 4)
        w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(blk + 16 * g)),
                                bswap);
    __m128i msg = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)(const void *)
                                                              (K256 + 4 * g)));
    l->cdgh = _mm_sha256rnds2_epu32(l->cdgh, l->abef, msg);
    if (g >= 3 && g <= 14) {
        __m128i t = _mm_alignr_epi8(w[g & 3], w[(g + 3) & 3], 4);
        w[(g + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(w[(g + 1) & 3], t), w[g & 3]);
    }
    msg = _mm_shuffle_epi32(msg, 0x0E);
    l->abef = _mm_sha256rnds2_epu32(l->abef, l->cdgh, msg);
    if (g >= 1 && g <= 12)
        w[(g + 3) & 3] = _mm_sha256msg1_epu32(w[(g + 3) & 3], w[g & 3]);
}

/*
 * Two streams, written out round group by round group with both states
 * and both schedules in registers (sixteen of them), the two lanes'
 * instructions alternating. The general loop below keeps its lanes in an
 * array the compiler spills; for two lanes that costs about a tenth
 * (0.75-0.81 against 0.82-0.88 ns per byte position on the AMD EPYC of
 * bench/RESULTS-media.md), and two lanes are what the decryptor's worker
 * thread runs (src/media/hasher.c).
 */
#define R2_ROUNDS(x, y, wx, wy, g)                                                                 \
    do {                                                                                           \
        const __m128i k_ = _mm_loadu_si128((const __m128i *)(const void *)(K256 + 4 * (g)));       \
        __m128i mx_ = _mm_add_epi32((wx), k_), my_ = _mm_add_epi32((wy), k_);                      \
        x##cdgh = _mm_sha256rnds2_epu32(x##cdgh, x##abef, mx_);                                    \
        y##cdgh = _mm_sha256rnds2_epu32(y##cdgh, y##abef, my_);                                    \
        mx_ = _mm_shuffle_epi32(mx_, 0x0E);                                                        \
        my_ = _mm_shuffle_epi32(my_, 0x0E);                                                        \
        x##abef = _mm_sha256rnds2_epu32(x##abef, x##cdgh, mx_);                                    \
        y##abef = _mm_sha256rnds2_epu32(y##abef, y##cdgh, my_);                                    \
    } while (0)

/* Schedule words 16 + 4 (g - 4) .. of both lanes into w0 (oldest of the
 * four held), then their rounds. */
#define R2_STEP(g, a0, a1, a2, a3, b0, b1, b2, b3)                                                 \
    do {                                                                                           \
        a0 = _mm_sha256msg2_epu32(                                                                 \
            _mm_add_epi32(_mm_sha256msg1_epu32(a0, a1), _mm_alignr_epi8(a3, a2, 4)), a3);          \
        b0 = _mm_sha256msg2_epu32(                                                                 \
            _mm_add_epi32(_mm_sha256msg1_epu32(b0, b1), _mm_alignr_epi8(b3, b2, 4)), b3);          \
        R2_ROUNDS(p_, q_, a0, b0, g);                                                              \
    } while (0)

/* With stop, the loop ends early, at a block boundary, once *stop holds
 * value; it looks every STOP_EVERY blocks (2 KiB, about 1.6 us of work
 * here). Looking every 4 blocks made the decrypting core beside it about
 * 20% slower on the AMD EPYC of bench/RESULTS-media.md (measured, cause
 * not pinned down); every 32 did not. Returns the number of blocks
 * compressed. */
#define STOP_EVERY 32

static NI_TARGET size_t blocks_ni2(uint32_t *const st[], const uint8_t *const d[], size_t n,
                                   const atomic_uint *stop, unsigned value)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    lane lp, lq;
    size_t i;
    lane_load(&lp, st[0]);
    lane_load(&lq, st[1]);
    __m128i p_abef = lp.abef, p_cdgh = lp.cdgh, q_abef = lq.abef, q_cdgh = lq.cdgh;
    for (i = 0; i < n; i++) {
        if (stop != NULL && i % STOP_EVERY == 0 &&
            atomic_load_explicit(stop, memory_order_relaxed) == value)
            break;
        const uint8_t *x = d[0] + 64 * i, *y = d[1] + 64 * i;
        const __m128i pa0 = p_abef, pc0 = p_cdgh, qa0 = q_abef, qc0 = q_cdgh;
#define R2_LOAD(ptr, o)                                                                            \
    _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)((ptr) + (o))), bswap)
        __m128i a = R2_LOAD(x, 0), b = R2_LOAD(x, 16), c = R2_LOAD(x, 32), e = R2_LOAD(x, 48);
        __m128i f = R2_LOAD(y, 0), g = R2_LOAD(y, 16), h = R2_LOAD(y, 32), j = R2_LOAD(y, 48);
#undef R2_LOAD
        R2_ROUNDS(p_, q_, a, f, 0);
        R2_ROUNDS(p_, q_, b, g, 1);
        R2_ROUNDS(p_, q_, c, h, 2);
        R2_ROUNDS(p_, q_, e, j, 3);
        R2_STEP(4, a, b, c, e, f, g, h, j);
        R2_STEP(5, b, c, e, a, g, h, j, f);
        R2_STEP(6, c, e, a, b, h, j, f, g);
        R2_STEP(7, e, a, b, c, j, f, g, h);
        R2_STEP(8, a, b, c, e, f, g, h, j);
        R2_STEP(9, b, c, e, a, g, h, j, f);
        R2_STEP(10, c, e, a, b, h, j, f, g);
        R2_STEP(11, e, a, b, c, j, f, g, h);
        R2_STEP(12, a, b, c, e, f, g, h, j);
        R2_STEP(13, b, c, e, a, g, h, j, f);
        R2_STEP(14, c, e, a, b, h, j, f, g);
        R2_STEP(15, e, a, b, c, j, f, g, h);
        p_abef = _mm_add_epi32(p_abef, pa0);
        p_cdgh = _mm_add_epi32(p_cdgh, pc0);
        q_abef = _mm_add_epi32(q_abef, qa0);
        q_cdgh = _mm_add_epi32(q_cdgh, qc0);
    }
    lp.abef = p_abef;
    lp.cdgh = p_cdgh;
    lq.abef = q_abef;
    lq.cdgh = q_cdgh;
    lane_store(&lp, st[0]);
    lane_store(&lq, st[1]);
    return i;
}

/* n blocks of each of k (<= MAX_LANES) streams, side by side. */
static NI_TARGET void blocks_ni(uint32_t *const st[], const uint8_t *const d[], size_t k,
                                size_t n)
{
    lane l[MAX_LANES];
    for (size_t s = 0; s < k; s++)
        lane_load(&l[s], st[s]);
    for (size_t b = 0; b < n; b++) {
        for (size_t s = 0; s < k; s++) {
            l[s].abef0 = l[s].abef;
            l[s].cdgh0 = l[s].cdgh;
        }
        if (k == 3) {
            const uint8_t *b0 = d[0] + 64 * b, *b1 = d[1] + 64 * b, *b2 = d[2] + 64 * b;
#pragma GCC unroll 16
            for (int g = 0; g < 16; g++) {
                lane_rounds(&l[0], g, b0);
                lane_rounds(&l[1], g, b1);
                lane_rounds(&l[2], g, b2);
            }
        } else if (k == 2) {
            const uint8_t *b0 = d[0] + 64 * b, *b1 = d[1] + 64 * b;
#pragma GCC unroll 16
            for (int g = 0; g < 16; g++) {
                lane_rounds(&l[0], g, b0);
                lane_rounds(&l[1], g, b1);
            }
        } else {
            const uint8_t *b0 = d[0] + 64 * b;
#pragma GCC unroll 16
            for (int g = 0; g < 16; g++)
                lane_rounds(&l[0], g, b0);
        }
        for (size_t s = 0; s < k; s++) {
            l[s].abef = _mm_add_epi32(l[s].abef, l[s].abef0);
            l[s].cdgh = _mm_add_epi32(l[s].cdgh, l[s].cdgh0);
        }
    }
    for (size_t s = 0; s < k; s++)
        lane_store(&l[s], st[s]);
}

/* ---- AES-256 (FIPS 197) with AES-NI, and CBC interleaved with SHA-256 ---------- */

#define AES_TARGET __attribute__((target("aes,sha,sse4.1,ssse3")))

static inline AES_TARGET __m128i expand_a(__m128i k, __m128i t)
{
    t = _mm_shuffle_epi32(t, 0xff);
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, t);
}

static inline AES_TARGET __m128i expand_b(__m128i k, __m128i t)
{
    t = _mm_shuffle_epi32(t, 0xaa);
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, t);
}

/* The AES-256 key schedule (FIPS 197 section 5.2): 15 round keys. */
AES_TARGET void pc_aes256_expand(uint8_t rk_out[240], const uint8_t key[32])
{
    __m128i rk[15];
    rk[0] = _mm_loadu_si128((const __m128i *)(const void *)key);
    rk[1] = _mm_loadu_si128((const __m128i *)(const void *)(key + 16));
    rk[2] = expand_a(rk[0], _mm_aeskeygenassist_si128(rk[1], 0x01));
    rk[3] = expand_b(rk[1], _mm_aeskeygenassist_si128(rk[2], 0x00));
    rk[4] = expand_a(rk[2], _mm_aeskeygenassist_si128(rk[3], 0x02));
    rk[5] = expand_b(rk[3], _mm_aeskeygenassist_si128(rk[4], 0x00));
    rk[6] = expand_a(rk[4], _mm_aeskeygenassist_si128(rk[5], 0x04));
    rk[7] = expand_b(rk[5], _mm_aeskeygenassist_si128(rk[6], 0x00));
    rk[8] = expand_a(rk[6], _mm_aeskeygenassist_si128(rk[7], 0x08));
    rk[9] = expand_b(rk[7], _mm_aeskeygenassist_si128(rk[8], 0x00));
    rk[10] = expand_a(rk[8], _mm_aeskeygenassist_si128(rk[9], 0x10));
    rk[11] = expand_b(rk[9], _mm_aeskeygenassist_si128(rk[10], 0x00));
    rk[12] = expand_a(rk[10], _mm_aeskeygenassist_si128(rk[11], 0x20));
    rk[13] = expand_b(rk[11], _mm_aeskeygenassist_si128(rk[12], 0x00));
    rk[14] = expand_a(rk[12], _mm_aeskeygenassist_si128(rk[13], 0x40));
    for (int i = 0; i < 15; i++)
        _mm_storeu_si128((__m128i *)(void *)(rk_out + 16 * i), rk[i]);
    /* the schedule lives on in rk_out only; wipe the registers' copies */
    for (int i = 0; i < 15; i++)
        rk[i] = _mm_setzero_si128();
    __asm__ __volatile__("" : : "r"(rk) : "memory");
}

static inline __attribute__((always_inline)) AES_TARGET __m128i
aes_block(const __m128i rk[15], __m128i b)
{
    b = _mm_xor_si128(b, rk[0]);
    for (int r = 1; r < 14; r++)
        b = _mm_aesenc_si128(b, rk[r]);
    return _mm_aesenclast_si128(b, rk[14]);
}

static inline AES_TARGET void load_rk(__m128i rk[15], const uint8_t rk_in[240])
{
    for (int i = 0; i < 15; i++)
        rk[i] = _mm_loadu_si128((const __m128i *)(const void *)(rk_in + 16 * i));
}

/* CBC encryption (SP 800-38A 6.2) of whole blocks; chain is the IV in and
 * the last ciphertext block out. */
AES_TARGET void pc_aes256_cbc_enc_blocks(const uint8_t rk_in[240], uint8_t chain[16],
                                         const uint8_t *in, uint8_t *out, size_t nblocks)
{
    __m128i rk[15];
    load_rk(rk, rk_in);
    __m128i cv = _mm_loadu_si128((const __m128i *)(const void *)chain);
    for (size_t i = 0; i < nblocks; i++) {
        __m128i p = _mm_loadu_si128((const __m128i *)(const void *)(in + 16 * i));
        cv = aes_block(rk, _mm_xor_si128(cv, p));
        _mm_storeu_si128((__m128i *)(void *)(out + 16 * i), cv);
    }
    _mm_storeu_si128((__m128i *)(void *)chain, cv);
}

/*
 * CBC-encrypt 64-byte steps [first, m) of pt into ct and, alongside step
 * i, compress block i - 2 of each of three SHA-256 lanes (block j of lane
 * s at d[s] + 64 j; first >= 2). The CBC chain is serial in the AES unit
 * and each lane is serial in the SHA unit: placed side by side in one
 * loop, the core runs them at once. One AES block every four groups of
 * SHA rounds keeps both in the reorder window.
 */
AES_TARGET void pc_aes256_cbc_sha3(const uint8_t rk_in[240], uint8_t chain[16],
                                   const uint8_t *pt, uint8_t *ct, size_t first, size_t m,
                                   uint32_t *const st[3], const uint8_t *const d[3])
{
    __m128i rk[15];
    lane l[3];
    load_rk(rk, rk_in);
    __m128i cv = _mm_loadu_si128((const __m128i *)(const void *)chain);
    for (size_t s = 0; s < 3; s++)
        lane_load(&l[s], st[s]);
    for (size_t i = first; i < m; i++) {
        const uint8_t *p = pt + 64 * i;
        uint8_t *c = ct + 64 * i;
        const uint8_t *b0 = d[0] + 64 * (i - 2), *b1 = d[1] + 64 * (i - 2),
                      *b2 = d[2] + 64 * (i - 2);
        for (size_t s = 0; s < 3; s++) {
            l[s].abef0 = l[s].abef;
            l[s].cdgh0 = l[s].cdgh;
        }
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            if ((g & 3) == 0) {
                __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 4 * g));
                cv = aes_block(rk, _mm_xor_si128(cv, x));
                _mm_storeu_si128((__m128i *)(void *)(c + 4 * g), cv);
            }
            lane_rounds(&l[0], g, b0);
            lane_rounds(&l[1], g, b1);
            lane_rounds(&l[2], g, b2);
        }
        for (size_t s = 0; s < 3; s++) {
            l[s].abef = _mm_add_epi32(l[s].abef, l[s].abef0);
            l[s].cdgh = _mm_add_epi32(l[s].cdgh, l[s].cdgh0);
        }
    }
    _mm_storeu_si128((__m128i *)(void *)chain, cv);
    for (size_t s = 0; s < 3; s++)
        lane_store(&l[s], st[s]);
}

static int have_ni(void)
{
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        unsigned a, b, c, d;
        int sse41 = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3);
        int sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        v = sse41 && sha;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

void pc_sha256_blocks(uint32_t *const st[], const uint8_t *const d[], size_t k, size_t n)
{
    if (k == 2 && have_ni() && !force_portable)
        (void)blocks_ni2(st, d, n, NULL, 0);
    else if (k >= 2 && k <= MAX_LANES && have_ni() && !force_portable)
        blocks_ni(st, d, k, n);
    else
        blocks_openssl(st, d, k, n);
}

size_t pc_sha256_blocks2_until(uint32_t *const st[2], const uint8_t *const d[2], size_t n,
                               const atomic_uint *stop, unsigned value)
{
    if (have_ni() && !force_portable)
        return blocks_ni2(st, d, n, stop, value);
    return blocks2_until_portable(st, d, n, stop, value);
}

int pc_sha256_blocks_accelerated(void)
{
    return have_ni();
}

void pc_crypto_stream_portable(int on)
{
    force_portable = on;
}

int pc_aes_sha_available(void)
{
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        unsigned a, b, c, d;
        v = have_ni() && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_AES);
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v && !force_portable;
}

#else

void pc_sha256_blocks(uint32_t *const st[], const uint8_t *const d[], size_t k, size_t n)
{
    blocks_openssl(st, d, k, n);
}

size_t pc_sha256_blocks2_until(uint32_t *const st[2], const uint8_t *const d[2], size_t n,
                               const atomic_uint *stop, unsigned value)
{
    return blocks2_until_portable(st, d, n, stop, value);
}

int pc_sha256_blocks_accelerated(void)
{
    return 0;
}

void pc_crypto_stream_portable(int on)
{
    (void)on;
}

int pc_aes_sha_available(void)
{
    return 0;
}

/* never called without the extensions */
void pc_aes256_expand(uint8_t rk_out[240], const uint8_t key[32])
{
    (void)rk_out;
    (void)key;
    abort();
}

void pc_aes256_cbc_enc_blocks(const uint8_t rk_in[240], uint8_t chain[16], const uint8_t *in,
                              uint8_t *out, size_t nblocks)
{
    (void)rk_in, (void)chain, (void)in, (void)out, (void)nblocks;
    abort();
}

void pc_aes256_cbc_sha3(const uint8_t rk_in[240], uint8_t chain[16], const uint8_t *pt,
                        uint8_t *ct, size_t first, size_t m, uint32_t *const st[3],
                        const uint8_t *const d[3])
{
    (void)rk_in, (void)chain, (void)pt, (void)ct, (void)first, (void)m, (void)st, (void)d;
    abort();
}

#endif

void pc_sha256_blocks_portable(uint32_t *const st[], const uint8_t *const d[], size_t k,
                               size_t n)
{
    blocks_openssl(st, d, k, n);
}
