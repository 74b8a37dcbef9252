/* The server's own tables and read-only listings (srvdb.h). */
#include "server/srvdb.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include "util/safety.h"

struct srvdb {
    sqlite3 *db;
    pthread_mutex_t mu;
};

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
