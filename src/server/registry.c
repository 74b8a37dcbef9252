/*
 * The registry of connected devices: user address -> the devices of that
 * user connected to this process, with the worker and connection holding
 * each. One mutex guards it: entries change only at login and logout, and
 * lookups copy out what they need, so the lock is held for microseconds.
 */
#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "server/server.h"
#include "util/safety.h"

typedef struct reg_user {
    struct reg_user *next;
    size_t n;
    srv_reg_entry dev[PSTORE_DEVICES_MAX];
    char user[];
} reg_user;

typedef struct {
    reg_user **b;
    size_t size;
} reg_table;

#define REG_BUCKETS 65536u

static size_t hash(const char *s)
{
    /* Keyed: third-party users pick their own names. */
    return (size_t)(pc_table_hash(s) & (REG_BUCKETS - 1));
}

int srv_reg_init(srv *s)
{
    reg_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return PARLEY_ERR_NOMEM;
    t->b = calloc(REG_BUCKETS, sizeof *t->b);
    if (t->b == NULL) {
        free(t);
        return PARLEY_ERR_NOMEM;
    }
    t->size = REG_BUCKETS;
    pthread_mutex_init(&s->reg_mu, NULL);
    s->reg = t;
    return PARLEY_OK;
}

void srv_reg_free(srv *s)
{
    reg_table *t = s->reg;
    srv_ix_free(); /* the provider cache (interop.c) lives as long as the registry */
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->size; i++) {
        reg_user *u = t->b[i];
        while (u != NULL) {
            reg_user *nx = u->next;
            free(u);
            u = nx;
        }
    }
    free(t->b);
    free(t);
    s->reg = NULL;
    pthread_mutex_destroy(&s->reg_mu);
}

static reg_user **find(reg_table *t, const char *user)
{
    reg_user **p = &t->b[hash(user)];
    while (*p != NULL && strcmp((*p)->user, user) != 0)
        p = &(*p)->next;
    return p;
}

int srv_reg_add(srv *s, const char *user, srv_reg_entry e, srv_reg_entry *old)
{
    int rc;
    reg_table *t = s->reg;
    memset(old, 0, sizeof *old);
    pthread_mutex_lock(&s->reg_mu);
    reg_user **p = find(t, user);
    if (*p == NULL) {
        size_t l = strlen(user);
        reg_user *u = calloc(1, sizeof *u + l + 1);
        ENSURE(u != NULL, PARLEY_ERR_NOMEM);
        memcpy(u->user, user, l + 1);
        *p = u;
    }
    reg_user *u = *p;
    for (size_t i = 0; i < u->n; i++) {
        if (u->dev[i].device == e.device) {
            /* One connection per device: the newer login wins. */
            *old = u->dev[i];
            u->dev[i] = e;
            rc = PARLEY_OK;
            goto out;
        }
    }
    ENSURE(u->n < PSTORE_DEVICES_MAX, PARLEY_ERR_STORE_LIMIT);
    u->dev[u->n++] = e;
    rc = PARLEY_OK;
out:
    pthread_mutex_unlock(&s->reg_mu);
    return rc;
}

void srv_reg_del(srv *s, const char *user, uint32_t device, uint64_t conn_id)
{
    reg_table *t = s->reg;
    pthread_mutex_lock(&s->reg_mu);
    reg_user **p = find(t, user);
    reg_user *u = *p;
    if (u != NULL) {
        for (size_t i = 0; i < u->n; i++) {
            if (u->dev[i].device == device && u->dev[i].conn_id == conn_id) {
                u->dev[i] = u->dev[--u->n];
                break;
            }
        }
        if (u->n == 0) {
            *p = u->next;
            free(u);
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
}

size_t srv_reg_get(srv *s, const char *user, srv_reg_entry *out, size_t max)
{
    reg_table *t = s->reg;
    size_t n = 0;
    pthread_mutex_lock(&s->reg_mu);
    reg_user *u = *find(t, user);
    if (u != NULL) {
        for (size_t i = 0; i < u->n && n < max; i++)
            out[n++] = u->dev[i];
    }
    pthread_mutex_unlock(&s->reg_mu);
    return n;
}

size_t srv_reg_send_local(srv *s, const char *user, uint32_t device, uint64_t except_conn,
                          srv_msg_kind kind, uint64_t sid, const uint8_t *data, size_t len)
{
    srv_reg_entry e[PSTORE_DEVICES_MAX];
    size_t n = srv_reg_get(s, user, e, PSTORE_DEVICES_MAX), sent = 0;
    worker *here = srv_worker_self();
    for (size_t i = 0; i < n; i++) {
        if ((device != 0 && e[i].device != device) || e[i].conn_id == except_conn)
            continue;
        worker *to = &s->workers[e[i].worker];
        /* A copy committed for a device of this very loop is pushed now,
         * without a trip through the inbox (a copy, an eventfd write and
         * read, another loop turn): the usual case with one worker. Only
         * when the inbox is empty, so it cannot overtake what waits there. */
        if (kind == SRV_MSG_PUSH && to == here && srv_inbox_empty(to)) {
            srv_conn_push(to, e[i].conn_id, sid, data, len);
            sent++;
            continue;
        }
        srv_msg *m = srv_msg_new(kind, e[i].conn_id, sid, data, len);
        if (m != NULL)
            srv_post(&s->workers[e[i].worker], m);
        sent++;
    }
    return sent;
}

void srv_reg_send(srv *s, const char *user, uint32_t device, uint64_t except_conn,
                  srv_msg_kind kind, uint64_t sid, const uint8_t *data, size_t len)
{
    size_t sent = srv_reg_send_local(s, user, device, except_conn, kind, sid, data, len);
    /* Other processes on this database may hold the device (peer.c). A
     * copy for one device found here needs nobody else. */
    if (s->peers != NULL && (kind != SRV_MSG_PUSH || sent == 0))
        srv_peers_announce(s, kind, user, device, sid, data, len);
}

void srv_reg_resync(srv *s)
{
    for (int i = 0; i < s->nworkers; i++) {
        srv_msg *m = srv_msg_new(SRV_MSG_RESYNC, 0, 0, NULL, 0);
        if (m != NULL)
            srv_post(&s->workers[i], m);
    }
}

/*
 * Presence subscriptions (protocol.md, "Receipts, typing, presence"): watched
 * user -> the connections that asked. Best effort and in memory only: an
 * entry whose connection is gone is dropped the next time the watched
 * user's presence changes, and the total is capped.
 */
typedef struct watch {
    struct watch *next;
    uint64_t conn_id;
    uint32_t device;
    char watcher[PSTORE_ADDRESS_MAX + 1];
    char watched[PSTORE_ADDRESS_MAX + 1];
} watch;

#define WATCH_BUCKETS 4096u
#define WATCH_TOTAL_MAX 1000000u
static watch *watches[WATCH_BUCKETS];
static size_t watch_total;
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;

int srv_watch_add(srv *s, const char *watched, const char *watcher, uint32_t device,
                  uint64_t conn_id)
{
    (void)s;
    int rc = PARLEY_OK;
    pthread_mutex_lock(&watch_mu);
    size_t h = hash(watched) & (WATCH_BUCKETS - 1);
    for (watch *w = watches[h]; w != NULL; w = w->next)
        if (w->conn_id == conn_id && strcmp(w->watched, watched) == 0)
            goto out;
    if (watch_total >= WATCH_TOTAL_MAX) {
        rc = PARLEY_ERR_AGAIN;
        goto out;
    }
    watch *w = calloc(1, sizeof *w);
    if (w == NULL) {
        rc = PARLEY_ERR_NOMEM;
        goto out;
    }
    w->conn_id = conn_id;
    w->device = device;
    snprintf(w->watcher, sizeof w->watcher, "%s", watcher);
    snprintf(w->watched, sizeof w->watched, "%s", watched);
    w->next = watches[h];
    watches[h] = w;
    watch_total++;
out:
    pthread_mutex_unlock(&watch_mu);
    return rc;
}

static int conn_registered(srv *s, const char *user, uint32_t device, uint64_t conn_id,
                           srv_reg_entry *e)
{
    srv_reg_entry all[PSTORE_DEVICES_MAX];
    size_t n = srv_reg_get(s, user, all, PSTORE_DEVICES_MAX);
    for (size_t i = 0; i < n; i++)
        if (all[i].device == device && all[i].conn_id == conn_id) {
            *e = all[i];
            return 1;
        }
    return 0;
}

void srv_watch_notify(srv *s, const char *watched, const uint8_t *data, size_t len)
{
    /* Collect under the lock, post outside it: the registry has its own. */
    typedef struct { char user[PSTORE_ADDRESS_MAX + 1]; uint32_t dev; uint64_t id; } target;
    target *t = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&watch_mu);
    size_t h = hash(watched) & (WATCH_BUCKETS - 1);
    for (watch *w = watches[h]; w != NULL; w = w->next) {
        if (strcmp(w->watched, watched) != 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 8;
            target *nt = realloc(t, nc * sizeof *t);
            if (nt == NULL)
                break;
            t = nt;
            cap = nc;
        }
        memcpy(t[n].user, w->watcher, sizeof t[n].user);
        t[n].dev = w->device;
        t[n].id = w->conn_id;
        n++;
    }
    pthread_mutex_unlock(&watch_mu);
    for (size_t i = 0; i < n; i++) {
        srv_reg_entry e;
        if (conn_registered(s, t[i].user, t[i].dev, t[i].id, &e)) {
            srv_msg *m = srv_msg_new(SRV_MSG_SEND, e.conn_id, 0, data, len);
            if (m != NULL)
                srv_post(&s->workers[e.worker], m);
            continue;
        }
        /* The watcher is gone: forget its subscription. */
        pthread_mutex_lock(&watch_mu);
        for (watch **p = &watches[h]; *p != NULL; p = &(*p)->next) {
            if ((*p)->conn_id == t[i].id && strcmp((*p)->watched, watched) == 0) {
                watch *dead = *p;
                *p = dead->next;
                free(dead);
                watch_total--;
                break;
            }
        }
        pthread_mutex_unlock(&watch_mu);
    }
    free(t);
}

void srv_watch_free(void)
{
    pthread_mutex_lock(&watch_mu);
    for (size_t i = 0; i < WATCH_BUCKETS; i++) {
        while (watches[i] != NULL) {
            watch *w = watches[i];
            watches[i] = w->next;
            free(w);
        }
    }
    watch_total = 0;
    pthread_mutex_unlock(&watch_mu);
}
