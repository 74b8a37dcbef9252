/* SHA-2, HMAC-SHA256 and HKDF-SHA256 (RFC 2104, RFC 5869). */
#include "crypto/crypto_internal.h"

#include <string.h>

/* One digest context per thread, reset per use: allocating one per call
 * costs as much as the hash of a short Signal message. */
static EVP_MD_CTX *md_ctx(void)
{
    pc_thread_ctx *t = pc_thread_ctx_get();
    if (t == NULL)
        return NULL;
    if (t->md == NULL)
        t->md = EVP_MD_CTX_new();
    return t->md;
}

static int digest_parts(const EVP_MD *md, uint8_t *out, const pc_part *parts, size_t count)
{
    if (pc_init() < 0)
        return PARLEY_ERR_CRYPTO;
    EVP_MD_CTX *c = md_ctx();
    if (c == NULL)
        return PARLEY_ERR_NOMEM;
    if (EVP_DigestInit_ex2(c, md, NULL) != 1)
        return PARLEY_ERR_CRYPTO;
    for (size_t i = 0; i < count; i++)
        if (parts[i].n > 0 && EVP_DigestUpdate(c, parts[i].p, parts[i].n) != 1)
            return PARLEY_ERR_CRYPTO;
    if (EVP_DigestFinal_ex(c, out, NULL) != 1)
        return PARLEY_ERR_CRYPTO;
    return PARLEY_OK;
}

int pc_sha256(uint8_t out[PC_SHA256_LEN], const uint8_t *in, size_t n)
{
    pc_part p = {in, n};
    if (pc_init() < 0)
        return PARLEY_ERR_CRYPTO;
    return digest_parts(pc_md_sha256, out, &p, 1);
}

int pc_sha512(uint8_t out[PC_SHA512_LEN], const uint8_t *in, size_t n)
{
    pc_part p = {in, n};
    return pc_sha512_parts(out, &p, 1);
}

/* Over a list of parts, so Noise's MixHash(h || data) needs no copy. */
int pc_sha256_parts(uint8_t out[PC_SHA256_LEN], const pc_part *parts, size_t count)
{
    if (pc_init() < 0)
        return PARLEY_ERR_CRYPTO;
    return digest_parts(pc_md_sha256, out, parts, count);
}

int pc_sha512_parts(uint8_t out[PC_SHA512_LEN], const pc_part *parts, size_t count)
{
    if (pc_init() < 0)
        return PARLEY_ERR_CRYPTO;
    return digest_parts(pc_md_sha512, out, parts, count);
}

/*
 * HMAC and HKDF go through the keyed state of hmac_keyed.c: OpenSSL's
 * SHA256_* functions without the EVP dispatch per part, and in HKDF the
 * PRK absorbed once for all its expansion blocks (RFC 5869 section 2.3)
 * instead of once per block.
 */
int pc_hmac_sha256_parts(uint8_t out[PC_SHA256_LEN], const uint8_t *key, size_t key_len,
                         const pc_part *parts, size_t count)
{
    int rc;
    pc_hmac_key k;
    GUARD(pc_hmac_key_init(&k, key, key_len));
    GUARD(pc_hmac_keyed(out, &k, parts, count));
    rc = PARLEY_OK;
out:
    pc_hmac_key_wipe(&k);
    return rc;
}

int pc_hmac_sha256(uint8_t out[PC_SHA256_LEN], const uint8_t *key, size_t key_len,
                   const uint8_t *in, size_t n)
{
    pc_part p = {in, n};
    return pc_hmac_sha256_parts(out, key, key_len, &p, 1);
}

int pc_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    int rc;
    static const uint8_t zeros[PC_SHA256_LEN];
    uint8_t prk[PC_SHA256_LEN], t[PC_SHA256_LEN];
    size_t t_len = 0, done = 0;
    pc_hmac_key k;
    const pc_part ikm_part = {ikm, ikm_len};

    pc_wipe(&k, sizeof k);
    ENSURE(out_len <= 255 * PC_SHA256_LEN, PARLEY_ERR_INVALID_ARG);
    if (salt == NULL || salt_len == 0) {
        salt = zeros;
        salt_len = sizeof zeros;
    }
    /* Extract (RFC 5869 section 2.2) */
    GUARD(pc_hmac_key_init(&k, salt, salt_len));
    GUARD(pc_hmac_keyed(prk, &k, &ikm_part, 1));
    /* Expand (section 2.3): T(i) = HMAC(PRK, T(i-1) | info | i) */
    GUARD(pc_hmac_key_init(&k, prk, sizeof prk));
    for (uint8_t i = 1; done < out_len; i++) {
        pc_part parts[3] = {{t, t_len}, {info, info_len}, {&i, 1}};
        GUARD(pc_hmac_keyed(t, &k, parts, 3));
        t_len = sizeof t;
        size_t take = out_len - done < t_len ? out_len - done : t_len;
        memcpy(out + done, t, take);
        done += take;
    }
    rc = PARLEY_OK;
out:
    pc_hmac_key_wipe(&k);
    pc_wipe(prk, sizeof prk);
    pc_wipe(t, sizeof t);
    return rc;
}
