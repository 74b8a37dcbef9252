/*
 * parleyd's side of third-party interop that is not tied to one
 * connection (docs/interop-design.md, "Wiring"; DESIGN.md section 5):
 *
 *  - a cache of the provider registry (id, status, protocol, push URL,
 *    domains), read by the router for every message that may involve a
 *    provider, so that routing never runs SQL to learn that a domain is
 *    the gatekeeper's own;
 *  - the registry watch: parleyctl changes the database directly, and every
 *    change to a provider writes an audit entry, so one worker polls the
 *    newest audit sequence number every SRV_IX_POLL_MS and reloads the
 *    cache when it moved; each worker then closes the connections of
 *    providers that are no longer active (conn.c, srv_conn_ix_sweep).
 *    The same poll closes the connections of suspended accounts;
 *  - per worker: the rate limiter (prl, not thread-safe, so one per loop)
 *    and the gatekeeper -> provider HTTP client with its completion event.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "interop/gkhttp.h"
#include "interop/ratelimit.h"
#include "parley/attestation.h"
#include "server/keyfile.h"
#include "server/server.h"
#include "store/interop.h"
#include "util/json.h"
#include "util/safety.h"

/* ---- configuration ---- */

enum {
    IX_DEVICE_RATE = 1u << 0,
    IX_DEVICE_BURST = 1u << 1,
    IX_IP_RATE = 1u << 2,
    IX_IP_BURST = 1u << 3,
    IX_PROVIDER_RATE = 1u << 4,
    IX_PROVIDER_BURST = 1u << 5,
    IX_FIRST = 1u << 6,
    IX_TRIPS = 1u << 7,
    IX_WINDOW = 1u << 8,
    IX_THROTTLE_MS = 1u << 9,
    IX_FACTOR = 1u << 10,
};

static int num(const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || !(x >= lo && x <= hi))
        return 0;
    *out = x;
    return 1;
}

int srv_interop_config_key(srv_config *c, const char *name, const char *v)
{
    srv_interop_config *x = &c->ix;
    double d;
    static const struct {
        const char *name;
        unsigned bit;
        double lo, hi;
    } keys[] = {
        {"device_rate", IX_DEVICE_RATE, 0, 1e6},
        {"device_burst", IX_DEVICE_BURST, 1, 1e7},
        {"ip_rate", IX_IP_RATE, 0, 1e6},
        {"ip_burst", IX_IP_BURST, 1, 1e7},
        {"provider_rate", IX_PROVIDER_RATE, 0, 1e7},
        {"provider_burst", IX_PROVIDER_BURST, 1, 1e8},
        {"first_contacts_per_day", IX_FIRST, 0, 1e6},
        {"trips_to_throttle", IX_TRIPS, 0, 1e6},
        {"trip_window_ms", IX_WINDOW, 1, 864e5},
        {"throttle_ms", IX_THROTTLE_MS, 0, 864e5},
        {"throttle_factor", IX_FACTOR, 0, 1},
    };
    if (strcmp(name, "gatekeeper_key_file") == 0)
        return snprintf(x->key_file, sizeof x->key_file, "%s", v) < (int)sizeof x->key_file;
    if (strcmp(name, "gatekeeper_key_id") == 0)
        return v[0] != '\0' &&
               snprintf(x->key_id, sizeof x->key_id, "%s", v) < (int)sizeof x->key_id;
    if (strcmp(name, "interop_poll_ms") == 0) {
        if (!num(v, 20, 10000, &d))
            return 0;
        x->poll_ms = (int)d;
        return 1;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(name, keys[i].name) != 0)
            continue;
        if (!num(v, keys[i].lo, keys[i].hi, &d))
            return 0;
        switch (keys[i].bit) {
        case IX_DEVICE_RATE:
            x->device_rate = d;
            break;
        case IX_DEVICE_BURST:
            x->device_burst = d;
            break;
        case IX_IP_RATE:
            x->ip_rate = d;
            break;
        case IX_IP_BURST:
            x->ip_burst = d;
            break;
        case IX_PROVIDER_RATE:
            x->provider_rate = d;
            break;
        case IX_PROVIDER_BURST:
            x->provider_burst = d;
            break;
        case IX_FIRST:
            x->first_contacts_per_day = (long)d;
            break;
        case IX_TRIPS:
            x->trips_to_throttle = (long)d;
            break;
        case IX_WINDOW:
            x->trip_window_ms = (long)d;
            break;
        case IX_THROTTLE_MS:
            x->throttle_ms = (long)d;
            break;
        default:
            x->throttle_factor = d;
            break;
        }
        x->set |= keys[i].bit;
        return 1;
    }
    return 0;
}

static void limits_config(const srv_interop_config *x, prl_config *cfg)
{
    prl_config_default(cfg);
    if (x->set & IX_DEVICE_RATE)
        cfg->device.rate = x->device_rate;
    if (x->set & IX_DEVICE_BURST)
        cfg->device.burst = x->device_burst;
    if (x->set & IX_IP_RATE)
        cfg->ip.rate = x->ip_rate;
    if (x->set & IX_IP_BURST)
        cfg->ip.burst = x->ip_burst;
    if (x->set & IX_PROVIDER_RATE)
        cfg->provider.rate = x->provider_rate;
    if (x->set & IX_PROVIDER_BURST)
        cfg->provider.burst = x->provider_burst;
    if (x->set & IX_FIRST)
        cfg->first_contacts_per_day = (uint32_t)x->first_contacts_per_day;
    if (x->set & IX_TRIPS)
        cfg->trips_to_throttle = (uint32_t)x->trips_to_throttle;
    if (x->set & IX_WINDOW)
        cfg->trip_window_ms = x->trip_window_ms;
    if (x->set & IX_THROTTLE_MS)
        cfg->throttle_ms = x->throttle_ms;
    if (x->set & IX_FACTOR)
        cfg->throttle_factor = x->throttle_factor;
}

/* ---- the registry cache ---- */

typedef struct {
    srv_ix_provider p;
    char domains[PSTORE_PROVIDER_DOMAINS_MAX][PSTORE_DOMAIN_MAX + 1];
    size_t ndomains;
} ix_entry;

/* Read-locked by every lookup (the router's, per message), write-locked
 * only by a reload. */
static struct {
    pthread_rwlock_t mu;
    ix_entry *v;
    size_t n;
    int loaded;
    int64_t seq;
    uint64_t gen; /* read without the lock by the workers' ticks */
    int poller_taken;
} ix = {PTHREAD_RWLOCK_INITIALIZER, NULL, 0, 0, -1, 0, 0};

/* One limiter for the whole process: a user's devices, or the clients
 * behind one IP, may land on different workers, and the buckets must add
 * up. prl is not thread-safe, so it is used under its own mutex (only
 * third-party traffic takes it). */
static struct {
    pthread_mutex_t mu;
    prl *l;
    int tried;
} lim = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static void limits_init(srv *s)
{
    pthread_mutex_lock(&lim.mu);
    if (!lim.tried) {
        prl_config lc;
        lim.tried = 1;
        limits_config(&s->cfg.ix, &lc);
        if (prl_new(&lim.l, &lc) < 0) {
            srv_log("interop: bad rate limit settings; limits off");
            lim.l = NULL;
        }
    }
    pthread_mutex_unlock(&lim.mu);
}

int srv_ix_check(const char *device, const char *ip, const char *provider)
{
    int r = PRL_OK;
    pthread_mutex_lock(&lim.mu);
    if (lim.l != NULL)
        r = (int)prl_check(lim.l, device, ip, provider, (int64_t)srv_mono_ms());
    pthread_mutex_unlock(&lim.mu);
    return r;
}

int srv_ix_first_contact(const char *user, const char *provider)
{
    int r = PRL_OK;
    pthread_mutex_lock(&lim.mu);
    if (lim.l != NULL)
        r = (int)prl_first_contact(lim.l, user, provider, (int64_t)srv_now_ms());
    pthread_mutex_unlock(&lim.mu);
    return r;
}

/* With ix.mu held for writing. */
static void reload_locked(srv *s)
{
    size_t n = 0;
    int64_t seq = 0;
    char(*ids)[PSTORE_PROVIDER_ID_MAX + 1] = calloc(PSTORE_PROVIDERS_MAX, sizeof *ids);
    pstore_provider *rec = calloc(1, sizeof *rec);
    ix_entry *v = NULL;
    if (ids == NULL || rec == NULL || srvdb_provider_seq(s->db, &seq) < 0 ||
        pstore_provider_list(s->store, ids, PSTORE_PROVIDERS_MAX, &n) < 0)
        goto out;
    v = calloc(n + 1, sizeof *v);
    if (v == NULL)
        goto out;
    uint64_t gen = ix.gen + 1;
    for (size_t i = 0; i < n; i++) {
        if (pstore_provider_get(s->store, ids[i], rec) < 0)
            goto out;
        ix_entry *e = &v[i];
        snprintf(e->p.id, sizeof e->p.id, "%s", rec->id);
        snprintf(e->p.name, sizeof e->p.name, "%s", rec->name);
        snprintf(e->p.protocol, sizeof e->p.protocol, "%s",
                 rec->protocol[0] ? rec->protocol : PSTORE_PROTOCOL_SIGNAL);
        snprintf(e->p.push_url, sizeof e->p.push_url, "%s", rec->push_url);
        e->p.status = (int)rec->status;
        e->p.created = rec->created;
        for (size_t k = 0; k < rec->domain_count && k < PSTORE_PROVIDER_DOMAINS_MAX; k++)
            snprintf(e->domains[k], sizeof e->domains[k], "%s", rec->domains[k]);
        e->ndomains = rec->domain_count;
    }
    free(ix.v);
    ix.v = v;
    ix.n = n;
    v = NULL;
    ix.seq = seq;
    ix.loaded = 1;
    __atomic_store_n(&ix.gen, gen, __ATOMIC_RELEASE);
    srv_log("provider registry: %zu provider%s (audit seq %lld)", n, n == 1 ? "" : "s",
            (long long)seq);
out:
    free(v);
    free(ids);
    free(rec);
}

/* Takes the read lock, loading the cache first if nobody has yet. */
static void read_lock_loaded(srv *s)
{
    pthread_rwlock_rdlock(&ix.mu);
    if (ix.loaded)
        return;
    pthread_rwlock_unlock(&ix.mu);
    pthread_rwlock_wrlock(&ix.mu);
    if (!ix.loaded)
        reload_locked(s);
    pthread_rwlock_unlock(&ix.mu);
    pthread_rwlock_rdlock(&ix.mu);
}

void srv_ix_refresh(srv *s)
{
    pthread_rwlock_wrlock(&ix.mu);
    reload_locked(s);
    pthread_rwlock_unlock(&ix.mu);
}

uint64_t srv_ix_generation(void)
{
    return __atomic_load_n(&ix.gen, __ATOMIC_ACQUIRE);
}

int srv_ix_provider_of(srv *s, const char *user, srv_ix_provider *out)
{
    const char *domain = parley_attestation_domain(user);
    int found = 0;
    if (domain == NULL)
        return 0;
    read_lock_loaded(s);
    for (size_t i = 0; i < ix.n && !found; i++)
        for (size_t k = 0; k < ix.v[i].ndomains; k++)
            if (strcmp(ix.v[i].domains[k], domain) == 0) {
                *out = ix.v[i].p;
                found = 1;
                break;
            }
    pthread_rwlock_unlock(&ix.mu);
    return found;
}

int srv_ix_provider_get(srv *s, const char *id, srv_ix_provider *out)
{
    int found = 0;
    read_lock_loaded(s);
    for (size_t i = 0; i < ix.n; i++)
        if (strcmp(ix.v[i].p.id, id) == 0) {
            *out = ix.v[i].p;
            found = 1;
            break;
        }
    pthread_rwlock_unlock(&ix.mu);
    return found;
}

size_t srv_ix_added_since(srv *s, int64_t since, srv_ix_provider *out, size_t max)
{
    size_t n = 0;
    read_lock_loaded(s);
    for (size_t i = 0; i < ix.n && n < max; i++)
        if (ix.v[i].p.created > since && ix.v[i].p.status == PSTORE_PROVIDER_ACTIVE)
            out[n++] = ix.v[i].p;
    pthread_rwlock_unlock(&ix.mu);
    return n;
}

void srv_ix_free(void)
{
    pthread_rwlock_wrlock(&ix.mu);
    free(ix.v);
    ix.v = NULL;
    ix.n = 0;
    ix.loaded = 0;
    pthread_rwlock_unlock(&ix.mu);
    pthread_mutex_lock(&lim.mu);
    if (lim.l != NULL) {
        prl_stats st;
        prl_get_stats(lim.l, &st);
        srv_log("rate limits: allowed=%llu device=%llu ip=%llu provider=%llu first_contact=%llu "
                "throttles=%llu",
                (unsigned long long)st.allowed, (unsigned long long)st.limited_device,
                (unsigned long long)st.limited_ip, (unsigned long long)st.limited_provider,
                (unsigned long long)st.limited_first_contact,
                (unsigned long long)st.provider_throttles);
        prl_free(lim.l);
        lim.l = NULL;
    }
    pthread_mutex_unlock(&lim.mu);
}

/* ---- per worker ---- */

enum { IX_PUSH_SLOTS = 1024 };

typedef struct {
    pgk_http *http;
    struct event *http_ev, *tick;
    int poller;
    uint64_t seen_gen;
    /* One push in flight per device: hashes of "user/device" (a collision
     * only costs a skipped coalescing). */
    uint64_t inflight[IX_PUSH_SLOTS];
} ix_worker;

static void on_http(evutil_socket_t fd, short what, void *arg)
{
    ix_worker *x = arg;
    (void)fd;
    (void)what;
    (void)pgk_http_dispatch(x->http);
}

static int suspended_kick(void *ctx, const char *address)
{
    srv *s = ctx;
    srv_reg_entry e[1];
    if (srv_reg_get(s, address, e, 1) > 0) {
        static const char why[] = "account suspended";
        srv_reg_send(s, address, 0, 0, SRV_MSG_SUSPEND, 0, (const uint8_t *)why, sizeof why);
    }
    return 0;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    ix_worker *x = w->ix;
    srv *s = w->s;
    (void)fd;
    (void)what;
    if (x->poller) {
        int64_t seq = 0;
        if (srvdb_provider_seq(s->db, &seq) == 0) {
            pthread_rwlock_wrlock(&ix.mu);
            if (!ix.loaded || seq != ix.seq)
                reload_locked(s);
            pthread_rwlock_unlock(&ix.mu);
        }
        /* A suspended account is closed at once (docs/parts/thirdparty.md 5.1). */
        if (srvdb_suspended(s->db, SRV_IX_SUSPENDED_MAX, suspended_kick, s) < 0)
            srv_log("interop: suspended accounts not read");
    }
    uint64_t gen = srv_ix_generation();
    srv_conn_ix_sweep(w, gen != x->seen_gen);
    x->seen_gen = gen;
}

void srv_ix_worker_init(worker *w)
{
    srv *s = w->s;
    if (w->ix != NULL)
        return;
    ix_worker *x = calloc(1, sizeof *x);
    if (x == NULL)
        return;
    w->ix = x;
    limits_init(s);
    if (s->cfg.ix.key_file[0] != '\0') {
        uint8_t priv[64];
        pgk_http_config hc;
        memset(&hc, 0, sizeof hc);
        hc.key_id = s->cfg.ix.key_id[0] ? s->cfg.ix.key_id : "gk-1";
        hc.priv = priv;
        if (srv_keyfile_read(s->cfg.ix.key_file, priv, sizeof priv) < 0 ||
            pgk_http_new(&x->http, &hc) < 0) {
            srv_log("interop: cannot use the request signing key %s; no push wake-ups",
                    s->cfg.ix.key_file);
            x->http = NULL;
        }
        pc_wipe(priv, sizeof priv);
        if (x->http != NULL) {
            x->http_ev = event_new(w->base, pgk_http_fd(x->http), EV_READ | EV_PERSIST, on_http, x);
            if (x->http_ev == NULL || event_add(x->http_ev, NULL) < 0)
                srv_log("interop: no event for provider HTTP completions");
        }
    }
    x->poller = !__atomic_exchange_n(&ix.poller_taken, 1, __ATOMIC_ACQ_REL);
    x->seen_gen = srv_ix_generation();
    x->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    int ms = s->cfg.ix.poll_ms > 0 ? s->cfg.ix.poll_ms : SRV_IX_POLL_MS;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (x->tick == NULL || event_add(x->tick, &tv) < 0)
        srv_log("interop: no registry timer on worker %d", w->index);
}

void srv_ix_worker_stop(worker *w)
{
    ix_worker *x = w->ix;
    if (x == NULL)
        return;
    if (x->tick != NULL)
        event_free(x->tick);
    if (x->http_ev != NULL)
        event_free(x->http_ev);
    x->tick = x->http_ev = NULL;
    if (x->http != NULL) {
        pgk_http_stats st;
        pgk_http_get_stats(x->http, &st);
        srv_log("provider http (worker %d): submitted=%llu succeeded=%llu failed=%llu retries=%llu "
                "short_circuited=%llu breaker_opened=%llu",
                w->index, (unsigned long long)st.submitted, (unsigned long long)st.succeeded,
                (unsigned long long)st.failed, (unsigned long long)st.retries,
                (unsigned long long)st.short_circuited, (unsigned long long)st.breaker_opened);
        pgk_http_free(x->http);
        x->http = NULL;
    }
    free(x);
    w->ix = NULL;
}

typedef struct {
    worker *w;
    uint64_t h;
    char provider[65];
} push_ctx;

static uint64_t dev_hash(const char *user, uint32_t device)
{
    /* Keyed: a name chosen to collide with another device's would
     * otherwise coalesce that device's wake-ups away. */
    char jid[PSTORE_ADDRESS_MAX + 16];
    snprintf(jid, sizeof jid, "%s/%u", user, device);
    return pc_table_hash(jid) | 1; /* 0 marks a free slot */
}

static void on_push_done(void *arg, const pgk_http_result *r)
{
    push_ctx *pc = arg;
    ix_worker *x = pc->w->ix;
    if (x != NULL && x->inflight[pc->h % IX_PUSH_SLOTS] == pc->h)
        x->inflight[pc->h % IX_PUSH_SLOTS] = 0;
    if (r->rc < 0)
        srv_log("push wake-up to %s failed after %u attempt%s: %s (status %ld)", pc->provider,
                r->attempts, r->attempts == 1 ? "" : "s", parley_strerror(r->rc), r->status);
    free(pc);
}

void srv_ix_push(worker *w, const srv_ix_provider *p, const char *user, uint32_t device)
{
    ix_worker *x = w->ix;
    if (x == NULL || x->http == NULL || p->push_url[0] == '\0' ||
        p->status != PSTORE_PROVIDER_ACTIVE)
        return;
    uint64_t h = dev_hash(user, device);
    if (x->inflight[h % IX_PUSH_SLOTS] == h)
        return; /* coalesced: the provider is already being told */
    uint64_t pending = 0;
    if (pstore_queue_count(w->s->store, user, device, &pending) < 0)
        pending = 1;
    push_ctx *pc = calloc(1, sizeof *pc);
    if (pc == NULL)
        return;
    pc->w = w;
    pc->h = h;
    snprintf(pc->provider, sizeof pc->provider, "%s", p->id);
    if (pgk_http_push(x->http, p->id, p->push_url, user, device, pending, on_push_done, pc) < 0) {
        free(pc);
        return;
    }
    x->inflight[h % IX_PUSH_SLOTS] = h;
}

typedef struct {
    srv_ix_verify_fn done;
    void *arg;
    char provider[65];
} verify_ctx;

/* 2xx with {"exists":true|false}, or a final 404: an answer. Anything
 * else (timeouts and 5xx after the retries, an open breaker, a body that
 * says neither) is no answer, and the caller fails closed. */
static void on_verify_done(void *arg, const pgk_http_result *r)
{
    verify_ctx *vc = arg;
    srv_ix_verdict v = SRV_IX_USER_UNAVAILABLE;
    if (r->rc == PARLEY_OK && r->body != NULL) {
        pjson *j = NULL;
        int exists = 0;
        if (pjson_parse(&j, (const char *)r->body, r->body_len) == PARLEY_OK &&
            pjson_get_bool(j, "exists", &exists) == PARLEY_OK)
            v = exists ? SRV_IX_USER_EXISTS : SRV_IX_USER_UNKNOWN;
        pjson_free(j);
    } else if (r->rc == PARLEY_ERR_HTTP_STATUS && r->status == 404) {
        v = SRV_IX_USER_UNKNOWN;
    }
    if (v == SRV_IX_USER_UNAVAILABLE)
        srv_log("user verification by %s failed after %u attempt%s: %s (status %ld)",
                vc->provider, r->attempts, r->attempts == 1 ? "" : "s", parley_strerror(r->rc),
                r->status);
    vc->done(vc->arg, v);
    free(vc);
}

int srv_ix_verify(worker *w, const char *provider, const char *verify_url, const char *user,
                  srv_ix_verify_fn done, void *arg)
{
    ix_worker *x = w->ix;
    if (x == NULL || x->http == NULL)
        return 0;
    verify_ctx *vc = calloc(1, sizeof *vc);
    if (vc == NULL)
        return PARLEY_ERR_NOMEM;
    vc->done = done;
    vc->arg = arg;
    snprintf(vc->provider, sizeof vc->provider, "%s", provider);
    int rc = pgk_http_verify(x->http, provider, verify_url, user, on_verify_done, vc);
    if (rc < 0) {
        free(vc);
        return rc;
    }
    return 1;
}
