/*
 * Token buckets and provider throttling (ratelimit.h). Buckets refill
 * continuously (tokens = min(burst, tokens + rate * elapsed)), the form
 * Redis-cell and most gateways use; entries live in a chained hash table
 * per kind with a hard cap on entries.
 */
#include "interop/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/safety.h"

#define DAY_MS 86400000LL

typedef struct entry {
    struct entry *next;
    int64_t last_ms; /* last refill (buckets) or last use */
    double tokens;
    /* first contacts: the day and the count in it */
    int64_t day;
    uint32_t count;
    /* providers: trips in the current window, throttled until */
    int64_t window_start;
    uint32_t trips;
    int64_t throttled_until;
    char key[];
} entry;

typedef struct {
    entry **slots;
    size_t nslots;
    size_t count;
} table;

enum { T_DEVICE, T_IP, T_PROVIDER, T_CONTACT, T_COUNT };

struct prl {
    prl_config cfg;
    table t[T_COUNT];
    prl_stats stats;
};

static uint64_t hash(const char *s)
{
    /* Keyed: device names and addresses come from remote parties. */
    return pc_table_hash(s);
}

void prl_config_default(prl_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->device = (prl_rate){.rate = 20, .burst = 60};
    cfg->ip = (prl_rate){.rate = 50, .burst = 200};
    cfg->provider = (prl_rate){.rate = 2000, .burst = 10000};
    cfg->first_contacts_per_day = 50;
    cfg->trips_to_throttle = 100;
    cfg->trip_window_ms = 60000;
    cfg->throttle_ms = 300000;
    cfg->throttle_factor = 0.25;
    cfg->max_keys = 65536;
}

static int rate_ok(const prl_rate *r)
{
    return r->rate >= 0 && (r->rate == 0 || r->burst >= 1);
}

int prl_new(prl **out, const prl_config *cfg)
{
    int rc;
    prl *l = NULL;
    PARLEY_MISUSE(out && cfg);
    ENSURE(rate_ok(&cfg->device) && rate_ok(&cfg->ip) && rate_ok(&cfg->provider),
           PARLEY_ERR_INVALID_ARG);
    ENSURE(cfg->throttle_factor >= 0 && cfg->throttle_factor <= 1, PARLEY_ERR_INVALID_ARG);
    ENSURE(cfg->trip_window_ms >= 0 && cfg->throttle_ms >= 0, PARLEY_ERR_INVALID_ARG);
    l = calloc(1, sizeof *l);
    ENSURE(l != NULL, PARLEY_ERR_NOMEM);
    l->cfg = *cfg;
    if (l->cfg.max_keys == 0)
        l->cfg.max_keys = 65536;
    for (int i = 0; i < T_COUNT; i++) {
        size_t n = 64;
        while (n < l->cfg.max_keys && n < (1u << 20))
            n <<= 1;
        l->t[i].nslots = n;
        l->t[i].slots = calloc(n, sizeof(entry *));
        ENSURE(l->t[i].slots != NULL, PARLEY_ERR_NOMEM);
    }
    *out = l;
    l = NULL;
    rc = PARLEY_OK;
out:
    prl_free(l);
    return rc;
}

void prl_free(prl *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < T_COUNT; i++) {
        for (size_t s = 0; l->t[i].slots && s < l->t[i].nslots; s++) {
            entry *e = l->t[i].slots[s];
            while (e) {
                entry *n = e->next;
                free(e);
                e = n;
            }
        }
        free(l->t[i].slots);
    }
    free(l);
}

/* Drop the entry idle longest: O(n), only when a table is full. */
static void evict(prl *l, table *t)
{
    entry **victim = NULL;
    for (size_t s = 0; s < t->nslots; s++)
        for (entry **pp = &t->slots[s]; *pp; pp = &(*pp)->next)
            if (victim == NULL || (*pp)->last_ms < (*victim)->last_ms)
                victim = pp;
    if (victim) {
        entry *e = *victim;
        *victim = e->next;
        free(e);
        t->count--;
        l->stats.evictions++;
    }
}

/* Find or create the entry for key; NULL only when out of memory or the
 * key is too long (the caller then lets the traffic through: failing
 * closed on our own memory would turn a bug into an outage). */
static entry *lookup(prl *l, int kind, const char *key, double initial_tokens, int64_t now_ms)
{
    table *t = &l->t[kind];
    size_t len = strnlen(key, PRL_KEY_MAX + 1);
    if (len > PRL_KEY_MAX)
        return NULL;
    size_t slot = (size_t)(hash(key) & (t->nslots - 1));
    for (entry *e = t->slots[slot]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    if (t->count >= l->cfg.max_keys)
        evict(l, t);
    entry *e = calloc(1, sizeof *e + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->key, key, len + 1);
    e->tokens = initial_tokens;
    e->last_ms = now_ms;
    e->next = t->slots[slot];
    t->slots[slot] = e;
    t->count++;
    return e;
}

static void refill(entry *e, double rate, double burst, int64_t now_ms)
{
    if (now_ms > e->last_ms) {
        e->tokens += rate * (double)(now_ms - e->last_ms) / 1000.0;
        if (e->tokens > burst)
            e->tokens = burst;
        e->last_ms = now_ms;
    }
}

static int throttled(const entry *p, int64_t now_ms)
{
    return p && p->throttled_until > now_ms;
}

static void trip(prl *l, const char *provider, int64_t now_ms)
{
    if (provider == NULL || l->cfg.trips_to_throttle == 0)
        return;
    entry *p = lookup(l, T_PROVIDER, provider, l->cfg.provider.burst, now_ms);
    if (p == NULL)
        return;
    if (now_ms - p->window_start >= l->cfg.trip_window_ms) {
        p->window_start = now_ms;
        p->trips = 0;
    }
    p->trips++;
    if (p->trips >= l->cfg.trips_to_throttle && !throttled(p, now_ms)) {
        p->throttled_until = now_ms + l->cfg.throttle_ms;
        p->trips = 0;
        p->window_start = now_ms;
        l->stats.provider_throttles++;
    }
}

prl_result prl_check(prl *l, const char *device, const char *ip, const char *provider,
                     int64_t now_ms)
{
    entry *d = NULL, *i = NULL, *p = NULL;
    const prl_config *c = &l->cfg;
    double prate = c->provider.rate, pburst = c->provider.burst;
    PARLEY_MISUSE(l);
    if (device && c->device.rate > 0 &&
        (d = lookup(l, T_DEVICE, device, c->device.burst, now_ms)) != NULL)
        refill(d, c->device.rate, c->device.burst, now_ms);
    if (ip && c->ip.rate > 0 && (i = lookup(l, T_IP, ip, c->ip.burst, now_ms)) != NULL)
        refill(i, c->ip.rate, c->ip.burst, now_ms);
    if (provider && (c->provider.rate > 0 || c->trips_to_throttle > 0))
        p = lookup(l, T_PROVIDER, provider, c->provider.burst, now_ms);
    if (p && c->provider.rate > 0) {
        if (throttled(p, now_ms)) {
            prate *= c->throttle_factor;
            pburst *= c->throttle_factor;
        }
        refill(p, prate, pburst, now_ms);
        if (p->tokens > pburst)
            p->tokens = pburst;
    }
    if (d && d->tokens < 1) {
        l->stats.limited_device++;
        trip(l, provider, now_ms);
        return PRL_DEVICE;
    }
    if (i && i->tokens < 1) {
        l->stats.limited_ip++;
        trip(l, provider, now_ms);
        return PRL_IP;
    }
    if (p && c->provider.rate > 0 && p->tokens < 1) {
        l->stats.limited_provider++;
        return PRL_PROVIDER;
    }
    if (p && c->provider.rate == 0 && throttled(p, now_ms) && c->throttle_factor == 0) {
        l->stats.limited_provider++;
        return PRL_PROVIDER;
    }
    if (d)
        d->tokens -= 1;
    if (i)
        i->tokens -= 1;
    if (p && c->provider.rate > 0)
        p->tokens -= 1;
    if (p)
        p->last_ms = now_ms > p->last_ms ? now_ms : p->last_ms;
    l->stats.allowed++;
    return PRL_OK;
}

prl_result prl_first_contact(prl *l, const char *user, const char *provider, int64_t now_ms)
{
    PARLEY_MISUSE(l && user);
    if (l->cfg.first_contacts_per_day == 0)
        return PRL_OK;
    entry *e = lookup(l, T_CONTACT, user, 0, now_ms);
    if (e == NULL)
        return PRL_OK;
    int64_t day = now_ms / DAY_MS;
    if (e->day != day) {
        e->day = day;
        e->count = 0;
    }
    e->last_ms = now_ms;
    if (e->count >= l->cfg.first_contacts_per_day) {
        l->stats.limited_first_contact++;
        trip(l, provider, now_ms);
        return PRL_FIRST_CONTACT;
    }
    e->count++;
    return PRL_OK;
}

int prl_provider_throttled(prl *l, const char *provider, int64_t now_ms)
{
    PARLEY_MISUSE(l && provider);
    table *t = &l->t[T_PROVIDER];
    size_t slot = (size_t)(hash(provider) & (t->nslots - 1));
    for (entry *e = t->slots[slot]; e; e = e->next)
        if (strcmp(e->key, provider) == 0)
            return throttled(e, now_ms);
    return 0;
}

void prl_get_stats(const prl *l, prl_stats *out)
{
    *out = l->stats;
}

const char *prl_result_name(prl_result r)
{
    switch (r) {
    case PRL_OK:
        return "ok";
    case PRL_DEVICE:
        return "device";
    case PRL_IP:
        return "ip";
    case PRL_PROVIDER:
        return "provider";
    case PRL_FIRST_CONTACT:
        return "first-contact";
    default:
        return "unknown";
    }
}
