/* AES-256-CBC (PKCS#7) and AES-256-GCM through OpenSSL's EVP interface. */
#include "crypto/crypto_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/*
 * One context per thread and direction, set up with the cipher once: a
 * message then only re-keys it (EVP_CipherInit_ex2 with a NULL cipher keeps
 * the provider context), which for a short Signal message costs less than
 * half of a full initialisation.
 */
static EVP_CIPHER_CTX *cbc_ctx(int enc)
{
    pc_thread_ctx *t = pc_thread_ctx_get();
    if (t == NULL)
        return NULL;
    EVP_CIPHER_CTX *c = t->cbc[enc];
    if (c != NULL)
        return c;
    c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        return NULL;
    if (EVP_CipherInit_ex2(c, pc_cipher_aes256_cbc, NULL, NULL, enc, NULL) != 1) {
        EVP_CIPHER_CTX_free(c);
        return NULL;
    }
    t->cbc[enc] = c;
    return c;
}

static int cbc(int enc, uint8_t *out, size_t out_max, size_t *out_len, const uint8_t key[32],
               const uint8_t iv[16], const uint8_t *in, size_t n)
{
    int l1 = 0, l2 = 0;
    GUARD_INIT();
    EVP_CIPHER_CTX *c = cbc_ctx(enc ? 1 : 0);
    if (c == NULL)
        return PARLEY_ERR_NOMEM;
    if (n > INT_MAX - PC_AES_BLOCK)
        return PARLEY_ERR_INVALID_ARG;
    if (enc) {
        if (out_max < n + (PC_AES_BLOCK - n % PC_AES_BLOCK))
            return PARLEY_ERR_BUFFER;
    } else {
        if (n == 0 || n % PC_AES_BLOCK != 0)
            return PARLEY_ERR_DECODE;
        /* OpenSSL may write a whole block before it checks padding. */
        if (out_max < n)
            return PARLEY_ERR_BUFFER;
    }
    if (EVP_CipherInit_ex2(c, NULL, key, iv, enc, NULL) != 1)
        return PARLEY_ERR_CRYPTO;
    if (EVP_CipherUpdate(c, out, &l1, in, (int)n) != 1)
        return PARLEY_ERR_CRYPTO;
    if (EVP_CipherFinal_ex(c, out + l1, &l2) != 1) {
        pc_wipe(out, (size_t)l1);
        return enc ? PARLEY_ERR_CRYPTO : PARLEY_ERR_DECODE;
    }
    *out_len = (size_t)l1 + (size_t)l2;
    return PARLEY_OK;
}

int pc_aes256_cbc_encrypt(uint8_t *out, size_t out_max, size_t *out_len, const uint8_t key[32],
                          const uint8_t iv[16], const uint8_t *in, size_t n)
{
    return cbc(1, out, out_max, out_len, key, iv, in, n);
}

int pc_aes256_cbc_decrypt(uint8_t *out, size_t out_max, size_t *out_len, const uint8_t key[32],
                          const uint8_t iv[16], const uint8_t *in, size_t n)
{
    return cbc(0, out, out_max, out_len, key, iv, in, n);
}

/*
 * A key is used in one direction almost always (a Noise transport cipher
 * only seals or only opens), so each direction's context, about 1 KiB of
 * OpenSSL state, is keyed on its first use: a server holding many
 * connections pays for the directions it uses.
 */
struct pc_gcm {
    EVP_CIPHER_CTX *enc;
    EVP_CIPHER_CTX *dec;
    uint8_t key[32];
};

int pc_gcm_new(pc_gcm **out, const uint8_t key[32])
{
    int rc;
    GUARD_INIT();
    pc_gcm *g = calloc(1, sizeof *g);
    ENSURE(g != NULL, PARLEY_ERR_NOMEM);
    memcpy(g->key, key, sizeof g->key);
    *out = g;
    g = NULL;
    rc = PARLEY_OK;
out:
    pc_gcm_free(g);
    return rc;
}

/* The context of one direction, keyed once; each message then only sets its nonce. */
static EVP_CIPHER_CTX *gcm_ctx(pc_gcm *g, int enc)
{
    EVP_CIPHER_CTX **c = enc ? &g->enc : &g->dec;
    if (*c != NULL)
        return *c;
    EVP_CIPHER_CTX *n = EVP_CIPHER_CTX_new();
    if (n == NULL)
        return NULL;
    int ok = enc ? EVP_EncryptInit_ex2(n, pc_cipher_aes256_gcm, g->key, NULL, NULL)
                 : EVP_DecryptInit_ex2(n, pc_cipher_aes256_gcm, g->key, NULL, NULL);
    if (ok != 1) {
        EVP_CIPHER_CTX_free(n);
        return NULL;
    }
    *c = n;
    return n;
}

void pc_gcm_free(pc_gcm *g)
{
    if (g == NULL)
        return;
    EVP_CIPHER_CTX_free(g->enc); /* OpenSSL cleanses the key schedule */
    EVP_CIPHER_CTX_free(g->dec);
    pc_wipe(g->key, sizeof g->key);
    free(g);
}

int pc_gcm_seal(pc_gcm *g, uint8_t *out, const uint8_t nonce[PC_GCM_NONCE_LEN], const uint8_t *ad,
                size_t ad_len, const uint8_t *in, size_t n)
{
    int l = 0;
    EVP_CIPHER_CTX *c = gcm_ctx(g, 1);
    if (c == NULL)
        return PARLEY_ERR_CRYPTO;
    if (n > INT_MAX || ad_len > INT_MAX)
        return PARLEY_ERR_INVALID_ARG;
    if (EVP_EncryptInit_ex2(c, NULL, NULL, nonce, NULL) != 1)
        return PARLEY_ERR_CRYPTO;
    if (ad_len > 0 && EVP_EncryptUpdate(c, NULL, &l, ad, (int)ad_len) != 1)
        return PARLEY_ERR_CRYPTO;
    if (n > 0 && EVP_EncryptUpdate(c, out, &l, in, (int)n) != 1)
        return PARLEY_ERR_CRYPTO;
    if (EVP_EncryptFinal_ex(c, out + n, &l) != 1)
        return PARLEY_ERR_CRYPTO;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, PC_GCM_TAG_LEN, out + n) != 1)
        return PARLEY_ERR_CRYPTO;
    return PARLEY_OK;
}

int pc_gcm_open(pc_gcm *g, uint8_t *out, const uint8_t nonce[PC_GCM_NONCE_LEN], const uint8_t *ad,
                size_t ad_len, const uint8_t *in, size_t n)
{
    int l = 0;
    uint8_t tag[PC_GCM_TAG_LEN];
    EVP_CIPHER_CTX *c = gcm_ctx(g, 0);
    if (c == NULL)
        return PARLEY_ERR_CRYPTO;
    if (n < PC_GCM_TAG_LEN)
        return PARLEY_ERR_NOISE_DECRYPT;
    if (n > INT_MAX || ad_len > INT_MAX)
        return PARLEY_ERR_INVALID_ARG;
    size_t clen = n - PC_GCM_TAG_LEN;
    memcpy(tag, in + clen, PC_GCM_TAG_LEN);
    if (EVP_DecryptInit_ex2(c, NULL, NULL, nonce, NULL) != 1)
        return PARLEY_ERR_CRYPTO;
    if (ad_len > 0 && EVP_DecryptUpdate(c, NULL, &l, ad, (int)ad_len) != 1)
        return PARLEY_ERR_CRYPTO;
    if (clen > 0 && EVP_DecryptUpdate(c, out, &l, in, (int)clen) != 1)
        return PARLEY_ERR_CRYPTO;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, PC_GCM_TAG_LEN, tag) != 1)
        return PARLEY_ERR_CRYPTO;
    if (EVP_DecryptFinal_ex(c, out + clen, &l) != 1) {
        pc_wipe(out, clen); /* never release unauthenticated plaintext */
        return PARLEY_ERR_NOISE_DECRYPT;
    }
    return PARLEY_OK;
}

int pc_aes256_gcm_seal(uint8_t *out, const uint8_t key[32], const uint8_t nonce[PC_GCM_NONCE_LEN],
                       const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t n)
{
    pc_gcm *g;
    int rc = pc_gcm_new(&g, key);
    if (rc < 0)
        return rc;
    rc = pc_gcm_seal(g, out, nonce, ad, ad_len, in, n);
    pc_gcm_free(g);
    return rc;
}

int pc_aes256_gcm_open(uint8_t *out, const uint8_t key[32], const uint8_t nonce[PC_GCM_NONCE_LEN],
                       const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t n)
{
    pc_gcm *g;
    int rc = pc_gcm_new(&g, key);
    if (rc < 0)
        return rc;
    rc = pc_gcm_open(g, out, nonce, ad, ad_len, in, n);
    pc_gcm_free(g);
    return rc;
}
