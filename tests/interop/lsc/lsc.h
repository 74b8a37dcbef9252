/*
 * lsc-peer: the parley-peer JSON line protocol (docs/interop.md) spoken over
 * libsignal-protocol-c 2.3.3, as an independent reference for the interop
 * tests. Test code: it favours plainness over speed.
 */
#ifndef PARLEY_INTEROP_LSC_H
#define PARLEY_INTEROP_LSC_H

#include <stddef.h>
#include <stdint.h>
#include <signal/signal_protocol.h>

#define LSC_NAME_MAX 255

/*
 * A flat key/value store: the source of truth for every record the
 * library's stores ask for. With a directory, every put is written to a file
 * of that name (write to a temporary, then rename) before it returns, so a
 * SIGKILL at any point leaves either the old or the new record.
 */
struct lsc_kv {
    char *key;
    uint8_t *val;
    size_t len;
    struct lsc_kv *next;
};

struct lsc_db {
    struct lsc_kv *head;
    const char *dir; /* NULL: memory only */
};

int lsc_db_put(struct lsc_db *db, const char *key, const uint8_t *val, size_t len);
const struct lsc_kv *lsc_db_get(const struct lsc_db *db, const char *key);
void lsc_db_del(struct lsc_db *db, const char *key);
/* Remove every record (and its file). */
void lsc_db_clear(struct lsc_db *db);
/* Read every record from db->dir. */
int lsc_db_load(struct lsc_db *db);
void lsc_db_free(struct lsc_db *db);

/* Why the last decrypt failed, as far as the library's log tells. */
enum lsc_reason { LSC_REASON_NONE, LSC_REASON_MAC, LSC_REASON_FUTURE };

struct lsc_peer {
    signal_context *ctx;
    signal_protocol_store_context *store;
    struct lsc_db db;
    int initialized;
    char name[LSC_NAME_MAX + 1];
    int32_t device;
    uint32_t registration_id;
    uint32_t next_prekey_id;
    ratchet_identity_key_pair *identity;
    enum lsc_reason reason; /* first reason logged during the current op */
};

void lsc_crypto_provider(signal_crypto_provider *p);

/* Installs the session, prekey, signed-prekey, identity and sender-key stores over
 * p->db into p->store. */
int lsc_stores_install(struct lsc_peer *p);

/* Record names. hex-encodes the peer name so any name is a safe file name. */
void lsc_key_session(char *out, size_t cap, const char *name, size_t name_len, int32_t device);
void lsc_key_trust(char *out, size_t cap, const char *name, size_t name_len);
void lsc_key_prekey(char *out, size_t cap, const char *kind, uint32_t id);

#define LSC_KEY_MAX (2 * LSC_NAME_MAX + 64)

#endif
