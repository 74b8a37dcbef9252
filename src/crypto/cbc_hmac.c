/*
 * AES-256-CBC (PKCS#7) and HMAC-SHA256 over head || ciphertext in one pass,
 * the shape of a Signal message (encrypt-then-MAC, the MAC covering the
 * identities and header before the ciphertext).
 *
 * Why a pass of its own: CBC encryption is serial, each block waiting for
 * the AES rounds of the one before (FIPS 197 rounds, SP 800-38A CBC), and
 * SHA-256 is serial per 64-byte block (FIPS 180-4 section 6.2). With the
 * AES and SHA instructions of x86-64 the two chains run side by side,
 * so computing them interleaved, 64 bytes of each at a time, overlaps their
 * latencies; done one after the other through OpenSSL, a 4 KiB message
 * costs the sum. Decryption interleaves the same way. Without those
 * instructions (or under a tool that hides them) the functions fall back
 * to OpenSSL through the rest of this facade, with the same results.
 *
 * The short HMACs of a ratchet chain step and its message-key HKDF live
 * here too, for the same reason: written as whole blocks on registers,
 * the independent compressions overlap and no generic hashing layer is
 * crossed per 64 bytes.
 */
#include "crypto/crypto_internal.h"
#include "crypto/sha256_blocks.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_PATH 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define HAVE_X86_PATH 0
#endif

#define BLOCK 64

static int fallback_seal(uint8_t *ct, size_t ct_max, size_t *ct_len, const uint8_t key[32],
                         const uint8_t iv[16], const uint8_t mac_key[32], const uint8_t *head,
                         size_t head_len, const uint8_t *pt, size_t n, uint8_t mac[32])
{
    int rc;
    pc_hmac_key k;
    pc_wipe(&k, sizeof k);
    GUARD(pc_aes256_cbc_encrypt(ct, ct_max, ct_len, key, iv, pt, n));
    const pc_part parts[2] = {{head, head_len}, {ct, *ct_len}};
    GUARD(pc_hmac_key_init(&k, mac_key, 32));
    GUARD(pc_hmac_keyed(mac, &k, parts, 2));
    rc = PARLEY_OK;
out:
    pc_hmac_key_wipe(&k);
    return rc;
}

static int fallback_open(uint8_t *pt, size_t pt_max, size_t *pt_len, const uint8_t key[32],
                         const uint8_t iv[16], const uint8_t mac_key[32], const uint8_t *head,
                         size_t head_len, const uint8_t *ct, size_t n, uint8_t mac[32])
{
    int rc;
    pc_hmac_key k;
    const pc_part parts[2] = {{head, head_len}, {ct, n}};
    pc_wipe(&k, sizeof k);
    GUARD(pc_hmac_key_init(&k, mac_key, 32));
    GUARD(pc_hmac_keyed(mac, &k, parts, 2));
    rc = pc_aes256_cbc_decrypt(pt, pt_max, pt_len, key, iv, ct, n);
    if (rc != PARLEY_OK)
        pc_wipe(pt, n);
out:
    pc_hmac_key_wipe(&k);
    return rc;
}

/* Without the SHA extensions: the zero salt's key state absorbed once per
 * process, then RFC 5869 through the keyed HMAC. */
static pc_hmac_key fb_zero_salt;
static int fb_zero_rc = PARLEY_ERR_CRYPTO;
static pthread_once_t fb_zero_once = PTHREAD_ONCE_INIT;

static void fb_zero_init(void)
{
    static const uint8_t zeros[32];
    fb_zero_rc = pc_hmac_key_init(&fb_zero_salt, zeros, sizeof zeros);
}

static int fallback_hkdf_short(uint8_t *out, size_t out_len, const uint8_t ikm[32],
                               const uint8_t *info, size_t info_len)
{
    int rc;
    uint8_t prk[32], t[32];
    size_t done = 0;
    pc_hmac_key k;
    const pc_part ikm_part = {ikm, 32};
    pc_wipe(&k, sizeof k);
    pthread_once(&fb_zero_once, fb_zero_init);
    GUARD(fb_zero_rc);
    GUARD(pc_hmac_keyed(prk, &fb_zero_salt, &ikm_part, 1));
    GUARD(pc_hmac_key_init(&k, prk, sizeof prk));
    for (uint8_t i = 1; done < out_len; i++) {
        const pc_part parts[3] = {{t, i > 1 ? 32u : 0u}, {info, info_len}, {&i, 1}};
        GUARD(pc_hmac_keyed(t, &k, parts, 3));
        size_t take = out_len - done < 32 ? out_len - done : 32;
        memcpy(out + done, t, take);
        done += take;
    }
    rc = PARLEY_OK;
out:
    pc_wipe(prk, sizeof prk);
    pc_wipe(t, sizeof t);
    pc_hmac_key_wipe(&k);
    return rc;
}

#if HAVE_X86_PATH

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

static const uint32_t H256[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

/* SHA-256 chaining state in the register layout of the SHA extensions:
 * s0 = (A, B, E, F), s1 = (C, D, G, H). */
typedef struct {
    __m128i s0, s1;
} sha_state;

#define X86_TARGET __attribute__((target("sse4.1,ssse3,sha,aes")))
/* Inlined into the loops, so the hash state stays in registers from one
 * block to the next instead of round-tripping through memory. */
#define X86_INLINE X86_TARGET __attribute__((always_inline)) inline

X86_TARGET static sha_state sha_from_words(const uint32_t h[8])
{
    sha_state s;
    __m128i t = _mm_loadu_si128((const __m128i *)(const void *)&h[0]); /* D C B A */
    __m128i u = _mm_loadu_si128((const __m128i *)(const void *)&h[4]); /* H G F E */
    t = _mm_shuffle_epi32(t, 0xB1);                                     /* C D A B */
    u = _mm_shuffle_epi32(u, 0x1B);                                     /* E F G H */
    s.s0 = _mm_alignr_epi8(t, u, 8);                                    /* A B E F */
    s.s1 = _mm_blend_epi16(u, t, 0xF0);                                 /* C D G H */
    return s;
}

X86_TARGET static void sha_to_bytes(uint8_t out[32], sha_state s)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_shuffle_epi32(s.s0, 0x1B);     /* F E B A */
    __m128i u = _mm_shuffle_epi32(s.s1, 0xB1);     /* D C H G */
    __m128i abcd = _mm_blend_epi16(t, u, 0xF0);    /* D C B A */
    __m128i efgh = _mm_alignr_epi8(u, t, 8);       /* H G F E */
    _mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(abcd, bswap));
    _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_shuffle_epi8(efgh, bswap));
}

/* Four rounds on the schedule words w (FIPS 180-4 section 6.2.2, step 3). */
#define ROUNDS4(w, i)                                                                              \
    do {                                                                                           \
        __m128i msg_ = _mm_add_epi32(                                                              \
            (w), _mm_loadu_si128((const __m128i *)(const void *)&K256[4 * (i)]));                  \
        s.s1 = _mm_sha256rnds2_epu32(s.s1, s.s0, msg_);                                            \
        msg_ = _mm_shuffle_epi32(msg_, 0x0E);                                                      \
        s.s0 = _mm_sha256rnds2_epu32(s.s0, s.s1, msg_);                                            \
    } while (0)

/* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16] for four t at once:
 * w0..w3 hold the last sixteen words, oldest first; w0 becomes the next
 * four. */
#define SCHEDULE4(w0, w1, w2, w3)                                                                  \
    (w0) = _mm_sha256msg2_epu32(                                                                   \
        _mm_add_epi32(_mm_sha256msg1_epu32((w0), (w1)), _mm_alignr_epi8((w3), (w2), 4)), (w3))

#define STEP(i, w0, w1, w2, w3)                                                                    \
    do {                                                                                           \
        SCHEDULE4(w0, w1, w2, w3);                                                                 \
        ROUNDS4(w0, i);                                                                            \
    } while (0)

/* One 64-byte block, unrolled so that the schedule words stay in
 * registers and overlap the rounds. */
X86_INLINE static sha_state sha_block(sha_state s, const uint8_t *p)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const sha_state save = s;
    __m128i a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), bswap);
    __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), bswap);
    __m128i c = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), bswap);
    __m128i d = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), bswap);
    ROUNDS4(a, 0);
    ROUNDS4(b, 1);
    ROUNDS4(c, 2);
    ROUNDS4(d, 3);
    STEP(4, a, b, c, d);
    STEP(5, b, c, d, a);
    STEP(6, c, d, a, b);
    STEP(7, d, a, b, c);
    STEP(8, a, b, c, d);
    STEP(9, b, c, d, a);
    STEP(10, c, d, a, b);
    STEP(11, d, a, b, c);
    STEP(12, a, b, c, d);
    STEP(13, b, c, d, a);
    STEP(14, c, d, a, b);
    STEP(15, d, a, b, c);
    s.s0 = _mm_add_epi32(s.s0, save.s0);
    s.s1 = _mm_add_epi32(s.s1, save.s1);
    return s;
}

/* The last block(s): the n < 64 bytes left in buf (128 bytes of room),
 * 0x80, zeros and the message length in bits (section 5.1.1). */
X86_TARGET static sha_state sha_final(sha_state s, uint8_t buf[2 * BLOCK], size_t n,
                                      uint64_t total)
{
    uint64_t bits = total * 8;
    size_t end = n < BLOCK - 8 ? BLOCK : 2 * BLOCK;
    buf[n] = 0x80;
    memset(buf + n + 1, 0, end - 8 - n - 1);
    for (int i = 0; i < 8; i++)
        buf[end - 1 - (size_t)i] = (uint8_t)(bits >> (8 * i));
    s = sha_block(s, buf);
    if (end == 2 * BLOCK)
        s = sha_block(s, buf + BLOCK);
    return s;
}

/* HMAC key states (RFC 2104): after K ^ ipad and after K ^ opad. */
X86_TARGET static void hmac_states(sha_state *in, sha_state *outer, const uint8_t key[32])
{
    uint8_t pad[BLOCK];
    sha_state iv = sha_from_words(H256);
    memset(pad, 0x36, sizeof pad);
    for (size_t i = 0; i < 32; i++)
        pad[i] ^= key[i];
    *in = sha_block(iv, pad);
    memset(pad, 0x5c, sizeof pad);
    for (size_t i = 0; i < 32; i++)
        pad[i] ^= key[i];
    *outer = sha_block(iv, pad);
    pc_wipe(pad, sizeof pad);
}

X86_TARGET static void hmac_finish(uint8_t mac[32], sha_state inner, const sha_state *outer,
                                   uint8_t buf[2 * BLOCK], size_t n, uint64_t total)
{
    uint8_t digest[32];
    inner = sha_final(inner, buf, n, total);
    sha_to_bytes(digest, inner);
    memcpy(buf, digest, 32);
    sha_state o = sha_final(*outer, buf, 32, BLOCK + 32);
    sha_to_bytes(mac, o);
    pc_wipe(digest, sizeof digest);
}

/* AES-256 key schedule (FIPS 197 section 5.2) with AESKEYGENASSIST. */
X86_TARGET static __m128i expand_a(__m128i k, __m128i assist)
{
    /* (w0, w0^w1, w0^w1^w2, w0^w1^w2^w3) ^ assist */
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 8));
    return _mm_xor_si128(k, assist);
}

#define EXPAND_PAIR(i, rcon)                                                                       \
    do {                                                                                           \
        rk[i] = expand_a(rk[(i) - 2],                                                              \
                         _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], rcon), 0xFF));   \
        if ((i) + 1 < 15)                                                                          \
            rk[(i) + 1] = expand_a(                                                                \
                rk[(i) - 1], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i], 0), 0xAA));       \
    } while (0)

X86_TARGET static void aes256_schedule(__m128i rk[15], const uint8_t key[32])
{
    rk[0] = _mm_loadu_si128((const __m128i *)(const void *)key);
    rk[1] = _mm_loadu_si128((const __m128i *)(const void *)(key + 16));
    EXPAND_PAIR(2, 0x01);
    EXPAND_PAIR(4, 0x02);
    EXPAND_PAIR(6, 0x04);
    EXPAND_PAIR(8, 0x08);
    EXPAND_PAIR(10, 0x10);
    EXPAND_PAIR(12, 0x20);
    EXPAND_PAIR(14, 0x40);
}

X86_INLINE static __m128i aes_enc(const __m128i rk[15], __m128i x)
{
    x = _mm_xor_si128(x, rk[0]);
    for (int r = 1; r < 14; r++)
        x = _mm_aesenc_si128(x, rk[r]);
    return _mm_aesenclast_si128(x, rk[14]);
}

/*
 * Four CBC encryptions interleaved with the sixteen round groups of one
 * hash block, a cipher block between every four groups: written this way
 * the two dependency chains are close enough in the instruction stream for
 * the processor to run them side by side (with AES-NI and SHA-NI on
 * separate chains, measured here: CBC-encrypting and hashing 4 KiB costs
 * what the encryption alone costs). hp must not overlap the 64 bytes
 * written to ct.
 */
#define ENC1(j)                                                                                    \
    do {                                                                                           \
        *x = aes_enc(rk, _mm_xor_si128(                                                            \
                             *x, _mm_loadu_si128((const __m128i *)(const void *)(pt + 16 * (j))))); \
        _mm_storeu_si128((__m128i *)(void *)(ct + 16 * (j)), *x);                                  \
    } while (0)

X86_INLINE static sha_state enc4_hash1(const __m128i rk[15], __m128i *x, const uint8_t *pt,
                                       uint8_t *ct, sha_state s, const uint8_t *hp)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const sha_state save = s;
    __m128i a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)hp), bswap);
    __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 16)), bswap);
    __m128i c = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 32)), bswap);
    __m128i d = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 48)), bswap);
    ENC1(0);
    ROUNDS4(a, 0);
    ROUNDS4(b, 1);
    ROUNDS4(c, 2);
    ROUNDS4(d, 3);
    ENC1(1);
    STEP(4, a, b, c, d);
    STEP(5, b, c, d, a);
    STEP(6, c, d, a, b);
    STEP(7, d, a, b, c);
    ENC1(2);
    STEP(8, a, b, c, d);
    STEP(9, b, c, d, a);
    STEP(10, c, d, a, b);
    STEP(11, d, a, b, c);
    ENC1(3);
    STEP(12, a, b, c, d);
    STEP(13, b, c, d, a);
    STEP(14, c, d, a, b);
    STEP(15, d, a, b, c);
    s.s0 = _mm_add_epi32(s.s0, save.s0);
    s.s1 = _mm_add_epi32(s.s1, save.s1);
    return s;
}

/* Equivalent inverse cipher (FIPS 197 section 5.3.5). */
X86_TARGET static void aes256_dec_schedule(__m128i dk[15], const __m128i rk[15])
{
    dk[0] = rk[14];
    for (int r = 1; r < 14; r++)
        dk[r] = _mm_aesimc_si128(rk[14 - r]);
    dk[14] = rk[0];
}

/* Four independent blocks at once: CBC decryption has no chain. */
X86_INLINE static void aes_dec4(const __m128i dk[15], __m128i x[4])
{
    for (int j = 0; j < 4; j++)
        x[j] = _mm_xor_si128(x[j], dk[0]);
    for (int r = 1; r < 14; r++)
        for (int j = 0; j < 4; j++)
            x[j] = _mm_aesdec_si128(x[j], dk[r]);
    for (int j = 0; j < 4; j++)
        x[j] = _mm_aesdeclast_si128(x[j], dk[14]);
}

X86_INLINE static __m128i aes_dec1(const __m128i dk[15], __m128i x)
{
    x = _mm_xor_si128(x, dk[0]);
    for (int r = 1; r < 14; r++)
        x = _mm_aesdec_si128(x, dk[r]);
    return _mm_aesdeclast_si128(x, dk[14]);
}

/* Rounds r0 .. r1 - 1 of the inverse cipher on four blocks. */
#define DEC4(r0, r1)                                                                               \
    do {                                                                                           \
        for (int r_ = (r0); r_ < (r1); r_++)                                                       \
            for (int j_ = 0; j_ < 4; j_++)                                                         \
                v[j_] = _mm_aesdec_si128(v[j_], dk[r_]);                                           \
    } while (0)

/* Four CBC decryptions (independent, so they pipeline) spread over the
 * round groups of one hash block, as enc4_hash1 does for encryption. */
X86_INLINE static sha_state dec4_hash1(const __m128i dk[15], __m128i *prev, const uint8_t *ct,
                                       uint8_t *pt, sha_state s, const uint8_t *hp)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const sha_state save = s;
    __m128i v[4], in[4];
    for (int j = 0; j < 4; j++) {
        in[j] = _mm_loadu_si128((const __m128i *)(const void *)(ct + 16 * j));
        v[j] = _mm_xor_si128(in[j], dk[0]);
    }
    __m128i a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)hp), bswap);
    __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 16)), bswap);
    __m128i c = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 32)), bswap);
    __m128i d = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 48)), bswap);
    /* One round of the four blocks per round group of the hash. */
    ROUNDS4(a, 0);
    DEC4(1, 2);
    ROUNDS4(b, 1);
    DEC4(2, 3);
    ROUNDS4(c, 2);
    DEC4(3, 4);
    ROUNDS4(d, 3);
    DEC4(4, 5);
    STEP(4, a, b, c, d);
    DEC4(5, 6);
    STEP(5, b, c, d, a);
    DEC4(6, 7);
    STEP(6, c, d, a, b);
    DEC4(7, 8);
    STEP(7, d, a, b, c);
    DEC4(8, 9);
    STEP(8, a, b, c, d);
    DEC4(9, 10);
    STEP(9, b, c, d, a);
    DEC4(10, 11);
    STEP(10, c, d, a, b);
    DEC4(11, 12);
    STEP(11, d, a, b, c);
    DEC4(12, 13);
    STEP(12, a, b, c, d);
    DEC4(13, 14);
    STEP(13, b, c, d, a);
    for (int j = 0; j < 4; j++)
        v[j] = _mm_aesdeclast_si128(v[j], dk[14]);
    STEP(14, c, d, a, b);
    STEP(15, d, a, b, c);
    _mm_storeu_si128((__m128i *)(void *)pt, _mm_xor_si128(v[0], *prev));
    for (int j = 1; j < 4; j++)
        _mm_storeu_si128((__m128i *)(void *)(pt + 16 * j), _mm_xor_si128(v[j], in[j - 1]));
    *prev = in[3];
    s.s0 = _mm_add_epi32(s.s0, save.s0);
    s.s1 = _mm_add_epi32(s.s1, save.s1);
    return s;
}

/*
 * The MAC input is head || ct. The stream position of ct[0] is head_len,
 * which is not block-aligned, so the block straddling the two is built in
 * buf; every later block is read from ct where it lies.
 */
typedef struct {
    sha_state s;
    const uint8_t *head, *ct;
    size_t head_len;
    size_t done; /* stream bytes compressed */
    uint8_t buf[2 * BLOCK];
} mac_stream;

/* The next 64 stream bytes: in place in ct, or gathered into buf where
 * the block straddles head and ct. */
static inline const uint8_t *stream_next(mac_stream *m)
{
    size_t pos = m->done;
    if (pos >= m->head_len)
        return m->ct + (pos - m->head_len);
    size_t from_head = m->head_len - pos < BLOCK ? m->head_len - pos : BLOCK;
    memcpy(m->buf, m->head + pos, from_head);
    memcpy(m->buf + from_head, m->ct, BLOCK - from_head);
    return m->buf;
}

X86_TARGET static void stream_block(mac_stream *m)
{
    m->s = sha_block(m->s, stream_next(m));
    m->done += BLOCK;
}

/* Finish the inner hash over a stream of total bytes (after ipad). */
X86_TARGET static void stream_finish(mac_stream *m, uint8_t mac[32], const sha_state *outer,
                                     size_t total)
{
    while (m->done + BLOCK <= total)
        stream_block(m);
    size_t left = total - m->done, pos = m->done, k = 0;
    if (pos < m->head_len) {
        k = m->head_len - pos;
        memcpy(m->buf, m->head + pos, k);
        pos += k;
    }
    memcpy(m->buf + k, m->ct + (pos - m->head_len), left - k);
    hmac_finish(mac, m->s, outer, m->buf, left, BLOCK + total);
}

X86_TARGET static void x86_seal(uint8_t *ct, const uint8_t key[32], const uint8_t iv[16],
                                const uint8_t mac_key[32], const uint8_t *head, size_t head_len,
                                const uint8_t *pt, size_t n, size_t ct_len, uint8_t mac[32])
{
    __m128i rk[15];
    mac_stream m;
    sha_state outer;
    uint8_t last[16];
    size_t full = n / 16, total = head_len + ct_len;
    aes256_schedule(rk, key);
    hmac_states(&m.s, &outer, mac_key);
    m.head = head;
    m.ct = ct;
    m.head_len = head_len;
    m.done = 0;
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)iv);
    sha_state hs = m.s;
    size_t i = 0;
    for (; i + 4 <= full; i += 4) {
        /* Hash a block already complete (head, or ciphertext written by
         * earlier groups) while these four are encrypted. */
        if (m.done + BLOCK <= head_len + 16 * i) {
            hs = enc4_hash1(rk, &x, pt + 16 * i, ct + 16 * i, hs, stream_next(&m));
            m.done += BLOCK;
        } else {
            for (size_t j = i; j < i + 4; j++) {
                x = aes_enc(rk, _mm_xor_si128(
                                    x, _mm_loadu_si128((const __m128i *)(const void *)(pt + 16 * j))));
                _mm_storeu_si128((__m128i *)(void *)(ct + 16 * j), x);
            }
        }
    }
    m.s = hs;
    for (; i < full; i++) {
        x = aes_enc(rk, _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(const void *)(pt + 16 * i))));
        _mm_storeu_si128((__m128i *)(void *)(ct + 16 * i), x);
    }
    /* PKCS#7: 1 to 16 bytes of value 16 - n % 16. */
    size_t rem = n % 16;
    memcpy(last, pt + 16 * full, rem);
    memset(last + rem, (int)(16 - rem), 16 - rem);
    x = aes_enc(rk, _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(const void *)last)));
    _mm_storeu_si128((__m128i *)(void *)(ct + 16 * full), x);
    stream_finish(&m, mac, &outer, total);
    pc_wipe(last, sizeof last);
    pc_wipe(rk, sizeof rk);
    pc_wipe(&m, sizeof m);
    pc_wipe(&outer, sizeof outer);
}

/* Returns 0, or -1 for bad padding (pt then wiped). n is a non-zero
 * multiple of 16. */
X86_TARGET static int x86_open(uint8_t *pt, size_t *pt_len, const uint8_t key[32],
                               const uint8_t iv[16], const uint8_t mac_key[32], const uint8_t *head,
                               size_t head_len, const uint8_t *ct, size_t n, uint8_t mac[32])
{
    __m128i rk[15], dk[15], x[4];
    mac_stream m;
    sha_state outer;
    size_t blocks = n / 16, i = 0, total = head_len + n;
    aes256_schedule(rk, key);
    aes256_dec_schedule(dk, rk);
    hmac_states(&m.s, &outer, mac_key);
    m.head = head;
    m.ct = ct;
    m.head_len = head_len;
    m.done = 0;
    __m128i prev = _mm_loadu_si128((const __m128i *)(const void *)iv);
    sha_state hs = m.s;
    for (; i + 4 <= blocks; i += 4) {
        if (m.done + BLOCK <= total) {
            hs = dec4_hash1(dk, &prev, ct + 16 * i, pt + 16 * i, hs, stream_next(&m));
            m.done += BLOCK;
            continue;
        }
        for (int j = 0; j < 4; j++)
            x[j] = _mm_loadu_si128((const __m128i *)(const void *)(ct + 16 * (i + (size_t)j)));
        __m128i c3 = x[3];
        aes_dec4(dk, x);
        x[0] = _mm_xor_si128(x[0], prev);
        for (int j = 1; j < 4; j++)
            x[j] = _mm_xor_si128(
                x[j], _mm_loadu_si128((const __m128i *)(const void *)(ct + 16 * (i + (size_t)j - 1))));
        for (int j = 0; j < 4; j++)
            _mm_storeu_si128((__m128i *)(void *)(pt + 16 * (i + (size_t)j)), x[j]);
        prev = c3;
    }
    m.s = hs;
    for (; i < blocks; i++) {
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(ct + 16 * i));
        _mm_storeu_si128((__m128i *)(void *)(pt + 16 * i), _mm_xor_si128(aes_dec1(dk, c), prev));
        prev = c;
    }
    stream_finish(&m, mac, &outer, total);
    pc_wipe(rk, sizeof rk);
    pc_wipe(dk, sizeof dk);
    pc_wipe(&m, sizeof m);
    pc_wipe(&outer, sizeof outer);
    pc_wipe(x, sizeof x);

    /* PKCS#7 check, as OpenSSL's: pad value 1..16, every pad byte equal. */
    uint8_t pad = pt[n - 1];
    unsigned bad = (unsigned)(pad == 0) | (unsigned)(pad > 16);
    for (size_t j = 1; j <= 16 && !bad; j++)
        if (j <= pad && pt[n - j] != pad)
            bad = 1;
    if (bad) {
        pc_wipe(pt, n);
        return -1;
    }
    *pt_len = n - pad;
    return 0;
}

static void zero_salt_states(void);
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static int cpu_ok, cpu_vaes;

static void cpu_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    int aes = (c >> 25) & 1, sse41 = (c >> 19) & 1, ssse3 = (c >> 9) & 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return;
    int sha = (b >> 29) & 1;
    cpu_ok = aes && sse41 && ssse3 && sha;
    /* VAES on 256-bit registers: AVX2 (leaf 7 EBX bit 5), VAES (leaf 7
     * ECX bit 9), and an OS that saves the YMM state (OSXSAVE, then XCR0
     * bits 1 and 2). */
    int avx2 = (b >> 5) & 1, vaes = (c >> 9) & 1;
    unsigned a1, b1, c1, d1;
    if (cpu_ok && avx2 && vaes && __get_cpuid(1, &a1, &b1, &c1, &d1) && ((c1 >> 27) & 1)) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        (void)hi;
        cpu_vaes = (lo & 6) == 6;
    }
    if (cpu_ok)
        zero_salt_states();
}

static int use_x86(void)
{
    pthread_once(&cpu_once, cpu_probe);
    return cpu_ok;
}

static int vaes_off; /* tests: the 128-bit path even where VAES is there */

void pc_cbc_dec_vaes(int on)
{
    vaes_off = !on;
}

static int vaes_on(void)
{
    pthread_once(&cpu_once, cpu_probe);
    return cpu_vaes && !vaes_off;
}

/*
 * Short HMACs, as the Double Ratchet's chain step and message-key HKDF
 * use them: every message fits one block after the key block, so an HMAC
 * is two compressions; independent ones are written side by side so that
 * their latencies overlap.
 */

/* One final block: the parts (at most 55 bytes together), 0x80, zeros and
 * the bit length of the key block plus the parts. */
static void short_block(uint8_t blk[BLOCK], const uint8_t *a, size_t na, const uint8_t *b,
                        size_t nb, uint8_t c)
{
    size_t n = na + nb + 1;
    uint64_t bits = (uint64_t)(BLOCK + n) * 8;
    if (na > 0)
        memcpy(blk, a, na);
    if (nb > 0)
        memcpy(blk + na, b, nb);
    blk[na + nb] = c;
    blk[n] = 0x80;
    memset(blk + n + 1, 0, BLOCK - 8 - n - 1);
    for (int i = 0; i < 8; i++)
        blk[BLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
}

/* The outer block of an HMAC: the inner digest, padded (96 bytes hashed). */
X86_TARGET static void outer_block(uint8_t blk[BLOCK], sha_state inner)
{
    sha_to_bytes(blk, inner);
    blk[32] = 0x80;
    memset(blk + 33, 0, BLOCK - 33);
    blk[BLOCK - 2] = 0x03; /* (64 + 32) * 8 = 0x300 bits */
}

X86_TARGET static void x86_hmac_two(uint8_t out1[32], uint8_t out2[32], const uint8_t key[32],
                                    uint8_t m1, uint8_t m2)
{
    sha_state in, outer, a, b;
    uint8_t b1[BLOCK], b2[BLOCK];
    hmac_states(&in, &outer, key);
    short_block(b1, NULL, 0, NULL, 0, m1);
    short_block(b2, NULL, 0, NULL, 0, m2);
    a = sha_block(in, b1);
    b = sha_block(in, b2);
    outer_block(b1, a);
    outer_block(b2, b);
    a = sha_block(outer, b1);
    b = sha_block(outer, b2);
    sha_to_bytes(out1, a);
    sha_to_bytes(out2, b);
    pc_wipe(b1, sizeof b1);
    pc_wipe(b2, sizeof b2);
    pc_wipe(&in, sizeof in);
    pc_wipe(&outer, sizeof outer);
}

/* HMAC(salt of 32 zero bytes, .): the key states of RFC 5869's default
 * salt, computed once. */
static sha_state zero_in, zero_out;

X86_TARGET static void zero_salt_states(void)
{
    static const uint8_t zeros[32];
    hmac_states(&zero_in, &zero_out, zeros);
}

/* RFC 5869 with the zero salt, a 32-byte IKM, info_len <= 22 and
 * out_len <= 96: every T(i) input fits one block. */
X86_TARGET static void x86_hkdf_short(uint8_t *out, size_t out_len, const uint8_t ikm[32],
                                      const uint8_t *info, size_t info_len)
{
    sha_state s, in, outer;
    uint8_t blk[BLOCK], prk[32], t[32];
    /* Extract: one byte of ikm goes in the part slot for the last byte. */
    short_block(blk, ikm, 31, NULL, 0, ikm[31]);
    s = sha_block(zero_in, blk);
    outer_block(blk, s);
    s = sha_block(zero_out, blk);
    sha_to_bytes(prk, s);
    hmac_states(&in, &outer, prk);
    size_t done = 0;
    for (uint8_t i = 1; done < out_len; i++) {
        short_block(blk, t, i > 1 ? 32 : 0, info, info_len, i);
        s = sha_block(in, blk);
        outer_block(blk, s);
        s = sha_block(outer, blk);
        sha_to_bytes(t, s);
        size_t take = out_len - done < 32 ? out_len - done : 32;
        memcpy(out + done, t, take);
        done += take;
    }
    pc_wipe(blk, sizeof blk);
    pc_wipe(prk, sizeof prk);
    pc_wipe(t, sizeof t);
    pc_wipe(&s, sizeof s);
    pc_wipe(&in, sizeof in);
    pc_wipe(&outer, sizeof outer);
}

/*
 * The streaming decryptor's plaintext side (stream.c,
 * pc_cbc_stream_update_hash_out): CBC decryption with the plaintext hash
 * beside it. One SHA-256 stream is bound by the latency of its rounds and
 * leaves the AES unit idle, and CBC decryption has no chain, so four
 * blocks decrypt within the rounds of one hash block (dec4_hash1): the
 * pair costs 0.65 ns per byte where the hash alone costs 0.57 and
 * OpenSSL's decryption alone 0.13; with VAES (dec4_hash1_vaes, the four
 * blocks in two 256-bit registers) it costs 0.57 to 0.59 (AMD EPYC,
 * bench/RESULTS-media.md).
 */

X86_TARGET static void dk_load(__m128i dk[15], const uint8_t dk_in[240])
{
    for (int i = 0; i < 15; i++)
        dk[i] = _mm_loadu_si128((const __m128i *)(const void *)(dk_in + 16 * i));
}

X86_TARGET static void sha_to_words(uint32_t h[8], sha_state s)
{
    __m128i feba = _mm_shuffle_epi32(s.s0, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(s.s1, 0xB1);
    _mm_storeu_si128((__m128i *)(void *)h, _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)(void *)(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}

X86_TARGET static void x86_dec_expand(uint8_t dk_out[240], const uint8_t key[32])
{
    __m128i rk[15], dk[15];
    aes256_schedule(rk, key);
    aes256_dec_schedule(dk, rk);
    for (int i = 0; i < 15; i++)
        _mm_storeu_si128((__m128i *)(void *)(dk_out + 16 * i), dk[i]);
    pc_wipe(rk, sizeof rk);
    pc_wipe(dk, sizeof dk);
}

X86_TARGET static void x86_cbc_dec_blocks(const uint8_t dk_in[240], uint8_t chain[16],
                                          const uint8_t *ct, uint8_t *pt, size_t nblocks)
{
    __m128i dk[15], x[4];
    size_t i = 0;
    dk_load(dk, dk_in);
    __m128i prev = _mm_loadu_si128((const __m128i *)(const void *)chain);
    for (; i + 4 <= nblocks; i += 4) {
        /* every load before any store: pt may be ct */
        for (int j = 0; j < 4; j++)
            x[j] = _mm_loadu_si128((const __m128i *)(const void *)(ct + 16 * (i + (size_t)j)));
        __m128i c[4] = {x[0], x[1], x[2], x[3]};
        aes_dec4(dk, x);
        _mm_storeu_si128((__m128i *)(void *)(pt + 16 * i), _mm_xor_si128(x[0], prev));
        for (int j = 1; j < 4; j++)
            _mm_storeu_si128((__m128i *)(void *)(pt + 16 * (i + (size_t)j)),
                             _mm_xor_si128(x[j], c[j - 1]));
        prev = c[3];
    }
    for (; i < nblocks; i++) {
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(ct + 16 * i));
        _mm_storeu_si128((__m128i *)(void *)(pt + 16 * i), _mm_xor_si128(aes_dec1(dk, c), prev));
        prev = c;
    }
    _mm_storeu_si128((__m128i *)(void *)chain, prev);
    pc_wipe(dk, sizeof dk);
}

/*
 * The same with VAES: the four blocks of a step in two 256-bit registers,
 * so the decryption takes half the instructions it does above and leaves
 * more of the core to the hash rounds it runs beside.
 */
#define X86_VAES_TARGET __attribute__((target("sse4.1,ssse3,sha,aes,avx2,vaes")))

#define DEC2(r0, r1)                                                                               \
    do {                                                                                           \
        for (int r_ = (r0); r_ < (r1); r_++) {                                                     \
            y0 = _mm256_aesdec_epi128(y0, dk2[r_]);                                                \
            y1 = _mm256_aesdec_epi128(y1, dk2[r_]);                                                \
        }                                                                                          \
    } while (0)

X86_VAES_TARGET __attribute__((always_inline)) inline static sha_state
dec4_hash1_vaes(const __m256i dk2[15], __m128i *prev, const uint8_t *ct, uint8_t *pt, sha_state s,
                const uint8_t *hp)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const sha_state save = s;
    __m256i c01 = _mm256_loadu_si256((const __m256i *)(const void *)ct);
    __m256i c23 = _mm256_loadu_si256((const __m256i *)(const void *)(ct + 32));
    __m256i y0 = _mm256_xor_si256(c01, dk2[0]), y1 = _mm256_xor_si256(c23, dk2[0]);
    __m128i a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)hp), bswap);
    __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 16)), bswap);
    __m128i c = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 32)), bswap);
    __m128i d = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(hp + 48)), bswap);
    ROUNDS4(a, 0);
    DEC2(1, 2);
    ROUNDS4(b, 1);
    DEC2(2, 3);
    ROUNDS4(c, 2);
    DEC2(3, 4);
    ROUNDS4(d, 3);
    DEC2(4, 5);
    STEP(4, a, b, c, d);
    DEC2(5, 6);
    STEP(5, b, c, d, a);
    DEC2(6, 7);
    STEP(6, c, d, a, b);
    DEC2(7, 8);
    STEP(7, d, a, b, c);
    DEC2(8, 9);
    STEP(8, a, b, c, d);
    DEC2(9, 10);
    STEP(9, b, c, d, a);
    DEC2(10, 11);
    STEP(10, c, d, a, b);
    DEC2(11, 12);
    STEP(11, d, a, b, c);
    DEC2(12, 13);
    STEP(12, a, b, c, d);
    DEC2(13, 14);
    STEP(13, b, c, d, a);
    y0 = _mm256_aesdeclast_epi128(y0, dk2[14]);
    y1 = _mm256_aesdeclast_epi128(y1, dk2[14]);
    STEP(14, c, d, a, b);
    STEP(15, d, a, b, c);
    /* plaintext j = D(c_j) ^ c_(j-1): (prev, c0) and (c1, c2) */
    __m128i c0 = _mm256_castsi256_si128(c01), c1 = _mm256_extracti128_si256(c01, 1);
    __m128i c2 = _mm256_castsi256_si128(c23), c3 = _mm256_extracti128_si256(c23, 1);
    _mm256_storeu_si256((__m256i *)(void *)pt, _mm256_xor_si256(y0, _mm256_set_m128i(c0, *prev)));
    _mm256_storeu_si256((__m256i *)(void *)(pt + 32), _mm256_xor_si256(y1, _mm256_set_m128i(c2, c1)));
    *prev = c3;
    s.s0 = _mm_add_epi32(s.s0, save.s0);
    s.s1 = _mm_add_epi32(s.s1, save.s1);
    return s;
}

X86_VAES_TARGET static void x86_cbc_dec_sha1_vaes(const uint8_t dk_in[240], uint8_t chain[16],
                                                  const uint8_t *ct, uint8_t *pt, size_t steps,
                                                  uint32_t st[8], const uint8_t *hp)
{
    __m128i dk[15];
    __m256i dk2[15];
    dk_load(dk, dk_in);
    for (int i = 0; i < 15; i++)
        dk2[i] = _mm256_broadcastsi128_si256(dk[i]);
    __m128i prev = _mm_loadu_si128((const __m128i *)(const void *)chain);
    sha_state s = sha_from_words(st);
    for (size_t i = 0; i < steps; i++)
        s = dec4_hash1_vaes(dk2, &prev, ct + 64 * i, pt + 64 * i, s, hp + 64 * i);
    sha_to_words(st, s);
    _mm_storeu_si128((__m128i *)(void *)chain, prev);
    pc_wipe(dk, sizeof dk);
    pc_wipe(dk2, sizeof dk2);
}

X86_TARGET static void x86_cbc_dec_sha1(const uint8_t dk_in[240], uint8_t chain[16],
                                        const uint8_t *ct, uint8_t *pt, size_t steps,
                                        uint32_t st[8], const uint8_t *hp)
{
    __m128i dk[15];
    dk_load(dk, dk_in);
    __m128i prev = _mm_loadu_si128((const __m128i *)(const void *)chain);
    sha_state s = sha_from_words(st);
    for (size_t i = 0; i < steps; i++)
        s = dec4_hash1(dk, &prev, ct + 64 * i, pt + 64 * i, s, hp + 64 * i);
    sha_to_words(st, s);
    _mm_storeu_si128((__m128i *)(void *)chain, prev);
    pc_wipe(dk, sizeof dk);
}

#endif /* HAVE_X86_PATH */

#if !HAVE_X86_PATH
void pc_cbc_dec_vaes(int on)
{
    (void)on;
}
#endif

/* Callers check pc_aes_sha_available() first (sha256_blocks.h). */
void pc_aes256_dec_expand(uint8_t dk[240], const uint8_t key[32])
{
#if HAVE_X86_PATH
    x86_dec_expand(dk, key);
#else
    (void)dk, (void)key;
    abort();
#endif
}

void pc_aes256_cbc_dec_blocks(const uint8_t dk[240], uint8_t chain[16], const uint8_t *ct,
                              uint8_t *pt, size_t nblocks)
{
#if HAVE_X86_PATH
    x86_cbc_dec_blocks(dk, chain, ct, pt, nblocks);
#else
    (void)dk, (void)chain, (void)ct, (void)pt, (void)nblocks;
    abort();
#endif
}

void pc_aes256_cbc_dec_sha1(const uint8_t dk[240], uint8_t chain[16], const uint8_t *ct,
                            uint8_t *pt, size_t steps, uint32_t st[8], const uint8_t *hp)
{
#if HAVE_X86_PATH
    if (vaes_on())
        x86_cbc_dec_sha1_vaes(dk, chain, ct, pt, steps, st, hp);
    else
        x86_cbc_dec_sha1(dk, chain, ct, pt, steps, st, hp);
#else
    (void)dk, (void)chain, (void)ct, (void)pt, (void)steps, (void)st, (void)hp;
    abort();
#endif
}

int pc_cbc_hmac_seal(uint8_t *ct, size_t ct_max, size_t *ct_len, const uint8_t key[32],
                     const uint8_t iv[16], const uint8_t mac_key[32], const uint8_t *head,
                     size_t head_len, const uint8_t *pt, size_t n, uint8_t mac[32])
{
    GUARD_INIT();
    size_t want = n + (PC_AES_BLOCK - n % PC_AES_BLOCK);
    if (n > SIZE_MAX / 2 || head_len > SIZE_MAX / 4)
        return PARLEY_ERR_INVALID_ARG;
    if (ct_max < want)
        return PARLEY_ERR_BUFFER;
#if HAVE_X86_PATH
    if (use_x86()) {
        x86_seal(ct, key, iv, mac_key, head, head_len, pt, n, want, mac);
        *ct_len = want;
        return PARLEY_OK;
    }
#endif
    return fallback_seal(ct, ct_max, ct_len, key, iv, mac_key, head, head_len, pt, n, mac);
}

int pc_cbc_hmac_open(uint8_t *pt, size_t pt_max, size_t *pt_len, const uint8_t key[32],
                     const uint8_t iv[16], const uint8_t mac_key[32], const uint8_t *head,
                     size_t head_len, const uint8_t *ct, size_t n, uint8_t mac[32])
{
    GUARD_INIT();
    if (n > SIZE_MAX / 2 || head_len > SIZE_MAX / 4)
        return PARLEY_ERR_INVALID_ARG;
    if (pt_max < n)
        return PARLEY_ERR_BUFFER;
#if HAVE_X86_PATH
    if (use_x86() && n > 0 && n % PC_AES_BLOCK == 0)
        return x86_open(pt, pt_len, key, iv, mac_key, head, head_len, ct, n, mac) == 0
                   ? PARLEY_OK
                   : PARLEY_ERR_DECODE;
#endif
    return fallback_open(pt, pt_max, pt_len, key, iv, mac_key, head, head_len, ct, n, mac);
}

int pc_hmac_sha256_two(uint8_t out1[PC_SHA256_LEN], uint8_t out2[PC_SHA256_LEN],
                       const uint8_t key[32], uint8_t m1, uint8_t m2)
{
    int rc;
    pc_hmac_key k;
    const pc_part p1 = {&m1, 1}, p2 = {&m2, 1};
#if HAVE_X86_PATH
    if (use_x86()) {
        x86_hmac_two(out1, out2, key, m1, m2);
        return PARLEY_OK;
    }
#endif
    pc_wipe(&k, sizeof k);
    GUARD(pc_hmac_key_init(&k, key, 32));
    GUARD(pc_hmac_keyed(out1, &k, &p1, 1));
    GUARD(pc_hmac_keyed(out2, &k, &p2, 1));
    rc = PARLEY_OK;
out:
    pc_hmac_key_wipe(&k);
    return rc;
}

int pc_hkdf_sha256_short(uint8_t *out, size_t out_len, const uint8_t ikm[32],
                         const uint8_t *info, size_t info_len)
{
    if (out_len > 3 * PC_SHA256_LEN || info_len > 22)
        return PARLEY_ERR_INVALID_ARG;
#if HAVE_X86_PATH
    if (use_x86()) {
        x86_hkdf_short(out, out_len, ikm, info, info_len);
        return PARLEY_OK;
    }
#endif
    return fallback_hkdf_short(out, out_len, ikm, info, info_len);
}
