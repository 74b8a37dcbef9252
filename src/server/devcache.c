/*
 * The device-list cache (docs/operations.md, "Device-list cache").
 *
 * Every message and receipt needs the live device ids of its recipient and
 * of its sender (protocol.md, "Messages": the exact device-list check).
 * Read from SQLite each time, the read transaction and its file locks were
 * the largest single cost of a message; device lists change rarely, so
 * each process keeps them in memory, keyed by user, at most
 * `device_cache` users, the least recently used going first.
 *
 * Correctness rests on the device generations of srvdb.h, counters shared
 * through a mapped file by every process that changes devices (each
 * parleyd process, parleyctl): an entry records the generation of its
 * user's slot taken before the store was read, and is used only while the
 * slot still holds it. A writer moves the slot after its change has
 * committed, so a lookup that starts after a change has returned (in this
 * process or any other) re-reads the store. A change made by some other
 * writer of the database (the sqlite3 shell) moves no generation; entries
 * are re-read after SRV_DEVCACHE_TTL_S at the latest to bound that.
 * Without generations (the file could not be mapped) nothing is cached.
 *
 * Only positive answers are kept: an address without an account is read
 * each time, since an account can appear (enlistment, parleyctl) without
 * any device changing. Accounts are never deleted, so an account with no
 * live device is kept as an empty list.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crypto/crypto.h"
#include "server/server.h"
#include "util/safety.h"

typedef struct dc_entry {
    struct dc_entry *hnext;       /* bucket chain */
    struct dc_entry *prev, *next; /* recency: head is the most recent */
    uint64_t gen;
    int64_t loaded_s; /* coarse monotonic seconds */
    size_t hash;
    uint32_t n;
    uint32_t ids[PSTORE_DEVICES_MAX];
    char user[];
} dc_entry;

struct srv_devcache {
    pthread_mutex_t mu; /* the workers of a process share the cache */
    size_t max, count, user_bytes;
    dc_entry **b;
    size_t nb;    /* power of two */
    dc_entry lru; /* sentinel */
    uint64_t hits, misses;
};

static int64_t coarse_s(void)
{
    /* The coarse clock is read without a system call even on a
     * paravirtualized clock source; a second's precision is plenty. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec;
}

static size_t dc_hash(const char *s)
{
    /* Keyed: third-party users pick their own names. */
    return (size_t)pc_table_hash(s);
}

int srv_devcache_init(srv *s)
{
    size_t max = s->cfg.device_cache;
    s->devcache = NULL;
    if (max == 0)
        return PARLEY_OK;
    if (!srvdb_devgen_ready(s->db)) {
        srv_log("device_cache: no shared device generations (%s-devgen), device lists are "
                "read from the store for every message",
                s->cfg.db);
        return PARLEY_OK;
    }
    srv_devcache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return PARLEY_ERR_NOMEM;
    c->nb = 16;
    while (c->nb < max && c->nb < ((size_t)1 << 24))
        c->nb <<= 1;
    c->b = calloc(c->nb, sizeof *c->b);
    if (c->b == NULL) {
        free(c);
        return PARLEY_ERR_NOMEM;
    }
    c->max = max;
    c->lru.prev = c->lru.next = &c->lru;
    pthread_mutex_init(&c->mu, NULL);
    s->devcache = c;
    return PARLEY_OK;
}

void srv_devcache_free(srv *s)
{
    srv_devcache *c = s->devcache;
    if (c == NULL)
        return;
    for (dc_entry *e = c->lru.next; e != &c->lru;) {
        dc_entry *nx = e->next;
        free(e);
        e = nx;
    }
    free(c->b);
    pthread_mutex_destroy(&c->mu);
    free(c);
    s->devcache = NULL;
}

/* Under mu. */
static dc_entry **dc_find(srv_devcache *c, const char *user, size_t h)
{
    dc_entry **p = &c->b[h & (c->nb - 1)];
    while (*p != NULL && ((*p)->hash != h || strcmp((*p)->user, user) != 0))
        p = &(*p)->hnext;
    return p;
}

static void lru_unlink(dc_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_front(srv_devcache *c, dc_entry *e)
{
    e->prev = &c->lru;
    e->next = c->lru.next;
    c->lru.next->prev = e;
    c->lru.next = e;
}

/* Under mu: unchain *p and free it. */
static void dc_drop(srv_devcache *c, dc_entry **p)
{
    dc_entry *e = *p;
    *p = e->hnext;
    lru_unlink(e);
    c->count--;
    c->user_bytes -= strlen(e->user) + 1;
    free(e);
}

/* Under mu: keep what was read at generation gen, evicting the least
 * recently used entry when full. Allocation failure only loses the entry. */
static void dc_put(srv_devcache *c, const char *user, size_t h, uint64_t gen, int64_t now,
                   const uint32_t *ids, size_t n)
{
    dc_entry **p = dc_find(c, user, h);
    if (*p != NULL)
        dc_drop(c, p);
    if (c->count >= c->max) {
        dc_entry *old = c->lru.prev;
        dc_drop(c, dc_find(c, old->user, old->hash));
        p = dc_find(c, user, h); /* the chain may have changed */
    }
    size_t ul = strlen(user) + 1;
    dc_entry *e = malloc(sizeof *e + ul);
    if (e == NULL)
        return;
    memcpy(e->user, user, ul);
    e->hash = h;
    e->gen = gen;
    e->loaded_s = now;
    e->n = (uint32_t)n;
    memcpy(e->ids, ids, n * sizeof *ids);
    e->hnext = NULL;
    *p = e;
    lru_front(c, e);
    c->count++;
    c->user_bytes += ul;
}

/* The store's answer: the live ids, and whether the account exists. */
static int dc_read(srv *s, const char *user, uint32_t ids[PSTORE_DEVICES_MAX], size_t *n,
                   int *exists)
{
    int rc;
    pstore_account a;
    size_t nd = 0;
    pstore_device *d = calloc(PSTORE_DEVICES_MAX, sizeof *d);
    *n = 0;
    *exists = 0;
    ENSURE(d != NULL, PARLEY_ERR_NOMEM);
    /* A live device implies its account (accounts are never deleted), so
     * the account is read only when there is none. */
    GUARD(pstore_device_list(s->store, user, d, PSTORE_DEVICES_MAX, &nd));
    for (size_t i = 0; i < nd; i++)
        ids[i] = d[i].device_id;
    *n = nd;
    if (nd > 0) {
        *exists = 1;
    } else {
        rc = pstore_account_get(s->store, user, &a);
        ENSURE(rc == PARLEY_OK || rc == PARLEY_ERR_NOT_FOUND, rc);
        *exists = rc == PARLEY_OK;
    }
    rc = PARLEY_OK;
out:
    free(d);
    return rc;
}

int srv_devices_of(srv *s, const char *user, uint32_t ids[PSTORE_DEVICES_MAX], size_t *n,
                   int *exists)
{
    int rc;
    srv_devcache *c = s->devcache;
    if (c == NULL)
        return dc_read(s, user, ids, n, exists);
    size_t h = dc_hash(user);
    int64_t now = coarse_s();
    /* Taken before the store is read: a change that commits after this
     * moves the generation, and the entry made below is not used again. */
    uint64_t gen = srvdb_devgen(s->db, user);
    pthread_mutex_lock(&c->mu);
    dc_entry **p = dc_find(c, user, h);
    dc_entry *e = *p;
    if (e != NULL && e->gen == gen && now - e->loaded_s < SRV_DEVCACHE_TTL_S) {
        memcpy(ids, e->ids, e->n * sizeof *ids);
        *n = e->n;
        *exists = 1;
        lru_unlink(e);
        lru_front(c, e);
        c->hits++;
        pthread_mutex_unlock(&c->mu);
        return PARLEY_OK;
    }
    if (e != NULL)
        dc_drop(c, p);
    c->misses++;
    pthread_mutex_unlock(&c->mu);
    rc = dc_read(s, user, ids, n, exists);
    if (rc == PARLEY_OK && *exists) {
        pthread_mutex_lock(&c->mu);
        dc_put(c, user, h, gen, now, ids, *n);
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}

void srv_devices_changed(srv *s, const char *user)
{
    srv_devcache *c = s->devcache;
    srvdb_devices_changed(s->db, user);
    if (c == NULL)
        return;
    /* The generation already makes the entry unusable; dropping it gives
     * its memory back now. */
    size_t h = dc_hash(user);
    pthread_mutex_lock(&c->mu);
    dc_entry **p = dc_find(c, user, h);
    if (*p != NULL)
        dc_drop(c, p);
    pthread_mutex_unlock(&c->mu);
}

void srv_devcache_stats(srv *s, srv_devcache_info *st)
{
    srv_devcache *c = s->devcache;
    memset(st, 0, sizeof *st);
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    st->entries = c->count;
    st->max = c->max;
    st->bytes = c->count * sizeof(dc_entry) + c->user_bytes + c->nb * sizeof *c->b;
    st->hits = c->hits;
    st->misses = c->misses;
    pthread_mutex_unlock(&c->mu);
}
