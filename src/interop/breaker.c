/* Circuit breaker (breaker.h). */
#include "interop/breaker.h"

#include <string.h>

void pbr_init(pbr *b, const pbr_config *cfg)
{
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    if (b->cfg.failures_to_open == 0)
        b->cfg.failures_to_open = 5;
    if (b->cfg.open_ms <= 0)
        b->cfg.open_ms = 1000;
    if (b->cfg.open_max_ms <= 0)
        b->cfg.open_max_ms = 60000;
    if (b->cfg.open_max_ms < b->cfg.open_ms)
        b->cfg.open_max_ms = b->cfg.open_ms;
    b->open_for = b->cfg.open_ms;
}

static void trip_open(pbr *b, int64_t now_ms)
{
    b->state = PBR_OPEN;
    b->open_until = now_ms + b->open_for;
    b->probe_out = 0;
    b->opened++;
}

int pbr_allow(pbr *b, int64_t now_ms)
{
    switch (b->state) {
    case PBR_CLOSED:
        return 1;
    case PBR_OPEN:
        if (now_ms < b->open_until)
            return 0;
        b->state = PBR_HALF_OPEN;
        b->probe_out = 1;
        return 1;
    case PBR_HALF_OPEN:
    default:
        if (b->probe_out)
            return 0;
        b->probe_out = 1;
        return 1;
    }
}

void pbr_success(pbr *b, int64_t now_ms)
{
    (void)now_ms;
    b->state = PBR_CLOSED;
    b->failures = 0;
    b->probe_out = 0;
    b->open_for = b->cfg.open_ms;
}

void pbr_failure(pbr *b, int64_t now_ms)
{
    if (b->state == PBR_HALF_OPEN) {
        /* The probe failed: stay away longer next time. */
        b->open_for *= 2;
        if (b->open_for > b->cfg.open_max_ms)
            b->open_for = b->cfg.open_max_ms;
        trip_open(b, now_ms);
        return;
    }
    if (b->state == PBR_OPEN)
        return; /* a call that started before it opened */
    if (++b->failures >= b->cfg.failures_to_open)
        trip_open(b, now_ms);
}

const char *pbr_state_name(pbr_state s)
{
    return s == PBR_CLOSED ? "closed" : s == PBR_OPEN ? "open" : "half-open";
}
