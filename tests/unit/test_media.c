/*
 * Media encryption (include/parley/media.h): known answers computed
 * independently by test_media_kat.py (Python hashlib/hmac + `openssl enc`),
 * incremental-equals-one-shot with random chunking, and refusals of
 * tampered, truncated, extended and mislabelled blobs; the decryptor on
 * two cores against the decryptor on one.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "crypto/crypto.h"
#include "crypto/sha256_blocks.h"
#include "media/hasher.h"
#include "media/media_internal.h"
#include "parley/media.h"
#include "util/safety.h"

typedef struct {
    const char *name;
    uint8_t key_start, key_fill; /* key = start, start+1, ... or all fill */
    parley_media_type type;
    size_t plain_len;
    const char *plain; /* NULL: pattern() */
    const char *plain_sha, *blob_sha, *blob;
} kat;

/* Output of tests/unit/test_media_kat.py. */
static const kat kats[] = {
    {"empty_image", 0, 0, PARLEY_MEDIA_IMAGE, 0, "",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "2de9c226e425145071e24845ace76bf7ff6e63928bcd94068b117cd005e43bcc",
     "5a16bcea09b3154f83db592f3993400dab84661a5ca51255b5a9"},
    {"block_document", 0, 0, PARLEY_MEDIA_DOCUMENT, 16, "0123456789abcdef",
     "9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f",
     "4e5e5cbb278d0571709ca267c4cad13dbf85da179aef738ce0badc0620e72853",
     "359de41051eceb5a5a30121e4532add917030b1a050ed7e23d4085d2d26df683b6a336f5de3c38760da9"},
    {"text_audio", 1, 0, PARLEY_MEDIA_AUDIO, 30, "parley media known answer test",
     "3b658c61bf74173b94e059c5613e1bda95d5a60166f69cdee7f4a209985b9acf",
     "1c7f6a7d1ab432dc7a157755d7c9e61a677c99b7bdbf8a5f20c48be9150daaeb",
     "710701f805570b3b6d1ed82bcacfeee5917af3ddd8ece68656bd05e401daa5c5c12157d3542be692c6ad"},
    {"pattern_video", 0, 0xA5, PARLEY_MEDIA_VIDEO, 100003, NULL,
     "3b1d6731138fc44f6de1267ee21c50c8320d23d75fa6515f63e9588cb262ba7a",
     "1720a81af7781a7aafe3ee7a3a4d91f2144cf719970b599f512155607816eef0", NULL},
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n == 0 ? 0 : (uint32_t)(rng_state % n);
}

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd(256);
}

static void kat_key(const kat *k, uint8_t key[32])
{
    for (int i = 0; i < 32; i++)
        key[i] = k->key_fill ? k->key_fill : (uint8_t)(k->key_start + i);
}

static uint8_t *kat_plain(const kat *k)
{
    uint8_t *p = malloc(k->plain_len + 1);
    for (size_t i = 0; i < k->plain_len; i++)
        p[i] = k->plain ? (uint8_t)k->plain[i] : (uint8_t)((i * 7 + 3) % 251);
    return p;
}

/* Encrypt in chunks (max_chunk 0: one shot); returns the blob. */
static uint8_t *encrypt_chunked(const uint8_t key[32], parley_media_type type, const uint8_t *p,
                                size_t n, size_t max_chunk, size_t *blob_len,
                                parley_media_digest *dg)
{
    parley_media_encryptor *e = NULL;
    size_t cap = (size_t)parley_media_encrypted_size(n) + PARLEY_MEDIA_SLACK * 2 + n;
    uint8_t *blob = malloc(cap);
    size_t off = 0, pos = 0, l;
    if (parley_media_encryptor_new(&e, key, type) != PARLEY_OK)
        return NULL;
    while (pos < n || (pos == 0 && n == 0 && max_chunk > 0 && off == 0 && rnd(2))) {
        size_t c = max_chunk ? 1 + rnd((uint32_t)max_chunk) : n - pos;
        if (c > n - pos)
            c = n - pos;
        if (parley_media_encryptor_update(e, p + pos, c, blob + off, cap - off, &l) != 0)
            goto fail;
        off += l;
        pos += c;
        if (n == 0)
            break;
    }
    if (parley_media_encryptor_final(e, blob + off, cap - off, &l, dg) != 0)
        goto fail;
    off += l;
    parley_media_encryptor_free(e);
    *blob_len = off;
    return blob;
fail:
    parley_media_encryptor_free(e);
    free(blob);
    return NULL;
}

/*
 * Decrypt in chunks. Returns the final result; *released counts the
 * plaintext bytes update returned before final (unauthenticated).
 */
static int decrypt_chunked(const uint8_t key[32], parley_media_type type, const uint8_t *b,
                           size_t n, size_t max_chunk, const uint8_t *esha, const uint8_t *psha,
                           uint64_t size, uint8_t *plain, size_t plain_cap, size_t *plain_len,
                           size_t *released, parley_media_digest *dg)
{
    parley_media_decryptor *d = NULL;
    size_t off = 0, pos = 0, l;
    int rc = parley_media_decryptor_new(&d, key, type, esha, psha, size);
    if (rc != 0)
        return rc;
    uint8_t *tmp = malloc(n + PARLEY_MEDIA_SLACK + 64);
    while (pos < n) {
        size_t c = max_chunk ? 1 + rnd((uint32_t)max_chunk) : n - pos;
        if (c > n - pos)
            c = n - pos;
        rc = parley_media_decryptor_update(d, b + pos, c, tmp, c + PARLEY_MEDIA_SLACK, &l);
        if (rc != 0)
            goto out;
        if (off + l > plain_cap) {
            rc = -999;
            goto out;
        }
        memcpy(plain + off, tmp, l);
        off += l;
        pos += c;
    }
    *released = off;
    rc = parley_media_decryptor_final(d, tmp, PARLEY_MEDIA_FINAL_MAX, &l, dg);
    if (rc == 0) {
        memcpy(plain + off, tmp, l);
        off += l;
    } else {
        CHECK(l == 0); /* nothing released on failure */
    }
    *plain_len = off;
out:
    free(tmp);
    parley_media_decryptor_free(d);
    return rc;
}

static void test_kats(void)
{
    for (size_t i = 0; i < (sizeof(kats) / sizeof(kats[0])); i++) {
        const kat *k = &kats[i];
        uint8_t key[32], psha[32], esha[32], want[64];
        parley_media_digest dg;
        kat_key(k, key);
        uint8_t *p = kat_plain(k);
        check_unhex(psha, 32, k->plain_sha);
        check_unhex(esha, 32, k->blob_sha);
        for (size_t chunk = 0; chunk <= 4096; chunk = chunk ? chunk * 8 : 1) {
            size_t bl = 0;
            uint8_t *b = encrypt_chunked(key, k->type, p, k->plain_len, chunk, &bl, &dg);
            CHECK(b != NULL);
            if (b == NULL)
                continue;
            CHECK(bl == parley_media_encrypted_size(k->plain_len));
            CHECK(dg.encrypted_size == bl && dg.plaintext_size == k->plain_len);
            CHECK_MEM(dg.plaintext_sha256, psha, 32);
            CHECK_MEM(dg.encrypted_sha256, esha, 32);
            if (k->blob != NULL) {
                size_t wl = check_unhex(want, sizeof want, k->blob);
                CHECK(wl == bl);
                CHECK_MEM(b, want, wl);
            }
            uint8_t *back = malloc(k->plain_len + 32);
            size_t bk = 0, rel = 0;
            CHECK_RC(decrypt_chunked(key, k->type, b, bl, chunk, esha, psha, k->plain_len, back,
                                     k->plain_len + 32, &bk, &rel, &dg),
                     PARLEY_OK);
            CHECK(bk == k->plain_len);
            CHECK(k->plain_len == 0 || memcmp(back, p, k->plain_len) == 0);
            /* the last block is held back until the MAC verifies */
            CHECK(rel + 16 > k->plain_len && rel <= k->plain_len - k->plain_len % 16);
            free(back);
            free(b);
        }
        free(p);
    }
}

static void test_info_strings(void)
{
    CHECK(strcmp(parley_media_info(PARLEY_MEDIA_IMAGE), "parley image keys") == 0);
    CHECK(strcmp(parley_media_info(PARLEY_MEDIA_VIDEO), "parley video keys") == 0);
    CHECK(strcmp(parley_media_info(PARLEY_MEDIA_AUDIO), "parley audio keys") == 0);
    CHECK(strcmp(parley_media_info(PARLEY_MEDIA_DOCUMENT), "parley document keys") == 0);
    CHECK(strcmp(parley_media_info((parley_media_type)77), "parley document keys") == 0);
    CHECK(parley_media_encrypted_size(0) == 26);
    CHECK(parley_media_encrypted_size(15) == 26);
    CHECK(parley_media_encrypted_size(16) == 42);
}

/* Incremental equals one-shot, both ways, for random sizes and chunkings. */
static void test_properties(void)
{
    uint8_t key[32];
    CHECK_RC(parley_media_key_generate(key), PARLEY_OK);
    for (int iter = 0; iter < 200; iter++) {
        size_t n = rnd(iter < 100 ? 70 : 9000);
        parley_media_type type = (parley_media_type)rnd(4);
        uint8_t *p = malloc(n + 1);
        fill(p, n);
        parley_media_digest d1, d2, d3;
        size_t l1 = 0, l2 = 0;
        uint8_t *b1 = encrypt_chunked(key, type, p, n, 0, &l1, &d1);
        uint8_t *b2 = encrypt_chunked(key, type, p, n, 1 + rnd(300), &l2, &d2);
        CHECK(b1 != NULL && b2 != NULL && l1 == l2 && memcmp(b1, b2, l1) == 0);
        CHECK(memcmp(&d1, &d2, sizeof d1) == 0);
        uint8_t *back = malloc(n + 64);
        size_t bl = 0, rel = 0;
        CHECK_RC(decrypt_chunked(key, type, b1, l1, 1 + rnd(100), d1.encrypted_sha256,
                                 d1.plaintext_sha256, n, back, n + 64, &bl, &rel, &d3),
                 PARLEY_OK);
        CHECK(bl == n && (n == 0 || memcmp(back, p, n) == 0));
        CHECK(memcmp(&d1, &d3, sizeof d1) == 0);
        /* the wrong media type derives other keys: refused */
        CHECK_RC(decrypt_chunked(key, (parley_media_type)((type + 1) % 4), b1, l1, 0, NULL, NULL,
                                 PARLEY_MEDIA_SIZE_UNKNOWN, back, n + 64, &bl, &rel, NULL),
                 PARLEY_ERR_INVALID_MAC);
        free(back);
        free(b1);
        free(b2);
        free(p);
    }
}

static void test_refusals(void)
{
    uint8_t key[32], other[32];
    CHECK_RC(parley_media_key_generate(key), PARLEY_OK);
    CHECK_RC(parley_media_key_generate(other), PARLEY_OK);
    size_t n = 77;
    uint8_t p[77];
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)i;
    parley_media_digest dg;
    size_t bl = 0, out_len = 0, rel = 0;
    uint8_t *b = encrypt_chunked(key, PARLEY_MEDIA_IMAGE, p, n, 0, &bl, &dg);
    uint8_t *m = malloc(bl + 64);
    uint8_t back[256];
    CHECK(b != NULL && bl == 90);
    /* every single-bit flip anywhere in the blob, with and without hashes */
    for (size_t i = 0; i < bl; i++) {
        memcpy(m, b, bl);
        m[i] ^= (uint8_t)(1u << (i % 8));
        CHECK_RC(decrypt_chunked(key, PARLEY_MEDIA_IMAGE, m, bl, 1 + rnd(20), NULL, NULL,
                                 PARLEY_MEDIA_SIZE_UNKNOWN, back, sizeof back, &out_len, &rel,
                                 NULL),
                 PARLEY_ERR_INVALID_MAC);
        CHECK_RC(decrypt_chunked(key, PARLEY_MEDIA_IMAGE, m, bl, 0, dg.encrypted_sha256,
                                 dg.plaintext_sha256, n, back, sizeof back, &out_len, &rel, NULL),
                 PARLEY_ERR_INVALID_MAC);
    }
    /* every truncation */
    for (size_t t = 0; t < bl; t++) {
        CHECK_RC(decrypt_chunked(key, PARLEY_MEDIA_IMAGE, b, t, 1 + rnd(20), NULL, NULL,
                                 PARLEY_MEDIA_SIZE_UNKNOWN, back, sizeof back, &out_len, &rel,
                                 NULL),
                 PARLEY_ERR_INVALID_MAC);
    }
    /* extensions: refused at final without a size, as soon as they arrive
     * with one */
    size_t ext[] = {1, 10, 16, 26, 32};
    for (size_t i = 0; i < (sizeof(ext) / sizeof(ext[0])); i++) {
        memcpy(m, b, bl);
        fill(m + bl, ext[i]);
        CHECK_RC(decrypt_chunked(key, PARLEY_MEDIA_IMAGE, m, bl + ext[i], 7, NULL, NULL,
                                 PARLEY_MEDIA_SIZE_UNKNOWN, back, sizeof back, &out_len, &rel,
                                 NULL),
                 PARLEY_ERR_INVALID_MAC);
        parley_media_decryptor *d = NULL;
        CHECK_RC(parley_media_decryptor_new(&d, key, PARLEY_MEDIA_IMAGE, NULL, NULL, n),
                 PARLEY_OK);
        uint8_t tmp[256];
        size_t l;
        CHECK_RC(parley_media_decryptor_update(d, m, bl + ext[i], tmp, sizeof tmp, &l),
                 PARLEY_ERR_INVALID_MAC);
        CHECK_RC(parley_media_decryptor_final(d, tmp, sizeof tmp, &l, NULL), PARLEY_ERR_STATE);
        parley_media_decryptor_free(d);
    }
    /* an extended blob whose MAC was recomputed over the extra blocks is
     * still refused by the blob hash and the announced size */
    /* wrong key, wrong expected hashes, wrong size */
    CHECK_RC(decrypt_chunked(other, PARLEY_MEDIA_IMAGE, b, bl, 0, NULL, NULL,
                             PARLEY_MEDIA_SIZE_UNKNOWN, back, sizeof back, &out_len, &rel, NULL),
             PARLEY_ERR_INVALID_MAC);
    uint8_t bad[32];
    memcpy(bad, dg.encrypted_sha256, 32);
    bad[31] ^= 1;
    CHECK_RC(decrypt_chunked(key, PARLEY_MEDIA_IMAGE, b, bl, 0, bad, NULL,
                             PARLEY_MEDIA_SIZE_UNKNOWN, back, sizeof back, &out_len, &rel, NULL),
             PARLEY_ERR_INVALID_MAC);
    memcpy(bad, dg.plaintext_sha256, 32);
    bad[0] ^= 0x80;
    CHECK_RC(decrypt_chunked(key, PARLEY_MEDIA_IMAGE, b, bl, 0, NULL, bad,
                             PARLEY_MEDIA_SIZE_UNKNOWN, back, sizeof back, &out_len, &rel, NULL),
             PARLEY_ERR_INVALID_MAC);
    /* 78 pads to the same blob size as 77, so only the final check sees it */
    CHECK_RC(decrypt_chunked(key, PARLEY_MEDIA_IMAGE, b, bl, 0, NULL, NULL, n + 1, back,
                             sizeof back, &out_len, &rel, NULL),
             PARLEY_ERR_INVALID_MAC);
    CHECK_RC(decrypt_chunked(key, PARLEY_MEDIA_IMAGE, b, bl, 0, NULL, NULL, n - 20, back,
                             sizeof back, &out_len, &rel, NULL),
             PARLEY_ERR_INVALID_MAC);
    /* state and buffer misuse */
    parley_media_encryptor *e = NULL;
    uint8_t tmp[64];
    size_t l;
    CHECK_RC(parley_media_encryptor_new(&e, key, PARLEY_MEDIA_IMAGE), PARLEY_OK);
    CHECK_RC(parley_media_encryptor_update(e, p, 40, tmp, 40 + PARLEY_MEDIA_SLACK - 1, &l),
             PARLEY_ERR_BUFFER);
    CHECK_RC(parley_media_encryptor_final(e, tmp, 25, &l, &dg), PARLEY_ERR_BUFFER);
    CHECK_RC(parley_media_encryptor_final(e, tmp, sizeof tmp, &l, &dg), PARLEY_OK);
    CHECK_RC(parley_media_encryptor_final(e, tmp, sizeof tmp, &l, &dg), PARLEY_ERR_STATE);
    CHECK_RC(parley_media_encryptor_update(e, p, 1, tmp, sizeof tmp, &l), PARLEY_ERR_STATE);
    parley_media_encryptor_free(e);
    free(m);
    free(b);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    if (d != NULL)
        closedir(d);
    return n;
}

/* The file helpers: a verified file appears, a refused one leaves nothing. */
static void test_files(void)
{
    char dir[] = "/tmp/parley-media-XXXXXX";
    char plain[300], blob[300], outp[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(plain, sizeof plain, "%s/plain", dir);
    snprintf(blob, sizeof blob, "%s/blob", dir);
    snprintf(outp, sizeof outp, "%s/out", dir);
    size_t n = 3 * PARLEY_MEDIA_IO_CHUNK + 123;
    uint8_t *p = malloc(n);
    fill(p, n);
    int fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
    close(fd);
    uint8_t key[32];
    parley_media_digest dg, dg2;
    CHECK_RC(parley_media_key_generate(key), PARLEY_OK);
    int in = open(plain, O_RDONLY), out = open(blob, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK_RC(parley_media_encrypt_fd(in, out, key, PARLEY_MEDIA_VIDEO, &dg), PARLEY_OK);
    close(in);
    close(out);
    uint8_t want[32];
    CHECK_RC(pc_sha256(want, p, n), PARLEY_OK);
    CHECK_MEM(want, dg.plaintext_sha256, 32);
    in = open(blob, O_RDONLY);
    CHECK_RC(parley_media_decrypt_fd(in, outp, key, PARLEY_MEDIA_VIDEO, dg.encrypted_sha256,
                                     dg.plaintext_sha256, n, &dg2),
             PARLEY_OK);
    close(in);
    CHECK(memcmp(&dg, &dg2, sizeof dg) == 0);
    struct stat st;
    CHECK(stat(outp, &st) == 0 && (size_t)st.st_size == n);
    CHECK(count_entries(dir) == 3);
    unlink(outp);
    /* tamper with one byte in the middle of the blob */
    fd = open(blob, O_RDWR);
    uint8_t c;
    CHECK(pread(fd, &c, 1, 100000) == 1);
    c ^= 0x20;
    CHECK(pwrite(fd, &c, 1, 100000) == 1);
    close(fd);
    in = open(blob, O_RDONLY);
    CHECK_RC(parley_media_decrypt_fd(in, outp, key, PARLEY_MEDIA_VIDEO, dg.encrypted_sha256,
                                     dg.plaintext_sha256, n, NULL),
             PARLEY_ERR_INVALID_MAC);
    close(in);
    CHECK(stat(outp, &st) != 0);
    CHECK(count_entries(dir) == 2); /* no temporary file left behind */
    unlink(plain);
    unlink(blob);
    rmdir(dir);
    free(p);
}

/* The streaming primitives against the one-shot ones. */
static void test_stream_primitives(void)
{
    uint8_t data[5000], key[70], a[32], b[32];
    fill(data, sizeof data);
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)i;
    for (int iter = 0; iter < 20; iter++) {
        size_t n = rnd(sizeof data), kl = rnd(sizeof key);
        pc_sha256_ctx s;
        pc_hmac_sha256_ctx h;
        CHECK_RC(pc_sha256_init(&s), PARLEY_OK);
        CHECK_RC(pc_hmac_sha256_init(&h, key, kl), PARLEY_OK);
        for (size_t pos = 0; pos < n;) {
            size_t c = 1 + rnd(700);
            if (c > n - pos)
                c = n - pos;
            CHECK_RC(pc_sha256_update(&s, data + pos, c), PARLEY_OK);
            CHECK_RC(pc_hmac_sha256_update(&h, data + pos, c), PARLEY_OK);
            pos += c;
        }
        CHECK_RC(pc_sha256_final(&s, a), PARLEY_OK);
        CHECK_RC(pc_sha256(b, data, n), PARLEY_OK);
        CHECK_MEM(a, b, 32);
        CHECK_RC(pc_hmac_sha256_final(&h, a), PARLEY_OK);
        CHECK_RC(pc_hmac_sha256(b, key, kl, data, n), PARLEY_OK);
        CHECK_MEM(a, b, 32);
    }
    /* CBC stream against the one-shot, and a bad padding refused */
    uint8_t k[32] = {1}, iv[16] = {2}, ct1[5100], ct2[5100], pt[5100];
    size_t l1 = 0, l2 = 0, l;
    CHECK_RC(pc_aes256_cbc_encrypt(ct1, sizeof ct1, &l1, k, iv, data, 1000), PARLEY_OK);
    pc_cbc_stream *cs = NULL;
    CHECK_RC(pc_cbc_stream_new(&cs, 1, k, iv), PARLEY_OK);
    CHECK_RC(pc_cbc_stream_update(cs, ct2, sizeof ct2, &l, data, 333), PARLEY_OK);
    l2 = l;
    CHECK_RC(pc_cbc_stream_update(cs, ct2 + l2, 10, &l, data + 333, 667), PARLEY_ERR_BUFFER);
    CHECK_RC(pc_cbc_stream_update(cs, ct2 + l2, sizeof ct2 - l2, &l, data + 333, 667), PARLEY_OK);
    l2 += l;
    CHECK_RC(pc_cbc_stream_final(cs, ct2 + l2, sizeof ct2 - l2, &l), PARLEY_OK);
    l2 += l;
    pc_cbc_stream_free(cs);
    CHECK(l1 == l2 && memcmp(ct1, ct2, l1) == 0);
    /* CBC: flipping a bit of the previous ciphertext block flips the same
     * bit of the last plaintext block, so the pad byte 0x08 becomes 0x5d */
    ct1[l1 - 17] ^= 0x55;
    CHECK_RC(pc_cbc_stream_new(&cs, 0, k, iv), PARLEY_OK);
    CHECK_RC(pc_cbc_stream_update(cs, pt, sizeof pt, &l, ct1, l1), PARLEY_OK);
    CHECK(l == l1 - 16);
    CHECK_RC(pc_cbc_stream_final(cs, pt + l, sizeof pt - l, &l), PARLEY_ERR_DECODE);
    pc_cbc_stream_free(cs);
}

/* Three streams at once equal three streams one by one, for any lengths
 * and buffered offsets. */
static void test_multi(void)
{
    uint8_t data[3][9000], a[32], b[32];
    for (int s = 0; s < 3; s++)
        fill(data[s], sizeof data[s]);
    for (int iter = 0; iter < 50; iter++) {
        pc_sha256_ctx c[3];
        size_t pos[3] = {0, 0, 0}, len[3];
        for (int s = 0; s < 3; s++) {
            CHECK_RC(pc_sha256_init(&c[s]), PARLEY_OK);
            len[s] = rnd(sizeof data[s]);
        }
        while (pos[0] < len[0] || pos[1] < len[1] || pos[2] < len[2]) {
            pc_sha256_ctx *const cs[3] = {&c[0], &c[1], &c[2]};
            const uint8_t *d[3];
            size_t n[3];
            for (int s = 0; s < 3; s++) {
                n[s] = rnd(2000);
                if (n[s] > len[s] - pos[s])
                    n[s] = len[s] - pos[s];
                d[s] = data[s] + pos[s];
                pos[s] += n[s];
            }
            CHECK_RC(pc_sha256_update_multi(cs, d, n, 3), PARLEY_OK);
        }
        for (int s = 0; s < 3; s++) {
            CHECK_RC(pc_sha256_final(&c[s], a), PARLEY_OK);
            CHECK_RC(pc_sha256(b, data[s], len[s]), PARLEY_OK);
            CHECK_MEM(a, b, 32);
        }
    }
}

/* Sets *flag to 1 after a short, random spin: a request that lands
 * somewhere in the middle of the other thread's update. */
typedef struct {
    atomic_uint *flag;
    unsigned spins;
} stopper;

static void *stop_later(void *arg)
{
    stopper *st = arg;
    for (volatile unsigned i = 0; i < st->spins; i = i + 1)
        ;
    atomic_store(st->flag, 1);
    return NULL;
}

/*
 * Two streams that can be asked to stop (the second core of decryption
 * hands its stream back this way): whatever the point at which they stop,
 * each has absorbed exactly done[i] bytes, never past n, and finishing
 * each on its own from there gives the one-shot hash. The two may start
 * with different counts of buffered bytes, as an HMAC's inner hash and a
 * plain hash over the same bytes do.
 */
static void test_update2_until(void)
{
    enum { N = 300000 };
    uint8_t *data = malloc(N), pre[2][64], x[32], y[32];
    CHECK(data != NULL);
    if (data == NULL)
        return;
    fill(data, N);
    for (int iter = 0; iter < 120; iter++) {
        pc_sha256_ctx c[2];
        size_t pl[2] = {rnd(64), iter % 3 == 0 ? 0 : rnd(64)}, done[2] = {9, 9};
        size_t n = iter < 40 ? rnd(300) : rnd(N);
        atomic_uint flag;
        /* 0: never asked; 1: asked before the call; 2: asked during it */
        int mode = iter % 3;
        atomic_init(&flag, mode == 1 ? 1 : 0);
        for (int i = 0; i < 2; i++) {
            fill(pre[i], pl[i]);
            CHECK_RC(pc_sha256_init(&c[i]), PARLEY_OK);
            CHECK_RC(pc_sha256_update(&c[i], pre[i], pl[i]), PARLEY_OK);
        }
        pthread_t t;
        stopper sp = {&flag, (unsigned)rnd(200000)};
        int threaded = mode == 2 && pthread_create(&t, NULL, stop_later, &sp) == 0;
        int early = pc_sha256_update2_until(&c[0], &c[1], data, n, &flag, 1, done);
        if (threaded)
            pthread_join(t, NULL);
        CHECK(done[0] <= n && done[1] <= n);
        CHECK(early ? (done[0] < n || done[1] < n) : (done[0] == n && done[1] == n));
        if (mode == 0)
            CHECK(!early);
        /* asked before the call: no more than what fills the buffers, or
         * all of an input too short to give both a whole block */
        if (mode == 1)
            CHECK(done[0] < 128 && done[1] < 128);
        for (int i = 0; i < 2; i++) {
            pc_sha256_ctx one;
            CHECK_RC(pc_sha256_update(&c[i], data + done[i], n - done[i]), PARLEY_OK);
            CHECK_RC(pc_sha256_final(&c[i], x), PARLEY_OK);
            CHECK_RC(pc_sha256_init(&one), PARLEY_OK);
            CHECK_RC(pc_sha256_update(&one, pre[i], pl[i]), PARLEY_OK);
            CHECK_RC(pc_sha256_update(&one, data, n), PARLEY_OK);
            CHECK_RC(pc_sha256_final(&one, y), PARLEY_OK);
            CHECK_MEM(x, y, 32);
        }
    }
    free(data);
}

/*
 * CBC decryption on our own AES-NI code (with the plaintext hash beside
 * it) against OpenSSL's EVP: the same bytes released at the same calls,
 * the same verdict at final, the hash of exactly what was released.
 * Sizes and chunks cover the block held back, blocks straddling two
 * updates and runs long enough for the interleaved loop.
 */
static void test_cbc_decrypt_paths(void)
{
    enum { MAX = 40000 };
    uint8_t *pt = malloc(MAX), *ct = malloc(MAX + 32), *o1 = malloc(MAX + 64),
            *o2 = malloc(MAX + 64), *pre = malloc(64);
    CHECK(pt != NULL && ct != NULL && o1 != NULL && o2 != NULL && pre != NULL);
    for (int iter = 0; iter < 300 && pt != NULL && ct != NULL && o1 != NULL && o2 != NULL &&
                       pre != NULL;
         iter++) {
        uint8_t k[32], iv[16], h1[32], h2[32];
        size_t n = iter < 100 ? rnd(300) : rnd(MAX), cl = 0;
        fill(k, 32);
        fill(iv, 16);
        fill(pt, n);
        CHECK_RC(pc_aes256_cbc_encrypt(ct, MAX + 32, &cl, k, iv, pt, n), PARLEY_OK);
        /* some runs tampered (the padding most likely wrong) or cut short */
        int mode = (int)rnd(6);
        if (mode == 4)
            ct[cl - 1 - rnd(16)] ^= (uint8_t)(1 + rnd(255));
        if (mode == 5 && cl > 1)
            cl -= 1 + rnd((uint32_t)(cl < 20 ? cl - 1 : 20));
        pc_cbc_stream *own = NULL, *evp = NULL;
        pc_crypto_stream_portable(0);
        CHECK_RC(pc_cbc_stream_new(&own, 0, k, iv), PARLEY_OK);
        pc_crypto_stream_portable(1);
        CHECK_RC(pc_cbc_stream_new(&evp, 0, k, iv), PARLEY_OK);
        pc_crypto_stream_portable(0);
        /* the hash starts part way into a block */
        pc_sha256_ctx h;
        size_t pl = rnd(64);
        fill(pre, pl);
        CHECK_RC(pc_sha256_init(&h), PARLEY_OK);
        CHECK_RC(pc_sha256_update(&h, pre, pl), PARLEY_OK);
        size_t pos = 0, w1 = 0, w2 = 0, l1 = 0, l2 = 0;
        size_t maxc = rnd(3) == 0 ? 40 : rnd(2) ? 2000 : 20000;
        while (pos < cl) {
            size_t c = 1 + rnd((uint32_t)maxc);
            if (c > cl - pos)
                c = cl - pos;
            if (rnd(2))
                CHECK_RC(pc_cbc_stream_update_hash_out(own, o1 + w1, MAX + 64 - w1, &l1, ct + pos,
                                                       c, &h),
                         PARLEY_OK);
            else {
                CHECK_RC(pc_cbc_stream_update(own, o1 + w1, MAX + 64 - w1, &l1, ct + pos, c),
                         PARLEY_OK);
                CHECK_RC(pc_sha256_update(&h, o1 + w1, l1), PARLEY_OK);
            }
            CHECK_RC(pc_cbc_stream_update(evp, o2 + w2, MAX + 64 - w2, &l2, ct + pos, c),
                     PARLEY_OK);
            CHECK(l1 == l2);
            w1 += l1;
            w2 += l2;
            pos += c;
        }
        CHECK(w1 == w2 && memcmp(o1, o2, w1) == 0);
        CHECK_RC(pc_sha256_final(&h, h1), PARLEY_OK);
        pc_sha256_ctx ref;
        CHECK_RC(pc_sha256_init(&ref), PARLEY_OK);
        CHECK_RC(pc_sha256_update(&ref, pre, pl), PARLEY_OK);
        CHECK_RC(pc_sha256_update(&ref, o2, w2), PARLEY_OK);
        CHECK_RC(pc_sha256_final(&ref, h2), PARLEY_OK);
        CHECK_MEM(h1, h2, 32);
        int r1 = pc_cbc_stream_final(own, o1 + w1, MAX + 64 - w1, &l1);
        int r2 = pc_cbc_stream_final(evp, o2 + w2, MAX + 64 - w2, &l2);
        CHECK(r1 == r2);
        if (mode < 4)
            CHECK_RC(r1, PARLEY_OK);
        if (mode == 5 && cl % 16 != 0)
            CHECK_RC(r1, PARLEY_ERR_DECODE);
        if (r1 == PARLEY_OK && r2 == PARLEY_OK) {
            CHECK(l1 == l2 && memcmp(o1 + w1, o2 + w2, l1) == 0);
            if (mode < 4)
                CHECK(w1 + l1 == n && memcmp(o1, pt, n) == 0);
        }
        pc_cbc_stream_free(own);
        pc_cbc_stream_free(evp);
    }
    free(pt);
    free(ct);
    free(o1);
    free(o2);
    free(pre);
}

/* ---- decryption on two cores against one (src/media/hasher.c) ---------------- */

/* What a decryption did, update by update, to compare one run with
 * another. */
typedef struct {
    int rc_update;        /* first failing update's result, or 0 */
    size_t failed_at;     /* index of that update */
    int rc_final;         /* final's result (PARLEY_ERR_STATE after a failed update) */
    size_t updates;       /* updates made */
    size_t out_lens[512]; /* the first 512 updates' output lengths */
    uint8_t *plain;       /* everything released, update and final */
    size_t plain_len;
    size_t final_len;
    parley_media_digest dg;
    uint64_t splits;
} run_log;

/*
 * Decrypts b in chunks drawn from seed (the same seed, the same chunks):
 * sizes 1 + rnd(max_chunk), or exactly max_chunk when fixed. The split
 * mode is set for this decryptor only.
 */
static void run_split(run_log *r, pm_split_mode mode, const uint8_t key[32],
                      parley_media_type type, const uint8_t *b, size_t n, size_t max_chunk,
                      int fixed, uint64_t seed, const uint8_t *esha, const uint8_t *psha,
                      uint64_t size)
{
    parley_media_decryptor *d = NULL;
    uint64_t saved = rng_state;
    size_t pos = 0, l = 0, cap = n + PARLEY_MEDIA_SLACK + 64;
    uint8_t *tmp = malloc(cap);
    memset(r, 0, sizeof *r);
    r->plain = malloc(n + 64);
    rng_state = seed;
    pm_decrypt_split_mode(mode);
    CHECK_RC(parley_media_decryptor_new(&d, key, type, esha, psha, size), PARLEY_OK);
    pm_decrypt_split_mode(PM_SPLIT_AUTO);
    while (pos < n) {
        size_t c = fixed ? max_chunk : 1 + rnd((uint32_t)max_chunk);
        if (c > n - pos)
            c = n - pos;
        int rc = parley_media_decryptor_update(d, b + pos, c, tmp, c + PARLEY_MEDIA_SLACK, &l);
        if (r->updates < PARLEY_ARRAY_LEN(r->out_lens))
            r->out_lens[r->updates] = l;
        r->updates++;
        if (rc != PARLEY_OK) {
            r->rc_update = rc;
            r->failed_at = r->updates - 1;
            CHECK(l == 0);
            break;
        }
        memcpy(r->plain + r->plain_len, tmp, l);
        r->plain_len += l;
        pos += c;
    }
    r->splits = pm_decryptor_split_updates(d);
    r->rc_final = parley_media_decryptor_final(d, tmp, PARLEY_MEDIA_FINAL_MAX, &l, &r->dg);
    if (r->rc_final == PARLEY_OK) {
        memcpy(r->plain + r->plain_len, tmp, l);
        r->plain_len += l;
        r->final_len = l;
    } else {
        CHECK(l == 0); /* nothing released on failure */
    }
    parley_media_decryptor_free(d);
    free(tmp);
    rng_state = saved;
}

/* Same verdicts, same bytes released at the same updates, same digest. */
static void check_same_run(const run_log *a, const run_log *b)
{
    CHECK(a->rc_update == b->rc_update && a->failed_at == b->failed_at);
    CHECK(a->rc_final == b->rc_final);
    CHECK(a->updates == b->updates);
    size_t k = a->updates < PARLEY_ARRAY_LEN(a->out_lens) ? a->updates
                                                           : PARLEY_ARRAY_LEN(a->out_lens);
    CHECK(memcmp(a->out_lens, b->out_lens, k * sizeof a->out_lens[0]) == 0);
    CHECK(a->plain_len == b->plain_len && a->final_len == b->final_len);
    CHECK(a->plain_len == 0 || memcmp(a->plain, b->plain, a->plain_len) == 0);
    if (a->rc_final == PARLEY_OK && b->rc_final == PARLEY_OK)
        CHECK(memcmp(&a->dg, &b->dg, sizeof a->dg) == 0);
}

static void free_run(run_log *r)
{
    free(r->plain);
    r->plain = NULL;
}

/*
 * One blob, one chunking: decrypted on one core, on two cores for every
 * update (PM_SPLIT_ALWAYS), with the thresholds (PM_SPLIT_AUTO) and with
 * a thread that cannot start. Every run must match the one-core run, and
 * the two-core runs must really have run on two cores.
 */
static void split_case(const uint8_t key[32], parley_media_type type, const uint8_t *b, size_t bl,
                       size_t max_chunk, int fixed, const uint8_t *esha, const uint8_t *psha,
                       uint64_t size, const uint8_t *want, size_t want_len, int want_rc)
{
    run_log one, two, aut, nothread;
    uint64_t seed = rng_state | 1;
    run_split(&one, PM_SPLIT_NEVER, key, type, b, bl, max_chunk, fixed, seed, esha, psha, size);
    run_split(&two, PM_SPLIT_ALWAYS, key, type, b, bl, max_chunk, fixed, seed, esha, psha, size);
    run_split(&aut, PM_SPLIT_AUTO, key, type, b, bl, max_chunk, fixed, seed, esha, psha, size);
    run_split(&nothread, PM_SPLIT_START_FAILS, key, type, b, bl, max_chunk, fixed, seed, esha,
              psha, size);
    int verdict = one.rc_update != 0 ? one.rc_update : one.rc_final;
    CHECK_RC(verdict, want_rc);
    if (want_rc == PARLEY_OK && want != NULL)
        CHECK(one.plain_len == want_len &&
              (want_len == 0 || memcmp(one.plain, want, want_len) == 0));
    check_same_run(&one, &two);
    check_same_run(&one, &aut);
    check_same_run(&one, &nothread);
    CHECK(one.splits == 0 && nothread.splits == 0);
    /* ALWAYS splits every update that absorbs a byte: with 10 bytes held
     * back, any update of more than 10 bytes after the first, or a first
     * one of more than 10 */
    if (bl > PARLEY_MEDIA_MAC_LEN && (fixed ? max_chunk : 1) > PARLEY_MEDIA_MAC_LEN)
        CHECK(two.splits > 0);
    /* AUTO: only updates of PM_SPLIT_UPDATE_MIN or more, only for blobs of
     * PM_SPLIT_BLOB_MIN or more (as announced, else as seen) */
    uint64_t blob = size != PARLEY_MEDIA_SIZE_UNKNOWN ? parley_media_encrypted_size(size) : bl;
    if (fixed && max_chunk >= PM_SPLIT_UPDATE_MIN + PARLEY_MEDIA_MAC_LEN &&
        bl >= PM_SPLIT_BLOB_MIN + max_chunk && one.rc_update == 0)
        CHECK(aut.splits > 0 || !pm_hasher_useful());
    if (blob < PM_SPLIT_BLOB_MIN || (fixed && max_chunk < PM_SPLIT_UPDATE_MIN))
        CHECK(aut.splits == 0);
    free_run(&one);
    free_run(&two);
    free_run(&aut);
    free_run(&nothread);
}

/* Identical plaintext and verdicts on one core and on two, for many sizes
 * and chunkings: around the thresholds, 1-byte feeds, sizes that are not
 * multiples of 16. */
static void test_split_equivalence(void)
{
    static const size_t sizes[] = {0,     1,     15,     16,     17,     63,     64,    65,
                                   1000,  4095,  4096,   4097,   16383,  16384,  16385, 16394,
                                   40000, 65536, 100003, 262144, 262150, 300001, 700000};
    static const size_t fixed_chunks[] = {1,
                                          9,
                                          10,
                                          11,
                                          26,
                                          PM_SPLIT_UPDATE_MIN - 1,
                                          PM_SPLIT_UPDATE_MIN,
                                          PM_SPLIT_UPDATE_MIN + PARLEY_MEDIA_MAC_LEN - 1,
                                          PM_SPLIT_UPDATE_MIN + PARLEY_MEDIA_MAC_LEN,
                                          PM_SPLIT_UPDATE_MIN + PARLEY_MEDIA_MAC_LEN + 1,
                                          65536,
                                          65536 + 7,
                                          1 << 20};
    uint8_t key[32];
    CHECK_RC(parley_media_key_generate(key), PARLEY_OK);
    for (size_t si = 0; si < PARLEY_ARRAY_LEN(sizes); si++) {
        size_t n = sizes[si];
        parley_media_type type = (parley_media_type)(si % 4);
        uint8_t *p = malloc(n + 1);
        fill(p, n);
        parley_media_digest dg;
        size_t bl = 0;
        uint8_t *b = encrypt_chunked(key, type, p, n, 0, &bl, &dg);
        CHECK(b != NULL);
        if (b == NULL) {
            free(p);
            continue;
        }
        for (size_t ci = 0; ci < PARLEY_ARRAY_LEN(fixed_chunks); ci++) {
            size_t c = fixed_chunks[ci];
            /* 1-byte and other tiny feeds of the large blobs: too slow
             * to be worth it, the small ones cover them */
            if (c < 64 && n > 70000)
                continue;
            split_case(key, type, b, bl, c, 1, dg.encrypted_sha256, dg.plaintext_sha256, n, p, n,
                       PARLEY_OK);
            /* no expectations given: the same, from the MAC alone */
            split_case(key, type, b, bl, c, 1, NULL, NULL, PARLEY_MEDIA_SIZE_UNKNOWN, p, n,
                       PARLEY_OK);
        }
        /* random chunkings, small and large */
        for (int k = 0; k < 3; k++) {
            size_t maxc = k == 0 ? 40 : k == 1 ? 5000 : 3 * PM_SPLIT_UPDATE_MIN;
            if (maxc < 64 && n > 70000)
                continue;
            split_case(key, type, b, bl, maxc, 0, dg.encrypted_sha256, dg.plaintext_sha256, n, p,
                       n, PARLEY_OK);
        }
        free(b);
        free(p);
    }
}

/* Tampered, truncated and extended blobs, and wrong expectations, are
 * refused on two cores exactly as on one. */
static void test_split_refusals(void)
{
    uint8_t key[32];
    CHECK_RC(parley_media_key_generate(key), PARLEY_OK);
    size_t n = PM_SPLIT_BLOB_MIN + 12345;
    uint8_t *p = malloc(n);
    fill(p, n);
    parley_media_digest dg;
    size_t bl = 0;
    uint8_t *b = encrypt_chunked(key, PARLEY_MEDIA_VIDEO, p, n, 0, &bl, &dg);
    CHECK(b != NULL);
    if (b == NULL) {
        free(p);
        return;
    }
    uint8_t *m = malloc(bl + 4096);
    const size_t chunks[] = {PM_SPLIT_UPDATE_MIN + PARLEY_MEDIA_MAC_LEN, 65536, 100000};
    /* one bit flipped: first byte, a block boundary, the middle, the last
     * cipher block, the MAC */
    const size_t flips[] = {0, 16, 65535, bl / 2, bl - 27, bl - 17, bl - 11, bl - 10, bl - 1};
    for (size_t ci = 0; ci < PARLEY_ARRAY_LEN(chunks); ci++) {
        for (size_t fi = 0; fi < PARLEY_ARRAY_LEN(flips); fi++) {
            memcpy(m, b, bl);
            m[flips[fi]] ^= (uint8_t)(1u << (fi % 8));
            split_case(key, PARLEY_MEDIA_VIDEO, m, bl, chunks[ci], 1, dg.encrypted_sha256,
                       dg.plaintext_sha256, n, NULL, 0, PARLEY_ERR_INVALID_MAC);
            split_case(key, PARLEY_MEDIA_VIDEO, m, bl, chunks[ci], 1, NULL, NULL,
                       PARLEY_MEDIA_SIZE_UNKNOWN, NULL, 0, PARLEY_ERR_INVALID_MAC);
        }
        /* truncated: by one byte, by the MAC, by a block, by half */
        const size_t cuts[] = {1, 9, 10, 11, 16, 26, bl / 2};
        for (size_t ti = 0; ti < PARLEY_ARRAY_LEN(cuts); ti++) {
            split_case(key, PARLEY_MEDIA_VIDEO, b, bl - cuts[ti], chunks[ci], 1, NULL, NULL,
                       PARLEY_MEDIA_SIZE_UNKNOWN, NULL, 0, PARLEY_ERR_INVALID_MAC);
            split_case(key, PARLEY_MEDIA_VIDEO, b, bl - cuts[ti], chunks[ci], 1,
                       dg.encrypted_sha256, dg.plaintext_sha256, n, NULL, 0,
                       PARLEY_ERR_INVALID_MAC);
        }
        /* extended: refused at final without a size, at the update that
         * goes past the end with one */
        const size_t ext[] = {1, 10, 16, 26, 4096};
        for (size_t ei = 0; ei < PARLEY_ARRAY_LEN(ext); ei++) {
            memcpy(m, b, bl);
            fill(m + bl, ext[ei]);
            split_case(key, PARLEY_MEDIA_VIDEO, m, bl + ext[ei], chunks[ci], 1, NULL, NULL,
                       PARLEY_MEDIA_SIZE_UNKNOWN, NULL, 0, PARLEY_ERR_INVALID_MAC);
            split_case(key, PARLEY_MEDIA_VIDEO, m, bl + ext[ei], chunks[ci], 1,
                       dg.encrypted_sha256, dg.plaintext_sha256, n, NULL, 0,
                       PARLEY_ERR_INVALID_MAC);
        }
        /* wrong expectations: blob hash, plaintext hash, size */
        uint8_t bad[32];
        memcpy(bad, dg.encrypted_sha256, 32);
        bad[5] ^= 4;
        split_case(key, PARLEY_MEDIA_VIDEO, b, bl, chunks[ci], 1, bad, dg.plaintext_sha256, n,
                   NULL, 0, PARLEY_ERR_INVALID_MAC);
        memcpy(bad, dg.plaintext_sha256, 32);
        bad[31] ^= 1;
        split_case(key, PARLEY_MEDIA_VIDEO, b, bl, chunks[ci], 1, dg.encrypted_sha256, bad, n,
                   NULL, 0, PARLEY_ERR_INVALID_MAC);
        split_case(key, PARLEY_MEDIA_VIDEO, b, bl, chunks[ci], 1, NULL, NULL, n + 1, NULL, 0,
                   PARLEY_ERR_INVALID_MAC);
        /* the wrong media type: other keys */
        split_case(key, PARLEY_MEDIA_AUDIO, b, bl, chunks[ci], 1, NULL, NULL,
                   PARLEY_MEDIA_SIZE_UNKNOWN, NULL, 0, PARLEY_ERR_INVALID_MAC);
    }
    free(m);
    free(b);
    free(p);
}

/* The worker's lifetime: freed mid-blob, after a failed update, twice
 * in a row, and buffers that overlap (decrypting in place, which fails
 * on one core too) kept on one core. */
static void test_split_lifetime(void)
{
    uint8_t key[32];
    CHECK_RC(parley_media_key_generate(key), PARLEY_OK);
    size_t n = 3 * PM_SPLIT_BLOB_MIN;
    uint8_t *p = malloc(n);
    fill(p, n);
    parley_media_digest dg;
    size_t bl = 0, l = 0;
    uint8_t *b = encrypt_chunked(key, PARLEY_MEDIA_DOCUMENT, p, n, 0, &bl, &dg);
    uint8_t *out = malloc(bl + PARLEY_MEDIA_SLACK);
    CHECK(b != NULL && out != NULL);
    if (b == NULL || out == NULL) {
        free(b);
        free(out);
        free(p);
        return;
    }
    for (int round = 0; round < 2; round++) {
        /* freed with the worker started and no final */
        parley_media_decryptor *d = NULL;
        CHECK_RC(parley_media_decryptor_new(&d, key, PARLEY_MEDIA_DOCUMENT, NULL, NULL, n),
                 PARLEY_OK);
        CHECK_RC(parley_media_decryptor_update(d, b, 65536, out, 65536 + PARLEY_MEDIA_SLACK, &l),
                 PARLEY_OK);
        CHECK(pm_decryptor_split_updates(d) == (pm_hasher_useful() ? 1u : 0u));
        parley_media_decryptor_free(d);
        /* a failed update (past the announced size) stops the worker;
         * later calls are refused and free still works */
        d = NULL;
        CHECK_RC(parley_media_decryptor_new(&d, key, PARLEY_MEDIA_DOCUMENT, NULL, NULL, n),
                 PARLEY_OK);
        CHECK_RC(parley_media_decryptor_update(d, b, 65536, out, 65536 + PARLEY_MEDIA_SLACK, &l),
                 PARLEY_OK);
        CHECK_RC(parley_media_decryptor_update(d, b, bl, out, bl + PARLEY_MEDIA_SLACK, &l),
                 PARLEY_ERR_INVALID_MAC);
        CHECK_RC(parley_media_decryptor_update(d, b, 65536, out, 65536 + PARLEY_MEDIA_SLACK, &l),
                 PARLEY_ERR_STATE);
        CHECK_RC(parley_media_decryptor_final(d, out, PARLEY_MEDIA_FINAL_MAX, &l, NULL),
                 PARLEY_ERR_STATE);
        parley_media_decryptor_free(d);
    }
    /* forked with the worker started: the child has no worker thread; it
     * finishes the blob on one core and frees without joining, while the
     * parent finishes its own copy on two */
    {
        parley_media_decryptor *d = NULL;
        size_t half = bl / 2, l2 = 0;
        CHECK_RC(parley_media_decryptor_new(&d, key, PARLEY_MEDIA_DOCUMENT, dg.encrypted_sha256,
                                            dg.plaintext_sha256, n),
                 PARLEY_OK);
        CHECK_RC(parley_media_decryptor_update(d, b, half, out, half + PARLEY_MEDIA_SLACK, &l),
                 PARLEY_OK);
        /* the worker asleep on its condition variable by now (it spins
         * for 100 us): the child must not touch what it waits on */
        usleep(5000);
        fflush(NULL);
        pid_t child = fork();
        CHECK(child >= 0);
        if (child == 0) {
            int ok = parley_media_decryptor_update(d, b + half, bl - half, out + l,
                                                   bl - half + PARLEY_MEDIA_SLACK, &l2) == 0;
            size_t l3 = 0;
            ok = ok && parley_media_decryptor_final(d, out + l + l2, PARLEY_MEDIA_FINAL_MAX, &l3,
                                                    NULL) == 0;
            ok = ok && l + l2 + l3 == n && memcmp(out, p, n) == 0;
            ok = ok && pm_decryptor_split_updates(d) >= 1;
            parley_media_decryptor_free(d);
            _exit(ok ? 0 : 1);
        }
        int status = -1;
        CHECK(child > 0 && waitpid(child, &status, 0) == child);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_RC(parley_media_decryptor_update(d, b + half, bl - half, out + l,
                                               bl - half + PARLEY_MEDIA_SLACK, &l2),
                 PARLEY_OK);
        size_t l3 = 0;
        CHECK_RC(parley_media_decryptor_final(d, out + l + l2, PARLEY_MEDIA_FINAL_MAX, &l3, NULL),
                 PARLEY_OK);
        CHECK(l + l2 + l3 == n && memcmp(out, p, n) == 0);
        parley_media_decryptor_free(d);
    }
    /* in place, or overlapping by a byte: refused at once, nothing
     * consumed, and the same decryptor then decrypts the blob */
    size_t span = bl + PARLEY_MEDIA_SLACK;
    uint8_t *buf = malloc(2 * span);
    CHECK(buf != NULL);
    if (buf != NULL) {
        uint8_t *shifted = buf + span - 1; /* its first byte is out's last */
        memcpy(buf, b, bl);
        memcpy(shifted, b, bl);
        parley_media_decryptor *d = NULL;
        size_t l2 = 0;
        CHECK_RC(parley_media_decryptor_new(&d, key, PARLEY_MEDIA_DOCUMENT, NULL, NULL, n),
                 PARLEY_OK);
        CHECK_RC(parley_media_decryptor_update(d, buf, bl, buf, span, &l),
                 PARLEY_ERR_INVALID_ARG);
        CHECK(l == 0 && memcmp(buf, b, bl) == 0);
        CHECK_RC(parley_media_decryptor_update(d, shifted, bl, buf, span, &l),
                 PARLEY_ERR_INVALID_ARG);
        CHECK(l == 0 && memcmp(shifted, b, bl) == 0);
        CHECK(pm_decryptor_split_updates(d) == 0);
        CHECK_RC(parley_media_decryptor_update(d, buf, bl, out, span, &l),
                 PARLEY_OK);
        CHECK_RC(parley_media_decryptor_final(d, out + l, PARLEY_MEDIA_FINAL_MAX, &l2, NULL),
                 PARLEY_OK);
        CHECK(l + l2 == n && memcmp(out, p, n) == 0);
        parley_media_decryptor_free(d);
        free(buf);
    }
    free(out);
    free(b);
    free(p);
}

int main(void)
{
    /* own AES-NI decryption against EVP (both only where the CPU has the
     * instructions), with VAES where the CPU has it and without */
    pc_cbc_dec_vaes(1);
    test_cbc_decrypt_paths();
    pc_cbc_dec_vaes(0);
    test_cbc_decrypt_paths();
    pc_cbc_dec_vaes(1);
    /* once on the accelerated paths where the CPU has them, once portable */
    for (int portable = 0; portable < 2; portable++) {
        pc_crypto_stream_portable(portable);
        printf("%s paths (SHA extensions %s, AES-NI+SHA %s)\n",
               portable ? "portable" : "default",
               pc_sha256_blocks_accelerated() ? "present" : "absent",
               pc_aes_sha_available() ? "in use" : "not in use");
        test_info_strings();
        test_stream_primitives();
        test_multi();
        test_update2_until();
        test_kats();
        test_properties();
        test_refusals();
        test_files();
        test_split_equivalence();
        test_split_refusals();
        test_split_lifetime();
    }
    TEST_MAIN_END();
}
