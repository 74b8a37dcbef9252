/* Attestations: issue, decode, verify, and one negative test per check. */
#include <string.h>

#include "check.h"
#include "crypto/crypto.h"
#include "parley/attestation.h"

static uint8_t pub1[32], priv1[64], pub2[32], priv2[64];
static const char *const domains[] = {"birdy.example", "chirp.example"};

static void claims(parley_attestation *a)
{
    memset(a, 0, sizeof *a);
    strcpy(a->provider, "birdy");
    a->key_id = 7;
    strcpy(a->user, "bob@birdy.example");
    memset(a->noise_key, 0x11, sizeof a->noise_key);
    a->identity_key[0] = 0x05;
    memset(a->identity_key + 1, 0x22, 32);
    a->identity_key_len = 33;
    a->issued_at = 1000;
    a->expires = 1000 + 86400;
}

static parley_attest_trust trust_with(const parley_attest_key *keys, size_t n)
{
    parley_attest_trust t = {.provider = "birdy",
                             .domains = domains,
                             .domain_count = 2,
                             .keys = keys,
                             .key_count = n,
                             .max_lifetime = 30 * 86400,
                             .skew = 60};
    return t;
}

static void test_roundtrip(void)
{
    parley_attestation a, d;
    uint8_t buf[PARLEY_ATTEST_MAX_LEN];
    size_t n = 0;
    claims(&a);
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    CHECK(n == 4 + 1 + 1 + 5 + 4 + 2 + 17 + 32 + 1 + 33 + 8 + 8 + 64);
    CHECK_MEM(buf,
              "PLAT\x01\x05"
              "birdy",
              11);
    CHECK_RC(parley_attestation_decode(&d, buf, n), PARLEY_OK);
    CHECK(strcmp(d.user, a.user) == 0 && d.key_id == 7 && d.expires == a.expires);
    CHECK(d.identity_key_len == 33 && memcmp(d.identity_key, a.identity_key, 33) == 0);

    parley_attest_key keys[2] = {{.key_id = 3}, {.key_id = 7}};
    memcpy(keys[0].pub, pub2, 32);
    memcpy(keys[1].pub, pub1, 32);
    parley_attest_trust t = trust_with(keys, 2);
    CHECK_RC(parley_attestation_verify(&d, buf, n, &t, a.noise_key, a.identity_key, 33, 2000),
             PARLEY_OK);
    /* A login re-check without the identity key. */
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, 2000), PARLEY_OK);
    /* The second domain of the same provider. */
    strcpy(a.user, "carol@chirp.example");
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, 2000), PARLEY_OK);
    /* Too small an output buffer. */
    CHECK_RC(parley_attestation_issue(buf, 50, &n, &a, priv1), PARLEY_ERR_BUFFER);
}

static void test_negative(void)
{
    parley_attestation a;
    uint8_t buf[PARLEY_ATTEST_MAX_LEN];
    size_t n = 0;
    parley_attest_key keys[2] = {{.key_id = 7}, {.key_id = 8}};
    memcpy(keys[0].pub, pub1, 32);
    memcpy(keys[1].pub, pub2, 32);
    parley_attest_trust t = trust_with(keys, 2);
    uint8_t other[33];

    claims(&a);
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    /* bad signature: one flipped bit anywhere in the body or signature */
    for (size_t i = 0; i < n; i += 7) {
        uint8_t c[PARLEY_ATTEST_MAX_LEN];
        memcpy(c, buf, n);
        c[i] ^= 0x01;
        int rc = parley_attestation_verify(NULL, c, n, &t, a.noise_key, a.identity_key, 33, 2000);
        CHECK(rc != PARLEY_OK);
    }
    {
        uint8_t c[PARLEY_ATTEST_MAX_LEN];
        memcpy(c, buf, n);
        c[n - 1] ^= 0x80;
        CHECK_RC(parley_attestation_verify(NULL, c, n, &t, a.noise_key, a.identity_key, 33, 2000),
                 PARLEY_ERR_ATTEST_SIGNATURE);
    }
    /* forged: signed by key 8's private key but naming key 7 */
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv2), PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, a.identity_key, 33, 2000),
             PARLEY_ERR_ATTEST_SIGNATURE);
    /* unknown key id (a retired key is simply absent from the record) */
    a.key_id = 9;
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, a.identity_key, 33, 2000),
             PARLEY_ERR_ATTEST_UNKNOWN_KEY);
    /* wrong provider id */
    claims(&a);
    strcpy(a.provider, "tweety");
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, a.identity_key, 33, 2000),
             PARLEY_ERR_ATTEST_PROVIDER);
    /* wrong domain for that provider, correctly signed */
    claims(&a);
    strcpy(a.user, "mallory@gk.example");
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, a.identity_key, 33, 2000),
             PARLEY_ERR_ATTEST_DOMAIN);
    strcpy(a.user, "mallory@evil.birdy.example"); /* suffixes do not count */
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, a.identity_key, 33, 2000),
             PARLEY_ERR_ATTEST_DOMAIN);
    /* time */
    claims(&a);
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, 1000 - 60),
             PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, 1000 - 61),
             PARLEY_ERR_ATTEST_NOT_YET_VALID);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, a.expires + 59),
             PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, a.expires + 60),
             PARLEY_ERR_ATTEST_EXPIRED);
    t.skew = 0;
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, a.expires),
             PARLEY_ERR_ATTEST_EXPIRED);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, a.expires - 1),
             PARLEY_OK);
    /* lifetime beyond what the gatekeeper accepts */
    a.expires = a.issued_at + 31 * 86400;
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, NULL, 0, 2000),
             PARLEY_ERR_ATTEST_LIFETIME);
    /* key bindings */
    claims(&a);
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    uint8_t nk[32];
    memset(nk, 0x12, sizeof nk);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, nk, a.identity_key, 33, 2000),
             PARLEY_ERR_ATTEST_KEY_MISMATCH);
    memcpy(other, a.identity_key, 33);
    other[32] ^= 1;
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, other, 33, 2000),
             PARLEY_ERR_ATTEST_KEY_MISMATCH);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &t, a.noise_key, a.identity_key, 32, 2000),
             PARLEY_ERR_ATTEST_KEY_MISMATCH);
    /* no keys at all */
    parley_attest_trust none = trust_with(NULL, 0);
    CHECK_RC(parley_attestation_verify(NULL, buf, n, &none, a.noise_key, NULL, 0, 2000),
             PARLEY_ERR_ATTEST_UNKNOWN_KEY);
}

static void test_issue_args(void)
{
    parley_attestation a;
    uint8_t buf[PARLEY_ATTEST_MAX_LEN];
    size_t n;
    claims(&a);
    a.expires = a.issued_at;
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_ERR_INVALID_ARG);
    claims(&a);
    strcpy(a.user, "nobody");
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_ERR_INVALID_ARG);
    strcpy(a.user, "a@b@c");
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_ERR_INVALID_ARG);
    strcpy(a.user, "a b@c");
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_ERR_INVALID_ARG);
    strcpy(a.user, "bob@birdy.example/2");
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_ERR_INVALID_ARG);
    claims(&a);
    strcpy(a.provider, "Birdy");
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_ERR_INVALID_ARG);
    claims(&a);
    a.identity_key_len = 31;
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_ERR_INVALID_ARG);
    CHECK(strcmp(parley_attestation_domain("x@y.example"), "y.example") == 0);
    CHECK(parley_attestation_domain("xy") == NULL);
    CHECK(parley_attestation_domain("xy@") == NULL);
}

static void test_decode_negative(void)
{
    parley_attestation a, d;
    uint8_t buf[PARLEY_ATTEST_MAX_LEN + 1];
    size_t n;
    claims(&a);
    CHECK_RC(parley_attestation_issue(buf, sizeof buf, &n, &a, priv1), PARLEY_OK);
    /* every truncation fails */
    for (size_t i = 0; i < n; i++)
        CHECK_RC(parley_attestation_decode(&d, buf, i), PARLEY_ERR_DECODE);
    /* a trailing byte fails */
    buf[n] = 0;
    CHECK_RC(parley_attestation_decode(&d, buf, n + 1), PARLEY_ERR_DECODE);
    uint8_t c[PARLEY_ATTEST_MAX_LEN];
#define MUTATE(off, val)                                                                           \
    do {                                                                                           \
        memcpy(c, buf, n);                                                                         \
        c[off] = (val);                                                                            \
        CHECK_RC(parley_attestation_decode(&d, c, n), PARLEY_ERR_DECODE);                          \
    } while (0)
    MUTATE(0, 'X');           /* magic */
    MUTATE(4, 2);             /* version */
    MUTATE(5, 0);             /* empty provider id */
    MUTATE(5, 200);           /* provider id longer than the input allows */
    MUTATE(6, 'B');           /* provider id outside its alphabet */
    MUTATE(15, 1);            /* user length 273, over the maximum */
    MUTATE(16, 0);            /* user length 0 */
    MUTATE(17 + 3, ' ');      /* a space in the user */
    MUTATE(17 + 17 + 32, 31); /* identity key too short */
    MUTATE(17 + 17 + 32, 65); /* identity key too long */
#undef MUTATE
    /* expires not after issued at */
    memcpy(c, buf, n);
    size_t times = 17 + 17 + 32 + 1 + 33;
    memset(c + times + 8, 0, 8);
    CHECK_RC(parley_attestation_decode(&d, c, n), PARLEY_ERR_DECODE);
    CHECK_RC(parley_attestation_decode(&d, NULL, 0), PARLEY_ERR_DECODE);
}

int main(void)
{
    if (pc_ed25519_keygen(pub1, priv1) != PARLEY_OK || pc_ed25519_keygen(pub2, priv2) != PARLEY_OK)
        return 1;
    test_roundtrip();
    test_negative();
    test_issue_args();
    test_decode_negative();
    TEST_MAIN_END();
}
