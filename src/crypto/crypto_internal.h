#ifndef PARLEY_CRYPTO_INTERNAL_H
#define PARLEY_CRYPTO_INTERNAL_H

#include "crypto/crypto.h"
#include "util/safety.h"
#include <openssl/evp.h>

extern EVP_MD *pc_md_sha256;
extern EVP_MD *pc_md_sha512;
extern EVP_CIPHER *pc_cipher_aes256_cbc;
extern EVP_CIPHER *pc_cipher_aes256_gcm;

/* A thread's OpenSSL contexts, made on first use and freed when the thread
 * ends (thread_ctx.c). NULL when memory runs out. */
typedef struct {
    EVP_MD_CTX *md;         /* hash.c */
    EVP_CIPHER_CTX *cbc[2]; /* aes.c: decryption, encryption */
} pc_thread_ctx;

pc_thread_ctx *pc_thread_ctx_get(void);

#define GUARD_INIT()                                                                               \
    do {                                                                                           \
        if (pc_init() < 0)                                                                         \
            return PARLEY_ERR_CRYPTO;                                                              \
    } while (0)

#endif
