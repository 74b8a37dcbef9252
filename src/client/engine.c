/*
 * The client engine: account setup, the connection and its login
 * (docs/protocol.md, "Login payload"), iq round trips, device lists and
 * trust. Messages, receipts and notifications are in messages.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/engine_internal.h"
#include "crypto/crypto.h"
#include "parley/fingerprint.h"
#include "parley/xeddsa.h"
#include "util/safety.h"

void pcl_log(parley_client *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (!c->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->log(c->log_arg, line);
}

void pcl_emit(parley_client *c, parley_client_event_type type, const char *from, const char *peer,
              const char *id, const char *text, uint64_t t)
{
    parley_client_event ev = {type, from, peer, id, text, t, 0, NULL, NULL};
    pcl_emit_ev(c, &ev);
}

void pcl_emit_ev(parley_client *c, const parley_client_event *ev)
{
    if (c->cb)
        c->cb(ev, c->cb_arg);
}

void pcl_new_id(char out[25])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t r[12];
    if (pc_random(r, sizeof r) != PARLEY_OK)
        abort(); /* the system's randomness failed: nothing is safe any more */
    for (size_t i = 0; i < sizeof r; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[24] = 0;
}

int pcl_split_addr(const char *addr, char *user, size_t max, uint32_t *device)
{
    const char *slash = strrchr(addr, '/');
    char *end = NULL;
    unsigned long d;
    int rc;
    ENSURE(slash != NULL && slash > addr, PARLEY_ERR_DECODE);
    ENSURE((size_t)(slash - addr) < max, PARLEY_ERR_DECODE);
    ENSURE(slash[1] >= '1' && slash[1] <= '9', PARLEY_ERR_DECODE);
    d = strtoul(slash + 1, &end, 10);
    ENSURE(*end == 0 && d <= UINT32_MAX, PARLEY_ERR_DECODE);
    memcpy(user, addr, (size_t)(slash - addr));
    user[slash - addr] = 0;
    ENSURE(strchr(user, '@') != NULL, PARLEY_ERR_DECODE);
    *device = (uint32_t)d;
    rc = PARLEY_OK;
out:
    return rc;
}

/* Base64 attributes go through a scratch element so that the one strict
 * codec of the stanza layer is the only one. */
int pcl_attr_b64_set(parley_stanza *e, const char *name, const uint8_t *p, size_t n)
{
    parley_stanza *tmp = NULL;
    int rc;
    GUARD(parley_stanza_new(&tmp, "b"));
    GUARD(parley_stanza_set_bytes(tmp, p, n));
    GUARD(parley_stanza_set_attr(e, name, parley_stanza_text(tmp, NULL)));
    rc = PARLEY_OK;
out:
    parley_stanza_free(tmp);
    return rc;
}

int pcl_attr_b64_get(const parley_stanza *e, const char *name, uint8_t *out, size_t max,
                     size_t *len)
{
    parley_stanza *tmp = NULL;
    const char *v = parley_stanza_attr(e, name);
    int rc;
    ENSURE(v != NULL, PARLEY_ERR_DECODE);
    GUARD(parley_stanza_new(&tmp, "b"));
    GUARD(parley_stanza_set_text(tmp, v, strlen(v)));
    GUARD(parley_stanza_get_bytes(tmp, out, max, len));
    rc = PARLEY_OK;
out:
    parley_stanza_free(tmp);
    return rc;
}

/* ---- lifecycle ---- */

int parley_client_open(parley_client **out, const char *dir)
{
    parley_client *c = NULL;
    int rc;
    *out = NULL;
    GUARD(pc_init());
    c = calloc(1, sizeof *c);
    ENSURE(c != NULL, PARLEY_ERR_NOMEM);
    c->net.fd = -1;
    GUARD(pcl_store_open(&c->st, dir));
    GUARD(pcl_store_signal(&c->st, &c->sstore));
    GUARD(pcl_attach_schema(c));
    if (pcl_cfg_get_str(&c->st, "user", c->user, sizeof c->user) != PARLEY_OK)
        c->user[0] = 0;
    if (pcl_cfg_get_u32(&c->st, "device", &c->device) != PARLEY_OK)
        c->device = 0;
    if (pcl_cfg_get_str(&c->st, "server", c->server, sizeof c->server) != PARLEY_OK)
        c->server[0] = 0;
    {
        size_t n = 0;
        if (pcl_cfg_get(&c->st, "root", c->root, sizeof c->root, &n) != PARLEY_OK || n != 32)
            memset(c->root, 0, sizeof c->root);
    }
    rc = parley_signal_open(&c->sig, c->sstore);
    if (rc == PARLEY_ERR_NOT_FOUND) {
        c->sig = NULL;
        rc = PARLEY_OK;
    }
    GUARD(rc);
    *out = c;
    c = NULL;
    rc = PARLEY_OK;
out:
    parley_client_free(c);
    return rc;
}

void parley_client_free(parley_client *c)
{
    if (!c)
        return;
    pcl_disconnect(c);
    parley_signal_free(c->sig);
    parley_signal_store_free(c->sstore);
    pcl_store_close(&c->st);
    free(c);
}

const char *parley_client_user(const parley_client *c)
{
    return c->user[0] ? c->user : NULL;
}

uint32_t parley_client_device(const parley_client *c)
{
    return c->device;
}

void parley_client_last_error(const parley_client *c, int *code, const char **reason)
{
    if (code)
        *code = c->last_code;
    if (reason)
        *reason = c->last_reason;
}

void parley_client_set_prekey_batch(parley_client *c, unsigned n)
{
    c->prekey_batch = n > PARLEY_CLIENT_PREKEY_BATCH ? PARLEY_CLIENT_PREKEY_BATCH : n;
}

void parley_client_set_log(parley_client *c, void (*log)(void *arg, const char *line), void *arg)
{
    c->log = log;
    c->log_arg = arg;
}

static void set_refusal(parley_client *c, int code, const char *reason)
{
    c->last_code = code;
    snprintf(c->last_reason, sizeof c->last_reason, "%s", reason ? reason : "unknown");
}

void pcl_rollback(parley_client *c)
{
    pcl_store_rollback(&c->st);
    if (c->sig) {
        parley_signal *fresh = NULL;
        parley_signal_free(c->sig);
        c->sig = NULL;
        if (parley_signal_open(&fresh, c->sstore) == PARLEY_OK)
            c->sig = fresh;
    }
}

/* ---- the connection ---- */

static int queue_push(parley_client *c, parley_stanza *st)
{
    if (c->q_len == PCL_STANZA_QUEUE_MAX) {
        /* Unacked stanzas come back on the next login; dropping one here
         * loses nothing the server holds. */
        parley_stanza_free(st);
        return PARLEY_ERR_BUFFER;
    }
    c->queue[(c->q_head + c->q_len) % PCL_STANZA_QUEUE_MAX] = st;
    c->q_len++;
    return PARLEY_OK;
}

static parley_stanza *queue_pop(parley_client *c)
{
    parley_stanza *st;
    if (c->q_len == 0)
        return NULL;
    st = c->queue[c->q_head];
    c->q_head = (c->q_head + 1) % PCL_STANZA_QUEUE_MAX;
    c->q_len--;
    return st;
}

void pcl_disconnect(parley_client *c)
{
    parley_stanza *st;
    if (c->connected)
        pcl_net_close(&c->net);
    c->connected = 0;
    while ((st = queue_pop(c)) != NULL)
        parley_stanza_free(st);
}

/* Logs in with `kind` (login, register or link) and reads the answer. */
static int connect_as(parley_client *c, const char *kind, const char *code)
{
    parley_stanza *login = NULL, *ans = NULL;
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    uint8_t priv[32], server_static[32];
    size_t n = 0;
    int have_static = 0;
    parley_noise_client_config cfg;
    int rc;
    if (c->connected)
        return PARLEY_OK;
    ENSURE(c->server[0] != 0, PARLEY_ERR_CLIENT_NOT_REGISTERED);
    GUARD(pcl_cfg_get(&c->st, "noise_priv", priv, sizeof priv, &n));
    ENSURE(n == 32, PARLEY_ERR_STORE_CORRUPT);
    if (pcl_cfg_get(&c->st, "server_static", server_static, sizeof server_static, &n) ==
            PARLEY_OK &&
        n == 32)
        have_static = 1;
    GUARD(parley_stanza_new(&login, kind));
    GUARD(parley_stanza_set_attr(login, "user", c->user));
    if (code)
        GUARD(parley_stanza_set_attr(login, "code", code));
    else if (strcmp(kind, "enlist") != 0)
        GUARD(parley_stanza_set_attr_u64(login, "device", c->device));
    GUARD(parley_stanza_set_attr(login, "client", PARLEY_CLIENT_VERSION));
    GUARD(pcl_tp_login_extra(c, login)); /* a third-party account's attestation (thirdparty.c) */
    GUARD(parley_stanza_write_alloc(login, &payload, &payload_len));
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = priv;
    cfg.root_pub = c->root;
    cfg.server_static = have_static ? server_static : NULL;
    cfg.login = payload;
    cfg.login_len = payload_len;
    cfg.limits.handshake_timeout_ms = PCL_CONNECT_TIMEOUT_MS;
    GUARD(pcl_net_open(&c->net, c->server, &cfg, PCL_CONNECT_TIMEOUT_MS));
    c->connected = 1;
    GUARD(pcl_net_recv(&c->net, PCL_IQ_TIMEOUT_MS, &ans));
    if (parley_stanza_is(ans, "failure")) {
        set_refusal(c, 403, parley_stanza_attr(ans, "reason"));
        pcl_log(c, "login refused: %s", c->last_reason);
        rc = PARLEY_ERR_CLIENT_REFUSED;
        goto out;
    }
    ENSURE(parley_stanza_is(ans, "success"), PARLEY_ERR_DECODE);
    GUARD(pcl_attach_login(c, ans));
    {
        uint64_t dev = 0;
        GUARD(parley_stanza_attr_u64(ans, "device", &dev));
        ENSURE(dev >= 1 && dev <= UINT32_MAX, PARLEY_ERR_DECODE);
        if (c->device == 0) {
            c->device = (uint32_t)dev;
            GUARD(pcl_cfg_set_u32(&c->st, "device", c->device));
        }
        ENSURE(c->device == dev, PARLEY_ERR_DECODE);
    }
    /* Cache the server key: the next login is IK (Noise Pipes). */
    {
        uint8_t rs[32];
        GUARD(parley_noise_conn_remote_static(c->net.nc, rs));
        if (!have_static || memcmp(rs, server_static, 32) != 0)
            GUARD(pcl_cfg_set(&c->st, "server_static", rs, 32));
    }
    pcl_log(c, "connected to %s as %s/%u (%s)", c->server, c->user, (unsigned)c->device,
            parley_noise_conn_mode(c->net.nc) == PARLEY_NOISE_MODE_IK ? "IK" : "XX");
    if (strcmp(kind, "login") == 0)
        GUARD(pcl_resign_if_needed(c));
    rc = PARLEY_OK;
out:
    if (rc != PARLEY_OK)
        pcl_disconnect(c);
    pc_wipe(priv, sizeof priv);
    parley_stanza_free(login);
    parley_stanza_free(ans);
    free(payload);
    return rc;
}

/* Handles the acks that arrived while waiting for something else (so the
 * outbox forgets acknowledged receipts); anything else is left to the
 * server, which delivers it again at the next login. */
void pcl_drain_acks(parley_client *c)
{
    parley_stanza *st;
    while ((st = queue_pop(c)) != NULL) {
        if (parley_stanza_is(st, "ack") && pcl_handle(c, st) != PARLEY_OK)
            pcl_log(c, "could not record an ack");
        parley_stanza_free(st);
    }
}

int pcl_connect(parley_client *c)
{
    if (!c->sig || c->device == 0)
        return PARLEY_ERR_CLIENT_NOT_REGISTERED;
    return connect_as(c, "login", NULL);
}

int pcl_iq_new(parley_stanza **out, const char *type, const char *child, parley_stanza **child_out,
               char id[25])
{
    parley_stanza *iq = NULL;
    int rc;
    pcl_new_id(id);
    GUARD(parley_stanza_new(&iq, "iq"));
    GUARD(parley_stanza_set_attr(iq, "id", id));
    GUARD(parley_stanza_set_attr(iq, "type", type));
    GUARD(parley_stanza_add_child(iq, child, child_out));
    *out = iq;
    iq = NULL;
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    return rc;
}

/* Waits for a stanza named `name` with id; anything else is queued. */
static int wait_for(parley_client *c, const char *name, const char *id, parley_stanza **res)
{
    uint64_t deadline = pcl_mono_ms() + PCL_IQ_TIMEOUT_MS;
    int rc;
    *res = NULL;
    for (;;) {
        parley_stanza *st = NULL;
        uint64_t now = pcl_mono_ms();
        ENSURE(now < deadline, PARLEY_ERR_TIMEOUT);
        rc = pcl_net_recv(&c->net, (int)(deadline - now), &st);
        if (rc != PARLEY_OK) {
            pcl_disconnect(c);
            goto out;
        }
        if (parley_stanza_is(st, name) && parley_stanza_attr(st, "id") &&
            strcmp(parley_stanza_attr(st, "id"), id) == 0) {
            *res = st;
            break;
        }
        if (parley_stanza_is(st, "error")) {
            /* The server refused a stanza outside an iq (protocol.md "Errors outside an iq"). */
            set_refusal(c, 400, parley_stanza_attr(st, "reason"));
            pcl_log(c, "server error: %s", c->last_reason);
        }
        (void)queue_push(c, st);
    }
    rc = PARLEY_OK;
out:
    return rc;
}

int pcl_iq(parley_client *c, parley_stanza *req, const char *id, parley_stanza **res)
{
    parley_stanza *ans = NULL;
    const char *type;
    int rc;
    *res = NULL;
    ENSURE(c->connected, PARLEY_ERR_CLIENT_CLOSED);
    rc = pcl_net_send(&c->net, req);
    if (rc != PARLEY_OK) {
        pcl_disconnect(c);
        goto out;
    }
    GUARD(wait_for(c, "iq", id, &ans));
    type = parley_stanza_attr(ans, "type");
    if (type && strcmp(type, "error") == 0) {
        parley_stanza *e = parley_stanza_child(ans, "error");
        uint64_t code = 0;
        if (e && parley_stanza_attr_u64(e, "code", &code) != PARLEY_OK)
            code = 0;
        set_refusal(c, (int)code, e ? parley_stanza_attr(e, "reason") : NULL);
        rc = PARLEY_ERR_CLIENT_REFUSED;
        goto out;
    }
    ENSURE(type && strcmp(type, "result") == 0, PARLEY_ERR_DECODE);
    *res = ans;
    ans = NULL;
    rc = PARLEY_OK;
out:
    parley_stanza_free(ans);
    return rc;
}

int pcl_wait_ack(parley_client *c, const char *id, parley_stanza **res)
{
    return wait_for(c, "ack", id, res);
}

/* ---- registration and linking ---- */

static int setup_identity(parley_client *c, const char *server, const uint8_t root_pub[32],
                          const char *user)
{
    uint8_t priv[32], pub[32];
    int rc;
    ENSURE(strlen(user) < PARLEY_CLIENT_ADDR_MAX && strchr(user, '@') && !strchr(user, '/'),
           PARLEY_ERR_INVALID_ARG);
    ENSURE(strlen(server) < sizeof c->server, PARLEY_ERR_INVALID_ARG);
    if (c->sig && c->device != 0)
        return PARLEY_ERR_STATE; /* already registered */
    GUARD(pcl_store_begin(&c->st));
    if (!c->sig) {
        GUARD(parley_signal_create(&c->sig, c->sstore));
        GUARD(parley_signal_new_signed_prekey(c->sig, 1, pcl_now_ms()));
        GUARD(pcl_cfg_set_u32(&c->st, "signed_id", 1));
        GUARD(pcl_cfg_set_u32(&c->st, "signed_t", (uint32_t)(pcl_now_ms() / 1000)));
        GUARD(pc_x25519_keygen(pub, priv));
        GUARD(pcl_cfg_set(&c->st, "noise_priv", priv, 32));
    }
    GUARD(pcl_cfg_set(&c->st, "user", user, strlen(user)));
    GUARD(pcl_cfg_set(&c->st, "server", server, strlen(server)));
    GUARD(pcl_cfg_set(&c->st, "root", root_pub, 32));
    GUARD(pcl_store_commit(&c->st));
    snprintf(c->user, sizeof c->user, "%s", user);
    snprintf(c->server, sizeof c->server, "%s", server);
    memcpy(c->root, root_pub, 32);
    rc = PARLEY_OK;
out:
    if (rc != PARLEY_OK) {
        pcl_store_rollback(&c->st);
        if (c->sig && rc != PARLEY_ERR_STATE) {
            parley_signal_free(c->sig);
            c->sig = NULL;
        }
    }
    pc_wipe(priv, sizeof priv);
    return rc;
}

int parley_client_register(parley_client *c, const char *server, const uint8_t root_pub[32],
                           const char *user, const char *code)
{
    int rc;
    GUARD(setup_identity(c, server, root_pub, user));
    GUARD(connect_as(c, "register", code));
    GUARD(pcl_upload_keys(c, 1, PARLEY_CLIENT_PREKEY_BATCH));
    GUARD(pcl_resign_list(c));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_client_link(parley_client *c, const char *server, const uint8_t root_pub[32],
                       const char *user, const char *code)
{
    int rc;
    GUARD(setup_identity(c, server, root_pub, user));
    GUARD(connect_as(c, "link", code));
    GUARD(pcl_upload_keys(c, 1, PARLEY_CLIENT_PREKEY_BATCH));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_client_link_code(parley_client *c, char *code, size_t code_max, uint64_t *expires)
{
    parley_stanza *iq = NULL, *res = NULL, *lc;
    char id[25];
    const char *v;
    int rc;
    GUARD(pcl_connect(c));
    GUARD(pcl_iq_new(&iq, "set", "link-code", NULL, id));
    GUARD(pcl_iq(c, iq, id, &res));
    lc = parley_stanza_child(res, "link-code");
    ENSURE(lc != NULL, PARLEY_ERR_DECODE);
    v = parley_stanza_attr(lc, "code");
    ENSURE(v != NULL && strlen(v) < code_max, PARLEY_ERR_DECODE);
    strcpy(code, v);
    if (parley_stanza_attr_u64(lc, "expires", expires) != PARLEY_OK)
        *expires = 0;
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

/* ---- device lists and trust ---- */

/*
 * The trusted primary identity of user (raw 32 bytes): this device's own
 * key when it is the primary; else the contacts row (trust on first use,
 * then only what `verify` accepted). *pending = 1 when a changed key waits.
 */
int pcl_primary_key(parley_client *c, const char *user, uint8_t key[32], int *pending)
{
    sqlite3_stmt *st = NULL;
    int rc;
    *pending = 0;
    if (strcmp(user, c->user) == 0 && c->device == 1) {
        uint8_t k33[33];
        parley_signal_identity_key(c->sig, k33);
        return parley_key_decode(key, k33, 33);
    }
    ENSURE(sqlite3_prepare_v2(c->st.db, "SELECT trusted, pending FROM contacts WHERE user=?", -1,
                              &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    ENSURE(sqlite3_column_bytes(st, 0) == 32, PARLEY_ERR_STORE_CORRUPT);
    memcpy(key, sqlite3_column_blob(st, 0), 32);
    *pending = sqlite3_column_type(st, 1) != SQLITE_NULL;
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Compares the list's primary with the trusted one (TOFU on first sight). */
static int check_primary(parley_client *c, const char *user, const uint8_t primary[32])
{
    uint8_t trusted[32];
    int pending = 0;
    sqlite3_stmt *st = NULL;
    int rc = pcl_primary_key(c, user, trusted, &pending);
    if (rc == PARLEY_ERR_NOT_FOUND) {
        ENSURE(sqlite3_prepare_v2(c->st.db, "INSERT INTO contacts(user, trusted) VALUES(?,?)", -1,
                                  &st, NULL) == SQLITE_OK,
               PARLEY_ERR_STORE);
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, primary, 32, SQLITE_STATIC);
        ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
        rc = PARLEY_OK;
        goto out;
    }
    GUARD(rc);
    if (pc_ct_eq(trusted, primary, 32)) {
        rc = PARLEY_OK;
        goto out;
    }
    /* Changed: remember it and block until the user accepts (verify). */
    ENSURE(strcmp(user, c->user) != 0 || c->device != 1, PARLEY_ERR_CLIENT_DEVICES);
    ENSURE(sqlite3_prepare_v2(c->st.db, "UPDATE contacts SET pending=?, verified=0 WHERE user=?",
                              -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_blob(st, 1, primary, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    if (!pending)
        pcl_emit(c, PARLEY_CLIENT_EV_IDENTITY, NULL, user, NULL, "identity changed", pcl_now_ms());
    rc = PARLEY_ERR_UNTRUSTED_IDENTITY;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Stores a verified list: device rows (fresh when a device's key changed,
 * so its next message starts a new session) and per-device trust for the
 * Signal layer, whose peer names are device addresses. */
static int apply_list(parley_client *c, const char *user, const parley_device_list *l,
                      const uint8_t *raw, size_t raw_len, const uint8_t sig[64])
{
    sqlite3_stmt *st = NULL;
    int rc;
    GUARD(pcl_store_begin(&c->st));
    ENSURE(sqlite3_prepare_v2(c->st.db,
                              "INSERT OR REPLACE INTO device_lists(user, version, list, sig, "
                              "fetched) VALUES(?,?,?,?,?)",
                              -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, l->version);
    sqlite3_bind_blob(st, 3, raw, (int)raw_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, sig, 64, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)pcl_now_ms());
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    sqlite3_finalize(st);
    st = NULL;
    /* Mark devices whose key changed; drop those no longer listed. */
    ENSURE(sqlite3_prepare_v2(c->st.db, "UPDATE devices SET device=-device WHERE user=?", -1, &st,
                              NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    sqlite3_finalize(st);
    st = NULL;
    for (size_t i = 0; i < l->count; i++) {
        char addr[PARLEY_CLIENT_ADDR_MAX + 16];
        ENSURE(sqlite3_prepare_v2(
                   c->st.db,
                   "INSERT INTO devices(user, device, identity, fresh) VALUES(?1, ?2, ?3,"
                   " COALESCE((SELECT identity != ?3 OR fresh FROM devices WHERE user=?1 AND "
                   "device=-?2), 0))",
                   -1, &st, NULL) == SQLITE_OK,
               PARLEY_ERR_STORE);
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, l->ids[i]);
        sqlite3_bind_blob(st, 3, l->keys[i], 33, SQLITE_STATIC);
        ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
        sqlite3_finalize(st);
        st = NULL;
        snprintf(addr, sizeof addr, "%s/%u", user, (unsigned)l->ids[i]);
        if (!(strcmp(user, c->user) == 0 && l->ids[i] == c->device))
            GUARD(parley_signal_trust(c->sig, addr, l->keys[i]));
    }
    ENSURE(sqlite3_prepare_v2(c->st.db, "DELETE FROM devices WHERE user=? AND device<0", -1, &st,
                              NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    GUARD(pcl_store_commit(&c->st));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (rc != PARLEY_OK)
        pcl_rollback(c);
    return rc;
}

static int stored_version(parley_client *c, const char *user, uint32_t *version)
{
    sqlite3_stmt *st = NULL;
    int rc;
    *version = 0;
    ENSURE(sqlite3_prepare_v2(c->st.db, "SELECT version FROM device_lists WHERE user=?", -1, &st,
                              NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *version = (uint32_t)sqlite3_column_int64(st, 0);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/*
 * Fetches user's device list from the server and accepts it only when the
 * signed list verifies under the trusted primary key and is not older than
 * the one already seen (protocol.md, "Device list").
 */
int pcl_fetch_list(parley_client *c, const char *user, parley_device_list *l)
{
    parley_stanza *iq = NULL, *res = NULL, *devs, *sg;
    char id[25];
    uint8_t raw[4096], sig[64], primary[32];
    size_t raw_len = 0, sig_len = 0;
    uint32_t have = 0;
    int rc;
    GUARD(pcl_connect(c));
    GUARD(pcl_iq_new(&iq, "get", "devices", &devs, id));
    GUARD(parley_stanza_set_attr(devs, "user", user));
    GUARD(pcl_iq(c, iq, id, &res));
    devs = parley_stanza_child(res, "devices");
    ENSURE(devs != NULL, PARLEY_ERR_DECODE);
    sg = parley_stanza_child(devs, "signed");
    ENSURE(sg != NULL, PARLEY_ERR_CLIENT_DEVICES);
    GUARD(pcl_attr_b64_get(sg, "sig", sig, sizeof sig, &sig_len));
    ENSURE(sig_len == 64, PARLEY_ERR_INVALID_SIGNATURE);
    GUARD(parley_stanza_get_bytes(sg, raw, sizeof raw, &raw_len));
    GUARD(parley_device_list_verify(l, user, raw, raw_len, sig));
    for (size_t i = 0; i < l->count; i++)
        if (l->ids[i] == 1)
            GUARD(parley_key_decode(primary, l->keys[i], 33));
    GUARD(check_primary(c, user, primary));
    GUARD(stored_version(c, user, &have));
    /* A replayed older list would hide a removal or resurrect a device. */
    ENSURE(l->version >= have, PARLEY_ERR_CLIENT_DEVICES);
    GUARD(apply_list(c, user, l, raw, raw_len, sig));
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

/*
 * The list fetched within the last PCL_LIST_TTL_MS, verified again; the
 * server's 409 corrects a list that went stale in the meantime (as
 * Signal's clients do). PARLEY_ERR_NOT_FOUND when there is none to use.
 */
int pcl_cached_list(parley_client *c, const char *user, parley_device_list *l)
{
    sqlite3_stmt *st = NULL;
    uint8_t primary[32], trusted[32];
    int pending = 0, rc;
    ENSURE(sqlite3_prepare_v2(c->st.db, "SELECT list, sig, fetched FROM device_lists WHERE user=?",
                              -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_ROW, PARLEY_ERR_NOT_FOUND);
    ENSURE((uint64_t)sqlite3_column_int64(st, 2) + PCL_LIST_TTL_MS > pcl_now_ms(),
           PARLEY_ERR_NOT_FOUND);
    ENSURE(sqlite3_column_bytes(st, 1) == 64, PARLEY_ERR_STORE_CORRUPT);
    GUARD(parley_device_list_verify(l, user, sqlite3_column_blob(st, 0),
                                    (size_t)sqlite3_column_bytes(st, 0),
                                    sqlite3_column_blob(st, 1)));
    GUARD(pcl_primary_key(c, user, trusted, &pending));
    ENSURE(!pending, PARLEY_ERR_UNTRUSTED_IDENTITY);
    for (size_t i = 0; i < l->count; i++)
        if (l->ids[i] == 1)
            GUARD(parley_key_decode(primary, l->keys[i], 33));
    ENSURE(pc_ct_eq(primary, trusted, 32), PARLEY_ERR_NOT_FOUND);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- devices, contacts, safety numbers ---- */

int parley_client_devices(parley_client *c, parley_client_device_info *out, size_t max, size_t *n)
{
    parley_stanza *iq = NULL, *res = NULL, *devs, *d;
    parley_device_list l;
    char id[25];
    int rc, have_list;
    *n = 0;
    GUARD(pcl_connect(c));
    have_list = pcl_fetch_list(c, c->user, &l) == PARLEY_OK;
    if (!have_list)
        memset(&l, 0, sizeof l);
    GUARD(pcl_iq_new(&iq, "get", "devices", &devs, id));
    GUARD(parley_stanza_set_attr(devs, "user", c->user));
    GUARD(pcl_iq(c, iq, id, &res));
    devs = parley_stanza_child(res, "devices");
    ENSURE(devs != NULL, PARLEY_ERR_DECODE);
    for (d = parley_stanza_child(devs, "device"); d && *n < max; d = parley_stanza_next_named(d)) {
        parley_client_device_info *info = &out[*n];
        uint64_t did = 0;
        size_t kl = 0;
        memset(info, 0, sizeof *info);
        GUARD(parley_stanza_attr_u64(d, "id", &did));
        ENSURE(did >= 1 && did <= UINT32_MAX, PARLEY_ERR_DECODE);
        info->id = (uint32_t)did;
        if (pcl_attr_b64_get(d, "identity", info->identity, 33, &kl) != PARLEY_OK || kl != 33)
            memset(info->identity, 0, 33);
        for (size_t i = 0; i < l.count; i++)
            if (l.ids[i] == info->id && memcmp(l.keys[i], info->identity, 33) == 0)
                info->signed_list = 1;
        info->self = info->id == c->device;
        (*n)++;
    }
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

int parley_client_remove_device(parley_client *c, uint32_t dev)
{
    parley_stanza *iq = NULL, *res = NULL, *rm;
    char id[25];
    int rc;
    GUARD(pcl_connect(c));
    GUARD(pcl_iq_new(&iq, "set", "remove-device", &rm, id));
    GUARD(parley_stanza_set_attr_u64(rm, "id", dev));
    GUARD(pcl_iq(c, iq, id, &res));
    if (c->device == 1 && dev != 1)
        GUARD(pcl_resign_list(c));
    rc = PARLEY_OK;
out:
    parley_stanza_free(iq);
    parley_stanza_free(res);
    return rc;
}

int parley_client_contacts(parley_client *c, void (*cb)(const parley_client_contact *ct, void *arg),
                           void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, e;
    ENSURE(sqlite3_prepare_v2(c->st.db,
                              "SELECT user, trusted, pending IS NOT NULL, verified FROM contacts"
                              " WHERE user != ? ORDER BY user",
                              -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, c->user, -1, SQLITE_STATIC);
    while ((e = sqlite3_step(st)) == SQLITE_ROW) {
        parley_client_contact ct;
        ENSURE(sqlite3_column_bytes(st, 1) == 32, PARLEY_ERR_STORE_CORRUPT);
        ct.user = (const char *)sqlite3_column_text(st, 0);
        ct.trusted = sqlite3_column_blob(st, 1);
        ct.pending = sqlite3_column_int(st, 2);
        ct.verified = sqlite3_column_int(st, 3);
        cb(&ct, arg);
    }
    ENSURE(e == SQLITE_DONE, PARLEY_ERR_STORE);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int parley_client_safety_number(parley_client *c, const char *contact, char display[61],
                                uint8_t scannable[80], size_t *scannable_len, int *pending)
{
    uint8_t mine[32], theirs[32];
    int my_pending = 0;
    sqlite3_stmt *st = NULL;
    int rc;
    ENSURE(c->sig != NULL && c->device != 0, PARLEY_ERR_CLIENT_NOT_REGISTERED);
    rc = pcl_primary_key(c, contact, theirs, pending);
    if (rc == PARLEY_ERR_NOT_FOUND) {
        parley_device_list l;
        rc = pcl_fetch_list(c, contact, &l);
        if (rc != PARLEY_OK && rc != PARLEY_ERR_UNTRUSTED_IDENTITY)
            goto out;
        rc = pcl_primary_key(c, contact, theirs, pending);
    }
    GUARD(rc);
    if (*pending) {
        ENSURE(sqlite3_prepare_v2(c->st.db, "SELECT pending FROM contacts WHERE user=?", -1, &st,
                                  NULL) == SQLITE_OK,
               PARLEY_ERR_STORE);
        sqlite3_bind_text(st, 1, contact, -1, SQLITE_STATIC);
        ENSURE(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32,
               PARLEY_ERR_STORE);
        memcpy(theirs, sqlite3_column_blob(st, 0), 32);
    }
    rc = pcl_primary_key(c, c->user, mine, &my_pending);
    if (rc == PARLEY_ERR_NOT_FOUND) {
        parley_device_list l;
        GUARD(pcl_fetch_list(c, c->user, &l));
        rc = pcl_primary_key(c, c->user, mine, &my_pending);
    }
    GUARD(rc);
    GUARD(parley_fingerprint_compute(display, scannable, scannable_len, (const uint8_t *)c->user,
                                     strlen(c->user), mine, (const uint8_t *)contact,
                                     strlen(contact), theirs));
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int parley_client_verify(parley_client *c, const char *contact)
{
    sqlite3_stmt *st = NULL;
    int rc;
    ENSURE(strcmp(contact, c->user) != 0, PARLEY_ERR_INVALID_ARG);
    ENSURE(
        sqlite3_prepare_v2(c->st.db,
                           "UPDATE contacts SET trusted=COALESCE(pending, trusted), pending=NULL,"
                           " verified=1 WHERE user=?",
                           -1, &st, NULL) == SQLITE_OK,
        PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, contact, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    ENSURE(sqlite3_changes(c->st.db) == 1, PARLEY_ERR_NOT_FOUND);
    /* A new primary restarts the version count: forget the old list. */
    sqlite3_finalize(st);
    st = NULL;
    ENSURE(sqlite3_prepare_v2(c->st.db, "DELETE FROM device_lists WHERE user=?", -1, &st, NULL) ==
               SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, contact, -1, SQLITE_STATIC);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- the receive loop ---- */

static void backoff_sleep(unsigned *backoff_ms, volatile sig_atomic_t *stop)
{
    /* Full jitter (sleep uniformly in [b/2, b]) so that clients dropped
     * together do not come back together. */
    unsigned b = *backoff_ms;
    unsigned ms = b / 2 + pc_random_uniform(b / 2 + 1);
    while (ms > 0 && !(stop && *stop)) {
        unsigned step = ms < 100 ? ms : 100;
        usleep(step * 1000u);
        ms -= step;
    }
    *backoff_ms = b * 2 > PCL_BACKOFF_MAX_MS ? PCL_BACKOFF_MAX_MS : b * 2;
}

int parley_client_receive(parley_client *c, int idle_ms, parley_client_event_cb cb, void *arg,
                          volatile sig_atomic_t *stop)
{
    unsigned backoff = PCL_BACKOFF_MIN_MS;
    int rc = PARLEY_OK;
    c->cb = cb;
    c->cb_arg = arg;
    if (c->sig && c->device != 0) {
        GUARD(pcl_replay_unshown(c));
        pcl_attach_pending(c);
    }
    while (!(stop && *stop)) {
        rc = pcl_connect(c);
        if (rc == PARLEY_OK)
            rc = pcl_flush_outbox(c);
        if (rc == PARLEY_OK)
            rc = pcl_rotate_signed_if_due(c);
        if (rc == PARLEY_OK && idle_ms < 0)
            rc = pcl_subscribe_contacts(c);
        if (rc != PARLEY_OK) {
            if (idle_ms >= 0 || rc == PARLEY_ERR_CLIENT_REFUSED ||
                rc == PARLEY_ERR_CLIENT_NOT_REGISTERED)
                goto out;
            pcl_disconnect(c);
            pcl_log(c, "connect failed (%s); retrying", parley_strerror(rc));
            backoff_sleep(&backoff, stop);
            continue;
        }
        backoff = PCL_BACKOFF_MIN_MS;
        pcl_emit(c, PARLEY_CLIENT_EV_CONNECTED, NULL, NULL, NULL, c->server, pcl_now_ms());
        uint64_t last_rx = pcl_mono_ms();
        while (!(stop && *stop)) {
            parley_stanza *st = queue_pop(c);
            if (!st) {
                int wait = idle_ms >= 0 ? idle_ms : 1000;
                rc = pcl_net_recv(&c->net, wait, &st);
                if (rc == PARLEY_ERR_TIMEOUT) {
                    if (idle_ms >= 0) {
                        rc = PARLEY_OK;
                        goto out;
                    }
                    /* Keepalive: a silent connection may be dead. */
                    if (pcl_mono_ms() - last_rx > 60000) {
                        parley_stanza *iq = NULL, *res = NULL;
                        char id[25];
                        rc = pcl_iq_new(&iq, "get", "ping", NULL, id);
                        if (rc == PARLEY_OK)
                            rc = pcl_iq(c, iq, id, &res);
                        parley_stanza_free(iq);
                        parley_stanza_free(res);
                        last_rx = pcl_mono_ms();
                        if (rc != PARLEY_OK && rc != PARLEY_ERR_CLIENT_REFUSED)
                            break;
                    }
                    continue;
                }
                if (rc != PARLEY_OK)
                    break;
                last_rx = pcl_mono_ms();
            }
            rc = pcl_handle(c, st);
            parley_stanza_free(st);
            if (rc != PARLEY_OK && !c->connected)
                break;
            rc = PARLEY_OK;
        }
        pcl_disconnect(c);
        pcl_emit(c, PARLEY_CLIENT_EV_DISCONNECTED, NULL, NULL, NULL, parley_strerror(rc),
                 pcl_now_ms());
        if (idle_ms >= 0)
            goto out;
        if (!(stop && *stop))
            backoff_sleep(&backoff, stop);
    }
    rc = PARLEY_OK;
out:
    c->cb = NULL;
    return rc;
}

/* For thirdparty.c: the same setup and login as register, without a code. */
int pcl_setup_identity(parley_client *c, const char *server, const uint8_t root_pub[32],
                       const char *user)
{
    return setup_identity(c, server, root_pub, user);
}

int pcl_connect_kind(parley_client *c, const char *kind)
{
    return connect_as(c, kind, NULL);
}
