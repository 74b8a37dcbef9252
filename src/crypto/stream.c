/*
 * Streaming primitives for data that does not fit in memory (media
 * attachments, DESIGN.md 3.6): AES-256-CBC with PKCS#7 fed in chunks of
 * any size, and SHA-256 / HMAC-SHA256 contexts updated incrementally.
 *
 * The hash contexts keep their own FIPS 180-4 state so that several of
 * them can be compressed side by side (sha256_ni.c): a media blob needs
 * three SHA-256 streams over the same bytes.
 */
#include "crypto/crypto_internal.h"
#include "crypto/sha256_blocks.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>


/*
 * A CBC stream. On a CPU with AES-NI and the SHA extensions both
 * directions run on our own key schedule (`own`: rk is the encryption or
 * the decryption schedule), so that they can be interleaved with hashing
 * (pc_cbc_stream_update_hashed, pc_cbc_stream_update_hash_out);
 * everything else goes through OpenSSL's EVP.
 *
 * Decrypting, pend holds 1 to 16 bytes once anything has arrived: the
 * last block is kept back until final checks its padding, as EVP does,
 * so both paths release the same bytes at the same calls. Long runs of
 * whole blocks that are not hashed still go through EVP (ctx, without
 * padding, its IV set to our chain), whose wide AES code decrypts them
 * faster than our four blocks at a time.
 */
struct pc_cbc_stream {
    EVP_CIPHER_CTX *ctx;
    int encrypt, own;
    uint8_t rk[240], chain[16], pend[16];
    size_t pend_len;
};

int pc_cbc_stream_new(pc_cbc_stream **out, int encrypt, const uint8_t key[32],
                      const uint8_t iv[16])
{
    int rc;
    GUARD_INIT();
    pc_cbc_stream *s = calloc(1, sizeof *s);
    ENSURE(s != NULL, PARLEY_ERR_NOMEM);
    s->encrypt = encrypt ? 1 : 0;
    if (pc_aes_sha_available()) {
        s->own = 1;
        if (s->encrypt) {
            pc_aes256_expand(s->rk, key);
        } else {
            pc_aes256_dec_expand(s->rk, key);
            s->ctx = EVP_CIPHER_CTX_new();
            ENSURE(s->ctx != NULL, PARLEY_ERR_NOMEM);
            ENSURE(EVP_CipherInit_ex2(s->ctx, pc_cipher_aes256_cbc, key, iv, 0, NULL) == 1,
                   PARLEY_ERR_CRYPTO);
            ENSURE(EVP_CIPHER_CTX_set_padding(s->ctx, 0) == 1, PARLEY_ERR_CRYPTO);
        }
        memcpy(s->chain, iv, 16);
    } else {
        s->ctx = EVP_CIPHER_CTX_new();
        ENSURE(s->ctx != NULL, PARLEY_ERR_NOMEM);
        /* OpenSSL keeps the last block back while decrypting until final, so
         * that padding is only ever checked and stripped at the end. */
        ENSURE(EVP_CipherInit_ex2(s->ctx, pc_cipher_aes256_cbc, key, iv, s->encrypt, NULL) == 1,
               PARLEY_ERR_CRYPTO);
    }
    *out = s;
    s = NULL;
    rc = PARLEY_OK;
out:
    pc_cbc_stream_free(s);
    return rc;
}

/* Own path: whole blocks out at once, a partial block waits in pend. */
static void own_update(pc_cbc_stream *s, uint8_t *out, size_t *out_len, const uint8_t *in,
                       size_t n)
{
    size_t written = 0;
    if (s->pend_len > 0) {
        size_t take = 16 - s->pend_len < n ? 16 - s->pend_len : n;
        memcpy(s->pend + s->pend_len, in, take);
        s->pend_len += take;
        in += take;
        n -= take;
        if (s->pend_len < 16) {
            *out_len = 0;
            return;
        }
        pc_aes256_cbc_enc_blocks(s->rk, s->chain, s->pend, out, 1);
        written = 16;
        s->pend_len = 0;
    }
    size_t nb = n / 16;
    pc_aes256_cbc_enc_blocks(s->rk, s->chain, in, out + written, nb);
    written += 16 * nb;
    memcpy(s->pend, in + 16 * nb, n - 16 * nb);
    s->pend_len = n - 16 * nb;
    *out_len = written;
}

static int own_dec_update(pc_cbc_stream *s, uint8_t *out, size_t *out_len, const uint8_t *in,
                          size_t n, pc_sha256_ctx *h);

int pc_cbc_stream_update(pc_cbc_stream *s, uint8_t *out, size_t out_max, size_t *out_len,
                         const uint8_t *in, size_t n)
{
    size_t done = 0, written = 0;
    if (out_max < n + PC_AES_BLOCK)
        return PARLEY_ERR_BUFFER;
    if (s->own && s->encrypt) {
        own_update(s, out, out_len, in, n);
        return PARLEY_OK;
    }
    if (s->own)
        return own_dec_update(s, out, out_len, in, n, NULL);
    while (done < n) {
        /* EVP takes int lengths: feed at most 1 GiB at a time. */
        size_t step = n - done;
        if (step > (size_t)1 << 30)
            step = (size_t)1 << 30;
        int l = 0;
        if (EVP_CipherUpdate(s->ctx, out + written, &l, in + done, (int)step) != 1)
            return PARLEY_ERR_CRYPTO;
        written += (size_t)l;
        done += step;
    }
    *out_len = written;
    return PARLEY_OK;
}

int pc_cbc_stream_final(pc_cbc_stream *s, uint8_t *out, size_t out_max, size_t *out_len)
{
    int l = 0;
    if (out_max < PC_AES_BLOCK)
        return PARLEY_ERR_BUFFER;
    if (s->own && !s->encrypt) {
        /* the kept-back block, whole, with PKCS#7 padding of 1..16 bytes
         * each the pad length (the check OpenSSL makes) */
        uint8_t last[16];
        if (s->pend_len != 16) {
            pc_wipe(out, PC_AES_BLOCK);
            return PARLEY_ERR_DECODE;
        }
        pc_aes256_cbc_dec_blocks(s->rk, s->chain, s->pend, last, 1);
        uint8_t pad = last[15];
        int bad = pad == 0 || pad > 16;
        for (size_t j = 1; j <= 16 && !bad; j++)
            if (j <= pad && last[16 - j] != pad)
                bad = 1;
        s->pend_len = 0;
        pc_wipe(s->pend, sizeof s->pend);
        if (bad) {
            pc_wipe(last, sizeof last);
            pc_wipe(out, PC_AES_BLOCK);
            return PARLEY_ERR_DECODE;
        }
        memcpy(out, last, (size_t)(16 - pad));
        pc_wipe(last, sizeof last);
        *out_len = (size_t)(16 - pad);
        return PARLEY_OK;
    }
    if (s->own) {
        /* PKCS#7: 1..16 bytes, each the pad length */
        uint8_t pad = (uint8_t)(16 - s->pend_len);
        memset(s->pend + s->pend_len, pad, pad);
        pc_aes256_cbc_enc_blocks(s->rk, s->chain, s->pend, out, 1);
        s->pend_len = 0;
        pc_wipe(s->pend, sizeof s->pend);
        *out_len = 16;
        return PARLEY_OK;
    }
    if (EVP_CipherFinal_ex(s->ctx, out, &l) != 1) {
        pc_wipe(out, PC_AES_BLOCK);
        return s->encrypt ? PARLEY_ERR_CRYPTO : PARLEY_ERR_DECODE;
    }
    *out_len = (size_t)l;
    return PARLEY_OK;
}

void pc_cbc_stream_free(pc_cbc_stream *s)
{
    if (s == NULL)
        return;
    EVP_CIPHER_CTX_free(s->ctx); /* clears the key schedule */
    pc_wipe(s, sizeof *s);
    free(s);
}

/* ---- SHA-256 and HMAC-SHA256 contexts (FIPS 180-4, RFC 2104) -------------- */

typedef struct {
    uint32_t h[8];
    uint64_t total; /* bytes absorbed */
    uint8_t buf[64];
    uint32_t buflen;
} sha_state;

typedef struct {
    sha_state inner, outer;
} hmac_state;

_Static_assert(sizeof(sha_state) <= sizeof(((pc_sha256_ctx *)0)->state),
               "pc_sha256_ctx too small");
_Static_assert(sizeof(hmac_state) <= sizeof(((pc_hmac_sha256_ctx *)0)->state),
               "pc_hmac_sha256_ctx too small");

static sha_state *st_of(pc_sha256_ctx *c)
{
    return (sha_state *)(void *)c->state;
}

static hmac_state *hst_of(pc_hmac_sha256_ctx *c)
{
    return (hmac_state *)(void *)c->state;
}

static void sha_init(sha_state *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memset(s, 0, sizeof *s);
    memcpy(s->h, iv, sizeof iv);
}

static void compress1(sha_state *s, const uint8_t *blocks, size_t n)
{
    uint32_t *st[1] = {s->h};
    const uint8_t *d[1] = {blocks};
    pc_sha256_blocks(st, d, 1, n);
}

/*
 * Absorb d[i] (n[i] bytes) into s[i] for k streams. Whole blocks of the
 * streams are compressed side by side (sha256_ni.c); partial blocks wait
 * in each stream's buffer.
 */
static void sha_update_multi(sha_state *const s[], const uint8_t *const d_in[],
                             const size_t n_in[], size_t k)
{
    const uint8_t *d[3];
    size_t n[3];
    PARLEY_MISUSE(k <= 3);
    for (size_t i = 0; i < k; i++) {
        d[i] = d_in[i];
        n[i] = n_in[i];
        s[i]->total += n[i];
        if (s[i]->buflen > 0 && n[i] > 0) {
            size_t take = 64 - s[i]->buflen;
            if (take > n[i])
                take = n[i];
            memcpy(s[i]->buf + s[i]->buflen, d[i], take);
            s[i]->buflen += (uint32_t)take;
            d[i] += take;
            n[i] -= take;
            if (s[i]->buflen == 64) {
                compress1(s[i], s[i]->buf, 1);
                s[i]->buflen = 0;
            }
        }
    }
    for (;;) {
        uint32_t *st[3];
        const uint8_t *bd[3];
        size_t lanes = 0, common = SIZE_MAX, idx[3];
        for (size_t i = 0; i < k; i++) {
            if (n[i] >= 64) {
                idx[lanes] = i;
                st[lanes] = s[i]->h;
                bd[lanes] = d[i];
                if (n[i] / 64 < common)
                    common = n[i] / 64;
                lanes++;
            }
        }
        if (lanes == 0)
            break;
        pc_sha256_blocks(st, bd, lanes, common);
        for (size_t j = 0; j < lanes; j++) {
            d[idx[j]] += 64 * common;
            n[idx[j]] -= 64 * common;
        }
    }
    for (size_t i = 0; i < k; i++) {
        if (n[i] > 0) {
            memcpy(s[i]->buf + s[i]->buflen, d[i], n[i]);
            s[i]->buflen += (uint32_t)n[i];
        }
    }
}

static void sha_update(sha_state *s, const uint8_t *d, size_t n)
{
    sha_state *ss[1] = {s};
    const uint8_t *dd[1] = {d};
    size_t nn[1] = {n};
    sha_update_multi(ss, dd, nn, 1);
}

static void sha_final(sha_state *s, uint8_t out[PC_SHA256_LEN])
{
    uint64_t bits = s->total * 8;
    s->buf[s->buflen++] = 0x80;
    if (s->buflen > 56) {
        memset(s->buf + s->buflen, 0, 64 - s->buflen);
        compress1(s, s->buf, 1);
        s->buflen = 0;
    }
    memset(s->buf + s->buflen, 0, 56 - s->buflen);
    for (int i = 0; i < 8; i++)
        s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress1(s, s->buf, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
    pc_wipe(s, sizeof *s);
}

int pc_sha256_init(pc_sha256_ctx *c)
{
    sha_init(st_of(c));
    return PARLEY_OK;
}

int pc_sha256_update(pc_sha256_ctx *c, const uint8_t *in, size_t n)
{
    if (n > 0)
        sha_update(st_of(c), in, n);
    return PARLEY_OK;
}

int pc_sha256_update_multi(pc_sha256_ctx *const c[], const uint8_t *const d[], const size_t n[],
                           size_t k)
{
    sha_state *s[3];
    if (k > 3)
        return PARLEY_ERR_INVALID_ARG;
    for (size_t i = 0; i < k; i++)
        s[i] = st_of(c[i]);
    sha_update_multi(s, d, n, k);
    return PARLEY_OK;
}

int pc_sha256_update2_until(pc_sha256_ctx *a, pc_sha256_ctx *b, const uint8_t *d, size_t n,
                            const atomic_uint *stop, unsigned value, size_t done[2])
{
    sha_state *s[2] = {st_of(a), st_of(b)};
    /* First what each buffer still lacks of a block (the two may hold
     * different counts: an HMAC's inner hash has its IV in front). */
    for (size_t i = 0; i < 2; i++)
        done[i] = s[i]->buflen == 0 ? 0 : (64 - s[i]->buflen < n ? 64 - s[i]->buflen : n);
    {
        const uint8_t *const dd[2] = {d, d};
        sha_update_multi(s, dd, done, 2);
    }
    /* Then whole blocks from each one's own offset, straight to the kernel
     * (the buffers are empty now, or the input ran out). */
    size_t left0 = (n - done[0]) / 64, left1 = (n - done[1]) / 64;
    size_t want = left0 < left1 ? left0 : left1;
    if (want > 0) {
        uint32_t *const st[2] = {s[0]->h, s[1]->h};
        const uint8_t *const dd[2] = {d + done[0], d + done[1]};
        size_t got = pc_sha256_blocks2_until(st, dd, want, stop, value);
        for (size_t i = 0; i < 2; i++) {
            s[i]->total += 64 * got;
            done[i] += 64 * got;
        }
        if (got < want)
            return 1;
    }
    {
        const uint8_t *const dd[2] = {d + done[0], d + done[1]};
        const size_t nn[2] = {n - done[0], n - done[1]};
        sha_update_multi(s, dd, nn, 2);
    }
    done[0] = done[1] = n;
    return 0;
}

int pc_sha256_final(pc_sha256_ctx *c, uint8_t out[PC_SHA256_LEN])
{
    sha_final(st_of(c), out);
    pc_wipe(c, sizeof *c);
    return PARLEY_OK;
}

/* RFC 2104: H(K ^ opad || H(K ^ ipad || text)), with the two padded-key
 * blocks absorbed at init. */
int pc_hmac_sha256_init(pc_hmac_sha256_ctx *c, const uint8_t *key, size_t key_len)
{
    int rc;
    uint8_t k0[64] = {0}, pad[64];
    hmac_state *h = hst_of(c);
    if (key_len > sizeof k0) {
        GUARD(pc_sha256(k0, key, key_len));
    } else if (key_len > 0) {
        memcpy(k0, key, key_len);
    }
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k0[i] ^ 0x36;
    sha_init(&h->inner);
    sha_update(&h->inner, pad, sizeof pad);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k0[i] ^ 0x5c;
    sha_init(&h->outer);
    sha_update(&h->outer, pad, sizeof pad);
    rc = PARLEY_OK;
out:
    pc_wipe(k0, sizeof k0);
    pc_wipe(pad, sizeof pad);
    return rc;
}

int pc_hmac_sha256_update(pc_hmac_sha256_ctx *c, const uint8_t *in, size_t n)
{
    if (n > 0)
        sha_update(&hst_of(c)->inner, in, n);
    return PARLEY_OK;
}

pc_sha256_ctx *pc_hmac_sha256_inner(pc_hmac_sha256_ctx *c)
{
    /* the inner state sits first, in the layout of a pc_sha256_ctx */
    return (pc_sha256_ctx *)(void *)&hst_of(c)->inner;
}

int pc_hmac_sha256_final(pc_hmac_sha256_ctx *c, uint8_t out[PC_SHA256_LEN])
{
    uint8_t inner_hash[PC_SHA256_LEN];
    hmac_state *h = hst_of(c);
    sha_final(&h->inner, inner_hash);
    sha_update(&h->outer, inner_hash, sizeof inner_hash);
    sha_final(&h->outer, out);
    pc_wipe(inner_hash, sizeof inner_hash);
    pc_wipe(c, sizeof *c);
    return PARLEY_OK;
}

/* The plain way: encrypt, then the three hashes side by side. */
static int hashed_plain(pc_cbc_stream *s, uint8_t *out, size_t out_max, size_t *out_len,
                        const uint8_t *in, size_t n, pc_sha256_ctx *const h[3],
                        const int over_out[3])
{
    size_t l = 0;
    int rc = pc_cbc_stream_update(s, out, out_max, &l, in, n);
    if (rc < 0)
        return rc;
    const uint8_t *d[3];
    size_t len[3];
    for (int i = 0; i < 3; i++) {
        d[i] = over_out[i] ? out : in;
        len[i] = over_out[i] ? l : n;
    }
    *out_len = l;
    return pc_sha256_update_multi(h, d, len, 3);
}

int pc_cbc_stream_update_hashed(pc_cbc_stream *s, uint8_t *out, size_t out_max,
                                size_t *out_len, const uint8_t *in, size_t n,
                                pc_sha256_ctx *const h[3], const int over_out[3])
{
    int rc;
    size_t l = 0, written = 0;
    if (out_max < n + PC_AES_BLOCK)
        return PARLEY_ERR_BUFFER;
    if (!s->own || n < 64 * 8)
        return hashed_plain(s, out, out_max, out_len, in, n, h, over_out);
    /* Until the pending partial block is gone, the plain way. */
    if (s->pend_len > 0) {
        size_t head = 16 - s->pend_len;
        GUARD(hashed_plain(s, out, out_max, &l, in, head, h, over_out));
        written += l;
        in += head;
        n -= head;
    }
    /* Steps of 64 bytes: ciphertext step i sits at out + written + 64 i. */
    size_t m = n / 64;
    uint8_t *ct = out + written;
    sha_state *st[3];
    const uint8_t *base[3];
    size_t off[3];
    for (int i = 0; i < 3; i++) {
        st[i] = st_of(h[i]);
        base[i] = over_out[i] ? ct : in;
    }
    /* Steps 0 and 1 alone: enough ciphertext to complete every lane's
     * buffered block. */
    pc_aes256_cbc_enc_blocks(s->rk, s->chain, in, ct, 8);
    for (int i = 0; i < 3; i++) {
        sha_state *x = st[i];
        off[i] = 0;
        if (x->buflen > 0) {
            off[i] = 64 - x->buflen;
            memcpy(x->buf + x->buflen, base[i], off[i]);
            compress1(x, x->buf, 1);
            x->buflen = 0;
        }
        x->total += 64 * m;
    }
    /* Steps 2 .. m-1 with lane blocks 0 .. m-3 beside them. */
    uint32_t *hs[3] = {st[0]->h, st[1]->h, st[2]->h};
    const uint8_t *blk[3] = {base[0] + off[0], base[1] + off[1], base[2] + off[2]};
    pc_aes256_cbc_sha3(s->rk, s->chain, in, ct, 2, m, hs, blk);
    /* What is left of each lane within the 64 m bytes. */
    for (int i = 0; i < 3; i++) {
        size_t avail = (64 * m - off[i]) / 64, rest = avail - (m - 2);
        const uint8_t *p = blk[i] + 64 * (m - 2);
        compress1(st[i], p, rest);
        size_t tail = 64 * m - off[i] - 64 * avail;
        memcpy(st[i]->buf, p + 64 * rest, tail);
        st[i]->buflen = (uint32_t)tail;
    }
    written += 64 * m;
    in += 64 * m;
    n -= 64 * m;
    if (n > 0) {
        GUARD(hashed_plain(s, out + written, out_max - written, &l, in, n, h, over_out));
        written += l;
    }
    *out_len = written;
    rc = PARLEY_OK;
out:
    return rc;
}

/* Whole blocks, chained from s->chain; pt may equal ct. */
static int dec_whole(pc_cbc_stream *s, const uint8_t *ct, uint8_t *pt, size_t nblocks)
{
    uint8_t last[16];
    if (nblocks < 8) {
        pc_aes256_cbc_dec_blocks(s->rk, s->chain, ct, pt, nblocks);
        return PARLEY_OK;
    }
    /* the next chain value, before an in-place decryption overwrites it */
    memcpy(last, ct + 16 * (nblocks - 1), 16);
    if (EVP_CipherInit_ex2(s->ctx, NULL, NULL, s->chain, 0, NULL) != 1)
        return PARLEY_ERR_CRYPTO;
    for (size_t done = 0; done < nblocks;) {
        /* EVP takes int lengths: 1 GiB at a time */
        size_t step = nblocks - done < ((size_t)1 << 26) ? nblocks - done : (size_t)1 << 26;
        int l = 0;
        if (EVP_CipherUpdate(s->ctx, pt + 16 * done, &l, ct + 16 * done, (int)(16 * step)) != 1 ||
            (size_t)l != 16 * step)
            return PARLEY_ERR_CRYPTO;
        done += step;
    }
    memcpy(s->chain, last, 16);
    return PARLEY_OK;
}

/*
 * Own decryption: of the T bytes held and arriving, the first
 * 16 ((T - 1) / 16) are whole blocks that can be released; the 1 to 16
 * bytes after them wait in pend. With h, the plaintext written is also
 * absorbed into h, with the hash compressions beside the decryption
 * (pc_aes256_cbc_dec_sha1) for the run of whole steps.
 */
static int own_dec_update(pc_cbc_stream *s, uint8_t *out, size_t *out_len, const uint8_t *in,
                          size_t n, pc_sha256_ctx *h)
{
    int rc;
    size_t total = s->pend_len + n, used = 0, written = 0;
    size_t k = total == 0 ? 0 : (total - 1) / 16;
    if (k == 0) {
        memcpy(s->pend + s->pend_len, in, n);
        s->pend_len += n;
        *out_len = 0;
        return PARLEY_OK;
    }
    if (s->pend_len > 0) {
        /* the block that straddles what was held and what arrives */
        uint8_t blk[16];
        size_t take = 16 - s->pend_len;
        memcpy(blk, s->pend, s->pend_len);
        memcpy(blk + s->pend_len, in, take);
        pc_aes256_cbc_dec_blocks(s->rk, s->chain, blk, out, 1);
        pc_wipe(blk, sizeof blk);
        used = take;
        written = 16;
        k--;
    }
    /* k whole blocks from in + used, contiguous */
    const uint8_t *ct = in + used;
    uint8_t *pt = out + written;
    size_t steps = k / 4;
    if (h == NULL || steps < 8) {
        GUARD(dec_whole(s, ct, pt, k));
        if (h != NULL)
            sha_update(st_of(h), out, written + 16 * k);
    } else {
        sha_state *x = st_of(h);
        /* Steps 0 and 1 alone: enough plaintext to complete the block
         * waiting in h; from there h takes whole blocks from out + a,
         * block j beside step j + 2, once step j + 1 has written it. */
        GUARD(dec_whole(s, ct, pt, 8));
        size_t a = (64 - x->buflen) % 64;
        sha_update(x, out, a);
        pc_aes256_cbc_dec_sha1(s->rk, s->chain, ct + 128, pt + 128, steps - 2, x->h, out + a);
        x->total += 64 * (steps - 2);
        pc_aes256_cbc_dec_blocks(s->rk, s->chain, ct + 64 * steps, pt + 64 * steps, k % 4);
        size_t hashed = a + 64 * (steps - 2);
        sha_update(x, out + hashed, written + 16 * k - hashed);
    }
    used += 16 * k;
    written += 16 * k;
    memcpy(s->pend, in + used, n - used);
    s->pend_len = n - used;
    *out_len = written;
    rc = PARLEY_OK;
out:
    return rc;
}

int pc_cbc_stream_update_hash_out(pc_cbc_stream *s, uint8_t *out, size_t out_max,
                                  size_t *out_len, const uint8_t *in, size_t n, pc_sha256_ctx *h)
{
    size_t l = 0;
    if (out_max < n + PC_AES_BLOCK)
        return PARLEY_ERR_BUFFER;
    if (s->own && !s->encrypt)
        return own_dec_update(s, out, out_len, in, n, h);
    int rc = pc_cbc_stream_update(s, out, out_max, &l, in, n);
    if (rc < 0)
        return rc;
    *out_len = l;
    return pc_sha256_update(h, out, l);
}
