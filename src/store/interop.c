/*
 * The interop store calls (interop.h): argument checks against the bounds
 * there, then the backend's pstore_interop_ops.
 */
#include "store/interop.h"

#include <stdio.h>
#include <string.h>

#include "util/safety.h"

#define OPS(s) ((s)->ops->interop)

static int check_provider_id(const char *id)
{
    size_t n = strnlen(id, PSTORE_PROVIDER_ID_MAX + 1);
    if (n > PSTORE_PROVIDER_ID_MAX)
        return PARLEY_ERR_STORE_TOO_LARGE;
    if (n == 0)
        return PARLEY_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return PARLEY_ERR_INVALID_ARG;
    }
    return PARLEY_OK;
}

/* Lower-case DNS names: the server lower-cases domains before storing. */
static int check_domain(const char *d)
{
    size_t n = strnlen(d, PSTORE_DOMAIN_MAX + 1);
    if (n > PSTORE_DOMAIN_MAX)
        return PARLEY_ERR_STORE_TOO_LARGE;
    if (n == 0 || d[0] == '.' || d[0] == '-' || d[n - 1] == '.')
        return PARLEY_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return PARLEY_ERR_INVALID_ARG;
    }
    return PARLEY_OK;
}

/* Printable ASCII, no spaces, bounded. */
static int check_token(const char *s, size_t max, int allow_empty, int allow_space)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return PARLEY_ERR_STORE_TOO_LARGE;
    if (n == 0 && !allow_empty)
        return PARLEY_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (c == ' ' && !allow_space))
            return PARLEY_ERR_INVALID_ARG;
    }
    return PARLEY_OK;
}

static int check_url(const char *u)
{
    int rc = check_token(u, PSTORE_URL_MAX, 1, 0);
    if (rc < 0 || u[0] == '\0')
        return rc;
    if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
        return PARLEY_ERR_INVALID_ARG;
    return PARLEY_OK;
}

/* Check a record and fill in the protocol default. */
static int check_provider(const pstore_provider *in, pstore_provider *p)
{
    int rc;
    *p = *in;
    GUARD(check_provider_id(p->id));
    GUARD(check_token(p->name, PSTORE_PROVIDER_NAME_MAX, 0, 1));
    ENSURE(p->domain_count >= 1 && p->domain_count <= PSTORE_PROVIDER_DOMAINS_MAX,
           PARLEY_ERR_INVALID_ARG);
    for (size_t i = 0; i < p->domain_count; i++) {
        GUARD(check_domain(p->domains[i]));
        for (size_t j = 0; j < i; j++)
            ENSURE(strcmp(p->domains[i], p->domains[j]) != 0, PARLEY_ERR_INVALID_ARG);
    }
    ENSURE(p->media_host_count <= PSTORE_PROVIDER_MEDIA_MAX, PARLEY_ERR_INVALID_ARG);
    for (size_t i = 0; i < p->media_host_count; i++)
        GUARD(check_domain(p->media_hosts[i]));
    ENSURE(p->key_count <= PSTORE_PROVIDER_KEYS_MAX, PARLEY_ERR_INVALID_ARG);
    for (size_t i = 0; i < p->key_count; i++)
        for (size_t j = 0; j < i; j++)
            ENSURE(p->keys[i].key_id != p->keys[j].key_id, PARLEY_ERR_INVALID_ARG);
    GUARD(check_url(p->push_url));
    GUARD(check_url(p->verify_url));
    ENSURE(p->status >= PSTORE_PROVIDER_ACTIVE && p->status <= PSTORE_PROVIDER_TERMINATED,
           PARLEY_ERR_INVALID_ARG);
    if (p->protocol[0] == '\0')
        strcpy(p->protocol, PSTORE_PROTOCOL_SIGNAL);
    GUARD(check_token(p->protocol, PSTORE_PROTOCOL_MAX, 0, 0));
    GUARD(check_token(p->evidence, PSTORE_EVIDENCE_MAX, 1, 1));
    /* Another protocol only with a reference to the evidence that it gives
     * the same guarantees (issue 5, "Providers and agreements"). */
    ENSURE(strcmp(p->protocol, PSTORE_PROTOCOL_SIGNAL) == 0 || p->evidence[0] != '\0',
           PARLEY_ERR_INVALID_ARG);
    rc = PARLEY_OK;
out:
    return rc;
}

static int check_actor(const char *actor)
{
    return check_token(actor, PSTORE_ACTOR_MAX, 0, 1);
}

static void summary(char *out, size_t n, const pstore_provider *p)
{
    size_t active = 0;
    for (size_t i = 0; i < p->key_count; i++)
        active += !p->keys[i].retired;
    snprintf(out, n,
             "name=%s domains=%zu keys=%zu(active %zu) status=%s protocol=%s push=%s "
             "verify=%s media=%zu agreement=%lld",
             p->name, p->domain_count, p->key_count, active, pstore_provider_status_name(p->status),
             p->protocol, p->push_url[0] ? p->push_url : "-",
             p->verify_url[0] ? p->verify_url : "-", p->media_host_count,
             (long long)p->agreement_date);
}

int pstore_provider_add(pstore *s, const pstore_provider *in, const char *actor, int64_t now)
{
    int rc;
    pstore_provider p;
    char detail[PSTORE_AUDIT_TEXT_MAX];
    PARLEY_MISUSE(s && in && actor);
    GUARD(check_provider(in, &p));
    GUARD(check_actor(actor));
    ENSURE(p.status == PSTORE_PROVIDER_ACTIVE, PARLEY_ERR_INVALID_ARG);
    summary(detail, sizeof detail, &p);
    rc = OPS(s)->provider_put(s, &p, actor, "add", detail, now);
out:
    return rc;
}

int pstore_provider_update(pstore *s, const pstore_provider *in, const char *actor, int64_t now)
{
    int rc;
    pstore_provider p, cur;
    char detail[PSTORE_AUDIT_TEXT_MAX];
    PARLEY_MISUSE(s && in && actor);
    GUARD(check_provider(in, &p));
    GUARD(check_actor(actor));
    GUARD(OPS(s)->provider_get(s, p.id, &cur));
    /* Status changes go through pstore_provider_set_status, so that each
     * has its own audit action. */
    ENSURE(p.status == cur.status, PARLEY_ERR_INVALID_ARG);
    summary(detail, sizeof detail, &p);
    rc = OPS(s)->provider_put(s, &p, actor, "update", detail, now);
out:
    return rc;
}

int pstore_provider_get(pstore *s, const char *id, pstore_provider *out)
{
    int rc;
    PARLEY_MISUSE(s && id && out);
    GUARD(check_provider_id(id));
    rc = OPS(s)->provider_get(s, id, out);
out:
    return rc;
}

int pstore_provider_by_domain(pstore *s, const char *domain, pstore_provider *out)
{
    int rc;
    PARLEY_MISUSE(s && domain && out);
    GUARD(check_domain(domain));
    rc = OPS(s)->provider_by_domain(s, domain, out);
out:
    return rc;
}

int pstore_provider_list(pstore *s, char (*ids)[PSTORE_PROVIDER_ID_MAX + 1], size_t max,
                         size_t *count)
{
    PARLEY_MISUSE(s && (ids || max == 0) && count);
    return OPS(s)->provider_list(s, ids, max, count);
}

int pstore_provider_set_status(pstore *s, const char *id, pstore_provider_status st,
                               const char *actor, int64_t now)
{
    int rc;
    PARLEY_MISUSE(s && id && actor);
    GUARD(check_provider_id(id));
    GUARD(check_actor(actor));
    ENSURE(st >= PSTORE_PROVIDER_ACTIVE && st <= PSTORE_PROVIDER_TERMINATED,
           PARLEY_ERR_INVALID_ARG);
    rc = OPS(s)->provider_set_status(s, id, st, actor, now);
out:
    return rc;
}

int pstore_provider_key_add(pstore *s, const char *id, uint32_t key_id, const uint8_t pub[32],
                            const char *actor, int64_t now)
{
    int rc;
    pstore_provider p;
    char detail[64];
    PARLEY_MISUSE(s && id && pub && actor);
    GUARD(pstore_provider_get(s, id, &p));
    GUARD(check_actor(actor));
    for (size_t i = 0; i < p.key_count; i++)
        ENSURE(p.keys[i].key_id != key_id, PARLEY_ERR_STORE_EXISTS);
    ENSURE(p.key_count < PSTORE_PROVIDER_KEYS_MAX, PARLEY_ERR_STORE_LIMIT);
    p.keys[p.key_count] = (pstore_provider_key){.key_id = key_id, .added = now};
    memcpy(p.keys[p.key_count].pub, pub, 32);
    p.key_count++;
    snprintf(detail, sizeof detail, "key %u", key_id);
    rc = OPS(s)->provider_put(s, &p, actor, "key-add", detail, now);
out:
    return rc;
}

int pstore_provider_key_retire(pstore *s, const char *id, uint32_t key_id, const char *actor,
                               int64_t now)
{
    int rc;
    pstore_provider p;
    char detail[64];
    int found = 0;
    PARLEY_MISUSE(s && id && actor);
    GUARD(pstore_provider_get(s, id, &p));
    GUARD(check_actor(actor));
    for (size_t i = 0; i < p.key_count; i++)
        if (p.keys[i].key_id == key_id) {
            p.keys[i].retired = 1;
            found = 1;
        }
    ENSURE(found, PARLEY_ERR_NOT_FOUND);
    snprintf(detail, sizeof detail, "key %u", key_id);
    rc = OPS(s)->provider_put(s, &p, actor, "key-retire", detail, now);
out:
    return rc;
}

int pstore_provider_audit(pstore *s, const char *id, pstore_audit_fn fn, void *ctx)
{
    int rc;
    PARLEY_MISUSE(s && fn);
    if (id)
        GUARD(check_provider_id(id));
    rc = OPS(s)->provider_audit(s, id, fn, ctx);
out:
    return rc;
}

const char *pstore_provider_status_name(pstore_provider_status st)
{
    switch (st) {
    case PSTORE_PROVIDER_ACTIVE:
        return "active";
    case PSTORE_PROVIDER_SUSPENDED:
        return "suspended";
    case PSTORE_PROVIDER_TERMINATED:
        return "terminated";
    default:
        return "unknown";
    }
}

int pstore_consent_set(pstore *s, const char *user, const char *provider, int enabled, int64_t now)
{
    int rc;
    PARLEY_MISUSE(s && user && provider);
    GUARD(pstore_check_address(user));
    GUARD(check_provider_id(provider));
    rc = OPS(s)->consent_set(s, user, provider, enabled, now);
out:
    return rc;
}

int pstore_consent_get(pstore *s, const char *user, const char *provider, int *enabled)
{
    int rc;
    PARLEY_MISUSE(s && user && provider && enabled);
    GUARD(pstore_check_address(user));
    GUARD(check_provider_id(provider));
    rc = OPS(s)->consent_get(s, user, provider, enabled);
out:
    return rc;
}

int pstore_inbox_set(pstore *s, const char *user, pstore_inbox_mode mode)
{
    int rc;
    PARLEY_MISUSE(s && user);
    GUARD(pstore_check_address(user));
    ENSURE(mode == PSTORE_INBOX_SEPARATE || mode == PSTORE_INBOX_COMBINED, PARLEY_ERR_INVALID_ARG);
    rc = OPS(s)->inbox_set(s, user, mode);
out:
    return rc;
}

int pstore_inbox_get(pstore *s, const char *user, pstore_inbox_mode *mode)
{
    int rc;
    PARLEY_MISUSE(s && user && mode);
    GUARD(pstore_check_address(user));
    rc = OPS(s)->inbox_get(s, user, mode);
out:
    return rc;
}

static int check_pair(const char *a, const char *b)
{
    int rc;
    GUARD(pstore_check_address(a));
    GUARD(pstore_check_address(b));
    ENSURE(strcmp(a, b) != 0, PARLEY_ERR_INVALID_ARG);
    rc = PARLEY_OK;
out:
    return rc;
}

int pstore_request_set(pstore *s, const char *user, const char *peer, pstore_request_state st,
                       int64_t now)
{
    int rc;
    PARLEY_MISUSE(s && user && peer);
    GUARD(check_pair(user, peer));
    ENSURE(st >= PSTORE_REQUEST_NONE && st <= PSTORE_REQUEST_DECLINED, PARLEY_ERR_INVALID_ARG);
    rc = OPS(s)->request_set(s, user, peer, st, now);
out:
    return rc;
}

int pstore_request_get(pstore *s, const char *user, const char *peer, pstore_request_state *st)
{
    int rc;
    PARLEY_MISUSE(s && user && peer && st);
    GUARD(check_pair(user, peer));
    rc = OPS(s)->request_get(s, user, peer, st);
out:
    return rc;
}

int pstore_request_list(pstore *s, const char *user, pstore_request_state st, pstore_request_fn fn,
                        void *ctx)
{
    int rc;
    PARLEY_MISUSE(s && user && fn);
    GUARD(pstore_check_address(user));
    ENSURE(st >= PSTORE_REQUEST_PENDING && st <= PSTORE_REQUEST_DECLINED, PARLEY_ERR_INVALID_ARG);
    rc = OPS(s)->request_list(s, user, st, fn, ctx);
out:
    return rc;
}

int pstore_block_set(pstore *s, const char *blocker, const char *blocked, int on, int64_t now)
{
    int rc;
    PARLEY_MISUSE(s && blocker && blocked);
    GUARD(check_pair(blocker, blocked));
    rc = OPS(s)->block_set(s, blocker, blocked, on, now);
out:
    return rc;
}

int pstore_block_get(pstore *s, const char *blocker, const char *blocked, int *on)
{
    int rc;
    PARLEY_MISUSE(s && blocker && blocked && on);
    GUARD(check_pair(blocker, blocked));
    rc = OPS(s)->block_get(s, blocker, blocked, on);
out:
    return rc;
}

int pstore_report_add(pstore *s, const pstore_report *r, uint64_t *id)
{
    int rc;
    PARLEY_MISUSE(s && r && id && (r->msgs || r->msg_count == 0));
    GUARD(check_pair(r->reporter, r->reported));
    if (r->reason)
        GUARD(check_token(r->reason, PSTORE_REPORT_REASON_MAX, 1, 1));
    ENSURE(r->msg_count <= PSTORE_REPORT_MESSAGES_MAX, PARLEY_ERR_STORE_TOO_LARGE);
    for (size_t i = 0; i < r->msg_count; i++) {
        PARLEY_MISUSE(r->msgs[i].msg_id && (r->msgs[i].body || r->msgs[i].body_len == 0));
        GUARD(check_token(r->msgs[i].msg_id, PSTORE_CLIENT_ID_MAX, 0, 0));
        ENSURE(r->msgs[i].body_len <= PSTORE_REPORT_MESSAGE_MAX, PARLEY_ERR_STORE_TOO_LARGE);
    }
    rc = OPS(s)->report_add(s, r, id);
out:
    return rc;
}

int pstore_report_list(pstore *s, int status, pstore_report_fn fn, void *ctx)
{
    int rc;
    PARLEY_MISUSE(s && fn);
    ENSURE(status >= 0 && status <= PSTORE_REPORT_DISMISSED, PARLEY_ERR_INVALID_ARG);
    rc = OPS(s)->report_list(s, status, fn, ctx);
out:
    return rc;
}

int pstore_report_set_status(pstore *s, uint64_t id, pstore_report_status st)
{
    int rc;
    PARLEY_MISUSE(s);
    ENSURE(st >= PSTORE_REPORT_OPEN && st <= PSTORE_REPORT_DISMISSED, PARLEY_ERR_INVALID_ARG);
    ENSURE(id > 0 && id <= INT64_MAX, PARLEY_ERR_NOT_FOUND);
    rc = OPS(s)->report_set_status(s, id, st);
out:
    return rc;
}
