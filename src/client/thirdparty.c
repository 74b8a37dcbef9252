/*
 * Third-party accounts and consent in the client engine
 * (parley/client_interop.h; docs/parts/thirdparty.md sections 3 and 5).
 *
 * The attestation lives in the config table under "attestation"; the
 * login path (engine.c, connect_as) adds it to every <login> through
 * pcl_tp_login_extra. The provider list a gatekeeper user last fetched is
 * kept under "providers" (id, protocol and domain per line) so that the
 * CLI can name the protocol of a third-party chat without a round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/engine_internal.h"
#include "crypto/crypto.h"
#include "parley/client_interop.h"
#include "util/safety.h"

enum {
    TP_ATTEST_MAX = 512, /* PARLEY_ATTEST_MAX_LEN is 517; real ones are ~180 bytes */
    TP_PROVIDERS_MAX = 16384,
    TP_VALUE_MAX = 1024,
    TP_REPORT_MSGS_MAX = 20, /* docs/parts/thirdparty.md section 5 */
    TP_REPORT_MSG_MAX = 16384,
};

int pcl_tp_login_extra(parley_client *c, parley_stanza *login)
{
    uint8_t att[TP_ATTEST_MAX + 8];
    size_t n = 0;
    parley_stanza *e = NULL;
    int rc = pcl_cfg_get(&c->st, "attestation", att, sizeof att, &n);
    if (rc == PARLEY_ERR_NOT_FOUND)
        return PARLEY_OK; /* a gatekeeper account */
    GUARD(rc);
    GUARD(parley_stanza_add_child(login, "attestation", &e));
    GUARD(parley_stanza_set_bytes(e, att, n));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_client_is_third_party(parley_client *c)
{
    uint8_t att[TP_ATTEST_MAX + 8];
    size_t n = 0;
    return pcl_cfg_get(&c->st, "attestation", att, sizeof att, &n) == PARLEY_OK;
}

int parley_client_prepare(parley_client *c, const char *server, const uint8_t root_pub[32],
                          const char *user)
{
    return pcl_setup_identity(c, server, root_pub, user);
}

int parley_client_device_keys(parley_client *c, uint8_t noise_pub[32], uint8_t identity[33])
{
    uint8_t priv[32];
    size_t n = 0;
    int rc;
    ENSURE(c->sig != NULL, PARLEY_ERR_CLIENT_NOT_REGISTERED);
    GUARD(pcl_cfg_get(&c->st, "noise_priv", priv, sizeof priv, &n));
    ENSURE(n == 32, PARLEY_ERR_STORE_CORRUPT);
    GUARD(pc_x25519_public(noise_pub, priv));
    parley_signal_identity_key(c->sig, identity);
    rc = PARLEY_OK;
out:
    pc_wipe(priv, sizeof priv);
    return rc;
}

int parley_client_enlist(parley_client *c, const uint8_t *att, size_t len)
{
    int rc;
    ENSURE(c->sig != NULL, PARLEY_ERR_CLIENT_NOT_REGISTERED);
    ENSURE(c->device == 0, PARLEY_ERR_STATE);
    ENSURE(len > 0 && len <= TP_ATTEST_MAX, PARLEY_ERR_INVALID_ARG);
    GUARD(pcl_cfg_set(&c->st, "attestation", att, len));
    GUARD(pcl_connect_kind(c, "enlist"));
    GUARD(pcl_upload_keys(c, 1, c->prekey_batch));
    GUARD(pcl_resign_list(c));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_client_set_attestation(parley_client *c, const uint8_t *att, size_t len)
{
    int rc;
    parley_stanza *iq = NULL, *e = NULL, *res = NULL;
    char id[25];
    ENSURE(len > 0 && len <= TP_ATTEST_MAX, PARLEY_ERR_INVALID_ARG);
    if (c->connected) {
        GUARD(pcl_iq_new(&iq, "set", "attestation", &e, id));
        GUARD(parley_stanza_set_bytes(e, att, len));
        GUARD(pcl_iq(c, iq, id, &res));
    }
    GUARD(pcl_cfg_set(&c->st, "attestation", att, len));
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

static int value_key(char *out, size_t max, const char *name)
{
    if (name == NULL || strlen(name) == 0 || strlen(name) > 64)
        return PARLEY_ERR_INVALID_ARG;
    snprintf(out, max, "x.%s", name); /* apart from the engine's own keys */
    return PARLEY_OK;
}

int parley_client_set_value(parley_client *c, const char *name, const char *value)
{
    char k[80];
    int rc;
    GUARD(value_key(k, sizeof k, name));
    ENSURE(strlen(value) <= TP_VALUE_MAX, PARLEY_ERR_INVALID_ARG);
    GUARD(pcl_cfg_set(&c->st, k, value, strlen(value)));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_client_get_value(parley_client *c, const char *name, char *out, size_t max)
{
    char k[80];
    int rc;
    GUARD(value_key(k, sizeof k, name));
    GUARD(pcl_cfg_get_str(&c->st, k, out, max));
    rc = PARLEY_OK;
out:
    return rc;
}

/* ---- consent ---- */

/* Connects and sends one iq; *res is the result (may be NULL). */
static int simple_iq(parley_client *c, const char *type, const char *child, const char *k1,
                     const char *v1, const char *k2, const char *v2, parley_stanza **res)
{
    int rc;
    parley_stanza *iq = NULL, *e = NULL, *r = NULL;
    char id[25];
    GUARD(pcl_connect(c));
    GUARD(pcl_iq_new(&iq, type, child, &e, id));
    if (k1 != NULL)
        GUARD(parley_stanza_set_attr(e, k1, v1));
    if (k2 != NULL)
        GUARD(parley_stanza_set_attr(e, k2, v2));
    GUARD(pcl_iq(c, iq, id, &r));
    if (res != NULL) {
        *res = r;
        r = NULL;
    }
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(r);
    return rc;
}

int parley_client_providers(parley_client *c,
                            void (*cb)(const parley_client_provider *p, void *arg), void *arg,
                            char *inbox, size_t inbox_max)
{
    int rc;
    parley_stanza *r = NULL;
    char *cache = malloc(TP_PROVIDERS_MAX);
    size_t cl = 0;
    ENSURE(cache != NULL, PARLEY_ERR_NOMEM);
    GUARD(simple_iq(c, "get", "providers", NULL, NULL, NULL, NULL, &r));
    const parley_stanza *l = parley_stanza_child(r, "providers");
    ENSURE(l != NULL, PARLEY_ERR_DECODE);
    const char *mode = parley_stanza_attr(l, "inbox");
    if (mode == NULL)
        mode = "separate";
    if (inbox != NULL && inbox_max > 0)
        snprintf(inbox, inbox_max, "%s", mode);
    GUARD(pcl_inbox_remember(c, mode));
    for (const parley_stanza *e = parley_stanza_first_child(l); e != NULL;
         e = parley_stanza_next_sibling(e)) {
        parley_client_provider p;
        const char *en = parley_stanza_attr(e, "enabled");
        p.id = parley_stanza_attr(e, "id");
        p.name = parley_stanza_attr(e, "name");
        p.protocol = parley_stanza_attr(e, "protocol");
        p.domain = parley_stanza_attr(e, "domain");
        p.enabled = en != NULL && strcmp(en, "true") == 0;
        if (!parley_stanza_is(e, "provider") || p.id == NULL)
            continue;
        if (p.name == NULL)
            p.name = p.id;
        if (p.protocol == NULL)
            p.protocol = "signal";
        if (p.domain != NULL &&
            cl + strlen(p.id) + strlen(p.protocol) + strlen(p.domain) + 4 < TP_PROVIDERS_MAX)
            cl += (size_t)snprintf(cache + cl, TP_PROVIDERS_MAX - cl, "%s %s %s\n", p.id,
                                   p.protocol, p.domain);
        if (cb != NULL)
            cb(&p, arg);
    }
    GUARD(pcl_cfg_set(&c->st, "providers", cache, cl));
    rc = PARLEY_OK;
out:
    free(cache);
    parley_stanza_free(r);
    return rc;
}

int parley_client_provider_of(parley_client *c, const char *user, char *id, size_t id_max,
                              char *protocol, size_t protocol_max)
{
    int rc;
    char *cache = malloc(TP_PROVIDERS_MAX + 1);
    const char *at = user != NULL ? strrchr(user, '@') : NULL;
    size_t n = 0;
    ENSURE(cache != NULL, PARLEY_ERR_NOMEM);
    ENSURE(at != NULL, PARLEY_ERR_INVALID_ARG);
    id[0] = protocol[0] = '\0';
    rc = pcl_cfg_get(&c->st, "providers", (uint8_t *)cache, TP_PROVIDERS_MAX, &n);
    if (rc == PARLEY_ERR_NOT_FOUND) {
        rc = PARLEY_OK;
        goto out;
    }
    GUARD(rc);
    cache[n] = '\0';
    for (char *line = cache, *nl; *line != '\0'; line = nl + 1) {
        char pid[80], proto[40], dom[300];
        nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        if (sscanf(line, "%79s %39s %299s", pid, proto, dom) == 3 && strcmp(dom, at + 1) == 0) {
            snprintf(id, id_max, "%s", pid);
            snprintf(protocol, protocol_max, "%s", proto);
            break;
        }
    }
    rc = PARLEY_OK;
out:
    free(cache);
    return rc;
}

int parley_client_consent(parley_client *c, const char *provider, int enabled)
{
    if (provider == NULL || provider[0] == '\0')
        return PARLEY_ERR_INVALID_ARG;
    return simple_iq(c, "set", "consent", "provider", provider, "enabled",
                     enabled ? "true" : "false", NULL);
}

static int valid_inbox(const char *mode)
{
    return mode != NULL && (strcmp(mode, "separate") == 0 || strcmp(mode, "combined") == 0);
}

int parley_client_inbox(parley_client *c, const char *mode)
{
    int rc;
    ENSURE(valid_inbox(mode), PARLEY_ERR_INVALID_ARG);
    GUARD(simple_iq(c, "set", "inbox", "mode", mode, NULL, NULL, NULL));
    rc = pcl_inbox_remember(c, mode);
out:
    return rc;
}

/* The mode as the server last said (providers list, inbox notification or
 * our own change), so that listing chats needs no connection. */
int pcl_inbox_remember(parley_client *c, const char *mode)
{
    if (!valid_inbox(mode))
        return PARLEY_ERR_DECODE;
    return pcl_cfg_set(&c->st, "inbox", mode, strlen(mode));
}

int parley_client_inbox_mode(parley_client *c, char *out, size_t max)
{
    char mode[16];
    int rc = pcl_cfg_get_str(&c->st, "inbox", mode, sizeof mode);
    if (rc == PARLEY_ERR_NOT_FOUND || (rc == PARLEY_OK && !valid_inbox(mode))) {
        snprintf(mode, sizeof mode, "separate"); /* the server's default */
        rc = PARLEY_OK;
    }
    if (rc == PARLEY_OK && (size_t)snprintf(out, max, "%s", mode) >= max)
        rc = PARLEY_ERR_INVALID_ARG;
    return rc;
}

int parley_client_requests(parley_client *c, void (*cb)(const char *from, uint64_t t, void *arg),
                           void *arg)
{
    int rc;
    parley_stanza *r = NULL;
    GUARD(simple_iq(c, "get", "requests", NULL, NULL, NULL, NULL, &r));
    const parley_stanza *l = parley_stanza_child(r, "requests");
    ENSURE(l != NULL, PARLEY_ERR_DECODE);
    for (const parley_stanza *e = parley_stanza_first_child(l); e != NULL;
         e = parley_stanza_next_sibling(e)) {
        uint64_t t = 0;
        const char *from = parley_stanza_attr(e, "from");
        if (from == NULL)
            continue;
        if (parley_stanza_attr_u64(e, "t", &t) != PARLEY_OK)
            t = 0;
        cb(from, t, arg);
    }
    rc = PARLEY_OK;
out:
    parley_stanza_free(r);
    return rc;
}

static int valid_user(const char *u)
{
    return u != NULL && strchr(u, '@') != NULL && strchr(u, '/') == NULL &&
           strlen(u) < PARLEY_CLIENT_ADDR_MAX;
}

int parley_client_answer_request(parley_client *c, const char *from, int accept)
{
    if (!valid_user(from))
        return PARLEY_ERR_INVALID_ARG;
    return simple_iq(c, "set", "request", "from", from, "action", accept ? "accept" : "decline",
                     NULL);
}

int parley_client_block(parley_client *c, const char *user, int block)
{
    if (!valid_user(user))
        return PARLEY_ERR_INVALID_ARG;
    return simple_iq(c, "set", block ? "block" : "unblock", "jid", user, NULL, NULL, NULL);
}

/* The text of a message received from peer, from the history. */
static int history_text(parley_client *c, const char *peer, const char *id, uint64_t *t,
                        uint8_t **text, size_t *len)
{
    int rc;
    sqlite3_stmt *st = NULL;
    ENSURE(sqlite3_prepare_v2(c->st.db,
                              "SELECT t, body FROM messages WHERE id = ? AND peer = ? AND"
                              " outgoing = 0 AND body IS NOT NULL ORDER BY seq LIMIT 1",
                              -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, peer, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    *t = (uint64_t)sqlite3_column_int64(st, 0);
    GUARD(pcl_unseal(&c->st, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), text,
                     len));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int parley_client_report(parley_client *c, const char *user, const char *reason,
                         const char *const *msg_ids, size_t n, uint64_t *report_id)
{
    int rc;
    parley_stanza *iq = NULL, *e = NULL, *m = NULL, *res = NULL;
    char id[25];
    ENSURE(valid_user(user) && n <= TP_REPORT_MSGS_MAX, PARLEY_ERR_INVALID_ARG);
    GUARD(pcl_connect(c));
    GUARD(pcl_iq_new(&iq, "set", "report", &e, id));
    GUARD(parley_stanza_set_attr(e, "jid", user));
    GUARD(parley_stanza_set_attr(e, "reason", reason != NULL ? reason : ""));
    for (size_t i = 0; i < n; i++) {
        uint8_t *text = NULL;
        size_t len = 0;
        uint64_t t = 0;
        rc = history_text(c, user, msg_ids[i], &t, &text, &len);
        if (rc == PARLEY_ERR_NOT_FOUND)
            pcl_log(c, "report: no message %s from %s in the history", msg_ids[i], user);
        GUARD(rc);
        if (len > TP_REPORT_MSG_MAX)
            len = TP_REPORT_MSG_MAX;
        rc = parley_stanza_add_child(e, "msg", &m);
        if (rc == PARLEY_OK)
            rc = parley_stanza_set_attr(m, "id", msg_ids[i]);
        if (rc == PARLEY_OK)
            rc = parley_stanza_set_attr_u64(m, "t", t);
        if (rc == PARLEY_OK)
            rc = parley_stanza_set_bytes(m, text, len);
        pc_wipe(text, len);
        free(text);
        GUARD(rc);
    }
    GUARD(pcl_iq(c, iq, id, &res));
    if (report_id != NULL) {
        const parley_stanza *r = parley_stanza_child(res, "report");
        if (r == NULL || parley_stanza_attr_u64(r, "id", report_id) != PARLEY_OK)
            *report_id = 0;
    }
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}
