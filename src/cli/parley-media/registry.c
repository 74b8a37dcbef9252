/*
 * parley-mediad --db: the proxy's allow-list from the gatekeeper's provider
 * registry (DESIGN.md section 5; docs/media.md "Allow-list per provider").
 *
 * The proxy fetches only from hosts on the sending provider's allow-list.
 * The request names the provider by the sender's domain (or by its id);
 * the record comes from the gatekeeper's store on every request, so an
 * operator's `parleyctl provider suspend` or a new `--media` host applies
 * to the next fetch without a restart. One indexed SQLite read per fetch
 * is small next to the fetch itself.
 */
#include "cli/parley-media/registry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mediahost/mediahost.h"
#include "store/interop.h"

int pmd_registry_open(pstore **out, const char *path)
{
    /* pstore_open_sqlite would create a missing file: a typo must not
     * give an empty registry that refuses everything in silence. */
    if (access(path, R_OK | W_OK) != 0) {
        fprintf(stderr, "parley-mediad: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = pstore_open_sqlite(out, path, NULL);
    if (rc != PARLEY_OK) {
        fprintf(stderr, "parley-mediad: %s: %s\n", path, parley_strerror(rc));
        return -1;
    }
    return 0;
}

/* The record of the provider named by domain, else by id. */
static int lookup(pstore *db, const char *name, pstore_provider *p)
{
    int rc = pstore_provider_by_domain(db, name, p);
    if (rc == PARLEY_ERR_NOT_FOUND || rc == PARLEY_ERR_INVALID_ARG)
        rc = pstore_provider_get(db, name, p);
    return rc;
}

int pmd_registry_allow(void *ctx, const char *provider, const char *host, unsigned port)
{
    pstore *db = ctx;
    pstore_provider p;
    int ans;
    (void)port; /* the registry holds host names: every port of an allowed host */
    if (provider == NULL || provider[0] == '\0' || strlen(provider) > PSTORE_DOMAIN_MAX)
        return PMH_ALLOW_UNKNOWN_PROVIDER;
    /* domains and ids are stored in lower case */
    char name[PSTORE_DOMAIN_MAX + 1];
    size_t n = strlen(provider);
    for (size_t i = 0; i <= n; i++)
        name[i] = (char)(provider[i] >= 'A' && provider[i] <= 'Z' ? provider[i] - 'A' + 'a'
                                                                  : provider[i]);
    int rc = lookup(db, name, &p);
    if (rc == PARLEY_ERR_NOT_FOUND || rc == PARLEY_ERR_INVALID_ARG ||
        rc == PARLEY_ERR_STORE_TOO_LARGE)
        return PMH_ALLOW_UNKNOWN_PROVIDER;
    if (rc != PARLEY_OK)
        return PMH_ALLOW_UNAVAILABLE;
    if (p.status != PSTORE_PROVIDER_ACTIVE) {
        ans = PMH_ALLOW_PROVIDER_INACTIVE;
        goto out;
    }
    ans = PMH_ALLOW_NO;
    for (size_t i = 0; i < p.media_host_count; i++)
        if (strcasecmp(p.media_hosts[i], host) == 0)
            ans = PMH_ALLOW_YES;
out:
    return ans;
}
