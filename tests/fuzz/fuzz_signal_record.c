/* libFuzzer harness: session record loading (record.c). A record that
 * loads must serialize back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "signal/session_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sig_record rec;
    uint8_t *out = NULL;
    size_t n = 0;
    if (sig_record_load(&rec, data, size) != PARLEY_OK)
        return 0;
    if (sig_record_serialize(&rec, &out, &n) != PARLEY_OK || n != size || memcmp(out, data, n) != 0)
        __builtin_trap();
    parley_signal_store_blob_free(out, n);
    sig_record_clear(&rec);
    return 0;
}
