/*
 * pc_cbc_hmac_seal / pc_cbc_hmac_open against the separate primitives
 * (pc_aes256_cbc_* and HMAC-SHA256 through OpenSSL): the same ciphertext,
 * MAC and plaintext for every plaintext length around the block sizes and
 * every head length around the hash block, and the same refusals; and the
 * short HMAC pair and HKDF against the general HMAC and HKDF.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "crypto/crypto.h"

#define MAXN 4200

static uint8_t pt[MAXN], ct[MAXN + 32], ct2[MAXN + 32], back[MAXN + 32], head[200];

static void one(size_t n, size_t head_len, const uint8_t key[32], const uint8_t iv[16],
                const uint8_t mk[32])
{
    size_t cl = 0, cl2 = 0, bl = 0, bl2 = 0;
    uint8_t mac[32], mac2[32], mac3[32];
    CHECK_RC(pc_aes256_cbc_encrypt(ct, sizeof ct, &cl, key, iv, pt, n), PARLEY_OK);
    const pc_part parts[2] = {{head, head_len}, {ct, cl}};
    CHECK_RC(pc_hmac_sha256_parts(mac, mk, 32, parts, 2), PARLEY_OK);
    CHECK_RC(pc_cbc_hmac_seal(ct2, sizeof ct2, &cl2, key, iv, mk, head, head_len, pt, n, mac2),
             PARLEY_OK);
    CHECK(cl == cl2 && memcmp(ct, ct2, cl) == 0);
    CHECK_MEM(mac, mac2, 32);
    CHECK_RC(pc_cbc_hmac_open(back, sizeof back, &bl, key, iv, mk, head, head_len, ct2, cl2, mac3),
             PARLEY_OK);
    CHECK_MEM(mac, mac3, 32);
    CHECK(bl == n && memcmp(back, pt, n) == 0);
    CHECK_RC(pc_aes256_cbc_decrypt(back, sizeof back, &bl2, key, iv, ct2, cl2), PARLEY_OK);
    CHECK(bl2 == n);
    /* One byte too little room. */
    CHECK_RC(pc_cbc_hmac_seal(ct2, cl - 1, &cl2, key, iv, mk, head, head_len, pt, n, mac2),
             PARLEY_ERR_BUFFER);
    CHECK_RC(pc_cbc_hmac_open(back, cl - 1, &bl, key, iv, mk, head, head_len, ct, cl, mac3),
             PARLEY_ERR_BUFFER);
}

int main(void)
{
    uint8_t key[32], iv[16], mk[32], mac[32], mac2[32];
    size_t bl = 0;
    CHECK_RC(pc_init(), PARLEY_OK);
    for (size_t i = 0; i < sizeof pt; i++)
        pt[i] = (uint8_t)(i * 31 + 7);
    for (size_t i = 0; i < sizeof head; i++)
        head[i] = (uint8_t)(i * 17 + 3);
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(i + 1);
        mk[i] = (uint8_t)(0xA0 ^ i);
    }
    for (int i = 0; i < 16; i++)
        iv[i] = (uint8_t)(0x50 + i);

    for (size_t n = 0; n <= 300; n++)
        one(n, 120, key, iv, mk);
    for (size_t h = 0; h <= 200; h++)
        one(100, h, key, iv, mk);
    static const size_t big[] = {1023, 1024, 2047, 4095, 4096, 4097, MAXN};
    for (size_t b = 0; b < sizeof big / sizeof big[0]; b++)
        for (size_t h = 60; h <= 70; h++)
            one(big[b], h, key, iv, mk);

    /* Refusals: the MAC is still that of head || ct, the plaintext wiped. */
    size_t cl = 0;
    CHECK_RC(pc_aes256_cbc_encrypt(ct, sizeof ct, &cl, key, iv, pt, 100), PARLEY_OK);
    const pc_part parts[2] = {{head, 67}, {ct, cl}};
    CHECK_RC(pc_hmac_sha256_parts(mac, mk, 32, parts, 2), PARLEY_OK);
    uint8_t wrong[32];
    memcpy(wrong, key, 32);
    wrong[0] ^= 1;
    /* A wrong key leaves garbage padding (almost surely): refused. */
    memset(back, 0xEE, sizeof back);
    int rc = pc_cbc_hmac_open(back, sizeof back, &bl, wrong, iv, mk, head, 67, ct, cl, mac2);
    CHECK_MEM(mac, mac2, 32);
    if (rc == PARLEY_ERR_DECODE) {
        uint8_t zero[112] = {0};
        CHECK_MEM(back, zero, cl);
    }
    /* A corrupted last pad byte. */
    {
        size_t l2 = 0;
        uint8_t tmp[MAXN + 32];
        CHECK_RC(pc_aes256_cbc_decrypt(tmp, sizeof tmp, &l2, key, iv, ct, cl), PARLEY_OK);
        CHECK(l2 == 100);
    }
    CHECK_RC(pc_cbc_hmac_open(back, sizeof back, &bl, key, iv, mk, head, 67, ct, cl - 1, mac2),
             PARLEY_ERR_DECODE);
    CHECK_RC(pc_cbc_hmac_open(back, sizeof back, &bl, key, iv, mk, head, 67, ct, 0, mac2),
             PARLEY_ERR_DECODE);
    /* Every pad value from 0 to 255 in the last block of a crafted
     * message: open agrees with OpenSSL on which are valid. */
    for (int v = 0; v < 256; v++) {
        uint8_t blk[32], enc[48], dummy[48];
        size_t el = 0, dl = 0, dl2 = 0;
        memset(blk, (uint8_t)v, sizeof blk);
        blk[20] = 5;
        /* Encrypt two raw blocks as the first two of a 3-block message and
         * drop the padding block: the last byte of blk becomes the pad. */
        CHECK_RC(pc_aes256_cbc_encrypt(enc, sizeof enc, &el, key, iv, blk, 32), PARLEY_OK);
        int want = pc_aes256_cbc_decrypt(dummy, sizeof dummy, &dl, key, iv, enc, 32);
        int got = pc_cbc_hmac_open(back, sizeof back, &dl2, key, iv, mk, head, 10, enc, 32, mac2);
        CHECK(want == got);
        CHECK(want != PARLEY_OK || dl == dl2);
    }
    /* The short HMAC pair and HKDF against the general functions. */
    for (int r = 0; r < 64; r++) {
        uint8_t k2[32], o1[32], o2[32], w1[32], w2[32];
        uint8_t m1 = (uint8_t)(r * 7), m2 = (uint8_t)(r * 13 + 1);
        for (int i = 0; i < 32; i++)
            k2[i] = (uint8_t)(r * 31 + i * 3);
        CHECK_RC(pc_hmac_sha256_two(o1, o2, k2, m1, m2), PARLEY_OK);
        CHECK_RC(pc_hmac_sha256(w1, k2, 32, &m1, 1), PARLEY_OK);
        CHECK_RC(pc_hmac_sha256(w2, k2, 32, &m2, 1), PARLEY_OK);
        CHECK_MEM(o1, w1, 32);
        CHECK_MEM(o2, w2, 32);
    }
    for (size_t il = 0; il <= 22; il++) {
        for (size_t ol = 1; ol <= 96; ol += (ol < 40 ? 1 : 7)) {
            uint8_t ikm[32], got[96], want[96];
            for (int i = 0; i < 32; i++)
                ikm[i] = (uint8_t)(il * 5 + ol + (size_t)i);
            memset(got, 0xAB, sizeof got);
            CHECK_RC(pc_hkdf_sha256_short(got, ol, ikm, head, il), PARLEY_OK);
            CHECK_RC(pc_hkdf_sha256(want, ol, NULL, 0, ikm, 32, head, il), PARLEY_OK);
            CHECK_MEM(got, want, ol);
            CHECK(ol == 96 || got[ol] == 0xAB);
        }
    }
    {
        uint8_t ikm[32] = {1}, o[97];
        CHECK_RC(pc_hkdf_sha256_short(o, 97, ikm, head, 3), PARLEY_ERR_INVALID_ARG);
        CHECK_RC(pc_hkdf_sha256_short(o, 32, ikm, head, 23), PARLEY_ERR_INVALID_ARG);
    }
    TEST_MAIN_END();
}
