/*
 * Known-answer tests for the crypto facade (src/crypto/crypto.h): the RFC
 * and NIST vectors every implementation of these primitives must meet.
 * XEdDSA, safety-number and sender-key vectors from libsignal live in
 * test_xeddsa.c, test_fingerprint.c and test_group.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "crypto/crypto.h"
#include "util/safety.h"

static size_t hx(uint8_t *out, size_t max, const char *hex)
{
    return check_unhex(out, max, hex);
}

/* RFC 7748 section 5.2: two single scalar multiplications. */
static void test_x25519_vectors(void)
{
    static const struct {
        const char *k, *u, *out;
    } v[] = {
        {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
         "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
         "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
        {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
         "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
         "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
    };
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(v); i++) {
        uint8_t k[32], u[32], want[32], got[32];
        hx(k, 32, v[i].k);
        hx(u, 32, v[i].u);
        hx(want, 32, v[i].out);
        CHECK_RC(pc_x25519(got, k, u), PARLEY_OK);
        CHECK_MEM(got, want, 32);
    }
}

/* RFC 7748 section 5.2: k = u = 9, then k, u = X25519(k, u), k. */
static void test_x25519_iterated(void)
{
    uint8_t k[32] = {9}, u[32] = {9}, r[32], want1[32], want1000[32];
    hx(want1, 32, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    hx(want1000, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
    int ok = 1;
    for (int i = 1; i <= 1000; i++) {
        if (pc_x25519(r, k, u) != PARLEY_OK)
            ok = 0;
        memcpy(u, k, 32);
        memcpy(k, r, 32);
        if (i == 1)
            CHECK_MEM(k, want1, 32);
    }
    CHECK(ok);
    CHECK_MEM(k, want1000, 32);
}

/* RFC 7748 section 6.1: the Diffie-Hellman example, public keys included. */
static void test_x25519_dh(void)
{
    uint8_t a[32], b[32], A[32], B[32], want_A[32], want_B[32], k[32], s1[32], s2[32];
    hx(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    hx(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    hx(want_A, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    hx(want_B, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    hx(k, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    CHECK_RC(pc_x25519_public(A, a), PARLEY_OK);
    CHECK_RC(pc_x25519_public(B, b), PARLEY_OK);
    CHECK_MEM(A, want_A, 32);
    CHECK_MEM(B, want_B, 32);
    CHECK_RC(pc_x25519(s1, a, B), PARLEY_OK);
    CHECK_RC(pc_x25519(s2, b, A), PARLEY_OK);
    CHECK_MEM(s1, k, 32);
    CHECK_MEM(s2, k, 32);
    /* A small-order point gives an all-zero secret: refused. */
    uint8_t zero[32] = {0};
    CHECK_RC(pc_x25519(s1, a, zero), PARLEY_ERR_INVALID_KEY);
}

/* pc_x25519_public goes through the Edwards curve (libsodium's fixed-base
 * table and the birational map); it must equal the Montgomery ladder on
 * u = 9 for every private key, clamped or not, including the extremes. */
static void test_x25519_public_is_ladder(void)
{
    uint8_t nine[32] = {9};
    for (int i = 0; i < 258; i++) {
        uint8_t k[32], pub[32], want[32];
        if (i == 0)
            memset(k, 0, sizeof k);
        else if (i == 1)
            memset(k, 0xff, sizeof k);
        else
            CHECK_RC(pc_random(k, sizeof k), PARLEY_OK);
        CHECK_RC(pc_x25519(want, k, nine), PARLEY_OK);
        CHECK_RC(pc_x25519_public(pub, k), PARLEY_OK);
        CHECK_MEM(pub, want, 32);
    }
}

/* RFC 5869 appendix A, test cases 1-3 (SHA-256). */
static void test_hkdf(void)
{
    uint8_t ikm[80], salt[80], info[80], okm[82], want[82];
    /* Case 1 */
    hx(ikm, 22, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    hx(salt, 13, "000102030405060708090a0b0c");
    hx(info, 10, "f0f1f2f3f4f5f6f7f8f9");
    hx(want, 42,
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
    CHECK_RC(pc_hkdf_sha256(okm, 42, salt, 13, ikm, 22, info, 10), PARLEY_OK);
    CHECK_MEM(okm, want, 42);
    /* Case 2: long inputs, 82 bytes out. */
    for (int i = 0; i < 80; i++) {
        ikm[i] = (uint8_t)i;
        salt[i] = (uint8_t)(0x60 + i);
        info[i] = (uint8_t)(0xb0 + i);
    }
    hx(want, 82,
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
       "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
       "cc30c58179ec3e87c14c01d5c1f3434f1d87");
    CHECK_RC(pc_hkdf_sha256(okm, 82, salt, 80, ikm, 80, info, 80), PARLEY_OK);
    CHECK_MEM(okm, want, 82);
    /* Case 3: no salt, no info. */
    hx(ikm, 22, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    hx(want, 42,
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
    CHECK_RC(pc_hkdf_sha256(okm, 42, NULL, 0, ikm, 22, NULL, 0), PARLEY_OK);
    CHECK_MEM(okm, want, 42);
}

/* RFC 4231 test cases 1, 2 and 6 (HMAC-SHA-256). */
static void test_hmac(void)
{
    uint8_t key[131], mac[32], want[32];
    hx(key, 20, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    hx(want, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK_RC(pc_hmac_sha256(mac, key, 20, (const uint8_t *)"Hi There", 8), PARLEY_OK);
    CHECK_MEM(mac, want, 32);

    const char *m2 = "what do ya want for nothing?";
    hx(want, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_RC(pc_hmac_sha256(mac, (const uint8_t *)"Jefe", 4, (const uint8_t *)m2, strlen(m2)),
             PARLEY_OK);
    CHECK_MEM(mac, want, 32);
    /* The same through the parts interface, split mid-message. */
    const pc_part parts[] = {{(const uint8_t *)m2, 7}, {(const uint8_t *)m2 + 7, strlen(m2) - 7}};
    CHECK_RC(pc_hmac_sha256_parts(mac, (const uint8_t *)"Jefe", 4, parts, 2), PARLEY_OK);
    CHECK_MEM(mac, want, 32);

    memset(key, 0xaa, sizeof key);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    hx(want, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK_RC(pc_hmac_sha256(mac, key, 131, (const uint8_t *)m6, strlen(m6)), PARLEY_OK);
    CHECK_MEM(mac, want, 32);
}

/* NIST SP 800-38A F.2.5 (CBC-AES256.Encrypt). parley's CBC always adds
 * PKCS#7 padding, so the four NIST blocks come first and a full padding
 * block follows. */
static void test_aes_cbc(void)
{
    uint8_t key[32], iv[16], pt[64], want[64], ct[96], back[96];
    size_t n = 0, m = 0;
    hx(key, 32, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    hx(iv, 16, "000102030405060708090a0b0c0d0e0f");
    hx(pt, 64,
       "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
       "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
    hx(want, 64,
       "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
       "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b");
    CHECK_RC(pc_aes256_cbc_encrypt(ct, sizeof ct, &n, key, iv, pt, 64), PARLEY_OK);
    CHECK(n == 80);
    CHECK_MEM(ct, want, 64);
    CHECK_RC(pc_aes256_cbc_decrypt(back, sizeof back, &m, key, iv, ct, n), PARLEY_OK);
    CHECK(m == 64);
    CHECK_MEM(back, pt, 64);
    /* Negative: a ciphertext that is not a whole number of blocks, and one
     * whose padding is wrong, are refused. */
    CHECK(pc_aes256_cbc_decrypt(back, sizeof back, &m, key, iv, ct, 79) != PARLEY_OK);
    CHECK(pc_aes256_cbc_decrypt(back, sizeof back, &m, key, iv, ct, 64) != PARLEY_OK);
    /* Output space is checked. */
    CHECK(pc_aes256_cbc_encrypt(ct, 79, &n, key, iv, pt, 64) != PARLEY_OK);
}

/* The GCM specification's test case 16 (McGrew and Viega; also NIST's
 * gcmEncryptExtIV256 vectors): AES-256, 96-bit IV, AAD, 60-byte text. */
static void test_aes_gcm(void)
{
    uint8_t key[32], nonce[12], ad[20], pt[60], want[76], ct[76], back[60];
    hx(key, 32, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    hx(nonce, 12, "cafebabefacedbaddecaf888");
    hx(ad, 20, "feedfacedeadbeeffeedfacedeadbeefabaddad2");
    hx(pt, 60,
       "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
       "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    hx(want, 76,
       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
       "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
       "76fc6ece0f4e1768cddf8853bb2d551b");
    CHECK_RC(pc_aes256_gcm_seal(ct, key, nonce, ad, 20, pt, 60), PARLEY_OK);
    CHECK_MEM(ct, want, 76);
    CHECK_RC(pc_aes256_gcm_open(back, key, nonce, ad, 20, ct, 76), PARLEY_OK);
    CHECK_MEM(back, pt, 60);
    /* The keyed context agrees with the one-shot. */
    pc_gcm *g = NULL;
    CHECK_RC(pc_gcm_new(&g, key), PARLEY_OK);
    if (g != NULL) {
        uint8_t ct2[76];
        CHECK_RC(pc_gcm_seal(g, ct2, nonce, ad, 20, pt, 60), PARLEY_OK);
        CHECK_MEM(ct2, want, 76);
        CHECK_RC(pc_gcm_open(g, back, nonce, ad, 20, ct2, 76), PARLEY_OK);
        pc_gcm_free(g);
    }
    /* Any flipped bit of tag, ciphertext or AAD is refused. */
    ct[75] ^= 1;
    CHECK_RC(pc_aes256_gcm_open(back, key, nonce, ad, 20, ct, 76), PARLEY_ERR_NOISE_DECRYPT);
    ct[75] ^= 1;
    ct[0] ^= 0x80;
    CHECK_RC(pc_aes256_gcm_open(back, key, nonce, ad, 20, ct, 76), PARLEY_ERR_NOISE_DECRYPT);
    ct[0] ^= 0x80;
    ad[19] ^= 1;
    CHECK_RC(pc_aes256_gcm_open(back, key, nonce, ad, 20, ct, 76), PARLEY_ERR_NOISE_DECRYPT);
}

/* FIPS 180-2 "abc" for SHA-256 and SHA-512. */
static void test_sha(void)
{
    uint8_t d256[32], d512[64], w256[32], w512[64];
    hx(w256, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hx(w512, 64,
       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
       "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    CHECK_RC(pc_sha256(d256, (const uint8_t *)"abc", 3), PARLEY_OK);
    CHECK_MEM(d256, w256, 32);
    CHECK_RC(pc_sha512(d512, (const uint8_t *)"abc", 3), PARLEY_OK);
    CHECK_MEM(d512, w512, 64);
    const pc_part parts[] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"bc", 2}};
    CHECK_RC(pc_sha512_parts(d512, parts, 2), PARLEY_OK);
    CHECK_MEM(d512, w512, 64);
}

/* The table hash is stable in a process, spreads names, and is keyed: a
 * fresh process (a new key) hashes the same name differently. */
static void test_table_hash(void)
{
    char name[64];
    uint64_t h0 = pc_table_hash("alice@gk.example");
    CHECK(h0 == pc_table_hash("alice@gk.example"));
    CHECK(h0 != pc_table_hash("alice@gk.examplf"));
    unsigned buckets[64] = {0};
    for (int i = 0; i < 6400; i++) {
        snprintf(name, sizeof name, "user%d@birdy.example", i);
        buckets[pc_table_hash(name) & 63]++;
    }
    for (int i = 0; i < 64; i++)
        CHECK(buckets[i] > 40 && buckets[i] < 170); /* 100 expected */
    /* another process, another key */
    char self[512], cmd[600];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(sl > 0);
    self[sl > 0 ? sl : 0] = '\0';
    snprintf(cmd, sizeof cmd, "'%s' --table-hash", self);
    FILE *f = popen(cmd, "r");
    unsigned long long other = 0;
    CHECK(f != NULL);
    if (f != NULL) {
        CHECK(fscanf(f, "%llx", &other) == 1);
        CHECK(pclose(f) == 0);
    }
    CHECK(other != 0 && other != (unsigned long long)h0);
}

/* Threads that hash and encrypt and then end: their OpenSSL contexts are
 * freed with them (thread_ctx.c). Under the sanitizers' leak check a
 * context left behind fails this test; here every thread must also get the
 * same answers as the main thread. */
typedef struct {
    uint8_t digest[PC_SHA256_LEN], parts[PC_SHA256_LEN], back[64];
    size_t back_len;
    int rc;
} thread_result;

static void *hash_and_encrypt(void *arg)
{
    thread_result *r = arg;
    static const uint8_t key[32] = {7}, iv[16] = {9};
    static const uint8_t msg[] = "forty-two bytes of a short Signal message!";
    uint8_t ct[64];
    size_t ct_len = 0;
    pc_part parts[2] = {{msg, 10}, {msg + 10, sizeof msg - 10}};
    r->rc = pc_sha256(r->digest, msg, sizeof msg);
    if (r->rc == 0)
        r->rc = pc_sha256_parts(r->parts, parts, 2);
    if (r->rc == 0)
        r->rc = pc_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, key, iv, msg, sizeof msg);
    if (r->rc == 0)
        r->rc = pc_aes256_cbc_decrypt(r->back, sizeof r->back, &r->back_len, key, iv, ct, ct_len);
    return NULL;
}

static void test_thread_contexts(void)
{
    enum { N = 8 };
    thread_result mine, theirs[N];
    pthread_t t[N];
    hash_and_encrypt(&mine);
    CHECK_RC(mine.rc, PARLEY_OK);
    for (int round = 0; round < 3; round++) {
        memset(theirs, 0, sizeof theirs);
        int started = 0;
        for (int i = 0; i < N; i++)
            started += pthread_create(&t[i], NULL, hash_and_encrypt, &theirs[i]) == 0;
        CHECK(started == N);
        for (int i = 0; i < started; i++)
            pthread_join(t[i], NULL);
        int ok = 1;
        for (int i = 0; i < started; i++)
            ok &= theirs[i].rc == PARLEY_OK &&
                  memcmp(theirs[i].digest, mine.digest, sizeof mine.digest) == 0 &&
                  memcmp(theirs[i].parts, mine.digest, sizeof mine.digest) == 0 &&
                  theirs[i].back_len == mine.back_len &&
                  memcmp(theirs[i].back, mine.back, mine.back_len) == 0;
        CHECK(ok);
    }
}

int main(int argc, char **argv)
{
    if (pc_init() != PARLEY_OK)
        return 1;
    if (argc == 2 && strcmp(argv[1], "--table-hash") == 0) {
        printf("%llx\n", (unsigned long long)pc_table_hash("alice@gk.example"));
        return 0;
    }
    test_x25519_vectors();
    test_x25519_iterated();
    test_x25519_dh();
    test_x25519_public_is_ladder();
    test_hkdf();
    test_hmac();
    test_aes_cbc();
    test_aes_gcm();
    test_sha();
    test_table_hash();
    test_thread_contexts();
    TEST_MAIN_END();
}
