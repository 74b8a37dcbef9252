/* SHA-256 over a list of parts, so Noise's MixHash(h || data) needs no copy. */
#include "crypto/crypto_internal.h"

int pc_sha256_parts(uint8_t out[PC_SHA256_LEN], const pc_part *parts, size_t count)
{
    GUARD_INIT();
    /* One context per thread, reset per use, as in hash.c. */
    pc_thread_ctx *t = pc_thread_ctx_get();
    if (t != NULL && t->md256 == NULL)
        t->md256 = EVP_MD_CTX_new();
    EVP_MD_CTX *c = t != NULL ? t->md256 : NULL;
    if (c == NULL)
        return PARLEY_ERR_NOMEM;
    if (EVP_DigestInit_ex2(c, pc_md_sha256, NULL) != 1)
        return PARLEY_ERR_CRYPTO;
    for (size_t i = 0; i < count; i++)
        if (parts[i].n > 0 && EVP_DigestUpdate(c, parts[i].p, parts[i].n) != 1)
            return PARLEY_ERR_CRYPTO;
    if (EVP_DigestFinal_ex(c, out, NULL) != 1)
        return PARLEY_ERR_CRYPTO;
    return PARLEY_OK;
}
