/*
 * XEdDSA: libsignal's own vector (rust/core/src/curve/curve25519.rs,
 * test_signature), signatures made by @signalapp/libsignal-client and by
 * libsignal-protocol-c 2.3.3, every single-bit corruption rejected, and
 * sign/verify round trips. parley's own Edwards arithmetic (ge25519.c) is
 * checked against a plain double-and-add and against libsodium's strict
 * Ed25519 verification, whose acceptance rules XEdDSA verification keeps
 * exactly, on honest and hostile signatures and keys.
 */
#include <string.h>

#include "check.h"
#include "crypto/crypto.h"
#include "parley/xeddsa.h"
#include "crypto/fe25519.h"
#include "signal/ge25519.h"
#include "signal/xeddsa_internal.h"
#include "util/safety.h"

/*
 * Signatures made by independent implementations. Each entry: where it came from, the signer's
 * X25519 private key (libsignal's clamped serialization), public key
 * (without the 0x05 type byte), message and 64-byte signature, in hex.
 * Generated once with @signalapp/libsignal-client 0.103.0
 * (PrivateKey.generate() then sign()) and libsignal-protocol-c 2.3.3
 * (curve_generate_key_pair() then curve_calculate_signature()); both
 * checked their own signature before it was recorded. The nonces are
 * random, so only verification (not reproduction) is a known answer.
 */

struct xeddsa_vector {
    const char *origin, *priv, *pub, *msg, *sig;
};

static const struct xeddsa_vector xeddsa_vectors[] = {
    {"libsignal-client", "78b91d4d739486bb3eacd899d84011688a918b201e32a834833034b072b84c7f",
     "009cd0de8f0955a9221a0a6508f877e8a6642e45e0ae9b05b9e525fa187b4b39", "",
     "b22719eeacffe370dfaaa9946c9ba0117163fe54f559735e63b8897e874328ce"
     "25cee146884f9ba6a27cde7ec551599866793604e22d57f3ebc9e22c20bb810c"},
    {"libsignal-client", "780b3dc9e9491e2a5f0e465d6fc0c1e62bd01382ac57b5f12b320d5e9aa2a65c",
     "dbb0061eb55a1a7995415e1d7c3d8ace49ccaa9cb5a4891b32500cd3d6d5e900", "fa",
     "fe21409dee1dcf967d9300abdb064fd6f0da6f18351a103af3386102fdd6e941"
     "7d1b2ab9d5fe29ab2be8732ce4d3f535ba777f70cadfd0e12505decae37aed84"},
    {"libsignal-client", "287809b551263e37cb9e7108ccc82aa8c565d57e71f4c5119e81b33339b1a54c",
     "a48cad90dfc5a9ba5efa2b3bac76740e3e2811b1f8924d221b2db35df727527f",
     "dda88f1c1e7563e0251e5dfb0c55ba4b4699d18c671344ab8338384f570a581f"
     "07",
     "20d505693d1f806f04f703725643f7a11ebbd63d20959abfc136d6ddd4804834"
     "c8064cddaa857378ee6441a1e5f9e3b19d5af6ebe44cde5c1587161a85d12602"},
    {"libsignal-client", "5062cb452304afe5bde85dcc3ede883bce780b8f43519a6562cba140071da468",
     "f2e35e681b06faffa3bc21e78b0d035b64d39f2cd0f022edfe7e05a744047f58",
     "e8c80d65b1aa5e75f635398c81ae6cfd971ebe28c3022ec14f1080d794c91eab"
     "90157edf115ae0d0470be4dc44b2280976cce14467b9c06cd2acfc3d371c235d"
     "77116c5cba18cf25c376724b76d2bfccd6029b76612344ca6dfa19aafb2e4f12"
     "39774541",
     "73454e937902f796ab52c365755eaeb101250cc681b5232e0222ce5257de5def"
     "be2a1a49052eea4d8eff2900c2e91ac89e18c3ed788894cca2b8b0c9444b6e09"},
    {"libsignal-client", "e00015a6ea875b72f19a2ecc64832677efbc878ace2d9842057b801c07e0306f",
     "8bd134074512fea375fb91d1e9abedd307d86147e4a680c5a92472710f158557",
     "1e7f37a8aa82fc1e74a87f2ea35d034b4b46f9e55c2e2e931b1826604d983103"
     "6150514dc094e4f7884efd5944dc5b58b6eecf29f64a78516e728c0cdd3e0905"
     "54dee099ebcdf98c41f0f434d708bd78056777f855615e3af803b69e81c267b2"
     "f95918fcbdc3ed46926a1cad77ee8e168e29c88b60621aba911cd38e294ac232"
     "559f300908762f467ecc5661be152d14cb7599bd356cb874e4e49d6f747175b5"
     "63ca4ddabb01b0055f778c3eed386588a079dbcca497c59ebe7b1537592aa433"
     "9d2051817fbb662e",
     "89d1a060e06d716bf6d0e7467d28882b839815f4402cda8e4245820c531fe393"
     "6de06d32ea5e95a3c38b88935c262e09cfbe4c420745c8a791982d3f4c8a1186"},
    {"libsignal-protocol-c", "a8b533b7465a200cfa0c213e7cc6d2c79062f2a76044e1deaf042be61a428842",
     "9c6727a8cf5ea864ec20098bb4f9d4320ea9c332e600e53002bd9ee7258fd070", "",
     "f763df2f7ddb6f3bcd450ef1d9957f50372e511019fd0e93e6f15a803627e292"
     "30628908977d7a58beb93e74bdf2bfb4084862c835580ae63da42641bc1a8a80"},
    {"libsignal-protocol-c", "a0dc08c0ddb5a94b34a82e5ba8469eaae814a5528515f3c4838a7f6bfb45d56c",
     "8a973610ecd2fd369e0cda4d6e5bf2fff537023265a4ce7070a6fd9949946a45", "8e",
     "2759b553dd8af21d3e3b8b2b9a1c1b2835714a49a61b6875f4f53ecf4fea138d"
     "529908da9b366a05be78e8d60add4f5af89bd898928055b8a56389ea7f5a5a8a"},
    {"libsignal-protocol-c", "c88db7d95c75712d31f9fd120821155a10423d522b21a6fdebe117fdec4d2258",
     "02ad4ff38820a9de825291c3fecea5a1d9cc8674c7d02c757e1fe17a8c57dc0a",
     "49f98459e874abe294480f95eee1031c8d51297722e2a76df61e72d77439c605"
     "bd",
     "9f1694d9bbfdd00f85d0f231ffa6fe0c293dc940d3de8d3b1ffa344012d8c12e"
     "666551194a1cfcba0fcd7fdb9140f1f4b710e81d64eb1eeffcbdd608f4027a00"},
    {"libsignal-protocol-c", "a833c838cc87cffc68745fd8e58611ce378c85e29010b723885d09da7467f850",
     "bd6da333c2bbb20f0c5514d71a160ea0eb8df5a5074d1b9b02e515fb01e1026b",
     "3e67f49c8eaf2ce04905eb91f4217b435b54e999129c8706739e6897ead7755b"
     "c59fbd1f0c6d71970c38afae6c8ee6a4f9047d3de69666c422eb978222a07136"
     "32d39ac9f46c038023cea9e5de30d62a69ad0050839faa2d7dfca8b2fc9c677d"
     "8ce09b84",
     "3c2c712e801025cb04be919435b7d3814d869ff187f8e6b7eec7ffafd0eb060d"
     "6263f47931b719dcc89af44916024a4060e634345f4ae8172a0e1f4900c76905"},
    {"libsignal-protocol-c", "a8f5ed29c1b8513861495b2421dabc82bb1a3d23aa6b60dbccdae7c3a8e28642",
     "dbcc103a8223b75c862512b8d4837d017b6642c707f9164410fe5623bc189872",
     "1a3f68cdee4498e7c3d92b0d64d920badbaa98b8b809e14829fb0ed6fd5fcfa9"
     "320f25a1f0ff9b79124fb6959b4b347501d98cd271ed8bdf0827312e445b14d5"
     "a3f02f4b18845872b521ce6cc46d165a1584e2e8d1cc6b3c71c2083faeef3e6d"
     "3a1cf862d5e1dfa720476ae5ba693f6c3c4ec5b7fc9fb70624051703d3e79eb2"
     "53aadc24b1f6135cc35cc421881cad772326e85791ccaad5a6b8a28206fb9a08"
     "6b83866bf1442123a2ebdcfe870eada5e47fc14cc15de26ab8fec8ef44d8bb35"
     "a34b7b5983d18ade",
     "a1f9cb888eb617ab2ea4ad19c8632bd52de4d1d613b4981a222d94a16f6b76e1"
     "c59731347511110bd8c80b66c1c7e6dbbb4a8cb76177f75d512c26a449c8af04"},
};

static void test_libsignal_vector(void)
{
    uint8_t priv[32], pub[32], msg[33], sig[64], got_pub[32];
    check_unhex(priv, 32, "c097248412e58bf05df487968205132794178e367637f5818f81e0e6ce73e865");
    check_unhex(pub, 32, "ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64");
    check_unhex(msg, 33, "05edce9d9c415ca78cb7252e72c2c4a554d3eb29485a0e1d503118d1a82d99fb4a");
    check_unhex(sig, 64,
                "5de88ca9a89b4a115da79109c67c9c7464a3e4180274f1cb8c63c2984e286dfb"
                "ede82deb9dcd9fae0bfbb821569b3d9001bd8130cd11d486cef047bd60b86e88");
    CHECK_RC(pc_x25519_public(got_pub, priv), PARLEY_OK);
    CHECK_MEM(got_pub, pub, 32);
    CHECK_RC(parley_xeddsa_verify(pub, msg, sizeof msg, sig), PARLEY_OK);
    for (size_t i = 0; i < 64 * 8; i++) {
        uint8_t bad[64];
        memcpy(bad, sig, 64);
        bad[i / 8] ^= (uint8_t)(1u << (i % 8));
        CHECK_RC(parley_xeddsa_verify(pub, msg, sizeof msg, bad), PARLEY_ERR_INVALID_SIGNATURE);
    }
    uint8_t msg2[33];
    memcpy(msg2, msg, sizeof msg);
    msg2[32] ^= 1;
    CHECK_RC(parley_xeddsa_verify(pub, msg2, sizeof msg2, sig), PARLEY_ERR_INVALID_SIGNATURE);
    uint8_t pub2[32];
    memcpy(pub2, pub, 32);
    pub2[0] ^= 1;
    CHECK_RC(parley_xeddsa_verify(pub2, msg, sizeof msg, sig), PARLEY_ERR_INVALID_SIGNATURE);
}

static void test_foreign_vectors(void)
{
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(xeddsa_vectors); i++) {
        const struct xeddsa_vector *v = &xeddsa_vectors[i];
        uint8_t pub[32], msg[256], sig[64];
        CHECK(check_unhex(pub, 32, v->pub) == 32);
        size_t n = check_unhex(msg, sizeof msg, v->msg);
        CHECK(check_unhex(sig, 64, v->sig) == 64);
        int rc = parley_xeddsa_verify(pub, msg, n, sig);
        if (rc != PARLEY_OK)
            fprintf(stderr, "vector %zu (%s) rejected\n", i, v->origin);
        CHECK_RC(rc, PARLEY_OK);
        if (v->priv != NULL) {
            /* The private key given derives the same public key, and our
             * signature under it verifies. */
            uint8_t priv[32], got[32], mine[64];
            CHECK(check_unhex(priv, 32, v->priv) == 32);
            CHECK_RC(pc_x25519_public(got, priv), PARLEY_OK);
            CHECK_MEM(got, pub, 32);
            CHECK_RC(parley_xeddsa_sign(mine, priv, msg, n), PARLEY_OK);
            CHECK_RC(parley_xeddsa_verify(pub, msg, n, mine), PARLEY_OK);
        }
        sig[5] ^= 0x10;
        CHECK_RC(parley_xeddsa_verify(pub, msg, n, sig), PARLEY_ERR_INVALID_SIGNATURE);
    }
}

static void test_round_trips(void)
{
    int seen_sign[2] = {0, 0};
    for (int i = 0; i < 64; i++) {
        uint8_t pub[32], priv[32], msg[100], sig[64], sig2[64];
        CHECK_RC(pc_x25519_keygen(pub, priv), PARLEY_OK);
        size_t n = (size_t)i;
        CHECK_RC(pc_random(msg, sizeof msg), PARLEY_OK);
        CHECK_RC(parley_xeddsa_sign(sig, priv, msg, n), PARLEY_OK);
        CHECK_RC(parley_xeddsa_verify(pub, msg, n, sig), PARLEY_OK);
        seen_sign[sig[63] >> 7] = 1;
        /* Randomized nonce: two signatures of one message differ. */
        CHECK_RC(parley_xeddsa_sign(sig2, priv, msg, n), PARLEY_OK);
        CHECK(memcmp(sig, sig2, 64) != 0);
        CHECK_RC(parley_xeddsa_verify(pub, msg, n, sig2), PARLEY_OK);
        /* Flipping the carried sign bit names the other Edwards key. */
        sig[63] ^= 0x80;
        CHECK_RC(parley_xeddsa_verify(pub, msg, n, sig), PARLEY_ERR_INVALID_SIGNATURE);
    }
    /* Both signs occur (each with probability 1/2 per key). */
    CHECK(seen_sign[0] && seen_sign[1]);
}

static void test_bad_keys(void)
{
    uint8_t msg[4] = {1, 2, 3, 4}, sig[64], pub[32], priv[32];
    CHECK_RC(pc_x25519_keygen(pub, priv), PARLEY_OK);
    CHECK_RC(parley_xeddsa_sign(sig, priv, msg, sizeof msg), PARLEY_OK);
    /* u = -1 = p - 1 has no Edwards image. */
    uint8_t minus_one[32];
    memset(minus_one, 0xff, 32);
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    CHECK_RC(parley_xeddsa_verify(minus_one, msg, sizeof msg, sig), PARLEY_ERR_INVALID_SIGNATURE);
    /* u = 0 maps to y = -1, a point of small order: refused. */
    uint8_t zero[32] = {0};
    CHECK_RC(parley_xeddsa_verify(zero, msg, sizeof msg, sig), PARLEY_ERR_INVALID_SIGNATURE);
    /* s >= L is refused (strict, non-malleable). */
    uint8_t big[64];
    memcpy(big, sig, 64);
    memset(big + 32, 0xff, 32);
    big[63] = (uint8_t)(0x1f | (sig[63] & 0x80));
    CHECK_RC(parley_xeddsa_verify(pub, msg, sizeof msg, big), PARLEY_ERR_INVALID_SIGNATURE);
}

static void test_field(void)
{
    /* u = 9 (the X25519 base point) maps to y = 4/5, the Ed25519 base
     * point's y (RFC 7748 section 4.1). */
    uint8_t u[32] = {9}, y[32], want[32];
    check_unhex(want, 32, "5866666666666666666666666666666666666666666666666666666666666666");
    CHECK(fe25519_mont_u_to_ed_y(y, u) == 0);
    CHECK_MEM(y, want, 32);
    /* Canonical output for non-canonical input: p + 1 reads as 1. */
    uint8_t p1[32], one[32] = {1}, out[32];
    memset(p1, 0xff, 32);
    p1[0] = 0xee;
    p1[31] = 0x7f;
    fe25519 f;
    fe25519_frombytes(&f, p1);
    fe25519_tobytes(out, &f);
    CHECK_MEM(out, one, 32);
    /* x * 1/x = 1 for a few x. */
    for (int i = 0; i < 16; i++) {
        uint8_t xb[32];
        CHECK_RC(pc_random(xb, sizeof xb), PARLEY_OK);
        fe25519 x, inv, prod;
        fe25519_frombytes(&x, xb);
        fe25519_invert(&inv, &x);
        fe25519_mul(&prod, &x, &inv);
        fe25519_tobytes(out, &prod);
        CHECK_MEM(out, one, 32);
    }
}

/* The reference verdict: libsodium's strict Ed25519 verification of the
 * XEdDSA signature turned into a plain Ed25519 one (what parley did before
 * it had its own group code). */
static int ref_verify(const uint8_t pub[32], const uint8_t *msg, size_t n, const uint8_t sig[64])
{
    uint8_t A[32], ed_sig[64];
    if (fe25519_mont_u_to_ed_y(A, pub) != 0)
        return PARLEY_ERR_INVALID_SIGNATURE;
    A[31] = (uint8_t)((A[31] & 0x7f) | (sig[63] & 0x80));
    memcpy(ed_sig, sig, 64);
    ed_sig[63] &= 0x7f;
    return pc_ed25519_verify(ed_sig, msg, n, A) == PARLEY_OK ? PARLEY_OK
                                                             : PARLEY_ERR_INVALID_SIGNATURE;
}

static int expanded_verify(const uint8_t pub[32], const uint8_t *msg, size_t n,
                           const uint8_t sig[64])
{
    static xeddsa_verify_key vk;
    if (xeddsa_verify_key_init(&vk, pub) != PARLEY_OK)
        return PARLEY_ERR_INVALID_SIGNATURE;
    return xeddsa_verify_expanded(&vk, msg, n, sig);
}

static int agree_accepts, agree_rejects;

/* All three verifiers give the same verdict; returns it. */
static int agree(const uint8_t pub[32], const uint8_t *msg, size_t n, const uint8_t sig[64])
{
    int want = ref_verify(pub, msg, n, sig);
    int one = parley_xeddsa_verify(pub, msg, n, sig);
    int two = expanded_verify(pub, msg, n, sig);
    CHECK_RC(one, want);
    CHECK_RC(two, want);
    if (want == PARLEY_OK)
        agree_accepts++;
    else
        agree_rejects++;
    return want;
}

/* 2^255 - 19 + k, little-endian, for k in 0..18. */
static void p_plus(uint8_t out[32], unsigned k)
{
    memset(out, 0xff, 32);
    out[0] = (uint8_t)(0xed + k);
    out[31] = 0x7f;
}

static void test_against_libsodium(void)
{
    static const char *small_order_hex[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };
    /* L, little-endian. */
    static const char *L_hex = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
    uint8_t L[32];
    check_unhex(L, 32, L_hex);
    for (int i = 0; i < 48; i++) {
        uint8_t pub[32], priv[32], msg[64], sig[64], bad[64];
        size_t n = (size_t)(i % 40);
        CHECK_RC(pc_x25519_keygen(pub, priv), PARLEY_OK);
        CHECK_RC(pc_random(msg, sizeof msg), PARLEY_OK);
        CHECK_RC(parley_xeddsa_sign(sig, priv, msg, n), PARLEY_OK);
        CHECK_RC(agree(pub, msg, n, sig), PARLEY_OK);
        /* The other sign, a random bit, the message. */
        memcpy(bad, sig, 64);
        bad[63] ^= 0x80;
        agree(pub, msg, n, bad);
        memcpy(bad, sig, 64);
        unsigned bit = pc_random_uniform(512);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        agree(pub, msg, n, bad);
        if (n > 0) {
            msg[0] ^= 1;
            agree(pub, msg, n, sig);
            msg[0] ^= 1;
        }
        /* R of small order (both signs), and its non-canonical forms
         * p and p + 1. */
        for (size_t k = 0; k < PARLEY_ARRAY_LEN(small_order_hex) + 2; k++) {
            memcpy(bad, sig, 64);
            if (k < PARLEY_ARRAY_LEN(small_order_hex))
                check_unhex(bad, 32, small_order_hex[k]);
            else
                p_plus(bad, (unsigned)(k - PARLEY_ARRAY_LEN(small_order_hex)));
            CHECK_RC(agree(pub, msg, n, bad), PARLEY_ERR_INVALID_SIGNATURE);
            bad[31] ^= 0x80;
            CHECK_RC(agree(pub, msg, n, bad), PARLEY_ERR_INVALID_SIGNATURE);
        }
        /* s + L: the same point, a non-canonical scalar. */
        memcpy(bad, sig, 64);
        unsigned carry = 0;
        for (int j = 0; j < 32; j++) {
            unsigned v = (unsigned)(j == 31 ? bad[32 + j] & 0x7f : bad[32 + j]) + L[j] + carry;
            bad[32 + j] = (uint8_t)v;
            carry = v >> 8;
        }
        bad[63] = (uint8_t)((bad[63] & 0x7f) | (sig[63] & 0x80));
        CHECK_RC(agree(pub, msg, n, bad), PARLEY_ERR_INVALID_SIGNATURE);
        /* s = L and s = 0. */
        memcpy(bad, sig, 64);
        memcpy(bad + 32, L, 32);
        bad[63] |= (uint8_t)(sig[63] & 0x80);
        CHECK_RC(agree(pub, msg, n, bad), PARLEY_ERR_INVALID_SIGNATURE);
        memset(bad + 32, 0, 32);
        agree(pub, msg, n, bad);
        /* A non-canonical R for the right point: y + p when y < 19. Not
         * reachable with a random R, so only that R's other encoding. */
        /* A random key (on the curve or its twist) with this signature. */
        uint8_t other[32];
        CHECK_RC(pc_random(other, sizeof other), PARLEY_OK);
        other[31] &= 0x7f;
        agree(other, msg, n, sig);
    }
    /* Keys with no Edwards image, of small order, or not canonical:
     * u = 0, 1, -1, p, p + 1, and the Curve25519 points of order 8. */
    static const char *bad_keys_hex[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    };
    uint8_t msg[3] = {1, 2, 3}, sig[64], pub[32], priv[32];
    CHECK_RC(pc_x25519_keygen(pub, priv), PARLEY_OK);
    CHECK_RC(parley_xeddsa_sign(sig, priv, msg, sizeof msg), PARLEY_OK);
    for (size_t k = 0; k < PARLEY_ARRAY_LEN(bad_keys_hex); k++) {
        uint8_t key[32];
        check_unhex(key, 32, bad_keys_hex[k]);
        CHECK_RC(agree(key, msg, sizeof msg, sig), PARLEY_ERR_INVALID_SIGNATURE);
        xeddsa_verify_key vk;
        CHECK_RC(xeddsa_verify_key_init(&vk, key), PARLEY_ERR_INVALID_KEY);
    }
    /* Both verdicts were exercised. */
    CHECK(agree_accepts >= 48);
    CHECK(agree_rejects >= 48 * 16);
}

/* A chain of messages under one kept verification key, both signs of the
 * Edwards key among the signatures. */
static void test_kept_key(void)
{
    uint8_t pub[32], priv[32];
    static xeddsa_verify_key vk;
    int seen[2] = {0, 0};
    CHECK_RC(pc_x25519_keygen(pub, priv), PARLEY_OK);
    CHECK_RC(xeddsa_verify_key_init(&vk, pub), PARLEY_OK);
    for (int i = 0; i < 32; i++) {
        uint8_t msg[200], sig[64];
        size_t n = (size_t)(i * 6);
        CHECK_RC(pc_random(msg, sizeof msg), PARLEY_OK);
        CHECK_RC(parley_xeddsa_sign(sig, priv, msg, n), PARLEY_OK);
        CHECK_RC(xeddsa_verify_expanded(&vk, msg, n, sig), PARLEY_OK);
        seen[sig[63] >> 7] = 1;
        sig[63] ^= 0x80;
        CHECK_RC(xeddsa_verify_expanded(&vk, msg, n, sig), PARLEY_ERR_INVALID_SIGNATURE);
    }
    /* XEdDSA signs with the real Edwards key: for one key the sign bit
     * is the same in every signature. */
    CHECK(seen[0] + seen[1] == 1);
}

/* L - x for 0 < x < L (little-endian); x = 0 stays 0. */
static void sc_neg(uint8_t out[32], const uint8_t L[32], const uint8_t x[32])
{
    int borrow = 0, zero = 1;
    for (int i = 0; i < 32; i++)
        zero &= x[i] == 0;
    for (int i = 0; i < 32; i++) {
        int v = L[i] - x[i] - borrow;
        borrow = v < 0;
        out[i] = (uint8_t)(v + (borrow ? 256 : 0));
    }
    if (zero)
        memset(out, 0, 32);
}

/* [s]B + [h](+-A) for A = [a]B, three ways: the split table, the one-shot
 * path, and a plain double-and-add of B by the single scalar
 * s +- h a mod L; random and extreme scalars. */
static void test_group_ops(void)
{
    ge25519_p3 B, A, P;
    static ge25519_table tab;
    uint8_t enc[32], got[32], want[32];
    ge25519_base(&B);
    ge25519_tobytes(enc, &B);
    CHECK_MEM(enc,
              "\x58\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66"
              "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66",
              32);
    /* [L]B is the identity; [L-1]B = -B. */
    uint8_t L[32], Lm1[32], ident[32] = {1};
    check_unhex(L, 32, "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    ge25519_scalarmult_slow(&P, &B, L);
    ge25519_tobytes(got, &P);
    CHECK_MEM(got, ident, 32);
    memcpy(Lm1, L, 32);
    Lm1[0]--;
    ge25519_scalarmult_slow(&P, &B, Lm1);
    ge25519_tobytes(got, &P);
    enc[31] ^= 0x80;
    CHECK_MEM(got, enc, 32);
    /* The y8 constant of the small-order check has order exactly 8. */
    uint8_t y8[32], eight[32] = {8}, four[32] = {4};
    check_unhex(y8, 32, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
    CHECK(ge25519_frombytes(&A, y8) == 0);
    ge25519_scalarmult_slow(&P, &A, eight);
    ge25519_tobytes(got, &P);
    CHECK_MEM(got, ident, 32);
    ge25519_scalarmult_slow(&P, &A, four);
    ge25519_tobytes(got, &P);
    CHECK(memcmp(got, ident, 32) != 0);
    CHECK(ge25519_not_small_order(y8) == 0);
    CHECK(ge25519_not_small_order(enc) == 1);
    /* The encoding predicates at their edges. */
    static const char *small_hex[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };
    for (size_t k = 0; k < PARLEY_ARRAY_LEN(small_hex); k++) {
        uint8_t e[32];
        check_unhex(e, 32, small_hex[k]);
        CHECK(ge25519_not_small_order(e) == 0);
        e[31] ^= 0x80;
        CHECK(ge25519_not_small_order(e) == 0);
        e[1] ^= 0x01; /* off by 256: not of small order */
        CHECK(ge25519_not_small_order(e) == 1);
    }
    uint8_t pm1[32], pp0[32];
    check_unhex(pm1, 32, small_hex[4]);
    check_unhex(pp0, 32, small_hex[5]);
    CHECK(ge25519_is_canonical(pm1) == 1);
    CHECK(ge25519_is_canonical(pp0) == 0);
    pp0[31] |= 0x80; /* the sign bit does not count */
    CHECK(ge25519_is_canonical(pp0) == 0);
    CHECK(sc25519_is_canonical(L) == 0);
    CHECK(sc25519_is_canonical(Lm1) == 1);
    /* Decoding round trip, and a y with no point. */
    CHECK(ge25519_frombytes(&P, enc) == 0);
    ge25519_tobytes(got, &P);
    CHECK_MEM(got, enc, 32);
    uint8_t two[32] = {2};
    CHECK(ge25519_frombytes(&P, two) == -1);

    for (int i = 0; i < 24; i++) {
        uint8_t a[32], h[32], s[32], wide[64], hr[32], sr[32], c[32];
        CHECK_RC(pc_random(a, sizeof a), PARLEY_OK);
        CHECK_RC(pc_random(h, sizeof h), PARLEY_OK);
        CHECK_RC(pc_random(s, sizeof s), PARLEY_OK);
        if (i == 0) {
            memset(h, 0xff, 32); /* 2^256 - 1: every piece full */
            memset(s, 0xff, 32);
        } else if (i == 1) {
            memset(h, 0, 32);
            memcpy(s, Lm1, 32);
        } else if (i == 2) {
            memcpy(h, Lm1, 32);
            memset(s, 0, 32);
        }
        a[31] &= 0x0f; /* a < 2^252 < L */
        ge25519_scalarmult_slow(&A, &B, a);
        ge25519_table_init(&tab, &A);
        memset(wide, 0, sizeof wide);
        memcpy(wide, h, 32);
        pc_ed25519_scalar_reduce(hr, wide);
        memcpy(wide, s, 32);
        pc_ed25519_scalar_reduce(sr, wide);
        for (int sign = -1; sign <= 1; sign += 2) {
            uint8_t hs[32];
            if (sign < 0)
                sc_neg(hs, L, hr);
            else
                memcpy(hs, hr, 32);
            pc_ed25519_scalar_muladd(c, hs, a, sr); /* c = +-h a + s */
            ge25519_scalarmult_slow(&P, &B, c);
            ge25519_tobytes(want, &P);
            ge25519_verify_split(got, &tab, sign, h, s);
            CHECK_MEM(got, want, 32);
            ge25519_verify_once(got, &A, sign, h, s);
            CHECK_MEM(got, want, 32);
        }
    }
}

int main(void)
{
    if (pc_init() != PARLEY_OK)
        return 1;
    test_field();
    test_libsignal_vector();
    test_foreign_vectors();
    test_round_trips();
    test_bad_keys();
    test_group_ops();
    test_kept_key();
    test_against_libsodium();
    TEST_MAIN_END();
}
