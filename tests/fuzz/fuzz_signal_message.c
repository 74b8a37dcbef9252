/* libFuzzer harness: SignalMessage decoding and MAC check (wire.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "crypto/crypto.h"
#include "signal/session_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sig_signal_msg m;
    uint8_t key[32], a[32], b[32];
    if (pc_init() != PARLEY_OK)
        __builtin_trap();
    memset(key, 1, sizeof key);
    memset(a, 2, sizeof a);
    memset(b, 3, sizeof b);
    if (sig_signal_msg_decode(&m, data, size) == PARLEY_OK) {
        /* A decoded message is whole: its parts lie inside what was read. */
        if (m.serialized != data || m.serialized_len != size || m.version != 3)
            __builtin_trap();
        int rc = sig_signal_msg_verify_mac(&m, key, a, b);
        if (rc != PARLEY_OK && rc != PARLEY_ERR_INVALID_MAC)
            __builtin_trap();
        sig_signal_msg_free(&m);
    }
    return 0;
}
