/* libFuzzer harness: sender-key store loading (sender_key_store.c). A
 * store that loads serializes to bytes that load again and serialize to
 * the same bytes (load and serialize are inverse on their image). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"
#include "parley/group.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parley_group_store *s = NULL, *t = NULL;
    uint8_t *a = NULL, *b = NULL;
    size_t an = 0, bn = 0;
    if (pc_init() != PARLEY_OK)
        return 0;
    if (parley_group_store_load(&s, data, size) != PARLEY_OK)
        return 0;
    if (parley_group_store_serialize(s, &a, &an) != PARLEY_OK ||
        parley_group_store_load(&t, a, an) != PARLEY_OK ||
        parley_group_store_serialize(t, &b, &bn) != PARLEY_OK || an != bn || memcmp(a, b, an) != 0)
        __builtin_trap();
    parley_group_buffer_free(a, an);
    parley_group_buffer_free(b, bn);
    parley_group_store_free(t);
    parley_group_store_free(s);
    return 0;
}
