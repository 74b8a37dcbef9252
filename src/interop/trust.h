/*
 * From a provider's registry record (store/interop.h) to what the
 * attestation and proxy-login verifiers take: its id, domains and ACTIVE
 * keys only (a retired key then fails with PARLEY_ERR_ATTEST_UNKNOWN_KEY).
 * Header-only, so that the library does not depend on the store; parleyd
 * includes it where it has both.
 */
#ifndef PARLEY_INTEROP_TRUST_H
#define PARLEY_INTEROP_TRUST_H

#include <string.h>

#include "parley/attestation.h"
#include "store/interop.h"

typedef struct {
    parley_attest_trust trust;
    parley_attest_key keys[PSTORE_PROVIDER_KEYS_MAX];
    const char *domains[PSTORE_PROVIDER_DOMAINS_MAX];
} pinterop_trust;

/* t points into p: keep p alive while t is used. max_lifetime and skew in
 * seconds (docs/interop-design.md: 30 days and 300 s by default). */
static inline void pinterop_trust_from(pinterop_trust *t, const pstore_provider *p,
                                       uint64_t max_lifetime, uint64_t skew)
{
    size_t nk = 0;
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < p->key_count && i < PSTORE_PROVIDER_KEYS_MAX; i++) {
        if (p->keys[i].retired)
            continue;
        t->keys[nk].key_id = p->keys[i].key_id;
        memcpy(t->keys[nk].pub, p->keys[i].pub, sizeof t->keys[nk].pub);
        nk++;
    }
    for (size_t i = 0; i < p->domain_count && i < PSTORE_PROVIDER_DOMAINS_MAX; i++)
        t->domains[i] = p->domains[i];
    t->trust.provider = p->id;
    t->trust.domains = t->domains;
    t->trust.domain_count = p->domain_count;
    t->trust.keys = t->keys;
    t->trust.key_count = nk;
    t->trust.max_lifetime = max_lifetime;
    t->trust.skew = skew;
}

#endif
