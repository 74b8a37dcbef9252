/*
 * Opening the SQLite store: the file, the pragmas every connection runs,
 * the connection pool and the statement cache.
 *
 * Durability (docs/storage.md): WAL journal, synchronous=FULL. In WAL mode
 * FULL makes every COMMIT fsync the WAL before it returns, which is what
 * lets the server ack a sender once batch_run has returned; NORMAL only
 * syncs at checkpoints, so a power cut could take back commits the server
 * had already acked. NORMAL is offered for benchmarks alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/sqlite/sq_internal.h"
#include "store/store_internal.h"
#include "util/safety.h"

static const char *const stmt_sql[SQ_STMT_COUNT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_ACCOUNT_INSERT] = "INSERT INTO accounts(address, created, status) VALUES(?1, ?2, ?3)",
    [SQ_ACCOUNT_GET] = "SELECT created, status FROM accounts WHERE address = ?1",
    [SQ_ACCOUNT_STATUS] = "UPDATE accounts SET status = ?2 WHERE address = ?1",
    [SQ_CODE_PRUNE] = "DELETE FROM codes WHERE expires <= ?1",
    [SQ_CODE_INSERT] = "INSERT INTO codes(hash, kind, address, expires)"
                       " SELECT ?1, ?2, ?3, ?4 WHERE EXISTS"
                       " (SELECT 1 FROM accounts WHERE address = ?3)",
    /* Single use: the code is deleted by the statement that reads it. */
    [SQ_CODE_TAKE] = "DELETE FROM codes WHERE hash = ?1 AND kind = ?2 RETURNING address, expires",
    [SQ_DEVICE_COUNTS] = "SELECT (SELECT count(*) FROM accounts WHERE address = ?1),"
                         " coalesce(sum(removed = 0), 0), coalesce(max(device_id), 0)"
                         " FROM devices WHERE user = ?1",
    [SQ_DEVICE_INSERT] = "INSERT INTO devices(user, device_id, noise_key, identity_key,"
                         " registration_id, created, last_seen, removed)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
    [SQ_DEVICE_GET] = "SELECT user, device_id, noise_key, identity_key, registration_id, created,"
                      " last_seen, removed FROM devices WHERE user = ?1 AND device_id = ?2",
    [SQ_DEVICE_BY_KEY] = "SELECT user, device_id, noise_key, identity_key, registration_id,"
                         " created, last_seen, removed FROM devices WHERE noise_key = ?1",
    [SQ_DEVICE_LIST] = "SELECT user, device_id, noise_key, identity_key, registration_id,"
                       " created, last_seen, removed FROM devices"
                       " WHERE user = ?1 AND removed = 0 ORDER BY device_id",
    [SQ_DEVICE_TOUCH] = "UPDATE devices SET last_seen = max(last_seen, ?3)"
                        " WHERE user = ?1 AND device_id = ?2 AND removed = 0",
    [SQ_DEVICE_REMOVE] = "UPDATE devices SET removed = 1"
                         " WHERE user = ?1 AND device_id = ?2 AND removed = 0",
    [SQ_DEVICE_PURGE] = "DELETE FROM devices WHERE user = ?1 AND device_id = ?2 AND removed = 1",
    [SQ_DEVICE_DROP_SPK] = "DELETE FROM signed_prekeys WHERE user = ?1 AND device_id = ?2",
    [SQ_DEVICE_DROP_OTPK] = "DELETE FROM one_time_prekeys WHERE user = ?1 AND device_id = ?2",
    [SQ_DEVICE_DROP_QUEUE] = "DELETE FROM queue WHERE user = ?1 AND device_id = ?2",
    [SQ_DEVICE_LIVE] = "SELECT 1 FROM devices WHERE user = ?1 AND device_id = ?2 AND removed = 0",
    [SQ_DEVLIST_PUT] = "INSERT INTO device_lists(user, version, list)"
                       " SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM accounts WHERE address = ?1)"
                       " ON CONFLICT(user) DO UPDATE SET version = excluded.version,"
                       " list = excluded.list WHERE excluded.version > device_lists.version",
    [SQ_DEVLIST_GET] = "SELECT version, list FROM device_lists WHERE user = ?1",
    [SQ_SPK_PUT] = "INSERT INTO signed_prekeys(user, device_id, key_id, pub, sig)"
                   " SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM devices"
                   " WHERE user = ?1 AND device_id = ?2 AND removed = 0)"
                   " ON CONFLICT(user, device_id) DO UPDATE SET key_id = excluded.key_id,"
                   " pub = excluded.pub, sig = excluded.sig",
    [SQ_SPK_GET] = "SELECT key_id, pub, sig FROM signed_prekeys WHERE user = ?1 AND device_id = ?2",
    [SQ_OTPK_PUT] = "INSERT OR REPLACE INTO one_time_prekeys(user, device_id, key_id, pub)"
                    " VALUES(?1, ?2, ?3, ?4)",
    [SQ_OTPK_COUNT] = "SELECT count(*) FROM one_time_prekeys WHERE user = ?1 AND device_id = ?2",
    /* Exactly once: one statement picks the lowest id and deletes it under
     * the write lock, returning what it deleted; a second taker cannot see
     * the row any more (DESIGN.md section 4). */
    [SQ_OTPK_TAKE] = "DELETE FROM one_time_prekeys WHERE user = ?1 AND device_id = ?2 AND"
                     " key_id = (SELECT min(key_id) FROM one_time_prekeys"
                     " WHERE user = ?1 AND device_id = ?2) RETURNING key_id, pub",
    /* Queued only for a live device, and only once per dedupe key. */
    [SQ_QUEUE_INSERT] = "INSERT INTO queue(user, device_id, sender, sender_device, client_id, ts,"
                        " stanza) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS"
                        " (SELECT 1 FROM devices WHERE user = ?1 AND device_id = ?2"
                        " AND removed = 0) ON CONFLICT DO NOTHING",
    [SQ_QUEUE_DEDUPE] = "SELECT id FROM queue WHERE user = ?1 AND device_id = ?2 AND sender = ?3"
                        " AND sender_device = ?4 AND client_id = ?5",
    [SQ_QUEUE_FETCH] = "SELECT id, sender, sender_device, client_id, ts, stanza FROM queue"
                       " WHERE user = ?1 AND device_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
    [SQ_QUEUE_DELETE] = "DELETE FROM queue WHERE id = ?3 AND user = ?1 AND device_id = ?2",
    [SQ_QUEUE_COUNT] = "SELECT count(*) FROM queue WHERE user = ?1 AND device_id = ?2",
};

int sq_err(int src)
{
    switch (src & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return PARLEY_OK;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return PARLEY_ERR_STORE_CORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return PARLEY_ERR_STORE_BUSY;
    case SQLITE_FULL:
        return PARLEY_ERR_STORE_FULL;
    case SQLITE_CONSTRAINT:
        return PARLEY_ERR_STORE_EXISTS;
    case SQLITE_NOMEM:
        return PARLEY_ERR_NOMEM;
    case SQLITE_TOOBIG:
        return PARLEY_ERR_STORE_TOO_LARGE;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
    case SQLITE_READONLY:
        return PARLEY_ERR_IO;
    default:
        return PARLEY_ERR_STORE_BACKEND;
    }
}

static int exec(sqlite3 *db, const char *sql)
{
    int src = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? PARLEY_OK : sq_err(src);
}

/* The size bound as SQLite's page count: a write that needs a page beyond
 * it fails with SQLITE_FULL, the same answer as a full disk. */
#define SQ_MAX_PAGE_COUNT 4294967294ULL
static int set_max_size(sqlite3 *db, uint64_t max_bytes)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int64_t page = 0;
    char sql[64];
    int src = sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL);
    ENSURE(src == SQLITE_OK, sq_err(src));
    ENSURE(sqlite3_step(st) == SQLITE_ROW, PARLEY_ERR_STORE_BACKEND);
    page = sqlite3_column_int64(st, 0);
    ENSURE(page > 0, PARLEY_ERR_STORE_CORRUPT);
    uint64_t pages = max_bytes / (uint64_t)page;
    if (pages > SQ_MAX_PAGE_COUNT)
        pages = SQ_MAX_PAGE_COUNT; /* SQLite's own ceiling */
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%llu",
             (unsigned long long)(pages > 0 ? pages : 1));
    GUARD(exec(db, sql));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* PRAGMA journal_mode answers with the mode now in force: a database that
 * cannot switch (read-only medium) says so instead of failing.
 * While another process switches a new database to WAL, the pragma can
 * answer SQLITE_BUSY at once, without consulting the busy handler; so it
 * is tried again here, for as long as the busy timeout allows. */
static int set_wal(sqlite3 *db, int timeout_ms)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int src = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    ENSURE(src == SQLITE_OK, sq_err(src));
    for (int waited = 0;; waited += SQ_WAL_RETRY_MS) {
        src = sqlite3_step(st);
        if ((src & 0xff) != SQLITE_BUSY || waited >= timeout_ms)
            break;
        sqlite3_reset(st);
        struct timespec ts = {0, SQ_WAL_RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    ENSURE(src == SQLITE_ROW, sq_err(src));
    const unsigned char *mode = sqlite3_column_text(st, 0);
    ENSURE(mode && strcmp((const char *)mode, "wal") == 0, PARLEY_ERR_IO);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Called by SQLite after every commit with the WAL's size in pages. Setting
 * a WAL hook also turns off SQLite's autocheckpoint, which would otherwise
 * run the checkpoint inside whichever commit crossed the threshold. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sq_store *s = arg;
    (void)db;
    (void)name;
    if (pages >= SQ_CHECKPOINT_PAGES) {
        pthread_mutex_lock(&s->mu);
        s->ckpt_wanted = 1;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->mu);
    }
    return SQLITE_OK;
}

/* PASSIVE: copy what no reader still needs, without blocking writers or
 * readers; the next writer then restarts the WAL from its beginning. */
static void *ckpt_main(void *arg)
{
    sq_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->ckpt_wanted && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_cv, &s->mu);
        if (s->ckpt_stop)
            break;
        s->ckpt_wanted = 0;
        pthread_mutex_unlock(&s->mu);
        (void)sqlite3_wal_checkpoint_v2(s->ckpt_conn->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                        NULL);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int ckpt_start(sq_store *s)
{
    int rc = sq_conn_open(s, &s->ckpt_conn);
    if (rc < 0)
        return rc;
    if (pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) != 0)
        return PARLEY_ERR_NOMEM;
    s->ckpt_running = 1;
    return PARLEY_OK;
}

static void ckpt_stop(sq_store *s)
{
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->mu);
        s->ckpt_stop = 1;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->ckpt_thread, NULL);
        s->ckpt_running = 0;
    }
    sq_conn_close(s->ckpt_conn);
    s->ckpt_conn = NULL;
}

int sq_conn_open(sq_store *s, sq_conn **out)
{
    int rc;
    sq_conn *c = calloc(1, sizeof *c);
    ENSURE(c, PARLEY_ERR_NOMEM);
    /* NOMUTEX: a connection is used by one thread at a time (the pool lends
     * it out whole), so SQLite's own per-call mutex is wasted work. */
    int src = sqlite3_open_v2(
        s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    ENSURE(src == SQLITE_OK, sq_err(src));
    ENSURE(sqlite3_busy_timeout(c->db, s->cfg.busy_timeout_ms) == SQLITE_OK,
           PARLEY_ERR_STORE_BACKEND);
    /* Bound what SQLite will accept in one value: a second line of defence
     * behind the checks in store.c. */
    sqlite3_limit(c->db, SQLITE_LIMIT_LENGTH, PSTORE_STANZA_MAX + 1024);
    GUARD(set_wal(c->db, s->cfg.busy_timeout_ms));
    GUARD(exec(c->db, s->cfg.sync == PSTORE_SYNC_NORMAL ? "PRAGMA synchronous=NORMAL"
                                                        : "PRAGMA synchronous=FULL"));
    /* Refuse to follow a corrupt b-tree into undefined territory: with
     * cell_size_check SQLite validates cells as it reads them. */
    GUARD(exec(c->db, "PRAGMA cell_size_check=ON"));
    GUARD(exec(c->db, "PRAGMA trusted_schema=OFF"));
    /* 16 MiB of page cache per connection: the queue's indexes stay hot. */
    GUARD(exec(c->db, "PRAGMA cache_size=-16384"));
    /* A WAL that grew under a burst is cut back to this once checkpointed. */
    GUARD(exec(c->db, "PRAGMA journal_size_limit=67108864"));
    if (s->cfg.max_size_bytes > 0)
        GUARD(set_max_size(c->db, s->cfg.max_size_bytes));
    sqlite3_wal_hook(c->db, wal_hook, s);
    *out = c;
    c = NULL;
    rc = PARLEY_OK;
out:
    sq_conn_close(c);
    return rc;
}

void sq_conn_close(sq_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < SQ_STMT_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    free(c);
}

int sq_acquire(sq_store *s, sq_conn **out)
{
    pthread_mutex_lock(&s->mu);
    while (!s->idle && s->open >= s->cfg.connections_max)
        pthread_cond_wait(&s->freed, &s->mu);
    sq_conn *c = s->idle;
    if (c) {
        s->idle = c->next;
        pthread_mutex_unlock(&s->mu);
        *out = c;
        return PARLEY_OK;
    }
    s->open++;
    pthread_mutex_unlock(&s->mu);
    int rc = sq_conn_open(s, out);
    if (rc < 0) {
        pthread_mutex_lock(&s->mu);
        s->open--;
        pthread_cond_signal(&s->freed);
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

void sq_release(sq_store *s, sq_conn *c)
{
    /* Never pool a connection left inside a transaction by an error path. */
    if (!sqlite3_get_autocommit(c->db))
        sq_rollback(c);
    pthread_mutex_lock(&s->mu);
    c->next = s->idle;
    s->idle = c;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->mu);
}

int sq_stmt(sq_conn *c, sq_stmt_id id, sqlite3_stmt **out)
{
    if (!c->stmt[id]) {
        int src = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                     &c->stmt[id], NULL);
        if (src != SQLITE_OK) {
            c->stmt[id] = NULL;
            return sq_err(src);
        }
    }
    *out = c->stmt[id];
    return PARLEY_OK;
}

int sq_run(sqlite3_stmt *st)
{
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return src == SQLITE_DONE ? PARLEY_OK : sq_err(src);
}

static int run_id(sq_conn *c, sq_stmt_id id)
{
    sqlite3_stmt *st;
    int rc = sq_stmt(c, id, &st);
    return rc < 0 ? rc : sq_run(st);
}

int sq_begin(sq_conn *c)
{
    return run_id(c, SQ_BEGIN);
}

int sq_commit(sq_conn *c)
{
    return run_id(c, SQ_COMMIT);
}

void sq_rollback(sq_conn *c)
{
    if (run_id(c, SQ_ROLLBACK) < 0)
        (void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Create the file ourselves so it is born 0600: SQLite would use 0644 less
 * the umask, and gives its -wal and -shm files the mode of the database.
 * A file that exists with wider permissions is narrowed. */
static int prepare_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return PARLEY_ERR_IO;
    struct stat st;
    int rc = PARLEY_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = PARLEY_ERR_IO;
    else if ((st.st_mode & 0777) != 0600 && fchmod(fd, 0600) != 0)
        rc = PARLEY_ERR_IO;
    close(fd);
    return rc;
}

void sq_close(pstore *base)
{
    sq_store *s = (sq_store *)base;
    ckpt_stop(s);
    while (s->idle) {
        sq_conn *c = s->idle;
        s->idle = c->next;
        sq_conn_close(c);
    }
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

int pstore_open_sqlite(pstore **out, const char *path, const pstore_sqlite_config *cfg)
{
    int rc;
    sq_store *s = NULL;
    sq_conn *c = NULL;
    PARLEY_MISUSE(out && path);
    *out = NULL;
    /* The pool hands connections between threads; SQLite must have been
     * built thread-safe for that (Debian's is). */
    ENSURE(sqlite3_threadsafe() != 0, PARLEY_ERR_STORE_BACKEND);
    s = calloc(1, sizeof *s);
    ENSURE(s, PARLEY_ERR_NOMEM);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->freed, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    s->base.ops = &sq_ops;
    s->path = strdup(path);
    ENSURE(s->path, PARLEY_ERR_NOMEM);
    if (cfg)
        s->cfg = *cfg;
    if (s->cfg.busy_timeout_ms <= 0)
        s->cfg.busy_timeout_ms = 5000;
    if (s->cfg.connections_max <= 0)
        s->cfg.connections_max = 8;
    if (s->cfg.commit_delay_us < 0 || s->cfg.commit_delay_us > PSTORE_COMMIT_DELAY_MAX_US) {
        rc = PARLEY_ERR_INVALID_ARG;
        goto out;
    }
    GUARD(prepare_file(path));
    GUARD(sq_acquire(s, &c));
    GUARD(sq_migrate(c));
    sq_release(s, c);
    c = NULL;
    GUARD(ckpt_start(s));
    GUARD(pstore_commitq_start(&s->base, s->cfg.commit_delay_us));
    *out = &s->base;
    s = NULL;
    rc = PARLEY_OK;
out:
    if (c) {
        sq_conn_close(c);
        s->open--;
    }
    if (s)
        sq_close(&s->base);
    return rc;
}
