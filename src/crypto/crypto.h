/*
 * A thin facade over libsodium and OpenSSL: the only place in parley that
 * names either library's primitives. Keys are caller-owned fixed-size
 * arrays; nothing here keeps state between calls except the cached
 * algorithm handles set up by pc_init().
 */
#ifndef PARLEY_CRYPTO_H
#define PARLEY_CRYPTO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#define PC_X25519_LEN 32
#define PC_SHA256_LEN 32
#define PC_SHA512_LEN 64
#define PC_AES_BLOCK 16
#define PC_GCM_TAG_LEN 16
#define PC_GCM_NONCE_LEN 12

/* Idempotent and thread-safe; every entry point below calls it. */
PARLEY_MUST_CHECK int pc_init(void);

/* Randomness and memory hygiene. */
PARLEY_MUST_CHECK int pc_random(uint8_t *out, size_t n);
/* A keyed hash of a string for in-memory hash tables (SipHash-2-4 under a
 * key drawn once per process). */
uint64_t pc_table_hash(const char *s);
uint32_t pc_random_uniform(uint32_t upper_bound); /* 0 <= r < upper_bound */
void pc_wipe(void *p, size_t n);
/* 1 when equal; runs in time that depends on n only. */
int pc_ct_eq(const void *a, const void *b, size_t n);

/* Hashes. A part list lets callers hash a concatenation without copying. */
typedef struct {
    const uint8_t *p;
    size_t n;
} pc_part;

PARLEY_MUST_CHECK int pc_sha256(uint8_t out[PC_SHA256_LEN], const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int pc_sha512(uint8_t out[PC_SHA512_LEN], const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int pc_sha512_parts(uint8_t out[PC_SHA512_LEN], const pc_part *parts, size_t count);

/* HMAC-SHA256 over the concatenation of parts. */
PARLEY_MUST_CHECK int pc_hmac_sha256_parts(uint8_t out[PC_SHA256_LEN], const uint8_t *key,
                                           size_t key_len, const pc_part *parts, size_t count);
PARLEY_MUST_CHECK int pc_hmac_sha256(uint8_t out[PC_SHA256_LEN], const uint8_t *key,
                                     size_t key_len, const uint8_t *in, size_t n);

/* HKDF-SHA256 (RFC 5869); out_len <= 255 * 32. salt may be NULL (zeros). */
PARLEY_MUST_CHECK int pc_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt,
                                     size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                                     const uint8_t *info, size_t info_len);

/* X25519. pc_x25519 fails (PARLEY_ERR_INVALID_KEY) on an all-zero result. */
PARLEY_MUST_CHECK int pc_x25519_keygen(uint8_t pub[PC_X25519_LEN], uint8_t priv[PC_X25519_LEN]);
PARLEY_MUST_CHECK int pc_x25519_public(uint8_t pub[PC_X25519_LEN], const uint8_t priv[PC_X25519_LEN]);
PARLEY_MUST_CHECK int pc_x25519(uint8_t shared[PC_X25519_LEN], const uint8_t priv[PC_X25519_LEN],
                                const uint8_t pub[PC_X25519_LEN]);

/*
 * AES-256-CBC with PKCS#7 padding. Encrypt writes n + (16 - n % 16) bytes;
 * out_max must allow for it. Decrypt fails with PARLEY_ERR_DECODE on bad
 * length or padding.
 */
PARLEY_MUST_CHECK int pc_aes256_cbc_encrypt(uint8_t *out, size_t out_max, size_t *out_len,
                                            const uint8_t key[32], const uint8_t iv[16],
                                            const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int pc_aes256_cbc_decrypt(uint8_t *out, size_t out_max, size_t *out_len,
                                            const uint8_t key[32], const uint8_t iv[16],
                                            const uint8_t *in, size_t n);

/*
 * AES-256-GCM one-shot. Seal writes n + 16 bytes (ciphertext then tag).
 * Open takes n >= 16 and writes n - 16 bytes, or fails with
 * PARLEY_ERR_NOISE_DECRYPT and writes nothing usable.
 * For hot paths that reuse one key, see pc_gcm (below).
 */
PARLEY_MUST_CHECK int pc_aes256_gcm_seal(uint8_t *out, const uint8_t key[32],
                                         const uint8_t nonce[PC_GCM_NONCE_LEN], const uint8_t *ad,
                                         size_t ad_len, const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int pc_aes256_gcm_open(uint8_t *out, const uint8_t key[32],
                                         const uint8_t nonce[PC_GCM_NONCE_LEN], const uint8_t *ad,
                                         size_t ad_len, const uint8_t *in, size_t n);

/* A keyed AES-256-GCM context, so a transport does the key schedule once. */
typedef struct pc_gcm pc_gcm;
PARLEY_MUST_CHECK int pc_gcm_new(pc_gcm **out, const uint8_t key[32]);
PARLEY_MUST_CHECK int pc_gcm_seal(pc_gcm *g, uint8_t *out, const uint8_t nonce[PC_GCM_NONCE_LEN],
                                  const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int pc_gcm_open(pc_gcm *g, uint8_t *out, const uint8_t nonce[PC_GCM_NONCE_LEN],
                                  const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t n);
void pc_gcm_free(pc_gcm *g);

/* SHA-256 over the concatenation of parts (Noise MixHash without a copy). */
PARLEY_MUST_CHECK int pc_sha256_parts(uint8_t out[PC_SHA256_LEN], const pc_part *parts, size_t count);

/*
 * Ed25519 (RFC 8032) through libsodium, for certificates signed by an
 * offline root key. The private key is libsodium's 64-byte form (seed then
 * public key). Verify fails with PARLEY_ERR_INVALID_SIGNATURE.
 */
#define PC_ED25519_PUB_LEN 32
#define PC_ED25519_PRIV_LEN 64
#define PC_ED25519_SIG_LEN 64
PARLEY_MUST_CHECK int pc_ed25519_keygen(uint8_t pub[PC_ED25519_PUB_LEN],
                                        uint8_t priv[PC_ED25519_PRIV_LEN]);
PARLEY_MUST_CHECK int pc_ed25519_sign(uint8_t sig[PC_ED25519_SIG_LEN], const uint8_t *msg,
                                      size_t n, const uint8_t priv[PC_ED25519_PRIV_LEN]);
PARLEY_MUST_CHECK int pc_ed25519_verify(const uint8_t sig[PC_ED25519_SIG_LEN], const uint8_t *msg,
                                        size_t n, const uint8_t pub[PC_ED25519_PUB_LEN]);

/*
 * Edwards25519 scalar and group operations (src/crypto/edwards.c), for
 * XEdDSA. Scalars are 32-byte little-endian values reduced mod L, except
 * the 64-byte input of pc_ed25519_scalar_reduce (a SHA-512 output).
 * pc_ed25519_scalarmult_base fails with PARLEY_ERR_INVALID_KEY for n = 0.
 */
PARLEY_MUST_CHECK int pc_ed25519_scalarmult_base(uint8_t q[PC_ED25519_PUB_LEN], const uint8_t n[32]);
void pc_ed25519_scalar_reduce(uint8_t r[32], const uint8_t s[64]);
/* s = h * a + r (mod L). */
void pc_ed25519_scalar_muladd(uint8_t s[32], const uint8_t h[32], const uint8_t a[32],
                              const uint8_t r[32]);

/* Guarded memory for long-lived private keys (libsodium sodium_malloc:
 * guard pages, canary, mlock where allowed). Freed memory is wiped. */
void *pc_secure_alloc(size_t n);
void pc_secure_free(void *p);

/* HMAC-SHA256 under a key absorbed once (src/crypto/hmac_keyed.c): for
 * several MACs under one key (ratchet chain steps, HKDF expand). Wipe the
 * key state with pc_hmac_key_wipe. */
typedef struct {
    _Alignas(16) uint8_t state[256];
} pc_hmac_key;
PARLEY_MUST_CHECK int pc_hmac_key_init(pc_hmac_key *k, const uint8_t *key, size_t key_len);
PARLEY_MUST_CHECK int pc_hmac_keyed(uint8_t out[PC_SHA256_LEN], const pc_hmac_key *k,
                                    const pc_part *parts, size_t count);
void pc_hmac_key_wipe(pc_hmac_key *k);

/*
 * Streaming AES-256-CBC (PKCS#7) and SHA-256 / HMAC-SHA256 contexts
 * (src/crypto/stream.c), for media of any size in constant memory.
 * Update writes up to n + 16 bytes (out_max must allow for it); final
 * writes up to 16. A decrypting stream holds the last block back until
 * final, which checks and strips the padding (PARLEY_ERR_DECODE).
 * The hash finals wipe their context.
 */
typedef struct pc_cbc_stream pc_cbc_stream;
PARLEY_MUST_CHECK int pc_cbc_stream_new(pc_cbc_stream **out, int encrypt, const uint8_t key[32],
                                        const uint8_t iv[16]);
PARLEY_MUST_CHECK int pc_cbc_stream_update(pc_cbc_stream *s, uint8_t *out, size_t out_max,
                                           size_t *out_len, const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int pc_cbc_stream_final(pc_cbc_stream *s, uint8_t *out, size_t out_max,
                                          size_t *out_len);
void pc_cbc_stream_free(pc_cbc_stream *s);
typedef struct {
    _Alignas(16) uint8_t state[128];
} pc_sha256_ctx;
PARLEY_MUST_CHECK int pc_sha256_init(pc_sha256_ctx *c);
PARLEY_MUST_CHECK int pc_sha256_update(pc_sha256_ctx *c, const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int pc_sha256_final(pc_sha256_ctx *c, uint8_t out[PC_SHA256_LEN]);
typedef struct {
    _Alignas(16) uint8_t state[256];
} pc_hmac_sha256_ctx;
PARLEY_MUST_CHECK int pc_hmac_sha256_init(pc_hmac_sha256_ctx *c, const uint8_t *key,
                                          size_t key_len);
PARLEY_MUST_CHECK int pc_hmac_sha256_update(pc_hmac_sha256_ctx *c, const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int pc_hmac_sha256_final(pc_hmac_sha256_ctx *c, uint8_t out[PC_SHA256_LEN]);
/* Absorb d[i] (n[i] bytes) into c[i] for k <= 3 distinct contexts: the
 * same result as k updates, faster where the CPU can run them side by
 * side. pc_hmac_sha256_inner gives the HMAC's inner hash as such a
 * context (updating it is pc_hmac_sha256_update). */
PARLEY_MUST_CHECK int pc_sha256_update_multi(pc_sha256_ctx *const c[], const uint8_t *const d[],
                                             const size_t n[], size_t k);
pc_sha256_ctx *pc_hmac_sha256_inner(pc_hmac_sha256_ctx *c);
/* Absorb the same n bytes d into a and b side by side, ending early once
 * *stop holds value (another thread asking for b back, say), which is
 * seen within a few blocks. done[0] and done[1] say how many bytes went
 * into a and into b (they may differ by up to a block when the two held
 * different counts of buffered bytes). Returns 1 when it ended early,
 * 0 when all n went into both. */
int pc_sha256_update2_until(pc_sha256_ctx *a, pc_sha256_ctx *b, const uint8_t *d, size_t n,
                            const atomic_uint *stop, unsigned value, size_t done[2]);
/* pc_cbc_stream_update, and the output (over_out[i]) or the input
 * absorbed into h[i] for three distinct contexts: encryption and hashing
 * interleaved where the CPU has AES-NI and the SHA extensions. */
PARLEY_MUST_CHECK int pc_cbc_stream_update_hashed(pc_cbc_stream *s, uint8_t *out, size_t out_max,
                                                  size_t *out_len, const uint8_t *in, size_t n,
                                                  pc_sha256_ctx *const h[3],
                                                  const int over_out[3]);

/* pc_cbc_stream_update, and the output absorbed into h: for decryption,
 * the plaintext hash computed beside the decryption where the CPU has
 * AES-NI and the SHA extensions. */
PARLEY_MUST_CHECK int pc_cbc_stream_update_hash_out(pc_cbc_stream *s, uint8_t *out,
                                                    size_t out_max, size_t *out_len,
                                                    const uint8_t *in, size_t n, pc_sha256_ctx *h);

/*
 * Password hashing (src/crypto/pwhash.c): Argon2id through libsodium's
 * crypto_pwhash_str, for services with their own accounts. interactive
 * selects libsodium's INTERACTIVE limits (tests, logins on small hosts)
 * instead of MODERATE. Verify fails with PARLEY_ERR_INVALID_SIGNATURE on
 * a wrong password and PARLEY_ERR_DECODE on a malformed stored string.
 */
#define PC_PWHASH_STR_LEN 128
PARLEY_MUST_CHECK int pc_pwhash_str(char out[PC_PWHASH_STR_LEN], const char *password, size_t n,
                                    int interactive);
PARLEY_MUST_CHECK int pc_pwhash_verify(const char *stored, const char *password, size_t n);

/*
 * AES-256-CBC (PKCS#7) together with HMAC-SHA256(mac_key, head || ct), in
 * one interleaved pass where the CPU has AES and SHA instructions
 * (src/crypto/cbc_hmac.c): encrypt-then-MAC as Signal messages use it.
 * Seal writes n + (16 - n % 16) bytes of ciphertext and the 32-byte MAC.
 * Open always computes the MAC over head || ct first; it then decrypts
 * into pt (pt_max >= n) and fails with PARLEY_ERR_DECODE on a bad length
 * or padding (pt then wiped). The caller compares the MAC before it uses
 * the plaintext or the padding verdict. No output may overlap an input.
 */
PARLEY_MUST_CHECK int pc_cbc_hmac_seal(uint8_t *ct, size_t ct_max, size_t *ct_len,
                                       const uint8_t key[32], const uint8_t iv[16],
                                       const uint8_t mac_key[32], const uint8_t *head,
                                       size_t head_len, const uint8_t *pt, size_t n,
                                       uint8_t mac[PC_SHA256_LEN]);
PARLEY_MUST_CHECK int pc_cbc_hmac_open(uint8_t *pt, size_t pt_max, size_t *pt_len,
                                       const uint8_t key[32], const uint8_t iv[16],
                                       const uint8_t mac_key[32], const uint8_t *head,
                                       size_t head_len, const uint8_t *ct, size_t n,
                                       uint8_t mac[PC_SHA256_LEN]);

/*
 * The short HMACs of a Double Ratchet chain step (src/crypto/cbc_hmac.c):
 * out1 = HMAC-SHA256(key, m1) and out2 = HMAC-SHA256(key, m2) for one-byte
 * messages; and HKDF-SHA256 (RFC 5869) with the default (zero) salt of a
 * 32-byte IKM, info_len <= 22 and out_len <= 96 (else
 * PARLEY_ERR_INVALID_ARG). Computed side by side with the CPU's SHA
 * extensions where present.
 */
PARLEY_MUST_CHECK int pc_hmac_sha256_two(uint8_t out1[PC_SHA256_LEN], uint8_t out2[PC_SHA256_LEN],
                                         const uint8_t key[32], uint8_t m1, uint8_t m2);
PARLEY_MUST_CHECK int pc_hkdf_sha256_short(uint8_t *out, size_t out_len, const uint8_t ikm[32],
                                           const uint8_t *info, size_t info_len);

#endif
