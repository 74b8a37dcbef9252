/*
 * Streaming primitives for data that does not fit in memory (media
 * attachments, DESIGN.md 3.6): AES-256-CBC with PKCS#7 fed in chunks of
 * any size, and SHA-256 / HMAC-SHA256 contexts updated incrementally.
 *
 * The hash contexts use OpenSSL's SHA256_* interface for the same reason
 * as hmac_keyed.c: no EVP dispatch per call and the SHA extensions path.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/crypto_internal.h"

#include <limits.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((pc_sha256_ctx *)0)->state),
               "pc_sha256_ctx too small for SHA256_CTX");
_Static_assert(sizeof(SHA256_CTX) * 2 <= sizeof(((pc_hmac_sha256_ctx *)0)->state),
               "pc_hmac_sha256_ctx too small for two SHA256_CTX");

struct pc_cbc_stream {
    EVP_CIPHER_CTX *ctx;
    int encrypt;
};

int pc_cbc_stream_new(pc_cbc_stream **out, int encrypt, const uint8_t key[32],
                      const uint8_t iv[16])
{
    int rc;
    GUARD_INIT();
    pc_cbc_stream *s = calloc(1, sizeof *s);
    ENSURE(s != NULL, PARLEY_ERR_NOMEM);
    s->encrypt = encrypt ? 1 : 0;
    s->ctx = EVP_CIPHER_CTX_new();
    ENSURE(s->ctx != NULL, PARLEY_ERR_NOMEM);
    /* OpenSSL keeps the last block back while decrypting until final, so
     * that padding is only ever checked and stripped at the end. */
    ENSURE(EVP_CipherInit_ex2(s->ctx, pc_cipher_aes256_cbc, key, iv, s->encrypt, NULL) == 1,
           PARLEY_ERR_CRYPTO);
    *out = s;
    s = NULL;
    rc = PARLEY_OK;
out:
    pc_cbc_stream_free(s);
    return rc;
}

int pc_cbc_stream_update(pc_cbc_stream *s, uint8_t *out, size_t out_max, size_t *out_len,
                         const uint8_t *in, size_t n)
{
    size_t done = 0, written = 0;
    if (out_max < n + PC_AES_BLOCK)
        return PARLEY_ERR_BUFFER;
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
    free(s);
}

int pc_sha256_init(pc_sha256_ctx *c)
{
    return SHA256_Init((SHA256_CTX *)(void *)c->state) == 1 ? PARLEY_OK : PARLEY_ERR_CRYPTO;
}

int pc_sha256_update(pc_sha256_ctx *c, const uint8_t *in, size_t n)
{
    if (n == 0)
        return PARLEY_OK;
    return SHA256_Update((SHA256_CTX *)(void *)c->state, in, n) == 1 ? PARLEY_OK
                                                                     : PARLEY_ERR_CRYPTO;
}

int pc_sha256_final(pc_sha256_ctx *c, uint8_t out[PC_SHA256_LEN])
{
    int ok = SHA256_Final(out, (SHA256_CTX *)(void *)c->state);
    pc_wipe(c, sizeof *c);
    return ok == 1 ? PARLEY_OK : PARLEY_ERR_CRYPTO;
}

/* RFC 2104: H(K ^ opad || H(K ^ ipad || text)), with the two padded-key
 * blocks absorbed at init. */
int pc_hmac_sha256_init(pc_hmac_sha256_ctx *c, const uint8_t *key, size_t key_len)
{
    int rc;
    uint8_t k0[64] = {0}, pad[64];
    SHA256_CTX *inner = (SHA256_CTX *)(void *)c->state;
    SHA256_CTX *outer = inner + 1;
    if (key_len > sizeof k0) {
        GUARD(pc_sha256(k0, key, key_len));
    } else if (key_len > 0) {
        memcpy(k0, key, key_len);
    }
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k0[i] ^ 0x36;
    ENSURE(SHA256_Init(inner) == 1 && SHA256_Update(inner, pad, sizeof pad) == 1,
           PARLEY_ERR_CRYPTO);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k0[i] ^ 0x5c;
    ENSURE(SHA256_Init(outer) == 1 && SHA256_Update(outer, pad, sizeof pad) == 1,
           PARLEY_ERR_CRYPTO);
    rc = PARLEY_OK;
out:
    pc_wipe(k0, sizeof k0);
    pc_wipe(pad, sizeof pad);
    return rc;
}

int pc_hmac_sha256_update(pc_hmac_sha256_ctx *c, const uint8_t *in, size_t n)
{
    if (n == 0)
        return PARLEY_OK;
    return SHA256_Update((SHA256_CTX *)(void *)c->state, in, n) == 1 ? PARLEY_OK
                                                                     : PARLEY_ERR_CRYPTO;
}

int pc_hmac_sha256_final(pc_hmac_sha256_ctx *c, uint8_t out[PC_SHA256_LEN])
{
    int rc;
    uint8_t inner_hash[PC_SHA256_LEN];
    SHA256_CTX *inner = (SHA256_CTX *)(void *)c->state;
    SHA256_CTX *outer = inner + 1;
    ENSURE(SHA256_Final(inner_hash, inner) == 1, PARLEY_ERR_CRYPTO);
    ENSURE(SHA256_Update(outer, inner_hash, sizeof inner_hash) == 1 &&
               SHA256_Final(out, outer) == 1,
           PARLEY_ERR_CRYPTO);
    rc = PARLEY_OK;
out:
    pc_wipe(inner_hash, sizeof inner_hash);
    pc_wipe(c, sizeof *c);
    return rc;
}
