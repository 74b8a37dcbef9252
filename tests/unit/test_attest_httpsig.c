/* Signed HTTP requests, the replay cache and the base64 they use. */
#include "check.h"
#include "crypto/crypto.h"
#include "interop/httpsig.h"

static uint8_t pub[32], priv[64], pub2[32], priv2[64];

static void test_sign_verify(void)
{
    char h[PHS_HEADER_MAX];
    const uint8_t body[] = "{\"user\":\"bob@birdy.example\",\"device\":1}";
    phs_request req = {.method = "POST",
                       .path = "/v1/push",
                       .audience = "birdy",
                       .body = body,
                       .body_len = sizeof body - 1};
    phs_key keys[2] = {{.key_id = "gk-2026"}, {.key_id = "gk-2025"}};
    memcpy(keys[0].pub, pub, 32);
    memcpy(keys[1].pub, pub2, 32);
    uint8_t sig[64];
    CHECK_RC(phs_sign(h, &req, "gk-2026", 1700000000, priv), PARLEY_OK);
    CHECK(strncmp(h, "v1;key=gk-2026;t=1700000000;sig=", 32) == 0);
    CHECK(strlen(h) == 32 + 88);
    CHECK_RC(phs_verify(h, &req, keys, 2, 1700000000, 300, sig), PARLEY_OK);
    CHECK_RC(phs_verify(h, &req, keys, 2, 1700000300, 300, NULL), PARLEY_OK);
    CHECK_RC(phs_verify(h, &req, keys, 2, 1700000301, 300, NULL), PARLEY_ERR_HTTP_STALE);
    CHECK_RC(phs_verify(h, &req, keys, 2, 1699999699, 300, NULL), PARLEY_ERR_HTTP_STALE);
    /* each signed part matters */
    phs_request r2 = req;
    r2.method = "PUT";
    CHECK_RC(phs_verify(h, &r2, keys, 2, 1700000000, 300, NULL), PARLEY_ERR_HTTP_SIGNATURE);
    r2 = req;
    r2.path = "/v1/push?x=1";
    CHECK_RC(phs_verify(h, &r2, keys, 2, 1700000000, 300, NULL), PARLEY_ERR_HTTP_SIGNATURE);
    r2 = req;
    r2.audience = "tweety";
    CHECK_RC(phs_verify(h, &r2, keys, 2, 1700000000, 300, NULL), PARLEY_ERR_HTTP_SIGNATURE);
    r2 = req;
    r2.body_len--;
    CHECK_RC(phs_verify(h, &r2, keys, 2, 1700000000, 300, NULL), PARLEY_ERR_HTTP_SIGNATURE);
    /* a changed timestamp breaks the signature */
    char h2[PHS_HEADER_MAX];
    strcpy(h2, h);
    h2[strlen("v1;key=gk-2026;t=170000000")] = '1';
    CHECK_RC(phs_verify(h2, &req, keys, 2, 1700000000, 300, NULL), PARLEY_ERR_HTTP_SIGNATURE);
    /* a key id the receiver does not know */
    CHECK_RC(phs_verify(h, &req, keys + 1, 1, 1700000000, 300, NULL),
             PARLEY_ERR_ATTEST_UNKNOWN_KEY);
    /* the right id with another key */
    keys[0].key_id = "gk-2025";
    keys[1].key_id = "gk-2026";
    CHECK_RC(phs_verify(h, &req, keys, 2, 1700000000, 300, NULL), PARLEY_ERR_HTTP_SIGNATURE);
    /* empty body */
    req.body = NULL;
    req.body_len = 0;
    req.method = "GET";
    CHECK_RC(phs_sign(h, &req, "k", 5, priv), PARLEY_OK);
    phs_key k = {.key_id = "k"};
    memcpy(k.pub, pub, 32);
    CHECK_RC(phs_verify(h, &req, &k, 1, 5, 300, NULL), PARLEY_OK);
    /* bad arguments */
    CHECK_RC(phs_sign(h, &req, "bad key", 5, priv), PARLEY_ERR_INVALID_ARG);
    req.path = "/with space";
    CHECK_RC(phs_sign(h, &req, "k", 5, priv), PARLEY_ERR_INVALID_ARG);
}

static void test_header_negative(void)
{
    char h[PHS_HEADER_MAX];
    phs_request req = {.method = "POST", .path = "/v1/push", .audience = "birdy"};
    phs_key k = {.key_id = "k"};
    memcpy(k.pub, pub, 32);
    CHECK_RC(phs_sign(h, &req, "k", 1000, priv), PARLEY_OK);
    const char *sig = strstr(h, "sig=") + 4;
    char t[PHS_HEADER_MAX * 2];
    const char *bad[] = {
        "",
        "v1",
        "v2;key=k;t=1000;sig=",
        "v1;t=1000;key=k;sig=",
        "v1;key=;t=1000;sig=",
        "v1;key=k k;t=1000;sig=",
        "v1;key=k;t=;sig=",
        "v1;key=k;t=01000;sig=",
        "v1;key=k;t=1e3;sig=",
        "v1;key=k;t=1000;sig=AAAA",
        "v1;key=k;t=1000000000000;sig=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(t, sizeof t, "%s%s", bad[i],
                 strchr(bad[i], '=') && strstr(bad[i], "sig=") &&
                         strcmp(bad[i] + strlen(bad[i]) - 4, "sig=") == 0
                     ? sig
                     : "");
        CHECK_RC(phs_verify(t, &req, &k, 1, 1000, 300, NULL), PARLEY_ERR_DECODE);
    }
    /* trailing parameter, and a non-canonical base64 signature */
    snprintf(t, sizeof t, "%s;x=1", h);
    CHECK_RC(phs_verify(t, &req, &k, 1, 1000, 300, NULL), PARLEY_ERR_DECODE);
    strcpy(t, h);
    t[strlen(t) - 2] = 'B'; /* "...A==" -> "...B=": wrong padding shape */
    CHECK(phs_verify(t, &req, &k, 1, 1000, 300, NULL) != PARLEY_OK);
    /* an over-long header */
    memset(t, 'a', PHS_HEADER_MAX + 10);
    t[PHS_HEADER_MAX + 10] = 0;
    CHECK_RC(phs_verify(t, &req, &k, 1, 1000, 300, NULL), PARLEY_ERR_DECODE);
}

static void test_replay(void)
{
    phs_replay *r;
    uint8_t a[64] = {1}, b[64] = {2}, c[64] = {3};
    CHECK_RC(phs_replay_new(&r, 2), PARLEY_OK);
    CHECK_RC(phs_replay_check(r, a, 100, 300), PARLEY_OK);
    CHECK_RC(phs_replay_check(r, a, 101, 300), PARLEY_ERR_HTTP_REPLAY);
    CHECK_RC(phs_replay_check(r, b, 102, 300), PARLEY_OK);
    CHECK_RC(phs_replay_check(r, a, 103, 300), PARLEY_ERR_HTTP_REPLAY);
    /* outside the window the entry no longer counts (the signature's own
     * timestamp check refuses it anyway) */
    CHECK_RC(phs_replay_check(r, b, 500, 300), PARLEY_OK);
    CHECK_RC(phs_replay_check(r, c, 501, 300), PARLEY_OK);
    phs_replay_free(r);
}

static void test_b64(void)
{
    char out[16];
    uint8_t bin[16];
    size_t n;
    CHECK(phs_b64_encode(out, sizeof out, (const uint8_t *)"foob", 4) == 8);
    CHECK(strcmp(out, "Zm9vYg==") == 0);
    CHECK_RC(phs_b64_decode(bin, sizeof bin, &n, "Zm9vYg==", 8), PARLEY_OK);
    CHECK(n == 4 && memcmp(bin, "foob", 4) == 0);
    CHECK_RC(phs_b64_decode(bin, sizeof bin, &n, "Zm9vYh==", 8), PARLEY_ERR_DECODE);
    CHECK_RC(phs_b64_decode(bin, sizeof bin, &n, "Zm9vY===", 8), PARLEY_ERR_DECODE);
    CHECK_RC(phs_b64_decode(bin, sizeof bin, &n, "Zm=vYg==", 8), PARLEY_ERR_DECODE);
    CHECK_RC(phs_b64_decode(bin, sizeof bin, &n, "Zm9vYg=", 7), PARLEY_ERR_DECODE);
    CHECK_RC(phs_b64_decode(bin, sizeof bin, &n, "Zm9v!g==", 8), PARLEY_ERR_DECODE);
    CHECK_RC(phs_b64_decode(bin, 3, &n, "Zm9vYg==", 8), PARLEY_ERR_BUFFER);
    CHECK(phs_b64_encode(out, 8, (const uint8_t *)"foob", 4) == 0);
}

int main(void)
{
    if (pc_ed25519_keygen(pub, priv) != PARLEY_OK || pc_ed25519_keygen(pub2, priv2) != PARLEY_OK)
        return 1;
    test_sign_verify();
    test_header_negative();
    test_replay();
    test_b64();
    TEST_MAIN_END();
}
