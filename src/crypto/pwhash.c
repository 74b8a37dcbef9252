/*
 * Password hashing through libsodium's crypto_pwhash (Argon2id), for
 * services that keep their own accounts (parley-provider). The stored
 * form is libsodium's self-describing string ("$argon2id$v=19$m=...").
 */
#include "crypto/crypto_internal.h"

#include <sodium.h>
#include <string.h>

_Static_assert(PC_PWHASH_STR_LEN == crypto_pwhash_STRBYTES, "libsodium's string form");

int pc_pwhash_str(char out[PC_PWHASH_STR_LEN], const char *password, size_t n, int interactive)
{
    GUARD_INIT();
    unsigned long long ops =
        interactive ? crypto_pwhash_OPSLIMIT_INTERACTIVE : crypto_pwhash_OPSLIMIT_MODERATE;
    size_t mem = interactive ? crypto_pwhash_MEMLIMIT_INTERACTIVE : crypto_pwhash_MEMLIMIT_MODERATE;
    if (crypto_pwhash_str_alg(out, password, n, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return PARLEY_ERR_NOMEM; /* libsodium fails only when it cannot get the memory */
    return PARLEY_OK;
}

int pc_pwhash_verify(const char *stored, const char *password, size_t n)
{
    GUARD_INIT();
    if (strnlen(stored, PC_PWHASH_STR_LEN) >= PC_PWHASH_STR_LEN)
        return PARLEY_ERR_DECODE;
    if (crypto_pwhash_str_verify(stored, password, n) != 0)
        return PARLEY_ERR_INVALID_SIGNATURE;
    return PARLEY_OK;
}
