/* libFuzzer harness: PreKeySignalMessage decoding, then its embedded
 * SignalMessage (wire.c). */
#include <stddef.h>
#include <stdint.h>
#include "signal/session_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sig_prekey_msg pk;
    sig_signal_msg m;
    if (sig_prekey_msg_decode(&pk, data, size) == PARLEY_OK) {
        if (pk.version != 3)
            __builtin_trap();
        if (sig_signal_msg_decode(&m, pk.message, pk.message_len) == PARLEY_OK)
            sig_signal_msg_free(&m);
        sig_prekey_msg_free(&pk);
    }
    return 0;
}
