/*
 * The SignalMessage codec of wire.c: the hand-written encoder must write
 * exactly what protobuf-c's generic packer writes, and the direct reader
 * of the canonical layout must agree with the protobuf-c path for every
 * input (same fields or same refusal), taking the general path for any
 * other layout.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "crypto/crypto.h"
#include "signal/session_internal.h"
#include "signal_wire.pb-c.h"
#include "util/safety.h"

#define MAX_MSG 8192

static const uint8_t mac_key[32] = {7};
static const uint8_t sender[32] = {1, 2, 3}, receiver[32] = {4, 5, 6};

/* version || protobuf (through protobuf-c) || 8 zero bytes for a MAC. */
static size_t pack_reference(uint8_t *out, const uint8_t ratchet[32], uint32_t counter,
                             uint32_t prev, const uint8_t *ct, size_t ct_len)
{
    uint8_t rk[PARLEY_PUBKEY_LEN];
    Parley__Wire__SignalMessage pb = PARLEY__WIRE__SIGNAL_MESSAGE__INIT;
    parley_key_encode(rk, ratchet);
    pb.has_ratchetkey = 1;
    pb.ratchetkey.data = rk;
    pb.ratchetkey.len = sizeof rk;
    pb.has_counter = 1;
    pb.counter = counter;
    pb.has_previouscounter = 1;
    pb.previouscounter = prev;
    pb.has_ciphertext = 1;
    pb.ciphertext.data = (uint8_t *)(uintptr_t)ct;
    pb.ciphertext.len = ct_len;
    out[0] = SIG_WIRE_VERSION_BYTE;
    size_t n = 1 + parley__wire__signal_message__pack(&pb, out + 1);
    memset(out + n, 0, SIG_MAC_LEN);
    return n + SIG_MAC_LEN;
}

static void test_encoder_matches_protobuf_c(void)
{
    static const uint32_t counters[] = {0, 1, 127, 128, 16383, 16384, 2097152, 0x0FFFFFFF,
                                        0xFFFFFFFF};
    static const size_t lens[] = {16, 112, 128, 4112};
    static uint8_t ct[4112], got[MAX_MSG], want[MAX_MSG];
    uint8_t ratchet[32];
    for (size_t i = 0; i < sizeof ct; i++)
        ct[i] = (uint8_t)(i * 7);
    memset(ratchet, 0xA5, sizeof ratchet);
    for (size_t c = 0; c < PARLEY_ARRAY_LEN(counters); c++) {
        for (size_t l = 0; l < PARLEY_ARRAY_LEN(lens); l++) {
            size_t n = 0;
            uint32_t prev = counters[PARLEY_ARRAY_LEN(counters) - 1 - c];
            CHECK_RC(sig_signal_msg_encode(got, sizeof got, &n, mac_key, ratchet, counters[c], prev,
                                           ct, lens[l], sender, receiver),
                     PARLEY_OK);
            size_t wn = pack_reference(want, ratchet, counters[c], prev, ct, lens[l]);
            CHECK(n == wn);
            /* Everything but the MAC, which the reference leaves zero. */
            CHECK(n == wn && memcmp(got, want, n - SIG_MAC_LEN) == 0);
            /* Too small by one byte: refused, as before. */
            CHECK_RC(sig_signal_msg_encode(got, wn - 1, &n, mac_key, ratchet, counters[c], prev, ct,
                                           lens[l], sender, receiver),
                     PARLEY_ERR_BUFFER);
        }
    }
}

static void test_seal_matches_encode(void)
{
    sig_msg_keys mk;
    uint8_t pt[300], ct[320], a[MAX_MSG], b[MAX_MSG], ratchet[32];
    size_t ct_len = 0, na = 0, nb = 0;
    memset(&mk, 0x11, sizeof mk);
    memset(ratchet, 0x22, sizeof ratchet);
    for (size_t i = 0; i < sizeof pt; i++)
        pt[i] = (uint8_t)i;
    for (size_t n = 0; n <= sizeof pt; n += 37) {
        CHECK_RC(pc_aes256_cbc_encrypt(ct, sizeof ct, &ct_len, mk.cipher_key, mk.iv, pt, n),
                 PARLEY_OK);
        CHECK_RC(sig_signal_msg_encode(a, sizeof a, &na, mk.mac_key, ratchet, 5, 4, ct, ct_len,
                                       sender, receiver),
                 PARLEY_OK);
        CHECK_RC(sig_signal_msg_seal(b, sizeof b, &nb, &mk, ratchet, 5, 4, pt, n, sender, receiver),
                 PARLEY_OK);
        CHECK(na == nb && memcmp(a, b, na) == 0);
        CHECK_RC(sig_signal_msg_seal(b, na - 1, &nb, &mk, ratchet, 5, 4, pt, n, sender, receiver),
                 PARLEY_ERR_BUFFER);
    }
}

/* Decode in through both paths' common entry and compare with what
 * protobuf-c itself makes of the body. */
static void check_agrees(const uint8_t *in, size_t n, int want_zero_copy)
{
    sig_signal_msg m;
    int rc = sig_signal_msg_decode(&m, in, n);
    Parley__Wire__SignalMessage *pb = NULL;
    int ref_ok = 0;
    if (n > 1 + SIG_MAC_LEN) {
        pb = parley__wire__signal_message__unpack(NULL, n - 1 - SIG_MAC_LEN, in + 1);
        uint8_t k[32];
        ref_ok = pb != NULL && pb->has_ratchetkey && pb->has_counter && pb->has_ciphertext &&
                 pb->ciphertext.data != NULL && pb->ratchetkey.data != NULL &&
                 parley_key_decode(k, pb->ratchetkey.data, pb->ratchetkey.len) == PARLEY_OK;
    }
    CHECK((rc == PARLEY_OK) == ref_ok);
    if (rc == PARLEY_OK && ref_ok) {
        uint8_t k[32];
        CHECK(parley_key_decode(k, pb->ratchetkey.data, pb->ratchetkey.len) == PARLEY_OK &&
              memcmp(k, m.ratchet, 32) == 0);
        CHECK(m.counter == pb->counter);
        CHECK(m.previous_counter == (pb->has_previouscounter ? pb->previouscounter : 0));
        CHECK(m.ciphertext_len == pb->ciphertext.len &&
              memcmp(m.ciphertext, pb->ciphertext.data, m.ciphertext_len) == 0);
        CHECK(m.serialized == in && m.serialized_len == n);
        int inside = m.ciphertext >= in && m.ciphertext < in + n;
        if (want_zero_copy >= 0)
            CHECK(inside == want_zero_copy);
    }
    if (rc == PARLEY_OK)
        sig_signal_msg_free(&m);
    if (pb != NULL)
        parley__wire__signal_message__free_unpacked(pb, NULL);
}

static void test_decoder_paths(void)
{
    static uint8_t ct[4112], msg[MAX_MSG], alt[MAX_MSG];
    uint8_t ratchet[32], rk[PARLEY_PUBKEY_LEN];
    size_t n = 0;
    memset(ratchet, 0x5A, sizeof ratchet);
    parley_key_encode(rk, ratchet);
    for (size_t i = 0; i < sizeof ct; i++)
        ct[i] = (uint8_t)(i * 13);

    /* Canonical: read directly, the ciphertext left in place. */
    CHECK_RC(sig_signal_msg_encode(msg, sizeof msg, &n, mac_key, ratchet, 0xFFFFFFFF, 300, ct, 4112,
                                   sender, receiver),
             PARLEY_OK);
    check_agrees(msg, n, 1);
    CHECK_RC(sig_signal_msg_encode(msg, sizeof msg, &n, mac_key, ratchet, 0, 0, ct, 16, sender,
                                   receiver),
             PARLEY_OK);
    check_agrees(msg, n, 1);

    /* Fields reordered (ciphertext first): the protobuf-c path, same values. */
    {
        size_t p = 0;
        alt[p++] = SIG_WIRE_VERSION_BYTE;
        alt[p++] = 0x22;
        alt[p++] = 16;
        memcpy(alt + p, ct, 16);
        p += 16;
        alt[p++] = 0x0A;
        alt[p++] = PARLEY_PUBKEY_LEN;
        memcpy(alt + p, rk, sizeof rk);
        p += sizeof rk;
        alt[p++] = 0x10;
        alt[p++] = 9;
        alt[p++] = 0x18;
        alt[p++] = 8;
        memset(alt + p, 0, SIG_MAC_LEN);
        p += SIG_MAC_LEN;
        check_agrees(alt, p, 0);
    }
    /* Canonical but with an unknown field after the ciphertext. */
    CHECK_RC(sig_signal_msg_encode(msg, sizeof msg, &n, mac_key, ratchet, 3, 2, ct, 32, sender,
                                   receiver),
             PARLEY_OK);
    memcpy(alt, msg, n - SIG_MAC_LEN);
    alt[n - SIG_MAC_LEN] = 0x28; /* field 5, varint */
    alt[n - SIG_MAC_LEN + 1] = 0x01;
    memset(alt + n - SIG_MAC_LEN + 2, 0, SIG_MAC_LEN);
    check_agrees(alt, n + 2, 0);
    /* A non-minimal (6-byte) counter varint; and a 5-byte one above 2^32. */
    {
        static const uint8_t long_v[] = {0x81, 0x80, 0x80, 0x80, 0x80, 0x00};
        static const uint8_t big_v[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
        const uint8_t *vs[2] = {long_v, big_v};
        size_t vl[2] = {sizeof long_v, sizeof big_v};
        for (int v = 0; v < 2; v++) {
            size_t p = 0;
            alt[p++] = SIG_WIRE_VERSION_BYTE;
            alt[p++] = 0x0A;
            alt[p++] = PARLEY_PUBKEY_LEN;
            memcpy(alt + p, rk, sizeof rk);
            p += sizeof rk;
            alt[p++] = 0x10;
            memcpy(alt + p, vs[v], vl[v]);
            p += vl[v];
            alt[p++] = 0x18;
            alt[p++] = 1;
            alt[p++] = 0x22;
            alt[p++] = 16;
            memcpy(alt + p, ct, 16);
            p += 16;
            memset(alt + p, 0, SIG_MAC_LEN);
            p += SIG_MAC_LEN;
            check_agrees(alt, p, -1);
        }
    }
    /* previousCounter absent: protobuf-c path, read as 0. */
    {
        size_t p = 0;
        alt[p++] = SIG_WIRE_VERSION_BYTE;
        alt[p++] = 0x0A;
        alt[p++] = PARLEY_PUBKEY_LEN;
        memcpy(alt + p, rk, sizeof rk);
        p += sizeof rk;
        alt[p++] = 0x10;
        alt[p++] = 4;
        alt[p++] = 0x22;
        alt[p++] = 16;
        memcpy(alt + p, ct, 16);
        p += 16;
        memset(alt + p, 0, SIG_MAC_LEN);
        p += SIG_MAC_LEN;
        check_agrees(alt, p, 0);
    }

    /* Refusals: empty ciphertext, bad key type, every truncation and
     * every single-byte corruption of the header agree with protobuf-c. */
    {
        size_t p = 0;
        alt[p++] = SIG_WIRE_VERSION_BYTE;
        alt[p++] = 0x0A;
        alt[p++] = PARLEY_PUBKEY_LEN;
        memcpy(alt + p, rk, sizeof rk);
        p += sizeof rk;
        alt[p++] = 0x10;
        alt[p++] = 1;
        alt[p++] = 0x18;
        alt[p++] = 0;
        alt[p++] = 0x22;
        alt[p++] = 0;
        memset(alt + p, 0, SIG_MAC_LEN);
        p += SIG_MAC_LEN;
        sig_signal_msg m;
        CHECK_RC(sig_signal_msg_decode(&m, alt, p), PARLEY_ERR_INVALID_MESSAGE);
        check_agrees(alt, p, -1);
    }
    CHECK_RC(sig_signal_msg_encode(msg, sizeof msg, &n, mac_key, ratchet, 200, 100, ct, 48, sender,
                                   receiver),
             PARLEY_OK);
    memcpy(alt, msg, n);
    alt[3] = 0x06; /* key type byte */
    {
        sig_signal_msg m;
        CHECK_RC(sig_signal_msg_decode(&m, alt, n), PARLEY_ERR_INVALID_MESSAGE);
    }
    for (size_t cut = 0; cut < n; cut++)
        check_agrees(msg, cut, -1);
    for (size_t pos = 1; pos < 45; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(alt, msg, n);
            alt[pos] ^= (uint8_t)(1u << bit);
            check_agrees(alt, n, -1);
        }
    }
}

/* Build a message whose ciphertext is raw (no padding added here), so a
 * test can choose the padding the receiver finds. */
static size_t raw_message(uint8_t *msg, size_t max, const sig_msg_keys *mk, const uint8_t *blocks,
                          size_t n)
{
    uint8_t ct[96], ratchet[32];
    size_t cl = 0, len = 0;
    memset(ratchet, 0x33, sizeof ratchet);
    /* CBC of n whole blocks: the first n bytes of the padded encryption. */
    if (pc_aes256_cbc_encrypt(ct, sizeof ct, &cl, mk->cipher_key, mk->iv, blocks, n) != PARLEY_OK)
        return 0;
    if (sig_signal_msg_encode(msg, max, &len, mk->mac_key, ratchet, 9, 8, ct, n, sender,
                              receiver) != PARLEY_OK)
        return 0;
    return len;
}

static void test_open(void)
{
    sig_msg_keys mk;
    sig_signal_msg m;
    uint8_t pt[200], msg[MAX_MSG], out[MAX_MSG], zero[MAX_MSG], ratchet[32], blocks[48];
    size_t n = 0, got = 0;
    memset(&mk, 0x44, sizeof mk);
    memset(ratchet, 0x55, sizeof ratchet);
    memset(zero, 0, sizeof zero);
    for (size_t i = 0; i < sizeof pt; i++)
        pt[i] = (uint8_t)(i ^ 0x5A);

    for (size_t len = 0; len <= sizeof pt; len += 25) {
        CHECK_RC(sig_signal_msg_seal(msg, sizeof msg, &n, &mk, ratchet, 1, 0, pt, len, sender,
                                     receiver),
                 PARLEY_OK);
        CHECK_RC(sig_signal_msg_decode(&m, msg, n), PARLEY_OK);
        CHECK_RC(sig_signal_msg_open(&m, &mk, sender, receiver, out, sizeof out, &got), PARLEY_OK);
        CHECK(got == len && memcmp(out, pt, len) == 0);
        /* Sender and receiver swapped: the MAC does not match, nothing out. */
        memset(out, 0xEE, sizeof out);
        CHECK_RC(sig_signal_msg_open(&m, &mk, receiver, sender, out, sizeof out, &got),
                 PARLEY_ERR_INVALID_MAC);
        CHECK(memcmp(out, zero, m.ciphertext_len) == 0 || out[0] == 0xEE);
        /* Too little room: the MAC is checked first, then the room. */
        CHECK_RC(sig_signal_msg_open(&m, &mk, sender, receiver, out, m.ciphertext_len - 1, &got),
                 PARLEY_ERR_BUFFER);
        CHECK_RC(sig_signal_msg_open(&m, &mk, receiver, sender, out, m.ciphertext_len - 1, &got),
                 PARLEY_ERR_INVALID_MAC);
        sig_signal_msg_free(&m);
        /* A flipped MAC bit. */
        msg[n - 1] ^= 0x01;
        CHECK_RC(sig_signal_msg_decode(&m, msg, n), PARLEY_OK);
        CHECK_RC(sig_signal_msg_open(&m, &mk, sender, receiver, out, sizeof out, &got),
                 PARLEY_ERR_INVALID_MAC);
        sig_signal_msg_free(&m);
    }

    /* Authentic messages whose padding is wrong: refused as invalid, with
     * nothing released; good padding of every length accepted. */
    for (int pad = 0; pad <= 20; pad++) {
        memset(blocks, 0x77, sizeof blocks);
        for (int i = 0; i < pad && i < 48; i++)
            blocks[47 - i] = (uint8_t)pad;
        blocks[47] = (uint8_t)pad;
        n = raw_message(msg, sizeof msg, &mk, blocks, 48);
        CHECK(n > 0);
        CHECK_RC(sig_signal_msg_decode(&m, msg, n), PARLEY_OK);
        int want = pad >= 1 && pad <= 16 ? PARLEY_OK : PARLEY_ERR_INVALID_MESSAGE;
        memset(out, 0xEE, sizeof out);
        CHECK_RC(sig_signal_msg_open(&m, &mk, sender, receiver, out, sizeof out, &got), want);
        if (want == PARLEY_OK)
            CHECK(got == (size_t)(48 - pad) && memcmp(out, blocks, got) == 0);
        else
            CHECK(memcmp(out, zero, 48) == 0);
        sig_signal_msg_free(&m);
    }
    /* One wrong pad byte inside an otherwise valid 5-byte padding. */
    memset(blocks, 5, sizeof blocks);
    blocks[45] = 4;
    n = raw_message(msg, sizeof msg, &mk, blocks, 48);
    CHECK_RC(sig_signal_msg_decode(&m, msg, n), PARLEY_OK);
    CHECK_RC(sig_signal_msg_open(&m, &mk, sender, receiver, out, sizeof out, &got),
             PARLEY_ERR_INVALID_MESSAGE);
    sig_signal_msg_free(&m);
}

int main(void)
{
    CHECK_RC(pc_init(), PARLEY_OK);
    test_encoder_matches_protobuf_c();
    test_seal_matches_encode();
    test_decoder_paths();
    test_open();
    TEST_MAIN_END();
}
