/*
 * bench_noise: Noise handshakes and transport, each against a floor
 * measured in the same run on the same core.
 *
 * Handshakes: a complete XX or IK handshake (both parties, in memory,
 * including Split) costs at least its X25519 operations. Counted from the
 * patterns (spec 7.5), both sides together:
 *   XX: initiator  e (keygen), ee, es, se            = 1 keygen + 3 DH
 *       responder  e (keygen), ee, es, se            = 1 keygen + 3 DH
 *       total 2 keygens + 6 DH
 *   IK: initiator  e (keygen), es, ss, ee, se        = 1 keygen + 4 DH
 *       responder  es, ss, e (keygen), ee, se        = 1 keygen + 4 DH
 *       total 2 keygens + 8 DH
 * Static public keys are known in advance (set_static_keypair), as a
 * server's is. The floor is that count times libsodium's keygen
 * (crypto_scalarmult_base) and DH (crypto_scalarmult) times; the figure is
 * handshake time / floor (target <= 1.3).
 *
 * Transport: parley_noise_cipher encrypt and decrypt throughput against
 * raw AES-256-GCM through OpenSSL EVP (key schedule once, IV per message)
 * on the same bytes, for 64 B, 1 KiB, 16 KiB and 65519 B (the largest
 * plaintext: 65535-byte message with its tag).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "parley/noise.h"
#include "parley/noise_conn.h"

/* CPU time of this thread: other processes on a shared machine do not count. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * The machine may be shared: times are this thread's CPU time, and every
 * figure is the best of ROUNDS short runs with the floor and the
 * handshakes interleaved, so that what load remains (caches, frequency)
 * hits both alike.
 */
#define ROUNDS 7
#define SLICE 0.12
#define MIN_TIME SLICE

static volatile uint8_t sink;

static double time_keygen(void)
{
    uint8_t pk[32], sk[32];
    long n = 0;
    randombytes_buf(sk, sizeof sk);
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 100; i++) {
            crypto_scalarmult_base(pk, sk);
            sk[0] ^= pk[0];
        }
        n += 100;
    } while ((t = now_s() - t0) < MIN_TIME);
    sink ^= pk[1];
    return t / (double)n;
}

static double time_dh(void)
{
    uint8_t pk[32], sk[32], out[32];
    long n = 0;
    randombytes_buf(sk, sizeof sk);
    crypto_scalarmult_base(pk, sk);
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 100; i++) {
            if (crypto_scalarmult(out, sk, pk) != 0)
                abort();
            sk[0] ^= out[0];
        }
        n += 100;
    } while ((t = now_s() - t0) < MIN_TIME);
    sink ^= out[1];
    return t / (double)n;
}

static uint8_t ipriv[32], ipub[32], rpriv[32], rpub[32];

static int one_handshake(const char *proto, int ik)
{
    parley_noise_hs *i = NULL, *r = NULL;
    parley_noise_cipher *is = NULL, *ir = NULL, *rs = NULL, *rr = NULL;
    uint8_t msg[256], pl[64];
    size_t n, m;
    int ok = 0;
    if (parley_noise_hs_new(&i, proto, 1) < 0 || parley_noise_hs_new(&r, proto, 0) < 0)
        goto out;
    if (parley_noise_hs_set_static_keypair(i, ipriv, ipub) < 0 ||
        parley_noise_hs_set_static_keypair(r, rpriv, rpub) < 0)
        goto out;
    if (ik && parley_noise_hs_set_remote_static(i, rpub) < 0)
        goto out;
    while (parley_noise_hs_action(i) != PARLEY_NOISE_ACTION_SPLIT) {
        int iw = parley_noise_hs_action(i) == PARLEY_NOISE_ACTION_WRITE;
        parley_noise_hs *w = iw ? i : r, *rd = iw ? r : i;
        if (parley_noise_hs_write(w, NULL, 0, msg, sizeof msg, &n) < 0 ||
            parley_noise_hs_read(rd, msg, n, pl, sizeof pl, &m) < 0)
            goto out;
    }
    if (parley_noise_hs_split(i, &is, &ir) < 0 || parley_noise_hs_split(r, &rs, &rr) < 0)
        goto out;
    ok = 1;
out:
    parley_noise_cipher_free(is);
    parley_noise_cipher_free(ir);
    parley_noise_cipher_free(rs);
    parley_noise_cipher_free(rr);
    parley_noise_hs_free(i);
    parley_noise_hs_free(r);
    return ok;
}

static double time_handshake(const char *proto, int ik)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 20; k++)
            if (!one_handshake(proto, ik)) {
                fprintf(stderr, "handshake failed\n");
                exit(1);
            }
        n += 20;
    } while ((t = now_s() - t0) < MIN_TIME);
    return t / (double)n;
}

/* The whole Noise Pipes exchange through the connection objects, with the
 * certificate check (one Ed25519 verification) and framing. */
static uint8_t root_pub[32], root_priv[64], cert[PARLEY_CERT_LEN];

static int one_pipes(int ik)
{
    parley_noise_client_config cc;
    parley_noise_server_config sc;
    parley_noise_conn *c = NULL, *s = NULL;
    parley_noise_event ev;
    const uint8_t *p;
    size_t n;
    int ok = 0;
    memset(&cc, 0, sizeof cc);
    memset(&sc, 0, sizeof sc);
    cc.static_priv = ipriv;
    cc.static_pub = ipub;
    cc.root_pub = root_pub;
    cc.server_static = ik ? rpub : NULL;
    cc.cert_time = 1700000000;
    sc.static_priv = rpriv;
    sc.static_pub = rpub;
    sc.cert = cert;
    sc.cert_len = sizeof cert;
    if (parley_noise_conn_new_client(&c, &cc) < 0 || parley_noise_conn_new_server(&s, &sc) < 0 ||
        parley_noise_conn_start(c, 0) < 0 || parley_noise_conn_start(s, 0) < 0)
        goto out;
    for (int round = 0; round < 4 && !(parley_noise_conn_established(c) &&
                                       parley_noise_conn_established(s));
         round++) {
        parley_noise_conn_output(c, &p, &n);
        if (n > 0 && parley_noise_conn_feed(s, p, n) < 0)
            goto out;
        parley_noise_conn_consume(c, n);
        while (parley_noise_conn_next(s, &ev) == PARLEY_OK && ev.type != PARLEY_NOISE_EV_NONE) {
        }
        parley_noise_conn_output(s, &p, &n);
        if (n > 0 && parley_noise_conn_feed(c, p, n) < 0)
            goto out;
        parley_noise_conn_consume(s, n);
        while (parley_noise_conn_next(c, &ev) == PARLEY_OK && ev.type != PARLEY_NOISE_EV_NONE) {
        }
    }
    ok = parley_noise_conn_established(c) && parley_noise_conn_established(s);
out:
    parley_noise_conn_free(c);
    parley_noise_conn_free(s);
    return ok;
}

static double time_pipes(int ik)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 20; k++)
            if (!one_pipes(ik)) {
                fprintf(stderr, "pipes handshake failed\n");
                exit(1);
            }
        n += 20;
    } while ((t = now_s() - t0) < MIN_TIME);
    return t / (double)n;
}

static double time_verify(void)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 100; k++)
            if (parley_noise_cert_verify(cert, sizeof cert, root_pub, rpub, 1700000000, NULL) < 0)
                abort();
        n += 100;
    } while ((t = now_s() - t0) < MIN_TIME);
    return t / (double)n;
}

static uint8_t plain[65535], ct[65535 + 16], back[65535];

/* Seconds per message for raw OpenSSL AES-256-GCM seal (enc) or open. */
static double raw_gcm(size_t len, int enc)
{
    static const uint8_t key[32] = {1, 2, 3};
    uint8_t iv[12] = {0}, tag[16];
    int l;
    long n = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (c == NULL || aes == NULL)
        abort();
    /* Make one valid ciphertext for the open loop. */
    EVP_EncryptInit_ex2(c, aes, key, iv, NULL);
    EVP_EncryptUpdate(c, ct, &l, plain, (int)len);
    EVP_EncryptFinal_ex(c, ct + len, &l);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
    if (enc)
        EVP_EncryptInit_ex2(c, aes, key, NULL, NULL);
    else
        EVP_DecryptInit_ex2(c, aes, key, NULL, NULL);
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 64; k++) {
            if (enc) {
                iv[11] = (uint8_t)k;
                EVP_EncryptInit_ex2(c, NULL, NULL, iv, NULL);
                EVP_EncryptUpdate(c, ct, &l, plain, (int)len);
                EVP_EncryptFinal_ex(c, ct + len, &l);
                EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
            } else {
                iv[11] = 0;
                EVP_DecryptInit_ex2(c, NULL, NULL, iv, NULL);
                EVP_DecryptUpdate(c, back, &l, ct, (int)len);
                EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag);
                if (EVP_DecryptFinal_ex(c, back + len, &l) != 1)
                    abort();
            }
        }
        n += 64;
    } while ((t = now_s() - t0) < MIN_TIME / 4);
    sink ^= ct[0] ^ back[0];
    EVP_CIPHER_free(aes);
    EVP_CIPHER_CTX_free(c);
    return t / (double)n;
}

/* Seconds per message for parley's transport cipher. */
static double noise_gcm(parley_noise_cipher *tx, parley_noise_cipher *rx, size_t len, int enc)
{
    size_t out_len;
    long n = 0;
    uint64_t base = parley_noise_cipher_nonce(tx);
    if (parley_noise_cipher_encrypt(tx, NULL, 0, plain, len, ct, sizeof ct, &out_len) < 0)
        abort();
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 64; k++) {
            if (enc) {
                if (parley_noise_cipher_encrypt(tx, NULL, 0, plain, len, ct, sizeof ct, &out_len) < 0)
                    abort();
            } else {
                /* Decrypt the same message again: rewind the receiver's nonce. */
                parley_noise_cipher_set_nonce(rx, base);
                if (parley_noise_cipher_decrypt(rx, NULL, 0, ct, out_len, back, sizeof back,
                                                &out_len) < 0)
                    abort();
                out_len = len + 16;
            }
        }
        n += 64;
    } while ((t = now_s() - t0) < MIN_TIME / 4);
    return t / (double)n;
}

int main(void)
{
    if (pc_init() < 0)
        return 1;
    if (pc_x25519_keygen(ipub, ipriv) < 0 || pc_x25519_keygen(rpub, rpriv) < 0 ||
        parley_noise_root_keygen(root_pub, root_priv) < 0 ||
        parley_noise_cert_issue(cert, root_priv, rpub, 1, 0, UINT64_MAX) < 0)
        return 1;

    double kg = 1e9, dh = 1e9, v = 1e9, hs_t[2] = {1e9, 1e9}, pipes_t[2] = {1e9, 1e9};

    const struct {
        const char *name, *proto;
        int ik, kgs, dhs;
    } hs[] = {
        {"XX", PARLEY_NOISE_PROTO_XX, 0, 2, 6},
        {"IK", PARLEY_NOISE_PROTO_IK, 1, 2, 8},
    };
    for (int r = 0; r < ROUNDS; r++) {
        double t;
        if ((t = time_keygen()) < kg)
            kg = t;
        if ((t = time_dh()) < dh)
            dh = t;
        if ((t = time_verify()) < v)
            v = t;
        for (size_t i = 0; i < 2; i++) {
            if ((t = time_handshake(hs[i].proto, hs[i].ik)) < hs_t[i])
                hs_t[i] = t;
            if ((t = time_pipes(hs[i].ik)) < pipes_t[i])
                pipes_t[i] = t;
        }
    }
    printf("X25519 (libsodium, this core, best of %d): keygen %.1f us, DH %.1f us\n", ROUNDS,
           kg * 1e6, dh * 1e6);
    printf("\nHandshakes (both parties, one core)        per second   floor/s   time/floor\n");
    for (size_t i = 0; i < 2; i++) {
        double floor_t = hs[i].kgs * kg + hs[i].dhs * dh;
        double t = hs_t[i];
        printf("  %-2s  (%d keygens + %d DH)                    %8.0f   %8.0f   %.3fx %s\n",
               hs[i].name, hs[i].kgs, hs[i].dhs, 1.0 / t, 1.0 / floor_t, t / floor_t,
               t / floor_t <= 1.3 ? "(target <= 1.3: met)" : "(target <= 1.3: MISSED)");
    }
    printf("\nNoise Pipes through parley_noise_conn (framing + certificate, Ed25519 verify %.1f us)\n",
           v * 1e6);
    for (size_t i = 0; i < 2; i++) {
        double floor_t = hs[i].kgs * kg + hs[i].dhs * dh + v;
        double t = pipes_t[i];
        printf("  %-2s  per second %8.0f   floor(+verify)/s %8.0f   time/floor %.3fx\n",
               hs[i].name, 1.0 / t, 1.0 / floor_t, t / floor_t);
    }

    parley_noise_hs *a = NULL, *b = NULL;
    parley_noise_cipher *atx = NULL, *arx = NULL, *btx = NULL, *brx = NULL;
    uint8_t msg[256], pl[64];
    size_t n, m;
    if (parley_noise_hs_new(&a, PARLEY_NOISE_PROTO_XX, 1) < 0 ||
        parley_noise_hs_new(&b, PARLEY_NOISE_PROTO_XX, 0) < 0 ||
        parley_noise_hs_set_static(a, ipriv) < 0 || parley_noise_hs_set_static(b, rpriv) < 0)
        return 1;
    while (parley_noise_hs_action(a) != PARLEY_NOISE_ACTION_SPLIT) {
        int aw = parley_noise_hs_action(a) == PARLEY_NOISE_ACTION_WRITE;
        if (parley_noise_hs_write(aw ? a : b, NULL, 0, msg, sizeof msg, &n) < 0 ||
            parley_noise_hs_read(aw ? b : a, msg, n, pl, sizeof pl, &m) < 0)
            return 1;
    }
    if (parley_noise_hs_split(a, &atx, &arx) < 0 || parley_noise_hs_split(b, &btx, &brx) < 0)
        return 1;
    memset(plain, 0x42, sizeof plain);
    static const size_t sizes[] = {64, 1024, 16384, 65519};
    printf("\nTransport (MB/s; ratio = parley / raw OpenSSL AES-256-GCM on the same bytes)\n");
    printf("  size      encrypt  raw      ratio    decrypt  raw      ratio\n");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        double re = 1e9, ne = 1e9, rd = 1e9, nd = 1e9, t;
        for (int r = 0; r < ROUNDS; r++) {
            if ((t = raw_gcm(len, 1)) < re)
                re = t;
            if ((t = noise_gcm(atx, brx, len, 1)) < ne)
                ne = t;
            if ((t = raw_gcm(len, 0)) < rd)
                rd = t;
            if ((t = noise_gcm(atx, brx, len, 0)) < nd)
                nd = t;
        }
        double mb = (double)len / 1e6;
        printf("  %-8zu  %7.1f  %7.1f  %.3f    %7.1f  %7.1f  %.3f\n", len, mb / ne, mb / re, re / ne,
               mb / nd, mb / rd, rd / nd);
    }
    parley_noise_cipher_free(atx);
    parley_noise_cipher_free(arx);
    parley_noise_cipher_free(btx);
    parley_noise_cipher_free(brx);
    parley_noise_hs_free(a);
    parley_noise_hs_free(b);
    return (int)(sink & 0);
}
