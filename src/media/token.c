/*
 * Media credentials (docs/media.md, "Media credentials"): a bearer token
 * that the chat server mints for a logged-in user and that a media host
 * or proxy in another process checks with the same 32-byte key, without
 * asking the chat server.
 *
 *     pmt1.<user, hex>.<expiry, decimal Unix seconds>.<mac, 64 hex>
 *     mac = HMAC-SHA256(key, "parley media token v1" 0x00 user 0x00 expiry)
 *
 * The user is hex so that no address character can break the format.
 */
#include "parley/media.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/safety.h"

#define TOKEN_PREFIX "pmt1."
static const char token_label[] = "parley media token v1"; /* with its NUL */

static int token_mac(uint8_t mac[32], const uint8_t key[PARLEY_MEDIA_TOKEN_KEY_LEN],
                     const char *user, size_t user_len, const char *exp, size_t exp_len)
{
    static const uint8_t zero = 0;
    pc_part parts[4] = {{(const uint8_t *)token_label, sizeof token_label},
                        {(const uint8_t *)user, user_len},
                        {&zero, 1},
                        {(const uint8_t *)exp, exp_len}};
    return pc_hmac_sha256_parts(mac, key, PARLEY_MEDIA_TOKEN_KEY_LEN, parts, 4);
}

static void hex_encode(char *out, const uint8_t *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Lower-case hex only: one spelling per token. */
static int hex_decode(uint8_t *out, const char *in, size_t hex_len)
{
    if (hex_len % 2)
        return 0;
    for (size_t i = 0; i < hex_len / 2; i++) {
        int hi = hex_digit(in[2 * i]), lo = hex_digit(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

int parley_media_token_make(const uint8_t key[PARLEY_MEDIA_TOKEN_KEY_LEN], const char *user,
                            uint64_t expires, char *out, size_t out_max)
{
    char exp[24];
    uint8_t mac[32];
    size_t ul = user ? strlen(user) : 0;
    int rc;
    ENSURE(ul >= 1 && ul < PARLEY_MEDIA_TOKEN_USER_MAX, PARLEY_ERR_INVALID_ARG);
    ENSURE(out_max >= PARLEY_MEDIA_TOKEN_MAX, PARLEY_ERR_BUFFER);
    snprintf(exp, sizeof exp, "%llu", (unsigned long long)expires);
    GUARD(token_mac(mac, key, user, ul, exp, strlen(exp)));
    memcpy(out, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1);
    size_t pos = sizeof TOKEN_PREFIX - 1;
    hex_encode(out + pos, (const uint8_t *)user, ul);
    pos += 2 * ul;
    out[pos++] = '.';
    memcpy(out + pos, exp, strlen(exp));
    pos += strlen(exp);
    out[pos++] = '.';
    hex_encode(out + pos, mac, sizeof mac);
    rc = PARLEY_OK;
out:
    pc_wipe(mac, sizeof mac);
    return rc;
}

int parley_media_token_verify(const uint8_t key[PARLEY_MEDIA_TOKEN_KEY_LEN], const char *token,
                              uint64_t now, char user[PARLEY_MEDIA_TOKEN_USER_MAX],
                              uint64_t *expires)
{
    char name[PARLEY_MEDIA_TOKEN_USER_MAX];
    uint8_t mac[32], got[32];
    const char *u, *d1, *d2;
    size_t tl = token ? strlen(token) : 0, ul, el;
    uint64_t exp = 0;
    int rc;
    ENSURE(tl > sizeof TOKEN_PREFIX && tl < PARLEY_MEDIA_TOKEN_MAX, PARLEY_ERR_INVALID_MAC);
    ENSURE(memcmp(token, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1) == 0, PARLEY_ERR_INVALID_MAC);
    u = token + sizeof TOKEN_PREFIX - 1;
    d1 = strchr(u, '.');
    ENSURE(d1 != NULL, PARLEY_ERR_INVALID_MAC);
    d2 = strchr(d1 + 1, '.');
    ENSURE(d2 != NULL && strlen(d2 + 1) == 64, PARLEY_ERR_INVALID_MAC);
    ul = (size_t)(d1 - u) / 2;
    el = (size_t)(d2 - d1 - 1);
    ENSURE(ul >= 1 && ul < sizeof name && hex_decode((uint8_t *)name, u, (size_t)(d1 - u)),
           PARLEY_ERR_INVALID_MAC);
    name[ul] = 0;
    ENSURE(memchr(name, 0, ul) == NULL, PARLEY_ERR_INVALID_MAC);
    ENSURE(el >= 1 && el <= 20 && (el == 1 || d1[1] != '0'), PARLEY_ERR_INVALID_MAC);
    for (size_t i = 0; i < el; i++) {
        char ch = d1[1 + i];
        ENSURE(ch >= '0' && ch <= '9', PARLEY_ERR_INVALID_MAC);
        ENSURE(exp <= (UINT64_MAX - (uint64_t)(ch - '0')) / 10, PARLEY_ERR_INVALID_MAC);
        exp = exp * 10 + (uint64_t)(ch - '0');
    }
    ENSURE(hex_decode(got, d2 + 1, 64), PARLEY_ERR_INVALID_MAC);
    GUARD(token_mac(mac, key, name, ul, d1 + 1, el));
    ENSURE(pc_ct_eq(mac, got, sizeof mac), PARLEY_ERR_INVALID_MAC);
    /* Expiry only after the MAC: an expired token is still authentic. */
    ENSURE(now < exp, PARLEY_ERR_CERT_EXPIRED);
    memcpy(user, name, ul + 1);
    if (expires)
        *expires = exp;
    rc = PARLEY_OK;
out:
    pc_wipe(mac, sizeof mac);
    return rc;
}
