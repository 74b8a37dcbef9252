/*
 * The schema and its migrations. Version N is reached by running
 * migrations[0..N-1] in order, each in the same transaction as the row it
 * adds to schema_version, so a crash mid-migration leaves the old version
 * intact. Later issues append migrations (providers, consent, blocks come
 * with issue 5); an applied migration is never edited.
 */
#include <stdint.h>

#include "store/sqlite/sq_interop.h"
#include "store/sqlite/sq_internal.h"
#include "store/store_internal.h"
#include "util/safety.h"

static const char *const migrations[] = {
    /* 1: accounts, codes, devices, device lists, prekeys, the queue. */
    "CREATE TABLE accounts("
    "  address TEXT PRIMARY KEY,"
    "  created INTEGER NOT NULL,"
    "  status INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    /* Only the SHA-256 of a code is kept (store.h, pstore_code_add). */
    "CREATE TABLE codes("
    "  hash BLOB PRIMARY KEY,"
    "  kind INTEGER NOT NULL,"
    "  address TEXT NOT NULL,"
    "  expires INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE devices("
    "  user TEXT NOT NULL,"
    "  device_id INTEGER NOT NULL,"
    "  noise_key BLOB NOT NULL,"
    "  identity_key BLOB NOT NULL,"
    "  registration_id INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  removed INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(user, device_id)"
    ");"
    /* The login path looks a device up by its Noise static key. */
    "CREATE UNIQUE INDEX devices_by_noise_key ON devices(noise_key);"
    "CREATE TABLE device_lists("
    "  user TEXT PRIMARY KEY,"
    "  version INTEGER NOT NULL,"
    "  list BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE signed_prekeys("
    "  user TEXT NOT NULL,"
    "  device_id INTEGER NOT NULL,"
    "  key_id INTEGER NOT NULL,"
    "  pub BLOB NOT NULL,"
    "  sig BLOB NOT NULL,"
    "  PRIMARY KEY(user, device_id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE one_time_prekeys("
    "  user TEXT NOT NULL,"
    "  device_id INTEGER NOT NULL,"
    "  key_id INTEGER NOT NULL,"
    "  pub BLOB NOT NULL,"
    "  PRIMARY KEY(user, device_id, key_id)"
    ") WITHOUT ROWID;"
    /* AUTOINCREMENT: a server id is never handed out twice, even after the
     * newest row was acked and deleted, so a late duplicate ack cannot
     * delete a newer message that inherited its id. */
    "CREATE TABLE queue("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  user TEXT NOT NULL,"
    "  device_id INTEGER NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  sender_device INTEGER NOT NULL,"
    "  client_id TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  stanza BLOB NOT NULL"
    ");"
    "CREATE INDEX queue_by_device ON queue(user, device_id, id);"
    "CREATE UNIQUE INDEX queue_dedupe ON queue(user, device_id, sender, sender_device, client_id);",
    /* 2: providers, consent, requests, blocks, reports (sqlite/interop.c). */
    sq_interop_migration,
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == PSTORE_SCHEMA_VERSION,
               "one migration per schema version");

static int exec(sq_conn *c, const char *sql)
{
    int src = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? PARLEY_OK : sq_err(src);
}

static int current_version(sq_conn *c, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int src = sqlite3_prepare_v2(c->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1,
                                 &st, NULL);
    ENSURE(src == SQLITE_OK, sq_err(src));
    src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW, sq_err(src));
    *v = sqlite3_column_int64(st, 0);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int sq_migrate(sq_conn *c)
{
    int rc;
    int64_t v = 0;
    GUARD(exec(c, "BEGIN IMMEDIATE"));
    GUARD(exec(c, "CREATE TABLE IF NOT EXISTS schema_version("
                  "  version INTEGER PRIMARY KEY,"
                  "  applied INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)))"));
    GUARD(current_version(c, &v));
    ENSURE(v >= 0, PARLEY_ERR_STORE_CORRUPT);
    ENSURE(v <= PSTORE_SCHEMA_VERSION, PARLEY_ERR_STORE_SCHEMA);
    for (int64_t i = v; i < PSTORE_SCHEMA_VERSION; i++) {
        char sql[96];
        GUARD(exec(c, migrations[i]));
        snprintf(sql, sizeof sql, "INSERT INTO schema_version(version) VALUES(%lld)",
                 (long long)(i + 1));
        GUARD(exec(c, sql));
    }
    GUARD(exec(c, "COMMIT"));
    rc = PARLEY_OK;
out:
    if (rc < 0 && !sqlite3_get_autocommit(c->db))
        (void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
