/*
 * libFuzzer harness for the signed device list parser (docs/protocol.md,
 * "Device list"). The first input byte picks the expected user's length;
 * an accepted list must be in strictly increasing id order, name device 1
 * and re-encode to exactly the input.
 */
#include <stdlib.h>
#include <string.h>

#include "parley/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *users[] = {"bob@gk.example", "a@b", "alice@gk.example"};
    parley_device_list l;
    uint8_t *re = NULL;
    size_t re_len = 0;
    if (size < 1)
        return 0;
    const char *user = users[data[0] % 3];
    if (parley_device_list_verify(&l, user, data + 1, size - 1, NULL) != PARLEY_OK)
        return 0;
    if (l.count == 0 || l.ids[0] != 1)
        abort();
    for (size_t i = 1; i < l.count; i++)
        if (l.ids[i] <= l.ids[i - 1])
            abort();
    if (parley_device_list_encode(&l, user, &re, &re_len) != PARLEY_OK)
        abort();
    if (re_len != size - 1 || memcmp(re, data + 1, re_len) != 0)
        abort();
    free(re);
    return 0;
}
