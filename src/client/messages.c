/*
 * Messages (docs/protocol.md, "Messages"; docs/client.md, "Sending" and
 * "Receiving"): fan-out per device with the outbox as the durable point,
 * 409 refresh-and-retry, store-then-ack on receipt, dedupe by (sender
 * device, id), delivery receipts, prekey top-up and device-list signing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/engine_internal.h"
#include "crypto/crypto.h"
#include "parley/content.h"
#include "parley/xeddsa.h"
#include "util/safety.h"

/* Fault injection for the tests (docs/client.md, "Fault injection"). */
static int fault(const char *what)
{
    const char *f = getenv("PARLEY_FAULT");
    return f != NULL && strcmp(f, what) == 0;
}

static int exec_bind_text2(parley_client *c, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = NULL;
    int rc;
    ENSURE(sqlite3_prepare_v2(c->st.db, sql, -1, &st, NULL) == SQLITE_OK, PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- keys ---- */

int pcl_upload_keys(parley_client *c, int first, unsigned prekeys)
{
    parley_stanza *iq = NULL, *res = NULL, *keys, *e, *pks;
    parley_prekey_bundle b;
    char id[25], num[16];
    int rc, in_tx = 0;
    GUARD(pcl_iq_new(&iq, "set", "keys", &keys, id));
    if (first) {
        GUARD(parley_signal_bundle(c->sig, c->device, 0, &b));
        if (c->prekey_batch)
            prekeys = c->prekey_batch;
        GUARD(parley_stanza_add_child(keys, "identity", &e));
        GUARD(parley_stanza_set_bytes(e, b.identity_key, 33));
        GUARD(parley_stanza_add_child(keys, "registration", &e));
        snprintf(num, sizeof num, "%u", (unsigned)b.registration_id);
        GUARD(parley_stanza_set_text(e, num, strlen(num)));
        GUARD(parley_stanza_add_child(keys, "signed", &e));
        GUARD(parley_stanza_set_attr_u64(e, "id", b.signed_prekey_id));
        GUARD(pcl_attr_b64_set(e, "sig", b.signed_prekey_signature, 64));
        GUARD(parley_stanza_set_bytes(e, b.signed_prekey, 33));
    }
    if (prekeys > 0) {
        GUARD(parley_stanza_add_child(keys, "prekeys", &pks));
        /* One transaction: a hundred prekeys cost one sync, not a hundred. */
        GUARD(pcl_store_begin(&c->st));
        in_tx = 1;
        for (unsigned i = 0; i < prekeys; i++) {
            uint32_t pid;
            uint8_t pub[33];
            GUARD(parley_signal_new_prekey(c->sig, &pid, pub));
            GUARD(parley_stanza_add_child(pks, "pk", &e));
            GUARD(parley_stanza_set_attr_u64(e, "id", pid));
            GUARD(parley_stanza_set_bytes(e, pub, 33));
        }
        GUARD(pcl_store_commit(&c->st));
        in_tx = 0;
    }
    GUARD(pcl_iq(c, iq, id, &res));
    rc = PARLEY_OK;
out:
    if (in_tx)
        pcl_rollback(c);
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

/*
 * The primary signs the account's current devices (as the server lists
 * them, with their identity keys) under the next version and uploads it.
 */
int pcl_resign_list(parley_client *c)
{
    parley_stanza *iq = NULL, *res = NULL, *devs, *d;
    parley_device_list l;
    uint8_t *raw = NULL, sig[64], priv[32];
    size_t raw_len = 0;
    char id[25];
    uint64_t version = 0;
    int rc;
    ENSURE(c->device == 1, PARLEY_ERR_STATE);
    memset(&l, 0, sizeof l);
    GUARD(pcl_iq_new(&iq, "get", "devices", &devs, id));
    GUARD(parley_stanza_set_attr(devs, "user", c->user));
    GUARD(pcl_iq(c, iq, id, &res));
    parley_stanza_free(iq);
    iq = NULL;
    devs = parley_stanza_child(res, "devices");
    ENSURE(devs != NULL, PARLEY_ERR_DECODE);
    {
        parley_stanza *sg = parley_stanza_child(devs, "signed");
        uint32_t stored = 0;
        sqlite3_stmt *st = NULL;
        if (sg && parley_stanza_attr_u64(sg, "version", &version) != PARLEY_OK)
            version = 0;
        if (sqlite3_prepare_v2(c->st.db, "SELECT version FROM device_lists WHERE user=?", -1, &st,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, c->user, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW)
                stored = (uint32_t)sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        if (stored > version)
            version = stored;
        ENSURE(version < UINT32_MAX, PARLEY_ERR_STATE);
        l.version = (uint32_t)version + 1;
    }
    for (d = parley_stanza_child(devs, "device"); d; d = parley_stanza_next_named(d)) {
        uint64_t did = 0;
        size_t kl = 0, pos;
        uint8_t key[33];
        GUARD(parley_stanza_attr_u64(d, "id", &did));
        ENSURE(did >= 1 && did <= UINT32_MAX, PARLEY_ERR_DECODE);
        if (pcl_attr_b64_get(d, "identity", key, sizeof key, &kl) != PARLEY_OK || kl != 33)
            continue; /* linked but no keys yet: signed once it uploads them */
        ENSURE(l.count < PARLEY_CLIENT_MAX_DEVICES, PARLEY_ERR_CLIENT_DEVICES);
        /* insertion in id order */
        for (pos = l.count; pos > 0 && l.ids[pos - 1] > did; pos--) {
            l.ids[pos] = l.ids[pos - 1];
            memcpy(l.keys[pos], l.keys[pos - 1], 33);
        }
        ENSURE(pos == 0 || l.ids[pos - 1] != did, PARLEY_ERR_DECODE);
        l.ids[pos] = (uint32_t)did;
        memcpy(l.keys[pos], key, 33);
        l.count++;
    }
    GUARD(parley_device_list_encode(&l, c->user, &raw, &raw_len));
    parley_signal_identity_private(c->sig, priv);
    GUARD(parley_xeddsa_sign(sig, priv, raw, raw_len));
    GUARD(pcl_iq_new(&iq, "set", "devices", &devs, id));
    GUARD(parley_stanza_set_attr_u64(devs, "version", l.version));
    GUARD(pcl_attr_b64_set(devs, "sig", sig, sizeof sig));
    GUARD(parley_stanza_set_bytes(devs, raw, raw_len));
    parley_stanza_free(res);
    res = NULL;
    GUARD(pcl_iq(c, iq, id, &res));
    pcl_log(c, "signed device list version %u with %zu devices", (unsigned)l.version, l.count);
    {
        parley_device_list check;
        GUARD(pcl_fetch_list(c, c->user, &check));
    }
    rc = PARLEY_OK;
out:
    pc_wipe(priv, sizeof priv);
    free(raw);
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

/*
 * Signed-prekey rotation (as Signal clients do, weekly): a new signed
 * prekey under the next id becomes the one in bundles; the old one stays in
 * the store so that sessions started from it still complete.
 */
int pcl_rotate_signed_if_due(parley_client *c)
{
    parley_stanza *iq = NULL, *res = NULL, *keys, *e;
    parley_prekey_bundle b;
    uint32_t id = 1, made = 0, now = (uint32_t)(pcl_now_ms() / 1000);
    char qid[25];
    int rc;
    if (pcl_cfg_get_u32(&c->st, "signed_t", &made) != PARLEY_OK) {
        /* First look at this store: start the clock now. */
        return pcl_cfg_set_u32(&c->st, "signed_t", now);
    }
    if (now - made < PCL_SIGNED_PREKEY_AGE_S)
        return PARLEY_OK;
    if (pcl_cfg_get_u32(&c->st, "signed_id", &id) != PARLEY_OK)
        id = 1;
    id = id % 0xFFFFFEu + 1;
    GUARD(pcl_store_begin(&c->st));
    rc = parley_signal_new_signed_prekey(c->sig, id, pcl_now_ms());
    if (rc == PARLEY_OK)
        rc = pcl_cfg_set_u32(&c->st, "signed_id", id);
    if (rc == PARLEY_OK)
        rc = pcl_cfg_set_u32(&c->st, "signed_t", now);
    if (rc != PARLEY_OK) {
        pcl_rollback(c);
        goto out;
    }
    GUARD(pcl_store_commit(&c->st));
    GUARD(parley_signal_bundle(c->sig, c->device, 0, &b));
    GUARD(pcl_iq_new(&iq, "set", "keys", &keys, qid));
    GUARD(parley_stanza_add_child(keys, "signed", &e));
    GUARD(parley_stanza_set_attr_u64(e, "id", b.signed_prekey_id));
    GUARD(pcl_attr_b64_set(e, "sig", b.signed_prekey_signature, 64));
    GUARD(parley_stanza_set_bytes(e, b.signed_prekey, 33));
    GUARD(pcl_iq(c, iq, qid, &res));
    pcl_log(c, "rotated the signed prekey to id %u", (unsigned)id);
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

/* In daemon mode: ask for the presence of every contact while connected
 * (protocol.md, "Receipts, typing, presence"); best effort. */
int pcl_subscribe_contacts(parley_client *c)
{
    sqlite3_stmt *st = NULL;
    int rc = PARLEY_OK;
    if (sqlite3_prepare_v2(c->st.db, "SELECT user FROM contacts WHERE user != ?", -1, &st, NULL) !=
        SQLITE_OK)
        return PARLEY_ERR_STORE;
    sqlite3_bind_text(st, 1, c->user, -1, SQLITE_STATIC);
    while (rc == PARLEY_OK && sqlite3_step(st) == SQLITE_ROW) {
        parley_stanza *p = NULL;
        rc = parley_stanza_new(&p, "presence");
        if (rc == PARLEY_OK)
            rc = parley_stanza_set_attr(p, "type", "subscribe");
        if (rc == PARLEY_OK)
            rc = parley_stanza_set_attr(p, "to", (const char *)sqlite3_column_text(st, 0));
        if (rc == PARLEY_OK)
            rc = pcl_net_send(&c->net, p);
        parley_stanza_free(p);
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * The primary compares the server's device list with the signed one and
 * signs anew when they differ: a device linked or removed while the primary
 * was offline missed its notification (they are not queued).
 */
int pcl_resign_if_needed(parley_client *c)
{
    parley_stanza *iq = NULL, *res = NULL, *devs, *d, *sg;
    parley_device_list l;
    uint8_t raw[4096];
    size_t raw_len = 0, listed = 0;
    char id[25];
    int rc, same = 1;
    if (c->device != 1)
        return PARLEY_OK;
    GUARD(pcl_iq_new(&iq, "get", "devices", &devs, id));
    GUARD(parley_stanza_set_attr(devs, "user", c->user));
    GUARD(pcl_iq(c, iq, id, &res));
    devs = parley_stanza_child(res, "devices");
    ENSURE(devs != NULL, PARLEY_ERR_DECODE);
    sg = parley_stanza_child(devs, "signed");
    if (!sg || parley_stanza_get_bytes(sg, raw, sizeof raw, &raw_len) != PARLEY_OK ||
        parley_device_list_verify(&l, c->user, raw, raw_len, NULL) != PARLEY_OK) {
        same = 0;
    } else {
        for (d = parley_stanza_child(devs, "device"); d && same; d = parley_stanza_next_named(d)) {
            uint64_t did = 0;
            uint8_t key[33];
            size_t kl = 0, i;
            if (parley_stanza_attr_u64(d, "id", &did) != PARLEY_OK)
                continue;
            if (pcl_attr_b64_get(d, "identity", key, sizeof key, &kl) != PARLEY_OK || kl != 33)
                continue;
            listed++;
            for (i = 0; i < l.count; i++)
                if (l.ids[i] == did && memcmp(l.keys[i], key, 33) == 0)
                    break;
            same = i < l.count;
        }
        same = same && listed == l.count;
    }
    if (!same)
        GUARD(pcl_resign_list(c));
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

/* ---- sending ---- */

static int device_fresh(parley_client *c, const char *user, uint32_t dev)
{
    sqlite3_stmt *st = NULL;
    int fresh = 0;
    if (sqlite3_prepare_v2(c->st.db, "SELECT fresh FROM devices WHERE user=? AND device=?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, dev);
        if (sqlite3_step(st) == SQLITE_ROW)
            fresh = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return fresh;
}

static int parse_bundle(const parley_stanza *bd, parley_prekey_bundle *b)
{
    parley_stanza *e;
    uint64_t v = 0;
    size_t n = 0;
    int rc;
    memset(b, 0, sizeof *b);
    GUARD(parley_stanza_attr_u64(bd, "device", &v));
    ENSURE(v >= 1 && v <= UINT32_MAX, PARLEY_ERR_DECODE);
    b->device_id = (uint32_t)v;
    GUARD(parley_stanza_attr_u64(bd, "registration", &v));
    ENSURE(v <= UINT32_MAX, PARLEY_ERR_DECODE);
    b->registration_id = (uint32_t)v;
    e = parley_stanza_child(bd, "identity");
    ENSURE(e != NULL, PARLEY_ERR_DECODE);
    GUARD(parley_stanza_get_bytes(e, b->identity_key, 33, &n));
    ENSURE(n == 33, PARLEY_ERR_DECODE);
    e = parley_stanza_child(bd, "signed");
    ENSURE(e != NULL, PARLEY_ERR_DECODE);
    GUARD(parley_stanza_attr_u64(e, "id", &v));
    ENSURE(v <= UINT32_MAX, PARLEY_ERR_DECODE);
    b->signed_prekey_id = (uint32_t)v;
    GUARD(pcl_attr_b64_get(e, "sig", b->signed_prekey_signature, 64, &n));
    ENSURE(n == 64, PARLEY_ERR_DECODE);
    GUARD(parley_stanza_get_bytes(e, b->signed_prekey, 33, &n));
    ENSURE(n == 33, PARLEY_ERR_DECODE);
    e = parley_stanza_child(bd, "pk");
    if (e) {
        GUARD(parley_stanza_attr_u64(e, "id", &v));
        ENSURE(v <= UINT32_MAX, PARLEY_ERR_DECODE);
        b->prekey_id = (uint32_t)v;
        GUARD(parley_stanza_get_bytes(e, b->prekey, 33, &n));
        ENSURE(n == 33, PARLEY_ERR_DECODE);
        b->has_prekey = 1;
    }
    rc = PARLEY_OK;
out:
    return rc;
}

/* Starts sessions (X3DH) with the listed devices that have none, or whose
 * key changed, from freshly fetched bundles. */
static int ensure_sessions(parley_client *c, const char *user, const parley_device_list *l)
{
    parley_stanza *iq = NULL, *res = NULL, *q, *bd;
    int need[PARLEY_CLIENT_MAX_DEVICES];
    size_t needed = 0;
    char id[25], addr[PARLEY_CLIENT_ADDR_MAX + 16];
    int rc;
    int self = strcmp(user, c->user) == 0;
    for (size_t i = 0; i < l->count; i++) {
        need[i] = 0;
        if (self && l->ids[i] == c->device)
            continue;
        snprintf(addr, sizeof addr, "%s/%u", user, (unsigned)l->ids[i]);
        rc = parley_signal_has_session(c->sig, addr, l->ids[i]);
        GUARD(rc);
        if (rc == 0 || device_fresh(c, user, l->ids[i])) {
            need[i] = 1;
            needed++;
        }
    }
    if (needed == 0)
        return PARLEY_OK;
    GUARD(pcl_iq_new(&iq, "get", "bundles", &q, id));
    GUARD(parley_stanza_set_attr(q, "user", user));
    GUARD(pcl_iq(c, iq, id, &res));
    q = parley_stanza_child(res, "bundles");
    ENSURE(q != NULL, PARLEY_ERR_DECODE);
    for (bd = parley_stanza_child(q, "bundle"); bd; bd = parley_stanza_next_named(bd)) {
        parley_prekey_bundle b;
        GUARD(parse_bundle(bd, &b));
        for (size_t i = 0; i < l->count; i++) {
            if (!need[i] || l->ids[i] != b.device_id)
                continue;
            /* The bundle must carry the key the signed list vouches for. */
            ENSURE(memcmp(b.identity_key, l->keys[i], 33) == 0, PARLEY_ERR_UNTRUSTED_IDENTITY);
            snprintf(addr, sizeof addr, "%s/%u", user, (unsigned)b.device_id);
            GUARD(parley_signal_start(c->sig, addr, b.device_id, &b));
            sqlite3_stmt *st = NULL;
            if (sqlite3_prepare_v2(c->st.db, "UPDATE devices SET fresh=0 WHERE user=? AND device=?",
                                   -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 2, b.device_id);
                (void)sqlite3_step(st);
            }
            sqlite3_finalize(st);
            need[i] = 0;
            needed--;
        }
    }
    /* A device without a bundle cannot be addressed; the server's 409 tells. */
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

static int add_copies(parley_client *c, parley_stanza *parts, const char *user,
                      const parley_device_list *l, const uint8_t *pt, size_t n, size_t *count)
{
    uint8_t *ct = NULL;
    size_t ct_max = n + PARLEY_SIGNAL_OVERHEAD, ct_len = 0;
    char addr[PARLEY_CLIENT_ADDR_MAX + 16];
    int rc;
    int self = strcmp(user, c->user) == 0;
    ct = malloc(ct_max);
    ENSURE(ct != NULL, PARLEY_ERR_NOMEM);
    for (size_t i = 0; i < l->count; i++) {
        parley_stanza *to, *enc;
        int type = 0;
        if (self && l->ids[i] == c->device)
            continue;
        snprintf(addr, sizeof addr, "%s/%u", user, (unsigned)l->ids[i]);
        rc = parley_signal_has_session(c->sig, addr, l->ids[i]);
        GUARD(rc);
        if (rc == 0)
            continue; /* no bundle for it: the server will name it missing */
        GUARD(parley_signal_encrypt(c->sig, addr, l->ids[i], pt, n, ct, ct_max, &ct_len, &type));
        GUARD(parley_stanza_add_child(parts, "to", &to));
        GUARD(parley_stanza_set_attr(to, "jid", addr));
        GUARD(parley_stanza_add_child(to, "enc", &enc));
        GUARD(parley_stanza_set_attr(enc, "v", "2"));
        GUARD(parley_stanza_set_attr(enc, "type", type == PARLEY_MSG_PREKEY ? "pkmsg" : "msg"));
        GUARD(parley_stanza_set_bytes(enc, ct, ct_len));
        (*count)++;
    }
    rc = PARLEY_OK;
out:
    free(ct);
    return rc;
}

static int outbox_delete(parley_client *c, const char *id, const char *state)
{
    int rc;
    GUARD(exec_bind_text2(c, "DELETE FROM outbox WHERE id=?", id, NULL));
    if (state)
        GUARD(exec_bind_text2(c, "UPDATE messages SET state=?2 WHERE id=?1 AND outgoing=1", id,
                              state));
    rc = PARLEY_OK;
out:
    return rc;
}

/*
 * Encrypts and queues (first time), sends and waits for the ack; on 409
 * the device lists are fetched again and the message re-encrypted for the
 * current devices under the same id (protocol.md, "Messages").
 */
static int deliver(parley_client *c, const char *id, const char *peer, const uint8_t *content,
                   size_t clen, const uint8_t *sync, size_t slen, const uint8_t *stored,
                   size_t stored_len, const char *text, uint64_t t)
{
    parley_stanza *msg = NULL, *ack = NULL, *parts;
    uint8_t *bytes = NULL, *sealed_c = NULL, *sealed_s = NULL, *sealed_t = NULL;
    size_t blen = 0, sc_len = 0, ss_len = 0, st_len = 0;
    int rc, in_tx = 0;
    int queued = stored != NULL;
    for (int attempt = 0; attempt <= PCL_SEND_RETRIES; attempt++) {
        if (attempt > 0 || !stored) {
            parley_device_list rl, ol;
            size_t count = 0;
            /* First try: the cached lists; after a 409: fresh ones. */
            rc = attempt == 0 ? pcl_cached_list(c, peer, &rl) : PARLEY_ERR_NOT_FOUND;
            if (rc == PARLEY_ERR_NOT_FOUND)
                rc = pcl_fetch_list(c, peer, &rl);
            if (rc == PARLEY_OK) {
                rc = attempt == 0 ? pcl_cached_list(c, c->user, &ol) : PARLEY_ERR_NOT_FOUND;
                if (rc == PARLEY_ERR_NOT_FOUND)
                    rc = pcl_fetch_list(c, c->user, &ol);
            }
            if (rc == PARLEY_OK)
                rc = ensure_sessions(c, peer, &rl);
            if (rc == PARLEY_OK)
                rc = ensure_sessions(c, c->user, &ol);
            /* A changed identity found on a retry fails the message the
             * user was just told is blocked: the outbox must not send it
             * behind the user's back once they verify. */
            if (rc == PARLEY_ERR_UNTRUSTED_IDENTITY && queued)
                GUARD(outbox_delete(c, id, "failed"));
            GUARD(rc);
            parley_stanza_free(msg);
            msg = NULL;
            GUARD(parley_stanza_new(&msg, "message"));
            GUARD(parley_stanza_set_attr(msg, "id", id));
            GUARD(parley_stanza_set_attr(msg, "to", peer));
            GUARD(parley_stanza_set_attr_u64(msg, "t", t));
            GUARD(parley_stanza_add_child(msg, "participants", &parts));
            GUARD(pcl_store_begin(&c->st));
            in_tx = 1;
            GUARD(add_copies(c, parts, peer, &rl, content, clen, &count));
            GUARD(add_copies(c, parts, c->user, &ol, sync, slen, &count));
            ENSURE(count > 0, PARLEY_ERR_CLIENT_DEVICES);
            free(bytes);
            bytes = NULL;
            GUARD(parley_stanza_write_alloc(msg, &bytes, &blen));
            sqlite3_stmt *st = NULL;
            if (!queued) {
                GUARD(pcl_seal(&c->st, content, clen, &sealed_c, &sc_len));
                GUARD(pcl_seal(&c->st, sync, slen, &sealed_s, &ss_len));
                GUARD(pcl_seal(&c->st, (const uint8_t *)text, strlen(text), &sealed_t, &st_len));
                ENSURE(
                    sqlite3_prepare_v2(c->st.db,
                                       "INSERT INTO outbox(id, kind, peer, stanza, content, sync)"
                                       " VALUES(?,'message',?,?,?,?)",
                                       -1, &st, NULL) == SQLITE_OK,
                    PARLEY_ERR_STORE);
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, peer, -1, SQLITE_STATIC);
                sqlite3_bind_blob(st, 3, bytes, (int)blen, SQLITE_STATIC);
                sqlite3_bind_blob(st, 4, sealed_c, (int)sc_len, SQLITE_STATIC);
                sqlite3_bind_blob(st, 5, sealed_s, (int)ss_len, SQLITE_STATIC);
                rc = sqlite3_step(st) == SQLITE_DONE ? PARLEY_OK : PARLEY_ERR_STORE;
                sqlite3_finalize(st);
                GUARD(rc);
                ENSURE(sqlite3_prepare_v2(
                           c->st.db,
                           "INSERT INTO messages(outgoing, peer, device, id, t, body, state)"
                           " VALUES(1,?,NULL,?,?,?,'pending')",
                           -1, &st, NULL) == SQLITE_OK,
                       PARLEY_ERR_STORE);
                sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, (sqlite3_int64)t);
                sqlite3_bind_blob(st, 4, sealed_t, (int)st_len, SQLITE_STATIC);
                rc = sqlite3_step(st) == SQLITE_DONE ? PARLEY_OK : PARLEY_ERR_STORE;
                sqlite3_finalize(st);
                GUARD(rc);
                queued = 1;
            } else {
                ENSURE(sqlite3_prepare_v2(c->st.db, "UPDATE outbox SET stanza=? WHERE id=?", -1,
                                          &st, NULL) == SQLITE_OK,
                       PARLEY_ERR_STORE);
                sqlite3_bind_blob(st, 1, bytes, (int)blen, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
                rc = sqlite3_step(st) == SQLITE_DONE ? PARLEY_OK : PARLEY_ERR_STORE;
                sqlite3_finalize(st);
                GUARD(rc);
            }
            /* The durable point: from here a crash re-sends these bytes. */
            GUARD(pcl_store_commit(&c->st));
            in_tx = 0;
            if (fault("after-commit"))
                raise(SIGKILL);
        } else {
            GUARD(parley_stanza_parse(&msg, stored, stored_len, NULL));
        }
        rc = pcl_net_send(&c->net, msg);
        if (rc != PARLEY_OK) {
            pcl_disconnect(c);
            goto out;
        }
        parley_stanza_free(ack);
        ack = NULL;
        GUARD(pcl_wait_ack(c, id, &ack));
        const char *err = parley_stanza_attr(ack, "error");
        if (!err) {
            GUARD(outbox_delete(c, id, "sent"));
            rc = PARLEY_OK;
            goto out;
        }
        if (strcmp(err, "409") == 0) {
            pcl_log(c, "message %s: device list changed, retrying", id);
            continue;
        }
        c->last_code = atoi(err);
        /* The reason names consent refusals as such (thirdparty.md section 5). */
        snprintf(c->last_reason, sizeof c->last_reason, "message refused (%s%s%s)", err,
                 parley_stanza_attr(ack, "reason") ? ": " : "",
                 parley_stanza_attr(ack, "reason") ? parley_stanza_attr(ack, "reason") : "");
        GUARD(outbox_delete(c, id, "failed"));
        rc = PARLEY_ERR_CLIENT_REFUSED;
        goto out;
    }
    /* The recipient's server list keeps naming devices its signed list
     * does not vouch for (a device linked but not yet signed by the
     * primary): give up now rather than re-send behind the user's back. */
    c->last_code = 409;
    snprintf(c->last_reason, sizeof c->last_reason,
             "device list mismatch (unsigned or changing devices)");
    GUARD(outbox_delete(c, id, "failed"));
    rc = PARLEY_ERR_CLIENT_REFUSED;
out:
    if (in_tx)
        pcl_rollback(c);
    parley_stanza_free(msg);
    parley_stanza_free(ack);
    free(bytes);
    free(sealed_c);
    free(sealed_s);
    free(sealed_t);
    return rc;
}

static int encode_padded(const parley_content *ct, uint8_t **out, size_t *out_len)
{
    uint8_t *enc = NULL, *pad = NULL;
    size_t n = parley_content_encoded_len(ct), got = 0;
    int rc;
    enc = malloc(n ? n : 1);
    pad = malloc(n + PARLEY_CONTENT_PAD_MAX);
    ENSURE(enc && pad, PARLEY_ERR_NOMEM);
    GUARD(parley_content_encode(ct, enc, n, &got));
    GUARD(parley_content_pad(pad, n + PARLEY_CONTENT_PAD_MAX, out_len, enc, got));
    *out = pad;
    pad = NULL;
    rc = PARLEY_OK;
out:
    if (enc)
        pc_wipe(enc, n);
    free(enc);
    free(pad);
    return rc;
}

/*
 * Sends ct (its id and timestamp set) to recipient with the sync copy for
 * this account's other devices; history_text is what the history keeps.
 */
int pcl_send_content(parley_client *c, const char *recipient, const parley_content *ct,
                     const char *history_text, char *id_out)
{
    parley_content *sync = NULL;
    uint8_t *pc = NULL, *ps = NULL;
    size_t pc_len = 0, ps_len = 0;
    const char *id = parley_content_id(ct);
    uint64_t t = parley_content_timestamp(ct);
    int rc;
    ENSURE(id != NULL, PARLEY_ERR_INVALID_ARG);
    GUARD(parley_content_new(&sync));
    GUARD(parley_content_set_id(sync, id));
    parley_content_set_timestamp(sync, t);
    GUARD(parley_content_set_sync(sync, recipient, ct));
    GUARD(encode_padded(ct, &pc, &pc_len));
    GUARD(encode_padded(sync, &ps, &ps_len));
    GUARD(deliver(c, id, recipient, pc, pc_len, ps, ps_len, NULL, 0, history_text, t));
    pcl_drain_acks(c);
    if (id_out)
        strcpy(id_out, id);
    rc = PARLEY_OK;
out:
    if (pc)
        pc_wipe(pc, pc_len);
    if (ps)
        pc_wipe(ps, ps_len);
    free(pc);
    free(ps);
    parley_content_free(sync);
    return rc;
}

int parley_client_send_text(parley_client *c, const char *recipient, const char *text, char *id_out)
{
    parley_content *ct = NULL;
    char id[25];
    int rc;
    ENSURE(c->sig != NULL && c->device != 0, PARLEY_ERR_CLIENT_NOT_REGISTERED);
    ENSURE(strchr(recipient, '@') && !strchr(recipient, '/') &&
               strlen(recipient) < PARLEY_CLIENT_ADDR_MAX,
           PARLEY_ERR_INVALID_ARG);
    ENSURE(strcmp(recipient, c->user) != 0, PARLEY_ERR_INVALID_ARG);
    GUARD(pcl_connect(c));
    GUARD(pcl_flush_outbox(c));
    pcl_new_id(id);
    GUARD(parley_content_new(&ct));
    GUARD(parley_content_set_id(ct, id));
    parley_content_set_timestamp(ct, pcl_now_ms());
    GUARD(parley_content_set_text(ct, text));
    GUARD(pcl_send_content(c, recipient, ct, text, id_out));
    rc = PARLEY_OK;
out:
    parley_content_free(ct);
    return rc;
}

/* Re-sends what a crash or a lost connection left unacknowledged, oldest
 * first: messages with the very same bytes and id, receipts as they were. */
int pcl_flush_outbox(parley_client *c)
{
    sqlite3_stmt *st = NULL;
    int rc;
    {
        sqlite3_int64 after = 0;
        for (;;) {
            char id[PARLEY_CLIENT_ID_MAX + 1], kind[16], peer[PARLEY_CLIENT_ADDR_MAX];
            uint8_t *stanza = NULL, *content = NULL, *sync = NULL;
            size_t stanza_len = 0, content_len = 0, sync_len = 0;
            ENSURE(
                sqlite3_prepare_v2(c->st.db,
                                   "SELECT seq, id, kind, peer, stanza, content, sync FROM outbox"
                                   " WHERE seq > ? ORDER BY seq LIMIT 1",
                                   -1, &st, NULL) == SQLITE_OK,
                PARLEY_ERR_STORE);
            sqlite3_bind_int64(st, 1, after);
            if (sqlite3_step(st) != SQLITE_ROW)
                break;
            after = sqlite3_column_int64(st, 0);
            snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(st, 1));
            snprintf(kind, sizeof kind, "%s", (const char *)sqlite3_column_text(st, 2));
            snprintf(peer, sizeof peer, "%s", (const char *)sqlite3_column_text(st, 3));
            stanza_len = (size_t)sqlite3_column_bytes(st, 4);
            stanza = malloc(stanza_len + 1);
            if (stanza)
                memcpy(stanza, sqlite3_column_blob(st, 4), stanza_len);
            if (sqlite3_column_type(st, 5) != SQLITE_NULL)
                rc = pcl_unseal(&c->st, sqlite3_column_blob(st, 5),
                                (size_t)sqlite3_column_bytes(st, 5), &content, &content_len);
            else
                rc = PARLEY_OK;
            if (rc == PARLEY_OK && sqlite3_column_type(st, 6) != SQLITE_NULL)
                rc = pcl_unseal(&c->st, sqlite3_column_blob(st, 6),
                                (size_t)sqlite3_column_bytes(st, 6), &sync, &sync_len);
            sqlite3_finalize(st);
            st = NULL;
            if (rc == PARLEY_OK && !stanza)
                rc = PARLEY_ERR_NOMEM;
            if (rc == PARLEY_OK) {
                if (strcmp(kind, "message") == 0 && content && sync) {
                    pcl_log(c, "re-sending message %s", id);
                    rc = deliver(c, id, peer, content, content_len, sync, sync_len, stanza,
                                 stanza_len, NULL, 0);
                    if (rc == PARLEY_ERR_CLIENT_REFUSED || rc == PARLEY_ERR_UNTRUSTED_IDENTITY)
                        rc = PARLEY_OK; /* recorded as failed or left queued; not a connection error
                                         */
                } else {
                    parley_stanza *s = NULL;
                    rc = parley_stanza_parse(&s, stanza, stanza_len, NULL);
                    if (rc == PARLEY_OK)
                        rc = pcl_net_send(&c->net, s);
                    parley_stanza_free(s);
                }
            }
            if (content)
                pc_wipe(content, content_len);
            if (sync)
                pc_wipe(sync, sync_len);
            free(stanza);
            free(content);
            free(sync);
            GUARD(rc);
        }
    }
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- receiving ---- */

/* Emits the messages stored but not shown when the process last died. */
int pcl_replay_unshown(parley_client *c)
{
    sqlite3_stmt *st = NULL;
    int rc, e;
    ENSURE(sqlite3_prepare_v2(c->st.db,
                              "SELECT seq, outgoing, peer, device, id, t, body FROM messages"
                              " WHERE shown=0 ORDER BY seq",
                              -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    while ((e = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t *body = NULL;
        size_t blen = 0;
        if (pcl_unseal(&c->st, sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6),
                       &body, &blen) == PARLEY_OK) {
            pcl_emit(
                c, sqlite3_column_int(st, 1) ? PARLEY_CLIENT_EV_SENT : PARLEY_CLIENT_EV_MESSAGE,
                (const char *)sqlite3_column_text(st, 3), (const char *)sqlite3_column_text(st, 2),
                (const char *)sqlite3_column_text(st, 4), (const char *)body,
                (uint64_t)sqlite3_column_int64(st, 5));
            pc_wipe(body, blen);
            free(body);
        }
    }
    ENSURE(e == SQLITE_DONE, PARLEY_ERR_STORE);
    GUARD(pcl_store_exec(&c->st, "UPDATE messages SET shown=1 WHERE shown=0"));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* A failure of this device's own store or memory, which says nothing
 * about the copy being handled: the copy must stay on the server. */
static int local_failure(int rc)
{
    switch (rc) {
    case PARLEY_ERR_NOMEM:
    case PARLEY_ERR_IO:
    case PARLEY_ERR_STORE:
    case PARLEY_ERR_STORE_BUSY:
    case PARLEY_ERR_STORE_FULL:
    case PARLEY_ERR_STORE_BACKEND:
    case PARLEY_ERR_STORE_CORRUPT:
        return 1;
    default:
        return 0;
    }
}

static int ack_sid(parley_client *c, const char *cls, const char *sid)
{
    parley_stanza *a = NULL;
    int rc;
    GUARD(parley_stanza_new(&a, "ack"));
    GUARD(parley_stanza_set_attr(a, "class", cls));
    GUARD(parley_stanza_set_attr(a, "sid", sid));
    rc = pcl_net_send(&c->net, a);
    if (rc != PARLEY_OK)
        pcl_disconnect(c);
out:
    parley_stanza_free(a);
    return rc;
}

static int lookup_device(parley_client *c, const char *user, uint32_t dev)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(c->st.db, "SELECT 1 FROM devices WHERE user=? AND device=?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, dev);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static int seen_before(parley_client *c, const char *from, const char *id)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(c->st.db, "SELECT 1 FROM seen WHERE sender=? AND id=?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static int valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > PARLEY_CLIENT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* Stores what a decrypted content means, in the open transaction. */
static int store_content(parley_client *c, const char *from, const char *sender, const char *id,
                         uint64_t t, const parley_content *ct, const char **ev_peer,
                         const char **ev_text, parley_client_event_type *ev_type,
                         parley_content **orig_out)
{
    const char *text = NULL, *peer = sender;
    const char *dest = NULL;
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *st = NULL;
    int outgoing = 0;
    int rc;
    *ev_type = 0;
    switch (parley_content_get_kind(ct)) {
    case PARLEY_CONTENT_MESSAGE:
        text = parley_content_text(ct);
        *ev_type = PARLEY_CLIENT_EV_MESSAGE;
        break;
    case PARLEY_CONTENT_SYNC:
        /* Only this account's own devices may report what "we" sent. */
        ENSURE(strcmp(sender, c->user) == 0, PARLEY_ERR_INVALID_MESSAGE);
        GUARD(parley_content_sync(ct, &dest, orig_out, NULL));
        ENSURE(strchr(dest, '@') != NULL, PARLEY_ERR_INVALID_MESSAGE);
        text = parley_content_text(*orig_out);
        peer = dest;
        outgoing = 1;
        *ev_type = PARLEY_CLIENT_EV_SENT;
        break;
    default:
        rc = PARLEY_OK; /* receipts and typing in content: nothing to keep */
        goto out;
    }
    if (!text)
        text = "";
    GUARD(pcl_seal(&c->st, (const uint8_t *)text, strlen(text), &sealed, &sealed_len));
    ENSURE(
        sqlite3_prepare_v2(c->st.db,
                           "INSERT INTO messages(outgoing, peer, device, id, t, body, state, shown)"
                           " VALUES(?,?,?,?,?,?,?,0)",
                           -1, &st, NULL) == SQLITE_OK,
        PARLEY_ERR_STORE);
    sqlite3_bind_int(st, 1, outgoing);
    sqlite3_bind_text(st, 2, peer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)t);
    sqlite3_bind_blob(st, 6, sealed, (int)sealed_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, outgoing ? "sent" : "received", -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    *ev_peer = peer;
    *ev_text = text;
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    free(sealed);
    return rc;
}

static int queue_receipt(parley_client *c, const char *to, const char *msg_id, char rid[25])
{
    parley_stanza *r = NULL, *item;
    uint8_t *bytes = NULL;
    size_t blen = 0;
    sqlite3_stmt *st = NULL;
    int rc;
    pcl_new_id(rid);
    GUARD(parley_stanza_new(&r, "receipt"));
    GUARD(parley_stanza_set_attr(r, "id", rid));
    GUARD(parley_stanza_set_attr(r, "to", to));
    GUARD(parley_stanza_set_attr(r, "type", "delivery"));
    GUARD(parley_stanza_add_child(r, "item", &item));
    GUARD(parley_stanza_set_attr(item, "id", msg_id));
    GUARD(parley_stanza_write_alloc(r, &bytes, &blen));
    ENSURE(sqlite3_prepare_v2(c->st.db,
                              "INSERT INTO outbox(id, kind, peer, stanza) VALUES(?,'receipt',?,?)",
                              -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, bytes, (int)blen, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    parley_stanza_free(r);
    free(bytes);
    return rc;
}

static int send_stored(parley_client *c, const char *id)
{
    sqlite3_stmt *st = NULL;
    parley_stanza *s = NULL;
    int rc = PARLEY_OK;
    if (sqlite3_prepare_v2(c->st.db, "SELECT stanza FROM outbox WHERE id=?", -1, &st, NULL) !=
        SQLITE_OK)
        return PARLEY_ERR_STORE;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        rc = parley_stanza_parse(&s, sqlite3_column_blob(st, 0),
                                 (size_t)sqlite3_column_bytes(st, 0), NULL);
        if (rc == PARLEY_OK)
            rc = pcl_net_send(&c->net, s);
    }
    sqlite3_finalize(st);
    parley_stanza_free(s);
    return rc;
}

/*
 * One incoming copy (protocol.md, "Messages"): the sender device must be in
 * its account's verified signed list; the plaintext, the dedupe mark, the
 * advanced session and the receipt to send are committed together, and
 * only then is the copy acknowledged. A copy that cannot be checked yet
 * (identity change pending, device not yet signed) is left on the server.
 */
static int handle_message(parley_client *c, parley_stanza *m)
{
    const char *id = parley_stanza_attr(m, "id");
    const char *sid = parley_stanza_attr(m, "sid");
    const char *from = parley_stanza_attr(m, "from");
    const char *type, *v;
    parley_stanza *enc = parley_stanza_child(m, "enc");
    char sender[PARLEY_CLIENT_ADDR_MAX], rid[25];
    uint32_t dev = 0;
    uint64_t t = 0;
    uint8_t *ct = NULL, *pt = NULL;
    size_t ct_max, ct_len = 0, pt_len = 0, body_len = 0;
    parley_content *content = NULL, *orig = NULL;
    int rc, in_tx = 0, mtype;
    const char *ev_peer = NULL, *ev_text = NULL;
    parley_client_event_type ev_type = 0;
    ENSURE(sid && from && enc, PARLEY_ERR_DECODE);
    if (!valid_id(id) || pcl_split_addr(from, sender, sizeof sender, &dev) != PARLEY_OK) {
        rc = ack_sid(c, "message", sid); /* malformed beyond use: drop it */
        goto out;
    }
    if (parley_stanza_attr_u64(m, "t", &t) != PARLEY_OK)
        t = 0;
    if (seen_before(c, from, id)) {
        rc = ack_sid(c, "message", sid);
        goto out;
    }
    if (!lookup_device(c, sender, dev)) {
        parley_device_list l;
        rc = pcl_fetch_list(c, sender, &l);
        if (rc != PARLEY_OK || !lookup_device(c, sender, dev)) {
            pcl_log(c, "message %s from %s held: sender device not verified (%s)", id, from,
                    parley_strerror(rc));
            pcl_emit(c, PARLEY_CLIENT_EV_ERROR, from, sender, id,
                     "sender device not in a verified device list", t);
            rc = c->connected ? PARLEY_OK : rc;
            goto out;
        }
    }
    v = parley_stanza_attr(enc, "v");
    type = parley_stanza_attr(enc, "type");
    ENSURE(v && strcmp(v, "2") == 0 && type, PARLEY_ERR_DECODE);
    if (strcmp(type, "pkmsg") == 0)
        mtype = PARLEY_MSG_PREKEY;
    else if (strcmp(type, "msg") == 0)
        mtype = PARLEY_MSG_SIGNAL;
    else
        ENSURE(0, PARLEY_ERR_DECODE);
    ct_max = parley_stanza_bytes_max(enc);
    ENSURE(ct_max > 0 && ct_max <= PARLEY_SIGNAL_MAX_MESSAGE, PARLEY_ERR_DECODE);
    ct = malloc(ct_max);
    pt = malloc(ct_max);
    ENSURE(ct && pt, PARLEY_ERR_NOMEM);
    GUARD(parley_stanza_get_bytes(enc, ct, ct_max, &ct_len));
    GUARD(pcl_store_begin(&c->st));
    in_tx = 1;
    rc = parley_signal_decrypt(c->sig, from, dev, mtype, ct, ct_len, pt, ct_max, &pt_len);
    if (rc == PARLEY_OK)
        rc = parley_content_unpad(pt, pt_len, &body_len);
    if (rc == PARLEY_OK)
        rc = parley_content_decode(&content, pt, body_len, NULL);
    if (rc == PARLEY_OK && fault("store-full"))
        rc = PARLEY_ERR_STORE_FULL; /* as SQLite answers on a full disk */
    if (rc == PARLEY_OK)
        rc = store_content(c, from, sender, id, t, content, &ev_peer, &ev_text, &ev_type, &orig);
    if (rc == PARLEY_OK && ev_type != 0)
        rc = pcl_attach_store(c, from, ev_peer, id, orig ? orig : content);
    if (rc == PARLEY_OK)
        rc = exec_bind_text2(c, "INSERT OR IGNORE INTO seen(sender, id) VALUES(?,?)", from, id);
    if (rc == PARLEY_OK && ev_type == PARLEY_CLIENT_EV_MESSAGE)
        rc = queue_receipt(c, sender, id, rid);
    if (rc != PARLEY_OK) {
        pcl_rollback(c);
        in_tx = 0;
        if (local_failure(rc)) {
            /* Our own store failed (a full disk, I/O, a lock held too
             * long), not the copy: everything above is rolled back,
             * including the session's step, so the copy stays on the
             * server unacknowledged. Dropping the connection makes the
             * server send it again once the engine has reconnected (with
             * backoff), or at the next run. */
            pcl_log(c, "message %s from %s left on the server: %s", id, from,
                    parley_strerror(rc));
            pcl_emit(c, PARLEY_CLIENT_EV_ERROR, from, sender, id, parley_strerror(rc), t);
            pcl_disconnect(c);
            goto out;
        }
        /* Undecryptable copies never become decryptable: acknowledge them
         * so the queue moves, and say so. */
        pcl_log(c, "message %s from %s dropped: %s", id, from, parley_strerror(rc));
        if (rc != PARLEY_ERR_DUPLICATE)
            pcl_emit(c, PARLEY_CLIENT_EV_ERROR, from, sender, id, parley_strerror(rc), t);
        rc = ack_sid(c, "message", sid);
        goto out;
    }
    GUARD(pcl_store_commit(&c->st));
    in_tx = 0;
    GUARD(ack_sid(c, "message", sid));
    if (ev_type) {
        parley_client_event ev = {ev_type, from, ev_peer, id, ev_text, t, 0, NULL, NULL};
        ev.attachments = parley_content_attachment_count(orig ? orig : content);
        pcl_emit_ev(c, &ev);
        /* Shown: a crash before this line shows it again at the next start
         * (pcl_replay_unshown) rather than never. */
        GUARD(exec_bind_text2(c, "UPDATE messages SET shown=1 WHERE device=? AND id=? AND shown=0",
                              from, id));
    }
    if (ev_type == PARLEY_CLIENT_EV_MESSAGE)
        GUARD(send_stored(c, rid));
    if (ev_type)
        pcl_attach_after(c, from, id);
    rc = PARLEY_OK;
out:
    if (in_tx)
        pcl_rollback(c);
    if (pt)
        pc_wipe(pt, ct_max);
    free(ct);
    free(pt);
    parley_content_free(content);
    parley_content_free(orig);
    return rc;
}

static int handle_receipt(parley_client *c, parley_stanza *r)
{
    const char *sid = parley_stanza_attr(r, "sid");
    const char *from = parley_stanza_attr(r, "from");
    const char *type = parley_stanza_attr(r, "type");
    char sender[PARLEY_CLIENT_ADDR_MAX];
    uint32_t dev = 0;
    uint64_t t = 0;
    int rc;
    ENSURE(sid != NULL, PARLEY_ERR_DECODE);
    if (from && type && (strcmp(type, "delivery") == 0 || strcmp(type, "read") == 0) &&
        pcl_split_addr(from, sender, sizeof sender, &dev) == PARLEY_OK) {
        if (parley_stanza_attr_u64(r, "t", &t) != PARLEY_OK)
            t = 0;
        for (parley_stanza *it = parley_stanza_child(r, "item"); it;
             it = parley_stanza_next_named(it)) {
            const char *mid = parley_stanza_attr(it, "id");
            if (!valid_id(mid))
                continue;
            GUARD(exec_bind_text2(c, "UPDATE messages SET state=?2 WHERE id=?1 AND outgoing=1", mid,
                                  type));
            pcl_emit(c, PARLEY_CLIENT_EV_RECEIPT, from, sender, mid, type, t);
        }
    }
    rc = ack_sid(c, "receipt", sid);
out:
    return rc;
}

int pcl_handle(parley_client *c, parley_stanza *st)
{
    const char *name = parley_stanza_name(st);
    int rc = PARLEY_OK;
    if (strcmp(name, "message") == 0) {
        rc = handle_message(c, st);
    } else if (strcmp(name, "receipt") == 0) {
        rc = handle_receipt(c, st);
    } else if (strcmp(name, "ack") == 0) {
        const char *id = parley_stanza_attr(st, "id");
        const char *cls = parley_stanza_attr(st, "class");
        if (id && cls && !parley_stanza_attr(st, "error"))
            rc = outbox_delete(c, id, strcmp(cls, "message") == 0 ? "sent" : NULL);
    } else if (strcmp(name, "notification") == 0) {
        const char *type = parley_stanza_attr(st, "type");
        const char *user = parley_stanza_attr(st, "user");
        if (type && strcmp(type, "prekeys") == 0) {
            rc = pcl_upload_keys(c, 0, PARLEY_CLIENT_PREKEY_BATCH);
            if (rc == PARLEY_OK)
                pcl_emit(c, PARLEY_CLIENT_EV_PREKEYS, NULL, c->user, NULL, "uploaded",
                         pcl_now_ms());
        } else if (type && strcmp(type, "inbox") == 0) {
            const char *mode = parley_stanza_attr(st, "mode");
            if (pcl_inbox_remember(c, mode) != PARLEY_OK)
                pcl_log(c, "inbox notification without a valid mode ignored");
        } else if (type && strcmp(type, "provider") == 0) {
            const char *pid = parley_stanza_attr(st, "id");
            const char *pname = parley_stanza_attr(st, "name");
            const char *proto = parley_stanza_attr(st, "protocol");
            if (pid != NULL) {
                parley_client_event ev = {PARLEY_CLIENT_EV_PROVIDER, NULL, NULL, pid, pname,
                                          pcl_now_ms(), 0, NULL, proto};
                pcl_emit_ev(c, &ev);
            }
        } else if (type && strcmp(type, "devices") == 0) {
            /* Our own upload notifies us too: sign only on a real change. */
            if (user && strcmp(user, c->user) == 0 && c->device == 1)
                rc = pcl_resign_if_needed(c);
            pcl_emit(c, PARLEY_CLIENT_EV_DEVICES, NULL, user ? user : c->user, NULL, "changed",
                     pcl_now_ms());
        }
    } else if (strcmp(name, "presence") == 0) {
        const char *from = parley_stanza_attr(st, "from");
        const char *type = parley_stanza_attr(st, "type");
        if (from && type)
            pcl_emit(c, PARLEY_CLIENT_EV_PRESENCE, from, from, NULL, type, pcl_now_ms());
    } else if (strcmp(name, "error") == 0) {
        pcl_log(c, "server error %s: %s",
                parley_stanza_attr(st, "code") ? parley_stanza_attr(st, "code") : "?",
                parley_stanza_attr(st, "reason") ? parley_stanza_attr(st, "reason") : "?");
    }
    return rc;
}
