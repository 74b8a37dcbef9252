/*
 * Media credentials (docs/media.md, "Media credentials"): a known answer
 * computed with Python's hmac module, round trips, and refusal of every
 * altered, foreign, malformed or expired token.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "parley/media.h"

/* python3: hmac.new(bytes(range(32)), b"parley media token v1\0" + user
 * + b"\0" + b"1700000000", sha256) */
static const char kat[] = "pmt1.616c69636540676b2e6578616d706c65.1700000000."
                          "b7bddf0947fe2d95eb569524c7b45644a15d79bb575ef72a3a80460b22a34674";

int main(void)
{
    uint8_t key[32], other[32];
    char tok[PARLEY_MEDIA_TOKEN_MAX], user[PARLEY_MEDIA_TOKEN_USER_MAX], bad[PARLEY_MEDIA_TOKEN_MAX];
    uint64_t exp = 0;
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)i;
        other[i] = (uint8_t)(i + 1);
    }

    CHECK_RC(parley_media_token_make(key, "alice@gk.example", 1700000000u, tok, sizeof tok),
             PARLEY_OK);
    CHECK(strcmp(tok, kat) == 0);
    CHECK_RC(parley_media_token_verify(key, kat, 1699999999u, user, &exp), PARLEY_OK);
    CHECK(strcmp(user, "alice@gk.example") == 0);
    CHECK(exp == 1700000000u);

    /* expired: authentic but refused, with its own code */
    CHECK_RC(parley_media_token_verify(key, kat, 1700000000u, user, NULL), PARLEY_ERR_CERT_EXPIRED);
    /* another key */
    CHECK_RC(parley_media_token_verify(other, kat, 1, user, NULL), PARLEY_ERR_INVALID_MAC);

    /* every single-character change is refused */
    size_t n = strlen(kat), refused = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(bad, kat, n + 1);
        bad[i] = bad[i] == 'a' ? 'b' : bad[i] == '.' ? '0' : 'a';
        if (parley_media_token_verify(key, bad, 1, user, NULL) != PARLEY_OK)
            refused++;
    }
    CHECK(refused == n);

    /* another user or a later expiry under the same MAC */
    snprintf(bad, sizeof bad, "pmt1.%s.1700000000.%s", "626f6240676b2e6578616d706c65",
             kat + strlen(kat) - 64);
    CHECK_RC(parley_media_token_verify(key, bad, 1, user, NULL), PARLEY_ERR_INVALID_MAC);
    snprintf(bad, sizeof bad, "pmt1.616c69636540676b2e6578616d706c65.1800000000.%s",
             kat + strlen(kat) - 64);
    CHECK_RC(parley_media_token_verify(key, bad, 1, user, NULL), PARLEY_ERR_INVALID_MAC);

    /* malformed */
    static const char *junk[] = {"",
                                 "pmt1.",
                                 "pmt1..1.00",
                                 "pmt2.61.1.0000000000000000000000000000000000000000000000000000000000000000",
                                 "pmt1.6.1.0000000000000000000000000000000000000000000000000000000000000000",
                                 "pmt1.61.01.0000000000000000000000000000000000000000000000000000000000000000",
                                 "pmt1.61.99999999999999999999999.00000000000000000000000000000000000000000000000000000000000000",
                                 "pmt1.61.1.00",
                                 "Bearer x"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        CHECK_RC(parley_media_token_verify(key, junk[i], 0, user, NULL), PARLEY_ERR_INVALID_MAC);
    CHECK_RC(parley_media_token_verify(key, NULL, 0, user, NULL), PARLEY_ERR_INVALID_MAC);

    /* a user with a NUL in it cannot be smuggled in */
    CHECK_RC(parley_media_token_make(key, "", 1, tok, sizeof tok), PARLEY_ERR_INVALID_ARG);
    CHECK_RC(parley_media_token_make(key, "a@b", 1, tok, 10), PARLEY_ERR_BUFFER);
    {
        char longuser[200];
        memset(longuser, 'x', sizeof longuser - 1);
        longuser[sizeof longuser - 1] = 0;
        CHECK_RC(parley_media_token_make(key, longuser, 1, tok, sizeof tok), PARLEY_ERR_INVALID_ARG);
        longuser[128] = 0; /* 128 bytes: one too many with the terminator */
        CHECK_RC(parley_media_token_make(key, longuser, 1, tok, sizeof tok), PARLEY_ERR_INVALID_ARG);
        longuser[127] = 0;
        CHECK_RC(parley_media_token_make(key, longuser, UINT64_MAX, tok, sizeof tok), PARLEY_OK);
        CHECK(strlen(tok) < PARLEY_MEDIA_TOKEN_MAX);
        CHECK_RC(parley_media_token_verify(key, tok, 5, user, NULL), PARLEY_OK);
        CHECK(strcmp(user, longuser) == 0);
    }
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed != 0;
}
