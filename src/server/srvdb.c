/* The server's own tables and read-only listings (srvdb.h). */
#include "server/srvdb.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/safety.h"

struct srvdb {
    sqlite3 *db;
    pthread_mutex_t mu;
    uint64_t *gen; /* SRVDB_DEVGEN_SLOTS counters in "DB-devgen", shared; NULL: none */
};

#define SRVDB_DEVGEN_BYTES ((size_t)SRVDB_DEVGEN_SLOTS * sizeof(uint64_t))

/*
 * The device generations live in a file next to the database, mapped
 * shared by every process that opens it (each parleyd process, parleyctl),
 * the way SQLite's own -shm file is: a change is seen by the next lookup
 * in any process without a system call, let alone a read transaction. A
 * file of another size is left alone, and there are no generations then
 * (srvdb_devgen_ready says so; the server does not cache without them).
 */
static void devgen_map(srvdb *d, const char *path)
{
    char name[1100];
    struct stat st;
    if (strcmp(path, ":memory:") == 0 ||
        snprintf(name, sizeof name, "%s-devgen", path) >= (int)sizeof name)
        return;
    int fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    off_t size = fstat(fd, &st) == 0 ? st.st_size : -1;
    /* Two processes growing a new file both make it the same zeroed size. */
    if (size == 0 && ftruncate(fd, (off_t)SRVDB_DEVGEN_BYTES) == 0)
        size = (off_t)SRVDB_DEVGEN_BYTES;
    if (size == (off_t)SRVDB_DEVGEN_BYTES) {
        void *m = mmap(NULL, SRVDB_DEVGEN_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED)
            d->gen = m;
    }
    close(fd);
}

/* FNV-1a: the same slot for a user in every process. */
static size_t devgen_slot(const char *user)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)user; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (size_t)(h & (SRVDB_DEVGEN_SLOTS - 1));
}

int srvdb_devgen_ready(const srvdb *d)
{
    return d->gen != NULL;
}

uint64_t srvdb_devgen(const srvdb *d, const char *user)
{
    return d->gen == NULL ? 0 : __atomic_load_n(&d->gen[devgen_slot(user)], __ATOMIC_ACQUIRE);
}

void srvdb_devices_changed(srvdb *d, const char *user)
{
    if (d->gen != NULL)
        __atomic_add_fetch(&d->gen[devgen_slot(user)], 1, __ATOMIC_RELEASE);
}

static int sql_err(int src)
{
    if (src == SQLITE_BUSY || src == SQLITE_LOCKED)
        return PARLEY_ERR_STORE_BUSY;
    if (src == SQLITE_CONSTRAINT)
        return PARLEY_ERR_STORE_EXISTS;
    return PARLEY_ERR_STORE_BACKEND;
}

int srvdb_open(srvdb **out, const char *path)
{
    int rc;
    srvdb *d = calloc(1, sizeof *d);
    ENSURE(d != NULL, PARLEY_ERR_NOMEM);
    pthread_mutex_init(&d->mu, NULL);
    int src = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
    ENSURE(src == SQLITE_OK, sql_err(src));
    devgen_map(d, path);
    sqlite3_busy_timeout(d->db, 5000);
    src = sqlite3_exec(d->db,
                       "CREATE TABLE IF NOT EXISTS parleyd_identity("
                       "  user TEXT NOT NULL, device_id INTEGER NOT NULL,"
                       "  identity BLOB NOT NULL, registration INTEGER NOT NULL,"
                       "  PRIMARY KEY(user, device_id)) WITHOUT ROWID;",
                       NULL, NULL, NULL);
    ENSURE(src == SQLITE_OK, sql_err(src));
    /* srvdb_suspended is polled a few times a second: the index keeps it
     * to the suspended rows. Made here, once, and not in the poll, where
     * even a no-op schema statement would take the write lock. */
    (void)sqlite3_exec(d->db, /* fails only before the store made its tables */
                       "CREATE INDEX IF NOT EXISTS parleyd_accounts_by_status ON accounts(status)",
                       NULL, NULL, NULL);
    *out = d;
    d = NULL;
    rc = PARLEY_OK;
out:
    srvdb_close(d);
    return rc;
}

void srvdb_close(srvdb *d)
{
    if (d == NULL)
        return;
    if (d->gen != NULL)
        munmap(d->gen, SRVDB_DEVGEN_BYTES);
    sqlite3_close(d->db);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int srvdb_identity_get(srvdb *d, const char *user, uint32_t device,
                       uint8_t key[PSTORE_PUBKEY_MAX], size_t *key_len, uint32_t *registration)
{
    int rc;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int src = sqlite3_prepare_v2(d->db,
                                 "SELECT identity, registration FROM parleyd_identity"
                                 " WHERE user = ?1 AND device_id = ?2",
                                 -1, &st, NULL);
    ENSURE(src == SQLITE_OK, sql_err(src));
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, device);
    src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sql_err(src));
    ENSURE(src == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    int n = sqlite3_column_bytes(st, 0);
    ENSURE(n >= PSTORE_PUBKEY_MIN && n <= PSTORE_PUBKEY_MAX, PARLEY_ERR_STORE_CORRUPT);
    memcpy(key, sqlite3_column_blob(st, 0), (size_t)n);
    *key_len = (size_t)n;
    *registration = (uint32_t)sqlite3_column_int64(st, 1);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int srvdb_identity_set(srvdb *d, const char *user, uint32_t device, const uint8_t *key,
                       size_t key_len, uint32_t registration)
{
    int rc;
    uint8_t old[PSTORE_PUBKEY_MAX];
    size_t old_len = 0;
    uint32_t old_reg = 0;
    sqlite3_stmt *st = NULL;
    rc = srvdb_identity_get(d, user, device, old, &old_len, &old_reg);
    if (rc == PARLEY_OK && (old_len != key_len || memcmp(old, key, key_len) != 0))
        return PARLEY_ERR_STORE_EXISTS;
    if (rc < 0 && rc != PARLEY_ERR_NOT_FOUND)
        return rc;
    pthread_mutex_lock(&d->mu);
    int src = sqlite3_prepare_v2(d->db,
                                 "INSERT INTO parleyd_identity(user, device_id, identity,"
                                 " registration) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(user, device_id)"
                                 " DO UPDATE SET registration = excluded.registration",
                                 -1, &st, NULL);
    ENSURE(src == SQLITE_OK, sql_err(src));
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, device);
    sqlite3_bind_blob(st, 3, key, (int)key_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, registration);
    src = sqlite3_step(st);
    ENSURE(src == SQLITE_DONE, sql_err(src));
    srvdb_devices_changed(d, user);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int srvdb_identity_delete(srvdb *d, const char *user, uint32_t device)
{
    int rc;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int src = sqlite3_prepare_v2(
        d->db, "DELETE FROM parleyd_identity WHERE user = ?1 AND device_id = ?2", -1, &st, NULL);
    ENSURE(src == SQLITE_OK, sql_err(src));
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, device);
    src = sqlite3_step(st);
    ENSURE(src == SQLITE_DONE, sql_err(src));
    srvdb_devices_changed(d, user);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int srvdb_accounts(srvdb *d, srvdb_account_fn fn, void *ctx)
{
    int rc;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int src = sqlite3_prepare_v2(d->db,
                                 "SELECT a.address, a.status, a.created,"
                                 " (SELECT count(*) FROM devices d WHERE d.user = a.address"
                                 "  AND d.removed = 0) FROM accounts a ORDER BY a.address",
                                 -1, &st, NULL);
    ENSURE(src == SQLITE_OK, sql_err(src));
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0);
        GUARD(fn(ctx, a != NULL ? a : "", sqlite3_column_int(st, 1), sqlite3_column_int64(st, 2),
                 sqlite3_column_int(st, 3)));
    }
    ENSURE(src == SQLITE_DONE, sql_err(src));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int count(sqlite3 *db, const char *sql, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    ENSURE(src == SQLITE_OK, sql_err(src));
    src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW, sql_err(src));
    *v = sqlite3_column_int64(st, 0);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int srvdb_stats_get(srvdb *d, srvdb_stats *s)
{
    int rc;
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&d->mu);
    GUARD(count(d->db, "SELECT count(*) FROM accounts", &s->accounts));
    GUARD(count(d->db, "SELECT count(*) FROM devices WHERE removed = 0", &s->devices));
    GUARD(count(d->db, "SELECT count(*) FROM queue", &s->queued));
    GUARD(count(d->db, "SELECT coalesce(sum(length(stanza)), 0) FROM queue", &s->queued_bytes));
    GUARD(count(d->db, "SELECT count(*) FROM one_time_prekeys", &s->prekeys));
    rc = PARLEY_OK;
out:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int srvdb_provider_seq(srvdb *d, int64_t *seq)
{
    int rc;
    pthread_mutex_lock(&d->mu);
    rc = count(d->db, "SELECT coalesce(max(seq), 0) FROM provider_audit", seq);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int srvdb_suspended(srvdb *d, size_t max, srvdb_user_fn fn, void *ctx)
{
    int rc;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int src = sqlite3_prepare_v2(d->db, "SELECT address FROM accounts WHERE status = ?1 LIMIT ?2", -1,
                             &st, NULL);
    ENSURE(src == SQLITE_OK, sql_err(src));
    sqlite3_bind_int(st, 1, PSTORE_ACCOUNT_SUSPENDED);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0);
        if (a != NULL)
            GUARD(fn(ctx, a));
    }
    ENSURE(src == SQLITE_DONE, sql_err(src));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int srvdb_remove_device(srvdb *d, pstore *s, const char *user, uint32_t device,
                        uint32_t gone[PSTORE_DEVICES_MAX], size_t *ngone)
{
    int rc, failed = 0;
    pstore_device *list = NULL;
    size_t n = 1;
    *ngone = 0;
    gone[0] = device;
    if (device == PSTORE_PRIMARY_DEVICE) {
        list = calloc(PSTORE_DEVICES_MAX, sizeof *list);
        ENSURE(list != NULL, PARLEY_ERR_NOMEM);
        GUARD(pstore_device_list(s, user, list, PSTORE_DEVICES_MAX, &n));
        for (size_t i = 0; i < n; i++)
            gone[i] = list[i].device_id;
    }
    GUARD(pstore_device_remove(s, user, device));
    *ngone = n;
    srvdb_devices_changed(d, user);
    for (size_t i = 0; i < n; i++) {
        rc = srvdb_identity_delete(d, user, gone[i]);
        if (rc < 0 && rc != PARLEY_ERR_NOT_FOUND)
            failed = 1;
    }
    rc = failed ? PARLEY_ERR_STORE : PARLEY_OK;
out:
    free(list);
    return rc;
}
