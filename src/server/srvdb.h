/*
 * What the server needs from the database beyond src/store/store.h, kept
 * on a connection of its own to the same SQLite file:
 *
 *  - the Signal identity key and registration id of each device. The store
 *    binds them in pstore_device_add, but a device registers (Noise static
 *    key) before it uploads its Signal keys (docs/protocol.md, "Keys and
 *    directory") and the store has no call to set them later; they live in
 *    the table parleyd_identity until it has.
 *  - read-only listings for parleyctl (accounts, counts) that the store
 *    interface does not offer.
 *  - the device generations: counters shared by every process on the
 *    database, one of which moves whenever a device of a user is added or
 *    removed or its identity changes, so that parleyd's device-list cache
 *    (devcache.c) notices a change made by another process at once.
 *
 * Every call is synchronous and serialized by a mutex: these are rare
 * (logins of new devices, key uploads, admin) next to the queue traffic,
 * which goes through the store's group commit.
 */
#ifndef PARLEY_SERVER_SRVDB_H
#define PARLEY_SERVER_SRVDB_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"
#include "store/store.h"

typedef struct srvdb srvdb;

PARLEY_MUST_CHECK int srvdb_open(srvdb **out, const char *path);
void srvdb_close(srvdb *d);

/* PARLEY_ERR_NOT_FOUND when the device has not uploaded an identity yet. */
PARLEY_MUST_CHECK int srvdb_identity_get(srvdb *d, const char *user, uint32_t device,
                                         uint8_t key[PSTORE_PUBKEY_MAX], size_t *key_len,
                                         uint32_t *registration);
/* Set once; a different key later gives PARLEY_ERR_STORE_EXISTS. The
 * registration id may be updated. */
PARLEY_MUST_CHECK int srvdb_identity_set(srvdb *d, const char *user, uint32_t device,
                                         const uint8_t *key, size_t key_len,
                                         uint32_t registration);
PARLEY_MUST_CHECK int srvdb_identity_delete(srvdb *d, const char *user, uint32_t device);

/* Removes a live device (pstore_device_remove: the primary takes the
 * account's other devices along), then the identities of every device it
 * removed, and moves the user's generation. gone (PSTORE_DEVICES_MAX
 * entries) receives the removed ids, *ngone their count. A store failure
 * leaves everything as it was; an identity that cannot be deleted is
 * PARLEY_ERR_STORE after the devices are gone (the next key upload of that
 * id would be refused, and no id but the primary's is ever reused). */
PARLEY_MUST_CHECK int srvdb_remove_device(srvdb *d, pstore *s, const char *user, uint32_t device,
                                          uint32_t gone[PSTORE_DEVICES_MAX], size_t *ngone);

/* Device generations. A writer calls srvdb_devices_changed after its
 * change has committed (identity_set and identity_delete do it
 * themselves); a reader takes srvdb_devgen before it reads the devices and
 * keeps what it read only while the generation stays the same. Users share
 * slots, so an unrelated change may move a generation too (a needless
 * re-read, never a missed one). */
enum {
    SRVDB_DEVGEN_SLOTS = 4096,
    /* A cached list is read again after this at the latest, which bounds
     * how long a change that moved no generation can go unseen. */
    SRVDB_DEVGEN_TTL_S = 60,
};
/* 0 when the generations file could not be mapped (nothing is shared). */
int srvdb_devgen_ready(const srvdb *d);
uint64_t srvdb_devgen(const srvdb *d, const char *user);
void srvdb_devices_changed(srvdb *d, const char *user);

typedef int (*srvdb_account_fn)(void *ctx, const char *address, int status, int64_t created,
                                int devices);
PARLEY_MUST_CHECK int srvdb_accounts(srvdb *d, srvdb_account_fn fn, void *ctx);

typedef struct {
    int64_t accounts, devices, queued, queued_bytes, prekeys;
} srvdb_stats;
PARLEY_MUST_CHECK int srvdb_stats_get(srvdb *d, srvdb_stats *st);

/* A counter that grows with every change to the provider registry (the
 * newest audit entry, store/interop.h): parleyd polls it to notice what
 * parleyctl changed. */
PARLEY_MUST_CHECK int srvdb_provider_seq(srvdb *d, int64_t *seq);
/* Suspended accounts (at most max). */
typedef int (*srvdb_user_fn)(void *ctx, const char *address);
PARLEY_MUST_CHECK int srvdb_suspended(srvdb *d, size_t max, srvdb_user_fn fn, void *ctx);

#endif
