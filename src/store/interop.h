/*
 * The store's interop tables (schema version 2; DESIGN.md section 5,
 * docs/interop-design.md "Store"): the provider registry and its audit
 * log, consent per (gatekeeper user, provider), inbox mode, message
 * requests, blocks and reports.
 *
 * Same conventions as store.h: times are caller-supplied Unix seconds,
 * every argument is checked against the bounds below before a backend sees
 * it, addresses are compared byte for byte. Backends implement
 * pstore_interop_ops (pstore_ops.interop).
 */
#ifndef PARLEY_STORE_INTEROP_H
#define PARLEY_STORE_INTEROP_H

#include <stddef.h>
#include <stdint.h>
#include "store/store.h"

enum {
    PSTORE_PROVIDER_ID_MAX = 64, /* [a-z0-9.-], as in attestations */
    PSTORE_PROVIDER_NAME_MAX = 128,
    PSTORE_DOMAIN_MAX = 253, /* RFC 1035 */
    PSTORE_PROVIDER_DOMAINS_MAX = 8,
    PSTORE_PROVIDER_KEYS_MAX = 8, /* active and retired, for rotation */
    PSTORE_PROVIDER_MEDIA_MAX = 8,
    PSTORE_URL_MAX = 512,
    PSTORE_PROTOCOL_MAX = 32,
    PSTORE_EVIDENCE_MAX = 512,
    PSTORE_AUDIT_TEXT_MAX = 2048,
    PSTORE_ACTOR_MAX = 128,
    PSTORE_REPORT_MESSAGES_MAX = 20,
    PSTORE_REPORT_MESSAGE_MAX = 16384, /* one decrypted message, as the reporter attached it */
    PSTORE_REPORT_REASON_MAX = 512,
    PSTORE_PROVIDERS_MAX = 1024,
};

/* The protocol a provider's clients speak unless the operator records
 * another with evidence (issue 5, "Providers and agreements"). */
#define PSTORE_PROTOCOL_SIGNAL "signal"

typedef enum {
    PSTORE_PROVIDER_ACTIVE = 1,
    PSTORE_PROVIDER_SUSPENDED = 2,
    PSTORE_PROVIDER_TERMINATED = 3,
} pstore_provider_status;

typedef struct {
    uint32_t key_id;
    uint8_t pub[32]; /* Ed25519 */
    int64_t added;
    int retired; /* a retired key verifies nothing (attestations fail with unknown key) */
} pstore_provider_key;

typedef struct {
    char id[PSTORE_PROVIDER_ID_MAX + 1];
    char name[PSTORE_PROVIDER_NAME_MAX + 1];
    char domains[PSTORE_PROVIDER_DOMAINS_MAX][PSTORE_DOMAIN_MAX + 1];
    size_t domain_count;
    pstore_provider_key keys[PSTORE_PROVIDER_KEYS_MAX];
    size_t key_count;
    char push_url[PSTORE_URL_MAX + 1];   /* may be empty */
    char verify_url[PSTORE_URL_MAX + 1]; /* may be empty */
    char media_hosts[PSTORE_PROVIDER_MEDIA_MAX][PSTORE_DOMAIN_MAX + 1];
    size_t media_host_count;
    pstore_provider_status status;
    char protocol[PSTORE_PROTOCOL_MAX + 1]; /* "signal" by default (empty on input) */
    char evidence[PSTORE_EVIDENCE_MAX + 1]; /* required when protocol is not "signal" */
    int64_t agreement_date;
    int64_t created; /* out */
    int64_t updated; /* out */
} pstore_provider;

typedef struct {
    uint64_t seq;
    const char *provider;
    int64_t t;
    const char *actor; /* who made the change ("admin-api", "parleyctl", an operator name) */
    const char
        *action; /* "add", "update", "suspend", "resume", "terminate", "key-add", "key-retire" */
    const char *detail; /* human-readable summary of what changed */
} pstore_audit_entry;
typedef int (*pstore_audit_fn)(void *ctx, const pstore_audit_entry *e);

typedef enum { PSTORE_INBOX_SEPARATE = 1, PSTORE_INBOX_COMBINED = 2 } pstore_inbox_mode;

typedef enum {
    PSTORE_REQUEST_NONE = 0,
    PSTORE_REQUEST_PENDING = 1,
    PSTORE_REQUEST_ACCEPTED = 2,
    PSTORE_REQUEST_DECLINED = 3,
} pstore_request_state;

typedef enum {
    PSTORE_REPORT_OPEN = 1,
    PSTORE_REPORT_REVIEWED = 2,
    PSTORE_REPORT_ACTIONED = 3,
    PSTORE_REPORT_DISMISSED = 4,
} pstore_report_status;

/* A message the reporter chose to decrypt and attach. */
typedef struct {
    const char *msg_id;
    int64_t sent; /* when it was sent (from the message) */
    const uint8_t *body;
    size_t body_len;
} pstore_report_msg;

typedef struct {
    uint64_t id;
    const char *reporter;
    const char *reported;
    const char *reason;
    int64_t t;
    pstore_report_status status;
    const pstore_report_msg *msgs;
    size_t msg_count;
} pstore_report;
typedef int (*pstore_report_fn)(void *ctx, const pstore_report *r);

typedef struct {
    const char *peer;
    pstore_request_state state;
    int64_t t;
} pstore_request;
typedef int (*pstore_request_fn)(void *ctx, const pstore_request *r);

typedef struct pstore_interop_ops {
    /* action "add" inserts (the id must be new); any other action replaces
     * an existing record. One audit entry (actor, action, detail) is written
     * in the same transaction. */
    int (*provider_put)(pstore *s, const pstore_provider *p, const char *actor, const char *action,
                        const char *detail, int64_t now);
    int (*provider_get)(pstore *s, const char *id, pstore_provider *out);
    int (*provider_by_domain)(pstore *s, const char *domain, pstore_provider *out);
    int (*provider_list)(pstore *s, char (*ids)[PSTORE_PROVIDER_ID_MAX + 1], size_t max,
                         size_t *count);
    int (*provider_set_status)(pstore *s, const char *id, pstore_provider_status st,
                               const char *actor, int64_t now);
    int (*provider_audit)(pstore *s, const char *id, pstore_audit_fn fn, void *ctx);
    int (*consent_set)(pstore *s, const char *user, const char *provider, int enabled, int64_t now);
    int (*consent_get)(pstore *s, const char *user, const char *provider, int *enabled);
    int (*inbox_set)(pstore *s, const char *user, pstore_inbox_mode mode);
    int (*inbox_get)(pstore *s, const char *user, pstore_inbox_mode *mode);
    int (*request_set)(pstore *s, const char *user, const char *peer, pstore_request_state st,
                       int64_t now);
    int (*request_get)(pstore *s, const char *user, const char *peer, pstore_request_state *st);
    int (*request_list)(pstore *s, const char *user, pstore_request_state st, pstore_request_fn fn,
                        void *ctx);
    int (*block_set)(pstore *s, const char *blocker, const char *blocked, int on, int64_t now);
    int (*block_get)(pstore *s, const char *blocker, const char *blocked, int *on);
    int (*report_add)(pstore *s, const pstore_report *r, uint64_t *id);
    int (*report_list)(pstore *s, int status, pstore_report_fn fn, void *ctx);
    int (*report_set_status)(pstore *s, uint64_t id, pstore_report_status st);
} pstore_interop_ops;

/* ---- providers (operator actions are audited) ---------------------------- */

/*
 * Record a new provider (create = 1) or replace an existing one's record
 * (create = 0), with an audit entry by actor. A domain another provider
 * holds, or an existing id on create: PARLEY_ERR_STORE_EXISTS; an unknown
 * id on update: PARLEY_ERR_NOT_FOUND. A protocol other than "signal"
 * without evidence: PARLEY_ERR_INVALID_ARG. created/updated are set by
 * the store.
 */
PARLEY_MUST_CHECK int pstore_provider_add(pstore *s, const pstore_provider *p, const char *actor,
                                          int64_t now);
PARLEY_MUST_CHECK int pstore_provider_update(pstore *s, const pstore_provider *p, const char *actor,
                                             int64_t now);
PARLEY_MUST_CHECK int pstore_provider_get(pstore *s, const char *id, pstore_provider *out);
/* The provider that owns a user domain (the part after '@'). */
PARLEY_MUST_CHECK int pstore_provider_by_domain(pstore *s, const char *domain,
                                                pstore_provider *out);
/* Ids of every provider, sorted. */
PARLEY_MUST_CHECK int pstore_provider_list(pstore *s, char (*ids)[PSTORE_PROVIDER_ID_MAX + 1],
                                           size_t max, size_t *count);
/* suspend / resume / terminate. A terminated provider stays terminated
 * (PARLEY_ERR_STATE); the caller removes its users' devices. */
PARLEY_MUST_CHECK int pstore_provider_set_status(pstore *s, const char *id,
                                                 pstore_provider_status st, const char *actor,
                                                 int64_t now);
/* Add a key (rotation) or retire one, audited. */
PARLEY_MUST_CHECK int pstore_provider_key_add(pstore *s, const char *id, uint32_t key_id,
                                              const uint8_t pub[32], const char *actor,
                                              int64_t now);
PARLEY_MUST_CHECK int pstore_provider_key_retire(pstore *s, const char *id, uint32_t key_id,
                                                 const char *actor, int64_t now);
/* The audit log of one provider (id NULL: all), oldest first. */
PARLEY_MUST_CHECK int pstore_provider_audit(pstore *s, const char *id, pstore_audit_fn fn,
                                            void *ctx);
const char *pstore_provider_status_name(pstore_provider_status st);

/* ---- consent, inbox mode ------------------------------------------------- */

/* Off until the user enables it (DESIGN.md section 5). */
PARLEY_MUST_CHECK int pstore_consent_set(pstore *s, const char *user, const char *provider,
                                         int enabled, int64_t now);
PARLEY_MUST_CHECK int pstore_consent_get(pstore *s, const char *user, const char *provider,
                                         int *enabled);
/* Separate unless set. */
PARLEY_MUST_CHECK int pstore_inbox_set(pstore *s, const char *user, pstore_inbox_mode mode);
PARLEY_MUST_CHECK int pstore_inbox_get(pstore *s, const char *user, pstore_inbox_mode *mode);

/* ---- message requests, blocks -------------------------------------------- */

/* The state of first contact from peer (a third-party user) to user.
 * Declining also records a block of peer by user. Setting NONE forgets. */
PARLEY_MUST_CHECK int pstore_request_set(pstore *s, const char *user, const char *peer,
                                         pstore_request_state st, int64_t now);
PARLEY_MUST_CHECK int pstore_request_get(pstore *s, const char *user, const char *peer,
                                         pstore_request_state *st);
/* user's requests in state st, oldest first. */
PARLEY_MUST_CHECK int pstore_request_list(pstore *s, const char *user, pstore_request_state st,
                                          pstore_request_fn fn, void *ctx);
PARLEY_MUST_CHECK int pstore_block_set(pstore *s, const char *blocker, const char *blocked, int on,
                                       int64_t now);
PARLEY_MUST_CHECK int pstore_block_get(pstore *s, const char *blocker, const char *blocked,
                                       int *on);

/* ---- reports --------------------------------------------------------------- */

/* Queue a report for the operator; r->id and r->status are ignored (a new
 * report is open). *id receives its id. */
PARLEY_MUST_CHECK int pstore_report_add(pstore *s, const pstore_report *r, uint64_t *id);
/* Reports in status (0: all), oldest first, with their messages. */
PARLEY_MUST_CHECK int pstore_report_list(pstore *s, int status, pstore_report_fn fn, void *ctx);
PARLEY_MUST_CHECK int pstore_report_set_status(pstore *s, uint64_t id, pstore_report_status st);

#endif
