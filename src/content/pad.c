/*
 * Content padding (docs/protocol.md, "Padding"; DESIGN.md 3.5).
 *
 * Before encryption an encoded Content gets N padding bytes, N uniform in
 * 1..16, each of value N (as PKCS#7, RFC 5652 section 6.3, but with a
 * random length): the receiver reads N from the last byte and checks all N.
 * Protobuf cannot end a message unambiguously on its own, so the padding
 * must be self-delimiting; a random N blurs the exact length of short
 * messages (typing notices, receipts, one-word replies) beyond what the
 * Signal layer's block padding already hides. The check runs after the
 * Signal MAC has been verified, so its timing tells an attacker nothing;
 * it is branch-free over the padding anyway.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "parley/content.h"
#include "util/safety.h"

int parley_content_pad(uint8_t *out, size_t out_max, size_t *out_len, const uint8_t *in, size_t n)
{
    PARLEY_MISUSE(out != NULL && out_len != NULL && (in != NULL || n == 0));
    *out_len = 0;
    if (n > SIZE_MAX - PARLEY_CONTENT_PAD_MAX || out_max < n + PARLEY_CONTENT_PAD_MAX)
        return PARLEY_ERR_BUFFER;
    if (pc_init() != PARLEY_OK)
        return PARLEY_ERR_CRYPTO;
    uint8_t pad = (uint8_t)(1 + pc_random_uniform(PARLEY_CONTENT_PAD_MAX));
    if (n > 0)
        memcpy(out, in, n);
    memset(out + n, pad, pad);
    *out_len = n + pad;
    return PARLEY_OK;
}

int parley_content_unpad(const uint8_t *in, size_t n, size_t *content_len)
{
    PARLEY_MISUSE(content_len != NULL && (in != NULL || n == 0));
    *content_len = 0;
    if (n == 0)
        return PARLEY_ERR_CONTENT_PADDING;
    uint8_t pad = in[n - 1];
    if (pad == 0 || pad > PARLEY_CONTENT_PAD_MAX || pad > n)
        return PARLEY_ERR_CONTENT_PADDING;
    uint8_t diff = 0;
    for (size_t i = n - pad; i < n; i++)
        diff |= (uint8_t)(in[i] ^ pad);
    if (diff != 0)
        return PARLEY_ERR_CONTENT_PADDING;
    *content_len = n - pad;
    return PARLEY_OK;
}
