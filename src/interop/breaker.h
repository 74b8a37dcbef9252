/*
 * A circuit breaker per provider endpoint (docs/interop-design.md,
 * "Gatekeeper to provider HTTP"): closed while calls succeed; open after
 * `failures_to_open` consecutive failures, refusing calls at once for
 * `open_ms`; then half-open, letting exactly one probe through, whose
 * outcome closes it again or re-opens it (with the open time doubled up to
 * `open_max_ms`). Pure and clock-injected.
 */
#ifndef PARLEY_INTEROP_BREAKER_H
#define PARLEY_INTEROP_BREAKER_H

#include <stdint.h>

typedef enum { PBR_CLOSED = 0, PBR_OPEN = 1, PBR_HALF_OPEN = 2 } pbr_state;

typedef struct {
    uint32_t failures_to_open; /* 0: 5 */
    int64_t open_ms;           /* 0: 1000 */
    int64_t open_max_ms;       /* 0: 60000 */
} pbr_config;

typedef struct {
    pbr_config cfg;
    pbr_state state;
    uint32_t failures;
    int64_t open_until;
    int64_t open_for;
    int probe_out;   /* half-open: the probe is in flight */
    uint64_t opened; /* times it opened, for metrics */
} pbr;

void pbr_init(pbr *b, const pbr_config *cfg);
/* May a call start now? 1 yes (in half-open: this call is the probe). */
int pbr_allow(pbr *b, int64_t now_ms);
void pbr_success(pbr *b, int64_t now_ms);
void pbr_failure(pbr *b, int64_t now_ms);
const char *pbr_state_name(pbr_state s);

#endif
