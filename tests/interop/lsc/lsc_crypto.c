/*
 * The crypto provider libsignal-protocol-c asks its application for
 * (signal_protocol.h, struct signal_crypto_provider), written directly over
 * OpenSSL 3. It is deliberately independent of parley's own crypto facade:
 * lsc-peer is a reference to test parley against, so it must not share
 * parley's primitives.
 */
#include "lsc.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static int lsc_random(uint8_t *data, size_t len, void *user_data)
{
    (void)user_data;
    if (len > (size_t)INT32_MAX || RAND_bytes(data, (int)len) != 1)
        return SG_ERR_UNKNOWN;
    return SG_SUCCESS;
}

static int lsc_hmac_init(void **ctx, const uint8_t *key, size_t key_len, void *user_data)
{
    (void)user_data;
    /* Fetched once: a fetch per HMAC would cost the library more than
     * the HMAC itself, and the benchmark must not handicap it. */
    static EVP_MAC *mac;
    if (mac == NULL)
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    if (c == NULL)
        return SG_ERR_NOMEM;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(c, key, key_len, params) != 1) {
        EVP_MAC_CTX_free(c);
        return SG_ERR_UNKNOWN;
    }
    *ctx = c;
    return SG_SUCCESS;
}

static int lsc_hmac_update(void *ctx, const uint8_t *data, size_t len, void *user_data)
{
    (void)user_data;
    return EVP_MAC_update(ctx, data, len) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
}

static int lsc_hmac_final(void *ctx, signal_buffer **output, void *user_data)
{
    (void)user_data;
    uint8_t md[32];
    size_t n = 0;
    if (EVP_MAC_final(ctx, md, &n, sizeof md) != 1 || n != sizeof md)
        return SG_ERR_UNKNOWN;
    *output = signal_buffer_create(md, n);
    return *output != NULL ? SG_SUCCESS : SG_ERR_NOMEM;
}

static void lsc_hmac_cleanup(void *ctx, void *user_data)
{
    (void)user_data;
    EVP_MAC_CTX_free(ctx);
}

static int lsc_sha512_init(void **ctx, void *user_data)
{
    (void)user_data;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL)
        return SG_ERR_NOMEM;
    if (EVP_DigestInit_ex(c, EVP_sha512(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return SG_ERR_UNKNOWN;
    }
    *ctx = c;
    return SG_SUCCESS;
}

static int lsc_sha512_update(void *ctx, const uint8_t *data, size_t len, void *user_data)
{
    (void)user_data;
    return EVP_DigestUpdate(ctx, data, len) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
}

static int lsc_sha512_final(void *ctx, signal_buffer **output, void *user_data)
{
    (void)user_data;
    uint8_t md[64];
    unsigned int n = 0;
    /* libsignal-protocol-c reuses the context after final (fingerprint
     * iterations), so re-initialise it. */
    if (EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != sizeof md ||
        EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) != 1)
        return SG_ERR_UNKNOWN;
    *output = signal_buffer_create(md, n);
    return *output != NULL ? SG_SUCCESS : SG_ERR_NOMEM;
}

static void lsc_sha512_cleanup(void *ctx, void *user_data)
{
    (void)user_data;
    EVP_MD_CTX_free(ctx);
}

static const EVP_CIPHER *lsc_cipher(int cipher, size_t key_len)
{
    if (cipher == SG_CIPHER_AES_CBC_PKCS5) {
        switch (key_len) {
        case 16: return EVP_aes_128_cbc();
        case 24: return EVP_aes_192_cbc();
        case 32: return EVP_aes_256_cbc();
        default: return NULL;
        }
    }
    if (cipher == SG_CIPHER_AES_CTR_NOPADDING) {
        switch (key_len) {
        case 16: return EVP_aes_128_ctr();
        case 24: return EVP_aes_192_ctr();
        case 32: return EVP_aes_256_ctr();
        default: return NULL;
        }
    }
    return NULL;
}

/* One-shot AES in either direction; PKCS#7 padding for CBC (OpenSSL's
 * default), none for CTR. */
static int lsc_aes(signal_buffer **output, int cipher, int enc, const uint8_t *key, size_t key_len,
                   const uint8_t *iv, size_t iv_len, const uint8_t *in, size_t in_len)
{
    int rc = SG_ERR_UNKNOWN;
    const EVP_CIPHER *c = lsc_cipher(cipher, key_len);
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t *out = NULL;
    int n1 = 0, n2 = 0;
    if (c == NULL || iv_len != 16 || in_len > (size_t)INT32_MAX - 32)
        return SG_ERR_INVAL;
    ctx = EVP_CIPHER_CTX_new();
    out = malloc(in_len + 32);
    if (ctx == NULL || out == NULL) {
        rc = SG_ERR_NOMEM;
        goto out;
    }
    if (EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) != 1 ||
        EVP_CipherUpdate(ctx, out, &n1, in, (int)in_len) != 1 ||
        EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1)
        goto out;
    *output = signal_buffer_create(out, (size_t)n1 + (size_t)n2);
    rc = *output != NULL ? SG_SUCCESS : SG_ERR_NOMEM;
out:
    if (out != NULL) {
        OPENSSL_cleanse(out, in_len + 32);
        free(out);
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

static int lsc_encrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                       const uint8_t *iv, size_t iv_len, const uint8_t *plaintext,
                       size_t plaintext_len, void *user_data)
{
    (void)user_data;
    return lsc_aes(output, cipher, 1, key, key_len, iv, iv_len, plaintext, plaintext_len);
}

static int lsc_decrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                       const uint8_t *iv, size_t iv_len, const uint8_t *ciphertext,
                       size_t ciphertext_len, void *user_data)
{
    (void)user_data;
    return lsc_aes(output, cipher, 0, key, key_len, iv, iv_len, ciphertext, ciphertext_len);
}

void lsc_crypto_provider(signal_crypto_provider *p)
{
    memset(p, 0, sizeof *p);
    p->random_func = lsc_random;
    p->hmac_sha256_init_func = lsc_hmac_init;
    p->hmac_sha256_update_func = lsc_hmac_update;
    p->hmac_sha256_final_func = lsc_hmac_final;
    p->hmac_sha256_cleanup_func = lsc_hmac_cleanup;
    p->sha512_digest_init_func = lsc_sha512_init;
    p->sha512_digest_update_func = lsc_sha512_update;
    p->sha512_digest_final_func = lsc_sha512_final;
    p->sha512_digest_cleanup_func = lsc_sha512_cleanup;
    p->encrypt_func = lsc_encrypt;
    p->decrypt_func = lsc_decrypt;
}
