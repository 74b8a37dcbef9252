/*
 * Safety numbers: libsignal's own vectors (rust/protocol/src/fingerprint.rs,
 * fingerprint_test_v1/v2 and fingerprint_encodings), vectors computed by
 * @signalapp/libsignal-client 0.103.0 (Fingerprint.new(5200, 2, ...) with
 * fresh keys), scannable comparison, and negatives.
 */
#include <string.h>

#include "check.h"
#include "crypto/crypto.h"
#include "parley/fingerprint.h"
#include "util/safety.h"

#define ALICE_ID "+14152222222"
#define BOB_ID   "+14153333333"

static const char *alice_key_hex =
    "06863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868";
static const char *bob_key_hex = "f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b";
static const char *display_v1 = "300354477692869396892869876765458257569162576843440918079131";
static const char *alice_scan_v2 =
    "080212220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df1a220a20d62cbf73"
    "a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d";
static const char *bob_scan_v2 =
    "080212220a20d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d1a220a201e301a03"
    "53dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df";
static const char *alice_scan_v1 =
    "080112220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df1a220a20d62cbf73"
    "a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d";

struct fp_vector {
    const char *local_id, *remote_id, *local_key, *remote_key, *display, *scannable;
};

static const struct fp_vector node_vectors[] = {
    {"2b3134313532323232323232", "2b3134313533333333333333",
     "c0486814fb7157c988f73b99abd1f19d6496ae35aec0dc0276a579f34372f878",
     "bc36372cd42d7a645e6755ded05b79971ed6ecb543bbeda7987fbbfb4202365d",
     "358611134704066255562500042640381591820302934582270000130692",
     "080212220a2085e5eb08155e67e3d93363ccec5aa225d014f9d4d9771764882e"
     "d4012db0a90d1a220a20b4c0fa3c2fc130f6073b39a5df2e76b054006d530034"
     "879221652423eb6430d4"},
    {"616c696365406578616d706c652e6f7267", "626f624070726f76696465722e6578616d706c65",
     "83221355963e5f904dd8a5089f13fefb42b88a466573bc6483c2711f3779b70a",
     "b73fbf5a0a61fa0bd3ba7a96ec4bceae4161cdab1e5aae85f3afcb4a037fde3e",
     "580576250397226117566916554255893178961611368880558457588250",
     "080212220a200351c3d0a5e5b62b1d301e741a7b0895b3df60b7bb02625adf26"
     "a40a2fba9b901a220a20bfa32052a95ce5183e473a6dd9db8a3a95e05b2cb9db"
     "6af34d513e64f34ffc2a"},
    {"", "78", "5eb47d9adabb23d724e1bbb5cff4b49957af23c5ee93d4eadd35e376836c6008",
     "86e0acbce849b150a2a150db8724b0de0c8bfd6e2a4d9ebce02ce67f5da84d15",
     "304164678603903819144808020434448029455793523441133057046463",
     "080212220a20e63ce83ab0a6f5ca4c0228a974ebdff26cbc8d5a9b492bf3b002"
     "605cab12f84a1a220a20a32bf682823c5647f6bd168e8ea4f32e7a1ef2718367"
     "d5094a326928cd3f2731"},
    {"dce6ff9d281f2cba7ec586cc080e3188", "a3bc01512dea68c87f187477560b3887",
     "bba4c6b3573b2773174333d77a663c0e106fa859ce2de1774bfd50742843940c",
     "1b6de4ae9395da8e3aff289d54c7e5bcc0ab6dcfa61bce19e848de3384ba2a6d",
     "042513369315084335586553449176294596478857585756230156816631",
     "080212220a20e0c0f92bd37cc03b6d541ca421b851bf1331aac7c6b0ac39a0ec"
     "9bea7897038e1a220a20d50a13ce7ba2004cc73d14991dd52c54d29b1c566f34"
     "f9f21e78b141b5f83183"},
};

static void test_libsignal_vectors(void)
{
    uint8_t a[32], b[32], scan[PARLEY_FINGERPRINT_SCANNABLE_MAX], want[80];
    char disp[PARLEY_FINGERPRINT_DISPLAY_LEN + 1];
    size_t n = 0, wn;
    check_unhex(a, 32, alice_key_hex);
    check_unhex(b, 32, bob_key_hex);

    CHECK_RC(parley_fingerprint_compute(disp, scan, &n, (const uint8_t *)ALICE_ID, 12, a,
                                        (const uint8_t *)BOB_ID, 12, b),
             PARLEY_OK);
    CHECK(strcmp(disp, display_v1) == 0);
    wn = check_unhex(want, sizeof want, alice_scan_v2);
    CHECK(n == wn && n == 74);
    CHECK_MEM(scan, want, wn);

    uint8_t bscan[PARLEY_FINGERPRINT_SCANNABLE_MAX];
    size_t bn = 0;
    CHECK_RC(parley_fingerprint_compute(disp, bscan, &bn, (const uint8_t *)BOB_ID, 12, b,
                                        (const uint8_t *)ALICE_ID, 12, a),
             PARLEY_OK);
    CHECK(strcmp(disp, display_v1) == 0);
    wn = check_unhex(want, sizeof want, bob_scan_v2);
    CHECK(bn == wn);
    CHECK_MEM(bscan, want, wn);

    /* Each side accepts the other's scan, not its own. */
    CHECK_RC(parley_fingerprint_compare(scan, n, bscan, bn), 1);
    CHECK_RC(parley_fingerprint_compare(bscan, bn, scan, n), 1);
    CHECK_RC(parley_fingerprint_compare(scan, n, scan, n), 0);

    /* Version 1: same digits, version field 1; a version mismatch is its
     * own error. */
    uint8_t v1[PARLEY_FINGERPRINT_SCANNABLE_MAX];
    size_t v1n = 0;
    CHECK_RC(parley_fingerprint_compute_ex(disp, v1, &v1n, 1, 5200, (const uint8_t *)ALICE_ID, 12,
                                           a, (const uint8_t *)BOB_ID, 12, b),
             PARLEY_OK);
    CHECK(strcmp(disp, display_v1) == 0);
    wn = check_unhex(want, sizeof want, alice_scan_v1);
    CHECK(v1n == wn);
    CHECK_MEM(v1, want, wn);
    CHECK_RC(parley_fingerprint_compare(bscan, bn, v1, v1n), PARLEY_ERR_LEGACY_VERSION);
}

static void test_node_vectors(void)
{
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(node_vectors); i++) {
        const struct fp_vector *v = &node_vectors[i];
        uint8_t lid[64], rid[64], lk[32], rk[32], want[80], scan[PARLEY_FINGERPRINT_SCANNABLE_MAX];
        char disp[PARLEY_FINGERPRINT_DISPLAY_LEN + 1];
        size_t ln = check_unhex(lid, sizeof lid, v->local_id);
        size_t rn = check_unhex(rid, sizeof rid, v->remote_id);
        check_unhex(lk, 32, v->local_key);
        check_unhex(rk, 32, v->remote_key);
        size_t wn = check_unhex(want, sizeof want, v->scannable), n = 0;
        CHECK_RC(parley_fingerprint_compute(disp, scan, &n, lid, ln, lk, rid, rn, rk), PARLEY_OK);
        CHECK(strcmp(disp, v->display) == 0);
        CHECK(n == wn);
        CHECK_MEM(scan, want, wn);
    }
}

static void test_properties(void)
{
    uint8_t a[32], b[32], m[32], priv[32];
    CHECK_RC(pc_x25519_keygen(a, priv), PARLEY_OK);
    CHECK_RC(pc_x25519_keygen(b, priv), PARLEY_OK);
    CHECK_RC(pc_x25519_keygen(m, priv), PARLEY_OK);
    char d1[61], d2[61], d3[61];
    uint8_t s1[80], s2[80], s3[80];
    size_t n1 = 0, n2 = 0, n3 = 0;
    const uint8_t *ai = (const uint8_t *)ALICE_ID, *bi = (const uint8_t *)BOB_ID;
    CHECK_RC(parley_fingerprint_compute(d1, s1, &n1, ai, 12, a, bi, 12, b), PARLEY_OK);
    CHECK_RC(parley_fingerprint_compute(d2, s2, &n2, bi, 12, b, ai, 12, a), PARLEY_OK);
    CHECK(strcmp(d1, d2) == 0);
    CHECK(strlen(d1) == 60);
    CHECK_RC(parley_fingerprint_compare(s1, n1, s2, n2), 1);
    /* A man in the middle (Alice sees m as Bob's key) changes both forms. */
    CHECK_RC(parley_fingerprint_compute(d3, s3, &n3, ai, 12, a, bi, 12, m), PARLEY_OK);
    CHECK(strcmp(d3, d2) != 0);
    CHECK_RC(parley_fingerprint_compare(s3, n3, s2, n2), 0);
    /* So does a different stable id. */
    CHECK_RC(
        parley_fingerprint_compute(d3, s3, &n3, (const uint8_t *)"+141512222222", 13, a, bi, 12, b),
        PARLEY_OK);
    CHECK(strcmp(d3, d2) != 0);
    CHECK_RC(parley_fingerprint_compare(s3, n3, s2, n2), 0);
}

static void test_negatives(void)
{
    uint8_t a[32] = {1}, b[32] = {2}, s[80];
    char d[61];
    size_t n = 0;
    CHECK_RC(parley_fingerprint_compute_ex(d, s, &n, 2, 1, NULL, 0, a, NULL, 0, b),
             PARLEY_ERR_INVALID_ARG);
    CHECK_RC(parley_fingerprint_compute_ex(d, s, &n, 2, 1000001, NULL, 0, a, NULL, 0, b),
             PARLEY_ERR_INVALID_ARG);
    static uint8_t big_id[PARLEY_FINGERPRINT_ID_MAX + 1];
    CHECK_RC(parley_fingerprint_compute(d, s, &n, big_id, sizeof big_id, a, NULL, 0, b),
             PARLEY_ERR_INVALID_ARG);
    CHECK_RC(parley_fingerprint_compute(d, s, &n, NULL, 0, a, NULL, 0, b), PARLEY_OK);

    /* Malformed scans: garbage, truncation, a missing half, no version. */
    uint8_t junk[3] = {0xff, 0xff, 0xff};
    CHECK_RC(parley_fingerprint_compare(s, n, junk, sizeof junk), PARLEY_ERR_DECODE);
    CHECK_RC(parley_fingerprint_compare(s, n, s, n - 1), PARLEY_ERR_DECODE);
    CHECK_RC(parley_fingerprint_compare(junk, sizeof junk, s, n), PARLEY_ERR_DECODE);
    /* version 2 and a local half only */
    uint8_t half[38];
    memcpy(half, s, 38);
    CHECK_RC(parley_fingerprint_compare(s, n, half, sizeof half), PARLEY_ERR_DECODE);
    /* the two halves without a version: reads as version 0 */
    CHECK_RC(parley_fingerprint_compare(s, n, s + 2, n - 2), PARLEY_ERR_LEGACY_VERSION);
    /* A shorter logical fingerprint (31 bytes) never matches. */
    uint8_t other[80];
    size_t on = 0;
    CHECK_RC(parley_fingerprint_compute(d, other, &on, NULL, 0, b, NULL, 0, a), PARLEY_OK);
    CHECK_RC(parley_fingerprint_compare(s, n, other, on), 1);
    uint8_t shortened[80];
    size_t k = 0;
    shortened[k++] = 0x08;
    shortened[k++] = 0x02;
    shortened[k++] = 0x12;
    shortened[k++] = 0x21;
    shortened[k++] = 0x0a;
    shortened[k++] = 0x1f;
    memcpy(shortened + k, other + 6, 31);
    k += 31;
    memcpy(shortened + k, other + 38, 36);
    k += 36;
    CHECK_RC(parley_fingerprint_compare(s, n, shortened, k), 0);
}

int main(void)
{
    if (pc_init() != PARLEY_OK)
        return 1;
    test_libsignal_vectors();
    test_node_vectors();
    test_properties();
    test_negatives();
    TEST_MAIN_END();
}
