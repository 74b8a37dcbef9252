/*
 * The gatekeeper's durable state behind one interface (DESIGN.md section 6).
 *
 * A backend is a table of functions (pstore_ops) behind the opaque pstore
 * handle, as Redis hides its transports behind connection.h: the embedded
 * default is SQLite (src/store/sqlite/); the cluster mode will put
 * PostgreSQL behind the same calls. Callers use the pstore_* functions
 * below, which check every argument against the bounds in this header
 * before a backend sees it.
 *
 * Two ways in:
 *  - Synchronous calls (every operation), for tools, tests and the rare
 *    server path that may wait (registration, device linking).
 *  - Group commit for the hot writes (enqueue, ack-delete, one-time prekey
 *    take): pstore_submit_* places the operation on a commit queue that one
 *    writer thread drains, running each batch in a single transaction. When
 *    the batch is durable, each operation's callback runs on the thread
 *    that calls pstore_chan_dispatch() for the channel it was submitted on;
 *    the channel's fd becomes readable then, so an event loop watches it
 *    and never blocks on the disk. The server acks a sender from that
 *    callback, that is only after the message is durable (DESIGN.md
 *    section 4).
 *
 * Times are caller-supplied: seconds since the Unix epoch for accounts,
 * devices and codes; the envelope timestamp is whatever the router stamps
 * (milliseconds). The store never reads the clock, so tests are exact.
 */
#ifndef PARLEY_STORE_STORE_H
#define PARLEY_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

/* Every bound the store enforces, in one place. */
enum {
    /* "local@domain" (device suffix not included); RFC 5321 caps a path at 256. */
    PSTORE_ADDRESS_MAX = 255,
    /* A Noise static key is an X25519 public key (DESIGN.md section 3.1). */
    PSTORE_NOISE_KEY_LEN = 32,
    /* Signal public keys serialize to 33 bytes (type byte 0x05 + X25519);
     * the bound leaves room for another key type without a schema change. */
    PSTORE_PUBKEY_MIN = 32,
    PSTORE_PUBKEY_MAX = 64,
    PSTORE_SIGNATURE_LEN = 64, /* XEdDSA */
    /* The stanza id the client chose; XMPP ids are short tokens. */
    PSTORE_CLIENT_ID_MAX = 128,
    /* One queued stanza fits one Noise transport message (65535 bytes
     * including the 16-byte tag), DESIGN.md section 3.2. */
    PSTORE_STANZA_MAX = 65535 - 16,
    /* The signed device list: a few dozen bytes per device. */
    PSTORE_DEVICE_LIST_MAX = 16384,
    /* Devices per account, removed ones excluded (Signal allows 1 + 5,
     * WhatsApp 1 + 4; room to spare). */
    PSTORE_DEVICES_MAX = 16,
    /* Device ids are 1 .. 2^31-1, an integer every SQL engine stores alike. */
    PSTORE_DEVICE_ID_MAX = 0x7fffffff,
    /* The device that signs the account's device list (Signal's id too). */
    PSTORE_PRIMARY_DEVICE = 1,
    /* Registration and link codes, as typed or scanned. */
    PSTORE_CODE_MIN = 16,
    PSTORE_CODE_MAX = 128,
    /* One-time prekeys per upload and stored per device (Signal-Server: 100). */
    PSTORE_PREKEY_BATCH_MAX = 200,
    PSTORE_PREKEYS_MAX = 1000,
    /* Envelopes handed out by one fetch. */
    PSTORE_FETCH_MAX = 1000,
    /* The commit queue: operations waiting for the writer thread. A full
     * queue refuses with PARLEY_ERR_AGAIN so memory stays bounded. */
    PSTORE_COMMIT_QUEUE_MAX = 65536,
    PSTORE_COMMIT_QUEUE_BYTES_MAX = 64 * 1024 * 1024,
    /* Operations run in one transaction by the writer thread. */
    PSTORE_BATCH_MAX = 2048,
    PSTORE_COMMIT_DELAY_MAX_US = 100000, /* pstore_sqlite_config.commit_delay_us */
};

/* Length of the text pstore_code_generate writes, without the NUL. */
#define PSTORE_CODE_GEN_LEN 29

typedef struct pstore pstore;
typedef struct pstore_chan pstore_chan;

typedef enum {
    PSTORE_ACCOUNT_ACTIVE = 1,
    PSTORE_ACCOUNT_SUSPENDED = 2,
} pstore_account_status;

typedef struct {
    char address[PSTORE_ADDRESS_MAX + 1];
    int64_t created;
    pstore_account_status status;
} pstore_account;

typedef enum {
    PSTORE_CODE_REGISTRATION = 1, /* binds the first device of an account */
    PSTORE_CODE_LINK = 2,         /* adds a device, issued by an existing one */
} pstore_code_kind;

typedef struct {
    char user[PSTORE_ADDRESS_MAX + 1];
    uint32_t device_id; /* 1 is the primary; 0 in pstore_device_add = next free */
    uint8_t noise_key[PSTORE_NOISE_KEY_LEN];
    uint8_t identity_key[PSTORE_PUBKEY_MAX];
    size_t identity_key_len;
    uint32_t registration_id;
    int64_t created;
    int64_t last_seen;
    int removed;
} pstore_device;

/* A prekey: signed ones carry a signature, one-time ones do not. */
typedef struct {
    uint32_t id;
    uint8_t pub[PSTORE_PUBKEY_MAX];
    size_t pub_len;
    uint8_t sig[PSTORE_SIGNATURE_LEN];
} pstore_prekey;

/*
 * One queued message for one recipient device. On input the store copies
 * what it needs; in a fetch callback the pointers are valid only during
 * the call.
 */
typedef struct {
    uint64_t server_id; /* assigned by the store, increasing, never reused */
    const char *recipient;
    uint32_t recipient_device;
    const char *sender;
    uint32_t sender_device;
    const char *client_id; /* the sender's stanza id: the dedupe key */
    int64_t timestamp;
    const uint8_t *stanza;
    size_t stanza_len;
} pstore_envelope;

/* Called once per pending envelope, in server-id order; a negative
 * return stops the fetch and is returned by it. */
typedef int (*pstore_fetch_fn)(void *ctx, const pstore_envelope *env);

/* ---- group commit ------------------------------------------------------ */

typedef enum {
    PSTORE_OP_ENQUEUE = 1,
    PSTORE_OP_ACK = 2,
    PSTORE_OP_PREKEY_TAKE = 3,
} pstore_op_kind;

/*
 * A write operation as the writer thread and the backends see it. Callers
 * of the group-commit API read the results (rc and the fields marked out)
 * in their completion callback and must not keep the pointer afterwards.
 */
typedef struct pstore_op pstore_op;
typedef void (*pstore_done_fn)(void *arg, const pstore_op *op);

struct pstore_op {
    pstore_op_kind kind;
    int rc; /* out: PARLEY_OK or the operation's own error */
    /* recipient device (enqueue), acking device (ack), key owner (take) */
    char user[PSTORE_ADDRESS_MAX + 1];
    uint32_t device_id;
    union {
        struct {
            char sender[PSTORE_ADDRESS_MAX + 1];
            uint32_t sender_device;
            char client_id[PSTORE_CLIENT_ID_MAX + 1];
            int64_t timestamp;
            const uint8_t *stanza; /* points into the op's own allocation */
            size_t stanza_len;
            uint64_t server_id; /* out */
            int duplicate;      /* out: already queued; server_id is the first copy's */
        } enq;
        struct {
            uint64_t server_id;
        } ack;
        struct {
            pstore_prekey key;  /* out */
            uint32_t remaining; /* out: one-time prekeys left, for low-water notices */
        } take;
    } u;
    /* bookkeeping of the commit queue */
    pstore_done_fn done;
    void *arg;
    pstore_chan *chan;
    size_t bytes;
    pstore_op *next;
};

/* ---- the backend table ------------------------------------------------- */

typedef struct {
    const char *name;
    void (*close)(pstore *s);

    int (*account_create)(pstore *s, const char *address, int64_t now);
    int (*account_get)(pstore *s, const char *address, pstore_account *out);
    int (*account_set_status)(pstore *s, const char *address, pstore_account_status st);

    int (*code_add)(pstore *s, pstore_code_kind kind, const uint8_t hash[32], const char *address,
                    int64_t expires);
    int (*code_redeem)(pstore *s, pstore_code_kind kind, const uint8_t hash[32], int64_t now,
                       char address[PSTORE_ADDRESS_MAX + 1]);

    int (*device_add)(pstore *s, pstore_device *d);
    int (*device_get)(pstore *s, const char *user, uint32_t device_id, pstore_device *out);
    int (*device_by_key)(pstore *s, const uint8_t key[PSTORE_NOISE_KEY_LEN], pstore_device *out);
    int (*device_list)(pstore *s, const char *user, pstore_device *out, size_t max, size_t *count);
    int (*device_touch)(pstore *s, const char *user, uint32_t device_id, int64_t now);
    int (*device_remove)(pstore *s, const char *user, uint32_t device_id);

    int (*devlist_put)(pstore *s, const char *user, uint64_t version, const uint8_t *blob,
                       size_t len);
    int (*devlist_get)(pstore *s, const char *user, uint64_t *version, uint8_t *blob, size_t max,
                       size_t *len);

    int (*signed_prekey_put)(pstore *s, const char *user, uint32_t device_id,
                             const pstore_prekey *k);
    int (*signed_prekey_get)(pstore *s, const char *user, uint32_t device_id, pstore_prekey *out);
    int (*prekeys_add)(pstore *s, const char *user, uint32_t device_id, const pstore_prekey *keys,
                       size_t n);
    int (*prekeys_count)(pstore *s, const char *user, uint32_t device_id, uint32_t *count);

    int (*queue_fetch)(pstore *s, const char *user, uint32_t device_id, uint64_t after,
                       size_t limit, pstore_fetch_fn fn, void *ctx);
    int (*queue_count)(pstore *s, const char *user, uint32_t device_id, uint64_t *count);

    /*
     * Run n write operations in ONE transaction and make it durable before
     * returning. Each op's own failure (unknown device, nothing to take)
     * goes in op->rc and does not stop the others; a negative return means
     * the transaction itself failed and none of the ops took effect.
     * Called by the writer thread for a batch and by the synchronous
     * wrappers for a single op, possibly from several threads at once.
     */
    int (*batch_run)(pstore *s, pstore_op **ops, size_t n);

    /* The interop tables (store/interop.h, schema version 2). */
    const struct pstore_interop_ops *interop;
} pstore_ops;

/* ---- opening and closing ----------------------------------------------- */

typedef enum {
    PSTORE_SYNC_FULL = 0,   /* default: every commit reaches the disk (fsync) */
    PSTORE_SYNC_NORMAL = 1, /* benchmarks only: commits may be lost on power loss */
} pstore_sync;

typedef struct {
    pstore_sync sync;
    int busy_timeout_ms; /* 0: 5000 */
    int connections_max; /* pooled connections for synchronous calls; 0: 8 */
    /* Gather window of the group commit, in microseconds (0: none, at most
     * PSTORE_COMMIT_DELAY_MAX_US). The writer waits this long after the
     * first operation of a batch arrived before it commits, unless a full
     * batch is queued first: at moderate rates operations then share a
     * commit instead of each paying for its own transaction and thread
     * hand-offs, at the price of up to this much latency. */
    int commit_delay_us;
    /* Largest the database file may grow, in bytes (0: no bound beyond the
     * disk's). Past it, as on a full disk, writes that add rows fail with
     * PARLEY_ERR_STORE_FULL while acks, which delete rows, still commit, so
     * the queue can drain and make room (docs/storage.md, "A full store").
     * A database already larger keeps its size as the bound. */
    uint64_t max_size_bytes;
} pstore_sqlite_config;

/*
 * Open (creating it with mode 0600 if need be) the SQLite database at path,
 * migrate its schema, and return a store. cfg may be NULL for defaults. A
 * file that is not a database, or a damaged one, gives
 * PARLEY_ERR_STORE_CORRUPT; one written by a newer schema,
 * PARLEY_ERR_STORE_SCHEMA.
 */
PARLEY_MUST_CHECK int pstore_open_sqlite(pstore **out, const char *path,
                                         const pstore_sqlite_config *cfg);

/* Stop the writer thread after it has committed everything queued, and
 * release the store. Channels should be freed first; one freed later still
 * runs the callbacks it holds, and a submit on it gets
 * PARLEY_ERR_STORE_CLOSED. */
void pstore_close(pstore *s);

/* The schema version this build writes (the schema_version table). */
int pstore_schema_version(void);

/* ---- accounts and codes ------------------------------------------------ */

/* Addresses are compared byte for byte: the server normalizes them (case,
 * Unicode form) before it calls the store. */
PARLEY_MUST_CHECK int pstore_account_create(pstore *s, const char *address, int64_t now);
PARLEY_MUST_CHECK int pstore_account_get(pstore *s, const char *address, pstore_account *out);
PARLEY_MUST_CHECK int pstore_account_set_status(pstore *s, const char *address,
                                                pstore_account_status st);

/* Fill out with a fresh random code: 25 base32 characters (125 bits) in
 * five groups joined by '-', NUL-terminated. */
PARLEY_MUST_CHECK int pstore_code_generate(char out[PSTORE_CODE_GEN_LEN + 1]);

/*
 * Store a one-time code for an account; only its SHA-256 is kept. A plain
 * hash is enough because codes carry 125 random bits (pstore_code_generate):
 * there is nothing to brute-force from a stolen database.
 */
PARLEY_MUST_CHECK int pstore_code_add(pstore *s, pstore_code_kind kind, const char *code,
                                      const char *address, int64_t expires);

/* Consume a code: on success address holds its account and the code is
 * gone. Unknown or already used: PARLEY_ERR_NOT_FOUND; past its expiry:
 * PARLEY_ERR_STORE_EXPIRED (and it is gone too). */
PARLEY_MUST_CHECK int pstore_code_redeem(pstore *s, pstore_code_kind kind, const char *code,
                                         int64_t now, char address[PSTORE_ADDRESS_MAX + 1]);

/* ---- devices ----------------------------------------------------------- */

/*
 * Register a device of an existing account. d->device_id 0 asks for the
 * next free id, written back to d: PSTORE_PRIMARY_DEVICE when the account
 * has no live device (its first registration, or a new one after the
 * primary was removed), else one past the highest id ever used. A static
 * key or (user, device id) already taken, even by a removed device, gives
 * PARLEY_ERR_STORE_EXISTS; more than PSTORE_DEVICES_MAX live devices,
 * PARLEY_ERR_STORE_LIMIT. created and last_seen are taken from d.
 */
PARLEY_MUST_CHECK int pstore_device_add(pstore *s, pstore_device *d);
PARLEY_MUST_CHECK int pstore_device_get(pstore *s, const char *user, uint32_t device_id,
                                        pstore_device *out);
/* The login path: the device whose Noise static key this is (a unique
 * index). A removed device is returned with removed set; refusing it is
 * the caller's decision. */
PARLEY_MUST_CHECK int pstore_device_by_key(pstore *s, const uint8_t key[PSTORE_NOISE_KEY_LEN],
                                           pstore_device *out);
/* The account's live devices, by id. */
PARLEY_MUST_CHECK int pstore_device_list(pstore *s, const char *user, pstore_device *out,
                                         size_t max, size_t *count);
PARLEY_MUST_CHECK int pstore_device_touch(pstore *s, const char *user, uint32_t device_id,
                                          int64_t now);
/* Mark removed and drop its prekeys and queued messages. Removing the
 * primary (PSTORE_PRIMARY_DEVICE) removes every device of the account: the
 * linked devices cannot outlive the key that signs their list. A linked
 * device's id is never reused; the primary's is, when the account registers
 * again (pstore_device_add on an account without live devices). */
PARLEY_MUST_CHECK int pstore_device_remove(pstore *s, const char *user, uint32_t device_id);

/* The device list signed by the primary device: an opaque blob the store
 * keeps with its version; a version not above the stored one gives
 * PARLEY_ERR_STORE_STALE. */
PARLEY_MUST_CHECK int pstore_devlist_put(pstore *s, const char *user, uint64_t version,
                                         const uint8_t *blob, size_t len);
PARLEY_MUST_CHECK int pstore_devlist_get(pstore *s, const char *user, uint64_t *version,
                                         uint8_t *blob, size_t max, size_t *len);

/* ---- prekeys ----------------------------------------------------------- */

PARLEY_MUST_CHECK int pstore_signed_prekey_put(pstore *s, const char *user, uint32_t device_id,
                                               const pstore_prekey *k);
PARLEY_MUST_CHECK int pstore_signed_prekey_get(pstore *s, const char *user, uint32_t device_id,
                                               pstore_prekey *out);
/* Add a batch of one-time prekeys; an id already stored is replaced. */
PARLEY_MUST_CHECK int pstore_prekeys_add(pstore *s, const char *user, uint32_t device_id,
                                         const pstore_prekey *keys, size_t n);
PARLEY_MUST_CHECK int pstore_prekeys_count(pstore *s, const char *user, uint32_t device_id,
                                           uint32_t *count);
/* Hand out one one-time prekey (lowest id first), exactly once however
 * many threads or processes ask; none left: PARLEY_ERR_NOT_FOUND, and the
 * caller falls back to the signed prekey. remaining may be NULL. */
PARLEY_MUST_CHECK int pstore_prekey_take(pstore *s, const char *user, uint32_t device_id,
                                         pstore_prekey *out, uint32_t *remaining);

/* ---- the message queue ------------------------------------------------- */

/*
 * Queue one envelope for its recipient device, durably. A copy with the
 * same (sender, sender device, client id, recipient device) still queued
 * is not queued again: *duplicate is set and server_id is the first
 * copy's. Unknown or removed recipient device: PARLEY_ERR_NOT_FOUND.
 * duplicate may be NULL.
 */
PARLEY_MUST_CHECK int pstore_enqueue(pstore *s, const pstore_envelope *env, uint64_t *server_id,
                                     int *duplicate);
/* Envelopes pending for a device with server id above after, oldest first,
 * at most limit (<= PSTORE_FETCH_MAX). */
PARLEY_MUST_CHECK int pstore_fetch(pstore *s, const char *user, uint32_t device_id, uint64_t after,
                                   size_t limit, pstore_fetch_fn fn, void *ctx);
/* Delete an envelope on its recipient device's ack; an id that is not
 * pending for THIS device gives PARLEY_ERR_NOT_FOUND and deletes nothing. */
PARLEY_MUST_CHECK int pstore_ack(pstore *s, const char *user, uint32_t device_id,
                                 uint64_t server_id);
PARLEY_MUST_CHECK int pstore_queue_count(pstore *s, const char *user, uint32_t device_id,
                                         uint64_t *count);

/* ---- group commit ------------------------------------------------------ */

/* A completion channel, one per event loop. Its fd (an eventfd) is
 * readable when completed operations wait for pstore_chan_dispatch. */
PARLEY_MUST_CHECK int pstore_chan_new(pstore *s, pstore_chan **out);
int pstore_chan_fd(const pstore_chan *c);
/* Run the callbacks of every completed operation on the calling thread;
 * returns how many ran. Never blocks. */
int pstore_chan_dispatch(pstore_chan *c);
/* Wait until every operation submitted on c has completed, run their
 * callbacks, and free the channel. Not from inside one of its callbacks. */
void pstore_chan_free(pstore_chan *c);

/*
 * Submit a write to the commit queue. The arguments are checked and
 * copied at once (a bad one returns its error here and done never runs);
 * otherwise done(arg, op) runs exactly once, from pstore_chan_dispatch,
 * after the batch holding the operation is durable or has failed.
 * A full commit queue gives PARLEY_ERR_AGAIN; a store being closed,
 * PARLEY_ERR_STORE_CLOSED.
 */
PARLEY_MUST_CHECK int pstore_submit_enqueue(pstore_chan *c, const pstore_envelope *env,
                                            pstore_done_fn done, void *arg);
PARLEY_MUST_CHECK int pstore_submit_ack(pstore_chan *c, const char *user, uint32_t device_id,
                                        uint64_t server_id, pstore_done_fn done, void *arg);
PARLEY_MUST_CHECK int pstore_submit_prekey_take(pstore_chan *c, const char *user,
                                                uint32_t device_id, pstore_done_fn done, void *arg);

/* For metrics: the commit queue now, and the batches so far. */
typedef struct {
    size_t pending_ops;   /* submitted, not yet taken by the writer */
    size_t pending_bytes; /* their memory, operations and stanza copies */
    uint64_t batches;     /* transactions committed (or failed) by the writer */
    uint64_t ops;         /* operations in them */
    size_t largest_batch;
} pstore_stats;

void pstore_get_stats(pstore *s, pstore_stats *out);

/* ---- for backends ------------------------------------------------------ */

/* The common part of every store; a backend embeds it first in its own
 * struct and fills in ops. */
typedef struct pstore_commitq pstore_commitq;
struct pstore {
    const pstore_ops *ops;
    pstore_commitq *cq; /* created on the first pstore_chan_new */
};

/* Checks shared by every backend and by the wrappers. */
PARLEY_MUST_CHECK int pstore_check_address(const char *address);
PARLEY_MUST_CHECK int pstore_check_pubkey(size_t len);

#endif
