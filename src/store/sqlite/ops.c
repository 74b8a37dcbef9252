/*
 * The SQLite backend's operations. Arguments were checked by store.c; what
 * comes back from the database is checked again here (lengths of keys and
 * blobs), since a damaged or tampered file is input like any other.
 */
#include <string.h>

#include "store/sqlite/sq_interop.h"
#include "store/sqlite/sq_internal.h"
#include "store/store_internal.h"
#include "util/safety.h"

#define SQ(base) ((sq_store *)(base))

/* Statement with its bindings cleared and reset on every exit, the way
 * `out:` frees: st is reset by the caller's out label through sq_done. */
static void sq_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) == SQLITE_OK ? PARLEY_OK
                                                                       : PARLEY_ERR_STORE_BACKEND;
}

static int bind_blob(sqlite3_stmt *st, int i, const void *v, size_t n)
{
    return sqlite3_bind_blob(st, i, v, (int)n, SQLITE_STATIC) == SQLITE_OK
               ? PARLEY_OK
               : PARLEY_ERR_STORE_BACKEND;
}

static int bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
    return sqlite3_bind_int64(st, i, v) == SQLITE_OK ? PARLEY_OK : PARLEY_ERR_STORE_BACKEND;
}

static int bind_dev(sqlite3_stmt *st, const char *user, uint32_t device_id)
{
    int rc = bind_text(st, 1, user);
    return rc < 0 ? rc : bind_i64(st, 2, (int64_t)device_id);
}

/* Copy a text column into a bounded buffer; longer than the bound (only
 * possible in a damaged file) is corruption. */
static int col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (!t || n < 0 || (size_t)n >= cap)
        return PARLEY_ERR_STORE_CORRUPT;
    memcpy(dst, t, (size_t)n);
    dst[n] = '\0';
    return PARLEY_OK;
}

static int col_blob(sqlite3_stmt *st, int i, uint8_t *dst, size_t min, size_t max, size_t *len)
{
    const void *b = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (n < 0 || (size_t)n < min || (size_t)n > max || (n > 0 && !b))
        return PARLEY_ERR_STORE_CORRUPT;
    if (n > 0)
        memcpy(dst, b, (size_t)n);
    if (len)
        *len = (size_t)n;
    return PARLEY_OK;
}

static int col_u32(sqlite3_stmt *st, int i, uint32_t *v)
{
    sqlite3_int64 x = sqlite3_column_int64(st, i);
    if (x < 0 || x > UINT32_MAX)
        return PARLEY_ERR_STORE_CORRUPT;
    *v = (uint32_t)x;
    return PARLEY_OK;
}

/* ---- accounts ---------------------------------------------------------- */

static int account_create(pstore *base, const char *address, int64_t now)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_ACCOUNT_INSERT, &st));
    GUARD(bind_text(st, 1, address));
    GUARD(bind_i64(st, 2, now));
    GUARD(bind_i64(st, 3, PSTORE_ACCOUNT_ACTIVE));
    rc = sq_run(st);
    st = NULL;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int account_get(pstore *base, const char *address, pstore_account *out)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_ACCOUNT_GET, &st));
    GUARD(bind_text(st, 1, address));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    ENSURE(src == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    memset(out, 0, sizeof *out);
    memcpy(out->address, address, strlen(address) + 1);
    out->created = sqlite3_column_int64(st, 0);
    sqlite3_int64 status = sqlite3_column_int64(st, 1);
    ENSURE(status == PSTORE_ACCOUNT_ACTIVE || status == PSTORE_ACCOUNT_SUSPENDED,
           PARLEY_ERR_STORE_CORRUPT);
    out->status = (pstore_account_status)status;
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int account_set_status(pstore *base, const char *address, pstore_account_status status)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_ACCOUNT_STATUS, &st));
    GUARD(bind_text(st, 1, address));
    GUARD(bind_i64(st, 2, status));
    GUARD(sq_run(st));
    st = NULL;
    ENSURE(sqlite3_changes(c->db) == 1, PARLEY_ERR_NOT_FOUND);
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* ---- codes ------------------------------------------------------------- */

static int code_add(pstore *base, pstore_code_kind kind, const uint8_t hash[32],
                    const char *address, int64_t expires)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_CODE_INSERT, &st));
    GUARD(bind_blob(st, 1, hash, 32));
    GUARD(bind_i64(st, 2, kind));
    GUARD(bind_text(st, 3, address));
    GUARD(bind_i64(st, 4, expires));
    GUARD(sq_run(st));
    st = NULL;
    ENSURE(sqlite3_changes(c->db) == 1, PARLEY_ERR_NOT_FOUND);
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int code_redeem(pstore *base, pstore_code_kind kind, const uint8_t hash[32], int64_t now,
                       char address[PSTORE_ADDRESS_MAX + 1])
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    int64_t expires = 0;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    GUARD(sq_stmt(c, SQ_CODE_TAKE, &st));
    GUARD(bind_blob(st, 1, hash, 32));
    GUARD(bind_i64(st, 2, kind));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    ENSURE(src == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    GUARD(col_text(st, 0, address, PSTORE_ADDRESS_MAX + 1));
    expires = sqlite3_column_int64(st, 1);
    GUARD(sq_run(st));
    st = NULL;
    /* Expired codes are swept whenever one is redeemed. */
    GUARD(sq_stmt(c, SQ_CODE_PRUNE, &st));
    GUARD(bind_i64(st, 1, now));
    GUARD(sq_run(st));
    st = NULL;
    GUARD(sq_commit(c));
    ENSURE(expires > now, PARLEY_ERR_STORE_EXPIRED);
    rc = PARLEY_OK;
out:
    if (rc < 0)
        address[0] = '\0';
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* ---- devices ----------------------------------------------------------- */

static int read_device(sqlite3_stmt *st, pstore_device *d)
{
    int rc;
    memset(d, 0, sizeof *d);
    GUARD(col_text(st, 0, d->user, sizeof d->user));
    GUARD(col_u32(st, 1, &d->device_id));
    GUARD(col_blob(st, 2, d->noise_key, PSTORE_NOISE_KEY_LEN, PSTORE_NOISE_KEY_LEN, NULL));
    GUARD(col_blob(st, 3, d->identity_key, PSTORE_PUBKEY_MIN, PSTORE_PUBKEY_MAX,
                   &d->identity_key_len));
    GUARD(col_u32(st, 4, &d->registration_id));
    d->created = sqlite3_column_int64(st, 5);
    d->last_seen = sqlite3_column_int64(st, 6);
    d->removed = sqlite3_column_int64(st, 7) != 0;
    rc = PARLEY_OK;
out:
    return rc;
}

static int device_add(pstore *base, pstore_device *d)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    GUARD(sq_stmt(c, SQ_DEVICE_COUNTS, &st));
    GUARD(bind_text(st, 1, d->user));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW, sq_err(src));
    sqlite3_int64 accounts = sqlite3_column_int64(st, 0);
    sqlite3_int64 live = sqlite3_column_int64(st, 1);
    sqlite3_int64 max_id = sqlite3_column_int64(st, 2);
    sq_done(st);
    st = NULL;
    ENSURE(accounts == 1, PARLEY_ERR_NOT_FOUND);
    ENSURE(live < PSTORE_DEVICES_MAX, PARLEY_ERR_STORE_LIMIT);
    uint32_t id = d->device_id;
    if (id == 0 && live == 0) {
        /* The first device of an account with none is its primary, id 1,
         * also when it re-registers after every device was removed: the
         * old primary's row gives way (its keys went at removal). */
        id = PSTORE_PRIMARY_DEVICE;
        GUARD(sq_stmt(c, SQ_DEVICE_PURGE, &st));
        GUARD(bind_dev(st, d->user, id));
        GUARD(sq_run(st));
        st = NULL;
    } else if (id == 0) {
        ENSURE(max_id >= 0 && max_id < PSTORE_DEVICE_ID_MAX, PARLEY_ERR_STORE_LIMIT);
        id = (uint32_t)max_id + 1;
    }
    GUARD(sq_stmt(c, SQ_DEVICE_INSERT, &st));
    GUARD(bind_dev(st, d->user, id));
    GUARD(bind_blob(st, 3, d->noise_key, PSTORE_NOISE_KEY_LEN));
    GUARD(bind_blob(st, 4, d->identity_key, d->identity_key_len));
    GUARD(bind_i64(st, 5, d->registration_id));
    GUARD(bind_i64(st, 6, d->created));
    GUARD(bind_i64(st, 7, d->last_seen));
    GUARD(sq_run(st));
    st = NULL;
    GUARD(sq_commit(c));
    d->device_id = id;
    d->removed = 0;
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int device_one(pstore *base, sq_stmt_id id, const char *user, uint32_t device_id,
                      const uint8_t *key, pstore_device *out)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, id, &st));
    if (key)
        GUARD(bind_blob(st, 1, key, PSTORE_NOISE_KEY_LEN));
    else
        GUARD(bind_dev(st, user, device_id));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    ENSURE(src == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    GUARD(read_device(st, out));
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int device_get(pstore *base, const char *user, uint32_t device_id, pstore_device *out)
{
    return device_one(base, SQ_DEVICE_GET, user, device_id, NULL, out);
}

static int device_by_key(pstore *base, const uint8_t key[PSTORE_NOISE_KEY_LEN], pstore_device *out)
{
    return device_one(base, SQ_DEVICE_BY_KEY, NULL, 0, key, out);
}

static int device_list(pstore *base, const char *user, pstore_device *out, size_t max,
                       size_t *count)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    size_t n = 0;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_DEVICE_LIST, &st));
    GUARD(bind_text(st, 1, user));
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        ENSURE(n < max, PARLEY_ERR_BUFFER);
        GUARD(read_device(st, &out[n]));
        n++;
    }
    ENSURE(src == SQLITE_DONE, sq_err(src));
    rc = PARLEY_OK;
out:
    *count = n;
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int device_touch(pstore *base, const char *user, uint32_t device_id, int64_t now)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_DEVICE_TOUCH, &st));
    GUARD(bind_dev(st, user, device_id));
    GUARD(bind_i64(st, 3, now));
    GUARD(sq_run(st));
    st = NULL;
    ENSURE(sqlite3_changes(c->db) == 1, PARLEY_ERR_NOT_FOUND);
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* One device marked removed, its prekeys and queue dropped (in c's
 * transaction). PARLEY_ERR_NOT_FOUND when it was not live. */
static int remove_one(sq_conn *c, const char *user, uint32_t device_id)
{
    static const sq_stmt_id drops[] = {SQ_DEVICE_DROP_SPK, SQ_DEVICE_DROP_OTPK,
                                       SQ_DEVICE_DROP_QUEUE};
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_stmt(c, SQ_DEVICE_REMOVE, &st));
    GUARD(bind_dev(st, user, device_id));
    GUARD(sq_run(st));
    st = NULL;
    ENSURE(sqlite3_changes(c->db) == 1, PARLEY_ERR_NOT_FOUND);
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(drops); i++) {
        GUARD(sq_stmt(c, drops[i], &st));
        GUARD(bind_dev(st, user, device_id));
        GUARD(sq_run(st));
        st = NULL;
    }
    rc = PARLEY_OK;
out:
    sq_done(st);
    return rc;
}

static int device_remove(pstore *base, const char *user, uint32_t device_id)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    uint32_t ids[PSTORE_DEVICES_MAX];
    size_t n = 0;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    GUARD(remove_one(c, user, device_id));
    if (device_id == PSTORE_PRIMARY_DEVICE) {
        /* Without its primary nobody can sign the account's device list:
         * the linked devices go with it (store.h). */
        int src;
        GUARD(sq_stmt(c, SQ_DEVICE_LIST, &st));
        GUARD(bind_text(st, 1, user));
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            ENSURE(n < PARLEY_ARRAY_LEN(ids), PARLEY_ERR_BUFFER);
            ids[n++] = (uint32_t)sqlite3_column_int64(st, 1);
        }
        ENSURE(src == SQLITE_DONE, sq_err(src));
        sq_done(st);
        st = NULL;
        for (size_t i = 0; i < n; i++)
            GUARD(remove_one(c, user, ids[i]));
    }
    GUARD(sq_commit(c));
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* ---- the signed device list ------------------------------------------- */

static int devlist_put(pstore *base, const char *user, uint64_t version, const uint8_t *blob,
                       size_t len)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    GUARD(sq_stmt(c, SQ_ACCOUNT_GET, &st));
    GUARD(bind_text(st, 1, user));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    ENSURE(src == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    sq_done(st);
    st = NULL;
    GUARD(sq_stmt(c, SQ_DEVLIST_PUT, &st));
    GUARD(bind_text(st, 1, user));
    GUARD(bind_i64(st, 2, (int64_t)version));
    GUARD(bind_blob(st, 3, blob, len));
    GUARD(sq_run(st));
    st = NULL;
    /* The upsert's WHERE leaves an older or equal version untouched. */
    ENSURE(sqlite3_changes(c->db) == 1, PARLEY_ERR_STORE_STALE);
    GUARD(sq_commit(c));
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int devlist_get(pstore *base, const char *user, uint64_t *version, uint8_t *blob, size_t max,
                       size_t *len)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_DEVLIST_GET, &st));
    GUARD(bind_text(st, 1, user));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    ENSURE(src == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    ENSURE(v >= 0, PARLEY_ERR_STORE_CORRUPT);
    int n = sqlite3_column_bytes(st, 1);
    ENSURE(n >= 0 && n <= PSTORE_DEVICE_LIST_MAX, PARLEY_ERR_STORE_CORRUPT);
    ENSURE((size_t)n <= max, PARLEY_ERR_BUFFER);
    GUARD(col_blob(st, 1, blob, 0, max, len));
    *version = (uint64_t)v;
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* ---- prekeys ----------------------------------------------------------- */

static int signed_prekey_put(pstore *base, const char *user, uint32_t device_id,
                             const pstore_prekey *k)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_SPK_PUT, &st));
    GUARD(bind_dev(st, user, device_id));
    GUARD(bind_i64(st, 3, k->id));
    GUARD(bind_blob(st, 4, k->pub, k->pub_len));
    GUARD(bind_blob(st, 5, k->sig, PSTORE_SIGNATURE_LEN));
    GUARD(sq_run(st));
    st = NULL;
    ENSURE(sqlite3_changes(c->db) == 1, PARLEY_ERR_NOT_FOUND);
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int signed_prekey_get(pstore *base, const char *user, uint32_t device_id, pstore_prekey *out)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_SPK_GET, &st));
    GUARD(bind_dev(st, user, device_id));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    ENSURE(src == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    memset(out, 0, sizeof *out);
    GUARD(col_u32(st, 0, &out->id));
    GUARD(col_blob(st, 1, out->pub, PSTORE_PUBKEY_MIN, PSTORE_PUBKEY_MAX, &out->pub_len));
    GUARD(col_blob(st, 2, out->sig, PSTORE_SIGNATURE_LEN, PSTORE_SIGNATURE_LEN, NULL));
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int count_stmt(sq_conn *c, sq_stmt_id id, const char *user, uint32_t device_id, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_stmt(c, id, &st));
    GUARD(bind_dev(st, user, device_id));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW, sq_err(src));
    *n = sqlite3_column_int64(st, 0);
    rc = PARLEY_OK;
out:
    sq_done(st);
    return rc;
}

static int device_live(sq_conn *c, const char *user, uint32_t device_id)
{
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_stmt(c, SQ_DEVICE_LIVE, &st));
    GUARD(bind_dev(st, user, device_id));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    ENSURE(src == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    rc = PARLEY_OK;
out:
    sq_done(st);
    return rc;
}

static int prekeys_add(pstore *base, const char *user, uint32_t device_id,
                       const pstore_prekey *keys, size_t n)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    int64_t count = 0;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    GUARD(device_live(c, user, device_id));
    GUARD(sq_stmt(c, SQ_OTPK_PUT, &st));
    for (size_t i = 0; i < n; i++) {
        GUARD(bind_dev(st, user, device_id));
        GUARD(bind_i64(st, 3, keys[i].id));
        GUARD(bind_blob(st, 4, keys[i].pub, keys[i].pub_len));
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        ENSURE(src == SQLITE_DONE, sq_err(src));
    }
    sq_done(st);
    st = NULL;
    GUARD(count_stmt(c, SQ_OTPK_COUNT, user, device_id, &count));
    /* Checked after the insert so that replaced ids count once; the
     * whole batch is rolled back when it would go over. */
    ENSURE(count <= PSTORE_PREKEYS_MAX, PARLEY_ERR_STORE_LIMIT);
    GUARD(sq_commit(c));
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int prekeys_count(pstore *base, const char *user, uint32_t device_id, uint32_t *count)
{
    sq_conn *c = NULL;
    int rc;
    int64_t n = 0;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(count_stmt(c, SQ_OTPK_COUNT, user, device_id, &n));
    ENSURE(n >= 0 && n <= UINT32_MAX, PARLEY_ERR_STORE_CORRUPT);
    *count = (uint32_t)n;
    rc = PARLEY_OK;
out:
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* ---- the queue --------------------------------------------------------- */

static int queue_fetch(pstore *base, const char *user, uint32_t device_id, uint64_t after,
                       size_t limit, pstore_fetch_fn fn, void *ctx)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    char sender[PSTORE_ADDRESS_MAX + 1];
    char client_id[PSTORE_CLIENT_ID_MAX + 1];
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_stmt(c, SQ_QUEUE_FETCH, &st));
    GUARD(bind_dev(st, user, device_id));
    GUARD(bind_i64(st, 3, (int64_t)after));
    GUARD(bind_i64(st, 4, (int64_t)limit));
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        pstore_envelope env;
        memset(&env, 0, sizeof env);
        sqlite3_int64 id = sqlite3_column_int64(st, 0);
        ENSURE(id > 0, PARLEY_ERR_STORE_CORRUPT);
        env.server_id = (uint64_t)id;
        env.recipient = user;
        env.recipient_device = device_id;
        GUARD(col_text(st, 1, sender, sizeof sender));
        env.sender = sender;
        GUARD(col_u32(st, 2, &env.sender_device));
        GUARD(col_text(st, 3, client_id, sizeof client_id));
        env.client_id = client_id;
        env.timestamp = sqlite3_column_int64(st, 4);
        const void *blob = sqlite3_column_blob(st, 5);
        int n = sqlite3_column_bytes(st, 5);
        ENSURE(blob && n > 0 && n <= PSTORE_STANZA_MAX, PARLEY_ERR_STORE_CORRUPT);
        env.stanza = blob;
        env.stanza_len = (size_t)n;
        GUARD(fn(ctx, &env));
    }
    ENSURE(src == SQLITE_DONE, sq_err(src));
    rc = PARLEY_OK;
out:
    sq_done(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int queue_count(pstore *base, const char *user, uint32_t device_id, uint64_t *count)
{
    sq_conn *c = NULL;
    int rc;
    int64_t n = 0;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(count_stmt(c, SQ_QUEUE_COUNT, user, device_id, &n));
    ENSURE(n >= 0, PARLEY_ERR_STORE_CORRUPT);
    *count = (uint64_t)n;
    rc = PARLEY_OK;
out:
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* ---- batched writes ---------------------------------------------------- */

/* Each op_* returns a negative code only for a failure of the transaction
 * (I/O, lock, corruption); the op's own outcome goes in op->rc. */

static int op_enqueue(sq_conn *c, pstore_op *op)
{
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_stmt(c, SQ_QUEUE_INSERT, &st));
    GUARD(bind_dev(st, op->user, op->device_id));
    GUARD(bind_text(st, 3, op->u.enq.sender));
    GUARD(bind_i64(st, 4, op->u.enq.sender_device));
    GUARD(bind_text(st, 5, op->u.enq.client_id));
    GUARD(bind_i64(st, 6, op->u.enq.timestamp));
    GUARD(bind_blob(st, 7, op->u.enq.stanza, op->u.enq.stanza_len));
    GUARD(sq_run(st));
    st = NULL;
    if (sqlite3_changes(c->db) == 1) {
        op->u.enq.server_id = (uint64_t)sqlite3_last_insert_rowid(c->db);
        op->u.enq.duplicate = 0;
        op->rc = PARLEY_OK;
        rc = PARLEY_OK;
        goto out;
    }
    /* Nothing inserted: either already queued (dedupe) or no such live
     * device. */
    GUARD(sq_stmt(c, SQ_QUEUE_DEDUPE, &st));
    GUARD(bind_dev(st, op->user, op->device_id));
    GUARD(bind_text(st, 3, op->u.enq.sender));
    GUARD(bind_i64(st, 4, op->u.enq.sender_device));
    GUARD(bind_text(st, 5, op->u.enq.client_id));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    if (src == SQLITE_ROW) {
        op->u.enq.server_id = (uint64_t)sqlite3_column_int64(st, 0);
        op->u.enq.duplicate = 1;
        op->rc = PARLEY_OK;
    } else {
        op->rc = PARLEY_ERR_NOT_FOUND;
    }
    rc = PARLEY_OK;
out:
    sq_done(st);
    return rc;
}

static int op_ack(sq_conn *c, pstore_op *op)
{
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_stmt(c, SQ_QUEUE_DELETE, &st));
    GUARD(bind_dev(st, op->user, op->device_id));
    GUARD(bind_i64(st, 3, (int64_t)op->u.ack.server_id));
    GUARD(sq_run(st));
    st = NULL;
    op->rc = sqlite3_changes(c->db) == 1 ? PARLEY_OK : PARLEY_ERR_NOT_FOUND;
    rc = PARLEY_OK;
out:
    sq_done(st);
    return rc;
}

static int op_take(sq_conn *c, pstore_op *op)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int64_t left = 0;
    GUARD(sq_stmt(c, SQ_OTPK_TAKE, &st));
    GUARD(bind_dev(st, op->user, op->device_id));
    int src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW || src == SQLITE_DONE, sq_err(src));
    if (src == SQLITE_DONE) {
        op->rc = PARLEY_ERR_NOT_FOUND;
        rc = PARLEY_OK;
        goto out;
    }
    pstore_prekey *k = &op->u.take.key;
    memset(k, 0, sizeof *k);
    GUARD(col_u32(st, 0, &k->id));
    GUARD(col_blob(st, 1, k->pub, PSTORE_PUBKEY_MIN, PSTORE_PUBKEY_MAX, &k->pub_len));
    GUARD(sq_run(st));
    st = NULL;
    GUARD(count_stmt(c, SQ_OTPK_COUNT, op->user, op->device_id, &left));
    op->u.take.remaining = left < 0 ? 0 : left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
    op->rc = PARLEY_OK;
    rc = PARLEY_OK;
out:
    sq_done(st);
    return rc;
}

static int batch_run(pstore *base, pstore_op **ops, size_t n)
{
    sq_conn *c = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    for (size_t i = 0; i < n; i++) {
        pstore_op *op = ops[i];
        switch (op->kind) {
        case PSTORE_OP_ENQUEUE:
            GUARD(op_enqueue(c, op));
            break;
        case PSTORE_OP_ACK:
            GUARD(op_ack(c, op));
            break;
        case PSTORE_OP_PREKEY_TAKE:
            GUARD(op_take(c, op));
            break;
        default:
            op->rc = PARLEY_ERR_INVALID_ARG;
            break;
        }
    }
    /* With synchronous=FULL the WAL is fsynced before COMMIT returns: only
     * now may any op in the batch be reported done. */
    GUARD(sq_commit(c));
    rc = PARLEY_OK;
out:
    if (c)
        sq_release(SQ(base), c); /* rolls back if the commit did not happen */
    return rc;
}

const pstore_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .account_create = account_create,
    .account_get = account_get,
    .account_set_status = account_set_status,
    .code_add = code_add,
    .code_redeem = code_redeem,
    .device_add = device_add,
    .device_get = device_get,
    .device_by_key = device_by_key,
    .device_list = device_list,
    .device_touch = device_touch,
    .device_remove = device_remove,
    .devlist_put = devlist_put,
    .devlist_get = devlist_get,
    .signed_prekey_put = signed_prekey_put,
    .signed_prekey_get = signed_prekey_get,
    .prekeys_add = prekeys_add,
    .prekeys_count = prekeys_count,
    .queue_fetch = queue_fetch,
    .queue_count = queue_count,
    .batch_run = batch_run,
    .interop = &sq_interop_ops,
};
