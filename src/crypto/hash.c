/* SHA-2, HMAC-SHA256 and HKDF-SHA256 (RFC 2104, RFC 5869). */
#include "crypto/crypto_internal.h"

#include <string.h>

/* One digest context per thread, reset per use: allocating one per call
 * costs as much as the hash of a short Signal message. */
static _Thread_local EVP_MD_CTX *tl_md;

static EVP_MD_CTX *md_ctx(void)
{
    if (tl_md == NULL)
        tl_md = EVP_MD_CTX_new();
    return tl_md;
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

int pc_sha512_parts(uint8_t out[PC_SHA512_LEN], const pc_part *parts, size_t count)
{
    if (pc_init() < 0)
        return PARLEY_ERR_CRYPTO;
    return digest_parts(pc_md_sha512, out, parts, count);
}

#define HMAC_BLOCK 64

int pc_hmac_sha256_parts(uint8_t out[PC_SHA256_LEN], const uint8_t *key, size_t key_len,
                         const pc_part *parts, size_t count)
{
    int rc;
    uint8_t k0[HMAC_BLOCK] = {0}, pad[HMAC_BLOCK], inner[PC_SHA256_LEN];
    pc_part ip[1 + 8];

    PARLEY_MISUSE(count <= 8);
    if (key_len > HMAC_BLOCK) {
        GUARD(pc_sha256(k0, key, key_len));
    } else if (key_len > 0) {
        memcpy(k0, key, key_len);
    }
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k0[i] ^ 0x36;
    ip[0] = (pc_part){pad, HMAC_BLOCK};
    for (size_t i = 0; i < count; i++)
        ip[1 + i] = parts[i];
    GUARD(digest_parts(pc_md_sha256, inner, ip, 1 + count));
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k0[i] ^ 0x5c;
    pc_part op[2] = {{pad, HMAC_BLOCK}, {inner, sizeof inner}};
    GUARD(digest_parts(pc_md_sha256, out, op, 2));
    rc = PARLEY_OK;
out:
    pc_wipe(k0, sizeof k0);
    pc_wipe(pad, sizeof pad);
    pc_wipe(inner, sizeof inner);
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

    ENSURE(out_len <= 255 * PC_SHA256_LEN, PARLEY_ERR_INVALID_ARG);
    if (salt == NULL || salt_len == 0) {
        salt = zeros;
        salt_len = sizeof zeros;
    }
    /* Extract (RFC 5869 section 2.2) */
    GUARD(pc_hmac_sha256(prk, salt, salt_len, ikm, ikm_len));
    /* Expand (section 2.3): T(i) = HMAC(PRK, T(i-1) | info | i) */
    for (uint8_t i = 1; done < out_len; i++) {
        pc_part parts[3] = {{t, t_len}, {info, info_len}, {&i, 1}};
        GUARD(pc_hmac_sha256_parts(t, prk, sizeof prk, parts, 3));
        t_len = sizeof t;
        size_t take = out_len - done < t_len ? out_len - done : t_len;
        memcpy(out + done, t, take);
        done += take;
    }
    rc = PARLEY_OK;
out:
    pc_wipe(prk, sizeof prk);
    pc_wipe(t, sizeof t);
    return rc;
}
