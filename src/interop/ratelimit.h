/*
 * Integrity limits for interop traffic (DESIGN.md section 5, "Integrity";
 * docs/interop-design.md "Rate limits").
 *
 * Token buckets per device, per client IP and per provider; a cap on first
 * contacts per third-party user per UTC day; and provider throttling: when
 * a provider's users trip limits `trips_to_throttle` times within
 * `trip_window_ms`, the whole provider's bucket runs at `throttle_factor`
 * of its rate for `throttle_ms`.
 *
 * Pure and clock-injected: every call takes `now_ms` (any monotonic
 * millisecond clock), nothing sleeps or reads a clock, so tests are exact.
 * One limiter per event loop, or the caller holds a lock: it is not
 * thread-safe. Memory is bounded by max_keys per table; when a table is
 * full the entry idle longest is dropped (a dropped bucket comes back full,
 * which errs on the side of serving users).
 */
#ifndef PARLEY_INTEROP_RATELIMIT_H
#define PARLEY_INTEROP_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

enum { PRL_KEY_MAX = 255 };

typedef struct {
    double rate;  /* tokens per second; 0 disables this bucket */
    double burst; /* bucket size (>= 1 when rate > 0) */
} prl_rate;

typedef struct {
    prl_rate device, ip, provider;
    uint32_t first_contacts_per_day; /* 0: no limit */
    uint32_t trips_to_throttle;      /* 0: providers are never throttled */
    int64_t trip_window_ms;
    int64_t throttle_ms;
    double throttle_factor; /* in (0, 1]; 0 refuses everything while throttled */
    size_t max_keys;        /* per table; 0: 65536 */
} prl_config;

typedef enum {
    PRL_OK = 0,
    PRL_DEVICE = 1,
    PRL_IP = 2,
    PRL_PROVIDER = 3,
    PRL_FIRST_CONTACT = 4,
} prl_result;

/* Counters for metrics (parleyd exports them as parley_ratelimit_*). */
typedef struct {
    uint64_t allowed;
    uint64_t limited_device;
    uint64_t limited_ip;
    uint64_t limited_provider;
    uint64_t limited_first_contact;
    uint64_t provider_throttles; /* times a provider entered throttling */
    uint64_t evictions;
} prl_stats;

typedef struct prl prl;

/* The defaults documented in docs/interop-design.md. */
void prl_config_default(prl_config *cfg);
/* PARLEY_ERR_INVALID_ARG for a negative rate, a burst below 1 with a
 * positive rate, or a throttle factor outside [0, 1]. */
PARLEY_MUST_CHECK int prl_new(prl **out, const prl_config *cfg);
void prl_free(prl *l);

/*
 * One unit of traffic (a stanza) from `device` at `ip` of `provider`; any
 * of them may be NULL (a gatekeeper user has no provider; an IP may be
 * unknown). Tokens are taken only when every bucket has one, so a refusal
 * by one bucket does not drain the others. A refusal of a third-party
 * user's traffic by the device or IP bucket counts as a trip for its
 * provider.
 */
prl_result prl_check(prl *l, const char *device, const char *ip, const char *provider,
                     int64_t now_ms);

/* A first contact by third-party `user` (first message to a gatekeeper
 * user it never wrote to): counts against the per-day cap. Over the cap
 * gives PRL_FIRST_CONTACT and a trip for `provider` (may be NULL). Days
 * are UTC days of now_ms taken as Unix milliseconds. */
prl_result prl_first_contact(prl *l, const char *user, const char *provider, int64_t now_ms);

/* 1 while the provider is throttled as a whole. */
int prl_provider_throttled(prl *l, const char *provider, int64_t now_ms);

void prl_get_stats(const prl *l, prl_stats *out);
const char *prl_result_name(prl_result r);

#endif
