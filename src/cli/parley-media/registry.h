/*
 * parley-mediad's view of the gatekeeper's provider registry (--db): the
 * proxy's allow-list per provider, read from the store on every request.
 */
#ifndef PARLEY_MEDIAD_REGISTRY_H
#define PARLEY_MEDIAD_REGISTRY_H

#include "store/store.h"

/* Open the gatekeeper's database at path (which must exist); 0 or -1 with
 * the reason on standard error. */
int pmd_registry_open(pstore **out, const char *path);
/* A pmh_allow_fn with the store as ctx: PMH_ALLOW_YES when host is one of
 * the active provider's media hosts (any port), else why not. */
int pmd_registry_allow(void *ctx, const char *provider, const char *host, unsigned port);

#endif
