/*
 * The interop delivery decision (DESIGN.md section 5, "Consent"): may this
 * message from `sender` reach `recipient`? A pure function of facts the
 * server has already looked up, so that every rule is in one table-tested
 * place and the router only gathers the facts and applies the verdict.
 *
 * Refusal reasons map onto protocol.md's message acks (docs/parts/thirdparty.md,
 * "Consent errors"): the sender learns "consent-required" when the
 * recipient has not enabled the sender's provider, but only the generic
 * "not-allowed" when a block or a declined request stops the message, so a
 * blocked sender cannot tell a block from anything else.
 */
#ifndef PARLEY_INTEROP_POLICY_H
#define PARLEY_INTEROP_POLICY_H

#include <stdint.h>

typedef enum {
    PIP_PROVIDER_NONE = 0, /* the gatekeeper's own user: no provider involved */
    PIP_PROVIDER_ACTIVE = 1,
    PIP_PROVIDER_SUSPENDED = 2,
    PIP_PROVIDER_TERMINATED = 3,
} pip_provider_status;

/* The message-request state of (gatekeeper user, third-party sender). */
typedef enum {
    PIP_REQUEST_NONE = 0, /* never wrote before: this is a first contact */
    PIP_REQUEST_PENDING = 1,
    PIP_REQUEST_ACCEPTED = 2,
    PIP_REQUEST_DECLINED = 3,
} pip_request_state;

typedef struct {
    /* Each side: is it a third-party user, and its provider's status. */
    int sender_third_party;
    pip_provider_status sender_provider;
    int recipient_third_party;
    pip_provider_status recipient_provider;
    /* The gatekeeper-side user has enabled the other side's provider. */
    int consent;
    /* The recipient blocked the sender / the sender blocked the recipient. */
    int recipient_blocked_sender;
    int sender_blocked_recipient;
    /* Third-party sender to gatekeeper user only. */
    pip_request_state request;
    /* The end-to-end protocol of the payload (the enc element's v) is one
     * the sender's provider is approved for. Always 1 for gatekeeper users. */
    int protocol_approved;
    /* Either side's account is suspended by the operator. */
    int sender_suspended;
    int recipient_suspended;
} pip_facts;

typedef enum {
    PIP_ALLOW = 0,
    /* Deliver, but as a message request (first contact or still pending):
     * the router marks it so the recipient's devices file it apart. */
    PIP_ALLOW_REQUEST = 1,
    PIP_REFUSE_CONSENT = 2,        /* recipient has not enabled the sender's provider */
    PIP_REFUSE_SENDER_CONSENT = 3, /* gatekeeper sender has not enabled the recipient's provider */
    PIP_REFUSE_NOT_ALLOWED = 4,    /* generic: blocked by the recipient, declined request */
    PIP_REFUSE_YOU_BLOCKED = 5,    /* the sender blocked the recipient (the sender may know) */
    PIP_REFUSE_PROVIDER = 6,       /* a provider on either side is suspended or terminated */
    PIP_REFUSE_PROTOCOL = 7,       /* payload protocol not approved for the sender's provider */
    PIP_REFUSE_SUSPENDED = 8,      /* the sender's account is suspended */
} pip_verdict;

pip_verdict pip_check(const pip_facts *f);

/* The ack a refused sender gets: HTTP-like code and stable reason token
 * (protocol.md "Messages"); code 0 for the two allow verdicts. */
int pip_error_code(pip_verdict v);
const char *pip_reason(pip_verdict v);

#endif
