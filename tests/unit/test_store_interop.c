/* The store's interop tables: providers and audit, consent, inbox mode,
 * message requests, blocks, reports; migration from schema version 1. */
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "interop/trust.h"
#include "store/interop.h"
#include "store/store.h"

static char dir[] = "/tmp/parley-store-interop-XXXXXX";
static char path[256];

static pstore *open_store(const char *name)
{
    pstore *s = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (pstore_open_sqlite(&s, path, NULL) != PARLEY_OK)
        return NULL;
    return s;
}

static void birdy(pstore_provider *p)
{
    memset(p, 0, sizeof *p);
    strcpy(p->id, "birdy");
    strcpy(p->name, "Birdy Messenger");
    strcpy(p->domains[0], "birdy.example");
    strcpy(p->domains[1], "birdy.test");
    p->domain_count = 2;
    p->keys[0].key_id = 1;
    memset(p->keys[0].pub, 0xaa, 32);
    p->key_count = 1;
    strcpy(p->push_url, "http://127.0.0.1:8081/v1/push");
    strcpy(p->verify_url, "http://127.0.0.1:8081/v1/verify");
    strcpy(p->media_hosts[0], "media.birdy.example");
    p->media_host_count = 1;
    p->status = PSTORE_PROVIDER_ACTIVE;
    p->agreement_date = 1767225600;
}

typedef struct {
    int n;
    char actions[16][16];
    char actors[16][32];
} audit_log;

static int audit_cb(void *ctx, const pstore_audit_entry *e)
{
    audit_log *l = ctx;
    if (l->n < 16) {
        snprintf(l->actions[l->n], sizeof l->actions[0], "%s", e->action);
        snprintf(l->actors[l->n], sizeof l->actors[0], "%s", e->actor);
    }
    l->n++;
    return 0;
}

static void test_providers(pstore *s)
{
    pstore_provider p, g;
    char ids[4][PSTORE_PROVIDER_ID_MAX + 1];
    size_t n;
    birdy(&p);
    CHECK_RC(pstore_provider_add(s, &p, "op-alice", 100), PARLEY_OK);
    CHECK_RC(pstore_provider_add(s, &p, "op-alice", 101), PARLEY_ERR_STORE_EXISTS);
    CHECK_RC(pstore_provider_get(s, "birdy", &g), PARLEY_OK);
    CHECK(strcmp(g.name, "Birdy Messenger") == 0 && g.domain_count == 2);
    CHECK(strcmp(g.domains[1], "birdy.test") == 0);
    CHECK(g.key_count == 1 && g.keys[0].key_id == 1 && g.keys[0].pub[31] == 0xaa);
    CHECK(g.keys[0].added == 100 && !g.keys[0].retired);
    CHECK(strcmp(g.protocol, "signal") == 0); /* the default */
    CHECK(g.status == PSTORE_PROVIDER_ACTIVE && g.created == 100 && g.updated == 100);
    CHECK(strcmp(g.media_hosts[0], "media.birdy.example") == 0 && g.media_host_count == 1);
    CHECK(g.agreement_date == 1767225600);
    CHECK_RC(pstore_provider_by_domain(s, "birdy.test", &g), PARLEY_OK);
    CHECK(strcmp(g.id, "birdy") == 0);
    CHECK_RC(pstore_provider_by_domain(s, "gk.example", &g), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_provider_get(s, "nobody", &g), PARLEY_ERR_NOT_FOUND);

    /* a second provider cannot take a domain the first holds, and the
     * failed add leaves nothing behind */
    pstore_provider t;
    birdy(&t);
    strcpy(t.id, "tweety");
    strcpy(t.domains[0], "tweety.example");
    CHECK_RC(pstore_provider_add(s, &t, "op-alice", 102), PARLEY_ERR_STORE_EXISTS);
    CHECK_RC(pstore_provider_get(s, "tweety", &g), PARLEY_ERR_NOT_FOUND);
    t.domain_count = 1;
    CHECK_RC(pstore_provider_add(s, &t, "op-alice", 102), PARLEY_OK);
    CHECK_RC(pstore_provider_list(s, ids, 4, &n), PARLEY_OK);
    CHECK(n == 2 && strcmp(ids[0], "birdy") == 0 && strcmp(ids[1], "tweety") == 0);
    CHECK_RC(pstore_provider_list(s, ids, 1, &n), PARLEY_ERR_BUFFER);

    /* another protocol only with evidence */
    birdy(&p);
    strcpy(p.protocol, "mls");
    CHECK_RC(pstore_provider_update(s, &p, "op-bob", 103), PARLEY_ERR_INVALID_ARG);
    strcpy(p.evidence, "https://audit.example/report-2026-04.pdf");
    CHECK_RC(pstore_provider_update(s, &p, "op-bob", 103), PARLEY_OK);
    CHECK_RC(pstore_provider_get(s, "birdy", &g), PARLEY_OK);
    CHECK(strcmp(g.protocol, "mls") == 0 && g.updated == 103 && g.created == 100);
    /* status changes only through set_status */
    p.status = PSTORE_PROVIDER_SUSPENDED;
    CHECK_RC(pstore_provider_update(s, &p, "op-bob", 104), PARLEY_ERR_INVALID_ARG);
    strcpy(p.id, "ghost");
    p.status = PSTORE_PROVIDER_ACTIVE;
    CHECK_RC(pstore_provider_update(s, &p, "op-bob", 104), PARLEY_ERR_NOT_FOUND);

    /* key rotation */
    uint8_t k2[32];
    memset(k2, 0xbb, sizeof k2);
    CHECK_RC(pstore_provider_key_add(s, "birdy", 2, k2, "op-bob", 105), PARLEY_OK);
    CHECK_RC(pstore_provider_key_add(s, "birdy", 2, k2, "op-bob", 105), PARLEY_ERR_STORE_EXISTS);
    CHECK_RC(pstore_provider_key_retire(s, "birdy", 1, "op-bob", 106), PARLEY_OK);
    CHECK_RC(pstore_provider_key_retire(s, "birdy", 9, "op-bob", 106), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_provider_get(s, "birdy", &g), PARLEY_OK);
    CHECK(g.key_count == 2 && g.keys[0].retired && !g.keys[1].retired && g.keys[1].added == 105);
    /* the verifier sees the active key only */
    pinterop_trust tr;
    pinterop_trust_from(&tr, &g, 86400, 60);
    CHECK(tr.trust.key_count == 1 && tr.trust.keys[0].key_id == 2 &&
          tr.trust.keys[0].pub[0] == 0xbb);
    CHECK(tr.trust.domain_count == 2 && strcmp(tr.trust.domains[1], "birdy.test") == 0);
    CHECK(strcmp(tr.trust.provider, "birdy") == 0 && tr.trust.skew == 60);

    /* suspend, resume, terminate; termination is final */
    CHECK_RC(pstore_provider_set_status(s, "birdy", PSTORE_PROVIDER_SUSPENDED, "op-carol", 107),
             PARLEY_OK);
    CHECK_RC(pstore_provider_get(s, "birdy", &g), PARLEY_OK);
    CHECK(g.status == PSTORE_PROVIDER_SUSPENDED);
    CHECK_RC(pstore_provider_set_status(s, "birdy", PSTORE_PROVIDER_ACTIVE, "op-carol", 108),
             PARLEY_OK);
    CHECK_RC(pstore_provider_set_status(s, "tweety", PSTORE_PROVIDER_TERMINATED, "op-carol", 109),
             PARLEY_OK);
    CHECK_RC(pstore_provider_set_status(s, "tweety", PSTORE_PROVIDER_ACTIVE, "op-carol", 110),
             PARLEY_ERR_STATE);
    CHECK_RC(pstore_provider_set_status(s, "nobody", PSTORE_PROVIDER_ACTIVE, "op-carol", 110),
             PARLEY_ERR_NOT_FOUND);

    /* every change is in the audit log, in order, with its actor */
    audit_log l = {0};
    CHECK_RC(pstore_provider_audit(s, "birdy", audit_cb, &l), PARLEY_OK);
    CHECK(l.n == 6);
    const char *want[] = {"add", "update", "key-add", "key-retire", "suspend", "resume"};
    for (int i = 0; i < 6 && i < l.n; i++)
        CHECK(strcmp(l.actions[i], want[i]) == 0);
    CHECK(strcmp(l.actors[0], "op-alice") == 0 && strcmp(l.actors[4], "op-carol") == 0);
    audit_log all = {0};
    CHECK_RC(pstore_provider_audit(s, NULL, audit_cb, &all), PARLEY_OK);
    CHECK(all.n == 8);

    /* argument checks */
    birdy(&p);
    strcpy(p.id, "Bad Id");
    CHECK_RC(pstore_provider_add(s, &p, "op", 1), PARLEY_ERR_INVALID_ARG);
    birdy(&p);
    strcpy(p.id, "x1");
    p.domain_count = 0;
    CHECK_RC(pstore_provider_add(s, &p, "op", 1), PARLEY_ERR_INVALID_ARG);
    birdy(&p);
    strcpy(p.id, "x1");
    strcpy(p.domains[1], "birdy.example"); /* duplicate */
    CHECK_RC(pstore_provider_add(s, &p, "op", 1), PARLEY_ERR_INVALID_ARG);
    birdy(&p);
    strcpy(p.id, "x1");
    strcpy(p.domains[0], "x1.example");
    strcpy(p.domains[1], "x1.test");
    strcpy(p.push_url, "ftp://x");
    CHECK_RC(pstore_provider_add(s, &p, "op", 1), PARLEY_ERR_INVALID_ARG);
    strcpy(p.push_url, "");
    p.keys[1] = p.keys[0];
    p.key_count = 2; /* duplicate key id */
    CHECK_RC(pstore_provider_add(s, &p, "op", 1), PARLEY_ERR_INVALID_ARG);
    p.key_count = 1;
    CHECK_RC(pstore_provider_add(s, &p, "", 1), PARLEY_ERR_INVALID_ARG);
    CHECK_RC(pstore_provider_add(s, &p, "op", 1), PARLEY_OK);
    CHECK(strcmp(pstore_provider_status_name(PSTORE_PROVIDER_TERMINATED), "terminated") == 0);
}

static void test_consent_requests_blocks(pstore *s)
{
    int on = -1;
    pstore_inbox_mode m;
    pstore_request_state st;
    CHECK_RC(pstore_consent_get(s, "alice@gk.example", "birdy", &on), PARLEY_OK);
    CHECK(on == 0); /* off until enabled */
    CHECK_RC(pstore_consent_set(s, "alice@gk.example", "birdy", 1, 200), PARLEY_OK);
    CHECK_RC(pstore_consent_get(s, "alice@gk.example", "birdy", &on), PARLEY_OK);
    CHECK(on == 1);
    CHECK_RC(pstore_consent_get(s, "alice@gk.example", "tweety", &on), PARLEY_OK);
    CHECK(on == 0);
    CHECK_RC(pstore_consent_set(s, "alice@gk.example", "birdy", 0, 201), PARLEY_OK);
    CHECK_RC(pstore_consent_get(s, "alice@gk.example", "birdy", &on), PARLEY_OK);
    CHECK(on == 0);
    CHECK_RC(pstore_consent_set(s, "alice", "birdy", 1, 200), PARLEY_ERR_INVALID_ARG);
    CHECK_RC(pstore_consent_set(s, "alice@gk.example", "BIRDY", 1, 200), PARLEY_ERR_INVALID_ARG);

    CHECK_RC(pstore_inbox_get(s, "alice@gk.example", &m), PARLEY_OK);
    CHECK(m == PSTORE_INBOX_SEPARATE);
    CHECK_RC(pstore_inbox_set(s, "alice@gk.example", PSTORE_INBOX_COMBINED), PARLEY_OK);
    CHECK_RC(pstore_inbox_get(s, "alice@gk.example", &m), PARLEY_OK);
    CHECK(m == PSTORE_INBOX_COMBINED);
    CHECK_RC(pstore_inbox_set(s, "alice@gk.example", (pstore_inbox_mode)7), PARLEY_ERR_INVALID_ARG);

    const char *a = "alice@gk.example", *b = "bob@birdy.example", *e = "eve@birdy.example";
    CHECK_RC(pstore_request_get(s, a, b, &st), PARLEY_OK);
    CHECK(st == PSTORE_REQUEST_NONE);
    CHECK_RC(pstore_request_set(s, a, b, PSTORE_REQUEST_PENDING, 300), PARLEY_OK);
    CHECK_RC(pstore_request_set(s, a, e, PSTORE_REQUEST_PENDING, 301), PARLEY_OK);
    CHECK_RC(pstore_request_get(s, a, b, &st), PARLEY_OK);
    CHECK(st == PSTORE_REQUEST_PENDING);
    CHECK_RC(pstore_request_set(s, a, b, PSTORE_REQUEST_ACCEPTED, 302), PARLEY_OK);
    CHECK_RC(pstore_request_get(s, a, b, &st), PARLEY_OK);
    CHECK(st == PSTORE_REQUEST_ACCEPTED);
    /* declining blocks */
    CHECK_RC(pstore_block_get(s, a, e, &on), PARLEY_OK);
    CHECK(on == 0);
    CHECK_RC(pstore_request_set(s, a, e, PSTORE_REQUEST_DECLINED, 303), PARLEY_OK);
    CHECK_RC(pstore_block_get(s, a, e, &on), PARLEY_OK);
    CHECK(on == 1);
    CHECK_RC(pstore_block_get(s, e, a, &on), PARLEY_OK);
    CHECK(on == 0); /* a block has a direction */
    CHECK_RC(pstore_request_set(s, a, a, PSTORE_REQUEST_PENDING, 300), PARLEY_ERR_INVALID_ARG);

    /* blocks either side, and unblock */
    CHECK_RC(pstore_block_set(s, b, a, 1, 400), PARLEY_OK);
    CHECK_RC(pstore_block_set(s, b, a, 1, 401), PARLEY_OK); /* idempotent */
    CHECK_RC(pstore_block_get(s, b, a, &on), PARLEY_OK);
    CHECK(on == 1);
    CHECK_RC(pstore_block_set(s, b, a, 0, 402), PARLEY_OK);
    CHECK_RC(pstore_block_get(s, b, a, &on), PARLEY_OK);
    CHECK(on == 0);
}

typedef struct {
    int n;
    uint64_t ids[8];
    size_t msgs[8];
    char body0[64];
    int status[8];
} rep_log;

static int rep_cb(void *ctx, const pstore_report *r)
{
    rep_log *l = ctx;
    if (l->n < 8) {
        l->ids[l->n] = r->id;
        l->msgs[l->n] = r->msg_count;
        l->status[l->n] = r->status;
        if (r->msg_count > 0 && l->n == 0)
            snprintf(l->body0, sizeof l->body0, "%.*s", (int)r->msgs[0].body_len,
                     (const char *)r->msgs[0].body);
    }
    l->n++;
    return 0;
}

static int stop_cb(void *ctx, const pstore_report *r)
{
    (void)ctx;
    (void)r;
    return PARLEY_ERR_STATE;
}

static void test_reports(pstore *s)
{
    uint64_t id1 = 0, id2 = 0;
    pstore_report_msg m[2] = {
        {.msg_id = "m1", .sent = 500, .body = (const uint8_t *)"buy cheap stuff", .body_len = 15},
        {.msg_id = "m2", .sent = 501, .body = (const uint8_t *)"", .body_len = 0},
    };
    pstore_report r = {.reporter = "alice@gk.example",
                       .reported = "eve@birdy.example",
                       .reason = "spam",
                       .t = 600,
                       .msgs = m,
                       .msg_count = 2};
    CHECK_RC(pstore_report_add(s, &r, &id1), PARLEY_OK);
    r.msg_count = 0;
    r.reason = NULL;
    CHECK_RC(pstore_report_add(s, &r, &id2), PARLEY_OK);
    CHECK(id2 > id1);
    rep_log l = {0};
    CHECK_RC(pstore_report_list(s, PSTORE_REPORT_OPEN, rep_cb, &l), PARLEY_OK);
    CHECK(l.n == 2 && l.ids[0] == id1 && l.msgs[0] == 2 && l.msgs[1] == 0);
    CHECK(strcmp(l.body0, "buy cheap stuff") == 0);
    CHECK_RC(pstore_report_set_status(s, id1, PSTORE_REPORT_ACTIONED), PARLEY_OK);
    CHECK_RC(pstore_report_set_status(s, 9999, PSTORE_REPORT_ACTIONED), PARLEY_ERR_NOT_FOUND);
    memset(&l, 0, sizeof l);
    CHECK_RC(pstore_report_list(s, PSTORE_REPORT_OPEN, rep_cb, &l), PARLEY_OK);
    CHECK(l.n == 1 && l.ids[0] == id2);
    memset(&l, 0, sizeof l);
    CHECK_RC(pstore_report_list(s, 0, rep_cb, &l), PARLEY_OK);
    CHECK(l.n == 2 && l.status[0] == PSTORE_REPORT_ACTIONED);
    CHECK_RC(pstore_report_list(s, 0, stop_cb, NULL), PARLEY_ERR_STATE);
    /* bounds */
    pstore_report_msg many[PSTORE_REPORT_MESSAGES_MAX + 1];
    for (size_t i = 0; i < PSTORE_REPORT_MESSAGES_MAX + 1; i++)
        many[i] = m[0];
    r.msgs = many;
    r.msg_count = PSTORE_REPORT_MESSAGES_MAX + 1;
    CHECK_RC(pstore_report_add(s, &r, &id2), PARLEY_ERR_STORE_TOO_LARGE);
    r.msg_count = 1;
    many[0].body_len = PSTORE_REPORT_MESSAGE_MAX + 1;
    CHECK_RC(pstore_report_add(s, &r, &id2), PARLEY_ERR_STORE_TOO_LARGE);
    r.msg_count = 0;
    r.reported = r.reporter;
    CHECK_RC(pstore_report_add(s, &r, &id2), PARLEY_ERR_INVALID_ARG);
}

/* A database written by schema version 1 is migrated on open, keeping
 * its data. */
static void test_migration(void)
{
    char p1[300];
    sqlite3 *db;
    pstore *s;
    pstore_account acc;
    pstore_provider p;
    snprintf(p1, sizeof p1, "%s/v1.db", dir);
    CHECK(pstore_schema_version() == 2);
    CHECK(sqlite3_open(p1, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied INTEGER "
                       "NOT NULL DEFAULT 0);"
                       "INSERT INTO schema_version(version) VALUES(1);"
                       "CREATE TABLE accounts(address TEXT PRIMARY KEY, created INTEGER NOT NULL,"
                       " status INTEGER NOT NULL) WITHOUT ROWID;"
                       "INSERT INTO accounts VALUES('old@gk.example', 5, 1);",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    s = open_store("v1.db");
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK_RC(pstore_account_get(s, "old@gk.example", &acc), PARLEY_OK);
    birdy(&p);
    CHECK_RC(pstore_provider_add(s, &p, "op", 1), PARLEY_OK);
    pstore_close(s);
    CHECK(sqlite3_open(p1, &db) == SQLITE_OK);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &st, NULL) ==
          SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* reopening does not migrate again, and the data is still there */
    s = open_store("v1.db");
    CHECK(s != NULL);
    if (s) {
        CHECK_RC(pstore_provider_get(s, "birdy", &p), PARLEY_OK);
        pstore_close(s);
    }
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    pstore *s = open_store("main.db");
    CHECK(s != NULL);
    if (s) {
        test_providers(s);
        test_consent_requests_blocks(s);
        test_reports(s);
        pstore_close(s);
    }
    /* reopen: everything is durable */
    s = open_store("main.db");
    if (s) {
        int on = 0;
        pstore_provider g;
        CHECK_RC(pstore_block_get(s, "alice@gk.example", "eve@birdy.example", &on), PARLEY_OK);
        CHECK(on == 1);
        CHECK_RC(pstore_provider_get(s, "birdy", &g), PARLEY_OK);
        CHECK(g.key_count == 2);
        pstore_close(s);
    }
    test_migration();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_MAIN_END();
}
