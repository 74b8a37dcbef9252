/*
 * SHA-256 compression of whole 64-byte blocks for up to three independent
 * streams at once (src/crypto/sha256_ni.c). Internal to src/crypto.
 */
#ifndef PARLEY_CRYPTO_SHA256_BLOCKS_H
#define PARLEY_CRYPTO_SHA256_BLOCKS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* n blocks of each of k streams: st[s] (8 words, FIPS 180-4 H0..H7) is
 * updated with the blocks at d[s]. k may be 1 to 3 for the accelerated
 * path; any k works. */
void pc_sha256_blocks(uint32_t *const st[], const uint8_t *const d[], size_t k, size_t n);
/* n blocks of two streams side by side, as pc_sha256_blocks with k = 2,
 * ending early at a block boundary once *stop holds value (looked at every
 * few blocks, so another thread can ask for the streams back). Returns
 * the number of blocks compressed. */
size_t pc_sha256_blocks2_until(uint32_t *const st[2], const uint8_t *const d[2], size_t n,
                               const atomic_uint *stop, unsigned value);
/* Always OpenSSL's SHA256_Transform, for tests against the kernel. */
void pc_sha256_blocks_portable(uint32_t *const st[], const uint8_t *const d[], size_t k,
                               size_t n);
/* 1 when the SHA extensions kernel is in use. */
int pc_sha256_blocks_accelerated(void);

/*
 * AES-256 with AES-NI and the interleaved CBC + SHA-256 kernel, used by
 * the streaming CBC context (stream.c) when pc_aes_sha_available().
 * rk is the 240-byte expanded key; chain the CBC chaining value.
 */
int pc_aes_sha_available(void);
void pc_aes256_expand(uint8_t rk[240], const uint8_t key[32]);
void pc_aes256_cbc_enc_blocks(const uint8_t rk[240], uint8_t chain[16], const uint8_t *in,
                              uint8_t *out, size_t nblocks);
void pc_aes256_cbc_sha3(const uint8_t rk[240], uint8_t chain[16], const uint8_t *pt, uint8_t *ct,
                        size_t first, size_t m, uint32_t *const st[3], const uint8_t *const d[3]);
/*
 * CBC decryption with AES-NI (src/crypto/cbc_hmac.c), under the same
 * condition. dk is the 240-byte decryption schedule. dec_sha1 decrypts
 * `steps` 64-byte steps of ct into pt and, alongside step i, compresses
 * the 64 bytes at hp + 64 i into st, which must be plaintext already
 * written (by earlier steps or calls); pt may equal ct for dec_blocks.
 */
void pc_aes256_dec_expand(uint8_t dk[240], const uint8_t key[32]);
void pc_aes256_cbc_dec_blocks(const uint8_t dk[240], uint8_t chain[16], const uint8_t *ct,
                              uint8_t *pt, size_t nblocks);
void pc_aes256_cbc_dec_sha1(const uint8_t dk[240], uint8_t chain[16], const uint8_t *ct,
                            uint8_t *pt, size_t steps, uint32_t st[8], const uint8_t *hp);
/* Tests: 0 keeps pc_aes256_cbc_dec_sha1 on its 128-bit AES-NI code where
 * the CPU also has VAES (which it otherwise uses); 1 restores it. */
void pc_cbc_dec_vaes(int on);
/* Tests: 1 makes new streams and hashes take the portable (OpenSSL) paths. */
void pc_crypto_stream_portable(int on);

#endif
