/*
 * The SQLite backend's interop tables (src/store/interop.h): schema
 * migration 2 and its operations. These run on operator actions and on
 * the first message between two users, not per stanza, so statements are
 * prepared per call rather than cached per connection. Everything read
 * back is checked against its bound again: a damaged file is input too.
 */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/sq_interop.h"
#include "store/sqlite/sq_internal.h"
#include "store/store_internal.h"
#include "util/safety.h"

#define SQ(base) ((sq_store *)(base))

const char sq_interop_migration[] =
    /* 2: providers and their audit log, consent, inbox mode, message
     * requests, blocks, reports (issue 5). */
    "CREATE TABLE providers("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  push_url TEXT NOT NULL,"
    "  verify_url TEXT NOT NULL,"
    "  protocol TEXT NOT NULL,"
    "  evidence TEXT NOT NULL,"
    "  agreement INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    /* A domain belongs to one provider at most: the primary key says so. */
    "CREATE TABLE provider_domains("
    "  domain TEXT PRIMARY KEY,"
    "  provider TEXT NOT NULL,"
    "  pos INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX provider_domains_by_provider ON provider_domains(provider, pos);"
    "CREATE TABLE provider_keys("
    "  provider TEXT NOT NULL,"
    "  key_id INTEGER NOT NULL,"
    "  pub BLOB NOT NULL,"
    "  added INTEGER NOT NULL,"
    "  retired INTEGER NOT NULL,"
    "  PRIMARY KEY(provider, key_id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE provider_media_hosts("
    "  provider TEXT NOT NULL,"
    "  pos INTEGER NOT NULL,"
    "  host TEXT NOT NULL,"
    "  PRIMARY KEY(provider, pos)"
    ") WITHOUT ROWID;"
    /* Append-only: nothing deletes or updates an audit row. */
    "CREATE TABLE provider_audit("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  provider TEXT NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  detail TEXT NOT NULL"
    ");"
    "CREATE INDEX provider_audit_by_provider ON provider_audit(provider, seq);"
    "CREATE TABLE consent("
    "  user TEXT NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  enabled INTEGER NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  PRIMARY KEY(user, provider)"
    ") WITHOUT ROWID;"
    "CREATE TABLE inbox_mode("
    "  user TEXT PRIMARY KEY,"
    "  mode INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE message_requests("
    "  user TEXT NOT NULL,"
    "  peer TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  PRIMARY KEY(user, peer)"
    ") WITHOUT ROWID;"
    "CREATE TABLE blocks("
    "  blocker TEXT NOT NULL,"
    "  blocked TEXT NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  PRIMARY KEY(blocker, blocked)"
    ") WITHOUT ROWID;"
    "CREATE TABLE reports("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  reporter TEXT NOT NULL,"
    "  reported TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  status INTEGER NOT NULL"
    ");"
    "CREATE INDEX reports_by_status ON reports(status, id);"
    "CREATE TABLE report_messages("
    "  report INTEGER NOT NULL,"
    "  pos INTEGER NOT NULL,"
    "  msg_id TEXT NOT NULL,"
    "  sent INTEGER NOT NULL,"
    "  body BLOB NOT NULL,"
    "  PRIMARY KEY(report, pos)"
    ") WITHOUT ROWID;";

static int prep(sq_conn *c, const char *sql, sqlite3_stmt **st)
{
    int src = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
    if (src != SQLITE_OK) {
        *st = NULL;
        return sq_err(src);
    }
    return PARLEY_OK;
}

static int bt(sqlite3_stmt *st, int i, const char *v)
{
    return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) == SQLITE_OK ? PARLEY_OK
                                                                       : PARLEY_ERR_STORE_BACKEND;
}

static int bi(sqlite3_stmt *st, int i, int64_t v)
{
    return sqlite3_bind_int64(st, i, v) == SQLITE_OK ? PARLEY_OK : PARLEY_ERR_STORE_BACKEND;
}

static int bb(sqlite3_stmt *st, int i, const void *v, size_t n)
{
    return sqlite3_bind_blob(st, i, n ? v : "", (int)n, SQLITE_STATIC) == SQLITE_OK
               ? PARLEY_OK
               : PARLEY_ERR_STORE_BACKEND;
}

/* Step to the end; rows are not expected. */
static int done(sqlite3_stmt *st)
{
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        ;
    return src == SQLITE_DONE ? PARLEY_OK : sq_err(src);
}

/* One row or none: 1, 0, or a negative result. */
static int row(sqlite3_stmt *st)
{
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        return 1;
    return src == SQLITE_DONE ? 0 : sq_err(src);
}

static int ctext(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (!t || n < 0 || (size_t)n >= cap)
        return PARLEY_ERR_STORE_CORRUPT;
    memcpy(dst, t, (size_t)n);
    dst[n] = '\0';
    return PARLEY_OK;
}

/* Run one parameterless-or-bound statement on its own. */
static int exec1(sq_conn *c, const char *sql, const char *a, const char *b, int64_t x, int64_t y,
                 int nints)
{
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(prep(c, sql, &st));
    int i = 1;
    if (a)
        GUARD(bt(st, i++, a));
    if (b)
        GUARD(bt(st, i++, b));
    if (nints > 0)
        GUARD(bi(st, i++, x));
    if (nints > 1)
        GUARD(bi(st, i++, y));
    GUARD(done(st));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- providers ----------------------------------------------------------- */

static int audit_insert(sq_conn *c, const char *provider, int64_t t, const char *actor,
                        const char *action, const char *detail)
{
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(prep(c,
               "INSERT INTO provider_audit(provider, t, actor, action, detail) "
               "VALUES(?1, ?2, ?3, ?4, ?5)",
               &st));
    GUARD(bt(st, 1, provider));
    GUARD(bi(st, 2, t));
    GUARD(bt(st, 3, actor));
    GUARD(bt(st, 4, action));
    GUARD(bt(st, 5, detail ? detail : ""));
    GUARD(done(st));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

static int provider_put(pstore *base, const pstore_provider *p, const char *actor,
                        const char *action, const char *detail, int64_t now)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    int create = strcmp(action, "add") == 0;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    if (create) {
        GUARD(prep(c,
                   "INSERT INTO providers(id, name, status, push_url, verify_url, protocol, "
                   "evidence, agreement, created, updated) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                   &st));
    } else {
        GUARD(prep(c,
                   "UPDATE providers SET name = ?2, status = ?3, push_url = ?4, verify_url = ?5, "
                   "protocol = ?6, evidence = ?7, agreement = ?8, updated = ?9 WHERE id = ?1",
                   &st));
    }
    GUARD(bt(st, 1, p->id));
    GUARD(bt(st, 2, p->name));
    GUARD(bi(st, 3, p->status));
    GUARD(bt(st, 4, p->push_url));
    GUARD(bt(st, 5, p->verify_url));
    GUARD(bt(st, 6, p->protocol));
    GUARD(bt(st, 7, p->evidence));
    GUARD(bi(st, 8, p->agreement_date));
    GUARD(bi(st, 9, now));
    GUARD(done(st));
    ENSURE(create || sqlite3_changes(c->db) == 1, PARLEY_ERR_NOT_FOUND);
    sqlite3_finalize(st);
    st = NULL;
    GUARD(exec1(c, "DELETE FROM provider_domains WHERE provider = ?1", p->id, NULL, 0, 0, 0));
    GUARD(exec1(c, "DELETE FROM provider_keys WHERE provider = ?1", p->id, NULL, 0, 0, 0));
    GUARD(exec1(c, "DELETE FROM provider_media_hosts WHERE provider = ?1", p->id, NULL, 0, 0, 0));
    for (size_t i = 0; i < p->domain_count; i++)
        GUARD(exec1(c, "INSERT INTO provider_domains(domain, provider, pos) VALUES(?1, ?2, ?3)",
                    p->domains[i], p->id, (int64_t)i, 0, 1));
    for (size_t i = 0; i < p->media_host_count; i++)
        GUARD(exec1(c, "INSERT INTO provider_media_hosts(host, provider, pos) VALUES(?1, ?2, ?3)",
                    p->media_hosts[i], p->id, (int64_t)i, 0, 1));
    for (size_t i = 0; i < p->key_count; i++) {
        GUARD(prep(c,
                   "INSERT INTO provider_keys(provider, key_id, pub, added, retired) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)",
                   &st));
        GUARD(bt(st, 1, p->id));
        GUARD(bi(st, 2, p->keys[i].key_id));
        GUARD(bb(st, 3, p->keys[i].pub, 32));
        GUARD(bi(st, 4, p->keys[i].added ? p->keys[i].added : now));
        GUARD(bi(st, 5, p->keys[i].retired ? 1 : 0));
        GUARD(done(st));
        sqlite3_finalize(st);
        st = NULL;
    }
    GUARD(audit_insert(c, p->id, now, actor, action, detail));
    GUARD(sq_commit(c));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c); /* rolls back what was not committed */
    return rc;
}

/* The text column of sql's rows (bound to id) into max names of stride
 * bytes each from names; more rows than max is a corrupt store. */
static int load_names(sq_conn *c, const char *sql, const char *id, char *names, size_t stride,
                      size_t max, size_t *count)
{
    sqlite3_stmt *st = NULL;
    int rc, r;
    *count = 0;
    GUARD(prep(c, sql, &st));
    GUARD(bt(st, 1, id));
    while ((r = row(st)) == 1) {
        ENSURE(*count < max, PARLEY_ERR_STORE_CORRUPT);
        GUARD(ctext(st, 0, names + *count * stride, stride));
        (*count)++;
    }
    GUARD(r);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

static int provider_load(sq_conn *c, const char *id, pstore_provider *out)
{
    sqlite3_stmt *st = NULL;
    int rc, r;
    memset(out, 0, sizeof *out);
    GUARD(prep(c,
               "SELECT id, name, status, push_url, verify_url, protocol, evidence, agreement, "
               "created, updated FROM providers WHERE id = ?1",
               &st));
    GUARD(bt(st, 1, id));
    GUARD(r = row(st));
    ENSURE(r == 1, PARLEY_ERR_NOT_FOUND);
    GUARD(ctext(st, 0, out->id, sizeof out->id));
    GUARD(ctext(st, 1, out->name, sizeof out->name));
    int64_t status = sqlite3_column_int64(st, 2);
    ENSURE(status >= PSTORE_PROVIDER_ACTIVE && status <= PSTORE_PROVIDER_TERMINATED,
           PARLEY_ERR_STORE_CORRUPT);
    out->status = (pstore_provider_status)status;
    GUARD(ctext(st, 3, out->push_url, sizeof out->push_url));
    GUARD(ctext(st, 4, out->verify_url, sizeof out->verify_url));
    GUARD(ctext(st, 5, out->protocol, sizeof out->protocol));
    GUARD(ctext(st, 6, out->evidence, sizeof out->evidence));
    out->agreement_date = sqlite3_column_int64(st, 7);
    out->created = sqlite3_column_int64(st, 8);
    out->updated = sqlite3_column_int64(st, 9);
    sqlite3_finalize(st);
    st = NULL;

    GUARD(load_names(c, "SELECT domain FROM provider_domains WHERE provider = ?1 ORDER BY pos",
                     id, out->domains[0], sizeof out->domains[0], PSTORE_PROVIDER_DOMAINS_MAX,
                     &out->domain_count));
    GUARD(load_names(c, "SELECT host FROM provider_media_hosts WHERE provider = ?1 ORDER BY pos",
                     id, out->media_hosts[0], sizeof out->media_hosts[0],
                     PSTORE_PROVIDER_MEDIA_MAX, &out->media_host_count));

    GUARD(prep(c,
               "SELECT key_id, pub, added, retired FROM provider_keys WHERE provider = ?1 "
               "ORDER BY key_id",
               &st));
    GUARD(bt(st, 1, id));
    while ((r = row(st)) == 1) {
        pstore_provider_key *k = &out->keys[out->key_count];
        ENSURE(out->key_count < PSTORE_PROVIDER_KEYS_MAX, PARLEY_ERR_STORE_CORRUPT);
        int64_t kid = sqlite3_column_int64(st, 0);
        ENSURE(kid >= 0 && kid <= UINT32_MAX, PARLEY_ERR_STORE_CORRUPT);
        k->key_id = (uint32_t)kid;
        const void *pub = sqlite3_column_blob(st, 1);
        ENSURE(pub && sqlite3_column_bytes(st, 1) == 32, PARLEY_ERR_STORE_CORRUPT);
        memcpy(k->pub, pub, 32);
        k->added = sqlite3_column_int64(st, 2);
        k->retired = sqlite3_column_int64(st, 3) != 0;
        out->key_count++;
    }
    GUARD(r);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

static int provider_get(pstore *base, const char *id, pstore_provider *out)
{
    sq_conn *c = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    rc = provider_load(c, id, out);
out:
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int provider_by_domain(pstore *base, const char *domain, pstore_provider *out)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc, r;
    char id[PSTORE_PROVIDER_ID_MAX + 1];
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(prep(c, "SELECT provider FROM provider_domains WHERE domain = ?1", &st));
    GUARD(bt(st, 1, domain));
    GUARD(r = row(st));
    ENSURE(r == 1, PARLEY_ERR_NOT_FOUND);
    GUARD(ctext(st, 0, id, sizeof id));
    GUARD(provider_load(c, id, out));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int provider_list(pstore *base, char (*ids)[PSTORE_PROVIDER_ID_MAX + 1], size_t max,
                         size_t *count)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc, r;
    *count = 0;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(prep(c, "SELECT id FROM providers ORDER BY id", &st));
    while ((r = row(st)) == 1) {
        ENSURE(*count < max, PARLEY_ERR_BUFFER);
        GUARD(ctext(st, 0, ids[*count], sizeof ids[0]));
        (*count)++;
    }
    GUARD(r);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int provider_set_status(pstore *base, const char *id, pstore_provider_status stt,
                               const char *actor, int64_t now)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc, r;
    static const char *const actions[] = {"", "resume", "suspend", "terminate"};
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    GUARD(prep(c, "SELECT status FROM providers WHERE id = ?1", &st));
    GUARD(bt(st, 1, id));
    GUARD(r = row(st));
    ENSURE(r == 1, PARLEY_ERR_NOT_FOUND);
    int64_t cur = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    /* Termination is final: the provider's devices and keys are gone. */
    ENSURE(cur != PSTORE_PROVIDER_TERMINATED, PARLEY_ERR_STATE);
    GUARD(exec1(c, "UPDATE providers SET status = ?2, updated = ?3 WHERE id = ?1", id, NULL,
                (int64_t)stt, now, 2));
    GUARD(audit_insert(c, id, now, actor, actions[stt], pstore_provider_status_name(stt)));
    GUARD(sq_commit(c));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int provider_audit(pstore *base, const char *id, pstore_audit_fn fn, void *ctx)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc, r;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(prep(c,
               id ? "SELECT seq, provider, t, actor, action, detail FROM provider_audit "
                    "WHERE provider = ?1 ORDER BY seq"
                  : "SELECT seq, provider, t, actor, action, detail FROM provider_audit "
                    "ORDER BY seq",
               &st));
    if (id)
        GUARD(bt(st, 1, id));
    while ((r = row(st)) == 1) {
        pstore_audit_entry e = {
            .seq = (uint64_t)sqlite3_column_int64(st, 0),
            .provider = (const char *)sqlite3_column_text(st, 1),
            .t = sqlite3_column_int64(st, 2),
            .actor = (const char *)sqlite3_column_text(st, 3),
            .action = (const char *)sqlite3_column_text(st, 4),
            .detail = (const char *)sqlite3_column_text(st, 5),
        };
        ENSURE(e.provider && e.actor && e.action && e.detail, PARLEY_ERR_STORE_CORRUPT);
        GUARD(fn(ctx, &e));
    }
    GUARD(r);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* ---- consent, inbox ------------------------------------------------------- */

/* A single write outside any explicit transaction (autocommit). */
static int write1(pstore *base, const char *sql, const char *a, const char *b, int64_t x, int64_t y,
                  int nints)
{
    sq_conn *c = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    rc = exec1(c, sql, a, b, x, y, nints);
out:
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

/* Read one integer: *v keeps its default when there is no row. */
static int read1(pstore *base, const char *sql, const char *a, const char *b, int64_t *v)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc, r;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(prep(c, sql, &st));
    GUARD(bt(st, 1, a));
    if (b)
        GUARD(bt(st, 2, b));
    GUARD(r = row(st));
    if (r == 1)
        *v = sqlite3_column_int64(st, 0);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int consent_set(pstore *base, const char *user, const char *provider, int enabled,
                       int64_t now)
{
    return write1(base,
                  "INSERT INTO consent(user, provider, enabled, t) VALUES(?1, ?2, ?3, ?4) "
                  "ON CONFLICT(user, provider) DO UPDATE SET enabled = ?3, t = ?4",
                  user, provider, enabled ? 1 : 0, now, 2);
}

static int consent_get(pstore *base, const char *user, const char *provider, int *enabled)
{
    int64_t v = 0;
    int rc = read1(base, "SELECT enabled FROM consent WHERE user = ?1 AND provider = ?2", user,
                   provider, &v);
    *enabled = v != 0;
    return rc;
}

static int inbox_set(pstore *base, const char *user, pstore_inbox_mode mode)
{
    return write1(base,
                  "INSERT INTO inbox_mode(user, mode) VALUES(?1, ?2) "
                  "ON CONFLICT(user) DO UPDATE SET mode = ?2",
                  user, NULL, (int64_t)mode, 0, 1);
}

static int inbox_get(pstore *base, const char *user, pstore_inbox_mode *mode)
{
    int64_t v = PSTORE_INBOX_SEPARATE;
    int rc = read1(base, "SELECT mode FROM inbox_mode WHERE user = ?1", user, NULL, &v);
    if (rc == PARLEY_OK && v != PSTORE_INBOX_SEPARATE && v != PSTORE_INBOX_COMBINED)
        return PARLEY_ERR_STORE_CORRUPT;
    *mode = (pstore_inbox_mode)v;
    return rc;
}

/* ---- requests, blocks ---------------------------------------------------- */

static int request_set(pstore *base, const char *user, const char *peer, pstore_request_state stt,
                       int64_t now)
{
    sq_conn *c = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    if (stt == PSTORE_REQUEST_NONE) {
        GUARD(exec1(c, "DELETE FROM message_requests WHERE user = ?1 AND peer = ?2", user, peer, 0,
                    0, 0));
    } else {
        GUARD(exec1(c,
                    "INSERT INTO message_requests(user, peer, state, t) VALUES(?1, ?2, ?3, ?4) "
                    "ON CONFLICT(user, peer) DO UPDATE SET state = ?3, t = ?4",
                    user, peer, (int64_t)stt, now, 2));
    }
    /* Declining blocks (issue 5, "Consent"), in the same transaction. */
    if (stt == PSTORE_REQUEST_DECLINED)
        GUARD(exec1(c, "INSERT OR IGNORE INTO blocks(blocker, blocked, t) VALUES(?1, ?2, ?3)", user,
                    peer, now, 0, 1));
    GUARD(sq_commit(c));
    rc = PARLEY_OK;
out:
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int request_get(pstore *base, const char *user, const char *peer, pstore_request_state *stt)
{
    int64_t v = PSTORE_REQUEST_NONE;
    int rc = read1(base, "SELECT state FROM message_requests WHERE user = ?1 AND peer = ?2", user,
                   peer, &v);
    if (rc == PARLEY_OK && (v < PSTORE_REQUEST_NONE || v > PSTORE_REQUEST_DECLINED))
        return PARLEY_ERR_STORE_CORRUPT;
    *stt = (pstore_request_state)v;
    return rc;
}

static int request_list(pstore *base, const char *user, pstore_request_state stt,
                        pstore_request_fn fn, void *ctx)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc, r;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(prep(c,
               "SELECT peer, t FROM message_requests WHERE user = ?1 AND state = ?2 "
               "ORDER BY t, peer",
               &st));
    GUARD(bt(st, 1, user));
    GUARD(bi(st, 2, (int64_t)stt));
    while ((r = row(st)) == 1) {
        pstore_request q = {.peer = (const char *)sqlite3_column_text(st, 0),
                            .state = stt,
                            .t = sqlite3_column_int64(st, 1)};
        ENSURE(q.peer != NULL, PARLEY_ERR_STORE_CORRUPT);
        GUARD(fn(ctx, &q));
    }
    GUARD(r);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int block_set(pstore *base, const char *blocker, const char *blocked, int on, int64_t now)
{
    if (on)
        return write1(base, "INSERT OR IGNORE INTO blocks(blocker, blocked, t) VALUES(?1, ?2, ?3)",
                      blocker, blocked, now, 0, 1);
    return write1(base, "DELETE FROM blocks WHERE blocker = ?1 AND blocked = ?2", blocker, blocked,
                  0, 0, 0);
}

static int block_get(pstore *base, const char *blocker, const char *blocked, int *on)
{
    int64_t v = 0;
    int rc = read1(base, "SELECT 1 FROM blocks WHERE blocker = ?1 AND blocked = ?2", blocker,
                   blocked, &v);
    *on = v != 0;
    return rc;
}

/* ---- reports --------------------------------------------------------------- */

static int report_add(pstore *base, const pstore_report *r, uint64_t *id)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(sq_begin(c));
    GUARD(prep(c,
               "INSERT INTO reports(reporter, reported, reason, t, status) "
               "VALUES(?1, ?2, ?3, ?4, ?5)",
               &st));
    GUARD(bt(st, 1, r->reporter));
    GUARD(bt(st, 2, r->reported));
    GUARD(bt(st, 3, r->reason ? r->reason : ""));
    GUARD(bi(st, 4, r->t));
    GUARD(bi(st, 5, PSTORE_REPORT_OPEN));
    GUARD(done(st));
    sqlite3_finalize(st);
    st = NULL;
    int64_t rid = sqlite3_last_insert_rowid(c->db);
    for (size_t i = 0; i < r->msg_count; i++) {
        const pstore_report_msg *m = &r->msgs[i];
        GUARD(prep(c,
                   "INSERT INTO report_messages(report, pos, msg_id, sent, body) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)",
                   &st));
        GUARD(bi(st, 1, rid));
        GUARD(bi(st, 2, (int64_t)i));
        GUARD(bt(st, 3, m->msg_id));
        GUARD(bi(st, 4, m->sent));
        GUARD(bb(st, 5, m->body, m->body_len));
        GUARD(done(st));
        sqlite3_finalize(st);
        st = NULL;
    }
    GUARD(sq_commit(c));
    *id = (uint64_t)rid;
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static void free_msgs(pstore_report_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((void *)m[i].msg_id);
        free((void *)m[i].body);
    }
}

static int report_list(pstore *base, int status, pstore_report_fn fn, void *ctx)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL, *ms = NULL;
    int rc, r, mr;
    pstore_report_msg msgs[PSTORE_REPORT_MESSAGES_MAX];
    size_t nm = 0;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(prep(c,
               status ? "SELECT id, reporter, reported, reason, t, status FROM reports "
                        "WHERE status = ?1 ORDER BY id"
                      : "SELECT id, reporter, reported, reason, t, status FROM reports "
                        "WHERE ?1 = 0 ORDER BY id",
               &st));
    GUARD(bi(st, 1, status));
    GUARD(prep(c, "SELECT msg_id, sent, body FROM report_messages WHERE report = ?1 ORDER BY pos",
               &ms));
    while ((r = row(st)) == 1) {
        int64_t rid = sqlite3_column_int64(st, 0);
        int64_t rs = sqlite3_column_int64(st, 5);
        ENSURE(rs >= PSTORE_REPORT_OPEN && rs <= PSTORE_REPORT_DISMISSED, PARLEY_ERR_STORE_CORRUPT);
        sqlite3_reset(ms);
        GUARD(bi(ms, 1, rid));
        while ((mr = row(ms)) == 1) {
            ENSURE(nm < PSTORE_REPORT_MESSAGES_MAX, PARLEY_ERR_STORE_CORRUPT);
            const unsigned char *mid = sqlite3_column_text(ms, 0);
            int bl = sqlite3_column_bytes(ms, 2);
            ENSURE(mid && bl >= 0 && bl <= PSTORE_REPORT_MESSAGE_MAX, PARLEY_ERR_STORE_CORRUPT);
            msgs[nm].msg_id = strdup((const char *)mid);
            uint8_t *body = malloc((size_t)bl + 1);
            msgs[nm].body = body;
            msgs[nm].body_len = (size_t)bl;
            msgs[nm].sent = sqlite3_column_int64(ms, 1);
            nm++;
            ENSURE(msgs[nm - 1].msg_id && body, PARLEY_ERR_NOMEM);
            if (bl > 0)
                memcpy(body, sqlite3_column_blob(ms, 2), (size_t)bl);
        }
        GUARD(mr);
        pstore_report rep = {.id = (uint64_t)rid,
                             .reporter = (const char *)sqlite3_column_text(st, 1),
                             .reported = (const char *)sqlite3_column_text(st, 2),
                             .reason = (const char *)sqlite3_column_text(st, 3),
                             .t = sqlite3_column_int64(st, 4),
                             .status = (pstore_report_status)rs,
                             .msgs = msgs,
                             .msg_count = nm};
        ENSURE(rep.reporter && rep.reported && rep.reason, PARLEY_ERR_STORE_CORRUPT);
        GUARD(fn(ctx, &rep));
        free_msgs(msgs, nm);
        nm = 0;
    }
    GUARD(r);
    rc = PARLEY_OK;
out:
    free_msgs(msgs, nm);
    sqlite3_finalize(ms);
    sqlite3_finalize(st);
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

static int report_set_status(pstore *base, uint64_t id, pstore_report_status stt)
{
    sq_conn *c = NULL;
    int rc;
    GUARD(sq_acquire(SQ(base), &c));
    GUARD(exec1(c, "UPDATE reports SET status = ?1 WHERE id = ?2", NULL, NULL, (int64_t)stt,
                (int64_t)id, 2));
    ENSURE(sqlite3_changes(c->db) == 1, PARLEY_ERR_NOT_FOUND);
    rc = PARLEY_OK;
out:
    if (c)
        sq_release(SQ(base), c);
    return rc;
}

const pstore_interop_ops sq_interop_ops = {
    .provider_put = provider_put,
    .provider_get = provider_get,
    .provider_by_domain = provider_by_domain,
    .provider_list = provider_list,
    .provider_set_status = provider_set_status,
    .provider_audit = provider_audit,
    .consent_set = consent_set,
    .consent_get = consent_get,
    .inbox_set = inbox_set,
    .inbox_get = inbox_get,
    .request_set = request_set,
    .request_get = request_get,
    .request_list = request_list,
    .block_set = block_set,
    .block_get = block_get,
    .report_add = report_add,
    .report_list = report_list,
    .report_set_status = report_set_status,
};
