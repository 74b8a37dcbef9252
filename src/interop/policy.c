/*
 * The interop delivery decision (policy.h). Rules in the order they apply;
 * the first that matches decides. Order matters for what the sender may
 * learn: provider and suspension first (they say nothing about the
 * recipient), blocks before consent (a blocked sender must not learn
 * whether the recipient has opted in).
 */
#include "interop/policy.h"

#include <stddef.h>

static int provider_down(pip_provider_status s)
{
    return s == PIP_PROVIDER_SUSPENDED || s == PIP_PROVIDER_TERMINATED;
}

pip_verdict pip_check(const pip_facts *f)
{
    if (f->sender_suspended)
        return PIP_REFUSE_SUSPENDED;
    if ((f->sender_third_party && provider_down(f->sender_provider)) ||
        (f->recipient_third_party && provider_down(f->recipient_provider)))
        return PIP_REFUSE_PROVIDER;
    if (f->sender_third_party && !f->protocol_approved)
        return PIP_REFUSE_PROTOCOL;
    if (!f->sender_third_party && !f->recipient_third_party) {
        /* Between the gatekeeper's own users nothing here applies but blocks. */
        if (f->recipient_blocked_sender)
            return PIP_REFUSE_NOT_ALLOWED;
        if (f->sender_blocked_recipient)
            return PIP_REFUSE_YOU_BLOCKED;
        return f->recipient_suspended ? PIP_REFUSE_NOT_ALLOWED : PIP_ALLOW;
    }
    if (f->recipient_blocked_sender || f->recipient_suspended)
        return PIP_REFUSE_NOT_ALLOWED;
    if (f->sender_blocked_recipient)
        return PIP_REFUSE_YOU_BLOCKED;
    if (f->sender_third_party && !f->recipient_third_party) {
        /* Third-party user to gatekeeper user: opt-in, then message requests. */
        if (!f->consent)
            return PIP_REFUSE_CONSENT;
        switch (f->request) {
        case PIP_REQUEST_ACCEPTED:
            return PIP_ALLOW;
        case PIP_REQUEST_DECLINED:
            return PIP_REFUSE_NOT_ALLOWED; /* declining blocks */
        case PIP_REQUEST_NONE:
        case PIP_REQUEST_PENDING:
        default:
            return PIP_ALLOW_REQUEST;
        }
    }
    if (!f->sender_third_party && f->recipient_third_party) {
        /* Gatekeeper user writing out: only once that user opted in. */
        return f->consent ? PIP_ALLOW : PIP_REFUSE_SENDER_CONSENT;
    }
    /* Third party to third party through the gatekeeper is not interop the
     * gatekeeper carries (DESIGN.md section 1): refuse, generically. */
    return PIP_REFUSE_NOT_ALLOWED;
}

int pip_error_code(pip_verdict v)
{
    switch (v) {
    case PIP_ALLOW:
    case PIP_ALLOW_REQUEST:
        return 0;
    case PIP_REFUSE_PROTOCOL:
        return 415;
    case PIP_REFUSE_PROVIDER:
        return 503;
    case PIP_REFUSE_CONSENT:
    case PIP_REFUSE_SENDER_CONSENT:
    case PIP_REFUSE_NOT_ALLOWED:
    case PIP_REFUSE_YOU_BLOCKED:
    case PIP_REFUSE_SUSPENDED:
    default:
        return 403;
    }
}

const char *pip_reason(pip_verdict v)
{
    static const char *const names[] = {
        [PIP_ALLOW] = "ok",
        [PIP_ALLOW_REQUEST] = "message-request",
        [PIP_REFUSE_CONSENT] = "consent-required",
        [PIP_REFUSE_SENDER_CONSENT] = "enable-provider-first",
        [PIP_REFUSE_NOT_ALLOWED] = "not-allowed",
        [PIP_REFUSE_YOU_BLOCKED] = "you-blocked",
        [PIP_REFUSE_PROVIDER] = "provider-unavailable",
        [PIP_REFUSE_PROTOCOL] = "protocol-not-approved",
        [PIP_REFUSE_SUSPENDED] = "suspended",
    };
    if ((size_t)v >= sizeof names / sizeof names[0] || names[v] == NULL)
        return "not-allowed";
    return names[v];
}
