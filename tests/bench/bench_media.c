/*
 * Media throughput, as ratios against references measured in the same run
 * (docs/media.md, bench/RESULTS-media.md):
 *
 *  1. Encryption and decryption (parley_media_encryptor/decryptor) against
 *     raw AES-256-CBC + HMAC-SHA256 over the same bytes and chunks, straight
 *     on OpenSSL, and against the same plus the two SHA-256 passes the blob
 *     format also requires (plaintext and blob hashes). Decryption is also
 *     measured held to one core, and the CPU time of all threads is given
 *     beside the wall-clock ratio, since large blobs decrypt on two cores.
 *  2. A blob fetched through the media proxy against the same blob
 *     fetched directly from the media host, both over loopback; and, as
 *     the floor of any proxy, through a bare TCP relay (recv and send,
 *     no HTTP, no checks): what one more loopback hop costs here.
 *
 *   bench_media [crypto MiB] [proxy MiB]     (defaults 256 and 256)
 */
#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "media/media_internal.h"
#include "mediahost/mediahost.h"
#include "parley/media.h"

#define CHUNK (64 * 1024)
#define RUNS 5

/* CPU seconds (user + system) of every thread of this process. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_media: %s: %s\n", what, parley_strerror(rc));
    exit(1);
}

static uint8_t *data, *blob, *out;
static size_t data_n, blob_n;
static const uint8_t key[32] = {42};

/*
 * Raw reference, straight on OpenSSL (none of parley's code): EVP
 * AES-256-CBC over the chunks, HMAC-SHA256 (EVP_MAC) over the ciphertext,
 * plus `hashes` SHA-256 passes (0 or 2: over input and output, EVP).
 */
static double raw(int encrypt, int hashes)
{
    const uint8_t *in = encrypt ? data : blob;
    size_t n = encrypt ? data_n : blob_n - PARLEY_MEDIA_MAC_LEN;
    uint8_t iv[16] = {1}, mac[32], h[32];
    size_t off = 0, maclen = 0;
    int l = 0;
    unsigned hl = 0;
    double t0 = now_s();
    EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *mc = m ? EVP_MAC_CTX_new(m) : NULL;
    EVP_MD_CTX *h1 = EVP_MD_CTX_new(), *h2 = EVP_MD_CTX_new();
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (cc == NULL || mc == NULL || h1 == NULL || h2 == NULL ||
        EVP_CipherInit_ex(cc, EVP_aes_256_cbc(), NULL, key, iv, encrypt) != 1 ||
        EVP_MAC_init(mc, key, 32, params) != 1 ||
        EVP_DigestInit_ex(h1, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(h2, EVP_sha256(), NULL) != 1)
        die("raw init", -1);
    if (!encrypt)
        EVP_CIPHER_CTX_set_padding(cc, 0); /* the blob is not padded to our key */
    for (size_t pos = 0; pos < n; pos += CHUNK) {
        size_t c = n - pos < CHUNK ? n - pos : CHUNK;
        if (EVP_CipherUpdate(cc, out + off, &l, in + pos, (int)c) != 1)
            die("raw update", -1);
        /* the MAC is always over the ciphertext */
        if (EVP_MAC_update(mc, encrypt ? out + off : in + pos, encrypt ? (size_t)l : c) != 1)
            die("raw hmac", -1);
        if (hashes && (EVP_DigestUpdate(h1, in + pos, c) != 1 ||
                       EVP_DigestUpdate(h2, out + off, (size_t)l) != 1))
            die("raw sha", -1);
        off += (size_t)l;
    }
    if (EVP_CipherFinal_ex(cc, out + off, &l) != 1 ||
        EVP_MAC_final(mc, mac, &maclen, sizeof mac) != 1 ||
        EVP_DigestFinal_ex(h1, h, &hl) != 1 || EVP_DigestFinal_ex(h2, h, &hl) != 1)
        die("raw final", -1);
    EVP_CIPHER_CTX_free(cc);
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(m);
    EVP_MD_CTX_free(h1);
    EVP_MD_CTX_free(h2);
    return now_s() - t0;
}

static double media_encrypt(void)
{
    parley_media_encryptor *e = NULL;
    parley_media_digest dg;
    size_t l, off = 0;
    double t0 = now_s();
    int rc = parley_media_encryptor_new(&e, key, PARLEY_MEDIA_VIDEO);
    if (rc < 0)
        die("encryptor", rc);
    for (size_t pos = 0; pos < data_n; pos += CHUNK) {
        size_t c = data_n - pos < CHUNK ? data_n - pos : CHUNK;
        rc = parley_media_encryptor_update(e, data + pos, c, blob + off, c + 64, &l);
        if (rc < 0)
            die("encrypt", rc);
        off += l;
    }
    rc = parley_media_encryptor_final(e, blob + off, 64, &l, &dg);
    if (rc < 0)
        die("encrypt final", rc);
    blob_n = off + l;
    parley_media_encryptor_free(e);
    return now_s() - t0;
}

/* Updates of the last media_decrypt run, and how many ran on two cores. */
static uint64_t last_updates, last_splits;

static double media_decrypt(void)
{
    parley_media_decryptor *d = NULL;
    size_t l, off = 0;
    last_updates = 0;
    double t0 = now_s();
    int rc = parley_media_decryptor_new(&d, key, PARLEY_MEDIA_VIDEO, NULL, NULL, data_n);
    if (rc < 0)
        die("decryptor", rc);
    for (size_t pos = 0; pos < blob_n; pos += CHUNK) {
        size_t c = blob_n - pos < CHUNK ? blob_n - pos : CHUNK;
        rc = parley_media_decryptor_update(d, blob + pos, c, out + off, c + 64, &l);
        if (rc < 0)
            die("decrypt", rc);
        off += l;
        last_updates++;
    }
    last_splits = pm_decryptor_split_updates(d);
    rc = parley_media_decryptor_final(d, out + off, 64, &l, NULL);
    if (rc < 0)
        die("decrypt final", rc);
    parley_media_decryptor_free(d);
    return now_s() - t0;
}

/*
 * The parts of decryption on their own, to see where its floor is: one
 * SHA-256 stream through OpenSSL (what the reference's HMAC costs), three
 * streams over the same bytes side by side (what a verifying receiver
 * must compute: HMAC, blob hash, plaintext hash), and CBC decryption.
 */
static double sha_one(void)
{
    uint8_t h[32];
    unsigned hl = 0;
    double t0 = now_s();
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (m == NULL || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1)
        die("sha init", -1);
    for (size_t pos = 0; pos < data_n; pos += CHUNK) {
        size_t c = data_n - pos < CHUNK ? data_n - pos : CHUNK;
        if (EVP_DigestUpdate(m, data + pos, c) != 1)
            die("sha", -1);
    }
    if (EVP_DigestFinal_ex(m, h, &hl) != 1)
        die("sha final", -1);
    EVP_MD_CTX_free(m);
    return now_s() - t0;
}

static double sha_three(void)
{
    pc_sha256_ctx a, b, c;
    uint8_t h[32];
    pc_sha256_ctx *const cs[3] = {&a, &b, &c};
    double t0 = now_s();
    if (pc_sha256_init(&a) < 0 || pc_sha256_init(&b) < 0 || pc_sha256_init(&c) < 0)
        die("sha3 init", -1);
    for (size_t pos = 0; pos < data_n; pos += CHUNK) {
        size_t n = data_n - pos < CHUNK ? data_n - pos : CHUNK;
        const uint8_t *const d[3] = {data + pos, data + pos, out + pos};
        const size_t ns[3] = {n, n, n};
        if (pc_sha256_update_multi(cs, d, ns, 3) < 0)
            die("sha3", -1);
    }
    if (pc_sha256_final(&a, h) < 0 || pc_sha256_final(&b, h) < 0 || pc_sha256_final(&c, h) < 0)
        die("sha3 final", -1);
    return now_s() - t0;
}

/* k SHA-256 streams (1 or 2) side by side over data, through parley's
 * kernel: what each core of the two-core decryptor runs. */
static double sha_streams(size_t k)
{
    pc_sha256_ctx a, b;
    uint8_t h[32];
    pc_sha256_ctx *const cs[2] = {&a, &b};
    double t0 = now_s();
    if (pc_sha256_init(&a) < 0 || pc_sha256_init(&b) < 0)
        die("sha init", -1);
    for (size_t pos = 0; pos < data_n; pos += CHUNK) {
        size_t n = data_n - pos < CHUNK ? data_n - pos : CHUNK;
        const uint8_t *const d[2] = {data + pos, data + pos};
        const size_t ns[2] = {n, n};
        if (pc_sha256_update_multi(cs, d, ns, k) < 0)
            die("sha streams", -1);
    }
    if (pc_sha256_final(&a, h) < 0 || pc_sha256_final(&b, h) < 0)
        die("sha final", -1);
    return now_s() - t0;
}

static double sha_one_ni(void) { return sha_streams(1); }
static double sha_two(void) { return sha_streams(2); }

static void *sha_one_thread(void *arg)
{
    *(double *)arg = sha_streams(1);
    return NULL;
}

/* One stream on a second thread while this one runs two, at once: what
 * each costs when both cores hash (they share caches, memory and, on a
 * virtual machine, whatever the host shares). Best of RUNS for each. */
static void sha_together(double *one, double *two)
{
    *one = *two = 1e9;
    for (int i = 0; i < RUNS; i++) {
        pthread_t t;
        double t1 = 1e9;
        if (pthread_create(&t, NULL, sha_one_thread, &t1) != 0)
            die("thread", PARLEY_ERR_AGAIN);
        double t2 = sha_streams(2);
        pthread_join(t, NULL);
        *one = t1 < *one ? t1 : *one;
        *two = t2 < *two ? t2 : *two;
    }
}

/* The caller's part of two-core decryption: CBC decryption with the
 * plaintext hash beside it (pc_cbc_stream_update_hash_out), one core. */
static double dec_hash(void)
{
    pc_cbc_stream *cs = NULL;
    pc_sha256_ctx h;
    uint8_t iv[16] = {1}, d[32];
    size_t n = blob_n - PARLEY_MEDIA_MAC_LEN, l = 0;
    if (pc_cbc_stream_new(&cs, 0, key, iv) < 0 || pc_sha256_init(&h) < 0)
        die("dec_hash init", -1);
    double t0 = now_s();
    for (size_t pos = 0; pos < n; pos += CHUNK) {
        size_t c = n - pos < CHUNK ? n - pos : CHUNK;
        if (pc_cbc_stream_update_hash_out(cs, out + pos, CHUNK + 64, &l, blob + pos, c, &h) < 0)
            die("dec_hash", -1);
    }
    double t = now_s() - t0;
    pc_cbc_stream_free(cs);
    if (pc_sha256_final(&h, d) < 0)
        die("dec_hash final", -1);
    return t;
}

static double cbc_dec(void)
{
    uint8_t iv[16] = {1};
    int l = 0;
    double t0 = now_s();
    size_t n = blob_n - PARLEY_MEDIA_MAC_LEN;
    EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
    if (cc == NULL || EVP_DecryptInit_ex(cc, EVP_aes_256_cbc(), NULL, key, iv) != 1)
        die("cbc init", -1);
    EVP_CIPHER_CTX_set_padding(cc, 0);
    for (size_t pos = 0; pos < n; pos += CHUNK) {
        size_t c = n - pos < CHUNK ? n - pos : CHUNK;
        if (EVP_DecryptUpdate(cc, out + pos, &l, blob + pos, (int)c) != 1)
            die("cbc", -1);
    }
    EVP_CIPHER_CTX_free(cc);
    return now_s() - t0;
}

static double best(double (*f)(void))
{
    double b = 1e9;
    for (int i = 0; i < RUNS; i++) {
        double t = f();
        if (t < b)
            b = t;
    }
    return b;
}

/* The decryptor kept on the calling thread, as before it had a second
 * core (media/media_internal.h). */
static double media_decrypt_one_core(void)
{
    pm_decrypt_split_mode(PM_SPLIT_NEVER);
    double t = media_decrypt();
    pm_decrypt_split_mode(PM_SPLIT_AUTO);
    return t;
}

static double raw_enc(void) { return raw(1, 0); }
static double raw_dec(void) { return raw(0, 0); }
static double raw_enc_h(void) { return raw(1, 2); }
static double raw_dec_h(void) { return raw(0, 2); }

static void bench_crypto(size_t mib)
{
    data_n = mib << 20;
    data = malloc(data_n);
    blob = malloc(data_n + 64);
    out = malloc(data_n + 64);
    if (data == NULL || blob == NULL || out == NULL)
        die("memory", PARLEY_ERR_NOMEM);
    for (size_t i = 0; i < data_n; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    media_encrypt(); /* warm up and produce the blob */
    double mb = (double)data_n / 1e6;
    double te = best(media_encrypt), tre = best(raw_enc), treh = best(raw_enc_h);
    /* Decryption on two cores, the reference and decryption on one core
     * in turn, so that another program's load falls on all three alike. */
    double td = 1e9, trd = 1e9, td1 = 1e9, cd = 1e9, crd = 1e9, cd1 = 1e9;
    uint64_t splits = 0;
    for (int i = 0; i < RUNS; i++) {
        double c0 = cpu_s(), t = media_decrypt(), c = cpu_s() - c0;
        if (t < td) {
            td = t;
            splits = last_splits;
        }
        cd = c < cd ? c : cd;
        c0 = cpu_s();
        t = raw_dec();
        c = cpu_s() - c0;
        trd = t < trd ? t : trd;
        crd = c < crd ? c : crd;
        c0 = cpu_s();
        t = media_decrypt_one_core();
        c = cpu_s() - c0;
        td1 = t < td1 ? t : td1;
        cd1 = c < cd1 ? c : cd1;
    }
    double trdh = best(raw_dec_h);
    printf("crypto: %zu MiB in %d KiB chunks, best of %d (decryption: media, raw and media on "
           "one core in turn)\n",
           mib, CHUNK / 1024, RUNS);
    printf("  encrypt  media %7.0f MB/s | raw CBC+HMAC %7.0f MB/s  ratio %.2f | "
           "raw CBC+HMAC+2xSHA-256 %7.0f MB/s  ratio %.2f\n",
           mb / te, mb / tre, tre / te, mb / treh, treh / te);
    printf("  decrypt  media %7.0f MB/s | raw CBC+HMAC %7.0f MB/s  ratio %.2f | "
           "raw CBC+HMAC+2xSHA-256 %7.0f MB/s  ratio %.2f\n",
           mb / td, mb / trd, trd / td, mb / trdh, trdh / td);
    printf("  decrypt  media: %llu of %llu updates on two cores in its fastest run\n",
           (unsigned long long)splits, (unsigned long long)last_updates);
    printf("  decrypt  media on one core %7.0f MB/s  ratio %.2f (to raw CBC+HMAC)\n", mb / td1,
           trd / td1);
    printf("  decrypt  CPU (all threads) media %.2f s/GB | media on one core %.2f s/GB | "
           "raw CBC+HMAC %.2f s/GB\n",
           cd / mb * 1e3, cd1 / mb * 1e3, crd / mb * 1e3);
    double t1 = best(sha_one), t3 = best(sha_three), tc = best(cbc_dec);
    printf("  parts    SHA-256 x1 (OpenSSL) %.3f ns/B | x3 side by side %.3f ns/B (%.2fx one) | "
           "CBC decrypt %.3f ns/B\n",
           t1 / mb * 1e3, t3 / mb * 1e3, t3 / t1, tc / mb * 1e3);
    printf("  one-core decrypt floor with three hashes: "
           "(CBC + 1 hash) / (CBC + 3 hashes) = %.2f\n",
           (tc + t1) / (tc + t3));
    /* The two-core design (docs/media.md): the caller decrypts and hashes
     * the plaintext (its part: k per byte, measured on its own here); the
     * worker meanwhile runs the HMAC and the blob hash side by side (c2
     * per byte while the other core hashes too) and hands the blob hash
     * back when the caller is done, a share s = k / c2 into the update;
     * then each side finishes one stream over the rest (c1 per byte). An
     * update then takes k + (1 - s) c1, hand-over costs left out. */
    double c1 = 1e9, c2 = 1e9, t1n = best(sha_one_ni), t2 = best(sha_two), tk = best(dec_hash);
    sha_together(&c1, &c2);
    double share = tk / c2 < 1 ? tk / c2 : 1;
    printf("  parts    x1 alone %.3f / with the other core hashing %.3f ns/B | x2 alone %.3f / "
           "together %.3f ns/B | caller's part (CBC + plaintext hash) %.3f ns/B\n",
           t1n / mb * 1e3, c1 / mb * 1e3, t2 / mb * 1e3, c2 / mb * 1e3, tk / mb * 1e3);
    printf("  two-core decrypt ceiling of this design: %.2f (to raw CBC+HMAC), blob hash handed "
           "back %.0f%% into an update\n",
           (tc + t1) / (tk + (1 - share) * c1), share * 100);
    free(data);
    free(blob);
    free(out);
}

/* ---- proxy against direct ------------------------------------------------------- */

static int bench_auth(void *ctx, const char *token, char user[PMH_USER_MAX])
{
    (void)ctx;
    if (strcmp(token, "bench") != 0)
        return 0;
    snprintf(user, PMH_USER_MAX, "bench");
    return 1;
}

static int bench_allow(void *ctx, const char *provider, const char *host, unsigned port)
{
    (void)ctx;
    (void)provider;
    (void)port;
    return strcmp(host, "127.0.0.1") == 0;
}

/* One GET to /dev/null: wall seconds, and CPU seconds in *cpu. The host,
 * the proxy and the client all run in this process, so the CPU figure is
 * the whole path's work, which another process's load hardly moves. */
static double get_once(const char *url, double *cpu)
{
    int fd = open("/dev/null", O_WRONLY);
    long st = 0;
    double c0 = cpu_s(), t0 = now_s();
    int rc = pmh_client_get(url, "bench", fd, NULL, &st, NULL, 0);
    double t = now_s() - t0;
    *cpu = cpu_s() - c0;
    close(fd);
    if (rc < 0)
        die("get", rc);
    return t;
}

/*
 * The bare relay: a thread that accepts connections one at a time on a
 * loopback port and copies bytes both ways between each and the media
 * host, 256 KiB at a time, until either side closes. A proxy can do no
 * less work than this and still be a separate hop; the media proxy does
 * more (HTTP parsing on both sides, the address checks, the size bound).
 */
typedef struct {
    int lfd;
    unsigned to_port;
} relay_ctx;

static int relay_pump(int from, int to, uint8_t *buf)
{
    ssize_t n = recv(from, buf, 256 * 1024, 0);
    if (n <= 0)
        return -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t m = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (m <= 0)
            return -1;
        off += m;
    }
    return 0;
}

static void *relay_thread(void *arg)
{
    relay_ctx *r = arg;
    uint8_t *buf = malloc(256 * 1024);
    int cfd;
    while (buf != NULL && (cfd = accept(r->lfd, NULL, NULL)) >= 0) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->to_port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int hfd = socket(AF_INET, SOCK_STREAM, 0);
        if (hfd >= 0 && connect(hfd, (struct sockaddr *)&a, sizeof a) == 0) {
            struct pollfd pf[2] = {{.fd = cfd, .events = POLLIN}, {.fd = hfd, .events = POLLIN}};
            while (poll(pf, 2, -1) > 0) {
                if (pf[0].revents != 0 && relay_pump(cfd, hfd, buf) < 0)
                    break;
                if (pf[1].revents != 0 && relay_pump(hfd, cfd, buf) < 0)
                    break;
            }
        }
        if (hfd >= 0)
            close(hfd);
        close(cfd);
    }
    free(buf);
    return NULL;
}

/* Starts the relay to to_port; its port in *port. */
static int relay_start(relay_ctx *r, pthread_t *t, unsigned to_port, unsigned *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->to_port = to_port;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(r->lfd, 4) != 0 || getsockname(r->lfd, (struct sockaddr *)&a, &len) != 0 ||
        pthread_create(t, NULL, relay_thread, r) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return 0;
}

static void bench_proxy(size_t mib)
{
    char dir[] = "/tmp/parley-bmedia-XXXXXX", store[128], path[160], base[64];
    char url[PMH_URL_MAX], purl[PMH_URL_MAX * 2];
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", PARLEY_ERR_IO);
    snprintf(store, sizeof store, "%s/host", dir);
    snprintf(path, sizeof path, "%s/blob", dir);
    pmh_host_config hc = {.dir = store, .bind_addr = "127.0.0.1", .auth = bench_auth,
                          .max_blob_size = ((uint64_t)mib << 20) + 4096};
    pmh_proxy_config pc = {.bind_addr = "127.0.0.1", .auth = bench_auth, .allow = bench_allow,
                           .allow_loopback = 1, .max_blob_size = ((uint64_t)mib << 20) + 4096,
                           .rate_burst = 1000};
    pmh_host *h = NULL;
    pmh_proxy *p = NULL;
    int rc = pmh_host_start(&h, &hc);
    if (rc < 0)
        die("host", rc);
    rc = pmh_proxy_start(&p, &pc);
    if (rc < 0)
        die("proxy", rc);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    uint8_t *buf = malloc(1 << 20);
    for (size_t i = 0; i < (1 << 20); i++)
        buf[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < mib; i++)
        if (write(fd, buf, 1 << 20) != 1 << 20)
            die("write", PARLEY_ERR_IO);
    free(buf);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", pmh_host_port(h));
    rc = pmh_client_upload(base, "bench", fd, (uint64_t)mib << 20, NULL, 0, 3, NULL, NULL, 0,
                           url, sizeof url);
    close(fd);
    unlink(path);
    if (rc < 0)
        die("upload", rc);
    CURL *c = curl_easy_init();
    char *esc = curl_easy_escape(c, url, 0);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%u/v1/proxy?url=%s", pmh_proxy_port(p), esc);
    curl_free(esc);
    curl_easy_cleanup(c);
    relay_ctx rl;
    pthread_t rt;
    unsigned rport;
    if (relay_start(&rl, &rt, pmh_host_port(h), &rport) < 0)
        die("relay", PARLEY_ERR_IO);
    char rurl[PMH_URL_MAX + 32];
    const char *rest = strchr(url + strlen("http://"), '/');
    snprintf(rurl, sizeof rurl, "http://127.0.0.1:%u%s", rport, rest != NULL ? rest : "/");
    double cd = 1e9, cp = 1e9, cr = 1e9, ca, cb, cc;
    get_once(url, &ca); /* warm the page cache */
    double td = 1e9, tp = 1e9, tr = 1e9;
    for (int i = 0; i < RUNS; i++) {
        double a = get_once(url, &ca), b = get_once(purl, &cb), d = get_once(rurl, &cc);
        td = a < td ? a : td;
        tp = b < tp ? b : tp;
        tr = d < tr ? d : tr;
        cd = ca < cd ? ca : cd;
        cp = cb < cp ? cb : cp;
        cr = cc < cr ? cc : cr;
    }
    double mb = (double)((uint64_t)mib << 20) / 1e6;
    printf("proxy: %zu MiB blob over loopback, best of %d, alternating\n", mib, RUNS);
    printf("  direct %7.0f MB/s | through proxy %7.0f MB/s  ratio %.2f\n", mb / td, mb / tp,
           td / tp);
    printf("  bare TCP relay %7.0f MB/s: relay/direct %.2f (one more hop), proxy/relay %.2f\n",
           mb / tr, td / tr, tr / tp);
    printf("  CPU (all threads) direct %.2f s/GB | through proxy %.2f s/GB | relay %.2f s/GB\n",
           cd / mb * 1e3, cp / mb * 1e3, cr / mb * 1e3);
    shutdown(rl.lfd, SHUT_RDWR); /* ends the relay's accept */
    pthread_join(rt, NULL);
    close(rl.lfd);
    pmh_proxy_stop(p);
    pmh_host_stop(h);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_media: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    size_t cm = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    size_t pm = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
    if (pc_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("init", -1);
    if (cm > 0)
        bench_crypto(cm);
    if (pm > 0)
        bench_proxy(pm);
    curl_global_cleanup();
    return 0;
}
