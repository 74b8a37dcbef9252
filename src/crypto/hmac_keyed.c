/*
 * HMAC-SHA256 with a keyed state (RFC 2104, section 4 note on precomputing
 * the padded-key compressions): the key is absorbed once into an inner
 * and an outer SHA-256 state, and every MAC under that key then costs only
 * the compressions of its own data plus one. The Double Ratchet computes
 * two or three MACs per chain key and HKDF three under one PRK, so this
 * removes a third of the SHA-256 work per message.
 *
 * OpenSSL's one-block-at-a-time SHA256_* interface keeps the hardware
 * (SHA extensions) path without the EVP dispatch per call; it is marked
 * deprecated in OpenSSL 3 but remains part of its API.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/crypto_internal.h"

#include <openssl/sha.h>
#include <string.h>

_Static_assert(sizeof(SHA256_CTX) * 2 <= sizeof(((pc_hmac_key *)0)->state),
               "pc_hmac_key too small for two SHA256_CTX");

#define BLOCK 64

int pc_hmac_key_init(pc_hmac_key *k, const uint8_t *key, size_t key_len)
{
    int rc;
    uint8_t k0[BLOCK] = {0}, pad[BLOCK];
    SHA256_CTX *in = (SHA256_CTX *)(void *)k->state;
    SHA256_CTX *outer = in + 1;
    if (key_len > BLOCK) {
        GUARD(pc_sha256(k0, key, key_len));
    } else if (key_len > 0) {
        memcpy(k0, key, key_len);
    }
    for (size_t i = 0; i < BLOCK; i++)
        pad[i] = k0[i] ^ 0x36;
    ENSURE(SHA256_Init(in) == 1 && SHA256_Update(in, pad, BLOCK) == 1, PARLEY_ERR_CRYPTO);
    for (size_t i = 0; i < BLOCK; i++)
        pad[i] = k0[i] ^ 0x5c;
    ENSURE(SHA256_Init(outer) == 1 && SHA256_Update(outer, pad, BLOCK) == 1, PARLEY_ERR_CRYPTO);
    rc = PARLEY_OK;
out:
    pc_wipe(k0, sizeof k0);
    pc_wipe(pad, sizeof pad);
    return rc;
}

int pc_hmac_keyed(uint8_t out[PC_SHA256_LEN], const pc_hmac_key *k, const pc_part *parts,
                  size_t count)
{
    int rc;
    SHA256_CTX c;
    uint8_t inner[PC_SHA256_LEN];
    memcpy(&c, k->state, sizeof c);
    for (size_t i = 0; i < count; i++)
        ENSURE(SHA256_Update(&c, parts[i].p, parts[i].n) == 1, PARLEY_ERR_CRYPTO);
    ENSURE(SHA256_Final(inner, &c) == 1, PARLEY_ERR_CRYPTO);
    memcpy(&c, k->state + sizeof(SHA256_CTX), sizeof c);
    ENSURE(SHA256_Update(&c, inner, sizeof inner) == 1 && SHA256_Final(out, &c) == 1,
           PARLEY_ERR_CRYPTO);
    rc = PARLEY_OK;
out:
    pc_wipe(&c, sizeof c);
    pc_wipe(inner, sizeof inner);
    return rc;
}

void pc_hmac_key_wipe(pc_hmac_key *k)
{
    pc_wipe(k, sizeof *k);
}
