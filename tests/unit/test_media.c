/*
 * Media encryption (include/parley/media.h): known answers computed
 * independently by test_media_kat.py (Python hashlib/hmac + `openssl enc`),
 * incremental-equals-one-shot with random chunking, and refusals of
 * tampered, truncated, extended and mislabelled blobs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "crypto/crypto.h"
#include "crypto/sha256_blocks.h"
#include "parley/media.h"

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
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)rnd(256);
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
        for (size_t j = 0; j < ext[i]; j++)
            m[bl + j] = (uint8_t)rnd(256);
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
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd(256);
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
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)rnd(256);
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
        for (size_t i = 0; i < sizeof data[s]; i++)
            data[s][i] = (uint8_t)rnd(256);
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

int main(void)
{
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
        test_kats();
        test_properties();
        test_refusals();
        test_files();
    }
    TEST_MAIN_END();
}
