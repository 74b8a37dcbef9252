/* libFuzzer harness: SenderKeyMessage decoding and group decryption
 * (sender_key_wire.c, group_cipher.c), against a receiver that holds the
 * sender key of @signalapp/libsignal-client's test sender (the SKDM of
 * tests/unit/test_group.c), so valid messages from that sender reach the
 * chain and key logic. A refused message must leave the store unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "parley/group.h"

static const char skdm_hex[] = "330a106f0b1c5e2a4d4e8f9b3a7c1d2e3f4a5b10a58fb8b50318002220de5a1c"
                               "de4ff2142c3523cc4ebbd84e17a33ca4e7e1cdcf554f181ba7934f9b422a2105"
                               "8bafdad9c86ae1ebc96e79ff19b375ee495659b08026960b45163cf304336f48";

static size_t unhex(uint8_t *out, size_t max, const char *hex)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < max; hex += 2) {
        unsigned v = 0;
        for (int i = 0; i < 2; i++) {
            char c = hex[i];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[n++] = (uint8_t)v;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parley_group_store *s = NULL;
    uint8_t skdm[256], *before = NULL, *after = NULL, *pt = NULL;
    size_t sn, bn = 0, an = 0, pn = 0;
    if (pc_init() != PARLEY_OK || parley_group_store_new(&s) != PARLEY_OK)
        return 0;
    sn = unhex(skdm, sizeof skdm, skdm_hex);
    if (parley_group_process(s, "alice", 1, skdm, sn) != PARLEY_OK)
        __builtin_trap();
    if (parley_group_store_serialize(s, &before, &bn) != PARLEY_OK)
        __builtin_trap();
    pt = malloc(size + 1);
    if (pt != NULL) {
        int rc = parley_group_decrypt(s, "alice", 1, data, size, pt, size, &pn);
        if (parley_group_store_serialize(s, &after, &an) != PARLEY_OK)
            __builtin_trap();
        if (rc != PARLEY_OK && (an != bn || memcmp(before, after, an) != 0))
            __builtin_trap();
        if (rc == PARLEY_OK && pn > size)
            __builtin_trap();
        /* A message that opened once is a duplicate the second time. */
        if (rc == PARLEY_OK &&
            parley_group_decrypt(s, "alice", 1, data, size, pt, size, &pn) != PARLEY_ERR_DUPLICATE)
            __builtin_trap();
    }
    free(pt);
    parley_group_buffer_free(before, bn);
    parley_group_buffer_free(after, an);
    parley_group_store_free(s);
    return 0;
}
