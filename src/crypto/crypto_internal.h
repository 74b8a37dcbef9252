#ifndef PARLEY_CRYPTO_INTERNAL_H
#define PARLEY_CRYPTO_INTERNAL_H

#include "crypto/crypto.h"
#include "util/safety.h"
#include <openssl/evp.h>

extern EVP_MD *pc_md_sha256;
extern EVP_MD *pc_md_sha512;
extern EVP_CIPHER *pc_cipher_aes256_cbc;
extern EVP_CIPHER *pc_cipher_aes256_gcm;

#define GUARD_INIT()                                                                               \
    do {                                                                                           \
        if (pc_init() < 0)                                                                         \
            return PARLEY_ERR_CRYPTO;                                                              \
    } while (0)

#endif
