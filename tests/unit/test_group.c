/*
 * Sender keys: vectors from @signalapp/libsignal-client (its SKDM and
 * messages decrypt in parley, and parley's key derivation reproduces its
 * ciphertexts byte for byte), round trips, every distinct error, the
 * libsignal limits (forward jump, kept message keys, chain ids per
 * sender), state that changes only on success, and the store loader.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crypto/crypto.h"
#include "parley/group.h"
#include "signal/sender_key_internal.h"
#include "util/safety.h"

/* From @signalapp/libsignal-client 0.103.0: sender ("alice", 1) created
 * a sender key for the distribution below (SenderKeyDistributionMessage.create)
 * and encrypted five messages with groupEncrypt; a second store decrypted
 * them with groupDecrypt before they were recorded. */
static const char *node_dist = "6f0b1c5e-2a4d-4e8f-9b3a-7c1d2e3f4a5b";
static const char *node_skdm = "330a106f0b1c5e2a4d4e8f9b3a7c1d2e3f4a5b10a58fb8b50318002220de5a1c"
                               "de4ff2142c3523cc4ebbd84e17a33ca4e7e1cdcf554f181ba7934f9b422a2105"
                               "8bafdad9c86ae1ebc96e79ff19b375ee495659b08026960b45163cf304336f48";
static const struct {
    const char *pt, *ct;
} node_msgs[] = {
    {"", "330a106f0b1c5e2a4d4e8f9b3a7c1d2e3f4a5b10a58fb8b5031800221005f4ee"
         "9432233ea1729d65d756414fbfebdc10dc9f552ec605a4958ce2430f494df9ce"
         "d368889b3c93751494317f1cb543b2bf93d9238a5084b02ad36d7bcda238e40b"
         "2a33df77ee32f2374629e89f09"},
    {"68656c6c6f2067726f7570", "330a106f0b1c5e2a4d4e8f9b3a7c1d2e3f4a5b10a58fb8b50318012210a52563"
                               "d51cc97f70269abf70a40345515de9bb4075cb55886efa7619b7c5bf7d98a21c"
                               "6f70684314b70cdcd7ddc36498410bf1d28f129f8721241fdd44c78796aef98d"
                               "433731c6442132e984ecde5308"},
    {"78787878787878787878787878787878",
     "330a106f0b1c5e2a4d4e8f9b3a7c1d2e3f4a5b10a58fb8b50318022220a16efc"
     "61a2679b22966e8851b5fbc8de6722783c9db9b098acc0af2842cfb32763add8"
     "a201948cd0b18564dd4f4e4471ce4e84106877fd638e25abdfc938718a1443e8"
     "3f4f567fee676d2bf0e7bfc905dd40ae776f8cd5872bfabae097e16106"},
    {"6d657373616765206e756d6265722074687265652c2061206c6974746c65206c"
     "6f6e676572207468616e206120626c6f636b206f722074776f",
     "330a106f0b1c5e2a4d4e8f9b3a7c1d2e3f4a5b10a58fb8b5031803224027cca0"
     "6e7502a48fc2e2ac948cfb8e50a7058d58ea0ef0341152cd6f7ecbf5341937c1"
     "72b4ec3565bb41df96afe147e29dbc34cdbf6f748fd4f90220324fc0414cf52d"
     "2b1d1be57e443dcc38704cc1a8c316672b2b685b809473da74cb43de68178902"
     "306b3a56b18ae3fb4774fa2fb80fc92efe18c64ee46dbef0a1dac7a603"},
    {"0707070707070707070707070707070707070707070707070707070707070707"
     "0707070707070707070707070707070707070707070707070707070707070707"
     "0707070707070707070707070707070707070707070707070707070707070707"
     "07070707",
     "330a106f0b1c5e2a4d4e8f9b3a7c1d2e3f4a5b10a58fb8b50318042270d52204"
     "0d713a6387ec805fbe12bd7145edbc25a6f8dc67a0dd060240b65cd28fb3161a"
     "87ca5f63f4d8688ba5c5c66d3bb82d28d7d1d80cb33e7d9c6fe2b9b9ccf8fd24"
     "81392ff4eb89817dac02409598432cf661003f7284be1205e954311a286bec7b"
     "5ff9c53572c5c555246150858afdbcad843a9d1436106d14e80c42a904323e1c"
     "9e7b217045b7bd3d696b37c0935908f598706e96b4c9a4c322cacb8c5dd477dd"
     "c7474cdfc0dde48a6e98183a07"},
};

static const uint8_t DIST[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00};

typedef struct {
    uint8_t b[512];
    size_t n;
} msg;

static void encrypt_text(parley_group_store *s, const char *self, const uint8_t *dist,
                         const char *text, msg *out)
{
    CHECK_RC(parley_group_encrypt(s, self, 1, dist, (const uint8_t *)text, strlen(text), out->b,
                                  sizeof out->b, &out->n),
             PARLEY_OK);
}

/* Decrypt and compare with the expected text. */
static void expect_text(parley_group_store *s, const char *sender, const msg *m, const char *text)
{
    uint8_t pt[512];
    size_t n = 0;
    CHECK_RC(parley_group_decrypt(s, sender, 1, m->b, m->n, pt, sizeof pt, &n), PARLEY_OK);
    CHECK(n == strlen(text) && memcmp(pt, text, n) == 0);
}

static int decrypt_rc(parley_group_store *s, const char *sender, const uint8_t *b, size_t n)
{
    uint8_t pt[1024];
    size_t pn = 0;
    return parley_group_decrypt(s, sender, 1, b, n, pt, sizeof pt, &pn);
}

/* Serialize a store, for state comparisons. */
static uint8_t *snapshot(const parley_group_store *s, size_t *n)
{
    uint8_t *p = NULL;
    if (parley_group_store_serialize(s, &p, n) != PARLEY_OK)
        return NULL;
    return p;
}

static int same_snapshot(const parley_group_store *s, const uint8_t *p, size_t n)
{
    size_t m = 0;
    uint8_t *q = snapshot(s, &m);
    int same = q != NULL && m == n && memcmp(p, q, n) == 0;
    parley_group_buffer_free(q, m);
    return same;
}

static void test_node_vectors(void)
{
    parley_group_store *bob = NULL;
    uint8_t dist[16], skdm[256];
    CHECK_RC(parley_group_store_new(&bob), PARLEY_OK);
    CHECK_RC(parley_group_uuid_parse(dist, node_dist), PARLEY_OK);
    size_t skdm_len = check_unhex(skdm, sizeof skdm, node_skdm);
    CHECK_RC(parley_group_process(bob, "alice", 1, skdm, skdm_len), PARLEY_OK);

    sk_skdm d;
    CHECK_RC(sk_skdm_decode(&d, skdm, skdm_len), PARLEY_OK);
    CHECK_MEM(d.dist, dist, 16);
    CHECK(d.iteration == 0);
    /* Re-encoding the decoded SKDM gives libsignal's bytes back. */
    uint8_t again[256];
    size_t again_len = 0;
    CHECK_RC(sk_skdm_encode(&d, again, sizeof again, &again_len), PARLEY_OK);
    CHECK(again_len == skdm_len);
    CHECK_MEM(again, skdm, skdm_len);

    /* Our derivation reproduces each ciphertext: chain key -> seed ->
     * "WhisperGroup" keys -> AES-256-CBC. */
    uint8_t ck[32];
    memcpy(ck, d.chain_key, 32);
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(node_msgs); i++) {
        uint8_t m[512], pt[256], seed[32], iv[16], key[32], ct[300], next[32];
        size_t mn = check_unhex(m, sizeof m, node_msgs[i].ct);
        size_t pn = check_unhex(pt, sizeof pt, node_msgs[i].pt), cn = 0;
        sk_skm skm;
        CHECK_RC(sk_skm_decode(&skm, m, mn), PARLEY_OK);
        CHECK(skm.iteration == i && skm.chain_id == d.chain_id);
        CHECK_RC(sk_chain_message_seed(seed, ck), PARLEY_OK);
        CHECK_RC(sk_message_keys(iv, key, seed), PARLEY_OK);
        CHECK_RC(pc_aes256_cbc_encrypt(ct, sizeof ct, &cn, key, iv, pt, pn), PARLEY_OK);
        CHECK(cn == skm.ciphertext_len);
        CHECK(skm.ciphertext != NULL && memcmp(ct, skm.ciphertext, cn) == 0);
        sk_skm_free(&skm);
        CHECK_RC(sk_chain_next(next, ck), PARLEY_OK);
        memcpy(ck, next, 32);
    }

    /* Decrypt out of order: 3, 0, 4, 1, 2; then each is a duplicate. */
    static const size_t order[] = {3, 0, 4, 1, 2};
    for (size_t k = 0; k < PARLEY_ARRAY_LEN(order); k++) {
        size_t i = order[k];
        uint8_t m[512], want[256], pt[512];
        size_t mn = check_unhex(m, sizeof m, node_msgs[i].ct);
        size_t wn = check_unhex(want, sizeof want, node_msgs[i].pt), pn = 0;
        CHECK_RC(parley_group_decrypt(bob, "alice", 1, m, mn, pt, sizeof pt, &pn), PARLEY_OK);
        CHECK(pn == wn && memcmp(pt, want, wn) == 0);
    }
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(node_msgs); i++) {
        uint8_t m[512];
        size_t mn = check_unhex(m, sizeof m, node_msgs[i].ct);
        CHECK_RC(decrypt_rc(bob, "alice", m, mn), PARLEY_ERR_DUPLICATE);
    }
    /* The same message from another sender address has no session. */
    uint8_t m0[512];
    size_t m0n = check_unhex(m0, sizeof m0, node_msgs[0].ct);
    CHECK_RC(decrypt_rc(bob, "mallory", m0, m0n), PARLEY_ERR_NO_SESSION);
    uint8_t pt[512];
    size_t pn;
    CHECK_RC(parley_group_decrypt(bob, "alice", 2, m0, m0n, pt, sizeof pt, &pn),
             PARLEY_ERR_NO_SESSION);
    parley_group_store_free(bob);
}

static void test_round_trip(void)
{
    parley_group_store *a = NULL, *b = NULL;
    uint8_t skdm[PARLEY_GROUP_SKDM_MAX], skdm2[PARLEY_GROUP_SKDM_MAX];
    size_t sn = 0, sn2 = 0;
    CHECK_RC(parley_group_store_new(&a), PARLEY_OK);
    CHECK_RC(parley_group_store_new(&b), PARLEY_OK);

    /* No sender key yet. */
    msg m;
    CHECK_RC(
        parley_group_encrypt(a, "alice", 1, DIST, (const uint8_t *)"x", 1, m.b, sizeof m.b, &m.n),
        PARLEY_ERR_NO_SESSION);
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, skdm, sizeof skdm, &sn), PARLEY_OK);
    CHECK(sn > 65 && sn <= PARLEY_GROUP_SKDM_MAX && skdm[0] == 0x33);
    /* Asking again describes the same chain. */
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, skdm2, sizeof skdm2, &sn2), PARLEY_OK);
    CHECK(sn == sn2 && memcmp(skdm, skdm2, sn) == 0);
    CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);

    msg ms[10];
    char text[10][32];
    for (int i = 0; i < 10; i++) {
        snprintf(text[i], sizeof text[i], "message %d", i);
        encrypt_text(a, "alice", DIST, text[i], &ms[i]);
        CHECK(ms[i].n <= PARLEY_GROUP_CIPHERTEXT_MAX(strlen(text[i])));
    }
    /* Our own encrypt does not let us decrypt (no receiving state for
     * our own address in another store). */
    CHECK_RC(decrypt_rc(b, "bob", ms[0].b, ms[0].n), PARLEY_ERR_NO_SESSION);

    /* Out of order equals in order: 5, 0, 9, then the rest. */
    expect_text(b, "alice", &ms[5], text[5]);
    expect_text(b, "alice", &ms[0], text[0]);
    expect_text(b, "alice", &ms[9], text[9]);
    for (int i = 1; i < 9; i++)
        if (i != 5)
            expect_text(b, "alice", &ms[i], text[i]);
    for (int i = 0; i < 10; i++)
        CHECK_RC(decrypt_rc(b, "alice", ms[i].b, ms[i].n), PARLEY_ERR_DUPLICATE);

    /* An SKDM made after 10 messages starts at iteration 10; processing
     * a repeated SKDM does not rewind a known chain. */
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, skdm2, sizeof skdm2, &sn2), PARLEY_OK);
    sk_skdm d;
    CHECK_RC(sk_skdm_decode(&d, skdm2, sn2), PARLEY_OK);
    CHECK(d.iteration == 10);
    CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);
    CHECK_RC(decrypt_rc(b, "alice", ms[3].b, ms[3].n), PARLEY_ERR_DUPLICATE);

    /* A late joiner given the later SKDM cannot read earlier messages. */
    parley_group_store *c = NULL;
    CHECK_RC(parley_group_store_new(&c), PARLEY_OK);
    CHECK_RC(parley_group_process(c, "alice", 1, skdm2, sn2), PARLEY_OK);
    CHECK_RC(decrypt_rc(c, "alice", ms[9].b, ms[9].n), PARLEY_ERR_DUPLICATE);
    msg late;
    encrypt_text(a, "alice", DIST, "after join", &late);
    expect_text(c, "alice", &late, "after join");
    expect_text(b, "alice", &late, "after join");

    /* Empty plaintext and a large one. */
    uint8_t *big = malloc(PARLEY_GROUP_MAX_PLAINTEXT);
    uint8_t *ct = malloc(PARLEY_GROUP_CIPHERTEXT_MAX(PARLEY_GROUP_MAX_PLAINTEXT));
    uint8_t *back = malloc(PARLEY_GROUP_CIPHERTEXT_MAX(PARLEY_GROUP_MAX_PLAINTEXT));
    CHECK(big != NULL && ct != NULL && back != NULL);
    if (big != NULL && ct != NULL && back != NULL) {
        size_t cn = 0, bn = 0;
        memset(big, 0x5a, PARLEY_GROUP_MAX_PLAINTEXT);
        CHECK_RC(parley_group_encrypt(a, "alice", 1, DIST, big, PARLEY_GROUP_MAX_PLAINTEXT, ct,
                                      PARLEY_GROUP_CIPHERTEXT_MAX(PARLEY_GROUP_MAX_PLAINTEXT), &cn),
                 PARLEY_OK);
        CHECK_RC(parley_group_decrypt(b, "alice", 1, ct, cn, back,
                                      PARLEY_GROUP_CIPHERTEXT_MAX(PARLEY_GROUP_MAX_PLAINTEXT), &bn),
                 PARLEY_OK);
        CHECK(bn == PARLEY_GROUP_MAX_PLAINTEXT && memcmp(back, big, bn) == 0);
        CHECK_RC(parley_group_encrypt(a, "alice", 1, DIST, big, PARLEY_GROUP_MAX_PLAINTEXT + 1, ct,
                                      PARLEY_GROUP_CIPHERTEXT_MAX(PARLEY_GROUP_MAX_PLAINTEXT), &cn),
                 PARLEY_ERR_INVALID_ARG);
        /* Output space is checked on both sides. */
        CHECK_RC(parley_group_encrypt(a, "alice", 1, DIST, big, 100, ct, 100, &cn),
                 PARLEY_ERR_BUFFER);
        CHECK_RC(parley_group_encrypt(a, "alice", 1, DIST, big, 100, ct,
                                      PARLEY_GROUP_CIPHERTEXT_MAX(100), &cn),
                 PARLEY_OK);
        CHECK_RC(parley_group_decrypt(b, "alice", 1, ct, cn, back, 50, &bn), PARLEY_ERR_BUFFER);
        CHECK_RC(parley_group_decrypt(b, "alice", 1, ct, cn, back, 200, &bn), PARLEY_OK);
    }
    free(big);
    free(ct);
    free(back);
    msg empty;
    CHECK_RC(parley_group_encrypt(a, "alice", 1, DIST, NULL, 0, empty.b, sizeof empty.b, &empty.n),
             PARLEY_OK);
    expect_text(b, "alice", &empty, "");

    parley_group_store_free(a);
    parley_group_store_free(b);
    parley_group_store_free(c);
}

static void test_tampering(void)
{
    parley_group_store *a = NULL, *b = NULL;
    uint8_t skdm[PARLEY_GROUP_SKDM_MAX];
    size_t sn = 0;
    CHECK_RC(parley_group_store_new(&a), PARLEY_OK);
    CHECK_RC(parley_group_store_new(&b), PARLEY_OK);
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, skdm, sizeof skdm, &sn), PARLEY_OK);
    CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);
    msg m;
    encrypt_text(a, "alice", DIST, "tamper with me", &m);

    size_t before_n = 0;
    uint8_t *before = snapshot(b, &before_n);
    CHECK(before != NULL);
    /* Every byte flipped: refused, and bob's state is unchanged. */
    int all_refused = 1;
    for (size_t i = 0; i < m.n; i++) {
        m.b[i] ^= 0x01;
        int rc = decrypt_rc(b, "alice", m.b, m.n);
        if (rc == PARLEY_OK)
            all_refused = 0;
        m.b[i] ^= 0x01;
    }
    CHECK(all_refused);
    CHECK(same_snapshot(b, before, before_n));
    /* Specific ones: the signature, the ciphertext (covered by the
     * signature), the version byte. */
    m.b[m.n - 1] ^= 0x40;
    CHECK_RC(decrypt_rc(b, "alice", m.b, m.n), PARLEY_ERR_INVALID_SIGNATURE);
    m.b[m.n - 1] ^= 0x40;
    m.b[m.n - 64 - 3] ^= 0x01;
    CHECK_RC(decrypt_rc(b, "alice", m.b, m.n), PARLEY_ERR_INVALID_SIGNATURE);
    m.b[m.n - 64 - 3] ^= 0x01;
    m.b[0] = 0x23;
    CHECK_RC(decrypt_rc(b, "alice", m.b, m.n), PARLEY_ERR_LEGACY_VERSION);
    m.b[0] = 0x43;
    CHECK_RC(decrypt_rc(b, "alice", m.b, m.n), PARLEY_ERR_INVALID_MESSAGE);
    m.b[0] = 0x33;
    /* Truncated and empty. */
    CHECK_RC(decrypt_rc(b, "alice", m.b, 64), PARLEY_ERR_INVALID_MESSAGE);
    CHECK_RC(decrypt_rc(b, "alice", m.b, 0), PARLEY_ERR_INVALID_MESSAGE);
    CHECK_RC(decrypt_rc(b, "alice", m.b, m.n - 1), PARLEY_ERR_INVALID_MESSAGE);
    CHECK(same_snapshot(b, before, before_n));
    /* A message signed by someone else, under alice's chain id. */
    parley_group_store *eve = NULL;
    uint8_t eskdm[PARLEY_GROUP_SKDM_MAX];
    size_t en = 0;
    CHECK_RC(parley_group_store_new(&eve), PARLEY_OK);
    CHECK_RC(parley_group_create(eve, "alice", 1, DIST, eskdm, sizeof eskdm, &en), PARLEY_OK);
    sk_record *er = sk_store_find(eve, "alice", 1, DIST);
    sk_record *ar = sk_store_find(a, "alice", 1, DIST);
    CHECK(er != NULL && ar != NULL);
    if (er != NULL && ar != NULL) {
        er->states[0].chain_id = ar->states[0].chain_id;
        memcpy(er->states[0].chain_key, ar->states[0].chain_key, 32);
        er->states[0].iteration = ar->states[0].iteration;
        msg forged;
        encrypt_text(eve, "alice", DIST, "forged", &forged);
        CHECK_RC(decrypt_rc(b, "alice", forged.b, forged.n), PARLEY_ERR_INVALID_SIGNATURE);
    }
    CHECK(same_snapshot(b, before, before_n));
    /* A properly signed message whose ciphertext is not a whole number of
     * blocks: invalid_message, state unchanged. */
    {
        sk_state *st = &ar->states[0];
        xeddsa_signing_key signer;
        CHECK_RC(xeddsa_expand(&signer, st->sig_priv), PARLEY_OK);
        uint8_t junk[20] = {0}, out[256];
        size_t on = 0;
        CHECK_RC(sk_skm_encode(out, sizeof out, &on, DIST, st->chain_id, st->iteration, junk,
                               sizeof junk, &signer),
                 PARLEY_OK);
        CHECK_RC(decrypt_rc(b, "alice", out, on), PARLEY_ERR_INVALID_MESSAGE);
        /* and one that is whole blocks but does not unpad */
        CHECK_RC(sk_skm_encode(out, sizeof out, &on, DIST, st->chain_id, st->iteration, junk, 16,
                               &signer),
                 PARLEY_OK);
        int rc = decrypt_rc(b, "alice", out, on);
        /* 1 in 256 random blocks has valid padding; ours is all zeros
         * under a real key, which decrypts to random bytes. */
        CHECK(rc == PARLEY_ERR_INVALID_MESSAGE || rc == PARLEY_OK);
        if (rc != PARLEY_OK)
            CHECK(same_snapshot(b, before, before_n));
    }
    parley_group_buffer_free(before, before_n);
    /* The original still decrypts. */
    parley_group_store *b2 = NULL;
    CHECK_RC(parley_group_store_new(&b2), PARLEY_OK);
    CHECK_RC(parley_group_process(b2, "alice", 1, skdm, sn), PARLEY_OK);
    expect_text(b2, "alice", &m, "tamper with me");
    parley_group_store_free(b2);
    parley_group_store_free(eve);
    parley_group_store_free(a);
    parley_group_store_free(b);
}

/* Advance alice's own chain by n without sending (white box: the chain
 * walk is what a sender does when messages are lost). */
static void skip_ahead(parley_group_store *a, uint32_t n)
{
    sk_record *r = sk_store_find(a, "alice", 1, DIST);
    CHECK(r != NULL);
    if (r == NULL)
        return;
    sk_state *st = &r->states[0];
    uint8_t next[32];
    for (uint32_t i = 0; i < n; i++) {
        CHECK_RC(sk_chain_next(next, st->chain_key), PARLEY_OK);
        memcpy(st->chain_key, next, 32);
    }
    st->iteration += n;
}

static void test_limits(void)
{
    parley_group_store *a = NULL, *b = NULL;
    uint8_t skdm[PARLEY_GROUP_SKDM_MAX];
    size_t sn = 0;
    CHECK_RC(parley_group_store_new(&a), PARLEY_OK);
    CHECK_RC(parley_group_store_new(&b), PARLEY_OK);
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, skdm, sizeof skdm, &sn), PARLEY_OK);
    CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);

    msg m0, m1, far, m_edge;
    encrypt_text(a, "alice", DIST, "zero", &m0); /* iteration 0 */
    encrypt_text(a, "alice", DIST, "one", &m1);  /* iteration 1 */
    /* Exactly PARLEY_GROUP_MAX_FORWARD_JUMPS ahead of bob (at 0): accepted. */
    skip_ahead(a, PARLEY_GROUP_MAX_FORWARD_JUMPS - 2);
    encrypt_text(a, "alice", DIST, "edge", &m_edge);
    expect_text(b, "alice", &m_edge, "edge");
    sk_record *br = sk_store_find(b, "alice", 1, DIST);
    CHECK(br != NULL && br->states[0].nkeys == PARLEY_GROUP_MAX_MESSAGE_KEYS);
    CHECK(br != NULL && br->states[0].keys[0].iteration ==
                            PARLEY_GROUP_MAX_FORWARD_JUMPS - PARLEY_GROUP_MAX_MESSAGE_KEYS);
    /* The oldest skipped keys were evicted: those messages read as duplicates. */
    CHECK_RC(decrypt_rc(b, "alice", m0.b, m0.n), PARLEY_ERR_DUPLICATE);
    CHECK_RC(decrypt_rc(b, "alice", m1.b, m1.n), PARLEY_ERR_DUPLICATE);

    /* One more than the limit ahead: too far, and nothing changes. */
    skip_ahead(a, PARLEY_GROUP_MAX_FORWARD_JUMPS + 1);
    encrypt_text(a, "alice", DIST, "too far", &far);
    size_t sn0 = 0;
    uint8_t *snap = snapshot(b, &sn0);
    CHECK_RC(decrypt_rc(b, "alice", far.b, far.n), PARLEY_ERR_TOO_FAR_AHEAD);
    CHECK(snap != NULL && same_snapshot(b, snap, sn0));
    parley_group_buffer_free(snap, sn0);

    /* Skipped keys are kept at most PARLEY_GROUP_MAX_MESSAGE_KEYS: a
     * message 2001 behind the newest is gone, 2000 behind still opens. */
    parley_group_store *c = NULL;
    CHECK_RC(parley_group_store_new(&c), PARLEY_OK);
    uint8_t skdm3[PARLEY_GROUP_SKDM_MAX];
    size_t sn3 = 0;
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, skdm3, sizeof skdm3, &sn3), PARLEY_OK);
    CHECK_RC(parley_group_process(c, "alice", 1, skdm3, sn3), PARLEY_OK);
    msg first, second, last;
    encrypt_text(a, "alice", DIST, "first", &first);
    encrypt_text(a, "alice", DIST, "second", &second);
    skip_ahead(a, PARLEY_GROUP_MAX_MESSAGE_KEYS - 1);
    encrypt_text(a, "alice", DIST, "last", &last);
    /* last is 2001 after first: first's key is evicted, second's kept. */
    expect_text(c, "alice", &last, "last");
    CHECK_RC(decrypt_rc(c, "alice", first.b, first.n), PARLEY_ERR_DUPLICATE);
    expect_text(c, "alice", &second, "second");
    parley_group_store_free(c);
    parley_group_store_free(a);
    parley_group_store_free(b);
}

static void test_chains(void)
{
    parley_group_store *b = NULL;
    parley_group_store *senders[PARLEY_GROUP_MAX_STATES + 1];
    msg ms[PARLEY_GROUP_MAX_STATES + 1];
    CHECK_RC(parley_group_store_new(&b), PARLEY_OK);
    /* Six chains from "alice" (as after six re-installs): the oldest is
     * evicted, the five newest still decrypt. */
    for (int i = 0; i <= PARLEY_GROUP_MAX_STATES; i++) {
        uint8_t skdm[PARLEY_GROUP_SKDM_MAX];
        size_t sn = 0;
        CHECK_RC(parley_group_store_new(&senders[i]), PARLEY_OK);
        CHECK_RC(parley_group_create(senders[i], "alice", 1, DIST, skdm, sizeof skdm, &sn),
                 PARLEY_OK);
        CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);
        encrypt_text(senders[i], "alice", DIST, "chain", &ms[i]);
    }
    sk_record *r = sk_store_find(b, "alice", 1, DIST);
    CHECK(r != NULL && r->nstates == PARLEY_GROUP_MAX_STATES);
    CHECK_RC(decrypt_rc(b, "alice", ms[0].b, ms[0].n), PARLEY_ERR_NO_SESSION);
    for (int i = 1; i <= PARLEY_GROUP_MAX_STATES; i++)
        expect_text(b, "alice", &ms[i], "chain");

    /* A chain id reused with another signing key replaces the old state. */
    sk_record *s1 = sk_store_find(senders[1], "alice", 1, DIST);
    sk_record *s2 = sk_store_find(senders[2], "alice", 1, DIST);
    if (s1 != NULL && s2 != NULL) {
        s2->states[0].chain_id = s1->states[0].chain_id;
        uint8_t skdm[PARLEY_GROUP_SKDM_MAX];
        size_t sn = 0;
        CHECK_RC(parley_group_create(senders[2], "alice", 1, DIST, skdm, sizeof skdm, &sn),
                 PARLEY_OK);
        CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);
        msg m1, m2;
        encrypt_text(senders[1], "alice", DIST, "old key", &m1);
        encrypt_text(senders[2], "alice", DIST, "new key", &m2);
        CHECK_RC(decrypt_rc(b, "alice", m1.b, m1.n), PARLEY_ERR_INVALID_SIGNATURE);
        expect_text(b, "alice", &m2, "new key");
        /* (the count is unchanged: one state out, one in) */
        CHECK(r->nstates == PARLEY_GROUP_MAX_STATES);
    }
    /* Another distribution id from the same sender: no session. */
    uint8_t other[16];
    memcpy(other, DIST, 16);
    other[0] ^= 1;
    uint8_t skdm[PARLEY_GROUP_SKDM_MAX];
    size_t sn = 0;
    CHECK_RC(parley_group_create(senders[3], "alice", 1, other, skdm, sizeof skdm, &sn), PARLEY_OK);
    msg mo;
    encrypt_text(senders[3], "alice", other, "other group", &mo);
    CHECK_RC(decrypt_rc(b, "alice", mo.b, mo.n), PARLEY_ERR_NO_SESSION);
    CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);
    expect_text(b, "alice", &mo, "other group");
    for (int i = 0; i <= PARLEY_GROUP_MAX_STATES; i++)
        parley_group_store_free(senders[i]);
    parley_group_store_free(b);
}

static void test_skdm_negatives(void)
{
    parley_group_store *a = NULL, *b = NULL;
    uint8_t skdm[PARLEY_GROUP_SKDM_MAX], bad[PARLEY_GROUP_SKDM_MAX + 8];
    size_t sn = 0;
    CHECK_RC(parley_group_store_new(&a), PARLEY_OK);
    CHECK_RC(parley_group_store_new(&b), PARLEY_OK);
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, skdm, sizeof skdm, &sn), PARLEY_OK);
    /* A buffer too small for the SKDM. */
    size_t tn = 0;
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, bad, 50, &tn), PARLEY_ERR_BUFFER);

    CHECK_RC(parley_group_process(b, "alice", 1, skdm, 0), PARLEY_ERR_INVALID_MESSAGE);
    CHECK_RC(parley_group_process(b, "alice", 1, skdm, 64), PARLEY_ERR_INVALID_MESSAGE);
    CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn - 1), PARLEY_ERR_INVALID_MESSAGE);
    memcpy(bad, skdm, sn);
    bad[0] = 0x22;
    CHECK_RC(parley_group_process(b, "alice", 1, bad, sn), PARLEY_ERR_LEGACY_VERSION);
    bad[0] = 0x43;
    CHECK_RC(parley_group_process(b, "alice", 1, bad, sn), PARLEY_ERR_INVALID_MESSAGE);
    /* The low nibble is not checked (libsignal ignores it too). */
    bad[0] = 0x30;
    CHECK_RC(parley_group_process(b, "alice", 1, bad, sn), PARLEY_OK);
    /* Wrong key type byte: the signing key is the last field, 0x05 first. */
    memcpy(bad, skdm, sn);
    bad[sn - 33] = 0x06;
    CHECK_RC(parley_group_process(b, "alice", 1, bad, sn), PARLEY_ERR_INVALID_MESSAGE);
    /* Built by hand: each required field missing in turn, or the wrong size. */
    sk_skdm d;
    CHECK_RC(sk_skdm_decode(&d, skdm, sn), PARLEY_OK);
    {
        /* signing key of 32 bytes (no type byte) */
        size_t k = 0;
        bad[k++] = 0x33;
        bad[k++] = 0x0a;
        bad[k++] = 16;
        memcpy(bad + k, DIST, 16);
        k += 16;
        bad[k++] = 0x10;
        bad[k++] = 0x01;
        bad[k++] = 0x18;
        bad[k++] = 0x00;
        bad[k++] = 0x22;
        bad[k++] = 32;
        memcpy(bad + k, d.chain_key, 32);
        k += 32;
        size_t before_key = k;
        bad[k++] = 0x2a;
        bad[k++] = 33;
        bad[k++] = 0x05;
        memcpy(bad + k, d.sig_pub, 32);
        k += 32;
        CHECK_RC(parley_group_process(b, "zed", 1, bad, k), PARLEY_OK);
        bad[before_key + 1] = 32;
        CHECK_RC(parley_group_process(b, "zed", 1, bad, k - 1), PARLEY_ERR_INVALID_MESSAGE);
        /* no signing key at all (pad so the length check passes) */
        CHECK_RC(parley_group_process(b, "zed", 1, bad, before_key), PARLEY_ERR_INVALID_MESSAGE);
        /* a 15-byte distribution id */
        bad[2] = 15;
        CHECK_RC(parley_group_process(b, "zed", 1, bad, k), PARLEY_ERR_INVALID_MESSAGE);
    }
    /* Names are bounded. */
    char long_name[PARLEY_GROUP_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_RC(parley_group_process(b, long_name, 1, skdm, sn), PARLEY_ERR_INVALID_ARG);
    CHECK_RC(parley_group_process(b, "", 1, skdm, sn), PARLEY_ERR_INVALID_ARG);
    CHECK_RC(parley_group_create(a, "", 1, DIST, skdm, sizeof skdm, &sn), PARLEY_ERR_INVALID_ARG);
    parley_group_store_free(a);
    parley_group_store_free(b);
}

static void test_store_round_trip(void)
{
    parley_group_store *a = NULL, *b = NULL, *b2 = NULL, *a2 = NULL;
    uint8_t skdm[PARLEY_GROUP_SKDM_MAX];
    size_t sn = 0;
    CHECK_RC(parley_group_store_new(&a), PARLEY_OK);
    CHECK_RC(parley_group_store_new(&b), PARLEY_OK);
    /* An empty store round-trips. */
    size_t en = 0;
    uint8_t *e = snapshot(a, &en);
    CHECK(e != NULL);
    CHECK_RC(parley_group_store_load(&a2, e, en), PARLEY_OK);
    parley_group_store_free(a2);
    a2 = NULL;
    parley_group_buffer_free(e, en);

    CHECK_RC(parley_group_create(a, "alice", 7, DIST, skdm, sizeof skdm, &sn), PARLEY_OK);
    CHECK_RC(parley_group_process(b, "alice", 7, skdm, sn), PARLEY_OK);
    msg ms[6];
    for (int i = 0; i < 6; i++)
        CHECK_RC(parley_group_encrypt(a, "alice", 7, DIST, (const uint8_t *)"persist", 7, ms[i].b,
                                      sizeof ms[i].b, &ms[i].n),
                 PARLEY_OK);
    uint8_t pt[64];
    size_t pn = 0;
    CHECK_RC(parley_group_decrypt(b, "alice", 7, ms[4].b, ms[4].n, pt, sizeof pt, &pn), PARLEY_OK);

    /* Reload both sides; the chains continue where they were. */
    size_t an = 0, bn = 0;
    uint8_t *as = snapshot(a, &an), *bs = snapshot(b, &bn);
    CHECK(as != NULL && bs != NULL);
    CHECK_RC(parley_group_store_load(&a2, as, an), PARLEY_OK);
    CHECK_RC(parley_group_store_load(&b2, bs, bn), PARLEY_OK);
    CHECK(a2 != NULL && same_snapshot(a2, as, an));
    CHECK(b2 != NULL && same_snapshot(b2, bs, bn));
    if (a2 != NULL && b2 != NULL) {
        CHECK_RC(parley_group_decrypt(b2, "alice", 7, ms[4].b, ms[4].n, pt, sizeof pt, &pn),
                 PARLEY_ERR_DUPLICATE);
        CHECK_RC(parley_group_decrypt(b2, "alice", 7, ms[1].b, ms[1].n, pt, sizeof pt, &pn),
                 PARLEY_OK);
        CHECK_RC(parley_group_decrypt(b2, "alice", 7, ms[5].b, ms[5].n, pt, sizeof pt, &pn),
                 PARLEY_OK);
        msg after;
        CHECK_RC(parley_group_encrypt(a2, "alice", 7, DIST, (const uint8_t *)"again", 5, after.b,
                                      sizeof after.b, &after.n),
                 PARLEY_OK);
        CHECK_RC(parley_group_decrypt(b2, "alice", 7, after.b, after.n, pt, sizeof pt, &pn),
                 PARLEY_OK);
        CHECK(pn == 5 && memcmp(pt, "again", 5) == 0);
        /* The reloaded sender did not rewind: its message is new to the
         * original receiver too, at iteration 6. */
        CHECK_RC(parley_group_decrypt(b, "alice", 7, after.b, after.n, pt, sizeof pt, &pn),
                 PARLEY_OK);
    }

    /* Loader negatives: every truncation of a real store, junk, and
     * entries that break a rule. */
    int all_handled = 1;
    for (size_t cut = 0; cut < bn; cut++) {
        parley_group_store *t = NULL;
        int rc = parley_group_store_load(&t, bs, cut);
        if (rc != PARLEY_OK && rc != PARLEY_ERR_DECODE)
            all_handled = 0;
        if (rc == PARLEY_OK && cut != 0)
            all_handled = 0; /* only the empty prefix is a valid store */
        parley_group_store_free(t);
    }
    CHECK(all_handled);
    static const uint8_t junk[] = {0x0a, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f};
    parley_group_store *t = NULL;
    CHECK_RC(parley_group_store_load(&t, junk, sizeof junk), PARLEY_ERR_DECODE);
    CHECK(t == NULL);
    /* The same entry twice. */
    uint8_t *twice = malloc(2 * bn);
    if (twice != NULL) {
        memcpy(twice, bs, bn);
        memcpy(twice + bn, bs, bn);
        CHECK_RC(parley_group_store_load(&t, twice, 2 * bn), PARLEY_ERR_DECODE);
        free(twice);
    }
    parley_group_buffer_free(as, an);
    parley_group_buffer_free(bs, bn);
    parley_group_store_free(a);
    parley_group_store_free(b);
    parley_group_store_free(a2);
    parley_group_store_free(b2);
}

/* The per-key verification table is built on the first message of a chain
 * and kept in memory: it survives a repeated SKDM (the state is kept), is
 * not serialized, follows the chain's key when the chain id is reused with
 * another key, and a kept table never accepts another key's signature. */
static void test_verifier_cache(void)
{
    parley_group_store *a = NULL, *b = NULL, *forger = NULL, *b2 = NULL;
    uint8_t skdm[PARLEY_GROUP_SKDM_MAX], fskdm[PARLEY_GROUP_SKDM_MAX];
    size_t sn = 0, fn = 0;
    msg m;
    CHECK_RC(parley_group_store_new(&a), PARLEY_OK);
    CHECK_RC(parley_group_store_new(&b), PARLEY_OK);
    CHECK_RC(parley_group_store_new(&forger), PARLEY_OK);
    CHECK_RC(parley_group_create(a, "alice", 1, DIST, skdm, sizeof skdm, &sn), PARLEY_OK);
    CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);
    sk_record *r = sk_store_find(b, "alice", 1, DIST);
    CHECK(r != NULL && r->nstates == 1 && r->states[0].verifier == NULL);
    for (int i = 0; i < 8; i++) {
        encrypt_text(a, "alice", DIST, "cached", &m);
        expect_text(b, "alice", &m, "cached");
        if (i == 3) /* the same SKDM again: the state, and its table, stay */
            CHECK_RC(parley_group_process(b, "alice", 1, skdm, sn), PARLEY_OK);
    }
    r = sk_store_find(b, "alice", 1, DIST);
    CHECK(r != NULL && r->nstates == 1 && r->states[0].verifier != NULL);

    /* A forger with alice's chain id and chain key but its own signing
     * key: its messages fail against the kept table. */
    CHECK_RC(parley_group_create(forger, "alice", 1, DIST, fskdm, sizeof fskdm, &fn), PARLEY_OK);
    sk_record *fa = sk_store_find(forger, "alice", 1, DIST);
    sk_record *ra = sk_store_find(a, "alice", 1, DIST);
    if (fa != NULL && ra != NULL) {
        fa->states[0].chain_id = ra->states[0].chain_id;
        fa->states[0].iteration = ra->states[0].iteration;
        memcpy(fa->states[0].chain_key, ra->states[0].chain_key, sizeof fa->states[0].chain_key);
        encrypt_text(forger, "alice", DIST, "forged", &m);
        CHECK_RC(decrypt_rc(b, "alice", m.b, m.n), PARLEY_ERR_INVALID_SIGNATURE);
        /* The genuine next message still opens. */
        encrypt_text(a, "alice", DIST, "genuine", &m);
        expect_text(b, "alice", &m, "genuine");
    }

    /* Serialized and loaded: no table until the next message. */
    uint8_t *ser = NULL;
    size_t ser_len = 0;
    CHECK_RC(parley_group_store_serialize(b, &ser, &ser_len), PARLEY_OK);
    CHECK_RC(parley_group_store_load(&b2, ser, ser_len), PARLEY_OK);
    parley_group_buffer_free(ser, ser_len);
    sk_record *r2 = b2 != NULL ? sk_store_find(b2, "alice", 1, DIST) : NULL;
    CHECK(r2 != NULL && r2->states[0].verifier == NULL);
    encrypt_text(a, "alice", DIST, "after load", &m);
    if (b2 != NULL) {
        expect_text(b2, "alice", &m, "after load");
        CHECK(r2 != NULL && r2->states[0].verifier != NULL);
    }
    /* A signing key under which nothing verifies (u = -1, no Edwards
     * image) keeps no table and fails every message. */
    parley_group_store *c = NULL;
    CHECK_RC(parley_group_store_new(&c), PARLEY_OK);
    CHECK_RC(parley_group_process(c, "alice", 1, skdm, sn), PARLEY_OK);
    sk_record *rc = sk_store_find(c, "alice", 1, DIST);
    if (rc != NULL) {
        memset(rc->states[0].sig_pub, 0xff, sizeof rc->states[0].sig_pub);
        rc->states[0].sig_pub[0] = 0xec;
        rc->states[0].sig_pub[31] = 0x7f;
        for (int i = 0; i < 2; i++) {
            encrypt_text(a, "alice", DIST, "no key", &m);
            CHECK_RC(decrypt_rc(c, "alice", m.b, m.n), PARLEY_ERR_INVALID_SIGNATURE);
            CHECK(rc->states[0].verifier == NULL);
        }
    }
    parley_group_store_free(a);
    parley_group_store_free(b);
    parley_group_store_free(b2);
    parley_group_store_free(c);
    parley_group_store_free(forger);
}

static void test_uuid(void)
{
    uint8_t id[16];
    char s[37];
    CHECK_RC(parley_group_uuid_parse(id, "6f0b1c5e-2a4d-4e8f-9b3a-7c1d2e3f4a5b"), PARLEY_OK);
    parley_group_uuid_format(s, id);
    CHECK(strcmp(s, "6f0b1c5e-2a4d-4e8f-9b3a-7c1d2e3f4a5b") == 0);
    CHECK_RC(parley_group_uuid_parse(id, "6F0B1C5E-2A4D-4E8F-9B3A-7C1D2E3F4A5B"), PARLEY_OK);
    CHECK(id[0] == 0x6f && id[15] == 0x5b);
    CHECK_RC(parley_group_uuid_parse(id, "6f0b1c5e2a4d4e8f9b3a7c1d2e3f4a5b"), PARLEY_ERR_DECODE);
    CHECK_RC(parley_group_uuid_parse(id, "6f0b1c5e-2a4d-4e8f-9b3a-7c1d2e3f4a5"), PARLEY_ERR_DECODE);
    CHECK_RC(parley_group_uuid_parse(id, "6f0b1c5e-2a4d-4e8f-9b3a-7c1d2e3f4a5b0"),
             PARLEY_ERR_DECODE);
    CHECK_RC(parley_group_uuid_parse(id, "6f0b1c5e-2a4d-4e8f-9b3a-7c1d2e3f4a5g"),
             PARLEY_ERR_DECODE);
    CHECK_RC(parley_group_uuid_parse(id, ""), PARLEY_ERR_DECODE);
}

int main(void)
{
    if (pc_init() != PARLEY_OK)
        return 1;
    test_uuid();
    test_node_vectors();
    test_round_trip();
    test_tampering();
    test_limits();
    test_chains();
    test_skdm_negatives();
    test_store_round_trip();
    test_verifier_cache();
    TEST_MAIN_END();
}
