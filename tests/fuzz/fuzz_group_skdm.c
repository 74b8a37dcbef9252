/* libFuzzer harness: SenderKeyDistributionMessage decoding and processing
 * (sender_key_wire.c, group_cipher.c). An SKDM that is accepted must leave
 * a store that serializes and loads back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "parley/group.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parley_group_store *s = NULL, *t = NULL;
    uint8_t *a = NULL, *b = NULL;
    size_t an = 0, bn = 0;
    if (pc_init() != PARLEY_OK || parley_group_store_new(&s) != PARLEY_OK)
        return 0;
    if (parley_group_process(s, "sender", 1, data, size) == PARLEY_OK) {
        /* Processing it twice keeps one state. */
        if (parley_group_process(s, "sender", 1, data, size) != PARLEY_OK)
            __builtin_trap();
        if (parley_group_store_serialize(s, &a, &an) != PARLEY_OK ||
            parley_group_store_load(&t, a, an) != PARLEY_OK ||
            parley_group_store_serialize(t, &b, &bn) != PARLEY_OK || an != bn ||
            memcmp(a, b, an) != 0)
            __builtin_trap();
    }
    parley_group_buffer_free(a, an);
    parley_group_buffer_free(b, bn);
    parley_group_store_free(t);
    parley_group_store_free(s);
    return 0;
}
