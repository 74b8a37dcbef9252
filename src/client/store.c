/*
 * The client's local store: one SQLite file (WAL, synchronous=FULL, mode
 * 0600) plus a 32-byte local key in its own file that seals message bodies
 * at rest, so the database never holds a plaintext body (docs/client.md,
 * "Store"). The Signal layer's records live in table kv through the
 * parley_signal_store function table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "crypto/crypto.h"
#include "util/safety.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS kv(kind INTEGER NOT NULL, k TEXT NOT NULL, v BLOB NOT NULL,"
    " PRIMARY KEY(kind, k));"
    "CREATE TABLE IF NOT EXISTS config(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS device_lists(user TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    " list BLOB NOT NULL, sig BLOB NOT NULL, fetched INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS devices(user TEXT NOT NULL, device INTEGER NOT NULL,"
    " identity BLOB NOT NULL, fresh INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(user, device));"
    "CREATE TABLE IF NOT EXISTS contacts(user TEXT PRIMARY KEY, trusted BLOB NOT NULL,"
    " pending BLOB, verified INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS messages(seq INTEGER PRIMARY KEY, outgoing INTEGER NOT NULL,"
    " peer TEXT NOT NULL, device TEXT, id TEXT NOT NULL, t INTEGER NOT NULL, body BLOB,"
    " state TEXT NOT NULL, shown INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX IF NOT EXISTS messages_id ON messages(id);"
    "CREATE TABLE IF NOT EXISTS seen(sender TEXT NOT NULL, id TEXT NOT NULL,"
    " PRIMARY KEY(sender, id));"
    "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " kind TEXT NOT NULL, peer TEXT NOT NULL, stanza BLOB NOT NULL, content BLOB, sync BLOB);";

static int sq_rc(int e)
{
    switch (e) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return PARLEY_OK;
    case SQLITE_NOMEM:
        return PARLEY_ERR_NOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return PARLEY_ERR_STORE_BUSY;
    case SQLITE_FULL:
        return PARLEY_ERR_STORE_FULL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return PARLEY_ERR_STORE_CORRUPT;
    default:
        return PARLEY_ERR_STORE;
    }
}

/* The local key file: created once with O_EXCL, mode 0600. */
static int local_key_load(pcl_store *s, const char *dir)
{
    char path[4096];
    int rc = PARLEY_ERR_IO;
    int fd = -1;
    ENSURE(snprintf(path, sizeof path, "%s/local.key", dir) < (int)sizeof path,
           PARLEY_ERR_INVALID_ARG);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, s->local_key, sizeof s->local_key);
        ENSURE(got == (ssize_t)sizeof s->local_key, PARLEY_ERR_STORE_CORRUPT);
        rc = PARLEY_OK;
        goto out;
    }
    ENSURE(errno == ENOENT, PARLEY_ERR_IO);
    GUARD(pc_random(s->local_key, sizeof s->local_key));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ENSURE(fd >= 0, PARLEY_ERR_IO);
    ENSURE(write(fd, s->local_key, sizeof s->local_key) == (ssize_t)sizeof s->local_key,
           PARLEY_ERR_IO);
    ENSURE(fsync(fd) == 0, PARLEY_ERR_IO);
    rc = PARLEY_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int pcl_store_open(pcl_store *s, const char *dir)
{
    char path[4096];
    int rc;
    int dfd = -1;
    memset(s, 0, sizeof *s);
    ENSURE(mkdir(dir, 0700) == 0 || errno == EEXIST, PARLEY_ERR_IO);
    /* Opening is done under an exclusive lock on the directory, so that
     * two programs opening a new account at once (a daemon and a send)
     * neither race to create the local key nor find the database being
     * switched to WAL, which SQLite reports as busy without waiting. The
     * lock is held only while opening. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ENSURE(dfd >= 0, PARLEY_ERR_IO);
    while (flock(dfd, LOCK_EX) != 0)
        ENSURE(errno == EINTR, PARLEY_ERR_IO);
    GUARD(local_key_load(s, dir));
    ENSURE(snprintf(path, sizeof path, "%s/parley.db", dir) < (int)sizeof path,
           PARLEY_ERR_INVALID_ARG);
    {
        /* Create the file ourselves so it is 0600 from the first byte; the
         * -wal and -shm files take the main file's permissions. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ENSURE(fd >= 0, PARLEY_ERR_IO);
        (void)fchmod(fd, 0600);
        close(fd);
    }
    ENSURE(sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) ==
               SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_busy_timeout(s->db, 5000);
    GUARD(pcl_store_exec(s, schema));
    rc = PARLEY_OK;
out:
    if (dfd >= 0)
        close(dfd); /* releases the lock */
    if (rc != PARLEY_OK)
        pcl_store_close(s);
    return rc;
}

void pcl_store_close(pcl_store *s)
{
    if (s->db)
        sqlite3_close_v2(s->db);
    s->db = NULL;
    pc_wipe(s->local_key, sizeof s->local_key);
}

int pcl_store_exec(pcl_store *s, const char *sql)
{
    return sq_rc(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

int pcl_store_begin(pcl_store *s)
{
    return pcl_store_exec(s, "BEGIN IMMEDIATE");
}

int pcl_store_commit(pcl_store *s)
{
    return pcl_store_exec(s, "COMMIT");
}

void pcl_store_rollback(pcl_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- the Signal store over table kv ---- */

static int kv_get(void *ctx, parley_store_kind kind, const char *key, uint8_t **out,
                  size_t *out_len)
{
    pcl_store *s = ctx;
    sqlite3_stmt *st = NULL;
    int rc = PARLEY_ERR_STORE;
    *out = NULL;
    *out_len = 0;
    ENSURE(sqlite3_prepare_v2(s->db, "SELECT v FROM kv WHERE kind=? AND k=?", -1, &st, NULL) ==
               SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int e = sqlite3_step(st);
    ENSURE(e != SQLITE_DONE, PARLEY_ERR_NOT_FOUND);
    ENSURE(e == SQLITE_ROW, sq_rc(e));
    {
        int n = sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        *out = malloc(n > 0 ? (size_t)n : 1);
        ENSURE(*out != NULL, PARLEY_ERR_NOMEM);
        if (n > 0)
            memcpy(*out, p, (size_t)n);
        *out_len = (size_t)n;
    }
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

static int kv_put(void *ctx, parley_store_kind kind, const char *key, const uint8_t *data,
                  size_t len)
{
    pcl_store *s = ctx;
    sqlite3_stmt *st = NULL;
    int rc;
    ENSURE(sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv(kind,k,v) VALUES(?,?,?)", -1, &st,
                              NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, data, (int)len, SQLITE_STATIC);
    rc = sq_rc(sqlite3_step(st));
out:
    sqlite3_finalize(st);
    return rc;
}

static int kv_del(void *ctx, parley_store_kind kind, const char *key)
{
    pcl_store *s = ctx;
    sqlite3_stmt *st = NULL;
    int rc;
    ENSURE(sqlite3_prepare_v2(s->db, "DELETE FROM kv WHERE kind=? AND k=?", -1, &st, NULL) ==
               SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    rc = sq_rc(sqlite3_step(st));
out:
    sqlite3_finalize(st);
    return rc;
}

static void kv_destroy(void *ctx)
{
    (void)ctx; /* the pcl_store outlives the Signal store and closes itself */
}

static const parley_signal_store_ops kv_ops = {kv_get, kv_put, kv_del, kv_destroy};

int pcl_store_signal(pcl_store *s, parley_signal_store **out)
{
    return parley_signal_store_new(out, &kv_ops, s);
}

/* ---- config ---- */

int pcl_cfg_get(pcl_store *s, const char *k, uint8_t *out, size_t max, size_t *len)
{
    uint8_t *blob = NULL;
    size_t n = 0;
    int rc;
    sqlite3_stmt *st = NULL;
    ENSURE(sqlite3_prepare_v2(s->db, "SELECT v FROM config WHERE k=?", -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int e = sqlite3_step(st);
    ENSURE(e != SQLITE_DONE, PARLEY_ERR_NOT_FOUND);
    ENSURE(e == SQLITE_ROW, sq_rc(e));
    n = (size_t)sqlite3_column_bytes(st, 0);
    ENSURE(n <= max, PARLEY_ERR_BUFFER);
    if (n)
        memcpy(out, sqlite3_column_blob(st, 0), n);
    *len = n;
    rc = PARLEY_OK;
out:
    (void)blob;
    sqlite3_finalize(st);
    return rc;
}

int pcl_cfg_set(pcl_store *s, const char *k, const void *v, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc;
    ENSURE(sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO config(k,v) VALUES(?,?)", -1, &st,
                              NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, v, (int)len, SQLITE_STATIC);
    rc = sq_rc(sqlite3_step(st));
out:
    sqlite3_finalize(st);
    return rc;
}

int pcl_cfg_get_str(pcl_store *s, const char *k, char *out, size_t max)
{
    size_t n = 0;
    int rc;
    ENSURE(max > 0, PARLEY_ERR_BUFFER);
    GUARD(pcl_cfg_get(s, k, (uint8_t *)out, max - 1, &n));
    out[n] = '\0';
    rc = PARLEY_OK;
out:
    return rc;
}

int pcl_cfg_get_u32(pcl_store *s, const char *k, uint32_t *v)
{
    uint8_t b[4];
    size_t n = 0;
    int rc;
    GUARD(pcl_cfg_get(s, k, b, sizeof b, &n));
    ENSURE(n == 4, PARLEY_ERR_STORE_CORRUPT);
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    rc = PARLEY_OK;
out:
    return rc;
}

int pcl_cfg_set_u32(pcl_store *s, const char *k, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return pcl_cfg_set(s, k, b, sizeof b);
}

/* ---- sealing at rest ---- */

int pcl_seal(const pcl_store *s, const uint8_t *in, size_t n, uint8_t **out, size_t *out_len)
{
    uint8_t *p = NULL;
    int rc;
    p = malloc(PC_GCM_NONCE_LEN + n + PC_GCM_TAG_LEN);
    ENSURE(p != NULL, PARLEY_ERR_NOMEM);
    GUARD(pc_random(p, PC_GCM_NONCE_LEN));
    GUARD(pc_aes256_gcm_seal(p + PC_GCM_NONCE_LEN, s->local_key, p, NULL, 0, in, n));
    *out = p;
    *out_len = PC_GCM_NONCE_LEN + n + PC_GCM_TAG_LEN;
    p = NULL;
    rc = PARLEY_OK;
out:
    free(p);
    return rc;
}

int pcl_unseal(const pcl_store *s, const uint8_t *in, size_t n, uint8_t **out, size_t *out_len)
{
    uint8_t *p = NULL;
    int rc;
    ENSURE(n >= PC_GCM_NONCE_LEN + PC_GCM_TAG_LEN, PARLEY_ERR_STORE_CORRUPT);
    p = malloc(n - PC_GCM_NONCE_LEN - PC_GCM_TAG_LEN + 1);
    ENSURE(p != NULL, PARLEY_ERR_NOMEM);
    GUARD(pc_aes256_gcm_open(p, s->local_key, in, NULL, 0, in + PC_GCM_NONCE_LEN,
                             n - PC_GCM_NONCE_LEN));
    *out_len = n - PC_GCM_NONCE_LEN - PC_GCM_TAG_LEN;
    p[*out_len] = 0;
    *out = p;
    p = NULL;
    rc = PARLEY_OK;
out:
    free(p);
    return rc;
}
