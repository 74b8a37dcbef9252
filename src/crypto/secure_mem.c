/* Guarded memory for long-lived secrets, through libsodium. */
#include "crypto/crypto_internal.h"

#include <sodium.h>

void *pc_secure_alloc(size_t n)
{
    if (pc_init() < 0)
        return NULL;
    /* sodium_malloc: guard pages around, canary before, locked in RAM
     * where the system allows, filled with garbage (callers initialize). */
    return sodium_malloc(n);
}

void pc_secure_free(void *p)
{
    /* sodium_free wipes before releasing; NULL is accepted. */
    sodium_free(p);
}
