/*
 * One client connection: Noise handshake, login (docs/protocol.md,
 * "Login payload"), the stanza loop with its bounds (size, rate, bad
 * input), and delivery of the device's queue.
 *
 * Delivery (protocol.md, "Messages"; DESIGN.md section 4). The store is the
 * truth and pushes are a shortcut, so the connection is in one of two
 * modes:
 *   backlog  it reads its queue from the store, a page at a time, after
 *            `cursor`, and ignores pushes (what they carry is in the store);
 *            when a page comes back short it switches to live with
 *            floor = cursor.
 *   live     a push with sid > floor is sent at once; one with sid <= floor
 *            was already read from the store. Server ids are assigned in
 *            commit order, so every copy committed before the last page was
 *            read has a sid <= floor, and every later one is pushed.
 * When the output is full (a slow reader) a push is not sent and the
 * connection falls back to backlog from `floor`: at worst a copy is sent
 * twice, which the client dedupes by (sender device, id), and none is lost.
 * If the output stays full for slow_reader_timeout_ms the connection is
 * dropped; its messages stay queued.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "crypto/crypto.h"
#include "parley/media.h"
#include "parley/signal.h"
#include "parley/xeddsa.h"
#include "server/server.h"
#include "util/safety.h"

enum { ST_HANDSHAKE = 0, ST_READY, ST_CLOSING, ST_DEAD };

struct sconn {
    sconn *hnext; /* worker table link: these two fields come first (worker.c) */
    uint64_t id;
    worker *w;
    parley_noise_bev *bev;
    struct event *timer; /* made on first need: flow control, linger */
    int state;
    int refs; /* the connection itself + group-commit operations in flight */
    int in_table;
    int registered;
    int backlog;
    uint64_t cursor, floor;
    uint64_t blocked_since; /* monotonic ms; 0: not blocked */
    double tokens;
    uint64_t tokens_ms;
    unsigned refused, bad;
    int quiet; /* idle sweeps passed without traffic (srv_conn_trim_idle) */
    uint32_t device;
    /* New-provider notices: the device's last_seen at login (Unix seconds)
     * and the newest provider creation this connection has announced. */
    int64_t seen, told;
    uint64_t login_ms; /* Unix ms of the login: a kick from another process spares newer ones */
    char user[PSTORE_ADDRESS_MAX + 1];
    /* third-party devices (conn_ix.inc) */
    int tp, tp_counted, has_ip, via_proxy;
    unsigned ix_refused;
    char provider[65];
    uint64_t att_expires; /* Unix seconds */
    uint8_t devkey[32];   /* the device's own static key (differs in proxy mode) */
    uint8_t ip[16];       /* the client's address (the proxy statement's in proxy mode) */
};

static _Thread_local uint8_t scratch[65536];

static void conn_unref(sconn *c);
static void conn_close(sconn *c, const char *why);
static void backlog_step(sconn *c);

/* ---- output ---- */

/* PARLEY_ERR_BUFFER when the connection's output is full. */
static int send_raw(sconn *c, const uint8_t *p, size_t n)
{
    if (c->state == ST_DEAD || c->bev == NULL)
        return PARLEY_ERR_STATE;
    c->quiet = 0;
    return parley_noise_bev_send(c->bev, p, n);
}

static int send_stanza(sconn *c, const parley_stanza *st)
{
    size_t n = 0;
    int rc = parley_stanza_write(st, scratch, sizeof scratch, &n);
    if (rc < 0)
        return rc;
    return send_raw(c, scratch, n);
}

/* A small stanza with up to three attributes, built without a tree. */
static int send_simple(sconn *c, const char *name, const char *k1, const char *v1,
                       const char *k2, const char *v2, const char *k3, const char *v3)
{
    int rc;
    parley_stanza *st = NULL;
    GUARD(parley_stanza_new(&st, name));
    if (k1 != NULL && v1 != NULL)
        GUARD(parley_stanza_set_attr(st, k1, v1));
    if (k2 != NULL && v2 != NULL)
        GUARD(parley_stanza_set_attr(st, k2, v2));
    if (k3 != NULL && v3 != NULL)
        GUARD(parley_stanza_set_attr(st, k3, v3));
    rc = send_stanza(c, st);
out:
    parley_stanza_free(st);
    return rc;
}

static int send_error(sconn *c, int code, const char *reason, const char *text)
{
    char cs[16];
    snprintf(cs, sizeof cs, "%d", code);
    return send_simple(c, "error", "code", cs, "reason", reason, "text", text);
}

static const char *reason_of(int code)
{
    switch (code) {
    case 400: return "bad-request";
    case 403: return "forbidden";
    case 404: return "not-found";
    case 409: return "conflict";
    case 413: return "too-large";
    case 429: return "rate-limited";
    case 507: return "store-full";
    default: return "internal";
    }
}

static int send_iq_error(sconn *c, const char *id, int code)
{
    int rc;
    parley_stanza *st = NULL, *e = NULL;
    GUARD(parley_stanza_new(&st, "iq"));
    GUARD(parley_stanza_set_attr(st, "id", id));
    GUARD(parley_stanza_set_attr(st, "type", "error"));
    GUARD(parley_stanza_add_child(st, "error", &e));
    GUARD(parley_stanza_set_attr_u64(e, "code", (uint64_t)code));
    GUARD(parley_stanza_set_attr(e, "reason", reason_of(code)));
    rc = send_stanza(c, st);
out:
    parley_stanza_free(st);
    return rc;
}

static int send_ack_error(sconn *c, const char *id, const char *cls, int code)
{
    char cs[16];
    snprintf(cs, sizeof cs, "%d", code);
    return send_simple(c, "ack", "id", id, "class", cls, "error", cs);
}

/* A refusal that names its reason, for the client to show. */
static int send_ack_refusal(sconn *c, const char *id, const char *cls, int code, const char *reason)
{
    int rc;
    parley_stanza *st = NULL;
    GUARD(parley_stanza_new(&st, "ack"));
    GUARD(parley_stanza_set_attr(st, "id", id));
    GUARD(parley_stanza_set_attr(st, "class", cls));
    GUARD(parley_stanza_set_attr_u64(st, "error", (uint64_t)code));
    GUARD(parley_stanza_set_attr(st, "reason", reason));
    rc = send_stanza(c, st);
out:
    parley_stanza_free(st);
    return rc;
}

/*
 * Send one stored copy with its queue id: the stored stanza is the one the
 * recipient gets, minus the sid, which only exists after the commit; it is
 * spliced in after the element name.
 */
static int deliver(sconn *c, uint64_t sid, const uint8_t *st, size_t len)
{
    char attr[40];
    size_t i = 1;
    while (i < len && st[i] != ' ' && st[i] != '>' && st[i] != '/')
        i++;
    int al = snprintf(attr, sizeof attr, " sid=\"%llu\"", (unsigned long long)sid);
    if (len < 2 || st[0] != '<' || i >= len || len + (size_t)al > PARLEY_STANZA_MAX_SIZE)
        return PARLEY_ERR_STORE_CORRUPT;
    memcpy(scratch, st, i);
    memcpy(scratch + i, attr, (size_t)al);
    memcpy(scratch + i + (size_t)al, st + i, len - i);
    return send_raw(c, scratch, len + (size_t)al);
}

/* ---- timers: flow control and linger ---- */

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void arm_timer(sconn *c, int ms)
{
    if (c->timer == NULL) {
        c->timer = evtimer_new(c->w->base, on_timer, c);
        if (c->timer == NULL)
            return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(c->timer, &tv);
}

static void conn_free(sconn *c)
{
    if (c->in_table)
        srv_conn_table_del(c->w, c);
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->bev != NULL)
        parley_noise_bev_free(c->bev);
    pc_wipe(c, sizeof *c);
    free(c);
}

static void conn_unref(sconn *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sconn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == ST_CLOSING) {
        c->state = ST_DEAD;
        if (c->bev != NULL) {
            parley_noise_bev_free(c->bev);
            c->bev = NULL;
        }
        conn_unref(c);
        return;
    }
    if (c->state == ST_READY && c->backlog)
        backlog_step(c);
}

/* Leave the registry and stop reading; the socket is freed after a short
 * linger so a final error stanza can still leave. */
static void conn_close(sconn *c, const char *why)
{
    if (c->state == ST_CLOSING || c->state == ST_DEAD)
        return;
    if (c->registered) {
        srv_reg_del(c->w->s, c->user, c->device, c->id);
        c->registered = 0;
        /* Only a device that was told of a provider moves its mark: a
         * logout costs no write otherwise, and a device dropped before it
         * heard is told again at its next login. */
        if (!c->tp && c->told > c->seen &&
            pstore_device_touch(c->w->s->store, c->user, c->device, c->told) < 0)
            srv_log("device %s/%u: last seen not recorded", c->user, c->device);
        if (c->w->s->cfg.verbose)
            srv_log("logout %s/%u: %s", c->user, c->device, why);
    }
    if (c->in_table) {
        srv_conn_table_del(c->w, c);
        c->in_table = 0;
    }
    if (c->tp) {
        c->w->ix_tp_conns--;
        c->tp = 0;
    }
    c->state = ST_CLOSING;
    arm_timer(c, SRV_LINGER_MS);
    if (c->timer == NULL) {
        /* No memory for a timer: free now rather than leak. */
        c->state = ST_DEAD;
        conn_unref(c);
    }
}

/* ---- delivery ---- */

typedef struct {
    sconn *c;
    int full;
    size_t n;
} fetch_ctx;

static int on_fetched(void *arg, const pstore_envelope *env)
{
    fetch_ctx *f = arg;
    int rc = deliver(f->c, env->server_id, env->stanza, env->stanza_len);
    if (rc == PARLEY_ERR_BUFFER) {
        f->full = 1;
        return rc;
    }
    if (rc < 0)
        return rc;
    f->c->cursor = env->server_id;
    f->n++;
    return 0;
}

/* Read and send the next pages of the device's queue until the output is
 * full (retry on the timer) or the queue is read (live). */
static void backlog_step(sconn *c)
{
    srv *s = c->w->s;
    for (;;) {
        fetch_ctx f = {c, 0, 0};
        uint64_t before = c->cursor;
        int rc = pstore_fetch(s->store, c->user, c->device, c->cursor, SRV_BACKLOG_PAGE, on_fetched,
                              &f);
        if (f.full) {
            uint64_t now = srv_mono_ms();
            if (c->cursor != before || c->blocked_since == 0)
                c->blocked_since = now;
            else if (now - c->blocked_since > (uint64_t)s->cfg.slow_timeout_ms) {
                srv_log("dropping %s/%u: output full for %d ms", c->user, c->device,
                        s->cfg.slow_timeout_ms);
                conn_close(c, "slow reader");
                return;
            }
            arm_timer(c, 20);
            return;
        }
        if (rc < 0) {
            srv_log("queue read for %s/%u failed: %s", c->user, c->device, parley_strerror(rc));
            conn_close(c, "store");
            return;
        }
        c->blocked_since = 0;
        /* A short page: everything committed so far has been sent. */
        if (f.n < SRV_BACKLOG_PAGE) {
            c->backlog = 0;
            c->floor = c->cursor;
            return;
        }
    }
}

static void enter_backlog(sconn *c)
{
    c->backlog = 1;
    c->cursor = c->floor;
    backlog_step(c);
}

void srv_conn_handle_shutdown(worker *w);
static void hold_acked_msg(worker *w, const srv_msg *m); /* conn_hold.inc */

void srv_conn_push(worker *w, uint64_t conn_id, uint64_t sid, const uint8_t *data, size_t len)
{
    sconn *c = srv_conn_find(w, conn_id);
    if (c == NULL || c->state != ST_READY || c->backlog || sid <= c->floor)
        return;
    if (deliver(c, sid, data, len) == PARLEY_ERR_BUFFER) {
        enter_backlog(c);
        return;
    }
    __atomic_add_fetch(&w->s->st_pushes, 1, __ATOMIC_RELAXED);
}

void srv_conn_handle_msg(worker *w, srv_msg *m)
{
    if (m->kind == SRV_MSG_SHUTDOWN) {
        srv_ix_worker_stop(w);
        srv_conn_handle_shutdown(w);
        return;
    }
    if (m->kind == SRV_MSG_RESYNC) {
        /* Another process dropped an announcement (peer.c): the store has
         * the copy, so every live connection reads its queue again. */
        for (size_t i = 0; i < w->table_size; i++)
            for (sconn *c = w->table[i]; c != NULL; c = c->hnext)
                if (c->state == ST_READY && !c->backlog)
                    enter_backlog(c);
        return;
    }
    if (m->kind == SRV_MSG_PUSH) {
        srv_conn_push(w, m->conn_id, m->sid, m->data, m->len);
        return;
    }
    if (m->kind == SRV_MSG_HOLD_ACK) {
        hold_acked_msg(w, m);
        return;
    }
    sconn *c = srv_conn_find(w, m->conn_id);
    if (c == NULL || c->state != ST_READY)
        return;
    switch (m->kind) {
    case SRV_MSG_SEND:
        (void)send_raw(c, m->data, m->len); /* best effort */
        return;
    case SRV_MSG_KICK:
        /* A kick carrying a login time (another process's login of this
         * device) closes only connections that logged in before it. */
        if (m->sid != 0 && c->login_ms >= m->sid)
            return;
        (void)send_error(c, 409, "conflict", (const char *)m->data);
        conn_close(c, "kicked");
        return;
    case SRV_MSG_SUSPEND:
        (void)send_error(c, 403, "suspended", (const char *)m->data);
        conn_close(c, "suspended");
        return;
    default:
        return;
    }
}

void srv_conn_close_all(worker *w)
{
    for (size_t i = 0; i < w->table_size; i++) {
        while (w->table[i] != NULL) {
            sconn *c = w->table[i];
            (void)send_error(c, 503, "shutdown", NULL);
            conn_close(c, "shutdown");
        }
    }
}

/* ---- rate limiting: a token bucket per connection (one device) ---- */

static int rate_ok(sconn *c)
{
    const srv_config *cfg = &c->w->s->cfg;
    uint64_t now = srv_mono_ms();
    c->tokens += (double)(now - c->tokens_ms) * cfg->rate / 1000.0;
    c->tokens_ms = now;
    if (c->tokens > cfg->burst)
        c->tokens = cfg->burst;
    /* The refusals are forgiven only once the bucket has refilled half
     * way, so a flood that gets the odd token still counts as one. */
    if (c->tokens >= cfg->burst / 2)
        c->refused = 0;
    if (c->tokens >= 1.0) {
        c->tokens -= 1.0;
        return 1;
    }
    c->refused++;
    return 0;
}

/* ---- helpers on addresses ---- */

/* "user@domain/N": split; 0 if not of that form. */
static int split_jid(const char *jid, char user[PSTORE_ADDRESS_MAX + 1], uint32_t *dev)
{
    const char *slash = strrchr(jid, '/');
    if (slash == NULL)
        return 0;
    size_t ul = (size_t)(slash - jid);
    if (ul == 0 || ul > PSTORE_ADDRESS_MAX)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long d = strtoul(slash + 1, &end, 10);
    if (slash[1] < '1' || slash[1] > '9' || *end != '\0' || errno != 0 || d > PSTORE_DEVICE_ID_MAX)
        return 0;
    memcpy(user, jid, ul);
    user[ul] = '\0';
    *dev = (uint32_t)d;
    return pstore_check_address(user) == PARLEY_OK && strchr(user, '@') != NULL;
}

static int valid_user(const char *u)
{
    return u != NULL && pstore_check_address(u) == PARLEY_OK && strchr(u, '@') != NULL &&
           strchr(u, '/') == NULL;
}

/* protocol.md: ids are 1-64 characters of [A-Za-z0-9._-]. */
static int valid_id(const char *id)
{
    if (id == NULL)
        return 0;
    size_t n = strlen(id);
    if (n == 0 || n > SRV_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static void jid_of(char out[SRV_JID_MAX + 1], const char *user, uint32_t dev)
{
    snprintf(out, SRV_JID_MAX + 1, "%s/%u", user, dev);
}

/* A transient notification to every connected device of user. */
static void notify_user(srv *s, const char *user, uint32_t device, const char *type,
                        const char *k, uint64_t v)
{
    parley_stanza *st = NULL;
    size_t n = 0;
    uint8_t buf[512];
    if (parley_stanza_new(&st, "notification") < 0)
        return;
    if (parley_stanza_set_attr(st, "type", type) == 0 &&
        (strcmp(type, "devices") != 0 || parley_stanza_set_attr(st, "user", user) == 0) &&
        (k == NULL || parley_stanza_set_attr_u64(st, k, v) == 0) &&
        parley_stanza_set_attr_u64(st, "t", srv_now_ms()) == 0 &&
        parley_stanza_write(st, buf, sizeof buf, &n) == 0)
        srv_reg_send(s, user, device, 0, SRV_MSG_SEND, 0, buf, n);
    parley_stanza_free(st);
}

#include "server/conn_ix.inc"
#include "server/conn_msg.inc"
#include "server/conn_iq.inc"
#include "server/conn_hold.inc"

/* ---- login (protocol.md, "Login payload") ---- */

static const char *login_failure(int rc)
{
    switch (rc) {
    case PARLEY_ERR_NOT_FOUND: return "unknown-device";
    case PARLEY_ERR_STORE_EXPIRED: return "bad-code";
    default: return "server-busy";
    }
}

static int do_login(sconn *c, const uint8_t key[32], const parley_stanza *p, const char **reason)
{
    int rc;
    srv *s = c->w->s;
    pstore_device d;
    pstore_account a;
    const char *user = parley_stanza_attr(p, "user");
    *reason = "bad-login";
    ENSURE(valid_user(user), PARLEY_ERR_INVALID_ARG);
    srv_ix_provider xp;
    int enlist = parley_stanza_is(p, "enlist");
    if (enlist && !srv_ix_provider_of(s, user, &xp))
        srv_ix_refresh(s); /* a provider added since the last registry check */
    if (enlist || srv_ix_provider_of(s, user, &xp)) {
        /* A provider's user: enlistment or login by attestation (conn_ix.inc). */
        rc = ix_login(c, key, p, user, &d, reason);
        if (rc == IX_LOGIN_PENDING) {
            snprintf(c->user, sizeof c->user, "%s", user);
            goto out; /* ix_verified finishes it */
        }
        GUARD(rc);
    } else if (parley_stanza_is(p, "login")) {
        uint64_t dev;
        ENSURE(parley_stanza_attr_u64(p, "device", &dev) == 0 && dev >= 1 &&
                   dev <= PSTORE_DEVICE_ID_MAX,
               PARLEY_ERR_INVALID_ARG);
        *reason = "unknown-device";
        rc = pstore_device_by_key(s->store, key, &d);
        if (rc < 0)
            *reason = login_failure(rc);
        GUARD(rc);
        ENSURE(strcmp(d.user, user) == 0 && d.device_id == dev, PARLEY_ERR_NOT_FOUND);
        *reason = "removed";
        ENSURE(!d.removed, PARLEY_ERR_NOT_FOUND);
    } else if (parley_stanza_is(p, "register") || parley_stanza_is(p, "link")) {
        int reg = parley_stanza_is(p, "register");
        const char *code = parley_stanza_attr(p, "code");
        char owner[PSTORE_ADDRESS_MAX + 1];
        size_t ndev = 0;
        pstore_device *list = NULL;
        ENSURE(code != NULL && strlen(code) >= PSTORE_CODE_MIN && strlen(code) <= PSTORE_CODE_MAX,
               PARLEY_ERR_INVALID_ARG);
        /* A key already bound stays with its device. */
        *reason = "unknown-device";
        rc = pstore_device_by_key(s->store, key, &d);
        ENSURE(rc == PARLEY_ERR_NOT_FOUND, rc < 0 ? rc : PARLEY_ERR_STORE_EXISTS);
        *reason = "bad-code";
        rc = pstore_account_get(s->store, user, &a);
        GUARD(rc);
        /* Checked before the code is burnt so that a mistake does not
         * waste it: register needs an account without devices, link one
         * with a device (a link code outlives no account's last device). */
        list = calloc(PSTORE_DEVICES_MAX, sizeof *list);
        ENSURE(list != NULL, PARLEY_ERR_NOMEM);
        rc = pstore_device_list(s->store, user, list, PSTORE_DEVICES_MAX, &ndev);
        free(list);
        GUARD(rc);
        ENSURE(reg ? ndev == 0 : ndev > 0, reg ? PARLEY_ERR_STORE_EXISTS : PARLEY_ERR_NOT_FOUND);
        /* Registering again makes a new primary with the old one's id
         * (store.h): the old identity goes, and the first key upload binds
         * the new one. Harmless if the registration then fails. */
        if (reg)
            GUARD(srvdb_identity_delete(s->db, user, PSTORE_PRIMARY_DEVICE));
        rc = pstore_code_redeem(s->store, reg ? PSTORE_CODE_REGISTRATION : PSTORE_CODE_LINK, code,
                                (int64_t)(srv_now_ms() / 1000), owner);
        GUARD(rc);
        ENSURE(strcmp(owner, user) == 0, PARLEY_ERR_NOT_FOUND);
        *reason = a.status == PSTORE_ACCOUNT_SUSPENDED ? "suspended" : "bad-code";
        ENSURE(a.status == PSTORE_ACCOUNT_ACTIVE, PARLEY_ERR_STATE);
        memset(&d, 0, sizeof d);
        snprintf(d.user, sizeof d.user, "%s", user);
        d.device_id = 0;
        memcpy(d.noise_key, key, 32);
        /* The Signal identity arrives with the first key upload
         * (srvdb.h); the store wants a key-sized value now. */
        memcpy(d.identity_key, key, 32);
        d.identity_key_len = 32;
        d.created = d.last_seen = (int64_t)(srv_now_ms() / 1000);
        *reason = "server-busy";
        GUARD(pstore_device_add(s->store, &d));
        srv_devices_changed(s, d.user);
        srv_log("%s %s/%u", reg ? "registered" : "linked", d.user, d.device_id);
    } else {
        ENSURE(0, PARLEY_ERR_INVALID_ARG);
    }
    rc = login_bind(c, &d, reason);
out:
    return rc;
}

/* The end of every login: the account must be active; the connection is
 * then d's. */
static int login_bind(sconn *c, const pstore_device *d, const char **reason)
{
    int rc;
    pstore_account a;
    *reason = "bad-login";
    rc = pstore_account_get(c->w->s->store, d->user, &a);
    if (rc < 0)
        *reason = "unknown-device";
    GUARD(rc);
    *reason = "suspended";
    ENSURE(a.status == PSTORE_ACCOUNT_ACTIVE, PARLEY_ERR_STATE);
    snprintf(c->user, sizeof c->user, "%s", d->user);
    c->device = d->device_id;
    c->seen = c->told = d->last_seen;
    rc = PARLEY_OK;
out:
    return rc;
}

/*
 * <success user device t>, with <media host proxy token expires/> when the
 * media host and proxy are configured (docs/media.md, "How a client learns
 * its media host"): the token is minted here for this user and checked by
 * the media processes with the shared key. A third-party user gets the
 * host only.
 */
static int send_login_success(sconn *c, const char *dev, const char *t)
{
    const srv_config *cfg = &c->w->s->cfg;
    parley_stanza *st = NULL, *m;
    char tok[PARLEY_MEDIA_TOKEN_MAX];
    srv_ix_provider prov;
    /* A provider's user uploads to its provider's host and fetches
     * gatekeeper media directly: it learns the host, not the proxy or a token. */
    int own = !srv_ix_provider_of(c->w->s, c->user, &prov);
    int rc;
    GUARD(parley_stanza_new(&st, "success"));
    GUARD(parley_stanza_set_attr(st, "user", c->user));
    GUARD(parley_stanza_set_attr(st, "device", dev));
    GUARD(parley_stanza_set_attr(st, "t", t));
    if (cfg->media_host[0] || cfg->media_proxy[0]) {
        GUARD(parley_stanza_add_child(st, "media", &m));
        if (cfg->media_host[0])
            GUARD(parley_stanza_set_attr(m, "host", cfg->media_host));
        if (cfg->media_proxy[0] && own)
            GUARD(parley_stanza_set_attr(m, "proxy", cfg->media_proxy));
        if (cfg->media_token_key_set && own) {
            uint64_t exp = srv_now_ms() / 1000 + (uint64_t)cfg->media_token_ttl_s;
            GUARD(parley_media_token_make(cfg->media_token_key, c->user, exp, tok, sizeof tok));
            GUARD(parley_stanza_set_attr(m, "token", tok));
            GUARD(parley_stanza_set_attr_u64(m, "expires", exp));
        }
    }
    rc = send_stanza(c, st);
out:
    pc_wipe(tok, sizeof tok);
    parley_stanza_free(st);
    return rc;
}

static void on_established(parley_noise_bev *b, void *arg)
{
    sconn *c = arg;
    uint8_t key[32];
    const uint8_t *lp = NULL;
    size_t ln = 0;
    parley_stanza *p = NULL;
    const char *reason = "bad-login";
    int rc;
    parley_noise_conn *nc = parley_noise_bev_conn(b);
    GUARD(parley_noise_conn_remote_static(nc, key));
    GUARD(parley_noise_conn_login(nc, &lp, &ln));
    GUARD(parley_stanza_parser_parse(c->w->parser, lp, ln, &p));
    rc = do_login(c, key, p, &reason);
    if (rc == IX_LOGIN_PENDING) {
        rc = PARLEY_OK; /* the provider is asked first; ix_verified goes on */
        goto out;
    }
    GUARD(rc);
    rc = login_accept(c, &reason);
out:
    parley_stanza_free(p);
    pc_wipe(key, sizeof key);
    if (rc < 0)
        login_refuse(c, rc, reason);
}

/* A logged-in device: registered, answered, and its queue sent. */
static int login_accept(sconn *c, const char **reason)
{
    int rc;
    srv *s = c->w->s;
    srv_reg_entry e = {c->device, c->w->index, c->id}, old;
    *reason = "server-busy";
    GUARD(srv_reg_add(s, c->user, e, &old));
    c->registered = 1;
    c->login_ms = srv_now_ms();
    {
        static const char why[] = "replaced by a newer connection";
        if (old.conn_id != 0) {
            srv_msg *m =
                srv_msg_new(SRV_MSG_KICK, old.conn_id, 0, (const uint8_t *)why, sizeof why);
            if (m != NULL)
                srv_post(&s->workers[old.worker], m);
        }
        /* The device may still be connected to another process on this
         * port (peer.c): it closes what logged in before this login. */
        if (s->peers != NULL)
            srv_peers_announce(s, SRV_MSG_KICK, c->user, c->device, c->login_ms,
                               (const uint8_t *)why, sizeof why);
    }
    c->state = ST_READY;
    c->tokens = s->cfg.burst;
    c->tokens_ms = srv_mono_ms();
    __atomic_add_fetch(&s->st_logins, 1, __ATOMIC_RELAXED);
    {
        char dev[16], t[24];
        snprintf(dev, sizeof dev, "%u", c->device);
        snprintf(t, sizeof t, "%llu", (unsigned long long)srv_now_ms());
        (void)send_login_success(c, dev, t);
    }
    if (s->cfg.verbose)
        srv_log("login %s/%u", c->user, c->device);
    presence_changed(c, "available");
    if (!c->tp)
        ix_announce_added(c);
    {
        uint32_t left = 0;
        size_t kl;
        uint8_t ik[PSTORE_PUBKEY_MAX];
        uint32_t reg;
        if (srvdb_identity_get(s->db, c->user, c->device, ik, &kl, &reg) == 0 &&
            pstore_prekeys_count(s->store, c->user, c->device, &left) == 0 && left < SRV_PREKEY_LOW)
            notify_user(s, c->user, c->device, "prekeys", "count", left);
    }
    c->floor = 0;
    enter_backlog(c);
    rc = PARLEY_OK;
out:
    return rc;
}

static void login_refuse(sconn *c, int rc, const char *reason)
{
    srv *s = c->w->s;
    __atomic_add_fetch(&s->st_refused, 1, __ATOMIC_RELAXED);
    if (s->cfg.verbose)
        srv_log("login refused (%s): %s", reason, parley_strerror(rc));
    (void)send_simple(c, "failure", "reason", reason, NULL, NULL, NULL, NULL);
    conn_close(c, reason);
}

/* ---- the stanza loop ---- */

static void on_frame(parley_noise_bev *b, const uint8_t *data, size_t len, void *arg)
{
    sconn *c = arg;
    parley_stanza *st = NULL;
    (void)b;
    if (c->state != ST_READY)
        return;
    c->quiet = 0;
    int rc = parley_stanza_parser_parse(c->w->parser, data, len, &st);
    if (rc == PARLEY_ERR_STANZA_TOO_LARGE) {
        (void)send_error(c, 413, "policy-violation", "stanza too large");
        conn_close(c, "oversized stanza");
        return;
    }
    if (!rate_ok(c) || !ix_rate_ok(c)) {
        /* protocol.md: a flood gets rate-limited answers, then the close. */
        const char *id = st != NULL ? parley_stanza_attr(st, "id") : NULL;
        if (c->refused > (unsigned)c->w->s->cfg.burst || c->ix_refused > SRV_IX_FLOOD) {
            (void)send_error(c, 429, "rate-limited", "flood");
            srv_log("closing %s/%u: flood", c->user, c->device);
            conn_close(c, "flood");
        } else if (st != NULL && valid_id(id) &&
                   (parley_stanza_is(st, "message") || parley_stanza_is(st, "receipt"))) {
            (void)send_ack_error(c, id, parley_stanza_name(st), 429);
        } else if (st != NULL && valid_id(id) && parley_stanza_is(st, "iq")) {
            (void)send_iq_error(c, id, 429);
        } else {
            (void)send_error(c, 429, "rate-limited", NULL);
        }
        parley_stanza_free(st);
        return;
    }
    if (rc < 0) {
        if (++c->bad > SRV_BAD_STANZAS_MAX) {
            (void)send_error(c, 400, "policy-violation", "too many bad stanzas");
            conn_close(c, "bad stanzas");
        } else {
            (void)send_error(c, 400, "bad-request", parley_strerror(rc));
        }
        return;
    }
    if (parley_stanza_is(st, "message"))
        handle_message(c, st);
    else if (parley_stanza_is(st, "ack"))
        handle_ack(c, st);
    else if (parley_stanza_is(st, "iq"))
        handle_iq(c, st);
    else if (parley_stanza_is(st, "receipt"))
        handle_receipt(c, st);
    else if (parley_stanza_is(st, "chatstate"))
        handle_chatstate(c, st);
    else if (parley_stanza_is(st, "presence"))
        handle_presence(c, st);
    else {
        c->bad++;
        (void)send_error(c, 400, "bad-request", "unknown stanza");
    }
    parley_stanza_free(st);
}

static void on_close(parley_noise_bev *b, int rc, void *arg)
{
    sconn *c = arg;
    (void)b;
    if (c->state == ST_READY)
        presence_changed(c, "unavailable");
    if (c->w->s->cfg.verbose > 1 || (rc != PARLEY_ERR_IO && c->state == ST_HANDSHAKE))
        srv_log("connection closed: %s", parley_strerror(rc));
    conn_close(c, "closed");
}

static const parley_noise_bev_callbacks callbacks = {on_established, on_frame, on_close};

void srv_conn_accept(worker *w, int fd)
{
    srv *s = w->s;
    int rc;
    sconn *c = NULL;
    parley_noise_conn *nc = NULL;
    if (w->stopping) {
        evutil_closesocket(fd);
        return;
    }
    if (s->cfg.sndbuf > 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s->cfg.sndbuf, sizeof s->cfg.sndbuf);
    c = calloc(1, sizeof *c);
    ENSURE(c != NULL, PARLEY_ERR_NOMEM);
    c->w = w;
    c->refs = 1;
    c->id = __atomic_add_fetch(&s->next_conn_id, 1, __ATOMIC_RELAXED);
    srv_ix_worker_init(w);
    {
        /* The peer's address, for the per-IP limits of third-party devices. */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
            char text[64];
            if ((ss.ss_family == AF_INET &&
                 inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof text)) ||
                (ss.ss_family == AF_INET6 &&
                 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof text)))
                c->has_ip = parley_proxy_ip_parse(c->ip, text) == 0;
        }
    }
    parley_noise_server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = s->static_priv;
    cfg.static_pub = s->static_pub;
    cfg.cert = srv_cert(s);
    cfg.cert_len = sizeof s->cert;
    cfg.limits.max_output = s->cfg.out_max;
    cfg.limits.handshake_timeout_ms = (uint64_t)s->cfg.handshake_timeout_ms;
    GUARD(parley_noise_conn_new_server(&nc, &cfg));
    rc = parley_noise_bev_new(&c->bev, w->base, fd, nc, &callbacks, c);
    fd = -1; /* owned by the bev now, even on failure */
    nc = NULL;
    GUARD(rc);
    srv_conn_table_add(w, c);
    c->in_table = 1;
    __atomic_add_fetch(&s->st_conns, 1, __ATOMIC_RELAXED);
    c = NULL;
    rc = PARLEY_OK;
out:
    if (rc < 0)
        srv_log("accept failed: %s", parley_strerror(rc));
    if (fd >= 0)
        evutil_closesocket(fd);
    parley_noise_conn_free(nc);
    if (c != NULL) {
        if (c->bev != NULL)
            parley_noise_bev_free(c->bev);
        free(c);
    }
}

/*
 * Called every SRV_TRIM_INTERVAL_S: a connection that has seen no frame
 * either way for a whole interval gives back its buffers and cipher
 * contexts (parley_noise_conn_trim), so an idle connection costs little
 * more than its structures. The next frame remakes what it needs.
 */
void srv_conn_trim_idle(worker *w)
{
    /* idle_timeout_s (0: never) closes a connection that has been silent
     * both ways that long: after quiet sweeps it has been silent for at
     * least (quiet - 1) intervals. Clients that want to stay connected
     * ping within the timeout. */
    const int limit = w->s->cfg.idle_timeout_s;
    for (size_t i = 0; i < w->table_size; i++) {
        sconn *next;
        for (sconn *c = w->table[i]; c != NULL; c = next) {
            next = c->hnext; /* conn_close takes c out of the table */
            if (c->state != ST_READY || c->bev == NULL || c->backlog)
                continue;
            if (c->quiet == 1)
                parley_noise_bev_trim(c->bev);
            if (c->quiet < 1000000)
                c->quiet++;
            if (limit > 0 && (c->quiet - 1) * SRV_TRIM_INTERVAL_S >= limit) {
                (void)send_error(c, 408, "idle-timeout", NULL);
                conn_close(c, "idle timeout");
            }
        }
    }
}

void srv_conn_free_all(worker *w)
{
    for (size_t i = 0; i < w->table_size; i++) {
        while (w->table[i] != NULL) {
            sconn *c = w->table[i];
            conn_free(c);
        }
    }
}
