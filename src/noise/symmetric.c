/*
 * CipherState and SymmetricState (Noise revision 34, sections 5.1 and 5.2)
 * for AESGCM and SHA256, and the transport cipher built on them.
 */
#include "noise/noise_internal.h"

#include <stdlib.h>
#include <string.h>
#include "util/safety.h"

/* Spec 12.4: 32 bits of zeros, then the 64-bit nonce big-endian. */
static void gcm_nonce(uint8_t out[PC_GCM_NONCE_LEN], uint64_t n)
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(n >> (56 - 8 * i));
}

void noise_cs_init_key(noise_cs *cs, const uint8_t k[PARLEY_NOISE_KEY_LEN])
{
    pc_gcm_free(cs->g);
    cs->g = NULL;
    memcpy(cs->k, k, PARLEY_NOISE_KEY_LEN);
    cs->has_k = 1;
    cs->n = 0;
}

void noise_cs_clear(noise_cs *cs)
{
    pc_gcm_free(cs->g);
    pc_wipe(cs, sizeof *cs);
}

static int cs_ctx(noise_cs *cs)
{
    if (cs->g == NULL)
        return pc_gcm_new(&cs->g, cs->k);
    return PARLEY_OK;
}

int noise_cs_encrypt(noise_cs *cs, const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t n,
                     uint8_t *out)
{
    int rc;
    uint8_t nonce[PC_GCM_NONCE_LEN];
    if (!cs->has_k) {
        if (n > 0 && out != in)
            memmove(out, in, n);
        return PARLEY_OK;
    }
    /* 2^64-1 is reserved for rekey (spec 5.1): never encrypt under it. */
    ENSURE(cs->n != UINT64_MAX, PARLEY_ERR_NOISE_NONCE_EXHAUSTED);
    GUARD(cs_ctx(cs));
    gcm_nonce(nonce, cs->n);
    GUARD(pc_gcm_seal(cs->g, out, nonce, ad, ad_len, in, n));
    cs->n++;
    rc = PARLEY_OK;
out:
    return rc;
}

int noise_cs_decrypt(noise_cs *cs, const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t n,
                     uint8_t *out)
{
    int rc;
    uint8_t nonce[PC_GCM_NONCE_LEN];
    if (!cs->has_k) {
        if (n > 0 && out != in)
            memmove(out, in, n);
        return PARLEY_OK;
    }
    ENSURE(cs->n != UINT64_MAX, PARLEY_ERR_NOISE_NONCE_EXHAUSTED);
    ENSURE(n >= PC_GCM_TAG_LEN, PARLEY_ERR_NOISE_DECRYPT);
    GUARD(cs_ctx(cs));
    gcm_nonce(nonce, cs->n);
    GUARD(pc_gcm_open(cs->g, out, nonce, ad, ad_len, in, n));
    cs->n++;
    rc = PARLEY_OK;
out:
    return rc;
}

int noise_cs_rekey(noise_cs *cs)
{
    int rc;
    static const uint8_t zeros[PARLEY_NOISE_KEY_LEN];
    uint8_t nonce[PC_GCM_NONCE_LEN], out[PARLEY_NOISE_KEY_LEN + PC_GCM_TAG_LEN];
    uint64_t n = cs->n;

    ENSURE(cs->has_k, PARLEY_ERR_STATE);
    GUARD(cs_ctx(cs));
    /* REKEY(k) = ENCRYPT(k, maxnonce, zerolen, zeros) truncated to 32 bytes (spec 4.2). */
    gcm_nonce(nonce, UINT64_MAX);
    GUARD(pc_gcm_seal(cs->g, out, nonce, NULL, 0, zeros, sizeof zeros));
    noise_cs_init_key(cs, out);
    cs->n = n; /* rekey keeps the nonce (spec 11.3) */
    rc = PARLEY_OK;
out:
    pc_wipe(out, sizeof out);
    return rc;
}

int noise_ss_init(noise_ss *ss, const char *protocol_name)
{
    size_t len = strlen(protocol_name);
    memset(ss, 0, sizeof *ss);
    /* Spec 5.2: the name itself when it fits in HASHLEN, else its hash. */
    if (len <= PARLEY_NOISE_HASH_LEN) {
        memcpy(ss->h, protocol_name, len);
    } else {
        int rc = pc_sha256(ss->h, (const uint8_t *)protocol_name, len);
        if (rc < 0)
            return rc;
    }
    memcpy(ss->ck, ss->h, sizeof ss->ck);
    return PARLEY_OK;
}

void noise_ss_clear(noise_ss *ss)
{
    noise_cs_clear(&ss->cs);
    pc_wipe(ss, sizeof *ss);
}

/* HKDF of spec 4.3 with two or three outputs. */
static int noise_hkdf(const uint8_t ck[PARLEY_NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                      uint8_t o1[32], uint8_t o2[32], uint8_t *o3)
{
    int rc;
    uint8_t temp[PC_SHA256_LEN];
    static const uint8_t b1 = 1, b2 = 2, b3 = 3;

    GUARD(pc_hmac_sha256(temp, ck, PARLEY_NOISE_HASH_LEN, ikm, ikm_len));
    GUARD(pc_hmac_sha256(o1, temp, sizeof temp, &b1, 1));
    pc_part p2[2] = {{o1, 32}, {&b2, 1}};
    GUARD(pc_hmac_sha256_parts(o2, temp, sizeof temp, p2, 2));
    if (o3 != NULL) {
        pc_part p3[2] = {{o2, 32}, {&b3, 1}};
        GUARD(pc_hmac_sha256_parts(o3, temp, sizeof temp, p3, 2));
    }
    rc = PARLEY_OK;
out:
    pc_wipe(temp, sizeof temp);
    return rc;
}

int noise_ss_mix_key(noise_ss *ss, const uint8_t *ikm, size_t n)
{
    int rc;
    uint8_t ck[32], k[32];
    GUARD(noise_hkdf(ss->ck, ikm, n, ck, k, NULL));
    memcpy(ss->ck, ck, sizeof ck);
    noise_cs_init_key(&ss->cs, k); /* HASHLEN 32: no truncation */
    rc = PARLEY_OK;
out:
    pc_wipe(ck, sizeof ck);
    pc_wipe(k, sizeof k);
    return rc;
}

int noise_ss_mix_hash(noise_ss *ss, const uint8_t *data, size_t n)
{
    pc_part parts[2] = {{ss->h, sizeof ss->h}, {data, n}};
    return pc_sha256_parts(ss->h, parts, 2);
}

int noise_ss_mix_key_and_hash(noise_ss *ss, const uint8_t *ikm, size_t n)
{
    int rc;
    uint8_t ck[32], th[32], k[32];
    GUARD(noise_hkdf(ss->ck, ikm, n, ck, th, k));
    memcpy(ss->ck, ck, sizeof ck);
    GUARD(noise_ss_mix_hash(ss, th, sizeof th));
    noise_cs_init_key(&ss->cs, k);
    rc = PARLEY_OK;
out:
    pc_wipe(ck, sizeof ck);
    pc_wipe(th, sizeof th);
    pc_wipe(k, sizeof k);
    return rc;
}

int noise_ss_encrypt_and_hash(noise_ss *ss, const uint8_t *in, size_t n, uint8_t *out,
                              size_t *out_len)
{
    int rc;
    GUARD(noise_cs_encrypt(&ss->cs, ss->h, sizeof ss->h, in, n, out));
    *out_len = n + (ss->cs.has_k ? PC_GCM_TAG_LEN : 0);
    GUARD(noise_ss_mix_hash(ss, out, *out_len));
    rc = PARLEY_OK;
out:
    return rc;
}

int noise_ss_decrypt_and_hash(noise_ss *ss, const uint8_t *in, size_t n, uint8_t *out,
                              size_t *out_len)
{
    int rc;
    uint8_t h[PARLEY_NOISE_HASH_LEN];
    /* The ciphertext is hashed after decryption with the old h as AD. */
    memcpy(h, ss->h, sizeof h);
    GUARD(noise_ss_mix_hash(ss, in, n));
    GUARD(noise_cs_decrypt(&ss->cs, h, sizeof h, in, n, out));
    *out_len = n - (ss->cs.has_k ? PC_GCM_TAG_LEN : 0);
    rc = PARLEY_OK;
out:
    return rc;
}

int noise_ss_split(noise_ss *ss, uint8_t k1[PARLEY_NOISE_KEY_LEN], uint8_t k2[PARLEY_NOISE_KEY_LEN])
{
    return noise_hkdf(ss->ck, NULL, 0, k1, k2, NULL);
}

/* Transport ciphers. */

int noise_cipher_from_key(parley_noise_cipher **out, const uint8_t k[PARLEY_NOISE_KEY_LEN])
{
    int rc;
    parley_noise_cipher *c = calloc(1, sizeof *c);
    ENSURE(c != NULL, PARLEY_ERR_NOMEM);
    noise_cs_init_key(&c->cs, k);
    GUARD(cs_ctx(&c->cs)); /* key schedule now, not on the first message */
    *out = c;
    c = NULL;
    rc = PARLEY_OK;
out:
    parley_noise_cipher_free(c);
    return rc;
}

int parley_noise_cipher_encrypt(parley_noise_cipher *c, const uint8_t *ad, size_t ad_len,
                                const uint8_t *in, size_t n, uint8_t *out, size_t out_max,
                                size_t *out_len)
{
    int rc;
    PARLEY_MISUSE(c != NULL && out != NULL && out_len != NULL && (in != NULL || n == 0));
    ENSURE(n <= PARLEY_NOISE_MAX_MSG - PARLEY_NOISE_TAG_LEN, PARLEY_ERR_FRAME_TOO_LARGE);
    ENSURE(out_max >= n + PARLEY_NOISE_TAG_LEN, PARLEY_ERR_BUFFER);
    GUARD(noise_cs_encrypt(&c->cs, ad, ad_len, in, n, out));
    *out_len = n + PARLEY_NOISE_TAG_LEN;
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_noise_cipher_decrypt(parley_noise_cipher *c, const uint8_t *ad, size_t ad_len,
                                const uint8_t *in, size_t n, uint8_t *out, size_t out_max,
                                size_t *out_len)
{
    int rc;
    PARLEY_MISUSE(c != NULL && out != NULL && out_len != NULL && (in != NULL || n == 0));
    ENSURE(n <= PARLEY_NOISE_MAX_MSG, PARLEY_ERR_FRAME_TOO_LARGE);
    ENSURE(n >= PARLEY_NOISE_TAG_LEN, PARLEY_ERR_NOISE_DECRYPT);
    ENSURE(out_max >= n - PARLEY_NOISE_TAG_LEN, PARLEY_ERR_BUFFER);
    GUARD(noise_cs_decrypt(&c->cs, ad, ad_len, in, n, out));
    *out_len = n - PARLEY_NOISE_TAG_LEN;
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_noise_cipher_rekey(parley_noise_cipher *c)
{
    PARLEY_MISUSE(c != NULL);
    return noise_cs_rekey(&c->cs);
}

uint64_t parley_noise_cipher_nonce(const parley_noise_cipher *c)
{
    return c->cs.n;
}

void parley_noise_cipher_set_nonce(parley_noise_cipher *c, uint64_t n)
{
    c->cs.n = n;
}

void noise_cipher_trim(parley_noise_cipher *c)
{
    /* The key stays; its expanded schedule is made again on next use. */
    if (c != NULL && c->cs.g != NULL) {
        pc_gcm_free(c->cs.g);
        c->cs.g = NULL;
    }
}

void parley_noise_cipher_free(parley_noise_cipher *c)
{
    if (c == NULL)
        return;
    noise_cs_clear(&c->cs);
    free(c);
}
