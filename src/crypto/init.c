/* Library start-up, randomness, wiping and constant-time comparison. */
#include "crypto/crypto_internal.h"

#include <pthread.h>
#include <string.h>
#include <sodium.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = PARLEY_ERR_CRYPTO;

EVP_MD *pc_md_sha256;
EVP_MD *pc_md_sha512;
EVP_CIPHER *pc_cipher_aes256_cbc;
EVP_CIPHER *pc_cipher_aes256_gcm;
static uint8_t table_key[crypto_shorthash_KEYBYTES];

static void do_init(void)
{
    if (sodium_init() < 0)
        return;
    randombytes_buf(table_key, sizeof table_key);
    /* Fetch algorithm handles once: implicit fetches on every call cost
     * more than hashing a short message. */
    pc_md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    pc_md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    pc_cipher_aes256_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    pc_cipher_aes256_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (pc_md_sha256 && pc_md_sha512 && pc_cipher_aes256_cbc && pc_cipher_aes256_gcm)
        init_rc = PARLEY_OK;
}

int pc_init(void)
{
    pthread_once(&once, do_init);
    return init_rc;
}

int pc_random(uint8_t *out, size_t n)
{
    if (pc_init() < 0)
        return PARLEY_ERR_CRYPTO;
    randombytes_buf(out, n);
    return PARLEY_OK;
}

uint32_t pc_random_uniform(uint32_t upper_bound)
{
    if (pc_init() < 0)
        abort();
    return randombytes_uniform(upper_bound);
}

void pc_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        sodium_memzero(p, n);
}

int pc_ct_eq(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

uint64_t pc_table_hash(const char *s)
{
    /* SipHash under a key drawn at start-up: names chosen by remote users
     * (third-party accounts) cannot be made to collide in one bucket. */
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v = 0;
    if (pc_init() < 0) /* the key; once initialised, a load and a branch */
        return 0;
    crypto_shorthash(h, (const unsigned char *)s, strlen(s), table_key);
    for (size_t i = 0; i < sizeof h; i++)
        v = v << 8 | h[i];
    return v;
}
