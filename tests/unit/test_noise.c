/*
 * Noise framework: every pattern round-trips with random keys, tampering
 * is refused, nonces never repeat, rekey and the protocol-name parser.
 * The cacophony vectors run through parley-noise-vectors (noise_vectors).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crypto/crypto.h"
#include "noise/noise_internal.h"
#include "parley/noise.h"

static const char *const bases[] = {
    "N",   "K",    "X",    "NN",  "NK",   "NX",  "KN",   "KK",   "KX",   "XN",
    "XK",  "XX",   "IN",   "IK",  "IX",   "NK1", "NX1",  "X1N",  "X1K",  "XK1",
    "X1K1", "X1X", "XX1",  "X1X1", "K1N", "K1K", "KK1",  "K1K1", "K1X",  "KX1",
    "K1X1", "I1N", "I1K",  "IK1", "I1K1", "I1X", "IX1",  "I1X1",
};

typedef struct {
    parley_noise_hs *hs[2];
    parley_noise_cipher *send[2], *recv[2];
} pair;

static void pair_free(pair *p)
{
    for (int i = 0; i < 2; i++) {
        parley_noise_hs_free(p->hs[i]);
        parley_noise_cipher_free(p->send[i]);
        parley_noise_cipher_free(p->recv[i]);
    }
    memset(p, 0, sizeof *p);
}

/* Creates both parties of a protocol with random keys wherever the pattern needs them. */
static int pair_new(pair *p, const char *proto)
{
    uint8_t spriv[2][32], spub[2][32], epriv[2][32], epub[2][32], psk[32];
    memset(p, 0, sizeof *p);
    if (parley_noise_hs_new(&p->hs[0], proto, 1) < 0 || parley_noise_hs_new(&p->hs[1], proto, 0) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (pc_x25519_keygen(spub[i], spriv[i]) < 0 || pc_x25519_keygen(epub[i], epriv[i]) < 0)
            return -1;
    }
    static const uint8_t prologue[] = "test prologue";
    for (int i = 0; i < 2; i++)
        if (parley_noise_hs_set_prologue(p->hs[i], prologue, sizeof prologue) < 0)
            return -1;
    for (int i = 0; i < 2; i++) {
        parley_noise_hs *me = p->hs[i], *peer = p->hs[1 - i];
        if (parley_noise_hs_needs_static(me) && parley_noise_hs_set_static(me, spriv[i]) < 0)
            return -1;
        if (parley_noise_hs_needs_remote_static(peer) &&
            parley_noise_hs_set_remote_static(peer, spub[i]) < 0)
            return -1;
        if (parley_noise_hs_needs_remote_ephemeral(peer) &&
            (parley_noise_hs_set_ephemeral(me, epriv[i]) < 0 ||
             parley_noise_hs_set_remote_ephemeral(peer, epub[i]) < 0))
            return -1;
    }
    for (int k = 0; k < parley_noise_hs_psk_count(p->hs[0]); k++) {
        if (pc_random(psk, sizeof psk) < 0 || parley_noise_hs_add_psk(p->hs[0], psk) < 0 ||
            parley_noise_hs_add_psk(p->hs[1], psk) < 0)
            return -1;
    }
    return 0;
}

static uint8_t buf[PARLEY_NOISE_MAX_MSG], pbuf_[PARLEY_NOISE_MAX_MSG];

/* Runs the handshake to the end; returns the number of messages or -1. */
static int run_handshake(pair *p)
{
    int msgs = 0;
    while (parley_noise_hs_action(p->hs[0]) != PARLEY_NOISE_ACTION_SPLIT) {
        int s = parley_noise_hs_action(p->hs[0]) == PARLEY_NOISE_ACTION_WRITE ? 0 : 1;
        char payload[32];
        size_t n = 0, m = 0;
        int plen = snprintf(payload, sizeof payload, "payload %d", msgs);
        if (parley_noise_hs_action(p->hs[s]) != PARLEY_NOISE_ACTION_WRITE ||
            parley_noise_hs_action(p->hs[1 - s]) != PARLEY_NOISE_ACTION_READ)
            return -1;
        if (parley_noise_hs_write(p->hs[s], (const uint8_t *)payload, (size_t)plen, buf, sizeof buf,
                                  &n) < 0)
            return -1;
        if (parley_noise_hs_read(p->hs[1 - s], buf, n, pbuf_, sizeof pbuf_, &m) < 0)
            return -1;
        if (m != (size_t)plen || memcmp(pbuf_, payload, m) != 0)
            return -1;
        msgs++;
        if (msgs > 8)
            return -1;
    }
    if (parley_noise_hs_action(p->hs[1]) != PARLEY_NOISE_ACTION_SPLIT)
        return -1;
    for (int i = 0; i < 2; i++)
        if (parley_noise_hs_split(p->hs[i], &p->send[i], &p->recv[i]) < 0)
            return -1;
    return msgs;
}

static int transport_ok(pair *p, int from)
{
    static const uint8_t msg[] = "transport message";
    size_t n = 0, m = 0;
    if (p->send[from] == NULL || p->recv[1 - from] == NULL)
        return 0;
    if (parley_noise_cipher_encrypt(p->send[from], NULL, 0, msg, sizeof msg, buf, sizeof buf, &n) < 0)
        return 0;
    if (parley_noise_cipher_decrypt(p->recv[1 - from], NULL, 0, buf, n, pbuf_, sizeof pbuf_, &m) < 0)
        return 0;
    return m == sizeof msg && memcmp(pbuf_, msg, m) == 0;
}

static void roundtrip(const char *proto)
{
    pair p;
    uint8_t h0[32], h1[32];
    int ok = pair_new(&p, proto) == 0 && run_handshake(&p) > 0;
    if (!ok)
        fprintf(stderr, "round trip failed: %s\n", proto);
    CHECK(ok);
    if (ok) {
        CHECK_RC(parley_noise_hs_handshake_hash(p.hs[0], h0), PARLEY_OK);
        CHECK_RC(parley_noise_hs_handshake_hash(p.hs[1], h1), PARLEY_OK);
        CHECK_MEM(h0, h1, 32);
        CHECK(transport_ok(&p, 0));
        if (parley_noise_hs_is_one_way(p.hs[0])) {
            CHECK(p.send[1] == NULL && p.recv[0] == NULL);
        } else {
            CHECK(transport_ok(&p, 1));
            CHECK(transport_ok(&p, 0));
        }
    }
    pair_free(&p);
}

static void test_all_patterns(void)
{
    char name[128];
    int fallbacks = 0;
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        int one_way = strlen(bases[i]) == 1;
        snprintf(name, sizeof name, "Noise_%s_25519_AESGCM_SHA256", bases[i]);
        roundtrip(name);
        /* psk0 .. psk3 wherever the pattern has that many messages. */
        for (int k = 0; k <= 3; k++) {
            parley_noise_hs *hs = NULL;
            snprintf(name, sizeof name, "Noise_%spsk%d_25519_AESGCM_SHA256", bases[i], k);
            if (parley_noise_hs_new(&hs, name, 1) == PARLEY_OK) {
                parley_noise_hs_free(hs);
                roundtrip(name);
            } else {
                CHECK(k > 1 || (one_way && k > 1));
            }
        }
        snprintf(name, sizeof name, "Noise_%spsk0+psk2_25519_AESGCM_SHA256", bases[i]);
        if (!one_way)
            roundtrip(name);
        /* fallback, where the first message is only e and s. */
        parley_noise_hs *hs = NULL;
        snprintf(name, sizeof name, "Noise_%sfallback_25519_AESGCM_SHA256", bases[i]);
        if (parley_noise_hs_new(&hs, name, 1) == PARLEY_OK) {
            parley_noise_hs_free(hs);
            roundtrip(name);
            snprintf(name, sizeof name, "Noise_%sfallback+psk0_25519_AESGCM_SHA256", bases[i]);
            roundtrip(name);
            fallbacks++;
        }
    }
    /* NN, NX, NX1, KN, KX, KX1, K1N, K1X, K1X1, XN, XX, X1N, X1X, XX1, X1X1, IN, IX, I1N, I1X, IX1, I1X1 ... */
    CHECK(fallbacks >= 20);
}

/* XXfallback in canonical form: the initiator (Bob) writes e, ee, s, se. */
static void test_fallback_shape(void)
{
    noise_pattern pat;
    CHECK_RC(noise_pattern_parse("Noise_XXfallback_25519_AESGCM_SHA256", &pat), PARLEY_OK);
    CHECK(pat.n_pre_i == 0 && pat.n_pre_r == 1 && pat.pre_r[0] == NT_E);
    CHECK(pat.n_msgs == 2);
    CHECK(pat.msg_len[0] == 4 && pat.msg[0][0] == NT_E && pat.msg[0][1] == NT_EE &&
          pat.msg[0][2] == NT_S && pat.msg[0][3] == NT_SE);
    CHECK(pat.msg_len[1] == 2 && pat.msg[1][0] == NT_S && pat.msg[1][1] == NT_ES);
    CHECK_RC(noise_pattern_parse("Noise_XXpsk3_25519_AESGCM_SHA256", &pat), PARLEY_OK);
    CHECK(pat.msg_len[2] == 3 && pat.msg[2][2] == NT_PSK && pat.psk_mode);
    CHECK_RC(noise_pattern_parse("Noise_NNpsk0_25519_AESGCM_SHA256", &pat), PARLEY_OK);
    CHECK(pat.msg[0][0] == NT_PSK && pat.msg[0][1] == NT_E);
}

static void test_names(void)
{
    static const char *const bad[] = {
        "",
        "Noise_",
        "Noise_XX",
        "Noise_XX_25519_ChaChaPoly_SHA256",
        "Noise_XX_25519_AESGCM_SHA512",
        "Noise_XX_448_AESGCM_SHA256",
        "Noise_ZZ_25519_AESGCM_SHA256",
        "Noise_xx_25519_AESGCM_SHA256",
        "Noise__25519_AESGCM_SHA256",
        "Noise_XXpsk_25519_AESGCM_SHA256",
        "Noise_XXpsk4_25519_AESGCM_SHA256",
        "Noise_NNpsk3_25519_AESGCM_SHA256",
        "Noise_XXpsk0+_25519_AESGCM_SHA256",
        "Noise_XX+psk0_25519_AESGCM_SHA256",
        "Noise_XXfoo_25519_AESGCM_SHA256",
        "Noise_NKfallback_25519_AESGCM_SHA256",
        "Noise_Nfallback_25519_AESGCM_SHA256",
        "Noise_XXpsk0+psk1+psk2+psk3+psk0_25519_AESGCM_SHA256",
        "noise_XX_25519_AESGCM_SHA256",
        "Noise_XX_25519_AESGCM_SHA256 ",
        "Noise_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
        "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX_25519_AESGCM_SHA256",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parley_noise_hs *hs = NULL;
        int rc = parley_noise_hs_new(&hs, bad[i], 1);
        if (rc != PARLEY_ERR_INVALID_ARG)
            fprintf(stderr, "accepted bad name: %s\n", bad[i]);
        CHECK_RC(rc, PARLEY_ERR_INVALID_ARG);
        CHECK(hs == NULL);
    }
}

/* Every byte of every XX handshake message matters. */
static void test_tamper_handshake(void)
{
    for (int target = 0; target < 3; target++) {
        for (size_t pos = 0; pos < 200; pos += 7) {
            pair p;
            int failed = 0, msgs = 0, tampered = 0;
            CHECK(pair_new(&p, "Noise_XX_25519_AESGCM_SHA256") == 0);
            while (!failed && parley_noise_hs_action(p.hs[0]) != PARLEY_NOISE_ACTION_SPLIT) {
                int s = parley_noise_hs_action(p.hs[0]) == PARLEY_NOISE_ACTION_WRITE ? 0 : 1;
                size_t n = 0, m = 0;
                static const uint8_t pl[] = "hello";
                if (parley_noise_hs_write(p.hs[s], pl, sizeof pl, buf, sizeof buf, &n) < 0) {
                    failed = 1;
                    break;
                }
                if (msgs == target && pos < n) {
                    buf[pos] ^= 0x01;
                    tampered = 1;
                }
                if (parley_noise_hs_read(p.hs[1 - s], buf, n, pbuf_, sizeof pbuf_, &m) < 0)
                    failed = 1;
                msgs++;
            }
            /* A flipped bit in message 1 (e and a clear payload) is caught by message 2. */
            if (tampered)
                CHECK(failed);
            if (tampered && failed) {
                CHECK(parley_noise_hs_action(p.hs[0]) == PARLEY_NOISE_ACTION_FAILED ||
                      parley_noise_hs_action(p.hs[1]) == PARLEY_NOISE_ACTION_FAILED);
            }
            pair_free(&p);
        }
    }
}

static void test_transport(void)
{
    pair p;
    size_t n = 0, m = 0;
    static uint8_t big[PARLEY_NOISE_MAX_MSG];
    CHECK(pair_new(&p, "Noise_XX_25519_AESGCM_SHA256") == 0);
    CHECK(run_handshake(&p) == 3);

    /* Largest message: 65535 bytes with the tag. */
    memset(big, 0xab, sizeof big);
    CHECK_RC(parley_noise_cipher_encrypt(p.send[0], NULL, 0, big, 65535 - 16, buf, sizeof buf, &n),
             PARLEY_OK);
    CHECK(n == 65535);
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[1], NULL, 0, buf, n, pbuf_, sizeof pbuf_, &m),
             PARLEY_OK);
    CHECK(m == 65535 - 16 && memcmp(pbuf_, big, m) == 0);
    CHECK_RC(parley_noise_cipher_encrypt(p.send[0], NULL, 0, big, 65535 - 15, buf, sizeof buf, &n),
             PARLEY_ERR_FRAME_TOO_LARGE);
    CHECK_RC(parley_noise_cipher_encrypt(p.send[0], NULL, 0, big, 100, buf, 115, &n),
             PARLEY_ERR_BUFFER);

    /* A tampered transport message is refused and does not consume a nonce. */
    static const uint8_t msg[] = "stanza";
    uint64_t before = parley_noise_cipher_nonce(p.recv[0]);
    CHECK_RC(parley_noise_cipher_encrypt(p.send[1], NULL, 0, msg, sizeof msg, buf, sizeof buf, &n),
             PARLEY_OK);
    for (size_t i = 0; i < n; i++) {
        buf[i] ^= 0x80;
        CHECK_RC(parley_noise_cipher_decrypt(p.recv[0], NULL, 0, buf, n, pbuf_, sizeof pbuf_, &m),
                 PARLEY_ERR_NOISE_DECRYPT);
        buf[i] ^= 0x80;
    }
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[0], NULL, 0, buf, n - 1, pbuf_, sizeof pbuf_, &m),
             PARLEY_ERR_NOISE_DECRYPT);
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[0], NULL, 0, buf, 15, pbuf_, sizeof pbuf_, &m),
             PARLEY_ERR_NOISE_DECRYPT);
    CHECK(parley_noise_cipher_nonce(p.recv[0]) == before);
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[0], NULL, 0, buf, n, pbuf_, sizeof pbuf_, &m),
             PARLEY_OK);
    CHECK(m == sizeof msg && memcmp(pbuf_, msg, m) == 0);
    /* Replay: the same ciphertext under the next nonce fails. */
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[0], NULL, 0, buf, n, pbuf_, sizeof pbuf_, &m),
             PARLEY_ERR_NOISE_DECRYPT);
    pair_free(&p);
}

static void test_nonce_exhaustion(void)
{
    pair p;
    size_t n = 0, m = 0;
    static const uint8_t msg[] = "last";
    CHECK(pair_new(&p, "Noise_NN_25519_AESGCM_SHA256") == 0);
    CHECK(run_handshake(&p) == 2);
    parley_noise_cipher_set_nonce(p.send[0], UINT64_MAX - 1);
    parley_noise_cipher_set_nonce(p.recv[1], UINT64_MAX - 1);
    CHECK_RC(parley_noise_cipher_encrypt(p.send[0], NULL, 0, msg, sizeof msg, buf, sizeof buf, &n),
             PARLEY_OK);
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[1], NULL, 0, buf, n, pbuf_, sizeof pbuf_, &m),
             PARLEY_OK);
    CHECK(parley_noise_cipher_nonce(p.send[0]) == UINT64_MAX);
    /* 2^64-1 is reserved: no more messages either way. */
    CHECK_RC(parley_noise_cipher_encrypt(p.send[0], NULL, 0, msg, sizeof msg, buf, sizeof buf, &n),
             PARLEY_ERR_NOISE_NONCE_EXHAUSTED);
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[1], NULL, 0, buf, 20, pbuf_, sizeof pbuf_, &m),
             PARLEY_ERR_NOISE_NONCE_EXHAUSTED);
    pair_free(&p);
}

static void test_rekey(void)
{
    pair p;
    size_t n = 0, m = 0;
    static const uint8_t msg[] = "after rekey";
    CHECK(pair_new(&p, "Noise_XX_25519_AESGCM_SHA256") == 0);
    CHECK(run_handshake(&p) == 3);
    CHECK(transport_ok(&p, 0));
    uint64_t nonce = parley_noise_cipher_nonce(p.send[0]);
    CHECK_RC(parley_noise_cipher_rekey(p.send[0]), PARLEY_OK);
    CHECK(parley_noise_cipher_nonce(p.send[0]) == nonce); /* spec 11.3: n is kept */
    CHECK_RC(parley_noise_cipher_encrypt(p.send[0], NULL, 0, msg, sizeof msg, buf, sizeof buf, &n),
             PARLEY_OK);
    /* Not rekeyed yet: refused. */
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[1], NULL, 0, buf, n, pbuf_, sizeof pbuf_, &m),
             PARLEY_ERR_NOISE_DECRYPT);
    CHECK_RC(parley_noise_cipher_rekey(p.recv[1]), PARLEY_OK);
    CHECK_RC(parley_noise_cipher_decrypt(p.recv[1], NULL, 0, buf, n, pbuf_, sizeof pbuf_, &m),
             PARLEY_OK);
    CHECK(m == sizeof msg && memcmp(pbuf_, msg, m) == 0);
    CHECK(transport_ok(&p, 1)); /* the other direction is untouched */
    pair_free(&p);

    /* REKEY(k) = first 32 bytes of AESGCM(k, nonce 2^64-1, "", 32 zeros): known answer. */
    noise_cs cs;
    uint8_t k[32], zeros[32] = {0}, out[48], nonce_max[12];
    memset(&cs, 0, sizeof cs);
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)i;
    memset(nonce_max, 0xff, sizeof nonce_max);
    memset(nonce_max, 0, 4);
    CHECK_RC(pc_aes256_gcm_seal(out, k, nonce_max, NULL, 0, zeros, sizeof zeros), PARLEY_OK);
    noise_cs_init_key(&cs, k);
    CHECK_RC(noise_cs_rekey(&cs), PARLEY_OK);
    CHECK_MEM(cs.k, out, 32);
    noise_cs_clear(&cs);
}

static void test_misuse_states(void)
{
    pair p;
    size_t n = 0, m = 0;
    parley_noise_cipher *a = NULL, *b = NULL;
    CHECK(pair_new(&p, "Noise_XX_25519_AESGCM_SHA256") == 0);
    /* Responder cannot write first; initiator cannot read first. */
    CHECK_RC(parley_noise_hs_write(p.hs[1], NULL, 0, buf, sizeof buf, &n), PARLEY_ERR_STATE);
    CHECK_RC(parley_noise_hs_read(p.hs[0], buf, 32, pbuf_, sizeof pbuf_, &m), PARLEY_ERR_STATE);
    CHECK_RC(parley_noise_hs_split(p.hs[0], &a, &b), PARLEY_ERR_STATE);
    /* Too small an output buffer. */
    CHECK_RC(parley_noise_hs_write(p.hs[0], NULL, 0, buf, 31, &n), PARLEY_ERR_BUFFER);
    pair_free(&p);

    /* Short handshake messages are refused. */
    CHECK(pair_new(&p, "Noise_XX_25519_AESGCM_SHA256") == 0);
    CHECK_RC(parley_noise_hs_write(p.hs[0], NULL, 0, buf, sizeof buf, &n), PARLEY_OK);
    CHECK_RC(parley_noise_hs_read(p.hs[1], buf, 31, pbuf_, sizeof pbuf_, &m),
             PARLEY_ERR_NOISE_HANDSHAKE);
    CHECK(parley_noise_hs_action(p.hs[1]) == PARLEY_NOISE_ACTION_FAILED);
    pair_free(&p);

    /* Missing PSK. */
    CHECK_RC(parley_noise_hs_new(&p.hs[0], "Noise_NNpsk0_25519_AESGCM_SHA256", 1), PARLEY_OK);
    CHECK_RC(parley_noise_hs_write(p.hs[0], NULL, 0, buf, sizeof buf, &n), PARLEY_ERR_STATE);
    parley_noise_hs_free(p.hs[0]);

    /* A low-order ephemeral from the peer fails the DH. */
    CHECK(pair_new(&p, "Noise_NN_25519_AESGCM_SHA256") == 0);
    CHECK_RC(parley_noise_hs_write(p.hs[0], NULL, 0, buf, sizeof buf, &n), PARLEY_OK);
    memset(buf, 0, 32);
    CHECK_RC(parley_noise_hs_read(p.hs[1], buf, n, pbuf_, sizeof pbuf_, &m), PARLEY_OK);
    CHECK_RC(parley_noise_hs_write(p.hs[1], NULL, 0, buf, sizeof buf, &n),
             PARLEY_ERR_NOISE_HANDSHAKE);
    pair_free(&p);
}

int main(void)
{
    test_all_patterns();
    test_fallback_shape();
    test_names();
    test_tamper_handshake();
    test_transport();
    test_nonce_exhaustion();
    test_rekey();
    test_misuse_states();
    TEST_MAIN_END();
}
