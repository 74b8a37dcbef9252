/* The interop delivery decision, on a table of cases. */
#include "check.h"
#include "interop/policy.h"

#define TP 1
#define GK 0
#define A  PIP_PROVIDER_ACTIVE
#define S  PIP_PROVIDER_SUSPENDED
#define T  PIP_PROVIDER_TERMINATED
#define N  PIP_PROVIDER_NONE

typedef struct {
    const char *what;
    pip_facts f;
    pip_verdict want;
    int code;
    const char *reason;
} tcase;

/* Facts: sender tp?, its provider, recipient tp?, its provider, consent,
 * recipient blocked sender, sender blocked recipient, request, protocol ok,
 * sender suspended, recipient suspended. */
#define F(stp, sp, rtp, rp, cons, rbs, sbr, req, proto, ss, rs)                                    \
    {                                                                                              \
        .sender_third_party = stp, .sender_provider = sp, .recipient_third_party = rtp,            \
        .recipient_provider = rp, .consent = cons, .recipient_blocked_sender = rbs,                \
        .sender_blocked_recipient = sbr, .request = req, .protocol_approved = proto,               \
        .sender_suspended = ss, .recipient_suspended = rs                                          \
    }

static const tcase cases[] = {
    {"tp->gk no opt-in", F(TP, A, GK, N, 0, 0, 0, PIP_REQUEST_NONE, 1, 0, 0), PIP_REFUSE_CONSENT,
     403, "consent-required"},
    {"tp->gk first contact", F(TP, A, GK, N, 1, 0, 0, PIP_REQUEST_NONE, 1, 0, 0), PIP_ALLOW_REQUEST,
     0, "message-request"},
    {"tp->gk pending", F(TP, A, GK, N, 1, 0, 0, PIP_REQUEST_PENDING, 1, 0, 0), PIP_ALLOW_REQUEST, 0,
     "message-request"},
    {"tp->gk accepted", F(TP, A, GK, N, 1, 0, 0, PIP_REQUEST_ACCEPTED, 1, 0, 0), PIP_ALLOW, 0,
     "ok"},
    {"tp->gk declined", F(TP, A, GK, N, 1, 0, 0, PIP_REQUEST_DECLINED, 1, 0, 0),
     PIP_REFUSE_NOT_ALLOWED, 403, "not-allowed"},
    {"tp->gk blocked", F(TP, A, GK, N, 1, 1, 0, PIP_REQUEST_ACCEPTED, 1, 0, 0),
     PIP_REFUSE_NOT_ALLOWED, 403, "not-allowed"},
    /* a blocked sender must not learn whether the recipient opted in */
    {"tp->gk blocked, no opt-in", F(TP, A, GK, N, 0, 1, 0, PIP_REQUEST_NONE, 1, 0, 0),
     PIP_REFUSE_NOT_ALLOWED, 403, "not-allowed"},
    {"tp->gk sender blocked recipient", F(TP, A, GK, N, 1, 0, 1, PIP_REQUEST_ACCEPTED, 1, 0, 0),
     PIP_REFUSE_YOU_BLOCKED, 403, "you-blocked"},
    {"tp->gk provider suspended", F(TP, S, GK, N, 1, 0, 0, PIP_REQUEST_ACCEPTED, 1, 0, 0),
     PIP_REFUSE_PROVIDER, 503, "provider-unavailable"},
    {"tp->gk provider terminated", F(TP, T, GK, N, 1, 0, 0, PIP_REQUEST_ACCEPTED, 1, 0, 0),
     PIP_REFUSE_PROVIDER, 503, "provider-unavailable"},
    {"tp->gk protocol not approved", F(TP, A, GK, N, 1, 0, 0, PIP_REQUEST_ACCEPTED, 0, 0, 0),
     PIP_REFUSE_PROTOCOL, 415, "protocol-not-approved"},
    {"tp->gk sender suspended", F(TP, A, GK, N, 1, 0, 0, PIP_REQUEST_ACCEPTED, 1, 1, 0),
     PIP_REFUSE_SUSPENDED, 403, "suspended"},
    {"tp->gk recipient suspended", F(TP, A, GK, N, 1, 0, 0, PIP_REQUEST_ACCEPTED, 1, 0, 1),
     PIP_REFUSE_NOT_ALLOWED, 403, "not-allowed"},
    {"gk->tp opted in", F(GK, N, TP, A, 1, 0, 0, PIP_REQUEST_NONE, 1, 0, 0), PIP_ALLOW, 0, "ok"},
    {"gk->tp not opted in", F(GK, N, TP, A, 0, 0, 0, PIP_REQUEST_NONE, 1, 0, 0),
     PIP_REFUSE_SENDER_CONSENT, 403, "enable-provider-first"},
    {"gk->tp provider suspended", F(GK, N, TP, S, 1, 0, 0, PIP_REQUEST_NONE, 1, 0, 0),
     PIP_REFUSE_PROVIDER, 503, "provider-unavailable"},
    {"gk->tp blocked by tp user", F(GK, N, TP, A, 1, 1, 0, PIP_REQUEST_NONE, 1, 0, 0),
     PIP_REFUSE_NOT_ALLOWED, 403, "not-allowed"},
    {"gk->tp sender blocked", F(GK, N, TP, A, 1, 0, 1, PIP_REQUEST_NONE, 1, 0, 0),
     PIP_REFUSE_YOU_BLOCKED, 403, "you-blocked"},
    /* the gatekeeper's own protocol check does not apply to its own users */
    {"gk->tp protocol flag ignored", F(GK, N, TP, A, 1, 0, 0, PIP_REQUEST_NONE, 0, 0, 0), PIP_ALLOW,
     0, "ok"},
    {"gk->gk", F(GK, N, GK, N, 0, 0, 0, PIP_REQUEST_NONE, 1, 0, 0), PIP_ALLOW, 0, "ok"},
    {"gk->gk blocked", F(GK, N, GK, N, 0, 1, 0, PIP_REQUEST_NONE, 1, 0, 0), PIP_REFUSE_NOT_ALLOWED,
     403, "not-allowed"},
    {"gk->gk suspended sender", F(GK, N, GK, N, 0, 0, 0, PIP_REQUEST_NONE, 1, 1, 0),
     PIP_REFUSE_SUSPENDED, 403, "suspended"},
    {"tp->tp", F(TP, A, TP, A, 1, 0, 0, PIP_REQUEST_ACCEPTED, 1, 0, 0), PIP_REFUSE_NOT_ALLOWED, 403,
     "not-allowed"},
};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tcase *c = &cases[i];
        pip_verdict v = pip_check(&c->f);
        if (v != c->want)
            fprintf(stderr, "case '%s': got %d want %d\n", c->what, (int)v, (int)c->want);
        CHECK(v == c->want);
        CHECK(pip_error_code(v) == c->code);
        CHECK(strcmp(pip_reason(v), c->reason) == 0);
    }
    CHECK(strcmp(pip_reason((pip_verdict)99), "not-allowed") == 0);
    TEST_MAIN_END();
}
