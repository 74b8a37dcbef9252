/*
 * The SQLite backend's private parts: the connection pool, the cache of
 * prepared statements, and the mapping of SQLite's result codes onto
 * parley's.
 */
#ifndef PARLEY_STORE_SQ_INTERNAL_H
#define PARLEY_STORE_SQ_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

/* Every statement the backend runs, prepared once per connection on first
 * use and kept (SQLITE_PREPARE_PERSISTENT). */
typedef enum {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_ACCOUNT_INSERT,
    SQ_ACCOUNT_GET,
    SQ_ACCOUNT_STATUS,
    SQ_CODE_PRUNE,
    SQ_CODE_INSERT,
    SQ_CODE_TAKE,
    SQ_DEVICE_COUNTS,
    SQ_DEVICE_INSERT,
    SQ_DEVICE_GET,
    SQ_DEVICE_BY_KEY,
    SQ_DEVICE_LIST,
    SQ_DEVICE_TOUCH,
    SQ_DEVICE_REMOVE,
    SQ_DEVICE_PURGE,
    SQ_DEVICE_DROP_SPK,
    SQ_DEVICE_DROP_OTPK,
    SQ_DEVICE_DROP_QUEUE,
    SQ_DEVICE_LIVE,
    SQ_DEVLIST_PUT,
    SQ_DEVLIST_GET,
    SQ_SPK_PUT,
    SQ_SPK_GET,
    SQ_OTPK_PUT,
    SQ_OTPK_COUNT,
    SQ_OTPK_TAKE,
    SQ_QUEUE_INSERT,
    SQ_QUEUE_DEDUPE,
    SQ_QUEUE_FETCH,
    SQ_QUEUE_DELETE,
    SQ_QUEUE_COUNT,
    SQ_STMT_COUNT
} sq_stmt_id;

typedef struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_STMT_COUNT];
    struct sq_conn *next;
} sq_conn;

typedef struct {
    pstore base; /* first: a pstore * is an sq_store * */
    char *path;
    pstore_sqlite_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    sq_conn *idle;
    int open; /* connections in existence, idle or lent */
    /* The checkpointer: a thread of its own copies the WAL back into the
     * database, so the writer thread never stalls behind a checkpoint. */
    sq_conn *ckpt_conn;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cv;
    int ckpt_running, ckpt_wanted, ckpt_stop;
} sq_store;

/* WAL size, in pages, past which a commit wakes the checkpointer (SQLite's
 * own autocheckpoint default). */
#define SQ_CHECKPOINT_PAGES 1000

/* Pause between attempts to switch a database to WAL while another
 * connection holds it. */
#define SQ_WAL_RETRY_MS 5

/* Map a SQLite result code (extended or primary) to a parley result. */
int sq_err(int src);

/* Open one connection with the store's pragmas. */
PARLEY_MUST_CHECK int sq_conn_open(sq_store *s, sq_conn **out);
void sq_conn_close(sq_conn *c);

/* Borrow a connection from the pool (opening one if none is idle and the
 * pool is under its maximum, waiting otherwise) and give it back. */
PARLEY_MUST_CHECK int sq_acquire(sq_store *s, sq_conn **out);
void sq_release(sq_store *s, sq_conn *c);

/* The cached statement, reset and with its bindings cleared. */
PARLEY_MUST_CHECK int sq_stmt(sq_conn *c, sq_stmt_id id, sqlite3_stmt **out);
/* Step a statement that returns no rows (or whose rows are ignored) to the
 * end and reset it. */
PARLEY_MUST_CHECK int sq_run(sqlite3_stmt *st);

/* BEGIN IMMEDIATE, so that a writer takes the write lock before reading and
 * never has to upgrade (which in WAL mode can fail without waiting). */
PARLEY_MUST_CHECK int sq_begin(sq_conn *c);
PARLEY_MUST_CHECK int sq_commit(sq_conn *c);
void sq_rollback(sq_conn *c);

/* Create or migrate the schema to PSTORE_SCHEMA_VERSION (schema.c). */
PARLEY_MUST_CHECK int sq_migrate(sq_conn *c);

/* Release every pooled connection and the store (conn.c). */
void sq_close(pstore *base);

extern const pstore_ops sq_ops;

#endif
